"""Convergence of the shipped 12-month specs across sampler seeds, on the calibrated cohort.

One converged fit can be luck: this fits each spec, as shipped but for the sampler seed, with several seeds
on the same cohort and prints per fit the worst R-hat (and its variable), the smallest ESS bulk of the
effect parameters, the divergences, the verdict and the fit time (warm after the first).

    .venv/bin/python benchmarks/bench_convergence.py [--seeds 4]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings
from pathlib import Path

from ww_bayes.fit import fit
from ww_bayes.simulate import simulate_cohort
from ww_bayes.spec import load_spec

MODELS = Path(__file__).resolve().parents[1] / "models"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--specs", nargs="+", default=["job_finding_12m", "ww_claim_12m"])
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    cohort = simulate_cohort(seed=1).data
    for name in args.specs:
        spec = load_spec(MODELS / f"{name}.toml")
        settings = spec.sampler
        print(f"{name}: {settings.chains} x {settings.draws} draws, tune {settings.tune}, "
              f"target_accept {settings.target_accept}")  # fmt: skip
        converged = 0
        for offset in range(args.seeds):
            seed = settings.seed + offset
            seeded = dataclasses.replace(spec, sampler=dataclasses.replace(settings, seed=seed))
            start = time.perf_counter()
            tree = fit(seeded, cohort, progress=False, log=None)
            seconds = time.perf_counter() - start
            table = tree["diagnostics"].ds
            rhat = table["r_hat_max"].to_series()
            ess = table["ess_bulk_min"].where(table["ess_checked"] == 1).min()
            divergences = int(tree["sample_stats"].ds["diverging"].sum())
            converged += tree.attrs["converged"] == "yes"
            print(
                f"  seed {seed}: max R-hat {rhat.max():.4f} ({rhat.idxmax()}), min ESS bulk {float(ess):.0f},"
                f" {divergences} divergences, converged {tree.attrs['converged']}, {seconds:.1f} s"
            )
        print(f"  converged for {converged} of {args.seeds} sampler seeds")


if __name__ == "__main__":
    main()
