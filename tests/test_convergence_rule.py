"""Centred, half-centred or non-centred partially pooled deviations: the rule follows the data, a spec's
choice wins, and the forms are one model (the same log-density up to the Jacobian of ``dev = sd^(1-c) z``)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit

from ww_bayes import inference
from ww_bayes.calibration.sbc import spec_digest
from ww_bayes.data.simulate import simulate_cohort
from ww_bayes.inference import fit, sampler_for, spec_structure
from ww_bayes.kinds import kind_of, load_spec
from ww_bayes.kinds.common import sampler_fields
from ww_bayes.kinds.effects import build_model, prepare_data
from ww_bayes.kinds.observations import BinaryCounts
from ww_bayes.kinds.pooling import (
    CENTRED,
    CENTRED_BELOW,
    CENTRING,
    GAMMA,
    HALF_CENTRED,
    HALF_NORMAL,
    NON_CENTRED,
    SdPrior,
    between_sd_posterior,
    choose_parametrization,
    choose_parametrizations,
    weak_form_of,
)
from ww_bayes.tomlspec import SpecError

MODELS = Path(__file__).resolve().parents[1] / "models"
LEVELS = [f"r{i}" for i in range(12)]


@pytest.fixture(scope="module")
def job_spec():
    """The shipped spec with every form chosen from the data (the file pins them)."""
    return load_spec(MODELS / "job_finding_12m.toml").with_parametrization("auto")


@pytest.fixture(scope="module")
def tiny_cohort():
    return simulate_cohort(n=1_500, seed=11).data


def binary_cells(persons_per_arm: int, effect_sd: float, seed: int = 3) -> pd.DataFrame:
    """Expected-count cells of a two-arm design over LEVELS: rate 40% in the control arm, a service effect
    per level of sd ``effect_sd`` on the logit scale (the same true effects at every size)."""
    effects = np.random.default_rng(seed).normal(0.0, effect_sd, len(LEVELS))
    rows = []
    for level, effect in zip(LEVELS, effects, strict=True):
        for arm, eta in (("service", -0.4 + effect), ("control_enforcement", -0.4)):
            trials = persons_per_arm
            rows.append(
                {"arm": arm, "region": level, "trials": trials, "successes": round(trials * expit(eta))}
            )
    return pd.DataFrame(rows)


def service_form(cells: pd.DataFrame, asked: str = "auto", centred_below: float = CENTRED_BELOW):
    chosen = choose_parametrizations(
        cells,
        BinaryCounts(),
        {"region": LEVELS},
        {"service": ["region"]},
        {"service": {"region": asked}},
        "service",
        {"service": 0.2},  # the prior scale of the effects' sd in the shipped specs
        centred_below,
    )
    return chosen["service"]["region"]


def test_weak_data_are_non_centred_and_strong_data_centred():
    """The same true effects (sd 0.1 on the logit across 12 regions): with 50 persons per arm and region
    each level's estimate is noise (shrinkage near 1, non-centred); with 200,000 it is pinned down
    (shrinkage near 0, centred); the data never ask for the half-centred form."""
    weak = service_form(binary_cells(50, effect_sd=0.1))
    strong = service_form(binary_cells(200_000, effect_sd=0.1))
    assert weak.form == NON_CENTRED and weak.chosen_by == "data" and weak.shrinkage > 0.75
    assert strong.form == CENTRED and strong.chosen_by == "data" and strong.shrinkage < 0.25
    for persons in (200, 800, 3_000):
        assert service_form(binary_cells(persons, effect_sd=0.1)).form != HALF_CENTRED
    realised = np.random.default_rng(3).normal(0.0, 0.1, len(LEVELS)).std(ddof=1)
    assert strong.between_sd == pytest.approx(realised, rel=0.25)  # the spread the data show, not the prior's


def test_no_spread_between_levels_is_non_centred_at_any_size():
    """Levels that do not differ (a truly common effect) put the sd's posterior at the funnel's neck: the
    non-centred form, however many persons."""
    for persons in (50, 2_000, 200_000):
        assert service_form(binary_cells(persons, effect_sd=0.0)).form == NON_CENTRED


def test_the_posterior_of_the_levels_sd_recovers_a_known_spread():
    """The normal approximation's posterior of the sd on many levels with known sampling variances: its
    median at the truth; near zero where the levels do not differ."""
    rng = np.random.default_rng(7)
    truth, noise = 0.3, np.full(4_000, 0.2**2)
    estimates = rng.normal(0.0, truth, noise.size) + rng.normal(0.0, np.sqrt(noise))
    grid, weights = between_sd_posterior(estimates, noise, prior_sd=1.0)
    assert weights.sum() == pytest.approx(1.0)
    assert grid[np.searchsorted(np.cumsum(weights), 0.5)] == pytest.approx(truth, rel=0.05)
    grid, weights = between_sd_posterior(rng.normal(0.0, 0.2, 4_000), noise, prior_sd=1.0)
    assert grid[np.searchsorted(np.cumsum(weights), 0.5)] < 0.05


def test_the_rule_reads_the_sd_prior_the_model_has():
    """The posterior of the levels' sd under the spec's prior family: a number is a half-normal scale (the
    same weights as an SdPrior of that scale); under a gamma it has no weight at 0, its grid reaches 6
    scales, and it is the same likelihood times another prior (the two posteriors on one grid differ by the
    ratio of the prior densities). A family that is not one is refused, named."""
    rng = np.random.default_rng(5)
    estimates, noise = rng.normal(0.0, 0.05, 5), rng.uniform(0.01, 0.03, 5) ** 2
    grid, weights = between_sd_posterior(estimates, noise, 0.2)
    same_grid, same = between_sd_posterior(estimates, noise, SdPrior(0.2))
    np.testing.assert_array_equal(same_grid, grid)
    np.testing.assert_array_equal(same, weights)
    gamma = SdPrior(0.1, GAMMA)
    inner = np.linspace(0.01, 0.6, 7)  # the rule's log-densities are scipy's up to a constant
    for prior, reference in (
        (gamma, stats.gamma(a=2.0, scale=0.05)),
        (SdPrior(0.2), stats.halfnorm(scale=0.2)),
    ):
        difference = prior.log_density(inner) - reference.logpdf(inner)
        np.testing.assert_allclose(difference, difference[0], atol=1e-12)
    gamma_grid, gamma_weights = between_sd_posterior(estimates, noise, gamma)
    assert gamma_grid[-1] == pytest.approx(0.6) and gamma_weights[0] == 0.0
    half_normal = SdPrior(0.15)  # the same grid: 4 x 0.15 = 6 x 0.1
    np.testing.assert_allclose(between_sd_posterior(estimates, noise, half_normal)[0], gamma_grid)
    inside = slice(1, None)
    ratio = gamma_weights[inside] / between_sd_posterior(estimates, noise, half_normal)[1][inside]
    priors = np.exp(gamma.log_density(gamma_grid[inside]) - half_normal.log_density(gamma_grid[inside]))
    np.testing.assert_allclose(ratio / ratio.sum(), priors / priors.sum(), rtol=1e-9)
    assert (
        choose_parametrization(estimates, noise, gamma).shrinkage
        != choose_parametrization(estimates, noise, 0.1).shrinkage
    )
    with pytest.raises(ValueError, match="one of half-normal, gamma, got 'cauchy'"):
        SdPrior(0.1, "cauchy")


def test_series_sharing_one_sd_multiply_their_likelihoods():
    """Two series of the same levels sharing one sd, each with its own mean: the joint posterior is the
    product of each series' posterior over the prior (one prior, not two); a series without data adds
    nothing; one series as a 2-D array is the 1-D posterior; the rule's shrinkage is the median over every
    series' levels."""
    rng = np.random.default_rng(3)
    first, second = rng.normal(0.0, 0.3, 12), rng.normal(2.0, 0.3, 12)
    noise = rng.uniform(0.01, 0.05, 12)
    grid, one = between_sd_posterior(first, noise, prior_sd=1.0)
    _, two = between_sd_posterior(second, noise, prior_sd=1.0)
    _, joint = between_sd_posterior(np.stack([first, second]), np.stack([noise, noise]), prior_sd=1.0)
    prior = np.exp(-0.5 * grid**2)
    expected = one * two / prior
    np.testing.assert_allclose(joint, expected / expected.sum(), rtol=1e-9, atol=1e-300)
    empty = (np.stack([first, np.zeros(12)]), np.stack([noise, np.full(12, np.inf)]))
    np.testing.assert_allclose(between_sd_posterior(*empty, prior_sd=1.0)[1], one, rtol=1e-12)
    np.testing.assert_allclose(
        between_sd_posterior(first[None], noise[None], prior_sd=1.0)[1], one, rtol=1e-12
    )
    single = choose_parametrization(first, noise, 1.0)
    stacked = choose_parametrization(*empty, 1.0)
    assert stacked.shrinkage == pytest.approx(single.shrinkage) and stacked.levels == 12


