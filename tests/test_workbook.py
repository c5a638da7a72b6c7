"""The Excel workbook of a results folder: read back with pandas, each fit's sheet is its summary CSV and
the cost-effectiveness sheets are their CSVs; the README sheet says where the data come from, in the
language asked; a release folder's workbook is made beside the folder, which gains no file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from ww_bayes.cli import main
from ww_bayes.labels import Words
from ww_bayes.report.workbook import README, sheet_name
from ww_bayes.results import FIT_SHA_COLUMN

MODELS = Path(__file__).resolve().parents[1] / "models"
#: The CSV of a release each sheet of its workbook must equal.
RELEASED_CSV = {
    "trajectory_30m": "trajectory_30m_summary.csv",
    "cost_effectiveness_summary": "cost_effectiveness_summary.csv",
    "cost_effectiveness_targeting": "cost_effectiveness_targeting.csv",
}


@pytest.fixture(scope="module")
def results(small_trajectory_run, tmp_path_factory) -> Path:
    """A results folder: the small trajectory fit with its summary CSV, and its cost-effectiveness."""
    folder = tmp_path_factory.mktemp("results")
    shutil.copy(small_trajectory_run.fit, folder / "trajectory_30m.nc")
    summary = small_trajectory_run.fit.with_name("trajectory_summary.csv")
    shutil.copy(summary, folder / "trajectory_30m_summary.csv")
    command = ["cea", "--fit", str(folder / "trajectory_30m.nc"), "--assumptions",
               str(MODELS / "cost_effectiveness.toml"), "--out", str(folder)]  # fmt: skip
    assert main(command) == 0
    return folder


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"group": str}).drop(columns=FIT_SHA_COLUMN, errors="ignore")


def test_each_sheet_reads_back_as_its_csv(results, capsys):
    assert main(["excel", str(results)]) == 0
    workbook = results / "summaries.xlsx"
    assert "summaries.xlsx" in capsys.readouterr().out
    sheets = pd.read_excel(workbook, sheet_name=None, dtype={"group": str})
    assert list(sheets)[0] == README
    expected = {
        "trajectory_30m": "trajectory_30m_summary.csv",
        "cost_effectiveness_summary": "cost_effectiveness_summary.csv",
        "cost_effectiveness_targeting": "cost_effectiveness_targeting.csv",
    }
    assert set(sheets) == {README, *expected}
    for sheet, csv in expected.items():
        pd.testing.assert_frame_equal(
            sheets[sheet], read_csv(results / csv), check_dtype=False, check_exact=False, rtol=1e-12
        )


@pytest.mark.parametrize("lang", ["en", "nl"])
def test_the_readme_says_where_the_data_come_from_in_the_language_asked(results, lang):
    assert main(["excel", str(results), "--lang", lang, "--out", str(results / f"book_{lang}.xlsx")]) == 0
    readme = pd.read_excel(results / f"book_{lang}.xlsx", sheet_name=README, header=None).astype(str)
    cells = set(readme.to_numpy().ravel())
    words = Words(lang)
    assert words.origin("simulated") in cells  # the small cohort is synthetic
    assert words.interval("eti", 0.9) in cells  # each sheet's interval
    assert words("service_vs_control_enforcement") in cells  # the label glossary in this language
    other = Words("en" if lang == "nl" else "nl")
    assert other.origin("simulated") not in cells


def test_a_release_folders_workbook_is_made_beside_it_from_released_files(results, tmp_path, capsys):
    release = tmp_path / "release"
    assert main(["release", str(results), "--out", str(release)]) == 0
    before = sorted(p.name for p in release.iterdir())
    assert main(["excel", str(release)]) == 0
    assert sorted(p.name for p in release.iterdir()) == before  # the release gained no file
    sheets = pd.read_excel(tmp_path / "release_summaries.xlsx", sheet_name=None, dtype={"group": str})
    assert "trajectory_30m" in sheets  # named as its fit, like its summary CSV
    for stem in (s for s in RELEASED_CSV if s in sheets):
        pd.testing.assert_frame_equal(
            sheets[stem], read_csv(release / RELEASED_CSV[stem]), check_dtype=False, check_exact=False,
            rtol=1e-12,
        )  # fmt: skip
    capsys.readouterr()
    assert main(["excel", str(release), "--out", str(release / "book.xlsx")]) == 2
    assert "not into the release folder" in capsys.readouterr().err
    assert not (release / "book.xlsx").exists()


def test_sheet_names_are_ones_excel_accepts():
    taken = {"README"}
    long = "a_very_long_fit_name_that_excel_would_refuse_30m"
    first = sheet_name(long, taken)
    second = sheet_name(long, taken | {first})
    assert len(first) == len(second) == 31 and first != second
    assert sheet_name("job[1]:a/b", taken) == "job_1__a_b"
    assert sheet_name("readme", taken) == "readme_2"
