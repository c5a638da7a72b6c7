"""The detail sections of the HTML report, each a function of the run's files and the reader's words that
returns data (blocks), not markup: :mod:`ww_bayes.report` renders them, behind collapsible headings, after
the summary screen.

Only cell counts, posterior summaries and derived estimands appear: never person rows. Every table and
figure is recomputed from the NetCDF files (compute once, plot many: the report never trusts a stale PNG).
A model kind contributes its own section (:meth:`ww_bayes.kinds.protocol.ModelKind.report_blocks`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from ww_bayes.cea import summary as cea_summary
from ww_bayes.cea import targeting_table
from ww_bayes.compare import compare, frequentist_table
from ww_bayes.compare.tables import estimand_labels, forest_rows, shown_rows
from ww_bayes.data import published
from ww_bayes.data.schema import ARM_SERVICE, ARMS, HEADLINE_OUTCOMES
from ww_bayes.kinds import KINDS, kind_of
from ww_bayes.kinds.protocol import Block, Heading, Paragraph, Plot, Table
from ww_bayes.labels import Words
from ww_bayes.report.checks import model_check_blocks
from ww_bayes.results import FREQUENTIST_GROUP, RunFiles, summarise

#: The cost-effectiveness figures and their captions (English, Dutch).
CEA_CAPTIONS = {
    "ce_plane": (
        "Cost-effectiveness plane (posterior draws)",
        "Kosteneffectiviteitsvlak (posteriortrekkingen)",
    ),
    "ceac": ("Cost-effectiveness acceptability curve", "Acceptatiecurve van de kosteneffectiviteit"),
    "eib": (
        "Expected incremental benefit and the expected value of perfect information",
        "Verwachte extra baten en de verwachte waarde van volledige informatie",
    ),
    "tornado": (
        "One-way sensitivity: each input at its 5% and 95% quantile",
        "Eenwegsgevoeligheid: elke invoer op zijn 5%- en 95%-kwantiel",
    ),
    "net_benefit_by_class": (
        "Net benefit by Werkverkenner class, 90% credible interval",
        "Netto baten naar Werkverkenner-klasse, 90%-geloofwaardigheidsinterval",
    ),
}


@dataclass(frozen=True)
class Section:
    """A detail section: its anchor, its title (English, Dutch) and how it is built."""

    anchor: str
    title: tuple[str, str]
    build: Callable[[RunFiles, Words], list[Block]]


def files_section(run: RunFiles, words: Words) -> list[Block]:
    rows = [
        {
            words.say("file", "bestand"): path.name,
            words.say("model", "model"): tree.attrs.get("model_name", ""),
            words("outcome"): str(tree.attrs.get("outcome", "")),
            words.say("persons", "personen"): int(tree.attrs.get("n_persons", 0)),
            words.say("cells", "cellen"): int(tree.attrs.get("n_cells", 0)),
            words.say("data SHA-256", "SHA-256 van de gegevens"): str(tree.attrs.get("data_sha256", ""))[:12],
            words.say("made", "gemaakt"): tree.attrs.get("created_at", ""),
        }
        for path, tree in run.fits.items()
    ]
    for path in run.cost_effectiveness:
        rows.append(
            {
                words.say("file", "bestand"): path.name,
                words.say("model", "model"): words.say("cost-effectiveness", "kosteneffectiviteit"),
            }
        )
    code = (
        words("outcome"),
        words.say("file", "bestand"),
        words.say("model", "model"),
        words.say("data SHA-256", "SHA-256 van de gegevens"),
    )
    blocks: list[Block] = [Table(pd.DataFrame(rows).astype(object).fillna(""), digits=0, code_columns=code)]
    if len({str(t.attrs.get("data_sha256")) for t in run.fits.values()}) > 1:
        blocks.append(
            Paragraph(
                words.say(
                    "The fits were made on different data files (their SHA-256 differ): "
                    "read the sections side by side with care.",
                    "De fits zijn gemaakt op verschillende gegevensbestanden: lees de "
                    "onderdelen met zorg naast elkaar.",
                ),
                "flag",
            )
        )
    for path, reason in run.skipped.items():
        blocks.append(Paragraph(f"{words.say('Skipped', 'Overgeslagen')} `{path.name}`: {reason}", "flag"))
    if run.other:
        names = ", ".join(f"`{p.name}`" for p in run.other)
        blocks.append(
            Paragraph(
                words.say(
                    f"Not ww_bayes results, left out: {names}",
                    f"Geen ww_bayes-resultaten, weggelaten: {names}",
                ),
                "note",
            )
        )
    return blocks


def _rates(counts: pd.DataFrame) -> tuple[float, float]:
    """Observed rates of the two online-only arms together and of the service arm."""
    by_arm = counts.groupby("arm")[["count", "persons"]].sum()
    online = by_arm.loc[[a for a in ARMS if a != ARM_SERVICE]].sum()
    service = by_arm.loc[ARM_SERVICE]
    return online["count"] / online["persons"], service["count"] / service["persons"]


def data_section(run: RunFiles, words: Words) -> list[Block]:
    counts = {}
    for tree in run.fits.values():
        kind = kind_of(tree)
        if kind.describes_persons and "observed_data" in tree.children:  # a released fit holds no counts
            counts.setdefault(str(tree.attrs.get("outcome")), kind.person_counts(tree))
    if not counts:
        return [
            Paragraph(
                words.say(
                    "No person counts in this folder (a release carries none).",
                    "Geen aantallen personen in deze map (een vrijgave bevat ze niet).",
                ),
                "note",
            )
        ]
    outcome, first = next(iter(counts.items()))
    by_class = "werkverkenner" in first
    table = (
        first.pivot_table(index="arm", columns="werkverkenner", values="persons", aggfunc="sum", sort=False)
        if by_class
        else first.groupby("arm", sort=False)[["persons"]].sum()
    )
    table = table.reindex(list(ARMS))
    table["total"] = table.sum(axis=1)
    table.columns = [words(c) if c != "total" else words.say("total", "totaal") for c in table.columns]
    table.index = [words(a) for a in table.index]
    blocks: list[Block] = [
        Heading(
            words.say("Persons by arm and Werkverkenner class", "Personen naar groep en Werkverkenner-klasse")
        ),
        Paragraph(
            words.say(
                f"Persons with {words(outcome).lower()} observed, from the fit's cells.",
                f"Personen van wie {words(outcome).lower()} is waargenomen, uit de cellen van de fit.",
            ),
            "note",
        ),
        Table(table.rename_axis(words.say("group", "groep")).reset_index(), digits=0),
    ]
    rows = []
    job, ww = HEADLINE_OUTCOMES["job_12m"], HEADLINE_OUTCOMES["ww_12m"]
    if job in counts:
        online, service = _rates(counts[job])
        rows += [
            (
                words.say(
                    "in work at month 12, online only (%)", "aan het werk in maand 12, alleen online (%)"
                ),
                100 * online,
                100 * published.JOB_RATE_M12_ONLINE,
            ),
            (
                words.say(
                    "in work at month 12, personal service (%)",
                    "aan het werk in maand 12, persoonlijke dienstverlening (%)",
                ),
                100 * service,
                100 * published.JOB_RATE_M12_SERVICE,
            ),
            (
                words.say(
                    "work at month 12: service minus online only (pp)",
                    "werk in maand 12: dienstverlening min alleen online (procentpunt)",
                ),
                100 * (service - online),
                published.SERVICE_JOB_PP_M12,
            ),
        ]
    if ww in counts:
        online, service = _rates(counts[ww])
        rows.append(
            (
                words.say(
                    "WW at month 12: service minus online only (pp)",
                    "WW in maand 12: dienstverlening min alleen online (procentpunt)",
                ),
                100 * (service - online),
                published.SERVICE_WW_PP_M12,
            )
        )
    if rows:
        blocks += [
            Heading(
                words.say(
                    "Headline outcomes beside the published figures",
                    "Kerncijfers naast de gepubliceerde cijfers",
                )
            ),
            Paragraph(
                words.say(
                    "Raw differences in means from the cells (the models estimate the effects "
                    f"properly). Published: {published.SOURCE}.",
                    "Ruwe verschillen in gemiddelden uit de cellen (de modellen schatten de "
                    f"effecten). Gepubliceerd: {published.SOURCE}.",
                )
            ),
            Table(
                pd.DataFrame(
                    rows,
                    columns=[
                        words.say("quantity", "grootheid"),
                        words.say("this run (raw)", "deze run (ruw)"),
                        words.say("published", "gepubliceerd"),
                    ],
                )
            ),
        ]
    return blocks


def diagnostics_section(run: RunFiles, words: Words) -> list[Block]:
    rows, flags = [], []
    for path, tree in run.fits.items():
        diagnostics = tree["diagnostics"].ds
        attrs = diagnostics.attrs
        checked = diagnostics["ess_checked"].astype(bool)
        rows.append(
            {
                words.say("file", "bestand"): path.name,
                words.say("converged", "geconvergeerd"): tree.attrs.get("converged", "") == "yes",
                words.say("largest R-hat", "grootste R-hat"): float(diagnostics["r_hat_max"].max()),
                words.say("smallest bulk ESS of the effects", "kleinste bulk-ESS van de effecten"): int(
                    diagnostics["ess_bulk_min"].where(checked).min()
                ),
                words.say("smallest tail ESS of the effects", "kleinste staart-ESS van de effecten"): int(
                    diagnostics["ess_tail_min"].where(checked).min()
                ),
                words.say("divergent transitions", "divergente overgangen"): int(attrs.get("divergences", 0)),
                words.say("smallest E-BFMI", "kleinste E-BFMI"): float(
                    attrs.get("min_bfmi_observed", float("nan"))
                ),
                words.say("chains x draws", "ketens x trekkingen"): f"{tree.attrs.get('chains')} x "
                f"{tree.attrs.get('draws')}",
            }
        )
        if tree.attrs.get("converged") != "yes":
            flags.append(
                Paragraph(
                    words.say(
                        f"`{path.name}` DID NOT CONVERGE; its numbers are not to be trusted: ",
                        f"`{path.name}` IS NIET GECONVERGEERD; de getallen zijn niet betrouwbaar: ",
                    )
                    + f"`{tree.attrs.get('convergence_report', '')}`",
                    "flag",
                )
            )
    if not rows:
        return [Paragraph(words.say("No fits in this folder.", "Geen fits in deze map."), "note")]
    thresholds = words.say(
        "Thresholds: R-hat (rank-normalised split) at most 1.01 on every parameter and effect; bulk and tail "
        "effective sample size at least 400 for the effects and their parameters (the service and "
        "enforcement means, group values and curves); no divergent transitions; E-BFMI at least 0.3 per "
        "chain; at most 1% of draws at the maximum tree depth.",
        "Drempels: R-hat (rank-genormaliseerd, gesplitst) hoogstens 1,01 voor elke parameter en elk effect; "
        "bulk- en staart-ESS minstens 400 voor de effecten en hun parameters; geen divergente overgangen; "
        "E-BFMI minstens 0,3 per keten; hoogstens 1% van de trekkingen op de maximale boomdiepte.",
    )
    status = flags or [
        Paragraph(
            words.say(
                "Every fit met its convergence thresholds.", "Elke fit voldoet aan de convergentiecriteria."
            ),
            "ok",
        )
    ]
    code = (words.say("file", "bestand"),)
    return [
        *status,
        Paragraph(thresholds, "note"),
        Table(pd.DataFrame(rows), digits=3, code_columns=code),
        *model_check_blocks(run, words),
    ]


def kind_section(section: tuple[str, str]) -> Callable[[RunFiles, Words], list[Block]]:
    """The section the kinds with report section ``section`` contribute: each fit's blocks."""

    def build(run: RunFiles, words: Words) -> list[Block]:
        blocks: list[Block] = []
        for path, tree in run.fits_of_section(section).items():
            blocks += kind_of(tree).report_blocks(path.name, tree, summarise(tree), words)
        return blocks or [
            Paragraph(
                words.say(
                    f"No fits for this section in this folder ({section[1].lower()}).",
                    "Geen fits voor dit onderdeel in deze map.",
                ),
                "note",
            )
        ]

    return build


