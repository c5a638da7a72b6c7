"""ModelSpec + cells -> ``pm.Model`` with named coords and dims.

On the logit scale, for arm a and group cell g (a Werkverkenner class and/or a region), anchored on the
service arm (the spec's ``anchor``, the default):

    eta[service, g]             = baseline[g]
    eta[control_enforcement, g] = baseline[g] - service[g]
    eta[control_none, g]        = baseline[g] - service[g] - enforcement[g]
    component[g] = component_mean + sum over factors of component_dev_<factor>[level of g]

so ``baseline`` is the rate of the arm that holds 80% of the persons, pinned down by its own data whatever
the effect sds are. With ``anchor = "control_none"`` (the round-1 model) the baseline is the control_none
rate and the service arm is ``baseline + enforcement + service``: then a region's baseline deviation is
pinned down by the service arm when the effect sds are small and only by ~500 control_none persons when they
are large, so its posterior width depends on the effect sds (a funnel across components), which made the
enforcement effect's region sd mix slowly (benchmarks/bench_convergence.py measures both anchors). The
effect components mean the same under either anchor: service = service arm - control_enforcement,
enforcement = control_enforcement - control_none (logit scale).

Deviations sum to zero over each factor's levels (so the mean is identified and there is no ridge).
They are partially pooled (zero-sum normal with an estimated sd; non-centred for the effects), unpooled
(zero-sum normal with a fixed sd) or absent (full pooling), per component and factor as the spec says.

The likelihood is Binomial on exact cells (successes out of trials per arm x group cell), written in its
logit form ``log C(n, k) + k * eta - n * softplus(eta)`` with the binomial coefficient computed once from the
data: the same numbers as ``pm.Binomial`` (tested to 1e-9) at a third of the gradient cost. That form is
what the sampler sees (``for_sampling=True``); the model used for predictive draws and pointwise
log-likelihood has ``pm.Binomial`` itself. The Bernoulli variant on person rows exists to prove the two
equivalent (see tests) and for the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from scipy.special import gammaln

from ww_bayes.cells import aggregate_cells, person_counts
from ww_bayes.schema import ARM_CONTROL_ENFORCEMENT, ARM_SERVICE, ARMS
from ww_bayes.spec import CENTRED, COMPONENTS, ModelSpec

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


@dataclass(frozen=True)
class ModelData:
    """What a model is fit on: cell counts, group levels, and the cohort's composition (weights).

    ``cells`` has ``arm``, the spec's group columns, ``successes`` and ``trials``; ``weights`` counts
    persons (all arms, all persons in the cohort) per group cell and defines the population estimands.
    """

    cells: pd.DataFrame
    levels: dict[str, list[str]]
    weights: xr.DataArray
    outcome: str
    n_persons: int
    n_missing: int
    likelihood: str = "binomial"
    #: trajectory models only: square-root factor of the control arms' composition covariance over months
    composition_factor: xr.DataArray | None = None

    @property
    def n_cells(self) -> int:
        return len(self.cells)


def prepare_data(spec: ModelSpec, df: pd.DataFrame, likelihood: str = "binomial") -> ModelData:
    """Cells (or person rows for ``likelihood="bernoulli"``) and weights for a spec from a cohort table."""
    groups = list(spec.groups)
    levels = {factor: [str(v) for v in observed_levels(df[factor])] for factor in groups}
    if likelihood == "binomial":
        cell_table = aggregate_cells(df, spec.outcome, by=("arm", *groups))
        cells, n_missing = cell_table.table, cell_table.n_missing
    elif likelihood == "bernoulli":
        rows = df[["arm", *groups, spec.outcome]].dropna(subset=[spec.outcome])
        cells = rows[["arm", *groups]].assign(
            successes=rows[spec.outcome].astype("int64").to_numpy(), trials=1
        )
        n_missing = len(df) - len(rows)
    else:
        raise ValueError(f"likelihood must be 'binomial' or 'bernoulli', got {likelihood!r}")
    if groups:
        weights = person_counts(df, groups, levels)
    else:
        weights = xr.DataArray(len(df))
    weights = weights.rename("n_persons")
    return ModelData(
        cells=cells.reset_index(drop=True),
        levels=levels,
        weights=weights,
        outcome=spec.outcome,
        n_persons=len(df),
        n_missing=n_missing,
        likelihood=likelihood,
    )


def observed_levels(values: pd.Series) -> list:
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.unique())
        return [c for c in values.cat.categories if c in present]
    return sorted(values.dropna().unique())


def category_codes(values: pd.Series, levels: list[str]) -> np.ndarray:
    codes = pd.Categorical(values.astype(str), categories=levels).codes
    if (codes < 0).any():
        raise ValueError(f"{values.name}: labels outside the model's levels")
    return codes.astype("int64")


def _component(spec: ModelSpec, component: str, data: ModelData) -> pt.TensorVariable:
    """The component's value on the grid of group cells (one axis per factor), logit scale."""
    prior = spec.priors[component]
    mean = pm.Normal(f"{component}_mean", prior.mean_mu, prior.mean_sigma)
    groups = list(spec.groups)
    grid = mean
    for axis, factor in enumerate(groups):
        pooling = spec.pooling[component][factor]
        if pooling == "full":
            continue
        if pooling == "partial":
            sd = pm.HalfNormal(f"{component}_sd_{factor}", prior.group_sd)
            if component in CENTRED:
                dev = pm.ZeroSumNormal(f"{component}_dev_{factor}", sigma=sd, dims=factor)
            else:
                z = pm.ZeroSumNormal(f"{component}_z_{factor}", sigma=1.0, dims=factor)
                dev = pm.Deterministic(f"{component}_dev_{factor}", sd * z, dims=factor)
        else:
            dev = pm.ZeroSumNormal(f"{component}_dev_{factor}", sigma=prior.unpooled_sd, dims=factor)
        shape = [1] * len(groups)
        shape[axis] = len(data.levels[factor])
        grid = grid + dev.reshape(shape)
        pm.Deterministic(f"{component}_by_{factor}", mean + dev, dims=factor)
    if groups:
        grid = pt.broadcast_to(grid, [len(data.levels[f]) for f in groups])
    return grid


