"""The model-kind registry: a toy kind defined here plugs in with one registration and fits, saves, loads,
summarises and reports like the shipped ones; nothing outside the registry asks which kind it holds; old
and future fit files are read or refused with a message that says what to do."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pymc as pm
import pytest
import xarray as xr

import ww_bayes as wb
from ww_bayes.data.cells import aggregate_cells
from ww_bayes.data.schema import ARMS
from ww_bayes.estimands import contrast_pp
from ww_bayes.kinds import KINDS, kind_of, parse_spec
from ww_bayes.kinds.blocks import cell_index, cell_likelihood
from ww_bayes.kinds.common import COMMON_KEYS, SpecCommon
from ww_bayes.kinds.protocol import Heading, ModelData, ModelKind, Table
from ww_bayes.report import build_report
from ww_bayes.results import ResultFileError, load_fit, save_fit, summarise
from ww_bayes.summaries import summary_table
from ww_bayes.vocabulary import SAMPLE_DIMS

PACKAGE = Path(wb.__file__).parent


@dataclass(frozen=True, kw_only=True)
class ToySpec(SpecCommon):
    """One rate per arm, no groups: the smallest model kind there is."""

    outcome: str

    kind = "toy_arm_rates"

    def describe_priors(self) -> str:
        return "logit rate per arm ~ Normal(0, 1.5)"


class ToyKind(ModelKind):
    name = "toy_arm_rates"
    derived_group = "toy_effects"
    report_section = ("toy", "Toy arm rates")
    spec_keys = COMMON_KEYS | {"outcome"}
    required_keys = ("name", "outcome", "groups", "smallest_effect_pp")

    def parse(self, raw, text, source, common):
        return ToySpec(outcome=raw["outcome"], **common)

    def prepare(self, spec, cohort, likelihood="binomial"):
        cells = aggregate_cells(cohort, spec.outcome, by=("arm",))
        weights = xr.DataArray(len(cohort), name="n_persons")
        return ModelData(cells.table, {}, weights, spec.outcome, len(cohort), cells.n_missing)

    def build(self, spec, data, for_sampling=False):
        with pm.Model(coords={"arm": list(ARMS), "cell": np.arange(data.n_cells)}) as model:
            logit_rate = pm.Normal("logit_rate", 0.0, 1.5, dims="arm")
            pm.Deterministic("rate", pm.math.sigmoid(logit_rate), dims="arm")
            index = cell_index(data.cells, {"arm": list(ARMS)})
            cell_likelihood(data.cells, logit_rate[index], "binomial", for_sampling)
        return model

    def derive(self, spec, data, posterior):
        pp = contrast_pp(posterior["rate"]).transpose(*SAMPLE_DIMS, ...)
        return xr.Dataset({"effect_pp_overall": pp, "prob_positive_overall": (pp > 0).mean(SAMPLE_DIMS)})

    def summary(self, derived, interval_kind, interval_prob):
        return summary_table(derived, interval_kind, interval_prob)

    def screen_text(self, tree, summary, coverage):
        return summary.to_string()

    def report_blocks(self, name, tree, summary):
        return [Heading(f"toy fit {name}"), Table(summary[["contrast", "mean", "eti90_lb", "eti90_ub"]])]

    def calibration_quantities(self, spec):
        return ["logit_rate"]


TOY_SPEC = """
kind = "toy_arm_rates"
name = "toy"
outcome = "employed_m12"
groups = []
smallest_effect_pp = 1.0
[sampler]
sampler = "pymc"
chains = 2
draws = 500
tune = 500
"""


@pytest.fixture
def toy_kind(monkeypatch):
    monkeypatch.setitem(KINDS, ToyKind.name, ToyKind())  # removed again after the test
    return KINDS[ToyKind.name]


def test_a_toy_kind_fits_saves_loads_summarises_and_reports(toy_kind, small_cohort, tmp_path):
    spec = parse_spec(TOY_SPEC, "toy.toml")
    assert isinstance(spec, ToySpec) and kind_of(spec) is toy_kind
    tree = wb.fit(spec, small_cohort.data, progress=False, log=None)
    assert tree.attrs["model_kind"] == "toy_arm_rates" and "toy_effects" in tree.children
    path = save_fit(tree, tmp_path / "toy.nc")
    loaded = load_fit(path, warn=False)
    assert kind_of(loaded) is toy_kind
    xr.testing.assert_allclose(loaded["toy_effects"].ds, tree["toy_effects"].ds)
    # the posterior mean of the effect is the raw difference in means (flat-ish prior, 4,000 persons)
    table = summarise(loaded).set_index("contrast")
    df = small_cohort.data.dropna(subset=["employed_m12"])
    raw = df.groupby("arm", observed=True)["employed_m12"].mean()
    expected = 100 * (raw["service"] - raw["control_enforcement"])
    assert table.loc["service_vs_control_enforcement", "mean"] == pytest.approx(expected, abs=0.5)
    assert {"mcse_mean", "eti90_lb", "ess_bulk"} <= set(table.columns)
    page = build_report(tmp_path)
    assert 'id="toy"' in page and "toy fit toy.nc" in page and "Toy arm rates" in page


def test_fit_files_of_an_unknown_or_newer_layout_are_refused_with_what_to_do(
    toy_kind, small_cohort, tmp_path
):
    tree = wb.fit(parse_spec(TOY_SPEC), small_cohort.data, progress=False, log=None)
    path = save_fit(tree, tmp_path / "toy.nc")
    del KINDS[ToyKind.name]  # a reader without the kind
    with pytest.raises(ResultFileError, match="model kind 'toy_arm_rates' is unknown here.*refit"):
        load_fit(path)
    KINDS[ToyKind.name] = toy_kind
    newer = tree.copy()
    newer.attrs["fit_schema_version"] = 99
    with pytest.raises(ResultFileError, match="newer ww_bayes.*upgrade"):
        load_fit(save_fit(newer, tmp_path / "newer.nc"))
    older = tree.copy()
    del older.attrs["fit_schema_version"]  # round-1 and round-2 files have no layout version
    assert load_fit(save_fit(older, tmp_path / "older.nc"), warn=False).attrs["model_kind"] == "toy_arm_rates"


#: What "asking which kind it holds" looks like in code.
KIND_CHECKS = (
    r"isinstance\([^)]*Spec\)",
    r"\.kind\s*[!=]=",
    r"model_kind[\"']?\)?\s*[!=]=",
    r"[\"'](trajectory|effects)[\"']\s+(not\s+)?in\s+\w+\.children",
)


def test_no_model_kind_checks_outside_the_registry():
    offending = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "kinds":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if any(re.search(pattern, line) for pattern in KIND_CHECKS):
                offending.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert not offending, "\n".join(offending)


def test_the_kind_check_scan_catches_a_check():
    """The scan above must be able to fail: each pattern matches the kind of line it is meant to catch."""
    lines = [
        "if isinstance(spec, TrajectorySpec):",
        'if spec.kind == "trajectory":',
        'if tree.attrs.get("model_kind") == "trajectory":',
        'if "trajectory" in tree.children:',
    ]
    for line, pattern in zip(lines, KIND_CHECKS, strict=True):
        assert re.search(pattern, line), (pattern, line)


def test_results_round_trips_and_refusals(tmp_path):
    """The results layer's smaller file kinds: a comparison table and a fit's stored spec come back as
    written; a file of the wrong kind is refused with a message naming it."""
    import pandas as pd

    from ww_bayes.results import load_cea, load_comparison, save_comparison, spec_of

    table = pd.DataFrame(
        {
            "estimand": ["effect_pp"],
            "contrast": ["service_vs_control_enforcement"],
            "level": ["by_werkverkenner"],
            "group": ["0-25"],
            "frequentist_estimate": [1.5],
            "posterior_mean": [1.2],
            "posterior_eti90_lb": [0.1],
            "posterior_eti90_ub": [2.3],
        }
    )
    again = load_comparison(save_comparison(table, tmp_path / "compare.csv"))
    pd.testing.assert_frame_equal(again, table)
    assert again.attrs["interval_label"] == "eti90"
    save_comparison(table.drop(columns="posterior_mean"), tmp_path / "broken.csv")
    with pytest.raises(ResultFileError, match="no column 'posterior_mean'"):
        load_comparison(tmp_path / "broken.csv")
    models = PACKAGE.parent / "models"
    text = (models / "job_finding_12m.toml").read_text()
    tree = xr.DataTree()
    tree.attrs.update(
        {"spec_text": text, "spec_source": "job.toml", "ww_bayes_kind": "ww_bayes posterior fit"}
    )
    assert (
        spec_of(tree) == wb.load_spec(models / "job_finding_12m.toml").__class__(**{**vars(spec_of(tree))})
        and spec_of(tree).outcome == "employed_m12"
    )
    tree.to_netcdf(tmp_path / "fit.nc", engine="h5netcdf")
    with pytest.raises(ResultFileError, match="not a ww_bayes cost-effectiveness result"):
        load_cea(tmp_path / "fit.nc")
