"""The files that may leave a secure environment: model-based estimates that pass statistical disclosure
control, and a disclosure report an output checker reads before approving them.

The rule (CBS's): no released number may describe fewer than ``min_count`` persons (default 10), including
through its complement: every released count, and every estimate of a group, is based on groups in which
each arm has ``n`` persons, ``k`` successes and ``n - k`` others each either 0 or at least ``min_count``.

How :func:`release` keeps it:

- **Only model-based estimates leave.** From each fit only its derived group (effects / trajectory draws)
  and the convergence table; never the groups its model kind declares to hold counts
  (:attr:`ww_bayes.kinds.protocol.ModelKind.count_groups`: ``observed_data``, ``constant_data``) nor the
  groups from which counts follow (``log_likelihood`` with the rates, ``posterior_predictive`` and
  ``prior_predictive`` ``y`` with ``y_rate``, per-cell rates): :data:`WITHHELD_GROUPS`.
- **Small groups are merged, decided once.** A Werkverkenner class or region whose counts break the rule in
  any fit, outcome or month is merged into one named group ("other regions", "other classes"), enlarged with
  the smallest other levels until it passes itself; the same grouping is used in every released table and
  figure, so no difference between two tables isolates a small group. Estimates of a merged group are the
  population-weighted means of its levels (exact for effects in pp and cumulative months); estimands that
  are not such means (relative risks) are not released for it.
- **Counts only of released groups.** ``counts.csv``: persons and successes per arm for the overall cohort
  and each released group; every value is checked against the rule.
- **Nothing that names the secure machine.** Attributes are a whitelist (:data:`RELEASED_ATTRS`): data
  SHA-256, spec text and name, seeds, sampler settings and versions; no file paths, no user names.
"""

from __future__ import annotations

import getpass
import html
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ww_bayes import __version__
from ww_bayes.cea import summary as cea_summary
from ww_bayes.cea import targeting_table
from ww_bayes.data.io import LOCK_NAME, atomic_write, file_sha256, folder_lock, write_datatree
from ww_bayes.kinds import kind_of
from ww_bayes.results import collect, save_table, summarise
from ww_bayes.viz import CEA_FIGURES, cea_figure, draw, save_png
from ww_bayes.vocabulary import SAMPLE_DIMS

#: The smallest number of persons a released number may describe (CBS's output rule).
MIN_COUNT = 10
RELEASED_KIND = "ww_bayes released fit"
#: Groups of a fit never released: they hold counts or let counts be computed.
WITHHELD_GROUPS = ("observed_data", "constant_data", "log_likelihood", "posterior_predictive",
                   "prior_predictive", "posterior", "prior", "sample_stats", "frequentist")  # fmt: skip
#: Fit attributes a release keeps (provenance without identities); everything else is dropped.
RELEASED_ATTRS = ("model_kind", "model_name", "outcome", "spec_text", "data_sha256", "seed", "sampler",
                  "chains", "draws", "tune", "target_accept", "adaptation", "package_versions",
                  "ww_bayes_version", "interval_kind", "interval_prob", "smallest_effect_pp", "anchor",
                  "converged", "convergence_report", "fit_schema_version", "likelihood", "stored_draws",
                  "thinned_by", "sampled_draws")  # fmt: skip
#: Name of the merged group of each factor.
OTHER = {"werkverkenner": "other classes", "region": "other regions"}
#: Count-table columns that split it into separate tables (each checked on its own).
SLICES = ("outcome", "month")


class ReleaseError(ValueError):
    """A results folder that cannot be released (nothing to release, the overall counts break the rule, an
    output folder that is not empty)."""


# --- counts and the rule ----------------------------------------------------------------------------------


def breaks_rule(values, min_count: int) -> np.ndarray:
    """True where a count is between 1 and ``min_count - 1``."""
    values = np.asarray(values)
    return (values >= 1) & (values < min_count)


