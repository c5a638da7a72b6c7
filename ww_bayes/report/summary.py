"""The report's first screen: what an official asks in five minutes, in sentences made from the result files.

Six sentences, each with its number, its credible interval and a probability that means what it says
(:mod:`ww_bayes.derived`: the probability the effect helps, or that it is negligible), all read from the
fits' summaries and the cost-effectiveness result, never written by hand: does the service work for jobs
(:func:`job_sentence`) and for WW receipt (:func:`ww_sentence`), what enforcement alone does
(:func:`enforcement_sentence`), how long the effects last (:func:`duration_sentence`), for whom they are
largest (:func:`for_whom_sentence`) and whether it pays for itself (:func:`pays_sentence`). Effects are
intention-to-treat effects of being *offered* the service. A sentence whose source is not in the folder says
so. The same sentences come from a release folder (the released summaries) as from a results folder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ww_bayes.cea import summary as cea_summary
from ww_bayes.data import published
from ww_bayes.data.schema import HEADLINE_OUTCOMES
from ww_bayes.labels import Words
from ww_bayes.results import RunFiles, summarise
from ww_bayes.vocabulary import interval_label, interval_of

SERVICE = "service_vs_control_enforcement"
ENFORCEMENT = "enforcement_vs_none"
#: A month counts as "the effect lasts" while the probability the effect helps is at least this.
LASTS_PROB = 0.9


#: What a sentence says when its source is not in the folder: (English, Dutch).
MISSING = {
    "summary-job": ("No fit of work at month 12 in this folder.",
                    "Geen fit van werk in maand 12 in deze map."),
    "summary-ww": ("No fit of WW receipt at month 12 in this folder.",
                   "Geen fit van WW-ontvangst in maand 12 in deze map."),
    "summary-enforcement": ("No 12-month fit in this folder.", "Geen fit van maand 12 in deze map."),
    "summary-duration": ("No trajectory fit (months 1-30) in this folder.",
                         "Geen trajectfit (maanden 1-30) in deze map."),
    "summary-forwhom": ("No fit by Werkverkenner class in this folder.",
                        "Geen fit naar Werkverkenner-klasse in deze map."),
    "summary-pays": ("No cost-effectiveness result in this folder.",
                     "Geen kosteneffectiviteitsanalyse in deze map."),
}  # fmt: skip


def missing(anchor: str, words: Words) -> Sentence:
    """The sentence saying its source is not in the folder."""
    return Sentence(anchor, words.say(*MISSING[anchor]), found=False)


@dataclass(frozen=True)
class Sentence:
    """One summary sentence: its anchor (``summary-job``, ...) and text; ``found`` is False when the folder
    holds nothing to say it from."""

    anchor: str
    text: str
    found: bool = True


@dataclass(frozen=True)
class Estimate:
    """One row of a summary: the posterior mean, its interval and the probabilities it has."""

    mean: float
    low: float
    high: float
    label: str
    prob_beneficial: float = float("nan")
    prob_negligible: float = float("nan")
    prob_positive: float = float("nan")


def _estimate(row: pd.Series, label: str) -> Estimate:
    def get(name):
        return float(row[name]) if name in row and pd.notna(row[name]) else float("nan")

    return Estimate(get("mean"), get(f"{label}_lb"), get(f"{label}_ub"), label, get("prob_beneficial"),
                    get("prob_negligible"), get("prob_positive"))  # fmt: skip


def _interval_text(estimate: Estimate, words: Words, unit) -> str:
    kind, prob = estimate.label[:3], int(estimate.label[3:]) / 100
    return (
        f"{words.interval(kind, prob)}: {unit(estimate.low)} {words.say('to', 'tot')} {unit(estimate.high)}"
    )


def summaries(run: RunFiles) -> dict[str, tuple[pd.DataFrame, str]]:
    """Each fit's summary table and interval label, keyed by its outcome attr."""
    out = {}
    for tree in run.fits.values():
        out.setdefault(
            str(tree.attrs.get("outcome")), (summarise(tree), interval_label(*interval_of(tree.attrs)))
        )
    return out


def _row(table: pd.DataFrame, **keys) -> pd.Series | None:
    rows = table
    for key, value in keys.items():
        rows = rows[rows[key] == value]
    return None if rows.empty else rows.iloc[0]


