"""validate(): one SchemaError per table, naming the column, the bad values and the number of rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ww_bayes.data.schema import (
    FULL_EXTRACT_COLUMNS,
    HEADLINE_OUTCOMES,
    SchemaError,
    month_column,
    month_columns,
    to_typed,
    validate,
)


def problems_of(df: pd.DataFrame, required=()) -> str:
    with pytest.raises(SchemaError) as info:
        validate(df, required)
    return str(info.value)


def test_valid_cohort_passes(small_df):
    validate(small_df)


def test_missing_columns_the_model_needs_are_named(small_df):
    dropped = small_df.drop(columns=["werkverkenner", "ww_m7"])
    validate(dropped)  # a model that reads neither can use the file
    message = problems_of(dropped, required=["werkverkenner", "region", "ww_m7"])
    assert "'werkverkenner, ww_m7'" in message
    assert "2 column(s) the model needs are missing" in message
    assert "person_id" in problems_of(small_df.drop(columns=["person_id"]))  # always needed


def test_missing_months_are_named_as_ranges(small_df):
    first_year = small_df.drop(columns=[f"{p}_m{m}" for p in ("employed", "ww") for m in range(13, 31)])
    validate(first_year, required=["werkverkenner", "region", "employed_m12", "ww_m12"])
    months = [f"{p}_m{m}" for p in ("employed", "ww") for m in range(1, 31)]
    message = problems_of(first_year, required=["werkverkenner", *months])
    assert "'employed_m13-m30, ww_m13-m30'" in message and "36 column(s)" in message


def test_unknown_labels_list_values_and_row_count(small_df):
    small_df.loc[:2, "arm"] = "treatment"
    small_df.loc[10, "werkverkenner"] = "90-100"
    message = problems_of(small_df)
    assert "column 'arm': unknown labels" in message
    assert "'treatment'" in message and "(3 rows)" in message
    assert "column 'werkverkenner': unknown labels" in message and "'90-100'" in message
    assert "(1 row)" in message


def test_duplicated_person_id(small_df):
    small_df.loc[5, "person_id"] = small_df.loc[4, "person_id"]
    message = problems_of(small_df)
    assert "column 'person_id': duplicated person_id" in message
    assert f"[values: {small_df.loc[4, 'person_id']}]" in message
    assert "(2 rows)" in message


def test_outcome_values_other_than_binary(small_df):
    small_df["employed_m12"] = small_df["employed_m12"].astype("Float64")
    small_df.loc[:3, "employed_m12"] = 2
    small_df.loc[4, "employed_m12"] = 0.5
    message = problems_of(small_df)
    assert "column 'employed_m12': outcome values must be 0, 1 or NA" in message
    assert "2.0" in message and "0.5" in message and "(5 rows)" in message


def test_na_in_required_label(small_df):
    small_df["region"] = small_df["region"].astype(object)
    small_df.loc[:6, "region"] = None
    message = problems_of(small_df)
    assert "column 'region': missing values (NA)" in message and "(7 rows)" in message


def test_arm_with_zero_persons(small_df):
    df = small_df[small_df["arm"] != "control_none"]
    message = problems_of(df)
    assert "column 'arm': no persons at all in 'control_none'" in message


def test_a_werkverkenner_class_absent_from_an_extract_is_valid(small_df):
    validate(small_df[small_df["werkverkenner"] != "0-25"], required=["werkverkenner"])  # the fit notes it


def test_month_columns_out_of_range(small_df):
    small_df["employed_m31"] = 0
    small_df["ww_m0"] = 1
    message = problems_of(small_df)
    assert "column 'employed_m31': month out of range" in message
    assert "column 'ww_m0': month out of range" in message


def test_na_only_for_unobserved_months(small_df):
    small_df.loc[:9, "ww_m5"] = pd.NA  # month 5 missing but month 6 observed: not late inflow
    message = problems_of(small_df)
    assert "column 'ww_m*': NA in a month followed by an observed month" in message
    assert "'ww_m5'" in message and "(10 rows)" in message


def test_inflow_month_format_and_window(small_df):
    small_df.loc[:1, "inflow_month"] = "2018/03"
    small_df.loc[2, "inflow_month"] = "2019-06"
    message = problems_of(small_df)
    assert "column 'inflow_month': not a YYYY-MM month" in message and "'2018/03'" in message
    assert "outside the study inflow window" in message and "'2019-06'" in message


def test_optional_covariates_checked_when_present(small_df):
    small_df.loc[:1, "education"] = "phd"
    small_df["age"] = small_df["age"].astype("Int64")
    small_df.loc[3, "age"] = 120
    message = problems_of(small_df)
    assert "column 'education': unknown labels" in message and "'phd'" in message
    assert "column 'age'" in message and "120" in message
    validate(small_df.drop(columns=["age", "sex", "education"]))  # optional: may be absent


def test_all_problems_in_one_error(small_df):
    small_df.loc[0, "arm"] = "x"
    small_df.loc[1, "person_id"] = small_df.loc[2, "person_id"]
    small_df["employed_m3"] = small_df["employed_m3"].astype("Int64")
    small_df.loc[5, "employed_m3"] = 7
    with pytest.raises(SchemaError) as info:
        validate(small_df)
    columns = {p.column for p in info.value.problems}
    assert {"arm", "person_id", "employed_m3"} <= columns
    assert "3 problems" in str(info.value)


def test_headline_outcomes_are_aliases_of_month_12():
    assert HEADLINE_OUTCOMES == {"job_12m": "employed_m12", "ww_12m": "ww_m12"}
    assert set(HEADLINE_OUTCOMES.values()) <= set(FULL_EXTRACT_COLUMNS)
    assert month_columns("ww")[11] == month_column("ww", 12)
    with pytest.raises(ValueError, match="month must be in 1..30"):
        month_column("employed", 31)


def test_to_typed_keeps_na_and_uses_categoricals(small_df):
    typed = to_typed(small_df)
    assert isinstance(typed["arm"].dtype, pd.CategoricalDtype)
    assert typed["ww_m30"].dtype == "Int8"
    assert typed["ww_m30"].isna().sum() == small_df["ww_m30"].isna().sum() > 0
    np.testing.assert_array_equal(
        typed["employed_m12"].to_numpy(dtype=float), small_df["employed_m12"].to_numpy(dtype=float)
    )
