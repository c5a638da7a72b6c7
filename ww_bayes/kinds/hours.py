"""The hours kind (``kind = "hours"``): hours worked in the 12 months after inflow (``hours_y1``), a hurdle on
arm x group cells.

Many claimants work no hour in the first year and the others work from a few hours to full time, so the
model has two parts, each with the structure of the effects kind (on its own link scale, anchored on the
service arm, every component a mean plus zero-sum deviations per grouping factor, partially pooled,
unpooled or absent as the spec says):

    logit P(any hours)        [arm, g] = any_hours components (baseline, service, enforcement)
    log location of the hours [arm, g] = hours components (baseline, service, enforcement)
    log dispersion of the hours    [g] = dispersion mean + a partially pooled deviation per factor of
                                         ``dispersion_by``

A partially pooled factor's deviations are centred or non-centred as the spec asks, or, for "auto", as
each part's data call for (:func:`ww_bayes.kinds.pooling.choose_parametrization` on the part's estimate
per level: :meth:`ww_bayes.kinds.observations.HurdleStatistics.part_estimates`); the dispersion's are
centred (every class has thousands of persons with hours).

The positive hours follow the spec's ``family`` (:data:`ww_bayes.kinds.observations.POSITIVE_FAMILIES`):
``normal`` (location = the mean hours of those with any, dispersion = their sd in hours; sufficient
statistics n, sum h, sum h^2), ``gamma`` (location = the mean, dispersion = the gamma shape; n, sum h,
sum log h) or ``lognormal`` (location = mean log hours, dispersion = sd of log hours; n, sum log h,
sum (log h)^2, with the Jacobian -sum log h). The observation is
:class:`ww_bayes.kinds.observations.HurdleStatistics`: each cell's log-likelihood is the sum of its persons'
log-densities on the hours scale, exactly.

The derived ``hours`` group has a level per factor (:mod:`ww_bayes.derived`), built with the estimand code
the simulator's truth is built with (:func:`ww_bayes.estimands.hours_effects`), for each contrast:

- ``mean_hours``: the effect on mean hours per claimant in months 1-12, zeros included (hours): the causal
  estimand, with P(more hours) and the other probabilities of
  :data:`ww_bayes.derived.EFFECT_PROBABILITIES` at ``smallest_effect_hours``;
- ``any_hours_pp``: the effect on P(any hours) (pp), a part;
- ``hours_given_any``: the difference in mean hours of those with any: descriptive, a part that compares
  different people (those the service brought into work are among them);
- ``mean_hours_from_any`` and ``mean_hours_from_given_any``: the two parts of ``mean_hours``, which sum to it;
- the sparseness flags ``pooling_only`` and ``pooling_only_share``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from scipy.special import expit, logsumexp

from ww_bayes.data import published
from ww_bayes.data.cells import person_counts
from ww_bayes.data.schema import ARMS, HOURS_Y1
from ww_bayes.derived import (
    CELLS,
    OVERALL,
    Variable,
    derived_tree,
    direction_sign,
    effect_probabilities,
    level_label,
    levels_of,
    probability_variables,
)
from ww_bayes.estimands import hours_effects, pooling_only, pooling_only_share
from ww_bayes.kinds.common import (
    COMMON_KEYS,
    COMPONENTS,
    SpecCommon,
    mean_table,
    parse_parametrization,
    parse_pooling,
    pooling_of,
)
from ww_bayes.kinds.observations import (
    POSITIVE_FAMILIES,
    HurdleStatistics,
    bernoulli_product_logp,
    hurdle_cells,
)
from ww_bayes.kinds.pooling import (
    AUTO,
    CENTRING,
    PARAMETRIZATION_CHOICES,
    Parametrization,
    arm_logit,
    category_codes,
    cell_index,
    choose_parametrizations,
    class_weights,
    factor_levels,
    fit_weights,
    zero_sum_deviations,
)
from ww_bayes.kinds.protocol import Block, Heading, HoursEffects, ModelData, ModelKind, Paragraph, Plot, Table
from ww_bayes.labels import Words
from ww_bayes.summaries import SHOWN_LEVELS, shown_levels, summary_table
from ww_bayes.tomlspec import SpecError, number, reject_unknown, require
from ww_bayes.vocabulary import SAMPLE_DIMS, interval_label, interval_of, interval_text

#: The two parts of the hurdle: P(any hours) (logit scale) and the hours of those with any (log scale).
PARTS = ("any_hours", "hours")
#: What each part's components are, in words (for the model card).
PART_SCALES = {
    "any_hours": "logit P(any hours)",
    "hours": "log location of the hours of those with any",
}
#: The arm whose rate is each part's baseline (as the effects kind's default anchor).
ANCHOR = "service"
#: Each part's estimate per level from the cells (:meth:`HurdleStatistics.part_estimates`), from which the
#: form of its partially pooled deviations is chosen.
PART_OF_OBSERVATION = {"any_hours": "any", "hours": "positive"}
#: The per-cell grids of the two parts (arm x factors): what the estimands are computed from; bulky, so a
#: fit file keeps them only with ``keep = ["rate"]``.
ANY_RATE, GIVEN_ANY_MEAN = "any_hours_rate", "hours_given_any_mean"
#: The derived estimands the truth and the calibration studies compare (the causal ones).
CAUSAL_ESTIMANDS = ("mean_hours", "any_hours_pp")
HOURS_UNITS = "hours per claimant in months 1-12, zeros included"
#: The units of the hours estimands, one literal (a released file's prose is a phrase of the package's
#: source).
HOURS_EFFECT_UNITS = ("mean_hours: hours per claimant in months 1-12, zeros included; any_hours_pp: pp; "
                      "hours_given_any: hours (descriptive)")  # fmt: skip
#: The variables of the derived ``hours`` group, with their roles (:class:`ww_bayes.derived.Variable`). The
#: parts weighted by persons with hours are not means over a level's persons: a release does not merge them.
VARIABLES = {
    "mean_hours": Variable("estimand", signed=True, units=HOURS_UNITS),
    "any_hours_pp": Variable("estimand", signed=True, units="percentage points (pp) of P(any hours)"),
    "hours_given_any": Variable(
        "ratio", signed=True, units="hours per claimant with any (descriptive: compares different people)"
    ),
    "mean_hours_from_any": Variable("ratio", signed=True, units=f"{HOURS_UNITS}: the part from P(any hours)"),
    "mean_hours_from_given_any": Variable(
        "ratio", signed=True, units=f"{HOURS_UNITS}: the part from the hours of those with any"
    ),
    **probability_variables(of="mean_hours"),
    "pooling_only": Variable("flag"),
    "pooling_only_share": Variable("share"),
}
#: What the parts of the mean-hours effect are (the report's note beside them).
PARTS_NOTE = (
    "The parts (overall): the effect on P(any hours) in pp, and the difference in mean hours of those with "
    "any hours, which is descriptive: it compares different people (those the service brought into work are "
    "among them). mean_hours_from_any and mean_hours_from_given_any sum to the effect on mean hours.",
    "De delen (alle WW-gerechtigden): het effect op P(enig uur gewerkt) in procentpunt, en het verschil in "
    "gemiddelde uren van wie uren werkte, dat beschrijvend is: het vergelijkt verschillende mensen (wie door "
    "de dienstverlening aan het werk kwam, hoort erbij). mean_hours_from_any en mean_hours_from_given_any "
    "tellen op tot het effect op de gemiddelde uren.",
)
#: Persons in the simple random sample of the model checks' leave-one-person-out.
PERSON_LOO_SAMPLE = 20_000
#: The estimands shown as parts of the mean-hours effect.
PART_ESTIMANDS = ("any_hours_pp", "hours_given_any", "mean_hours_from_any", "mean_hours_from_given_any")


@dataclass(frozen=True)
class PartPrior:
    """Priors of one component of a part on its link scale: Normal(``mean_mu``, ``mean_sigma``) for the
    population mean, ``group_sd`` the half-normal scale of the deviations' sd under partial pooling,
    ``unpooled_sd`` the sd of each deviation under no pooling."""

    mean_mu: float
    mean_sigma: float
    group_sd: float
    unpooled_sd: float


@dataclass(frozen=True)
class DispersionPrior:
    """Prior of the log dispersion of the positive hours (log sd of hours, log gamma shape, or log sd of
    log hours, by family):
    Normal(``mean_mu``, ``mean_sigma``) for the mean, ``group_sd`` the half-normal scale of the sd of its
    deviations per factor of ``dispersion_by``."""

    mean_mu: float
    mean_sigma: float
    group_sd: float


@dataclass(frozen=True, kw_only=True)
class HoursSpec(SpecCommon):
    """A typed model specification of hours worked in months 1-12 (``kind = "hours"``)."""

    family: str
    pooling: dict[str, dict[str, dict[str, str]]]
    priors: dict[str, dict[str, PartPrior]]
    dispersion: DispersionPrior
    dispersion_by: tuple[str, ...]
    #: the smallest effect on mean hours per claimant of policy interest (hours)
    smallest_effect_hours: float
    #: per part, component and factor: the form of the partially pooled deviations asked for ("centred",
    #: "half-centred", "non-centred") or "auto" (chosen from the data); "auto" where not given
    parametrization: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)

    kind = "hours"

    @property
    def outcome(self) -> str:
        return HOURS_Y1

    def with_family(self, family: str) -> HoursSpec:
        """A copy with another family of the positive hours (its dispersion prior as given)."""
        if family not in POSITIVE_FAMILIES:
            raise SpecError(f"'family' must be one of {', '.join(POSITIVE_FAMILIES)}, got {family!r}")
        return dataclasses.replace(self, family=family)

    def with_pooling(self, pooling: str) -> HoursSpec:
        """A copy with one pooling choice for every component and factor of both parts."""
        chosen = {part: {c: pooling_of(f"pooling.{part}.{c}", pooling, self.groups) for c in COMPONENTS}
                  for part in PARTS}  # fmt: skip
        return dataclasses.replace(self, pooling=chosen)

    def with_parametrization(self, forms: str | dict) -> HoursSpec:
        """A copy asking for other parametrizations: one choice (``"centred"``, ``"half-centred"``,
        ``"non-centred"``, ``"auto"``) for every partially pooled component and factor of both parts, or a
        table per part as the spec file's ``[parametrization.<part>]`` (one choice per component, or per
        component and factor); what is not given stays as asked."""
        if isinstance(forms, str):
            forms = dict.fromkeys(PARTS, forms)
        reject_unknown("parametrization", forms, PARTS)
        asked = {}
        for part in PARTS:
            choice = forms.get(part, {})
            if isinstance(choice, str):
                choice = dict.fromkeys(COMPONENTS, choice)
            merged = {}
            for component in COMPONENTS:
                given = choice.get(component, {})
                current = {f: self.asked(part, component, f) for f in self.groups}
                merged[component] = given if isinstance(given, str) else {**current, **given}
            asked[part] = _part_parametrization(part, {"parametrization": merged}, self.groups,
                                                self.pooling[part])  # fmt: skip
        return dataclasses.replace(self, parametrization=asked)

    def asked(self, part: str, component: str, factor: str) -> str:
        """The parametrization the spec asks for a part's component and factor: a form, or "auto"."""
        return self.parametrization.get(part, {}).get(component, {}).get(factor, AUTO)

    def describe_priors(self, parametrization: dict[str, dict[str, Parametrization]] | None = None) -> str:
        """The priors in words, with what the effect priors imply on the pp and percent scales; with
        ``parametrization`` (:attr:`ww_bayes.kinds.protocol.ModelData.parametrization`, keyed
        ``<part>_<component>``), the form chosen for each partially pooled factor and why."""
        family = POSITIVE_FAMILIES[self.family]
        lines = [f"Priors of {self.name} (hurdle: P(any hours), then {family.name} hours of those with any; "
                 f"{family.parameters}; baseline = the {ANCHOR} arm):"]  # fmt: skip
        for part in PARTS:
            base = self.priors[part]["baseline"]
            lines.append(f"  {PART_SCALES[part]}:")
            for component in COMPONENTS:
                prior = self.priors[part][component]
                line = f"    {component}: mean ~ Normal({prior.mean_mu:g}, {prior.mean_sigma:g})"
                if component != "baseline":
                    line += "  -> central 95% effect about " + _implied(part, base, prior)
                lines.append(line)
                for factor in self.groups:
                    pooling = self.pooling[part][component][factor]
                    chosen = (parametrization or {}).get(f"{part}_{component}", {}).get(factor)
                    asked = self.asked(part, component, factor)
                    form = chosen.text() if chosen else ("chosen from the data" if asked == AUTO else asked)
                    lines.append(f"      by {factor}: {_pooling_text(pooling, prior, form)}")
        d = self.dispersion
        by = ", ".join(self.dispersion_by) or "nothing (one value)"
        lines.append(f"  log dispersion: mean ~ Normal({d.mean_mu:g}, {d.mean_sigma:g}), by {by}: partial "
                     f"pooling, sd ~ HalfNormal({d.group_sd:g}), centred")  # fmt: skip
        return "\n".join(lines)


