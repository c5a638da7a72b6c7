"""Shared fixtures: small simulated cohorts (fast, deterministic)."""

from __future__ import annotations

import pandas as pd
import pytest

from ww_bayes.simulate import SimulatedCohort, simulate_cohort


@pytest.fixture(scope="session")
def small_cohort() -> SimulatedCohort:
    return simulate_cohort(n=4_000, seed=7)


@pytest.fixture(scope="session")
def full_cohort() -> SimulatedCohort:
    """The calibrated cohort at the published size (about 2 s)."""
    return simulate_cohort(seed=1)


@pytest.fixture
def small_df(small_cohort) -> pd.DataFrame:
    """A fresh copy of the small cohort's data, as a plain (untyped) table like a file would give."""
    df = small_cohort.data.copy()
    for column in ("arm", "werkverkenner", "region", "sex", "education"):
        df[column] = df[column].astype(str)
    return df
