"""The destinations kind (``kind = "destinations"``): where claimants are at chosen months (benefit status x
work: WW, ZW, WIA, bijstand, no benefit; with or without work) and where their first exit from WW went, so
that the WW effect can be followed to the states it went to.

Two categorical outcomes are observed on the same arm x group cells, each month the spec reads (``months``):

- ``state``: the state at the month, from ``benefit_m`` and ``employed_m`` (benefit statuses the spec names
  in ``split_by_work`` are split into working and not working; the others count with and without work);
- ``first_exit``: whether the first month off WW came by the month and where to, from ``benefit_m1`` ..
  ``benefit_m``: still on WW, to ZW or WIA (the sickness benefits), or elsewhere; with ``wia_35min``, the
  exits to ZW or WIA are split by whether a WIA assessment below 35% incapacity followed (persons whose
  assessment is not known are then left out of these cells).

A state or exit category with fewer than ``min_persons`` persons in an arm of the whole cohort, in a month
where anyone is in it, is merged (a sparse state into ``other``, enlarged by the smallest other states until
it passes; a sparse 35-min split back into ``to_zw_wia``); a category nobody is in at any month read is left
out, and one nobody is in at some month has probability 0 there. The fit's notes say what was merged.

Each cell's counts are a Multinomial over its outcome's categories with a multinomial-logit link
(:class:`ww_bayes.kinds.observations.OutcomeCategoryCounts`). For outcome o, category k, month m, anchored on
the service arm (as the effects kind), with g the cell's level of each grouping factor:

    eta[service, g, m, k]             = baseline[o, g, m, k]
    eta[control_enforcement, g, m, k] = baseline[o, g, m, k] - service[o, g, m, k]
    eta[control_none, g, m, k]        = baseline - service - enforcement
    component[o, g, m, k] = mean[o, m, k] + sum over factors of dev_<factor>[o, m, level of g, k]

The baseline mean is the stated prior mean (the log of the spec's prior share, centred over the month's
categories) plus a zero-sum normal deviation; effect means are zero-sum normal over the categories. Factor
deviations sum to zero over the factor's levels and over the categories (a multinomial logit is unchanged by
adding a constant to every category, so each vector is zero-sum over them: no ridge); they are partially
pooled (one estimated sd per outcome, component and factor, shared by months and categories), unpooled
(fixed sd) or absent, as the spec's ``pooling`` says. Partially pooled deviations are written centred,
half-centred or non-centred as the spec's ``[parametrization]`` asks, for ``"auto"`` as the data call for
per outcome (:func:`choose_forms`, the rule the other kinds use); the shipped specs ask for centred baseline
deviations (thousands of persons per level) and non-centred effect deviations (the control arms hold a tenth
of the persons each).

When a category is empty at some month read (WIA before month 25 in a path), its logit there is masked, and
the vectors of that month sum to zero over the month's own categories only: written in an orthonormal
basis of that subspace (:func:`live_basis`), so no free parameter is left that only the prior informs (a
masked category's value would otherwise trade against a shift of the others: a ridge the sampler crawls
along). The basis form is the same distribution as the zero-sum normal (tested); it is used only for an
outcome with an empty category-month, so a model without one is written with ``pm.ZeroSumNormal``.

The derived ``destinations`` group has a level per factor (:mod:`ww_bayes.derived`) holding, per contrast
and month, in percentage points of all claimants: ``share_pp`` (the effect on each state's share, with the
probabilities: ``prob_positive`` is the one-sided P(higher share)), ``ww_source_pp`` (the effect on the WW
share, with and without work), ``ww_destination_part`` (the part of it each other state takes up: an
accounting identity, not an estimate, as ``ww_source_pp`` is minus the sum of ``share_pp`` outside WW) and
``first_exit_pp`` (the effect on the cumulative incidence of a first exit from WW by the month: ``to_zw_wia``,
the flow into the sickness benefits, ``to_zw_wia_35min`` the part of it later assessed below 35%, and
``to_other``). Levels weight cells by the cohort's composition; the estimand functions
(:func:`ww_bayes.estimands.share_effects_pp`, :func:`ww_bayes.estimands.decompose_effect`) are the truth's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import scipy.linalg
import xarray as xr

from ww_bayes.data.cells import person_counts
from ww_bayes.data.schema import (
    ARM_SERVICE,
    ARMS,
    BENEFIT_PREFIX,
    BENEFIT_STATUSES,
    BENEFIT_WW,
    MONTHS,
    SICKNESS_BENEFITS,
    WIA_35MIN,
    WORK_STATES,
    WW_EXIT_DESTINATIONS,
    month_column,
)
from ww_bayes.derived import (
    OVERALL,
    SIGNS,
    Variable,
    derived_tree,
    direction_sign,
    effect_probabilities,
    level_label,
    levels_of,
    probability_variables,
)
from ww_bayes.estimands import decompose_effect, share_effects_pp
from ww_bayes.kinds.common import (
    COMMON_KEYS,
    COMPONENTS,
    EFFECT_COMPONENTS,
    ComponentForms,
    SpecCommon,
    parse_parametrization,
    parse_pooling,
    priors_table,
)
from ww_bayes.kinds.observations import CATEGORY_OUTCOME, OutcomeCategoryCounts, logit_estimates
from ww_bayes.kinds.pooling import (
    AUTO,
    CENTRED,
    CENTRING,
    NON_CENTRED,
    Parametrization,
    arm_logit,
    cell_index,
    choose_parametrization,
    class_weights,
    contrast_arms,
    factor_levels,
    fit_weights,
    level_estimates,
    sparseness_flags,
    weak_form_of,
)
from ww_bayes.kinds.protocol import (
    BenefitEffects,
    Block,
    Heading,
    ModelData,
    ModelKind,
    Paragraph,
    Plot,
    Table,
)
from ww_bayes.summaries import summary_table
from ww_bayes.tomlspec import SpecError, number, reject_unknown, require
from ww_bayes.vocabulary import SAMPLE_DIMS, interval_label, interval_of, interval_text

# --- the categories -------------------------------------------------------------------------------------

#: The two categorical outcomes, in the order of the model's category union.
STATE, FIRST_EXIT = "state", "first_exit"
OUTCOMES = (STATE, FIRST_EXIT)
#: The model's dim of each outcome's categories (the derived group's are ``state`` and ``first_exit``).
MODEL_DIMS = {STATE: "state", FIRST_EXIT: "exit_category"}
#: The state a sparse state is merged into.
OTHER_STATE = "other"
#: First-exit categories: not off WW yet; first exit to ZW or WIA (split by a later WIA assessment below 35%
#: when the spec asks); first exit elsewhere (bijstand, no benefit).
STILL_ON_WW = "still_on_ww"
TO_SICKNESS = "to_zw_wia"
TO_SICKNESS_35MIN = "to_zw_wia_35min"
TO_SICKNESS_NOT_35MIN = "to_zw_wia_not_35min"
TO_OTHER = "to_other"
#: The first-exit incidences the derived group reports (dim ``first_exit``): the flow into ZW or WIA, the
#: part of it later assessed below 35% (with the split), and the exits elsewhere. ``to_zw_wia_35min`` is
#: part of ``to_zw_wia``.
INCIDENCES = (TO_SICKNESS, TO_SICKNESS_35MIN, TO_OTHER)
#: Logit given to a category a cell cannot be in (another outcome's, or one empty in the month): its
#: probability is exactly 0 in float64 (exp(-1e4) underflows), its log-probability finite.
MASKED_LOGIT = 1e4


def state_label(benefit: str, working: int, split_by_work: tuple[str, ...]) -> str:
    """The state of a benefit status and work (0/1): ``ww_working``, ``zw``, ``none_not_working`` ..."""
    if benefit in split_by_work:
        return f"{benefit}_{WORK_STATES[working]}"
    return benefit


def benefit_of_state(state: str) -> str:
    """The benefit status of a state (``ww_working`` -> ``ww``, ``zw`` -> ``zw``); ``other`` for the merged
    state."""
    for benefit in BENEFIT_STATUSES:
        if state == benefit or any(state == f"{benefit}_{work}" for work in WORK_STATES):
            return benefit
    if state == OTHER_STATE:
        return OTHER_STATE
    raise ValueError(f"state {state!r} is not a benefit status with or without work, nor {OTHER_STATE!r}")


def candidate_states(split_by_work: tuple[str, ...]) -> list[str]:
    """Every state before merging, in order: the benefit statuses, split by work where the spec says."""
    return list(dict.fromkeys(state_label(b, w, split_by_work) for b in BENEFIT_STATUSES for w in (0, 1)))


def candidate_exits(split_35min: bool) -> list[str]:
    """Every first-exit category before merging, in order."""
    sickness = [TO_SICKNESS_35MIN, TO_SICKNESS_NOT_35MIN] if split_35min else [TO_SICKNESS]
    return [STILL_ON_WW, *sickness, TO_OTHER]


def exit_label(exit_to: str, below_35: int, split_35min: bool) -> str:
    """The first-exit category of a first month off WW in status ``exit_to`` (and the 35-min flag)."""
    if exit_to not in SICKNESS_BENEFITS:
        return TO_OTHER
    if not split_35min:
        return TO_SICKNESS
    return TO_SICKNESS_35MIN if below_35 else TO_SICKNESS_NOT_35MIN


@dataclass(frozen=True)
class Categories:
    """The categories of the two outcomes for one cohort, after the spec's merging rule.

    ``merged``: outcome -> candidate label -> the category it is counted in ("" when nobody is in it at any
    month read: left out); ``empty``: (outcome, month) -> the categories nobody is in then (probability 0
    there); ``notes``: what was merged or left out, and why.
    """

    split_by_work: tuple[str, ...]
    split_35min: bool
    merged: dict[str, dict[str, str]]
    empty: dict[tuple[str, int], tuple[str, ...]]
    notes: tuple[str, ...] = ()

    def of(self, outcome: str) -> tuple[str, ...]:
        """The outcome's categories, in order (a merged ``other`` state last)."""
        present = list(dict.fromkeys(c for c in self.merged[outcome].values() if c))
        return tuple([c for c in present if c != OTHER_STATE] + [c for c in present if c == OTHER_STATE])

    def members(self, outcome: str) -> dict[str, list[str]]:
        """Each category with the candidate labels counted in it."""
        return {c: [k for k, v in self.merged[outcome].items() if v == c] for c in self.of(outcome)}

    def state_table(self) -> xr.DataArray:
        """The state of each benefit status and work (``""``: left out), dims (benefit, work)."""
        values = [
            [self.merged[STATE][state_label(b, w, self.split_by_work)] for w in (0, 1)]
            for b in BENEFIT_STATUSES
        ]
        coords = {"benefit": list(BENEFIT_STATUSES), "work": list(WORK_STATES)}
        return xr.DataArray(np.array(values, dtype=object), dims=("benefit", "work"), coords=coords)

    def exit_table(self) -> xr.DataArray:
        """The first-exit category of each status of the first month off WW and 35-min flag, dims
        (exit_to, wia_35min)."""
        values = [
            [self.merged[FIRST_EXIT][exit_label(e, f, self.split_35min)] for f in (0, 1)]
            for e in WW_EXIT_DESTINATIONS
        ]
        return xr.DataArray(np.array(values, dtype=object), dims=("exit_to", WIA_35MIN),
                            coords={"exit_to": list(WW_EXIT_DESTINATIONS), WIA_35MIN: [0, 1]})  # fmt: skip


