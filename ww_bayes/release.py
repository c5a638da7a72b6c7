"""The files that may leave a secure environment: model-based estimates that pass statistical disclosure
control, and a disclosure report an output checker reads before approving them.

The rule (CBS's): no released number may describe fewer than ``min_count`` persons (default 10), including
through its complement: every released count, and every estimate of a group, is based on groups in which
each arm has ``persons``, and per category of the observation ``count`` and ``persons - count``, each
either 0 or at least ``min_count``.

How :func:`release` keeps it, failing closed:

- **Only model-based estimates leave.** From each fit only its derived group (the kind's estimands, one
  child per level) and its convergence table; never the groups that hold counts or let them be computed
  (:data:`WITHHELD_GROUPS`). Every level, variable, dim and attribute of what is released must be one the
  fit's model kind declares (:mod:`ww_bayes.derived`) or one of this module's whitelists: anything else
  refuses the release with one line naming it, before anything is written.
- **Small groups are merged, decided once.** Every grouping factor found in the estimates released is
  merged: a level whose counts break the rule in any fit, outcome, month or category goes into one named
  group ("other regions"), enlarged with the smallest other levels until it passes itself; the same
  grouping is used in every released table and figure, so no difference between two tables isolates a
  small group. Each variable is merged by its declared role: population-weighted estimands as the
  persons-weighted means of their levels, probabilities recomputed from the merged draws, flags as any of
  their levels; ratios (relative risks) are not released for a merged group.
- **Counts only of released groups.** ``counts.csv``: persons and, per category, how many of them, per arm
  for the overall cohort and each released group, keyed by fit file; every value is checked.
- **Built aside, checked as written, then moved.** The release is written to a temporary folder beside
  ``out``; the checks read the written files (the dims and labels they hold, not this module's own list);
  only when every check passes is the folder moved into place. On any failure nothing is left but the
  message.
- **Nothing that names the secure machine.** Root attributes are a whitelist (:data:`RELEASED_ATTRS`);
  files are named by file name only, never by path.
"""

from __future__ import annotations

import contextlib
import getpass
import html
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ww_bayes import __version__
from ww_bayes.cea import summary as cea_summary
from ww_bayes.cea import targeting_table
from ww_bayes.data.io import LOCK_NAME, atomic_write, file_sha256, write_datatree
from ww_bayes.derived import (
    CELLS,
    OVERALL,
    DerivedLayoutError,
    check_derived,
    direction_sign,
    level_label,
    levels_of,
    probability,
)
from ww_bayes.kinds import kind_of
from ww_bayes.kinds.pooling import fit_weights
from ww_bayes.labels import Words
from ww_bayes.results import CEA_GROUP, RELEASED_KIND, RELEASED_SUFFIX, collect, save_table, summarise
from ww_bayes.viz import CEA_FIGURES, cea_figure, cea_plot, draw, figure_name, save_figure
from ww_bayes.vocabulary import SAMPLE_DIMS

#: The smallest number of persons a released number may describe (CBS's output rule).
MIN_COUNT = 10
#: Groups of a fit never released: they hold counts or let counts be computed.
WITHHELD_GROUPS = ("observed_data", "constant_data", "weights", "log_likelihood", "posterior_predictive",
                   "prior_predictive", "posterior", "prior", "sample_stats", "frequentist")  # fmt: skip
#: Fit attributes a release keeps (provenance without identities); everything else is dropped.
RELEASED_ATTRS = ("model_kind", "model_name", "outcome", "spec_text", "data_sha256", "seed", "sampler",
                  "chains", "draws", "tune", "target_accept", "adaptation", "package_versions",
                  "ww_bayes_version", "interval_kind", "interval_prob", "smallest_effect_pp", "anchor",
                  "converged", "convergence_report", "fit_schema_version", "likelihood", "stored_draws",
                  "thinned_by", "sampled_draws", "observation", "grouping_factors",
                  "synthetic_data")  # fmt: skip
