"""The effects kind (``kind = "effects"``, the default): one binary outcome month (a job, WW receipt at
month 12), on arm x group cells.

On the logit scale, for arm a and group cell g (a level of each grouping factor: Werkverkenner class,
region, or any factor the spec groups by), anchored on the service arm (the spec's ``anchor``, the default):

    eta[service, g]             = baseline[g]
    eta[control_enforcement, g] = baseline[g] - service[g]
    eta[control_none, g]        = baseline[g] - service[g] - enforcement[g]
    component[g] = component_mean + sum over factors of component_dev_<factor>[level of g]

so ``baseline`` is the rate of the arm that holds 80% of the persons, pinned down by its own data whatever
the effect sds are. With ``anchor = "control_none"`` the baseline is the control_none rate and the service
arm is ``baseline + enforcement + service``: then a region's baseline deviation is pinned down by the
service arm when the effect sds are small and only by ~500 control_none persons when they are large, so its
posterior width depends on the effect sds (a funnel across components), which makes the enforcement
effect's region sd mix slowly (benchmarks/bench_convergence.py measures both anchors). The effect
components mean the same under either anchor: service = service arm - control_enforcement, enforcement =
control_enforcement - control_none (logit scale).

Deviations sum to zero over each factor's levels (so the mean is identified and there is no ridge).
They are partially pooled (zero-sum normal with an estimated sd), unpooled (zero-sum normal with a fixed
sd) or absent (full pooling), per component and factor as the spec says. Partially pooled deviations are
centred or non-centred as the data call for (centred where the data pin each level down more tightly
than the levels spread: :func:`ww_bayes.kinds.pooling.choose_parametrization`), unless the spec's
``[parametrization]`` asks for a form (centred, half-centred or non-centred); the choice is printed with
the priors and stored in the fit.
The observation is :class:`ww_bayes.kinds.observations.BinaryCounts` (Binomial cells; Bernoulli person
rows to prove them equivalent).

The derived ``effects`` group has a level per factor (:mod:`ww_bayes.derived`): ``overall`` and one named
as each factor, holding for each contrast (:data:`ww_bayes.data.schema.CONTRASTS`) ``effect_pp`` (treated
minus comparison rate, pp, per draw), ``relative_risk``, ``prob_positive`` and ``prob_beyond_smallest``
(P(|effect| > the smallest effect of interest)), and the sparseness flags. Levels weight cells by the
cohort's own composition over the grouping factors (:mod:`ww_bayes.estimands`).
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
from scipy.special import expit

from ww_bayes.data.cells import aggregate_cells, person_counts
from ww_bayes.data.schema import ARMS, HEADLINE_OUTCOMES, MONTHS, OUTCOME_PREFIXES, month_column
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
from ww_bayes.estimands import contrast_pp, contrast_relative_risk, level_rates
from ww_bayes.kinds.common import (
    COMMON_KEYS,
    COMPONENTS,
    ComponentForms,
    SpecCommon,
    mean_table,
    parse_parametrization,
    parse_pooling,
    pooling_of,
    priors_table,
)
from ww_bayes.kinds.observations import CELL_RATE, BinaryCounts
from ww_bayes.kinds.pooling import (
    AUTO,
    Parametrization,
    arm_logit,
    category_codes,
    cell_index,
    choose_parametrizations,
    class_weights,
    factor_levels,
    fit_weights,
    sparseness_flags,
    zero_sum_deviations,
)
from ww_bayes.kinds.protocol import Block, EffectPaths, Heading, ModelData, ModelKind, Paragraph, Plot, Table
from ww_bayes.labels import Words
from ww_bayes.summaries import probability_columns, shown_levels, summary_table
from ww_bayes.tomlspec import SpecError, number, reject_unknown, require
from ww_bayes.vocabulary import SAMPLE_DIMS, interval_label, interval_of, interval_text

#: The arm whose logit rate is the ``baseline`` component (see the module docstring).
ANCHORS = ("service", "control_none")
LIKELIHOODS = ("binomial", "bernoulli")
#: The variables of the derived ``effects`` group, with their roles (:class:`ww_bayes.derived.Variable`).
VARIABLES = {
    "effect_pp": Variable("estimand", signed=True, units="percentage points (pp)"),
    "relative_risk": Variable("ratio", units="treated rate / comparison rate"),
    "effect_pp_identified": Variable("partial_estimand", units="percentage points (pp)"),
    **probability_variables(of="effect_pp"),
    "pooling_only": Variable("flag"),
    "pooling_only_share": Variable("share"),
}


@dataclass(frozen=True)
class ComponentPrior:
    """Priors of one linear-predictor component on the logit scale.

    ``mean_mu``/``mean_sigma``: Normal prior of the population mean; ``group_sd``: half-normal scale of the
    sd of group deviations under partial pooling; ``unpooled_sd``: sd of each group's deviation under no
    pooling (a zero-sum normal, so the mean stays identified).
    """

    mean_mu: float
    mean_sigma: float
    group_sd: float
    unpooled_sd: float


@dataclass(frozen=True, kw_only=True)
class EffectsSpec(ComponentForms, SpecCommon):
    """A typed model specification of one outcome month (``kind = "effects"``, the default)."""

    outcome: str
    pooling: dict[str, dict[str, str]]
    priors: dict[str, ComponentPrior]
    anchor: str = "service"
    #: per component and factor, "auto" (chosen from the data) or a form ("centred", "half-centred",
    #: "non-centred"); "auto" where not given (:func:`ww_bayes.kinds.common.parse_parametrization`)
    parametrization: dict[str, dict[str, str]] = field(default_factory=dict)

    kind = "effects"

    def with_pooling(self, pooling: str | dict[str, str | dict[str, str]]) -> EffectsSpec:
        """A copy with other pooling: one choice for all, or per component (and per factor)."""
        if isinstance(pooling, str):
            pooling = dict.fromkeys(COMPONENTS, pooling)
        merged = {c: dict(self.pooling[c]) for c in COMPONENTS}
        for component, choice in pooling.items():
            merged[component].update(pooling_of(f"pooling.{component}", choice, self.groups))
        return dataclasses.replace(self, pooling=merged)

    def describe_priors(self, parametrization: dict[str, dict[str, Parametrization]] | None = None) -> str:
        """The priors in words, with what they imply on the percentage-point scale; with
        ``parametrization`` (:attr:`ww_bayes.kinds.protocol.ModelData.parametrization`), the form chosen
        for each partially pooled factor and why."""
        base = self.priors["baseline"]
        reference = float(expit(base.mean_mu))
        lines = [
            f"Priors of {self.name} (logit scale; pp implied at a baseline rate of {reference:.0%}; "
            f"baseline = the {self.anchor} arm's rate):"
        ]
        for component in COMPONENTS:
            prior = self.priors[component]
            lines.append(f"  {component}: mean ~ Normal({prior.mean_mu:g}, {prior.mean_sigma:g})")
            if component != "baseline":
                low, high = (
                    100 * (expit(base.mean_mu + prior.mean_mu + s * 1.96 * prior.mean_sigma) - reference)
                    for s in (-1, 1)
                )
                lines[-1] += f"  -> central 95% effect about {low:+.1f} to {high:+.1f} pp"
            for factor in self.groups:
                pooling = self.pooling[component][factor]
                if pooling == "partial":
                    chosen = (parametrization or {}).get(component, {}).get(factor)
                    asked = self.asked(component, factor)
                    form = chosen.text() if chosen else ("chosen from the data" if asked == AUTO else asked)
                    text = f"partial pooling, sd ~ HalfNormal({prior.group_sd:g}), sum to zero; {form}"
                elif pooling == "none":
                    text = f"no pooling, deviations ~ ZeroSumNormal({prior.unpooled_sd:g}), fixed sd"
                else:
                    text = "full pooling, one common value"
                lines.append(f"    by {factor}: {text}")
        return "\n".join(lines)


# --- the spec ---------------------------------------------------------------------------------------------


def _outcome(value) -> str:
    if not isinstance(value, str):
        raise SpecError(f"'outcome' must be a column name, got {value!r}")
    column = HEADLINE_OUTCOMES.get(value, value)
    valid = {month_column(p, m) for p in OUTCOME_PREFIXES for m in MONTHS}
    if column not in valid:
        raise SpecError(
            f"'outcome' must be a monthly status column such as 'employed_m12' or 'ww_m12', or one of "
            f"{', '.join(HEADLINE_OUTCOMES)}; got {value!r}"
        )
    return column


def _prior(component: str, table) -> ComponentPrior:
    key = f"priors.{component}"
    if not isinstance(table, dict):
        raise SpecError(f"{key!r} must be a table")
    reject_unknown(key, table, ("mean", "group_sd", "unpooled_sd"))
    require(key, table, ("mean", "group_sd", "unpooled_sd"))
    mean_mu, mean_sigma = mean_table(f"{key}.mean", table["mean"])
    return ComponentPrior(
        mean_mu=mean_mu,
        mean_sigma=mean_sigma,
        group_sd=number(f"{key}.group_sd", table["group_sd"], low=0, open_low=True),
        unpooled_sd=number(f"{key}.unpooled_sd", table["unpooled_sd"], low=0, open_low=True),
    )


def parse(raw: dict, text: str, source: str, common: dict) -> EffectsSpec:
    priors_raw = priors_table(raw, COMPONENTS)
    anchor = raw.get("anchor", "service")
    if anchor not in ANCHORS:
        raise SpecError(f"'anchor' must be one of {', '.join(ANCHORS)}, got {anchor!r}")
    pooling = parse_pooling(raw, COMPONENTS, common["groups"])
    return EffectsSpec(
        anchor=anchor,
        outcome=_outcome(raw["outcome"]),
        pooling=pooling,
        priors={c: _prior(c, priors_raw[c]) for c in COMPONENTS},
        parametrization=parse_parametrization(raw, COMPONENTS, common["groups"], pooling),
        **common,
    )


# --- data and model ---------------------------------------------------------------------------------------


def prepare_data(spec: EffectsSpec, df: pd.DataFrame, likelihood: str = "binomial") -> ModelData:
    """Cells (or person rows for ``likelihood="bernoulli"``) and weights for a spec from a cohort table."""
    groups = list(spec.groups)
    levels, notes = factor_levels(df, groups)
    if likelihood == "binomial":
        cell_table = aggregate_cells(df, spec.outcome, by=("arm", *groups))
        cells, n_missing = cell_table.table, cell_table.n_missing
    elif likelihood == "bernoulli":
        rows = df[["arm", *groups, spec.outcome]].dropna(subset=[spec.outcome])
        cells = rows[["arm", *groups]].assign(
            successes=rows[spec.outcome].astype("int64").to_numpy(), trials=1
        )
        n_missing = len(df) - len(rows)
    else:
        raise ValueError(f"likelihood must be one of {', '.join(LIKELIHOODS)}, got {likelihood!r}")
    if groups:
        weights = person_counts(df, groups, levels)
    else:
        weights = xr.DataArray(len(df))
    observation = BinaryCounts(person_rows=likelihood == "bernoulli")
    partial = {c: [f for f in groups if spec.pooling[c][f] == "partial"] for c in COMPONENTS}
    asked = {c: {f: spec.asked(c, f) for f in groups} for c in COMPONENTS}
    return ModelData(
        cells=cells.reset_index(drop=True),
        observation=observation,
        levels=levels,
        weights=weights.rename("n_persons"),
        outcome=spec.outcome,
        n_persons=len(df),
        n_missing=n_missing,
        likelihood=likelihood,
        notes=notes,
        parametrization=choose_parametrizations(
            cells,
            observation,
            levels,
            partial,
            asked,
            spec.anchor,
            {c: spec.priors[c].group_sd for c in COMPONENTS},
            spec.centred_below,
            spec.weak_data_form,
        ),
    )


def _component(spec: EffectsSpec, component: str, data: ModelData) -> pt.TensorVariable:
    """The component's value on the grid of group cells (one axis per factor), logit scale."""
    prior = spec.priors[component]
    mean = pm.Normal(f"{component}_mean", prior.mean_mu, prior.mean_sigma)
    groups = list(spec.groups)
    grid = mean
    for axis, factor in enumerate(groups):
        pooling = spec.pooling[component][factor]
        if pooling == "full":
            continue
        if pooling == "partial":
            sd = pm.HalfNormal(f"{component}_sd_{factor}", prior.group_sd)
            form = data.parametrization[component][factor].form
            dev = zero_sum_deviations(
                f"{component}_dev_{factor}", sd, factor, form, f"{component}_z_{factor}"
            )
        else:
            dev = pm.ZeroSumNormal(f"{component}_dev_{factor}", sigma=prior.unpooled_sd, dims=factor)
        shape = [1] * len(groups)
        shape[axis] = len(data.levels[factor])
        grid = grid + dev.reshape(shape)
        pm.Deterministic(f"{component}_by_{factor}", mean + dev, dims=factor)
    if groups:
        grid = pt.broadcast_to(grid, [len(data.levels[f]) for f in groups])
    return grid


