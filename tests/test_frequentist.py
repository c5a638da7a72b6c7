"""Frequentist ITT estimates: equal to hand computations, named like the posterior, compared and plotted."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.stats import norm

from ww_bayes.cli import main
from ww_bayes.compare import compare, fit_factors, frequentist_table, itt
from ww_bayes.compare.frequentist import holm
from ww_bayes.compare.tables import forest_rows, shown_rows
from ww_bayes.data.io import write_cohort
from ww_bayes.data.schema import CONTRASTS
from ww_bayes.inference import ConvergenceWarning, fit
from ww_bayes.kinds import load_spec
from ww_bayes.labels import Words
from ww_bayes.results import save_fit as save
from ww_bayes.viz import forest_data, forest_plot

MODELS = Path(__file__).resolve().parents[1] / "models"


def by_hand(df: pd.DataFrame, column: str, treated: str, comparison: str) -> tuple[float, float]:
    """Difference in means (pp) and its unequal-variance standard error, which is HC2 for arm dummies."""
    a = df.loc[df["arm"] == treated, column].dropna().astype(float)
    b = df.loc[df["arm"] == comparison, column].dropna().astype(float)
    return 100 * (a.mean() - b.mean()), 100 * np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))


def test_lpm_without_covariates_is_the_difference_in_means_with_hc2_by_hand(small_cohort):
    df = small_cohort.data
    table = itt(df, "ww_m12", factors=("werkverkenner",), class_effects=False)
    for contrast, (treated, comparison) in CONTRASTS.items():
        row = table[(table["contrast"] == contrast) & (table["level"] == "overall")].iloc[0]
        estimate, se = by_hand(df, "ww_m12", treated, comparison)
        assert row["estimate"] == pytest.approx(estimate, abs=1e-9)
        assert row["se"] == pytest.approx(se, rel=1e-9)
        # a 90% interval, like the credible intervals it is set beside: estimate +- 1.645 se
        assert row["ci90_ub"] - row["estimate"] == pytest.approx(1.6448536 * se, rel=1e-6)
        for group, rows in df.groupby("werkverkenner", observed=True):
            sub = table[(table["contrast"] == contrast) & (table["group"] == str(group))].iloc[0]
            estimate, se = by_hand(rows, "ww_m12", treated, comparison)
            assert sub["estimate"] == pytest.approx(estimate, abs=1e-9)
            assert sub["se"] == pytest.approx(se, rel=1e-9)


def test_any_month_drops_unobserved_persons_and_adjusts_subgroup_p_values(small_cohort):
    df = small_cohort.data
    table = itt(df, "employed_m30", factors=("werkverkenner",))
    assert (table["n"][table["level"] == "overall"] == df["employed_m30"].notna().sum()).all()
    subgroups = table[table["level"] == "by_werkverkenner"]
    assert (subgroups["p_holm"] >= subgroups["p_bh"] - 1e-12).all()
    assert (subgroups["p_bh"] >= subgroups["p_value"] - 1e-12).all()
    assert (subgroups["p_holm"] > subgroups["p_value"]).any()
    overall = table[table["level"] == "overall"]
    assert (overall["p_holm"] == overall["p_value"]).all()


def test_covariates_cluster_and_logit_run_and_agree_roughly(small_cohort):
    df = small_cohort.data
    plain = itt(df, "job_12m", factors=())
    adjusted = itt(df, "job_12m", factors=(), covariates=("age", "sex", "education"))
    clustered = itt(df, "job_12m", factors=(), cov_type="cluster")
    logit = itt(df, "job_12m", factors=(), method="logit")
    assert clustered["estimate"].to_numpy() == pytest.approx(plain["estimate"].to_numpy(), abs=1e-9)
    assert not np.allclose(clustered["se"], plain["se"])
    assert adjusted["covariates"].iloc[0] == "age,sex,education"
    # randomised arms: adjusting or switching to a logit moves estimates far less than their standard error
    for other in (adjusted, logit):
        assert (abs(other["estimate"] - plain["estimate"]) < 0.5 * plain["se"]).all()


def test_saturated_logit_ame_is_the_difference_in_means_with_its_delta_method_se(small_cohort):
    """Arms only: the logit is saturated, so the AME is the difference in means and the delta-method SE
    from the HC0 covariance is sqrt(p1 (1 - p1) / n1 + p0 (1 - p0) / n0).
    """
    df = small_cohort.data
    table = itt(df, "job_12m", factors=(), class_effects=False, method="logit")
    for contrast, (treated, comparison) in CONTRASTS.items():
        row = table[table["contrast"] == contrast].iloc[0]
        a = df.loc[df["arm"] == treated, "employed_m12"].astype(float)
        b = df.loc[df["arm"] == comparison, "employed_m12"].astype(float)
        se = 100 * np.sqrt(a.mean() * (1 - a.mean()) / len(a) + b.mean() * (1 - b.mean()) / len(b))
        assert row["estimate"] == pytest.approx(100 * (a.mean() - b.mean()), abs=1e-6)
        assert row["se"] == pytest.approx(se, rel=1e-5)
        assert row["estimate"] - row["ci90_lb"] == pytest.approx(1.6448536 * row["se"], rel=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"outcome": "job_13"}, "no column 'job_13'"),
        ({"covariates": ("income",)}, "not allowed"),
        ({"cov_type": "HC9"}, "cov_type must be one of"),
        ({"factors": ("sector",)}, r"factors \['sector'\]: not columns of the data"),
    ],
)
def test_bad_arguments_are_named(small_cohort, kwargs, message):
    with pytest.raises(ValueError, match=message):
        itt(small_cohort.data, **{"outcome": "job_12m", **kwargs})


def test_empty_arm_in_a_subgroup_is_named(small_cohort):
    df = small_cohort.data
    df = df[~((df["region"] == "Zeeland") & (df["arm"] == "control_none"))]
    with pytest.raises(ValueError, match="subgroup.s. cannot be estimated") as error:
        itt(df, "job_12m", factors=("region",))
    assert "by_region 'Zeeland' (" in str(error.value) and "no persons in arm(s) control_none" in str(
        error.value
    )


def test_missing_covariate_values_are_counted(small_df):
    small_df.loc[small_df.index[:7], "age"] = np.nan
    with pytest.raises(ValueError, match="covariate 'age': 7 rows without a value"):
        itt(small_df, "job_12m", factors=(), covariates=("age",))


@pytest.fixture(scope="module")
def small_fit_file(small_cohort, tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    spec = load_spec(MODELS / "job_finding_12m.toml")
    spec = dataclasses.replace(spec, groups=("werkverkenner",)).with_sampler(
        chains=2, draws=150, tune=150, seed=4, sampler="pymc"
    )
    data = write_cohort(small_cohort.data, folder / "cohort.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # short chains: convergence is not tested here
        tree = fit(spec, data, progress=False, log=None)
    return save(tree, folder / "job.nc"), data


def test_compare_cli_writes_table_figure_and_group(small_fit_file, tmp_path, capsys):
    fit_path, data = small_fit_file
    assert main(["compare", str(fit_path), "--data", str(data), "--out", str(tmp_path), "--store"]) == 0
    table = pd.read_csv(tmp_path / "job_compare.csv")
    assert len(table) == 3 * (1 + 5)  # contrasts x (overall + 5 classes)
    assert {
        "frequentist_estimate",
        "frequentist_ci90_lb",
        "posterior_mean",
        "posterior_eti90_lb",
        "shrinkage",
    } <= set(table)
    assert (tmp_path / "job_forest.png").stat().st_size > 10_000 and (tmp_path / "job_forest.svg").is_file()
    stored = frequentist_table(xr.load_datatree(fit_path)["frequentist"].ds)
    assert len(stored) == len(table)
    joined = stored.merge(table, on=["contrast", "level", "group"], validate="one_to_one")
    np.testing.assert_allclose(joined["estimate"], joined["frequentist_estimate"], rtol=1e-12)
    np.testing.assert_allclose(joined["ci90_lb"], joined["frequentist_ci90_lb"], rtol=1e-12)
    # the 90% interval beside the posterior's 90% one: the estimate -+ the normal 95% quantile x its se
    half90 = (joined["ci90_ub"] - joined["ci90_lb"]) / 2
    np.testing.assert_allclose(half90, joined["se"] * norm.ppf(0.95), rtol=1e-9)
    assert "service_vs_control_enforcement" in capsys.readouterr().out


def test_compare_cli_refuses_other_data(small_fit_file, small_cohort, tmp_path, capsys):
    fit_path, _ = small_fit_file
    other = write_cohort(small_cohort.data.iloc[:-1], tmp_path / "other.parquet")
    assert main(["compare", str(fit_path), "--data", str(other), "--out", str(tmp_path)]) == 2
    assert "not the file" in capsys.readouterr().err
    missing = ["compare", str(fit_path), "--data", str(tmp_path / "nope.parquet"), "--out", str(tmp_path)]
    assert main(missing) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("spec_name", ["job_finding_12m", "ww_claim_12m"])
def test_posterior_agrees_with_lpm_and_pools_small_groups_toward_overall(full_cohort, full_fits, spec_name):
    tree = full_fits[spec_name]
    frequentist = itt(full_cohort.data, tree.attrs["outcome"], factors=fit_factors(tree))
    table = compare(tree, frequentist)
    overall = table[table["level"] == "overall"]
    assert len(overall) == 3
    assert (abs(overall["posterior_mean"] - overall["frequentist_estimate"]) < 0.3).all(), overall
    # Small subgroups whose unpooled estimate lies over one standard error from the overall effect are
    # moved toward it. Pooling acts on the logit scale, so in pp a fully pooled group may land a little past
    # the population-average effect (its baseline rate and class mix differ): allow 10% of the distance.
    table = table.merge(
        frequentist[["contrast", "level", "group", "se", "n"]], on=["contrast", "level", "group"]
    )
    target = table["contrast"].map(overall.set_index("contrast")["posterior_mean"])
    far = (abs(table["frequentist_estimate"] - target) > table["se"]) & (table["level"] != "overall")
    smallest = table["n"] <= table.loc[table["level"] == "by_region", "n"].nsmallest(30).max()
    checked = table[far & (smallest | (table["level"] == "by_werkverkenner"))]
    assert len(checked) >= 10
    assert checked["shrinkage"].between(0, 1.1).all(), checked[["contrast", "group", "shrinkage"]]

    figure = forest_plot(table)
    panels = figure.axes
    assert len(panels) == 3 * 2  # contrasts x (by_werkverkenner, by_region)
    words, first = Words("en"), table["contrast"].iloc[0]
    for ax in panels:
        contrast, level = ax.get_gid().split(".")
        data = forest_data(table, contrast, level)
        unpooled, pooled = ax.containers
        np.testing.assert_allclose(
            np.asarray(unpooled.lines[0].get_xdata(), float), data["frequentist_estimate"]
        )
        bars = np.array([segment[:, 0] for segment in unpooled.lines[2][0].get_segments()])
        np.testing.assert_allclose(bars, data[["frequentist_ci90_lb", "frequentist_ci90_ub"]].to_numpy())
        np.testing.assert_allclose(np.asarray(pooled.lines[0].get_xdata(), float), data["posterior_mean"])
        named = next(a for a in panels if a.get_gid() == f"{first}.{level}")  # a row's names: first panel
        assert [t.get_text() for t in named.get_yticklabels()] == [words(g) for g in data["group"]]


def test_the_forest_keeps_every_level_and_the_screen_the_few_in_the_months_shown():
    """A comparison's forest plot of one estimand draws every level (35 regions too), the screen and report
    table only the levels with few groups; a kind whose rows run over months shows its months in both, each
    row named by its outcome and month when there are several; a one-estimand table keeps its subgroups'
    names; with several estimands the figure too leaves the many-level factors out."""
    groups = [("overall", "all")] + [
        ("by_werkverkenner", g) for g in ("0-25", "25-50", "50-75", "75-100", "none")
    ]
    groups += [("by_region", f"r{k}") for k in range(35)]
    columns = ["estimand", "contrast", "level", "group", "frequentist_estimate"]
    one = pd.DataFrame([("effect_pp", "c", level, group, 0.1) for level, group in groups], columns=columns)
    assert set(forest_rows(one)["level"]) == {"overall", "by_werkverkenner", "by_region"}
    assert forest_rows(one)["group"].tolist() == one["group"].tolist()
    assert not forest_rows(one).attrs.get("several_estimands")
    assert set(shown_rows(one)["level"]) == {"overall", "by_werkverkenner"}
    monthly = pd.DataFrame(
        [("effect_pp", outcome, "c", level, group, month, 0.1)
         for outcome in ("employed", "ww") for month in range(1, 31) for level, group in groups[:6]],
        columns=["estimand", "outcome", "contrast", "level", "group", "month", "frequentist_estimate"],
    )  # fmt: skip
    monthly.attrs["months_shown"] = [6, 30]
    drawn = forest_rows(monthly)
    assert set(drawn["month"]) == {6, 30} and len(drawn) == 2 * 2 * 6
    assert drawn.attrs["several_estimands"] and "effect_pp ww 30: 75-100" in set(drawn["group"])
    assert shown_rows(monthly)["month"].isin([6, 30]).all() and len(shown_rows(monthly)) == len(drawn)
    # several estimands over regions (a destinations fit's states): the figure leaves the regions out
    states = pd.concat([one.assign(estimand=e) for e in ("share_pp", "ww_source_pp")], ignore_index=True)
    assert set(forest_rows(states)["level"]) == {"overall", "by_werkverkenner"}
    assert "ww_source_pp: 0-25" in set(forest_rows(states)["group"])


def test_holm_adjustment_is_statsmodels():
    """The Holm-adjusted p-values equal statsmodels' multipletests(method="holm") on families with ties,
    zeros, ones and a single test."""
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(11)
    families = [rng.random(size) for size in (1, 2, 5, 35, 200)]
    families += [np.array([0.01, 0.01, 0.2, 0.2, 0.0, 1.0]), rng.random(40).round(2)]
    for p in families:
        np.testing.assert_array_equal(holm(p), multipletests(p, method="holm")[1])
    assert holm([0.5, 0.4]).tolist() == [0.8, 0.8]  # by hand: 2 x 0.4, then the running maximum
