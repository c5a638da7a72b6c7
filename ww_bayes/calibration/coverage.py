"""Coverage on the calibrated simulator: fit a spec to many simulated cohorts and count how often its
50% and 90% intervals hold the simulator's own generating effects (the truth: fixed effects the
simulator was calibrated to the published figures, not draws from the prior as in SBC).

The gate: pooled over the population-level truths of every cohort (:data:`GATED_LEVELS`: the overall
effect of every contrast, and of every month for a trajectory), the share covered and its 95% interval
must contain the nominal level. Group truths (classes, regions) and every truth together are reported,
not gated, per level, contrast, class, region and month: at a fixed truth partial pooling pulls every
group towards the mean, so an outlying group's intervals under-cover and a group at the centre
over-covers (the simulator's enforcement effect is zero in every class, so its class-level intervals,
which allow for a spread the data cannot rule out, hold the truth more often than stated); a pool of group
truths measures how spread the simulator's truths are as much as the calibration.

The interval is Clopper-Pearson at the effective sample size (Korn & Graubard 1998, as R survey's
``svyciprop(method="beta")``): a cohort's truths share one data set, so their coverage is correlated (one
unlucky data set misses many truths at once), and the plain Clopper-Pearson interval, which counts every
truth as independent, is too narrow (design effects: about 2 over a 12-month fit's overall and class
truths, 15 to 80 over a trajectory's months). The design effect is the cohort-cluster variance of the share
over its binomial variance; with one truth per cohort (or a design effect below 1) the interval is the
plain Clopper-Pearson one, which is reported beside it.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import beta, binomtest, norm
from scipy.stats import t as student_t

from ww_bayes.calibration.sbc import open_study, spec_digest
from ww_bayes.compare import ESTIMATORS
from ww_bayes.data.io import atomic_write
from ww_bayes.data.simulate import simulate_cohort
from ww_bayes.inference import fit
from ww_bayes.kinds import kind_of
from ww_bayes.results import is_converged
from ww_bayes.vocabulary import interval_label

#: The interval probabilities the study checks.
PROBS = (0.5, 0.9)
#: The levels whose truths the pooled gate counts (the groups are reported).
GATED_LEVELS = ("overall",)


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
    derived = tree[kind.name]
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
    rows = with_reference(rows, kind, tree, simulated.data, keys)
    problems = "" if is_converged(tree) else tree.attrs["convergence_report"].replace("\n", " ")
    return rows.assign(cohort=task.seed, converged=is_converged(tree), problems=problems,
                       seconds=time.perf_counter() - start)  # fmt: skip


def with_reference(
    rows: pd.DataFrame, kind, tree: xr.DataTree, cohort: pd.DataFrame, keys: list[str]
) -> pd.DataFrame:
    """``rows`` with the kind's frequentist estimator (:data:`ww_bayes.compare.ESTIMATORS`, overall only)
    on the same cohort beside them: ``reference_estimate``, ``reference_se`` and ``reference_covered_50``,
    ``reference_covered_90`` (normal intervals, estimate +- z se; missing where it has no estimate, e.g. a
    group). Unchanged for a kind without one.

    The reference tells the model's calibration apart from the cohorts': a set of cohorts whose data
    happen to scatter less (or more) than their standard errors say over-covers (or under-covers) with
    any calibrated estimator, and the reference shows it on the same truths."""
    if not kind.frequentist:
        return rows
    table = ESTIMATORS[kind.frequentist](cohort, tree, factors=())
    reference = table[[*keys, "estimate", "se"]].rename(
        columns={"estimate": "reference_estimate", "se": "reference_se"}
    )
    rows = rows.merge(reference, on=keys, how="left", validate="one_to_one")
    for prob in PROBS:
        half = norm.ppf(0.5 + prob / 2) * rows["reference_se"]
        covered = (rows["reference_estimate"] - half <= rows["truth"]) & (
            rows["truth"] <= rows["reference_estimate"] + half
        )
        estimated = rows["reference_se"].notna()
        rows[f"reference_covered_{round(100 * prob)}"] = covered.astype(float).where(estimated)
    return rows


def cohort_path(folder: Path, seed: int) -> Path:
    return folder / "cohorts" / f"cohort_{seed:04d}.csv"


def coverage_study(
    spec, folder: str | Path, cohorts: int = 100, *, n: int = 179_840, first_seed: int = 1,
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


def cluster_variance(values: np.ndarray, clusters: np.ndarray) -> tuple[float, int]:
    """The variance of the mean of ``values`` when the clusters (cohorts) are the independent units, and
    the number of clusters (NaN below 2): statsmodels' cluster-robust variance of a regression on a
    constant, ``G / (G - 1) * sum_g (sum_g - mean * size_g)^2 / n^2``."""
    import statsmodels.api as sm

    codes, levels = pd.factorize(clusters)
    if len(levels) < 2:
        return float("nan"), len(levels)
    fitted = sm.OLS(values, np.ones(len(values))).fit(cov_type="cluster", cov_kwds={"groups": codes})
    return float(fitted.bse[0]) ** 2, len(levels)


def clopper_pearson(covered: pd.Series, clusters: pd.Series | None = None) -> dict[str, float]:
    """The share of ``covered`` with its 95% Clopper-Pearson interval (``cp95_*``, every truth
    independent) and, given the cohort of each truth (``clusters``), the Korn-Graubard interval
    (``kg95_*``): Clopper-Pearson at the effective sample size n / deff, with the degrees-of-freedom
    correction (t quantile at n - 1 over t quantile at clusters - 1, squared); ``deff`` the design effect."""
    k, total = int(covered.sum()), int(covered.size)
    share = k / total
    plain = binomtest(k, total).proportion_ci(0.95, method="exact")
    out = {"share": share, "cp95_lb": plain.low, "cp95_ub": plain.high, "deff": 1.0,
           "kg95_lb": plain.low, "kg95_ub": plain.high}  # fmt: skip
    if clusters is None or not 0 < share < 1:
        return out
    variance, n_clusters = cluster_variance(covered.astype(float).to_numpy(), clusters.to_numpy())
    if n_clusters < 2:
        return out
    deff = variance / (share * (1 - share) / total)
    effective = total / max(deff, 1.0)
    effective *= (student_t.ppf(0.975, total - 1) / student_t.ppf(0.975, n_clusters - 1)) ** 2
    x = share * effective
    out.update(deff=deff, kg95_lb=float(beta.ppf(0.025, x, effective - x + 1)),
               kg95_ub=float(beta.ppf(0.975, x + 1, effective - x)))  # fmt: skip
    return out


def shares(rows: pd.DataFrame) -> pd.DataFrame:
    """Shares covered at 50% and 90% with their 95% intervals (:func:`clopper_pearson`; ``contains_*`` reads
    the Korn-Graubard one, clustered by ``cohort`` when the rows have it): ``pooled`` (the truths of
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
                stats = clopper_pearson(part[f"covered_{percent}"], part.get("cohort"))
                row.update({f"{k}_{percent}": v for k, v in stats.items()})
                row[f"contains_{percent}"] = stats["kg95_lb"] <= prob <= stats["kg95_ub"]
            frames.append(row)
    if "reference_covered_90" in rows:
        frames.append(_reference_row(rows))
    return pd.DataFrame(frames)


def _reference_row(rows: pd.DataFrame) -> dict:
    """The ``reference`` breakdown: the frequentist estimator's shares over the gated truths it estimates
    (reported, not gated), as the other rows, and the fit's share minus the reference's on those truths
    (``paired_*``: :func:`paired_difference`)."""
    part = rows[rows["level"].isin(GATED_LEVELS) & rows["reference_covered_90"].notna()]
    row = {"breakdown": "reference", "which": " and ".join(GATED_LEVELS), "truths": len(part)}
    for prob in PROBS:
        percent = round(100 * prob)
        reference = part[f"reference_covered_{percent}"].astype(bool)
        stats = clopper_pearson(reference, part.get("cohort"))
        row.update({f"{k}_{percent}": v for k, v in stats.items()})
        row[f"contains_{percent}"] = stats["kg95_lb"] <= prob <= stats["kg95_ub"]
        paired = paired_difference(part[f"covered_{percent}"].astype(bool), reference, part.get("cohort"))
        row.update({f"paired_{k}_{percent}": v for k, v in paired.items()})
    return row


def paired_difference(covered: pd.Series, reference: pd.Series, clusters: pd.Series | None = None) -> dict:
    """The share ``covered`` minus the share ``reference`` on the same truths (``diff``) with a 95% interval
    (``lb``, ``ub``): the mean difference per truth, its variance from the clusters' (cohorts') sums as in
    :func:`clopper_pearson` (every truth its own cluster when none are given), t quantile at clusters - 1."""
    difference = covered.astype(float).to_numpy() - reference.astype(float).to_numpy()
    keys = clusters.to_numpy() if clusters is not None else np.arange(len(difference))
    variance, n_clusters = cluster_variance(difference, keys)
    mean = float(difference.mean())
    if n_clusters < 2:
        return {"diff": mean, "lb": float("nan"), "ub": float("nan")}
    half = float(student_t.ppf(0.975, n_clusters - 1)) * variance**0.5
    return {"diff": mean, "lb": mean - half, "ub": mean + half}
