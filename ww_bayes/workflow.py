"""Every ``ww-bayes`` command as one library function, for notebooks and scripts as much as the CLI.

Each function does the whole job of its command (read, compute, write atomically) and returns a
:class:`Outcome`: the text the command prints, the files it wrote, warnings for the error stream and the
exit status. Mistakes raise :class:`CommandError` (or the reader's own error: ``SchemaError``,
``SpecError``, ``CohortFileError``, ``ResultFileError``) with one message naming what is wrong.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import xarray as xr

from ww_bayes.audit import AuditError, audit
from ww_bayes.calibration import VARIANTS, Dispatch, SBCSettings, run_coverage, run_kfold, run_sbc
from ww_bayes.cea import analyse, load_assumptions, summary, targeting_table
from ww_bayes.checks import model_checks
from ww_bayes.compare import ESTIMATORS, compare, format_comparison, frequentist_group
from ww_bayes.compare.tables import forest_rows
from ww_bayes.data import published
from ww_bayes.data.describe import format_description
from ww_bayes.data.design import MIN_PER_ARM, check_arms, design_warnings
from ww_bayes.data.io import atomic_write, load_cohort, write_cohort, write_datatree
from ww_bayes.data.schema import consistency_warnings
from ww_bayes.data.simulate import simulate_cohort, truth_path
from ww_bayes.inference import fit
from ww_bayes.kinds import KINDS, kind_of, load_spec
from ww_bayes.kinds.protocol import Plot
from ww_bayes.record import CHECKS_FILE, RECORD_FORMAT
from ww_bayes.release import MIN_COUNT, Dominance, release
from ww_bayes.report import write_report
from ww_bayes.report.workbook import write_workbook
from ww_bayes.results import (
    FREQUENTIST_GROUP,
    ConvergenceWarning,
    DataMismatchError,
    ResultFileError,
    check_data,
    collect,
    coverage,
    fresh_summary,
    is_converged,
    load_fit,
    save_cea,
    save_comparison,
    save_fit_and_summary,
    save_table,
    store_group,
    summarise,
    summary_path,
    truth_for_data,
)
from ww_bayes.viz import CEA_FIGURES, cea_plot, draw, figure_name, save_figure
from ww_bayes.vocabulary import Log

#: Exit status of a fit that missed its convergence thresholds, and of a calibration study that failed.
UNCONVERGED = CALIBRATION_FAILED = 3
#: Exit statuses (docs/cli.md lists them).
EXIT_CODES = {
    0: "done",
    1: "the cohort file does not follow the schema (validate, fit, compare)",
    2: "a usage error: bad option, missing or wrong file, mismatched inputs, a design with an empty arm; a "
    "release folder the audit refuses",
    3: "the fit did not converge (the file is written and flagged; --allow-unconverged exits 0), or a "
    "calibration study (sbc, coverage) failed its check (its files are written)",
    4: "an internal error (a bug: rerun with --debug for the traceback and report it)",
    130: "interrupted (Ctrl-C or SIGTERM); nothing half-written is left",
}


class CommandError(ValueError):
    """A command that cannot run as asked (missing file, wrong kind of fit, other data ...)."""


@dataclass
class Outcome:
    """What a command did: ``text`` to print, ``files`` written, ``warnings`` for the error stream and the
    exit ``status`` (0 done, 3 an unconverged fit)."""

    text: str
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    status: int = 0
    #: wall-clock seconds per phase, where the command measures them (``fit``)
    seconds: dict[str, float] = field(default_factory=dict)


def _existing_fit(path: str | os.PathLike) -> xr.DataTree:
    if not Path(path).is_file():
        raise CommandError(f"{path}: no such fit file")
    return load_fit(path, warn=False)


def output_file(path: str | os.PathLike, suffixes: tuple[str, ...], option: str = "--out") -> Path:
    """Check an output file path before any work is done: not a folder, a known suffix, a parent folder
    that exists or can be made."""
    path = Path(path)
    if path.is_dir():
        example = path / f"name{suffixes[0]}"
        raise CommandError(f"{option} {path}: is a folder; give a file name such as {example}")
    if path.suffix.lower() not in suffixes:
        raise CommandError(f"{option} {path}: the file name must end in {' or '.join(suffixes)}")
    _creatable(path.parent, option)
    return path


def output_folder(path: str | os.PathLike, option: str = "--out") -> Path:
    """Check an output folder before any work is done: not an existing file, creatable."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CommandError(f"{option} {path}: is a file; give a folder, e.g. results/")
    _creatable(path, option)
    return path


