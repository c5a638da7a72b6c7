"""Frequentist intention-to-treat estimates on the same estimands as the posterior ``effects`` group.

The original evaluation's estimator: a linear probability model (statsmodels OLS) of the outcome on arm
indicators, with Werkverkenner class fixed effects and optional covariates (age, sex, education), and
heteroskedasticity-robust HC2 standard errors (or cluster-robust by region). Subgroup estimates come from
the model fully interacted with the subgroup, which is one regression per Werkverkenner class or region
(unpooled; the interacted design is block-diagonal, so estimates and HC2 errors are the same); Holm and
Benjamini-Hochberg adjustments run over the subgroup tests of each contrast and level. A logit with average
marginal effects is the robustness check for the overall effects.

Every row is named like the posterior summary's: ``estimand`` (``effect_pp``), ``contrast``
(:data:`ww_bayes.data.schema.CONTRASTS`), ``level`` (``overall``, or ``by_<factor>`` for each grouping factor
asked for: ``by_werkverkenner``, ``by_region``, any column) and ``group`` (``all`` or the factor's level).
Effects are in percentage points. Confidence intervals are at the probability of the credible intervals
they are set beside (90% by default; columns ``ci90_lb``, ``ci90_ub``:
:func:`ww_bayes.vocabulary.confidence_label`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats
from scipy.special import expit

from ww_bayes.data.schema import ARMS, CONTRASTS, HEADLINE_OUTCOMES, OPTIONAL_COLUMNS
from ww_bayes.derived import OVERALL, level_label
from ww_bayes.kinds.pooling import fit_weights
from ww_bayes.vocabulary import confidence_label, interval_of

COV_TYPES = ("HC2", "cluster")


class FrequentistError(ValueError):
    """Estimates that cannot be made as asked (unknown outcome or covariate, a subgroup with an empty arm)."""


METHODS = ("lpm", "logit")
#: The probability of the confidence intervals unless a fit says otherwise: that of the credible intervals.
INTERVAL_PROB = 0.9


def columns(prob: float = INTERVAL_PROB) -> tuple[str, ...]:
    """The columns of an :func:`itt` table with confidence intervals at ``prob``."""
    label = confidence_label(prob)
    return ("estimand", "contrast", "level", "group", "estimate", "se", f"{label}_lb", f"{label}_ub",
            "p_value", "p_holm", "p_bh", "n", "outcome", "method", "se_type", "class_effects",
            "covariates")  # fmt: skip


def resolve_outcome(outcome: str, columns) -> str:
    """An outcome column (``employed_m18``) or a headline alias (``job_12m``)."""
    column = HEADLINE_OUTCOMES.get(outcome, outcome)
    if column not in columns:
        raise FrequentistError(f"outcome {outcome!r}: no column {column!r} in the data")
    return column


def _covariates(df: pd.DataFrame, covariates: tuple[str, ...]) -> pd.DataFrame:
    unknown = [c for c in covariates if c not in OPTIONAL_COLUMNS]
    if unknown:
        raise FrequentistError(
            f"covariates {unknown}: not allowed; choose from {', '.join(OPTIONAL_COLUMNS)}"
        )
    missing = [c for c in covariates if c not in df.columns]
    if missing:
        raise FrequentistError(f"covariates {missing}: not in the data")
    parts = []
    for column in covariates:
        values = df[column]
        if values.isna().any():
            raise FrequentistError(
                f"covariate {column!r}: {int(values.isna().sum()):,} rows without a value; "
                "drop or impute them"
            )
        if column == "age":
            age = values.astype("float64")
            parts.append((age - age.mean()).rename("age_centred").to_frame())
        else:
            parts.append(pd.get_dummies(values.astype(str), prefix=column, drop_first=True, dtype="float64"))
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=df.index)


def _design(df: pd.DataFrame, class_effects: bool, covariates: tuple[str, ...]) -> pd.DataFrame:
    """Arm indicators (one per arm, no intercept, so each contrast is a coefficient difference), class fixed
    effects and covariates, for the persons in ``df``. Columns constant in ``df`` are left out.
    """
    arm = pd.Categorical(df["arm"].astype(str), categories=list(ARMS))
    arms = pd.get_dummies(arm, dtype="float64").set_axis([f"arm[{a}]" for a in ARMS], axis=1)
    empty = [a for a in ARMS if arms[f"arm[{a}]"].sum() == 0]
    if empty:
        raise FrequentistError(
            f"no persons in arm(s) {', '.join(empty)}; the arm contrasts are not identified"
        )
    parts = [arms.set_axis(df.index)]
    if class_effects:
        parts.append(
            pd.get_dummies(df["werkverkenner"].astype(str), prefix="class", drop_first=True, dtype="float64")
        )
    parts.append(_covariates(df, covariates))
    design = pd.concat(parts, axis=1)
    constant = [c for c in design.columns if not c.startswith("arm[") and design[c].nunique() < 2]
    return design.drop(columns=constant)


def _subsets(df: pd.DataFrame, factor: str | None):
    """(group label, rows) for a factor's levels in the column's own order (category order of a categorical,
    sorted otherwise), or the whole cohort for ``None``."""
    if factor is None:
        yield "all", df
        return
    values = df[factor]
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.unique())
        order = [str(c) for c in values.cat.categories if c in present]
    else:
        order = sorted(values.astype(str).unique())
    labels = values.astype(str)
    for group in order:
        yield group, df[labels == group]


def holm(p_values) -> np.ndarray:
    """Holm-adjusted p-values of one family, as statsmodels' ``multipletests(p, method="holm")[1]`` gives
    them (``tests/test_frequentist.py`` checks they are equal). Not statsmodels' own: in version 0.15 it
    runs a full garbage collection on every call, which takes 0.1-1 s in a process holding fits, and a
    trajectory's comparison adjusts 180 families (3 contrasts x 60 months)."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(p[order] * np.arange(len(p), 0, -1)), 1.0)
    return adjusted


