"""Posterior summaries of derived draws with ``arviz_stats.summary``, as one long labelled table.

A derived group names its variables ``<estimand>_<level>`` (``effect_pp_overall``,
``extra_employed_months_by_werkverkenner``); :func:`summary_table` gives one row per estimand, level and
label of the remaining dims (contrast, outcome, month, ...), with mean, sd, the labelled credible interval
(``eti90_lb``/``eti90_ub``: :func:`ww_bayes.vocabulary.interval_label`), ESS, R-hat and the Monte Carlo
standard errors of mean and sd.
"""

from __future__ import annotations

import arviz_stats as azs
import pandas as pd
import xarray as xr

from ww_bayes.diagnostics import DIAGNOSTICS, diagnose
from ww_bayes.vocabulary import SAMPLE_DIMS, interval_label

#: The levels an estimand is reported at: the whole cohort, or one grouping factor.
LEVELS = ("overall", "by_werkverkenner", "by_region")
#: Factors a level groups by (the ``group`` column holds the factor's label).
GROUP_DIMS = ("werkverkenner", "region")


def split_name(name: str) -> tuple[str, str] | None:
    """``effect_pp_by_region`` -> (``effect_pp``, ``by_region``); None when no level suffix."""
    for level in LEVELS:
        if name.endswith("_" + level):
            return name[: -len(level) - 1], level
    return None


def summary_table(
    derived: xr.Dataset,
    interval_kind: str = "eti",
    interval_prob: float = 0.9,
    *,
    estimands: tuple[str, ...] | None = None,
    signed: tuple[str, ...] = ("effect_pp",),
    diagnostics: bool = True,
) -> pd.DataFrame:
    """One row per estimand, level, group and label of any other dim of the draws in ``derived``.

    Columns: ``estimand``, ``level``, ``group`` (``all`` or the class / region), the other dims
    (e.g. ``contrast``, ``outcome``, ``month``), then arviz_stats' ``mean``, ``sd``, ``<label>_lb``,
    ``<label>_ub``, ``ess_bulk``, ``ess_tail``, ``r_hat``, ``mcse_mean``, ``mcse_sd``; ``prob_positive``
    for the ``signed`` estimands (P(draw > 0)), and ``prob_beyond_smallest``, ``pooling_only`` (the level has
    no person in one of the contrast's arms) and ``pooling_only_share`` where ``derived`` stores them.
    ``estimands``: only these (default all variables with draws and a level suffix). ``diagnostics=False``
    keeps ESS, R-hat and the MCSE of the sd out (arviz_stats' "stats" and the MCSE of the mean only): for
    thousands of monthly series, whose worst R-hat and ESS per variable the fit's diagnostics group holds.
    """
    label = interval_label(interval_kind, interval_prob)
    selected = {}
    for name, draws in derived.data_vars.items():
        parts = split_name(name)
        if "chain" in draws.dims and parts is not None and (estimands is None or parts[0] in estimands):
            selected[name] = parts
    # arviz_stats' "stats" and its diagnostics (its summary's kind="all"), each for every variable at once
    all_stats = azs.summary(derived[list(selected)], fmt="xarray", kind="stats", ci_kind=interval_kind,
                            ci_prob=interval_prob, round_to="none")  # fmt: skip
    all_diagnostics = diagnose(derived[list(selected)], DIAGNOSTICS if diagnostics else ("mcse_mean",))
    frames = []
    for name, (estimand, level) in selected.items():
        draws = derived[name]
        table = all_stats[name].to_dataset(dim="summary")
        for diagnostic, values in all_diagnostics.items():
            table[diagnostic] = values[name]
        if estimand in signed:  # P(> 0); the derived group stores it for effect_pp
            stored = derived.get(f"prob_positive_{level}") if estimand == "effect_pp" else None
            table["prob_positive"] = stored if stored is not None else (draws > 0).mean(SAMPLE_DIMS)
        beyond = derived.get(f"prob_beyond_smallest_{level}")
        if beyond is not None and estimand == "effect_pp":
            table["prob_beyond_smallest"] = beyond
        for flag in ("pooling_only", "pooling_only_share"):  # sparse designs: see estimands.pooling_only
            stored = derived.get(f"{flag}_{level}")
            if stored is not None:
                table[flag] = stored
        frame = table.to_dataframe().reset_index()
        factor = next((d for d in GROUP_DIMS if d in draws.dims), None)
        frame["group"] = frame[factor].astype(str) if factor else "all"
        frame = frame.drop(columns=[d for d in GROUP_DIMS if d in frame])
        frame.insert(0, "estimand", estimand)
        frame.insert(1, "level", level)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    if f"{label}_lb" not in table:
        raise ValueError(f"arviz_stats.summary did not label its interval {label}: {list(table.columns)}")
    stats_columns = ["mean", "sd", f"{label}_lb", f"{label}_ub", "ess_bulk", "ess_tail", "r_hat",
                     "mcse_mean", "mcse_sd", "prob_positive", "prob_beyond_smallest", "pooling_only",
                     "pooling_only_share"]  # fmt: skip
    keys = [c for c in table.columns if c not in stats_columns]
    return table[keys + [c for c in stats_columns if c in table]]


def coverage(summary: pd.DataFrame, truth: pd.DataFrame, label: str, keys: list[str]) -> pd.DataFrame:
    """Summary rows joined to the truth (column ``truth``) on ``keys``, with whether the ``label``
    interval covers it (``covered``)."""
    merged = summary.merge(truth, on=keys, how="inner", validate="one_to_one")
    merged["covered"] = (merged[f"{label}_lb"] <= merged["truth"]) & (
        merged["truth"] <= merged[f"{label}_ub"]
    )
    return merged
