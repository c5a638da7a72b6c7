"""`ww-bayes release` and `ww-bayes audit`: what leaves a secure environment passes the small-count rule;
every attack that recovers a count below it, from an unreleased fit file or from a release folder alone,
fails on the release and succeeds on a deliberately broken variant, which the audit refuses."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from PIL import Image
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.special import gammaln

import ww_bayes.audit as audit_module
import ww_bayes.release as release_module
from ww_bayes.audit import CHECKS, RELEASE_ATTRS, Audit, audit
from ww_bayes.cli import main
from ww_bayes.data.io import file_sha256, typed_cohort
from ww_bayes.inference import fit, observed_groups
from ww_bayes.kinds import kind_of, load_spec, parse_spec
from ww_bayes.kinds.common import OPTIONAL_GROUPS
from ww_bayes.record import CHECKS_FILE, FIELDS, NOTES, PATTERNS, RECORD_FORMAT, is_note, note, report_texts
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
from ww_bayes.results import save_fit, spec_of

MODELS = Path(__file__).resolve().parents[1] / "models"
pytestmark = pytest.mark.filterwarnings("ignore::ww_bayes.results.ConvergenceWarning")
EXTRA_ATTRS = set(RELEASE_ATTRS)


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
    refused = audit(naive.folder, MIN_COUNT)  # the audit, at the real rule, refuses the naive release
    failed = {check.key for check in refused.checks if not check.passed}
    assert "counts" in failed and not refused.passed


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
        assert attrs["spec_name"] == "job_finding_12m.toml"
        # the data's hash under the release's key: a reader cannot test a guessed data file against it
        assert attrs["data_sha256"] != tree.attrs["data_sha256"]
        assert attrs["data_sha256"] == done.data_hash(tree.attrs["data_sha256"])
        # the simulator's name and version, not the persons and seed it was run with
        assert re.search(r"\d+ persons, seed \d+", tree.attrs["synthetic_data"])
        assert re.fullmatch(r"ww_bayes \S+ simulator", attrs["synthetic_data"]), attrs["synthetic_data"]
    assert list(done.folder.glob("*_effects.png"))  # the figures exist (and are checked below)
    for png in done.folder.glob("*.png"):
        info = " ".join(map(str, Image.open(png).info.values()))
        assert str(folder) not in info and str(Path.home()) not in info
    assert not list(done.folder.glob("*.svg"))  # PNG only: the audit has no rule for an SVG's text


def test_disclosure_report_lists_every_file_check_and_merge(released):
    _, done, _ = released
    report = (done.folder / "disclosure_report.md").read_text()
    files = {p.name for p in done.folder.iterdir()} - {"disclosure_report.md", "disclosure_report.html"}
    files -= {"disclosure_checks.json"}  # the record: it lists the files with their SHA-256 itself
    assert files and all(f"| {name} |" in report for name in files)
    assert all(f"region {r}:" in report for r in done.groupings["region"].merged)
    record = json.loads((done.folder / "disclosure_checks.json").read_text())
    assert report.count(": passed") == len(record["checks"]) == len(CHECKS) and "FAILED" not in report
    assert f"Minimum count: {MIN_COUNT} persons" in report
    assert "<h2>Checks</h2>" in (done.folder / "disclosure_report.html").read_text()
    assert not list(done.folder.glob(".*"))  # no lock or temp file travels with it
    record = json.loads((done.folder / "disclosure_checks.json").read_text())
    assert set(record["outputs"]) == files and record["verdict"] == "pass"
    assert {c["check"] for c in record["checks"]} >= {"weights", "differences", "shares", "bounds"}
    assert all(entry["status"] == "pass" and entry["checks"] for entry in record["outputs"].values())
    assert record["groupings"]["region"]["levels"] == done.groupings["region"].groups


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


def test_cost_effectiveness_stays_behind_when_classes_are_merged(small_trajectory_run, tmp_path):
    """Net benefit per class, the class weights and the targeting rules describe classes, and so do the
    whole-cohort quantities (cohort-weighted means over classes of class inputs the shipped assumptions
    regenerate): with merged classes nothing of the result is written, and the note says why; with every
    class released as itself, the whole result is released with its file names only."""
    from ww_bayes.cea import analyse, load_assumptions
    from ww_bayes.release import Grouping, Release, release_cea
    from ww_bayes.results import save_cea

    fit_path = small_trajectory_run.fit
    result = analyse(xr.load_datatree(fit_path), load_assumptions(MODELS / "cost_effectiveness.toml"))
    path = save_cea(result, tmp_path / "cost_effectiveness.nc", [fit_path])
    assert any("werkverkenner" in v.dims for v in result.data_vars.values()) and "rule" in result.dims
    labels = [str(c) for c in result["werkverkenner"].values]
    for merged, folder in ((True, "merged"), (False, "whole")):
        done = Release(tmp_path / folder, MIN_COUNT)
        done.folder.mkdir()
        classes = {c: merged_name("werkverkenner") if merged and c in labels[:2] else c for c in labels}
        done.groupings = {"werkverkenner": Grouping("werkverkenner", classes)}
        release_cea(path, xr.load_datatree(path), done)
        if merged:
            assert not list(done.folder.iterdir()) and not done.files
            assert any("withheld cost_effectiveness.nc" in n and "classes merged" in n for n in done.notes)
            continue
        out = xr.load_datatree(done.folder / "cost_effectiveness.nc")
        assert "werkverkenner" in out["cost_effectiveness"].ds.dims
        assert str(tmp_path) not in out.attrs["fits"] and out.attrs["fits"] == fit_path.name
        assert out["cost_effectiveness"].ds.attrs["assumptions_source"] == "cost_effectiveness.toml"


# --- attacks on a hand-made sparse cohort: each leak, on the release and on a broken variant ---------------

#: The hand-made cohort's persons per arm (service, control_enforcement, control_none) in every cell of a
#: large region, and in the small region per class.
BIG_CELL = (120, 15, 15)
SMALL_REGION = {
    "service": (3, 3, 2, 2, 2),
    "control_enforcement": (2, 2, 1, 0, 0),
    "control_none": (3, 3, 2, 1, 0),
}
ARMS = ("service", "control_enforcement", "control_none")
CLASSES = ("0-25", "25-50", "50-75", "75-100", "none")


def sparse_cohort(regions: list[str], seed: int = 3) -> pd.DataFrame:
    """3,563 persons in 5 classes x 6 regions: 120 / 15 / 15 persons per arm in every cell, except that the
    last region holds 12 / 5 / 9 (its 75-100 cell has no control_enforcement, its none cell only 2 service
    persons), class 75-100 has 8 control_none persons in all, and the cell (0-25, fifth region) holds 5
    service persons and no controls. Jobs and WW receipt at month 12 drawn at 55% and 40%."""
    persons = {(c, r): dict(zip(ARMS, BIG_CELL, strict=True)) for c in CLASSES for r in regions[:-1]}
    for region, n in zip(regions[:-1], (2, 2, 2, 1, 0), strict=True):
        persons[("75-100", region)]["control_none"] = n
    persons[("0-25", regions[4])] = {"service": 5, "control_enforcement": 0, "control_none": 0}
    for i, cls in enumerate(CLASSES):
        persons[(cls, regions[-1])] = {arm: SMALL_REGION[arm][i] for arm in ARMS}
    rows = [(c, r, arm) for (c, r), arms in persons.items() for arm, n in arms.items() for _ in range(n)]
    df = pd.DataFrame(rows, columns=["werkverkenner", "region", "arm"])
    rng = np.random.default_rng(seed)
    df.insert(0, "person_id", np.arange(1, len(df) + 1))
    df["employed_m12"] = rng.binomial(1, 0.55, len(df)).astype(float)
    df["ww_m12"] = rng.binomial(1, 0.4, len(df)).astype(float)
    return df


def fit_of(tree: xr.DataTree, spec, cohort: pd.DataFrame) -> xr.DataTree:
    """A fit of ``spec`` on the hand-made ``cohort``: its cells, composition and estimands (the kind's own
    ``prepare`` and ``derive``), with the cell-rate draws of ``tree`` (a fit of the small cohort, whose
    classes and regions the hand-made one uses) standing in for its posterior: a release reads only the
    estimands, counts and composition, which are the hand-made cohort's."""
    kind = kind_of(spec)
    data = kind.prepare(spec, typed_cohort(cohort, kind.required_columns(spec)))
    rate = tree["posterior"].ds["rate"].sel({f: data.levels[f] for f in data.factors})
    out = xr.DataTree()
    out["posterior"] = xr.DataTree(xr.Dataset({"rate": rate}))
    for name, group in observed_groups(data).items():
        out[name] = xr.DataTree(group)
    out[kind.name] = kind.derive(spec, data, xr.Dataset({"rate": rate}))
    out["diagnostics"] = tree["diagnostics"].copy()
    out.attrs.update(tree.attrs)
    digest = hashlib.sha256(pd.util.hash_pandas_object(cohort, index=False).to_numpy().tobytes()).hexdigest()
    out.attrs.update({"data_sha256": digest, "outcome": spec.outcome, "model_name": spec.name,
                      "spec_text": spec.text, "spec_source": f"{spec.name}.toml"})  # fmt: skip
    return out