def _lpm(y, design, cov_type, clusters, prob):
    import statsmodels.api as sm  # here, not at the top: `ww-bayes fit` does not pay for importing it

    model = sm.OLS(y, design.to_numpy())
    # QR rather than the default pinv: one decomposition instead of several SVDs of the n x p design
    if cov_type == "cluster":
        result = model.fit(method="qr", cov_type="cluster", cov_kwds={"groups": clusters})
    else:
        result = model.fit(method="qr", cov_type="HC2")
    rows = []
    for contrast, (treated, comparison) in CONTRASTS.items():
        weights = np.zeros(design.shape[1])
        weights[design.columns.get_loc(f"arm[{treated}]")] = 1.0
        weights[design.columns.get_loc(f"arm[{comparison}]")] = -1.0
        test = result.t_test(weights, use_t=False)
        lower, upper = np.asarray(test.conf_int(alpha=1 - prob)).ravel()
        estimate, se, p_value = (float(np.ravel(v)[0]) for v in (test.effect, test.sd, test.pvalue))
        rows.append((contrast, estimate, se, lower, upper, p_value))
    return rows


def _logit_ame(y, design, cov_type, clusters, prob):
    """Average marginal effect of switching every person from the comparison arm to the treated arm, with a
    delta-method standard error from the robust (or cluster-robust) logit covariance.
    """
    import statsmodels.api as sm

    x = design.to_numpy()
    model = sm.Logit(y, x)
    if cov_type == "cluster":
        result = model.fit(disp=0, cov_type="cluster", cov_kwds={"groups": clusters})
    else:
        result = model.fit(disp=0, cov_type="HC0")
    beta, cov = result.params, result.cov_params()
    arm_columns = [design.columns.get_loc(f"arm[{arm}]") for arm in ARMS]
    z = stats.norm.ppf((1 + prob) / 2)
    rows = []
    for contrast, arms in CONTRASTS.items():
        switched = []
        for arm in arms:  # everyone in the treated arm, then everyone in the comparison arm
            xs = x.copy()
            xs[:, arm_columns] = 0.0
            xs[:, design.columns.get_loc(f"arm[{arm}]")] = 1.0
            switched.append((expit(xs @ beta), xs))
        (p1, x1), (p0, x0) = switched
        estimate = float(np.mean(p1 - p0))
        gradient = ((p1 * (1 - p1))[:, None] * x1 - (p0 * (1 - p0))[:, None] * x0).mean(axis=0)
        se = float(np.sqrt(gradient @ cov @ gradient))
        p_value = float(2 * stats.norm.sf(abs(estimate / se)))
        rows.append((contrast, estimate, se, estimate - z * se, estimate + z * se, p_value))
    return rows


