"""How the trajectory's composition term is made, measured by coverage of the simulator's truth beside OLS.

The trajectory's Binomial cells count a person's 30 months as independent looks; the composition term adds
what that leaves out (``ww_bayes.kinds.trajectory``). This script fits the shipped ``trajectory_30m`` to
calibrated cohorts (seeds ``--first-seed`` on), keeps each fit's curves (the rates with the composition
factor zero, for the stored draws) with the cohort's composition covariance, and sets four ways of making
the term side by side on the same draws:

- ``none``: the curves alone;
- ``leading``: each control arm's and class's covariance, its 8 leading components (the term before it
  was made from the posterior);
- ``per_arm``: :func:`~ww_bayes.kinds.trajectory.smoothing_risk` per control arm and class;
- ``joint``: the smoothing risk over every arm, class and month of an outcome together, its leading
  components (as a fit makes it, here from the stored draws instead of all of them);

and OLS per month with HC2 errors (the coverage study's reference). It prints, for the overall monthly
effects, the share of 90% and 50% equal-tailed intervals that hold the truth, the mean squared z-score (1
when the intervals' width matches the errors), and the 90% shares by months and by contrast. Cohorts are
kept in the folder (about 10 MB each), so a second run resumes and only prints.

    .venv/bin/python benchmarks/bench_trajectory_composition.py FOLDER [--cohorts 12] [--first-seed 1001]
"""

from __future__ import annotations

import argparse
import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ww_bayes.calibration.coverage import with_reference
from ww_bayes.data.schema import ARMS
from ww_bayes.data.simulate import simulate_cohort
from ww_bayes.inference import fit
from ww_bayes.kinds import kind_of, load_spec
from ww_bayes.kinds.trajectory import (
    COMPOSITION_COMPONENTS,
    CONTROL_ARMS,
    composition_covariance,
    joint_roots,
    leading_roots,
    smoothing_risk,
    trajectory_effects,
)
from ww_bayes.postprocess import deterministics
from ww_bayes.recompute import rebuilt_data

SPEC = Path(__file__).resolve().parents[1] / "models" / "trajectory_30m.toml"
VARIANTS = ("none", "leading", "per_arm", "joint")
BY_MONTHS = ((1, 3), (4, 6), (7, 12), (13, 18), (19, 24), (25, 30))


