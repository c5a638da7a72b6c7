"""load_cohort: CSV and Parquet round trips, clear errors for other files; atomic writes."""

from __future__ import annotations

import os

import pandas as pd
import pytest
import xarray as xr

from ww_bayes.data.io import (
    LOCK_NAME,
    CohortFileError,
    atomic_write,
    load_cohort,
    load_datatree,
    write_cohort,
    write_datatree,
)
from ww_bayes.data.schema import SchemaError


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_round_trip_keeps_values_types_and_na(small_cohort, tmp_path, suffix):
    path = write_cohort(small_cohort.data, tmp_path / f"cohort{suffix}")
    loaded = load_cohort(path)
    expected = small_cohort.data
    assert list(loaded.columns) == list(expected.columns)
    assert loaded["arm"].dtype == expected["arm"].dtype
    assert loaded["ww_m29"].isna().sum() == expected["ww_m29"].isna().sum() > 0
    pd.testing.assert_frame_equal(
        loaded.drop(columns=["region"]).reset_index(drop=True),
        expected.drop(columns=["region"]).reset_index(drop=True),
        check_dtype=False,
        check_categorical=False,
    )
    assert (loaded["region"].astype(str) == expected["region"].astype(str)).all()


def test_unsupported_file_type(tmp_path):
    path = tmp_path / "cohort.xlsx"
    path.write_text("x")
    with pytest.raises(CohortFileError, match=r"unsupported file type '\.xlsx'"):
        load_cohort(path)


def test_unreadable_and_missing_files(tmp_path):
    broken = tmp_path / "cohort.parquet"
    broken.write_bytes(b"this is not parquet")
    with pytest.raises(CohortFileError, match="cannot be read as Parquet"):
        load_cohort(broken)
    with pytest.raises(CohortFileError, match="no such file"):
        load_cohort(tmp_path / "absent.csv")


def test_invalid_file_raises_schema_error(small_cohort, tmp_path):
    df = small_cohort.data.drop(columns=["arm"])
    path = write_cohort(df, tmp_path / "cohort.parquet")
    with pytest.raises(SchemaError, match="'arm'"):
        load_cohort(path)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.nc"
    target.write_text("old")

    def fail(tmp):
        tmp.write_text("half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail)
    assert target.read_text() == "old"
    assert sorted(set(os.listdir(tmp_path)) - {LOCK_NAME}) == ["out.nc"]  # the folder's lock file stays


def test_datatree_round_trip_and_overwrite(tmp_path):
    tree = xr.DataTree.from_dict({"a": xr.Dataset({"x": ("i", [1.0, 2.0])})})
    path = write_datatree(tree, tmp_path / "t.nc")
    loaded = load_datatree(path)
    xr.testing.assert_identical(loaded["a"].ds, tree["a"].ds)
    write_datatree(loaded, path)  # eager load: overwriting the same file works
    assert oct(path.stat().st_mode & 0o777) != "0o600"
