"""Model specs: the shipped TOML files load; unknown keys and bad values are named in the error."""

from __future__ import annotations

from pathlib import Path

import pytest

from ww_bayes.kinds import load_spec, parse_spec
from ww_bayes.tomlspec import SpecError

MODELS = Path(__file__).resolve().parents[1] / "models"
JOB = (MODELS / "job_finding_12m.toml").read_text()


def test_shipped_specs_load():
    job = load_spec(MODELS / "job_finding_12m.toml")
    ww = load_spec(MODELS / "ww_claim_12m.toml")
    assert (job.outcome, ww.outcome) == ("employed_m12", "ww_m12")
    assert job.groups == ("werkverkenner", "region")
    assert job.pooling["service"] == {"werkverkenner": "partial", "region": "partial"}
    assert job.interval_label == "eti90"
    assert job.text == JOB


def test_priors_are_described_with_pp():
    text = load_spec(MODELS / "job_finding_12m.toml").describe_priors()
    assert "service: mean ~ Normal(0, 0.5)" in text and " pp" in text
    assert "partial pooling" in text


def test_alias_outcome_and_pooling_per_factor():
    text = JOB.replace('outcome = "employed_m12"', 'outcome = "job_12m"').replace(
        'service = "partial"', 'service = { werkverkenner = "none", region = "full" }'
    )
    spec = parse_spec(text)
    assert spec.outcome == "employed_m12"
    assert spec.pooling["service"] == {"werkverkenner": "none", "region": "full"}
    assert spec.with_pooling("full").pooling["baseline"] == {"werkverkenner": "full", "region": "full"}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("chains = 4", "chainz = 4", "unknown key 'sampler.chainz'"),
        ("chains = 4", "chains = -1", "'sampler.chains' must be >= 1"),
        ("chains = 4", 'chains = "four"', "'sampler.chains' must be an integer"),
        ('service = "partial"', 'service = "some"', "'pooling.service.werkverkenner' must be one of"),
        ("group_sd = 0.2", "group_sd = 0", "'priors.service.group_sd' must be > 0"),
        ('outcome = "employed_m12"', 'outcome = "employed_m31"', "'outcome' must be a monthly status column"),
        ('groups = ["werkverkenner", "region"]', 'groups = ["arm"]', "'groups': 'arm' cannot be a grouping"),
        ('groups = ["werkverkenner", "region"]', 'groups = ["region", "region"]', "'groups' must be a list"),
        ("max_rhat = 1.01", "max_rhat = 0.9", "'convergence.max_rhat' must be >= 1"),
        ('interval_kind = "eti"', 'interval_kind = "hpd"', "'summary.interval_kind' must be one of"),
        ("smallest_effect_pp = 0.5", "smallest_effect = 0.5", "unknown key 'smallest_effect'"),
        ('anchor = "service"', 'anchor = "control"', "'anchor' must be one of service, control_none"),
        ("min_bfmi = 0.3", "min_bfmi = -1", "'convergence.min_bfmi' must be >= 0"),
        (
            "chains = 4",
            'chains = 4\nadaptation = "full"',
            "'sampler.adaptation' must be one of diag, low_rank",
        ),
    ],
)
def test_bad_specs_name_the_key(old, new, message):
    assert old in JOB
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_spec(JOB.replace(old, new, 1), source="models/x.toml")


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(SpecError, match="not valid TOML"):
        parse_spec("name = ")
    with pytest.raises(SpecError, match="no such model specification"):
        load_spec(tmp_path / "absent.toml")


def test_a_trajectory_prior_on_month_one_names_the_key_it_needs():
    """The trajectory's curves are anchored on their mean over the months: a spec giving the prior of the
    month-1 value (``start``) is refused with the key to give instead, and ``mean`` loads."""
    text = (MODELS / "trajectory_30m.toml").read_text()
    assert "mean = { mu = 0.0, sigma = 0.5 }" in text
    spec = parse_spec(text)
    assert (spec.priors["service"].mean_mu, spec.priors["service"].mean_sigma) == (0.0, 0.5)
    old = text.replace("mean = { mu = 0.0, sigma = 0.5 }", "start = { mu = 0.0, sigma = 0.5 }")
    with pytest.raises(SpecError, match=r"'priors.service.start': .*give 'priors.service.mean'"):
        parse_spec(old, source="models/x.toml")
