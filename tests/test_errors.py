"""Every command fails in one line: user mistakes name the file or option, the bad value and what is
expected, exit with the documented status and print no traceback; nothing is sampled first."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr

from ww_bayes.cea import CostEffectivenessError, analyse, load_assumptions
from ww_bayes.cli import main
from ww_bayes.compare import FrequentistError, compare, itt
from ww_bayes.data.io import file_sha256, load_cohort, read_cohort_table, write_cohort, write_datatree
from ww_bayes.data.schema import SchemaError
from ww_bayes.inference import fit
from ww_bayes.kinds import load_spec
from ww_bayes.workflow import EXIT_CODES

ROOT = Path(__file__).resolve().parents[1]
SPEC = str(ROOT / "models" / "job_finding_12m.toml")


@pytest.fixture(scope="module")
def cohort_file(small_cohort, tmp_path_factory) -> Path:
    return write_cohort(small_cohort.data, tmp_path_factory.mktemp("errors") / "cohort.parquet")


def run(argv: list[str], capsys) -> tuple[int, str]:
    """Exit status and the error stream of one command; a usage error's SystemExit counts as its status."""
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse
        code = stop.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    return lines[0]


FIT = ["fit", SPEC, "--data", "{data}", "--out", "{tmp}/x.nc"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["simulate", "--n", "-5"], r"argument --n: must be at least 1, got -5"),
        (["simulate", "--n", "ten"], r"argument --n: expected a whole number, got 'ten'"),
        ([*FIT, "--draws", "0"], r"--draws: must be at least 1, got 0"),
        ([*FIT, "--tune", "-3"], r"--tune: must be at least 1, got -3"),
        ([*FIT, "--draw", "10"], r"unrecognized arguments: --draw 10"),
        (["compare", "{tmp}/x.nc", "--data", "{data}", "--out", "{tmp}", "--cov", "HC2"],
         r"unrecognized arguments: --cov"),
    ],
)  # fmt: skip
def test_bad_options_are_usage_errors(argv, message, cohort_file, tmp_path, capsys):
    argv = [a.format(data=cohort_file, tmp=tmp_path) for a in argv]
    code, err = run(argv, capsys)
    assert code == 2 and re.search(message, one_error_line(err)), err
    assert not list(tmp_path.glob("*.nc"))


def test_bad_files_are_one_line_errors(cohort_file, tmp_path, capsys):
    binary = tmp_path / "binary.toml"
    binary.write_bytes(bytes(range(128, 256)) * 4)
    garbled = tmp_path / "garbled.toml"
    garbled.write_text("name = [1,\n")
    (tmp_path / "folder").mkdir()
    truth = cohort_file.with_name("cohort.truth.nc")
    write_datatree(xr.DataTree(xr.Dataset({"a": ("x", [1.0])})), truth)
    corrupt = tmp_path / "corrupt.nc"
    corrupt.write_bytes(b"\x89HDF\r\n but not really" * 10)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("person_id,arm,region\n1,service,Frysl\u00e2n\n".encode("latin-1"))
    empty = tmp_path / "empty.csv"
    empty.touch()
    cases = [
        (["validate", str(latin)], f"{latin}: not UTF-8 text (it holds byte 0xe2"),
        (["validate", str(empty)], f"{empty}: cannot be read as CSV: No columns to parse"),
        (["fit", str(binary), "--data", str(cohort_file), "--out", f"{tmp_path}/x.nc"],
         f"{binary}: not a text file (byte 0x80 at position 0 is not UTF-8)"),
        (["fit", str(garbled), "--data", str(cohort_file), "--out", f"{tmp_path}/x.nc"],
         f"{garbled}: not valid TOML"),
        (["fit", SPEC, "--data", f"{tmp_path}/missing.parquet", "--out", f"{tmp_path}/x.nc"],
         f"--data {tmp_path}/missing.parquet: no such file"),
        (["fit", SPEC, "--data", str(cohort_file), "--out", f"{tmp_path}/folder"],
         f"--out {tmp_path}/folder: is a folder; give a file name such as {tmp_path}/folder/name.nc"),
        (["fit", SPEC, "--data", str(cohort_file), "--out", f"{tmp_path}/fit.csv"],
         "the file name must end in .nc"),
        (["simulate", "--n", "10", "--out", f"{tmp_path}/folder"], "is a folder"),
        (["compare", str(corrupt), "--data", str(cohort_file), "--out", str(tmp_path)],
         f"{corrupt}: cannot be read as NetCDF"),
        (["compare", str(truth), "--data", str(cohort_file), "--out", str(tmp_path)],
         "not a ww_bayes fit"),
        (["compare", str(truth), "--data", str(cohort_file), "--out", str(cohort_file)],
         f"--out {cohort_file}: is a file; give a folder"),
        (["cea", "--fit", str(corrupt), "--assumptions", str(ROOT / "models/cost_effectiveness.toml"),
          "--out", str(tmp_path)], "cannot be read as NetCDF"),
        (["report", str(tmp_path / "nowhere")], "no such results folder"),
        (["validate", str(tmp_path / "folder")], "is a folder, not a cohort file"),
    ]  # fmt: skip
    for argv, message in cases:
        code, err = run(argv, capsys)
        assert code == 2, (argv, err)
        line = one_error_line(err)
        assert line.startswith("error: ") and message in line, (message, line)


