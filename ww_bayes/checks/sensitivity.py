"""What the priors do: power-scaling sensitivity of the top-level priors, and the prior's own predictions.

**Power-scaling** (Kallioinen et al. 2024; arviz_stats ``psense_summary``): raise the prior, or the
likelihood, to a power near 1 (0.99 and 1.01) and see, by importance weighting the posterior draws (no
refit), how far each quantity's posterior moves (its cumulative Jensen-Shannon distance per unit of log
power). The prior scaled is the product of the *top-level* priors only (the kind's
:meth:`~ww_bayes.kinds.protocol.ModelKind.hyper_parameters`: component means, starting values, group and
step sds), their log-density recomputed for every draw from the fit's model (``pymc.logp``); the group
deviations, whose priors the sds scale, stay as they are. Above 0.05 a quantity is *sensitive*: to the
prior alone ("strong prior / weak likelihood": the data say little about it), or to both ("prior-data
conflict"). The quantities checked are the top-level parameters and the population estimands (the
overall effects; a trajectory's at month 12).

**The prior's predictions** (:func:`prior_implications`): the overall effects under the prior draws the fit
stores (recomputed through the kind's estimands), beside the posterior's, and the prior predictive cell
rates beside the observed ones: what the priors claim before the data.
"""

from __future__ import annotations

import logging

import arviz_stats as azs
import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from ww_bayes.derived import OVERALL, levels_of
from ww_bayes.inference import POSTPROCESS_COMPILE
from ww_bayes.kinds import kind_of
from ww_bayes.postprocess import deterministics
from ww_bayes.recompute import Recomputed
from ww_bayes.vocabulary import SAMPLE_DIMS, quiet

#: Power-scaling sensitivity above this is flagged (Kallioinen et al. 2024).
SENSITIVITY_THRESHOLD = 0.05
#: The month whose effects stand for a trajectory's paths in the checks.
HEADLINE_MONTH = 12


def headline(values: xr.DataArray | xr.Dataset):
    """A monthly quantity at :data:`HEADLINE_MONTH` (the last month when the fit stops earlier); others as
    they are."""
    if "month" not in values.dims:
        return values
    months = [int(m) for m in values["month"].values]
    month = HEADLINE_MONTH if HEADLINE_MONTH in months else max(months)
    return values.isel(month=months.index(month), drop=True)


def log_prior(model: pm.Model, posterior: xr.Dataset, names: list[str]) -> xr.Dataset:
    """The log prior density of each draw of the free variables ``names`` (their own priors, on their
    own scale), from the model's graph: what power-scaling the prior reweights by."""
    values = {}
    for name in names:
        draws = posterior[name].transpose(*SAMPLE_DIMS, ...)
        density = pm.logp(model[name], draws.values.astype("float64")).eval()
        values[name] = draws.copy(data=np.broadcast_to(density, draws.shape))
    return xr.Dataset(values)


def estimands(fit: xr.DataTree) -> xr.Dataset:
    """The population estimands the checks follow: the overall level of the kind's calibration estimands
    (the effects in pp), at the headline month."""
    kind = kind_of(fit)
    overall = levels_of(fit[kind.name])[OVERALL]
    names = [n for n in kind.calibration_estimands if n in overall and "chain" in overall[n].dims]
    return headline(overall[names])


def prior_sensitivity(
    fit: xr.DataTree, parts: Recomputed, threshold: float = SENSITIVITY_THRESHOLD
) -> pd.DataFrame:
    """Power-scaling sensitivity (arviz_stats ``psense_summary``) of the top-level parameters and the
    population estimands to the top-level priors and to the likelihood: one row per quantity (its element
    in brackets), columns ``prior``, ``likelihood`` and ``diagnosis`` ("prior-data conflict",
    "strong prior / weak likelihood" or "" for neither), ``parameter`` (top-level parameter or estimand).
    Empty when the kind declares no top-level priors."""
    kind = kind_of(fit)
    names = [n for n in kind.hyper_parameters(parts.spec) if n in fit["posterior"].ds]
    if not names:
        return pd.DataFrame(columns=["quantity", "prior", "likelihood", "diagnosis", "parameter"])
    posterior = fit["posterior"].ds[names].astype("float64")
    effects = estimands(fit)
    quantities = posterior.merge(effects.drop_vars([c for c in effects.coords if c not in effects.dims]))
    tree = xr.DataTree.from_dict(
        {
            "posterior": quantities,
            "log_prior": log_prior(parts.model, posterior, names),
            "log_likelihood": parts.log_likelihood,
        }
    )
    with quiet("arviz_stats.psense", logging.ERROR):  # its "potential issues" notice: the diagnosis says it
        table = azs.psense_summary(tree, threshold=threshold, round_to=6)
    table = table.rename_axis("quantity").reset_index()
    table["diagnosis"] = np.select(
        [
            (table["prior"] >= threshold) & (table["likelihood"] >= threshold),
            (table["prior"] > threshold) & (table["likelihood"] < threshold),
        ],
        ["prior-data conflict", "strong prior / weak likelihood"],
        default="",
    )
    table["parameter"] = table["quantity"].str.split("[").str[0].isin(names)
    return table[["quantity", "prior", "likelihood", "diagnosis", "parameter"]]


def prior_implications(fit: xr.DataTree, parts: Recomputed) -> xr.Dataset:
    """The prior's predictions beside the data's: ``prior_effect`` and ``posterior_effect`` (the
    population estimands of :func:`estimands` under the fit's stored prior draws and its posterior draws,
    dims ``prior_draw`` / ``posterior_draw`` and the estimand's own), ``prior_predictive`` (the prior
    predictive of each cell's rate or share, dims ``prior_draw``, cell) and ``observed`` (the cells' own)."""
    kind = kind_of(fit)
    prior = fit["prior"].ds
    free = prior[[v.name for v in parts.model.free_RVs]]
    rates = deterministics(free, parts.model, var_names=list(kind.cell_deterministics),
                           compile_kwargs=POSTPROCESS_COMPILE)  # fmt: skip
    derived = kind.derive(parts.spec, parts.data, free.merge(rates))
    prior_tree = fit.copy()
    prior_tree[kind.name] = derived
    observation = kind.observation_of(fit)
    constant = fit["constant_data"].ds
    described = observation.describe_predictive(fit["observed_data"].ds, constant)
    shown = [v for v in described.data_vars if v not in fit["observed_data"].ds]
    stored = fit["prior_predictive"].ds
    predictive = observation.describe_predictive(stored[[v for v in stored.data_vars if v not in shown]],
                                                 constant)[shown]  # fmt: skip

    def stacked(values: xr.Dataset, dim: str) -> xr.Dataset:
        values = values.drop_vars([c for c in values.coords if c not in values.dims])
        return values.stack({dim: SAMPLE_DIMS}).drop_vars([dim, *SAMPLE_DIMS]).transpose(dim, ...)

    out = xr.Dataset()
    for name, effect in stacked(estimands(prior_tree), "prior_draw").data_vars.items():
        out[f"prior_{name}"] = effect
    for name, effect in stacked(estimands(fit), "posterior_draw").data_vars.items():
        out[f"posterior_{name}"] = effect
    for name in shown:
        out[f"prior_predictive_{name}"] = stacked(predictive[[name]], "prior_draw")[name]
        out[f"observed_{name}"] = described[name].drop_vars(
            [c for c in described[name].coords if c != "cell"]
        )
    return out
