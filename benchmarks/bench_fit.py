"""Where a fit's time goes, phase by phase, and the cell model against the person-level model.

Prints, measured side by side in one run (the machine is noisy, so compare ratios and shares, not single
seconds):

1. For each shipped spec, ``ww-bayes fit`` as the CLI runs it (``workflow.fit_to_file``), phase by phase:
   import, read + validate, cells, model build, compile, tune, draws, deterministics, log-likelihood,
   predictive, effects, convergence gate, summary, write, figures. Three states: a fresh process with empty
   compile caches (PyTensor's, which holds its numba cache, pointed at an empty folder: a new machine), a
   fresh process with the caches the first one left, and a second fit of the same spec in that process
   (another cohort of the same shape: the compiled sampler is reused). Each state twice, side by side:
   "before" rebuilds the starting point without the compiled-sampler cache (nutpie's own compile of its C
   callbacks, arviz_stats' diagnostics in the gate, PyMC's per-draw deterministics and numba-compiled
   post-processing, the eager imports, the earlier warm-up: 1000 for the 12-month specs, 1500 for the
   trajectory; PyTensor's log-density for the destinations model; see MODES),
   "after" is the code and specs as shipped. ``--markdown`` prints the tables for docs/performance.md.
2. On a subsample (the Bernoulli model is slow): the cell Binomial model against the person-level
   Bernoulli model, wall time and the largest difference in posterior means (pp and Monte Carlo SEs).
3. With ``--sizes 0.1 1 3 10`` instead: the cost per cohort size. For each 12-month spec and each size (a
   multiple of the published 179,840 persons; a calibrated cohort, seed 1, as Parquet), ``ww-bayes fit``
   in a fresh process with warm caches: seconds per phase (read + validate, cells, compile, sampling,
   gate, store, write) and the process's peak resident memory (MB). The read path should grow with the
   persons, sampling should not.

Goals on a 2-core machine: 12-month, destinations and hours fits in a fresh process with warm caches
<= 20 s (12-month with empty caches <= 35 s), a second fit in one process <= 10 s, trajectory <= 60 s warm.

    .venv/bin/python benchmarks/bench_fit.py [--specs job_finding_12m ...] [--markdown] [--no-persons]
    .venv/bin/python benchmarks/bench_fit.py --sizes 0.1 1 3 10 [--specs job_finding_12m ww_claim_12m]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

STARTED = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
SPECS = ("job_finding_12m", "ww_claim_12m", "trajectory_30m", "destinations_12m", "hours_worked_y1")
PHASES = ("import", "read + validate", "cells", "build", "compile", "tune", "draws", "deterministics",
          "log-likelihood", "predictive", "effects", "convergence", "store", "summary", "write",
          "figures")  # fmt: skip
STATES = ("empty caches", "warm caches", "second fit")


def child(spec: str, data: list[str], out: str, mode: str) -> None:
    """Two fits of ``spec`` in this (fresh) process, one per data file, written to ``out`` (a folder):
    print each one's phases as JSON. ``mode`` "before" rebuilds the starting point without the
    compiled-sampler cache (see MODES)."""
    warnings.simplefilter("ignore")
    import logging

    overrides = None
    if mode == "before":
        import jinja2  # noqa: F401 - what `ww-bayes` imported eagerly before they were made lazy
        import joblib  # noqa: F401
        import statsmodels.api  # noqa: F401

        import ww_bayes.inference
        import ww_bayes.summaries

        ww_bayes.inference.diagnose = ww_bayes.summaries.diagnose = diagnose_with_arviz_stats
        ww_bayes.inference.deterministics = deterministics_with_pymc
        ww_bayes.inference.POSTPROCESS_COMPILE = {"mode": "FAST_RUN"}  # numba, as before
        from ww_bayes.kinds.destinations import DestinationsKind
        from ww_bayes.kinds.protocol import ModelKind

        DestinationsKind.sampler_model = ModelKind.sampler_model  # PyTensor's log-density, as before
        overrides = BEFORE_SAMPLER.get(spec)
    from ww_bayes.workflow import fit_to_file

    logging.getLogger("pymc").setLevel(logging.ERROR)
    imported = time.perf_counter() - STARTED
    for i, path in enumerate(data):
        start = time.perf_counter()
        outcome = fit_to_file(ROOT / "models" / f"{spec}.toml", path, Path(out) / f"{spec}_{i}.nc",
                              overrides=overrides, progress=False, log=None,
                              allow_unconverged=True)  # fmt: skip
        seconds = {"import": imported if i == 0 else 0.0, **outcome.seconds}
        seconds["total"] = time.perf_counter() - start + seconds["import"]
        seconds["peak MB"] = peak_megabytes()
        print(json.dumps(seconds), flush=True)


def peak_megabytes() -> float:
    """This process's peak resident memory since it started its program: Linux's ``VmHWM``, which exec
    resets. ``ru_maxrss`` is kept across fork and exec, so a child started by a parent holding a large
    cohort reports at least the parent's size (measured: 1,744 MB for both 10x fits, the parent's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux, the fallback


