"""Calibration studies on a reduced design (the Werkverkenner-only 12-month model on 4,000 persons):
SBC passes for the model and fails when the simulated counts are attached to the wrong arm; the same
replicates come back from a Dask LocalCluster as from this process; studies resume; the band test and the
Clopper-Pearson intervals are checked against independent computations."""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.stats import ttest_1samp
from statsmodels.stats.proportion import proportion_confint

from ww_bayes.calibration import (
    Dispatch,
    SBCSettings,
    StudyMismatch,
    coverage_study,
    pit_values,
    run_sbc,
    sbc,
    shares,
    uniformity,
)
from ww_bayes.calibration.coverage import clopper_pearson, cluster_variance, paired_difference
from ww_bayes.calibration.dispatch import WORKER_REPLACED, run_tasks
from ww_bayes.calibration.sbc import ranked_quantities, replicate_path
from ww_bayes.cli import main
from ww_bayes.compare import itt
from ww_bayes.data.io import write_cohort
from ww_bayes.data.schema import ARM_CONTROL_ENFORCEMENT, ARM_SERVICE
from ww_bayes.data.simulate import simulate_cohort
from ww_bayes.derived import derived_tree
from ww_bayes.kinds import kind_of, load_spec

MODELS = Path(__file__).resolve().parents[1] / "models"

#: 30 replicates of 2 chains x 200 draws (tune 300), ranks among 50; family level 1% (a loose band: a
#: correct model fails it with probability at most 1%).
SETTINGS = SBCSettings(reps=30, chains=2, draws=200, tune=300, ranked_draws=50, seed=11, alpha=0.01)


@pytest.fixture(scope="module")
def reduced_spec():
    spec = load_spec(MODELS / "job_finding_12m.toml")
    pooling = {component: {"werkverkenner": "partial"} for component in spec.pooling}
    return dataclasses.replace(spec, groups=("werkverkenner",), pooling=pooling)


@pytest.fixture(scope="module")
def design(reduced_spec, small_cohort):
    return kind_of(reduced_spec).prepare(reduced_spec, small_cohort.data)


