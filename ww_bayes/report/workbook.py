"""The summary tables of a results folder (or a release folder) as one Excel workbook for analysts.

A ``README`` sheet first: where the data come from (synthetic or not), when and from which folder the
workbook was made, one row per sheet (its file, model, outcome, interval and units), every column's
meaning in words and the label glossary, in English or Dutch (:mod:`ww_bayes.labels`). Then one sheet per
fit holding its summary table exactly as ``<fit>_summary.csv`` has it (code names in the header and the
label columns, every digit kept; Excel shows probabilities as percentages), and for each
cost-effectiveness result its summary and targeting tables. Read a sheet back with
``pandas.read_excel(path, sheet_name=...)``.

A release folder's workbook is made from its released files only (the summaries the release made of its
released estimates), like the report of a release; it is written beside the folder, never into it (a
release holds only the files its checks passed).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ww_bayes import __version__
from ww_bayes.cea import summary as cea_summary
from ww_bayes.cea import targeting_table
from ww_bayes.data.io import atomic_write
from ww_bayes.kinds import kind_of
from ww_bayes.labels import Words, glossary
from ww_bayes.report import column_words
from ww_bayes.report.summary import synthetic_origin
from ww_bayes.results import RELEASED_SUFFIX, RunFiles, fresh_summary, summarise
from ww_bayes.vocabulary import interval_of

#: The first sheet: what the workbook holds, in words.
README = "README"
#: Excel's longest sheet name, and the characters a sheet name may not hold.
SHEET_NAME_CHARACTERS = 31
_NOT_IN_SHEET_NAMES = re.compile(r"[\[\]:*?/\\]")
#: Excel number formats: probabilities as percentages, other numbers with two decimals (the cells keep
#: every digit).
PROBABILITY_FORMAT = "0.0%"
NUMBER_FORMAT = "#,##0.00"


def sheet_name(name: str, taken: set[str]) -> str:
    """A sheet name Excel accepts, unlike any in ``taken``: forbidden characters replaced, at most 31
    characters, a number added when shortening made two alike."""
    base = _NOT_IN_SHEET_NAMES.sub("_", name)[:SHEET_NAME_CHARACTERS]
    candidate, number = base, 2
    while candidate.lower() in {t.lower() for t in taken}:
        suffix = f"_{number}"
        candidate, number = base[: SHEET_NAME_CHARACTERS - len(suffix)] + suffix, number + 1
    return candidate


def data_origin(run: RunFiles) -> str | None:
    """The ``synthetic_data`` wording of the run's data: the synthetic cohort's origin when any fit says
    so, "no" when every fit says its data are real, None when a fit does not say."""
    synthetic = synthetic_origin(run)
    if synthetic:
        return synthetic
    trees = [*run.fits.values(), *(t["cost_effectiveness"] for t in run.cost_effectiveness.values())]
    recorded = [str(t.attrs.get("synthetic_data", "")).strip() for t in trees]
    return "no" if recorded and all(r == "no" for r in recorded) else None


def workbook_tables(run: RunFiles, words: Words) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """The workbook's sheets (sheet name -> table, in order) and one row per sheet describing it (sheet,
    file, model, outcome, interval, units) in ``words``. A results folder's fit summaries are its summary
    CSVs (remade when stale, as the report does); a release's are made from its released estimates."""
    sheets: dict[str, pd.DataFrame] = {}
    rows = []
    fit_units = words.say(
        "effects in percentage points; cumulative quantities in months per claimant; probabilities 0 to 1",
        "effecten in procentpunten; cumulatieve grootheden in maanden per WW-gerechtigde; kansen 0 tot 1",
    )
    for path, tree in run.fits.items():
        if path in run.released:  # named as the fit it was released from, as its summary CSV is
            table, stem = summarise(tree), path.stem.removesuffix(RELEASED_SUFFIX)
        else:
            (table, _), stem = fresh_summary(path, tree), path.stem
        name = sheet_name(stem, set(sheets) | {README})
        sheets[name] = table
        kind = kind_of(tree)
        interval = words.interval(*interval_of(tree.attrs))
        rows.append((name, path.name, str(tree.attrs.get("model_name", kind.name)),
                     words(str(tree.attrs.get("outcome", ""))), interval, fit_units))  # fmt: skip
    for path, tree in run.cost_effectiveness.items():
        result = tree["cost_effectiveness"].ds
        contrast = words(str(result.attrs.get("contrast", "")))
        for part, table, units in (
            ("summary", cea_summary(result), words.say(
                "euros per participant unless the quantity says cohort; months per participant",
                "euro per deelnemer tenzij de grootheid het cohort noemt; maanden per deelnemer")),
            ("targeting", targeting_table(result), words.say(
                "euros per cohort participant; probabilities 0 to 1",
                "euro per deelnemer van het cohort; kansen 0 tot 1")),
        ):  # fmt: skip
            name = sheet_name(f"{path.stem}_{part}", set(sheets) | {README})
            sheets[name] = table
            interval = words.interval("eti", 0.9) if part == "summary" else ""
            rows.append((name, path.name, words.say("cost-effectiveness", "kosteneffectiviteit"), contrast,
                         interval, units))  # fmt: skip
    columns = [words.say("sheet", "tabblad"), words.say("file", "bestand"), words.say("model", "model"),
               words("outcome"), words.say("interval", "interval"),
               words.say("units", "eenheden")]  # fmt: skip
    return sheets, pd.DataFrame(rows, columns=columns)


