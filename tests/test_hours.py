"""The hours kind: the hurdle's cell likelihood equals the person-level one (both families), its draws of
the sufficient statistics have the right distribution, its spec names bad keys, and a short fit passes the
whole path (save, load, summary, truth, report, release, OLS comparison, the hours offered to the
cost-effectiveness)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytensor
import pytest
from pytensor.compile.mode import Mode

from ww_bayes.data.schema import HOURS_Y1
from ww_bayes.kinds import kind_of, load_spec
from ww_bayes.kinds.observations import (
    CELL_ANY,
    CELL_DISPERSION,
    CELL_LOCATION,
    POSITIVE_FAMILIES,
)

pytestmark = pytest.mark.filterwarnings("ignore::ww_bayes.results.ConvergenceWarning")
SPEC = "hours_worked_y1"
#: PyTensor's Python linker: nothing to compile for a one-off evaluation.
PYTHON = Mode(linker="py", optimizer="fast_run")


def person_level_logp(hours: np.ndarray, p_any, location, dispersion, family) -> np.ndarray:
    """Each person's log-density on the hours scale: log(1 - p) for no hours, log p + the family's
    log-density of the hours otherwise (scipy, one person at a time)."""
    positive = hours > 0
    out = np.where(positive, np.log(p_any), np.log1p(-p_any))
    x = np.where(positive, hours, 1.0)
    return out + np.where(positive, family.person_logpdf(x, location, dispersion), 0.0)


@pytest.mark.parametrize("family", list(POSITIVE_FAMILIES))
def test_the_cell_likelihood_equals_the_person_level_likelihood(small_cohort, family):
    """At a random point of the model, the log-likelihood of every cell (the observation's CustomDist on the
    sufficient statistics, Jacobian included) equals the sum of its persons' log-densities (scipy)."""
    spec = load_spec(SPEC).with_family(family)
    kind = kind_of(spec)
    data = kind.prepare(spec, small_cohort.data)
    model = kind.build(spec, data)
    rng = np.random.default_rng(5)
    point = {
        name: value + rng.normal(0, 0.3, np.shape(value)) for name, value in model.initial_point().items()
    }
    outputs = [model.logp(vars=[model["y"]], sum=False)[0]]
    outputs += model.replace_rvs_by_values([model[CELL_ANY], model[CELL_LOCATION], model[CELL_DISPERSION]])
    function = pytensor.function(model.value_vars, outputs, on_unused_input="ignore", mode=PYTHON)
    cell_logp, p_any, location, dispersion = function(*(point[v.name] for v in model.value_vars))
    keys = ["arm", *spec.groups]
    df = small_cohort.data
    cell_of = pd.MultiIndex.from_frame(data.cells[keys].astype(str))
    person_cells = cell_of.get_indexer(pd.MultiIndex.from_frame(df[keys].astype(str)))
    assert (person_cells >= 0).all()
    persons = person_level_logp(df[HOURS_Y1].to_numpy(float), p_any[person_cells], location[person_cells],
                                dispersion[person_cells], POSITIVE_FAMILIES[family])  # fmt: skip
    expected = np.bincount(person_cells, persons, minlength=data.n_cells)
    np.testing.assert_allclose(cell_logp, expected, rtol=1e-9, atol=1e-6)
