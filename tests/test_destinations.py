"""The destinations kind: its cell likelihood is the person-level categorical one, it recovers the simulator's
destination truth, its shares and effects add up as an accounting identity, and its release checks the counts
of every category."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.special import gammaln

import ww_bayes.kinds.destinations as destinations
import ww_bayes.kinds.observations as observations
import ww_bayes.release as release_module
from ww_bayes.cea import benefit_months
from ww_bayes.cea.benefits import interpolated
from ww_bayes.data.io import typed_cohort
from ww_bayes.data.schema import ARMS
from ww_bayes.data.simulate import simulate_cohort
from ww_bayes.derived import CELLS, OVERALL, levels_of
from ww_bayes.inference import fit, structure_key
from ww_bayes.kinds import kind_named, load_spec, parse_spec
from ww_bayes.kinds.pooling import fit_weights
from ww_bayes.release import MIN_COUNT, breaks_rule, count_table, release
from ww_bayes.report import build_report
from ww_bayes.results import save_fit, spec_of, summarise
from ww_bayes.summaries import coverage
from ww_bayes.tomlspec import SpecError

MODELS = Path(__file__).resolve().parents[1] / "models"
KIND = kind_named("destinations")
pytestmark = pytest.mark.filterwarnings("ignore::ww_bayes.results.ConvergenceWarning")


@pytest.fixture(scope="module")
def spec():
    """The shipped spec with short chains."""
    return load_spec(MODELS / "destinations_12m.toml").with_sampler(chains=2, draws=300, tune=300, seed=11)


@pytest.fixture(scope="module")
def design(spec, small_cohort):
    df = typed_cohort(small_cohort.data, KIND.required_columns(spec))
    return df, KIND.prepare(spec, df)


# --- the likelihood -------------------------------------------------------------------------------------


def compiled(model, *outputs):
    """A function of a point (the free values) returning ``outputs``, with every random variable replaced by
    its value (so deterministics are evaluated at the point, not drawn)."""
    outs = model.replace_rvs_by_values(list(outputs))
    return model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore")


def person_level_logp(spec, df, data, probability) -> float:
    """Sum over persons, outcomes and months of log P(the person's category); ``probability(outcome, month,
    key, category)`` gives it for a person's cell key (arm, groups)."""
    people = df[["arm", *spec.groups]].astype(str).to_numpy()
    categories = destinations.person_categories(spec, df, xr.Dataset(dict(data.constants)))
    total = 0.0
    for (outcome, month), labels in categories.items():
        for person, label in zip(people, labels, strict=True):
            if label is not None:
                total += np.log(probability(outcome, month, tuple(person), label))
    return float(total)


def from_cells(spec, data, cell_probs: np.ndarray):
    """A person's probabilities are those of the cell holding them (float64, as the likelihood sees them)."""
    cells = data.cells[["outcome", "month", "arm", *spec.groups]].itertuples(index=False)
    row_of = {(outcome, int(month), *map(str, key)): i for i, (outcome, month, *key) in enumerate(cells)}
    column = {c: j for j, c in enumerate(data.observation.categories)}
    return lambda outcome, month, key, label: cell_probs[row_of[(outcome, month, *key)], column[label]]


def from_grid(spec, data, shares: dict[str, np.ndarray]):
    """A person's probabilities from the model's share grid of their outcome (arm, groups, month, own
    categories): the softmax over that outcome's categories only (float32, as stored)."""
    axes = [list(ARMS), *(data.levels[f] for f in spec.groups)]
    months = [int(m) for m in data.levels["month"]]

    def probability(outcome, month, key, label):
        index = tuple(labels.index(k) for labels, k in zip(axes, key, strict=True))
        own = data.levels[destinations.MODEL_DIMS[outcome]]
        return float(shares[outcome][(*index, months.index(month), own.index(label))])

    return probability


def cell_logp_and_coefficient(data, model, point) -> tuple[float, float, np.ndarray]:
    """The model's log-likelihood of the observed cells, the cells' log multinomial coefficients and the
    cells' category probabilities."""
    logp, probs = compiled(model, model.observedlogp, model["cell_probs"])(point)
    counts = data.cells[list(data.observation.categories)].to_numpy()
    coefficient = float((gammaln(counts.sum(axis=1) + 1) - gammaln(counts + 1).sum(axis=1)).sum())
    return float(logp), coefficient, probs


def random_point(model, seed: int) -> dict:
    """A point away from the initial one (every free value perturbed), so the check is not at a symmetric
    point where a wrong index could go unnoticed."""
    rng = np.random.default_rng(seed)
    return {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in model.initial_point().items()}


