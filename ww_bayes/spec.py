"""Model specifications: ``models/*.toml`` read into a typed, validated :class:`ModelSpec`.

Unknown keys and bad values raise :class:`SpecError` naming the key (``sampler.chains``), so a typo in a
spec never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from scipy.special import expit

from ww_bayes.schema import HEADLINE_OUTCOMES, MONTHS, OUTCOME_PREFIXES, month_column

POOLING_CHOICES = ("partial", "none", "full")
COMPONENTS = ("baseline", "service", "enforcement")
EFFECT_COMPONENTS = ("service", "enforcement")
GROUP_FACTORS = ("werkverkenner", "region")
SAMPLERS = ("nutpie", "pymc")
ADAPTATIONS = ("diag", "low_rank")
INTERVAL_KINDS = ("eti", "hdi")
#: The arm whose logit rate is the ``baseline`` component of a 12-month model (see :mod:`ww_bayes.model`).
ANCHORS = ("service", "control_none")
#: Components whose partially pooled deviations are centred: the baseline is pinned down by tens of
#: thousands of persons per class and region, where centring samples far better. Effects are non-centred.
CENTRED = ("baseline",)


#: Degrees of freedom of the trajectory curves' monthly steps (Student-t): heavy tails let a curve jump
#: (enforcement acting in months 6-11 only) without loosening the smoothing everywhere else.
STEP_NU = 3.0


class SpecError(ValueError):
    """A model specification with an unknown key or a bad value."""


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


@dataclass(frozen=True)
class SamplerSettings:
    chains: int = 4
    draws: int = 1000
    tune: int = 1000
    target_accept: float = 0.9
    seed: int = 1
    sampler: str = "nutpie"
    #: nutpie's mass-matrix adaptation: "diag" (diagonal) or "low_rank" (diagonal plus a low-rank correction
    #: for correlated parameters); ignored by PyMC's NUTS
    adaptation: str = "diag"


@dataclass(frozen=True)
class ConvergenceThresholds:
    max_rhat: float = 1.01
    min_ess_bulk: float = 400
    min_ess_tail: float = 400
    max_divergences: int = 0
    #: E-BFMI of every chain at least this (below 0.3 the momentum resampling explores the energy poorly)
    min_bfmi: float = 0.3
    #: share of draws whose trajectory stopped at the sampler's maximum tree depth at most this
    max_treedepth_share: float = 0.01


class _SpecCommon:
    """What every spec kind offers: sampler overrides and the interval label."""

    def with_sampler(self, **settings):
        """A copy with some sampler settings replaced (e.g. short chains in tests)."""
        return dataclasses.replace(self, sampler=dataclasses.replace(self.sampler, **settings))

    @property
    def interval_label(self) -> str:
        """Column prefix of the credible interval, e.g. ``eti90`` (kind and probability)."""
        return f"{self.interval_kind}{round(100 * self.interval_prob)}"


@dataclass(frozen=True)
class ModelSpec(_SpecCommon):
    """A typed model specification of one outcome month (``kind = "effects"``, the default)."""

    name: str
    description: str
    outcome: str
    groups: tuple[str, ...]
    pooling: dict[str, dict[str, str]]
    priors: dict[str, ComponentPrior]
    smallest_effect_pp: float
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    convergence: ConvergenceThresholds = field(default_factory=ConvergenceThresholds)
    interval_kind: str = "eti"
    interval_prob: float = 0.9
    text: str = ""
    source: str = "<string>"
    anchor: str = "service"

    def with_pooling(self, pooling: str | dict[str, str | dict[str, str]]) -> ModelSpec:
        """A copy with other pooling: one choice for all, or per component (and per factor)."""
        if isinstance(pooling, str):
            pooling = dict.fromkeys(COMPONENTS, pooling)
        merged = {c: dict(self.pooling[c]) for c in COMPONENTS}
        for component, choice in pooling.items():
            merged[component].update(_pooling_of(f"pooling.{component}", choice, self.groups))
        return dataclasses.replace(self, pooling=merged)

    kind = "effects"

    def describe_priors(self) -> str:
        """The priors in words, with what they imply on the percentage-point scale."""
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
                    centring = "centred" if component in CENTRED else "non-centred"
                    text = f"partial pooling, sd ~ HalfNormal({prior.group_sd:g}), {centring}, sum to zero"
                elif pooling == "none":
                    text = f"no pooling, deviations ~ ZeroSumNormal({prior.unpooled_sd:g}), fixed sd"
                else:
                    text = "full pooling, one common value"
                lines.append(f"    by {factor}: {text}")
        return "\n".join(lines)


@dataclass(frozen=True)
class BaselinePrior:
    """Trajectory baseline: Normal(mu, sigma) per outcome, class and month (logit); half-normal scale of
    the sd of time-constant region deviations (used when region is among the groups).
    """

    mu: float
    sigma: float
    region_sd: float


@dataclass(frozen=True)
class CurvePrior:
    """Priors of one effect curve over months (logit scale).

    The common curve starts at month 1 with Normal(``start_mu``, ``start_sigma``) and moves by monthly steps
    whose sd has a HalfNormal(``step_sd``) prior. Class deviation curves (partial pooling): month-1 sd
    ~ HalfNormal(``group_sd``), step sd ~ HalfNormal(``group_step_sd``); no pooling uses the fixed
    ``unpooled_sd`` and ``unpooled_step_sd``. ``region_sd``: half-normal scale of the sd of the
    time-constant region deviations.
    """

    start_mu: float
    start_sigma: float
    step_sd: float
    group_sd: float
    group_step_sd: float
    unpooled_sd: float
    unpooled_step_sd: float
    region_sd: float


@dataclass(frozen=True)
class TrajectorySpec(_SpecCommon):
    """A month-by-month effect model (``kind = "trajectory"``). Build with :func:`load_spec`."""

    name: str
    description: str
    outcomes: tuple[str, ...]
    months: tuple[int, int]
    groups: tuple[str, ...]
    pooling: dict[str, dict[str, str]]
    baseline: BaselinePrior
    priors: dict[str, CurvePrior]
    smallest_effect_pp: float
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    convergence: ConvergenceThresholds = field(default_factory=ConvergenceThresholds)
    interval_kind: str = "eti"
    interval_prob: float = 0.9
    text: str = ""
    source: str = "<string>"

    kind = "trajectory"

    @property
    def outcome(self) -> str:
        """The outcomes as one label (provenance), e.g. ``employed_m1-30, ww_m1-30``."""
        first, last = self.months
        return ", ".join(f"{o}_m{first}-{last}" for o in self.outcomes)

    @property
    def month_list(self) -> tuple[int, ...]:
        return tuple(range(self.months[0], self.months[1] + 1))

    def describe_priors(self) -> str:
        """The priors in words (logit scale)."""
        b = self.baseline
        lines = [
            f"Priors of {self.name} (logit scale), months {self.months[0]}-{self.months[1]}:",
            f"  baseline: Normal({b.mu:g}, {b.sigma:g}) per outcome, class and month",
        ]
        if "region" in self.groups:
            lines.append(f"    by region: time-constant, partial pooling, sd ~ HalfNormal({b.region_sd:g})")
        for component in EFFECT_COMPONENTS:
            p = self.priors[component]
            lines.append(
                f"  {component}: common curve, month 1 ~ Normal({p.start_mu:g}, {p.start_sigma:g}), "
                f"random-walk steps ~ StudentT({STEP_NU:g}) x sd, sd ~ HalfNormal({p.step_sd:g})"
            )
            for factor in self.groups:
                pooling = self.pooling[component][factor]
                if factor == "werkverkenner" and pooling == "partial":
                    text = (f"class curves partially pooled: month-1 sd ~ HalfNormal({p.group_sd:g}), "
                            f"step sd ~ HalfNormal({p.group_step_sd:g}), sum to zero")  # fmt: skip
                elif factor == "werkverkenner" and pooling == "none":
                    text = f"class curves unpooled: fixed sds {p.unpooled_sd:g} and {p.unpooled_step_sd:g}"
                elif pooling == "partial":
                    text = f"time-constant, partial pooling, sd ~ HalfNormal({p.region_sd:g})"
                elif pooling == "none":
                    text = f"time-constant, no pooling, fixed sd {p.unpooled_sd:g}"
                else:
                    text = "full pooling, one common curve"
                lines.append(f"    by {factor}: {text}")
        return "\n".join(lines)


_TOP_KEYS = {
    "name",
    "description",
    "outcome",
    "groups",
    "smallest_effect_pp",
    "pooling",
    "priors",
    "sampler",
    "convergence",
    "summary",
    "kind",
    "anchor",
}
_REQUIRED_TOP = ("name", "outcome", "groups", "smallest_effect_pp", "pooling", "priors")


def _unknown(section: str, given: dict, known) -> None:
    extra = sorted(set(given) - set(known))
    if extra:
        where = f"{section}." if section else ""
        raise SpecError(
            f"unknown key '{where}{extra[0]}'"
            + (f" (and {', '.join(map(repr, extra[1:]))})" if len(extra) > 1 else "")
            + f"; known keys: {', '.join(sorted(known))}"
        )


def _number(key: str, value, *, low=None, high=None, integer=False, open_low=False) -> float:
    ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok_type:
        kind = "an integer" if integer else "a number"
        raise SpecError(f"{key!r} must be {kind}, got {value!r}")
    if low is not None and (value <= low if open_low else value < low):
        raise SpecError(f"{key!r} must be {'>' if open_low else '>='} {low}, got {value!r}")
    if high is not None and value > high:
        raise SpecError(f"{key!r} must be <= {high}, got {value!r}")
    return value


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


def _pooling_of(key: str, choice, groups: tuple[str, ...]) -> dict[str, str]:
    if isinstance(choice, str):
        choice = dict.fromkeys(groups, choice)
    if not isinstance(choice, dict):
        raise SpecError(f"{key!r} must be one of {POOLING_CHOICES} or a table per factor, got {choice!r}")
    _unknown(key, choice, groups)
    for factor, value in choice.items():
        if value not in POOLING_CHOICES:
            raise SpecError(f"'{key}.{factor}' must be one of {', '.join(POOLING_CHOICES)}, got {value!r}")
    return dict(choice)


def _prior(component: str, table) -> ComponentPrior:
    key = f"priors.{component}"
    if not isinstance(table, dict):
        raise SpecError(f"{key!r} must be a table")
    _unknown(key, table, ("mean", "group_sd", "unpooled_sd"))
    for required in ("mean", "group_sd", "unpooled_sd"):
        if required not in table:
            raise SpecError(f"missing key '{key}.{required}'")
    mean = table["mean"]
    if not isinstance(mean, dict):
        raise SpecError(f"'{key}.mean' must be a table {{ mu = ..., sigma = ... }}")
    _unknown(f"{key}.mean", mean, ("mu", "sigma"))
    return ComponentPrior(
        mean_mu=_number(f"{key}.mean.mu", mean.get("mu", 0.0)),
        mean_sigma=_number(f"{key}.mean.sigma", mean.get("sigma"), low=0, open_low=True),
        group_sd=_number(f"{key}.group_sd", table["group_sd"], low=0, open_low=True),
        unpooled_sd=_number(f"{key}.unpooled_sd", table["unpooled_sd"], low=0, open_low=True),
    )


def parse_spec(text: str, source: str = "<string>") -> ModelSpec | TrajectorySpec:
    """Parse and validate the TOML text of a model specification (either kind)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{source}: not valid TOML: {error}") from error
    try:
        kind = raw.get("kind", "effects")
        if kind not in SPEC_KINDS:
            raise SpecError(f"'kind' must be one of {', '.join(SPEC_KINDS)}, got {kind!r}")
        return SPEC_KINDS[kind](raw, text, source)
    except SpecError as error:
        raise SpecError(f"{source}: {error}") from None


