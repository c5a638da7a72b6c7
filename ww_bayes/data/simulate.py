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
:class:`Calibration`, marked 'assumption'. :data:`SCENARIOS` names calibrations whose effects are shaped
otherwise (an early fade, a late onset, a negative class, strong regional heterogeneity, unequal arms, and
these together), for checking models outside the default's shapes.

Benefit status and hours follow from each arm's paths, with draws of their own (separate random streams,
so the employment and WW columns and their truth are the same with or without them):

- when WW ends without work, a claimant may go to ZW (a sickness that began 13 weeks earlier, at a monthly
  hazard per person on WW, calibrated to the ZW share at month 12), leave it for work, on recovery or at
  the WIA assessment after 104 weeks of sickness (WIA, or below 35% nothing: ``wia_35min``); some whose WW
  ran out get bijstand in months without work; everyone else off WW has no benefit (``none``);
- hours in months 1-12 are zero exactly without a month of work, else weekly hours (part-time or
  full-time) x months worked.

Their truth (``states``, ``hours``) holds realised values: see :func:`_after_ww_truth`.
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
    ARM_CONTROL_NONE,
    ARM_SERVICE,
    ARM_SHARES,
    ARMS,
    BENEFIT_PREFIX,
    BENEFIT_STATUSES,
    BENEFIT_WW,
    EDUCATION_LEVELS,
    HOURS_Y1,
    HOURS_Y1_MONTHS,
    INFLOW_FIRST,
    INFLOW_LAST,
    MONTHS,
    N_MONTHS,
    OUTCOME_PREFIXES,
    REGIONS_NL,
    SEXES,
    WERKVERKENNER_CLASSES,
    WIA_35MIN,
    WORK_STATES,
    WW_EXIT_DESTINATIONS,
    month_column,
)
from ww_bayes.derived import OVERALL
from ww_bayes.estimands import (
    contrast_pp,
    cumulative_incidence,
    decompose_effect,
    hours_effects,
    level_rates,
    share_effects_pp,
)

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
    Replace fields with :func:`dataclasses.replace` to build scenarios (named ones: :data:`SCENARIOS`).
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
    #: service effect over months: linear ramp from zero at `service_onset` to full size by `ramp_end`, full
    #: until `fade_start`, linear fade to zero at `fade_end` (published: effects last about 24 months; shape
    #: assumption). The profile is scaled to 1 at month 12, where the published headline is calibrated.
    ramp_end: int = 6
    fade_start: int = 14
    fade_end: int = 24
    #: scenario assumption: the month before which the service has no effect (0: it acts from month 1).
    service_onset: int = 0
    #: scenario assumption: a class's own `fade_end` (classes not listed fade at `fade_end`), so the class
    #: curves differ in shape, not only in size. Each must be after month 12.
    service_fade_end_by_class: dict[str, int] = field(default_factory=dict)
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

    # --- benefit status after WW: ZW, WIA, bijstand (benefit_m*, wia_35min) ----------------------------
    # Drawn from each arm's WW and employment paths (which stay as they are): the month WW ends is fixed,
    # this part says where a claimant goes then. A WW spell is one spell, so nobody returns to WW.
    #: share in ZW (sickness benefit) at month 12 without service (published, UWV Kennisverslag 2016-1:
    #: about 5% of WW claimants move to ZW within a year; used as the share at month 12)
    zw_rate_m12_online: float = 0.05
    #: ZW share at month 12 per class, relative (assumption: the weak classes hold more claimants who feel too
    #: ill to work, of whom up to one in five move to ZW (Kennisverslag): about 10% in 0-25, few in 75-100).
    #: Rescaled so the cohort-weighted share is ``zw_rate_m12_online``.
    zw_class_profile: dict[str, float] = field(
        default_factory=lambda: {"0-25": 2.0, "25-50": 1.45, "50-75": 0.85, "75-100": 0.3, "none": 1.05}
    )
    #: months of sickness before ZW replaces WW (published rule: a sick WW claimant keeps WW for 13 weeks),
    #: so a sickness that ends WW in month m began in month m - 3
    zw_waiting_months: int = 3
    #: months of sickness before a WIA assessment (published rule: 104 weeks); WIA starts in month onset + 24
    wia_waiting_months: int = 24
    #: who leaves WW for ZW does not work in the first months of it, unless recovered before (assumption:
    #: sick for over 13 weeks already; it keeps the flow into ZW by month 12 near the share in ZW then)
    zw_months_without_work: int = 6
    #: monthly chance that a claimant in ZW recovers (assumption: ZW for claimants without an employer is
    #: long; a ZW spell also ends when work starts, and at the WIA assessment)
    zw_recovery_hazard: float = 0.03
    #: share of WIA assessments below 35% incapacity, "WIA 35-min": no WIA benefit (assumption: a bit under
    #: half, the order of UWV's figures for claimants without an employer)
    wia_35min_share: float = 0.45
    #: service effect on the ZW share at month 12 per class, pp (assumption: claimants who feel too ill to
    #: work report sick once invited for a meeting, in the weak classes: about a third of their larger WW
    #: reduction; none in the others)
    service_zw_pp_m12: dict[str, float] = field(
        default_factory=lambda: {"0-25": 1.3, "25-50": 0.9, "50-75": 0.0, "75-100": 0.0, "none": 0.0}
    )
    #: enforcement effect on the ZW share at month 12, pp (assumption: none, as on jobs)
    enforcement_zw_pp_m12: float = 0.0
    #: WW lasts at least 3 months (published rule), so leaving it later without work may be the end of
    #: entitlement
    ww_min_months: int = 3
    #: of those who leave WW without work after ``ww_min_months``, the share who then get bijstand whenever
    #: they do not work (assumption: bijstand is means-tested on household income and assets, so only some;
    #: more in the weak classes)
    bijstand_share: dict[str, float] = field(
        default_factory=lambda: {"0-25": 0.30, "25-50": 0.22, "50-75": 0.12, "75-100": 0.08, "none": 0.16}
    )

    # --- hours worked in the 12 months after inflow (hours_y1) -----------------------------------------
    # Hours are zero exactly when a person is never employed in months 1-12, and otherwise weekly hours x
    # months worked: a part-time / full-time mixture, so hours given any are far from log-normal.
    #: chance of full-time work per class at 6 months employed, logit (assumption: the weak classes, older
    #: and less educated, more often find part-time work)
    full_time_logit: dict[str, float] = field(
        default_factory=lambda: {"0-25": -1.0, "25-50": -0.6, "50-75": -0.1, "75-100": 0.3, "none": -0.3}
    )
    #: change of that logit per month employed more (assumption: who works more months more often works
    #: full time)
    full_time_months_logit: float = 0.2
    #: weekly hours, part-time: lower + (upper - lower) x Beta(2.5, 2) (assumption: small jobs to 4 days)
    part_time_hours: tuple[float, float] = (8.0, 32.0)
    #: weekly hours, full-time: lower + (upper - lower) x Beta(4, 1.5) (assumption: Dutch full-time
    #: contracts of 36-40 hours)
    full_time_hours: tuple[float, float] = (36.0, 40.0)
    #: service: weekly hours relative to the arms without service (assumption: slightly more hours, beside
    #: the months of work its job effect adds); enforcement: none (published: no significant effect of
    #: enforcement alone on jobs or total hours in year 1)
    service_weekly_hours_relative: float = 0.01
    #: the first month of work is worked partly: a share of it up to this (assumption: jobs start mid-month)
    first_month_max_unworked: float = 0.9
    #: cap on hours in 12 months (assumption: 40 hours x 52 weeks plus a little overtime)
    hours_y1_cap: float = 2_100.0

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    def service_time_profile(self, werkverkenner: str | None = None) -> np.ndarray:
        """Multiplier of the service effect (logit scale) per month 1..30 for a Werkverkenner class (None:
        the classes without a fade of their own); 1 at month 12."""
        months = np.asarray(MONTHS, dtype=float)
        fade_end = self.service_fade_end_by_class.get(werkverkenner, self.fade_end)
        ramp = np.clip((months - self.service_onset) / (self.ramp_end - self.service_onset), 0, 1)
        fade = np.clip((fade_end - months) / (fade_end - self.fade_start), 0, 1)
        profile = ramp * fade
        at_12 = profile[MONTHS.index(12)]
        if not at_12 > 0:
            raise ValueError(
                f"the service effect of class {werkverkenner} is zero at month 12, where the headline is "
                f"calibrated (service_onset {self.service_onset}, ramp_end {self.ramp_end}, fade_start "
                f"{self.fade_start}, fade_end {fade_end})"
            )
        return profile / at_12

    def service_time_profiles(self) -> np.ndarray:
        """(class, month) multipliers of the service effect, classes in WERKVERKENNER_CLASSES order."""
        return np.stack([self.service_time_profile(c) for c in WERKVERKENNER_CLASSES])

    def enforcement_time_profile(self) -> np.ndarray:
        """Multiplier of the enforcement effect per month 1..30: 1 inside the published months."""
        first, last = self.enforcement_months
        months = np.asarray(MONTHS)
        return ((months >= first) & (months <= last)).astype(float)


