"""The record of a release (``disclosure_checks.json``) and the disclosure reports rendered from it.

A record holds names, hashes, numbers and sentences; every sentence is one of :data:`NOTES` with each
field of its form (:data:`FIELDS`), written through :func:`note`, so a record can carry no text the release
did not write. The reports (``disclosure_report.md`` / ``.html``) are rendered from the record alone
(:func:`report_texts`), so the audit can render them again and compare them byte for byte;
:func:`record_problems` checks a record's layout, its sentences and its checks.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

COUNTS_FILE = "counts.csv"
#: The machine-readable record of the release: the rule, the grouping, each output with its checks.
CHECKS_FILE = "disclosure_checks.json"
REPORT_FILES = ("disclosure_report.md", "disclosure_report.html")
RECORD_FORMAT = "ww_bayes disclosure checks 7"
#: The record's verdict while the release is built (the audit's results are not in it yet), and after.
BUILDING, PASSED = "not checked", "pass"
RULE_TEXT = ("persons, each category's count and persons - count of every released group and arm; cohort "
             "persons per released group; differences between fits and from the cohort persons")  # fmt: skip

#: A name: of a file, a variable, a factor, a kind.
NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
NAMES = rf"{NAME}(?:, {NAME})*"
#: The form of each field of a sentence of :data:`NOTES`.
FIELDS = {
    "file": NAME,
    "files": NAMES,
    "name": NAME,
    "names": NAMES,
    "kind": NAME,
    "level": NAME,
    "factor": NAME,
    "stem": NAME,
    "merged": rf"other {NAME}(?: levels)?",
    "number": r"[0-9]+",
    "total": r"[0-9]+",
    "window": r"[0-9]+",
    "below": r"[0-9]+",
    "step": r"[0-9]+%",
    "persons": r"[0-9]{1,3}(?:,[0-9]{3})*",
    "slices": rf"{NAME} month [0-9]+(?:, {NAME} month [0-9]+)*",
    "merged_categories": rf"{NAMES} into {NAME}(?:; {NAMES} into {NAME})*",
}
#: Every sentence a record holds, by where it goes: ``withheld`` (files of the results folder not released),
#: ``suppressed`` (what released files leave out), ``why`` (why a level was merged), ``holds`` (what an output
#: file holds). A sentence marked ``per_file`` is written after the name of the fit it is about.
NOTES: dict[str, dict[str, str]] = {
    "withheld": {
        "other_data": "{file}: not released (its whole-cohort persons differ from those of {files} by fewer "
                      "than {window}, twice the minimum count: fits on other data are released only when "
                      "their differences are 0 or at least that)",
        "not_a_result": "{file}: not a ww_bayes result",
        "unreadable": "{file}: not readable as a ww_bayes result of this version (ww-bayes report on the "
                      "results folder gives the reason)",
        "cea_no_sources": "{file}: not released: it does not record the fits it was computed from",
        "cea_sources_missing": "{file}: not released: {number} of the {total} fits it was computed from are "
                               "not released with it (matched by SHA-256); release it with them",
        "cea_months": "{file}: not released (months of {files} are suppressed, and the cost-effectiveness "
                      "sums over them)",
        "cea_merged_states": "{file}: not released (it prices the benefit months of {files} per class, "
                             "whose states this release merges by class: the benefits' own amounts would "
                             "split them again)",
        "dominated": "{file}: not released (the hours of an arm of the whole cohort break the dominance "
                     "rule for amounts)",
    },
    "suppressed": {
        "counts_withheld": COUNTS_FILE + ", {file}: not released (its whole-cohort persons or counts "
                           "differ from another fit's, or from its cohort persons, by fewer than {window}, "
                           "twice the minimum count)",
        "opposite_withheld": COUNTS_FILE + ", {file} {level}: not released (with them, the persons of a "
                             "fit or of the cohort less the counts of two or three fits would be below "
                             "{window}, twice the minimum count, in some group and arm: of outcomes that "
                             "exclude each other, that number is the persons with none; the fits before it: "
                             "{files})",
        "counted_fits": COUNTS_FILE + ", {file} {level}: not released ({number} fits' counts are released "
                        "at this level already: the differencing takes counts of up to three fits at a time)",
        "categories_merged": "{file}: {names} by {factor}: released with categories merged first ({merged_"
                             "categories}), each because a member breaks the rule in some group and arm",
        "groups_withheld": COUNTS_FILE + ", {file} {level}: not released (its overall counts are not, and "
                           "the groups would add up to them)",
        "fit_grouping": "{file}: by {factor}: {number} more levels released in '{merged}' than in the "
                        "other fits (its own counts break the rule in them, the others' do not; the other "
                        "fits' groups add up to its own, and their differences are checked there)",
        "all_merged": "{factor}: every level needed merging, so '{merged}' is the whole cohort (no subgroup "
                      "estimate of this factor is released)",
        "cells": "{file}: {kind}/cells: not released (its flags describe single cells)",
        "level": "{file}: {kind}/{level}: not released (the {level} groups break the rule even merged)",
        "ratio": "{file}: {name} by {factor}: not released for '{merged}' (not a population-weighted mean of "
                 "its levels)",
        "shares_rounded": "{file}: {names}: released rounded to {step} ({persons} persons or more a step)",
        "shares_withheld": "{file}: {names}: not released (the persons of a pattern of flagged cells over "
                           "the contrasts, which inclusion-exclusion of the shares gives, break the rule)",
        "slices": "{file}: estimates of {slices} not released (an arm of the whole cohort has persons, a "
                  "count or its complement below the minimum count there), nor cumulative effects from "
                  "those months on",
        "month_counts": "{file}: counts per month not released (differences between months would describe "
                        "the few persons whose outcome is unobserved in a month)",
        "cea_classes": "withheld {file}: not released (classes merged: its overall quantities are "
                       "cohort-weighted means of class inputs the shipped assumptions regenerate, which give "
                       "each class's persons)",
        "cea_cohort": "{file}: cohort size and cohort totals not released (the cohort size is within {below} "
                      "of a released whole-cohort total)",
    },
    "why": {
        "rule": "an arm with persons, a count or its complement between 1 and {below}, or a count-like "
                "number differing by 1 to {below} between fits or from its cohort persons, or hours that "
                "break the dominance rule",
        "smallest": "added so that '{merged}' passes the rule (smallest remaining level)",
    },
    "holds": {
        "estimates": "posterior draws of the {kind} estimands and the convergence table",
        "summary": "summary of the estimates",
        "figure": "figure drawn from {stem}_summary.csv",
        "counts": "persons per arm and how many of them in each category: overall and released groups, per "
                  "fit file",
        "cea_draws": "posterior draws of the cost-effectiveness quantities",
        "cea_summary": "cost-effectiveness headline numbers",
        "cea_targeting": "targeting rules by expected net benefit",
        "cea_figure": "cost-effectiveness figure: {name}",
    },
}  # fmt: skip


def _template(key: str) -> tuple[str, str]:
    for where, templates in NOTES.items():
        if key in templates:
            return where, templates[key]
    raise KeyError(f"no sentence {key!r} in the record's notes")


def note(key: str, **fields) -> str:
    """The sentence ``key`` of :data:`NOTES` with ``fields`` filled in; a field not of its form is an error
    (a record never carries a value it has no form for)."""
    _, template = _template(key)
    for field, value in fields.items():
        if not re.fullmatch(FIELDS[field], str(value)):
            raise ValueError(f"note {key!r}: field {field} {str(value)[:40]!r} is not of its form")
    return template.format(**fields)


def _pattern(template: str) -> re.Pattern:
    """A template as a regular expression: its text literal, each field of its form (a field used twice
    must be the same both times)."""
    parts, seen = [], set()
    for literal, field in re.findall(r"([^{]*)(?:\{(\w+)\})?", template):
        parts.append(re.escape(literal))
        if field:
            parts.append(f"(?P={field})" if field in seen else f"(?P<{field}>{FIELDS[field]})")
            seen.add(field)
    return re.compile("".join(parts))


PATTERNS = {where: [_pattern(t) for t in templates.values()] for where, templates in NOTES.items()}


def is_note(where: str, text) -> bool:
    """Whether ``text`` is a sentence the release writes in the record's ``where``."""
    return isinstance(text, str) and any(p.fullmatch(text) for p in PATTERNS[where])


