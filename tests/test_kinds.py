"""The model-kind interface is open: two toy kinds defined here (a categorical observation: 3 categories,
multinomial on cells; a continuous one: normal on the sufficient statistics n, sum, sum of squares) plug in
with one registration and pass the whole path (fit -> save -> load -> summary -> report -> release -> SBC
substitution); a toy grouping factor the release has never heard of is merged and checked, and a release
that skips merging it is caught by the linear-programme attack. Nothing outside the registry asks which
kind it holds; old and future fit files are read or refused with a message that says what to do; a kind
missing a method or a declared capability fails when it is registered."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import pytest
import xarray as xr
from scipy.optimize import linprog

import ww_bayes as wb
import ww_bayes.release as release_module
from ww_bayes.calibration.sbc import Replicate, SBCSettings, prior_truths, run_replicate, with_values
from ww_bayes.compare import FrequentistError, compare
from ww_bayes.data.cells import person_counts
from ww_bayes.data.schema import ARMS
from ww_bayes.derived import OVERALL, Variable, derived_tree, probability
from ww_bayes.estimands import contrast_pp, level_rates
from ww_bayes.kinds import KINDS, kind_of, parse_spec, register
from ww_bayes.kinds.common import COMMON_KEYS, SpecCommon
from ww_bayes.kinds.observations import CategoryCounts, NormalStatistics
from ww_bayes.kinds.pooling import cell_index, factor_levels
from ww_bayes.kinds.protocol import Heading, ModelData, ModelKind, Table
from ww_bayes.release import MIN_COUNT, ReleaseError, breaks_rule, count_table, release
from ww_bayes.report import build_report
from ww_bayes.results import ResultFileError, load_fit, save_fit, summarise
from ww_bayes.summaries import summary_table
from ww_bayes.vocabulary import SAMPLE_DIMS

PACKAGE = Path(wb.__file__).parent
pytestmark = pytest.mark.filterwarnings("ignore::ww_bayes.results.ConvergenceWarning")

#: What the toys' derived levels hold.
TOY_VARIABLES = {
    "effect_pp": Variable("estimand", signed=True, units="pp"),
    "prob_positive": Variable("probability", of="effect_pp", event="positive"),
}


@dataclass(frozen=True, kw_only=True)
class ToySpec(SpecCommon):
    """The toys' spec: an outcome and grouping factors; every kind reads the same settings."""

    outcome: str

    def describe_priors(self) -> str:
        return "logits / means per arm and factor level ~ Normal(0, 1.5)"


class CategoriesSpec(ToySpec):
    kind = "toy_categories"


class ContinuousSpec(ToySpec):
    kind = "toy_continuous"


def toy_settings(raw, common) -> dict:
    return {"outcome": raw["outcome"], **common}


