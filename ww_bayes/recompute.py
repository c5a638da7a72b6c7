"""The heavy per-cell groups a lean fit file leaves out, recomputed from the fit and its cohort.

A fit file stores the free parameters' draws; the pointwise log-likelihood, posterior predictive draws and
cell parameters (``[output] keep`` in the spec) follow from them and the cohort's cells. Each function
rebuilds the fit's model from the spec stored in the file and the cohort (checked: its cells must be the
fit's own), then computes the group for the stored draws, so ``azs.loo(with_groups(fit, cohort))`` and
posterior predictive checks stay one call away::

    fit = ww_bayes.load("results/job_finding_12m.nc")
    full = ww_bayes.with_groups(fit, "data/cohort.parquet")
    arviz_stats.loo(full)
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass

import pandas as pd
import pymc as pm
import xarray as xr

from ww_bayes.data.io import load_cohort, typed_cohort
from ww_bayes.inference import LOOP_COMPILE, POSTPROCESS_COMPILE, spec_structure, structure_key
from ww_bayes.kinds import kind_of
from ww_bayes.kinds.common import OPTIONAL_GROUPS
from ww_bayes.kinds.pooling import Parametrization
from ww_bayes.kinds.protocol import ModelData
from ww_bayes.postprocess import deterministics
from ww_bayes.results import DataMismatchError, ResultFileError, check_data, spec_of

Cohort = pd.DataFrame | str | os.PathLike


def model_spec(fit: xr.DataTree, spec=None):
    """The spec the fit's model was made with: ``spec`` when given, else the text stored in the file;
    :class:`ResultFileError` when it is not the model fitted (a spec changed in Python after loading, e.g.
    ``dataclasses.replace(spec, groups=...)``, is not in the stored text: pass it as ``spec``)."""
    spec = spec if spec is not None else spec_of(fit)
    stored = fit.attrs.get("spec_structure")
    if stored is not None and not same_structure(stored, spec):
        raise ResultFileError(
            "the fit's model differs from the spec given or stored as text (it was changed in Python before "
            "fitting?); pass the spec the fit was made with: spec=..."
        )
    return spec


def same_structure(stored: str, spec) -> bool:
    """Whether a fit's stored ``spec_structure`` is ``spec``'s: the same settings, where a setting the
    stored one lacks counts as the same when ``spec`` has its default (a setting added to the spec after the
    fit was made, such as the trajectory's ``likelihood``: the fit used what that default describes)."""
    current, old = json.loads(spec_structure(spec)), json.loads(stored)
    defaults = {f.name: f.default for f in dataclasses.fields(spec) if f.default is not dataclasses.MISSING}
    added = {key for key in current.keys() - old.keys() if key in defaults and current[key] == defaults[key]}
    return old == {key: value for key, value in current.items() if key not in added}


def _rebuilt(fit: xr.DataTree, cohort: Cohort, spec=None) -> tuple[pd.DataFrame, ModelData]:
    spec, kind = model_spec(fit, spec), kind_of(fit)
    required = kind.required_columns(spec)
    if isinstance(cohort, str | os.PathLike):
        check_data(fit, cohort)
        df = load_cohort(cohort, required)
    else:
        df = typed_cohort(cohort, required)
    data = kind.prepare(spec, df, str(fit.attrs.get("likelihood", "binomial")))
    if "parametrization" in fit.attrs:  # the fitted model's forms, whatever the rule would choose today
        record = json.loads(fit.attrs["parametrization"])
        forms = {c: {f: Parametrization.from_dict(p) for f, p in by.items()} for c, by in record.items()}
        data = dataclasses.replace(data, parametrization=forms)
    # made from the fit's posterior (ModelKind.after_sampling): the fit's, not the cohort's; a fit made before
    # the kind made them so (another layout) used the cohort's
    stored = fit["constant_data"].ds
    made = {
        name: data.constants[name].copy(data=_by_label(stored[name], data.constants[name]))
        for name in kind.posterior_constants
        if name in stored and name in data.constants and stored[name].dims == data.constants[name].dims
    }
    data = dataclasses.replace(data, constants={**data.constants, **made})
    stored_cells = fit["observed_data"].ds.sizes["cell"]
    same = stored_cells == data.n_cells and data.observation.same_cells(
        fit["observed_data"].ds, fit["constant_data"].ds, data.cells
    )
    if not same:
        raise DataMismatchError(
            f"the cohort given is not the one this fit was made on: its {data.n_cells:,} cells differ from "
            f"the fit's {stored_cells:,} (observed_data)"
        )
    return df, data


def _by_label(stored: xr.DataArray, like: xr.DataArray):
    """``stored``'s values in ``like``'s order of every labelled dim (a class or arm order that differs)."""
    return stored.sel(
        {d: like[d].values for d in like.coords if d in like.dims and d in stored.coords}
    ).values


def rebuilt_data(fit: xr.DataTree, cohort: Cohort, spec=None) -> ModelData:
    """The fit's cells made again from ``cohort``; :class:`DataMismatchError` when the cohort is not the one
    the fit was made on (file SHA-256 where the fit records one, and always: the cells' observation must
    equal the fit's ``observed_data`` and ``constant_data``); ``spec``: see :func:`model_spec`."""
    return _rebuilt(fit, cohort, spec)[1]


def rebuilt_model(fit: xr.DataTree, cohort: Cohort, spec=None) -> pm.Model:
    """The fit's model (the form that draws predictions and pointwise log-likelihood) on ``cohort``,
    checked to be the fit's own data (:func:`rebuilt_data`)."""
    return _model(fit, rebuilt_data(fit, cohort, spec), spec)[0]


def _model(fit: xr.DataTree, data: ModelData, spec=None) -> tuple[pm.Model, str]:
    """The fit's model on its rebuilt ``data`` and its structure key (what its compiled post-processing is
    kept under, in this process and on disk: ``ww_bayes.postprocess``)."""
    spec = model_spec(fit, spec)
    return kind_of(fit).build(spec, data), structure_key(spec, data)


def _free_posterior(fit: xr.DataTree, model: pm.Model) -> xr.Dataset:
    names = [v.name for v in model.free_RVs]
    return fit["posterior"].ds[names].astype("float64")


def _rates(fit: xr.DataTree, model: pm.Model, structure: str) -> xr.Dataset:
    names = [*kind_of(fit).cell_deterministics, *kind_of(fit).observation_of(fit).cell_parameters]
    return deterministics(
        _free_posterior(fit, model), model, var_names=names, structure=structure,
        compile_kwargs=POSTPROCESS_COMPILE,
    )  # fmt: skip


def _log_likelihood(fit: xr.DataTree, model: pm.Model) -> xr.Dataset:
    tree = xr.DataTree.from_dict({"posterior": _free_posterior(fit, model)})
    return pm.compute_log_likelihood(
        tree, model=model, extend_inferencedata=False, progressbar=False, compile_kwargs=LOOP_COMPILE
    )


def _predictive(fit: xr.DataTree, rates: xr.Dataset, seed: int | None) -> xr.Dataset:
    observation = kind_of(fit).observation_of(fit)
    return observation.predictive(
        rates[list(observation.cell_parameters)],
        fit["constant_data"].ds,
        int(fit.attrs.get("seed", 0)) if seed is None else seed,
    )


def cell_rates(fit: xr.DataTree, cohort: Cohort, spec=None) -> xr.Dataset:
    """The kind's per-cell posterior deterministics (``rate``, ...) and each cell's distribution
    parameters (its observation's, e.g. ``cell_rate``) for the stored draws."""
    return _rates(fit, *_model(fit, rebuilt_data(fit, cohort, spec), spec))


def log_likelihood(fit: xr.DataTree, cohort: Cohort, spec=None) -> xr.Dataset:
    """Pointwise log-likelihood ``y`` (chain, draw, cell) for the stored draws: what ``azs.loo`` reads."""
    return _log_likelihood(fit, rebuilt_model(fit, cohort, spec))


def posterior_predictive(fit: xr.DataTree, cohort: Cohort, seed: int | None = None, spec=None) -> xr.Dataset:
    """Posterior predictive counts ``y`` and rates ``y_rate`` per cell, one draw per stored posterior draw
    (seed: the fit's sampler seed unless given)."""
    return _predictive(fit, cell_rates(fit, cohort, spec), seed)


@dataclass(frozen=True)
class Recomputed:
    """A fit's model made again on its cohort, with what the model checks (:mod:`ww_bayes.checks`) read:
    the cohort's rows (the columns the model reads), its cells, the model (the form that draws predictions),
    the pointwise log-likelihood (``y``: chain, draw, cell) and the per-cell posterior parameters (the kind's
    cell deterministics and the observation's cell parameters) for the stored draws."""

    spec: object
    cohort: pd.DataFrame
    data: ModelData
    model: pm.Model
    log_likelihood: xr.Dataset
    parameters: xr.Dataset


def recomputed(fit: xr.DataTree, cohort: Cohort, spec=None) -> Recomputed:
    """The fit's model and per-cell groups from its cohort (read and checked once: see
    :func:`rebuilt_data`)."""
    df, data = _rebuilt(fit, cohort, spec)
    model, structure = _model(fit, data, spec)
    return Recomputed(model_spec(fit, spec), df, data, model, _log_likelihood(fit, model),
                      _rates(fit, model, structure))  # fmt: skip


def with_groups(
    fit: xr.DataTree, cohort: Cohort, groups: tuple[str, ...] = OPTIONAL_GROUPS, spec=None
) -> xr.DataTree:
    """A copy of ``fit`` with the optional groups (``posterior_predictive``, ``log_likelihood``, ``rate``)
    recomputed and added, as a fit made with ``keep`` would hold them (in float64); the cohort is read and
    checked, and the model built, once."""
    unknown = [g for g in groups if g not in OPTIONAL_GROUPS]
    if unknown:
        raise ValueError(f"groups {unknown}: choose from {', '.join(OPTIONAL_GROUPS)}")
    model, structure = _model(fit, rebuilt_data(fit, cohort, spec), spec)
    tree = fit.copy()
    if "log_likelihood" in groups:
        tree["log_likelihood"] = xr.DataTree(_log_likelihood(fit, model))
    if {"posterior_predictive", "rate"} & set(groups):
        rates = _rates(fit, model, structure)
        if "posterior_predictive" in groups:
            tree["posterior_predictive"] = xr.DataTree(_predictive(fit, rates, None))
        if "rate" in groups:
            cell_parameters = list(kind_of(fit).observation_of(fit).cell_parameters)
            posterior = tree["posterior"].to_dataset().assign(rates.drop_vars(cell_parameters).data_vars)
            tree["posterior"] = xr.DataTree(posterior)
    return tree


__all__ = [
    "Recomputed",
    "rebuilt_data",
    "cell_rates",
    "log_likelihood",
    "model_spec",
    "posterior_predictive",
    "rebuilt_model",
    "recomputed",
    "with_groups",
]
