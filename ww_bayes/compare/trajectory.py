"""Frequentist estimates beside a trajectory fit: one linear probability model per outcome and month
(statsmodels OLS, HC2 errors), the binary ITT estimator (:func:`ww_bayes.compare.frequentist.itt`: arm
indicators, Werkverkenner class fixed effects, unpooled subgroups) on each month column the fit reads, on
the posterior's estimand names (``effect_pp`` per outcome and month).

Each month is estimated on its own: the months are not smoothed and the classes not pooled, so the
comparison shows what the random-walk curves and the partial pooling add. Persons whose month is not
observed (the late inflow's last months) drop out of that month's model, as they leave the fit's cells.
"""

from __future__ import annotations

import pandas as pd
import xarray as xr

from ww_bayes.compare.frequentist import fit_factors, itt
from ww_bayes.data.schema import month_column
from ww_bayes.derived import levels_of
from ww_bayes.results import spec_of
from ww_bayes.vocabulary import interval_of


def trajectory_itt(
    df: pd.DataFrame, fit: xr.DataTree, covariates: tuple[str, ...] = (), cov_type: str = "HC2", *,
    factors: tuple[str, ...] | None = None,
) -> pd.DataFrame:  # fmt: skip
    """ITT effects (pp) of every contrast on each outcome (employment, WW receipt) in every month the fit
    reads, overall and per level of the factors the fit reports effects by (its derived group's levels:
    the Werkverkenner class; or of ``factors`` only: ``()`` for overall alone), confidence intervals at
    the probability of the fit's credible intervals; subgroups with an empty arm are left out and listed in
    ``attrs["skipped"]``. One :func:`~ww_bayes.compare.frequentist.itt` per outcome and month: 60 models
    overall and as many per class, about 35 s in all on the published cohort."""
    reported = levels_of(fit[str(fit.attrs["model_kind"])])
    factors = tuple(f for f in fit_factors(fit) if f in reported) if factors is None else tuple(factors)
    spec = spec_of(fit)
    prob = interval_of(fit.attrs)[1]
    frames, skipped = [], []
    for outcome in spec.outcomes:
        for month in spec.month_list:
            table = itt(df, month_column(outcome, month), factors=factors, covariates=tuple(covariates),
                        cov_type=cov_type, skip_unestimable=True, interval_prob=prob)  # fmt: skip
            skipped += table.attrs["skipped"]
            frames.append(table.assign(outcome=outcome, month=month))
    out = pd.concat(frames, ignore_index=True)
    keys = ["estimand", "outcome", "contrast", "level", "group", "month"]
    out = out[[*keys, *[c for c in out.columns if c not in keys]]]
    out.attrs["skipped"] = list(dict.fromkeys(skipped))
    return out
