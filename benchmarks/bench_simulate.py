"""Time simulate + write (Parquet + truth NetCDF) at the published size and at 2,000,000 persons.

Prints both times and the cost per person, measured in one run, so linear cost shows as a ratio near 1.
Target: under ~15 s for 179,840 persons on a 2-core machine.

    .venv/bin/python benchmarks/bench_simulate.py [--sizes 179840 2000000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from ww_bayes.data.io import write_cohort, write_datatree
from ww_bayes.data.simulate import simulate_cohort, truth_path


def time_once(n: int, folder: Path) -> float:
    start = time.perf_counter()
    cohort = simulate_cohort(n=n, seed=1)
    out = folder / f"cohort_{n}.parquet"
    write_cohort(cohort.data, out)
    write_datatree(cohort.truth, truth_path(out))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[179_840, 2_000_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        time_once(1_000, Path(folder))  # warm imports and caches
        results = [(n, time_once(n, Path(folder))) for n in args.sizes]
    base_n, base_t = results[0]
    print(f"{'persons':>12} {'seconds':>9} {'us/person':>10} {'cost ratio vs first':>20}")
    for n, seconds in results:
        ratio = (seconds / n) / (base_t / base_n)
        print(f"{n:>12,} {seconds:>9.2f} {1e6 * seconds / n:>10.2f} {ratio:>20.2f}")
    print(f"target: under ~15 s for 179,840 persons -> {'met' if base_t < 15 else 'NOT met'}")


if __name__ == "__main__":
    main()