def _creatable(folder: Path, option: str) -> None:
    for parent in (folder, *folder.parents):
        if parent.exists():
            if not parent.is_dir():
                raise CommandError(f"{option}: {parent} is a file, so {folder} cannot be a folder")
            if not os.access(parent, os.W_OK):
                raise CommandError(f"{option}: {parent} is not writable")
            return


def _existing_data(path: str | os.PathLike, option: str = "--data") -> None:
    if not Path(path).is_file():
        raise CommandError(f"{option} {path}: no such file")


def _not_converged(path, tree: xr.DataTree, what: str) -> list[str]:
    return [] if is_converged(tree) else [f"WARNING: {path} did not converge; {what} is not to be trusted."]


def simulate_to_file(n: int, seed: int, out: str | os.PathLike, progress: bool = True) -> Outcome:
    """Simulate a calibrated cohort (:func:`ww_bayes.data.simulate.simulate_cohort`) and write it with its
    truth beside it (``<stem>.truth.nc``)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise CommandError(f"--n {n}: the number of persons must be a whole number of at least 1")
    output_file(out, (".parquet", ".pq", ".csv"))
    start = time.perf_counter()
    cohort = simulate_cohort(n=n, seed=seed, progress=progress)
    data = write_cohort(cohort.data, out)
    truth = write_datatree(cohort.truth, truth_path(out))
    return Outcome(
        f"wrote {data} ({n:,} persons, seed {seed}) and its truth {truth} "
        f"in {time.perf_counter() - start:.1f} s",
        [data, truth],
    )


def describe_file(path: str | os.PathLike, min_per_arm: int = MIN_PER_ARM) -> Outcome:
    """Validate a cohort file against the schema and describe it (counts and rates by arm); the design's
    sparseness (:func:`ww_bayes.data.design.design_warnings`) and disagreements between columns
    (:func:`ww_bayes.data.schema.consistency_warnings`, every person listed) come as warnings. An arm
    without persons raises :class:`ww_bayes.data.design.DesignError`."""
    df = load_cohort(path)
    check_arms(df, str(path))
    notes = [f"design warning: {w}" for w in design_warnings(df, min_per_arm=min_per_arm, shown=None)]
    notes += [f"data warning: {w}" for w in consistency_warnings(df)]
    return Outcome(f"{path}: valid.\n\n{format_description(df)}", warnings=notes)


def fit_to_file(
    spec_path: str | os.PathLike,
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    overrides: dict[str, int] | None = None,
    progress: bool = True,
    allow_unconverged: bool = False,
    log: Log | None = print,
    min_per_arm: int = MIN_PER_ARM,
    keep: tuple[str, ...] | None = None,
    keep_draws: int | None = None,
) -> Outcome:
    """Fit a spec file to a cohort file and write the fit (NetCDF), its summary (``<out>_summary.csv``) and
    the kind's figures; the text has the headline effects, beside the simulator's truth when the data file
    has one. ``overrides``: sampler settings (chains, draws, tune, seed); ``keep`` and ``keep_draws``
    replace the spec's ``[output]`` keep and draws."""
    spec = load_spec(spec_path)
    _existing_data(data)
    output_file(out, (".nc",))
    if overrides:
        bad = {k: v for k, v in overrides.items() if not isinstance(v, int) or v < (0 if k == "seed" else 1)}
        if bad:
            raise CommandError(
                f"sampler overrides {bad}: chains, draws and tune must be at least 1, seed at least 0"
            )
        spec = spec.with_sampler(**overrides)
    if keep is not None:
        spec = spec.with_output(keep=tuple(keep))
    if keep_draws is not None:
        spec = spec.with_output(draws=keep_draws)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=ConvergenceWarning)  # reported below, once
        tree = fit(spec, data, progress=progress, log=log, min_per_arm=min_per_arm)
    kind = kind_of(tree)
    seconds = json.loads(tree.attrs["phase_seconds"])
    clock = time.perf_counter()
    table = summarise(tree)
    truth = truth_for_data(tree, data)
    covered = None if truth is None else coverage(tree, table, truth)
    seconds["summary"], clock = time.perf_counter() - clock, time.perf_counter()
    files = save_fit_and_summary(tree, out, table)
    seconds["write"], clock = time.perf_counter() - clock, time.perf_counter()
    for plot in kind.fit_plots(tree, table, covered):
        files += save_figure(draw(plot), Path(out).with_name(figure_name(plot, Path(out).stem)))
    seconds["figures"] = time.perf_counter() - clock
    text = f"\n{kind.screen_text(tree, table, covered)}\n\nwrote {', '.join(map(str, files))} in "
    text += f"{time.perf_counter() - start:.1f} s"
    outcome = Outcome(text, files, seconds=seconds)
    if not is_converged(tree):
        outcome.warnings.append(f"\nWARNING: {spec.name} DID NOT CONVERGE; the file is flagged (converged = "
                                f"no).\n{tree.attrs['convergence_report']}")  # fmt: skip
        outcome.status = 0 if allow_unconverged else UNCONVERGED
    return outcome


