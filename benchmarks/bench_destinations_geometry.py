"""Why a destinations fit takes the leapfrog steps it takes: the sampler on the model and on three variants.

The sampler's cost is its leapfrog steps per draw. NUTS doubles its trajectory until it turns back, so a
draw costs about 7, 15, 31 or 63 steps (fewer where a subtree turns back or diverges first), and the step
size chosen by the warm-up (for the spec's target_accept) decides which. Measured side by side in one run
on one cohort (the calibrated cohort by default, or ``--data``), each with nutpie as the fit runs it (4
chains, the spec's warm-up and target_accept, the diagonal mass matrix):

1. **the model** as the fit samples it (``build(spec, data, for_sampling=True)``), its unconstrained draws
   kept: steps per draw, step size, sampling seconds, and the eigenvalues of the draws' correlation matrix
   (what is left after the diagonal mass matrix scales each coordinate to unit variance) beside those of
   as many independent standard normal draws of the same dimension (the spread a finite sample alone
   gives);
2. **whitened**: the same log-density in coordinates ``x`` with ``theta = mean + L x``, ``L`` the Cholesky
   factor of the covariance of the unconstrained draws of a longer run (``--pilot-draws`` per chain: a
   covariance of hundreds of coordinates estimated from few draws leaves a spread of its own), a fixed
   dense mass matrix; its draws' correlation eigenvalues are printed beside those of as many independent
   normal draws, to show what the whitening left;
3. **sds held**: the model with every group sd held at the posterior mean of its log from the first run
   (the hierarchical funnels gone, the rest free);
4. **isotropic**: independent standard normals of the model's dimension (the reference: what an ideally
   scaled posterior of that size costs at that target_accept).

    .venv/bin/python benchmarks/bench_destinations_geometry.py [--spec models/destinations_12m.toml]
        [--data data/cohort.parquet] [--draws 1000] [--pilot-draws 10000]

The whitened model evaluates a dense product per gradient, so its seconds are not comparable; its steps
and step size are. Before sampling them, the variants' log-densities are checked equal to the model's at
a point, and the layout of the unconstrained draws the variants rely on is checked against the posterior's.
"""

from __future__ import annotations

import argparse
import re
import time
import warnings

import numpy as np


def _sample(compiled, spec, draws: int, keep_unconstrained: bool = False):
    import nutpie

    start = time.perf_counter()
    tree = nutpie.sample(compiled, draws=draws, tune=spec.sampler.tune, chains=4, cores=2,
                         seed=spec.sampler.seed, target_accept=spec.sampler.target_accept, progress_bar=False,
                         store_unconstrained=keep_unconstrained)  # fmt: skip
    seconds = time.perf_counter() - start
    stats = tree["sample_stats"]
    steps = stats["n_steps"].values
    row = {"steps median": float(np.median(steps)), "steps mean": float(steps.mean()),
           "step size": float(stats["step_size"].mean()), "divergences": int(stats["diverging"].sum()),
           "sampling s": seconds}  # fmt: skip
    return tree, row


def _eigenvalues(draws: np.ndarray) -> np.ndarray:
    return np.linalg.eigvalsh(np.corrcoef(draws, rowvar=False))


def _describe(eigenvalues: np.ndarray) -> str:
    return (f"{eigenvalues.min():.3f} to {eigenvalues.max():.2f} (below 0.1: {(eigenvalues < 0.1).sum()}, "
            f"below 0.3: {(eigenvalues < 0.3).sum()}, above 2: {(eigenvalues > 2).sum()})")  # fmt: skip


def _owners(model, names: list[str]) -> list[str]:
    """The value variable of each of nutpie's unconstrained coordinates (``name`` or ``name_i.j``)."""
    values = {v.name for v in model.value_vars}
    return [n if n in values else re.sub(r"_[0-9.]+$", "", n) for n in names]


