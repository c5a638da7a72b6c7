"""Trajectory model (months 1-30, both outcomes) on the full calibrated cohort: fit time cold and warm.

Prints, measured in one run: the fit time cold (first fit in the process: numba compile included) and
warm (the compiled model reused with another cohort of the same shape), the convergence verdict and the
share of months whose 90% band holds the simulator's truth. Target on a 2-core machine: <= 2 minutes.

    .venv/bin/python benchmarks/bench_trajectory.py
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path

from ww_bayes.data.simulate import simulate_cohort
from ww_bayes.inference import fit
from ww_bayes.kinds import load_spec
from ww_bayes.kinds.trajectory import covered_by_curve
from ww_bayes.results import coverage, summarise, truth_of

SPEC = Path(__file__).resolve().parents[1] / "models" / "trajectory_30m.toml"


def main() -> None:
    warnings.simplefilter("ignore")
    logging.getLogger("pymc").setLevel(logging.ERROR)  # no "Sampling: [...]" lines
    spec = load_spec(SPEC)
    settings = f"{spec.sampler.chains} chains x {spec.sampler.draws} draws (tune {spec.sampler.tune})"
    print(f"trajectory model, {settings}, target <= 120 s")
    for label, seed in (("cold", 1), ("warm", 2)):
        cohort = simulate_cohort(seed=seed)
        start = time.perf_counter()
        tree = fit(spec, cohort.data, progress=False, log=None)
        seconds = time.perf_counter() - start
        covered = coverage(tree, summarise(tree), truth_of(tree, cohort.truth))
        overall = covered_by_curve(covered).loc["overall"].stack()
        print(
            f"  {label} (seed {seed}): {seconds:6.1f} s, converged = {tree.attrs['converged']}, truth inside "
            f"the 90% band in {overall.min():.0%}-{overall.max():.0%} of months per overall curve, "
            f"{covered.loc[covered['level'] == 'overall', 'covered'].mean():.0%} of them together"
        )


if __name__ == "__main__":
    main()
