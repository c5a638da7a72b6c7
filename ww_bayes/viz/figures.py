"""Figures: thin readers of tables and DataTree groups computed elsewhere (compute once, plot many).

Importing this module leaves matplotlib's backend alone (the CLI picks a file-only one; a notebook keeps
its inline backend).

Every figure function returns a ``matplotlib.figure.Figure`` and draws exactly the numbers of the table it
was given, in table order, so tests can check the data behind a figure rather than its pixels. Each
follows the rules of :mod:`ww_bayes.viz.style` (16 cm wide, no text under 8 pt, legends below the panels,
Okabe-Ito colours) and takes ``lang`` ("en" or "nl"): its words come from :mod:`ww_bayes.labels`. Under
every title a line says where the data come from (:meth:`ww_bayes.labels.Words.origin`): the fit's
``synthetic_data`` attribute, passed as ``origin`` (the cost-effectiveness figures read it from their
group).
"""

from __future__ import annotations

import re
import textwrap

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ww_bayes.labels import Words
from ww_bayes.viz.style import (
    CLASS_COLOURS,
    FLAGGED,
    FREQUENTIST,
    POSTERIOR,
    RC,
    REFERENCE,
    TRUTH,
    WIDTH_IN,
    drawing,
    finish,
    legend_below,
    legend_in_foot,
    new_figure,
    with_legend_foot,
)

#: Height (inches) of one subgroup's row in a forest plot: 8 pt labels with a little air.
ROW_IN = 0.16
#: Characters per line of a column title in a row of three panels (8.5 pt, about 1.2 inches).
TITLE_CHARACTERS = 19


def wrap(text: str, width: int) -> str:
    return textwrap.fill(str(text), width=width, break_on_hyphens=False)


def titled(title: str, origin: str | None, words: Words, width: int) -> str:
    """A figure's title with the data's origin on its own line below it (:meth:`Words.origin`)."""
    return f"{wrap(title, width)}\n{wrap(words.origin(origin), width)}"


def interval_words(label: str, words: Words) -> str:
    """A credible interval label (``eti90``) in words: "90% credible interval (equal-tailed)"."""
    match = re.fullmatch(r"(eti|hdi)(\d+)", label)
    if match is None:
        raise ValueError(f"not an interval label: {label!r} (e.g. 'eti90')")
    return words.interval(match.group(1), int(match.group(2)) / 100)


def _group_words(group, words: Words) -> str:
    return words(str(group))


def _factor_words(level: str, words: Words) -> str:
    """``by_region`` -> "labour-market region"."""
    return words(level.removeprefix("by_"))


# --- subgroup effects: posterior (effects plot) and beside the frequentist estimates (forest plot) ---------


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


def _mark_pooling_only(ax, data: pd.DataFrame) -> None:
    """Circle the posterior estimates of levels informed only by pooling (a sparse design's empty arms)."""
    if "pooling_only" not in data:
        return
    flagged = data["pooling_only"].fillna(False).astype(bool).to_numpy()
    estimate, offset = ("posterior_mean", -0.17) if "posterior_mean" in data else ("mean", 0.0)
    if flagged.any():
        rows = [row + offset for row in range(len(data)) if flagged[row]]
        ax.scatter(data.loc[flagged, estimate].to_numpy(float), rows, s=60, facecolors="none", zorder=5,
                   edgecolors=FLAGGED, linewidths=1.2)  # fmt: skip


def _subgroup_figure(
    table,
    contrasts,
    levels,
    words: Words,
    draw_panel,
    legend: dict,
    title: str,
    origin: str | None,
    axis: str = "",
) -> Figure:
    """One panel per level (rows) and contrast (columns); subgroup names once, at the left of each row
    (the columns of a row share them); x tick labels on every row; ``legend`` (label: handle) below."""
    counts = [len(forest_data(table, contrasts[0], level)) for level in levels]
    heights = [max(count, 4) for count in counts]
    flagged = "pooling_only" in table and bool(table["pooling_only"].fillna(False).astype(bool).any())
    if flagged:
        legend[f"{words('pooling_only')} ({words('circled')})"] = Line2D(
            [], [], ls="", marker="o", ms=7, mfc="none", mec=FLAGGED
        )
    figure, body, foot = with_legend_foot(ROW_IN * sum(heights) + 0.45 * len(levels) + 1.2, list(legend))
    axes = body.subplots(len(levels), len(contrasts), squeeze=False, sharex="col", sharey="row",
                         gridspec_kw={"height_ratios": heights})  # fmt: skip
    for row, level in enumerate(levels):
        groups = forest_data(table, contrasts[0], level)["group"].tolist()
        for column, contrast in enumerate(contrasts):
            ax = axes[row][column]
            ax.set_gid(f"{contrast}.{level}")
            data = forest_data(table, contrast, level)
            if data["group"].tolist() != groups:
                raise ValueError(f"{contrast} {level}: its subgroups differ from {contrasts[0]}'s")
            draw_panel(ax, data, contrast)
            _mark_pooling_only(ax, data)
            ax.axvline(0, color=TRUTH, lw=0.5)
            ax.tick_params(labelbottom=True)  # every row says where its effects lie
            ax.grid(axis="x", color=REFERENCE, lw=0.3, alpha=0.5)
            if row == 0:
                ax.set_title(wrap(words(contrast), TITLE_CHARACTERS))
        first = axes[row][0]
        first.set_yticks(range(len(groups)), [_group_words(g, words) for g in groups])
        first.set_ylim(len(groups) - 0.5, -0.5)  # first subgroup at the top
        first.set_ylabel(wrap(_factor_words(level, words), 16))
    body.supxlabel(axis or words("effect_axis"))
    body.suptitle(titled(title, origin, words, 72))
    legend_in_foot(foot, list(legend.values()), list(legend))
    return finish(figure)


