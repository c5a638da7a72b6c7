"""Predictive checks of a fit on its own cohort: leave-one-out over cells and over persons, and the LOO-PIT.

**Leave one cell out.** PSIS-LOO (arviz_stats ``loo``) on the cells' pointwise log-likelihood. A cell holds
up to thousands of persons and some cells are nearly the only data on a parameter (a trajectory's free
level per class and month), so many cells have high Pareto k: leaving out a whole cell moves the posterior
far. Its importance weights still give each cell's leave-one-out predictive distribution where k is low,
and so the LOO-PIT.

**LOO-PIT** (:func:`loo_pit`): for each cell, the leave-one-cell-out predictive probability of a count
below the observed one plus a uniform share of the probability at it (a *randomised* PIT: exactly uniform
for counts under the right model, where the plain PIT of a count is not), with the cell's PSIS weights,
from the observation's exact predictive probabilities (no predictive draws). Unlike the share of cells
inside an in-sample interval, it does not use each cell twice. :func:`pit_tests` tests the values for
uniformity by arviz_stats' ``uniformity_test`` (the "pot_c" test arviz_plots' LOO-PIT plot draws: valid
for the dependent values LOO-PIT gives, where a simultaneous ECDF band assumes independent ones), over
all cells and within each level of each label (arm, class, region, month, ...), Bonferroni over the
panels.

**Leave one person out** (:func:`person_loo`): what predicting a new claimant asks. Persons add the same
terms to the log-likelihood whenever they share a pattern (:class:`~ww_bayes.kinds.protocol.PersonPatterns`):
in a 12-month cell every person with the outcome adds log p and every person without it log(1 - p), so
PSIS-LOO runs once per distinct pattern (two per cell) and each result counts for its persons: the elpd is
the person-weighted sum, its standard error sqrt(N) times the person-weighted standard deviation of the
pointwise elpd, exactly as over the expanded person rows (179,840 of them), which are never built. Where the
persons have too many distinct patterns for PSIS on each (a trajectory: a person's 60 months), it runs on a
simple random sample of persons and the difference estimator of arviz_stats' ``loo_subsample`` (Magnusson
et al. 2019) adds the log predictive density of every person as the approximation.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import arviz_stats as azs
import numpy as np
import pandas as pd
import xarray as xr
from arviz_stats.base import array_stats
from scipy.special import logsumexp

from ww_bayes.kinds.protocol import PersonPatterns
from ww_bayes.vocabulary import SAMPLE_DIMS

#: Family-wise level of the LOO-PIT uniformity tests of one fit (Bonferroni over its panels).
PIT_ALPHA = 0.05
#: Persons' distinct patterns up to which person-level PSIS-LOO runs on every pattern; above, on a sample.
EXACT_PATTERNS = 5_000
#: Persons sampled for the subsample estimator (their distinct patterns get PSIS).
SUBSAMPLE_PERSONS = 2_000
#: Patterns whose log-likelihood is held in memory at once (patterns x draws, float64).
CHUNK_PATTERNS = 2_000


def good_k(draws: int) -> float:
    """The Pareto k above which PSIS is unreliable with ``draws`` draws (Vehtari et al. 2024): the smaller
    of 0.7 and 1 - 1 / log10(draws), as arviz_stats uses."""
    return min(1 - 1 / np.log10(draws), 0.7)


@dataclass(frozen=True)
class LeaveOneOut:
    """PSIS leave-one-out over ``unit`` ("cell" or "person"): ``elpd`` (expected log predictive density of
    all units, nats) with its standard error ``se``, the effective number of parameters ``p_loo``, Pareto k
    counts (``k_high``: units above ``good_k``; ``k_very_high``: above 1) and how it was computed
    (``method``; for a subsample, the persons sampled and the part of ``se`` due to sampling). ``elpd_i``
    and ``weights``: the pointwise elpd of each distinct pattern (or cell) and the units it stands for, for
    paired comparisons (:func:`loo_difference`); empty for a subsample."""

    unit: str
    units: int
    elpd: float
    se: float
    p_loo: float
    good_k: float
    k_high: int
    k_very_high: int
    patterns: int
    method: str
    subsample: int = 0
    subsampling_se: float = 0.0
    seconds: float = 0.0
    #: how a subsample estimates the sum over all units: "difference" (arviz_stats' difference estimator
    #: with every unit's log predictive density) or "mean" (the number of units times the sample's mean)
    estimator: str = "difference"
    elpd_i: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    weights: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)

    def row(self) -> dict[str, float | int | str]:
        """The numbers as one table row."""
        return {
            "unit": self.unit,
            "units": self.units,
            "elpd_loo": self.elpd,
            "elpd_loo_se": self.se,
            "p_loo": self.p_loo,
            "good_k": self.good_k,
            "k_above_good": self.k_high,
            "k_above_1": self.k_very_high,
            "method": self.method,
        }


def _tree(posterior: xr.Dataset, log_likelihood: xr.DataArray) -> xr.DataTree:
    return xr.DataTree.from_dict(
        {"posterior": posterior, "log_likelihood": xr.Dataset({"y": log_likelihood})}
    )


def _psis_loo(posterior: xr.Dataset, log_likelihood: xr.DataArray):
    """arviz_stats' PSIS-LOO, pointwise, its Pareto k warnings counted by the caller instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return azs.loo(_tree(posterior, log_likelihood), pointwise=True)


