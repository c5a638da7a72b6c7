"""Cell Binomial model vs person-level Bernoulli model, and full-cohort fit time cold and warm.

Prints, measured side by side in one run (the machine is noisy, so compare ratios, not seconds):
- on a subsample (the Bernoulli model is slow): wall time of each, the ratio, and the largest difference in
  posterior means of the overall and per-class effects (pp); and the person-level time extrapolated
  linearly to the full cohort, set against the full-cohort cell fit;
- on the full 179,840 cohort: the job model's fit time cold (first fit in the process: numba compile) and
  warm (the compiled model reused with new data of the same shape).
Targets on a 2-core machine: <= 35 s cold, <= 20 s warm, cells >= 50x faster than persons.

    .venv/bin/python benchmarks/bench_fit.py [--subsample 20000]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

from ww_bayes.fit import fit
from ww_bayes.simulate import simulate_cohort
from ww_bayes.spec import load_spec

SPEC = Path(__file__).resolve().parents[1] / "models" / "job_finding_12m.toml"


def timed_fit(spec, data, likelihood="binomial"):
    start = time.perf_counter()
    tree = fit(spec, data, likelihood=likelihood, progress=False, log=None)
    return tree, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subsample", type=int, default=20_000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    spec = load_spec(SPEC)

    full = simulate_cohort(seed=1).data
    _, cold = timed_fit(spec, full)
    _, warm = timed_fit(spec, simulate_cohort(seed=2).data)
    settings = f"{spec.sampler.chains} chains x {spec.sampler.draws} draws"
    print(f"full cohort ({len(full):,} persons, 525 cells), {settings}:")
    print(f"  cold {cold:6.1f} s (target <= 35)   warm {warm:6.1f} s (target <= 20)")

    # the same subsample size twice per likelihood: the second fit reuses the compiled model (warm)
    subs = [simulate_cohort(n=args.subsample, seed=seed).data for seed in (3, 4)]
    times, trees = {}, {}
    for likelihood in ("binomial", "bernoulli"):
        trees[likelihood], cold_time = timed_fit(spec, subs[0], likelihood)
        trees[likelihood], warm_time = timed_fit(spec, subs[1], likelihood)
        times[likelihood] = (cold_time, warm_time)
    largest = 0.0
    for name in ("effect_pp_overall", "effect_pp_by_werkverkenner"):
        means = [trees[k]["effects"].ds[name].mean(("chain", "draw")) for k in ("binomial", "bernoulli")]
        largest = max(largest, float(abs(means[0] - means[1]).max()))
    (cells_cold, cells_warm), (persons_cold, persons_warm) = times["binomial"], times["bernoulli"]
    print(f"subsample of {len(subs[0]):,} persons, warm (cold): "
          f"cells {cells_warm:.1f} s ({cells_cold:.1f} s), "
          f"persons {persons_warm:.1f} s ({persons_cold:.1f} s)")  # fmt: skip
    print(f"  persons / cells wall-time ratio on the subsample, warm: {persons_warm / cells_warm:.1f}x")
    # the person-level model's cost grows with persons, the cell model's with cells (fixed at 525): the
    # ratio at full size extrapolates the person-level fit linearly (its gradient is O(persons))
    persons_full = persons_warm * len(full) / len(subs[0])
    print(
        f"  person-level model at {len(full):,} persons, extrapolated linearly: ~{persons_full:.0f} s; "
        f"ratio to the full-cohort cell fit (warm): ~{persons_full / warm:.0f}x (target >= 50x)"
    )
    print(f"  largest posterior-mean difference of effects: {largest:.3f} pp")


if __name__ == "__main__":
    main()
