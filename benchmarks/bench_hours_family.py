"""Which family for the hours of those with any: normal, gamma, log-normal or hours in bands, measured.

On the calibrated cohort (179,840 persons, seed 1; its hours of those with any are a part-time / full-time
mixture, not any of the families), each family is compared by

1. person-level PSIS-LOO on the hours scale (Jacobians included): the hurdle's P(any hours) part is the
   same model in every family, so the families differ in the persons with hours. Normal, gamma and
   log-normal are full fits of ``models/hours_worked_y1.toml`` (``family`` switched, with the dispersion
   prior on each family's own scale: :data:`DISPERSION`); LOO on a simple random sample of persons (the
   same persons for every family, so differences are paired). Hours in bands: a categorical over
   :data:`BANDS` per cell (arm x class x region) with a Dirichlet(1) prior, whose leave-one-out
   predictive probability is exact,
   (n_cell,band - 1 + 1) / (n_cell - 1 + K), spread evenly over the band's whole hours;
2. the cells' mean hours of those with any, checked predictively: the share of cells whose observed mean
   lies in its central 90% predictive interval given its persons with hours (a log-normal's mean
   exp(mu + sigma^2 / 2) rests on the tails);
3. the distribution per Werkverkenner class (:func:`ww_bayes.kinds.hours.distribution_check`);
4. recovery of the simulator's truth (effects on mean hours per claimant, zeros included).

Results go to ``results/hours_family/`` (CSV and ``family.md``); fits are kept there, so a rerun only
computes what is missing.

    .venv/bin/python benchmarks/bench_hours_family.py [--sample 20000] [--out results/hours_family]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
#: Band edges (hours in months 1-12): a band is (lower, upper]; 13 bands over 1..2,500.
BANDS = (0, 100, 200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800, 2000, 2100, 2500)
FAMILIES = ("normal", "gamma", "lognormal")
#: Each family's dispersion prior on its own scale: the log sd of hours (normal, as the shipped spec), the
#: log gamma shape (shape exp(0.5) = 1.6; 95% prior range 0.2 to 12) and the log sd of log hours.
DISPERSION = {
    "normal": {"mean_mu": 6.3, "mean_sigma": 1.0, "group_sd": 0.5},
    "gamma": {"mean_mu": 0.5, "mean_sigma": 1.0, "group_sd": 0.5},
    "lognormal": {"mean_mu": 0.0, "mean_sigma": 0.5, "group_sd": 0.5},
}


def spec_for(family: str):
    from ww_bayes.kinds import load_spec

    spec = load_spec(ROOT / "models" / "hours_worked_y1.toml").with_family(family)
    return dataclasses.replace(spec, dispersion=dataclasses.replace(spec.dispersion, **DISPERSION[family]))


def fitted(family: str, cohort: pd.DataFrame, out: Path) -> xr.DataTree:
    from ww_bayes.inference import fit
    from ww_bayes.results import load_fit, save_fit

    path = out / f"hours_{family}.nc"
    if path.exists():
        return load_fit(path, warn=False)
    start = time.perf_counter()
    tree = fit(spec_for(family), cohort, progress=False, log=None)
    print(f"{family}: fitted in {time.perf_counter() - start:.0f} s; {tree.attrs['convergence_report']}",
          flush=True)  # fmt: skip
    save_fit(tree, path)
    return tree


def band_loo(cohort: pd.DataFrame, keys: list[str], persons: pd.Index) -> pd.Series:
    """Exact leave-one-out log-probability of each sampled person with hours under a Dirichlet(1)-categorical
    over the bands per cell, on the hours scale (spread evenly over the band's whole hours)."""
    hours = cohort["hours_y1"].to_numpy(dtype="float64")
    band = np.digitize(hours, BANDS[1:-1], right=True)
    width = np.diff(BANDS).astype(float)
    frame = cohort[keys].astype(str).assign(band=band, positive=hours > 0)
    positive = frame[frame["positive"]]
    per_band = positive.groupby([*keys, "band"])["positive"].transform("size")
    per_cell = positive.groupby(keys)["band"].transform("size")
    k = len(BANDS) - 1
    logp = np.log((per_band - 1 + 1.0) / (per_cell - 1 + k)) - np.log(width[positive["band"]])
    return logp.reindex(persons).dropna()


def cell_mean_check(tree, parameters: xr.Dataset, family: str, draws: int = 200, seed: int = 3) -> dict:
    """The share of cells (with persons with hours) whose observed mean hours of those with any lies in its
    central 90% predictive interval given how many they are; and per class observed vs predicted mean."""
    from ww_bayes.kinds.observations import CELL_DISPERSION, CELL_LOCATION, POSITIVE_FAMILIES

    observed = tree["observed_data"].ds
    k = observed["y"].sel(statistic="positive").values
    mean = observed["moments"].sel(moment="sum").values / np.where(k > 0, k, 1)
    stacked = parameters.stack(sample=("chain", "draw"))
    picks = np.linspace(0, stacked.sizes["sample"] - 1, draws).round().astype(int)
    location = stacked[CELL_LOCATION].transpose("sample", "cell").values[picks].astype(float)
    dispersion = stacked[CELL_DISPERSION].transpose("sample", "cell").values[picks].astype(float)
    rng = np.random.default_rng(seed)
    family_ = POSITIVE_FAMILIES[family]
    predicted = np.zeros((draws, len(k)))
    for cell in np.flatnonzero(k > 0):
        n = int(k[cell])
        values = family_.draw_values(location[:, cell, None], dispersion[:, cell, None], (draws, n), rng)
        predicted[:, cell] = values.mean(axis=1)
    low, high = np.quantile(predicted, [0.05, 0.95], axis=0)
    some = k > 0
    inside = (low <= mean) & (mean <= high)
    classes = observed["werkverkenner"].values
    by_class = {}
    for level in dict.fromkeys(classes):
        chosen = some & (classes == level)
        weights = k[chosen]
        by_class[level] = (
            float((mean[chosen] * weights).sum() / weights.sum()),
            float((predicted[:, chosen].mean(axis=0) * weights).sum() / weights.sum()),
        )
    return {"cells": int(some.sum()), "inside_90": float(inside[some].mean()), "by_class": by_class}


def markdown(table: pd.DataFrame, fmt: str) -> str:
    """A table as Markdown (numbers with ``fmt``)."""
    rows = table.itertuples(index=False)
    cells = [[format(v, fmt) if isinstance(v, float) else str(v) for v in row] for row in rows]
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|---" * len(table.columns) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=20_000, help="persons in the LOO sample")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "hours_family")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.getLogger("pymc").setLevel(logging.ERROR)
    from ww_bayes.data.simulate import simulate_cohort
    from ww_bayes.kinds import kind_of
    from ww_bayes.kinds.hours import distribution_check, person_loo
    from ww_bayes.recompute import cell_rates
    from ww_bayes.results import coverage, summarise, truth_of

    args.out.mkdir(parents=True, exist_ok=True)
    simulated = simulate_cohort(seed=1, progress=False)
    cohort = simulated.data
    rows, checks, recovery, loo = [], [], [], {}
    for family in FAMILIES:
        spec = spec_for(family)
        tree = fitted(family, cohort, args.out)
        kind = kind_of(tree)
        data = kind.prepare(spec, cohort)
        parameters = cell_rates(tree, cohort, spec=spec)[list(data.observation.cell_parameters)]
        keys = ["arm", *spec.groups]
        start = time.perf_counter()
        loo[family] = person_loo(parameters, data.observation, data.cells, cohort, keys, sample=args.sample)
        print(f"{family}: person LOO in {time.perf_counter() - start:.0f} s", flush=True)
        means = cell_mean_check(tree, parameters, family)
        check = distribution_check(parameters, data.observation, data.cells, cohort, keys)
        checks.append(check.assign(family=family))
        table = summarise(tree)
        covered = coverage(tree, table, truth_of(tree, simulated.truth))
        recovery.append(covered.assign(family=family))
        result = loo[family]
        rows.append({"family": family, "elpd_loo": result["elpd"], "se": result["se"],
                     "subsample_se": result["subsample_se"], "elpd_no_hours": result["elpd_no_hours"],
                     "elpd_hours": result["elpd_hours"], "pareto_k_max": result["pareto_k_max"],
                     "cells_mean_inside_90": means["inside_90"], "cells": means["cells"],
                     **{f"mean_given_any {c} observed / predicted": f"{o:.0f} / {p:.0f}"
                        for c, (o, p) in means["by_class"].items()},
                     "converged": tree.attrs["converged"]})  # fmt: skip
    gamma = loo["gamma"]
    persons = gamma["pointwise"].index
    bands = band_loo(cohort, ["arm", "werkverkenner", "region"], persons)
    with_hours = cohort.loc[persons, "hours_y1"].to_numpy() > 0
    zero_part = gamma["pointwise"][~with_hours]
    total, m = gamma["persons"], len(persons)
    band_pointwise = pd.concat([zero_part, bands]).reindex(persons)
    rows.append({"family": "bands (Dirichlet-categorical per cell, P(any) as gamma)",
                 "elpd_loo": total / m * float(band_pointwise.sum()),
                 "se": float(np.sqrt(total * band_pointwise.var(ddof=0))),
                 "elpd_no_hours": total / m * float(zero_part.sum()),
                 "elpd_hours": total / m * float(bands.sum())})  # fmt: skip
    table = pd.DataFrame(rows)
    differences = []
    others = [(family, loo[family]["pointwise"]) for family in FAMILIES if family != "gamma"]
    for other, pointwise in [*others, ("bands", band_pointwise)]:
        diff = pointwise.reindex(persons) - gamma["pointwise"]
        differences.append({"comparison": f"{other} - gamma", "elpd_diff": total / m * float(diff.sum()),
                            "se_diff": float(np.sqrt(total * diff.var(ddof=0))),
                            "per_person": float(diff.mean())})  # fmt: skip
    differences = pd.DataFrame(differences)
    table.to_csv(args.out / "family_loo.csv", index=False)
    differences.to_csv(args.out / "family_differences.csv", index=False)
    pd.concat(checks).to_csv(args.out / "family_distribution.csv", index=False)
    recovery = pd.concat(recovery)
    recovery.to_csv(args.out / "family_recovery.csv", index=False)
    shown = recovery[recovery["level"].isin(["overall", "by_werkverkenner"])]
    columns = ["family", "estimand", "contrast", "level", "group", "truth", "mean", "eti90_lb", "eti90_ub"]
    shown = shown[[*columns, "covered"]]
    text = "\n\n".join([
        f"person-level LOO on a sample of {args.sample:,} persons (hours scale)",
        markdown(table, ".3f"),
        markdown(differences, ".1f"),
        "recovery of the truth",
        markdown(shown, ".2f"),
        "distribution per class",
        markdown(pd.concat(checks), ".3f"),
    ])  # fmt: skip
    (args.out / "family.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