def test_the_threshold_decides_between_the_forms_and_is_recorded():
    """The same data and shrinkage, centred below the threshold and non-centred at or above it; a threshold
    other than the default is named in the text and kept in the record (the default's record reads back
    without one); a threshold outside [0, 1] is refused, named."""
    cells = binary_cells(3_000, effect_sd=0.1)
    default = service_form(cells)
    kappa = default.shrinkage
    assert 0.05 < kappa < 0.95
    above, below = service_form(cells, centred_below=kappa + 0.01), service_form(cells, centred_below=kappa)
    assert (above.form, below.form) == (CENTRED, NON_CENTRED)
    assert above.shrinkage == below.shrinkage == kappa and above.chosen_by == below.chosen_by == "data"
    assert f"centred below {kappa + 0.01:.2f}" in above.text() and "centred below" not in default.text()
    assert above.as_dict()["centred_below"] == pytest.approx(kappa + 0.01)
    read = type(above).from_dict(above.as_dict())  # the record rounds the numbers, not the threshold
    assert (read.form, read.chosen_by, read.centred_below) == (CENTRED, "data", above.centred_below)
    old_record = {k: v for k, v in default.as_dict().items() if k != "centred_below"}
    assert type(default).from_dict(old_record).centred_below == CENTRED_BELOW
    assert service_form(cells, asked=NON_CENTRED, centred_below=1.0).form == NON_CENTRED  # the spec's wins
    with pytest.raises(ValueError, match="centred_below must be between 0 and 1.*1.5"):
        service_form(cells, centred_below=1.5)


