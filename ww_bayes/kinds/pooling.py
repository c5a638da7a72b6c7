"""Model-building parts the kinds share: arm contrasts on the link scale, cell indexing, the cohort's
composition, and the sparseness of a design.

The likelihoods are the observations' (:mod:`ww_bayes.kinds.observations`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from ww_bayes.data.schema import ARM_CONTROL_ENFORCEMENT, ARM_SERVICE
from ww_bayes.derived import CELLS, OVERALL
from ww_bayes.estimands import identified_overall_pp, pooling_only, pooling_only_share
from ww_bayes.vocabulary import SAMPLE_DIMS

#: Which arms get each effect component (service includes the enforced job-search requirement).
ARMS_WITH = {
    "enforcement": (ARM_SERVICE, ARM_CONTROL_ENFORCEMENT),
    "service": (ARM_SERVICE,),
}


def arm_logit(anchor: str, arm: str, components: dict) -> pt.TensorVariable:
    """An arm's logit rate from the components' values, for a model anchored on ``anchor``'s arm.

    The anchor arm's logit is the baseline; the effect components add (for arms that have them and the
    anchor has not) or subtract (for the anchor's effects an arm lacks).
    """
    eta = components["baseline"]
    for component, arms in ARMS_WITH.items():
        if arm in arms and anchor not in arms:
            eta = eta + components[component]
        elif anchor in arms and arm not in arms:
            eta = eta - components[component]
    return eta


def observed_levels(values: pd.Series) -> list:
    """The levels present in a column: category order for a categorical, sorted otherwise."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.unique())
        return [c for c in values.cat.categories if c in present]
    return sorted(values.dropna().unique())


def absent_levels(values: pd.Series) -> list:
    """The levels a categorical column allows but no row holds (a regional or partial extract)."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        return []
    present = set(values.unique())
    return [c for c in values.cat.categories if c not in present]


def factor_levels(df: pd.DataFrame, factors: list[str]) -> tuple[dict[str, list[str]], tuple[str, ...]]:
    """The levels of each grouping factor present in the cohort (as text), and a note for each level the
    column allows but no person holds (a regional or partial extract): it drops out of the fit's levels.
    A factor column with missing values is an error naming it."""
    levels, notes = {}, []
    for factor in factors:
        missing = int(df[factor].isna().sum())
        if missing:
            raise ValueError(f"grouping factor {factor!r}: {missing:,} row(s) without a value; a grouping "
                             "factor needs a label for every person")  # fmt: skip
        levels[factor] = [str(v) for v in observed_levels(df[factor])]
        absent = absent_levels(df[factor])
        if absent:
            notes.append(f"{factor}: {', '.join(map(str, absent))} absent from the data (no persons): left "
                         f"out of the fit's levels, which are {', '.join(levels[factor])}")  # fmt: skip
    return levels, tuple(notes)


def category_codes(values: pd.Series, levels: list[str]) -> np.ndarray:
    codes = pd.Categorical(values.astype(str), categories=levels).codes
    if (codes < 0).any():
        raise ValueError(f"{values.name}: labels outside the model's levels")
    return codes.astype("int64")


def cell_index(cells: pd.DataFrame, levels: dict[str, list[str]]) -> tuple:
    """One ``pm.Data`` of integer codes per column of ``cells`` named in ``levels`` (``<column>_index``),
    to pick each cell's value from a grid with those axes in that order."""
    return tuple(
        pm.Data(f"{column}_index", category_codes(cells[column], column_levels), dims="cell")
        for column, column_levels in levels.items()
    )


#: The fit group holding the cohort composition (persons per cell of the grouping factors, all arms).
WEIGHTS_GROUP = "weights"


def fit_weights(tree: xr.DataTree) -> xr.DataArray:
    """The cohort composition a fit was weighted with: persons per cell of its grouping factors (all arms),
    labelled; its dims are the fit's grouping factors."""
    return tree[WEIGHTS_GROUP].ds["n_persons"]


def class_weights(tree: xr.DataTree) -> xr.DataArray:
    """Persons per Werkverkenner class a fit was weighted with (summed over the other factors)."""
    weights = fit_weights(tree)
    return weights.sum([d for d in weights.dims if d != "werkverkenner"])


def sparseness_flags(
    rate: xr.DataArray, weights: xr.DataArray, persons: xr.DataArray
) -> dict[str, xr.Dataset]:
    """The sparseness variables of a derived group, per level: ``pooling_only`` (per contrast: the level
    has no person in one of its arms, :func:`ww_bayes.estimands.pooling_only`) at every level including the
    cell grid; at the overall level also ``pooling_only_share`` (share of the cohort in pooling-only cells)
    and ``effect_pp_identified`` (the population effect over identified cells only). ``rate`` may carry
    further dims (outcome, month), which the identified-only effect keeps."""
    flags = pooling_only(persons)
    levels = {level: xr.Dataset({"pooling_only": flag}) for level, flag in flags.items()}
    levels[OVERALL]["pooling_only_share"] = pooling_only_share(flags[CELLS], weights)
    levels[OVERALL]["effect_pp_identified"] = identified_overall_pp(rate, weights, flags[CELLS]).transpose(
        *SAMPLE_DIMS, ...
    )
    return levels
