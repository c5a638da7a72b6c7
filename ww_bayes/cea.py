"""Cost-effectiveness from posterior draws: pure functions over labelled draws, one result group.

Compute once, plot many (BCEA's design): :func:`analyse` turns a fit's effect draws and the assumptions in
``models/cost_effectiveness.toml`` into one ``xarray.Dataset`` (the ``cost_effectiveness`` group) with every
derived array; the plots in :mod:`ww_bayes.plots` only read it. All money is in euros per participant
unless a name says ``cohort``; effects are months per participant.

For one contrast (by default service vs control_enforcement: the extra investment in personal service):

- incremental cost = service execution cost (by Werkverkenner class);
- benefits = WW benefits saved (WW months avoided x monthly benefit) + taxes and premiums on extra
  earnings (extra employed months x monthly earnings x tax share), each month discounted;
- net benefit = benefits - cost; benefit-cost ratio = benefits / cost;
- the CE plane puts effect (extra employed months) against net cost (cost - benefits); at willingness to
  pay ``k`` euros per extra employed month the incremental net benefit is ``INB = k * effect - net cost``;
  the CEAC is P(INB > 0), the EIB is E[INB], EVPI is E[max(INB, 0)] - max(E[INB], 0);
- per class net benefit, the value of every targeting rule (which classes to serve) and P(rule is best).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import truncnorm

from ww_bayes.effects import SAMPLE_DIMS
from ww_bayes.schema import CONTRASTS
from ww_bayes.spec import SpecError, _number, _unknown

MONTHLY_INPUTS = ("ww_benefit_monthly", "earnings_monthly", "tax_share")


@dataclass(frozen=True)
class Uncertain:
    """A normal assumption cut at zero: ``mean`` and ``sd`` (sd 0: a fixed number)."""

    mean: float
    sd: float = 0.0

    def quantile(self, q: float) -> float:
        if self.sd == 0:
            return self.mean
        low = -self.mean / self.sd
        return float(truncnorm.ppf(q, low, np.inf, loc=self.mean, scale=self.sd))

    def draws(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if self.sd == 0:
            return np.full(n, self.mean)
        low = -self.mean / self.sd
        return truncnorm.rvs(low, np.inf, loc=self.mean, scale=self.sd, size=n, random_state=rng)


@dataclass(frozen=True)
class Assumptions:
    """The assumptions of ``models/cost_effectiveness.toml`` (see the file for sources)."""

    service_cost: dict[str, Uncertain]
    ww_benefit_monthly: Uncertain
    earnings_monthly: Uncertain
    tax_share: Uncertain
    willingness_to_pay: np.ndarray
    contrast: str = "service_vs_control_enforcement"
    horizon_months: int = 30
    discount_rate_annual: float = 0.0225
    cohort_size: int = 143_872
    fallback_effect_months: int = 18
    seed: int = 2019
    name: str = "cost_effectiveness"
    text: str = field(default="", repr=False)
    source: str = "<string>"

    def replace(self, **changes) -> Assumptions:
        return dataclasses.replace(self, **changes)

    def uncertain(self) -> dict[str, Uncertain]:
        """Every uncertain input by name (class costs as ``service_cost[<class>]``)."""
        named = {f"service_cost[{c}]": u for c, u in self.service_cost.items()}
        named.update({name: getattr(self, name) for name in MONTHLY_INPUTS})
        return named


_KEYS = {"name", "contrast", "horizon_months", "discount_rate_annual", "cohort_size", "seed",
         "fallback_effect_months", "service_cost", *MONTHLY_INPUTS, "willingness_to_pay"}  # fmt: skip


def _uncertain(key: str, value) -> Uncertain:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Uncertain(_number(key, value, low=0))
    if not isinstance(value, dict):
        raise SpecError(f"{key!r} must be a number or a table {{ mean = ..., sd = ... }}, got {value!r}")
    _unknown(key, value, ("mean", "sd"))
    if "mean" not in value:
        raise SpecError(f"missing key '{key}.mean'")
    return Uncertain(
        _number(f"{key}.mean", value["mean"], low=0), _number(f"{key}.sd", value.get("sd", 0), low=0)
    )


def parse_assumptions(text: str, source: str = "<string>") -> Assumptions:
    """Parse and validate the TOML text of the cost-effectiveness assumptions."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{source}: not valid TOML: {error}") from error
    try:
        _unknown("", raw, _KEYS)
        for key in ("service_cost", *MONTHLY_INPUTS, "willingness_to_pay"):
            if key not in raw:
                raise SpecError(f"missing key {key!r}")
        if raw.get("contrast", "service_vs_control_enforcement") not in CONTRASTS:
            raise SpecError(f"'contrast' must be one of {', '.join(CONTRASTS)}, got {raw['contrast']!r}")
        costs = raw["service_cost"]
        if not isinstance(costs, dict) or not costs:
            raise SpecError("'service_cost' must be a table with one entry per Werkverkenner class")
        grid = raw["willingness_to_pay"]
        _unknown("willingness_to_pay", grid, ("per_extra_employed_month",))
        steps = grid.get("per_extra_employed_month", {})
        _unknown("willingness_to_pay.per_extra_employed_month", steps, ("start", "stop", "step"))
        key = "willingness_to_pay.per_extra_employed_month"
        start = _number(f"{key}.start", steps.get("start", 0), low=0)
        stop = _number(f"{key}.stop", steps.get("stop"), low=start, open_low=True)
        step = _number(f"{key}.step", steps.get("step"), low=0, open_low=True)
        return Assumptions(
            service_cost={str(c): _uncertain(f"service_cost.{c}", v) for c, v in costs.items()},
            ww_benefit_monthly=_uncertain("ww_benefit_monthly", raw["ww_benefit_monthly"]),
            earnings_monthly=_uncertain("earnings_monthly", raw["earnings_monthly"]),
            tax_share=_uncertain("tax_share", raw["tax_share"]),
            willingness_to_pay=np.arange(start, stop + step / 2, step, dtype=float),
            contrast=raw.get("contrast", "service_vs_control_enforcement"),
            horizon_months=int(_number("horizon_months", raw.get("horizon_months", 30), low=1, integer=True)),
            discount_rate_annual=_number(
                "discount_rate_annual", raw.get("discount_rate_annual", 0.0225), low=0
            ),
            cohort_size=int(_number("cohort_size", raw.get("cohort_size", 143_872), low=1, integer=True)),
            fallback_effect_months=int(
                _number("fallback_effect_months", raw.get("fallback_effect_months", 18), low=1, integer=True)
            ),
            seed=int(_number("seed", raw.get("seed", 2019), low=0, integer=True)),
            name=str(raw.get("name", "cost_effectiveness")),
            text=text,
            source=source,
        )
    except SpecError as error:
        raise SpecError(f"{source}: {error}") from None


