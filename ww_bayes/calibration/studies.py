"""The studies end to end, as ``ww-bayes sbc``, ``ww-bayes coverage`` and ``ww-bayes kfold`` run them: run (or
resume) the replicates, judge them, write the tables, figures and a text summary into the study's folder
(``<out>/<spec name>/``), and return what was found."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ww_bayes.calibration.coverage import PROBS, cohort_path, coverage_study, shares
from ww_bayes.calibration.dispatch import check_dispatch, run_tasks, workers
from ww_bayes.calibration.kfold import VARIANTS, kfold_study, write_summary
from ww_bayes.calibration.sbc import SBCSettings, pit_values, sbc, uniformity
from ww_bayes.data.io import atomic_write, load_cohort, write_datatree
from ww_bayes.data.simulate import simulate_cohort
from ww_bayes.inference import sampler_for
from ww_bayes.kinds import kind_of
from ww_bayes.viz import save_figure
from ww_bayes.viz.calibration import ecdf_figure, rank_histograms


@dataclass
class Study:
    """A study's verdict: ``passed``, the text printed, the files written."""

    passed: bool
    text: str
    files: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class Dispatch:
    """Where the replicates run: ``n_jobs`` processes (0: one per core) through joblib's ``backend``
    (``loky``, ``serial`` or ``dask`` with a ``scheduler`` address)."""

    n_jobs: int = 0
    backend: str = "loky"
    scheduler: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        check_dispatch(self.backend, self.scheduler)

    def runner(self, description: str):
        def run(function, tasks, total):
            return run_tasks(function, tasks, total, n_jobs=self.n_jobs, backend=self.backend,
                             scheduler=self.scheduler, progress=self.progress,
                             description=description)  # fmt: skip

        return run

    def text(self) -> str:
        if self.backend == "dask":
            return f"the Dask cluster at {self.scheduler}"
        return f"{workers(self.n_jobs, self.backend)} process(es), joblib {self.backend}"


def design_of(spec, data: str | Path | None):
    """The design an SBC study copies: a cohort file's cells, or the calibrated simulator's (seed 1)."""
    cohort = load_cohort(data) if data else simulate_cohort(seed=1).data
    source = str(data) if data else "the calibrated simulator (179,840 persons, seed 1)"
    return kind_of(spec).prepare(spec, cohort), source


def run_sbc(spec, out: str | Path, settings: SBCSettings, dispatch: Dispatch, data=None) -> Study:
    """``ww-bayes sbc``: the study in ``<out>/<spec name>/`` (resumed when it exists)."""
    folder = Path(out) / spec.name
    design, source = design_of(spec, data)
    start = time.perf_counter()
    ranks = sbc(spec, design, folder, settings, run=dispatch.runner(f"SBC {spec.name}"))
    wall = time.perf_counter() - start
    pit = pit_values(ranks, settings.ranked_draws, settings.seed)
    table, band = uniformity(pit, settings.alpha)
    passed = bool(table["inside_band"].all())
    unconverged = int((ranks["converged"] == 0).sum())
    above = int((ranks["max_rhat"] > 1.01).sum())
    stored = xr.DataTree.from_dict({"ranks": ranks, "pit": pit})
    shown = {k: v for k, v in band.items() if k not in ("x", "lower", "upper")}
    stored.attrs.update({"spec": spec.name, "design": source, "settings": json.dumps(asdict(settings)),
                         "band": json.dumps(shown), "passed": int(passed)})  # fmt: skip
    files = [write_datatree(stored, folder / "sbc.nc")]
    files.append(atomic_write(folder / "sbc_quantities.csv", lambda tmp: table.to_csv(tmp, index=False)))
    files += save_figure(ecdf_figure(pit, band, f"SBC {spec.name}"), folder / "sbc_ecdf")
    files += save_figure(
        rank_histograms(ranks, settings.ranked_draws, f"SBC {spec.name}"), folder / "sbc_ranks"
    )
    seconds = ranks["seconds"].to_numpy()
    tune = spec.sampler.tune if settings.tune is None else settings.tune
    failing = table[~table["inside_band"]]
    lines = [
        f"SBC of {spec.name}: {settings.reps} replicates, {settings.chains} chains x {settings.draws} draws "
        f"(tune {tune}, target_accept {sampler_for(spec, design).sampler.target_accept}, one core per fit), "
        f"ranks among {settings.ranked_draws} draws thinned evenly",
        f"design: {design.n_cells:,} cells of {design.n_persons:,} persons from {source}",
        f"uniformity: {len(table) - len(failing)} of {len(table)} quantities inside the simultaneous "
        f"{band['band_prob']:.4%} ECDF band (Bonferroni over {band['quantities']}, family "
        f"{1 - settings.alpha:.0%}): {'PASS' if passed else 'FAIL'}",
        *[
            f"  outside: {r.quantity} {r.index} (max ECDF distance {r.max_ecdf_distance:.3f}, mean PIT "
            f"{r.mean_pit:.2f})"
            for r in failing.head(12).itertuples()
        ],  # fmt: skip
        f"unconverged replicates: {unconverged} of {settings.reps} ({unconverged / settings.reps:.1%}; "
        f"R-hat > {settings.max_rhat}, bulk ESS < {settings.min_ess_bulk:g} or a divergence), kept in the "
        f"ranks; largest R-hat above 1.01 in {above}, median largest R-hat "
        f"{float(ranks['max_rhat'].median()):.4f}, {int(ranks['divergences'].sum())} divergences in all",
        f"cost: median {np.median(seconds):.1f} s per replicate on one core (max {seconds.max():.1f} s); "
        f"this run {wall / 60:.1f} min wall on {dispatch.text()}",
    ]
    text = "\n".join(lines)
    files.append(atomic_write(folder / "sbc.md", lambda tmp: tmp.write_text(text + "\n")))
    return Study(passed, text, files)