def cell_loo(posterior: xr.Dataset, log_likelihood: xr.DataArray) -> tuple[LeaveOneOut, xr.DataArray]:
    """PSIS-LOO over the cells (``log_likelihood``: chain, draw, cell) and the cells' smoothed log weights
    (chain, draw, cell), which :func:`loo_pit` reads."""
    start = time.perf_counter()
    loo = _psis_loo(posterior, log_likelihood)
    k = np.asarray(loo.pareto_k)
    limit = good_k(loo.n_samples)
    result = LeaveOneOut(
        unit="cell", units=int(k.size), elpd=float(loo.elpd), se=float(loo.se), p_loo=float(loo.p),
        good_k=limit, k_high=int((k > limit).sum()), k_very_high=int((k > 1).sum()), patterns=int(k.size),
        method="PSIS-LOO over cells", seconds=time.perf_counter() - start, elpd_i=np.asarray(loo.elpd_i),
        weights=np.ones(k.size),
    )  # fmt: skip
    return result, loo.log_weights.transpose(*SAMPLE_DIMS, "cell")


def loo_pit(below: xr.DataArray, at: xr.DataArray, log_weights: xr.DataArray, seed: int) -> xr.DataArray:
    """Randomised LOO-PIT per cell: sum over draws of the cell's normalised PSIS weight times
    (P(below the observed value) + U * P(at it)), ``U`` uniform per cell (seeded). ``below``, ``at``: per
    draw and cell (the observation's :meth:`~ww_bayes.kinds.observations.Observation.cdf_at_observed`)."""
    log_weights = log_weights - logsumexp(log_weights.values, axis=(0, 1))
    weights = np.exp(log_weights)
    below_loo = (weights * below).sum(SAMPLE_DIMS)
    at_loo = (weights * at).sum(SAMPLE_DIMS)
    uniform = np.random.default_rng([seed, 35]).uniform(size=below_loo.shape)
    return (below_loo + uniform * at_loo).clip(0.0, 1.0).rename("loo_pit")


def breakdowns(pit: xr.DataArray) -> list[str]:
    """The labels of the cells the LOO-PIT is tested within (arm, grouping factors, month, ...): the
    cell's label coords with more than one level."""
    labels = [name for name in pit.coords if name != "cell" and pit[name].dims == ("cell",)]
    return [name for name in labels if len(set(pit[name].values)) > 1]


def pit_tests(pit: xr.DataArray, alpha: float = PIT_ALPHA) -> pd.DataFrame:
    """Uniformity of the LOO-PIT values (arviz_stats ``uniformity_test``, "pot_c"): one row per panel, all
    cells (``breakdown`` "all") and each level of each label (:func:`breakdowns`), with its cells, the test's
    p-value and ``outside``: p below ``alpha`` / panels (Bonferroni: a model that fits has every panel
    inside with probability at least 1 - ``alpha``)."""
    panels = [("all", "all", np.ones(pit.sizes["cell"], dtype=bool))]
    for label in breakdowns(pit):
        values = pit[label].values.astype(str)
        panels += [(label, level, values == level) for level in dict.fromkeys(values)]
    rows = []
    for breakdown, level, chosen in panels:
        values = pit.values[chosen]
        values = values[np.isfinite(values)]
        p_value = float(array_stats.uniformity_test(values)[0]) if values.size >= 2 else np.nan
        rows.append({"breakdown": breakdown, "level": level, "cells": int(values.size), "p_value": p_value})
    table = pd.DataFrame(rows)
    table["threshold"] = alpha / len(table)
    table["outside"] = table["p_value"] < table["threshold"]
    return table


