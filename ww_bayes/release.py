"""The files that may leave a secure environment: model-based estimates that pass statistical disclosure
control, and a disclosure report an output checker reads before approving them.

The rule (CBS's): no released number may describe fewer than ``min_count`` persons (default 10), including
through its complement and through anything that can be derived from the folder: every released count,
and every estimate of a group, is based on groups in which each arm has ``persons``, and per category of
the observation ``count`` and ``persons - count``, each either 0 or at least ``min_count``; and so are the
cohort's persons per released group (its population-weighted estimands give them), their differences with
the persons whose outcome is observed, and every difference between two fits of the folder.

How :func:`release` keeps it, failing closed:

- **Only model-based estimates leave.** From each fit only its derived group (the kind's estimands, one
  child per level) and its convergence table; never the groups that hold counts or let them be computed
  (:data:`WITHHELD_GROUPS`). Every level, variable, dim and attribute of what is released must be one the
  fit's model kind declares (:mod:`ww_bayes.derived`) or one of the whitelists of :mod:`ww_bayes.audit`,
  each variable of its role's type (a count where an estimand, probability, flag or share belongs is
  refused); anything else refuses the release with one line naming it, before anything is written.
- **What differs between fits is decided first.** Fits are taken in file order; a fit whose cohort
  persons differ from an earlier fit's by 1 to ``2 * min_count - 1`` (other data, e.g. a subset) is withheld;
  a fit whose whole-cohort persons, counts or their complements differ from an earlier fit's, or from the
  cohort persons, by 1 to ``2 * min_count - 1`` keeps its estimates but not its counts (twice the minimum
  count: withholding a file must not tell that a difference is below the minimum count).
- **Small groups are merged, decided before anything is written.** Every grouping factor found in the
  estimates released is merged: a level whose counts break the rule in any fit, outcome, month or category,
  or whose released count-like numbers differ by 1 to ``min_count - 1`` between fits or from its cohort
  persons, goes into one named group ("other regions"), enlarged with the smallest other levels until it
  passes itself; the same grouping is used in every released table and figure, unless some fits alone need
  levels merged that the others do not: those fits get a coarser grouping of their own, which the others'
  groups add up to, and the differences between fits are checked again at its groups
  (:func:`decide_groupings`). Each variable is merged by its declared role: population-weighted estimands as
  the persons-weighted means of their levels, probabilities recomputed from the merged draws, flags as any
  of their levels; ratios are not released for a merged group.
- **Shares within their rounding.** A share of the cohort (role ``share``) is released rounded to a step
  of at least ``min_count`` persons (whole percent for cohorts of 1,000 or more), and only when the persons
  of every pattern of flags over the contrasts pass the rule (inclusion-exclusion of the shares gives
  them); otherwise neither the shares nor the partial estimands beside them are released.
- **Counts only of released groups.** ``counts.csv``: persons and, per category, how many of them, per arm
  for the overall cohort and each released group, keyed by fit file.
- **Cost-effectiveness only with its fits**, matched by SHA-256, under their grouping: by class only when
  every class is released as itself, its cohort size only when it differs from every released total by 0
  or at least ``min_count``.
- **Built aside, audited as written, then moved.** The release is written to a temporary folder beside
  ``out`` with its record (``disclosure_checks.json``); :func:`ww_bayes.audit.audit` attacks the written
  folder (weights recovery, differencing, inclusion-exclusion, integer linear programming, and the folder's
  own checks); only when every check passes is the folder moved into place. On any failure nothing is left
  but the message.
- **Nothing that names the secure machine.** Root attributes are a whitelist; files are named by file
  name only, never by path.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import tempfile
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ww_bayes import __version__
from ww_bayes.audit import (
    CEA_ATTRS,
    CEA_CLASSES,
    CEA_DIMS,
    CEA_GROUP,
    CEA_VARIABLES,
    CEA_WITHHELD,
    COHORT_SUFFIX,
    COUNTS_FILE,
    DERIVED_ATTRS,
    DIAGNOSTICS_ATTRS,
    DIAGNOSTICS_DIMS,
    DIAGNOSTICS_VARIABLES,
    FINAL_CHECKS,
    MIN_COUNT,
    RELEASED_ATTRS,
    RELEASED_KIND,
    WITHHELD_GROUPS,
    Audit,
    audit,
    breaks_rule,
    cea_figures_of,
    cea_findings,
    cohort_facts,
    count_facts,
    declared_findings,
    fact_failures,
    fit_figures,
    opposite_failures,
    probability_events,
    read_released,
    text_findings,
    toml_problem,
    without_paths,
)
from ww_bayes.cea import summary as cea_summary
from ww_bayes.cea import targeting_table
from ww_bayes.data.io import LOCK_NAME, atomic_write, file_sha256, write_datatree
from ww_bayes.derived import CELLS, OVERALL, level_label, levels_of, probability, recomputed_probabilities
from ww_bayes.kinds import kind_of
from ww_bayes.kinds.pooling import fit_weights
from ww_bayes.record import (
    BUILDING,
    CHECKS_FILE,
    PASSED,
    RECORD_FORMAT,
    REPORT_FILES,
    RULE_TEXT,
    note,
    report_texts,
)
from ww_bayes.results import RELEASED_SUFFIX, collect, save_table, summarise
from ww_bayes.tomlspec import released_toml
from ww_bayes.viz import save_png

#: Count-table columns that split it into separate tables (each checked on its own).
SLICES = ("outcome", "month")
#: The names of merged groups of the shipped factors; another factor's is "other <factor> levels".
MERGED_NAMES = {"werkverkenner": "other classes", "region": "other regions"}
#: Steps a share of the cohort is rounded to: the first that holds at least ``min_count`` persons.
SHARE_STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0)


class ReleaseError(ValueError):
    """A results folder that cannot be released (nothing to release, the overall counts break the rule, an
    output folder that is not empty, a variable, dim or attribute the release has no rule for, a failed
    audit)."""


def merged_name(factor: str) -> str:
    """The label of a factor's merged group."""
    return MERGED_NAMES.get(factor, f"other {factor} levels")


# --- counts and the rule ----------------------------------------------------------------------------------


def count_table(tree: xr.DataTree) -> pd.DataFrame:
    """The fit's cells as a count table, from the groups its model kind declares to hold counts: the cells'
    labels (arm, grouping factors, outcome, month), ``category``, ``persons`` (with the outcome observed)
    and ``count`` (of them in the category): :meth:`ww_bayes.kinds.observations.Observation.count_table`."""
    observation = kind_of(tree).observation_of(tree)
    return observation.count_table(tree["observed_data"].ds, tree["constant_data"].ds)


def grouped_counts(cells: pd.DataFrame, factor: str | None, mapping: dict[str, str] | None) -> pd.DataFrame:
    """Persons and counts per slice (outcome, month), arm, category and released group of ``factor`` (None:
    the overall cohort)."""
    keys = [c for c in SLICES if c in cells] + ["arm", "category"]
    frame = cells.copy()
    if factor is not None:
        frame["group"] = frame[factor].astype(str).map(lambda v: (mapping or {}).get(v, v))
        keys.append("group")
    return frame.groupby(keys, observed=True, sort=False)[["persons", "count"]].sum().reset_index()


def breaking_rows(counts: pd.DataFrame, min_count: int) -> np.ndarray:
    """Rows whose persons, count or persons - count break the rule."""
    bad = breaks_rule(counts["persons"], min_count) | breaks_rule(counts["count"], min_count)
    return bad | breaks_rule(counts["persons"] - counts["count"], min_count)


def unsafe_groups(counts: pd.DataFrame, min_count: int) -> set[str]:
    bad = breaking_rows(counts, min_count)
    return set(counts.loc[bad, "group"]) if "group" in counts else ({"all"} if bad.any() else set())


