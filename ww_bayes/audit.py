"""An audit of a release folder: what a reader of the folder alone can work out, tried as an attacker would.

:func:`ww_bayes.release.release` runs it on the folder it has built before moving the folder into place;
``ww-bayes audit RELEASE_DIR`` runs it on a folder as it travels. The rule (CBS's): no released number may
describe between 1 and ``min_count - 1`` persons. A count counts as released when it can be derived from the
folder, so the audit refuses the folder when any count in ``1 .. min_count - 1`` is pinned, or bounded
inside that range, by

- **weights recovery**: a population-weighted estimand (role ``estimand``) is the persons-weighted mean of
  its levels, so least squares of its overall draws on its level draws gives each released group's share of
  the cohort, and the smallest whole total that fits the shares (at least the persons ``counts.csv`` shows)
  gives the persons of each group, all arms, outcome observed or not. The same on a partial estimand gives
  the persons it covers; a cost-effectiveness tornado gives the class shares it was weighted with.
- **differencing**: every pair of count-like numbers of the same released group and arm, in any two fits
  (persons, count, persons - count) and within a fit (recovered persons minus persons with the outcome
  observed: the persons with it unobserved), whatever the outcome;
- **inclusion-exclusion of shares**: the shares of the cohort in flagged cells (role ``share``) of every
  contrast, within their rounding, as sums of the persons of each pattern of flags, bounded by integer
  linear programming;
- **integer linear programming** (scipy's HiGHS through ``milp``: the linear programme, then whole
  numbers where it leaves the answer open) on every merged or suppressed count (each level inside a
  merged group, per arm and category, and its recovered persons) from all the released margins of its
  fit;

and by the folder's own checks: every file listed with its SHA-256 in the checks file, no group that holds
counts, every level, variable, dim, coordinate and attribute one the release has a rule for, every level
label a released group, every table equal to the one its released file gives, every figure equal byte
for byte to the one drawn again from its released file, every sentence of the record one the release
writes and each report the one the record renders (:mod:`ww_bayes.record`), a spec's text in its
canonical layout (settings only), no path, user name or small count (digits or number words) in any
text, and no NetCDF file holding anything below what a netCDF reader sees (bytes outside its HDF5 data,
objects or attributes the netCDF library hides that are not its own). Each check's findings and seconds
go into the disclosure report and the checks file (``disclosure_checks.json``, one entry per output file,
in the spirit of an ACRO/SACRO results bundle).
"""

from __future__ import annotations

import ast
import contextlib
import functools
import getpass
import io
import itertools
import json
import re
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from ww_bayes.data.io import LOCK_NAME, file_sha256, load_datatree, to_netcdf
from ww_bayes.data.schema import ARMS, CONTRASTS
from ww_bayes.derived import (
    CELLS,
    OVERALL,
    DerivedLayoutError,
    check_derived,
    fit_level_events,
    level_label,
    levels_of,
    recomputed_probabilities,
)
from ww_bayes.inference import PACKAGES
from ww_bayes.kinds import KINDS, kind_of
from ww_bayes.record import CHECKS_FILE, COUNTS_FILE, NAME, REPORT_FILES, record_problems, report_texts
from ww_bayes.record import VERSION as RECORD_VERSION
from ww_bayes.results import CEA_GROUP, CEA_KIND, RELEASED_KIND
from ww_bayes.tomlspec import is_released_toml
from ww_bayes.vocabulary import SAMPLE_DIMS

#: The smallest number of persons a released number may describe (CBS's output rule).
MIN_COUNT = 10

# --- what a release folder holds ----------------------------------------------------------------------------

#: Groups of a fit never released: they hold counts or let counts be computed.
WITHHELD_GROUPS = ("observed_data", "constant_data", "weights", "log_likelihood", "posterior_predictive",
                   "prior_predictive", "posterior", "prior", "sample_stats", "frequentist")  # fmt: skip
#: Fit attributes a release keeps (provenance without identities); everything else is dropped.
RELEASED_ATTRS = ("model_kind", "model_name", "outcome", "spec_text", "data_sha256", "seed", "sampler",
                  "chains", "draws", "tune", "target_accept", "adaptation", "package_versions",
                  "ww_bayes_version", "interval_kind", "interval_prob", "smallest_effect_pp", "anchor",
                  "converged", "convergence_report", "fit_schema_version", "likelihood", "stored_draws",
                  "thinned_by", "sampled_draws", "observation", "grouping_factors",
                  "synthetic_data")  # fmt: skip
#: Root attributes a release adds to a released fit.
RELEASE_ATTRS = ("ww_bayes_kind", "spec_name", "min_count", "released_with", "fit_file", "fit_sha256")
#: The spread over draws, relative to 1 + |mean|, at or below which an estimand is a number, not a posterior.
NO_SPREAD = 1e-6
#: Attributes holding an input file's TOML text: released in canonical form only (:func:`released_toml`).
TOML_ATTRS = ("spec_text", "assumptions_text")
#: Attributes the derived group, its levels and its variables may carry (anything else refuses).
DERIVED_ATTRS = ("effect_units", "cumulative_units", "weights", "smallest_effect_pp", "smallest_effect_hours",
                 "units", "rounded_to", "good_direction")  # fmt: skip
#: The convergence table as released: its variables, dims and attributes (anything else refuses).
DIAGNOSTICS_VARIABLES = ("r_hat_max", "ess_bulk_min", "ess_tail_min", "mcse_mean_max", "ess_checked", "bfmi")
DIAGNOSTICS_DIMS = ("variable", "chain_index")
DIAGNOSTICS_ATTRS = ("converged", "divergences", "share_at_max_treedepth", "min_bfmi_observed", "max_rhat",
                     "min_ess_bulk", "min_ess_tail", "max_divergences", "min_bfmi", "max_treedepth_share",
                     "ess_scope", "computed_with", "mcse_mean_max_units")  # fmt: skip
#: A cost-effectiveness result as released: variables, dims and attributes (anything else refuses).
CEA_VARIABLES = ("incremental_cost", "ww_benefits_saved", "taxes_and_premiums", "benefits", "net_benefit",
                 "net_benefit_cohort", "benefits_cohort", "cost_cohort", "benefit_cost_ratio",
                 "cost_per_extra_job", "extra_employed_months", "net_cost", "ceac",
                 "expected_incremental_benefit", "evpi", "evpi_cohort", "net_benefit_by_class",
                 "incremental_cost_by_class", "benefits_by_class", "class_weight", "rule_net_benefit",
                 "rule_expected_net_benefit", "rule_prob_best", "rule_classes_served",
                 "tornado_net_benefit_at_q05", "tornado_net_benefit_at_q95", "tornado_input_q05",
                 "tornado_input_q95", "break_even_wtp", "other_benefits_paid")  # fmt: skip
CEA_DIMS = ("chain", "draw", "willingness_to_pay", "werkverkenner", "rule", "input")
CEA_ATTRS = ("contrast", "effects_source", "horizon_months", "discount_rate_annual", "cohort_size",
             "money_units", "effect_units", "willingness_to_pay_units", "cost_per_extra_job",
             "assumptions_source", "assumptions_text", "best_rule", "synthetic_data",
             "other_benefits_source")  # fmt: skip
CEA_ROOT_ATTRS = ("ww_bayes_kind", "fits_sha256", "effects_source", "fits")
#: The grouping factor a cost-effectiveness result is broken down by.
CEA_CLASSES = "werkverkenner"
#: Cost-effectiveness variables that are shares of persons per class: never released.
CEA_WITHHELD = ("class_weight",)
#: The suffix of cost-effectiveness variables scaled to the whole cohort (``cohort_size`` times a mean).
COHORT_SUFFIX = "_cohort"

#: Labels the audit and the release use for count-like numbers (:func:`count_facts`).
ALL_ARMS = "all arms"
ANY_CATEGORY = "*"
#: Measures of a count fact: persons with the outcome observed, the count in a category, its complement,
#: and the cohort's persons (all arms, outcome observed or not) that the population weights give.
MEASURES = ("persons", "count", "complement")
COHORT = "cohort persons"


class AuditError(ValueError):
    """A folder the audit cannot read as a release (no checks file, a damaged file)."""


def breaks_rule(values, min_count: int) -> np.ndarray:
    """True where a count is between 1 and ``min_count - 1``."""
    values = np.asarray(values)
    return (values >= 1) & (values < min_count)


def bounded_small(low: float, high: float, min_count: int) -> bool:
    """Whether bounds on a whole count put it inside 1..min_count - 1."""
    return bool(np.ceil(low - 1e-6) >= 1 and np.floor(high + 1e-6) <= min_count - 1)


# --- count facts and their differences (shared with the release) -------------------------------------------


def count_facts(counts: pd.DataFrame) -> pd.DataFrame:
    """Count-like numbers of a counts table (columns fit, level, group, arm, category, persons, count) in
    long form: fit, level, group, arm, category, measure, value; with each measure summed over the arms
    (arm ``all arms``)."""
    keys = ["fit", "level", "group", "arm", "category"]
    if counts.empty:
        return pd.DataFrame(columns=[*keys, "measure", "value"])
    frame = (
        counts[keys]
        .astype(str)
        .assign(
            persons=counts["persons"].to_numpy(dtype=float),
            count=counts["count"].to_numpy(dtype=float),
            complement=(counts["persons"] - counts["count"]).to_numpy(dtype=float),
        )
    )
    summed = frame.groupby(["fit", "level", "group", "category"], sort=False)[list(MEASURES)]
    summed = summed.sum(min_count=1).reset_index().assign(arm=ALL_ARMS)
    both = pd.concat([frame, summed[frame.columns]], ignore_index=True)
    return both.melt(id_vars=keys, value_vars=list(MEASURES), var_name="measure", value_name="value")


def cohort_facts(totals: pd.DataFrame) -> pd.DataFrame:
    """Cohort persons per group (columns fit, level, group, persons) as count facts."""
    return pd.DataFrame(
        {
            "fit": totals["fit"].astype(str),
            "level": totals["level"].astype(str),
            "group": totals["group"].astype(str),
            "arm": ALL_ARMS,
            "category": ANY_CATEGORY,
            "measure": COHORT,
            "value": totals["persons"].to_numpy(dtype=float),
        }
    )


def fact_failures(facts: pd.DataFrame, min_count: int) -> pd.DataFrame:
    """Count facts, and differences between two of them, between 1 and ``min_count - 1``: every fact
    itself; the same measure of the same group, arm and category in two fits; the cohort persons of a group
    against the persons with the outcome observed of any fit (its own included). Columns: level, group,
    finding (a sentence)."""
    facts = facts.dropna(subset=["value"])
    out = []
    if facts.empty:
        return pd.DataFrame(out, columns=["level", "group", "finding"])
    small = facts[breaks_rule(facts["value"], min_count)]
    for row in small.itertuples():
        out.append((row.level, row.group, f"{row.fit}: {row.level}/{row.group}, {row.arm}, "
                    f"{_category(row.category)}{row.measure} = {row.value:g}"))  # fmt: skip
    compared = facts.assign(compared=facts["measure"].replace({COHORT: "persons"}))
    pairs = compared.merge(compared, on=["level", "group", "arm", "compared"], suffixes=("_a", "_b"))
    cohort_a, cohort_b = pairs["measure_a"] == COHORT, pairs["measure_b"] == COHORT
    other = pairs["fit_a"] < pairs["fit_b"]
    own = (pairs["fit_a"] == pairs["fit_b"]) & cohort_a & ~cohort_b
    same_category = (
        (pairs["category_a"] == pairs["category_b"]) | cohort_a | cohort_b
    )  # cohort persons: every category's persons
    pairs = pairs[(other | own) & same_category]
    difference = (pairs["value_a"] - pairs["value_b"]).abs()
    for row in pairs[breaks_rule(difference, min_count)].itertuples():
        value = abs(row.value_a - row.value_b)
        out.append((row.level, row.group, f"{row.level}/{row.group}, {row.arm}: {row.measure_a} of "
                    f"{row.fit_a}{_category(row.category_a, '', ' ')} and {row.measure_b} of {row.fit_b}"
                    f"{_category(row.category_b, '', ' ')} differ by {value:g}"))  # fmt: skip
    return pd.DataFrame(out, columns=["level", "group", "finding"])


def _category(category: str, after: str = ", ", before: str = "") -> str:
    return "" if category in ("", ANY_CATEGORY, "nan") else f"{before}category {category}{after}"


# --- what a fit and a cost-effectiveness result may hold (shared with the release) --------------------------


def declared_findings(name: str, tree: xr.DataTree) -> list[str]:
    """One line per level, variable, dim or attribute of a fit's derived group and convergence table that
    the fit's model kind does not declare or the release does not whitelist, and per variable whose type or
    range is not its role's (a count where an estimand, probability, flag or share belongs)."""
    kind = kind_of(tree)
    factors = _factors(tree, kind)
    findings = []
    try:
        check_derived(tree[kind.name], kind.derived_variables, kind.derived_dims, factors,
                      f"{name}: {kind.name}")  # fmt: skip
    except DerivedLayoutError as error:
        return [f"{error}: not released (a release refuses what it has no rule for)"]
    for node in tree[kind.name].subtree:
        findings += _attr_findings(f"{name}: {node.path}", node.attrs, DERIVED_ATTRS)
        findings += _coord_findings(f"{name}: {node.path}", node.ds)
        for variable, values in node.ds.data_vars.items():
            findings += _attr_findings(f"{name}: {node.path}/{variable}", values.attrs, DERIVED_ATTRS)
            role = kind.derived_variables[variable].role
            problem = _role_problem(role, values)
            if problem:
                findings.append(f"{name}: {node.path}/{variable} is declared {article(role)} {role} but "
                                f"{problem}: not released")  # fmt: skip
    if "diagnostics" in tree.children:
        findings += _diagnostics_findings(name, tree["diagnostics"].ds)
    return findings