DEFAULT_CALIBRATION = Calibration()

#: The service effect fades from its peak at month 3-4 steadily to zero at month 24 (no plateau).
_FADE_BY_24 = {"ramp_end": 3, "fade_start": 4, "fade_end": 24}
#: Unequal arm shares (the design is 80/10/10): a scheme with larger control groups.
_UNEQUAL_ARMS = {"service": 0.6, "control_enforcement": 0.25, "control_none": 0.15}
#: The strongest class is held back by the service (lock-in: counselling delays the job search of those
#: who would have found work anyway): fewer jobs and more WW; the other classes' profiles as calibrated.
_NEGATIVE_CLASS = {
    "service_job_profile": dict(DEFAULT_CALIBRATION.service_job_profile, **{"75-100": -0.5}),
    "service_ww_profile": dict(DEFAULT_CALIBRATION.service_ww_profile, **{"75-100": -0.5}),
}

#: Named calibrations whose effects are shaped otherwise than the default's (scenario assumptions, each
#: stated here and not fitted to any data): for checking that a model holds outside the default simulator.
#: Every scenario keeps the published month-12 headlines (cohort-weighted) and the baselines.
SCENARIOS: dict[str, Calibration] = {
    "default": DEFAULT_CALIBRATION,
    # the service effect fades steadily from month 4 to zero at month 24
    "fade_by_24": dataclasses.replace(DEFAULT_CALIBRATION, **_FADE_BY_24),
    # the service effect starts at month 9, is full from month 12 to 20 and gone at month 30
    "late_onset": dataclasses.replace(
        DEFAULT_CALIBRATION, service_onset=9, ramp_end=12, fade_start=20, fade_end=30
    ),
    # the strongest class has a negative service effect (fewer jobs, more WW)
    "negative_class": dataclasses.replace(DEFAULT_CALIBRATION, **_NEGATIVE_CLASS),
    # strong regional heterogeneity: region deviations of the service effect with sd 0.25 on the logit
    # (5x the default's; about 6 pp at a 50% rate, against a 2 pp headline) and of enforcement with sd 0.1
    "regional": dataclasses.replace(DEFAULT_CALIBRATION, region_effect_sd=0.25, region_enforcement_sd=0.1),
    # arm shares 60/25/15 instead of 80/10/10
    "unequal_arms": dataclasses.replace(DEFAULT_CALIBRATION, arm_shares=_UNEQUAL_ARMS),
    # several at once: the fade by month 24, earlier in the strong classes (by month 16-18), the negative
    # class, regional heterogeneity (sd 0.15 service, 0.05 enforcement) and the 60/25/15 arms
    "combined": dataclasses.replace(
        DEFAULT_CALIBRATION,
        **_FADE_BY_24,
        **_NEGATIVE_CLASS,
        service_fade_end_by_class={"50-75": 18, "75-100": 16},
        region_effect_sd=0.15,
        region_enforcement_sd=0.05,
        arm_shares=_UNEQUAL_ARMS,
    ),
}