#: Attributes the derived group, its levels and its variables may carry (anything else refuses).
DERIVED_ATTRS = (
    "effect_units",
    "cumulative_units",
    "weights",
    "smallest_effect_pp",
    "units",
    "good_direction",
)
#: The convergence table as released: its variables, dims and attributes (anything else refuses).
DIAGNOSTICS_VARIABLES = ("r_hat_max", "ess_bulk_min", "ess_tail_min", "mcse_mean_max", "ess_checked", "bfmi")
DIAGNOSTICS_DIMS = ("variable", "chain_index")
DIAGNOSTICS_ATTRS = ("converged", "divergences", "share_at_max_treedepth", "min_bfmi_observed", "max_rhat",
                     "min_ess_bulk", "min_ess_tail", "max_divergences", "min_bfmi", "max_treedepth_share",
                     "ess_scope", "computed_with", "mcse_mean_max_units")  # fmt: skip
#: A cost-effectiveness result as released: variables, dims and attributes (anything else refuses).
CEA_VARIABLES = ("incremental_cost", "ww_benefits_saved", "taxes_and_premiums", "benefits", "net_benefit",
                 "net_benefit_cohort", "benefits_cohort", "cost_cohort", "benefit_cost_ratio",
                 "cost_per_extra_job", "extra_employed_months", "net_cost", "ceac",
                 "expected_incremental_benefit", "evpi", "evpi_cohort", "net_benefit_by_class",
                 "incremental_cost_by_class", "benefits_by_class", "class_weight", "rule_net_benefit",
                 "rule_expected_net_benefit", "rule_prob_best", "rule_classes_served",
                 "tornado_net_benefit_at_q05", "tornado_net_benefit_at_q95", "tornado_input_q05",
                 "tornado_input_q95", "break_even_wtp")  # fmt: skip
CEA_DIMS = ("chain", "draw", "willingness_to_pay", "werkverkenner", "rule", "input")
CEA_ATTRS = ("contrast", "effects_source", "horizon_months", "discount_rate_annual", "cohort_size",
             "money_units", "effect_units", "willingness_to_pay_units", "cost_per_extra_job",
             "assumptions_source", "assumptions_text", "best_rule", "synthetic_data")  # fmt: skip
#: Cost-effectiveness variables that are shares of persons per class: never released (with the cohort size
#: they are counts of all persons per class, beside the released counts of persons with the outcome).
CEA_WITHHELD = ("class_weight",)
#: Count-table columns that split it into separate tables (each checked on its own).
SLICES = ("outcome", "month")
#: The names of merged groups of the shipped factors; another factor's is "other <factor> levels".
MERGED_NAMES = {"werkverkenner": "other classes", "region": "other regions"}


class ReleaseError(ValueError):
    """A results folder that cannot be released (nothing to release, the overall counts break the rule, an
    output folder that is not empty, a variable, dim or attribute the release has no rule for)."""


def merged_name(factor: str) -> str:
    """The label of a factor's merged group."""
    return MERGED_NAMES.get(factor, f"other {factor} levels")


# --- counts and the rule ----------------------------------------------------------------------------------


def breaks_rule(values, min_count: int) -> np.ndarray:
    """True where a count is between 1 and ``min_count - 1``."""
    values = np.asarray(values)
    return (values >= 1) & (values < min_count)


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


def decide_grouping(tables: list[pd.DataFrame], factor: str, min_count: int) -> Grouping:
    """One grouping of ``factor`` for every table (fit) of a release: levels breaking the rule in any table
    go to the merged group, which grows by the smallest other levels until it passes in every table."""
    tables = [t for t in tables if factor in t]
    levels = sorted({str(v) for t in tables for v in t[factor].unique()})
    persons = (
        pd.concat([t.assign(level=t[factor].astype(str)) for t in tables]).groupby("level")["persons"].sum()
    )

    def unsafe(mapping):
        return set().union(*(unsafe_groups(grouped_counts(t, factor, mapping), min_count) for t in tables))

    name = merged_name(factor)
    first = unsafe({})
    grouping = Grouping(factor, {level: level for level in levels})
    if not first:
        return grouping
    merged = set(first)
    why = f"an arm with persons, a count or its complement between 1 and {min_count - 1}"
    grouping.why = dict.fromkeys(sorted(first), why)
    while True:
        mapping = {level: name if level in merged else level for level in levels}
        if not unsafe(mapping):
            break
        rest = sorted((lv for lv in levels if lv not in merged), key=lambda lv: persons.get(lv, 0))
        if not rest:
            grouping.suppressed = True
            break
        merged.add(rest[0])
        grouping.why[rest[0]] = f"added so that '{name}' passes the rule (smallest remaining level)"
    grouping.groups = {level: name if level in merged else level for level in levels}
    return grouping


