"""Fit a model spec to a cohort: sample, check convergence (arviz_stats), derive estimands, attach
provenance.

``fit(spec, data)`` returns an ``xarray.DataTree`` with the groups posterior, sample_stats, observed_data
(the cells' observation with their labels, never person rows), constant_data, weights (persons per cell of
the grouping factors), prior, prior_predictive, the kind's derived group (``effects``, ``trajectory``, ...)
and diagnostics; posterior_predictive, log_likelihood and the cell parameters only when the spec's
``[output] keep`` lists them (they are then computed; else :mod:`ww_bayes.recompute` makes them from the fit
and its cohort), with the draws thinned to ``[output] draws`` per chain
(:func:`ww_bayes.results.stored`). The model kind (:mod:`ww_bayes.kinds`) prepares the cells, builds the
model and derives the estimands, and its observation (:mod:`ww_bayes.kinds.observations`) makes the
groups that depend on what the cells hold; :mod:`ww_bayes.results` saves and loads the file.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import dataclasses
import functools
import gc
import hashlib
import json
import os
import time
import warnings
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import arviz_stats as azs
import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import xarray as xr
from pytensor.compile.mode import Mode

from ww_bayes import __version__
from ww_bayes.data.design import MIN_PER_ARM, SHOWN, design_warnings
from ww_bayes.data.io import BASE_COLUMNS, file_sha256, load_cohort, typed_cohort
from ww_bayes.data.schema import consistency_warnings
from ww_bayes.data.simulate import synthetic_origin
from ww_bayes.derived import derived_tree, fit_level_events, levels_of, recomputed_probabilities
from ww_bayes.diagnostics import diagnose
from ww_bayes.kinds import kind_of
from ww_bayes.kinds.common import NOT_STRUCTURE, ConvergenceThresholds, keyed_fields
from ww_bayes.kinds.observations import label_columns
from ww_bayes.kinds.pooling import CENTRED, WEIGHTS_GROUP
from ww_bayes.kinds.protocol import ModelData, ModelKind
from ww_bayes.postprocess import deterministics
from ww_bayes.results import FIT_KIND, FIT_SCHEMA_VERSION, ConvergenceWarning, stored
from ww_bayes.sampler import compile_pymc_model
from ww_bayes.vocabulary import SAMPLE_DIMS, Log, quiet, say

#: Post-processing over all draws at once (the vectorised deterministics) and the prior predictive draws
#: run PyTensor's graph with its Python linker (numpy, no machine code to build; the rewrites without
#: elementwise fusion, whose fused loops run element by element in Python). Measured: as fast
#: as numba once numba's cache is warm (0.16 against 0.33 s for a 12-month fit's deterministics, 0.38-0.45
#: against 0.34-0.74 s for the prior predictive), and no 13-24 s of numba compiling on a new machine.
POSTPROCESS_COMPILE = {"mode": Mode(linker="py", optimizer="fast_run").excluding("fusion")}
#: Per-draw loops (PyMC's pointwise log-likelihood, PyMC's own NUTS): PyTensor's default mode (numba in
#: PyTensor 3, cached on disk in ~/.pytensor; the Python linker is 4x slower there, measured; the C
#: backend ("CVM") is no faster once cached and slower to fill its cache). nutpie compiles its own.
LOOP_COMPILE = {"mode": "FAST_RUN"}
PRIOR_DRAWS = 500
#: PyMC's forward sampling logger: its "Sampling: [...]" notice per prior draw call is kept off the screen
FORWARD_LOGGER = "pymc.sampling.forward"
PACKAGES = ("pymc", "pytensor", "arviz", "nutpie", "numpy", "xarray", "pandas", "arviz_stats")


@dataclasses.dataclass(frozen=True)
class Convergence:
    """The result of checking a fit against its thresholds."""

    converged: bool
    problems: list[str]
    table: xr.Dataset
    divergences: int
    min_bfmi: float
    share_at_max_treedepth: float

    def report(self) -> str:
        if self.converged:
            worst_rhat = float(self.table["r_hat_max"].max())
            worst_ess = float(self.table["ess_bulk_min"].where(self.table["ess_checked"]).min())
            return (
                f"converged: max R-hat {worst_rhat:.3f}, min ESS bulk of effect parameters {worst_ess:.0f}, "
                f"{self.divergences} divergences, min E-BFMI {self.min_bfmi:.2f}, "
                f"{self.share_at_max_treedepth:.1%} of draws at the maximum tree depth"
            )
        return "NOT CONVERGED:\n" + "\n".join(f"  - {p}" for p in self.problems)


class Phases:
    """Wall-clock seconds per phase of a fit: ``with phases("compile"): ...``; stored in the fit file
    (attr ``phase_seconds``) so every fit says where its time went."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def text(self) -> str:
        return ", ".join(f"{name} {value:.1f} s" for name, value in self.seconds.items())


