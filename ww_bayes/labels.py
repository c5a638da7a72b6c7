"""Words for readers, in Dutch and English: one catalogue for every table, figure, screen line and report.

Code names (``service_vs_control_enforcement``, ``employed_m12``, ``by_werkverkenner``, ``eti90_lb``) stay
in the CSV and NetCDF files, where they are the API; what a person reads comes from here. A name the
catalogue does not know is shown as it is (so a new factor or state still reads, if less nicely), never
dropped. :func:`glossary` gives the catalogue as a table (code name -> words), the key to the files.

Numbers are formatted here too, per language: effects in percentage points with one decimal, euros as
``€ 1.2m`` / ``€ 674``, probabilities as whole percentages; Dutch with a decimal comma
("2,1 procentpunt", "€ 1,2 mln").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LANGUAGES = ("en", "nl")

#: The model components and the parts of their priors, in words (the parameter names below compose them).
COMPONENT_WORDS = {
    "baseline": {"en": "baseline", "nl": "basisniveau"},
    "service": {"en": "service effect", "nl": "effect dienstverlening"},
    "enforcement": {"en": "enforcement effect", "nl": "effect handhaving"},
}
PART_WORDS = {
    "mean": {"en": "mean", "nl": "gemiddelde"},
    "sd_werkverkenner": {"en": "sd between classes", "nl": "sd tussen klassen"},
    "sd_region": {"en": "sd between regions", "nl": "sd tussen regio's"},
    "step_sd": {"en": "sd of the monthly steps", "nl": "sd van de maandelijkse stappen"},
    "step_sd_werkverkenner": {
        "en": "sd of the class curves' monthly steps",
        "nl": "sd van de maandelijkse stappen van de klassencurves",
    },
}

#: The parts of the hours model (a hurdle) whose parameters the catalogue names.
HURDLE_WORDS = {
    "any_hours": {"en": "P(any hours worked)", "nl": "P(enig uur gewerkt)"},
    "hours": {"en": "hours of those who worked", "nl": "uren van wie werkte"},
    "hours_dispersion": {
        "en": "spread of the hours (log of the family's dispersion)",
        "nl": "spreiding van de uren (log van de spreidingsparameter)",
    },
}

#: Every code name a reader may meet, with its words per language.
CATALOGUE: dict[str, dict[str, str]] = {
    # top-level model parameters (logit scale): what the prior sensitivity check and the rank plots name
    **{
        f"{component}_{part}": {
            lang: f"{COMPONENT_WORDS[component][lang]}: {PART_WORDS[part][lang]}" for lang in ("en", "nl")
        }
        for component, parts in {
            "baseline": ("mean", "sd_werkverkenner", "sd_region"),
            "service": ("mean", "sd_werkverkenner", "sd_region", "step_sd", "step_sd_werkverkenner"),
            "enforcement": (
                "mean",
                "sd_werkverkenner",
                "sd_region",
                "step_sd",
                "step_sd_werkverkenner",
            ),
        }.items()
        for part in parts
    },
    # the hours model's top-level parameters: each part of the hurdle (logit P(any hours); log mean hours of
    # those with any) and the dispersion of the hours
    **{
        f"{hurdle}_{component}_{part}": {
            lang: f"{HURDLE_WORDS[hurdle][lang]}, {COMPONENT_WORDS[component][lang]}: "
            f"{PART_WORDS[part][lang]}"
            for lang in ("en", "nl")
        }
        for hurdle in ("any_hours", "hours")
        for component in COMPONENT_WORDS
        for part in ("mean", "sd_werkverkenner", "sd_region")
    },
    **{
        f"hours_dispersion_{part}": {
            lang: f"{HURDLE_WORDS['hours_dispersion'][lang]}: {PART_WORDS[part][lang]}"
            for lang in ("en", "nl")
        }
        for part in ("mean", "sd_werkverkenner", "sd_region")
    },
    # hours worked: the estimands and the parts of the model checks
    "mean_hours": {
        "en": "effect on mean hours worked per claimant, months 1-12",
        "nl": "effect op het gemiddelde aantal gewerkte uren per WW-gerechtigde, maand 1-12",
    },
    "any_hours_pp": {"en": "effect on P(any hours worked)", "nl": "effect op P(enig uur gewerkt)"},
    "hours_given_any": {
        "en": "difference in hours of those who worked (descriptive)",
        "nl": "verschil in uren van wie werkte (beschrijvend)",
    },
    "mean_hours_from_any": {
        "en": "part of the hours effect from more persons working",
        "nl": "deel van het ureneffect door meer werkenden",
    },
    "mean_hours_from_given_any": {
        "en": "part of the hours effect from more hours per worker",
        "nl": "deel van het ureneffect door meer uren per werkende",
    },
    "any_hours": {"en": "any hours worked (yes / no)", "nl": "enig uur gewerkt (ja / nee)"},
    "hours_of_workers": {
        "en": "hours of those who worked (given how many)",
        "nl": "uren van wie werkte (gegeven hoeveel)",
    },
    "part": {"en": "part of the model", "nl": "deel van het model"},
    "Hours worked in year 1": {"en": "Hours worked in year 1", "nl": "Gewerkte uren in het eerste jaar"},
    # contrasts: what is compared (intention to treat: being offered the service)
    "service_vs_control_enforcement": {
        "en": "personal service (offered) vs online only with enforcement",
        "nl": "persoonlijke dienstverlening (aangeboden) vs alleen online met handhaving",
    },
    "enforcement_vs_none": {
        "en": "enforcement of the job-search requirement alone (online only)",
        "nl": "alleen handhaving van de sollicitatieplicht (alleen online)",
    },
    "service_vs_control_none": {
        "en": "personal service (offered) vs online only without enforcement",
        "nl": "persoonlijke dienstverlening (aangeboden) vs alleen online zonder handhaving",
    },
    # arms
    "service": {"en": "personal service", "nl": "persoonlijke dienstverlening"},
    "control_enforcement": {"en": "online only, enforced", "nl": "alleen online, met handhaving"},
    "control_none": {"en": "online only, not enforced", "nl": "alleen online, zonder handhaving"},
    # outcomes
    "employed": {"en": "in work", "nl": "aan het werk"},
    "ww": {"en": "receiving WW benefit", "nl": "WW-uitkering"},
    "employed_m12": {"en": "in work at month 12", "nl": "aan het werk in maand 12"},
    "ww_m12": {"en": "receiving WW at month 12", "nl": "WW-uitkering in maand 12"},
    "extra_employed_months": {"en": "extra months in work", "nl": "extra maanden aan het werk"},
    "ww_months_avoided": {"en": "WW months avoided", "nl": "vermeden WW-maanden"},
    "effect_pp": {"en": "effect", "nl": "effect"},
    "effect_pp_identified": {
        "en": "effect over cells with persons in both arms",
        "nl": "effect over cellen met personen in beide groepen",
    },
    "relative_risk": {"en": "relative risk", "nl": "relatief risico"},
    # levels and factors
    "overall": {"en": "all claimants", "nl": "alle WW-gerechtigden"},
    "all": {"en": "all", "nl": "alle"},
    "werkverkenner": {"en": "Werkverkenner class", "nl": "Werkverkenner-klasse"},
    "by_werkverkenner": {"en": "by Werkverkenner class", "nl": "naar Werkverkenner-klasse"},
    "region": {"en": "labour-market region", "nl": "arbeidsmarktregio"},
    "by_region": {"en": "by labour-market region", "nl": "naar arbeidsmarktregio"},
    "sex": {"en": "sex", "nl": "geslacht"},
    "by_sex": {"en": "by sex", "nl": "naar geslacht"},
    "education": {"en": "education", "nl": "opleidingsniveau"},
    "by_education": {"en": "by education", "nl": "naar opleidingsniveau"},
    # Werkverkenner classes: the predicted chance of work within a year
    "0-25": {"en": "chance of work 0-25%", "nl": "werkhervattingskans 0-25%"},
    "25-50": {"en": "chance of work 25-50%", "nl": "werkhervattingskans 25-50%"},
    "50-75": {"en": "chance of work 50-75%", "nl": "werkhervattingskans 50-75%"},
    "75-100": {"en": "chance of work 75-100%", "nl": "werkhervattingskans 75-100%"},
    "none": {"en": "no score", "nl": "geen score"},
    "other classes": {"en": "other classes (merged)", "nl": "overige klassen (samengevoegd)"},
    "other regions": {"en": "other regions (merged)", "nl": "overige regio's (samengevoegd)"},
    # probabilities
    "prob_beneficial": {"en": "probability it helps", "nl": "kans dat het helpt"},
    "prob_beneficial_beyond_smallest": {
        "en": "probability it helps by more than the smallest effect of interest",
        "nl": "kans dat het meer helpt dan het kleinste relevante effect",
    },
    "prob_negligible": {"en": "probability it is negligible", "nl": "kans dat het verwaarloosbaar is"},
    "prob_positive": {"en": "probability above 0", "nl": "kans boven 0"},
    "prob_negative": {"en": "probability below 0", "nl": "kans onder 0"},
    "pooling_only": {
        "en": "no persons in one of the groups compared: estimate from pooling only",
        "nl": "geen personen in een van de vergeleken groepen: schatting alleen via pooling",
    },
    # report sections of the kinds
    "Effects by class and region": {
        "en": "Effects by class and region",
        "nl": "Effecten naar klasse en regio",
    },
    "Trajectories over 30 months": {"en": "Trajectories over 30 months", "nl": "Verloop over 30 maanden"},
    "Where do claimants go?": {"en": "Where do claimants go?", "nl": "Waar gaan WW-gerechtigden naartoe?"},
    # destinations: states (benefit status x work) and first exits from WW
    "ww_not_working": {"en": "WW, not working", "nl": "WW, niet aan het werk"},
    "ww_working": {"en": "WW beside work", "nl": "WW naast werk"},
    "zw": {"en": "sickness benefit (ZW)", "nl": "Ziektewet (ZW)"},
    "wia": {"en": "disability benefit (WIA)", "nl": "WIA-uitkering"},
    "bijstand": {"en": "social assistance (bijstand)", "nl": "bijstand"},
    "none_not_working": {"en": "no benefit, not working", "nl": "geen uitkering, niet aan het werk"},
    "none_working": {"en": "in work, no benefit", "nl": "aan het werk, geen uitkering"},
    "other": {"en": "other states (merged)", "nl": "overige situaties (samengevoegd)"},
    "zw_wia": {"en": "ZW or WIA (merged for release)", "nl": "ZW of WIA (samengevoegd voor publicatie)"},
    "bijstand_or_none_not_working": {
        "en": "bijstand, or no benefit and not working (merged for release)",
        "nl": "bijstand, of geen uitkering en niet aan het werk (samengevoegd voor publicatie)",
    },
    "still_on_ww": {"en": "still on WW", "nl": "nog in de WW"},
    "to_zw_wia": {"en": "first exit from WW to ZW or WIA", "nl": "eerste uitstroom uit de WW naar ZW of WIA"},
    "to_other": {"en": "first exit from WW elsewhere", "nl": "eerste uitstroom uit de WW elders"},
    "share_pp": {"en": "effect on the share", "nl": "effect op het aandeel"},
    "ww_source_pp": {"en": "effect on WW receipt", "nl": "effect op WW-ontvangst"},
    "first_exit_pp": {"en": "effect on first exits from WW", "nl": "effect op eerste uitstroom uit de WW"},
    "ww_destination_part": {"en": "part of the WW effect", "nl": "deel van het WW-effect"},
    # table columns
    "contrast": {"en": "comparison", "nl": "vergelijking"},
    "level": {"en": "breakdown", "nl": "uitsplitsing"},
    "group": {"en": "group", "nl": "groep"},
    "outcome": {"en": "outcome", "nl": "uitkomst"},
    "month": {"en": "month", "nl": "maand"},
    "estimand": {"en": "quantity", "nl": "grootheid"},
    "mean": {"en": "estimate (posterior mean)", "nl": "schatting (posteriorgemiddelde)"},
    "sd": {"en": "posterior sd", "nl": "posterior-sd"},
    # cost-effectiveness
    "incremental_cost": {"en": "extra cost of the service", "nl": "extra kosten van de dienstverlening"},
    "ww_benefits_saved": {"en": "WW benefits saved", "nl": "bespaarde WW-uitkeringen"},
    "taxes_and_premiums": {"en": "taxes and premiums on extra earnings", "nl": "belastingen en premies"},
    "other_benefits_paid": {
        "en": "other benefits paid (ZW, WIA, bijstand)",
        "nl": "extra betaalde andere uitkeringen (ZW, WIA, bijstand)",
    },
    "benefits": {"en": "benefits", "nl": "baten"},
    "net_benefit": {"en": "net benefit", "nl": "netto baten"},
    "net_benefit_cohort": {"en": "net benefit, whole cohort", "nl": "netto baten, hele cohort"},
    "benefits_cohort": {"en": "benefits, whole cohort", "nl": "baten, hele cohort"},
    "cost_cohort": {"en": "extra cost, whole cohort", "nl": "extra kosten, hele cohort"},
    "benefit_cost_ratio": {"en": "benefit-cost ratio", "nl": "baten-kostenverhouding"},
    "cost_per_extra_job": {"en": "cost per extra job", "nl": "kosten per extra baan"},
    # cost-effectiveness: more quantities, the uncertain inputs, the targeting table
    "net_cost": {"en": "net cost (cost minus benefits)", "nl": "netto kosten (kosten min baten)"},
    "quantity": {"en": "quantity", "nl": "grootheid"},
    "n_undefined": {"en": "draws in which it is undefined", "nl": "trekkingen waarin het niet bestaat"},
    "service_cost": {
        "en": "cost of the service per participant",
        "nl": "kosten van de dienstverlening per deelnemer",
    },
    "ww_benefit_monthly": {"en": "WW benefit per month", "nl": "WW-uitkering per maand"},
    "earnings_monthly": {"en": "earnings per month in work", "nl": "loon per maand werk"},
    "tax_share": {
        "en": "share of earnings paid as taxes and premiums",
        "nl": "aandeel belastingen en premies in het loon",
    },
    "rule": {"en": "classes served", "nl": "bediende klassen"},
    "none served": {"en": "none served", "nl": "niemand bediend"},
    "expected_net_benefit": {
        "en": "expected net benefit per participant",
        "nl": "verwachte netto baten per deelnemer",
    },
    "prob_best": {"en": "probability the rule is best", "nl": "kans dat de regel de beste is"},
}

#: Words a figure or a table header composes around the code names (axis titles, legend entries, titles);
#: ``{name}`` fields are filled in by the caller. Not code names, so not in :func:`glossary`.
PHRASES: dict[str, dict[str, str]] = {
    "effect_axis": {"en": "effect (percentage points)", "nl": "effect (procentpunt)"},
    "hours_axis": {
        "en": "effect (hours per claimant, months 1-12)",
        "nl": "effect (uren per WW-gerechtigde, maand 1-12)",
    },
    "hours_title": {
        "en": "Effects on mean hours per claimant by subgroup",
        "nl": "Effecten op het gemiddelde aantal uren per WW-gerechtigde, per subgroep",
    },
    "destinations_axis": {
        "en": "effect (percentage points of all claimants)",
        "nl": "effect (procentpunt van alle WW-gerechtigden)",
    },
    "destinations_title": {
        "en": "Where the WW effect went at month {month}: {contrast}",
        "nl": "Waar het WW-effect heen ging in maand {month}: {contrast}",
    },
    "destinations_source": {"en": "effect on WW receipt", "nl": "effect op WW-ontvangst"},
    "destinations_state": {
        "en": "effect on the share in each state",
        "nl": "effect op het aandeel per situatie",
    },
    "months_since_inflow": {"en": "months since WW inflow", "nl": "maanden sinds instroom in de WW"},
    "posterior_mean": {"en": "posterior mean", "nl": "posteriorgemiddelde"},
    "partially_pooled": {"en": "partially pooled (Bayesian)", "nl": "gedeeltelijk gepoold (bayesiaans)"},
    "unpooled": {"en": "unpooled (OLS per subgroup)", "nl": "niet gepoold (OLS per subgroep)"},
    "estimate": {"en": "estimate", "nl": "schatting"},
    "overall_effect": {
        "en": "effect for all claimants (posterior mean)",
        "nl": "effect voor alle WW-gerechtigden (posteriorgemiddelde)",
    },
    "simulator_truth": {"en": "true effect in the simulation", "nl": "werkelijk effect in de simulatie"},
    "dashed": {"en": "dashed", "nl": "gestreept"},
    "circled": {"en": "circled", "nl": "omcirkeld"},
    "lower_bound": {"en": "lower bound", "nl": "ondergrens"},
    "upper_bound": {"en": "upper bound", "nl": "bovengrens"},
    "effects_title": {"en": "Effects by subgroup: {outcome}", "nl": "Effecten per subgroep: {outcome}"},
    "forest_title": {
        "en": "Effects by subgroup, unpooled and partially pooled: {outcome}",
        "nl": "Effecten per subgroep, niet gepoold en gedeeltelijk gepoold: {outcome}",
    },
    "paths_title": {
        "en": "Effects month by month, for all claimants and each Werkverkenner class: {outcome}",
        "nl": "Effecten per maand, voor alle WW-gerechtigden en elke Werkverkenner-klasse: {outcome}",
    },
    "posterior_draws": {"en": "posterior draws", "nl": "posteriortrekkingen"},
    "ce_effect_axis": {
        "en": "effect: extra months in work per participant",
        "nl": "effect: extra maanden werk per deelnemer",
    },
    "ce_net_cost_axis": {
        "en": "net cost per participant (€): cost minus fiscal benefits",
        "nl": "netto kosten per deelnemer (€): kosten min fiscale baten",
    },
    "ce_plane_title": {"en": "Cost-effectiveness plane", "nl": "Kosteneffectiviteitsvlak"},
    "wtp_axis": {
        "en": "willingness to pay (€ per extra month in work)",
        "nl": "betalingsbereidheid (€ per extra maand werk)",
    },
    "prob_cost_effective": {
        "en": "probability the service is cost-effective",
        "nl": "kans dat de dienstverlening kosteneffectief is",
    },
    "ceac_title": {
        "en": "Cost-effectiveness acceptability curve",
        "nl": "Kosteneffectiviteits-acceptatiecurve",
    },
    "eib": {"en": "expected incremental benefit", "nl": "verwachte incrementele baten"},
    "evpi": {
        "en": "expected value of perfect information (EVPI)",
        "nl": "verwachte waarde van perfecte informatie (EVPI)",
    },
    "euros_per_participant": {"en": "€ per participant", "nl": "€ per deelnemer"},
    "eib_title": {
        "en": "Expected incremental benefit; break-even at {amount} per extra month in work",
        "nl": "Verwachte incrementele baten; break-even bij {amount} per extra maand werk",
    },
    "tornado_low": {"en": "input at its 5% quantile", "nl": "invoer op zijn 5%-kwantiel"},
    "tornado_high": {"en": "input at its 95% quantile", "nl": "invoer op zijn 95%-kwantiel"},
    "expected_net_benefit_axis": {
        "en": "expected net benefit per participant (€)",
        "nl": "verwachte netto baten per deelnemer (€)",
    },
    "tornado_title": {
        "en": "One-way sensitivity of the net benefit",
        "nl": "Eenzijdige gevoeligheid van de netto baten",
    },
    "net_benefit_served_axis": {
        "en": "net benefit per participant served (€)",
        "nl": "netto baten per bediende deelnemer (€)",
    },
    "net_benefit_by_class_title": {
        "en": "Net benefit by Werkverkenner class; best rule: serve {rule}",
        "nl": "Netto baten per Werkverkenner-klasse; beste regel: bedien {rule}",
    },
    "sbc_ecdf_title": {
        "en": "{title}: ECDF of PIT minus uniform, {replicates} replicates; shaded: simultaneous {band} "
        "band (Bonferroni, family {family} over {quantities} quantities)",
        "nl": "{title}: ECDF van PIT min uniform, {replicates} replicaties; gearceerd: simultane {band}-band "
        "(Bonferroni, familie {family} over {quantities} grootheden)",
    },
    "sbc_rank_title": {
        "en": "{title}: rank of the truth among {draws} posterior draws, {replicates} replicates",
        "nl": "{title}: rang van de werkelijke waarde onder {draws} posteriortrekkingen, "
        "{replicates} replicaties",
    },
    "pointwise_band": {"en": "{prob} pointwise band", "nl": "{prob} puntsgewijze band"},
}


@dataclass(frozen=True)
class Words:
    """The catalogue and number formats of one language (:data:`LANGUAGES`)."""

    lang: str = "en"

    def __post_init__(self) -> None:
        if self.lang not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {self.lang!r}")

    def __call__(self, name) -> str:
        """The words for a code name; the name itself when the catalogue does not know it."""
        entry = CATALOGUE.get(str(name)) or PHRASES.get(str(name))
        return entry[self.lang] if entry else str(name)

    def say(self, en: str, nl: str) -> str:
        """The sentence in this language (for text made of numbers and words, where a catalogue entry per
        sentence would not read)."""
        return nl if self.lang == "nl" else en

    def interval(self, kind: str, prob: float) -> str:
        """The interval in words, e.g. "90% credible interval (equal-tailed)"."""
        shape = {"eti": ("equal-tailed", "gelijkstaartig"), "hdi": ("highest density", "hoogste dichtheid")}
        words = shape.get(kind, (kind, kind))[self.lang == "nl"]
        if self.lang == "nl":
            return f"{self.percent(prob)} geloofwaardigheidsinterval ({words})"
        return f"{self.percent(prob)} credible interval ({words})"

    def origin(self, synthetic: str | None) -> str:
        """Where the data behind a figure or table come from, from a fit's ``synthetic_data`` attribute:
        "no" for real data, any other text for a synthetic cohort; None when nothing recorded it."""
        if synthetic is None or not str(synthetic).strip():
            return self.say("Data: origin not recorded", "Gegevens: herkomst niet vastgelegd")
        if str(synthetic).strip() == "no":
            return self.say(
                "Data: records of real claimants (not simulated)",
                "Gegevens: registraties van echte WW-gerechtigden (niet gesimuleerd)",
            )
        return self.say(
            "SYNTHETIC DATA: a simulated cohort, not real claimants",
            "SYNTHETISCHE GEGEVENS: een gesimuleerd cohort, geen echte WW-gerechtigden",
        )

    def confidence(self, prob: float) -> str:
        """A frequentist interval in words, e.g. "90% confidence interval"."""
        if self.lang == "nl":
            return f"{self.percent(prob)} betrouwbaarheidsinterval"
        return f"{self.percent(prob)} confidence interval"

    # --- numbers ---------------------------------------------------------------------------------------

    def number(self, value: float, digits: int = 1) -> str:
        """A number with ``digits`` decimals and a thousands separator, in the language's style."""
        text = f"{value:,.{digits}f}"
        if self.lang == "nl":  # 1,234.5 -> 1.234,5
            text = text.replace(",", "\u2009").replace(".", ",").replace("\u2009", ".")
        return text

    def pp(self, value: float, sign: bool = True) -> str:
        """Percentage points with one decimal: "+2.0 pp" / "+2,0 procentpunt"."""
        if value is None or not math.isfinite(value):
            return "-"
        text = self.number(value, 1)
        if sign and value > 0:
            text = "+" + text
        return f"{text} {'procentpunt' if self.lang == 'nl' else 'pp'}"

    def percent(self, probability: float) -> str:
        """A probability as a whole percentage ("97%"), "< 1%" and "> 99%" at the ends."""
        if probability is None or not math.isfinite(probability):
            return "-"
        if probability < 0.005:  # a share of draws: 0 of 4,000 is not a certainty
            return "< 1%"
        if probability > 0.995:
            return "> 99%"
        return f"{round(100 * probability)}%"

    def euros(self, value: float) -> str:
        """Euros: "€ 674", "€ 12,400" below a million, "€ 1.2m" / "€ 1,2 mln" above."""
        if value is None or not math.isfinite(value):
            return "-"
        sign = "-" if value < 0 else ""
        size = abs(value)
        if size >= 1e6:
            unit = " mln" if self.lang == "nl" else "m"
            return f"{sign}€ {self.number(size / 1e6, 1)}{unit}"
        return f"{sign}€ {self.number(size, 0)}"

    def months(self, value: float) -> str:
        """Months with two decimals ("0.12 months" / "0,12 maanden")."""
        if value is None or not math.isfinite(value):
            return "-"
        return f"{self.number(value, 2)} {'maanden' if self.lang == 'nl' else 'months'}"


def glossary(lang: str = "en") -> list[tuple[str, str]]:
    """The catalogue as (code name, words) rows: the key from the files' names to the report's words."""
    words = Words(lang)
    return [(name, words(name)) for name in CATALOGUE]


__all__ = ["CATALOGUE", "LANGUAGES", "PHRASES", "Words", "glossary"]
