"""The report's model checks, as blocks: the Bayesian workflow of each fit in view.

Per fit: the LOO-PIT verdicts and figures (by class, region and month), leave-one-out over cells and over
persons with their Pareto k counts, prior sensitivity by power-scaling with the sensitive quantities named,
what the priors predict, rank plots of the top-level parameters, which parameters the R-hat and ESS
figures of the diagnostics cover, and the K-fold comparison of pooling choices when a study
(``ww-bayes kfold``) sits in the results folder as ``kfold/<model name>/``. The checks that need the cohort
(:func:`ww_bayes.checks.model_checks`) come from ``ww-bayes report --data``; the others need only the fit.
How to read each: ``docs/model_checks.md``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ww_bayes.checks import ModelChecks, kfold_results
from ww_bayes.kinds import kind_of
from ww_bayes.kinds.protocol import Block, Heading, Paragraph, Plot, Table
from ww_bayes.labels import Words
from ww_bayes.results import RunFiles, spec_of

#: The labels whose LOO-PIT panels the report draws (the others are in the verdict table).
PIT_FIGURES = ("werkverkenner", "region", "month")
#: Where a results folder keeps its K-fold studies (``ww-bayes kfold ... --out results/kfold/``).
KFOLD_FOLDER = "kfold"

#: The report's sentences about the checks, in English and Dutch (``{name}`` fields filled in by the blocks).
TEXTS = {
    "no cohort": (
        "LOO-PIT, leave-one-out and prior sensitivity need the cohort: `ww-bayes report <folder> --data "
        "<cohort>` adds them.",
        "LOO-PIT, leave-one-out en priorgevoeligheid hebben het cohort nodig: `ww-bayes report <map> --data "
        "<cohort>` voegt ze toe.",
    ),
    "pit": (
        "LOO-PIT: for each cell, where its observed count falls in the model's prediction of that cell from "
        "all the other cells (leave-one-cell-out by Pareto-smoothed importance sampling), randomised between "
        "the count's neighbours; uniform when the model predicts its cells. Each panel tests uniformity "
        "(the pot-c test of `arviz_stats`: p-value in the title, the values that drive a rejection marked); "
        "a panel is outside when p < {threshold:.5f} (5% over all {panels} panels, Bonferroni).",
        "LOO-PIT: per cel waar het waargenomen aantal valt in de voorspelling van die cel uit alle andere "
        "cellen (leave-one-out), gerandomiseerd tussen de buren van het aantal; uniform als het model zijn "
        "cellen voorspelt. Elk paneel toetst uniformiteit (pot-c-toets van `arviz_stats`); buiten als "
        "p < {threshold:.5f} (5% over alle {panels} panelen, Bonferroni).",
    ),
    "pit inside": (
        "Every panel is inside: the cells' counts are what the model predicts for a cell it has not seen.",
        "Elk paneel valt binnen: de aantallen in de cellen zijn wat het model voorspelt voor een cel die het "
        "niet heeft gezien.",
    ),
    "pit outside": (
        "Outside in {where}: the model does not predict the cells' counts as they are (an ECDF below zero "
        "and then above it: values bunched in the middle, predictive distributions too wide; above and then "
        "below: too narrow; one sign throughout: a bias).",
        "Buiten in {where}: het model voorspelt de aantallen in de cellen niet zoals ze zijn (een ECDF eerst "
        "onder en dan boven nul: voorspellingen te breed; eerst boven en dan onder: te smal).",
    ),
    "loo": (
        "Leave one person out: the log predictive density of each claimant's own outcome(s) from all other "
        "claimants (elpd, nats; higher is better; compare models on the same data by the difference and its "
        "standard error). Persons with the same outcomes in the same cells add the same terms to the "
        "likelihood, so PSIS runs once per distinct pattern and counts for its persons: the elpd is the "
        "person-weighted sum, its standard error the square root of the number of persons times the "
        "person-weighted standard deviation of the pointwise elpd, as over the expanded person rows. Leave "
        "one cell out is shown beside it: a cell holds up to thousands of persons, so a high Pareto k there "
        "says a cell is influential, not that the model is wrong.",
        "Laat een persoon weg: de log-voorspellingsdichtheid van de eigen uitkomst(en) van elke "
        "WW-gerechtigde uit alle anderen (elpd, nats; hoger is beter). Personen met dezelfde uitkomsten in "
        "dezelfde cellen dragen dezelfde termen bij, dus PSIS rekent eenmaal per patroon en telt voor de "
        "personen ervan; de standaardfout is de wortel van het aantal personen maal de naar personen gewogen "
        "standaardafwijking van de elpd per persoon. Een cel weglaten staat ernaast.",
    ),
    "loo subsample": (
        "For this fit PSIS ran on a random sample of {sample:,} persons ({patterns:,} distinct patterns in "
        "all): the difference estimator adds every person's log predictive density, and {sampling:,.1f} of "
        "the standard error is the sampling's. A person's months count as the model sees them: independent "
        "given the curves.",
        "Voor deze fit rekende PSIS op een steekproef van {sample:,} personen ({patterns:,} patronen in "
        "totaal); {sampling:,.1f} van de standaardfout komt van de steekproef.",
    ),
    "loo sample mean": (
        "For this fit PSIS ran on a simple random sample of {sample:,} persons ({patterns:,} distinct cells "
        "and outcomes among them): the elpd is the number of persons times the sample's mean, and "
        "{sampling:,.1f} of the standard error is the sampling's.",
        "Voor deze fit rekende PSIS op een enkelvoudige steekproef van {sample:,} personen ({patterns:,} "
        "verschillende combinaties van cel en uitkomst): de elpd is het aantal personen maal het gemiddelde "
        "van de steekproef; {sampling:,.1f} van de standaardfout komt van de steekproef.",
    ),
    "pit parts": (
        "A cell of this model has two values, one per part (the panels 'part of the model'): the number of "
        "persons with any hours out of its persons, as a count, and the sum of their hours (of their log "
        "hours for a log-normal) given that number (continuous, so not randomised; no value in a cell "
        "without hours).",
        "Een cel van dit model heeft twee waarden, een per deel (de panelen 'deel van het model'): het "
        "aantal personen met uren van de personen in de cel, als aantal, en de som van hun uren (van hun "
        "log-uren bij een lognormale verdeling) gegeven dat aantal (continu, dus niet gerandomiseerd; geen "
        "waarde in een cel zonder uren).",
    ),
    "no priors": (
        "This kind of model declares no top-level priors to power-scale.",
        "Dit soort model noemt geen priors op het hoogste niveau.",
    ),
    "psense": (
        "Prior sensitivity by power-scaling: how far a quantity's posterior moves when the top-level priors "
        "(means, starting values, group and step sds), or the likelihood, are raised to a power near 1 "
        "(`psense` of `arviz_stats`, by importance weighting, no refit). Above 0.05 it is sensitive: to the "
        "prior only, the data say little about it; to both, the prior and the data disagree.",
        "Priorgevoeligheid door machtsschaling: hoe ver de posterior van een grootheid verschuift als de "
        "priors op het hoogste niveau, of de likelihood, tot een macht dicht bij 1 worden verheven "
        "(`psense` van `arviz_stats`). Boven 0,05 is ze gevoelig.",
    ),
    "psense none": (
        "No top-level parameter or population effect is sensitive to the priors.",
        "Geen parameter of populatie-effect is gevoelig voor de priors.",
    ),
    "coverage": (
        "{name}: the largest R-hat covers {variables} variables: every posterior variable but {left_out} "
        "(whose inputs are covered) and every estimand; the largest is {worst_rhat}'s. The smallest bulk and "
        "tail ESS cover {checked} of them, the effects: {names}; the smallest is {worst_ess}'s.",
        "{name}: de grootste R-hat gaat over {variables} variabelen: elke posteriorvariabele behalve "
        "{left_out} en elke geschatte grootheid; de grootste is die van {worst_rhat}. De kleinste bulk- en "
        "staart-ESS gaan over {checked} ervan, de effecten: {names}; de kleinste is die van {worst_ess}.",
    ),
    "kfold": (
        "Predicting a new region: K-fold cross-validation over the {levels} regions (each fold's regions "
        "left out, their {persons:,} persons predicted as persons of regions the fit has not seen). Standard "
        "errors over regions; a difference of more than two of its standard errors favours the better "
        "pooling.",
        "Een nieuwe regio voorspellen: K-voudige kruisvalidatie over de {levels} regio's ({persons:,} "
        "personen voorspeld als personen van regio's die de fit niet kent). Standaardfouten over regio's.",
    ),
}
#: Pooling choices in words.
POOLING_WORDS = {
    "none": ("no pooling", "geen pooling"),
    "partial": ("partial pooling", "gedeeltelijke pooling"),
    "full": ("full pooling", "volledige pooling"),
}


def say(words: Words, key: str, **fields) -> str:
    """A sentence of :data:`TEXTS` in the reader's language, its fields filled in."""
    return words.say(*TEXTS[key]).format(**fields)