def forest_plot(
    table: pd.DataFrame,
    contrasts: list[str] | None = None,
    levels: list[str] | None = None,
    lang: str = "en",
    origin: str | None = None,
) -> Figure:
    """Unpooled (frequentist, 90% confidence interval) and partially pooled (posterior mean, labelled
    credible interval) subgroup effects (pp), one panel per contrast (columns) and level (rows), with the
    posterior effect for all claimants as a dashed line.

    ``table`` is the output of :func:`ww_bayes.compare.compare` (its ``frequentist_ci90_*`` and
    ``posterior_<interval>_*`` columns); ``origin``: the fit's ``synthetic_data`` attribute, said under
    the title (as in every figure).
    """
    words = Words(lang)
    label = table.attrs.get("interval_label", "eti90")
    ci = table.attrs.get("frequentist_interval_label", "ci90")
    contrasts = contrasts or list(dict.fromkeys(table["contrast"]))
    levels = levels or [lv for lv in dict.fromkeys(table["level"]) if lv != "overall"]
    unpooled = f"{words('unpooled')}: {words('estimate')}, {words.confidence(int(ci[2:]) / 100)}"
    pooled = f"{words('partially_pooled')}: {words('posterior_mean')}, {interval_words(label, words)}"

    def panel(ax, data, contrast):
        _interval_bars(ax, data, "frequentist_estimate", f"frequentist_{ci}", offset=0.17, fmt="o",
                       color=FREQUENTIST, ms=3, lw=1)  # fmt: skip
        _interval_bars(ax, data, "posterior_mean", f"posterior_{label}", offset=-0.17, fmt="s",
                       color=POSTERIOR, ms=3, lw=1.4)  # fmt: skip
        overall = forest_data(table, contrast, "overall")
        if len(overall) and not table.attrs.get("several_estimands"):
            ax.axvline(float(overall["posterior_mean"].iloc[0]), color=POSTERIOR, ls="--", lw=0.8)

    legend = {
        unpooled: Line2D([], [], color=FREQUENTIST, marker="o", ms=3, lw=1),
        pooled: Line2D([], [], color=POSTERIOR, marker="s", ms=3, lw=1.4),
        words("overall_effect"): Line2D([], [], color=POSTERIOR, ls="--", lw=0.8),
    }
    if table.attrs.get("several_estimands"):  # no single overall effect per panel
        legend.pop(words("overall_effect"))
    outcome = words(table.attrs.get("outcome", "")) or words("outcome")
    with drawing():
        return _subgroup_figure(table, contrasts, levels, words, panel, legend,
                                words("forest_title").format(outcome=outcome), origin)  # fmt: skip


