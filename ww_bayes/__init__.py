"""ww_bayes: Bayesian evidence from the UWV experiment on personal job-search services for WW claimants.

Data flows one way (see docs/architecture.md):
data (schema, io, simulate, cells) -> kinds (one module per model kind, registered by the spec's ``kind``)
-> inference (sample, diagnose) -> results (save / load / summarise) -> checks (LOO-PIT, leave-one-out, prior
sensitivity) -> compare | cea -> viz / report;
workflow holds each command as one function, and cli.py only parses arguments.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ww-bayes")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from ww_bayes.cea import analyse, load_assumptions  # noqa: E402
from ww_bayes.checks import ModelChecks, kfold_results, loo_difference, model_checks  # noqa: E402
from ww_bayes.compare import compare, itt  # noqa: E402
from ww_bayes.data.cells import CellTable, aggregate_cells, monthly_cells  # noqa: E402
from ww_bayes.data.design import DesignError, design_warnings  # noqa: E402
from ww_bayes.data.io import load_cohort, write_cohort  # noqa: E402
from ww_bayes.data.schema import SchemaError, consistency_warnings, validate  # noqa: E402
from ww_bayes.data.simulate import Calibration, simulate_cohort, truth_path  # noqa: E402
from ww_bayes.inference import fit  # noqa: E402
from ww_bayes.kinds import KINDS, kind_of, load_spec, parse_spec, register  # noqa: E402
from ww_bayes.kinds.effects import EffectsSpec  # noqa: E402
from ww_bayes.kinds.trajectory import TrajectorySpec  # noqa: E402
from ww_bayes.recompute import (  # noqa: E402
    cell_rates,
    log_likelihood,
    posterior_predictive,
    with_groups,
)
from ww_bayes.results import (  # noqa: E402
    ConvergenceWarning,
    convergence,
    coverage,
    etable,
    load_cea,
    load_fit,
    save_fit,
    spec_of,
    summarise,
    truth_of,
)
from ww_bayes.tomlspec import SpecError  # noqa: E402

#: Short names for the two verbs used most.
load = load_fit
save = save_fit

__all__ = [
    "DesignError",
    "design_warnings",
    "KINDS",
    "CellTable",
    "ModelChecks",
    "Calibration",
    "ConvergenceWarning",
    "EffectsSpec",
    "SchemaError",
    "SpecError",
    "TrajectorySpec",
    "__version__",
    "aggregate_cells",
    "analyse",
    "cell_rates",
    "compare",
    "convergence",
    "etable",
    "consistency_warnings",
    "coverage",
    "fit",
    "itt",
    "kfold_results",
    "kind_of",
    "load",
    "load_assumptions",
    "load_cea",
    "load_cohort",
    "load_fit",
    "load_spec",
    "log_likelihood",
    "loo_difference",
    "model_checks",
    "monthly_cells",
    "parse_spec",
    "posterior_predictive",
    "register",
    "save",
    "save_fit",
    "simulate_cohort",
    "spec_of",
    "summarise",
    "truth_of",
    "truth_path",
    "validate",
    "with_groups",
    "write_cohort",
]
