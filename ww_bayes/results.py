"""The files ww_bayes writes, their layout, and the checks on them: fits, cost-effectiveness results,
comparisons.

Each file kind has ``save_*`` (atomic: temp file, then rename) and ``load_*`` (eager, checked). A fit or a
cost-effectiveness file carries provenance attrs (``ww_bayes_kind``, layout version, model kind, spec
text, data SHA-256, package versions); :func:`load_fit` refuses a file that is not a ww_bayes fit or whose
kind or layout this version cannot read, and says how to refit. What a fit file stores (draws thinned,
float32, the heavy groups only when kept) is :func:`stored`. Summaries come from the fit's model kind
(arviz_stats.summary underneath, intervals labelled by :func:`ww_bayes.vocabulary.interval_label`).
The CLI, the notebooks and the report all read results through this module.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ww_bayes.data.io import (
    atomic_paths,
    atomic_write,
    file_sha256,
    folder_lock,
    load_datatree,
    to_netcdf,
    write_datatree,
)
from ww_bayes.data.simulate import truth_path
from ww_bayes.derived import derived_tree, fit_level_events, levels_of, recomputed_probabilities, thinned
from ww_bayes.kinds import KINDS, kind_of, parse_spec
from ww_bayes.kinds.common import OPTIONAL_GROUPS, OutputSettings
from ww_bayes.kinds.protocol import ModelKind
from ww_bayes.summaries import coverage as summary_coverage
from ww_bayes.tomlspec import SpecError
from ww_bayes.vocabulary import interval_label, interval_of

FIT_KIND = "ww_bayes posterior fit"
#: The kind of a fit's released estimates (:mod:`ww_bayes.release`): its derived group and convergence table.
RELEASED_KIND = "ww_bayes released fit"
#: A released fit's file name after its fit's: ``job_finding_12m`` -> ``job_finding_12m_estimates.nc``.
RELEASED_SUFFIX = "_estimates"
#: Version of the fit file's layout (groups and attrs); files without it are version 1. Version 3: the
#: derived group holds one child per level (:mod:`ww_bayes.derived`), the cohort composition is the group
#: ``weights``, the observation is named in attr ``observation``. Version 4: attr ``parametrization`` says
#: how each partially pooled factor's deviations were written (centred or not, chosen from the data), which
#: the model rebuilt from the file needs.
FIT_SCHEMA_VERSION = 4
CEA_KIND = "ww_bayes cost-effectiveness"
CEA_GROUP = "cost_effectiveness"
FREQUENTIST_GROUP = "frequentist"


class ConvergenceWarning(UserWarning):
    """A fit missed one of its convergence thresholds."""


class ResultFileError(ValueError):
    """A file that is not a ww_bayes result of the expected kind, or one this version cannot read."""


class DataMismatchError(ValueError):
    """The data file given is not the one a fit was made on."""


# --- fits ---------------------------------------------------------------------------------------------------


def save_fit(tree: xr.DataTree, path: str | os.PathLike) -> Path:
    """Write a fit to NetCDF (compressed) atomically; returns the path."""
    return write_datatree(tree, path)


#: Column of a fit's summary CSV holding the SHA-256 of the fit file it was made from.
FIT_SHA_COLUMN = "fit_sha256"


def summary_path(fit_path: str | os.PathLike) -> Path:
    """``results/job.nc`` -> ``results/job_summary.csv``."""
    return sibling(fit_path, "_summary", ".csv")


def save_fit_and_summary(tree: xr.DataTree, path: str | os.PathLike, table: pd.DataFrame) -> list[Path]:
    """Write a fit and its summary table (``<stem>_summary.csv``) as one unit, under the folder's lock: both
    to temp files, then both renamed (the fit first). The CSV records the fit file's SHA-256
    (:data:`FIT_SHA_COLUMN`), so a summary that does not belong to the fit beside it (a run killed between
    the two renames, a fit replaced by hand) is recognised and :func:`fresh_summary` makes it again."""
    csv = summary_path(path)
    with atomic_paths(path, csv) as (tmp_fit, tmp_csv):
        to_netcdf(tree, tmp_fit)
        table.assign(**{FIT_SHA_COLUMN: file_sha256(tmp_fit)}).to_csv(tmp_csv, index=False)
    return [Path(path), csv]


def fresh_summary(path: str | os.PathLike, tree: xr.DataTree | None = None) -> tuple[pd.DataFrame, bool]:
    """The summary table of the fit at ``path``: read from its CSV when that records this file's SHA-256,
    else made from the fit and written (under the folder's lock). Returns (table, whether it was remade)."""
    csv = summary_path(path)
    with folder_lock(Path(path).parent):
        sha = file_sha256(path)
        if csv.is_file():
            try:
                table = pd.read_csv(csv, dtype={"group": str})
            except (OSError, ValueError, pd.errors.ParserError):
                table = None
            if table is not None and FIT_SHA_COLUMN in table and (table[FIT_SHA_COLUMN] == sha).all():
                return table.drop(columns=FIT_SHA_COLUMN), False
        table = summarise(tree if tree is not None else load_fit(path, warn=False))
        save_table(table.assign(**{FIT_SHA_COLUMN: sha}), csv)
    return table, True


def check_fit(tree: xr.DataTree, source: str | os.PathLike = "<tree>") -> None:
    """Raise :class:`ResultFileError` unless ``tree`` is a fit this version reads (kind registered, layout
    version known, derived group present)."""
    if tree.attrs.get("ww_bayes_kind") != FIT_KIND:
        raise ResultFileError(f"{source}: not a ww_bayes fit (attribute ww_bayes_kind is missing)")
    version = int(tree.attrs.get("fit_schema_version", 1))
    refit = f"refit it with `ww-bayes fit <spec> --data <cohort> --out {source}`"
    if version > FIT_SCHEMA_VERSION:
        raise ResultFileError(
            f"{source}: written by a newer ww_bayes (fit layout {version}; this one reads up to "
            f"{FIT_SCHEMA_VERSION}); upgrade ww_bayes or {refit}"
        )
    if version < FIT_SCHEMA_VERSION:
        raise ResultFileError(
            f"{source}: written by an older ww_bayes (fit layout {version}; this one reads layout "
            f"{FIT_SCHEMA_VERSION}: estimands per level, the cohort composition in its own group, the "
            f"parametrization of pooled deviations recorded); {refit}"
        )
    name = str(tree.attrs.get("model_kind", "effects"))
    if name not in KINDS:
        raise ResultFileError(f"{source}: model kind {name!r} is unknown here ({', '.join(KINDS)}); {refit}")
    if name not in tree.children:
        raise ResultFileError(f"{source}: a {name!r} fit without its {name!r} group; {refit}")


def check_released(tree: xr.DataTree, source: str | os.PathLike = "<tree>") -> None:
    """Raise :class:`ResultFileError` unless ``tree`` holds released estimates this version reads."""
    name = str(tree.attrs.get("model_kind", ""))
    if name not in KINDS or name not in tree.children:
        raise ResultFileError(f"{source}: released estimates of an unknown model kind ({name!r})")


def read_result(path: str | os.PathLike) -> xr.DataTree:
    """A NetCDF file read eagerly; :class:`ResultFileError` naming the file when it is missing, not NetCDF
    or damaged (a truncated copy, a CSV renamed .nc, ...)."""
    if Path(path).is_dir():
        raise ResultFileError(f"{path}: is a folder, not a NetCDF file")
    if not Path(path).is_file():
        raise ResultFileError(f"{path}: no such file")
    try:
        return load_datatree(path)
    except Exception as error:  # h5py/netCDF raise OSError, ValueError, KeyError ... for damaged files
        raise ResultFileError(
            f"{path}: cannot be read as NetCDF ({type(error).__name__}: {str(error)[:200]}); is it damaged "
            "or not a ww_bayes result?"
        ) from None


def load_fit(path: str | os.PathLike, *, warn: bool = True) -> xr.DataTree:
    """Read a fit written by :func:`save_fit` (eagerly), checked by :func:`check_fit`; warns
    (:class:`ConvergenceWarning`) when the fit is flagged as unconverged, unless ``warn=False``."""
    tree = read_result(path)
    check_fit(tree, path)
    if warn and not is_converged(tree):
        warnings.warn(
            f"{path}: this fit did not converge: {tree.attrs.get('convergence_report', '')}",
            ConvergenceWarning,
            stacklevel=2,
        )
    return tree


def spec_of(tree: xr.DataTree):
    """The model spec a fit was made with, parsed again from the text stored in the file."""
    try:
        return parse_spec(str(tree.attrs["spec_text"]), str(tree.attrs.get("spec_source", "<fit>")))
    except (KeyError, SpecError) as error:
        raise ResultFileError(f"the fit's stored spec cannot be read: {error}") from error


def check_data(tree: xr.DataTree, data: str | os.PathLike, fit_path: str | os.PathLike = "the fit") -> None:
    """Raise :class:`DataMismatchError` when ``data`` is not the file the fit was made on (SHA-256).
    Fits made on a DataFrame (not a file) cannot be checked and pass."""
    if not str(tree.attrs.get("data_sha256_of", "")).startswith("file"):
        return
    if file_sha256(data) != tree.attrs["data_sha256"]:
        raise DataMismatchError(f"{data} is not the file {fit_path} was fit on (SHA-256 differs)")


def summarise(tree: xr.DataTree) -> pd.DataFrame:
    """The fit's summary table (its kind's estimands, with the fit's interval)."""
    kind = kind_of(tree)
    return kind.summary(tree[kind.name], *interval_of(tree.attrs))


@dataclass(frozen=True)
class FitConvergence:
    """A fit's convergence as its gate judged it: ``converged``, the ``report`` (a line, or the problems),
    and the ``table`` per checked variable (largest R-hat, smallest bulk and tail ESS, largest MCSE of the
    mean, whether the ESS thresholds apply) with the thresholds in ``table.attrs``."""

    converged: bool
    report: str
    table: pd.DataFrame


def convergence(tree: xr.DataTree) -> FitConvergence:
    """The convergence of a fit (or of released estimates), from its file: see :class:`FitConvergence`."""
    diagnostics = tree["diagnostics"].ds
    table = diagnostics.drop_vars("bfmi", errors="ignore").to_dataframe()
    table["ess_checked"] = table["ess_checked"].astype(bool)
    table.attrs.update(diagnostics.attrs)
    return FitConvergence(is_converged(tree), str(tree.attrs.get("convergence_report", "")), table)


@dataclass(frozen=True)
class FitInfo:
    """What a fit was made of, from its file: the model's ``name`` and ``kind``, the cohort's ``n_persons``
    and ``n_cells``, whether it ``converged``, the SHA-256 of its data (``data_sha256``, of the file or of the
    DataFrame: ``data_sha256_of``), whether the data are ``synthetic``, and the draws per chain it sampled and
    stored (``sampled_draws``, ``stored_draws``: fewer when the file keeps every k-th draw)."""

    name: str
    kind: str
    n_persons: int
    n_cells: int
    converged: bool
    data_sha256: str
    data_sha256_of: str
    synthetic: bool
    sampled_draws: int
    stored_draws: int


def info(tree: xr.DataTree) -> FitInfo:
    """The provenance of a fit (:class:`FitInfo`), read from its attributes."""
    attrs = tree.attrs
    stored_draws = int(attrs.get("stored_draws", tree["posterior"].ds.sizes["draw"]))
    return FitInfo(
        name=str(attrs.get("model_name", "")),
        kind=str(attrs.get("model_kind", "")),
        n_persons=int(attrs.get("n_persons", 0)),
        n_cells=int(attrs.get("n_cells", 0)),
        converged=is_converged(tree),
        data_sha256=str(attrs.get("data_sha256", "")),
        data_sha256_of=str(attrs.get("data_sha256_of", "")),
        synthetic=str(attrs.get("synthetic_data", "no")) != "no",
        sampled_draws=int(attrs.get("sampled_draws", stored_draws)),
        stored_draws=stored_draws,
    )


def etable(
    fits: dict[str, xr.DataTree] | list[xr.DataTree],
    estimand: str = "effect_pp",
    levels: tuple[str, ...] = ("overall",),
    statistics: tuple[str, ...] = ("mean", "lb", "ub", "prob_beneficial"),
) -> pd.DataFrame:
    """Several fits side by side (as pyfixest's ``etable``): one row per contrast, level and group (and
    outcome and month, where the fits have them) of ``estimand`` at ``levels`` (summary labels:
    ``overall``, ``by_werkverkenner`` ...), one column per fit and statistic (``lb``/``ub``: the ends of
    each fit's own interval, whose kind and probability the column says). ``fits``: name -> fit, or a list
    (named by their model name)."""
    named = (
        fits if isinstance(fits, dict) else {str(t.attrs.get("model_name", i)): t for i, t in enumerate(fits)}
    )
    frames = {}
    for name, tree in named.items():
        table = summarise(tree)
        label = interval_label(*interval_of(tree.attrs))
        rows = table[(table["estimand"] == estimand) & table["level"].isin(levels)]
        keys = [k for k in ("outcome", "contrast", "level", "group", "month") if k in rows]
        wanted = {"lb": f"{label}_lb", "ub": f"{label}_ub"}
        columns = [wanted.get(s, s) for s in statistics if wanted.get(s, s) in rows]
        frames[name] = rows.set_index(keys)[columns].rename(
            columns={v: f"{k} ({label})" for k, v in wanted.items()}
        )
    return pd.concat(frames, axis=1, names=["fit", "statistic"])


def truth_of(tree: xr.DataTree, truth: xr.DataTree | str | os.PathLike) -> pd.DataFrame | None:
    """The simulator's truth for a fit, in its summary's shape (``truth`` column); ``truth`` is a truth
    tree or a path to one; None when the kind has none."""
    kind = kind_of(tree)
    if not kind.has_truth:
        return None
    if not isinstance(truth, xr.DataTree):
        truth = load_datatree(truth)
    return kind.truth(tree, truth)


def coverage(tree: xr.DataTree, summary: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Summary rows beside the truth, with ``covered``: the fit's interval holds the truth."""
    keys = list(kind_of(tree).key_columns)
    return summary_coverage(summary, truth, interval_label(*interval_of(tree.attrs)), keys)


def truth_for_data(tree: xr.DataTree, data: str | os.PathLike | None) -> pd.DataFrame | None:
    """The truth stored beside a simulated data file (``<stem>.truth.nc``), or None for real data."""
    if data is None or not truth_path(data).is_file():
        return None
    return truth_of(tree, truth_path(data))


def save_table(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """A table as CSV, atomically."""
    return atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))


def sibling(path: str | os.PathLike, suffix: str, extension: str) -> Path:
    """``results/job.nc`` + ``_summary`` + ``.csv`` -> ``results/job_summary.csv``."""
    path = Path(path)
    return path.with_name(f"{path.stem}{suffix}{extension}")


def store_group(path: str | os.PathLike, name: str, group: xr.Dataset) -> Path:
    """Add (or replace) a group in a fit file, atomically; read, change and write all under the folder's
    lock, so concurrent writers to the same file lose no update. The summary CSV is re-stamped with the new
    file's SHA-256 (its content does not depend on the added group)."""
    with folder_lock(Path(path).parent):
        tree = load_fit(path, warn=False)
        tree[name] = xr.DataTree(group)
        table, _ = fresh_summary(path, tree)
        return save_fit_and_summary(tree, path, table)[0]


# --- what a fit file stores ------------------------------------------------------------------------------

#: Groups whose draws are the sampler's (thinned together to the stored draws).
DRAW_GROUPS = ("posterior", "sample_stats", "log_likelihood", "posterior_predictive")
#: Groups stored in float32 (draws of model parameters, cell parameters and pointwise log-likelihood:
#: float32's 7 significant digits are far below their Monte Carlo error); the derived group's estimands
#: (effects in pp, cumulative months, ...) stay float64, counts become int32.
FLOAT32_GROUPS = ("posterior", "log_likelihood", "posterior_predictive", "prior", "prior_predictive")


def thinning(draws: int, stored_draws: int) -> int:
    """Keep every k-th draw so that at most ``stored_draws`` per chain remain (0: keep all)."""
    return 1 if stored_draws in (0, None) or draws <= stored_draws else -(-draws // stored_draws)


def stored(tree: xr.DataTree, output: OutputSettings, kind: ModelKind) -> xr.DataTree:
    """The fit as its file stores it (``[output]`` of the spec): draws thinned evenly to at most
    ``output.draws`` per chain (the convergence gate has seen all of them), the optional heavy groups
    (:data:`ww_bayes.kinds.common.OPTIONAL_GROUPS`; ``rate``: the kind's cell deterministics) only when kept,
    float32 for parameter and per-cell draws, int32 for counts. Attrs ``sampled_draws``, ``thinned_by``,
    ``stored_draws``, ``kept_groups`` say what was done."""
    draws = tree["posterior"].ds.sizes["draw"]
    thin = thinning(draws, output.draws)
    keep = set(output.keep)
    result = xr.DataTree()
    for name, node in tree.children.items():
        if name in OPTIONAL_GROUPS and name != "rate" and name not in keep:
            continue
        if name == kind.name:
            result[name] = stored_derived(tree, node, kind, thin, draws) if thin > 1 else node.copy()
            continue
        ds = node.to_dataset()
        if name in ("posterior", "prior"):
            ds = ds.drop_vars(kind.recomputable_draws(ds))
        if name == "posterior" and "rate" not in keep:
            ds = ds.drop_vars(list(kind.cell_deterministics), errors="ignore")
            used = {d for v in ds.data_vars.values() for d in v.dims}
            ds = ds.drop_vars([d for d in ds.dims if d not in used and d in ds.coords])
        if name in DRAW_GROUPS and ds.sizes.get("draw") == draws and thin > 1:
            ds = ds.isel(draw=slice(None, None, thin))
        if name in FLOAT32_GROUPS:
            ds = ds.map(narrow, keep_attrs=True)
        result[name] = xr.DataTree(ds)
    result.attrs.update(tree.attrs)
    result.attrs.update(
        {
            "sampled_draws": draws,
            "thinned_by": thin,
            "stored_draws": result["posterior"].ds.sizes["draw"],
            "kept_groups": json.dumps(sorted(keep)),
        }
    )
    return result


def stored_derived(
    tree: xr.DataTree, derived: xr.DataTree, kind: ModelKind, thin: int, draws: int
) -> xr.DataTree:
    """The derived group with every ``thin``-th draw, its probabilities computed again from the draws it
    keeps: a file's probabilities are those of its draws (a release and its audit compute them again)."""
    derived = thinned(derived, thin, draws)
    levels = {}
    for level, ds in levels_of(derived).items():
        events = fit_level_events(tree.attrs, derived.attrs, kind.smallest_attr, kind.direction_dim, ds)
        levels[level] = recomputed_probabilities(ds, kind.derived_variables, events)
    return derived_tree(levels, derived.attrs)


def narrow(values: xr.DataArray) -> xr.DataArray:
    """float64 -> float32, int64 -> int32 (what a fit file stores of draws)."""
    if np.issubdtype(values.dtype, np.floating):
        return values.astype("float32")
    if np.issubdtype(values.dtype, np.integer) and values.dtype.itemsize > 4:
        return values.astype("int32")
    return values


def is_converged(tree: xr.DataTree) -> bool:
    return tree.attrs.get("converged") == "yes"


# --- cost-effectiveness -----------------------------------------------------------------------------------


def save_cea(result: xr.Dataset, path: str | os.PathLike, fits: list[str | os.PathLike]) -> Path:
    """Write a cost-effectiveness result with the paths and SHA-256 of the fits it came from."""
    tree = xr.DataTree.from_dict({CEA_GROUP: result})
    tree.attrs.update(
        {
            "ww_bayes_kind": CEA_KIND,
            "fits": ", ".join(str(p) for p in fits),
            "fits_sha256": ", ".join(file_sha256(p) for p in fits),
            "effects_source": result.attrs.get("effects_source", ""),
        }
    )
    return write_datatree(tree, path)


def load_cea(path: str | os.PathLike) -> xr.DataTree:
    tree = read_result(path)
    if tree.attrs.get("ww_bayes_kind") != CEA_KIND or CEA_GROUP not in tree.children:
        raise ResultFileError(f"{path}: not a ww_bayes cost-effectiveness result")
    return tree


# --- comparisons ------------------------------------------------------------------------------------------

#: Columns of a comparison table (frequentist beside posterior) besides the labelled posterior interval.
COMPARISON_KEYS = ("estimand", "contrast", "level", "group")


def save_comparison(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a comparison table (:func:`ww_bayes.compare.compare`) as CSV."""
    return save_table(table, path)


def load_comparison(path: str | os.PathLike) -> pd.DataFrame:
    """Read a comparison CSV back, with its interval label in ``attrs``."""
    table = pd.read_csv(path, dtype={"group": str})
    missing = [c for c in (*COMPARISON_KEYS, "frequentist_estimate", "posterior_mean") if c not in table]
    if missing:
        raise ResultFileError(f"{path}: not a ww_bayes comparison table (no column {missing[0]!r})")
    label = next(c for c in table.columns if c.startswith("posterior_") and c.endswith("_lb"))
    table.attrs["interval_label"] = label.removeprefix("posterior_").removesuffix("_lb")
    return table


# --- a results folder ---------------------------------------------------------------------------------------


@dataclass
class RunFiles:
    """The ww_bayes outputs found in a results folder (file path -> DataTree)."""

    fits: dict[Path, xr.DataTree] = field(default_factory=dict)
    cost_effectiveness: dict[Path, xr.DataTree] = field(default_factory=dict)
    other: list[Path] = field(default_factory=list)
    #: files that could not be read or are results this version cannot use: path -> why
    skipped: dict[Path, str] = field(default_factory=dict)
    #: workflow checks that need the cohort (``ww_bayes.recompute.model_checks``), per fit: the numbers, or
    #: a string saying why the fit was not checked; empty when no cohort was given
    checks: dict[Path, dict | str] = field(default_factory=dict)
    #: the fits that are released estimates (a release folder): their derived group and convergence table
    #: only, no counts
    released: set[Path] = field(default_factory=set)

    def fits_of_section(self, section: tuple[str, str]) -> dict[Path, xr.DataTree]:
        """The fits whose kind contributes to the report section ``section``."""
        return {p: t for p, t in self.fits.items() if kind_of(t).report_section == section}


def collect(folder: str | os.PathLike) -> RunFiles:
    """Read every NetCDF file of a results folder (eagerly) and sort it by its ``ww_bayes_kind``; NetCDF
    files that are not ww_bayes results go to ``other``; damaged files and results this version cannot read
    go to ``skipped`` with the reason (the report lists them)."""
    run = RunFiles()
    for path in sorted(Path(folder).glob("*.nc")):
        try:
            tree = read_result(path)
        except ResultFileError as error:
            run.skipped[path] = str(error)
            continue
        kind = tree.attrs.get("ww_bayes_kind")
        try:
            if kind == FIT_KIND:
                check_fit(tree, path)
                run.fits[path] = tree
            elif kind == RELEASED_KIND:
                check_released(tree, path)
                run.fits[path] = tree
                run.released.add(path)
            elif kind == CEA_KIND:
                run.cost_effectiveness[path] = tree
            else:
                run.other.append(path)
        except ResultFileError as error:
            run.skipped[path] = str(error)
    return run
