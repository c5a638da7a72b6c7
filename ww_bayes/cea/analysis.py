"""Cost-effectiveness from posterior draws: pure functions over labelled draws, one result group.

Compute once, plot many (BCEA's design): :func:`analyse` turns a fit's effect draws and the assumptions in
``models/cost_effectiveness.toml`` into one ``xarray.Dataset`` (the ``cost_effectiveness`` group) with every
derived array; the plots in :mod:`ww_bayes.viz` only read it. All money is in euros per participant
unless a name says ``cohort``; effects are months per participant.

For one contrast (by default service vs control_enforcement: the extra investment in personal service):

- incremental cost = service execution cost (by Werkverkenner class);
- benefits = WW benefits saved (WW months avoided x monthly benefit) + taxes and premiums on extra
  earnings (extra employed months x monthly earnings x tax share) - other benefits paid (with a
  destinations fit: extra ZW, WIA and bijstand months x their monthly amounts, :mod:`ww_bayes.cea.benefits`),
  each month discounted;
- net benefit = benefits - cost; benefit-cost ratio = benefits / cost;
- the CE plane puts effect (extra employed months) against net cost (cost - benefits); at willingness to
  pay ``k`` euros per extra employed month the incremental net benefit is ``INB = k * effect - net cost``;
  the CEAC is P(INB > 0), the EIB is E[INB], EVPI is E[max(INB, 0)] - max(E[INB], 0);
- per class net benefit, the value of every targeting rule (which classes to serve) and P(rule is best).
"""

from __future__ import annotations

import dataclasses
import itertools
import re

import numpy as np
import pandas as pd
import xarray as xr

from ww_bayes.cea.assumptions import MONTHLY_INPUTS, NOT_OTHER_BENEFITS, Assumptions
from ww_bayes.cea.benefits import BenefitMonths, benefit_months
from ww_bayes.cea.production import paired_draws
from ww_bayes.kinds import kind_of
from ww_bayes.tomlspec import SpecError
from ww_bayes.vocabulary import SAMPLE_DIMS, interval_label

# --- effects in: monthly pp paths per draw ------------------------------------------------------------------


class CostEffectivenessError(ValueError):
    """Fits that cannot feed the cost-effectiveness as given (outcomes missing or twice)."""


def monthly_effects(
    fits: xr.DataTree | list[xr.DataTree], assumptions: Assumptions, names: list[str] | None = None
) -> tuple[xr.Dataset, xr.DataArray, str, int | None]:
    """Monthly effects (pp) of the assumptions' contrast for ``employed`` and ``ww``, overall and by class,
    over months 1..horizon, from the fits given: each offers the outcomes its kind covers
    (:meth:`ww_bayes.kinds.protocol.ModelKind.effect_paths`: a trajectory fit both, a 12-month fit its
    month's effect held for ``fallback_effect_months``). Together they must cover each outcome once.

    Returns (dataset with ``overall`` (chain, draw, outcome, month) and ``by_werkverkenner``, class weights,
    a sentence saying where the effects came from, the months an effect held beyond the fits' own months
    lasts: the shortest of :attr:`ww_bayes.kinds.protocol.EffectPaths.lasts_for`, None when the fits give
    every month). ``names``: how errors call the fits (their files).
    Refuses fits of a kind or outcome month the analysis cannot use, and fits made on different data.
    """
    fits = [fits] if isinstance(fits, xr.DataTree) else list(fits)
    names = list(names) if names is not None else [f"fit {i + 1}" for i in range(len(fits))]
    months = range(1, assumptions.horizon_months + 1)
    data = {name: str(tree.attrs.get("data_sha256", "")) for name, tree in zip(names, fits, strict=True)}
    if len(set(data.values())) > 1:
        (first, sha), *others = data.items()
        other = next(name for name, value in others if value != sha)
        raise CostEffectivenessError(
            f"{first} and {other} were fit on different data (data SHA-256 {sha[:12]} vs "
            f"{data[other][:12]}); fit both on the same cohort file"
        )
    offered, used = [], []
    for name, tree in zip(names, fits, strict=True):
        kind = kind_of(tree)
        if not kind.offers_effect_paths and kind.offers_benefit_shares:
            continue  # its benefit months are priced apart (:func:`other_benefit_months`)
        if not kind.offers_effect_paths:
            raise CostEffectivenessError(f"{name}: a {kind.name!r} fit offers no monthly effects to the "
                                         "cost-effectiveness module")  # fmt: skip
        try:
            offered.append(
                kind.effect_paths(tree, assumptions.contrast, months, assumptions.fallback_effect_months)
            )
        except (ValueError, KeyError) as error:  # SpecError and the kind's own refusals
            raise CostEffectivenessError(f"{name}: {error}") from None
        used.append(name)
    names = used
    outcomes = [str(o) for item in offered for o in item.paths["outcome"].values]
    if sorted(outcomes) != ["employed", "ww"]:
        covered = ", ".join(
            f"{name}: {', '.join(map(str, item.paths['outcome'].values))}"
            for name, item in zip(names, offered, strict=True)
        )
        raise CostEffectivenessError(
            "the cost-effectiveness needs monthly effects on employed and ww, each from one fit: one "
            "trajectory fit, or two 12-month fits (jobs and WW receipt); the fits given cover "
            f"{covered or 'nothing'}"
        )
    paths = xr.concat([item.paths for item in offered], dim="outcome")
    sources = list(dict.fromkeys(item.source for item in offered))
    held = [item.lasts_for for item in offered if item.lasts_for is not None]
    return paths, offered[0].weights, "; ".join(sources), min(held, default=None)