def build_model(spec: EffectsSpec, data: ModelData, for_sampling: bool = False) -> pm.Model:
    """The PyMC model for a spec and its data (cells or person rows).

    ``for_sampling=True`` writes the Binomial likelihood as a logit-form ``CustomDist`` (same log-probability,
    cheaper gradient, no random draws); otherwise it is ``pm.Binomial``. Free variables are identical.
    """
    groups = list(spec.groups)
    coords = {"arm": list(ARMS), **{f: data.levels[f] for f in groups}, "cell": np.arange(data.n_cells)}
    # every parameter is transformed onto its support, so PyMC's bounds checks only cost time
    with pm.Model(coords=coords, check_bounds=False) as model:
        grids = {component: _component(spec, component, data) for component in COMPONENTS}
        eta_grid = pt.stack([arm_logit(spec.anchor, arm, grids) for arm in ARMS])  # (arm, *groups)
        pm.Deterministic("rate", pm.math.sigmoid(eta_grid), dims=("arm", *groups))
        index = cell_index(data.cells, {"arm": list(ARMS), **{f: data.levels[f] for f in groups}})
        data.observation.likelihood(data.cells, {"eta": eta_grid[index]}, for_sampling)
    return model


def new_level_rates(
    spec: EffectsSpec, posterior: xr.Dataset, cells: pd.DataFrame, factor: str, seed: int
) -> xr.Dataset:
    """Each posterior draw's success probability (``cell_rate``, dims chain, draw, cell) for ``cells`` in
    levels of ``factor`` the fit has not seen, as the model predicts a new level: each component's mean,
    plus the fitted deviations of the cells' other factors, plus a new deviation for each new level drawn
    as the pooling says (partial: Normal(0, the draw's sd); none: Normal(0, the fixed sd); full: none),
    shared by the level's cells. (The fitted deviations sum to zero over K levels, so each has variance
    sd^2 (K - 1) / K; a new level's is sd^2.)"""
    rng = np.random.default_rng(seed)
    new_levels = sorted(set(cells[factor].astype(str)))
    new_index = category_codes(cells[factor], new_levels)
    shape = (posterior.sizes["chain"], posterior.sizes["draw"])
    values = {}
    for component in COMPONENTS:
        value = posterior[f"{component}_mean"].transpose(*SAMPLE_DIMS).values[..., None]
        for other in spec.groups:
            pooling = spec.pooling[component][other]
            if pooling == "full":
                continue
            if other == factor:
                if pooling == "partial":
                    sd = posterior[f"{component}_sd_{factor}"].transpose(*SAMPLE_DIMS).values[..., None]
                else:
                    sd = spec.priors[component].unpooled_sd
                value = value + (sd * rng.normal(size=(*shape, len(new_levels))))[..., new_index]
            else:
                deviation = posterior[f"{component}_dev_{other}"].transpose(*SAMPLE_DIMS, other)
                index = category_codes(cells[other], [str(v) for v in deviation[other].values])
                value = value + deviation.values[..., index]
        values[component] = value
    arms = cells["arm"].astype(str).to_numpy()
    eta = np.zeros((*shape, len(cells)))
    for arm in ARMS:
        chosen = arms == arm
        eta[..., chosen] = np.broadcast_to(arm_logit(spec.anchor, arm, values), eta.shape)[..., chosen]
    coords = {d: posterior[d] for d in SAMPLE_DIMS}
    return xr.Dataset({CELL_RATE: ((*SAMPLE_DIMS, "cell"), expit(eta))}, coords=coords)


