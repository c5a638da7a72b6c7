"""Cells are exact sufficient statistics: totals equal person counts, NA persons are reported."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ww_bayes.data.cells import aggregate_cells, monthly_cells
from ww_bayes.data.schema import month_column


def test_cell_totals_equal_person_counts(small_cohort):
    df = small_cohort.data
    cells = aggregate_cells(df, "employed_m12")
    assert cells.table["trials"].sum() == len(df) == cells.n_persons
    assert cells.table["successes"].sum() == int(df["employed_m12"].sum())
    by_arm = cells.table.groupby("arm", observed=True)["trials"].sum()
    pd.testing.assert_series_equal(by_arm, df["arm"].value_counts().reindex(by_arm.index), check_names=False)
    assert (cells.table["successes"] <= cells.table["trials"]).all()


def test_na_persons_leave_the_cell_and_are_reported(small_cohort):
    df = small_cohort.data
    column = month_column("ww", 30)
    n_na = int(df[column].isna().sum())
    assert n_na > 0
    cells = aggregate_cells(df, column, by=("arm", "werkverkenner"))
    assert cells.n_missing == n_na
    assert cells.table["trials"].sum() == len(df) - n_na
    assert f"{n_na:,} with the outcome not observed (NA) left out" in cells.report()


def test_any_grouping_columns(small_cohort):
    df = small_cohort.data
    cells = aggregate_cells(df, "ww_m6", by=("education", "sex"))
    assert list(cells.table.columns) == ["education", "sex", "successes", "trials"]
    assert cells.table["trials"].sum() == len(df)


def test_monthly_cells_drop_only_unobserved_months(small_cohort):
    df = small_cohort.data
    cells = monthly_cells(df, "employed", by=("arm",))
    trials = cells.table.groupby("month")["trials"].sum()
    observed = df.filter(regex=r"^employed_m\d+$").notna().sum().to_numpy()
    np.testing.assert_array_equal(trials.to_numpy(), observed)
    assert cells.n_missing == int(df.filter(regex=r"^employed_m\d+$").isna().sum().sum())
    assert trials.loc[1] == len(df)
