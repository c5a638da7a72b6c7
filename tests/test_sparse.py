"""Empty class x region cells never corrupt a number: weights, population effects, integer casts.

A regional extract lacks some class x region combinations. Before the fix, the weights of such pairs came out
as NaN, were cast to int64's minimum, and the overall service effect on jobs read +13.96 pp (truth ~ +2).
Here the population effects of a fit are recomputed by hand, with weights counted directly from the rows.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.legend import Legend

from ww_bayes.data.cells import as_counts, person_counts
from ww_bayes.data.schema import ARMS, CONTRASTS
from ww_bayes.estimands import pooling_only
from ww_bayes.inference import fit
from ww_bayes.kinds import kind_of, load_spec
from ww_bayes.kinds.trajectory import (
    pooling_only_lines,
    prepare_trajectory_data,
    trajectory_effects,
    trajectory_summary,
)
from ww_bayes.labels import Words
from ww_bayes.viz import trajectory_plot

MODELS = Path(__file__).resolve().parents[1] / "models"


def sparse_regions(df: pd.DataFrame) -> dict[str, str]:
    """The regions the hand-made sparse extract changes (by sorted name)."""
    regions = sorted(df["region"].astype(str).unique())
    return {"single": regions[3], "service_only": regions[4]}


def regional_extract(df: pd.DataFrame) -> pd.DataFrame:
    """A hand-made sparse cohort: class 0-25 absent from three regions, one region with a single claimant
    (in the service arm), one region present only in the service arm, class 75-100 absent from
    control_none."""
    regions = sorted(df["region"].astype(str).unique())
    named = sparse_regions(df)
    region, arm, klass = (df[c].astype(str) for c in ("region", "arm", "werkverkenner"))
    drop = (klass == "0-25") & region.isin(regions[:3])
    in_single = np.flatnonzero(((region == named["single"]) & (arm == "service")).to_numpy())
    drop |= (region == named["single"]) & ~df.index.isin(df.index[in_single[:1]])
    drop |= (region == named["service_only"]) & (arm != "service")
    drop |= (klass == "75-100") & (arm == "control_none")
    return df[~drop].reset_index(drop=True)


def hand_weights(df: pd.DataFrame) -> pd.Series:
    """Persons per (class, region), counted with a plain groupby; absent pairs are 0."""
    counts = df.groupby([df["werkverkenner"].astype(str), df["region"].astype(str)]).size()
    full = pd.MultiIndex.from_product(counts.index.levels, names=["werkverkenner", "region"])
    return counts.reindex(full, fill_value=0)


def hand_effects(rate: xr.DataArray, weights: pd.Series) -> dict[str, np.ndarray]:
    """Overall and by-class pp effects from cell rates (chain, draw, arm, werkverkenner, region); numpy."""
    classes = list(rate["werkverkenner"].values)
    regions = list(rate["region"].values)
    w = weights.unstack("region").loc[classes, regions].to_numpy(dtype=float)
    values = {arm: rate.sel(arm=arm).transpose("chain", "draw", "werkverkenner", "region").values
              for arm in rate["arm"].values}  # fmt: skip
    overall = {arm: (v * w).sum((-2, -1)) / w.sum() for arm, v in values.items()}
    by_class = {arm: (v * w).sum(-1) / w.sum(-1) for arm, v in values.items()}
    return {
        "overall": np.stack([100 * (overall[t] - overall[c]) for t, c in CONTRASTS.values()], axis=-1),
        "werkverkenner": np.stack([100 * (by_class[t] - by_class[c]) for t, c in CONTRASTS.values()], -1),
    }


def test_person_counts_fill_absent_pairs_with_zero(small_df):
    sparse = regional_extract(small_df)
    levels = {f: sorted(sparse[f].unique()) for f in ("werkverkenner", "region")}
    weights = person_counts(sparse, ["werkverkenner", "region"], levels)
    expected = hand_weights(sparse).unstack("region").loc[levels["werkverkenner"], levels["region"]]
    assert weights.dtype == np.int64 and int(weights.min()) == 0
    np.testing.assert_array_equal(weights.values, expected.to_numpy())
    assert int(weights.sum()) == len(sparse)


def test_integer_casts_refuse_nan():
    with pytest.raises(ValueError, match=r"persons per cell: 1 value\(s\) are not whole non-negative counts"):
        as_counts([3.0, np.nan, 2.0], "persons per cell")
    with pytest.raises(ValueError, match="2 value"):
        as_counts([1.5, -1.0], "x")
    np.testing.assert_array_equal(as_counts([0.0, 7.0], "x"), [0, 7])


#: short chains: these tests check how cells are weighted (exactly), not convergence
pytestmark = pytest.mark.filterwarnings("ignore::ww_bayes.results.ConvergenceWarning")


@pytest.fixture(scope="module")
def sparse_fit(full_cohort):
    """The sparse regional extract of the calibrated cohort, fit with the shipped job spec on short chains."""
    sparse = regional_extract(full_cohort.data)
    spec = load_spec(MODELS / "job_finding_12m.toml").with_sampler(chains=2, draws=300, tune=400, seed=5)
    return sparse, fit(spec.with_output(keep=("rate",)), sparse, progress=False, log=None)


def test_sparse_cohort_gives_the_hand_weighted_effects(sparse_fit):
    sparse, tree = sparse_fit
    from ww_bayes.derived import EFFECT_PROBABILITIES, UNDIRECTED_EVENTS

    # every value finite, except the probabilities for no good direction: NaN, as the spec has a direction
    undirected = {n for n, event in EFFECT_PROBABILITIES.items() if event in UNDIRECTED_EVENTS}
    for level in tree["effects"].children:
        for name, values in tree[f"effects/{level}"].ds.data_vars.items():
            if name.startswith(tuple(undirected)):
                assert np.isnan(values.values).all(), (level, name)
            else:
                assert np.isfinite(values.values).all(), (level, name)
    expected = hand_effects(tree["posterior"].ds["rate"], hand_weights(sparse))
    for level, values in expected.items():
        got = tree[f"effects/{level}"].ds["effect_pp"]
        got = got.transpose("chain", "draw", *[d for d in got.dims if d not in ("chain", "draw", "contrast")],
                            "contrast")  # fmt: skip
        # the file stores the rates in float32 (the effects were made from float64 ones): 1e-4 pp
        np.testing.assert_allclose(got.values, values, rtol=0, atol=1e-4)
    # the stored weights, labelled: 0 for the empty pairs
    stored = tree["weights"].ds["n_persons"]
    counted = (
        hand_weights(sparse).unstack("region").loc[stored["werkverkenner"].values, stored["region"].values]
    )
    assert stored.dtype == np.int64
    np.testing.assert_array_equal(stored.values, counted.to_numpy())
    # and the numbers are sane: the overall service effect on jobs near the simulator's +2 pp
    overall = tree["effects/overall"].ds["effect_pp"].sel(contrast="service_vs_control_enforcement")
    assert 0.0 < float(overall.mean()) < 4.0
    assert float(abs(tree["effects/werkverkenner"].ds["effect_pp"]).max()) < 30


def test_trajectory_weights_and_effects_on_a_sparse_cohort(full_cohort):
    """The trajectory kind (with regions): zero weights for absent pairs, overall curves weighted by hand."""
    sparse = regional_extract(full_cohort.data)
    spec = load_spec(MODELS / "trajectory_30m.toml")
    spec = dataclasses.replace(spec, months=(1, 3), groups=("werkverkenner", "region"))
    data = prepare_trajectory_data(spec, sparse)
    weights = data.weights
    assert weights.dtype == np.int64 and int(weights.sum()) == len(sparse)
    counted = hand_weights(sparse).unstack("region").loc[weights["werkverkenner"], weights["region"]]
    np.testing.assert_array_equal(weights.values, counted.to_numpy())
    assert int((weights == 0).sum()) == 3 + 4  # class 0-25 in three regions; the one-claimant region
    flags = pooling_only(data.arm_persons())["werkverkenner"]
    assert flags.sel(contrast="enforcement_vs_none").values.tolist() == [
        c == "75-100" for c in flags["werkverkenner"].values
    ]
    # random cell rates on the model's grid: the overall curve must be the person-weighted mean
    rng = np.random.default_rng(0)
    dims = ("chain", "draw", "outcome", "arm", *weights.dims, "month")
    sizes = {"chain": 2, "draw": 3, **{d: len(v) for d, v in data.levels.items()}, "arm": 3}
    coords = {d: data.levels[d] for d in data.levels} | {"arm": list(ARMS)}
    coords["month"] = [int(m) for m in data.levels["month"]]
    rate = xr.DataArray(rng.uniform(0.05, 0.95, [sizes[d] for d in dims]), dims=dims, coords=coords)
    group = trajectory_effects(rate, weights, spec.smallest_effect_pp, data.arm_persons())
    flagged = group["werkverkenner"].ds["pooling_only"].sel(werkverkenner="75-100")
    assert flagged.values.tolist() == [False, True, True]  # no control_none in class 75-100
    table = trajectory_summary(group)
    flagged_rows = table[table["pooling_only"].astype(bool)]
    assert set(flagged_rows.loc[flagged_rows["estimand"] == "effect_pp", "group"]) == {"75-100"}
    cumulative = flagged_rows[flagged_rows["estimand"] == "extra_employed_months"]
    assert set(cumulative["group"]) == {"75-100"} | set(sparse_regions(sparse).values())
    lines = pooling_only_lines(table)
    assert "POOLING ONLY: enforcement_vs_none by_werkverkenner 75-100" in "\n".join(lines)
    figure = trajectory_plot(table)
    dashed = {ax.get_gid() for ax in figure.axes for line in ax.get_lines() if line.get_linestyle() == "--"}
    # the panels of the two contrasts with control_none, in class 75-100
    assert dashed == {"service_vs_control_none.75-100", "enforcement_vs_none.75-100"}
    shown = [t.get_text() for legend in figure.findobj(Legend) for t in legend.get_texts()]
    assert f"{Words('en')('pooling_only')} (dashed)" in shown
    w = weights / weights.sum()
    overall = (rate * w).sum(list(weights.dims))
    expected = 100 * (overall.sel(arm="service") - overall.sel(arm="control_enforcement"))
    got = group["overall"].ds["effect_pp"].sel(contrast="service_vs_control_enforcement")
    np.testing.assert_allclose(got.transpose(*expected.dims).values, expected.values, rtol=1e-5, atol=1e-4)


# --- levels the data cannot inform: flagged, never printed as if estimated --------------------------------


def hand_flags(df: pd.DataFrame, factor: str) -> pd.DataFrame:
    """Per level of ``factor`` (rows) and contrast (columns): True when an arm of the contrast is empty."""
    counts = pd.crosstab(df[factor].astype(str), df["arm"].astype(str)).reindex(
        columns=list(ARMS), fill_value=0
    )
    return pd.DataFrame({name: (counts[t] == 0) | (counts[c] == 0) for name, (t, c) in CONTRASTS.items()})


def test_pooling_only_levels_are_flagged_with_the_share_and_the_identified_effect(sparse_fit):
    sparse, tree = sparse_fit
    effects = tree["effects/overall"].ds
    named = sparse_regions(sparse)
    for factor in ("werkverkenner", "region"):
        stored = tree[f"effects/{factor}"].ds["pooling_only"].transpose(factor, "contrast").to_pandas()
        expected = hand_flags(sparse, factor).loc[stored.index, stored.columns]
        pd.testing.assert_frame_equal(stored, expected, check_names=False)
    region_flags = tree["effects/region"].ds["pooling_only"]
    assert bool(region_flags.sel(region=named["service_only"]).all())  # every contrast lacks an arm there
    assert bool(region_flags.sel(region=named["single"]).all())  # one claimant: one arm, every contrast
    klass = tree["effects/werkverkenner"].ds["pooling_only"].sel(werkverkenner="75-100")
    assert klass.values.tolist() == [False, True, True]  # no control_none in class 75-100
    # the share of the cohort in pooling-only class x region cells, and the effect over the others, by hand
    weights = hand_weights(sparse)
    rate = tree["posterior"].ds["rate"]
    cells = sparse.groupby([sparse[c].astype(str) for c in ("werkverkenner", "region", "arm")]).size()
    for name, (treated, comparison) in CONTRASTS.items():
        present = cells.unstack("arm").reindex(columns=list(ARMS)).fillna(0)
        flagged = ((present[treated] == 0) | (present[comparison] == 0)).reindex(
            weights.index, fill_value=True
        )
        share = float(effects["pooling_only_share"].sel(contrast=name))
        assert share == pytest.approx(weights[flagged].sum() / weights.sum(), abs=1e-12)
        kept = weights.where(~flagged, 0)
        expected = hand_effects(rate, kept)["overall"][..., list(CONTRASTS).index(name)]
        got = effects["effect_pp_identified"].sel(contrast=name).transpose("chain", "draw").values
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
    assert float(effects["pooling_only_share"].sel(contrast="enforcement_vs_none")) > 0.1


def test_identified_effect_matches_a_fit_without_the_unidentified_rows(sparse_fit):
    """Dropping the rows of the one-claimant and the service-only region is the right answer for the
    service vs control_enforcement contrast: its identified-only effect must agree with that fit's."""
    sparse, tree = sparse_fit
    named = sparse_regions(sparse)
    kept = sparse[~sparse["region"].astype(str).isin(named.values())].reset_index(drop=True)
    spec = load_spec(MODELS / "job_finding_12m.toml").with_sampler(chains=2, draws=300, tune=400, seed=5)
    dropped = fit(spec, kept, progress=False, log=None)
    contrast = "service_vs_control_enforcement"
    identified = tree["effects/overall"].ds["effect_pp_identified"].sel(contrast=contrast)
    reference = dropped["effects/overall"].ds["effect_pp"].sel(contrast=contrast)
    assert float(dropped["effects/overall"].ds["pooling_only_share"].sel(contrast=contrast)) == 0
    assert abs(float(identified.mean()) - float(reference.mean())) < 0.5 * float(reference.std())