def keep_cohort(folder: Path, seed: int, n: int) -> None:
    """Fit one cohort and keep its curves, composition covariance, weights, truths and OLS rows."""
    spec = load_spec(SPEC)
    simulated = simulate_cohort(n, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence is recorded below
        tree = fit(spec, simulated.data, progress=False, log=None)
    kind = kind_of(tree)
    data = rebuilt_data(tree, simulated.data)
    factor = data.constants["composition_factor"]
    zero = dataclasses.replace(data, constants={**data.constants, "composition_factor": factor * 0.0})
    model = kind.build(spec, zero)
    free = tree["posterior"].ds[[v.name for v in model.free_RVs]].astype("float64")
    curve = deterministics(free, model, var_names=["rate"])["rate"]
    truth = kind.truth(tree, simulated.truth)
    truth = truth[(truth["level"] == "overall") & (truth["estimand"] == "effect_pp")]
    keys = list(kind.key_columns)
    with_reference(truth[[*keys, "truth"]], kind, tree, simulated.data, keys).to_csv(
        folder / f"truth_{seed}.csv", index=False
    )
    covariance = composition_covariance(simulated.data, spec.outcomes, spec.month_list)
    covariance = covariance.sel(werkverkenner=curve["werkverkenner"].values)
    kept = xr.Dataset({"curve": curve, "covariance": covariance, "weights": data.weights})
    kept.attrs["converged"] = tree.attrs["converged"]
    kept.to_netcdf(folder / f"cohort_{seed}.nc")


def logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def with_term(curve: xr.DataArray, covariance: xr.DataArray, variant: str, rng) -> xr.DataArray:
    """The population rates: the curves less a draw of the composition term made the ``variant`` way."""
    if variant == "none":
        return curve
    n = curve.sizes["chain"] * curve.sizes["draw"]
    eta = logit(curve.clip(1e-9, 1 - 1e-9)).transpose(
        "chain", "draw", "outcome", "arm", "werkverkenner", "month"
    )
    values = eta.values.copy()
    arms = list(eta["arm"].values)
    for i, outcome in enumerate(eta["outcome"].values):
        if variant == "joint":
            blocks = covariance.sel(outcome=outcome).transpose("arm", "werkverkenner", "month", "month_to")
            columns = len(CONTROL_ARMS) * eta.sizes["werkverkenner"] * COMPOSITION_COMPONENTS
            root = joint_roots(values[:, :, i].reshape(n, *values.shape[3:]), blocks.values, columns)
            term = rng.standard_normal((n, root.shape[-1])) @ root.reshape(-1, root.shape[-1]).T
            values[:, :, i] -= term.reshape(values[:, :, i].shape)
            continue
        for arm in CONTROL_ARMS:
            for k, level in enumerate(eta["werkverkenner"].values):
                sigma = covariance.sel(outcome=outcome, arm=arm, werkverkenner=level).values
                draws = values[:, :, i, arms.index(arm), k].reshape(n, -1)
                if variant == "leading":
                    root = leading_roots(sigma, COMPOSITION_COMPONENTS)
                else:
                    root = leading_roots(smoothing_risk(draws, sigma))
                term = rng.standard_normal((n, root.shape[1])) @ root.T
                values[:, :, i, arms.index(arm), k] -= term.reshape(values[:, :, i, 0, 0].shape)
    return eta.copy(data=1 / (1 + np.exp(-values)))


def cohort_rows(folder: Path, seed: int) -> pd.DataFrame:
    kept = xr.load_dataset(folder / f"cohort_{seed}.nc")
    truth = pd.read_csv(folder / f"truth_{seed}.csv")
    curve = kept["curve"].assign_coords(arm=[str(a) for a in kept["curve"]["arm"].values])
    covariance = kept["covariance"].assign_coords(arm=list(ARMS))
    rng = np.random.default_rng(seed)
    rows = []
    for variant in VARIANTS:
        rate = with_term(curve, covariance, variant, rng)
        derived = trajectory_effects(rate, kept["weights"], 0.5, None, {"employed": "more", "ww": "less"})
        pp = derived["overall"].ds["effect_pp"]
        bounds = pp.quantile([0.05, 0.25, 0.75, 0.95], dim=("chain", "draw"))
        mean, sd = pp.mean(("chain", "draw")), pp.std(("chain", "draw"))
        for t in truth.itertuples():
            at = {"outcome": t.outcome, "contrast": t.contrast, "month": int(t.month)}
            lo90, lo50, hi50, hi90 = bounds.sel(at).values
            rows.append({**at, "variant": variant, "truth": t.truth, "mean": float(mean.sel(at)),
                         "sd": float(sd.sel(at)), "covered_90": lo90 <= t.truth <= hi90,
                         "covered_50": lo50 <= t.truth <= hi50})  # fmt: skip
    for t in truth.itertuples():
        rows.append({"outcome": t.outcome, "contrast": t.contrast, "month": int(t.month), "variant": "ols",
                     "truth": t.truth, "mean": t.reference_estimate, "sd": t.reference_se,
                     "covered_90": bool(t.reference_covered_90),
                     "covered_50": bool(t.reference_covered_50)})  # fmt: skip
    return pd.DataFrame(rows).assign(cohort=seed, converged=kept.attrs["converged"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--cohorts", type=int, default=12)
    parser.add_argument("--first-seed", type=int, default=1001)
    parser.add_argument("--persons", type=int, default=179_840)
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    seeds = range(args.first_seed, args.first_seed + args.cohorts)
    for seed in seeds:
        if not (args.folder / f"cohort_{seed}.nc").exists():
            keep_cohort(args.folder, seed, args.persons)
            print(f"cohort {seed} fitted", flush=True)
    rows = pd.concat([cohort_rows(args.folder, seed) for seed in seeds], ignore_index=True)
    rows["z2"] = ((rows["mean"] - rows["truth"]) / rows["sd"]) ** 2
    order = [*VARIANTS, "ols"]
    by = rows.groupby("variant")
    table = pd.DataFrame({"90%": by["covered_90"].mean(), "50%": by["covered_50"].mean(),
                          "mean z^2": by["z2"].mean()}).loc[order]  # fmt: skip
    print(f"{rows['cohort'].nunique()} cohorts, {len(rows) // len(order):,} overall monthly effects\n")
    print(table.round(3).to_string())
    months = pd.cut(rows["month"], [a - 1 for a, _ in BY_MONTHS] + [BY_MONTHS[-1][1]],
                    labels=[f"{a}-{b}" for a, b in BY_MONTHS])  # fmt: skip
    for name, key in (("months", months), ("contrast", rows["contrast"])):
        wide = rows.pivot_table(index=key, columns="variant", values="covered_90", observed=True)[order]
        print(f"\n90% by {name}:\n" + wide.round(3).to_string())


if __name__ == "__main__":
    main()