@dataclass
class Sparse:
    tree: xr.DataTree
    regions: list[str]
    cohort: pd.DataFrame
    job: object
    ww: object

    def results(self, folder: Path, **fits) -> Path:
        """A results folder with a fit per keyword: file stem -> (spec, cohort)."""
        for stem, (spec, cohort) in fits.items():
            save_fit(fit_of(self.tree, spec, cohort), folder / f"{stem}.nc")
        return folder

    def without(self, rows: pd.Index) -> pd.DataFrame:
        return self.cohort.drop(index=rows)


@pytest.fixture(scope="module")
def sparse(released) -> Sparse:
    tree = released[0]
    regions = [str(r) for r in tree["posterior"].ds["region"].values[:6]]
    return Sparse(
        tree, regions, sparse_cohort(regions), spec_of(tree), load_spec(MODELS / "ww_claim_12m.toml")
    )


def sensitivity_rows(sparse: Sparse, persons: int, employed: int) -> pd.Index:
    """Control_none persons of the first region, ``employed`` of them with a job at month 12: the persons a
    sensitivity fit leaves out."""
    cohort = sparse.cohort
    where = (cohort["region"] == sparse.regions[0]) & (cohort["arm"] == "control_none")
    jobs = cohort.index[where & (cohort["employed_m12"] == 1)][:employed]
    others = cohort.index[where & (cohort["employed_m12"] == 0)][: persons - employed]
    return jobs.union(others)


@pytest.fixture(scope="module")
def sparse_release(sparse, tmp_path_factory) -> release_module.Release:
    """The job and WW fits of the sparse cohort, the cost-effectiveness computed from them, and two
    sensitivity fits of jobs on subsets: one without 12 control_none persons of a region (10 with a job),
    one without 3 of them; released."""
    from ww_bayes.cea import analyse, load_assumptions
    from ww_bayes.results import save_cea

    folder = tmp_path_factory.mktemp("sparse")
    results = sparse.results(
        folder / "results",
        job_sensitivity=(sparse.job, sparse.without(sensitivity_rows(sparse, 12, 10))),
        job_small=(sparse.job, sparse.without(sensitivity_rows(sparse, 3, 2))),
    )
    fits = {
        "job": fit_of(sparse.tree, sparse.job, sparse.cohort),
        "ww": fit_of(sparse.tree, sparse.ww, sparse.cohort),
    }
    paths = [save_fit(tree, results / f"{name}.nc") for name, tree in fits.items()]
    result = analyse(list(fits.values()), load_assumptions(MODELS / "cost_effectiveness.toml"))
    save_cea(result, results / "cost_effectiveness.nc", paths)
    with variant():
        return release(results, folder / "release")


#: The hand-made cohorts' releases draw no figures (no leak goes through them, and they take time; the
#: figures check is tried on a release with its figures).
NO_FIGURES = {"fit_figures": lambda stem, tree, table: {}, "cea_figures_of": lambda result: {}}


@contextlib.contextmanager
def variant(**replaced):
    """A release with some of its functions ``replaced``, without figures."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in (NO_FIGURES | replaced).items():
            patch.setattr(release_module, name, value)
        yield


def broken_variant(**replaced):
    """A broken variant: some functions ``replaced`` and the gate off (no audit of the written folder,
    which is audited on its own afterwards)."""
    gate_off = lambda folder, min_count, only=None, building=False: Audit(Path(folder), min_count, [])  # noqa: E731
    return variant(audit=gate_off, **replaced)


AUDITS: dict[Path, object] = {}


def failed_checks(folder: Path) -> dict[str, list[str]]:
    """The findings of each failed check of the audit of ``folder`` (audited once per test run)."""
    if folder not in AUDITS:
        AUDITS[folder] = audit(folder)
    return {check.key: check.findings for check in AUDITS[folder].checks if not check.passed}


def recovered_persons(estimates: Path, factor: str) -> pd.Series:
    """The attack of weights recovery: least squares of the overall effect draws on the ``factor`` level's
    gives each group's share; the smallest whole total that makes every share a whole number of persons
    gives the persons per group (all arms, outcome observed or not); ``all``: the total."""
    tree = xr.load_datatree(estimates)
    overall, level = tree["effects/overall"].ds["effect_pp"], tree[f"effects/{factor}"].ds["effect_pp"]
    x = level.transpose("chain", "draw", "contrast", factor).values.reshape(-1, level.sizes[factor])
    y = overall.transpose("chain", "draw", "contrast").values.reshape(-1)
    weights = np.linalg.lstsq(x, y, rcond=None)[0]
    total = next(n for n in range(2, 100_000) if np.allclose(n * weights, np.rint(n * weights), atol=1e-6))
    return pd.Series([*np.rint(total * weights), total], index=[*map(str, level[factor].values), "all"])


def read_counts(folder: Path) -> pd.DataFrame:
    path = folder / "counts.csv"
    columns = ["fit", "level", "group", "arm", "category", "persons", "count"]
    if not path.exists():
        return pd.DataFrame(columns=columns)
    return pd.read_csv(path, dtype={"group": str, "category": str})


@pytest.fixture(scope="module")
def unobserved(sparse, tmp_path_factory) -> tuple[pd.DataFrame, release_module.Release, Path]:
    """The sparse cohort with employed_m12 unobserved for 3 persons (class 50-75: 1, none: 2) and its job
    fit, beside a damaged file: the release, and a broken variant that neither weighs the persons the
    estimands give nor reduces the paths in its messages to file names."""
    folder = tmp_path_factory.mktemp("unobserved")
    cohort = sparse.cohort.copy()
    service = cohort["arm"] == "service"
    one = cohort.index[
        service & (cohort["werkverkenner"] == "50-75") & (cohort["region"] == sparse.regions[0])
    ]
    two = cohort.index[
        service & (cohort["werkverkenner"] == "none") & (cohort["region"] == sparse.regions[1])
    ]
    cohort.loc[one[:1].union(two[:2]), "employed_m12"] = np.nan
    results = sparse.results(folder / "results", job=(sparse.job, cohort))
    (results / "damaged.nc").write_bytes(b"not a NetCDF file")
    with variant():
        done = release(results, folder / "release")
    nobody = pd.DataFrame(columns=["fit", "level", "group", "persons"])
    with broken_variant(cohort_rows=lambda fit, factor, mapping: nobody, text_findings=lambda *args: []):
        release(results, folder / "broken")
    return cohort, done, folder / "broken"


def test_weights_recovery_gives_no_small_count_of_unobserved_persons(unobserved):
    """Leak 1: the effects' weights give the persons per class, all of them; counts.csv gives those with
    the outcome observed. On the release the whole-cohort difference is 3, so the fit's counts stay
    behind; on the broken variant the attack pins 1 and 2, and the audit refuses it."""
    cohort, done, broken = unobserved

    def attack(folder: Path) -> pd.Series:
        persons = recovered_persons(folder / "job_estimates.nc", "werkverkenner")
        counts = read_counts(folder)
        observed = counts[counts["level"] == "by_werkverkenner"].groupby("group")["persons"].sum()
        return (persons.drop("all") - observed).dropna()

    assert recovered_persons(done.folder / "job_estimates.nc", "werkverkenner")["all"] == len(cohort)
    assert attack(done.folder).empty  # the fit's counts are not released: nothing to subtract
    assert any("counts.csv, job.nc: not released" in note for note in done.notes)
    assert attack(broken).loc[["50-75", "none"]].tolist() == [1, 2]
    failed = failed_checks(broken)
    assert any("by_werkverkenner/50-75" in f and "differ by 1" in f for f in failed["differences"])


def test_withheld_files_are_named_by_file_name_only(unobserved, tmp_path):
    """Leak 5: the reason a damaged file is withheld names it by file name only (the reading error, which
    may quote a path, goes to the screen without it); a record forged to carry the error with its path (the
    broken variant: a release that writes the error as it is) is refused, and so is its report."""
    _, done, _ = unobserved
    report = (done.folder / "disclosure_report.md").read_text()
    assert "damaged.nc: not readable" in report and str(done.folder.parent) not in report
    assert str(done.folder.parent) not in done.unreadable["damaged.nc"]
    forged_record = tmp_path / "forged"
    shutil.copytree(done.folder, forged_record)
    record = json.loads((forged_record / "disclosure_checks.json").read_text())
    record["withheld"] = [f"damaged.nc: {done.folder.parent / 'results' / 'damaged.nc'}: not a NetCDF file"]
    (forged_record / "disclosure_checks.json").write_text(json.dumps(record))
    for name, text in report_texts(record).items():
        (forged_record / name).write_text(text)
    failed = failed_checks(forged_record)
    assert any("withheld" in f and "not a sentence the release writes" in f for f in failed["record"])
    assert any("disclosure_report.md" in f and "path" in f for f in failed["text"])


@pytest.fixture(scope="module")
def sparse_broken(sparse_release, tmp_path_factory) -> Path:
    """The sparse release's results released by a broken variant: no differencing between fits, the
    shares released exact, and the cost-effectiveness by class whatever the grouping."""
    folder = tmp_path_factory.mktemp("sparse_broken")
    values_only = lambda facts, min_count: pd.DataFrame(  # noqa: E731
        {"group": facts.loc[breaks_rule(facts["value"].fillna(0), min_count), "group"]}
    )
    exact = lambda ds, tree, min_count, notes: ds  # noqa: E731
    with broken_variant(
        fact_failures=values_only, released_shares=exact, cea_classes_released=lambda classes, labels: True
    ):
        release(sparse_release.folder.parent / "results", folder / "broken")
    return folder / "broken"


def test_differences_between_fits_of_one_outcome_give_no_small_count(sparse_release, sparse_broken):
    """Leak 2: a sensitivity fit without 12 control_none persons of a region, 10 of them with a job: every
    count of the two fits passes, but their complements differ by 2. The release withholds it, and a fit
    whose cohort differs by 3 persons (both differ by fewer than twice the minimum count: a window of 1..9
    would tell that the difference is below 10); on the broken variant the attack pins the 2, and the audit
    refuses it."""

    def attack(folder: Path) -> list[tuple]:
        counts = read_counts(folder)
        counts = counts.assign(complement=counts["persons"] - counts["count"])
        pairs = counts.merge(counts, on=["level", "group", "arm", "category"])
        pairs = pairs[pairs["fit_x"] < pairs["fit_y"]]
        found = []
        for column in ("persons", "count", "complement"):
            small = pairs[breaks_rule((pairs[f"{column}_x"] - pairs[f"{column}_y"]).abs(), MIN_COUNT)]
            found += [(row.level, row.group, row.arm, column) for row in small.itertuples()]
        return found

    done = sparse_release
    assert attack(done.folder) == []
    assert "job.nc" in set(read_counts(done.folder)["fit"]) - {"job_sensitivity.nc", "job_small.nc"}
    released = {p.name for p in done.folder.glob("*_estimates.nc")}
    assert "job_estimates.nc" in released
    assert not {"job_sensitivity_estimates.nc", "job_small_estimates.nc"} & released  # 12 and 3 fewer
    for name in ("job_sensitivity.nc", "job_small.nc"):
        assert any(
            item.startswith(f"{name}: not released") and "fewer than 20" in item for item in done.withheld
        )
    assert ("overall", "all", "control_none", "complement") in attack(sparse_broken)
    assert any("differ by 2" in f for f in failed_checks(sparse_broken)["differences"])


def exclusive_cohort(sparse: Sparse) -> pd.DataFrame:
    """The sparse cohort where nobody is both at work and on WW at month 12, and everybody is one of the two
    but for 3 control_none persons of the first region (class 0-25) and 4 service persons of class 25-50 of
    the second, who have neither."""
    cohort = sparse.cohort.copy()
    cohort["ww_m12"] = 1.0 - cohort["employed_m12"]
    for region, cls, arm, n in ((0, "0-25", "control_none", 3), (1, "25-50", "service", 4)):
        where = (cohort["region"] == sparse.regions[region]) & (cohort["werkverkenner"] == cls)
        rows = cohort.index[where & (cohort["arm"] == arm)][:n]
        cohort.loc[rows, ["employed_m12", "ww_m12"]] = 0.0
    return cohort


def neither_attack(folder: Path) -> list[tuple]:
    """The attack on outcomes that exclude each other: per released group and arm, the persons of the job
    fit less its count and the WW fit's count: the persons with neither, when that is 1 to 9."""
    counts = read_counts(folder)
    pairs = counts[counts["fit"] == "job.nc"].merge(
        counts[counts["fit"] == "ww.nc"], on=["level", "group", "arm"]
    )
    neither = pairs["persons_x"] - pairs["count_x"] - pairs["count_y"]
    found = pairs[breaks_rule(neither, MIN_COUNT)].assign(neither=neither)
    return sorted(zip(found["level"], found["group"], found["arm"], found["neither"], strict=True))