def load_assumptions(path: str | os.PathLike) -> Assumptions:
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such assumptions file")
    return parse_assumptions(path.read_text(encoding="utf-8"), source=str(path))


# --- effects in: monthly pp paths per draw ------------------------------------------------------------------


def fit_weights(fit: xr.DataTree) -> xr.DataArray:
    """The cohort composition a fit was weighted with (persons per group cell), with its labels (the
    constant_data group also labels cells by class, so the labels are taken from the posterior)."""
    weights = fit["constant_data"].ds["n_persons"]
    labels = {dim: fit["posterior"].ds[dim].values for dim in weights.dims if dim not in weights.indexes}
    return weights.assign_coords(labels)


def monthly_effects(tree: xr.DataTree, assumptions: Assumptions) -> tuple[xr.Dataset, xr.DataArray, str]:
    """Monthly effects (pp) of the assumptions' contrast for ``employed`` and ``ww``, overall and by class,
    over months 1..horizon, from a trajectory fit or (fallback) from a pair of 12-month fits.

    ``tree`` is a trajectory fit, or a DataTree with children ``employed`` and ``ww`` holding 12-month fits.
    Returns (dataset with ``overall`` (chain, draw, outcome, month) and ``by_werkverkenner``, class weights,
    a sentence saying where the effects came from).
    """
    months = np.arange(1, assumptions.horizon_months + 1)
    if "trajectory" in tree.children:
        ds = tree["trajectory"].ds
        last = int(ds["month"].max())
        if assumptions.horizon_months > last:
            raise ValueError(
                f"horizon_months {assumptions.horizon_months} is beyond the fit's last month {last}"
            )
        paths = xr.Dataset(
            {
                level: ds[f"effect_pp_{level}"].sel(contrast=assumptions.contrast, month=months, drop=True)
                for level in ("overall", "by_werkverkenner")
            }
        )
        return paths, fit_weights(tree), f"trajectory fit, months 1-{assumptions.horizon_months}"
    held = np.where(months <= assumptions.fallback_effect_months, 1.0, 0.0)
    window = xr.DataArray(held, dims="month", coords={"month": months})
    levels = {}
    for level in ("overall", "by_werkverkenner"):
        parts = [
            tree[outcome]["effects"].ds[f"effect_pp_{level}"].sel(contrast=assumptions.contrast, drop=True)
            for outcome in ("employed", "ww")
        ]
        levels[level] = xr.concat(parts, dim=pd.Index(["employed", "ww"], name="outcome")) * window
    weights = fit_weights(tree["employed"])
    if "region" in weights.dims:
        weights = weights.sum("region")
    source = (f"12-month fits: the month-12 effect held for months 1-{assumptions.fallback_effect_months} "
              "(assumption), zero after")  # fmt: skip
    return xr.Dataset(levels), weights, source


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
    return inputs