# --- estimands ------------------------------------------------------------------------------------------


def posterior_effects(
    rate: xr.DataArray,
    weights: xr.DataArray,
    smallest_effect_pp: float,
    persons: xr.DataArray | None = None,
    good_direction: str = "none",
) -> xr.DataTree:
    """The ``effects`` group from posterior cell rates ``rate`` (chain, draw, arm, *factors).

    One level per factor of ``weights`` besides ``overall`` (:mod:`ww_bayes.derived`). ``persons`` (with the
    outcome observed per arm and group cell) adds the sparseness flags
    (:func:`ww_bayes.kinds.pooling.sparseness_flags`): ``pooling_only`` at every level and the cell grid,
    ``pooling_only_share`` and ``effect_pp_identified`` at the overall level. ``good_direction``: which
    way the outcome is good (:data:`ww_bayes.derived.DIRECTIONS`), for the probabilities
    (:func:`ww_bayes.derived.effect_probabilities`).
    """
    rates = level_rates(rate, weights)
    sign = direction_sign(good_direction)
    levels = {}
    for level in (OVERALL, *weights.dims):
        pp = contrast_pp(rates[level]).transpose(*SAMPLE_DIMS, ...)
        levels[level] = xr.Dataset(
            {
                "effect_pp": pp,
                "relative_risk": contrast_relative_risk(rates[level]).transpose(*SAMPLE_DIMS, ...),
                **effect_probabilities(pp, smallest_effect_pp, sign),
            }
        )
    if persons is not None:
        for level, flags in sparseness_flags(rate, weights, persons).items():
            levels[level] = levels[level].merge(flags) if level in levels else flags
    attrs = {
        "effect_units": "percentage points (pp), probability scale",
        "weights": "cohort composition: persons per group cell, all arms",
        "smallest_effect_pp": smallest_effect_pp,
        "good_direction": json.dumps(good_direction),
    }
    return derived_tree(levels, attrs)


