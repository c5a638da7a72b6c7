"""Convergence diagnostics for many quantities at once: arviz_stats' algorithms, vectorised.

arviz_stats computes R-hat, ESS and MCSE one scalar at a time (a Python loop over every element of every
variable); a 12-month fit has ~600 scalars and a trajectory fit thousands, so the convergence gate and the
summary tables spent seconds to a minute there. This module computes the same numbers, by the same
algorithms (Vehtari et al. 2021: rank-normalised split R-hat, bulk and tail ESS with Geyer's initial
monotone sequence, MCSE of the mean and of the sd), for all scalars of a Dataset with numpy array
operations on blocks of quantities. ``tests/test_diagnostics.py`` checks every number against arviz_stats
on chains with autocorrelation, ties, constants, missing values and odd or tiny draw counts; arviz_stats
stays the reference.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import xarray as xr
from arviz_base import rcParams
from scipy.fft import next_fast_len
from scipy.special import ndtri

#: The diagnostics :func:`diagnose` returns, named as in arviz_stats' summary.
DIAGNOSTICS = ("ess_bulk", "ess_tail", "r_hat", "mcse_mean", "mcse_sd")
SAMPLE_DIMS = ("chain", "draw")
_BLOCK_VALUES = 250_000  # draws per block of quantities (see diagnose)


def diagnose(ds: xr.Dataset, which: tuple[str, ...] = DIAGNOSTICS) -> dict[str, xr.Dataset]:
    """R-hat (rank), bulk and tail ESS, MCSE of the mean and of the sd of every element of every variable
    of ``ds`` (all with dims ``chain`` and ``draw``); returns ``{diagnostic: Dataset}``, each Dataset with
    ``ds``'s variables without the sample dims, as ``arviz_stats.rhat(ds)`` / ``ess`` / ``mcse`` would."""
    unknown = sorted(set(which) - set(DIAGNOSTICS))
    if unknown:
        raise ValueError(f"unknown diagnostics {unknown}; choose from {list(DIAGNOSTICS)}")
    names = list(ds.data_vars)
    if not names:
        return {d: xr.Dataset() for d in which}
    layout = []
    for name in names:
        da = ds[name]
        missing = [d for d in SAMPLE_DIMS if d not in da.dims]
        if missing:
            raise ValueError(f"variable {name!r} has no {missing} dim: diagnostics need chains and draws")
        other = [d for d in da.dims if d not in SAMPLE_DIMS]
        values = da.transpose(*SAMPLE_DIMS, *other).values
        # (chain, draw, quantity): a view in the usual layout; each block is copied to float64 on its own,
        # never every variable at once (a path's derived draws take gigabytes)
        flat = values.reshape(*values.shape[:2], -1)
        coords = {d: da[d] for d in other if d in da.coords}
        layout.append((name, other, values.shape[2:], coords, flat))
    n_chain, n_draw = layout[0][4].shape[:2]
    # blocks of quantities small enough for the CPU cache (the FFTs and ranks of all at once are
    # memory-bound: slower than arviz_stats' loop on a trajectory fit's 50 million draws)
    step = max(1, _BLOCK_VALUES // (n_chain * n_draw))
    tasks = [(i, start) for i, entry in enumerate(layout) for start in range(0, entry[4].shape[2], step)]

    def one_block(task: tuple[int, int]) -> list[np.ndarray]:
        index, start = task
        block = layout[index][4][:, :, start : start + step]
        x = np.ascontiguousarray(np.moveaxis(np.asarray(block, dtype=float), -1, 0))
        # as arviz_stats: no diagnostic with fewer than 4 draws or a missing value, no R-hat with one chain
        invalid = np.isnan(x).any(axis=(1, 2)) | (x.shape[2] < 4)
        if invalid.all():
            return [np.full(len(x), np.nan) for _ in which]
        block = _Draws(np.where(invalid[:, None, None], 0.0, x))  # its split and ranked copies go with it
        return [np.where(invalid, np.nan, getattr(block, diagnostic)()) for diagnostic in which]

    threads = min(_threads(), len(tasks))
    if threads > 1:  # numpy's sorts, FFTs and ufuncs release the GIL: blocks run side by side
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(one_block, tasks))
    else:
        results = [one_block(task) for task in tasks]
    out = {}
    for i, diagnostic in enumerate(which):
        variables = {}
        for index, (name, dims, shape, coords, _) in enumerate(layout):
            parts = [r[i] for (owner, _), r in zip(tasks, results, strict=True) if owner == index]
            flat = np.concatenate(parts) if parts else np.full(0, np.nan)
            variables[name] = xr.DataArray(flat.reshape(shape), dims=dims, coords=coords)
        out[diagnostic] = xr.Dataset(variables)
    return out