def effects_plot(
    summary: pd.DataFrame,
    interval_label: str = "eti90",
    title: str = "",
    lang: str = "en",
    origin: str | None = None,
    axis: str = "",
) -> Figure:
    """Posterior effects (pp) by subgroup: one panel per contrast (columns) and level (rows:
    ``by_werkverkenner``, ``by_region``), posterior mean with its labelled credible interval, the effect for
    all claimants as a dashed line. ``summary`` is :func:`ww_bayes.results.summarise` output of a 12-month
    fit; ``title`` replaces the default one; ``origin``: the fit's ``synthetic_data`` attribute; ``axis``
    replaces the x axis's words (another unit).
    """
    words = Words(lang)
    rows = summary[summary["estimand"] == "effect_pp"]
    contrasts = list(dict.fromkeys(rows["contrast"]))
    levels = [lv for lv in dict.fromkeys(rows["level"]) if lv != "overall"]

    def panel(ax, data, contrast):
        _interval_bars(ax, data, "mean", interval_label, offset=0.0, fmt="s", color=POSTERIOR, ms=3, lw=1.4)
        overall = forest_data(rows, contrast, "overall")
        if len(overall):
            ax.axvline(float(overall["mean"].iloc[0]), color=POSTERIOR, ls="--", lw=0.8)

    legend = {
        f"{words('posterior_mean')}, {interval_words(interval_label, words)}": Line2D(
            [], [], color=POSTERIOR, marker="s", ms=3, lw=1.4
        ),
        words("overall_effect"): Line2D([], [], color=POSTERIOR, ls="--", lw=0.8),
    }
    outcome = summary["outcome"].iloc[0] if "outcome" in summary and len(summary) else ""
    with drawing():
        return _subgroup_figure(rows, contrasts, levels, words, panel, legend,
                                title or words("effects_title").format(outcome=words(outcome)),
                                origin, axis)  # fmt: skip


# --- effect paths: small multiples, one panel per Werkverkenner class --------------------------------------


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
    summary: pd.DataFrame,
    interval_label: str = "eti90",
    truth: pd.DataFrame | None = None,
    outcome: str | None = None,
    lang: str = "en",
    origin: str | None = None,
) -> Figure:
    """Effect paths of one outcome over months as small multiples: one column per contrast, one row for all
    claimants (with the simulator's truth as a dotted line when ``truth`` (outcome, contrast, month, truth)
    is given) and one per Werkverkenner class, each with its credible band; every class panel repeats the
    effect for all claimants in grey, so a class is read against it. All panels share their scales. A class
    path informed only by pooling (no persons in one arm of the contrast) is dashed and says so in the
    legend.

    ``summary`` is :func:`ww_bayes.kinds.trajectory.trajectory_summary` output; ``outcome``: which of its
    outcomes (default: the first); ``origin``: the fit's ``synthetic_data`` attribute.
    """
    words = Words(lang)
    outcome = outcome or trajectory_outcomes(summary)[0]
    contrasts = list(dict.fromkeys(summary["contrast"]))
    classes = list(dict.fromkeys(summary.loc[summary["level"] == "by_werkverkenner", "group"]))
    rows = ["all", *classes]
    legend = {
        words("posterior_mean"): Line2D([], [], color=TRUTH, lw=1.4),
        interval_words(interval_label, words): Patch(color=REFERENCE, alpha=0.5, lw=0),
        words("overall_effect"): Line2D([], [], color=REFERENCE, lw=0.9),
    }
    shown = summary[summary["outcome"] == outcome]
    if "pooling_only" in shown and shown["pooling_only"].fillna(False).astype(bool).any():
        legend[f"{words('pooling_only')} ({words('dashed')})"] = Line2D([], [], color=TRUTH, ls="--")
    if truth is not None:
        legend[words("simulator_truth")] = Line2D([], [], color=TRUTH, ls=":", lw=1.4)
    with drawing():
        figure, body, foot = with_legend_foot(0.95 * len(rows) + 1.5, list(legend))
        panels = body.subplots(len(rows), len(contrasts), squeeze=False, sharex=True, sharey=True)
        for column, contrast in enumerate(contrasts):
            # the column's name above the first row's name (an axes' titles share one offset, so not a title)
            panels[0][column].annotate(wrap(words(contrast), 26), (0.5, 1), xytext=(0, 16),
                                       xycoords="axes fraction", textcoords="offset points", ha="center",
                                       va="bottom", fontsize=RC["axes.titlesize"])  # fmt: skip
            overall = trajectory_data(summary, outcome, contrast)
            for row, group in enumerate(rows):
                ax = panels[row][column]
                ax.set_gid(f"{contrast}.{group}")
                colour = POSTERIOR if group == "all" else CLASS_COLOURS[(row - 1) % len(CLASS_COLOURS)]
                data = overall if group == "all" else trajectory_data(summary, outcome, contrast, group)
                if group != "all":
                    ax.plot(overall["month"], overall["mean"], color=REFERENCE, lw=0.9)
                ax.fill_between(data["month"], data[f"{interval_label}_lb"], data[f"{interval_label}_ub"],
                                color=colour, alpha=0.25, lw=0)  # fmt: skip
                dashed = "pooling_only" in data and bool(data["pooling_only"].astype(bool).any())
                ax.plot(data["month"], data["mean"], color=colour, lw=1.4, ls="--" if dashed else "-")
                if truth is not None and group == "all":
                    true = truth[(truth["outcome"] == outcome) & (truth["contrast"] == contrast)]
                    true = true.sort_values("month")
                    ax.plot(true["month"], true["truth"], color=TRUTH, ls=":", lw=1.4)
                ax.axhline(0, color=TRUTH, lw=0.5)
                ax.set_title(words("overall" if group == "all" else group), loc="left", fontsize=8)
                ax.tick_params(labelbottom=True)  # class panels keep their months
        panels[0][0].set_xticks([0, 6, 12, 18, 24, 30])  # every panel shares the first one's scales
        body.supxlabel(words("months_since_inflow"))
        body.supylabel(words("effect_axis"))
        body.suptitle(titled(words("paths_title").format(outcome=words(outcome)), origin, words, 72))
        legend_in_foot(foot, list(legend.values()), list(legend))
        return finish(figure)


