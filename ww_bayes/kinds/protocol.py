"""The interface every model kind implements, and the data it hands to the rest of ww_bayes.

A model kind turns a cohort into cells (:meth:`ModelKind.prepare`), cells into a PyMC model
(:meth:`ModelKind.build`), posterior draws into its estimands (:meth:`ModelKind.derive`) and says what the
consumers need: what it observes (:mod:`ww_bayes.kinds.observations`), the variables of its derived group
and their roles (:mod:`ww_bayes.derived`), its summary table, its truth for coverage, the
cost-effectiveness inputs it offers, the report section it contributes (as data: :class:`Heading`,
:class:`Paragraph`, :class:`Table`, :class:`Plot`), the groups that hold person counts, and the quantities a
calibration study ranks. Nothing outside :mod:`ww_bayes.kinds` asks which kind it holds: it asks the kind.
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from scipy import sparse

from ww_bayes.data.schema import ARMS
from ww_bayes.derived import Variable
from ww_bayes.kinds.observations import Observation
from ww_bayes.kinds.pooling import WEIGHTS_GROUP, Parametrization
from ww_bayes.labels import Words
from ww_bayes.tomlspec import SpecError


@dataclass(frozen=True)
class ModelData:
    """What a model is fit on: cells, group levels, and the cohort's composition (weights).

    ``cells`` has ``arm``, the kind's other label columns (grouping factors, month, ...) and the columns
    of its ``observation`` (:mod:`ww_bayes.kinds.observations`), which says what they hold; ``weights``
    counts persons (all arms, all persons in the cohort) per cell of the grouping factors and defines the
    population estimands: its dims are the fit's grouping factors. ``constants``: further fixed arrays the
    model uses (stored in the fit's constant_data group). ``notes``: what preparing the data left out and
    why (e.g. a class absent from the extract), printed and stored with the fit. ``parametrization``: per
    component and factor with partially pooled deviations, centred or non-centred and why
    (:class:`ww_bayes.kinds.pooling.Parametrization`): part of the model's structure, stored in the fit.
    ``structure``: other facts of the data the model's form depends on (JSON-able; e.g. the categories
    empty in a month), part of the compiled model's key, so data that differ in them never reuse it.
    """

    cells: pd.DataFrame
    observation: Observation
    levels: dict[str, list[str]]
    weights: xr.DataArray
    outcome: str
    n_persons: int
    n_missing: int
    likelihood: str = "binomial"
    constants: Mapping[str, xr.DataArray] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    parametrization: Mapping[str, Mapping[str, Parametrization]] = field(default_factory=dict)
    structure: Mapping[str, object] = field(default_factory=dict)

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    def parametrization_forms(self) -> dict[str, dict[str, str]]:
        """The form of each partially pooled component and factor (what the compiled model depends on)."""
        return {c: {f: p.form for f, p in by.items()} for c, by in self.parametrization.items()}

    def parametrization_record(self) -> str:
        """The choices and their reasons as JSON (the fit's attr ``parametrization``)."""
        return json.dumps(
            {c: {f: p.as_dict() for f, p in by.items()} for c, by in self.parametrization.items()}
        )

    @property
    def factors(self) -> tuple[str, ...]:
        """The grouping factors (the dims of the weights)."""
        return tuple(str(d) for d in self.weights.dims)

    def arm_persons(self) -> xr.DataArray:
        """Persons with the outcome observed per arm and cell of the grouping factors (summed over months
        and outcomes), on the full grid of arms and levels: 0 where the data hold nobody."""
        factors = list(self.factors)
        grid = pd.MultiIndex.from_product([list(ARMS), *(self.levels[f] for f in factors)],
                                          names=["arm", *factors])  # fmt: skip
        keys = self.cells[["arm", *factors]].astype(str)
        persons = pd.Series(self.observation.persons(self.cells), index=self.cells.index)
        counts = persons.groupby([keys[c] for c in keys.columns]).sum()
        counts = counts.reindex(grid, fill_value=0)
        return xr.DataArray(
            counts.to_numpy().reshape([len(ARMS), *(len(self.levels[f]) for f in factors)]),
            coords={"arm": list(ARMS), **{f: self.levels[f] for f in factors}},
            dims=["arm", *factors],
            name="persons",
        )


# --- report content as data (rendered by ww_bayes.report, figures drawn by ww_bayes.viz) -------------------


@dataclass(frozen=True)
class Heading:
    text: str


@dataclass(frozen=True)
class Paragraph:
    """A paragraph; ``style`` is "" (plain), "note", "flag" (a warning) or "ok"."""

    text: str
    style: str = ""


@dataclass(frozen=True)
class Table:
    """A table; ``collapsed`` puts it behind a summary line (e.g. 105 rows of regions); ``code_columns``
    hold code names (file names, model names) shown as code, not translated."""

    frame: pd.DataFrame
    digits: int = 2
    collapsed: str = ""
    code_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plot:
    """A figure to draw: ``name`` is a figure function of :data:`ww_bayes.viz.PLOTS`, called with
    ``table`` and ``options``; :func:`ww_bayes.viz.figure_name` names its files."""

    name: str
    table: Any
    caption: str
    options: Mapping[str, Any] = field(default_factory=dict)


Block = Heading | Paragraph | Table | Plot


@dataclass(frozen=True)
class EffectPaths:
    """Monthly effects (pp) of one contrast a fit offers to the cost-effectiveness module.

    ``paths``: ``overall`` (chain, draw, outcome, month) and ``by_werkverkenner`` (… werkverkenner …) over
    the outcomes the fit covers; ``weights``: persons per Werkverkenner class; ``source``: a sentence saying
    where the effects come from (and what is assumed); ``lasts_for``: the months an effect held beyond what
    the fit observes lasts (an assumption: zero after), None when the fit gives every month itself.
    """

    paths: xr.Dataset
    weights: xr.DataArray
    source: str
    lasts_for: int | None = None


@dataclass(frozen=True)
class PersonPatterns:
    """A cohort's persons grouped by what they add to a fit's likelihood, for leave-one-person-out.

    Row ``p`` of ``terms`` (a sparse 0/1 matrix, pattern x (cell, value)) marks the cells a person of
    pattern ``p`` is counted in, each at the value the person has there: column ``cell * V + value`` for the
    observation's ``V`` :attr:`~ww_bayes.kinds.observations.Observation.person_values`. ``persons`` counts
    the persons of each pattern. A person's log-likelihood is the row's sum of the observation's
    :meth:`~ww_bayes.kinds.observations.Observation.value_log_density` terms, so persons of one pattern
    share it and leave-one-person-out computes it once per pattern."""

    terms: sparse.csr_array
    persons: np.ndarray

    @property
    def n_persons(self) -> int:
        return int(self.persons.sum())


def cell_patterns(value_counts: np.ndarray) -> PersonPatterns:
    """The patterns of cells that each count a person once: one per cell and value held by a person
    (``value_counts``: persons per cell and value)."""
    flat = np.asarray(value_counts, dtype="int64").ravel()
    kept = np.flatnonzero(flat > 0)
    terms = sparse.csr_array((np.ones(len(kept)), (np.arange(len(kept)), kept)), shape=(len(kept), flat.size))
    return PersonPatterns(terms, flat[kept])


@dataclass(frozen=True)
class HoursEffects:
    """The effect on hours worked in months 1-12 of one contrast a fit offers the cost-effectiveness module
    (a societal perspective values production as hours x wage x (1 + employer costs)).

    ``effects``: ``overall`` (chain, draw) and ``by_werkverkenner`` (chain, draw, werkverkenner), extra hours
    per participant (claimant offered the treatment) in months 1-12, zeros included; ``weights``: persons per
    Werkverkenner class; ``source``: a sentence saying where the hours come from.
    """

    effects: xr.Dataset
    weights: xr.DataArray
    source: str


@dataclass(frozen=True)
class BenefitEffects:
    """The effect of one contrast on the share of claimants in each benefit at the months a fit observes,
    offered to the cost-effectiveness module (a government perspective pays ZW, WIA and bijstand as well
    as WW).

    ``effects``: ``overall`` (chain, draw, benefit, month) and ``by_werkverkenner`` (chain, draw,
    werkverkenner, benefit, month), in pp of all claimants (offered the treatment or not), the states of one
    benefit with and without work summed; ``benefit`` holds the fit's benefit statuses and ``other`` where
    the fit merged sparse states of several benefits (:attr:`merged`); ``weights``: persons per Werkverkenner
    class; ``merged``: the states merged into ``other``, in words ("" when none); ``other_members``: the
    benefit statuses with a state in ``other`` (a cost-effectiveness cannot price ``other`` as one benefit
    when WW or no benefit is among them).
    """

    effects: xr.Dataset
    weights: xr.DataArray
    merged: str = ""
    other_members: tuple[str, ...] = ()


class ModelKind(ABC):
    """One model kind: an abstract base class. Subclass it, set the class attributes, implement the abstract
    methods (a subclass missing one cannot be instantiated, so it fails before it is registered), declare
    its optional capabilities with the ``offers_*`` / ``has_*`` flags, and add one line to
    :data:`ww_bayes.kinds.KINDS` (or call :func:`ww_bayes.kinds.register`). The kind's ``name`` is its spec's
    ``kind`` key, the fit's ``model_kind`` attr and the name of its derived group."""

    #: the ``kind`` key of the TOML spec, the fit's ``model_kind`` attr and its derived group's name
    name: str = ""
    #: what the kind observes per cell (its default; :meth:`observation_of` for a fit's own)
    observation: Observation | None = None
    #: what ``n_missing`` counts ("persons", "person-months")
    missing_unit: str = "persons"
    #: the provenance attr that stores ``n_missing``
    missing_attr: str = "n_persons_outcome_missing"
    #: likelihoods :meth:`prepare` accepts (the first is the default)
    likelihoods: tuple[str, ...] = ("binomial",)
    #: groups of a fit that hold counts of persons (the cells' observation, the persons per cell and per
    #: level): a release never carries them and checks its groups' counts from them
    count_groups: tuple[str, ...] = ("observed_data", "constant_data", WEIGHTS_GROUP)
    #: every variable the derived group may hold, with its role (:class:`ww_bayes.derived.Variable`)
    derived_variables: Mapping[str, Variable] = {}
    #: the derived variables' dims besides the sample dims and the grouping factors (contrast, month, ...)
    derived_dims: tuple[str, ...] = ("contrast",)
    #: derived estimands summed over months (dim ``horizon``) -> the outcome whose monthly effects they
    #: sum: a release suppresses them from a suppressed month on
    cumulative_estimands: Mapping[str, str] = {}
    #: what the effects the frequentist estimator sets beside are in (the comparison's title and stored group)
    effect_units: str = "percentage points (pp)"
    #: the report section this kind's fits appear in: (anchor, title)
    report_section: tuple[str, str] = ("", "")
    #: the dim a good direction given per label is over (a table ``good_direction`` in the spec)
    direction_dim: str = "outcome"
    #: the columns that identify a summary row (the truth table has the same ones)
    key_columns: tuple[str, ...] = ("estimand", "contrast", "level", "group")
    #: estimands of the derived group a calibration study ranks and checks for coverage (the population
    #: effects in pp by default)
    calibration_estimands: tuple[str, ...] = ("effect_pp",)
    #: posterior variables the convergence gate leaves out (e.g. cell rates: their inputs are checked)
    not_checked: tuple[str, ...] = ("rate",)
    #: per-cell posterior deterministics (bulky, recomputable from the free parameters): a fit file keeps
    #: them only with ``keep = ["rate"]``; they may hold small cells' rates, so a release never carries them
    cell_deterministics: tuple[str, ...] = ("rate",)
    #: :attr:`ModelData.constants` made from the posterior after sampling (:meth:`after_sampling`): the fit
    #: stores them in its constant_data, and its model is made again with the stored values
    #: (:mod:`ww_bayes.recompute`), not the cohort's
    posterior_constants: tuple[str, ...] = ()

    #: top-level keys the kind's TOML accepts, and the ones it requires
    spec_keys: set[str] = set()
    required_keys: tuple[str, ...] = ()

    # --- optional capabilities, declared ---------------------------------------------------------------
    #: the frequentist estimator ``ww-bayes compare`` sets beside this kind's effects: a key of
    #: :data:`ww_bayes.compare.ESTIMATORS` ("" for none)
    frequentist: str = ""
    #: the months a comparison's screen text and figure show when its rows run over many months (all when
    #: empty; the CSV and the stored group keep every month)
    months_shown: tuple[int, ...] = ()
    #: :meth:`effect_paths` offers monthly effects to the cost-effectiveness module
    offers_effect_paths: bool = False
    #: :meth:`truth` finds the simulator's truth of the kind's estimands
    has_truth: bool = False
    #: :meth:`person_counts` counts persons once per cell (the report's data section)
    describes_persons: bool = False
    #: :meth:`new_level_parameters` predicts cells of a level the fit has not seen (K-fold over levels)
    predicts_new_levels: bool = False
    #: :meth:`hours_effects` offers the effect on hours worked in months 1-12 to the cost-effectiveness module
    offers_hours: bool = False
    #: :meth:`benefit_effects` offers the effects on the shares in each benefit (ZW, WIA, bijstand, ...) at
    #: the months the fit observes to the cost-effectiveness module
    offers_benefit_shares: bool = False
    #: the attribute (of the derived group, or else of the fit) holding the smallest effect of interest its
    #: probabilities' events use (:func:`ww_bayes.derived.fit_level_events`)
    smallest_attr: str = "smallest_effect_pp"
    #: categories a release may merge before it merges a factor's levels, tried in order (a category of the
    #: count table breaking the rule in some group): (members, the merged category's name); its released
    #: estimates then follow :meth:`merge_categories`
    release_merges: tuple[tuple[tuple[str, ...], str], ...] = ()

    # --- required methods ------------------------------------------------------------------------------

    @abstractmethod
    def parse(self, raw: dict, text: str, source: str, common: dict):
        """The kind's spec dataclass from the TOML table ``raw``; ``common``: the shared settings, already
        checked (:func:`ww_bayes.kinds.common.common_settings`). :class:`SpecError` naming a bad key.
        The spec has a class attribute ``kind`` (this kind's name)."""

    @abstractmethod
    def required_columns(self, spec) -> list[str]:
        """The cohort columns the spec reads besides ``person_id`` and ``arm`` (its grouping factors and
        outcome months): validation asks for these and no more."""

    @abstractmethod
    def prepare(self, spec, cohort: pd.DataFrame, likelihood: str = "binomial") -> ModelData:
        """Cells, levels and weights from a validated cohort."""

    def simulated_constants(
        self, spec, data: ModelData, prior: xr.Dataset, seed: int
    ) -> dict[str, np.ndarray]:
        """Data the likelihood reads beyond the observation's cells, drawn for each prior draw of ``prior``
        (dims chain, draw; one chain): {name of a :attr:`ModelData.constants` entry: array (draw, ...)}.
        The SBC replaces those constants of its design with each replicate's draw, beside the simulated
        cells. Nothing by default (the observation's cells are all a likelihood reads)."""
        return {}

    def default_likelihood(self, spec) -> str:
        """The likelihood a fit of ``spec`` uses when none is asked for: the first of :attr:`likelihoods`
        (a kind whose spec names one returns the spec's)."""
        return self.likelihoods[0]

    @abstractmethod
    def build(self, spec, data: ModelData, for_sampling: bool = False) -> pm.Model:
        """The PyMC model. ``for_sampling``: the form the sampler sees (same log-density; it may skip random
        draws, or hold its free variables stacked, with :meth:`from_sampling` mapping its draws back);
        otherwise a model that can draw predictive samples and pointwise log-likelihood, with the
        observation's observed variables over dim ``cell`` and its cell parameters
        (:meth:`ww_bayes.kinds.observations.Observation.likelihood` makes both)."""

    @abstractmethod
    def derive(self, spec, data: ModelData, posterior: xr.Dataset) -> xr.DataTree:
        """The derived group (named :attr:`name`) from the posterior (deterministics included): one child
        per level (:mod:`ww_bayes.derived`) holding the variables of :attr:`derived_variables`."""

    @abstractmethod
    def summary(self, derived: xr.DataTree, interval_kind: str, interval_prob: float) -> pd.DataFrame:
        """One row per estimand (the :attr:`key_columns`), labelled interval columns."""

    @abstractmethod
    def screen_text(self, tree: xr.DataTree, summary: pd.DataFrame, coverage: pd.DataFrame | None) -> str:
        """What ``ww-bayes fit`` prints after a fit: the headline effects (with the truth when known)."""

    @abstractmethod
    def report_blocks(self, name: str, tree: xr.DataTree, summary: pd.DataFrame, words: Words) -> list[Block]:
        """The fit's part of its report section, in the reader's words (:class:`ww_bayes.labels.Words`:
        code names only inside backquotes, which the report shows as code)."""

    @abstractmethod
    def calibration_quantities(self, spec) -> list[str]:
        """Posterior variables a simulation-based calibration study should rank."""

    # --- methods with defaults ---------------------------------------------------------------------------

    def observation_of(self, tree: xr.DataTree) -> Observation:
        """The observation of a fit (its cells' kind of data); the kind's default unless overridden."""
        return self.observation

    def after_sampling(
        self,
        spec,
        data: ModelData,
        posterior: xr.Dataset,
        rates: Callable[[ModelData, list[str]], xr.Dataset],
    ) -> ModelData:
        """``data`` with its :attr:`posterior_constants` made from the posterior, before the deterministics
        are computed: ``posterior`` holds the free variables' draws (dims chain, draw), ``rates(data,
        names)`` gives the named deterministics of :meth:`build`'s model on ``data`` for every draw. A
        constant only deterministics read (not the likelihood) may depend on the posterior; the sampled
        draws stay what they are. Unchanged by default."""
        return data

    def from_sampling(self, spec, data: ModelData, draws: xr.Dataset) -> xr.Dataset:
        """The free variables of :meth:`build`'s model from draws of its sampling form (``for_sampling``). A
        kind whose sampling form writes the same log-density with other variables (stacked, to cut the
        gradient's cost) maps its draws back here; by default both forms have the same free variables."""
        return draws

    def describe_priors(self, spec, data: ModelData | None = None) -> str:
        """The priors in words, printed before sampling; with ``data``, the parametrization chosen for
        them (:attr:`ModelData.parametrization`)."""
        return spec.describe_priors()

    def provenance(self, spec) -> dict[str, str | int | float]:
        """Attrs of the kind's own the fit records besides the shared provenance (e.g. the anchor arm)."""
        return {}

    def fit_plots(
        self, tree: xr.DataTree, summary: pd.DataFrame, coverage: pd.DataFrame | None
    ) -> list[Plot]:
        """Figures written beside the fit file (named by :func:`ww_bayes.viz.figure_name`)."""
        return []

    def hyper_parameters(self, spec) -> list[str]:
        """The free variables under the spec's top-level priors (component means, starting values, group
        and step sds): the prior sensitivity check power-scales their priors and the rank plots show them.
        Default: none declared."""
        return []

    def own_person_loo(self, parts, seed: int) -> dict | None:
        """PSIS leave-one-person-out computed by the kind itself, for an observation whose persons' values
        are too many to list as patterns (hours: whole numbers up to 2,500), from its model made again on
        its cohort (``parts``: :class:`ww_bayes.recompute.Recomputed`): a dict with ``persons``,
        ``persons_computed`` (a simple random sample of them, or all), ``distinct`` (their distinct
        (cell, value)), ``elpd``, ``se``, ``p_loo``, ``subsample_se``, ``pareto_k`` and ``weights`` (per
        distinct (cell, value) computed, its persons), as :func:`ww_bayes.kinds.hours.person_loo` gives it.
        Default None: the checks list the persons' (cell, value) patterns (:meth:`person_patterns`)."""
        return None

    def person_patterns(self, spec, data: ModelData, cohort: pd.DataFrame) -> PersonPatterns:
        """The cohort's persons as the (cell, value) terms they add to the likelihood
        (:class:`PersonPatterns`), for leave-one-person-out. Default: the cells count every person once
        (one outcome per person), so the cells alone say it (``cohort`` is not read); a kind whose cells
        count a person several times (months) overrides it."""
        observation = data.observation
        counts = observation.value_counts(observation.observed(data.cells), observation.constant(data.cells))
        return cell_patterns(counts.values)

    def new_level_parameters(
        self, spec, posterior: xr.Dataset, cells: pd.DataFrame, factor: str, seed: int
    ) -> xr.Dataset:
        """Each draw's cell parameters (the observation's :attr:`cell_parameters`) for ``cells`` in levels
        of ``factor`` the fit has not seen (a new region): what the fit predicts for a new level, for
        K-fold cross-validation over the levels (:attr:`predicts_new_levels`)."""
        raise NotImplementedError(f"a {self.name!r} fit does not predict new levels of a factor")

    def recomputable_draws(self, draws: xr.Dataset) -> list[str]:
        """Variables of a fit's ``posterior`` or ``prior`` draws its file leaves out because the free
        variables give them again (:mod:`ww_bayes.recompute` rebuilds every deterministic from those):
        none by default; a kind whose group deviations are many (destinations: state x region) names its
        deterministic ones, after the convergence gate has read them."""
        return []

    def sampler_model(self, spec, data: ModelData, compiled):
        """The nutpie model to sample ``spec`` on ``data`` with, given nutpie's compiled model of the
        kind's sampling model (``build(spec, data, for_sampling=True)``): ``compiled`` itself by default. A
        kind may put a log-density written by hand in its place, the same function of the same free
        values (tested equal to the graph's, with its gradient), for speed."""
        return compiled

    def effect_parameters(self, posterior: xr.Dataset) -> list[str]:
        """Posterior variables held to the ESS thresholds besides the derived group (default: the
        service and enforcement means, group values and curves)."""
        return [
            name
            for name in posterior.data_vars
            if name.startswith(("service_", "enforcement_"))
            and any(part in name for part in ("_mean", "_by_", "_curve"))
        ]

    # --- capabilities (implement the ones the flags above declare) ---------------------------------------

    def truth(self, tree: xr.DataTree, truth: xr.DataTree) -> pd.DataFrame:
        """The simulator's true values in the summary's long shape (:attr:`key_columns` and ``truth``)
        (:attr:`has_truth`)."""
        raise NotImplementedError(f"a {self.name!r} fit has no truth to compare with")

    def merge_categories(self, ds: xr.Dataset, merges: list[tuple[tuple[str, ...], str]]) -> xr.Dataset:
        """A level of the derived group with the count table's categories ``merges`` (members, name: of
        :attr:`release_merges`) merged in its estimands, for a release (see :attr:`release_merges`)."""
        if merges:
            raise NotImplementedError(f"{self.name} merges no categories")
        return ds

    def person_counts(self, tree: xr.DataTree) -> pd.DataFrame:
        """Persons with the outcome observed and how many of them have it, by arm and Werkverkenner class
        (columns ``outcome``, ``arm``, ``werkverkenner``, ``count``, ``persons``), for the report's data
        section (:attr:`describes_persons`)."""
        raise NotImplementedError(f"a {self.name!r} fit does not count persons once per cell")

    def effect_paths(self, tree: xr.DataTree, contrast: str, months: range, hold_months: int) -> EffectPaths:
        """Monthly effects for months ``months`` of the outcomes this fit covers (cost-effectiveness);
        ``hold_months``: how long a single-month effect is assumed to last (:attr:`offers_effect_paths`)."""
        raise SpecError(f"a {self.name!r} fit offers no monthly effects to the cost-effectiveness module")

    def hours_effects(self, tree: xr.DataTree, contrast: str) -> HoursEffects:
        """The effect of ``contrast`` on hours worked in months 1-12, per draw, overall and by
        Werkverkenner class (:attr:`offers_hours`)."""
        raise SpecError(f"a {self.name!r} fit offers no effect on hours worked to the cost-effectiveness "
                        "module")  # fmt: skip

    def benefit_effects(self, tree: xr.DataTree, contrast: str) -> BenefitEffects:
        """The effect of ``contrast`` on the share of claimants in each benefit at the months the fit
        observes, per draw, overall and by Werkverkenner class (:attr:`offers_benefit_shares`)."""
        raise SpecError(f"a {self.name!r} fit offers no effects on benefit shares to the cost-effectiveness "
                        "module")  # fmt: skip


#: Capability flags and the method each promises.
CAPABILITIES = {
    "offers_effect_paths": "effect_paths",
    "has_truth": "truth",
    "describes_persons": "person_counts",
    "predicts_new_levels": "new_level_parameters",
    "offers_hours": "hours_effects",
    "offers_benefit_shares": "benefit_effects",
}


def check_kind(kind: ModelKind) -> None:
    """Raise :class:`TypeError` naming what a kind lacks: its name, observation, derived variables, report
    section, or the method of a capability it declares."""
    if not isinstance(kind, ModelKind):
        raise TypeError(f"{kind!r} is not a ModelKind")
    problems = [attr for attr in ("name", "observation", "derived_variables", "report_section")
                if not getattr(kind, attr)]  # fmt: skip
    problems += [
        f"{method} (it declares {flag})"
        for flag, method in CAPABILITIES.items()
        if getattr(kind, flag) and getattr(type(kind), method) is getattr(ModelKind, method)
    ]
    problems += [
        f"{method}{expected} (it has {method}{found})"
        for method, expected, found in _signature_mismatches(type(kind))
    ]
    if problems:
        raise TypeError(f"model kind {type(kind).__name__} ({kind.name!r}) lacks {', '.join(problems)}")


def _positional(function) -> int | None:
    """How many positional parameters ``function`` takes (None: any number)."""
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return None
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


def _signature_mismatches(cls: type) -> list[tuple[str, inspect.Signature, inspect.Signature]]:
    """The methods ``cls`` overrides with another number of positional parameters than
    :class:`ModelKind`'s (an out-of-date kind fails when it is registered, not in the middle of a report)."""
    out = []
    for method, base in vars(ModelKind).items():
        own = getattr(cls, method, base)
        if (
            method.startswith("__")
            or not inspect.isfunction(base)
            or own is base
            or not inspect.isfunction(own)
        ):
            continue
        if _positional(own) not in (None, _positional(base)):
            out.append((method, inspect.signature(base), inspect.signature(own)))
    return out