#: Where the default parameters of the dominance rule come from, as the disclosure report cites it.
ACRO_SOURCE = (
    "ACRO's default configuration (AI-SDC/ACRO, acro/default.yaml: safe_nk_k 0.90 on the top pair, "
    "safe_pratio_p 0.10)"
)
#: CBS's published rule for means and sums of amounts of persons (its income statistics' disclosure
#: criteria), as the disclosure report cites it.
CBS_INCOME_SOURCE = (
    "CBS, Aanvullende onderzoeksbeschrijving inkomensstatistiek (2021), section 5 'Criteria voor "
    "onthullingsrisico en betrouwbaarheid', rule 3: means and sums only with at least 100 observations, and "
    "the largest value at most 30% of the sum (https://www.cbs.nl/nl-nl/longread/diversen/2021/"
    "aanvullende-onderzoeksbeschrijving-inkomensstatistiek/5-criteria-voor-onthullingsrisico-en-"
    "betrouwbaarheid)"
)


@dataclass(frozen=True)
class Dominance:
    """The dominance rule for amounts (hours worked), applied besides the count rule per arm (and all arms)
    of every released group: its ``largest`` (1 or 2) largest persons' amounts hold at most ``share`` of
    its total (the (n, k) rule), the amounts of the others are at least ``p_ratio`` of the largest (the p%
    rule; None: not applied), and it has at least ``min_persons`` persons with the amount observed (None:
    the count rule only): otherwise one or two persons' amounts could be estimated from the group's.

    Defaults: ACRO's default configuration (``acro/default.yaml``: ``safe_nk_n`` 2, ``safe_nk_k`` 0.90,
    ``safe_pratio_p`` 0.10). :data:`DOMINANCE_PRESETS` names it and CBS's published rule for means of
    persons' amounts (:data:`CBS_INCOME_SOURCE`: the largest at most 30% of the sum, at least 100
    persons). A secure environment with other output rules sets its own (``--dominance-share``,
    ``--p-ratio``) and names them in ``source`` (``--dominance-source``: its output guidelines and their
    version, as the disclosure report cites them). Other parameters under a preset's source are refused:
    the report would name the wrong source."""

    share: float = 0.9
    p_ratio: float | None = 0.1
    source: str = ACRO_SOURCE
    largest: int = 2
    min_persons: int | None = None

    def __post_init__(self):
        for name in ("share", "p_ratio"):
            value = getattr(self, name)
            if name == "p_ratio" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
                option = {"share": "--dominance-share", "p_ratio": "--p-ratio"}[name]
                raise ReleaseError(f"{option} {value!r}: must be a number between 0 and 1")
        if self.largest not in (1, 2) or isinstance(self.largest, bool):
            raise ReleaseError(f"dominance rule: largest {self.largest!r} must be 1 or 2 persons")
        persons = self.min_persons
        if persons is not None and (isinstance(persons, bool) or not isinstance(persons, int) or persons < 1):
            raise ReleaseError(f"dominance rule: min_persons {persons!r} must be a whole number >= 1")
        if not isinstance(self.source, str) or not self.source.strip() or "\n" in self.source:
            raise ReleaseError(f"--dominance-source {self.source!r}: must be one line of text naming the "
                               "output guidelines (and their version) the parameters come from")  # fmt: skip
        for name, preset in DOMINANCE_PRESETS.items():
            if _same_text(self.source, preset.source) and self.parameters() != preset.parameters():
                raise ReleaseError(f"dominance rule ({self.describe()}): not the parameters of {name!r} "
                                   f"({preset.describe()}), so the disclosure report cannot name its source; "
                                   "name it with --dominance-source (e.g. the secure environment's output "
                                   "guidelines and their version)")  # fmt: skip

    def parameters(self) -> tuple:
        return (self.largest, float(self.share), self.p_ratio and float(self.p_ratio), self.min_persons)

    def describe(self) -> str:
        """The rule's parameters in words."""
        top = "the largest" if self.largest == 1 else "the two largest"
        text = f"{top} at most {self.share:.0%} of the total"
        if self.p_ratio is not None:
            others = "the others" if self.largest == 2 else "all but the two largest"
            text += f", {others} at least {self.p_ratio:.0%} of the largest"
        if self.min_persons is not None:
            text += f", at least {self.min_persons} persons"
        return text

    def breaks(self, total: float, first: float, second: float, persons: float) -> bool:
        """Whether a group with these amounts (its ``total``, ``first`` and ``second`` largest) and
        ``persons`` (with the amount observed) breaks the rule."""
        if self.min_persons is not None and 0 < persons < self.min_persons:
            return True
        if total <= 0:
            return False
        top = first if self.largest == 1 else first + second
        return top > self.share * total or (
            self.p_ratio is not None and total - first - second < self.p_ratio * first
        )

    def as_record(self) -> dict:
        return {
            "largest": self.largest,
            "share": float(self.share),
            "p_ratio": None if self.p_ratio is None else float(self.p_ratio),
            "min_persons": self.min_persons,
            "source": self.source,
        }


def _same_text(a: str, b: str) -> bool:
    """Whether two sources are the same text up to spacing and case."""
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


#: The dominance rules a release can be asked for by name (``--dominance-rule``).
DOMINANCE_PRESETS: dict[str, Dominance] = {}
DOMINANCE_PRESETS["acro"] = Dominance()
DOMINANCE_PRESETS["cbs-income-2021"] = Dominance(
    share=0.3, p_ratio=None, source=CBS_INCOME_SOURCE, largest=1, min_persons=100
)


def dominance_rule(preset: str = "acro", share: float | None = None, p_ratio: float | None = None,
                   source: str | None = None) -> Dominance:  # fmt: skip
    """The rule a release applies to amounts: a named preset (:data:`DOMINANCE_PRESETS`), or ACRO's form
    (the top pair and the p% rule) with the share and p-ratio given and the ``source`` they come from."""
    if preset not in DOMINANCE_PRESETS:
        raise ReleaseError(f"--dominance-rule {preset!r}: must be one of {', '.join(DOMINANCE_PRESETS)}")
    if share is None and p_ratio is None and source is None:
        return DOMINANCE_PRESETS[preset]
    if preset != "acro":
        raise ReleaseError(f"--dominance-rule {preset!r} has its own parameters and source: give it without "
                           "--dominance-share, --p-ratio or --dominance-source")  # fmt: skip
    return Dominance(0.9 if share is None else share, 0.1 if p_ratio is None else p_ratio,
                     ACRO_SOURCE if source is None else source)  # fmt: skip


#: The columns of a magnitude table (:meth:`ww_bayes.kinds.observations.Observation.magnitude_table`).
MAGNITUDES = ("persons", "total", "largest", "second_largest")


def magnitude_table(name: str, tree: xr.DataTree) -> pd.DataFrame | None:
    """The fit's cells' amounts (persons, total, largest, second largest per cell) when its observation is of
    amounts (:meth:`ww_bayes.kinds.observations.Observation.magnitude_table`); None otherwise."""
    observation = kind_of(tree).observation_of(tree)
    try:
        table = observation.magnitude_table(tree["observed_data"].ds, tree["constant_data"].ds)
    except KeyError:
        table = pd.DataFrame({"largest": [np.nan]})
    if table is not None and (
        any(c not in table for c in MAGNITUDES) or table[list(MAGNITUDES)].isna().to_numpy().any()
    ):
        raise ReleaseError(f"{name}: its cells keep no largest amounts, which the dominance rule reads: fit "
                           "it again with this version of ww_bayes")  # fmt: skip
    return table


def dominated_groups(magnitudes: pd.DataFrame | None, factor: str | None, mapping: dict[str, str] | None,
                     rule: Dominance) -> set[str]:  # fmt: skip
    """Groups of ``factor`` under ``mapping`` (None: the overall cohort, ``all``) in which an arm's amounts,
    or all arms' together, break the dominance ``rule``."""
    if magnitudes is None or (factor is not None and factor not in magnitudes):
        return set()
    frame = magnitudes.copy()
    frame["group"] = (
        "all" if factor is None else frame[factor].astype(str).map(lambda v: (mapping or {}).get(v, v))
    )
    slices = [c for c in SLICES if c in frame]
    out = set()
    for by in ([*slices, "arm", "group"], [*slices, "group"]):
        for _, rows in frame.groupby(by, observed=True, sort=False):
            total = float(rows["total"].sum())
            top = np.sort(np.concatenate([rows["largest"].to_numpy(), rows["second_largest"].to_numpy()]))[
                ::-1
            ]
            first, second = float(top[0]), float(top[1]) if len(top) > 1 else 0.0
            if rule.breaks(total, first, second, float(rows["persons"].sum())):
                out.add(str(rows["group"].iloc[0]))
    return out


