"""The sections of the HTML report, each a function of the run's files that returns data (blocks), not
markup: :mod:`ww_bayes.report` renders them through the template.

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
from ww_bayes.data import published
from ww_bayes.data.schema import ARM_SERVICE, ARMS
from ww_bayes.kinds import KINDS, kind_of
from ww_bayes.kinds.protocol import Block, Heading, Paragraph, Plot, Table
from ww_bayes.report.checks import model_check_blocks
from ww_bayes.results import FREQUENTIST_GROUP, RunFiles, summarise
from ww_bayes.summaries import shown_levels

CEA_CAPTIONS = {
    "ce_plane": "cost-effectiveness plane (posterior draws)",
    "ceac": "cost-effectiveness acceptability curve",
    "eib": "expected incremental benefit and EVPI",
    "tornado": "one-way sensitivity (each input at its 5% and 95% quantile)",
    "net_benefit_by_class": "net benefit by Werkverkenner class, ETI 90%",
}


@dataclass(frozen=True)
class Section:
    anchor: str
    title: str
    build: Callable[[RunFiles], list[Block]]


def _optional(value, fmt: str) -> str:
    """A number formatted, or "-" for a fit written before the check existed."""
    return "-" if value is None else fmt.format(float(value))


def files_section(run: RunFiles) -> list[Block]:
    rows = [
        {
            "file": path.name,
            "kind": tree.attrs.get("model_kind", ""),
            "model": tree.attrs.get("model_name", ""),
            "outcome": tree.attrs.get("outcome", ""),
            "persons": f"{int(tree.attrs.get('n_persons', 0)):,}",
            "cells": f"{int(tree.attrs.get('n_cells', 0)):,}",
            "data SHA-256": str(tree.attrs.get("data_sha256", ""))[:12],
            "created": tree.attrs.get("created_at", ""),
        }
        for path, tree in run.fits.items()
    ]
    for path, tree in run.cost_effectiveness.items():
        rows.append({"file": path.name, "kind": "cost-effectiveness", "model": tree.attrs.get("fits", "")})
    blocks: list[Block] = [Table(pd.DataFrame(rows).fillna(""))]
    if len({str(t.attrs.get("data_sha256")) for t in run.fits.values()}) > 1:
        blocks.append(Paragraph("The fits were made on different data files (their SHA-256 differ): read the "
                                "sections side by side with care.", "flag"))  # fmt: skip
    for path, reason in run.skipped.items():
        blocks.append(Paragraph(f"Skipped {path.name}: {reason}", "flag"))
    if run.other:
        names = ", ".join(p.name for p in run.other)
        blocks.append(Paragraph(f"Not ww_bayes outputs (or not readable by this version), left out: {names}",
                                "note"))  # fmt: skip
    return blocks


def _rates(counts: pd.DataFrame) -> tuple[float, float]:
    """Observed rates of the two online-only arms together and of the service arm."""
    by_arm = counts.groupby("arm")[["count", "persons"]].sum()
    online = by_arm.loc[[a for a in ARMS if a != ARM_SERVICE]].sum()
    service = by_arm.loc[ARM_SERVICE]
    return online["count"] / online["persons"], service["count"] / service["persons"]


def data_section(run: RunFiles) -> list[Block]:
    counts = {}
    for tree in run.fits.values():
        kind = kind_of(tree)
        if kind.describes_persons:
            counts.setdefault(str(tree.attrs.get("outcome")), kind.person_counts(tree))
    if not counts:
        return [Paragraph("No fit in this folder counts persons once per cell: no counts to describe the "
                          "data with.", "note")]  # fmt: skip
    outcome, first = next(iter(counts.items()))
    columns = "werkverkenner" if "werkverkenner" in first else None
    table = (
        first.pivot_table(index="arm", columns=columns, values="persons", aggfunc="sum", sort=False)
        if columns
        else first.groupby("arm", sort=False)[["persons"]].sum()
    )
    table = table.reindex(list(ARMS))
    table["total"] = table.sum(axis=1)
    table.columns.name = None
    blocks: list[Block] = [
        Heading("Persons by arm and Werkverkenner class"),
        Paragraph(f"Persons with {outcome} observed, from the fit's cells.", "note"),
        Table(table.reset_index(), digits=0),
    ]
    rows = []
    if "employed_m12" in counts:
        online, service = _rates(counts["employed_m12"])
        rows += [
            ("job at month 12, online only (%)", 100 * online, 100 * published.JOB_RATE_M12_ONLINE),
            ("job at month 12, service (%)", 100 * service, 100 * published.JOB_RATE_M12_SERVICE),
            ("job m12: service - online only (pp)", 100 * (service - online), published.SERVICE_JOB_PP_M12),
        ]
    if "ww_m12" in counts:
        online, service = _rates(counts["ww_m12"])
        rows.append(
            ("WW m12: service - online only (pp)", 100 * (service - online), published.SERVICE_WW_PP_M12)
        )
    if rows:
        blocks += [
            Heading("Headline outcomes beside the published figures"),
            Paragraph(
                "Raw differences in means from the cells (the models estimate the effects properly). "
                f"Published: {published.SOURCE}."
            ),  # fmt: skip
            Table(pd.DataFrame(rows, columns=["quantity", "this run (raw)", "published"])),
        ]
    return blocks


def diagnostics_section(run: RunFiles) -> list[Block]:
    rows, flags = [], []
    for path, tree in run.fits.items():
        diagnostics = tree["diagnostics"].ds
        attrs = diagnostics.attrs
        checked = diagnostics["ess_checked"].astype(bool)
        rows.append(
            {
                "file": path.name,
                "converged": tree.attrs.get("converged", "unknown"),
                "max R-hat": float(diagnostics["r_hat_max"].max()),
                "min ESS bulk (checked)": f"{float(diagnostics['ess_bulk_min'].where(checked).min()):,.0f}",
                "min ESS tail (checked)": f"{float(diagnostics['ess_tail_min'].where(checked).min()):,.0f}",
                "divergences": int(attrs.get("divergences", 0)),
                "min E-BFMI": _optional(attrs.get("min_bfmi_observed"), "{:.2f}"),
                "draws at max tree depth": _optional(attrs.get("share_at_max_treedepth"), "{:.1%}"),
                "thresholds": f"R-hat <= {attrs.get('max_rhat')}, ESS >= {attrs.get('min_ess_bulk')}, "
                f"divergences <= {attrs.get('max_divergences')}, E-BFMI >= {attrs.get('min_bfmi', '-')}, "
                f"at max tree depth <= {_optional(attrs.get('max_treedepth_share'), '{:.0%}')}",
                "chains x draws": f"{tree.attrs.get('chains')} x {tree.attrs.get('draws')}",
                "sampler": tree.attrs.get("sampler", ""),
            }
        )
        if tree.attrs.get("converged") != "yes":
            flags.append(Paragraph(f"{path.name} DID NOT CONVERGE; its numbers below are not to be trusted.\n"
                                   f"{tree.attrs.get('convergence_report', '')}", "flag"))  # fmt: skip
    if not rows:
        return [Paragraph("No fits in this folder.", "note")]
    status = flags or [Paragraph("Every fit met its convergence thresholds.", "ok")]
    return [*status, Table(pd.DataFrame(rows), digits=3), *model_check_blocks(run)]


def kind_section(section: tuple[str, str]) -> Callable[[RunFiles], list[Block]]:
    """The section the kinds with report section ``section`` contribute: each fit's blocks."""

    def build(run: RunFiles) -> list[Block]:
        blocks: list[Block] = []
        for path, tree in run.fits_of_section(section).items():
            blocks += kind_of(tree).report_blocks(path.name, tree, summarise(tree))
        return blocks or [
            Paragraph(f"No fits for this section in this folder ({section[1].lower()}).", "note")
        ]

    return build