#: The attribute of a simulated cohort's table (kept in its Parquet file) that says it is synthetic.
SYNTHETIC_ATTR = "ww_bayes_synthetic"


def synthetic_origin(df: pd.DataFrame, path=None) -> str:
    """Where a synthetic cohort came from ("" for real data): the table's :data:`SYNTHETIC_ATTR` (a
    Parquet file keeps it), or a truth file beside the data file (a CSV does not keep it)."""
    origin = str(df.attrs.get(SYNTHETIC_ATTR, ""))
    if not origin and path is not None and truth_path(path).is_file():
        origin = f"ww_bayes simulator (its truth file {truth_path(path).name} is beside the data)"
    return origin


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
    service_profile = cal.service_time_profiles()[wv, month_index]  # per person: the class's profile
    service = (p["service_class"][wv] + p["region_dev"][region]) * service_profile
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
    # each arm's paths for the benefit status and hours: employment as bits (bit t: month t + 1), months on WW
    employed_bits = np.zeros((len(ARMS), n), dtype=np.uint32)
    ww_months = np.zeros((len(ARMS), n), dtype=np.int64)
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
        employed = [u < q for q in probs]
        record(0, t, probs, employed, "employed")
        for a, works in enumerate(employed):
            employed_bits[a] |= works.astype(np.uint32) << np.uint32(t)

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
        on_ww = [u_ww < s for s in survival]
        record(1, t, survival, on_ww, "ww")
        for a, on in enumerate(on_ww):
            ww_months[a] += on
    bar.close()

    paths = [_ArmPaths(employed_bits[a], ww_months[a] + 1) for a in range(len(ARMS))]
    after_ww = _simulate_after_ww(persons, paths, observed, cal, seed)
    data = _assemble(persons, {**columns, **after_ww.columns})
    truth = _truth_tree(generating_sum, realised_sum, cell, n_cells, params, cal, seed, n)
    for name, node in _after_ww_truth(after_ww, truth["rates"]["n_persons"]).items():
        truth[name] = node
    data.attrs[SYNTHETIC_ATTR] = f"ww_bayes {__version__} simulator, {n:,} persons, seed {seed}"
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


# --- after WW: benefit status, the WIA assessment and hours, from each arm's paths ---------------------
# Each arm's employment and WW paths are potential outcomes (common random numbers); the benefit status
# and hours are functions of them and of person-level draws shared by the arms, so every person has a
# state path and hours under every arm too.