def _effect(run_summaries, outcome: str, contrast: str, level: str = "overall", group: str = "all"):
    if outcome not in run_summaries:
        return None
    table, label = run_summaries[outcome]
    row = _row(table, estimand="effect_pp", contrast=contrast, level=level, group=group)
    return None if row is None else _estimate(row, label)


def _effect_text(estimate: Estimate, words: Words) -> str:
    return (f"{words.pp(estimate.mean)} ({_interval_text(estimate, words, words.pp)}; "
            f"{words('prob_beneficial')}: {words.percent(estimate.prob_beneficial)})")  # fmt: skip


def job_sentence(run_summaries, words: Words) -> Sentence:
    estimate = _effect(run_summaries, HEADLINE_OUTCOMES["job_12m"], SERVICE)
    if estimate is None:
        return missing("summary-job", words)
    published_pp = words.pp(published.SERVICE_JOB_PP_M12)
    text = words.say(
        f"Offering personal service changed the share of claimants in work 12 months after inflow by "
        f"{_effect_text(estimate, words)}. Published evaluation: {published_pp}.",
        f"Het aanbieden van persoonlijke dienstverlening veranderde het aandeel WW-gerechtigden dat 12 "
        f"maanden na instroom werkt met {_effect_text(estimate, words)}. Gepubliceerde evaluatie: "
        f"{published_pp}.",
    )
    return Sentence("summary-job", text)


def ww_sentence(run_summaries, words: Words) -> Sentence:
    estimate = _effect(run_summaries, HEADLINE_OUTCOMES["ww_12m"], SERVICE)
    if estimate is None:
        return missing("summary-ww", words)
    published_pp = words.pp(published.SERVICE_WW_PP_M12)
    text = words.say(
        f"It changed the share receiving WW benefit at month 12 by {_effect_text(estimate, words)}. "
        f"Published evaluation: {published_pp}.",
        f"Het aandeel met een WW-uitkering in maand 12 veranderde met {_effect_text(estimate, words)}. "
        f"Gepubliceerde evaluatie: {published_pp}.",
    )
    return Sentence("summary-ww", text)


def enforcement_sentence(run_summaries, words: Words, smallest: float) -> Sentence:
    job = _effect(run_summaries, HEADLINE_OUTCOMES["job_12m"], ENFORCEMENT)
    ww = _effect(run_summaries, HEADLINE_OUTCOMES["ww_12m"], ENFORCEMENT)
    if job is None and ww is None:
        return missing("summary-enforcement", words)
    within = words.pp(smallest, sign=False)
    negligible = words.say(f"probability it is negligible (within {within})",
                           f"kans dat het verwaarloosbaar is (binnen {within})")  # fmt: skip
    parts = []
    outcomes = ((job, words.say("work at month 12", "werk in maand 12")),
                (ww, words.say("WW receipt at month 12", "WW-ontvangst in maand 12")))  # fmt: skip
    for estimate, what in outcomes:
        if estimate is not None:
            parts.append(f"{what} {words.say('by', 'met')} {words.pp(estimate.mean)} "
                         f"({_interval_text(estimate, words, words.pp)}; "
                         f"{negligible}: {words.percent(estimate.prob_negligible)})")  # fmt: skip
    joined = words.say(" and ", " en ").join(parts)
    text = words.say(
        f"Enforcing the job-search requirement alone (online only) changed {joined}.",
        f"Alleen handhaving van de sollicitatieplicht (alleen online) veranderde {joined}.",
    )
    return Sentence("summary-enforcement", text)


