"""Same data, spec and seed give bit-identical draws whatever the compile caches hold.

Three fits of one reduced model (the Werkverkenner-only 12-month model, 4,000 persons, 2 chains x 300
draws): in a fresh process whose PyTensor and numba caches are empty (a new machine), in a fresh process
whose caches the first one filled (a persistent cache from another process), and in this test process
(its own cache, and a compiled sampler reused from an earlier fit of the same structure). The draws are
compared at full precision (float64, before a fit file narrows them to float32). And the C callbacks
cached on disk (``ww_bayes.sampler``) draw exactly what nutpie's own compile draws, for two graphs that
differ only in a prior, one after the other in one cache; a cache key that ignored the graph is caught.
The built functions pickled to disk (``sampler.functions_path``) load, draw what nutpie's compile draws, hold
no counts (and a variant that leaves them in is caught), and a structure that ignored the prior is caught;
the trajectory model, which also holds its dims' lengths as shared variables, loads and is reused too.
The phase table's split of the sampling time into warm-up and draws follows the sampler's own count of
warm-up steps when chains wait for a free core.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import nutpie
import pytensor
import pytest
import xarray as xr

from ww_bayes import sampler
from ww_bayes.data.io import write_cohort
from ww_bayes.data.simulate import simulate_cohort
from ww_bayes.inference import REPRODUCIBLE_FASTMATH, _TuningClock, sample_posterior
from ww_bayes.kinds import kind_of, load_spec

MODELS = Path(__file__).resolve().parents[1] / "models"

#: Run in a fresh interpreter (and here): sample the reduced spec on the cohort file, write the draws.
DRAW = """
import dataclasses, sys, warnings
warnings.simplefilter("ignore")
warnings.filterwarnings("error", message="the cached sampler")  # no silent fallback to nutpie's compile
import xarray as xr
from ww_bayes.data.io import load_cohort
from ww_bayes.inference import sample_posterior
from ww_bayes.kinds import kind_of, load_spec

def draws(spec_path, data_path):
    spec = load_spec(spec_path)
    pooling = {component: {"werkverkenner": "partial"} for component in spec.pooling}
    spec = dataclasses.replace(spec, groups=("werkverkenner",), pooling=pooling).with_sampler(
        chains=2, draws=300, tune=300, seed=5, cores=1
    )
    data = kind_of(spec).prepare(spec, load_cohort(data_path))
    sampled = sample_posterior(spec, data)
    return xr.merge([sampled.posterior, sampled.sample_stats[["energy", "step_size"]]])

if __name__ == "__main__":
    draws(sys.argv[1], sys.argv[2]).to_netcdf(sys.argv[3], engine="h5netcdf")
"""


def fresh_process(script: Path, data: Path, out: Path, cache: Path) -> xr.Dataset:
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={cache}"}
    env["NUMBA_CACHE_DIR"] = str(cache / "numba")
    subprocess.run(
        [sys.executable, str(script), str(MODELS / "job_finding_12m.toml"), str(data), str(out)],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return xr.load_dataset(out, engine="h5netcdf")


@pytest.fixture(scope="module")
def fits(small_cohort, tmp_path_factory) -> dict[str, xr.Dataset]:
    folder = tmp_path_factory.mktemp("reproducible")
    script = folder / "draw.py"
    script.write_text(DRAW)
    data = write_cohort(small_cohort.data, folder / "cohort.parquet")
    cache = folder / "cache"
    cache.mkdir()
    out = {"empty caches": fresh_process(script, data, folder / "empty.nc", cache)}
    # the first process filled the numba cache, the cached C callbacks included
    entries = sorted(cache.rglob("*ww_bayes_*"))
    assert {"logp", "expand"} <= {w for p in entries for w in ("logp", "expand") if f"ww_bayes_{w}" in p.name}
    assert len(list(cache.rglob("ww_bayes_functions_*.pkl"))) == 1  # the built functions, pickled
    stamps = {p: p.stat().st_mtime_ns for p in entries}
    out["warm caches, another process"] = fresh_process(script, data, folder / "warm.nc", cache)
    # the second process loaded the callbacks: no entry added or rewritten
    assert {p: p.stat().st_mtime_ns for p in sorted(cache.rglob("*ww_bayes_*"))} == stamps
    namespace: dict = {}
    exec(compile(DRAW, str(script), "exec"), namespace)  # noqa: S102 - the script above, in this process
    namespace["draws"](MODELS / "job_finding_12m.toml", data)  # compiles (or reuses) the sampler
    out["this process, sampler reused"] = namespace["draws"](MODELS / "job_finding_12m.toml", data)
    return out


def test_same_seed_gives_bit_identical_draws_whatever_the_cache_state(fits):
    reference = fits["empty caches"]
    assert reference["service_mean"].dtype == np.float64 and reference.sizes["draw"] == 300
    for state, other in fits.items():
        assert set(other.data_vars) == set(reference.data_vars), state
        differ = [v for v in reference.data_vars if not np.array_equal(reference[v].values, other[v].values)]
        assert not differ, f"{state}: draws differ from the empty-cache fit in {differ}"


def test_another_seed_gives_other_draws(fits, small_cohort, tmp_path):
    """The comparison above can fail: a different seed is caught as different draws."""
    namespace: dict = {}
    exec(compile(DRAW.replace("seed=5", "seed=6"), "draw_seed6", "exec"), namespace)  # noqa: S102
    data = write_cohort(small_cohort.data, tmp_path / "cohort.parquet")
    other = namespace["draws"](MODELS / "job_finding_12m.toml", data)
    reference = fits["empty caches"]
    assert not np.array_equal(reference["service_mean"].values, other["service_mean"].values)


# --- the disk-cached C callbacks (ww_bayes.sampler) against nutpie's own compile -------------------------


def reduced_model(small_cohort, service_sigma: float):
    """The Werkverkenner-only model with the service mean's prior sd set (another graph, same shapes)."""
    spec = load_spec(MODELS / "job_finding_12m.toml")
    pooling = {component: {"werkverkenner": "partial"} for component in spec.pooling}
    priors = {**spec.priors, "service": dataclasses.replace(spec.priors["service"], mean_sigma=service_sigma)}
    spec = dataclasses.replace(spec, groups=("werkverkenner",), pooling=pooling, priors=priors)
    kind = kind_of(spec)
    return kind.build(spec, kind.prepare(spec, small_cohort.data), for_sampling=True)