# --- what a fit may release, checked before anything is written -----------------------------------------


def check_releasable(name: str, tree: xr.DataTree) -> None:
    """Raise :class:`ReleaseError` (one line naming it) for anything in the parts of a fit a release writes
    that it has no rule for: a level, variable or dim of the derived group its kind does not declare, an
    attribute off the whitelists, a variable or dim of the convergence table it does not know."""
    kind = kind_of(tree)
    factors = tuple(str(d) for d in fit_weights(tree).dims)
    try:
        check_derived(
            tree[kind.name], kind.derived_variables, kind.derived_dims, factors, f"{name}: {kind.name}"
        )
    except DerivedLayoutError as error:
        raise ReleaseError(f"{error}: not released (a release refuses what it has no rule for)") from None
    for node in tree[kind.name].subtree:
        _check_attrs(f"{name}: {node.path}", node.attrs, DERIVED_ATTRS)
        for variable, values in node.ds.data_vars.items():
            _check_attrs(f"{name}: {node.path}/{variable}", values.attrs, DERIVED_ATTRS)
    diagnostics = tree["diagnostics"].ds
    unknown = [v for v in diagnostics.data_vars if v not in DIAGNOSTICS_VARIABLES]
    if unknown:
        raise ReleaseError(
            f"{name}: diagnostics variable {unknown[0]!r} is not one a release knows: not released"
        )
    dims = [d for d in diagnostics.dims if d not in DIAGNOSTICS_DIMS]
    if dims:
        raise ReleaseError(f"{name}: diagnostics dim {dims[0]!r} is not one a release knows: not released")
    _check_attrs(f"{name}: diagnostics", diagnostics.attrs, DIAGNOSTICS_ATTRS)
    for variable, values in diagnostics.data_vars.items():
        _check_attrs(f"{name}: diagnostics/{variable}", values.attrs, ())


def _check_attrs(where: str, attrs, allowed: tuple[str, ...]) -> None:
    unknown = [key for key in attrs if key not in allowed]
    if unknown:
        raise ReleaseError(
            f"{where}: attribute {unknown[0]!r} is not on the release's whitelist: not released"
        )


# --- released estimates ------------------------------------------------------------------------------------


def released_levels(
    tree: xr.DataTree, groupings: dict[str, Grouping], min_count: int, notes: list[str]
) -> dict[str, xr.Dataset]:
    """The fit's derived levels as released: each factor's level through its grouping (every variable by
    its declared role), the cell grid left out, and at the overall level the pooling-only share rounded
    and, with the identified-only effect, suppressed when the persons behind them break the rule."""
    kind = kind_of(tree)
    smallest = float(tree.attrs.get("smallest_effect_pp", 0.5))
    direction = json.loads(tree[kind.name].attrs.get("good_direction", '"none"'))
    weights = fit_weights(tree)
    out = {}
    for level, ds in levels_of(tree[kind.name]).items():
        if level == CELLS:
            notes.append(f"{kind.name}/{CELLS}: not released (its flags describe single cells)")
            continue
        if level == OVERALL:
            out[level] = _overall(ds, tree, min_count, notes)
            continue
        grouping = groupings[level]
        if grouping.suppressed:
            notes.append(f"{kind.name}/{level}: not released (the {level} groups break the rule even merged)")
            continue
        persons = weights.sum([d for d in weights.dims if d != level])
        sign = direction_sign(direction, ds["outcome"].values if "outcome" in ds.dims else None)
        out[level] = _merged_level(ds, grouping, persons, kind.derived_variables, (smallest, sign), notes)
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
            notes.append(f"{name} by {factor}: not released for '{merged_name(factor)}' (not a "
                         "population-weighted mean of its levels)")  # fmt: skip
        elif role != "probability":  # probabilities: from the merged draws below
            raise ReleaseError(f"{name} by {factor}: a {role} has no merging rule: not released")
    for name, values in ds.data_vars.items():
        variable = variables[name]
        if variable.role == "probability" and variable.of in merged:
            merged[name] = probability(merged[variable.of], variable.event, *events).transpose(
                *(d for d in values.dims)
            )
    return merged.assign_coords({factor: order})


