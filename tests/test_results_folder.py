"""A results folder that cannot be corrupted: one lock per folder, a fit and its summary written as one
unit, no debris after an interrupted or killed write, no update lost between concurrent writers."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr

from ww_bayes.data.io import LOCK_NAME, LockTimeout, atomic_write, file_sha256, folder_lock
from ww_bayes.results import (
    FIT_SHA_COLUMN,
    fresh_summary,
    load_fit,
    save_fit_and_summary,
    store_group,
    summarise,
    summary_path,
)


def slow_writer(target: Path, marker: Path, *, sigterm_handler: bool) -> subprocess.Popen:
    """A process that writes ``target`` through :func:`atomic_write` and stops before the rename (it
    writes new bytes, touches ``marker`` and sleeps): a write in progress, to be killed."""
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from ww_bayes.data.io import atomic_write, interrupt_on_sigterm
        if {sigterm_handler}:
            interrupt_on_sigterm()
        def write(tmp):
            Path(tmp).write_bytes(b"new, half-written" * 1000)
            Path({str(marker)!r}).touch()
            time.sleep(120)
        try:
            atomic_write({str(target)!r}, write)
        except KeyboardInterrupt:
            raise SystemExit(130)
        """
    )
    return subprocess.Popen([sys.executable, "-c", script])


def wait_for(path: Path, process: subprocess.Popen) -> None:
    for _ in range(600):
        if path.exists():
            return
        assert process.poll() is None, "the writer ended before it was killed"
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_killed_write_leaves_the_old_file_and_no_debris(tmp_path, how):
    target = tmp_path / "fit.nc"
    target.write_bytes(b"the old, complete file")
    marker = tmp_path.parent / f"{tmp_path.name}.marker"
    process = slow_writer(target, marker, sigterm_handler=how == "SIGTERM")
    wait_for(marker, process)
    debris = list(tmp_path.glob(".fit.nc.*.tmp"))
    assert len(debris) == 1  # the write in progress
    process.send_signal(signal.SIGKILL if how == "SIGKILL" else signal.SIGTERM)
    code = process.wait(timeout=60)
    assert target.read_bytes() == b"the old, complete file"
    if how == "SIGTERM":  # cleaned by the process itself
        assert code == 130 and not list(tmp_path.glob("*.tmp"))
    else:  # nothing can run on SIGKILL: the temp file stays until the next writer in the folder
        assert code == -signal.SIGKILL and debris[0].exists()
        atomic_write(tmp_path / "other.csv", lambda tmp: Path(tmp).write_text("x"))
        assert not list(tmp_path.glob("*.tmp"))
    assert target.read_bytes() == b"the old, complete file"


def test_a_writer_waits_for_the_lock_and_says_who_holds_it(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import time
            from ww_bayes.data.io import folder_lock
            with folder_lock({str(tmp_path)!r}):
                open({str(tmp_path / "held")!r}, "w").close()
                time.sleep(120)
            """)]
    )  # fmt: skip
    try:
        wait_for(tmp_path / "held", holder)
        with pytest.raises(
            LockTimeout,
            match=rf"another ww_bayes process has been writing here for over 0.5 s \(lock .*"
            rf"{re.escape(LOCK_NAME)}\)",
        ):
            with folder_lock(tmp_path, timeout=0.5):
                pass
    finally:
        holder.kill()
        holder.wait()
    with folder_lock(tmp_path, timeout=5):  # free again once the holder is gone
        pass


@pytest.fixture
def fit_file(small_trajectory_run, tmp_path) -> Path:
    """A real (small) fit in a folder of its own, with its summary CSV."""
    path = tmp_path / "trajectory.nc"
    shutil.copy(small_trajectory_run.fit, path)
    tree = load_fit(path, warn=False)
    save_fit_and_summary(tree, path, summarise(tree))
    return path


def test_fit_and_summary_are_one_unit_and_a_stale_summary_is_remade(fit_file):
    csv = summary_path(fit_file)
    table = pd.read_csv(csv)
    assert (table[FIT_SHA_COLUMN] == file_sha256(fit_file)).all()
    read, remade = fresh_summary(fit_file)
    assert not remade and len(read) == len(table)
    # the fit replaced behind the summary's back (as after a kill between the two renames)
    tree = load_fit(fit_file, warn=False)
    tree.attrs["note"] = "changed"
    tree.to_netcdf(fit_file, engine="h5netcdf")
    read, remade = fresh_summary(fit_file)
    assert remade and (pd.read_csv(csv)[FIT_SHA_COLUMN] == file_sha256(fit_file)).all()
    csv.unlink()
    read, remade = fresh_summary(fit_file)
    assert remade and csv.is_file()
    pd.testing.assert_frame_equal(read.reset_index(drop=True), summarise(tree).reset_index(drop=True))


WRITER = """
import sys
import xarray as xr
from ww_bayes.results import store_group
path, prefix = sys.argv[1], sys.argv[2]
for i in range(2):
    store_group(path, f"{prefix}_{i}", xr.Dataset({"value": ("row", [float(i)])}))
"""


def test_concurrent_writers_lose_no_update(fit_file):
    """Two processes add two groups each to the same fit at the same time (read, change, write): with
    the folder lock every group is there at the end, and the summary belongs to the final file."""
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(fit_file), name]) for name in ("a", "b")]
    assert [w.wait(timeout=300) for w in writers] == [0, 0]
    tree = xr.load_datatree(fit_file)
    assert {f"{p}_{i}" for p in "ab" for i in range(2)} <= set(tree.children)
    assert (pd.read_csv(summary_path(fit_file))[FIT_SHA_COLUMN] == file_sha256(fit_file)).all()
    assert not list(fit_file.parent.glob("*.tmp"))


def test_store_group_waits_for_the_folder_lock(fit_file, monkeypatch):
    """store_group reads, changes and writes under the folder's lock: while another process holds it,
    store_group waits (here: times out) and leaves the file as it was (without the lock it would read
    the file another writer is about to replace, and one of the two updates would be lost)."""
    before = file_sha256(fit_file)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import time
            from ww_bayes.data.io import folder_lock
            with folder_lock({str(fit_file.parent)!r}):
                open({str(fit_file.parent / "held")!r}, "w").close()
                time.sleep(120)
            """)]
    )  # fmt: skip
    try:
        wait_for(fit_file.parent / "held", holder)
        monkeypatch.setattr("ww_bayes.data.io.LOCK_TIMEOUT", 0.5)
        with pytest.raises(LockTimeout, match="another ww_bayes process"):
            store_group(fit_file, "late", xr.Dataset({"v": 1.0}))
    finally:
        holder.kill()
        holder.wait()
    assert file_sha256(fit_file) == before
