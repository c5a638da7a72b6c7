"""ww_bayes.diagnostics computes arviz_stats' R-hat, ESS and MCSE, vectorised: every number must equal
arviz_stats' own (to rounding), on chains that mix well and badly, with ties, constants, an odd number of
draws, one chain and several dims."""

from __future__ import annotations

import arviz_stats as azs
import numpy as np
import pytest
import xarray as xr
from arviz_base import rc_context

from ww_bayes import diagnostics
from ww_bayes.diagnostics import DIAGNOSTICS, diagnose


def autoregressive(rng, chains: int, draws: int, rho: np.ndarray) -> np.ndarray:
    """(chain, draw, len(rho)) AR(1) draws, one autocorrelation per column."""
    x = np.zeros((chains, draws, len(rho)))
    noise = rng.standard_normal((chains, draws, len(rho)))
    for t in range(draws):
        x[:, t] = (rho * x[:, t - 1] if t else 0) + noise[:, t]
    return x


def reference(ds: xr.Dataset) -> dict[str, xr.Dataset]:
    return {
        "ess_bulk": azs.ess(ds, method="bulk"),
        "ess_tail": azs.ess(ds, method="tail"),
        "r_hat": azs.rhat(ds),
        "mcse_mean": azs.mcse(ds, method="mean"),
        "mcse_sd": azs.mcse(ds, method="sd"),
    }


def draws(chains: int, n: int, seed: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    mixing = autoregressive(rng, chains, n, np.array([0.0, 0.5, 0.9, 0.99, -0.3, 0.7]))
    mixing[..., 5] = np.round(mixing[..., 5])  # ties: a discrete quantity
    stuck = mixing + 2 * np.arange(chains)[:, None, None] * mixing.std(axis=(0, 1))  # chains apart
    grid = autoregressive(rng, chains, n, np.full(12, 0.6)).reshape(chains, n, 3, 4)
    return xr.Dataset(
        {
            "mixing": (("chain", "draw", "q"), mixing),
            "stuck": (("chain", "draw", "q"), stuck),
            "constant": (("chain", "draw"), np.ones((chains, n))),
            "grid": (("chain", "draw", "contrast", "month"), grid),
        },
        coords={"contrast": ["a", "b", "c"], "month": [1, 2, 3, 4]},
    )


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # arviz_stats on the constant variable
@pytest.mark.parametrize(("chains", "n"), [(4, 1000), (2, 301), (1, 50), (4, 7), (3, 5), (2, 4), (2, 3)])
def test_every_diagnostic_equals_arviz_stats(chains, n):
    ds = draws(chains, n)
    ds["gap"] = ds["grid"].where(ds["month"] != 2)  # a missing value: that element has no diagnostic
    mine, theirs = diagnose(ds), reference(ds)
    assert set(mine) == set(DIAGNOSTICS)
    for diagnostic in DIAGNOSTICS:
        for name in ds.data_vars:
            ours, expected = mine[diagnostic][name], theirs[diagnostic][name]
            assert ours.dims == expected.dims, (diagnostic, name)
            np.testing.assert_allclose(
                ours.values, expected.values, rtol=1e-9, equal_nan=True, err_msg=f"{diagnostic} {name}"
            )
    assert list(mine["r_hat"]["grid"]["month"].values) == [1, 2, 3, 4]
    if chains > 1 and n >= 100:  # the cases the gate exists for
        assert float(mine["r_hat"]["stuck"].min()) > 1.1 > float(mine["r_hat"]["mixing"][0])


def test_tail_ess_follows_arviz_stats_ci_prob():
    """arviz_stats takes the tail ESS at 1 - ci_prob and ci_prob (0.11 and 0.89 by default), not at the
    5% and 95% of Vehtari et al.: a version that hard-coded 5%/95% would differ, and is caught here."""
    ds = draws(4, 1000, seed=3)[["stuck"]]
    default = diagnose(ds, ("ess_tail",))["ess_tail"]["stuck"].values
    with rc_context({"stats.ci_prob": 0.95}):
        paper = diagnose(ds, ("ess_tail",))["ess_tail"]["stuck"].values
        np.testing.assert_allclose(paper, azs.ess(ds, method="tail")["stuck"].values, rtol=1e-9)
    assert not np.allclose(default, paper, rtol=1e-3)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"unknown diagnostics \['ess_median'\]"):
        diagnose(draws(2, 20), ("ess_median",))
    no_chain = xr.Dataset({"x": (("draw",), np.arange(10.0))})
    with pytest.raises(ValueError, match=r"variable 'x' has no \['chain'\] dim"):
        diagnose(no_chain)


def test_blocks_in_threads_give_the_same_numbers(monkeypatch):
    """The blocks of quantities run in threads: one thread and two give identical numbers, block by block
    (one quantity per block here, so the threads interleave)."""
    ds = draws(4, 300, seed=4)
    monkeypatch.setattr(diagnostics, "_BLOCK_VALUES", 1200)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert diagnostics._threads() == 1
    one = diagnose(ds)
    monkeypatch.setattr(diagnostics, "_threads", lambda: 2)
    two = diagnose(ds)
    for diagnostic in DIAGNOSTICS:
        xr.testing.assert_identical(one[diagnostic], two[diagnostic])


def test_normal_scores_equal_those_of_scipy_average_ranks_with_and_without_ties():
    """The vectorised scores are ``ndtri`` of scipy's average ranks row by row, bit for bit: distinct
    values, a flag, a constant, a run of ties at the start, and folded draws of an even count (the two
    either side of the median tie)."""
    from scipy.special import ndtri
    from scipy.stats import rankdata

    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 1000))
    x[1] = x[1] > 0
    x[2] = 1.0
    x[3, :10] = x[3, 10]
    x[4] = np.abs(x[4] - np.median(x[4]))
    n = x.shape[1]
    expected = ndtri((rankdata(x, method="average", axis=1) - 3 / 8) / (n - 2 * 3 / 8 + 1))
    np.testing.assert_array_equal(diagnostics._normal_scores(x), expected)
