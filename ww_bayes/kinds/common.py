"""What every model kind's specification shares: sampler settings, convergence thresholds, the interval
and the grouping factors, parsed from the TOML with errors that name the key.

A kind's own spec dataclass (:class:`ww_bayes.kinds.effects.EffectsSpec`,
:class:`ww_bayes.kinds.trajectory.TrajectorySpec`, ...) adds its outcome and priors and inherits
:class:`SpecCommon`. The grouping factors are whatever columns a spec names (``groups``): the data decide
whether they exist.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ww_bayes.derived import DIRECTIONS
from ww_bayes.kinds.pooling import (
    AUTO,
    CENTRED_BELOW,
    HALF_NORMAL,
    NON_CENTRED,
    PARAMETRIZATION_CHOICES,
    WEAK_DATA_FORMS,
)
from ww_bayes.tomlspec import SpecError, identifier, number, reject_unknown, require
from ww_bayes.vocabulary import INTERVAL_KINDS, interval_label

POOLING_CHOICES = ("partial", "none", "full")
#: The linear-predictor components: the anchor arm's rate and the two effects.
COMPONENTS = ("baseline", "service", "enforcement")
EFFECT_COMPONENTS = ("service", "enforcement")
#: Columns a spec cannot group by: the arm (the contrasts are between arms) and the person's id.
NOT_FACTORS = ("arm", "person_id")
SAMPLERS = ("nutpie", "pymc")
ADAPTATIONS = ("diag", "low_rank")
#: Top-level keys every kind accepts.
COMMON_KEYS = {"name", "description", "groups", "smallest_effect_pp", "pooling", "priors", "sampler",
               "convergence", "summary", "kind", "output", "good_direction", "centred_below",
               "weak_data_form"}  # fmt: skip
#: Spec fields a compiled model does not depend on (the rest, the levels and the cell count, it does).
#: (The rule's threshold is not: the model depends on the forms it chose, which the fit records.)
NOT_STRUCTURE = ("name", "description", "sampler", "convergence", "text", "source", "interval_kind",
                 "interval_prob", "smallest_effect_pp", "output", "good_direction",
                 "centred_below", "weak_data_form")  # fmt: skip
#: Options a spec gained after studies and fits were keyed on its content, with their defaults: at the
#: default they are left out of the keys (:func:`keyed_fields`), so a spec that does not set them keeps its
#: study folders, benchmark rows and fit files; top-level keys, and ``priors.<component>.<key>`` ones.
DEFAULT_OPTIONS = {"weak_data_form": NON_CENTRED}
DEFAULT_PRIOR_OPTIONS = {"group_sd_prior": HALF_NORMAL, "rule_group_sd": None}


def keyed_fields(fields: dict) -> dict:
    """A spec's fields (``dataclasses.asdict``) as keys read them: the options of :data:`DEFAULT_OPTIONS` and
    :data:`DEFAULT_PRIOR_OPTIONS` left out where they hold their default."""
    keyed = {k: v for k, v in fields.items() if not (k in DEFAULT_OPTIONS and v == DEFAULT_OPTIONS[k])}
    priors = keyed.get("priors")
    if isinstance(priors, dict):
        keyed["priors"] = {
            component: {k: v for k, v in prior.items()
                        if k not in DEFAULT_PRIOR_OPTIONS or v != DEFAULT_PRIOR_OPTIONS[k]}
            if isinstance(prior, dict) else prior
            for component, prior in priors.items()
        }  # fmt: skip
    return keyed


#: Heavy per-cell groups a fit file leaves out unless asked (``[output] keep`` / ``--keep``); each can be
#: recomputed from the fit and its cohort (:mod:`ww_bayes.recompute`).
OPTIONAL_GROUPS = ("posterior_predictive", "log_likelihood", "rate")


@dataclass(frozen=True)
class SamplerSettings:
    chains: int = 4
    draws: int = 1000
    tune: int = 1000
    target_accept: float = 0.9
    #: the target acceptance instead of ``target_accept`` when the parametrization rule centred a factor the
    #: spec left to the data ("auto"; a baseline's too): centred deviations pinned down by strong data take
    #: smaller steps (:func:`ww_bayes.inference.sampler_for`); 0: ``target_accept`` whatever the rule chose;
    #: else at least ``target_accept``
    target_accept_centred: float = 0.0
    seed: int = 1
    sampler: str = "nutpie"
    #: nutpie's mass-matrix adaptation: "diag" (diagonal) or "low_rank" (diagonal plus a low-rank correction
    #: for correlated parameters); ignored by PyMC's NUTS
    adaptation: str = "diag"
    #: CPU cores the chains run on (0: all); calibration studies run one sampler per core (``cores = 1``)
    cores: int = 0


#: Sampler settings added after study folders and benchmark results were first stored, with their defaults:
#: left out of what those results are keyed by while at the default (:func:`sampler_fields`), so the
#: results made before a setting existed still match.
LATER_SAMPLER_DEFAULTS = {"target_accept_centred": 0.0}


def sampler_fields(sampler: SamplerSettings) -> dict:
    """The sampler settings as a study or a benchmark keys its results by: every field, less those of
    :data:`LATER_SAMPLER_DEFAULTS` at their default."""
    fields = dataclasses.asdict(sampler)
    return {k: v for k, v in fields.items() if LATER_SAMPLER_DEFAULTS.get(k, object()) != v}


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


@dataclass(frozen=True)
class OutputSettings:
    """What a fit file stores (``[output]`` in the spec): at most ``draws`` draws per chain, thinned evenly
    from the sampler's (0: all), and the optional heavy groups in ``keep`` (:data:`OPTIONAL_GROUPS`)."""

    draws: int = 1000
    keep: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class SpecCommon:
    """The fields and helpers every spec kind shares (keyword-only, so a kind's spec dataclass adds its own
    fields freely): the keyword arguments :func:`common_settings` returns. A kind's spec also has a class
    attribute ``kind`` (its registry name) and a property or field ``outcome`` (a label for the file)."""

    name: str
    description: str = ""
    groups: tuple[str, ...] = ()
    smallest_effect_pp: float
    #: which way an effect is good: one of :data:`ww_bayes.derived.DIRECTIONS` for the spec's outcome, or a
    #: table per outcome (a trajectory: ``{ employed = "more", ww = "less" }``); "none" where no direction
    #: is good (e.g. a share in sickness benefit)
    good_direction: str | dict[str, str] = "none"
    #: the rule's threshold for the factors whose form is chosen from the data (``"auto"``): centred where
    #: the shrinkage ``E[kappa]`` is below it (:func:`ww_bayes.kinds.pooling.choose_parametrization`)
    centred_below: float = CENTRED_BELOW
    #: the form the rule takes where the shrinkage is at or above ``centred_below``: "non-centred" or
    #: "half-centred" (:data:`ww_bayes.kinds.pooling.WEAK_DATA_FORMS`), one for every component or a table
    #: per component (non-centred for a component not named)
    weak_data_form: str | dict[str, str] = NON_CENTRED
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    convergence: ConvergenceThresholds = field(default_factory=ConvergenceThresholds)
    output: OutputSettings = field(default_factory=OutputSettings)
    interval_kind: str = "eti"
    interval_prob: float = 0.9
    text: str = ""
    source: str = "<string>"

    def with_sampler(self, **settings):
        """A copy with some sampler settings replaced (e.g. short chains in tests)."""
        return dataclasses.replace(self, sampler=dataclasses.replace(self.sampler, **settings))

    def with_output(self, **settings):
        """A copy with some output settings replaced, checked (e.g. ``keep=("log_likelihood",)``)."""
        output = dataclasses.replace(self.output, **settings)
        check_output(output, "output")
        return dataclasses.replace(self, output=output)

    @property
    def interval_label(self) -> str:
        """Column prefix of the credible interval, e.g. ``eti90`` (kind and probability)."""
        return interval_label(self.interval_kind, self.interval_prob)


