"""Model-building parts the kinds share: arm contrasts on the link scale, a factor's partially pooled
zero-sum deviations and the parametrization the data call for, cell indexing, the cohort's composition,
and the sparseness of a design.

The likelihoods are the observations' (:mod:`ww_bayes.kinds.observations`).

Centred or non-centred
----------------------
A partially pooled factor's deviations (sd ``sd``, summing to zero over the levels) can be written centred,
``dev ~ ZeroSumNormal(sd)``, or non-centred, ``dev = sd * z`` with ``z ~ ZeroSumNormal(1)``: the same
distribution, a different geometry for the sampler. Which one mixes depends on how much the data say about
each level against how far the levels spread (Papaspiliopoulos, Roberts and Skold 2007, "A general framework
for the parametrization of hierarchical models", Statistical Science 22(1); Betancourt and Girolami 2015 for
Hamiltonian Monte Carlo): with ``s_l^2`` the sampling variance of level l's estimate and ``tau`` the sd of
the levels, the shrinkage factor ``kappa_l = s_l^2 / (s_l^2 + tau^2)`` is the convergence rate of the
centred form and ``1 - kappa_l`` that of the non-centred form in the normal hierarchical model (0: no
dependence between the levels and their sd, 1: no movement). :func:`choose_parametrization` takes the
form with the smaller rate at the median level: centred when the median ``kappa_l`` is below 1/2, that is
when the data pin the levels down more tightly than they spread. ``tau`` is the spread the data show (a
method-of-moments estimate, :func:`between_level_sd`), not the prior's scale: effect heterogeneity is far
smaller than a weakly informative prior allows, and it is the actual spread that shapes the funnel
(docs/convergence.md has the measurements).
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

#: The two forms of a factor's partially pooled deviations (same distribution, see the module docstring).
CENTRED, NON_CENTRED = "centred", "non-centred"
PARAMETRIZATIONS = (CENTRED, NON_CENTRED)
#: What a spec may ask for per component and factor: a form, or "auto" (chosen from the data).
AUTO = "auto"
PARAMETRIZATION_CHOICES = (AUTO, *PARAMETRIZATIONS)
#: Centred when the median shrinkage factor over the levels is below this: where the centred form's
#: convergence rate (kappa) is smaller than the non-centred form's (1 - kappa).
CENTRED_BELOW = 0.5


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


# --- partially pooled deviations: centred or non-centred ----------------------------------------------


@dataclass(frozen=True)
class Parametrization:
    """How one component's partially pooled deviations over one factor are written, and why.

    ``form``: :data:`CENTRED` or :data:`NON_CENTRED`; ``chosen_by``: "data" (:func:`choose_parametrization`)
    or "spec" (the spec asked for it); ``shrinkage``: the median over the levels of ``kappa_l`` (NaN when the
    observation gives no estimate per level); ``between_sd``: the spread of the levels the data show (link
    scale); ``levels``: how many levels the factor has.
    """

    form: str
    chosen_by: str
    shrinkage: float = float("nan")
    between_sd: float = float("nan")
    levels: int = 0

    def text(self) -> str:
        """The choice in words, e.g. ``centred (data: median shrinkage 0.03, levels' sd 0.066)``."""
        if self.chosen_by == "spec":
            return f"{self.form} (asked in the spec)"
        if np.isnan(self.shrinkage):
            return f"{self.form} (no estimate per level from this observation)"
        return f"{self.form} (data: median shrinkage {self.shrinkage:.2f}, levels' sd {self.between_sd:.3f})"

    @classmethod
    def from_dict(cls, record: dict) -> Parametrization:
        """The choice as :meth:`as_dict` records it."""
        number = lambda x: float("nan") if x is None else float(x)  # noqa: E731
        return cls(record["form"], record["chosen_by"], number(record.get("shrinkage")),
                   number(record.get("between_sd")), int(record.get("levels", 0)))  # fmt: skip

    def as_dict(self) -> dict:
        """For the fit's provenance (attr ``parametrization``): JSON-ready, NaN as None."""
        number = lambda x: None if np.isnan(x) else round(float(x), 4)  # noqa: E731
        return {"form": self.form, "chosen_by": self.chosen_by, "shrinkage": number(self.shrinkage),
                "between_sd": number(self.between_sd), "levels": self.levels}  # fmt: skip


def zero_sum_deviations(
    name: str, sd, dims: str | tuple[str, ...], form: str, z_name: str
) -> pt.TensorVariable:
    """A factor's deviations, normal with sd ``sd`` and summing to zero over the last of ``dims``, as a
    variable named ``name`` in the model being built: a ``ZeroSumNormal`` with sd ``sd`` when ``form`` is
    :data:`CENTRED`; when :data:`NON_CENTRED`, a deterministic ``sd * z`` of a unit ``ZeroSumNormal`` named
    ``z_name``. ``sd`` broadcasts against the deviations' shape (a scalar, or one value per leading dim)."""
    if form == CENTRED:
        return pm.ZeroSumNormal(name, sigma=sd, dims=dims)
    if form == NON_CENTRED:
        z = pm.ZeroSumNormal(z_name, sigma=1.0, dims=dims)
        return pm.Deterministic(name, sd * z, dims=dims)
    raise ValueError(f"parametrization must be one of {', '.join(PARAMETRIZATIONS)}, got {form!r}")


def between_level_sd(estimates: np.ndarray, variances: np.ndarray) -> float:
    """The sd of the true values of L levels beyond their sampling noise: DerSimonian and Laird's
    method-of-moments estimate (1986), ``tau^2 = max(0, (Q - (L - 1)) / (S1 - S2 / S1))`` with ``Q`` the
    weighted sum of squared deviations from the weighted mean, weights ``1 / variances`` (S1 their sum, S2
    the sum of their squares). Levels without data (infinite variance) carry no weight."""
    estimates, variances = np.asarray(estimates, dtype=float), np.asarray(variances, dtype=float)
    keep = np.isfinite(variances) & np.isfinite(estimates) & (variances > 0)
    if keep.sum() < 2:
        return 0.0
    weights, values = 1.0 / variances[keep], estimates[keep]
    mean = np.sum(weights * values) / weights.sum()
    q = np.sum(weights * (values - mean) ** 2)
    denominator = weights.sum() - np.sum(weights**2) / weights.sum()
    return float(np.sqrt(max(0.0, (q - (keep.sum() - 1)) / denominator)))


def shrinkage(variances: np.ndarray, between_sd: float) -> np.ndarray:
    """``kappa_l = s_l^2 / (s_l^2 + tau^2)`` per level: 0 where the data pin the level down (centred
    mixes), 1 where the levels' spread dominates or the level has no data (non-centred mixes)."""
    variances = np.asarray(variances, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = variances / (variances + between_sd**2)
    return np.where(np.isfinite(variances), np.nan_to_num(kappa, nan=1.0), 1.0)


def choose_parametrization(
    estimates: np.ndarray | None, variances: np.ndarray | None, asked: str = AUTO
) -> Parametrization:
    """The form of one factor's partially pooled deviations from the levels' estimates and their sampling
    variances on the link scale (:func:`level_estimates`): centred when the median shrinkage factor
    (:func:`shrinkage`, at the levels' spread :func:`between_level_sd`) is below :data:`CENTRED_BELOW`,
    else non-centred. ``asked``: a form the spec asks for (kept, the numbers reported beside it) or
    :data:`AUTO`. Without estimates (an observation with none) "auto" is non-centred, the form that stays
    sound where the data are weak."""
    if asked not in PARAMETRIZATION_CHOICES:
        raise ValueError(
            f"parametrization must be one of {', '.join(PARAMETRIZATION_CHOICES)}, got {asked!r}"
        )
    if estimates is None or variances is None:
        return Parametrization(NON_CENTRED if asked == AUTO else asked, "data" if asked == AUTO else "spec")
    tau = between_level_sd(estimates, variances)
    kappa = float(np.median(shrinkage(variances, tau)))
    if asked == AUTO:
        form, chosen_by = (CENTRED if kappa < CENTRED_BELOW else NON_CENTRED), "data"
    else:
        form, chosen_by = asked, "spec"
    return Parametrization(form, chosen_by, kappa, tau, len(np.asarray(variances)))


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


def choose_parametrizations(
    cells: pd.DataFrame,
    observation,
    levels: dict[str, list[str]],
    partial: dict[str, list[str]],
    asked: dict[str, dict[str, str]],
    anchor: str,
) -> dict[str, dict[str, Parametrization]]:
    """The form of every partially pooled component and factor (``partial``: component -> its partially
    pooled factors) of a model whose components are arm contrasts (:func:`contrast_arms`, anchored on
    ``anchor``), from the cells' observation (:meth:`~ww_bayes.kinds.observations.Observation.link_estimates`
    per arm and level): :func:`choose_parametrization` for each, or the form ``asked`` (component -> factor
    -> a choice of :data:`PARAMETRIZATION_CHOICES`; "auto" where not given)."""
    chosen: dict[str, dict[str, Parametrization]] = {}
    for component, factors in partial.items():
        for factor in factors:
            table = observation.link_estimates(cells, ["arm", factor])
            estimates, variances = (None, None) if table is None else level_estimates(
                table, factor, levels[factor], contrast_arms(component, anchor)
            )  # fmt: skip
            form = asked.get(component, {}).get(factor, AUTO)
            chosen.setdefault(component, {})[factor] = choose_parametrization(estimates, variances, form)
    return chosen
