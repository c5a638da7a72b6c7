"""Figures: thin readers of tables and DataTree groups computed elsewhere (compute once, plot many).

Importing this module leaves matplotlib's backend alone (the CLI picks a file-only one; a notebook keeps
its inline backend).

Every figure function returns a ``matplotlib.figure.Figure`` and draws exactly the numbers of the table it
was given, in table order, so tests can check the data behind a figure rather than its pixels.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from ww_bayes.data.io import atomic_write


def save_png(figure: Figure, path, dpi: int = 110):
    """Write a figure as PNG atomically (temp file, then rename) and close it; return the path."""
    try:
        return atomic_write(path, lambda tmp: figure.savefig(tmp, dpi=dpi, format="png"))
    finally:
        plt.close(figure)


UNPOOLED_COLOUR = "#7f7f7f"
POOLED_COLOUR = "#1f5fa8"


def forest_data(table: pd.DataFrame, contrast: str, level: str) -> pd.DataFrame:
    """The rows one forest panel draws: subgroups of one contrast and level, in table order."""
    rows = table[(table["contrast"] == contrast) & (table["level"] == level)]
    return rows.reset_index(drop=True)


def _interval_bars(ax, data: pd.DataFrame, estimate: str, interval: str, offset: float, **style) -> None:
    """Points at ``data[estimate]`` with bars from ``<interval>_lb`` to ``<interval>_ub``, one per row."""
    centre = data[estimate].to_numpy(float)
    errors = [
        centre - data[f"{interval}_lb"].to_numpy(float),
        data[f"{interval}_ub"].to_numpy(float) - centre,
    ]
    ax.errorbar(centre, [row + offset for row in range(len(data))], xerr=errors, **style)


def forest_plot(
    table: pd.DataFrame, contrasts: list[str] | None = None, levels: list[str] | None = None
) -> Figure:
    """Unpooled (frequentist, its confidence interval) and partially pooled (posterior, its credible interval,
    at the same probability) subgroup estimates side by side, one panel per contrast and level, with the
    posterior overall effect as a line.

    ``table`` is the output of :func:`ww_bayes.compare.compare`.
    """
    label = table.attrs.get("interval_label", "eti90")
    ci = table.attrs.get("frequentist_interval_label", "ci90")
    contrasts = contrasts or list(dict.fromkeys(table["contrast"]))
    levels = levels or [lv for lv in dict.fromkeys(table["level"]) if lv != "overall"]
    heights = [max(len(forest_data(table, contrasts[0], level)), 3) for level in levels]
    fig, axes = plt.subplots(
        len(levels), len(contrasts), figsize=(4.2 * len(contrasts), 0.28 * sum(heights) + 1.5 * len(levels)),
        squeeze=False, sharex="col", gridspec_kw={"height_ratios": heights},
    )  # fmt: skip
    for column, contrast in enumerate(contrasts):
        overall = table[(table["contrast"] == contrast) & (table["level"] == "overall")]
        for row, level in enumerate(levels):
            ax = axes[row][column]
            data = forest_data(table, contrast, level)
            _interval_bars(
                ax, data, "frequentist_estimate", f"frequentist_{ci}", offset=0.15,
                fmt="o", color=UNPOOLED_COLOUR, ms=3, lw=1, label=f"unpooled: OLS, {ci[2:]}% CI",
            )  # fmt: skip
            _interval_bars(
                ax, data, "posterior_mean", f"posterior_{label}", offset=-0.15,
                fmt="s", color=POOLED_COLOUR, ms=3, lw=1.5,
                label=f"partially pooled: posterior mean, {label[:3].upper()} {label[3:]}%",
            )  # fmt: skip
            _mark_pooling_only(ax, data, "posterior_mean", offset=-0.15)
            if len(overall):
                ax.axvline(float(overall["posterior_mean"].iloc[0]), color=POOLED_COLOUR, ls="--", lw=0.8)
            _subgroup_axis(ax, data, f"{contrast}\n{level}", bottom=row == len(levels) - 1)
    outcome = table.attrs.get("outcome", "")
    title = f"Subgroup effects on {outcome}: unpooled vs partially pooled".replace(" on :", ":")
    return _finish_subgroup_figure(fig, axes, title)


POOLING_ONLY_COLOUR = "#d62728"
POOLING_ONLY_LABEL = "POOLING ONLY: no persons in one of the arms"


def _mark_pooling_only(ax, data: pd.DataFrame, estimate: str, offset: float = 0.0) -> None:
    """Ring the estimates of levels informed only by pooling (a sparse design's empty arms)."""
    if "pooling_only" not in data:
        return
    flagged = data["pooling_only"].fillna(False).astype(bool).to_numpy()
    if flagged.any():
        rows = [row + offset for row in range(len(data)) if flagged[row]]
        ax.scatter(data.loc[flagged, estimate].to_numpy(float), rows, s=70, facecolors="none", zorder=5,
                   edgecolors=POOLING_ONLY_COLOUR, linewidths=1.2, label=POOLING_ONLY_LABEL)  # fmt: skip


def _subgroup_axis(ax, data: pd.DataFrame, title: str, bottom: bool) -> None:
    """Zero line, one labelled row per subgroup (first at the top; a pooling-only level says so), title;
    x label on the bottom row."""
    ax.axvline(0, color="black", lw=0.5)
    labels = data["group"].astype(str)
    if "pooling_only" in data:
        labels = labels.where(~data["pooling_only"].fillna(False).astype(bool), labels + " (pooling only)")
    ax.set_yticks(list(range(len(data))), labels.tolist(), fontsize=7)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=8)
    if bottom:
        ax.set_xlabel("effect (percentage points)")