class ToyCategoricalKind(ModelKind):
    """Three categories at month 12 (work, WW without work, neither): multinomial on arm x factor cells,
    a logit per arm and category plus unpooled factor deviations; effects: pp per category."""

    name = "toy_categories"
    observation = CategoryCounts(("work", "ww", "neither"))
    derived_variables = TOY_VARIABLES
    derived_dims = ("contrast", "category")
    report_section = ("toy_categories", "Toy categories")
    spec_keys = COMMON_KEYS | {"outcome"}
    required_keys = ("name", "outcome", "groups", "smallest_effect_pp")

    def parse(self, raw, text, source, common):
        return CategoriesSpec(**toy_settings(raw, common))

    def required_columns(self, spec):
        return [*spec.groups, "employed_m12", "ww_m12"]

    def prepare(self, spec, cohort, likelihood="binomial"):
        levels, notes = factor_levels(cohort, list(spec.groups))
        observed = cohort.dropna(subset=["employed_m12", "ww_m12"])
        work = observed["employed_m12"].astype(int) == 1
        ww = ~work & (observed["ww_m12"].astype(int) == 1)
        category = np.select([work, ww], ["work", "ww"], "neither")
        keys = ["arm", *spec.groups]
        counts = pd.crosstab([observed[k] for k in keys], category).reindex(
            columns=self.observation.categories, fill_value=0
        )
        cells = counts.reset_index()
        cells.columns.name = None
        weights = (
            person_counts(cohort, list(spec.groups), levels) if spec.groups else xr.DataArray(len(cohort))
        )
        return ModelData(cells, self.observation, levels, weights.rename("n_persons"), spec.outcome,
                         len(cohort), len(cohort) - len(observed), notes=notes)  # fmt: skip

    def build(self, spec, data, for_sampling=False):
        coords = {"arm": list(ARMS), **data.levels, "category": list(self.observation.categories),
                  "cell": np.arange(data.n_cells)}  # fmt: skip
        with pm.Model(coords=coords) as model:
            # "work" is the reference category: its logit is 0 in every cell
            free = pm.Normal("logit", 0.0, 1.5, shape=(3, 2))
            grid = pt.concatenate([pt.zeros((3, 1)), free], axis=1).reshape(
                [3, *([1] * len(data.factors)), 3]
            )
            for axis, factor in enumerate(data.factors):
                n_levels = len(data.levels[factor])
                deviation = pm.Normal(f"logit_{factor}", 0.0, 0.5, shape=(n_levels, 2))
                shape = [1, *([1] * len(data.factors)), 3]
                shape[axis + 1] = n_levels
                grid = grid + pt.concatenate([pt.zeros((n_levels, 1)), deviation], axis=1).reshape(shape)
            grid = pt.broadcast_to(grid, [3, *(len(data.levels[f]) for f in data.factors), 3])
            pm.Deterministic(
                "share", pt.special.softmax(grid, axis=-1), dims=("arm", *data.factors, "category")
            )
            index = cell_index(data.cells, {"arm": list(ARMS), **{f: data.levels[f] for f in data.factors}})
            data.observation.likelihood(data.cells, {"eta": grid[index]}, for_sampling)
        return model

    def derive(self, spec, data, posterior):
        rates = level_rates(posterior["share"], data.weights)
        levels = {}
        for level in (OVERALL, *data.factors):
            pp = contrast_pp(rates[level]).transpose(*SAMPLE_DIMS, ...)
            levels[level] = xr.Dataset(
                {"effect_pp": pp, "prob_positive": probability(pp, "positive", spec.smallest_effect_pp)}
            )
        return derived_tree(levels, {"smallest_effect_pp": spec.smallest_effect_pp})

    def summary(self, derived, interval_kind, interval_prob):
        return summary_table(derived, self.derived_variables, interval_kind, interval_prob)

    def screen_text(self, tree, summary, coverage):
        return summary.to_string()

    def report_blocks(self, name, tree, summary, words):
        return [Heading(f"toy categories {name}"), Table(summary[["contrast", "category", "level", "group",
                                                                   "mean"]])]  # fmt: skip

    def calibration_quantities(self, spec):
        return ["logit"]


class ToyContinuousKind(ModelKind):
    """A continuous outcome (the age of persons with a job at month 12 standing in for hours): normal on
    exact sufficient statistics per arm x factor cell; effect on the mean per contrast."""

    name = "toy_continuous"
    observation = NormalStatistics()
    derived_variables = TOY_VARIABLES
    derived_dims = ("contrast",)
    report_section = ("toy_continuous", "Toy continuous")
    spec_keys = COMMON_KEYS | {"outcome"}
    required_keys = ("name", "outcome", "groups", "smallest_effect_pp")

    def parse(self, raw, text, source, common):
        return ContinuousSpec(**toy_settings(raw, common))

    def required_columns(self, spec):
        return [*spec.groups, "age"]

    def prepare(self, spec, cohort, likelihood="binomial"):
        levels, notes = factor_levels(cohort, list(spec.groups))
        values = cohort["age"].astype("float64") / 10  # decades
        keys = [cohort[k] for k in ("arm", *spec.groups)]
        grouped = values.groupby(keys, observed=True)
        cells = pd.DataFrame({"n": grouped.count(), "sum": grouped.sum(), "sum_squares": (values**2).groupby(
            keys, observed=True).sum()}).reset_index()  # fmt: skip
        weights = (
            person_counts(cohort, list(spec.groups), levels) if spec.groups else xr.DataArray(len(cohort))
        )
        return ModelData(cells, self.observation, levels, weights.rename("n_persons"), spec.outcome,
                         len(cohort), 0, notes=notes)  # fmt: skip

    def build(self, spec, data, for_sampling=False):
        coords = {"arm": list(ARMS), **data.levels, "cell": np.arange(data.n_cells)}
        with pm.Model(coords=coords) as model:
            mean = pm.Normal("mean", 4.0, 2.0, dims="arm")
            grid = mean.reshape([3, *([1] * len(data.factors))])
            for axis, factor in enumerate(data.factors):
                deviation = pm.Normal(f"mean_{factor}", 0.0, 1.0, dims=factor)
                shape = [1, *([1] * len(data.factors))]
                shape[axis + 1] = len(data.levels[factor])
                grid = grid + deviation.reshape(shape)
            grid = pt.broadcast_to(grid, [3, *(len(data.levels[f]) for f in data.factors)])
            pm.Deterministic("cell_mean", grid, dims=("arm", *data.factors))
            sigma = pm.HalfNormal("sigma", 2.0)
            index = cell_index(data.cells, {"arm": list(ARMS), **{f: data.levels[f] for f in data.factors}})
            data.observation.likelihood(data.cells, {"mu": grid[index], "sigma": sigma}, for_sampling)
        return model

    def derive(self, spec, data, posterior):
        rates = level_rates(posterior["cell_mean"], data.weights)
        levels = {}
        for level in (OVERALL, *data.factors):
            pp = contrast_pp(rates[level]).transpose(*SAMPLE_DIMS, ...)  # 100 x decades: months of age
            levels[level] = xr.Dataset(
                {"effect_pp": pp, "prob_positive": probability(pp, "positive", spec.smallest_effect_pp)}
            )
        return derived_tree(levels, {"smallest_effect_pp": spec.smallest_effect_pp})

    def summary(self, derived, interval_kind, interval_prob):
        return summary_table(derived, self.derived_variables, interval_kind, interval_prob)

    def screen_text(self, tree, summary, coverage):
        return summary.to_string()

    def report_blocks(self, name, tree, summary, words):
        return [Heading(f"toy continuous {name}"), Table(summary[["contrast", "level", "group", "mean"]])]

    def calibration_quantities(self, spec):
        return ["mean", "sigma"]