def cell_counts(tree: xr.DataTree) -> pd.DataFrame:
    """The fit's cells as a table: their labels (arm, factors, outcome, month), ``n`` (persons with the
    outcome observed) and ``k`` (successes), from the groups the model kind declares to hold counts."""
    kind = kind_of(tree)
    observed, constant = (tree[group].ds for group in kind.count_groups)
    labels = {name: observed[name].values for name in observed.coords if name != "cell"}
    return pd.DataFrame(labels).assign(n=constant["trials"].values, k=observed["y"].values)


def grouped_counts(cells: pd.DataFrame, factor: str | None, mapping: dict[str, str] | None) -> pd.DataFrame:
    """Persons and successes per slice (outcome, month), arm and released group of ``factor`` (None: the
    overall cohort)."""
    keys = [c for c in SLICES if c in cells] + ["arm"]
    frame = cells.copy()
    if factor is not None:
        frame["group"] = frame[factor].astype(str).map(lambda v: (mapping or {}).get(v, v))
        keys.append("group")
    return frame.groupby(keys, observed=True, sort=False)[["n", "k"]].sum().reset_index()


def unsafe_groups(counts: pd.DataFrame, min_count: int) -> set[str]:
    bad = breaks_rule(counts["n"], min_count) | breaks_rule(counts["k"], min_count)
    bad |= breaks_rule(counts["n"] - counts["k"], min_count)
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


def decide_grouping(tables: list[pd.DataFrame], factor: str, min_count: int) -> Grouping:
    """One grouping of ``factor`` for every table (fit) of a release: levels breaking the rule in any table
    go to the merged group, which grows by the smallest other levels until it passes in every table."""
    tables = [t for t in tables if factor in t]
    levels = sorted({str(v) for t in tables for v in t[factor].unique()})
    persons = pd.concat([t.assign(level=t[factor].astype(str)) for t in tables]).groupby("level")["n"].sum()

    def unsafe(mapping):
        return set().union(*(unsafe_groups(grouped_counts(t, factor, mapping), min_count) for t in tables))

    merged_name = OTHER.get(factor, f"other {factor}")
    first = unsafe({})
    grouping = Grouping(factor, {level: level for level in levels})
    if not first:
        return grouping
    merged = set(first)
    grouping.why = dict.fromkeys(sorted(first), f"an arm with n, k or n - k between 1 and {min_count - 1}")
    while True:
        mapping = {level: merged_name if level in merged else level for level in levels}
        if not unsafe(mapping):
            break
        rest = sorted((lv for lv in levels if lv not in merged), key=lambda lv: persons.get(lv, 0))
        if not rest:
            grouping.suppressed = True
            break
        merged.add(rest[0])
        grouping.why[rest[0]] = f"added so that '{merged_name}' passes the rule (smallest remaining level)"
    grouping.groups = {level: merged_name if level in merged else level for level in levels}
    return grouping


# --- released estimates ------------------------------------------------------------------------------------


def _level_weights(tree: xr.DataTree, factor: str) -> xr.DataArray:
    """Persons per level of ``factor`` (all arms), labelled. constant_data's class and region coords label
    its cells, so the persons grid takes its labels from the derived group (the same level order)."""
    weights = tree["constant_data"].ds["n_persons"]
    derived = tree[kind_of(tree).derived_group].ds
    weights = weights.assign_coords({dim: derived[dim].values for dim in weights.dims})
    return weights.sum([d for d in weights.dims if d != factor])


def released_estimates(
    tree: xr.DataTree, groupings: dict[str, Grouping], min_count: int
) -> tuple[xr.Dataset, list[str]]:
    """The fit's derived group as released: level tables through ``groupings`` (merged groups as
    population-weighted means of their levels), cell-level variables left out, and the identified-only
    effect and pooling-only share suppressed when the persons behind them break the rule. Returns the
    dataset and notes of what was merged or suppressed."""
    kind = kind_of(tree)
    derived = tree[kind.derived_group].to_dataset()
    out = xr.Dataset(attrs=derived.attrs)
    notes = []
    for name, values in derived.data_vars.items():
        if name.endswith("_by_cell"):
            continue
        factor = next((f for f in groupings if name.endswith(f"_by_{f}")), None)
        grouping = groupings.get(factor) if factor else None
        if grouping is None or not grouping.merged:
            out[name] = values
            continue
        if grouping.suppressed:
            notes.append(f"{name}: not released (the {factor} groups break the rule even merged)")
            continue
        if name.startswith("prob_"):
            continue  # made from the merged effect draws below
        out[name] = _merged(name, values, grouping, _level_weights(tree, factor), kind, notes)
    out = _suppress_small_remainders(tree, out, min_count, notes)
    return out, notes


