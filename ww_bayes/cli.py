"""The ``ww-bayes`` command line."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import xarray as xr

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
    if spec.kind == "trajectory":
        _report_trajectory(tree, spec, args)
        print(f"in {time.perf_counter() - start:.1f} s")
        return _convergence_exit(tree, spec, args)
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
    return _convergence_exit(tree, spec, args)


def _convergence_exit(tree, spec, args) -> int:
    if tree.attrs["converged"] != "yes":
        print(f"\nWARNING: {spec.name} DID NOT CONVERGE; the file is flagged (converged = no).\n"
              f"{tree.attrs['convergence_report']}", file=sys.stderr)  # fmt: skip
        return 0 if args.allow_unconverged else 3
    return 0


def _report_trajectory(tree, spec, args) -> None:
    """Write the trajectory summary (CSV) and the effect-path figure (PNG); print the overall paths."""
    from ww_bayes.io import atomic_write, load_datatree
    from ww_bayes.plots import save_png, trajectory_plot
    from ww_bayes.simulate import truth_path
    from ww_bayes.trajectory import trajectory_summary, truth_coverage

    label = spec.interval_label
    summary = trajectory_summary(tree["trajectory"].ds, spec.interval_kind, spec.interval_prob)
    stem = Path(args.out).with_name(Path(args.out).stem)
    table_path = atomic_write(Path(f"{stem}_summary.csv"), lambda tmp: summary.to_csv(tmp, index=False))
    truth, coverage = None, None
    if truth_path(args.data).is_file():
        coverage = truth_coverage(
            tree["trajectory"].ds, load_datatree(truth_path(args.data)), spec.interval_prob
        )
        truth = coverage.table[coverage.table["level"] == "overall"]
    figure = trajectory_plot(summary, label, truth)
    png = save_png(figure, Path(f"{stem}_paths.png"))
    overall = summary[(summary["level"] == "overall") & summary["month"].isin([6, 12, 18, 24, 30])]
    interval = f"{spec.interval_kind.upper()} {spec.interval_prob:.0%} credible interval"
    print(f"\n{spec.name}: overall effects, posterior mean [{interval}]; pp in the month, "
          "cumulative in months per participant")  # fmt: skip
    for (estimand, outcome, contrast), rows in overall.groupby(
        ["estimand", "outcome", "contrast"], sort=False
    ):
        cells = "  ".join(
            f"m{r.month}: {r.mean:+.2f} [{getattr(r, label + '_lb'):+.2f}, {getattr(r, label + '_ub'):+.2f}]"
            for r in rows.itertuples()
        )
        name = estimand if estimand != "effect_pp" else f"effect_pp {outcome}"
        print(f"  {name:<24} {contrast:<31} {cells}")
    if coverage is not None:
        shares = coverage.by_curve()
        pooled = coverage.share_covered(level="overall")
        print(f"\nshare of months with the simulator's truth inside the {label} band (all overall "
              f"curves together: {pooled:.0%}):\n{shares.round(2).to_string()}")  # fmt: skip
    print(f"\nwrote {args.out}, {table_path} and {png}")


def _compare(args: argparse.Namespace) -> int:
    from ww_bayes.fit import load
    from ww_bayes.frequentist import compare, fit_levels, frequentist_group, itt
    from ww_bayes.io import atomic_write, file_sha256, load_cohort, write_datatree
    from ww_bayes.plots import forest_plot, save_png

    if not Path(args.fit).is_file():
        print(f"error: {args.fit}: no such fit file", file=sys.stderr)
        return 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        tree = load(args.fit)
    if tree.attrs.get("model_kind") == "trajectory":
        print(f"error: {args.fit} is a trajectory fit; compare works on 12-month fits", file=sys.stderr)
        return 2
    if tree.attrs.get("converged") != "yes":
        print(f"WARNING: {args.fit} did not converge; its posterior is not to be trusted.", file=sys.stderr)
    df = load_cohort(args.data)  # a missing or invalid file stops here with a clear error
    if str(tree.attrs.get("data_sha256_of", "")).startswith("file") and not args.allow_other_data:
        if file_sha256(args.data) != tree.attrs["data_sha256"]:
            print(f"error: {args.data} is not the file {args.fit} was fit on (SHA-256 differs); "
                  "pass --allow-other-data to compare anyway", file=sys.stderr)  # fmt: skip
            return 2
    try:
        frequentist = itt(
            df, tree.attrs["outcome"], levels=fit_levels(tree), covariates=tuple(args.covariates),
            cov_type=args.cov_type,
        )  # fmt: skip
    except ValueError as error:  # e.g. a subgroup with an empty arm: the message lists them all
        print(f"error: {error}", file=sys.stderr)
        return 2
    table = compare(tree, frequentist)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(args.fit).stem
    csv = atomic_write(out / f"{stem}_compare.csv", lambda tmp: table.to_csv(tmp, index=False))
    figure = forest_plot(table)
    png = save_png(figure, out / f"{stem}_forest.png")
    label = table.attrs["interval_label"]
    shown = table[table["level"] != "by_region"]
    print(f"{tree.attrs.get('model_name', stem)}: frequentist ITT (OLS, {frequentist['se_type'].iloc[0]}) vs "
          f"posterior, percentage points")  # fmt: skip
    print(f"{'contrast':<31} {'level':<17} {'group':<7} {'OLS':>7} {'95% CI':>17} {'p':>7} "
          f"{'posterior':>9} {label + ' interval':>17} {'shrinkage':>9}")  # fmt: skip
    for row in shown.itertuples():
        ci = f"[{row.frequentist_ci95_lb:+.2f}, {row.frequentist_ci95_ub:+.2f}]"
        interval = (
            f"[{getattr(row, f'posterior_{label}_lb'):+.2f}, {getattr(row, f'posterior_{label}_ub'):+.2f}]"
        )
        shrink = "" if row.level == "overall" else f"{row.shrinkage:.2f}"
        print(f"{row.contrast:<31} {row.level:<17} {row.group:<7} {row.frequentist_estimate:>+7.2f} {ci:>17} "
              f"{row.frequentist_p_value:>7.3f} {row.posterior_mean:>+9.2f} {interval:>17} "
              f"{shrink:>9}")  # fmt: skip
    if args.store:
        tree["frequentist"] = xr.DataTree(frequentist_group(frequentist))
        write_datatree(tree, args.fit)
        print(f"stored the estimates as group 'frequentist' in {args.fit}")
    print(f"wrote {csv} and {png}")
    return 0


def _cea(args: argparse.Namespace) -> int:
    from ww_bayes import published
    from ww_bayes.cea import analyse, load_assumptions, summary, targeting_table
    from ww_bayes.fit import load
    from ww_bayes.io import atomic_write, file_sha256, write_datatree
    from ww_bayes.plots import cea_figures, save_png

    for path in args.fit:
        if not Path(path).is_file():
            print(f"error: {path}: no such fit file", file=sys.stderr)
            return 2
    assumptions = load_assumptions(args.assumptions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        fits = {path: load(path) for path in args.fit}
    for path, tree in fits.items():
        if tree.attrs.get("converged") != "yes":
            print(
                f"WARNING: {path} did not converge; its cost-effectiveness is not to be trusted.",
                file=sys.stderr,
            )
    kinds = [tree.attrs.get("model_kind", "effects") for tree in fits.values()]
    if kinds == ["trajectory"]:
        source = next(iter(fits.values()))
    elif len(fits) == 2 and kinds == ["effects", "effects"]:
        by_outcome = {tree.attrs["outcome"].rsplit("_m", 1)[0]: tree for tree in fits.values()}
        if set(by_outcome) != {"employed", "ww"}:
            print("error: give one employed_m* and one ww_m* 12-month fit", file=sys.stderr)
            return 2
        source = xr.DataTree.from_dict({}, name="fits")
        for outcome, tree in by_outcome.items():
            source[outcome] = tree
    else:
        print(
            "error: --fit takes one trajectory fit, or two 12-month fits (jobs and WW receipt)",
            file=sys.stderr,
        )
        return 2
    try:
        result = analyse(source, assumptions)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    result.attrs["fits"] = ", ".join(str(p) for p in args.fit)
    result.attrs["fits_sha256"] = ", ".join(file_sha256(p) for p in args.fit)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tree = xr.DataTree.from_dict({"cost_effectiveness": result})
    tree.attrs.update({k: result.attrs[k] for k in ("fits", "fits_sha256", "effects_source")})
    tree.attrs["ww_bayes_kind"] = "ww_bayes cost-effectiveness"
    netcdf = write_datatree(tree, out / "cost_effectiveness.nc")
    table = summary(result)
    csv = atomic_write(out / "cost_effectiveness_summary.csv", lambda tmp: table.to_csv(tmp, index=False))
    rules = targeting_table(result)
    atomic_write(out / "cost_effectiveness_targeting.csv", lambda tmp: rules.to_csv(tmp, index=False))
    for name, figure in cea_figures(result).items():
        save_png(figure, out / f"cea_{name}.png")
    rows = table.set_index("quantity")
    rate = assumptions.discount_rate_annual
    print(f"Cost-effectiveness of {result.attrs['contrast']} ({result.attrs['effects_source']}); "
          f"posterior mean [ETI 90% interval], discounted at {rate:.2%} a year")  # fmt: skip
    headline = {
        "incremental_cost": "EUR/participant",
        "benefits": "EUR/participant",
        "net_benefit": "EUR/participant",
        "benefit_cost_ratio": "",
        "extra_employed_months": "months/participant",
        "cost_per_extra_job": "EUR",
    }
    for name, unit in headline.items():
        row = rows.loc[name]
        print(f"  {name:<24} {row['mean']:>12,.2f} [{row['eti90_lb']:,.2f}, {row['eti90_ub']:,.2f}] {unit}")
    print(f"  sanity check: published benefit-cost ratio EUR {published.BENEFITS_MEUR:.0f}m / "
          f"EUR {published.EXECUTION_COSTS_MEUR:.0f}m = {published.BENEFIT_COST_RATIO:.2f} (its own "
          "perspective and horizon; not a target)")  # fmt: skip
    break_even = float(result["break_even_wtp"])
    print(f"  break-even willingness to pay: EUR {break_even:,.0f} per extra employed month")
    print("\nTargeting: which Werkverkenner classes to serve (net benefit per cohort participant, EUR)")
    print(rules.head(5).to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    print(f"\nwrote {netcdf}, {csv}, the targeting table and the figures cea_*.png in {out}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from ww_bayes.report import ReportError, write_report

    out = Path(args.out) if args.out else Path(args.results) / "report.html"
    start = time.perf_counter()
    try:
        path = write_report(args.results, out)
    except ReportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote the report {path.resolve()} ({path.stat().st_size / 1e6:.1f} MB, self-contained) "
          f"in {time.perf_counter() - start:.1f} s")  # fmt: skip
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

    compare = commands.add_parser(
        "compare",
        help="frequentist ITT estimates beside a fit's posterior: table (CSV) and forest plot (PNG)",
    )
    compare.add_argument("fit", help="a fit NetCDF, e.g. results/job_finding_12m.nc")
    compare.add_argument("--data", required=True, help="the cohort the fit was made on (.parquet or .csv)")
    compare.add_argument("--out", required=True, help="output folder, e.g. results/")
    compare.add_argument(
        "--covariates", nargs="*", default=[], choices=["age", "sex", "education"], help="OLS covariates"
    )
    compare.add_argument(
        "--cov-type", default="HC2", choices=["HC2", "cluster"], help="HC2 or cluster-robust by region"
    )
    compare.add_argument("--store", action="store_true", help="also store a 'frequentist' group in the fit")
    compare.add_argument(
        "--allow-other-data", action="store_true", help="compare even if --data is not the fit's data file"
    )
    compare.set_defaults(run=_compare)

    cea = commands.add_parser(
        "cea", help="cost-effectiveness from a fit's posterior draws: NetCDF, tables (CSV) and figures (PNG)"
    )
    cea.add_argument("--fit", nargs="+", required=True,
                     help="a trajectory fit, or two 12-month fits (job finding and WW receipt)")  # fmt: skip
    cea.add_argument("--assumptions", default="models/cost_effectiveness.toml", help="assumptions TOML")
    cea.add_argument("--out", required=True, help="output folder, e.g. results/")
    cea.set_defaults(run=_cea)

    report = commands.add_parser(
        "report", help="one self-contained HTML page (figures embedded) summarising a results folder"
    )
    report.add_argument("results", help="results folder, e.g. results/")
    report.add_argument("--out", default=None, help="output HTML (default: <results>/report.html)")
    report.set_defaults(run=_report)
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