def toy_spec(kind: str, groups: str = '["werkverkenner", "toy_band"]') -> str:
    return f"""
kind = "{kind}"
name = "{kind}"
outcome = "toy"
groups = {groups}
smallest_effect_pp = 1.0
[sampler]
chains = 2
draws = 300
tune = 300
seed = 3
"""


@pytest.fixture
def toys(monkeypatch):
    """Both toy kinds registered (one line each), removed again after the test."""
    for kind in (ToyCategoricalKind(), ToyContinuousKind()):
        monkeypatch.setitem(KINDS, kind.name, kind)
        register(kind)
    return KINDS


@pytest.fixture(scope="module")
def banded(small_cohort) -> pd.DataFrame:
    """The small cohort with a grouping factor no part of ww_bayes has heard of: ``toy_band`` with a band
    "c" of 15 persons, 1-3 of them in each control arm (a count the release must not let out)."""
    df = small_cohort.data.copy()
    rng = np.random.default_rng(11)
    band = rng.choice(["a", "b"], len(df))
    small = df.index[df["arm"] == "service"][:11].tolist()
    small += df.index[df["arm"] == "control_enforcement"][:3].tolist()
    small += df.index[df["arm"] == "control_none"][:1].tolist()
    band[small] = "c"
    return df.assign(toy_band=pd.Categorical(band, categories=["a", "b", "c"]))