def test_summary_screen_and_comparison_mark_pooling_only_levels(sparse_fit):
    from ww_bayes.compare import compare, itt
    from ww_bayes.results import summarise

    sparse, tree = sparse_fit
    table = summarise(tree)
    rows = table[(table["estimand"] == "effect_pp") & (table["level"] == "by_werkverkenner")]
    flagged = rows[rows["pooling_only"]]
    assert set(zip(flagged["contrast"], flagged["group"], strict=True)) == {
        ("enforcement_vs_none", "75-100"),
        ("service_vs_control_none", "75-100"),
    }
    overall = table[(table["estimand"] == "effect_pp") & (table["level"] == "overall")]
    assert (overall["pooling_only_share"] > 0).all()
    text = kind_of(tree).screen_text(tree, table, None)
    assert text.count("POOLING ONLY") >= 3 and "over identified cells only" in text
    # the OLS cannot estimate those subgroups: left out, listed, and NaN beside the posterior
    frequentist = itt(sparse, "employed_m12", skip_unestimable=True)
    assert any("75-100" in problem for problem in frequentist.attrs["skipped"])
    with pytest.raises(Exception, match="cannot be estimated"):
        itt(sparse, "employed_m12")
    merged = compare(tree, frequentist)
    gap = merged[(merged["group"] == "75-100") & (merged["contrast"] == "enforcement_vs_none")]
    assert gap["frequentist_estimate"].isna().all() and gap["pooling_only"].all()
    assert np.isfinite(gap["posterior_mean"]).all()


