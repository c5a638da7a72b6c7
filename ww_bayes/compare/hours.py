"""Frequentist estimates of the effect on mean hours per claimant: OLS on person rows with HC2 errors.

The counterpart of the hours kind's ``mean_hours``: hours in months 1-12 (zeros included) regressed on arm
indicators with Werkverkenner class fixed effects, overall and per level of each grouping factor of the fit
(one regression per subgroup), heteroskedasticity-robust HC2 standard errors, exactly as the binary
outcomes' linear probability model (:func:`ww_bayes.compare.frequentist.itt`), whose estimates are here in
hours rather than percentage points.
"""

from __future__ import annotations

import pandas as pd
import xarray as xr

from ww_bayes.compare.frequentist import fit_factors, itt

#: The estimand the estimates are of (the hours kind's name for it).
ESTIMAND = "mean_hours"


def hours_ols(
    df: pd.DataFrame,
    outcome: str = "hours_y1",
    *,
    factors: tuple[str, ...] = ("werkverkenner", "region"),
    covariates: tuple[str, ...] = (),
    cov_type: str = "HC2",
    skip_unestimable: bool = False,
) -> pd.DataFrame:
    """Effects on mean hours per claimant (hours) of every contrast, overall and per level of ``factors``:
    :func:`ww_bayes.compare.frequentist.itt`'s OLS on the hours column, its columns in hours."""
    table = itt(df, outcome, factors=factors, covariates=covariates, cov_type=cov_type, method="lpm",
                skip_unestimable=skip_unestimable)  # fmt: skip
    # itt scales the coefficient of a 0/1 outcome to percentage points; hours stay hours
    bounds = [c for c in table.columns if c.startswith("ci") and c.endswith(("_lb", "_ub"))]
    for column in ("estimate", "se", *bounds):
        table[column] = table[column] / 100
    table["estimand"] = ESTIMAND
    table["method"] = "OLS on person rows (hours)"
    return table


def hours_ols_for_fit(
    df: pd.DataFrame, fit: xr.DataTree, covariates: tuple[str, ...] = (), cov_type: str = "HC2", *,
    factors: tuple[str, ...] | None = None,
) -> pd.DataFrame:  # fmt: skip
    """:func:`hours_ols` of a fit's outcome at the fit's levels (or overall and ``factors``' levels only),
    subgroups with an empty arm left out (listed in ``attrs["skipped"]``): the estimator ``ww-bayes
    compare`` uses for hours fits."""
    factors = fit_factors(fit) if factors is None else tuple(factors)
    return hours_ols(df, fit.attrs["outcome"], factors=factors, covariates=tuple(covariates),
                     cov_type=cov_type, skip_unestimable=True)  # fmt: skip
