"""Cell Binomial model vs person-level Bernoulli model, and full-cohort fit time cold and warm.

Prints, measured side by side in one run (the machine is noisy, so compare ratios, not seconds):
- on the full 179,840 cohort, the job model's fit time (the ``fit`` call, not imports or simulation):
  cold, the first fit in a new Python process, once with this machine's compile cache as it is and once
  with an empty one (the very first fit on a new machine); and warm, the compiled model reused in the
  same process with another cohort of the same shape;
- on a subsample (the Bernoulli model is slow): wall time of each, the ratio, and the largest difference in
  posterior means of the overall and per-class effects (pp); and the person-level time extrapolated
  linearly to the full cohort, set against the full-cohort cell fit.
Targets on a 2-core machine: <= 35 s cold, <= 20 s warm, cells >= 50x faster than persons.

    .venv/bin/python benchmarks/bench_fit.py [--subsample 20000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import arviz as az

from ww_bayes.data.simulate import simulate_cohort
from ww_bayes.inference import fit
from ww_bayes.kinds import load_spec

SPEC = Path(__file__).resolve().parents[1] / "models" / "job_finding_12m.toml"


def timed_fit(spec, data, likelihood="binomial"):
    start = time.perf_counter()
    tree = fit(spec, data, likelihood=likelihood, progress=False, log=None)
    return tree, time.perf_counter() - start


def fresh_process_fit(seed: int, compile_dir: str | None = None) -> tuple[float, float]:
    """(cold, warm) fit seconds in a new process; ``compile_dir`` replaces PyTensor's compile cache."""
    env = dict(os.environ)
    if compile_dir is not None:
        env["PYTENSOR_FLAGS"] = f"base_compiledir={compile_dir}"
    command = [sys.executable, __file__, "--child", str(seed)]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    cold, warm = (float(x) for x in out.split()[-2:])
    return cold, warm


def child(seed: int) -> None:
    """Two fits in this process, of two cohorts of the same shape: print both times."""
    warnings.simplefilter("ignore")
    spec = load_spec(SPEC)
    cohorts = [simulate_cohort(seed=s).data for s in (seed, seed + 1)]
    times = [timed_fit(spec, cohort)[1] for cohort in cohorts]
    print(f"{times[0]:.2f} {times[1]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subsample", type=int, default=20_000)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return
    warnings.simplefilter("ignore")
    spec = load_spec(SPEC)
    settings = f"{spec.sampler.chains} chains x {spec.sampler.draws} draws"
    print(f"full cohort (179,840 persons, 525 cells), {settings}; fit call only, each in a new process:")
    with tempfile.TemporaryDirectory() as empty:
        first_cold, first_warm = fresh_process_fit(1, empty)
    cold, warm = fresh_process_fit(1)
    print(f"  compile cache as is: cold {cold:6.1f} s (target <= 35), warm {warm:6.1f} s (target <= 20)")
    print(f"  empty compile cache (a new machine): cold {first_cold:6.1f} s, warm {first_warm:6.1f} s")

    # the same subsample size twice per likelihood: the second fit reuses the compiled model (warm)
    subs = [simulate_cohort(n=args.subsample, seed=seed).data for seed in (3, 4)]
    times, trees = {}, {}
    for likelihood in ("binomial", "bernoulli"):
        trees[likelihood], cold_time = timed_fit(spec, subs[0], likelihood)
        trees[likelihood], warm_time = timed_fit(spec, subs[1], likelihood)
        times[likelihood] = (cold_time, warm_time)
    # the two likelihoods define the same posterior (tests/test_model.py): their means differ by Monte
    # Carlo error only, so the difference is also given in units of its Monte Carlo standard error
    largest, largest_in_se = 0.0, 0.0
    for name in ("effect_pp_overall", "effect_pp_by_werkverkenner"):
        ds = {k: trees[k]["effects"].ds[[name]] for k in ("binomial", "bernoulli")}
        difference = abs(
            ds["binomial"][name].mean(("chain", "draw")) - ds["bernoulli"][name].mean(("chain", "draw"))
        )
        se = (az.mcse(ds["binomial"])[name] ** 2 + az.mcse(ds["bernoulli"])[name] ** 2) ** 0.5
        largest = max(largest, float(difference.max()))
        largest_in_se = max(largest_in_se, float((difference / se).max()))
    (cells_cold, cells_warm), (persons_cold, persons_warm) = times["binomial"], times["bernoulli"]
    print(f"subsample of {len(subs[0]):,} persons, warm (cold): "
          f"cells {cells_warm:.1f} s ({cells_cold:.1f} s), "
          f"persons {persons_warm:.1f} s ({persons_cold:.1f} s)")  # fmt: skip
    print(f"  persons / cells wall-time ratio on the subsample, warm: {persons_warm / cells_warm:.1f}x")
    # the person-level model's cost grows with persons, the cell model's with cells (fixed at 525): the
    # ratio at full size extrapolates the person-level fit linearly (its gradient is O(persons))
    full_n = 179_840
    persons_full = persons_warm * full_n / len(subs[0])
    print(
        f"  person-level model at {full_n:,} persons, extrapolated linearly: ~{persons_full:.0f} s; "
        f"ratio to the full-cohort cell fit (warm): ~{persons_full / warm:.0f}x (target >= 50x)"
    )
    print(
        f"  largest posterior-mean difference of effects: {largest:.3f} pp; largest in units of its Monte "
        f"Carlo standard error: {largest_in_se:.1f}"
    )


if __name__ == "__main__":
    main()