def test_debug_shows_the_traceback_and_internal_errors_exit_4(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise TypeError("an unexpected bug")

    monkeypatch.setattr("ww_bayes.cli.simulate_to_file", broken)
    code, err = run(["simulate", "--n", "10"], capsys)
    assert (
        code == 4
        and "internal error (TypeError: an unexpected bug); rerun with --debug" in one_error_line(err)
    )
    with pytest.raises(TypeError, match="an unexpected bug"):
        main(["--debug", "simulate", "--n", "10"])


def test_semicolon_csv_with_decimal_commas_reads_as_the_parquet(small_cohort, tmp_path, capsys):
    """What Dutch-locale Excel writes: ';' between fields, ',' as the decimal mark."""
    df = small_cohort.data.copy()
    df["age"] = df["age"].astype("float64")  # written as 41,0: the decimal mark matters
    parquet = write_cohort(df, tmp_path / "cohort.parquet")
    excel = tmp_path / "excel.csv"
    df.to_csv(excel, sep=";", decimal=",", index=False)
    assert ";" in excel.read_text().splitlines()[0] and ";41,0;" in excel.read_text()
    assert len(read_cohort_table(excel).columns) == len(df.columns)
    pd.testing.assert_frame_equal(load_cohort(excel), load_cohort(parquet), check_dtype=False)
    assert main(["validate", str(excel)]) == 0
    assert "valid" in capsys.readouterr().out
    # a fractional age is a schema problem named as such, not a crash while typing the column
    df.loc[:1, "age"] = 41.5
    df.to_csv(excel, sep=";", decimal=",", index=False)
    code, err = run(["validate", str(excel)], capsys)
    assert (
        code == 1 and "column 'age': age must be a whole number of years in 15..67" in err and "41.5" in err
    )


def test_a_dataframe_is_validated_exactly_as_a_file(small_df, tmp_path, capsys):
    df = small_df.copy()
    df.loc[:2, "arm"] = "placebo"
    spec = load_spec(SPEC)
    with pytest.raises(SchemaError) as from_frame:
        fit(spec, df, progress=False, log=None)
    path = write_cohort(df, tmp_path / "bad.csv")
    code, err = run(["fit", SPEC, "--data", str(path), "--out", f"{tmp_path}/x.nc"], capsys)
    assert code == 1 and str(from_frame.value) in err
    assert "column 'arm': unknown labels" in str(from_frame.value) and "(3 rows)" in str(from_frame.value)


def test_a_dataframe_is_checked_in_the_columns_a_file_read_gives(small_df, tmp_path, capsys, monkeypatch):
    """A fit reads the model's columns of a file and no others, so it checks a DataFrame's the same way: a
    bad value in a column the model does not read stops neither; in one it reads, both, with one message.
    (Sampling is replaced by a marker: only the checks before it run.)"""
    import ww_bayes.inference

    class Checked(Exception):
        pass

    def reached(*args, **kwargs):
        raise Checked

    monkeypatch.setattr(ww_bayes.inference, "sample_posterior", reached)
    spec = load_spec(SPEC)
    other = small_df.copy()
    other.loc[:2, "hours_y1"] = -5.0  # not a column of the job-finding model
    path = write_cohort(other, tmp_path / "other.parquet")
    with pytest.raises(Checked):
        fit(spec, other, progress=False, log=None)
    with pytest.raises(Checked):
        fit(spec, str(path), progress=False, log=None)
    read = small_df.copy()
    read.loc[:2, "employed_m12"] = 7  # a column it reads
    with pytest.raises(SchemaError, match="column .employed_m12.") as from_frame:
        fit(spec, read, progress=False, log=None)
    with pytest.raises(SchemaError) as from_file:
        fit(spec, str(write_cohort(read, tmp_path / "read.parquet")), progress=False, log=None)
    assert str(from_frame.value) == str(from_file.value)


def test_validate_lists_the_design_thin_spots(small_df, tmp_path, capsys):
    region = sorted(small_df["region"].unique())[0]
    sparse = small_df[~((small_df["region"] == region) & (small_df["arm"] == "control_none"))]
    path = write_cohort(sparse, tmp_path / "sparse.parquet")
    assert main(["validate", str(path), "--min-per-arm", "30"]) == 0
    err = capsys.readouterr().err
    assert "werkverkenner x region combinations lack persons in an arm" in err
    assert f"region {region}: no persons in control_none" in err
    assert "have fewer than 30 persons in an arm" in err


def test_exit_codes_are_documented_in_the_cli_page():
    readme = (ROOT / "docs" / "cli.md").read_text()
    table = readme[readme.index("## Exit codes") :]
    for code in EXIT_CODES:
        assert f"| {code} |" in table, code


# --- inputs that do not belong together ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def assumptions():
    return load_assumptions(ROOT / "models" / "cost_effectiveness.toml")


def test_cea_refuses_fits_of_other_data_or_another_month(full_fits, assumptions):
    job, ww = full_fits["job_finding_12m"], full_fits["ww_claim_12m"]
    other = ww.copy()
    other.attrs["data_sha256"] = "0" * 64
    with pytest.raises(CostEffectivenessError, match=r"job\.nc and ww\.nc were fit on different data"):
        analyse([job, other], assumptions, ["job.nc", "ww.nc"])
    month6 = job.copy()
    month6.attrs["outcome"] = "employed_m6"
    with pytest.raises(CostEffectivenessError, match=r"m6\.nc: a fit of employed_m6 \(month 6\).*month-12"):
        analyse([month6, ww], assumptions, ["m6.nc", "ww.nc"])
    with pytest.raises(CostEffectivenessError, match=r"a\.nc: employed.*b\.nc: employed"):
        analyse([job, job], assumptions, ["a.nc", "b.nc"])


def test_compare_refuses_estimates_of_another_outcome(small_trajectory_run, small_cohort):
    """A trajectory fit's rows are employment and WW by month: one month's column as the outcome is
    another estimand, refused with both named."""
    tree = xr.load_datatree(small_trajectory_run.fit)
    expected = r"the fit is of employed, ww but the frequentist estimates are of \['employed_m12'\]"
    with pytest.raises(FrequentistError, match=expected):
        compare(tree, itt(small_cohort.data, "employed_m12", skip_unestimable=True))


def test_report_skips_an_unreadable_file_and_says_so(small_trajectory_run, tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(small_trajectory_run.fit, results / "trajectory.nc")
    (results / "damaged.nc").write_bytes(b"not netcdf at all")
    assert main(["report", str(results)]) == 0
    captured = capsys.readouterr()
    assert "WARNING: skipped" in captured.err and "damaged.nc" in captured.err
    page = (results / "report.html").read_text()
    assert "Skipped <code>damaged.nc</code>" in page and "cannot be read as NetCDF" in page
    # the copied fit came without its summary CSV: the report made it, stamped with the fit's SHA-256
    assert "remade the missing or stale summary" in captured.err
    summary = pd.read_csv(results / "trajectory_summary.csv")
    assert (summary["fit_sha256"] == file_sha256(results / "trajectory.nc")).all()
