"""Memory of a process that fits again and again (a notebook, a calibration study, a benchmark).

Fits a spec ``--fits`` times in one fresh process on the demo cohort (each fit's tree dropped before the
next, as a loop does) and prints the process's resident memory after each fit, side by side in one run:

- ``released``: as shipped, ``fit()`` collects Python's garbage and trims glibc's heap before it starts
  and trims it when it returns (``ww_bayes.inference.release_freed_memory``);
- ``kept``: the same with that function made a no-op (glibc keeps what a fit freed in its arenas).

    .venv/bin/python benchmarks/bench_refit_memory.py [--spec destinations_12m] [--fits 3] [--data FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = ("released", "kept")


def resident_megabytes() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(spec_name: str, fits: int, data: str, mode: str) -> None:
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.getLogger("pymc").setLevel(logging.ERROR)
    import pandas as pd

    import ww_bayes.inference
    from ww_bayes.kinds import load_spec

    if mode == "kept":
        ww_bayes.inference.release_freed_memory = lambda collect=False: None
    spec = load_spec(ROOT / "models" / f"{spec_name}.toml")
    cohort = pd.read_parquet(data)
    for i in range(fits):
        start = time.perf_counter()
        tree = ww_bayes.inference.fit(spec.with_sampler(seed=spec.sampler.seed + i), cohort, progress=False,
                                      log=None)  # fmt: skip
        del tree
        print(json.dumps({"fit": i + 1, "MB": resident_megabytes(), "seconds": time.perf_counter() - start}),
              flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="destinations_12m")
    parser.add_argument("--fits", type=int, default=3)
    parser.add_argument("--data", default=str(ROOT / "data" / "cohort.parquet"))
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.spec, args.fits, args.data, args.child)
        return
    rows = {}
    for mode in MODES:
        command = [sys.executable, __file__, "--spec", args.spec, "--fits", str(args.fits),
                   "--data", args.data, "--child", mode]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        rows[mode] = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    print(f"{args.spec}, {args.fits} fits in one process: resident memory (MB) after each fit")
    print("| fit | " + " | ".join(MODES) + " |")
    print("|---|" + "---|" * len(MODES))
    for i in range(args.fits):
        print(f"| {i + 1} | " + " | ".join(f"{rows[m][i]['MB']:,.0f}" for m in MODES) + " |")


if __name__ == "__main__":
    main()
