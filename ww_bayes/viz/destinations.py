"""Where the WW effect went: the effects on each state's share, one panel per Werkverkenner class.

A thin reader of a destinations fit's summary table (:meth:`ww_bayes.kinds.protocol.ModelKind.summary`):
it draws exactly the rows :func:`destinations_data` picks, in table order.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

#: Colours of the WW effect (the source) and of the states it went to.
SOURCE_COLOUR = "#1f5fa8"
STATE_COLOUR = "#c05a12"


def destinations_data(summary: pd.DataFrame, contrast: str, month: int, group: str) -> pd.DataFrame:
    """The rows one panel draws: the WW effect (``ww_source_pp``, labelled ``WW (all)``) then the effect on
    each state's share (``share_pp``), for one contrast, month and group (``all`` or a class)."""
    rows = summary[
        (summary["contrast"] == contrast)
        & (summary["month"] == month)
        & (summary["group"] == group)
        & summary["level"].isin(["overall", "by_werkverkenner"])
    ]
    source = rows[rows["estimand"] == "ww_source_pp"].assign(label="WW (all)")
    states = rows[rows["estimand"] == "share_pp"]
    states = states.assign(label=states["state"])
    return pd.concat([source, states], ignore_index=True)


def destinations_plot(
    summary: pd.DataFrame,
    interval_label: str = "eti90",
    contrast: str = "service_vs_control_enforcement",
    month: int = 12,
    title: str = "",
) -> Figure:
    """Points and intervals of the WW effect and the effects on every state's share (pp of all claimants),
    one panel per group: overall, then each Werkverkenner class. The states' effects add up to minus the
    WW effect."""
    groups = ["all"] + [
        g for g in dict.fromkeys(summary.loc[summary["level"] == "by_werkverkenner", "group"]) if g != "all"
    ]
    columns = 3
    rows = -(-len(groups) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.0 * rows), squeeze=False, sharex=True)
    for k, group in enumerate(groups):
        ax = axes[k // columns][k % columns]
        data = destinations_data(summary, contrast, month, group)
        centre = data["mean"].to_numpy(float)
        errors = [centre - data[f"{interval_label}_lb"].to_numpy(float),
                  data[f"{interval_label}_ub"].to_numpy(float) - centre]  # fmt: skip
        colours = [SOURCE_COLOUR if e == "ww_source_pp" else STATE_COLOUR for e in data["estimand"]]
        for y, (x, low, high, colour) in enumerate(zip(centre, *errors, colours, strict=True)):
            ax.errorbar(x, y, xerr=[[low], [high]], fmt="o", color=colour, ms=4, lw=1.5)
        ax.axvline(0, color="#999999", lw=0.8)
        ax.set_yticks(range(len(data)), data["label"])
        ax.invert_yaxis()
        ax.set_title("overall" if group == "all" else f"class {group}", fontsize=10)
        ax.tick_params(labelsize=8)
    for k in range(len(groups), rows * columns):
        axes[k // columns][k % columns].set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("effect, pp of all claimants")
    fig.suptitle(title or f"Where the WW effect went: {contrast}, month {month} "
                 f"({interval_label[:3].upper()} {interval_label[3:]}%)", fontsize=11)  # fmt: skip
    fig.tight_layout()
    return fig
