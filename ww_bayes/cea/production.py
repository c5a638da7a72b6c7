"""Extra hours worked per participant, month by month: what a societal perspective values as production,
hours x wage x (1 + employer costs). Pure functions over draws, like :mod:`ww_bayes.cea.analysis`.

Months 1-12 come from a fit that offers hours (:attr:`ww_bayes.kinds.protocol.ModelKind.offers_hours`: the
hours kind): its effect on mean hours per claimant in months 1-12 (zeros included), spread evenly over the
12 months (assumption: within year 1 the timing only changes the discounting, by a fraction of a percent).
Months 13 .. horizon are not observed in hours; they need an assumption (:data:`BEYOND_YEAR1`), named in the
result's ``source`` wherever the hours are used:

- ``"employment_path"``: the extra hours follow the employment effect. In month m they are the employment
  effect in month m (pp / 100: extra persons in work per participant) times the hours per extra employed
  month of year 1, per Werkverkenner class: the posterior mean of the year-1 hours effect over the posterior
  mean of the year-1 extra employed months (the classes whose year-1 employment effect is not positive use
  the overall ratio). The ratio carries year 1's mix of more persons in work and more hours per worker
  into the later months. Needs the monthly employment effects (``employment``: a trajectory fit's, or a
  12-month fit's held effect, as :func:`ww_bayes.cea.analysis.monthly_effects` gives them).
- ``"none"``: no extra hours after month 12 (a lower bound when the employment effect lasts).

Without a fit that offers hours, :func:`production_hours` says so: ``uses_hours`` False, ``hours`` None,
and ``source`` says production is valued from the extra employed months (x monthly earnings) instead.
The fits' posteriors are independent, so their draws are paired by position (the first chains and draws of
the larger one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from ww_bayes.kinds import kind_of
from ww_bayes.tomlspec import SpecError
from ww_bayes.vocabulary import SAMPLE_DIMS

#: What months 13 .. horizon assume (see the module docstring).
BEYOND_YEAR1 = ("employment_path", "none")
#: The months the hours fits observe.
YEAR1 = tuple(range(1, 13))
#: Levels of the monthly hours (the cost-effectiveness module's names).
LEVELS = ("overall", "by_werkverkenner")
#: What the result says without an hours fit.
WITHOUT_HOURS = (
    "no fit of hours worked: production is valued from the extra employed months (the employment effects "
    "x monthly earnings) instead"
)


@dataclass(frozen=True)
class ProductionHours:
    """Extra hours worked per participant per month, for the value of production.

    ``hours``: ``overall`` (chain, draw, month) and ``by_werkverkenner`` (chain, draw, werkverkenner, month),
    or None without an hours fit (``uses_hours`` False); ``weights``: persons per class of the hours fit;
    ``source``: where the hours come from and what months 13 .. horizon assume (``beyond_year1``), a
    sentence for every table and figure that uses them.
    """

    hours: xr.Dataset | None
    uses_hours: bool
    source: str
    beyond_year1: str
    weights: xr.DataArray | None = None


def production_hours(
    fits: xr.DataTree | list[xr.DataTree],
    contrast: str,
    months: range | tuple[int, ...],
    employment: xr.Dataset | None = None,
    beyond_year1: str = "employment_path",
    names: list[str] | None = None,
) -> ProductionHours:
    """Extra hours per participant in each of ``months`` for ``contrast``, from the fit among ``fits`` that
    offers hours (at most one). ``employment``: monthly employment effects in pp with ``overall`` (chain,
    draw, month) and ``by_werkverkenner`` (..., werkverkenner, month), an ``outcome`` dim allowed (its
    ``employed`` is used); needed for ``beyond_year1 = "employment_path"`` when ``months`` go beyond 12.
    ``names``: the fits' files, for the errors."""
    if beyond_year1 not in BEYOND_YEAR1:
        raise SpecError(f"beyond_year1 must be one of {', '.join(BEYOND_YEAR1)}, got {beyond_year1!r}")
    found = fit_offering(fits, names, "offers_hours", "hours worked")
    if found is None:
        return ProductionHours(None, False, WITHOUT_HOURS, beyond_year1)
    name, tree = found
    offered = kind_of(tree).hours_effects(tree, contrast)
    months = tuple(int(m) for m in months)
    later = [m for m in months if m not in YEAR1]
    year1 = {level: offered.effects[level] for level in LEVELS}
    if later and beyond_year1 == "employment_path":
        if employment is None:
            raise SpecError(
                "months after 12 with beyond_year1 = 'employment_path' need the monthly employment effects "
                "(employment=...): a trajectory fit, or give beyond_year1 = 'none'"
            )
        hours, note = _with_employment_path(year1, _employed(employment), months)
        assumption = (
            f"months 13-{max(months)}: the employment effect x year 1's extra hours per extra employed month "
            f"(assumption: beyond_year1 = 'employment_path'{note})"
        )
    else:
        hours = {level: _spread(effect, months) for level, effect in year1.items()}
        assumption = (f"months 13-{max(months)}: no extra hours (assumption: beyond_year1 = 'none')"
                      if later else "")  # fmt: skip
    source = f"{name}: {offered.source}, spread evenly over months 1-12 (assumption)"
    source += f"; {assumption}" if assumption else ""
    return ProductionHours(xr.Dataset(hours), True, source, beyond_year1, offered.weights)


