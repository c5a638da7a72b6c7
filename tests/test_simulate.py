"""The simulator: deterministic, calibrated to the published figures, truth consistent with the data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from ww_bayes.data import published
from ww_bayes.data.schema import ARMS, validate
from ww_bayes.data.simulate import DEFAULT_CALIBRATION, simulate_cohort

SERVICE = "service_vs_control_enforcement"
ENFORCEMENT = "enforcement_vs_none"


def test_same_seed_same_cohort_and_truth(small_cohort):
    again = simulate_cohort(n=4_000, seed=7)
    pd.testing.assert_frame_equal(again.data, small_cohort.data)
    xr.testing.assert_identical(again.truth["effects/overall"].ds, small_cohort.truth["effects/overall"].ds)
    other = simulate_cohort(n=4_000, seed=8)
    assert not other.data["employed_m12"].equals(small_cohort.data["employed_m12"])


def test_simulated_data_follow_the_schema(small_cohort):
    validate(small_cohort.data)


def test_arm_and_werkverkenner_mix(full_cohort):
    df = full_cohort.data
    assert len(df) == published.N_PERSONS
    shares = df["arm"].value_counts(normalize=True)
    assert shares["service"] == pytest.approx(0.8, abs=0.005)
    weak = df["werkverkenner"].isin(["0-25", "25-50"]).sum()
    none = (df["werkverkenner"] == "none").sum()
    assert weak == pytest.approx(published.WERKVERKENNER_AT_OR_BELOW_50, rel=0.02)
    assert none == pytest.approx(published.WERKVERKENNER_NO_SCORE, rel=0.02)
    assert df["region"].nunique() == 35


def overall(cohort, kind, outcome, contrast, month):
    ds = cohort.truth["effects/overall"].ds
    return float(ds[f"{kind}_pp"].sel(outcome=outcome, contrast=contrast, month=month))


def test_generating_truth_hits_published_headlines(full_cohort):
    assert overall(full_cohort, "generating", "employed", SERVICE, 12) == pytest.approx(2.0, abs=1e-6)
    assert overall(full_cohort, "generating", "ww", SERVICE, 12) == pytest.approx(-2.1, abs=1e-6)
    rates = full_cohort.truth["rates"].ds
    weights = rates["n_persons"]
    job_control = (rates["rate_generating"].sel(outcome="employed", arm="control_enforcement", month=12)
                   * weights).sum() / weights.sum()  # fmt: skip
    assert float(job_control) == pytest.approx(0.63, abs=1e-6)


@pytest.mark.parametrize(
    ("outcome", "target"),
    [("employed", published.SERVICE_JOB_PP_M12), ("ww", published.SERVICE_WW_PP_M12)],
)
def test_realised_and_observed_effects_within_tolerance(full_cohort, outcome, target):
    assert overall(full_cohort, "realised", outcome, SERVICE, 12) == pytest.approx(target, abs=0.5)
    df = full_cohort.data
    column = f"{outcome}_m12"
    treated = df.loc[df["arm"] == "service", column].astype(float)
    control = df.loc[df["arm"] == "control_enforcement", column].astype(float)
    difference = 100 * (treated.mean() - control.mean())
    se = 100 * np.sqrt(treated.var() / len(treated) + control.var() / len(control))
    assert abs(difference - target) < 3 * se  # a plain difference in means: sampling noise ~0.4 pp


def test_observed_job_rates_by_arm(full_cohort):
    df = full_cohort.data
    online = df.loc[df["arm"] != "service", "employed_m12"].astype(float).mean()
    service = df.loc[df["arm"] == "service", "employed_m12"].astype(float).mean()
    assert online == pytest.approx(published.JOB_RATE_M12_ONLINE, abs=0.008)
    assert service == pytest.approx(published.JOB_RATE_M12_SERVICE, abs=0.005)


def test_enforcement_pattern_and_fade_out(full_cohort):
    for month in (3, 12, 20):
        assert overall(full_cohort, "generating", "employed", ENFORCEMENT, month) == 0
    for month in range(6, 12):
        assert overall(full_cohort, "generating", "ww", ENFORCEMENT, month) < -0.5
    for month in (4, 12, 18):
        assert overall(full_cohort, "generating", "ww", ENFORCEMENT, month) == pytest.approx(0, abs=0.01)
    for month in range(24, 31):
        for outcome in ("employed", "ww"):
            assert abs(overall(full_cohort, "generating", outcome, SERVICE, month)) < 0.05


def test_heterogeneity_direction(full_cohort):
    by_class = full_cohort.truth["effects/werkverkenner"].ds["generating_pp"].sel(contrast=SERVICE, month=12)
    job, ww = by_class.sel(outcome="employed"), by_class.sel(outcome="ww")
    assert job.sel(werkverkenner="75-100") > job.sel(werkverkenner="25-50") > job.sel(werkverkenner="0-25")
    assert ww.sel(werkverkenner="0-25") < ww.sel(werkverkenner="50-75") < ww.sel(werkverkenner="75-100") < 0


def test_monthly_paths_are_plausible(full_cohort):
    df = full_cohort.data
    employed = df.filter(regex=r"^employed_m\d+$").to_numpy(dtype=float)
    ww = df.filter(regex=r"^ww_m\d+$").to_numpy(dtype=float)
    # work spells persist: month-to-month agreement far above independence
    same = np.nanmean(employed[:, 12] == employed[:, 11])
    p = np.nanmean(employed[:, 12])
    assert same > 0.9 > p**2 + (1 - p) ** 2
    # one WW spell: once off WW, never back (NA months excluded)
    left = (ww[:, :-1] == 0) & (ww[:, 1:] == 1)
    assert not left.any()
    # WW mostly ends at work: at month 12 those on WW mostly have no job
    on_ww = ww[:, 11] == 1
    assert np.nanmean(employed[on_ww, 11]) < 0.5 * np.nanmean(employed[~on_ww, 11])


def test_truth_agrees_with_the_realised_data(full_cohort):
    """Each arm's observed rate equals the truth's potential-outcome rate up to sampling error."""
    df = full_cohort.data
    rates = full_cohort.truth["rates"].ds
    weights = rates["n_persons"]
    realised = (rates["rate_realised"] * weights).sum(("werkverkenner", "region")) / weights.sum()
    for outcome in ("employed", "ww"):
        for arm in ARMS:
            for month in (3, 8, 12, 20):
                values = df.loc[df["arm"] == arm, f"{outcome}_m{month}"].astype(float)
                p = float(realised.sel(outcome=outcome, arm=arm, month=month))
                se = np.sqrt(p * (1 - p) / len(values))
                assert abs(values.mean() - p) < 4 * se, (outcome, arm, month)


def test_realised_close_to_generating_in_large_cells(full_cohort):
    by_class = full_cohort.truth["effects/werkverkenner"].ds
    difference = abs(by_class["realised_pp"] - by_class["generating_pp"]).sel(month=12)
    assert float(difference.max()) < 1.0


def test_scenario_with_negative_class_effect():
    profile = dict(DEFAULT_CALIBRATION.service_job_profile, **{"0-25": -1.0})
    cal = dataclasses.replace(DEFAULT_CALIBRATION, service_job_profile=profile)
    cohort = simulate_cohort(n=20_000, seed=3, calibration=cal)
    by_class = cohort.truth["effects/werkverkenner"].ds["generating_pp"]
    assert float(by_class.sel(outcome="employed", contrast=SERVICE, month=12, werkverkenner="0-25")) < 0
    assert overall(cohort, "generating", "employed", SERVICE, 12) == pytest.approx(2.0, abs=1e-6)