def effects_summary(
    effects: xr.DataTree, interval_kind: str = "eti", interval_prob: float = 0.9
) -> pd.DataFrame:
    """One row per estimand (``effect_pp``, ``relative_risk``, ``effect_pp_identified``), contrast, level
    and group: arviz_stats' mean, sd, labelled interval (e.g. ``eti90_lb``), ESS, R-hat and MCSE, and the
    probabilities and flags."""
    table = summary_table(effects, VARIABLES, interval_kind, interval_prob)
    ordered = ["estimand", "contrast", "level", "group"]
    return table[ordered + [c for c in table.columns if c not in ordered]]


def outcome_month(outcome: str) -> tuple[str, int]:
    """``employed_m12`` -> (``employed``, 12)."""
    prefix, month = outcome.rsplit("_m", 1)
    return prefix, int(month)


def truth_table(truth: xr.DataTree, outcome: str, month: int, levels: list[str]) -> pd.DataFrame:
    """The simulator's true effects (pp) in the summary table's long shape: ``truth`` (generating) and
    ``realised_pp`` (in the persons drawn), for ``levels`` (``overall`` and factors the truth has)."""
    frames = []
    for level in levels:
        ds = truth[f"effects/{level}"].ds.sel(outcome=outcome, month=month, drop=True)
        frame = ds.to_dataframe().reset_index()
        frame["group"] = frame[level].astype(str) if level != OVERALL else "all"
        frame = frame.drop(columns=[level] if level != OVERALL else [])
        frames.append(frame.assign(level=level_label(level)))
    table = pd.concat(frames, ignore_index=True).rename(columns={"generating_pp": "truth"})
    table.insert(0, "estimand", "effect_pp")
    return table[["estimand", "contrast", "level", "group", "truth", "realised_pp"]]