def pooling_of(key: str, choice, groups: tuple[str, ...]) -> dict[str, str]:
    """One pooling choice for every factor, or a table per factor, checked."""
    if isinstance(choice, str):
        choice = dict.fromkeys(groups, choice)
    if not isinstance(choice, dict):
        raise SpecError(f"{key!r} must be one of {POOLING_CHOICES} or a table per factor, got {choice!r}")
    reject_unknown(key, choice, groups)
    for factor, value in choice.items():
        if value not in POOLING_CHOICES:
            raise SpecError(f"'{key}.{factor}' must be one of {', '.join(POOLING_CHOICES)}, got {value!r}")
    return dict(choice)


def parse_groups(raw: dict) -> tuple[str, ...]:
    """The grouping factors: distinct column names (e.g. ``["werkverkenner", "region"]``); whether the data
    hold them is checked when the data are read."""
    groups = raw["groups"]
    if (
        not isinstance(groups, list)
        or not all(isinstance(g, str) and g.isidentifier() for g in groups)
        or len(set(groups)) != len(groups)
    ):
        raise SpecError(f"'groups' must be a list of distinct column names, e.g. ['werkverkenner', "
                        f"'region'], got {groups!r}")  # fmt: skip
    bad = [g for g in groups if g in NOT_FACTORS]
    if bad:
        raise SpecError(f"'groups': {bad[0]!r} cannot be a grouping factor (the effects contrast the arms)")
    return tuple(groups)


