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
  from (:func:`ww_bayes.kinds.pooling.choose_parametrization`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from scipy.special import gammaln

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
        pooled = cells.groupby(by, observed=True, sort=False)[["successes", "trials"]].sum().reset_index()
        trials = pooled["trials"].to_numpy(dtype="float64")
        rate = (pooled["successes"].to_numpy(dtype="float64") + 0.5) / (trials + 1.0)  # finite at 0 and n
        with np.errstate(divide="ignore"):
            variance = 1.0 / (trials * rate * (1.0 - rate))
        return pooled[by].assign(estimate=np.log(rate / (1.0 - rate)), variance=variance)

    def describe(self):
        form = "Bernoulli on person rows" if self.person_rows else "Binomial on exact cells"
        return f"successes out of persons per cell ({form}, logit link)"


# --- counts over categories -----------------------------------------------------------------------------


#: Each cell's category probabilities in a post-processing model (dims cell, category).
CELL_PROBS = "cell_probs"


class CategoryCounts(Observation):
    """Persons per category in each cell (where claimants are: WW, ZW, WIA, bijstand, work ...): a
    Multinomial on exact cells with a multinomial-logit link. Cell tables hold one count column per
    category (named by the category). Parameter ``eta``: each cell's category logits (cell, category).
    The sampler and the post-processing model both use ``pm.Multinomial``."""

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

    def describe(self):
        return (
            f"persons per category ({', '.join(self.categories)}) per cell (Multinomial, multinomial logit)"
        )


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

    def describe(self):
        return "a continuous outcome's persons, sum and sum of squares per cell (normal on exact statistics)"