def fiscal_benefits(effects_pp: xr.DataArray, inputs: xr.Dataset, discount: xr.DataArray) -> xr.Dataset:
    """Discounted benefits per participant (euros) from monthly effects (pp, with an ``outcome`` dim):
    ``ww_benefits_saved``, ``taxes_and_premiums`` and ``benefits`` (their sum).
    """
    ww_avoided = -(effects_pp.sel(outcome="ww", drop=True) / 100 * discount).sum("month")
    employed = (effects_pp.sel(outcome="employed", drop=True) / 100 * discount).sum("month")
    saved = ww_avoided * inputs["ww_benefit_monthly"]
    taxes = employed * inputs["earnings_monthly"] * inputs["tax_share"]
    return xr.Dataset({"ww_benefits_saved": saved, "taxes_and_premiums": taxes, "benefits": saved + taxes})


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


def _net_benefit_given(paths, weights, inputs, assumptions) -> tuple[xr.DataArray, xr.DataArray]:
    """(overall net benefit per participant, net benefit by class) for given input draws."""
    discount = discount_factors(paths["month"].values, assumptions.discount_rate_annual)
    by_class = fiscal_benefits(paths["by_werkverkenner"], inputs, discount)["benefits"]
    cost_by_class = inputs["service_cost"].sel(werkverkenner=by_class["werkverkenner"].values)
    nb_by_class = by_class - cost_by_class
    return weighted_mean(nb_by_class, weights), nb_by_class


def tornado(paths, weights, inputs, assumptions: Assumptions) -> xr.Dataset:
    """One-way sensitivity: expected net benefit per participant with each uncertain input at its 5% and
    95% quantile in turn (the others as drawn)."""
    names, low, high = [], [], []
    for name, value in assumptions.uncertain().items():
        results = []
        for q in (0.05, 0.95):
            changed = inputs.copy()
            fixed = value.quantile(q)
            if name.startswith("service_cost["):
                level = name[len("service_cost[") : -1]
                changed["service_cost"] = inputs["service_cost"].where(
                    inputs["werkverkenner"] != level, fixed
                )
            else:
                changed[name] = xr.full_like(inputs[name], fixed)
            overall, _ = _net_benefit_given(paths, weights, changed, assumptions)
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


def analyse(tree: xr.DataTree, assumptions: Assumptions) -> xr.Dataset:
    """The ``cost_effectiveness`` group: every derived array, per draw where it is uncertain."""
    paths, weights, source = monthly_effects(tree, assumptions)
    classes = [str(c) for c in paths["by_werkverkenner"]["werkverkenner"].values]
    missing = sorted(set(classes) - set(assumptions.service_cost))
    if missing:
        raise SpecError(f"{assumptions.source}: service_cost has no entry for class(es) {', '.join(missing)}")
    weights = weights.sel(werkverkenner=classes)
    inputs = draw_inputs(assumptions, paths["overall"])
    discount = discount_factors(paths["month"].values, assumptions.discount_rate_annual)

    by_class = fiscal_benefits(paths["by_werkverkenner"], inputs, discount)
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
    out = out.merge(tornado(paths, weights, inputs, assumptions))
    out["break_even_wtp"] = break_even_wtp(extra_employed, net_cost)
    out.attrs.update(
        {
            "contrast": assumptions.contrast,
            "effects_source": source,
            "horizon_months": assumptions.horizon_months,
            "discount_rate_annual": assumptions.discount_rate_annual,
            "cohort_size": assumptions.cohort_size,
            "money_units": "euros per participant unless the name ends in _cohort; discounted",
            "effect_units": "extra employed months per participant (discounted)",
            "willingness_to_pay_units": "euros per extra employed month",
            "cost_per_extra_job": "incremental cost / extra persons in work at month 12",
            "assumptions_source": assumptions.source,
            "assumptions_text": assumptions.text,
            "best_rule": str(out["rule"].values[int(out["rule_expected_net_benefit"].argmax("rule"))]),
        }
    )
    return out


def summary(result: xr.Dataset, prob: float = 0.9) -> pd.DataFrame:
    """The headline numbers: posterior mean and equal-tailed interval (labelled, e.g. ``eti90_lb``) of each
    scalar per draw. Draws where a ratio is undefined (NaN: cost per extra job without extra jobs) are left
    out of its mean and interval, and counted in ``n_undefined``.
    """
    label = f"eti{round(100 * prob)}"
    rows = []
    for name, values in result.data_vars.items():
        if set(values.dims) != set(SAMPLE_DIMS):
            continue
        bounds = values.quantile([(1 - prob) / 2, (1 + prob) / 2], dim=SAMPLE_DIMS, skipna=True).values
        rows.append(
            {
                "quantity": name,
                "mean": float(values.mean(skipna=True)),
                f"{label}_lb": float(bounds[0]),
                f"{label}_ub": float(bounds[1]),
                "prob_positive": float((values > 0).mean()),
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