def _groups(raw: dict) -> tuple[str, ...]:
    groups = raw["groups"]
    if (
        not isinstance(groups, list)
        or not all(g in GROUP_FACTORS for g in groups)
        or len(set(groups)) != len(groups)
    ):
        raise SpecError(f"'groups' must be a list drawn from {list(GROUP_FACTORS)}, got {groups!r}")
    return tuple(groups)


def _pooling(raw: dict, components: tuple[str, ...], groups: tuple[str, ...]) -> dict[str, dict[str, str]]:
    pooling_raw = raw["pooling"]
    if not isinstance(pooling_raw, dict):
        raise SpecError("'pooling' must be a table")
    _unknown("pooling", pooling_raw, components)
    pooling = {c: _pooling_of(f"pooling.{c}", pooling_raw.get(c, "partial"), groups) for c in components}
    return {c: {g: pooling[c].get(g, "partial") for g in groups} for c in components}


def _priors_table(raw: dict, components: tuple[str, ...]) -> dict:
    priors_raw = raw["priors"]
    if not isinstance(priors_raw, dict):
        raise SpecError("'priors' must be a table")
    _unknown("priors", priors_raw, components)
    missing = [c for c in components if c not in priors_raw]
    if missing:
        raise SpecError(f"missing key 'priors.{missing[0]}'")
    return priors_raw


