"""Run the replicates of a calibration study in parallel through joblib: in this process (``serial``),
one process per core (``loky``, joblib's default) or on a Dask cluster (``dask``: joblib's dask backend on a
``distributed.Client`` connected to ``scheduler``). Results come back as they finish, so the caller writes
each at once (an interrupted study keeps its finished replicates).

Each worker process keeps its compiled samplers between tasks (:func:`ww_bayes.inference.sample_posterior`
caches one per model structure), so a worker compiles once, not once per replicate. loky replaces a worker
whose memory grew by more than 300 MB since its first task (its guard against leaks; a process grows by
about 35 MB per 12-month fit, measured over five, and a destinations study's workers were replaced 11
times in 50 cohorts): the new worker loads the compiled sampler from the disk cache
(:mod:`ww_bayes.sampler`). Its warning ("A worker stopped while some jobs were given to the executor") is
kept off the screen.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from tqdm.auto import tqdm

BACKENDS = ("loky", "dask", "serial")
#: loky's warning when it replaces a worker (the start of its message, a regular expression for warnings)
WORKER_REPLACED = "A worker stopped while some jobs were given to the executor"


class DispatchError(ValueError):
    """A backend, scheduler or job count that cannot run."""


def workers(n_jobs: int, backend: str) -> int:
    """Processes the study will use (``n_jobs`` 0: one per core)."""
    if backend == "serial":
        return 1
    return n_jobs if n_jobs > 0 else os.cpu_count() or 1


def check_dispatch(backend: str, scheduler: str | None) -> None:
    if backend not in BACKENDS:
        raise DispatchError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if (backend == "dask") != (scheduler is not None):
        raise DispatchError("--scheduler ADDRESS goes with --backend dask (and dask needs one)")


def run_tasks(
    function: Callable[[Any], Any],
    tasks: Iterable[Any],
    total: int,
    *,
    n_jobs: int = 0,
    backend: str = "loky",
    scheduler: str | None = None,
    progress: bool = True,
    description: str = "replicates",
) -> Iterator[Any]:
    """``function(task)`` for every task, yielded in the order they finish. ``n_jobs`` 0: one process per
    core (loky) or every worker of the cluster (dask)."""
    check_dispatch(backend, scheduler)
    bar = tqdm(total=total, desc=description, disable=not progress, unit="rep")
    try:
        if backend == "serial" or (backend == "loky" and workers(n_jobs, backend) == 1):
            for task in tasks:
                yield function(task)
                bar.update()
            return
        if backend == "loky":
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", WORKER_REPLACED, UserWarning)
                yield from _counted(_parallel(function, tasks, n_jobs), bar)
            return
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - depends on the installation
            raise DispatchError(
                "--backend dask needs dask and distributed: pip install 'ww-bayes[cluster]'"
            ) from None
        from joblib import parallel_config

        with Client(scheduler) as client, parallel_config(backend="dask", client=client):
            yield from _counted(_parallel(function, tasks, -1), bar)
    finally:
        bar.close()


def _parallel(function, tasks, n_jobs: int) -> Iterator[Any]:
    from joblib import Parallel, delayed  # here: `ww-bayes fit` does not pay for importing joblib

    return Parallel(n_jobs=n_jobs or -1, return_as="generator_unordered")(delayed(function)(t) for t in tasks)


def _counted(results: Iterator[Any], bar) -> Iterator[Any]:
    for result in results:
        bar.update()
        yield result
