"""Figures: thin readers of the tables and groups the library computes (compute once, plot many).

:data:`PLOTS` maps the figure names a model kind asks for (:class:`ww_bayes.kinds.protocol.Plot`) to the
functions that draw them, so kinds describe figures without importing matplotlib.
"""

from matplotlib.figure import Figure

from ww_bayes.kinds.protocol import Plot
from ww_bayes.viz.checks import CHECK_PLOTS, kfold_plot, loo_pit_plot, prior_predictive_plot, rank_plot
from ww_bayes.viz.destinations import destinations_data, destinations_plot
from ww_bayes.viz.figures import (
    CEA_FIGURES,
    cea_figure,
    cea_figures,
    effects_plot,
    forest_data,
    forest_plot,
    save_png,
    trajectory_data,
    trajectory_plot,
)
from ww_bayes.viz.hours import hours_plot

PLOTS = {
    "effects": effects_plot,
    "trajectory": trajectory_plot,
    "forest": forest_plot,
    "cea": cea_figure,
    "hours": hours_plot,
    "destinations": destinations_plot,
}
PLOTS |= CHECK_PLOTS


def draw(plot: Plot) -> Figure:
    """The figure a :class:`~ww_bayes.kinds.protocol.Plot` asks for."""
    if plot.name not in PLOTS:
        raise ValueError(f"no figure named {plot.name!r}; known: {', '.join(PLOTS)}")
    return PLOTS[plot.name](plot.table, **plot.options)


__all__ = [
    "CEA_FIGURES",
    "CHECK_PLOTS",
    "PLOTS",
    "cea_figure",
    "cea_figures",
    "destinations_data",
    "destinations_plot",
    "draw",
    "effects_plot",
    "forest_data",
    "forest_plot",
    "kfold_plot",
    "loo_pit_plot",
    "prior_predictive_plot",
    "rank_plot",
    "hours_plot",
    "save_png",
    "trajectory_data",
    "trajectory_plot",
]