def test_both_toy_kinds_pass_the_whole_path(toys, banded, tmp_path):
    """fit -> save -> load -> summary -> report -> release -> SBC substitution, for a categorical and a
    continuous observation, with nothing outside kinds/ changed."""
    results = tmp_path / "results"
    for name in ("toy_categories", "toy_continuous"):
        spec = parse_spec(toy_spec(name), f"{name}.toml")
        kind = kind_of(spec)
        tree = wb.fit(spec, banded, progress=False, log=None)
        assert tree.attrs["model_kind"] == name and tree.attrs["observation"] == kind.observation.name
        loaded = load_fit(save_fit(tree, results / f"{name}.nc"), warn=False)
        xr.testing.assert_allclose(loaded[f"{name}/toy_band"].ds, tree[f"{name}/toy_band"].ds)
        table = summarise(loaded)
        assert set(table["level"]) == {"overall", "by_werkverkenner", "by_toy_band"}
        assert set(table.loc[table["level"] == "by_toy_band", "group"]) == {"a", "b", "c"}
        # a kind without a frequentist estimator: nothing to compare with, said so
        with pytest.raises(FrequentistError, match=f"a '{name}' fit has no effects to compare"):
            compare(loaded, pd.DataFrame({"outcome": [], "estimand": []}))
        # SBC: the observation says which cell columns a replicate's simulated data replace
        design = kind.prepare(spec, wb.data.io.typed_cohort(banded, kind.required_columns(spec)))
        truth, simulated, _ = prior_truths(spec, design, reps=2, seed=1)
        replaced = with_values(design, simulated[0])
        for column in kind.observation.simulated_columns:
            assert not np.array_equal(replaced.cells[column], design.cells[column])
        fixed = [c for c in design.cells.columns if c not in kind.observation.simulated_columns]
        pd.testing.assert_frame_equal(replaced.cells[fixed], design.cells[fixed])
        settings = SBCSettings(reps=1, chains=1, draws=100, ranked_draws=50)
        small = spec.with_sampler(chains=1, draws=100, tune=100, cores=1)
        ranks = run_replicate(Replicate(0, small, replaced, truth.isel(replicate=0, drop=True), settings))
        assert "effect_pp_overall" in ranks and int(ranks["effect_pp_overall"].max()) <= 50
    page = build_report(results)
    assert "toy categories toy_categories.nc" in page and "toy continuous toy_continuous.nc" in page
    done = release(results, tmp_path / "release")
    grouping = done.groupings["toy_band"]
    assert grouping.merged == ["c"] or "c" in grouping.merged  # the small band, never released alone
    counts = pd.read_csv(done.folder / "counts.csv", dtype={"group": str, "category": str})
    assert set(counts["category"].dropna()) >= {"work", "ww", "neither"}
    for values in (counts["persons"], counts["count"], counts["persons"] - counts["count"]):
        assert not breaks_rule(values.dropna(), MIN_COUNT).any()
    released = xr.load_datatree(done.folder / "toy_categories_estimates.nc")
    assert "c" not in set(map(str, released["toy_categories/toy_band"].ds["toy_band"].values))


# --- the release and the toy factor: the linear-programme attack --------------------------------------------


def lp_attack(counts: pd.DataFrame, cells: pd.DataFrame, groupings: dict, factor: str, level: str) -> list:
    """What counts.csv lets an attacker bound of ``level`` of ``factor``, per arm, category and column
    (persons, count, persons - count): unknown cells x[arm, category, factor levels...] >= 0; every released
    row an equality over the cells it sums; min and max of the target's sum by scipy's linprog. Returns the
    (arm, category, column, low, high) the attack pins or bounds inside 1..MIN_COUNT - 1."""
    factors = [c for c in cells.columns if c not in ("arm", "category", "persons", "count")]
    grid = cells.groupby(factors, observed=True).size().reset_index()[factors].astype(str)
    found = []
    for (arm, category), rows in counts.groupby(["arm", "category"]):
        for column in ("persons", "count", "complement"):
            values = rows["persons"] - rows["count"] if column == "complement" else rows[column]
            a_eq, b_eq = [], []
            for row, value in zip(rows.itertuples(), values, strict=True):
                if pd.isna(value):
                    continue
                member = np.ones(len(grid), dtype=bool)
                if row.level != "overall":
                    name = row.level.removeprefix("by_")
                    mapping = groupings[name].groups
                    member = grid[name].map(lambda v, m=mapping: m.get(v, v)).to_numpy() == row.group
                a_eq.append(member.astype(float))
                b_eq.append(float(value))
            target = (grid[factor] == level).to_numpy().astype(float)
            bounds = []
            for sign in (1, -1):
                result = linprog(sign * target, A_eq=np.array(a_eq), b_eq=b_eq, bounds=(0, None))
                assert result.status == 0
                bounds.append(sign * result.fun)
            low, high = bounds
            if np.ceil(low - 1e-6) >= 1 and np.floor(high + 1e-6) <= MIN_COUNT - 1:
                found.append((arm, category, column, low, high))
    return found


@pytest.fixture(scope="module")
def banded_effects_fit(banded, tmp_path_factory):
    """The job spec grouped by Werkverkenner class and the toy band, short chains."""
    spec = wb.load_spec(PACKAGE.parent / "models" / "job_finding_12m.toml")
    text = spec.text.replace('groups = ["werkverkenner", "region"]', 'groups = ["werkverkenner", "toy_band"]')
    spec = parse_spec(text, "toy_band.toml")
    spec = spec.with_sampler(chains=2, draws=200, tune=200, seed=4)
    results = tmp_path_factory.mktemp("banded") / "results"
    tree = wb.fit(spec, banded, progress=False, log=None)
    save_fit(tree, results / "job.nc")
    return results, tree