def parse_pooling(
    raw: dict, components: tuple[str, ...], groups: tuple[str, ...]
) -> dict[str, dict[str, str]]:
    pooling_raw = raw["pooling"]
    if not isinstance(pooling_raw, dict):
        raise SpecError("'pooling' must be a table")
    reject_unknown("pooling", pooling_raw, components)
    pooling = {c: pooling_of(f"pooling.{c}", pooling_raw.get(c, "partial"), groups) for c in components}
    return {c: {g: pooling[c].get(g, "partial") for g in groups} for c in components}


class ComponentForms:
    """What a spec with one ``pooling`` and one ``parametrization`` table (component -> factor -> choice, over
    :data:`COMPONENTS` and its ``groups``) offers for the forms of its partially pooled deviations."""

    def with_parametrization(self, forms: str | dict[str, str | dict[str, str]]):
        """A copy asking for other parametrizations: one choice (``"centred"``, ``"half-centred"``,
        ``"non-centred"``, ``"auto"``) for every partially pooled component and factor, per component
        (its partially pooled factors) or per component and factor; what is not given stays as asked."""
        if isinstance(forms, str):
            forms = dict.fromkeys(COMPONENTS, forms)
        merged: dict[str, str | dict[str, str]] = {}
        for component in COMPONENTS:
            choice = forms.get(component, {})
            asked = {f: self.asked(component, f) for f in self.groups}
            merged[component] = choice if isinstance(choice, str) else {**asked, **choice}
        asked = parse_parametrization({"parametrization": merged}, COMPONENTS, self.groups, self.pooling)
        return dataclasses.replace(self, parametrization=asked)

    def asked(self, component: str, factor: str) -> str:
        """The parametrization the spec asks for a component and factor: a form, or "auto"."""
        return self.parametrization.get(component, {}).get(factor, AUTO)


