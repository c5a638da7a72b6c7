"""Month-by-month effects over months 1-30 (the study's "do the effects last?" question).

Cells are arm x Werkverkenner class (x region, when the spec asks) x month, for each outcome (``employed``,
``ww``), with exact Binomial counts; a person with an unobserved month leaves that month's cells only.
On the logit scale, for outcome o, class c, region r and month m, anchored on the service arm:

    eta[service]             = level[o, c, m] + level_region[o, r]
    eta[control_enforcement] = eta[service] - service[o, c, m] - service_region[o, r]
    eta[control_none]        = eta[service] - service[o, c, m] - service_region[o, r]
                               - enforcement[o, c, m] - enforcement_region[o, r]

(the region terms only when the spec's groups include region) gives the rates of the arms as drawn, which
the counts follow: the curves are the effects in this sample. The effects in the population (``rate`` and
the ``trajectory`` group) subtract from each control arm the chance imbalance of its composition that
persists over months, ``composition[o, arm, c, m]`` (see :func:`composition_factor`): a multivariate normal
draw with the sampling covariance of the arm's mean, so that the effects carry that uncertainty. It does not
enter the likelihood (the data cannot tell an imbalance from an effect), so its standard-normal factors are
sampled from their prior alongside the rest. (Putting it in the likelihood, as an earlier version did,
gives nearly the same posterior, the two differing only through the curves' priors, but a ridge between it
and the curves: correlations of -0.9 and R-hat above 1.01 on some cohorts.)

The level is free per outcome, class and month (every cell holds thousands of persons). Each effect is a
smooth curve over months: a common curve, a first-order random walk (month 1 value plus Student-t monthly
steps with an estimated step sd), plus class deviation curves, random walks that sum to zero over classes at
every month, partially pooled through a shared sd at month 1 and a shared step sd (``pooling = "partial"``),
with fixed sds (``"none"``) or absent (``"full"``). A random walk follows a step change (enforcement acting
in months 6-11) as well as a slow fade; its steps are non-centred (a centred walk was tried: the
enforcement curve is too weakly identified for it). Region deviations, when modelled, are
constant over months.

The derived ``trajectory`` group holds the pp effect per month per contrast (overall, cohort-weighted, and
per class) and the cumulative effects over every horizon: extra months in work and WW months avoided per
participant, as posterior draws for the cost-effectiveness module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from ww_bayes.cells import monthly_cells, person_counts
from ww_bayes.effects import SAMPLE_DIMS
from ww_bayes.estimands import contrast_pp, level_rates
from ww_bayes.model import (
    ARMS_WITH,
    ModelData,
    category_codes,
    log_binomial_coefficient,
    logit_binomial_logp,
    observed_levels,
)
from ww_bayes.schema import ARM_CONTROL_ENFORCEMENT, ARM_CONTROL_NONE, ARMS, month_column
from ww_bayes.spec import EFFECT_COMPONENTS, STEP_NU, TrajectorySpec

CONTROL_ARMS = (ARM_CONTROL_ENFORCEMENT, ARM_CONTROL_NONE)
#: Effects whose month-1 class deviations are centred. None: with the control arms' composition modelled,
#: class-level effects are weakly identified and centred deviations diverge in the funnel of their sd.
CENTRED_START: tuple[str, ...] = ()
#: Leading eigen-components of the composition covariance the model keeps. They carry what persists over
#: months (the imbalance that looks like an effect); the rest is month-to-month noise that the Binomial
#: cells already count, so keeping it would count it twice, and cost 30 instead of 8 parameters per arm.
COMPOSITION_COMPONENTS = 8
#: The cumulative effects, with the sign that makes "good" positive, per outcome.
CUMULATIVE = {"employed": ("extra_employed_months", 1.0), "ww": ("ww_months_avoided", -1.0)}


def prepare_trajectory_data(spec: TrajectorySpec, df: pd.DataFrame) -> ModelData:
    """Monthly cells of each outcome (column ``outcome``) and the cohort's composition (weights)."""
    groups = list(spec.groups)
    levels = {factor: [str(v) for v in observed_levels(df[factor])] for factor in groups}
    parts, n_missing = [], 0
    for outcome in spec.outcomes:
        table = monthly_cells(df, outcome, by=("arm", *groups), months=spec.month_list)
        parts.append(table.table.assign(outcome=outcome))
        n_missing += table.n_missing
    cells = pd.concat(parts, ignore_index=True)
    cells = cells[["outcome", "arm", *groups, "month", "successes", "trials"]]
    weights = person_counts(df, groups, levels)
    composition = composition_factor(df, spec.outcomes, spec.month_list, COMPOSITION_COMPONENTS)
    levels = {"outcome": list(spec.outcomes), **levels, "month": [str(m) for m in spec.month_list]}
    return ModelData(
        composition_factor=composition.sel(werkverkenner=levels["werkverkenner"]),
        cells=cells,
        levels=levels,
        weights=weights.rename("n_persons"),
        outcome=", ".join(spec.outcomes),
        n_persons=len(df),
        n_missing=n_missing,
    )


