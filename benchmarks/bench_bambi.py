"""`ww-bayes fit` against Bambi, end to end, side by side on the same cohort and machine.

Bambi is not installed in the project's environment (it must not be: see docs/performance.md,
Dependencies). Give
the benchmark a Python that has it, e.g. a separate virtual environment:

    python3.12 -m venv /tmp/bambivenv && /tmp/bambivenv/bin/pip install "bambi==0.21.*" nutpie
    .venv/bin/python benchmarks/bench_bambi.py --bambi-python /tmp/bambivenv/bin/python [--repeats 3]

Each run is a fresh process, timed from its start to its end (interpreter, imports, reading the data,
building, compiling, sampling, a summary, for ww_bayes also the gate, the derived groups and the write);
one unmeasured run of each first (warm caches), then the two alternate. Bambi fits the issue's formula,
``p(y, n) ~ 1 + enforcement + service + (1 + enforcement + service | werkverkenner) + (1 + enforcement +
service | region)``, to the same cells (arm x class x region of job_finding_12m) with nutpie, 4 x 1000
draws after 1000 tuning steps (Bambi's defaults); it prints its largest R-hat, which ww_bayes' gate would
judge.
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

BAMBI = """
import sys, warnings
warnings.simplefilter("ignore")
import arviz as az, bambi as bmb, pandas as pd
cells = pd.read_csv(sys.argv[1])
model = bmb.Model(
    "p(y, n) ~ 1 + enforcement + service + (1 + enforcement + service | werkverkenner)"
    " + (1 + enforcement + service | region)",
    cells, family="binomial",
)
idata = model.fit(draws=1000, tune=1000, chains=4, inference_method="nutpie", random_seed=1,
                  progressbar=False)
rhat = az.rhat(idata)
print("largest R-hat", max(float(rhat[v].max()) for v in rhat.data_vars))
"""


def cells_csv(cohort: Path, out: Path) -> None:
    """The cells of job_finding_12m (persons with a job and persons per arm x class x region) as Bambi
    reads them: the cells' count table (:meth:`ww_bayes.kinds.observations.Observation.count_table`)."""
    import pandas as pd

    from ww_bayes.kinds import kind_of, load_spec

    spec = load_spec(ROOT / "models" / "job_finding_12m.toml")
    data = kind_of(spec).prepare(spec, pd.read_parquet(cohort))
    cells = data.observation.count_table(
        data.observation.observed(data.cells).assign_coords(
            {c: ("cell", data.cells[c].astype(str).to_numpy()) for c in ("arm", "werkverkenner", "region")}
        ),
        data.observation.constant(data.cells),
    )
    pd.DataFrame({
        "y": cells["count"], "n": cells["persons"],
        "enforcement": (cells["arm"].astype(str) != "control_none").astype(int),
        "service": (cells["arm"].astype(str) == "service").astype(int),
        "werkverkenner": cells["werkverkenner"].astype(str), "region": cells["region"].astype(str),
    }).to_csv(out, index=False)  # fmt: skip


def timed(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--bambi-python", required=True, help="a Python with bambi and nutpie installed")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from ww_bayes.data.simulate import simulate_cohort

    with tempfile.TemporaryDirectory() as folder:
        cohort, cells = Path(folder) / "cohort.parquet", Path(folder) / "cells.csv"
        simulate_cohort(seed=1).data.to_parquet(cohort)
        cells_csv(cohort, cells)
        script = Path(folder) / "bambi_fit.py"
        script.write_text(BAMBI)
        ww_bayes = str(ROOT / ".venv" / "bin" / "ww-bayes")
        fit_file = str(Path(folder) / "fit.nc")
        commands = {
            "ww-bayes fit job_finding_12m": [
                ww_bayes,
                "fit",
                "job_finding_12m",
                "--data",
                str(cohort),
                "--out",
                fit_file,
                "--allow-unconverged",
            ],  # fmt: skip
            "Bambi 0.21 (nutpie)": [args.bambi_python, str(script), str(cells)],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for name, command in commands.items():  # warm the caches, unmeasured
            _, out = timed(command)
            if "R-hat" in out:
                print(f"{name}: {out.strip().splitlines()[-1]}")
        for _ in range(args.repeats):
            for name, command in commands.items():
                seconds, _ = timed(command)
                times[name].append(seconds)
                print(f"{name}: {seconds:.1f} s", flush=True)
    ours, bambi = (statistics.median(times[name]) for name in commands)
    print("\n| tool | median wall s (warm caches) | runs |\n|---|---|---|")
    for name in commands:
        print(f"| {name} | {statistics.median(times[name]):.1f} | {args.repeats} |")
    print(f"Bambi / ww_bayes: {bambi / ours:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