def trajectory_outcomes(summary: pd.DataFrame) -> list[str]:
    """The outcomes a trajectory summary holds, one :func:`trajectory_plot` each."""
    return [str(o) for o in dict.fromkeys(summary["outcome"])]


# --- cost-effectiveness: each a thin reader of the ``cost_effectiveness`` group --------------------------


def _origin(result) -> str | None:
    """The data's origin a ``cost_effectiveness`` group carries from its fits (``synthetic_data``)."""
    return result.attrs.get("synthetic_data")


def ce_plane_figure(result, words: Words) -> Figure:
    """Effect (extra employed months) against net cost, one point per posterior draw, and their mean."""
    figure, axes = new_figure(4.2)
    ax = axes[0][0]
    ax.scatter(result["extra_employed_months"].values.ravel(), result["net_cost"].values.ravel(), s=2,
               alpha=0.25, color=POSTERIOR, label=words("posterior_draws"), rasterized=True)  # fmt: skip
    ax.scatter([float(result["extra_employed_months"].mean())], [float(result["net_cost"].mean())],
               color=TRUTH, marker="x", s=50, label=words("mean"))  # fmt: skip
    ax.axhline(0, color=TRUTH, lw=0.5)
    ax.axvline(0, color=TRUTH, lw=0.5)
    ax.set_xlabel(words("ce_effect_axis"))
    ax.set_ylabel(wrap(words("ce_net_cost_axis"), 40))
    contrast = result.attrs.get("contrast", "")
    figure.suptitle(titled(f"{words('ce_plane_title')}: {words(contrast)}", _origin(result), words, 80))
    legend_below(figure, *ax.get_legend_handles_labels())
    return figure


def ceac_figure(result, words: Words) -> Figure:
    """P(the service is cost-effective) against the willingness to pay per extra employed month."""
    figure, axes = new_figure(3.4)
    ax = axes[0][0]
    ax.plot(result["willingness_to_pay"].values, result["ceac"].values, color=POSTERIOR, lw=1.8)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(words("wtp_axis"))
    ax.set_ylabel(wrap(words("prob_cost_effective"), 30))
    figure.suptitle(titled(words("ceac_title"), _origin(result), words, 80))
    return figure


def eib_figure(result, words: Words) -> Figure:
    """The expected incremental benefit and the EVPI (euros per participant) against the willingness to
    pay; the break-even willingness to pay in the title."""
    figure, axes = new_figure(3.6)
    ax = axes[0][0]
    wtp = result["willingness_to_pay"].values
    ax.plot(wtp, result["expected_incremental_benefit"].values, color=POSTERIOR, lw=1.8, label=words("eib"))
    ax.plot(wtp, result["evpi"].values, color=FREQUENTIST, lw=1.4, ls="--", label=words("evpi"))
    ax.axhline(0, color=TRUTH, lw=0.5)
    ax.set_xlabel(words("wtp_axis"))
    ax.set_ylabel(words("euros_per_participant"))
    break_even = float(result["break_even_wtp"])
    title = words("eib_title").format(amount=words.euros(break_even)) if np.isfinite(break_even) else None
    figure.suptitle(titled(title or words("eib").capitalize(), _origin(result), words, 80))
    legend_below(figure, *ax.get_legend_handles_labels())
    return figure


def _input_words(name: str, words: Words) -> str:
    """``service_cost[0-25]`` -> "cost of the service per participant: chance of work 0-25%"."""
    match = re.fullmatch(r"(\w+)\[(.+)\]", name)
    if match:
        return f"{words(match.group(1))}: {words(match.group(2))}"
    return words(name)


