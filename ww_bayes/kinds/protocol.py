"""The interface every model kind implements, and the data it hands to the rest of ww_bayes.

A model kind turns a cohort into cells (:meth:`ModelKind.prepare`), cells into a PyMC model
(:meth:`ModelKind.build`), posterior draws into its estimands (:meth:`ModelKind.derive`) and says what the
consumers need: its summary table, its truth for coverage, the cost-effectiveness inputs it offers, the
report section it contributes (as data: :class:`Heading`, :class:`Paragraph`, :class:`Table`,
:class:`Plot`), the groups that hold person counts, and the quantities a calibration study ranks. Nothing
outside :mod:`ww_bayes.kinds` asks which kind it holds: it asks the kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pymc as pm
import xarray as xr

from ww_bayes.data.schema import ARMS
from ww_bayes.tomlspec import SpecError


@dataclass(frozen=True)
class ModelData:
    """What a model is fit on: cell counts, group levels, and the cohort's composition (weights).

    ``cells`` has ``arm``, the kind's group columns, ``successes`` and ``trials``; ``weights`` counts
    persons (all arms, all persons in the cohort) per group cell and defines the population estimands.
    ``constants``: further fixed arrays the model uses (stored in the fit's constant_data group).
    """

    cells: pd.DataFrame
    levels: dict[str, list[str]]
    weights: xr.DataArray
    outcome: str
    n_persons: int
    n_missing: int
    likelihood: str = "binomial"
    constants: Mapping[str, xr.DataArray] = field(default_factory=dict)

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    def arm_trials(self) -> xr.DataArray:
        """Persons with the outcome observed per arm and group cell (summed over months and outcomes), on
        the full grid of arms and levels: 0 where the data hold nobody."""
        factors = list(self.weights.dims)  # the grouping factors (levels may also hold month, outcome)
        grid = pd.MultiIndex.from_product([list(ARMS), *(self.levels[f] for f in factors)],
                                          names=["arm", *factors])  # fmt: skip
        keys = self.cells[["arm", *factors]].astype(str)
        counts = self.cells["trials"].groupby([keys[c] for c in keys.columns]).sum()
        counts = counts.reindex(grid, fill_value=0)
        return xr.DataArray(
            counts.to_numpy().reshape([len(ARMS), *(len(self.levels[f]) for f in factors)]),
            coords={"arm": list(ARMS), **{f: self.levels[f] for f in factors}},
            dims=["arm", *factors],
            name="trials",
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
    """A table; ``collapsed`` puts it behind a summary line (e.g. 105 rows of regions)."""

    frame: pd.DataFrame
    digits: int = 2
    collapsed: str = ""


@dataclass(frozen=True)
class Plot:
    """A figure to draw: ``name`` is a figure function of :data:`ww_bayes.viz.PLOTS`, called with
    ``table`` and ``options``; ``file_suffix`` names the PNG written beside a fit (e.g. ``_paths``)."""

    name: str
    table: Any
    caption: str
    options: Mapping[str, Any] = field(default_factory=dict)
    file_suffix: str = ""


Block = Heading | Paragraph | Table | Plot


@dataclass(frozen=True)
class EffectPaths:
    """Monthly effects (pp) of one contrast a fit offers to the cost-effectiveness module.

    ``paths``: ``overall`` (chain, draw, outcome, month) and ``by_werkverkenner`` (… werkverkenner …) over
    the outcomes the fit covers; ``weights``: persons per Werkverkenner class; ``source``: a sentence saying
    where the effects come from (and what is assumed).
    """

    paths: xr.Dataset
    weights: xr.DataArray
    source: str


class ModelKind:
    """One model kind. Subclass it, fill in the class attributes and methods, and add one line to
    :data:`ww_bayes.kinds.KINDS` (or call :func:`ww_bayes.kinds.register`)."""

    #: the ``kind`` key of the TOML spec, stored as the fit's ``model_kind`` attr
    name: str = ""
    #: the DataTree group :meth:`derive` fills
    derived_group: str = ""
    #: what ``n_missing`` counts ("persons", "person-months")
    missing_unit: str = "persons"
    #: the provenance attr that stores ``n_missing``
    missing_attr: str = "n_persons_outcome_missing"
    #: likelihoods :meth:`prepare` accepts
    likelihoods: tuple[str, ...] = ("binomial",)
    #: groups of a fit that hold counts of persons: the cell successes (``y``, with the cell labels as
    #: coords) and the trials (``trials``) and persons per level (``n_persons``); a release never carries
    #: them and checks its groups' counts from them (:mod:`ww_bayes.release`)
    count_groups: tuple[str, ...] = ("observed_data", "constant_data")
    #: derived estimands that are population-weighted means over the levels of a factor (``<estimand>_by_
    #: <factor>``): a release merges small levels by weighting them with their persons
    weighted_estimands: tuple[str, ...] = ("effect_pp",)
    #: derived estimands summed over months (``<estimand>_<level>`` with dim ``horizon``) -> the outcome
    #: whose monthly effects they sum: a release suppresses them from a suppressed month on
    cumulative_estimands: dict[str, str] = {}
    #: whether ``ww-bayes compare`` can set frequentist estimates beside this kind's effects
    compares_with_frequentist: bool = False
    #: the report section this kind's fits appear in: (anchor, title)
    report_section: tuple[str, str] = ("", "")
    #: estimands whose rows get P(estimand > 0) in the summary
    signed_estimands: tuple[str, ...] = ("effect_pp",)
    #: the columns that identify a summary row (the truth table has the same ones)
    key_columns: tuple[str, ...] = ("estimand", "contrast", "level", "group")

    #: top-level keys the kind's TOML accepts, and the ones it requires
    spec_keys: set[str] = set()
    required_keys: tuple[str, ...] = ()

    def parse(self, raw: dict, text: str, source: str, common: dict):
        """The kind's spec dataclass from the TOML table ``raw``; ``common``: the shared settings, already
        checked (:func:`ww_bayes.kinds.common.common_settings`). :class:`SpecError` naming a bad key.
        The spec has a class attribute ``kind`` (this kind's name)."""
        raise NotImplementedError

    def prepare(self, spec, cohort: pd.DataFrame, likelihood: str = "binomial") -> ModelData:
        raise NotImplementedError

    def build(self, spec, data: ModelData, for_sampling: bool = False) -> pm.Model:
        """The PyMC model. ``for_sampling``: the form the sampler sees (same log-density, may skip random
        draws); otherwise a model that can draw predictive samples and pointwise log-likelihood, with the
        observed ``y`` over dim ``cell`` and the deterministic ``cell_rate`` (each cell's success
        probability): :func:`ww_bayes.kinds.blocks.cell_likelihood` makes both."""
        raise NotImplementedError

    def derive(self, spec, data: ModelData, posterior: xr.Dataset) -> xr.Dataset:
        """The derived group (:attr:`derived_group`) from the posterior (deterministics included)."""
        raise NotImplementedError

    def describe_priors(self, spec) -> str:
        return spec.describe_priors()

    def summary(self, derived: xr.Dataset, interval_kind: str, interval_prob: float) -> pd.DataFrame:
        """One row per estimand (the :attr:`key_columns`), labelled interval columns."""
        raise NotImplementedError

    def truth(self, tree: xr.DataTree, truth: xr.DataTree) -> pd.DataFrame | None:
        """The simulator's true values in the summary's long shape (:attr:`key_columns` and ``truth``),
        or None when the kind has none."""
        return None

    def screen_text(self, tree: xr.DataTree, summary: pd.DataFrame, coverage: pd.DataFrame | None) -> str:
        """What ``ww-bayes fit`` prints after a fit: the headline effects (with the truth when known)."""
        raise NotImplementedError

    def fit_plots(
        self, tree: xr.DataTree, summary: pd.DataFrame, coverage: pd.DataFrame | None
    ) -> list[Plot]:
        """Figures written beside the fit file (each with a ``file_suffix``)."""
        return []

    def report_blocks(self, name: str, tree: xr.DataTree, summary: pd.DataFrame) -> list[Block]:
        """The fit's part of its report section."""
        raise NotImplementedError

    def person_counts(self, tree: xr.DataTree) -> pd.DataFrame | None:
        """Persons with the outcome observed and successes by arm and Werkverkenner class
        (columns ``outcome``, ``arm``, ``werkverkenner``, ``successes``, ``trials``), for the report's
        data section; None when the kind's cells do not count persons once each."""
        return None

    def effect_paths(self, tree: xr.DataTree, contrast: str, months: range, hold_months: int) -> EffectPaths:
        """Monthly effects for months ``months`` of the outcomes this fit covers (cost-effectiveness);
        ``hold_months``: how long a single-month effect is assumed to last."""
        raise SpecError(f"a {self.name!r} fit offers no monthly effects to the cost-effectiveness module")

    #: posterior variables the convergence gate leaves out (e.g. cell rates: their inputs are checked)
    not_checked: tuple[str, ...] = ("rate",)
    #: per-cell posterior deterministics (bulky, recomputable from the free parameters): a fit file keeps
    #: them only with ``keep = ["rate"]`` (:func:`ww_bayes.inference.stored`); they may hold small cells'
    #: rates, so a release never carries them
    cell_deterministics: tuple[str, ...] = ("rate",)

    def effect_parameters(self, posterior: xr.Dataset) -> list[str]:
        """Posterior variables held to the ESS thresholds besides the derived group (default: the
        service and enforcement means, group values and curves)."""
        return [
            name
            for name in posterior.data_vars
            if name.startswith(("service_", "enforcement_"))
            and any(part in name for part in ("_mean", "_by_", "_curve"))
        ]

    def calibration_quantities(self, spec) -> list[str]:
        """Posterior variables a simulation-based calibration study should rank."""
        raise NotImplementedError

    #: estimands of the derived group a calibration study ranks and checks for coverage (each
    #: ``<estimand>_<level>`` with draws): the population effects in pp by default
    calibration_estimands: tuple[str, ...] = ("effect_pp",)