# --- the pure functions ------------------------------------------------------------------------------------


def discount_factors(months: np.ndarray, annual_rate: float) -> xr.DataArray:
    """Present value of one euro in month ``m`` (end of month): ``(1 + r) ** (-m / 12)``."""
    months = np.asarray(months)
    return xr.DataArray((1 + annual_rate) ** (-months / 12), dims="month", coords={"month": months})


def draw_inputs(assumptions: Assumptions, sample: xr.DataArray) -> xr.Dataset:
    """One draw of every uncertain input per posterior draw (the sample dims of ``sample``)."""
    rng = np.random.default_rng(assumptions.seed)
    shape = tuple(sample.sizes[d] for d in SAMPLE_DIMS)
    n = int(np.prod(shape))

    def as_draws(values: np.ndarray) -> xr.DataArray:
        return xr.DataArray(
            values.reshape(shape), dims=SAMPLE_DIMS, coords={d: sample[d] for d in SAMPLE_DIMS}
        )

    inputs = xr.Dataset({name: as_draws(getattr(assumptions, name).draws(n, rng)) for name in MONTHLY_INPUTS})
    classes = list(assumptions.service_cost)
    costs = [as_draws(assumptions.service_cost[c].draws(n, rng)) for c in classes]
    inputs["service_cost"] = xr.concat(costs, dim=pd.Index(classes, name="werkverkenner"))
    if assumptions.other_benefit_monthly:  # drawn last: the other inputs' draws do not depend on them
        benefits = list(assumptions.other_benefit_monthly)
        amounts = [as_draws(assumptions.other_benefit_monthly[b].draws(n, rng)) for b in benefits]
        inputs["other_benefit_monthly"] = xr.concat(amounts, dim=pd.Index(benefits, name="benefit"))
    return inputs


