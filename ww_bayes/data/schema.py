"""The experiment's data schema: one person per row, and `validate()` that lists every problem at once.

Every label used anywhere in ww_bayes (arms, Werkverkenner classes, regions, months, outcome columns) is
defined here once and imported elsewhere. A file needs ``person_id`` and ``arm`` and the columns the model
it feeds reads (a model kind says which: ``validate(df, required=...)``); every known column present is
checked. A first-year extract with only ``employed_m12`` and ``ww_m12`` fits the 12-month models.

Werkverkenner is UWV's profiling questionnaire: it predicts a claimant's chance of work within a year and
places them in a class of that chance in percent. Claimants without a completed questionnaire have class
``none``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

# --- arms and contrasts ---------------------------------------------------------------------------
ARM_SERVICE = "service"
ARM_CONTROL_ENFORCEMENT = "control_enforcement"
ARM_CONTROL_NONE = "control_none"
ARMS: tuple[str, ...] = (ARM_SERVICE, ARM_CONTROL_ENFORCEMENT, ARM_CONTROL_NONE)
#: Randomisation shares by BSN (source: SEO evaluation design).
ARM_SHARES: dict[str, float] = {
    ARM_SERVICE: 0.80,
    ARM_CONTROL_ENFORCEMENT: 0.10,
    ARM_CONTROL_NONE: 0.10,
}

#: Contrasts reported everywhere, as (treated arm, comparison arm).
CONTRASTS: dict[str, tuple[str, str]] = {
    "service_vs_control_enforcement": (ARM_SERVICE, ARM_CONTROL_ENFORCEMENT),
    "enforcement_vs_none": (ARM_CONTROL_ENFORCEMENT, ARM_CONTROL_NONE),
    "service_vs_control_none": (ARM_SERVICE, ARM_CONTROL_NONE),
}

# --- Werkverkenner classes --------------------------------------------------------------------------
WERKVERKENNER_CLASSES: tuple[str, ...] = ("0-25", "25-50", "50-75", "75-100", "none")
#: Classes at or below a 50% predicted chance of work get an early werkoriëntatiegesprek.
WEAK_CLASSES: tuple[str, ...] = ("0-25", "25-50")

# --- regions ------------------------------------------------------------------------------------------
#: The 35 Dutch arbeidsmarktregio's (labour-market regions) used by the synthetic cohort.
#: Real extracts may use any region labels.
REGIONS_NL: tuple[str, ...] = (
    "Groningen",
    "Friesland",
    "Drenthe",
    "Regio Zwolle",
    "Twente",
    "Stedendriehoek en Noordwest Veluwe",
    "Achterhoek",
    "Midden-Gelderland",
    "Food Valley",
    "Rijk van Nijmegen",
    "Rivierenland",
    "Amersfoort",
    "Midden-Utrecht",
    "Gooi en Vechtstreek",
    "Noord-Holland Noord",
    "Zaanstreek/Waterland",
    "Groot Amsterdam",
    "Zuid-Kennemerland en IJmond",
    "Zuid-Holland Centraal",
    "Holland Rijnland",
    "Haaglanden",
    "Midden-Holland",
    "Rijnmond",
    "Drechtsteden",
    "Gorinchem",
    "Zeeland",
    "West-Brabant",
    "Midden-Brabant",
    "Noordoost-Brabant",
    "Zuidoost-Brabant",
    "Helmond-De Peel",
    "Noord-Limburg",
    "Midden-Limburg",
    "Zuid-Limburg",
    "Flevoland",
)

# --- covariates -----------------------------------------------------------------------------------------
SEXES: tuple[str, ...] = ("female", "male")
EDUCATION_LEVELS: tuple[str, ...] = ("low", "mid", "high")
AGE_RANGE: tuple[int, int] = (15, 67)  # WW is for employees below the state pension age

# --- months and outcomes --------------------------------------------------------------------------------
N_MONTHS = 30
MONTHS: tuple[int, ...] = tuple(range(1, N_MONTHS + 1))
OUTCOME_PREFIXES: tuple[str, ...] = ("employed", "ww")
#: Study inflow window, inclusive (YYYY-MM).
INFLOW_FIRST = "2017-12"
INFLOW_LAST = "2018-12"

# --- optional outcomes: benefit status, WIA assessment, hours worked ----------------------------------
#: Monthly benefit status ``benefit_m1`` .. ``benefit_m30`` (optional): WW (unemployment insurance), ZW
#: (Ziektewet, sickness benefit: a WW claimant sick for more than 13 weeks moves to it), WIA (disability
#: benefit, after 104 weeks of sickness), bijstand (municipal social assistance) or none. With
#: ``employed_m*`` it gives a claimant's state, benefit x work: working beside ZW or WIA is a valid state.
BENEFIT_PREFIX = "benefit"
BENEFIT_WW = "ww"
BENEFIT_STATUSES: tuple[str, ...] = (BENEFIT_WW, "zw", "wia", "bijstand", "none")
#: Where a claimant goes when WW ends: every status but WW.
WW_EXIT_DESTINATIONS: tuple[str, ...] = tuple(s for s in BENEFIT_STATUSES if s != BENEFIT_WW)
#: The benefits of sickness: ZW, then WIA after 104 weeks (the minister's "ZW/WIA outflow").
SICKNESS_BENEFITS: tuple[str, ...] = ("zw", "wia")
#: The work half of the state, indexed by the ``employed_m*`` value (0, 1).
WORK_STATES: tuple[str, ...] = ("not_working", "working")
#: Every prefix of a monthly column.
MONTHLY_PREFIXES: tuple[str, ...] = (*OUTCOME_PREFIXES, BENEFIT_PREFIX)

#: 1 when a WIA assessment within the 30 months after inflow found less than 35% incapacity ("WIA 35-min":
#: no WIA benefit), 0 when none did, NA when not known (no such assessment seen and month 30 not observed).
#: The assessment comes long after randomisation (after 104 weeks of sickness), so the flag is an *outcome*
#: the arms can change: it is never a moderator or a grouping factor.
WIA_35MIN = "wia_35min"

#: Total hours worked in the 12 months after inflow (optional; NA when not observed), whole hours: payroll
#: records (the Polisadministratie's paid hours) count whole hours per pay period, so a fraction means
#: another unit (days, FTE, a mean per week) and is an error.
HOURS_Y1 = "hours_y1"
#: The months ``hours_y1`` covers: employed_m1 .. employed_m12.
HOURS_Y1_MONTHS: tuple[int, ...] = tuple(range(1, 13))
#: Upper bound of ``hours_y1``: the Working Hours Act (Arbeidstijdenwet) allows at most 48 hours a week on
#: average (over 16 weeks), all jobs together; 48 x 52.14 weeks = 2,503, rounded. Full-time work is about
#: 2,100 hours a year, so values between that and the bound are overtime, and above it another unit.
HOURS_Y1_MAX = 2_500


def month_column(prefix: str, month: int) -> str:
    """Name of the monthly status column, e.g. ``month_column("ww", 12) == "ww_m12"``."""
    if prefix not in MONTHLY_PREFIXES:
        raise ValueError(f"unknown outcome prefix {prefix!r}; expected one of {MONTHLY_PREFIXES}")
    if month not in MONTHS:
        raise ValueError(f"month must be in 1..{N_MONTHS}, got {month}")
    return f"{prefix}_m{month}"


def month_columns(prefix: str) -> list[str]:
    """All monthly columns of one outcome, months 1..30 in order."""
    return [month_column(prefix, m) for m in MONTHS]


#: The published 12-month outcomes are aliases of monthly columns, not stored twice.
HEADLINE_OUTCOMES: dict[str, str] = {
    "job_12m": month_column("employed", 12),
    "ww_12m": month_column("ww", 12),
}

ID_COLUMN = "person_id"
LABEL_COLUMNS: dict[str, tuple[str, ...] | None] = {
    "arm": ARMS,
    "werkverkenner": WERKVERKENNER_CLASSES,
    "region": None,  # any non-empty label in real data
}
#: The columns every cohort file needs, whatever model it feeds.
BASE_COLUMNS: tuple[str, ...] = (ID_COLUMN, "arm")
#: The columns of a full extract (what the simulator writes, besides the optional covariates).
FULL_EXTRACT_COLUMNS: tuple[str, ...] = (
    ID_COLUMN,
    *LABEL_COLUMNS,
    "inflow_month",
    *month_columns("employed"),
    *month_columns("ww"),
)
OPTIONAL_COLUMNS: tuple[str, ...] = ("age", "sex", "education")
OPTIONAL_LABELS: dict[str, tuple[str, ...]] = {"sex": SEXES, "education": EDUCATION_LEVELS}

_MONTH_COLUMN_RE = re.compile(r"^(employed|ww|benefit)_m(-?\d+)$")
_INFLOW_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_SHOW_VALUES = 5  # how many distinct bad values a message lists


@dataclass(frozen=True)
class Problem:
    """One schema violation: which column, what is wrong, which values, how many rows."""

    column: str
    message: str
    values: tuple = ()
    n_rows: int = 0

    def __str__(self) -> str:
        text = f"column {self.column!r}: {self.message}"
        if self.values:
            shown = ", ".join(repr(v) for v in self.values[:_SHOW_VALUES])
            more = len(self.values) - _SHOW_VALUES
            text += f" [values: {shown}{f', … {more} more' if more > 0 else ''}]"
        if self.n_rows:
            text += f" ({self.n_rows:,} row{'s' if self.n_rows != 1 else ''})"
        return text


class SchemaError(ValueError):
    """Raised by :func:`validate` with every problem found in a cohort table."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        n = len(self.problems)
        super().__init__(
            f"cohort data does not follow the ww_bayes schema ({n} problem{'s' if n != 1 else ''}):\n{lines}"
        )


