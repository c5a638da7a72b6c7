"""The ``ww-bayes`` command line: argument parsing only; each command is one call of
:mod:`ww_bayes.workflow`, whose :class:`~ww_bayes.workflow.Outcome` this prints."""

from __future__ import annotations

import argparse
import sys

import matplotlib

from ww_bayes.calibration import BACKENDS, VARIANTS, Dispatch, DispatchError, SBCSettings, StudyMismatch
from ww_bayes.cea import CostEffectivenessError
from ww_bayes.compare import FrequentistError
from ww_bayes.data.design import MIN_PER_ARM, DesignError
from ww_bayes.data.io import CohortFileError, LockTimeout, interrupt_on_sigterm
from ww_bayes.data.schema import SchemaError
from ww_bayes.kinds.common import OPTIONAL_GROUPS
from ww_bayes.release import DOMINANCE_PRESETS, MIN_COUNT, ReleaseError, dominance_rule
from ww_bayes.report import ReportError
from ww_bayes.results import DataMismatchError, ResultFileError
from ww_bayes.tomlspec import SpecError
from ww_bayes.workflow import (
    EXIT_CODES,
    CommandError,
    Outcome,
    audit_folder,
    cea_to_files,
    compare_to_files,
    coverage_to_folder,
    describe_file,
    excel_to_file,
    fit_to_file,
    init_folder,
    kfold_to_folder,
    release_to_folder,
    report_to_file,
    sbc_to_folder,
    simulate_to_file,
)

#: Mistakes a user can make: one line on the error stream, exit status 2.
USER_ERRORS = (CohortFileError, SpecError, CommandError, ResultFileError, ReportError, FrequentistError,
               CostEffectivenessError, DataMismatchError, DesignError, LockTimeout, ReleaseError,
               DispatchError, StudyMismatch)  # fmt: skip