# --- the spec -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BaselinePrior:
    """Priors of the baseline (the service arm's category logits, per month).

    ``shares``: (outcome, month) -> {category: prior mean share}; each category's logit has the log of its
    share (summed over merged categories) as prior mean, centred over the month's categories, and a
    zero-sum normal deviation of sd ``sigma``. ``group_sd``: half-normal scale of the sd of partially pooled
    factor deviations; ``unpooled_sd``: the fixed sd of unpooled ones (logit scale).
    """

    shares: dict[str, dict[int, dict[str, float]]]
    sigma: float
    group_sd: float
    unpooled_sd: float


@dataclass(frozen=True)
class EffectPrior:
    """Priors of an effect component (logit scale): its mean over the categories ~ ZeroSumNormal(``sigma``)
    per month; factor deviations: sd ~ HalfNormal(``group_sd``) (partial pooling) or ``unpooled_sd``."""

    sigma: float
    group_sd: float
    unpooled_sd: float


@dataclass(frozen=True, kw_only=True)
class DestinationsSpec(ComponentForms, SpecCommon):
    """A model of where claimants go (``kind = "destinations"``). Build with :func:`ww_bayes.load_spec`."""

    months: tuple[int, ...]
    split_by_work: tuple[str, ...]
    min_persons: int
    wia_35min: bool
    pooling: dict[str, dict[str, str]]
    baseline: BaselinePrior
    priors: dict[str, EffectPrior]
    #: component -> factor -> the form asked for partially pooled deviations ("centred", "half-centred",
    #: "non-centred"), "auto" where not given (:func:`ww_bayes.kinds.common.parse_parametrization`)
    parametrization: dict[str, dict[str, str]] = field(default_factory=dict)

    kind = "destinations"

    @property
    def outcome(self) -> str:
        """The outcomes as one label (provenance), e.g. ``state at month 12; first exit from WW by 12``."""
        months = ", ".join(map(str, self.months))
        return f"state at month {months}; first exit from WW by month {months}"

    def describe_priors(self, parametrization: dict[str, dict[str, Parametrization]] | None = None) -> str:
        """The priors in words; with ``parametrization`` (:attr:`ModelData.parametrization`, keyed
        ``<outcome>_<component>``), the form chosen for each partially pooled factor per outcome and why."""
        b = self.baseline
        lines = [
            f"Priors of {self.name} (multinomial logit), months {', '.join(map(str, self.months))}:",
            "  baseline (service arm): logit mean = log(stated share) less its mean over the categories, "
            f"+ ZeroSumNormal({b.sigma:g}) over the categories, per month",
        ]
        for outcome in OUTCOMES:
            for month, shares in b.shares[outcome].items():
                listed = ", ".join(f"{k} {v:.3g}" for k, v in shares.items())
                lines.append(f"    {outcome} month {month}: {listed}")
        for component in COMPONENTS:
            if component != "baseline":
                prior = self.priors[component]
                lines.append(f"  {component}: mean ~ ZeroSumNormal({prior.sigma:g}) over the categories, per "
                             "month")  # fmt: skip
            for factor in self.groups:
                pooling = self.pooling[component][factor]
                scale = b if component == "baseline" else self.priors[component]
                if pooling == "partial":
                    asked = self.asked(component, factor)
                    chosen = [(o, (parametrization or {}).get(f"{o}_{component}", {}).get(factor))
                              for o in OUTCOMES]  # fmt: skip
                    if all(c is not None for _, c in chosen):
                        form = "; ".join(f"{o}: {c.text()}" for o, c in chosen)
                    else:
                        form = "chosen from the data per outcome" if asked == AUTO else asked
                    text = (f"partial pooling, sd ~ HalfNormal({scale.group_sd:g}) per outcome, zero-sum "
                            f"over levels and categories; {form}")  # fmt: skip
                elif pooling == "none":
                    text = f"no pooling, deviations ~ ZeroSumNormal({scale.unpooled_sd:g}), fixed sd"
                else:
                    text = "full pooling, one common value"
                lines.append(f"    by {factor}: {text}")
        return "\n".join(lines)


def _shares_table(key: str, table, months: tuple[int, ...], labels: list[str]) -> dict[int, dict[str, float]]:
    """``{ "12" = { label = share, ... }, ... }`` at ``key``: one table per month of the spec, a share in
    (0, 1] for every label."""
    if not isinstance(table, dict):
        raise SpecError(f"{key!r} must be a table with one table of shares per month, e.g. 12 = {{ ... }}")
    reject_unknown(key, table, [str(m) for m in months])
    out = {}
    for month in months:
        require(key, table, [str(month)])
        shares = table[str(month)]
        where = f"{key}.{month}"
        if not isinstance(shares, dict):
            raise SpecError(f"{where!r} must be a table of shares, e.g. {{ {labels[0]} = 0.3, ... }}")
        reject_unknown(where, shares, labels)
        require(where, shares, labels)
        out[month] = {label: number(f"{where}.{label}", shares[label], low=0, high=1, open_low=True)
                      for label in labels}  # fmt: skip
    return out


def _effect_prior(component: str, table) -> EffectPrior:
    key = f"priors.{component}"
    if not isinstance(table, dict):
        raise SpecError(f"{key!r} must be a table")
    names = ("sigma", "group_sd", "unpooled_sd")
    reject_unknown(key, table, names)
    require(key, table, names)
    return EffectPrior(*(number(f"{key}.{n}", table[n], low=0, open_low=True) for n in names))