def likelihoods(spec, df, data, seed: int = 3) -> tuple[float, float, float, float]:
    """At a random point: the model's cell log-likelihood, the cells' log multinomial coefficients, the
    persons' categorical log-likelihood from their cells' probabilities and from the outcome's share grid."""
    model = KIND.build(spec, data)
    point = random_point(model, seed)
    shares = {o: compiled(model, model[f"{o}_share"])(point)[0] for o in destinations.OUTCOMES}
    cell_logp, coefficient, probs = cell_logp_and_coefficient(data, model, point)
    by_cell = person_level_logp(spec, df, data, from_cells(spec, data, probs))
    by_grid = person_level_logp(spec, df, data, from_grid(spec, data, shares))
    return cell_logp, coefficient, by_cell, by_grid


def test_cell_likelihood_equals_the_person_level_categorical_likelihood(spec, design):
    """Multinomial on exact cells = sum of persons' categorical log-probabilities + log multinomial
    coefficients, exactly; the persons' probabilities are their outcome's shares in their arm and groups
    (to float32 rounding of the stored shares); the sampler's form (log-softmax) gives the same number."""
    df, data = design
    cell_logp, coefficient, by_cell, by_grid = likelihoods(spec, df, data)
    assert cell_logp == pytest.approx(by_cell + coefficient, rel=1e-12, abs=1e-8)
    assert cell_logp == pytest.approx(by_grid + coefficient, abs=0.05)  # ~16,000 float32 terms
    model = KIND.build(spec, data)
    sampling = KIND.build(spec, data, for_sampling=True)
    point = random_point(model, 3)
    (sampler_logp,) = compiled(sampling, sampling.observedlogp)(point)
    assert float(sampler_logp) == pytest.approx(cell_logp, rel=1e-9)


def test_a_sampler_grid_with_counts_in_the_wrong_rows_is_caught(spec, design, monkeypatch):
    """The broken variant of the sampler's form: each outcome's counts laid out on the grid with the levels
    of every axis in reverse order; its log-probability no longer equals the cells'."""
    _, data = design
    model = KIND.build(spec, data)
    point = random_point(model, 3)
    right = compiled(model, model.observedlogp)(point)[0]
    codes = observations.category_codes
    monkeypatch.setattr(
        observations, "category_codes", lambda values, levels: len(levels) - 1 - codes(values, levels)
    )
    sampling = KIND.build(spec, data, for_sampling=True)
    (wrong,) = compiled(sampling, sampling.observedlogp)(point)
    assert abs(float(wrong) - float(right)) > 100


def test_a_likelihood_that_leaks_probability_to_the_other_outcome_is_caught(spec, design, monkeypatch):
    """The broken variant: without the mask, each cell's probability spreads over the other outcome's
    categories too; the persons' likelihood from the shares tells."""
    df, data = design
    monkeypatch.setattr(destinations, "MASKED_LOGIT", 0.0)
    cell_logp, coefficient, by_cell, by_grid = likelihoods(spec, df, data)
    assert abs(cell_logp - (by_grid + coefficient)) > 100


def test_cells_count_every_observed_person_once_per_outcome_and_month(spec, design):
    df, data = design
    counts = data.cells[list(data.observation.categories)].to_numpy()
    for outcome in destinations.OUTCOMES:
        rows = (data.cells["outcome"] == outcome).to_numpy()
        own = [c for c in data.observation.categories if c in data.levels[destinations.MODEL_DIMS[outcome]]]
        others = [i for i, c in enumerate(data.observation.categories) if c not in own]
        assert counts[rows][:, others].sum() == 0
    observed = df["benefit_m12"].notna() & df["employed_m12"].notna()
    assert counts[(data.cells["outcome"] == "state").to_numpy()].sum() == observed.sum()


# --- the spec -----------------------------------------------------------------------------------------------


def test_good_direction_names_states_and_a_wrong_state_is_named():
    text = (MODELS / "destinations_12m.toml").read_text()
    spec = load_spec(MODELS / "destinations_12m.toml")
    assert spec.good_direction["none_working"] == "more" and spec.good_direction["ww_not_working"] == "less"
    with pytest.raises(SpecError, match="good_direction.job"):
        parse_spec(text.replace('none_working = "more"', 'job = "more"'), "bad.toml")


# --- a fit on the small cohort ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted(spec, small_cohort, tmp_path_factory):
    """The shipped spec on the 4,000-person cohort (classes and regions), short chains; saved in a results
    folder."""
    folder = tmp_path_factory.mktemp("destinations")
    tree = fit(spec, small_cohort.data, progress=False, log=None)
    save_fit(tree, folder / "results" / "destinations.nc")
    return tree, folder


def test_the_fit_records_the_forms_of_both_outcomes(fitted):
    record = json.loads(fitted[0].attrs["parametrization"])
    for outcome in destinations.OUTCOMES:
        assert record[f"{outcome}_baseline"]["region"]["form"] == "centred"
        service = record[f"{outcome}_service"]["werkverkenner"]
        assert (service["form"], service["chosen_by"]) == ("non-centred", "spec")


