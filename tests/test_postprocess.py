"""ww_bayes.postprocess computes PyMC's deterministics over all draws at once: the values must be PyMC's own
(pm.compute_deterministics, one draw at a time, numba-compiled; ours run with the Python linker fit()
uses), for each model kind, and a function reused for a second
model of the same structure must read that model's data, not the first one's."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pymc as pm
import pytensor
import pytest
import xarray as xr
from pytensor.compile.mode import Mode

from ww_bayes import inference, postprocess, recompute, sampler
from ww_bayes.data.simulate import simulate_cohort
from ww_bayes.derived import levels_of
from ww_bayes.inference import POSTPROCESS_COMPILE, Sampled
from ww_bayes.kinds import kind_of, load_spec
from ww_bayes.results import ConvergenceWarning

COMPILE = POSTPROCESS_COMPILE  # as fit() runs them: PyTensor's Python linker
NUMBA = {"mode": "FAST_RUN"}  # PyMC's per-draw reference, compiled with numba


def model_and_draws(spec_name: str, cohort_seed: int, draws: int = 60, data=None):
    spec = load_spec(spec_name)
    kind = kind_of(spec)
    data = data or kind.prepare(spec, simulate_cohort(n=4_000, seed=cohort_seed).data)
    model = kind.build(spec, data)
    prior = pm.sample_prior_predictive(draws=2 * draws, model=model, random_seed=cohort_seed,
                                       compile_kwargs=COMPILE)  # fmt: skip
    free = prior["prior"].ds[[v.name for v in model.free_RVs]].isel(chain=0).drop_vars("draw")
    halves = [free.isel(draw=slice(0, draws)), free.isel(draw=slice(draws, None))]
    return model, xr.concat(halves, "chain", join="exact").assign_coords(chain=[0, 1], draw=np.arange(draws))


def pymc_deterministics(draws: xr.Dataset, model: pm.Model, var_names=None) -> xr.Dataset:
    return pm.compute_deterministics(draws, model=model, var_names=var_names, progressbar=False,
                                     compile_kwargs=NUMBA)  # fmt: skip


@pytest.mark.parametrize("spec_name", ["job_finding_12m", "trajectory_30m"])
def test_equals_pymc_and_reuse_reads_the_new_data(spec_name, monkeypatch):
    monkeypatch.setattr(postprocess, "_FUNCTIONS", {})
    monkeypatch.setattr(postprocess, "CHUNK_DRAWS", 25)  # several chunks, the last one partial
    first_model, first_draws = model_and_draws(spec_name, cohort_seed=1)
    mine = postprocess.deterministics(first_draws, first_model, structure="one", compile_kwargs=COMPILE)
    xr.testing.assert_allclose(mine, pymc_deterministics(first_draws, first_model), rtol=1e-12, atol=1e-14)
    assert len(postprocess._FUNCTIONS) == 1

    # another cohort of the same shape: the cached function, this model's data (the cells' counts differ)
    second_model, second_draws = model_and_draws(spec_name, cohort_seed=2)
    data = [v.name for v in second_model.data_vars]
    assert any(
        not np.array_equal(first_model[name].get_value(), second_model[name].get_value()) for name in data
    )
    reused = postprocess.deterministics(second_draws, second_model, structure="one", compile_kwargs=COMPILE)
    assert len(postprocess._FUNCTIONS) == 1  # reused, not compiled again
    expected = pymc_deterministics(second_draws, second_model)
    xr.testing.assert_allclose(reused, expected, rtol=1e-12, atol=1e-14)


def test_a_function_with_the_data_compiled_in_is_caught(monkeypatch):
    """The broken variant: the first model's data compiled into the reused function (what a cache keyed on
    the structure would do if the data were not inputs); the second model's composition (the trajectory's
    cohort-specific mix of classes, same shape in both cohorts) comes out wrong."""
    monkeypatch.setattr(postprocess, "_FUNCTIONS", {})
    first_model, _ = model_and_draws("trajectory_30m", cohort_seed=1)
    second_model, second_draws = model_and_draws("trajectory_30m", cohort_seed=3)
    postprocess.deterministics(second_draws, first_model, structure="one", compile_kwargs=COMPILE)
    [(key, (function, free, data))] = postprocess._FUNCTIONS.items()
    assert "composition_factor" in data
    first_values = [first_model[name].get_value() for name in data]
    postprocess._FUNCTIONS[key] = (
        lambda *args: function(*args[: len(free)], *first_values),
        free,
        [],  # reads no data: the first model's, compiled in
    )
    stale = postprocess.deterministics(second_draws, second_model, structure="one", compile_kwargs=COMPILE)
    right = pymc_deterministics(second_draws, second_model)
    assert stale["composition"].shape == right["composition"].shape
    assert not np.allclose(stale["composition"], right["composition"])


def test_selected_names_and_unknown_names():
    model, draws = model_and_draws("job_finding_12m", cohort_seed=1, draws=10)
    some = postprocess.deterministics(draws, model, var_names=["cell_rate"], compile_kwargs=COMPILE)
    assert list(some.data_vars) == ["cell_rate"]
    xr.testing.assert_allclose(some, pymc_deterministics(draws, model, ["cell_rate"]), rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match=r"not deterministics of the model: \['service_mean'\]"):
        postprocess.deterministics(draws, model, var_names=["service_mean", "rate"])


@pytest.mark.parametrize(
    "spec_name", ["job_finding_12m", "trajectory_30m", "destinations_12m", "hours_worked_y1"]
)
def test_estimands_derived_in_blocks_of_draws_are_those_derived_at_once(spec_name, monkeypatch):
    """``inference.derive`` without the cell deterministics in the posterior computes them and the kind's
    estimands block by block (9 blocks here, the last one partial): every variable of every level equals
    the estimands derived from all draws at once, the probabilities computed again from all draws."""
    spec = load_spec(spec_name)
    kind = kind_of(spec)
    data = kind.prepare(spec, simulate_cohort(n=4_000, seed=3).data)
    model, free = model_and_draws(spec_name, cohort_seed=3, data=data)
    everything = free.merge(postprocess.deterministics(free, model, compile_kwargs=COMPILE))
    at_once = kind.derive(spec, data, everything)
    cells = list(kind.cell_deterministics)
    per_draw = sum(everything[name].isel(draw=0).nbytes for name in cells)
    monkeypatch.setattr(inference, "DERIVE_BLOCK_BYTES", 7 * per_draw)
    calls = []
    derive = type(kind).derive
    monkeypatch.setattr(type(kind), "derive", lambda self, *args: calls.append(1) or derive(self, *args))
    in_blocks = inference.derive(spec, data, Sampled(everything.drop_vars(cells), xr.Dataset(), model))
    assert len(calls) == 9
    assert set(levels_of(in_blocks)) == set(levels_of(at_once))
    for level, expected in levels_of(at_once).items():
        got = levels_of(in_blocks)[level]
        assert list(got.data_vars) == list(expected.data_vars)
        xr.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_a_draw_free_estimand_that_depends_on_the_draws_is_not_joined_from_blocks(monkeypatch):
    """The broken variant: a kind whose draw-free variable is computed from the draws (here a share set to
    its block's largest cell share) differs between blocks, and joining them raises instead of keeping one
    block's."""
    spec = load_spec("destinations_12m")
    kind = kind_of(spec)
    data = kind.prepare(spec, simulate_cohort(n=4_000, seed=3).data)
    model, free = model_and_draws("destinations_12m", cohort_seed=3, data=data)
    everything = free.merge(postprocess.deterministics(free, model, compile_kwargs=COMPILE))
    derive = type(kind).derive

    def drawn_into_a_share(self, spec, data, posterior):
        derived = derive(self, spec, data, posterior)
        share = derived["overall"].ds["pooling_only_share"]
        derived["overall"]["pooling_only_share"] = share * 0 + float(posterior["state_share"].max())
        return derived

    monkeypatch.setattr(type(kind), "derive", drawn_into_a_share)
    cells = list(kind.cell_deterministics)
    per_draw = sum(everything[name].isel(draw=0).nbytes for name in cells)
    monkeypatch.setattr(inference, "DERIVE_BLOCK_BYTES", 30 * per_draw)  # two blocks
    with pytest.raises(RuntimeError, match="pooling_only_share|differs between blocks"):
        inference.derive(spec, data, Sampled(everything.drop_vars(cells), xr.Dataset(), model))


# --- the compiled functions kept on disk ------------------------------------------------------------------


@pytest.fixture
def disk_cache(tmp_path, monkeypatch):
    """An empty in-memory cache (a fresh process) and an empty folder for the pickled functions."""
    monkeypatch.setattr(postprocess, "_FUNCTIONS", {})
    monkeypatch.setattr(sampler, "cache_root", lambda: tmp_path)
    return tmp_path / postprocess.CACHE_FOLDER


def _no_compile(*args, **kwargs):
    raise AssertionError("compiled, though the function was on disk")


def test_a_fresh_process_loads_the_function_and_it_holds_no_data(disk_cache, monkeypatch):
    """A process that finds the pickled function loads it instead of compiling, gives the same values, and
    with another cohort's model (same structure) computes that model's values from its own data. The file
    holds none of the model's data values; the broken variant, a function that reads the data as the
    model's shared variables instead of as inputs, would."""
    model, draws = model_and_draws("trajectory_30m", cohort_seed=1)
    second_model, second_draws = model_and_draws("trajectory_30m", cohort_seed=2)
    first = postprocess.deterministics(draws, model, structure="one", compile_kwargs=COMPILE)
    [kept] = disk_cache.glob("*.pkl")

    monkeypatch.setattr(postprocess, "_FUNCTIONS", {})  # a new process: nothing in memory
    monkeypatch.setattr(postprocess, "pytensor", SimpleNamespace(function=_no_compile))
    xr.testing.assert_identical(postprocess.deterministics(draws, model, structure="one",
                                                           compile_kwargs=COMPILE), first)  # fmt: skip
    monkeypatch.setattr(postprocess, "_FUNCTIONS", {})
    other = postprocess.deterministics(second_draws, second_model, structure="one", compile_kwargs=COMPILE)
    xr.testing.assert_allclose(other, pymc_deterministics(second_draws, second_model), rtol=1e-12, atol=1e-14)
    assert list(disk_cache.glob("*.pkl")) == [kept]

    [(_, (function, free, data))] = postprocess._FUNCTIONS.items()
    values = [np.ascontiguousarray(model[name].get_value()) for name in data]
    assert "composition_factor" in data  # a cohort's own numbers, an input of the function
    blob = kept.read_bytes()
    assert not any(value.tobytes() in blob for value in values if value.size >= 8)
    # the broken variant: the data compiled in (the model's shared variables), pickled with their values
    compiled_in = pytensor.function([], [model[name] * 1.0 for name in data], **COMPILE)
    held = pickle.dumps(compiled_in)
    assert any(value.tobytes() in held for value in values if value.size >= 8)


def _scaled(factor: float) -> tuple[pm.Model, xr.Dataset]:
    with pm.Model(coords={"i": range(3)}) as model:
        x = pm.Normal("x", 0.0, 1.0, dims="i")
        pm.Deterministic("y", x * factor, dims="i")
    draws = xr.Dataset({"x": (("chain", "draw", "i"), np.arange(12.0).reshape(2, 2, 3))})
    return model, draws


def test_a_graph_constant_is_part_of_the_key(disk_cache, monkeypatch):
    """Two graphs that differ only in a constant (here a factor, as a prior's value or a layout computed
    from the data would be) under the same structure string get their own values, in one process and from
    disk (two files). The broken variant, a key blind to the constants, serves the first graph's function
    to the second."""
    for factor in (2.0, 3.0):  # one process: the in-memory cache is keyed by the constants too
        model, draws = _scaled(factor)
        y = postprocess.deterministics(draws, model, structure="same", compile_kwargs=COMPILE)["y"]
        np.testing.assert_array_equal(y.values, draws["x"].values * factor)
    assert len(list(disk_cache.glob("*.pkl"))) == 2
    for factor in (2.0, 3.0):  # fresh processes: from disk
        model, draws = _scaled(factor)
        monkeypatch.setattr(postprocess, "_FUNCTIONS", {})
        y = postprocess.deterministics(draws, model, structure="same", compile_kwargs=COMPILE)["y"]
        np.testing.assert_array_equal(y.values, draws["x"].values * factor)

    monkeypatch.setattr(postprocess, "Constant", type("NoConstant", (), {}))  # the digest sees none
    for factor, expected in ((2.0, 2.0), (3.0, 2.0)):  # the second loads the first graph's function
        model, draws = _scaled(factor)
        monkeypatch.setattr(postprocess, "_FUNCTIONS", {})
        y = postprocess.deterministics(draws, model, structure="blind", compile_kwargs=COMPILE)["y"]
        np.testing.assert_array_equal(y.values, draws["x"].values * expected)


def _two_outputs() -> tuple[pm.Model, xr.Dataset]:
    with pm.Model() as model:
        x = pm.Normal("x", 0.0, 1.0)
        pm.Deterministic("a", pm.math.exp(x))
        pm.Deterministic("b", pm.math.sin(x))
    return model, xr.Dataset({"x": (("chain", "draw"), np.linspace(-1.0, 1.0, 6).reshape(2, 3))})


def test_the_names_order_is_part_of_the_key(disk_cache, monkeypatch):
    """The outputs follow the names' order: the same names asked in another order get their own function
    (a key with the names sorted would hand ``a``'s values out as ``b``'s)."""
    model, draws = _two_outputs()
    for names in (["a", "b"], ["b", "a"]):
        monkeypatch.setattr(postprocess, "_FUNCTIONS", {})
        got = postprocess.deterministics(draws, model, var_names=names, structure="s", compile_kwargs=COMPILE)
        np.testing.assert_allclose(got["a"].values, np.exp(draws["x"].values), rtol=1e-14)
        np.testing.assert_allclose(got["b"].values, np.sin(draws["x"].values), rtol=1e-14)
    assert len(list(disk_cache.glob("*.pkl"))) == 2


def test_the_key_is_the_same_in_another_process():
    """Nothing in the key depends on the process (an address in a repr would make every process miss): two
    other processes and this one give one file name."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from test_postprocess import _scaled, COMPILE; "
        "from ww_bayes import postprocess; model, _ = _scaled(2.0); "
        "free = list(model.free_RVs); outputs = postprocess._without_views([model['y']], free); "
        "digest = postprocess._constants_digest(outputs, free); "
        "print(postprocess._cache_path(model, ['y'], 's', COMPILE, digest))"
    )
    here = str(Path(__file__).parent)
    paths = {subprocess.run([sys.executable, "-c", code, here], capture_output=True, text=True,
                            check=True).stdout.strip() for _ in range(2)}  # fmt: skip
    model, _ = _scaled(2.0)
    free = list(model.free_RVs)
    digest = postprocess._constants_digest(postprocess._without_views([model["y"]], free), free)
    assert paths == {str(postprocess._cache_path(model, ["y"], "s", COMPILE, digest))}


def test_a_mode_the_key_cannot_describe_is_not_kept(disk_cache):
    """Only the Python linker with a plain rewrite query is described by the key; another mode compiles
    every process (``vm`` and ``cvm`` would carry the same class name)."""
    model, draws = _scaled(2.0)
    other = {"mode": Mode(linker="vm", optimizer="fast_run")}
    y = postprocess.deterministics(draws, model, structure="s", compile_kwargs=other)["y"]
    np.testing.assert_array_equal(y.values, draws["x"].values * 2.0)
    assert not disk_cache.exists() or not list(disk_cache.glob("*.pkl"))


def test_an_unreadable_file_or_other_inputs_are_compiled_again(disk_cache, monkeypatch):
    model, draws = _scaled(2.0)
    postprocess.deterministics(draws, model, structure="s", compile_kwargs=COMPILE)
    [kept] = disk_cache.glob("*.pkl")
    with pytest.warns(RuntimeWarning, match=r"its inputs \['x'\] are not this model's \['z'\]"):
        assert postprocess._load(kept, ["z"]) is None
    kept.write_bytes(b"not a pickle")
    monkeypatch.setattr(postprocess, "_FUNCTIONS", {})
    with pytest.warns(RuntimeWarning, match="could not be read.*rebuilding it"):
        y = postprocess.deterministics(draws, model, structure="s", compile_kwargs=COMPILE)["y"]
    np.testing.assert_array_equal(y.values, draws["x"].values * 2.0)
    assert pickle.loads(kept.read_bytes())  # written again, whole


def test_a_graph_the_digest_cannot_describe_is_compiled_on_every_call(disk_cache, monkeypatch):
    """Where the constants cannot be digested, neither cache serves the function: each call compiles,
    so a second graph that differs only in a constant gets its own values, and no file is written."""
    monkeypatch.setattr(postprocess, "_constants_digest", lambda outputs, free: None)
    compiled = []

    def counted(*args, **kwargs):
        compiled.append(1)
        return pytensor.function(*args, **kwargs)

    monkeypatch.setattr(postprocess, "pytensor", SimpleNamespace(function=counted))
    for factor in (2.0, 3.0):
        model, draws = _scaled(factor)
        y = postprocess.deterministics(draws, model, structure="same", compile_kwargs=COMPILE)["y"]
        np.testing.assert_array_equal(y.values, draws["x"].values * factor)
    assert len(compiled) == 2
    assert not disk_cache.exists() or not list(disk_cache.glob("*.pkl"))


def test_a_report_reuses_the_fits_compiled_cell_rates(disk_cache, monkeypatch):
    """The model checks rebuild a fit's model and compute its cell rates under the fit's structure, so a
    later process loads the function a first one compiled (``recompute`` without the structure would keep
    nothing on disk) and gets the same rates."""
    spec = load_spec("job_finding_12m").with_sampler(chains=2, draws=40, tune=40)
    df = simulate_cohort(n=4_000, seed=1).data
    with warnings.catch_warnings():  # chains far too short for the gate: its flag is not the point here
        warnings.simplefilter("ignore", ConvergenceWarning)
        tree = inference.fit(spec, df, progress=False, log=None)
    monkeypatch.setattr(postprocess, "_FUNCTIONS", {})
    files = set(disk_cache.glob("*.pkl"))
    first = recompute.cell_rates(tree, df)
    assert len(set(disk_cache.glob("*.pkl")) - files) == 1

    monkeypatch.setattr(postprocess, "_FUNCTIONS", {})  # a new process
    monkeypatch.setattr(postprocess, "pytensor", SimpleNamespace(function=_no_compile))
    xr.testing.assert_identical(recompute.cell_rates(tree, df), first)