def run_coverage(
    spec, out: str | Path, cohorts: int, dispatch: Dispatch, *, n: int = 179_840, first_seed: int = 1
) -> Study:
    """``ww-bayes coverage``: the study in ``<out>/<spec name>/`` (resumed when it exists)."""
    folder = Path(out) / spec.name
    if workers(dispatch.n_jobs, dispatch.backend) > 1 or dispatch.backend == "dask":
        spec = spec.with_sampler(cores=1)
    seeds = range(first_seed, first_seed + cohorts)
    resumed = sum(cohort_path(folder, s).exists() for s in seeds)
    start = time.perf_counter()
    rows = coverage_study(spec, folder, cohorts, n=n, first_seed=first_seed,
                          run=dispatch.runner(f"coverage {spec.name}"))  # fmt: skip
    wall = time.perf_counter() - start
    table = shares(rows)
    pooled = table[table["breakdown"] == "pooled"].iloc[0]
    every = table[table["breakdown"] == "all"].iloc[0]
    passed = bool(all(pooled[f"contains_{round(100 * p)}"] for p in PROBS))
    files = [atomic_write(folder / f"coverage_{name}.csv", lambda tmp, t=t: t.to_csv(tmp, index=False))
             for name, t in (("rows", rows), ("shares", table))]  # fmt: skip
    per_cohort = rows.groupby("cohort")[["converged", "seconds"]].first()
    lines = [
        f"Coverage of {spec.name} on the calibrated simulator: {cohorts} cohorts of {n:,} persons (seeds "
        f"{first_seed}-{first_seed + cohorts - 1}), {spec.sampler.chains} chains x {spec.sampler.draws} "
        f"draws per fit, {len(rows):,} truths ({len(rows) // cohorts} per cohort), "
        f"{spec.interval_kind.upper()} intervals",
        *[_share_line(f"pooled ({pooled['which']}, {pooled['truths']} truths)", pooled, p) for p in PROBS],
        *[_share_line(f"every truth (every level, {every['truths']}; reported)", every, p) for p in PROBS],
    ]
    reference = table[table["breakdown"] == "reference"]
    if len(reference):
        row = reference.iloc[0]
        estimator = kind_of(spec).frequentist
        lines.append(f"reference, not gated: the frequentist estimator of `ww-bayes compare` ({estimator}, "
                     f"normal intervals) on the same cohorts, over the {row['truths']} {row['which']} truths "
                     "it estimates; these cohorts' own scatter:")  # fmt: skip
        lines += [_share_line("  reference", row, p) for p in PROBS]
        lines += [f"  the fit's share minus the reference's on the same truths, {round(100 * p)}% intervals: "
                  f"{row[f'paired_diff_{round(100 * p)}']:+.3f} [95% interval, clustered by cohort: "
                  f"{row[f'paired_lb_{round(100 * p)}']:+.3f}, {row[f'paired_ub_{round(100 * p)}']:+.3f}]"
                  for p in PROBS]  # fmt: skip
    lines.append("by level, contrast and month (reported, not gated; 95% Korn-Graubard intervals):")
    for name in ("level", "contrast", "outcome", "month"):
        for row in table[table["breakdown"] == name].itertuples():
            lines.append(f"  {name} {row.which}: 50% {row.share_50:.3f} [{row.kg95_lb_50:.3f}, "
                         f"{row.kg95_ub_50:.3f}], 90% {row.share_90:.3f} [{row.kg95_lb_90:.3f}, "
                         f"{row.kg95_ub_90:.3f}] ({row.truths} truths)")  # fmt: skip
    groups = table[table["breakdown"] == "group"]
    groups = groups[~groups["which"].str.startswith("overall")].sort_values("share_90")
    lines.append("groups with the lowest 90% share (classes and regions; partial pooling shrinks outlying "
                 "groups towards the mean):")  # fmt: skip
    lines += [f"  {r.which}: 90% {r.share_90:.3f} [{r.kg95_lb_90:.3f}, {r.kg95_ub_90:.3f}], 50% "
              f"{r.share_50:.3f}" for r in groups.head(6).itertuples()]  # fmt: skip
    lines.append(
        f"unconverged fits: {int((~per_cohort['converged'].astype(bool)).sum())} of {cohorts} (kept); "
        f"median {per_cohort['seconds'].median():.0f} s per cohort (simulate + fit, one core); this run "
        f"fitted {cohorts - resumed} ({resumed} kept from earlier runs) in {wall / 60:.1f} min wall on "
        f"{dispatch.text()}"
    )
    if "problems" in rows:
        reasons = rows.groupby("cohort")["problems"].first().dropna()
        for reason, count in reasons[reasons != ""].value_counts().head(3).items():
            lines.append(f"  {count} x {reason}")
    verdict = "PASS" if passed else "FAIL"
    lines.append(f"verdict: {verdict} (the pooled 95% intervals, Clopper-Pearson at the effective size, "
                 f"{'contain' if passed else 'do not both contain'} 0.50 and 0.90)")  # fmt: skip
    text = "\n".join(lines)
    files.append(atomic_write(folder / "coverage.md", lambda tmp: tmp.write_text(text + "\n")))
    return Study(passed, text, files)