def _threads() -> int:
    """Threads for the blocks: the CPUs this process may use, or fewer if a thread limit is set
    (joblib sets ``OMP_NUM_THREADS`` in its workers so parallel fits do not oversubscribe)."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    limit = os.environ.get("OMP_NUM_THREADS", "")
    return max(1, min(available, int(limit))) if limit.isdigit() and int(limit) > 0 else available


# --- the algorithms, on (quantity, chain, draw) arrays ---------------------------------------------------


def _split(x: np.ndarray) -> np.ndarray:
    """Split every chain in two halves (dropping the middle draw when odd), as arviz_stats."""
    half = x.shape[2] // 2
    return np.concatenate([x[:, :, :half], x[:, :, x.shape[2] - half :]], axis=1)


def _z_scale(x: np.ndarray) -> np.ndarray:
    """Rank-normalise each quantity over all its chains and draws (average ranks, Blom's offset 3/8)."""
    flat = x.reshape(x.shape[0], -1)
    return _normal_scores(flat).reshape(x.shape)


def _normal_scores(flat: np.ndarray) -> np.ndarray:
    """``ndtri((rank - 3/8) / (n - 2 * 3/8 + 1))`` of the average ranks along each row, as
    ``scipy.stats.rankdata(flat, method="average", axis=1)`` gives them, for all rows at once: one sort
    per row; tied values (flags, constants, the two draws either side of an even count's median once
    folded) share the mean of their positions. An average rank is ``(first + last) / 2 + 1`` for the
    positions ``first`` and ``last`` of its run of equal values, so it takes one of ``2n - 1`` values: their
    scores are computed once and looked up (the same numbers; ``ndtri`` per draw took most of the gate's
    time)."""
    n = flat.shape[1]
    order = np.argsort(flat, axis=1)
    ordered = np.take_along_axis(flat, order, axis=1)
    position = np.arange(n)
    starts = np.ones(flat.shape, dtype=bool)  # where a run of equal values begins
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    ends = np.ones(flat.shape, dtype=bool)  # where one ends
    ends[:, :-1] = starts[:, 1:]
    first = np.maximum.accumulate(np.where(starts, position, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, position, n - 1)[:, ::-1], axis=1)[:, ::-1]
    scores = ndtri((np.arange(2 * n - 1) / 2 + 1 - 3 / 8) / (n - 2 * 3 / 8 + 1))
    out = np.empty(flat.shape)
    np.put_along_axis(out, order, scores[first + last], axis=1)
    return out


def _rhat_basic(x: np.ndarray) -> np.ndarray:
    n = x.shape[2]
    between = n * np.var(x.mean(axis=2), axis=1, ddof=1)
    within = np.var(x, axis=2, ddof=1).mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt((between / within + n - 1) / n)


def _ess(x: np.ndarray) -> np.ndarray:
    """ESS of each quantity of (already split) chains: FFT autocovariance, Geyer's initial positive and
    monotone sequences, as arviz_stats' ``_ess``, vectorised over quantities."""
    n_quantity, n_chain, n_draw = x.shape
    total = n_chain * n_draw
    m = next_fast_len(2 * n_draw)
    centred = x - x.mean(axis=2, keepdims=True)
    spectrum = np.fft.rfft(centred, n=m, axis=2)
    spectrum *= np.conjugate(spectrum)
    acov = np.fft.irfft(spectrum, n=m, axis=2)[:, :, :n_draw] / n_draw
    mean_var = acov[:, :, 0].mean(axis=1) * n_draw / (n_draw - 1.0)
    var_plus = mean_var * (n_draw - 1.0) / n_draw
    if n_chain > 1:
        var_plus = var_plus + np.var(x.mean(axis=2), axis=1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = 1.0 - (mean_var[:, None] - acov.mean(axis=1)) / var_plus[:, None]  # (quantity, lag)
    rho[:, 0] = 1.0
    # pair sums P_k = rho_2k + rho_2k+1; arviz computes pairs k = 1, 2, ... while 2k - 1 < n_draw - 3 and
    # the previous pair sum is positive, and stops after the first pair whose sum is <= 0
    last_pair = max((n_draw - 3) // 2, 0)  # the largest k with 2k - 1 < n_draw - 3
    n_pairs = last_pair + 1
    pairs = rho[:, 0 : 2 * n_pairs : 2] + rho[:, 1 : 2 * n_pairs : 2]  # P_0 .. P_last
    stops = pairs[:, 1:] <= 0
    first_stop = np.where(stops.any(axis=1), stops.argmax(axis=1) + 1, last_pair) if last_pair else 0
    stop = np.where(pairs[:, 0] > 0, first_stop, 0)  # K: the last pair computed
    # Geyer's initial monotone sequence over P_0 .. P_{K-1}: a running minimum
    monotone = np.minimum.accumulate(pairs, axis=1)
    used = np.arange(n_pairs)[None, :] < stop[:, None]
    summed = np.where(used, monotone, 0.0).sum(axis=1)
    rows = np.arange(n_quantity)
    rho_end = rho[rows, 2 * stop]
    pair_end = pairs[rows, stop]
    tail = np.where(stop == 0, 1.0, np.where((pair_end >= 0) | (rho_end > 0), rho_end, 0.0))
    tau = -1.0 + 2.0 * summed + tail
    tau = np.maximum(tau, 1 / np.log10(total))
    ess = total / tau
    ess[np.isnan(rho).any(axis=1)] = np.nan
    constant = (x.max(axis=(1, 2)) - x.min(axis=(1, 2))) < np.finfo(float).resolution
    ess[constant] = x[0].size
    return ess


class _Draws:
    """The draws of every quantity, (quantity, chain, draw), with the split chains and their rank-normalised
    values computed once (R-hat and bulk ESS share them)."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x
        self.split = _split(x)
        self._z_split: np.ndarray | None = None

    @property
    def z_split(self) -> np.ndarray:
        if self._z_split is None:
            self._z_split = _z_scale(self.split)
        return self._z_split

    def r_hat(self) -> np.ndarray:
        """Rank-normalised split R-hat: the larger of the bulk and the folded (tail) one."""
        x, split = self.x, self.split
        if x.shape[1] < 2 or x.shape[2] < 4:
            return np.full(x.shape[0], np.nan)
        folded = np.abs(split - np.median(split.reshape(len(split), -1), axis=1)[:, None, None])
        bulk, tail = _rhat_basic(self.z_split), _rhat_basic(_z_scale(folded))
        return np.where(bulk > tail, bulk, tail)

    def ess_bulk(self) -> np.ndarray:
        return _ess(self.z_split)

    def ess_tail(self) -> np.ndarray:
        """The smaller ESS of the indicators below the two tail quantiles; arviz_stats' ``ess(method="tail")``
        (and its summary's ``ess_tail``) takes them at 1 - ci_prob and ci_prob (rcParams, default 0.89)."""
        x = self.x
        prob = rcParams["stats.ci_prob"]
        low, high = np.quantile(x.reshape(len(x), -1), sorted((prob, 1 - prob)), axis=1)
        below_low = (x <= low[:, None, None]).astype(float)
        below_high = (x <= high[:, None, None]).astype(float)
        return np.minimum(_ess(_split(below_low)), _ess(_split(below_high)))

    def mcse_mean(self) -> np.ndarray:
        x = self.x
        return np.std(x.reshape(len(x), -1), axis=1, ddof=1) / np.sqrt(_ess(self.split))

    def mcse_sd(self) -> np.ndarray:
        x = self.x
        centred = x - x.reshape(len(x), -1).mean(axis=1)[:, None, None]
        squared = centred**2
        ess = _ess(_split(squared))
        evar = squared.reshape(len(x), -1).mean(axis=1)
        varvar = ((squared**2).reshape(len(x), -1).mean(axis=1) - evar**2) / ess
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sqrt(varvar / evar / 4)
