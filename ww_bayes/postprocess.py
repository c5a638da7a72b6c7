"""Deterministics over all posterior draws at once, compiled once per model structure.

``pm.compute_deterministics`` compiles a function of one draw and calls it for every draw (8,000 calls for a
12-month fit, 12,000 for the trajectory: 0.5-2 s of Python per fit) and compiles it again on every call.
:func:`deterministics` computes the same values (``tests/test_postprocess.py``: equal to PyMC's to
rounding) with the model's graph vectorised over a batch of draws (``pytensor.graph.vectorize_graph``),
called on chunks of draws, and with the model's data as inputs rather than compiled in, so one compiled
function serves every fit of the same structure in a process (the calibration studies, a notebook that
refits). The compile mode is the caller's: ``fit`` runs it with PyTensor's Python linker
(``inference.POSTPROCESS_COMPILE``: numpy on whole chunks, no machine code to build on a new machine).

Compiling rewrites the vectorised graph (a destinations fit's cell shares: about a second), so with a
``structure`` the compiled function is also pickled to ``<PyTensor compiledir>/ww_bayes_postprocess/``
under a key of the structure, the names in their order, the model's data shapes, the values of the graph's
constants, the ww_bayes source, the library versions and the compile mode
(``ww_bayes.sampler.functions_path``): a fresh process loads it instead of compiling. The model's data
(``pm.Data``) are the function's inputs, so the file holds none of their values; constants of the graph
(a spec's prior means, the layout of the categories) are in it. The in-process cache is keyed the same
way, inner graphs' constants included. A graph the key cannot describe (a constant that is neither a
number array nor None nor a slice) is compiled on every call, and one compiled with a mode other than the
Python linker's is not kept on disk; an unreadable entry, or one whose inputs are not this model's, is
compiled again.
"""

from __future__ import annotations

import hashlib
import pickle
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pymc as pm
import pytensor
import xarray as xr
from pytensor.compile.mode import Mode
from pytensor.compile.ops import ViewOp
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.configdefaults import config
from pytensor.graph.basic import Constant
from pytensor.graph.op import HasInnerGraph
from pytensor.graph.replace import graph_replace, vectorize_graph
from pytensor.graph.rewriting.db import RewriteDatabaseQuery
from pytensor.graph.traversal import applys_between, graph_inputs
from pytensor.link.basic import PerformLinker

#: Draws per call of the vectorised function: bounds the memory of the intermediate arrays (a trajectory
#: fit's cell rates are 900 cells x 30 months per draw).
CHUNK_DRAWS = 250

_FUNCTIONS: dict[tuple, tuple] = {}


def _compiled(model: pm.Model, names: list[str], structure: str | None, compile_kwargs: dict):
    """(function, free RV names, data names): the deterministics ``names`` of a batch of draws of the free
    RVs and the model's data; reused for a model of the same ``structure`` (None: not reused)."""
    free = list(model.free_RVs)
    outputs = _without_views([model[name] for name in names], free)
    data_names = {var.name for var in model.data_vars}
    data = [
        var
        for var in graph_inputs(outputs, blockers=free)
        if isinstance(var, SharedVariable) and var.name in data_names
    ]
    constants = _constants_digest(outputs, free) if structure is not None else None
    key = (structure, tuple(names), tuple(sorted(compile_kwargs.items())), constants)
    reusable = structure is not None and constants is not None
    if reusable and key in _FUNCTIONS:
        return _FUNCTIONS[key]
    path = _cache_path(model, names, structure, compile_kwargs, constants) if constants is not None else None
    inputs_named = [*(rv.name for rv in free), *(var.name for var in data)]
    function = _load(path, inputs_named) if path is not None else None
    if function is None:
        batched = {rv: rv.type.clone(shape=(None, *rv.type.shape))(name=rv.name) for rv in free}
        inputs = {var: var.type(name=var.name) for var in data}  # the data as inputs, not compiled-in values
        vectorised = vectorize_graph(outputs, replace=batched)
        vectorised = graph_replace(vectorised, inputs, strict=False)
        function = pytensor.function(
            [*batched.values(), *inputs.values()], vectorised, on_unused_input="ignore", **compile_kwargs
        )
        if path is not None:
            _store(path, function)
    entry = (function, [rv.name for rv in free], [var.name for var in data])
    if reusable:
        _FUNCTIONS[key] = entry
    return entry