def _merged(name, values, grouping: Grouping, weights, kind, notes) -> xr.DataArray:
    factor = grouping.factor
    labels = xr.DataArray([grouping.groups[str(v)] for v in values[factor].values], dims=factor)
    estimand = name.rsplit(f"_by_{factor}", 1)[0]
    order = list(dict.fromkeys(grouping.groups[str(v)] for v in values[factor].values))
    if estimand in kind.weighted_estimands:
        w = weights.sel({factor: values[factor].values})
        total = (values * w).groupby(labels.rename("group")).sum() / w.groupby(labels.rename("group")).sum()
        return total.rename(group=factor).sel({factor: order})
    if estimand.startswith("pooling_only"):
        return values.groupby(labels.rename("group")).any().rename(group=factor).sel({factor: order})
    kept = values.where(labels == values[factor], np.nan)  # unmerged levels as they are
    merged_value = kept.groupby(labels.rename("group")).first().rename(group=factor).sel({factor: order})
    notes.append(f"{name}: not released for '{OTHER.get(factor, factor)}' (not a population-weighted mean "
                 "of its levels)")  # fmt: skip
    return merged_value


def _suppress_small_remainders(tree, out: xr.Dataset, min_count: int, notes: list[str]) -> xr.Dataset:
    """Probabilities of merged levels from their draws; the pooling-only share and the identified-only
    effect suppressed when the persons in pooling-only cells break the rule (the difference between the
    overall and the identified-only effect would describe them)."""
    smallest = float(tree.attrs.get("smallest_effect_pp", 0.5))
    for name in list(out.data_vars):
        if name.startswith("effect_pp_by_") and f"prob_positive_{name.removeprefix('effect_pp_')}" not in out:
            level = name.removeprefix("effect_pp_")
            pp = out[name]
            out[f"prob_positive_{level}"] = (pp > 0).mean(SAMPLE_DIMS)
            out[f"prob_beyond_smallest_{level}"] = (abs(pp) > smallest).mean(SAMPLE_DIMS)
    if "pooling_only_share_overall" in out:
        total = float(tree["constant_data"].ds["n_persons"].sum())
        behind = np.rint(out["pooling_only_share_overall"].values * total)
        small = breaks_rule(behind, min_count)
        if small.any():
            contrasts = out["contrast"].values[small] if "contrast" in out.dims else []
            mask = xr.DataArray(small, dims=out["pooling_only_share_overall"].dims)
            out["pooling_only_share_overall"] = out["pooling_only_share_overall"].where(~mask)
            if "effect_pp_identified_overall" in out:
                out["effect_pp_identified_overall"] = out["effect_pp_identified_overall"].where(~mask)
            notes.append(f"pooling_only_share_overall, effect_pp_identified_overall: not released for "
                         f"{', '.join(map(str, contrasts))} (fewer than {min_count} persons in pooling-only "
                         "cells)")  # fmt: skip
    return out


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
    estimates (``<stem>_estimates.nc``), summary (CSV) and figures; the cost-effectiveness draws and tables;
    ``counts.csv``; and the disclosure report (``disclosure_report.md`` / ``.html``)."""
    results, out = Path(results), Path(out)
    if not results.is_dir():
        raise ReleaseError(f"{results}: no such results folder")
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise ReleaseError(f"--min-count {min_count!r}: must be a whole number of at least 1")
    if out.exists() and any(p for p in out.iterdir() if p.name != LOCK_NAME):
        raise ReleaseError(f"--out {out}: not empty; a release goes to a new or empty folder, so nothing "
                           "unchecked travels with it")  # fmt: skip
    run = collect(results)
    if not run.fits and not run.cost_effectiveness:
        raise ReleaseError(f"{results}: no ww_bayes fits or cost-effectiveness results to release")
    out.mkdir(parents=True, exist_ok=True)
    done = Release(out, min_count)
    done.withheld = [f"{p.name}: {reason}" for p, reason in run.skipped.items()]
    done.withheld += [f"{p.name}: not a ww_bayes result" for p in run.other]
    tables = {path: cell_counts(tree) for path, tree in run.fits.items()}
    bad_slices = {path: overall_bad_slices(path, table, min_count) for path, table in tables.items()}
    tables = {path: drop_slices(table, bad_slices[path]) for path, table in tables.items()}
    factors = sorted({f for t in tables.values() for f in OTHER if f in t})
    done.groupings = {f: decide_grouping(list(tables.values()), f, min_count) for f in factors}
    for factor, grouping in done.groupings.items():
        if grouping.merged and len(grouping.merged) == len(grouping.groups):
            name = OTHER.get(factor, factor)
            done.notes.append(f"{factor}: every level needed merging, so '{name}' is the whole cohort (no "
                              "subgroup estimate of this factor is released)")  # fmt: skip
    with folder_lock(out):
        for path, tree in run.fits.items():
            _release_fit(path, tree, tables[path], bad_slices[path], done)
        suppressed = [p.name for p, slices in bad_slices.items() if slices]
        for path, tree in run.cost_effectiveness.items():
            if suppressed:  # its sums over months include months whose overall counts break the rule
                done.notes.append(f"{path.name}: not released (months of {', '.join(suppressed)} are "
                                  "suppressed, and the cost-effectiveness sums over them)")  # fmt: skip
                continue
            release_cea(path, tree, done)
        _check_files(done)
        write_disclosure_report(done)
    (out / LOCK_NAME).unlink(missing_ok=True)  # only checked files in the folder
    return done


def overall_bad_slices(path: Path, cells: pd.DataFrame, min_count: int) -> set[tuple]:
    """The slices (outcome, month) in which an arm of the whole cohort breaks the rule; a fit without
    slices (a 12-month fit) whose overall counts break it cannot be released at all."""
    overall = grouped_counts(cells, None, None)
    bad = breaks_rule(overall["n"], min_count) | breaks_rule(overall["k"], min_count)
    bad |= breaks_rule(overall["n"] - overall["k"], min_count)
    keys = [c for c in SLICES if c in cells]
    if bad.any() and not keys:
        raise ReleaseError(
            f"{path.name}: the overall counts of an arm break the rule (n, k or n - k between 1 and "
            f"{min_count - 1}); nothing can be released from it"
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


def mask_slices(out: xr.Dataset, slices: set[tuple], kind, notes: list[str]) -> xr.Dataset:
    """Suppress (NaN) the estimates of slices (outcome, month) whose overall counts break the rule, and the
    kind's cumulative estimands from the first such month of their outcome on."""
    if not slices:
        return out
    for name, values in out.data_vars.items():
        if {"outcome", "month"} <= set(values.dims) and np.issubdtype(values.dtype, np.floating):
            mask = xr.DataArray(
                [
                    [(str(o), int(m)) in slices for m in values["month"].values]
                    for o in values["outcome"].values
                ],
                dims=("outcome", "month"),
                coords={"outcome": values["outcome"], "month": values["month"]},
            )
            out[name] = values.where(~mask)
    for estimand, outcome in kind.cumulative_estimands.items():
        months = [int(m) for o, m in slices if str(o) == outcome]
        for name in [n for n in out.data_vars if n.startswith(f"{estimand}_")]:
            if months and "horizon" in out[name].dims:
                out[name] = out[name].where(out[name]["horizon"] < min(months))
    listed = ", ".join(f"{o} month {m}" for o, m in sorted(slices))
    notes.append(f"estimates of {listed} not released (an arm of the whole cohort has n, k or n - k below "
                 "the minimum count there), nor cumulative effects from those months on")  # fmt: skip
    return out


