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
GROUP_FACTORS = ("werkverkenner", "region")
SAMPLERS = ("nutpie", "pymc")
INTERVAL_KINDS = ("eti", "hdi")
#: Components whose partially pooled deviations are centred: the baseline is pinned down by tens of
#: thousands of persons per class and region, where centring samples far better. Effects are non-centred.
CENTRED = ("baseline",)


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


@dataclass(frozen=True)
class ConvergenceThresholds:
    max_rhat: float = 1.01
    min_ess_bulk: float = 400
    min_ess_tail: float = 400
    max_divergences: int = 0


@dataclass(frozen=True)
class ModelSpec:
    """A typed model specification. Build with :func:`load_spec` or :func:`parse_spec`."""

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

    def with_sampler(self, **settings) -> ModelSpec:
        """A copy with some sampler settings replaced (e.g. short chains in tests)."""
        return dataclasses.replace(self, sampler=dataclasses.replace(self.sampler, **settings))

    def with_pooling(self, pooling: str | dict[str, str | dict[str, str]]) -> ModelSpec:
        """A copy with other pooling: one choice for all, or per component (and per factor)."""
        if isinstance(pooling, str):
            pooling = dict.fromkeys(COMPONENTS, pooling)
        merged = {c: dict(self.pooling[c]) for c in COMPONENTS}
        for component, choice in pooling.items():
            merged[component].update(_pooling_of(f"pooling.{component}", choice, self.groups))
        return dataclasses.replace(self, pooling=merged)

    @property
    def interval_label(self) -> str:
        """Column prefix of the credible interval, e.g. ``eti90`` (kind and probability)."""
        return f"{self.interval_kind}{round(100 * self.interval_prob)}"

    def describe_priors(self) -> str:
        """The priors in words, with what they imply on the percentage-point scale."""
        base = self.priors["baseline"]
        reference = float(expit(base.mean_mu))
        lines = [f"Priors of {self.name} (logit scale; pp implied at a baseline rate of {reference:.0%}):"]
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


def parse_spec(text: str, source: str = "<string>") -> ModelSpec:
    """Parse and validate the TOML text of a model specification."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{source}: not valid TOML: {error}") from error
    try:
        return _build(raw, text, source)
    except SpecError as error:
        raise SpecError(f"{source}: {error}") from None


def _build(raw: dict, text: str, source: str) -> ModelSpec:
    _unknown("", raw, _TOP_KEYS)
    for key in _REQUIRED_TOP:
        if key not in raw:
            raise SpecError(f"missing key {key!r}")
    groups = raw["groups"]
    if (
        not isinstance(groups, list)
        or not all(g in GROUP_FACTORS for g in groups)
        or len(set(groups)) != len(groups)
    ):
        raise SpecError(f"'groups' must be a list drawn from {list(GROUP_FACTORS)}, got {groups!r}")
    groups = tuple(groups)

    pooling_raw = raw["pooling"]
    if not isinstance(pooling_raw, dict):
        raise SpecError("'pooling' must be a table")
    _unknown("pooling", pooling_raw, COMPONENTS)
    pooling = {c: _pooling_of(f"pooling.{c}", pooling_raw.get(c, "partial"), groups) for c in COMPONENTS}
    for component in COMPONENTS:
        pooling[component] = {g: pooling[component].get(g, "partial") for g in groups}

    priors_raw = raw["priors"]
    if not isinstance(priors_raw, dict):
        raise SpecError("'priors' must be a table")
    _unknown("priors", priors_raw, COMPONENTS)
    missing = [c for c in COMPONENTS if c not in priors_raw]
    if missing:
        raise SpecError(f"missing key 'priors.{missing[0]}'")
    priors = {c: _prior(c, priors_raw[c]) for c in COMPONENTS}

    sampler_raw = raw.get("sampler", {})
    _unknown("sampler", sampler_raw, [f.name for f in dataclasses.fields(SamplerSettings)])
    defaults = SamplerSettings()
    sampler = SamplerSettings(
        chains=int(
            _number("sampler.chains", sampler_raw.get("chains", defaults.chains), low=1, integer=True)
        ),
        draws=int(_number("sampler.draws", sampler_raw.get("draws", defaults.draws), low=1, integer=True)),
        tune=int(_number("sampler.tune", sampler_raw.get("tune", defaults.tune), low=0, integer=True)),
        target_accept=_number(
            "sampler.target_accept",
            sampler_raw.get("target_accept", defaults.target_accept),
            low=0,
            high=0.999,
            open_low=True,
        ),
        seed=int(_number("sampler.seed", sampler_raw.get("seed", defaults.seed), low=0, integer=True)),
        sampler=sampler_raw.get("sampler", defaults.sampler),
    )
    if sampler.sampler not in SAMPLERS:
        raise SpecError(f"'sampler.sampler' must be one of {', '.join(SAMPLERS)}, got {sampler.sampler!r}")

    conv_raw = raw.get("convergence", {})
    _unknown("convergence", conv_raw, [f.name for f in dataclasses.fields(ConvergenceThresholds)])
    conv_defaults = ConvergenceThresholds()
    convergence = ConvergenceThresholds(
        max_rhat=_number("convergence.max_rhat", conv_raw.get("max_rhat", conv_defaults.max_rhat), low=1),
        min_ess_bulk=_number(
            "convergence.min_ess_bulk", conv_raw.get("min_ess_bulk", conv_defaults.min_ess_bulk), low=0
        ),
        min_ess_tail=_number(
            "convergence.min_ess_tail", conv_raw.get("min_ess_tail", conv_defaults.min_ess_tail), low=0
        ),
        max_divergences=int(
            _number(
                "convergence.max_divergences",
                conv_raw.get("max_divergences", conv_defaults.max_divergences),
                low=0,
                integer=True,
            )
        ),
    )

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
    return ModelSpec(
        name=name,
        description=str(raw.get("description", "")),
        outcome=_outcome(raw["outcome"]),
        groups=groups,
        pooling=pooling,
        priors=priors,
        smallest_effect_pp=_number("smallest_effect_pp", raw["smallest_effect_pp"], low=0, open_low=True),
        sampler=sampler,
        convergence=convergence,
        interval_kind=interval_kind,
        interval_prob=float(interval_prob),
        text=text,
        source=source,
    )


def load_spec(path: str | os.PathLike) -> ModelSpec:
    """Read and validate a model specification file (``models/*.toml``)."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such model specification")
    return parse_spec(path.read_text(encoding="utf-8"), source=str(path))
