"""Fit file sizes and load times: the old layout against the lean one, side by side in one run.

For each shipped spec, one fit on the demo cohort (179,840 persons, seed 1) stored with every draw and every
group (``[output] draws = 0, keep = all``), then written three ways from that one fit:

1. ``before``: the first layout (every draw and group, float64 / int64, no compression);
2. ``all groups``: every draw and group, float32 / int32 per-cell draws, zlib + shuffle, chunked by draws;
3. ``lean``: the shipped default (the spec's ``[output]``: thinned draws, no per-cell groups, compressed).

Prints each file's size, the time ``xr.load_datatree`` takes to read it back (best of 3), and the ratio to
``before``; then the effect tables of ``before`` and ``lean`` side by side: the largest difference in
posterior means, in MCSEs of the lean file's draws (the check docs/performance.md states). Goals:
12-month fit <= 15 MB, trajectory <= 50 MB.

    .venv/bin/python benchmarks/bench_files.py [--specs job_finding_12m ...] [--n 179840]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from ww_bayes.data.io import to_netcdf
from ww_bayes.data.simulate import simulate_cohort
from ww_bayes.inference import fit
from ww_bayes.kinds import kind_of, load_spec
from ww_bayes.kinds.common import OPTIONAL_GROUPS
from ww_bayes.results import stored, summarise

ROOT = Path(__file__).resolve().parents[1]
SPECS = ("job_finding_12m", "ww_claim_12m", "trajectory_30m")
GOALS_MB = {"job_finding_12m": 15, "ww_claim_12m": 15, "trajectory_30m": 50}


def wide(values: xr.DataArray) -> xr.DataArray:
    if values.dtype.kind == "f":
        return values.astype("float64")
    return values.astype("int64") if values.dtype.kind in "iu" else values


def widened(tree: xr.DataTree) -> xr.DataTree:
    """The tree as the old layout held it: float64 and int64 everywhere."""
    out = xr.DataTree()
    for name, node in tree.children.items():
        ds = node.to_dataset()
        ds = ds.map(wide, keep_attrs=True)
        out[name] = xr.DataTree(ds)
    out.attrs.update(tree.attrs)
    return out


def load_seconds(path: Path) -> float:
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        xr.load_datatree(path, engine="h5netcdf")
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="+", default=list(SPECS), choices=SPECS)
    parser.add_argument("--n", type=int, default=179_840)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.getLogger("pymc").setLevel(logging.ERROR)
    cohort = simulate_cohort(n=args.n, seed=1, progress=False).data
    folder = Path(tempfile.mkdtemp(prefix="bench_files_"))
    print(f"demo cohort: {args.n:,} persons; files in {folder}\n")
    print(f"{'spec':<16} {'layout':<11} {'size MB':>9} {'ratio':>7} {'load s':>7}  goal")
    checks = []
    for name in args.specs:
        spec = load_spec(ROOT / "models" / f"{name}.toml")
        everything = fit(spec.with_output(draws=0, keep=OPTIONAL_GROUPS), cohort, progress=False, log=None)
        lean = stored(everything, spec.output, kind_of(everything))
        layouts = {"before": widened(everything), "all groups": everything, "lean": lean}
        sizes = {}
        for layout, tree in layouts.items():
            path = folder / f"{name}_{layout.replace(' ', '_')}.nc"
            if layout == "before":
                tree.to_netcdf(path, engine="h5netcdf")  # no encoding: the old writer
            else:
                to_netcdf(tree, path)
            sizes[layout] = path.stat().st_size / 1e6
            goal = f"<= {GOALS_MB[name]} MB: {'met' if sizes[layout] <= GOALS_MB[name] else 'MISSED'}"
            print(f"{name:<16} {layout:<11} {sizes[layout]:>9.1f} {sizes[layout] / sizes['before']:>7.3f} "
                  f"{load_seconds(path):>7.2f}  {goal if layout == 'lean' else ''}")  # fmt: skip
        keys = ["estimand", "contrast", "level", "group"]
        a, b = summarise(layouts["before"]).set_index(keys), summarise(lean).set_index(keys)
        rows = b.index[b["sd"] > 0]
        in_mcse = (np.abs(a.loc[rows, "mean"] - b.loc[rows, "mean"]) / b.loc[rows, "mcse_mean"]).max()
        checks.append(f"{name}: {len(rows)} summary rows; largest |mean(all draws) - mean(stored)| = "
                      f"{in_mcse:.2f} MCSE of the stored draws (check: <= 4)")  # fmt: skip
    print("\n" + "\n".join(checks))


if __name__ == "__main__":
    main()