def _python_values(values) -> tuple:
    """Distinct values as plain Python scalars, most frequent first."""
    counts = pd.Series(values).value_counts(dropna=False)
    return tuple(v.item() if isinstance(v, np.generic) else v for v in counts.index)


def _check_labels(df: pd.DataFrame, column: str, allowed: tuple[str, ...] | None) -> list[Problem]:
    problems = []
    values = df[column]
    missing = values.isna()
    if missing.any():
        problems.append(Problem(column, "missing values (NA) in a required label", (), missing.sum()))
    as_text = values[~missing].astype(str)
    if allowed is None:
        bad = as_text.str.strip() == ""
        if bad.any():
            problems.append(Problem(column, "empty labels", ("",), int(bad.sum())))
        return problems
    bad = ~as_text.isin(allowed)
    if bad.any():
        problems.append(
            Problem(
                column,
                f"unknown labels; allowed: {', '.join(allowed)}",
                _python_values(as_text[bad]),
                int(bad.sum()),
            )
        )
    else:
        empty = [label for label in allowed if not (as_text == label).any()]
        if column == "arm" and empty:
            problems.append(Problem(column, f"no persons at all in {', '.join(map(repr, empty))}", (), 0))
    return problems


def _check_month_columns(df: pd.DataFrame) -> list[Problem]:
    problems = []
    for column in df.columns:
        match = _MONTH_COLUMN_RE.match(str(column))
        if match and not 1 <= int(match.group(2)) <= N_MONTHS:
            problems.append(
                Problem(str(column), f"month out of range: months are 1..{N_MONTHS} after inflow")
            )
    return problems


