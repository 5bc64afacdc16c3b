"""Thunks that write into a preallocated output, for ops whose only
implementation here replaces it.

Storage sharing (_sharing.py) saves an allocation only when the op writes
into the array handed to it. Theano's C ops do; its Python ``perform``
implementations mostly do not. Without a BLAS library (``blas.ldflags``
empty, as in lowmem's environment) ``Dot22`` and ``Dot22Scalar``, the
dense layers of every MLP and transformer, have only their Python
implementation, which allocates ``np.dot(x, y)`` on every call. The
thunks below compute exactly what those ``perform`` methods do (the same
NumPy calls, so bit-for-bit the same results) but with ``out=`` when the
output cell holds a C-contiguous array of the right shape and dtype that
shares no memory with the inputs; otherwise they do what ``perform`` does.
"""

import numpy as np
# The C functions behind np.dot and np.may_share_memory, without NumPy's
# Python-level __array_function__ dispatch: the same computation, minus
# the per-call Python objects (a few KiB of them over a call, which
# tracemalloc sees and the memory model does not).
from numpy.core._multiarray_umath import dot as _dot, may_share_memory as _may_share
from theano.tensor.blas import Dot22, Dot22Scalar


def _fits(z, shape, dtype, inputs):
    return (type(z) is np.ndarray and z.shape == shape and z.dtype == dtype
            and z.flags.c_contiguous and z.flags.writeable
            and not _may_share(z, inputs[0]) and not _may_share(z, inputs[1]))


def preallocating_thunk(node, storage_map, compute_map):
    """A thunk for `node` that writes into its preallocated output, or None
    when lowmem has none for this op (Dot22 and Dot22Scalar only)."""
    if type(node.op) not in (Dot22, Dot22Scalar):
        return None
    in_cells = [storage_map[v] for v in node.inputs]
    out_cell = storage_map[node.outputs[0]]
    computed = compute_map[node.outputs[0]]
    dtype = np.dtype(node.outputs[0].type.dtype)
    scaled = type(node.op) is Dot22Scalar

    def thunk():
        x, y = in_cells[0][0], in_cells[1][0]
        z = out_cell[0]
        shape = (x.shape[0], y.shape[1]) if x.ndim == y.ndim == 2 else None
        if shape is not None and _fits(z, shape, dtype, (x, y)):
            _dot(x, y, z)
            if scaled:
                np.multiply(in_cells[2][0], z, out=z)   # perform's `scalar * dot`
        else:
            node.op.perform(node, [c[0] for c in in_cells], [out_cell])
        computed[0] = True

    thunk.inputs = in_cells
    thunk.outputs = [out_cell]
    thunk.lazy = False
    thunk.perform = node.op.perform
    return thunk