def test_outcomes_that_exclude_each_other_give_no_persons_with_neither(sparse, tmp_path):
    """At work and on WW at month 12 exclude each other in this cohort: every count passes, but the job
    fit's count and the WW fit's persons without WW differ by the persons with neither (3 and 4). The
    release keeps the WW fit's estimates and leaves its counts out of counts.csv, saying so; the broken
    variant (no such decision) releases them, the attack pins 3 and 4, and the audit refuses it."""
    cohort = exclusive_cohort(sparse)
    results = sparse.results(tmp_path / "results", job=(sparse.job, cohort), ww=(sparse.ww, cohort))
    with variant():
        done = release(results, tmp_path / "release")
    assert neither_attack(done.folder) == []
    counts = read_counts(done.folder)
    assert set(counts["fit"]) == {"job.nc"}
    assert (done.folder / "ww_estimates.nc").is_file()
    assert sum(item.startswith("counts.csv, ww.nc ") for item in done.notes) == 3  # overall and 2 factors
    with broken_variant(decide_opposites=lambda fits, groupings, min_count, done: None):
        release(results, tmp_path / "broken")
    pinned = neither_attack(tmp_path / "broken")
    assert ("overall", "all", "control_none", 3) in pinned and ("overall", "all", "service", 4) in pinned
    findings = failed_checks(tmp_path / "broken")["differences"]
    assert any(re.search(r"control_none: persons of ww.nc less the counts of job.nc .*and ww.nc .*is -?3$", f)
               for f in findings)  # fmt: skip


def test_outcomes_that_exclude_each_other_give_no_persons_with_neither_through_the_cohort(sparse, tmp_path):
    """The same cohort with 25 persons at work whose WW receipt is unobserved and 25 on WW whose work is:
    each fit's persons less both counts is 18 (7 with neither, less 25), but the cohort's persons, which
    weights recovery gives, less both counts are the 7 with neither. The release leaves the WW counts out;
    the broken variant releases them, the attack pins 7, and the audit refuses it."""
    cohort = exclusive_cohort(sparse)
    service = cohort["arm"] == "service"
    working = cohort.index[service & (cohort["employed_m12"] == 1) & (cohort["region"] == sparse.regions[2])]
    on_ww = cohort.index[service & (cohort["ww_m12"] == 1) & (cohort["region"] == sparse.regions[3])]
    cohort.loc[working[:25], "ww_m12"] = np.nan
    cohort.loc[on_ww[:25], "employed_m12"] = np.nan
    results = sparse.results(tmp_path / "results", job=(sparse.job, cohort), ww=(sparse.ww, cohort))

    def attack(folder: Path) -> list[float]:
        counts = read_counts(folder)
        cohort = audit_module.recover_cohort(audit_module.read_folder(folder))["job.nc"]  # weights recovery
        whole = float(cohort.loc[cohort["level"] == "overall", "persons"].iloc[0])
        overall = counts[counts["level"] == "overall"].groupby("fit")["count"].sum()
        left = whole - overall.get("job.nc", np.nan) - overall.get("ww.nc", np.nan)
        return [left] if breaks_rule(np.array([left]), MIN_COUNT).any() else []

    with variant():
        done = release(results, tmp_path / "release")
    assert attack(done.folder) == [] and "ww.nc" not in set(read_counts(done.folder)["fit"])
    with broken_variant(decide_opposites=lambda fits, groupings, min_count, done: None):
        release(results, tmp_path / "broken")
    assert attack(tmp_path / "broken") == [7]
    findings = failed_checks(tmp_path / "broken")["differences"]
    assert any(
        re.search(r"all arms: cohort persons of (job|ww).nc less the counts .* is 7$", f) for f in findings
    )


