"""Calibration studies: simulation-based calibration of a spec (:mod:`~ww_bayes.calibration.sbc`) and
coverage on the calibrated simulator (:mod:`~ww_bayes.calibration.coverage`), dispatched in parallel
through joblib, on a Dask cluster when one is given (:mod:`~ww_bayes.calibration.dispatch`);
:mod:`~ww_bayes.calibration.studies` runs each as its command does."""

from ww_bayes.calibration.coverage import coverage_study, shares
from ww_bayes.calibration.dispatch import BACKENDS, DispatchError, run_tasks
from ww_bayes.calibration.sbc import SBCSettings, StudyMismatch, pit_values, prior_truths, sbc, uniformity
from ww_bayes.calibration.studies import Dispatch, Study, run_coverage, run_sbc

__all__ = [
    "BACKENDS",
    "Dispatch",
    "DispatchError",
    "SBCSettings",
    "Study",
    "StudyMismatch",
    "coverage_study",
    "pit_values",
    "prior_truths",
    "run_coverage",
    "run_sbc",
    "run_tasks",
    "sbc",
    "shares",
    "uniformity",
]
