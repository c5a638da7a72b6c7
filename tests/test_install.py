"""ww_bayes without the repository: the wheel carries the specs and notebooks, and the wheelhouse installs
it offline into a fresh virtual environment, where simulate -> fit (by spec name) -> release work."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    """``make wheelhouse`` into a temporary folder (downloads once; pip's cache makes it quick)."""
    folder = tmp_path_factory.mktemp("wheelhouse")
    done = subprocess.run(["make", "-s", "wheelhouse", f"WHEELHOUSE={folder}"], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return folder


def test_the_wheel_carries_the_specs_notebooks_and_templates(wheelhouse):
    (wheel,) = wheelhouse.glob("ww_bayes-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"ww_bayes/models/{p.name}" for p in (ROOT / "models").glob("*.toml")}
    shipped |= {f"ww_bayes/notebooks/{p.name}" for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert len(shipped) >= 9 and shipped <= names
    assert "ww_bayes/report/templates/report.html.j2" in names


def test_offline_install_outside_the_repository_fits_and_releases(wheelhouse, tmp_path):
    """A fresh venv (no --system-site-packages) in a folder outside the repository, pip with no index and
    no config (nothing but the wheelhouse), then the analyst's first steps there."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "HTTP_PROXY": "http://127.0.0.1:9",
                "HTTPS_PROXY": "http://127.0.0.1:9"})  # fmt: skip
    python = venv / "bin" / "python"
    # --no-compile: pip byte-compiling every file took 46 of the install's 59 s; the commands below write the
    # bytecode of what they import (PYTHONDONTWRITEBYTECODE is among the PYTHON* variables dropped above)
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-compile", "--no-index",
                              "--find-links", str(wheelhouse), "ww-bayes"], env=env, capture_output=True,
                             text=True, timeout=900)  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    work = tmp_path / "analyst"
    work.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([str(venv / "bin" / "ww-bayes"), *args], cwd=work, env=env, capture_output=True,
                              text=True, timeout=900)  # fmt: skip
        assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-3000:])
        return done

    located = subprocess.run([str(python), "-c", "import ww_bayes; print(ww_bayes.__file__)"], cwd=work,
                             env=env, capture_output=True, text=True, check=True)  # fmt: skip
    assert str(venv) in located.stdout and str(ROOT) not in located.stdout  # the installed copy
    run("init", ".")
    assert (work / "models" / "job_finding_12m.toml").is_file() and (work / "notebooks").is_dir()
    run("simulate", "--n", "3000", "--seed", "3", "--out", "data/cohort.parquet")
    short = ["--chains", "2", "--draws", "150", "--tune", "150", "--no-progress", "--allow-unconverged"]
    run("fit", "job_finding_12m", "--data", "data/cohort.parquet", "--out", "results/job.nc", *short)
    released = run("release", "results", "--out", "release")
    assert "check passed" in released.stdout and (work / "release" / "disclosure_report.html").is_file()
    assert (work / "release" / "job_estimates.nc").is_file()