def test_shares_sum_to_one_and_effects_to_zero_over_destinations(fitted, small_cohort):
    tree, _ = fitted
    for level, ds in levels_of(tree[KIND.name]).items():
        if level == CELLS:  # flags only
            continue
        share = ds["share_pp"]
        np.testing.assert_allclose(share.sum("state"), 0, atol=1e-3)  # float32 draws
        outside = share.sel(state=[s for s in share["state"].values if not str(s).startswith("ww")])
        np.testing.assert_allclose(ds["ww_source_pp"], -outside.sum("state"), atol=1e-3)
        assert level in (OVERALL, "werkverkenner", "region")
    # the shares themselves: recomputed from the posterior with the model's cells
    spec = spec_of(tree)
    data = KIND.prepare(spec, typed_cohort(small_cohort.data, KIND.required_columns(spec)))
    model = KIND.build(spec, data)
    for outcome in destinations.OUTCOMES:
        (shares,) = compiled(model, model[f"{outcome}_share"])(random_point(model, 5))
        np.testing.assert_allclose(shares.sum(axis=-1), 1, atol=1e-5)


def test_the_benefit_months_the_cost_effectiveness_gets_add_up(fitted):
    """What a destinations fit offers the cost-effectiveness module: per benefit the states with and
    without work summed (an accounting identity: the benefits' effects sum to zero, overall and per class),
    then month by month from inflow to month 30: linear from 0 at inflow to month 12, the month-12 effect
    after it (``hold``) or none; every month's effects still sum to zero, and the sentence names the
    assumptions. Without such a fit the module says it counts WW months only; two are refused."""
    tree, _ = fitted
    contrast = "service_vs_control_enforcement"
    offered = KIND.benefit_effects(tree, contrast)
    share = levels_of(tree[KIND.name])[OVERALL]["share_pp"].sel(contrast=contrast)
    overall = offered.effects["overall"]
    states = [str(v) for v in share["state"].values]
    for benefit in overall["benefit"].values:  # the fit's states of each benefit, with and without work
        members = [s for s in states if s == benefit or s.startswith(f"{benefit}_")]
        expected = share.sel(state=members).sum("state") if members else 0.0 * share.isel(state=0)
        np.testing.assert_allclose(overall.sel(benefit=benefit), expected, rtol=1e-6, atol=1e-9)
    assert {"ww", "zw", "wia", "bijstand", "none"} <= set(overall["benefit"].values)
    for level in ("overall", "by_werkverkenner"):
        np.testing.assert_allclose(offered.effects[level].sum("benefit"), 0, atol=1e-3)  # float32 draws
    months = range(1, 31)
    held = benefit_months([tree], contrast, months, names=["destinations.nc"])
    assert held.uses_destinations and held.weights is not None
    by_month = held.months["overall"]
    np.testing.assert_allclose(by_month.sel(month=12), overall.sel(month=12) / 100, rtol=1e-6)
    np.testing.assert_allclose(by_month.sel(month=3), overall.sel(month=12) / 100 * 3 / 12, rtol=1e-6)
    np.testing.assert_allclose(by_month.sel(month=30), by_month.sel(month=12), rtol=1e-6)
    for level in ("overall", "by_werkverkenner"):
        np.testing.assert_allclose(held.months[level].sum("benefit"), 0, atol=1e-5)
    assert "months 1-11: linear from no effect at inflow (assumption)" in held.source
    assert "months 13-30: the month-12 effect holds (assumption: beyond_last = 'hold')" in held.source
    none = benefit_months([tree], contrast, months, beyond_last="none")
    assert float(abs(none.months["overall"].sel(month=13)).max()) == 0.0
    assert "months 13-30: no effect" in none.source
    without = benefit_months([], contrast, months)
    assert not without.uses_destinations and without.months is None
    assert "counts WW months only" in without.source
    with pytest.raises(SpecError, match="more than one fit of destinations"):
        benefit_months([tree, tree], contrast, months)
    with pytest.raises(SpecError, match="beyond_last must be one of hold, none"):
        benefit_months([tree], contrast, months, beyond_last="fade")


def test_benefit_months_between_the_months_observed_are_linear():
    """A path fit's months (6, 12, 18): exact at each, linear between and from 0 at inflow, held or 0 after;
    month 3 is half of month 6's effect (from 0 at inflow, not month 6's effect held back to inflow)."""
    effects = xr.DataArray(
        np.array([2.0, 4.0, 1.0])[None, None, :],
        dims=("chain", "draw", "month"),
        coords={"month": [6, 12, 18]},
    )
    months = (3, 6, 9, 12, 15, 18, 20)
    held = interpolated(effects, months, "hold").squeeze().values
    np.testing.assert_allclose(held, [1.0, 2.0, 3.0, 4.0, 2.5, 1.0, 1.0])
    np.testing.assert_allclose(interpolated(effects, months, "none").squeeze().values[-1], 0.0)
    np.testing.assert_allclose(interpolated(effects, (20, 19), "hold").squeeze().values, [1.0, 1.0])
    np.testing.assert_allclose(interpolated(effects, (9, 3), "hold").squeeze().values, [3.0, 1.0])  # as asked
    with pytest.raises(SpecError, match="must increase"):
        interpolated(effects.assign_coords(month=[6, 6, 18]), months, "hold")