#: Keys of the random streams of the benefit status and the hours (``default_rng([seed, key])``): apart
#: from the main stream, so the employment and WW columns and their truth stay the same for a seed.
_BENEFIT_STREAM = 1
_HOURS_STREAM = 2
_STATUS_CODE = {status: code for code, status in enumerate(BENEFIT_STATUSES)}
#: a status code's place in WW_EXIT_DESTINATIONS (-1 for WW, never a destination)
_DESTINATION_OF_CODE = np.array(
    [WW_EXIT_DESTINATIONS.index(s) if s != BENEFIT_WW else -1 for s in BENEFIT_STATUSES]
)
_NEVER = 10 * N_MONTHS  # a month after every simulated month
_WEEKS_PER_MONTH = 52.18 / 12


@dataclass(frozen=True)
class _ArmPaths:
    """One arm's paths for every person: employment as bits (bit t: month t + 1) and the first month off WW
    (``N_MONTHS + 1`` when on WW in every month: one WW spell from inflow)."""

    employed_bits: np.ndarray
    first_off_ww: np.ndarray

    def employed_in(self, month: int | np.ndarray) -> np.ndarray:
        """Employed in ``month`` (one month, or one per person; months after the last: False)."""
        shift = np.asarray(np.minimum(month, N_MONTHS + 1) - 1, dtype=np.uint32)
        return ((self.employed_bits >> shift) & 1).astype(bool)

    def employed_between(self, first: np.ndarray, last: np.ndarray) -> np.ndarray:
        """Employed in any month of ``first`` .. ``last`` (per person; 1 <= first <= last <= N_MONTHS + 1)."""
        width = np.asarray(last - first + 1, dtype=np.uint32)
        window = (np.uint32(1) << width) - np.uint32(1)
        return ((self.employed_bits >> np.asarray(first - 1, dtype=np.uint32)) & window) != 0

    def first_employed_after(self, month: np.ndarray) -> np.ndarray:
        """Per person, the first month after ``month`` in work (``_NEVER`` when none)."""
        keep = np.asarray(np.minimum(month, N_MONTHS + 1), dtype=np.uint32)
        later = self.employed_bits & ~((np.uint32(1) << keep) - np.uint32(1))
        lowest = later & (~later + np.uint32(1))
        first = np.log2(np.maximum(lowest, 1)).astype(np.int64) + 1
        return np.where(later == 0, _NEVER, first)

    def employed_matrix(self) -> np.ndarray:
        """(month, person) 0/1 as uint8: employed in each month (a month's persons contiguous)."""
        out = np.empty((N_MONTHS, len(self.employed_bits)), dtype=np.uint8)
        for t in range(N_MONTHS):
            out[t] = (self.employed_bits >> np.uint32(t)) & np.uint32(1)
        return out

    def months_employed(self, months: tuple[int, ...]) -> np.ndarray:
        mask = np.uint32(sum(1 << (m - 1) for m in months))
        return np.bitwise_count(self.employed_bits & mask).astype(np.int64)


@dataclass
class _AfterWW:
    """The new columns of each person's own arm, and per arm the counts their truth is made of."""

    columns: dict[str, object]
    states: np.ndarray  # persons (arm, cell, month, benefit, work)
    first_exits: np.ndarray  # first exits from WW (arm, cell, month, exit_to, wia_35min)
    on_ww_before: np.ndarray  # persons on WW through the month before (arm, cell, month)
    hours: np.ndarray  # (arm, cell, [persons with hours, their hours])
    sickness_hazard: np.ndarray  # monthly chance that a WW claimant falls sick for good (arm, class)
    zw_target_m12: np.ndarray  # ZW share at month 12 aimed at (arm, class)


@dataclass(frozen=True)
class _SickExits:
    """Who can leave WW for ZW under one arm, and how likely per unit of the sickness hazard."""

    eligible: np.ndarray  # no work from the sickness's first month until months after WW ends
    per_hazard: np.ndarray  # persons on WW when the sickness began / eligible exits, in the person's class
    first_work: np.ndarray  # the first month in work after WW ends (``_NEVER`` when none)