def _reparametrized(model, names: list[str], mean: np.ndarray, transform, held=None):
    """A PyMC model of one flat free vector ``w`` whose log-density is ``model``'s at the unconstrained
    point ``transform(w)`` (a tensor over every coordinate of ``names``, nutpie's order); coordinates
    whose value variable matches ``held`` stay at ``mean``."""
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt

    values = {v.name: v for v in model.value_vars}
    owner = _owners(model, names)
    point = model.initial_point()
    free = [n for n in dict.fromkeys(owner) if held is None or not held.search(n)]
    n_free = sum(int(np.prod(point[n].shape)) for n in free)
    new = pm.Model(check_bounds=model.check_bounds)
    with new:
        flat = pm.Flat("w", shape=n_free)
    w = new.rvs_to_values[flat]
    theta = transform(w)
    replace, position = {}, 0
    for name in dict.fromkeys(owner):
        index = [i for i, o in enumerate(owner) if o == name]
        shape = point[name].shape
        if held is not None and held.search(name):
            replace[values[name]] = pt.constant(mean[index].reshape(shape))
        else:
            replace[values[name]] = theta[position : position + len(index)].reshape(shape)
            position += len(index)
    with new:
        pm.Potential("logp", pytensor.graph.clone_replace(model.logp(), replace))
    start = np.concatenate([mean[[i for i, o in enumerate(owner) if o == n]] for n in free])
    return new, n_free, start


def _point(model, names: list[str], theta: np.ndarray) -> dict[str, np.ndarray]:
    """The value variables of ``model`` at the unconstrained point ``theta`` (nutpie's order, ``names``)."""
    owner = _owners(model, names)
    point = model.initial_point()
    for name in point:
        point[name] = theta[[i for i, o in enumerate(owner) if o == name]].reshape(point[name].shape)
    return point


def _same_draw(model, names: list[str], tree) -> None:
    """Check that the first unconstrained draw, laid out by :func:`_point`, gives the posterior's first draw
    of every free variable (the layout the variants rely on)."""
    first = tree["sample_stats"]["unconstrained_draw"].isel(chain=0, draw=0).values
    free = [v.name for v in model.free_RVs]
    outputs = model.replace_rvs_by_values([model[n] for n in free])
    compute = model.compile_fn(outputs, inputs=model.value_vars, point_fn=True, on_unused_input="ignore")
    values = compute(_point(model, names, first))
    for name, value in zip(free, values, strict=True):
        stored = tree["posterior"][name].isel(chain=0, draw=0).values
        if not np.allclose(value, stored, rtol=1e-6, atol=1e-9):
            raise RuntimeError(f"{name}: the unconstrained draw laid out as assumed does not give its draw")


