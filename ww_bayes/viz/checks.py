"""Figures of the model checks (:mod:`ww_bayes.checks`): thin readers of the values the checks computed.

- :func:`loo_pit_plot`: the LOO-PIT's ECDF minus the uniform's (Δ-ECDF), one panel per level of a label
  (class, region, month ...), with the p-value of arviz_stats' "pot_c" uniformity test in each title and the
  values that drive a rejection marked, as arviz_plots' LOO-PIT plot draws them;
- :func:`rank_plot`: rank plots of the top-level parameters (each chain's fractional ranks among all draws,
  Δ-ECDF; arviz_stats' multi-chain uniformity test);
- :func:`prior_predictive_plot`: the prior predictive cell rates beside the observed ones, and the prior's
  population effects beside the posterior's;
- :func:`kfold_plot`: a K-fold study's elpd differences between pooling variants.

Every figure is 16 cm wide with no text under 8 pt at that width, colours from Okabe and Ito's palette, and
its legend, if any, below the panels; every word a reader sees comes from :class:`ww_bayes.labels.Words`.
"""

from __future__ import annotations

import textwrap
from contextlib import contextmanager

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from arviz_stats.base import array_stats
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy.stats import rankdata

from ww_bayes.labels import Words
from ww_bayes.viz.figures import titled

#: A note's text column: figures are drawn this wide, to be shown at 100%.
WIDTH_IN = 16 / 2.54
#: Okabe & Ito's colour-blind-safe palette (the colours these figures use).
BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, GREY, BLACK = (
    "#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9", "#999999", "#000000",
)  # fmt: skip
CHAIN_COLOURS = (BLUE, ORANGE, GREEN, PURPLE, SKY, VERMILLION)
STYLE = {
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 8, "ytick.labelsize": 8,
    "legend.fontsize": 8, "figure.titlesize": 9, "axes.spines.top": False, "axes.spines.right": False,
}  # fmt: skip


@contextmanager
def _drawing():
    with plt.rc_context(STYLE):
        try:
            yield
        finally:
            # The first figure of a session loads the backend, and Jupyter's inline backend then switches
            # interactive mode on: kept, or rc_context's restore would stop every later figure showing.
            interactive = plt.isinteractive()
    plt.interactive(interactive)


def _grid(panels: int, columns: int, panel_height: float, legend: bool = False):
    """A figure 16 cm wide of ``panels`` panels in ``columns``, with room for a legend below and a title of
    up to four lines (the title, wrapped, and where the data are from) above."""
    rows = -(-panels // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(WIDTH_IN, panel_height * rows + (0.35 if legend else 0) + 0.75),
        squeeze=False, layout="constrained",
    )  # fmt: skip
    flat = list(axes.flat)
    for ax in flat[panels:]:
        ax.set_visible(False)
    return figure, flat[:panels]


def _wrapped(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(str(text), width, break_long_words=False)) or str(text)


# --- LOO-PIT ---------------------------------------------------------------------------------------------


def pit_panels(pit: xr.DataArray, breakdown: str) -> list[tuple[str, np.ndarray]]:
    """The (level, values) of each panel: all cells first, then (unless ``breakdown`` is "all") one per
    level of the label ``breakdown``, in the cells' order."""
    panels = [("all", pit.values)]
    if breakdown != "all":
        labels = pit[breakdown].values.astype(str)
        panels += [(level, pit.values[labels == level]) for level in dict.fromkeys(labels)]
    return panels


def _delta_ecdf(ax, values: np.ndarray, threshold: float, words: Words, title: str) -> None:
    values = np.sort(values[np.isfinite(values)])
    n = values.size
    p_value, shapley, _ = array_stats.uniformity_test(values)
    outside = bool(p_value < threshold)
    grid = np.linspace(0, 1, 401)
    ecdf = np.searchsorted(values, grid, side="right") / n
    ax.axhline(0, color=GREY, lw=0.8)
    ax.plot(grid, ecdf - grid, color=BLUE, lw=1.2)
    if outside:  # the values that drive the rejection (arviz_plots marks them the same way)
        marked = np.asarray(shapley) > 0
        ax.scatter(
            values[marked], (np.arange(1, n + 1) / n - values)[marked], s=8, color=VERMILLION, zorder=3
        )
    scale = np.sqrt(np.log(2 / 0.05) / (2 * n)) * 1.3  # the Dvoretzky-Kiefer-Wolfowitz scale, as arviz's
    limit = max(scale, float(np.max(np.abs(ecdf - grid))) * 1.1)
    ax.set_ylim(-limit, limit)
    ax.set_xlim(0, 1)
    ax.set_xticks([0, 0.5, 1], ["0", "0.5", "1"])
    verdict = words.say("outside", "buiten") if outside else ""
    ax.set_title(f"{title}\np = {words.number(float(p_value), 2)} {verdict}".rstrip(), loc="left",
                 color=VERMILLION if outside else "black")  # fmt: skip


