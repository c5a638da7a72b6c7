"""The destinations model's hand-written log-density against PyTensor's, side by side in one process.

On one cohort (the calibrated cohort by default, or ``--data``) and the shipped spec (or ``--spec``), with
the compiled model a fit uses (``ww_bayes.sampler.compile_pymc_model``):

1. one log-density with its gradient, µs per evaluation: PyTensor's C callback (what nutpie calls without
   ``ww_bayes.kinds.destinations_density``) and the hand-written one's, both called through ctypes from
   Python (the same overhead), alternately at the same points, and the largest difference of their values
   and gradients;
2. nutpie's sampling with each (the spec's chains, draws, warm-up, target_accept and seed; ``--repeats``
   rounds, alternating): seconds, leapfrog steps per draw, step size, divergences, the largest R-hat and
   smallest bulk ESS of the free variables, and how far apart the two posteriors' means are (in posterior
   sds; the draws part after a few hundred iterations, as any change of rounding makes them).

    .venv/bin/python benchmarks/bench_destinations_density.py [--spec models/destinations_12m.toml]
        [--data data/cohort.parquet] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def per_evaluation(fused, evaluations: int = 3000) -> None:
    from ww_bayes.kinds.destinations_density import graph_log_density

    rng = np.random.default_rng(1)
    points = rng.normal(0.0, 0.3, (20, fused.n_dim))
    seconds = {"PyTensor's": 0.0, "hand-written": 0.0}
    largest = 0.0
    for x in points:
        expected, expected_grad = graph_log_density(fused, x)
        value, grad = fused.callback_log_density(x)
        largest = max(
            largest, abs(value - expected) / abs(expected), float(np.abs(grad - expected_grad).max())
        )
    for _ in range(evaluations // len(points)):
        start = time.perf_counter()
        for x in points:
            graph_log_density(fused, x)
        seconds["PyTensor's"] += time.perf_counter() - start
        start = time.perf_counter()
        for x in points:
            fused.callback_log_density(x)
        seconds["hand-written"] += time.perf_counter() - start
    count = (evaluations // len(points)) * len(points)
    print(f"log-density and gradient ({fused.n_dim} free values), µs per evaluation through ctypes:")
    for name, total in seconds.items():
        print(f"  {name:<13} {total / count * 1e6:7.1f}")
    ratio = seconds["PyTensor's"] / seconds["hand-written"]
    print(f"  ratio {ratio:.2f}; largest difference (relative value, absolute gradient) {largest:.2g}")


def sampling(spec, model, compiled, fused, repeats: int) -> None:
    import arviz_stats as azs
    import nutpie

    settings = spec.sampler
    free = [v.name for v in model.free_RVs]
    posteriors = {}
    print(f"\nsampling: {settings.chains} chains x {settings.draws} draws after {settings.tune}, "
          f"target_accept {settings.target_accept}, seed {settings.seed}, 2 cores")  # fmt: skip
    print(f"  {'density':<13} {'seconds':>8} {'steps':>6} {'step size':>10} {'diverging':>10} "
          f"{'max R-hat':>10} {'min bulk ESS':>13}")  # fmt: skip
    for _ in range(repeats):
        for name, model_to_sample in (("PyTensor's", compiled), ("hand-written", fused)):
            start = time.perf_counter()
            tree = nutpie.sample(model_to_sample, draws=settings.draws, tune=settings.tune,
                                 chains=settings.chains, cores=2, seed=settings.seed,
                                 target_accept=settings.target_accept, progress_bar=False,
                                 save_warmup=False)  # fmt: skip
            seconds = time.perf_counter() - start
            stats, posterior = tree["sample_stats"], tree["posterior"].to_dataset()[free]
            rhat, bulk = azs.rhat(posterior), azs.ess(posterior, method="bulk")
            print(f"  {name:<13} {seconds:8.1f} {float(stats['n_steps'].mean()):6.1f} "
                  f"{float(stats['step_size'].mean()):10.3f} {int(stats['diverging'].sum()):10d} "
                  f"{max(float(rhat[n].max()) for n in free):10.4f} "
                  f"{min(float(bulk[n].min()) for n in free):13.0f}", flush=True)  # fmt: skip
            posteriors[name] = posterior
    apart = []
    for name in free:
        a, b = posteriors["hand-written"][name], posteriors["PyTensor's"][name]
        gap = (abs(a.mean(("chain", "draw")) - b.mean(("chain", "draw"))) / a.std(("chain", "draw"))).values
        apart.append(gap[np.isfinite(gap)].ravel())
    gaps = np.concatenate(apart)
    print(f"  posterior means of the {gaps.size} free values, apart by (posterior sds): median "
          f"{np.median(gaps):.3f}, largest {gaps.max():.3f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="models/destinations_12m.toml")
    parser.add_argument(
        "--data", help="a cohort file (default: the calibrated cohort, 179,840 persons, seed 1)"
    )
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from ww_bayes.data.io import load_cohort
    from ww_bayes.data.simulate import simulate_cohort
    from ww_bayes.inference import structure_key
    from ww_bayes.kinds import kind_of, load_spec
    from ww_bayes.kinds.destinations_density import FusedPyMCModel
    from ww_bayes.sampler import compile_pymc_model

    spec = load_spec(args.spec)
    kind = kind_of(spec)
    cohort = (load_cohort(args.data, kind.required_columns(spec)) if args.data
              else simulate_cohort(n=179_840, seed=1, progress=False).data)  # fmt: skip
    data = kind.prepare(spec, cohort)
    model = kind.build(spec, data, for_sampling=True)
    compiled = compile_pymc_model(
        model, [v.name for v in model.free_RVs], structure=structure_key(spec, data)
    )
    fused = kind.sampler_model(spec, data, compiled)
    if not isinstance(fused, FusedPyMCModel):
        raise SystemExit(f"{spec.name}: the hand-written log-density does not describe this model")
    print(f"{spec.name} on {data.n_persons:,} persons ({data.n_cells:,} cells)")
    per_evaluation(fused)
    sampling(spec, model, compiled, fused, args.repeats)


if __name__ == "__main__":
    main()
