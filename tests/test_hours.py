"""The hours kind: the hurdle's cell likelihood equals the person-level one (both families), its draws of
the sufficient statistics have the right distribution, its spec names bad keys, and a short fit passes the
whole path (save, load, summary, truth, report, release, OLS comparison, the hours offered to the
cost-effectiveness)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytensor
import pytest
import xarray as xr
from pytensor.compile.mode import Mode

import ww_bayes as wb
import ww_bayes.release as release_module
from ww_bayes.cea import production_hours
from ww_bayes.cli import main
from ww_bayes.compare import ESTIMATORS, compare
from ww_bayes.data.io import typed_cohort, write_cohort, write_datatree
from ww_bayes.data.schema import HOURS_Y1
from ww_bayes.data.simulate import truth_path
from ww_bayes.inference import observed_groups
from ww_bayes.kinds import kind_of, load_spec, parse_spec
from ww_bayes.kinds.common import OutputSettings
from ww_bayes.kinds.hours import ANY_RATE, GIVEN_ANY_MEAN
from ww_bayes.kinds.observations import (
    CELL_ANY,
    CELL_DISPERSION,
    CELL_LOCATION,
    POSITIVE_FAMILIES,
    HurdleStatistics,
    hurdle_cells,
)
from ww_bayes.record import _dominance_problems
from ww_bayes.release import MIN_COUNT, breaks_rule, release
from ww_bayes.report import build_report
from ww_bayes.results import (
    coverage,
    load_fit,
    save_fit,
    save_fit_and_summary,
    spec_of,
    stored,
    summarise,
    truth_of,
)
from ww_bayes.tomlspec import SpecError

pytestmark = pytest.mark.filterwarnings("ignore::ww_bayes.results.ConvergenceWarning")
SPEC = "hours_worked_y1"
MODELS = Path(__file__).resolve().parents[1] / "models"
#: PyTensor's Python linker: nothing to compile for a one-off evaluation.
PYTHON = Mode(linker="py", optimizer="fast_run")


def person_level_logp(hours: np.ndarray, p_any, location, dispersion, family) -> np.ndarray:
    """Each person's log-density on the hours scale: log(1 - p) for no hours, log p + the family's
    log-density of the hours otherwise (scipy, one person at a time)."""
    positive = hours > 0
    out = np.where(positive, np.log(p_any), np.log1p(-p_any))
    x = np.where(positive, hours, 1.0)
    return out + np.where(positive, family.person_logpdf(x, location, dispersion), 0.0)


@pytest.mark.parametrize("family", list(POSITIVE_FAMILIES))
def test_the_cell_likelihood_equals_the_person_level_likelihood(small_cohort, family):
    """At a random point of the model, the log-likelihood of every cell (the observation's CustomDist on the
    sufficient statistics, Jacobian included) equals the sum of its persons' log-densities (scipy)."""
    spec = load_spec(SPEC).with_family(family)
    kind = kind_of(spec)
    data = kind.prepare(spec, small_cohort.data)
    model = kind.build(spec, data)
    rng = np.random.default_rng(5)
    point = {
        name: value + rng.normal(0, 0.3, np.shape(value)) for name, value in model.initial_point().items()
    }
    outputs = [model.logp(vars=[model["y"]], sum=False)[0]]
    outputs += model.replace_rvs_by_values([model[CELL_ANY], model[CELL_LOCATION], model[CELL_DISPERSION]])
    function = pytensor.function(model.value_vars, outputs, on_unused_input="ignore", mode=PYTHON)
    cell_logp, p_any, location, dispersion = function(*(point[v.name] for v in model.value_vars))
    keys = ["arm", *spec.groups]
    df = small_cohort.data
    cell_of = pd.MultiIndex.from_frame(data.cells[keys].astype(str))
    person_cells = cell_of.get_indexer(pd.MultiIndex.from_frame(df[keys].astype(str)))
    assert (person_cells >= 0).all()
    persons = person_level_logp(df[HOURS_Y1].to_numpy(float), p_any[person_cells], location[person_cells],
                                dispersion[person_cells], POSITIVE_FAMILIES[family])  # fmt: skip
    expected = np.bincount(person_cells, persons, minlength=data.n_cells)
    np.testing.assert_allclose(cell_logp, expected, rtol=1e-9, atol=1e-6)


