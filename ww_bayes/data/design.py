"""How sparse a cohort's design is: the warnings ``validate`` and ``fit`` print before anything is sampled.

Real extracts are regional or small: a class may be absent from a control arm, a region may hold one
claimant. The models still fit (partial pooling fills the gaps), but an effect for a level without persons
in one of the arms it compares is informed only by pooling, and the fit marks it so
(:func:`ww_bayes.estimands.pooling_only`). This module lists the design's thin spots up front; an arm
without any person is an error (no contrast with it is identified at all).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ww_bayes.data.schema import ARMS

#: Fewer persons than this in an arm of a class or region is reported (``--min-per-arm``); the same
#: threshold as the output rules of CBS Remote Access.
MIN_PER_ARM = 10
#: How many items of a listing are printed on screen (the rest: "... and N more"); files keep them all.
SHOWN = 40


class DesignError(ValueError):
    """A design no model can estimate the contrasts of (an arm without persons)."""


def empty_arms(df: pd.DataFrame) -> list[str]:
    present = set(df["arm"].astype(str).unique())
    return [arm for arm in ARMS if arm not in present]


def check_arms(df: pd.DataFrame, source: str = "the data") -> None:
    """Raise :class:`DesignError` when an arm has no persons."""
    missing = empty_arms(df)
    if missing:
        counts = df["arm"].astype(str).value_counts()
        held = ", ".join(f"{arm} {counts.get(arm, 0):,}" for arm in ARMS)
        raise DesignError(
            f"{source}: no persons in arm(s) {', '.join(missing)} (persons per arm: {held}); every contrast "
            "with that arm is unidentified. Fit a cohort that holds all three arms."
        )


def _listing(items: list[str], shown: int | None) -> str:
    if shown is None or len(items) <= shown:
        return "\n    ".join(items)
    return "\n    ".join([*items[:shown], f"... and {len(items) - shown} more"])


def design_warnings(
    df: pd.DataFrame,
    factors: Sequence[str] = ("werkverkenner", "region"),
    *,
    min_per_arm: int = MIN_PER_ARM,
    shown: int | None = SHOWN,
) -> list[str]:
    """The design's thin spots, one warning per kind, each with its listing: empty factor x arm
    combinations (e.g. class x region x arm), levels with fewer than ``min_per_arm`` persons in an arm, a
    factor with a single level. Empty when the design is full. Raises :class:`DesignError` for an empty
    arm. ``shown``: items listed per warning (None: all)."""
    if min_per_arm < 1:
        raise ValueError(f"min_per_arm must be at least 1, got {min_per_arm}")
    check_arms(df)
    factors = [f for f in factors if f in df.columns]
    out = []
    labels = {f: df[f].astype(str) for f in factors}
    arm = df["arm"].astype(str)
    if factors:
        counts = pd.crosstab([labels[f] for f in factors], arm).reindex(columns=list(ARMS), fill_value=0)
        grid = pd.MultiIndex.from_product([sorted(labels[f].unique()) for f in factors], names=factors)
        counts = counts.reindex(grid, fill_value=0) if len(factors) > 1 else counts
        empty = [
            f"{_cell_name(factors, key)}: no persons in {', '.join(a for a in ARMS if row[a] == 0)}"
            for key, row in counts.iterrows()
            if (row == 0).any()
        ]
        if empty:
            out.append(
                f"{len(empty)} of {len(counts)} {' x '.join(factors)} combinations lack persons in an arm "
                f"(their effects are informed only by pooling):\n    {_listing(empty, shown)}"
            )
    for factor in factors:
        per_arm = pd.crosstab(labels[factor], arm).reindex(columns=list(ARMS), fill_value=0)
        thin = [
            f"{factor} {level}: " + ", ".join(f"{a} {row[a]:,}" for a in ARMS)
            for level, row in per_arm.iterrows()
            if (row < min_per_arm).any()
        ]
        if thin:
            out.append(
                f"{len(thin)} of {len(per_arm)} {factor} levels have fewer than {min_per_arm} persons in an "
                f"arm (persons per arm):\n    {_listing(thin, shown)}"
            )
        if len(per_arm) == 1:
            out.append(
                f"one {factor} only ({per_arm.index[0]}): its deviations are not estimable and the "
                f"{factor} effects equal the overall effect"
            )
    return out


def _cell_name(factors: list[str], key) -> str:
    key = key if isinstance(key, tuple) else (key,)
    return ", ".join(f"{factor} {value}" for factor, value in zip(factors, key, strict=True))