def _finish_subgroup_figure(fig: Figure, axes, title: str) -> Figure:
    entries = {}
    for ax in [ax for row in axes for ax in row]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    handles, labels = list(entries.values()), list(entries)
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=min(len(labels), 3), frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.03, 1, 1))  # room for the legend below the panels
    return fig


def effects_plot(summary: pd.DataFrame, interval_label: str = "eti90", title: str = "") -> Figure:
    """Posterior effects (pp) by subgroup: one panel per contrast (columns) and level (rows:
    ``by_werkverkenner``, ``by_region``), posterior mean with its labelled interval, the overall effect as a
    dashed line. ``summary`` is :func:`ww_bayes.results.summarise` output of a 12-month fit.
    """
    rows = summary[summary["estimand"] == "effect_pp"]
    contrasts = list(dict.fromkeys(rows["contrast"]))
    levels = [lv for lv in dict.fromkeys(rows["level"]) if lv != "overall"]
    heights = [max(len(forest_data(rows, contrasts[0], level)), 3) for level in levels]
    fig, axes = plt.subplots(
        len(levels), len(contrasts), figsize=(4.2 * len(contrasts), 0.25 * sum(heights) + 1.4 * len(levels)),
        squeeze=False, sharex="col", gridspec_kw={"height_ratios": heights},
    )  # fmt: skip
    kind, prob = interval_label[:3].upper(), interval_label[3:]
    for column, contrast in enumerate(contrasts):
        overall = forest_data(rows, contrast, "overall")
        for row, level in enumerate(levels):
            ax = axes[row][column]
            data = forest_data(rows, contrast, level)
            _interval_bars(ax, data, "mean", interval_label, offset=0.0, fmt="s", color=POOLED_COLOUR, ms=3,
                           lw=1.5, label=f"posterior mean, {kind} {prob}%")  # fmt: skip
            _mark_pooling_only(ax, data, "mean")
            if len(overall):
                ax.axvline(float(overall["mean"].iloc[0]), color=POOLED_COLOUR, ls="--", lw=0.8,
                           label="overall effect")  # fmt: skip
            _subgroup_axis(ax, data, f"{contrast}\n{level}", bottom=row == len(levels) - 1)
    return _finish_subgroup_figure(fig, axes, title or "Effects by subgroup (partially pooled posterior)")


CLASS_COLOURS = ("#d62728", "#ff7f0e", "#2ca02c", "#17becf", "#9467bd")
OUTCOME_TITLES = {"employed": "employed (any paid work)", "ww": "WW receipt"}


def trajectory_data(summary: pd.DataFrame, outcome: str, contrast: str, group: str = "all") -> pd.DataFrame:
    """The monthly effect rows one trajectory line draws (``group="all"``: the overall effect)."""
    rows = summary[
        (summary["estimand"] == "effect_pp")
        & (summary["outcome"] == outcome)
        & (summary["contrast"] == contrast)
        & (summary["group"] == group)
    ]
    return rows.sort_values("month").reset_index(drop=True)