def test_the_file_leaves_out_the_draws_its_free_variables_give_again(spec, fitted, small_cohort, monkeypatch):
    """A destinations file stores the free variables of its posterior and prior, not their group values
    (``_by_``) or the scaled deviations beside their ``_z``; the same fit stored with them (the same seed:
    the same draws) holds exactly what the model's deterministics make of the free variables."""
    from ww_bayes.postprocess import deterministics
    from ww_bayes.recompute import rebuilt_model

    tree, _ = fitted
    for group in ("posterior", "prior"):
        names = list(tree[group].ds.data_vars)
        assert not [n for n in names if "_by_" in n or (n.endswith("_dev") and f"{n[:-4]}_z" in names)]
        assert any(n.endswith("_z") for n in names) and any(n.endswith("_dev") for n in names)  # centred
    monkeypatch.setattr(type(KIND), "recomputable_draws", lambda self, draws: [])
    whole = fit(spec, small_cohort.data, progress=False, log=None)
    left_out = [n for n in whole["posterior"].ds.data_vars if n not in tree["posterior"].ds]
    assert any("_by_" in n for n in left_out) and any(n.endswith("_dev") for n in left_out)
    model = rebuilt_model(tree, small_cohort.data)
    free = tree["posterior"].ds[[v.name for v in model.free_RVs]]
    again = deterministics(free, model, var_names=left_out)
    for name in left_out:
        np.testing.assert_allclose(
            again[name].values, whole["posterior"].ds[name].values, rtol=1e-5, atol=1e-6
        )


def test_the_simulators_destination_truth_is_recovered(fitted, small_cohort):
    """The overall and by-class effects on the shares, on WW receipt and on the first exits: most 90%
    intervals hold the simulator's realised truth (about 90% expected; the bound allows for 30-odd
    correlated intervals), and the overall WW effect's interval holds it."""
    tree, _ = fitted
    table = summarise(tree)
    truth = KIND.truth(tree, small_cohort.truth)
    both = coverage(table, truth, "eti90", list(KIND.key_columns))
    main = both[both["level"].isin(["overall", "by_werkverkenner"])]
    assert len(main) > 100
    missed = main.loc[~main["covered"], ["estimand", "contrast", "group", "state"]]
    assert main["covered"].mean() >= 0.75, missed
    ww = both[(both["estimand"] == "ww_source_pp") & (both["level"] == "overall")]
    assert len(ww) == 3 and ww["covered"].all()


def test_the_report_shows_where_the_ww_effect_went(fitted):
    _, folder = fitted
    page = build_report(folder / "results")
    assert "Where do claimants go?" in page
    assert "sickness benefit (ZW)" in page and "in work, no benefit" in page
    assert (
        "No column for WIA: nobody in the data is in WIA at month 12" in page
    )  # said, not left out silently
    dutch = build_report(folder / "results", lang="nl")
    assert "Waar gaan WW-gerechtigden naartoe?" in dutch and "Ziektewet (ZW)" in dutch
    assert "Geen kolom voor de WIA" in dutch


def breaking_released_groups(tree, done, file: str = "destinations.nc") -> pd.DataFrame:
    """The released groups (per factor, as the release merged them, and the categories as it merged them
    first) in which an arm has persons, or a category of an outcome has a count or its complement, between 1
    and the minimum count - 1."""
    cells = count_table(tree)
    frames = []
    for factor, common in done.groupings.items():
        grouping = done.fit_groupings.get(file, {}).get(factor, common)
        if grouping.suppressed:
            continue
        merged = release_module.merged_categories(cells, done.category_merges.get(file, {}).get(factor, []))
        counts = release_module.grouped_counts(merged, factor, grouping.groups)
        bad = (
            breaks_rule(counts["persons"], MIN_COUNT)
            | breaks_rule(counts["count"], MIN_COUNT)
            | breaks_rule(counts["persons"] - counts["count"], MIN_COUNT)
        )
        frames.append(counts[bad].assign(factor=factor))
    return pd.concat(frames, ignore_index=True)