def compare_to_files(
    fit_path: str | os.PathLike,
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    covariates: tuple[str, ...] = (),
    cov_type: str = "HC2",
    store: bool = False,
    allow_other_data: bool = False,
) -> Outcome:
    """Frequentist estimates (the kind's estimator in :data:`ww_bayes.compare.ESTIMATORS`; for binary
    effects :func:`ww_bayes.compare.itt`) beside a fit's posterior: the table
    (``<fit>_compare.csv``) and forest plot (``<fit>_forest.png``) in ``out``; with ``store``, the estimates
    also go into the fit as group ``frequentist``. Refuses a data file other than the fit's unless
    ``allow_other_data``."""
    output_folder(out)
    _existing_data(data)
    tree = _existing_fit(fit_path)
    kind = kind_of(tree)
    if not kind.frequentist:
        comparable = [k.name for k in KINDS.values() if k.frequentist]
        raise CommandError(
            f"{fit_path} is a {kind.name} fit; compare works on fits of kind {', '.join(comparable)}"
        )
    warned = _not_converged(fit_path, tree, "its posterior")
    df = load_cohort(data)  # a missing or invalid file stops here with a clear error
    if not allow_other_data:
        try:
            check_data(tree, data, fit_path)
        except DataMismatchError as error:
            raise CommandError(f"{error}; pass --allow-other-data to compare anyway") from None
    frequentist = ESTIMATORS[kind.frequentist](df, tree, tuple(covariates), cov_type)
    warned += [f"note: no frequentist estimate (POOLING ONLY in the posterior): {problem}"
               for problem in frequentist.attrs["skipped"]]  # fmt: skip
    table = compare(tree, frequentist)
    stem = Path(fit_path).stem
    forest = Plot("forest", forest_rows(table), "subgroup effects, unpooled and partially pooled",
                  {"origin": tree.attrs.get("synthetic_data")})  # fmt: skip
    files = [save_comparison(table, Path(out) / f"{stem}_compare.csv"),
             *save_figure(draw(forest), Path(out) / figure_name(forest, stem))]  # fmt: skip
    title = (f"{tree.attrs.get('model_name', stem)}: frequentist ITT (OLS, {frequentist['se_type'].iloc[0]}) "
             f"vs posterior, {kind.effect_units}")  # fmt: skip
    text = format_comparison(table, title)
    if store:
        store_group(fit_path, FREQUENTIST_GROUP, frequentist_group(frequentist, kind.effect_units))
        text += f"\nstored the estimates as group '{FREQUENTIST_GROUP}' in {fit_path}"
    return Outcome(f"{text}\nwrote {', '.join(map(str, files))}", files, warned)


