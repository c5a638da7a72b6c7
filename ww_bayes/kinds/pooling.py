"""Model-building parts the kinds share: arm contrasts on the link scale, a factor's partially pooled
zero-sum deviations and the parametrization the data call for, cell indexing, the cohort's composition,
and the sparseness of a design.

The likelihoods are the observations' (:mod:`ww_bayes.kinds.observations`).

Centred, half-centred or non-centred
------------------------------------
A partially pooled factor's deviations (sd ``sd``, summing to zero over the levels) can be written centred,
``dev ~ ZeroSumNormal(sd)``, non-centred, ``dev = sd * z`` with ``z ~ ZeroSumNormal(1)``, or in between,
``dev = sd^(1 - c) * z`` with ``z ~ ZeroSumNormal(sd^c)`` (centring ``c``: 1 centred, 0 non-centred; the
partially non-centred form of Papaspiliopoulos, Roberts and Skold 2003 and Gorinova, Moore and Hoffman
2020): the same distribution, a different geometry for the sampler. Which one mixes depends on how much the
data say about each level against how far the levels spread (Papaspiliopoulos, Roberts and Skold 2007, "A
general framework for the parametrization of hierarchical models", Statistical Science 22(1); Betancourt
and Girolami 2015 for Hamiltonian Monte Carlo). With ``s_l^2`` the sampling variance of level l's estimate
and ``tau`` the sd of the levels, the shrinkage factor ``kappa_l = s_l^2 / (s_l^2 + tau^2)`` is the
convergence rate of the centred form and ``1 - kappa_l`` that of the non-centred form in the normal
hierarchical model.

``tau`` is not known before the fit, and with few levels (5 Werkverkenner classes) it is not pinned down:
a point estimate is often exactly 0 (shrinkage 1) while the sd's posterior straddles the sampling sd.
:func:`choose_parametrization` therefore averages the median ``kappa_l`` over the posterior of ``tau`` in
the normal approximation (:func:`between_sd_posterior`: the levels' estimates with their sampling
variances, the spec's prior on the sd, the mean integrated out) and takes the form with the
smaller rate: centred when ``E[kappa]`` is below 1/2, else non-centred. The half-centred form (``c = 1/2``)
is one a spec can ask for, and a spec may have the rule take it instead of the non-centred one
(``weak_data_form``: the trajectory's service class means mixed better so, docs/convergence.md); the rule
does not choose it by a band of ``E[kappa]`` (between 1/4 and 3/4 it diverged at the published size where
the non-centred form did not).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from ww_bayes.data.schema import ARM_CONTROL_ENFORCEMENT, ARM_SERVICE, ARMS
from ww_bayes.derived import CELLS, OVERALL
from ww_bayes.estimands import identified_overall_pp, pooling_only, pooling_only_share
from ww_bayes.vocabulary import SAMPLE_DIMS

#: Which arms get each effect component (service includes the enforced job-search requirement).
ARMS_WITH = {
    "enforcement": (ARM_SERVICE, ARM_CONTROL_ENFORCEMENT),
    "service": (ARM_SERVICE,),
}

#: The forms of a factor's partially pooled deviations (same distribution, see the module docstring).
CENTRED, HALF_CENTRED, NON_CENTRED = "centred", "half-centred", "non-centred"
PARAMETRIZATIONS = (CENTRED, HALF_CENTRED, NON_CENTRED)
#: The centring ``c`` of each form: ``dev = sd^(1 - c) * z``, ``z ~ ZeroSumNormal(sd^c)``.
CENTRING = {CENTRED: 1.0, HALF_CENTRED: 0.5, NON_CENTRED: 0.0}
#: What a spec may ask for per component and factor: a form, or "auto" (chosen from the data).
AUTO = "auto"
PARAMETRIZATION_CHOICES = (AUTO, *PARAMETRIZATIONS)
#: Centred when the shrinkage factor averaged over the sd's posterior is below this: where the centred
#: form's convergence rate (kappa) is smaller than the non-centred form's (1 - kappa). A spec may set
#: another (``centred_below``, :class:`ww_bayes.kinds.common.SpecCommon`).
CENTRED_BELOW = 0.5
#: The forms the rule may take where ``E[kappa]`` is at or above its threshold (a spec's
#: ``weak_data_form``); non-centred unless the spec asks for the half-centred form.
WEAK_DATA_FORMS = (NON_CENTRED, HALF_CENTRED)
#: Points of the grid the posterior of the levels' sd is evaluated on (from 0 to a few prior scales:
#: :attr:`SdPrior.grid_end`).
TAU_GRID = 400
#: Prior families of a partially pooled sd (:class:`SdPrior`).
HALF_NORMAL, GAMMA = "half-normal", "gamma"
SD_PRIORS = (HALF_NORMAL, GAMMA)
#: The shape of the gamma prior of an sd: 2, the smallest whose density is 0 at 0 with a finite, positive
#: slope there.
GAMMA_SHAPE = 2.0


@dataclass(frozen=True)
class SdPrior:
    """The prior of a partially pooled sd: ``HalfNormal(scale)`` (``family`` :data:`HALF_NORMAL`, the
    default), or ``Gamma(2, 2 / scale)`` (:data:`GAMMA`: mean ``scale``, mode ``scale / 2``, 99.9% of it
    below 4.62 ``scale``).

    The half-normal is densest at 0, so a factor whose levels do not differ lets the sd's posterior reach
    down to 0, where centred and half-centred deviations make a funnel; with few levels (5 classes) the data
    leave its upper tail to the prior too, where non-centred deviations pinned by the data make the funnel's
    other end. The gamma with shape 2 has density 0 at 0 (a boundary-avoiding prior: Chung, Rabe-Hesketh,
    Dorie, Gelman and Liu 2013, "A nondegenerate penalized likelihood estimator for variance parameters in
    multilevel models", Psychometrika 78(4)) and an exponential upper tail: it says the levels differ by
    a little, neither by nothing nor by much."""

    scale: float
    family: str = HALF_NORMAL

    def __post_init__(self) -> None:
        if self.family not in SD_PRIORS:
            raise ValueError(f"an sd's prior must be one of {', '.join(SD_PRIORS)}, got {self.family!r}")
        if not self.scale > 0:
            raise ValueError(f"an sd's prior scale must be > 0, got {self.scale!r}")

    def variable(self, name: str, **kwargs) -> pt.TensorVariable:
        """The sd as a variable of the model being built (``kwargs``: e.g. ``dims``)."""
        if self.family == GAMMA:
            return pm.Gamma(name, alpha=GAMMA_SHAPE, beta=GAMMA_SHAPE / self.scale, **kwargs)
        return pm.HalfNormal(name, self.scale, **kwargs)

    def log_density(self, sd: np.ndarray) -> np.ndarray:
        """The log prior density at ``sd`` (>= 0), up to a constant."""
        sd = np.asarray(sd, dtype=float)
        if self.family == GAMMA:
            with np.errstate(divide="ignore"):
                return (GAMMA_SHAPE - 1.0) * np.log(sd) - GAMMA_SHAPE * sd / self.scale
        return -0.5 * (sd / self.scale) ** 2

    @property
    def grid_end(self) -> float:
        """Where the rule's grid of sds ends: 4 scales for the half-normal (as before the gamma was an
        option), 6 for the gamma (its tail above 6 scales holds 0.008% of it)."""
        return (6.0 if self.family == GAMMA else 4.0) * self.scale

    def text(self) -> str:
        """The prior in words, e.g. ``HalfNormal(0.2)`` or ``Gamma(2, 20) (mean 0.1)``."""
        if self.family == GAMMA:
            return f"Gamma({GAMMA_SHAPE:g}, {GAMMA_SHAPE / self.scale:g}) (mean {self.scale:g})"
        return f"HalfNormal({self.scale:g})"


def sd_prior(prior: float | SdPrior) -> SdPrior:
    """``prior`` as an :class:`SdPrior` (a number: a half-normal scale)."""
    return prior if isinstance(prior, SdPrior) else SdPrior(float(prior))


def contrast_arms(component: str, anchor: str) -> tuple[str, ...]:
    """The arms whose rates define a component on the link scale: the anchor arm's own for the baseline;
    for an effect, the pair of arms that differ in that component only (service: the service arm against
    control_enforcement; enforcement: control_enforcement against control_none), first the arm with it."""
    if component not in ARMS_WITH:
        return (anchor,)
    has = {arm: {c for c, arms in ARMS_WITH.items() if arm in arms} for arm in ARMS}
    for with_it in ARMS:
        for without in ARMS:
            if has[with_it] - has[without] == {component} and has[without] <= has[with_it]:
                return (with_it, without)
    raise ValueError(f"no pair of arms differs in {component!r} alone")


def arm_logit(anchor: str, arm: str, components: dict) -> pt.TensorVariable:
    """An arm's logit rate from the components' values, for a model anchored on ``anchor``'s arm.

    The anchor arm's logit is the baseline; the effect components add (for arms that have them and the
    anchor has not) or subtract (for the anchor's effects an arm lacks).
    """
    eta = components["baseline"]
    for component, arms in ARMS_WITH.items():
        if arm in arms and anchor not in arms:
            eta = eta + components[component]
        elif anchor in arms and arm not in arms:
            eta = eta - components[component]
    return eta


def observed_levels(values: pd.Series) -> list:
    """The levels present in a column: category order for a categorical, sorted otherwise."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.unique())
        return [c for c in values.cat.categories if c in present]
    return sorted(values.dropna().unique())


def absent_levels(values: pd.Series) -> list:
    """The levels a categorical column allows but no row holds (a regional or partial extract)."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        return []
    present = set(values.unique())
    return [c for c in values.cat.categories if c not in present]


def factor_levels(df: pd.DataFrame, factors: list[str]) -> tuple[dict[str, list[str]], tuple[str, ...]]:
    """The levels of each grouping factor present in the cohort (as text), and a note for each level the
    column allows but no person holds (a regional or partial extract): it drops out of the fit's levels.
    A factor column with missing values is an error naming it."""
    levels, notes = {}, []
    for factor in factors:
        missing = int(df[factor].isna().sum())
        if missing:
            raise ValueError(f"grouping factor {factor!r}: {missing:,} row(s) without a value; a grouping "
                             "factor needs a label for every person")  # fmt: skip
        levels[factor] = [str(v) for v in observed_levels(df[factor])]
        absent = absent_levels(df[factor])
        if absent:
            notes.append(f"{factor}: {', '.join(map(str, absent))} absent from the data (no persons): left "
                         f"out of the fit's levels, which are {', '.join(levels[factor])}")  # fmt: skip
    return levels, tuple(notes)


def category_codes(values: pd.Series, levels: list[str]) -> np.ndarray:
    codes = pd.Categorical(values.astype(str), categories=levels).codes
    if (codes < 0).any():
        raise ValueError(f"{values.name}: labels outside the model's levels")
    return codes.astype("int64")


def cell_index(cells: pd.DataFrame, levels: dict[str, list[str]]) -> tuple:
    """One ``pm.Data`` of integer codes per column of ``cells`` named in ``levels`` (``<column>_index``),
    to pick each cell's value from a grid with those axes in that order."""
    return tuple(
        pm.Data(f"{column}_index", category_codes(cells[column], column_levels), dims="cell")
        for column, column_levels in levels.items()
    )


#: The fit group holding the cohort composition (persons per cell of the grouping factors, all arms).
WEIGHTS_GROUP = "weights"


def fit_weights(tree: xr.DataTree) -> xr.DataArray:
    """The cohort composition a fit was weighted with: persons per cell of its grouping factors (all arms),
    labelled; its dims are the fit's grouping factors."""
    return tree[WEIGHTS_GROUP].ds["n_persons"]


def class_weights(tree: xr.DataTree) -> xr.DataArray:
    """Persons per Werkverkenner class a fit was weighted with (summed over the other factors)."""
    weights = fit_weights(tree)
    return weights.sum([d for d in weights.dims if d != "werkverkenner"])


def sparseness_flags(
    rate: xr.DataArray, weights: xr.DataArray, persons: xr.DataArray
) -> dict[str, xr.Dataset]:
    """The sparseness variables of a derived group, per level: ``pooling_only`` (per contrast: the level
    has no person in one of its arms, :func:`ww_bayes.estimands.pooling_only`) at every level including the
    cell grid; at the overall level also ``pooling_only_share`` (share of the cohort in pooling-only cells)
    and ``effect_pp_identified`` (the population effect over identified cells only). ``rate`` may carry
    further dims (outcome, month), which the identified-only effect keeps."""
    flags = pooling_only(persons)
    levels = {level: xr.Dataset({"pooling_only": flag}) for level, flag in flags.items()}
    levels[OVERALL]["pooling_only_share"] = pooling_only_share(flags[CELLS], weights)
    levels[OVERALL]["effect_pp_identified"] = identified_overall_pp(rate, weights, flags[CELLS]).transpose(
        *SAMPLE_DIMS, ...
    )
    return levels


# --- partially pooled deviations: centred, half-centred or non-centred ----------------------------------


@dataclass(frozen=True)
class Parametrization:
    """How one component's partially pooled deviations over one factor are written, and why.

    ``form``: one of :data:`PARAMETRIZATIONS`; ``chosen_by``: "data" (:func:`choose_parametrization`) or
    "spec" (the spec asked for it); ``shrinkage``: the median over the levels of ``kappa_l``, averaged over
    the posterior of the levels' sd (NaN when the observation gives no estimate per level);
    ``between_sd``: that posterior's median (link scale); ``levels``: how many levels the factor has;
    ``centred_below``: the rule's threshold on the shrinkage (:data:`CENTRED_BELOW` unless the spec set
    another).
    """

    form: str
    chosen_by: str
    shrinkage: float = float("nan")
    between_sd: float = float("nan")
    levels: int = 0
    centred_below: float = CENTRED_BELOW

    def text(self) -> str:
        """The choice in words, e.g. ``centred (data: shrinkage 0.03, levels' sd about 0.066)``; the
        threshold is named where the spec set another than :data:`CENTRED_BELOW`."""
        if self.chosen_by == "spec":
            return f"{self.form} (asked in the spec)"
        if np.isnan(self.shrinkage):
            return f"{self.form} (no estimate per level from this observation)"
        threshold = "" if self.centred_below == CENTRED_BELOW else f", centred below {self.centred_below:.2f}"
        return (f"{self.form} (data: shrinkage {self.shrinkage:.2f}{threshold}, levels' sd about "
                f"{self.between_sd:.3f})")  # fmt: skip

    @classmethod
    def from_dict(cls, record: dict) -> Parametrization:
        """The choice as :meth:`as_dict` records it (a record without a threshold: the default)."""
        number = lambda x: float("nan") if x is None else float(x)  # noqa: E731
        return cls(record["form"], record["chosen_by"], number(record.get("shrinkage")),
                   number(record.get("between_sd")), int(record.get("levels", 0)),
                   float(record.get("centred_below", CENTRED_BELOW)))  # fmt: skip

    def as_dict(self) -> dict:
        """For the fit's provenance (attr ``parametrization``): JSON-ready, NaN as None."""
        number = lambda x: None if np.isnan(x) else round(float(x), 4)  # noqa: E731
        return {"form": self.form, "chosen_by": self.chosen_by, "shrinkage": number(self.shrinkage),
                "between_sd": number(self.between_sd), "levels": self.levels,
                "centred_below": float(self.centred_below)}  # fmt: skip


def zero_sum_deviations(
    name: str, sd, dims: str | tuple[str, ...], form: str, z_name: str
) -> pt.TensorVariable:
    """A factor's deviations, normal with sd ``sd`` and summing to zero over the last of ``dims``, as a
    variable named ``name`` in the model being built: a ``ZeroSumNormal`` with sd ``sd`` when ``form`` is
    :data:`CENTRED`; otherwise a deterministic ``sd^(1 - c) * z`` of a ``ZeroSumNormal`` with sd ``sd^c``
    named ``z_name`` (``c``: the form's :data:`CENTRING`, 0 for :data:`NON_CENTRED`: a unit ``z``). ``sd``
    broadcasts against the deviations' shape (a scalar, or one value per leading dim)."""
    if form not in CENTRING:
        raise ValueError(f"parametrization must be one of {', '.join(PARAMETRIZATIONS)}, got {form!r}")
    centring = CENTRING[form]
    if centring == 1.0:
        return pm.ZeroSumNormal(name, sigma=sd, dims=dims)
    if centring == 0.0:
        z = pm.ZeroSumNormal(z_name, sigma=1.0, dims=dims)
        return pm.Deterministic(name, sd * z, dims=dims)
    z = pm.ZeroSumNormal(z_name, sigma=sd**centring, dims=dims)
    return pm.Deterministic(name, sd ** (1.0 - centring) * z, dims=dims)


def between_sd_posterior(
    estimates: np.ndarray, variances: np.ndarray, prior_sd: float | SdPrior
) -> tuple[np.ndarray, np.ndarray]:
    """The posterior of the sd ``tau`` of L levels' true values, on a grid from 0 to a few prior scales
    (:attr:`SdPrior.grid_end`), in the normal approximation: level l's estimate ~ Normal(mu, s_l^2 + tau^2)
    with ``s_l^2`` its sampling variance, ``tau`` ~ ``prior_sd`` (an :class:`SdPrior`, or a number: the
    scale of a half-normal), ``mu`` integrated out under a flat prior. Levels without data (infinite
    variance) carry no weight. Returns the grid and the posterior's weights (summing to 1).

    2-D ``estimates`` and ``variances`` (series, level) are several series of the same levels sharing one
    ``tau``, each with its own ``mu`` (a multinomial's categories and months: one sd for all of them): the
    series' likelihoods multiply."""
    estimates, variances = np.atleast_2d(estimates).astype(float), np.atleast_2d(variances).astype(float)
    prior = sd_prior(prior_sd)
    grid = np.linspace(0.0, prior.grid_end, TAU_GRID)
    log_posterior = prior.log_density(grid)
    for estimate, variance in zip(estimates, variances, strict=True):
        keep = np.isfinite(variance) & np.isfinite(estimate) & (variance > 0)
        if not keep.any():
            continue
        total = variance[keep][None, :] + grid[:, None] ** 2  # (grid, level)
        weights = 1.0 / total
        mean = (weights * estimate[keep]).sum(axis=1) / weights.sum(axis=1)
        squares = (weights * (estimate[keep][None, :] - mean[:, None]) ** 2).sum(axis=1)
        log_posterior = log_posterior - 0.5 * (
            np.log(total).sum(axis=1) + squares + np.log(weights.sum(axis=1))
        )
    posterior = np.exp(log_posterior - log_posterior.max())
    return grid, posterior / posterior.sum()


def shrinkage(variances: np.ndarray, between_sd: float) -> np.ndarray:
    """``kappa_l = s_l^2 / (s_l^2 + tau^2)`` per level: 0 where the data pin the level down (centred
    mixes), 1 where the levels' spread dominates or the level has no data (non-centred mixes)."""
    variances = np.asarray(variances, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = variances / (variances + between_sd**2)
    return np.where(np.isfinite(variances), np.nan_to_num(kappa, nan=1.0), 1.0)


def choose_parametrization(
    estimates: np.ndarray | None,
    variances: np.ndarray | None,
    prior_sd: float | SdPrior,
    asked: str = AUTO,
    centred_below: float = CENTRED_BELOW,
    weak_form: str = NON_CENTRED,
) -> Parametrization:
    """The form of one factor's partially pooled deviations from the levels' estimates and their sampling
    variances on the link scale (:func:`level_estimates`) and the prior of their sd (``prior_sd``: an
    :class:`SdPrior`, or the scale of a half-normal): the median shrinkage factor over the levels
    (:func:`shrinkage`) averaged over the posterior of their sd (:func:`between_sd_posterior`),
    ``E[kappa]``: centred when it is below ``centred_below`` (:data:`CENTRED_BELOW` unless the spec sets
    another), else ``weak_form`` (non-centred unless the spec asks for the half-centred form,
    :data:`WEAK_DATA_FORMS`). ``asked``: a form the spec asks for (kept, the numbers reported beside it)
    or :data:`AUTO`. Without estimates (an observation with none) "auto" is non-centred, the form that
    stays sound where the data are weak. 2-D estimates and variances (series, level): series sharing one
    sd (:func:`between_sd_posterior`), the median over every series' levels."""
    if asked not in PARAMETRIZATION_CHOICES:
        raise ValueError(
            f"parametrization must be one of {', '.join(PARAMETRIZATION_CHOICES)}, got {asked!r}"
        )
    if not 0.0 <= centred_below <= 1.0:
        raise ValueError(f"centred_below must be between 0 and 1 (a shrinkage factor), got {centred_below!r}")
    if weak_form not in WEAK_DATA_FORMS:
        raise ValueError(f"weak_data_form must be one of {', '.join(WEAK_DATA_FORMS)}, got {weak_form!r}")
    if estimates is None or variances is None or not np.isfinite(variances).any():
        return Parametrization(NON_CENTRED if asked == AUTO else asked, "data" if asked == AUTO else "spec",
                               centred_below=centred_below)  # fmt: skip
    grid, posterior = between_sd_posterior(estimates, variances, prior_sd)
    variances = np.asarray(variances, dtype=float)
    # of several series, those with data (a category nobody is in at a month has none); within them a
    # level without data counts, with a shrinkage of 1, as it does in one series
    with_data = variances[np.isfinite(variances).any(axis=-1)] if variances.ndim > 1 else variances
    kappa = float(
        sum(w * np.median(shrinkage(with_data, tau)) for tau, w in zip(grid, posterior, strict=True))
    )
    median_sd = float(grid[np.searchsorted(np.cumsum(posterior), 0.5)])
    if asked == AUTO:
        form, chosen_by = (CENTRED if kappa < centred_below else weak_form), "data"
    else:
        form, chosen_by = asked, "spec"
    return Parametrization(form, chosen_by, kappa, median_sd, variances.shape[-1], centred_below)


def level_estimates(
    table: pd.DataFrame, factor: str, levels: list[str], arms: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """A component's estimate per level of ``factor`` and its sampling variance, on the link scale, from
    ``table`` (one row per arm and level: columns ``arm``, ``factor``, ``estimate``, ``variance``, as an
    observation's :meth:`~ww_bayes.kinds.observations.Observation.link_estimates` gives them): the first
    arm's estimate minus the second's (one arm: its own), variances added. A level without data in an arm
    gets an infinite variance (no weight)."""
    table = table.assign(**{factor: table[factor].astype(str), "arm": table["arm"].astype(str)})
    indexed = table.set_index(["arm", factor])
    estimate, variance = np.zeros(len(levels)), np.zeros(len(levels))
    for sign, arm in zip((1.0, -1.0), arms, strict=False):
        rows = indexed.reindex(pd.MultiIndex.from_product([[arm], levels]))
        estimate += sign * rows["estimate"].fillna(0.0).to_numpy()
        variance += rows["variance"].fillna(np.inf).to_numpy()
    return estimate, variance


def weak_form_of(weak_data_form: str | dict[str, str], component: str) -> str:
    """The form the rule takes for ``component`` where the data are weak: a spec's ``weak_data_form``, one
    form for every component or a table per component (non-centred for a component it does not name)."""
    if isinstance(weak_data_form, str):
        return weak_data_form
    return weak_data_form.get(component, NON_CENTRED)


def choose_parametrizations(
    cells: pd.DataFrame,
    observation,
    levels: dict[str, list[str]],
    partial: dict[str, list[str]],
    asked: dict[str, dict[str, str]],
    anchor: str,
    prior_sd: dict[str, float | SdPrior],
    centred_below: float = CENTRED_BELOW,
    weak_form: str | dict[str, str] = NON_CENTRED,
) -> dict[str, dict[str, Parametrization]]:
    """The form of every partially pooled component and factor (``partial``: component -> its partially
    pooled factors) of a model whose components are arm contrasts (:func:`contrast_arms`, anchored on
    ``anchor``), from the cells' observation (:meth:`~ww_bayes.kinds.observations.Observation.link_estimates`
    per arm and level) and the prior of each component's sd (``prior_sd``: an :class:`SdPrior`, or the scale
    of a half-normal):
    :func:`choose_parametrization` for each, or the form ``asked`` (component -> factor -> a choice of
    :data:`PARAMETRIZATION_CHOICES`; "auto" where not given), with the rule's threshold ``centred_below`` and
    its form above it, ``weak_form`` (one for every component, or a table per component:
    :func:`weak_form_of`)."""
    chosen: dict[str, dict[str, Parametrization]] = {}
    for component, factors in partial.items():
        for factor in factors:
            table = observation.link_estimates(cells, ["arm", factor])
            estimates, variances = (None, None) if table is None else level_estimates(
                table, factor, levels[factor], contrast_arms(component, anchor)
            )  # fmt: skip
            form = asked.get(component, {}).get(factor, AUTO)
            choice = choose_parametrization(estimates, variances, prior_sd[component], form, centred_below,
                                            weak_form_of(weak_form, component))  # fmt: skip
            chosen.setdefault(component, {})[factor] = choice
    return chosen