def test_the_release_passes_and_checks_the_counts_of_every_category(fitted):
    """Every released group passes the rule in every category of both outcomes; the cells of the unreleased
    fit do not (small regions); counts per outcome and month are not released (their differences would
    describe the persons with one outcome unobserved)."""
    tree, folder = fitted
    done = release(folder / "results", folder / "release")
    assert done.checks and all(passed for _, passed in done.checks)
    cells = count_table(tree)
    assert {"none_working", "ww_not_working", "still_on_ww", "to_other"} <= set(cells["category"])
    by_region = release_module.grouped_counts(cells, "region", None)
    assert breaks_rule(by_region["count"], MIN_COUNT).any()
    assert done.groupings["region"].merged
    assert breaking_released_groups(tree, done).empty
    released = xr.load_datatree(done.folder / "destinations_estimates.nc")
    regions = set(map(str, released[f"{KIND.name}/region"].ds["region"].values))
    assert regions.isdisjoint(done.groupings["region"].merged)  # a small region never released alone
    assert not (done.folder / "counts.csv").exists()


def test_a_release_that_skips_merging_is_caught_by_the_category_counts(fitted, monkeypatch):
    """The broken variant: a release that keeps every region apart (and skips its own file checks) lets
    out groups whose category counts break the rule, and the check above finds them."""
    tree, folder = fitted

    def keep_apart(tables, factor, min_count, start=None):
        grouping = decide(tables, factor, min_count, start)
        return release_module.Grouping(factor, {level: level for level in grouping.groups})

    decide = release_module.decide_grouping
    monkeypatch.setattr(release_module, "decide_grouping", keep_apart)
    from ww_bayes.audit import Audit  # the gate off: the audit of the written folder checks nothing

    monkeypatch.setattr(release_module, "audit", lambda folder, min_count, only=None, building=False: Audit(
        Path(folder), min_count, []))  # fmt: skip
    done = release(folder / "results", folder / "broken_release")
    assert not done.groupings["region"].merged
    assert not breaking_released_groups(tree, done).empty


# --- how the partially pooled deviations are written ------------------------------------------------------


def test_the_shipped_forms_are_the_ones_the_rule_chooses_on_a_published_size_cohort(spec, full_cohort):
    """The shipped spec pins centred baseline deviations and non-centred effect deviations; on a cohort of
    the published size the rule ("auto") chooses the same for both outcomes and both factors, and says why
    (shrinkage below 0.5: centred)."""
    auto = spec.with_parametrization("auto")
    df = typed_cohort(full_cohort.data, KIND.required_columns(auto))
    chosen = KIND.prepare(auto, df).parametrization
    pinned = KIND.prepare(spec, df).parametrization
    assert set(chosen) == {
        f"{o}_{c}" for o in destinations.OUTCOMES for c in ("baseline", "service", "enforcement")
    }
    for name, by in chosen.items():
        for factor, choice in by.items():
            assert choice.chosen_by == "data" and pinned[name][factor].chosen_by == "spec"
            assert (
                choice.form
                == pinned[name][factor].form
                == ("centred" if "baseline" in name else "non-centred")
            )
            assert (choice.shrinkage < 0.5) == (choice.form == "centred")


def test_more_persons_make_the_data_more_informative_for_the_rule(spec, design):
    """The rule's shrinkage of each component and factor falls when every cell holds 100 times the persons
    (the same shares), and the service effect across classes, non-centred on the small cohort, is then
    centred."""
    _, data = design
    auto = spec.with_parametrization("auto")
    categories = destinations.Categories(
        split_by_work=spec.split_by_work, split_35min=False,
        merged={o: {c: c for c in data.levels[destinations.MODEL_DIMS[o]]} for o in destinations.OUTCOMES},
        empty={(o, m): () for o in destinations.OUTCOMES for m in spec.months},
    )  # fmt: skip
    counts = list(data.observation.categories)
    small = destinations.choose_forms(auto, data.cells, data.levels, categories)
    large = destinations.choose_forms(auto, data.cells.assign(**{c: data.cells[c] * 100 for c in counts}),
                                      data.levels, categories)  # fmt: skip
    for name, by in small.items():
        for factor, choice in by.items():
            assert large[name][factor].shrinkage < choice.shrinkage, (name, factor)
    assert small["state_service"]["werkverkenner"].form == "non-centred"
    assert large["state_service"]["werkverkenner"].form == "centred"


def service_z(name: str) -> tuple[str, str] | None:
    """The centred deviations and the sd of a destinations model's service ``z`` value."""
    if not ("_service_" in name and name.endswith("_z_zerosum__")):
        return None
    stem = name.removesuffix("_z_zerosum__")
    return f"{stem}_dev_zerosum__", f"{stem}_sd_log__"