def test_the_spec_sets_the_threshold_for_every_kind(tiny_cohort, tmp_path):
    """``centred_below`` in any kind's spec reaches the rule (everything centred at 1, nothing at 0, in
    every kind: the spec's ``weak_data_form`` there), is read from the spec or defaults, is not part of the
    model's structure (the forms it chose are), and a bad value is refused naming the key."""
    for name in ("job_finding_12m", "hours_worked_y1", "destinations_12m", "trajectory_30m"):
        path = MODELS / f"{name}.toml"
        spec = load_spec(path).with_parametrization("auto")
        assert spec.centred_below == tomllib.loads(path.read_text()).get("centred_below", CENTRED_BELOW)
        forms = {}
        for threshold in (0.0, 1.0):
            asked = dataclasses.replace(spec, centred_below=threshold)
            chosen = kind_of(asked).prepare(asked, tiny_cohort).parametrization
            forms[threshold] = {(c, f): p.form for c, by in chosen.items() for f, p in by.items()}
            assert {p.centred_below for by in chosen.values() for p in by.values()} == {threshold}
            assert spec_structure(asked) == spec_structure(spec)
        # the component of a destinations fit's "<outcome>_<component>"
        assert forms[0.0] == {
            (c, f): weak_form_of(spec.weak_data_form, c.rsplit("_", 1)[-1]) for c, f in forms[0.0]
        }
        assert set(forms[1.0].values()) == {CENTRED}
    text = (MODELS / "job_finding_12m.toml").read_text()
    path = tmp_path / "spec.toml"
    path.write_text("centred_below = 0.33\n" + text)
    assert load_spec(path).centred_below == 0.33
    path.write_text("centred_below = 1.5\n" + text)
    with pytest.raises(SpecError, match="'centred_below' must be <= 1, got 1.5"):
        load_spec(path)


