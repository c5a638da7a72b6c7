"""`ww-bayes release`: what leaves a secure environment passes the small-count rule, and every attack that
recovers a count below it from an unreleased fit file fails on the release."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from PIL import Image
from scipy.optimize import linprog
from scipy.special import gammaln

from ww_bayes.cli import main
from ww_bayes.inference import fit
from ww_bayes.kinds import load_spec
from ww_bayes.kinds.common import OPTIONAL_GROUPS
from ww_bayes.release import (
    MIN_COUNT,
    RELEASED_ATTRS,
    WITHHELD_GROUPS,
    ReleaseError,
    breaks_rule,
    count_table,
    merged_name,
    release,
)
from ww_bayes.results import save_fit

MODELS = Path(__file__).resolve().parents[1] / "models"
pytestmark = pytest.mark.filterwarnings("ignore::ww_bayes.results.ConvergenceWarning")
EXTRA_ATTRS = {"ww_bayes_kind", "spec_name", "min_count", "released_with"}


@pytest.fixture(scope="module")
def released(small_cohort, tmp_path_factory):
    """The job spec (classes and regions) on the 4,000-person cohort: about 11 persons per region in each
    control arm, so many regions have an arm with n, k or n - k below 10. The unreleased fit keeps every
    group; the release is made from its results folder."""
    folder = tmp_path_factory.mktemp("release")
    results = folder / "results"
    spec = load_spec(MODELS / "job_finding_12m.toml").with_sampler(
        chains=2, draws=200, tune=300, seed=5, sampler="pymc"
    )
    tree = fit(spec.with_output(keep=OPTIONAL_GROUPS), small_cohort.data, progress=False, log=None)
    save_fit(tree, results / "job.nc")
    return tree, release(results, folder / "release"), folder


def cell_counts(tree: xr.DataTree) -> pd.DataFrame:
    """The fit's count table with ``n`` (persons) and ``k`` (persons with a job)."""
    return count_table(tree).rename(columns={"persons": "n", "count": "k"})


def small_cells(tree: xr.DataTree) -> pd.DataFrame:
    """The region x arm totals of the unreleased fit whose n, k or n - k breaks the rule."""
    by_region = cell_counts(tree).groupby(["region", "arm"], observed=True)[["n", "k"]].sum().reset_index()
    bad = breaks_rule(by_region["n"], MIN_COUNT) | breaks_rule(by_region["k"], MIN_COUNT)
    return by_region[bad | breaks_rule(by_region["n"] - by_region["k"], MIN_COUNT)]


def test_the_cohort_has_small_regions_and_they_are_merged(released):
    tree, done, _ = released
    small = small_cells(tree)
    assert small["region"].nunique() >= 3  # the test has something to protect
    grouping = done.groupings["region"]
    assert set(small["region"]) <= set(grouping.merged)
    assert not grouping.suppressed and all(grouping.why[r] for r in grouping.merged)
    counts = pd.read_csv(done.folder / "counts.csv")
    regions = counts[counts["level"] == "by_region"]
    assert set(regions["group"]) == {g for g in grouping.groups.values()}
    assert "other regions" in set(regions["group"]) and not set(grouping.merged) & set(regions["group"])
    for values in (counts["persons"], counts["count"], counts["persons"] - counts["count"]):
        assert not breaks_rule(values, MIN_COUNT).any()