def _sampler(raw: dict) -> SamplerSettings:
    sampler_raw = raw.get("sampler", {})
    _unknown("sampler", sampler_raw, [f.name for f in dataclasses.fields(SamplerSettings)])
    defaults = SamplerSettings()

    def integer(key: str, low: int) -> int:
        return int(
            _number(f"sampler.{key}", sampler_raw.get(key, getattr(defaults, key)), low=low, integer=True)
        )

    sampler = SamplerSettings(
        chains=integer("chains", 1),
        draws=integer("draws", 1),
        tune=integer("tune", 0),
        target_accept=_number(
            "sampler.target_accept",
            sampler_raw.get("target_accept", defaults.target_accept),
            low=0,
            high=0.999,
            open_low=True,
        ),
        seed=integer("seed", 0),
        sampler=sampler_raw.get("sampler", defaults.sampler),
        adaptation=sampler_raw.get("adaptation", defaults.adaptation),
    )
    if sampler.sampler not in SAMPLERS:
        raise SpecError(f"'sampler.sampler' must be one of {', '.join(SAMPLERS)}, got {sampler.sampler!r}")
    if sampler.adaptation not in ADAPTATIONS:
        raise SpecError(
            f"'sampler.adaptation' must be one of {', '.join(ADAPTATIONS)}, got {sampler.adaptation!r}"
        )
    return sampler


