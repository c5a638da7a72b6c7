"""Convergence of the shipped specs across sampler seeds and cohorts, and a screen of the sampler options.

One converged fit can be luck. Two phases, each run with ``fit()`` exactly as the CLI runs it, gated by the
spec's thresholds (R-hat <= 1.01 on every parameter, bulk and tail ESS >= 400 on the effects, no
divergences, E-BFMI >= 0.3 per chain, <= 1% of draws at the maximum tree depth):

- ``screen``: each option in OPTIONS for 3 sampler seeds x 3 calibrated cohorts (seeds 1-3), plus 3 sampler
  seeds on a cohort with a small true enforcement heterogeneity across regions (sd 0.05 on the logit), so
  a choice is not tuned to the simulator's exactly-zero enforcement sd;
- ``final``: the shipped spec for 10 sampler seeds x cohort seeds 1-3 (12-month specs) and 2 x 3 for the
  trajectory model;
- ``kinds``: the shipped destinations and hours specs, 10 sampler seeds x cohort seeds 1-3;
- ``path``: the shipped ``destinations_path`` (months 6-30; 4 x 4,000 draws after a warm-up of 1,000), three
  sampler seeds x cohort seeds 1-3 (about 5 minutes a fit);
- ``previous``: the final fits with the specs' longer warm-up (PREVIOUS);
- ``sizes``: the shipped specs of the first year (SIZE_SPECS; ``--sizes-option auto``: with their
  parametrization chosen from the data, AUTO) on calibrated cohorts of 0.1x, 1x, 3x and 10x the published
  cohort (SIZES: about 18k, 180k, 540k and 1.8M persons), 10 seeds each (seed k: cohort seed k, sampler seed
  offset k - 1), so a choice that only works at one size shows. ``--sizes`` and ``--seeds`` run a part of it
  (e.g. ``--sizes 0.1 1 10 --seeds 2``); the table says how many seeds each row has. Each fit records its
  phases (read + validate, cells, compile, sampling, gate, store) and the forms the data chose; peak memory
  per size is ``bench_fit.py --sizes``'s.

A fit is identified by what it depends on (spec, settings, cohort, seed), so one fit counts in every phase
that has it, and a candidate that ships keeps its results.

Results are appended to a JSON-lines file, one line per fit; a fit already there is skipped, so an
interrupted run resumes where it stopped. The table is printed from that file at the end (``--table`` prints
it without fitting).

    .venv/bin/python benchmarks/bench_convergence.py [--phase final|previous|kinds|path|screen|sizes|all]
        [--sizes 0.1 1 3 10] [--seeds 10]
        [--sizes-option shipped|auto|half|ta995|auto995|any-service-centred|any-service-auto995|
                        any-service-third|hours-service-half]
        [--results FILE] [--table]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from ww_bayes.data.published import N_PERSONS
from ww_bayes.data.simulate import DEFAULT_CALIBRATION, simulate_cohort
from ww_bayes.inference import fit
from ww_bayes.kinds import load_spec, pooling
from ww_bayes.kinds.common import LATER_SAMPLER_DEFAULTS
from ww_bayes.kinds.hours import PARTS as HOURS_PARTS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "bench_convergence.jsonl"
SPECS_12M = ("job_finding_12m", "ww_claim_12m")
#: The specs of the ``sizes`` phase: every shipped spec of the first year (``--specs`` runs a part).
SIZE_SPECS = (*SPECS_12M, "hours_worked_y1", "destinations_12m")
HETEROGENEOUS = dataclasses.replace(DEFAULT_CALIBRATION, region_enforcement_sd=0.05)
COHORTS = {  # name -> (cohort seed, calibration)
    "calibrated-1": (1, DEFAULT_CALIBRATION),
    "calibrated-2": (2, DEFAULT_CALIBRATION),
    "calibrated-3": (3, DEFAULT_CALIBRATION),
    "enforcement-sd-0.05": (1, HETEROGENEOUS),
}
FINAL_COHORTS = ("calibrated-1", "calibrated-2", "calibrated-3")
#: Cohort sizes of the ``sizes`` phase, as multiples of the published cohort (N_PERSONS), and the seeds
#: per size and spec.
SIZES = (0.1, 1.0, 3.0, 10.0)
SIZE_SEEDS = 10
#: Sampling phases of a fit (``phase_seconds``), summed into one "sampling" column.
SAMPLING = ("tune", "draws", "compile + tune + draws", "tune + draws")


def _settings(**sampler) -> Callable:
    return lambda spec: spec.with_sampler(**sampler)


#: Options screened side by side on the 12-month specs: the control-anchored model and its settings, the
#: service-arm anchor with fewer draws, nutpie's low-rank mass matrix. ("shipped" is the spec file as it is.)
SCREENED: dict[str, Callable] = {
    "round1: control_none anchor, 2000 draws, tune 1500, ta 0.97": lambda spec: dataclasses.replace(
        spec, anchor="control_none"
    ).with_sampler(draws=2000, tune=1500, target_accept=0.97),
    "service anchor, 1000 draws, tune 1000, ta 0.9": _settings(draws=1000, tune=1000, target_accept=0.9),
    "nutpie's low-rank mass matrix, tune 1000": _settings(adaptation="low_rank", tune=1000),
    "shipped": lambda spec: spec,
}
#: The longer warm-up (shipped now: 300 for the 12-month specs, nutpie's own default, and 500 for
#: the trajectory).
PREVIOUS_TUNE = {"job_finding_12m": 1000, "ww_claim_12m": 1000, "trajectory_30m": 1500}
PREVIOUS = "the longer warm-up (12-month 1000, trajectory 1500)"
#: The ``sizes`` phase's option: the spec with every partially pooled factor's form chosen from the data.
AUTO = "parametrization chosen from the data"
#: Another ``sizes`` option: the effects' deviations half-centred (``dev = sd^(1/2) z``), baselines shipped.
HALF = "effects half-centred"
HALF_EFFECTS = {"service": "half-centred", "enforcement": "half-centred"}
#: Another ``sizes`` option: the shipped spec with a smaller step size (NUTS's target acceptance 0.995).
CAUTIOUS = "target_accept 0.995"
#: And with the parametrization chosen from the data.
AUTO_CAUTIOUS = "parametrization chosen from the data, target_accept 0.995"
#: Another ``sizes`` option (hours): the service effect on P(any hours) centred across the Werkverkenner
#: classes (what the rule chooses from 1x up), every other factor as pinned.
ANY_SERVICE_CENTRED = "hours: P(any hours) service effect centred by class"
#: And with that form chosen from the data (the rule), every other factor as pinned, at target_accept 0.995.
ANY_SERVICE_AUTO_CAUTIOUS = (
    "hours: P(any hours) service effect by class chosen from the data, target_accept 0.995"
)
#: Another ``sizes`` option (hours): the service effect on the hours of those with any half-centred across
#: the classes (its sd's upper tail diverged at 10x, non-centred), every other factor as pinned.
HOURS_SERVICE_HALF = "hours: hours service effect half-centred by class"
#: And with the rule centring below E[kappa] 1/3 instead of 1/2 (the spec's ``centred_below``).
ANY_SERVICE_THIRD = (
    "hours: P(any hours) service effect by class chosen from the data below 1/3, target_accept 0.995"
)


def _half_centred(spec):
    """The spec with its effects' partially pooled deviations half-centred (in every part of a spec with
    parts: hours)."""
    if spec.kind == "hours":
        return spec.with_parametrization(dict.fromkeys(HOURS_PARTS, HALF_EFFECTS))
    return spec.with_parametrization(HALF_EFFECTS)


def _hours_factor(part: str, component: str, form: str, centred_below: float | None = None,
                  **sampler) -> Callable:  # fmt: skip
    """An option for the hours spec alone (other kinds as shipped): one part's component across the
    Werkverkenner classes in ``form``, every other factor as pinned; optionally the rule's threshold and
    sampler settings."""

    def option(spec):
        if spec.kind != "hours":
            return spec
        spec = spec.with_parametrization({part: {component: {"werkverkenner": form}}}).with_sampler(**sampler)
        return spec if centred_below is None else dataclasses.replace(spec, centred_below=centred_below)

    return option


OPTIONS: dict[str, Callable] = {
    **SCREENED,
    PREVIOUS: lambda spec: spec.with_sampler(tune=PREVIOUS_TUNE[spec.name]),
    AUTO: lambda spec: spec.with_parametrization("auto"),
    HALF: _half_centred,
    CAUTIOUS: _settings(target_accept=0.995),
    AUTO_CAUTIOUS: lambda spec: spec.with_parametrization("auto").with_sampler(target_accept=0.995),
    ANY_SERVICE_CENTRED: _hours_factor("any_hours", "service", "centred"),
    ANY_SERVICE_AUTO_CAUTIOUS: _hours_factor("any_hours", "service", "auto", target_accept=0.995),
    HOURS_SERVICE_HALF: _hours_factor("hours", "service", "half-centred"),
    ANY_SERVICE_THIRD: _hours_factor("any_hours", "service", "auto", 1 / 3, target_accept=0.995),
}
#: The forms the 12-month specs pin (and had fixed in code before a spec could choose): results made
#: before the option existed were made with them.
PINNED = {"baseline": "centred", "service": "non-centred", "enforcement": "non-centred"}
#: Phases run on the final cohorts (phase -> option, and sampler seeds per spec).
PLANS = {
    "final": ("shipped", {SPECS_12M[0]: 10, SPECS_12M[1]: 10, "trajectory_30m": 2}),
    "previous": (PREVIOUS, {SPECS_12M[0]: 10, SPECS_12M[1]: 10, "trajectory_30m": 2}),
    "kinds": ("shipped", {"destinations_12m": 10, "hours_worked_y1": 10}),
    "path": ("shipped", {"destinations_path": 3}),
}
PHASES = (*PLANS, "screen", "sizes")


def sized(size: float, seed: int) -> str:
    """The name of a calibrated cohort of ``size`` times the published cohort."""
    return f"calibrated-{seed} x{size:g}"


def persons(cohort: str) -> int:
    """How many persons a cohort of the ``sizes`` phase has (the published size for the others)."""
    size = float(cohort.split(" x")[1]) if " x" in cohort else 1.0
    return round(N_PERSONS * size)


#: The options the ``sizes`` phase runs the 12-month specs with (``--sizes-option``).
SIZE_OPTIONS = {"shipped": "shipped", "auto": AUTO, "half": HALF, "ta995": CAUTIOUS, "auto995": AUTO_CAUTIOUS,
                "any-service-centred": ANY_SERVICE_CENTRED,
                "any-service-auto995": ANY_SERVICE_AUTO_CAUTIOUS,
                "any-service-third": ANY_SERVICE_THIRD, "hours-service-half": HOURS_SERVICE_HALF}  # fmt: skip


def _plan(
    phase: str, sizes: tuple[float, ...] = SIZES, seeds: int = SIZE_SEEDS, size_option: str = "shipped"
) -> list[dict]:
    """The fits a phase tabulates, each with its option label (``sizes``, ``seeds``: the part of the
    ``sizes`` phase to run; ``size_option``: a key of SIZE_OPTIONS)."""
    runs = []
    if phase == "sizes":
        option = SIZE_OPTIONS[size_option]
        for size in sizes:
            for seed in range(1, seeds + 1):  # one cohort for every spec, then the next
                for name in SIZE_SPECS:
                    runs.append(dict(spec=name, option=option, cohort=sized(size, seed), offset=seed - 1))
    elif phase in PLANS:
        option, seeds = PLANS[phase]
        for name, n in seeds.items():
            for cohort in FINAL_COHORTS:
                runs += [dict(spec=name, option=option, cohort=cohort, offset=k) for k in range(n)]
    else:
        for name in SPECS_12M:
            for option in (*SCREENED, PREVIOUS):
                for cohort in COHORTS:
                    runs += [dict(spec=name, option=option, cohort=cohort, offset=k) for k in range(3)]
    for run in runs:
        run["phase"] = phase
        run["settings"] = _settings_of(_spec(run))
    return runs


def _runs(
    phase: str, sizes: tuple[float, ...] = SIZES, seeds: int = SIZE_SEEDS, size_option: str = "shipped"
) -> list[dict]:
    """The fits to have for a phase ("all": every phase), each once. A fit is identified by what it
    depends on (spec, settings, cohort, seed offset), not by its label, so the screen's fits of the shipped
    spec are also the final phase's first three seeds, and a candidate that ships keeps its results."""
    runs = [
        run for name in PHASES if phase in (name, "all") for run in _plan(name, sizes, seeds, size_option)
    ]
    unique = {_key(run): run for run in sorted(runs, key=_priority, reverse=True)}
    return sorted(unique.values(), key=_priority)