def _check_outcome(df: pd.DataFrame, column: str) -> list[Problem]:
    values = df[column]
    numeric = pd.to_numeric(values, errors="coerce")
    not_binary = values.notna() & ~numeric.isin([0, 1])
    if not_binary.any():
        return [
            Problem(
                column,
                "outcome values must be 0, 1 or NA",
                _python_values(values[not_binary]),
                int(not_binary.sum()),
            )
        ]
    return []


def _check_na_only_after_observation(df: pd.DataFrame, prefix: str, columns: list[str]) -> list[Problem]:
    """NA marks months not observed (late inflow): once a month is NA, every later month present is NA
    too (``columns``: the outcome's month columns the table holds, in month order)."""
    if len(columns) < 2:
        return []
    missing = df[columns].isna().to_numpy()
    # a later month observed after an earlier NA month
    observed_later = np.flip(np.logical_or.accumulate(np.flip(~missing, axis=1), axis=1), axis=1)
    gap = missing[:, :-1] & observed_later[:, 1:]
    if not gap.any():
        return []
    rows = gap.any(axis=1)
    first_bad = [columns[i] for i in gap[rows].argmax(axis=1)]
    return [
        Problem(
            prefix + "_m*",
            "NA in a month followed by an observed month (NA may only mark months not yet observed)",
            _python_values(first_bad),
            int(rows.sum()),
        )
    ]


