"""K-fold cross-validation of the pooling choice over a factor's levels: ``ww-bayes kfold``.

The levels of the factor (the 35 regions) are shuffled (seeded) and split into ``folds`` groups. For each
pooling variant (none, partial, full: baggr's meaning, applied to every component's deviations over that
factor; the other factors keep the spec's pooling) and each fold, the spec is fitted to the cohort without
the fold's levels and predicts the persons of the left-out levels as persons of new levels
(:func:`ww_bayes.checks.kfold.heldout_elpd`). Each fit is written as it finishes
(``<out>/<spec name>/folds/fold_<n>.csv``), so an interrupted study resumes where it stopped; the study
record (``study.json``) refuses a folder of another spec, cohort, factor, fold split or sampler.
:func:`ww_bayes.checks.kfold.kfold_summary` compares the variants (``kfold_summary.csv``, ``kfold.md``),
which the report shows when the folder sits in the results folder as ``kfold/<spec name>/``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ww_bayes.calibration.sbc import open_study, spec_digest
from ww_bayes.checks.kfold import SUMMARY_FILE, heldout_elpd, kfold_summary
from ww_bayes.data.io import atomic_write, file_sha256, load_cohort
from ww_bayes.inference import fit
from ww_bayes.kinds import kind_of
from ww_bayes.results import is_converged
from ww_bayes.tomlspec import SpecError

#: The pooling variants compared, in baggr's words.
VARIANTS = ("none", "partial", "full")


@dataclass(frozen=True)
class Fold:
    """One fit of the study: pooling ``variant`` over ``factor``, the levels ``left_out``; numbered
    ``index`` (variant-major)."""

    index: int
    variant: str
    fold: int
    factor: str
    left_out: tuple[str, ...]
    spec: object
    cohort: pd.DataFrame
    seed: int


def variant_spec(spec, factor: str, variant: str):
    """The spec with ``variant`` pooling of every component's deviations over ``factor``."""
    return spec.with_pooling({component: {factor: variant} for component in spec.pooling})


def fold_levels(levels: list[str], folds: int, seed: int) -> list[tuple[str, ...]]:
    """The levels shuffled (seeded) and split into ``folds`` groups of near-equal size."""
    shuffled = np.random.default_rng([seed, 11]).permutation(sorted(levels))
    return [tuple(str(v) for v in part) for part in np.array_split(shuffled, folds)]


