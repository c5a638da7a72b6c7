"""The simulator: deterministic, calibrated to the published figures, truth consistent with the data."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from ww_bayes.data import published
from ww_bayes.data.io import load_datatree, write_datatree
from ww_bayes.data.schema import (
    ARM_CONTROL_ENFORCEMENT,
    ARMS,
    BENEFIT_PREFIX,
    HOURS_Y1,
    MONTHS,
    SICKNESS_BENEFITS,
    WIA_35MIN,
    consistency_warnings,
    month_columns,
    validate,
)
from ww_bayes.data.simulate import DEFAULT_CALIBRATION, SCENARIOS, simulate_cohort

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


def test_default_scenario_is_the_default_cohort_bit_for_bit():
    """The default scenario's cohort and truth are the default calibration's, bit for bit (scenario
    options must not move them): the digests made before the scenarios existed."""
    assert SCENARIOS["default"] == DEFAULT_CALIBRATION
    cohort = simulate_cohort(n=4_000, seed=7, calibration=SCENARIOS["default"])
    assert (data_digest(cohort.data), realised_truth_digest(cohort.truth)) == DIGESTS[(4_000, 7)]


def service_path(cohort, outcome, level="overall", **where):
    ds = cohort.truth[f"effects/{level}"].ds["generating_pp"]
    return ds.sel(outcome=outcome, contrast=SERVICE, **where).to_series()


@pytest.fixture(scope="module")
def scenario_cohorts():
    return {name: simulate_cohort(n=20_000, seed=3, calibration=SCENARIOS[name]) for name in SCENARIOS}


def test_every_scenario_keeps_the_published_headlines(scenario_cohorts):
    """Job effects exactly; WW within 0.05 pp (a WW spell cannot restart, and where region deviations are
    large that running minimum holds some regions below the calibrated monthly probability)."""
    for name, cohort in scenario_cohorts.items():
        job = overall(cohort, "generating", "employed", SERVICE, 12)
        ww = overall(cohort, "generating", "ww", SERVICE, 12)
        assert job == pytest.approx(published.SERVICE_JOB_PP_M12, abs=1e-6), name
        assert ww == pytest.approx(published.SERVICE_WW_PP_M12, abs=0.05), name


def test_fade_scenario_declines_from_month_4_to_zero_at_24(scenario_cohorts):
    fade, default = (service_path(scenario_cohorts[name], "employed") for name in ("fade_by_24", "default"))
    assert (fade.loc[4:24].diff().dropna() < 0).all()  # a steady decline, no plateau
    assert fade[6] - fade[12] > 1.0 > 0.5 > default[6] - default[12]  # the default holds its size to month 14
    assert (fade.loc[24:].abs() < 0.01).all() and fade[27] == pytest.approx(0, abs=1e-9)
    assert fade[3] > 1.5 * default[3]


def test_late_onset_scenario_has_no_effect_before_month_10(scenario_cohorts):
    late = scenario_cohorts["late_onset"]
    for outcome in ("employed", "ww"):
        path = service_path(late, outcome)
        assert (path.loc[:9] == 0).all() and abs(path[12]) > 1.5 and abs(path[24]) > 0.5
        assert abs(service_path(scenario_cohorts["default"], outcome)[6]) > 1.5


def test_negative_class_scenario(scenario_cohorts):
    by_class = service_path(scenario_cohorts["negative_class"], "employed", "werkverkenner", month=12)
    ww_by_class = service_path(scenario_cohorts["negative_class"], "ww", "werkverkenner", month=12)
    assert by_class["75-100"] < -1.0 and ww_by_class["75-100"] > 1.0  # fewer jobs, more WW
    assert (by_class.drop("75-100") > 1.0).all() and (ww_by_class.drop("75-100") < -1.0).all()


def test_regional_scenario_spreads_the_effects_over_regions(scenario_cohorts):
    def spread(name):
        return service_path(scenario_cohorts[name], "employed", "region", month=12).std()

    assert spread("regional") > 4 * spread("default")
    enforcement = scenario_cohorts["regional"].truth["effects/region"].ds["generating_pp"]
    assert float(enforcement.sel(outcome="ww", contrast=ENFORCEMENT, month=8).std()) > 0.3


def test_unequal_arms_scenario(scenario_cohorts):
    shares = scenario_cohorts["unequal_arms"].data["arm"].value_counts(normalize=True)
    assert shares["service"] == pytest.approx(0.6, abs=0.01)
    assert shares["control_enforcement"] == pytest.approx(0.25, abs=0.01)
    assert shares["control_none"] == pytest.approx(0.15, abs=0.01)


def test_combined_scenario_fades_earlier_in_the_strong_classes(scenario_cohorts):
    cohort = scenario_cohorts["combined"]
    jobs = service_path(cohort, "employed", "werkverkenner", month=20)
    assert jobs["75-100"] == 0 and jobs["50-75"] == 0 and jobs["0-25"] > 0.2
    assert service_path(cohort, "employed", "werkverkenner", month=12)["75-100"] < 0
    assert cohort.data["arm"].value_counts(normalize=True)["service"] == pytest.approx(0.6, abs=0.01)
    with pytest.raises(ValueError, match="zero at month 12"):
        dataclasses.replace(
            DEFAULT_CALIBRATION, service_fade_end_by_class={"none": 12}
        ).service_time_profiles()


# --- the same columns and truth as before the benefit status and hours were added ----------------------

EXISTING_COLUMNS = [
    "person_id", "arm", "werkverkenner", "region", "inflow_month", "age", "sex", "education",
    *month_columns("employed"), *month_columns("ww"),
]  # fmt: skip
#: digests of the default cohorts' employment and WW data and realised truth, made before the benefit status
#: and hours existed: their random numbers come from other streams, so these stay the same for a seed
DIGESTS = {
    (179_840, 1): (
        "06915cd490bbb69de1910c61e1dd17df6ab5f2059294481f296243ad2af9e0eb",
        "488971fe41257a2e18590be189dc6f299756f9d1a9a1708b5c94c4eb916a208a",
    ),
    (4_000, 7): (
        "6660af626d82c5055f985330765d5f90e7b67d54ba34eddcfd43ec9c64b795cd",
        "7b4258e35d607e81c14c55e8241d935e6d1403e6c3611e5964cf45d28019604f",
    ),
}
#: generating effects overall (outcome x month 6, 12, 24) of service_vs_control_enforcement, same origin
GENERATING_SERVICE_PP = {
    (179_840, 1): [[2.328218218306, 2.0, 0.0], [-2.154466284333, -2.1, 0.0]],
    (4_000, 7): [[2.330009483812, 2.0, 0.0], [-2.15237241807, -2.1, 0.0]],
}


def data_digest(df: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    for column in EXISTING_COLUMNS:
        values = df[column]
        if column == "inflow_month":
            digest.update("|".join(values).encode())
            continue
        if isinstance(values.dtype, pd.CategoricalDtype):
            digest.update("|".join(map(str, values.cat.categories)).encode())
            values = values.cat.codes
        digest.update(values.to_numpy(dtype=float, na_value=np.nan).tobytes())
    return digest.hexdigest()


def realised_truth_digest(truth: xr.DataTree) -> str:
    rates = truth["rates"].ds
    counts = np.rint((rates["rate_realised"].fillna(0) * rates["n_persons"]).to_numpy()).astype(np.int64)
    return hashlib.sha256(counts.tobytes()).hexdigest()


@pytest.mark.parametrize("cohort", ["full_cohort", "small_cohort"])
def test_employment_and_ww_unchanged_by_the_new_outcomes(cohort, request):
    simulated = request.getfixturevalue(cohort)
    key = (len(simulated.data), simulated.truth.attrs["seed"])
    assert (data_digest(simulated.data), realised_truth_digest(simulated.truth)) == DIGESTS[key]
    generating = simulated.truth["effects/overall"].ds["generating_pp"]
    np.testing.assert_allclose(
        generating.sel(contrast=SERVICE, month=[6, 12, 24]), GENERATING_SERVICE_PP[key], atol=1e-9
    )
    assert list(simulated.truth.children) == ["effects", "rates", "parameters", "states", "hours"]


# --- benefit status -------------------------------------------------------------------------------------


def benefit_matrix(df: pd.DataFrame) -> np.ndarray:
    return df[month_columns(BENEFIT_PREFIX)].astype(object).to_numpy()


def test_benefit_status_agrees_with_work_and_ww(full_cohort):
    df = full_cohort.data
    benefit = benefit_matrix(df)
    ww = df[month_columns("ww")].to_numpy(dtype=float, na_value=np.nan)
    employed = df[month_columns("employed")].to_numpy(dtype=float, na_value=np.nan)
    observed = ~np.isnan(ww)
    assert (pd.isna(benefit) == ~observed).all()  # the same months observed
    assert ((benefit == "ww") == (ww == 1))[observed].all()
    assert (employed[benefit == "zw"] == 0).all()  # in ZW: not working (work ends it)
    assert (employed[benefit == "bijstand"] == 0).all()
    assert (employed[benefit == "wia"] == 1).any()  # working beside WIA happens
    months = np.broadcast_to(np.asarray(MONTHS), benefit.shape)
    assert months[benefit == "zw"].min() == 4  # ZW only after 13 weeks of sickness on WW
    assert months[benefit == "wia"].min() >= 25  # WIA only after 104 weeks of sickness
    # people leave ZW again: to work, and recovered without work
    left_zw = (benefit[:, :-1] == "zw") & (benefit[:, 1:] != "zw") & observed[:, 1:]
    assert (left_zw & (employed[:, 1:] == 1)).sum() > 100
    assert (left_zw & (employed[:, 1:] == 0) & (benefit[:, 1:] != "wia")).sum() > 100


def share_at(cohort, month: int, status: str, arm: str = ARM_CONTROL_ENFORCEMENT) -> xr.DataArray:
    """The truth's share in ``status`` (with or without work) per class and overall, for one arm."""
    rates = cohort.truth["states/rates"].ds
    share = rates["share_realised"].sel(arm=arm, month=month, benefit=status).sum("work").fillna(0)
    weights = rates["n_persons"]
    by_class = (share * weights).sum("region") / weights.sum("region")
    return by_class, float((share * weights).sum() / weights.sum())


