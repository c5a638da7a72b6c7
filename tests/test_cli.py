"""The ww-bayes command line: simulate and validate as a user runs them."""

from __future__ import annotations

import pandas as pd
import xarray as xr

from ww_bayes.cli import main
from ww_bayes.data.io import load_cohort, write_cohort


def test_simulate_then_validate(tmp_path, capsys):
    out = tmp_path / "data" / "cohort.parquet"
    assert main(["simulate", "--n", "3000", "--seed", "5", "--out", str(out)]) == 0
    truth = tmp_path / "data" / "cohort.truth.nc"
    assert out.is_file() and truth.is_file()
    tree = xr.load_datatree(truth)
    assert tree.attrs["seed"] == 5 and tree.attrs["n_persons"] == 3000
    assert len(load_cohort(out)) == 3000
    capsys.readouterr()
    assert main(["validate", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "valid" in printed and "control_enforcement" in printed
    assert "job at month 12, online only (%)" in printed and "63.0" in printed


def test_validate_reports_schema_errors(small_cohort, tmp_path, capsys):
    df = small_cohort.data.copy()
    df["arm"] = df["arm"].astype(str)
    df.loc[:4, "arm"] = "placebo"
    path = write_cohort(df, tmp_path / "bad.csv")
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert "column 'arm': unknown labels" in err and "'placebo'" in err and "(5 rows)" in err


def test_validate_unsupported_file(tmp_path, capsys):
    path = tmp_path / "cohort.json"
    pd.DataFrame({"a": [1]}).to_json(path)
    assert main(["validate", str(path)]) == 2
    assert "unsupported file type '.json'" in capsys.readouterr().err
