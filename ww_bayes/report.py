"""A static, self-contained HTML report of a run: one page an analyst can mail or archive.

``build_report(results_dir)`` reads the run's NetCDF files (12-month fits, trajectory fits, the
cost-effectiveness result), recomputes every table and figure from them (compute once, plot many: the
report never trusts a stale PNG) and returns the page; figures are embedded as base64 PNG, so the file
needs nothing beside it. Only cell counts, posterior summaries and derived estimands appear: never person
rows. Sections: run and files, data and calibration, diagnostics, effects by class and region, frequentist
comparison, trajectories, cost-effectiveness and targeting.
"""

from __future__ import annotations

import base64
import html
import io
import os
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from ww_bayes import __version__, published
from ww_bayes.cea import summary as cea_summary
from ww_bayes.cea import targeting_table
from ww_bayes.effects import summary_table
from ww_bayes.fit import FIT_KIND, ConvergenceWarning
from ww_bayes.frequentist import compare, frequentist_table
from ww_bayes.io import atomic_write, load_datatree
from ww_bayes.plots import cea_figures, effects_plot, forest_plot, trajectory_plot
from ww_bayes.schema import ARM_SERVICE, ARMS
from ww_bayes.trajectory import trajectory_summary

CEA_KIND = "ww_bayes cost-effectiveness"
TRAJECTORY_MONTHS_SHOWN = (6, 12, 18, 24, 30)

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2rem auto; max-width: 1150px;
       color: #1a1a1a; line-height: 1.45; padding: 0 1rem; }