def test_zw_share_at_12_months_hits_its_calibration(full_cohort):
    by_class, overall = share_at(full_cohort, 12, "zw")
    assert overall == pytest.approx(0.05, abs=0.003)  # Kennisverslag: about 5%
    assert float(by_class.sel(werkverkenner="0-25")) == pytest.approx(0.10, abs=0.01)
    assert float(by_class.sel(werkverkenner="75-100")) < 0.025
    df = full_cohort.data  # the data as observed, all arms
    assert (df["benefit_m12"] == "zw").mean() == pytest.approx(0.05, abs=0.006)
    weak = df.loc[df["werkverkenner"] == "0-25", "benefit_m12"]
    assert (weak == "zw").mean() == pytest.approx(0.10, abs=0.025)
    incidence = full_cohort.truth["states/rates"].ds["first_exit_incidence_realised"]
    weights = full_cohort.truth["states/rates"].ds["n_persons"]
    by_12 = incidence.sel(arm=ARM_CONTROL_ENFORCEMENT, month=12, exit_to=["zw", "wia"]).sum(
        ("exit_to", "wia_35min")
    )
    assert float((by_12.fillna(0) * weights).sum() / weights.sum()) == pytest.approx(0.06, abs=0.015)


def test_wia_appears_only_from_month_25_with_the_35min_group(full_cohort):
    for month in (6, 12, 18, 24):
        assert share_at(full_cohort, month, "wia")[1] == 0
    assert share_at(full_cohort, 30, "wia")[1] > 0.002
    df = full_cohort.data
    flagged = df[WIA_35MIN] == 1
    assert 100 < flagged.sum() < 0.01 * len(df)
    benefit = benefit_matrix(df[flagged.to_numpy(dtype=bool, na_value=False)])
    assert (benefit == "zw").any(axis=1).all()  # assessed after sickness in ZW
    assert not (benefit == "wia").any()  # below 35%: no WIA benefit
    unknown = df[WIA_35MIN].isna()
    assert df.loc[unknown, "ww_m30"].isna().all()  # NA only where month 30 is not observed