def small_spec(name: str = "job_finding_12m"):
    """The shipped spec on PyMC's NUTS (its compiled C code is shared by models of any size) and short
    chains: these tests check what a sparse design does, not convergence."""
    return load_spec(MODELS / f"{name}.toml").with_sampler(chains=2, draws=150, tune=200, seed=3,
                                                          sampler="pymc")  # fmt: skip


def test_ten_row_file_fits_with_every_thin_spot_listed(small_df, tmp_path):
    from ww_bayes.data.design import design_warnings

    classes = sorted(small_df["werkverkenner"].unique())
    arms = ["service", "control_enforcement", "control_none"]
    pairs = [(klass, arms[(i + j) % 3]) for i, klass in enumerate(classes) for j in range(2)]
    rows = pd.concat(
        [small_df[(small_df["werkverkenner"] == k) & (small_df["arm"] == a)].head(1) for k, a in pairs]
    ).reset_index(drop=True)
    assert len(rows) == 10 and rows["arm"].nunique() == 3  # every class and arm present (the schema asks)
    warnings = design_warnings(rows)
    assert any("werkverkenner x region combinations lack persons in an arm" in w for w in warnings)
    assert any("fewer than 10 persons in an arm" in w for w in warnings)
    tree = fit(small_spec(), rows, progress=False, log=None)
    effects = tree["effects/overall"].ds
    assert np.isfinite(effects["effect_pp"].values).all()
    assert json.loads(tree.attrs["design_warnings"]) == warnings
    assert float(effects["pooling_only_share"].min()) > 0.5  # most of this cohort is pooling only


