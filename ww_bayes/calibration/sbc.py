"""Simulation-based calibration (SBC, Talts et al. 2018; Säilynoja et al. 2022) of a model spec.

For each replicate: parameters drawn from the spec's prior, the cells' observation drawn from the model's
own likelihood on a design shaped like a given cohort (its arms, classes, regions and persons per cell:
the observation says which of its columns are simulated), the model fitted to those data, and the rank of
the true value among ~100 near-independent posterior draws taken, for the free parameters and derived
quantities the kind names (:meth:`ww_bayes.kinds.protocol.ModelKind.calibration_quantities`: component
means, sds and group values; :attr:`~ww_bayes.kinds.protocol.ModelKind.calibration_estimands`: the
population pp effects of every contrast and level). If the fit is right, every rank is uniform on 0..L.

Why not ``simuk`` (0.3, read before writing this): it calls ``pm.observe`` and ``pm.sample`` per replicate
(a fresh ~20 s nutpie compile each time), runs replicates one after another, ranks the free variables only
and does not thin. Here the sampler is compiled once per worker and only the data change
(:func:`ww_bayes.inference.sample_posterior`), replicates run in parallel through joblib
(:mod:`ww_bayes.calibration.dispatch`), the draws are thinned to ``ranked_draws`` before ranking, and
derived quantities are ranked too. Every replicate is kept; those that miss the replicate gate (R-hat,
ESS, divergences) are counted, never dropped.

The check (:func:`uniformity`): the ECDF of each quantity's PIT values (rank + U(0,1)) / (L + 1), exactly
uniform under a correct model, must stay inside the simultaneous band of arviz_stats'
:func:`~arviz_stats.ecdf_utils.ecdf_pit` at probability ``1 - alpha / K`` (Bonferroni over the K scalar
quantities tested), so a correct model passes all K with probability at least ``1 - alpha``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from arviz_stats.ecdf_utils import compute_ecdf, ecdf_pit

from ww_bayes.data.io import atomic_write, load_datatree, to_netcdf
from ww_bayes.derived import flat_name, levels_of
from ww_bayes.diagnostics import diagnose
from ww_bayes.inference import FORWARD_LOGGER, POSTPROCESS_COMPILE, release_freed_memory, sample_posterior
from ww_bayes.kinds import kind_of
from ww_bayes.kinds.common import keyed_fields, sampler_fields
from ww_bayes.kinds.protocol import ModelData
from ww_bayes.postprocess import deterministics
from ww_bayes.vocabulary import SAMPLE_DIMS, quiet

#: Prior draws are made in blocks of this many replicates, each block from its own seed, so a study
#: extended to more replicates keeps the replicates it has.
BLOCK = 50
STUDY_FILE = "study.json"


class StudyMismatch(ValueError):
    """A study folder that holds replicates of another spec, design or settings."""


@dataclass(frozen=True)
class SBCSettings:
    """How replicates are fitted and judged. Sampler: ``chains`` x ``draws`` (default 4 x 500), ``tune``
    (None: the spec's) and the spec's target_accept for the design (its ``target_accept_centred`` where the
    rule centred a factor on the design, :func:`ww_bayes.inference.sampler_for`), one core per fit; ranks
    among ``ranked_draws`` draws thinned evenly (every 20th of 2,000). A replicate counts as converged if
    every ranked quantity has R-hat <= ``max_rhat`` and bulk ESS >= ``min_ess_bulk`` (so the thinned draws
    are near-independent) and there is no divergence. ``max_rhat`` is 1.02, not the fits' 1.01: it is the
    largest of ~250 R-hats from 2,000 draws, and sampling noise alone puts that maximum above 1.01 in about
    half of well-mixed fits (the study also reports how many exceed 1.01). Only the sampler settings and
    the seed are part of the study (the thresholds and ``alpha`` judge finished replicates and may change
    on resuming)."""

    reps: int = 200
    chains: int = 4
    draws: int = 500
    tune: int | None = None
    ranked_draws: int = 100
    seed: int = 2026
    alpha: float = 0.05
    max_rhat: float = 1.02
    min_ess_bulk: float = 100.0

    def __post_init__(self) -> None:
        if self.chains * self.draws < self.ranked_draws:
            raise ValueError(
                f"{self.chains} chains x {self.draws} draws < {self.ranked_draws} ranked draws: draw more"
            )
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {self.alpha}")


# --- truths and replicated data -----------------------------------------------------------------------


def ranked_quantities(kind, spec, posterior: xr.Dataset, derived: xr.DataTree) -> xr.Dataset:
    """The draws of what SBC ranks: the kind's calibration quantities from the posterior and its
    calibration estimands at every level of the derived group (named
    :func:`ww_bayes.derived.flat_name`, e.g. ``effect_pp_by_werkverkenner``)."""
    names = [n for n in kind.calibration_quantities(spec) if n in posterior]
    chosen = _integer_months(posterior[names])
    for level, ds in levels_of(derived).items():
        for estimand in kind.calibration_estimands:
            if estimand in ds and "chain" in ds[estimand].dims:
                chosen[flat_name(estimand, level)] = _integer_months(ds[estimand])
    chosen = chosen.drop_vars([c for c in chosen.coords if c not in chosen.dims])
    missing = [n for n in chosen.data_vars if bool(chosen[n].isnull().any())]
    if missing:  # e.g. labels that did not align: a rank of a missing value would be a silent 0
        raise ValueError(f"calibration quantities with missing values: {', '.join(missing)}")
    return chosen


def _integer_months(values):
    """Month labels as integers (a model's coords may hold them as text, derived groups as numbers), so
    parameters and estimands align on the same months."""
    return values.assign_coords(month=values["month"].astype(int)) if "month" in values.coords else values


def prior_truths(
    spec, design: ModelData, reps: int, seed: int
) -> tuple[xr.Dataset, list[dict[str, np.ndarray]], xr.Dataset]:
    """``reps`` prior draws of the ranked quantities (dim ``replicate``), for each the observed variables
    drawn from the likelihood (one dict per replicate: observed name -> array shaped like the variable),
    and the free variables' draws (dim ``replicate``), in blocks of :data:`BLOCK` seeded ``(seed,
    block)``."""
    kind = kind_of(spec)
    model = kind.build(spec, design)
    names = design.observation.observed_names
    free = [v.name for v in model.free_RVs]
    truths, simulated, draws = [], [], []
    for block in range(math.ceil(reps / BLOCK)):
        with quiet(FORWARD_LOGGER):
            prior = pm.sample_prior_predictive(
                draws=BLOCK, model=model, random_seed=np.random.default_rng([seed, block]),
                compile_kwargs=POSTPROCESS_COMPILE,
            )  # fmt: skip
        parameters = prior["prior"].to_dataset()
        draws.append(parameters[free].isel(chain=0, drop=True))
        derived = kind.derive(spec, design, parameters)
        truths.append(ranked_quantities(kind, spec, parameters, derived).isel(chain=0, drop=True))
        drawn = {name: prior["prior_predictive"].ds[name].isel(chain=0).to_numpy() for name in names}
        drawn |= kind.simulated_constants(
            spec, design, parameters, seed=int(np.random.default_rng([seed, block]).integers(2**31))
        )
        simulated += [{name: values[i] for name, values in drawn.items()} for i in range(BLOCK)]
    truth = xr.concat(truths, dim="draw").rename(draw="replicate").isel(replicate=slice(0, reps))
    truth = truth.assign_coords(replicate=np.arange(reps))
    parameters = xr.concat(draws, dim="draw").rename(draw="replicate").isel(replicate=slice(0, reps))
    return truth, simulated[:reps], parameters.assign_coords(replicate=np.arange(reps))


def with_values(design: ModelData, values: dict[str, np.ndarray]) -> ModelData:
    """The design with other observed values (a replicate's simulated data: the cells' observed variables
    and the constants the kind simulates, :meth:`~ww_bayes.kinds.protocol.ModelKind.simulated_constants`;
    everything else kept)."""
    constants = {name: design.constants[name].copy(data=value) for name, value in values.items()
                 if name in design.constants}  # fmt: skip
    observed = {name: value for name, value in values.items() if name not in constants}
    return dataclasses.replace(design, cells=design.observation.with_values(design.cells, observed),
                               constants={**design.constants, **constants})  # fmt: skip


# --- one replicate (runs in a worker) ----------------------------------------------------------------


@dataclass(frozen=True)
class Replicate:
    """What a worker needs for one replicate: the fitted spec (sampler settings included), the design
    with the replicate's counts, the true values and how to rank and judge."""

    index: int
    spec: object
    data: ModelData
    truth: xr.Dataset
    settings: SBCSettings
    #: the truth's free variables: where the fit makes constants from its posterior
    #: (:meth:`~ww_bayes.kinds.protocol.ModelKind.after_sampling`), the truth's estimands are made again
    #: with them (:func:`truth_on`)
    prior: xr.Dataset | None = None


def run_replicate(task: Replicate) -> xr.Dataset:
    """Fit one replicate and rank its truth: a Dataset of ranks (int16) with the replicate's diagnostics
    as attrs (``seconds``, ``max_rhat``, ``min_ess_bulk``, ``divergences``)."""
    start = time.perf_counter()
    release_freed_memory(collect=True)  # what the previous replicate left
    kind = kind_of(task.spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a replicate's sampler warnings are summarised in its attrs
        sampled = sample_posterior(task.spec, task.data)
        derived = kind.derive(task.spec, sampled.data, sampled.posterior)
    draws = ranked_quantities(kind, task.spec, sampled.posterior, derived)
    truth = task.truth
    if sampled.data is not task.data and task.prior is not None:
        truth = truth_on(task.spec, sampled.data, task.prior, truth)
    varying = [n for n in draws.data_vars if bool((draws[n].std(SAMPLE_DIMS) > 0).any())]
    computed = diagnose(draws[varying], which=("r_hat", "ess_bulk"))
    rhat, ess = computed["r_hat"].to_array().max(), computed["ess_bulk"].to_array().min()
    divergences = int(sampled.sample_stats["diverging"].sum())
    thinned = thin(draws, task.settings.ranked_draws)
    ranks = (thinned < truth).sum("sample").astype("int16")
    ranks.attrs.update(
        {
            "replicate": task.index,
            "seconds": round(time.perf_counter() - start, 3),
            "max_rhat": float(rhat),
            "min_ess_bulk": float(ess),
            "divergences": divergences,
        }
    )
    return ranks.expand_dims(replicate=[task.index])


def truth_on(spec, data: ModelData, prior: xr.Dataset, truth: xr.Dataset) -> xr.Dataset:
    """``truth`` with its estimands made again from its free variables ``prior`` on ``data``, whose
    constants the replicate's fit made from its posterior (the trajectory's composition factor): the
    truth's estimands and the posterior's then read the same constants, which depend on the data only, so
    a correct model still ranks uniformly. The ranked parameters are kept."""
    kind = kind_of(spec)
    model = kind.build(spec, data)
    one = prior.expand_dims(chain=[0], draw=[0]).astype("float64")
    parameters = one.merge(deterministics(one, model, compile_kwargs=POSTPROCESS_COMPILE), join="exact")
    again = ranked_quantities(kind, spec, parameters, kind.derive(spec, data, parameters))
    again = again.isel(chain=0, draw=0, drop=True)
    kept = set(kind.calibration_quantities(spec))
    return truth.assign({name: again[name] for name in again.data_vars if name not in kept and name in truth})


def thin(draws: xr.Dataset, keep: int) -> xr.Dataset:
    """``keep`` draws spread evenly over the chains (chain-major order, every k-th draw)."""
    stacked = draws.stack(sample=SAMPLE_DIMS)
    step = max(1, stacked.sizes["sample"] // keep)
    picks = np.arange(0, step * keep, step)[: stacked.sizes["sample"]]
    return stacked.isel(sample=picks).drop_vars(["sample", "chain", "draw"], errors="ignore")


# --- the study -----------------------------------------------------------------------------------------


def design_digest(design: ModelData) -> str:
    """SHA-256 of what the design fixes: the cells without their simulated columns (labels, persons), and
    the composition weights."""
    cells = design.cells.drop(columns=list(design.observation.simulated_columns)).astype(str)
    hashed = pd.util.hash_pandas_object(cells, index=False).to_numpy().tobytes()
    hashed += np.ascontiguousarray(design.weights.to_numpy()).tobytes()
    return hashlib.sha256(hashed).hexdigest()


def spec_digest(spec) -> str:
    """SHA-256 of a spec's content (not the file it was read from; sampler settings added later count only
    when set, :func:`ww_bayes.kinds.common.sampler_fields`, and so do the options of
    :func:`ww_bayes.kinds.common.keyed_fields`)."""
    fields = keyed_fields({k: v for k, v in dataclasses.asdict(spec).items() if k not in ("source", "text")})
    fields["sampler"] = sampler_fields(spec.sampler)
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def study_record(spec, design: ModelData, settings: SBCSettings, simulate_spec) -> dict:
    """What a folder's replicates depend on: stored in ``study.json`` and checked on resuming."""
    return {
        "study": "ww_bayes simulation-based calibration",
        "spec_name": spec.name,
        "fitted_spec_sha256": spec_digest(spec),
        "simulated_from": simulate_spec.name,
        "simulate_spec_sha256": spec_digest(simulate_spec),
        "design_sha256": design_digest(design),
        "n_cells": design.n_cells,
        "settings": {k: getattr(settings, k) for k in ("chains", "draws", "tune", "ranked_draws", "seed")},
    }


def replicate_path(folder: Path, index: int) -> Path:
    return folder / "replicates" / f"replicate_{index:04d}.nc"


def open_study(folder: Path, record: dict, parts: str = "replicates") -> list[int]:
    """Check ``folder`` belongs to this study (or start it): the numbers of the parts already done
    (files ``<parts>/<name>_<number>.*``)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / parts).mkdir(exist_ok=True)
    path = folder / STUDY_FILE
    if path.exists():
        stored = json.loads(path.read_text())
        changed = sorted(k for k in set(stored) | set(record) if stored.get(k) != record.get(k))
        if changed:
            raise StudyMismatch(
                f"{folder} holds a study with other {', '.join(changed)}: use another --out, or delete the "
                "folder to start again"
            )
    else:
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps(record, indent=2)))
    return sorted(int(p.stem.split("_")[-1]) for p in (folder / parts).glob("*_*.*") if p.name[0] != ".")


def sbc(
    spec,
    design: ModelData,
    folder: str | Path,
    settings: SBCSettings = SBCSettings(),
    *,
    simulate_spec=None,
    tamper: Callable[[ModelData, dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
    run: Callable | None = None,
) -> xr.Dataset:
    """Run (or resume) an SBC study of ``spec`` on ``design``; replicates are written to
    ``folder/replicates`` as they finish and the study's ranks are returned (dim ``replicate``).

    ``simulate_spec``: draw truths and data from this spec's prior instead (same structure; a way to
    study prior misspecification); ``tamper(design, values) -> values``: change a replicate's simulated
    observed values (observed name -> array) before fitting (for a check that must fail, e.g. counts
    attached to the wrong arm); ``run``: how to
    dispatch the replicates (``lambda function, tasks, total: iterator``; default in this process).
    """
    folder = Path(folder)
    simulate_spec = simulate_spec or spec
    if tamper is not None:
        simulate_spec = dataclasses.replace(simulate_spec, name=f"{simulate_spec.name} (tampered)")
    record = study_record(spec, design, settings, simulate_spec)
    done = set(open_study(folder, record))
    truth, counts, parameters = prior_truths(simulate_spec, design, settings.reps, settings.seed)
    fitted = spec.with_sampler(
        chains=settings.chains,
        draws=settings.draws,
        cores=1,
        tune=spec.sampler.tune if settings.tune is None else settings.tune,
    )
    seeds = np.random.SeedSequence(settings.seed).generate_state(settings.reps)
    todo = [i for i in range(settings.reps) if i not in done]

    def tasks():
        for i in todo:
            values = counts[i] if tamper is None else tamper(design, counts[i])
            yield Replicate(i, fitted.with_sampler(seed=int(seeds[i])), with_values(design, values),
                            truth.isel(replicate=i, drop=True), settings,
                            parameters.isel(replicate=i, drop=True))  # fmt: skip

    run = run or (lambda function, items, total: map(function, items))
    for ranks in run(run_replicate, tasks(), len(todo)):
        index = int(ranks.attrs["replicate"])
        atomic_write(replicate_path(folder, index), lambda tmp, r=ranks: to_netcdf(xr.DataTree(r), tmp))
    return collect(folder, settings)


def collect(folder: Path, settings: SBCSettings) -> xr.Dataset:
    """The ranks of replicates 0..reps-1 from the folder, with their diagnostics as variables and
    ``converged`` judged by ``settings``."""
    reps = settings.reps
    parts = []
    for index in range(reps):
        path = replicate_path(folder, index)
        if not path.exists():
            raise FileNotFoundError(f"{path}: replicate {index} is missing; rerun the study to finish it")
        ds = load_datatree(path).to_dataset()
        diagnostics = {k: ("replicate", [ds.attrs[k]]) for k in DIAGNOSTICS if k != "converged"}
        parts.append(ds.assign(diagnostics).assign_attrs({}))
    ranks = xr.concat(parts, dim="replicate")
    ranks.attrs = {}
    ranks["converged"] = (
        (ranks["max_rhat"] <= settings.max_rhat)
        & (ranks["min_ess_bulk"] >= settings.min_ess_bulk)
        & (ranks["divergences"] == 0)
    ).astype("int8")
    return ranks


#: Per-replicate diagnostics stored with the ranks.
DIAGNOSTICS = ("seconds", "max_rhat", "min_ess_bulk", "divergences", "converged")


# --- the verdict ---------------------------------------------------------------------------------------


def pit_values(ranks: xr.Dataset, ranked_draws: int, seed: int) -> xr.Dataset:
    """Randomised PIT values (rank + U) / (L + 1): continuous and exactly uniform under a correct model."""
    rng = np.random.default_rng([seed, 7])
    quantities = ranks.drop_vars(list(DIAGNOSTICS), errors="ignore")
    return quantities.map(lambda r: (r + rng.uniform(size=r.shape)) / (ranked_draws + 1))


def band_simulations(n_quantities: int, alpha: float) -> int:
    """Simulations for the simultaneous band at ``1 - alpha / K``: about 20 beyond its quantile."""
    return int(min(500_000, max(2_000, math.ceil(20 * n_quantities / alpha))))


def uniformity(pit: xr.Dataset, alpha: float) -> tuple[pd.DataFrame, dict]:
    """Per scalar quantity: its ECDF's largest distance from uniform and whether it stays inside the
    simultaneous band at ``1 - alpha / K``. Returns the table and the band's description."""
    scalars = [(name, index) for name, da in pit.data_vars.items() for index in _indices(da)]
    k = len(scalars)
    prob = 1 - alpha / k
    n = pit.sizes["replicate"]
    n_sim = band_simulations(k, alpha)
    eval_points, _, lower, upper = ecdf_pit(np.linspace(0, 1, n), prob, n_sim)
    inner = slice(1, -1)
    rows = []
    for name, index in scalars:
        values = pit[name].isel(index).to_numpy() if index else pit[name].to_numpy()
        ecdf = compute_ecdf(values, eval_points[inner])
        inside = bool(np.all((ecdf >= lower[inner] - 1e-12) & (ecdf <= upper[inner] + 1e-12)))
        rows.append(
            {
                "quantity": name,
                "index": ", ".join(f"{d}={pit[name][d].values[i]}" for d, i in index.items())
                if index
                else "",
                "mean_pit": float(values.mean()),
                "max_ecdf_distance": float(np.max(np.abs(ecdf - eval_points[inner]))),
                "inside_band": inside,
            }
        )
    band = {"quantities": k, "alpha": alpha, "band_prob": prob, "band_simulations": n_sim, "replicates": n,
            "max_allowed_distance": float(np.max(np.maximum(upper - eval_points, eval_points - lower))),
            "x": eval_points.tolist(), "lower": lower.tolist(), "upper": upper.tolist()}  # fmt: skip
    return pd.DataFrame(rows), band


def _indices(da: xr.DataArray) -> list[dict[str, int]]:
    dims = [d for d in da.dims if d != "replicate"]
    if not dims:
        return [{}]
    return [dict(zip(dims, idx, strict=True)) for idx in np.ndindex(*(da.sizes[d] for d in dims))]
