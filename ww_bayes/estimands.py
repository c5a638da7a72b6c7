"""The estimands, defined once: contrasts of arm rates on the probability scale, weighted by the cohort.

Used for the simulator's truth and for posterior draws alike, so both are built the same way. A *level* is
the cell itself (``cells``: every factor's levels together), one grouping factor (named as the factor:
``werkverkenner``, ``region``, any other) or the whole cohort (``overall``): the levels of
:mod:`ww_bayes.derived`. Rates are averaged over cells with the cohort's own composition as weights (persons
per cell, all arms together), then contrasted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ww_bayes.data.schema import CONTRASTS
from ww_bayes.derived import CELLS, OVERALL


def level_rates(rate: xr.DataArray, weights: xr.DataArray) -> dict[str, xr.DataArray]:
    """Cohort-weighted rates per level.

    ``rate`` has an ``arm`` dim and the grouping dims of ``weights`` (persons per cell); any other dims
    (chain, draw, month, outcome) are carried along. Empty cells (weight 0) may hold NaN.
    """
    factors = list(weights.dims)
    filled = rate.fillna(0) if rate.isnull().any() else rate
    levels = {CELLS: rate}
    for factor in factors:
        others = [f for f in factors if f != factor]
        levels[factor] = (filled * weights).sum(others) / weights.sum(others) if others else rate
    levels[OVERALL] = (filled * weights).sum(factors) / weights.sum(factors)
    return levels


def contrast_pp(rate: xr.DataArray) -> xr.DataArray:
    """Treated minus comparison rate in percentage points, with a ``contrast`` dim replacing ``arm``."""
    return 100 * _contrast(rate, lambda a, b: a - b)


def contrast_relative_risk(rate: xr.DataArray) -> xr.DataArray:
    """Treated rate divided by comparison rate, with a ``contrast`` dim replacing ``arm``."""
    return _contrast(rate, lambda a, b: a / b)


def _contrast(rate: xr.DataArray, combine) -> xr.DataArray:
    parts = [
        combine(rate.sel(arm=treated, drop=True), rate.sel(arm=comparison, drop=True))
        for treated, comparison in CONTRASTS.values()
    ]
    return xr.concat(parts, dim=pd.Index(list(CONTRASTS), name="contrast"))


# --- levels the data cannot inform ---------------------------------------------------------------------


def pooling_only(persons: xr.DataArray) -> dict[str, xr.DataArray]:
    """Which levels of each contrast are informed only by pooling: boolean ``(contrast, ...)`` per level.

    ``persons`` counts persons with the outcome observed per arm and group cell (``arm`` plus the grouping
    dims). A level (a class, a region, a cell of the grid, the whole cohort) is *pooling only* for a contrast
    when it has no person in the treated arm or none in the comparison arm: its effect then comes from the
    other levels through the model's pooling and additive structure, not from its own data. Keys are the
    levels of :func:`level_rates` (``cells``, one per factor, ``overall``).
    """
    factors = [d for d in persons.dims if d != "arm"]
    by_level = {CELLS: persons, **{f: persons.sum([o for o in factors if o != f]) for f in factors}}
    by_level[OVERALL] = persons.sum(factors)
    flags = {}
    for level, counts in by_level.items():
        parts = [
            (counts.sel(arm=treated, drop=True) == 0) | (counts.sel(arm=comparison, drop=True) == 0)
            for treated, comparison in CONTRASTS.values()
        ]
        flags[level] = xr.concat(parts, dim=pd.Index(list(CONTRASTS), name="contrast"))
    return flags


def pooling_only_share(flags_by_cell: xr.DataArray, weights: xr.DataArray) -> xr.DataArray:
    """Share of the cohort (``weights``: persons per group cell) in cells that are pooling only, per
    contrast: how much of a population estimand comes from pooling rather than from its own data."""
    factors = list(weights.dims)
    return (weights * flags_by_cell).sum(factors) / weights.sum(factors)


def identified_overall_pp(
    rate: xr.DataArray, weights: xr.DataArray, flags_by_cell: xr.DataArray
) -> xr.DataArray:
    """The population pp effect over identified cells only (cells with persons in both arms of the
    contrast), per contrast; NaN where no cell is identified. Equals the whole-cohort estimand when no cell
    is pooling only."""
    factors = list(weights.dims)
    filled = rate.fillna(0) if rate.isnull().any() else rate
    parts = []
    for contrast, (treated, comparison) in CONTRASTS.items():
        kept = weights * ~flags_by_cell.sel(contrast=contrast, drop=True)
        total = kept.sum(factors)
        total = total.where(total > 0, np.nan)

        def mean(arm, kept=kept, total=total):
            return (filled.sel(arm=arm, drop=True) * kept).sum(factors) / total

        parts.append(100 * (mean(treated) - mean(comparison)))
    return xr.concat(parts, dim=pd.Index(list(CONTRASTS), name="contrast"))