@dataclass
class FitCounts:
    """What a fit lets be counted: its count table (every slice; the estimates of a group rest on them),
    whether ``counts.csv`` releases them, and its cohort composition (persons of all arms, outcome observed
    or not, per cell of its grouping factors), which its population-weighted estimands give away."""

    name: str
    cells: pd.DataFrame
    weights: xr.DataArray
    counts_released: bool
    #: the levels (factor names; None for the overall cohort) whose counts ``counts.csv`` leaves out
    #: (:func:`decide_opposites`)
    withheld_levels: set[str | None] = field(default_factory=set)
    #: the cells' amounts for the dominance rule (:func:`magnitude_table`; None: an observation of counts)
    magnitudes: pd.DataFrame | None = None
    #: the dominance rule its amounts must pass
    dominance: Dominance = field(default_factory=lambda: Dominance())
    #: per factor, the categories merged before its levels (:func:`decide_category_merges`)
    merges: dict[str, list[tuple[tuple[str, ...], str]]] = field(default_factory=dict)
    #: per factor, how its levels are released (:func:`decide_groupings`)
    groupings: dict[str, Grouping] = field(default_factory=dict)

    def cells_for(self, factor: str | None) -> pd.DataFrame:
        """The count table with the categories merged for ``factor`` (None: none merged)."""
        return merged_categories(self.cells, self.merges.get(factor, []))

    @property
    def sliced(self) -> bool:
        return any(c in self.cells for c in SLICES)

    def counts_at(self, factor: str | None) -> bool:
        """Whether ``counts.csv`` holds this fit's counts at the level of ``factor`` (None: overall)."""
        return self.counts_released and factor not in self.withheld_levels


def counts_rows(fit: FitCounts, factor: str | None, mapping: dict[str, str] | None) -> pd.DataFrame:
    """The rows ``counts.csv`` holds of a fit for one level (``factor`` None: the overall cohort)."""
    if factor is not None and factor not in fit.cells:
        return pd.DataFrame(columns=["fit", "level", "group", "arm", "category", "persons", "count"])
    table = grouped_counts(fit.cells, factor, mapping)
    if factor is None:
        table["group"] = "all"
    table = table.assign(fit=fit.name, level=OVERALL if factor is None else level_label(factor))
    return table[["fit", "level", "group", "arm", "category", "persons", "count"]]


def cohort_rows(fit: FitCounts, factor: str | None, mapping: dict[str, str] | None) -> pd.DataFrame:
    """The cohort persons per released group of a fit (columns fit, level, group, persons)."""
    weights = fit.weights
    if factor is None:
        return pd.DataFrame({"fit": [fit.name], "level": [OVERALL], "group": ["all"],
                             "persons": [float(weights.sum())]})  # fmt: skip
    if factor not in weights.dims:
        return pd.DataFrame(columns=["fit", "level", "group", "persons"])
    persons = weights.sum([d for d in weights.dims if d != factor]).to_series()
    groups = persons.groupby(persons.index.astype(str).map(lambda v: (mapping or {}).get(v, v))).sum()
    return pd.DataFrame({"fit": fit.name, "level": level_label(factor), "group": groups.index,
                         "persons": groups.to_numpy(dtype=float)})  # fmt: skip


def level_facts(fits: list[FitCounts], factor: str | None, mapping: dict[str, str] | None) -> pd.DataFrame:
    """Every count-like number the release lets be derived at one level: the counts it releases and the
    cohort persons per group (:func:`ww_bayes.audit.count_facts`, :func:`ww_bayes.audit.cohort_facts`)."""
    frames = [cohort_facts(cohort_rows(fit, factor, mapping)) for fit in fits]
    frames += [count_facts(counts_rows(fit, factor, mapping)) for fit in fits if fit.counts_released]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else count_facts(pd.DataFrame())


def failing_groups(fits: list[FitCounts], factor: str, mapping: dict[str, str], min_count: int) -> set[str]:
    """Groups of ``factor`` under ``mapping`` whose released count-like numbers, or their differences
    between fits or from the cohort persons, break the rule (:func:`ww_bayes.audit.fact_failures`)."""
    return set(fact_failures(level_facts(fits, factor, mapping), min_count)["group"])


@dataclass
class Grouping:
    """How one factor's levels are released: ``groups`` level -> released group (itself, or the factor's
    merged group); ``why`` the reason per merged level; ``suppressed``: no level table at all (even the
    merged group breaks the rule)."""

    factor: str
    groups: dict[str, str]
    why: dict[str, str] = field(default_factory=dict)
    suppressed: bool = False

    @property
    def merged(self) -> list[str]:
        return [level for level, group in self.groups.items() if group != level]

    @property
    def released(self) -> set[str]:
        return set() if self.suppressed else set(self.groups.values())

    def as_record(self) -> dict:
        return {"merged_group": merged_name(self.factor), "levels": self.groups,
                "suppressed": self.suppressed, "why": self.why}  # fmt: skip


def merged_categories(cells: pd.DataFrame, merges: list[tuple[tuple[str, ...], str]]) -> pd.DataFrame:
    """The count table with each merge's members counted as one category (persons are the cell's)."""
    if not merges:
        return cells
    relabel = {member: name for members, name in merges for member in members}
    frame = cells.assign(category=cells["category"].map(lambda c: relabel.get(c, c)))
    keys = [c for c in frame.columns if c not in ("persons", "count")]
    grouped = frame.groupby(keys, observed=True, sort=False)
    return grouped.agg(persons=("persons", "first"), count=("count", "sum")).reset_index()


def decide_category_merges(fit: FitCounts, merges, factors: list[str], min_count: int) -> None:
    """Per factor, the kind's category merges (``merges``: its :attr:`release_merges`) a fit's released
    estimates take before the factor's levels are merged, in order: a merge whose members (two or more in the
    count table) include one breaking the rule in some group and arm of the factor."""
    for factor in factors:
        if factor not in fit.cells:
            continue
        chosen = []
        for members, name in merges:
            present = tuple(m for m in members if m in set(fit.cells["category"]))
            if len(present) < 2:
                continue
            counts = grouped_counts(merged_categories(fit.cells, chosen), factor, None)
            if set(counts.loc[breaking_rows(counts, min_count), "category"]) & set(present):
                chosen.append((present, name))
        if chosen:
            fit.merges[factor] = chosen


def decide_grouping(
    tables: list[FitCounts], factor: str, min_count: int, start: Grouping | None = None
) -> Grouping:
    """One grouping of ``factor`` for ``tables``: levels breaking the rule in any fit, or whose released
    count-like numbers differ by 1 to ``min_count - 1`` between fits or from the cohort persons, go to the
    merged group, which grows by the smallest other levels until it passes in every fit. ``start``: a
    grouping whose merged levels are merged from the outset (the result coarsens it)."""
    fits = [t for t in tables if factor in t.weights.dims]
    levels = sorted({str(v) for t in fits for v in t.weights[factor].values})
    persons = pd.concat([t.weights.sum([d for d in t.weights.dims if d != factor]).to_series() for t in fits])
    persons = persons.groupby(persons.index.astype(str)).sum()

    def unsafe(mapping):
        rule = set().union(*(unsafe_groups(grouped_counts(t.cells_for(factor), factor, mapping), min_count)
                             for t in fits if factor in t.cells))  # fmt: skip
        dominated = set().union(*(dominated_groups(t.magnitudes, factor, mapping, t.dominance)
                                  for t in fits))  # fmt: skip
        return rule | dominated | failing_groups(fits, factor, mapping, min_count)

    name = merged_name(factor)
    given = set(start.merged) if start else set()
    first = unsafe({level: name if level in given else level for level in levels}) - {name}
    grouping = Grouping(factor, {level: level for level in levels})
    if not first and not given:
        return grouping
    merged = given | first
    grouping.why = {**(start.why if start else {}),
                    **dict.fromkeys(sorted(first), note("rule", below=min_count - 1))}  # fmt: skip
    while True:
        mapping = {level: name if level in merged else level for level in levels}
        if not unsafe(mapping):
            break
        rest = sorted((lv for lv in levels if lv not in merged), key=lambda lv: persons.get(lv, 0))
        if not rest:
            grouping.suppressed = True
            break
        merged.add(rest[0])
        grouping.why[rest[0]] = note("smallest", merged=name)
    grouping.groups = {level: name if level in merged else level for level in levels}
    return grouping