def frequentist_section(run: RunFiles, words: Words) -> list[Block]:
    blocks: list[Block] = []
    for path, tree in run.fits.items():
        if not kind_of(tree).frequentist:
            continue
        if FREQUENTIST_GROUP not in tree.children:
            blocks.append(
                Paragraph(
                    words.say(
                        f"`{path.name}`: no stored frequentist estimates (`ww-bayes "
                        "compare ... --store` adds them).",
                        f"`{path.name}`: geen opgeslagen frequentistische schattingen.",
                    ),
                    "note",
                )
            )
            continue
        frequentist = frequentist_table(tree[FREQUENTIST_GROUP].ds)
        table = compare(tree, frequentist)
        label, ci = table.attrs["interval_label"], table.attrs["frequentist_interval_label"]
        columns = ["contrast", "level", "group", "frequentist_estimate", f"frequentist_{ci}_lb",
                   f"frequentist_{ci}_ub", "frequentist_p_holm", "posterior_mean", f"posterior_{label}_lb",
                   f"posterior_{label}_ub", "shrinkage"]  # fmt: skip
        shown = shown_rows(table)
        which = estimand_labels(shown)  # several estimands (states, outcomes and months): say which
        if which is not None:
            shown = shown.assign(estimand=which)
            columns.insert(0, "estimand")
        method = f"{frequentist['method'].iloc[0].upper()}, {frequentist['se_type'].iloc[0]} errors"
        blocks += [
            Heading(words(str(tree.attrs.get("outcome")))),
            Paragraph(
                words.say(
                    f"Frequentist intention-to-treat estimates ({method}; {ci[2:]}% confidence interval; "
                    "Holm-adjusted p over subgroups) beside the posterior; shrinkage 0 means pooling left "
                    "the unpooled estimate alone, 1 that it moved it to the overall effect (outside 0 to 1: "
                    "past or away from it, which pooling does when a subgroup's estimate is noisy).",
                    f"Frequentistische intention-to-treat-schattingen ({method}; {ci[2:]}%-"
                    "betrouwbaarheidsinterval; Holm-gecorrigeerde p over subgroepen) naast de posterior; "
                    "krimp 0: pooling liet de schatting ongemoeid, 1: naar het totale effect verschoven.",
                )
            ),
            Table(shown[columns], code_columns=("estimand",) if which is not None else ()),
            Plot(
                "forest",
                forest_rows(table),
                words.say(
                    f"`{path.stem}`: unpooled (frequentist, {ci[2:]}% confidence interval) and partially "
                    f"pooled (posterior, {label}) subgroup effects",
                    f"`{path.stem}`: ongepoolde (frequentistisch, {ci[2:]}%-betrouwbaarheidsinterval) en "
                    f"gedeeltelijk gepoolde (posterior, {label}) effecten per subgroep",
                ),
                {"origin": tree.attrs.get("synthetic_data")},
            ),
        ]
    return blocks or [
        Paragraph(
            words.say(
                "No fits in this folder that compare with frequentist estimates.",
                "Geen fits in deze map met frequentistische schattingen.",
            ),
            "note",
        )
    ]