def pit_verdicts(tests: pd.DataFrame) -> pd.DataFrame:
    """One row per breakdown: panels, the smallest p-value, the levels outside and the verdict."""
    rows = []
    for breakdown, part in tests.groupby("breakdown", sort=False):
        outside = part.loc[part["outside"], "level"].astype(str).tolist()
        rows.append({"breakdown": breakdown, "panels": len(part), "smallest_p_value": part["p_value"].min(),
                     "threshold": part["threshold"].iloc[0], "outside": ", ".join(outside),
                     "inside": not outside})  # fmt: skip
    return pd.DataFrame(rows)


def loo_difference(first: LeaveOneOut, second: LeaveOneOut) -> dict[str, float]:
    """``first``'s elpd minus ``second``'s, paired unit by unit, with its standard error (sqrt(N) times the
    weighted sd of the pointwise differences): two fits of the same cells and persons (pooling variants,
    say). ValueError when their units differ or a subsample left no pointwise values."""
    same = first.elpd_i.size and first.elpd_i.shape == second.elpd_i.shape
    if not same or not np.array_equal(first.weights, second.weights):
        raise ValueError("the two leave-one-out results are not over the same units (same cells, persons)")
    difference = first.elpd_i - second.elpd_i
    total = first.weights.sum()
    return {
        "elpd_difference": float((first.weights * difference).sum()),
        "se": float(np.sqrt(total) * _weighted_sd(difference, first.weights)),
    }


# --- leave one person out -------------------------------------------------------------------------------