def other_benefit_months(
    fits: list[xr.DataTree], assumptions: Assumptions, names: list[str], held_for: int | None = None
) -> BenefitMonths:
    """The extra months in other benefits per participant (:func:`ww_bayes.cea.benefit_months`) from the
    destinations fit among ``fits``, if any, over months 1..horizon, and only the benefits priced: every
    state besides WW and no benefit with any months needs its monthly amount in ``[other_benefits]``
    (refused, naming the states, otherwise); an ``other`` state that holds WW or no-benefit states is
    refused (it cannot be priced as one benefit). ``held_for``: the months the employment and WW effects
    last (12-month fits: ``fallback_effect_months``); the other benefits' months stop there too."""
    months = range(1, assumptions.horizon_months + 1)
    found = benefit_months(fits, assumptions.contrast, months, assumptions.other_benefits_beyond_last, names)
    if not found.uses_destinations:
        return found
    overall = found.months["overall"]
    states = [str(b) for b in overall["benefit"].values
              if str(b) not in NOT_OTHER_BENEFITS and bool((overall.sel(benefit=b) != 0).any())]  # fmt: skip
    mixed = sorted(set(found.other_members) & set(NOT_OTHER_BENEFITS))
    if "other" in states and mixed:
        raise SpecError(
            f"{found.fit}: its state 'other' merges states of {', '.join(found.other_members)}, among them "
            f"{', '.join(mixed)}: it cannot be priced as one other benefit; fit the destinations on a cohort "
            "where those states are not sparse, or without the merge"
        )
    unpriced = [b for b in states if b not in assumptions.other_benefit_monthly]
    if unpriced:
        raise SpecError(
            f"{assumptions.source}: {found.fit} has months in {', '.join(unpriced)} but [other_benefits] has "
            f"no monthly amount for them (it has: {', '.join(assumptions.other_benefit_monthly) or 'none'})"
        )
    priced = found.months.sel(benefit=states)
    source = found.source
    if held_for is not None and held_for < assumptions.horizon_months:
        priced = priced.where(priced["month"] <= held_for, 0.0)
        after = (f"months {held_for + 1}-{assumptions.horizon_months}: none, as the 12-month fits' "
                 "effects (fallback_effect_months)")  # fmt: skip
        source = f"{source}; {after}"
    return dataclasses.replace(found, months=priced, source=source)


def fiscal_benefits(
    effects_pp: xr.DataArray,
    inputs: xr.Dataset,
    discount: xr.DataArray,
    other_months: xr.DataArray | None = None,
) -> xr.Dataset:
    """Discounted benefits per participant (euros) from monthly effects (pp, with an ``outcome`` dim):
    ``ww_benefits_saved``, ``taxes_and_premiums`` and ``benefits`` (their sum). With ``other_months`` (extra
    persons per participant in each other benefit per month, dims ``benefit`` and ``month``: a destinations
    fit's) also ``other_benefits_paid`` (their months x ``other_benefit_monthly``), which ``benefits``
    subtracts.
    """
    ww_avoided = -(effects_pp.sel(outcome="ww", drop=True) / 100 * discount).sum("month")
    employed = (effects_pp.sel(outcome="employed", drop=True) / 100 * discount).sum("month")
    saved = ww_avoided * inputs["ww_benefit_monthly"]
    taxes = employed * inputs["earnings_monthly"] * inputs["tax_share"]
    out = xr.Dataset({"ww_benefits_saved": saved, "taxes_and_premiums": taxes, "benefits": saved + taxes})
    if other_months is not None:
        priced = other_months["benefit"].values
        amounts = inputs["other_benefit_monthly"].sel(benefit=priced) if len(priced) else 0.0  # none: 0
        paid = (other_months * discount * amounts).sum(["benefit", "month"])
        out["other_benefits_paid"] = paid
        out["benefits"] = saved + taxes - paid
    return out


def weighted_mean(by_class: xr.DataArray, weights: xr.DataArray) -> xr.DataArray:
    """Cohort-weighted mean over Werkverkenner classes."""
    return (by_class * weights).sum("werkverkenner") / weights.sum("werkverkenner")


def incremental_net_benefit(effect: xr.DataArray, net_cost: xr.DataArray, wtp: np.ndarray) -> xr.DataArray:
    """INB = k * effect - net cost, for each willingness to pay k (euros per unit of effect)."""
    k = xr.DataArray(np.asarray(wtp, float), dims="willingness_to_pay")
    return k * effect - net_cost


def ceac(inb: xr.DataArray) -> xr.DataArray:
    """Cost-effectiveness acceptability curve: P(INB > 0) at each willingness to pay."""
    return (inb > 0).mean(SAMPLE_DIMS)


def expected_incremental_benefit(inb: xr.DataArray) -> xr.DataArray:
    return inb.mean(SAMPLE_DIMS)


def evpi(inb: xr.DataArray) -> xr.DataArray:
    """Expected value of perfect information for a choice between two options (per participant)."""
    return np.maximum(inb, 0).mean(SAMPLE_DIMS) - np.maximum(inb.mean(SAMPLE_DIMS), 0)


