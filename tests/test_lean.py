"""Lean fit files: thinned, float32 where precision is ample, compressed, heavy groups optional, and what is
left out recomputed exactly from the fit and its cohort."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import arviz_stats as azs
import h5py
import numpy as np
import pytest
import xarray as xr

import ww_bayes as wb
from ww_bayes.cli import main
from ww_bayes.data.io import load_datatree, write_cohort
from ww_bayes.inference import fit
from ww_bayes.kinds import kind_of, load_spec, parse_spec
from ww_bayes.kinds.common import OPTIONAL_GROUPS
from ww_bayes.results import DataMismatchError, ResultFileError, save_fit, summarise, thinning
from ww_bayes.tomlspec import SpecError

MODELS = Path(__file__).resolve().parents[1] / "models"
#: short chains: these tests check what is stored, not convergence
pytestmark = pytest.mark.filterwarnings("ignore::ww_bayes.results.ConvergenceWarning")


def small_spec():
    spec = load_spec(MODELS / "job_finding_12m.toml")
    spec = dataclasses.replace(spec, groups=("werkverkenner",))
    return spec.with_sampler(chains=2, draws=600, tune=400, seed=11, sampler="pymc")


@pytest.fixture(scope="module")
def pair(small_cohort):
    """The same sampler run (PyMC's NUTS, same seed: identical draws) stored two ways: everything, and the
    default lean layout thinned to 200 draws per chain."""
    spec = small_spec()
    full = fit(spec.with_output(draws=0, keep=OPTIONAL_GROUPS), small_cohort.data, progress=False, log=None)
    lean = fit(spec.with_output(draws=200), small_cohort.data, progress=False, log=None)
    return spec, full, lean


def test_thinning_keeps_at_most_the_stored_draws():
    assert [thinning(2000, 1000), thinning(3000, 375), thinning(600, 200), thinning(500, 1000)] == [
        2,
        8,
        3,
        1,
    ]
    assert thinning(1500, 1000) == 2 and thinning(10, 0) == 1  # 750 kept; 0 keeps all


def test_lean_fit_is_every_third_draw_in_float32(pair):
    _, full, lean = pair
    assert {"log_likelihood", "posterior_predictive"} <= set(full.children)
    assert not {"log_likelihood", "posterior_predictive"} & set(lean.children)
    assert "rate" in full["posterior"].ds and "rate" not in lean["posterior"].ds
    assert (lean.attrs["sampled_draws"], lean.attrs["thinned_by"], lean.attrs["stored_draws"]) == (
        600,
        3,
        200,
    )
    assert json.loads(lean.attrs["kept_groups"]) == [] and full.attrs["thinned_by"] == 1
    thinned = full["posterior"].ds.drop_vars(["rate", "arm"]).isel(draw=slice(None, None, 3))
    xr.testing.assert_equal(lean["posterior"].to_dataset(), thinned)  # the same draws, bit for bit
    assert {str(v.dtype) for v in lean["posterior"].ds.data_vars.values()} == {"float32"}
    # the estimands stay float64: made from the float64 draws before storing
    assert lean["effects/overall"].ds["effect_pp"].dtype == np.float64
    # the same estimand draws; the probabilities are those of the draws the file keeps
    variables = kind_of(lean).derived_variables
    probabilities = [n for n, v in variables.items() if v.role == "probability"]
    for level in full["effects"].children:
        every_third = full[f"effects/{level}"].to_dataset()
        if "draw" in every_third.dims:
            every_third = every_third.isel(draw=slice(None, None, 3))
        stored = lean[f"effects/{level}"].to_dataset()
        kept = [n for n in probabilities if n in stored]
        xr.testing.assert_equal(stored.drop_vars(kept), every_third.drop_vars(kept))
        if "prob_positive" in stored:
            positive = (stored["effect_pp"] > 0).mean(["chain", "draw"])
            np.testing.assert_array_equal(stored["prob_positive"].values, positive.transpose(
                *stored["prob_positive"].dims).values)  # fmt: skip
    # the gate saw every draw: the diagnostics are the same for both layouts
    xr.testing.assert_equal(lean["diagnostics"].to_dataset(), full["diagnostics"].to_dataset())
    assert full["posterior_predictive"].ds["y"].dtype == np.int32


def test_effect_tables_agree_up_to_the_monte_carlo_error_of_the_stored_draws(pair):
    """The check stated in docs/performance.md: every summary mean within 4 MCSE of the mean of all draws,
    every
    interval bound within 4 MCSE of its quantile (arviz_stats' MCSE of the stored draws)."""
    _, full, lean = pair
    keys = ["estimand", "contrast", "level", "group"]
    a, b = summarise(full).set_index(keys), summarise(lean).set_index(keys)
    assert a.index.equals(b.index) and len(a) > 30
    rows = b.index[b["sd"] > 0]
    assert np.all(np.abs(a.loc[rows, "mean"] - b.loc[rows, "mean"]) <= 4 * b.loc[rows, "mcse_mean"])
    by_class = lean["effects/werkverkenner"].ds["effect_pp"]
    for bound, prob in (("eti90_lb", 0.05), ("eti90_ub", 0.95)):
        mcse = azs.mcse(by_class, method="quantile", prob=prob)
        table = mcse.to_series().rename("mcse").reset_index()
        for row in table.itertuples():
            key = ("effect_pp", row.contrast, "by_werkverkenner", row.werkverkenner)
            assert abs(a.loc[key, bound] - b.loc[key, bound]) <= 4 * row.mcse, (key, bound)


def test_recomputed_groups_equal_the_stored_ones(pair, small_cohort):
    spec, full, lean = pair
    every_third = {"draw": slice(None, None, 3)}
    rebuilt = wb.with_groups(lean, small_cohort.data, spec=spec)
    # the log-likelihood of each stored draw: the same numbers (from float32 parameters: to 1e-3)
    stored = full["log_likelihood"].ds["y"].isel(every_third)
    np.testing.assert_allclose(rebuilt["log_likelihood"].ds["y"].values, stored.values, atol=1e-3, rtol=0)
    np.testing.assert_allclose(rebuilt["posterior"].ds["rate"].values,
                               full["posterior"].ds["rate"].isel(every_third).values, rtol=1e-5)  # fmt: skip
    # LOO, one call away, equals LOO on the stored log-likelihood of the same draws
    thinned = full.copy()
    for group in ("posterior", "log_likelihood", "sample_stats"):
        thinned[group] = xr.DataTree(full[group].ds.isel(every_third))
    assert float(azs.loo(rebuilt).elpd) == pytest.approx(float(azs.loo(thinned).elpd), abs=0.05)
    # predictive counts: within the trials, centred on the model's cell rates, reproducible with the seed
    y = rebuilt["posterior_predictive"].ds["y"]
    trials = lean["constant_data"].ds["trials"]
    assert y.sizes == {"chain": 2, "draw": 200, "cell": trials.sizes["cell"]}
    assert bool(((y >= 0) & (y <= trials.values)).all())
    again = wb.posterior_predictive(lean, small_cohort.data, spec=spec)
    xr.testing.assert_identical(again["y"], y)
    rate = wb.cell_rates(lean, small_cohort.data, spec=spec)["cell_rate"]
    expected = rate.mean(("chain", "draw")).values
    sd = np.sqrt(expected * (1 - expected) / trials.values / 400)
    assert np.all(np.abs((y / trials.values).mean(("chain", "draw")).values - expected) < 6 * sd + 1e-3)


def test_recompute_refuses_another_cohort_or_another_model(pair, small_cohort):
    spec, _, lean = pair
    with pytest.raises(DataMismatchError, match="cells differ from the fit's"):
        wb.log_likelihood(lean, small_cohort.data.iloc[1:], spec=spec)
    # the stored spec text has region in its groups; this fit was made without: refused, not rebuilt wrong
    with pytest.raises(ResultFileError, match="pass the spec the fit was made with"):
        wb.log_likelihood(lean, small_cohort.data)


def test_files_are_compressed_chunked_along_draws_and_round_trip(pair, tmp_path):
    _, full, lean = pair
    sizes = {}
    for name, tree in (("full", full), ("lean", lean)):
        path = save_fit(tree, tmp_path / f"{name}.nc")
        sizes[name] = path.stat().st_size
        back = load_datatree(path)
        for node in tree.subtree:  # lossless: every group and attr as written
            xr.testing.assert_identical(back[node.path].to_dataset(), node.to_dataset())
        assert back.attrs == tree.attrs
    with h5py.File(tmp_path / "lean.nc") as handle:
        effect = handle["effects/overall/effect_pp"]
        assert effect.compression == "gzip" and effect.shuffle
        assert effect.chunks[:2] == (1, 200)  # one chain, its draws
    # this small design (15 cells) has fixed overheads; the demo's files: benchmarks/bench_files.py
    assert sizes["lean"] < sizes["full"] / 1.8


def test_output_settings_are_checked():
    text = (MODELS / "job_finding_12m.toml").read_text()
    block = text[text.index("[output]") : text.index("# Credible intervals")]
    spec = parse_spec(text, "job.toml")
    assert spec.output.draws == 1000 and spec.output.keep == ()
    both = parse_spec(text.replace(block, '[output]\nkeep = ["rate", "log_likelihood"]\n'), "job.toml")
    assert both.output.keep == ("rate", "log_likelihood")
    bad = {
        'keep = ["y"]': "'output.keep': 'y' is not a group a fit can keep; choose from posterior_predictive",
        "draws = -1": "'output.draws' must be a whole number of at least 0",
        "draws = 2.5": "'output.draws' must be a whole number",
        'keep = "rate"': "'output.keep' must be a list of group names",
        "draw = 10": "unknown key 'output.draw'",
    }
    for line, message in bad.items():
        with pytest.raises(SpecError, match=message):
            parse_spec(text.replace(block, f"[output]\n{line}\n"), "job.toml")
    with pytest.raises(SpecError, match="is not a group a fit can keep"):
        spec.with_output(keep=("observed_data",))


def test_cli_keep_and_keep_draws(small_cohort, tmp_path, capsys):
    data = write_cohort(small_cohort.data, tmp_path / "cohort.parquet")
    spec = tmp_path / "job.toml"
    text = (MODELS / "job_finding_12m.toml").read_text().replace('groups = ["werkverkenner", "region"]',
                                                                 'groups = ["werkverkenner"]')  # fmt: skip
    spec.write_text(text.replace("seed = 20171201", 'seed = 3\nsampler = "pymc"'))
    out = tmp_path / "job.nc"
    short = ["--chains", "2", "--draws", "100", "--tune", "100", "--no-progress", "--allow-unconverged"]
    code = main(["fit", str(spec), "--data", str(data), "--out", str(out), *short,
                 "--keep", "log_likelihood", "--keep-draws", "50"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    tree = wb.load(out, warn=False)
    assert "log_likelihood" in tree.children and "posterior_predictive" not in tree.children
    assert tree["posterior"].ds.sizes["draw"] == 50 and json.loads(tree.attrs["kept_groups"]) == [
        "log_likelihood"
    ]
    # the stored spec text is the model fitted here: recompute needs no spec
    stored = tree["log_likelihood"].ds["y"].astype("float64")
    xr.testing.assert_allclose(wb.log_likelihood(tree, data)["y"], stored, atol=1e-3)
    with pytest.raises(SystemExit) as stop:
        main(["fit", str(spec), "--data", str(data), "--out", str(out), "--keep", "y"])
    assert stop.value.code == 2 and "argument --keep: invalid choice: 'y'" in capsys.readouterr().err