def duration_sentence(run: RunFiles, words: Words) -> Sentence:
    """How long the job effect lasts: the last month in which P(it helps) >= :data:`LASTS_PROB`, and the
    extra months in work over the whole follow-up."""
    table = label = None
    for tree in run.fits.values():
        candidate = summarise(tree)
        if "month" in candidate and (candidate["estimand"] == "extra_employed_months").any():
            table, label = candidate, interval_label(*interval_of(tree.attrs))
            break
    if table is None:
        return missing("summary-duration", words)
    monthly = table[(table["estimand"] == "effect_pp") & (table["outcome"] == "employed")
                    & (table["contrast"] == SERVICE) & (table["level"] == "overall")]  # fmt: skip
    helping = monthly.loc[monthly["prob_beneficial"] >= LASTS_PROB, "month"]
    last = int(helping.max()) if len(helping) else None
    cumulative = table[(table["estimand"] == "extra_employed_months") & (table["contrast"] == SERVICE)
                       & (table["level"] == "overall")]  # fmt: skip
    row = cumulative.loc[cumulative["month"].idxmax()]
    estimate = _estimate(row, label)
    horizon = int(row["month"])
    total = (f"{words.months(estimate.mean)} ({_interval_text(estimate, words, words.months)}; "
             f"{words('prob_beneficial')}: {words.percent(estimate.prob_positive)})")  # fmt: skip
    if last is None:
        lasting = words.say("In no month is the probability that the service helps with work at least "
                            f"{words.percent(LASTS_PROB)}",
                            "In geen maand is de kans dat de dienstverlening helpt bij werk minstens "
                            f"{words.percent(LASTS_PROB)}")  # fmt: skip
    else:
        lasting = words.say(f"The job effect lasts to month {last} (the last month in which the probability "
                            f"it helps is at least {words.percent(LASTS_PROB)})",
                            f"Het effect op werk houdt aan tot maand {last} (de laatste maand waarin de kans "
                            f"dat het helpt minstens {words.percent(LASTS_PROB)} is)")  # fmt: skip
    text = words.say(f"{lasting}; over months 1-{horizon}, claimants offered the service worked {total} "
                     "more.",
                     f"{lasting}; over maanden 1-{horizon} werkten WW-gerechtigden aan wie de "
                     f"dienstverlening werd aangeboden {total} meer.")  # fmt: skip
    return Sentence("summary-duration", text)


def for_whom_sentence(run_summaries, words: Words) -> Sentence:
    """The Werkverkenner class with the largest job gain and the one with the largest WW reduction."""
    parts = []
    for outcome, what, pick in (
        (HEADLINE_OUTCOMES["job_12m"], words.say("job gains", "banen"), np.argmax),
        (HEADLINE_OUTCOMES["ww_12m"], words.say("WW reductions", "minder WW"), np.argmin),
    ):
        if outcome not in run_summaries:
            continue
        table, label = run_summaries[outcome]
        rows = table[(table["estimand"] == "effect_pp") & (table["contrast"] == SERVICE)
                     & (table["level"] == "by_werkverkenner")]  # fmt: skip
        rows = rows[~rows["group"].astype(str).str.startswith("other ")]  # a release's merged classes
        if rows.empty:
            continue
        row = rows.iloc[int(pick(rows["mean"].to_numpy()))]
        effect = _effect_text(_estimate(row, label), words)
        parts.append(words.say(f"{what} are largest among claimants with {words(row['group'])} ({effect})",
                               f"het effect op {what} is het grootst bij WW-gerechtigden met "
                               f"{words(row['group'])} ({effect})"))  # fmt: skip
    if not parts:
        return missing("summary-forwhom", words)
    text = words.say(
        "By Werkverkenner class (the predicted chance of work within a year): ",
        "Naar Werkverkenner-klasse (de voorspelde werkhervattingskans binnen een jaar): ",
    )
    return Sentence("summary-forwhom", text + words.say("; ", "; ").join(parts) + ".")


