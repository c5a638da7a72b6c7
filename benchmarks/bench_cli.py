"""`ww-bayes fit` end to end, as a user runs it: the shipped warm-up and another one, side by side.

Each run is a fresh process (``ww-bayes fit SPEC --data D --out F``) with warm compile caches (one unmeasured
run first); the two settings alternate, so machine noise falls on both alike. Wall seconds are the whole
command: interpreter start, import, read and validate, sampling, the derived groups, the convergence gate,
the summary and the write. The other warm-up (``--tune``): the specs' longer warm-up, 1000 draws
for the 12-month specs and 1500 for the trajectory (bench_convergence.py's "previous" phase checks their
convergence). The peer figure: Bambi 0.21 with the equivalent binomial formula, nutpie,
4 x 1000 draws, 20-21 s warm on this machine.

    .venv/bin/python benchmarks/bench_cli.py [--specs job_finding_12m ww_claim_12m] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).with_name("ww-bayes")
SPECS = ("job_finding_12m", "ww_claim_12m", "trajectory_30m")
#: The other warm-up per spec: the longer one.
OTHER_TUNE = {"job_finding_12m": 1000, "ww_claim_12m": 1000, "trajectory_30m": 1500}


def run_fit(spec: str, data: Path, out: Path, tune: int | None) -> float:
    command = [str(CLI), "fit", spec, "--data", str(data), "--out", str(out), "--no-progress",
               "--allow-unconverged"]  # fmt: skip
    if tune is not None:
        command += ["--tune", str(tune)]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--specs", nargs="+", choices=SPECS, default=list(SPECS[:2]))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, help="cohort file (default: the calibrated simulator, seed 1)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "cohort.parquet"
            subprocess.run([str(CLI), "simulate", "--n", "179840", "--seed", "1", "--out", str(data)],
                           check=True, capture_output=True)  # fmt: skip
        rows = []
        for spec in args.specs:
            run_fit(spec, data, Path(tmp) / "warm.nc", None)  # warms the compile caches; not measured
            seconds: dict[str, list[float]] = {"shipped": [], "other": []}
            for _ in range(args.repeats):
                for setting, tune in (("shipped", None), ("other", OTHER_TUNE[spec])):
                    seconds[setting].append(run_fit(spec, data, Path(tmp) / f"{setting}.nc", tune))
                    print(f"{spec} {setting}: {seconds[setting][-1]:.1f} s", flush=True)
            shipped, other = (statistics.median(seconds[s]) for s in ("shipped", "other"))
            rows.append(f"| {spec} | {shipped:.1f} | {other:.1f} (tune {OTHER_TUNE[spec]}) "
                        f"| {other / shipped:.2f} | {args.repeats} |")  # fmt: skip
    print("\n| spec | shipped: median wall s | other warm-up: median wall s | other / shipped | runs each |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