# --- the record's layout ------------------------------------------------------------------------------------

RECORD_KEYS = ("format", "made", "ww_bayes", "rule", "verdict", "groupings", "fits", "suppressed", "withheld",
               "checks", "outputs")  # fmt: skip
HEX = r"[0-9a-f]{64}"
MADE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\+00:00"
#: A public version (PEP 440: release, pre, post, dev; no local part, which could hold any words).
VERSION = r"[0-9]+(?:\.[0-9]+)*(?:(?:a|b|rc)[0-9]+)?(?:\.post[0-9]+)?(?:\.dev[0-9]+)?(?:\+unknown)?"
#: A level label of a grouping factor (region names hold spaces, slashes and apostrophes): no digits rule,
#: the text check reads every label for small counts.
LABEL = r"[\w][\w .,'()/&+-]*"


def _keys(where: str, value, keys: Iterable[str]) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: not an object"]
    keys = tuple(keys)
    if tuple(value) != keys:
        return [f"{where}: its keys are {', '.join(map(str, value))[:80]}, not {', '.join(keys)}"]
    return []


def _form(where: str, value, form: str) -> list[str]:
    return [] if isinstance(value, str) and re.fullmatch(form, value) else [f"{where}: not of its form"]


def record_problems(record, checks: dict[str, str], files: set[str], building: bool) -> list[str]:
    """What is wrong with a record (empty if nothing): its layout, every sentence one of :data:`NOTES`,
    every grouping, fit and output of its form; ``checks`` (key -> description) are the checks a passed
    release has run, every one passed without a finding (``building``: the record written before the
    audit, with no checks yet); ``files``: the output files in the folder."""
    problems = _keys(CHECKS_FILE, record, RECORD_KEYS)
    if problems:
        return problems
    verdict = BUILDING if building else PASSED
    problems += [] if record["format"] == RECORD_FORMAT else [f"format: not {RECORD_FORMAT!r}"]
    problems += _form("made", record["made"], MADE) + _form("ww_bayes", record["ww_bayes"], VERSION)
    rule = record["rule"]
    problems += _keys("rule", rule, ("min_count", "applies_to", "dominance"))
    if not problems:
        if not isinstance(rule["min_count"], int) or isinstance(rule["min_count"], bool):
            problems.append("rule: min_count is not a whole number")
        if rule["applies_to"] != RULE_TEXT:
            problems.append("rule: applies_to is not the rule's text")
        problems += _dominance_problems(rule["dominance"])
    problems += [] if record["verdict"] == verdict else [f"verdict: not {verdict!r}"]
    for where in ("suppressed", "withheld"):
        items = record[where]
        if not isinstance(items, list):
            problems.append(f"{where}: not a list")
            continue
        problems += [f"{where}: {str(item)[:60]!r} is not a sentence the release writes"
                     for item in items if not is_note(where, item)]  # fmt: skip
    problems += _grouping_problems(record["groupings"])
    problems += _fit_problems(record["fits"], files)
    problems += [] if problems else _nesting_problems(record["groupings"], record["fits"])
    problems += _check_problems(record["checks"], checks, files, building)
    problems += _output_problems(record["outputs"], record["checks"], files)
    return problems


