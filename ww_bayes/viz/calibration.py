"""Figures of a simulation-based calibration study: the ECDF-difference plot with its simultaneous band
(arviz_plots' ``plot_ecdf_pit``) and rank histograms, for the headline quantities (scalars and the
overall effects; a study's table covers every quantity)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from scipy.stats import binom

from ww_bayes.derived import OVERALL, flat_name

#: At most this many rank histograms per figure.
MAX_PANELS = 16


def headline(pit: xr.Dataset) -> list[str]:
    """The quantities a figure shows: component means (a trajectory's starting values) and group sds,
    then the overall effects (a trajectory's at month 12)."""
    means = [n for n in pit.data_vars if n.endswith(("_mean", "_start"))]
    sds = [n for n in pit.data_vars if "_sd_" in n and "step_sd" not in n]
    overall = [n for n in pit.data_vars if n == flat_name("effect_pp", OVERALL)]
    return means + sds + overall


def month_12(pit: xr.Dataset) -> dict:
    """The selection of month 12 when the quantities have months (labels may be text)."""
    if "month" not in pit.dims:
        return {}
    return {"month": [label for label in pit["month"].values if str(label) == "12"]}


def ecdf_figure(pit: xr.Dataset, band: dict, title: str) -> Figure:
    """Δ-ECDF of the PIT values of the headline quantities (arviz_plots ``plot_ecdf_pit``, its "pot_c"
    test highlighting points at the study's Bonferroni level) with the simultaneous band the study checks
    (``band["x"]``, ``band["lower"]``, ``band["upper"]`` from arviz_stats' ``ecdf_pit``) drawn on every
    panel. (arviz_plots 1.3.2's own "envelope" band fails: ``np.linspace`` given a DataArray.)"""
    from arviz_plots import plot_ecdf_pit

    names = headline(pit)
    coords = month_12(pit) or None  # one month of a trajectory's paths
    tree = xr.DataTree.from_dict({"sbc": pit[names]})
    shown = pit[names].sel(coords) if coords else pit[names]
    panels = sum(int(np.prod([n for d, n in shown[v].sizes.items() if d != "replicate"])) for v in names)
    size = {"figsize": (14, 2.9 * -(-panels // 4))}
    collection = plot_ecdf_pit(
        tree, group="sbc", sample_dims=["replicate"], coords=coords, envelope_prob=band["band_prob"],
        backend="matplotlib", figure_kwargs=size,
    )  # fmt: skip
    figure = collection.viz["figure"].item()
    x = np.asarray(band["x"])
    for ax in (a for a in figure.axes if a.lines):  # the panels drawn, not the empty ones
        ax.fill_between(x, np.asarray(band["lower"]) - x, np.asarray(band["upper"]) - x, color="#1f5fa8",
                        alpha=0.15, lw=0)  # fmt: skip
    figure.suptitle(
        f"{title}: ECDF of PIT minus uniform, {band['replicates']} replicates; shaded: simultaneous "
        f"{band['band_prob']:.4%} band (Bonferroni, family {1 - band['alpha']:.0%} over {band['quantities']} "
        "quantities)",
        fontsize=9,
    )
    return figure


def rank_histograms(ranks: xr.Dataset, ranked_draws: int, title: str, bins: int = 10) -> Figure:
    """Histograms of the ranks (0..L) of the headline quantities, with the central 99% pointwise band of a
    bin's count under uniform ranks."""
    ranks = ranks.sel(month_12(ranks)).squeeze("month", drop=True) if "month" in ranks.dims else ranks
    names = headline(ranks)
    panels = [(n, idx) for n in names for idx in _panels(ranks[n])][:MAX_PANELS]
    columns = 4
    rows = int(np.ceil(len(panels) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.4 * rows), squeeze=False)
    reps = ranks.sizes["replicate"]
    edges = np.linspace(0, ranked_draws + 1, bins + 1)
    low, high = binom.ppf([0.005, 0.995], reps, 1 / bins)
    for ax, (name, idx) in zip(axes.flat, panels, strict=False):
        values = ranks[name].isel(idx).to_numpy() if idx else ranks[name].to_numpy()
        ax.axhspan(low, high, color="#dddddd", label="99% pointwise band")
        ax.hist(values, bins=edges, color="#1f5fa8")
        ax.axhline(reps / bins, color="black", lw=0.8)
        label = ", ".join(f"{ranks[name][d].values[i]}" for d, i in idx.items())
        ax.set_title(f"{name}{' ' + label if label else ''}", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    figure.suptitle(f"{title}: rank of the truth among {ranked_draws} posterior draws, {reps} replicates",
                    fontsize=9)  # fmt: skip
    figure.tight_layout()
    return figure


def _panels(da: xr.DataArray) -> list[dict[str, int]]:
    """One panel per element of a quantity (per outcome and contrast of an effect, ...)."""
    dims = [d for d in da.dims if d != "replicate"]
    return [dict(zip(dims, idx, strict=True)) for idx in np.ndindex(*(da.sizes[d] for d in dims))]