def decide_groupings(fits: list[FitCounts], factor: str, min_count: int, done: Release) -> Grouping:
    """The grouping of ``factor`` for each fit (set in :attr:`FitCounts.groupings`); returns the common one.

    One grouping for every fit, unless some fits alone need levels merged that the others do not (a fit
    whose categories are sparse, such as ZW in a region's control arm): those fits then share a coarser
    grouping, the common one with more levels merged, and the others keep the common one, decided on their
    own numbers. The groupings nest, so a reader who adds up a finer fit's groups to the coarser ones gets
    nothing the checks did not see: the coarser grouping is decided on the numbers of every fit at its own
    groups (the rule, differences between fits and from the cohort persons)."""
    holding = [t for t in fits if factor in t.weights.dims]
    together = decide_grouping(holding, factor, min_count)
    coarse = []
    if together.merged and len(holding) > 1:
        for fit in holding:
            without = decide_grouping([t for t in holding if t is not fit], factor, min_count)
            if len(without.merged) < len(together.merged):
                coarse.append(fit)
    base = [t for t in holding if t not in coarse]
    common = decide_grouping(base, factor, min_count) if coarse and base else together
    coarser = decide_grouping(holding, factor, min_count, start=common) if common is not together else common
    if set(coarser.merged) == set(common.merged):
        common = coarser  # every fit passes with the finer one, decided on all their numbers: one grouping
    for fit in holding:
        fit.groupings[factor] = coarser if fit in coarse else common
        if fit.groupings[factor] is not common:
            done.notes.append(note("fit_grouping", file=fit.name, factor=factor, merged=merged_name(factor),
                                   number=len(coarser.merged) - len(common.merged)))  # fmt: skip
    return common


def refines(finer: Grouping | None, coarser: Grouping) -> bool:
    """Whether every group of ``finer`` lies inside one group of ``coarser`` (both of the same factor):
    its merged levels are merged in ``coarser`` too, and ``coarser`` releases no level it does not. A fit
    without the factor (``finer`` None) refines nothing."""
    if finer is None:
        return False
    return set(finer.merged) <= set(coarser.merged) and (coarser.suppressed or not finer.suppressed)


def groupings_of(fits: list[FitCounts], factor: str) -> list[Grouping]:
    """The distinct groupings of ``factor`` among ``fits``, finest first."""
    distinct = {id(g): g for fit in fits if (g := fit.groupings.get(factor)) is not None}
    return sorted(distinct.values(), key=lambda g: (len(g.merged), g.suppressed))


def decide_fits(fits: list[FitCounts], min_count: int, done: Release) -> list[FitCounts]:
    """Which fits are released, and which with their counts: taken in order, a fit whose cohort persons
    differ from an earlier fit's released numbers by 1 to ``2 * min_count - 1`` (other data) is withheld; a
    fit whose whole-cohort counts differ so (from an earlier fit's, or from the cohort persons) keeps its
    estimates but not its counts (:func:`decision_window`)."""
    window = decision_window(min_count)
    accepted: list[FitCounts] = []
    for fit in fits:
        fit.counts_released = False
        if dominated_groups(fit.magnitudes, None, None, fit.dominance):
            done.withheld.append(note("dominated", file=fit.name))
            continue
        if not fact_failures(level_facts([*accepted, fit], None, None), window).empty:
            done.withheld.append(note("other_data", file=fit.name, files=", ".join(a.name for a in accepted),
                                      window=window))  # fmt: skip
            continue
        if not fit.sliced:
            fit.counts_released = True
            if not fact_failures(level_facts([*accepted, fit], None, None), window).empty:
                fit.counts_released = False
                done.notes.append(note("counts_withheld", file=fit.name, window=window))
        accepted.append(fit)
    return accepted


#: The most fits whose counts ``counts.csv`` holds at one level: the differencing takes the counts of two
#: and of three fits at a time (:func:`ww_bayes.audit.opposite_failures`), so of four outcomes that exclude
#: each other no fourth count is released to leave the persons with none.
COUNTED_FITS = 3


def decide_opposites(fits: list[FitCounts], factors: list[str], min_count: int, done: Release) -> None:
    """Per level (the overall cohort, then each factor under each of its groupings, finest first, with the
    fits whose grouping it coarsens: a reader adds up their finer groups), fits taken in order: a fit
    whose released counts would let the persons of a fit, or the cohort's persons, less two or three fits'
    counts be 1 to ``2 * min_count - 1`` in any group and arm (:func:`ww_bayes.audit.opposite_failures`)
    keeps its estimates but not its counts at that level. Of outcomes that exclude each other (at work, on
    WW) that number is the persons with neither; of outcomes that cover everyone, the persons with both. The
    cohort's persons per group count for every fit (weights recovery gives them). A fit whose overall
    counts are withheld keeps none by group either (a factor's groups add up to the overall); no more than
    :data:`COUNTED_FITS` fits keep counts at a level."""
    window = decision_window(min_count)
    tiers = [(None, None, fits)] + [
        (factor, grouping, [f for f in fits if refines(f.groupings.get(factor), grouping)])
        for factor in factors for grouping in groupings_of(fits, factor) if not grouping.suppressed
    ]  # fmt: skip
    for factor, grouping, scope in tiers:
        mapping = grouping.groups if grouping else None
        cohort = [cohort_facts(cohort_rows(fit, factor, mapping)) for fit in scope]
        accepted: list[tuple[str, pd.DataFrame]] = []
        for fit in scope:
            if not fit.counts_released or (factor is not None and factor not in fit.cells):
                continue
            if factor in fit.withheld_levels:  # at a finer grouping already: its groups add up to these
                continue
            if None in fit.withheld_levels:  # a factor's groups would add up to the overall rows
                fit.withheld_levels.add(factor)
                done.notes.append(note("groups_withheld", file=fit.name, level=level_label(factor)))
                continue
            if len(accepted) == COUNTED_FITS:  # four outcomes' counts: sets the differencing does not take
                fit.withheld_levels.add(factor)
                done.notes.append(note("counted_fits", file=fit.name, level=level_label(factor or OVERALL),
                                       number=COUNTED_FITS))  # fmt: skip
                continue
            facts = count_facts(counts_rows(fit, factor, mapping))
            together = pd.concat([*cohort, *(earlier for _, earlier in accepted), facts], ignore_index=True)
            if accepted and not opposite_failures(together, window).empty:
                fit.withheld_levels.add(factor)
                earlier_names = ", ".join(name for name, _ in accepted)
                level = level_label(factor or OVERALL)
                done.notes.append(note("opposite_withheld", file=fit.name, level=level, files=earlier_names,
                                       window=window))  # fmt: skip
                continue
            accepted.append((fit.name, facts))


def decision_window(min_count: int) -> int:
    """The threshold of a decision to withhold a whole file or total because of a difference: twice the
    minimum count. A file withheld when a difference is between 1 and ``min_count - 1`` would tell the
    reader that the difference is that small (a bound inside the forbidden range); withheld when it is
    between 1 and ``2 * min_count - 1``, it tells only that, which may be 10 or more."""
    return 2 * min_count


# --- what a fit may release, checked before anything is written -----------------------------------------