def run_fold(task: Fold) -> pd.DataFrame:
    """Fit the variant without the fold's levels and score the left-out persons: the rows of
    :func:`ww_bayes.checks.kfold.heldout_elpd` with ``variant``, ``fold``, ``converged``, ``seconds``."""
    start = time.perf_counter()
    left_out = task.cohort[task.factor].astype(str).isin(task.left_out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence is recorded per fold below
        tree = fit(task.spec, task.cohort[~left_out].reset_index(drop=True), progress=False, log=None)
    rows = heldout_elpd(tree, task.cohort[left_out].reset_index(drop=True), task.factor, task.seed, task.spec)
    return rows.assign(variant=task.variant, fold=task.fold, index=task.index, converged=is_converged(tree),
                       seconds=time.perf_counter() - start)  # fmt: skip


def fold_path(folder: Path, index: int) -> Path:
    return folder / "folds" / f"fold_{index:04d}.csv"


def kfold_study(
    spec, data: str | Path, folder: str | Path, *, factor: str = "region", folds: int = 5,
    variants: tuple[str, ...] = VARIANTS, seed: int = 2026, run: Callable | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Run (or resume) the study in ``folder``: every variant on every fold, each written as it
    finishes; returns all held-out rows. ``run`` dispatches the fits (see
    :func:`ww_bayes.calibration.sbc.sbc`)."""
    kind = kind_of(spec)
    if not kind.predicts_new_levels:
        raise SpecError(f"a {kind.name!r} model does not predict new levels: K-fold over levels needs "
                        "one that does (kind effects)")  # fmt: skip
    if factor not in spec.groups:
        raise SpecError(f"{spec.name} does not group by {factor!r} (groups: {', '.join(spec.groups)})")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SpecError(f"pooling variants must be among {', '.join(VARIANTS)}, got {', '.join(unknown)}")
    folder = Path(folder)
    cohort = load_cohort(data, kind.required_columns(spec))
    levels = sorted(set(cohort[factor].astype(str)))
    if not 2 <= folds <= len(levels):
        raise SpecError(f"folds must be between 2 and the {len(levels)} levels of {factor}, got {folds}")
    split = fold_levels(levels, folds, seed)
    record = {
        "study": "ww_bayes K-fold cross-validation over a factor's levels",
        "spec_name": spec.name,
        "spec_sha256": spec_digest(spec),
        "data_sha256": file_sha256(data),
        "factor": factor,
        "folds": [list(part) for part in split],
        "variants": list(variants),
        "seed": seed,
    }
    done = set(open_study(folder, record, parts="folds"))
    tasks = [
        Fold(i * folds + k, variant, k, factor, part, variant_spec(spec, factor, variant), cohort, seed + k)
        for i, variant in enumerate(variants)
        for k, part in enumerate(split)
    ]
    todo = [task for task in tasks if task.index not in done]
    run = run or (lambda function, items, total: map(function, items))
    for rows in run(run_fold, iter(todo), len(todo)):
        index = int(rows["index"].iloc[0])
        atomic_write(fold_path(folder, index), lambda tmp, r=rows: r.to_csv(tmp, index=False))
    return pd.concat([pd.read_csv(fold_path(folder, t.index), dtype=str) for t in tasks], ignore_index=True)


def typed_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The held-out rows as read back (text) with their numbers as numbers."""
    numbers = {"persons": "int64", "elpd": "float64", "fold": "int64", "index": "int64", "seconds": "float64"}
    return rows.astype(numbers).assign(converged=rows["converged"].astype(str) == "True")


def kfold_text(spec, summary: pd.DataFrame, rows: pd.DataFrame, factor: str, wall: float) -> str:
    """The study's result in a few lines."""
    per_fit = rows.groupby("index")[["converged", "seconds"]].first()
    lines = [
        f"K-fold cross-validation of {spec.name} over {factor}: {summary['levels'].iloc[0]} levels in "
        f"{rows['fold'].nunique()} folds, {len(per_fit)} fits ({spec.sampler.chains} chains x "
        f"{spec.sampler.draws} draws); each left-out person scored as a person of a new {factor}",
        f"{'pooling':<9} {'elpd_kfold':>12} {'SE':>8} {'per person':>11} {'difference':>11} {'SE':>8}",
    ]
    for row in summary.itertuples():
        lines.append(f"{row.variant:<9} {row.elpd_kfold:>12,.1f} {row.elpd_kfold_se:>8,.1f} "
                     f"{row.elpd_per_person:>11.4f} {row.elpd_difference:>11,.1f} "
                     f"{row.elpd_difference_se:>8,.1f}")  # fmt: skip
    lines.append(f"standard errors over the {summary['levels'].iloc[0]} levels of {factor} (the units left "
                 "out); differences from the best variant, paired by level")  # fmt: skip
    lines.append(f"unconverged fits: {int((~per_fit['converged']).sum())} of {len(per_fit)} (kept); "
                 f"median {per_fit['seconds'].median():.0f} s per fit; this run {wall / 60:.1f} min "
                 "wall")  # fmt: skip
    return "\n".join(lines)


def write_summary(spec, folder: Path, rows: pd.DataFrame, factor: str, wall: float) -> tuple[str, list[Path]]:
    """The summary table and text of a finished study, written beside its folds."""
    rows = typed_rows(rows)
    summary = kfold_summary(rows, factor)
    text = kfold_text(spec, summary, rows, factor, wall)
    files = [
        atomic_write(folder / "kfold_rows.csv", lambda tmp: rows.to_csv(tmp, index=False)),
        atomic_write(folder / SUMMARY_FILE, lambda tmp: summary.to_csv(tmp, index=False)),
        atomic_write(folder / "kfold.md", lambda tmp: tmp.write_text(text + "\n")),
    ]
    return text, files
