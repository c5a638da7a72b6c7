"""Cost-effectiveness: closed forms (EVPI, CEAC limits, discounting), linearity in the WW benefit, the
direction of a doubled service cost, targeting, the assumptions file, the CLI on the calibrated cohort, the
trajectory input (the fit's own cumulative effects, the horizon) and the other benefits a destinations fit
prices (its months x their amounts, subtracted from the benefits).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.stats import norm

from ww_bayes.cea import Uncertain, analyse, load_assumptions, parse_assumptions, summary
from ww_bayes.cea.analysis import (
    ceac,
    discount_factors,
    evpi,
    fiscal_benefits,
    incremental_net_benefit,
    monthly_effects,
    targeting,
)
from ww_bayes.cli import main
from ww_bayes.data import published
from ww_bayes.results import save_fit as save
from ww_bayes.tomlspec import SpecError

MODELS = Path(__file__).resolve().parents[1] / "models"
TEXT = (MODELS / "cost_effectiveness.toml").read_text()


def draws(values: np.ndarray) -> xr.DataArray:
    return xr.DataArray(values.reshape(4, -1), dims=("chain", "draw"))


@pytest.fixture(scope="module")
def assumptions():
    return load_assumptions(MODELS / "cost_effectiveness.toml")


@pytest.fixture(scope="module")
def twelve_month(full_fits) -> list[xr.DataTree]:
    """The fallback input: the two calibrated 12-month fits."""
    return [full_fits["job_finding_12m"], full_fits["ww_claim_12m"]]


@pytest.mark.parametrize("mu, sigma", [(50.0, 100.0), (-30.0, 40.0), (0.0, 10.0)])
def test_evpi_of_a_normal_incremental_net_benefit_matches_its_closed_form(mu, sigma):
    inb = draws(np.random.default_rng(0).normal(mu, sigma, 400_000))
    closed = mu * norm.cdf(mu / sigma) + sigma * norm.pdf(mu / sigma) - max(mu, 0.0)
    assert float(evpi(inb)) == pytest.approx(closed, abs=4 * sigma / np.sqrt(400_000) + 1e-9)


def test_ceac_limits_are_the_right_probabilities():
    rng = np.random.default_rng(1)
    effect, net_cost = draws(rng.normal(0.3, 0.2, 4000)), draws(rng.normal(-50, 120, 4000))
    curve = ceac(incremental_net_benefit(effect, net_cost, [0.0, 1e9]))
    assert float(curve[0]) == pytest.approx(float((net_cost < 0).mean()))
    assert float(curve[1]) == pytest.approx(float((effect > 0).mean()))


def test_discounting_and_fiscal_benefits_by_hand():
    factors = discount_factors(np.array([12, 24]), 0.05)
    np.testing.assert_allclose(factors, [1 / 1.05, 1 / 1.05**2])
    months = np.array([1, 2])
    effects = xr.DataArray([[2.0, 1.0], [-3.0, -1.0]], dims=("outcome", "month"),
                           coords={"outcome": ["employed", "ww"], "month": months})  # fmt: skip
    inputs = xr.Dataset({"ww_benefit_monthly": 1000.0, "earnings_monthly": 2000.0, "tax_share": 0.5})
    out = fiscal_benefits(effects, inputs, discount_factors(months, 0.0))
    assert float(out["ww_benefits_saved"]) == pytest.approx(0.04 * 1000)  # 0.03 + 0.01 WW months
    assert float(out["taxes_and_premiums"]) == pytest.approx(0.03 * 2000 * 0.5)
    assert float(out["benefits"]) == pytest.approx(40 + 30)


def test_targeting_serves_the_classes_with_positive_expected_net_benefit():
    rng = np.random.default_rng(2)
    means = {"a": 100.0, "b": -50.0, "c": 20.0}
    values = np.stack([rng.normal(m, 30, 4000) for m in means.values()], axis=-1).reshape(4, 1000, 3)
    nb = xr.DataArray(values, dims=("chain", "draw", "werkverkenner"), coords={"werkverkenner": list(means)})
    weights = xr.DataArray([1, 2, 1], dims="werkverkenner", coords={"werkverkenner": list(means)})
    result = targeting(nb, weights)
    best = str(result["rule"].values[int(result["rule_expected_net_benefit"].argmax("rule"))])
    assert best == "a+c"
    assert float(result["rule_prob_best"].sum()) == pytest.approx(1.0)
    assert float(result["rule_expected_net_benefit"].sel(rule="a")) == pytest.approx(
        float(nb.sel(werkverkenner="a").mean()) / 4
    )


def test_assumptions_file_names_bad_keys(assumptions):
    assert assumptions.service_cost["0-25"] == Uncertain(950, 150)
    assert assumptions.willingness_to_pay[[0, -1]].tolist() == [0.0, 3000.0]
    for old, new, key in [
        ("[tax_share]", "[tax_rate]", "tax_rate"),
        ("discount_rate_annual = 0.0225", "discount_rate_annual = -1", "discount_rate_annual"),
        ("mean = 1650", "average = 1650", "ww_benefit_monthly.average"),
        ('contrast = "service_vs_control_enforcement"', 'contrast = "service"', "contrast"),
    ]:
        with pytest.raises(SpecError, match=key):
            parse_assumptions(TEXT.replace(old, new, 1))


def test_missing_class_cost_is_named(twelve_month, assumptions):
    costs = {k: v for k, v in assumptions.service_cost.items() if k != "none"}
    with pytest.raises(SpecError, match="class.*none"):
        analyse(twelve_month, assumptions.replace(service_cost=costs))


def fixed(assumptions, **changes):
    """The assumptions with every input fixed at its mean (no input uncertainty), then changed."""
    base = {
        "service_cost": {c: Uncertain(u.mean) for c, u in assumptions.service_cost.items()},
        "ww_benefit_monthly": Uncertain(assumptions.ww_benefit_monthly.mean),
        "earnings_monthly": Uncertain(assumptions.earnings_monthly.mean),
        "tax_share": Uncertain(assumptions.tax_share.mean),
        "other_benefit_monthly": {b: Uncertain(u.mean) for b, u in assumptions.other_benefit_monthly.items()},
    }
    return assumptions.replace(**{**base, **changes})


def test_net_benefit_is_linear_in_the_monthly_ww_benefit(twelve_month, assumptions):
    values = [
        float(
            analyse(twelve_month, fixed(assumptions, ww_benefit_monthly=Uncertain(b)))["net_benefit"].mean()
        )
        for b in (1000.0, 1500.0, 2500.0)
    ]
    slope = (values[1] - values[0]) / 500
    assert values[2] == pytest.approx(values[1] + slope * 1000, rel=1e-9)
    assert slope > 0  # service lowers WW receipt on the calibrated cohort


def test_doubling_the_service_cost_moves_everything_the_right_way(twelve_month, assumptions):
    base = analyse(twelve_month, assumptions)
    doubled_costs = {c: Uncertain(2 * u.mean, 2 * u.sd) for c, u in assumptions.service_cost.items()}
    doubled = analyse(twelve_month, assumptions.replace(service_cost=doubled_costs))
    assert float(doubled["net_benefit"].mean()) < float(base["net_benefit"].mean())
    assert float(doubled["benefit_cost_ratio"].mean()) < float(base["benefit_cost_ratio"].mean())
    assert float(doubled["ceac"].sel(willingness_to_pay=0)) <= float(base["ceac"].sel(willingness_to_pay=0))
    served_base = set(base.attrs["best_rule"].split("+")) - {"none served"}
    served_doubled = set(doubled.attrs["best_rule"].split("+")) - {"none served"}
    assert served_doubled <= served_base


def test_cli_on_the_calibrated_cohort(full_fits, tmp_path, capsys):
    job, ww = tmp_path / "job.nc", tmp_path / "ww.nc"
    save(full_fits["job_finding_12m"], job)
    save(full_fits["ww_claim_12m"], ww)
    out = tmp_path / "results"
    assert main(["cea", "--fit", str(job), str(ww), "--assumptions", str(MODELS / "cost_effectiveness.toml"),
                 "--out", str(out)]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "benefit_cost_ratio" in text and f"{published.BENEFIT_COST_RATIO:.2f}" in text
    assert "Targeting" in text
    result = xr.load_datatree(out / "cost_effectiveness.nc")["cost_effectiveness"].ds
    table = pd.read_csv(out / "cost_effectiveness_summary.csv").set_index("quantity")
    assert table.loc["benefit_cost_ratio", "mean"] == pytest.approx(
        float(result["benefit_cost_ratio"].mean())
    )
    assert {"eti90_lb", "eti90_ub"} <= set(table.columns)
    for name in ("ce_plane", "ceac", "eib", "tornado", "net_benefit_by_class"):
        assert (out / f"cea_{name}.png").stat().st_size > 5_000
    assert main(["cea", "--fit", str(job), "--out", str(out)]) == 2
    assert "two 12-month fits" in capsys.readouterr().err


def test_summary_labels_intervals(twelve_month, assumptions):
    table = summary(analyse(twelve_month, assumptions))
    assert {"quantity", "mean", "eti90_lb", "eti90_ub", "n_undefined"} <= set(table.columns)
    bcr = table.set_index("quantity").loc["benefit_cost_ratio"]
    assert bcr["eti90_lb"] < bcr["mean"] < bcr["eti90_ub"]


@pytest.fixture(scope="module")
def trajectory_fit(small_trajectory_run) -> xr.DataTree:
    """The input the module is built for: a trajectory fit (small cohort, short chains: this checks the
    arithmetic, not the estimates)."""
    return xr.load_datatree(small_trajectory_run.fit)


def test_trajectory_input_is_the_fits_own_cumulative_effects(trajectory_fit, assumptions):
    """Undiscounted and with fixed inputs, the effect and the WW benefits saved are the fit's own cumulative
    effects at the horizon: the same months summed, the classes weighted as the trajectory group weights."""
    plain = fixed(assumptions).replace(discount_rate_annual=0.0, horizon_months=24)
    result = analyse(trajectory_fit, plain)
    assert result.attrs["effects_source"] == "trajectory fit, months 1-24"
    own = trajectory_fit["trajectory/overall"].ds.sel(contrast=plain.contrast, horizon=24)
    employed = own["extra_employed_months"].transpose("chain", "draw").values
    np.testing.assert_allclose(result["extra_employed_months"].transpose("chain", "draw").values, employed)
    saved = own["ww_months_avoided"].transpose("chain", "draw").values * plain.ww_benefit_monthly.mean
    np.testing.assert_allclose(result["ww_benefits_saved"].transpose("chain", "draw").values, saved)
    # a later month changes the answer: the horizon is really applied
    longer = analyse(trajectory_fit, plain.replace(horizon_months=30))
    assert not np.allclose(longer["extra_employed_months"].values, result["extra_employed_months"].values)
    with pytest.raises(ValueError, match="horizon_months 31 is beyond the fit's last month 30"):
        analyse(trajectory_fit, plain.replace(horizon_months=31))


def test_the_effects_say_how_long_a_held_effect_lasts(twelve_month, trajectory_fit, assumptions):
    """12-month fits hold their month's effect for ``fallback_effect_months`` and say so (the other
    benefits' months stop there too); a trajectory fit gives every month itself."""
    paths, _, _, lasts = monthly_effects(twelve_month, assumptions)
    assert lasts == assumptions.fallback_effect_months
    after = paths["overall"].sel(month=slice(lasts + 1, None))
    assert after.sizes["month"] > 0 and float(abs(after).max()) == 0.0
    assert float(abs(paths["overall"].sel(month=lasts)).min()) > 0.0
    assert monthly_effects(trajectory_fit, assumptions)[3] is None