def test_three_outcomes_that_exclude_each_other_give_no_persons_with_none(sparse, tmp_path):
    """At work at month 12, on WW at month 12 and on WW at month 11 only (40 persons) exclude each other:
    every pair of counts leaves 47 or more, but the cohort less all three counts is the 7 with none. The
    release leaves counts out; the broken variant releases them and the audit refuses it."""
    cohort = exclusive_cohort(sparse)
    moved = cohort.index[(cohort["ww_m12"] == 1) & (cohort["arm"] == "service")][:40]
    cohort["ww_m11"] = 0.0
    cohort.loc[moved, ["ww_m12", "ww_m11"]] = [0.0, 1.0]
    month_11 = parse_spec(sparse.ww.text.replace('outcome = "ww_m12"', 'outcome = "ww_m11"'), "ww11.toml")
    results = sparse.results(tmp_path / "results", job=(sparse.job, cohort), ww=(sparse.ww, cohort),
                             ww11=(month_11, cohort))  # fmt: skip
    with variant():
        done = release(results, tmp_path / "release")
    counts = read_counts(done.folder)
    overall = counts[(counts["level"] == "overall") & (counts["arm"] == "service")].set_index("fit")
    assert len(overall) < 3  # not every fit's overall counts
    with broken_variant(decide_opposites=lambda fits, groupings, min_count, done: None):
        release(results, tmp_path / "broken")
    findings = failed_checks(tmp_path / "broken")["differences"]
    assert any(re.search(r"less the counts of job.nc .*and ww.nc .*and ww11.nc .*is 7$", f) for f in findings)


def _grouping_record(levels: dict[str, str]) -> dict:
    return {"merged_group": "other regions", "levels": levels, "suppressed": False, "why": {}}


def test_differences_are_taken_where_a_fit_s_groups_add_up_to_another_s_coarser_ones(tmp_path):
    """A fit released with a coarser grouping of its own (B and C merged) beside one that keeps them apart:
    the finer fit's persons of B and C added up differ from the coarser fit's persons of 'other regions' by
    3. The audit compares them at the coarser grouping and finds it; compared under the labels as released
    (the broken variant: the release's grouping only), nothing shows it. Groupings that do not nest (a
    reader subtracts one from the other) are a finding themselves."""
    apart = {"A": "A", "B": "B", "C": "C"}
    record = {"groupings": {"region": _grouping_record(apart)},
              "fits": {"fine.nc": {"groupings": {}}, "coarse.nc": {"groupings": {"region": _grouping_record(
                  {"A": "A", "B": "other regions", "C": "other regions"})}}}}  # fmt: skip
    counts = pd.DataFrame({"fit": ["fine.nc"] * 3 + ["coarse.nc"] * 2, "level": "by_region",
                           "group": ["A", "B", "C", "A", "other regions"], "arm": "service", "category": "1",
                           "persons": [100.0, 40.0, 45.0, 80.0, 88.0],
                           "count": [20.0, 10.0, 10.0, 20.0, 20.0]})  # fmt: skip
    folder = audit_module.Folder(tmp_path, record, 10, {"region": apart}, [], {}, counts, {})
    findings, _ = audit_module.check_differences(folder)
    assert any(f.startswith("by_region/other regions, service: persons of coarse.nc") and "differ by 3" in f
               for f in findings), findings  # fmt: skip
    facts = audit_module.count_facts(audit_module.summed_overall(counts))
    as_labelled = audit_module.fact_failures(facts, 10)
    assert not any("differ by 3" in f for f in as_labelled["finding"])

    record["groupings"]["region"] = _grouping_record({"A": "A", "B": "other regions", "C": "other regions"})
    record["fits"]["coarse.nc"]["groupings"]["region"] = _grouping_record(
        {"A": "other regions", "B": "other regions", "C": "C"})  # fmt: skip
    folder = audit_module.Folder(tmp_path, record, 10, {"region": record["groupings"]["region"]["levels"]},
                                 [], {}, counts.assign(group=["A", "other regions", "other regions",
                                                              "other regions", "C"]), {})  # fmt: skip
    findings, _ = audit_module.check_differences(folder)
    assert any("the groupings of region in fine.nc and coarse.nc do not nest" in f for f in findings)


def test_withheld_overall_counts_rebuilt_from_the_groups_are_attacked_too():
    """A fit whose overall rows are left out but whose class rows are not: the classes add up to the
    overall, and the audit's differencing attacks the overall it rebuilds (persons 200, counts 120 and 74
    leave 6); the release withholds such a fit's group rows with its overall ones."""
    rows = [("job.nc", "overall", "all", "service", "1", 200, 120)]
    rows += [("ww.nc", "by_werkverkenner", cls, "service", "1", 100, count) for cls, count in (("0-25", 30),
             ("25-50", 44))]  # fmt: skip
    counts = pd.DataFrame(rows, columns=["fit", "level", "group", "arm", "category", "persons", "count"])
    rebuilt = audit_module.summed_overall(counts)
    assert rebuilt[(rebuilt["fit"] == "ww.nc") & (rebuilt["level"] == "overall")][
        ["persons", "count"]
    ].values.tolist() == [[200, 74]]
    findings = audit_module.opposite_failures(audit_module.count_facts(rebuilt), MIN_COUNT)["finding"]
    assert any(f.startswith("overall/all, service:") and f.endswith(" is 6") for f in findings)
    assert audit_module.opposite_failures(audit_module.count_facts(counts), MIN_COUNT).empty


def test_no_more_than_three_fits_counts_at_a_level(sparse, tmp_path):
    """Four outcomes' counts would leave sets of four the differencing does not take: the release keeps the
    counts of the first three fits in file order and says so for the fourth; a folder holding four fits'
    counts at a level is refused."""
    cohort = sparse.cohort.assign(employed_m12=1.0, ww_m12=1.0, ww_m11=1.0)  # every count = its persons
    month_11 = parse_spec(sparse.ww.text.replace('outcome = "ww_m12"', 'outcome = "ww_m11"'), "ww11.toml")
    results = sparse.results(tmp_path / "results", a_job=(sparse.job, cohort), b_ww=(sparse.ww, cohort),
                             c_ww11=(month_11, cohort), d_job=(sparse.job, cohort))  # fmt: skip
    with variant():
        done = release(results, tmp_path / "release")
    counts = read_counts(done.folder)
    assert counts.groupby("level")["fit"].nunique().max() <= 3 and "d_job.nc" not in set(counts["fit"])
    assert any(item.startswith("counts.csv, d_job.nc overall: not released (3 fits") for item in done.notes)
    with broken_variant(COUNTED_FITS=4):
        release(results, tmp_path / "broken")
    assert any("counts of 4 fits" in f for f in failed_checks(tmp_path / "broken")["differences"])


def pattern_bounds(shares: dict[str, float], whole: int) -> dict[tuple, tuple[float, float]]:
    """The attack of inclusion-exclusion: persons of each pattern of pooling-only flags over the three
    contrasts (a cell without one arm is flagged for the two contrasts with it; without two arms, for all
    three) as whole unknowns, each contrast's flagged persons = its share x the cohort; min and max of each
    pattern by scipy's milp."""
    contrasts = ("service_vs_control_enforcement", "enforcement_vs_none", "service_vs_control_none")
    patterns = [(0, 0, 0), (1, 0, 1), (1, 1, 0), (0, 1, 1), (1, 1, 1)]
    rows = [np.ones(5)] + [np.array([p[j] for p in patterns], float) for j in range(3)]
    values = [whole] + [shares[c] * whole for c in contrasts]
    out = {}
    for i, pattern in enumerate(patterns):
        bounds = []
        for sign in (1, -1):
            released = LinearConstraint(np.array(rows), np.array(values) - 1e-6, np.array(values) + 1e-6)
            result = milp(
                sign * np.eye(5)[i], constraints=released, integrality=np.ones(5), bounds=Bounds(0, np.inf)
            )
            bounds.append(sign * result.fun)
        out[pattern] = tuple(bounds)
    return out


def test_shares_give_no_small_count_by_inclusion_exclusion(sparse_release, sparse_broken):
    """Leak 3: the pooling-only share per contrast, times the cohort the weights give, is the persons in
    pooling-only cells; inclusion-exclusion with whole numbers bounds the persons of cells without both
    control arms (5 + 2 service persons) inside 1..7. The release gives no shares (a pattern breaks the
    rule); on the broken variant, which releases them exact, the attack bounds it, and the audit refuses
    it."""
    estimates = sparse_release.folder / "job_estimates.nc"
    assert xr.load_datatree(estimates)["effects/overall"].ds["pooling_only_share"].isnull().all()
    share = xr.load_datatree(sparse_broken / "job_estimates.nc")["effects/overall"].ds["pooling_only_share"]
    whole = recovered_persons(sparse_broken / "job_estimates.nc", "region")["all"]
    shares = {str(c): float(v) for c, v in zip(share["contrast"].values, share.values, strict=True)}
    low, high = pattern_bounds(shares, int(whole))[(1, 1, 1)]
    assert 1 <= low <= high <= 7
    assert any("flagged xxx" in f for f in failed_checks(sparse_broken)["shares"])


