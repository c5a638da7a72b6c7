"""nutpie's compiled PyMC model (numba backend) with its two C callbacks cached on disk across processes.

``nutpie.compile_pymc_model`` compiles the log-density (and gradient) and the draw-expansion function as
PyTensor functions, whose numba code PyTensor caches in ``~/.pytensor/numba``, and then wraps each in a
``numba.cfunc`` that the Rust sampler calls. Those wrappers are closures over per-process objects, which
numba cannot cache ("uses dynamic globals"), so every fresh process compiles them again: linking the cached
graph code into the wrapper recompiles it to machine code, and the wrapper's array copy compiles numba's
error-message formatting (measured: 15 of the job model's 21 s of compile in a fresh process with warm
caches; 6 s for a one-parameter model).

:func:`compile_pymc_model` builds the same model with wrappers written as source that refers to nothing
but numba, numpy and the graph's compiled function, registered with PyTensor's numba cache under a key
made of the two graphs' own PyTensor cache keys, this module's wrapper source and the numba and nutpie
versions: a fresh process loads them from the cache. A changed spec gives other graphs, so other keys;
an entry is never reused for another graph. When PyTensor cannot cache a graph (no cache key, or
``numba__cache`` off in ``PYTENSOR_FLAGS``) or ``WW_BAYES_NUTPIE_COMPILE=1`` is set, the wrappers are
nutpie's own. Same data, same seed: the same draws as nutpie's compile (tests/test_reproducible.py).

Before the wrappers, nutpie builds the two functions from the model's graph: PyTensor rewrites the graph
(most of a warm fresh process's compile). Given a ``structure`` (what the graph depends on besides the
code: the caller's spec structure, levels, cell count and likelihood), the built functions are also
pickled to ``<PyTensor compiledir>/ww_bayes_functions/`` under a key of that structure, the variable names,
the data's shapes and dtypes, the source of every ww_bayes module, the library versions and the PyTensor
flags that shape the code; a fresh process unpickles them (no rewriting) and gives them its own data. The
start function (PyMC's jittered support point, a function of the seed) is kept with them: loaded, it
gives PyMC's start for each seed (tests/test_reproducible.py). The data values are zeroed in the pickle: the
cache holds no counts.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pymc as pm

from ww_bayes.data.io import atomic_write

#: The C signatures nutpie's sampler calls: logp(dim, x, grad out, logp out, user data) and
#: expand(dim, n_expanded, x, out, user data).
_LOGP_SIG = "int64(uint64, CPointer(double), CPointer(double), CPointer(double), voidptr)"
_EXPAND_SIG = "int64(uint64, uint64, CPointer(double), CPointer(double), voidptr)"
#: Set to "1" to compile with nutpie's own wrappers (no disk cache for them): benchmarks/bench_fit.py's
#: "before" column.
BYPASS = "WW_BAYES_NUTPIE_COMPILE"
#: Part of every cache key: raise it when the wrappers change in a way their source does not show.
CACHE_FORMAT = 3
#: Libraries whose versions are part of the built functions' cache key.
LIBRARIES = ("pymc", "pytensor", "nutpie", "numba", "numpy")


def compile_pymc_model(model: pm.Model, var_names: list[str], structure: str | None = None):
    """``nutpie.compile_pymc_model(model, var_names=var_names)`` (numba backend, support-point start with
    jitter), its C callbacks from the PyTensor numba cache when a process compiled them before and, with
    ``structure`` (everything the model's graph depends on but the code and the data values), its built
    log-density and expansion functions from the disk cache too."""
    import nutpie

    if os.environ.get(BYPASS) == "1":
        return nutpie.compile_pymc_model(model, var_names=var_names)
    try:
        return _compile_cached(model, var_names, structure)
    except Exception as error:  # noqa: BLE001 - an unreadable cache entry or a changed nutpie must not stop a fit
        warnings.warn(f"the cached sampler could not be used ({error!r}): compiling it in this process",
                      RuntimeWarning, stacklevel=2)  # fmt: skip
        return nutpie.compile_pymc_model(model, var_names=var_names)


def _compile_cached(model: pm.Model, var_names: list[str], structure: str | None):
    import nutpie
    from nutpie import compile_pymc as nc

    path = functions_path(model, var_names, structure) if structure is not None else None
    built = load_pickled(path) if path is not None else None
    if built is None:
        start = _start_function(model)
        made = nc._make_functions(model, mode="NUMBA", compute_grad=True, join_expanded=True,
                                  pymc_initial_point_fn=nc._wrap_with_lock(start),
                                  var_names=var_names)  # fmt: skip
        n_dim, n_expanded, logp_pt, expand_pt, initial_point, shape_info, reparameterized = made
        if path is not None:
            try:
                _store_functions(path, (n_dim, n_expanded, logp_pt, expand_pt, shape_info, reparameterized,
                                        start.__wrapped__))  # fmt: skip
            except Exception as error:  # noqa: BLE001 - built already: an unwritable cache is not fatal
                warnings.warn(f"{path}: could not be written ({error!r}); the next process builds them again",
                              RuntimeWarning, stacklevel=3)  # fmt: skip
    else:  # the model's own data go in below (and into the start function)
        n_dim, n_expanded, logp_pt, expand_pt, shape_info, reparameterized, compiled_start = built
        start = _seeded_start(compiled_start, model)
        if start is None:  # a variable the model does not have: PyMC's own, compiled here
            warnings.warn(f"{path.name}: the kept start function reads variables this model does not have; "
                          "compiling it", RuntimeWarning, stacklevel=3)  # fmt: skip
            start = _start_function(model)
        start = nc._wrap_with_lock(start)
        names, _, shapes = shape_info
        free = len(model.free_RVs)
        initial_point = nc._rv_dict_to_flat_array_wrapper(start, names=names[:free],
                                                          shapes=shapes[:free])  # fmt: skip
    keys = [_graph_key(logp_pt), _graph_key(expand_pt)]
    if None in keys:  # a graph PyTensor does not cache: nutpie's wrappers, compiled in this process
        return nutpie.compile_pymc_model(model, var_names=var_names)

    shared_data, shared_var_keys, own = {}, {}, shared_variables(model)
    for var in dict.fromkeys([*logp_pt.get_shared(), *expand_pt.get_shared()]):
        key = f"v{len(shared_var_keys)}"  # nutpie uses random keys; only the order matters to the wrappers
        value = var.get_value() if built is None else own[var.name].get_value()  # a loaded one holds zeros
        shared_data[key] = np.array(value, order="C", copy=True)
        shared_data[key].flags.writeable = False
        shared_var_keys[var] = key
    user_data = nc.make_user_data(shared_var_keys, shared_data)
    order = list(shared_var_keys)
    logp, expand = (
        _wrapper(which, fn, [order.index(v) for v in fn.get_shared()], shared_data, n_dim, n_expanded, keys)
        for which, fn in (("logp", logp_pt), ("expand", expand_pt))
    )
    dims, coords = nc._prepare_dims_and_coords(model, shape_info, reparameterized)
    return nc.CompiledPyMCModel(
        _n_dim=n_dim, dims=dims, _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info, strict=True)},
        compiled_logp_func=logp, compiled_expand_func=expand, initial_point_func=initial_point,
        shared_data=shared_data, shared_var_keys=shared_var_keys, user_data=user_data, n_expanded=n_expanded,
        shape_info=shape_info, logp_func=logp_pt, expand_func=expand_pt,
        reparameterized_names=reparameterized,
    )  # fmt: skip


# --- the built functions, pickled ------------------------------------------------------------------------


@functools.cache
def _source_digest() -> str:
    """SHA-256 of every ww_bayes module's source: a changed model code gives other keys."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def shared_variables(model: pm.Model) -> dict:
    """The model's shared variables by name: its data (``pm.Data``) and the lengths of its dims that are
    shared (PyMC keeps a dim's length as a shared variable named after the dim)."""
    from pytensor.compile.sharedvalue import SharedVariable

    lengths = {name: n for name, n in model.dim_lengths.items() if isinstance(n, SharedVariable)}
    return {**lengths, **{var.name: var for var in model.data_vars}}


def functions_path(
    model: pm.Model, var_names: list[str], structure: str, prefix: str = "ww_bayes_functions"
) -> Path:
    """Where the built functions of ``model`` are kept: a file named by the SHA-256 of ``structure``, the
    variable names, the shapes and dtypes of the model's data (and the lengths of its shared dims), the
    ww_bayes source, the library versions and the PyTensor flags that shape the compiled code, in the
    folder ``prefix`` of PyTensor's compiledir (``prefix``: what is kept there, so that two caches never
    share a file)."""
    from pytensor.configdefaults import config

    shared = {name: var.get_value() for name, var in shared_variables(model).items()}
    data = sorted((name, value.shape, str(value.dtype)) for name, value in shared.items())
    lengths = sorted((name, int(shared[name])) for name in shared if name in model.dim_lengths)
    flags = {name: str(getattr(config, name)) for name in ("numba__fastmath", "floatX", "mode", "linker")}
    parts = [str(CACHE_FORMAT), structure, repr(sorted(var_names)), repr(data), repr(lengths),
             repr(model.check_bounds), _source_digest(), repr(sorted(flags.items())),
             *(version(lib) for lib in LIBRARIES)]  # fmt: skip
    key = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return cache_root() / prefix / f"{prefix}_{key}.pkl"


def cache_root() -> Path:
    """The folder of the pickled functions' folders: PyTensor's compiledir (``base_compiledir`` in
    ``PYTENSOR_FLAGS`` moves it)."""
    from pytensor.configdefaults import config

    return Path(config.compiledir)


def _store_functions(path: Path, built: tuple) -> None:
    """Pickle the built functions with every data value zeroed (the model's own values are put back)."""
    from pymc.pytensorf import find_rng_nodes

    logp_pt, expand_pt, start = built[2], built[3], built[6]
    rngs = find_rng_nodes(start.maker.fgraph.outputs)
    held = [var for var in start.get_shared() if var not in rngs]
    shared = list(dict.fromkeys([*logp_pt.get_shared(), *expand_pt.get_shared(), *held]))
    values = [var.get_value(borrow=True) for var in shared]
    try:
        for var, value in zip(shared, values, strict=True):
            var.set_value(_blank(value))
        blob = pickle.dumps(built, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        for var, value in zip(shared, values, strict=True):
            var.set_value(value, borrow=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: tmp.write_bytes(blob))


def _blank(value: np.ndarray) -> np.ndarray:
    """What a data value is stored as: zeros of its shape and dtype."""
    return np.zeros_like(value)


def _start_function(model: pm.Model):
    """nutpie's start: PyMC's support point of every free variable with a uniform(-1, 1) jitter on the
    sampler's scale, a function of the seed. Its compiled function (``__wrapped__``) is kept with the built
    functions: compiling it rewrites a graph with a random draw per variable (a destinations model: 1.4 s,
    3 s as a process's first compile; loading it: 0.2 s)."""
    from pymc.initial_point import make_initial_point_fn

    return make_initial_point_fn(model=model, overrides=None, default_strategy="support_point",
                                 jitter_rvs=set(model.free_RVs), return_transformed=True)  # fmt: skip


def _seeded_start(compiled, model: pm.Model):
    """The start function around a loaded compiled one, as PyMC's ``make_initial_point_fn`` wraps it: the
    random generators reseeded per call, the values named by the free variables (on the sampler's scale).
    The model's own data and dim lengths replace the stored zeros; None if it holds another variable."""
    from pymc.pytensorf import find_rng_nodes, reseed_rngs
    from pymc.util import get_transformed_name

    own = shared_variables(model)
    rngs = find_rng_nodes(compiled.maker.fgraph.outputs)
    held = [var for var in compiled.get_shared() if var not in rngs]
    if any(var.name not in own for var in held):
        return None
    for var in held:
        var.set_value(own[var.name].get_value())
    names = []
    for var in model.free_RVs:
        transform = model.rvs_to_transforms[var]
        names.append(get_transformed_name(var.name, transform) if transform is not None else var.name)

    def start(seed, *args, **kwargs):
        reseed_rngs(rngs, seed)
        return dict(zip(names, compiled(*args, **kwargs), strict=True))

    return start


def load_pickled(path: Path):
    """What this module (or ``ww_bayes.postprocess``) pickled to ``path``, or None (not there, or unreadable,
    with a warning: then it is built again)."""
    if not path.is_file():
        return None
    try:
        return pickle.loads(path.read_bytes())  # noqa: S301 - written by this module, in the user's own cache
    except Exception as error:  # noqa: BLE001 - a truncated or incompatible entry is rebuilt, not fatal
        warnings.warn(f"{path}: could not be read ({error!r}); rebuilding it", RuntimeWarning, stacklevel=3)
        return None


def _graph_key(function) -> str | None:
    """PyTensor's numba cache key of a compiled function's graph (None: PyTensor does not cache it)."""
    from pytensor.configdefaults import config
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    return CACHED_SRC_FUNCTIONS.get(function.vm.jit_fn.py_func) if config.numba__cache else None


def _wrapper(which: str, function, indices: list[int], shared_data: dict, n_dim: int, n_expanded: int,
             keys: list[str]):  # fmt: skip
    """The C callback ``which`` ("logp" or "expand") around ``function``'s numba code, cached.

    nutpie's user data is a packed record of 8-byte fields: the data pointers of the shared variables,
    their sizes, then each one's shape; ``indices`` are the positions of ``function``'s shared inputs in it.
    """
    import numba
    from nutpie.compile_pymc import address_as_void_pointer
    from pytensor.link.numba.cache import compile_numba_function_src

    arrays = list(shared_data.values())
    n = len(arrays)
    shape_at = np.cumsum([0] + [a.ndim for a in arrays])[:-1] + 2 * n
    header = 2 * n + sum(a.ndim for a in arrays)
    lines = [f"    header = numba.carray(user_data_, ({header},), np.uint64)"] if indices else []
    for j, i in enumerate(indices):
        shape = ", ".join(f"int(header[{shape_at[i] + d}])" for d in range(arrays[i].ndim))
        lines.append(
            f"    d{j} = numba.carray(pointer(header[{i}]), ({shape}{',' if arrays[i].ndim == 1 else ''}), "
            f"np.{arrays[i].dtype.name})"
        )
    data = "".join(f", d{j}" for j in range(len(indices)))
    if which == "logp":
        source = f"""
def ww_bayes_logp(dim, x_, out_, logp_, user_data_):
    if dim != {n_dim}:
        return -1
    try:
{_indent(lines)}
        x = numba.carray(x_, ({n_dim},))
        logp_val, grad = inner(x{data})
        for i in range({n_dim}):
            out_[i] = grad[i]
        logp_[0] = logp_val
        for i in range({n_dim}):
            if not np.isfinite(out_[i]):
                return 3
        if not np.isfinite(logp_val):
            return 4
    except Exception:
        return 1
    return 0
"""
        signature = _LOGP_SIG
    else:
        source = f"""
def ww_bayes_expand(dim, expanded, x_, out_, user_data_):
    if dim != {n_dim}:
        return -1
    if expanded != {n_expanded}:
        return -1
    try:
{_indent(lines)}
        x = numba.carray(x_, ({n_dim},))
        (values,) = inner(x{data})
        for i in range({n_expanded}):
            out_[i] = values[i]
    except Exception:
        return -2
    return 0
"""
        signature = _EXPAND_SIG
    parts = [str(CACHE_FORMAT), *keys, source, numba.__version__, version("nutpie"), version("ww_bayes")]
    key = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    env = {"__name__": __name__, "numba": numba, "np": np, "pointer": address_as_void_pointer,
           "inner": function.vm.jit_fn}  # fmt: skip
    py_func = compile_numba_function_src(source, f"ww_bayes_{which}", env, cache_key=f"ww_bayes_{key}")
    return numba.cfunc(signature, cache=True)(py_func)


def _indent(lines: list[str]) -> str:
    return "\n".join("    " + line for line in lines)