def loo_pit_plot(pit: xr.DataArray, tests: pd.DataFrame, breakdown: str = "all", lang: str = "en",
                 title: str = "", origin: str | None = None) -> Figure:  # fmt: skip
    """Δ-ECDF of the randomised LOO-PIT values (``pit``, per cell with the cells' labels), one panel per
    level of ``breakdown`` after a panel of all cells (:func:`pit_panels`), the test's p-value in each title,
    red where it is below the threshold of ``tests`` (:func:`ww_bayes.checks.pit_tests`)."""
    words = Words(lang)
    threshold = float(tests["threshold"].iloc[0])
    panels = pit_panels(pit, breakdown)
    columns = 3 if len(panels) <= 9 else 6
    with _drawing():
        figure, axes = _grid(len(panels), columns, 1.45 if columns == 3 else 1.2)
        for ax, (level, values) in zip(axes, panels, strict=True):
            name = words.say("all cells", "alle cellen") if level == "all" else words(level)
            _delta_ecdf(ax, values, threshold, words, _wrapped(name, 20 if columns == 3 else 13))
            if columns == 6:
                ax.set_yticks([])
        figure.supxlabel(words.say("LOO-PIT value", "LOO-PIT-waarde"))
        figure.supylabel(words.say("ECDF minus uniform", "ECDF min uniform"))
        by = words.say("all cells", "alle cellen") if breakdown == "all" else words(breakdown)
        figure.suptitle(
            titled(title or words.say(f"LOO-PIT by {by}", f"LOO-PIT naar {by}"), origin, words, 72)
        )
    return figure


# --- rank plots ------------------------------------------------------------------------------------------


def rank_panels(posterior: xr.Dataset) -> list[tuple[str, str, np.ndarray]]:
    """(parameter, element label, draws (chain, draw)) of every scalar element of the variables."""
    panels = []
    for name, values in posterior.data_vars.items():
        values = values.transpose("chain", "draw", ...)
        dims = values.dims[2:]
        for index in np.ndindex(*(values.sizes[d] for d in dims)):
            label = ", ".join(str(values[d].values[i]) for d, i in zip(dims, index, strict=True))
            panels.append((str(name), label, values.values[(slice(None), slice(None), *index)]))
    return panels


def rank_plot(posterior: xr.Dataset, lang: str = "en", title: str = "", origin: str | None = None) -> Figure:
    """Rank plots of ``posterior``'s variables (the top-level parameters): each chain's ECDF of its draws'
    fractional ranks among all draws, minus the uniform's (one line per chain, no legend: which chain is
    which does not matter), one panel per scalar element; well-mixed chains stay near zero. The title
    gives the p-value of arviz_stats' multi-chain uniformity test."""
    words = Words(lang)
    panels = rank_panels(posterior)
    with _drawing():
        figure, axes = _grid(len(panels), 3, 1.35)
        grid = np.linspace(0, 1, 201)
        for ax, (name, label, draws) in zip(axes, panels, strict=True):
            ranks = (rankdata(draws.ravel()).reshape(draws.shape) - 0.5) / draws.size
            for chain, colour in zip(ranks, CHAIN_COLOURS, strict=False):
                ecdf = np.searchsorted(np.sort(chain), grid, side="right") / chain.size
                ax.plot(grid, ecdf - grid, color=colour, lw=1)
            ax.axhline(0, color=GREY, lw=0.8)
            p_value = float(array_stats.mchain_uniformity_test(ranks)[0])
            text = words(name) + (f" ({words(label)})" if label else "")
            ax.set_title(f"{_wrapped(text, 20)}\np = {words.number(p_value, 2)}", loc="left")
            ax.set_xticks([0, 0.5, 1], ["0", "0.5", "1"])
            ax.yaxis.set_major_locator(MaxNLocator(3, symmetric=True))  # few ticks: a low panel's stay apart
        figure.supxlabel(
            words.say("fractional rank among all draws", "fractionele rang onder alle trekkingen")
        )
        figure.suptitle(titled(title or words.say("Rank plots of the top-level parameters",
                                                  "Rangplots van de parameters op het hoogste niveau"),
                               origin, words, 72))  # fmt: skip
    return figure


# --- the prior's predictions -------------------------------------------------------------------------------


def _scaled_hist(ax, values: np.ndarray, edges: np.ndarray, colour: str, label: str, fill: bool) -> None:
    counts, _ = np.histogram(values, bins=edges)
    heights = counts / max(counts.max(), 1)
    if fill:
        ax.stairs(heights, edges, color=colour, fill=True, alpha=0.45, label=label)
    else:
        ax.stairs(heights, edges, color=colour, lw=1.2, label=label)


