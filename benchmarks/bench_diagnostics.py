"""The convergence gate's diagnostics: arviz_stats (one scalar at a time) against ww_bayes.diagnostics
(every scalar at once), side by side on the same draws, and the two results compared.

Shapes are those the gate sees: the quantities it checks (posterior variables and the derived group) times
chains times draws, for a 12-month fit as shipped (4 x 2,000), a trajectory fit as shipped (4 x 3,000) and a
test- or SBC-sized fit (2 x 200). Draws are AR(1) with autocorrelation 0.5 (the timing does not depend on it).

    .venv/bin/python benchmarks/bench_diagnostics.py
"""

from __future__ import annotations

import time

import arviz_stats as azs
import numpy as np
import xarray as xr

from ww_bayes.diagnostics import diagnose

GATE = ("r_hat", "ess_bulk", "ess_tail", "mcse_mean")
CASES = {
    "12-month fit (578 quantities, 4 x 2000)": (578, 4, 2000),
    "trajectory fit (4,252 quantities, 4 x 3000)": (4252, 4, 3000),
    "small fit (578 quantities, 2 x 200)": (578, 2, 200),
}


def draws(quantities: int, chains: int, n: int) -> xr.Dataset:
    rng = np.random.default_rng(1)
    x = np.empty((chains, n, quantities))
    x[:, 0] = rng.standard_normal((chains, quantities))
    for t in range(1, n):
        x[:, t] = 0.5 * x[:, t - 1] + rng.standard_normal((chains, quantities))
    return xr.Dataset({"x": (("chain", "draw", "quantity"), x)})


def with_arviz_stats(ds: xr.Dataset) -> dict[str, xr.Dataset]:
    return {
        "r_hat": azs.rhat(ds),
        "ess_bulk": azs.ess(ds, method="bulk"),
        "ess_tail": azs.ess(ds, method="tail"),
        "mcse_mean": azs.mcse(ds, method="mean"),
    }


def main() -> None:
    print("| case | arviz_stats (s) | ww_bayes.diagnostics (s) | ratio | largest relative difference |")
    print("|---|---|---|---|---|")
    for label, shape in CASES.items():
        ds = draws(*shape)
        start = time.perf_counter()
        reference = with_arviz_stats(ds)
        middle = time.perf_counter()
        ours = diagnose(ds, GATE)
        end = time.perf_counter()
        worst = max(float(np.max(np.abs(ours[d]["x"].values / reference[d]["x"].values - 1))) for d in GATE)
        ratio = (middle - start) / (end - middle)
        print(f"| {label} | {middle - start:.2f} | {end - middle:.2f} | {ratio:.1f}x | {worst:.1e} |")


if __name__ == "__main__":
    main()