def break_even_wtp(effect: xr.DataArray, net_cost: xr.DataArray) -> float:
    """The willingness to pay at which the expected incremental benefit is zero: E[net cost] / E[effect]
    (0 when the expected net cost is already negative; NaN when the expected effect is not positive)."""
    mean_cost, mean_effect = float(net_cost.mean()), float(effect.mean())
    if mean_cost <= 0:
        return 0.0
    return mean_cost / mean_effect if mean_effect > 0 else float("nan")


def targeting(net_benefit_by_class: xr.DataArray, weights: xr.DataArray) -> xr.Dataset:
    """Every targeting rule (a set of classes to serve): its net benefit per cohort participant (classes not
    served contribute zero), whether it is best per draw, and P(best). Rules are labelled like
    ``0-25+25-50`` (``none served`` for the empty rule).
    """
    classes = [str(c) for c in net_benefit_by_class["werkverkenner"].values]
    share = weights.sel(werkverkenner=classes) / weights.sel(werkverkenner=classes).sum()
    rules, masks = [], []
    for size in range(len(classes) + 1):
        for chosen in itertools.combinations(classes, size):
            rules.append("+".join(chosen) if chosen else "none served")
            masks.append([c in chosen for c in classes])
    mask = xr.DataArray(np.array(masks, float), dims=("rule", "werkverkenner"),
                        coords={"rule": rules, "werkverkenner": classes})  # fmt: skip
    value = (mask * share * net_benefit_by_class).sum("werkverkenner")
    best = value.argmax("rule")
    prob_best = xr.concat([(best == i).mean(SAMPLE_DIMS) for i in range(len(rules))], dim="rule")
    prob_best = prob_best.assign_coords(rule=rules)
    return xr.Dataset(
        {
            "rule_net_benefit": value,
            "rule_expected_net_benefit": value.mean(SAMPLE_DIMS),
            "rule_prob_best": prob_best,
            "rule_classes_served": mask.astype("int8"),
        }
    )


def _net_benefit_given(paths, weights, inputs, assumptions, other=None) -> tuple[xr.DataArray, xr.DataArray]:
    """(overall net benefit per participant, net benefit by class) for given input draws; ``other``: the
    months in other benefits (None: not priced)."""
    discount = discount_factors(paths["month"].values, assumptions.discount_rate_annual)
    other_by_class = None if other is None else other["by_werkverkenner"]
    by_class = fiscal_benefits(paths["by_werkverkenner"], inputs, discount, other_by_class)["benefits"]
    cost_by_class = inputs["service_cost"].sel(werkverkenner=by_class["werkverkenner"].values)
    nb_by_class = by_class - cost_by_class
    return weighted_mean(nb_by_class, weights), nb_by_class


def tornado(paths, weights, inputs, assumptions: Assumptions, other=None) -> xr.Dataset:
    """One-way sensitivity: expected net benefit per participant with each uncertain input at its 5% and
    95% quantile in turn (the others as drawn); ``other``: the months in other benefits (None: not
    priced, and their amounts are not varied)."""
    names, low, high = [], [], []
    priced = [] if other is None else [str(b) for b in other["benefit"].values]
    for name, value in assumptions.uncertain().items():
        by_level = re.fullmatch(r"(\w+)\[(.+)\]", name)  # one level of an input: service_cost[0-25]
        variable, level = by_level.groups() if by_level else (name, None)
        if variable == "other_benefit_monthly" and level not in priced:
            continue  # an amount the fit gives no months to price
        results = []
        for q in (0.05, 0.95):
            changed = inputs.copy()
            fixed = value.quantile(q)
            if level is None:
                changed[name] = xr.full_like(inputs[name], fixed)
            else:
                dim = next(d for d in inputs[variable].dims if d not in SAMPLE_DIMS)
                changed[variable] = inputs[variable].where(inputs[dim] != level, fixed)
            overall, _ = _net_benefit_given(paths, weights, changed, assumptions, other)
            results.append(float(overall.mean()))
        names.append(name)
        low.append(results[0])
        high.append(results[1])
    return xr.Dataset(
        {
            "tornado_net_benefit_at_q05": ("input", low),
            "tornado_net_benefit_at_q95": ("input", high),
            "tornado_input_q05": ("input", [assumptions.uncertain()[n].quantile(0.05) for n in names]),
            "tornado_input_q95": ("input", [assumptions.uncertain()[n].quantile(0.95) for n in names]),
        },
        coords={"input": names},
    )


