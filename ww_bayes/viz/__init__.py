"""Figures: thin readers of the tables and groups the library computes (compute once, plot many).

:data:`PLOTS` maps the figure names a model kind asks for (:class:`ww_bayes.kinds.protocol.Plot`) to the
functions that draw them, so kinds describe figures without importing matplotlib. :func:`figure_name` gives
a figure its one file name wherever it is written, :func:`save_figure` writes it (300 dpi PNG and SVG); the
rules every figure follows are in :mod:`ww_bayes.viz.style`.
"""

import inspect

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
    trajectory_data,
    trajectory_outcomes,
    trajectory_plot,
)
from ww_bayes.viz.hours import hours_plot
from ww_bayes.viz.style import save_figure, save_png

PLOTS = {
    "effects": effects_plot,
    "trajectory": trajectory_plot,
    "forest": forest_plot,
    "cea": cea_figure,
    "hours": hours_plot,
    "destinations": destinations_plot,
}
PLOTS |= CHECK_PLOTS

#: The word a figure's file name takes after the name of the fit it is drawn from.
FILE_WORDS = {"effects": "effects", "trajectory": "paths", "forest": "forest"}


def draw(plot: Plot, lang: str | None = None) -> Figure:
    """The figure a :class:`~ww_bayes.kinds.protocol.Plot` asks for; ``lang`` ("en", "nl"): the language
    of its words (default: the plot's own option, else English)."""
    if plot.name not in PLOTS:
        raise ValueError(f"no figure named {plot.name!r}; known: {', '.join(PLOTS)}")
    function = PLOTS[plot.name]
    options = dict(plot.options)
    if lang and "lang" in inspect.signature(function).parameters:  # the figures that speak both languages
        options["lang"] = lang
    return function(plot.table, **options)


def cea_plot(result, name: str, caption: str = "") -> Plot:
    """The :class:`~ww_bayes.kinds.protocol.Plot` of one of the :data:`CEA_FIGURES` of a
    ``cost_effectiveness`` group."""
    return Plot("cea", result, caption, {"name": name})


def figure_name(plot: Plot, stem: str = "") -> str:
    """The one file name (without suffix) of a figure, in ``results/`` and ``release/`` alike:
    ``<stem>_<word>`` for a figure of the fit ``<stem>`` (:data:`FILE_WORDS`), ``_<outcome>`` added for a
    figure drawn per outcome; ``cea_<name>`` for the cost-effectiveness figures (one result per folder)."""
    if plot.name == "cea":
        return f"cea_{plot.options['name']}"
    parts = [stem, FILE_WORDS.get(plot.name, plot.name)]
    if "outcome" in plot.options:
        parts.append(str(plot.options["outcome"]))
    return "_".join(parts)


__all__ = [
    "CEA_FIGURES",
    "CHECK_PLOTS",
    "FILE_WORDS",
    "PLOTS",
    "cea_figure",
    "cea_figures",
    "cea_plot",
    "destinations_data",
    "destinations_plot",
    "draw",
    "effects_plot",
    "figure_name",
    "forest_data",
    "forest_plot",
    "hours_plot",
    "kfold_plot",
    "loo_pit_plot",
    "prior_predictive_plot",
    "rank_plot",
    "save_figure",
    "save_png",
    "trajectory_data",
    "trajectory_outcomes",
    "trajectory_plot",
]