def test_a_factor_the_release_never_heard_of_is_merged_and_checked(banded_effects_fit, tmp_path):
    results, tree = banded_effects_fit
    cells = count_table(tree)
    persons = cells.groupby(["toy_band", "arm"], observed=True)["persons"].sum()
    assert breaks_rule(persons.loc["c"].to_numpy(), MIN_COUNT).any()  # the test has something to protect
    done = release(results, tmp_path / "release")
    assert "c" in done.groupings["toy_band"].merged
    counts = pd.read_csv(done.folder / "counts.csv", dtype={"group": str, "category": str})
    assert "other toy_band levels" in set(counts.loc[counts["level"] == "by_toy_band", "group"])
    assert not lp_attack(counts, cells, done.groupings, "toy_band", "c")


def test_a_release_that_skips_merging_the_factor_fails_the_attack(banded_effects_fit, tmp_path, monkeypatch):
    """The broken variant: the factor's grouping left unmerged and the checks on the written files passed
    over. The attack then pins the small band's counts from counts.csv."""
    results, tree = banded_effects_fit
    decide = release_module.decide_grouping

    def skipping(tables, factor, min_count):
        grouping = decide(tables, factor, min_count)
        if factor == "toy_band":
            grouping = release_module.Grouping(factor, {level: level for level in grouping.groups})
        return grouping

    monkeypatch.setattr(release_module, "decide_grouping", skipping)
    from ww_bayes.audit import Audit  # the gate off: the audit of the written folder checks nothing

    monkeypatch.setattr(release_module, "audit", lambda folder, min_count, only=None, building=False: Audit(
        Path(folder), min_count, []))  # fmt: skip
    done = release(results, tmp_path / "broken")
    counts = pd.read_csv(done.folder / "counts.csv", dtype={"group": str, "category": str})
    assert lp_attack(counts, count_table(tree), done.groupings, "toy_band", "c")


def test_the_release_refuses_what_it_has_no_rule_for(banded_effects_fit, tmp_path):
    """An unknown magnitude variable, an unknown dim, a variable attribute: each refuses the release with
    one line naming it, and nothing is written."""
    results, tree = banded_effects_fit
    cases = {
        "persons_by_sex": lambda t: t["effects/overall"].ds.assign(
            persons_by_sex=xr.DataArray([2, 1], dims="sex")),
        "sex": lambda t: t["effects/overall"].ds.assign(
            effect_pp=t["effects/overall"].ds["effect_pp"].expand_dims(sex=["f", "m"], axis=-1)),
        "note": lambda t: t["effects/overall"].ds.assign(
            effect_pp=t["effects/overall"].ds["effect_pp"].assign_attrs(note="region x: 3 persons")),
    }  # fmt: skip
    for name, change in cases.items():
        folder = tmp_path / name
        changed = tree.copy()
        changed["effects/overall"] = xr.DataTree(change(tree))
        save_fit(changed, folder / "results" / "job.nc")
        with pytest.raises(ReleaseError, match=re.escape(repr(name))):
            release(folder / "results", folder / "release")
        assert not (folder / "release").exists()
        assert not [p for p in folder.iterdir() if p.name.startswith(".release")]


def test_a_derived_variable_the_kind_does_not_declare_is_an_error(banded_effects_fit):
    from ww_bayes.derived import DerivedLayoutError

    _, tree = banded_effects_fit
    changed = tree.copy()
    changed["effects/werkverkenner"] = xr.DataTree(
        tree["effects/werkverkenner"].ds.assign(
            effect_pp_squared=tree["effects/werkverkenner"].ds["effect_pp"] ** 2
        )
    )
    with pytest.raises(DerivedLayoutError, match="werkverkenner/effect_pp_squared"):
        summarise(changed)


# --- the registry ------------------------------------------------------------------------------------------


def test_a_kind_missing_a_method_or_a_capability_fails_at_registration():
    class Partial(ModelKind):
        name = "partial"

    with pytest.raises(TypeError, match="abstract"):
        Partial()

    class Promises(ToyCategoricalKind):
        name = "promises"
        offers_effect_paths = True  # declared, not implemented

    with pytest.raises(TypeError, match="lacks effect_paths"):
        register(Promises())
    assert "promises" not in KINDS

    class OutOfDate(ToyCategoricalKind):
        name = "out_of_date"

        def report_blocks(self, name, tree, summary):  # written before the reader's words existed
            return []

    with pytest.raises(TypeError, match=r"lacks report_blocks\(self, name.*words.*\(it has report_blocks"):
        register(OutOfDate())
    assert "out_of_date" not in KINDS


