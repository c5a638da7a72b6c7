"""fit(): groups, effects, diagnostics, provenance, save and load; full-cohort recovery of the truth."""

from __future__ import annotations

import dataclasses
import json
import logging
import warnings
from pathlib import Path

import arviz_stats as azs
import numpy as np
import pandas as pd
import pytensor
import pytest
import xarray as xr

from ww_bayes.cli import main
from ww_bayes.data.io import write_cohort
from ww_bayes.inference import FORWARD_LOGGER, NODE_TRACEBACK, REPRODUCIBLE_FASTMATH, check_convergence, fit
from ww_bayes.kinds import kind_of, load_spec
from ww_bayes.kinds.common import OPTIONAL_GROUPS
from ww_bayes.kinds.effects import effects_summary, truth_table
from ww_bayes.kinds.observations import CELL_RATE
from ww_bayes.postprocess import deterministics
from ww_bayes.results import ConvergenceWarning
from ww_bayes.results import load_fit as load
from ww_bayes.results import save_fit as save
from ww_bayes.summaries import coverage
from ww_bayes.vocabulary import quiet

MODELS = Path(__file__).resolve().parents[1] / "models"
GROUPS = (
    "posterior", "sample_stats", "observed_data", "constant_data", "weights", "log_likelihood",
    "posterior_predictive", "prior", "prior_predictive", "effects", "diagnostics",
)  # fmt: skip


@pytest.fixture(scope="module")
def small_fit(small_cohort):
    spec = load_spec(MODELS / "ww_claim_12m.toml")
    spec = dataclasses.replace(spec, groups=("werkverkenner",)).with_sampler(
        chains=2, draws=500, tune=500, seed=3, sampler="pymc"
    )
    spec = spec.with_output(draws=0, keep=OPTIONAL_GROUPS)  # every draw and group: the full layout
    return spec, fit(spec, small_cohort.data, progress=False, log=None)


def test_groups_effects_and_provenance(small_fit, small_cohort):
    spec, tree = small_fit
    assert set(GROUPS) <= set(tree.children)
    assert list(tree["effects"].children) == ["overall", "werkverkenner", "cells"]  # a level per factor
    overall = tree["effects/overall"].ds
    assert overall["effect_pp"].dims == ("chain", "draw", "contrast")
    assert list(overall["contrast"].values) == [
        "service_vs_control_enforcement", "enforcement_vs_none", "service_vs_control_none"
    ]  # fmt: skip
    assert tree["effects/werkverkenner"].ds["effect_pp"].sizes["werkverkenner"] == 5
    assert float(overall["prob_positive"].min()) >= 0
    assert tree.attrs["grouping_factors"] == '["werkverkenner"]' and tree.attrs["observation"]
    attrs = tree.attrs
    assert attrs["n_persons"] == len(small_cohort.data) and attrs["n_cells"] == 15
    assert attrs["spec_text"] == spec.text and len(attrs["data_sha256"]) == 64
    assert set(json.loads(attrs["package_versions"])) >= {"pymc", "pytensor", "arviz", "nutpie"}
    assert attrs["converged"] in ("yes", "no") and "created_at" in attrs
    # observed data are cells with labels, never person rows
    assert tree["observed_data"].ds.sizes["cell"] == 15
    assert int(tree["constant_data"].ds["trials"].sum()) == len(small_cohort.data)


def test_effects_are_consistent_with_cell_rates(small_fit):
    _, tree = small_fit
    rate = tree["posterior"].ds["rate"]
    weights = tree["weights"].ds["n_persons"]
    service = rate.sel(arm="service")
    control = rate.sel(arm="control_enforcement")
    by_hand = 100 * ((service - control) * weights).sum("werkverkenner") / weights.sum()
    xr.testing.assert_allclose(  # the file's rates are float32, the effects came from float64: 1e-4 pp
        by_hand,
        tree["effects/overall"].ds["effect_pp"].sel(contrast="service_vs_control_enforcement", drop=True),
        rtol=0,
        atol=1e-4,
    )