def stacked_against_named(spec, cohort: pd.DataFrame, seed: int) -> tuple[float, float]:
    """The log-density (priors and likelihood, on the constrained values) of the sampling form at a random
    point and of the named model at the same point mapped back by ``from_sampling``."""
    from pymc.model.transform.conditioning import remove_value_transforms

    kind = kind_of(spec)
    data = kind.prepare(spec, cohort)
    stacked = remove_value_transforms(kind.build(spec, data, for_sampling=True))
    named = remove_value_transforms(kind.build(spec, data))
    rng = np.random.default_rng(seed)
    point = {}
    shapes = {name: np.shape(value) for name, value in stacked.initial_point().items()}
    for rv in stacked.free_RVs:  # a point near the prior's centre, the sds positive, the z summing to zero
        value = rng.normal(0.0, 0.3, shapes[rv.name])
        if rv.name.startswith("stacked_sd_"):
            value = np.abs(value) + 0.05
        if rv.name.startswith("stacked_z_"):
            value = value - value.mean(axis=-1, keepdims=True)
        if rv.name == "stacked_mean":
            centres = [p.mean_mu for part in ("any_hours", "hours") for p in spec.priors[part].values()]
            value = value + np.array([*centres, spec.dispersion.mean_mu])
        point[rv.name] = value
    dims = {name: stacked.named_vars_to_dims[name] for name in point}
    draws = xr.Dataset(
        {name: (("chain", "draw", *dims[name]), value[None, None]) for name, value in point.items()},
        coords={d: list(stacked.coords[d]) for name in point for d in dims[name]},
    )
    mapped = kind.from_sampling(spec, data, draws)
    assert set(mapped.data_vars) == {rv.name for rv in named.free_RVs}
    at_named = {v.name: mapped[v.name].values[0, 0] for v in named.value_vars}

    def total(model, at):  # term by term: PyTensor's Python linker adds at most 32 terms in one node
        return float(sum(np.sum(term) for term in model.compile_logp(sum=False, mode=PYTHON)(at)))

    return total(stacked, point), total(named, at_named)


@pytest.mark.parametrize("family", list(POSITIVE_FAMILIES))
def test_the_sampling_form_has_the_same_log_density(small_cohort, family, monkeypatch):
    """The stacked sampling form (one vector per kind of free variable, the likelihood summed over the whole
    grid) and the named model give the same log-density at random points, for every family; for the
    shipped one also with forms mixed by the data ("auto"), half-centred forms, a component unpooled, one
    without deviations, and an empty cell (no person of one arm in one region). A sampling form that reads
    one region's cells as the next region's is caught."""
    shipped = load_spec(SPEC).with_family(family)
    cohort = small_cohort.data
    some_region = cohort["region"].astype(str).iloc[0]
    empty = cohort[~((cohort["region"].astype(str) == some_region) & (cohort["arm"] == "control_none"))]
    unpooled = parse_spec((MODELS / f"{SPEC}.toml").read_text().replace(
        '[pooling.hours]\nbaseline = "partial"\nservice = "partial"',
        '[pooling.hours]\nbaseline = "partial"\nservice = { werkverkenner = "none", region = "full" }',
    ), "mixed.toml").with_family(family)  # fmt: skip
    assert unpooled.pooling["hours"]["service"] == {"werkverkenner": "none", "region": "full"}
    cases = [(shipped, cohort, 1)]
    if family == "normal":  # the shipped family: the other structures too
        cases += [(shipped.with_parametrization("auto"), empty, 2), (unpooled, empty, 3),
                  (shipped.with_parametrization("half-centred"), cohort, 4)]  # fmt: skip
    for spec, data, seed in cases:
        stacked, named = stacked_against_named(spec, data, seed)
        assert np.isfinite(named)
        assert stacked == pytest.approx(named, rel=1e-10)
    if family != "normal":
        return
    import ww_bayes.kinds.hours as hours

    original = hours._grid_data

    def misplaced(data, groups):  # one region's cells read as the next region's
        persons, statistics = original(data, groups)
        return persons, np.roll(statistics, 1, axis=1 + groups.index("region"))

    monkeypatch.setattr(hours, "_grid_data", misplaced)
    stacked, named = stacked_against_named(shipped, cohort, 1)
    assert stacked != pytest.approx(named, rel=1e-6)


def test_the_gamma_statistics_are_drawn_with_their_distribution():
    """The sum of logs of k gamma values, drawn one by one for few values and from its conditional normal
    for many, has the distribution of the sum of logs of k values drawn one by one (two-sample KS)."""
    from scipy.stats import ks_2samp

    family = POSITIVE_FAMILIES["gamma"]
    rng = np.random.default_rng(11)
    for k in (7, 80):
        drawn = family.draw(np.full(4000, k), 900.0, 1.6, rng)
        values = rng.gamma(1.6, 900.0 / 1.6, size=(4000, k))
        assert ks_2samp(drawn[:, 0], values.sum(axis=1)).pvalue > 0.001
        assert ks_2samp(drawn[:, 1], np.log(values).sum(axis=1)).pvalue > 0.001