def composition_factor(df: pd.DataFrame, outcomes, months, components: int | None = None) -> xr.DataArray:
    """Square-root factors of the sampling covariance, across months, of each control arm's cell rates.

    The same persons are counted in every month, so a chance imbalance between arms (a few more people
    with good job chances in one arm) persists from month to month and looks like an effect; a likelihood
    that treats months as independent pools it 30 times and claims far too much certainty. The model
    subtracts from each control arm's rates in the population a deviation over months, multivariate
    normal with the covariance of the arm's mean of persons' residuals ``(y - p) / (p (1 - p))`` (the logit
    scale, linearised; ``p`` the class's rate in the month; pairwise over the months both observed),
    estimated per class with all arms. With it, the effects are as uncertain across months as the persons
    really make them.
    Returns factors ``F`` with ``F @ F.T`` the covariance (or, with ``components``, its best approximation
    of that rank: the leading eigen-components): (outcome, control_arm, werkverkenner, month,
    factor_column), logit scale.
    """
    classes = df["werkverkenner"].astype(str).to_numpy()
    arms = df["arm"].astype(str).to_numpy()
    levels = sorted(set(classes))
    n_months = len(months)
    kept = n_months if components is None else min(components, n_months)
    factors = np.zeros((len(outcomes), len(CONTROL_ARMS), len(levels), n_months, kept))
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
            for j, arm in enumerate(CONTROL_ARMS):
                seen_arm = observed[in_class & (arms == arm)].astype("float64")
                n_both = seen_arm.T @ seen_arm
                n_month = np.maximum(np.diag(n_both), 1)
                covariance = person_cov * n_both / np.outer(n_month, n_month)
                # pairwise-complete covariances need not be positive semi-definite in small samples:
                # a symmetric square root with negative eigenvalues set to zero
                eigenvalues, vectors = np.linalg.eigh(covariance)  # ascending: the leading ones last
                root = vectors * np.sqrt(np.clip(eigenvalues, 0, None))
                factors[i, j, k] = root[:, n_months - kept :]
    return xr.DataArray(
        factors,
        dims=("outcome", "control_arm", "werkverkenner", "month", "factor_column"),
        coords={"outcome": list(outcomes), "control_arm": list(CONTROL_ARMS), "werkverkenner": levels},
        name="composition_factor",
    )


def _walk_matrix(n_months: int) -> np.ndarray:
    """(month, step) matrix that sums the steps up to each month: month 1 has none, month m has m - 1.

    A product with this constant matrix is a cumulative sum that compiles far faster than ``cumsum`` and
    ``concatenate`` in the numba backend.
    """
    return np.tril(np.ones((n_months, n_months)), -1)[:, :-1]