def parse(raw: dict, text: str, source: str, common: dict) -> DestinationsSpec:
    months = raw["months"]
    if (
        not isinstance(months, list)
        or not months
        or not all(isinstance(m, int) and not isinstance(m, bool) and m in MONTHS for m in months)
        or sorted(set(months)) != months
    ):
        raise SpecError(f"'months' must be a list of months in 1..{MONTHS[-1]}, increasing, e.g. [12] or "
                        f"[6, 12, 18, 24, 30]; got {months!r}")  # fmt: skip
    months = tuple(months)
    states_raw = raw.get("states", {})
    if not isinstance(states_raw, dict):
        raise SpecError("'states' must be a table")
    reject_unknown("states", states_raw, ("split_by_work", "min_persons", "wia_35min"))
    split = states_raw.get("split_by_work", [BENEFIT_WW, "none"])
    if (
        not isinstance(split, list)
        or not set(split) <= set(BENEFIT_STATUSES)
        or len(set(split)) != len(split)
    ):
        raise SpecError(f"'states.split_by_work' must be a list of benefit statuses drawn from "
                        f"{list(BENEFIT_STATUSES)}, got {split!r}")  # fmt: skip
    split = tuple(s for s in BENEFIT_STATUSES if s in split)
    min_persons = int(number("states.min_persons", states_raw.get("min_persons", 20), low=1, integer=True))
    split_35min = states_raw.get("wia_35min", False)
    if not isinstance(split_35min, bool):
        raise SpecError(f"'states.wia_35min' must be true or false, got {split_35min!r}")
    priors_raw = priors_table(raw, COMPONENTS)
    base_raw = priors_raw["baseline"]
    if not isinstance(base_raw, dict):
        raise SpecError("'priors.baseline' must be a table")
    names = ("sigma", "group_sd", "unpooled_sd", "state_shares", "first_exit_shares")
    reject_unknown("priors.baseline", base_raw, names)
    require("priors.baseline", base_raw, names)
    baseline = BaselinePrior(
        shares={
            STATE: _shares_table(
                "priors.baseline.state_shares", base_raw["state_shares"], months, candidate_states(split)
            ),
            FIRST_EXIT: _shares_table(
                "priors.baseline.first_exit_shares",
                base_raw["first_exit_shares"],
                months,
                candidate_exits(split_35min),
            ),
        },  # fmt: skip
        **{n: number(f"priors.baseline.{n}", base_raw[n], low=0, open_low=True) for n in names[:3]},
    )
    pooling = parse_pooling(raw, COMPONENTS, common["groups"])
    directions = common["good_direction"]
    if isinstance(directions, dict):
        known = [*candidate_states(split), OTHER_STATE]
        unknown = [s for s in directions if s not in known]
        if unknown:
            raise SpecError(f"'good_direction.{unknown[0]}' is not a state; the states are "
                            f"{', '.join(known)}")  # fmt: skip
    return DestinationsSpec(
        months=months,
        split_by_work=split,
        min_persons=min_persons,
        wia_35min=split_35min,
        pooling=pooling,
        baseline=baseline,
        priors={c: _effect_prior(c, priors_raw[c]) for c in EFFECT_COMPONENTS},
        parametrization=parse_parametrization(raw, COMPONENTS, common["groups"], pooling),
        **common,
    )


# --- each person's categories, and the rule that merges sparse ones --------------------------------------


def required_columns(spec: DestinationsSpec) -> list[str]:
    """The grouping factors, ``benefit_m1`` .. ``benefit_m<last month>`` (the first exits need every month
    before), ``employed_m`` of the months read, and ``wia_35min`` when the exits are split by it."""
    last = max(spec.months)
    benefit = [month_column(BENEFIT_PREFIX, m) for m in range(1, last + 1)]
    employed = [month_column("employed", m) for m in spec.months]
    return [*spec.groups, *benefit, *employed, *([WIA_35MIN] if spec.wia_35min else [])]


@dataclass(frozen=True)
class PersonPaths:
    """What each person's categories are made of: the benefit status codes (index into
    :data:`BENEFIT_STATUSES`, -1 not observed) of the months read, work in them (0/1, -1 not observed), the
    first month off WW among months 1..last (``last + 1``: none; 0 when not observed long enough to know)
    with its status code, and the 35-min flag (-1 not known)."""

    months: tuple[int, ...]
    status: np.ndarray  # (month read, person)
    work: np.ndarray  # (month read, person)
    observed_through: np.ndarray  # the last month of benefit_m1..last observed, per person
    first_off: np.ndarray
    first_off_status: np.ndarray
    below_35: np.ndarray


def person_paths(df: pd.DataFrame, months: tuple[int, ...], with_flag: bool) -> PersonPaths:
    """Each person's statuses, work and first exit from WW (see :class:`PersonPaths`), from a typed cohort."""
    last = max(months)
    codes = np.column_stack(
        [df[month_column(BENEFIT_PREFIX, m)].cat.codes.to_numpy() for m in range(1, last + 1)]
    ).astype(np.int8)
    observed = codes >= 0
    observed_through = observed.sum(axis=1)  # NA only after the last observed month (validated)
    off = observed & (codes != BENEFIT_STATUSES.index(BENEFIT_WW))
    any_off = off.any(axis=1)
    first_off = np.where(any_off, off.argmax(axis=1) + 1, last + 1)
    first_off_status = np.where(any_off, codes[np.arange(len(df)), np.minimum(first_off, last) - 1], -1)
    work = np.column_stack(
        [df[month_column("employed", m)].to_numpy(dtype="float64", na_value=np.nan) for m in months]
    )
    work = np.where(np.isnan(work), -1, work).astype(np.int8).T
    below_35 = df[WIA_35MIN].to_numpy(dtype="float64", na_value=np.nan) if with_flag else np.zeros(len(df))
    below_35 = np.where(np.isnan(below_35), -1, below_35).astype(np.int8)
    status = codes[:, [m - 1 for m in months]].T
    return PersonPaths(months, status, work, observed_through, first_off, first_off_status, below_35)


def candidate_labels(
    paths: PersonPaths, outcome: str, month: int, split_by_work: tuple[str, ...], split_35min: bool
) -> np.ndarray:
    """Each person's candidate label (before merging) of ``outcome`` at ``month``; None where not observed
    (the month's status or work unknown; for the 35-min split, also the flag of an exit to ZW or WIA)."""
    j = paths.months.index(month)
    out = np.full(paths.status.shape[1], None, dtype=object)
    if outcome == STATE:
        status, work = paths.status[j], paths.work[j]
        known = (status >= 0) & (work >= 0)
        table = np.array([[state_label(b, w, split_by_work) for w in (0, 1)] for b in BENEFIT_STATUSES],
                         dtype=object)  # fmt: skip
        out[known] = table[status[known], work[known]]
        return out
    known = paths.observed_through >= month
    exited = known & (paths.first_off <= month)
    out[known & ~exited] = STILL_ON_WW
    table = np.array(
        [[exit_label(s, f, split_35min) for f in (0, 1)] for s in BENEFIT_STATUSES], dtype=object
    )
    flag = np.maximum(paths.below_35, 0)
    out[exited] = table[paths.first_off_status[exited], flag[exited]]
    if split_35min:
        to_sickness = exited & np.isin(
            paths.first_off_status, [BENEFIT_STATUSES.index(s) for s in SICKNESS_BENEFITS]
        )
        out[to_sickness & (paths.below_35 < 0)] = None
    return out


def _persons_per_arm(labels: np.ndarray, arms: np.ndarray, candidates: list[str]) -> np.ndarray:
    """(candidate, arm) persons."""
    counts = np.zeros((len(candidates), len(ARMS)), dtype=np.int64)
    index = {c: i for i, c in enumerate(candidates)}
    seen = pd.Series(labels).notna().to_numpy()
    frame = pd.DataFrame({"label": labels[seen], "arm": arms[seen]}).value_counts()
    for (label, arm), n in frame.items():
        counts[index[label], arm] = n
    return counts


def decide_categories(
    spec: DestinationsSpec, df: pd.DataFrame, paths: PersonPaths | None = None
) -> Categories:
    """The categories of both outcomes for a typed cohort, by the spec's rule (``min_persons``): a category
    nobody is in at any month read is left out; a sparse one (fewer than ``min_persons`` persons in an arm of
    the whole cohort, in a month where anyone is in it) is merged: states into ``other`` (which takes in the
    smallest other states while it is sparse itself), a sparse 35-min split back into ``to_zw_wia``, another
    sparse exit category into ``to_other``."""
    paths = paths or person_paths(df, spec.months, spec.wia_35min)
    arms = pd.Categorical(df["arm"].astype(str), categories=list(ARMS)).codes
    merged, empty, notes = {}, {}, []
    for outcome in OUTCOMES:
        candidates = (
            candidate_states(spec.split_by_work) if outcome == STATE else candidate_exits(spec.wia_35min)
        )
        counts = np.stack(
            [_persons_per_arm(candidate_labels(paths, outcome, m, spec.split_by_work, spec.wia_35min), arms,
                              candidates) for m in spec.months]
        )  # (month, candidate, arm)  # fmt: skip
        mapping = _merge_sparse(outcome, candidates, counts, spec.min_persons, notes)
        merged[outcome] = mapping
        categories = list(dict.fromkeys(c for c in mapping.values() if c))
        for j, month in enumerate(spec.months):
            totals = {
                c: counts[j, [i for i, k in enumerate(candidates) if mapping[k] == c]].sum()
                for c in categories
            }
            empty[(outcome, month)] = tuple(c for c in categories if totals[c] == 0)
    return Categories(spec.split_by_work, spec.wia_35min, merged, empty, tuple(notes))