def frequentist_section(run: RunFiles) -> list[Block]:
    blocks: list[Block] = []
    for path, tree in run.fits.items():
        if not kind_of(tree).frequentist:
            continue
        if FREQUENTIST_GROUP not in tree.children:
            blocks.append(Paragraph(f"{path.name}: no stored frequentist estimates (run `ww-bayes compare "
                                    f"{path} --data ... --out ... --store`).", "note"))  # fmt: skip
            continue
        frequentist = frequentist_table(tree[FREQUENTIST_GROUP].ds)
        table = compare(tree, frequentist)
        label, ci = table.attrs["interval_label"], table.attrs["frequentist_interval_label"]
        columns = ["contrast", "level", "group", "frequentist_estimate", f"frequentist_{ci}_lb",
                   f"frequentist_{ci}_ub", "frequentist_p_holm", "posterior_mean", f"posterior_{label}_lb",
                   f"posterior_{label}_ub", "shrinkage"]  # fmt: skip
        method = f"{frequentist['method'].iloc[0].upper()}, {frequentist['se_type'].iloc[0]} errors"
        blocks += [
            Heading(str(tree.attrs.get("outcome"))),
            Paragraph(
                f"Frequentist intention-to-treat ({method}; {ci[2:]}% confidence interval, Holm-adjusted "
                "p over subgroups) beside the posterior; shrinkage 0 = pooling left the unpooled "
                "estimate alone, 1 = moved it to the overall effect."
            ),  # fmt: skip
            Table(table[table["level"].isin(shown_levels(table))][columns]),
            Plot(
                "forest",
                table,
                f"{path.stem}: unpooled (OLS, {ci[2:]}% CI) and partially pooled ({label}) subgroup effects",
            ),  # fmt: skip
        ]
    return blocks or [Paragraph("No fits in this folder that compare with frequentist estimates.", "note")]