def _overall(ds: xr.Dataset, tree: xr.DataTree, min_count: int, notes: list[str]) -> xr.Dataset:
    """The overall level: the pooling-only share released in whole percent, and with the identified-only
    effect suppressed where the persons in pooling-only cells break the rule (the difference between the
    overall and the identified-only effect would describe them)."""
    if "pooling_only_share" not in ds:
        return ds
    ds = ds.copy()
    total = float(fit_weights(tree).sum())
    share = ds["pooling_only_share"]
    small = breaks_rule(np.rint(share.values * total), min_count)
    ds["pooling_only_share"] = share.round(2).where(~xr.DataArray(small, dims=share.dims))
    if small.any():
        mask = xr.DataArray(small, dims=share.dims)
        if "effect_pp_identified" in ds:
            ds["effect_pp_identified"] = ds["effect_pp_identified"].where(~mask)
        contrasts = ds["contrast"].values[small] if "contrast" in share.dims else []
        listed = ", ".join(map(str, contrasts))
        notes.append(f"pooling_only_share, effect_pp_identified: not released for {listed} (fewer than "
                     f"{min_count} persons in pooling-only cells)")  # fmt: skip
    notes.append("pooling_only_share: released rounded to whole percent")
    return ds


def released_attrs(tree: xr.DataTree, min_count: int) -> dict:
    attrs = {k: tree.attrs[k] for k in RELEASED_ATTRS if k in tree.attrs}
    attrs.update(
        {
            "ww_bayes_kind": RELEASED_KIND,
            "spec_name": Path(str(tree.attrs.get("spec_source", ""))).name,
            "min_count": min_count,
            "released_with": f"ww_bayes {__version__}",
        }
    )
    return attrs


# --- the release --------------------------------------------------------------------------------------------


@dataclass
class Release:
    """What :func:`release` wrote and checked: the files (path -> what it holds), the groupings, notes on
    what was merged or suppressed, and every check with its result."""

    folder: Path
    min_count: int
    files: dict[Path, str] = field(default_factory=dict)
    groupings: dict[str, Grouping] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    checks: list[tuple[str, bool]] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)


def release(results: str | os.PathLike, out: str | os.PathLike, min_count: int = MIN_COUNT) -> Release:
    """Write the releasable outputs of a results folder to ``out`` (which must be empty or new): per fit its
    estimates (``<stem>_estimates.nc``), summary (CSV) and figures; the cost-effectiveness draws and tables
    when the fits they came from are released too; ``counts.csv``; and the disclosure report
    (``disclosure_report.md`` / ``.html``). Built in a temporary folder and moved into place only when
    every check on the written files passes: on any error nothing is left."""
    results, out = Path(results), Path(out)
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
        check_releasable(path.name, tree)
    out.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".building", dir=out.parent))
    try:
        done = _build(run, building, min_count)
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


def _build(run, folder: Path, min_count: int) -> Release:
    done = Release(folder, min_count)
    done.withheld = [f"{p.name}: {_without_paths(reason)}" for p, reason in run.skipped.items()]
    done.withheld += [f"{p.name}: not a ww_bayes result" for p in run.other]
    tables = {path: count_table(tree) for path, tree in run.fits.items()}
    bad_slices = {path: overall_bad_slices(path, table, min_count) for path, table in tables.items()}
    tables = {path: drop_slices(table, bad_slices[path]) for path, table in tables.items()}
    factors = list(dict.fromkeys(f for tree in run.fits.values() for f in released_factors(tree)))
    done.groupings = {f: decide_grouping(list(tables.values()), f, min_count) for f in factors}
    for factor, grouping in done.groupings.items():
        if grouping.merged and len(grouping.merged) == len(grouping.groups):
            done.notes.append(f"{factor}: every level needed merging, so '{merged_name(factor)}' is the "
                              "whole cohort (no subgroup estimate of this factor is released)")  # fmt: skip
    for path, tree in run.fits.items():
        _release_fit(path, tree, tables[path], bad_slices[path], done)
    hashes = {file_sha256(path): path for path in run.fits}
    suppressed = [p.name for p, slices in bad_slices.items() if slices]
    for path, tree in run.cost_effectiveness.items():
        reason = cea_refusal(tree, hashes, suppressed)
        if reason:
            done.withheld.append(f"{path.name}: {reason}")
            continue
        release_cea(path, tree, done)
    (folder / LOCK_NAME).unlink(missing_ok=True)  # the writers' lock: only checked files in the folder
    check_written(done)
    report_ok = not any(_names_secret(text, _secrets(folder)) for text in disclosure_texts(done).values())
    done.checks.append(("the disclosure report: no file paths, no user names", report_ok))
    write_disclosure_report(done)
    (folder / LOCK_NAME).unlink(missing_ok=True)
    if not all(ok for _, ok in done.checks):
        failed = [text for text, ok in done.checks if not ok]
        raise ReleaseError(f"the release failed its checks on the written files: {'; '.join(failed)}")
    return done


