"""The layout of a fit's derived group (its estimands), shared by every stage that reads one.

A model kind's derived group (``effects``, ``trajectory``, ...) is a DataTree node with one child per
*level* an estimand is reported at:

- ``overall``: the whole cohort (no grouping dim);
- one child per grouping factor, named as the factor and holding it as a dim (``werkverkenner``,
  ``region``, ``sex``, any factor a spec groups by): the factor's levels are coords, never name suffixes;
- ``cells`` (optional): the grid of every factor's levels together (e.g. which cells are pooling only).

Every variable of a level is declared by its kind with a :class:`Variable`: its role says how summaries
show it and how a release treats it (a population-weighted estimand is merged over small levels by
weighting, a ratio is not mergeable, a probability is recomputed from merged draws, ...). A variable, level
or dim a kind has not declared is an error wherever a derived group is read (:func:`check_derived`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import xarray as xr

from ww_bayes.vocabulary import SAMPLE_DIMS

OVERALL = "overall"
CELLS = "cells"
#: Roles of a derived variable (see :class:`Variable`).
ROLES = ("estimand", "ratio", "probability", "flag", "share", "partial_estimand")


class DerivedLayoutError(ValueError):
    """A derived group holding a level, variable or dim its model kind has not declared."""


@dataclass(frozen=True)
class Variable:
    """What a derived variable is.

    ``role``:

    - ``estimand``: posterior draws of a population-weighted mean over the cells of a level (effects in
      pp, cumulative months): a merged group's value is the persons-weighted mean of its levels';
    - ``ratio``: draws that are not such a mean (a relative risk): not defined for a merged group;
    - ``probability``: the share of draws of the estimand ``of`` in which ``event`` (a key of
      :data:`EVENTS`) holds, stored from every sampled draw; recomputed from a merged group's draws;
    - ``flag``: true/false per level (e.g. pooling only); a merged group is flagged if any level is;
    - ``share``: a share of the cohort's persons (e.g. in pooling-only cells);
    - ``partial_estimand``: draws of an estimand over part of the cohort (identified cells only).

    ``signed``: the summary gives the estimand P(> 0). ``units``: its units in words.
    """

    role: str
    of: str = ""
    event: str = ""
    signed: bool = False
    units: str = ""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {self.role!r}")
        if self.role == "probability" and (not self.of or self.event not in EVENTS):
            raise ValueError(f"a probability names its estimand and one of {', '.join(EVENTS)}")

    @property
    def has_draws(self) -> bool:
        return self.role in ("estimand", "ratio", "partial_estimand")


#: Which way an effect is good: more of the outcome (work, hours), less (WW receipt), or neither (a share
#: in sickness benefit: no direction is good).
DIRECTIONS = ("more", "less", "none")
SIGNS = {"more": 1.0, "less": -1.0, "none": 0.0}

#: Events a stored probability is the share of draws of: (draws, smallest effect of interest, the good
#: direction's sign: +1, -1, or 0 where none is good) -> bool. A directional event is NaN where the sign
#: is 0 (it has no meaning there), and the undirected ones where it is not.
EVENTS: dict[str, Callable[[xr.DataArray, float, xr.DataArray], xr.DataArray]] = {
    "positive": lambda draws, smallest, sign: draws > 0,
    "negative": lambda draws, smallest, sign: draws < 0,
    "beyond_smallest": lambda draws, smallest, sign: abs(draws) > smallest,
    "negligible": lambda draws, smallest, sign: abs(draws) < smallest,
    "beneficial": lambda draws, smallest, sign: sign * draws > 0,
    "beneficial_beyond_smallest": lambda draws, smallest, sign: sign * draws > smallest,
}
#: The events that need a good direction, and the one that only means something where there is none (with
#: a direction, P(harmful) is 1 - P(beneficial)).
DIRECTED_EVENTS = ("beneficial", "beneficial_beyond_smallest")
UNDIRECTED_EVENTS = ("negative",)


def direction_sign(good_direction: str | dict[str, str], outcomes=None, dim: str = "outcome") -> xr.DataArray:
    """The good direction as a sign: a scalar, or over dim ``dim`` (``outcome``; a destinations fit's
    ``state``) when the direction is given per label (``outcomes``: their order; a label it does not name
    has none)."""
    if isinstance(good_direction, dict):
        names = list(outcomes if outcomes is not None else good_direction)
        return xr.DataArray([SIGNS[good_direction.get(o, "none")] for o in names], dims=dim,
                            coords={dim: names})  # fmt: skip
    return xr.DataArray(SIGNS[good_direction])


def probability(
    draws: xr.DataArray, event: str, smallest: float, sign: xr.DataArray | float = 0.0
) -> xr.DataArray:
    """The share of draws in which ``event`` holds (over the sample dims); directional events are NaN
    where no direction is good, ``negative`` where one is."""
    sign = sign if isinstance(sign, xr.DataArray) else xr.DataArray(sign)
    share = EVENTS[event](draws, smallest, sign).mean(SAMPLE_DIMS)
    if event in DIRECTED_EVENTS:
        share = share.where(sign != 0)
    elif event in UNDIRECTED_EVENTS:
        share = share.where(sign == 0)
    return share


def fit_level_events(fit_attrs: Mapping, derived_attrs: Mapping, smallest_attr: str, direction_dim: str,
                     ds: xr.Dataset) -> tuple:  # fmt: skip
    """What the probabilities of a level ``ds`` need: the smallest effect of interest (attribute
    ``smallest_attr`` of the derived group, or else of the fit: a kind's own, e.g. hours for the hours kind)
    and the good direction's sign over the level's ``direction_dim`` (when it has one)."""
    if smallest_attr in derived_attrs:
        smallest = float(derived_attrs[smallest_attr])
    elif smallest_attr in fit_attrs:
        smallest = float(fit_attrs[smallest_attr])
    else:
        raise KeyError(f"no {smallest_attr} attribute: the probabilities' smallest effect is not known")
    direction = json.loads(derived_attrs.get("good_direction", '"none"'))
    labels = ds[direction_dim].values if direction_dim in ds.dims else None
    return smallest, direction_sign(direction, labels, direction_dim)


def recomputed_probabilities(ds: xr.Dataset, variables: Mapping, events: tuple) -> xr.Dataset:
    """``ds`` with every probability (``variables``: the level's declarations) computed again from the
    draws of its estimand in ``ds``, in its own dtype; NaN where those draws are (an estimand not defined
    or not released)."""
    out = ds.copy()
    for name, variable in variables.items():
        if variable.role != "probability" or name not in ds or variable.of not in ds:
            continue
        draws = ds[variable.of]
        share = probability(draws, variable.event, *events).where(draws.notnull().all(SAMPLE_DIMS))
        out[name] = share.transpose(*ds[name].dims).astype(ds[name].dtype).assign_attrs(ds[name].attrs)
    return out


#: The probabilities every effect estimand gets (variable name -> event); ``prob_positive`` kept for files
#: written before the directed ones, for one layout version.
EFFECT_PROBABILITIES = {
    "prob_positive": "positive",
    "prob_beyond_smallest": "beyond_smallest",
    "prob_beneficial": "beneficial",
    "prob_beneficial_beyond_smallest": "beneficial_beyond_smallest",
    "prob_negligible": "negligible",
    "prob_negative": "negative",
}


def probability_variables(of: str) -> dict[str, Variable]:
    """The declarations of :data:`EFFECT_PROBABILITIES` for the estimand ``of``."""
    return {name: Variable("probability", of=of, event=event) for name, event in EFFECT_PROBABILITIES.items()}


def effect_probabilities(
    draws: xr.DataArray, smallest: float, sign: xr.DataArray | float
) -> dict[str, xr.DataArray]:
    """Every probability of :data:`EFFECT_PROBABILITIES` of an effect's draws (the directed ones NaN where
    no direction is good, ``prob_negative`` where one is)."""
    return {name: probability(draws, event, smallest, sign) for name, event in EFFECT_PROBABILITIES.items()}


def level_label(level: str) -> str:
    """How tables name a level: ``overall``, or ``by_<factor>`` for a factor's level."""
    return level if level in (OVERALL, CELLS) else f"by_{level}"


def factor_of(level: str) -> str | None:
    """The grouping factor a level is of (None for the overall and cell levels)."""
    return None if level in (OVERALL, CELLS) else level


def flat_name(estimand: str, level: str) -> str:
    """One name for an estimand at a level where a flat list needs it (a calibration study's ranks):
    ``effect_pp_overall``, ``effect_pp_by_werkverkenner``."""
    return f"{estimand}_{level_label(level)}"


def levels_of(derived: xr.DataTree) -> dict[str, xr.Dataset]:
    """The derived group's levels in order (overall, then the factors as stored, the cell grid last)."""
    names = list(derived.children)
    ordered = [n for n in names if n == OVERALL] + [n for n in names if n not in (OVERALL, CELLS)]
    ordered += [n for n in names if n == CELLS]
    return {name: derived[name].to_dataset() for name in ordered}


def derived_tree(levels: Mapping[str, xr.Dataset], attrs: Mapping | None = None) -> xr.DataTree:
    """A derived group from its levels (``{"overall": ds, "werkverkenner": ds, ...}``)."""
    tree = xr.DataTree.from_dict({name: ds for name, ds in levels.items()})
    tree.attrs.update(dict(attrs or {}))
    return tree


def check_derived(
    derived: xr.DataTree,
    variables: Mapping[str, Variable],
    dims: tuple[str, ...],
    factors: tuple[str, ...],
    source: str = "the derived group",
) -> None:
    """Raise :class:`DerivedLayoutError` (one line naming it) for a level, variable or dim of ``derived``
    that the kind has not declared: levels must be ``overall``, a factor of ``factors`` or ``cells``;
    variables keys of ``variables``; dims the sample dims, ``dims`` (the kind's other dims: contrast,
    month, ...) and the level's own factor (all ``factors`` at the cell level)."""
    if derived.ds.data_vars:
        raise DerivedLayoutError(f"{source}: variables outside a level: {', '.join(derived.ds.data_vars)}")
    for level, ds in levels_of(derived).items():
        if level not in (OVERALL, CELLS) and level not in factors:
            known = ", ".join(factors) or "none"
            raise DerivedLayoutError(
                f"{source}: level {level!r} is not a grouping factor of this fit ({known})"
            )
        own = set(factors) if level == CELLS else ({level} if level != OVERALL else set())
        allowed = set(SAMPLE_DIMS) | set(dims) | own
        for name, values in ds.data_vars.items():
            if name not in variables:
                raise DerivedLayoutError(f"{source}: variable {name!r} at level {level!r} is not one this "
                                         f"model kind declares ({', '.join(variables)})")  # fmt: skip
            unknown = [d for d in values.dims if d not in allowed]
            if unknown:
                listed = ", ".join(map(repr, unknown))
                raise DerivedLayoutError(
                    f"{source}: {level}/{name} has dim(s) {listed} this model kind does not declare"
                )
            if variables[name].has_draws != (set(SAMPLE_DIMS) <= set(values.dims)):
                raise DerivedLayoutError(f"{source}: {level}/{name} is declared a {variables[name].role} but "
                                         f"has dims {values.dims}")  # fmt: skip


def thinned(derived: xr.DataTree, step: int, draws: int) -> xr.DataTree:
    """The derived group with every ``step``-th of its ``draws`` draws (variables without draws kept)."""
    levels = {}
    for level, ds in levels_of(derived).items():
        levels[level] = ds.isel(draw=slice(None, None, step)) if ds.sizes.get("draw") == draws else ds
    return derived_tree(levels, derived.attrs)