def article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _coord_findings(where: str, ds: xr.Dataset) -> list[str]:
    """One line per coordinate that is not the labels of a dim of its own name (an extra coordinate can
    hold anything: persons per group)."""
    return [f"{where}: coordinate {name!r} is not the labels of a dim: not released"
            for name, values in ds.coords.items() if values.dims != (name,)]  # fmt: skip


def _factors(tree: xr.DataTree, kind) -> tuple[str, ...]:
    """A fit's grouping factors: its weights' dims (a fit) or its derived levels (a released fit)."""
    if "weights" in tree.children:
        return tuple(str(d) for d in tree["weights"].ds["n_persons"].dims)
    return tuple(level for level in levels_of(tree[kind.name]) if level not in (OVERALL, CELLS))


def _role_problem(role: str, values: xr.DataArray) -> str:
    """What is wrong with a variable's values for its role ("" when nothing)."""
    data = values.values
    if role == "flag":
        return "" if data.dtype == bool else f"holds {data.dtype} values, not true/false"
    if not np.issubdtype(data.dtype, np.floating):
        return f"holds {data.dtype} values (counts?), not real numbers"
    if role in ("probability", "share"):
        finite = data[np.isfinite(data)]
        if finite.size and (finite.min() < 0 or finite.max() > 1):
            return "holds values outside 0..1"
    sample_dims = [d for d in SAMPLE_DIMS if d in values.dims]
    if sample_dims and values.sizes.get("draw", 0) > 1:
        spread = (values.max(sample_dims) - values.min(sample_dims)).values
        scale = 1 + np.abs(values.mean(sample_dims).values)
        if np.any(spread <= NO_SPREAD * scale):  # NaN (suppressed) compares false
            return "holds the same value in every draw (a number, not a posterior)"
    return ""


def _diagnostics_findings(name: str, diagnostics: xr.Dataset) -> list[str]:
    findings = [f"{name}: diagnostics variable {v!r} is not one a release knows: not released"
                for v in diagnostics.data_vars if v not in DIAGNOSTICS_VARIABLES]  # fmt: skip
    findings += [f"{name}: diagnostics dim {d!r} is not one a release knows: not released"
                 for d in diagnostics.dims if d not in DIAGNOSTICS_DIMS]  # fmt: skip
    findings += _attr_findings(f"{name}: diagnostics", diagnostics.attrs, DIAGNOSTICS_ATTRS)
    findings += _coord_findings(f"{name}: diagnostics", diagnostics)
    for variable, values in diagnostics.data_vars.items():
        findings += _attr_findings(f"{name}: diagnostics/{variable}", values.attrs, ())
        flags = variable == "ess_checked" and set(np.unique(values.values)) <= {0, 1}
        if not flags and not np.issubdtype(values.dtype, np.floating):
            findings.append(f"{name}: diagnostics/{variable} holds {values.dtype} values (counts?): not "
                            "released")  # fmt: skip
    return findings


def _attr_findings(where: str, attrs, allowed: tuple[str, ...]) -> list[str]:
    return [f"{where}: attribute {key!r} is not on the release's whitelist: not released"
            for key in attrs if key not in allowed]  # fmt: skip


def cea_findings(name: str, result: xr.Dataset) -> list[str]:
    """One line per variable, dim or attribute of a cost-effectiveness result the release has no rule for."""
    findings = [f"{name}: variable {v!r} is not one a release knows: not released"
                for v in result.data_vars if v not in CEA_VARIABLES]  # fmt: skip
    findings += [f"{name}: dim {d!r} is not one a release knows: not released"
                 for d in result.dims if d not in CEA_DIMS]  # fmt: skip
    findings += _attr_findings(f"{name}: {CEA_GROUP}", result.attrs, CEA_ATTRS)
    findings += _coord_findings(f"{name}: {CEA_GROUP}", result)
    for variable, values in result.data_vars.items():
        findings += _attr_findings(f"{name}: {CEA_GROUP}/{variable}", values.attrs, ())
    return findings


# --- text: paths, user names, small counts ------------------------------------------------------------------

#: An absolute path of two parts or more (POSIX, home-relative or Windows).
PATH_PATTERN = re.compile(r"(?:(?<![\w.])~|(?<![\w.:/])/[\w.-]+|\b[A-Za-z]:)[\\/][\w.$-]")
#: A relative path: one starting at ``./`` or ``../``, or a folder and a file name with a data or output
#: suffix.
RELATIVE_PATH_PATTERN = re.compile(
    r"(?<![\w.])\.{1,2}[\\/]|[\w.-]+[\\/][\w.-]+\.(?:parquet|csv|nc|toml|json|md|html|png|xlsx|txt)\b"
)
#: Numbers written as words, English and Dutch (a count of 1..9 in words is a small count as well).
NUMBER_WORDS = {
    **dict.fromkeys(("one", "a single", "een", "één", "enkele"), 1),
    **dict.fromkeys(("two", "twee", "a couple of"), 2), **dict.fromkeys(("three", "drie"), 3),
    **dict.fromkeys(("four", "vier"), 4), **dict.fromkeys(("five", "vijf"), 5),
    **dict.fromkeys(("six", "zes"), 6), **dict.fromkeys(("seven", "zeven"), 7),
    **dict.fromkeys(("eight", "acht"), 8), **dict.fromkeys(("nine", "negen"), 9),
}  # fmt: skip
#: Words that make a number next to them a count of persons (English and Dutch): these and the cell columns
#: of every registered kind's observation.
PERSON_WORDS = "|".join(
    [r"persons?", "people", r"claimants?", r"participants?", r"individuals?", r"controls?", r"cases?",
     r"jobseekers?", r"job seekers?", "treated", r"subjects?", r"respondents?", r"men", r"women",
     "personen", "persoon", "mensen", r"deelnemers?", r"claimanten", r"werkzoekenden?",
     r"uitkeringsgerechtigden?", r"(?:ww-)?gerechtigden?", r"werklozen", r"cli[eë]nten?", r"mannen",
     r"vrouwen"]
    + sorted({re.escape(c) for kind in KINDS.values() for c in kind.observation.columns})
)  # fmt: skip
ARM_WORDS = "|".join(ARMS + tuple(arm.replace("_", " ") for arm in ARMS))
_NUMBER = r"\d+|" + "|".join(sorted(map(re.escape, NUMBER_WORDS), key=len, reverse=True))
COUNT_PATTERNS = (
    re.compile(
        rf"(?<![\w.,])({_NUMBER})(?:[\s-]+|(?=[a-z]))(?:(?:[\w-]+[\s-]+){{0,2}})(?:{PERSON_WORDS})\b",
        re.IGNORECASE,
    ),  # fmt: skip
    re.compile(rf"\b(?:{PERSON_WORDS}|{ARM_WORDS}|n|k)\b\s*[:=]?\s*({_NUMBER})\b(?![.,]\d)", re.IGNORECASE),
)


def _count_value(word: str) -> int:
    return int(word) if word.isdigit() else NUMBER_WORDS[word.lower()]


def without_paths(text: str) -> str:
    """``text`` with every path (absolute or relative) reduced to its file name."""
    return re.sub(r"[^\s'\"()\[\],;]*[\\/][^\s'\"()\[\],;\\/]+",
                  lambda m: re.split(r"[\\/]", m.group(0))[-1], str(text))  # fmt: skip


def secrets_of(folder: Path) -> set[str]:
    """What names the machine a folder is on: the home and working folders, the folder's parent, the
    user name."""
    candidates = {str(Path.home()), getpass.getuser(), str(Path.cwd().resolve())}
    candidates.add(str(folder.resolve().parent))
    return {s for s in candidates if len(s) > 3}


def text_findings(where: str, text: str, secrets: set[str], min_count: int) -> list[str]:
    """A path, a user name (as a word: a region such as "Groot Amsterdam" holds the letters of the user
    "root") or a count between 1 and ``min_count - 1`` next to a word for persons or an arm, in ``text``."""
    findings = []
    for secret in secrets:
        found = secret in text if "/" in secret else re.search(rf"(?<![\w.-]){re.escape(secret)}(?![\w.-])",
                                                              text)  # fmt: skip
        if found:
            findings.append(f"{where}: names the machine it was made on (a path or user name)")
            break
    if PATH_PATTERN.search(text) or RELATIVE_PATH_PATTERN.search(text):
        findings.append(f"{where}: holds a file path")
    words = re.sub(r"[_\s]+", " ", text)  # identifiers read as words: "region_3_controls" too
    for pattern in COUNT_PATTERNS:
        for match in pattern.finditer(words):
            if breaks_rule([_count_value(match.group(1))], min_count)[0]:
                findings.append(f"{where}: holds a small count ({match.group(0).strip()!r})")
    return findings


# --- the folder as an attacker reads it ---------------------------------------------------------------------


@dataclass
class ReleasedFit:
    """A released fit as the audit reads it."""

    file: str
    fit: str
    tree: xr.DataTree
    levels: dict[str, xr.Dataset]
    variables: dict
    factors: list[str]


@dataclass
class Folder:
    """A release folder read once: its record (the checks file), released fits, cost-effectiveness results,
    counts, and what the attacks recover (cohort persons per fit and group)."""

    path: Path
    record: dict
    min_count: int
    groupings: dict[str, dict[str, str]]
    fits: list[ReleasedFit]
    cea: dict[str, xr.DataTree]
    counts: pd.DataFrame
    trees: dict[str, xr.DataTree]
    cohort: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: read while a release is built: its record does not hold the audit's results yet, no reports
    building: bool = False

    def merged_name(self, factor: str) -> str:
        return str(self.record["groupings"][factor].get("merged_group", ""))

    def grouping_record(self, factor: str, fit: str | None = None) -> dict | None:
        """The record of how ``factor``'s levels are released: in ``fit`` (a fit file's name), its own
        where the record gives it one, else the release's."""
        entry = self.record.get("fits", {}).get(fit) if fit else None
        own = (entry.get("groupings") if isinstance(entry, dict) else None) or {}
        return own.get(factor) or self.record.get("groupings", {}).get(factor)

    def grouping_of(self, factor: str, fit: str | None = None) -> dict[str, str]:
        """Level -> released group of ``factor`` in ``fit`` (None: the release's grouping)."""
        grouping = self.grouping_record(factor, fit)
        return {str(k): str(v) for k, v in grouping["levels"].items()} if grouping else {}

    def suppressed(self, factor: str, fit: str | None = None) -> bool:
        return bool((self.grouping_record(factor, fit) or {}).get("suppressed"))

    def released_groups(self, factor: str, fit: str | None = None) -> set[str]:
        if self.grouping_record(factor, fit) is None or self.suppressed(factor, fit):
            return set()
        return set(self.grouping_of(factor, fit).values())


def read_released(path: Path) -> xr.DataTree:
    """A released file, read eagerly as the audit reads it (the release draws its tables and figures from
    the same): as :func:`ww_bayes.data.io.load_datatree` reads every fit file."""
    return load_datatree(path)


def read_folder(folder: str | Path, min_count: int | None = None, building: bool = False) -> Folder:
    """A release folder as the audit reads it; :class:`AuditError` when it has no checks file or a file
    that is not NetCDF. ``building``: read while the release is built (:func:`audit`)."""
    folder = Path(folder)
    record_path = folder / CHECKS_FILE
    if not folder.is_dir():
        raise AuditError(f"{folder.name}: no such release folder")
    if not record_path.is_file():
        raise AuditError(f"{folder.name}: not a ww_bayes release folder (no {CHECKS_FILE})")
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except ValueError:
        raise AuditError(f"{CHECKS_FILE}: not JSON") from None
    try:  # a record of another layout: read as far as it goes, the record check says what is wrong
        # the folder's own rule, never below CBS's (a record saying 3 must not lower the bar)
        min_count = int(min_count or max(int(record["rule"]["min_count"]), MIN_COUNT))
    except (KeyError, TypeError, ValueError):
        min_count = int(min_count or MIN_COUNT)
    try:
        groupings = {
            str(f): {str(k): str(v) for k, v in g["levels"].items()} for f, g in record["groupings"].items()
        }
    except (KeyError, TypeError, AttributeError):
        groupings = {}
    record = record if isinstance(record, dict) else {}
    trees, fits, cea = {}, [], {}
    for path in sorted(folder.glob("*.nc")):
        try:
            trees[path.name] = read_released(path)
        except Exception as error:  # h5py/netCDF raise OSError, ValueError, KeyError ... for damaged files
            raise AuditError(f"{path.name}: cannot be read as NetCDF ({type(error).__name__})") from None
    for name, tree in trees.items():
        if tree.attrs.get("ww_bayes_kind") == RELEASED_KIND and tree.attrs.get("model_kind") in KINDS:
            kind = kind_of(tree)
            if kind.name in tree.children:
                levels = levels_of(tree[kind.name])
                factors = [level for level in levels if level not in (OVERALL, CELLS)]
                fit = str(tree.attrs.get("fit_file", name))
                fits.append(ReleasedFit(name, fit, tree, levels, dict(kind.derived_variables), factors))
        elif tree.attrs.get("ww_bayes_kind") == CEA_KIND and CEA_GROUP in tree.children:
            cea[name] = tree
    counts_path = folder / COUNTS_FILE
    counts = (
        pd.read_csv(counts_path, dtype={"group": str, "category": str, "fit": str, "level": str, "arm": str})
        if counts_path.is_file()
        else pd.DataFrame(columns=["fit", "level", "group", "arm", "category", "persons", "count"])
    )
    counts["category"] = counts["category"].fillna("")
    return Folder(folder, record, min_count, groupings, fits, cea, counts, trees, building=building)