def analyse(
    fits: xr.DataTree | list[xr.DataTree], assumptions: Assumptions, names: list[str] | None = None
) -> xr.Dataset:
    """The ``cost_effectiveness`` group: every derived array, per draw where it is uncertain. ``fits``: a
    trajectory fit, or a 12-month fit of jobs and one of WW receipt (see :func:`monthly_effects`), and
    optionally a destinations fit, whose extra months in other benefits are priced
    (:func:`other_benefit_months`; its draws paired with the effects' by position, as the posteriors are
    independent); ``names``: their files, for the errors."""
    fits = [fits] if isinstance(fits, xr.DataTree) else list(fits)
    names = list(names) if names is not None else [f"fit {i + 1}" for i in range(len(fits))]
    paths, weights, source, held_for = monthly_effects(fits, assumptions, names)
    other = other_benefit_months(fits, assumptions, names, held_for)
    other_months = None
    if other.uses_destinations:
        ours = set(map(str, paths["by_werkverkenner"]["werkverkenner"].values))
        theirs = set(map(str, other.months["by_werkverkenner"]["werkverkenner"].values))
        if ours != theirs:
            raise CostEffectivenessError(
                f"{other.fit} has Werkverkenner classes {sorted(theirs)}, the effects' fits "
                f"{sorted(ours)}: fit both with the same classes"
            )
        paths, other_months = paired_draws(paths, other.months)
        paired = "draws paired by position (the first chains and draws both fits keep)"
        other = dataclasses.replace(other, source=f"{other.source}; {paired}")
    classes = [str(c) for c in paths["by_werkverkenner"]["werkverkenner"].values]
    missing = sorted(set(classes) - set(assumptions.service_cost))
    if missing:
        raise SpecError(f"{assumptions.source}: service_cost has no entry for class(es) {', '.join(missing)}")
    weights = weights.sel(werkverkenner=classes)
    inputs = draw_inputs(assumptions, paths["overall"])
    discount = discount_factors(paths["month"].values, assumptions.discount_rate_annual)

    other_by_class = None if other_months is None else other_months["by_werkverkenner"]
    by_class = fiscal_benefits(paths["by_werkverkenner"], inputs, discount, other_by_class)
    cost_by_class = inputs["service_cost"].sel(werkverkenner=classes)
    overall = xr.Dataset({name: weighted_mean(by_class[name], weights) for name in by_class.data_vars})
    cost = weighted_mean(cost_by_class, weights)
    net_benefit = overall["benefits"] - cost
    extra_employed = (paths["overall"].sel(outcome="employed", drop=True) / 100 * discount).sum("month")
    extra_jobs_m12 = (
        paths["overall"].sel(outcome="employed", month=min(12, paths.sizes["month"]), drop=True) / 100
    )
    net_cost = cost - overall["benefits"]
    inb = incremental_net_benefit(extra_employed, net_cost, assumptions.willingness_to_pay)
    inb = inb.assign_coords(willingness_to_pay=assumptions.willingness_to_pay)

    out = xr.Dataset(
        {
            "incremental_cost": cost,
            "ww_benefits_saved": overall["ww_benefits_saved"],
            "taxes_and_premiums": overall["taxes_and_premiums"],
            "benefits": overall["benefits"],
            "net_benefit": net_benefit,
            "net_benefit_cohort": net_benefit * assumptions.cohort_size,
            "benefits_cohort": overall["benefits"] * assumptions.cohort_size,
            "cost_cohort": cost * assumptions.cohort_size,
            "benefit_cost_ratio": overall["benefits"] / cost,
            "cost_per_extra_job": (cost / extra_jobs_m12).where(extra_jobs_m12 > 0),
            "extra_employed_months": extra_employed,
            "net_cost": net_cost,
            "ceac": ceac(inb),
            "expected_incremental_benefit": expected_incremental_benefit(inb),
            "evpi": evpi(inb),
            "evpi_cohort": evpi(inb) * assumptions.cohort_size,
            "net_benefit_by_class": by_class["benefits"] - cost_by_class,
            "incremental_cost_by_class": cost_by_class,
            "benefits_by_class": by_class["benefits"],
            "class_weight": weights / weights.sum(),
        }
    )
    out = out.merge(targeting(out["net_benefit_by_class"], weights))
    if "other_benefits_paid" in overall:
        out["other_benefits_paid"] = overall["other_benefits_paid"]
    out = out.merge(tornado(paths, weights, inputs, assumptions, other_months))
    out["break_even_wtp"] = break_even_wtp(extra_employed, net_cost)
    out.attrs.update(
        {
            "contrast": assumptions.contrast,
            "effects_source": source,
            "other_benefits_source": other.source,
            "horizon_months": assumptions.horizon_months,
            "discount_rate_annual": assumptions.discount_rate_annual,
            "cohort_size": assumptions.cohort_size,
            "money_units": "euros per participant unless the name ends in _cohort; discounted",
            "effect_units": "extra employed months per participant (discounted)",
            "willingness_to_pay_units": "euros per extra employed month",
            "cost_per_extra_job": "incremental cost / extra persons in work at month 12",
            "assumptions_source": assumptions.source,
            "assumptions_text": assumptions.text,
            "synthetic_data": next(
                (
                    str(t.attrs["synthetic_data"])
                    for t in ([fits] if isinstance(fits, xr.DataTree) else fits)
                    if t.attrs.get("synthetic_data", "no") != "no"
                ),
                "no",
            ),
            "best_rule": str(out["rule"].values[int(out["rule_expected_net_benefit"].argmax("rule"))]),
        }
    )
    return out