h1 { border-bottom: 3px solid #1f5fa8; padding-bottom: .3rem; }
h2 { border-bottom: 1px solid #ccc; margin-top: 2.5rem; }
table { border-collapse: collapse; font-size: .85rem; margin: .6rem 0 1rem; }
th, td { padding: .2rem .55rem; border-bottom: 1px solid #e3e3e3; text-align: right; }
th { background: #f1f4f9; }
td:first-child, th:first-child { text-align: left; }
figure { margin: 1rem 0; }
img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .85rem; color: #555; }
.flag { background: #fde8e8; border-left: 5px solid #c0392b; padding: .5rem 1rem; white-space: pre-wrap; }
.ok { background: #e8f6ec; border-left: 5px solid #2e8b57; padding: .5rem 1rem; }
.note { color: #555; font-size: .9rem; }
nav a { margin-right: 1rem; }
"""


class ReportError(ValueError):
    """The results folder holds nothing a report can be made of."""


@dataclass
class RunFiles:
    """The ww_bayes outputs found in a results folder, by kind (file path -> DataTree)."""

    fits: dict[Path, xr.DataTree] = field(default_factory=dict)
    trajectories: dict[Path, xr.DataTree] = field(default_factory=dict)
    cost_effectiveness: dict[Path, xr.DataTree] = field(default_factory=dict)
    other: list[Path] = field(default_factory=list)

    def all_fits(self) -> dict[Path, xr.DataTree]:
        return {**self.fits, **self.trajectories}


def collect(results_dir: str | os.PathLike) -> RunFiles:
    """Read every NetCDF file of a results folder (eagerly) and sort it by its ``ww_bayes_kind``."""
    folder = Path(results_dir)
    if not folder.is_dir():
        raise ReportError(f"{folder}: no such folder")
    run = RunFiles()
    for path in sorted(folder.glob("*.nc")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=ConvergenceWarning)
            tree = load_datatree(path)
        kind = tree.attrs.get("ww_bayes_kind")
        if kind == FIT_KIND and tree.attrs.get("model_kind") == "trajectory":
            run.trajectories[path] = tree
        elif kind == FIT_KIND:
            run.fits[path] = tree
        elif kind == CEA_KIND:
            run.cost_effectiveness[path] = tree
        else:
            run.other.append(path)
    if not (run.fits or run.trajectories or run.cost_effectiveness):
        raise ReportError(
            f"{folder}: no ww_bayes fits or cost-effectiveness results (*.nc) to report on; "
            "run `make demo` or `ww-bayes fit ...` first"
        )
    return run


# --- html helpers -----------------------------------------------------------------------------------------


def _table(frame: pd.DataFrame, digits: int = 2) -> str:
    return frame.to_html(
        index=False, border=0, na_rep="", float_format=lambda v: f"{v:,.{digits}f}", escape=True
    )


def _figure(fig: Figure, caption: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    text = html.escape(caption)
    image = f'<img alt="{text}" src="data:image/png;base64,{data}">'
    return f"<figure>{image}<figcaption>{text}</figcaption></figure>"


def _p(text: str, kind: str = "") -> str:
    css = f' class="{kind}"' if kind else ""
    return f"<p{css}>{html.escape(text)}</p>"


def _interval_text(kind: str, prob: float) -> str:
    return f"{kind.upper()} {prob:.0%} credible interval"


def _label(tree: xr.DataTree) -> tuple[str, float, str]:
    kind = str(tree.attrs.get("interval_kind", "eti"))
    prob = float(tree.attrs.get("interval_prob", 0.9))
    return kind, prob, f"{kind}{round(100 * prob)}"


# --- sections -----------------------------------------------------------------------------------------------


def _files_section(run: RunFiles) -> str:
    rows = []
    for path, tree in run.all_fits().items():
        rows.append(
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
        )
    for path, tree in run.cost_effectiveness.items():
        rows.append({"file": path.name, "kind": "cost-effectiveness", "model": tree.attrs.get("fits", "")})
    parts = [_table(pd.DataFrame(rows).fillna(""))]
    digests = {str(t.attrs.get("data_sha256")) for t in run.all_fits().values()}
    if len(digests) > 1:
        parts.append(
            _p(
                "The fits were made on different data files (their SHA-256 differ): read the "
                "sections side by side with care.",
                "flag",
            )
        )
    if run.other:
        parts.append(_p("Not ww_bayes outputs, left out: " + ", ".join(p.name for p in run.other), "note"))
    return "".join(parts)


def _online_and_service_rates(tree: xr.DataTree) -> tuple[float, float]:
    """Observed rates (persons with the outcome observed) of the two online-only arms together and of the
    service arm, summed over the fit's cells."""
    successes = tree["observed_data"].ds["y"].groupby("arm").sum()
    trials = tree["constant_data"].ds["trials"].groupby("arm").sum()
    online = [a for a in ARMS if a != ARM_SERVICE]
    online_rate = float(successes.sel(arm=online).sum() / trials.sel(arm=online).sum())
    return online_rate, float(successes.sel(arm=ARM_SERVICE) / trials.sel(arm=ARM_SERVICE))


def _calibration_section(run: RunFiles) -> str:
    by_outcome = {tree.attrs.get("outcome"): tree for tree in run.fits.values()}
    any_fit = next(iter(run.fits.values()), None)
    if any_fit is None:
        return _p("No 12-month fit in this folder: no cell counts to describe the data with.", "note")
    constant = any_fit["constant_data"].ds
    counts = (
        constant["trials"].to_dataframe().groupby(["arm", "werkverkenner"], observed=True)["trials"].sum()
    )
    table = counts.unstack("werkverkenner").reindex(list(ARMS))
    table["total"] = table.sum(axis=1)
    table.columns.name = None
    table = table.reset_index()
    parts = [
        f"<h3>Persons by arm and Werkverkenner class</h3>"
        f"<p class='note'>Persons with {html.escape(str(any_fit.attrs.get('outcome')))} observed, from the "
        "fit's cells.</p>",
        _table(table, digits=0),
    ]
    rows = []
    if "employed_m12" in by_outcome:
        online, service = _online_and_service_rates(by_outcome["employed_m12"])
        rows += [
            ("job at month 12, online only (%)", 100 * online, 100 * published.JOB_RATE_M12_ONLINE),
            ("job at month 12, service (%)", 100 * service, 100 * published.JOB_RATE_M12_SERVICE),
            ("job m12: service - online only (pp)", 100 * (service - online), published.SERVICE_JOB_PP_M12),
        ]
    if "ww_m12" in by_outcome:
        online, service = _online_and_service_rates(by_outcome["ww_m12"])
        rows.append(
            ("WW m12: service - online only (pp)", 100 * (service - online), published.SERVICE_WW_PP_M12)
        )
    if rows:
        headline = pd.DataFrame(rows, columns=["quantity", "this run (raw)", "published"])
        parts += [
            "<h3>Headline outcomes beside the published figures</h3>",
            _p(
                f"Raw differences in means from the cells (the models estimate the effects properly). "
                f"Published: {published.SOURCE}."
            ),
            _table(headline),
        ]
    return "".join(parts)


def _optional(value, fmt: str) -> str:
    """A number formatted, or "-" for a fit written before the check existed."""
    return "-" if value is None else fmt.format(float(value))


def _diagnostics_section(run: RunFiles) -> str:
    rows, flags = [], []
    for path, tree in run.all_fits().items():
        diagnostics = tree["diagnostics"].ds
        checked = diagnostics["ess_checked"].astype(bool)
        rows.append(
            {
                "file": path.name,
                "converged": tree.attrs.get("converged", "unknown"),
                "max R-hat": float(diagnostics["r_hat_max"].max()),
                "min ESS bulk (checked)": f"{float(diagnostics['ess_bulk_min'].where(checked).min()):,.0f}",
                "min ESS tail (checked)": f"{float(diagnostics['ess_tail_min'].where(checked).min()):,.0f}",
                "divergences": int(diagnostics.attrs.get("divergences", 0)),
                "min E-BFMI": _optional(diagnostics.attrs.get("min_bfmi_observed"), "{:.2f}"),
                "draws at max tree depth": _optional(
                    diagnostics.attrs.get("share_at_max_treedepth"), "{:.1%}"
                ),
                "thresholds": f"R-hat <= {diagnostics.attrs.get('max_rhat')}, ESS >= "
                f"{diagnostics.attrs.get('min_ess_bulk')}, divergences <= "
                f"{diagnostics.attrs.get('max_divergences')}, "
                f"E-BFMI >= {diagnostics.attrs.get('min_bfmi', '-')}, "
                f"at max tree depth <= {_optional(diagnostics.attrs.get('max_treedepth_share'), '{:.0%}')}",
                "chains x draws": f"{tree.attrs.get('chains')} x {tree.attrs.get('draws')}",
                "sampler": tree.attrs.get("sampler", ""),
            }
        )
        if tree.attrs.get("converged") != "yes":
            flags.append(
                _p(
                    f"{path.name} DID NOT CONVERGE; its numbers below are not to be trusted.\n"
                    f"{tree.attrs.get('convergence_report', '')}",
                    "flag",
                )
            )
    if not rows:
        return _p("No fits in this folder.", "note")
    status = "".join(flags) or _p("Every fit met its convergence thresholds.", "ok")
    return status + _table(pd.DataFrame(rows), digits=3)


def _effects_section(run: RunFiles) -> str:
    parts = []
    for path, tree in run.fits.items():
        kind, prob, label = _label(tree)
        summary = summary_table(tree["effects"].ds, kind, prob)
        effects = summary[summary["estimand"] == "effect_pp"]
        columns = [
            "contrast",
            "level",
            "group",
            "mean",
            f"{label}_lb",
            f"{label}_ub",
            "prob_positive",
            "prob_beyond_smallest",
        ]
        main = effects[effects["level"].isin(["overall", "by_werkverkenner"])][columns]
        parts.append(
            f"<h3>{html.escape(str(tree.attrs.get('model_name', path.stem)))}: "
            f"{html.escape(str(tree.attrs.get('outcome')))}</h3>"
        )
        parts.append(
            _p(
                f"Percentage points: posterior mean and {_interval_text(kind, prob)}; "
                f"prob_beyond_smallest = P(|effect| > {tree.attrs.get('smallest_effect_pp')} pp)."
            )
        )
        parts.append(_table(main))
        regions = effects[effects["level"] == "by_region"][columns]
        if len(regions):
            parts.append(
                f"<details><summary>Effects by region ({len(regions)} rows)</summary>"
                f"{_table(regions)}</details>"
            )
        parts.append(
            _figure(
                effects_plot(summary, label, f"Effects on {tree.attrs.get('outcome')} by subgroup"),
                f"{path.stem}: effects by Werkverkenner class and region, posterior mean and "
                f"{_interval_text(kind, prob)}",
            )
        )
    return "".join(parts) or _p("No 12-month fits in this folder.", "note")


def _frequentist_section(run: RunFiles) -> str:
    parts = []
    for path, tree in run.fits.items():
        if "frequentist" not in tree.children:
            parts.append(
                _p(
                    f"{path.name}: no stored frequentist estimates (run `ww-bayes compare "
                    f"{path} --data ... --out ... --store`).",
                    "note",
                )
            )
            continue
        frequentist = frequentist_table(tree["frequentist"].ds)
        table = compare(tree, frequentist)
        label = table.attrs["interval_label"]
        shown = table[table["level"].isin(["overall", "by_werkverkenner"])][
            [
                "contrast",
                "level",
                "group",
                "frequentist_estimate",
                "frequentist_ci95_lb",
                "frequentist_ci95_ub",
                "frequentist_p_holm",
                "posterior_mean",
                f"posterior_{label}_lb",
                f"posterior_{label}_ub",
                "shrinkage",
            ]
        ]
        method = f"{frequentist['method'].iloc[0].upper()}, {frequentist['se_type'].iloc[0]} errors"
        parts.append(f"<h3>{html.escape(str(tree.attrs.get('outcome')))}</h3>")
        parts.append(
            _p(
                f"Frequentist intention-to-treat ({method}; 95% confidence interval, Holm-adjusted "
                "p over subgroups) beside the posterior; shrinkage 0 = pooling left the unpooled "
                "estimate alone, 1 = moved it to the overall effect."
            )
        )
        parts.append(_table(shown))
        parts.append(
            _figure(
                forest_plot(table),
                f"{path.stem}: unpooled (OLS, 95% CI) and partially pooled ({label}) subgroup effects",
            )
        )
    return "".join(parts) or _p("No 12-month fits in this folder.", "note")


def _trajectory_section(run: RunFiles) -> str:
    if not run.trajectories:
        return _p("No trajectory fit in this folder (`ww-bayes fit models/trajectory_30m.toml ...`).", "note")
    parts = []
    for path, tree in run.trajectories.items():
        kind, prob, label = _label(tree)
        summary = trajectory_summary(tree["trajectory"].ds, kind, prob)
        overall = summary[(summary["level"] == "overall") & summary["month"].isin(TRAJECTORY_MONTHS_SHOWN)]
        wide = overall.assign(
            cell=[
                f"{m:+.2f} [{lb:+.2f}, {ub:+.2f}]"
                for m, lb, ub in zip(
                    overall["mean"], overall[f"{label}_lb"], overall[f"{label}_ub"], strict=True
                )
            ]
        ).pivot_table(
            index=["estimand", "outcome", "contrast"],
            columns="month",
            values="cell",
            aggfunc="first",
            sort=False,
        )
        wide.columns = [f"month {m}" for m in wide.columns]
        parts.append(f"<h3>{html.escape(path.name)}</h3>")
        parts.append(
            _p(
                f"Overall effects: posterior mean [{_interval_text(kind, prob)}]; effect_pp in pp in "
                "that month, cumulative rows in months per participant over months 1..month."
            )
        )
        parts.append(_table(wide.reset_index()))
        parts.append(
            _figure(
                trajectory_plot(summary, label),
                f"{path.stem}: effect paths with {_interval_text(kind, prob)} bands",
            )
        )
    return "".join(parts)


def _cea_section(run: RunFiles) -> str:
    if not run.cost_effectiveness:
        return _p("No cost-effectiveness result in this folder (`ww-bayes cea ...`).", "note")
    parts = []
    for path, tree in run.cost_effectiveness.items():
        result = tree["cost_effectiveness"].ds
        parts.append(
            _p(
                f"{path.name}: {result.attrs.get('contrast', '')}, effects from "
                f"{result.attrs.get('effects_source', '')}; euros per participant unless stated; "
                "posterior mean and equal-tailed 90% interval (eti90)."
            )
        )
        parts.append(_table(cea_summary(result)))
        parts.append(
            _p(
                f"Sanity check: the published benefit-cost ratio is EUR {published.BENEFITS_MEUR:.0f}m"
                f" / EUR {published.EXECUTION_COSTS_MEUR:.0f}m = {published.BENEFIT_COST_RATIO:.2f}"
                " (its own perspective and horizon; not a target)."
            )
        )
        parts.append("<h3>Targeting: which Werkverkenner classes to serve</h3>")
        parts.append(
            _p(
                f"Best rule: serve {result.attrs.get('best_rule', '')}. Expected net benefit per "
                "cohort participant (EUR) and the probability that each rule is the best."
            )
        )
        parts.append(_table(targeting_table(result, top=8)))
        captions = {
            "ce_plane": "cost-effectiveness plane (posterior draws)",
            "ceac": "cost-effectiveness acceptability curve",
            "eib": "expected incremental benefit and EVPI",
            "tornado": "one-way sensitivity (each input at its 5% and 95% quantile)",
            "net_benefit_by_class": "net benefit by Werkverkenner class, ETI 90%",
        }
        for name, figure in cea_figures(result).items():
            parts.append(_figure(figure, captions.get(name, name)))
    return "".join(parts)


SECTIONS = (
    ("files", "Run and files", _files_section),
    ("data", "Data and calibration", _calibration_section),
    ("diagnostics", "Diagnostics", _diagnostics_section),
    ("effects", "Effects by class and region", _effects_section),
    ("frequentist", "Frequentist comparison", _frequentist_section),
    ("trajectories", "Trajectories over 30 months", _trajectory_section),
    ("cost-effectiveness", "Cost-effectiveness and targeting", _cea_section),
)


def build_report(results_dir: str | os.PathLike) -> str:
    """The report of the run in ``results_dir`` as one HTML string (figures embedded)."""
    run = collect(results_dir)
    body = []
    for anchor, title, section in SECTIONS:
        body.append(f'<section id="{anchor}"><h2>{html.escape(title)}</h2>{section(run)}</section>')
    nav = "".join(f'<a href="#{anchor}">{html.escape(title)}</a>' for anchor, title, _ in SECTIONS)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<title>ww_bayes report</title>"
        f"<style>{CSS}</style></head><body>"
        "<h1>ww_bayes: personal job-search services for WW claimants</h1>"
        f"<p class='note'>Report of {html.escape(str(Path(results_dir)))}, made {created} by ww_bayes "
        f"{html.escape(__version__)}. Bayesian effects in percentage points with labelled credible "
        "intervals; no person-level rows.</p>"
        f"<nav>{nav}</nav>{''.join(body)}</body></html>\n"
    )


def write_report(results_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Build the report of ``results_dir`` and write it to ``out`` atomically."""
    page = build_report(results_dir)
    return atomic_write(out, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