def test_the_spec_chooses_the_form_the_rule_takes_on_weak_data(tiny_cohort, tmp_path):
    """``weak_data_form = "half-centred"``: the rule takes the half-centred form where it would take the
    non-centred one, and keeps the centred form below its threshold and a form the spec asks for; in any
    kind's spec (read from the file, not part of the model's structure: the forms it chose are), for every
    component or per component (a table; components it does not name non-centred); another value or an
    unknown component is refused, named, in the spec and in the rule."""
    cells = binary_cells(3_000, effect_sd=0.1)
    kappa = service_form(cells).shrinkage
    half = lambda **kw: choose_parametrizations(  # noqa: E731
        cells, BinaryCounts(), {"region": LEVELS}, {"service": ["region"]},
        {"service": {"region": kw.get("asked", "auto")}}, "service", {"service": 0.2},
        kw["centred_below"], HALF_CENTRED)["service"]["region"]  # fmt: skip
    assert half(centred_below=kappa).form == HALF_CENTRED and half(centred_below=kappa).chosen_by == "data"
    assert half(centred_below=kappa + 0.01).form == CENTRED
    assert half(centred_below=kappa, asked=NON_CENTRED).form == NON_CENTRED
    with pytest.raises(
        ValueError, match="weak_data_form must be one of non-centred, half-centred.*'centred'"
    ):
        choose_parametrization(np.zeros(3), np.ones(3), 0.2, "auto", 0.5, CENTRED)
    text = (MODELS / "job_finding_12m.toml").read_text()
    path = tmp_path / "spec.toml"
    path.write_text('weak_data_form = "half-centred"\n' + text)
    spec = load_spec(path).with_parametrization("auto")
    assert spec.weak_data_form == HALF_CENTRED
    assert spec_structure(spec) == spec_structure(
        load_spec(MODELS / "job_finding_12m.toml").with_parametrization("auto")
    )
    everywhere = dataclasses.replace(spec, centred_below=0.0)
    chosen = kind_of(everywhere).prepare(everywhere, tiny_cohort).parametrization
    assert {p.form for by in chosen.values() for p in by.values()} == {HALF_CENTRED}
    path.write_text('weak_data_form = { service = "half-centred" }\n' + text)
    per_component = dataclasses.replace(load_spec(path).with_parametrization("auto"), centred_below=0.0)
    chosen = kind_of(per_component).prepare(per_component, tiny_cohort).parametrization
    assert {c: {p.form for p in by.values()} for c, by in chosen.items()} == {
        "baseline": {NON_CENTRED}, "service": {HALF_CENTRED}, "enforcement": {NON_CENTRED}}  # fmt: skip
    path.write_text('weak_data_form = { services = "half-centred" }\n' + text)
    with pytest.raises(SpecError, match="unknown key 'weak_data_form.services'"):
        load_spec(path)
    path.write_text('weak_data_form = { service = "centred" }\n' + text)
    with pytest.raises(SpecError, match="'weak_data_form.service' must be one of non-centred, half-centred"):
        load_spec(path)
    path.write_text('weak_data_form = "sideways"\n' + text)
    with pytest.raises(
        SpecError, match="'weak_data_form' must be one of non-centred, half-centred, got 'sideways'"
    ):
        load_spec(path)


def test_a_forced_choice_is_honoured_and_reported():
    """A spec's form is kept against the data (the numbers still given beside it)."""
    strong = binary_cells(200_000, effect_sd=0.1)
    forced = service_form(strong, asked=NON_CENTRED)
    assert forced.form == NON_CENTRED and forced.chosen_by == "spec"
    assert forced.shrinkage < 0.5
    assert "asked in the spec" in forced.text()
    with pytest.raises(ValueError, match="parametrization"):
        choose_parametrization(np.zeros(3), np.ones(3), 0.2, "sideways")


