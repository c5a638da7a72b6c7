"""The trajectory kind (``kind = "trajectory"``): month-by-month effects over months 1-30 (the study's
"do the effects last?" question).

Cells are arm x Werkverkenner class (x region, when the spec asks) x month, for each outcome (``employed``,
``ww``), with exact Binomial counts; a person with an unobserved month leaves that month's cells only.
On the logit scale, for outcome o, class c, region r and month m, anchored on the service arm:

    eta[service]             = level[o, c, m] + level_region[o, r]
    eta[control_enforcement] = eta[service] - service[o, c, m] - service_region[o, r]
    eta[control_none]        = eta[service] - service[o, c, m] - service_region[o, r]
                               - enforcement[o, c, m] - enforcement_region[o, r]

(the region terms only when the spec's groups include region) gives the rates of the arms as drawn, which
the counts follow: the curves are the effects in this sample. The Binomial cells count a person's months as
independent looks, but a person's months are correlated (a chance imbalance between arms persists from
month to month), so the curves alone claim far more certainty than the persons give. The effects in the
population (``rate`` and the ``trajectory`` group) therefore subtract from every arm's rates a draw of the
error that leaves out, ``composition[o, arm, c, m]``: multivariate normal, per outcome over every arm, class
and month, with the covariance :func:`smoothing_risk` gives from the curves' posterior draws and each arm's
sampling covariance across months (:func:`composition_covariance`), so that the curves' posterior plus the
term has the covariance of the posterior mean's error, averaged over the prior. It is made after sampling
(:func:`posterior_composition`; the fit stores its factor) and does not enter the likelihood (the data
cannot tell an imbalance from an effect): its standard-normal factors ``composition_z`` are sampled from
their prior alongside the rest. (Putting a composition term in the likelihood gives nearly the same
posterior, the two differing only through the curves' priors, but a ridge between it and the curves:
correlations of -0.9 and R-hat above 1.01 on some cohorts.)

The level is free per outcome, class and month (every cell holds thousands of persons). Each effect is a
smooth curve over months: a common curve, its mean over the months plus a first-order random walk
(Student-t monthly steps with an estimated step sd) centred on its own mean, plus class deviation curves,
each a mean over the months plus a random walk centred on its mean, summing to zero over classes at every
month, partially pooled through a shared sd of the class means and a shared step sd (``pooling =
"partial"``), with fixed sds (``"none"``) or absent (``"full"``). A random walk follows a step change
(enforcement acting in months 6-11) as well as a slow fade; its steps are non-centred (the enforcement curve
is too weakly identified for a centred walk); the class curves' means are centred, half-centred or
non-centred per effect as the spec's ``[parametrization]`` says, for ``"auto"`` as the data call for
(:func:`choose_forms`: centred where the classes' effects are well known, else the spec's
``weak_data_form``: half-centred for the service curve in the shipped spec). The
curves are anchored on their mean over months, which all
months inform, rather than on month 1, where the data say least (in the month of inflow about one in ten
works and 96% are on WW): anchored on month 1, the start traded against the first steps (posterior
correlation -0.77) and the sds mixed slowly on cohorts shaped unlike the simulator's default
(docs/convergence.md). Region deviations, when modelled, are constant over months.

The derived ``trajectory`` group holds the pp effect per month per contrast (overall, cohort-weighted, and
per class) and the cumulative effects over every horizon: extra months in work and WW months avoided per
participant, as posterior draws for the cost-effectiveness module.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from scipy import sparse
from scipy.linalg import block_diag

from ww_bayes.data.cells import monthly_cells, person_counts
from ww_bayes.data.schema import (
    ARM_CONTROL_ENFORCEMENT,
    ARM_CONTROL_NONE,
    ARM_SERVICE,
    ARMS,
    MONTHS,
    OUTCOME_PREFIXES,
    month_column,
)
from ww_bayes.derived import (
    OVERALL,
    Variable,
    derived_tree,
    direction_sign,
    effect_probabilities,
    level_label,
    levels_of,
    probability_variables,
)
from ww_bayes.estimands import contrast_pp, level_rates
from ww_bayes.kinds.common import (
    COMMON_KEYS,
    COMPONENTS,
    EFFECT_COMPONENTS,
    SpecCommon,
    mean_table,
    parse_parametrization,
    parse_pooling,
    priors_table,
)
from ww_bayes.kinds.observations import BinaryCounts
from ww_bayes.kinds.pooling import (
    ARMS_WITH,
    AUTO,
    HALF_NORMAL,
    NON_CENTRED,
    SD_PRIORS,
    Parametrization,
    SdPrior,
    category_codes,
    cell_index,
    choose_parametrizations,
    class_weights,
    factor_levels,
    sparseness_flags,
    zero_sum_deviations,
)
from ww_bayes.kinds.protocol import (
    Block,
    EffectPaths,
    Heading,
    ModelData,
    ModelKind,
    Paragraph,
    PersonPatterns,
    Plot,
    Table,
)
from ww_bayes.summaries import summary_table
from ww_bayes.tomlspec import SpecError, number, reject_unknown, require
from ww_bayes.vocabulary import SAMPLE_DIMS, interval_label, interval_of, interval_text

#: Degrees of freedom of the trajectory curves' monthly steps (Student-t): heavy tails let a curve jump
#: (enforcement acting in months 6-11 only) without loosening the smoothing everywhere else.
STEP_NU = 3.0


CONTROL_ARMS = (ARM_CONTROL_ENFORCEMENT, ARM_CONTROL_NONE)
#: The factor whose deviations take a form (centred or not): the classes' means of each effect curve.
FORM_FACTOR = "werkverkenner"
#: The arm whose rate is the baseline (``service_level``): the effects are contrasts against it.
ANCHOR = ARM_SERVICE
#: Standard normals of the composition term per control arm and class (``composition_z``; fewer with fewer
#: months): an outcome's term has 2 x classes x this many components, the leading ones of its covariance
#: (on the demo's cohorts they hold all but a rounding error of the trace of its positive part; its
#: negative eigenvalues, from the months' covariances less their variances, count as zero, which errs on
#: the wide side); before sampling (:func:`prior_composition`) each control arm and class has this many
#: leading components of its own sampling covariance.
COMPOSITION_COMPONENTS = 8
#: The likelihoods a trajectory fit takes (the first is the default): ``"binomial"``, a Binomial per cell
#: and month with the composition term for what persists over months; ``"correlated"``, each cell's
#: monthly rates of every outcome as one multivariate normal observation with the covariance its persons
#: give them across months and outcomes (:func:`cell_means`), and no composition term.
LIKELIHOODS = ("binomial", "correlated")
#: Printed and stored with every fit that uses the correlated likelihood.
CORRELATED_NOTE = (
    "the correlated likelihood is experimental: on the simulator's cohorts its intervals hold the truth "
    "less often than they say (docs/calibration.md, 'The correlated likelihood'); the binomial one is the "
    "calibrated model"
)
#: The likelihoods in words (the priors' printout).
LIKELIHOOD_TEXT = {
    "binomial": "Binomial per cell and month; the error the independent months leave out of the curves (the "
    "arms' chance imbalance that persists over months: composition, made from the posterior) is added to the "
    "population effects",
    "correlated": "each cell's monthly rates of every outcome as one multivariate normal observation with "
    "the covariance its persons give them across months and outcomes (the level sampled in whitened "
    "coordinates)",
}
#: The dims of the correlated likelihood's constants: a cell (arm x groups), the series of a cell's
#: rates (outcome x month) and their transpose.
MEANS_DIMS = ("mean_cell", "series", "series_to")
#: The dims of the composition covariance (:func:`composition_covariance`).
COVARIANCE_DIMS = ("outcome", "arm", "werkverkenner", "month", "month_to")
#: The dims of the composition factor: per outcome, every arm's, class's and month's loading on the
#: outcome's standard normals (``composition_z``: :data:`COMPOSITION_COMPONENTS` per control arm and class).
COMPOSITION_DIMS = ("outcome", "arm", "werkverkenner", "month", "composition_column")
#: The cumulative effects, with the sign that makes "good" positive, per outcome.
CUMULATIVE = {"employed": ("extra_employed_months", 1.0), "ww": ("ww_months_avoided", -1.0)}
#: The variables of the derived ``trajectory`` group, with their roles (:class:`ww_bayes.derived.Variable`):
#: the monthly and the cumulative effects get P(> 0) in the summary.
VARIABLES = {
    "effect_pp": Variable("estimand", signed=True, units="percentage points (pp) in the month"),
    **{
        name: Variable("estimand", signed=True, units="months per participant, months 1..horizon")
        for name, _ in CUMULATIVE.values()
    },
    "effect_pp_identified": Variable("partial_estimand", units="percentage points (pp) in the month"),
    **probability_variables(of="effect_pp"),
    "pooling_only": Variable("flag"),
    "pooling_only_share": Variable("share"),
}


def prepare_trajectory_data(
    spec: TrajectorySpec, df: pd.DataFrame, likelihood: str | None = None
) -> ModelData:
    """Monthly cells of each outcome (column ``outcome``) and the cohort's composition (weights); for the
    ``"correlated"`` likelihood the cells' rates over months and outcomes with the whitening of their
    sampling covariance (:func:`cell_means`) instead of the composition factor. ``likelihood``: one of
    :data:`LIKELIHOODS` (default the spec's)."""
    likelihood = likelihood or spec.likelihood
    groups = list(spec.groups)
    levels, notes = factor_levels(df, groups)
    parts, n_missing = [], 0
    for outcome in spec.outcomes:
        table = monthly_cells(df, outcome, by=("arm", *groups), months=spec.month_list)
        parts.append(table.table.assign(outcome=outcome))
        n_missing += table.n_missing
    cells = pd.concat(parts, ignore_index=True)
    cells = cells[["outcome", "arm", *groups, "month", "successes", "trials"]]
    weights = person_counts(df, groups, levels)
    forms = choose_forms(spec, cells, levels)
    if likelihood == "correlated":
        constants = dict(cell_means(df, spec.outcomes, spec.month_list, groups, levels).data_vars)
        notes = (*notes, CORRELATED_NOTE)
    else:
        # the factor until the posterior is known (then posterior_composition's), and the covariance it is
        # made from
        covariance = composition_covariance(df, spec.outcomes, spec.month_list)
        covariance = covariance.sel(werkverkenner=levels["werkverkenner"])
        constants = {
            "composition_factor": prior_composition(covariance),
            "composition_covariance": covariance,
        }
    levels = {"outcome": list(spec.outcomes), **levels, "month": [str(m) for m in spec.month_list]}
    return ModelData(
        constants=constants,
        likelihood=likelihood,
        cells=cells,
        observation=BinaryCounts(),
        notes=notes,
        levels=levels,
        weights=weights.rename("n_persons"),
        outcome=", ".join(spec.outcomes),
        n_persons=len(df),
        n_missing=n_missing,
        parametrization=forms,
    )


def choose_forms(spec: TrajectorySpec, cells: pd.DataFrame, levels: dict[str, list[str]]) -> dict:
    """The form of each partially pooled effect's class means (:data:`FORM_FACTOR`): the spec's, or chosen
    from the data by :func:`ww_bayes.kinds.pooling.choose_parametrizations` on each class's effect over the
    months, per outcome: the arms' rates pooled over the months, with the persons (person-months over
    months) as their trials, so that a person's months are not counted as independent persons. Centred only
    where every outcome's data call for it (the largest shrinkage of the outcomes decides)."""
    partial = {c: [FORM_FACTOR] for c in EFFECT_COMPONENTS if spec.pooling[c][FORM_FACTOR] == "partial"}
    asked = {c: {FORM_FACTOR: spec.asked(c)} for c in EFFECT_COMPONENTS}
    prior_sd = {c: spec.priors[c].rule_class_sd for c in EFFECT_COMPONENTS}
    by_outcome = []
    for _, part in cells.groupby("outcome", sort=False, observed=True):
        pooled = part.groupby(["arm", FORM_FACTOR], observed=True)[["successes", "trials"]].sum()
        pooled = pooled.reset_index()
        months = part["month"].nunique()
        pooled["successes"], pooled["trials"] = pooled["successes"] / months, pooled["trials"] / months
        by_outcome.append(choose_parametrizations(pooled, BinaryCounts(), {FORM_FACTOR: levels[FORM_FACTOR]},
                                                  partial, asked, ANCHOR, prior_sd,
                                                  spec.centred_below, spec.weak_data_form))  # fmt: skip
    chosen = {}
    for component in partial:
        choices = [forms[component][FORM_FACTOR] for forms in by_outcome]
        weakest = max(choices, key=lambda p: -1.0 if np.isnan(p.shrinkage) else p.shrinkage)
        chosen[component] = {FORM_FACTOR: weakest}
    return chosen


def composition_covariance(df: pd.DataFrame, outcomes, months) -> xr.DataArray:
    """The sampling covariance, across months, of each arm's cell rates (its persons' mean), per class.

    The same persons are counted in every month, so a chance imbalance between arms (a few more people
    with good job chances in one arm) persists from month to month and looks like an effect; a likelihood
    that treats months as independent pools it 30 times and claims far too much certainty. The covariance
    is that of the arm's mean of persons' residuals ``(y - p) / (p (1 - p))`` (the logit scale, linearised;
    ``p`` the class's rate in the month; pairwise over the months both observed), estimated per class with
    all arms. Its diagonal is each month's binomial variance, what the Binomial cells count; the rest is
    what they leave out. Returns (outcome, arm, werkverkenner, month, month_to), logit scale.
    """
    classes = df["werkverkenner"].astype(str).to_numpy()
    arms = df["arm"].astype(str).to_numpy()
    levels = sorted(set(classes))
    n_months = len(months)
    covariances = np.zeros((len(outcomes), len(ARMS), len(levels), n_months, n_months))
    for i, outcome in enumerate(outcomes):
        y = df[[month_column(outcome, m) for m in months]].to_numpy(dtype="float64", na_value=np.nan)
        observed = ~np.isnan(y)
        for k, level in enumerate(levels):
            in_class = classes == level
            y_c, seen = y[in_class], observed[in_class].astype("float64")
            p = np.clip(np.nanmean(y_c, axis=0), 1e-3, 1 - 1e-3)
            residual = np.where(seen > 0, (np.nan_to_num(y_c) - p) / (p * (1 - p)), 0.0)
            both = seen.T @ seen
            person_cov = (residual.T @ residual) / np.maximum(both, 1)
            for j, arm in enumerate(ARMS):
                seen_arm = observed[in_class & (arms == arm)].astype("float64")
                n_both = seen_arm.T @ seen_arm
                n_month = np.maximum(np.diag(n_both), 1)
                covariances[i, j, k] = person_cov * n_both / np.outer(n_month, n_month)
    return xr.DataArray(
        covariances,
        dims=COVARIANCE_DIMS,
        coords={"outcome": list(outcomes), "arm": list(ARMS), "werkverkenner": levels},
        name="composition_covariance",
    )


def leading_roots(covariance: np.ndarray, components: int | None = None) -> np.ndarray:
    """A square root ``F`` of a symmetric matrix (``F @ F.T`` equals it, negative eigenvalues set to
    zero), or with ``components`` its best approximation of that rank: the leading eigen-components.
    Returns (rows, components), the leading component last."""
    eigenvalues, vectors = np.linalg.eigh((covariance + covariance.T) / 2)  # ascending: the leading last
    root = vectors * np.sqrt(np.clip(eigenvalues, 0, None))
    kept = len(eigenvalues) if components is None else min(components, len(eigenvalues))
    return root[:, len(eigenvalues) - kept :]


def composition_factor(df: pd.DataFrame, outcomes, months, components: int | None = None) -> xr.DataArray:
    """Square-root factors of :func:`composition_covariance`: ``F`` with ``F @ F.T`` the covariance (or,
    with ``components``, its best approximation of that rank: the leading eigen-components; pairwise
    covariances need not be positive semi-definite in small samples, so negative eigenvalues count as
    zero): (outcome, arm, werkverkenner, month, factor_column), logit scale."""
    return _factors(composition_covariance(df, outcomes, months), components)


def _factors(covariance: xr.DataArray, components: int | None) -> xr.DataArray:
    return xr.apply_ufunc(
        leading_roots, covariance, kwargs={"components": components},
        input_core_dims=[["month", "month_to"]], output_core_dims=[["month", "factor_column"]],
        vectorize=True, exclude_dims={"month"},
    ).rename("composition_factor")  # fmt: skip


def prior_composition(covariance: xr.DataArray) -> xr.DataArray:
    """The composition factor before the posterior is known (:data:`COMPOSITION_DIMS`): each control arm and
    class its covariance's :data:`COMPOSITION_COMPONENTS` leading components, on columns of its own; the
    service arm none. A fit replaces it after sampling (:func:`posterior_composition`); a fit file that
    stores no factor of this layout was made with it."""
    per = _factors(covariance.sel(arm=list(CONTROL_ARMS)), COMPOSITION_COMPONENTS)
    n_outcomes, _, n_classes, n_months = covariance.shape[:4]
    kept = per.sizes["factor_column"]  # fewer where the spec has fewer months
    values = np.zeros((n_outcomes, len(ARMS), n_classes, n_months, len(CONTROL_ARMS) * n_classes * kept))
    for j, arm in enumerate(CONTROL_ARMS):
        for k in range(n_classes):
            first = (j * n_classes + k) * kept
            values[:, ARMS.index(arm), k, :, first : first + kept] = per.values[:, j, k]
    coords = {name: covariance[name].values for name in ("outcome", "arm", "werkverkenner")}
    return xr.DataArray(values, dims=COMPOSITION_DIMS, coords=coords, name="composition_factor")


def smoothing_risk(curve: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """The covariance the composition term adds to a smoothed curve's posterior: ``S (Sigma - D) S'``.

    ``curve``: posterior draws (draw, value) of logit rates whose likelihood counts its observations as
    independent, each with variance ``D`` (the diagonal of ``covariance``, ``Sigma``: the observations'
    sampling covariance; a cell's months are correlated). In the normal approximation the posterior mean is
    linear in the observed rates with slope ``S = C D^-1`` (``C`` the draws' covariance), so its error,
    averaged over the prior, has covariance ``C - S D S' + S Sigma S'``: the posterior's own ``C`` (the
    prior's share included) plus what the correlation adds, ``S (Sigma - D) S'``. With independent
    observations (``Sigma = D``) nothing is added; with no smoothing (``C = D``) the covariances
    ``Sigma - D``. Values without persons (``D = 0``) take no weight."""
    c = np.atleast_2d(np.cov(curve, rowvar=False))
    d = np.diag(covariance)
    slope = np.divide(c, d[None, :], out=np.zeros_like(c), where=d[None, :] > 0)
    return slope @ (covariance - np.diag(d)) @ slope.T


def posterior_composition(data: ModelData, rates: Callable[[ModelData, list[str]], xr.Dataset]) -> ModelData:
    """``data`` with the composition factor made from the posterior: per outcome, the leading components
    (as many as the factor has columns) of :func:`smoothing_risk` of the curves' posterior draws over every
    arm, class and month together, with the block-diagonal covariance of :func:`composition_covariance`
    (persons in different arms and classes are independent; the curves are not: they share the level and
    the pooled effects). ``rates(data, names)``: the named deterministics of the model on ``data`` for every
    posterior draw; the curves are ``rate`` with the composition factor zero (with regions, each class's
    rate over its regions, weighted by persons)."""
    factor = data.constants["composition_factor"]
    curve_only = dataclasses.replace(
        data, constants={**data.constants, "composition_factor": xr.zeros_like(factor)}
    )
    curve = rates(curve_only, ["rate"])["rate"]
    if "region" in curve.dims:
        persons = data.weights.astype("float64")
        curve = xr.dot(curve.fillna(0.0), persons, dim="region") / persons.sum("region")
    curve = curve.clip(1e-9, 1 - 1e-9)
    eta = (np.log(curve) - np.log1p(-curve)).stack(sample=SAMPLE_DIMS)
    covariance = data.constants["composition_covariance"]
    made = factor.copy(data=np.zeros(factor.shape))
    for outcome in factor["outcome"].values:
        draws = eta.sel(outcome=outcome).transpose("sample", *COMPOSITION_DIMS[1:4])
        blocks = covariance.sel(outcome=outcome).transpose(*COVARIANCE_DIMS[1:])
        made.loc[{"outcome": outcome}] = joint_roots(
            draws.values, blocks.values, factor.sizes["composition_column"]
        )
    return dataclasses.replace(data, constants={**data.constants, "composition_factor": made})


def joint_roots(draws: np.ndarray, blocks: np.ndarray, components: int) -> np.ndarray:
    """One outcome's composition factor: the leading ``components`` of :func:`smoothing_risk` of the
    curves' logit draws (sample, arm, class, month) with the block-diagonal covariance of ``blocks`` (arm,
    class, month, month_to: persons in different arms and classes are independent). Returns (arm, class,
    month, components)."""
    sigma = block_diag(*blocks.reshape(-1, *blocks.shape[-2:]))
    risk = smoothing_risk(draws.reshape(len(draws), -1), sigma)
    return leading_roots(risk, components).reshape(*draws.shape[1:], -1)


def cell_means(
    df: pd.DataFrame, outcomes, months, groups: list[str], levels: dict[str, list[str]]
) -> xr.Dataset:
    """Each cell's (arm x ``groups``) observed rates over outcomes and months, and the whitening of their
    sampling covariance: the ``"correlated"`` likelihood's data.

    A person is counted in every month and outcome, so a cell's monthly rates share their persons' errors:
    the rates of one cell are one observation of dimension outcomes x months, approximately multivariate
    normal with covariance ``Sigma[d, e] = C[d, e] * n[d, e] / (n[d] * n[e])``, where ``C`` is the
    persons' covariance of the series ``d`` and ``e`` around their cell's rates (pooled over the cells of
    a Werkverkenner class, pairwise over the persons observed in both, on ``n - cells`` degrees of
    freedom), ``n[d, e]`` the cell's persons observed in both and ``n[d]`` in ``d``. A series no person of
    the cell is observed in is left out of that cell. Cells are in grid order (arms in :data:`ARMS` order,
    then the groups' levels), series outcome-major. Returns

    - ``cell_mean`` (cell, series; 0 where left out);
    - ``cell_whiten`` ``W``, with ``W Sigma W^T = I`` on the cell's series (0 elsewhere);
    - ``cell_log_norm``, the Gaussian log-density's constant ``-log det(Sigma) / 2 - k / 2 log(2 pi)``
      per cell (``k`` series kept);
    - ``level_centre`` and ``level_scale`` (:func:`_level_coordinates`).
    """
    series = [month_column(o, m) for o in outcomes for m in months]
    y = df[series].to_numpy(dtype="float64", na_value=np.nan)
    seen = ~np.isnan(y)
    y = np.nan_to_num(y)
    axes = {"arm": list(ARMS), **{g: levels[g] for g in groups}}
    codes = [category_codes(df[column], list(map(str, values))) for column, values in axes.items()]
    shape = [len(values) for values in axes.values()]
    cell = np.ravel_multi_index(codes, shape)
    n_cells, n_series = int(np.prod(shape)), len(series)
    means, both = np.zeros((n_cells, n_series)), np.zeros((n_cells, n_series, n_series))
    residual = np.zeros_like(y)
    for c in range(n_cells):
        rows = np.flatnonzero(cell == c)
        s = seen[rows].astype("float64")
        n = s.sum(axis=0)
        means[c] = np.where(n > 0, (y[rows] * s).sum(axis=0) / np.maximum(n, 1), 0.0)
        residual[rows] = (y[rows] - means[c]) * s
        both[c] = s.T @ s
    class_axis = list(axes).index(FORM_FACTOR)
    class_of_cell = np.unravel_index(np.arange(n_cells), shape)[class_axis]
    class_of_person = class_of_cell[cell]
    whiten, log_norm = np.zeros((n_cells, n_series, n_series)), np.zeros(n_cells)
    for k in range(shape[class_axis]):
        persons = class_of_person == k
        cells_k = np.flatnonzero(class_of_cell == k)
        s = seen[persons].astype("float64")
        dof = np.maximum(s.T @ s - sum((both[c] > 0).astype("float64") for c in cells_k), 1.0)
        person_cov = residual[persons].T @ residual[persons] / dof
        for c in cells_k:
            kept = np.flatnonzero(np.diag(both[c]) > 0)
            if len(kept):
                n = np.diag(both[c])[kept]
                sigma = person_cov[np.ix_(kept, kept)] * both[c][np.ix_(kept, kept)] / np.outer(n, n)
                values, vectors = _floored_eigh(sigma)
                whiten[c][np.ix_(kept, kept)] = (vectors / np.sqrt(values)).T  # Lambda^-1/2 V^T
                log_norm[c] = -0.5 * np.log(values).sum() - 0.5 * len(kept) * np.log(2 * np.pi)
    anchor = np.asarray(codes[0]) == ARMS.index(ANCHOR)
    service = [(class_of_person == k) & anchor for k in range(shape[class_axis])]
    centre, scale = _level_coordinates(y, seen, residual, service)
    return xr.Dataset(
        {
            "cell_mean": (MEANS_DIMS[:2], means),
            "cell_whiten": (MEANS_DIMS, whiten),
            "cell_log_norm": (MEANS_DIMS[:1], log_norm),
            "level_centre": ((FORM_FACTOR, MEANS_DIMS[1]), centre),
            "level_scale": ((FORM_FACTOR, *MEANS_DIMS[1:]), scale),
        }
    )


def simulated_cell_means(data: ModelData, rate: xr.DataArray, seed: int) -> np.ndarray:
    """Cell means drawn from the ``"correlated"`` likelihood for each draw of ``rate`` (draw, outcome, arm,
    *groups, month): the rates laid out per cell (:func:`cell_means`' order) plus multivariate normal
    noise with each cell's covariance (``W^+ e``, ``W`` its whitening, ``e`` standard normal), 0 on the
    series a cell leaves out: (draw, cell, series)."""
    whiten = data.constants["cell_whiten"].values
    groups = [d for d in rate.dims if d not in ("draw", "outcome", "arm", "month")]
    cells = rate.transpose("draw", "arm", *groups, "outcome", "month").to_numpy()
    cells = cells.reshape(len(rate["draw"]), *whiten.shape[:2])
    root = np.linalg.pinv(whiten)  # Sigma^(1/2) on the cell's series, 0 elsewhere
    noise = np.random.default_rng(seed).standard_normal(cells.shape)
    kept = np.abs(whiten).sum(axis=1) > 0  # (cell, series)
    return np.where(kept, cells + np.einsum("cij,ncj->nci", root, noise), 0.0)


def _floored_eigh(sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and vectors of a covariance, the eigenvalues floored at 1e-9 of the largest: a
    pairwise-complete covariance need not be positive definite, and a series without variation (all 0 or
    all 1) has none."""
    values, vectors = np.linalg.eigh(sigma)
    return np.clip(values, max(values.max(), 1e-12) * 1e-9, None), vectors


def _level_coordinates(y, seen, residual, classes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per class (``classes``: a mask of the class's service persons each), the service arm's observed
    logit rates (``centre``, class x series) and the Cholesky factor of their sampling covariance on the
    logit scale, linearised (``scale``, class x series x series; the identity on a series nobody is
    observed in): the coordinates :func:`_whitened_level` samples the level in."""
    n_series = y.shape[1]
    centre, scale = np.zeros((len(classes), n_series)), np.zeros((len(classes), n_series, n_series))
    for k, persons in enumerate(classes):
        s = seen[persons].astype("float64")
        n_both = s.T @ s
        kept = np.flatnonzero(np.diag(n_both) > 0)
        n, pairs = np.diag(n_both)[kept], n_both[np.ix_(kept, kept)]
        rate = np.clip((y[persons] * s).sum(axis=0)[kept] / n, 0.5 / n, 1 - 0.5 / n)
        slope = rate * (1 - rate)
        person_cov = (residual[persons].T @ residual[persons])[np.ix_(kept, kept)] / np.maximum(pairs, 1)
        values, vectors = _floored_eigh(person_cov * pairs / np.outer(n * slope, n * slope))
        scale[k] = np.eye(n_series)
        scale[k][np.ix_(kept, kept)] = np.linalg.cholesky((vectors * values) @ vectors.T)
        centre[k][kept] = np.log(rate / (1 - rate))
    return centre, scale


def _walk_matrix(n_months: int) -> np.ndarray:
    """(month, step) matrix that sums the steps up to each month (month 1 has none, month m has m - 1) and
    subtracts the mean of those sums over the months: a random walk centred on its own mean.

    A product with this constant matrix is a cumulative sum that compiles far faster than ``cumsum`` and
    ``concatenate`` in the numba backend.
    """
    walk = np.tril(np.ones((n_months, n_months)), -1)[:, :-1]
    return walk - walk.mean(axis=0, keepdims=True)


def _effect_curves(spec: TrajectorySpec, component: str, walk: np.ndarray, forms) -> pt.TensorVariable:
    """The component's curves (outcome, werkverkenner, month) on the logit scale."""
    prior = spec.priors[component]
    mean = pm.Normal(f"{component}_mean", prior.mean_mu, prior.mean_sigma, dims="outcome")
    step_sd = pm.HalfNormal(f"{component}_step_sd", prior.step_sd, dims="outcome")
    steps = pm.StudentT(f"{component}_steps_z", nu=STEP_NU, mu=0.0, sigma=1.0, dims=("outcome", "month_step"))
    common = mean[:, None] + pt.dot(step_sd[:, None] * steps, walk.T)  # (outcome, month)
    pm.Deterministic(f"{component}_common_curve", common, dims=("outcome", "month"))
    pooling = spec.pooling[component]["werkverkenner"]
    if pooling == "full":
        return common[:, None, :]
    if pooling == "partial":
        class_sd = prior.class_sd.variable(f"{component}_sd_werkverkenner", dims="outcome")
        class_step_sd = pm.HalfNormal(
            f"{component}_step_sd_werkverkenner", prior.group_step_sd, dims="outcome"
        )
    else:
        class_sd = pt.as_tensor(np.full(len(spec.outcomes), prior.unpooled_sd))
        class_step_sd = pt.as_tensor(np.full(len(spec.outcomes), prior.unpooled_step_sd))
    # zero-sum over classes in the means and in every step, so the classes' mean is the common curve; the
    # means centred or not as the data (or the spec) say, the steps non-centred
    form = forms[component][FORM_FACTOR].form if pooling == "partial" else NON_CENTRED
    mean_dev = zero_sum_deviations(
        f"{component}_mean_werkverkenner",
        class_sd[:, None],
        ("outcome", "werkverkenner"),
        form,
        f"{component}_mean_z_werkverkenner",
    )
    steps_z = pm.ZeroSumNormal(
        f"{component}_steps_z_werkverkenner", dims=("outcome", "month_step", "werkverkenner")
    )
    walked = pt.dot(steps_z.dimshuffle(0, 2, 1), walk.T)  # (outcome, class, month)
    deviation = mean_dev[:, :, None] + class_step_sd[:, None, None] * walked
    curves = common[:, None, :] + deviation
    pm.Deterministic(f"{component}_curve", curves, dims=("outcome", "werkverkenner", "month"))
    return curves


def _region_deviation(spec: TrajectorySpec, component: str) -> pt.TensorVariable | None:
    """Time-constant region deviations (outcome, region), or None when region is not modelled."""
    if "region" not in spec.groups:
        return None
    if component == "baseline":
        pooling, sd_scale, fixed = "partial", spec.baseline.region_sd, spec.baseline.region_sd
    else:
        prior = spec.priors[component]
        pooling, sd_scale, fixed = spec.pooling[component]["region"], prior.region_sd, prior.unpooled_sd
    if pooling == "full":
        return None
    z = pm.ZeroSumNormal(f"{component}_z_region", dims=("outcome", "region"))
    sd = pm.HalfNormal(f"{component}_sd_region", sd_scale, dims="outcome") if pooling == "partial" else fixed
    sd = sd[:, None] if pooling == "partial" else sd
    return pm.Deterministic(f"{component}_dev_region", sd * z, dims=("outcome", "region"))


def build_trajectory_model(spec: TrajectorySpec, data: ModelData, for_sampling: bool = False) -> pm.Model:
    """The PyMC model of the monthly cells; ``for_sampling`` as in
    :func:`ww_bayes.kinds.cells.build_model`."""
    groups = list(spec.groups)
    correlated = data.likelihood == "correlated"
    coords = {
        "arm": list(ARMS),
        **data.levels,
        "month_step": [str(m) for m in spec.month_list[1:]],
        "cell": np.arange(data.n_cells),
    }
    if correlated:
        coords["series"] = [f"{o}_{m}" for o in spec.outcomes for m in spec.month_list]
    else:
        coords["control_arm"] = list(CONTROL_ARMS)
        columns = data.constants["composition_factor"].sizes["composition_column"]
        coords["composition_column"] = np.arange(columns)
        # the standard normals per control arm and class (COMPOSITION_COMPONENTS, fewer with fewer months)
        coords["factor_column"] = np.arange(
            columns // (len(CONTROL_ARMS) * len(data.levels["werkverkenner"]))
        )
    cells = data.cells
    with pm.Model(coords=coords, check_bounds=False) as model:
        level_dims = ("outcome", "werkverkenner", "month")
        if correlated:
            level = _whitened_level(spec, data, level_dims)
        else:
            level = pm.Normal("service_level", spec.baseline.mu, spec.baseline.sigma, dims=level_dims)
        walk = _walk_matrix(len(spec.month_list))
        curves = {c: _effect_curves(spec, c, walk, data.parametrization) for c in EFFECT_COMPONENTS}
        regions = {c: _region_deviation(spec, c) for c in ("baseline", *EFFECT_COMPONENTS)}
        grid_dims = ("outcome", *groups, "month")

        def on_grid(curve, region):  # (outcome, class, month) [+ (outcome, region)] -> grid_dims
            if "region" not in groups:
                return curve
            value = curve[:, :, None, :]
            return value if region is None else value + region[:, None, :, None]

        composition = None
        if not correlated:
            # chance differences in the arms' composition that persist over months (composition_factor,
            # made from the posterior after sampling: posterior_composition): a fixed factor times standard
            # normals, per outcome; not in the likelihood
            factor = pm.Data("composition_factor", data.constants["composition_factor"].values,
                             dims=COMPOSITION_DIMS)  # fmt: skip
            z_dims = ("outcome", "control_arm", "werkverkenner", "factor_column")
            composition_z = pm.Normal("composition_z", 0.0, 1.0, dims=z_dims)
            n_outcomes, n_columns = len(spec.outcomes), data.constants["composition_factor"].shape[-1]
            rows = factor.reshape((n_outcomes, -1, n_columns))
            loadings = pt.matmul(rows, composition_z.reshape((n_outcomes, n_columns, 1)))
            composition = pm.Deterministic(
                "composition", loadings.reshape(factor.shape[:4]), dims=COMPOSITION_DIMS[:4]
            )
        population_rows, sample_rows = [], []
        for arm in ARMS:
            # anchored on the service arm (80% of persons), so the free level per class and month is
            # nearly uncorrelated with the effect curves: a far easier posterior than a control-arm anchor
            eta = on_grid(level, regions["baseline"])
            for component, arms in ARMS_WITH.items():
                if arm not in arms:
                    eta = eta - on_grid(curves[component], regions[component])
            shape = [len(data.levels[d]) for d in grid_dims]
            sample_rows.append(pt.broadcast_to(eta, shape))
            if composition is not None:
                eta = eta - on_grid(composition[:, ARMS.index(arm)], None)
            population_rows.append(pt.broadcast_to(eta, shape))
        # the counts follow the rates of the arms as drawn; under the Binomial likelihood the effects are
        # contrasts of the population rates, the arms' rates less a draw of the error the independent months
        # leave out (its uncertainty); under the correlated one the arms' rates are the population's
        population = pt.stack(population_rows, axis=1)  # (outcome, arm, *groups, month)
        pm.Deterministic("rate", pm.math.sigmoid(population), dims=("outcome", "arm", *groups, "month"))
        eta_grid = pt.stack(sample_rows, axis=1)
        if correlated and for_sampling:
            _correlated_likelihood(data, eta_grid)
            return model
        grid_levels = {
            "outcome": data.levels["outcome"],
            "arm": list(ARMS),
            **{f: data.levels[f] for f in groups},
        }
        index = cell_index(cells, {**grid_levels, "month": data.levels["month"]})
        data.observation.likelihood(cells, {"eta": eta_grid[index]}, for_sampling)
    return model


def _times(matrices, vectors):
    """``matrices @ vectors`` per leading index, (k, n, m) x (k, m) -> (k, n), as a product and a sum: a
    batched ``matmul`` is a ``Blockwise`` whose compiled form cannot be pickled (the sampler's cache)."""
    return (matrices * vectors[:, None, :]).sum(axis=-1)


def _level_z_draw(centre, scale, inverse, mu, sigma, size):
    """Prior draws of the whitened level: ``L^-1 (level - centre)`` of level ~ Normal(mu, sigma)."""
    level = pm.Normal.dist(mu, sigma, size=centre.shape)
    return _times(inverse, level - centre)


def _level_z_logp(value, centre, scale, inverse, mu, sigma):
    """The level's Normal(mu, sigma) log-density at ``centre + L value``, with the change of variables'
    constant Jacobian ``log det L`` spread over the values (``L`` is lower triangular)."""
    level = centre + _times(scale, value)
    jacobian = pt.log(pt.diagonal(scale, axis1=1, axis2=2))
    return pm.logp(pm.Normal.dist(mu, sigma), level) + jacobian


def _whitened_level(spec: TrajectorySpec, data: ModelData, dims: tuple[str, ...]) -> pt.TensorVariable:
    """The service arm's level (``dims``: outcome, werkverkenner, month) under the ``"correlated"``
    likelihood: ``level = centre + L z`` per class, ``centre`` the class's observed logit rates and ``L``
    the Cholesky factor of their sampling covariance (:func:`cell_means`), with ``z`` the free variable.
    The level's prior is the binomial model's, Normal(mu, sigma) on every value, written on ``z`` (an
    exact change of variables, Jacobian ``log det L``): the same model in other coordinates. The likelihood
    makes a class's months and outcomes as correlated in the posterior as its persons make them (a
    person's months share their errors); in ``z`` they are close to independent with unit scale."""
    n_outcomes, n_classes, n_months = (len(data.levels[d]) for d in dims)
    scale_values = data.constants["level_scale"].values
    centre = pm.Data("level_centre", data.constants["level_centre"].values, dims=(dims[1], "series"))
    scale = pm.Data("level_scale", scale_values, dims=(dims[1], *MEANS_DIMS[1:]))
    inverse = pm.Data("level_scale_inverse", np.linalg.inv(scale_values), dims=(dims[1], *MEANS_DIMS[1:]))
    # the sampler starts at z = 0 (the level at the observed rates), not at the prior's centre, which lies
    # hundreds of posterior sds away in these coordinates
    z = pm.CustomDist("service_level_z", centre, scale, inverse, spec.baseline.mu, spec.baseline.sigma,
                      dist=_level_z_draw, logp=_level_z_logp, dims=(dims[1], "series"),
                      initval=np.zeros(scale_values.shape[:2]))  # fmt: skip
    series = centre + _times(scale, z)  # (class, outcome x month)
    level = series.reshape((n_classes, n_outcomes, n_months)).transpose(1, 0, 2)
    return pm.Deterministic("service_level", level, dims=dims)


def _correlated_likelihood(data: ModelData, eta_grid: pt.TensorVariable) -> pt.TensorVariable:
    """The ``"correlated"`` likelihood (:func:`cell_means`) of the logits ``eta_grid`` (outcome, arm,
    *groups, month), as a potential: per cell (arm x groups) the Gaussian log-density of its observed rates
    over outcomes and months around the modelled ones, ``log_norm - |W (mean - sigmoid(eta))|^2 / 2``."""
    dims = MEANS_DIMS
    mean = pm.Data("cell_mean", data.constants["cell_mean"].values, dims=dims[:2])
    whiten = pm.Data("cell_whiten", data.constants["cell_whiten"].values, dims=dims)
    log_norm = pm.Data("cell_log_norm", data.constants["cell_log_norm"].values, dims=dims[:1])
    n_axes = eta_grid.ndim
    # (outcome, arm, *groups, month) -> (arm, *groups, outcome, month) -> (cell, series)
    order = (1, *range(2, n_axes - 1), 0, n_axes - 1)
    rates = pm.math.sigmoid(eta_grid.transpose(order)).reshape((mean.shape[0], mean.shape[1]))
    residual = _times(whiten, mean - rates)
    return pm.Potential("correlated_rates", log_norm.sum() - 0.5 * pt.sum(residual**2))


def trajectory_patterns(spec: TrajectorySpec, data: ModelData, cohort: pd.DataFrame) -> PersonPatterns:
    """The cohort's persons by the cells they are counted in, month by month and outcome by outcome, and
    their value in each (:class:`ww_bayes.kinds.protocol.PersonPatterns`): the cells alone cannot say which
    months belong to one person, the person rows can. A person is counted in the cell of their arm, groups,
    outcome and month wherever that month's outcome is observed."""
    observation = data.observation
    values = {value: code for code, value in enumerate(observation.person_values)}
    keys = ["outcome", "arm", *spec.groups, "month"]
    cells = pd.MultiIndex.from_frame(data.cells[keys].astype(str))
    labels = {column: cohort[column].astype(str).to_numpy() for column in ("arm", *spec.groups)}
    slots = []
    for outcome in spec.outcomes:
        for month in spec.month_list:
            wanted = pd.MultiIndex.from_arrays(
                [np.full(len(cohort), outcome), *labels.values(), np.full(len(cohort), str(month))],
                names=keys,
            )
            cell = cells.get_indexer(wanted)
            y = cohort[month_column(outcome, month)].to_numpy(dtype="float64", na_value=np.nan)
            code = np.where(y == 1, values["1"], values["0"])
            slots.append(np.where((cell >= 0) & ~np.isnan(y), cell * len(values) + code, -1))
    persons = np.stack(slots, axis=1)
    patterns, counts = np.unique(persons, axis=0, return_counts=True)
    rows, columns = np.nonzero(patterns >= 0)
    terms = sparse.csr_array(
        (np.ones(len(rows)), (rows, patterns[rows, columns])), shape=(len(patterns), len(cells) * len(values))
    )
    return PersonPatterns(terms, counts)


def trajectory_effects(
    rate: xr.DataArray,
    weights: xr.DataArray,
    smallest_effect_pp: float,
    persons: xr.DataArray | None = None,
    good_direction: str | dict[str, str] = "none",
) -> xr.DataTree:
    """The ``trajectory`` group from posterior rates (chain, draw, outcome, arm, *groups, month), one level
    per factor besides ``overall`` (:mod:`ww_bayes.derived`):

    - ``effect_pp``: pp effect per month, per contrast (not for regions: 35 x 30 series per draw);
    - the probabilities of :func:`ww_bayes.derived.effect_probabilities` per month, with
      ``good_direction`` (one for all outcomes, or a table per outcome: work more, WW less);
    - ``extra_employed_months`` and ``ww_months_avoided``: cumulative effects per participant over months
      1..``horizon``, in months (sum of the monthly effects / 100);
    - with ``persons`` (per arm and group cell), the sparseness flags of
      :func:`ww_bayes.kinds.pooling.sparseness_flags` (``effect_pp_identified`` per month).
    """
    rate = rate.assign_coords(month=rate["month"].astype(int))
    rates = level_rates(rate, weights)
    sign = direction_sign(good_direction, rate["outcome"].values)
    levels = {}
    for level in (OVERALL, *weights.dims):
        pp = contrast_pp(rates[level]).transpose(*SAMPLE_DIMS, "outcome", "contrast", ...)
        ds = xr.Dataset()
        if level == "region":  # region curves are big (35 x 30 per draw): keep the cumulative only
            pp = pp.astype("float32")
        else:
            ds["effect_pp"] = pp
            ds.update(effect_probabilities(pp, smallest_effect_pp, sign))
        for outcome, (name, good) in CUMULATIVE.items():
            if outcome not in pp["outcome"].values:
                continue
            monthly = good * pp.sel(outcome=outcome, drop=True) / 100
            cumulative = monthly.cumsum("month").rename(month="horizon")
            cumulative.attrs["units"] = "months per participant"
            ds[name] = cumulative.transpose(*SAMPLE_DIMS, "contrast", ...)
        levels[level] = ds
    if persons is not None:
        for level, flags in sparseness_flags(rate, weights, persons).items():
            levels[level] = levels[level].merge(flags) if level in levels else flags
    attrs = {
        "effect_units": "percentage points (pp) per month, probability scale",
        "cumulative_units": "months per participant, summed over months 1..horizon",
        "weights": "cohort composition: persons per group cell, all arms",
        "smallest_effect_pp": smallest_effect_pp,
        "good_direction": json.dumps(good_direction),
    }
    return derived_tree(levels, attrs)


def trajectory_summary(
    trajectory: xr.DataTree, interval_kind: str = "eti", interval_prob: float = 0.9
) -> pd.DataFrame:
    """One row per estimand, outcome, contrast, level, group and month (or horizon): arviz_stats' mean, sd,
    labelled interval (e.g. ``eti90_lb``), MCSE of the mean, and P(> 0) (the worst R-hat and ESS of each
    variable are in the fit's diagnostics group: per series they cost 25 s for 2,000 series). Estimands:
    ``effect_pp`` (pp in that month), ``extra_employed_months`` and ``ww_months_avoided`` (per participant,
    months 1..horizon).
    """
    table = summary_table(trajectory, VARIABLES, interval_kind, interval_prob, diagnostics=False)
    cumulative = table["month"].isna() if "month" in table else pd.Series(True, index=table.index)
    if "horizon" in table:
        table["month"] = table["month"].where(~cumulative, table["horizon"])
        table = table.drop(columns="horizon")
    outcome_of = {name: outcome for outcome, (name, _) in CUMULATIVE.items()}
    table["outcome"] = table["outcome"].where(~cumulative, table["estimand"].map(outcome_of))
    table["month"] = table["month"].astype(int)
    ordered = ["estimand", "outcome", "contrast", "level", "group", "month"]
    return table[ordered + [c for c in table.columns if c not in ordered]]


def pooling_only_lines(summary: pd.DataFrame) -> list[str]:
    """Which class curves a sparse design leaves to pooling (no persons in one arm of a contrast), and the
    share of the cohort in such cells; empty for a full design."""
    if "pooling_only" not in summary:
        return []
    rows = summary[(summary["estimand"] == "effect_pp") & summary["pooling_only"].astype(bool)]
    flagged = rows[rows["level"] != "overall"][["contrast", "level", "group"]].drop_duplicates()
    lines = [f"POOLING ONLY: {row.contrast} {row.level} {row.group} (no persons in one of its arms: "
             "the curve comes from the other levels through pooling)"
             for row in flagged.itertuples()]  # fmt: skip
    shares = summary[(summary["estimand"] == "effect_pp") & (summary["level"] == "overall")]
    shares = shares.groupby("contrast", sort=False)["pooling_only_share"].first()
    lines += [f"  note: {share:.1%} of the cohort behind the overall {contrast} curves is in pooling-only "
              "cells; effect_pp_identified in the summary is the curve over identified cells only"
              for contrast, share in shares.items() if share > 0]  # fmt: skip
    return lines


def truth_table(trajectory: xr.DataTree, truth: xr.DataTree) -> pd.DataFrame:
    """The simulator's monthly truth (generating pp) of ``effect_pp`` overall and by class, in the summary
    table's long shape (column ``truth``), for the months and outcomes of the fit."""
    frames = []
    levels = levels_of(trajectory)
    for level in [lv for lv in (OVERALL, "werkverkenner") if lv in truth["effects"].children]:
        draws = levels[level]["effect_pp"]
        true = truth[f"effects/{level}"].ds["generating_pp"]
        true = true.sel(month=draws["month"].values, outcome=draws["outcome"].values)
        frame = true.rename("truth").to_dataframe().reset_index()
        frame["group"] = frame["werkverkenner"].astype(str) if level != OVERALL else "all"
        frame = frame.drop(columns=[c for c in ("werkverkenner",) if c in frame])
        frames.append(frame.assign(level=level_label(level)))
    table = pd.concat(frames, ignore_index=True)
    table.insert(0, "estimand", "effect_pp")
    table["month"] = table["month"].astype(int)
    return table[["estimand", "outcome", "contrast", "level", "group", "month", "truth"]]


def covered_by_curve(coverage: pd.DataFrame) -> pd.DataFrame:
    """The share of months covered per curve: rows (level, outcome), one column per contrast."""
    return coverage.groupby(["level", "outcome", "contrast"])["covered"].mean().unstack("contrast")


#: Months the screen and the report show of each path.
MONTHS_SHOWN = (6, 12, 18, 24, 30)


def overall_paths_text(summary: pd.DataFrame, label: str) -> str:
    """The overall paths at :data:`MONTHS_SHOWN`, one line per estimand, outcome and contrast."""
    overall = summary[(summary["level"] == "overall") & summary["month"].isin(MONTHS_SHOWN)]
    lines = []
    for (estimand, outcome, contrast), rows in overall.groupby(
        ["estimand", "outcome", "contrast"], sort=False
    ):
        cells = "  ".join(
            f"m{r.month}: {r.mean:+.2f} [{getattr(r, label + '_lb'):+.2f}, {getattr(r, label + '_ub'):+.2f}]"
            for r in rows.itertuples()
        )
        name = estimand if estimand != "effect_pp" else f"effect_pp {outcome}"
        lines.append(f"  {name:<24} {contrast:<31} {cells}")
    return "\n".join(lines)


# --- the spec ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BaselinePrior:
    """Trajectory baseline: Normal(mu, sigma) per outcome, class and month (logit); half-normal scale of
    the sd of time-constant region deviations (used when region is among the groups).
    """

    mu: float
    sigma: float
    region_sd: float


@dataclass(frozen=True)
class CurvePrior:
    """Priors of one effect curve over months (logit scale).

    The common curve's mean over the months is Normal(``mean_mu``, ``mean_sigma``); it moves around that mean
    by monthly steps whose sd has a HalfNormal(``step_sd``) prior. Class deviation curves (partial pooling):
    the sd of their means over the months ~ HalfNormal(``group_sd``), or Gamma(2, 2 / ``group_sd``) with
    ``group_sd_prior = "gamma"`` (:class:`ww_bayes.kinds.pooling.SdPrior`), step sd ~
    HalfNormal(``group_step_sd``); no pooling uses the fixed ``unpooled_sd`` and ``unpooled_step_sd``.
    ``region_sd``: half-normal scale of the sd of the time-constant region deviations. ``rule_group_sd``:
    the parametrization rule (:func:`choose_forms`) reads that sd as HalfNormal(``rule_group_sd``) instead
    of its prior (None: it reads the prior); the model keeps the prior.
    """

    mean_mu: float
    mean_sigma: float
    step_sd: float
    group_sd: float
    group_step_sd: float
    unpooled_sd: float
    unpooled_step_sd: float
    region_sd: float
    #: the family of the class means' sd prior (:data:`ww_bayes.kinds.pooling.SD_PRIORS`)
    group_sd_prior: str = HALF_NORMAL
    #: the half-normal scale the parametrization rule reads for that sd (None: the prior itself)
    rule_group_sd: float | None = None

    @property
    def class_sd(self) -> SdPrior:
        """The prior of the sd of the class curves' means."""
        return SdPrior(self.group_sd, self.group_sd_prior)

    @property
    def rule_class_sd(self) -> SdPrior:
        """The sd's prior as the parametrization rule reads it: :attr:`class_sd`, or
        HalfNormal(``rule_group_sd``) where the spec names one."""
        return self.class_sd if self.rule_group_sd is None else SdPrior(self.rule_group_sd, HALF_NORMAL)


@dataclass(frozen=True, kw_only=True)
class TrajectorySpec(SpecCommon):
    """A month-by-month effect model (``kind = "trajectory"``). Build with :func:`ww_bayes.load_spec`."""

    outcomes: tuple[str, ...]
    months: tuple[int, int]
    pooling: dict[str, dict[str, str]]
    baseline: BaselinePrior
    priors: dict[str, CurvePrior]
    #: per effect, the form of its class curves' means (:data:`FORM_FACTOR`): "auto" (chosen from the data,
    #: :func:`choose_forms`) or "centred", "half-centred", "non-centred"
    parametrization: dict[str, dict[str, str]] = field(default_factory=dict)
    #: one of :data:`LIKELIHOODS`
    likelihood: str = LIKELIHOODS[0]

    kind = "trajectory"

    def with_parametrization(self, forms: str | dict[str, str]) -> TrajectorySpec:
        """A copy asking for other forms of the class means: one choice for both effects or one per effect;
        what is not given stays as asked."""
        if isinstance(forms, str):
            forms = dict.fromkeys(EFFECT_COMPONENTS, forms)
        merged = {c: forms.get(c, self.asked(c)) for c in EFFECT_COMPONENTS}
        asked = parse_parametrization({"parametrization": merged}, EFFECT_COMPONENTS, (FORM_FACTOR,),
                                      self.pooling)  # fmt: skip
        return dataclasses.replace(self, parametrization=asked)

    def asked(self, component: str) -> str:
        """The form the spec asks for a component's class means, or "auto"."""
        return self.parametrization.get(component, {}).get(FORM_FACTOR, AUTO)

    @property
    def outcome(self) -> str:
        """The outcomes as one label (provenance), e.g. ``employed_m1-30, ww_m1-30``."""
        first, last = self.months
        return ", ".join(f"{o}_m{first}-{last}" for o in self.outcomes)

    @property
    def month_list(self) -> tuple[int, ...]:
        return tuple(range(self.months[0], self.months[1] + 1))

    def describe_priors(self, parametrization: dict[str, dict[str, Parametrization]] | None = None) -> str:
        """The priors in words (logit scale); with ``parametrization``
        (:attr:`ww_bayes.kinds.protocol.ModelData.parametrization`), the form of the class means and why."""
        b = self.baseline
        lines = [
            f"Priors of {self.name} (logit scale), months {self.months[0]}-{self.months[1]}:",
            f"  baseline: Normal({b.mu:g}, {b.sigma:g}) per outcome, class and month",
        ]
        if "region" in self.groups:
            lines.append(f"    by region: time-constant, partial pooling, sd ~ HalfNormal({b.region_sd:g})")
        for component in EFFECT_COMPONENTS:
            p = self.priors[component]
            lines.append(
                f"  {component}: common curve, mean over months ~ Normal({p.mean_mu:g}, {p.mean_sigma:g}), "
                f"random-walk steps ~ StudentT({STEP_NU:g}) x sd, sd ~ HalfNormal({p.step_sd:g})"
            )
            for factor in self.groups:
                pooling = self.pooling[component][factor]
                if factor == FORM_FACTOR and pooling == "partial":
                    chosen = (parametrization or {}).get(component, {}).get(factor)
                    asked = self.asked(component)
                    form = chosen.text() if chosen else ("chosen from the data" if asked == AUTO else asked)
                    if p.rule_group_sd is not None and asked == AUTO:
                        form += f"; the rule reads their sd as {p.rule_class_sd.text()}"
                    text = (f"class curves partially pooled: sd of their means ~ {p.class_sd.text()}, "
                            f"step sd ~ HalfNormal({p.group_step_sd:g}), sum to zero; means {form}, "
                            f"steps non-centred")  # fmt: skip
                elif factor == "werkverkenner" and pooling == "none":
                    text = f"class curves unpooled: fixed sds {p.unpooled_sd:g} and {p.unpooled_step_sd:g}"
                elif pooling == "partial":
                    text = f"time-constant, partial pooling, sd ~ HalfNormal({p.region_sd:g})"
                elif pooling == "none":
                    text = f"time-constant, no pooling, fixed sd {p.unpooled_sd:g}"
                else:
                    text = "full pooling, one common curve"
                lines.append(f"    by {factor}: {text}")
        lines.append(f"  likelihood: {LIKELIHOOD_TEXT[self.likelihood]}")
        return "\n".join(lines)


_CURVE_KEYS = (
    "mean",
    "step_sd",
    "group_sd",
    "group_step_sd",
    "unpooled_sd",
    "unpooled_step_sd",
    "region_sd",
)
#: Keys a curve's prior table may leave out: ``group_sd_prior`` (default "half-normal") and
#: ``rule_group_sd`` (default: the rule reads the prior).
_CURVE_OPTIONAL_KEYS = ("group_sd_prior", "rule_group_sd")


def _curve_prior(component: str, table) -> CurvePrior:
    key = f"priors.{component}"
    if not isinstance(table, dict):
        raise SpecError(f"{key!r} must be a table")
    if "start" in table:
        raise SpecError(f"'{key}.start': the curves are anchored on their mean over the months; give "
                        f"'{key}.mean' = {{ mu = ..., sigma = ... }} (the prior of that mean)")  # fmt: skip
    reject_unknown(key, table, _CURVE_KEYS + _CURVE_OPTIONAL_KEYS)
    require(key, table, _CURVE_KEYS)
    mean_mu, mean_sigma = mean_table(f"{key}.mean", table["mean"])
    positive = {k: number(f"{key}.{k}", table[k], low=0, open_low=True) for k in _CURVE_KEYS[1:]}
    family = table.get("group_sd_prior", HALF_NORMAL)
    if family not in SD_PRIORS:
        raise SpecError(f"'{key}.group_sd_prior' must be one of {', '.join(map(repr, SD_PRIORS))} (the prior "
                        f"family of the class means' sd), got {family!r}")  # fmt: skip
    rule_sd = table.get("rule_group_sd")
    if rule_sd is not None:
        rule_sd = number(f"{key}.rule_group_sd", rule_sd, low=0, open_low=True)
    return CurvePrior(mean_mu=mean_mu, mean_sigma=mean_sigma, **positive, group_sd_prior=family,
                      rule_group_sd=rule_sd)  # fmt: skip


def _baseline_prior(table) -> BaselinePrior:
    if not isinstance(table, dict):
        raise SpecError("'priors.baseline' must be a table")
    reject_unknown("priors.baseline", table, ("mu", "sigma", "region_sd"))
    require("priors.baseline", table, ("mu", "sigma", "region_sd"))
    return BaselinePrior(
        mu=number("priors.baseline.mu", table["mu"]),
        sigma=number("priors.baseline.sigma", table["sigma"], low=0, open_low=True),
        region_sd=number("priors.baseline.region_sd", table["region_sd"], low=0, open_low=True),
    )


def parse(raw: dict, text: str, source: str, common: dict) -> TrajectorySpec:
    outcomes = raw["outcomes"]
    if not isinstance(outcomes, list) or not outcomes or not set(outcomes) <= set(OUTCOME_PREFIXES):
        raise SpecError(f"'outcomes' must be a list drawn from {list(OUTCOME_PREFIXES)}, got {outcomes!r}")
    months = raw["months"]
    if (
        not isinstance(months, list)
        or len(months) != 2
        or not all(isinstance(m, int) and m in MONTHS for m in months)
        or months[1] - months[0] < 2
    ):
        raise SpecError(
            f"'months' must be [first, last] in 1..{MONTHS[-1]}, at least 3 months apart; got {months!r}"
        )
    groups = common["groups"]
    if "werkverkenner" not in groups:
        raise SpecError(f"'groups' must include 'werkverkenner' (the class curves), got {list(groups)!r}")
    priors_raw = priors_table(raw, COMPONENTS)
    pooling = parse_pooling(raw, EFFECT_COMPONENTS, groups)
    return TrajectorySpec(
        outcomes=tuple(dict.fromkeys(outcomes)),
        months=(months[0], months[1]),
        pooling=pooling,
        baseline=_baseline_prior(priors_raw["baseline"]),
        priors={c: _curve_prior(c, priors_raw[c]) for c in EFFECT_COMPONENTS},
        parametrization=parse_parametrization(raw, EFFECT_COMPONENTS, (FORM_FACTOR,), pooling),
        likelihood=_likelihood(raw.get("likelihood", LIKELIHOODS[0])),
        **common,
    )


def _likelihood(value) -> str:
    if value not in LIKELIHOODS:
        raise SpecError(f"'likelihood' must be one of {', '.join(map(repr, LIKELIHOODS))}, got {value!r}")
    return value


class TrajectoryKind(ModelKind):
    """Months 1-30 on arm x class (x region) x month cells: the ``trajectory`` group."""

    name = "trajectory"
    likelihoods = LIKELIHOODS
    observation = BinaryCounts()
    derived_variables = VARIABLES
    derived_dims = ("contrast", "outcome", "month", "horizon")
    offers_effect_paths = True
    has_truth = True
    missing_unit = "person-months"
    missing_attr = "n_person_months_outcome_missing"
    #: the composition nuisance is left out of the gate: its standard-normal factors are checked instead
    not_checked = ("rate", "composition")
    cell_deterministics = ("rate", "composition")
    posterior_constants = ("composition_factor",)
    cumulative_estimands = {name: outcome for outcome, (name, _) in CUMULATIVE.items()}
    report_section = ("trajectories", "Trajectories over 30 months")
    key_columns = ("estimand", "outcome", "contrast", "level", "group", "month")
    frequentist = "trajectory_itt"
    months_shown = MONTHS_SHOWN
    spec_keys = COMMON_KEYS | {"outcomes", "months", "parametrization", "likelihood"}
    required_keys = ("name", "outcomes", "months", "groups", "smallest_effect_pp", "pooling", "priors")

    def parse(self, raw, text, source, common):
        return parse(raw, text, source, common)

    def required_columns(self, spec):
        months = [month_column(o, m) for o in spec.outcomes for m in spec.month_list]
        return [*spec.groups, *months]

    def default_likelihood(self, spec):
        return spec.likelihood

    def simulated_constants(self, spec, data, prior, seed):
        if data.likelihood != "correlated":
            return {}
        return {"cell_mean": simulated_cell_means(data, prior["rate"].isel(chain=0), seed)}

    def prepare(self, spec, cohort, likelihood=None):
        likelihood = likelihood or spec.likelihood
        if likelihood not in self.likelihoods:
            raise ValueError(f"likelihood must be one of {', '.join(self.likelihoods)}, got {likelihood!r}")
        return prepare_trajectory_data(spec, cohort, likelihood)

    def build(self, spec, data, for_sampling=False):
        return build_trajectory_model(spec, data, for_sampling)

    def describe_priors(self, spec, data=None):
        return spec.describe_priors(data.parametrization if data is not None else None)

    def after_sampling(self, spec, data, posterior, rates):
        if data.likelihood == "correlated":
            return data
        return posterior_composition(data, rates)

    def derive(self, spec, data, posterior):
        return trajectory_effects(
            posterior["rate"], data.weights, spec.smallest_effect_pp, data.arm_persons(), spec.good_direction
        )

    def summary(self, derived, interval_kind, interval_prob):
        return trajectory_summary(derived, interval_kind, interval_prob)

    def person_patterns(self, spec, data, cohort):
        return trajectory_patterns(spec, data, cohort)

    def truth(self, tree, truth):
        return truth_table(tree[self.name], truth)

    def screen_text(self, tree, summary, coverage):
        kind, prob = interval_of(tree.attrs)
        label = interval_label(kind, prob)
        lines = [
            f"{tree.attrs['model_name']}: overall effects, posterior mean [{interval_text(kind, prob)}]; "
            "pp in the month, cumulative in months per participant",
            overall_paths_text(summary, label),
            *pooling_only_lines(summary),
        ]
        if coverage is not None:
            pooled = float(coverage.loc[coverage["level"] == "overall", "covered"].mean())
            lines.append(
                f"\nshare of months with the simulator's truth inside the {label} band (all overall "
                f"curves together: {pooled:.0%}):\n{covered_by_curve(coverage).round(2).to_string()}"
            )
        return "\n".join(lines)

    def fit_plots(self, tree, summary, coverage):
        kind, prob = interval_of(tree.attrs)
        truth = None if coverage is None else coverage[coverage["level"] == "overall"]
        return [
            Plot(
                "trajectory",
                summary,
                f"effect paths of {outcome} with {interval_text(kind, prob)} bands",
                {
                    "interval_label": interval_label(kind, prob),
                    "truth": truth,
                    "outcome": outcome,
                    "origin": tree.attrs.get("synthetic_data"),
                },  # fmt: skip
            )
            for outcome in dict.fromkeys(summary["outcome"])
        ]

    def report_blocks(self, name, tree, summary, words) -> list[Block]:
        kind, prob = interval_of(tree.attrs)
        label = interval_label(kind, prob)
        overall = summary[(summary["level"] == "overall") & summary["month"].isin(MONTHS_SHOWN)]
        cells = [
            f"{words.number(m, 2)} [{words.number(lb, 2)}; {words.number(ub, 2)}]"
            for m, lb, ub in zip(overall["mean"], overall[f"{label}_lb"], overall[f"{label}_ub"], strict=True)
        ]
        what = [
            words(f"{outcome}") if estimand == "effect_pp" else words(estimand)
            for estimand, outcome in zip(overall["estimand"], overall["outcome"], strict=True)
        ]
        wide = overall.assign(cell=cells, quantity=what).pivot_table(
            index=["quantity", "contrast"], columns="month", values="cell", aggfunc="first", sort=False
        )
        wide.columns = [f"{words('month')} {m}" for m in wide.columns]
        return [
            Heading(f"`{tree.attrs.get('model_name', name)}`"),
            Paragraph(words.say(
                f"Effects on all claimants: posterior mean [{words.interval(kind, prob)}]; in work and "
                "receiving WW in percentage points in that month; extra months in work and WW months avoided "
                "per claimant over months 1 to that month.",
                f"Effecten op alle WW-gerechtigden: posteriorgemiddelde [{words.interval(kind, prob)}]; werk "
                "en WW in procentpunten in die maand; extra maanden werk en vermeden WW-maanden per "
                "WW-gerechtigde over maand 1 tot die maand.")),
            Table(wide.reset_index().rename(columns={"quantity": "estimand"})),
            *(Plot("trajectory", summary,
                   words.say(f"Effect paths of {words(outcome)} with {words.interval(kind, prob)} bands",
                             f"Verloop van de effecten op {words(outcome)} met {words.interval(kind, prob)}"),
                   {"interval_label": label, "outcome": outcome, "origin": tree.attrs.get("synthetic_data")})
              for outcome in dict.fromkeys(summary["outcome"])),
        ]  # fmt: skip

    def effect_paths(self, tree, contrast, months, hold_months):
        levels = levels_of(tree[self.name])
        last = int(levels[OVERALL]["month"].max())
        if max(months) > last:
            raise SpecError(f"horizon_months {max(months)} is beyond the fit's last month {last}")
        paths = xr.Dataset(
            {
                level_label(level): levels[level]["effect_pp"].sel(
                    contrast=contrast, month=list(months), drop=True
                )
                for level in (OVERALL, "werkverkenner")
            }
        )
        return EffectPaths(paths, class_weights(tree), f"trajectory fit, months 1-{max(months)}")

    def hyper_parameters(self, spec):
        names = ["baseline_sd_region"] if "region" in spec.groups else []
        for component in EFFECT_COMPONENTS:
            names += [f"{component}_mean", f"{component}_step_sd"]
            if spec.pooling[component]["werkverkenner"] == "partial":
                names += [f"{component}_sd_werkverkenner", f"{component}_step_sd_werkverkenner"]
            if "region" in spec.groups and spec.pooling[component]["region"] == "partial":
                names.append(f"{component}_sd_region")
        return names

    def calibration_quantities(self, spec):
        names = []
        for component in EFFECT_COMPONENTS:
            names += [f"{component}_mean", f"{component}_step_sd", f"{component}_common_curve"]
            if spec.pooling[component]["werkverkenner"] == "partial":
                names += [f"{component}_sd_werkverkenner", f"{component}_step_sd_werkverkenner"]
            if "region" in spec.groups and spec.pooling[component]["region"] == "partial":
                names.append(f"{component}_sd_region")
        return names


KIND = TrajectoryKind()