def fit_offering(
    fits: xr.DataTree | list[xr.DataTree], names: list[str] | None, capability: str, what: str
) -> tuple[str, xr.DataTree] | None:
    """The fit among ``fits`` whose kind has ``capability`` (a flag of
    :class:`ww_bayes.kinds.protocol.ModelKind`), with its name (``names``: the fits' files; default "fit
    1", ...); None when none has it; more than one is refused, naming them as fits of ``what``."""
    fits = [fits] if isinstance(fits, xr.DataTree) else list(fits)
    names = list(names) if names is not None else [f"fit {i + 1}" for i in range(len(fits))]
    offering = [(n, t) for n, t in zip(names, fits, strict=True) if getattr(kind_of(t), capability)]
    if len(offering) > 1:
        raise SpecError(f"more than one fit of {what} ({', '.join(n for n, _ in offering)}): give one")
    return offering[0] if offering else None


def _spread(year1: xr.DataArray, months: tuple[int, ...]) -> xr.DataArray:
    """The year-1 effect spread evenly over months 1-12, zero after."""
    share = [1 / 12 if m in YEAR1 else 0.0 for m in months]
    share = xr.DataArray(share, dims="month", coords={"month": list(months)})
    return (year1 * share).transpose(*SAMPLE_DIMS, ...)


def _employed(employment: xr.Dataset) -> xr.Dataset:
    if "outcome" in employment.dims:
        employment = employment.sel(outcome="employed", drop=True)
    return employment


def paired_draws(a, b):
    """Two posteriors' draws (DataArrays or Datasets) paired by position: the first chains and draws both
    have, labelled as ``a``'s."""
    sizes = {d: min(a.sizes[d], b.sizes[d]) for d in SAMPLE_DIMS}
    a, b = (x.isel({d: slice(0, n) for d, n in sizes.items()}) for x in (a, b))
    b = b.assign_coords({d: a[d].values for d in SAMPLE_DIMS})
    return a, b


def _with_employment_path(
    year1: dict[str, xr.DataArray], employment: xr.Dataset, months: tuple[int, ...]
) -> tuple[dict[str, xr.DataArray], str]:
    """Months 1-12 spread evenly; later months the employment effect times year 1's hours per extra employed
    month (ratio of posterior means, per class; the overall ratio where a class's is not defined)."""
    missing = [m for m in YEAR1 if m not in employment["month"].values]
    if missing:
        raise SpecError(
            f"the employment effects lack months {missing[0]}-12 of year 1: they set the hours per extra "
            "employed month"
        )
    ratios = {}
    for level in LEVELS:
        extra_months = (employment[level].sel(month=list(YEAR1)).sum("month") / 100).mean(SAMPLE_DIMS)
        ratios[level] = (year1[level].mean(SAMPLE_DIMS) / extra_months).where(extra_months > 0)
    if not np.isfinite(float(ratios["overall"])):
        raise SpecError(
            "the year-1 employment effect overall is not positive: hours per extra employed month are not "
            "defined; give beyond_year1 = 'none'"
        )
    undefined = ratios["by_werkverkenner"].isnull()
    fallback = [str(c) for c in ratios["by_werkverkenner"]["werkverkenner"].values[undefined.values]]
    ratios["by_werkverkenner"] = ratios["by_werkverkenner"].fillna(ratios["overall"])
    later = [m for m in months if m not in YEAR1]
    out = {}
    for level in LEVELS:
        spread = _spread(year1[level], months)
        path = employment[level].sel(month=later) / 100 * ratios[level]
        spread, path = paired_draws(spread, path)
        first = spread.sel(month=[m for m in months if m in YEAR1])
        joined = xr.concat([first, path], dim="month").sel(month=list(months))
        out[level] = joined.transpose(*SAMPLE_DIMS, ...)
    note = f"; classes {', '.join(fallback)} at the overall ratio" if fallback else ""
    return out, note