def check_releasable(name: str, tree: xr.DataTree, min_count: int = MIN_COUNT) -> None:
    """Raise :class:`ReleaseError` (one line naming it) for anything in the parts of a fit a release writes
    that it has no rule for: a level, variable or dim of the derived group its kind does not declare, a
    variable not of its role's type or range, an attribute off the whitelists or whose text holds a path or
    a small count, a variable, dim or attribute of the convergence table it does not know
    (:func:`ww_bayes.audit.declared_findings`)."""
    findings = declared_findings(name, tree)
    kind = kind_of(tree)
    nodes = [*tree[kind.name].subtree, tree["diagnostics"]]
    for node in nodes:
        texts = {f"{node.path} attribute {k}": v for k, v in node.attrs.items()}
        texts |= {f"{node.path}/{var} attribute {k}": v for var, values in node.ds.data_vars.items()
                  for k, v in values.attrs.items()}  # fmt: skip
        for where, value in texts.items():
            findings += text_findings(f"{name}: {where}", str(value), set(), min_count)
    if findings:
        raise ReleaseError(findings[0] if "not released" in findings[0] else f"{findings[0]}: not released")


# --- released estimates ------------------------------------------------------------------------------------


def released_levels(
    tree: xr.DataTree,
    groupings: dict[str, Grouping],
    min_count: int,
    notes: list[tuple[str, dict]],
    merges: dict[str, list[tuple[tuple[str, ...], str]]] | None = None,
) -> dict[str, xr.Dataset]:
    """The fit's derived levels as released: each factor's level through its grouping (every variable by
    its declared role) after its categories ``merges`` (per factor), the cell grid left out, and at the
    overall level the shares rounded, or with the partial estimands not released (:func:`released_shares`)."""
    kind = kind_of(tree)
    variables = kind.derived_variables
    weights = fit_weights(tree)
    out = {}
    for level, ds in levels_of(tree[kind.name]).items():
        if level == CELLS:
            notes.append(("cells", {"kind": kind.name}))
            continue
        events = probability_events(tree, ds)
        if level == OVERALL:
            out[level] = recomputed_probabilities(
                released_shares(ds, tree, min_count, notes), variables, events
            )
            continue
        grouping = groupings[level]
        if grouping.suppressed:
            notes.append(("level", {"kind": kind.name, "level": level}))
            continue
        if (merges or {}).get(level):
            before, ds = ds, kind.merge_categories(ds, merges[level])
            events = probability_events(tree, ds)
            described = "; ".join(f"{', '.join(members)} into {name}" for members, name in merges[level])
            names = ", ".join(n for n, v in ds.data_vars.items()
                              if variables[n].role == "estimand" and v.sizes != before[n].sizes)  # fmt: skip
            notes.append(("categories_merged", {"names": names, "factor": level,
                                                "merged_categories": described}))  # fmt: skip
        persons = weights.sum([d for d in weights.dims if d != level])
        merged = _merged_level(ds, grouping, persons, kind.derived_variables, events, notes)
        out[level] = recomputed_probabilities(merged, variables, events)
    return out


def _merged_level(ds: xr.Dataset, grouping: Grouping, persons, variables, events, notes) -> xr.Dataset:
    """A factor's level with its small levels merged, each variable by its role; ``events``: the smallest
    effect of interest and the good direction's sign, for the probabilities of merged draws."""
    factor = grouping.factor
    if not grouping.merged:
        return ds
    labels = xr.DataArray([grouping.groups[str(v)] for v in ds[factor].values], dims=factor, name="group")
    order = list(dict.fromkeys(labels.values))
    merged = xr.Dataset(attrs=ds.attrs)
    w = persons.sel({factor: ds[factor].values})
    for name, values in ds.data_vars.items():
        role = variables[name].role
        if role == "estimand":
            total = (values * w).groupby(labels).sum() / w.groupby(labels).sum()
            merged[name] = total.rename(group=factor).sel({factor: order}).transpose(*values.dims)
        elif role == "flag":
            merged[name] = values.groupby(labels).any().rename(group=factor).sel({factor: order})
        elif role == "ratio":
            kept = values.where(labels == values[factor], np.nan)  # unmerged levels as they are
            first = kept.groupby(labels).first().rename(group=factor).sel({factor: order})
            merged[name] = first.transpose(*values.dims)
            notes.append(("ratio", {"name": name, "factor": factor, "merged": merged_name(factor)}))
        elif role != "probability":  # probabilities: from the merged draws below
            raise ReleaseError(f"{name} by {factor}: a {role} has no merging rule: not released")
    for name, values in ds.data_vars.items():
        variable = variables[name]
        if variable.role == "probability" and variable.of in merged:
            merged[name] = probability(merged[variable.of], variable.event, *events).transpose(
                *(d for d in values.dims)
            )
    return merged.assign_coords({factor: order})


def share_step(whole: float, min_count: int) -> float:
    """The step a share of ``whole`` persons is rounded to: the first of :data:`SHARE_STEPS` that holds at
    least ``min_count`` persons, so no count derived from a rounded share is known to within fewer than
    ``min_count`` persons."""
    return next((step for step in SHARE_STEPS if step * whole >= min_count), SHARE_STEPS[-1])


def pattern_persons(flags: xr.DataArray, weights: xr.DataArray) -> pd.Series:
    """Cohort persons per pattern of a cell-level flag over its non-factor dims (the contrasts): the pieces
    every inclusion-exclusion combination of the shares is a sum of."""
    factors = list(weights.dims)
    others = [d for d in flags.dims if d not in factors]
    table = flags.transpose(*others, *factors).values.reshape(-1, int(np.prod(weights.shape) or 1))
    patterns = pd.Series([tuple(column) for column in table.T.astype(bool)])
    persons = pd.Series(weights.transpose(*factors).values.reshape(-1).astype(float))
    return persons.groupby(patterns).sum()


def released_shares(
    ds: xr.Dataset, tree: xr.DataTree, min_count: int, notes: list[tuple[str, dict]]
) -> xr.Dataset:
    """The overall level with its shares (role ``share``) rounded to :func:`share_step`, when the persons
    of every pattern of the cell-level flag each share sums pass the rule; otherwise neither the shares nor
    the partial estimands (estimands over the unflagged part of the cohort) are released."""
    kind = kind_of(tree)
    roles = {name: kind.derived_variables[name].role for name in ds.data_vars}
    shares = [name for name, role in roles.items() if role == "share"]
    if not shares:
        return ds
    weights = fit_weights(tree)
    whole = float(weights.sum())
    cells = levels_of(tree[kind.name]).get(CELLS, xr.Dataset())
    safe = True
    for name in shares:
        flags = _flag_of(ds[name], cells, weights, roles)
        safe &= flags is not None and not breaks_rule(pattern_persons(flags, weights), min_count).any()
    ds = ds.copy()
    listed = ", ".join(shares)
    if safe:
        step = share_step(whole, min_count)
        for name in shares:
            rounded = (np.round(ds[name] / step) * step).round(6)
            ds[name] = rounded.assign_attrs({**ds[name].attrs, "rounded_to": step})
        notes.append(
            ("shares_rounded", {"names": listed, "step": f"{step:.0%}", "persons": f"{step * whole:,.0f}"})
        )
        return ds
    partial = [name for name, role in roles.items() if role == "partial_estimand"]
    for name in shares + partial:
        ds[name] = xr.full_like(ds[name], np.nan)
    notes.append(("shares_withheld", {"names": ", ".join(shares + partial)}))
    return ds


def _flag_of(share: xr.DataArray, cells: xr.Dataset, weights: xr.DataArray, roles) -> xr.DataArray | None:
    """The cell-level flag whose persons-weighted share ``share`` is (None when none is)."""
    factors = list(weights.dims)
    for name, values in cells.data_vars.items():
        if roles.get(name, "flag") != "flag" and name not in roles:
            continue
        if not set(factors) <= set(values.dims) or values.dtype != bool:
            continue
        computed = (values * weights).sum(factors) / weights.sum()
        if computed.dims == share.dims and np.allclose(computed.values, share.values, atol=1e-9):
            return values
    return None


#: What a released synthetic-data origin keeps: the simulator and its version, not its persons or seed (with
#: the released totals, a public simulator and its seed give the persons an extract left out).
SIMULATOR_ORIGIN = re.compile(r"ww_bayes [0-9][0-9A-Za-z.+-]* simulator")


