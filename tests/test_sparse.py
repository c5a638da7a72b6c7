"""Empty class x region cells never corrupt a number: weights, population effects, integer casts.

A regional extract lacks some class x region combinations. Before the fix, the weights of such pairs came out
as NaN, were cast to int64's minimum, and the overall service effect on jobs read +13.96 pp (truth ~ +2).
Here the population effects of a fit are recomputed by hand, with weights counted directly from the rows.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from ww_bayes.data.cells import as_counts, person_counts
from ww_bayes.data.schema import ARMS, CONTRASTS
from ww_bayes.inference import fit
from ww_bayes.kinds import load_spec
from ww_bayes.kinds.trajectory import prepare_trajectory_data, trajectory_effects

MODELS = Path(__file__).resolve().parents[1] / "models"


def regional_extract(df: pd.DataFrame) -> pd.DataFrame:
    """The issue's sparse cohort: class 0-25 absent from three regions, one region with a single claimant."""
    regions = sorted(df["region"].astype(str).unique())
    no_weak = regions[:3]
    single = regions[3]
    drop = (df["werkverkenner"].astype(str) == "0-25") & df["region"].astype(str).isin(no_weak)
    in_single = np.flatnonzero(df["region"].astype(str).to_numpy() == single)
    drop |= df.index.isin(df.index[in_single[1:]])
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
        "by_werkverkenner": np.stack([100 * (by_class[t] - by_class[c]) for t, c in CONTRASTS.values()], -1),
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
pytestmark = pytest.mark.filterwarnings("ignore::ww_bayes.inference.ConvergenceWarning")


@pytest.fixture(scope="module")
def sparse_fit(full_cohort):
    """The sparse regional extract of the calibrated cohort, fit with the shipped job spec on short chains."""
    sparse = regional_extract(full_cohort.data)
    spec = load_spec(MODELS / "job_finding_12m.toml").with_sampler(chains=2, draws=300, tune=400, seed=5)
    return sparse, fit(spec, sparse, progress=False, log=None)


def test_sparse_cohort_gives_the_hand_weighted_effects(sparse_fit):
    sparse, tree = sparse_fit
    effects = tree["effects"].ds
    for name in effects.data_vars:
        assert np.isfinite(effects[name].values).all(), name
    expected = hand_effects(tree["posterior"].ds["rate"], hand_weights(sparse))
    for level, values in expected.items():
        got = effects[f"effect_pp_{level}"]
        got = got.transpose("chain", "draw", *[d for d in got.dims if d not in ("chain", "draw", "contrast")],
                            "contrast")  # fmt: skip
        np.testing.assert_allclose(got.values, values, rtol=1e-9, atol=1e-9)
    # and the numbers are sane: the overall service effect on jobs near the simulator's +2 pp
    overall = effects["effect_pp_overall"].sel(contrast="service_vs_control_enforcement")
    assert 0.0 < float(overall.mean()) < 4.0
    assert float(abs(effects["effect_pp_by_werkverkenner"]).max()) < 30


def test_one_empty_pair_in_a_small_cohort(small_df):
    """A hand-made cohort with exactly one empty class x region pair (class 0-25 in one region)."""
    region = sorted(small_df["region"].unique())[0]
    cohort = small_df[~((small_df["werkverkenner"] == "0-25") & (small_df["region"] == region))]
    weights = hand_weights(cohort)
    assert (weights == 0).sum() == 1
    spec = load_spec(MODELS / "ww_claim_12m.toml").with_sampler(
        chains=2, draws=200, tune=300, seed=2, sampler="pymc"
    )
    tree = fit(spec, cohort.reset_index(drop=True), progress=False, log=None)
    expected = hand_effects(tree["posterior"].ds["rate"], weights)
    got = tree["effects"].ds["effect_pp_overall"].transpose("chain", "draw", "contrast")
    np.testing.assert_allclose(got.values, expected["overall"], rtol=1e-9, atol=1e-9)
    # the stored weights: 0 for the empty pair (constant_data's class/region coords label cells, so the
    # grid is addressed by the posterior's level order)
    levels = tree["posterior"].ds
    stored = tree["constant_data"].ds["n_persons"].values
    row = list(levels["werkverkenner"].values).index("0-25")
    column = list(levels["region"].values).index(region)
    assert stored.dtype == np.int64 and stored[row, column] == 0 and (stored > 0).sum() == stored.size - 1


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
    # random cell rates on the model's grid: the overall curve must be the person-weighted mean
    rng = np.random.default_rng(0)
    dims = ("chain", "draw", "outcome", "arm", *weights.dims, "month")
    sizes = {"chain": 2, "draw": 3, **{d: len(v) for d, v in data.levels.items()}, "arm": 3}
    coords = {d: data.levels[d] for d in data.levels} | {"arm": list(ARMS)}
    coords["month"] = [int(m) for m in data.levels["month"]]
    rate = xr.DataArray(rng.uniform(0.05, 0.95, [sizes[d] for d in dims]), dims=dims, coords=coords)
    group = trajectory_effects(rate, weights, spec.smallest_effect_pp)
    w = weights / weights.sum()
    overall = (rate * w).sum(list(weights.dims))
    expected = 100 * (overall.sel(arm="service") - overall.sel(arm="control_enforcement"))
    got = group["effect_pp_overall"].sel(contrast="service_vs_control_enforcement")
    np.testing.assert_allclose(got.transpose(*expected.dims).values, expected.values, rtol=1e-5, atol=1e-4)