def _dominance_problems(dominance) -> list[str]:
    problems = _keys("rule dominance", dominance, ("largest", "share", "p_ratio", "min_persons", "source"))
    if problems:
        return problems
    from ww_bayes.release import Dominance, ReleaseError  # here: ww_bayes.release imports this module

    try:  # the rule's own checks: each parameter's range, and a preset's source with its parameters only
        Dominance(dominance["share"], dominance["p_ratio"], dominance["source"], dominance["largest"],
                  dominance["min_persons"])  # fmt: skip
    except ReleaseError as error:
        return [f"rule dominance: {error}"]
    return []


def _grouping_problems(groupings) -> list[str]:
    if not isinstance(groupings, dict):
        return ["groupings: not an object"]
    problems = []
    for factor, grouping in groupings.items():
        where = f"groupings {str(factor)[:30]!r}"
        found = _form(where, factor, NAME) + _keys(
            where, grouping, ("merged_group", "levels", "suppressed", "why")
        )
        if found:
            problems += found
            continue
        merged, levels, why = grouping["merged_group"], grouping["levels"], grouping["why"]
        problems += _form(f"{where} merged_group", merged, FIELDS["merged"])
        if not isinstance(grouping["suppressed"], bool):
            problems.append(f"{where}: suppressed is not true or false")
        if not isinstance(levels, dict) or not isinstance(why, dict):
            problems.append(f"{where}: levels or why is not an object")
            continue
        problems += [f"{where}: level {str(k)[:30]!r} is not a label, or released as another level"
                     for k, v in levels.items()
                     if not re.fullmatch(LABEL, str(k)) or v not in (k, merged)]  # fmt: skip
        problems += [f"{where}: why {str(k)[:30]!r} is not a merged level's sentence the release writes"
                     for k, v in why.items() if levels.get(k) != merged or not is_note("why", v)]  # fmt: skip
    return problems