def released_factors(tree: xr.DataTree) -> list[str]:
    """The grouping factors a fit's released estimates hold: its derived levels other than overall and the
    cell grid (each is a factor of the fit: :func:`check_releasable`)."""
    return [level for level in levels_of(tree[kind_of(tree).name]) if level not in (OVERALL, CELLS)]


def cea_refusal(tree: xr.DataTree, hashes: dict[str, Path], suppressed: list[str]) -> str:
    """Why a cost-effectiveness result cannot be released with the fits of this release ("" if it can):
    it is released only with every fit it was computed from (matched by SHA-256), under their grouping."""
    wanted = [h.strip() for h in str(tree.attrs.get("fits_sha256", "")).split(",") if h.strip()]
    if not wanted:
        return "not released: it does not record the fits it was computed from"
    missing = [h for h in wanted if h not in hashes]
    if missing:
        return (f"not released: {len(missing)} of the {len(wanted)} fits it was computed from are not in the "
                "results folder (matched by SHA-256); release it with them")  # fmt: skip
    sources = {hashes[h].name for h in wanted}
    if set(suppressed) & sources:
        return (f"not released (months of {', '.join(sorted(set(suppressed) & sources))} are suppressed, and "
                "the cost-effectiveness sums over them)")  # fmt: skip
    return ""


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


def mask_slices(levels: dict[str, xr.Dataset], slices: set[tuple], kind, notes: list[str]) -> dict:
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
    listed = ", ".join(f"{o} month {m}" for o, m in sorted(slices))
    notes.append(
        f"estimates of {listed} not released (an arm of the whole cohort has persons, a count or "
        "its complement below the minimum count there), nor cumulative effects from those months on"
    )
    return out


def _release_fit(
    path: Path, tree: xr.DataTree, cells: pd.DataFrame, slices: set[tuple], done: Release
) -> None:
    kind = kind_of(tree)
    notes: list[str] = []
    levels = released_levels(tree, done.groupings, done.min_count, notes)
    levels = mask_slices(levels, slices, kind, notes)
    done.notes += [f"{path.name}: {note}" for note in notes]
    released = xr.DataTree.from_dict(
        {
            **{f"{kind.name}/{level}": ds for level, ds in levels.items()},
            "diagnostics": tree["diagnostics"].ds,
        }
    )
    released[kind.name].attrs.update(tree[kind.name].attrs)
    released.attrs.update(released_attrs(tree, done.min_count))
    stem = path.stem
    target = write_datatree(released, done.folder / f"{stem}{RELEASED_SUFFIX}.nc")
    done.files[target] = f"posterior draws of the {kind.name} estimands and the convergence table"
    table = summarise(released)  # the kind's summary of the released estimates
    done.files[save_table(table, done.folder / f"{stem}_summary.csv")] = "summary of the estimates"
    for block in kind.report_blocks(stem, released, table, Words("en")):
        if type(block).__name__ == "Plot":
            for written in save_figure(draw(block), done.folder / figure_name(block, stem)):
                done.files[written] = f"figure drawn from {stem}_summary.csv: {block.caption}"
    if any(c in cells for c in SLICES):
        done.notes.append(f"{path.name}: counts per month not released (differences between months would "
                          "describe the few persons whose outcome is unobserved in a month)")  # fmt: skip
        return
    counts = released_counts(cells, done.groupings, path.name)
    counts_path = done.folder / "counts.csv"
    if counts_path.is_file():
        before = pd.read_csv(counts_path, dtype={"group": str, "category": str})
        counts = without_small_differences(before, counts, done)
        counts = pd.concat([before, counts], ignore_index=True)
    done.files[save_table(counts, counts_path)] = (
        "persons per arm and how many of them in each category: overall and released groups, per fit file"
    )


