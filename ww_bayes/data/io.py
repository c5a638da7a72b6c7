"""Reading cohort files and writing every output atomically (temp file in the same folder, then rename)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import xarray as xr

from ww_bayes.data.schema import to_typed, validate

COHORT_SUFFIXES = {".csv": "CSV", ".parquet": "Parquet", ".pq": "Parquet"}


class CohortFileError(ValueError):
    """A cohort file that cannot be read: wrong type, missing, or not parseable."""


def read_cohort_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV or Parquet cohort file as it is, without validation."""
    path = Path(path)
    kind = COHORT_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise CohortFileError(
            f"{path}: unsupported file type {path.suffix or '(none)'!r}; "
            f"ww_bayes reads {', '.join(sorted(COHORT_SUFFIXES))}"
        )
    if not path.is_file():
        raise CohortFileError(f"{path}: no such file")
    try:
        if kind == "CSV":
            # person_id and labels stay text; outcomes are parsed as numbers with NA kept as NA
            return pd.read_csv(path, dtype={"region": str, "inflow_month": str}, low_memory=False)
        return pd.read_parquet(path)
    except Exception as error:  # pyarrow and the CSV parser raise many types
        raise CohortFileError(f"{path}: cannot be read as {kind}: {error}") from error


def load_cohort(path: str | os.PathLike) -> pd.DataFrame:
    """Read a cohort (CSV or Parquet), validate it against the schema and return a typed DataFrame.

    Raises CohortFileError when the file cannot be read and SchemaError listing every problem when it
    does not follow the schema.
    """
    df = read_cohort_table(path)
    validate(df)
    return to_typed(df)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, for provenance."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp's 0600 would otherwise survive the rename
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and move the result to ``path`` atomically; return ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def write_cohort(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a cohort table as Parquet or CSV (by suffix), atomically."""
    path = Path(path)
    kind = COHORT_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise CohortFileError(f"{path}: unsupported output type; use one of {sorted(COHORT_SUFFIXES)}")
    if kind == "CSV":
        return atomic_write(path, lambda tmp: df.to_csv(tmp, index=False))
    return atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))


def write_datatree(tree: xr.DataTree, path: str | os.PathLike) -> Path:
    """Write a DataTree to NetCDF (h5netcdf engine) atomically."""
    return atomic_write(path, lambda tmp: tree.to_netcdf(tmp, engine="h5netcdf"))


def load_datatree(path: str | os.PathLike) -> xr.DataTree:
    """Read a NetCDF DataTree eagerly (the file is closed afterwards, so it can be overwritten)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return xr.load_datatree(path, engine="h5netcdf")