def test_one_region_only(small_df):
    from ww_bayes.data.design import design_warnings

    region = small_df["region"].value_counts().index[0]
    one = small_df[small_df["region"] == region].reset_index(drop=True)
    assert any(w.startswith(f"one region only ({region})") for w in design_warnings(one))
    tree = fit(small_spec("ww_claim_12m"), one, progress=False, log=None)
    # the region deviations are constant (one level): no R-hat to compute, so none flagged as NaN
    assert "nan" not in tree.attrs["convergence_report"].lower()
    assert "baseline_dev_region" not in tree["diagnostics"].ds["variable"].values
    by_region = tree["effects/region"].ds["effect_pp"].sel(region=region, drop=True)
    np.testing.assert_allclose(by_region.values, tree["effects/overall"].ds["effect_pp"].values, rtol=1e-12)


def test_an_empty_arm_is_refused_before_sampling(small_df):
    from ww_bayes.data.schema import SchemaError

    no_enforcement = small_df[small_df["arm"] != "control_enforcement"]
    with pytest.raises(SchemaError, match=r"column 'arm': no persons at all in 'control_enforcement'"):
        fit(small_spec(), no_enforcement, progress=False, log=None)


# --- the data a model needs, no more --------------------------------------------------------------------


def first_year_extract(df: pd.DataFrame) -> pd.DataFrame:
    """An interim evaluation's extract: the labels and the month-12 outcomes only."""
    kept = ("employed_m12", "ww_m12")
    later = [c for c in df.columns if c.startswith(("employed_m", "ww_m", "benefit_m")) and c not in kept]
    return df.drop(columns=[*later, "inflow_month", "age", "sex", "education", "wia_35min", "hours_y1"])