@pytest.mark.parametrize("form", ["non-centred", "half-centred"])
def test_every_form_has_the_centred_log_density_up_to_the_jacobian(spec, design, form, as_centred):
    """The service deviations centred against ``dev = sd^(1 - c) * z``, ``z`` zero-sum normal of sd
    ``sd^c``: at the same deviations the log-densities differ by ``-(1 - c) log sd`` per free coefficient
    (months x (levels - 1) x (categories - 1) per outcome and factor), whatever the point. The fitted model's
    form (non-centred) is one of them; a spec asks for the form and the model is written in it."""
    df, _ = design
    models = {}
    for each in ("centred", form):
        asked = spec.with_parametrization({"service": each})
        data = KIND.prepare(asked, df)
        assert {data.parametrization[f"{o}_service"][f].form for o in destinations.OUTCOMES
                for f in spec.groups} == {each}  # fmt: skip
        models[each] = KIND.build(asked, data, for_sampling=True)
    logp = {each: model.compile_logp() for each, model in models.items()}
    power = 1.0 - {"non-centred": 0.0, "half-centred": 0.5}[form]
    rng = np.random.default_rng(5)
    start = models[form].initial_point()
    for _ in range(3):
        point = {name: value + rng.normal(0.0, 0.5, np.shape(value)) for name, value in start.items()}
        centred, jacobian = as_centred(point, power, service_z)
        assert set(centred) == set(models["centred"].initial_point())
        assert logp["centred"](centred) - logp[form](point) == pytest.approx(jacobian, abs=1e-6)


def test_a_fit_that_records_no_forms_is_rebuilt_in_the_forms_it_was_made_with(spec, design):
    """A file written before the forms were recorded per fit holds an empty record: its model is rebuilt with
    the forms such fits were made with (baseline centred, effects non-centred), the shipped spec's model."""
    _, data = design
    shipped = KIND.build(spec, data, for_sampling=True)
    unrecorded = KIND.build(spec, dataclasses.replace(data, parametrization={}), for_sampling=True)
    assert sorted(v.name for v in unrecorded.free_RVs) == sorted(v.name for v in shipped.free_RVs)
    point = random_point(shipped, 4)
    assert compiled(unrecorded, unrecorded.logp())(point)[0] == pytest.approx(
        compiled(shipped, shipped.logp())(point)[0], rel=1e-12
    )


def test_the_choice_is_printed_with_the_priors_and_a_wrong_form_is_named(spec, design):
    _, data = design
    text = KIND.describe_priors(spec, data)
    assert "state: centred (asked in the spec); first_exit: centred (asked in the spec)" in text
    auto = spec.with_parametrization("auto")
    assert "first_exit: non-centred (data: shrinkage" in KIND.describe_priors(
        auto, KIND.prepare(auto, design[0])
    )
    source = (
        (MODELS / "destinations_12m.toml")
        .read_text()
        .replace('service = "non-centred"', 'service = "sideways"')
    )
    with pytest.raises(SpecError, match="'parametrization.service.werkverkenner' must be one of"):
        parse_spec(source)


# --- categories empty in some months (a path) ---------------------------------------------------------------


def test_the_live_basis_form_is_the_zero_sum_normal():
    """With no empty category, the basis form's density differs from PyMC's ZeroSumNormal (over levels and
    categories) by a constant at every sd and value: the same distribution. With an empty category, its
    values are exactly 0 there and sum to zero over the month's live categories and over the levels."""
    import pymc as pm

    rng = np.random.default_rng(5)
    months, levels, k = 2, 4, 5
    basis, used = destinations.live_basis(np.zeros((months, k), dtype=int))
    differences = []
    for _ in range(6):
        sd = float(rng.uniform(0.2, 2.0))
        coefficients = rng.normal(0, sd, (months, levels - 1, k - 1))
        by_level = np.einsum("jab,la->jlb", coefficients, destinations.helmert(levels))
        values = np.einsum("jlb,jcb->jlc", by_level, basis)
        assert np.allclose(values.sum(axis=1), 0) and np.allclose(values.sum(axis=2), 0)
        zero_sum = pm.ZeroSumNormal.dist(sigma=sd, shape=(months, levels, k), n_zerosum_axes=2)
        normal = pm.Normal.dist(0.0, sd, shape=coefficients.shape)
        differences.append(
            float(pm.logp(zero_sum, values).sum().eval()) - float(pm.logp(normal, coefficients).sum().eval())
        )
    assert np.ptp(differences) < 1e-8
    empty = np.array([[0, 0, 1, 0, 0], [0, 0, 0, 0, 0]])
    basis, used = destinations.live_basis(empty)
    assert used.sum(axis=1).tolist() == [3, 4]
    values = np.einsum("jcb,jb->jc", basis, rng.normal(size=(months, k - 1)) * used)
    assert values[0, 2] == 0 and np.allclose(values.sum(axis=1), 0)
    assert np.allclose(np.einsum("jcb,jcd->jbd", basis, basis), np.eye(k - 1) * used[:, None, :])


