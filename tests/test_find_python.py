"""scripts/find_python.sh: the Makefile's way to find a Python >= 3.12, or a clear message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "find_python.sh"


def run(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, check=False)


def test_python_variable_is_used_when_recent():
    result = run({**os.environ, "PYTHON": sys.executable})
    assert result.returncode == 0
    assert Path(result.stdout.strip()).resolve() == Path(sys.executable).resolve()


def test_python_variable_that_does_not_run_is_refused(tmp_path):
    old = tmp_path / "python-old"
    old.write_text("#!/bin/sh\nexit 1\n")
    old.chmod(0o755)
    result = run({**os.environ, "PYTHON": str(old)})
    assert result.returncode == 1
    assert "does not run or is older than 3.12" in result.stderr


def test_clear_message_when_none_found(tmp_path):
    # an empty PATH (plus the shell tools the script needs) and no pyenv
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sort",):
        (bin_dir / tool).symlink_to(f"/usr/bin/{tool}")
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    result = subprocess.run(["/bin/bash", str(SCRIPT)], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "needs Python >= 3.12" in result.stderr and "none was found" in result.stderr
