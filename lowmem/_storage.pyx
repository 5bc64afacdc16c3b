# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Storage plans for a fixed order: cell sharing and arena offsets.

Buffers are given as live intervals over the steps of the order: buffer b
is allocated at step start[b] and live through step end[b] inclusive.

Cell sharing: a buffer whose storage cell becomes free may hand it to a
later buffer of the same class (same dtype and shape). The cell is held
from the donor's death to the taker's birth, so every pairing adds its
bytes to the steps in between; a pairing is taken only if no such step
then exceeds the order's peak, so the plan never raises the peak. Cells
are taken most-recently-freed first (immediate reuse costs nothing).

Arena offsets: every buffer gets an offset in one arena so that buffers
live at the same step never overlap: best fit (the smallest gap between
already placed, time-overlapping buffers that holds it, else the top),
buffers placed in decreasing order of a key; the caller tries several keys
and keeps the smallest arena, as XLA's heap simulator does. It costs about
the number of pairs of buffers live together (times a log for sorting),
so lowmem._storage_plan uses it only as a fallback to the skyline search of
_arena.pyx.
"""

import numpy as np

from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, free

# How many free cells of the right class a buffer looks at before taking a new one.
cdef enum:
    MAX_CANDIDATES = 8


def _check_intervals(start, end, size, n_steps):
    start = np.ascontiguousarray(start, dtype=np.int64)
    end = np.ascontiguousarray(end, dtype=np.int64)
    size = np.ascontiguousarray(size, dtype=np.int64)
    if not (start.shape == end.shape == size.shape) or start.ndim != 1:
        raise ValueError("start, end and size must be 1-d arrays of one length")
    if len(start) and (start.min() < 0 or end.max() >= max(n_steps, 1) or np.any(end < start)
                       or size.min() < 0):
        raise ValueError("intervals must satisfy 0 <= start <= end < n_steps, sizes >= 0")
    return start, end, size


def share_cells(start, end, size, klass, step_memory, long long peak):
    """Pair buffers into shared cells without raising `peak`.

    klass[b] >= 0: the sharing class of buffer b (equal classes may share);
    -1: never shares (graph outputs, unknown shape, views). step_memory[t]:
    the order's memory at step t (max <= peak).

    Returns (cell, plan_memory): cell[b] is the cell id of buffer b (cells
    numbered from 0 in order of first use), plan_memory[t] the memory at
    step t once held cells are counted.
    """
    n_steps = len(step_memory)
    start, end, size = _check_intervals(start, end, size, n_steps)
    klass_arr = np.ascontiguousarray(klass, dtype=np.int64)
    mem_arr = np.array(step_memory, dtype=np.int64, copy=True)
    if klass_arr.shape != start.shape or mem_arr.ndim != 1:
        raise ValueError("klass must give one class per buffer; step_memory one figure per step")
    cdef Py_ssize_t nb = len(start), n_classes = int(klass_arr.max()) + 1 if nb else 0
    if nb and klass_arr.min() < -1:
        raise ValueError("classes are ids >= 0, or -1 for 'never shares'")
    if n_steps and mem_arr.max() > peak:
        raise ValueError("step_memory exceeds peak")
    cell_arr = np.full(nb, -1, dtype=np.int64)
    # Buffers by birth step, and by death step.
    by_start_arr = np.ascontiguousarray(np.argsort(start, kind="stable"), dtype=np.int64)
    by_end_arr = np.ascontiguousarray(np.argsort(end, kind="stable"), dtype=np.int64)
    head_arr = np.full(max(n_classes, 1), -1, dtype=np.int64)   # free cells per class (stack)
    nxt_arr = np.full(max(nb, 1), -1, dtype=np.int64)           # next free cell, by cell id
    freed_at_arr = np.zeros(max(nb, 1), dtype=np.int64)         # step after which a cell is free
    cell_size_arr = np.zeros(max(nb, 1), dtype=np.int64)
    cdef int64_t[::1] st = start, en = end, sz = size, kl = klass_arr, mem = mem_arr
    cdef int64_t[::1] cell = cell_arr, by_start = by_start_arr, by_end = by_end_arr
    cdef int64_t[::1] head = head_arr, nxt = nxt_arr, freed_at = freed_at_arr
    cdef int64_t[::1] cell_size = cell_size_arr
    cdef Py_ssize_t i_start = 0, i_end = 0, b, c, prev, cand, tries, t
    cdef int64_t step, n_cells = 0, worst
    with nogil:
        for step in range(n_steps):
            # Births at this step take a free cell of their class if they can.
            while i_start < nb and st[by_start[i_start]] == step:
                b = by_start[i_start]
                i_start += 1
                if kl[b] >= 0:
                    prev = -1
                    cand = head[kl[b]]
                    tries = 0
                    while cand >= 0 and tries < MAX_CANDIDATES:
                        tries += 1
                        if freed_at[cand] < step and cell_size[cand] == sz[b]:
                            worst = 0
                            for t in range(freed_at[cand] + 1, step):
                                if mem[t] > worst:
                                    worst = mem[t]
                            if worst + sz[b] <= peak:
                                for t in range(freed_at[cand] + 1, step):
                                    mem[t] += sz[b]
                                if prev < 0:
                                    head[kl[b]] = nxt[cand]
                                else:
                                    nxt[prev] = nxt[cand]
                                cell[b] = cand
                                break
                        prev = cand
                        cand = nxt[cand]
                if cell[b] < 0:
                    cell[b] = n_cells
                    cell_size[n_cells] = sz[b]
                    n_cells += 1
            # Deaths after this step free their cells for later births.
            while i_end < nb and en[by_end[i_end]] == step:
                b = by_end[i_end]
                i_end += 1
                if kl[b] >= 0 and cell[b] >= 0:
                    c = cell[b]
                    freed_at[c] = step
                    nxt[c] = head[kl[b]]
                    head[kl[b]] = c
    return cell_arr, mem_arr


cdef struct Placed:
    int64_t offset
    int64_t size


cdef void _sort_by_offset(Placed* a, Py_ssize_t n) noexcept nogil:
    """Sort by offset: quicksort (median of three) down to short runs, then
    one insertion sort pass; inlined comparisons, unlike libc's qsort."""
    cdef Py_ssize_t lo, hi, i, j, mid, top
    cdef Py_ssize_t stack_lo[64]
    cdef Py_ssize_t stack_hi[64]
    cdef Placed tmp
    cdef int64_t pivot
    stack_lo[0] = 0
    stack_hi[0] = n - 1
    top = 1
    while top:
        top -= 1
        lo = stack_lo[top]
        hi = stack_hi[top]
        while hi - lo > 16:
            mid = lo + (hi - lo) // 2
            if a[mid].offset < a[lo].offset:
                tmp = a[mid]; a[mid] = a[lo]; a[lo] = tmp
            if a[hi].offset < a[lo].offset:
                tmp = a[hi]; a[hi] = a[lo]; a[lo] = tmp
            if a[hi].offset < a[mid].offset:
                tmp = a[hi]; a[hi] = a[mid]; a[mid] = tmp
            pivot = a[mid].offset
            i = lo
            j = hi
            while i <= j:
                while a[i].offset < pivot:
                    i += 1
                while a[j].offset > pivot:
                    j -= 1
                if i <= j:
                    tmp = a[i]; a[i] = a[j]; a[j] = tmp
                    i += 1
                    j -= 1
            # Push the larger part, go on with the smaller: stack depth <= log2 n.
            if j - lo < hi - i:
                stack_lo[top] = i
                stack_hi[top] = hi
                top += 1
                hi = j
            else:
                stack_lo[top] = lo
                stack_hi[top] = j
                top += 1
                lo = i
    for i in range(1, n):
        tmp = a[i]
        j = i - 1
        while j >= 0 and a[j].offset > tmp.offset:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = tmp