def _check_inflow(df: pd.DataFrame) -> list[Problem]:
    values = df["inflow_month"]
    missing = values.isna()
    problems = []
    if missing.any():
        problems.append(Problem("inflow_month", "missing values (NA)", (), int(missing.sum())))
    text = values[~missing].astype(str)
    bad_format = ~text.str.match(_INFLOW_RE)
    if bad_format.any():
        problems.append(
            Problem(
                "inflow_month",
                "not a YYYY-MM month",
                _python_values(text[bad_format]),
                int(bad_format.sum()),
            )
        )
    outside = ~bad_format & ((text < INFLOW_FIRST) | (text > INFLOW_LAST))
    if outside.any():
        problems.append(
            Problem(
                "inflow_month",
                f"outside the study inflow window {INFLOW_FIRST}..{INFLOW_LAST}",
                _python_values(text[outside]),
                int(outside.sum()),
            )
        )
    return problems


def _check_optional(df: pd.DataFrame) -> list[Problem]:
    problems = []
    for column, allowed in OPTIONAL_LABELS.items():
        if column in df.columns:
            present = df[column].dropna().astype(str)
            bad = ~present.isin(allowed)
            if bad.any():
                problems.append(
                    Problem(
                        column,
                        f"unknown labels; allowed: {', '.join(allowed)}",
                        _python_values(present[bad]),
                        int(bad.sum()),
                    )
                )
    if "age" in df.columns:
        age = df["age"]
        numeric = pd.to_numeric(age, errors="coerce")
        low, high = AGE_RANGE
        bad = age.notna() & ~(numeric.between(low, high) & (numeric == numeric.round()))
        if bad.any():
            problems.append(
                Problem(
                    "age",
                    f"age must be a whole number of years in {low}..{high}",
                    _python_values(age[bad]),
                    int(bad.sum()),
                )
            )
    return problems


def missing_columns_text(missing: list[str]) -> str:
    """Missing columns listed compactly: month columns of one outcome as ranges (``employed_m13-m30``)."""
    months: dict[str, list[int]] = {}
    others = []
    for column in missing:
        match = _MONTH_COLUMN_RE.match(column)
        if match:
            months.setdefault(match.group(1), []).append(int(match.group(2)))
        else:
            others.append(column)
    parts = list(others)
    for prefix, numbers in months.items():
        ordered = sorted(numbers)
        runs, start = [], ordered[0]
        for before, number in zip(ordered, ordered[1:], strict=False):
            if number != before + 1:
                runs.append((start, before))
                start = number
        runs.append((start, ordered[-1]))
        parts += [f"{prefix}_m{a}" if a == b else f"{prefix}_m{a}-m{b}" for a, b in runs]
    return ", ".join(parts)


def _check_required(df: pd.DataFrame, required: Sequence[str]) -> list[Problem]:
    """The base columns and the ``required`` ones must be present; a required column that labels persons
    (a grouping factor) must have no missing values (outcomes may: monthly columns, ``wia_35min``,
    ``hours_y1``)."""
    wanted = list(dict.fromkeys([*BASE_COLUMNS, *required]))
    missing = [c for c in wanted if c not in df.columns]
    problems = []
    if missing:
        problems.append(
            Problem(missing_columns_text(missing), f"{len(missing)} column(s) the model needs are missing")
        )
    for column in wanted:
        if column in df.columns and column not in LABEL_COLUMNS and column != ID_COLUMN:
            if _MONTH_COLUMN_RE.match(column) or column in (WIA_35MIN, HOURS_Y1):
                continue  # outcomes may be NA (not observed)
            missing_values = int(df[column].isna().sum())
            if missing_values:
                problems.append(
                    Problem(column, "missing values (NA) in a grouping column", (), missing_values)
                )
    return problems