@pytest.mark.parametrize("family", list(POSITIVE_FAMILIES))
def test_the_cell_pit_is_uniform_under_the_model_and_not_under_another_spread(family):
    """Each cell's two PITs (the number with hours out of the persons, randomised; the family's statistic of
    the hours given that number) are uniform for cells drawn from the model with the parameters they are
    computed with (KS), and the hours' PIT is not when it is computed with a spread three times too wide
    (the broken variant the LOO-PIT must catch)."""
    from scipy.stats import kstest

    observation = HurdleStatistics(family)
    rng = np.random.default_rng(5)
    cells = 3000
    persons = rng.integers(1, 120, size=cells)
    p_any = rng.uniform(0.3, 0.9, size=cells)
    location = rng.uniform(6.0, 7.0, size=cells) if family == "lognormal" else rng.uniform(300, 1200, cells)
    ranges = {"lognormal": (0.6, 1.0), "gamma": (1.0, 3.0), "normal": (200.0, 600.0)}
    dispersion = rng.uniform(*ranges[family], size=cells)

    def widen(value, spread):
        """The dispersion of a spread ``spread`` times too wide: an sd times it, a gamma shape over its
        square."""
        return value / spread**2 if family == "gamma" else value * spread

    drawn = observation.draw_statistics(persons, p_any, location, dispersion, rng)
    observed = xr.Dataset({"y": (("cell", "statistic"), drawn)},
                          coords={"statistic": list(observation.statistic_names)})  # fmt: skip
    constant = xr.Dataset({"persons": ("cell", persons)})

    def pit(spread: float) -> xr.DataArray:
        parameters = xr.Dataset({CELL_ANY: ("cell", p_any), CELL_LOCATION: ("cell", location),
                                 CELL_DISPERSION: ("cell", widen(dispersion, spread))})  # fmt: skip
        below, at = observation.cdf_at_observed(parameters, observed, constant)
        assert list(below["part"].values) == ["any_hours", "hours_of_workers"]
        return below + rng.uniform(size=below.shape) * at

    right, wrong = pit(1.0), pit(3.0)
    for part in ("any_hours", "hours_of_workers"):
        values = right.sel(part=part).values
        assert kstest(values[np.isfinite(values)], "uniform").pvalue > 0.001
    assert np.isnan(right.sel(part="hours_of_workers").values[drawn[:, 0] == 0]).all()
    assert kstest(wrong.sel(part="hours_of_workers").values[drawn[:, 0] > 0], "uniform").pvalue < 1e-6


def test_the_spec_names_a_bad_key():
    text = (MODELS / f"{SPEC}.toml").read_text()
    cases = {
        'family = "normal"': ('family = "weibull"', "'family' must be one of"),
        'dispersion_by = ["werkverkenner"]': ('dispersion_by = ["sex"]', "'dispersion_by'"),
        "[pooling.hours]": ("[pooling.hourz]", "'pooling.hourz'"),
        "smallest_effect_hours = 10.0": ("", "smallest_effect_hours"),
    }
    for old, (new, message) in cases.items():
        assert old in text
        with pytest.raises(SpecError, match=re.escape(message)):
            parse_spec(text.replace(old, new), "bad.toml")


def test_each_part_estimates_its_link_per_level_as_the_person_rows_do(small_cohort):
    """The estimates the parametrization is chosen from: per arm and class, logit P(any hours) (half a
    person added each way) and, of those with any, the log mean hours (normal, gamma; variance: the squared
    coefficient of variation over n) or the mean log hours (log-normal; variance: that of the logs over n),
    as pandas computes them from the person rows."""
    df = small_cohort.data
    cells = hurdle_cells(df[HOURS_Y1], [df["arm"], df["werkverkenner"]])
    rows = df.dropna(subset=[HOURS_Y1]).assign(h=lambda d: d[HOURS_Y1].astype(float))
    by = ["arm", "werkverkenner"]
    persons = rows.groupby(by, observed=True)
    positive = rows[rows["h"] > 0].groupby(by, observed=True)["h"]
    rate = (persons["h"].apply(lambda h: (h > 0).sum()) + 0.5) / (persons.size() + 1.0)
    expected = {
        ("any", "gamma"): (np.log(rate / (1 - rate)), 1 / (persons.size() * rate * (1 - rate))),
        ("positive", "gamma"): (np.log(positive.mean()),
                                positive.var() / (positive.size() * positive.mean() ** 2)),
        ("positive", "normal"): (np.log(positive.mean()),
                                 positive.var() / (positive.size() * positive.mean() ** 2)),
        ("positive", "lognormal"): (positive.apply(lambda h: np.log(h).mean()),
                                    positive.apply(lambda h: np.log(h).var() / len(h))),
    }  # fmt: skip
    for (part, family), (estimate, variance) in expected.items():
        got = HurdleStatistics(family).part_estimates(cells, by, part).set_index(by).sort_index()
        estimate, variance = estimate.sort_index(), variance.sort_index()
        np.testing.assert_allclose(got["estimate"].to_numpy(), estimate.to_numpy(), rtol=1e-9)
        np.testing.assert_allclose(got["variance"].to_numpy(), variance.to_numpy(), rtol=1e-9)