def released_origin(text) -> str:
    """A fit's ``synthetic_data`` as released: the simulator and its version without the persons and seed it
    was run with; any other text as it is (the audit holds it to its form)."""
    found = SIMULATOR_ORIGIN.match(str(text))
    return found.group(0) if found else str(text)


def released_attrs(tree: xr.DataTree, min_count: int, fit_file: str, fit_sha256: str) -> dict:
    attrs = {k: tree.attrs[k] for k in RELEASED_ATTRS if k in tree.attrs}
    if "synthetic_data" in attrs:
        attrs["synthetic_data"] = released_origin(attrs["synthetic_data"])
    if "spec_text" in attrs:  # its settings only: comments and a description are the analyst's free text
        attrs["spec_text"] = released_toml(str(attrs["spec_text"]), "spec_text")
        problem = toml_problem("spec_text", attrs["spec_text"])
        if problem:
            raise ReleaseError(f"{fit_file}: its spec is {problem}: not released")
    attrs.update(
        {
            "ww_bayes_kind": RELEASED_KIND,
            "spec_name": Path(str(tree.attrs.get("spec_source", ""))).name,
            "min_count": min_count,
            "released_with": f"ww_bayes {__version__}",
            "fit_file": fit_file,
            "fit_sha256": fit_sha256,
        }
    )
    return attrs


# --- the release --------------------------------------------------------------------------------------------


@dataclass
class Release:
    """What :func:`release` wrote and checked: the files (path -> what it holds), the groupings, notes on
    what was merged or suppressed, every check with its result, and the audit of the written folder."""

    folder: Path
    min_count: int
    files: dict[Path, str] = field(default_factory=dict)
    groupings: dict[str, Grouping] = field(default_factory=dict)
    #: per fit file, the factors it releases coarser than :attr:`groupings` (:func:`decide_groupings`)
    fit_groupings: dict[str, dict[str, Grouping]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    checks: list[tuple[str, bool]] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)
    fits: dict[str, dict] = field(default_factory=dict)
    audit: Audit | None = None
    #: why each withheld file of the results folder could not be read (shown on screen, not released)
    unreadable: dict[str, str] = field(default_factory=dict)
    made: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    #: the dominance rule for amounts (:class:`Dominance`)
    dominance: Dominance = field(default_factory=Dominance)
    #: per fit file, per factor: the categories merged before the factor's levels (:attr:`FitCounts.merges`)
    category_merges: dict[str, dict[str, list]] = field(default_factory=dict)
    #: key of the released data hashes (never written): fits of the same data keep equal hashes, but a
    #: reader cannot test a guessed data file against them
    data_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def data_hash(self, data_sha256: str) -> str:
        """A fit's data hash as released: HMAC-SHA256 of its data's SHA-256 under :attr:`data_key`."""
        if not data_sha256:
            return ""
        return hmac.new(self.data_key, data_sha256.encode(), hashlib.sha256).hexdigest()


def release(
    results: str | os.PathLike,
    out: str | os.PathLike,
    min_count: int = MIN_COUNT,
    dominance: Dominance | None = None,
) -> Release:
    """Write the releasable outputs of a results folder to ``out`` (which must be empty or new): per fit its
    estimates (``<stem>_estimates.nc``), summary (CSV) and figures; the cost-effectiveness draws and tables
    when the fits they came from are released too; ``counts.csv``; the record of the release with every
    check (``disclosure_checks.json``) and the disclosure report (``disclosure_report.md`` / ``.html``).
    Built in a temporary folder, audited as written (:func:`ww_bayes.audit.audit`) and moved into place
    only when every check passes: on any error nothing is left. ``dominance``: the rule for amounts (hours;
    default :class:`Dominance`)."""
    results, out = Path(results), Path(out)
    dominance = Dominance() if dominance is None else dominance
    if not results.is_dir():
        raise ReleaseError(f"{results.name}: no such results folder")
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise ReleaseError(f"--min-count {min_count!r}: must be a whole number of at least 1")
    if out.exists() and (not out.is_dir() or any(p for p in out.iterdir() if p.name != LOCK_NAME)):
        raise ReleaseError(f"--out {out.name}: not empty; a release goes to a new or empty folder, so "
                           "nothing unchecked travels with it")  # fmt: skip
    run = collect(results)
    if not run.fits and not run.cost_effectiveness:
        raise ReleaseError(f"{results.name}: no ww_bayes fits or cost-effectiveness results to release")
    for path, tree in run.fits.items():
        check_releasable(path.name, tree, min_count)
    for path, tree in run.cost_effectiveness.items():
        findings = cea_findings(path.name, tree[CEA_GROUP].to_dataset())
        if findings:
            raise ReleaseError(findings[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".building", dir=out.parent))
    try:
        done = _build(run, building, min_count, dominance)
        _move_into_place(building, out)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    done.folder = out
    done.files = {out / p.name: what for p, what in done.files.items()}
    return done


def _move_into_place(building: Path, out: Path) -> None:
    if out.exists():
        (out / LOCK_NAME).unlink(missing_ok=True)
        out.rmdir()  # empty: checked before anything was built
    os.replace(building, out)


def _build(run, folder: Path, min_count: int, dominance: Dominance) -> Release:
    done = Release(folder, min_count, dominance=dominance)
    # the reason a file cannot be read may quote anything: the record says only where to find it
    done.withheld = [note("unreadable", file=p.name) for p in run.skipped]
    done.unreadable = {p.name: without_paths(reason) for p, reason in run.skipped.items()}
    done.withheld += [note("not_a_result", file=p.name) for p in run.other]
    tables = {path: count_table(tree) for path, tree in run.fits.items()}
    bad_slices = {path: overall_bad_slices(path, table, min_count) for path, table in tables.items()}
    tables = {path: drop_slices(table, bad_slices[path]) for path, table in tables.items()}
    fits = [
        FitCounts(
            path.name,
            tables[path],
            fit_weights(tree),
            False,
            magnitudes=magnitude_table(path.name, tree),
            dominance=dominance,
        )  # fmt: skip
        for path, tree in run.fits.items()
    ]
    kept = {fit.name: fit for fit in decide_fits(fits, min_count, done)}
    released = {path: tree for path, tree in run.fits.items() if path.name in kept}
    factors = list(dict.fromkeys(f for tree in released.values() for f in released_factors(tree)))
    for path, tree in released.items():
        decide_category_merges(kept[path.name], kind_of(tree).release_merges, factors, min_count)
        done.category_merges[path.name] = kept[path.name].merges
    done.groupings = {f: decide_groupings(list(kept.values()), f, min_count, done) for f in factors}
    decide_opposites(list(kept.values()), factors, min_count, done)
    for factor in factors:
        if any(len(g.merged) == len(g.groups) for g in groupings_of(list(kept.values()), factor)):
            done.notes.append(note("all_merged", factor=factor, merged=merged_name(factor)))
    for path, tree in released.items():
        _release_fit(path, tree, kept[path.name], bad_slices[path], done)
    hashes = {file_sha256(path): path for path in released}
    suppressed = [p.name for p, slices in bad_slices.items() if slices]
    for path, tree in run.cost_effectiveness.items():
        reason = cea_refusal(path.name, tree, hashes, suppressed) or _priced_merged_states(
            path.name, tree, hashes, done
        )
        if reason:
            done.withheld.append(reason)
            continue
        # its cohort size goes against every released fit's totals, not only its sources'
        release_cea(path, tree, done, [kept[p.name] for p in released])
    if not done.files:
        raise ReleaseError("nothing to release: " + "; ".join(done.withheld or ["no fit passes the rule"]))
    (folder / LOCK_NAME).unlink(missing_ok=True)  # the writers' lock: only checked files in the folder
    write_record(done)  # without the audit's results: the audit reads the record as written so far
    check_written(done)
    if done.audit.passed:  # the record with the audit's results, the reports rendered from it, checked last
        write_record(done)
        write_disclosure_report(done)
        (folder / LOCK_NAME).unlink(missing_ok=True)
        final = audit(folder, min_count, only=FINAL_CHECKS)
        done.checks += [(f"as written last: {check.text}", check.passed) for check in final.checks]
        findings = final.findings
    else:
        findings = done.audit.findings
    if not all(ok for _, ok in done.checks):
        failed = [text for text, ok in done.checks if not ok]
        first = f" (first findings: {'; '.join(findings[:5])})" if findings else ""
        raise ReleaseError(f"the release failed its checks on the written files: {'; '.join(failed)}{first}")
    return done