def tornado_share(folder: Path, cls: str) -> float | None:
    """The attack on a cost-effectiveness file: a class's share of the cohort from the tornado row of its
    service cost (the overall net benefit moves by the share times the cost's spread)."""
    if not (folder / "cost_effectiveness.nc").is_file():
        return None
    cea = xr.load_datatree(folder / "cost_effectiveness.nc")["cost_effectiveness"].ds
    if f"service_cost[{cls}]" not in cea["input"].values:
        return None
    row = cea.sel(input=f"service_cost[{cls}]")
    spread = float(row["tornado_input_q95"] - row["tornado_input_q05"])
    return float(row["tornado_net_benefit_at_q05"] - row["tornado_net_benefit_at_q95"]) / spread


def test_cost_effectiveness_goes_through_the_gate(sparse, sparse_release, sparse_broken, tmp_path):
    """Leak 4: a cost-effectiveness file alone is refused with the reason; with its fits, nothing is said of
    one class when classes are merged (75-100 has 8 control_none persons): the result is withheld whole,
    since even its overall quantities are cohort-weighted means of class inputs the shipped assumptions
    regenerate (least squares on them gives each class's persons). On the broken variants (with its fits,
    or alone) the attack reads class 75-100's share of the
    cohort, and the audit refuses both."""
    done = sparse_release
    assert "75-100" in done.groupings["werkverkenner"].merged and tornado_share(done.folder, "75-100") is None
    assert not list(done.folder.glob("cost_effectiveness*")) and not list(done.folder.glob("cea_*"))
    assert any("withheld cost_effectiveness.nc" in n and "classes merged" in n for n in done.notes)
    persons = sparse.cohort["werkverkenner"].value_counts()
    share = tornado_share(sparse_broken, "75-100")
    assert share == pytest.approx(persons["75-100"] / len(sparse.cohort), rel=1e-6)
    findings = failed_checks(sparse_broken)["cost_effectiveness"]
    assert any("75-100" in f for f in findings) and any("merged classes" in f for f in findings)
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(done.folder.parent / "results" / "cost_effectiveness.nc", alone)
    refused = "nothing to release: cost_effectiveness.nc: not released: 2 of the 2"
    with variant(), pytest.raises(ReleaseError, match=refused):
        release(alone, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    with broken_variant(
        cea_refusal=lambda name, tree, hashes, suppressed: "",
        cea_classes_released=lambda classes, labels: True,
    ):
        broken = release(alone, tmp_path / "broken")
    assert tornado_share(broken.folder, "75-100") == pytest.approx(share, rel=1e-9)
    assert any("without the fits" in f for f in failed_checks(broken.folder)["cost_effectiveness"])


def changed_fit(tree: xr.DataTree, path: str, change) -> xr.DataTree:
    changed = tree.copy()
    changed[path] = xr.DataTree(change(tree[path].to_dataset()))
    return changed


FAIL_CLOSED = {
    "'persons_by_sex'": ("effects/overall", lambda ds: ds.assign(
        persons_by_sex=xr.DataArray([2, 1], dims="sex"))),
    "'arm'": ("effects/werkverkenner", lambda ds: ds.assign(
        effect_pp=ds["effect_pp"].expand_dims(arm=list(ARMS), axis=-1))),
    "int64 values": ("effects/overall", lambda ds: ds.assign(
        pooling_only_share=xr.DataArray([3, 0, 7], dims="contrast"))),
    "outside 0..1": ("effects/overall", lambda ds: ds.assign(
        pooling_only_share=ds["pooling_only_share"] * 0 + 5)),
    "small count": ("effects/region", lambda ds: ds.assign_attrs(
        weights="region Drenthe: service 12, control_enforcement 5, control_none 9")),
    "file path": ("effects/overall", lambda ds: ds.assign(
        effect_pp=ds["effect_pp"].assign_attrs(units="/home/analyst/projects/ww/results/job.nc"))),
    "'divergences_by_chain'": ("diagnostics", lambda ds: ds.assign(
        divergences_by_chain=xr.DataArray([5, 9, 3], dims="arm"))),
    "'design'": ("diagnostics", lambda ds: ds.assign_attrs(design="region Drenthe: 3 persons")),
    "diagnostics/r_hat_max holds int": ("diagnostics", lambda ds: ds.assign(
        r_hat_max=ds["r_hat_max"].astype(int))),
    "the same value in every draw": ("effects/region", lambda ds: ds.assign(effect_pp=ds["effect_pp"].where(
        ds["region"] != ds["region"][0], 7.0 + 1e-9 * np.random.default_rng(1).normal(
            size=ds["effect_pp"].shape)))),
    "coordinate 'n_persons'": ("effects/region", lambda ds: ds.assign_coords(
        n_persons=("region", np.arange(ds.sizes["region"])))),
    "same value in every draw": ("effects/werkverkenner", lambda ds: ds.assign(
        effect_pp=ds["effect_pp"].where(ds["werkverkenner"] != ds["werkverkenner"][0], 7.0))),
    "'three persons'": ("effects/region", lambda ds: ds.assign_attrs(
        weights="three persons in Drenthe lack the outcome")),
    "'drie personen'": ("effects/region", lambda ds: ds.assign_attrs(weights="Drenthe: drie personen")),
    "'8 controls'": ("effects/region", lambda ds: ds.assign_attrs(weights="Drenthe: 8 controls")),
    "a file path": ("effects/overall", lambda ds: ds.assign(
        effect_pp=ds["effect_pp"].assign_attrs(units="see ../results/job.nc"))),
}  # fmt: skip


def test_the_release_fails_closed_and_leaves_nothing_behind(sparse, tmp_path):
    """Each thing the release has no rule for (a variable, a dim, a count where an estimand or share
    belongs, a small count or a path in an attribute of the derived group or of a variable, the convergence
    table's variables, attributes and types) refuses it with one line naming it, before anything is
    written; a release whose audit fails after writing leaves nothing behind either."""
    base = fit_of(sparse.tree, sparse.job, sparse.cohort)
    for named, (path, change) in FAIL_CLOSED.items():
        with pytest.raises(ReleaseError, match=re.escape(named)):
            release_module.check_releasable("job.nc", changed_fit(base, path, change))
    path, change = FAIL_CLOSED["'persons_by_sex'"]
    save_fit(changed_fit(base, path, change), tmp_path / "refused" / "results" / "job.nc")
    with pytest.raises(ReleaseError, match="'persons_by_sex'"):
        release(tmp_path / "refused" / "results", tmp_path / "refused" / "release")
    save_fit(base, tmp_path / "unmerged" / "results" / "job.nc")
    decide = release_module.decide_grouping
    with variant(decide_grouping=lambda tables, f, m: unmerged(decide(tables, f, m))):  # the audit refuses
        with pytest.raises(ReleaseError, match="failed its checks on the written files.*first findings"):
            release(tmp_path / "unmerged" / "results", tmp_path / "unmerged" / "release")
    for case in ("refused", "unmerged"):
        assert {p.name for p in (tmp_path / case).iterdir()} == {"results"}  # no release, temp or lock


def unmerged(grouping: release_module.Grouping) -> release_module.Grouping:
    return release_module.Grouping(grouping.factor, {level: level for level in grouping.groups})


def test_the_audit_command_passes_a_release_and_refuses_a_planted_count(unobserved, tmp_path, capsys):
    """`ww-bayes audit` on a release: every check passes. The same folder with a count of 5 persons planted
    (a counts.csv row of control_none in class 50-75) is refused, and so it is when the record is forged to
    list the planted file with its SHA-256; a folder without the record is not a release."""
    folder = unobserved[1].folder
    assert main(["audit", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "passes" in out and out.count("passed (") == len(audit(folder).checks)
    planted = tmp_path / "planted"
    shutil.copytree(folder, planted)
    row = {"fit": "job.nc", "level": "by_werkverkenner", "group": "50-75", "arm": "control_none",
           "category": "1", "persons": 5, "count": 2}  # fmt: skip
    pd.DataFrame([row]).to_csv(planted / "counts.csv", index=False)
    assert main(["audit", str(planted)]) == 2
    err = capsys.readouterr().err
    assert "counts.csv: not listed" in err and "persons is between 1" in err
    record = json.loads((planted / "disclosure_checks.json").read_text())
    record["outputs"]["counts.csv"] = {"sha256": file_sha256(planted / "counts.csv")}
    (planted / "disclosure_checks.json").write_text(json.dumps(record))
    failed = failed_checks(planted)
    assert "counts" in failed and "files" not in failed
    record["format"] = "ww_bayes disclosure checks 2"  # a release made by an earlier version
    (planted / "disclosure_checks.json").write_text(json.dumps(record))
    assert main(["audit", str(planted)]) == 2
    assert capsys.readouterr().err.startswith("note: released with ww_bayes ")
    (planted / "disclosure_checks.json").unlink()
    assert main(["audit", str(planted)]) == 2
    assert "not a ww_bayes release folder" in capsys.readouterr().err


def test_the_classes_a_cost_effectiveness_result_names_are_class_labels_not_input_labels():
    """A tornado row of one class's input names the class inside brackets: the class is what must be a
    released group (a full-size cohort releases every class as itself; its tornado rows must pass)."""
    from ww_bayes.audit import _class_labels

    result = xr.Dataset(
        {"tornado_input_q05": ("input", [1.0, 2.0])},
        coords={"input": ["service_cost[0-25]", "wage_per_month"], "rule": ["0-25+25-50", "none served"]},
    )
    assert _class_labels(result) == {"0-25", "25-50"}


def forged(folder: Path, name: str) -> None:
    """The record of ``folder`` forged to list ``name`` with its SHA-256, in the record's own layout, and
    the reports rendered again from it (as an attacker who edits a file and covers the traces): only the
    check aimed at the file's content can refuse it."""
    record = json.loads((folder / "disclosure_checks.json").read_text())
    entry = {"sha256": "", "holds": note("summary"), "status": "pass", "checks": [], "findings": []}
    record["outputs"].setdefault(name, entry)["sha256"] = file_sha256(folder / name)
    (folder / "disclosure_checks.json").write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    for report, text in report_texts(record).items():
        (folder / report).write_text(text, encoding="utf-8")


def test_the_audit_reads_every_file_even_with_a_forged_record(unobserved, tmp_path):
    """With the record forged to list them, the audit still refuses: a small count in a summary table's
    words (a label, a note column), a file of a kind it cannot read, and estimands stored in float32 (their
    weights can no longer be checked exactly, while an attacker's least squares still finds them)."""
    planted = tmp_path / "planted"
    shutil.copytree(unobserved[1].folder, planted)
    summary = next(planted.glob("*_summary.csv"))
    table = pd.read_csv(summary)
    table.assign(note="region Gorinchem: 5 controls and 3 persons without the outcome").to_csv(
        summary, index=False
    )
    forged(planted, summary.name)
    (planted / "notes.txt").write_text("Gorinchem control_none 8 persons\n")
    forged(planted, "notes.txt")
    estimates = next(planted.glob("*_estimates.nc"))
    tree = xr.load_datatree(estimates)
    lowered = {node.path: node.to_dataset(inherit=False).map(
        lambda a: a.astype("float32") if a.dtype == "float64" else a, keep_attrs=True)
        for node in tree.subtree}  # fmt: skip
    lowered = xr.DataTree.from_dict(lowered)
    lowered.attrs = tree.attrs
    lowered.to_netcdf(estimates)
    forged(planted, estimates.name)
    failed = failed_checks(planted)
    assert failed["files"] == ["notes.txt: not a file a release writes"]
    assert any(summary.name in f and "3 persons" in f for f in failed["text"])
    assert any("notes.txt" in f and "cannot read" in f for f in failed["text"])
    assert any("reduced precision" in f for f in failed["weights"])
    assert not failed_checks(unobserved[1].folder)  # the release as written passes


def test_a_released_spec_holds_its_settings_only(sparse, unobserved, tmp_path):
    """The spec and the assumptions travel as their settings in a canonical layout: no comments and no
    description (the analyst's words, which no rule can check), and they parse to the same settings. A
    forged folder whose spec holds a comment again, or whose name holds a count in words, is refused."""
    from ww_bayes.kinds import parse_spec
    from ww_bayes.tomlspec import is_released_toml

    folder = unobserved[1].folder
    estimates = next(folder.glob("*_estimates.nc"))
    tree = xr.load_datatree(estimates)
    text = str(tree.attrs["spec_text"])
    original = sparse.job
    assert "#" in original.text and "description" in original.text  # the fitted spec has both
    assert "#" not in text and "description" not in text and is_released_toml(text)
    released = parse_spec(text)
    assert (released.sampler, released.priors, released.groups) == (
        original.sampler, original.priors, original.groups)  # fmt: skip
    for name, change in {
        "comment": lambda attrs: attrs | {"spec_text": text + "# Drenthe had few controls left\n"},
        "name": lambda attrs: attrs | {"model_name": "job_region_with_two_controls"},
    }.items():
        planted = tmp_path / name
        shutil.copytree(folder, planted)
        tree.attrs = change(dict(xr.load_datatree(estimates).attrs))
        tree.to_netcdf(planted / estimates.name)
        forged(planted, estimates.name)
        failed = failed_checks(planted)
        assert set(failed) == {"text"}, failed
        expected = "canonical TOML" if name == "comment" else "two controls"
        assert any(expected in finding for finding in failed["text"]), failed["text"]


def test_every_table_is_the_one_its_released_file_gives(unobserved, tmp_path):
    """A summary table is computed again from its released estimates: a row for a group that is not
    released, or numbers that are not the file's (a mean off by one part in 10,000), is refused, even with
    the record forged; the release as written passes."""
    folder = unobserved[1].folder
    summary = next(folder.glob("*_summary.csv"))
    table = pd.read_csv(summary, dtype=str, keep_default_na=False)
    changes = {
        "row": lambda t: pd.concat([t, t.iloc[[-1]].assign(group="Gorinchem")], ignore_index=True),
        "number": lambda t: t.assign(mean=[repr(float(v) * (1 + 1e-4)) if v else v for v in t["mean"]]),
    }  # fmt: skip
    for name, change in changes.items():
        planted = tmp_path / name
        shutil.copytree(folder, planted)
        change(table).to_csv(planted / summary.name, index=False)
        forged(planted, summary.name)
        failed = failed_checks(planted)
        assert "tables" in failed and "files" not in failed, failed
        assert all(summary.name in finding for finding in failed["tables"])
    assert "tables" not in failed_checks(folder)


def test_every_attribute_and_label_has_its_form(unobserved, tmp_path):
    """Free text where a name, a known value or a number belongs is refused, even with the record forged:
    a model name, the data's origin and a package name holding words, units with a sentence of their own
    added (prose is a phrase of the package's source, with whole numbers at most in its fields), a
    contrast label with a count in it;
    so are a file a release does not write, a lock file left in the folder, and a record that lowers the
    minimum count (the audit never goes below 10)."""
    folder = unobserved[1].folder
    estimates = next(folder.glob("*_estimates.nc"))
    plants = {
        "model_name": lambda t: t.attrs.update(model_name="job: Gorinchem service arm 7"),
        "synthetic_data": lambda t: t.attrs.update(synthetic_data="Gorinchem lost a handful of persons"),
        "package_versions": lambda t: t.attrs.update(package_versions='{"Gorinchem service": "7"}'),
        "units in words": lambda t: t["effects"].attrs.update(
            effect_units="percentage points (pp), probability scale; a handful of persons in Gorinchem"),
        "contrast label": lambda t: t.__setitem__("effects/overall", xr.DataTree(
            t["effects/overall"].to_dataset().assign_coords(contrast=[
                "service_vs_control_enforcement", "enforcement_vs_none", "Gorinchem control_none (3)"]))),
    }  # fmt: skip
    for name, plant in plants.items():
        planted = tmp_path / name.replace(" ", "_")
        shutil.copytree(folder, planted)
        tree = xr.load_datatree(estimates)
        plant(tree)
        tree.to_netcdf(planted / estimates.name)
        forged(planted, estimates.name)
        failed = failed_checks(planted)
        assert "forms" in failed and "files" not in failed, (name, failed)
    assert any(
        "not a phrase of the package's source" in f
        for f in failed_checks(tmp_path / "units_in_words")["forms"]
    )
    planted = tmp_path / "files"
    shutil.copytree(folder, planted)
    (planted / "notes.md").write_text("nothing to see\n")
    forged(planted, "notes.md")
    (planted / ".ww_bayes.lock").write_text("Gorinchem control_none: 3 persons")
    failed = failed_checks(planted)
    assert any("notes.md: not a file a release writes" in f for f in failed["files"])
    assert any("lock file" in f for f in failed["files"])
    lowered = tmp_path / "lowered"
    shutil.copytree(folder, lowered)
    record = json.loads((lowered / "disclosure_checks.json").read_text())
    record["rule"]["min_count"] = 3
    (lowered / "disclosure_checks.json").write_text(json.dumps(record))
    assert audit(lowered).min_count == MIN_COUNT
    assert "forms" not in failed_checks(folder)


def test_a_spec_the_package_cannot_parse_is_not_released(sparse, tmp_path):
    """A spec holding a key the package does not know (which could say anything) refuses the release with
    one line; a name that is not a name refuses the spec itself."""
    from ww_bayes.kinds import parse_spec
    from ww_bayes.tomlspec import SpecError

    tree = fit_of(sparse.tree, sparse.job, sparse.cohort)
    tree.attrs["spec_text"] = sparse.job.text + "\n[notes]\ngorinchem_controls_left = 3\n"
    save_fit(tree, tmp_path / "results" / "job.nc")
    with variant(), pytest.raises(ReleaseError, match="its spec is not a valid spec.*notes"):
        release(tmp_path / "results", tmp_path / "release")
    assert not (tmp_path / "release").exists()
    with pytest.raises(SpecError, match="'name' must be a name"):
        parse_spec(sparse.job.text.replace(f'name = "{sparse.job.name}"', 'name = "Gorinchem has 3 left"'))


def test_every_sentence_of_a_record_is_one_the_release_writes():
    """Each sentence of the record filled with values of its fields' forms is recognised, in its own place
    only; with a count in words or digits added, or a field not of its form, it is not (and
    :func:`note` refuses to write it)."""
    examples = {"file": "job.nc", "files": "job.nc, ww.nc", "name": "effect_pp", "names": "a_share, b_share",
                "kind": "job_finding_12m", "level": "region", "factor": "werkverkenner", "stem": "job",
                "merged": "other regions", "number": "1", "total": "2", "window": "20", "below": "19",
                "step": "5%", "persons": "1,790", "slices": "employed month 3, ww month 4",
                "merged_categories": "zw, wia into zw_wia; bijstand, none into other"}  # fmt: skip
    assert set(examples) == set(FIELDS)
    for where, templates in NOTES.items():
        assert len(PATTERNS[where]) == len(templates)
        for key, template in templates.items():
            fields = {f: examples[f] for f in re.findall(r"\{(\w+)\}", template)}
            text = note(key, **fields)
            assert is_note(where, text), (where, key)
            assert not is_note(where, text + " (a handful of persons in Gorinchem)"), key
            assert not is_note(where, "Gorinchem: " + text), key
            others = [w for w in NOTES if w != where and not is_note(w, text)]
            assert len(others) == len(NOTES) - 1, (key, others)
    with pytest.raises(ValueError, match="field kind 'job finding 3 persons' is not of its form"):
        note("cells", file="job.nc", kind="job finding 3 persons")
    with pytest.raises(ValueError, match="field merged"):
        note("all_merged", factor="region", merged="a handful of persons")


def test_the_record_and_its_reports_hold_only_what_the_release_writes(released, tmp_path):
    """The record of a release passes; forged, it is refused: a sentence in words ("a handful of persons",
    no digit), a key the release does not write, what a file holds in other words, a merge reason of its
    own, a check said failed with a finding, a fit's own grouping that does not coarsen the release's; and
    a report with a line added (the reports are rendered from the record and compared byte for byte)."""
    _, done, _ = released
    assert "record" not in failed_checks(done.folder)

    def first_output(record):
        return next(iter(record["outputs"].values()))

    forgeries = {
        "sentence": lambda r: r["suppressed"].append(
            "job.nc: a handful of persons in Gorinchem lack an outcome"
        ),
        "key": lambda r: r.update(remarks="see the annex"),
        "holds": lambda r: first_output(r).update(holds="summary of the estimates, a handful of persons"),
        "why": lambda r: r["groupings"]["region"]["why"].update(
            dict.fromkeys(done.groupings["region"].merged[:1], "a handful of persons")
        ),
        "check": lambda r: r["checks"][0].update(passed=False, findings=["region Gorinchem: few persons"]),
        # a fit's own grouping that releases a level the release merges: the two do not nest
        "nesting": lambda r: next(iter(r["fits"].values()))["groupings"].update(
            region={
                **r["groupings"]["region"],
                "levels": {lv: lv for lv in r["groupings"]["region"]["levels"]},
                "why": {},
            }
        ),
    }
    for name, forge in forgeries.items():
        planted = tmp_path / name
        shutil.copytree(done.folder, planted)
        record = json.loads((planted / "disclosure_checks.json").read_text())
        forge(record)
        (planted / "disclosure_checks.json").write_text(json.dumps(record))
        for report, text in report_texts(record).items():  # reports that agree with the forged record
            (planted / report).write_text(text)
        assert "record" in failed_checks(planted), name
    assert any("the groupings do not nest" in f for f in failed_checks(tmp_path / "nesting")["record"])
    planted = tmp_path / "report"
    shutil.copytree(done.folder, planted)
    report = planted / "disclosure_report.md"
    report.write_text(report.read_text() + "- a handful of persons in Gorinchem lack an outcome\n")
    failed = failed_checks(planted)
    assert set(failed) == {"record"}
    assert any("disclosure_report.md: not the report" in f for f in failed["record"])


def test_a_folder_released_by_another_version_is_refused_on_its_format_first(released, tmp_path):
    """A record of an earlier layout (another format, and a check described as it was then) is refused, and
    the first finding says it is of another format: release again, or audit with that version."""
    _, done, _ = released
    planted = tmp_path / "earlier"
    shutil.copytree(done.folder, planted)
    record = json.loads((planted / "disclosure_checks.json").read_text())
    record["format"] = "ww_bayes disclosure checks 6"
    labels = next(c for c in record["checks"] if c["check"] == "labels")
    labels["description"] = labels["description"].replace("its fit's grouping releases", "decided once")
    (planted / "disclosure_checks.json").write_text(json.dumps(record))
    for report, text in report_texts(record).items():
        (planted / report).write_text(text)
    findings = failed_checks(planted)["record"]
    assert findings[0] == f"{CHECKS_FILE}: format: not {RECORD_FORMAT!r}"
    assert any("checks labels: its description is not the check's" in f for f in findings)


def test_every_figure_is_the_one_the_release_draws(released, tmp_path):
    """The audit draws every figure again from the released files and compares bytes and pixels: the
    release's pass; a figure with a few words written on it is refused even with the record forged to list
    it, and so are a PNG the release does not draw (a copy of a released figure under another name) and a
    figure with a text chunk added (its pixels unchanged)."""
    from PIL import ImageDraw

    _, done, _ = released
    assert "figures" not in failed_checks(done.folder)
    png = next(done.folder.glob("*_effects.png"))
    planted = tmp_path / "planted"
    shutil.copytree(done.folder, planted)
    with Image.open(planted / png.name) as image:
        image = image.convert("RGBA")
    ImageDraw.Draw(image).text((20, 20), "Gorinchem: 5 persons", fill=(0, 0, 0, 255))
    image.save(planted / png.name)
    forged(planted, png.name)
    shutil.copy(png, planted / "job_annex.png")
    forged(planted, "job_annex.png")
    failed = failed_checks(planted)
    assert set(failed) == {"figures"}, failed
    assert any(f.startswith(f"{png.name}: ") and "pixels differ" in f for f in failed["figures"])
    assert any("job_annex.png: not a figure the release draws" in f for f in failed["figures"])
    chunk = tmp_path / "chunk"  # the same pixels, a text chunk added: refused by its bytes
    shutil.copytree(done.folder, chunk)
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "Gorinchem: a handful of claimants")
    with Image.open(png) as image:
        image.save(chunk / png.name, pnginfo=info)
    forged(chunk, png.name)
    assert any("not its bytes" in f for f in failed_checks(chunk)["figures"])


def test_the_cohort_size_is_checked_against_every_released_fit(sparse, tmp_path):
    """The cost-effectiveness cohort size 5 persons from the cohort persons of a released fit it was not
    computed from (a job fit without 20 control_none persons of class 0-25, 10 of them with a job, on a
    cohort of full cells so every class is released as itself) is not released; a broken variant that
    compares it with its own fits only releases it, and the audit refuses that (weights recovery gives
    the smallest total that fits the shares, a tenth of the true one: the multiple nearest the size)."""
    from ww_bayes.cea import analyse, load_assumptions
    from ww_bayes.results import save_cea

    rows = [(c, r, arm) for c in CLASSES for r in sparse.regions[:5]
            for arm, n in zip(ARMS, BIG_CELL, strict=True) for _ in range(n)]  # fmt: skip
    cohort = pd.DataFrame(rows, columns=["werkverkenner", "region", "arm"])
    cohort.insert(0, "person_id", np.arange(1, len(cohort) + 1))
    rng = np.random.default_rng(11)
    cohort["employed_m12"] = rng.binomial(1, 0.55, len(cohort)).astype(float)
    cohort["ww_m12"] = cohort["employed_m12"]  # no difference between the fits' counts: classes stay whole
    where = (cohort["werkverkenner"] == "0-25") & (cohort["arm"] == "control_none")
    left_out = cohort.index[where & (cohort["employed_m12"] == 1)][:10].union(
        cohort.index[where & (cohort["employed_m12"] == 0)][:10]
    )
    results = sparse.results(tmp_path / "results", job_subset=(sparse.job, cohort.drop(index=left_out)))
    fits = {"job": fit_of(sparse.tree, sparse.job, cohort), "ww": fit_of(sparse.tree, sparse.ww, cohort)}
    paths = [save_fit(tree, results / f"{name}.nc") for name, tree in fits.items()]
    size = len(cohort) - 20 - 5
    text = (MODELS / "cost_effectiveness.toml").read_text()
    (tmp_path / "cost_effectiveness.toml").write_text(
        re.sub(r"(?m)^cohort_size = .*$", f"cohort_size = {size}", text)
    )
    assumptions = load_assumptions(tmp_path / "cost_effectiveness.toml")
    assert assumptions.cohort_size == size
    save_cea(analyse(list(fits.values()), assumptions), results / "cost_effectiveness.nc", paths)
    with variant():
        done = release(results, tmp_path / "release")
    assert {"job.nc", "ww.nc", "job_subset.nc"} <= set(done.fits)
    assert any(
        n.startswith("cost_effectiveness.nc: cohort size and cohort totals not released") for n in done.notes
    )
    released_cea = xr.load_datatree(done.folder / "cost_effectiveness.nc")["cost_effectiveness"]
    assert "cohort_size" not in released_cea.attrs and "net_benefit_cohort" not in released_cea.ds
    original = release_module.released_totals
    with broken_variant(
        released_totals=lambda fits: original([f for f in fits if f.name != "job_subset.nc"])
    ):
        broken = release(results, tmp_path / "broken")
    assert (
        "cohort_size" in xr.load_datatree(broken.folder / "cost_effectiveness.nc")["cost_effectiveness"].attrs
    )
    findings = failed_checks(broken.folder)["cost_effectiveness"]
    assert any("job_subset.nc cohort persons (10 x 373) by 5" in f for f in findings), findings


def test_what_an_insider_plants_is_refused(released, tmp_path):
    """Channels an insider could plant a count in, each refused with the record forged to list the file:
    a column added to counts.csv, a copy of the estimates under another name, a version with a local part
    of words, a count joined to its word by a hyphen, and a record whose text is escaped or repeats a key
    (it must be the record a release writes, byte for byte)."""
    _, done, _ = released
    estimates = next(done.folder.glob("*_estimates.nc"))

    def counts_column(folder):
        table = pd.read_csv(folder / "counts.csv", dtype=str)
        table.assign(Gorinchem_claimants="5").to_csv(folder / "counts.csv", index=False)
        forged(folder, "counts.csv")

    def copy_of_estimates(folder):
        shutil.copy(estimates, folder / "Gorinchem.nc")
        forged(folder, "Gorinchem.nc")

    def attrs(folder, **changed):
        tree = xr.load_datatree(estimates)
        tree.attrs.update(changed)
        tree.to_netcdf(folder / estimates.name)
        forged(folder, estimates.name)

    def escaped(folder):
        path = folder / "disclosure_checks.json"
        path.write_text(path.read_text().replace('"verdict": "pass"', '"verdict": "p\\u0061ss"'))

    def unadded(folder):
        """A region's service count raised by 7: every row passes, but the regions less the overall give 7."""
        table = pd.read_csv(folder / "counts.csv", dtype={"group": str, "category": str})
        row = table.index[(table["level"] == "by_region") & (table["arm"] == "service")][0]
        table.loc[row, "count"] += 7
        table.to_csv(folder / "counts.csv", index=False)
        forged(folder, "counts.csv")

    def nudged(folder):
        """A probability off its draws' share by 7e-7 (a digit no rounding shows)."""
        tree = xr.load_datatree(estimates)
        ds = tree["effects/overall"].to_dataset()
        ds["prob_positive"][{"contrast": 0}] = float(ds["prob_positive"][0]) + 7e-7
        tree["effects/overall"] = xr.DataTree(ds)
        release_module.write_datatree(tree, folder / estimates.name)
        forged(folder, estimates.name)

    def probability(folder):
        """A probability of a region that is 0.5 (a count of 5 in its first digit) whatever its draws say,
        written with the package's writer, its summary table written again from the planted file."""
        tree = xr.load_datatree(estimates)
        ds = tree["effects/region"].to_dataset()
        ds["prob_positive"][{"region": 0}] = 0.5
        tree["effects/region"] = xr.DataTree(ds)
        release_module.write_datatree(tree, folder / estimates.name)
        release_module.save_table(
            release_module.summarise(audit_module.read_released(folder / estimates.name)),
            folder / estimates.name.replace("_estimates.nc", "_summary.csv"),
        )
        forged(folder, estimates.name)
        forged(folder, estimates.name.replace("_estimates.nc", "_summary.csv"))

    plants = {
        "counts column": (counts_column, "counts"),
        "copy of the estimates": (copy_of_estimates, "files"),
        "local version": (lambda f: attrs(f, released_with="ww_bayes 0.1.0+Gorinchem.5.persons"), "forms"),
        "hyphenated count": (lambda f: attrs(f, model_name="job_Gorinchem_5-claimants"), "text"),
        "escaped record": (escaped, "record"),
        "probability": (probability, "probabilities"),
        "counts that do not add up": (unadded, "counts"),
        "probability off by 7e-7": (nudged, "probabilities"),
    }
    for name, (plant, check) in plants.items():
        planted = tmp_path / name.replace(" ", "_")
        shutil.copytree(done.folder, planted)
        plant(planted)
        assert check in failed_checks(planted), (name, failed_checks(planted))


def test_what_hides_below_the_netcdf_view_is_refused(released, tmp_path):
    """Channels a netCDF reader does not show, each refused by the ``hdf5`` check with the record forged to
    list the file: an attribute name the netCDF library keeps for itself holding words, a fill value that is
    a count, bytes after the end of the HDF5 data, and a count written into a dimension that has no
    variable; and what only a byte-for-byte rewrite of the netCDF view shows: an attribute and a dataset
    written and deleted again (their bytes stay in the file's free space)."""
    import h5py

    _, done, _ = released
    estimates = next(done.folder.glob("*_estimates.nc"))
    assert "hdf5" not in failed_checks(done.folder)

    def hidden_name(path):
        with h5py.File(path, "r+") as file:
            file["effects"].attrs["NAME"] = np.bytes_(b"Gorinchem control_none 8 persons")

    def fill_value(path):
        with h5py.File(path, "r+") as file:
            found = []
            file.visititems(lambda _, obj: found.append(obj) if "_FillValue" in obj.attrs else None)
            found[0].attrs["_FillValue"] = np.array([8.0])

    def trailing(path):
        with path.open("ab") as stream:
            stream.write(b"Gorinchem control_none 8 persons")

    def dimension_data(path):
        with h5py.File(path, "r+") as file:
            alone = []
            file.visititems(lambda _, obj: alone.append(obj) if b"not a netCDF variable" in
                            bytes(obj.attrs.get("NAME", b"")) else None)  # fmt: skip
            alone[0][0] = 8

    def deleted_attribute(path):
        with h5py.File(path, "r+") as file:
            file.attrs["Gorinchem"] = np.array([8, 3, 5])
        with h5py.File(path, "r+") as file:
            del file.attrs["Gorinchem"]

    def deleted_dataset(path):
        with h5py.File(path, "r+") as file:
            file.create_dataset("Gorinchem", data=np.array([8, 3, 5]))
        with h5py.File(path, "r+") as file:
            del file["Gorinchem"]

    rewrite = "not the bytes the package writes"
    plants = {"hidden name": (hidden_name, "attribute 'NAME'"), "fill value": (fill_value, "fill value"),
              "trailing bytes": (trailing, "bytes after the end"),
              "dimension data": (dimension_data, "a dimension holding data"),
              "deleted attribute": (deleted_attribute, rewrite),
              "deleted dataset": (deleted_dataset, rewrite)}  # fmt: skip
    for name, (plant, finding) in plants.items():
        planted = tmp_path / name.replace(" ", "_")
        shutil.copytree(done.folder, planted)
        path = planted / estimates.name
        plant(path)
        forged(planted, estimates.name)
        found = failed_checks(planted).get("hdf5", [])
        assert any(finding in f for f in found), (name, failed_checks(planted))
        if finding == rewrite:  # below what the HDF5 walk sees: only the rewrite finds it
            assert audit_module.hdf5_findings(path.name, path, xr.load_datatree(path)) == [], name