def wrong_arm(design, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The broken simulation: each class's service and control_enforcement success rates swapped (counts
    rescaled to the other arm's persons), so the data say the opposite of the true service effect."""
    counts = values["y"]
    cells = design.cells.assign(y=counts)
    out = counts.astype(float).copy()
    for _, group in cells.groupby("werkverkenner", observed=True):
        service = group.index[group["arm"] == ARM_SERVICE][0]
        control = group.index[group["arm"] == ARM_CONTROL_ENFORCEMENT][0]
        rates = counts[[service, control]] / cells.loc[[service, control], "trials"].to_numpy()
        out[service] = rates[1] * cells.loc[service, "trials"]
        out[control] = rates[0] * cells.loc[control, "trials"]
    return {"y": np.rint(out).astype("int64")}


@pytest.fixture(scope="module")
def correct(reduced_spec, design, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sbc") / "correct"
    return folder, sbc(reduced_spec, design, folder, SETTINGS)


def verdict(ranks: xr.Dataset) -> pd.DataFrame:
    table, _ = uniformity(pit_values(ranks, SETTINGS.ranked_draws, SETTINGS.seed), SETTINGS.alpha)
    return table


def test_sbc_passes_for_the_model_and_fails_for_counts_on_the_wrong_arm(
    correct, reduced_spec, design, tmp_path
):
    _, ranks = correct
    table = verdict(ranks)
    assert len(table) == 3 + 3 + 3 * 5 + 3 + 3 * 5  # means, sds, class values, overall and class effects
    assert table["inside_band"].all(), table[~table["inside_band"]]
    assert (
        ranks.sizes["replicate"] == SETTINGS.reps
        and int(ranks["service_mean"].max()) <= SETTINGS.ranked_draws
    )

    fewer = dataclasses.replace(SETTINGS, reps=20)  # fewer replicates: the failure is gross
    broken = verdict(sbc(reduced_spec, design, tmp_path / "broken", fewer, tamper=wrong_arm))
    outside = set(broken.loc[~broken["inside_band"], "quantity"])
    assert {"service_mean", "effect_pp_overall"} <= outside  # the service effect's ranks pile at the ends


def test_a_study_resumes_with_the_replicates_it_has_and_refuses_other_settings(correct, reduced_spec, design):
    folder, ranks = correct
    for index in (3, 17):
        replicate_path(folder, index).unlink()
    fitted = []

    def run(function, tasks, total):
        for task in tasks:
            fitted.append(task.index)
            yield function(task)

    again = sbc(reduced_spec, design, folder, SETTINGS, run=run)
    assert fitted == [3, 17]
    # same seeds: the refitted replicates rank the same (only their wall time differs)
    xr.testing.assert_identical(again.drop_vars("seconds"), ranks.drop_vars("seconds"))
    with pytest.raises(StudyMismatch, match="settings"):
        sbc(reduced_spec, design, folder, dataclasses.replace(SETTINGS, draws=250))


def test_a_dask_local_cluster_runs_the_same_replicates(correct, reduced_spec, small_cohort, tmp_path):
    distributed = pytest.importorskip("distributed")
    data = write_cohort(small_cohort.data, tmp_path / "cohort.parquet")
    settings = dataclasses.replace(SETTINGS, reps=4)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:  # fmt: skip
        dispatch = Dispatch(backend="dask", scheduler=cluster.scheduler_address, progress=False)
        study = run_sbc(reduced_spec, tmp_path / "out", settings, dispatch, data=data)
    on_cluster = xr.load_datatree(tmp_path / "out" / reduced_spec.name / "sbc.nc")["ranks"].to_dataset()
    here = correct[1].isel(replicate=slice(0, 4))
    quantities = [n for n in here.data_vars if n not in ("seconds", "converged")]
    xr.testing.assert_equal(on_cluster[quantities], here[quantities])
    assert "Dask cluster" in study.text and {p.name for p in study.files} >= {"sbc.nc", "sbc_ecdf.png"}


def test_the_band_passes_uniform_ranks_and_catches_a_biased_posterior():
    rng = np.random.default_rng(3)
    ranks = xr.Dataset(
        {"a": ("replicate", rng.integers(0, 101, 200)), "b": ("replicate", rng.integers(0, 101, 200))}
    )
    table, band = uniformity(pit_values(ranks, 100, 1), 0.05)
    assert table["inside_band"].all() and band["band_prob"] == pytest.approx(1 - 0.05 / 2)
    # a posterior shifted by half its width: truths rank high more often than they should
    ranks["b"] = ("replicate", np.clip(rng.integers(0, 101, 200) + 25, 0, 100))
    table, _ = uniformity(pit_values(ranks, 100, 1), 0.05)
    assert table.set_index("quantity")["inside_band"].to_dict() == {"a": True, "b": False}


def test_coverage_shares_agree_with_statsmodels_clopper_pearson():
    rng = np.random.default_rng(5)
    groups = rng.choice(list("xyz"), 300)
    levels = rng.choice(["overall", "by_werkverkenner", "by_region"], 300)
    covered = {"covered_50": rng.random(300) < 0.5, "covered_90": rng.random(300) < 0.9}
    rows = pd.DataFrame({"level": levels, "contrast": "c", "group": groups, **covered})
    table = shares(rows).set_index(["breakdown", "which"])
    every = table.loc[("all", "all")]
    low, high = proportion_confint(int(rows["covered_90"].sum()), 300, alpha=0.05, method="beta")
    assert (every["cp95_lb_90"], every["cp95_ub_90"]) == pytest.approx((low, high))
    assert (every["kg95_lb_90"], every["kg95_ub_90"]) == pytest.approx((low, high))  # no cohorts given
    assert every["share_50"] == rows["covered_50"].mean()
    overall = rows[rows["level"] == "overall"]
    pooled = table.loc[("pooled", "overall")]  # the gate counts population-level truths only
    assert pooled["truths"] == len(overall) and pooled["share_90"] == overall["covered_90"].mean()
    classes = rows[rows["level"] == "by_werkverkenner"]
    x = classes[classes["group"] == "x"]["covered_90"]
    assert table.loc[("group", "by_werkverkenner / x"), "share_90"] == x.mean()
    # one truth per cohort: independent truths, so Korn-Graubard is Clopper-Pearson (on n - 1 trials: the
    # cluster variance's n / (n - 1))
    single = clopper_pearson(rows["covered_90"], pd.Series(np.arange(300)))
    assert single["deff"] == pytest.approx(300 / 299)
    assert (single["kg95_lb"], single["kg95_ub"]) == pytest.approx((low, high), rel=2e-4)


def test_the_coverage_gate_counts_cohorts_not_correlated_truths():
    """A cohort whose data set is unlucky misses all its truths together: 40 cohorts of 20 truths each,
    covered all or nothing, hold the information of 40 trials, not 800. The plain Clopper-Pearson interval
    would fail a share of 0.85 against 0.90; the clustered one is at least as wide as Clopper-Pearson on the
    40 cohorts and passes it."""
    cohort_covered = np.r_[np.ones(34, bool), np.zeros(6, bool)]  # 34 of 40 = 0.85
    rows = pd.DataFrame({"covered": np.repeat(cohort_covered, 20), "cohort": np.repeat(np.arange(40), 20)})
    naive = clopper_pearson(rows["covered"])
    clustered = clopper_pearson(rows["covered"], rows["cohort"])
    low, high = proportion_confint(34, 40, alpha=0.05, method="beta")
    assert naive["cp95_ub"] < 0.90 < clustered["kg95_ub"]
    assert clustered["kg95_lb"] <= low and clustered["kg95_ub"] >= high
    assert clustered["deff"] == pytest.approx(800 / 39)  # (n / (clusters - 1)) when all-or-nothing
    # truths independent within cohorts: design effect near 1, the interval near the plain one
    rng = np.random.default_rng(2)
    independent = rows.assign(covered=rng.random(800) < 0.85)
    loose = clopper_pearson(independent["covered"], independent["cohort"])
    plain = clopper_pearson(independent["covered"])
    assert loose["deff"] == pytest.approx(1, abs=0.35)
    assert loose["kg95_ub"] - loose["kg95_lb"] == pytest.approx(plain["cp95_ub"] - plain["cp95_lb"], rel=0.3)


def test_paired_difference_is_the_t_interval_of_the_cohorts_differences():
    """The fit's share minus the reference's on the same truths: with every truth its own cohort, the one-
    sample t interval of the differences; with cohorts of equal size, the t interval of the cohorts' mean
    differences (scipy's ttest_1samp, computed independently)."""
    rng = np.random.default_rng(8)
    fit_covered = pd.Series(rng.random(400) < 0.93)
    reference = pd.Series(rng.random(400) < 0.90)
    difference = fit_covered.astype(float) - reference.astype(float)
    alone = paired_difference(fit_covered, reference)
    expected = ttest_1samp(difference, 0).confidence_interval(0.95)
    assert alone["diff"] == pytest.approx(difference.mean())
    assert (alone["lb"], alone["ub"]) == pytest.approx((expected.low, expected.high))
    cohorts = pd.Series(np.repeat(np.arange(40), 10))
    clustered = paired_difference(fit_covered, reference, cohorts)
    per_cohort = ttest_1samp(difference.groupby(cohorts).mean(), 0).confidence_interval(0.95)
    assert (clustered["lb"], clustered["ub"]) == pytest.approx((per_cohort.low, per_cohort.high))


def test_coverage_study_checks_the_fit_against_the_simulators_truth(reduced_spec, tmp_path):
    spec = reduced_spec.with_sampler(chains=2, draws=300, tune=400)
    rows = coverage_study(spec, tmp_path, cohorts=2, n=4_000, first_seed=7)
    assert sorted(rows["cohort"].unique()) == [7, 8]
    per_cohort = rows.groupby("cohort").size()
    assert (per_cohort == 3 * (1 + 5)).all()  # 3 contrasts, overall and 5 classes
    assert (rows["eti50_lb"] >= rows["eti90_lb"]).all() and (rows["eti50_ub"] <= rows["eti90_ub"]).all()
    covered = (rows["eti90_lb"] <= rows["truth"]) & (rows["truth"] <= rows["eti90_ub"])
    assert covered.equals(rows["covered_90"])
    assert rows["covered_90"].mean() > 0.6  # the truth sits inside most 90% intervals of a right model
    # beside it the frequentist reference on the same cohort, overall only (the gated truths)
    overall = rows["level"] == "overall"
    assert rows.loc[overall, "reference_se"].notna().all() and rows.loc[~overall, "reference_se"].isna().all()
    cohort = simulate_cohort(4_000, seed=7).data
    expected = itt(cohort, "job_12m", factors=()).set_index("contrast")["estimate"]
    first = rows[overall & (rows["cohort"] == 7)].set_index("contrast")["reference_estimate"]
    assert first.to_dict() == pytest.approx(expected.to_dict())
    inside = (rows["reference_estimate"] - rows["truth"]).abs() <= 1.6449 * rows["reference_se"]
    assert (rows.loc[overall, "reference_covered_90"] == inside[overall]).all()
    reference = shares(rows).set_index("breakdown").loc["reference"]
    assert reference["truths"] == overall.sum()
    assert reference["share_90"] == rows.loc[overall, "reference_covered_90"].mean()
    both = rows.loc[overall, "covered_90"].mean() - rows.loc[overall, "reference_covered_90"].mean()
    assert reference["paired_diff_90"] == pytest.approx(both)


_HELD: list = []


def _grow(task: int) -> int:
    """A task that leaves its worker 350 MB larger (as a study's fits leave the allocator's arenas), after
    loky's one-second wait between two memory checks."""
    time.sleep(1.1)
    _HELD.append(np.ones(350 * 2**17))  # 350 MB of float64, touched
    return os.getpid()


def test_replaced_workers_finish_the_study_without_a_warning_on_screen():
    """loky replaces a worker whose memory grew by more than 300 MB; the tasks still all run, and its
    warning stays off the screen (a study's workers grow that much over a few fits)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pids = list(run_tasks(_grow, range(6), 6, n_jobs=2, progress=False))
    assert len(pids) == 6
    assert len(set(pids)) > 2  # workers were replaced: the check below could see the warning
    assert not [w for w in caught if WORKER_REPLACED in str(w.message)]


def test_sbc_command_rejects_a_scheduler_without_the_dask_backend(tmp_path, capsys):
    code = main(["sbc", "job_finding_12m", "--reps", "2", "--out", str(tmp_path), "--scheduler", "tcp://x:1"])
    assert code == 2 and "--scheduler ADDRESS goes with --backend dask" in capsys.readouterr().err


def test_ranked_quantities_align_months_given_as_text_and_as_numbers():
    """A trajectory's parameters carry month labels as text, its derived effects as numbers: ranked
    together they must share one month axis (a misaligned month became a missing truth, ranked 0)."""
    kind = kind_of(load_spec(MODELS / "trajectory_30m.toml"))
    spec = load_spec(MODELS / "trajectory_30m.toml")
    dims = ("chain", "draw", "outcome", "month")
    posterior = xr.Dataset(
        {n: (dims, np.ones((1, 2, 2, 3))) for n in kind.calibration_quantities(spec) if "curve" in n},
        coords={"month": ["1", "2", "3"], "outcome": ["employed", "ww"]},
    )
    overall = xr.Dataset({"effect_pp": (dims, np.ones((1, 2, 2, 3)))},
                         coords={"month": [1, 2, 3], "outcome": ["employed", "ww"]})  # fmt: skip
    chosen = ranked_quantities(kind, spec, posterior, derived_tree({"overall": overall}))
    assert list(chosen["month"].values) == [1, 2, 3] and not chosen.to_array().isnull().any()
    overall["effect_pp"][0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="missing values: effect_pp_overall"):
        ranked_quantities(kind, spec, posterior, derived_tree({"overall": overall}))


def test_cluster_variance_is_the_variance_of_the_clusters_mean_differences():
    """With every value its own cluster: the variance of the mean, var(ddof=1) / n; with clusters of
    equal size: the variance of the clusters' means over their number (computed independently); one
    cluster: no variance to estimate."""
    rng = np.random.default_rng(11)
    values = (rng.random(400) < 0.85).astype(float)
    alone, n = cluster_variance(values, np.arange(400))
    assert n == 400 and alone == pytest.approx(values.var(ddof=1) / 400, rel=1e-10)
    clusters = np.repeat(np.arange(40), 10)
    means = values.reshape(40, 10).mean(axis=1)
    grouped, n = cluster_variance(values, clusters)
    assert n == 40 and grouped == pytest.approx(means.var(ddof=1) / 40, rel=1e-10)
    single, one = cluster_variance(values, np.zeros(400))
    assert one == 1 and np.isnan(single)