def without_small_differences(before: pd.DataFrame, counts: pd.DataFrame, done: Release) -> pd.DataFrame:
    """Persons of another fit differ from those already released only by persons with one outcome observed
    and not the other: a difference between 1 and ``min_count - 1`` would describe them, so such persons
    counts are not released (the counts in the categories are)."""
    keys = ["level", "group", "arm", "category"]
    released = before.pivot_table(index=keys, columns="fit", values="persons", aggfunc="first")
    aligned = released.reindex(pd.MultiIndex.from_frame(counts[keys].astype(str)))
    differs = np.abs(aligned.to_numpy(dtype=float) - counts["persons"].to_numpy(dtype=float)[:, None])
    small = pd.Series(breaks_rule(np.nan_to_num(differs), done.min_count).any(axis=1), index=counts.index)
    if small.any():
        counts = counts.astype({"persons": "float"})
        counts.loc[small, "persons"] = np.nan
        fit = counts["fit"].iloc[0]
        done.notes.append(f"counts.csv, {fit}: persons of {int(small.sum())} rows not released (they differ "
                          "from another fit's by fewer than the minimum count)")  # fmt: skip
    return counts


def released_counts(cells: pd.DataFrame, groupings: dict[str, Grouping], fit_file: str) -> pd.DataFrame:
    """Persons and counts per arm and category: overall and per released group of each factor."""
    frames = [grouped_counts(cells, None, None).assign(level=OVERALL, group="all")]
    for factor, grouping in groupings.items():
        if factor in cells and not grouping.suppressed:
            frames.append(grouped_counts(cells, factor, grouping.groups).assign(level=level_label(factor)))
    table = pd.concat(frames, ignore_index=True)
    table.insert(0, "fit", fit_file)
    keys = ["fit", *[c for c in SLICES if c in table], "level", "group", "arm", "category"]
    return table[keys + ["persons", "count"]]


def release_cea(path: Path, tree: xr.DataTree, done: Release) -> None:
    """Release a cost-effectiveness result: its draws, summary, targeting table and figures; the by-class
    quantities and targeting only when no class was merged; the assumptions file by name only."""
    result = tree[CEA_GROUP].to_dataset()
    for name in result.data_vars:
        if name not in CEA_VARIABLES:
            raise ReleaseError(f"{path.name}: variable {name!r} is not one a release knows: not released")
    for dim in result.dims:
        if dim not in CEA_DIMS:
            raise ReleaseError(f"{path.name}: dim {dim!r} is not one a release knows: not released")
    _check_attrs(f"{path.name}: {CEA_GROUP}", result.attrs, CEA_ATTRS)
    if "assumptions_source" in result.attrs:  # a path on the secure machine: its file name only
        result.attrs["assumptions_source"] = Path(str(result.attrs["assumptions_source"])).name
    result = result.drop_vars(list(CEA_WITHHELD), errors="ignore")
    classes = done.groupings.get("werkverkenner")
    if classes is not None and classes.merged:
        result.attrs.pop("best_rule", None)
        by_class = [
            n for n, v in result.data_vars.items() if "werkverkenner" in v.dims or n.startswith("rule")
        ]
        result = result.drop_vars(by_class + ["werkverkenner", "rule"], errors="ignore")
        done.notes.append(f"{path.name}: by-class cost-effectiveness and targeting not released (classes "
                          "merged)")  # fmt: skip
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
    done.files[target] = "posterior draws of the cost-effectiveness quantities"
    done.files[save_table(cea_summary(result), done.folder / "cost_effectiveness_summary.csv")] = (
        "cost-effectiveness headline numbers"
    )
    if "rule_expected_net_benefit" in result:
        done.files[save_table(targeting_table(result), done.folder / "cost_effectiveness_targeting.csv")] = (
            "targeting rules by expected net benefit"
        )
    for name in CEA_FIGURES:
        try:
            figure = cea_figure(result, name)
        except KeyError:
            continue  # its by-class inputs were not released
        for written in save_figure(figure, done.folder / figure_name(cea_plot(result, name))):
            done.files[written] = f"cost-effectiveness figure: {name}"