FIT_KEYS = ("estimates", "factors", "counts_released", "fit_sha256", "data_sha256", "groupings")


def _fit_problems(fits, files: set[str]) -> list[str]:
    if not isinstance(fits, dict):
        return ["fits: not an object"]
    problems = []
    for name, fit in fits.items():
        where = f"fits {str(name)[:40]!r}"
        found = _form(where, name, NAME) + _keys(where, fit, FIT_KEYS)
        if found:
            problems += found
            continue
        if fit["estimates"] not in files:
            problems.append(f"{where}: its estimates are not a file of the folder")
        factors = fit["factors"]
        if not isinstance(factors, list) or not all(
            isinstance(f, str) and re.fullmatch(NAME, f) for f in factors
        ):
            problems.append(f"{where}: factors are not a list of names")
        if not isinstance(fit["counts_released"], bool):
            problems.append(f"{where}: counts_released is not true or false")
        problems += _form(f"{where} fit_sha256", fit["fit_sha256"], HEX)
        problems += _form(f"{where} data_sha256", fit["data_sha256"], f"{HEX}|")
        problems += [f"{where}: {problem}" for problem in _grouping_problems(fit["groupings"])]
    return problems


def _nesting_problems(groupings: dict, fits: dict) -> list[str]:
    """A fit's own grouping must coarsen the release's: a factor of the release, the same levels, every
    level the release merges merged in it too (otherwise a reader subtracts one grouping from the other)."""
    problems = []
    for name, fit in fits.items():
        for factor, own in fit["groupings"].items():
            common = groupings.get(factor)
            where = f"fits {str(name)[:40]!r} groupings {str(factor)[:30]!r}"
            if common is None:
                problems.append(f"{where}: not a grouping factor of the release")
            elif set(own["levels"]) != set(common["levels"]):
                problems.append(f"{where}: not the levels of the release's grouping")
            elif any(
                own["levels"][level] == level for level, group in common["levels"].items() if group != level
            ):
                problems.append(f"{where}: releases a level the release merges (the groupings do not nest)")
    return problems


CHECK_KEYS = ("check", "description", "passed", "seconds", "outputs", "findings")