def validate(df: pd.DataFrame, required: Sequence[str] = ()) -> None:
    """Check a cohort table against the schema; raise one :class:`SchemaError` listing every problem.

    ``required``: the columns the model to be fit reads besides ``person_id`` and ``arm`` (its grouping
    factors and outcome months: :meth:`ww_bayes.kinds.protocol.ModelKind.required_columns`); every known
    column present is checked too. Returns None when the table is valid. Nothing is modified.
    """
    problems: list[Problem] = _check_required(df, required)
    problems += _check_month_columns(df)

    if ID_COLUMN in df.columns:
        ids = df[ID_COLUMN]
        if ids.isna().any():
            problems.append(Problem(ID_COLUMN, "missing values (NA)", (), int(ids.isna().sum())))
        duplicated = ids.duplicated(keep=False) & ids.notna()
        if duplicated.any():
            problems.append(
                Problem(
                    ID_COLUMN,
                    "duplicated person_id",
                    _python_values(ids[duplicated]),
                    int(duplicated.sum()),
                )
            )
    for column, allowed in LABEL_COLUMNS.items():
        if column in df.columns:
            problems += _check_labels(df, column, allowed)
    if "inflow_month" in df.columns:
        problems += _check_inflow(df)
    for prefix in OUTCOME_PREFIXES:
        present = [c for c in month_columns(prefix) if c in df.columns]
        for column in present:
            problems += _check_outcome(df, column)
        problems += _check_na_only_after_observation(df, prefix, present)
    problems += _check_optional(df)
    problems += _check_optional_outcomes(df)
    if problems:
        raise SchemaError(problems)