def format_effects(
    summary: pd.DataFrame, label: str, coverage: pd.DataFrame | None = None, words: Words | None = None
) -> str:
    """Effect rows (pp) as text in words (:mod:`ww_bayes.labels`), one block per contrast, with the
    probability the effect helps and the simulator's truth beside them when ``coverage`` is given."""
    words = words or Words("en")
    rows = summary if coverage is None else coverage
    rows = rows[(rows["estimand"] == "effect_pp") & rows["level"].isin(shown_levels(summary))]
    helps = "prob_beneficial" if rows.get("prob_beneficial", pd.Series(dtype=float)).notna().any() else ""
    header = f"  {'':<34} {'mean':>8} {label + ' interval':>18}" + (f" {'P(helps)':>9}" if helps else "")
    header += f" {'truth':>7} {'covered':>8}" if coverage is not None else ""
    lines = []
    for contrast, block in rows.groupby("contrast", sort=False):
        lines += [words(contrast), header]
        for row in block.itertuples():
            group = words("overall") if row.level == OVERALL else words(row.group)
            interval = f"[{getattr(row, label + '_lb'):+.2f}, {getattr(row, label + '_ub'):+.2f}]"
            line = f"  {group:<34} {row.mean:>+8.2f} {interval:>18}"
            line += f" {words.percent(getattr(row, helps)):>9}" if helps else ""
            if coverage is not None:
                line += f" {row.truth:>+7.2f} {'yes' if row.covered else 'NO':>8}"
            if bool(getattr(row, "pooling_only", False)):
                line += "  POOLING ONLY"
            lines.append(line)
    return "\n".join(lines + sparseness_lines(summary, label, words))


