"""The 30-month trajectory model: cells per month, the composition covariance, exact likelihood, derived
cumulative effects, the CLI, and, for the shipped spec as shipped on the calibrated cohort: convergence and
recovery of the simulator's monthly truth (about 100 s).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr
from scipy import stats
from scipy.linalg import block_diag
from scipy.stats import norm

import ww_bayes as wb
from ww_bayes.calibration.coverage import with_reference
from ww_bayes.calibration.sbc import prior_truths, truth_on
from ww_bayes.cli import main
from ww_bayes.compare import frequentist_table, itt, trajectory_itt
from ww_bayes.data.schema import ARMS, month_column
from ww_bayes.inference import fit
from ww_bayes.kinds import kind_of, load_spec, parse_spec
from ww_bayes.kinds.trajectory import (
    COMPOSITION_COMPONENTS,
    CONTROL_ARMS,
    build_trajectory_model,
    composition_covariance,
    composition_factor,
    leading_roots,
    prepare_trajectory_data,
    smoothing_risk,
    trajectory_effects,
)
from ww_bayes.postprocess import deterministics
from ww_bayes.recompute import rebuilt_data
from ww_bayes.tomlspec import SpecError

MODELS = Path(__file__).resolve().parents[1] / "models"
TEXT = (MODELS / "trajectory_30m.toml").read_text()
#: The shipped spec with both curves' class-means sd on the default prior (half-normal, read by the rule as
#: it is): what the tests of the prior options start from.
HALF_NORMAL_TEXT = "".join(
    line
    for line in TEXT.splitlines(keepends=True)
    if not line.startswith(("group_sd_prior", "rule_group_sd"))
)


@pytest.fixture(scope="module")
def spec():
    return load_spec(MODELS / "trajectory_30m.toml")


def test_spec_loads_and_names_bad_keys(spec):
    assert (spec.kind, spec.outcomes, spec.months, spec.groups) == (
        "trajectory", ("employed", "ww"), (1, 30), ("werkverkenner",)
    )  # fmt: skip
    assert spec.month_list == tuple(range(1, 31))
    assert "random-walk steps" in spec.describe_priors()
    for old, new, key in [
        ("months = [1, 30]", "months = [1, 31]", "'months'"),
        ('outcomes = ["employed", "ww"]', 'outcomes = ["jobs"]', "'outcomes'"),
        ('groups = ["werkverkenner"]', 'groups = ["region"]', "'groups'"),
        ("step_sd = 0.05", "step_size = 0.05", "priors.service.step_size"),
        ("step_sd = 0.05", "step_sd = -1", "priors.service.step_sd"),
    ]:
        with pytest.raises(SpecError, match=key.replace("[", r"\[").replace(".", r"\.")):
            parse_spec(TEXT.replace(old, new, 1))


def test_cells_drop_only_the_unobserved_months(spec, small_cohort):
    df = small_cohort.data.copy()
    column = month_column("employed", 5)
    df[column] = df[column].astype("Float64")
    df.loc[df.index[:300], column] = pd.NA
    data = prepare_trajectory_data(spec, df)
    cells = data.cells
    trials = cells.groupby(["outcome", "month"])["trials"].sum()
    assert trials[("employed", 5)] == df[column].notna().sum()
    assert trials[("employed", 6)] == df[month_column("employed", 6)].notna().sum()
    assert trials[("ww", 5)] == df[month_column("ww", 5)].notna().sum()
    expected_missing = sum(
        int(df[month_column(o, m)].isna().sum()) for o in spec.outcomes for m in spec.month_list
    )
    assert data.n_missing == expected_missing
    assert set(cells["arm"]) == set(ARMS) and data.n_cells == len(cells)


def test_composition_covariance_is_that_of_the_arm_means(small_cohort):
    """F @ F.T equals the covariance over months of a control arm's mean residual, computed directly."""
    df = small_cohort.data
    months = (1, 2, 3, 12, 24)
    factor = composition_factor(df, ["employed"], months)
    in_class = df["werkverkenner"].astype(str) == "50-75"
    y = df.loc[in_class, [month_column("employed", m) for m in months]].to_numpy(float, na_value=np.nan)
    rows = ~np.isnan(y).any(axis=1)
    assert rows.all(), "the simulated cohort observes these months for everyone in the class"
    p = y.mean(axis=0)
    residual = (y - p) / (p * (1 - p))
    person_cov = residual.T @ residual / len(residual)
    for arm in ARMS:
        n_arm = int((df.loc[in_class, "arm"].astype(str) == arm).sum())
        f = factor.sel(outcome="employed", arm=arm, werkverkenner="50-75").to_numpy()
        np.testing.assert_allclose(f @ f.T, person_cov / n_arm, rtol=1e-8, atol=1e-12)
    # the model keeps the leading components: the best approximation of that rank (Eckart-Young)
    kept = composition_factor(df, ["employed"], months, components=2)
    assert kept.sizes["factor_column"] == 2
    for arm in CONTROL_ARMS:
        n_arm = int((df.loc[in_class, "arm"].astype(str) == arm).sum())
        values, vectors = np.linalg.eigh(person_cov / n_arm)
        leading = (vectors[:, -2:] * values[-2:]) @ vectors[:, -2:].T
        f = kept.sel(outcome="employed", arm=arm, werkverkenner="50-75").to_numpy()
        np.testing.assert_allclose(f @ f.T, leading, rtol=1e-8, atol=1e-12)