def short_draws(compiled, name: str = "service_mean", draws: int = 100, tune: int = 150) -> np.ndarray:
    with pytensor.config.change_flags(numba__fastmath=REPRODUCIBLE_FASTMATH):
        tree = nutpie.sample(compiled, draws=draws, tune=tune, chains=2, seed=9, cores=1, progress_bar=False)
    return tree["posterior"].ds[name].values


def compiled(model, compile_with, structure: str | None = None) -> object:
    names = [v.name for v in model.free_RVs]
    with pytensor.config.change_flags(numba__fastmath=REPRODUCIBLE_FASTMATH):
        if compile_with == "nutpie":
            return nutpie.compile_pymc_model(model, var_names=names)
        return sampler.compile_pymc_model(model, names, structure=structure)


@pytest.fixture(scope="module")
def two_priors(small_cohort) -> dict[tuple[float, str], np.ndarray]:
    """Draws of two graphs of the same shapes, compiled with the cache (the second after the first filled
    it) and with nutpie's compile."""
    draws = {}
    for sigma in (0.5, 0.05):
        model = reduced_model(small_cohort, sigma)
        for compile_with in ("cache", "nutpie"):
            done = compiled(model, compile_with)
            if compile_with == "cache":
                assert done.compiled_logp_func._pyfunc.__name__ == "ww_bayes_logp"  # not nutpie's fallback
            draws[sigma, compile_with] = short_draws(done)
    return draws


def test_cached_callbacks_draw_what_nutpies_own_compile_draws(two_priors):
    for sigma in (0.5, 0.05):
        assert np.array_equal(two_priors[sigma, "cache"], two_priors[sigma, "nutpie"]), sigma
    # and the prior matters, so equality above is not two copies of one graph
    assert not np.array_equal(two_priors[0.5, "cache"], two_priors[0.05, "cache"])


def test_a_key_that_ignores_the_graph_is_caught(two_priors, small_cohort, monkeypatch):
    """The broken variant: if the cache key left out the graph, the second prior would run the first
    prior's callbacks, and its draws would not be nutpie's."""
    constant = f"broken-{uuid.uuid4().hex}"  # a fresh entry: nothing another run left behind
    monkeypatch.setattr(sampler, "_graph_key", lambda function: constant)
    first, second = (short_draws(compiled(reduced_model(small_cohort, s), "cache")) for s in (0.5, 0.05))
    assert np.array_equal(first, two_priors[0.5, "nutpie"])
    assert not np.array_equal(second, two_priors[0.05, "nutpie"])
    assert np.array_equal(second, first)  # the first prior's callbacks, run again


# --- the built functions, pickled (ww_bayes.sampler.functions_path) ---------------------------------------