def test_cli_on_a_trajectory_fit(small_trajectory_run, tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["cea", "--fit", str(small_trajectory_run.fit), "--assumptions",
                 str(MODELS / "cost_effectiveness.toml"), "--out", str(out)]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert "(trajectory fit, months 1-30)" in captured.out
    assert "did not converge" in captured.err  # the short chains are flagged, not hidden
    result = xr.load_datatree(out / "cost_effectiveness.nc")["cost_effectiveness"].ds
    assert result.attrs["effects_source"] == "trajectory fit, months 1-30"
    assert set(result["werkverkenner"].values) == {"0-25", "25-50", "50-75", "75-100", "none"}


# --- other benefits: a destinations fit's ZW, WIA and bijstand months, priced -----------------------------


@pytest.fixture(scope="module")
def destinations_run(small_trajectory_run, tmp_path_factory) -> Path:
    """``destinations_12m`` fit from the trajectory run's data file (so both carry the same data SHA-256),
    short chains: this checks the arithmetic, not the estimates."""
    from ww_bayes.workflow import fit_to_file

    folder = tmp_path_factory.mktemp("destinations")
    out, spec = folder / "destinations_12m.nc", folder / "destinations_12m.toml"
    # the release's minimum: on 4,000 persons the spec's 20 merges no-benefit states into 'other' too
    text = (MODELS / "destinations_12m.toml").read_text()
    spec.write_text(text.replace("min_persons = 20", "min_persons = 10"))
    fit_to_file(spec, small_trajectory_run.data, out, progress=False, log=None,
                allow_unconverged=True, overrides={"chains": 2, "draws": 60, "tune": 60})  # fmt: skip
    return out


def test_other_benefits_are_their_months_times_their_amounts(trajectory_fit, destinations_run, assumptions):
    """With a destinations fit, ``other_benefits_paid`` is the extra months in each benefit besides WW (and
    no benefit) times its monthly amount, discounted and class-weighted, and the benefits subtract it; the
    sentence says where the months come from and what they assume. Without one, nothing is priced and the
    result says WW months only."""
    from ww_bayes.cea import benefit_months
    from ww_bayes.cea.analysis import discount_factors as discounted

    destinations = xr.load_datatree(destinations_run)
    plain = fixed(assumptions)
    result = analyse([trajectory_fit, destinations], plain, ["trajectory.nc", "destinations_12m.nc"])
    months = benefit_months(destinations, plain.contrast, range(1, 31)).months["by_werkverkenner"]
    months = months.isel(chain=slice(0, result.sizes["chain"]), draw=slice(0, result.sizes["draw"]))
    discount = discounted(np.arange(1, 31), plain.discount_rate_annual).values
    weights = result["class_weight"].sel(werkverkenner=months["werkverkenner"].values).values
    # each benefit's discounted months per participant, class-weighted, per draw
    per_benefit = {
        str(b): ((months.sel(benefit=b).values * discount).sum(-1) * weights).sum(-1)
        for b in months["benefit"].values
        if b not in ("ww", "none") and np.any(months.sel(benefit=b).values != 0)
    }
    assert per_benefit and "wia" not in per_benefit  # nobody is in WIA at month 12: nothing to price
    by_hand = sum(plain.other_benefit_monthly[b].mean * m for b, m in per_benefit.items())
    np.testing.assert_allclose(result["other_benefits_paid"].values, by_hand, rtol=1e-5)
    np.testing.assert_allclose(
        result["benefits"], result["ww_benefits_saved"] + result["taxes_and_premiums"]
        - result["other_benefits_paid"], rtol=1e-9,
    )  # fmt: skip
    source = result.attrs["other_benefits_source"]
    assert source.startswith("a destinations fit: the effects on the share of claimants in each benefit at "
                             "month 12") and "months 13-30: the month-12 effect holds" in source  # fmt: skip
    # the tornado varies the amounts of the benefits priced, no others; each row's width is its spread
    # times the benefit's expected months (net benefit is linear in the amount)
    uncertain = analyse([trajectory_fit, destinations], assumptions, ["trajectory.nc", "destinations_12m.nc"])
    rows = [str(i) for i in uncertain["input"].values if str(i).startswith("other_benefit_monthly[")]
    assert rows == [
        f"other_benefit_monthly[{b}]" for b in assumptions.other_benefit_monthly if b in per_benefit
    ]
    for benefit, paid_months in per_benefit.items():
        row = uncertain.sel(input=f"other_benefit_monthly[{benefit}]")
        width = float(row["tornado_net_benefit_at_q05"] - row["tornado_net_benefit_at_q95"])
        spread = float(row["tornado_input_q95"] - row["tornado_input_q05"])
        assert width == pytest.approx(spread * float(np.mean(paid_months)), rel=1e-6)
    without = analyse(trajectory_fit, plain)
    assert "other_benefits_paid" not in without and "counts WW months only" in without.attrs[
        "other_benefits_source"]  # fmt: skip
    none_after = analyse([trajectory_fit, destinations],
                         plain.replace(other_benefits_beyond_last="none"))  # fmt: skip
    assert "months 13-30: no effect" in none_after.attrs["other_benefits_source"]
    assert not np.allclose(none_after["other_benefits_paid"], result["other_benefits_paid"])


def test_a_benefit_without_an_amount_is_named(trajectory_fit, destinations_run, assumptions):
    destinations = xr.load_datatree(destinations_run)
    only_zw = assumptions.replace(other_benefit_monthly={"zw": Uncertain(1650.0)})
    with pytest.raises(SpecError) as error:
        analyse([trajectory_fit, destinations], only_zw, ["trajectory.nc", "destinations_12m.nc"])
    listed = str(error.value).split("has months in ")[1].split(" but ")[0].split(", ")
    assert listed and "zw" not in listed and "ww" not in listed and "none" not in listed
    assert str(error.value).endswith("but [other_benefits] has no monthly amount for them (it has: zw)")
    with pytest.raises(SpecError, match="'other_benefits.ww': ww is not an other benefit"):
        parse_assumptions(TEXT.replace("zw = { mean = 1650", "ww = { mean = 1650"))
    with pytest.raises(SpecError, match="'other_benefits.beyond_last' must be one of hold, none"):
        parse_assumptions(TEXT.replace('beyond_last = "hold"', 'beyond_last = "fade"'))


def test_cli_prices_the_other_benefits(small_trajectory_run, destinations_run, tmp_path, capsys):
    out = tmp_path / "results"
    assert (
        main(["cea", "--fit", str(small_trajectory_run.fit), str(destinations_run), "--out", str(out)]) == 0
    )
    text = capsys.readouterr().out
    assert "other_benefits_paid" in text
    assert "other benefits (ZW, WIA, bijstand): a destinations fit" in text
    table = pd.read_csv(out / "cost_effectiveness_summary.csv").set_index("quantity")
    result = xr.load_datatree(out / "cost_effectiveness.nc")["cost_effectiveness"].ds
    assert table.loc["other_benefits_paid", "mean"] == pytest.approx(
        float(result["other_benefits_paid"].mean())
    )


def test_the_other_benefits_sentence_may_leave_and_their_amounts_are_no_class(
    trajectory_fit, destinations_run, assumptions
):
    """What a release checks of the priced result: its ``other_benefits_source`` is the package's own prose
    (a sentence naming a file, or with a word where a number goes, is refused), and the tornado rows of the
    other benefits' amounts are not read as classes (only ``service_cost[<class>]`` rows are)."""
    from ww_bayes.audit import _tornado_classes, form_problem

    destinations = xr.load_datatree(destinations_run)
    for beyond_last in ("hold", "none"):
        result = analyse(
            [trajectory_fit, destinations], assumptions.replace(other_benefits_beyond_last=beyond_last)
        )
        assert form_problem("other_benefits_source", result.attrs["other_benefits_source"]) == ""
        rows = _tornado_classes(result)
        assert set(rows.values()) == set(assumptions.service_cost)
        assert all(label.startswith("service_cost[") for label in rows)
    assert form_problem("other_benefits_source", analyse(trajectory_fit, assumptions).attrs[
        "other_benefits_source"]) == ""  # fmt: skip
    leaked = "destinations_12m.nc: the effects on the share of claimants in each benefit at month 12"
    assert form_problem("other_benefits_source", leaked) != ""
    worded = result.attrs["other_benefits_source"].replace("months 13-30", "months thirteen-30")
    assert form_problem("other_benefits_source", worded) != ""


def test_the_other_benefits_stop_where_twelve_month_effects_do(destinations_run, assumptions):
    """With 12-month fits the WW and employment effects last ``fallback_effect_months``; the other
    benefits' months stop there too (the sentence says so), and are the held months before it."""
    from ww_bayes.cea.analysis import other_benefit_months

    destinations = xr.load_datatree(destinations_run)
    held = other_benefit_months([destinations], assumptions, ["destinations_12m.nc"])
    cut = other_benefit_months([destinations], assumptions, ["destinations_12m.nc"], held_for=18)
    for level in ("overall", "by_werkverkenner"):
        np.testing.assert_array_equal(cut.months[level].sel(month=slice(1, 18)),
                                      held.months[level].sel(month=slice(1, 18)))  # fmt: skip
        assert float(abs(cut.months[level].sel(month=slice(19, 30))).max()) == 0.0
        assert float(abs(held.months[level].sel(month=slice(19, 30))).max()) > 0.0
    assert "months 19-30: none, as the 12-month fits' effects (fallback_effect_months)" in cut.source
    with pytest.raises(SpecError, match="'other_benefits.bijstnd': not a benefit a destinations fit has; the "
                                        "other benefits are zw, wia, bijstand, other"):  # fmt: skip
        parse_assumptions(TEXT.replace("bijstand = { mean", "bijstnd = { mean"))


def test_a_priced_result_is_withheld_where_the_release_merges_its_states_by_class():
    """A release that merges a destinations fit's states by Werkverkenner class withholds a cost-effectiveness
    result that prices that fit's benefit months (its by-class numbers would split the merged states again);
    merged by region only, or a result that prices no other benefits, it goes."""
    from types import SimpleNamespace

    from ww_bayes.release import _priced_merged_states

    hashes = {"abc": Path("destinations_12m.nc")}
    draws_ = xr.DataArray(np.zeros((2, 3)), dims=("chain", "draw"))
    priced = xr.DataTree.from_dict({"cost_effectiveness": xr.Dataset({"other_benefits_paid": draws_})})
    priced.attrs["fits_sha256"] = "abc"
    unpriced = xr.DataTree.from_dict({"cost_effectiveness": xr.Dataset({"net_benefit": draws_})})
    unpriced.attrs["fits_sha256"] = "abc"
    merge = [(("zw", "wia"), "zw_or_wia")]
    by_class = SimpleNamespace(category_merges={"destinations_12m.nc": {"werkverkenner": merge}})
    by_region = SimpleNamespace(category_merges={"destinations_12m.nc": {"region": merge}})
    reason = _priced_merged_states("cost_effectiveness.nc", priced, hashes, by_class)
    assert reason.startswith("cost_effectiveness.nc: not released (it prices the benefit months of "
                             "destinations_12m.nc per class")  # fmt: skip
    assert _priced_merged_states("cost_effectiveness.nc", priced, hashes, by_region) == ""
    assert _priced_merged_states("cost_effectiveness.nc", unpriced, hashes, by_class) == ""


def test_the_audit_finds_a_priced_result_beside_states_merged_by_class():
    """The audit's side of the same rule, from the released files alone: a destinations fit whose class
    level holds other states than its overall level had states merged by class; a priced result beside it
    is a finding, beside a fit merged by region only it is not."""
    from types import SimpleNamespace

    from ww_bayes.audit import _priced_state_findings

    def level(states):
        return xr.Dataset(coords={"state": states})

    states = ["ww_not_working", "zw", "bijstand", "none_not_working"]
    fewer = ["ww_not_working", "zw", "bijstand_or_none_not_working"]
    file = "destinations_12m_estimates.nc"
    merged = SimpleNamespace(file=file, levels={"overall": level(states), "werkverkenner": level(fewer)})
    by_region = SimpleNamespace(
        file=file, levels={"overall": level(states), "werkverkenner": level(states), "region": level(fewer)}
    )
    (finding,) = _priced_state_findings("cost_effectiveness.nc", [merged])
    assert (
        "prices the benefit months of destinations_12m_estimates.nc, whose states are merged by class"
        in finding
    )
    assert _priced_state_findings("cost_effectiveness.nc", [by_region]) == []