def _release_fit(
    path: Path, tree: xr.DataTree, cells: pd.DataFrame, slices: set[tuple], done: Release
) -> None:
    kind = kind_of(tree)
    estimates, notes = released_estimates(tree, done.groupings, done.min_count)
    estimates = mask_slices(estimates, slices, kind, notes)
    done.notes += [f"{path.name}: {note}" for note in notes]
    released = xr.DataTree.from_dict({kind.derived_group: estimates, "diagnostics": tree["diagnostics"].ds})
    released.attrs.update(released_attrs(tree, done.min_count))
    stem = path.stem
    target = write_datatree(released, done.folder / f"{stem}_estimates.nc")
    done.files[target] = f"posterior draws of the {kind.derived_group} estimands and the convergence table"
    table = summarise(released)  # the kind's summary of the released estimates
    done.files[save_table(table, done.folder / f"{stem}_summary.csv")] = "summary of the estimates"
    for block in kind.report_blocks(stem, released, table):
        if type(block).__name__ == "Plot":
            png = save_png(draw(block), done.folder / f"{stem}_{block.name}.png")
            done.files[png] = f"figure drawn from {stem}_summary.csv: {block.caption}"
    name = str(tree.attrs.get("model_name", stem))
    if any(c in cells for c in SLICES):
        done.notes.append(f"{path.name}: counts per month not released (differences between months would "
                          "describe the few persons whose outcome is unobserved in a month)")  # fmt: skip
        return
    counts = released_counts(cells, done.groupings, name)
    counts_path = done.folder / "counts.csv"
    if counts_path.is_file():
        before = pd.read_csv(counts_path, dtype={"group": str})
        counts = without_small_differences(before, counts, done)
        counts = pd.concat([before, counts], ignore_index=True)
    done.files[save_table(counts, counts_path)] = "persons and successes per arm: overall and released groups"


