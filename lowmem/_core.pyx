# cython: language_level=3, boundscheck=False, wraparound=False
"""Boundary of the Cython core: ``CoreProblem(sub)`` checks a
``_problem.Subproblem`` once and exposes its arrays as raw pointers (see
_core.pxd), with the per-node figures the bounds and the search need.

Everything the hot loops index is checked here, once per segment, so that
no input that reaches them can read or write out of bounds, whatever
Python passed in; the heuristics, bounds and search take the checked
object and check nothing again.

Overflow. The constructor requires every byte count >= 0 and

    Q = live0 + bytes of the buffers made in the segment + largest workspace
      < 2**62,   with   live0 = base + bytes of the buffers not made in it.

So Q = base + bytes of all the segment's buffers + largest workspace. For a
segment cut from a Graph, base counts buffers outside the segment, and
buffers are distinct variables, so Q <= the Graph's total (sum of all
variable sizes + largest workspace), which Graph keeps below 2**62: every
valid graph passes. Then, with B = bytes of all buffers <= Q:
* live bytes start at live0 and grow only when a node allocates the
  buffers it makes, each made once: live <= live0 + made <= Q; a buffer is
  freed at most twice (when made unread, and by its last reader; once in a
  consistent problem): live >= -2B > -2**63;
* a step's memory, live + alloc[n] + ws[n] (live before n excludes n's
  buffers) <= Q; a node's working set, base + distinct buffers it reads +
  alloc + ws <= Q; a forced-live figure adds other distinct buffers: <= Q;
  pinned bytes live plus a non-pinned working set <= Q;
* the bounds add at most two such figures or subtract one: |x| < 2**63.
"""

import numpy as np

from libc.stdint cimport int64_t, uint8_t

# See the overflow argument above.
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


cdef _check_csr(sub, str ptr_name, str idx_name, Py_ssize_t rows, Py_ssize_t bound):
    """(ptr, idx) int64 arrays of a CSR table of `rows` rows of ids < bound."""
    ptr_arr = _as_int64(sub, ptr_name, rows + 1)
    idx_arr = _as_int64(sub, idx_name)
    cdef const int64_t[::1] ptr = ptr_arr, idx = idx_arr
    cdef Py_ssize_t i
    if ptr[0] != 0 or ptr[rows] != idx.shape[0]:
        raise ValueError(f"subproblem.{ptr_name}: not a CSR index pointer for {idx_name}")
    for i in range(rows):
        if ptr[i + 1] < ptr[i]:
            raise ValueError(f"subproblem.{ptr_name}: not a CSR index pointer for {idx_name}")
    for i in range(idx.shape[0]):
        if idx[i] < 0 or idx[i] >= bound:
            raise ValueError(f"subproblem.{idx_name}: index out of range [0, {bound})")
    return ptr_arr, idx_arr


cdef int64_t _add_bytes(int64_t total, int64_t x) except -1:
    """total + x for 0 <= total < BYTES_LIMIT, refusing sums >= BYTES_LIMIT
    (x < 2**62 is checked first, so the addition cannot overflow)."""
    if x < 0:
        raise ValueError("subproblem: negative byte count")
    if x >= BYTES_LIMIT or total + x >= BYTES_LIMIT:
        raise ValueError("subproblem byte counts add up to 2**62 or more")
    return total + x