def _implied(part: str, base: PartPrior, prior: PartPrior) -> str:
    low, high = (prior.mean_mu + s * 1.96 * prior.mean_sigma for s in (-1, 1))
    if part == "any_hours":
        reference = float(expit(base.mean_mu))
        pp = [100 * (expit(base.mean_mu + x) - reference) for x in (low, high)]
        return f"{pp[0]:+.1f} to {pp[1]:+.1f} pp at P(any) = {reference:.0%}"
    return f"{100 * np.expm1(low):+.0f}% to {100 * np.expm1(high):+.0f}% of the location"


def _pooling_text(pooling: str, prior: PartPrior, form: str) -> str:
    if pooling == "partial":
        return f"partial pooling, sd ~ HalfNormal({prior.group_sd:g}), sum to zero; {form}"
    if pooling == "none":
        return f"no pooling, deviations ~ ZeroSumNormal({prior.unpooled_sd:g}), fixed sd"
    return "full pooling, one common value"


# --- the spec ---------------------------------------------------------------------------------------------


def _part_prior(key: str, table) -> PartPrior:
    if not isinstance(table, dict):
        raise SpecError(f"{key!r} must be a table")
    reject_unknown(key, table, ("mean", "group_sd", "unpooled_sd"))
    require(key, table, ("mean", "group_sd", "unpooled_sd"))
    mean_mu, mean_sigma = mean_table(f"{key}.mean", table["mean"])
    return PartPrior(
        mean_mu=mean_mu,
        mean_sigma=mean_sigma,
        group_sd=number(f"{key}.group_sd", table["group_sd"], low=0, open_low=True),
        unpooled_sd=number(f"{key}.unpooled_sd", table["unpooled_sd"], low=0, open_low=True),
    )