def code(name) -> str:
    """A code name as the report shows it: in backquotes (rendered as code)."""
    return f"`{name}`"


def quantity_words(quantity: str, words: Words) -> str:
    """A row of the sensitivity table in words: ``service_sd_region`` or ``effect_pp[ww, service_vs_...]``."""
    name, _, element = str(quantity).partition("[")
    parts = [words(part.strip()) for part in element.rstrip("]").split(",") if part.strip()]
    return words(name) + (f" ({', '.join(parts)})" if parts else "")


def level_words(levels: str, breakdown: str, words: Words) -> str:
    """The levels outside (comma-separated codes) in words; "-" for none."""
    if not levels:
        return "-"
    if breakdown == "all":
        return words.say("all cells", "alle cellen")
    return ", ".join(words(level) for level in levels.split(", "))


def pit_blocks(name: str, checks: ModelChecks, words: Words) -> list[Block]:
    verdicts = checks.pit_verdicts()
    outside = verdicts[~verdicts["inside"]]
    threshold = float(checks.pit_tests["threshold"].iloc[0])
    table = pd.DataFrame(
        {
            words.say("cells by", "cellen naar"): [
                words.say("all cells", "alle cellen") if b == "all" else words(b)
                for b in verdicts["breakdown"]
            ],
            words.say("panels", "panelen"): verdicts["panels"],
            words.say("smallest p-value", "kleinste p-waarde"): verdicts["smallest_p_value"],
            words.say("outside (p below the threshold)", "buiten (p onder de drempel)"): [
                level_words(text, breakdown, words)
                for text, breakdown in zip(verdicts["outside"], verdicts["breakdown"], strict=True)
            ],
        }
    )
    if outside.empty:
        summary = say(words, "pit inside")
    else:
        where = [
            words.say("all cells", "alle cellen") if b == "all" else words(b) for b in outside["breakdown"]
        ]
        summary = say(words, "pit outside", where="; ".join(where))
    parts = " " + say(words, "pit parts") if "part" in set(checks.pit_tests["breakdown"]) else ""
    blocks: list[Block] = [
        Paragraph(say(words, "pit", threshold=threshold, panels=len(checks.pit_tests)) + parts, "note"),
        Paragraph(summary, "ok" if outside.empty else "flag"),
        Table(table, digits=4),
    ]
    for label in [b for b in PIT_FIGURES if b in set(checks.pit_tests["breakdown"])]:
        by = words(label)
        blocks.append(
            Plot(
                "loo_pit",
                checks.pit,
                f"{code(name)}: " + words.say(f"LOO-PIT by {by}", f"LOO-PIT naar {by}"),
                {"tests": checks.pit_tests, "breakdown": label, "lang": words.lang},
            )  # fmt: skip
        )
    return blocks


