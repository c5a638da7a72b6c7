"""Frequentist estimates beside a fit's posterior: one table, and the text the CLI prints of it."""

from __future__ import annotations

import pandas as pd
import xarray as xr

from ww_bayes.compare.frequentist import FrequentistError, interval_probability
from ww_bayes.kinds import kind_of
from ww_bayes.results import summarise
from ww_bayes.summaries import shown_levels
from ww_bayes.vocabulary import confidence_label, interval_label, interval_of


def compare(fit: xr.DataTree, frequentist: pd.DataFrame) -> pd.DataFrame:
    """One row per estimand: the frequentist estimate (its confidence interval, e.g. ``frequentist_ci90_lb``,
    and p-value) beside the posterior mean and its labelled credible interval (e.g. ``posterior_eti90_lb``),
    and how far partial pooling moved each subgroup estimate. ``attrs``: ``interval_label`` (posterior),
    ``frequentist_interval_label`` (e.g. ``ci90``).

    ``shrinkage`` = (frequentist - posterior) / (frequentist - posterior overall effect): 0 when pooling
    left the unpooled subgroup estimate where it was, 1 when it moved it all the way to the overall effect;
    outside 0..1 means it moved away from the overall effect or past it. ``moved_pp`` = posterior -
    frequentist. Every posterior effect is a row; the frequentist columns are NaN for a subgroup the OLS
    could not estimate (an arm without persons there: ``pooling_only`` is then true).
    """
    kind = kind_of(fit)
    if not kind.frequentist:
        raise FrequentistError(f"a {kind.name!r} fit has no effects to compare with frequentist estimates")
    label = interval_label(*interval_of(fit.attrs))
    outcome = fit.attrs.get("outcome")
    keys = [k for k in kind.key_columns if k in frequentist.columns]
    posterior = summarise(fit)
    # one outcome per fit, or (a trajectory) the outcome is a key of the rows: then the fit's outcomes
    expected = set(posterior["outcome"].astype(str)) if "outcome" in keys else {outcome}
    if outcome is not None and not set(frequentist["outcome"].astype(str)) <= expected:
        raise FrequentistError(
            f"the fit is of {', '.join(sorted(expected))} but the frequentist estimates are of "
            f"{sorted(set(frequentist['outcome']))}"
        )
    posterior = posterior[posterior["estimand"].isin(set(frequentist["estimand"]))]
    flagged = ["pooling_only"] if "pooling_only" in posterior else []
    posterior = posterior[[*keys, "mean", f"{label}_lb", f"{label}_ub", *flagged]].rename(
        columns={
            "mean": "posterior_mean",
            f"{label}_lb": f"posterior_{label}_lb",
            f"{label}_ub": f"posterior_{label}_ub",
        }
    )
    ci = confidence_label(interval_probability(frequentist))
    renamed = {"estimate": "frequentist_estimate", f"{ci}_lb": f"frequentist_{ci}_lb",
               f"{ci}_ub": f"frequentist_{ci}_ub", "p_value": "frequentist_p_value",
               "p_holm": "frequentist_p_holm", "p_bh": "frequentist_p_bh"}  # fmt: skip
    freq = frequentist[[*keys, *renamed]].rename(columns=renamed)
    # every posterior row stays: a subgroup the OLS cannot estimate (an empty arm) keeps NaN beside it
    table = freq.merge(posterior, on=keys, how="right", validate="one_to_one")
    same = [k for k in keys if k not in ("level", "group")]  # the overall effect each row shrinks toward
    overall = table.loc[table["level"] == "overall", [*same, "posterior_mean"]]
    target = table[same].merge(overall, on=same, how="left")["posterior_mean"].to_numpy()
    distance = table["frequentist_estimate"] - target
    table["moved_pp"] = table["posterior_mean"] - table["frequentist_estimate"]
    defined = (table["level"] != "overall") & (distance.abs() > 1e-9)
    table["shrinkage"] = (-table["moved_pp"] / distance).where(defined)
    table.attrs["interval_label"] = label
    table.attrs["frequentist_interval_label"] = ci
    table.attrs["outcome"] = outcome or ""
    table.attrs["months_shown"] = list(kind.months_shown)
    return table