cdef inline Py_ssize_t _collect(int64_t e, const int64_t[::1] entry_buf,
                               const int64_t[::1] entry_next, const int64_t[::1] off,
                               const int64_t[::1] sz, Placed* near,
                               Py_ssize_t n_near) noexcept nogil:
    """Append the placed buffers of the list starting at entry `e` to
    `near`; returns the new count."""
    cdef int64_t p
    while e >= 0:
        p = entry_buf[e]
        near[n_near].offset = off[p]
        near[n_near].size = sz[p]
        n_near += 1
        e = entry_next[e]
    return n_near


def best_fit_offsets(start, end, size, order):
    """Offsets in one arena, buffers placed in `order` (a permutation), each
    at the best-fitting gap among placed buffers whose intervals overlap.
    Returns (offsets, arena_bytes).

    The placed buffers overlapping [s, e] are those live at step s plus
    those starting in (s, e]. The first set comes from a segment tree over
    the steps (each interval stored at its O(log T) canonical nodes; the
    root-to-leaf path of s meets exactly one of them when the interval
    holds s), the second from per-step lists; so each overlapping buffer
    is found exactly once, in O(log T + (e - s) + found) per placement.
    """
    n_steps = int(np.max(end)) + 1 if len(end) else 1
    start, end, size = _check_intervals(start, end, size, n_steps)
    order_arr = np.ascontiguousarray(order, dtype=np.int64)
    cdef Py_ssize_t n = len(start)
    if order_arr.shape != (n,) or not np.array_equal(np.sort(order_arr), np.arange(n)):
        raise ValueError("order must be a permutation of the buffers")
    cdef Py_ssize_t leaves = 1
    while leaves < n_steps:
        leaves *= 2
    depth = int(leaves).bit_length()
    offsets_arr = np.zeros(n, dtype=np.int64)
    tree_head_arr = np.full(2 * leaves, -1, dtype=np.int64)   # lists of intervals per tree node
    start_head_arr = np.full(n_steps, -1, dtype=np.int64)     # lists of buffers per start step
    pool = max(2 * depth * n + n, 1)
    entry_buf_arr = np.zeros(pool, dtype=np.int64)
    entry_next_arr = np.zeros(pool, dtype=np.int64)
    cdef int64_t[::1] st = start, en = end, sz = size, o = order_arr, off = offsets_arr
    cdef int64_t[::1] tree_head = tree_head_arr, start_head = start_head_arr
    cdef int64_t[::1] entry_buf = entry_buf_arr, entry_next = entry_next_arr
    cdef Placed* near = <Placed*>malloc(max(n, 1) * sizeof(Placed))
    cdef Py_ssize_t i, b, p, t, e, lo, hi, node, n_near, n_entries = 0
    cdef int64_t top, best, best_gap, gap, arena = 0
    if near == NULL:
        raise MemoryError()
    with nogil:
        for i in range(n):
            b = o[i]
            if sz[b] == 0:
                continue
            n_near = 0
            node = st[b] + leaves                 # live at st[b]: stabbing query
            while node >= 1:
                n_near = _collect(tree_head[node], entry_buf, entry_next, off, sz, near, n_near)
                node >>= 1
            for t in range(st[b] + 1, en[b] + 1):  # starting inside (st, en]
                n_near = _collect(start_head[t], entry_buf, entry_next, off, sz, near, n_near)
            _sort_by_offset(near, n_near)
            top = 0
            best = -1
            best_gap = 0
            for e in range(n_near):
                gap = near[e].offset - top
                if gap >= sz[b] and (best < 0 or gap < best_gap):
                    best, best_gap = top, gap
                if near[e].offset + near[e].size > top:
                    top = near[e].offset + near[e].size
            off[b] = best if best >= 0 else top
            if off[b] + sz[b] > arena:
                arena = off[b] + sz[b]
            # Index b: at the canonical tree nodes of [st, en], and by start.
            lo = st[b] + leaves
            hi = en[b] + leaves + 1
            while lo < hi:
                if lo & 1:
                    entry_buf[n_entries] = b
                    entry_next[n_entries] = tree_head[lo]
                    tree_head[lo] = n_entries
                    n_entries += 1
                    lo += 1
                if hi & 1:
                    hi -= 1
                    entry_buf[n_entries] = b
                    entry_next[n_entries] = tree_head[hi]
                    tree_head[hi] = n_entries
                    n_entries += 1
                lo >>= 1
                hi >>= 1
            entry_buf[n_entries] = b
            entry_next[n_entries] = start_head[st[b]]
            start_head[st[b]] = n_entries
            n_entries += 1
    free(near)
    return offsets_arr, int(arena)
