"""Studies that fit a spec many times: simulation-based calibration (:mod:`~ww_bayes.calibration.sbc`),
coverage on the calibrated simulator (:mod:`~ww_bayes.calibration.coverage`) and K-fold cross-validation
of the pooling over a factor's levels (:mod:`~ww_bayes.calibration.kfold`), dispatched in parallel
through joblib, on a Dask cluster when one is given (:mod:`~ww_bayes.calibration.dispatch`);
:mod:`~ww_bayes.calibration.studies` runs each as its command does."""

from ww_bayes.calibration.coverage import coverage_study, shares
from ww_bayes.calibration.dispatch import BACKENDS, DispatchError, run_tasks
from ww_bayes.calibration.kfold import VARIANTS, kfold_study
from ww_bayes.calibration.sbc import SBCSettings, StudyMismatch, pit_values, prior_truths, sbc, uniformity
from ww_bayes.calibration.studies import Dispatch, Study, run_coverage, run_kfold, run_sbc

__all__ = [
    "BACKENDS",
    "Dispatch",
    "DispatchError",
    "SBCSettings",
    "Study",
    "StudyMismatch",
    "VARIANTS",
    "coverage_study",
    "kfold_study",
    "pit_values",
    "prior_truths",
    "run_coverage",
    "run_kfold",
    "run_sbc",
    "run_tasks",
    "sbc",
    "shares",
    "uniformity",
]
