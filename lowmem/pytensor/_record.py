"""Sizes of a PyTensor function's values, learned by running its graph once
with each op's Python implementation (the recording call).

The compiled backends (Numba's one generated function, the C VM) do not
show their intermediate values, so the first call runs the graph node by
node with Python thunks (``op.make_thunk(..., impl="py")``) on copies of
the inputs any node destroys (so the real call that follows sees them
untouched, random generators included), frees each value after its last
reader as the default order would, and reads every value's bytes and shape.

With ``impl=None`` the recording runs the thunks the Python loop VM runs
(C code where the op has it, as ``op.make_thunk`` chooses), and with a
``workspace`` dict it also measures each node's scratch: the peak of
traced memory (tracemalloc, which sees NumPy's array data) while the thunk
runs, above what is allocated once it returns. PyTensor's C Gemm without a
BLAS library (``blas__ldflags`` empty, the NumPy fallback in
``alt_blas_template.c``) computes ``dot(x, y)`` into a temporary as large
as its output before adding it in place: on a training step's weight
updates that is a weight's size of scratch per update, which the sizes
alone miss (issue 12: 3.2 MB of skip_mlp_train's 13.0 MB). The Numba
backend's allocations go through its own runtime, out of tracemalloc's
sight, and its ops are not the Python ones: its plans measure no workspace.
"""

import copy
import functools
import tracemalloc

import numpy as np
from pytensor.scalar import basic as ps
from pytensor.tensor.elemwise import Elemwise
from pytensor.tensor.shape import Reshape

from .._bridge import alias_inputs, shares_memory, variable_nbytes


def _scalar_numpy(op, args):
    """A scalar op applied to arrays with NumPy, or None when there is no
    NumPy equivalent here (the caller then uses the op's own code)."""
    if isinstance(op, ps.Cast):
        return np.asarray(args[0]).astype(op.o_type.dtype)
    if isinstance(op, ps.Identity):
        return args[0]
    if isinstance(op, ps.Second):
        return np.broadcast_to(args[1], np.broadcast_shapes(*(np.shape(a) for a in args)))
    spec = getattr(op, "nfunc_spec", None)
    fn = getattr(np, spec[0], None) if spec else None
    if fn is None or spec[2] != 1:
        return None
    if len(args) > spec[1]:
        if spec[1] != 2 or fn not in (np.add, np.multiply, np.maximum, np.minimum):
            return None
        return functools.reduce(fn, args)           # variadic add, mul, ...
    return fn(*args) if len(args) == spec[1] else None


def _elemwise_numpy(node, inputs):
    """The outputs of an Elemwise node computed with whole-array NumPy calls,
    or None. PyTensor's Python code for an Elemwise of a Composite calls the
    scalar code once per element (np.frompyfunc): seconds on a training
    step's arrays, where NumPy takes milliseconds. The values are the
    same computation (rounding may differ in the last place: only sizes and
    shapes are kept, and later nodes' shapes do not depend on such bits)."""
    scalar = node.op.scalar_op
    if isinstance(scalar, ps.Composite):
        env = dict(zip(scalar.fgraph.inputs, inputs))
        for inner in scalar.fgraph.toposort():
            args = [env[v] if v in env else np.asarray(v.data) for v in inner.inputs]
            value = _scalar_numpy(inner.op, args)
            if value is None:
                return None
            env[inner.outputs[0]] = value
        values = [env[v] if v in env else np.asarray(v.data) for v in scalar.fgraph.outputs]
    else:
        value = _scalar_numpy(scalar, list(inputs))
        if value is None:
            return None
        values = [value]
    shape = np.broadcast_shapes(*(np.shape(a) for a in inputs))
    return [np.array(np.broadcast_to(np.asarray(v, dtype=out.type.dtype), shape))
            for v, out in zip(values, node.outputs)]


def destroyed_inputs(fgraph, nodes):
    """Graph inputs some node overwrites (destroy_map), directly or through
    views of them (view_map chains: a random op overwriting a view of a
    shared generator advances the generator itself). `nodes` in
    topological order. O(nodes + edges)."""
    inputs = set(fgraph.inputs)
    base = {var: var for var in inputs}         # variable -> the graph input it views
    out = set()
    for node in nodes:
        for ins in getattr(node.op, "destroy_map", {}).values():
            for i in ins:
                if node.inputs[i] in base:
                    out.add(base[node.inputs[i]])
        for table in (getattr(node.op, "view_map", {}), getattr(node.op, "destroy_map", {})):
            for o, ins in table.items():
                for i in ins:
                    if node.inputs[i] in base and 0 <= o < len(node.outputs):
                        base[node.outputs[o]] = base[node.inputs[i]]
    return out