def test_merged_effects_are_person_weighted_means_of_their_regions(released):
    tree, done, _ = released
    original = tree["effects/region"].ds["effect_pp"]
    out = xr.load_datatree(done.folder / "job_estimates.nc")["effects/region"].ds["effect_pp"]
    grouping = done.groupings["region"]
    weights = tree["weights"].ds["n_persons"].sum("werkverkenner")
    merged = grouping.merged
    expected = (original.sel(region=merged) * weights.sel(region=merged)).sum("region") / weights.sel(
        region=merged
    ).sum()
    np.testing.assert_allclose(out.sel(region=merged_name("region")).values, expected.values, rtol=1e-12)
    kept = [r for r in original["region"].values if r not in merged]
    np.testing.assert_array_equal(out.sel(region=kept).values, original.sel(region=kept).values)
    assert set(out["region"].values) == set(kept) | {merged_name("region")}
    summary = pd.read_csv(done.folder / "job_summary.csv")
    rows = summary[(summary["level"] == "by_region") & (summary["estimand"] == "effect_pp")]
    assert set(rows["group"]) == set(kept) | {merged_name("region")}  # the figure is drawn from these rows
    # relative risks are not weighted means: not released for the merged group
    risk = summary[(summary["level"] == "by_region") & (summary["estimand"] == "relative_risk")]
    assert risk.loc[risk["group"] == merged_name("region"), "mean"].isna().all()


def lp_bounds(margins: dict[str, float], members: dict[str, list[str]], classes, regions, target: str):
    """The attacker's exact bound on a region's total: unknown cells x[class, region] >= 0; every released
    margin an equality (``margins``: name -> value, ``members``: name -> the cells it sums); min and max of
    the target region's cells by scipy's linprog."""
    cells = [(c, r) for c in classes for r in regions]
    index = {cell: i for i, cell in enumerate(cells)}
    a_eq = np.zeros((len(margins), len(cells)))
    for row, name in enumerate(margins):
        for cell in members[name]:
            a_eq[row, index[cell]] = 1
    objective = np.array([1.0 if r == target else 0.0 for _, r in cells])
    bounds = []
    for sign in (1, -1):
        result = linprog(sign * objective, A_eq=a_eq, b_eq=list(margins.values()), bounds=(0, None))
        assert result.status == 0
        bounds.append(sign * result.fun)
    return bounds


def disclosed(low: float, high: float) -> bool:
    """The attacker learns that the count is between 1 and MIN_COUNT - 1."""
    return np.ceil(low - 1e-6) >= 1 and np.floor(high + 1e-6) <= MIN_COUNT - 1


def test_linear_programme_attack_fails_on_the_release_and_succeeds_without_merging(released, tmp_path):
    """From the class, region and overall tables of counts.csv, bound each small region's count per arm
    (persons and successes) exactly. On the release: every bound leaves 0 or >= 10 possible. The same
    attack on a release made with no merging (min count 1, every region its own row) pins the counts."""
    tree, done, folder = released
    cells = cell_counts(tree)
    classes = sorted(cells["werkverkenner"].astype(str).unique())
    regions = sorted(cells["region"].astype(str).unique())

    def attack(made, arm: str, column: str, region: str):
        """Everything counts.csv of the release ``made`` says about ``arm``, as LP equalities."""
        counts = pd.read_csv(made.folder / "counts.csv")
        counts = counts[counts["arm"] == arm]
        margins, members = {}, {}
        for row in counts.itertuples():
            in_class, in_region = classes, regions
            if row.level == "by_werkverkenner":
                in_class = [c for c in classes if made.groupings["werkverkenner"].groups[c] == row.group]
            elif row.level == "by_region":
                in_region = [r for r in regions if made.groupings["region"].groups[r] == row.group]
            name = f"{row.level}/{row.group}"
            margins[name] = getattr(row, column)
            members[name] = [(c, r) for c in in_class for r in in_region]
        return lp_bounds(margins, members, classes, regions, region)

    small = small_cells(tree)
    naive = release(folder / "results", tmp_path / "naive", min_count=1)  # the broken variant: no merging
    recovered_naive = 0
    for row in small.itertuples():
        for column, value in (("persons", row.n), ("count", row.k)):
            low, high = attack(done, row.arm, column, row.region)
            assert not disclosed(low, high), (row.region, row.arm, column, low, high)
            low, high = attack(naive, row.arm, column, row.region)
            assert low == pytest.approx(high) == pytest.approx(value)  # pinned exactly
            recovered_naive += bool(breaks_rule([value], MIN_COUNT)[0])
    assert recovered_naive >= 3


