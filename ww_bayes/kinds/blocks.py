"""Blocks the model kinds share: arm contrasts on the logit scale, cell indexing, the Binomial likelihood.

The likelihood is Binomial on exact cells (successes out of trials), written for the sampler in its logit
form ``log C(n, k) + k * eta - n * softplus(eta)`` with the binomial coefficient computed once from the
data: the same numbers as ``pm.Binomial`` (tested to 1e-9) at a third of the gradient cost. That form is
what the sampler sees (``for_sampling=True``); the model used for predictive draws and pointwise
log-likelihood has ``pm.Binomial`` itself. The Bernoulli variant on person rows exists to prove the two
equivalent (see tests) and for the benchmark.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from scipy.special import gammaln

from ww_bayes.data.schema import ARM_CONTROL_ENFORCEMENT, ARM_SERVICE
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


def logit_binomial_logp(value, trials, eta, log_binomial_coef):
    """Binomial log-probability of ``value`` successes out of ``trials`` with logit ``eta``."""
    return log_binomial_coef + value * eta - trials * pt.softplus(eta)


def log_binomial_coefficient(trials: np.ndarray, successes: np.ndarray) -> np.ndarray:
    return gammaln(trials + 1) - gammaln(successes + 1) - gammaln(trials - successes + 1)


def observed_levels(values: pd.Series) -> list:
    """The levels present in a column: category order for a categorical, sorted otherwise."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.unique())
        return [c for c in values.cat.categories if c in present]
    return sorted(values.dropna().unique())


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


#: The deterministic of a non-sampling model that holds each cell's success probability: the posterior
#: predictive draws use it (vectorised over draws, not one draw at a time) and it is not stored.
CELL_RATE = "cell_rate"


def cell_likelihood(cells: pd.DataFrame, eta_cell, likelihood: str, for_sampling: bool):
    """The observed ``y``: Binomial successes out of trials per cell with logit ``eta_cell`` (the logit
    form when ``for_sampling``), or Bernoulli on person rows for ``likelihood="bernoulli"``. The model for
    post-processing (not ``for_sampling``) also gets the deterministic :data:`CELL_RATE`."""
    k = cells["successes"].to_numpy()
    successes = pm.Data("successes", k, dims="cell")
    if not for_sampling:
        pm.Deterministic(CELL_RATE, pm.math.sigmoid(eta_cell), dims="cell")
    if likelihood == "bernoulli":
        return pm.Bernoulli("y", logit_p=eta_cell, observed=successes, dims="cell")
    n = cells["trials"].to_numpy()
    trials = pm.Data("trials", n, dims="cell")
    if for_sampling:
        log_coef = pm.Data("log_binomial_coef", log_binomial_coefficient(n, k), dims="cell")
        return pm.CustomDist(
            "y", trials, eta_cell, log_coef, logp=logit_binomial_logp, observed=successes, dims="cell"
        )
    return pm.Binomial("y", n=trials, logit_p=eta_cell, observed=successes, dims="cell")


def fit_weights(tree: xr.DataTree) -> xr.DataArray:
    """The cohort composition a fit was weighted with (persons per group cell), with its labels (the
    constant_data group also labels cells by class, so the labels are taken from the posterior)."""
    weights = tree["constant_data"].ds["n_persons"]
    labels = {dim: tree["posterior"].ds[dim].values for dim in weights.dims if dim not in weights.indexes}
    return weights.assign_coords(labels)


def class_weights(tree: xr.DataTree) -> xr.DataArray:
    """Persons per Werkverkenner class a fit was weighted with (summed over regions)."""
    weights = fit_weights(tree)
    return weights.sum("region") if "region" in weights.dims else weights


def sparseness_flags(rate: xr.DataArray, weights: xr.DataArray, trials: xr.DataArray) -> xr.Dataset:
    """The sparseness variables of a derived group (see :func:`posterior_effects`); ``rate`` may carry
    further dims (outcome, month), which the identified-only effect keeps."""
    flags = pooling_only(trials)
    out = xr.Dataset({f"pooling_only_{level}": flag for level, flag in flags.items()})
    out["pooling_only_share_overall"] = pooling_only_share(flags["by_cell"], weights)
    out["effect_pp_identified_overall"] = identified_overall_pp(rate, weights, flags["by_cell"]).transpose(
        *SAMPLE_DIMS, ...
    )
    return out
