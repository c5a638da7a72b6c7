"""Extra months in each benefit per participant, month by month: what a government perspective pays besides
WW (sickness benefit ZW, disability benefit WIA, social assistance bijstand). Pure functions over draws,
like :mod:`ww_bayes.cea.analysis`.

The months come from a fit that offers benefit shares (:attr:`ww_bayes.kinds.protocol.ModelKind
.offers_benefit_shares`: the destinations kind): its effect on the share of claimants in each benefit at the
months it observes (``destinations_12m``: month 12; ``destinations_path``: months 6, 12, 18, 24 and 30). An
effect on a share at month m, in pp / 100, is the extra persons in that benefit per participant in month m:
summed over months, the extra benefit-months. Between the months observed the effect is interpolated; the
assumptions are named in the result's ``source`` wherever the months are used:

- before the first month observed: linear from no effect at inflow (month 0: everyone is on WW then, in
  every arm, so every other benefit's effect is 0) to the first month's effect (assumption);
- between two months observed: linear (assumption);
- after the last month observed (:data:`BEYOND_LAST`): ``"hold"``, the last month's effect holds to the
  horizon, or ``"none"``, no effect after it (a bound either way: WIA appears only after 104 weeks of
  sickness, around months 24-30, so a fit of month 12 says nothing of it).

The effects on all benefits and on no benefit add up to zero in every month (every claimant is in one
state): an accounting identity of the shares, kept by the interpolation (it is linear), tested as such.

Without a fit that offers benefit shares, :func:`benefit_months` says so: ``uses_destinations`` False,
``months`` None, and ``source`` says the cost-effectiveness counts WW months only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from ww_bayes.cea.production import fit_offering
from ww_bayes.kinds import kind_of
from ww_bayes.tomlspec import SpecError
from ww_bayes.vocabulary import SAMPLE_DIMS

#: What months after the last one observed assume (see the module docstring).
BEYOND_LAST = ("hold", "none")
#: Levels of the monthly benefit months (the cost-effectiveness module's names).
LEVELS = ("overall", "by_werkverkenner")
#: What the result says without a fit of destinations.
WITHOUT_DESTINATIONS = (
    "no fit of destinations: the cost-effectiveness counts WW months only (no ZW, WIA or bijstand months)"
)


@dataclass(frozen=True)
class BenefitMonths:
    """Extra persons in each benefit per participant in each month (summed over months: extra benefit-months).

    ``months``: ``overall`` (chain, draw, benefit, month) and ``by_werkverkenner`` (chain, draw,
    werkverkenner, benefit, month), or None without a fit of destinations (``uses_destinations`` False);
    ``weights``: persons per class of that fit; ``source``: where the shares come from and what the months
    between and after those observed assume, a sentence for every table and figure that uses them;
    ``fit``: the name the fit was given (its file); ``other_members``: the benefit statuses with a state the
    fit merged into ``other``.
    """

    months: xr.Dataset | None
    uses_destinations: bool
    source: str
    beyond_last: str
    weights: xr.DataArray | None = None
    fit: str = ""
    other_members: tuple[str, ...] = ()


def benefit_months(
    fits: xr.DataTree | list[xr.DataTree],
    contrast: str,
    months: range | tuple[int, ...],
    beyond_last: str = "hold",
    names: list[str] | None = None,
) -> BenefitMonths:
    """Extra persons per participant in each benefit in each of ``months`` for ``contrast``, from the fit
    among ``fits`` that offers benefit shares (at most one). ``names``: the fits' files, for the errors."""
    if beyond_last not in BEYOND_LAST:
        raise SpecError(f"beyond_last must be one of {', '.join(BEYOND_LAST)}, got {beyond_last!r}")
    found = fit_offering(fits, names, "offers_benefit_shares", "destinations")
    if found is None:
        return BenefitMonths(None, False, WITHOUT_DESTINATIONS, beyond_last)
    name, tree = found
    offered = kind_of(tree).benefit_effects(tree, contrast)
    months = tuple(int(m) for m in months)
    if not months or min(months) < 1:
        raise SpecError(f"months must be 1 or later, got {months}")
    observed = [int(m) for m in offered.effects["overall"]["month"].values]
    out = {level: interpolated(offered.effects[level] / 100, months, beyond_last) for level in LEVELS}
    first, last = observed[0], observed[-1]
    # phrases with whole numbers only (no file name, no list): the sentence may leave a secure environment
    # with a cost-effectiveness result (ww_bayes.audit checks it is the package's own prose)
    if len(observed) == 1:
        parts = [f"a destinations fit: the effects on the share of claimants in each benefit at month "
                 f"{first}"]  # fmt: skip
    else:
        parts = [f"a destinations fit: the effects on the share of claimants in each benefit at the months "
                 f"observed from month {first} to month {last}"]  # fmt: skip
    if min(months) < first:
        parts.append(f"months 1-{min(first - 1, max(months))}: linear from no effect at inflow (assumption)")
    if len(observed) > 1:
        parts.append("between the months observed: linear (assumption)")
    if max(months) > last:
        after, end = last + 1, max(months)
        parts.append(
            f"months {after}-{end}: the month-{last} effect holds (assumption: beyond_last = 'hold')"
            if beyond_last == "hold"
            else f"months {after}-{end}: no effect (assumption: beyond_last = 'none')"
        )
    if offered.merged:
        parts.append("'other' is a merged state of sparse benefits (the fit's data notes name them)")
    return BenefitMonths(xr.Dataset(out), True, "; ".join(parts), beyond_last, offered.weights, name,
                         offered.other_members)  # fmt: skip


def interpolated(effects: xr.DataArray, months: tuple[int, ...], beyond_last: str) -> xr.DataArray:
    """``effects`` (..., month) at the months observed, at each of ``months``: linear (xarray's ``interp``)
    from 0 at month 0 to the first month observed and between months observed; after the last, held
    (``"hold"``) or 0 (``"none"``). Exact at the months observed."""
    observed = effects["month"].values.astype(int)
    if np.any(np.diff(observed) <= 0):
        raise SpecError(f"the months observed must increase, got {list(observed)}")
    last = int(observed[-1])
    inflow = xr.zeros_like(effects.isel(month=0)).assign_coords(month=0)
    knots = xr.concat([inflow, effects], dim="month")
    inside = [m for m in months if m <= last]
    within = knots.interp(month=inside) if inside else knots.isel(month=[])
    after = [m for m in months if m > last]
    held = effects.sel(month=[last] * len(after)).assign_coords(month=after)
    out = xr.concat([within, held if beyond_last == "hold" else 0.0 * held], dim="month")
    return out.sel(month=list(months)).transpose(*SAMPLE_DIMS, ...)
