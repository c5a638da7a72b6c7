"""Posterior summaries of derived draws with ``arviz_stats.summary``, as one long labelled table.

A derived group holds one child per level (:mod:`ww_bayes.derived`: ``overall`` and one per grouping
factor, the factor a dim); :func:`summary_table` gives one row per estimand, level and label of the remaining
dims (contrast, outcome, month, ...), with mean, sd, the labelled credible interval (``eti90_lb``/
``eti90_ub``: :func:`ww_bayes.vocabulary.interval_label`), ESS, R-hat and the Monte Carlo standard errors of
mean and sd. What each variable is comes from the kind's declaration (:class:`ww_bayes.derived.Variable`):
estimands give rows, probabilities and flags give columns of their rows.
"""

from __future__ import annotations

from collections.abc import Mapping

import arviz_stats as azs
import pandas as pd
import xarray as xr

from ww_bayes.derived import (
    CELLS,
    OVERALL,
    DerivedLayoutError,
    Variable,
    factor_of,
    level_label,
    levels_of,
)
from ww_bayes.diagnostics import DIAGNOSTICS, diagnose
from ww_bayes.vocabulary import SAMPLE_DIMS, interval_label

#: Summary columns after the keys, in order (those a table has).
STATS_COLUMNS = ("mean", "sd", "ess_bulk", "ess_tail", "r_hat", "mcse_mean", "mcse_sd")


def summarised(
    derived: xr.DataTree, variables: Mapping[str, Variable], estimands: tuple[str, ...] | None = None
) -> list[tuple[str, str]]:
    """(level, estimand) of every summary row block, in the table's order: per level (the cell grid left
    out) its estimands and ratios in declaration order; partial estimands (over part of the cohort) last."""
    chosen = [n for n, v in variables.items() if v.has_draws and (estimands is None or n in estimands)]
    first = [n for n in chosen if variables[n].role != "partial_estimand"]
    last = [n for n in chosen if variables[n].role == "partial_estimand"]
    levels = {level: ds for level, ds in levels_of(derived).items() if level != CELLS}
    blocks = [(level, name) for level, ds in levels.items() for name in first if name in ds]
    return blocks + [(level, name) for level, ds in levels.items() for name in last if name in ds]


def summary_table(
    derived: xr.DataTree,
    variables: Mapping[str, Variable],
    interval_kind: str = "eti",
    interval_prob: float = 0.9,
    *,
    estimands: tuple[str, ...] | None = None,
    diagnostics: bool = True,
) -> pd.DataFrame:
    """One row per estimand, level, group and label of any other dim of the draws in ``derived``.

    Columns: ``estimand``, ``level`` (``overall`` or ``by_<factor>``), ``group`` (``all`` or the factor's
    level), the other dims (e.g. ``contrast``, ``outcome``, ``month``), then arviz_stats' ``mean``, ``sd``,
    ``<label>_lb``, ``<label>_ub``, ``ess_bulk``, ``ess_tail``, ``r_hat``, ``mcse_mean``, ``mcse_sd``; then
    ``prob_positive`` for signed estimands (stored from every draw where the derived group holds it, else
    from these draws), each probability the level stores for the estimand (e.g. ``prob_beyond_smallest``)
    and each flag or share of the level (``pooling_only``, ``pooling_only_share``).
    ``estimands``: only these (default every declared estimand). ``diagnostics=False`` keeps ESS, R-hat
    and the MCSE of the sd out (for thousands of monthly series, whose worst R-hat and ESS per variable
    the fit's diagnostics group holds).
    """
    label = interval_label(interval_kind, interval_prob)
    levels = levels_of(derived)
    for level, ds in levels.items():
        unknown = [name for name in ds.data_vars if name not in variables]
        if unknown:  # never skipped: a summary that drops what it does not know would mislead
            raise DerivedLayoutError(f"{level}/{unknown[0]}: a derived variable the model kind does not "
                                     f"declare ({', '.join(variables)})")  # fmt: skip
    blocks = summarised(derived, variables, estimands)
    # one flat dataset, so arviz_stats' summary and the diagnostics run over every variable at once
    keys = {f"{name}@{level}": (level, name) for level, name in blocks}
    flat = xr.Dataset({key: levels[level][name] for key, (level, name) in keys.items()})
    all_stats = azs.summary(flat, fmt="xarray", kind="stats", ci_kind=interval_kind, ci_prob=interval_prob,
                            round_to="none")  # fmt: skip
    all_diagnostics = diagnose(flat, DIAGNOSTICS if diagnostics else ("mcse_mean",))
    frames = []
    for key, (level, estimand) in keys.items():
        ds = levels[level]
        draws = ds[estimand]
        table = all_stats[key].to_dataset(dim="summary")
        for diagnostic, values in all_diagnostics.items():
            table[diagnostic] = values[key]
        stored = _attached(ds, variables, estimand)
        if variables[estimand].signed and "prob_positive" not in stored:
            table["prob_positive"] = (draws > 0).mean(SAMPLE_DIMS)
        for name, values in stored.items():
            table[name] = values
        frame = table.to_dataframe().reset_index()
        factor = factor_of(level)
        frame["group"] = frame[factor].astype(str) if factor else "all"
        frame = frame.drop(columns=[factor] if factor else [])
        frame.insert(0, "estimand", estimand)
        frame.insert(1, "level", level_label(level))
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    if f"{label}_lb" not in table:
        raise ValueError(f"arviz_stats.summary did not label its interval {label}: {list(table.columns)}")
    attached = [n for n, v in variables.items() if v.role in ("probability", "flag", "share")]
    if "prob_positive" not in attached:
        attached.insert(0, "prob_positive")
    stats_columns = ["mean", "sd", f"{label}_lb", f"{label}_ub", *STATS_COLUMNS[2:], *attached]
    keys_columns = [c for c in table.columns if c not in stats_columns]
    return table[keys_columns + [c for c in stats_columns if c in table]]


