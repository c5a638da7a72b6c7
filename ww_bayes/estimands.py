"""The estimands, defined once: contrasts of arm rates on the probability scale, weighted by the cohort.

Used for the simulator's truth and for posterior draws alike, so both are built the same way. A *level* is
the cell itself (``by_cell``), one grouping factor (``by_werkverkenner``, ``by_region``) or the whole cohort
(``overall``); rates are averaged over cells with the cohort's own composition as weights (persons per
cell, all arms together), then contrasted.
"""

from __future__ import annotations

import pandas as pd
import xarray as xr

from ww_bayes.data.schema import CONTRASTS


def level_rates(rate: xr.DataArray, weights: xr.DataArray) -> dict[str, xr.DataArray]:
    """Cohort-weighted rates per level.

    ``rate`` has an ``arm`` dim and the grouping dims of ``weights`` (persons per cell); any other dims
    (chain, draw, month, outcome) are carried along. Empty cells (weight 0) may hold NaN.
    """
    factors = list(weights.dims)
    filled = rate.fillna(0) if rate.isnull().any() else rate
    levels = {"by_cell": rate}
    for factor in factors:
        others = [f for f in factors if f != factor]
        levels[f"by_{factor}"] = (filled * weights).sum(others) / weights.sum(others) if others else rate
    levels["overall"] = (filled * weights).sum(factors) / weights.sum(factors)
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