def _merge_sparse(
    outcome: str, candidates: list[str], counts: np.ndarray, min_persons: int, notes: list[str]
) -> dict[str, str]:
    """candidate -> category by the rule (see :func:`decide_categories`); ``counts``: (month, candidate,
    arm)."""
    mapping = {c: c for c in candidates}

    def group_counts(category: str) -> np.ndarray:  # (month, arm)
        members = [i for i, c in enumerate(candidates) if mapping[c] == category]
        return counts[:, members].sum(axis=1)

    def sparse(category: str) -> bool:
        per_arm = group_counts(category)
        present = per_arm.sum(axis=1) > 0
        return bool((per_arm[present] < min_persons).any())

    for c in candidates:
        if counts[:, candidates.index(c)].sum() == 0:
            mapping[c] = ""
            notes.append(f"{outcome} {c!r}: nobody in it at any month read; left out (its share is 0)")
    rule = f"fewer than {min_persons} persons in an arm of the cohort in a month"
    if outcome == FIRST_EXIT:
        split = [c for c in (TO_SICKNESS_35MIN, TO_SICKNESS_NOT_35MIN) if mapping.get(c)]
        if split and any(sparse(c) for c in split):
            for c in split:
                mapping[c] = TO_SICKNESS
            notes.append(f"first_exit: the 35-min split of the exits to ZW or WIA merged back into "
                         f"{TO_SICKNESS!r} ({rule})")  # fmt: skip
        for c in dict.fromkeys(v for v in mapping.values() if v and v not in (STILL_ON_WW, TO_OTHER)):
            if sparse(c):
                for k, v in mapping.items():
                    if v == c:
                        mapping[k] = TO_OTHER
                notes.append(f"first_exit {c!r}: merged into {TO_OTHER!r} ({rule})")
        return mapping
    for c in dict.fromkeys(v for v in mapping.values() if v):
        if sparse(c):
            for k, v in mapping.items():
                if v == c:
                    mapping[k] = OTHER_STATE
            notes.append(f"state {c!r}: merged into {OTHER_STATE!r} ({rule})")
    while OTHER_STATE in mapping.values() and sparse(OTHER_STATE):
        rest = [c for c in dict.fromkeys(v for v in mapping.values() if v) if c != OTHER_STATE]
        if len(rest) <= 1:
            break
        smallest = min(rest, key=lambda c: int(group_counts(c).sum()))
        for k, v in mapping.items():
            if v == smallest:
                mapping[k] = OTHER_STATE
        notes.append(f"state {smallest!r}: merged into {OTHER_STATE!r} (the smallest state, so that "
                     f"{OTHER_STATE!r} is not sparse)")  # fmt: skip
    return mapping


# --- data and model ---------------------------------------------------------------------------------------


def prepare_data(spec: DestinationsSpec, df: pd.DataFrame) -> ModelData:
    """Cells (outcome x arm x groups x month, a count per category of the union), the cohort's composition
    and the categories (constants: each category's outcome, the categories empty in a month, the state of
    each benefit status and work, the first-exit category of each status and 35-min flag)."""
    groups = list(spec.groups)
    levels, notes = factor_levels(df, groups)
    paths = person_paths(df, spec.months, spec.wia_35min)
    categories = decide_categories(spec, df, paths)
    observation = OutcomeCategoryCounts({o: categories.of(o) for o in OUTCOMES})
    keys = pd.DataFrame({c: df[c].astype(str).to_numpy() for c in ("arm", *groups)})
    parts, n_missing = [], 0
    for outcome in OUTCOMES:
        for month in spec.months:
            labels = candidate_labels(paths, outcome, month, spec.split_by_work, spec.wia_35min)
            seen = pd.notna(labels)
            final = pd.Series(labels[seen]).map(categories.merged[outcome]).to_numpy()
            n_missing += int((~seen).sum())
            frame = keys[seen].assign(category=final)
            counts = frame.value_counts().unstack("category", fill_value=0)
            counts = counts.reindex(columns=list(observation.categories), fill_value=0).reset_index()
            counts.columns.name = None
            parts.append(counts.assign(outcome=outcome, month=month))
    cells = pd.concat(parts, ignore_index=True)
    order = {"arm": list(ARMS), **levels}
    cells = cells.sort_values(
        ["outcome", "month", *[c for c in ("arm", *groups)]],
        key=lambda col: col.map({v: i for i, v in enumerate(order[col.name])}) if col.name in order else col,
        kind="stable",
    )
    union = list(observation.categories)
    cells = cells[["outcome", "arm", *groups, "month", *union]].reset_index(drop=True)
    cells[union] = cells[union].astype("int64")
    empty = np.array(
        [[c in categories.empty[(o, m)] for o in OUTCOMES for c in categories.of(o)] for m in spec.months],
        dtype=np.int8,
    )
    month_labels = [str(m) for m in spec.months]
    constants = {
        CATEGORY_OUTCOME: observation.outcome_variable(),
        "category_empty": xr.DataArray(empty, dims=("month", "category"),
                                       coords={"month": list(spec.months), "category": union}),
        "state_of": categories.state_table(),
        "first_exit_of": categories.exit_table(),
    }  # fmt: skip
    weights = person_counts(df, groups, levels) if groups else xr.DataArray(len(df))
    return ModelData(
        cells=cells,
        observation=observation,
        levels={
            **levels,
            "month": month_labels,
            "state": list(categories.of(STATE)),
            "exit_category": list(categories.of(FIRST_EXIT)),
        },  # fmt: skip
        weights=weights.rename("n_persons"),
        outcome=spec.outcome,
        n_persons=len(df),
        n_missing=n_missing,
        likelihood="multinomial",
        constants=constants,
        notes=(*notes, *categories.notes),
        # which candidates each category counts: the baseline's prior means depend on it (the graph's
        # constants), and it depends on the data (sparse candidates merged), so it keys compiled functions
        structure={
            "category_empty": empty.tolist(),
            "state_of": constants["state_of"].values.tolist(),
            "first_exit_of": constants["first_exit_of"].values.tolist(),
        },  # fmt: skip
        parametrization=choose_forms(spec, cells, levels, categories),
    )


#: The forms of a fit whose file records none (made before the forms were chosen per fit): centred
#: baseline deviations (thousands of persons per level), non-centred effect deviations.
RECORDED_BEFORE = {"baseline": CENTRED, "service": NON_CENTRED, "enforcement": NON_CENTRED}


def choose_forms(spec: DestinationsSpec, cells: pd.DataFrame, levels: dict[str, list[str]],
                 categories: Categories) -> dict[str, dict[str, Parametrization]]:  # fmt: skip
    """The form of every partially pooled component and factor per outcome (keyed ``<outcome>_<component>``):
    the spec's, or chosen from the cells (:func:`ww_bayes.kinds.pooling.choose_parametrization`). The
    deviations of a component share one sd over the outcome's categories and months, so the rule takes
    every category and month read as a series of the levels' estimates sharing that sd: per category, the
    logit of its share against the rest (one-vs-rest, :func:`ww_bayes.kinds.observations.logit_estimates`),
    for the component's arms (:func:`ww_bayes.kinds.pooling.contrast_arms`); a category nobody is in at a
    month adds no series. The multinomial logit's deviations are on another scale than these one-vs-rest
    logits (close where a category's share is small): the rule is a guide to the geometry, not an estimate."""
    chosen: dict[str, dict[str, Parametrization]] = {}
    for outcome in OUTCOMES:
        own = list(categories.of(outcome))
        rows = cells[cells["outcome"] == outcome]
        rows = rows.assign(persons=rows[own].sum(axis=1))
        for component in COMPONENTS:
            prior_sd = spec.baseline.group_sd if component == "baseline" else spec.priors[component].group_sd
            arms = contrast_arms(component, ARM_SERVICE)
            for factor in spec.groups:
                if spec.pooling[component][factor] != "partial":
                    continue
                series = [
                    level_estimates(logit_estimates(rows[rows["month"] == month], ["arm", factor], category,
                                                    "persons"), factor, levels[factor], arms)
                    for month in spec.months
                    for category in own
                    if category not in categories.empty[(outcome, month)]
                ]  # fmt: skip
                estimates = np.array([e for e, _ in series]) if series else None
                variances = np.array([v for _, v in series]) if series else None
                choice = choose_parametrization(estimates, variances, prior_sd, spec.asked(component, factor),
                                                spec.centred_below,
                                                weak_form_of(spec.weak_data_form, component))  # fmt: skip
                chosen.setdefault(f"{outcome}_{component}", {})[factor] = choice
    return chosen