def prior_predictive_plot(
    prior: xr.Dataset, lang: str = "en", title: str = "", origin: str | None = None
) -> Figure:
    """What the priors predict before the data, beside what the fit says after (``prior``:
    :func:`ww_bayes.checks.prior_implications`): the prior predictive cell rates (all draws and cells)
    beside the observed cell rates, then the prior and the posterior of each population effect (pp);
    heights scaled to 1 per distribution."""
    words = Words(lang)
    rate_names = [v for v in prior.data_vars if str(v).startswith("prior_predictive_")]
    effect_names = [v for v in prior.data_vars if str(v).startswith("prior_") and v not in rate_names]
    effects = []
    for name in effect_names:
        values = prior[name]
        dims = [d for d in values.dims if d != "prior_draw"]
        for index in np.ndindex(*(values.sizes[d] for d in dims)):
            selection = {d: values[d].values[i] for d, i in zip(dims, index, strict=True)}
            effects.append((str(name).removeprefix("prior_"), selection))
    with _drawing():
        figure, axes = _grid(len(rate_names) + len(effects), 3, 1.55, legend=True)
        for ax, name in zip(axes, rate_names, strict=False):
            quantity = str(name).removeprefix("prior_predictive_")
            edges = np.linspace(0, 1, 41)
            _scaled_hist(ax, prior[name].values.ravel(), edges, GREY, words.say("prior", "prior"), True)
            _scaled_hist(ax, prior[f"observed_{quantity}"].values.ravel(), edges, BLACK,
                         words.say("observed", "waargenomen"), False)  # fmt: skip
            ax.set_title(words.say("cell rates", "aandelen per cel"), loc="left")
            ax.set_yticks([])
        for ax, (name, selection) in zip(axes[len(rate_names) :], effects, strict=True):
            before = prior[f"prior_{name}"].sel(selection).values
            after = prior[f"posterior_{name}"].sel(selection).values
            low, high = np.quantile(before, [0.01, 0.99])
            low, high = min(low, after.min()), max(high, after.max())
            edges = np.linspace(low, high, 61)
            _scaled_hist(ax, before, edges, GREY, words.say("prior", "prior"), True)
            _scaled_hist(ax, after, edges, BLUE, words.say("posterior", "posterior"), False)
            label = ", ".join(words(v) for v in selection.values())
            ax.set_title(_wrapped(label, 26), loc="left")
            ax.set_xlabel(words.say("effect (percentage points)", "effect (procentpunt)"))
            ax.set_yticks([])
        handles, labels = [], []
        for ax in axes:
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                if label not in labels:
                    handles.append(handle)
                    labels.append(label)
        figure.legend(handles, labels, loc="outside lower center", ncols=len(labels), frameon=False)
        figure.suptitle(titled(title or words.say("What the priors predict, before and after the data",
                                                  "Wat de priors voorspellen, voor en na de gegevens"),
                               origin, words, 72))  # fmt: skip
    return figure


# --- K-fold ----------------------------------------------------------------------------------------------


def kfold_plot(summary: pd.DataFrame, lang: str = "en", title: str = "", origin: str | None = None) -> Figure:
    """A K-fold study's elpd of each pooling variant minus the best one's (nats, all left-out persons),
    with two standard errors of the difference (``summary``: :func:`ww_bayes.checks.kfold_summary`)."""
    words = Words(lang)
    with _drawing():
        figure, axes = _grid(1, 1, 0.35 * len(summary) + 0.9)
        ax = axes[0]
        rows = np.arange(len(summary))
        difference = summary["elpd_difference"].to_numpy(float)
        se = summary["elpd_difference_se"].to_numpy(float)
        ax.errorbar(difference, rows, xerr=2 * se, fmt="o", color=BLUE, ms=4, lw=1.2, capsize=2)
        ax.axvline(0, color=GREY, lw=0.8)
        names = {"none": words.say("no pooling", "geen pooling"),
                 "partial": words.say("partial pooling", "gedeeltelijke pooling"),
                 "full": words.say("full pooling", "volledige pooling")}  # fmt: skip
        ax.set_yticks(rows, [names.get(v, v) for v in summary["variant"]])
        ax.invert_yaxis()
        ax.set_xlabel(words.say("elpd minus the best variant's (nats), ± 2 SE",
                                "elpd min die van de beste variant (nats), ± 2 SE"))  # fmt: skip
        figure.suptitle(titled(title or words.say("Predicting a new region: K-fold cross-validation",
                                                  "Een nieuwe regio voorspellen: K-voudige kruisvalidatie"),
                               origin, words, 72))  # fmt: skip
    return figure


#: The figures of the model checks, by the names a report's :class:`~ww_bayes.kinds.protocol.Plot` uses.
CHECK_PLOTS = {"loo_pit": loo_pit_plot, "rank": rank_plot, "prior_predictive": prior_predictive_plot,
               "kfold": kfold_plot}  # fmt: skip

__all__ = [
    "CHECK_PLOTS",
    "kfold_plot",
    "loo_pit_plot",
    "pit_panels",
    "prior_predictive_plot",
    "rank_panels",
    "rank_plot",
]