def test_each_part_gets_the_form_its_own_data_call_for(small_cohort):
    """Option "auto" chooses per part, component and factor: on 4,000 persons the class baselines (levels far
    apart, each measured on hundreds) are centred in both parts and the effects' region deviations
    (a few persons per region and arm) non-centred; a form the spec asks for wins and says so."""
    spec = load_spec(SPEC).with_parametrization("auto")
    data = kind_of(spec).prepare(spec, small_cohort.data)
    forms = data.parametrization
    assert set(forms) == {f"{part}_{c}" for part in ("any_hours", "hours")
                          for c in ("baseline", "service", "enforcement")}  # fmt: skip
    for part in ("any_hours", "hours"):
        assert forms[f"{part}_baseline"]["werkverkenner"].form == "centred"
        assert forms[f"{part}_baseline"]["werkverkenner"].shrinkage < 0.1
        for effect in ("service", "enforcement"):
            assert forms[f"{part}_{effect}"]["region"].form == "non-centred"
            assert forms[f"{part}_{effect}"]["region"].chosen_by == "data"
    asked = spec.with_parametrization({"hours": {"enforcement": {"region": "centred"}}})
    chosen = kind_of(asked).prepare(asked, small_cohort.data).parametrization
    assert chosen["hours_enforcement"]["region"].form == "centred"
    assert chosen["hours_enforcement"]["region"].chosen_by == "spec"
    assert chosen["any_hours_enforcement"]["region"].chosen_by == "data"
    printed = kind_of(asked).describe_priors(asked, kind_of(asked).prepare(asked, small_cohort.data))
    assert "centred (asked in the spec)" in printed and "non-centred (data: shrinkage" in printed


def test_the_spec_reads_a_parametrization_per_part():
    text = (MODELS / f"{SPEC}.toml").read_text()
    shipped = load_spec(SPEC)
    assert shipped.asked("any_hours", "baseline", "region") == "centred"
    assert shipped.asked("hours", "service", "werkverkenner") == "non-centred"
    without = re.sub(r"\[parametrization\.(any_hours|hours)\][^\[]*", "", text)
    assert "[parametrization" not in without
    assert parse_spec(without, "auto.toml").asked("hours", "service", "region") == "auto"
    cases = {
        "[parametrization.hours]": ("[parametrization.hourz]", "'parametrization.hourz'"),
        '[parametrization.hours]\nbaseline = "centred"': (
            '[parametrization.hours]\nbaseline = "sideways"',
            "'parametrization.hours.baseline.werkverkenner'",
        ),
    }
    for old, (new, message) in cases.items():
        assert old in text
        with pytest.raises(SpecError, match=re.escape(message)):
            parse_spec(text.replace(old, new), "bad.toml")


@pytest.fixture(scope="module")
def short_fit(small_cohort, tmp_path_factory):
    """The shipped hours spec on the 4,000-person cohort with short chains, written with its summary into a
    results folder beside the cohort file and its truth."""
    folder = tmp_path_factory.mktemp("hours")
    data = write_cohort(small_cohort.data, folder / "cohort.parquet")
    write_datatree(small_cohort.truth, truth_path(data))
    spec = load_spec(SPEC).with_sampler(chains=2, draws=150, tune=150, seed=3)
    tree = wb.fit(spec, data, progress=False, log=None)
    path = folder / "results" / "hours.nc"
    save_fit_and_summary(tree, path, summarise(tree))
    return tree, path, data


