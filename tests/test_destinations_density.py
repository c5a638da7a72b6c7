"""The destinations model's hand-written log-density (``ww_bayes.kinds.destinations_density``) is the PyTensor
graph's: the same log-density and gradient at random points of the sampler's unconstrained space, for the
shipped spec and for a spec with every pooling, every form and two months; a wrong layout is caught; the
sampler uses it where it applies and PyTensor's function where it does not, or where it disagrees."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import ww_bayes.inference as inference
from ww_bayes.data.io import typed_cohort
from ww_bayes.kinds import kind_named, load_spec
from ww_bayes.kinds.destinations_density import (
    FusedPyMCModel,
    free_variables,
    fused_sampler,
    layout,
    log_density,
)
from ww_bayes.sampler import compile_pymc_model

MODELS = Path(__file__).resolve().parents[1] / "models"
KIND = kind_named("destinations")
pytestmark = pytest.mark.filterwarnings("ignore::ww_bayes.results.ConvergenceWarning")


@pytest.fixture(scope="module")
def shipped():
    return load_spec(MODELS / "destinations_12m.toml")


@pytest.fixture(scope="module")
def cohort(small_cohort, shipped):
    return typed_cohort(small_cohort.data, KIND.required_columns(shipped))


@pytest.fixture(scope="module")
def shipped_models(shipped, cohort):
    """nutpie's compiled model of the shipped spec on the small cohort, and the hand-written one."""
    return pytensor_and_fused(shipped, cohort)


def pytensor_and_fused(spec, cohort):
    """nutpie's compiled model of ``spec`` on ``cohort`` (PyTensor's log-density) and the hand-written one."""
    data = KIND.prepare(spec, cohort)
    model = KIND.build(spec, data, for_sampling=True)
    compiled = compile_pymc_model(model, [v.name for v in model.free_RVs])
    return compiled, fused_sampler(spec, data, compiled)


def assert_same_density(compiled, fused, seed: int = 1, points: int = 3) -> None:
    """The log-density and gradient of both at random unconstrained points (wide enough that the sds range
    over orders of magnitude)."""
    rng = np.random.default_rng(seed)
    layout = fused.fused_layout
    for _ in range(points):
        x = rng.normal(0.0, 0.7, compiled.n_dim)
        expected, expected_grad = compiled.logp_func(x)
        grad = np.empty(compiled.n_dim)
        got = log_density(x, grad, layout.ints, layout.floats)
        assert got == pytest.approx(float(expected), rel=1e-11, abs=1e-7)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-9, atol=1e-7 * np.abs(expected_grad).max())


def values(compiled) -> dict[str, np.ndarray]:
    """The data the compiled model holds, by variable name."""
    return {var.name: compiled.shared_data[key] for var, key in compiled.shared_var_keys.items()}


def test_the_shipped_model_has_the_graphs_log_density_and_gradient(shipped_models):
    compiled, fused = shipped_models
    assert isinstance(fused, FusedPyMCModel)
    assert_same_density(compiled, fused)


def test_other_specs_have_the_graphs_log_density_and_gradient(shipped, cohort):
    """Every pooling (partial, none, full), every form (centred, half-centred, non-centred) and more than
    one month."""
    asked = {"baseline": {"region": "none"}, "service": {"region": "none"},
             "enforcement": {"werkverkenner": "full"}}  # fmt: skip
    pooling = {c: {f: asked.get(c, {}).get(f, p) for f, p in by.items()} for c, by in shipped.pooling.items()}
    months = (6, 12)
    shares = {o: {m: by[12] for m in months} for o, by in shipped.baseline.shares.items()}
    spec = dataclasses.replace(shipped, pooling=pooling, months=months,
                               baseline=dataclasses.replace(shipped.baseline, shares=shares))  # fmt: skip
    spec = spec.with_parametrization({"baseline": "half-centred", "service": "centred",
                                      "enforcement": "half-centred"})  # fmt: skip
    compiled, fused = pytensor_and_fused(spec, cohort)
    assert fused is not None
    assert_same_density(compiled, fused, seed=2)


def test_counts_laid_out_in_the_wrong_rows_are_caught(shipped_models):
    """The check above fails on a layout whose counts are shifted by one Werkverkenner class (so it can)."""
    compiled, fused = shipped_models
    counts = fused.fused_layout.data_offsets[0][0]
    shifted = {**values(compiled), counts: np.roll(values(compiled)[counts], 1, axis=1)}
    broken = dataclasses.replace(fused, fused_layout=fused.fused_layout.with_counts(shifted))
    with pytest.raises(AssertionError):
        assert_same_density(compiled, broken, points=1)