def psis_on(loo, words: Words) -> str:
    """What PSIS ran on, in words."""
    if loo.unit == "cell":
        return words.say(f"every cell ({loo.patterns:,})", f"elke cel ({loo.patterns:,})")
    if loo.subsample:
        return words.say(
            f"a sample of {loo.subsample:,} persons", f"een steekproef van {loo.subsample:,} personen"
        )
    return words.say(f"every pattern ({loo.patterns:,})", f"elk patroon ({loo.patterns:,})")


def loo_blocks(checks: ModelChecks, words: Words) -> list[Block]:
    rows = []
    for loo in (checks.cell_loo, checks.person_loo):
        if loo is None:
            continue
        unit = words.say("a cell", "een cel") if loo.unit == "cell" else words.say("a person", "een persoon")
        rows.append(
            {
                words.say("leave out", "laat weg"): unit,
                words.say("units", "eenheden"): loo.units,
                "elpd": loo.elpd,
                words.say("standard error", "standaardfout"): loo.se,
                words.say("effective parameters", "effectieve parameters"): loo.p_loo,
                words.say(f"Pareto k above {loo.good_k:.2f}", f"Pareto k boven {loo.good_k:.2f}"): loo.k_high,
                words.say("Pareto k above 1", "Pareto k boven 1"): loo.k_very_high,
                words.say("PSIS on", "PSIS op"): psis_on(loo, words),
            }
        )
    person = checks.person_loo
    notes = [say(words, "loo")]
    if person is not None and person.subsample:
        key = "loo sample mean" if person.estimator == "mean" else "loo subsample"
        notes.append(say(words, key, sample=person.subsample, patterns=person.patterns,
                         sampling=person.subsampling_se))  # fmt: skip
    return [Paragraph(" ".join(notes), "note"), Table(pd.DataFrame(rows), digits=1)]