def parse_parametrization(
    raw: dict, components: tuple[str, ...], groups: tuple[str, ...], pooling: dict[str, dict[str, str]]
) -> dict[str, dict[str, str]]:
    """``[parametrization]``: how partially pooled deviations are written, for every component and factor
    (``parametrization = "centred"``), per component (``service = "centred"``: its partially pooled
    factors) or per factor (``service = { region = "non-centred" }``): one of
    :data:`ww_bayes.kinds.pooling.PARAMETRIZATION_CHOICES` ("non_centred" is read as "non-centred"), "auto"
    (chosen from the data) where not given. Only a partially pooled factor takes a form other than "auto"."""
    table = raw.get("parametrization", {})
    if isinstance(table, str):
        table = dict.fromkeys(components, table)
    if not isinstance(table, dict):
        raise SpecError(f"'parametrization' must be one of {', '.join(PARAMETRIZATION_CHOICES)} or a table")
    reject_unknown("parametrization", table, components)
    chosen = {}
    for component in components:
        key = f"parametrization.{component}"
        value = table.get(component, AUTO)
        if isinstance(value, str):
            value = {g: value for g in groups if pooling[component][g] == "partial"}
        if not isinstance(value, dict):
            raise SpecError(f"{key!r} must be one of {', '.join(PARAMETRIZATION_CHOICES)} or a table per "
                            f"factor, got {value!r}")  # fmt: skip
        reject_unknown(key, value, groups)
        value = {
            factor: form.replace("_", "-") if isinstance(form, str) else form
            for factor, form in value.items()
        }
        for factor, form in value.items():
            if form not in PARAMETRIZATION_CHOICES:
                raise SpecError(f"'{key}.{factor}' must be one of {', '.join(PARAMETRIZATION_CHOICES)}, "
                                f"got {form!r}")  # fmt: skip
            pooled = pooling[component][factor]
            if form != AUTO and pooled != "partial":
                raise SpecError(f"'{key}.{factor}': only partially pooled deviations are centred or not; "
                                f"'pooling.{component}.{factor}' is {pooled!r}")  # fmt: skip
        chosen[component] = {factor: value.get(factor, AUTO) for factor in groups}
    return chosen


def priors_table(raw: dict, components: tuple[str, ...]) -> dict:
    priors_raw = raw["priors"]
    if not isinstance(priors_raw, dict):
        raise SpecError("'priors' must be a table")
    reject_unknown("priors", priors_raw, components)
    missing = [c for c in components if c not in priors_raw]
    if missing:
        raise SpecError(f"missing key 'priors.{missing[0]}'")
    return priors_raw


def mean_table(key: str, table: dict) -> tuple[float, float]:
    """``{ mu = ..., sigma = ... }`` at ``key``: (mu, sigma > 0); mu defaults to 0."""
    if not isinstance(table, dict):
        raise SpecError(f"{key!r} must be a table {{ mu = ..., sigma = ... }}")
    reject_unknown(key, table, ("mu", "sigma"))
    return (
        number(f"{key}.mu", table.get("mu", 0.0)),
        number(f"{key}.sigma", table.get("sigma"), low=0, open_low=True),
    )


def _weak_data_form(raw: dict) -> str | dict[str, str]:
    """``weak_data_form``: one form, or a table component -> form."""
    value = raw.get("weak_data_form", NON_CENTRED)
    table = value if isinstance(value, dict) else {"": value}
    if isinstance(value, dict):
        reject_unknown("weak_data_form", table, COMPONENTS)
    for component, form in table.items():
        if form not in WEAK_DATA_FORMS:
            key = f"weak_data_form.{component}" if component else "weak_data_form"
            raise SpecError(f"'{key}' must be one of {', '.join(WEAK_DATA_FORMS)}, got {form!r}")
    return dict(value) if isinstance(value, dict) else value


