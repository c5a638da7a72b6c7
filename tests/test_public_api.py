"""The small public functions the notebooks read results through: ``describe``, ``info``, ``published`` and
``SimulatedCohort.write``."""

from __future__ import annotations

import pandas as pd
import xarray as xr

import ww_bayes as wb
from ww_bayes.data.io import file_sha256


def test_describe_counts_the_persons_and_prints_the_published_figures(small_df):
    text = wb.describe(small_df)
    assert text.startswith(f"{len(small_df):,} persons")
    assert wb.published.SOURCE in text
    assert "Persons by arm and Werkverkenner class" in text


def test_published_figures_are_the_evaluation_numbers():
    assert wb.published.N_PERSONS == 179_840
    assert wb.published.BENEFIT_COST_RATIO == wb.published.BENEFITS_MEUR / wb.published.EXECUTION_COSTS_MEUR


def test_info_is_the_fit_attributes(small_trajectory_run):
    tree = wb.load(small_trajectory_run.fit, warn=False)
    attrs = tree.attrs
    found = wb.info(tree)
    assert found == wb.FitInfo(
        name=attrs["model_name"],
        kind="trajectory",
        n_persons=4_000,
        n_cells=int(attrs["n_cells"]),
        converged=attrs["converged"] == "yes",
        data_sha256=attrs["data_sha256"],
        data_sha256_of=attrs["data_sha256_of"],
        synthetic=True,
        sampled_draws=50,
        stored_draws=tree["posterior"].ds.sizes["draw"],
    )
    assert found.data_sha256 == file_sha256(small_trajectory_run.data)
    assert found.converged == wb.convergence(tree).converged


def test_a_simulated_cohort_writes_its_truth_beside_it(small_cohort, tmp_path):
    path = small_cohort.write(tmp_path / "cohort.csv")
    assert path == tmp_path / "cohort.csv"
    back = wb.load_cohort(path)
    assert len(back) == len(small_cohort.data)
    assert (back["person_id"].to_numpy() == small_cohort.data["person_id"].to_numpy()).all()
    truth = xr.load_datatree(wb.truth_path(path))
    xr.testing.assert_equal(truth, small_cohort.truth)
    assert isinstance(back, pd.DataFrame)