def test_the_smoothing_risk_is_the_error_covariance_of_the_posterior_mean():
    """A curve with a random-walk prior, observed month by month with errors correlated across months
    (covariance Sigma) by a likelihood that takes them as independent (variances D, Sigma's diagonal):
    over draws of the curve from the prior and of the errors, the posterior mean's error has covariance
    C + S (Sigma - D) S' (C the posterior covariance, S = C D^-1), which smoothing_risk gives from draws of
    the posterior. With independent errors (Sigma = D) nothing is added."""
    rng = np.random.default_rng(7)
    months = 12
    walk = np.tril(np.ones((months, months)))
    prior = 0.5**2 + 0.03**2 * walk @ walk.T  # a level plus a random walk (smooth: steps far below D)
    d = np.linspace(0.04, 0.09, months)  # the months' own variances
    corr = 0.8 ** np.abs(np.subtract.outer(np.arange(months), np.arange(months)))
    sigma = np.sqrt(np.outer(d, d)) * corr  # persons' months are correlated
    c = np.linalg.inv(np.linalg.inv(prior) + np.diag(1 / d))  # the posterior under independent months
    posterior = rng.multivariate_normal(np.zeros(months), c, size=200_000)  # draws around any mean
    risk = smoothing_risk(posterior, sigma)
    # the error of the posterior mean C D^-1 y, y = theta + e, over theta from the prior and e ~ N(0, Sigma)
    n = 200_000
    theta = rng.multivariate_normal(np.zeros(months), prior, size=n)
    y = theta + rng.multivariate_normal(np.zeros(months), sigma, size=n)
    error = y @ (c / d[None, :]).T - theta
    empirical = error.T @ error / n
    np.testing.assert_allclose(np.diag(c + risk), np.diag(empirical), rtol=0.02)
    np.testing.assert_allclose(c + risk, empirical, atol=0.02 * np.diag(empirical).max())
    # the posterior alone misses a large part (a check that can fail), and independent months add nothing
    assert np.all(np.diag(c) < 0.85 * np.diag(empirical))
    np.testing.assert_allclose(smoothing_risk(posterior, np.diag(d)), 0.0, atol=1e-15)


def test_a_fit_keeps_the_composition_made_from_its_posterior(spec, small_trajectory_run, small_cohort):
    """The fit's composition factor is made from its posterior (the curves' draws over every arm, class and
    month of an outcome, and the cohort's composition covariance), not from the cohort alone; it is stored,
    and it is what the recomputed model uses. Before sampling, the model's factor is each control arm's
    and class's covariance's leading components, on columns of their own."""
    tree = xr.load_datatree(small_trajectory_run.fit)
    stored = tree["constant_data"].ds["composition_factor"]
    df = small_cohort.data
    data = rebuilt_data(tree, df)
    assert stored.sel(arm="service").values.any()  # the service arm's composition counts now too
    # the recomputed model uses the stored factor, not the cohort's
    xr.testing.assert_allclose(data.constants["composition_factor"], stored)
    before = prepare_trajectory_data(spec, df).constants["composition_factor"]
    assert before.dims == stored.dims and before.shape == stored.shape
    assert not np.allclose(stored.values, before.values)
    per_arm = composition_factor(df, spec.outcomes, spec.month_list, COMPOSITION_COMPONENTS)
    for outcome, arm, level in (("employed", CONTROL_ARMS[0], "0-25"), ("ww", CONTROL_ARMS[1], "none")):
        f = before.sel(outcome=outcome, arm=arm, werkverkenner=level).values
        g = per_arm.sel(outcome=outcome, arm=arm, werkverkenner=level).values
        np.testing.assert_allclose(f @ f.T, g @ g.T, rtol=1e-10, atol=1e-14)
    assert not before.sel(arm="service").values.any()
    # made again from the stored draws (every draw of these short chains is stored, in float32)
    zero = dataclasses.replace(data, constants={**data.constants, "composition_factor": stored * 0.0})
    model = build_trajectory_model(spec, zero)
    free = tree["posterior"].ds[[v.name for v in model.free_RVs]].astype("float64")
    curve = deterministics(free, model, var_names=["rate"])["rate"]
    covariance = composition_covariance(df, spec.outcomes, spec.month_list)
    for outcome in spec.outcomes:
        one = curve.sel(outcome=outcome).transpose("chain", "draw", "arm", "werkverkenner", "month")
        draws = np.log(one.values / (1 - one.values)).reshape(-1, int(np.prod(one.shape[2:])))
        blocks = covariance.sel(outcome=outcome, werkverkenner=one["werkverkenner"].values)
        blocks = blocks.transpose("arm", "werkverkenner", "month", "month_to").values
        sigma = block_diag(*blocks.reshape(-1, *blocks.shape[-2:]))
        risk = smoothing_risk(draws, sigma)
        f = stored.sel(outcome=outcome).transpose("arm", "werkverkenner", "month", "composition_column")
        f = f.values.reshape(risk.shape[0], -1)
        expected = leading_roots(risk, f.shape[1])
        np.testing.assert_allclose(f @ f.T, expected @ expected.T, rtol=1e-3, atol=1e-4 * np.abs(risk).max())