def test_the_spec_forces_a_form_per_component_and_factor(job_spec, tiny_cohort):
    forms = {"baseline": NON_CENTRED, "service": {"region": CENTRED}, "enforcement": HALF_CENTRED}
    spec = job_spec.with_parametrization(forms)
    data = prepare_data(spec, tiny_cohort)
    assert {f: p.form for f, p in data.parametrization["baseline"].items()} == {
        "werkverkenner": NON_CENTRED,
        "region": NON_CENTRED,
    }
    assert data.parametrization["service"]["region"].form == CENTRED
    assert data.parametrization["service"]["region"].chosen_by == "spec"
    assert data.parametrization["service"]["werkverkenner"].chosen_by == "data"
    assert data.parametrization["enforcement"]["region"].form == HALF_CENTRED
    model = build_model(spec, data)
    free = {rv.name for rv in model.free_RVs}
    assert {
        "baseline_z_region",
        "baseline_z_werkverkenner",
        "service_dev_region",
        "enforcement_z_region",
    } <= free
    assert "baseline_dev_region" not in free and "service_z_region" not in free
    printed = spec.describe_priors(data.parametrization)
    assert "centred (asked in the spec)" in printed and "non-centred (asked in the spec)" in printed


def test_the_spec_file_reads_a_parametrization_table(tmp_path):
    shipped = (MODELS / "job_finding_12m.toml").read_text()
    pinned = shipped.index("[parametrization]")
    shipped = shipped[:pinned] + shipped[shipped.index("\n\n", pinned) :]  # the file's own table out

    def parsed(table: str):
        path = tmp_path / "job.toml"
        at_top = table.startswith('"')
        path.write_text(
            f"parametrization = {table}\n{shipped}" if at_top else f"{shipped}\n[parametrization]\n{table}\n"
        )
        return load_spec(path)

    assert parsed('"centred"').asked("enforcement", "region") == CENTRED
    assert parsed('service = "non_centred"').asked("service", "werkverkenner") == NON_CENTRED
    assert parsed('service = { region = "centred" }').asked("service", "werkverkenner") == "auto"
    assert parsed('baseline = "auto"').asked("service", "region") == "auto"
    assert load_spec(MODELS / "job_finding_12m.toml").asked("service", "region") == NON_CENTRED  # pinned
    with pytest.raises(SpecError, match="parametrization.service.region"):
        parsed('service = { region = "sideways" }')
    with pytest.raises(SpecError, match="parametrization"):
        parsed('outcome = "centred"')


def test_only_partially_pooled_factors_take_a_form(job_spec):
    spec = job_spec.with_pooling({"enforcement": {"region": "none"}})
    assert spec.with_parametrization(CENTRED).asked("enforcement", "region") == "auto"
    with pytest.raises(SpecError, match="pooling.enforcement.region"):
        spec.with_parametrization({"enforcement": {"region": CENTRED}})


def z_of_effects(name: str) -> tuple[str, str] | None:
    """The centred deviations and the sd of an effects model's ``z`` value (``<component>_z_<factor>``)."""
    if "_z_" not in name:
        return None
    component, factor = name.removesuffix("_zerosum__").split("_z_")
    return f"{component}_dev_{factor}_zerosum__", f"{component}_sd_{factor}_log__"


@pytest.mark.parametrize("form", [NON_CENTRED, HALF_CENTRED])
def test_every_form_has_the_centred_log_density_up_to_the_jacobian(job_spec, tiny_cohort, form, as_centred):
    """``dev ~ ZeroSumNormal(sd)`` over L levels against ``dev = sd^(1 - c) * z`` with
    ``z ~ ZeroSumNormal(sd^c)``: at the same deviations the log-densities differ by
    ``-(1 - c)(L - 1) log sd`` per factor (the Jacobian of the map from z to dev on the sum-to-zero
    subspace), whatever the point; the likelihood is the same. The sum-to-zero transform is linear, so the
    centred model's unconstrained deviations are ``sd^(1 - c)`` times the other's; the sds' log transform
    is the same in both."""
    models = {}
    for each in (CENTRED, form):
        spec = job_spec.with_parametrization(each)
        models[each] = build_model(spec, prepare_data(spec, tiny_cohort))
    logp = {each: model.compile_logp() for each, model in models.items()}
    power = 1.0 - CENTRING[form]
    rng = np.random.default_rng(5)
    start = models[form].initial_point()
    for _ in range(3):
        point = {name: value + rng.normal(0.0, 0.5, np.shape(value)) for name, value in start.items()}
        point_c, jacobian = as_centred(point, power, z_of_effects)
        assert set(point_c) == set(models[CENTRED].initial_point())
        assert logp[CENTRED](point_c) - logp[form](point) == pytest.approx(jacobian, abs=1e-6)