def sensitivity_blocks(name: str, checks: ModelChecks, words: Words) -> list[Block]:
    table = checks.sensitivity
    if table.empty:
        return [Paragraph(say(words, "no priors"), "note")]
    flagged = checks.sensitive()
    diagnosis = {
        "prior-data conflict": words.say("prior-data conflict", "conflict tussen prior en gegevens"),
        "strong prior / weak likelihood": words.say("prior-dominated: the data say little",
                                                    "door de prior bepaald: de gegevens zeggen weinig"),
        "": "",
    }  # fmt: skip
    if flagged.empty:
        found = Paragraph(say(words, "psense none"), "ok")
    else:
        named = "; ".join(f"{quantity_words(r.quantity, words)}: {diagnosis[r.diagnosis]}"
                          for r in flagged.itertuples())  # fmt: skip
        found = Paragraph(words.say(f"Sensitive: {named}.", f"Gevoelig: {named}."), "flag")
    shown = pd.DataFrame(
        {
            words.say("quantity", "grootheid"): [quantity_words(q, words) for q in table["quantity"]],
            words.say("to the prior", "voor de prior"): table["prior"],
            words.say("to the likelihood", "voor de likelihood"): table["likelihood"],
            words.say("diagnosis", "diagnose"): [diagnosis[d] for d in table["diagnosis"]],
        }
    )
    return [
        Paragraph(say(words, "psense"), "note"),
        found,
        Table(shown, digits=3),
        Plot("prior_predictive", checks.prior, f"{code(name)}: " + words.say(
            "what the priors predict (grey) beside the data and the posterior",
            "wat de priors voorspellen (grijs) naast de gegevens en de posterior"), {"lang": words.lang}),
    ]  # fmt: skip