@pytest.mark.parametrize("groups", [("werkverkenner",), ("werkverkenner", "region")])
def test_sampling_likelihood_equals_pm_binomial(spec, small_cohort, groups):
    spec = dataclasses.replace(
        spec, groups=groups, pooling={c: dict.fromkeys(groups, "partial") for c in spec.pooling}
    )
    data = prepare_trajectory_data(spec, small_cohort.data)
    sampling, reference = (build_trajectory_model(spec, data, for_sampling=flag) for flag in (True, False))
    assert [v.name for v in sampling.free_RVs] == [v.name for v in reference.free_RVs]
    logps = [
        m.compile_fn(m.logp(vars=[m["y"]], sum=False)[0], inputs=m.value_vars, on_unused_input="ignore")
        for m in (sampling, reference)
    ]
    rng = np.random.default_rng(2)
    for _ in range(2):
        point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in reference.initial_point().items()}
        np.testing.assert_allclose(logps[0](point), logps[1](point), rtol=1e-9, atol=1e-9)


def class_cells(spread: float, persons: int = 10_000) -> pd.DataFrame:
    """Monthly cells of two outcomes with exact expected counts: the service effect of class k is
    ``spread`` x (k - 2) on the logit scale around +0.1, enforcement none, every month the same."""
    from scipy.special import expit

    classes = ["0-25", "25-50", "50-75", "75-100", "no_score"]
    rows = []
    for outcome in ("employed", "ww"):
        for k, level in enumerate(classes):
            for arm in ARMS:
                eta = -0.5 + (0.1 + spread * (k - 2)) * (arm == "service")
                for month in range(1, 31):
                    rows.append((outcome, arm, level, month, round(persons * expit(eta)), persons))
    return pd.DataFrame(rows, columns=["outcome", "arm", "werkverkenner", "month", "successes", "trials"])


def test_the_class_means_take_the_form_their_data_call_for(spec, small_cohort):
    """ "auto" (the shipped spec): the service curve's class means half-centred (the spec's
    ``weak_data_form`` for them; non-centred by default) where the classes' effects hardly differ against
    their sampling error, centred where they differ by far more, on each outcome; enforcement (no effect
    anywhere) non-centred; a form the spec asks for wins. The model writes the chosen form (a centred class
    mean is a free variable of its own), and the choice is printed with the priors."""
    from ww_bayes.kinds.trajectory import choose_forms

    levels = {"werkverkenner": ["0-25", "25-50", "50-75", "75-100", "no_score"]}
    assert spec.weak_data_form == {"service": "half-centred"}
    alike, apart = (choose_forms(spec, class_cells(spread), levels) for spread in (0.0, 0.1))
    assert alike["service"]["werkverkenner"].form == "half-centred"
    assert apart["service"]["werkverkenner"].form == "centred"
    assert apart["service"]["werkverkenner"].shrinkage < 0.1 < alike["service"]["werkverkenner"].shrinkage
    assert apart["enforcement"]["werkverkenner"].form == "non-centred"
    default = dataclasses.replace(spec, weak_data_form="non-centred")
    assert choose_forms(default, class_cells(0.0), levels)["service"]["werkverkenner"].form == "non-centred"
    asked = spec.with_parametrization({"service": "non-centred"})
    assert choose_forms(asked, class_cells(0.1), levels)["service"]["werkverkenner"].chosen_by == "spec"
    free_variable = {"centred": "service_mean_werkverkenner", "non-centred": "service_mean_z_werkverkenner",
                     "half-centred": "service_mean_z_werkverkenner"}  # fmt: skip
    for form, free in free_variable.items():
        forced = spec.with_parametrization({"service": form})
        data = prepare_trajectory_data(forced, small_cohort.data)
        assert free in {v.name for v in build_trajectory_model(forced, data).free_RVs}
        assert f"means {form} (asked in the spec)" in forced.describe_priors(data.parametrization)
    shipped = '[parametrization]\nservice = "auto"'
    assert shipped in TEXT
    with pytest.raises(SpecError, match=r"parametrization\.service\.region"):
        parse_spec(TEXT.replace(shipped, '[parametrization]\nservice = { region = "centred" }'))
    with pytest.raises(SpecError, match=r"parametrization\.service\.werkverkenner"):
        parse_spec(TEXT.replace(shipped, '[parametrization]\nservice = "sideways"'))


def test_the_class_means_sd_takes_the_prior_family_the_spec_names(small_cohort):
    """``group_sd_prior = "gamma"`` in a curve's priors: that curve's class-means sd is Gamma(2, 2 /
    ``group_sd``) in the model (scipy's log-density), in the printed priors and in the rule that chooses the
    forms; the other curve keeps the half-normal (the default); a family that is not one is refused,
    named."""
    from ww_bayes.kinds.trajectory import choose_forms

    shipped = "[priors.enforcement]\n"
    spec = parse_spec(HALF_NORMAL_TEXT)
    assert shipped in TEXT and spec.priors["enforcement"].group_sd_prior == "half-normal"
    gamma = parse_spec(HALF_NORMAL_TEXT.replace(shipped, shipped + 'group_sd_prior = "gamma"\n', 1))
    scale = gamma.priors["enforcement"].group_sd
    data = prepare_trajectory_data(gamma, small_cohort.data)
    model = build_trajectory_model(gamma, data)
    values = np.array([0.01, 0.3])  # one per outcome
    np.testing.assert_allclose(
        pm.logp(model["enforcement_sd_werkverkenner"], values).eval(),
        stats.gamma(a=2.0, scale=scale / 2.0).logpdf(values),
        atol=1e-6,  # PyTensor keeps the constants 2 and 10 in float32 (exact there): the constant term
    )  # of the log-density rounds at 1e-7
    service_scale = gamma.priors["service"].group_sd
    np.testing.assert_allclose(
        pm.logp(model["service_sd_werkverkenner"], values).eval(),
        stats.halfnorm(scale=service_scale).logpdf(values),
        rtol=1e-6,
    )
    assert f"sd of their means ~ Gamma(2, {2 / scale:g}) (mean {scale:g})" in gamma.describe_priors()
    assert f"sd of their means ~ HalfNormal({service_scale:g})" in gamma.describe_priors()
    levels = {"werkverkenner": ["0-25", "25-50", "50-75", "75-100", "no_score"]}
    cells = class_cells(0.0)
    assert (choose_forms(gamma, cells, levels)["enforcement"]["werkverkenner"].shrinkage
            != choose_forms(spec, cells, levels)["enforcement"]["werkverkenner"].shrinkage)  # fmt: skip
    assert (choose_forms(gamma, cells, levels)["service"]["werkverkenner"].shrinkage
            == choose_forms(spec, cells, levels)["service"]["werkverkenner"].shrinkage)  # fmt: skip
    with pytest.raises(SpecError, match=r"'priors\.enforcement\.group_sd_prior' must be one of "
                                        r"'half-normal', 'gamma'.*got 'cauchy'"):  # fmt: skip
        parse_spec(HALF_NORMAL_TEXT.replace(shipped, shipped + 'group_sd_prior = "cauchy"\n', 1))