def test_a_short_fit_passes_the_whole_path(short_fit, small_cohort):
    """fit -> save -> load -> summary beside the truth -> screen text -> report section with the letter's
    statement; the file keeps no per-cell grid and no sums beyond its observed group."""
    tree, path, data = short_fit
    loaded = load_fit(path, warn=False)
    assert loaded.attrs["model_kind"] == "hours" and loaded.attrs["family"] == "normal"
    forms = json.loads(loaded.attrs["parametrization"])  # the spec's pinned forms, recorded as asked
    assert forms["any_hours_service"]["region"] == {**forms["any_hours_service"]["region"],
                                                    "form": "non-centred", "chosen_by": "spec"}  # fmt: skip
    assert forms["hours_baseline"]["werkverkenner"]["form"] == "centred"
    assert ANY_RATE not in loaded["posterior"].ds and GIVEN_ANY_MEAN not in loaded["posterior"].ds
    table = summarise(loaded)
    assert set(table["estimand"]) == {"mean_hours", "any_hours_pp", "hours_given_any", "mean_hours_from_any",
                                      "mean_hours_from_given_any"}  # fmt: skip
    overall = table[table["level"] == "overall"].set_index(["estimand", "contrast"])["mean"]
    parts = overall["mean_hours_from_any"] + overall["mean_hours_from_given_any"]
    np.testing.assert_allclose(parts.to_numpy(), overall["mean_hours"].to_numpy(), rtol=1e-9)
    # a file keeping every third draw: its probabilities are those of its draws, at the smallest effect in
    # hours (10), not in pp
    thinned = stored(tree, OutputSettings(draws=50), kind_of(tree))
    assert thinned.attrs["thinned_by"] == 3
    for level in ("overall", "werkverkenner"):
        ds = thinned[f"hours/{level}"].ds
        beyond = (
            (abs(ds["mean_hours"]) > 10.0).mean(["chain", "draw"]).transpose(*ds["prob_beyond_smallest"].dims)
        )
        np.testing.assert_array_equal(ds["prob_beyond_smallest"].values, beyond.values)
    covered = coverage(loaded, table, truth_of(loaded, truth_path(data)))
    assert set(covered["estimand"]) == {"mean_hours", "any_hours_pp"}
    assert set(covered["level"]) == {"overall", "by_werkverkenner", "by_region"}
    text = kind_of(loaded).screen_text(loaded, table, covered)
    assert "enforcement_vs_none" in text and "The letter: enforcement alone has no significant effect" in text
    page = build_report(path.parent)
    assert "hours worked in months 1-12" in page and "descriptive" in page


def test_the_readers_checks_apply_to_an_hours_fit(short_fit, small_cohort):
    """LOO-PIT per part of the hurdle, leave one person out on the hours scale (every person: fewer than
    the sample), the prior sensitivity of both parts' top-level priors, and words for every code name the
    report shows, in English and Dutch; the letter's statements in the reader's language."""
    from ww_bayes.labels import CATALOGUE, Words

    tree, path, data = short_fit
    checks = wb.model_checks(tree, data)
    assert set(checks.pit_tests.loc[checks.pit_tests["breakdown"] == "part", "level"]) == {
        "any_hours", "hours_of_workers"}  # fmt: skip
    persons = int(small_cohort.data[HOURS_Y1].notna().sum())
    assert checks.person_loo.unit == "person" and checks.person_loo.units == persons
    assert checks.person_loo.subsample == 0 and np.isfinite(checks.person_loo.elpd)
    # the cells' log-likelihood is the sum of the persons' log-densities: leaving a cell or a person out
    # predicts nearly the same in all
    assert abs(checks.person_loo.elpd - checks.cell_loo.elpd) < 0.01 * abs(checks.cell_loo.elpd)
    # above the sample size, a simple random sample of persons estimates the same sum within its error,
    # and the report says how (not the trajectory's difference estimator over months)
    from ww_bayes.report.checks import loo_blocks, pit_blocks

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("ww_bayes.kinds.hours.PERSON_LOO_SAMPLE", 1_000)
        sampled = wb.model_checks(tree, data)
    loo = sampled.person_loo
    assert loo.subsample == 1_000 and loo.estimator == "mean" and loo.units == persons
    assert abs(loo.elpd - checks.person_loo.elpd) < 4 * loo.subsampling_se
    for lang in ("en", "nl"):
        text = " ".join(b.text for b in loo_blocks(sampled, Words(lang)) if hasattr(b, "text"))
        assert "1,000" in text and "months" not in text and "maanden" not in text
        pit_text = " ".join(
            b.text for b in pit_blocks("hours.nc", sampled, Words(lang)) if hasattr(b, "text")
        )
        assert ("two values, one per part" if lang == "en" else "twee waarden, een per deel") in pit_text
    checked = set(checks.sensitivity.loc[checks.sensitivity["parameter"], "quantity"])
    hyper = kind_of(tree).hyper_parameters(load_spec(SPEC))
    assert checked == set(hyper) and "any_hours_service_sd_region" in checked
    table = summarise(tree)
    for name in [*hyper, *set(table["estimand"]), "any_hours", "hours_of_workers", "part"]:
        assert name in CATALOGUE and CATALOGUE[name]["en"] != CATALOGUE[name]["nl"], name
    from ww_bayes.kinds.hours import letter_lines

    label = "eti90"
    dutch = letter_lines(table, label, Words("nl"))
    assert len(dutch) == 2 and all("De brief:" in line and "uur per WW-gerechtigde" in line for line in dutch)
    assert "handhaving alleen heeft geen significant effect" in " ".join(dutch)