def coverage_blocks(name: str, tree: xr.DataTree, words: Words) -> list[Block]:
    """Which parameters the diagnostics' R-hat and ESS figures cover, and the rank plots of the top-level
    parameters (the fit alone)."""
    diagnostics = tree["diagnostics"].ds
    variables = [str(v) for v in diagnostics["variable"].values]
    checked = [v for v, flag in zip(variables, diagnostics["ess_checked"].values, strict=True) if flag]
    worst_rhat = variables[int(np.nanargmax(diagnostics["r_hat_max"].values))]
    ess = diagnostics["ess_bulk_min"].where(diagnostics["ess_checked"].astype(bool))
    worst_ess = variables[int(np.nanargmin(ess.values))]
    left_out = ", ".join(code(v) for v in kind_of(tree).not_checked)
    blocks: list[Block] = [
        Paragraph(
            say(
                words,
                "coverage",
                name=code(name),
                variables=len(variables),
                left_out=left_out,
                worst_rhat=code(worst_rhat),
                checked=len(checked),
                names=", ".join(code(v) for v in checked),
                worst_ess=code(worst_ess),
            ),
            "note",
        )  # fmt: skip
    ]
    if "posterior" not in tree.children:  # a released fit: its estimands and convergence table only
        return blocks
    names = [n for n in kind_of(tree).hyper_parameters(spec_of(tree)) if n in tree["posterior"].ds]
    if names:
        caption = words.say(
            "rank plots of the top-level parameters (one line per chain; near zero when the chains mix)",
            "rangplots van de parameters op het hoogste niveau (een lijn per keten)",
        )
        blocks.append(
            Plot("rank", tree["posterior"].ds[names], f"{code(name)}: {caption}", {"lang": words.lang})
        )
    return blocks


def kfold_blocks(path: Path, tree: xr.DataTree, words: Words) -> list[Block]:
    """The K-fold study of the fit's spec in ``<folder>/kfold/<model name>/``, when there is one."""
    summary = kfold_results(path.parent / KFOLD_FOLDER / str(tree.attrs.get("model_name", path.stem)))
    if summary is None:
        return []
    shown = pd.DataFrame(
        {
            words.say("pooling over regions", "pooling over regio's"): [
                words.say(*POOLING_WORDS[v]) if v in POOLING_WORDS else v for v in summary["variant"]
            ],
            "elpd": summary["elpd_kfold"],
            words.say("standard error", "standaardfout"): summary["elpd_kfold_se"],
            words.say("difference from the best", "verschil met de beste"): summary["elpd_difference"],
            words.say("its standard error", "standaardfout ervan"): summary["elpd_difference_se"],
        }
    )  # fmt: skip
    levels, persons = int(summary["levels"].iloc[0]), int(summary["persons"].iloc[0])
    return [
        Paragraph(say(words, "kfold", levels=levels, persons=persons), "note"),
        Table(shown, digits=1),
        Plot("kfold", summary, f"{code(path.name)}: " + words.say("pooling choices compared on new regions",
             "poolingkeuzes vergeleken op nieuwe regio's"), {"lang": words.lang}),
    ]  # fmt: skip


def model_check_blocks(run: RunFiles, words: Words | None = None) -> list[Block]:
    """The model checks of every fit of the run (see the module docstring); the checks that need the cohort
    when ``ww-bayes report --data`` computed them (``run.checks``)."""
    words = words or Words()
    blocks: list[Block] = [Heading(words.say("Model checks", "Modelcontroles"))]
    if not run.checks:
        blocks.append(Paragraph(say(words, "no cohort"), "note"))
    for path, tree in run.fits.items():
        fit_blocks: list[Block] = [Heading(f"{code(path.name)}")]
        checks = run.checks.get(path)
        if isinstance(checks, str):
            unchecked = words.say("not checked", "niet gecontroleerd")
            fit_blocks.append(Paragraph(f"{code(path.name)}: {unchecked}: {checks}", "flag"))
        elif checks is not None:
            fit_blocks += pit_blocks(path.name, checks, words)
            fit_blocks += loo_blocks(checks, words)
            fit_blocks += sensitivity_blocks(path.name, checks, words)
        fit_blocks += coverage_blocks(path.name, tree, words)
        fit_blocks += kfold_blocks(path, tree, words)
        origin = {"origin": tree.attrs.get("synthetic_data")}  # every figure says where its data are from
        blocks += [
            replace(b, options={**b.options, **origin}) if isinstance(b, Plot) else b for b in fit_blocks
        ]
    return blocks


__all__ = ["KFOLD_FOLDER", "PIT_FIGURES", "model_check_blocks"]