def test_count_recovery_from_an_unreleased_fit_succeeds_and_its_inputs_are_not_released(released):
    """Three ways to small counts in a fit file: observed_data; posterior_predictive y / y_rate = n; the
    log-likelihood with the cell rate gives k. Each works on the fit, and none of their inputs is in any
    released file."""
    tree, done, _ = released
    n = tree["constant_data"].ds["trials"].values
    k = tree["observed_data"].ds["y"].values
    small = breaks_rule(n, MIN_COUNT) | breaks_rule(k, MIN_COUNT)
    assert small.sum() > 10
    predictive = tree["posterior_predictive"].ds
    y, y_rate = predictive["y"].values[0, 0], predictive["y_rate"].values[0, 0]
    positive = y > 0
    np.testing.assert_allclose(y[positive] / y_rate[positive], n[positive], rtol=1e-4)  # persons per cell
    loglik = tree["log_likelihood"].ds["y"].values[0, 0]
    cell_p = _cell_rates_of(tree)  # the unreleased fit keeps the posterior rates (keep = rate)
    candidates = np.arange(n.max() + 1)
    found = []
    for i in np.flatnonzero(small)[:20]:
        ks = candidates[: n[i] + 1]
        ll = (gammaln(n[i] + 1) - gammaln(ks + 1) - gammaln(n[i] - ks + 1) + ks * np.log(cell_p[i])
              + (n[i] - ks) * np.log1p(-cell_p[i]))  # fmt: skip
        found.append(int(ks[np.argmin(np.abs(ll - loglik[i]))]))
    assert found == list(k[np.flatnonzero(small)[:20]])
    for path in done.folder.glob("*.nc"):
        tree_out = xr.load_datatree(path)
        assert not set(tree_out.children) & set(WITHHELD_GROUPS), path
        names = {v for node in tree_out.subtree for v in node.ds.variables}
        assert not names & {"y", "y_rate", "trials", "n_persons", "rate", "cell_rate"}, path


def _cell_rates_of(tree: xr.DataTree) -> np.ndarray:
    """Each cell's success probability in draw (0, 0): the posterior ``rate`` at the cell's labels."""
    rate = tree["posterior"].ds["rate"].isel(chain=0, draw=0)
    cells = tree["observed_data"].ds
    return np.array([float(rate.sel(arm=a, werkverkenner=w, region=r)) for a, w, r in
                     zip(cells["arm"].values, cells["werkverkenner"].values, cells["region"].values,
                         strict=True)])  # fmt: skip


def test_attributes_and_figures_carry_no_counts_paths_or_names(released):
    tree, done, folder = released
    # the unreleased fit's attrs list small counts (design warnings) and the secure machine's paths
    warnings = " ".join(json.loads(tree.attrs["design_warnings"]))
    assert re.search(r"control_(none|enforcement) [1-9]\b", warnings)
    for path in done.folder.glob("*.nc"):
        attrs = xr.load_datatree(path).attrs
        assert set(attrs) <= set(RELEASED_ATTRS) | EXTRA_ATTRS, set(attrs) - set(RELEASED_ATTRS)
        text = json.dumps({k: str(v) for k, v in attrs.items()})
        assert str(folder) not in text and str(Path.home()) not in text and "design_warnings" not in attrs
        assert (
            attrs["data_sha256"] == tree.attrs["data_sha256"] and attrs["spec_name"] == "job_finding_12m.toml"
        )
    assert list(done.folder.glob("*_effects.png"))  # the figures exist (and are checked below)
    for png in done.folder.glob("*.png"):
        info = " ".join(map(str, Image.open(png).info.values()))
        assert str(folder) not in info and str(Path.home()) not in info
        svg = png.with_suffix(".svg").read_text(encoding="utf-8")  # each figure's SVG beside it
        assert str(folder) not in svg and str(Path.home()) not in svg