def test_a_release_of_an_hours_fit_passes_cleanly(short_fit, tmp_path):
    """The release writes the hours estimates and the count rule's counts (persons with hours observed, and
    with any hours, per arm and released group; each 0 or at least the minimum count, and so their
    difference), and nothing of the cells' sums of hours."""
    _, path, _ = short_fit
    done = release(path.parent, tmp_path / "release")
    counts = pd.read_csv(done.folder / "counts.csv", dtype={"group": str, "category": str})
    assert set(counts["category"]) == {"positive"}
    for values in (counts["persons"], counts["count"], counts["persons"] - counts["count"]):
        assert not breaks_rule(values.dropna(), MIN_COUNT).any()
    released = xr.load_datatree(done.folder / "hours_estimates.nc")
    assert set(released.children) == {"hours", "diagnostics"}
    assert {"overall", "werkverkenner"} <= set(released["hours"].children)
    for node in released.subtree:
        assert not {"y", "moments", "statistics", "persons"} & set(node.ds.variables)
    assert done.groupings["region"].merged  # the small cohort's regions: merged, each variable by its role


def test_each_cell_keeps_its_sums_and_its_two_largest_hours(small_cohort):
    """The cell table's sums, and the two largest hours of each cell (0 where it has fewer positive values),
    equal those of the cell's person rows."""
    df = small_cohort.data
    keys = ["arm", "werkverkenner", "region"]
    cells = hurdle_cells(df[HOURS_Y1], [df[k] for k in keys]).set_index(keys)
    for key, rows in df.dropna(subset=[HOURS_Y1]).groupby(keys, observed=True):
        hours = np.sort(rows[HOURS_Y1].to_numpy())[::-1]
        cell = cells.loc[key]
        assert cell["persons"] == len(hours) and cell["sum"] == pytest.approx(hours.sum())
        top = np.pad(hours[:2], (0, 2 - len(hours[:2])))
        assert (cell["largest"], cell["second_largest"]) == (top[0], top[1])


def dominated(
    cohort: pd.DataFrame, groups: dict[str, set[str]], rule: release_module.Dominance
) -> list[tuple]:
    """The attack's target: (factor, group, arm) of the released ``groups`` (factor -> group labels, each
    a level or a merged group of levels) whose hours, from the person rows, break the dominance rule."""
    out = []
    for factor, labels in groups.items():
        for label in labels:
            members = cohort[factor].astype(str).isin(label.split("|"))
            for arm, rows in cohort[members].groupby("arm", observed=True):
                hours = np.sort(rows[HOURS_Y1].dropna().to_numpy())[::-1]
                total, top = hours.sum(), np.pad(hours[:2], (0, 2))[:2]
                few = rule.min_persons is not None and 0 < len(hours) < rule.min_persons
                dominant = top[: rule.largest].sum() > rule.share * total
                spread = rule.p_ratio is not None and total - top.sum() < rule.p_ratio * top[0]
                if few or (total > 0 and (dominant or spread)):
                    out.append((factor, label, str(arm)))
    return out


def released_groups(done) -> dict[str, set[str]]:
    """Per factor, the groups a release shows: each a level or its merged levels joined by '|'."""
    out = {}
    for factor, grouping in done.groupings.items():
        members = {}
        for level, group in grouping.groups.items():
            members.setdefault(group, []).append(level)
        out[factor] = {"|".join(levels) for levels in members.values()}
    return out


def with_planted_hours(
    tree, cohort: pd.DataFrame, cls: str, arm: str, planted: list[float], folder: Path
) -> tuple[Path, xr.DataTree]:
    """``cohort`` with the hours of class ``cls`` in ``arm`` set to ``planted`` (the rest of them none),
    in place; the fit ``tree`` with those cells, saved as ``folder / "hours.nc"``: the folder and the fit."""
    rows = cohort.index[(cohort["werkverkenner"] == cls) & (cohort["arm"] == arm) & cohort[HOURS_Y1].notna()]
    hours = np.zeros(len(rows))
    hours[: len(planted)] = planted
    cohort.loc[rows, HOURS_Y1] = hours
    kind = kind_of(tree)
    data = kind.prepare(spec_of(tree), typed_cohort(cohort, kind.required_columns(spec_of(tree))))
    changed = tree.copy()
    for name, group in observed_groups(data).items():
        changed[name] = xr.DataTree(group)
    save_fit(changed, folder / "hours.nc")
    return folder, changed


