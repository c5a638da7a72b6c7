"""What a model kind observes per cell, and everything that depends on it.

A model kind fits exact sufficient statistics of person rows aggregated into cells (arm x grouping factors
[x month ...]). What those statistics are is the kind's *observation*, as a Bambi family owns its
response: counts of successes out of persons (:class:`BinaryCounts`), counts over categories
(:class:`CategoryCounts`) or sufficient statistics of a continuous outcome (:class:`NormalStatistics`).
The observation supplies everything that depends on it, so nothing outside :mod:`ww_bayes.kinds` knows
what a cell holds:

- the cell table's columns that hold it (:attr:`Observation.columns`; the other columns label the cell);
- the fit's ``observed_data`` and ``constant_data`` variables (:meth:`Observation.observed`,
  :meth:`Observation.constant`) and the likelihood the model is built with (:meth:`Observation.likelihood`);
- predictive draws from each draw's per-cell parameters (:meth:`Observation.predictive`);
- the count table a release checks (:meth:`Observation.count_table`): per cell, the persons with the
  outcome observed and, per category, how many of them are in it (both must be 0 or at least the
  minimum count, and so must persons minus count);
- the cells with simulated values for a calibration study (:meth:`Observation.with_values`) and the
  persons per cell that every kind weighs its sparseness with (:meth:`Observation.persons`);
- per group of cells, an estimate of the linear predictor and its sampling variance
  (:meth:`Observation.link_estimates`), which the parametrization of partially pooled deviations is chosen
  from (:func:`ww_bayes.kinds.pooling.choose_parametrization`);
- what the model checks (:mod:`ww_bayes.checks`) need of it: the values one person can have in a cell, how
  many persons have each and their log-density per draw (:meth:`Observation.value_counts`,
  :meth:`Observation.value_log_density`: leave-one-person-out from cells), and the probabilities below and at
  a cell's observed value per draw (:meth:`Observation.cdf_at_observed`: its randomised PIT).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from scipy.special import digamma, expit, gammaln, polygamma
from scipy.stats import binom, norm
from scipy.stats import gamma as gamma_dist
from scipy.stats import lognorm as lognorm_dist

from ww_bayes.kinds.pooling import category_codes

#: The columns of a count table (:meth:`Observation.count_table`) besides the cell's labels.
COUNT_COLUMNS = ("category", "persons", "count")


def label_columns(cells: pd.DataFrame, observation: Observation) -> list[str]:
    """The columns of a cell table that label the cells (arm, factors, month ...), in order."""
    return [c for c in cells.columns if c not in observation.columns]


class Observation(ABC):
    """What a kind observes per cell (see the module docstring). Subclasses set the class attributes and
    implement the abstract methods; an instance may carry settings (e.g. the categories)."""

    #: the kind of observation, stored in the fit (attr ``observation``)
    name: str = ""
    #: the observed variables of the model, each over dim ``cell`` (and maybe more)
    observed_names: tuple[str, ...] = ("y",)
    #: deterministics of the post-processing model holding each cell's distribution parameters
    #: (:meth:`predictive` reads them; a fit file never stores them)
    cell_parameters: tuple[str, ...] = ()

    @property
    @abstractmethod
    def columns(self) -> tuple[str, ...]:
        """The cell-table columns holding the observation (the other columns label the cell)."""

    @property
    def simulated_columns(self) -> tuple[str, ...]:
        """The columns a calibration study replaces with simulated values (the rest of the design stays)."""
        return self.columns

    @abstractmethod
    def persons(self, cells: pd.DataFrame) -> np.ndarray:
        """Persons with the outcome observed per cell."""

    @abstractmethod
    def observed(self, cells: pd.DataFrame) -> xr.Dataset:
        """The ``observed_data`` variables over dim ``cell`` (the caller adds the cells' labels)."""

    @abstractmethod
    def constant(self, cells: pd.DataFrame) -> xr.Dataset:
        """The ``constant_data`` variables over dim ``cell`` that the likelihood conditions on."""

    @abstractmethod
    def likelihood(
        self, cells: pd.DataFrame, parameters: Mapping[str, pt.TensorVariable], for_sampling: bool
    ):
        """The observed variable(s) of the PyMC model being built, from each cell's linear predictor(s)
        ``parameters``; ``for_sampling``: the cheaper form the sampler sees (same log-density); otherwise a
        form that draws predictions and pointwise log-likelihood, with the :attr:`cell_parameters`."""

    @abstractmethod
    def predictive(self, parameters: xr.Dataset, constant: xr.Dataset, seed: int) -> xr.Dataset:
        """Predictive draws of the observed variables, one per draw of the :attr:`cell_parameters`
        (all draws at once, numpy), with their per-cell rates where they have one."""

    def describe_predictive(self, drawn: xr.Dataset, constant: xr.Dataset) -> xr.Dataset:
        """Predictive draws made by PyMC (the prior predictive) with the same derived variables as
        :meth:`predictive` adds."""
        return drawn

    @abstractmethod
    def count_table(self, observed: xr.Dataset, constant: xr.Dataset) -> pd.DataFrame:
        """One row per cell and category: the cell's labels (the coords of ``observed``), ``category``,
        ``persons`` (with the outcome observed) and ``count`` (of them in the category); a release checks
        ``persons``, ``count`` and ``persons - count`` of every group it releases."""

    def magnitude_table(self, observed: xr.Dataset, constant: xr.Dataset) -> pd.DataFrame | None:
        """For an observation of amounts (hours), one row per cell: the cell's labels, ``persons`` (with the
        amount observed), ``total`` (the sum of their amounts) and its ``largest`` and ``second_largest``
        amount, which a release's dominance rule reads; None for an observation of counts."""
        return None

    @abstractmethod
    def with_values(self, cells: pd.DataFrame, values: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """The cells with the observed variables replaced by ``values`` (one array per observed name,
        shaped like the variable: a calibration study's simulated data)."""

    def same_cells(self, fit_observed: xr.Dataset, fit_constant: xr.Dataset, cells: pd.DataFrame) -> bool:
        """Whether ``cells`` (made again from a cohort) are the fit's own."""
        observed, constant = self.observed(cells), self.constant(cells)
        return all(
            name in fit_observed and np.array_equal(fit_observed[name].values, observed[name].values)
            for name in observed.data_vars
        ) and all(
            name in fit_constant and np.array_equal(fit_constant[name].values, constant[name].values)
            for name in constant.data_vars
        )

    def describe(self) -> str:
        """The observation in words (for a model card)."""
        return self.name

    def link_estimates(self, cells: pd.DataFrame, by: list[str]) -> pd.DataFrame | None:
        """Per group of cells (the columns ``by``), the estimate of the linear predictor from the group's
        pooled observation (``estimate``) and its sampling variance (``variance``, the inverse Fisher
        information; infinite without data): the ``by`` columns and those two. None for an observation
        without a single linear predictor per cell (then "auto" parametrizations are non-centred)."""
        return None

    # --- what the model checks need (optional: an observation without them is not checked) ---------------

    #: the values one person can have in a cell, in the order of dim ``value`` of :meth:`value_counts` and
    #: :meth:`value_log_density`; empty when a cell's statistics do not say which value each person has
    person_values: tuple[str, ...] = ()

    def value_counts(self, observed: xr.Dataset, constant: xr.Dataset) -> xr.DataArray:
        """Persons per cell with each of :attr:`person_values` (dims cell, value)."""
        raise NotImplementedError(f"{self.name}: a cell does not say which value each person has")

    def value_log_density(self, parameters: xr.Dataset) -> xr.DataArray:
        """Log-density of one person's value given each draw's cell parameters (:attr:`cell_parameters`):
        dims (..., cell, value), float64. A cell's log-likelihood is the sum over its persons of these terms
        (plus a constant for exchangeable counts), so leave-one-person-out needs only these and
        :meth:`value_counts`."""
        raise NotImplementedError(f"{self.name}: a cell does not say which value each person has")

    def cdf_at_observed(
        self, parameters: xr.Dataset, observed: xr.Dataset, constant: xr.Dataset
    ) -> tuple[xr.DataArray, xr.DataArray]:
        """Per draw and cell: the predictive probability below the observed value and at it (dims
        (..., cell)); the randomised PIT of a draw is ``below + U * at``, ``U`` uniform (a continuous
        observation has ``at`` 0). An observation with several PITs per cell (the parts of a hurdle) adds
        a last dim ``part``, which the checks test as a label of their own."""
        raise NotImplementedError(f"{self.name}: no probability integral transform of its cells")


def _add_coord(name: str, values) -> None:
    """The observation's own dim (category, statistic) among the coords of the model being built."""
    model = pm.modelcontext(None)
    if name not in model.coords:
        model.add_coord(name, list(values))


def _cells_dataset(values: Mapping[str, tuple]) -> xr.Dataset:
    return xr.Dataset({name: (dims, np.asarray(array)) for name, (dims, array) in values.items()})


# --- counts of successes out of persons ---------------------------------------------------------------------


def logit_binomial_logp(value, trials, eta, log_binomial_coef):
    """Binomial log-probability of ``value`` successes out of ``trials`` with logit ``eta``."""
    return log_binomial_coef + value * eta - trials * pt.softplus(eta)


def log_binomial_coefficient(trials: np.ndarray, successes: np.ndarray) -> np.ndarray:
    return gammaln(trials + 1) - gammaln(successes + 1) - gammaln(trials - successes + 1)


#: The deterministic of a non-sampling model that holds each cell's success probability: the posterior
#: predictive draws use it (vectorised over draws, not one draw at a time) and it is not stored.
CELL_RATE = "cell_rate"


def logit_estimates(cells: pd.DataFrame, by: list[str], successes: str, trials: str) -> pd.DataFrame:
    """Per group of cells (the columns ``by``): the logit of the pooled rate of ``successes`` out of
    ``trials`` (``estimate``, with half a success added each way, so finite at 0 and n) and its sampling
    variance ``1 / (n p (1 - p))`` (``variance``, infinite without trials)."""
    pooled = cells.groupby(by, observed=True, sort=False)[[successes, trials]].sum().reset_index()
    n = pooled[trials].to_numpy(dtype="float64")
    rate = (pooled[successes].to_numpy(dtype="float64") + 0.5) / (n + 1.0)
    with np.errstate(divide="ignore"):
        variance = 1.0 / (n * rate * (1.0 - rate))
    return pooled[by].assign(estimate=np.log(rate / (1.0 - rate)), variance=variance)


class BinaryCounts(Observation):
    """Successes out of persons per cell: a binary outcome (work in a month, WW receipt ...).

    The likelihood is Binomial on exact cells, written for the sampler in its logit form
    ``log C(n, k) + k * eta - n * softplus(eta)`` with the binomial coefficient computed once from the
    data: the same numbers as ``pm.Binomial`` (tested to 1e-9) at a third of the gradient cost. The model
    for post-processing has ``pm.Binomial`` itself. ``person_rows=True`` fits the person rows with a
    Bernoulli likelihood instead (each row a cell of one person): it exists to prove the two equivalent.
    Parameter: ``eta``, each cell's logit success probability.
    """

    name = "binary counts"
    cell_parameters = (CELL_RATE,)
    #: the one category a count table counts (its complement: persons - count)
    category = "1"

    def __init__(self, person_rows: bool = False):
        self.person_rows = person_rows

    @property
    def columns(self) -> tuple[str, ...]:
        return ("successes", "trials")

    @property
    def simulated_columns(self) -> tuple[str, ...]:
        return ("successes",)

    def persons(self, cells):
        return cells["trials"].to_numpy()

    def observed(self, cells):
        return _cells_dataset({"y": ("cell", cells["successes"].to_numpy())})

    def constant(self, cells):
        return _cells_dataset({"trials": ("cell", cells["trials"].to_numpy())})

    def likelihood(self, cells, parameters, for_sampling):
        eta = parameters["eta"]
        k = cells["successes"].to_numpy()
        successes = pm.Data("successes", k, dims="cell")
        if not for_sampling:
            pm.Deterministic(CELL_RATE, pm.math.sigmoid(eta), dims="cell")
        if self.person_rows:
            return pm.Bernoulli("y", logit_p=eta, observed=successes, dims="cell")
        n = cells["trials"].to_numpy()
        trials = pm.Data("trials", n, dims="cell")
        if for_sampling:
            log_coef = pm.Data("log_binomial_coef", log_binomial_coefficient(n, k), dims="cell")
            return pm.CustomDist(
                "y", trials, eta, log_coef, logp=logit_binomial_logp, observed=successes, dims="cell"
            )
        return pm.Binomial("y", n=trials, logit_p=eta, observed=successes, dims="cell")

    def predictive(self, parameters, constant, seed):
        rng = np.random.default_rng(seed)
        rate = parameters[CELL_RATE].transpose(..., "cell")  # trials broadcast along the last axis
        drawn = rng.binomial(constant["trials"].values, rate.values.astype("float64"))
        predictive = xr.Dataset({"y": (rate.dims, drawn)}, coords={d: rate[d] for d in rate.dims})
        return self.describe_predictive(predictive, constant)

    def describe_predictive(self, drawn, constant):
        drawn = drawn.copy()
        drawn["y_rate"] = drawn["y"] / constant["trials"].variable
        drawn["y_rate"].attrs["description"] = "predicted cell rate: successes / persons"
        return drawn

    def count_table(self, observed, constant):
        labels = {name: observed[name].values for name in observed.coords if name != "cell"}
        return pd.DataFrame(labels).assign(
            category=self.category, persons=constant["trials"].values, count=observed["y"].values
        )

    def with_values(self, cells, values):
        return cells.assign(successes=np.asarray(values["y"]))

    def link_estimates(self, cells, by):
        return logit_estimates(cells, by, "successes", "trials")

    #: a person has the outcome ("1") or not ("0")
    person_values = ("1", "0")

    def value_counts(self, observed, constant):
        successes = observed["y"].astype("int64")
        counts = xr.concat([successes, constant["trials"].astype("int64") - successes], dim="value")
        return counts.assign_coords(value=list(self.person_values)).transpose("cell", "value")

    def value_log_density(self, parameters):
        rate = parameters[CELL_RATE].astype("float64")
        terms = xr.concat([np.log(rate), np.log1p(-rate)], dim="value")
        return terms.assign_coords(value=list(self.person_values)).transpose(..., "cell", "value")

    def cdf_at_observed(self, parameters, observed, constant):
        rate = parameters[CELL_RATE].astype("float64").transpose(..., "cell")
        successes, trials = observed["y"].values, constant["trials"].values
        below = binom.cdf(successes - 1, trials, rate.values)
        at = binom.pmf(successes, trials, rate.values)
        return rate.copy(data=below), rate.copy(data=at)

    def describe(self):
        form = "Bernoulli on person rows" if self.person_rows else "Binomial on exact cells"
        return f"successes out of persons per cell ({form}, logit link)"


# --- counts over categories -----------------------------------------------------------------------------


#: Each cell's category probabilities in a post-processing model (dims cell, category).
CELL_PROBS = "cell_probs"


def logit_multinomial_logp(value, eta, log_multinomial_coef):
    """Multinomial log-probability of the counts ``value`` (..., category) with category logits ``eta``:
    ``log C(n; counts) + sum(counts * log_softmax(eta))``. A category given a logit far below the rest has
    probability 0 and, with a count of 0, adds 0 (its log-probability stays finite)."""
    return log_multinomial_coef + pt.sum(value * pt.special.log_softmax(eta, axis=-1), axis=-1)


def log_multinomial_coefficient(counts: np.ndarray) -> np.ndarray:
    """log(n! / prod(count!)) per row of ``counts`` (..., category)."""
    return gammaln(counts.sum(axis=-1) + 1) - gammaln(counts + 1).sum(axis=-1)


class CategoryCounts(Observation):
    """Persons per category in each cell (where claimants are: WW, ZW, WIA, bijstand, work ...): a
    Multinomial on exact cells with a multinomial-logit link. Cell tables hold one count column per
    category (named by the category). Parameter ``eta``: each cell's category logits (cell, category).
    The post-processing model uses ``pm.Multinomial``; the sampler its logit form
    ``log C(n; counts) + sum(counts * log_softmax(eta))`` with the multinomial coefficient computed once
    from the data (the same numbers, tested; no log-gamma per evaluation)."""

    name = "category counts"
    cell_parameters = (CELL_PROBS,)

    def __init__(self, categories: tuple[str, ...] | list[str]):
        if len(categories) < 2 or len(set(categories)) != len(categories):
            raise ValueError(f"categories must be at least two distinct labels, got {categories!r}")
        self.categories = tuple(str(c) for c in categories)

    @property
    def columns(self):
        return self.categories

    def persons(self, cells):
        return cells[list(self.categories)].to_numpy().sum(axis=1)

    def _counts(self, cells) -> np.ndarray:
        return cells[list(self.categories)].to_numpy().astype("int64")

    def observed(self, cells):
        ds = _cells_dataset({"y": (("cell", "category"), self._counts(cells))})
        return ds.assign_coords(category=list(self.categories))

    def constant(self, cells):
        return _cells_dataset({"persons": ("cell", self.persons(cells))})

    def likelihood(self, cells, parameters, for_sampling):
        eta = parameters["eta"]
        _add_coord("category", self.categories)
        counts = self._counts(cells)
        observed = pm.Data("category_counts", counts, dims=("cell", "category"))
        if for_sampling:
            log_coef = pm.Data("log_multinomial_coef", log_multinomial_coefficient(counts), dims="cell")
            return pm.CustomDist("y", eta, log_coef, logp=logit_multinomial_logp, observed=observed,
                                 dims=("cell", "category"), signature="(k),()->(k)")  # fmt: skip
        persons = pm.Data("persons", counts.sum(axis=1), dims="cell")
        probs = pm.math.softmax(eta, axis=-1)
        if not for_sampling:
            probs = pm.Deterministic(CELL_PROBS, probs, dims=("cell", "category"))
        return pm.Multinomial("y", n=persons, p=probs, observed=observed, dims=("cell", "category"))

    def predictive(self, parameters, constant, seed):
        rng = np.random.default_rng(seed)
        probs = parameters[CELL_PROBS].transpose(..., "cell", "category")
        p = probs.values.astype("float64")
        p = p / p.sum(axis=-1, keepdims=True)
        drawn = rng.multinomial(constant["persons"].values, p)  # persons broadcast along the cells
        predictive = xr.Dataset({"y": (probs.dims, drawn)}, coords={d: probs[d] for d in probs.dims})
        return self.describe_predictive(predictive, constant)

    def describe_predictive(self, drawn, constant):
        drawn = drawn.copy()
        drawn["y_share"] = drawn["y"] / constant["persons"].variable
        drawn["y_share"].attrs["description"] = "predicted share of the cell's persons in each category"
        return drawn

    def count_table(self, observed, constant):
        labels = pd.DataFrame({name: observed[name].values for name in observed.coords
                               if name not in ("cell", "category")})  # fmt: skip
        counts = observed["y"].transpose("cell", "category").values
        frames = [
            labels.assign(category=category, persons=constant["persons"].values, count=counts[:, j])
            for j, category in enumerate(observed["category"].values)
        ]
        return pd.concat(frames, ignore_index=True)

    def with_values(self, cells, values):
        counts = np.asarray(values["y"])
        return cells.assign(**{c: counts[:, j] for j, c in enumerate(self.categories)})

    @property
    def person_values(self):
        return self.categories

    def value_counts(self, observed, constant):
        return observed["y"].astype("int64").rename(category="value").transpose("cell", "value")

    def value_log_density(self, parameters):
        probs = parameters[CELL_PROBS].astype("float64")
        return np.log(probs / probs.sum("category")).rename(category="value").transpose(..., "cell", "value")

    def describe(self):
        return (
            f"persons per category ({', '.join(self.categories)}) per cell (Multinomial, multinomial logit)"
        )


#: The constant-data variable naming each category's outcome (dim ``category``) in a fit of
#: :class:`OutcomeCategoryCounts`.
CATEGORY_OUTCOME = "category_outcome"


class OutcomeCategoryCounts(CategoryCounts):
    """Persons per category for several categorical outcomes on one set of cells, each outcome with its own
    categories (where claimants are at a month; where their first exit from WW went). Cells carry an
    ``outcome`` label column and one count column per category of every outcome (the union, labels
    distinct across outcomes); a cell's counts are in its own outcome's columns, the others are 0.

    The kind's logits give the categories of the other outcomes a probability of exactly 0 (a logit far
    below the rest), so each cell is a Multinomial over its own outcome's categories, and a category the
    kind knows to be empty in a month can be given 0 the same way; the likelihood, predictive draws and
    simulated values are :class:`CategoryCounts`'. The count table holds each cell's own categories only:
    which outcome a category belongs to is the fit's constant-data variable :data:`CATEGORY_OUTCOME`
    (dim ``category``), which the kind stores with its data (:attr:`ModelData.constants`)."""

    name = "category counts by outcome"

    def __init__(self, categories: Mapping[str, tuple[str, ...] | list[str]]):
        union = [str(c) for labels in categories.values() for c in labels]
        super().__init__(union)
        self.outcome_categories = {str(o): tuple(str(c) for c in labels) for o, labels in categories.items()}

    @classmethod
    def of_outcomes(cls, outcome_of: xr.DataArray) -> OutcomeCategoryCounts:
        """The observation of a fit, from its :data:`CATEGORY_OUTCOME` variable (category -> outcome)."""
        categories: dict[str, list[str]] = {}
        for category, outcome in zip(outcome_of["category"].values, outcome_of.values, strict=True):
            categories.setdefault(str(outcome), []).append(str(category))
        return cls(categories)

    def outcome_variable(self) -> xr.DataArray:
        """Each category's outcome, over dim ``category``: the kind stores it as :data:`CATEGORY_OUTCOME`."""
        outcome = [o for o, labels in self.outcome_categories.items() for _ in labels]
        return xr.DataArray(np.array(outcome, dtype=object), dims="category",
                            coords={"category": list(self.categories)}, name=CATEGORY_OUTCOME)  # fmt: skip

    def count_table(self, observed, constant):
        table = super().count_table(observed, constant)
        own = pd.Series(
            [c in self.outcome_categories.get(str(o), ()) for o, c in zip(table["outcome"], table["category"],
                                                                          strict=True)],
            index=table.index,
        )  # fmt: skip
        return table[own].reset_index(drop=True)

    def grid_likelihood(self, outcome: str, cells, axes: Mapping[str, list], eta, dims: tuple[str, ...]):
        """The sampler's form for one outcome, on the kind's grid: ``eta`` (the logits of the outcome's own
        categories on every row of the grid ``axes`` = {cell column: its levels}, dims ``dims``) against the
        counts of the outcome's cells laid out on that grid, 0 in a row no cell has (a Multinomial of 0
        persons adds 0). The same log-probability as :meth:`likelihood` on the cells with their logits picked
        from the grid (tested), without the pick and its gradient's scatter, or the other outcomes'
        categories in every cell: on the 12-month destinations model (1,050 cells, 831 free values) the
        log-density and gradient take 126 µs against 191 µs."""
        own = list(self.outcome_categories[outcome])
        rows = cells[cells["outcome"] == outcome]
        counts = np.zeros([len(levels) for levels in axes.values()] + [len(own)], dtype="int64")
        at = tuple(category_codes(rows[column], levels) for column, levels in axes.items())
        np.add.at(counts, at, rows[own].to_numpy().astype("int64"))
        observed = pm.Data(f"{outcome}_counts", counts, dims=dims)
        log_coef = pm.Data(f"{outcome}_log_multinomial_coef", log_multinomial_coefficient(counts),
                           dims=dims[:-1])  # fmt: skip
        return pm.CustomDist(f"y_{outcome}", eta, log_coef, logp=logit_multinomial_logp, observed=observed,
                             dims=dims, signature="(k),()->(k)")  # fmt: skip

    def value_log_density(self, parameters):
        # a category of the other outcome has probability 0 in a cell and no persons: a finite log-density
        # there (the smallest float's), so a sum over a cell's persons is not 0 x -inf
        probs = parameters[CELL_PROBS].astype("float64")
        probs = (probs / probs.sum("category")).clip(min=np.finfo("float64").tiny)
        return np.log(probs).rename(category="value").transpose(..., "cell", "value")

    def describe(self):
        parts = "; ".join(f"{o}: {', '.join(labels)}" for o, labels in self.outcome_categories.items())
        return f"persons per category of each outcome ({parts}) per cell (Multinomial, multinomial logit)"


# --- sufficient statistics of a continuous outcome ---------------------------------------------------------


#: Each cell's mean and sd in a post-processing model of :class:`NormalStatistics`.
CELL_MU, CELL_SIGMA = "cell_mu", "cell_sigma"
#: The statistics of :class:`NormalStatistics`' observed variable, in order.
NORMAL_STATISTICS = ("sum", "sum_squares")


def normal_statistics_logp(value, n, mu, sigma):
    """Normal log-density of ``n`` values summarised by their sum and sum of squares (``value`` (..., 2)):
    exactly the sum of the person-level log-densities."""
    total, squares = value[..., 0], value[..., 1]
    return (
        -0.5 * n * np.log(2 * np.pi)
        - n * pt.log(sigma)
        - (squares - 2 * mu * total + n * mu**2) / (2 * sigma**2)
    )


def normal_statistics_dist(n, mu, sigma, size):
    """The sum and sum of squares of ``n`` normal values as PyMC draws them (prior predictive): the same
    construction as :func:`draw_normal_statistics`."""
    safe = pt.maximum(n, 1)
    mean = pm.Normal.dist(mu, sigma / pt.sqrt(safe), size=size)
    spread = sigma**2 * pm.ChiSquared.dist(pt.maximum(safe - 1, 1), size=size) * (safe > 1)
    return pt.stack([n * mean, spread + n * mean**2], axis=-1)


def draw_normal_statistics(n, mu, sigma, rng, size=None) -> np.ndarray:
    """Sum and sum of squares of ``n`` normal draws, drawn exactly: the mean ~ Normal(mu, sigma / sqrt(n)),
    independent of (n - 1) s^2 / sigma^2 ~ chi-square(n - 1)."""
    n, mu, sigma = np.broadcast_arrays(*(np.asarray(a, dtype="float64") for a in (n, mu, sigma)))
    if size is not None:
        n, mu, sigma = (np.broadcast_to(a, size) for a in (n, mu, sigma))
    safe = np.maximum(n, 1)
    mean = rng.normal(mu, sigma / np.sqrt(safe))
    spread = sigma**2 * rng.chisquare(np.maximum(safe - 1, 1)) * (safe > 1)
    return np.stack([n * mean, spread + n * mean**2], axis=-1)


def normal_sum_cdf(total, k, mu, sigma) -> np.ndarray:
    """P(the sum of ``k`` normal values with mean ``mu`` and sd ``sigma`` < ``total``) (numpy, arrays
    broadcast; NaN where k is 0): the sum is normal with mean k mu and sd sqrt(k) sigma."""
    k = np.asarray(k, dtype="float64")
    some = np.where(k > 0, k, 1.0)
    return np.where(k > 0, norm.cdf(total, some * mu, np.sqrt(some) * sigma), np.nan)


class NormalStatistics(Observation):
    """A continuous outcome summarised per cell by the persons with it observed (``n``), its sum and its
    sum of squares: the exact sufficient statistics of a normal model, whose likelihood on them equals the
    person-level one (no constant dropped). Cell tables hold ``n``, ``sum`` and ``sum_squares``.
    Parameters: ``mu`` and ``sigma`` per cell."""

    name = "normal statistics"
    cell_parameters = (CELL_MU, CELL_SIGMA)

    @property
    def columns(self):
        return ("n", *NORMAL_STATISTICS)

    @property
    def simulated_columns(self):
        return NORMAL_STATISTICS

    def persons(self, cells):
        return cells["n"].to_numpy()

    def observed(self, cells):
        values = cells[list(NORMAL_STATISTICS)].to_numpy(dtype="float64")
        return _cells_dataset({"y": (("cell", "statistic"), values)}).assign_coords(
            statistic=list(NORMAL_STATISTICS)
        )

    def constant(self, cells):
        return _cells_dataset({"n": ("cell", cells["n"].to_numpy())})

    def likelihood(self, cells, parameters, for_sampling):
        mu, sigma = parameters["mu"], parameters["sigma"]
        _add_coord("statistic", NORMAL_STATISTICS)
        values = pm.Data("statistics", cells[list(NORMAL_STATISTICS)].to_numpy(dtype="float64"),
                         dims=("cell", "statistic"))  # fmt: skip
        n = pm.Data("n", cells["n"].to_numpy().astype("float64"), dims="cell")
        mu, sigma = mu + pt.zeros_like(n), sigma + pt.zeros_like(n)  # one of each per cell
        if not for_sampling:
            pm.Deterministic(CELL_MU, mu, dims="cell")
            pm.Deterministic(CELL_SIGMA, sigma, dims="cell")
        return pm.CustomDist(
            "y", n, mu, sigma, dist=normal_statistics_dist, logp=normal_statistics_logp, observed=values,
            dims=("cell", "statistic"), ndim_supp=1, ndims_params=[0, 0, 0],
        )  # fmt: skip

    def predictive(self, parameters, constant, seed):
        rng = np.random.default_rng(seed)
        mu = parameters[CELL_MU].transpose(..., "cell")
        sigma = parameters[CELL_SIGMA].transpose(..., "cell")
        drawn = draw_normal_statistics(constant["n"].values, mu.values, sigma.values, rng)
        predictive = xr.Dataset(
            {"y": ((*mu.dims, "statistic"), drawn)},
            coords={**{d: mu[d] for d in mu.dims}, "statistic": list(NORMAL_STATISTICS)},
        )
        return self.describe_predictive(predictive, constant)

    def describe_predictive(self, drawn, constant):
        drawn = drawn.copy()
        drawn["y_mean"] = drawn["y"].sel(statistic="sum", drop=True) / constant["n"].variable
        drawn["y_mean"].attrs["description"] = "predicted cell mean: sum / persons"
        return drawn

    def count_table(self, observed, constant):
        labels = {
            name: observed[name].values for name in observed.coords if name not in ("cell", "statistic")
        }
        n = constant["n"].values
        return pd.DataFrame(labels).assign(category="", persons=n, count=n)

    def with_values(self, cells, values):
        statistics = np.asarray(values["y"])
        return cells.assign(**{s: statistics[:, j] for j, s in enumerate(NORMAL_STATISTICS)})

    def link_estimates(self, cells, by):
        pooled = cells.groupby(by, observed=True, sort=False)[["n", *NORMAL_STATISTICS]].sum().reset_index()
        n = pooled["n"].to_numpy(dtype="float64")
        total, squares = (pooled[s].to_numpy(dtype="float64") for s in NORMAL_STATISTICS)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = total / n
            spread = np.maximum(squares - n * mean**2, 0.0) / np.maximum(n - 1.0, 1.0)
            variance = np.where(n > 1, spread / n, np.inf)
        return pooled[by].assign(estimate=np.nan_to_num(mean), variance=variance)

    def cdf_at_observed(self, parameters, observed, constant):
        """The PIT of each cell's mean (normal with sd sigma / sqrt(n)); NaN for a cell without persons."""
        mu = parameters[CELL_MU].astype("float64").transpose(..., "cell")
        sigma = parameters[CELL_SIGMA].astype("float64").transpose(..., "cell")
        n = constant["n"].values.astype("float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = observed["y"].sel(statistic="sum").values / n
            below = norm.cdf((mean - mu.values) * np.sqrt(n) / sigma.values)
        return mu.copy(data=np.where(n > 0, below, np.nan)), mu.copy(data=np.zeros(mu.shape))

    def describe(self):
        return "a continuous outcome's persons, sum and sum of squares per cell (normal on exact statistics)"


# --- a non-negative outcome with zeros: a hurdle on exact sufficient statistics ----------------------------


#: Each cell's P(value > 0), location and dispersion of the positive values in a post-processing model of
#: :class:`HurdleStatistics`.
CELL_ANY, CELL_LOCATION, CELL_DISPERSION = "cell_any", "cell_location", "cell_dispersion"
#: The columns of a hurdle cell table: persons with the outcome observed, how many of them have a positive
#: value, and the sums of the positive values, their squares, their logs and their squared logs.
HURDLE_COLUMNS = (
    "persons",
    "positive",
    "sum",
    "sum_squares",
    "sum_log",
    "sum_log_squares",
    "largest",
    "second_largest",
)
#: The statistics a hurdle cell table keeps beside the family's own for checks (the cells' means and
#: spreads), in ``observed_data`` as ``moments``.
HURDLE_MOMENTS = ("sum", "sum_squares", "largest", "second_largest")
#: Cells with at most this many positive values draw a gamma family's values one by one; above it, the sum
#: of their logs given their sum is drawn from a normal with its exact mean and variance.
EXACT_GAMMA_VALUES = 30


def _exp(value):
    """``pt.exp`` for a PyTensor variable, ``np.exp`` for arrays and numbers."""
    return pt.exp if isinstance(value, pt.TensorVariable) else np.exp


def hurdle_cells(values: pd.Series, keys: list[pd.Series]) -> pd.DataFrame:
    """The :data:`HURDLE_COLUMNS` per cell of ``keys`` from a non-negative outcome (NA: not observed, in no
    cell); empty cells dropped, the keys as columns."""
    observed = values.notna().to_numpy()
    x = values.to_numpy(dtype="float64")[observed]
    positive = x > 0
    logs = np.log(np.where(positive, x, 1.0))  # 0 for the zeros, which the log sums leave out
    frame = pd.DataFrame(
        {"persons": 1, "positive": positive.astype("int64"), "sum": x, "sum_squares": x**2,
         "sum_log": logs, "sum_log_squares": logs**2},
    )  # fmt: skip
    by = [key[observed].reset_index(drop=True) for key in keys]
    # the two largest values of each cell (what a dominance rule for magnitudes reads): each person's rank
    # in their cell, largest first
    rank = pd.Series(-x).groupby(by, observed=True).rank(method="first").to_numpy()
    frame["largest"], frame["second_largest"] = np.where(rank == 1, x, 0.0), np.where(rank == 2, x, 0.0)
    cells = frame.groupby(by, observed=True).sum().reset_index()
    return cells[cells["persons"] > 0].reset_index(drop=True)


def bernoulli_product_logp(positive, persons, eta):
    """Log-probability of ``positive`` persons with a value above zero out of ``persons``, as the product
    of the persons' Bernoulli probabilities (logit ``eta``): the person-level likelihood, no binomial
    coefficient."""
    return positive * eta - persons * pt.softplus(eta)


class PositiveFamily(ABC):
    """The distribution of the positive values of a :class:`HurdleStatistics` cell, on exact sufficient
    statistics: its log-density (on the outcome's own scale, Jacobian included) equals the sum of the
    persons' log-densities. The model gives each cell a ``link`` (the location on its link scale: the log
    mean for a gamma, the mean log for a log-normal; :meth:`location` turns it into the family's location)
    and a ``log_dispersion``; :meth:`mean` is the mean of a positive value."""

    #: the family's name in a spec (``family = "gamma"``)
    name: str = ""
    #: the cell-table columns (of :data:`HURDLE_COLUMNS`) its likelihood reads, in order
    statistics: tuple[str, ...] = ()
    #: what ``location`` and ``dispersion`` are, in words
    parameters: str = ""

    @abstractmethod
    def logp(self, stats, k, link, log_dispersion):
        """PyTensor log-density of ``k`` positive values summarised by ``stats`` (..., len(statistics))."""

    @abstractmethod
    def location(self, link):
        """The family's location from its link (PyTensor or numpy)."""

    @abstractmethod
    def mean(self, link, log_dispersion):
        """The mean of a positive value (PyTensor or numpy)."""

    @abstractmethod
    def draw(self, k, location, dispersion, rng) -> np.ndarray:
        """The statistics of ``k`` positive values drawn from the family (numpy, arrays broadcast): shape
        (..., len(statistics))."""

    @abstractmethod
    def person_logpdf(self, x, location, dispersion) -> np.ndarray:
        """Log-density of each positive value ``x`` (numpy, outcome scale): the person-level check."""

    @abstractmethod
    def draw_values(self, location, dispersion, size, rng) -> np.ndarray:
        """Single positive values (numpy): predictive persons for a distribution check."""

    @abstractmethod
    def statistic_cdf(self, stats: np.ndarray, k: np.ndarray, location, dispersion) -> np.ndarray:
        """P(the family's first statistic of ``k`` positive values < its observed value in ``stats``)
        (numpy, arrays broadcast; NaN where k is 0): the PIT of a cell's positive part given how many are
        positive. Exact: the sum of k gamma values is gamma, the sum of k normal logs normal."""

    @abstractmethod
    def link_estimate(self, pooled: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The link's estimate and its sampling variance (numpy) per row of ``pooled``: summed hurdle
        columns (``positive``, ``sum``, ``sum_squares``, ``sum_log``, ``sum_log_squares``) of a group of
        cells. Infinite variance where fewer than two values are positive."""


class GammaFamily(PositiveFamily):
    """Gamma with mean ``location`` and shape ``dispersion`` (rate = shape / mean): sufficient statistics
    n, sum x and sum log x. Its mean is fitted by the cells' means (the score for the mean is the sum of
    x minus n times the mean), so the mean does not depend on the shape fitting the tails."""

    name = "gamma"
    statistics = ("sum", "sum_log")
    parameters = "location = mean of a positive value, dispersion = gamma shape"

    def logp(self, stats, k, link, log_dispersion):
        total, logs = stats[..., 0], stats[..., 1]
        shape = pt.exp(log_dispersion)
        log_rate = log_dispersion - link
        return k * (shape * log_rate - pt.gammaln(shape)) + (shape - 1) * logs - pt.exp(log_rate) * total

    def location(self, link):
        return _exp(link)(link)

    def mean(self, link, log_dispersion):
        return _exp(link)(link)

    def draw(self, k, location, dispersion, rng):
        k, mean, shape = np.broadcast_arrays(np.asarray(k, dtype="int64"), location, dispersion)
        scale = mean / shape
        some = k > 0
        total = np.where(some, rng.gamma(np.where(some, k * shape, 1.0)) * scale, 0.0)
        # sum log x = k log(sum x) + sum log D, D ~ Dirichlet(shape, ..., shape) independent of the sum
        kf = np.maximum(k, 1).astype("float64")
        centre = kf * (digamma(shape) - digamma(kf * shape))
        spread = np.sqrt(np.maximum(kf * polygamma(1, shape) - kf**2 * polygamma(1, kf * shape), 0.0))
        dirichlet_logs = rng.normal(centre, spread)
        small = some & (k <= EXACT_GAMMA_VALUES)
        if small.any():
            values = rng.gamma(shape[small][:, None], size=(int(small.sum()), EXACT_GAMMA_VALUES))
            used = np.arange(EXACT_GAMMA_VALUES) < k[small][:, None]
            logs = np.where(used, np.log(values), 0.0).sum(axis=1)
            dirichlet_logs[small] = logs - k[small] * np.log(np.where(used, values, 0.0).sum(axis=1))
        sum_log = np.where(some, k * np.log(np.where(some, total, 1.0)) + dirichlet_logs, 0.0)
        return np.stack([total, sum_log], axis=-1)

    def person_logpdf(self, x, location, dispersion):
        return gamma_dist.logpdf(x, dispersion, scale=location / dispersion)

    def draw_values(self, location, dispersion, size, rng):
        return rng.gamma(dispersion, location / dispersion, size=size)

    def statistic_cdf(self, stats, k, location, dispersion):
        k = np.asarray(k, dtype="float64")
        with np.errstate(invalid="ignore", divide="ignore"):
            shape = np.where(k > 0, k, 1.0) * dispersion  # the sum of k gamma values is gamma
            below = gamma_dist.cdf(stats[..., 0], shape, scale=location / dispersion)
        return np.where(k > 0, below, np.nan)

    def link_estimate(self, pooled):
        """The log of the mean positive value; its variance by the delta method, the squared coefficient
        of variation over k (the values' sample variance / (k mean^2))."""
        return _mean_and_variance(pooled["positive"], pooled["sum"], pooled["sum_squares"], log=True)


class LogNormalFamily(PositiveFamily):
    """Log-normal: log x ~ Normal(``location``, ``dispersion``), sufficient statistics n, sum log x and
    sum (log x)^2; the Jacobian -sum log x puts its log-density on the outcome's scale. Its mean,
    exp(location + dispersion^2 / 2), rests on the spread of the logs, so on the tails."""

    name = "lognormal"
    statistics = ("sum_log", "sum_log_squares")
    parameters = "location = mean of log x, dispersion = sd of log x"

    def logp(self, stats, k, link, log_dispersion):
        logs = stats[..., 0]
        return normal_statistics_logp(stats, k, link, pt.exp(log_dispersion)) - logs

    def location(self, link):
        return link

    def mean(self, link, log_dispersion):
        exp = _exp(link)
        return exp(link + exp(2 * log_dispersion) / 2)

    def draw(self, k, location, dispersion, rng):
        return draw_normal_statistics(k, location, dispersion, rng)

    def person_logpdf(self, x, location, dispersion):
        return lognorm_dist.logpdf(x, dispersion, scale=np.exp(location))

    def draw_values(self, location, dispersion, size, rng):
        return rng.lognormal(location, dispersion, size=size)

    def statistic_cdf(self, stats, k, location, dispersion):
        return normal_sum_cdf(stats[..., 0], k, location, dispersion)

    def link_estimate(self, pooled):
        """The mean log value; its variance the sample variance of the logs over k."""
        return _mean_and_variance(pooled["positive"], pooled["sum_log"], pooled["sum_log_squares"], log=False)


class NormalFamily(PositiveFamily):
    """Normal with mean ``location`` and sd ``dispersion`` (hours; the sd does not follow the mean):
    sufficient statistics n, sum x and sum x^2. Its mean is fitted by the cells' means, and the mean's
    posterior variance is the values' own variance over n, which holds for any distribution with that
    variance (the central limit theorem): the family to choose when the estimand is a mean and no
    named family fits the values' shape. As a density it puts some mass below zero."""

    name = "normal"
    statistics = ("sum", "sum_squares")
    parameters = "location = mean of a positive value, dispersion = its sd"

    def logp(self, stats, k, link, log_dispersion):
        return normal_statistics_logp(stats, k, pt.exp(link), pt.exp(log_dispersion))

    def location(self, link):
        return _exp(link)(link)

    def mean(self, link, log_dispersion):
        return _exp(link)(link)

    def draw(self, k, location, dispersion, rng):
        return draw_normal_statistics(k, location, dispersion, rng)

    def person_logpdf(self, x, location, dispersion):
        return norm.logpdf(x, location, dispersion)

    def draw_values(self, location, dispersion, size, rng):
        return rng.normal(location, dispersion, size=size)

    def statistic_cdf(self, stats, k, location, dispersion):
        return normal_sum_cdf(stats[..., 0], k, location, dispersion)

    def link_estimate(self, pooled):
        """The log of the mean positive value, its variance as for the gamma (delta method)."""
        return _mean_and_variance(pooled["positive"], pooled["sum"], pooled["sum_squares"], log=True)


def _mean_and_variance(k, total, squares, log: bool) -> tuple[np.ndarray, np.ndarray]:
    """From counts, sums and sums of squares: the mean (its log when ``log``) and the sampling variance of
    that estimate; where k < 2 the estimate is 0 with infinite variance (no weight)."""
    k, total, squares = (np.asarray(x, dtype="float64") for x in (k, total, squares))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / k
        spread = np.maximum(squares - k * mean**2, 0.0) / np.maximum(k - 1.0, 1.0)
        variance = spread / (k * mean**2) if log else spread / k
        estimate = np.log(mean) if log else mean
    some = (k > 1) & np.isfinite(estimate) & (mean != 0 if log else True)
    return np.where(some, estimate, 0.0), np.where(some, variance, np.inf)


#: The families of the positive values by name.
POSITIVE_FAMILIES: dict[str, PositiveFamily] = {
    f.name: f for f in (GammaFamily(), LogNormalFamily(), NormalFamily())
}


class HurdleStatistics(Observation):
    """A non-negative outcome with zeros (hours worked): per cell the persons with it observed, how many
    have a positive value (Bernoulli product, logit link) and the positive values' sufficient statistics
    under ``family`` (:data:`POSITIVE_FAMILIES`). The cell's log-likelihood is the sum of its persons'
    log-densities exactly (zeros: log(1 - p); positives: log p + the family's log-density on the outcome's
    scale). Cell tables hold :data:`HURDLE_COLUMNS`; ``observed_data`` holds ``y`` (cell, statistic:
    ``positive`` and the family's statistics) and ``moments`` (the sums and sums of squares of the values,
    for checks of the cells' means, and the two largest values, for a release's dominance rule).
    Parameters: ``eta`` (logit P(positive)), ``link`` (the family's location on its link scale) and
    ``log_dispersion`` per cell."""

    name = "hurdle statistics"
    cell_parameters = (CELL_ANY, CELL_LOCATION, CELL_DISPERSION)

    def __init__(self, family: str = "gamma"):
        if family not in POSITIVE_FAMILIES:
            raise ValueError(f"family must be one of {', '.join(POSITIVE_FAMILIES)}, got {family!r}")
        self.family = POSITIVE_FAMILIES[family]

    @property
    def statistic_names(self) -> tuple[str, ...]:
        return ("positive", *self.family.statistics)

    @property
    def columns(self):
        return HURDLE_COLUMNS

    @property
    def simulated_columns(self):
        return self.statistic_names

    def persons(self, cells):
        return cells["persons"].to_numpy()

    def part_estimates(self, cells: pd.DataFrame, by: list[str], part: str) -> pd.DataFrame:
        """:meth:`Observation.link_estimates` of one part of the hurdle (the hurdle as a whole has two
        linear predictors, so :meth:`link_estimates` gives None): ``"any"``, logit P(positive) from the
        positive values out of the persons; ``"positive"``, the family's link of the positive values
        (:meth:`PositiveFamily.link_estimate`)."""
        if part == "any":
            return logit_estimates(cells, by, "positive", "persons")
        if part != "positive":
            raise ValueError(f"part must be 'any' or 'positive', got {part!r}")
        columns = ["positive", "sum", "sum_squares", "sum_log", "sum_log_squares"]
        pooled = cells.groupby(by, observed=True, sort=False)[columns].sum().reset_index()
        estimate, variance = self.family.link_estimate(pooled)
        return pooled[by].assign(estimate=estimate, variance=variance)

    def observed(self, cells):
        values = cells[list(self.statistic_names)].to_numpy(dtype="float64")
        moments = cells[list(HURDLE_MOMENTS)].to_numpy(dtype="float64")
        return _cells_dataset({"y": (("cell", "statistic"), values),
                               "moments": (("cell", "moment"), moments)}).assign_coords(
            statistic=list(self.statistic_names), moment=list(HURDLE_MOMENTS)
        )  # fmt: skip

    def constant(self, cells):
        return _cells_dataset({"persons": ("cell", cells["persons"].to_numpy())})

    def cell_logp(self, value, persons, eta, link, log_dispersion):
        """The cell's log-likelihood: the sum of its persons' log-densities."""
        positive = value[..., 0]
        return bernoulli_product_logp(positive, persons, eta) + self.family.logp(
            value[..., 1:], positive, link, log_dispersion
        )

    def draw_statistics(self, persons, p_any, location, dispersion, rng) -> np.ndarray:
        """``y`` drawn (numpy, arrays broadcast): positive ~ Binomial(persons, p_any), then the family's
        statistics of that many positive values."""
        persons, p_any = np.broadcast_arrays(np.asarray(persons, dtype="int64"), p_any)
        positive = rng.binomial(persons, np.clip(p_any, 0.0, 1.0))
        stats = self.family.draw(positive, location, dispersion, rng)
        return np.concatenate([positive[..., None].astype("float64"), stats], axis=-1)

    def likelihood(self, cells, parameters, for_sampling):
        eta, link, log_dispersion = (parameters[k] for k in ("eta", "link", "log_dispersion"))
        _add_coord("statistic", self.statistic_names)
        values = pm.Data("statistics", cells[list(self.statistic_names)].to_numpy(dtype="float64"),
                         dims=("cell", "statistic"))  # fmt: skip
        persons = pm.Data("persons", cells["persons"].to_numpy().astype("float64"), dims="cell")
        zero = pt.zeros_like(persons)  # one of each per cell
        eta, link, log_dispersion = eta + zero, link + zero, log_dispersion + zero
        if not for_sampling:
            pm.Deterministic(CELL_ANY, pm.math.sigmoid(eta), dims="cell")
            pm.Deterministic(CELL_LOCATION, self.family.location(link), dims="cell")
            pm.Deterministic(CELL_DISPERSION, pt.exp(log_dispersion), dims="cell")

        def random(persons, eta, link, log_dispersion, rng=None, size=None):
            location = self.family.location(np.asarray(link))
            return self.draw_statistics(persons, expit(eta), location, np.exp(log_dispersion), rng)

        n_stats = len(self.statistic_names)
        return pm.CustomDist(
            "y", persons, eta, link, log_dispersion, logp=self.cell_logp, random=random,
            signature=f"(),(),(),()->({n_stats})", observed=values, dims=("cell", "statistic"),
        )  # fmt: skip

    def predictive(self, parameters, constant, seed):
        rng = np.random.default_rng(seed)
        p_any, location, dispersion = (parameters[k].transpose(..., "cell") for k in self.cell_parameters)
        drawn = self.draw_statistics(constant["persons"].values, p_any.values.astype("float64"),
                                     location.values.astype("float64"), dispersion.values.astype("float64"),
                                     rng)  # fmt: skip
        predictive = xr.Dataset(
            {"y": ((*p_any.dims, "statistic"), drawn)},
            coords={**{d: p_any[d] for d in p_any.dims}, "statistic": list(self.statistic_names)},
        )
        return self.describe_predictive(predictive, constant)

    def describe_predictive(self, drawn, constant):
        drawn = drawn.copy()
        drawn["y_rate"] = drawn["y"].sel(statistic="positive", drop=True) / constant["persons"].variable
        drawn["y_rate"].attrs["description"] = "predicted share of the cell's persons with a positive value"
        return drawn

    def count_table(self, observed, constant):
        labels = {name: observed[name].values for name in observed.coords
                  if name not in ("cell", "statistic", "moment")}  # fmt: skip
        positive = observed["y"].sel(statistic="positive").values.astype("int64")
        return pd.DataFrame(labels).assign(category="positive", persons=constant["persons"].values,
                                           count=positive)  # fmt: skip

    def magnitude_table(self, observed, constant):
        labels = {name: observed[name].values for name in observed.coords
                  if name not in ("cell", "statistic", "moment")}  # fmt: skip
        moments = observed["moments"]
        return pd.DataFrame(labels).assign(
            persons=constant["persons"].values,
            total=moments.sel(moment="sum").values,
            largest=moments.sel(moment="largest").values,
            second_largest=moments.sel(moment="second_largest").values,
        )

    def with_values(self, cells, values):
        statistics = np.asarray(values["y"])
        replaced = cells.assign(**{s: statistics[:, j] for j, s in enumerate(self.statistic_names)})
        # the statistics the family does not read are not simulated: none is left to disagree with them
        stale = [c for c in HURDLE_COLUMNS if c not in ("persons", *self.statistic_names)]
        return replaced.assign(**dict.fromkeys(stale, np.nan))

    #: the parts of a cell's LOO-PIT (dim ``part`` of :meth:`cdf_at_observed`): how many have a positive
    #: value, and the positive values given how many
    PIT_PARTS = ("any_hours", "hours_of_workers")

    def cdf_at_observed(self, parameters, observed, constant):
        """Per draw and cell, one PIT for each part of the hurdle (dim ``part``, :data:`PIT_PARTS`): the
        number positive out of the persons (binomial: below and at the observed count), and the family's
        first statistic of the positive values given that number (continuous: ``at`` 0; NaN in a cell
        without positive values). Under the model the two are independent uniforms (the second is
        conditional on the first), so each is tested on its own."""
        p_any, location, dispersion = (
            parameters[k].astype("float64").transpose(..., "cell") for k in self.cell_parameters
        )
        y = observed["y"]
        k = y.sel(statistic="positive").values
        persons = constant["persons"].values
        stats = np.stack([y.sel(statistic=s).values for s in self.family.statistics], axis=-1)
        any_below = binom.cdf(k - 1, persons, p_any.values)
        any_at = binom.pmf(k, persons, p_any.values)
        given_below = self.family.statistic_cdf(stats, k, location.values, dispersion.values)
        below = xr.concat([p_any.copy(data=any_below), p_any.copy(data=given_below)], dim="part")
        at = xr.concat([p_any.copy(data=any_at), p_any.copy(data=np.zeros(p_any.shape))], dim="part")
        part = {"part": list(self.PIT_PARTS)}
        return below.assign_coords(part).transpose(..., "cell", "part"), at.assign_coords(part).transpose(
            ..., "cell", "part"
        )

    def person_logp(self, parameters: xr.Dataset, cell: np.ndarray, values: np.ndarray) -> xr.DataArray:
        """Each person's log-density on the outcome's scale (dims: the parameters' sample dims, ``person``):
        ``cell`` is each person's cell (position in the cell table), ``values`` the person's value
        (0 or positive); ``parameters`` the :attr:`cell_parameters` per draw (..., cell)."""
        p_any, location, dispersion = (
            parameters[k].transpose(..., "cell").values[..., cell].astype("float64")
            for k in self.cell_parameters
        )
        positive = np.asarray(values) > 0
        x = np.where(positive, values, 1.0)
        logp = np.where(
            positive, np.log(p_any) + self.family.person_logpdf(x, location, dispersion), np.log1p(-p_any)
        )
        dims = [*parameters[CELL_ANY].transpose(..., "cell").dims[:-1], "person"]
        return xr.DataArray(logp, dims=dims)

    def draw_persons(self, parameters: xr.Dataset, cell: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One predictive value per person (``cell``: each person's cell) and draw of the
        :attr:`cell_parameters` (..., cell): 0 with probability 1 - p, else a value of the family."""
        p_any, location, dispersion = (
            parameters[k].transpose(..., "cell").values[..., cell].astype("float64")
            for k in self.cell_parameters
        )
        positive = rng.random(p_any.shape) < p_any
        return np.where(positive, self.family.draw_values(location, dispersion, p_any.shape, rng), 0.0)

    def describe(self):
        statistics = ", ".join(self.family.statistics)
        return (f"persons, positives and the positive values' statistics per cell (hurdle: Bernoulli "
                f"product with logit link, {self.family.name} on {statistics})")  # fmt: skip