# --- sampling ------------------------------------------------------------------------------------------


_COMPILED: dict[str, tuple] = {}


def spec_structure(spec) -> str:
    """The spec's settings the model depends on (not the sampler, thresholds, names or output), as JSON:
    stored in each fit (attr ``spec_structure``) so a model rebuilt from the file is checked to be the one
    fitted."""
    structure = keyed_fields({k: v for k, v in dataclasses.asdict(spec).items() if k not in NOT_STRUCTURE})
    return json.dumps({"kind": spec.kind, **structure}, sort_keys=True)


def structure_key(spec, data: ModelData) -> str:
    """What a compiled model depends on: everything but the data values and the sampler settings, with
    the parametrization chosen from the data (:attr:`ModelData.parametrization`)."""
    return json.dumps(
        {
            "spec": spec_structure(spec),
            "levels": data.levels,
            "n_cells": data.n_cells,
            "likelihood": data.likelihood,
            "parametrization": data.parametrization_forms(),
            "structure": data.structure,
        },
        sort_keys=True,
    )


class _TuningClock:
    """nutpie's progress callback: the leapfrog steps each chain took in its warm-up, so that the sampling
    time splits into warm-up and draws by steps. Chains wait for a free core (4 chains on 2 cores: the
    last two start when the first two have finished), so the moment the last chain leaves its warm-up is
    not where the warm-up's time ends. A chain's warm-up steps are interpolated between the last progress
    report in its warm-up and the first after it (reports come every 100 ms)."""

    def __init__(self, tune: int) -> None:
        self.start = time.perf_counter()
        self.tune = tune
        self.last: dict[int, tuple[int, int]] = {}  # chain -> (iterations, steps) last seen in its warm-up
        self.warmup_steps: dict[int, float] = {}

    def __call__(self, chains) -> None:
        for i, chain in enumerate(chains):
            if not chain.started or i in self.warmup_steps:
                continue
            seen = (chain.finished_draws, chain.total_num_steps)  # finished_draws counts the warm-up's too
            if chain.tuning:
                self.last[i] = seen
                continue
            (d0, s0), (d1, s1) = self.last.get(i, (0, 0)), seen
            self.warmup_steps[i] = s0 + (s1 - s0) * (self.tune - d0) / max(d1 - d0, 1)

    def warmup_share(self, sample_stats: xr.Dataset) -> float | None:
        """The warm-up's share of all leapfrog steps (the draws' from the sampler's statistics), or None
        when a chain's warm-up was not seen to end (a progress bar replaces the callback)."""
        if len(self.warmup_steps) < sample_stats.sizes["chain"]:
            return None
        warmup = sum(self.warmup_steps.values())
        return warmup / (warmup + float(sample_stats["n_steps"].sum()))


def _sample_nutpie(spec, data: ModelData, progress: bool, phases: Phases) -> xr.DataTree:
    """Sample with nutpie, reusing the compiled model when only the data values changed."""
    import nutpie

    key = structure_key(spec, data)
    with phases("build"):
        model = kind_of(spec).build(spec, data, for_sampling=True)
    with phases("compile"):
        if key in _COMPILED:  # the sampler and the names of the data it holds, from the first fit
            compiled, names = _COMPILED[key]
            compiled = compiled.with_data(**{name: model[name].get_value() for name in names})
        else:
            compiled = compile_pymc_model(model, [v.name for v in model.free_RVs], structure=key)  # cached
            compiled = kind_of(spec).sampler_model(spec, data, compiled)
            _COMPILED[key] = (compiled, _held_data(compiled, model))
    settings = spec.sampler
    clock = _TuningClock(settings.tune)
    tree = nutpie.sample(
        compiled,
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        cores=settings.cores or None,
        seed=settings.seed,
        target_accept=settings.target_accept,
        adaptation=settings.adaptation,
        progress_bar=progress,
        progress_callback=None if progress else clock,
        save_warmup=False,
    )
    seconds = time.perf_counter() - clock.start
    share = clock.warmup_share(tree["sample_stats"].ds)
    if share is None:  # with a progress bar there is no callback: one phase
        phases.add("tune + draws", seconds)
    else:
        phases.add("tune", seconds * share)
        phases.add("draws", seconds * (1.0 - share))
    return tree


