"""The cell Binomial model is exactly the person-level Bernoulli model; pooling behaves as baggr's."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import arviz as az
import numpy as np
import pytest
from scipy.special import gammaln, logit

from ww_bayes.data.simulate import DEFAULT_CALIBRATION, simulate_cohort
from ww_bayes.inference import fit
from ww_bayes.kinds import load_spec
from ww_bayes.kinds.effects import build_model, effects_summary, prepare_data, truth_table
from ww_bayes.kinds.pooling import arm_logit
from ww_bayes.summaries import coverage

MODELS = Path(__file__).resolve().parents[1] / "models"
# Property tests use PyMC's own NUTS (a cheaper compile than nutpie's) on the same model and Werkverkenner
# as the only factor; the full-cohort tests in test_fit.py run the shipped specs with nutpie.
SHORT = {"chains": 2, "draws": 1000, "tune": 600, "seed": 5, "sampler": "pymc"}


def by_class(spec):
    return dataclasses.replace(spec, groups=("werkverkenner",)).with_pooling("partial").with_sampler(**SHORT)


@pytest.fixture(scope="module")
def job_spec():
    return load_spec(MODELS / "job_finding_12m.toml")


@pytest.fixture(scope="module")
def tiny_cohort():
    return simulate_cohort(n=1_200, seed=11).data


def test_both_anchors_give_each_arm_the_same_logit():
    """The effect components mean the same under either anchor: with the baseline moved to the other arm's
    logit, every arm gets the same logit (so only the baseline's prior differs between the two models)."""
    rng = np.random.default_rng(3)
    baseline, service, enforcement = rng.normal(size=3)
    service_anchor = {"baseline": baseline, "service": service, "enforcement": enforcement}
    none_anchor = dict(service_anchor, baseline=baseline - service - enforcement)
    expected = {
        "service": baseline,
        "control_enforcement": baseline - service,
        "control_none": baseline - service - enforcement,
    }
    for arm, value in expected.items():
        assert arm_logit("service", arm, service_anchor) == pytest.approx(value, abs=1e-12)
        assert arm_logit("control_none", arm, none_anchor) == pytest.approx(value, abs=1e-12)


def test_cells_hold_every_person(job_spec, tiny_cohort):
    data = prepare_data(job_spec, tiny_cohort)
    assert data.cells["trials"].sum() == len(tiny_cohort)
    assert int(data.weights.sum()) == len(tiny_cohort)
    assert data.weights.dims == ("werkverkenner", "region")


def test_binomial_equals_bernoulli_log_likelihood_up_to_constant(job_spec, tiny_cohort):
    cells = prepare_data(job_spec, tiny_cohort)
    persons = prepare_data(job_spec, tiny_cohort, likelihood="bernoulli")
    binomial, bernoulli = build_model(job_spec, cells), build_model(job_spec, persons)
    constant = float(
        np.sum(
            gammaln(cells.cells["trials"] + 1)
            - gammaln(cells.cells["successes"] + 1)
            - gammaln(cells.cells["trials"] - cells.cells["successes"] + 1)
        )
    )
    logp_binomial, logp_bernoulli = binomial.compile_logp(), bernoulli.compile_logp()
    rng = np.random.default_rng(0)
    for _ in range(3):
        point = {
            name: value + rng.normal(0, 0.3, np.shape(value))
            for name, value in binomial.initial_point().items()
        }
        assert logp_binomial(point) - logp_bernoulli(point) == pytest.approx(constant, abs=1e-6)


def test_sampling_likelihood_equals_pm_binomial(job_spec, tiny_cohort):
    """The logit-form likelihood the sampler sees is pm.Binomial's log-probability, term by term."""
    data = prepare_data(job_spec, tiny_cohort)
    sampling, reference = build_model(job_spec, data, for_sampling=True), build_model(job_spec, data)
    assert [v.name for v in sampling.free_RVs] == [v.name for v in reference.free_RVs]
    logp_sampling, logp_reference = (
        model.compile_fn(
            model.logp(vars=[model["y"]], sum=False)[0], inputs=model.value_vars, on_unused_input="ignore"
        )
        for model in (sampling, reference)
    )
    rng = np.random.default_rng(1)
    for _ in range(3):
        point = {
            name: value + rng.normal(0, 0.5, np.shape(value))
            for name, value in reference.initial_point().items()
        }
        np.testing.assert_allclose(logp_sampling(point), logp_reference(point), rtol=1e-9, atol=1e-9)


def test_binomial_and_bernoulli_posteriors_agree(job_spec, tiny_cohort):
    spec = by_class(job_spec)
    trees = [
        fit(spec, tiny_cohort.iloc[:800], likelihood=likelihood, progress=False, log=None)
        for likelihood in ("binomial", "bernoulli")
    ]
    effects = [t["effects/overall"].ds["effect_pp"] for t in trees]
    means = [e.mean(("chain", "draw")) for e in effects]
    mcse = [az.mcse(e.to_dataset())["effect_pp"] for e in effects]
    difference = abs(means[0] - means[1])
    assert (difference < 4 * np.sqrt(mcse[0] ** 2 + mcse[1] ** 2)).all(), difference.values


@pytest.fixture(scope="module")
def pooling_fits():
    """One class with a negative service effect, small classes; werkverkenner as the only factor."""
    profile = dict(DEFAULT_CALIBRATION.service_job_profile, **{"0-25": -2.0})
    cal = dataclasses.replace(DEFAULT_CALIBRATION, service_job_profile=profile)
    cohort = simulate_cohort(n=30_000, seed=21, calibration=cal).data
    spec = by_class(load_spec(MODELS / "job_finding_12m.toml"))
    specs = {
        # saturated per class: every component unpooled
        "none": spec.with_pooling("none"),
        # one common service effect on the logit scale, classes otherwise on their own
        "full": spec.with_pooling({"baseline": "none", "enforcement": "none", "service": "full"}),
        "partial": spec,
    }
    return cohort, {name: fit(s, cohort, progress=False, log=None) for name, s in specs.items()}


def _class_service(tree):
    return tree["posterior"].ds["service_by_werkverkenner"].mean(("chain", "draw"))


def test_full_pooling_gives_one_common_effect(pooling_fits):
    _, fits = pooling_fits
    assert "service_by_werkverkenner" not in fits["full"]["posterior"].ds
    assert "service_dev_werkverkenner" not in fits["full"]["posterior"].ds


def test_no_pooling_gives_unshrunk_class_estimates(pooling_fits):
    cohort, fits = pooling_fits
    unpooled = _class_service(fits["none"])
    for level in unpooled["werkverkenner"].values:
        rows = cohort[cohort["werkverkenner"] == level]
        rate = rows.groupby("arm", observed=True)["employed_m12"].mean().astype(float)
        separate = logit(rate["service"]) - logit(rate["control_enforcement"])  # per-class MLE
        sd = float(fits["none"]["posterior"].ds["service_by_werkverkenner"].sel(werkverkenner=level).std())
        assert abs(float(unpooled.sel(werkverkenner=level)) - separate) < 0.5 * sd + 0.01


def test_partial_pooling_lies_between(pooling_fits):
    """Each class estimate lies between its unpooled estimate and the population mean it shrinks to."""
    _, fits = pooling_fits
    unpooled, partial = _class_service(fits["none"]), _class_service(fits["partial"])
    mean = float(fits["partial"]["posterior"].ds["service_mean"].mean())
    tolerance = 0.01  # Monte Carlo error of the posterior means (logit scale)
    low = np.minimum(unpooled, mean) - tolerance
    high = np.maximum(unpooled, mean) + tolerance
    assert ((partial >= low) & (partial <= high)).all(), (partial.values, unpooled.values, mean)
    assert float(abs(partial - mean).sum()) < float(abs(unpooled - mean).sum())  # shrinkage happened
    # the negative class stays below the mean: pooling shrinks toward it, never past it
    assert float(partial.sel(werkverkenner="0-25")) < mean
    # full pooling: the one common effect lies within the range of the class estimates
    common = float(fits["full"]["posterior"].ds["service_mean"].mean())
    assert float(unpooled.min()) < common < float(unpooled.max())


@pytest.mark.parametrize(
    ("seed", "scenario"),
    [(31, "published"), (32, "published"), (33, "negative class 0-25"), (34, "no service effect")],
)
def test_recovery_over_seeds_and_scenarios(job_spec, seed, scenario):
    """Overall effects of every contrast recovered (truth inside the 99% ETI) across seeds and simulator
    scenarios. nutpie with the class-only model: compiled once, reused for every seed.
    """
    cal = DEFAULT_CALIBRATION
    if scenario == "negative class 0-25":
        cal = dataclasses.replace(cal, service_job_profile=dict(cal.service_job_profile, **{"0-25": -2.0}))
    elif scenario == "no service effect":
        cal = dataclasses.replace(cal, service_job_pp_m12=0.0)
    cohort = simulate_cohort(n=40_000, seed=seed, calibration=cal)
    # 2 chains x 2000 draws: the class sd (5 classes) needs the shipped spec's 2000 draws per chain for R-hat
    spec = dataclasses.replace(job_spec, groups=("werkverkenner",)).with_sampler(
        chains=2, draws=2000, tune=1000, seed=seed
    )
    tree = fit(spec, cohort.data, progress=False, log=None)
    assert tree.attrs["converged"] == "yes", tree.attrs["convergence_report"]
    summary = effects_summary(tree["effects"], "eti", 0.99)
    truth = truth_table(cohort.truth, "employed", 12, ["overall"])
    checked = coverage(summary, truth, "eti99", ["estimand", "contrast", "level", "group"])
    assert len(checked) == 3 and checked["covered"].all(), checked[["contrast", "mean", "truth"]]
    if scenario == "no service effect":
        service = checked.set_index("contrast").loc["service_vs_control_enforcement", "truth"]
        assert service == pytest.approx(0.0, abs=1e-9)