def test_disclosure_report_lists_every_file_check_and_merge(released):
    _, done, _ = released
    report = (done.folder / "disclosure_report.md").read_text()
    files = {p.name for p in done.folder.iterdir()} - {"disclosure_report.md", "disclosure_report.html"}
    assert files and all(f"| {name} |" in report for name in files)
    assert all(f"region {r}:" in report for r in done.groupings["region"].merged)
    assert report.count(": passed") == len(done.checks) and "FAILED" not in report
    assert f"Minimum count: {MIN_COUNT} persons" in report
    assert "<h2>Checks</h2>" in (done.folder / "disclosure_report.html").read_text()
    assert not list(done.folder.glob(".*"))  # no lock or temp file travels with it


def test_release_refuses_what_it_cannot_check(released, tmp_path, capsys):
    _, done, folder = released
    with pytest.raises(ReleaseError, match="not empty"):
        release(folder / "results", done.folder)
    with pytest.raises(ReleaseError, match="no ww_bayes fits"):
        release(tmp_path, tmp_path / "out")
    assert main(["release", str(folder / "results"), "--out", str(done.folder)]) == 2
    assert "not empty" in capsys.readouterr().err


def test_trajectory_release_merges_small_classes_in_every_month(small_trajectory_run, tmp_path):
    """The small trajectory fit (4,000 persons): classes whose monthly counts break the rule in any month
    and outcome are merged for the whole release; the cohort file and truth beside the fit stay behind."""
    done = release(small_trajectory_run.fit.parent, tmp_path / "release")
    grouping = done.groupings["werkverkenner"]
    released = xr.load_datatree(tmp_path / "release" / "trajectory_estimates.nc")
    out = released["trajectory/werkverkenner"].ds
    assert not list((tmp_path / "release").glob("*.parquet"))
    assert any("cohort.truth.nc" in item for item in done.withheld)
    # monthly counts stay behind: between months they differ by the few persons unobserved in a month
    assert not (tmp_path / "release" / "counts.csv").exists()
    assert any("counts per month not released" in note for note in done.notes)
    fitted = xr.load_datatree(small_trajectory_run.fit)
    by_class = cell_counts(fitted).groupby(["outcome", "month", "arm", "werkverkenner"], observed=True)
    by_class = by_class[["n", "k"]].sum().reset_index()
    small = breaks_rule(by_class["n"], MIN_COUNT) | breaks_rule(by_class["k"], MIN_COUNT)
    small |= breaks_rule(by_class["n"] - by_class["k"], MIN_COUNT)
    assert small.any()  # the small fit has classes to merge
    assert set(by_class.loc[small, "werkverkenner"].astype(str)) <= set(grouping.merged)
    assert (
        set(out["werkverkenner"].values) == set(grouping.groups.values())
        and merged_name("werkverkenner") in out["werkverkenner"].values
    )
    # months whose whole-cohort counts break the rule (WW receipt late on, in 400-person control arms):
    # suppressed at every level, and the cumulative effects of that outcome from the first of them on
    overall = cell_counts(fitted).groupby(["outcome", "month", "arm"], observed=True)[["n", "k"]].sum()
    thin = (breaks_rule(overall["n"], MIN_COUNT) | breaks_rule(overall["k"], MIN_COUNT)
            | breaks_rule(overall["n"] - overall["k"], MIN_COUNT))  # fmt: skip
    bad = sorted({(str(o), int(m)) for o, m, _ in overall.index[thin]})
    assert bad and any("not released" in note for note in done.notes)
    effect = released["trajectory/overall"].ds["effect_pp"]
    for outcome, month in bad:
        assert effect.sel(outcome=outcome, month=month).isnull().all()
    kept = [(o, m) for o in effect["outcome"].values for m in effect["month"].values if (o, m) not in bad]
    assert all(effect.sel(outcome=o, month=m).notnull().all() for o, m in kept)
    first_ww = min((m for o, m in bad if o == "ww"), default=None)
    if first_ww is not None:
        avoided = released["trajectory/overall"].ds["ww_months_avoided"]
        assert avoided.sel(horizon=slice(first_ww, None)).isnull().all()
        assert avoided.sel(horizon=slice(None, first_ww - 1)).notnull().all()
    # cumulative months of the merged group: the person-weighted mean of its classes
    weights = fitted["weights"].ds["n_persons"].sel(werkverkenner=grouping.merged)
    original = (
        fitted["trajectory/werkverkenner"].ds["extra_employed_months"].sel(werkverkenner=grouping.merged)
    )
    expected = (original * weights).sum("werkverkenner") / weights.sum()
    got = out["extra_employed_months"].sel(werkverkenner=merged_name("werkverkenner"))
    first_employed = min((m for o, m in bad if o == "employed"), default=31)
    horizons = slice(None, first_employed - 1)
    np.testing.assert_allclose(
        got.sel(horizon=horizons).values, expected.sel(horizon=horizons).values, rtol=1e-12
    )