#: The cost-effectiveness numbers the CLI prints, with their units.
CEA_HEADLINE = {
    "incremental_cost": "EUR/participant",
    "other_benefits_paid": "EUR/participant",
    "benefits": "EUR/participant",
    "net_benefit": "EUR/participant",
    "benefit_cost_ratio": "",
    "extra_employed_months": "months/participant",
    "cost_per_extra_job": "EUR",
}


#: The assumptions ``cea`` reads when none are given: this file when it exists (a repository or a folder
#: made by ``ww-bayes init``), else the shipped copy.
DEFAULT_ASSUMPTIONS = Path("models") / "cost_effectiveness.toml"


def cea_to_files(
    fit_paths: list[str | os.PathLike], assumptions_path: str | os.PathLike | None, out: str | os.PathLike
) -> Outcome:
    """Cost-effectiveness (:func:`ww_bayes.cea.analyse`) from a trajectory fit, or from two 12-month fits
    (jobs and WW receipt), and optionally a destinations fit (its ZW, WIA and bijstand months priced):
    ``cost_effectiveness.nc``, the summary and targeting tables (CSV) and the
    figures ``cea_*`` (PNG and SVG) in ``out``.
    ``assumptions_path`` None: :data:`DEFAULT_ASSUMPTIONS`."""
    output_folder(out)
    if assumptions_path is None:
        assumptions_path = DEFAULT_ASSUMPTIONS if DEFAULT_ASSUMPTIONS.is_file() else "cost_effectiveness"
    assumptions = load_assumptions(assumptions_path)
    fits = {path: _existing_fit(path) for path in fit_paths}
    warned = [w for path, tree in fits.items() for w in _not_converged(path, tree, "its cost-effectiveness")]
    result = analyse(list(fits.values()), assumptions, [str(p) for p in fits])
    out = Path(out)
    table, rules = summary(result), targeting_table(result)
    files = [
        save_cea(result, out / "cost_effectiveness.nc", list(fit_paths)),
        save_table(table, out / "cost_effectiveness_summary.csv"),
        save_table(rules, out / "cost_effectiveness_targeting.csv"),
    ]
    for name in CEA_FIGURES:
        plot = cea_plot(result, name)
        files += save_figure(draw(plot), out / figure_name(plot))
    rows = table.set_index("quantity")
    rate = assumptions.discount_rate_annual
    lines = [f"Cost-effectiveness of {result.attrs['contrast']} ({result.attrs['effects_source']}); "
             f"posterior mean [ETI 90% interval], discounted at {rate:.2%} a year"]  # fmt: skip
    for name, unit in CEA_HEADLINE.items():
        if name not in rows.index:  # other benefits: priced only with a destinations fit
            continue
        row = rows.loc[name]
        lines.append(
            f"  {name:<24} {row['mean']:>12,.2f} [{row['eti90_lb']:,.2f}, {row['eti90_ub']:,.2f}] {unit}"
        )
    lines += [
        f"  other benefits (ZW, WIA, bijstand): {result.attrs['other_benefits_source']}",
        f"  sanity check: published benefit-cost ratio EUR {published.BENEFITS_MEUR:.0f}m / "
        f"EUR {published.EXECUTION_COSTS_MEUR:.0f}m = {published.BENEFIT_COST_RATIO:.2f} (its own "
        "perspective and horizon; not a target)",
        f"  break-even willingness to pay: EUR {float(result['break_even_wtp']):,.0f} per extra employed "
        "month",
        "\nTargeting: which Werkverkenner classes to serve (net benefit per cohort participant, EUR)",
        rules.head(5).to_string(index=False, float_format=lambda v: f"{v:,.2f}"),
        f"\nwrote {files[0]}, {files[1]}, the targeting table and the figures cea_* (PNG and SVG) in {out}",
    ]
    return Outcome("\n".join(lines), files, warned)