def baseline_prior_logits(spec: DestinationsSpec, data: ModelData, outcome: str) -> np.ndarray:
    """The baseline's prior mean logits (month, category): the log of each category's stated share (summed
    over the candidates merged into it), centred over the month's categories."""
    table = data.constants["state_of"] if outcome == STATE else data.constants["first_exit_of"]
    categories = data.levels[MODEL_DIMS[outcome]]
    candidates = candidate_states(spec.split_by_work) if outcome == STATE else candidate_exits(spec.wia_35min)
    members = _members_from_table(outcome, table, candidates, spec)
    out = np.zeros((len(spec.months), len(categories)))
    for j, month in enumerate(spec.months):
        shares = spec.baseline.shares[outcome][month]
        logits = np.log([sum(shares[c] for c in members[k]) for k in categories])
        out[j] = logits - logits.mean()
    return out


def _members_from_table(outcome: str, table: xr.DataArray, candidates: list[str], spec: DestinationsSpec):
    """Category -> the candidate labels counted in it, read from a stored table (state_of, first_exit_of)."""
    members: dict[str, list[str]] = {}
    if outcome == STATE:
        for b in BENEFIT_STATUSES:
            for w, work in enumerate(WORK_STATES):
                category = str(table.sel(benefit=b, work=work).item())
                label = state_label(b, w, spec.split_by_work)
                if category and label not in members.setdefault(category, []):
                    members[category].append(label)
    else:
        for e in WW_EXIT_DESTINATIONS:
            for f in (0, 1):
                category = str(table.sel({"exit_to": e, WIA_35MIN: f}).item())
                label = exit_label(e, f, spec.wia_35min)
                if category and label not in members.setdefault(category, []):
                    members[category].append(label)
        members.setdefault(STILL_ON_WW, [STILL_ON_WW])
    return {k: [c for c in candidates if c in v] for k, v in members.items()}


def helmert(n: int) -> np.ndarray:
    """An orthonormal basis (n, n - 1) of the vectors of length n that sum to zero (Helmert's, by scipy)."""
    return scipy.linalg.helmert(n).T


