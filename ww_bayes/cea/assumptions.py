"""The cost-effectiveness assumptions (``models/cost_effectiveness.toml``), typed and checked."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import truncnorm

from ww_bayes.data.schema import CONTRASTS
from ww_bayes.tomlspec import SpecError, identifier, number, read_text, read_toml, reject_unknown

MONTHLY_INPUTS = ("ww_benefit_monthly", "earnings_monthly", "tax_share")
#: What months after the last one a destinations fit observes assume (``[other_benefits] beyond_last``).
BEYOND_LAST = ("hold", "none")
#: States of a destinations fit that are not priced as other benefits: WW (``ww_benefit_monthly``) and no
#: benefit.
NOT_OTHER_BENEFITS = ("ww", "none")
#: The other benefits ``[other_benefits]`` may price: a destinations fit's benefit statuses besides WW and
#: none, and ``other``, the state a fit merges sparse states into.
OTHER_BENEFITS = ("zw", "wia", "bijstand", "other")


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
    #: Monthly amount of each other benefit (ZW, WIA, bijstand, or a fit's merged ``other``), euros, priced
    #: when a destinations fit is given (``[other_benefits]``; empty: none given).
    other_benefit_monthly: dict[str, Uncertain] = field(default_factory=dict)
    other_benefits_beyond_last: str = "hold"
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
        named.update({f"other_benefit_monthly[{b}]": u for b, u in self.other_benefit_monthly.items()})
        return named


_KEYS = {"name", "contrast", "horizon_months", "discount_rate_annual", "cohort_size", "seed",
         "fallback_effect_months", "service_cost", *MONTHLY_INPUTS, "willingness_to_pay",
         "other_benefits"}  # fmt: skip


def _uncertain(key: str, value) -> Uncertain:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Uncertain(number(key, value, low=0))
    if not isinstance(value, dict):
        raise SpecError(f"{key!r} must be a number or a table {{ mean = ..., sd = ... }}, got {value!r}")
    reject_unknown(key, value, ("mean", "sd"))
    if "mean" not in value:
        raise SpecError(f"missing key '{key}.mean'")
    return Uncertain(
        number(f"{key}.mean", value["mean"], low=0), number(f"{key}.sd", value.get("sd", 0), low=0)
    )


def _other_benefits(raw) -> tuple[dict[str, Uncertain], str]:
    """The ``[other_benefits]`` table: ``beyond_last`` and a monthly amount per benefit."""
    if raw is None:
        return {}, "hold"
    if not isinstance(raw, dict):
        raise SpecError(f"'other_benefits' must be a table of monthly amounts per benefit, got {raw!r}")
    beyond_last = raw.get("beyond_last", "hold")
    if beyond_last not in BEYOND_LAST:
        raise SpecError(f"'other_benefits.beyond_last' must be one of {', '.join(BEYOND_LAST)}, got "
                        f"{beyond_last!r}")  # fmt: skip
    amounts = {}
    for benefit, value in raw.items():
        if benefit == "beyond_last":
            continue
        key = f"other_benefits.{identifier('other_benefits key', benefit)}"
        if benefit in NOT_OTHER_BENEFITS:
            raise SpecError(f"{key!r}: {benefit} is not an other benefit (WW is priced by "
                            "ww_benefit_monthly; none is no benefit)")  # fmt: skip
        if benefit not in OTHER_BENEFITS:
            raise SpecError(f"{key!r}: not a benefit a destinations fit has; the other benefits are "
                            f"{', '.join(OTHER_BENEFITS)}")  # fmt: skip
        amounts[benefit] = _uncertain(key, value)
    return amounts, beyond_last


def parse_assumptions(text: str, source: str = "<string>") -> Assumptions:
    """Parse and validate the TOML text of the cost-effectiveness assumptions."""
    raw = read_toml(text, source)
    try:
        reject_unknown("", raw, _KEYS)
        for key in ("service_cost", *MONTHLY_INPUTS, "willingness_to_pay"):
            if key not in raw:
                raise SpecError(f"missing key {key!r}")
        if raw.get("contrast", "service_vs_control_enforcement") not in CONTRASTS:
            raise SpecError(f"'contrast' must be one of {', '.join(CONTRASTS)}, got {raw['contrast']!r}")
        costs = raw["service_cost"]
        if not isinstance(costs, dict) or not costs:
            raise SpecError("'service_cost' must be a table with one entry per Werkverkenner class")
        grid = raw["willingness_to_pay"]
        reject_unknown("willingness_to_pay", grid, ("per_extra_employed_month",))
        steps = grid.get("per_extra_employed_month", {})
        reject_unknown("willingness_to_pay.per_extra_employed_month", steps, ("start", "stop", "step"))
        key = "willingness_to_pay.per_extra_employed_month"
        start = number(f"{key}.start", steps.get("start", 0), low=0)
        stop = number(f"{key}.stop", steps.get("stop"), low=start, open_low=True)
        step = number(f"{key}.step", steps.get("step"), low=0, open_low=True)
        other, beyond_last = _other_benefits(raw.get("other_benefits"))
        return Assumptions(
            service_cost={str(c): _uncertain(f"service_cost.{c}", v) for c, v in costs.items()},
            ww_benefit_monthly=_uncertain("ww_benefit_monthly", raw["ww_benefit_monthly"]),
            earnings_monthly=_uncertain("earnings_monthly", raw["earnings_monthly"]),
            tax_share=_uncertain("tax_share", raw["tax_share"]),
            willingness_to_pay=np.arange(start, stop + step / 2, step, dtype=float),
            contrast=raw.get("contrast", "service_vs_control_enforcement"),
            horizon_months=int(number("horizon_months", raw.get("horizon_months", 30), low=1, integer=True)),
            discount_rate_annual=number(
                "discount_rate_annual", raw.get("discount_rate_annual", 0.0225), low=0
            ),
            cohort_size=int(number("cohort_size", raw.get("cohort_size", 143_872), low=1, integer=True)),
            fallback_effect_months=int(
                number("fallback_effect_months", raw.get("fallback_effect_months", 18), low=1, integer=True)
            ),
            other_benefit_monthly=other,
            other_benefits_beyond_last=beyond_last,
            seed=int(number("seed", raw.get("seed", 2019), low=0, integer=True)),
            name=identifier("name", raw.get("name", "cost_effectiveness")),
            text=text,
            source=source,
        )
    except SpecError as error:
        raise SpecError(f"{source}: {error}") from None


def load_assumptions(path: str | os.PathLike) -> Assumptions:
    """Read and validate an assumptions file (``models/cost_effectiveness.toml``, or the shipped copy by its
    name ``cost_effectiveness``)."""
    return parse_assumptions(read_text(path, "assumptions file"), source=str(path))