@pytest.mark.filterwarnings("ignore::ww_bayes.results.ConvergenceWarning")  # 2 x 200 draws: a plumbing check
def test_the_fit_stores_and_prints_the_choice(job_spec, tiny_cohort):
    spec = dataclasses.replace(job_spec, groups=("werkverkenner",)).with_pooling("partial")
    spec = spec.with_sampler(chains=2, draws=200, tune=200, seed=5, sampler="pymc")
    spec = spec.with_parametrization({"service": CENTRED})
    printed = []
    tree = fit(spec, tiny_cohort, progress=False, log=printed.append)
    record = json.loads(tree.attrs["parametrization"])
    assert record["service"]["werkverkenner"]["form"] == CENTRED
    assert record["service"]["werkverkenner"]["chosen_by"] == "spec"
    assert record["enforcement"]["werkverkenner"]["chosen_by"] == "data"
    assert any("centred (asked in the spec)" in line for line in printed)


def test_a_factor_the_rule_centres_is_sampled_with_the_smaller_steps(job_spec, tiny_cohort):
    """``sampler.target_accept_centred`` replaces the target acceptance where the rule centred a factor left
    to it: the fit says so and records the target it sampled with, and its sampler takes smaller steps than
    the same model without the setting; where the rule centred nothing, or only the spec did, the spec's
    target_accept stays."""
    spec = dataclasses.replace(job_spec, groups=("werkverkenner",)).with_pooling("partial")
    spec = spec.with_sampler(chains=2, draws=200, tune=200, seed=5, sampler="pymc", target_accept=0.6)
    every = dataclasses.replace(spec, centred_below=1.0)  # the rule centres every factor
    specs = {"without": every, "with": every.with_sampler(target_accept_centred=0.95)}
    specs["nothing centred"] = dataclasses.replace(specs["with"], centred_below=0.0)
    fits, printed = {}, {}
    for name, asked in specs.items():
        printed[name] = []
        fits[name] = fit(asked, tiny_cohort, progress=False, log=printed[name].append)
    assert {n: tree.attrs["target_accept"] for n, tree in fits.items()} == {
        "without": 0.6, "with": 0.95, "nothing centred": 0.6}  # fmt: skip
    told = [line for line in printed["with"] if line.startswith("target_accept 0.95 instead of 0.6")]
    assert len(told) == 1 and "service/werkverkenner" in told[0] and "baseline/werkverkenner" in told[0]
    assert not any(line.startswith("target_accept") for n in specs if n != "with" for line in printed[n])
    step = {n: float(tree["sample_stats"]["step_size"].mean()) for n, tree in fits.items()}
    assert step["with"] < 0.75 * step["without"]
    by_spec = specs["with"].with_parametrization(CENTRED)  # centred, but asked for: the spec's target
    assert sampler_for(by_spec, prepare_data(by_spec, tiny_cohort)) is by_spec


def test_calibration_replicates_sample_with_the_target_for_their_design(job_spec, tiny_cohort, monkeypatch):
    """The SBC's fits (``sample_posterior`` on a prepared design) take the same target as ``fit``."""
    spec = job_spec.with_sampler(sampler="pymc", target_accept=0.6, target_accept_centred=0.95)
    seen = []

    def sample(asked, *args):
        seen.append(asked.sampler.target_accept)
        raise InterruptedError

    monkeypatch.setattr(inference, "_sample_pymc", sample)
    for threshold in (1.0, 0.0):
        asked = dataclasses.replace(spec, centred_below=threshold)
        with pytest.raises(InterruptedError):
            inference.sample_posterior(asked, prepare_data(asked, tiny_cohort))
    assert seen == [0.95, 0.6]