def to_typed(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy with the schema's dtypes: categoricals for labels, nullable Int8 for outcomes.

    Call only on a table that passed :func:`validate`.
    """
    typed = df.copy()
    typed["arm"] = pd.Categorical(typed["arm"].astype(str), categories=ARMS)
    if "werkverkenner" in typed:
        typed["werkverkenner"] = pd.Categorical(
            typed["werkverkenner"].astype(str), categories=WERKVERKENNER_CLASSES
        )
    if "region" in typed:
        regions = typed["region"].astype(str)
        known = set(regions.unique())
        order = [r for r in REGIONS_NL if r in known] + sorted(known - set(REGIONS_NL))
        typed["region"] = pd.Categorical(regions, categories=order)
    if "inflow_month" in typed:
        typed["inflow_month"] = typed["inflow_month"].astype(str)
    for prefix in OUTCOME_PREFIXES:
        for column in month_columns(prefix):
            if column in typed:
                typed[column] = pd.to_numeric(typed[column]).astype("Int8")
    for column, allowed in OPTIONAL_LABELS.items():
        if column in typed.columns:
            typed[column] = pd.Categorical(typed[column], categories=allowed)
    if "age" in typed.columns:
        typed["age"] = pd.to_numeric(typed["age"]).astype("Int16")
    return _typed_optional_outcomes(typed)


# --- optional outcomes: benefit status, WIA assessment, hours worked ----------------------------------
_SHOW_PERSONS = 5  # how many persons an error message names


def _person_ids(df: pd.DataFrame, rows: np.ndarray) -> list:
    """The person_id of each row in ``rows`` (positions; the position itself when there is no person_id)."""
    ids = df[ID_COLUMN].to_numpy() if ID_COLUMN in df.columns else np.arange(len(df))
    return [v.item() if isinstance(v, np.generic) else v for v in ids[rows]]


def _named_persons(df: pd.DataFrame, mask: np.ndarray) -> str:
    """``person_id 4, 9, 12, …``: the first persons of ``mask``."""
    ids = _person_ids(df, np.flatnonzero(mask)[: _SHOW_PERSONS + 1])
    more = ", …" if len(ids) > _SHOW_PERSONS else ""
    return f"person_id {', '.join(str(i) for i in ids[:_SHOW_PERSONS])}{more}"


def _listing(items: list[str], shown: int | None) -> str:
    if shown is not None and len(items) > shown:
        items = [*items[:shown], f"... and {len(items) - shown:,} more"]
    return "\n    ".join(items)


def _check_optional_outcomes(df: pd.DataFrame) -> list[Problem]:
    """Problems of the optional outcome columns a table has (benefit status, wia_35min, hours_y1)."""
    problems: list[Problem] = []
    if any(c in df.columns for c in month_columns(BENEFIT_PREFIX)):
        problems += _check_benefit(df)
    if WIA_35MIN in df.columns:
        problems += _check_outcome(df, WIA_35MIN)
    if HOURS_Y1 in df.columns:
        problems += _check_hours(df)
    return problems


def benefit_months_present(df: pd.DataFrame) -> list[int]:
    """The months of the benefit status columns a table holds, in order."""
    return [m for m in MONTHS if month_column(BENEFIT_PREFIX, m) in df.columns]


def _check_benefit(df: pd.DataFrame) -> list[Problem]:
    months = benefit_months_present(df)
    gaps = [month_column(BENEFIT_PREFIX, m) for m in range(1, months[-1] + 1) if m not in months]
    if gaps:
        return [
            Problem(
                ", ".join(gaps[:8]) + (" …" if len(gaps) > 8 else ""),
                f"{len(gaps)} benefit status column(s) missing: benefit status comes for the first months "
                f"without gaps, benefit_m1 .. benefit_mk (here up to benefit_m{months[-1]}; NA marks a month "
                "not observed)",
            )
        ]
    columns = [month_column(BENEFIT_PREFIX, m) for m in months]
    problems = []
    for column in columns:
        values = df[column]
        bad = (values.notna() & ~values.astype(str).isin(BENEFIT_STATUSES)).to_numpy()
        if bad.any():
            problems.append(
                Problem(
                    column,
                    f"unknown benefit status ({_named_persons(df, bad)}); allowed: "
                    f"{', '.join(BENEFIT_STATUSES)} or NA",
                    _python_values(values[bad].astype(str)),
                    int(bad.sum()),
                )
            )
    problems += _check_na_only_after_observation(df, BENEFIT_PREFIX, columns)
    if not problems:  # the comparison below needs valid statuses
        problems += _check_benefit_matches_ww(df)
    return problems


def _check_benefit_matches_ww(df: pd.DataFrame) -> list[Problem]:
    """``ww_m`` is 1 exactly when ``benefit_m`` is ``ww``, in every month where both are observed."""
    months = [m for m in benefit_months_present(df) if month_column("ww", m) in df.columns]
    if not months:
        return []
    ww_columns = [month_column("ww", m) for m in months]
    benefit = df[[month_column(BENEFIT_PREFIX, m) for m in months]]
    on_ww = np.column_stack([benefit[c].isin([BENEFIT_WW]).to_numpy() for c in benefit.columns])
    ww = df[ww_columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    known = benefit.notna().to_numpy() & ~np.isnan(ww)
    mismatch = known & ((ww == 1) != on_ww)
    benefit = benefit.astype(object).to_numpy()
    if not mismatch.any():
        return []
    rows = np.flatnonzero(mismatch.any(axis=1))
    examples = []
    for row, person in zip(rows[:_SHOW_VALUES], _person_ids(df, rows[:_SHOW_VALUES]), strict=True):
        wrong = np.flatnonzero(mismatch[row])
        shown = ", ".join(f"m{months[j]} ww {ww[row, j]:g} / benefit {benefit[row, j]!r}" for j in wrong[:3])
        examples.append(f"person_id {person}: {shown}{', …' if len(wrong) > 3 else ''}")
    per_month = [f"m{m} {k:,}" for m, k in zip(months, mismatch.sum(axis=0), strict=True) if k]
    by_month = ", ".join(per_month[:6]) + (f", … ({len(per_month)} months)" if len(per_month) > 6 else "")
    return [
        Problem(
            "benefit_m*, ww_m*",
            f"ww_m must be 1 exactly when benefit_m is {BENEFIT_WW!r}: {int(mismatch.sum()):,} person-months "
            f"of {len(rows):,} persons disagree (persons by month: {by_month}); first persons",
            tuple(examples),
            len(rows),
        )
    ]


def _check_hours(df: pd.DataFrame) -> list[Problem]:
    values = df[HOURS_Y1]
    hours = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
    present = values.notna().to_numpy()
    with np.errstate(invalid="ignore"):
        rules = (
            (present & np.isnan(hours), "not a number of hours"),
            (hours < 0, "negative hours"),
            (hours > HOURS_Y1_MAX, f"above the maximum of {HOURS_Y1_MAX:,} hours in 12 months (48 hours a "
             "week, the Working Hours Act's average limit; another unit?)"),
            (np.isfinite(hours) & (hours != np.round(hours)), "fractional hours: whole hours expected "
             "(payroll records count whole hours; a fraction means another unit)"),
        )  # fmt: skip
    problems = []
    for bad, message in rules:
        if bad.any():
            problems.append(
                Problem(
                    HOURS_Y1,
                    f"{message} ({_named_persons(df, bad)})",
                    _python_values(values[bad]),
                    int(bad.sum()),
                )
            )
    return problems


def consistency_warnings(df: pd.DataFrame, shown: int | None = None) -> list[str]:
    """Disagreements between optional outcomes and the monthly columns that a valid table may still hold
    (register data are linked from several sources), one warning per kind, each listing every person
    (``shown``: how many are listed, None for all). Empty when they agree or the columns are absent.

    - ``hours_y1`` > 0 exactly when any of ``employed_m1`` .. ``employed_m12`` is 1, where both are known
      (hours NA, or no month employed with some months NA, are not compared).
    """
    out = []
    employed_columns = [month_column("employed", m) for m in HOURS_Y1_MONTHS]
    if HOURS_Y1 in df.columns and all(c in df.columns for c in employed_columns):
        hours = pd.to_numeric(df[HOURS_Y1], errors="coerce").astype(float).to_numpy()
        employed = df[employed_columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        months_employed = (employed == 1).sum(axis=1)
        all_known = ~np.isnan(employed).any(axis=1)
        with np.errstate(invalid="ignore"):
            checks = (
                ((hours > 0) & (months_employed == 0) & all_known, "hours_y1 > 0 but no month employed "
                 "in employed_m1..m12"),
                ((hours == 0) & (months_employed > 0), "hours_y1 = 0 but employed in a month of "
                 "employed_m1..m12"),
            )  # fmt: skip
        for bad, text in checks:
            if bad.any():
                rows = np.flatnonzero(bad)
                items = [
                    f"person_id {person}: hours_y1 {hours[row]:g}, months employed {months_employed[row]}"
                    for row, person in zip(rows, _person_ids(df, rows), strict=True)
                ]
                out.append(
                    f"{len(rows):,} persons with {text} (hours > 0 exactly when a month of work):\n    "
                    + _listing(items, shown)
                )
    return out


def _typed_optional_outcomes(typed: pd.DataFrame) -> pd.DataFrame:
    """Benefit status as categoricals of :data:`BENEFIT_STATUSES`, ``wia_35min`` as Int8, hours as float."""
    for column in month_columns(BENEFIT_PREFIX):
        if column in typed.columns:
            typed[column] = pd.Categorical(typed[column].astype(object), categories=BENEFIT_STATUSES)
    if WIA_35MIN in typed.columns:
        typed[WIA_35MIN] = pd.to_numeric(typed[WIA_35MIN]).astype("Int8")
    if HOURS_Y1 in typed.columns:
        typed[HOURS_Y1] = pd.to_numeric(typed[HOURS_Y1]).astype(float)
    return typed