# --- the checks, on the files as written --------------------------------------------------------------------


def _names_secret(text: str, secrets: set[str]) -> bool:
    """Whether ``text`` holds a path of the secure machine (as a substring) or its user name (as a word: a
    region such as "Groot Amsterdam" holds the letters of the user "root")."""
    return any(
        (s in text) if "/" in s else re.search(rf"(?<![\w.-]){re.escape(s)}(?![\w.-])", text) is not None
        for s in secrets
    )


def _secrets(folder: Path) -> set[str]:
    candidates = {
        str(Path.home()),
        getpass.getuser(),
        str(Path.cwd().resolve()),
        str(folder.resolve().parent),
    }
    return {s for s in candidates if len(s) > 3}


def _without_paths(text: str) -> str:
    """A message with every absolute path reduced to its file name."""
    return " ".join(Path(word).name if word.startswith(("/", "~")) else word for word in str(text).split(" "))


def check_written(done: Release) -> None:
    """The checks the disclosure report lists, run on the files as written: the groups, dims and labels
    they hold, the counts they release, the attributes they carry."""
    secrets = _secrets(done.folder)
    groups_ok, attrs_ok, counts_ok, grouping_ok, dims_ok = True, True, True, True, True
    problems: list[str] = []
    for path in sorted(done.folder.glob("*.nc")):
        with contextlib.closing(xr.open_datatree(path, engine="h5netcdf")) as tree:
            tree = tree.load()
        groups_ok &= not set(tree.children) & set(WITHHELD_GROUPS)
        text = json.dumps({k: str(v) for node in tree.subtree for k, v in node.attrs.items()})
        text += json.dumps({k: str(v) for node in tree.subtree for var in node.ds.data_vars.values()
                            for k, v in var.attrs.items()})  # fmt: skip
        attrs_ok &= not _names_secret(text, secrets)
        if tree.attrs.get("ww_bayes_kind") == RELEASED_KIND:
            known = set(SAMPLE_DIMS) | set(DIAGNOSTICS_DIMS) | set(kind_of(tree).derived_dims)
        else:  # a cost-effectiveness result: its own dims; its classes are a grouping factor
            known = set(SAMPLE_DIMS) | (set(CEA_DIMS) - set(done.groupings))
        for node in tree.subtree:
            for dim in node.ds.dims:
                if dim in known:
                    continue
                grouping = done.groupings.get(dim)
                if grouping is None:
                    dims_ok = False
                    problems.append(f"{path.name}: dim {dim!r} is not a grouping factor the release merged")
                    continue
                labels = set(map(str, node.ds[dim].values))
                if not labels <= grouping.released:
                    grouping_ok = False
                    problems.append(f"{path.name}: {dim} labels {sorted(labels - grouping.released)[:3]} not "
                                    "released groups")  # fmt: skip
    counts_path = done.folder / "counts.csv"
    if counts_path.is_file():
        table = pd.read_csv(counts_path, dtype={"group": str, "category": str})
        for values in (table["persons"], table["count"], table["persons"] - table["count"]):
            counts_ok &= not breaks_rule(values.dropna(), done.min_count).any()
        factor_of_level = {level_label(factor): factor for factor in done.groupings}
        for level in set(table["level"]) - {OVERALL}:
            grouping = done.groupings.get(factor_of_level.get(level, ""))
            groups = set(table.loc[table["level"] == level, "group"])
            grouping_ok &= grouping is not None and groups <= grouping.released
    for path in done.folder.iterdir():
        if path.suffix in (".csv", ".md", ".html", ".svg"):  # every text file, the figures' SVGs too
            attrs_ok &= not _names_secret(path.read_text(encoding="utf-8"), secrets)
    done.notes += [f"check: {p}" for p in problems]
    done.checks = [
        (f"no group holding counts or letting them be computed ({', '.join(WITHHELD_GROUPS)})", groups_ok),
        (f"every released count: persons, each category's count and persons - count 0 or at least "
         f"{done.min_count}", counts_ok),
        ("every dim of every file is a sample dim, a dim its model kind declares, or a grouping factor "
         "merged for the release", dims_ok),
        ("every level table, in every file, holds only the groups decided once for the release", grouping_ok),
        ("attributes and tables: no file paths, no user names, no home or working folder", attrs_ok),
    ]  # fmt: skip