def itt(
    df: pd.DataFrame,
    outcome: str = "job_12m",
    *,
    factors: tuple[str, ...] = ("werkverkenner", "region"),
    covariates: tuple[str, ...] = (),
    class_effects: bool = True,
    cov_type: str = "HC2",
    method: str = "lpm",
    skip_unestimable: bool = False,
    interval_prob: float = INTERVAL_PROB,
) -> pd.DataFrame:
    """Intention-to-treat effects (pp) of every contrast overall and per level of each of ``factors`` (any
    grouping columns of the data), one row per estimand.

        A subgroup with an empty arm cannot be estimated: by default one :class:`FrequentistError` lists every
        such subgroup; with ``skip_unestimable`` they are left out and listed in ``table.attrs["skipped"]``
        (a sparse design: the posterior marks those levels as informed only by pooling).

        ``outcome``: any month column (``ww_m18``) or a headline alias (``job_12m``); persons whose month is
        not observed drop out. ``cov_type``: ``"HC2"`` or ``"cluster"`` (by region; per-region estimates then
        keep HC2, since a region's effect rests on one cluster). ``method``: ``"lpm"`` or ``"logit"`` (average
        marginal effects). Subgroup p-values also come Holm- and BH-adjusted (``p_holm``, ``p_bh``).
        Confidence intervals at ``interval_prob`` (``ci90_lb``, ``ci90_ub`` at 0.9).
    """
    if cov_type not in COV_TYPES:
        raise FrequentistError(f"cov_type must be one of {COV_TYPES}, got {cov_type!r}")
    if method not in METHODS:
        raise FrequentistError(f"method must be one of {METHODS}, got {method!r}")
    absent = [f for f in factors if f not in df.columns]
    if absent:
        raise FrequentistError(f"factors {absent}: not columns of the data")
    from statsmodels.stats.multitest import multipletests  # not at the top: see _lpm

    column = resolve_outcome(outcome, df.columns)
    observed = df[df[column].notna()]
    estimator = _lpm if method == "lpm" else _logit_ame
    frames, problems = [], []
    for factor in (None, *factors):
        level = level_label(factor or OVERALL)
        # a region's effect rests on one cluster: per-region estimates keep HC2
        level_cov = "HC2" if (cov_type == "cluster" and factor == "region") else cov_type
        rows = []
        for group, subset in _subsets(observed, factor):
            try:
                design = _design(subset, class_effects and factor != "werkverkenner", tuple(covariates))
            except (
                FrequentistError
            ) as error:  # collected, so one error lists every subgroup that cannot be estimated
                problems.append(f"{level} {group!r} ({len(subset):,} persons with {column}): {error}")
                continue
            y = subset[column].astype("float64").to_numpy()
            clusters = pd.Categorical(subset["region"].astype(str)).codes
            for row in estimator(y, design, level_cov, clusters, interval_prob):
                rows.append((row[0], group, *row[1:], len(y)))
        label = confidence_label(interval_prob)
        frame = pd.DataFrame(
            rows,
            columns=["contrast", "group", "estimate", "se", f"{label}_lb", f"{label}_ub", "p_value", "n"],
        )
        # contrast by contrast, subgroups in their natural order, like the posterior summary table
        order = frame["contrast"].map({name: i for i, name in enumerate(CONTRASTS)})
        frame = frame.iloc[order.argsort(kind="stable")].reset_index(drop=True)
        for name in ("estimate", "se", f"{label}_lb", f"{label}_ub"):
            frame[name] *= 100
        frame["level"] = level
        if method == "lpm":
            frame["se_type"] = "cluster-robust (region)" if level_cov == "cluster" else "HC2"
        else:
            frame["se_type"] = (
                "cluster-robust (region)" if level_cov == "cluster" else "HC0"
            ) + ", delta method"
        frame["p_holm"], frame["p_bh"] = frame["p_value"], frame["p_value"]
        if factor is not None:
            for _, index in frame.groupby("contrast").groups.items():
                p = frame.loc[index, "p_value"].to_numpy()
                frame.loc[index, "p_holm"] = holm(p)
                frame.loc[index, "p_bh"] = multipletests(p, method="fdr_bh")[1]
        frames.append(frame)
    if problems and not skip_unestimable:
        raise FrequentistError(
            f"{len(problems)} subgroup(s) cannot be estimated:\n  " + "\n  ".join(problems)
        )
    table = pd.concat(frames, ignore_index=True)
    table["estimand"] = "effect_pp"
    table["outcome"] = column
    table["method"] = (
        "linear probability model (OLS)" if method == "lpm" else "logit, average marginal effect"
    )
    table["class_effects"] = class_effects
    table["covariates"] = ",".join(covariates)
    table = table[list(columns(interval_prob))]
    table.attrs["skipped"] = problems
    return table


