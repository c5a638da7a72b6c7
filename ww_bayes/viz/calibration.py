"""Figures of a simulation-based calibration study: the ECDF-difference plot with its simultaneous band
(arviz_plots' ``plot_ecdf_pit``) and rank histograms, for the headline quantities (scalars and the
overall effects; a study's table covers every quantity)."""

from __future__ import annotations

import textwrap

import numpy as np
import xarray as xr
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from scipy.stats import binom

from ww_bayes.derived import OVERALL, flat_name
from ww_bayes.labels import Words
from ww_bayes.viz.style import (
    FLAGGED,
    POSTERIOR,
    REFERENCE,
    TRUTH,
    WIDTH_IN,
    drawing,
    finish,
    legend_below,
    new_figure,
)

#: At most this many rank histograms per figure.
MAX_PANELS = 15
#: Panels side by side at the figure's 16 cm.
COLUMNS = 3
#: A calibration study's data: cohorts simulated from the prior (the fits' ``synthetic_data`` wording).
SIMULATED = "simulated from the prior"
#: The grey arviz_plots draws reference lines in.
ARVIZ_GREY = "#949494"


def headline(pit: xr.Dataset) -> list[str]:
    """The quantities a figure shows: component means (a trajectory's means over months) and group sds,
    then the overall effects (a trajectory's at month 12)."""
    means = [n for n in pit.data_vars if n.endswith("_mean")]
    sds = [n for n in pit.data_vars if "_sd_" in n and "step_sd" not in n]
    overall = [n for n in pit.data_vars if n == flat_name("effect_pp", OVERALL)]
    return means + sds + overall


def month_12(pit: xr.Dataset) -> dict:
    """The selection of month 12 when the quantities have months (labels may be text)."""
    if "month" not in pit.dims:
        return {}
    return {"month": [label for label in pit["month"].values if str(label) == "12"]}


def ecdf_figure(pit: xr.Dataset, band: dict, title: str, lang: str = "en") -> Figure:
    """Δ-ECDF of the PIT values of the headline quantities (arviz_plots ``plot_ecdf_pit``, its "pot_c"
    test highlighting points at the study's Bonferroni level) with the simultaneous band the study checks
    (``band["x"]``, ``band["lower"]``, ``band["upper"]`` from arviz_stats' ``ecdf_pit``) drawn on every
    panel. (arviz_plots 1.3.2's own "envelope" band fails: ``np.linspace`` given a DataArray.)"""
    from arviz_plots import plot_ecdf_pit

    words = Words(lang)
    names = headline(pit)
    coords = month_12(pit) or None  # one month of a trajectory's paths
    tree = xr.DataTree.from_dict({"sbc": pit[names]})
    shown = pit[names].sel(coords) if coords else pit[names]
    panels = sum(int(np.prod([n for d, n in shown[v].sizes.items() if d != "replicate"])) for v in names)
    size = {"figsize": (WIDTH_IN, 1.7 * -(-panels // COLUMNS) + 1.0), "layout": "constrained"}
    with drawing():
        collection = plot_ecdf_pit(
            tree, group="sbc", sample_dims=["replicate"], coords=coords, envelope_prob=band["band_prob"],
            backend="matplotlib", figure_kwargs=size, col_wrap=COLUMNS,
            visuals={"ecdf_lines": {"color": POSTERIOR}, "credible_interval": {"color": REFERENCE},
                     "suspicious_points": {"color": FLAGGED}},
        )  # fmt: skip
        figure = collection.viz["figure"].item()
        x = np.asarray(band["x"])
        for ax in (a for a in figure.axes if a.lines):  # the panels drawn, not the empty ones
            for line in ax.lines:  # arviz_plots' own grey (not settable through visuals) -> the palette's
                if to_hex(line.get_color()) == ARVIZ_GREY:
                    line.set_color(REFERENCE)
            ax.fill_between(x, np.asarray(band["lower"]) - x, np.asarray(band["upper"]) - x, color=POSTERIOR,
                            alpha=0.15, lw=0)  # fmt: skip
        text = words("sbc_ecdf_title").format(
            title=title, replicates=band["replicates"], band=f"{band['band_prob']:.4%}",
            family=words.percent(1 - band["alpha"]), quantities=band["quantities"],
        )  # fmt: skip
        figure.suptitle(f"{textwrap.fill(text, 90)}\n{words.origin(SIMULATED)}", fontsize=9)
        return finish(figure)


def rank_histograms(
    ranks: xr.Dataset, ranked_draws: int, title: str, bins: int = 10, lang: str = "en"
) -> Figure:
    """Histograms of the ranks (0..L) of the headline quantities, with the central 99% pointwise band of a
    bin's count under uniform ranks."""
    words = Words(lang)
    ranks = ranks.sel(month_12(ranks)).squeeze("month", drop=True) if "month" in ranks.dims else ranks
    names = headline(ranks)
    panels = [(n, idx) for n in names for idx in _panels(ranks[n])][:MAX_PANELS]
    rows = int(np.ceil(len(panels) / COLUMNS))
    reps = ranks.sizes["replicate"]
    edges = np.linspace(0, ranked_draws + 1, bins + 1)
    low, high = binom.ppf([0.005, 0.995], reps, 1 / bins)
    with drawing():
        figure, axes = new_figure(1.6 * rows + 1.0, rows, COLUMNS)
        flat = [ax for row in axes for ax in row]
        for ax, (name, idx) in zip(flat, panels, strict=False):
            values = ranks[name].isel(idx).to_numpy() if idx else ranks[name].to_numpy()
            ax.axhspan(low, high, color=REFERENCE, alpha=0.4,
                       label=words("pointwise_band").format(prob=words.percent(0.99)))  # fmt: skip
            ax.hist(values, bins=edges, color=POSTERIOR)
            ax.axhline(reps / bins, color=TRUTH, lw=0.8)
            label = ", ".join(f"{ranks[name][d].values[i]}" for d, i in idx.items())
            ax.set_title(textwrap.fill(f"{name}{' ' + label if label else ''}", 30), fontsize=8)
        for ax in flat[len(panels) :]:
            ax.set_visible(False)
        text = words("sbc_rank_title").format(title=title, draws=ranked_draws, replicates=reps)
        figure.suptitle(f"{textwrap.fill(text, 90)}\n{words.origin(SIMULATED)}", fontsize=9)
        legend_below(figure, *flat[0].get_legend_handles_labels())
        return finish(figure)


def _panels(da: xr.DataArray) -> list[dict[str, int]]:
    """One panel per element of a quantity (per outcome and contrast of an effect, ...)."""
    dims = [d for d in da.dims if d != "replicate"]
    return [dict(zip(dims, idx, strict=True)) for idx in np.ndindex(*(da.sizes[d] for d in dims))]
