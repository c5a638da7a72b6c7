"""Where the trajectory's interval width comes from, on the cohorts of a coverage study.

The trajectory's population effect in a month is the sampled curve's effect plus a composition term (each
control arm's chance imbalance, multivariate normal over months with the covariance of the arm's mean,
kept to its leading ``COMPOSITION_COMPONENTS`` eigen-components: ``ww_bayes.kinds.trajectory``). The term
is not in the likelihood, so it is independent of the curve in the posterior, and its variance on the pp
scale follows from the cohort alone (linearised: ``100 * w_c * p_c (1 - p_c)`` per class, ``w_c`` the class's
share of the cohort, ``p_c`` the control arm's rate in the month). For every overall monthly effect of a
``ww-bayes coverage trajectory_30m`` folder this script re-simulates the cohort, computes that variance at
several numbers of components and prints:

- the share of the posterior variance (from the 90% interval's width, normal) the composition term makes;
- the fit's squared error against the truth, over its posterior variance (1 for calibrated intervals);
- the coverage of normal intervals whose composition part is kept to K components instead (the curve's
  part unchanged), overall and by months: what changing K alone would do.

The composition variances are cached in the folder (``composition_variance.csv``), so a second run only
prints.

    .venv/bin/python benchmarks/bench_trajectory_variance.py FOLDER [--components 30 8 4 3 2]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from ww_bayes.data.schema import ARM_CONTROL_ENFORCEMENT, ARM_CONTROL_NONE, month_column
from ww_bayes.data.simulate import simulate_cohort
from ww_bayes.kinds.trajectory import COMPOSITION_COMPONENTS, composition_factor

OUTCOMES = ("employed", "ww")
MONTHS = tuple(range(1, 31))
CACHE = "composition_variance.csv"
#: contrast -> the control arms whose composition enters it
ARMS_OF = {
    "service_vs_control_enforcement": (ARM_CONTROL_ENFORCEMENT,),
    "service_vs_control_none": (ARM_CONTROL_NONE,),
    "enforcement_vs_none": (ARM_CONTROL_ENFORCEMENT, ARM_CONTROL_NONE),
}
BY_MONTHS = ((1, 3), (4, 6), (7, 12), (13, 18), (19, 24), (25, 30))


def composition_variance(seed: int, n: int, components: list[int]) -> pd.DataFrame:
    """The composition term's variance (pp^2) of every overall monthly effect of one cohort, per K."""
    df = simulate_cohort(n, seed=seed).data
    classes = df["werkverkenner"].astype(str)
    share = classes.value_counts(normalize=True)
    rows = []
    for k in components:
        factor = composition_factor(df, OUTCOMES, MONTHS, k)
        variance = (factor**2).sum("factor_column")  # (outcome, control_arm, werkverkenner, month)
        for outcome in OUTCOMES:
            columns = [month_column(outcome, m) for m in MONTHS]
            per_arm = {}
            for arm in (ARM_CONTROL_ENFORCEMENT, ARM_CONTROL_NONE):
                in_arm = df["arm"].astype(str) == arm
                total = np.zeros(len(MONTHS))
                for level in variance["werkverkenner"].values:
                    rate = df.loc[in_arm & (classes == level), columns].mean().to_numpy(dtype=float)
                    scale = 100 * share[level] * rate * (1 - rate)
                    total += (
                        scale**2 * variance.sel(outcome=outcome, control_arm=arm, werkverkenner=level).values
                    )
                per_arm[arm] = total
            for contrast, arms in ARMS_OF.items():
                total = sum(per_arm[a] for a in arms)
                rows += [dict(cohort=seed, outcome=outcome, contrast=contrast, month=m, components=k,
                              variance=total[i]) for i, m in enumerate(MONTHS)]  # fmt: skip
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("folder", type=Path, help="a coverage study folder of trajectory_30m")
    parser.add_argument("--components", type=int, nargs="+", default=[30, COMPOSITION_COMPONENTS, 4, 3, 2])
    parser.add_argument("--persons", type=int, default=179_840, help="the study's cohort size")
    args = parser.parse_args()
    components = sorted(set(args.components) | {COMPOSITION_COMPONENTS}, reverse=True)
    rows = pd.read_csv(args.folder / "coverage_rows.csv")
    rows = rows[(rows["level"] == "overall") & (rows["estimand"] == "effect_pp")]
    cache = args.folder / CACHE
    known = pd.read_csv(cache) if cache.exists() else pd.DataFrame(columns=["cohort", "components"])
    for seed in sorted(rows["cohort"].unique()):
        have = set(known.loc[known["cohort"] == seed, "components"])
        missing = [k for k in components if k not in have]
        if missing:
            known = pd.concat(
                [known, composition_variance(int(seed), args.persons, missing)], ignore_index=True
            )
            known.to_csv(cache, index=False)
            print(f"cohort {seed}: composition variances computed", flush=True)
    wide = known.pivot_table(index=["cohort", "outcome", "contrast", "month"], columns="components",
                             values="variance").reset_index()  # fmt: skip
    m = rows.merge(wide, on=["cohort", "outcome", "contrast", "month"])
    posterior = ((m["eti90_ub"] - m["eti90_lb"]) / (2 * norm.ppf(0.95))) ** 2
    curve = posterior - m[COMPOSITION_COMPONENTS]
    error = m["mean"] - m["truth"]
    print(f"{len(m):,} overall monthly effects of {m['cohort'].nunique()} cohorts")
    print(f"composition ({COMPOSITION_COMPONENTS} components) / posterior variance: median "
          f"{(m[COMPOSITION_COMPONENTS] / posterior).median():.2f}")  # fmt: skip
    print(f"squared error / posterior variance: {(error**2).mean() / posterior.mean():.3f} (1 if calibrated)")
    months = " / ".join(f"{a}-{b}" for a, b in BY_MONTHS)
    print(f"\n| composition components | 90% | 50% | 90% by months {months} |\n|---|---|---|---|")
    for k in [0, *components]:
        variance = (curve + (m[k] if k else 0.0)).clip(lower=1e-12)
        z = (error / np.sqrt(variance)).abs()
        by = [(z[m["month"].between(a, b)] <= norm.ppf(0.95)).mean() for a, b in BY_MONTHS]
        shipped = " (shipped)" if k == COMPOSITION_COMPONENTS else " (the curve alone)" if k == 0 else ""
        print(f"| {k}{shipped} | {(z <= norm.ppf(0.95)).mean():.3f} | {(z <= norm.ppf(0.75)).mean():.3f} | "
              + " / ".join(f"{v:.3f}" for v in by) + " |")  # fmt: skip


if __name__ == "__main__":
    main()