def _share_line(label: str, row: pd.Series, prob: float) -> str:
    percent = round(100 * prob)
    return (
        f"{label} {percent}% intervals: {row[f'share_{percent}']:.3f} covered, 95% Clopper-Pearson at the "
        f"effective size (Korn-Graubard, clustered by cohort, design effect {row[f'deff_{percent}']:.1f}) "
        f"[{row[f'kg95_lb_{percent}']:.3f}, {row[f'kg95_ub_{percent}']:.3f}] "
        f"{'contains' if row[f'contains_{percent}'] else 'DOES NOT contain'} {prob:.2f} (every truth "
        f"independent: [{row[f'cp95_lb_{percent}']:.3f}, {row[f'cp95_ub_{percent}']:.3f}])"
    )


def run_kfold(
    spec, data: str | Path, out: str | Path, dispatch: Dispatch, *, folds: int = 5, factor: str = "region",
    variants: tuple[str, ...] = VARIANTS, seed: int = 2026,
) -> Study:  # fmt: skip
    """``ww-bayes kfold``: the study in ``<out>/<spec name>/`` (resumed when it exists)."""
    folder = Path(out) / spec.name
    if workers(dispatch.n_jobs, dispatch.backend) > 1 or dispatch.backend == "dask":
        spec = spec.with_sampler(cores=1)
    start = time.perf_counter()
    rows = kfold_study(spec, data, folder, factor=factor, folds=folds, variants=variants, seed=seed,
                       run=dispatch.runner(f"K-fold {spec.name}"))  # fmt: skip
    text, files = write_summary(spec, folder, rows, factor, time.perf_counter() - start)
    return Study(True, text, files)
