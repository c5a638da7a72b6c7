"""Deterministics over all posterior draws at once, compiled once per model structure.

``pm.compute_deterministics`` compiles a function of one draw and calls it for every draw (8,000 calls for a
12-month fit, 12,000 for the trajectory: 0.5-2 s of Python per fit) and compiles it again on every call.
:func:`deterministics` computes the same values (``tests/test_postprocess.py``: equal to PyMC's to
rounding) with the model's graph vectorised over a batch of draws (``pytensor.graph.vectorize_graph``),
called on chunks of draws, and with the model's data as inputs rather than compiled in, so one compiled
function serves every fit of the same structure in a process (the calibration studies, a notebook that
refits). The compile mode is the caller's: ``fit`` runs it with PyTensor's Python linker
(``inference.POSTPROCESS_COMPILE``: numpy on whole chunks, no machine code to build on a new machine).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pymc as pm
import pytensor
import xarray as xr
from pytensor.compile.ops import ViewOp
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.replace import graph_replace, vectorize_graph
from pytensor.graph.traversal import applys_between, graph_inputs

#: Draws per call of the vectorised function: bounds the memory of the intermediate arrays (a trajectory
#: fit's cell rates are 900 cells x 30 months per draw).
CHUNK_DRAWS = 250

_FUNCTIONS: dict[tuple, tuple] = {}


def _compiled(model: pm.Model, names: list[str], structure: str | None, compile_kwargs: dict):
    """(function, free RV names, data names): the deterministics ``names`` of a batch of draws of the free
    RVs and the model's data; reused for a model of the same ``structure`` (None: not reused)."""
    key = (structure, tuple(names), tuple(sorted(compile_kwargs.items())))
    if structure is not None and key in _FUNCTIONS:
        return _FUNCTIONS[key]
    free = list(model.free_RVs)
    outputs = _without_views([model[name] for name in names], free)
    batched = {rv: rv.type.clone(shape=(None, *rv.type.shape))(name=rv.name) for rv in free}
    data_names = {var.name for var in model.data_vars}
    data = [
        var
        for var in graph_inputs(outputs, blockers=free)
        if isinstance(var, SharedVariable) and var.name in data_names
    ]
    inputs = {var: var.type(name=var.name) for var in data}  # the data as inputs, not compiled-in values
    vectorised = vectorize_graph(outputs, replace=batched)
    vectorised = graph_replace(vectorised, inputs, strict=False)
    function = pytensor.function(
        [*batched.values(), *inputs.values()], vectorised, on_unused_input="ignore", **compile_kwargs
    )
    entry = (function, [rv.name for rv in free], [var.name for var in data])
    if structure is not None:
        _FUNCTIONS[key] = entry
    return entry


def _without_views(outputs: list, free: list) -> list:
    """The outputs' graph without the ``ViewOp`` that marks each ``pm.Deterministic`` (vectorised, each
    would become a ``Blockwise`` copy, 12 of them in a 12-month model)."""
    views = {
        node.outputs[0]: node.inputs[0]
        for node in applys_between(free, outputs)
        if isinstance(node.op, ViewOp)
    }
    while views:  # a view of a view: replace until none is left
        outputs = graph_replace(outputs, views, strict=False)
        views = {node.outputs[0]: node.inputs[0] for node in applys_between(free, outputs)
                 if isinstance(node.op, ViewOp)}  # fmt: skip
    return list(outputs)


def deterministics(
    posterior: xr.Dataset,
    model: pm.Model,
    *,
    var_names: Sequence[str] | None = None,
    structure: str | None = None,
    compile_kwargs: dict | None = None,
) -> xr.Dataset:
    """The model's deterministics (or ``var_names`` of them) for every draw of ``posterior`` (dims chain,
    draw), as ``pm.compute_deterministics(posterior, model=model, var_names=var_names)`` gives them.
    ``structure``: a string that fixes the model's graph up to its data values (``inference``'s structure
    key); a compiled function is reused for later calls with the same structure (None: compiled anew)."""
    names = [d.name for d in model.deterministics] if var_names is None else list(var_names)
    unknown = sorted(set(names) - {d.name for d in model.deterministics})
    if unknown:
        raise ValueError(f"not deterministics of the model: {unknown}")
    if not names:
        return xr.Dataset()
    function, free, data = _compiled(model, names, structure, dict(compile_kwargs or {}))
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    flat = [
        np.asarray(posterior[name].transpose("chain", "draw", ...).values, dtype=model[name].dtype).reshape(
            n_chain * n_draw, *posterior[name].shape[2:]
        )
        for name in free
    ]
    data_values = [model[name].get_value() for name in data]
    total = n_chain * n_draw
    values: list[np.ndarray] = []
    for start in range(0, total, CHUNK_DRAWS):
        chunk = function(*(draws[start : start + CHUNK_DRAWS] for draws in flat), *data_values)
        if not values:  # one array per output, filled chunk by chunk
            values = [np.empty((total, *part.shape[1:]), dtype=part.dtype) for part in chunk]
        for whole, part in zip(values, chunk, strict=True):
            whole[start : start + len(part)] = part
    dims = model.named_vars_to_dims
    coords = {name: np.asarray(labels) for name, labels in model.coords.items() if labels is not None}
    out = xr.Dataset(coords={"chain": posterior["chain"], "draw": posterior["draw"]})
    for name, whole in zip(names, values, strict=True):
        shaped = whole.reshape(n_chain, n_draw, *whole.shape[1:])
        var_dims = ("chain", "draw", *dims.get(name, [f"{name}_dim_{k}" for k in range(shaped.ndim - 2)]))
        out[name] = xr.DataArray(
            shaped, dims=var_dims, coords={d: coords[d] for d in var_dims[2:] if d in coords}
        )
    return out