def diagnose_with_arviz_stats(ds, which):
    """``ww_bayes.diagnostics.diagnose`` as arviz_stats computes it (one scalar at a time): the gate and
    summary before the vectorised diagnostics."""
    import arviz_stats as azs

    if not ds.data_vars:  # a level of the derived group with no draws (hours' cells: flags only)
        return {name: ds for name in which}
    ds = ds.astype("float64")  # as the vectorised diagnostics read every variable (flags and counts too)
    compute = {
        "ess_bulk": lambda: azs.ess(ds, method="bulk"),
        "ess_tail": lambda: azs.ess(ds, method="tail"),
        "r_hat": lambda: azs.rhat(ds),
        "mcse_mean": lambda: azs.mcse(ds, method="mean"),
        "mcse_sd": lambda: azs.mcse(ds, method="sd"),
    }
    return {name: compute[name]() for name in which}


def deterministics_with_pymc(posterior, model, *, var_names=None, structure=None, compile_kwargs=None):
    """``ww_bayes.postprocess.deterministics`` as PyMC computes them (a function of one draw, called for
    every draw and compiled on every call): the fit before the vectorised deterministics."""
    import pymc as pm

    return pm.compute_deterministics(posterior, var_names=var_names, model=model, progressbar=False,
                                     compile_kwargs=compile_kwargs)  # fmt: skip


#: "before": the starting point without the compiled-sampler cache, rebuilt in the same run: nutpie
#: compiles its C callbacks in every
#: process (``WW_BAYES_NUTPIE_COMPILE=1``), the gate and summary use arviz_stats' scalar-at-a-time
#: diagnostics, the deterministics are PyMC's per-draw loop and they and the prior predictive draws are
#: compiled with numba, the CLI imports statsmodels, jinja2 and joblib eagerly, the specs warm up as
#: before (BEFORE_SAMPLER: 1000 draws for the 12-month specs, 1500 for the trajectory) and the destinations
#: model samples with PyTensor's log-density (not ``ww_bayes.kinds.destinations_density``). Not rebuilt:
#: the summary's single pass over all estimands (~0.4 s), the gate's normal scores looked up.
#: "after": the shipped code and specs.
BEFORE_SAMPLER = {
    "job_finding_12m": {"tune": 1000},
    "ww_claim_12m": {"tune": 1000},
    "trajectory_30m": {"tune": 1500},
}
MODES = {"before": "without the cache", "after": "as shipped"}


