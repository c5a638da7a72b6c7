"""The model checks hold what they promise, each against an independent computation or a case that must fail:
leave-one-person-out from cells equals PSIS-LOO over the expanded person rows; the trajectory's person
patterns add up to its cells exactly, and the subsample estimator agrees with the exact one; the LOO-PIT of
a misspecified model leaves its band where the right model's does not; power-scaling flags a prior made
dominant and nothing else; the K-fold study resumes where it stopped and refuses another study's folder."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import arviz_stats as azs
import numpy as np
import pymc as pm
import pytest
import xarray as xr

from ww_bayes.calibration import StudyMismatch, kfold_study
from ww_bayes.checks import cell_loo, loo_pit, model_checks, person_loo, pit_tests, prior_sensitivity
from ww_bayes.checks.kfold import heldout_elpd, kfold_summary
from ww_bayes.data.io import load_datatree, write_cohort
from ww_bayes.inference import LOOP_COMPILE, fit
from ww_bayes.kinds import kind_of, load_spec
from ww_bayes.kinds.effects import ComponentPrior
from ww_bayes.kinds.protocol import Plot
from ww_bayes.recompute import recomputed
from ww_bayes.viz import draw

MODELS = Path(__file__).resolve().parents[1] / "models"
#: short chains: these tests check the checks, not convergence
pytestmark = pytest.mark.filterwarnings("ignore::ww_bayes.results.ConvergenceWarning")


def class_spec(**pooling):
    """The job-finding spec on arm x class cells (15 of them), short chains; ``pooling`` per component."""
    spec = load_spec(MODELS / "job_finding_12m.toml")
    spec = dataclasses.replace(spec, groups=("werkverkenner",))
    spec = spec.with_pooling({c: {"werkverkenner": p} for c, p in {**dict.fromkeys(spec.pooling, "partial"),
                                                                    **pooling}.items()})  # fmt: skip
    return spec.with_sampler(chains=2, draws=300, tune=300, seed=5)


@pytest.fixture(scope="module")
def class_fit(small_cohort):
    spec = class_spec()
    return spec, fit(spec, small_cohort.data, progress=False, log=None)


@pytest.fixture(scope="module")
def class_checks(class_fit, small_cohort):
    """Every check of the class model, as the report runs them."""
    spec, tree = class_fit
    return model_checks(tree, small_cohort.data, spec=spec)


def loo_pit_of(tree, cohort, spec):
    """The LOO-PIT values and their tests of a fit, and nothing else of the checks."""
    parts = recomputed(tree, cohort, spec)
    observation = kind_of(tree).observation
    _, log_weights = cell_loo(tree["posterior"].ds, parts.log_likelihood["y"])
    below, at = observation.cdf_at_observed(
        parts.parameters, tree["observed_data"].ds, tree["constant_data"].ds
    )
    pit = loo_pit(below, at, log_weights, seed=1)
    pit = pit.assign_coords(werkverkenner=tree["observed_data"].ds["werkverkenner"])
    return pit, pit_tests(pit)


def test_person_loo_from_cells_equals_psis_loo_over_the_person_rows(class_fit, class_checks, small_cohort):
    """The two Bernoulli terms of each cell, weighted by k and n - k, give the elpd and its standard error
    of PSIS-LOO over the 4,000 expanded person rows (PyMC's Bernoulli log-likelihood, row by row)."""
    spec, tree = class_fit
    from_cells, kind = class_checks.person_loo, kind_of(tree)
    rows = kind.prepare(spec, small_cohort.data, likelihood="bernoulli")
    model = kind.build(spec, rows)
    posterior = tree["posterior"].ds  # the same draws, and so the same relative efficiency for PSIS
    free = posterior[[v.name for v in model.free_RVs]]
    log_likelihood = pm.compute_log_likelihood(
        xr.DataTree.from_dict({"posterior": free}), model=model, extend_inferencedata=False,
        progressbar=False, compile_kwargs=LOOP_COMPILE,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expanded = azs.loo(xr.DataTree.from_dict({"posterior": posterior, "log_likelihood": log_likelihood}))
    assert rows.n_cells == from_cells.units == len(small_cohort.data.dropna(subset=[spec.outcome]))
    assert from_cells.patterns == 30  # two values in each of the 15 cells
    assert from_cells.elpd == pytest.approx(float(expanded.elpd), rel=1e-9)
    assert from_cells.se == pytest.approx(float(expanded.se), rel=1e-6)
    assert from_cells.p_loo == pytest.approx(float(expanded.p), rel=1e-6)


def test_trajectory_patterns_add_up_to_the_cells_and_the_subsample_agrees(small_trajectory_run):
    """Every person counted in every cell of their observed months, at their value: the patterns times
    their persons give back each cell's counts exactly; and the subsample estimator of person-level LOO
    lands within a few of its standard errors of PSIS over every pattern."""
    tree = load_datatree(small_trajectory_run.fit)
    parts = recomputed(tree, small_trajectory_run.data)
    kind = kind_of(tree)
    patterns = kind.person_patterns(parts.spec, parts.data, parts.cohort)
    counts = kind.observation.value_counts(tree["observed_data"].ds, tree["constant_data"].ds)
    assert patterns.n_persons == len(parts.cohort)
    np.testing.assert_array_equal(patterns.persons @ patterns.terms, counts.values.ravel())
    density = kind.observation.value_log_density(parts.parameters)
    exact = person_loo(tree["posterior"].ds, density, patterns)
    sampled = person_loo(tree["posterior"].ds, density, patterns, exact_patterns=0, subsample=400, seed=3)
    assert exact.subsample == 0 and sampled.subsample == 400
    assert abs(sampled.elpd - exact.elpd) < 4 * sampled.subsampling_se
    assert sampled.se == pytest.approx(exact.se, rel=0.5)


def test_loo_pit_leaves_its_band_for_a_misspecified_model_only(class_fit, class_checks, small_cohort):
    """One baseline for every Werkverkenner class (full pooling) cannot predict cells whose job rates run
    from 25% to 90%: its LOO-PIT leaves its band; the partially pooled model's stays inside. The report's
    figure of it draws exactly the values tested."""
    assert class_checks.pit_verdicts()["inside"].all(), class_checks.pit_tests
    wrong_spec = class_spec(baseline="full")
    wrong_tree = fit(wrong_spec, small_cohort.data, progress=False, log=None)
    pit, tests = loo_pit_of(wrong_tree, small_cohort.data, wrong_spec)
    assert tests.set_index("breakdown").loc["all", "outside"], tests
    figure = draw(Plot("loo_pit", pit, "", {"tests": tests, "breakdown": "werkverkenner"}))
    first = figure.axes[0].lines[1].get_ydata()
    values = np.sort(pit.values)
    grid = np.linspace(0, 1, 401)
    np.testing.assert_allclose(first, np.searchsorted(values, grid, side="right") / values.size - grid)


def test_power_scaling_flags_a_dominant_prior(class_fit, class_checks, small_cohort):
    """A service-effect prior far from the data and tight (mean ~ Normal(1.5, 0.02) on the logit scale) is
    flagged on the parameter it is put on (the conflict spreads to the baseline, which the control arms'
    rates tie to the service effect); with the shipped priors no top-level mean is flagged."""
    spec, _ = class_fit
    shipped = class_checks.sensitivity.set_index("quantity")
    tight = ComponentPrior(mean_mu=1.5, mean_sigma=0.02, group_sd=0.2, unpooled_sd=0.5)
    dominant = dataclasses.replace(spec, priors={**spec.priors, "service": tight})
    tree = fit(dominant, small_cohort.data, progress=False, log=None)
    checked = prior_sensitivity(tree, recomputed(tree, small_cohort.data, dominant)).set_index("quantity")
    assert checked.loc["service_mean", "prior"] > 0.05 and checked.loc["service_mean", "diagnosis"] != ""
    assert checked.loc["service_mean", "prior"] > 5 * shipped.loc["service_mean", "prior"]
    means = [f"{c}_mean" for c in spec.pooling]
    assert (shipped.loc[means, "diagnosis"] == "").all(), shipped


def test_kfold_study_resumes_and_refuses_another_study(small_cohort, tmp_path):
    """Interrupted after its first fit, the study finishes the others only; the summary ranks the variants
    on the held-out persons; the same folder refuses a different fold split."""
    spec = load_spec(MODELS / "job_finding_12m.toml").with_sampler(chains=1, draws=30, tune=30, seed=2)
    data = write_cohort(small_cohort.data, tmp_path / "cohort.parquet")
    folder = tmp_path / "kfold"
    calls = []

    def interrupted(function, tasks, total):
        for task in tasks:
            yield function(task)
            raise KeyboardInterrupt

    def counted(function, tasks, total):
        for task in tasks:
            calls.append(task.index)
            yield function(task)

    options = {"folds": 2, "variants": ("partial", "full")}
    with pytest.raises(KeyboardInterrupt):
        kfold_study(spec, data, folder, run=interrupted, **options)
    assert len(list((folder / "folds").glob("fold_*.csv"))) == 1
    rows = kfold_study(spec, data, folder, run=counted, **options)
    assert sorted(calls) == [1, 2, 3]  # fold 0 of the first variant was kept
    rows = rows.astype({"persons": int, "elpd": float})
    assert rows.groupby("variant")["persons"].sum().tolist() == [len(small_cohort.data)] * 2
    summary = kfold_summary(rows, "region")
    assert summary["elpd_difference"].iloc[0] == 0 and (summary["elpd_difference"] <= 0).all()
    with pytest.raises(StudyMismatch, match="folds"):
        kfold_study(spec, data, folder, run=counted, folds=3, variants=("partial", "full"))


def test_a_new_region_gets_the_fitted_rates_of_its_class_and_arm_under_full_pooling(small_cohort):
    """With region deviations fully pooled, a region the fit never saw is predicted exactly as the model's
    own rate of its arm and class (every region's): the prediction composes the components as the model
    does."""
    spec = load_spec(MODELS / "job_finding_12m.toml").with_sampler(chains=1, draws=60, tune=60, seed=4)
    spec = spec.with_pooling({c: {"region": "full"} for c in spec.pooling}).with_output(keep=("rate",))
    regions = small_cohort.data["region"].astype(str)
    left_out = sorted(set(regions))[:3]
    tree = fit(spec, small_cohort.data[~regions.isin(left_out)], progress=False, log=None)
    cells = kind_of(tree).prepare(spec, small_cohort.data[regions.isin(left_out)]).cells
    predicted = kind_of(tree).new_level_parameters(spec, tree["posterior"].ds, cells, "region", seed=1)
    rate = tree["posterior"].ds["rate"].isel(region=0)
    for index, cell in cells.iterrows():
        expected = rate.sel(arm=cell["arm"], werkverkenner=cell["werkverkenner"]).values
        np.testing.assert_allclose(predicted["cell_rate"].isel(cell=index).values, expected, rtol=1e-5)
    rows = heldout_elpd(tree, small_cohort.data[regions.isin(left_out)].reset_index(drop=True), "region", 1,
                        spec)  # fmt: skip
    assert rows["persons"].sum() == regions.isin(left_out).sum() and (rows["elpd"] < 0).all()
