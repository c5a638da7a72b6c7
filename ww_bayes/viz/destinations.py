"""Where the WW effect went: the effects on each state's share, one panel per Werkverkenner class.

A thin reader of a destinations fit's summary table (:meth:`ww_bayes.kinds.protocol.ModelKind.summary`):
it draws exactly the rows :func:`destinations_data` picks, in table order, by the rules of
:mod:`ww_bayes.viz.style` (16 cm wide, no text under 8 pt, the legend below the panels, Okabe-Ito colours,
the data's origin under the title) in English or Dutch.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ww_bayes.labels import Words
from ww_bayes.viz.figures import interval_words, titled, wrap
from ww_bayes.viz.style import (
    FREQUENTIST,
    POSTERIOR,
    REFERENCE,
    TRUTH,
    drawing,
    finish,
    legend_in_foot,
    with_legend_foot,
)

#: Colours of the WW effect (the source) and of the states it went to.
SOURCE_COLOUR = POSTERIOR
STATE_COLOUR = FREQUENTIST
#: The summary's label of the WW effect's row.
SOURCE_LABEL = "ww_source"
#: Height (inches) of one row of a panel, and of a panel's title and axis.
ROW_IN, PANEL_IN = 0.2, 0.6


def destinations_data(summary: pd.DataFrame, contrast: str, month: int, group: str) -> pd.DataFrame:
    """The rows one panel draws: the WW effect (``ww_source_pp``, labelled :data:`SOURCE_LABEL`) then the
    effect on each state's share (``share_pp``, labelled by state), for one contrast, month and group
    (``all`` or a class)."""
    rows = summary[
        (summary["contrast"] == contrast)
        & (summary["month"] == month)
        & (summary["group"] == group)
        & summary["level"].isin(["overall", "by_werkverkenner"])
    ]
    source = rows[rows["estimand"] == "ww_source_pp"].assign(label=SOURCE_LABEL)
    states = rows[rows["estimand"] == "share_pp"]
    states = states.assign(label=states["state"])
    return pd.concat([source, states], ignore_index=True)


def destinations_plot(
    summary: pd.DataFrame,
    interval_label: str = "eti90",
    contrast: str = "service_vs_control_enforcement",
    month: int = 12,
    title: str = "",
    lang: str = "en",
    origin: str | None = None,
) -> Figure:
    """Points and intervals of the WW effect and the effects on every state's share (pp of all claimants),
    one panel per group in two columns: all claimants, then each Werkverkenner class. The states' effects
    add up to minus the WW effect. ``origin``: the fit's ``synthetic_data`` attribute."""
    words = Words(lang)
    groups = ["all"] + [
        g for g in dict.fromkeys(summary.loc[summary["level"] == "by_werkverkenner", "group"]) if g != "all"
    ]
    panels = [destinations_data(summary, contrast, month, group) for group in groups]
    columns, rows = 2, -(-len(groups) // 2)
    height = max(len(p) for p in panels) * ROW_IN + PANEL_IN
    interval = interval_words(interval_label, words)
    legend = {
        f"{words('destinations_source')}: {words('posterior_mean')}, {interval}": Line2D(
            [], [], color=SOURCE_COLOUR, marker="o", ms=3, lw=1.4),
        f"{words('destinations_state')}: {words('posterior_mean')}, {interval}": Line2D(
            [], [], color=STATE_COLOUR, marker="o", ms=3, lw=1.4),
    }  # fmt: skip
    with drawing():
        figure, body, foot = with_legend_foot(rows * height + 1.3, list(legend))
        axes = body.subplots(rows, columns, squeeze=False, sharex=True, sharey=True)
        for k, (group, data) in enumerate(zip(groups, panels, strict=True)):
            ax = axes[k // columns][k % columns]
            centre = data["mean"].to_numpy(float)
            errors = [centre - data[f"{interval_label}_lb"].to_numpy(float),
                      data[f"{interval_label}_ub"].to_numpy(float) - centre]  # fmt: skip
            for y, estimand in enumerate(data["estimand"]):
                colour = SOURCE_COLOUR if estimand == "ww_source_pp" else STATE_COLOUR
                ax.errorbar(centre[y], y, xerr=[[errors[0][y]], [errors[1][y]]], fmt="o", color=colour, ms=3,
                            lw=1.4)  # fmt: skip
            ax.axvline(0, color=TRUTH, lw=0.5)
            ax.grid(axis="x", color=REFERENCE, lw=0.3, alpha=0.5)
            if data["label"].tolist() != panels[0]["label"].tolist():
                raise ValueError(f"{group}: its states differ from all claimants'")
            if k % columns == 0:  # the columns of a row share the states: named once, at the left
                labels = ["WW" if label == SOURCE_LABEL else words(label) for label in data["label"]]
                ax.set_yticks(range(len(data)), labels)
                ax.set_ylim(len(data) - 0.5, -0.5)
            ax.set_title(wrap(words.say("all claimants", "alle WW-gerechtigden") if group == "all"
                               else words(group), 30))  # fmt: skip
            ax.tick_params(labelbottom=True)
        for k in range(len(groups), rows * columns):
            axes[k // columns][k % columns].set_visible(False)
        body.supxlabel(words("destinations_axis"))
        default = words("destinations_title").format(month=month, contrast=words(contrast))
        body.suptitle(titled(title or default, origin, words, 72))
        legend_in_foot(foot, list(legend.values()), list(legend))
        return finish(figure)