def released_factors(tree: xr.DataTree) -> list[str]:
    """The grouping factors a fit's released estimates hold: its derived levels other than overall and the
    cell grid (each is a factor of the fit: :func:`check_releasable`)."""
    return [level for level in levels_of(tree[kind_of(tree).name]) if level not in (OVERALL, CELLS)]


def _source_hashes(tree: xr.DataTree) -> list[str]:
    return [h.strip() for h in str(tree.attrs.get("fits_sha256", "")).split(",") if h.strip()]


def cea_refusal(name: str, tree: xr.DataTree, hashes: dict[str, Path], suppressed: list[str]) -> str:
    """Why a cost-effectiveness result cannot be released with the fits of this release ("" if it can):
    it is released only with every fit it was computed from (matched by SHA-256), under their grouping."""
    wanted = _source_hashes(tree)
    if not wanted:
        return note("cea_no_sources", file=name)
    missing = [h for h in wanted if h not in hashes]
    if missing:
        return note("cea_sources_missing", file=name, number=len(missing), total=len(wanted))
    sources = {hashes[h].name for h in wanted}
    if set(suppressed) & sources:
        return note("cea_months", file=name, files=", ".join(sorted(set(suppressed) & sources)))
    return ""


def _priced_merged_states(name: str, tree: xr.DataTree, hashes: dict[str, Path], done: Release) -> str:
    """Why a cost-effectiveness result that prices other benefits (``other_benefits_paid``) cannot leave
    ("" if it can): a fit it was computed from has states this release merges by Werkverkenner class. Its
    by-class quantities price each benefit at its own amount (drawn from the released assumptions' seed),
    so they would give back, per class, the split of the states the release merged."""
    if "other_benefits_paid" not in tree[CEA_GROUP].ds:
        return ""
    sources = [hashes[h].name for h in _source_hashes(tree) if h in hashes]
    merged = sorted(s for s in sources if done.category_merges.get(s, {}).get(CEA_CLASSES))
    return note("cea_merged_states", file=name, files=", ".join(merged)) if merged else ""


def overall_bad_slices(path: Path, cells: pd.DataFrame, min_count: int) -> set[tuple]:
    """The slices (outcome, month) in which an arm of the whole cohort breaks the rule; a fit without
    slices (a 12-month fit) whose overall counts break it cannot be released at all."""
    overall = grouped_counts(cells, None, None)
    bad = breaking_rows(overall, min_count)
    keys = [c for c in SLICES if c in cells]
    if bad.any() and not keys:
        raise ReleaseError(
            f"{path.name}: the overall counts of an arm break the rule (persons, a count or its complement "
            f"between 1 and {min_count - 1}); nothing can be released from it"
        )
    rows = overall.loc[bad, keys].itertuples(index=False, name=None)
    return {
        tuple(str(v) if k == "outcome" else int(v) for k, v in zip(keys, row, strict=True)) for row in rows
    }


def drop_slices(cells: pd.DataFrame, slices: set[tuple]) -> pd.DataFrame:
    if not slices:
        return cells
    keys = [c for c in SLICES if c in cells]
    labels = cells[keys].astype({k: str if k == "outcome" else int for k in keys})
    return cells[~pd.MultiIndex.from_frame(labels).isin(list(slices))]


def mask_slices(
    levels: dict[str, xr.Dataset], slices: set[tuple], kind, notes: list[tuple[str, dict]]
) -> dict:
    """Suppress (NaN) the estimates of slices (outcome, month) whose overall counts break the rule, and the
    kind's cumulative estimands from the first such month of their outcome on."""
    if not slices:
        return levels
    out = {}
    for level, ds in levels.items():
        ds = ds.copy()
        for name, values in ds.data_vars.items():
            if {"outcome", "month"} <= set(values.dims) and np.issubdtype(values.dtype, np.floating):
                mask = xr.DataArray(
                    [
                        [(str(o), int(m)) in slices for m in values["month"].values]
                        for o in values["outcome"].values
                    ],
                    dims=("outcome", "month"),
                    coords={"outcome": values["outcome"], "month": values["month"]},
                )
                ds[name] = values.where(~mask)
        for estimand, outcome in kind.cumulative_estimands.items():
            months = [int(m) for o, m in slices if str(o) == outcome]
            if months and estimand in ds and "horizon" in ds[estimand].dims:
                ds[estimand] = ds[estimand].where(ds[estimand]["horizon"] < min(months))
        out[level] = ds
    notes.append(("slices", {"slices": ", ".join(f"{o} month {m}" for o, m in sorted(slices))}))
    return out


def _release_fit(path: Path, tree: xr.DataTree, fit: FitCounts, slices: set[tuple], done: Release) -> None:
    kind = kind_of(tree)
    notes: list[tuple[str, dict]] = []  # (sentence, its fields) of :data:`ww_bayes.record.NOTES`
    levels = released_levels(tree, fit.groupings, done.min_count, notes, fit.merges)
    levels = mask_slices(levels, slices, kind, notes)
    done.notes += [note(key, file=path.name, **fields) for key, fields in notes]
    released = xr.DataTree.from_dict(
        {
            **{f"{kind.name}/{level}": ds for level, ds in levels.items()},
            "diagnostics": tree["diagnostics"].ds,
        }
    )
    released[kind.name].attrs.update(tree[kind.name].attrs)
    sha256 = file_sha256(path)
    released.attrs.update(released_attrs(tree, done.min_count, path.name, sha256))
    data_sha256 = done.data_hash(str(tree.attrs.get("data_sha256", "")))
    if "data_sha256" in released.attrs:
        released.attrs["data_sha256"] = data_sha256
    stem = path.stem
    target = write_datatree(released, done.folder / f"{stem}{RELEASED_SUFFIX}.nc")
    done.files[target] = note("estimates", kind=kind.name)
    released = read_released(target)  # tables and figures from the file as written, as the audit draws them
    own = {f: g for f, g in fit.groupings.items() if g is not done.groupings.get(f)}
    if own:
        done.fit_groupings[path.name] = own
    done.fits[path.name] = {"estimates": target.name, "factors": [str(d) for d in fit.weights.dims],
                            "counts_released": fit.counts_released, "fit_sha256": sha256,
                            "data_sha256": data_sha256,
                            "groupings": {f: g.as_record() for f, g in own.items()}}  # fmt: skip
    table = summarise(released)  # the kind's summary of the released estimates
    done.files[save_table(table, done.folder / f"{stem}_summary.csv")] = note("summary")
    # PNG only: the audit draws each again and compares pixels; an SVG's text it has no rule for
    for name, drawing in fit_figures(stem, released, table).items():
        done.files[save_png(drawing(), done.folder / name)] = note("figure", stem=stem)
    if fit.sliced:
        done.notes.append(note("month_counts", file=path.name))
        return
    counts = released_counts(fit, fit.groupings)
    if counts.empty:
        return
    counts_path = done.folder / COUNTS_FILE
    if counts_path.is_file():
        before = pd.read_csv(counts_path, dtype={"group": str, "category": str})
        counts = pd.concat([before, counts], ignore_index=True)
    done.files[save_table(counts, counts_path)] = note("counts")