def _held_data(compiled, model: pm.Model) -> list[str]:
    """The data variables a compiled sampler holds (those its log-density and expansion read; data used
    only by deterministics, such as the trajectory model's composition factor, is not compiled in). Other
    shared variables it holds, such as a dim's length, are fixed by the structure key and stay."""
    data = {var.name for var in model.data_vars}
    return list(dict.fromkeys(var.name for var in compiled.shared_var_keys if var.name in data))


def _sample_pymc(spec, data: ModelData, progress: bool, phases: Phases) -> xr.DataTree:
    with phases("build"):
        model = kind_of(spec).build(spec, data, for_sampling=True)
    settings = spec.sampler
    with phases("compile + tune + draws"), model:
        tree = pm.sample(
            draws=settings.draws,
            tune=settings.tune,
            chains=settings.chains,
            cores=settings.cores or None,
            target_accept=settings.target_accept,
            random_seed=settings.seed,
            nuts_sampler="pymc",
            var_names=[v.name for v in model.free_RVs],
            progressbar=progress,
            compute_convergence_checks=False,
            compile_kwargs=LOOP_COMPILE,
        )
    return tree


#: Memory a block of draws of the cell deterministics may take while :func:`derive` derives the estimands.
DERIVE_BLOCK_BYTES = 256 * 2**20


