"""Probability-scale estimands from posterior draws, and the labelled summary table.

The ``effects`` group of a fit holds, for each contrast (see :data:`ww_bayes.schema.CONTRASTS`) and level
(``overall``, ``by_werkverkenner``, ``by_region``):

- ``effect_pp_<level>``: treated minus comparison rate, percentage points, per draw;
- ``relative_risk_<level>``: treated rate / comparison rate, per draw;
- ``prob_positive_<level>``: P(effect > 0);
- ``prob_beyond_smallest_<level>``: P(|effect| > smallest effect of interest).

Levels weight cells by the cohort's own class x region composition (:mod:`ww_bayes.estimands`).
"""

from __future__ import annotations

import arviz as az
import pandas as pd
import xarray as xr

from ww_bayes.estimands import contrast_pp, contrast_relative_risk, level_rates

SAMPLE_DIMS = ("chain", "draw")
DRAW_VARIABLES = ("effect_pp", "relative_risk")


def levels_of(weights: xr.DataArray) -> list[str]:
    """Reported levels for a model's grouping factors: overall first, then one per factor."""
    return ["overall", *(f"by_{factor}" for factor in weights.dims)]


def posterior_effects(rate: xr.DataArray, weights: xr.DataArray, smallest_effect_pp: float) -> xr.Dataset:
    """The ``effects`` group from posterior cell rates ``rate`` (chain, draw, arm, *groups)."""
    rates = level_rates(rate, weights)
    effects = xr.Dataset()
    for level in levels_of(weights):
        pp = contrast_pp(rates[level]).transpose(*SAMPLE_DIMS, ...)
        effects[f"effect_pp_{level}"] = pp
        effects[f"relative_risk_{level}"] = contrast_relative_risk(rates[level]).transpose(*SAMPLE_DIMS, ...)
        effects[f"prob_positive_{level}"] = (pp > 0).mean(SAMPLE_DIMS)
        effects[f"prob_beyond_smallest_{level}"] = (abs(pp) > smallest_effect_pp).mean(SAMPLE_DIMS)
    effects.attrs.update(
        {
            "effect_units": "percentage points (pp), probability scale",
            "weights": "cohort composition: persons per group cell, all arms",
            "smallest_effect_pp": smallest_effect_pp,
        }
    )
    return effects


def _interval(draws: xr.Dataset, kind: str, prob: float) -> xr.Dataset:
    return az.hdi(draws, prob=prob) if kind == "hdi" else az.eti(draws, prob=prob)


def summary_table(
    effects: xr.Dataset, interval_kind: str = "eti", interval_prob: float = 0.9
) -> pd.DataFrame:
    """One row per contrast, level and group: posterior mean, sd, labelled interval, ESS, R-hat and the
    probabilities. Interval columns name kind and probability, e.g. ``eti90_lb``.
    """
    label = f"{interval_kind}{round(100 * interval_prob)}"
    rows = []
    for name in effects.data_vars:
        variable = next((v for v in DRAW_VARIABLES if name.startswith(v + "_")), None)
        if variable is None:
            continue
        level = name[len(variable) + 1 :]
        draws = effects[[name]]
        interval = _interval(draws, interval_kind, interval_prob)[name]
        stats = xr.Dataset(
            {
                "mean": draws[name].mean(SAMPLE_DIMS),
                "sd": draws[name].std(SAMPLE_DIMS),
                f"{label}_lb": interval.sel(ci_bound="lower", drop=True),
                f"{label}_ub": interval.sel(ci_bound="upper", drop=True),
                "ess_bulk": az.ess(draws, method="bulk")[name],
                "ess_tail": az.ess(draws, method="tail")[name],
                "r_hat": az.rhat(draws)[name],
            }
        )
        if variable == "effect_pp":
            stats["prob_positive"] = effects[f"prob_positive_{level}"]
            stats["prob_beyond_smallest"] = effects[f"prob_beyond_smallest_{level}"]
        frame = stats.to_dataframe().reset_index()
        group_dims = [d for d in draws[name].dims if d not in (*SAMPLE_DIMS, "contrast")]
        frame["group"] = frame[group_dims[0]].astype(str) if group_dims else "all"
        frame = frame.drop(columns=group_dims)
        frame.insert(0, "estimand", variable)
        frame.insert(2, "level", level)
        rows.append(frame)
    table = pd.concat(rows, ignore_index=True)
    ordered = ["estimand", "contrast", "level", "group"]
    return table[ordered + [c for c in table.columns if c not in ordered]]


def truth_table(truth: xr.DataTree, outcome: str, month: int, levels: list[str]) -> pd.DataFrame:
    """The simulator's true effects (pp) in the summary table's long shape, for comparison."""
    frames = []
    for level in levels:
        ds = truth[f"effects/{level}"].ds.sel(outcome=outcome, month=month, drop=True)
        frame = ds.to_dataframe().reset_index()
        group_dims = [c for c in frame.columns if c not in ("contrast", "generating_pp", "realised_pp")]
        frame["group"] = frame[group_dims[0]].astype(str) if group_dims else "all"
        frames.append(frame.drop(columns=group_dims).assign(level=level))
    table = pd.concat(frames, ignore_index=True)
    return table[["contrast", "level", "group", "generating_pp", "realised_pp"]]


def coverage(summary: pd.DataFrame, truth: pd.DataFrame, label: str) -> pd.DataFrame:
    """Summary rows of ``effect_pp`` joined to the truth, with whether the interval covers it."""
    merged = summary[summary["estimand"] == "effect_pp"].merge(truth, on=["contrast", "level", "group"])
    merged["covered"] = (merged[f"{label}_lb"] <= merged["generating_pp"]) & (
        merged["generating_pp"] <= merged[f"{label}_ub"]
    )
    return merged