def count(minimum: int):
    """An argparse type: a whole number of at least ``minimum``, with a message naming the value."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _fit(args: argparse.Namespace) -> Outcome:
    overrides = {
        k: getattr(args, k) for k in ("chains", "draws", "tune", "seed") if getattr(args, k) is not None
    }
    keep = OPTIONAL_GROUPS if args.keep and "all" in args.keep else args.keep
    return fit_to_file(args.spec, args.data, args.out, overrides=overrides, progress=not args.no_progress,
                       allow_unconverged=args.allow_unconverged, min_per_arm=args.min_per_arm, keep=keep,
                       keep_draws=args.keep_draws)  # fmt: skip


def _compare(args: argparse.Namespace) -> Outcome:
    return compare_to_files(args.fit, args.data, args.out, covariates=tuple(args.covariates),
                            cov_type=args.cov_type, store=args.store,
                            allow_other_data=args.allow_other_data)  # fmt: skip


def _dispatch(args: argparse.Namespace) -> Dispatch:
    return Dispatch(args.jobs, args.backend, args.scheduler, progress=not args.no_progress)


def _sbc(args: argparse.Namespace) -> Outcome:
    settings = SBCSettings(reps=args.reps, chains=args.chains, draws=args.draws, tune=args.tune,
                           ranked_draws=args.ranked_draws, seed=args.seed, alpha=args.alpha)  # fmt: skip
    return sbc_to_folder(args.spec, args.out, settings, _dispatch(args), args.data)


def _coverage(args: argparse.Namespace) -> Outcome:
    overrides = {k: getattr(args, k) for k in ("chains", "draws", "tune") if getattr(args, k) is not None}
    return coverage_to_folder(args.spec, args.out, args.cohorts, _dispatch(args), n=args.n,
                              first_seed=args.first_seed, overrides=overrides)  # fmt: skip


def _kfold(args: argparse.Namespace) -> Outcome:
    overrides = {k: getattr(args, k) for k in ("chains", "draws", "tune") if getattr(args, k) is not None}
    return kfold_to_folder(args.spec, args.data, args.out, _dispatch(args), folds=args.folds,
                           factor=args.factor, variants=tuple(args.pooling), seed=args.seed,
                           overrides=overrides)  # fmt: skip


def _study_options(parser: argparse.ArgumentParser) -> None:
    """Where a calibration study runs, and its progress bar."""
    parser.add_argument("--jobs", type=count(0), default=0, help="processes (default 0: one per core)")
    parser.add_argument("--backend", choices=BACKENDS, default="loky", help="joblib backend: loky (processes "
                        "on this machine, default), serial, or dask (with --scheduler)")  # fmt: skip
    parser.add_argument("--scheduler", default=None, help="address of a Dask scheduler, e.g. tcp://host:8786")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ww-bayes",
        description="Bayesian evidence from the UWV experiment on personal job-search services.",
        epilog="exit status: " + "; ".join(f"{code} {text}" for code, text in EXIT_CODES.items()),
        allow_abbrev=False,
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    simulate = commands.add_parser(
        "simulate", help="simulate a calibrated synthetic cohort and save its truth"
    )
    simulate.add_argument("--n", type=count(1), default=179_840, help="persons (default 179,840)")
    simulate.add_argument("--seed", type=count(0), default=1, help="random seed (default 1)")
    simulate.add_argument("--out", default="data/cohort.parquet", help="output .parquet or .csv "
                          "(truth: <stem>.truth.nc)")  # fmt: skip
    simulate.set_defaults(run=lambda args: simulate_to_file(args.n, args.seed, args.out))

    validate = commands.add_parser(
        "validate", help="check a cohort file against the schema; counts and rates"
    )
    validate.add_argument("path", help="cohort .parquet or .csv")
    validate.add_argument("--min-per-arm", type=count(1), default=MIN_PER_ARM, help="report classes and "
                          f"regions with fewer persons in an arm (default {MIN_PER_ARM})")  # fmt: skip
    validate.set_defaults(run=lambda args: describe_file(args.path, min_per_arm=args.min_per_arm))

    fit = commands.add_parser("fit", help="fit a model spec (models/*.toml) and save the posterior NetCDF")
    fit.add_argument("spec", help="model specification: a TOML file (models/job_finding_12m.toml) or a "
                     "shipped one by name (job_finding_12m, ww_claim_12m, trajectory_30m)")  # fmt: skip
    fit.add_argument("--data", required=True, help="cohort .parquet or .csv")
    fit.add_argument("--out", required=True, help="output NetCDF, e.g. results/job_finding_12m.nc")
    fit.add_argument(
        "--allow-unconverged", action="store_true", help="exit 0 even when the fit did not converge"
    )
    fit.add_argument("--no-progress", action="store_true", help="no progress bar")
    for name in ("chains", "draws", "tune", "seed"):
        fit.add_argument(f"--{name}", type=count(0 if name == "seed" else 1), default=None,
                         help=f"override sampler.{name} of the spec")  # fmt: skip
    fit.add_argument("--min-per-arm", type=count(1), default=MIN_PER_ARM, help="warn about classes and "
                     f"regions with fewer persons in an arm (default {MIN_PER_ARM})")  # fmt: skip
    fit.add_argument("--keep", nargs="+", choices=[*OPTIONAL_GROUPS, "all"], default=None, metavar="GROUP",
                     help=f"also store these groups ({', '.join(OPTIONAL_GROUPS)}, or all); default: the "
                     "spec's [output] keep")  # fmt: skip
    fit.add_argument("--keep-draws", type=count(0), default=None, help="draws per chain the file stores, "
                     "thinned evenly (0: all); default: the spec's [output] draws")  # fmt: skip
    fit.set_defaults(run=_fit)

    compare = commands.add_parser("compare", help="frequentist ITT estimates beside a fit's posterior: table "
                                  "(CSV) and forest plot (PNG)")  # fmt: skip
    compare.add_argument("fit", help="a fit NetCDF, e.g. results/job_finding_12m.nc")
    compare.add_argument("--data", required=True, help="the cohort the fit was made on (.parquet or .csv)")
    compare.add_argument("--out", required=True, help="output folder, e.g. results/")
    compare.add_argument("--covariates", nargs="*", default=[], choices=["age", "sex", "education"],
                         help="OLS covariates")  # fmt: skip
    compare.add_argument("--cov-type", default="HC2", choices=["HC2", "cluster"],
                         help="HC2 or cluster-robust by region")  # fmt: skip
    compare.add_argument("--store", action="store_true", help="also store a 'frequentist' group in the fit")
    compare.add_argument("--allow-other-data", action="store_true",
                         help="compare even if --data is not the fit's data file")  # fmt: skip
    compare.set_defaults(run=_compare)

    cea = commands.add_parser("cea", help="cost-effectiveness from a fit's posterior draws: NetCDF, tables "
                              "(CSV) and figures (PNG and SVG)")  # fmt: skip
    cea.add_argument("--fit", nargs="+", required=True,
                     help="trajectory fit or two 12-month fits (jobs, WW); + destinations fit")  # fmt: skip
    cea.add_argument("--assumptions", default=None, help="assumptions TOML (default: models/"
                     "cost_effectiveness.toml if it exists, else the shipped one)")  # fmt: skip
    cea.add_argument("--out", required=True, help="output folder, e.g. results/")
    cea.set_defaults(run=lambda args: cea_to_files(args.fit, args.assumptions, args.out))

    report = commands.add_parser("report", help="one self-contained HTML page (figures embedded) summarising "
                                 "a results folder")  # fmt: skip
    report.add_argument("results", help="results folder, e.g. results/")
    report.add_argument("--out", default=None, help="output HTML (default: <results>/report.html)")
    report.add_argument("--data", default=None, help="the cohort the fits were made on: adds posterior "
                        "predictive and LOO checks")  # fmt: skip
    report.add_argument("--lang", choices=["en", "nl"], default="en", help="language: en (default) or nl")
    report.set_defaults(run=lambda args: report_to_file(args.results, args.out, args.data, lang=args.lang))

    excel = commands.add_parser("excel", help="the summary tables of a results folder as one Excel workbook "
                                "(a sheet per fit, a README sheet)")  # fmt: skip
    excel.add_argument("results", help="results folder, e.g. results/ (or a release folder)")
    excel.add_argument("--out", default=None, help="output .xlsx (default: <results>/summaries.xlsx)")
    excel.add_argument(
        "--lang", choices=["en", "nl"], default="en", help="README language: en (default) or nl"
    )
    excel.set_defaults(run=lambda args: excel_to_file(args.results, args.out, lang=args.lang))

    release = commands.add_parser("release", help="what may leave a secure environment: estimates, "
                                  "summaries, figures, large groups' counts, disclosure report")  # fmt: skip
    release.add_argument("results", help="results folder, e.g. results/")
    release.add_argument("--out", required=True, help="a new or empty folder, e.g. release/")
    release.add_argument("--min-count", type=count(1), default=MIN_COUNT, help="fewest persons a "
                         f"released number may describe (n, k and n - k; default {MIN_COUNT})")  # fmt: skip
    release.add_argument("--dominance-rule", choices=list(DOMINANCE_PRESETS), default="acro", help="amounts "
                         "(hours): the dominance rule, by name (docs/release.md)")  # fmt: skip
    release.add_argument("--dominance-share", type=float, default=None, help="amounts (hours): the two "
                         "largest persons may hold at most this share of a group's total "
                         "(default 0.9)")  # fmt: skip
    release.add_argument("--p-ratio", type=float, default=None, help="amounts (hours): the others' total "
                         "must be at least this share of the largest (default 0.1)")  # fmt: skip
    release.add_argument("--dominance-source", default=None, help="where the two parameters above "
                         "come from, as the disclosure report cites it: the secure environment's output "
                         "guidelines and their version (default: ACRO's defaults; required with other "
                         "parameters)")  # fmt: skip
    release.set_defaults(run=lambda args: release_to_folder(
        args.results, args.out, args.min_count,
        dominance=dominance_rule(args.dominance_rule, args.dominance_share, args.p_ratio,
                                 args.dominance_source)))  # fmt: skip

    audit = commands.add_parser("audit", help="attack a release folder as a reader of it alone would; "
                                "refuse it when a small count can be derived")  # fmt: skip
    audit.add_argument("folder", help="a release folder, e.g. release/")
    audit.add_argument(
        "--min-count", type=count(1), default=None, help="default: the folder's own, never below 10"
    )
    audit.set_defaults(run=lambda args: audit_folder(args.folder, args.min_count))

    sbc = commands.add_parser("sbc", help="simulation-based calibration of a spec: ranks, ECDF band test, "
                              "figures; resumable")  # fmt: skip
    sbc.add_argument("spec", help="model specification (TOML file or shipped name)")
    sbc.add_argument("--reps", type=count(2), default=200, help="replicates (default 200)")
    sbc.add_argument(
        "--out", required=True, help="study folder root, e.g. results/sbc/ (one folder per spec)"
    )
    sbc.add_argument("--data", default=None, help="a cohort whose design (cells, persons per cell) the "
                     "replicates copy (default: the calibrated simulator's, seed 1)")  # fmt: skip
    sbc.add_argument("--chains", type=count(1), default=4, help="chains per replicate (default 4)")
    sbc.add_argument("--draws", type=count(1), default=500, help="draws per chain (default 500)")
    sbc.add_argument("--tune", type=count(1), default=None, help="tuning steps (default: the spec's)")
    sbc.add_argument("--ranked-draws", type=count(1), default=100, help="draws ranked, thinned evenly "
                     "(default 100)")  # fmt: skip
    sbc.add_argument("--seed", type=count(0), default=2026, help="seed of the prior draws (default 2026)")
    sbc.add_argument("--alpha", type=float, default=0.05, help="family-wise level of the band test (0.05)")
    _study_options(sbc)
    sbc.set_defaults(run=_sbc)

    cover = commands.add_parser("coverage", help="coverage of a spec's 50%% and 90%% intervals on cohorts "
                                "from the calibrated simulator; resumable")  # fmt: skip
    cover.add_argument("spec", help="model specification (TOML file or shipped name)")
    cover.add_argument("--cohorts", type=count(1), default=100, help="cohorts (default 100)")
    cover.add_argument("--out", required=True, help="study folder root, e.g. results/coverage/")
    cover.add_argument("--n", type=count(100), default=179_840, help="persons per cohort (default 179,840)")
    cover.add_argument("--first-seed", type=count(0), default=1, help="seed of the first cohort (default 1)")
    for name in ("chains", "draws", "tune"):
        cover.add_argument(f"--{name}", type=count(1), default=None, help=f"override sampler.{name}")
    _study_options(cover)
    cover.set_defaults(run=_coverage)

    kfold = commands.add_parser("kfold", help="K-fold cross-validation of the pooling over a factor's levels "
                                "(predicting a new region); resumable")  # fmt: skip
    kfold.add_argument("spec", help="model specification (TOML file or shipped name)")
    kfold.add_argument("--data", required=True, help="the cohort (.parquet or .csv)")
    kfold.add_argument("--out", required=True, help="study folder root, e.g. results/kfold/")
    kfold.add_argument("--folds", type=count(2), default=5, help="folds of the levels (default 5)")
    kfold.add_argument("--factor", default="region", help="the factor whose levels are left out (region)")
    kfold.add_argument("--pooling", nargs="+", choices=VARIANTS, default=list(VARIANTS), help="variants")
    kfold.add_argument("--seed", type=count(0), default=2026, help="seed of the fold split (default 2026)")
    for name in ("chains", "draws", "tune"):
        kfold.add_argument(f"--{name}", type=count(1), default=None, help=f"override sampler.{name}")
    _study_options(kfold)
    kfold.set_defaults(run=_kfold)

    init = commands.add_parser("init", help="copy the shipped specs and notebooks into a working folder")
    init.add_argument("folder", help="the working folder (made if missing)")
    init.add_argument("--force", action="store_true", help="overwrite files that exist")
    init.set_defaults(run=lambda args: init_folder(args.folder, args.force))
    return parser


class Parser(argparse.ArgumentParser):
    """Subcommand parsers: no abbreviated options (``--draw`` is not ``--draws``)."""

    def __init__(self, *args, **kwargs):
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    interrupt_on_sigterm()
    matplotlib.use("Agg")  # the command line writes figures to files only
    try:
        outcome = args.run(args)
    except SchemaError as error:  # every problem listed; exit 1 = the file is invalid
        print(f"error: {error}", file=sys.stderr)
        return 1
    except USER_ERRORS as error:
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; files being written were removed", file=sys.stderr)
        return 130
    except Exception as error:  # a bug: one line unless --debug
        if args.debug:
            raise
        print(f"error: internal error ({type(error).__name__}: {error}); rerun with --debug for the "
              "traceback and report it", file=sys.stderr)  # fmt: skip
        return 4
    if outcome.text:
        print(outcome.text)
    for line in outcome.warnings:
        print(line, file=sys.stderr)
    return outcome.status


if __name__ == "__main__":
    sys.exit(main())