def release_to_folder(
    results: str | os.PathLike,
    out: str | os.PathLike,
    min_count: int = MIN_COUNT,
    dominance: Dominance | None = None,
) -> Outcome:
    """The files of a results folder that may leave a secure environment, with their disclosure report
    (:func:`ww_bayes.release.release`); ``dominance``: the dominance rule for hours
    (:class:`ww_bayes.release.Dominance`; None: ACRO's defaults)."""
    output_folder(out)
    start = time.perf_counter()
    done = release(results, out, min_count, dominance)
    owners = [("", done.groupings)]
    owners += [(f" in {name} only", groupings) for name, groupings in done.fit_groupings.items()]
    merged = [f"{factor}{owner}: {', '.join(g.merged)} -> '{g.groups[g.merged[0]]}'"
              for owner, groupings in owners for factor, g in groupings.items() if g.merged]  # fmt: skip
    lines = [
        f"released {len(done.files)} files to {done.folder} (minimum count {min_count}) in "
        f"{time.perf_counter() - start:.1f} s; for the output checker: "
        f"{done.folder / 'disclosure_report.html'}",
        *(f"  merged {line}" for line in merged),
        *(f"  check {'passed' if ok else 'FAILED'}: {text}" for text, ok in done.checks),
    ]
    notes = [f"note: {note}" for note in done.notes] + [f"note: withheld {item}" for item in done.withheld]
    notes += [f"note: {name} could not be read: {reason}" for name, reason in done.unreadable.items()]
    return Outcome("\n".join(lines), sorted(done.files), notes)


def audit_folder(folder: str | os.PathLike, min_count: int | None = None) -> Outcome:
    """Every attack of :func:`ww_bayes.audit.audit` on a release folder as it travels (read-only): the
    checks with their seconds, each finding on the error stream; exit status 2 when any check fails."""
    start = time.perf_counter()
    try:
        done = audit(folder, min_count)
    except AuditError as error:
        raise CommandError(str(error)) from None
    verdict = "passes" if done.passed else "REFUSED"
    lines = [f"audit of {Path(folder).name} (minimum count {done.min_count}): {verdict}, "
             f"{len(done.checks)} checks in {time.perf_counter() - start:.1f} s"]  # fmt: skip
    lines += [f"  {'passed' if c.passed else 'FAILED'} ({c.seconds:.2f} s): {c.text}" for c in done.checks]
    findings = [f"finding: {finding}" for finding in done.findings]
    other = _other_version(Path(folder))
    return Outcome("\n".join(lines), [], [*other, *findings], 0 if done.passed else 2)


def _other_version(folder: Path) -> list[str]:
    """A line saying that the folder's record is of another layout than this version writes (a release
    made by another ww_bayes, whose checks differ): why most findings follow, and what to do."""
    try:
        record = json.loads((folder / CHECKS_FILE).read_text(encoding="utf-8"))
        made_as, made_with = str(record["format"]), str(record["ww_bayes"])
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if made_as == RECORD_FORMAT:
        return []
    return [f"note: released with ww_bayes {made_with} ({made_as!r}); this version checks {RECORD_FORMAT!r}, "
            "so its checks differ: release the results again with this version, or audit with the one that "
            "released them"]  # fmt: skip


