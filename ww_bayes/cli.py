"""The ``ww-bayes`` command line."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

from ww_bayes.effects import coverage
from ww_bayes.fit import ConvergenceWarning
from ww_bayes.io import CohortFileError
from ww_bayes.schema import SchemaError
from ww_bayes.spec import SpecError


def _simulate(args: argparse.Namespace) -> int:
    from ww_bayes.io import write_cohort, write_datatree
    from ww_bayes.simulate import simulate_cohort, truth_path

    start = time.perf_counter()
    cohort = simulate_cohort(n=args.n, seed=args.seed, progress=True)
    out = Path(args.out)
    write_cohort(cohort.data, out)
    truth = write_datatree(cohort.truth, truth_path(out))
    print(
        f"wrote {out} ({args.n:,} persons, seed {args.seed}) and its truth {truth} "
        f"in {time.perf_counter() - start:.1f} s"
    )
    return 0


def _validate(args: argparse.Namespace) -> int:
    from ww_bayes.describe import format_description
    from ww_bayes.io import load_cohort

    try:
        df = load_cohort(args.path)
    except SchemaError as error:
        print(f"{args.path}: {error}", file=sys.stderr)
        return 1
    print(f"{args.path}: valid.\n")
    print(format_description(df))
    return 0


def _format_effects(summary, label: str, truth=None, levels=("overall", "by_werkverkenner")) -> str:
    """Effect rows (pp) as text, with the simulator's truth beside them when given."""
    rows = summary[(summary["estimand"] == "effect_pp") & summary["level"].isin(levels)]
    if truth is not None:
        rows = coverage(rows, truth, label)
    lines = [
        f"{'contrast':<31} {'level':<17} {'group':<7} {'mean':>7} {label + ' interval':>22}"
        + (f" {'truth':>7} {'covered':>8}" if truth is not None else "")
    ]
    for row in rows.itertuples():
        interval = f"[{getattr(row, label + '_lb'):+.2f}, {getattr(row, label + '_ub'):+.2f}]"
        line = f"{row.contrast:<31} {row.level:<17} {row.group:<7} {row.mean:>+7.2f} {interval:>22}"
        if truth is not None:
            line += f" {row.generating_pp:>+7.2f} {'yes' if row.covered else 'NO':>8}"
        lines.append(line)
    return "\n".join(lines)


def _fit(args: argparse.Namespace) -> int:
    from ww_bayes.effects import summary_table, truth_table
    from ww_bayes.fit import fit, save
    from ww_bayes.io import atomic_write, load_datatree
    from ww_bayes.simulate import truth_path
    from ww_bayes.spec import load_spec

    spec = load_spec(args.spec)
    overrides = {
        k: getattr(args, k) for k in ("chains", "draws", "tune", "seed") if getattr(args, k) is not None
    }
    if overrides:
        spec = spec.with_sampler(**overrides)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=ConvergenceWarning)  # reported below, once
        tree = fit(spec, args.data, progress=not args.no_progress)
    out = save(tree, args.out)
    summary = summary_table(tree["effects"].ds, spec.interval_kind, spec.interval_prob)
    table_path = atomic_write(
        Path(args.out).with_name(Path(args.out).stem + "_summary.csv"),
        lambda tmp: summary.to_csv(tmp, index=False),
    )
    truth = None
    truth_file = truth_path(args.data)
    if truth_file.is_file():
        prefix = spec.outcome.rsplit("_m", 1)[0]
        month = int(spec.outcome.rsplit("_m", 1)[1])
        truth = truth_table(load_datatree(truth_file), prefix, month, ["overall", "by_werkverkenner"])
    print(f"\n{spec.name}: effects on {spec.outcome} in percentage points (posterior mean, "
          f"{spec.interval_kind.upper()} {spec.interval_prob:.0%} credible interval"
          + (f"; truth from {truth_file}" if truth is not None else "") + ")")  # fmt: skip
    print(_format_effects(summary, spec.interval_label, truth))
    print(f"\nwrote {out} and {table_path} in {time.perf_counter() - start:.1f} s")
    if tree.attrs["converged"] != "yes":
        print(f"\nWARNING: {spec.name} DID NOT CONVERGE; the file is flagged (converged = no).\n"
              f"{tree.attrs['convergence_report']}", file=sys.stderr)  # fmt: skip
        return 0 if args.allow_unconverged else 3
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ww-bayes",
        description="Bayesian evidence from the UWV experiment on personal job-search services.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    simulate = commands.add_parser(
        "simulate", help="simulate a calibrated synthetic cohort and save its truth beside it"
    )
    simulate.add_argument("--n", type=int, default=179_840, help="persons (default 179,840)")
    simulate.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    simulate.add_argument(
        "--out",
        default="data/cohort.parquet",
        help="output .parquet or .csv (truth: <stem>.truth.nc)",
    )
    simulate.set_defaults(run=_simulate)

    validate = commands.add_parser(
        "validate", help="check a cohort file against the schema and print counts and rates"
    )
    validate.add_argument("path", help="cohort .parquet or .csv")
    validate.set_defaults(run=_validate)

    fit = commands.add_parser("fit", help="fit a model spec (models/*.toml) and save the posterior NetCDF")
    fit.add_argument("spec", help="model specification, e.g. models/job_finding_12m.toml")
    fit.add_argument("--data", required=True, help="cohort .parquet or .csv")
    fit.add_argument("--out", required=True, help="output NetCDF, e.g. results/job_finding_12m.nc")
    fit.add_argument(
        "--allow-unconverged", action="store_true", help="exit 0 even when the fit did not converge"
    )
    fit.add_argument("--no-progress", action="store_true", help="no progress bar")
    for name in ("chains", "draws", "tune", "seed"):
        fit.add_argument(f"--{name}", type=int, default=None, help=f"override sampler.{name} of the spec")
    fit.set_defaults(run=_fit)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (CohortFileError, SpecError, SchemaError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