# --- the checks ---------------------------------------------------------------------------------------------


@dataclass
class Check:
    """One check of an audit: what it checks, whether it passed, its findings, its seconds and the output
    files it read."""

    key: str
    text: str
    passed: bool
    findings: list[str]
    seconds: float
    outputs: list[str]


@dataclass
class Audit:
    """The checks an audit ran on a folder (:func:`audit`)."""

    folder: Path
    min_count: int
    checks: list[Check]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def findings(self) -> list[str]:
        return [finding for check in self.checks for finding in check.findings]

    def as_record(self) -> list[dict]:
        return [
            {"check": c.key, "description": c.text, "passed": c.passed, "seconds": round(c.seconds, 3),
             "outputs": c.outputs, "findings": c.findings}
            for c in self.checks
        ]  # fmt: skip


def audit(
    folder: str | Path,
    min_count: int | None = None,
    only: tuple[str, ...] | None = None,
    building: bool = False,
) -> Audit:
    """Every check of the module docstring on a release folder (read-only); a check that fails on the
    folder refuses it. ``min_count``: the rule's threshold (default: the one the folder was released with,
    never below :data:`MIN_COUNT`); ``only``: these checks (keys of :data:`CHECKS`); ``building``: the
    folder as a release builds it, before its record holds the audit's results and its reports exist."""
    read = read_folder(folder, min_count, building)
    checks = []
    for key, (text, check) in CHECKS.items():
        if only is not None and key not in only:
            continue
        start = time.perf_counter()
        try:
            findings, outputs = check(read)
        except Exception as error:  # a folder unlike any release breaks a check: refused, never passed
            findings, outputs = [f"the check cannot read the folder ({type(error).__name__}: {error})"], set()
        text = text.format(m=read.min_count, below=read.min_count - 1)
        checks.append(Check(key, text, not findings, findings,
                            time.perf_counter() - start, sorted(outputs)))  # fmt: skip
    return Audit(read.path, read.min_count, checks)


def written_by_a_release(folder: Folder, name: str) -> bool:
    """Whether ``name`` is a file a release writes beside the files it has read: a released fit's
    estimates, summary and figures (``<stem>_*.png``), a cost-effectiveness result with its tables and
    figures (``cea_*.png``), the counts, the record and the reports."""
    from ww_bayes.results import RELEASED_SUFFIX

    if name in (CHECKS_FILE, COUNTS_FILE, *REPORT_FILES, *CEA_TABLES):
        return True
    if name.endswith(".nc"):  # a fit's estimates named after its fit file, or the one cost-effectiveness file
        fit = next((fit for fit in folder.fits if fit.file == name), None)
        if fit is not None:
            return name == f"{Path(fit.fit).stem}{RELEASED_SUFFIX}.nc"
        return name in folder.cea and len(folder.cea) == 1
    stems = [Path(fit.file).stem.removesuffix(RELEASED_SUFFIX) for fit in folder.fits]
    if name.endswith(".png"):
        return name.startswith("cea_") or any(name.startswith(f"{stem}_") for stem in stems)
    return name in {f"{stem}_summary.csv" for stem in stems}


def check_files(folder: Folder) -> tuple[list[str], set[str]]:
    listed = folder.record.get("outputs", {})
    present = {p.name for p in folder.path.iterdir() if p.name not in (CHECKS_FILE, LOCK_NAME, *REPORT_FILES)}
    findings = [f"{name}: not a file a release writes" for name in sorted(present)
                if not written_by_a_release(folder, name)]  # fmt: skip
    fit_files = [fit.fit for fit in folder.fits]
    recorded = folder.record.get("fits", {})
    if len(set(fit_files)) != len(fit_files) or set(fit_files) != set(recorded):
        findings.append(f"the released fits ({', '.join(sorted(fit_files))}) are not those {CHECKS_FILE} "
                        f"lists ({', '.join(sorted(map(str, recorded)))})")  # fmt: skip
    lock = folder.path / LOCK_NAME
    if lock.exists() and (lock.is_dir() or lock.stat().st_size):  # the writers' lock is an empty file
        findings.append(f"{LOCK_NAME}: a lock file that holds something (the writers' lock is empty)")
    findings += [f"{name}: not listed in {CHECKS_FILE}" for name in sorted(present - set(listed))]
    findings += [f"{name}: listed in {CHECKS_FILE} but missing" for name in sorted(set(listed) - present)]
    for name in sorted(present & set(listed)):
        if (folder.path / name).is_dir() or file_sha256(folder.path / name) != listed[name].get("sha256"):
            findings.append(f"{name}: its SHA-256 is not the one {CHECKS_FILE} lists (changed after release)")
    if not folder.building:
        findings += [f"{name}: missing (a release writes it)" for name in REPORT_FILES
                     if not (folder.path / name).is_file()]  # fmt: skip
    return findings, present


def check_record(folder: Folder) -> tuple[list[str], set[str]]:
    """The record of its layout, every sentence one the release writes (:func:`ww_bayes.record.note`),
    every check of the audit run and passed; each report the one the record renders, byte for byte."""
    files = {p.name for p in folder.path.iterdir()}
    checks = {
        key: text.format(m=folder.min_count, below=folder.min_count - 1) for key, (text, _) in CHECKS.items()
    }
    findings = [f"{CHECKS_FILE}: {problem}" for problem in
                record_problems(folder.record, checks, files, folder.building)]  # fmt: skip
    text = (folder.path / CHECKS_FILE).read_text(encoding="utf-8")
    if text != json.dumps(folder.record, indent=1, ensure_ascii=False) + "\n":
        findings.append(f"{CHECKS_FILE}: not in the layout a release writes (duplicate keys, escapes)")
    if findings or folder.building:
        return findings, {CHECKS_FILE}
    for name, text in report_texts(folder.record).items():
        path = folder.path / name
        if path.is_file() and path.read_text(encoding="utf-8") != text:
            findings.append(f"{name}: not the report {CHECKS_FILE} renders (changed after release)")
    return findings, {CHECKS_FILE, *REPORT_FILES}


def fit_figures(stem: str, tree: xr.DataTree, table: pd.DataFrame) -> dict[str, Callable[[], object]]:
    """The figures a release draws of a released fit (``table``: its summary): file name -> a function
    drawing it; the release and the audit draw them alike."""
    from ww_bayes.labels import Words
    from ww_bayes.viz import draw, figure_name

    blocks = kind_of(tree).report_blocks(stem, tree, table, Words("en"))
    return {f"{figure_name(block, stem)}.png": (lambda block=block: draw(block))
            for block in blocks if type(block).__name__ == "Plot"}  # fmt: skip


def cea_figures_of(result: xr.Dataset) -> dict[str, Callable[[], object]]:
    """The figures a release draws of a released cost-effectiveness result: file name -> a function drawing
    it (a ``KeyError`` when the by-class inputs it needs are not released)."""
    from ww_bayes.viz import CEA_FIGURES, cea_figure, cea_plot, figure_name

    return {f"{figure_name(cea_plot(result, name))}.png": (lambda name=name: cea_figure(result, name))
            for name in CEA_FIGURES}  # fmt: skip


def expected_figures(folder: Folder) -> dict[str, Callable[[], object]]:
    """Every figure a release of the folder's files draws, from the released files alone: file name ->
    a function drawing it."""
    from ww_bayes.results import RELEASED_SUFFIX, summarise

    figures = {}
    for fit in folder.fits:
        figures |= fit_figures(
            Path(fit.file).stem.removesuffix(RELEASED_SUFFIX), fit.tree, summarise(fit.tree)
        )
    for tree in folder.cea.values():
        figures |= cea_figures_of(tree[CEA_GROUP].to_dataset())
    return figures