def test_a_path_leaves_no_free_parameter_that_only_the_prior_informs(full_cohort, monkeypatch):
    """destinations_path on the calibrated cohort: WIA is empty in months 6-24 and taken in at 30. Every
    used coefficient of the basis changes the likelihood and no unused one does (a masked category's value
    in the zero-sum normal would trade against a shift of the others: the broken variant below)."""
    import pytensor
    import pytensor.tensor as pt

    spec = load_spec(MODELS / "destinations_path.toml")
    df = typed_cohort(full_cohort.data, KIND.required_columns(spec))
    data = KIND.prepare(spec, df)
    empty = data.constants["category_empty"].sel(category="wia").to_numpy()
    assert empty.tolist() == [1, 1, 1, 1, 0]
    model = KIND.build(spec, data, for_sampling=True)
    point = random_point(model, 4)
    coefficients = model["state_baseline_z_basis"]
    value = model.rvs_to_values[coefficients]
    gradient = pytensor.function(
        model.value_vars, pytensor.grad(model.observedlogp, value), on_unused_input="ignore"
    )(**point)
    _, used = destinations.outcome_live_basis(data, "state")
    assert np.all(np.abs(gradient[used]) > 1e-6) and np.all(gradient[~used] == 0)

    # the broken variant: the zero-sum normal over every category has a direction the likelihood ignores
    # (the live categories of month 6 shifted by c, the empty WIA by minus the sum of that shift)
    monkeypatch.setattr(destinations, "outcome_live_basis", lambda data, outcome: None)
    broken = KIND.build(spec, data, for_sampling=True)
    z = broken["state_baseline_z"]
    value, transform = broken.rvs_to_values[z], broken.rvs_to_transforms[z]
    point = random_point(broken, 4)
    logp = broken.compile_fn(broken.observedlogp, inputs=broken.value_vars, on_unused_input="ignore")
    constrained = transform.backward(pt.as_tensor(point[value.name]), *z.owner.inputs).eval()
    ridge = np.zeros_like(constrained)
    wia = list(data.levels["state"]).index("wia")
    ridge[0] = 0.7
    ridge[0, wia] = -0.7 * (ridge.shape[1] - 1)
    shifted = transform.forward(pt.as_tensor(constrained + ridge), *z.owner.inputs).eval()
    moved = {**point, value.name: shifted}
    assert not np.allclose(moved[value.name], point[value.name])
    assert logp(moved) == pytest.approx(logp(point), abs=1e-6)


@pytest.fixture(scope="module")
def full_fitted(full_cohort, tmp_path_factory):
    """The shipped spec on the calibrated cohort (179,840 persons), 2 chains x 500 draws; saved alone in a
    results folder."""
    spec = load_spec(MODELS / "destinations_12m.toml").with_sampler(chains=2, draws=500)
    tree = fit(spec, full_cohort.data, progress=False, log=None)
    folder = tmp_path_factory.mktemp("destinations_full")
    save_fit(tree, folder / "results" / "destinations.nc")
    return tree, folder


def test_the_ww_effect_agrees_with_the_ww_model(full_fitted, full_fits):
    """On the calibrated cohort, the WW effect this model makes up from the states (``ww_source_pp``)
    and the 12-month WW model's effect (``ww_claim_12m``, as shipped) differ by less than half the latter's
    posterior sd, overall, for every contrast: two models of the same outcome on the same persons."""
    mine = summarise(full_fitted[0])
    theirs = summarise(full_fits["ww_claim_12m"])
    mine = mine[(mine["estimand"] == "ww_source_pp") & (mine["level"] == OVERALL)]
    theirs = theirs[(theirs["estimand"] == "effect_pp") & (theirs["level"] == OVERALL)]
    both = mine.merge(theirs, on="contrast", suffixes=("", "_ww"), validate="one_to_one")
    assert len(both) == 3
    assert ((both["mean"] - both["mean_ww"]).abs() < 0.5 * both["sd_ww"]).all(), both[
        ["contrast", "mean", "mean_ww", "sd_ww"]
    ]


def test_a_release_merges_sparse_states_before_regions(full_fitted, monkeypatch):
    """On the calibrated cohort, bijstand (under 1%) breaks the rule in most regions' control arms. The
    release merges it with no benefit without work at the region level first, says so, and then merges far
    fewer regions than a release that may only merge regions (the broken variant: every fit in the same
    release would lose those regions); every released group passes in every category as released, and the
    overall and class levels keep every state."""
    tree, folder = full_fitted
    done = release(folder / "results", folder / "release")
    merges = done.category_merges["destinations.nc"]
    assert merges["region"][0] == (("bijstand", "none_not_working"), "bijstand_or_none_not_working")
    assert "werkverkenner" not in merges
    assert breaking_released_groups(tree, done).empty
    assert any("released with categories merged first (bijstand, none_not_working into "
               "bijstand_or_none_not_working)" in n for n in done.notes)  # fmt: skip
    released = xr.load_datatree(done.folder / "destinations_estimates.nc")
    by_region = released[f"{KIND.name}/region"].ds
    assert "bijstand_or_none_not_working" in by_region["state"].values
    assert "bijstand" not in by_region["state"].values
    assert "bijstand" in released[f"{KIND.name}/werkverkenner"].ds["state"].values
    merged_regions = len(done.groupings["region"].merged)

    monkeypatch.setattr(type(KIND), "release_merges", ())
    only_regions = release(folder / "results", folder / "release_without")
    assert len(only_regions.groupings["region"].merged) > merged_regions + 10