def released_counts(fit: FitCounts, groupings: dict[str, Grouping]) -> pd.DataFrame:
    """Persons and counts per arm and category: overall and per released group of each factor."""
    frames = [counts_rows(fit, None, None)] if fit.counts_at(None) else []
    for factor, grouping in groupings.items():
        if factor in fit.cells and not grouping.suppressed and fit.counts_at(factor):
            frames.append(counts_rows(fit, factor, grouping.groups))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def release_cea(path: Path, tree: xr.DataTree, done: Release, sources: list[FitCounts] | None = None) -> None:
    """Release a cost-effectiveness result: its draws, summary, targeting table and figures, only when every
    class is released as itself (its overall quantities are cohort-weighted means of class inputs that the
    shipped assumptions regenerate, so with merged classes they give each class's persons); the cohort
    totals only when the cohort size differs from every released whole-cohort total of ``sources`` (every
    released fit) by 0 or at least :func:`decision_window`; the assumptions file by name only."""
    result = tree[CEA_GROUP].to_dataset()
    findings = cea_findings(path.name, result)
    if findings:
        raise ReleaseError(findings[0])
    if "assumptions_source" in result.attrs:  # a path on the secure machine: its file name only
        result.attrs["assumptions_source"] = Path(str(result.attrs["assumptions_source"])).name
    if "assumptions_text" in result.attrs:  # its settings only, as a released spec's
        result.attrs["assumptions_text"] = released_toml(str(result.attrs["assumptions_text"]), path.name)
        problem = toml_problem("assumptions_text", result.attrs["assumptions_text"])
        if problem:
            raise ReleaseError(f"{path.name}: its assumptions are {problem}: not released")
    if "synthetic_data" in result.attrs:
        result.attrs["synthetic_data"] = released_origin(result.attrs["synthetic_data"])
    result = result.drop_vars(list(CEA_WITHHELD), errors="ignore")
    classes = [done.groupings.get(CEA_CLASSES)]  # and each fit's own, where it is coarser
    classes += [fit.groupings[CEA_CLASSES] for fit in sources or [] if CEA_CLASSES in fit.groupings]
    labels = set(map(str, result[CEA_CLASSES].values)) if CEA_CLASSES in result.coords else set()
    if not all(cea_classes_released(grouping, labels) for grouping in classes):
        # every overall quantity is a cohort-weighted mean over classes of class inputs that the public
        # assumptions regenerate (their seed is in the shipped file): least squares gives each class's share
        # of the cohort, merged or not; so with merged classes nothing of the result is released
        done.notes.append(note("cea_classes", file=path.name))
        return
    sizes = [float(result.attrs["cohort_size"])] if "cohort_size" in result.attrs else []
    if "assumptions_text" in result.attrs:  # the assumptions name one too
        sizes.append(float(tomllib.loads(str(result.attrs["assumptions_text"])).get("cohort_size", 0)))
    window = decision_window(done.min_count)
    totals = released_totals(sources or [])
    if any(breaks_rule([abs(size - total)], window)[0] for size in sizes for total in totals):
        result.attrs.pop("cohort_size", None)
        if "assumptions_text" in result.attrs:  # and from the assumptions as released
            text = str(result.attrs["assumptions_text"])
            result.attrs["assumptions_text"] = released_toml(text, path.name, leave_out=("cohort_size",))
        result = result.drop_vars([v for v in result.data_vars if v.endswith(COHORT_SUFFIX)])
        done.notes.append(note("cea_cohort", file=path.name, below=window - 1))
    released = xr.DataTree.from_dict({CEA_GROUP: result})
    released.attrs.update(
        {
            "ww_bayes_kind": tree.attrs.get("ww_bayes_kind", ""),
            "fits_sha256": str(tree.attrs.get("fits_sha256", "")),
            "effects_source": str(tree.attrs.get("effects_source", "")),
            "fits": ", ".join(Path(p.strip()).name for p in str(tree.attrs.get("fits", "")).split(",")),
        }
    )
    target = write_datatree(released, done.folder / path.name)
    done.files[target] = note("cea_draws")
    result = read_released(target)[CEA_GROUP].to_dataset()  # as the audit reads it
    done.files[save_table(cea_summary(result), done.folder / "cost_effectiveness_summary.csv")] = note(
        "cea_summary"
    )
    if "rule_expected_net_benefit" in result:
        done.files[save_table(targeting_table(result), done.folder / "cost_effectiveness_targeting.csv")] = (
            note("cea_targeting")
        )
    for file, drawing in cea_figures_of(result).items():
        try:
            figure = drawing()
        except KeyError:
            continue  # its by-class inputs were not released
        name = file.removesuffix(".png").removeprefix("cea_")
        done.files[save_png(figure, done.folder / file)] = note("cea_figure", name=name)


def cea_classes_released(classes: Grouping | None, labels: set[str]) -> bool:
    """Whether every class a cost-effectiveness result speaks of (``labels``) is released as itself: the
    condition for releasing the result at all."""
    return (
        classes is not None and not classes.merged and not classes.suppressed and labels <= classes.released
    )


def released_totals(fits: list[FitCounts]) -> list[float]:
    """Every whole-cohort total the release lets be derived from ``fits``: the cohort persons and, for the
    fits whose counts are released, the persons of every set of arms."""
    totals = [float(fit.weights.sum()) for fit in fits]
    for fit in fits:
        if not fit.counts_at(None):
            continue
        overall = counts_rows(fit, None, None)
        for _, rows in overall.groupby("category"):
            persons = rows.set_index("arm")["persons"]
            for size in range(1, len(persons) + 1):
                totals += [float(persons[list(arms)].sum()) for arms in combinations(persons.index, size)]
    return totals


# --- the checks, on the folder as written -----------------------------------------------------------------


def write_record(done: Release) -> None:
    """``disclosure_checks.json``: the rule, the grouping, the fits, what was suppressed or withheld, and
    every output file with its SHA-256, what it holds and the checks that read it (with their findings);
    before the audit has run, its verdict is "not checked" and it lists no checks."""
    checks = done.audit.checks if done.audit else []
    outputs = {}
    for path, what in sorted(done.files.items()):
        mine = [c for c in checks if path.name in c.outputs]
        outputs[path.name] = {
            "sha256": file_sha256(path),
            "holds": what,
            "status": "pass" if all(c.passed for c in mine) else "fail",
            "checks": [{"check": c.key, "passed": c.passed} for c in mine],
            "findings": [f for c in mine for f in c.findings if path.name in f],
        }
    record = {
        "format": RECORD_FORMAT,
        "made": done.made,
        "ww_bayes": __version__,
        "rule": {
            "min_count": done.min_count,
            "applies_to": RULE_TEXT,
            "dominance": done.dominance.as_record(),
        },
        "verdict": (PASSED if done.audit.passed else "fail") if done.audit else BUILDING,
        "groupings": {factor: g.as_record() for factor, g in done.groupings.items()},
        "fits": done.fits,
        "suppressed": done.notes,
        "withheld": done.withheld,
        "checks": done.audit.as_record() if done.audit else [],
        "outputs": outputs,
    }
    text = json.dumps(record, indent=1, ensure_ascii=False) + "\n"
    atomic_write(done.folder / CHECKS_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def check_written(done: Release) -> None:
    """The checks the disclosure report lists, run on the folder as written: the audit
    (:func:`ww_bayes.audit.audit`) with every attack on it and the folder's own checks."""
    done.audit = audit(done.folder, done.min_count, building=True)
    done.checks = [(check.text, check.passed) for check in done.audit.checks]


def write_disclosure_report(done: Release) -> None:
    """``disclosure_report.md`` and ``.html``, rendered from the record as written
    (:func:`ww_bayes.record.report_texts`)."""
    record = json.loads((done.folder / CHECKS_FILE).read_text(encoding="utf-8"))
    for name, text in report_texts(record).items():
        atomic_write(done.folder / name, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8"))


#: The rule and the whitelists live with the audit that checks them; a release writes by them.
__all__ = [
    "CEA_ATTRS",
    "CEA_DIMS",
    "CEA_VARIABLES",
    "DERIVED_ATTRS",
    "DIAGNOSTICS_ATTRS",
    "DIAGNOSTICS_DIMS",
    "DIAGNOSTICS_VARIABLES",
    "MIN_COUNT",
    "RELEASED_ATTRS",
    "REPORT_FILES",
    "WITHHELD_GROUPS",
    "Grouping",
    "Release",
    "ReleaseError",
    "breaks_rule",
    "check_releasable",
    "count_table",
    "decide_grouping",
    "merged_name",
    "release",
]