def trajectory_plot(
    summary: pd.DataFrame, interval_label: str = "eti90", truth: pd.DataFrame | None = None
) -> Figure:
    """Effect paths over months: one panel per outcome (rows) and contrast (columns); the overall effect
    with its credible band, each Werkverkenner class as a line with a light band, and the simulator's
    overall truth as a dotted line when ``truth`` (outcome, contrast, month, truth) is given. A class curve
    informed only by pooling (no persons in one arm of the contrast) is dashed and says so in the legend.

    ``summary`` is :func:`ww_bayes.kinds.trajectory.trajectory_summary` output.
    """
    outcomes = list(dict.fromkeys(summary["outcome"]))
    contrasts = list(dict.fromkeys(summary["contrast"]))
    classes = [g for g in dict.fromkeys(summary.loc[summary["level"] == "by_werkverkenner", "group"])]
    fig, axes = plt.subplots(
        len(outcomes), len(contrasts), figsize=(4.3 * len(contrasts), 3.2 * len(outcomes)), squeeze=False,
        sharex=True,
    )  # fmt: skip
    kind, prob = interval_label[:3].upper(), interval_label[3:]
    for row, outcome in enumerate(outcomes):
        for column, contrast in enumerate(contrasts):
            ax = axes[row][column]
            for colour, group in zip(CLASS_COLOURS, classes, strict=False):
                data = trajectory_data(summary, outcome, contrast, group)
                ax.fill_between(data["month"], data[f"{interval_label}_lb"], data[f"{interval_label}_ub"],
                                color=colour, alpha=0.08, lw=0)  # fmt: skip
                flagged = "pooling_only" in data and bool(data["pooling_only"].astype(bool).any())
                ax.plot(data["month"], data["mean"], color=colour, lw=1, ls="--" if flagged else "-",
                        label=f"class {group}" + (" (POOLING ONLY: dashed)" if flagged else ""))  # fmt: skip
            data = trajectory_data(summary, outcome, contrast)
            band = f"overall, {kind} {prob}% band"
            ax.fill_between(data["month"], data[f"{interval_label}_lb"], data[f"{interval_label}_ub"],
                            color=POOLED_COLOUR, alpha=0.3, lw=0, label=band)  # fmt: skip
            ax.plot(data["month"], data["mean"], color=POOLED_COLOUR, lw=2.2, label="overall, posterior mean")
            if truth is not None:
                true = truth[(truth["outcome"] == outcome) & (truth["contrast"] == contrast)].sort_values(
                    "month"
                )
                ax.plot(true["month"], true["truth"], color="black", ls=":", lw=1.5, label="simulator truth")
            ax.axhline(0, color="black", lw=0.5)
            ax.set_title(f"{OUTCOME_TITLES.get(outcome, outcome)}\n{contrast}", fontsize=8)
            if row == len(outcomes) - 1:
                ax.set_xlabel("months since WW inflow")
            if column == 0:
                ax.set_ylabel("effect (percentage points)")
    entries = {}
    for ax in [ax for row in axes for ax in row]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    fig.legend(list(entries.values()), list(entries), fontsize=8, loc="lower center", ncol=4, frameon=False)
    fig.suptitle("Effects month by month, overall and by Werkverkenner class")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


CEA_FIGURES = ("ce_plane", "ceac", "eib", "tornado", "net_benefit_by_class")


