# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Reachability-based lower bounds (see _lower_bounds.py for what they mean).

Ancestor and descendant sets are bitsets, k rows of ceil(k/64) words, so
the tables take k^2/4 bytes and the bounds O(k^2/64 + edges * k/64 +
bytes set) word operations.
"""

import numpy as np

from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport calloc, free
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC
from lowmem._core cimport CoreProblem, Problem, bit_get, bit_set, bit_clear

cdef extern from *:
    int __builtin_ctzll(unsigned long long) nogil


MAX_THRESHOLDS = 512


cdef inline double now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


def table_bytes(Py_ssize_t k):
    """Bytes of the two reachability tables for k nodes."""
    return 2 * k * ((k + 63) // 64) * 8


def reachability_bounds(CoreProblem prob not None, double time_limit=float("inf")):
    """(forced, last_of_set): the largest forced-live figure of any node,
    and the 'last of a set' bound; None when `time_limit` seconds pass
    first (the clock is read between rows, so the overrun is one row's
    work, O(k/64 * degree + bytes set in the row)).

    Local node ids must be a topological order (ValueError otherwise).
    """
    cdef Problem P = prob.P
    cdef double deadline = now() + time_limit
    cdef bint late = False
    cdef Py_ssize_t k = P.k, nb = P.nb, W = (P.k + 63) // 64
    if k == 0:
        return 0, 0
    forced_arr = np.array(prob.working_set, dtype=np.int64)
    cdef int64_t[::1] forced = forced_arr
    producer_arr = np.full(nb, -1, dtype=np.int64)
    cdef int64_t[::1] producer = producer_arr
    # Readers of each buffer, as CSR built from the nodes' use lists.
    cdef Py_ssize_t v, s, j, w, b, r, u
    reader_ptr_arr = np.zeros(nb + 1, dtype=np.int64)
    cdef int64_t[::1] reader_ptr = reader_ptr_arr
    for b in range(nb):
        reader_ptr[b + 1] = reader_ptr[b] + P.buf_pending[b]   # checked: readers of b
    reader_idx_arr = np.zeros(max(int(reader_ptr[nb]), 1), dtype=np.int64)
    fill_arr = reader_ptr_arr[:nb].copy()
    cdef int64_t[::1] reader_idx = reader_idx_arr
    cdef int64_t[::1] fill = fill_arr
    pinned_made_arr = np.zeros(k, dtype=np.int64)
    pinned_anc_arr = np.zeros(k, dtype=np.int64)
    cdef int64_t[::1] pinned_made = pinned_made_arr, pinned_anc = pinned_anc_arr

    cdef uint64_t* desc = <uint64_t*>calloc(k * W, sizeof(uint64_t))
    cdef uint64_t* anc = <uint64_t*>calloc(k * W, sizeof(uint64_t))
    cdef uint64_t* live = <uint64_t*>calloc(W, sizeof(uint64_t))
    cdef uint64_t bits
    cdef bint topological = True
    try:
        if desc == NULL or anc == NULL or live == NULL:
            raise MemoryError()
        with nogil:
            for v in range(k):
                for j in range(P.succ_ptr[v], P.succ_ptr[v + 1]):
                    if P.succ_idx[j] <= v:
                        topological = False
                for j in range(P.make_ptr[v], P.make_ptr[v + 1]):
                    producer[P.make_idx[j]] = v
                for j in range(P.use_ptr[v], P.use_ptr[v + 1]):
                    b = P.use_idx[j]
                    reader_idx[fill[b]] = v
                    fill[b] += 1
        if not topological:
            raise ValueError("local node ids are not a topological order")
        with nogil:
            # Descendants in reverse order, ancestors in order.
            for v in range(k - 1, -1, -1):
                if now() > deadline:
                    late = True
                    break
                for j in range(P.succ_ptr[v], P.succ_ptr[v + 1]):
                    s = P.succ_idx[j]
                    bit_set(desc + v * W, s)
                    for w in range(W):
                        desc[v * W + w] |= desc[s * W + w]
            for v in range(k if not late else 0):
                if now() > deadline:
                    late = True
                    break
                for j in range(P.succ_ptr[v], P.succ_ptr[v + 1]):
                    s = P.succ_idx[j]
                    bit_set(anc + s * W, v)
                    for w in range(W):
                        anc[s * W + w] |= anc[v * W + w]
            # Forced live: buffer b is live at v's step in every order when
            # b's producer is an ancestor of v (or b predates the segment)
            # and b is pinned or read by a descendant of v.
            for b in range(nb if not late else 0):
                if now() > deadline:
                    late = True
                    break
                if producer[b] >= 0:
                    for w in range(W):
                        live[w] = desc[producer[b] * W + w]
                    if P.buf_pinned[b]:
                        pinned_made[producer[b]] += P.buf_size[b]
                else:
                    for w in range(W):
                        live[w] = ~(<uint64_t>0)
                    if k & 63:
                        live[W - 1] = ((<uint64_t>1) << (k & 63)) - 1
                if not P.buf_pinned[b]:
                    if reader_ptr[b] == reader_ptr[b + 1]:
                        continue
                    # AND with the union of the readers' ancestors.
                    for w in range(W):
                        bits = 0
                        for j in range(reader_ptr[b], reader_ptr[b + 1]):
                            bits |= anc[reader_idx[j] * W + w]
                        live[w] &= bits
                for j in range(reader_ptr[b], reader_ptr[b + 1]):
                    bit_clear(live, reader_idx[j])   # counted in its working set
                for w in range(W):
                    bits = live[w]
                    while bits:
                        forced[(w << 6) + __builtin_ctzll(bits)] += P.buf_size[b]
                        bits &= bits - 1
            # Pinned bytes made by each node's ancestors-or-self.
            for u in range(k if not late else 0):
                if pinned_made[u] == 0:
                    continue
                if now() > deadline:
                    late = True
                    break
                pinned_anc[u] += pinned_made[u]
                for w in range(W):
                    bits = desc[u * W + w]
                    while bits:
                        pinned_anc[(w << 6) + __builtin_ctzll(bits)] += pinned_made[u]
                        bits &= bits - 1
        if not late:
            last = _last_of_set(k, W, desc, anc, forced_arr - pinned_anc_arr, pinned_made,
                                deadline, &late)
    finally:
        free(desc)
        free(anc)
        free(live)
    if late:
        return None
    return int(forced_arr.max()), int(last)


cdef int64_t _last_of_set(Py_ssize_t k, Py_ssize_t W, const uint64_t* desc,
                          const uint64_t* anc, value_arr, int64_t[::1] pinned_made,
                          double deadline, bint* late) except? -1:
    """max over T of min over T's maximal nodes v of value[v] + pinned bytes
    made by T's closure, T = the nodes of largest value, growing. Sets
    *late (result meaningless) if the deadline passes first."""
    by_value_arr = np.ascontiguousarray(np.argsort(-value_arr, kind="stable"), dtype=np.int64)
    cdef int64_t[::1] by_value = by_value_arr
    cdef int64_t[::1] value = np.ascontiguousarray(value_arr, dtype=np.int64)
    cdef uint64_t* in_t = <uint64_t*>calloc(W, sizeof(uint64_t))
    cdef uint64_t* closure = <uint64_t*>calloc(W, sizeof(uint64_t))
    cdef uint64_t* has_t_desc = <uint64_t*>calloc(W, sizeof(uint64_t))
    cdef Py_ssize_t i, v, w, u
    cdef uint64_t bits, fresh
    cdef int64_t closure_pinned = 0, best = 0, low
    cdef bint below
    cdef Py_ssize_t next_eval = 0, stride = max(1, k // MAX_THRESHOLDS)
    try:
        if in_t == NULL or closure == NULL or has_t_desc == NULL:
            raise MemoryError()
        with nogil:
            for i in range(k):
                if now() > deadline:
                    late[0] = True
                    break
                v = by_value[i]
                bit_set(in_t, v)
                below = False
                for w in range(W):
                    fresh = (anc[v * W + w] & ~closure[w])
                    closure[w] |= anc[v * W + w]
                    has_t_desc[w] |= anc[v * W + w]     # v's ancestors are not last
                    while fresh:
                        closure_pinned += pinned_made[(w << 6) + __builtin_ctzll(fresh)]
                        fresh &= fresh - 1
                    if desc[v * W + w] & in_t[w]:
                        below = True
                if not bit_get(closure, v):
                    bit_set(closure, v)
                    closure_pinned += pinned_made[v]
                if below:
                    bit_set(has_t_desc, v)
                # Evaluate only where the value changes (T is then a threshold
                # set), and at most about MAX_THRESHOLDS times.
                if i + 1 < k and (value[by_value[i + 1]] == value[v] or i < next_eval):
                    continue
                next_eval = i + stride
                low = -1
                for w in range(W):
                    bits = in_t[w] & ~has_t_desc[w]
                    while bits:
                        u = (w << 6) + __builtin_ctzll(bits)
                        if low < 0 or value[u] < low:
                            low = value[u]
                        bits &= bits - 1
                if low + closure_pinned > best:
                    best = low + closure_pinned
    finally:
        free(in_t)
        free(closure)
        free(has_t_desc)
    return best
