"""A synthetic WW inflow cohort calibrated to the published SEO results, with its ground truth.

How a cohort is made
--------------------
Each person gets an arm (80/10/10 by BSN), a Werkverkenner class, a region, an inflow month and covariates.
Each outcome month has a *generating probability* per person and per arm:

    logit P(employed in month m | arm) = shift + baseline(m) + class + region + covariates
                                         + enforcement(m) [arms with enforcement]
                                         + service(m, class, region) [service arm]

and likewise for WW receipt. Monthly paths come from one latent process per person shared by all arms
(common random numbers): employment uses an AR(1) Gaussian latent (work spells persist), WW uses a single
uniform per person against a non-increasing survival curve (one WW spell that ends at work or at the end
of entitlement), correlated with the employment latent. Because the latent is shared, each person has a
potential outcome under every arm, which gives two truths:

- *generating* effects: differences of the generating probabilities, averaged over the cohort's persons;
- *realised* effects: finite-population differences of the potential outcomes.

Calibration solves, on the drawn cohort, the baseline shifts and the effect sizes so that the generating
values hit the published figures exactly. Every number that is not a published figure is in
:class:`Calibration`, marked 'assumption'.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import brentq
from scipy.special import expit, logit, ndtr
from tqdm.auto import tqdm

from ww_bayes import __version__
from ww_bayes.data import published
from ww_bayes.data.schema import (
    ARM_SHARES,
    ARMS,
    EDUCATION_LEVELS,
    INFLOW_FIRST,
    INFLOW_LAST,
    MONTHS,
    N_MONTHS,
    OUTCOME_PREFIXES,
    REGIONS_NL,
    SEXES,
    WERKVERKENNER_CLASSES,
    month_column,
)
from ww_bayes.estimands import contrast_pp, level_rates

# Rough relative sizes of the 35 labour-market regions (assumption: proportional to their WW inflow,
# rounded; the large urban regions are largest).
_REGION_WEIGHTS = (
    3.2, 3.5, 2.6, 3.4, 3.6, 3.2, 2.1, 3.9, 2.0, 2.9, 1.4, 1.8, 5.7, 1.4, 3.6, 1.9, 8.2, 2.7,
    2.3, 3.0, 5.8, 1.9, 8.3, 1.6, 0.7, 2.1, 3.6, 2.6, 3.5, 4.0, 1.8, 1.6, 1.5, 3.3, 2.4,
)  # fmt: skip


@dataclass(frozen=True)
class Calibration:
    """Every number behind the synthetic cohort, with its source or marked 'assumption'.

    Effects are on the probability scale in percentage points (pp) at month 12 unless said otherwise.
    Replace fields with :func:`dataclasses.replace` to build scenarios.
    """

    # --- published figures (source: SEO evaluation) -------------------------------------------------
    job_rate_m12_online: float = published.JOB_RATE_M12_ONLINE
    service_job_pp_m12: float = published.SERVICE_JOB_PP_M12
    service_ww_pp_m12: float = published.SERVICE_WW_PP_M12
    enforcement_job_pp: float = published.ENFORCEMENT_JOB_PP
    #: persons at or below 50% / above 50% / without a score (published); the split of each half over two
    #: classes is an assumption.
    werkverkenner_counts: dict[str, int] = field(
        default_factory=lambda: {
            "0-25": 12_500,
            "25-50": published.WERKVERKENNER_AT_OR_BELOW_50 - 12_500,
            "50-75": 48_300,
            "75-100": published.WERKVERKENNER_ABOVE_50 - 48_300,
            "none": published.WERKVERKENNER_NO_SCORE,
        }
    )
    arm_shares: dict[str, float] = field(default_factory=lambda: dict(ARM_SHARES))  # design

    # --- assumptions ------------------------------------------------------------------------------
    ww_rate_m12_online: float = 0.36  # assumption: WW receipt at month 12 without service
    enforcement_ww_pp_peak: float = -1.0  # assumption: size of the enforcement WW dip
    enforcement_months: tuple[int, int] = (6, 11)  # published: less WW receipt in months 6-11
    #: relative size of the service effect per class (published direction: job gains largest for strong
    #: classes, WW reductions largest for weak ones; the values are assumptions). Rescaled so that the
    #: cohort-weighted effect equals the published headline.
    service_job_profile: dict[str, float] = field(
        default_factory=lambda: {
            "0-25": 0.5,
            "25-50": 0.75,
            "50-75": 1.15,
            "75-100": 1.3,
            "none": 1.0,
        }
    )
    service_ww_profile: dict[str, float] = field(
        default_factory=lambda: {
            "0-25": 1.7,
            "25-50": 1.45,
            "50-75": 0.8,
            "75-100": 0.5,
            "none": 1.05,
        }
    )
    #: service effect over months: linear ramp to full size by `ramp_end`, full until `fade_start`,
    #: linear fade to zero at `fade_end` (published: effects last about 24 months; shape assumption).
    ramp_end: int = 6
    fade_start: int = 14
    fade_end: int = 24
    #: reference monthly rates (logit-interpolated between the months given; shape assumption, level
    #: calibrated to the published month-12 rate).
    employed_reference: dict[int, float] = field(
        default_factory=lambda: {1: 0.08, 3: 0.30, 6: 0.48, 12: 0.63, 18: 0.68, 24: 0.70, 30: 0.71}
    )
    #: WW receipt: one spell from inflow; entitlement ends for most by month 24 (assumption).
    ww_reference: dict[int, float] = field(
        default_factory=lambda: {
            1: 0.97, 2: 0.90, 3: 0.82, 6: 0.62, 9: 0.47, 12: 0.36, 18: 0.21, 24: 0.10, 25: 0.04, 30: 0.02,
        }
    )  # fmt: skip
    #: class baseline offsets on the logit scale (assumption; the class is a predicted chance of work).
    employed_class_logit: dict[str, float] = field(
        default_factory=lambda: {
            "0-25": -1.3,
            "25-50": -0.6,
            "50-75": 0.2,
            "75-100": 0.8,
            "none": 0.0,
        }
    )
    ww_class_logit: dict[str, float] = field(
        default_factory=lambda: {
            "0-25": 0.8,
            "25-50": 0.4,
            "50-75": -0.1,
            "75-100": -0.4,
            "none": 0.0,
        }
    )
    region_baseline_sd: float = 0.15  # assumption: spread of region baselines (logit)
    region_effect_sd: float = 0.05  # assumption: spread of region deviations of the service effect
    #: spread of region deviations of the enforcement effect (logit; 0 = none, the published finding of no
    #: enforcement effect on jobs; a scenario knob for checking the models against small heterogeneity)
    region_enforcement_sd: float = 0.0
    region_seed: int = 20171201  # regions are structural: the same for every cohort seed
    employment_autocorrelation: float = 0.95  # assumption: month-to-month persistence of work
    ww_employment_correlation: float = 0.6  # assumption: who stays on WW is who does not find work
    data_cutoff: str = "2021-02"  # assumption: last month observed, so late inflow lacks a few months
    #: covariates (assumption): weak classes are older and less educated
    age_mean: dict[str, float] = field(
        default_factory=lambda: {"0-25": 52, "25-50": 46, "50-75": 39, "75-100": 35, "none": 42}
    )
    education_probs: dict[str, tuple[float, float, float]] = field(
        default_factory=lambda: {
            "0-25": (0.45, 0.40, 0.15),
            "25-50": (0.35, 0.45, 0.20),
            "50-75": (0.22, 0.45, 0.33),
            "75-100": (0.18, 0.42, 0.40),
            "none": (0.30, 0.45, 0.25),
        }
    )
    male_share: float = 0.53
    #: covariate effects on the logit (assumption): per year of age above 40, and by education
    employed_age_logit: float = -0.02
    ww_age_logit: float = 0.02
    employed_education_logit: dict[str, float] = field(
        default_factory=lambda: {"low": -0.25, "mid": 0.0, "high": 0.2}
    )
    ww_education_logit: dict[str, float] = field(
        default_factory=lambda: {"low": 0.15, "mid": 0.0, "high": -0.15}
    )

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    def service_time_profile(self) -> np.ndarray:
        """Multiplier of the service effect (logit scale) per month 1..30; 1 at month 12."""
        months = np.asarray(MONTHS, dtype=float)
        ramp = np.clip(months / self.ramp_end, 0, 1)
        fade = np.clip((self.fade_end - months) / (self.fade_end - self.fade_start), 0, 1)
        return ramp * fade

    def enforcement_time_profile(self) -> np.ndarray:
        """Multiplier of the enforcement effect per month 1..30: 1 inside the published months."""
        first, last = self.enforcement_months
        months = np.asarray(MONTHS)
        return ((months >= first) & (months <= last)).astype(float)


DEFAULT_CALIBRATION = Calibration()


@dataclass
class SimulatedCohort:
    """A synthetic cohort (one person per row, schema columns) and its ground truth."""

    data: pd.DataFrame
    truth: xr.DataTree
    calibration: Calibration


def _reference_logits(points: dict[int, float]) -> np.ndarray:
    months = sorted(points)
    return np.interp(MONTHS, months, logit([points[m] for m in months]))


def _region_structure(cal: Calibration) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(cal.region_seed)
    n = len(REGIONS_NL)
    employed = rng.normal(0, cal.region_baseline_sd, n)
    structure = {
        "employed_baseline": employed,
        # regions with more work have shorter WW spells
        "ww_baseline": -0.8 * employed + rng.normal(0, cal.region_baseline_sd / 3, n),
        "employed_effect": rng.normal(0, cal.region_effect_sd, n),
        "ww_effect": rng.normal(0, cal.region_effect_sd, n),
    }
    # drawn last, so the default cohort (sd 0) keeps its regions
    for prefix in OUTCOME_PREFIXES:
        structure[f"{prefix}_enforcement"] = (
            rng.normal(0, cal.region_enforcement_sd, n) if cal.region_enforcement_sd > 0 else np.zeros(n)
        )
    return structure


def _draw_persons(n: int, rng: np.random.Generator, cal: Calibration) -> pd.DataFrame:
    arm = rng.choice(len(ARMS), n, p=[cal.arm_shares[a] for a in ARMS])
    counts = np.array([cal.werkverkenner_counts[c] for c in WERKVERKENNER_CLASSES], dtype=float)
    werkverkenner = rng.choice(len(WERKVERKENNER_CLASSES), n, p=counts / counts.sum())
    weights = np.asarray(_REGION_WEIGHTS)
    region = rng.choice(len(REGIONS_NL), n, p=weights / weights.sum())
    inflow_months = pd.period_range(INFLOW_FIRST, INFLOW_LAST, freq="M")
    inflow = rng.integers(0, len(inflow_months), n)
    age_mean = np.array([cal.age_mean[c] for c in WERKVERKENNER_CLASSES])[werkverkenner]
    age = np.clip(np.rint(rng.normal(age_mean, 10.0)), 18, 66).astype(np.int16)
    sex = (rng.random(n) < cal.male_share).astype(np.int8)
    education_cdf = np.cumsum([cal.education_probs[c] for c in WERKVERKENNER_CLASSES], axis=1)[werkverkenner]
    education = (rng.random(n)[:, None] > education_cdf[:, :-1]).sum(axis=1)
    return pd.DataFrame(
        {
            "arm": arm,
            "werkverkenner": werkverkenner,
            "region": region,
            "inflow": inflow,
            "age": age,
            "sex": sex,
            "education": education,
        }
    )


def _person_logits(persons: pd.DataFrame, cal: Calibration, regions: dict) -> dict[str, np.ndarray]:
    """Person-level logit offsets (class + region + covariates) per outcome, without month or arm."""
    wv = persons["werkverkenner"].to_numpy()
    region = persons["region"].to_numpy()
    age_over_40 = persons["age"].to_numpy() - 40.0
    education = persons["education"].to_numpy()
    out = {}
    for prefix in OUTCOME_PREFIXES:
        cls = getattr(cal, f"{prefix}_class_logit")
        edu = getattr(cal, f"{prefix}_education_logit")
        out[prefix] = (
            np.array([cls[c] for c in WERKVERKENNER_CLASSES])[wv]
            + regions[f"{prefix}_baseline"][region]
            + getattr(cal, f"{prefix}_age_logit") * age_over_40
            + np.array([edu[e] for e in EDUCATION_LEVELS])[education]
        )
    return out


def _solve_shift(offsets: np.ndarray, target: float) -> float:
    """The logit shift s with mean(expit(s + offsets)) == target."""
    return brentq(lambda s: expit(s + offsets).mean() - target, -15, 15, xtol=1e-12)


def _solve_effect(eta: np.ndarray, extra: np.ndarray, target_pp: float) -> float:
    """The logit effect l with mean(expit(eta + l + extra) - expit(eta)) == target_pp / 100."""
    if target_pp == 0 and not np.any(extra):
        return 0.0  # exactly; with region deviations (extra) the class effect must offset their mean
    base = expit(eta).mean()
    return brentq(lambda lam: expit(eta + lam + extra).mean() - base - target_pp / 100, -10, 10, xtol=1e-12)


def _calibrate(persons: pd.DataFrame, cal: Calibration, offsets: dict, regions: dict) -> dict:
    """Solve baseline shifts and effect sizes so the generating values hit the calibration targets."""
    wv = persons["werkverkenner"].to_numpy()
    region = persons["region"].to_numpy()
    m12 = MONTHS.index(12)
    enforcement_peak = MONTHS.index(cal.enforcement_months[0] + 2)
    params: dict[str, object] = {}
    for prefix, target, headline, profile in (
        ("employed", cal.job_rate_m12_online, cal.service_job_pp_m12, cal.service_job_profile),
        ("ww", cal.ww_rate_m12_online, cal.service_ww_pp_m12, cal.service_ww_profile),
    ):
        reference = _reference_logits(getattr(cal, f"{prefix}_reference"))
        shift = _solve_shift(reference[m12] + offsets[prefix], target)
        eta12 = shift + reference[m12] + offsets[prefix]
        enforcement_pp = cal.enforcement_job_pp if prefix == "employed" else cal.enforcement_ww_pp_peak
        eta_peak = shift + reference[enforcement_peak] + offsets[prefix]
        enforcement = _solve_effect(eta_peak, np.zeros_like(eta_peak), enforcement_pp)
        # class targets: profile rescaled so the cohort-weighted effect is the published headline
        shares = np.bincount(wv, minlength=len(WERKVERKENNER_CLASSES)) / len(wv)
        weights = np.array([profile[c] for c in WERKVERKENNER_CLASSES])
        class_pp = headline * weights / float(shares @ weights)
        region_dev = regions[f"{prefix}_effect"][region]
        service = np.zeros(len(WERKVERKENNER_CLASSES))
        for k in range(len(WERKVERKENNER_CLASSES)):
            members = wv == k
            if members.any():
                service[k] = _solve_effect(eta12[members], region_dev[members], class_pp[k])
        params[prefix] = {
            "reference": reference,
            "shift": shift,
            "enforcement": enforcement,
            "service_class": service,
            "service_class_pp": class_pp,
            "region_dev": regions[f"{prefix}_effect"],
            "region_enforcement_dev": regions[f"{prefix}_enforcement"],
        }
    return params


def _observed_mask(persons: pd.DataFrame, cal: Calibration) -> np.ndarray:
    """(n, 30) True where the month is observed by the data cutoff."""
    first = pd.Period(INFLOW_FIRST, freq="M")
    cutoff = pd.Period(cal.data_cutoff, freq="M")
    months_left = (cutoff - first).n - persons["inflow"].to_numpy()  # last observed month - 1
    return np.asarray(MONTHS)[None, :] <= months_left[:, None] + 1


def _arm_logits(eta: np.ndarray, p: dict, month_index: int, cal: Calibration, wv, region) -> list:
    """Logits per arm (ARMS order) for one month."""
    enforcement = (p["enforcement"] + p["region_enforcement_dev"][region]) * cal.enforcement_time_profile()[
        month_index
    ]
    service = (p["service_class"][wv] + p["region_dev"][region]) * cal.service_time_profile()[month_index]
    return [eta + enforcement + service, eta + enforcement, eta]


def simulate_cohort(
    n: int = published.N_PERSONS,
    seed: int = 1,
    calibration: Calibration = DEFAULT_CALIBRATION,
    progress: bool = False,
) -> SimulatedCohort:
    """Simulate a cohort of ``n`` persons, deterministic per ``seed``.

    Returns the data (schema columns, one row per person) and its truth (a DataTree, see
    :func:`truth_effects`). Rates are probabilities; effects in the truth are in percentage points.
    """
    if n < 100:
        raise ValueError(f"n must be at least 100 persons, got {n}")
    cal = calibration
    rng = np.random.default_rng(seed)
    persons = _draw_persons(n, rng, cal)
    regions = _region_structure(cal)
    offsets = _person_logits(persons, cal, regions)
    params = _calibrate(persons, cal, offsets, regions)
    wv = persons["werkverkenner"].to_numpy()
    region = persons["region"].to_numpy()
    arm = persons["arm"].to_numpy()
    n_cells = len(WERKVERKENNER_CLASSES) * len(REGIONS_NL)
    cell = wv * len(REGIONS_NL) + region
    observed = _observed_mask(persons, cal)

    shape = (len(OUTCOME_PREFIXES), len(ARMS), n_cells, N_MONTHS)
    generating_sum = np.zeros(shape)
    realised_sum = np.zeros(shape)
    columns: dict[str, pd.arrays.IntegerArray] = {}
    bar = tqdm(total=2 * N_MONTHS, desc="monthly paths", unit="month", disable=not progress)

    def record(k_outcome: int, t: int, probs: list[np.ndarray], outcomes: list[np.ndarray], prefix):
        for a in range(len(ARMS)):
            generating_sum[k_outcome, a, :, t] = np.bincount(cell, probs[a], minlength=n_cells)
            realised_sum[k_outcome, a, :, t] = np.bincount(cell, outcomes[a], minlength=n_cells)
        status = np.choose(arm, outcomes).astype(np.int8)
        columns[month_column(prefix, MONTHS[t])] = pd.arrays.IntegerArray(status, ~observed[:, t])
        bar.update()

    # employment: AR(1) latent shared by the arms; work when Phi(z) < P(work)
    rho = cal.employment_autocorrelation
    p = params["employed"]
    z = rng.standard_normal(n)
    z_month12 = z
    for t in range(N_MONTHS):
        if t > 0:
            z = rho * z + np.sqrt(1 - rho**2) * rng.standard_normal(n)
        if MONTHS[t] == 12:
            z_month12 = z
        u = ndtr(z)
        eta = p["shift"] + p["reference"][t] + offsets["employed"]
        probs = [expit(x) for x in _arm_logits(eta, p, t, cal, wv, region)]
        record(0, t, probs, [u < q for q in probs], "employed")

    # WW receipt: one uniform per person, correlated with the work latent; WW while u < S(t), with
    # S non-increasing over months (one spell, ending at work or at the end of entitlement)
    c = cal.ww_employment_correlation
    u_ww = ndtr(c * z_month12 + np.sqrt(1 - c**2) * rng.standard_normal(n))
    u_ww = 1 - u_ww  # a high work latent (no work) means a low u: stays on WW
    p = params["ww"]
    survival = [np.ones(n) for _ in ARMS]
    for t in range(N_MONTHS):
        eta = p["shift"] + p["reference"][t] + offsets["ww"]
        survival = [
            np.minimum(s, expit(x))
            for s, x in zip(survival, _arm_logits(eta, p, t, cal, wv, region), strict=True)
        ]
        record(1, t, survival, [u_ww < s for s in survival], "ww")
    bar.close()

    data = _assemble(persons, columns)
    truth = _truth_tree(generating_sum, realised_sum, cell, n_cells, params, cal, seed, n)
    return SimulatedCohort(data=data, truth=truth, calibration=cal)


def _assemble(persons: pd.DataFrame, columns: dict) -> pd.DataFrame:
    inflow_months = pd.period_range(INFLOW_FIRST, INFLOW_LAST, freq="M").strftime("%Y-%m")
    frame = {
        "person_id": np.arange(1, len(persons) + 1, dtype=np.int64),
        "arm": pd.Categorical.from_codes(persons["arm"], categories=ARMS),
        "werkverkenner": pd.Categorical.from_codes(
            persons["werkverkenner"], categories=WERKVERKENNER_CLASSES
        ),
        "region": pd.Categorical.from_codes(persons["region"], categories=REGIONS_NL),
        "inflow_month": np.asarray(inflow_months)[persons["inflow"].to_numpy()],
        "age": persons["age"].astype("Int16"),
        "sex": pd.Categorical.from_codes(persons["sex"], categories=SEXES),
        "education": pd.Categorical.from_codes(persons["education"], categories=EDUCATION_LEVELS),
    }
    frame.update(columns)
    return pd.DataFrame(frame)


def _truth_tree(generating_sum, realised_sum, cell, n_cells, params, cal, seed, n) -> xr.DataTree:
    n_persons = np.bincount(cell, minlength=n_cells).reshape(len(WERKVERKENNER_CLASSES), len(REGIONS_NL))
    dims = ("outcome", "arm", "werkverkenner", "region", "month")
    shape = (
        len(OUTCOME_PREFIXES),
        len(ARMS),
        len(WERKVERKENNER_CLASSES),
        len(REGIONS_NL),
        N_MONTHS,
    )
    coords = {
        "outcome": list(OUTCOME_PREFIXES),
        "arm": list(ARMS),
        "werkverkenner": list(WERKVERKENNER_CLASSES),
        "region": list(REGIONS_NL),
        "month": list(MONTHS),
    }
    with np.errstate(invalid="ignore", divide="ignore"):
        denominator = n_persons[None, None, :, :, None]
        rates = xr.Dataset(
            {
                "rate_generating": (dims, generating_sum.reshape(shape) / denominator),
                "rate_realised": (dims, realised_sum.reshape(shape) / denominator),
                "n_persons": (("werkverkenner", "region"), n_persons),
            },
            coords=coords,
        )
    rates["rate_generating"].attrs["description"] = "mean generating probability under each arm"
    rates["rate_realised"].attrs["description"] = "mean potential outcome under each arm"
    parameters = xr.Dataset(
        {
            "baseline_shift": ("outcome", [params[o]["shift"] for o in OUTCOME_PREFIXES]),
            "enforcement_logit": ("outcome", [params[o]["enforcement"] for o in OUTCOME_PREFIXES]),
            "service_logit_m12": (
                ("outcome", "werkverkenner"),
                [params[o]["service_class"] for o in OUTCOME_PREFIXES],
            ),
            "service_class_target_pp_m12": (
                ("outcome", "werkverkenner"),
                [params[o]["service_class_pp"] for o in OUTCOME_PREFIXES],
            ),
            "service_region_logit_deviation": (
                ("outcome", "region"),
                [params[o]["region_dev"] for o in OUTCOME_PREFIXES],
            ),
        },
        coords={k: coords[k] for k in ("outcome", "werkverkenner", "region")},
    )
    tree = truth_effects(rates)
    tree["rates"] = xr.DataTree(rates)
    tree["parameters"] = xr.DataTree(parameters)
    tree.attrs.update(
        {
            "title": "ww_bayes synthetic cohort: true effects",
            "effect_units": "percentage points (pp), probability scale",
            "seed": seed,
            "n_persons": n,
            "calibration": cal.to_json(),
            "source": published.SOURCE,
            "ww_bayes_version": __version__,
        }
    )
    return tree


def truth_effects(rates: xr.Dataset) -> xr.DataTree:
    """Contrast effects (pp) per cell, Werkverkenner class, region and overall from per-arm rates.

    ``rates`` has ``rate_generating`` and ``rate_realised`` (outcome, arm, werkverkenner, region,
    month) and ``n_persons`` (werkverkenner, region); see :mod:`ww_bayes.estimands`.
    """
    groups: dict[str, dict[str, xr.DataArray]] = {}
    for kind in ("generating", "realised"):
        for level, rate in level_rates(rates[f"rate_{kind}"], rates["n_persons"]).items():
            groups.setdefault(level, {})[f"{kind}_pp"] = contrast_pp(rate)
    tree = xr.DataTree()
    for level, variables in groups.items():
        tree[f"effects/{level}"] = xr.DataTree(xr.Dataset(variables))
    return tree


def truth_path(data_path: str | Path) -> Path:
    """Where the truth of a simulated cohort file is saved: beside it, ``<stem>.truth.nc``."""
    data_path = Path(data_path)
    return data_path.with_name(data_path.stem + ".truth.nc")