def test_the_other_fits_keep_the_regions_only_the_destinations_fit_needs_merged(
    full_fitted, full_fits, tmp_path, monkeypatch
):
    """Released beside the 12-month WW fit of the same cohort, the destinations fit merges the regions its
    own sparse states need (ZW in a small region's control arm) in a grouping of its own; the WW fit keeps
    them apart, its region table as it would be released alone, and every released group of the
    destinations fit passes in every category. The broken variant, every fit on the WW fit's grouping, lets
    out destinations groups that break the rule."""
    tree, folder = full_fitted
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(folder / "results" / "destinations.nc", results / "destinations.nc")
    save_fit(full_fits["ww_claim_12m"], results / "ww_claim_12m.nc")
    done = release(results, tmp_path / "release")
    common, own = done.groupings["region"], done.fit_groupings["destinations.nc"]["region"]
    assert set(common.merged) < set(own.merged)  # nested: the WW fit's groups add up to the destinations'
    assert "ww_claim_12m.nc" not in done.fit_groupings
    assert breaking_released_groups(tree, done).empty
    alone = release_module.decide_grouping(
        [release_module.FitCounts("ww", count_table(full_fits["ww_claim_12m"]), fit_weights(full_fits[
            "ww_claim_12m"]), False)], "region", MIN_COUNT)  # fmt: skip
    assert common.groups == alone.groups
    ww = xr.load_datatree(done.folder / "ww_claim_12m_estimates.nc")["effects/region"].ds
    extra = set(own.merged) - set(common.merged)
    assert extra <= set(map(str, ww["region"].values))  # released alone in the WW fit
    record = json.loads((done.folder / "disclosure_checks.json").read_text())
    assert record["fits"]["destinations.nc"]["groupings"]["region"]["levels"] == own.groups
    assert any(n.startswith(f"destinations.nc: by region: {len(extra)} more levels") for n in done.notes)
    assert "region in destinations.nc only" in (done.folder / "disclosure_report.md").read_text()

    def one_grouping(fits, factor, min_count, done):
        grouping = release_module.decide_grouping([f for f in fits if f.name != "destinations.nc"], factor,
                                                  min_count)  # fmt: skip
        for table in fits:
            table.groupings[factor] = grouping
        return grouping

    monkeypatch.setattr(release_module, "decide_groupings", one_grouping)
    from ww_bayes.audit import Audit  # the gate off: the destinations counts are not in the folder

    monkeypatch.setattr(release_module, "audit", lambda folder, min_count, only=None, building=False: Audit(
        Path(folder), min_count, []))  # fmt: skip
    broken = release(results, tmp_path / "broken")
    assert not broken.fit_groupings
    assert not breaking_released_groups(tree, broken).empty


def test_which_candidates_a_category_counts_keys_the_compiled_model():
    """Three persons in WIA at month 12 (sparse: merged into "other") leave the categories as they were
    but change what "other" counts, and so the baseline's prior means, which the compiled sampler and
    post-processing hold as constants: the structure key (what both caches are keyed by) must differ. The
    broken variant, a structure without the category tables, gives both cohorts one key: the second would
    sample with the first one's prior."""
    spec = load_spec("destinations_12m")
    kind = kind_named("destinations")
    df = simulate_cohort(n=4_000, seed=1).data
    moved = df.copy()
    moved.loc[moved.index[moved["benefit_m12"] == "zw"][:3], "benefit_m12"] = "wia"
    before, after = kind.prepare(spec, df), kind.prepare(spec, moved)
    assert after.levels == before.levels
    assert after.constants["state_of"].sel(benefit="wia").values.tolist() == ["other", "other"]
    assert not np.allclose(destinations.baseline_prior_logits(spec, before, "state"),
                           destinations.baseline_prior_logits(spec, after, "state"))  # fmt: skip
    assert structure_key(spec, before) != structure_key(spec, after)
    blind = {"category_empty": after.structure["category_empty"]}
    assert structure_key(spec, dataclasses.replace(after, structure=blind)) == structure_key(
        spec, dataclasses.replace(before, structure={"category_empty": before.structure["category_empty"]})
    )