def test_the_spec_file_reads_the_target_for_centred_factors(tmp_path):
    """The key is read (0, off, when absent) and a value that would not mean smaller steps is refused,
    named."""
    text = (MODELS / "job_finding_12m.toml").read_text()
    path = tmp_path / "spec.toml"
    path.write_text(text.replace("[sampler]\n", "[sampler]\ntarget_accept_centred = 0.995\n"))
    assert load_spec(path).sampler.target_accept_centred == 0.995
    assert load_spec(MODELS / "job_finding_12m.toml").sampler.target_accept_centred == 0.0
    path.write_text(text.replace("[sampler]\n", "[sampler]\ntarget_accept_centred = 1.2\n"))
    with pytest.raises(SpecError, match="'sampler.target_accept_centred' must be <= 0.999, got 1.2"):
        load_spec(path)
    path.write_text(text.replace("[sampler]\n", "[sampler]\ntarget_accept_centred = 0.9\n"))
    with pytest.raises(SpecError, match=r"'sampler.target_accept_centred' must be 0 \(off\) or at least "
                                        r"sampler.target_accept \(0.99.*got 0.9"):  # fmt: skip
        load_spec(path)


def test_a_later_sampler_setting_keys_studies_only_when_set(job_spec):
    """Study folders and benchmark results are keyed by the sampler settings: a setting added later counts
    only when set, so a spec at its default keeps the key the same spec had before the setting existed
    (asdict of the settings without it), and setting it changes the key; the same for the rule's
    ``weak_data_form``."""
    before = {k: v for k, v in dataclasses.asdict(job_spec.sampler).items() if k != "target_accept_centred"}
    assert sampler_fields(job_spec.sampler) == before
    later = ("source", "text", "weak_data_form")
    fields = {k: v for k, v in dataclasses.asdict(job_spec).items() if k not in later}
    fields["sampler"] = before
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()
    assert spec_digest(job_spec) == digest
    assert spec_digest(job_spec.with_sampler(target_accept_centred=0.995)) != digest
    assert spec_digest(dataclasses.replace(job_spec, weak_data_form=HALF_CENTRED)) != digest


def test_a_later_prior_option_keys_studies_and_fits_only_when_set():
    """The trajectory's ``group_sd_prior`` and ``rule_group_sd`` at their defaults (half-normal; the rule
    reads the prior) are left out of the study digest and of the structure a fit stores, so both are what
    they were before the options existed; set, each counts."""
    shipped = load_spec(MODELS / "trajectory_30m.toml")
    defaults = {c: dataclasses.replace(p, group_sd_prior=HALF_NORMAL, rule_group_sd=None)
                for c, p in shipped.priors.items()}  # fmt: skip
    spec = dataclasses.replace(shipped, priors=defaults)

    def without_option(fields: dict) -> dict:
        later = ("group_sd_prior", "rule_group_sd")
        priors = {c: {k: v for k, v in p.items() if k not in later} if isinstance(p, dict) else p
                  for c, p in fields["priors"].items()}  # fmt: skip
        return {**fields, "priors": priors}

    fields = without_option(
        {k: v for k, v in dataclasses.asdict(spec).items() if k not in ("source", "text")}
    )
    fields["sampler"] = sampler_fields(spec.sampler)
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()
    assert spec_digest(spec) == digest
    assert "group_sd_prior" not in spec_structure(spec)
    priors = dict(spec.priors)
    priors["enforcement"] = dataclasses.replace(priors["enforcement"], group_sd_prior=GAMMA)
    gamma = dataclasses.replace(spec, priors=priors)
    assert spec_digest(gamma) != digest
    assert '"group_sd_prior": "gamma"' in spec_structure(gamma)
    assert "rule_group_sd" not in spec_structure(spec)
    read_priors = {**priors, "enforcement": dataclasses.replace(priors["enforcement"], rule_group_sd=0.2)}
    read = dataclasses.replace(spec, priors=read_priors)
    assert spec_digest(read) not in (digest, spec_digest(gamma))
    assert '"rule_group_sd": 0.2' in spec_structure(read)