def test_posterior_predictive_counts_follow_the_cell_rates(small_fit):
    """The predictive counts are drawn from each draw's cell rate (vectorised, not PyMC's per-draw loop):
    within their trials, one per draw and cell, and centred where the model puts each cell's rate."""
    spec, tree = small_fit
    y = tree["posterior_predictive"].ds["y"]
    trials = tree["constant_data"].ds["trials"]
    assert y.dims == ("chain", "draw", "cell") and y.sizes["draw"] == spec.sampler.draws
    assert bool(((y >= 0) & (y <= trials)).all())
    assert "cell_rate" not in tree["posterior"].ds  # used for the draws, not stored
    # the model's cell rate: the posterior rate of the cell's arm and class
    cells = tree["observed_data"].ds
    rate = tree["posterior"].ds["rate"].mean(("chain", "draw"))
    expected = [float(rate.sel(arm=a, werkverkenner=w)) for a, w in zip(cells["arm"].values,
                cells["werkverkenner"].values, strict=True)]  # fmt: skip
    predicted = (y / trials).mean(("chain", "draw")).values
    sd = np.sqrt(np.array(expected) * (1 - np.array(expected)) / trials.values / y.sizes["draw"] / 2)
    assert np.all(np.abs(predicted - expected) < 6 * sd + 1e-3)


def test_prior_predictive_counts_follow_each_prior_draw(small_fit, small_cohort):
    """The prior predictive is drawn from each prior draw's cell rates (the draws' deterministics, then the
    observation's numpy draws): draw by draw, every cell's count sits where that draw's rate puts it. Counts
    drawn from other draws' rates (prior rates vary widely) would fall far outside."""
    spec, tree = small_fit
    kind = kind_of(spec)
    model = kind.build(spec, kind.prepare(spec, small_cohort.data, kind.likelihoods[0]))
    rate = deterministics(tree["prior"].ds, model, var_names=[CELL_RATE])[CELL_RATE]
    y = tree["prior_predictive"].ds["y"]
    trials = tree["constant_data"].ds["trials"]
    assert y.sizes["draw"] == rate.sizes["draw"] == 500 and rate.sizes["cell"] == y.sizes["cell"]
    rate = rate.assign_coords(cell=y["cell"])
    sd = np.sqrt(rate * (1 - rate) / trials)
    assert bool((np.abs(y / trials - rate) < 6 * sd + 1e-3).all())
    shuffled = rate.copy(data=np.roll(rate.values, 1, axis=1))  # each cell's rate from the previous draw
    assert not bool((np.abs(y / trials - shuffled) < 6 * sd + 1e-3).all())


def test_a_fit_keeps_pymcs_notice_off_the_screen_and_pytensors_flags_as_they_were(
    small_fit, small_cohort, caplog
):
    """PyMC logs "Sampling: [...]" (the variables a prior draw draws) at INFO on every prior draw call; a
    fit says what it drew in its groups, so the notice stays off the screen, while PyMC's other INFO
    messages are left alone. The PyTensor flags a fit sets (no node tracebacks, no fast-math) and the
    logger's level are the user's again afterwards."""
    spec, _ = small_fit
    caplog.set_level(logging.INFO, logger="pymc")
    flags = (pytensor.config.traceback__limit, pytensor.config.numba__fastmath)
    assert flags != (NODE_TRACEBACK, REPRODUCIBLE_FASTMATH)  # the check below can tell them apart
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # short chains: convergence is not tested here
        fit(spec.with_sampler(chains=1, draws=50, tune=50), small_cohort.data, progress=False, log=None)
    assert not [r for r in caplog.records if r.getMessage().startswith("Sampling:")]
    # the PyTensor flags a fit sets while it runs are the user's again afterwards
    assert (pytensor.config.traceback__limit, pytensor.config.numba__fastmath) == flags
    assert logging.getLogger(FORWARD_LOGGER).level == logging.NOTSET  # its level is back afterwards
    caplog.clear()
    with quiet(FORWARD_LOGGER):
        logging.getLogger(FORWARD_LOGGER).info("Sampling: [x]")
    logging.getLogger(FORWARD_LOGGER).info("Sampling: [y]")
    assert [r.getMessage() for r in caplog.records if r.name == FORWARD_LOGGER] == ["Sampling: [y]"]