def _pixels(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"))


def check_figures(folder: Folder) -> tuple[list[str], set[str]]:
    """Every PNG is a figure the release draws from a released file, byte for byte: drawn again here from
    the released files (:func:`expected_figures`), so a figure can show or carry nothing they do not hold;
    the pixels say how it differs."""
    from ww_bayes.viz import save_png

    expected = expected_figures(folder)
    findings, outputs = [], set()
    with tempfile.TemporaryDirectory() as scratch:
        for path in sorted(folder.path.glob("*.png")):
            outputs.add(path.name)
            if path.name not in expected:
                findings.append(f"{path.name}: not a figure the release draws from a released file")
                continue
            try:
                drawn = save_png(expected[path.name](), Path(scratch) / path.name)
            except KeyError:  # a cost-effectiveness figure whose by-class inputs were not released
                findings.append(f"{path.name}: not a figure the release draws from a released file")
                continue
            if path.read_bytes() == drawn.read_bytes():
                continue
            given, again = _pixels(path), _pixels(drawn)
            if np.array_equal(given, again):
                findings.append(f"{path.name}: its pixels are the figure's, but not its bytes (chunks or "
                                "data added to the file)")  # fmt: skip
            elif given.shape != again.shape:
                findings.append(f"{path.name}: {given.shape[1]}x{given.shape[0]} pixels, the figure drawn "
                                f"from the released files has {again.shape[1]}x{again.shape[0]}")  # fmt: skip
            else:
                changed = int(np.any(given != again, axis=-1).sum())
                findings.append(f"{path.name}: {changed:,} pixels differ from the figure drawn from "
                                "the released files (changed after release, or drawn by another "
                                "version)")  # fmt: skip
    return findings, outputs


def check_groups(folder: Folder) -> tuple[list[str], set[str]]:
    findings = [f"{name}: holds the group {group!r}" for name, tree in folder.trees.items()
                for group in sorted(set(tree.children) & set(WITHHELD_GROUPS))]  # fmt: skip
    return findings, set(folder.trees)


def check_declared(folder: Folder) -> tuple[list[str], set[str]]:
    findings = []
    known = {fit.file for fit in folder.fits} | set(folder.cea)
    findings += [f"{name}: not a released fit or cost-effectiveness result" for name in folder.trees
                 if name not in known]  # fmt: skip
    for fit in folder.fits:
        findings += declared_findings(fit.file, fit.tree)
        extra = [k for k in fit.tree.attrs if k not in RELEASED_ATTRS + RELEASE_ATTRS]
        findings += [f"{fit.file}: root attribute {k!r} is not on the release's whitelist" for k in extra]
        unknown = [c for c in fit.tree.children if c not in (kind_of(fit.tree).name, "diagnostics")]
        findings += [f"{fit.file}: group {c!r} is not one a release writes" for c in unknown]
    for name, tree in folder.cea.items():
        findings += cea_findings(name, tree[CEA_GROUP].ds)
        findings += [f"{name}: variable {v!r} is never released" for v in CEA_WITHHELD
                     if v in tree[CEA_GROUP].ds]  # fmt: skip
        extra = [k for k in tree.attrs if k not in CEA_ROOT_ATTRS]
        findings += [f"{name}: root attribute {k!r} is not on the release's whitelist" for k in extra]
    return findings, set(folder.trees)


def probability_events(tree: xr.DataTree, ds: xr.Dataset) -> tuple:
    """The smallest effect of interest and the good direction's sign of a fit's level ``ds``: what its
    probabilities' events need (:func:`ww_bayes.derived.fit_level_events`)."""
    kind = kind_of(tree)
    return fit_level_events(tree.attrs, tree[kind.name].attrs, kind.smallest_attr, kind.direction_dim, ds)


def check_probabilities(folder: Folder) -> tuple[list[str], set[str]]:
    """Every probability is the share of its estimand's released draws in which its event holds, exactly:
    times the number of draws it is the whole number of draws with the event (a value off that by any
    amount, in any digit, is refused). A probability can then say nothing the draws do not."""
    findings = []
    for fit in folder.fits:
        for level, ds in fit.levels.items():
            again = recomputed_probabilities(ds, fit.variables, probability_events(fit.tree, ds))
            for name, values in ds.data_vars.items():
                variable = fit.variables.get(name)
                if variable is None or variable.role != "probability" or variable.of not in ds:
                    continue
                draws = int(np.prod([ds[variable.of].sizes[d] for d in SAMPLE_DIMS]))
                given, computed = values.values * draws, again[name].values * draws
                whole = np.abs(given - np.rint(given)) < 1e-6
                same = (np.isnan(given) & np.isnan(computed)) | (
                    whole & (np.rint(given) == np.rint(computed))
                )
                if not same.all():
                    findings.append(f"{fit.file}: {level}/{name}: {int((~same).sum())} values are not the "
                                    f"share of the released draws of {variable.of}")  # fmt: skip
    return findings, {fit.file for fit in folder.fits}


def check_labels(folder: Folder) -> tuple[list[str], set[str]]:
    """Every dim of every file is a sample dim, a dim its kind declares or a grouping factor of the
    release, and its labels released groups; every level of counts.csv likewise."""
    findings = []
    for fit in folder.fits:
        known = set(SAMPLE_DIMS) | set(DIAGNOSTICS_DIMS) | set(kind_of(fit.tree).derived_dims)
        for node in fit.tree.subtree:
            findings += _dim_findings(folder, fit.file, node.ds, known, fit.fit)
    for name, tree in folder.cea.items():
        findings += _dim_findings(folder, name, tree[CEA_GROUP].ds, set(CEA_DIMS) - {CEA_CLASSES})
    factor_of = {level_label(f): f for f in folder.groupings}
    for (fit, level), rows in folder.counts[folder.counts["level"] != OVERALL].groupby(["fit", "level"]):
        groups, factor = set(rows["group"]), factor_of.get(level)
        if factor is None:
            findings.append(f"{COUNTS_FILE}: level {level!r} is not a grouping factor of the release")
        elif not groups <= folder.released_groups(factor, fit):
            outside = sorted(groups - folder.released_groups(factor, fit))[:3]
            findings.append(f"{COUNTS_FILE}: {fit} {level} groups {outside} are not released groups")
    outputs = set(folder.trees) | ({COUNTS_FILE} if len(folder.counts) else set())
    return findings, outputs


def _dim_findings(
    folder: Folder, name: str, ds: xr.Dataset, known: set[str], fit: str | None = None
) -> list[str]:
    findings = []
    for dim in ds.dims:
        if dim in known:
            continue
        if dim not in folder.groupings:
            findings.append(f"{name}: dim {dim!r} is not a grouping factor the release merged")
            continue
        labels = set(map(str, ds[dim].values)) if dim in ds.coords else {"(unlabelled)"}
        outside = labels - folder.released_groups(dim, fit)
        if outside:
            findings.append(f"{name}: {dim} labels {sorted(outside)[:3]} are not released groups")
    return findings


#: The files a release folder may hold: those the audit reads.
READABLE_SUFFIXES = (".nc", ".csv", ".md", ".html", ".json", ".png")


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return text.strip().lower() in ("", "nan", "true", "false")
    return True


# --- the forms of released text: every string a release writes has one ----------------------------------

VERSION = rf"{RECORD_VERSION}|not installed"
NUMBER_TEXT = r"(?:-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?|nan|inf)"
#: A problem line of a convergence report (:class:`ww_bayes.inference.Convergence`).
PROBLEM = (
    rf"  - (?:{NAME}(?:/{NAME})*(?:\[[\w ,.+-]*\])?: "
    rf"(?:R-hat {NUMBER_TEXT} > {NUMBER_TEXT}|ESS (?:bulk|tail) {NUMBER_TEXT} < {NUMBER_TEXT})|"
    rf"{NUMBER_TEXT} divergent transitions > {NUMBER_TEXT} allowed|"
    rf"chain {NUMBER_TEXT}: E-BFMI {NUMBER_TEXT} < {NUMBER_TEXT}|"
    rf"{NUMBER_TEXT}% of draws at the maximum tree depth > {NUMBER_TEXT}%)"
)  # fmt: skip
#: The form of each released text attribute that is not prose the package writes (a regular expression the
#: whole value must match, or a test); numbers must be stored as numbers.
ATTRIBUTE_FORMS: dict[str, str | Callable[[str], bool]] = {
    "model_kind": lambda v: v in KINDS,
    "model_name": NAME,
    "outcome": lambda v: bool(re.fullmatch(rf"{NAME}(?:, {NAME})*", v)) or is_package_phrase(v),
    "data_sha256": "[0-9a-f]{64}",
    "fit_sha256": "[0-9a-f]{64}",
    "fits_sha256": "[0-9a-f]{64}(?:, ?[0-9a-f]{64})*",
    "sampler": NAME,
    "adaptation": NAME,
    "likelihood": NAME,
    "interval_kind": NAME,
    "anchor": lambda v: v in ARMS,
    "converged": lambda v: v in ("yes", "no"),
    "observation": lambda v: v in {kind.observation.name for kind in KINDS.values()},
    "package_versions": lambda v: _json_form(v, dict, "|".join(PACKAGES), VERSION),
    "grouping_factors": lambda v: _json_form(v, list, NAME),
    "ww_bayes_version": VERSION,
    "released_with": rf"ww_bayes (?:{VERSION})",
    "ww_bayes_kind": lambda v: v in (RELEASED_KIND, CEA_KIND),
    "spec_name": NAME,
    "fit_file": NAME,
    "fits": rf"{NAME}(?:, {NAME})*",
    "assumptions_source": NAME,
    "contrast": lambda v: v in CONTRASTS,
    "best_rule": rf"none served|{NAME}(?:\+{NAME})*",
    "synthetic_data": r"no|ww_bayes [0-9][0-9A-Za-z.+-]* simulator"
                      r"|ww_bayes simulator \(its truth file [\w.-]+ is beside the data\)",
    "convergence_report": (rf"converged: max R-hat {NUMBER_TEXT}, min ESS bulk of effect parameters "
                           rf"{NUMBER_TEXT}, {NUMBER_TEXT} divergences, min E-BFMI {NUMBER_TEXT}, "
                           rf"{NUMBER_TEXT}% of draws at the maximum tree depth"
                           rf"|NOT CONVERGED:(?:\n{PROBLEM})+"),
    "good_direction": lambda v: _json_form(v, (str, dict), NAME, "more|less|none"),
}  # fmt: skip
#: Attributes that join phrases of the package by "; " (each a literal or an f-string with whole numbers in
#: its fields): where a cost-effectiveness result's effects and its other benefits' months come from.
JOINED_ATTRS = ("effects_source", "other_benefits_source")
#: Digits prose a release writes may hold: month ranges and months ("months 1-30", "month 12", "12-month",
#: "month-12").
PROSE_NUMBERS = re.compile(
    r"\bmonths? [0-9]+(?:(?:-|\.\.)(?:[0-9]+|horizon))?\b|\b[0-9]+-month\b|\bmonth-[0-9]+\b"
)
#: The labels of a dim that is not a grouping factor: a name, names joined by "+" (targeting rules), a name
#: with its class in brackets (tornado inputs) or a path of names (the convergence table's variables).
LABEL_FORM = re.compile(rf"none served|{NAME}(?:\+{NAME})*|{NAME}\[{NAME}\]|{NAME}(?:/{NAME})+")


def _json_form(text: str, kinds, key_form: str, value_form: str = "") -> bool:
    """Whether ``text`` is JSON of the type ``kinds`` whose keys (or items) match ``key_form`` and whose
    values match ``value_form``."""
    try:
        value = json.loads(text)
    except ValueError:
        return False
    if not isinstance(value, kinds):
        return False
    if isinstance(value, str):
        return bool(re.fullmatch(value_form or key_form, value))
    if isinstance(value, dict):
        return all(isinstance(k, str) and re.fullmatch(key_form, k) and isinstance(v, str)
                   and re.fullmatch(value_form, v) for k, v in value.items())  # fmt: skip
    return all(isinstance(item, str) and re.fullmatch(key_form, item) for item in value)


def form_problem(key: str, value) -> str:
    """What is wrong with a released attribute's value ("" if nothing): a text attribute with a form must
    match it (:data:`ATTRIBUTE_FORMS`); any other text is prose the package writes, which holds no digits
    but in month ranges (:data:`PROSE_NUMBERS`); a number must be a number, not a text."""
    if key in TOML_ATTRS:
        return ""  # checked whole (:func:`toml_problem`)
    if not isinstance(value, str):
        return (
            ""
            if isinstance(value, int | float | np.integer | np.floating)
            else f"holds a {type(value).__name__}"
        )
    form = ATTRIBUTE_FORMS.get(key)
    if callable(form):
        return "" if form(value) else "is not of its form"
    if form is not None:
        return "" if re.fullmatch(form, value) else "is not of its form"
    if _prose_digits(value):
        return "holds digits (its prose the package writes holds none)"
    if not is_package_phrase(value, joined=key in JOINED_ATTRS):
        return "is not a phrase of the package's source (prose the package writes is)"
    return ""


@functools.cache
def package_phrases() -> tuple[frozenset[str], re.Pattern]:
    """Every string literal of the package's source, and every f-string as one pattern whose fields are
    whole numbers (a field that could hold words could hold anything): the prose a result file's
    attributes can hold."""
    literals, patterns = set(), []
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                literals.add(node.value)
            elif isinstance(node, ast.JoinedStr):
                parts = [re.escape(part.value) if isinstance(part, ast.Constant) else "[0-9]+"
                         for part in node.values]  # fmt: skip
                patterns.append("".join(parts))
    return frozenset(literals), re.compile("|".join(f"(?:{p})" for p in patterns))


def is_package_phrase(text: str, joined: bool = False) -> bool:
    """Whether ``text`` is a phrase of the package's source: a string literal, or an f-string with whole
    numbers in its fields (:func:`package_phrases`); ``joined``: phrases joined by "; ", each a literal or
    an f-string (:data:`JOINED_ATTRS`)."""
    literals, pattern = package_phrases()
    if joined:
        return all(part in literals or pattern.fullmatch(part) is not None for part in text.split("; "))
    return text in literals or pattern.fullmatch(text) is not None


def _prose_digits(text: str) -> bool:
    """Whether ``text`` holds a digit outside the month ranges prose may name."""
    return bool(re.search(r"[0-9]", PROSE_NUMBERS.sub("", text)))


def check_forms(folder: Folder) -> tuple[list[str], set[str]]:
    """Every attribute of every released file of its form (:func:`form_problem`), and every label of a
    dim that is not a grouping factor a contrast (for ``contrast``), a number (``month``, ``horizon``, the
    willingness to pay) or of :data:`LABEL_FORM`, with no small count in its words."""
    findings = []
    for name, tree in folder.trees.items():
        for node in tree.subtree:
            places = {f"{node.path} attribute {k}": (k, v) for k, v in node.attrs.items()}
            places |= {f"{node.path}/{var} attribute {k}": (k, v) for var, values in node.ds.data_vars.items()
                       for k, v in values.attrs.items()}  # fmt: skip
            for where, (key, value) in places.items():
                problem = form_problem(key, value)
                if problem:
                    findings.append(f"{name}: {where} {problem}: {str(value)[:60]!r}")
            for dim, labels in node.ds.coords.items():
                if dim in folder.groupings or dim in SAMPLE_DIMS:
                    continue
                values = labels.values
                if dim == "contrast":
                    bad = [v for v in map(str, values) if v not in CONTRASTS]
                elif np.issubdtype(values.dtype, np.number):
                    bad = []
                elif values.dtype.kind in "OU":
                    bad = [v for v in map(str, values) if not LABEL_FORM.fullmatch(v)]
                    words = " | ".join(map(str, values))
                    found = text_findings("", words, set(), folder.min_count)
                    findings += [f"{name}: {node.path} {dim} labels: {f.split(': ', 1)[1]}" for f in found]
                else:
                    bad = [str(v) for v in values]
                findings += [f"{name}: {node.path} {dim} label {v!r} is not of its form" for v in bad[:3]]
    return findings, set(folder.trees)


def check_text(folder: Folder) -> tuple[list[str], set[str]]:
    secrets = secrets_of(folder.path)
    findings, outputs = [], set()
    for name, tree in folder.trees.items():
        texts = {f"{node.path} attribute {k}": str(v) for node in tree.subtree for k, v in node.attrs.items()}
        texts |= {f"{node.path}/{var} attribute {k}": str(v) for node in tree.subtree
                  for var, values in node.ds.data_vars.items() for k, v in values.attrs.items()}  # fmt: skip
        for where, text in texts.items():
            findings += text_findings(f"{name}: {where}", text, secrets, folder.min_count)
        findings += [f"{name}: {node.path} attribute {k}: {problem}" for node in tree.subtree
                     for k in TOML_ATTRS if k in node.attrs
                     for problem in [toml_problem(k, str(node.attrs[k]))] if problem]  # fmt: skip
        outputs.add(name)
    for path in sorted(folder.path.iterdir()):
        if path.suffix not in READABLE_SUFFIXES and path.name != LOCK_NAME:
            findings.append(f"{path.name}: a file of a kind the audit cannot read (not releasable)")
        if path.suffix == ".csv":  # its words: the header and every cell that is not a number
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
            cells = [v for column in table.columns for v in table[column] if not _is_number(v)]
            text = " | ".join([*map(str, table.columns), *cells])
            findings += list(dict.fromkeys(text_findings(path.name, text, secrets, folder.min_count)))
            outputs.add(path.name)
        elif path.suffix in (".md", ".html", ".json"):
            text = path.read_text(encoding="utf-8")
            findings += text_findings(path.name, text, secrets, folder.min_count)
            outputs.add(path.name)
    for png in folder.path.glob("*.png"):
        with contextlib.suppress(Exception):
            from PIL import Image

            with Image.open(png) as image:
                info = " ".join(map(str, image.info.values()))
            findings += text_findings(f"{png.name} metadata", info, secrets, folder.min_count)
            outputs.add(png.name)
    return findings, outputs


def toml_problem(key: str, text: str) -> str:
    """What is wrong with a released spec's or assumptions' text ("" if nothing): it must be the canonical
    TOML of its settings (no comments, no free text) and parse as a spec or as assumptions (no key the
    package does not know, which could hold anything)."""
    from ww_bayes.cea import parse_assumptions
    from ww_bayes.kinds import parse_spec

    if not is_released_toml(text):
        return ("not in a release's canonical TOML (comments, free text or another layout: what it says "
                "beside the settings has no rule)")  # fmt: skip
    try:
        (parse_spec if key == "spec_text" else parse_assumptions)(text, key)
    except Exception as error:  # SpecError, or a kind's own ValueError
        return f"not a valid {'spec' if key == 'spec_text' else 'assumptions file'} ({error})"
    return ""


#: The columns of ``counts.csv``, in order.
COUNTS_COLUMNS = ("fit", "level", "group", "arm", "category", "persons", "count")


def check_counts(folder: Folder) -> tuple[list[str], set[str]]:
    counts = folder.counts
    findings = []
    if len(counts) and tuple(counts.columns) != COUNTS_COLUMNS:
        findings.append(f"{COUNTS_FILE}: its columns are not {', '.join(COUNTS_COLUMNS)}")
    for column, values in (("persons", counts["persons"]), ("count", counts["count"]),
                           ("persons - count", counts["persons"] - counts["count"])):  # fmt: skip
        small = breaks_rule(values.fillna(0).to_numpy(dtype=float), folder.min_count)
        for row in counts[small].itertuples():
            findings.append(f"{COUNTS_FILE}: {row.fit} {row.level}/{row.group}, {row.arm}: {column} is "
                            "between 1 and the minimum count")  # fmt: skip
    findings += _unadded_findings(counts)
    return findings, {COUNTS_FILE} if len(counts) else set()


def _unadded_findings(counts: pd.DataFrame) -> list[str]:
    """The groups of a factor partition the cohort (a merged group holds its levels): per fit, arm and
    category, their persons and counts add up to the overall row. Rows that do not would let the
    difference describe anyone."""
    if counts.empty or not {"fit", "level", "arm", "category", "persons", "count"} <= set(counts.columns):
        return []
    keys = ["fit", "arm", "category"]
    overall = counts[counts["level"] == OVERALL].set_index(keys)[["persons", "count"]]
    findings = []
    for level, rows in counts[counts["level"] != OVERALL].groupby("level"):
        summed = rows.groupby(keys)[["persons", "count"]].sum()
        both = summed.join(overall.add_suffix("_overall"), how="inner")
        for key, row in both.iterrows():
            if row["persons"] != row["persons_overall"] or row["count"] != row["count_overall"]:
                findings.append(f"{COUNTS_FILE}: {key[0]} {level}, {key[1]}: the groups' persons or counts "
                                "do not add up to the overall row")  # fmt: skip
    return findings


#: Tables a release writes beside a cost-effectiveness result, and how each is computed from it.
CEA_TABLES = {"cost_effectiveness_summary.csv": "summary", "cost_effectiveness_targeting.csv": "targeting"}
#: How close a table's numbers must be to those computed from the released file (a CSV holds a float64's
#: digits; an estimate stored as float32 holds about 7).
TABLE_RTOL = 1e-6


def expected_tables(folder: Folder) -> dict[str, pd.DataFrame]:
    """Every table a release of the folder's files writes, computed from the released files alone: each
    fit's summary and each cost-effectiveness result's summary and targeting table."""
    from ww_bayes.cea import summary as cea_summary
    from ww_bayes.cea import targeting_table
    from ww_bayes.results import RELEASED_SUFFIX, summarise

    tables = {f"{Path(fit.file).stem.removesuffix(RELEASED_SUFFIX)}_summary.csv": summarise(fit.tree)
              for fit in folder.fits}  # fmt: skip
    for tree in folder.cea.values():
        result = tree[CEA_GROUP].to_dataset()
        made = {"summary": cea_summary, "targeting": targeting_table}
        tables |= {name: made[how](result) for name, how in CEA_TABLES.items()}
    return tables


def _table_difference(name: str, table: pd.DataFrame, expected: pd.DataFrame) -> str:
    """What differs between a released table and the one computed from the released files ("" if none)."""
    expected = pd.read_csv(io.StringIO(expected.to_csv(index=False)), dtype=str, keep_default_na=False)
    if list(table.columns) != list(expected.columns):
        extra = [c for c in table.columns if c not in expected.columns]
        return f"{name}: its columns are not those of the released estimates' table" + (
            f" (extra: {', '.join(extra[:3])})" if extra else ""
        )
    if len(table) != len(expected):
        return f"{name}: {len(table)} rows, the released estimates give {len(expected)}"
    for column in table.columns:
        given, computed = table[column], expected[column]
        numbers = pd.to_numeric(given, errors="coerce"), pd.to_numeric(computed, errors="coerce")
        if (
            numbers[1].notna().sum() == (computed != "").sum()
            and numbers[0].notna().sum() == (given != "").sum()
        ):
            if not np.allclose(numbers[0], numbers[1], rtol=TABLE_RTOL, atol=1e-12, equal_nan=True):
                return f"{name}: column {column!r} differs from the released estimates"
        elif not given.equals(computed):
            return f"{name}: column {column!r} differs from the released estimates"
    return ""


def check_tables(folder: Folder) -> tuple[list[str], set[str]]:
    """Every CSV (but counts.csv) is a table the release computes from a released file, and equal to it:
    a table can then say nothing the released files do not."""
    expected = expected_tables(folder)
    findings, outputs = [], set()
    for path in sorted(folder.path.glob("*.csv")):
        if path.name == COUNTS_FILE:
            continue
        outputs.add(path.name)
        if path.name not in expected:
            findings.append(f"{path.name}: not a table the release computes from a released file")
            continue
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        difference = _table_difference(path.name, table, expected[path.name])
        if difference:
            findings.append(difference)
    return findings, outputs


# --- weights recovery ---------------------------------------------------------------------------------------


def recovered_shares(fit: ReleasedFit, factor: str) -> pd.Series | None:
    """Each released group's share of the cohort, by least squares of every population-weighted estimand's
    overall draws on its ``factor`` level draws (None when no estimand fits exactly)."""
    overall, level = fit.levels.get(OVERALL), fit.levels[factor]
    if overall is None:
        return None
    groups = [str(g) for g in level[factor].values]
    for name, variable in fit.variables.items():
        if variable.role != "estimand" or name not in overall or name not in level:
            continue
        shares = exact_weights(overall[name], level[name], factor)
        if shares is not None:
            return pd.Series(shares, index=groups)
    return None


def common_labels(total: xr.DataArray, parts: xr.DataArray, factor: str) -> tuple[xr.DataArray, xr.DataArray]:
    """``total`` and ``parts`` on the labels both hold along every dim but ``factor`` (a level released with
    categories merged holds fewer categories than the overall level; the others are a full attack)."""
    return xr.align(total, parts, join="inner", exclude=[factor])


def exact_weights(total: xr.DataArray, parts: xr.DataArray, factor: str) -> np.ndarray | None:
    """Weights w (one per label of ``factor``) with ``total = sum(w * parts)`` exactly (relative residual
    below 1e-9) on every element both hold, by least squares; None when no such weights exist."""
    dims = [d for d in parts.dims if d != factor]
    if set(dims) != set(total.dims):
        return None
    total, parts = common_labels(total, parts, factor)
    x = parts.transpose(*dims, factor).values.reshape(-1, parts.sizes[factor])
    y = total.transpose(*dims).values.reshape(-1)
    kept = np.flatnonzero(np.isfinite(y) & np.isfinite(x).all(axis=1))
    kept = kept[:: max(1, len(kept) // LEAST_SQUARES_ROWS)]  # evenly spread: exactness shows in any of them
    x, y = x[kept], y[kept]
    if len(y) <= x.shape[1] or not np.abs(y).max() > 0:
        return None
    weights, *_ = np.linalg.lstsq(x, y, rcond=None)
    residual = np.abs(y - x @ weights).max() / np.abs(y).max()
    return weights if residual < 1e-9 and (weights > -1e-9).all() else None


#: Rows (draws x other elements) a least-squares recovery uses at most.
LEAST_SQUARES_ROWS = 50_000


def smallest_total(shares: np.ndarray, at_least: int = 1, limit: int = 50_000_000) -> int | None:
    """The smallest whole total N >= ``at_least`` for which every ``shares * N`` is a whole number (to
    within 1e-6 persons per million persons): the persons the shares were computed from."""
    shares = np.asarray(shares, dtype=float)
    shares = shares[shares > 1e-12]
    if not shares.size:
        return None
    chunk = 200_000
    for start in range(max(1, int(at_least)), limit, chunk):
        n = np.arange(start, start + chunk, dtype=float)
        scaled = n[:, None] * shares[None, :]
        tolerance = 1e-6 + 1e-10 * n[:, None]
        whole = (np.abs(scaled - np.rint(scaled)) <= tolerance).all(axis=1)
        if whole.any():
            return int(n[np.argmax(whole)])
    return None


def recover_cohort(folder: Folder) -> dict[str, pd.DataFrame]:
    """Cohort persons per released group (columns fit, level, group, persons) of every fit whose estimands
    give them: shares by :func:`recovered_shares`, scaled by the smallest whole total that is at least the
    persons with the outcome observed in ``counts.csv`` of any fit on the same data."""
    observed = _observed_totals(folder)
    recovered = {}
    for fit in folder.fits:
        shares = {f: s for f in fit.factors if (s := recovered_shares(fit, f)) is not None and len(s) > 1}
        if not shares:
            continue  # one group per factor: its share is 1, whatever the persons
        at_least = observed.get(str(fit.tree.attrs.get("data_sha256", "")), 1)
        total = smallest_total(np.concatenate([s.to_numpy() for s in shares.values()]), at_least)
        if total is None:
            continue
        rows = [(fit.fit, OVERALL, "all", float(total))]
        for factor, share in shares.items():
            rows += [(fit.fit, level_label(factor), g, float(np.rint(v * total))) for g, v in share.items()]
        recovered[fit.fit] = pd.DataFrame(rows, columns=["fit", "level", "group", "persons"])
    return recovered


def _observed_totals(folder: Folder) -> dict[str, int]:
    """The most persons with an outcome observed that counts.csv shows of the whole cohort, per data."""
    data_of = {fit.fit: str(fit.tree.attrs.get("data_sha256", "")) for fit in folder.fits}
    overall = folder.counts[folder.counts["level"] == OVERALL]
    persons = overall.groupby(["fit", "category"])["persons"].sum().groupby("fit").max()
    totals: dict[str, int] = {}
    for fit, value in persons.items():
        data = data_of.get(str(fit), "")
        if np.isfinite(value):
            totals[data] = max(totals.get(data, 1), int(value))
    return totals


def check_weights(folder: Folder) -> tuple[list[str], set[str]]:
    folder.cohort = recover_cohort(folder)
    findings = []
    for fit, totals in folder.cohort.items():
        small = totals[breaks_rule(totals["persons"], folder.min_count)]
        findings += [f"{fit}: {row.level}/{row.group}: {row.persons:g} persons recovered from the weights of "
                     "its estimands" for row in small.itertuples()]  # fmt: skip
    findings += _partial_findings(folder)
    findings += _imprecise_findings(folder)
    return findings, {fit.file for fit in folder.fits}


#: A population-weighted estimand whose draws fit a weighted mean of its levels to within this relative
#: residual, but not exactly (draws stored in float32 or rounded), lets the weights be recovered
#: approximately.
APPROXIMATE_FIT = 1e-4


def _imprecise_findings(folder: Folder) -> list[str]:
    """Estimands whose draws fit a weighted mean of their levels only approximately: the recovery above
    needs exact draws, so it cannot vouch for them, and an attacker's rounding can (fail closed)."""
    findings = []
    for fit in folder.fits:
        overall = fit.levels.get(OVERALL)
        if overall is None:
            continue
        for factor in fit.factors:
            if recovered_shares(fit, factor) is not None:
                continue
            level = fit.levels[factor]
            for name, variable in fit.variables.items():
                if variable.role == "estimand" and name in overall and name in level:
                    residual = _weights_residual(overall[name], level[name], factor)
                    if residual is not None and 1e-9 <= residual < APPROXIMATE_FIT:
                        findings.append(f"{fit.file}: {name} by {factor}: a weighted mean of its levels to "
                                        f"a relative {residual:.0e} only (reduced precision): its weights "
                                        "cannot be checked exactly")  # fmt: skip
                    elif residual is not None and residual >= APPROXIMATE_FIT:
                        findings.append(f"{fit.file}: {name} by {factor}: declared a population-weighted "
                                        "estimand but not a weighted mean of its levels (relative "
                                        f"residual {residual:.0e}): not what its role says")  # fmt: skip
    return findings


def _weights_residual(total: xr.DataArray, parts: xr.DataArray, factor: str) -> float | None:
    """The relative residual of the least-squares fit of ``total`` on ``parts`` (None: nothing to fit)."""
    dims = [d for d in parts.dims if d != factor]
    if set(dims) != set(total.dims):
        return None
    total, parts = common_labels(total, parts, factor)
    x = parts.transpose(*dims, factor).values.reshape(-1, parts.sizes[factor]).astype("float64")
    y = total.transpose(*dims).values.reshape(-1).astype("float64")
    kept = np.flatnonzero(np.isfinite(y) & np.isfinite(x).all(axis=1))[:LEAST_SQUARES_ROWS]
    if len(kept) <= x.shape[1] or not np.abs(y[kept]).max() > 0:
        return None
    weights, *_ = np.linalg.lstsq(x[kept], y[kept], rcond=None)
    return float(np.abs(y[kept] - x[kept] @ weights).max() / np.abs(y[kept]).max())


def _partial_findings(folder: Folder) -> list[str]:
    """A partial estimand (over part of the cohort) that is an exact weighted mean of released level
    estimands gives the persons it covers: the rest (e.g. in pooling-only cells) must pass the rule."""
    findings = []
    for fit in folder.fits:
        totals = folder.cohort.get(fit.fit)
        overall = fit.levels.get(OVERALL)
        if totals is None or overall is None:
            continue
        whole = float(totals.loc[totals["level"] == OVERALL, "persons"].iloc[0])
        for name, variable in fit.variables.items():
            if variable.role != "partial_estimand" or name not in overall:
                continue
            for factor in fit.factors:
                for estimand, other in fit.variables.items():
                    if other.role == "estimand" and estimand in fit.levels[factor]:
                        findings += _partial_of(fit, name, estimand, factor, whole, folder)
    return findings


def _partial_of(fit, name, estimand, factor, whole, folder) -> list[str]:
    """Per element of the partial estimand's other dims (a contrast, a month): the weights of its exact fit
    on the level estimand, scaled to the smallest whole total, are the persons it covers."""
    partial, level = fit.levels[OVERALL][name], fit.levels[factor][estimand]
    extra = [d for d in partial.dims if d not in SAMPLE_DIMS]
    if set(extra) - set(level.dims):
        return []
    findings = []
    for index in itertools.product(*(partial[d].values for d in extra)):
        where = dict(zip(extra, index, strict=True))
        if any(value not in level[dim].values for dim, value in where.items()):
            continue  # a category the level holds only merged with others
        weights = exact_weights(partial.sel(where), level.sel(where), factor)
        if weights is None or (weights > 1e-12).sum() < 2:
            continue
        covered = smallest_total(weights, 1, int(whole) + 1)
        if covered is not None and breaks_rule([whole - covered], folder.min_count)[0]:
            findings.append(f"{fit.fit}: {name} {where} covers {covered} of {whole:g} persons (recovered): "
                            f"{whole - covered:g} left out")  # fmt: skip
    return findings


# --- differences --------------------------------------------------------------------------------------------


def opposite_failures(facts: pd.DataFrame, min_count: int) -> pd.DataFrame:
    """Per group and arm, the persons of any fit (or the cohort's persons) less the counts of two or three
    other fits' outcomes (any categories, one per fit), between 1 and ``min_count - 1`` in absolute value.
    Of outcomes that exclude each other (at work and on WW, where nobody is both), that is the persons with
    none of them; of two that cover everyone, minus the persons with both. Whether they do is a fact of the
    data the folder does not show, so every such number counts as released. It includes one fit's count
    against another's persons - count (the persons taken from that fit). Columns: level, group, finding."""
    facts = facts.dropna(subset=["value"])
    keys = ["level", "group", "arm"]
    count = facts.loc[facts["measure"] == "count", [*keys, "fit", "category", "value"]]
    persons = facts.loc[facts["measure"].isin(["persons", COHORT]), [*keys, "fit", "measure", "value"]]
    persons = persons.rename(columns={"fit": "fit_p", "value": "value_p"})
    pairs = count.merge(count, on=keys, suffixes=("_a", "_b"))
    pairs = pairs[pairs["fit_a"] < pairs["fit_b"]].assign(fit_c="", category_c="", value_c=0.0)
    third = count.rename(columns={"fit": "fit_c", "category": "category_c", "value": "value_c"})
    triples = pairs.drop(columns=["fit_c", "category_c", "value_c"]).merge(third, on=keys)
    triples = triples[triples["fit_b"] < triples["fit_c"]]
    sets = pd.concat([pairs, triples], ignore_index=True).merge(persons, on=keys)
    left = sets["value_p"] - sets["value_a"] - sets["value_b"] - sets["value_c"]
    out = []
    for row, value in zip(sets[breaks_rule(left.abs(), min_count)].itertuples(),
                          left[breaks_rule(left.abs(), min_count)], strict=True):  # fmt: skip
        named = [
            f"{fit}{_category(category, '', ' ')}"
            for fit, category in (
                (row.fit_a, row.category_a),
                (row.fit_b, row.category_b),
                (row.fit_c, row.category_c),
            )
            if fit
        ]
        out.append((row.level, row.group, f"{row.level}/{row.group}, {row.arm}: {row.measure} of {row.fit_p} "
                    f"less the counts of {' and '.join(named)} is {value:g}"))  # fmt: skip
    return pd.DataFrame(out, columns=["level", "group", "finding"])


def summed_overall(counts: pd.DataFrame) -> pd.DataFrame:
    """``counts`` with, for a fit that has rows of a factor's groups but no overall row, the overall rows
    those groups add up to (a factor's groups partition the cohort): what a reader rebuilds."""
    if counts.empty:
        return counts
    have = set(counts.loc[counts["level"] == OVERALL, "fit"])
    rebuilt = []
    for fit, rows in counts[~counts["fit"].isin(have)].groupby("fit"):
        level = sorted(rows["level"].unique())[0]
        summed = rows[rows["level"] == level].groupby(["arm", "category"], as_index=False)[
            ["persons", "count"]
        ]
        rebuilt.append(summed.sum().assign(fit=fit, level=OVERALL, group="all")[counts.columns])
    return pd.concat([counts, *rebuilt], ignore_index=True) if rebuilt else counts


#: The most fits whose counts a release holds at one level (the differencing takes up to three at a time).
COUNTED_FITS = 3


def check_differences(folder: Folder) -> tuple[list[str], set[str]]:
    counts = summed_overall(folder.counts)
    fits_per_level = counts.groupby("level")["fit"].nunique() if len(counts) else pd.Series(dtype=int)
    crowded = [
        f"{COUNTS_FILE}: {level}: counts of {n} fits (at most {COUNTED_FITS}: the differencing takes up to "
        "three at a time)"
        for level, n in fits_per_level.items()
        if n > COUNTED_FITS
    ]
    facts = pd.concat([count_facts(counts)] + [cohort_facts(t) for t in folder.cohort.values()],
                      ignore_index=True)  # fmt: skip
    tiers, findings = tiered_facts(folder, facts)
    findings = crowded + findings
    for tier in tiers:
        failures = fact_failures(tier, folder.min_count)
        findings += [f for f in failures["finding"] if " differ by " in f]
        findings += list(opposite_failures(tier, folder.min_count)["finding"])
    outputs = ({COUNTS_FILE} if len(folder.counts) else set()) | {fit.file for fit in folder.fits}
    return list(dict.fromkeys(findings)), outputs


def tiered_facts(folder: Folder, facts: pd.DataFrame) -> tuple[list[pd.DataFrame], list[str]]:
    """The count facts as a reader compares them across fits whose groupings of a factor differ: the
    overall level and every fit's groups under the release's grouping; then per factor, for each coarser
    grouping a fit has of its own, the facts of every fit whose grouping it coarsens, their groups added up
    to its groups (a factor's groups partition the cohort). Also what is wrong: groupings of a factor that
    do not nest (neither coarsens the other, so a reader subtracts one from the other)."""
    by_level = {level_label(f): f for f in folder.groupings}
    fits = sorted(set(facts["fit"]))
    own = {(fit, factor) for fit in fits for factor in folder.groupings
           if folder.grouping_of(factor, fit) != folder.grouping_of(factor)}  # fmt: skip
    pairs = zip(facts["fit"], facts["level"], strict=True)
    keep = np.array([not (level in by_level and (fit, by_level[level]) in own) for fit, level in pairs], bool)
    tiers, findings = [facts.loc[keep]], []
    for factor in folder.groupings:
        coarser = {json.dumps(folder.grouping_of(factor, fit), sort_keys=True): fit for fit in fits
                   if (fit, factor) in own and not folder.suppressed(factor, fit)}  # fmt: skip
        for tier_fit in coarser.values():
            tier = folder.grouping_of(factor, tier_fit)
            rows = facts[facts["level"] == level_label(factor)]
            parts = []
            for fit, fit_rows in rows.groupby("fit"):
                relabel = _coarsening(folder.grouping_of(factor, fit), tier)
                if relabel is None:
                    other = folder.grouping_of(factor, fit)
                    if _coarsening(tier, other) is None:
                        findings.append(f"{CHECKS_FILE}: the groupings of {factor} in {fit} and {tier_fit} "
                                        "do not nest (a reader subtracts one from the other)")  # fmt: skip
                    continue
                parts.append(fit_rows.assign(group=fit_rows["group"].map(relabel)))
            if parts:
                added = pd.concat(parts, ignore_index=True)
                keys = [c for c in added.columns if c != "value"]
                tiers.append(added.groupby(keys, as_index=False, dropna=False)["value"].sum(min_count=1))
    return tiers, findings


def _coarsening(finer: dict[str, str], coarser: dict[str, str]) -> dict[str, str] | None:
    """Each group of ``finer`` (level -> group) -> the group of ``coarser`` it lies in; None when one of its
    groups is split between groups of ``coarser`` (or a level is missing from it)."""
    out: dict[str, str] = {}
    for level, group in finer.items():
        if level not in coarser or out.setdefault(group, coarser[level]) != coarser[level]:
            return None
    return out


# --- shares: inclusion-exclusion ----------------------------------------------------------------------------


def pattern_atoms() -> list[tuple[bool, ...]]:
    """The patterns of flags over the contrasts a cell can have: a cell lacking persons in a set of arms is
    flagged for every contrast with one of them; plus the pattern of a cell with every arm."""
    patterns = {tuple(False for _ in CONTRASTS)}
    for size in range(1, len(ARMS) + 1):
        for missing in itertools.combinations(ARMS, size):
            patterns.add(tuple(bool(set(arms) & set(missing)) for arms in CONTRASTS.values()))
    return sorted(patterns)


def share_bounds(
    shares: dict[str, float], step: float, whole: float, at_least: dict[str, float] | None = None
) -> list[tuple[str, float, float]]:
    """Integer bounds on the persons of every pattern of flags (:func:`pattern_atoms`) and every contrast's
    flagged and unflagged persons, given each contrast's share of the ``whole`` cohort rounded to ``step``
    (0: exact) and lower bounds ``at_least`` on a contrast's flagged persons. Returns (what, low, high)."""
    atoms = pattern_atoms()
    contrasts = list(CONTRASTS)
    rows, low, high = [np.ones(len(atoms))], [whole], [whole]
    for j, contrast in enumerate(contrasts):
        if contrast not in shares or not np.isfinite(shares[contrast]):
            continue
        row = np.array([float(atom[j]) for atom in atoms])
        half = step / 2 * whole
        floor = max((at_least or {}).get(contrast, 0.0), shares[contrast] * whole - half)
        rows.append(row)
        low.append(np.ceil(floor - 1e-6) if step else shares[contrast] * whole)
        high.append(np.floor(shares[contrast] * whole + half + 1e-6) if step else shares[contrast] * whole)
    constraint = LinearConstraint(np.array(rows), np.array(low) - 1e-6, np.array(high) + 1e-6)
    targets = {f"persons in cells flagged {''.join('x' if f else '.' for f in atom)}": np.eye(len(atoms))[i]
               for i, atom in enumerate(atoms)}  # fmt: skip
    for j, contrast in enumerate(contrasts):
        flagged = np.array([float(atom[j]) for atom in atoms])
        targets[f"{contrast}: flagged persons"] = flagged
        targets[f"{contrast}: unflagged persons"] = 1 - flagged
    out = []
    for what, objective in targets.items():
        bounds = []
        for sign in (1, -1):
            result = milp(sign * objective, constraints=constraint, integrality=np.ones(len(atoms)),
                          bounds=Bounds(0, np.inf))  # fmt: skip
            if result.status != 0:
                return []
            bounds.append(sign * result.fun)
        out.append((what, bounds[0], bounds[1]))
    return out


def check_shares(folder: Folder) -> tuple[list[str], set[str]]:
    findings, outputs = [], set()
    for fit in folder.fits:
        overall = fit.levels.get(OVERALL)
        totals = folder.cohort.get(fit.fit)
        if overall is None:
            continue
        for name, variable in fit.variables.items():
            if variable.role != "share" or name not in overall or "contrast" not in overall[name].dims:
                continue
            outputs.add(fit.file)
            if totals is None:
                continue  # no whole-cohort total to scale the shares by
            whole = float(totals.loc[totals["level"] == OVERALL, "persons"].iloc[0])
            share = overall[name]
            step = float(share.attrs.get("rounded_to", 0.0))
            at_least = _flagged_persons(folder, fit, totals)
            extra = [d for d in share.dims if d != "contrast"]
            for index in itertools.product(*(share[d].values for d in extra)):
                values = share.sel(dict(zip(extra, index, strict=True)))
                shares = {str(c): float(v) for c, v in zip(values["contrast"].values, values.values,
                                                            strict=True)}  # fmt: skip
                for what, low, high in share_bounds(shares, step, whole, at_least):
                    if bounded_small(low, high, folder.min_count):
                        where = f"{name}{index or ''}"
                        findings.append(f"{fit.file}: {where}: {what} between {low:g} and {high:g}")
    return findings, outputs


def _flagged_persons(folder: Folder, fit: ReleasedFit, totals: pd.DataFrame) -> dict[str, float]:
    """Per contrast, the recovered persons of unmerged levels flagged for it (a flag role at a factor's
    level): every cell of such a level is flagged, so the contrast's flagged persons are at least these."""
    out: dict[str, float] = {}
    for factor in fit.factors:
        own = {g for g, group in folder.grouping_of(factor, fit.fit).items() if g == group}
        persons = totals[totals["level"] == level_label(factor)].set_index("group")["persons"]
        for name, variable in fit.variables.items():
            level = fit.levels[factor]
            if variable.role != "flag" or name not in level or "contrast" not in level[name].dims:
                continue
            flags = level[name].transpose("contrast", factor)
            for contrast, row in zip(flags["contrast"].values, flags.values, strict=True):
                groups = [str(g) for g, flagged in zip(flags[factor].values, row, strict=True)
                          if flagged and str(g) in own]  # fmt: skip
                out[str(contrast)] = max(out.get(str(contrast), 0.0), float(persons.reindex(groups).sum()))
    return out


# --- integer linear programming on merged and suppressed counts ---------------------------------------------


def check_bounds(folder: Folder) -> tuple[list[str], set[str]]:
    findings, outputs = [], set()
    for fit in folder.fits:
        programme = Programme.of(folder, fit)
        if programme is None:
            continue
        outputs |= {fit.file} | ({COUNTS_FILE} if programme.has_counts else set())
        for what, parts in programme.targets(folder).items():
            low, high = programme.bounds(parts, folder.min_count)
            if low is not None and bounded_small(low, high, folder.min_count):
                findings.append(f"{fit.fit}: {what} between {low:g} and {high:g} (from the released margins)")
    return findings, outputs


@dataclass
class System:
    """Whole non-negative unknowns and the released equalities on them (``matrix @ x = values``)."""

    size: int
    rows: list[list[int]] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    built: LinearConstraint | None = None
    solved: dict[tuple[int, ...], tuple[float, float] | None] = field(default_factory=dict)

    def add(self, columns: list[int], value: float) -> None:
        if columns:
            self.rows.append(columns)
            self.values.append(value)

    def constraint(self) -> LinearConstraint:
        """The equalities as one constraint (built once: every target's programmes share it)."""
        if self.built is None:
            indices = [column for columns in self.rows for column in columns]
            pointers = np.cumsum([0, *(len(columns) for columns in self.rows)])
            matrix = sparse.csr_matrix((np.ones(len(indices)), indices, pointers),
                                       shape=(len(self.rows), self.size))  # fmt: skip
            self.built = LinearConstraint(matrix, self.values, self.values)
        return self.built


@dataclass
class Programme:
    """One fit's counts as unknowns per cell of its factors' levels (merged ones included): per arm and
    category the persons with the outcome observed, and the persons with it unobserved (all arms), each
    arm and the unobserved a separate system when the released numbers let them be (the cohort persons of
    a group minus its persons per arm is the group's unobserved persons); every released number of the fit
    an equality on them."""

    factors: list[str]
    cells: list[tuple]
    arms: list[str]
    atoms: list[str]
    categories: list[str]
    has_counts: bool
    systems: dict[str, System]
    index: dict[tuple, tuple[str, int]]
    blanks: list = field(default_factory=list)
    #: the fit file whose counts these are (its groupings are the release's or its own)
    fit: str | None = None

    @classmethod
    def of(cls, folder: Folder, fit: ReleasedFit) -> Programme | None:
        recorded = folder.record.get("fits", {}).get(fit.fit, {}).get("factors", fit.factors)
        factors = [f for f in recorded if f in folder.groupings]
        counts = folder.counts[folder.counts["fit"] == fit.fit]
        totals = folder.cohort.get(fit.fit)
        groupings = {f: folder.grouping_of(f, fit.fit) for f in factors}
        left_open = [f for f in factors if folder.suppressed(f, fit.fit)
                     or any(g != lv for lv, g in groupings[f].items())]  # fmt: skip
        blanked = bool(counts[["persons", "count"]].isna().to_numpy().any())
        if not factors or not (left_open or blanked) or (counts.empty and totals is None):
            return None
        cells = list(itertools.product(*(sorted(groupings[f]) for f in factors)))
        if len(cells) > 20_000:
            return None
        categories = sorted(set(counts["category"])) or [ANY_CATEGORY]
        atoms = categories if _categories_partition(counts) else [*categories, "rest"]
        arms = sorted(set(counts["arm"])) if len(counts) else [ALL_ARMS]
        programme = cls(factors, cells, arms, atoms, categories, bool(len(counts)), {}, {}, fit=fit.fit)
        programme.blanks = list(counts[counts[["persons", "count"]].isna().any(axis=1)].itertuples())
        programme.build(folder, counts, totals)
        return programme

    def members(self, folder: Folder, level: str, group: str) -> list[tuple]:
        if level == OVERALL:
            return self.cells
        factor = level.removeprefix("by_")
        if factor not in self.factors:
            return []
        axis, grouping = self.factors.index(factor), folder.grouping_of(factor, self.fit)
        return [c for c in self.cells if grouping.get(c[axis], c[axis]) == group]

    def build(self, folder: Folder, counts: pd.DataFrame, totals: pd.DataFrame | None) -> None:
        persons = {(r.level, r.group, r.arm): r.persons for r in counts.itertuples()}
        split = totals is None or all(
            np.isfinite(persons.get((row.level, row.group, arm), np.nan))
            for row in totals.itertuples() for arm in self.arms
        ) or not self.has_counts  # fmt: skip
        names = [*self.arms, "unobserved"] if split else ["all"]
        self.systems = {name: System(0) for name in names}
        for arm in self.arms:
            system = self.systems[arm if split else "all"]
            for cell in self.cells:
                for atom in self.atoms:
                    self.index[(cell, arm, atom)] = (arm if split else "all", system.size)
                    system.size += 1
        if totals is not None and self.has_counts:
            system = self.systems["unobserved" if split else "all"]
            for cell in self.cells:
                self.index[(cell, "unobserved", "")] = ("unobserved" if split else "all", system.size)
                system.size += 1
        for row in counts.itertuples():
            inside = self.members(folder, row.level, row.group)
            system = self.systems[row.arm if split else "all"]
            if np.isfinite(row.persons):
                system.add([self.index[(c, row.arm, a)][1] for c in inside for a in self.atoms], row.persons)
            if np.isfinite(row.count) and row.category in self.atoms:
                system.add([self.index[(c, row.arm, row.category)][1] for c in inside], row.count)
        for row in totals.itertuples() if totals is not None else ():
            inside = self.members(folder, row.level, row.group)
            if split and self.has_counts:
                observed = sum(persons[(row.level, row.group, arm)] for arm in self.arms) if inside else 0
                columns = [self.index[(c, "unobserved", "")][1] for c in inside]
                self.systems["unobserved"].add(columns, row.persons - observed)
                continue
            system = self.systems[self.arms[0] if split else "all"]
            columns = [self.index[(c, arm, a)][1] for c in inside for arm in self.arms for a in self.atoms]
            if not split:
                columns += [self.index[(c, "unobserved", "")][1] for c in inside if self.has_counts]
            system.add(columns, row.persons)

    def targets(self, folder: Folder) -> dict[str, list[tuple[str, int]]]:
        """Each level of a merged group or suppressed factor, per arm and category (persons, count,
        persons - count), its persons with the outcome unobserved and its cohort persons. The levels of one
        merged group sit in the same released margins, so the programme cannot tell them apart and their
        bounds are the same: one level stands for its group."""
        targets = {}
        for axis, factor in enumerate(self.factors):
            suppressed = folder.suppressed(factor, self.fit)
            standing = {}
            for level, group in sorted(folder.grouping_of(factor, self.fit).items()):
                if group != level or suppressed:
                    standing.setdefault(None if suppressed else group, level)
            for group, level in standing.items():
                inside = [c for c in self.cells if c[axis] == level]
                where = f"{factor} {level} (as every level of {group or 'the factor'})"
                everyone = [self.index[(c, arm, a)] for c in inside for arm in self.arms for a in self.atoms]
                unobserved = [self.index[(c, "unobserved", "")] for c in inside
                              if (c, "unobserved", "") in self.index]  # fmt: skip
                if self.has_counts:
                    for arm in self.arms:
                        targets[f"{where}, {arm}: persons"] = [self.index[(c, arm, a)] for c in inside
                                                               for a in self.atoms]  # fmt: skip
                        for category in self.categories:
                            named = _category(category, "")
                            label = f"{where}, {arm}" + (f", {named}" if named else "")
                            targets[f"{label}: count"] = [self.index[(c, arm, category)] for c in inside]
                            targets[f"{label}: persons - count"] = [
                                self.index[(c, arm, a)] for c in inside for a in self.atoms if a != category
                            ]
                    if unobserved:
                        targets[f"{where}: persons with the outcome unobserved"] = unobserved
                if unobserved or not self.has_counts:
                    targets[f"{where}: cohort persons"] = everyone + unobserved
        for row in self.blanks:  # counts left blank in counts.csv
            inside = self.members(folder, row.level, row.group)
            if not np.isfinite(row.persons):
                columns = [self.index[(c, row.arm, a)] for c in inside for a in self.atoms]
                targets[f"{row.level}/{row.group}, {row.arm}: persons (blank)"] = columns
            if not np.isfinite(row.count) and row.category in self.atoms:
                columns = [self.index[(c, row.arm, row.category)] for c in inside]
                targets[f"{row.level}/{row.group}, {row.arm}: count (blank)"] = columns
        return targets

    def bounds(self, parts: list[tuple[str, int]], min_count: int) -> tuple[float | None, float | None]:
        """Min and max of the sum of ``parts`` over whole non-negative unknowns meeting every released
        equality, summed over the independent systems: the linear programme first (HiGHS); the integer
        programme where the linear one leaves open whether a whole count is inside 1..min_count - 1."""
        low = high = 0.0
        for name in dict.fromkeys(system for system, _ in parts):
            columns = [column for system, column in parts if system == name]
            bounds = _system_bounds(self.systems[name], tuple(columns), min_count)
            if bounds is None:
                return None, None
            low, high = low + bounds[0], high + bounds[1]
        return low, high


def _categories_partition(counts: pd.DataFrame) -> bool:
    """Whether a fit's categories split its persons (counts over categories sum to the persons)."""
    overall = counts[counts["level"] == OVERALL]
    if overall.empty:
        return True
    summed = overall.groupby("arm").agg(persons=("persons", "first"), count=("count", "sum"))
    return bool(np.allclose(summed["persons"], summed["count"]))


def _system_bounds(system: System, columns: tuple[int, ...], min_count: int) -> tuple[float, float] | None:
    if columns not in system.solved:
        system.solved[columns] = _solve(system, columns, min_count)
    return system.solved[columns]


def _solve(system: System, columns: tuple[int, ...], min_count: int) -> tuple[float, float] | None:
    if not system.rows:
        return 0.0, np.inf
    objective = np.zeros(system.size)
    objective[list(columns)] = 1.0
    constraint = system.constraint()
    bounds = []
    for integral in (False, True):
        bounds = []
        for sign in (1, -1):
            result = milp(sign * objective, constraints=constraint, bounds=Bounds(0, np.inf),
                          integrality=np.full(system.size, int(integral)),
                          options={"time_limit": 10})  # fmt: skip
            if result.status != 0 and result.x is None:
                return None
            bounds.append(sign * result.fun if result.status == 0 else sign * np.inf)
        low, high = bounds
        settled = high < 1 - 1e-6 or low > min_count - 1 + 1e-6 or bounded_small(low, high, min_count)
        open_above = np.ceil(low - 1e-6) >= 1 and high < 2 * min_count  # whole numbers may lower the top
        open_below = np.floor(high + 1e-6) <= min_count - 1 and low > 1e-9
        if integral or settled or not (open_above or open_below):
            break
    return bounds[0], bounds[1]


# --- cost-effectiveness ------------------------------------------------------------------------------------


def check_cost_effectiveness(folder: Folder) -> tuple[list[str], set[str]]:
    findings = []
    released = {str(fit.tree.attrs.get("fit_sha256", "")): fit for fit in folder.fits}
    for name, tree in folder.cea.items():
        result = tree[CEA_GROUP].ds
        wanted = [h.strip() for h in str(tree.attrs.get("fits_sha256", "")).split(",") if h.strip()]
        missing = [h for h in wanted if h not in released]
        if not wanted or missing:
            findings.append(f"{name}: released without the fits it was computed from (matched by SHA-256)")
            continue
        sources = [released[h] for h in wanted]
        classes = folder.released_groups(CEA_CLASSES)
        merged = not classes or any(g != lv for fit in [None, *(f.fit for f in folder.fits)]
                                    for lv, g in folder.grouping_of(CEA_CLASSES, fit).items())  # fmt: skip
        outside = sorted(_class_labels(result) - classes)
        if outside:
            findings.append(f"{name}: by-class quantities of {outside[:3]}, not released class groups")
        if merged:
            findings.append(f"{name}: released with merged classes (its overall quantities are "
                            "cohort-weighted means of class inputs the shipped assumptions regenerate: least "
                            "squares gives each class's persons)")  # fmt: skip
        if "assumptions_text" in result.attrs and (merged or not classes):
            findings.append(f"{name}: the assumptions text (its seed regenerates the class costs, whose "
                            "cohort-weighted mean is released) with merged classes")  # fmt: skip
        findings += _tornado_findings(folder, name, result, sources, classes)
        findings += _cohort_size_findings(folder, name, result, folder.fits)  # against every fit's totals
        if "other_benefits_paid" in result:
            findings += _priced_state_findings(name, sources)
    return findings, set(folder.cea)


def _priced_state_findings(name: str, sources: list) -> list[str]:
    """A result that prices other benefits next to a fit whose states are merged by Werkverkenner class
    (its class level holds other states than its overall level): the result's by-class numbers price each
    benefit at its own amount, so they would split the merged states again."""
    findings = []
    for fit in sources:
        overall, by_class = fit.levels.get(OVERALL), fit.levels.get(CEA_CLASSES)
        if any(level is None or "state" not in level.coords for level in (overall, by_class)):
            continue
        if set(map(str, by_class["state"].values)) != set(map(str, overall["state"].values)):
            findings.append(f"{name}: prices the benefit months of {fit.file}, whose states are merged by "
                            "class: its by-class numbers would split them again")  # fmt: skip
    return findings


def _class_labels(result: xr.Dataset) -> set[str]:
    """The classes a cost-effectiveness result says anything about one by one."""
    labels = set(map(str, result[CEA_CLASSES].values)) if CEA_CLASSES in result.coords else set()
    if "rule" in result.coords:
        rules = map(str, result["rule"].values)
        labels |= {c for rule in rules for c in rule.split("+") if c != "none served"}
    return labels | set(_tornado_classes(result).values())


def _tornado_classes(result: xr.Dataset) -> dict[str, str]:
    """Tornado inputs of one class (``service_cost[<class>]``): input -> class."""
    if "input" not in result.coords:
        return {}
    found = {}
    for label in map(str, result["input"].values):  # other inputs in brackets (other_benefit_monthly[zw])
        match = re.fullmatch(r"service_cost\[(.+)\]", label)  # are no class's
        if match:
            found[label] = match.group(1)
    return found


def _tornado_findings(folder, name, result, sources, classes) -> list[str]:
    """A tornado row of one class's input moves the overall net benefit by the class's share of the cohort
    times the input's spread: its share, times the cohort persons, is the class's persons."""
    findings = []
    wanted = ("tornado_net_benefit_at_q05", "tornado_net_benefit_at_q95", "tornado_input_q05",
              "tornado_input_q95")  # fmt: skip
    if not all(v in result for v in wanted):
        return []
    totals = [folder.cohort.get(s.fit) for s in sources if folder.cohort.get(s.fit) is not None]
    for label, cls in _tornado_classes(result).items():
        row = result.sel(input=label)
        spread = float(row["tornado_input_q95"] - row["tornado_input_q05"])
        if not spread:
            continue
        share = float(row["tornado_net_benefit_at_q05"] - row["tornado_net_benefit_at_q95"]) / spread
        persons = f"{share * float(totals[0].iloc[0]['persons']):.1f} persons" if totals else "a share"
        if cls not in classes:
            findings.append(f"{name}: tornado row {label} gives class {cls}'s share of the cohort "
                            f"({share:.4f}: {persons}), not a released class group")  # fmt: skip
    return findings


def _cohort_size_findings(folder, name, result, sources) -> list[str]:
    """The cohort size (an attribute, or a ``_cohort`` total over its per-participant mean) against every
    whole-cohort total released: the cohort persons of the fits (weights recovery gives the smallest whole
    total; any multiple of it fits the shares as well, so the multiple nearest the size is taken) and the
    persons of every set of arms."""
    sizes = {}  # where a cohort size is read -> the size
    if "cohort_size" in result.attrs:
        sizes["cohort size"] = float(result.attrs["cohort_size"])
    with contextlib.suppress(Exception):  # the assumptions as released name one too
        sizes["assumptions' cohort size"] = float(
            tomllib.loads(str(result.attrs["assumptions_text"]))["cohort_size"]
        )
    for variable in result.data_vars:
        base = variable.removesuffix(COHORT_SUFFIX)
        if not sizes and variable.endswith(COHORT_SUFFIX) and base in result:
            ratio = (result[variable] / result[base]).values
            ratio = ratio[np.isfinite(ratio)]
            if ratio.size:
                sizes["cohort size"] = float(np.median(ratio))
    if not sizes:
        return []
    totals = {}
    for source in sources:
        recovered = folder.cohort.get(source.fit)
        if recovered is not None:
            # the shares fit any multiple of the smallest whole total: the one nearest a size is a candidate
            smallest = float(recovered.iloc[0]["persons"])
            for size in sizes.values():
                multiple = max(1.0, round(size / smallest)) if smallest > 0 else 1.0
                totals[f"{source.fit} cohort persons ({multiple:g} x {smallest:g})"] = multiple * smallest
        overall = folder.counts[(folder.counts["fit"] == source.fit) & (folder.counts["level"] == OVERALL)]
        for _, rows in overall.groupby("category"):
            persons = rows.set_index("arm")["persons"]
            for size_of in range(1, len(persons) + 1):
                for arms in itertools.combinations(persons.index, size_of):
                    totals[f"{source.fit} persons of {'+'.join(arms)}"] = float(persons[list(arms)].sum())
    return [f"{name}: {where} {size:g} differs from {what} by {abs(size - value):g}"
            for where, size in sizes.items() for what, value in totals.items()
            if breaks_rule([round(abs(size - value))], folder.min_count)[0]]  # fmt: skip


#: HDF5 attributes the netCDF C library keeps for itself in a NetCDF-4 file (dimension scales, dimension ids,
#: the library's properties) and xarray's marker of a boolean variable: a netCDF reader does not show them,
#: so the ``hdf5`` check holds each to its form (:func:`hidden_attribute_problem`).
NETCDF_HIDDEN = ("_NCProperties", "_Netcdf4Dimid", "_Netcdf4Coordinates", "DIMENSION_LIST", "REFERENCE_LIST",
                 "CLASS", "NAME", "_FillValue", "dtype", "_nc3_strict", "_IsNetcdf4")  # fmt: skip
NC_PROPERTIES = re.compile(r"version=\d+,(netcdf=[\d.]+,hdf5=[\d.]+|h5netcdf=[\d.]+,hdf5=[\d.]+,h5py=[\d.]+)")
DIMENSION_ONLY = "This is a netCDF dimension but not a netCDF variable."
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def hidden_attribute_problem(name: str, value, own_name: str, n_dims: int) -> str | None:
    """Why a hidden attribute ``name`` of the HDF5 object ``own_name`` is not of the form the netCDF library
    writes (None when it is); ``n_dims``: the dimension scales in the file."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes | np.bytes_) else value
    if name == "_NCProperties":
        return None if isinstance(text, str) and NC_PROPERTIES.fullmatch(text) else "not the library's text"
    if name == "CLASS":
        return None if text == "DIMENSION_SCALE" else "not DIMENSION_SCALE"
    if name == "NAME":
        dimension_text = re.fullmatch(rf"{re.escape(DIMENSION_ONLY)} *\d+", str(text))
        ok = isinstance(text, str) and (text == own_name or dimension_text is not None)
        return None if ok else "neither the dataset's own name nor the netCDF library's dimension text"
    if name in ("_Netcdf4Dimid", "_Netcdf4Coordinates", "_nc3_strict", "_IsNetcdf4"):
        ids = np.atleast_1d(np.asarray(value))
        bound = n_dims if name != "_nc3_strict" and name != "_IsNetcdf4" else 2
        ok = (
            ids.dtype.kind in "iu" and ids.size <= max(n_dims, 1) and bool(((ids >= 0) & (ids < bound)).all())
        )
        return None if ok else f"not dimension ids below {bound}"
    if name in ("DIMENSION_LIST", "REFERENCE_LIST"):
        return None  # object references to the dimension scales: h5py reads them as references, not numbers
    if name == "_FillValue":
        fill = np.atleast_1d(np.asarray(value))
        ok = fill.size == 1 and np.issubdtype(fill.dtype, np.floating) and bool(np.isnan(fill).all())
        return None if ok else "a fill value other than NaN"
    if name == "dtype":
        return None if text == "bool" else "not the boolean marker"
    return "not an attribute the netCDF library writes"


def hdf5_findings(name: str, path: Path, tree: xr.DataTree) -> list[str]:
    """What the HDF5 file ``path`` holds beyond its netCDF view ``tree``: bytes outside the HDF5 file (a user
    block, bytes after its end), objects the view does not show (links, named types, datasets that are
    neither a variable nor a dimension), and attributes it hides that are not the netCDF library's own."""
    import struct

    import h5py

    findings = []
    with path.open("rb") as stream:
        head = stream.read(64)
    size = path.stat().st_size
    if not head.startswith(HDF5_SIGNATURE):
        return [f"{name}: does not start with the HDF5 signature (a user block or another format)"]
    version, offsets = head[8], head[9]
    if version in (2, 3) and offsets == 8:
        base, end = struct.unpack_from("<Q", head, 12)[0], struct.unpack_from("<Q", head, 12 + 2 * offsets)[0]
        if base != 0 or end != size:
            findings.append(f"{name}: {size - end} bytes after the end of its HDF5 data (or a base address)")
    else:
        findings.append(f"{name}: an HDF5 superblock of version {version} (the netCDF library writes 2 or 3)")
    shown = {node.path.rstrip("/") or "/": node for node in tree.subtree}
    with h5py.File(path, "r") as file:
        scales = []
        file.visititems(lambda _, obj: scales.append(obj) if obj.attrs.get("CLASS") is not None else None)

        def attributes(obj, visible: set[str], where: str) -> None:
            for key in obj.attrs:
                if key in visible:
                    continue
                if key not in NETCDF_HIDDEN:
                    findings.append(f"{name}: {where}: attribute {key!r} that a netCDF reader does not show")
                    continue
                try:
                    value = obj.attrs[key]
                except Exception as error:  # noqa: BLE001 - an attribute h5py cannot read is not one netCDF writes
                    findings.append(f"{name}: {where}: attribute {key!r} unreadable ({type(error).__name__})")
                    continue
                problem = hidden_attribute_problem(key, value, obj.name.rsplit("/", 1)[-1], len(scales))
                if problem:
                    findings.append(f"{name}: {where}: hidden attribute {key!r}: {problem}")

        def walk(group, where: str) -> None:
            node = shown.get(where)
            if node is None:
                findings.append(f"{name}: HDF5 group {where} that the netCDF view does not show")
                return
            attributes(group, set(node.attrs), where)
            for key in group:
                link = group.get(key, getlink=True)
                inner = f"{where.rstrip('/')}/{key}"
                if not isinstance(link, h5py.HardLink):
                    findings.append(f"{name}: {inner}: a {type(link).__name__} (not a group or variable)")
                    continue
                obj = group[key]
                if isinstance(obj, h5py.Group):
                    walk(obj, inner)
                elif not isinstance(obj, h5py.Dataset):
                    findings.append(f"{name}: {inner}: a {type(obj).__name__} (not a group or variable)")
                elif key in node.ds.variables:
                    attributes(obj, set(node.ds[key].attrs), inner)
                elif str(obj.attrs.get("NAME", b"")).find(DIMENSION_ONLY) >= 0:
                    attributes(obj, set(), inner)
                    if obj.id.get_storage_size():  # the library allocates no data for a dimension alone
                        findings.append(f"{name}: {inner}: a dimension holding data the netCDF view hides")
                else:
                    findings.append(f"{name}: {inner}: an HDF5 dataset that the netCDF view does not show")

        walk(file, "/")
    return findings


def rewritten_findings(name: str, path: Path) -> list[str]:
    """Whether the file ``path`` is byte for byte what the package writes for its netCDF view: read, written
    again as a release writes it (:func:`ww_bayes.data.io.to_netcdf`) and compared. Whatever the view does
    not show changes bytes: free space, padding of a chunk beyond the extent, a dataset's fill value,
    filter parameters, the order of objects. A file written with another version of the netCDF or HDF5
    library differs too: audit with the environment that released."""
    written = path.read_bytes()
    with tempfile.TemporaryDirectory() as scratch:
        again = Path(scratch) / name
        to_netcdf(load_datatree(path), again)
        expected = again.read_bytes()
    if written == expected:
        return []
    first = next((i for i, (a, b) in enumerate(zip(written, expected, strict=False)) if a != b),
                 min(len(written), len(expected)))  # fmt: skip
    return [
        f"{name}: not the bytes the package writes for what a netCDF reader sees ({len(written)} bytes "
        f"against {len(expected)}, first difference at byte {first}; a file written by another netCDF or "
        "HDF5 version differs as well: audit with the environment that released)"
    ]


def check_hdf5(folder: Folder) -> tuple[list[str], set[str]]:
    findings = []
    for name, tree in folder.trees.items():
        findings += hdf5_findings(name, folder.path / name, tree)
        findings += rewritten_findings(name, folder.path / name)
    return findings, set(folder.trees)


#: The checks in the order they run (later ones use what weights recovery finds): key -> (text, check).
CHECKS: dict[str, tuple[str, Callable[[Folder], tuple[list[str], set[str]]]]] = {
    "files": (f"every file is listed in {CHECKS_FILE} with its SHA-256, and every listed file is there",
              check_files),
    "groups": (f"no group holding counts or letting them be computed ({', '.join(WITHHELD_GROUPS)})",
               check_groups),
    "declared": ("every level, variable, dim and attribute is one the model kind declares or the release "
                 "whitelists, each variable of its role's type and range", check_declared),
    "labels": ("every dim is a sample dim, a dim its model kind declares or a grouping factor merged for "
               "the release, and every level table holds only the groups its fit's grouping releases",
               check_labels),
    "record": (f"{CHECKS_FILE} of its layout, every sentence one the release writes and every check passed; "
               "each disclosure report the one it renders", check_record),
    "text": ("attributes, tables and figure metadata: no file paths, no user names, no small counts",
             check_text),
    "hdf5": ("every NetCDF file is what a netCDF reader sees, byte for byte as the package writes it: no "
             "bytes outside its HDF5 data, no object or attribute the netCDF library does not show but its "
             "own, each of its form", check_hdf5),
    "forms": ("every attribute and label of its form: names, hashes, versions, known values, a convergence "
              "report, prose a phrase of the package's source without digits; every number stored as a "
              "number", check_forms),
    "tables": ("every table but counts.csv is the one the release computes from a released file, number for "
               "number", check_tables),
    "figures": ("every figure is the one the release draws from a released file, byte for byte",
                check_figures),
    "probabilities": ("every probability is the share of its estimand's released draws in which its event "
                      "holds, computed again", check_probabilities),
    "counts": ("every released count: persons, each category's count and persons - count 0 or at least {m}; "
               "each factor's groups adding up to the overall row",
               check_counts),
    "weights": ("weights recovery: persons per released group from every population-weighted estimand "
                "(least squares on the draws, the smallest whole total), each 0 or at least {m}",
                check_weights),
    "differences": ("differencing: persons, counts, persons - count and recovered persons of every released "
                    "group and arm, between every two fits and within a fit, differ by 0 or at least {m}; "
                    "and the persons of any fit or of the cohort less two or three other fits' counts "
                    "(overall rows rebuilt from a factor's groups where a fit has none)",
                    check_differences),
    "shares": ("inclusion-exclusion of shares: no pattern of flagged cells, nor a contrast's flagged or "
               "unflagged persons, bounded inside 1..{below} by the released shares", check_shares),
    "bounds": ("integer linear programming: no merged or suppressed count (each merged level per arm and "
               "category, its cohort persons) bounded inside 1..{below} by the released margins",
               check_bounds),
    "cost_effectiveness": ("cost-effectiveness: released with its fits (SHA-256), by class only for released "
                           "class groups, its cohort size 0 or at least {m} from every released total, other "
                           "benefits priced only where no state is merged by class",
                           check_cost_effectiveness),
}  # fmt: skip
#: The checks run once more on the folder as finally written (its record with the audit's results, the
#: reports rendered from it).
FINAL_CHECKS = ("files", "record", "text")


__all__ = [
    "MIN_COUNT",
    "Audit",
    "AuditError",
    "Check",
    "audit",
    "breaks_rule",
    "count_facts",
    "fact_failures",
    "opposite_failures",
    "recover_cohort",
    "smallest_total",
]