def cea_section(run: RunFiles, words: Words) -> list[Block]:
    if not run.cost_effectiveness:
        return [
            Paragraph(
                words.say(
                    "No cost-effectiveness result in this folder (`ww-bayes cea ...`).",
                    "Geen kosteneffectiviteitsanalyse in deze map.",
                ),
                "note",
            )
        ]
    blocks: list[Block] = []
    for tree in run.cost_effectiveness.values():
        result = tree["cost_effectiveness"].ds
        contrast, source = words(result.attrs.get("contrast", "")), result.attrs.get("effects_source", "")
        benefits = words.euros(published.BENEFITS_MEUR * 1e6)
        costs = words.euros(published.EXECUTION_COSTS_MEUR * 1e6)
        table = cea_summary(result)
        money = table["quantity"].isin(
            [
                "incremental_cost",
                "ww_benefits_saved",
                "taxes_and_premiums",
                "other_benefits_paid",
                "benefits",
                "net_benefit",
                "net_benefit_cohort",
                "benefits_cohort",
                "cost_cohort",
                "cost_per_extra_job",
            ]
        )
        shown = table.copy()
        for column in [c for c in shown.columns if c == "mean" or c.endswith(("_lb", "_ub"))]:
            shown[column] = [
                words.euros(v) if m else words.number(v, 2) for v, m in zip(shown[column], money, strict=True)
            ]
        if "other_benefits_paid" in result:
            other = words.say(
                "Other benefits paid (ZW, WIA, bijstand) count as a cost: "
                f"{result.attrs.get('other_benefits_source', '')}.",
                "Extra maanden in andere uitkeringen (ZW, WIA, bijstand) uit het bestemmingenmodel tellen "
                "als kosten (tussen de gemeten maanden lineair, vanaf geen effect bij de instroom; de "
                "aanname na de laatste gemeten maand staat in het bestand).",
            )
        else:
            other = words.say(
                "Only WW months are counted: no destinations fit was given, so months in ZW, WIA or "
                "bijstand are not priced.",
                "Alleen WW-maanden tellen mee: zonder bestemmingenmodel zijn maanden in ZW, WIA of "
                "bijstand niet meegeteld.",
            )
        blocks += [
            Paragraph(
                words.say(
                    f"{contrast}; effects from {source}; euros per participant unless the quantity says "
                    "cohort; posterior mean and 90% credible "
                    "interval (equal-tailed).",
                    f"{contrast}; euro per deelnemer tenzij de grootheid het hele "
                    "cohort noemt; posteriorgemiddelde en 90%-geloofwaardigheidsinterval.",
                )
            ),
            Paragraph(other),
            Table(shown.drop(columns=["n_undefined"], errors="ignore")),
            Paragraph(
                words.say(
                    f"The published evaluation: {benefits} benefits against {costs} execution costs (its own "
                    "perspective and "
                    "horizon; not a target).",
                    f"De gepubliceerde evaluatie: {benefits} baten tegenover {costs} uitvoeringskosten "
                    "(eigen "
                    "perspectief en "
                    "horizon; geen doel).",
                )
            ),
        ]
        if "rule_expected_net_benefit" in result:
            targeting = targeting_table(result, top=8)
            targeting["expected_net_benefit"] = [words.euros(v) for v in targeting["expected_net_benefit"]]
            blocks += [
                Heading(
                    words.say(
                        "Targeting: which Werkverkenner classes to serve",
                        "Doelgroepen: welke Werkverkenner-klassen bedienen",
                    )
                ),
                Paragraph(
                    words.say(
                        "Expected net benefit per participant and the probability that each rule "
                        "is the best.",
                        "Verwachte netto baten per deelnemer en de kans dat elke regel de beste is.",
                    )
                ),
                Table(
                    targeting.rename(
                        columns={
                            "rule": words.say("classes served", "bediende klassen"),
                            "expected_net_benefit": words("net_benefit"),
                            "prob_best": "prob_best",
                        }
                    )
                ),
            ]
        blocks += [
            Plot("cea", result, words.say(*caption), {"name": name})
            for name, caption in CEA_CAPTIONS.items()
            if name != "net_benefit_by_class" or "net_benefit_by_class" in result
        ]
    return blocks


def sections() -> list[Section]:
    """The detail sections in order: one per kind section, comparison, cost-effectiveness, diagnostics,
    data, files."""
    by_kind = list(dict.fromkeys(kind.report_section for kind in KINDS.values()))
    return [
        *(
            Section(anchor, (title, Words("nl")(title)), kind_section((anchor, title)))
            for anchor, title in by_kind
        ),
        Section(
            "frequentist", ("Frequentist comparison", "Frequentistische vergelijking"), frequentist_section
        ),
        Section(
            "cost-effectiveness",
            ("Cost-effectiveness and targeting", "Kosteneffectiviteit en doelgroepen"),
            cea_section,
        ),
        Section(
            "diagnostics",
            ("Convergence and model checks", "Convergentie en modelcontroles"),
            diagnostics_section,
        ),
        Section("data", ("Data and calibration", "Gegevens en kalibratie"), data_section),
        Section("files", ("Files and provenance", "Bestanden en herkomst"), files_section),
    ]