def _table(raw: dict, key: str) -> dict:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise SpecError(f"{key!r} must be a table")
    return value


def _dispersion(raw: dict) -> DispersionPrior:
    table = _table(_table(raw, "priors"), "dispersion")
    key = "priors.dispersion"
    reject_unknown(key, table, ("mean", "group_sd"))
    require(key, table, ("mean", "group_sd"))
    mean_mu, mean_sigma = mean_table(f"{key}.mean", table["mean"])
    group_sd = number(f"{key}.group_sd", table["group_sd"], low=0, open_low=True)
    return DispersionPrior(mean_mu, mean_sigma, group_sd)


def _part_parametrization(part: str, raw: dict, groups: tuple[str, ...], pooling: dict) -> dict:
    """One part's ``[parametrization.<part>]`` (:func:`ww_bayes.kinds.common.parse_parametrization`), its
    errors naming the part."""
    try:
        return parse_parametrization(raw, COMPONENTS, groups, pooling)
    except SpecError as error:
        raise SpecError(str(error).replace("'parametrization", f"'parametrization.{part}", 1)) from None


def _parametrization(raw: dict, groups: tuple[str, ...], pooling: dict) -> dict[str, dict]:
    """``parametrization``: one choice for both parts, or a table per part (``[parametrization.hours]``)
    with a choice per component or per component and factor; "auto" where not given."""
    table = raw.get("parametrization", {})
    if isinstance(table, str):
        table = dict.fromkeys(PARTS, table)
    if not isinstance(table, dict):
        raise SpecError(f"'parametrization' must be one of {', '.join(PARAMETRIZATION_CHOICES)} or a table "
                        f"per part ({', '.join(PARTS)})")  # fmt: skip
    reject_unknown("parametrization", table, PARTS)
    return {part: _part_parametrization(part, {"parametrization": table.get(part, {})}, groups, pooling[part])
            for part in PARTS}  # fmt: skip


def parse(raw: dict, text: str, source: str, common: dict) -> HoursSpec:
    family = raw.get("family", "normal")
    if family not in POSITIVE_FAMILIES:
        raise SpecError(f"'family' must be one of {', '.join(POSITIVE_FAMILIES)}, got {family!r}")
    groups = common["groups"]
    pooling_raw, priors_raw = _table(raw, "pooling"), _table(raw, "priors")
    reject_unknown("pooling", pooling_raw, PARTS)
    reject_unknown("priors", priors_raw, (*PARTS, "dispersion"))
    pooling, priors = {}, {}
    for part in PARTS:
        try:
            pooling[part] = parse_pooling({"pooling": pooling_raw.get(part, {})}, COMPONENTS, groups)
        except SpecError as error:
            raise SpecError(str(error).replace("'pooling", f"'pooling.{part}", 1)) from None
        part_priors = _table(priors_raw, part) if part in priors_raw else None
        if part_priors is None:
            raise SpecError(f"missing key 'priors.{part}'")
        reject_unknown(f"priors.{part}", part_priors, COMPONENTS)
        require(f"priors.{part}", part_priors, COMPONENTS)
        priors[part] = {c: _part_prior(f"priors.{part}.{c}", part_priors[c]) for c in COMPONENTS}
    dispersion_by = raw.get("dispersion_by", ["werkverkenner"] if "werkverkenner" in groups else [])
    if not isinstance(dispersion_by, list) or any(f not in groups for f in dispersion_by):
        known = ", ".join(groups) or "none"
        raise SpecError(f"'dispersion_by' must be a list of grouping factors ({known}), got "
                        f"{dispersion_by!r}")  # fmt: skip
    return HoursSpec(
        family=family,
        pooling=pooling,
        priors=priors,
        dispersion=_dispersion(raw),
        dispersion_by=tuple(dispersion_by),
        smallest_effect_hours=number(
            "smallest_effect_hours", raw["smallest_effect_hours"], low=0, open_low=True
        ),  # fmt: skip
        parametrization=_parametrization(raw, groups, pooling),
        **common,
    )


# --- data and model ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PartEstimates:
    """One part of the hurdle as an observation with one linear predictor, for
    :func:`ww_bayes.kinds.pooling.choose_parametrizations`."""

    observation: HurdleStatistics
    part: str

    def link_estimates(self, cells: pd.DataFrame, by: list[str]) -> pd.DataFrame:
        return self.observation.part_estimates(cells, by, PART_OF_OBSERVATION[self.part])


def choose_forms(spec: HoursSpec, cells: pd.DataFrame, observation: HurdleStatistics,
                 levels: dict[str, list[str]]) -> dict[str, dict[str, Parametrization]]:  # fmt: skip
    """The form of every partially pooled component and factor of both parts (keyed ``<part>_<component>``):
    the spec's, or chosen from each part's estimates per level
    (:func:`ww_bayes.kinds.pooling.choose_parametrizations`)."""
    chosen = {}
    for part in PARTS:
        partial = {c: [f for f in spec.groups if spec.pooling[part][c][f] == "partial"] for c in COMPONENTS}
        asked = {c: {f: spec.asked(part, c, f) for f in spec.groups} for c in COMPONENTS}
        prior_sd = {c: spec.priors[part][c].group_sd for c in COMPONENTS}
        forms = choose_parametrizations(
            cells, _PartEstimates(observation, part), levels, partial, asked, ANCHOR, prior_sd,
            spec.centred_below, spec.weak_data_form,
        )  # fmt: skip
        chosen.update({f"{part}_{component}": by for component, by in forms.items()})
    return chosen


