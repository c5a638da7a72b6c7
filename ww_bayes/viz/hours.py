"""The hours kind's figure: effects on mean hours per claimant by subgroup (a thin reader of its summary)."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from ww_bayes.labels import Words
from ww_bayes.viz.figures import effects_plot

#: The estimand the figure draws.
ESTIMAND = "mean_hours"


def hours_plot(
    summary: pd.DataFrame,
    interval_label: str = "eti90",
    title: str = "",
    lang: str = "en",
    origin: str | None = None,
) -> Figure:
    """Posterior effects on mean hours per claimant (zeros included) by subgroup: the effects figure's
    panels (contrasts in columns, factors in rows, the overall effect dashed) drawn from the ``mean_hours``
    rows of an hours fit's summary, its x axis in hours."""
    words = Words(lang)
    rows = summary[summary["estimand"] == ESTIMAND].assign(estimand="effect_pp")  # the panels' estimand name
    return effects_plot(
        rows, interval_label, title or words("hours_title"), lang, origin, words("hours_axis")
    )
