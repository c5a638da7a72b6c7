"""The destinations model's log-density and gradient for the sampler, written as one numba function.

PyTensor compiles :func:`ww_bayes.kinds.destinations.build_model`'s graph (``for_sampling``) into a function
of about 500 small nodes (the zero-sum transforms, the sds' scaling, the joins of the components' terms on
the grid, the multinomial log-softmax), each allocating its output; with its gradient it takes 110 µs on
the 12-month model of the demo cohort (831 free values). :func:`log_density` computes the same numbers in
one pass over a few arrays, the gradient written by hand (reverse mode through the same steps), with each
factor's terms added to runs of contiguous grid rows and ``exp`` written so that its loop vectorizes: 43 µs
(measured side by side in one process on the 2-core machine; ``exp`` from libm: 55 µs). A fit samples
about 2.5 times faster and draws from the same posterior (``docs/performance.md``).

The function is the model's own log-density in the sampler's unconstrained coordinates, term by term:

- a baseline's mean: ``ZeroSumNormal(sigma)`` over the categories per month, plus the stated prior mean;
- an effect's mean: ``ZeroSumNormal(sigma)`` per month;
- a factor's deviations (zero-sum over levels and categories per month): partially pooled with
  ``sd ~ HalfNormal(group_sd)`` (sampled as ``log sd``, with its Jacobian) and written with centring ``c``
  as ``dev = sd^(1 - c) * z``, ``z ~ ZeroSumNormal(sd^c)``; unpooled ``dev ~ ZeroSumNormal(unpooled_sd)``;
  fully pooled, none;
- each outcome's logits on the grid (arm, factor levels..., month, category): the components' terms with
  the arm's signs (:func:`ww_bayes.kinds.pooling.arm_logit`), minus the masked logit at empty categories;
- the multinomial log-probability of the counts on the grid, its log-coefficients summed once.

PyMC's zero-sum transform (``ZeroSumTransform.extend_axis``) maps ``n - 1`` free values to ``n`` that sum
to zero; its adjoint carries the gradient back. The layout of the free values is nutpie's (the free
variables in the model's order, each flattened in C order), read from the compiled model's shape
information. Models this function does not describe (a basis of live categories for months where a
category is empty, a variable it does not know) are sampled with PyTensor's function instead:
:func:`fused_sampler` returns None for them. ``tests/test_destinations_density.py`` checks the log-density
and gradient against PyTensor's at random points, for the shipped spec and for specs with other pooling
and centring.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numba
import numpy as np
from nutpie.compile_pymc import CompiledPyMCModel
from nutpie.compile_pymc import address_as_void_pointer as _as_pointer

#: Pooling codes in the layout.
FULL, NONE, PARTIAL = 0, 1, 2
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_HALF_LOG_2_OVER_PI = 0.5 * math.log(2.0 / math.pi)

# The layout (``ints``) starts with a header of these fields, then the rows below.
_H_NDIM, _H_OUTCOMES, _H_FACTORS, _H_MONTHS, _H_ARMS, _H_COMPONENTS, _H_ROWS = range(7)
_HEADER = 7
# After the header: the levels of each factor (n_factors), then one record per outcome (the arms' signs per
# component, arms x components, are at the start of ``floats``): its categories and the ``floats`` offsets
# of its counts, persons per row, prior means, empty mask and summed log-coefficients,
_O_K, _O_COUNTS, _O_PERSONS, _O_PRIOR, _O_EMPTY, _O_CONSTANT = range(6)
_O_FIELDS = 6
# ... then per component: the x offset of its mean and the floats offset of its sigma,
_C_FIELDS = 2
# ... then per component and factor: pooling, x offset of log sd (-1 if none), x offset of the deviations,
# and the floats offset of (group_sd, unpooled_sd, centring).
_F_FIELDS = 4


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _exp_nonpositive(values, out, bits):
    """``exp`` of each of ``values`` (all <= 0; below -708 it gives exp(-708), not 0) into ``out``: a
    degree-13 Taylor polynomial after the reduction ``x = k log 2 + r``, ``|r| <= log(2) / 2``, and ``2^k``
    from its bits (``bits``: scratch of the same length). Within a few units in the last place of libm's,
    and written so that the loops vectorize (numba calls libm's scalar ``exp``, which made the whole
    log-density 55 µs instead of 43)."""
    scale = bits.view(np.float64)
    for i in range(values.size):
        v = max(values[i], -708.0)
        k = np.floor(v * 1.4426950408889634 + 0.5)
        r = (v - k * 0.6931471803691238) - k * 1.9082149292705877e-10
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        out[i] = p * r + 1.0
        bits[i] = (np.int64(k) + 1023) << 52
    for i in range(values.size):
        out[i] *= scale[i]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _extend(free, out, months, n):
    """PyMC's zero-sum extension (``ZeroSumTransform.extend_axis``) of the last axis: ``free``
    (months, n - 1) -> ``out`` (months, n)."""
    root = math.sqrt(n)
    for m in range(months):
        total = 0.0
        for i in range(n - 1):
            total += free[m * (n - 1) + i]
        norm = total / (root + n)
        for i in range(n - 1):
            out[m * n + i] = free[m * (n - 1) + i] - norm
        out[m * n + n - 1] = (norm - total / root) - norm


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _extend_adjoint(grad_out, grad_free, months, n):
    """The adjoint of :func:`_extend`: adds the gradient of ``free`` given that of ``out``."""
    root = math.sqrt(n)
    for m in range(months):
        inner = 0.0
        for i in range(n - 1):
            inner += grad_out[m * n + i]
        last = grad_out[m * n + n - 1]
        for i in range(n - 1):
            grad_free[m * (n - 1) + i] += grad_out[m * n + i] - inner / (root + n) - last / root


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _extend_2d(free, out, months, levels, k):
    """The zero-sum extension of the last two axes: ``free`` (months, levels - 1, k - 1) -> ``out``
    (months, levels, k): the levels' axis, then the categories' (maps of different axes: the order changes
    only the rounding)."""
    root_l, root_k = math.sqrt(levels), math.sqrt(k)
    for m in range(months):
        src, dst = m * (levels - 1) * (k - 1), m * levels * k
        for j in range(k - 1):
            total = 0.0
            for i in range(levels - 1):
                total += free[src + i * (k - 1) + j]
            norm = total / (root_l + levels)
            for i in range(levels - 1):
                out[dst + i * k + j] = free[src + i * (k - 1) + j] - norm
            out[dst + (levels - 1) * k + j] = (norm - total / root_l) - norm
        for i in range(levels):
            total = 0.0
            for j in range(k - 1):
                total += out[dst + i * k + j]
            norm = total / (root_k + k)
            for j in range(k - 1):
                out[dst + i * k + j] -= norm
            out[dst + i * k + k - 1] = (norm - total / root_k) - norm


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _extend_2d_adjoint(grad_out, grad_free, months, levels, k):
    """The adjoint of :func:`_extend_2d`, added to ``grad_free``; ``grad_out`` is overwritten."""
    root_l, root_k = math.sqrt(levels), math.sqrt(k)
    for m in range(months):
        src, dst = m * (levels - 1) * (k - 1), m * levels * k
        for i in range(levels):  # the categories' axis: the gradient of the levels' extension (k - 1 wide)
            inner = 0.0
            for j in range(k - 1):
                inner += grad_out[dst + i * k + j]
            last = grad_out[dst + i * k + k - 1]
            for j in range(k - 1):
                grad_out[dst + i * k + j] += -inner / (root_k + k) - last / root_k
        for j in range(k - 1):
            inner = 0.0
            for i in range(levels - 1):
                inner += grad_out[dst + i * k + j]
            last = grad_out[dst + (levels - 1) * k + j]
            for i in range(levels - 1):
                grad_free[src + i * (k - 1) + j] += (
                    grad_out[dst + i * k + j] - inner / (root_l + levels) - (last / root_l)
                )


@numba.njit(cache=True, nogil=True, error_model="numpy")
def log_density(x, grad, ints, floats):
    """The model's log-density at the unconstrained point ``x``; its gradient written to ``grad``."""
    n_outcomes, n_factors = ints[_H_OUTCOMES], ints[_H_FACTORS]
    months, arms, n_comp, rows = ints[_H_MONTHS], ints[_H_ARMS], ints[_H_COMPONENTS], ints[_H_ROWS]
    levels = ints[_HEADER : _HEADER + n_factors]
    record = _HEADER + n_factors
    signs = floats[: arms * n_comp]
    most_levels, strides = 1, np.ones(n_factors, dtype=np.int64)
    for f in range(n_factors):
        most_levels = max(most_levels, levels[f])
        for later in range(f + 1, n_factors):
            strides[f] *= levels[later]
    for i in range(grad.size):
        grad[i] = 0.0
    total = 0.0
    for _ in range(n_outcomes):  # each outcome's record follows the one before
        k = ints[record + _O_K]
        counts, persons, prior = ints[record + _O_COUNTS], ints[record + _O_PERSONS], ints[record + _O_PRIOR]
        empty = ints[record + _O_EMPTY]
        total += floats[ints[record + _O_CONSTANT]]
        comp_at = record + _O_FIELDS
        factor_at = comp_at + n_comp * _C_FIELDS
        record = factor_at + n_comp * n_factors * _F_FIELDS
        size = months * most_levels * k
        # the components' values (the priors' terms on the way) and each arm's sum of them
        means = np.zeros((n_comp, months * k))
        devs = np.zeros((n_comp, n_factors, size))
        arm_mean = np.zeros((arms, months * k))
        arm_dev = np.zeros((arms, n_factors, size))
        for c in range(n_comp):
            x_mean, sigma = ints[comp_at + c * _C_FIELDS], floats[ints[comp_at + c * _C_FIELDS + 1]]
            _extend(x[x_mean:], means[c], months, k)
            squares = 0.0
            for i in range(months * k):
                squares += means[c, i] * means[c, i]
            total += -0.5 * squares / sigma**2 - months * (k - 1) * (_LOG_SQRT_2PI + math.log(sigma))
            for a in range(arms):
                sign = signs[a * n_comp + c]
                for i in range(months * k):
                    arm_mean[a, i] += sign * (means[c, i] + (floats[prior + i] if c == 0 else 0.0))
            for f in range(n_factors):
                at = factor_at + (c * n_factors + f) * _F_FIELDS
                pooling, n = ints[at], months * levels[f] * k
                if pooling == FULL:
                    continue
                dev = devs[c, f]
                _extend_2d(x[ints[at + 2] :], dev, months, levels[f], k)
                sigma_z, multiplier = _scales(x, ints, floats, at)
                squares = 0.0
                for i in range(n):
                    squares += dev[i] * dev[i]
                total += -0.5 * squares / sigma_z**2 - months * (levels[f] - 1) * (k - 1) * (
                    _LOG_SQRT_2PI + math.log(sigma_z)
                )
                if pooling == PARTIAL:
                    u, scale = x[ints[at + 1]], floats[ints[at + 3]]
                    total += _HALF_LOG_2_OVER_PI - math.log(scale) - 0.5 * (math.exp(u) / scale) ** 2 + u
                for i in range(n):
                    dev[i] *= multiplier
                for a in range(arms):
                    sign = signs[a * n_comp + c]
                    for i in range(n):
                        arm_dev[a, f, i] += sign * dev[i]
        # the likelihood, arm by arm and month by month over all rows at once (category, row); a row's level
        # of factor f is (row // stride[f]) % levels[f] (the grid's C order), so each factor's terms are added
        # to, and their gradient summed over, runs of contiguous rows
        grad_arm_mean = np.zeros((arms, months * k))
        grad_arm_dev = np.zeros((arms, n_factors, size))
        eta = np.empty((k, rows))
        scaled = np.empty((k, rows))
        bits = np.empty(rows, dtype=np.int64)
        top = np.empty(rows)
        summed = np.empty(rows)
        terms = np.zeros(rows)  # each row's log-probability, summed at the end
        level_values = np.empty(most_levels)
        for a in range(arms):
            for m in range(months):
                for j in range(k):
                    start = arm_mean[a, m * k + j] - 1e4 * floats[empty + m * k + j]
                    row = eta[j]
                    for r in range(rows):
                        row[r] = start
                    for f in range(n_factors):
                        n_levels, stride = levels[f], strides[f]
                        for level in range(n_levels):
                            level_values[level] = arm_dev[a, f, (m * n_levels + level) * k + j]
                        for outer in range(rows // (stride * n_levels)):
                            first = outer * stride * n_levels
                            if stride == 1:
                                for level in range(n_levels):
                                    row[first + level] += level_values[level]
                            else:
                                for level in range(n_levels):
                                    value = level_values[level]
                                    for r in range(first + level * stride, first + (level + 1) * stride):
                                        row[r] += value
                top[:] = eta[0]
                for j in range(1, k):
                    for r in range(rows):
                        top[r] = max(top[r], eta[j, r])
                summed[:] = 0.0
                for j in range(k):
                    for r in range(rows):
                        eta[j, r] -= top[r]
                    _exp_nonpositive(eta[j], scaled[j], bits)
                    for r in range(rows):
                        summed[r] += scaled[j, r]
                n_at = counts + ((a * months + m) * k) * rows
                p_at = persons + (a * months + m) * rows
                for r in range(rows):
                    top[r] = math.log(summed[r])  # reused: the log of the sum
                    summed[r] = floats[p_at + r] / summed[r]  # reused: persons over the sum
                for j in range(k):
                    row = scaled[j]
                    for r in range(rows):
                        n = floats[n_at + j * rows + r]
                        terms[r] += n * (eta[j, r] - top[r])
                        row[r] = n - summed[r] * row[r]  # the gradient of the row's logit
                    gathered = 0.0
                    for r in range(rows):
                        gathered += row[r]
                    grad_arm_mean[a, m * k + j] += gathered
                    for f in range(n_factors):
                        n_levels, stride = levels[f], strides[f]
                        level_values[:n_levels] = 0.0
                        for outer in range(rows // (stride * n_levels)):
                            first = outer * stride * n_levels
                            if stride == 1:
                                for level in range(n_levels):
                                    level_values[level] += row[first + level]
                            else:
                                for level in range(n_levels):
                                    value = 0.0
                                    for r in range(first + level * stride, first + (level + 1) * stride):
                                        value += row[r]
                                    level_values[level] += value
                        for level in range(n_levels):
                            grad_arm_dev[a, f, (m * n_levels + level) * k + j] += level_values[level]
        for r in range(rows):
            total += terms[r]
        # back through the components to the free values
        grad_mean = np.empty(months * k)
        grad_dev = np.empty(size)
        for c in range(n_comp):
            x_mean, sigma = ints[comp_at + c * _C_FIELDS], floats[ints[comp_at + c * _C_FIELDS + 1]]
            for i in range(months * k):
                g = -means[c, i] / sigma**2
                for a in range(arms):
                    g += signs[a * n_comp + c] * grad_arm_mean[a, i]
                grad_mean[i] = g
            _extend_adjoint(grad_mean, grad[x_mean:], months, k)
            for f in range(n_factors):
                at = factor_at + (c * n_factors + f) * _F_FIELDS
                pooling, n = ints[at], months * levels[f] * k
                if pooling == FULL:
                    continue
                dev = devs[c, f]
                sigma_z, multiplier = _scales(x, ints, floats, at)
                for i in range(n):
                    g = 0.0
                    for a in range(arms):
                        g += signs[a * n_comp + c] * grad_arm_dev[a, f, i]
                    grad_dev[i] = g
                squares, through_multiplier = 0.0, 0.0
                for i in range(n):
                    z = dev[i] / multiplier
                    squares += z * z
                    through_multiplier += dev[i] * grad_dev[i]
                    grad_dev[i] = multiplier * grad_dev[i] - z / sigma_z**2
                _extend_2d_adjoint(grad_dev, grad[ints[at + 2] :], months, levels[f], k)
                if pooling == PARTIAL:
                    u, scale, centring = x[ints[at + 1]], floats[ints[at + 3]], floats[ints[at + 3] + 2]
                    dof = months * (levels[f] - 1) * (k - 1)
                    grad[ints[at + 1]] += (
                        -((math.exp(u) / scale) ** 2)
                        + 1.0
                        + centring * (squares / sigma_z**2 - dof)
                        + (1.0 - centring) * through_multiplier
                    )
    return total


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _scales(x, ints, floats, at):
    """A factor's deviations' (sd of z, multiplier of z): partially pooled with centring c,
    (sd^c, sd^(1 - c)); unpooled, (unpooled_sd, 1)."""
    if ints[at] != PARTIAL:
        return floats[ints[at + 3] + 1], 1.0
    u, centring = x[ints[at + 1]], floats[ints[at + 3] + 2]
    sigma_z = math.exp(centring * u) if centring > 0.0 else 1.0
    multiplier = math.exp((1.0 - centring) * u) if centring < 1.0 else 1.0
    return sigma_z, multiplier


@numba.cfunc("int64(uint64, CPointer(double), CPointer(double), CPointer(double), voidptr)", cache=True)
def _logp_callback(dim, x_, out_, logp_, user_data_):
    """nutpie's log-density callback: ``user_data_`` points to four int64s, the addresses and lengths of the
    layout's ints and floats."""
    header = numba.carray(user_data_, (4,), np.int64)
    ints = numba.carray(_as_pointer(header[0]), (header[1],), np.int64)
    floats = numba.carray(_as_pointer(header[2]), (header[3],), np.float64)
    if dim != ints[_H_NDIM]:
        return -1
    x = numba.carray(x_, (dim,))
    grad = numba.carray(out_, (dim,))
    value = log_density(x, grad, ints, floats)
    logp_[0] = value
    for i in range(dim):
        if not np.isfinite(grad[i]):
            return 3
    if not np.isfinite(value):
        return 4
    return 0


# --- the layout, and nutpie's model around the callback ----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Layout:
    """What :func:`log_density` reads besides ``x``: ``ints`` (the header, the factors' levels, one record
    per outcome) and ``floats`` (the arms' signs, sigmas and scales, prior means,
    empty masks, and, from ``data_offsets``, each outcome's counts and summed log-coefficients, which
    :meth:`with_counts` fills from the model's data)."""

    ints: np.ndarray
    floats: np.ndarray
    #: per outcome: the data variable of its counts (arm, *factors, month, category) and that of its
    #: log-coefficients, and where in ``floats`` the counts go (arm, month, category, row), the persons per
    #: row (arm, month, row) and the summed log-coefficients
    data_offsets: tuple[tuple[str, str, int, int, int], ...]

    def with_counts(self, values: dict[str, np.ndarray]) -> Layout:
        """The layout with the counts and log-coefficients of ``values`` (data variable name -> value)."""
        floats = self.floats.copy()
        for counts, coef, at, persons_at, constant in self.data_offsets:
            grid = np.asarray(values[counts], dtype="float64")
            arms, months, k = grid.shape[0], grid.shape[-2], grid.shape[-1]
            by_row = grid.reshape(arms, -1, months, k).transpose(0, 2, 3, 1)  # (arm, month, category, row)
            floats[at : at + by_row.size] = by_row.ravel()
            persons = by_row.sum(axis=2)
            floats[persons_at : persons_at + persons.size] = persons.ravel()
            floats[constant] = float(np.sum(values[coef]))
        return dataclasses.replace(self, floats=floats)


def layout(spec, data, free: list[tuple[str, tuple[int, ...]]]) -> Layout | None:
    """The layout of the destinations model of ``spec`` on ``data`` whose free values are ``free`` (name and
    shape of each value variable, nutpie's order); None if :func:`log_density` does not describe that
    model (a basis of live categories, or a variable it does not place)."""
    from ww_bayes.data.schema import ARM_SERVICE, ARMS
    from ww_bayes.kinds.common import COMPONENTS
    from ww_bayes.kinds.destinations import (
        CATEGORY_OUTCOME,
        MODEL_DIMS,
        OUTCOMES,
        RECORDED_BEFORE,
        baseline_prior_logits,
        outcome_live_basis,
    )
    from ww_bayes.kinds.pooling import CENTRING, arm_logit

    if any(outcome_live_basis(data, outcome) is not None for outcome in OUTCOMES):
        return None
    offsets, at = {}, 0
    for name, shape in free:
        offsets[name] = at
        at += int(np.prod(shape, dtype=int))
    groups = list(spec.groups)
    levels = [len(data.levels[f]) for f in groups]
    months = len(spec.months)
    rows = int(np.prod(levels, dtype=int))
    unit = {c: np.eye(len(COMPONENTS))[i] for i, c in enumerate(COMPONENTS)}
    signs = np.array([arm_logit(ARM_SERVICE, arm, unit) for arm in ARMS]).ravel()
    ints = [at, len(OUTCOMES), len(groups), months, len(ARMS), len(COMPONENTS), rows, *levels]
    floats = [*signs]
    placed, data_offsets = set(), []
    empty_all = data.constants["category_empty"].to_numpy()
    owner = data.constants[CATEGORY_OUTCOME].to_numpy()

    def add(values) -> int:
        floats.extend(np.asarray(values, dtype="float64").ravel())
        return len(floats) - np.size(values)

    shapes = dict(free)

    def place(name: str, shape: tuple[int, ...]) -> int:
        if name not in offsets or tuple(shapes[name]) != shape:
            raise KeyError(name)
        placed.add(name)
        return offsets[name]

    try:
        for outcome in OUTCOMES:
            k = len(data.levels[MODEL_DIMS[outcome]])
            n_grid = len(ARMS) * rows * months * k
            counts_at = add(np.zeros(n_grid))
            persons_at = add(np.zeros(n_grid // k))
            constant_at = add([0.0])
            names = (f"{outcome}_counts", f"{outcome}_log_multinomial_coef")
            data_offsets.append((*names, counts_at, persons_at, constant_at))
            prior_at = add(baseline_prior_logits(spec, data, outcome))
            empty_at = add(empty_all[:, owner == outcome])
            ints += [k, counts_at, persons_at, prior_at, empty_at, constant_at]
            for component in COMPONENTS:
                prefix = f"{outcome}_{component}"
                if component == "baseline":
                    ints += [place(f"{prefix}_z_zerosum__", (months, k - 1)), add([spec.baseline.sigma])]
                else:
                    mean_at = place(f"{prefix}_mean_zerosum__", (months, k - 1))
                    ints += [mean_at, add([spec.priors[component].sigma])]
            for component in COMPONENTS:
                prefix = f"{outcome}_{component}"
                scales = spec.baseline if component == "baseline" else spec.priors[component]
                for factor in groups:
                    pooling = spec.pooling[component][factor]
                    chosen = data.parametrization.get(prefix, {}).get(factor)
                    centring = CENTRING[chosen.form if chosen is not None else RECORDED_BEFORE[component]]
                    name = f"{prefix}_{factor}"
                    scales_at = add([scales.group_sd, scales.unpooled_sd, centring])
                    shape = (months, len(data.levels[factor]) - 1, k - 1)
                    if pooling == "full":
                        ints += [FULL, -1, -1, scales_at]
                    elif pooling == "none":
                        ints += [NONE, -1, place(f"{name}_dev_zerosum__", shape), scales_at]
                    else:
                        values = f"{name}_dev_zerosum__" if centring == 1.0 else f"{name}_z_zerosum__"
                        ints += [PARTIAL, place(f"{name}_sd_log__", ()), place(values, shape), scales_at]
    except KeyError:
        return None
    if placed != set(offsets):
        return None
    return Layout(np.array(ints, dtype="int64"), np.array(floats, dtype="float64"), tuple(data_offsets))


def fused_sampler(spec, data, compiled) -> FusedPyMCModel | None:
    """nutpie's compiled model ``compiled`` of the destinations model with :func:`log_density` as its
    log-density callback (its draws' expansion stays PyTensor's), or None when the function does not
    describe the model (:func:`layout`) or, checked here at three points, does not give PyTensor's numbers
    (then with a warning: the fit samples with PyTensor's function, only slower)."""
    made = layout(spec, data, free_variables(compiled))
    if made is None:
        return None
    values = {var.name: compiled.shared_data[key] for var, key in compiled.shared_var_keys.items()}
    fields = {f.name: getattr(compiled, f.name) for f in dataclasses.fields(compiled)}
    fused = FusedPyMCModel(**fields, fused_layout=made.with_counts(values))
    return fused if fused.agrees() else None


def graph_log_density(compiled, x: np.ndarray) -> tuple[float, np.ndarray]:
    """The log-density and gradient at ``x`` from nutpie's C callback of PyTensor's function, on the data
    the compiled model holds (what the sampler would call)."""
    return _call(compiled.compiled_logp_func, x, compiled.user_data)


def _call(callback, x: np.ndarray, user_data: np.ndarray) -> tuple[float, np.ndarray]:
    """A nutpie log-density callback (a numba cfunc) at ``x``: NaN if it returns an error status."""
    import ctypes

    x = np.ascontiguousarray(x, dtype="float64")
    grad, value = np.empty(x.size), np.empty(1)
    pointer = ctypes.POINTER(ctypes.c_double)
    status = callback.ctypes(
        x.size, x.ctypes.data_as(pointer), grad.ctypes.data_as(pointer), value.ctypes.data_as(pointer),
        ctypes.c_void_p(user_data.ctypes.data),
    )  # fmt: skip
    if status != 0:
        return np.nan, grad
    return float(value[0]), grad


def free_variables(compiled) -> list[tuple[str, tuple[int, ...]]]:
    """The name and shape of each free value variable of nutpie's compiled model, in its order: the first
    of its variables, whose sizes add up to its dimension (the expansion's follow)."""
    names, _, shapes = compiled.shape_info
    free, size = [], 0
    for name, shape in zip(names, shapes, strict=True):
        if size == compiled.n_dim:
            break
        free.append((name, tuple(shape)))
        size += int(np.prod(shape, dtype=int))
    return free


@dataclasses.dataclass(frozen=True)
class FusedPyMCModel(CompiledPyMCModel):
    """nutpie's ``CompiledPyMCModel`` whose sampler calls :data:`_logp_callback` on :attr:`fused_layout`;
    ``with_data`` refills the layout's counts. ``_make_model`` is nutpie's with the log-density replaced."""

    fused_layout: Layout | None = None

    def with_data(self, **updates):
        new = super().with_data(**updates)
        values = {var.name: new.shared_data[key] for var, key in new.shared_var_keys.items()}
        new = dataclasses.replace(new, fused_layout=self.fused_layout.with_counts(values))
        if new.agrees():
            return new
        fields = {f.name: getattr(new, f.name) for f in dataclasses.fields(CompiledPyMCModel)}
        return CompiledPyMCModel(**fields)

    def header(self) -> np.ndarray:
        """What the callback's user data points to: the addresses and lengths of the layout's arrays."""
        arrays = self.fused_layout
        return np.array([arrays.ints.ctypes.data, arrays.ints.size, arrays.floats.ctypes.data,
                         arrays.floats.size], dtype="int64")  # fmt: skip

    def callback_log_density(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """The log-density and gradient at ``x`` through :data:`_logp_callback`, as the sampler calls it."""
        return _call(_logp_callback, x, self.header())

    def agrees(self, points: int = 3, rtol: float = 1e-8) -> bool:
        """Whether the callback the sampler calls (:meth:`callback_log_density`) gives PyTensor's
        log-density and gradient (:func:`graph_log_density`) at the origin and at random points of the
        unconstrained space (sds from about e^-2 to e^2); warns if not."""
        rng = np.random.default_rng(20171201)
        for scale in np.linspace(0.0, 1.0, points):
            x = rng.normal(0.0, scale, self.n_dim)
            expected, expected_grad = graph_log_density(self, x)
            value, grad = self.callback_log_density(x)
            tolerance = rtol * max(1.0, float(np.abs(expected_grad).max()))
            if not (np.isclose(value, expected, rtol=rtol) and np.allclose(grad, expected_grad, rtol=rtol,
                                                                          atol=tolerance)):  # fmt: skip
                warnings.warn(
                    f"the hand-written destinations log-density gives {value!r} where PyTensor's gives "
                    f"{expected!r} (largest gradient difference {np.abs(grad - expected_grad).max():.3g}): "
                    "sampling with PyTensor's",
                    RuntimeWarning,
                    stacklevel=3,
                )
                return False
        return True

    def _make_model(self, init_mean):
        from nutpie import _lib

        header = self.header()
        logp = _lib.LogpFunc(_logp_callback.address, header.ctypes.data, (self, header))  # kept alive with it
        expand = _lib.ExpandFunc(self.n_dim, self.n_expanded, self.compiled_expand_func.address,
                                 self.user_data.ctypes.data, self)  # fmt: skip
        var_names, _, var_shapes = self.shape_info
        coords = self._coords.copy() if self._coords is not None else {}
        dim_sizes = {name: len(values) for name, values in coords.items()}
        dims = self.dims.copy() if self.dims is not None else {}
        variables = _lib.PyVariable.new_variables(var_names, ["float64"] * len(var_names), var_shapes,
                                                  dim_sizes, dims)  # fmt: skip
        adapt = self._transform_adapt_args or {}

        def make_adapter(*args, **kwargs):
            from nutpie.transform_adapter import make_transform_adapter

            return make_transform_adapter(**adapt)(*args, **kwargs, logp_fn=None)

        return _lib.PyMcModel(logp, expand, variables, self.n_dim, dim_sizes, coords, self.initial_point_func,
                              make_adapter)  # fmt: skip