def prepare_data(spec: HoursSpec, df: pd.DataFrame) -> ModelData:
    """Cells (:func:`ww_bayes.kinds.observations.hurdle_cells` of ``hours_y1``) and weights from a cohort,
    with the form of each partially pooled factor (:func:`choose_forms`)."""
    groups = list(spec.groups)
    levels, notes = factor_levels(df, groups)
    cells = hurdle_cells(df[HOURS_Y1], [df[c] for c in ("arm", *groups)])
    cells["arm"] = cells["arm"].astype(str)
    weights = person_counts(df, groups, levels) if groups else xr.DataArray(len(df))
    observation = HurdleStatistics(spec.family)
    return ModelData(
        cells=cells,
        observation=observation,
        levels=levels,
        weights=weights.rename("n_persons"),
        outcome=HOURS_Y1,
        n_persons=len(df),
        n_missing=int(df[HOURS_Y1].isna().sum()),
        likelihood="hurdle",
        notes=notes,
        parametrization=choose_forms(spec, cells, observation, levels),
    )


def _component(spec: HoursSpec, part: str, component: str, data: ModelData) -> pt.TensorVariable:
    """A component of a part on the grid of group cells (one axis per factor), on the part's link scale."""
    prior = spec.priors[part][component]
    name = f"{part}_{component}"
    mean = pm.Normal(f"{name}_mean", prior.mean_mu, prior.mean_sigma)
    groups = list(spec.groups)
    grid = mean
    for axis, factor in enumerate(groups):
        pooling = spec.pooling[part][component][factor]
        if pooling == "full":
            continue
        if pooling == "partial":
            sd = pm.HalfNormal(f"{name}_sd_{factor}", prior.group_sd)
            form = data.parametrization[name][factor].form
            dev = zero_sum_deviations(f"{name}_dev_{factor}", sd, factor, form, f"{name}_z_{factor}")
        else:
            dev = pm.ZeroSumNormal(f"{name}_dev_{factor}", sigma=prior.unpooled_sd, dims=factor)
        shape = [1] * len(groups)
        shape[axis] = len(data.levels[factor])
        grid = grid + dev.reshape(shape)
        pm.Deterministic(f"{name}_by_{factor}", mean + dev, dims=factor)
    if groups:
        grid = pt.broadcast_to(grid, [len(data.levels[f]) for f in groups])
    return grid


def _dispersion_grid(spec: HoursSpec, data: ModelData) -> pt.TensorVariable:
    """The log dispersion on the grid of group cells: a mean plus a partially pooled deviation per factor
    of ``dispersion_by``."""
    prior = spec.dispersion
    mean = pm.Normal("hours_dispersion_mean", prior.mean_mu, prior.mean_sigma)
    groups = list(spec.groups)
    grid = mean
    for axis, factor in enumerate(groups):
        if factor not in spec.dispersion_by:
            continue
        sd = pm.HalfNormal(f"hours_dispersion_sd_{factor}", prior.group_sd)
        dev = pm.ZeroSumNormal(f"hours_dispersion_dev_{factor}", sigma=sd, dims=factor)
        shape = [1] * len(groups)
        shape[axis] = len(data.levels[factor])
        grid = grid + dev.reshape(shape)
        pm.Deterministic(f"hours_dispersion_by_{factor}", mean + dev, dims=factor)
    if groups:
        grid = pt.broadcast_to(grid, [len(data.levels[f]) for f in groups])
    return grid


def build_model(spec: HoursSpec, data: ModelData, for_sampling: bool = False) -> pm.Model:
    """The hurdle model for a spec and its cells (see the module docstring)."""
    groups = list(spec.groups)
    family = data.observation.family
    coords = {"arm": list(ARMS), **{f: data.levels[f] for f in groups}, "cell": np.arange(data.n_cells)}
    with pm.Model(coords=coords, check_bounds=False) as model:
        link = {}
        for part in PARTS:
            grids = {component: _component(spec, part, component, data) for component in COMPONENTS}
            link[part] = pt.stack([arm_logit(ANCHOR, arm, grids) for arm in ARMS])  # (arm, *groups)
        log_dispersion = _dispersion_grid(spec, data)  # (*groups)
        pm.Deterministic(ANY_RATE, pm.math.sigmoid(link["any_hours"]), dims=("arm", *groups))
        pm.Deterministic(GIVEN_ANY_MEAN, family.mean(link["hours"], log_dispersion[None]),
                         dims=("arm", *groups))  # fmt: skip
        index = cell_index(data.cells, {"arm": list(ARMS), **{f: data.levels[f] for f in groups}})
        parameters = {
            "eta": link["any_hours"][index],
            "link": link["hours"][index],
            "log_dispersion": log_dispersion[index[1:]] if groups else log_dispersion,
        }
        data.observation.likelihood(data.cells, parameters, for_sampling)
    return model


# --- the sampling form -------------------------------------------------------------------------------------

#: The stacked row of the log dispersion in the sampling form (the other rows are ``<part>_<component>``).
DISPERSION_ROW = "hours_dispersion"


@dataclass(frozen=True)
class _Deviation:
    """One row's zero-sum deviations over a factor in the sampling form: its centring (1 centred, 0
    non-centred, :data:`ww_bayes.kinds.pooling.CENTRING`) and its sd, free (``scale``: the half-normal's)
    or ``fixed`` (pooling "none")."""

    row: str
    centring: float
    scale: float | None = None
    fixed: float | None = None

    @property
    def value_name(self) -> str:
        """The name of the free variable of :func:`build_model` these deviations' values are."""
        return self.row + ("_dev_" if self.centring == 1.0 else "_z_")


def _stack_plan(spec: HoursSpec, data: ModelData) -> tuple[list[str], dict[str, list[_Deviation]]]:
    """The rows of the sampling form (every part's components, then the dispersion) and, per grouping
    factor, the rows with deviations over it: those with a free sd first, then those with a fixed sd."""
    rows = [f"{part}_{component}" for part in PARTS for component in COMPONENTS] + [DISPERSION_ROW]
    plan = {}
    for factor in spec.groups:
        free, fixed = [], []
        for part in PARTS:
            for component in COMPONENTS:
                pooling, prior = spec.pooling[part][component][factor], spec.priors[part][component]
                row = f"{part}_{component}"
                if pooling == "partial":
                    form = data.parametrization[row][factor].form
                    free.append(_Deviation(row, CENTRING[form], scale=prior.group_sd))
                elif pooling == "none":
                    fixed.append(_Deviation(row, 1.0, fixed=prior.unpooled_sd))
        if factor in spec.dispersion_by:
            free.append(_Deviation(DISPERSION_ROW, 1.0, scale=spec.dispersion.group_sd))
        plan[factor] = free + fixed
    return rows, plan