def functions_file(model, structure: str) -> Path:
    """Where ``compiled(model, "cache", structure)`` keeps the built functions (its flags are in the key)."""
    with pytensor.config.change_flags(numba__fastmath=REPRODUCIBLE_FASTMATH):
        return sampler.functions_path(model, [v.name for v in model.free_RVs], structure)


def from_pickle(model, structure: str) -> object:
    """Compile ``model`` with the built functions cached under ``structure``: the first call builds and
    stores them (unless an earlier call did), the second loads them from the file."""
    compiled(model, "cache", structure)
    assert functions_file(model, structure).is_file()
    loaded = compiled(model, "cache", structure)
    assert loaded.compiled_logp_func._pyfunc.__name__ == "ww_bayes_logp"  # not nutpie's fallback
    return loaded


def test_pickled_functions_draw_what_nutpies_own_compile_draws(two_priors, small_cohort):
    run = uuid.uuid4().hex  # fresh entries: nothing another run left behind
    for sigma in (0.5, 0.05):
        model = reduced_model(small_cohort, sigma)
        structure = f"test prior sd {sigma} {run}"  # the caller's key names the prior, as the spec's does
        assert np.array_equal(short_draws(from_pickle(model, structure)), two_priors[sigma, "nutpie"]), sigma


def test_a_structure_that_ignores_the_prior_is_caught(two_priors, small_cohort):
    """The broken variant: a caller's structure that left out the prior would load the first prior's
    functions for the second, and its draws would not be nutpie's."""
    structure = f"broken {uuid.uuid4().hex}"
    first, second = (short_draws(from_pickle(reduced_model(small_cohort, s), structure)) for s in (0.5, 0.05))
    assert np.array_equal(first, two_priors[0.5, "nutpie"])
    assert not np.array_equal(second, two_priors[0.05, "nutpie"])


def pickled_counts(small_cohort) -> tuple[dict[str, np.ndarray], bytes, object]:
    model = reduced_model(small_cohort, 0.5)
    before = {name: model[name].get_value().copy() for name in ("successes", "trials")}
    structure = f"no counts {uuid.uuid4().hex}"
    compiled(model, "cache", structure)
    blob = functions_file(model, structure).read_bytes()
    return before, blob, model


def test_the_pickled_functions_hold_no_counts(small_cohort):
    """Data values are zeroed in the file (the cache holds no counts) and given back to the model."""
    before, blob, model = pickled_counts(small_cohort)
    for name, values in before.items():
        assert values.any() and values.tobytes() not in blob, name
        assert np.array_equal(model[name].get_value(), values), name  # the model's own values are back


def test_counts_left_in_the_pickle_are_caught(small_cohort, monkeypatch):
    """The broken variant: without the zeroing, the file would hold the cell counts."""
    monkeypatch.setattr(sampler, "_blank", lambda value: value)
    before, blob, _ = pickled_counts(small_cohort)
    assert all(values.tobytes() in blob for values in before.values())


def test_a_trajectory_sampler_loads_and_is_reused_with_its_dim_lengths(small_cohort):
    """The trajectory model also holds the lengths of its dims as shared variables (PyMC's, named after the
    dims), which are not data: its pickled functions load (no fallback to nutpie's compile) and draw what
    the functions built in this process draw, and a second fit in the process reuses the sampler with the
    new data."""
    spec = load_spec(MODELS / "trajectory_30m.toml")
    spec = spec.with_sampler(chains=2, draws=30, tune=30, seed=3, cores=1)
    kind = kind_of(spec)
    model = kind.build(spec, kind.prepare(spec, small_cohort.data), for_sampling=True)
    assert {"outcome", "cell"} <= set(sampler.shared_variables(model)) - {v.name for v in model.data_vars}
    structure = f"trajectory {uuid.uuid4().hex}"
    built = compiled(model, "cache", structure)
    loaded = compiled(model, "cache", structure)
    assert loaded.compiled_logp_func._pyfunc.__name__ == "ww_bayes_logp"  # not nutpie's fallback
    short = {"name": "service_level", "draws": 30, "tune": 30}
    assert np.array_equal(short_draws(loaded, **short), short_draws(built, **short))
    other = simulate_cohort(n=4_000, seed=8, progress=False).data
    first, second = (sample_posterior(spec, kind.prepare(spec, df)) for df in (small_cohort.data, other))
    assert not np.array_equal(first.posterior["service_level"], second.posterior["service_level"])


# --- the warm-up's share of the sampling time (ww_bayes.inference._TuningClock) -------------------------


def progress(started: bool, tuning: bool, iterations: int, steps: int) -> SimpleNamespace:
    """One chain's progress report as nutpie's callback gets it (finished_draws counts warm-up too)."""
    return SimpleNamespace(started=started, tuning=tuning, finished_draws=iterations, total_num_steps=steps)