def _sick_exits(p: _ArmPaths, wv: np.ndarray, cal: Calibration) -> _SickExits:
    """A sickness that begins in month m ends WW in month m + 3 (13 weeks); it can be one only where there is
    no work from month m until ``zw_months_without_work`` months after WW ends. It strikes everyone on WW
    in month m alike (a hazard): spread over the WW exits of month m + 3 that can be one, an exit is a
    sickness with chance hazard x (persons on WW in month m / such exits), per class."""
    exit_month = p.first_off_ww
    wait = cal.zw_waiting_months
    can = (exit_month > wait) & (exit_month <= N_MONTHS)
    first = np.where(can, exit_month - wait, 1)
    last = np.where(can, np.minimum(exit_month + cal.zw_months_without_work - 1, N_MONTHS + 1), 1)
    eligible = can & ~p.employed_between(first, last)
    key = wv * (N_MONTHS + 1) + exit_month - 1
    shape = (len(WERKVERKENNER_CLASSES), N_MONTHS + 1)
    spells = np.bincount(key, minlength=np.prod(shape)).reshape(shape)
    on_ww_before = np.cumsum(spells[:, ::-1], axis=1)[:, ::-1]  # by month: WW ends in that month or later
    on_ww_at_onset = np.zeros(shape)  # by the month WW ends: persons on WW in the sickness's first month
    on_ww_at_onset[:, wait:] = on_ww_before[:, 1 : shape[1] - wait + 1]
    exits = np.bincount(key[eligible], minlength=np.prod(shape)).reshape(shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(exits > 0, on_ww_at_onset / exits, 0.0)
    per_hazard = np.where(eligible, ratio[wv, exit_month - 1], 0.0)
    return _SickExits(eligible, per_hazard, p.first_employed_after(exit_month))


def _solve_sickness_hazards(
    exits: list[_SickExits], paths: list[_ArmPaths], wv: np.ndarray, cal: Calibration
) -> tuple[np.ndarray, np.ndarray]:
    """The sickness hazard per arm and class that puts the expected ZW share at month 12 on its target:
    the class targets (``zw_rate_m12_online`` x the rescaled profile) without service or enforcement, plus
    ``service_zw_pp_m12`` / ``enforcement_zw_pp_m12`` in the arms with them.

    In ZW at month 12: an eligible exit in month T <= 12 that is a sickness (chance min(1, hazard x
    per_hazard)), with no work through month 12 and D >= 13 - T months before recovery (D geometric,
    ``zw_recovery_hazard``). The expected share rises with the hazard and is solved for it; when even
    chance 1 for every eligible exit falls short (a small cohort), that maximum is used.
    """
    n_classes = len(WERKVERKENNER_CLASSES)
    counts = np.bincount(wv, minlength=n_classes)
    profile = np.array([cal.zw_class_profile[c] for c in WERKVERKENNER_CLASSES])
    online = cal.zw_rate_m12_online * profile / float(counts @ profile / len(wv))
    service = np.array([cal.service_zw_pp_m12[c] for c in WERKVERKENNER_CLASSES]) / 100
    enforcement = cal.enforcement_zw_pp_m12 / 100
    # every arm but the pure control has enforcement; the service arm has service too
    targets = np.stack(
        [online + service * (arm == ARM_SERVICE) + enforcement * (arm != ARM_CONTROL_NONE) for arm in ARMS]
    )
    month = 12
    hazards = np.zeros((len(ARMS), n_classes))
    for a, (sick, p) in enumerate(zip(exits, paths, strict=True)):
        exit_month = p.first_off_ww
        in_zw = (exit_month <= month) & (sick.first_work > month)
        survives = np.where(in_zw, (1 - cal.zw_recovery_hazard) ** np.maximum(month - exit_month, 0), 0.0)
        for k in range(n_classes):
            members = (wv == k) & (sick.per_hazard > 0) & (survives > 0)  # those who can be in ZW then
            hazards[a, k] = _solve_capped_hazard(
                sick.per_hazard[members], survives[members], max(counts[k], 1), targets[a, k]
            )
    return hazards, targets


def _solve_capped_hazard(weight: np.ndarray, survival: np.ndarray, n: int, target: float) -> float:
    """The hazard h with sum(min(1, h x weight) x survival) / n == target; the smallest hazard that gives
    every weight chance 1 when the target is out of reach."""
    if len(weight) == 0:
        return 0.0
    most = 1.0 / weight.min()

    def share(hazard: float) -> float:  # a plain sum: a BLAS dot product waits on busy threads
        return float((np.minimum(hazard * weight, 1.0) * survival).sum()) / n

    if share(most) <= target:
        return most
    return brentq(lambda hazard: share(hazard) - target, 0.0, most, xtol=1e-12)


def _benefit_path(
    p: _ArmPaths,
    working: np.ndarray,
    sick: _SickExits,
    chance: np.ndarray,
    wv: np.ndarray,
    draws: dict,
    cal: Calibration,
) -> tuple[np.ndarray, np.ndarray]:
    """One arm's benefit status per month and person (codes of BENEFIT_STATUSES; ``working``: its
    employment per month and person), and the month of a WIA assessment below 35% (``_NEVER``: none).

    WW until its spell ends. An eligible exit is a sickness with ``chance``: ZW from the exit until work
    starts, recovery (after the drawn ``zw_months``) or 104 weeks of sickness, when the WIA assessment gives
    WIA (kept, also beside work) or, below 35%, nothing. Outside WW, ZW and WIA: bijstand in months
    without work for those it is open to (WW ran out without work, ``bijstand_share``), none otherwise.
    """
    exit_month = p.first_off_ww
    assessment = exit_month + cal.wia_waiting_months - cal.zw_waiting_months
    zw_end = np.minimum(np.minimum(sick.first_work, exit_month + draws["zw_months"]), assessment)
    to_zw = sick.eligible & (draws["zw"] < chance)
    assessed = to_zw & (zw_end == assessment)
    below_35 = assessed & (draws["assessment"] < cal.wia_35min_share)
    wia = assessed & ~below_35
    left_without_work = (exit_month <= N_MONTHS) & ~p.employed_in(exit_month)
    bijstand_share = np.array([cal.bijstand_share[c] for c in WERKVERKENNER_CLASSES])
    bijstand_open = (
        left_without_work & (exit_month > cal.ww_min_months) & (draws["bijstand"] < bijstand_share[wv])
    )
    # small integer types and arithmetic on booleans: these arrays are months x persons
    month = np.asarray(MONTHS, dtype=np.int16)[:, None]
    exit_row, end_row, assessment_row = (
        np.minimum(x, _NEVER).astype(np.int16) for x in (exit_month, zw_end, assessment)
    )
    off_ww = (month >= exit_row).view(np.int8)
    codes = np.full(working.shape, _STATUS_CODE["ww"], dtype=np.int8)
    codes += off_ww * np.int8(_STATUS_CODE["none"] - _STATUS_CODE["ww"])

    def set_status(status: str, who: np.ndarray, months_in: np.ndarray) -> None:
        """``status`` where ``months_in`` (month x ``who``) holds: on the columns of a few persons only."""
        block = codes[:, who]
        np.copyto(block, _STATUS_CODE[status], where=months_in)
        codes[:, who] = block

    # later statuses overrule earlier ones: ZW and WIA over bijstand
    who = np.flatnonzero(bijstand_open)
    set_status("bijstand", who, (month >= exit_row[who]) & (working[:, who] == 0))
    who = np.flatnonzero(to_zw)
    set_status("zw", who, (month >= exit_row[who]) & (month < end_row[who]))
    who = np.flatnonzero(wia)
    set_status("wia", who, month >= assessment_row[who])
    return codes, np.where(below_35, assessment, _NEVER)


def _hours_worked(
    p: _ArmPaths, wv: np.ndarray, draws: dict[str, np.ndarray], cal: Calibration, service: bool
) -> np.ndarray:
    """Whole hours worked in months 1-12 per person: 0 exactly when never employed in them, else weekly
    hours (part-time or full-time, full-time more likely the more months worked) x months worked (the
    first one partly), capped at ``hours_y1_cap``."""
    months = p.months_employed(HOURS_Y1_MONTHS)
    full_time_logit = np.array([cal.full_time_logit[c] for c in WERKVERKENNER_CLASSES])[wv]
    full_time = draws["full_time"] < expit(full_time_logit + cal.full_time_months_logit * (months - 6))
    weekly = np.where(full_time, draws["full_time_hours"], draws["part_time_hours"])
    if service:
        weekly = weekly * (1 + cal.service_weekly_hours_relative)
    worked = np.where(months > 0, months - draws["unworked"], 0.0)
    hours = np.minimum(np.round(weekly * _WEEKS_PER_MONTH * worked), cal.hours_y1_cap)
    return np.where(months > 0, np.maximum(hours, 1.0), 0.0)


def _simulate_after_ww(
    persons: pd.DataFrame, paths: list[_ArmPaths], observed: np.ndarray, cal: Calibration, seed: int
) -> _AfterWW:
    """Benefit status, WIA 35-min flag and hours under every arm; the columns of each person's own arm."""
    n = len(persons)
    wv = persons["werkverkenner"].to_numpy()
    arm = persons["arm"].to_numpy()
    cell = wv * len(REGIONS_NL) + persons["region"].to_numpy()
    n_cells = len(WERKVERKENNER_CLASSES) * len(REGIONS_NL)
    rng = np.random.default_rng([seed, _BENEFIT_STREAM])
    draws = {
        "zw": rng.random(n),
        "zw_months": rng.geometric(cal.zw_recovery_hazard, n),
        "assessment": rng.random(n),
        "bijstand": rng.random(n),
    }
    rng = np.random.default_rng([seed, _HOURS_STREAM])
    low, high = cal.part_time_hours
    full_low, full_high = cal.full_time_hours
    hours_draws = {
        "full_time": rng.random(n),
        "part_time_hours": low + (high - low) * rng.beta(2.5, 2.0, n),
        "full_time_hours": full_low + (full_high - full_low) * rng.beta(4.0, 1.5, n),
        "unworked": cal.first_month_max_unworked * rng.random(n),
    }
    sick = [_sick_exits(p, wv, cal) for p in paths]
    hazards, zw_targets = _solve_sickness_hazards(sick, paths, wv, cal)

    n_status, n_exit = len(BENEFIT_STATUSES), len(WW_EXIT_DESTINATIONS)
    states = np.zeros((len(ARMS), n_cells, N_MONTHS, n_status, len(WORK_STATES)))
    first_exits = np.zeros((len(ARMS), n_cells, N_MONTHS, n_exit, 2))
    on_ww_before = np.zeros((len(ARMS), n_cells, N_MONTHS))
    hours_sums = np.zeros((len(ARMS), n_cells, 2))
    own_codes = np.zeros((N_MONTHS, n), dtype=np.int8)
    own_below_35 = np.empty(n, dtype=np.int64)
    own_hours = np.empty(n)
    state_base = (cell * (n_status * len(WORK_STATES))).astype(np.int32)  # a person's cell in ``states``
    for a, p in enumerate(paths):
        chance = np.minimum(hazards[a][wv] * sick[a].per_hazard, 1.0)
        working = p.employed_matrix()
        codes, below_35 = _benefit_path(p, working, sick[a], chance, wv, draws, cal)
        hours = _hours_worked(p, wv, hours_draws, cal, service=ARMS[a] == ARM_SERVICE)
        mine = arm == a
        own_codes += codes * mine.view(np.int8)  # everyone is in one arm; faster than a masked copy
        own_below_35[mine], own_hours[mine] = below_35[mine], hours[mine]

        for t in range(N_MONTHS):  # month by month: small temporaries, also for millions of persons
            key = state_base + (codes[t] * len(WORK_STATES) + working[t])
            counts = np.bincount(key, minlength=n_cells * n_status * len(WORK_STATES))
            states[a, :, t] = counts.reshape(n_cells, n_status, len(WORK_STATES))

        exit_month = p.first_off_ww
        left = np.flatnonzero(exit_month <= N_MONTHS)
        exit_to = _DESTINATION_OF_CODE[codes[exit_month[left] - 1, left]]
        flag = below_35[left] <= N_MONTHS
        key = ((cell[left] * N_MONTHS + exit_month[left] - 1) * n_exit + exit_to) * 2 + flag
        first_exits[a] = np.bincount(key, minlength=first_exits[a].size).reshape(first_exits[a].shape)
        spell = np.bincount(cell * (N_MONTHS + 1) + exit_month - 1, minlength=n_cells * (N_MONTHS + 1))
        # on WW through month m - 1 means a first month off WW of m or later
        on_ww_before[a] = np.cumsum(spell.reshape(n_cells, -1)[:, ::-1], axis=1)[:, ::-1][:, :N_MONTHS]
        hours_sums[a, :, 0] = np.bincount(cell, (hours > 0).astype(float), minlength=n_cells)
        hours_sums[a, :, 1] = np.bincount(cell, hours, minlength=n_cells)

    columns: dict[str, object] = {}
    observed_codes = np.where(observed.T, own_codes, np.int8(-1))
    for t, month in enumerate(MONTHS):
        columns[month_column(BENEFIT_PREFIX, month)] = pd.Categorical.from_codes(
            observed_codes[t], categories=BENEFIT_STATUSES
        )
    last_observed = observed.sum(axis=1)
    below_35_seen = own_below_35 <= last_observed
    columns[WIA_35MIN] = pd.arrays.IntegerArray(
        below_35_seen.astype(np.int8), ~(below_35_seen | observed[:, -1])
    )
    columns[HOURS_Y1] = own_hours
    return _AfterWW(columns, states, first_exits, on_ww_before, hours_sums, hazards, zw_targets)


def _after_ww_truth(after: _AfterWW, n_persons: xr.DataArray) -> dict[str, xr.DataTree]:
    """Truth nodes ``states`` (benefit x work shares, the WW effect's decomposition, first exits from WW)
    and ``hours``, made with the estimand functions; levels by class, by region and overall (per cell:
    the ``rates`` nodes).

    The values are *realised*: means of each person's potential outcomes under each arm. The state path
    and hours are functions of the realised employment and WW paths of all months, so a generating value
    (an expectation over those paths) has no closed form; the realised ones are exact for the cohort, the
    finite-population quantity a fit to it estimates, of the same kind as ``realised_pp`` in ``effects``.
    """
    cell_dims = ("werkverkenner", "region")
    coords = {
        "arm": list(ARMS),
        "werkverkenner": list(WERKVERKENNER_CLASSES),
        "region": list(REGIONS_NL),
        "month": list(MONTHS),
        "benefit": list(BENEFIT_STATUSES),
        "work": list(WORK_STATES),
        "exit_to": list(WW_EXIT_DESTINATIONS),
        WIA_35MIN: [0, 1],
    }

    def per_cell(values: np.ndarray, dims: tuple[str, ...] = ()) -> xr.DataArray:
        """(arm, cell, *dims) counts as an (arm, werkverkenner, region, *dims) DataArray."""
        shape = (len(ARMS), len(WERKVERKENNER_CLASSES), len(REGIONS_NL), *values.shape[2:])
        all_dims = ("arm", *cell_dims, *dims)
        return xr.DataArray(values.reshape(shape), dims=all_dims, coords={d: coords[d] for d in all_dims})

    levels = ("werkverkenner", "region", OVERALL)
    persons = n_persons.where(n_persons > 0)
    attrs = {"values": "realised: means of the potential outcomes under each arm"}

    shares = per_cell(after.states, ("month", "benefit", "work")) / persons
    on_ww_before = per_cell(after.on_ww_before, ("month",))
    first_exits = per_cell(after.first_exits, ("month", "exit_to", WIA_35MIN))
    hazard = (first_exits / on_ww_before.where(on_ww_before > 0)).fillna(0.0)
    incidence = cumulative_incidence(hazard, ("exit_to", WIA_35MIN)).where(n_persons > 0)
    states = {
        "calibration": xr.Dataset(
            {"sickness_hazard": (("arm", "werkverkenner"), after.sickness_hazard),
             "zw_target_m12": (("arm", "werkverkenner"), after.zw_target_m12)},
            coords={"arm": coords["arm"], "werkverkenner": coords["werkverkenner"]},
        ),
        "rates": xr.Dataset(
            {"share_realised": shares, "first_exit_incidence_realised": incidence, "n_persons": n_persons}
        ),
    }  # fmt: skip
    share_effects = share_effects_pp(shares, n_persons)
    exit_effects = share_effects_pp(incidence, n_persons)
    for level in levels:
        decomposition = decompose_effect(share_effects[level], {"benefit": BENEFIT_WW}, ("benefit", "work"))
        states[f"effects/{level}"] = xr.Dataset(
            {
                "share_pp": share_effects[level],  # ww_destination_pp is share_pp outside WW
                "ww_source_pp": decomposition["source_pp"],
                "ww_destination_part": decomposition["destination_part"],
                "first_exit_pp": exit_effects[level],
            }
        )
    states = _shared_coords_tree(states)
    states.attrs.update(
        attrs,
        description="benefit status x work: shares per arm (rates) and effects on them (share_pp, pp of all "
        "persons); ww_source_pp: the effect on the WW share (with and without work), which the effects on "
        "the other states' shares (share_pp outside WW) sum to minus (an accounting identity), "
        "ww_destination_part: the part of it each takes up; first_exit: cumulative incidence of the first "
        "month off WW by month, per status then (exit_to) and whether a WIA assessment below 35% follows "
        "within 30 months (wia_35min); calibration: sickness_hazard and zw_target_m12, the calibrated chance "
        "a WW claimant falls sick for good per month, and the ZW share at month 12 it aims at",
    )

    with_hours = per_cell(after.hours[..., 0])
    any_hours = with_hours / persons
    given_any = per_cell(after.hours[..., 1]) / with_hours.where(with_hours > 0)
    effects = hours_effects(any_hours, given_any, n_persons)
    hours = _shared_coords_tree(
        {
            "rates": xr.Dataset(
                {
                    "any_hours_realised": any_hours,
                    "hours_given_any_realised": given_any,
                    "n_persons": n_persons,
                }
            ),
            **{f"effects/{level}": effects[level] for level in levels},
        }
    )
    hours.attrs.update(
        attrs,
        description="hours worked in the 12 months after inflow: P(any) and mean given any per arm (rates); "
        "effects on mean hours per claimant (zeros included), P(any) (pp) and hours given any (descriptive)",
    )
    return {"states": states, "hours": hours}


def _shared_coords_tree(nodes: dict[str, xr.Dataset]) -> xr.DataTree:
    """A DataTree of ``nodes`` (path -> Dataset; ``""`` the root) whose index coordinates are stored once, at
    the root, and inherited by the nodes: each NetCDF group then holds only its data, which halves the time
    to write the truth file. A coordinate named like a node (a factor's level, ``effects/werkverkenner``)
    stays in the nodes that use it: a DataTree node cannot share its name with an inherited variable."""
    node_names = {part for path in nodes for part in path.split("/") if part}
    coords: dict[str, pd.Index] = {}
    for ds in nodes.values():
        for name, index in ds.indexes.items():
            if name in node_names:
                continue
            if not coords.setdefault(name, index).equals(index):
                raise ValueError(f"coordinate {name!r} differs between the nodes of one subtree")
    root = nodes.get("", xr.Dataset())
    tree = xr.DataTree(root.assign_coords({name: index.to_numpy() for name, index in coords.items()}))
    for path, ds in nodes.items():
        if path:
            tree[path] = xr.DataTree(ds.drop_vars([name for name in ds.indexes if name in coords]))
    return tree


def truth_path(data_path: str | Path) -> Path:
    """Where the truth of a simulated cohort file is saved: beside it, ``<stem>.truth.nc``."""
    data_path = Path(data_path)
    return data_path.with_name(data_path.stem + ".truth.nc")
