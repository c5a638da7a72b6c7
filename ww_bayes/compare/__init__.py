"""Frequentist estimators (statsmodels) on the posterior's estimands, and side-by-side tables.

A model kind names its estimator (:attr:`ww_bayes.kinds.protocol.ModelKind.frequentist`), a key of
:data:`ESTIMATORS`: a function ``(cohort, fit, covariates, cov_type, *, factors=None) -> table`` (``factors``:
the grouping factors whose levels it estimates besides overall; the fit's when None) whose rows carry the
kind's summary keys (``estimand``, ``contrast``, ``level``, ``group``, ...) and ``estimate``, ``se``, a
confidence interval at the fit's interval probability (``ci90_lb``, ``ci90_ub``), ``p_value``, ``p_holm``,
``p_bh``, ``method``, ``se_type`` and ``outcome``, with the subgroups it could not estimate in
``attrs["skipped"]``. The coverage study (:mod:`ww_bayes.calibration.coverage`) also runs it, overall only,
as the reference on the same cohorts.
"""

from collections.abc import Callable

from ww_bayes.compare.destinations import destinations_lpm
from ww_bayes.compare.frequentist import (
    FrequentistError,
    fit_factors,
    frequentist_group,
    frequentist_table,
    itt,
    itt_for_fit,
)
from ww_bayes.compare.hours import hours_ols, hours_ols_for_fit
from ww_bayes.compare.tables import compare, format_comparison
from ww_bayes.compare.trajectory import trajectory_itt

#: The frequentist estimators by name (:attr:`ww_bayes.kinds.protocol.ModelKind.frequentist`).
ESTIMATORS: dict[str, Callable] = {
    "itt": itt_for_fit,
    "hours_ols": hours_ols_for_fit,
    "destinations_lpm": destinations_lpm,
    "trajectory_itt": trajectory_itt,
}

__all__ = [
    "ESTIMATORS",
    "FrequentistError",
    "compare",
    "destinations_lpm",
    "fit_factors",
    "format_comparison",
    "frequentist_group",
    "frequentist_table",
    "hours_ols",
    "itt",
    "trajectory_itt",
]