def test_the_rule_can_read_a_half_normal_while_the_model_has_the_gamma(small_cohort):
    """``rule_group_sd`` in a curve's priors: the rule that chooses the forms reads the class-means sd as
    HalfNormal(``rule_group_sd``), the same shrinkage as a spec whose prior is that half-normal (a scale
    other than ``group_sd``, so that reading the prior's own scale would fail), while the model keeps the
    gamma the spec names; the printed priors say both; a value that is not a positive number is refused,
    named."""
    from ww_bayes.kinds.trajectory import choose_forms

    shipped = "[priors.enforcement]\n"
    spec = parse_spec(HALF_NORMAL_TEXT)
    scale = spec.priors["enforcement"].group_sd
    assert spec.priors["enforcement"].group_sd_prior == "half-normal"
    assert spec.priors["enforcement"].rule_group_sd is None
    gamma = parse_spec(HALF_NORMAL_TEXT.replace(shipped, shipped + 'group_sd_prior = "gamma"\n', 1))
    both = f'group_sd_prior = "gamma"\nrule_group_sd = {2 * scale}\n'
    read = parse_spec(HALF_NORMAL_TEXT.replace(shipped, shipped + both, 1))
    wide = {**spec.priors, "enforcement": dataclasses.replace(spec.priors["enforcement"], group_sd=2 * scale)}
    wide = dataclasses.replace(spec, priors=wide)  # the half-normal of the scale the rule reads
    levels = {"werkverkenner": ["0-25", "25-50", "50-75", "75-100", "no_score"]}
    cells = class_cells(0.0)
    specs = {"half-normal": spec, "wide": wide, "gamma": gamma, "read": read}
    shrinkage = {name: choose_forms(s, cells, levels)["enforcement"]["werkverkenner"].shrinkage
                 for name, s in specs.items()}  # fmt: skip
    assert shrinkage["read"] == shrinkage["wide"]
    assert len({shrinkage["wide"], shrinkage["half-normal"], shrinkage["gamma"]}) == 3
    model = build_trajectory_model(read, prepare_trajectory_data(read, small_cohort.data))
    values = np.array([0.01, 0.3])
    np.testing.assert_allclose(
        pm.logp(model["enforcement_sd_werkverkenner"], values).eval(),
        stats.gamma(a=2.0, scale=scale / 2.0).logpdf(values),
        atol=1e-6,
    )
    text = read.describe_priors()
    assert f"sd of their means ~ Gamma(2, {2 / scale:g}) (mean {scale:g})" in text
    assert f"the rule reads their sd as HalfNormal({2 * scale:g})" in text
    assert "the rule reads" not in gamma.describe_priors()
    with pytest.raises(SpecError, match=r"priors\.enforcement\.rule_group_sd"):
        parse_spec(HALF_NORMAL_TEXT.replace(shipped, shipped + "rule_group_sd = -0.2\n", 1))


def test_cumulative_effects_sum_the_monthly_effects():
    """Known arm rates: the pp paths and the cumulative months per participant are exact."""
    months = np.arange(1, 5)
    dims = ("chain", "draw", "outcome", "werkverkenner", "month")
    coords = {"outcome": ["employed", "ww"], "werkverkenner": ["a", "b"], "month": months}
    base = xr.DataArray(np.full((1, 1, 2, 2, 4), 0.5), dims=dims, coords=coords)
    step = xr.DataArray([0.01, 0.02, 0.03, 0.0], dims="month", coords={"month": months})
    rate = xr.concat([base + 2 * step, base + step, base], dim=pd.Index(list(ARMS), name="arm"))
    weights = xr.DataArray([1, 3], dims="werkverkenner", coords={"werkverkenner": ["a", "b"]})
    out = trajectory_effects(rate, weights, smallest_effect_pp=1.5)["overall"].ds
    effect = out["effect_pp"].sel(outcome="employed", contrast="service_vs_control_enforcement")
    np.testing.assert_allclose(effect.squeeze(), [1, 2, 3, 0])
    employed = out["extra_employed_months"].sel(contrast="service_vs_control_none").squeeze()
    np.testing.assert_allclose(employed, [0.02, 0.06, 0.12, 0.12])
    ww = out["ww_months_avoided"].sel(contrast="enforcement_vs_none").squeeze()
    np.testing.assert_allclose(ww, [-0.01, -0.03, -0.06, -0.06])  # more WW: negative months avoided
    beyond = out["prob_beyond_smallest"].sel(outcome="ww", contrast="service_vs_control_none")
    assert beyond.values.tolist() == [1.0, 1.0, 1.0, 0.0]


