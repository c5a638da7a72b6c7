"""The ``ww-bayes`` command line."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ww_bayes.io import CohortFileError


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
    from ww_bayes.schema import SchemaError

    try:
        df = load_cohort(args.path)
    except SchemaError as error:
        print(f"{args.path}: {error}", file=sys.stderr)
        return 1
    print(f"{args.path}: valid.\n")
    print(format_description(df))
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except CohortFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