def _sampler(raw: dict) -> SamplerSettings:
    sampler_raw = raw.get("sampler", {})
    reject_unknown("sampler", sampler_raw, [f.name for f in dataclasses.fields(SamplerSettings)])
    defaults = SamplerSettings()

    def integer(key: str, low: int) -> int:
        return int(
            number(f"sampler.{key}", sampler_raw.get(key, getattr(defaults, key)), low=low, integer=True)
        )

    sampler = SamplerSettings(
        chains=integer("chains", 1),
        draws=integer("draws", 1),
        tune=integer("tune", 0),
        target_accept=number(
            "sampler.target_accept",
            sampler_raw.get("target_accept", defaults.target_accept),
            low=0,
            high=0.999,
            open_low=True,
        ),
        target_accept_centred=number(
            "sampler.target_accept_centred",
            sampler_raw.get("target_accept_centred", defaults.target_accept_centred),
            low=0,
            high=0.999,
        ),
        seed=integer("seed", 0),
        sampler=sampler_raw.get("sampler", defaults.sampler),
        adaptation=sampler_raw.get("adaptation", defaults.adaptation),
        cores=integer("cores", 0),
    )
    if sampler.target_accept_centred and sampler.target_accept_centred < sampler.target_accept:
        raise SpecError(
            f"'sampler.target_accept_centred' must be 0 (off) or at least sampler.target_accept "
            f"({sampler.target_accept:g}: it is for smaller steps), got {sampler.target_accept_centred:g}"
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
    reject_unknown("convergence", conv_raw, [f.name for f in dataclasses.fields(ConvergenceThresholds)])
    defaults = ConvergenceThresholds()

    def value(key: str, low: float, integer: bool = False):
        return number(
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


def check_output(output: OutputSettings, key: str = "output") -> None:
    unknown = [g for g in output.keep if g not in OPTIONAL_GROUPS]
    if unknown:
        raise SpecError(
            f"'{key}.keep': {', '.join(map(repr, unknown))} is not a group a fit can keep; choose from "
            f"{', '.join(OPTIONAL_GROUPS)}"
        )
    if isinstance(output.draws, bool) or not isinstance(output.draws, int) or output.draws < 0:
        raise SpecError(f"'{key}.draws' must be a whole number of at least 0 (0: all), got {output.draws!r}")


def _output(raw: dict) -> OutputSettings:
    output_raw = raw.get("output", {})
    if not isinstance(output_raw, dict):
        raise SpecError("'output' must be a table")
    reject_unknown("output", output_raw, ("draws", "keep"))
    keep = output_raw.get("keep", [])
    if not isinstance(keep, list) or not all(isinstance(k, str) for k in keep):
        raise SpecError(f"'output.keep' must be a list of group names, got {keep!r}")
    draws = output_raw.get("draws", OutputSettings.draws)
    output = OutputSettings(draws=draws, keep=tuple(dict.fromkeys(keep)))
    check_output(output)
    return output


def parse_direction(raw: dict) -> str | dict[str, str]:
    """``good_direction``: one of :data:`ww_bayes.derived.DIRECTIONS`, or a table of them per outcome."""
    value = raw.get("good_direction", "none")
    items = value.items() if isinstance(value, dict) else [("", value)]
    for outcome, direction in items:
        if direction not in DIRECTIONS:
            key = f"good_direction.{outcome}" if outcome else "good_direction"
            raise SpecError(f"{key!r} must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    return dict(value) if isinstance(value, dict) else value


def common_settings(raw: dict, text: str, source: str, known: set[str], required: tuple[str, ...]) -> dict:
    """Check the top-level keys (``known``, ``required``) and parse the settings every spec kind shares,
    as keyword arguments of the kind's spec dataclass."""
    reject_unknown("", raw, known)
    require("", raw, required)
    summary_raw = raw.get("summary", {})
    reject_unknown("summary", summary_raw, ("interval_kind", "interval_prob"))
    interval_kind = summary_raw.get("interval_kind", "eti")
    if interval_kind not in INTERVAL_KINDS:
        raise SpecError(f"'summary.interval_kind' must be one of {INTERVAL_KINDS}, got {interval_kind!r}")
    interval_prob = number(
        "summary.interval_prob", summary_raw.get("interval_prob", 0.9), low=0, high=0.999, open_low=True
    )
    name = identifier("name", raw["name"])
    return {
        "name": name,
        "description": str(raw.get("description", "")),
        "groups": parse_groups(raw),
        "smallest_effect_pp": number("smallest_effect_pp", raw["smallest_effect_pp"], low=0, open_low=True),
        "good_direction": parse_direction(raw),
        "centred_below": float(
            number("centred_below", raw.get("centred_below", CENTRED_BELOW), low=0, high=1)
        ),
        "weak_data_form": _weak_data_form(raw),
        "sampler": _sampler(raw),
        "convergence": _convergence(raw),
        "output": _output(raw),
        "interval_kind": interval_kind,
        "interval_prob": float(interval_prob),
        "text": text,
        "source": source,
    }