cdef class CoreProblem:
    """A ``_problem.Subproblem`` checked once for the Cython core.

    Raises ValueError (naming the field) unless every CSR table is well
    formed with ids in range, pred_count and buf_pending match the
    successor and reader lists, no node lists a successor or a buffer twice or reads a
    buffer it makes, each buffer has at most one producer, alloc is the
    bytes each node makes, and the byte counts keep the overflow bound in
    this module's docstring. O(k + nb + edges + reads + makes).

    Also computed once here, for the bounds and the search (int64 arrays):
    working_set[i]   bytes live at node i's step in any order: base, every
                     buffer it reads, what it allocates, its workspace
    nonpinned_working_set[i], pinned_alloc[i], pinned_live0: the same
                     without base and pinned buffers; the pinned bytes node
                     i makes; the pinned bytes live at the start (base
                     included). Pinned bytes live at any state plus a
                     node's non-pinned working set bound that node's step.
    pinned_bytes     base + every pinned buffer: live at the last step, and
                     the bytes live after the segment
    """

    def __cinit__(self, sub):
        self._keep = []
        self.sub = sub
        pred_count_arr = _as_int64(sub, "pred_count")
        cdef Py_ssize_t k = len(pred_count_arr)
        buf_size_arr = _as_int64(sub, "buf_size")
        cdef Py_ssize_t nb = len(buf_size_arr)
        succ_ptr_arr, succ_idx_arr = _check_csr(sub, "succ_ptr", "succ_idx", k, k)
        make_ptr_arr, make_idx_arr = _check_csr(sub, "make_ptr", "make_idx", k, nb)
        use_ptr_arr, use_idx_arr = _check_csr(sub, "use_ptr", "use_idx", k, nb)
        alloc_arr = _as_int64(sub, "alloc", k)
        ws_arr = _as_int64(sub, "ws", k)
        buf_pending_arr = _as_int64(sub, "buf_pending", nb)
        buf_pinned_arr = np.ascontiguousarray(sub.buf_pinned, dtype=np.uint8)
        if buf_pinned_arr.shape != (nb,):
            raise ValueError("subproblem.buf_pinned: expected one flag per buffer")
        live0, base = int(sub.live0), int(sub.base)
        if not 0 <= base <= live0 < BYTES_LIMIT:
            raise ValueError("subproblem.live0/base: need 0 <= base <= live0 < 2**62")

        cdef const int64_t[::1] pred_count = pred_count_arr, buf_size = buf_size_arr
        cdef const int64_t[::1] succ_ptr = succ_ptr_arr, succ_idx = succ_idx_arr
        cdef const int64_t[::1] make_ptr = make_ptr_arr, make_idx = make_idx_arr
        cdef const int64_t[::1] use_ptr = use_ptr_arr, use_idx = use_idx_arr
        cdef const int64_t[::1] alloc = alloc_arr, ws = ws_arr, pending = buf_pending_arr
        cdef const uint8_t[::1] pinned = buf_pinned_arr
        count_arr = np.zeros(max(k, nb, 1), dtype=np.int64)
        maker_arr = np.full(max(nb, 1), -1, dtype=np.int64)
        seen_arr = np.full(max(k, nb, 1), -1, dtype=np.int64)
        cdef int64_t[::1] count = count_arr, maker = maker_arr, seen = seen_arr
        cdef Py_ssize_t i, j, b
        cdef int64_t made_bytes, q, max_ws = 0, pre_bytes = 0

        # Distinct successors per node: the greedy heap holds one entry per
        # node made ready, so a repeated successor would overfill it.
        for i in range(k):
            for j in range(succ_ptr[i], succ_ptr[i + 1]):
                if seen[succ_idx[j]] == i:
                    raise ValueError("subproblem.succ_idx: a node lists a successor twice")
                seen[succ_idx[j]] = i
                count[succ_idx[j]] += 1
        for i in range(k):
            if count[i] != pred_count[i]:
                raise ValueError("subproblem.pred_count does not match succ_idx")
            count[i] = 0
        seen[:] = -1
        for j in range(use_idx.shape[0]):
            count[use_idx[j]] += 1
        for b in range(nb):
            if count[b] != pending[b]:
                raise ValueError("subproblem.buf_pending does not match use_idx")
        for b in range(nb):
            if buf_size[b] < 0:
                raise ValueError("subproblem.buf_size: negative byte count")
        # The pending counts assume distinct readers, and the byte
        # accounting one producer per buffer that does not read it.
        for i in range(k):
            made_bytes = 0
            for j in range(make_ptr[i], make_ptr[i + 1]):
                b = make_idx[j]
                if maker[b] >= 0:
                    raise ValueError("subproblem.make_idx: a buffer is made twice")
                maker[b] = i
                made_bytes = _add_bytes(made_bytes, buf_size[b])
            if alloc[i] != made_bytes:
                raise ValueError("subproblem.alloc: not the bytes of the buffers the node makes")
            for j in range(use_ptr[i], use_ptr[i + 1]):
                b = use_idx[j]
                if seen[b] == i:
                    raise ValueError("subproblem.use_idx: a node lists a buffer twice")
                if maker[b] == i:
                    raise ValueError("subproblem.use_idx: a node reads a buffer it makes")
                seen[b] = i
            if ws[i] < 0:
                raise ValueError("subproblem.ws: negative byte count")
            max_ws = max(max_ws, ws[i])
        for b in range(nb):
            if maker[b] < 0:
                pre_bytes = _add_bytes(pre_bytes, buf_size[b])
        if live0 - base != pre_bytes:
            raise ValueError("subproblem.live0: not base + the buffers made before the segment")
        q = <int64_t>live0
        for b in range(nb):
            if maker[b] >= 0:
                q = _add_bytes(q, buf_size[b])
        _add_bytes(q, max_ws)

        self.k, self.nb = k, nb
        cdef Problem* P = &self.P
        P.k = k
        P.nb = nb
        P.pred_count = _ptr64(pred_count_arr, self._keep)
        P.succ_ptr = _ptr64(succ_ptr_arr, self._keep)
        P.succ_idx = _ptr64(succ_idx_arr, self._keep)
        P.alloc = _ptr64(alloc_arr, self._keep)
        P.ws = _ptr64(ws_arr, self._keep)
        P.make_ptr = _ptr64(make_ptr_arr, self._keep)
        P.make_idx = _ptr64(make_idx_arr, self._keep)
        P.use_ptr = _ptr64(use_ptr_arr, self._keep)
        P.use_idx = _ptr64(use_idx_arr, self._keep)
        P.buf_size = _ptr64(buf_size_arr, self._keep)
        P.buf_pending = _ptr64(buf_pending_arr, self._keep)
        self._keep.append(buf_pinned_arr)
        P.buf_pinned = &pinned[0] if nb > 0 else NULL
        P.live0 = live0
        P.base = base

        # Working sets and the pinned split (see the class docstring).
        working_arr = np.empty(k, dtype=np.int64)
        nonpinned_arr = np.empty(k, dtype=np.int64)
        pinned_alloc_arr = np.zeros(k, dtype=np.int64)
        cdef int64_t[::1] working = working_arr, nonpinned = nonpinned_arr
        cdef int64_t[::1] pinned_alloc = pinned_alloc_arr
        cdef int64_t used, used_nonpinned, pinned_total = base, pinned_live0 = base
        for i in range(k):
            used = used_nonpinned = 0
            for j in range(use_ptr[i], use_ptr[i + 1]):
                b = use_idx[j]
                used += buf_size[b]
                if not pinned[b]:
                    used_nonpinned += buf_size[b]
            for j in range(make_ptr[i], make_ptr[i + 1]):
                b = make_idx[j]
                if pinned[b]:
                    pinned_alloc[i] += buf_size[b]
            working[i] = base + used + alloc[i] + ws[i]
            nonpinned[i] = used_nonpinned + alloc[i] + ws[i]
        for b in range(nb):
            if pinned[b]:
                pinned_total += buf_size[b]
                if maker[b] < 0:
                    pinned_live0 += buf_size[b]
        for arr in (working_arr, nonpinned_arr, pinned_alloc_arr):
            arr.setflags(write=False)
        self.working_set = working_arr
        self.nonpinned_working_set = nonpinned_arr
        self.pinned_alloc = pinned_alloc_arr
        self.pinned_bytes = pinned_total
        self.pinned_live0 = pinned_live0