# --- the disclosure report ---------------------------------------------------------------------------------


def disclosure_sections(done: Release) -> list[tuple[str, list[str]]]:
    """The disclosure report's content: (heading, lines) per section; the file table comes separately."""
    rules = [
        f"Minimum count: {done.min_count} persons. No released number is based on a group in which an arm "
        f"has persons, or per category of the outcome a count or persons - count, between 1 and "
        f"{done.min_count - 1}.",
        "Every grouping factor in the released estimates is merged: small levels into one named group per "
        "factor, decided once for the whole release.",
        "Figures are drawn from the released summaries only (the summary CSV beside each figure).",
        "Released: model-based posterior estimates, their summaries and figures, cost-effectiveness draws "
        "and tables (only with the fits they came from), and counts of released groups only. Never "
        "released: person rows, cell counts, log-likelihood, predictive draws, cell parameters, the cohort "
        "composition.",
        "Anything the release has no rule for (a variable, dim or attribute) refuses the whole release.",
    ]
    checks = [f"[{'x' if ok else ' '}] {text}: {'passed' if ok else 'FAILED'}" for text, ok in done.checks]
    grouping = []
    for factor, chosen in done.groupings.items():
        if not chosen.merged:
            grouping.append(f"{factor}: no level merged")
            continue
        suppressed = " - SUPPRESSED: even merged the group breaks the rule" if chosen.suppressed else ""
        grouping.append(f"{factor}: {len(chosen.merged)} level(s) released as '{merged_name(factor)}'"
                        f"{suppressed}")  # fmt: skip
        grouping += [f"{factor} {level}: {chosen.why.get(level, '')}" for level in chosen.merged]
    left_out = done.notes + [f"withheld from the results folder: {item}" for item in done.withheld]
    return [
        ("Rule and thresholds", rules),
        ("Checks", checks),
        ("Grouping (merged levels)", grouping or ["no grouping factor"]),
        ("Suppressed or not released", left_out or ["nothing"]),
    ]


def write_disclosure_report(done: Release) -> None:
    """``disclosure_report.md`` and ``.html``: the rule, every check, the grouping, what was suppressed and
    every file with its SHA-256."""
    for name, text in disclosure_texts(done).items():
        atomic_write(done.folder / name, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8"))


def disclosure_texts(done: Release) -> dict[str, str]:
    """The disclosure report as Markdown and HTML (file name -> text)."""
    made = f"Made {datetime.now(UTC).isoformat(timespec='seconds')} by ww_bayes {__version__}."
    files = [(p.name, file_sha256(p), what) for p, what in sorted(done.files.items())]
    md = ["# Disclosure report", "", made, ""]
    page = ["<!doctype html>", "<html><head><meta charset='utf-8'><title>Disclosure report</title></head>",
            f"<body><h1>Disclosure report</h1><p>{html.escape(made)}</p>"]  # fmt: skip
    for heading, lines in disclosure_sections(done):
        md += [f"## {heading}", "", *(f"- {line}" for line in lines), ""]
        items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
        page.append(f"<h2>{html.escape(heading)}</h2><ul>{items}</ul>")
    md += ["## Files", "", "| file | SHA-256 | holds |", "|---|---|---|"]
    md += [f"| {name} | `{sha}` | {what} |" for name, sha, what in files]
    rows = "".join(f"<tr><td>{html.escape(n)}</td><td><code>{s}</code></td><td>{html.escape(w)}</td></tr>"
                   for n, s, w in files)  # fmt: skip
    page.append(f"<h2>Files</h2><table><tr><th>file</th><th>SHA-256</th><th>holds</th></tr>{rows}</table>")
    page.append("</body></html>")
    return {"disclosure_report.md": "\n".join(md) + "\n", "disclosure_report.html": "\n".join(page) + "\n"}


__all__ = [
    "MIN_COUNT",
    "Grouping",
    "Release",
    "ReleaseError",
    "check_releasable",
    "count_table",
    "decide_grouping",
    "merged_name",
    "release",
]