def init_folder(folder: str | os.PathLike, force: bool = False) -> Outcome:
    """A working folder for an analyst: the shipped specs and assumptions in ``<folder>/models`` and the
    notebooks in ``<folder>/notebooks``, to edit and run (the notebooks find ``models/`` beside them).
    Refuses to overwrite a file unless ``force``."""
    folder = output_folder(folder, "DIR")
    package = resources.files("ww_bayes")
    copies = {
        folder / sub / item.name: item
        for sub, suffix in (("models", ".toml"), ("notebooks", ".ipynb"))
        for item in (package / sub).iterdir()
        if item.name.endswith(suffix)
    }
    existing = [str(p) for p in copies if p.exists()]
    if existing and not force:
        raise CommandError(
            f"{len(existing)} file(s) exist already, e.g. {existing[0]}; nothing copied (--force overwrites)"
        )
    for target, item in copies.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, lambda tmp, item=item: tmp.write_bytes(item.read_bytes()))
    specs, notebooks = (sum(p.suffix == suffix for p in copies) for suffix in (".toml", ".ipynb"))
    return Outcome(
        f"copied {specs} specs and assumptions to {folder / 'models'} and {notebooks} notebooks to "
        f"{folder / 'notebooks'}.\nNext: cd {folder}; "
        "ww-bayes simulate --out data/cohort.parquet; ww-bayes fit models/job_finding_12m.toml --data "
        "data/cohort.parquet --out results/job_finding_12m.nc",
        sorted(copies),
    )


def report_to_file(
    results: str | os.PathLike,
    out: str | os.PathLike | None = None,
    data: str | os.PathLike | None = None,
    lang: str = "en",
) -> Outcome:
    """The self-contained HTML report of a results folder or a release folder, in ``lang`` ("en", "nl");
    default ``<results>/report.html`` (``report_nl.html`` in Dutch), and for a release folder beside it
    (``<folder>_report.html``: a checked folder is not written to). With the cohort ``data``, each fit's
    model checks (:func:`ww_bayes.checks.model_checks`: LOO-PIT, leave one cell and one person out, prior
    sensitivity; a fit of other data is listed as not checked). K-fold studies in ``<results>/kfold/``
    (``ww-bayes kfold``) are shown beside them."""
    if not Path(results).is_dir():
        raise CommandError(f"{results}: no such results folder")
    if data is not None:
        _existing_data(data)
    start = time.perf_counter()
    run = collect(results)
    suffix = "" if lang == "en" else f"_{lang}"
    if out:
        out = output_file(out, (".html", ".htm"))
    elif run.released:
        out = Path(results).resolve().parent / f"{Path(results).resolve().name}_report{suffix}.html"
    else:
        out = Path(results) / f"report{suffix}.html"
    remade = [p for p, tree in run.fits.items() if p not in run.released and fresh_summary(p, tree)[1]]
    if data is not None:
        for path, tree in run.fits.items():
            try:
                run.checks[path] = model_checks(tree, data)
            except (DataMismatchError, ResultFileError, NotImplementedError) as error:  # not checked
                run.checks[path] = str(error)
    path = write_report(results, out, run, lang)
    notes = [f"WARNING: skipped {p}: {reason}" for p, reason in run.skipped.items()]
    notes += [f"note: remade the missing or stale summary of {p}: {summary_path(p)}" for p in remade]
    return Outcome(
        f"wrote the report {path.resolve()} ({path.stat().st_size / 1e6:.1f} MB, self-contained) "
        f"in {time.perf_counter() - start:.1f} s",
        [path],
        notes,
    )


def excel_to_file(
    results: str | os.PathLike, out: str | os.PathLike | None = None, lang: str = "en"
) -> Outcome:
    """The summary tables of a results folder or a release folder as one Excel workbook
    (:mod:`ww_bayes.report.workbook`), its README sheet in ``lang`` ("en", "nl"); default
    ``<results>/summaries.xlsx`` (``summaries_nl.xlsx`` in Dutch), and for a release folder beside it
    (``<folder>_summaries.xlsx``: a checked folder is not written to), made from the released files only."""
    if not Path(results).is_dir():
        raise CommandError(f"{results}: no such results folder")
    run = collect(results)
    if not (run.fits or run.cost_effectiveness):
        raise CommandError(f"{results}: no ww_bayes fits or cost-effectiveness results (*.nc) to tabulate")
    suffix = "" if lang == "en" else f"_{lang}"
    folder = Path(results).resolve()
    if out:
        out = output_file(out, (".xlsx",))
        if run.released and out.resolve().parent == folder:
            raise CommandError(f"--out {out}: not into the release folder {results} (it holds only the files "
                               "its checks passed); write the workbook beside it")  # fmt: skip
    elif run.released:
        out = folder.parent / f"{folder.name}_summaries{suffix}.xlsx"
    else:
        out = Path(results) / f"summaries{suffix}.xlsx"
    path = write_workbook(run, results, out, lang)
    notes = [f"WARNING: skipped {p}: {reason}" for p, reason in run.skipped.items()]
    sheets = len(run.fits) + 2 * len(run.cost_effectiveness)
    return Outcome(f"wrote the workbook {path} (README and {sheets} tables)", [path], notes)


