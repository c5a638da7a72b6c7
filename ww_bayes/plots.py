"""Figures: thin readers of tables and DataTree groups computed elsewhere (compute once, plot many).

Every figure function returns a ``matplotlib.figure.Figure`` and draws exactly the numbers of the table it
was given, in table order, so tests can check the data behind a figure rather than its pixels.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only: no display needed, and notebooks still show the returned figures

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

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
    """Unpooled (frequentist, 95% CI) and partially pooled (posterior, labelled interval) subgroup
    estimates side by side, one panel per contrast and level, with the posterior overall effect as a line.

    ``table`` is the output of :func:`ww_bayes.frequentist.compare`.
    """
    label = table.attrs.get("interval_label", "eti90")
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
            y = range(len(data))
            _interval_bars(
                ax, data, "frequentist_estimate", "frequentist_ci95", offset=0.15,
                fmt="o", color=UNPOOLED_COLOUR, ms=3, lw=1, label="unpooled: OLS, 95% CI",
            )  # fmt: skip
            _interval_bars(
                ax, data, "posterior_mean", f"posterior_{label}", offset=-0.15,
                fmt="s", color=POOLED_COLOUR, ms=3, lw=1.5,
                label=f"partially pooled: posterior mean, {label[:3].upper()} {label[3:]}%",
            )  # fmt: skip
            if len(overall):
                ax.axvline(float(overall["posterior_mean"].iloc[0]), color=POOLED_COLOUR, ls="--", lw=0.8)
            ax.axvline(0, color="black", lw=0.5)
            ax.set_yticks(list(y), data["group"].tolist(), fontsize=7)
            ax.invert_yaxis()
            ax.set_title(f"{contrast}\n{level}", fontsize=8)
            if row == len(levels) - 1:
                ax.set_xlabel("effect (percentage points)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=2, frameon=False)
    outcome = table.attrs.get("outcome", "")
    fig.suptitle(f"Subgroup effects on {outcome}: unpooled vs partially pooled".replace(" on :", ":"))
    fig.tight_layout(rect=(0, 0.03, 1, 1))  # room for the legend below the panels
    return fig