def tornado_figure(result, words: Words) -> Figure:
    """Expected net benefit per participant with each uncertain input at its 5% and 95% quantile in turn,
    the widest swing at the top, around the expected net benefit (vertical line)."""
    inputs = [str(i) for i in result["input"].values]
    low, high = result["tornado_net_benefit_at_q05"].values, result["tornado_net_benefit_at_q95"].values
    order = sorted(range(len(inputs)), key=lambda i: abs(high[i] - low[i]))
    base = float(result["net_benefit"].mean())
    names = [wrap(_input_words(inputs[i], words), 42) for i in order]
    lines = max(name.count("\n") + 1 for name in names)
    figure, axes = new_figure((0.14 * lines + 0.14) * len(inputs) + 1.4)
    ax = axes[0][0]
    for row, i in enumerate(order):
        ax.barh(row, low[i] - base, left=base, color=FREQUENTIST, height=0.7,
                label=words("tornado_low") if row == 0 else None)  # fmt: skip
        ax.barh(row, high[i] - base, left=base, color=POSTERIOR, height=0.7,
                label=words("tornado_high") if row == 0 else None)  # fmt: skip
    ax.set_yticks(range(len(order)), names)
    ax.axvline(base, color=TRUTH, lw=0.8)
    ax.set_xlabel(words("expected_net_benefit_axis"))
    figure.suptitle(titled(words("tornado_title"), _origin(result), words, 80))
    legend_below(figure, *ax.get_legend_handles_labels())
    return figure


def _rule_words(rule: str, words: Words) -> str:
    """A targeting rule (``0-25+none``) as the classes it serves, in words."""
    if rule == "none served":
        return words(rule)
    return ", ".join(words(part) for part in rule.split("+"))


def net_benefit_by_class_figure(result, words: Words, prob: float = 0.9) -> Figure:
    """Net benefit per participant served (euros) by Werkverkenner class: posterior mean and equal-tailed
    credible interval (``prob``); the best targeting rule in the title."""
    by_class = result["net_benefit_by_class"]
    classes = [str(c) for c in by_class["werkverkenner"].values]
    mean = by_class.mean(("chain", "draw")).values
    bounds = by_class.quantile([(1 - prob) / 2, (1 + prob) / 2], dim=("chain", "draw")).values
    figure, axes = new_figure(0.3 * len(classes) + 1.9)
    ax = axes[0][0]
    legend = f"{words('posterior_mean')}, {words.interval('eti', prob)}"
    ax.errorbar(mean, range(len(classes)), xerr=[mean - bounds[0], bounds[1] - mean], fmt="o",
                color=POSTERIOR, label=legend)  # fmt: skip
    ax.axvline(0, color=TRUTH, lw=0.5)
    ax.set_yticks(range(len(classes)), [words(c) for c in classes])
    ax.set_ylim(len(classes) - 0.5, -0.5)
    ax.set_xlabel(words("net_benefit_served_axis"))
    ax.set_ylabel(words("werkverkenner"))
    rule = _rule_words(str(result.attrs.get("best_rule", "")), words)
    title = words("net_benefit_by_class_title").format(rule=rule)
    figure.suptitle(titled(title, _origin(result), words, 80))
    legend_below(figure, *ax.get_legend_handles_labels())
    return figure


#: The cost-effectiveness figures by name.
CEA_DRAWERS = {
    "ce_plane": ce_plane_figure,
    "ceac": ceac_figure,
    "eib": eib_figure,
    "tornado": tornado_figure,
    "net_benefit_by_class": net_benefit_by_class_figure,
}
CEA_FIGURES = tuple(CEA_DRAWERS)


def cea_figures(result, names: tuple[str, ...] | None = None, lang: str = "en") -> dict[str, Figure]:
    """The cost-effectiveness figures, each a thin reader of the ``cost_effectiveness`` group:
    ``ce_plane``, ``ceac``, ``eib`` (with EVPI), ``tornado`` and ``net_benefit_by_class``."""
    words = Words(lang)
    figures = {}
    with drawing():
        for name in names or CEA_FIGURES:
            figures[name] = finish(CEA_DRAWERS[name](result, words))
    return figures


def cea_figure(result, name: str, lang: str = "en") -> Figure:
    """One of the :data:`CEA_FIGURES` of a ``cost_effectiveness`` group."""
    if name not in CEA_DRAWERS:
        raise ValueError(f"no cost-effectiveness figure named {name!r}; known: {', '.join(CEA_FIGURES)}")
    return cea_figures(result, (name,), lang)[name]


__all__ = [
    "CEA_FIGURES",
    "WIDTH_IN",
    "cea_figure",
    "cea_figures",
    "effects_plot",
    "forest_data",
    "forest_plot",
    "trajectory_data",
    "trajectory_outcomes",
    "trajectory_plot",
]