def _priority(run: dict) -> int:
    """Run order, so that an interrupted run has the most telling fits: the shipped 12-month specs first,
    then the shipped specs on the heterogeneous cohort, the trajectory, the other sizes, the
    control-anchored model, the rest."""
    if run["phase"] == "sizes":
        return 1 if persons(run["cohort"]) == N_PERSONS else 3
    if run["option"] == "shipped":
        return {"trajectory_30m": 2, "destinations_12m": 2, "hours_worked_y1": 2}.get(
            run["spec"], 0 if run["cohort"] in FINAL_COHORTS else 1
        )
    return 4 if run["option"].startswith("round1") else 5


def _spec(run: dict):
    """The spec a run fits: the shipped file with the run's option applied."""
    return OPTIONS[run["option"]](load_spec(ROOT / "models" / f"{run['spec']}.toml"))


def _settings_of(spec) -> str:
    """What a result depends on besides the data and the seed: a result made with other settings (the spec
    file changed since) does not count for the option any more. The parametrization asked for is one of
    them ("auto" everywhere: chosen from the data), and so are the rule's threshold and weak-data form, a
    class-means sd's prior family and the scale the rule reads for it where the spec sets another than the
    default."""
    forms = getattr(spec, "parametrization", None)
    threshold = spec.centred_below
    extra = [{"centred_below": threshold}] if threshold != pooling.CENTRED_BELOW else []
    if spec.weak_data_form != pooling.NON_CENTRED:
        extra.append({"weak_data_form": spec.weak_data_form})
    families = {c: p.group_sd_prior for c, p in getattr(spec, "priors", {}).items()
                if getattr(p, "group_sd_prior", pooling.HALF_NORMAL) != pooling.HALF_NORMAL}  # fmt: skip
    if families:  # a prior family other than the default (the trajectory's class-means sd)
        extra.append({"group_sd_prior": families})
    read = {c: p.rule_group_sd for c, p in getattr(spec, "priors", {}).items()
            if getattr(p, "rule_group_sd", None) is not None}  # fmt: skip
    if read:  # the half-normal scale the rule reads for that sd instead of its prior
        extra.append({"rule_group_sd": read})
    return _normal(
        json.dumps([getattr(spec, "anchor", None), dataclasses.asdict(spec.sampler), forms, *extra])
    )


