"""Frequentist estimates beside a destinations fit: one linear probability model per state and per
first-exit category (statsmodels OLS, HC2 errors) on the same rows and design as the binary ITT estimates
(:func:`ww_bayes.compare.frequentist.itt`: arm indicators, Werkverkenner class fixed effects, unpooled
subgroups), on the posterior's estimand names.

Each model's outcome is a person's indicator of being in the category (persons whose month is not observed
drop out, as they leave the fit's cells). The indicators of one outcome sum to one for every person and
every model has the same rows and regressors, so OLS is linear in the outcome: the effects on all states
sum to zero in every contrast and subgroup, and the effect on the WW indicator (``ww_source_pp``) is minus
the sum of the effects on the other states, the posterior's accounting identity, exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ww_bayes.compare.frequentist import fit_factors, itt
from ww_bayes.kinds.destinations import (
    FIRST_EXIT,
    KEY_COLUMNS,
    STATE,
    TO_OTHER,
    TO_SICKNESS,
    TO_SICKNESS_35MIN,
    TO_SICKNESS_NOT_35MIN,
    person_categories,
    ww_states,
)
from ww_bayes.results import spec_of

#: The column each model's indicator is written to (dropped again).
INDICATOR = "destinations_indicator"


def _indicators(categories: np.ndarray, members: list[str]) -> np.ndarray:
    """1.0 for persons in one of ``members``, 0.0 for the others with the outcome observed, NaN else."""
    seen = pd.notna(categories)
    return np.where(seen, np.isin(categories, members).astype(float), np.nan)


def destinations_lpm(
    df: pd.DataFrame, fit: xr.DataTree, covariates: tuple[str, ...] = (), cov_type: str = "HC2", *,
    factors: tuple[str, ...] | None = None,
) -> pd.DataFrame:  # fmt: skip
    """ITT effects (pp) of every contrast on each state's share (``share_pp``), on WW receipt
    (``ww_source_pp``) and on the first-exit incidences (``first_exit_pp``), overall and per level of the
    fit's grouping factors (or of ``factors`` only: ``()`` for overall alone), for every month the fit
    reads; subgroups with an empty arm are left out and listed in ``attrs["skipped"]``."""
    factors = fit_factors(fit) if factors is None else tuple(factors)
    spec = spec_of(fit)
    categories = person_categories(spec, df, fit["constant_data"].ds)
    overall = fit[f"{fit.attrs['model_kind']}/overall"].ds
    states = [str(s) for s in overall["state"].values]
    exits = [str(e) for e in overall["first_exit"].values]
    exit_members = {
        TO_SICKNESS: [TO_SICKNESS, TO_SICKNESS_35MIN, TO_SICKNESS_NOT_35MIN],
        TO_SICKNESS_35MIN: [TO_SICKNESS_35MIN],
        TO_OTHER: [TO_OTHER],
    }
    frames, skipped = [], []
    for month in spec.months:
        models = [("share_pp", "state", s, categories[(STATE, month)], [s]) for s in states]
        models.append(("ww_source_pp", "", "", categories[(STATE, month)], ww_states(states)))
        models += [("first_exit_pp", "first_exit", e, categories[(FIRST_EXIT, month)], exit_members[e])
                   for e in exits]  # fmt: skip
        for estimand, column, label, values, members in models:
            frame = df.assign(**{INDICATOR: _indicators(values, members)})
            table = itt(frame, INDICATOR, factors=factors, covariates=tuple(covariates),
                        cov_type=cov_type, skip_unestimable=True)  # fmt: skip
            skipped += table.attrs["skipped"]
            table = table.assign(estimand=estimand, month=month, state="", first_exit="")
            if column:
                table[column] = label
            frames.append(table)
    out = pd.concat(frames, ignore_index=True)
    out["outcome"] = str(fit.attrs["outcome"])
    columns = [*KEY_COLUMNS, *[c for c in out.columns if c not in KEY_COLUMNS]]
    out = out[columns]
    out.attrs["skipped"] = list(dict.fromkeys(skipped))
    return out