def test_service_raises_zw_in_the_weak_classes_only(full_cohort):
    effects = full_cohort.truth["states/effects/werkverkenner"].ds
    zw = effects["share_pp"].sel(month=12, benefit="zw").sum("work")
    ww_effect = effects["ww_source_pp"].sel(month=12, contrast=SERVICE)
    for weak in ("0-25", "25-50"):
        service = float(zw.sel(contrast=SERVICE, werkverkenner=weak))
        assert service > 0.7
        assert service / -float(ww_effect.sel(werkverkenner=weak)) > 0.2  # a visible part of the WW reduction
    for strong in ("50-75", "75-100", "none"):
        assert abs(float(zw.sel(contrast=SERVICE, werkverkenner=strong))) < 0.3
    assert float(abs(zw.sel(contrast=ENFORCEMENT)).max()) < 0.3


def test_decomposition_in_the_truth_is_an_identity(full_cohort):
    for level in ("werkverkenner", "region", "overall"):
        effects = full_cohort.truth[f"states/effects/{level}"].ds
        others = effects["share_pp"].drop_sel(benefit="ww").sum(("benefit", "work"))
        np.testing.assert_allclose(effects["ww_source_pp"] + others, 0, atol=1e-9)
        np.testing.assert_allclose(effects["ww_source_pp"], effects["share_pp"].sel(benefit="ww").sum("work"))
    # the WW part of the states equals the ww outcome's realised truth
    ww = full_cohort.truth["effects/overall"].ds["realised_pp"].sel(outcome="ww")
    np.testing.assert_allclose(full_cohort.truth["states/effects/overall"].ds["ww_source_pp"], ww, atol=1e-9)


