"""The hours kind's figure: effects on mean hours per claimant by subgroup (a thin reader of its summary)."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from ww_bayes.viz.figures import effects_plot

#: The estimand the figure draws and the words on its x axis.
ESTIMAND = "mean_hours"
X_LABEL = "effect (hours per claimant, months 1-12)"


def hours_plot(summary: pd.DataFrame, interval_label: str = "eti90", title: str = "") -> Figure:
    """Posterior effects on mean hours per claimant (zeros included) by subgroup: the effects figure's
    panels (contrasts in columns, factors in rows, the overall effect dashed) drawn from the ``mean_hours``
    rows of an hours fit's summary."""
    rows = summary[summary["estimand"] == ESTIMAND].assign(estimand="effect_pp")  # the panels' estimand name
    figure = effects_plot(rows, interval_label, title or "Effects on mean hours per claimant by subgroup")
    for ax in figure.axes:
        if ax.get_xlabel():
            ax.set_xlabel(X_LABEL)
    return figure