#: The headline quantities per draw and which way each is good ("" where a probability has no meaning:
#: costs, the cost per job; the benefit-cost ratio exceeds 1 exactly when net benefit is positive, so it
#: has none of its own). Net cost (net benefit with the other sign) is not a headline.
HEADLINE = {
    "incremental_cost": "",
    "ww_benefits_saved": "more",
    "taxes_and_premiums": "more",
    "other_benefits_paid": "",
    "benefits": "more",
    "net_benefit": "more",
    "net_benefit_cohort": "more",
    "benefits_cohort": "more",
    "cost_cohort": "",
    "benefit_cost_ratio": "",
    "cost_per_extra_job": "",
    "extra_employed_months": "more",
}


def summary(result: xr.Dataset, prob: float = 0.9) -> pd.DataFrame:
    """The headline numbers (:data:`HEADLINE`): posterior mean and equal-tailed interval (labelled, e.g.
    ``eti90_lb``), and where it means something the probability the quantity is on its good side
    (``prob_beneficial``: P(net benefit > 0) is the probability the service pays for itself). Draws where a
    ratio is undefined (NaN: cost per extra job without extra jobs) are left out of its mean and interval,
    and counted in ``n_undefined``.
    """
    label = interval_label("eti", prob)
    rows = []
    for name, good in HEADLINE.items():
        if name not in result or set(result[name].dims) != set(SAMPLE_DIMS):
            continue
        values = result[name]
        bounds = values.quantile([(1 - prob) / 2, (1 + prob) / 2], dim=SAMPLE_DIMS, skipna=True).values
        rows.append(
            {
                "quantity": name,
                "mean": float(values.mean(skipna=True)),
                f"{label}_lb": float(bounds[0]),
                f"{label}_ub": float(bounds[1]),
                "prob_beneficial": float((values > 0).mean()) if good else float("nan"),
                "n_undefined": int(values.isnull().sum()),
            }
        )
    return pd.DataFrame(rows)


def targeting_table(result: xr.Dataset, top: int | None = None) -> pd.DataFrame:
    """Targeting rules by expected net benefit per cohort participant, with P(best)."""
    table = pd.DataFrame(
        {
            "rule": result["rule"].values,
            "expected_net_benefit": result["rule_expected_net_benefit"].values,
            "prob_best": result["rule_prob_best"].values,
        }
    ).sort_values("expected_net_benefit", ascending=False, ignore_index=True)
    return table.head(top) if top else table
