"""The estimands of states and hours, on draws with extra dims and on any grouping factors, checked against
person-level computations and their accounting identities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from ww_bayes.data.schema import ARMS, CONTRASTS
from ww_bayes.estimands import (
    cumulative_incidence,
    decompose_effect,
    hours_effects,
    hours_level_means,
    level_rates,
    share_effects_pp,
)

# grouping factors the estimands know nothing about: they take whatever dims the weights have
FACTORS = {"sex": ["female", "male"], "education": ["low", "mid", "high"]}
STATES = {"benefit": ["ww", "zw", "wia", "bijstand", "none"], "work": ["not_working", "working"]}


def random_weights(rng: np.random.Generator) -> xr.DataArray:
    counts = rng.integers(0, 50, size=[len(v) for v in FACTORS.values()])
    counts[0, 0] = 0  # an empty cell
    return xr.DataArray(counts, dims=list(FACTORS), coords=FACTORS)


def random_shares(rng: np.random.Generator) -> xr.DataArray:
    """Shares over benefit x work per draw, arm, group cell and month: they sum to one over the states."""
    dims = {"chain": 2, "draw": 3, "arm": len(ARMS), **{f: len(v) for f, v in FACTORS.items()}, "month": 2}
    shape = (*dims.values(), len(STATES["benefit"]) * len(STATES["work"]))
    shares = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]).reshape(
        *shape[:-1], *map(len, STATES.values())
    )
    coords = {"arm": list(ARMS), **FACTORS, "month": [6, 12], **STATES}
    return xr.DataArray(shares, dims=[*dims, *STATES], coords=coords)


def test_share_effects_on_any_factors_and_extra_dims():
    rng = np.random.default_rng(1)
    shares, weights = random_shares(rng), random_weights(rng)
    effects = share_effects_pp(shares, weights, months=[12])
    assert set(effects) == {"cells", "sex", "education", "overall"}
    overall = effects["overall"]
    assert set(overall.dims) == {"contrast", "chain", "draw", "month", *STATES}
    # the population-weighted share by hand, for one draw, state and contrast
    treated, comparison = CONTRASTS["service_vs_control_enforcement"]
    cell = dict(chain=1, draw=2, month=12, benefit="zw", work="not_working")
    w = weights.to_numpy()

    def mean(arm):
        return (shares.sel(arm=arm, **cell).to_numpy() * w).sum() / w.sum()

    expected = 100 * (mean(treated) - mean(comparison))
    got = float(overall.sel(contrast="service_vs_control_enforcement", **cell))
    assert got == pytest.approx(expected, abs=1e-12)


def test_decomposition_is_an_accounting_identity():
    rng = np.random.default_rng(2)
    effects = share_effects_pp(random_shares(rng), random_weights(rng))
    for level, effect in effects.items():
        parts = decompose_effect(effect, {"benefit": "ww"}, ("benefit", "work"))
        assert np.isnan(parts["destination_pp"].sel(benefit="ww")).all()
        total = parts["source_pp"] + parts["destination_pp"].sum(("benefit", "work"))
        np.testing.assert_allclose(total.to_numpy(), 0, atol=1e-10, err_msg=level)
        np.testing.assert_allclose(
            parts["destination_part"].sum(("benefit", "work")).to_numpy(), 1, rtol=1e-9
        )
        # the source is WW with and without work
        np.testing.assert_allclose(parts["source_pp"], effect.sel(benefit="ww").sum("work"))


def test_share_effects_of_chosen_levels_are_those_of_all_levels():
    rng = np.random.default_rng(5)
    shares, weights = random_shares(rng), random_weights(rng)
    every = share_effects_pp(shares, weights)
    chosen = share_effects_pp(shares, weights, levels=("overall", weights.dims[0]))
    assert set(every) - set(chosen) >= {"cells"} and set(chosen) == {"overall", weights.dims[0]}
    for level, effect in chosen.items():
        xr.testing.assert_identical(effect, every[level])
    with pytest.raises(ValueError, match=r"levels \['region_typo'\]"):
        share_effects_pp(shares, weights, levels=("overall", "region_typo"))


def test_decomposition_asks_for_one_state_dim():
    effects = share_effects_pp(
        random_shares(np.random.default_rng(3)), random_weights(np.random.default_rng(3))
    )
    with pytest.raises(ValueError, match="source fixes one state dim"):
        decompose_effect(effects["overall"], {"benefit": "ww", "work": "working"}, ("benefit", "work"))
    with pytest.raises(ValueError, match="not among the state dims"):
        decompose_effect(effects["overall"], {"month": 12}, ("benefit", "work"))


def test_cumulative_incidence_equals_counting_first_exits():
    """From the empirical hazards of complete paths, the incidence is the share who left to a cause by m."""
    rng = np.random.default_rng(4)
    n, months, causes = 2_000, 8, ["zw", "bijstand", "none"]
    exit_month = rng.integers(1, months + 3, size=(2, n))  # past the last month: still on WW
    cause = rng.integers(0, len(causes), size=(2, n))
    on_before = np.stack([[(exit_month[d] >= m).sum() for m in range(1, months + 1)] for d in range(2)])
    exits = np.zeros((2, months, len(causes)))
    for d in range(2):
        np.add.at(
            exits[d], (exit_month[d][exit_month[d] <= months] - 1, cause[d][exit_month[d] <= months]), 1
        )
    hazard = xr.DataArray(
        exits / on_before[:, :, None],
        dims=("draw", "month", "exit_to"),
        coords={"month": range(1, months + 1), "exit_to": causes},
    )
    incidence = cumulative_incidence(hazard, "exit_to")
    for d in range(2):
        for m in (1, 4, months):
            for k, label in enumerate(causes):
                counted = ((exit_month[d] <= m) & (cause[d] == k)).mean()
                assert float(incidence.sel(draw=d, month=m, exit_to=label)) == pytest.approx(
                    counted, abs=1e-12
                )


def random_hours(rng: np.random.Generator, weights: xr.DataArray) -> pd.DataFrame:
    """Persons with hours (many zeros) in the group cells of ``weights``, all arms for everyone."""
    cells = weights.to_series()
    rows = []
    for key, count in cells.items():
        for arm in ARMS:
            any_hours = rng.random(count) < (0.5 if arm == ARMS[0] else 0.4)
            hours = np.where(any_hours, rng.gamma(2.0, 400.0, count), 0.0)
            rows.append(pd.DataFrame({"arm": arm, **dict(zip(FACTORS, key, strict=True)), "hours": hours}))
    return pd.concat(rows, ignore_index=True)


def test_hours_estimands_from_cells_equal_person_level_means():
    rng = np.random.default_rng(5)
    weights = random_weights(rng)
    persons = random_hours(rng, weights)
    grouped = persons.assign(any=persons["hours"] > 0).groupby(["arm", *FACTORS])
    any_hours = grouped["any"].mean().to_xarray().reindex(arm=list(ARMS), **FACTORS)
    given_any = (grouped["hours"].sum() / grouped["any"].sum()).to_xarray().reindex(arm=list(ARMS), **FACTORS)
    # a draw dim: the same values twice
    any_hours, given_any = (xr.concat([x, x], dim="draw") for x in (any_hours, given_any))
    means = hours_level_means(any_hours, given_any, weights)
    effects = hours_effects(any_hours, given_any, weights)
    for level in ("overall", "sex"):
        np.testing.assert_allclose(
            means[level]["mean_hours"], means[level]["any_hours"] * means[level]["hours_given_any"]
        )
        parts = effects[level]["mean_hours_from_any"] + effects[level]["mean_hours_from_given_any"]
        np.testing.assert_allclose(parts, effects[level]["mean_hours"], rtol=1e-12)
    for arm in ARMS:  # the person-level means of the whole cohort
        hours = persons.loc[persons["arm"] == arm, "hours"]
        overall = means["overall"].sel(arm=arm, draw=0)
        assert float(overall["mean_hours"]) == pytest.approx(hours.mean(), rel=1e-12)
        assert float(overall["any_hours"]) == pytest.approx((hours > 0).mean(), rel=1e-12)
        assert float(overall["hours_given_any"]) == pytest.approx(hours[hours > 0].mean(), rel=1e-12)
    treated, comparison = CONTRASTS["service_vs_control_enforcement"]
    difference = persons.groupby("arm")["hours"].mean()
    effect = effects["overall"].sel(contrast="service_vs_control_enforcement", draw=1)
    assert float(effect["mean_hours"]) == pytest.approx(
        difference[treated] - difference[comparison], rel=1e-12
    )


def test_level_rates_carry_state_dims():
    rng = np.random.default_rng(6)
    shares, weights = random_shares(rng), random_weights(rng)
    overall = level_rates(shares, weights)["overall"]
    np.testing.assert_allclose(overall.sum(("benefit", "work")), 1.0)
