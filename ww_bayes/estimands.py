"""The estimands, defined once: contrasts of arm rates on the probability scale, weighted by the cohort.

Used for the simulator's truth and for posterior draws alike, so both are built the same way. A *level* is
the cell itself (``cells``: every factor's levels together), one grouping factor (named as the factor:
``werkverkenner``, ``region``, any other) or the whole cohort (``overall``): the levels of
:mod:`ww_bayes.derived`. Rates are averaged over cells with the cohort's own composition as weights (persons
per cell, all arms together), then contrasted.

Every function takes DataArrays with an ``arm`` dim, the grouping dims of ``weights`` (whatever they are)
and any other dims (chain, draw, month, a state), which are carried along.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ww_bayes.data.schema import CONTRASTS
from ww_bayes.derived import CELLS, OVERALL


def level_rates(rate: xr.DataArray, weights: xr.DataArray) -> dict[str, xr.DataArray]:
    """Cohort-weighted rates per level.

    ``rate`` has an ``arm`` dim and the grouping dims of ``weights`` (persons per cell); any other dims
    (chain, draw, month, outcome) are carried along. Empty cells (weight 0) may hold NaN.
    """
    factors = list(weights.dims)
    filled = rate.fillna(0) if rate.isnull().any() else rate
    levels = {CELLS: rate}
    # weighted sums as one contraction each (xr.dot): no product array of all draws x cells in between
    # (for 8,000 draws of 525 cells 30-50 times faster than multiplying and summing)
    for factor in factors:
        others = [f for f in factors if f != factor]
        levels[factor] = xr.dot(filled, weights, dim=others) / weights.sum(others) if others else rate
    levels[OVERALL] = xr.dot(filled, weights, dim=factors) / weights.sum(factors)
    return levels


def contrast_pp(rate: xr.DataArray) -> xr.DataArray:
    """Treated minus comparison rate in percentage points, with a ``contrast`` dim replacing ``arm``."""
    return 100 * _contrast(rate, lambda a, b: a - b)


def contrast_relative_risk(rate: xr.DataArray) -> xr.DataArray:
    """Treated rate divided by comparison rate, with a ``contrast`` dim replacing ``arm``."""
    return _contrast(rate, lambda a, b: a / b)


def _contrast(rate: xr.DataArray, combine) -> xr.DataArray:
    parts = [
        combine(rate.sel(arm=treated, drop=True), rate.sel(arm=comparison, drop=True))
        for treated, comparison in CONTRASTS.values()
    ]
    return xr.concat(parts, dim=pd.Index(list(CONTRASTS), name="contrast"))


# --- states: shares, first exits and where an effect goes -------------------------------------------------


def share_effects_pp(
    shares: xr.DataArray,
    weights: xr.DataArray,
    months: Sequence[int] | None = None,
    levels: Sequence[str] | None = None,
) -> dict[str, xr.DataArray]:
    """Contrasts (pp) of state shares per level (:func:`level_rates`, then :func:`contrast_pp`).

    ``shares``: the share of persons in each state per arm and group cell, with the state dims (e.g.
    ``benefit`` and ``work``) and any others (chain, draw, month). ``months``: the months kept (all when
    None); ``levels``: the levels returned (all when None; the cells' contrasts are the largest arrays).
    Works for any proportion of persons, e.g. a cumulative incidence.
    """
    if months is not None:
        shares = shares.sel(month=list(months))
    rates = level_rates(shares, weights)
    unknown = sorted(set(levels or ()) - set(rates))
    if unknown:
        raise ValueError(f"levels {unknown}: the levels are {sorted(rates)}")
    return {level: contrast_pp(rate) for level, rate in rates.items() if levels is None or level in levels}


def decompose_effect(
    effects_pp: xr.DataArray,
    source: Mapping[str, Hashable | Sequence[Hashable]],
    state_dims: Sequence[str],
) -> xr.Dataset:
    """Where the effect on one state's share goes: the effects on all other states.

    ``effects_pp`` holds the effects on the shares of every state (``state_dims``, e.g. ``benefit`` x
    ``work``; from :func:`share_effects_pp`); ``source`` fixes one state dim to the state decomposed, e.g.
    ``{"benefit": "ww"}`` (summed over the other state dims: WW with and without work), or to a list of
    labels taken together, e.g. ``{"state": ["ww_not_working", "ww_working"]}``. Shares sum to one under
    every arm, so the effects over all states sum to zero: ``source_pp`` plus ``destination_pp`` summed
    over the state dims is 0, an accounting identity, not an estimate. Returns a Dataset of

    - ``source_pp``: the effect on the source's share (pp);
    - ``destination_pp``: the effect on each other state's share (pp); NaN at the source's states;
    - ``destination_part``: ``destination_pp / -source_pp``, the part of the source's change each other
      state takes up (parts sum to 1; NaN where the source effect is 0).
    """
    if len(source) != 1:
        raise ValueError(f"source fixes one state dim (e.g. {{'benefit': 'ww'}}), got {dict(source)}")
    ((dim, label),) = source.items()
    if dim not in state_dims:
        raise ValueError(f"source dim {dim!r} is not among the state dims {tuple(state_dims)}")
    labels = list(label) if isinstance(label, list | tuple) else [label]
    others = [d for d in state_dims if d != dim]
    source_pp = effects_pp.sel({dim: labels}).sum([dim, *others])
    destination_pp = effects_pp.where(~effects_pp[dim].isin(labels))
    part = destination_pp / -source_pp.where(source_pp != 0)
    return xr.Dataset({"source_pp": source_pp, "destination_pp": destination_pp, "destination_part": part})


def cumulative_incidence(
    hazard: xr.DataArray, cause_dims: str | Sequence[str], month_dim: str = "month"
) -> xr.DataArray:
    """Cumulative incidence of a first exit by each month, per cause, from discrete-time hazards.

    ``hazard``: the chance of a first exit in a month to each cause, among those who have not exited before
    that month (e.g. from WW: cause dims ``exit_to`` and a flag of a later WIA 35-min assessment); the causes
    together are all ways out. The incidence of cause c by month m is the sum over months k <= m of
    hazard_c(k) x the chance of no exit before k. It is a proportion of all persons at the start, so
    :func:`share_effects_pp` turns it into effects; sum it over causes for "to ZW or WIA".
    """
    cause_dims = [cause_dims] if isinstance(cause_dims, str) else list(cause_dims)
    no_exit = (1 - hazard.sum(cause_dims)).cumprod(month_dim)
    no_exit_before = no_exit.shift({month_dim: 1}, fill_value=1.0)
    return (hazard * no_exit_before).cumsum(month_dim)


# --- hours: a mean with zeros, and its two parts --------------------------------------------------------


def hours_level_means(
    any_hours: xr.DataArray, hours_given_any: xr.DataArray, weights: xr.DataArray
) -> dict[str, xr.Dataset]:
    """Hours per level: the share with any hours, the mean given any and the mean per claimant.

    ``any_hours``: P(hours > 0) per arm and group cell; ``hours_given_any``: the mean hours of those with
    any (hours; NaN allowed where nobody has any). Per level (:func:`level_rates`), ``any_hours`` is
    weighted by persons, ``hours_given_any`` by persons with hours, so that at every level
    ``mean_hours = any_hours x hours_given_any`` (zeros included).
    """
    filled_given_any = hours_given_any.fillna(0) if hours_given_any.isnull().any() else hours_given_any
    any_levels = level_rates(any_hours, weights)
    mean_levels = level_rates(any_hours.fillna(0) * filled_given_any, weights)
    out = {}
    for level, any_rate in any_levels.items():
        mean = mean_levels[level]
        if level == CELLS:
            given_any = hours_given_any
        else:
            given_any = mean / any_rate.where(any_rate > 0)
        out[level] = xr.Dataset({"any_hours": any_rate, "hours_given_any": given_any, "mean_hours": mean})
    return out


def hours_effects(
    any_hours: xr.DataArray,
    hours_given_any: xr.DataArray,
    weights: xr.DataArray,
    levels: Sequence[str] | None = None,
) -> dict[str, xr.Dataset]:
    """Contrasts of hours per level (inputs as :func:`hours_level_means`; ``levels``: those wanted, default
    every level including the cell grid), a Dataset per level of

    - ``mean_hours``: the effect on mean hours per claimant, zeros included (hours): the causal estimand;
    - ``any_hours_pp``: the effect on P(any hours) (pp);
    - ``hours_given_any``: the difference in mean hours of those with any (hours): descriptive, as it
      compares different people (those the treatment brought into work among them);
    - ``mean_hours_from_any`` = change in P(any) x comparison's hours given any, and
      ``mean_hours_from_given_any`` = treated P(any) x change in hours given any: the two parts, which sum
      to ``mean_hours`` exactly.
    """
    contrast = pd.Index(list(CONTRASTS), name="contrast")

    def side(means: xr.Dataset, arms: list[str]) -> xr.Dataset:
        """One arm per contrast (its treated or its comparison arm), on a ``contrast`` dim."""
        return means.sel(arm=arms).drop_vars("arm").rename(arm="contrast").assign_coords(contrast=contrast)

    out = {}
    for level, means in hours_level_means(any_hours, hours_given_any, weights).items():
        if levels is not None and level not in levels:
            continue
        treated = side(means, [arm for arm, _ in CONTRASTS.values()])
        comparison = side(means, [arm for _, arm in CONTRASTS.values()])
        change = treated - comparison
        out[level] = xr.Dataset(
            {
                "mean_hours": change["mean_hours"],
                "any_hours_pp": 100 * change["any_hours"],
                "hours_given_any": change["hours_given_any"],
                "mean_hours_from_any": change["any_hours"] * comparison["hours_given_any"],
                "mean_hours_from_given_any": treated["any_hours"] * change["hours_given_any"],
            }
        )
    return out


# --- levels the data cannot inform ---------------------------------------------------------------------


def pooling_only(persons: xr.DataArray) -> dict[str, xr.DataArray]:
    """Which levels of each contrast are informed only by pooling: boolean ``(contrast, ...)`` per level.

    ``persons`` counts persons with the outcome observed per arm and group cell (``arm`` plus the grouping
    dims). A level (a class, a region, a cell of the grid, the whole cohort) is *pooling only* for a contrast
    when it has no person in the treated arm or none in the comparison arm: its effect then comes from the
    other levels through the model's pooling and additive structure, not from its own data. Keys are the
    levels of :func:`level_rates` (``cells``, one per factor, ``overall``).
    """
    factors = [d for d in persons.dims if d != "arm"]
    by_level = {CELLS: persons, **{f: persons.sum([o for o in factors if o != f]) for f in factors}}
    by_level[OVERALL] = persons.sum(factors)
    flags = {}
    for level, counts in by_level.items():
        parts = [
            (counts.sel(arm=treated, drop=True) == 0) | (counts.sel(arm=comparison, drop=True) == 0)
            for treated, comparison in CONTRASTS.values()
        ]
        flags[level] = xr.concat(parts, dim=pd.Index(list(CONTRASTS), name="contrast"))
    return flags


def pooling_only_share(flags_by_cell: xr.DataArray, weights: xr.DataArray) -> xr.DataArray:
    """Share of the cohort (``weights``: persons per group cell) in cells that are pooling only, per
    contrast: how much of a population estimand comes from pooling rather than from its own data."""
    factors = list(weights.dims)
    return (weights * flags_by_cell).sum(factors) / weights.sum(factors)


def identified_overall_pp(
    rate: xr.DataArray, weights: xr.DataArray, flags_by_cell: xr.DataArray
) -> xr.DataArray:
    """The population pp effect over identified cells only (cells with persons in both arms of the
    contrast), per contrast; NaN where no cell is identified. Equals the whole-cohort estimand when no cell
    is pooling only."""
    factors = list(weights.dims)
    filled = rate.fillna(0) if rate.isnull().any() else rate
    parts = []
    for contrast, (treated, comparison) in CONTRASTS.items():
        kept = weights * ~flags_by_cell.sel(contrast=contrast, drop=True)
        total = kept.sum(factors)
        total = total.where(total > 0, np.nan)

        def mean(arm, kept=kept, total=total):  # one contraction, as level_rates
            return xr.dot(filled.sel(arm=arm, drop=True), kept, dim=factors) / total

        parts.append(100 * (mean(treated) - mean(comparison)))
    return xr.concat(parts, dim=pd.Index(list(CONTRASTS), name="contrast"))