def fresh_process(spec: str, data: list[Path], out: Path, compile_dir: str | None, mode: str) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if compile_dir is not None:
        env["PYTENSOR_FLAGS"] = f"base_compiledir={compile_dir}"
        env["NUMBA_CACHE_DIR"] = str(Path(compile_dir) / "numba")
    if mode == "before":  # ww_bayes.sampler.BYPASS: nutpie compiles its C callbacks in every process
        env["WW_BAYES_NUTPIE_COMPILE"] = "1"
    command = [sys.executable, __file__, "--child", spec, "--mode", mode, "--out", str(out), *map(str, data)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{spec} ({mode}) failed with status {done.returncode}:\n{done.stderr[-3000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def phase_table(spec: str, data: list[Path], out: Path) -> dict[tuple[str, str], dict]:
    """Per mode: a fresh process with empty caches (a new folder), then a fresh process with the caches the
    first one left (a persistent cache from another process) and its second fit."""
    table = {}
    for mode in MODES:
        with tempfile.TemporaryDirectory() as caches:
            cold, _ = fresh_process(spec, data, out / mode / "empty", caches, mode)
            warm, second = fresh_process(spec, data, out / mode / "warm", caches, mode)
        table.update({(STATES[0], mode): cold, (STATES[1], mode): warm, (STATES[2], mode): second})
    return table


def same_draws(spec: str, out: Path) -> str:
    """Whether the fits of the same data, spec, settings and seed drew bit-identical posteriors with empty
    and with warm caches, in each mode (the modes differ in their warm-up, so not across them)."""
    import numpy as np
    import xarray as xr

    differ = []
    for mode in MODES:
        trees = [xr.load_datatree(out / mode / state / f"{spec}_0.nc") for state in ("empty", "warm")]
        posterior = [tree["posterior"].ds for tree in trees]
        differ += [f"{mode}: {name}" for name in posterior[0].data_vars
                   if not np.array_equal(posterior[0][name].values, posterior[1][name].values)]  # fmt: skip
    return "bit-identical in both modes" if not differ else f"DIFFERENT ({len(differ)}), e.g. {differ[0]}"


def print_phases(tables: dict[str, dict], markdown: bool) -> None:
    rows = [*PHASES, "other", "total"]
    for table in tables.values():
        for phases in table.values():
            phases["other"] = phases["total"] - sum(phases.get(p, 0.0) for p in PHASES)
            if "tune + draws" in phases:  # a progress bar hides the split
                phases["tune"] = phases.pop("tune + draws")
    columns = [(state, mode) for state in STATES for mode in MODES]
    for spec, table in tables.items():
        if markdown:
            print(f"\n{spec}, seconds per phase (before: {MODES['before']}; after: {MODES['after']})\n")
            print("| phase (s) | " + " | ".join(f"{state}<br>{mode}" for state, mode in columns) + " |")
            print("|---" * (len(columns) + 1) + "|")
            for row in rows:
                print(f"| {row} | " + " | ".join(f"{table[c].get(row, 0.0):.1f}" for c in columns) + " |")
            continue
        print(f"\n{spec}: seconds per phase; before = {MODES['before']}, after = {MODES['after']}")
        print(" " * 18 + "".join(f"{state[:12]:>13}/{mode[0]}" for state, mode in columns))
        for row in rows:
            print(f"  {row:<16}" + "".join(f"{table[c].get(row, 0.0):>15.1f}" for c in columns))


#: The columns of the size table: a fit's phases as ``phase_seconds`` names them (sampling: tune + draws,
#: gate: the convergence check).
SIZE_COLUMNS = {
    "read + validate": ("read + validate",),
    "cells": ("cells",),
    "compile": ("compile",),
    "sampling": ("tune", "draws", "tune + draws"),
    "gate": ("convergence",),
    "store": ("store",),
    "write": ("write",),
    "total": ("total",),
}


def size_table(specs: list[str], sizes: list[float]) -> None:
    """The cost per cohort size: each spec fitted in a fresh process (warm caches) to a calibrated cohort
    of each size, seconds per phase and peak memory (Markdown)."""
    from ww_bayes.data.io import write_cohort
    from ww_bayes.data.published import N_PERSONS
    from ww_bayes.data.simulate import simulate_cohort

    print("| spec | persons | " + " | ".join(f"{c} s" for c in SIZE_COLUMNS) + " | peak MB |")
    print("|---" * (len(SIZE_COLUMNS) + 3) + "|")
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            n = round(N_PERSONS * size)
            path = write_cohort(simulate_cohort(n=n, seed=1).data, Path(folder) / f"cohort_x{size:g}.parquet")
            for spec in specs:
                (seconds,) = fresh_process(spec, [path], Path(folder) / "out", None, "after")
                cells = [sum(seconds.get(p, 0.0) for p in parts) for parts in SIZE_COLUMNS.values()]
                print(f"| {spec} | {n:,} | " + " | ".join(f"{c:.1f}" for c in cells)
                      + f" | {seconds['peak MB']:.0f} |", flush=True)  # fmt: skip
            path.unlink()


def persons_vs_cells(subsample: int) -> None:
    import arviz_stats as azs

    from ww_bayes.data.simulate import simulate_cohort
    from ww_bayes.inference import fit
    from ww_bayes.kinds import load_spec

    spec = load_spec(ROOT / "models" / "job_finding_12m.toml")
    subs = [simulate_cohort(n=subsample, seed=seed, progress=False).data for seed in (3, 4)]
    times, trees = {}, {}
    for likelihood in ("binomial", "bernoulli"):
        for i, sub in enumerate(subs):  # the second fit reuses the compiled model
            start = time.perf_counter()
            trees[likelihood] = fit(spec, sub, likelihood=likelihood, progress=False, log=None)
            times[(likelihood, i)] = time.perf_counter() - start
    # the two likelihoods define the same posterior (tests/test_model.py): their means differ by Monte
    # Carlo error only, so the difference is also given in units of its Monte Carlo standard error
    largest, largest_in_se = 0.0, 0.0
    for level in ("overall", "werkverkenner"):
        name = "effect_pp"
        ds = {k: trees[k][f"effects/{level}"].to_dataset()[[name]] for k in ("binomial", "bernoulli")}
        difference = abs(
            ds["binomial"][name].mean(("chain", "draw")) - ds["bernoulli"][name].mean(("chain", "draw"))
        )
        se = (azs.mcse(ds["binomial"])[name] ** 2 + azs.mcse(ds["bernoulli"])[name] ** 2) ** 0.5
        largest = max(largest, float(difference.max()))
        largest_in_se = max(largest_in_se, float((difference / se).max()))
    cells, persons = times[("binomial", 1)], times[("bernoulli", 1)]
    print(f"\nsubsample of {subsample:,} persons, second fit in the process: cells {cells:.1f} s, "
          f"persons {persons:.1f} s: persons / cells {persons / cells:.1f}x; extrapolated linearly to "
          f"179,840 persons ~{persons * 179_840 / subsample:.0f} s")  # fmt: skip
    print(
        f"  largest posterior-mean difference of effects: {largest:.3f} pp "
        f"({largest_in_se:.1f} Monte Carlo SEs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="+", default=list(SPECS), choices=SPECS)
    parser.add_argument("--markdown", action="store_true", help="the phase table as Markdown")
    parser.add_argument("--no-persons", action="store_true", help="skip the cells vs persons comparison")
    parser.add_argument("--subsample", type=int, default=20_000)
    parser.add_argument("--sizes", type=float, nargs="+", help="the cost per cohort size (multiples)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("before", "after"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("data", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.data, args.out, args.mode)
        return
    warnings.simplefilter("ignore")
    if args.sizes:
        size_table([s for s in args.specs if s != "trajectory_30m"], args.sizes)
        return
    from ww_bayes.data.io import write_cohort
    from ww_bayes.data.simulate import simulate_cohort

    with tempfile.TemporaryDirectory() as folder:
        cohorts = {s: simulate_cohort(seed=s, progress=False).data for s in (1, 2)}
        data = [write_cohort(df, Path(folder) / f"cohort{s}.parquet") for s, df in cohorts.items()]
        print("full calibrated cohorts (179,840 persons, seeds 1 and 2), shipped specs; seconds per phase")
        tables = {spec: phase_table(spec, data, Path(folder)) for spec in args.specs}
        identical = {spec: same_draws(spec, Path(folder)) for spec in args.specs}
    print_phases(tables, args.markdown)
    for spec, verdict in identical.items():
        print(f"{spec}: draws, empty vs warm caches (same data, spec, settings, seed): {verdict}")
    if not args.no_persons:
        persons_vs_cells(args.subsample)


if __name__ == "__main__":
    main()