def derive(spec, data: ModelData, sampled: Sampled, structure: str | None = None) -> xr.DataTree:
    """The kind's derived group (:meth:`~ww_bayes.kinds.protocol.ModelKind.derive`) for every draw of
    ``sampled``. When the posterior holds the kind's cell deterministics, from all draws at once; otherwise
    in blocks of draws of at most :data:`DERIVE_BLOCK_BYTES` of them, each block's computed, derived and let
    go (a path's cell shares of 4 x 4,000 draws take 4 GB at once). The blocks' draws are joined along
    ``draw`` and the probabilities computed again from all of them; every other variable must be the same
    in every block (it does not depend on the draws), or this raises."""
    kind, posterior, model = kind_of(spec), sampled.posterior, sampled.model
    missing = [
        name for name in kind.cell_deterministics if name not in posterior and name in model.named_vars
    ]
    if not missing:
        return kind.derive(spec, data, posterior)
    dims = model.named_vars_to_dims
    draw_bytes = sum(  # of the cell deterministics, in their own dtype (a destinations fit's shares: float32)
        int(np.prod([len(model.coords[d]) for d in dims.get(name, ())]))
        * np.dtype(model[name].dtype).itemsize
        for name in missing
    )  # fmt: skip
    size = max(1, DERIVE_BLOCK_BYTES // (posterior.sizes["chain"] * draw_bytes))
    blocks = []
    for start in range(0, posterior.sizes["draw"], size):
        part = posterior.isel(draw=slice(start, start + size))
        cells = deterministics(part, model, var_names=missing, structure=structure,
                               compile_kwargs=POSTPROCESS_COMPILE)  # fmt: skip
        blocks.append(kind.derive(spec, data, part.merge(cells, join="exact")))
    return blocks[0] if len(blocks) == 1 else joined_blocks(blocks, kind, spec)


def joined_blocks(blocks: list[xr.DataTree], kind: ModelKind, spec) -> xr.DataTree:
    """Derived groups of consecutive blocks of draws as one (see :func:`derive`)."""
    smallest = {kind.smallest_attr: getattr(spec, kind.smallest_attr)}
    levels = {}
    for level, first in levels_of(blocks[0]).items():
        parts = [levels_of(block)[level] for block in blocks]
        drawn = [name for name, values in first.data_vars.items() if "draw" in values.dims]
        roles = {name: kind.derived_variables[name].role for name in first.data_vars}
        recomputed = [name for name, role in roles.items() if name not in drawn and role == "probability"]
        fixed = first.drop_vars(recomputed).drop_dims(SAMPLE_DIMS, errors="ignore")
        for part in parts[1:]:
            if not part.drop_vars(recomputed).drop_dims(SAMPLE_DIMS, errors="ignore").identical(fixed):
                raise RuntimeError(f"{kind.name}/{level}: a variable without draws differs between blocks of "
                                   "draws; derive it from all draws at once")  # fmt: skip
        ds = xr.merge([fixed, xr.concat([part[drawn] for part in parts], dim="draw"), first[recomputed]],
                      join="exact", combine_attrs="override")  # fmt: skip
        ds = ds[list(first.data_vars)].assign_attrs(first.attrs)
        events = fit_level_events(smallest, blocks[0].attrs, kind.smallest_attr, kind.direction_dim, ds)
        levels[level] = recomputed_probabilities(ds, kind.derived_variables, events)
    return derived_tree(levels, blocks[0].attrs)


def centred_by_rule(data: ModelData) -> list[str]:
    """The components and factors (``"component/factor"``) the parametrization rule chose the centred form
    for, among those the spec left to the data ("auto")."""
    return [f"{component}/{factor}" for component, by in data.parametrization.items()
            for factor, chosen in by.items()
            if chosen.chosen_by == "data" and chosen.form == CENTRED]  # fmt: skip


def sampler_for(spec, data: ModelData):
    """``spec`` with the sampler settings for these data: ``sampler.target_accept_centred`` as the target
    acceptance where the rule centred a factor (:func:`centred_by_rule`) and the spec sets one, else the
    spec as it is."""
    chosen = spec.sampler.target_accept_centred
    if chosen and chosen != spec.sampler.target_accept and centred_by_rule(data):
        return spec.with_sampler(target_accept=chosen)
    return spec


@dataclasses.dataclass(frozen=True)
class Sampled:
    """Posterior draws (free parameters and deterministics, the cell parameters included), the sampler's
    statistics and the model that post-processes them (the form that draws predictions)."""

    posterior: xr.Dataset
    sample_stats: xr.Dataset
    model: pm.Model
    #: the data the model was made on after sampling (its posterior constants included)
    data: ModelData | None = None


def sample_posterior(
    spec,
    data: ModelData,
    *,
    progress: bool = False,
    phases: Phases | None = None,
    cell_parameters: bool = True,
    cell_deterministics: bool = True,
) -> Sampled:
    """Sample ``spec`` on prepared cells (the compiled sampler reused when only the data changed) and
    compute the deterministics: what :func:`fit` and the calibration studies
    (:mod:`ww_bayes.calibration`) share. No validation, no gate: the caller checks. ``cell_parameters``:
    also the observation's parameters per cell for every draw (what posterior predictive draws need);
    ``cell_deterministics``: also the kind's :attr:`~ww_bayes.kinds.protocol.ModelKind.cell_deterministics`
    (without them, :func:`derive` computes them block by block)."""
    phases = phases or Phases()
    kind = kind_of(spec)
    spec = sampler_for(spec, data)
    sample = _sample_nutpie if spec.sampler.sampler == "nutpie" else _sample_pymc
    with pytensor.config.change_flags(numba__fastmath=REPRODUCIBLE_FASTMATH):
        sampled = sample(spec, data, progress, phases)
        with phases("build"):
            model = kind.build(spec, data)  # the form for predictive draws, pointwise log-likelihood
        with phases("deterministics"):  # over all draws at once, compiled once per structure
            free = kind.from_sampling(spec, data, sampled["posterior"].to_dataset())
            made = kind.after_sampling(spec, data, free, functools.partial(_rates_on, spec, free))
            if made is not data:  # constants made from the posterior: the model on them
                data, model = made, kind.build(spec, made)
            skipped = (() if cell_parameters else data.observation.cell_parameters) + (
                () if cell_deterministics else kind.cell_deterministics
            )
            names = [d.name for d in model.deterministics if d.name not in skipped]
            derived = deterministics(free, model, var_names=names, structure=structure_key(spec, data),
                                     compile_kwargs=POSTPROCESS_COMPILE)  # fmt: skip
            posterior = free.merge(derived, join="exact")
    return Sampled(posterior, sampled["sample_stats"].to_dataset(), model, data)


def _rates_on(spec, free: xr.Dataset, data: ModelData, names: list[str]) -> xr.Dataset:
    """The deterministics ``names`` of ``spec``'s model on ``data`` for every draw of ``free`` (what a
    kind's :meth:`~ww_bayes.kinds.protocol.ModelKind.after_sampling` reads)."""
    model, structure = kind_of(spec).build(spec, data), structure_key(spec, data)
    return deterministics(
        free, model, var_names=names, structure=structure, compile_kwargs=POSTPROCESS_COMPILE
    )


# --- groups --------------------------------------------------------------------------------------------


def observed_groups(data: ModelData) -> dict[str, xr.Dataset]:
    """The ``observed_data`` and ``constant_data`` groups (the observation's variables over dim ``cell``,
    labelled by the cells' label columns) and the ``weights`` group (persons per cell of the grouping
    factors)."""
    labels = {
        c: ("cell", data.cells[c].astype(str).to_numpy()) for c in label_columns(data.cells, data.observation)
    }
    coords = {"cell": np.arange(data.n_cells), **labels}
    observed = data.observation.observed(data.cells).assign_coords(coords)
    constant = data.observation.constant(data.cells).assign_coords(coords)
    for name, values in data.constants.items():
        constant[name] = values
    return {
        "observed_data": observed,
        "constant_data": constant,
        WEIGHTS_GROUP: xr.Dataset({"n_persons": data.weights}),
    }


def _predictive(
    model: pm.Model,
    parameters: xr.Dataset,
    data: ModelData,
    kind: ModelKind,
    seed: int,
    posterior: bool,
    structure: str | None = None,
) -> dict[str, xr.Dataset]:
    """The prior and its predictive; with ``posterior``, posterior predictive draws. Predictive draws are
    made by the observation with numpy from each draw's cell parameters, all draws at once (PyMC's
    samplers loop over draws: 5 s instead of 0.3 s for 8,000 draws of 525 cells). The prior: PyMC draws
    the free variables (a loop over draws of the priors' small graph), the deterministics follow for all
    draws at once (``structure``: as :func:`deterministics`)."""
    observation = data.observation
    constant = observation.constant(data.cells)
    predictive = (
        {"posterior_predictive": observation.predictive(parameters, constant, seed)} if posterior else {}
    )
    with quiet(FORWARD_LOGGER):
        free = pm.sample_prior_predictive(
            draws=PRIOR_DRAWS, model=model, var_names=[v.name for v in model.free_RVs], random_seed=seed + 1,
            compile_kwargs=POSTPROCESS_COMPILE,
        )["prior"].to_dataset()  # fmt: skip
    cells = list(observation.cell_parameters)
    kept = set(cells) | ({d.name for d in model.deterministics} - set(kind.cell_deterministics))
    names = [d.name for d in model.deterministics if d.name in kept]
    derived = deterministics(free, model, var_names=names, structure=structure,
                             compile_kwargs=POSTPROCESS_COMPILE)  # fmt: skip
    drawn = observation.predictive(derived[cells], constant, seed + 1)
    # the draws only: their rates or shares per cell (``describe_predictive``) follow from them and the
    # constant data, so the file does not hold them twice (a destinations fit: 9 MB)
    observed = [v.name for v in model.observed_RVs]
    return {
        **predictive,
        "prior": free.merge(derived.drop_vars(cells), join="exact"),
        "prior_predictive": drawn[observed],
    }


# --- convergence ----------------------------------------------------------------------------------------


#: Sample-stat names of the "trajectory stopped at the maximum tree depth" flag: nutpie's, PyMC's NUTS.
_MAX_DEPTH_FLAGS = ("maxdepth_reached", "reached_max_treedepth")


def sampler_checks(sample_stats: xr.Dataset) -> tuple[xr.DataArray, float, int]:
    """E-BFMI per chain (arviz_stats), the share of draws at the maximum tree depth and the divergences."""
    bfmi = azs.bfmi(xr.DataTree.from_dict({"sample_stats": sample_stats}))["energy"]
    flag = next((sample_stats[n] for n in _MAX_DEPTH_FLAGS if n in sample_stats), None)
    at_max_depth = float(flag.mean()) if flag is not None else 0.0
    return bfmi, at_max_depth, int(sample_stats["diverging"].sum())


def check_convergence(
    tree: xr.DataTree, thresholds: ConvergenceThresholds, kind: ModelKind | None = None
) -> Convergence:
    """Check a fit against the spec's thresholds, with arviz_stats' diagnostics.

    R-hat on every posterior variable the kind checks and on the derived group's draws; bulk and tail ESS on
    the kind's effect parameters and the derived group's draws; divergences; E-BFMI of every chain; the
    share of draws that hit the maximum tree depth. ``kind``: the fit's model kind (default: from its
    ``model_kind`` attr).
    """
    kind = kind or kind_of(tree)
    posterior = tree["posterior"].ds
    groups = {"posterior": posterior.drop_vars([v for v in posterior.data_vars if v in kind.not_checked])}
    for level, ds in levels_of(tree[kind.name]).items():
        groups[f"{kind.name}/{level}"] = ds[[v for v in ds.data_vars if "chain" in ds[v].dims]]
    ess_checked = set(kind.effect_parameters(posterior))
    ess_checked |= {
        f"{group}/{v}" for group, ds in groups.items() if group != "posterior" for v in ds.data_vars
    }
    rows = []
    for group, ds in groups.items():
        # a variable constant over all draws (e.g. the deviations of a factor with one level) has no
        # R-hat or ESS (NaN): nothing to mix, so nothing to flag
        names = [n for n in ds.data_vars if bool((ds[n].std(SAMPLE_DIMS) > 0).any())]
        computed = diagnose(ds[names], which=("r_hat", "ess_bulk", "ess_tail", "mcse_mean"))
        rhat, bulk, tail, mcse = (computed[d] for d in ("r_hat", "ess_bulk", "ess_tail", "mcse_mean"))
        for name in names:
            label = name if group == "posterior" else f"{group}/{name}"
            rows.append(
                (
                    label,
                    float(rhat[name].max(skipna=True)),
                    float(bulk[name].min(skipna=True)),
                    float(tail[name].min(skipna=True)),
                    float(mcse[name].max(skipna=True)),
                    label in ess_checked,
                )
            )
    columns = ["variable", "r_hat_max", "ess_bulk_min", "ess_tail_min", "mcse_mean_max", "ess_checked"]
    frame = pd.DataFrame(rows, columns=columns)
    table = xr.Dataset.from_dataframe(frame.set_index("variable"))
    bfmi, at_max_depth, divergences = sampler_checks(tree["sample_stats"].ds)
    problems = []
    for row in frame.itertuples():
        if not row.r_hat_max <= thresholds.max_rhat:
            problems.append(f"{row.variable}: R-hat {row.r_hat_max:.3f} > {thresholds.max_rhat}")
        if row.ess_checked and not row.ess_bulk_min >= thresholds.min_ess_bulk:
            problems.append(f"{row.variable}: ESS bulk {row.ess_bulk_min:.0f} < {thresholds.min_ess_bulk}")
        if row.ess_checked and not row.ess_tail_min >= thresholds.min_ess_tail:
            problems.append(f"{row.variable}: ESS tail {row.ess_tail_min:.0f} < {thresholds.min_ess_tail}")
    if divergences > thresholds.max_divergences:
        problems.append(f"{divergences} divergent transitions > {thresholds.max_divergences} allowed")
    for chain, value in zip(bfmi["chain"].values, bfmi.values, strict=True):
        if not value >= thresholds.min_bfmi:
            problems.append(f"chain {chain}: E-BFMI {value:.2f} < {thresholds.min_bfmi}")
    if at_max_depth > thresholds.max_treedepth_share:
        problems.append(
            f"{at_max_depth:.1%} of draws at the maximum tree depth > {thresholds.max_treedepth_share:.1%}"
        )
    table["bfmi"] = bfmi.drop_vars("chain").rename(chain="chain_index")
    table.attrs.update(
        {
            "converged": int(not problems),
            "divergences": divergences,
            "share_at_max_treedepth": at_max_depth,
            "min_bfmi_observed": float(bfmi.min()),
            "max_rhat": thresholds.max_rhat,
            "min_ess_bulk": thresholds.min_ess_bulk,
            "min_ess_tail": thresholds.min_ess_tail,
            "max_divergences": thresholds.max_divergences,
            "min_bfmi": thresholds.min_bfmi,
            "max_treedepth_share": thresholds.max_treedepth_share,
            "ess_scope": "effect parameters (service/enforcement means and group values) and effects",
            "computed_with": "arviz_stats' rhat (rank-normalised split), ess bulk/tail and mcse (mean), "
            "vectorised (ww_bayes.diagnostics, checked equal to arviz_stats'), and arviz_stats' bfmi",
            "mcse_mean_max_units": "the variable's own units (effects: pp)",
        }
    )
    table["ess_checked"] = table["ess_checked"].astype("int8")
    return Convergence(
        converged=not problems,
        problems=problems,
        table=table,
        divergences=divergences,
        min_bfmi=float(bfmi.min()),
        share_at_max_treedepth=at_max_depth,
    )


# --- provenance and the public verbs ----------------------------------------------------------------------


def _data_digest(df: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(df, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def _provenance(spec, data: ModelData, sha256: str, sha_of: str, synthetic: str) -> dict[str, str | int]:
    kind = kind_of(spec)
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = version(package)
        except Exception:  # a missing optional package is recorded as such
            versions[package] = "not installed"
    return {
        "ww_bayes_kind": FIT_KIND,
        "fit_schema_version": FIT_SCHEMA_VERSION,
        "model_kind": kind.name,
        "ww_bayes_version": __version__,
        "model_name": spec.name,
        "outcome": spec.outcome,
        "observation": data.observation.name,
        "grouping_factors": json.dumps(list(data.factors)),
        "data_notes": json.dumps(list(data.notes)),
        "spec_source": spec.source,
        "spec_text": spec.text,
        "spec_structure": spec_structure(spec),
        "data_sha256": sha256,
        "data_sha256_of": sha_of,
        "synthetic_data": synthetic or "no",
        "n_persons": data.n_persons,
        kind.missing_attr: data.n_missing,
        "n_cells": data.n_cells,
        "likelihood": data.likelihood,
        "parametrization": data.parametrization_record(),
        "seed": spec.sampler.seed,
        "sampler": spec.sampler.sampler,
        "chains": spec.sampler.chains,
        "draws": spec.sampler.draws,
        "tune": spec.sampler.tune,
        "target_accept": spec.sampler.target_accept,
        "adaptation": spec.sampler.adaptation,
        "package_versions": json.dumps(versions, sort_keys=True),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "interval_kind": spec.interval_kind,
        "interval_prob": spec.interval_prob,
        "smallest_effect_pp": spec.smallest_effect_pp,
        **kind.provenance(spec),
    }


def fit(
    spec,
    data: pd.DataFrame | str | os.PathLike,
    *,
    likelihood: str | None = None,
    progress: bool = True,
    log: Log | None = print,
    min_per_arm: int = MIN_PER_ARM,
) -> xr.DataTree:
    """Fit ``spec`` (any registered model kind) to a cohort (a DataFrame following the schema, or a
    CSV/Parquet path). The kind's derived group (``effects``, ``trajectory``, ...) holds its estimands.
    ``likelihood``: one the kind takes (:attr:`ww_bayes.kinds.protocol.ModelKind.likelihoods`; default the
    spec's, :meth:`~ww_bayes.kinds.protocol.ModelKind.default_likelihood`).

    The data are validated first (a DataFrame exactly as a file: :class:`SchemaError` lists every problem)
    and the design's sparseness is reported before sampling (:func:`ww_bayes.data.design.design_warnings`,
    levels with fewer than ``min_per_arm`` persons in an arm; stored in attr ``design_warnings``), and so are
    disagreements between its columns (:func:`ww_bayes.data.schema.consistency_warnings`); an arm without
    persons raises :class:`ww_bayes.data.design.DesignError`.

    Prints the priors before sampling and the convergence report after; an unconverged fit also raises a
    :class:`ConvergenceWarning` and is flagged in the file (root attr ``converged = "no"``).

    Same data, spec and seed give bit-identical draws whatever the state of PyTensor's compile cache:
    numba's fast-math flags are off while fitting (with them, a freshly compiled sampler and one loaded
    from the cache round differently and the draws part after a few hundred iterations; measured, the
    sampler is no slower without them). PyTensor keeps no creation stack of the graph nodes a fit makes
    (:data:`NODE_TRACEBACK`). Both flags are as they were afterwards.
    """
    flags = {"numba__fastmath": REPRODUCIBLE_FASTMATH, "traceback__limit": NODE_TRACEBACK}
    release_freed_memory(collect=True)  # what earlier fits left: a fit tree holds reference cycles
    try:
        with pytensor.config.change_flags(**flags):
            return _fit(spec, data, likelihood=likelihood, progress=progress, log=log,
                        min_per_arm=min_per_arm)  # fmt: skip
    finally:
        release_freed_memory()


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None (another C library, another system)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory(collect: bool = False) -> None:
    """Give the memory the C heap holds after it was freed back to the system (glibc's ``malloc_trim``;
    nothing where there is no glibc). A fit's post-processing allocates and frees gigabytes in many
    blocks from several threads, and glibc keeps freed blocks in its arenas: a process that fits again and
    again (a notebook, a calibration study, a benchmark) grew by about 300 MB per destinations fit on the
    demo cohort and by gigabytes per ``destinations_path`` fit, until the sixth of them in one process
    was killed for want of memory (24 GB). ``collect``: first collect Python's garbage (a fit's tree is
    parent and child to its groups, so what an earlier fit returned is freed only by the cycle collector).
    :func:`fit` calls it with ``collect`` before it starts and without when it returns
    (docs/performance.md)."""
    if collect:
        gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


#: numba's fast-math flags while fitting (see :func:`fit`).
REPRODUCIBLE_FASTMATH = False
#: The stack frames PyTensor records for every graph node it creates while fitting, for its error messages
#: (its default is 8): none, since a fit's graphs are the package's own. Recording them walks the Python
#: stack tens of thousands of times per fit (building the model, its start point, the post-processing).
NODE_TRACEBACK = 0


def _fit(
    spec, data, *, likelihood: str | None, progress: bool, log: Log | None, min_per_arm: int
) -> xr.DataTree:
    log = say(log)
    kind = kind_of(spec)
    phases = Phases()
    likelihood = likelihood or kind.default_likelihood(spec)
    if likelihood not in kind.likelihoods:
        raise ValueError(
            f"likelihood {likelihood!r}: a {kind.name!r} model takes {', '.join(kind.likelihoods)}"
        )
    with phases("read + validate"):
        required = kind.required_columns(spec)
        if isinstance(data, str | os.PathLike):
            sha256, sha_of = file_sha256(data), f"file {Path(data).name}"
            df = load_cohort(data, required)  # the columns the model reads, no more
        else:  # the same checks as a file gets, on the same columns (a file's others are never read)
            sha256, sha_of = _data_digest(data), "pandas rows (hash_pandas_object)"
            wanted = [c for c in dict.fromkeys([*BASE_COLUMNS, *required]) if c in data.columns]
            df = typed_cohort(data[wanted], required)
        design = design_warnings(df, spec.groups, min_per_arm=min_per_arm)
        synthetic = synthetic_origin(df, data if isinstance(data, str | os.PathLike) else None)
        disagreements = consistency_warnings(df, shown=SHOWN)
    with phases("cells"):
        model_data = kind.prepare(spec, df, likelihood)
    log(kind.describe_priors(spec, model_data))
    chosen = sampler_for(spec, model_data)
    if chosen is not spec:
        log(
            f"target_accept {chosen.sampler.target_accept:g} instead of {spec.sampler.target_accept:g}: "
            f"the rule centred {', '.join(centred_by_rule(model_data))} (sampler.target_accept_centred)"
        )
        spec = chosen
    for note in model_data.notes:
        log(f"data note: {note}")
    for warning in design:
        log(f"design warning: {warning}")
    for warning in disagreements:
        log(f"data warning: {warning}")
    log(
        f"Fitting {spec.name} on {model_data.n_cells:,} cells of {model_data.n_persons:,} persons "
        f"({model_data.n_missing:,} {kind.missing_unit} with {spec.outcome} not observed left out); "
        f"{spec.sampler.chains} chains x {spec.sampler.draws} draws, sampler {spec.sampler.sampler}"
    )
    keep = set(spec.output.keep)  # groups not kept are not computed (ww_bayes.recompute makes them later)
    predictive = "posterior_predictive" in keep
    # the cell deterministics only where they are stored or drawn from; else derive() makes them in blocks
    sampled = sample_posterior(spec, model_data, progress=progress, phases=phases, cell_parameters=predictive,
                               cell_deterministics="rate" in keep or predictive)  # fmt: skip
    model, posterior, model_data = sampled.model, sampled.posterior, sampled.data
    cell_names = [n for n in model_data.observation.cell_parameters if n in posterior]
    cell_parameters = posterior[cell_names]
    posterior = posterior.drop_vars(cell_names)
    tree = xr.DataTree()
    tree["posterior"] = xr.DataTree(posterior)
    tree["sample_stats"] = xr.DataTree(sampled.sample_stats)
    for name, group in observed_groups(model_data).items():
        tree[name] = xr.DataTree(group)
    if "log_likelihood" in keep:
        with phases("log-likelihood"):
            log_likelihood = pm.compute_log_likelihood(
                tree, model=model, extend_inferencedata=False, progressbar=False,
                compile_kwargs=LOOP_COMPILE,
            )  # fmt: skip
        tree["log_likelihood"] = xr.DataTree(log_likelihood)
    with phases("predictive"):
        seed, structure = spec.sampler.seed, structure_key(spec, model_data)
        predictive = _predictive(model, cell_parameters, model_data, kind, seed, predictive, structure)
        for name, ds in predictive.items():
            tree[name] = xr.DataTree(ds)
    with phases("effects"):
        tree[kind.name] = derive(spec, model_data, sampled, structure_key(spec, model_data))
    with phases("convergence"):
        convergence = check_convergence(tree, spec.convergence, kind)
    tree["diagnostics"] = xr.DataTree(convergence.table)
    with phases("store"):
        tree = stored(tree, spec.output, kind)
    tree.attrs.update(_provenance(spec, model_data, sha256, sha_of, synthetic))
    tree.attrs["converged"] = "yes" if convergence.converged else "no"
    tree.attrs["convergence_report"] = convergence.report()
    tree.attrs["design_warnings"] = json.dumps(design)
    tree.attrs["min_per_arm"] = min_per_arm
    tree.attrs["phase_seconds"] = json.dumps({k: round(v, 3) for k, v in phases.seconds.items()})
    log(f"{spec.name}: {convergence.report()}")
    log(f"{spec.name}: {phases.text()}")
    if not convergence.converged:
        warnings.warn(f"{spec.name} did not converge: {'; '.join(convergence.problems)}", ConvergenceWarning,
                      stacklevel=3)  # fmt: skip
    return tree