def test_hours_two_persons_dominate_are_not_released_as_their_own_group(
    short_fit, small_cohort, tmp_path, capsys
):
    """A class whose control_none hours are nearly all two persons' (2,000 and 1,900 hours; 10 others 1 hour
    each, the rest none): every count passes (12 persons with hours), but the class's hours total would
    nearly give those two persons' hours. The release merges the class, saying why, and says which rule and
    parameters it applied; the broken variant (no dominance rule) releases it as itself."""
    tree, path, _ = short_fit
    cohort = small_cohort.data.copy()
    cls = "50-75"
    planted = [2000.0, 1900.0, *[1.0] * 10]
    results, changed = with_planted_hours(tree, cohort, cls, "control_none", planted, tmp_path / "results")

    done = release(results, tmp_path / "release")
    rule = done.dominance
    assert cls in done.groupings["werkverkenner"].merged
    assert dominated(cohort, released_groups(done), rule) == []
    record = json.loads((done.folder / "disclosure_checks.json").read_text())
    assert record["rule"]["dominance"] == {"largest": 2, "share": 0.9, "p_ratio": 0.1, "min_persons": None,
                                           "source": release_module.ACRO_SOURCE}  # fmt: skip
    assert "acro/default.yaml" in (done.folder / "disclosure_report.md").read_text()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(release_module, "dominated_groups", lambda *args: set())
        broken = release(results, tmp_path / "broken")
    assert cls not in broken.groupings["werkverkenner"].merged
    assert ("werkverkenner", cls, "control_none") in dominated(cohort, released_groups(broken), rule)
    # the parameters are configuration with their source: a looser rule keeps the class, the record and the
    # disclosure report say which rule and from where; other parameters under ACRO's name are refused
    source = "the secure environment's output guidelines for magnitude tables, version 2026-01 (test)"
    loose = release(results, tmp_path / "loose", dominance=release_module.Dominance(0.999, 0.001, source))
    assert cls not in loose.groupings["werkverkenner"].merged
    record = json.loads((loose.folder / "disclosure_checks.json").read_text())
    assert record["rule"]["dominance"] == {"largest": 2, "share": 0.999, "p_ratio": 0.001,
                                           "min_persons": None, "source": source}  # fmt: skip
    assert f"Source of the parameters: {source}." in (loose.folder / "disclosure_report.md").read_text()
    with pytest.raises(release_module.ReleaseError, match="not the parameters of 'acro'"):
        release_module.Dominance(0.999, 0.001)
    assert main(["release", str(results), "--out", str(tmp_path / "cli2"), "--p-ratio", "0.2"]) == 2
    assert "--dominance-source" in capsys.readouterr().err
    # a fit file whose cells keep no largest hours (written before they were kept) is refused by name
    older = changed.copy()
    observed = older["observed_data"].to_dataset()
    older["observed_data"] = xr.DataTree(observed.sel(moment=["sum", "sum_squares"]))
    save_fit(older, tmp_path / "older" / "hours.nc")
    with pytest.raises(release_module.ReleaseError, match="hours.nc: its cells keep no largest amounts"):
        release(tmp_path / "older", tmp_path / "older_release")
    with pytest.raises(release_module.ReleaseError, match="--p-ratio 1.5"):
        release_module.Dominance(0.9, 1.5)
    assert main(["release", str(results), "--out", str(tmp_path / "cli"), "--dominance-share", "2"]) == 2
    assert "--dominance-share 2.0: must be a number between 0 and 1" in capsys.readouterr().err


def test_cbs_rule_for_means_of_persons_amounts(short_fit, small_cohort, tmp_path, capsys):
    """``--dominance-rule cbs-income-2021``: CBS's published rule for means of persons' amounts (the
    largest at most 30% of a group's total, at least 100 persons). A class whose control_enforcement hours
    are one person's 2,000 of 5,500 (36%: the top pair's 55% and the others' share pass ACRO's rule) is kept
    under ACRO's rule and merged under CBS's; every group the CBS release shows passes CBS's rule on the
    person rows (groups of fewer than 100 persons in an arm too), while ACRO's release shows groups that
    break it; the record and the disclosure report name CBS's page; the preset takes no other parameters."""
    tree, _, _ = short_fit
    cohort = small_cohort.data.copy()
    cls = "75-100"
    planted = [2000.0, 1000.0, *[100.0] * 25]
    results, _ = with_planted_hours(tree, cohort, cls, "control_enforcement", planted, tmp_path / "results")
    cbs = release_module.DOMINANCE_PRESETS["cbs-income-2021"]
    acro = release(results, tmp_path / "acro")
    assert cls not in acro.groupings["werkverkenner"].merged
    assert ("werkverkenner", cls, "control_enforcement") in dominated(cohort, released_groups(acro), cbs)
    assert dominated(cohort, released_groups(acro), acro.dominance) == []
    done = release(results, tmp_path / "cbs", dominance=cbs)
    assert cls in done.groupings["werkverkenner"].merged
    assert dominated(cohort, released_groups(done), cbs) == []
    record = json.loads((done.folder / "disclosure_checks.json").read_text())
    assert record["rule"]["dominance"] == {"largest": 1, "share": 0.3, "p_ratio": None, "min_persons": 100,
                                           "source": release_module.CBS_INCOME_SOURCE}  # fmt: skip
    report = (done.folder / "disclosure_report.md").read_text()
    assert "the largest hours are at most 30% of the group's hours" in report
    assert "aanvullende-onderzoeksbeschrijving-inkomensstatistiek" in report
    assert main(["audit", str(done.folder)]) == 0
    capsys.readouterr()
    # the preset by name from the command line, and not with parameters of its own
    assert main(["release", str(results), "--out", str(tmp_path / "cli"), "--dominance-rule",
                 "cbs-income-2021"]) == 0  # fmt: skip
    cli_record = json.loads((tmp_path / "cli" / "disclosure_checks.json").read_text())
    assert cli_record["rule"]["dominance"] == record["rule"]["dominance"]
    assert main(["release", str(results), "--out", str(tmp_path / "cli2"), "--dominance-rule",
                 "cbs-income-2021", "--p-ratio", "0.2"]) == 2  # fmt: skip
    assert "has its own parameters and source" in capsys.readouterr().err
    with pytest.raises(release_module.ReleaseError, match="not the parameters of 'cbs-income-2021'"):
        release_module.Dominance(0.5, None, release_module.CBS_INCOME_SOURCE, largest=1, min_persons=100)
    with pytest.raises(release_module.ReleaseError, match="not the parameters of 'acro'"):
        release_module.Dominance(0.5, 0.1, f"  {release_module.ACRO_SOURCE.upper()} ")  # spacing and case
    # an edited record whose parameters are not its source's is refused by the audit
    tampered = dict(record["rule"]["dominance"], largest=2, share=0.9)
    assert any("not the parameters of 'cbs-income-2021'" in p for p in _dominance_problems(tampered))
    assert _dominance_problems(record["rule"]["dominance"]) == []