def _effect_curves(spec: TrajectorySpec, component: str, walk: np.ndarray) -> pt.TensorVariable:
    """The component's curves (outcome, werkverkenner, month) on the logit scale."""
    prior = spec.priors[component]
    start = pm.Normal(f"{component}_start", prior.start_mu, prior.start_sigma, dims="outcome")
    step_sd = pm.HalfNormal(f"{component}_step_sd", prior.step_sd, dims="outcome")
    steps = pm.StudentT(f"{component}_steps_z", nu=STEP_NU, mu=0.0, sigma=1.0, dims=("outcome", "month_step"))
    common = start[:, None] + pt.dot(step_sd[:, None] * steps, walk.T)  # (outcome, month)
    pm.Deterministic(f"{component}_common_curve", common, dims=("outcome", "month"))
    pooling = spec.pooling[component]["werkverkenner"]
    if pooling == "full":
        return common[:, None, :]
    if pooling == "partial":
        class_sd = pm.HalfNormal(f"{component}_sd_werkverkenner", prior.group_sd, dims="outcome")
        class_step_sd = pm.HalfNormal(
            f"{component}_step_sd_werkverkenner", prior.group_step_sd, dims="outcome"
        )
    else:
        class_sd = pt.as_tensor(np.full(len(spec.outcomes), prior.unpooled_sd))
        class_step_sd = pt.as_tensor(np.full(len(spec.outcomes), prior.unpooled_step_sd))
    # zero-sum over classes at month 1 and in every step, so the classes' mean is the common curve
    if component in CENTRED_START:
        start_dev = pm.ZeroSumNormal(
            f"{component}_start_werkverkenner", sigma=class_sd[:, None], dims=("outcome", "werkverkenner")
        )
    else:
        start_z = pm.ZeroSumNormal(f"{component}_start_z_werkverkenner", dims=("outcome", "werkverkenner"))
        start_dev = class_sd[:, None] * start_z
    steps_z = pm.ZeroSumNormal(
        f"{component}_steps_z_werkverkenner", dims=("outcome", "month_step", "werkverkenner")
    )
    walked = pt.dot(steps_z.dimshuffle(0, 2, 1), walk.T)  # (outcome, class, month)
    deviation = start_dev[:, :, None] + class_step_sd[:, None, None] * walked
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
    """The PyMC model of the monthly cells; ``for_sampling`` as in :func:`ww_bayes.model.build_model`."""
    groups = list(spec.groups)
    coords = {
        "arm": list(ARMS),
        **data.levels,
        "month_step": [str(m) for m in spec.month_list[1:]],
        "control_arm": list(CONTROL_ARMS),
        "factor_column": np.arange(data.composition_factor.sizes["factor_column"]),
        "cell": np.arange(data.n_cells),
    }
    cells = data.cells
    with pm.Model(coords=coords, check_bounds=False) as model:
        level = pm.Normal(
            "service_level", spec.baseline.mu, spec.baseline.sigma, dims=("outcome", "werkverkenner", "month")
        )
        walk = _walk_matrix(len(spec.month_list))
        curves = {c: _effect_curves(spec, c, walk) for c in EFFECT_COMPONENTS}
        regions = {c: _region_deviation(spec, c) for c in ("baseline", *EFFECT_COMPONENTS)}
        grid_dims = ("outcome", *groups, "month")

        def on_grid(curve, region):  # (outcome, class, month) [+ (outcome, region)] -> grid_dims
            if "region" not in groups:
                return curve
            value = curve[:, :, None, :]
            return value if region is None else value + region[:, None, :, None]

        # chance differences in the control arms' composition that persist over months (see
        # composition_factor): a fixed covariance factor times standard normals; not in the likelihood
        factor_dims = ("outcome", "control_arm", "werkverkenner", "month", "factor_column")
        factor = pm.Data("composition_factor", data.composition_factor.values, dims=factor_dims)
        composition_z = pm.Normal("composition_z", 0.0, 1.0, dims=factor_dims[:3] + ("factor_column",))
        composition = pm.Deterministic(
            "composition",
            (factor * composition_z[..., None, :]).sum(axis=-1),
            dims=factor_dims[:4],
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
            if arm in CONTROL_ARMS:
                eta = eta - on_grid(composition[:, CONTROL_ARMS.index(arm)], None)
            population_rows.append(pt.broadcast_to(eta, shape))
        # the counts follow the rates of the arms as drawn; the effects are contrasts of the population
        # rates, the control arms' rates less their chance imbalance (a draw of it: its uncertainty)
        population = pt.stack(population_rows, axis=1)  # (outcome, arm, *groups, month)
        pm.Deterministic("rate", pm.math.sigmoid(population), dims=("outcome", "arm", *groups, "month"))
        eta_grid = pt.stack(sample_rows, axis=1)
        index_levels = {
            "outcome": data.levels["outcome"],
            "arm": list(ARMS),
            **{f: data.levels[f] for f in groups},
        }
        index_levels["month"] = data.levels["month"]
        index = tuple(
            pm.Data(f"{column}_index", category_codes(cells[column], levels), dims="cell")
            for column, levels in index_levels.items()
        )
        eta_cell = eta_grid[index]
        n, k = cells["trials"].to_numpy(), cells["successes"].to_numpy()
        successes = pm.Data("successes", k, dims="cell")
        trials = pm.Data("trials", n, dims="cell")
        if for_sampling:
            log_coef = pm.Data("log_binomial_coef", log_binomial_coefficient(n, k), dims="cell")
            pm.CustomDist(
                "y", trials, eta_cell, log_coef, logp=logit_binomial_logp, observed=successes, dims="cell"
            )
        else:
            pm.Binomial("y", n=trials, logit_p=eta_cell, observed=successes, dims="cell")
    return model


def trajectory_effects(rate: xr.DataArray, weights: xr.DataArray, smallest_effect_pp: float) -> xr.Dataset:
    """The ``trajectory`` group from posterior rates (chain, draw, outcome, arm, *groups, month).

    - ``effect_pp_<level>``: pp effect per month, per contrast (level ``overall`` or ``by_<factor>``);
    - ``prob_positive_<level>``, ``prob_beyond_smallest_<level>``: per month;
    - ``extra_employed_months_<level>`` and ``ww_months_avoided_<level>``: cumulative effects per
      participant over months 1..``horizon``, in months (sum of the monthly effects / 100).
    """
    rate = rate.assign_coords(month=rate["month"].astype(int))
    rates = level_rates(rate, weights)
    out = xr.Dataset()
    levels = ["overall", "by_werkverkenner"] + (["by_region"] if "region" in weights.dims else [])
    for level in levels:
        pp = contrast_pp(rates[level]).transpose(*SAMPLE_DIMS, "outcome", "contrast", ...)
        if level == "by_region":  # region curves are big (35 x 30 per draw): keep the cumulative only
            pp = pp.astype("float32")
        else:
            out[f"effect_pp_{level}"] = pp
            out[f"prob_positive_{level}"] = (pp > 0).mean(SAMPLE_DIMS)
            out[f"prob_beyond_smallest_{level}"] = (abs(pp) > smallest_effect_pp).mean(SAMPLE_DIMS)
        for outcome, (name, sign) in CUMULATIVE.items():
            if outcome not in pp["outcome"].values:
                continue
            monthly = sign * pp.sel(outcome=outcome, drop=True) / 100
            cumulative = monthly.cumsum("month").rename(month="horizon")
            cumulative.attrs["units"] = "months per participant"
            out[f"{name}_{level}"] = cumulative.transpose(*SAMPLE_DIMS, "contrast", ...)
    out.attrs.update(
        {
            "effect_units": "percentage points (pp) per month, probability scale",
            "cumulative_units": "months per participant, summed over months 1..horizon",
            "weights": "cohort composition: persons per group cell, all arms",
            "smallest_effect_pp": smallest_effect_pp,
        }
    )
    return out


@dataclass(frozen=True)
class TruthCoverage:
    """How often the simulator's monthly truth lies inside the posterior band."""

    table: pd.DataFrame  # outcome, contrast, level, group, month, truth, mean, lb, ub, covered

    def share_covered(self, **where) -> float:
        rows = self.table
        for column, value in where.items():
            rows = rows[rows[column] == value]
        return float(rows["covered"].mean())

    def by_curve(self) -> pd.DataFrame:
        """The share of months covered per curve: rows (level, outcome), one column per contrast."""
        return self.table.groupby(["level", "outcome", "contrast"])["covered"].mean().unstack("contrast")


def truth_coverage(trajectory: xr.Dataset, truth: xr.DataTree, prob: float = 0.9) -> TruthCoverage:
    """Posterior mean and equal-tailed ``prob`` band per month next to the truth (generating pp)."""
    import arviz as az

    frames = []
    for level in ("overall", "by_werkverkenner"):
        name = f"effect_pp_{level}"
        draws = trajectory[[name]]
        band = az.eti(draws, prob=prob)[name]
        true = truth[f"effects/{level}"].ds["generating_pp"].sel(month=draws["month"].values)
        stats = xr.Dataset(
            {
                "mean": draws[name].mean(SAMPLE_DIMS),
                "lb": band.sel(ci_bound="lower", drop=True),
                "ub": band.sel(ci_bound="upper", drop=True),
                "truth": true.sel(outcome=draws["outcome"].values),
            }
        )
        frame = stats.to_dataframe().reset_index()
        frame["group"] = frame["werkverkenner"].astype(str) if level != "overall" else "all"
        frame["level"] = level
        frames.append(frame.drop(columns=[c for c in ("werkverkenner",) if c in frame]))
    table = pd.concat(frames, ignore_index=True)
    table["covered"] = (table["lb"] <= table["truth"]) & (table["truth"] <= table["ub"])
    return TruthCoverage(table[["outcome", "contrast", "level", "group", "month", "truth", "mean", "lb",
                                "ub", "covered"]])  # fmt: skip


def trajectory_summary(
    trajectory: xr.Dataset, interval_kind: str = "eti", interval_prob: float = 0.9
) -> pd.DataFrame:
    """One row per estimand, outcome, contrast, level, group and month (or horizon): posterior mean, sd
    and the labelled interval (e.g. ``eti90_lb``). Estimands: ``effect_pp`` (pp in that month),
    ``extra_employed_months`` and ``ww_months_avoided`` (per participant, months 1..horizon).
    """
    import arviz as az

    label = f"{interval_kind}{round(100 * interval_prob)}"
    frames = []
    for name, draws in trajectory.data_vars.items():
        if "chain" not in draws.dims:
            continue
        estimand, level = next(
            (name[: -len(lv) - 1], lv)
            for lv in ("overall", "by_werkverkenner", "by_region")
            if name.endswith(lv)
        )
        ds = trajectory[[name]]
        interval = (az.hdi if interval_kind == "hdi" else az.eti)(ds, prob=interval_prob)[name]
        stats = xr.Dataset(
            {
                "mean": draws.mean(SAMPLE_DIMS),
                "sd": draws.std(SAMPLE_DIMS),
                f"{label}_lb": interval.sel(ci_bound="lower", drop=True),
                f"{label}_ub": interval.sel(ci_bound="upper", drop=True),
                "prob_positive": (draws > 0).mean(SAMPLE_DIMS),
            }
        )
        frame = stats.to_dataframe().reset_index()
        factor = level.removeprefix("by_")
        frame["group"] = frame[factor].astype(str) if factor in frame else "all"
        frame = frame.drop(columns=[c for c in ("werkverkenner", "region") if c in frame])
        if "horizon" in frame:
            frame = frame.rename(columns={"horizon": "month"})
            frame["outcome"] = "employed" if estimand == "extra_employed_months" else "ww"
        frame["estimand"], frame["level"] = estimand, level
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    ordered = ["estimand", "outcome", "contrast", "level", "group", "month"]
    return table[ordered + [c for c in table.columns if c not in ordered]]