def _convergence(raw: dict) -> ConvergenceThresholds:
    conv_raw = raw.get("convergence", {})
    _unknown("convergence", conv_raw, [f.name for f in dataclasses.fields(ConvergenceThresholds)])
    defaults = ConvergenceThresholds()

    def value(key: str, low: float, integer: bool = False):
        return _number(
            f"convergence.{key}", conv_raw.get(key, getattr(defaults, key)), low=low, integer=integer
        )

    return ConvergenceThresholds(
        max_rhat=value("max_rhat", 1),
        min_ess_bulk=value("min_ess_bulk", 0),
        min_ess_tail=value("min_ess_tail", 0),
        max_divergences=int(value("max_divergences", 0, integer=True)),
        min_bfmi=value("min_bfmi", 0),
        max_treedepth_share=value("max_treedepth_share", 0),
    )


def _common(raw: dict, text: str, source: str) -> dict:
    """The settings every spec kind shares, as keyword arguments."""
    summary_raw = raw.get("summary", {})
    _unknown("summary", summary_raw, ("interval_kind", "interval_prob"))
    interval_kind = summary_raw.get("interval_kind", "eti")
    if interval_kind not in INTERVAL_KINDS:
        raise SpecError(f"'summary.interval_kind' must be one of {INTERVAL_KINDS}, got {interval_kind!r}")
    interval_prob = _number(
        "summary.interval_prob", summary_raw.get("interval_prob", 0.9), low=0, high=0.999, open_low=True
    )
    name = raw["name"]
    if not isinstance(name, str) or not name:
        raise SpecError(f"'name' must be a non-empty string, got {name!r}")
    return {
        "name": name,
        "description": str(raw.get("description", "")),
        "smallest_effect_pp": _number("smallest_effect_pp", raw["smallest_effect_pp"], low=0, open_low=True),
        "sampler": _sampler(raw),
        "convergence": _convergence(raw),
        "interval_kind": interval_kind,
        "interval_prob": float(interval_prob),
        "text": text,
        "source": source,
    }


def _required(raw: dict, known: set[str], required: tuple[str, ...]) -> None:
    _unknown("", raw, known)
    for key in required:
        if key not in raw:
            raise SpecError(f"missing key {key!r}")


def _build(raw: dict, text: str, source: str) -> ModelSpec:
    _required(raw, _TOP_KEYS, _REQUIRED_TOP)
    groups = _groups(raw)
    priors_raw = _priors_table(raw, COMPONENTS)
    anchor = raw.get("anchor", "service")
    if anchor not in ANCHORS:
        raise SpecError(f"'anchor' must be one of {', '.join(ANCHORS)}, got {anchor!r}")
    return ModelSpec(
        anchor=anchor,
        outcome=_outcome(raw["outcome"]),
        groups=groups,
        pooling=_pooling(raw, COMPONENTS, groups),
        priors={c: _prior(c, priors_raw[c]) for c in COMPONENTS},
        **_common(raw, text, source),
    )


