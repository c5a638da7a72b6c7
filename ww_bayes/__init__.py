"""ww_bayes: Bayesian evidence from the UWV experiment on personal job-search services for WW claimants.

Data flows one way: schema -> simulate / io -> cells -> spec + model -> fit -> effects -> frequentist | cea.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ww-bayes")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from ww_bayes.cells import CellTable, aggregate_cells, monthly_cells  # noqa: E402
from ww_bayes.effects import summary_table  # noqa: E402
from ww_bayes.fit import ConvergenceWarning, fit, load, save  # noqa: E402
from ww_bayes.frequentist import compare, itt  # noqa: E402
from ww_bayes.io import load_cohort, write_cohort  # noqa: E402
from ww_bayes.schema import SchemaError, validate  # noqa: E402
from ww_bayes.simulate import Calibration, simulate_cohort  # noqa: E402
from ww_bayes.spec import ModelSpec, SpecError, load_spec  # noqa: E402

__all__ = [
    "CellTable",
    "Calibration",
    "ConvergenceWarning",
    "ModelSpec",
    "SchemaError",
    "SpecError",
    "__version__",
    "aggregate_cells",
    "compare",
    "fit",
    "itt",
    "load",
    "load_cohort",
    "load_spec",
    "monthly_cells",
    "save",
    "simulate_cohort",
    "summary_table",
    "validate",
    "write_cohort",
]
