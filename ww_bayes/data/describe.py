"""Describe a cohort: arm x Werkverkenner counts and the headline outcome rates beside the published ones."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from ww_bayes.data import published
from ww_bayes.data.schema import (
    ARM_CONTROL_ENFORCEMENT,
    ARM_CONTROL_NONE,
    ARM_SERVICE,
    HEADLINE_OUTCOMES,
    month_column,
)

ONLINE_ONLY = (ARM_CONTROL_ENFORCEMENT, ARM_CONTROL_NONE)
ENFORCEMENT_WW_MONTHS = tuple(range(6, 12))  # published: less WW receipt in months 6-11


def arm_counts(df: pd.DataFrame) -> pd.DataFrame:
    """Persons per arm (rows) and Werkverkenner class (columns), with totals."""
    return pd.crosstab(df["arm"], df["werkverkenner"], margins=True, margins_name="total")


def _rate(values: pd.Series) -> tuple[float, float, int]:
    observed = pd.to_numeric(values).dropna().astype(float)
    n = len(observed)
    p = observed.mean() if n else np.nan
    return p, np.sqrt(p * (1 - p) / n) if n else np.nan, n


def _difference(df: pd.DataFrame, column: str, treated, comparison) -> tuple[float, float]:
    """Difference in means (pp) and its standard error (pp)."""
    p1, se1, _ = _rate(df.loc[df["arm"].isin(treated), column])
    p0, se0, _ = _rate(df.loc[df["arm"].isin(comparison), column])
    return 100 * (p1 - p0), 100 * np.hypot(se1, se0)


#: The normal quantile of a central 90% interval.
Z90 = NormalDist().inv_cdf(0.95)


def calibration_table(df: pd.DataFrame) -> pd.DataFrame:
    """Headline outcomes of a cohort (rates in %, effects in pp, normal 90% CIs, the probability of the
    credible intervals everywhere else) beside published values.

    Effects here are plain differences in means; the models estimate them properly.
    """
    job, ww = HEADLINE_OUTCOMES["job_12m"], HEADLINE_OUTCOMES["ww_12m"]
    rows = []
    for label, arms, target in (
        ("job at month 12, online only (%)", ONLINE_ONLY, published.JOB_RATE_M12_ONLINE),
        ("job at month 12, service (%)", (ARM_SERVICE,), published.JOB_RATE_M12_SERVICE),
    ):
        p, se, n = _rate(df.loc[df["arm"].isin(arms), job])
        rows.append((label, 100 * p, 100 * (p - Z90 * se), 100 * (p + Z90 * se), 100 * target, n))
    effects = (
        ("job m12: service - online only (pp)", job, (ARM_SERVICE,), ONLINE_ONLY,
         published.SERVICE_JOB_PP_M12),
        ("WW m12: service - online only (pp)", ww, (ARM_SERVICE,), ONLINE_ONLY,
         published.SERVICE_WW_PP_M12),
        ("job m12: enforcement - none (pp)", job, (ARM_CONTROL_ENFORCEMENT,), (ARM_CONTROL_NONE,),
         published.ENFORCEMENT_JOB_PP),
    )  # fmt: skip
    for label, column, treated, comparison, target in effects:
        estimate, se = _difference(df, column, treated, comparison)
        rows.append((label, estimate, estimate - Z90 * se, estimate + Z90 * se, target, len(df)))
    dip = [
        _difference(df, month_column("ww", m), (ARM_CONTROL_ENFORCEMENT,), (ARM_CONTROL_NONE,))[0]
        for m in ENFORCEMENT_WW_MONTHS
    ]
    rows.append(
        ("WW months 6-11: enforcement - none, mean (pp)", float(np.mean(dip)), np.nan, np.nan,
         np.nan, len(df))
    )  # fmt: skip
    table = pd.DataFrame(
        rows, columns=["quantity", "estimate", "ci90_normal_lb", "ci90_normal_ub", "published", "n"]
    ).set_index("quantity")
    return table


def format_description(df: pd.DataFrame) -> str:
    """Text block printed by ``ww-bayes validate``: counts and the calibration table."""
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        counts = arm_counts(df).to_string()
        table = calibration_table(df).round(2).to_string(na_rep="")
    return (
        f"{len(df):,} persons\n\nPersons by arm and Werkverkenner class:\n{counts}\n\n"
        f"Headline outcomes (published: {published.SOURCE}; 'published' blank = direction only, "
        f"less WW receipt):\n{table}\n"
    )