_TRAJECTORY_TOP = (_TOP_KEYS - {"outcome"}) | {"outcomes", "months"}
_TRAJECTORY_REQUIRED = ("name", "outcomes", "months", "groups", "smallest_effect_pp", "pooling", "priors")
_CURVE_KEYS = (
    "start",
    "step_sd",
    "group_sd",
    "group_step_sd",
    "unpooled_sd",
    "unpooled_step_sd",
    "region_sd",
)


def _curve_prior(component: str, table) -> CurvePrior:
    key = f"priors.{component}"
    if not isinstance(table, dict):
        raise SpecError(f"{key!r} must be a table")
    _unknown(key, table, _CURVE_KEYS)
    for required in _CURVE_KEYS:
        if required not in table:
            raise SpecError(f"missing key '{key}.{required}'")
    start = table["start"]
    if not isinstance(start, dict):
        raise SpecError(f"'{key}.start' must be a table {{ mu = ..., sigma = ... }}")
    _unknown(f"{key}.start", start, ("mu", "sigma"))
    positive = {k: _number(f"{key}.{k}", table[k], low=0, open_low=True) for k in _CURVE_KEYS[1:]}
    return CurvePrior(
        start_mu=_number(f"{key}.start.mu", start.get("mu", 0.0)),
        start_sigma=_number(f"{key}.start.sigma", start.get("sigma"), low=0, open_low=True),
        **positive,
    )


def _baseline_prior(table) -> BaselinePrior:
    if not isinstance(table, dict):
        raise SpecError("'priors.baseline' must be a table")
    _unknown("priors.baseline", table, ("mu", "sigma", "region_sd"))
    for required in ("mu", "sigma", "region_sd"):
        if required not in table:
            raise SpecError(f"missing key 'priors.baseline.{required}'")
    return BaselinePrior(
        mu=_number("priors.baseline.mu", table["mu"]),
        sigma=_number("priors.baseline.sigma", table["sigma"], low=0, open_low=True),
        region_sd=_number("priors.baseline.region_sd", table["region_sd"], low=0, open_low=True),
    )


def _build_trajectory(raw: dict, text: str, source: str) -> TrajectorySpec:
    _required(raw, _TRAJECTORY_TOP, _TRAJECTORY_REQUIRED)
    outcomes = raw["outcomes"]
    if not isinstance(outcomes, list) or not outcomes or not set(outcomes) <= set(OUTCOME_PREFIXES):
        raise SpecError(f"'outcomes' must be a list drawn from {list(OUTCOME_PREFIXES)}, got {outcomes!r}")
    months = raw["months"]
    if (
        not isinstance(months, list)
        or len(months) != 2
        or not all(isinstance(m, int) and m in MONTHS for m in months)
        or months[1] - months[0] < 2
    ):
        raise SpecError(
            f"'months' must be [first, last] in 1..{MONTHS[-1]}, at least 3 months apart; got {months!r}"
        )
    groups = _groups(raw)
    if "werkverkenner" not in groups:
        raise SpecError(f"'groups' must include 'werkverkenner' (the class curves), got {list(groups)!r}")
    priors_raw = _priors_table(raw, COMPONENTS)
    return TrajectorySpec(
        outcomes=tuple(dict.fromkeys(outcomes)),
        months=(months[0], months[1]),
        groups=groups,
        pooling=_pooling(raw, EFFECT_COMPONENTS, groups),
        baseline=_baseline_prior(priors_raw["baseline"]),
        priors={c: _curve_prior(c, priors_raw[c]) for c in EFFECT_COMPONENTS},
        **_common(raw, text, source),
    )


#: ``kind`` in a spec file -> its parser.
SPEC_KINDS = {"effects": _build, "trajectory": _build_trajectory}


def load_spec(path: str | os.PathLike) -> ModelSpec | TrajectorySpec:
    """Read and validate a model specification file (``models/*.toml``)."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such model specification")
    return parse_spec(path.read_text(encoding="utf-8"), source=str(path))
