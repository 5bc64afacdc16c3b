# cython: language_level=3, boundscheck=False, wraparound=False
"""Boundary of the Cython core: check a ``problem.Subproblem`` and expose
its arrays as raw pointers (see _core.pxd).

Everything the hot loops index is checked here once, so that no input that
reaches them can read or write out of bounds, whatever Python passed in.
"""

import numpy as np

from libc.stdint cimport int64_t, uint8_t

# Sums of byte counts must stay far from int64 overflow.
cdef int64_t BYTES_LIMIT = (<int64_t>1) << 62


cdef const int64_t* _ptr64(object arr, list keep):
    cdef const int64_t[::1] view = arr
    keep.append(arr)
    return &view[0] if view.shape[0] > 0 else NULL


def _as_int64(sub, name, length=None):
    arr = np.ascontiguousarray(getattr(sub, name), dtype=np.int64)
    if arr.ndim != 1 or (length is not None and len(arr) != length):
        raise ValueError(f"subproblem.{name}: expected a 1-d array of length {length}")
    return arr


def _check_csr(sub, ptr_name, idx_name, rows, bound):
    ptr = _as_int64(sub, ptr_name, rows + 1)
    idx = _as_int64(sub, idx_name)
    if ptr[0] != 0 or ptr[-1] != len(idx) or np.any(np.diff(ptr) < 0):
        raise ValueError(f"subproblem.{ptr_name}: not a CSR index pointer for {idx_name}")
    if len(idx) and (idx.min() < 0 or idx.max() >= bound):
        raise ValueError(f"subproblem.{idx_name}: index out of range [0, {bound})")
    return ptr, idx


cdef int load_problem(object sub, Problem* P, list keep) except -1:
    """Validate `sub` and point P at its arrays (kept alive through `keep`)."""
    pred_count = _as_int64(sub, "pred_count")
    cdef Py_ssize_t k = len(pred_count)
    buf_size = _as_int64(sub, "buf_size")
    cdef Py_ssize_t nb = len(buf_size)
    succ_ptr, succ_idx = _check_csr(sub, "succ_ptr", "succ_idx", k, k)
    make_ptr, make_idx = _check_csr(sub, "make_ptr", "make_idx", k, nb)
    use_ptr, use_idx = _check_csr(sub, "use_ptr", "use_idx", k, nb)
    alloc = _as_int64(sub, "alloc", k)
    ws = _as_int64(sub, "ws", k)
    buf_pending = _as_int64(sub, "buf_pending", nb)
    buf_pinned = np.ascontiguousarray(sub.buf_pinned, dtype=np.uint8)
    if buf_pinned.shape != (nb,):
        raise ValueError("subproblem.buf_pinned: expected one flag per buffer")
    if not np.array_equal(np.bincount(succ_idx, minlength=k), pred_count):
        raise ValueError("subproblem.pred_count does not match succ_idx")
    if not np.array_equal(np.bincount(use_idx, minlength=nb), buf_pending):
        raise ValueError("subproblem.buf_pending does not match use_idx")
    for arr, name in ((alloc, "alloc"), (ws, "ws"), (buf_size, "buf_size")):
        if len(arr) and arr.min() < 0:
            raise ValueError(f"subproblem.{name}: negative byte count")
    live0, base = int(sub.live0), int(sub.base)
    total = (live0 + sum(int(x) for x in buf_size) + (int(ws.max()) if k else 0))
    if live0 < 0 or base < 0 or base > live0 or total >= BYTES_LIMIT:
        raise ValueError("subproblem byte counts out of range")
    # One row per node must not name a buffer twice (the pending counts
    # assume distinct readers), nor may a node read a buffer it makes.
    for ptr, idx, name in ((use_ptr, use_idx, "use_idx"), (make_ptr, make_idx, "make_idx")):
        rows = np.repeat(np.arange(k), np.diff(ptr))
        if len(np.unique(rows * nb + idx)) != len(idx):
            raise ValueError(f"subproblem.{name}: a node lists a buffer twice")
    if len(np.unique(make_idx)) != len(make_idx):
        raise ValueError("subproblem.make_idx: a buffer has two producers")

    P.k = k
    P.nb = nb
    P.pred_count = _ptr64(pred_count, keep)
    P.succ_ptr = _ptr64(succ_ptr, keep)
    P.succ_idx = _ptr64(succ_idx, keep)
    P.alloc = _ptr64(alloc, keep)
    P.ws = _ptr64(ws, keep)
    P.make_ptr = _ptr64(make_ptr, keep)
    P.make_idx = _ptr64(make_idx, keep)
    P.use_ptr = _ptr64(use_ptr, keep)
    P.use_idx = _ptr64(use_idx, keep)
    P.buf_size = _ptr64(buf_size, keep)
    P.buf_pending = _ptr64(buf_pending, keep)
    cdef const uint8_t[::1] pinned_view = buf_pinned
    keep.append(buf_pinned)
    P.buf_pinned = &pinned_view[0] if nb > 0 else NULL
    P.live0 = live0
    P.base = base
    return 0