def _key(run: dict) -> tuple:
    return (run["spec"], _normal(run["settings"]), run["cohort"], run["offset"])


def _normal(settings: str) -> str:
    """Settings as compared: options at their default that results do not depend on are left out, so
    results from before an option existed stay valid (``cores`` only limits the CPU cores a fit uses)."""
    anchor, sampler, *forms = json.loads(settings)
    defaults = {"adaptation": "diag", "cores": 0, **LATER_SAMPLER_DEFAULTS}
    sampler = {k: v for k, v in sampler.items() if defaults.get(k, object()) != v}
    if forms and _pinned(forms[0]):
        forms = []
    return json.dumps([anchor, sampler, *forms], sort_keys=True)


def _pinned(forms: dict | None) -> bool:
    """Whether a spec asks for the forms of PINNED for every factor (or has no parametrization at all); a
    kind with parts (hours: component -> factor per part) asks for them in every part."""
    if not forms:
        return True
    if all(isinstance(by, dict) and all(isinstance(f, dict) for f in by.values()) for by in forms.values()):
        return all(_pinned(part) for part in forms.values())
    return all(set(by.values()) == {PINNED[c]} for c, by in forms.items())


def _fit_one(run: dict, cohorts: dict) -> dict:
    spec = _spec(run)
    spec = spec.with_sampler(seed=spec.sampler.seed + run["offset"])
    if run["cohort"] not in cohorts:
        cohorts.clear()  # runs come cohort by cohort; a 10x cohort holds about 350 MB
        if run["cohort"] in COHORTS:
            seed, calibration = COHORTS[run["cohort"]]
            cohorts[run["cohort"]] = simulate_cohort(seed=seed, calibration=calibration).data
        else:
            cohorts[run["cohort"]] = simulate_cohort(n=persons(run["cohort"]), seed=run["offset"] + 1).data
    start = time.perf_counter()
    tree = fit(spec, cohorts[run["cohort"]], progress=False, log=None)
    seconds = time.perf_counter() - start
    table = tree["diagnostics"].ds
    rhat = table["r_hat_max"].to_series()
    checked = table["ess_checked"] == 1
    phases = json.loads(tree.attrs["phase_seconds"])
    forms = json.loads(tree.attrs.get("parametrization", "{}"))
    return {
        **run,
        "seed": spec.sampler.seed,
        "draws": spec.sampler.draws,
        "converged": tree.attrs["converged"] == "yes",
        "worst_rhat": float(rhat.max()),
        "worst_rhat_variable": str(rhat.idxmax()),
        "worst_ess_bulk": float(table["ess_bulk_min"].where(checked).min()),
        "worst_ess_tail": float(table["ess_tail_min"].where(checked).min()),
        "divergences": int(table.attrs["divergences"]),
        "min_bfmi": float(table.attrs["min_bfmi_observed"]),
        "share_at_max_treedepth": float(table.attrs["share_at_max_treedepth"]),
        "seconds": seconds,
        "persons": len(cohorts[run["cohort"]]),
        "phases": {
            "read + validate": phases.get("read + validate", 0.0),
            "cells": phases.get("cells", 0.0),
            "compile": phases.get("compile", 0.0),
            "sampling": sum(phases.get(p, 0.0) for p in SAMPLING),
            "gate": phases.get("convergence", 0.0),
            "store": phases.get("store", 0.0),
        },
        "parametrization": {c: {f: p["form"] for f, p in by.items()} for c, by in forms.items()},
    }