def _in_months_shown(table: pd.DataFrame) -> pd.Series:
    """Rows of the months a kind whose rows run over many months shows (``attrs["months_shown"]``; every
    row for the other kinds)."""
    months = table.attrs.get("months_shown") or []
    if months and "month" in table:
        return table["month"].isin(months)
    return pd.Series(True, index=table.index)


def shown_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a comparison the screen and the report's table show: the levels
    :func:`ww_bayes.summaries.shown_levels` keeps (not factors with many levels, e.g. regions) in the months
    shown; the CSV and the stored group keep every row."""
    shown = table["level"].isin(shown_levels(table)) & _in_months_shown(table)
    return table[shown.to_numpy()]


def forest_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a comparison its forest plot draws: of one estimand, every row (regions too); of several
    (a destinations fit's states, a trajectory's outcomes and months), the rows :func:`shown_rows` keeps (a
    panel of 35 regions x 9 states cannot be read; they are in the CSV), each subgroup named with its
    estimand (``attrs["several_estimands"]``: the plot then draws no single overall effect)."""
    if estimand_labels(table) is None:
        return table
    rows = shown_rows(table)
    which = estimand_labels(rows)
    rows = rows.assign(group=[f"{label}: {group}" for label, group in zip(which, rows["group"], strict=True)])
    rows.attrs["several_estimands"] = True
    return rows


def estimand_labels(table: pd.DataFrame):
    """What each row estimates, as text, where a table holds more than one estimand or a kind's own key
    columns (a destinations fit: ``share_pp zw``, ``first_exit_pp to_zw_wia``); None where it holds one."""
    keys = list(table.columns[: table.columns.get_loc("frequentist_estimate")])
    extra = [c for c in keys if c not in ("estimand", "contrast", "level", "group", "outcome", "month")]
    if "month" in keys and table["month"].nunique() > 1:
        extra.insert(0, "month")
    if "outcome" in keys and table["outcome"].nunique() > 1:  # a trajectory: employment and WW
        extra.insert(0, "outcome")
    if table["estimand"].nunique() <= 1 and not extra:
        return None
    parts = table[["estimand", *extra]].fillna("").astype(str)
    return parts.apply(lambda row: " ".join(v for v in row if v), axis=1).to_numpy()


def format_comparison(table: pd.DataFrame, title: str) -> str:
    """The comparison as text (factors with many levels, e.g. regions, left out: they are in the CSV)."""
    label, ci = table.attrs["interval_label"], table.attrs["frequentist_interval_label"]
    table = shown_rows(table)
    which = estimand_labels(table)
    width = max([len(w) for w in which] + [8]) if which is not None else 0
    lines = [
        title,
        (f"{'estimand':<{width}} " if which is not None else "")
        + f"{'contrast':<31} {'level':<17} {'group':<7} {'OLS':>7} {ci[2:] + '% CI':>17} {'p':>7} "
        f"{'posterior':>9} {label + ' interval':>17} {'shrinkage':>9}",
    ]
    for k, row in enumerate(table.itertuples()):
        bounds = f"[{getattr(row, f'frequentist_{ci}_lb'):+.2f}, {getattr(row, f'frequentist_{ci}_ub'):+.2f}]"
        interval = (
            f"[{getattr(row, f'posterior_{label}_lb'):+.2f}, {getattr(row, f'posterior_{label}_ub'):+.2f}]"
        )
        shrink = "" if row.level == "overall" else f"{row.shrinkage:.2f}"
        if bool(getattr(row, "pooling_only", False)):
            shrink = "POOLING ONLY"
        lines.append(
            (f"{which[k]:<{width}} " if which is not None else "")
            + f"{row.contrast:<31} {row.level:<17} {row.group:<7} {row.frequentist_estimate:>+7.2f} "
            f"{bounds:>17} {row.frequentist_p_value:>7.3f} {row.posterior_mean:>+9.2f} {interval:>17} "
            f"{shrink:>9}"
        )
    return "\n".join(lines)