def cea_section(run: RunFiles) -> list[Block]:
    if not run.cost_effectiveness:
        return [Paragraph("No cost-effectiveness result in this folder (`ww-bayes cea ...`).", "note")]
    blocks: list[Block] = []
    for path, tree in run.cost_effectiveness.items():
        result = tree["cost_effectiveness"].ds
        blocks += [
            Paragraph(
                f"{path.name}: {result.attrs.get('contrast', '')}, effects from "
                f"{result.attrs.get('effects_source', '')}; euros per participant unless stated; "
                "posterior mean and equal-tailed 90% interval (eti90)."
            ),  # fmt: skip
            Table(cea_summary(result)),
            Paragraph(
                f"Sanity check: the published benefit-cost ratio is EUR {published.BENEFITS_MEUR:.0f}m"
                f" / EUR {published.EXECUTION_COSTS_MEUR:.0f}m = {published.BENEFIT_COST_RATIO:.2f}"
                " (its own perspective and horizon; not a target)."
            ),  # fmt: skip
            Heading("Targeting: which Werkverkenner classes to serve"),
            Paragraph(
                f"Best rule: serve {result.attrs.get('best_rule', '')}. Expected net benefit per "
                "cohort participant (EUR) and the probability that each rule is the best."
            ),  # fmt: skip
            Table(targeting_table(result, top=8)),
        ]
        blocks += [Plot("cea", result, caption, {"name": name}) for name, caption in CEA_CAPTIONS.items()]
    return blocks


def sections() -> list[Section]:
    """The report's sections in order: run, data, diagnostics, one per kind section, comparison, CEA."""
    by_kind = list(dict.fromkeys(kind.report_section for kind in KINDS.values()))
    return [
        Section("files", "Run and files", files_section),
        Section("data", "Data and calibration", data_section),
        Section("diagnostics", "Diagnostics", diagnostics_section),
        *(Section(anchor, title, kind_section((anchor, title))) for anchor, title in by_kind),
        Section("frequentist", "Frequentist comparison", frequentist_section),
        Section("cost-effectiveness", "Cost-effectiveness and targeting", cea_section),
    ]
