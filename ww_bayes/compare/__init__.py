"""Frequentist estimators (statsmodels) on the posterior's estimands, and side-by-side tables."""

from ww_bayes.compare.frequentist import (
    FrequentistError,
    fit_factors,
    frequentist_group,
    frequentist_table,
    itt,
)
from ww_bayes.compare.tables import compare, format_comparison

__all__ = [
    "FrequentistError",
    "compare",
    "fit_factors",
    "format_comparison",
    "frequentist_group",
    "frequentist_table",
    "itt",
]
