"""nutpie's JAX backend side by side with numba (the goal: "add JAX only if it wins on this machine").

For each spec, on the full calibrated cohort, in fresh processes, the same model sampled with the spec's
settings (chains, draws, warm-up, target_accept, seed):

- ``numba``: as ``ww-bayes fit`` samples (``ww_bayes.sampler.compile_pymc_model``: nutpie's numba model with
  the cached callbacks and pickled functions);
- ``jax``: ``nutpie.compile_pymc_model(model, backend="jax", gradient_backend="jax")``, with JAX's
  persistent compilation cache in the same cache folder (so "warm" is warm for JAX too).

Each backend first with empty caches (a new folder: PyTensor's compiledir, numba's and JAX's caches), then in
a second fresh process with the caches the first left. Printed: compile and sampling seconds, their sum,
leapfrog steps per draw (both run the same NUTS; the steps differ only by rounding) and the ratio jax / numba.

JAX is not a dependency of ww_bayes. Install it where the benchmark can import it, e.g. outside the project's
environment:

    .venv/bin/pip install --target /tmp/jaxlibs --no-deps jax jaxlib ml_dtypes opt_einsum
    .venv/bin/python benchmarks/bench_backend.py --jax-path /tmp/jaxlibs [--specs job_finding_12m ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("numba", "jax")
STATES = ("empty caches", "warm caches")


def child(spec_name: str, backend: str, cohort: str) -> None:
    """Compile and sample ``spec_name`` with ``backend`` in this fresh process; print the seconds as JSON."""
    import warnings

    warnings.simplefilter("ignore")
    import numpy as np
    import nutpie
    import pandas as pd
    import pytensor

    from ww_bayes.inference import REPRODUCIBLE_FASTMATH, sampler_for, structure_key
    from ww_bayes.kinds import kind_of, load_spec
    from ww_bayes.sampler import compile_pymc_model

    if backend == "jax":
        import jax

        jax.config.update("jax_compilation_cache_dir", os.environ["BENCH_JAX_CACHE"])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_enable_x64", True)
    spec = load_spec(ROOT / "models" / f"{spec_name}.toml")
    kind = kind_of(spec)
    data = kind.prepare(spec, pd.read_parquet(cohort))
    model = kind.build(spec, data, for_sampling=True)
    names = [v.name for v in model.free_RVs]
    settings = sampler_for(spec, data).sampler  # as a fit samples these data
    with pytensor.config.change_flags(numba__fastmath=REPRODUCIBLE_FASTMATH):
        start = time.perf_counter()
        if backend == "numba":
            compiled = compile_pymc_model(model, names, structure=structure_key(spec, data))
        else:
            compiled = nutpie.compile_pymc_model(
                model, var_names=names, backend="jax", gradient_backend="jax"
            )
        compiled_at = time.perf_counter()
        tree = nutpie.sample(compiled, draws=settings.draws, tune=settings.tune, chains=settings.chains,
                             cores=settings.cores or None, seed=settings.seed,
                             target_accept=settings.target_accept, adaptation=settings.adaptation,
                             progress_bar=False, save_warmup=False)  # fmt: skip
        end = time.perf_counter()
    steps = float(np.mean(tree["sample_stats"]["n_steps"].values))
    divergences = int(tree["sample_stats"]["diverging"].values.sum())
    print(json.dumps({"compile": compiled_at - start, "sample": end - compiled_at, "steps": steps,
                      "divergences": divergences}), flush=True)  # fmt: skip


def fresh_process(spec: str, backend: str, cohort: Path, caches: str, jax_path: str | None) -> dict:
    env = dict(os.environ)
    env["PYTENSOR_FLAGS"] = f"base_compiledir={caches}"
    env["NUMBA_CACHE_DIR"] = str(Path(caches) / "numba")
    env["BENCH_JAX_CACHE"] = str(Path(caches) / "jax")
    if jax_path:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (jax_path, env.get("PYTHONPATH")) if p)
    command = [sys.executable, __file__, "--child", spec, backend, str(cohort)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{spec} ({backend}) failed with status {done.returncode}:\n{done.stderr[-3000:]}")
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--specs", nargs="+", default=["job_finding_12m", "ww_claim_12m"])
    parser.add_argument("--jax-path", help="a folder holding jax and jaxlib (pip install --target)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    probe = subprocess.run([sys.executable, "-c", "import jax"], capture_output=True,
                           env={**os.environ, "PYTHONPATH": args.jax_path or ""})  # fmt: skip
    if probe.returncode != 0:
        sys.exit("jax is not importable: install it (see this script's docstring) and pass --jax-path")
    from ww_bayes.data.simulate import simulate_cohort

    with tempfile.TemporaryDirectory() as folder:
        cohort = Path(folder) / "cohort.parquet"
        simulate_cohort(seed=1).data.to_parquet(cohort)
        for spec in args.specs:
            rows = {}
            for backend in BACKENDS:
                with tempfile.TemporaryDirectory() as caches:
                    for state in STATES:
                        rows[(backend, state)] = fresh_process(spec, backend, cohort, caches, args.jax_path)
            print(f"\n{spec} (the spec's sampler settings; seconds)\n")
            print("| backend | state | compile | sampling | both | steps per draw | divergences |")
            print("|---|---|---|---|---|---|---|")
            for (backend, state), r in rows.items():
                both = r["compile"] + r["sample"]
                print(f"| {backend} | {state} | {r['compile']:.1f} | {r['sample']:.1f} | {both:.1f} | "
                      f"{r['steps']:.1f} | {r['divergences']} |")  # fmt: skip
            for state in STATES:
                jax, numba = rows[("jax", state)], rows[("numba", state)]
                both = (jax["compile"] + jax["sample"]) / (numba["compile"] + numba["sample"])
                print(f"{state}: jax / numba: compile {jax['compile'] / numba['compile']:.2f}x, sampling "
                      f"{jax['sample'] / numba['sample']:.2f}x, both {both:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