def live_basis(empty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per month, an orthonormal basis of the vectors over the categories that are zero at the month's empty
    categories and sum to zero over its live ones: (month, category, K - 1), its unused columns zero; and
    which columns are used (month, K - 1). ``empty``: (month, category) of 0/1."""
    n_months, k = empty.shape
    basis, used = np.zeros((n_months, k, k - 1)), np.zeros((n_months, k - 1), dtype=bool)
    for j in range(n_months):
        live = np.flatnonzero(empty[j] == 0)
        basis[j][np.ix_(live, range(len(live) - 1))] = helmert(len(live))
        used[j, : len(live) - 1] = True
    return basis, used


def _zero_sum(name: str, sd, dims: tuple[str, ...], live: tuple[np.ndarray, np.ndarray] | None,
              level_dim: str | None = None, n_levels: int = 0) -> pt.TensorVariable:  # fmt: skip
    """A zero-sum normal vector over the categories (the last dim) per month, with sd ``sd``, and over a
    factor's levels when ``level_dim`` is given (dims (month, level, category)). ``live`` None: PyMC's
    ZeroSumNormal. Otherwise (:func:`live_basis`) the vector in the basis of the month's live categories
    (and Helmert's over the levels): its coefficients are Normal(0, sd) where used and Normal(0, 1) where
    not (a coefficient no value depends on, kept apart from ``sd`` so it makes no funnel)."""
    if live is None:
        return pm.ZeroSumNormal(name, sigma=sd, dims=dims, n_zerosum_axes=2 if level_dim else 1)
    basis, used = live
    n_months, k = basis.shape[0], basis.shape[1]
    shape = (n_months, n_levels - 1, k - 1) if level_dim else (n_months, k - 1)
    mask = used[:, None, :] if level_dim else used
    scale = pt.where(np.broadcast_to(mask, shape), sd, 1.0)
    coefficients = pm.Normal(f"{name}_basis", 0.0, scale, shape=shape)
    if level_dim:
        by_level = pt.tensordot(coefficients, helmert(n_levels), axes=[[1], [1]])  # (month, k - 1, level)
        values = pt.matmul(by_level.dimshuffle(0, 2, 1), basis.transpose(0, 2, 1))  # (month, level, k)
    else:
        values = (basis * coefficients[:, None, :]).sum(axis=-1)
    return pm.Deterministic(name, values, dims=dims)


def _deviation(name: str, dims: tuple[str, ...], pooling: str, group_sd: float, unpooled_sd: float,
               form: str, live: tuple[np.ndarray, np.ndarray] | None = None,
               n_levels: int = 0) -> pt.TensorVariable | None:  # fmt: skip
    """Zero-sum deviations over the last two dims (a factor's levels, the categories) per month (``live``:
    the basis of the months' live categories, :func:`live_basis`, or None). Partially pooled ones in
    ``form`` (:data:`ww_bayes.kinds.pooling.CENTRING` ``c``): ``dev = sd^(1 - c) * z`` with ``z`` zero-sum
    normal of sd ``sd^c``; centred, ``dev`` itself is the free variable."""
    if pooling == "full":
        return None
    level_dim = dims[1]
    if pooling == "none":
        return _zero_sum(f"{name}_dev", unpooled_sd, dims, live, level_dim, n_levels)
    sd = pm.HalfNormal(f"{name}_sd", group_sd)
    centring = CENTRING[form]
    if centring == 1.0:
        return _zero_sum(f"{name}_dev", sd, dims, live, level_dim, n_levels)
    z = _zero_sum(f"{name}_z", sd**centring if centring else 1.0, dims, live, level_dim, n_levels)
    return pm.Deterministic(f"{name}_dev", (sd ** (1.0 - centring) if centring else sd) * z, dims=dims)


def outcome_live_basis(data: ModelData, outcome: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The basis of the live categories per month (:func:`live_basis`) of an outcome with a category empty
    in some month, else None."""
    own = data.constants[CATEGORY_OUTCOME].to_numpy() == outcome
    empty = data.constants["category_empty"].to_numpy()[:, own]
    return live_basis(empty) if empty.any() else None


def _component(spec: DestinationsSpec, data: ModelData, outcome: str, component: str) -> pt.TensorVariable:
    """One component's logits on the grid (*groups, month, category) of one outcome."""
    groups = list(spec.groups)
    dim = MODEL_DIMS[outcome]
    prefix = f"{outcome}_{component}"
    live = outcome_live_basis(data, outcome)
    if component == "baseline":
        z = _zero_sum(f"{prefix}_z", spec.baseline.sigma, ("month", dim), live)
        prior_mean = baseline_prior_logits(spec, data, outcome)
        mean = pm.Deterministic(f"{prefix}", prior_mean + z, dims=("month", dim))
        group_sd, unpooled_sd = spec.baseline.group_sd, spec.baseline.unpooled_sd
    else:
        prior = spec.priors[component]
        mean = _zero_sum(f"{prefix}_mean", prior.sigma, ("month", dim), live)
        group_sd, unpooled_sd = prior.group_sd, prior.unpooled_sd
    n_months, n_categories = len(spec.months), len(data.levels[dim])
    grid = mean.reshape([*([1] * len(groups)), n_months, n_categories])
    for axis, factor in enumerate(groups):
        chosen = data.parametrization.get(prefix, {}).get(factor)
        form = chosen.form if chosen is not None else RECORDED_BEFORE[component]
        dev = _deviation(f"{prefix}_{factor}", ("month", factor, dim), spec.pooling[component][factor],
                         group_sd, unpooled_sd, form, live=live,
                         n_levels=len(data.levels[factor]))  # fmt: skip
        if dev is None:
            continue
        pm.Deterministic(f"{prefix}_by_{factor}", mean[:, None, :] + dev, dims=("month", factor, dim))
        shape = [1] * len(groups)
        shape[axis] = len(data.levels[factor])
        grid = grid + dev.dimshuffle(1, 0, 2).reshape([*shape, n_months, n_categories])
    return grid


def build_model(spec: DestinationsSpec, data: ModelData, for_sampling: bool = False) -> pm.Model:
    """The PyMC model: per outcome, the category logits of every arm on the grid (arm, *groups, month,
    category), with probability 0 for the categories empty in a month; each cell picks its row, and the other
    outcome's categories get probability 0 too. ``for_sampling``: the counts laid out on the grid instead
    (:meth:`~ww_bayes.kinds.observations.OutcomeCategoryCounts.grid_likelihood`; the same log-probability)."""
    groups = list(spec.groups)
    coords = {"arm": list(ARMS), **{f: data.levels[f] for f in groups}, "month": data.levels["month"],
              **{MODEL_DIMS[o]: data.levels[MODEL_DIMS[o]] for o in OUTCOMES},
              "category": list(data.observation.categories), "cell": np.arange(data.n_cells)}  # fmt: skip
    empty = data.constants["category_empty"].to_numpy()
    category_outcome = data.constants[CATEGORY_OUTCOME].to_numpy()
    axes = {"arm": list(ARMS), **{f: data.levels[f] for f in groups}, "month": data.levels["month"]}
    with pm.Model(coords=coords, check_bounds=False) as model:
        empty_data = pm.Data("category_empty", empty.astype("float64"), dims=("month", "category"))
        grids = []
        for outcome in OUTCOMES:
            dim = MODEL_DIMS[outcome]
            own = np.flatnonzero(category_outcome == outcome)
            components = {c: _component(spec, data, outcome, c) for c in COMPONENTS}
            eta = pt.stack([arm_logit(ARM_SERVICE, arm, components) for arm in ARMS])
            eta = eta - MASKED_LOGIT * empty_data[:, own[0] : own[-1] + 1]
            grid_dims = ("arm", *groups, "month", dim)
            if for_sampling:  # the same log-probability as the cells' below, without picking their rows
                data.observation.grid_likelihood(outcome, data.cells, axes, eta, grid_dims)
                continue
            share = pt.special.softmax(eta, axis=-1).astype("float32")
            pm.Deterministic(f"{outcome}_share", share, dims=grid_dims)
            grids.append(eta)
        if for_sampling:
            return model
        eta = pt.concatenate(grids, axis=-1)  # (arm, *groups, month, category)
        index = cell_index(data.cells, axes)
        other_outcome = (data.cells["outcome"].to_numpy()[:, None] != category_outcome[None, :]).astype(float)
        outside = pm.Data("category_outside", other_outcome, dims=("cell", "category"))
        data.observation.likelihood(data.cells, {"eta": eta[index] - MASKED_LOGIT * outside}, False)
    return model


# --- estimands ------------------------------------------------------------------------------------------

#: The variables of the derived ``destinations`` group, with their roles (:class:`ww_bayes.derived.Variable`).
VARIABLES = {
    "share_pp": Variable("estimand", signed=True, units="percentage points (pp) of all claimants"),
    "ww_source_pp": Variable(
        "estimand",
        signed=True,
        units="pp of all claimants: the effect on the WW share (with and without work)",
    ),  # fmt: skip
    "ww_destination_part": Variable(
        "ratio", units="part of the WW effect each other state takes up (-share_pp / ww_source_pp)"
    ),  # fmt: skip
    "first_exit_pp": Variable(
        "estimand",
        signed=True,
        units="pp of all claimants: cumulative incidence of the first exit from WW by the month",
    ),  # fmt: skip
    "effect_pp_identified": Variable(
        "partial_estimand", units="pp of all claimants: share_pp over cells with persons in both arms"
    ),  # fmt: skip
    **probability_variables(of="share_pp"),
    "pooling_only": Variable("flag"),
    "pooling_only_share": Variable("share"),
}
#: The levels that hold ``ww_destination_part``: overall and per Werkverkenner class (the table and figure
#: of the decomposition). By region it is a ratio of two small effects, and -share_pp / ww_source_pp of the
#: region's draws gives it: not stored (a fit file 5 MB smaller).
DECOMPOSED_LEVELS = (OVERALL, "werkverkenner")
#: The derived variables' dims besides the sample dims and the grouping factors.
DERIVED_DIMS = ("contrast", "month", "state", "first_exit")


def ww_states(states) -> list[str]:
    """The states that are WW (with or without work)."""
    return [s for s in states if s == BENEFIT_WW or s.startswith(f"{BENEFIT_WW}_")]


def incidence(exit_share: xr.DataArray) -> xr.DataArray:
    """The reported first-exit incidences (dim ``first_exit``: :data:`INCIDENCES` the fit has) from the
    modelled shares of the first-exit categories (dim ``exit_category``): ``to_zw_wia`` sums the 35-min
    split."""
    categories = [str(c) for c in exit_share["exit_category"].values]
    parts = {}
    sickness = [c for c in (TO_SICKNESS, TO_SICKNESS_35MIN, TO_SICKNESS_NOT_35MIN) if c in categories]
    if sickness:
        parts[TO_SICKNESS] = exit_share.sel(exit_category=sickness).sum("exit_category")
    if TO_SICKNESS_35MIN in categories:
        parts[TO_SICKNESS_35MIN] = exit_share.sel(exit_category=TO_SICKNESS_35MIN, drop=True)
    if TO_OTHER in categories:
        parts[TO_OTHER] = exit_share.sel(exit_category=TO_OTHER, drop=True)
    return xr.concat(list(parts.values()), dim=pd.Index(list(parts), name="first_exit"))


def state_signs(good_direction: str | dict[str, str], states: list[str]) -> xr.DataArray:
    """The good direction of each state as a sign (+1 more is good, -1 less, 0 neither) over dim ``state``:
    one direction for every state, or a table per state (a state it does not name has none; a merged
    ``other`` state takes its own entry or none)."""
    if isinstance(good_direction, dict):
        return direction_sign(good_direction, states, dim="state")
    return xr.DataArray([SIGNS[good_direction]] * len(states), dims="state", coords={"state": states})


def posterior_destinations(
    state_share: xr.DataArray,
    exit_share: xr.DataArray,
    weights: xr.DataArray,
    smallest_effect_pp: float,
    persons: xr.DataArray | None = None,
    good_direction: str = "none",
) -> xr.DataTree:
    """The ``destinations`` group from the cell shares (chain, draw, arm, *factors, month, state) and
    (… , exit_category): per level (:func:`ww_bayes.estimands.share_effects_pp`) the share effects, the WW
    effect's decomposition (:func:`ww_bayes.estimands.decompose_effect`) and the first-exit incidence
    effects, in pp; with ``persons``, the sparseness flags."""
    state_share = state_share.assign_coords(month=state_share["month"].astype(int))
    exit_share = exit_share.assign_coords(month=exit_share["month"].astype(int))
    kept = (OVERALL, *weights.dims)
    shares = share_effects_pp(state_share, weights, levels=kept)
    exits = share_effects_pp(incidence(exit_share), weights, levels=kept)
    sign = state_signs(good_direction, [str(v) for v in state_share["state"].values])
    source = {"state": ww_states(state_share["state"].values)}
    levels = {}
    for level in kept:
        share_pp = shares[level].transpose(*SAMPLE_DIMS, ...)
        decomposition = decompose_effect(share_pp, source, ("state",))
        parts = (
            {"ww_destination_part": decomposition["destination_part"].transpose(*SAMPLE_DIMS, ...)}
            if level in DECOMPOSED_LEVELS
            else {}
        )
        levels[level] = xr.Dataset(
            {
                "share_pp": share_pp,
                "ww_source_pp": decomposition["source_pp"].transpose(*SAMPLE_DIMS, ...),
                **parts,
                "first_exit_pp": exits[level].transpose(*SAMPLE_DIMS, ...),
                **effect_probabilities(share_pp, smallest_effect_pp, sign),
            }
        )
    if persons is not None:
        for level, flags in sparseness_flags(state_share, weights, persons).items():
            levels[level] = levels[level].merge(flags) if level in levels else flags
    attrs = {
        "effect_units": "percentage points (pp) of all claimants, probability scale",
        "weights": "cohort composition: persons per group cell, all arms",
        "smallest_effect_pp": smallest_effect_pp,
        "good_direction": json.dumps(good_direction),
    }
    return derived_tree(levels, attrs)


def destinations_summary(
    derived: xr.DataTree, interval_kind: str = "eti", interval_prob: float = 0.9
) -> pd.DataFrame:
    """One row per estimand, contrast, level, group, month and state or first-exit category (``""`` where
    the estimand has none), with arviz_stats' statistics and the probabilities."""
    table = summary_table(derived, VARIABLES, interval_kind, interval_prob)
    for column in ("state", "first_exit"):
        table[column] = table[column].fillna("").astype(str) if column in table else ""
    table["month"] = table["month"].astype(int)
    keys = list(KEY_COLUMNS)
    return table[keys + [c for c in table.columns if c not in keys]]


#: The columns that identify a summary row (the truth and the frequentist tables have the same ones).
KEY_COLUMNS = ("estimand", "contrast", "level", "group", "month", "state", "first_exit")


def truth_table(tree: xr.DataTree, truth: xr.DataTree, kind_name: str) -> pd.DataFrame:
    """The simulator's realised truth (pp) of ``share_pp``, ``ww_source_pp`` and ``first_exit_pp`` in the
    summary's long shape (column ``truth``), for the fit's months, states (the benefit x work shares summed
    as the fit's states are), first-exit categories and the levels both have."""
    constant = tree["constant_data"].ds
    state_of = constant["state_of"]
    months = [int(m) for m in tree[f"{kind_name}/{OVERALL}"].ds["month"].values]
    states = [str(s) for s in tree[f"{kind_name}/{OVERALL}"].ds["state"].values]
    exits = [str(s) for s in tree[f"{kind_name}/{OVERALL}"].ds["first_exit"].values]
    known = truth["states/effects"].children
    frames = []
    for level in [lv for lv in levels_of(tree[kind_name]) if lv in known]:
        ds = truth[f"states/effects/{level}"].ds.sel(month=months)
        share = xr.concat(
            [ds["share_pp"].where(state_of == s).sum(["benefit", "work"]) for s in states],
            dim=pd.Index(states, name="state"),
        )
        source = ds["ww_source_pp"]
        first = ds["first_exit_pp"]
        sickness = first.sel(exit_to=list(SICKNESS_BENEFITS))
        flows = {
            TO_SICKNESS: sickness.sum(["exit_to", WIA_35MIN]),
            TO_SICKNESS_35MIN: sickness.sel({WIA_35MIN: 1}).sum("exit_to"),
            TO_OTHER: first.sel(exit_to=[e for e in WW_EXIT_DESTINATIONS if e not in SICKNESS_BENEFITS]).sum(
                ["exit_to", WIA_35MIN]
            ),
        }
        exit_truth = xr.concat([flows[e] for e in exits], dim=pd.Index(exits, name="first_exit"))
        for name, values in (("share_pp", share), ("ww_source_pp", source), ("first_exit_pp", exit_truth)):
            frame = values.rename("truth").to_dataframe().reset_index()
            frame["group"] = frame[level].astype(str) if level != OVERALL else "all"
            frame = frame.drop(columns=[level] if level != OVERALL else [])
            frames.append(frame.assign(estimand=name, level=level_label(level)))
    table = pd.concat(frames, ignore_index=True)
    for column in ("state", "first_exit"):
        table[column] = table[column].fillna("").astype(str) if column in table else ""
    table["month"] = table["month"].astype(int)
    return table[[*KEY_COLUMNS, "truth"]]


# --- what analysts see ------------------------------------------------------------------------------------

#: The contrast the report's tables lead with: the extra investment in personal service.
MAIN_CONTRAST = "service_vs_control_enforcement"
#: How the tables name the estimands' columns.
WW_COLUMN = "WW (all)"
FIRST_EXIT_COLUMN = "first exit to ZW/WIA"


def _cell(row, label: str) -> str:
    return f"{row['mean']:+.2f} [{row[f'{label}_lb']:+.2f}, {row[f'{label}_ub']:+.2f}]"


def effects_by_state(summary: pd.DataFrame, contrast: str, month: int, label: str,
                     levels: tuple[str, ...] = (OVERALL, "by_werkverkenner")) -> pd.DataFrame:  # fmt: skip
    """One row per group of ``levels`` (overall, each class): the WW effect, the effect on each state's share
    and on the first-exit incidences, in pp as ``mean [lb, ub]`` text, and P(higher share in ZW)."""
    rows = summary[(summary["contrast"] == contrast) & (summary["month"] == month)
                   & summary["level"].isin(levels)]  # fmt: skip
    out = []
    for (level, group), part in rows.groupby(["level", "group"], sort=False):
        record = {"level": level, "group": group}
        source = part[part["estimand"] == "ww_source_pp"]
        if len(source):
            record[WW_COLUMN] = _cell(source.iloc[0], label)
        for row in part[part["estimand"] == "share_pp"].to_dict("records"):
            record[row["state"]] = _cell(row, label)
            if row["state"] == "zw":
                record["P(higher ZW)"] = f"{row['prob_positive']:.2f}"
        for row in part[part["estimand"] == "first_exit_pp"].to_dict("records"):
            name = (
                FIRST_EXIT_COLUMN if row["first_exit"] == TO_SICKNESS else f"first exit {row['first_exit']}"
            )
            record[name] = _cell(row, label)
        out.append(record)
    return pd.DataFrame(out)


def screen_lines(summary: pd.DataFrame, label: str) -> list[str]:
    """The overall effects per contrast and month, and the main contrast by class, as text."""
    lines = []
    for month in sorted(summary["month"].unique()):
        for contrast in dict.fromkeys(summary["contrast"]):
            table = effects_by_state(summary, contrast, month, label, (OVERALL,))
            lines.append(f"\nmonth {month}, {contrast}, overall (pp of all claimants):")
            lines += [f"  {name:<24} {value}" for name, value in table.iloc[0].items()
                      if name not in ("level", "group")]  # fmt: skip
        by_class = effects_by_state(summary, MAIN_CONTRAST, month, label, ("by_werkverkenner",))
        if len(by_class):
            lines.append(f"\nmonth {month}, {MAIN_CONTRAST}, by Werkverkenner class:")
            lines.append(by_class.drop(columns="level").to_string(index=False))
    return lines


class DestinationsKind(ModelKind):
    """Where claimants are at chosen months and where their first exit from WW went: the
    ``destinations`` group."""

    name = "destinations"
    observation = OutcomeCategoryCounts(
        {STATE: tuple(candidate_states((BENEFIT_WW, "none"))), FIRST_EXIT: tuple(candidate_exits(False))}
    )
    #: the cells' counts are Multinomial ("binomial", the default of ``fit``, asks for cells too)
    likelihoods = ("multinomial", "binomial")
    missing_unit = "person-months"
    missing_attr = "n_person_months_outcome_missing"
    derived_variables = VARIABLES
    derived_dims = DERIVED_DIMS
    frequentist = "destinations_lpm"
    has_truth = True
    offers_benefit_shares = True
    report_section = ("destinations", "Where do claimants go?")
    key_columns = KEY_COLUMNS
    direction_dim = "state"
    calibration_estimands = ("share_pp", "first_exit_pp")
    not_checked = (f"{STATE}_share", f"{FIRST_EXIT}_share")
    cell_deterministics = (f"{STATE}_share", f"{FIRST_EXIT}_share")
    spec_keys = COMMON_KEYS | {"months", "states", "parametrization"}
    required_keys = ("name", "months", "groups", "smallest_effect_pp", "pooling", "priors")

    def parse(self, raw, text, source, common):
        return parse(raw, text, source, common)

    def required_columns(self, spec):
        return required_columns(spec)

    def observation_of(self, tree):
        return OutcomeCategoryCounts.of_outcomes(tree["constant_data"].ds[CATEGORY_OUTCOME])

    def prepare(self, spec, cohort, likelihood="multinomial"):
        if likelihood not in self.likelihoods:
            raise ValueError("destinations models are fit on Multinomial cells only")
        return prepare_data(spec, cohort)

    def build(self, spec, data, for_sampling=False):
        return build_model(spec, data, for_sampling)

    def describe_priors(self, spec, data=None):
        return spec.describe_priors(data.parametrization if data is not None else None)

    def derive(self, spec, data, posterior):
        return posterior_destinations(
            posterior[f"{STATE}_share"], posterior[f"{FIRST_EXIT}_share"], data.weights,
            spec.smallest_effect_pp, data.arm_persons(), spec.good_direction,
        )  # fmt: skip

    def effect_parameters(self, posterior):
        return [
            name
            for name in posterior.data_vars
            if any(name.startswith(f"{o}_{c}") for o in OUTCOMES for c in EFFECT_COMPONENTS)
            and ("_mean" in name or "_by_" in name)
        ]

    def sampler_model(self, spec, data, compiled):
        """The log-density written as one numba function (:mod:`ww_bayes.kinds.destinations_density`:
        the same numbers, about 2.5 times faster with its gradient) where it describes the model, else
        PyTensor's."""
        from ww_bayes.kinds.destinations_density import fused_sampler

        return fused_sampler(spec, data, compiled) or compiled

    def recomputable_draws(self, draws):
        """Each level's value (``_by_``: mean plus deviation) and the deviations written as a scaled
        ``_z`` (``_dev`` beside its ``_z``): deterministic, about a third of a destinations file."""
        names = [str(name) for name in draws.data_vars]
        return [name for name in names
                if "_by_" in name or (name.endswith("_dev") and f"{name[:-4]}_z" in names)]  # fmt: skip

    def summary(self, derived, interval_kind, interval_prob):
        return destinations_summary(derived, interval_kind, interval_prob)

    def truth(self, tree, truth):
        return truth_table(tree, truth, self.name)

    def screen_text(self, tree, summary, coverage):
        kind, prob = interval_of(tree.attrs)
        label = interval_label(kind, prob)
        lines = [
            f"{tree.attrs['model_name']}: effects in percentage points of all claimants (posterior mean "
            f"[{interval_text(kind, prob)}]); {WW_COLUMN} = the effect on WW receipt, which the states' "
            "effects make up (they sum to minus it)",
            *screen_lines(summary, label),
        ]
        if coverage is not None:
            overall = coverage[coverage["level"] == OVERALL]
            lines.append(f"\nthe simulator's truth inside the {label} interval: "
                         f"{overall['covered'].mean():.0%} "
                         f"of {len(overall)} overall effects, {coverage['covered'].mean():.0%} of "
                         f"{len(coverage)} at every level")  # fmt: skip
        return "\n".join(lines)

    def report_blocks(self, name, tree, summary, words) -> list[Block]:
        kind, prob = interval_of(tree.attrs)
        label = interval_label(kind, prob)
        interval = words.interval(kind, prob)

        def readable(table: pd.DataFrame) -> pd.DataFrame:
            """Column names and groups in the reader's words (the code names stay in the CSV)."""
            table = table.assign(group=[words(g) for g in table["group"]]).drop(columns="level")
            return table.rename(columns={c: words(c) for c in table.columns})

        blocks: list[Block] = [
            Heading(f"`{tree.attrs.get('model_name', name)}`"),
            Paragraph(words.say(
                f"Effects of {words(MAIN_CONTRAST)} in percentage points of all claimants: posterior mean "
                f"[{interval}]. '{WW_COLUMN}' is the effect on WW receipt, with and without work; the other "
                "columns say where that change went: together they are minus the WW effect (an accounting "
                "identity, not an estimate). 'P(higher ZW)' is the probability that the service raises the "
                f"share in sickness benefit at the month (a share, not a flow). '{FIRST_EXIT_COLUMN}' is "
                "the effect on the share of claimants whose first month off WW, by that month, was in ZW "
                "or WIA (a flow).",
                f"Effecten van {words(MAIN_CONTRAST)} in procentpunten van alle WW-gerechtigden: "
                f"posteriorgemiddelde [{interval}]. '{WW_COLUMN}' is het effect op WW-ontvangst, met en "
                "zonder werk; de andere kolommen zeggen waar die verandering heen ging: samen zijn ze min "
                "het WW-effect (een boekhoudkundige identiteit, geen schatting). 'P(higher ZW)' is de kans "
                "dat de dienstverlening het aandeel in de Ziektewet in die maand verhoogt (een aandeel, geen "
                f"stroom). '{FIRST_EXIT_COLUMN}' is het effect op het aandeel WW-gerechtigden van wie de "
                "eerste maand buiten de WW, tot die maand, in de ZW of WIA was (een stroom).",
            )),
        ]  # fmt: skip
        if "wia" not in set(summary["state"]):
            months = ", ".join(str(m) for m in sorted(summary["month"].unique()))
            blocks.append(Paragraph(words.say(
                f"No column for WIA: nobody in the data is in WIA at month {months} (WIA can start only "
                "after 104 weeks of sickness, so it appears from about month 25); exits to ZW that lead to "
                "WIA later are in the ZW/WIA columns.",
                f"Geen kolom voor de WIA: niemand in de gegevens heeft een WIA-uitkering in maand {months} "
                "(de WIA begint pas na 104 weken ziekte, dus vanaf ongeveer maand 25); uitstroom naar de ZW "
                "die later tot WIA leidt, staat in de ZW/WIA-kolommen.",
            )))  # fmt: skip
        for month in sorted(summary["month"].unique()):
            blocks += [
                Heading(words.say(f"Month {month}: where the WW effect went, by Werkverkenner class",
                                  f"Maand {month}: waar het WW-effect heen ging, naar Werkverkenner-klasse")),
                Table(readable(effects_by_state(summary, MAIN_CONTRAST, month, label))),
                Plot(
                    "destinations",
                    summary,
                    words.say(f"Effects on each state's share at month {month}, by class, posterior mean "
                              f"and {interval}",
                              f"Effecten op het aandeel in elke situatie in maand {month}, naar klasse, "
                              f"posteriorgemiddelde en {interval}"),
                    {"interval_label": label, "contrast": MAIN_CONTRAST, "month": int(month),
                     "origin": tree.attrs.get("synthetic_data")},
                ),
            ]  # fmt: skip
            for contrast in dict.fromkeys(summary["contrast"]):
                if contrast != MAIN_CONTRAST:
                    table = readable(effects_by_state(summary, contrast, month, label))
                    title = words.say(
                        f"Month {month}: {words(contrast)}", f"Maand {month}: {words(contrast)}"
                    )
                    blocks.append(Table(table, collapsed=title))
        regions = summary[summary["level"] == "by_region"]
        if len(regions):
            columns = ["estimand", "contrast", "group", "month", "state", "first_exit", "mean",
                       f"{label}_lb", f"{label}_ub"]  # fmt: skip
            title = words.say(
                f"Effects by region ({len(regions)} rows)", f"Effecten naar regio ({len(regions)} rijen)"
            )
            blocks.append(Table(regions[columns], collapsed=title))
        return blocks

    #: Categories a release merges before it merges regions (or classes), in this order, where a member
    #: breaks the rule in some group: the sickness benefits together, bijstand with no benefit without work
    #: (both: not working, no WW), and the 35-min split of the exits to ZW or WIA back into one.
    release_merges = (
        (("zw", "wia"), "zw_wia"),
        (("bijstand", "none_not_working"), "bijstand_or_none_not_working"),
        ((TO_SICKNESS_35MIN, TO_SICKNESS_NOT_35MIN), TO_SICKNESS),
    )

    def merge_categories(self, ds, merges):
        """States: ``share_pp`` and ``ww_destination_part`` (both add up over states) summed over the members,
        the probabilities computed again by the release; the 35-min split: ``to_zw_wia_35min`` left out
        (``to_zw_wia`` already holds both parts)."""
        for members, name in merges:
            if name == TO_SICKNESS:
                if "first_exit" in ds.dims:
                    ds = ds.drop_sel(first_exit=[TO_SICKNESS_35MIN], errors="ignore")
                continue
            present = [m for m in members if m in ds["state"].values]
            merged = {}
            for variable, values in ds.data_vars.items():
                if "state" in values.dims:
                    part = values.sel(state=present)
                    total = part.any("state") if values.dtype == bool else part.sum("state")
                    total = total.astype(values.dtype).expand_dims(state=[name]).transpose(*values.dims)
                    merged[variable] = xr.concat([values.drop_sel(state=present), total], dim="state")
            ds = ds.drop_vars(list(merged)).drop_dims("state", errors="ignore").assign(merged)
        return ds

    def calibration_quantities(self, spec):
        names = []
        for outcome in OUTCOMES:
            names += [f"{outcome}_baseline", *(f"{outcome}_{c}_mean" for c in EFFECT_COMPONENTS)]
            for component in COMPONENTS:
                for factor in spec.groups:
                    if spec.pooling[component][factor] == "partial":
                        names.append(f"{outcome}_{component}_{factor}_sd")
        return names

    def benefit_effects(self, tree, contrast):
        if "werkverkenner" not in fit_weights(tree).dims:
            raise SpecError("the cost-effectiveness needs benefit shares by Werkverkenner class: a fit "
                            "grouped by werkverkenner")  # fmt: skip
        levels = levels_of(tree[self.name])
        benefits = [*BENEFIT_STATUSES, OTHER_STATE]
        effects = {}
        for level in (OVERALL, "werkverkenner"):
            share = levels[level]["share_pp"].sel(contrast=contrast, drop=True)
            of = xr.DataArray([benefit_of_state(str(s)) for s in share["state"].values], dims="state")
            summed = share.groupby(of.rename("benefit")).sum("state")
            summed = summed.reindex(benefit=benefits, fill_value=0.0)  # a benefit nobody is in: exactly 0
            if OTHER_STATE not in share["state"].values:
                summed = summed.drop_sel(benefit=OTHER_STATE)
            effects[level_label(level)] = summed.transpose(*SAMPLE_DIMS, ..., "benefit", "month")
        notes = json.loads(tree.attrs.get("data_notes", "[]"))
        merged = "; ".join(n for n in notes if f"into {OTHER_STATE!r}" in n)
        state_of = tree["constant_data"].ds["state_of"]
        in_other = (state_of == OTHER_STATE).any("work")
        members = tuple(str(b) for b in state_of["benefit"].values[in_other.values])
        return BenefitEffects(xr.Dataset(effects), class_weights(tree), merged, members)


KIND = DestinationsKind()


def person_categories(spec: DestinationsSpec, df: pd.DataFrame, constant: xr.Dataset) -> dict:
    """Each person's category of each outcome and month, as a fit counted them: (outcome, month) -> array
    of labels (None where the person is not in that month's cells). ``constant``: the fit's constant data
    (its ``state_of`` and ``first_exit_of`` tables say how the candidates were merged)."""
    paths = person_paths(df, spec.months, spec.wia_35min)
    out = {}
    for outcome in OUTCOMES:
        candidates = (
            candidate_states(spec.split_by_work) if outcome == STATE else candidate_exits(spec.wia_35min)
        )
        table = constant["state_of"] if outcome == STATE else constant["first_exit_of"]
        members = _members_from_table(outcome, table, candidates, spec)
        into = {c: category for category, labels in members.items() for c in labels}
        for month in spec.months:
            labels = candidate_labels(paths, outcome, month, spec.split_by_work, spec.wia_35min)
            out[(outcome, month)] = np.array([into.get(v) if v is not None else None for v in labels],
                                             dtype=object)  # fmt: skip
    return out