def _grid_data(data: ModelData, groups: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The cells' persons (arm, *groups) and statistics (arm, *groups, statistic) on the whole grid, zero
    where the cohort has no cell: an empty cell adds nothing to any family's log-likelihood."""
    levels = {"arm": list(ARMS), **{f: data.levels[f] for f in groups}}
    index = tuple(category_codes(data.cells[column], values) for column, values in levels.items())
    shape = tuple(len(values) for values in levels.values())
    names = list(data.observation.statistic_names)
    persons, statistics = np.zeros(shape), np.zeros((*shape, len(names)))
    persons[index] = data.cells["persons"].to_numpy(dtype="float64")
    statistics[index] = data.cells[names].to_numpy(dtype="float64")
    return persons, statistics


def build_sampling_model(spec: HoursSpec, data: ModelData) -> pm.Model:
    """The sampling form of :func:`build_model`: the same log-density (``tests/test_hours.py`` checks it
    equal at random points) with the free variables stacked, one means vector, one sd vector and one
    deviations matrix per factor (a row per component, centred rows and non-centred rows alike as
    ``sd^(1 - c) * z``, ``z ~ ZeroSumNormal(sd^c)``), and the likelihood summed over the whole arm x group
    grid instead of gathered cell by cell. A gradient's cost was its number of small nodes: 108 nodes and
    35 us per gradient against the named model's 358 and 44 us (docs/hours.md). :func:`unstack_draws` maps
    its draws back."""
    groups = list(spec.groups)
    rows, plan = _stack_plan(spec, data)
    priors = [spec.priors[part][component] for part in PARTS for component in COMPONENTS] + [spec.dispersion]
    coords = {"arm": list(ARMS), **{f: data.levels[f] for f in groups}, "stacked_row": rows,
              "statistic": list(data.observation.statistic_names)}  # fmt: skip
    for factor, deviations in plan.items():
        coords[f"stacked_row_{factor}"] = [d.row for d in deviations]
        coords[f"stacked_sd_row_{factor}"] = [d.row for d in deviations if d.fixed is None]
    persons, statistics = _grid_data(data, groups)
    with pm.Model(coords=coords, check_bounds=False) as model:
        means = pm.Normal("stacked_mean", np.array([p.mean_mu for p in priors]),
                          np.array([p.mean_sigma for p in priors]), dims="stacked_row")  # fmt: skip
        n_parts = len(PARTS) * len(COMPONENTS)
        dispersion = rows.index(DISPERSION_ROW)
        grid = means[:n_parts].reshape((n_parts, *[1] * len(groups)))  # (component row, *groups), broadcast
        log_dispersion = means[dispersion]  # (*groups), broadcast
        for axis, factor in enumerate(groups):
            deviations = plan[factor]
            if not deviations:
                continue
            sds = []
            if any(d.fixed is None for d in deviations):
                sds.append(pm.HalfNormal(f"stacked_sd_{factor}", np.array([d.scale for d in deviations
                                                                          if d.fixed is None]),
                                         dims=f"stacked_sd_row_{factor}"))  # fmt: skip
            if any(d.fixed is not None for d in deviations):
                sds.append(pt.as_tensor(np.array([d.fixed for d in deviations if d.fixed is not None])))
            sd = sds[0] if len(sds) == 1 else pt.concatenate(sds)
            centring = np.array([d.centring for d in deviations])
            z = pm.ZeroSumNormal(f"stacked_z_{factor}", sigma=(sd**centring)[:, None],
                                 dims=(f"stacked_row_{factor}", factor))  # fmt: skip
            deviation = (sd ** (1.0 - centring))[:, None] * z  # (row with deviations, level)
            shape = [1] * len(groups)
            shape[axis] = len(data.levels[factor])
            where = [rows.index(d.row) for d in deviations]
            if where[:n_parts] == list(range(n_parts)):  # every component, in order (as shipped): no scatter
                grid = grid + deviation[:n_parts].reshape((n_parts, *shape))
            else:
                parts = [k for k, row in enumerate(where) if row < n_parts]
                whole = pt.zeros((n_parts, len(data.levels[factor])))
                whole = pt.set_subtensor(whole[[where[k] for k in parts]], deviation[parts])
                grid = grid + whole.reshape((n_parts, *shape))
            if dispersion in where:
                log_dispersion = log_dispersion + deviation[where.index(dispersion)].reshape(shape)
        unit = dict(zip(COMPONENTS, np.eye(len(COMPONENTS)), strict=True))
        arms = np.array([arm_logit(ANCHOR, arm, unit) for arm in ARMS])  # (arm, component): +1, -1 or 0
        link = {}
        for number, part in enumerate(PARTS):
            components = grid[number * len(COMPONENTS) : (number + 1) * len(COMPONENTS)]
            link[part] = pt.tensordot(arms, components, axes=[[1], [0]])  # (arm, *groups)
        log_dispersion = pt.shape_padleft(log_dispersion, 1 + len(groups) - log_dispersion.ndim)
        persons = pm.Data("grid_persons", persons, dims=("arm", *groups))
        statistics = pm.Data("grid_statistics", statistics, dims=("arm", *groups, "statistic"))
        observation = data.observation
        positive = statistics[..., 0]
        logp = bernoulli_product_logp(positive, persons, link["any_hours"]) + observation.family.logp(
            statistics[..., 1:], positive, link["hours"], log_dispersion
        )
        pm.Potential("hurdle_cells", logp.sum())
    return model


def unstack_draws(spec: HoursSpec, data: ModelData, draws: xr.Dataset) -> xr.Dataset:
    """The free variables of :func:`build_model` (named as there) from draws of
    :func:`build_sampling_model`."""
    rows, plan = _stack_plan(spec, data)
    out = {f"{row}_mean": draws["stacked_mean"].isel(stacked_row=k, drop=True) for k, row in enumerate(rows)}
    for factor, deviations in plan.items():
        free = 0
        for k, deviation in enumerate(deviations):
            if deviation.fixed is None:
                sd = draws[f"stacked_sd_{factor}"].isel({f"stacked_sd_row_{factor}": free}, drop=True)
                out[f"{deviation.row}_sd_{factor}"] = sd
                free += 1
            z = draws[f"stacked_z_{factor}"].isel({f"stacked_row_{factor}": k}, drop=True)
            out[f"{deviation.value_name}{factor}"] = z
    return xr.Dataset(out)


# --- estimands ------------------------------------------------------------------------------------------


def posterior_hours(
    any_rate: xr.DataArray,
    given_any: xr.DataArray,
    weights: xr.DataArray,
    smallest_effect_hours: float,
    persons: xr.DataArray | None = None,
    good_direction: str = "more",
) -> xr.DataTree:
    """The ``hours`` group from posterior grids ``any_rate`` (P(any hours)) and ``given_any`` (mean hours of
    those with any), both (chain, draw, arm, *factors), with :func:`ww_bayes.estimands.hours_effects` (the
    simulator's truth is made with it too). ``persons`` (with hours observed per arm and group cell) adds
    the sparseness flags. A factor with more than :data:`ww_bayes.summaries.SHOWN_LEVELS` levels (regions)
    keeps ``mean_hours`` and ``any_hours_pp`` only: the other parts of 35 regions would double the file."""
    effects = hours_effects(any_rate, given_any, weights, levels=(OVERALL, *weights.dims))
    sign = direction_sign(good_direction)
    levels = {}
    for level in (OVERALL, *weights.dims):
        ds = effects[level].transpose(*SAMPLE_DIMS, ...)
        if level != OVERALL and weights.sizes[level] > SHOWN_LEVELS:
            ds = ds.drop_vars(
                PART_ESTIMANDS[1:]
            )  # the parts of a factor with many levels: not kept (file size)
        levels[level] = ds.merge(effect_probabilities(ds["mean_hours"], smallest_effect_hours, sign))
    if persons is not None:
        flags = pooling_only(persons)
        for level, flag in flags.items():
            flagged = xr.Dataset({"pooling_only": flag})
            levels[level] = levels[level].merge(flagged) if level in levels else flagged
        levels[OVERALL]["pooling_only_share"] = pooling_only_share(flags[CELLS], weights)
    attrs = {
        "effect_units": HOURS_EFFECT_UNITS,
        "weights": "cohort composition: persons per group cell, all arms",
        "good_direction": json.dumps(good_direction),
        "smallest_effect_hours": smallest_effect_hours,
    }
    return derived_tree(levels, attrs)


def hours_summary(
    derived: xr.DataTree, interval_kind: str = "eti", interval_prob: float = 0.9
) -> pd.DataFrame:
    """One row per estimand, contrast, level and group (see :func:`ww_bayes.summaries.summary_table`)."""
    table = summary_table(derived, VARIABLES, interval_kind, interval_prob)
    ordered = ["estimand", "contrast", "level", "group"]
    return table[ordered + [c for c in table.columns if c not in ordered]]


def truth_table(truth: xr.DataTree, levels: list[str]) -> pd.DataFrame:
    """The simulator's realised effects on hours (``truth``) in the summary's long shape, for the causal
    estimands (:data:`CAUSAL_ESTIMANDS`) at ``levels``."""
    frames = []
    for level in levels:
        ds = truth[f"hours/effects/{level}"].ds[list(CAUSAL_ESTIMANDS)]
        for estimand in CAUSAL_ESTIMANDS:
            frame = ds[estimand].to_dataframe(name="truth").reset_index()
            frame["group"] = frame[level].astype(str) if level != OVERALL else "all"
            frame = frame.drop(columns=[level] if level != OVERALL else [])
            frames.append(frame.assign(estimand=estimand, level=level_label(level)))
    table = pd.concat(frames, ignore_index=True)
    return table[["estimand", "contrast", "level", "group", "truth"]]


def format_hours(summary: pd.DataFrame, label: str, coverage: pd.DataFrame | None = None) -> str:
    """The mean-hours effects as text (overall and factors with few levels), with the truth when given."""
    rows = summary if coverage is None else coverage
    rows = rows[(rows["estimand"] == "mean_hours") & rows["level"].isin(shown_levels(summary))]
    lines = [
        f"{'contrast':<31} {'level':<17} {'group':<7} {'mean':>7} {label + ' interval':>22} {'P(more)':>8}"
        + (f" {'truth':>7} {'covered':>8}" if coverage is not None else "")
    ]
    for row in rows.itertuples():
        interval = f"[{getattr(row, label + '_lb'):+.1f}, {getattr(row, label + '_ub'):+.1f}]"
        line = (f"{row.contrast:<31} {row.level:<17} {row.group:<7} {row.mean:>+7.1f} {interval:>22} "
                f"{row.prob_beneficial:>8.2f}")  # fmt: skip
        if coverage is not None:
            line += f" {row.truth:>+7.1f} {'yes' if row.covered else 'NO':>8}"
        if bool(getattr(row, "pooling_only", False)):
            line += "  POOLING ONLY"
        lines.append(line)
    return "\n".join(lines)


def letter_lines(summary: pd.DataFrame, label: str, words: Words | None = None) -> list[str]:
    """The overall effects on mean hours of enforcement and service, each beside the minister's letter's
    statement about it: sentences for the screen (code names, English) or, with ``words``, for the report
    in its reader's language."""
    overall = summary[(summary["estimand"] == "mean_hours") & (summary["level"] == OVERALL)]
    overall = overall.set_index("contrast")
    dutch = words is not None and words.lang == "nl"
    statements = published.HOURS_Y1_STATEMENTS_NL if dutch else published.HOURS_Y1_STATEMENTS
    lines = []
    for contrast, stated in statements.items():
        if contrast not in overall.index:
            continue
        row = overall.loc[contrast]
        name = words(contrast) if words is not None else contrast
        numbers = (f"{row['mean']:+.1f} [{row[label + '_lb']:+.1f}, {row[label + '_ub']:+.1f}]",
                   f"{row['prob_beneficial']:.2f}")  # fmt: skip
        lines.append(
            f"{name}: {numbers[0]} uur per WW-gerechtigde in jaar 1, P(meer uren) {numbers[1]}. De brief: "
            f"{stated}."
            if dutch
            else f"{name}: {numbers[0]} hours per claimant in year 1, P(more hours) {numbers[1]}. "
            f"The letter: {stated}."
        )
    return lines


# --- checks against the persons: leave-one-out and the distribution of hours ------------------------------


def person_cells(cells: pd.DataFrame, cohort: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """Each person's cell: the position in ``cells`` of the person's ``keys`` (arm and grouping factors);
    -1 for a person in no cell (hours not observed)."""
    index = pd.MultiIndex.from_frame(cells[keys].astype(str))
    return index.get_indexer(pd.MultiIndex.from_frame(cohort[keys].astype(str)))


def person_loo(
    parameters: xr.Dataset,
    observation: HurdleStatistics,
    cells: pd.DataFrame,
    cohort: pd.DataFrame,
    keys: list[str],
    *,
    sample: int | None = 20_000,
    seed: int = 0,
    chunk: int = 4_000,
) -> dict:
    """PSIS-LOO over persons on the hours scale (arviz_stats' ``loo`` on each person's log-density, Jacobian
    included), from the cell parameters of a fit's draws (``parameters``: the observation's
    :attr:`~ww_bayes.kinds.observations.Observation.cell_parameters`, (chain, draw, cell), e.g.
    :func:`ww_bayes.recompute.cell_rates`). Persons of one cell with the same hours have the same
    log-likelihood, so each distinct (cell, hours) is computed once and counted. With ``sample``, a simple
    random sample of that many persons estimates the sum over all (Magnusson et al. 2019's estimator:
    N times the sample mean; ``subsample_se`` its standard error). Returns elpd, its SE, the parts from
    persons without and with hours, the Pareto k diagnostics of the persons computed and ``pointwise``: each
    computed person's elpd (a Series on the cohort's index, for paired comparisons of models); ``p_loo``; and
    ``pareto_k`` and ``weights`` per distinct (cell, hours) computed (its persons)."""
    import arviz_stats as azs  # here: only this check needs it

    cell = person_cells(cells, cohort, keys)
    values = cohort[HOURS_Y1].to_numpy(dtype="float64")
    observed = np.flatnonzero(cell >= 0)
    total = len(observed)
    if sample is not None and sample < total:
        observed = np.sort(np.random.default_rng(seed).choice(observed, sample, replace=False))
    rows = pd.DataFrame({"cell": cell[observed], "value": values[observed]})
    distinct = rows.value_counts(sort=False).reset_index(name="persons")
    distinct["row"] = np.arange(len(distinct))
    elpd, pareto_k, lpd = [], [], []
    for start in range(0, len(distinct), chunk):
        part = distinct.iloc[start : start + chunk]
        logp = observation.person_logp(parameters, part["cell"].to_numpy(), part["value"].to_numpy())
        tree = xr.DataTree.from_dict({"log_likelihood": xr.Dataset({"y": logp})})
        result = azs.loo(tree, pointwise=True, reff=1.0)  # the stored draws are thinned, near independent
        elpd.append(np.asarray(result.elpd_i))
        pareto_k.append(np.asarray(result.pareto_k))
        draws = logp.transpose(..., "person").values.reshape(-1, logp.sizes["person"])
        lpd.append(logsumexp(draws, axis=0) - np.log(draws.shape[0]))
    elpd_i, k, lpd_i = np.concatenate(elpd), np.concatenate(pareto_k), np.concatenate(lpd)
    weights = distinct["persons"].to_numpy()
    m = int(weights.sum())
    scale = total / m
    mean = float(np.average(elpd_i, weights=weights))
    variance = float(np.average((elpd_i - mean) ** 2, weights=weights))
    zero = distinct["value"].to_numpy() == 0
    row_of_person = rows.merge(distinct, on=["cell", "value"], how="left")["row"].to_numpy()
    return {
        "pointwise": pd.Series(elpd_i[row_of_person], index=cohort.index[observed], name="elpd_loo"),
        "persons": total,
        "persons_computed": m,
        "elpd": scale * float((elpd_i * weights).sum()),
        "p_loo": scale * float(((lpd_i - elpd_i) * weights).sum()),
        "se": float(np.sqrt(total * variance)),
        "subsample_se": float(total * np.sqrt(variance / m * (1 - m / total))),
        "elpd_no_hours": scale * float((elpd_i * weights)[zero].sum()),
        "elpd_hours": scale * float((elpd_i * weights)[~zero].sum()),
        "pareto_k_max": float(k.max()),
        "persons_pareto_k_above_0.7": int(weights[k > 0.7].sum()),
        "persons_pareto_k_above_1": int(weights[k > 1].sum()),
        "distinct": len(distinct),
        "pareto_k": k,
        "weights": weights,
    }


#: The quantiles of the hours of those with any that the distribution check compares.
CHECKED_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def distribution_check(
    parameters: xr.Dataset,
    observation: HurdleStatistics,
    cells: pd.DataFrame,
    cohort: pd.DataFrame,
    keys: list[str],
    by: str = "werkverkenner",
    *,
    draws: int = 100,
    prob: float = 0.9,
    seed: int = 0,
) -> pd.DataFrame:
    """Posterior predictive check of the distribution of hours per level of ``by``: the share with no hours,
    the mean hours of those with any and the :data:`CHECKED_QUANTILES` of their hours, observed beside the
    predictive mean and central ``prob`` interval over ``draws`` posterior draws (each draws every person's
    hours anew from the person's cell). Columns: ``by``, ``statistic``, ``observed``, ``predicted``,
    ``<label>_lb``, ``<label>_ub``, ``inside``."""
    cell = person_cells(cells, cohort, keys)
    keep = cell >= 0
    cell, groups = cell[keep], cohort.loc[keep, by].astype(str).to_numpy()
    stacked = parameters.stack(sample=SAMPLE_DIMS)
    picks = np.linspace(0, stacked.sizes["sample"] - 1, draws).round().astype(int)
    rng = np.random.default_rng(seed)
    names = ["no_hours", "mean_given_any", *(f"q{round(100 * q):02d}_given_any" for q in CHECKED_QUANTILES)]

    def statistics(values: np.ndarray) -> pd.DataFrame:
        frame = pd.DataFrame({by: groups, "hours": values})
        positive = frame[frame["hours"] > 0].groupby(by)["hours"]
        out = pd.DataFrame({"no_hours": (frame["hours"] == 0).groupby(frame[by]).mean(),
                            "mean_given_any": positive.mean()})  # fmt: skip
        quantiles = positive.quantile(list(CHECKED_QUANTILES)).unstack()
        for q, name in zip(CHECKED_QUANTILES, names[2:], strict=True):
            out[name] = quantiles[q]
        return out[names]

    observed = statistics(cohort.loc[keep, HOURS_Y1].to_numpy(dtype="float64"))
    predicted = []
    for pick in picks:
        draw = stacked.isel(sample=[pick]).drop_vars(["sample", "chain", "draw"], errors="ignore")
        predicted.append(statistics(observation.draw_persons(draw, cell, rng)[0]).to_numpy())
    predicted = np.stack(predicted)
    low, high = np.quantile(predicted, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    label = interval_label("eti", prob)
    table = pd.DataFrame(
        {
            by: np.repeat(observed.index.to_numpy(), len(names)),
            "statistic": np.tile(names, len(observed)),
            "observed": observed.to_numpy().ravel(),
            "predicted": predicted.mean(axis=0).ravel(),
            f"{label}_lb": low.ravel(),
            f"{label}_ub": high.ravel(),
        }
    )
    table["inside"] = (table[f"{label}_lb"] <= table["observed"]) & (
        table["observed"] <= table[f"{label}_ub"]
    )
    return table


class HoursKind(ModelKind):
    """Hours worked in months 1-12 as a hurdle on arm x group cells: the ``hours`` group."""

    name = "hours"
    observation = HurdleStatistics()
    likelihoods = ("hurdle",)
    derived_variables = VARIABLES
    derived_dims = ("contrast",)
    report_section = ("hours", "Hours worked in year 1")
    key_columns = ("estimand", "contrast", "level", "group")
    calibration_estimands = CAUSAL_ESTIMANDS
    not_checked = (ANY_RATE, GIVEN_ANY_MEAN)
    cell_deterministics = (ANY_RATE, GIVEN_ANY_MEAN)
    missing_attr = "n_persons_outcome_missing"
    spec_keys = COMMON_KEYS | {"family", "dispersion_by", "smallest_effect_hours", "parametrization"}
    required_keys = ("name", "groups", "smallest_effect_pp", "smallest_effect_hours", "pooling", "priors")
    frequentist = "hours_ols"
    effect_units = "hours per claimant in months 1-12"
    has_truth = True
    describes_persons = True
    offers_hours = True
    smallest_attr = "smallest_effect_hours"

    def parse(self, raw, text, source, common):
        return parse(raw, text, source, common)

    def required_columns(self, spec):
        return [*spec.groups, HOURS_Y1]

    def observation_of(self, tree):
        return HurdleStatistics(json.loads(tree.attrs.get("spec_structure", "{}")).get("family", "gamma"))

    def prepare(self, spec, cohort, likelihood="hurdle"):
        if likelihood not in self.likelihoods:
            raise ValueError(f"likelihood must be one of {', '.join(self.likelihoods)}, got {likelihood!r}")
        return prepare_data(spec, cohort)

    def build(self, spec, data, for_sampling=False):
        return build_sampling_model(spec, data) if for_sampling else build_model(spec, data)

    def from_sampling(self, spec, data, draws):
        return unstack_draws(spec, data, draws)

    def describe_priors(self, spec, data=None):
        return spec.describe_priors(data.parametrization if data is not None else None)

    def hyper_parameters(self, spec):
        names = [f"{part}_{c}_mean" for part in PARTS for c in COMPONENTS] + ["hours_dispersion_mean"]
        for part in PARTS:
            for component in COMPONENTS:
                names += [f"{part}_{component}_sd_{factor}" for factor in spec.groups
                          if spec.pooling[part][component][factor] == "partial"]  # fmt: skip
        return names + [f"hours_dispersion_sd_{factor}" for factor in spec.dispersion_by]

    def own_person_loo(self, parts, seed):
        """PSIS-LOO over a simple random sample of :data:`PERSON_LOO_SAMPLE` persons on the hours scale
        (:func:`person_loo`: hours are whole numbers, so the persons are their distinct (cell, hours))."""
        observation = parts.data.observation
        parameters = parts.parameters[list(observation.cell_parameters)]
        keys = ["arm", *parts.data.levels]
        return person_loo(parameters, observation, parts.data.cells, parts.cohort, keys,
                          sample=PERSON_LOO_SAMPLE, seed=seed)  # fmt: skip

    def derive(self, spec, data, posterior):
        return posterior_hours(
            posterior[ANY_RATE], posterior[GIVEN_ANY_MEAN], data.weights, spec.smallest_effect_hours,
            data.arm_persons(), spec.good_direction,
        )  # fmt: skip

    def provenance(self, spec):
        return {"anchor": ANCHOR, "family": spec.family, "smallest_effect_hours": spec.smallest_effect_hours}

    def effect_parameters(self, posterior):
        return [name for name in posterior.data_vars
                if any(f"{part}_{c}_" in name for part in PARTS for c in ("service", "enforcement"))
                and ("_mean" in name or "_by_" in name)]  # fmt: skip

    def summary(self, derived, interval_kind, interval_prob):
        return hours_summary(derived, interval_kind, interval_prob)

    def truth(self, tree, truth):
        known = truth["hours/effects"].children
        levels = [level for level in levels_of(tree[self.name]) if level != CELLS and level in known]
        return truth_table(truth, levels)

    def screen_text(self, tree, summary, coverage):
        kind, prob = interval_of(tree.attrs)
        label = interval_label(kind, prob)
        truth = "; with the simulator's truth" if coverage is not None else ""
        return (
            f"{tree.attrs['model_name']}: effects on mean hours per claimant in months 1-12, zeros included "
            f"(posterior mean, {interval_text(kind, prob)}, P(more hours){truth})\n"
            + format_hours(summary, label, coverage)
            + "\n"
            + "\n".join(letter_lines(summary, label))
        )

    def report_blocks(self, name, tree, summary, words) -> list[Block]:
        kind, prob = interval_of(tree.attrs)
        label = interval_label(kind, prob)
        shown = shown_levels(summary)
        interval = [f"{label}_lb", f"{label}_ub"]
        mean_hours = summary[(summary["estimand"] == "mean_hours") & summary["level"].isin(shown)]
        parts = summary[summary["estimand"].isin(PART_ESTIMANDS) & (summary["level"] == OVERALL)]
        smallest = tree.attrs.get("smallest_effect_hours", tree[self.name].attrs.get("smallest_effect_pp"))
        blocks: list[Block] = [
            Heading(
                words.say(
                    f"{tree.attrs.get('model_name', name)}: hours worked in months 1-12",
                    f"{tree.attrs.get('model_name', name)}: gewerkte uren in maand 1-12",
                )
            ),
            Paragraph(
                words.say(
                    f"Effects on mean hours per claimant (zeros included): posterior mean and "
                    f"{interval_text(kind, prob)}; prob_beneficial = P(more hours); "
                    f"prob_beneficial_beyond_smallest = P(effect > {smallest} hours).",
                    f"Effecten op het gemiddelde aantal uren per uitkeringsgerechtigde (nullen meegeteld): "
                    f"posteriorgemiddelde en {interval_text(kind, prob)}; prob_beneficial = P(meer uren); "
                    f"prob_beneficial_beyond_smallest = P(effect > {smallest} uur).",
                )
            ),
            *(Paragraph(line) for line in letter_lines(summary, label, words)),
            Table(
                mean_hours[
                    [
                        "contrast",
                        "level",
                        "group",
                        "mean",
                        *interval,
                        "prob_beneficial",
                        "prob_beneficial_beyond_smallest",
                        "prob_negligible",
                    ]
                ],
                digits=2,
            ),
            Paragraph(words.say(*PARTS_NOTE), "note"),
            Table(parts[["estimand", "contrast", "mean", *interval]], digits=2),
            Plot(
                "hours",
                summary,
                words.say(
                    f"{name}: effects on mean hours by subgroup, posterior mean and "
                    f"{interval_text(kind, prob)}",
                    f"{name}: effecten op het gemiddelde aantal uren per subgroep, posteriorgemiddelde en "
                    f"{interval_text(kind, prob)}",
                ),
                {"interval_label": label, "origin": tree.attrs.get("synthetic_data")},
            ),  # fmt: skip
        ]
        return blocks

    def person_counts(self, tree):
        observation = self.observation_of(tree)
        table = observation.count_table(tree["observed_data"].ds, tree["constant_data"].ds)
        keys = [c for c in ("arm", "werkverkenner") if c in table]
        frame = table.groupby(keys, observed=True, sort=False)[["count", "persons"]].sum().reset_index()
        return frame.assign(outcome=HOURS_Y1)

    def hours_effects(self, tree, contrast):
        if "werkverkenner" not in fit_weights(tree).dims:
            raise SpecError("the cost-effectiveness needs hours by Werkverkenner class: a fit grouped by "
                            "werkverkenner")  # fmt: skip
        levels = levels_of(tree[self.name])
        effects = xr.Dataset(
            {
                level_label(level): levels[level]["mean_hours"].sel(contrast=contrast, drop=True)
                for level in (OVERALL, "werkverkenner")
            }
        )
        name = tree.attrs.get("model_name", self.name)
        source = f"{name}: the effect on mean hours per claimant in months 1-12 (zeros included)"
        return HoursEffects(effects, class_weights(tree), source)

    def calibration_quantities(self, spec):
        names = [f"{part}_{c}_mean" for part in PARTS for c in COMPONENTS] + ["hours_dispersion_mean"]
        for part in PARTS:
            for component in COMPONENTS:
                for factor in spec.groups:
                    pooling = spec.pooling[part][component][factor]
                    if pooling == "partial":
                        names.append(f"{part}_{component}_sd_{factor}")
                    if pooling != "full":
                        names.append(f"{part}_{component}_by_{factor}")
        for factor in spec.dispersion_by:
            names += [f"hours_dispersion_sd_{factor}", f"hours_dispersion_by_{factor}"]
        return names


KIND = HoursKind()
