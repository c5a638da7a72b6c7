"""Convergence of the trajectory model across effect shapes, cohort sizes and seeds.

Each fit simulates a cohort from one of the simulator's named scenarios (:data:`ww_bayes.data.simulate.
SCENARIOS`: the default, an early fade, a late onset, a negative class, strong regional heterogeneity,
unequal arms, and these combined) at a multiple of the published cohort (0.1x, 0.33x, 1x or 3x of 179,840
persons), fits the spec with ``fit()`` exactly as the CLI does, and checks it with the spec's gate
(R-hat <= 1.01 on every parameter, bulk and tail ESS >= 400 on the effects, no divergences, E-BFMI >= 0.3).
Seed ``s`` is the cohort's seed; the sampler's seed is the spec's plus ``s``.

One JSON line per fit is appended to the results file; a fit already there (same spec structure and sampler
settings, scenario, size and seed) is skipped, so an interrupted run resumes where it stopped. The table is
printed from that file at the end (``--table`` prints it without fitting).

    .venv/bin/python benchmarks/bench_trajectory_scenarios.py [--scenarios fade_by_24 combined ...]
        [--sizes 0.33x 1x] [--seeds 1 2] [--spec models/trajectory_30m.toml] [--results FILE]
        [--keep-fits DIR] [--target-accept 0.97] [--centred-below 0.6] [--likelihood correlated] [--table]

``--target-accept`` and ``--centred-below`` run a candidate (another step size; another threshold of the
rule that chooses the class means' form, the spec's ``centred_below``); ``--likelihood`` fits
with another of the kind's likelihoods (``ww_bayes.kinds.trajectory.LIKELIHOODS``). All are part of the
model key, so a candidate's rows are its own.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import subprocess
import time
import warnings
from pathlib import Path

from ww_bayes.data import published
from ww_bayes.data.io import write_datatree
from ww_bayes.data.simulate import SCENARIOS, simulate_cohort
from ww_bayes.inference import fit, spec_structure
from ww_bayes.kinds import load_spec, pooling
from ww_bayes.kinds.common import sampler_fields
from ww_bayes.kinds.trajectory import LIKELIHOODS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "bench_trajectory_scenarios.jsonl"
SPEC = ROOT / "models" / "trajectory_30m.toml"
#: Cohort sizes as multiples of the published cohort.
SIZES = {"0.1x": 0.1, "0.33x": 1 / 3, "1x": 1.0, "3x": 3.0}
#: The rule's default threshold (``ww_bayes.kinds.pooling.CENTRED_BELOW``); a spec with another (the shipped
#: one sets 0.7) is keyed by it.
DEFAULT_THRESHOLD = pooling.CENTRED_BELOW


def persons(size: str) -> int:
    return round(SIZES[size] * published.N_PERSONS)


def model_key(spec, likelihood: str | None = None) -> str:
    """What a result depends on besides scenario, size and seed: the model and the sampler settings (and the
    rule's threshold when a candidate sets another, ``--centred-below``, and the likelihood when it is not
    the kind's default, ``--likelihood``)."""
    parts = [spec_structure(spec), sampler_fields(spec.sampler)]
    if spec.centred_below != DEFAULT_THRESHOLD:
        parts.append({"centred_below": spec.centred_below})
    if spec.weak_data_form != pooling.NON_CENTRED:
        parts.append({"weak_data_form": spec.weak_data_form})
    if likelihood is not None and likelihood != LIKELIHOODS[0]:
        parts.append({"likelihood": likelihood})
    settings = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(settings.encode()).hexdigest()[:12]


def _key(row: dict) -> tuple:
    return (row["model"], row["scenario"], row["size"], row["seed"])


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def fit_one(
    spec, scenario: str, size: str, seed: int, keep_fits: Path | None, likelihood: str | None = None
) -> dict:
    """Simulate, fit and gate one cohort; the row of the results file."""
    cohort = simulate_cohort(n=persons(size), seed=seed, calibration=SCENARIOS[scenario])
    seeded = spec.with_sampler(seed=spec.sampler.seed + seed)
    start = time.perf_counter()
    tree = fit(seeded, cohort.data, likelihood=likelihood, progress=False, log=None)
    seconds = time.perf_counter() - start
    if keep_fits is not None:
        keep_fits.mkdir(parents=True, exist_ok=True)
        write_datatree(tree, keep_fits / f"{scenario}_{size}_seed{seed}.nc")
    table = tree["diagnostics"].ds
    rhat = table["r_hat_max"].to_series()
    checked = table["ess_checked"] == 1
    forms = json.loads(tree.attrs["parametrization"])
    return {
        "model": model_key(spec, likelihood),
        "spec": spec.name,
        "likelihood": likelihood or LIKELIHOODS[0],
        "commit": _commit(),
        "scenario": scenario,
        "size": size,
        "n_persons": persons(size),
        "seed": seed,
        "sampler_seed": seeded.sampler.seed,
        "converged": tree.attrs["converged"] == "yes",
        "max_rhat": float(rhat.max()),
        "max_rhat_variable": str(rhat.idxmax()),
        "min_ess_bulk": float(table["ess_bulk_min"].where(checked).min()),
        "min_ess_tail": float(table["ess_tail_min"].where(checked).min()),
        "divergences": int(table.attrs["divergences"]),
        "min_bfmi": float(table.attrs["min_bfmi_observed"]),
        "share_at_max_treedepth": float(table.attrs["share_at_max_treedepth"]),
        # leapfrog steps per draw: the sampler's cost, whatever else the machine runs
        "steps_per_draw": float(tree["sample_stats"].ds["n_steps"].mean()),
        # the form of each effect's class means ("auto": chosen from this cohort)
        "forms": {c: f["werkverkenner"]["form"] for c, f in forms.items()},
        "seconds": seconds,
        "phase_seconds": json.loads(tree.attrs["phase_seconds"]),
    }


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _centred(row: dict) -> str:
    """The effects whose class means the fit centred ("-": none; rows made before the form was recorded had
    non-centred class means only)."""
    if "forms" not in row:
        return "-"
    return ", ".join(c for c, form in row["forms"].items() if form == "centred") or "-"


def table(rows: list[dict]) -> str:
    """One Markdown row per fit, by model, scenario, size and seed (the latest row of a repeated fit)."""
    latest = {_key(row): row for row in rows}
    order = {name: k for k, name in enumerate(SCENARIOS)}
    lines = [
        "| model | scenario | size | persons | seed | max R-hat (variable) | min ESS bulk / tail "
        "| divergences | min E-BFMI | seconds | converged | class means centred |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    ordered = sorted(
        latest.values(),
        key=lambda r: (r["model"], order.get(r["scenario"], 99), SIZES.get(r["size"], 0), r["seed"]),
    )
    for r in ordered:
        lines.append(
            f"| {r['model']} ({r['commit']}) | {r['scenario']} | {r['size']} | {r['n_persons']:,} "
            f"| {r['seed']} "
            f"| {r['max_rhat']:.3f} ({r['max_rhat_variable']}) "
            f"| {r['min_ess_bulk']:.0f} / {r['min_ess_tail']:.0f} | {r['divergences']} | {r['min_bfmi']:.2f} "
            f"| {r['seconds']:.0f} | {'yes' if r['converged'] else 'no'} | {_centred(r)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--scenarios", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=["0.33x"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--spec", type=Path, default=SPEC)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--keep-fits", type=Path, default=None, help="also write each fit file here")
    parser.add_argument("--table", action="store_true", help="print the table of the results file and stop")
    parser.add_argument("--target-accept", type=float, help="a candidate: the spec at this target_accept")
    parser.add_argument(
        "--centred-below",
        type=float,
        help="a candidate: the rule centres below this E[kappa] (default: the spec's, 0.7 as shipped)",
    )
    parser.add_argument(
        "--likelihood", choices=LIKELIHOODS, help="a candidate: another of the kind's likelihoods"
    )
    args = parser.parse_args()
    if not args.table:
        warnings.simplefilter("ignore")
        logging.getLogger("pymc").setLevel(logging.ERROR)
        spec = load_spec(args.spec)
        if args.centred_below is not None:
            spec = dataclasses.replace(spec, centred_below=args.centred_below)
        if args.target_accept is not None:
            spec = spec.with_sampler(target_accept=args.target_accept)
        model = model_key(spec, args.likelihood)
        done = {_key(row) for row in read_rows(args.results)}
        todo = [
            (scenario, size, seed)
            for size in args.sizes
            for seed in args.seeds
            for scenario in args.scenarios
            if (model, scenario, size, seed) not in done
        ]
        print(f"{len(todo)} fits to run of model {model} ({args.spec.name})", flush=True)
        args.results.parent.mkdir(parents=True, exist_ok=True)
        for scenario, size, seed in todo:
            row = fit_one(spec, scenario, size, seed, args.keep_fits, args.likelihood)
            with args.results.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(
                f"{scenario} {size} seed {seed}: converged {row['converged']}, R-hat {row['max_rhat']:.3f} "
                f"({row['max_rhat_variable']}), ESS {row['min_ess_bulk']:.0f} / {row['min_ess_tail']:.0f}, "
                f"{row['divergences']} div, {row['seconds']:.0f} s",
                flush=True,
            )
    print(table(read_rows(args.results)))


if __name__ == "__main__":
    main()