def pattern_log_likelihood(patterns: PersonPatterns, terms: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Log-likelihood (pattern, sample) of the patterns ``rows`` from the per-term log-densities ``terms``
    (term, sample): each pattern's row of the sparse term matrix times the terms."""
    return np.asarray(patterns.terms[rows] @ terms)


def _weighted_sd(values: np.ndarray, weights: np.ndarray) -> float:
    """The standard deviation of ``values`` each counted ``weights`` times (frequency weights, divisor
    N - 1, as arviz_stats' standard error over expanded rows)."""
    mean = np.average(values, weights=weights)
    return float(np.sqrt((weights * (values - mean) ** 2).sum() / (weights.sum() - 1)))


def sampled_person_loo(result: dict, posterior: xr.Dataset, seconds: float = 0.0) -> LeaveOneOut:
    """A kind's own leave-one-person-out (:meth:`ww_bayes.kinds.protocol.ModelKind.own_person_loo`: PSIS
    over the distinct (cell, value) of a simple random sample of persons, or of all) as a
    :class:`LeaveOneOut`: the sum over all persons estimated as their number times the sample's mean."""
    limit = good_k(posterior.sizes["chain"] * posterior.sizes["draw"])
    sampled = result["persons_computed"] < result["persons"]
    return LeaveOneOut(
        unit="person", units=int(result["persons"]), elpd=float(result["elpd"]), se=float(result["se"]),
        p_loo=float(result["p_loo"]), good_k=limit,
        k_high=int(result["weights"][result["pareto_k"] > limit].sum()),
        k_very_high=int(result["weights"][result["pareto_k"] > 1].sum()), patterns=int(result["distinct"]),
        method=(f"PSIS-LOO over the distinct (cell, value) of a simple random sample of "
                f"{result['persons_computed']:,} persons, their number times the sample's mean (Pareto k "
                "counts: of the sample)") if sampled else "PSIS-LOO over the distinct (cell, value) of every "
        "person, weighted by their persons",
        subsample=int(result["persons_computed"]) if sampled else 0,
        subsampling_se=float(result["subsample_se"]) if sampled else 0.0, seconds=seconds, estimator="mean",
    )  # fmt: skip


def person_loo(
    posterior: xr.Dataset,
    value_log_density: xr.DataArray,
    patterns: PersonPatterns,
    *,
    exact_patterns: int = EXACT_PATTERNS,
    subsample: int = SUBSAMPLE_PERSONS,
    seed: int = 0,
) -> LeaveOneOut:
    """Leave-one-person-out PSIS-LOO from the persons' ``patterns`` and each draw's log-density of one
    person's value per cell (``value_log_density``: chain, draw, cell, value). Exact over the distinct
    patterns when there are at most ``exact_patterns`` of them; else the subsample difference estimator
    with ``subsample`` persons (seeded)."""
    start = time.perf_counter()
    density = value_log_density.transpose(*SAMPLE_DIMS, "cell", "value")
    n_chain, n_draw = density.sizes["chain"], density.sizes["draw"]
    terms = density.values.reshape(n_chain * n_draw, -1).T  # (cell x value, sample)
    n_patterns, persons = len(patterns.persons), patterns.persons.astype("float64")
    limit = good_k(n_chain * n_draw)

    def as_draws(values: np.ndarray) -> xr.DataArray:
        return xr.DataArray(values.T.reshape(n_chain, n_draw, -1), dims=(*SAMPLE_DIMS, "pattern"))

    if n_patterns <= exact_patterns:
        log_likelihood = pattern_log_likelihood(patterns, terms, np.arange(n_patterns))
        lpd_i = logsumexp(log_likelihood, axis=1) - np.log(log_likelihood.shape[1])
        loo = _psis_loo(posterior, as_draws(log_likelihood))
        elpd_i, k = np.asarray(loo.elpd_i), np.asarray(loo.pareto_k)
        total = persons.sum()
        return LeaveOneOut(
            unit="person", units=int(total), elpd=float((persons * elpd_i).sum()),
            se=float(np.sqrt(total) * _weighted_sd(elpd_i, persons)),
            p_loo=float((persons * (lpd_i - elpd_i)).sum()), good_k=limit,
            k_high=int(persons[k > limit].sum()), k_very_high=int(persons[k > 1].sum()), patterns=n_patterns,
            method=f"PSIS-LOO over {n_patterns:,} distinct person patterns, weighted by their persons",
            seconds=time.perf_counter() - start, elpd_i=elpd_i, weights=persons,
        )  # fmt: skip

    # the log predictive density of every pattern (the approximation), chunk by chunk
    lpd = np.empty(n_patterns)
    for first in range(0, n_patterns, CHUNK_PATTERNS):
        rows = np.arange(first, min(first + CHUNK_PATTERNS, n_patterns))
        lpd[rows] = logsumexp(pattern_log_likelihood(patterns, terms, rows), axis=1) - np.log(terms.shape[1])
    pattern_of_person = np.repeat(np.arange(n_patterns), patterns.persons)
    total = len(pattern_of_person)
    size = min(subsample, total)
    sampled = np.random.default_rng([seed, 35]).choice(total, size=size, replace=False)
    sampled_patterns, index = np.unique(pattern_of_person[sampled], return_inverse=True)
    loo = _psis_loo(posterior, as_draws(pattern_log_likelihood(patterns, terms, sampled_patterns)))
    elpd_sample = np.asarray(loo.elpd_i)[index]
    k_sample = np.asarray(loo.pareto_k)[index]
    elpd, subsampling_se, se = array_stats.diff_srs_estimator(
        elpd_sample, lpd[pattern_of_person[sampled]], lpd[pattern_of_person], total
    )
    p_loo, _, _ = array_stats.srs_estimator(lpd[pattern_of_person[sampled]] - elpd_sample, total)
    return LeaveOneOut(
        unit="person", units=total, elpd=float(elpd), se=float(se), p_loo=float(p_loo), good_k=limit,
        k_high=int((k_sample > limit).sum()), k_very_high=int((k_sample > 1).sum()), patterns=n_patterns,
        method=f"PSIS-LOO on a simple random sample of {size:,} persons and the log predictive density of "
        f"all (difference estimator; Pareto k counts: of the sample)",
        subsample=size, subsampling_se=float(subsampling_se), seconds=time.perf_counter() - start,
    )  # fmt: skip