def sparseness_lines(summary: pd.DataFrame, label: str, words: Words | None = None) -> list[str]:
    """What a sparse design does to the estimates: a note per contrast whose population effect takes
    weight from pooling-only cells, with the effect over identified cells only; empty for a full design.
    ``words``: for a reader (contrasts in words, Dutch if asked); without, the code names (the screen)."""
    if "pooling_only_share" not in summary or "pooling_only" not in summary:
        return []
    name = words or (lambda code: code)
    overall = summary[(summary["estimand"] == "effect_pp") & (summary["level"] == OVERALL)]
    identified = summary[summary["estimand"] == "effect_pp_identified"].set_index("contrast")
    lines = []
    for row in overall[overall["pooling_only_share"] > 0].itertuples():
        only = identified.loc[row.contrast]
        interval = f"{only['mean']:+.2f} [{only[label + '_lb']:+.2f}, {only[label + '_ub']:+.2f}]"
        english = (f"  note: {row.pooling_only_share:.1%} of the cohort behind the overall "
                   f"{name(row.contrast)} effect is in cells without persons in one of its arms (POOLING "
                   f"ONLY: prior and pooling, not data); over identified cells only: {interval}")  # fmt: skip
        dutch = (f"  let op: {row.pooling_only_share:.1%} van het cohort achter het totale effect van "
                 f"{name(row.contrast)} zit in cellen zonder personen in een van de groepen (ALLEEN POOLING: "
                 f"prior en pooling, geen gegevens); over cellen met gegevens: {interval}")  # fmt: skip
        lines.append(words.say(english, dutch) if words else english)
    flagged = summary[(summary["estimand"] == "effect_pp") & summary["pooling_only"].astype(bool)]
    if len(flagged):
        levels = flagged["level"].value_counts(sort=False).items()
        counts = ", ".join(f"{n} {name(level)}" for level, n in levels)
        english = (
            f"POOLING ONLY ({counts}): a level without persons in one of the contrast's arms; its "
            "effect is informed only by the other levels through pooling, not by its own data."
        )
        dutch = (
            f"ALLEEN POOLING ({counts}): een groep zonder personen in een van de vergeleken groepen; "
            "het effect komt alleen via pooling van de andere groepen, niet uit eigen gegevens."
        )
        lines.insert(0, words.say(english, dutch) if words else english)
    return lines