def test_summary_table_labels_the_interval(small_fit):
    spec, tree = small_fit
    table = effects_summary(tree["effects"], spec.interval_kind, spec.interval_prob)
    assert {
        "eti90_lb",
        "eti90_ub",
        "ess_bulk",
        "r_hat",
        "mcse_mean",
        "prob_positive",
        "prob_beyond_smallest",
    } <= set(table)
    overall = table[(table["estimand"] == "effect_pp") & (table["level"] == "overall")]
    assert len(overall) == 3 and (overall["eti90_lb"] < overall["mean"]).all()
    hdi = effects_summary(tree["effects"], "hdi", 0.8)
    assert "hdi80_lb" in hdi.columns


def test_save_load_round_trip(small_fit, tmp_path):
    _, tree = small_fit
    path = save(tree, tmp_path / "fit.nc")
    plain = xr.load_datatree(path)  # no ww_bayes needed to read it
    for level in ("overall", "werkverkenner", "cells"):
        xr.testing.assert_allclose(plain[f"effects/{level}"].ds, tree[f"effects/{level}"].ds)
    assert plain.attrs["spec_text"] == tree.attrs["spec_text"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the short fit may be flagged; tested elsewhere
        again = load(path)
    xr.testing.assert_identical(again["posterior"].ds, plain["posterior"].ds)
    save(plain, path)  # overwriting a file that was read eagerly works


def test_unconverged_fit_is_flagged_in_file_and_cli(small_cohort, tmp_path, capsys):
    spec_path = tmp_path / "short.toml"
    text = (MODELS / "job_finding_12m.toml").read_text()
    text = text.replace('groups = ["werkverkenner", "region"]', 'groups = ["werkverkenner"]')
    text = text.replace('sampler = "nutpie"', "").replace("seed = 20171201", 'seed = 1\nsampler = "pymc"')
    spec_path.write_text(text)
    data = write_cohort(small_cohort.data, tmp_path / "cohort.parquet")
    out = tmp_path / "fit.nc"
    args = ["fit", str(spec_path), "--data", str(data), "--out", str(out), "--no-progress"]
    assert main([*args, "--chains", "1", "--draws", "15", "--tune", "5"]) == 3
    assert "DID NOT CONVERGE" in capsys.readouterr().err
    assert xr.load_datatree(out).attrs["converged"] == "no"
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        load(out)
    assert main([*args, "--chains", "1", "--draws", "15", "--tune", "5", "--allow-unconverged"]) == 0
    summary = pd.read_csv(tmp_path / "fit_summary.csv")
    assert {"estimand", "contrast", "level", "group", "eti90_lb"} <= set(summary.columns)


def test_fit_cli_reports_bad_spec(tmp_path, capsys):
    spec_path = tmp_path / "bad.toml"
    spec_path.write_text((MODELS / "job_finding_12m.toml").read_text().replace("chains = 4", "chain = 4"))
    code = main(["fit", str(spec_path), "--data", "x.parquet", "--out", str(tmp_path / "o.nc")])
    assert code == 2 and "unknown key 'sampler.chain'" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize(
    ("spec_name", "outcome", "service_truth"),
    [("job_finding_12m", "employed", 2.0), ("ww_claim_12m", "ww", -2.1)],
)
def test_full_cohort_converges_and_recovers_truth(full_cohort, full_fits, spec_name, outcome, service_truth):
    """The shipped specs, as shipped (nutpie, 4 chains), on the calibrated 179,840 cohort."""
    tree = full_fits[spec_name]
    assert tree.attrs["converged"] == "yes", tree.attrs["convergence_report"]
    diagnostics = tree["diagnostics"].ds
    assert float(diagnostics["r_hat_max"].max()) <= 1.01
    assert float(diagnostics["ess_bulk_min"].where(diagnostics["ess_checked"] == 1).min()) >= 400
    assert int(tree["sample_stats"].ds["diverging"].sum()) == 0
    summary = effects_summary(tree["effects"], "eti", 0.9)
    truth = truth_table(full_cohort.truth, outcome, 12, ["overall", "werkverkenner"])
    checked = coverage(summary, truth, "eti90", ["estimand", "contrast", "level", "group"])
    overall = checked[checked["level"] == "overall"].set_index("contrast")
    assert overall["covered"].all(), overall[["mean", "eti90_lb", "eti90_ub", "truth"]]
    assert overall.loc["service_vs_control_enforcement", "mean"] == pytest.approx(service_truth, abs=0.6)
    # classes: a 90% interval misses now and then; most must cover
    assert checked[checked["level"] == "by_werkverkenner"]["covered"].mean() >= 0.8


def test_gate_catches_low_bfmi_and_saturated_tree_depth(small_fit):
    """Deliberately broken sampler statistics: an energy that wanders like a random walk (E-BFMI far below
    0.3) and 5% of draws at the maximum tree depth. The gate names both; the real statistics pass both."""
    spec, tree = small_fit
    thresholds = dataclasses.replace(spec.convergence, max_rhat=10.0, min_ess_bulk=0, min_ess_tail=0)
    honest = check_convergence(tree, thresholds)
    assert honest.converged, honest.problems
    assert honest.min_bfmi > 0.3 and honest.share_at_max_treedepth == 0.0
    broken = tree.copy()
    stats = broken["sample_stats"].ds.copy()
    rng = np.random.default_rng(0)
    stats["energy"] = (("chain", "draw"), np.cumsum(rng.normal(size=stats["energy"].shape), axis=1))
    flag = np.zeros(stats["reached_max_treedepth"].shape, dtype=bool)
    flag[:, : int(0.05 * flag.shape[1])] = True
    stats["reached_max_treedepth"] = (("chain", "draw"), flag)
    broken["sample_stats"] = xr.DataTree(stats)
    result = check_convergence(broken, thresholds)
    assert not result.converged
    assert sum("E-BFMI" in p for p in result.problems) == stats.sizes["chain"]
    assert any("5.0% of draws at the maximum tree depth" in p for p in result.problems)
    # the bfmi stored per chain is arviz_stats' value
    np.testing.assert_allclose(result.table["bfmi"].values, azs.bfmi(broken)["energy"].values)


def test_a_fit_frees_what_earlier_fits_left_and_trims_the_heap(small_fit, small_cohort, monkeypatch):
    """A process that fits in a loop keeps its memory flat (benchmarks/bench_refit_memory.py): a fit first
    collects the reference cycles an earlier fit's tree left (a tree is parent and child to its groups),
    then trims glibc's heap before it starts and when it returns."""
    import gc
    import weakref

    import ww_bayes.inference

    spec, _ = small_fit
    trims = []
    monkeypatch.setattr(ww_bayes.inference, "_malloc_trim", lambda: trims.append)
    gc.disable()  # only an explicit collection frees a cycle now
    try:
        earlier = xr.DataTree.from_dict({"posterior": xr.Dataset({"x": ("draw", np.zeros(10))})})
        gone = weakref.ref(earlier)
        del earlier
        assert gone() is not None  # a cycle (parent and child): reference counting does not free it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit(spec.with_sampler(chains=1, draws=50, tune=50), small_cohort.data, progress=False, log=None)
        assert gone() is None
    finally:
        gc.enable()
    assert trims == [0, 0]  # malloc_trim(0) before and after