def test_persons_of_a_second_fit_differing_by_a_few_are_not_released():
    """Two 12-month fits count the persons with each outcome observed; where they differ by 1-9 persons
    (one outcome missing for them), the second fit's persons would describe those few: not released."""
    from ww_bayes.release import Release, without_small_differences

    keys = {"level": ["overall", "by_region", "by_region"], "group": ["all", "A", "B"],
            "arm": ["service"] * 3, "category": "1"}  # fmt: skip
    before = pd.DataFrame({"fit": "job.nc", **keys, "persons": [500, 100, 100], "count": [300, 60, 60]})
    second = pd.DataFrame({"fit": "ww.nc", **keys, "persons": [500, 97, 85], "count": [200, 40, 30]})
    done = Release(Path("."), MIN_COUNT)
    out = without_small_differences(before, second, done)
    assert out["persons"].isna().tolist() == [False, True, False]  # 100 - 97 = 3 persons: suppressed
    assert out["count"].tolist() == [200, 40, 30] and done.notes


def test_cost_effectiveness_by_class_stays_behind_when_classes_are_merged(small_trajectory_run, tmp_path):
    """Net benefit per class, the class weights and the targeting rules describe classes: with merged
    classes only the whole-cohort quantities (and the figures drawn from them) are released."""
    from ww_bayes.cea import analyse, load_assumptions
    from ww_bayes.release import Grouping, Release, release_cea
    from ww_bayes.results import save_cea

    fit_path = small_trajectory_run.fit
    result = analyse(xr.load_datatree(fit_path), load_assumptions(MODELS / "cost_effectiveness.toml"))
    path = save_cea(result, tmp_path / "cost_effectiveness.nc", [fit_path])
    assert any("werkverkenner" in v.dims for v in result.data_vars.values()) and "rule" in result.dims
    done = Release(tmp_path / "release", MIN_COUNT)
    done.folder.mkdir()
    classes = {
        c: merged_name("werkverkenner") if c in ("0-25", "25-50") else c for c in ("0-25", "25-50", "50-75")
    }
    done.groupings = {"werkverkenner": Grouping("werkverkenner", classes)}
    release_cea(path, xr.load_datatree(path), done)
    out = xr.load_datatree(done.folder / "cost_effectiveness.nc")
    released = out["cost_effectiveness"].ds
    assert not any("werkverkenner" in released[v].dims for v in released.variables)
    assert "rule" not in released.dims and "net_benefit" in released
    names = {p.name for p in done.files}
    assert "cost_effectiveness_targeting.csv" not in names and "cea_net_benefit_by_class.png" not in names
    assert {"cost_effectiveness_summary.csv", "cea_ceac.png"} <= names
    assert str(tmp_path) not in out.attrs["fits"] and out.attrs["fits"] == fit_path.name
    assert (
        released.attrs["assumptions_source"] == "cost_effectiveness.toml"
        and "best_rule" not in released.attrs
    )