def test_new_data_refill_the_counts(shipped, shipped_models, small_cohort):
    """``with_data`` (a second fit of the same structure reuses the compiled sampler) puts the new counts
    in the layout: the same as a layout made on the new data."""
    compiled, fused = shipped_models
    half = typed_cohort(small_cohort.data.iloc[::2], KIND.required_columns(shipped))
    data = KIND.prepare(shipped, half)
    held = {var.name: var.get_value() for var in KIND.build(shipped, data, for_sampling=True).data_vars}
    expected = layout(shipped, data, free_variables(compiled)).with_counts(held)
    names = [n for n in values(compiled) if n.endswith(("_counts", "_log_multinomial_coef"))]
    refilled = fused.with_data(**{n: held[n] for n in names})
    np.testing.assert_array_equal(refilled.fused_layout.floats, expected.floats)
    np.testing.assert_array_equal(refilled.fused_layout.ints, expected.ints)
    assert not np.array_equal(refilled.fused_layout.floats, fused.fused_layout.floats)


def test_a_model_with_an_empty_category_samples_with_pytensors_function(shipped, shipped_models, cohort):
    """A category empty in some month (WIA before month 25 in a path) is written in a basis of the live
    categories, which the hand-written function does not describe: the sampler keeps PyTensor's."""
    compiled, _ = shipped_models
    data = KIND.prepare(shipped, cohort)
    empty = data.constants["category_empty"].copy()
    empty[0, 2] = 1
    with_empty = dataclasses.replace(data, constants={**data.constants, "category_empty": empty})
    assert layout(shipped, with_empty, free_variables(compiled)) is None
    assert KIND.sampler_model(shipped, with_empty, compiled) is compiled
    assert isinstance(KIND.sampler_model(shipped, data, compiled), FusedPyMCModel)


def test_a_fit_samples_with_it(shipped, shipped_models, cohort, monkeypatch):
    """``fit`` hands nutpie the hand-written log-density (the compiled model is the one above: the same
    spec on the same cohort)."""
    import nutpie

    sampled = []
    original = nutpie.sample

    def recording(compiled, **kwargs):
        sampled.append(compiled)
        return original(compiled, **kwargs)

    monkeypatch.setattr(nutpie, "sample", recording)
    monkeypatch.setattr(inference, "_COMPILED", {})
    monkeypatch.setattr(inference, "compile_pymc_model", lambda *args, **kwargs: shipped_models[0])
    inference.fit(shipped.with_sampler(chains=2, draws=50, tune=50), cohort, progress=False, log=None)
    assert len(sampled) == 1 and isinstance(sampled[0], FusedPyMCModel)


def test_a_density_that_disagrees_with_the_graph_is_not_sampled_with(shipped, shipped_models, cohort,
                                                                     monkeypatch):  # fmt: skip
    """Before a fit samples with it, the callback the sampler calls is checked against PyTensor's C
    callback on the fit's own data: the shipped one agrees (and equals the numba function called from
    Python); a layout whose summed log-coefficients are off by 1 (the value alone) or whose counts are
    shifted by a class is refused with a warning, and a fit samples with PyTensor's; a second fit's data
    (``with_data``) are checked too."""
    compiled, fused = shipped_models
    assert fused.agrees()
    x = np.random.default_rng(3).normal(0.0, 0.5, compiled.n_dim)
    grad = np.empty(compiled.n_dim)
    value = log_density(x, grad, fused.fused_layout.ints, fused.fused_layout.floats)
    through_callback = fused.callback_log_density(x)
    assert through_callback[0] == value and np.array_equal(through_callback[1], grad)
    counts, _, _, _, constant = fused.fused_layout.data_offsets[0]
    off_by_one = fused.fused_layout.floats.copy()
    off_by_one[constant] += 1.0
    shifted = {**values(compiled), counts: np.roll(values(compiled)[counts], 1, axis=1)}
    for layout_broken in (dataclasses.replace(fused.fused_layout, floats=off_by_one),
                          fused.fused_layout.with_counts(shifted)):  # fmt: skip
        with pytest.warns(RuntimeWarning, match="hand-written destinations log-density"):
            assert not dataclasses.replace(fused, fused_layout=layout_broken).agrees()
    data = KIND.prepare(shipped, cohort)
    monkeypatch.setattr(FusedPyMCModel, "agrees", lambda self: False)
    assert KIND.sampler_model(shipped, data, compiled) is compiled
    names = [n for n in values(compiled) if n.endswith(("_counts", "_log_multinomial_coef"))]
    assert type(fused.with_data(**{n: values(compiled)[n] for n in names})) is not FusedPyMCModel