def _check_problems(record_checks, checks: dict[str, str], files: set[str], building: bool) -> list[str]:
    if not isinstance(record_checks, list):
        return ["checks: not a list"]
    if building:
        return [] if not record_checks else ["checks: a record written before the audit holds none"]
    problems = []
    keys = [c.get("check") if isinstance(c, dict) else None for c in record_checks]
    if keys != list(checks):
        problems.append(f"checks: {', '.join(map(str, keys))[:80]} are not the audit's checks in order")
        return problems
    for check in record_checks:
        where = f"checks {check['check']}"
        found = _keys(where, check, CHECK_KEYS)
        if found:
            problems += found
            continue
        if check["description"] != checks[check["check"]]:
            problems.append(f"{where}: its description is not the check's")
        if check["passed"] is not True or check["findings"] != []:
            problems.append(f"{where}: not passed without findings (a release passes every check)")
        seconds = check["seconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < 1e6:
            problems.append(f"{where}: seconds is not a number of seconds")
        outputs = check["outputs"]
        if not isinstance(outputs, list) or not set(map(str, outputs)) <= files:
            problems.append(f"{where}: outputs are not files of the folder")
    return problems


OUTPUT_KEYS = ("sha256", "holds", "status", "checks", "findings")


def _output_problems(outputs, record_checks, files: set[str]) -> list[str]:
    if not isinstance(outputs, dict):
        return ["outputs: not an object"]
    read_by = {}
    for check in record_checks if isinstance(record_checks, list) else []:
        for name in check.get("outputs", []) if isinstance(check, dict) else []:
            read_by.setdefault(name, []).append({"check": check.get("check"), "passed": check.get("passed")})
    problems = []
    for name, output in outputs.items():
        where = f"outputs {str(name)[:40]!r}"
        found = _keys(where, output, OUTPUT_KEYS)
        if found:
            problems += found
            continue
        problems += _form(f"{where} sha256", output["sha256"], HEX)
        if not is_note("holds", output["holds"]):
            problems.append(
                f"{where}: holds {str(output['holds'])[:60]!r}, not a sentence the release writes"
            )
        if output["status"] != "pass" or output["findings"] != []:
            problems.append(f"{where}: not passed without findings")
        if output["checks"] != read_by.get(name, []):
            problems.append(f"{where}: its checks are not those of the checks that read it")
    return problems


# --- the reports, rendered from the record ----------------------------------------------------------------


def _dominance_text(dominance: dict) -> str:
    share, p_ratio, persons = dominance["share"], dominance["p_ratio"], dominance["min_persons"]
    if dominance["largest"] == 1:
        text = f"the largest hours are at most {share:.0%} of the group's hours"
        named = "the dominance rule on the single largest amount"
    else:
        text = f"the largest and second-largest hours are together at most {share:.0%} of the group's hours"
        named = "the (n, k) dominance rule on the top pair"
    if p_ratio is not None:
        others = "the others" if dominance["largest"] == 2 else "all but the two largest"
        text += f", and the hours of {others} at least {p_ratio:.0%} of the largest"
        named += " and the p% rule"
    if persons is not None:
        text += f", and at least {persons} persons have their hours observed"
        named += ", with a minimum number of persons"
    return (
        "Amounts (hours worked): in every arm of every released group, and all arms together, "
        f"{text} ({named}); otherwise the group is merged, or the fit withheld. Source of the parameters: "
        f"{dominance['source']}."
    )


def _sections(record: dict) -> list[tuple[str, list[str]]]:
    min_count = record["rule"]["min_count"]
    rules = [
        f"Minimum count: {min_count} persons. No released number is based on a group in which an arm has "
        f"persons, or per category of the outcome a count or persons - count, between 1 and {min_count - 1}; "
        "nor can such a number be derived from the folder (the audit below tries).",
        "Every grouping factor in the released estimates is merged: small levels into one named group per "
        "factor, decided once for the whole release; a fit whose own counts need more levels merged than "
        "the others' gets a coarser grouping of its own, which the others' groups add up to.",
        _dominance_text(record["rule"]["dominance"]),
        "Figures are drawn from the released summaries only (the summary CSV beside each figure); the audit "
        "draws them again and compares them byte for byte.",
        "Released: model-based posterior estimates, their summaries and figures, cost-effectiveness draws "
        "and tables (only with the fits they came from), and counts of released groups only. Never "
        "released: person rows, cell counts, log-likelihood, predictive draws, cell parameters, the cohort "
        "composition.",
        "Anything the release has no rule for (a variable, dim, attribute or sentence) refuses the whole "
        "release.",
        f"Every check below, its findings and the files it read are also in {CHECKS_FILE}; this report is "
        "rendered from it.",
    ]
    checks = []
    for check in record["checks"]:
        ok = check["passed"]
        checks.append(f"[{'x' if ok else ' '}] {check['description']}: {'passed' if ok else 'FAILED'} "
                      f"({check['seconds']:.2f} s)")  # fmt: skip
        checks += [f"finding: {finding}" for finding in check["findings"][:20]]
    grouping = []
    owners = [("", record["groupings"])]
    owners += [(f" in {name} only", fit["groupings"])
               for name, fit in record["fits"].items() if fit["groupings"]]  # fmt: skip
    for owner, groupings in owners:
        for factor, chosen in groupings.items():
            merged = [level for level, group in chosen["levels"].items() if group != level]
            if not merged:
                grouping.append(f"{factor}{owner}: no level merged")
                continue
            suppressed = chosen["suppressed"] and " - SUPPRESSED: even merged the group breaks the rule"
            released_as = f"{len(merged)} level(s) released as '{chosen['merged_group']}'"
            grouping.append(f"{factor}{owner}: {released_as}{suppressed or ''}")
            grouping += [f"{factor} {level}{owner}: {chosen['why'].get(level, '')}" for level in merged]
    left_out = record["suppressed"] + [
        f"withheld from the results folder: {item}" for item in record["withheld"]
    ]
    return [
        ("Rule and thresholds", rules),
        ("Checks", checks),
        ("Grouping (merged levels)", grouping or ["no grouping factor"]),
        ("Suppressed or not released", left_out or ["nothing"]),
    ]


def report_texts(record: dict) -> dict[str, str]:
    """The disclosure report as Markdown and HTML (file name -> text), from the record alone."""
    made = f"Made {record['made']} by ww_bayes {record['ww_bayes']}."
    files = [(name, output["sha256"], output["holds"]) for name, output in record["outputs"].items()]
    md = ["# Disclosure report", "", made, ""]
    page = ["<!doctype html>", "<html><head><meta charset='utf-8'><title>Disclosure report</title></head>",
            f"<body><h1>Disclosure report</h1><p>{html.escape(made)}</p>"]  # fmt: skip
    for heading, lines in _sections(record):
        md += [f"## {heading}", "", *(f"- {line}" for line in lines), ""]
        items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
        page.append(f"<h2>{html.escape(heading)}</h2><ul>{items}</ul>")
    md += ["## Files", "", "| file | SHA-256 | holds |", "|---|---|---|"]
    md += [f"| {name} | `{sha}` | {what} |" for name, sha, what in files]
    rows = "".join(f"<tr><td>{html.escape(n)}</td><td><code>{s}</code></td><td>{html.escape(w)}</td></tr>"
                   for n, s, w in files)  # fmt: skip
    page.append(f"<h2>Files</h2><table><tr><th>file</th><th>SHA-256</th><th>holds</th></tr>{rows}</table>")
    page.append("</body></html>")
    return {REPORT_FILES[0]: "\n".join(md) + "\n", REPORT_FILES[1]: "\n".join(page) + "\n"}


__all__ = [
    "CHECKS_FILE",
    "COUNTS_FILE",
    "FIELDS",
    "NOTES",
    "RECORD_FORMAT",
    "REPORT_FILES",
    "is_note",
    "note",
    "record_problems",
    "report_texts",
]
