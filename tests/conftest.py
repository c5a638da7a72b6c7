"""Shared fixtures: simulated cohorts (deterministic) and the full-cohort fits of the shipped specs.

The expensive fits are made once per test run, not once per pytest-xdist worker: the first worker that asks
builds them in a folder every worker sees (under a file lock) and every worker, the first one included,
loads them from there.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from filelock import FileLock

from ww_bayes.cli import main
from ww_bayes.data.io import write_cohort, write_datatree
from ww_bayes.data.simulate import SimulatedCohort, simulate_cohort, truth_path
from ww_bayes.inference import fit
from ww_bayes.kinds import load_spec


@pytest.fixture(scope="session")
def small_cohort() -> SimulatedCohort:
    return simulate_cohort(n=4_000, seed=7)


@pytest.fixture(scope="session")
def full_cohort() -> SimulatedCohort:
    """The calibrated cohort at the published size (about 2 s)."""
    return simulate_cohort(seed=1)


@pytest.fixture
def small_df(small_cohort) -> pd.DataFrame:
    """A fresh copy of the small cohort's data, as a plain (untyped) table like a file would give."""
    df = small_cohort.data.copy()
    for column in ("arm", "werkverkenner", "region", "sex", "education"):
        df[column] = df[column].astype(str)
    return df


MODELS = Path(__file__).resolve().parents[1] / "models"

#: The test files that take longest, longest first: they run before all others. pytest-xdist hands whole
#: files to the workers in collection order (``make test`` passes ``--no-loadscope-reorder``), so a long file
#: collected last would keep one worker busy while the other has nothing left to do.
SLOWEST_FIRST = (
    "test_report", "test_notebooks", "test_reproducible", "test_trajectory", "test_release", "test_install",
    "test_destinations", "test_calibration", "test_sparse", "test_hours",
)  # fmt: skip


@pytest.fixture(scope="session")
def as_centred() -> Callable:
    """The point of a model's centred form that matches ``point`` of a form ``dev = sd^power * z``, and the
    log-density difference the change of variables makes: ``convert(point, power, names)`` with
    ``names(value_name)`` giving (the centred deviations' value name, the sd's value name) for a ``z`` value
    and None for the others. The sum-to-zero transform is linear, so the centred unconstrained deviations
    are ``sd^power`` times the others', and each of their entries adds ``-power * log sd``."""

    def convert(point: dict, power: float, names: Callable) -> tuple[dict, float]:
        centred, jacobian = {}, 0.0
        for name, value in point.items():
            renamed = names(name)
            if renamed is None:
                centred[name] = value
                continue
            dev, sd_name = renamed
            sd = np.exp(point[sd_name])
            centred[dev] = sd**power * value
            jacobian -= power * value.size * np.log(sd)
        return centred, jacobian

    return convert


def pytest_collection_modifyitems(config, items) -> None:
    rank = {name: k for k, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: the rest keep their order


def built_once(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """The folder ``name`` that ``build`` fills, built once per test run: by the first pytest-xdist worker
    that asks (the others wait on a file lock), in the run's base temporary folder that all workers share."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = shared / name
    with FileLock(f"{folder}.lock"):
        if not (folder / "built").exists():
            folder.mkdir(exist_ok=True)
            build(folder)
            (folder / "built").touch()
    return folder


SPECS_12M = ("job_finding_12m", "ww_claim_12m")


@pytest.fixture(scope="session")
def full_fits(full_cohort, tmp_path_factory) -> dict[str, xr.DataTree]:
    """The shipped 12-month specs, as shipped (nutpie, 4 chains), fit once on the calibrated cohort and
    shared by the recovery and frequentist-comparison tests (about a minute in all); as written and read
    back, the way an analyst gets them."""

    def build(folder: Path) -> None:
        for name in SPECS_12M:
            tree = fit(load_spec(MODELS / f"{name}.toml"), full_cohort.data, progress=False, log=None)
            write_datatree(tree, folder / f"{name}.nc")

    folder = built_once(tmp_path_factory, "full_fits", build)
    return {name: xr.load_datatree(folder / f"{name}.nc") for name in SPECS_12M}


@dataclass(frozen=True)
class CliRun:
    """A ``ww-bayes`` command run once for the session: its exit code, what it printed, its files."""

    code: int
    out: str
    data: Path
    fit: Path


@pytest.fixture(scope="session")
def small_trajectory_run(small_cohort, tmp_path_factory) -> CliRun:
    """``ww-bayes fit models/trajectory_30m.toml`` on the small cohort with short chains (one numba
    compile, shared by the trajectory CLI test and the report test); the truth beside the data, as
    ``ww-bayes simulate`` writes it."""

    def build(folder: Path) -> None:
        data = write_cohort(small_cohort.data, folder / "cohort.parquet")
        write_datatree(small_cohort.truth, truth_path(data))
        short = ["--chains", "2", "--draws", "50", "--tune", "50", "--no-progress", "--allow-unconverged"]
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            code = main(
                ["fit", str(MODELS / "trajectory_30m.toml"), "--data", str(data),
                 "--out", str(folder / "trajectory.nc"), *short]
            )  # fmt: skip
        (folder / "run.json").write_text(json.dumps({"code": code, "out": printed.getvalue()}))

    folder = built_once(tmp_path_factory, "small_trajectory_run", build)
    run = json.loads((folder / "run.json").read_text())
    data, out = folder / "cohort.parquet", folder / "trajectory.nc"
    return CliRun(code=run["code"], out=run["out"], data=data, fit=out)