@pytest.mark.parametrize("arm", ARMS)
def test_first_exit_incidence_agrees_with_the_data(full_cohort, arm):
    df = full_cohort.data[full_cohort.data["arm"] == arm]
    benefit = benefit_matrix(df)
    first_off = np.where((benefit != "ww").any(axis=1), (benefit != "ww").argmax(axis=1), -1)
    destination = np.where(first_off >= 0, benefit[np.arange(len(df)), first_off], None)
    rates = full_cohort.truth["states/rates"].ds
    weights = rates["n_persons"]
    incidence = rates["first_exit_incidence_realised"].sel(arm=arm).sum("wia_35min").fillna(0)
    for month in (6, 12, 24):
        to_sick = (first_off >= 0) & (first_off < month) & np.isin(destination, SICKNESS_BENEFITS)
        p = float(
            (incidence.sel(month=month, exit_to=list(SICKNESS_BENEFITS)).sum("exit_to") * weights).sum()
        )
        p /= float(weights.sum())
        se = np.sqrt(p * (1 - p) / len(df))
        assert abs(to_sick.mean() - p) < 4 * se, month


# --- hours ----------------------------------------------------------------------------------------------


def test_hours_are_zero_exactly_without_work_and_realistic(full_cohort):
    df = full_cohort.data
    hours = df[HOURS_Y1]
    assert consistency_warnings(df) == []
    assert (hours == hours.round()).all() and hours.max() <= 2_100
    zero = (hours == 0).groupby(df["werkverkenner"], observed=True).mean()
    assert zero["0-25"] > zero["25-50"] > zero["50-75"] > zero["75-100"] > 0.05
    assert 0.15 < (hours == 0).mean() < 0.35
    positive = hours[hours > 0]
    assert 0.4 < (positive > 1_500).mean() + (positive < 500).mean()  # part-time and full-time, not one hump


def test_hours_given_any_are_not_log_normal(full_cohort):
    """The hurdle model's log-normal is tested against a process it does not assume."""
    hours = full_cohort.data[HOURS_Y1]
    log_hours = np.log(hours[hours > 0])
    assert stats.normaltest(log_hours).pvalue < 1e-10
    sample = np.random.default_rng(0).choice(log_hours, 2_000, replace=False)
    assert stats.shapiro(sample).pvalue < 1e-6


def test_hours_effects_service_slightly_more_enforcement_none(full_cohort):
    overall = full_cohort.truth["hours/effects/overall"].ds
    rates = full_cohort.truth["hours/rates"].ds
    weights = rates["n_persons"]
    control = rates.sel(arm=ARM_CONTROL_ENFORCEMENT)
    mean_control = float(
        (control["any_hours_realised"] * control["hours_given_any_realised"] * weights).sum()
    )
    mean_control /= float(weights.sum())
    service = float(overall["mean_hours"].sel(contrast=SERVICE))
    assert 0.01 < service / mean_control < 0.1  # slightly more hours
    assert float(overall["mean_hours"].sel(contrast=ENFORCEMENT)) == 0  # the same work, the same hours
    parts = overall["mean_hours_from_any"] + overall["mean_hours_from_given_any"]
    np.testing.assert_allclose(parts, overall["mean_hours"], rtol=1e-12)
    by_class = full_cohort.truth["hours/effects/werkverkenner"].ds["mean_hours"].sel(contrast=SERVICE)
    assert (by_class > 0).all()


def test_truth_file_keeps_the_new_nodes(small_cohort, tmp_path):
    path = write_datatree(small_cohort.truth, tmp_path / "cohort.truth.nc")
    loaded = load_datatree(path)
    for node in (
        "states",
        "states/rates",
        "states/effects/overall",
        "hours/rates",
        "hours/effects/region",
    ):
        xr.testing.assert_identical(loaded[node].to_dataset(), small_cohort.truth[node].to_dataset())
    share = loaded["states/effects/werkverkenner"].to_dataset()["share_pp"]
    assert list(share["benefit"].values) == ["ww", "zw", "wia", "bijstand", "none"]
    assert share.dims == ("contrast", "werkverkenner", "month", "benefit", "work")