def test_the_clock_interpolates_each_chains_warmup_steps_and_skips_chains_not_started():
    clock = _TuningClock(tune=50)
    waiting = progress(False, True, 0, 0)  # nutpie reports a chain not started yet as tuning
    clock([progress(True, True, 40, 4_000), waiting])
    clock([progress(True, False, 60, 5_000), waiting])  # left its warm-up at iteration 50: 4,500 steps
    stats = xr.Dataset({"n_steps": (("chain", "draw"), np.full((2, 10), 100))})
    assert clock.warmup_share(stats) is None  # the second chain's warm-up was not seen to end
    clock([progress(True, False, 60, 6_000), progress(True, False, 60, 2_400)])  # never seen tuning
    assert clock.warmup_steps == {0: 4_500, 1: 2_400 * 50 / 60}
    warmup = 4_500 + 2_000
    assert clock.warmup_share(stats) == pytest.approx(warmup / (warmup + 2_000))


def test_the_warmup_share_is_the_samplers_share_of_steps_with_more_chains_than_cores(small_cohort):
    """4 chains on 2 cores: the last two chains start when the first two have finished, so the moment the
    last chain leaves its warm-up is about half-way through the sampling whatever the warm-up costs. The
    clock's share of warm-up steps is the sampler's own (its warm-up statistics); the time until the last
    chain left its warm-up, as a share of the sampling time (how the phase was split before), is not."""
    done = compiled(reduced_model(small_cohort, 0.5), "cache")
    clock, old = _TuningClock(tune=200), {}

    def callback(chains) -> None:
        clock(chains)
        if "left" not in old and not any(chain.tuning for chain in chains):  # the split before
            old["left"] = time.perf_counter()

    start = time.perf_counter()
    with pytensor.config.change_flags(numba__fastmath=REPRODUCIBLE_FASTMATH):
        tree = nutpie.sample(done, draws=1_000, tune=200, chains=4, cores=2, seed=9, progress_bar=False,
                             progress_callback=callback, progress_rate=5, save_warmup=True)  # fmt: skip
    seconds = time.perf_counter() - start
    warm = tree["warmup_sample_stats"].ds["n_steps"].sum("draw").to_numpy()
    drawn = tree["sample_stats"].ds["n_steps"]
    assert np.allclose([clock.warmup_steps[c] for c in range(4)], warm, rtol=0.05)
    truth = warm.sum() / (warm.sum() + float(drawn.sum()))
    assert clock.warmup_share(tree["sample_stats"].ds) == pytest.approx(truth, abs=0.02)
    assert truth < 0.35  # 200 of 1,200 iterations, a little dearer each than a draw
    assert (old["left"] - start) / seconds > 0.4  # after the first two chains' draws (measured: 0.58)


def test_the_loaded_start_is_pymcs_start_for_every_seed(small_cohort):
    """The start function is kept with the built functions (compiling it is most of a destinations model's
    compile in a warm process). Loaded, with the model's own dim lengths put back, it gives PyMC's start
    for each seed. A kept start function that reads a variable the model does not have is compiled again,
    with a warning, and still gives PyMC's start."""
    spec = load_spec(MODELS / "destinations_12m.toml")
    kind = kind_of(spec)
    model = kind.build(spec, kind.prepare(spec, small_cohort.data), for_sampling=True)
    held = {var.name for var in sampler._start_function(model).__wrapped__.get_shared()}
    assert {"month", "state"} <= held  # shared dim lengths, zeroed in the file
    structure = f"destinations start {uuid.uuid4().hex}"
    built = compiled(model, "cache", structure)
    loaded = compiled(model, "cache", structure)
    assert loaded.compiled_logp_func._pyfunc.__name__ == "ww_bayes_logp"
    for seed in range(5):
        assert np.array_equal(loaded.initial_point_func(seed), built.initial_point_func(seed)), seed
    assert not np.array_equal(loaded.initial_point_func(0), loaded.initial_point_func(1))  # jittered
    own = sampler.shared_variables

    def without_month(model):
        return {name: var for name, var in own(model).items() if name != "month"}

    kept = functions_file(model, structure)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sampler, "functions_path", lambda *args: kept)  # the file the start is kept in
        patch.setattr(sampler, "shared_variables", without_month)
        with pytest.warns(RuntimeWarning, match="reads variables this model does not have"):
            rebuilt = sampler._compile_cached(model, [v.name for v in model.free_RVs], structure)
    assert np.array_equal(rebuilt.initial_point_func(3), built.initial_point_func(3))