def test_fit_files_of_an_unknown_older_or_newer_layout_are_refused_with_what_to_do(toys, banded, tmp_path):
    tree = wb.fit(parse_spec(toy_spec("toy_continuous", "[]")), banded, progress=False, log=None)
    path = save_fit(tree, tmp_path / "toy.nc")
    kind = KINDS.pop("toy_continuous")  # a reader without the kind
    with pytest.raises(ResultFileError, match="model kind 'toy_continuous' is unknown here.*refit"):
        load_fit(path)
    KINDS["toy_continuous"] = kind
    for version, message in ((99, "newer ww_bayes.*upgrade"), (2, "older ww_bayes.*refit"), (None, "older")):
        other = tree.copy()
        if version is None:
            del other.attrs["fit_schema_version"]  # the first layouts had no version
        else:
            other.attrs["fit_schema_version"] = version
        with pytest.raises(ResultFileError, match=message):
            load_fit(save_fit(other, tmp_path / f"v{version}.nc"))


#: What "asking which kind it holds" looks like in code.
KIND_CHECKS = (
    r"isinstance\([^)]*Spec\)",
    r"\.kind\s*[!=]=",
    r"model_kind[\"']?\)?\s*[!=]=",
    r"[\"'](trajectory|effects)[\"']\s+(not\s+)?in\s+\w+\.children",
)


def test_no_model_kind_checks_outside_the_registry():
    offending = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "kinds":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if any(re.search(pattern, line) for pattern in KIND_CHECKS):
                offending.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert not offending, "\n".join(offending)


def test_the_kind_check_scan_catches_a_check():
    """The scan above must be able to fail: each pattern matches the kind of line it is meant to catch."""
    lines = [
        "if isinstance(spec, TrajectorySpec):",
        'if spec.kind == "trajectory":',
        'if tree.attrs.get("model_kind") == "trajectory":',
        'if "trajectory" in tree.children:',
    ]
    for line, pattern in zip(lines, KIND_CHECKS, strict=True):
        assert re.search(pattern, line), (pattern, line)


#: Words that belong to one observation only: outside kinds/ and data/cells.py nothing may name them.
OBSERVATION_WORDS = r"\b(successes|trials)\b"


def test_nothing_outside_the_kinds_names_what_a_cell_observes():
    offending = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in PACKAGE.rglob("*.py")
        if path.parent.name != "kinds" and path.relative_to(PACKAGE).as_posix() != "data/cells.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(OBSERVATION_WORDS, line)
    ]
    assert not offending, offending
    assert re.search(OBSERVATION_WORDS, 'cells["successes"]')  # the scan can fail


def test_results_round_trips_and_refusals(tmp_path):
    """The results layer's smaller file kinds: a comparison table and a fit's stored spec come back as
    written; a file of the wrong kind is refused with a message naming it."""
    from ww_bayes.results import load_cea, load_comparison, save_comparison, spec_of

    table = pd.DataFrame(
        {
            "estimand": ["effect_pp"],
            "contrast": ["service_vs_control_enforcement"],
            "level": ["by_werkverkenner"],
            "group": ["0-25"],
            "frequentist_estimate": [1.5],
            "posterior_mean": [1.2],
            "posterior_eti90_lb": [0.1],
            "posterior_eti90_ub": [2.3],
        }
    )
    again = load_comparison(save_comparison(table, tmp_path / "compare.csv"))
    pd.testing.assert_frame_equal(again, table)
    assert again.attrs["interval_label"] == "eti90"
    save_comparison(table.drop(columns="posterior_mean"), tmp_path / "broken.csv")
    with pytest.raises(ResultFileError, match="no column 'posterior_mean'"):
        load_comparison(tmp_path / "broken.csv")
    models = PACKAGE.parent / "models"
    text = (models / "job_finding_12m.toml").read_text()
    tree = xr.DataTree()
    tree.attrs.update(
        {"spec_text": text, "spec_source": "job.toml", "ww_bayes_kind": "ww_bayes posterior fit"}
    )
    assert (
        spec_of(tree) == wb.load_spec(models / "job_finding_12m.toml").__class__(**{**vars(spec_of(tree))})
        and spec_of(tree).outcome == "employed_m12"
    )
    tree.to_netcdf(tmp_path / "fit.nc", engine="h5netcdf")
    with pytest.raises(ResultFileError, match="not a ww_bayes cost-effectiveness result"):
        load_cea(tmp_path / "fit.nc")
