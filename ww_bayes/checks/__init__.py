"""Model checks of a fit on its cohort, the Bayesian workflow's second half: does the model predict its own
data (LOO-PIT), how well does it predict a left-out cell and a left-out person (PSIS-LOO), what do its
priors do (power-scaling sensitivity, the prior's predictions)?

:func:`model_checks` runs them all on a fit and the cohort it was made on (the fit file leaves out the
per-cell draws: :mod:`ww_bayes.recompute` makes them again) and returns a :class:`ModelChecks`;
:mod:`~ww_bayes.checks.predictive` and :mod:`~ww_bayes.checks.sensitivity` hold the parts. How to read each
check: ``docs/model_checks.md``. The pooling choice is checked by K-fold cross-validation over a factor's
levels (:mod:`~ww_bayes.checks.kfold`, run by ``ww-bayes kfold``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd
import xarray as xr

from ww_bayes.checks.kfold import heldout_elpd, kfold_results, kfold_summary
from ww_bayes.checks.predictive import (
    PIT_ALPHA,
    LeaveOneOut,
    cell_loo,
    good_k,
    loo_difference,
    loo_pit,
    person_loo,
    pit_tests,
    pit_verdicts,
    sampled_person_loo,
)
from ww_bayes.checks.sensitivity import (
    SENSITIVITY_THRESHOLD,
    log_prior,
    prior_implications,
    prior_sensitivity,
)
from ww_bayes.kinds import kind_of
from ww_bayes.recompute import Cohort, recomputed

#: The parts of :func:`model_checks`, each timed.
PARTS = ("recompute", "cell LOO and LOO-PIT", "person LOO", "prior sensitivity", "prior predictions")


@dataclass(frozen=True)
class ModelChecks:
    """The checks of one fit on its cohort (:func:`model_checks`).

    ``cell_loo``, ``person_loo``: PSIS leave-one-out over cells and over persons
    (:class:`~ww_bayes.checks.predictive.LeaveOneOut`); ``pit``: each cell's randomised LOO-PIT, labelled
    by the cells' labels; ``pit_tests``: its uniformity test per panel
    (:func:`~ww_bayes.checks.predictive.pit_tests`); ``sensitivity``: power-scaling sensitivity of the
    top-level parameters and population estimands (:func:`~ww_bayes.checks.sensitivity.prior_sensitivity`);
    ``prior``: the prior's predictions beside the data's
    (:func:`~ww_bayes.checks.sensitivity.prior_implications`); ``seconds`` per part."""

    cell_loo: LeaveOneOut
    person_loo: LeaveOneOut | None
    pit: xr.DataArray
    pit_tests: pd.DataFrame
    sensitivity: pd.DataFrame
    prior: xr.Dataset
    seconds: dict[str, float] = field(default_factory=dict)

    def loo_table(self) -> pd.DataFrame:
        """Leave-one-out over cells and over persons, one row each."""
        rows = [self.cell_loo.row()] + ([self.person_loo.row()] if self.person_loo else [])
        return pd.DataFrame(rows)

    def pit_verdicts(self) -> pd.DataFrame:
        """The LOO-PIT verdict per breakdown (:func:`~ww_bayes.checks.predictive.pit_verdicts`)."""
        return pit_verdicts(self.pit_tests)

    def sensitive(self) -> pd.DataFrame:
        """The rows of :attr:`sensitivity` with a diagnosis."""
        return self.sensitivity[self.sensitivity["diagnosis"] != ""]

    def text(self) -> str:
        """The checks in a few lines (a screen's or a notebook's summary)."""
        verdicts = self.pit_verdicts()
        outside = verdicts[~verdicts["inside"]]
        pit = (
            "LOO-PIT uniform in every panel"
            if outside.empty
            else "LOO-PIT NOT uniform: "
            + "; ".join(f"{r.breakdown} {r.outside}" for r in outside.itertuples())
        )
        lines = [pit]
        for loo in (self.cell_loo, self.person_loo):
            if loo is not None:
                lines.append(
                    f"elpd_loo per {loo.unit}: {loo.elpd:,.1f} (SE {loo.se:,.1f}) over {loo.units:,} "
                    f"{loo.unit}s; Pareto k > {loo.good_k:.2f}: {loo.k_high:,}, > 1: {loo.k_very_high:,}"
                )
        flagged = self.sensitive()
        lines.append(
            "prior sensitivity: none above the threshold"
            if flagged.empty
            else "prior sensitivity: "
            + "; ".join(f"{r.quantity} ({r.diagnosis})" for r in flagged.itertuples())
        )
        return "\n".join(lines)


def cells_by_part(pit: xr.DataArray) -> xr.DataArray:
    """A LOO-PIT with one value per cell and part (an observation with several PITs per cell, dim
    ``part``: the hurdle's) as one value per (cell, part) along ``cell``, labelled by a ``part`` coord, so
    the uniformity tests run per part as per any other label; a PIT without parts as it is."""
    if "part" not in pit.dims:
        return pit
    return xr.concat(
        [pit.sel(part=part, drop=True).assign_coords(part=("cell", [str(part)] * pit.sizes["cell"]))
         for part in pit["part"].values],
        dim="cell",
    )  # fmt: skip


def model_checks(fit: xr.DataTree, cohort: Cohort, spec=None, seed: int | None = None) -> ModelChecks:
    """Every check of :class:`ModelChecks` for ``fit`` on the cohort it was made on (a path, checked by its
    SHA-256, or a DataFrame; its cells must be the fit's own: :class:`ww_bayes.results.DataMismatchError`
    otherwise). ``seed``: of the randomised PIT and the person subsample (default: the fit's sampler
    seed)."""
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    seed = int(fit.attrs.get("seed", 0)) if seed is None else seed
    kind = kind_of(fit)
    parts = recomputed(fit, cohort, spec)
    posterior = fit["posterior"].ds
    observation = kind.observation_of(fit)
    observed, constant = fit["observed_data"].ds, fit["constant_data"].ds
    seconds["recompute"], clock = time.perf_counter() - clock, time.perf_counter()

    cells, log_weights = cell_loo(posterior, parts.log_likelihood["y"])
    below, at = observation.cdf_at_observed(parts.parameters, observed, constant)
    pit = loo_pit(below, at, log_weights, seed)
    pit = pit.assign_coords({c: observed[c] for c in observed.coords if observed[c].dims == ("cell",)})
    pit = cells_by_part(pit)
    seconds["cell LOO and LOO-PIT"], clock = time.perf_counter() - clock, time.perf_counter()

    own = kind.own_person_loo(parts, seed)
    if own is not None:
        persons = sampled_person_loo(own, posterior, time.perf_counter() - clock)
    elif observation.person_values:
        patterns = kind.person_patterns(parts.spec, parts.data, parts.cohort)
        persons = person_loo(posterior, observation.value_log_density(parts.parameters), patterns, seed=seed)
    else:
        persons = None
    seconds["person LOO"], clock = time.perf_counter() - clock, time.perf_counter()

    sensitivity = prior_sensitivity(fit, parts)
    seconds["prior sensitivity"], clock = time.perf_counter() - clock, time.perf_counter()
    prior = prior_implications(fit, parts)
    seconds["prior predictions"] = time.perf_counter() - clock
    return ModelChecks(cells, persons, pit, pit_tests(pit), sensitivity, prior, seconds)


__all__ = [
    "PARTS",
    "PIT_ALPHA",
    "SENSITIVITY_THRESHOLD",
    "LeaveOneOut",
    "ModelChecks",
    "cell_loo",
    "good_k",
    "heldout_elpd",
    "kfold_results",
    "kfold_summary",
    "log_prior",
    "loo_difference",
    "loo_pit",
    "model_checks",
    "person_loo",
    "pit_tests",
    "pit_verdicts",
    "prior_implications",
    "prior_sensitivity",
    "sampled_person_loo",
]