WORKSPACE_NOISE_BYTES = 4096     # below this, a thunk's transient bytes are noise


def record(fgraph, nodes, input_values, impl="py", workspace=None, copies=None,
           copies_here=None):
    """Run `nodes` (a topological order of fgraph) on `input_values` (one per
    fgraph input) with Python thunks (``impl="py"``) or the ops' default
    thunks (``impl=None``: C code where there is some, as the VM runs).
    Returns (sizes, shapes): variable -> bytes, variable -> shape tuple
    (arrays only). If `workspace` is a dict, it receives Apply node ->
    scratch bytes (the thunk's traced peak above what it leaves allocated,
    when at least WORKSPACE_NOISE_BYTES; tracemalloc is started for the call
    if it is not on, and its peak is reset). If `copies` is a set, it
    receives the (node, output position) pairs that declare a view but were
    copies on this call: the recorded output does not share the input's
    memory, or `copies_here(node, position,
    input_value)` says the backend copies there (the Numba backend's
    Reshape: numba_copies). The inputs are not modified. Raises whatever an
    op raises (the caller falls back). (Destroy maps are taken as declared:
    the recording's NumPy shortcut for Elemwise writes new arrays where the
    compiled code works in place.)"""
    args = (fgraph, nodes, input_values, impl, workspace, copies, copies_here)
    if workspace is None:
        return _record(*args)
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        return _record(*args)
    finally:
        if started:
            tracemalloc.stop()


def numba_copies(node, position, input_value):
    """Whether PyTensor's Numba code copies where `node` declares output
    `position` an alias of an input holding `input_value`: its Reshape
    reshapes ``np.ascontiguousarray(x)`` (pytensor/link/numba/dispatch/
    shape.py), a copy whenever x is not C-contiguous, where NumPy's reshape
    (the recording's) may still give a view (zoo:inception_train: each
    weight gradient reshapes a slice of a Split)."""
    return (isinstance(node.op, Reshape) and isinstance(input_value, np.ndarray)
            and not input_value.flags.c_contiguous)


def _record(fgraph, nodes, input_values, impl, workspace, copies, copies_here):
    spoiled = destroyed_inputs(fgraph, nodes)
    storage_map, compute_map = {}, {}
    for var, value in zip(fgraph.inputs, input_values):
        storage_map[var] = [copy.deepcopy(value) if var in spoiled else value]
        compute_map[var] = [True]
    keep = set(fgraph.inputs) | set(fgraph.outputs)
    last_reader = {}
    for position, node in enumerate(nodes):
        for var in node.inputs:
            last_reader[var] = position
    sizes, shapes = {}, {}

    def note(var, value):
        sizes[var] = variable_nbytes(var, value)
        shape = getattr(value, "shape", None)
        if isinstance(shape, tuple):
            shapes[var] = shape

    for var, cell in storage_map.items():
        note(var, cell[0])
    for position, node in enumerate(nodes):
        for var in node.inputs:
            if var not in storage_map:          # a constant
                # A copy: an op may write into an input it does not declare
                # destroyed (Scan's Python code writes its loop state into
                # the initial value), and a constant is shared by every
                # call and every function that uses it.
                storage_map[var] = [copy.deepcopy(getattr(var, "data", None))]
                compute_map[var] = [True]
        for var in node.outputs:
            storage_map[var] = [None]
            compute_map[var] = [False]
        fast = None
        if impl == "py" and isinstance(node.op, Elemwise) and len(node.outputs) >= 1:
            fast = _elemwise_numpy(node, [storage_map[v][0] for v in node.inputs])
        if fast is not None and len(fast) == len(node.outputs):
            for var, value in zip(node.outputs, fast):
                storage_map[var][0] = value
        else:
            thunk = node.op.make_thunk(node, storage_map, compute_map, [], impl=impl)
            if workspace is None:
                thunk()
            else:
                tracemalloc.reset_peak()
                thunk()
                after, peak = tracemalloc.get_traced_memory()
                if peak - after >= WORKSPACE_NOISE_BYTES:
                    workspace[node] = peak - after
        for var in node.outputs:
            note(var, storage_map[var][0])
        if copies is not None:
            for pos, i in alias_inputs(node, destroy=False).items():
                value, source = storage_map[node.outputs[pos]][0], storage_map[node.inputs[i]][0]
                if not shares_memory(value, source) or (
                        copies_here is not None and copies_here(node, pos, source)):
                    copies.add((node, pos))
        for var in node.inputs:
            if last_reader.get(var) == position and var not in keep:
                storage_map[var][0] = None
    return sizes, shapes