def without_small_differences(before: pd.DataFrame, counts: pd.DataFrame, done: Release) -> pd.DataFrame:
    """Persons of another fit's outcome differ from those already released only by persons with one outcome
    observed and not the other: a difference between 1 and ``min_count - 1`` would describe them, so such
    persons counts are not released (the successes are)."""
    keys = ["level", "group", "arm"]
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


def released_counts(cells: pd.DataFrame, groupings: dict[str, Grouping], fit_name: str) -> pd.DataFrame:
    """Persons (``n``) and successes (``k``) per arm: overall and per released group of each factor."""
    frames = [grouped_counts(cells, None, None).assign(level="overall", group="all")]
    for factor, grouping in groupings.items():
        if factor in cells and not grouping.suppressed:
            frames.append(grouped_counts(cells, factor, grouping.groups).assign(level=f"by_{factor}"))
    table = pd.concat(frames, ignore_index=True).rename(columns={"n": "persons", "k": "successes"})
    table.insert(0, "fit", fit_name)
    keys = ["fit", *[c for c in SLICES if c in table], "level", "group", "arm"]
    return table[keys + ["persons", "successes"]]


def release_cea(path: Path, tree: xr.DataTree, done: Release) -> None:
    """Release a cost-effectiveness result: its draws, summary, targeting table and figures; the by-class
    quantities and targeting only when no class was merged; the assumptions file by name only."""
    result = tree["cost_effectiveness"].to_dataset()
    if "assumptions_source" in result.attrs:  # a path on the secure machine: its file name only
        result.attrs["assumptions_source"] = Path(str(result.attrs["assumptions_source"])).name
    classes = done.groupings.get("werkverkenner")
    if classes is not None and classes.merged:
        result.attrs.pop("best_rule", None)
        by_class = [
            n for n, v in result.data_vars.items() if "werkverkenner" in v.dims or n.startswith("rule")
        ]
        result = result.drop_vars(by_class + ["werkverkenner", "rule"], errors="ignore")
        done.notes.append(f"{path.name}: by-class cost-effectiveness and targeting not released (classes "
                          "merged)")  # fmt: skip
    attrs = {k: v for k, v in tree.attrs.items() if k in ("ww_bayes_kind", "fits_sha256", "effects_source")}
    released = xr.DataTree.from_dict({"cost_effectiveness": result})
    released.attrs.update(
        {**attrs, "fits": ", ".join(Path(p.strip()).name for p in str(tree.attrs.get("fits", "")).split(","))}
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
        done.files[save_png(figure, done.folder / f"cea_{name}.png")] = f"cost-effectiveness figure: {name}"


def _check_files(done: Release) -> None:
    """The checks the disclosure report lists, run on the files as written."""
    secrets = {str(Path.home()), getpass.getuser(), str(Path.cwd().resolve())}
    secrets = {s for s in secrets if len(s) > 3}
    groups_ok, attrs_ok, counts_ok, grouping_ok = True, True, True, True
    released_groups = {f: set(g.groups.values()) for f, g in done.groupings.items()}
    for path in done.files:
        if path.suffix == ".nc":
            tree = xr.load_datatree(path, engine="h5netcdf")
            groups_ok &= not set(tree.children) & set(WITHHELD_GROUPS)
            text = json.dumps({k: str(v) for node in tree.subtree for k, v in node.attrs.items()})
            attrs_ok &= not any(s in text for s in secrets)
            for node in tree.subtree:  # every level table holds released groups only
                for factor, groups in released_groups.items():
                    if factor in node.ds.dims:
                        grouping_ok &= set(map(str, node.ds[factor].values)) <= groups
        if path.name == "counts.csv":
            table = pd.read_csv(path, dtype={"group": str})
            for column in ("persons", "successes"):
                counts_ok &= not breaks_rule(table[column].dropna(), done.min_count).any()
            counts_ok &= not breaks_rule(
                (table["persons"] - table["successes"]).dropna(), done.min_count
            ).any()
            for factor, groups in released_groups.items():
                grouping_ok &= set(table.loc[table["level"] == f"by_{factor}", "group"]) <= groups
    done.checks = [
        (f"no group holding counts or letting them be computed ({', '.join(WITHHELD_GROUPS)})", groups_ok),
        (f"every released count: persons, successes and persons - successes 0 or at least {done.min_count}",
         counts_ok),
        ("every level table, in every file, holds only the groups decided once for the release", grouping_ok),
        ("attributes: a whitelist (no file paths, no user names, no home or working folder)", attrs_ok),
    ]  # fmt: skip
    if not all(ok for _, ok in done.checks):
        failed = [text for text, ok in done.checks if not ok]
        raise ReleaseError(f"the release failed its own checks: {'; '.join(failed)} (a bug: report it)")


# --- the disclosure report ---------------------------------------------------------------------------------


def disclosure_sections(done: Release) -> list[tuple[str, list[str]]]:
    """The disclosure report's content: (heading, lines) per section; the file table comes separately."""
    rules = [
        f"Minimum count: {done.min_count} persons. No released number is based on a group in which an arm "
        f"has n (persons), k (successes) or n - k between 1 and {done.min_count - 1}.",
        "Small groups are merged into one named group per factor, decided once for the whole release.",
        "Figures are drawn from the released summaries only (the summary CSV beside each figure).",
        "Released: model-based posterior estimates, their summaries and figures, cost-effectiveness draws "
        "and tables, and counts of released groups only. Never released: person rows, cell counts, "
        "log-likelihood, predictive draws, cell rates.",
    ]
    checks = [f"[{'x' if ok else ' '}] {text}: {'passed' if ok else 'FAILED'}" for text, ok in done.checks]
    grouping = []
    for factor, chosen in done.groupings.items():
        if not chosen.merged:
            grouping.append(f"{factor}: no level merged")
            continue
        suppressed = " - SUPPRESSED: even merged the group breaks the rule" if chosen.suppressed else ""
        grouping.append(f"{factor}: {len(chosen.merged)} level(s) released as '{OTHER.get(factor, factor)}'"
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
    for path, text in ((done.folder / "disclosure_report.md", "\n".join(md) + "\n"),
                       (done.folder / "disclosure_report.html", "\n".join(page) + "\n")):  # fmt: skip
        atomic_write(path, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8"))


__all__ = ["MIN_COUNT", "Grouping", "Release", "ReleaseError", "cell_counts", "decide_grouping", "release"]