def _attached(ds: xr.Dataset, variables: Mapping[str, Variable], estimand: str) -> dict[str, xr.DataArray]:
    """The level's stored probabilities of ``estimand`` and its flags and shares, in declaration order."""
    out = {}
    for name, variable in variables.items():
        if name not in ds:
            continue
        if variable.role == "probability" and variable.of == estimand:
            out[name] = ds[name]
        elif variable.role in ("flag", "share"):
            out[name] = ds[name]
    return out


#: A factor with more levels than this is listed behind a summary line (e.g. 35 regions), not on screen.
SHOWN_LEVELS = 12


def shown_levels(table: pd.DataFrame) -> list[str]:
    """The levels of a summary-shaped table (columns ``level``, ``group``) shown on screen and in a
    report's main table: overall and every factor with at most :data:`SHOWN_LEVELS` groups (the others are
    in the CSV, and collapsed in the report)."""
    counts = table.groupby("level", sort=False)["group"].nunique()
    return [level for level, n in counts.items() if level == OVERALL or n <= SHOWN_LEVELS]


def probability_columns(table: pd.DataFrame) -> list[str]:
    """The probabilities worth showing of a summary's rows: the directed ones where the outcome has a good
    direction (P(helps), P(helps beyond the smallest effect), P(negligible)), P(> 0) and P(< 0) where it
    has none; columns that are empty (no meaning here) are left out."""
    wanted = ["prob_beneficial", "prob_beneficial_beyond_smallest", "prob_negligible"]
    if "prob_beneficial" not in table or table["prob_beneficial"].isna().all():
        wanted = ["prob_positive", "prob_negative", "prob_negligible"]
    return [c for c in wanted if c in table and table[c].notna().any()]


def coverage(summary: pd.DataFrame, truth: pd.DataFrame, label: str, keys: list[str]) -> pd.DataFrame:
    """Summary rows joined to the truth (column ``truth``) on ``keys``, with whether the ``label``
    interval covers it (``covered``)."""
    merged = summary.merge(truth, on=keys, how="inner", validate="one_to_one")
    merged["covered"] = (merged[f"{label}_lb"] <= merged["truth"]) & (
        merged["truth"] <= merged[f"{label}_ub"]
    )
    return merged


__all__ = ["coverage", "probability_columns", "shown_levels", "summarised", "summary_table"]
