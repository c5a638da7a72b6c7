"""Coverage on the calibrated simulator: fit a spec to many simulated cohorts and count how often its
50% and 90% intervals hold the simulator's own generating effects (the truth: fixed effects the
simulator was calibrated to the published figures, not draws from the prior as in SBC).

The gate: pooled over the overall and Werkverkenner-class truths of every cohort (:data:`GATED_LEVELS`:
the estimands the policy question reports, each informed by tens of thousands of persons), the share
covered and its 95% Clopper-Pearson interval (scipy's exact binomial interval; it treats truths as
independent, while a cohort's truths share one data set, so read it as a guide) must contain the nominal
level. Every truth together (regions included), and per level, contrast, class, region and month, the
shares are reported, not gated: partial pooling pulls groups towards the mean, so at a fixed truth an
outlying group's intervals under-cover and groups near the mean (as the simulator's regions, whose true
deviations are small) over-cover.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from scipy.stats import binomtest

from ww_bayes.calibration.sbc import open_study, spec_digest
from ww_bayes.data.io import atomic_write
from ww_bayes.data.simulate import simulate_cohort
from ww_bayes.inference import fit, is_converged
from ww_bayes.kinds import kind_of
from ww_bayes.vocabulary import interval_label

#: The interval probabilities the study checks.
PROBS = (0.5, 0.9)
#: The levels whose truths the pooled gate counts (the rest are reported).
GATED_LEVELS = ("overall", "by_werkverkenner")


@dataclass(frozen=True)
class Cohort:
    """One cohort of the study: simulated with ``seed`` (``n`` persons), fitted with ``spec``."""

    seed: int
    n: int
    spec: object


def run_cohort(task: Cohort) -> pd.DataFrame:
    """Simulate, fit and compare: one row per truth with the 50% and 90% interval and ``covered_50``,
    ``covered_90``; columns ``cohort``, ``converged``, ``problems`` (the gate's, when it failed),
    ``seconds``."""
    start = time.perf_counter()
    simulated = simulate_cohort(task.n, seed=task.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence is recorded per cohort below
        tree = fit(task.spec, simulated.data, progress=False, log=None)
    kind = kind_of(tree)
    keys = list(kind.key_columns)
    rows = kind.truth(tree, simulated.truth)[[*keys, "truth"]]
    derived = tree[kind.derived_group].ds
    for prob in PROBS:
        label = interval_label(task.spec.interval_kind, prob)
        summary = kind.summary(derived, task.spec.interval_kind, prob)
        summary = summary[[*keys, "mean", f"{label}_lb", f"{label}_ub"]]
        rows = rows.merge(summary, on=keys, how="left", validate="one_to_one", suffixes=("", "_dup"))
        rows = rows.drop(columns=[c for c in rows if c.endswith("_dup")])
        percent = round(100 * prob)
        rows[f"covered_{percent}"] = (rows[f"{label}_lb"] <= rows["truth"]) & (
            rows["truth"] <= rows[f"{label}_ub"]
        )
    problems = "" if is_converged(tree) else tree.attrs["convergence_report"].replace("\n", " ")
    return rows.assign(cohort=task.seed, converged=is_converged(tree), problems=problems,
                       seconds=time.perf_counter() - start)  # fmt: skip


def cohort_path(folder: Path, seed: int) -> Path:
    return folder / "cohorts" / f"cohort_{seed:04d}.csv"


def coverage_study(
    spec, folder: str | Path, cohorts: int = 50, *, n: int = 179_840, first_seed: int = 1,
    run: Callable | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Run (or resume) the study: cohorts ``first_seed`` .. ``first_seed + cohorts - 1``, each written to
    ``folder/cohorts`` as it finishes; returns every cohort's rows. ``run`` dispatches the cohorts
    (see :func:`ww_bayes.calibration.sbc.sbc`)."""
    folder = Path(folder)
    record = {
        "study": "ww_bayes coverage on the calibrated simulator",
        "spec_name": spec.name,
        "spec_sha256": spec_digest(spec),
        "n_persons": n,
    }
    done = set(open_study(folder, record, parts="cohorts"))
    seeds = range(first_seed, first_seed + cohorts)
    todo = [s for s in seeds if s not in done]
    run = run or (lambda function, items, total: map(function, items))
    for rows in run(run_cohort, (Cohort(s, n, spec) for s in todo), len(todo)):
        seed = int(rows["cohort"].iloc[0])
        atomic_write(cohort_path(folder, seed), lambda tmp, r=rows: r.to_csv(tmp, index=False))
    return pd.concat([pd.read_csv(cohort_path(folder, s)) for s in seeds], ignore_index=True)


def clopper_pearson(covered: pd.Series) -> dict[str, float]:
    k, total = int(covered.sum()), int(covered.size)
    interval = binomtest(k, total).proportion_ci(0.95, method="exact")
    return {"share": k / total, "cp95_lb": interval.low, "cp95_ub": interval.high}


def shares(rows: pd.DataFrame) -> pd.DataFrame:
    """Shares covered at 50% and 90% with 95% Clopper-Pearson intervals: ``pooled`` (the truths of
    :data:`GATED_LEVELS`, the gate), ``all`` (every truth), then by level, contrast, group (class or region),
    month and outcome when the rows have them."""
    breakdowns = [("pooled", None), ("all", None), ("level", ["level"]), ("contrast", ["contrast"]),
                  ("group", ["level", "group"])]  # fmt: skip
    if "month" in rows:
        breakdowns.append(("month", ["month"]))
    if "outcome" in rows:
        breakdowns.append(("outcome", ["outcome"]))
    frames = []
    for name, by in breakdowns:
        if by is None:
            gated = rows["level"].isin(GATED_LEVELS)
            groups = (
                [((" and ".join(GATED_LEVELS),), rows[gated])] if name == "pooled" else [(("all",), rows)]
            )
        else:
            groups = rows.groupby(by, sort=False)
        for key, part in groups:
            key = key if isinstance(key, tuple) else (key,)
            row = {"breakdown": name, "which": " / ".join(map(str, key)), "truths": len(part)}
            for prob in PROBS:
                percent = round(100 * prob)
                stats = clopper_pearson(part[f"covered_{percent}"])
                row.update({f"{k}_{percent}": v for k, v in stats.items()})
                row[f"contains_{percent}"] = stats["cp95_lb"] <= prob <= stats["cp95_ub"]
            frames.append(row)
    return pd.DataFrame(frames)