def pays_sentence(run: RunFiles, words: Words) -> Sentence:
    if not run.cost_effectiveness:
        return missing("summary-pays", words)
    result = next(iter(run.cost_effectiveness.values()))["cost_effectiveness"].ds
    table = cea_summary(result).set_index("quantity")
    row = table.loc["net_benefit"]
    label = next(c for c in table.columns if c.endswith("_lb")).removesuffix("_lb")
    estimate = _estimate(row, label)
    published_text = words.say(
        f"Published evaluation: {words.euros(published.BENEFITS_MEUR * 1e6)} benefits against "
        f"{words.euros(published.EXECUTION_COSTS_MEUR * 1e6)} execution costs (its own perspective and "
        "horizon)",
        f"Gepubliceerde evaluatie: {words.euros(published.BENEFITS_MEUR * 1e6)} baten tegenover "
        f"{words.euros(published.EXECUTION_COSTS_MEUR * 1e6)} uitvoeringskosten (eigen perspectief en "
        "horizon)",
    )
    counted = (
        words.say(" (the extra ZW, WIA and bijstand paid counted as a cost)",
                  " (de extra betaalde ZW, WIA en bijstand als kosten meegeteld)")
        if "other_benefits_paid" in result
        else words.say(" (WW months only: no other benefits priced)",
                       " (alleen WW-maanden: andere uitkeringen niet meegeteld)")
    )  # fmt: skip
    text = words.say(
        f"Net benefit per claimant offered the service{counted}: {words.euros(estimate.mean)} "
        f"({_interval_text(estimate, words, words.euros)}; probability it pays for itself: "
        f"{words.percent(estimate.prob_beneficial)}). {published_text}.",
        f"Netto baten per WW-gerechtigde aan wie de dienstverlening werd aangeboden{counted}: "
        f"{words.euros(estimate.mean)} ({_interval_text(estimate, words, words.euros)}; kans dat het zich "
        f"terugverdient: {words.percent(estimate.prob_beneficial)}). {published_text}.",
    )
    return Sentence("summary-pays", text)


def sentences(run: RunFiles, words: Words) -> list[Sentence]:
    """The six summary sentences of a run, in the order an official asks."""
    run_summaries = summaries(run)
    smallest = next((float(t.attrs.get("smallest_effect_pp", 0.5)) for t in run.fits.values()), 0.5)
    return [
        job_sentence(run_summaries, words),
        ww_sentence(run_summaries, words),
        enforcement_sentence(run_summaries, words, smallest),
        duration_sentence(run, words),
        for_whom_sentence(run_summaries, words),
        pays_sentence(run, words),
    ]


def synthetic_origin(run: RunFiles) -> str:
    """What synthetic cohort the results come from ("" when none says it is synthetic)."""
    attrs = [t.attrs for t in run.fits.values()]
    attrs += [t["cost_effectiveness"].attrs for t in run.cost_effectiveness.values()]
    for found in attrs:
        origin = str(found.get("synthetic_data", "")).strip()
        if origin and origin != "no":
            return origin
    return ""


def convergence_line(run: RunFiles, words: Words) -> tuple[str, bool]:
    """One line on convergence: every fit met its thresholds, or which did not. (text, all converged)."""
    failed = [p.name for p, t in run.fits.items() if t.attrs.get("converged") != "yes"]
    n = len(run.fits)
    if not failed:
        return words.say(f"Every fit ({n}) met its convergence thresholds (R-hat, effective sample sizes, no "
                         "divergent transitions): the numbers above can be read as posterior estimates.",
                         f"Elke fit ({n}) voldoet aan de convergentiecriteria (R-hat, effectieve "
                         "steekproefgrootte, geen divergente overgangen)."), True  # fmt: skip
    names = ", ".join(f"`{name}`" for name in failed)
    return words.say(f"NOT CONVERGED: {names}: their numbers are not to be trusted (see the diagnostics "
                     "below).",
                     f"NIET GECONVERGEERD: {names}: deze getallen zijn niet betrouwbaar (zie de diagnostiek "
                     "hieronder)."), False  # fmt: skip


def provenance_line(run: RunFiles, words: Words) -> str:
    """One line on the data: persons, the data's SHA-256 (first 12), synthetic or not."""
    trees = list(run.fits.values())
    if not trees:
        return words.say("No fits in this folder.", "Geen fits in deze map.")
    digests = ", ".join(sorted({str(t.attrs.get("data_sha256", ""))[:12] for t in trees}))
    origin = synthetic_origin(run)
    kind = (
        words.say("a synthetic cohort", "een synthetisch cohort") if origin else words.say("data", "gegevens")
    )
    if "n_persons" in trees[0].attrs:  # a release does not carry the cohort's size
        persons = words.number(int(trees[0].attrs["n_persons"]), 0)
        kind += words.say(f" of {persons} persons", f" van {persons} personen")
    released = (
        words.say(" Released estimates only.", " Alleen vrijgegeven schattingen.") if run.released else ""
    )
    return words.say(f"Data: {kind} (SHA-256 {digests}).{released}",
                     f"Gegevens: {kind} (SHA-256 {digests}).{released}")  # fmt: skip


__all__ = ["Sentence", "convergence_line", "provenance_line", "sentences", "synthetic_origin"]