def itt_for_fit(
    df: pd.DataFrame, fit: xr.DataTree, covariates: tuple[str, ...] = (), cov_type: str = "HC2", *,
    factors: tuple[str, ...] | None = None,
) -> pd.DataFrame:  # fmt: skip
    """:func:`itt` of a fit's outcome at the fit's levels (or overall and ``factors``' levels only: ``()``
    for overall alone), subgroups with an empty arm left out (listed in ``attrs["skipped"]``), confidence
    intervals at the probability of the fit's credible intervals: the estimator ``ww-bayes compare`` uses
    for binary effects."""
    factors = fit_factors(fit) if factors is None else tuple(factors)
    return itt(df, fit.attrs["outcome"], factors=factors, covariates=tuple(covariates),
               cov_type=cov_type, skip_unestimable=True, interval_prob=interval_of(fit.attrs)[1])  # fmt: skip


def fit_factors(fit: xr.DataTree) -> tuple[str, ...]:
    """The grouping factors of a fit (the dims of its cohort composition), in its order."""
    return tuple(str(d) for d in fit_weights(fit).dims)


def frequentist_group(table: pd.DataFrame, units: str = "percentage points (pp)") -> xr.Dataset:
    """The estimates as a Dataset for a fit's ``frequentist`` group (dim ``row``: one row per estimand);
    ``units``: what the estimates are in."""
    ds = xr.Dataset.from_dataframe(table.reset_index(drop=True).rename_axis("row"))
    for name in ds.data_vars:
        if ds[name].dtype == object:  # text columns (keys, labels), also a kind's own keys (state, month ...)
            ds[name] = ds[name].astype(str)
    ds = ds.set_coords(["estimand", "contrast", "level", "group"])
    ds["class_effects"] = ds["class_effects"].astype("int8")
    prob = interval_probability(table)
    interval = f"{prob:.0%} confidence interval (normal)"
    ds.attrs.update({"units": units, "interval": interval, "interval_prob": prob})
    return ds


def interval_probability(table: pd.DataFrame) -> float:
    """The probability of a frequentist table's confidence intervals, from its ``ci<percent>_lb`` column."""
    label = next(c for c in table.columns if c.startswith("ci") and c.endswith("_lb"))
    return int(label[2:-3]) / 100


def frequentist_table(group: xr.Dataset) -> pd.DataFrame:
    """The estimates back as the :func:`itt` table, from a fit's stored ``frequentist`` group (with the
    kind's own key columns, e.g. month and state, after the four shared ones)."""
    table = group.to_dataframe().reset_index()
    table["class_effects"] = table["class_effects"].astype(bool)
    shared = list(columns(interval_probability(table)))
    extra = [c for c in table.columns if c not in shared and c != "row"]  # a kind's own keys
    return table[[*shared[:4], *extra, *shared[4:]]]