def build_model(spec: ModelSpec, data: ModelData, for_sampling: bool = False) -> pm.Model:
    """The PyMC model for a spec and its data (cells or person rows).

    ``for_sampling=True`` writes the Binomial likelihood as a logit-form ``CustomDist`` (same log-probability,
    cheaper gradient, no random draws); otherwise it is ``pm.Binomial``. Free variables are identical.
    """
    groups = list(spec.groups)
    coords = {"arm": list(ARMS), **{f: data.levels[f] for f in groups}, "cell": np.arange(data.n_cells)}
    cells = data.cells
    # every parameter is transformed onto its support, so PyMC's bounds checks only cost time
    with pm.Model(coords=coords, check_bounds=False) as model:
        grids = {component: _component(spec, component, data) for component in COMPONENTS}
        eta_grid = pt.stack([arm_logit(spec.anchor, arm, grids) for arm in ARMS])  # (arm, *groups)
        pm.Deterministic("rate", pm.math.sigmoid(eta_grid), dims=("arm", *groups))
        index = (pm.Data("arm_index", category_codes(cells["arm"], list(ARMS)), dims="cell"),) + tuple(
            pm.Data(f"{factor}_index", category_codes(cells[factor], data.levels[factor]), dims="cell")
            for factor in groups
        )
        eta_cell = eta_grid[index]
        successes = pm.Data("successes", cells["successes"].to_numpy(), dims="cell")
        if data.likelihood == "bernoulli":
            pm.Bernoulli("y", logit_p=eta_cell, observed=successes, dims="cell")
        elif for_sampling:
            n, k = cells["trials"].to_numpy(), cells["successes"].to_numpy()
            trials = pm.Data("trials", n, dims="cell")
            log_coef = pm.Data("log_binomial_coef", log_binomial_coefficient(n, k), dims="cell")
            pm.CustomDist(
                "y", trials, eta_cell, log_coef, logp=logit_binomial_logp, observed=successes, dims="cell"
            )
        else:
            trials = pm.Data("trials", cells["trials"].to_numpy(), dims="cell")
            pm.Binomial("y", n=trials, logit_p=eta_cell, observed=successes, dims="cell")
    return model