def table(path: Path) -> str:
    """The summary table (Markdown): every phase's fits found in the results file, by spec and option."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    found = {_key(row): row for row in rows if "settings" in row}
    groups: dict[tuple, list[dict]] = {}
    for phase in PHASES[:-1]:
        for run in _plan(phase):
            if _key(run) in found:
                groups.setdefault((phase, run["spec"], run["option"]), []).append(found[_key(run)])
    lines = [
        "| phase | spec | option | converged/total | worst R-hat | worst ESS bulk / tail | divergences "
        "| min E-BFMI | max share at max depth | median wall s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (phase, spec, option), fits in sorted(groups.items(), key=lambda g: (PHASES.index(g[0][0]), g[0])):
        lines.append(
            f"| {phase} | {spec} | {option} | {sum(f['converged'] for f in fits)}/{len(fits)} "
            f"| {max(f['worst_rhat'] for f in fits):.4f} "
            f"| {min(f['worst_ess_bulk'] for f in fits):.0f} / {min(f['worst_ess_tail'] for f in fits):.0f} "
            f"| {sum(f['divergences'] for f in fits)} | {min(f['min_bfmi'] for f in fits):.2f} "
            f"| {max(f['share_at_max_treedepth'] for f in fits):.2%} "
            f"| {statistics.median(f['seconds'] for f in fits):.1f} |"
        )
    return "\n".join(lines) + "\n\n" + size_table(found)


def size_table(found: dict[tuple, dict]) -> str:
    """The ``sizes`` phase (Markdown): per option, spec and cohort size, the fits found, the gate's numbers,
    the median seconds of the fit's phases and the factors centred."""
    groups: dict[tuple, list[dict]] = {}
    for size_option in SIZE_OPTIONS:
        for run in _plan("sizes", size_option=size_option):
            if _key(run) in found:
                key = (size_option, run["spec"], persons(run["cohort"]))
                groups.setdefault(key, []).append(found[_key(run)])
    lines = [
        "| forms | spec | persons | seeds | converged | worst R-hat | worst ESS bulk / tail "
        "| divergences (per fit) | min E-BFMI "
        "| median s: read + validate / cells / compile / sampling / gate / store / total "
        "| centred (the others non-centred) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (size_option, spec, n), fits in sorted(groups.items()):
        median = {p: statistics.median(f["phases"][p] for f in fits) for p in fits[0]["phases"]}
        centred = {_centred(f["parametrization"]) for f in fits}
        lines.append(
            f"| {size_option} | {spec} | {n:,} | {len(fits)} "
            f"| {sum(f['converged'] for f in fits)}/{len(fits)} "
            f"| {max(f['worst_rhat'] for f in fits):.4f} "
            f"| {min(f['worst_ess_bulk'] for f in fits):.0f} / {min(f['worst_ess_tail'] for f in fits):.0f} "
            f"| {', '.join(str(f['divergences']) for f in fits)} | {min(f['min_bfmi'] for f in fits):.2f} "
            f"| {' / '.join(f'{v:.1f}' for v in median.values())} "
            f"/ {statistics.median(f['seconds'] for f in fits):.1f} "
            f"| {centred.pop() if len(centred) == 1 else 'differs by seed'} |"
        )
    return "\n".join(lines)


def _centred(forms: dict[str, dict[str, str]]) -> str:
    """The centred factors of a fit, e.g. ``baseline (werkverkenner, region), service (werkverkenner)``."""
    parts = []
    for component, by in forms.items():
        factors = [factor for factor, form in by.items() if form == "centred"]
        if factors:
            parts.append(f"{component} ({', '.join(factors)})")
    return ", ".join(parts) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--phase", choices=(*PHASES, "all"), default="all")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--sizes", type=float, nargs="+", default=list(SIZES), help="sizes phase: multiples")
    parser.add_argument("--seeds", type=int, default=SIZE_SEEDS, help="sizes phase: seeds per size")
    parser.add_argument("--sizes-option", choices=list(SIZE_OPTIONS), default="shipped",
                        help="sizes phase: the shipped specs, or their forms from the data")  # fmt: skip
    parser.add_argument("--specs", nargs="+", help="only these specs' fits (default: the phase's every spec)")
    parser.add_argument("--table", action="store_true", help="print the table of the results file and stop")
    args = parser.parse_args()
    if not args.table:
        warnings.simplefilter("ignore")
        logging.getLogger("pymc").setLevel(logging.ERROR)
        args.results.parent.mkdir(parents=True, exist_ok=True)
        done = set()
        if args.results.exists():
            rows = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]
            done = {_key(row) for row in rows if "settings" in row}
        runs = _runs(args.phase, tuple(args.sizes), args.seeds, args.sizes_option)
        runs = [run for run in runs if not args.specs or run["spec"] in args.specs]
        todo = [run for run in runs if _key(run) not in done]
        print(f"{len(todo)} fits to run ({len(done)} already in {args.results})", flush=True)
        cohorts: dict = {}
        for run in todo:
            result = _fit_one(run, cohorts)
            with args.results.open("a") as handle:
                handle.write(json.dumps(result) + "\n")
            print(
                f"{run['spec']} [{run['option']}] {run['cohort']} seed {result['seed']}: "
                f"converged {result['converged']}, R-hat {result['worst_rhat']:.4f} "
                f"({result['worst_rhat_variable']}), ESS {result['worst_ess_bulk']:.0f}, "
                f"{result['divergences']} div, {result['seconds']:.1f} s",
                flush=True,
            )
    print(table(args.results))


if __name__ == "__main__":
    main()