def test_fit_cli_writes_paths_and_compares_month_by_month(small_trajectory_run, tmp_path, capsys):
    run = small_trajectory_run
    assert run.code == 0
    text = run.out
    assert "extra_employed_months" in text and "ETI 90% credible interval" in text
    # the truth beside the data: the share of months covered, per curve and all overall curves together
    assert "share of months with the simulator's truth inside the eti90 band (all overall curves" in text
    assert "service_vs_control_enforcement" in text.split("share of months")[1]  # the table, not cut
    out, data, written = run.fit, run.data, run.fit.parent
    tree = xr.load_datatree(out)
    assert tree.attrs["model_kind"] == "trajectory" and "trajectory" in tree.children
    summary = pd.read_csv(written / "trajectory_summary.csv")
    assert {"eti90_lb", "eti90_ub", "month", "estimand"} <= set(summary.columns)
    for outcome in ("employed", "ww"):  # one figure per outcome, as PNG and SVG
        assert (written / f"trajectory_paths_{outcome}.png").stat().st_size > 10_000
        assert (written / f"trajectory_paths_{outcome}.svg").is_file()
    # the frequentist counterpart, one LPM per outcome and month (on a copy: the session's fit stays as is)
    fitted = Path(shutil.copy(out, tmp_path / "trajectory.nc"))
    capsys.readouterr()
    assert main(["compare", str(fitted), "--data", str(data), "--out", str(tmp_path), "--store"]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(tmp_path / "trajectory_compare.csv")
    assert set(table["level"]) == {"overall", "by_werkverkenner"}  # the levels the fit reports, no regions
    assert len(table) == 2 * 30 * 3 * (1 + 5) and not table["frequentist_estimate"].isna().any()
    # the screen shows the months the paths show, each row named by its outcome and month
    rows = [line for line in printed.splitlines() if line.startswith("effect_pp ")]
    assert len(rows) == 2 * 5 * 3 * (1 + 5)
    assert {line.split()[2] for line in rows} == {"6", "12", "18", "24", "30"}
    assert {line.split()[1] for line in rows} == {"employed", "ww"}
    assert (tmp_path / "trajectory_forest.png").stat().st_size > 10_000
    # stored in the fit, and read back on the same keys
    stored = frequentist_table(xr.load_datatree(fitted)["frequentist"].ds)
    keys = ["outcome", "contrast", "level", "group", "month"]
    merged = stored.merge(table, on=keys, validate="one_to_one")
    assert len(merged) == len(table) == len(stored)
    np.testing.assert_allclose(merged["estimate"], merged["frequentist_estimate"], rtol=1e-12)


def test_the_frequentist_counterpart_is_the_binary_lpm_of_each_month(small_trajectory_run):
    """Each (outcome, month) block of the trajectory's frequentist table is the binary ITT estimator on that
    month's column, exactly, persons whose month is not observed left out; overall only with no factors
    (what the coverage study sets beside the posterior)."""
    df = wb.load_cohort(small_trajectory_run.data)
    tree = xr.load_datatree(small_trajectory_run.fit)
    table = trajectory_itt(df, tree)
    for outcome, month in (("employed", 7), ("ww", 30)):
        block = table[(table["outcome"] == outcome) & (table["month"] == month)].reset_index(drop=True)
        column = month_column(outcome, month)
        alone = itt(df, column, factors=("werkverkenner",), skip_unestimable=True)
        for name in ("contrast", "level", "group", "estimate", "se", "ci90_lb", "ci90_ub", "p_holm", "n"):
            assert block[name].tolist() == alone[name].tolist(), (outcome, month, name)
        assert block["n"].iloc[0] == df[column].notna().sum()
    assert (table.loc[table["month"] == 30, "n"] < table.loc[table["month"] == 7, "n"].max()).all()
    overall = trajectory_itt(df, tree, factors=())
    assert set(overall["level"]) == {"overall"} and len(overall) == 2 * 30 * 3


def test_the_coverage_study_sets_the_monthly_lpm_beside_a_trajectory(small_trajectory_run, small_cohort):
    """Each overall monthly truth gets the frequentist reference of its outcome and month, and its normal
    90% interval's verdict; the class truths none (the reference is overall only)."""
    tree = xr.load_datatree(small_trajectory_run.fit)
    kind = kind_of(tree)
    keys = list(kind.key_columns)
    rows = with_reference(kind.truth(tree, small_cohort.truth)[[*keys, "truth"]], kind, tree,
                          small_cohort.data, keys)  # fmt: skip
    overall = rows["level"] == "overall"
    assert overall.sum() == 2 * 30 * 3
    assert rows.loc[overall, "reference_se"].notna().all() and rows.loc[~overall, "reference_se"].isna().all()
    one = rows[overall & (rows["outcome"] == "ww") & (rows["month"] == 9)].set_index("contrast")
    alone = itt(small_cohort.data, "ww_m9", factors=()).set_index("contrast")
    assert one["reference_estimate"].to_dict() == alone["estimate"].to_dict()
    inside = (rows["reference_estimate"] - rows["truth"]).abs() <= norm.ppf(0.95) * rows["reference_se"]
    assert (rows.loc[overall, "reference_covered_90"] == inside[overall]).all()


@pytest.fixture(scope="module")
def full_trajectory(spec, full_cohort):
    """The shipped trajectory model on the calibrated cohort with half the shipped draws (4 x 1500 after
    the shipped 500 tuning, instead of 4 x 3000) and the ESS thresholds scaled to them (200 instead of
    400); the shipped settings' own convergence across cohorts and seeds is
    benchmarks/bench_convergence.py's (docs/performance.md: 6/6)."""
    spec = spec.with_sampler(draws=1500)
    spec = dataclasses.replace(
        spec, convergence=dataclasses.replace(spec.convergence, min_ess_bulk=200, min_ess_tail=200)
    )
    return fit(spec, full_cohort.data, progress=False, log=None)


@pytest.mark.slow
def test_full_cohort_converges_and_recovers_the_monthly_truth(full_trajectory, full_cohort):
    assert full_trajectory.attrs["converged"] == "yes", full_trajectory.attrs["convergence_report"]
    assert int(full_trajectory["sample_stats"].ds["diverging"].sum()) == 0
    trajectory = full_trajectory["trajectory/overall"].ds
    table = wb.coverage(
        full_trajectory, wb.summarise(full_trajectory), wb.truth_of(full_trajectory, full_cohort.truth)
    )
    overall = table[table["level"] == "overall"]
    # 90% bands; the share of months covered, pooled over the 6 overall curves (2 outcomes x 3 contrasts),
    # and over the 30 class curves: months are strongly correlated, so one curve is close to all or nothing
    assert overall["covered"].mean() >= 0.9, overall[~overall["covered"]]
    assert table[table["level"] == "by_werkverkenner"]["covered"].mean() >= 0.85
    effect = trajectory["effect_pp"]
    # the service job effect fades out after month 24 (published: effects last about 24 months)
    jobs = effect.sel(outcome="employed", contrast="service_vs_control_none")
    plateau, after = jobs.sel(month=slice(10, 14)).mean("month"), jobs.sel(month=slice(26, 30)).mean("month")
    assert float((plateau > after).mean()) >= 0.95
    assert float(after.mean()) < 0.5 * float(plateau.mean())
    # the enforcement WW dip in months 6-11, against the months before and after
    ww = effect.sel(outcome="ww", contrast="enforcement_vs_none")
    dip = ww.sel(month=slice(6, 11)).mean("month")
    for other in (slice(1, 4), slice(13, 18)):
        assert float((dip < ww.sel(month=other).mean("month")).mean()) >= 0.9


@pytest.mark.slow
def test_month_12_slice_agrees_with_the_12_month_models(full_trajectory, full_fits):
    """Two models of the same persons: their month-12 effects differ by less than one posterior sd."""
    month_12 = full_trajectory["trajectory/overall"].ds["effect_pp"].sel(month=12)
    for name, outcome in (("job_finding_12m", "employed"), ("ww_claim_12m", "ww")):
        twelve = full_fits[name]["effects/overall"].ds["effect_pp"]
        slice_12 = month_12.sel(outcome=outcome, drop=True)
        difference = abs(slice_12.mean(("chain", "draw")) - twelve.mean(("chain", "draw")))
        sd = twelve.std(("chain", "draw"))
        assert (difference < sd).all(), (outcome, difference.values, sd.values)


# --- the correlated likelihood ----------------------------------------------------------------------------


def complete_persons(df: pd.DataFrame, spec) -> pd.DataFrame:
    """The persons observed in every month of every outcome (so a pairwise covariance is the plain one)."""
    columns = [month_column(o, m) for o in spec.outcomes for m in spec.month_list]
    return df[df[columns].notna().all(axis=1)].reset_index(drop=True)


def test_cell_means_are_the_cells_rates_with_their_sampling_covariance(spec, small_cohort):
    """Each cell's means are its Binomial cells' rates, and its whitening inverts the covariance of the
    cell's mean vector computed directly: the persons' covariance within cells pooled over a class's cells,
    over the cell's persons."""
    spec = dataclasses.replace(spec, months=(1, 8))
    df = complete_persons(small_cohort.data, spec)
    data = prepare_trajectory_data(spec, df, likelihood="correlated")
    constants = data.constants
    columns = [month_column(o, m) for o in spec.outcomes for m in spec.month_list]
    classes = data.levels["werkverkenner"]
    for a, arm in enumerate(ARMS):
        for k, level in enumerate(classes):
            cell = a * len(classes) + k
            rows = (df["arm"].astype(str) == arm) & (df["werkverkenner"].astype(str) == level)
            y = df.loc[rows, columns].to_numpy(float)
            binomial = data.cells.set_index(["outcome", "arm", "werkverkenner", "month"])
            for j, (outcome, month) in enumerate((o, m) for o in spec.outcomes for m in spec.month_list):
                counts = binomial.loc[(outcome, arm, level, month)]
                assert constants["cell_mean"].values[cell, j] == pytest.approx(
                    counts["successes"] / counts["trials"]
                )
            in_class = df["werkverkenner"].astype(str) == level
            groups = df.loc[in_class].groupby(df.loc[in_class, "arm"].astype(str), observed=True)[columns]
            pooled = sum((len(g) - 1) * g.cov().to_numpy() for _, g in groups) / (in_class.sum() - len(ARMS))
            sigma = pooled / len(y)
            whiten = constants["cell_whiten"].values[cell]
            np.testing.assert_allclose(np.linalg.inv(whiten.T @ whiten), sigma, rtol=1e-7, atol=1e-12)
            expected = -0.5 * np.linalg.slogdet(2 * np.pi * sigma)[1]
            assert constants["cell_log_norm"].values[cell] == pytest.approx(expected, rel=1e-9)


def test_correlated_likelihood_is_the_multivariate_normal_of_each_cells_rates(spec, small_cohort):
    """The sampler's potential is scipy's multivariate normal log-density of every cell's observed rates
    around the modelled ones (the cells matched by label, not by the code's order), and a likelihood with
    the cells' whitenings swapped between arms is caught."""
    from scipy.stats import multivariate_normal

    spec = dataclasses.replace(spec, months=(1, 6))
    df = complete_persons(small_cohort.data, spec)
    data = prepare_trajectory_data(spec, df, likelihood="correlated")
    model = build_trajectory_model(spec, data, for_sampling=True)
    assert "composition_z" not in model.named_vars and [p.name for p in model.potentials] == [
        "correlated_rates"
    ]
    outputs = model.replace_rvs_by_values([model.potentials[0], model["rate"]])
    function = model.compile_fn(outputs, inputs=model.value_vars, on_unused_input="ignore")
    rng = np.random.default_rng(4)
    point = {k: v + rng.normal(0, 0.1, np.shape(v)) for k, v in model.initial_point().items()}
    potential, rate = function(point)
    columns = [month_column(o, m) for o in spec.outcomes for m in spec.month_list]
    whiten = data.constants["cell_whiten"].values
    expected = 0.0
    for a, arm in enumerate(ARMS):
        for k, level in enumerate(data.levels["werkverkenner"]):
            rows = (df["arm"].astype(str) == arm) & (df["werkverkenner"].astype(str) == level)
            observed = df.loc[rows, columns].to_numpy(float).mean(axis=0)
            w = whiten[a * len(data.levels["werkverkenner"]) + k]
            expected += multivariate_normal(rate[:, a, k, :].ravel(), np.linalg.inv(w.T @ w)).logpdf(observed)
    assert float(potential) == pytest.approx(expected, rel=1e-9)
    swapped = data.constants["cell_whiten"].copy(data=whiten[::-1])
    broken = dataclasses.replace(data, constants={**data.constants, "cell_whiten": swapped})
    model = build_trajectory_model(spec, broken, for_sampling=True)
    outputs = model.replace_rvs_by_values([model.potentials[0]])
    (wrong,) = model.compile_fn(outputs, inputs=model.value_vars, on_unused_input="ignore")(point)
    assert abs(float(wrong) - expected) > 1.0


def test_the_whitened_level_has_the_binomial_models_prior(spec, small_cohort):
    """The level written on its whitened coordinates is the same model: its log-density is the level's
    Normal prior plus the change of variables' log det, and prior draws of the level are that Normal's."""
    import pymc as pm

    spec = dataclasses.replace(spec, months=(1, 6))
    data = prepare_trajectory_data(spec, small_cohort.data, likelihood="correlated")
    model = build_trajectory_model(spec, data, for_sampling=True)
    z = model["service_level_z"]
    logp = model.compile_fn(model.logp(vars=[z], sum=True), inputs=model.value_vars, on_unused_input="ignore")
    (level_value,) = model.replace_rvs_by_values([model["service_level"]])
    level = model.compile_fn(level_value, inputs=model.value_vars, on_unused_input="ignore")
    rng = np.random.default_rng(5)
    point = {k: rng.normal(0, 1, np.shape(v)) for k, v in model.initial_point().items()}
    scale = data.constants["level_scale"].values
    b = spec.baseline
    normal = (-0.5 * ((level(point) - b.mu) / b.sigma) ** 2 - np.log(b.sigma) - 0.5 * np.log(2 * np.pi)).sum()
    log_det = np.log(np.diagonal(scale, axis1=1, axis2=2)).sum()
    assert float(logp(point)) == pytest.approx(normal + log_det, rel=1e-9)
    # the sampler starts at the observed rates, not at the prior's centre far out in these coordinates
    start = model.initial_point()
    assert not start["service_level_z"].any()
    n_classes = len(data.levels["werkverkenner"])
    centre = data.constants["level_centre"].values.reshape(n_classes, 2, 6).transpose(1, 0, 2)
    np.testing.assert_allclose(level(start), centre)
    with model:
        draws = pm.sample_prior_predictive(draws=4000, var_names=["service_level"], random_seed=6)
    values = draws.prior["service_level"].values.reshape(4000, -1)
    assert abs(values.mean()) < 0.05 and values.std() == pytest.approx(b.sigma, rel=0.02)
    assert np.abs(np.corrcoef(values[:, :12].T) - np.eye(12)).max() < 0.1  # independent, as Normal draws are


def test_a_correlated_spec_fits_from_the_cli_and_records_its_likelihood(small_cohort, tmp_path, capsys):
    """``likelihood = "correlated"`` in a spec: the CLI fits it end to end (file, summary, paths), the fit
    records the likelihood, prints it with the priors and carries no composition term; a misspelt
    likelihood is named."""
    from ww_bayes.data.io import load_datatree, write_cohort

    text = TEXT.replace('likelihood = "binomial"', 'likelihood = "correlated"')
    text = text.replace("months = [1, 30]", "months = [1, 6]")  # a smaller model: a shorter compile
    assert text.count("correlated") > TEXT.count("correlated") and "[1, 6]" in text
    with pytest.raises(SpecError, match="'likelihood' must be one of 'binomial', 'correlated'"):
        parse_spec(TEXT.replace('likelihood = "binomial"', 'likelihood = "normal"'))
    spec_file = tmp_path / "trajectory_correlated.toml"
    spec_file.write_text(text)
    data = write_cohort(small_cohort.data, tmp_path / "cohort.parquet")
    short = ["--chains", "2", "--draws", "50", "--tune", "50", "--no-progress", "--allow-unconverged"]
    out = tmp_path / "trajectory.nc"
    assert main(["fit", str(spec_file), "--data", str(data), "--out", str(out), *short]) == 0
    printed = capsys.readouterr().out
    assert "multivariate normal observation" in printed and "correlated likelihood is experimental" in printed
    tree = load_datatree(out)
    assert tree.attrs["likelihood"] == "correlated"
    assert '"likelihood": "correlated"' in tree.attrs["spec_structure"]
    assert "composition_z" not in tree["posterior"].ds and "service_level" in tree["posterior"].ds
    assert tree["trajectory/overall"].ds["effect_pp"].notnull().all()


def test_the_sbc_draws_each_replicates_cell_means_from_the_correlated_likelihood(spec, small_cohort):
    """A correlated design's SBC replicate carries cell means drawn around its prior draw's rates with each
    cell's covariance (checked on many draws of one rate), and the replicate's fit reads them."""
    from ww_bayes.calibration.sbc import prior_truths, with_values
    from ww_bayes.kinds.trajectory import simulated_cell_means

    spec = dataclasses.replace(spec, months=(1, 4), likelihood="correlated")
    data = prepare_trajectory_data(spec, small_cohort.data)
    assert data.likelihood == "correlated"
    whiten = data.constants["cell_whiten"].values
    rate = xr.DataArray(np.random.default_rng(7).uniform(0.1, 0.9, (2, 3, 5, 4)),
                        dims=("outcome", "arm", "werkverkenner", "month"))  # fmt: skip
    drawn = simulated_cell_means(data, rate.expand_dims(draw=4000), seed=8)
    expected = rate.transpose("arm", "werkverkenner", "outcome", "month").to_numpy().reshape(whiten.shape[:2])
    for cell in (0, 7, 14):
        sigma = np.linalg.inv(whiten[cell].T @ whiten[cell])
        error = drawn[:, cell] - expected[cell]
        np.testing.assert_allclose(error.mean(axis=0), 0, atol=4 * np.sqrt(np.diag(sigma) / 4000).max())
        np.testing.assert_allclose(np.cov(error.T), sigma, atol=0.1 * np.abs(sigma).max())
    truth, simulated, _ = prior_truths(spec, data, reps=2, seed=9)
    assert simulated[0]["cell_mean"].shape == whiten.shape[:2]
    replicate = with_values(data, simulated[1])
    np.testing.assert_array_equal(replicate.constants["cell_mean"].values, simulated[1]["cell_mean"])
    assert not np.allclose(replicate.constants["cell_mean"].values, data.constants["cell_mean"].values)
    fitted = build_trajectory_model(spec, replicate, for_sampling=True)  # what the replicate's sampler reads
    np.testing.assert_array_equal(fitted["cell_mean"].get_value(), simulated[1]["cell_mean"])


def test_the_sbc_truth_reads_the_composition_its_replicates_fit_made(spec, small_cohort):
    """A replicate's fit makes its composition factor from its posterior; the truth's estimands are made
    again with that factor (truth_on), so the truth and the posterior draws read the same one. With the
    design's own factor the truth is what prior_truths drew, exactly; with another, only the estimands
    move, and by the composition term alone."""
    spec = dataclasses.replace(spec, months=(1, 6))
    design = prepare_trajectory_data(spec, small_cohort.data)
    truth, _, parameters = prior_truths(spec, design, reps=3, seed=4)
    one, prior = truth.isel(replicate=2, drop=True), parameters.isel(replicate=2, drop=True)
    xr.testing.assert_allclose(truth_on(spec, design, prior, one), one, rtol=1e-10)
    factor = design.constants["composition_factor"]
    other = dataclasses.replace(design, constants={**design.constants, "composition_factor": factor * 0.0})
    again = truth_on(spec, other, prior, one)
    kept = kind_of(spec).calibration_quantities(spec)
    for name in one.data_vars:
        if name in kept:
            xr.testing.assert_identical(again[name], one[name])
    assert not np.allclose(again["effect_pp_overall"], one["effect_pp_overall"])
    # without the term the truth is the curves' contrast of the prior draw's rates as drawn
    curves = deterministics(prior.expand_dims(chain=[0], draw=[0]), build_trajectory_model(spec, other),
                            var_names=["rate"])["rate"]  # fmt: skip
    expected = trajectory_effects(curves, design.weights, spec.smallest_effect_pp)["overall"].ds["effect_pp"]
    expected = expected.isel(chain=0, draw=0).transpose(*again["effect_pp_overall"].dims)
    np.testing.assert_allclose(again["effect_pp_overall"].values, expected.values, rtol=1e-10)


def test_a_fit_stored_before_the_likelihood_key_is_the_binomial_model(spec):
    """A trajectory fit made before specs had ``likelihood`` stores a structure without it: the binomial
    spec is its model, a correlated one is not."""
    import json

    from ww_bayes.inference import spec_structure
    from ww_bayes.recompute import same_structure

    stored = json.loads(spec_structure(spec))
    del stored["likelihood"]
    stored = json.dumps(stored, sort_keys=True)
    assert same_structure(stored, spec)
    assert not same_structure(stored, dataclasses.replace(spec, likelihood="correlated"))
    assert not same_structure(stored, dataclasses.replace(spec, groups=("werkverkenner", "region")))
