"""K-fold cross-validation over a factor's levels: how well does a fit predict the persons of a level it has
never seen (a new region)? The pooling choice (none, partial, full) is a claim about exactly that.

For each fold, a fit on the cohort without the fold's levels predicts each held-out person's outcome:
the kind draws each new level's deviations as its pooling says
(:meth:`~ww_bayes.kinds.protocol.ModelKind.new_level_parameters`) and :func:`heldout_elpd` scores the
log predictive density of every held-out person, log of the mean over draws of p(person's value), once per
cell and value (the persons of a cell with the same value share it). :func:`kfold_summary` adds them up per
pooling variant; its standard errors treat the *levels* as the units (the square root of L times the
variance of the L level totals), since a new region, not a new person, is what the folds leave out.
The study that fits the folds is ``ww-bayes kfold`` (:mod:`ww_bayes.calibration.kfold`); this module
scores and reads it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import logsumexp

from ww_bayes.kinds import kind_of
from ww_bayes.kinds.observations import label_columns
from ww_bayes.recompute import model_spec
from ww_bayes.vocabulary import SAMPLE_DIMS

#: The file of a K-fold study's summary (one row per pooling variant), in its folder.
SUMMARY_FILE = "kfold_summary.csv"


def heldout_elpd(fit: xr.DataTree, heldout: pd.DataFrame, factor: str, seed: int, spec=None) -> pd.DataFrame:
    """The log predictive density of each held-out person (nats) under ``fit``, whose data held none of
    the levels of ``factor`` in ``heldout`` (a validated cohort table): one row per held-out cell and value,
    with the cell's labels, ``value``, ``persons`` (with that value) and ``elpd`` (per person)."""
    kind = kind_of(fit)
    spec = model_spec(fit, spec)
    data = kind.prepare(spec, heldout)
    observation = data.observation
    parameters = kind.new_level_parameters(spec, fit["posterior"].ds, data.cells, factor, seed)
    density = observation.value_log_density(parameters).transpose(*SAMPLE_DIMS, "cell", "value")
    samples = density.sizes["chain"] * density.sizes["draw"]
    lpd = logsumexp(density.values.reshape(samples, -1), axis=0) - np.log(samples)
    counts = observation.value_counts(observation.observed(data.cells), observation.constant(data.cells))
    labels = data.cells[label_columns(data.cells, observation)].astype(str).reset_index(drop=True)
    values = list(observation.person_values)
    rows = labels.loc[labels.index.repeat(len(values))].reset_index(drop=True)
    rows["value"] = values * len(labels)
    rows["persons"] = counts.values.ravel()
    rows["elpd"] = lpd
    return rows[rows["persons"] > 0].reset_index(drop=True)


def kfold_summary(rows: pd.DataFrame, factor: str) -> pd.DataFrame:
    """One row per pooling ``variant`` of the held-out rows of every fold (:func:`heldout_elpd` with
    ``variant``): ``elpd_kfold`` (all held-out persons, nats) and its standard error over the levels of
    ``factor``, ``elpd_per_person``, and the difference from the best variant with its standard error
    (paired by level); ``levels`` and ``persons`` held out."""
    rows = rows.assign(total=rows["persons"] * rows["elpd"])
    by_level = rows.pivot_table(index=factor, columns="variant", values="total", aggfunc="sum", sort=False)
    n_levels = len(by_level)
    best = by_level.sum().idxmax()
    persons = rows.groupby("variant", sort=False)["persons"].sum()
    table = []
    for variant in by_level.columns:
        totals, difference = by_level[variant], by_level[variant] - by_level[best]
        table.append(
            {
                "variant": variant,
                "elpd_kfold": float(totals.sum()),
                "elpd_kfold_se": float(np.sqrt(n_levels) * totals.std(ddof=1)),
                "elpd_per_person": float(totals.sum() / persons[variant]),
                "elpd_difference": float(difference.sum()),
                "elpd_difference_se": float(np.sqrt(n_levels) * difference.std(ddof=1)),
                "levels": n_levels,
                "persons": int(persons[variant]),
            }
        )
    return pd.DataFrame(table).sort_values("elpd_kfold", ascending=False).reset_index(drop=True)


def kfold_results(folder: str | os.PathLike) -> pd.DataFrame | None:
    """The summary a K-fold study wrote in ``folder`` (``ww-bayes kfold``), or None when there is none."""
    path = Path(folder) / SUMMARY_FILE
    return pd.read_csv(path) if path.is_file() else None