__all__ = [
    "EXIT_CODES",
    "CommandError",
    "Outcome",
    "audit_folder",
    "cea_to_files",
    "compare_to_files",
    "describe_file",
    "excel_to_file",
    "fit_to_file",
    "init_folder",
    "release_to_folder",
    "output_file",
    "output_folder",
    "report_to_file",
    "simulate_to_file",
]


def sbc_to_folder(
    spec_path: str | os.PathLike, out: str | os.PathLike, settings: SBCSettings, dispatch: Dispatch,
    data: str | os.PathLike | None = None,
) -> Outcome:  # fmt: skip
    """Simulation-based calibration of a spec (:func:`ww_bayes.calibration.run_sbc`) in
    ``<out>/<spec name>/``, resumed when the folder holds finished replicates of the same study; exit
    status 3 when a quantity leaves its band."""
    spec = load_spec(spec_path)
    if data is not None:
        _existing_data(data)
    study = run_sbc(spec, output_folder(out), settings, dispatch, data)
    return Outcome(study.text + f"\n\nwrote {', '.join(map(str, study.files))}", study.files,
                   status=0 if study.passed else CALIBRATION_FAILED)  # fmt: skip


def coverage_to_folder(
    spec_path: str | os.PathLike, out: str | os.PathLike, cohorts: int, dispatch: Dispatch, *,
    n: int = published.N_PERSONS, first_seed: int = 1, overrides: dict[str, int] | None = None,
) -> Outcome:  # fmt: skip
    """Coverage of a spec's intervals on cohorts from the calibrated simulator
    (:func:`ww_bayes.calibration.run_coverage`) in ``<out>/<spec name>/``, resumed when possible; exit
    status 3 when the 95% interval (Clopper-Pearson at the effective size) of the pooled population-level
    share misses its nominal level."""
    spec = load_spec(spec_path)
    if overrides:
        spec = spec.with_sampler(**overrides)
    study = run_coverage(spec, output_folder(out), cohorts, dispatch, n=n, first_seed=first_seed)
    return Outcome(study.text + f"\n\nwrote {', '.join(map(str, study.files))}", study.files,
                   status=0 if study.passed else CALIBRATION_FAILED)  # fmt: skip


def kfold_to_folder(
    spec_path: str | os.PathLike, data: str | os.PathLike, out: str | os.PathLike, dispatch: Dispatch, *,
    folds: int = 5, factor: str = "region", variants: tuple[str, ...] = VARIANTS, seed: int = 2026,
    overrides: dict[str, int] | None = None,
) -> Outcome:  # fmt: skip
    """K-fold cross-validation of a spec's pooling over ``factor``'s levels
    (:func:`ww_bayes.calibration.run_kfold`) in ``<out>/<spec name>/``, resumed when the folder holds
    finished folds of the same study; ``overrides``: sampler settings (chains, draws, tune)."""
    spec = load_spec(spec_path)
    _existing_data(data)
    if overrides:
        spec = spec.with_sampler(**overrides)
    study = run_kfold(spec, data, output_folder(out), dispatch, folds=folds, factor=factor, variants=variants,
                      seed=seed)  # fmt: skip
    return Outcome(study.text + f"\n\nwrote {', '.join(map(str, study.files))}", study.files)