def _same_density(model, new, names: list[str], theta: np.ndarray, w: np.ndarray) -> None:
    """Check that ``new`` at ``w`` has ``model``'s log-density at the unconstrained point ``theta``."""
    expected, got = model.compile_logp()(_point(model, names, theta)), new.compile_logp()({"w": w})
    if not np.isclose(expected, got, rtol=1e-9, atol=1e-6):
        raise RuntimeError(f"the reparametrized log-density {got} is not the model's {expected}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="models/destinations_12m.toml")
    parser.add_argument(
        "--data", help="a cohort file (default: the calibrated cohort, 179,840 persons, seed 1)"
    )
    parser.add_argument("--draws", type=int, default=1000, help="draws per chain (default 1000)")
    parser.add_argument("--pilot-draws", type=int, default=10_000,
                        help="draws per chain of the run that whitens (default 10000)")  # fmt: skip
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import nutpie
    import pymc as pm
    import pytensor.tensor as pt

    from ww_bayes.data.io import load_cohort
    from ww_bayes.data.simulate import simulate_cohort
    from ww_bayes.inference import sampler_for
    from ww_bayes.kinds import kind_of, load_spec

    spec = load_spec(args.spec)
    kind = kind_of(spec)
    cohort = (load_cohort(args.data, kind.required_columns(spec)) if args.data
              else simulate_cohort(n=179_840, seed=1, progress=False).data)  # fmt: skip
    data = kind.prepare(spec, cohort, kind.default_likelihood(spec))
    spec = sampler_for(spec, data)  # the target acceptance a fit of these data samples with
    model = kind.build(spec, data, for_sampling=True)
    free_values = sum(int(np.prod(value.shape)) for value in model.initial_point().values())
    if 4 * args.pilot_draws < 2 * free_values:
        raise SystemExit(f"--pilot-draws {args.pilot_draws}: a covariance of {free_values} coordinates needs "
                         f"more than {(free_values + 1) // 2} draws per chain (4 chains) to be invertible, "
                         "and many more to be estimated well")  # fmt: skip
    rows = {}
    compiled = nutpie.compile_pymc_model(model)
    tree, rows["the model"] = _sample(compiled, spec, args.draws, keep_unconstrained=True)
    unconstrained = tree["sample_stats"]["unconstrained_draw"]
    names = [str(n) for n in unconstrained[unconstrained.dims[-1]].values]
    draws = unconstrained.values.reshape(-1, len(names))
    _same_draw(model, names, tree)
    dimension = len(names)
    print(
        f"{spec.name}: {dimension} unconstrained coordinates, {data.n_cells:,} cells; "
        f"4 chains x {args.draws} draws after {spec.sampler.tune}, target_accept {spec.sampler.target_accept}"
    )
    print(f"  correlation eigenvalues of its draws: {_describe(_eigenvalues(draws))}")
    reference = np.random.default_rng(1).standard_normal(draws.shape)
    print(f"  the same of as many independent normal draws: {_describe(_eigenvalues(reference))}")
    if args.pilot_draws != args.draws:
        pilot, _ = _sample(compiled, spec, args.pilot_draws, keep_unconstrained=True)
        pilot_draws = pilot["sample_stats"]["unconstrained_draw"].values.reshape(-1, dimension)
    else:
        pilot_draws = draws
    mean, cov = pilot_draws.mean(axis=0), np.cov(pilot_draws, rowvar=False)
    print(f"  whitened and held by the mean and covariance of 4 x {args.pilot_draws} draws")

    cholesky = np.linalg.cholesky(cov)
    whitened, _, _ = _reparametrized(model, names, mean, lambda w: mean + pt.dot(cholesky, w))
    w = np.random.default_rng(2).standard_normal(dimension)
    _same_density(model, whitened, names, mean + cholesky @ w, w)
    compiled = nutpie.compile_pymc_model(whitened, initial_points={"w": np.zeros(dimension)})
    tree, rows["whitened (dense, fixed)"] = _sample(compiled, spec, args.draws)
    left = tree["posterior"]["w"].values.reshape(-1, dimension)
    print(f"  correlation eigenvalues of the whitened draws: {_describe(_eigenvalues(left))}")
    held, n_free, start = _reparametrized(model, names, mean, lambda w: w, held=re.compile(r"_sd_log__$"))
    _same_density(model, held, names, mean, start)
    compiled = nutpie.compile_pymc_model(held, initial_points={"w": start})
    _, rows[f"sds held ({dimension - n_free} of them)"] = _sample(compiled, spec, args.draws)
    with pm.Model() as isotropic:
        pm.Normal("x", 0.0, 1.0, shape=dimension)
    _, rows["isotropic normal"] = _sample(nutpie.compile_pymc_model(isotropic), spec, args.draws)

    print("\n| form | steps per draw: median / mean | step size | divergences | sampling s |")
    print("|---|---|---|---|---|")
    for name, row in rows.items():
        print(
            f"| {name} | {row['steps median']:.0f} / {row['steps mean']:.1f} | {row['step size']:.3f} | "
            f"{row['divergences']} | {row['sampling s']:.1f} |"
        )


if __name__ == "__main__":
    main()