def readme_blocks(run: RunFiles, folder: Path, sheets: dict[str, pd.DataFrame], described: pd.DataFrame,
                  words: Words) -> list[tuple[str, pd.DataFrame]]:  # fmt: skip
    """The README sheet as titled tables: the run, the sheets, the columns, the labels."""
    about = [
        (words.say("what", "wat"), words.say("ww_bayes summary tables", "ww_bayes-samenvattingstabellen")),
        (words.say("data", "gegevens"), words.origin(data_origin(run))),
        (words.say("folder", "map"), folder.name),
        (words.say("made", "gemaakt"),
         f"{datetime.now(UTC).isoformat(timespec='seconds')}, ww-bayes {__version__}"),
        (words.say("read", "lezen"), words.say(
            "each sheet is the CSV of the same name: code names in the header and label columns (their "
            "words below), numbers unrounded",
            "elk tabblad is de CSV met dezelfde naam: codenamen in de kop en de labelkolommen (hun "
            "woorden hieronder), getallen niet afgerond")),
    ]  # fmt: skip
    if run.released:
        about.append((words.say("released", "vrijgegeven"),
                      words.say("released estimates only", "alleen vrijgegeven schattingen")))  # fmt: skip
    names = list(dict.fromkeys(str(c) for table in sheets.values() for c in table.columns))
    meaning = [(name, column_words(name, words)) for name in names]
    code, text = words.say("code name", "codenaam"), words.say("in words", "in woorden")
    return [
        (words.say("About", "Over"), pd.DataFrame(about, columns=["", " "])),
        (words.say("Sheets", "Tabbladen"), described),
        (words.say("Columns", "Kolommen"), pd.DataFrame(meaning, columns=[code, text])),
        (words.say("Labels", "Labels"), pd.DataFrame(glossary(words.lang), columns=[code, text])),
    ]


def write_workbook(
    run: RunFiles, folder: str | os.PathLike, out: str | os.PathLike, lang: str = "en"
) -> Path:
    """Write the workbook of ``run`` (the files of ``folder``) to ``out`` atomically, in ``lang``."""
    words = Words(lang)
    sheets, described = workbook_tables(run, words)
    blocks = readme_blocks(run, Path(folder), sheets, described, words)

    def write(tmp: Path) -> None:
        with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
            row = 0
            for title, table in blocks:
                pd.DataFrame([[title]]).to_excel(writer, sheet_name=README, startrow=row, index=False,
                                                 header=False)  # fmt: skip
                table.to_excel(writer, sheet_name=README, startrow=row + 1, index=False)
                row += len(table) + 3
            _widths(writer.sheets[README], max(len(t.columns) for _, t in blocks), 60)
            for name, table in sheets.items():
                table.to_excel(writer, sheet_name=name, index=False)
                _number_formats(writer.sheets[name], table)
                _widths(writer.sheets[name], len(table.columns), 24)
                writer.sheets[name].freeze_panes = "A2"

    return atomic_write(out, write)


def _number_formats(sheet, table: pd.DataFrame) -> None:
    """Probabilities shown as percentages, other floats with two decimals; the cells keep every digit."""
    for index, column in enumerate(table.columns, start=1):
        if not pd.api.types.is_float_dtype(table[column]):
            continue
        shown = PROBABILITY_FORMAT if str(column).startswith("prob_") else NUMBER_FORMAT
        for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
            cell.number_format = shown


def _widths(sheet, columns: int, widest: int) -> None:
    """Each column as wide as its longest text (first 200 rows), at most ``widest`` characters."""
    for index in range(1, columns + 1):
        cells = [c for (c,) in sheet.iter_rows(min_col=index, max_col=index, max_row=200)]
        longest = max((len(str(c.value)) for c in cells if c.value is not None), default=8)
        sheet.column_dimensions[cells[0].column_letter].width = min(longest + 2, widest)


__all__ = ["README", "data_origin", "sheet_name", "workbook_tables", "write_workbook"]