def cea_figures(result, names: tuple[str, ...] | None = None) -> dict[str, Figure]:
    """The cost-effectiveness figures, each a thin reader of the ``cost_effectiveness`` group:
    ``ce_plane``, ``ceac``, ``eib`` (with EVPI), ``tornado`` and ``net_benefit_by_class``."""
    figures = {}
    wanted = names or CEA_FIGURES
    wtp = result["willingness_to_pay"].values

    if "ce_plane" in wanted:
        fig, ax = plt.subplots(figsize=(5.5, 4.5))
        ax.scatter(result["extra_employed_months"].values.ravel(), result["net_cost"].values.ravel(),
                   s=2, alpha=0.2, color=POOLED_COLOUR, label="posterior draws")  # fmt: skip
        ax.scatter([float(result["extra_employed_months"].mean())], [float(result["net_cost"].mean())],
                   color="black", marker="x", s=60, label="mean")  # fmt: skip
        ax.axhline(0, color="black", lw=0.5)
        ax.axvline(0, color="black", lw=0.5)
        ax.set_xlabel("effect: extra employed months per participant")
        ax.set_ylabel("net cost per participant (EUR): cost - fiscal benefits")
        ax.set_title(f"Cost-effectiveness plane: {result.attrs.get('contrast', '')}", fontsize=9)
        ax.legend(fontsize=8, frameon=False)
        fig.tight_layout()
        figures["ce_plane"] = fig

    if "ceac" in wanted:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        ax.plot(wtp, result["ceac"].values, color=POOLED_COLOUR, lw=2)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("willingness to pay (EUR per extra employed month)")
        ax.set_ylabel("P(service is cost-effective)")
        ax.set_title("Cost-effectiveness acceptability curve", fontsize=9)
        fig.tight_layout()
        figures["ceac"] = fig

    if "eib" in wanted:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        ax.plot(wtp, result["expected_incremental_benefit"].values, color=POOLED_COLOUR, lw=2,
                label="expected incremental benefit")  # fmt: skip
        ax.plot(wtp, result["evpi"].values, color=UNPOOLED_COLOUR, lw=1.5, ls="--", label="EVPI")
        ax.axhline(0, color="black", lw=0.5)
        ax.set_xlabel("willingness to pay (EUR per extra employed month)")
        ax.set_ylabel("EUR per participant")
        break_even = float(result["break_even_wtp"])
        ax.set_title(f"Expected incremental benefit; break-even at EUR {break_even:,.0f}",
                     fontsize=9)  # fmt: skip
        ax.legend(fontsize=8, frameon=False)
        fig.tight_layout()
        figures["eib"] = fig

    if "tornado" in wanted:
        inputs = list(result["input"].values)
        low, high = result["tornado_net_benefit_at_q05"].values, result["tornado_net_benefit_at_q95"].values
        order = sorted(range(len(inputs)), key=lambda i: abs(high[i] - low[i]))
        base = float(result["net_benefit"].mean())
        fig, ax = plt.subplots(figsize=(6, 0.35 * len(inputs) + 1.5))
        for row, i in enumerate(order):
            ax.barh(
                row,
                low[i] - base,
                left=base,
                color=UNPOOLED_COLOUR,
                label="input at its 5% quantile" if row == 0 else None,
            )
            ax.barh(
                row,
                high[i] - base,
                left=base,
                color=POOLED_COLOUR,
                label="input at its 95% quantile" if row == 0 else None,
            )
        ax.set_yticks(range(len(order)), [inputs[i] for i in order], fontsize=8)
        ax.axvline(base, color="black", lw=0.8)
        ax.set_xlabel("expected net benefit per participant (EUR)")
        ax.set_title("One-way sensitivity (tornado)", fontsize=9)
        ax.legend(fontsize=7, frameon=False, loc="lower right")
        fig.tight_layout()
        figures["tornado"] = fig

    if "net_benefit_by_class" in wanted:
        by_class = result["net_benefit_by_class"]
        classes = [str(c) for c in by_class["werkverkenner"].values]
        mean = by_class.mean(("chain", "draw")).values
        bounds = by_class.quantile([0.05, 0.95], dim=("chain", "draw")).values
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        ax.errorbar(mean, range(len(classes)), xerr=[mean - bounds[0], bounds[1] - mean], fmt="o",
                    color=POOLED_COLOUR, label="posterior mean, ETI 90%")  # fmt: skip
        ax.axvline(0, color="black", lw=0.5)
        ax.set_yticks(range(len(classes)), classes)
        ax.invert_yaxis()
        ax.set_xlabel("net benefit per participant served (EUR)")
        ax.set_ylabel("Werkverkenner class")
        ax.set_title(
            f"Net benefit by class; best rule: serve {result.attrs.get('best_rule', '')}", fontsize=9
        )
        ax.legend(fontsize=8, frameon=False)
        fig.tight_layout()
        figures["net_benefit_by_class"] = fig
    return figures


def cea_figure(result, name: str) -> Figure:
    """One of the :data:`CEA_FIGURES` of a ``cost_effectiveness`` group."""
    return cea_figures(result, (name,))[name]