#: The folder of PyTensor's compiledir that holds the pickled post-processing functions.
CACHE_FOLDER = "ww_bayes_postprocess"


def _cache_path(
    model: pm.Model, names: list[str], structure: str, compile_kwargs: dict, constants: str
) -> Path | None:
    """The file of a compiled function (see the module's docstring): the structure, the names in their
    order (the outputs follow it), the compile mode and the digest of the graph's constants join
    ``sampler.functions_path``'s key. None when the mode is not one the key can describe."""
    from ww_bayes.sampler import functions_path

    modes = [(name, _mode_label(value)) for name, value in sorted(compile_kwargs.items())]
    if any(label is None for _, label in modes) or not config.unpickle_function:
        return None
    parts = [structure, repr(list(names)), repr(modes), constants]
    return functions_path(model, names, "\n".join(parts), prefix=CACHE_FOLDER)


def _constants_digest(outputs, free: list) -> str | None:
    """SHA-256 of the values of the constants the outputs' graph reads from the free RVs on (what the
    compiled function computes), inner graphs' (an ``OpFromGraph``'s, PyTensor's softmax) included, in
    the graph's order; None when a constant is other than a number array, None or a slice."""
    digest = hashlib.sha256()
    for value in _constants(outputs, free):
        if value is None or isinstance(value, slice):
            digest.update(repr(value).encode())
            continue
        value = np.asarray(value)
        if value.dtype.kind not in "biuf":
            return None
        digest.update(f"{value.dtype}{value.shape}".encode() + np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def _constants(outputs, blockers: list):
    """The values of the constants of the graph from ``blockers`` to ``outputs``, then of the inner graphs
    of its nodes (a blocker's own node is not computed: its values are given)."""
    inputs, given = graph_inputs(outputs, blockers=blockers), set(blockers)
    yield from (var.data for var in inputs if isinstance(var, Constant))
    for node in applys_between(inputs, outputs):
        if isinstance(node.op, HasInnerGraph) and not given.intersection(node.outputs):
            yield from _constants(node.op.inner_outputs, [])


def _mode_label(value) -> str | None:
    """A compile mode as text that is the same in every process (a ``Mode``'s repr holds addresses), or
    None when the text would not tell it from another: only the Python linker with a plain rewrite
    query is described."""
    if not isinstance(value, Mode):
        return repr(value) if isinstance(value, str | int | float | bool) or value is None else None
    query = value.provided_optimizer
    if not isinstance(value.linker, PerformLinker) or not isinstance(query, RewriteDatabaseQuery):
        return None
    if query.subquery or query.extra_rewrites or query.position_cutoff != np.inf:
        return None
    rewrites = [sorted(getattr(query, part) or ()) for part in ("include", "require", "exclude")]
    return f"PerformLinker {rewrites}"


def _store(path: Path, function) -> None:
    """Pickle a compiled function (its inputs hold no values of their own)."""
    from ww_bayes.data.io import atomic_write

    try:
        blob = pickle.dumps(function, protocol=pickle.HIGHEST_PROTOCOL)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: tmp.write_bytes(blob))
    except Exception as error:  # noqa: BLE001 - compiled already: an unwritable cache is not fatal
        warnings.warn(f"{path}: could not be written ({error!r}); the next process compiles it again",
                      RuntimeWarning, stacklevel=3)  # fmt: skip


def _load(path: Path, inputs: list[str]):
    """The compiled function kept at ``path``, or None (not there, unreadable, or with inputs other than
    ``inputs`` in that order: then it is compiled)."""
    from ww_bayes.sampler import load_pickled

    function = load_pickled(path)
    if function is None:
        return None
    kept = [put.variable.name for put in getattr(getattr(function, "maker", None), "inputs", ())]
    if kept != inputs:
        warnings.warn(f"{path}: its inputs {kept} are not this model's {inputs}; compiling it again",
                      RuntimeWarning, stacklevel=3)  # fmt: skip
        return None
    return function


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
