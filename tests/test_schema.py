"""validate(): one SchemaError per table, naming the column, the bad values and the number of rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ww_bayes.data.schema import (
    BENEFIT_PREFIX,
    BENEFIT_STATUSES,
    FULL_EXTRACT_COLUMNS,
    HEADLINE_OUTCOMES,
    HOURS_Y1,
    HOURS_Y1_MAX,
    WIA_35MIN,
    SchemaError,
    consistency_warnings,
    month_column,
    month_columns,
    to_typed,
    validate,
)
from ww_bayes.workflow import describe_file


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


# --- optional outcomes: benefit status, WIA 35-min flag, hours worked -----------------------------------

NEW_COLUMNS = [*month_columns(BENEFIT_PREFIX), WIA_35MIN, HOURS_Y1]


def test_files_without_the_optional_outcomes_stay_valid(small_df):
    assert set(NEW_COLUMNS) <= set(small_df.columns)
    validate(small_df)
    validate(small_df.drop(columns=NEW_COLUMNS))
    typed = to_typed(small_df.drop(columns=NEW_COLUMNS))
    assert not set(NEW_COLUMNS) & set(typed.columns)


def benefit_as_text(df: pd.DataFrame) -> pd.DataFrame:
    """The benefit columns as plain text, the way a CSV gives them."""
    for column in month_columns(BENEFIT_PREFIX):
        df[column] = df[column].astype(object)
    return df


def test_unknown_benefit_status_names_column_values_rows_and_persons(small_df):
    df = benefit_as_text(small_df)
    rows = df.index[df["benefit_m5"].notna()][:3]
    df.loc[rows, "benefit_m5"] = ["sick", "WW", "sick"]
    message = problems_of(df)
    assert "column 'benefit_m5': unknown benefit status" in message
    assert "'sick'" in message and "'WW'" in message and "(3 rows)" in message
    assert f"person_id {df.loc[rows[0], 'person_id']}" in message
    assert "allowed: ww, zw, wia, bijstand, none or NA" in message


def test_benefit_columns_come_for_the_first_months_without_gaps(small_df):
    validate(small_df.drop(columns=[f"benefit_m{m}" for m in range(13, 31)]))  # a first-year extract
    message = problems_of(small_df.drop(columns=["benefit_m3", "benefit_m4"]))
    assert "'benefit_m3, benefit_m4'" in message and "2 benefit status column(s) missing" in message
    small_df["benefit_m31"] = "none"
    assert "column 'benefit_m31': month out of range" in problems_of(small_df)


def test_benefit_na_only_for_unobserved_months(small_df):
    df = benefit_as_text(small_df)
    df.loc[:4, "benefit_m5"] = None
    message = problems_of(df)
    assert "column 'benefit_m*': NA in a month followed by an observed month" in message
    assert "'benefit_m5'" in message and "(5 rows)" in message


def test_benefit_must_match_ww_listing_persons_and_months(small_df):
    df = benefit_as_text(small_df)
    on_ww = df.index[df["ww_m3"] == 1][:4]
    off_ww = df.index[(df["ww_m20"] == 0) & df["benefit_m20"].notna() & ~df.index.isin(on_ww)][:2]
    df.loc[on_ww, "benefit_m3"] = "zw"
    df.loc[on_ww[:1], "benefit_m4"] = "none"  # a second month for the first person
    df.loc[off_ww, "benefit_m20"] = "ww"
    with pytest.raises(SchemaError) as info:
        validate(df)
    (problem,) = [p for p in info.value.problems if p.column == "benefit_m*, ww_m*"]
    message = str(problem)
    assert "ww_m must be 1 exactly when benefit_m is 'ww'" in message
    assert "7 person-months of 6 persons disagree" in message
    assert "m3 4" in message and "m4 1" in message and "m20 2" in message  # persons by month
    first = df.loc[on_ww[0], "person_id"]
    assert f"person_id {first}: m3 ww 1 / benefit 'zw', m4 ww 1 / benefit 'none'" in message
    assert "(6 rows)" in message and problem.n_rows == 6


def test_working_beside_zw_or_wia_is_valid(small_df):
    df = benefit_as_text(small_df)
    off_ww = df.index[(df["ww_m12"] == 0)][:6]
    df.loc[off_ww[:3], "benefit_m12"] = "zw"
    df.loc[off_ww[3:], "benefit_m12"] = "wia"
    df.loc[off_ww, "employed_m12"] = 1
    validate(df)


def test_wia_35min_is_0_1_or_na(small_df):
    small_df[WIA_35MIN] = small_df[WIA_35MIN].astype("Int64")
    small_df.loc[:1, WIA_35MIN] = 2
    message = problems_of(small_df)
    assert "column 'wia_35min': outcome values must be 0, 1 or NA" in message and "(2 rows)" in message


def test_outcomes_a_model_needs_may_be_na_grouping_columns_may_not(small_df):
    """A model that reads wia_35min or hours_y1 accepts NA there (not observed); NA in a grouping column it
    reads is still an error naming the column and the rows."""
    small_df[WIA_35MIN] = small_df[WIA_35MIN].astype("Int64")
    small_df.loc[:2, WIA_35MIN] = pd.NA
    small_df.loc[3:4, HOURS_Y1] = np.nan
    small_df["team"] = "a"
    validate(small_df, required=[WIA_35MIN, HOURS_Y1, "team"])
    small_df.loc[:1, "team"] = None
    with pytest.raises(SchemaError) as raised:
        validate(small_df, required=[WIA_35MIN, HOURS_Y1, "team"])
    assert "column 'team': missing values (NA) in a grouping column (2 rows)" in str(raised.value)
    assert "wia_35min" not in str(raised.value) and "hours_y1" not in str(raised.value)


def test_hours_errors_list_values_rows_and_persons(small_df):
    small_df.loc[0, HOURS_Y1] = -5
    small_df.loc[1:2, HOURS_Y1] = HOURS_Y1_MAX + 100
    small_df.loc[3, HOURS_Y1] = 12.5
    small_df.loc[4, HOURS_Y1] = np.nan  # not observed: fine
    message = problems_of(small_df)
    assert f"column 'hours_y1': negative hours (person_id {small_df.loc[0, 'person_id']})" in message
    assert "[values: -5.0] (1 row)" in message
    assert f"above the maximum of {HOURS_Y1_MAX:,} hours in 12 months" in message
    assert f"[values: {float(HOURS_Y1_MAX + 100)}] (2 rows)" in message
    assert "fractional hours: whole hours expected" in message and "[values: 12.5] (1 row)" in message


def test_hours_that_are_not_numbers(small_df):
    small_df[HOURS_Y1] = small_df[HOURS_Y1].astype(object)
    small_df.loc[:1, HOURS_Y1] = "12,5"  # a Dutch decimal comma read as text
    message = problems_of(small_df)
    assert "column 'hours_y1': not a number of hours" in message and "'12,5'" in message


def test_consistency_warnings_list_every_person(small_df):
    assert consistency_warnings(small_df) == []
    months = [month_column("employed", m) for m in range(1, 13)]
    never = small_df.index[(small_df[months] == 0).all(axis=1)][:3]
    worked = small_df.index[(small_df[months] == 1).any(axis=1)][:45]
    small_df.loc[never, HOURS_Y1] = 100
    small_df.loc[worked, HOURS_Y1] = 0
    small_df.loc[worked[-1], HOURS_Y1] = np.nan  # not observed: not compared
    validate(small_df)  # a warning, not an error
    without_work, without_hours = consistency_warnings(small_df)
    assert without_work.startswith("3 persons with hours_y1 > 0 but no month employed in employed_m1..m12")
    for row in never:
        assert f"person_id {small_df.loc[row, 'person_id']}: hours_y1 100, months employed 0" in without_work
    assert without_hours.startswith("44 persons with hours_y1 = 0 but employed in a month")
    assert without_hours.count("person_id") == 44
    shown = consistency_warnings(small_df, shown=40)[1]
    assert shown.count("person_id") == 40 and shown.endswith("... and 4 more")


def test_consistency_is_not_checked_where_unknown(small_df):
    months = [month_column("employed", m) for m in range(1, 13)]
    never = small_df.index[(small_df[months] == 0).all(axis=1)][:2]
    small_df.loc[never, HOURS_Y1] = 50
    small_df[months] = small_df[months].astype("Int8")
    small_df.loc[never, "employed_m12"] = pd.NA  # a month unknown: work may have been then
    assert consistency_warnings(small_df) == []
    assert consistency_warnings(small_df.drop(columns=[HOURS_Y1])) == []


def test_validate_command_prints_the_data_warnings(small_df, tmp_path):
    months = [month_column("employed", m) for m in range(1, 13)]
    never = small_df.index[(small_df[months] == 0).all(axis=1)][:2]
    small_df.loc[never, HOURS_Y1] = 30
    path = tmp_path / "cohort.csv"
    small_df.to_csv(path, index=False)
    outcome = describe_file(path)
    (warning,) = [w for w in outcome.warnings if w.startswith("data warning:")]
    assert "2 persons with hours_y1 > 0 but no month employed" in warning


def test_to_typed_optional_outcomes(small_df):
    typed = to_typed(benefit_as_text(small_df))
    benefit = typed["benefit_m12"]
    assert isinstance(benefit.dtype, pd.CategoricalDtype)
    assert tuple(benefit.cat.categories) == BENEFIT_STATUSES
    assert benefit.isna().sum() == small_df["benefit_m12"].isna().sum()
    assert typed["benefit_m30"].isna().sum() == small_df["ww_m30"].isna().sum() > 0
    assert typed[WIA_35MIN].dtype == "Int8"
    assert typed[HOURS_Y1].dtype == float