def test_the_ols_comparison_is_ols_on_person_rows(short_fit, small_cohort):
    """``ww-bayes compare``'s estimator for hours: its overall effects equal statsmodels' OLS of hours on the
    arms with class fixed effects (HC2), and the comparison table sets them beside the posterior."""
    import statsmodels.formula.api as smf

    tree, _, _ = short_fit
    df = small_cohort.data
    frequentist = ESTIMATORS[kind_of(tree).frequentist](df, tree)
    table = compare(tree, frequentist)
    assert set(table["estimand"]) == {"mean_hours"} and table["posterior_mean"].notna().all()
    model = smf.ols("hours_y1 ~ C(arm, Treatment('control_none')) + C(werkverkenner)",
                    data=df.astype({"arm": str, "werkverkenner": str})).fit(cov_type="HC2")  # fmt: skip
    name = "C(arm, Treatment('control_none'))[T.control_enforcement]"
    row = frequentist[
        (frequentist["level"] == "overall") & (frequentist["contrast"] == "enforcement_vs_none")
    ]
    assert float(row["estimate"].iloc[0]) == pytest.approx(model.params[name], rel=1e-9)
    assert float(row["se"].iloc[0]) == pytest.approx(model.bse[name], rel=1e-9)


def test_the_hours_offered_to_the_cost_effectiveness(short_fit):
    """Months 1-12 hold the year-1 effect on hours (spread evenly), later months the employment effect times
    year 1's hours per extra employed month, or nothing; without an hours fit the result says it values
    employment months instead."""
    tree, _, _ = short_fit
    contrast = "service_vs_control_enforcement"
    year1 = tree["hours/overall"].ds["mean_hours"].sel(contrast=contrast, drop=True)
    months = range(1, 31)
    rng = np.random.default_rng(2)
    classes = list(tree["hours/werkverkenner"].ds["werkverkenner"].values)
    shape = (year1.sizes["chain"], year1.sizes["draw"])
    overall = xr.DataArray(rng.normal(2.0, 0.3, (*shape, 30)), dims=("chain", "draw", "month"),
                           coords={"month": list(months)})  # fmt: skip
    by_class = overall.expand_dims(werkverkenner=classes, axis=2)
    employment = xr.Dataset({"overall": overall, "by_werkverkenner": by_class})
    offered = production_hours([tree], contrast, months, employment)
    hours = offered.hours["overall"]
    assert offered.uses_hours and "employment_path" in offered.source
    np.testing.assert_allclose(hours.sel(month=list(range(1, 13))).sum("month"), year1)
    ratio = float(year1.mean()) / float((overall.sel(month=list(range(1, 13))).sum("month") / 100).mean())
    np.testing.assert_allclose(hours.sel(month=20), overall.sel(month=20) / 100 * ratio)
    none = production_hours([tree], contrast, months, beyond_year1="none")
    assert float(abs(none.hours["by_werkverkenner"].sel(month=list(range(13, 31)))).max()) == 0.0
    without = production_hours([], contrast, months)
    assert not without.uses_hours and without.hours is None and "employed months" in without.source