def test_a_first_year_extract_fits_the_12_month_kinds_and_the_trajectory_names_what_it_lacks(small_df):
    from ww_bayes.data.schema import SchemaError

    extract = first_year_extract(small_df)
    assert len(extract.columns) == 6  # person_id, arm, werkverkenner, region, employed_m12, ww_m12
    for name in ("job_finding_12m", "ww_claim_12m"):
        tree = fit(small_spec(name), extract, progress=False, log=None)
        assert np.isfinite(tree["effects/overall"].ds["effect_pp"].values).all()
    with pytest.raises(SchemaError, match=r"employed_m1-m11, employed_m13-m30, ww_m1-m11, ww_m13-m30"):
        fit(load_spec(MODELS / "trajectory_30m.toml"), extract, progress=False, log=None)


def test_a_class_absent_from_the_extract_drops_out_with_a_note(small_df, tmp_path):
    from ww_bayes.data.io import write_cohort
    from ww_bayes.workflow import fit_to_file

    extract = first_year_extract(small_df[small_df["werkverkenner"] != "0-25"])
    data = write_cohort(extract, tmp_path / "extract.csv")
    spec_path = tmp_path / "job.toml"
    spec_path.write_text(small_spec().text.replace("chains = 4", 'chains = 2\nsampler = "pymc"'))
    lines = []
    done = fit_to_file(spec_path, data, tmp_path / "job.nc", overrides={"draws": 150, "tune": 200},
                       progress=False, log=lines.append, allow_unconverged=True)  # fmt: skip
    notes = json.loads(xr.load_datatree(tmp_path / "job.nc").attrs["data_notes"])
    assert notes and "werkverkenner: 0-25 absent from the data" in notes[0]
    assert any(line.startswith("data note: werkverkenner: 0-25 absent") for line in lines)
    tree = xr.load_datatree(tmp_path / "job.nc")
    assert "0-25" not in tree["effects/werkverkenner"].ds["werkverkenner"].values
    assert done.status in (0, 3)