#: The month whose effect a 12-month fit offers the cost-effectiveness (held for ``fallback_effect_months``).
HELD_MONTH = 12


class EffectsKind(ModelKind):
    """One outcome month on arm x group cells: the ``effects`` group."""

    name = "effects"
    observation = BinaryCounts()
    likelihoods = LIKELIHOODS
    derived_variables = VARIABLES
    derived_dims = ("contrast",)
    frequentist = "itt"
    offers_effect_paths = True
    has_truth = True
    describes_persons = True
    predicts_new_levels = True
    report_section = ("effects", "Effects by class and region")
    key_columns = ("estimand", "contrast", "level", "group")
    spec_keys = COMMON_KEYS | {"outcome", "anchor", "parametrization"}
    required_keys = ("name", "outcome", "groups", "smallest_effect_pp", "pooling", "priors")

    def parse(self, raw, text, source, common):
        return parse(raw, text, source, common)

    def required_columns(self, spec):
        return [*spec.groups, spec.outcome]

    def observation_of(self, tree):
        return BinaryCounts(person_rows=tree.attrs.get("likelihood") == "bernoulli")

    def prepare(self, spec, cohort, likelihood="binomial"):
        return prepare_data(spec, cohort, likelihood)

    def build(self, spec, data, for_sampling=False):
        return build_model(spec, data, for_sampling)

    def describe_priors(self, spec, data=None):
        return spec.describe_priors(data.parametrization if data is not None else None)

    def derive(self, spec, data, posterior):
        return posterior_effects(
            posterior["rate"], data.weights, spec.smallest_effect_pp, data.arm_persons(), spec.good_direction
        )

    def provenance(self, spec):
        return {"anchor": spec.anchor}

    def new_level_parameters(self, spec, posterior, cells, factor, seed):
        return new_level_rates(spec, posterior, cells, factor, seed)

    def summary(self, derived, interval_kind, interval_prob):
        return effects_summary(derived, interval_kind, interval_prob)

    def truth(self, tree, truth):
        prefix, month = outcome_month(tree.attrs["outcome"])
        known = truth["effects"].children
        levels = [level for level in levels_of(tree[self.name]) if level != CELLS and level in known]
        return truth_table(truth, prefix, month, levels)

    def screen_text(self, tree, summary, coverage):
        kind, prob = interval_of(tree.attrs)
        truth = "; with the simulator's truth" if coverage is not None else ""
        return (
            f"{tree.attrs['model_name']}: effects on {Words('en')(tree.attrs['outcome'])} "
            f"({tree.attrs['outcome']}) in percentage points (posterior mean, {interval_text(kind, prob)}"
            f"{truth})\n" + format_effects(summary, interval_label(kind, prob), coverage)
        )

    def report_blocks(self, name, tree, summary, words) -> list[Block]:
        kind, prob = interval_of(tree.attrs)
        label = interval_label(kind, prob)
        effects = summary[summary["estimand"] == "effect_pp"]
        columns = ["contrast", "level", "group", "mean", f"{label}_lb", f"{label}_ub",
                   *probability_columns(effects)]  # fmt: skip
        columns += ["pooling_only"] if "pooling_only" in effects else []
        shown = shown_levels(summary)
        smallest = words.pp(float(tree.attrs.get("smallest_effect_pp", 0.5)), sign=False)
        outcome = words(str(tree.attrs.get("outcome")))
        blocks: list[Block] = [
            Heading(f"{outcome[:1].upper()}{outcome[1:]} (`{tree.attrs.get('model_name', name)}`)"),
            Paragraph(words.say(
                f"Effects in percentage points: posterior mean and {words.interval(kind, prob)}; the "
                f"probability the effect helps, that it helps by more than {smallest} (the smallest effect "
                f"of interest), and that it is negligible (within {smallest}).",
                f"Effecten in procentpunten: posteriorgemiddelde en {words.interval(kind, prob)}; de kans "
                "dat "
                f"het effect helpt, dat het meer helpt dan {smallest} (het kleinste relevante effect) en dat "
                f"het verwaarloosbaar is (binnen {smallest}).")),
            Table(effects[effects["level"].isin(shown)][columns]),
        ]  # fmt: skip
        blocks += [Paragraph(line.strip(), "flag") for line in sparseness_lines(summary, label, words)]
        for level in dict.fromkeys(effects["level"]):
            if level not in shown:
                rows = effects[effects["level"] == level][columns]
                blocks.append(Table(rows, collapsed=f"{words('effect_pp')} {words(level)} ({len(rows)})"))
        blocks.append(
            Plot(
                "effects",
                summary,
                words.say(f"Effects on {outcome} by subgroup: posterior mean and "
                          f"{words.interval(kind, prob)}",
                          f"Effecten per subgroep ({outcome}): posteriorgemiddelde en "
                          f"{words.interval(kind, prob)}"),
                {"interval_label": label, "title": "", "origin": tree.attrs.get("synthetic_data")},
            )
        )  # fmt: skip
        return blocks

    def person_counts(self, tree):
        observation = self.observation_of(tree)
        table = observation.count_table(tree["observed_data"].ds, tree["constant_data"].ds)
        keys = [c for c in ("arm", "werkverkenner") if c in table]
        frame = table.groupby(keys, observed=True, sort=False)[["count", "persons"]].sum().reset_index()
        return frame.assign(outcome=str(tree.attrs.get("outcome")))

    def effect_paths(self, tree, contrast, months, hold_months):
        prefix, month = outcome_month(tree.attrs["outcome"])
        if month != HELD_MONTH:
            raise SpecError(
                f"a fit of {tree.attrs['outcome']} (month {month}); the cost-effectiveness holds a "
                f"month-{HELD_MONTH} effect (employed_m{HELD_MONTH} or ww_m{HELD_MONTH}): fit those, or a "
                "trajectory"
            )
        if "werkverkenner" not in fit_weights(tree).dims:
            raise SpecError("the cost-effectiveness needs effects by Werkverkenner class: a fit grouped by "
                            "werkverkenner")  # fmt: skip
        window = xr.DataArray(
            np.where(np.asarray(months) <= hold_months, 1.0, 0.0),
            dims="month",
            coords={"month": list(months)},
        )
        levels = levels_of(tree[self.name])
        paths = xr.Dataset(
            {
                level_label(level): (
                    levels[level]["effect_pp"].sel(contrast=contrast, drop=True) * window
                ).expand_dims(outcome=[prefix], axis=2)
                for level in (OVERALL, "werkverkenner")
            }
        )
        source = (f"12-month fits: the month-12 effect held for months 1-{hold_months} (assumption), "
                  "zero after")  # fmt: skip
        return EffectPaths(paths, class_weights(tree), source, lasts_for=hold_months)

    def hyper_parameters(self, spec):
        names = [f"{c}_mean" for c in COMPONENTS]
        for component in COMPONENTS:
            names += [f"{component}_sd_{factor}" for factor in spec.groups
                      if spec.pooling[component][factor] == "partial"]  # fmt: skip
        return names

    def calibration_quantities(self, spec):
        names = [f"{c}_mean" for c in COMPONENTS]
        for component in COMPONENTS:
            for factor in spec.groups:
                pooling = spec.pooling[component][factor]
                if pooling == "partial":
                    names.append(f"{component}_sd_{factor}")
                if pooling != "full":
                    names.append(f"{component}_by_{factor}")
        return names


KIND = EffectsKind()
