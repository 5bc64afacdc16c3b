# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Decide whether buffers fit in a capacity: a depth-first search over
canonical placements, the method of MiniMalloc (Moffitt, "MiniMalloc: A
Lightweight Memory Allocator for Hardware-Accelerated Machine Learning",
ASPLOS 2023), written for lowmem's compressed steps.

Buffers are live over inclusive steps [s, e] with a size. Every buffer sits
at its *lowest offset* given the buffers placed before it (the top of the
highest placed buffer live at a common step), and buffers are placed in
non-decreasing order of (lowest offset, rank), rank a static preorder.
Every packing can be pushed down until each buffer rests on another or on
0; listing its buffers by (offset, rank) gives one such sequence, so the
search is complete while it never builds a packing twice. A node places
one unplaced buffer, the candidates tried in (lowest offset, rank) order
after the node's own key. Pruning, each sound:

* a candidate at or above the lowest top any unplaced buffer could reach
  (its lowest offset + size) leaves a gap under it that buffer would fill
  first, which the canonical order lists earlier: skipped (dominance);
* at every step, the floor (the highest top placed there, the lowest
  offset of any unplaced buffer live there, and the current offset, which
  every later placement is at or above) plus the bytes still unplaced at
  that step must stay within the capacity (spatial inference);
* a buffer placed with nothing unplaced live beside it (no "hat") changes
  no other buffer's options: when its subtree fails, so does every other
  choice at that node.

The search is iterative (no recursion; decomposition nests at most
MAX_LEVELS deep), undoes with a trail, and stops on a node budget or a
deadline (checked every 16 nodes, as one node costs O(b + steps)).
Memory: O(b + T + pairs of buffers live together + step memberships), the
pairs and memberships capped by the caller (_offsets.canonical_affordable).
"""

import numpy as np

from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, free

from ._trail cimport trail_pop, trail_push
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

cdef int64_t INF = (<int64_t>1) << 62


cdef inline double _now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cdef struct Frame:
    Py_ssize_t buffer        # placed to enter the child (-1: none yet)
    int64_t key_off          # the node's own key: the (offset, rank) of the
    int64_t key_rank         # placement that led to it
    int64_t tried_off        # the last candidate tried at this node
    int64_t tried_rank
    Py_ssize_t mark          # trail length before the child's placement
    bint exhausted


cdef struct Search:
    Py_ssize_t n, T
    const int64_t* s
    const int64_t* e
    const int64_t* z
    int64_t* rank
    const int64_t* width     # lifetimes for the preorders
    int heuristic            # 0: keep `rank`; 1 WAT, 2 TAW, 3 TWA per part
    const int64_t* ov_ptr
    const int64_t* ov
    const int64_t* sec_ptr
    const int64_t* sec
    int64_t* off
    int64_t* minoff
    int64_t* floor
    int64_t* total
    int64_t* cuts            # unplaced buffers live at both t and t + 1
    int64_t* stamp
    int64_t* most            # scratch: per buffer, the most bytes unplaced
    int64_t stamp_now
    int64_t capacity
    int64_t* trail
    Py_ssize_t trail_len, trail_cap
    bint section_floors
    bint decompose
    long long nodes, max_nodes
    double deadline


cdef enum:
    FOUND = 1
    NONE = 0
    STOPPED = -1
    NO_MEMORY = -2
    # Decompose at most this deep: each level is one C stack frame.
    MAX_LEVELS = 200


cdef inline int _push(Search* g, int64_t kind, int64_t idx, int64_t old) noexcept nogil:
    return trail_push(&g.trail, &g.trail_len, &g.trail_cap, kind, idx, old)


cdef inline void _undo(Search* g, Py_ssize_t mark) noexcept nogil:
    cdef int64_t kind, idx, old
    while g.trail_len > mark:
        trail_pop(g.trail, &g.trail_len, &kind, &idx, &old)
        if kind == 0:
            g.minoff[idx] = old
        elif kind == 1:
            g.floor[idx] = old
        elif kind == 2:
            g.total[idx] = old
        elif kind == 3:
            g.off[idx] = old
        else:
            g.cuts[idx] = old


cdef inline bint _after(int64_t off, int64_t rank, int64_t off0, int64_t rank0) noexcept nogil:
    """(off, rank) comes after (off0, rank0)."""
    return off > off0 or (off == off0 and rank > rank0)


cdef int _place(Search* g, Py_ssize_t b, Py_ssize_t t0, Py_ssize_t t1, bint* hatless,
                bint* split) noexcept nogil:
    """Place b at its lowest offset; 1 if the state passes the checks over
    steps [t0, t1], 0 if not, -1 on memory failure. The trail records every
    change. split: some cut inside [t0, t1] fell to zero."""
    cdef int64_t o = g.minoff[b], top = g.minoff[b] + g.z[b], v, lowest
    cdef Py_ssize_t k, j, t, m
    if _push(g, 3, b, -1) < 0:
        return -1
    g.off[b] = o
    hatless[0] = True
    split[0] = False
    g.stamp_now += 1
    for k in range(g.ov_ptr[b], g.ov_ptr[b + 1]):
        j = g.ov[k]
        if g.off[j] >= 0:
            continue
        hatless[0] = False
        if g.minoff[j] < top:
            if _push(g, 0, j, g.minoff[j]) < 0:
                return -1
            g.minoff[j] = top
            if top + g.z[j] > g.capacity:
                return 0
            if g.section_floors:
                # j's steps may get a higher floor: at most `top` (j is a
                # member there with exactly that lowest offset), so only the
                # steps whose floor is below it are worth a look.
                for t in range(g.s[j], g.e[j] + 1):
                    if g.floor[t] < top:
                        g.stamp[t] = g.stamp_now
    for t in range(g.s[b], g.e[b] + 1):
        if _push(g, 2, t, g.total[t]) < 0:
            return -1
        g.total[t] -= g.z[b]
        if g.floor[t] < top:
            if _push(g, 1, t, g.floor[t]) < 0:
                return -1
            g.floor[t] = top
    for t in range(g.s[b], g.e[b]):
        if _push(g, 4, t, g.cuts[t]) < 0:
            return -1
        g.cuts[t] -= 1
        if g.cuts[t] == 0 and t0 <= t < t1:
            split[0] = True
    if g.section_floors:
        # A step's floor is at least the lowest offset any unplaced buffer
        # live there can take.
        for k in range(g.ov_ptr[b], g.ov_ptr[b + 1]):
            j = g.ov[k]
            if g.off[j] >= 0:
                continue
            for t in range(g.s[j], g.e[j] + 1):
                if g.stamp[t] != g.stamp_now:
                    continue
                g.stamp[t] = 0
                if g.floor[t] >= top:
                    continue
                lowest = INF
                for m in range(g.sec_ptr[t], g.sec_ptr[t + 1]):
                    v = g.sec[m]
                    if g.off[v] < 0 and g.minoff[v] < lowest:
                        lowest = g.minoff[v]
                if lowest != INF and g.floor[t] < lowest:
                    if _push(g, 1, t, g.floor[t]) < 0:
                        return -1
                    g.floor[t] = lowest
    # Spatial inference: every later placement here sits at or above o.
    for t in range(t0, t1 + 1):
        if g.total[t] > 0:
            v = g.floor[t] if g.floor[t] > o else o
            if v + g.total[t] > g.capacity:
                return 0
    return 1


cdef inline bint _before(Search* g, const int64_t* most, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    """a precedes b in the part's preorder: larger keys first, in the
    heuristic's priority (W lifetime, A area, T most bytes live), then the
    lower index."""
    cdef int64_t ka[3]
    cdef int64_t kb[3]
    cdef int64_t wa = g.width[a], wb = g.width[b]
    cdef int i
    if g.heuristic == 1:
        ka[0] = wa; ka[1] = wa * g.z[a]; ka[2] = most[a]
        kb[0] = wb; kb[1] = wb * g.z[b]; kb[2] = most[b]
    elif g.heuristic == 2:
        ka[0] = most[a]; ka[1] = wa * g.z[a]; ka[2] = wa
        kb[0] = most[b]; kb[1] = wb * g.z[b]; kb[2] = wb
    else:
        ka[0] = most[a]; ka[1] = wa; ka[2] = wa * g.z[a]
        kb[0] = most[b]; kb[1] = wb; kb[2] = wb * g.z[b]
    for i in range(3):
        if ka[i] != kb[i]:
            return ka[i] > kb[i]
    return a < b


cdef void _rank_part(Search* g, const int64_t* part, Py_ssize_t count, int64_t* most,
                     int64_t* order, int64_t* scratch) noexcept nogil:
    """Rank the part's buffers by the heuristic, T taken from the bytes
    still unplaced now (MiniMalloc re-sorts each part it solves): a
    bottom-up merge sort of `order`, then rank[order[i]] = i."""
    cdef Py_ssize_t i, t, width, lo, mid, hi, a, b, k
    cdef int64_t v
    cdef int64_t* src = order
    cdef int64_t* dst = scratch
    cdef int64_t* swap
    for i in range(count):
        v = 0
        for t in range(g.s[part[i]], g.e[part[i]] + 1):
            if g.total[t] > v:
                v = g.total[t]
        most[part[i]] = v
        order[i] = part[i]
    width = 1
    while width < count:
        lo = 0
        while lo < count:
            mid = lo + width if lo + width < count else count
            hi = lo + 2 * width if lo + 2 * width < count else count
            a = lo
            b = mid
            k = lo
            while k < hi:
                if a < mid and (b >= hi or not _before(g, most, src[b], src[a])):
                    dst[k] = src[a]
                    a += 1
                else:
                    dst[k] = src[b]
                    b += 1
                k += 1
            lo = hi
        swap = src
        src = dst
        dst = swap
        width *= 2
    for i in range(count):
        g.rank[src[i]] = i


cdef int _split(Search* g, const int64_t* active, Py_ssize_t m, Py_ssize_t t0,
                Py_ssize_t t1, int level) noexcept nogil:
    """Solve the unplaced buffers of `active` (inside steps [t0, t1]) part by
    part, the parts separated by zero cuts: no unplaced buffer live on both
    sides, so each part's placements leave the others' unchanged. FOUND
    when every part is, NONE when one part has no packing."""
    cdef Py_ssize_t i, j, k, a, left, right, count
    cdef int64_t* part = <int64_t*>malloc(4 * (m + 1) * sizeof(int64_t))
    cdef int64_t* saved = part + (m + 1)
    cdef int64_t* order = part + 2 * (m + 1)
    cdef int64_t* scratch = part + 3 * (m + 1)
    cdef int result = FOUND
    if part == NULL:
        return NO_MEMORY
    # The unplaced buffers, by start: parts are runs of them whose spans
    # chain together. active is sorted by start (the caller keeps it so).
    i = 0
    while i < m and result == FOUND:
        a = active[i]
        if g.off[a] >= 0:
            i += 1
            continue
        left = g.s[a]
        right = g.e[a]
        count = 0
        j = i
        while j < m:
            a = active[j]
            if g.off[a] >= 0:
                j += 1
                continue
            if g.s[a] > right:
                break
            if g.e[a] > right:
                right = g.e[a]
            part[count] = a
            count += 1
            j += 1
        if g.heuristic:
            for k in range(count):
                saved[k] = g.rank[part[k]]
            _rank_part(g, part, count, g.most, order, scratch)
        result = _solve(g, part, count, left if left > t0 else t0,
                        right if right < t1 else t1, level + 1)
        if g.heuristic:
            # The parent's candidates compare by its own ranks.
            for k in range(count):
                g.rank[part[k]] = saved[k]
        i = j
    free(part)
    return result


cdef int _solve(Search* g, const int64_t* active, Py_ssize_t m, Py_ssize_t t0,
                Py_ssize_t t1, int level) noexcept nogil:
    """Depth-first search over canonical placements of the unplaced buffers
    of `active` (sorted by start, all inside steps [t0, t1]), from the
    current state. FOUND leaves them placed; otherwise the state is as it
    was."""
    cdef Frame* stack
    cdef Py_ssize_t depth = 0, b, c, i, j, todo = 0
    cdef int status = STOPPED, ok
    cdef bint hatless, split
    cdef int64_t min_height, best_off, best_rank, lo_off, lo_rank
    cdef Py_ssize_t entry_mark = g.trail_len
    cdef Frame* f
    for i in range(m):
        if g.off[active[i]] < 0:
            todo += 1
    if todo == 0:
        return FOUND
    stack = <Frame*>malloc((todo + 1) * sizeof(Frame))
    if stack == NULL:
        return NO_MEMORY
    f = &stack[0]
    f.buffer = -1
    f.key_off = 0
    f.key_rank = -1
    f.tried_off = -1
    f.tried_rank = -1
    f.exhausted = False
    while True:
        if depth == todo:
            status = FOUND
            break
        f = &stack[depth]
        # The next candidate: the least (lowest offset, rank) after both
        # the node's key and the last one tried, below the lowest top any
        # unplaced buffer can reach.
        c = -1
        if not f.exhausted:
            min_height = INF
            for i in range(m):
                j = active[i]
                if g.off[j] < 0 and g.minoff[j] + g.z[j] < min_height:
                    min_height = g.minoff[j] + g.z[j]
            if _after(f.tried_off, f.tried_rank, f.key_off, f.key_rank):
                lo_off = f.tried_off
                lo_rank = f.tried_rank
            else:
                lo_off = f.key_off
                lo_rank = f.key_rank
            best_off = INF
            best_rank = INF
            for i in range(m):
                j = active[i]
                if g.off[j] >= 0 or g.minoff[j] >= min_height:
                    continue
                if not _after(g.minoff[j], g.rank[j], lo_off, lo_rank):
                    continue
                if g.minoff[j] < best_off or (g.minoff[j] == best_off
                                              and g.rank[j] < best_rank):
                    best_off = g.minoff[j]
                    best_rank = g.rank[j]
                    c = j
        if c < 0:
            # Node exhausted: undo the placement that led here.
            if depth == 0:
                status = NONE
                break
            depth -= 1
            f = &stack[depth]
            _undo(g, f.mark)
            f.buffer = -1
            continue
        g.nodes += 1
        if g.max_nodes >= 0 and g.nodes > g.max_nodes:
            break
        if g.deadline >= 0 and (g.nodes & 15) == 0 and _now() > g.deadline:
            break
        f.mark = g.trail_len
        f.buffer = c
        f.tried_off = g.minoff[c]
        f.tried_rank = g.rank[c]
        ok = _place(g, c, t0, t1, &hatless, &split)
        if ok < 0:
            status = NO_MEMORY
            break
        if ok == 1 and split and g.decompose and level < MAX_LEVELS and depth + 1 < todo:
            # The rest falls apart into independent parts: solve each once.
            ok = _split(g, active, m, t0, t1, level)
            if ok == FOUND:
                status = FOUND
                break
            if ok != NONE:
                status = ok
                break
            ok = 0
        if ok == 0:
            _undo(g, f.mark)
            f.buffer = -1
            if hatless:
                f.exhausted = True
            continue
        if hatless:
            # If this subtree fails, no other choice here succeeds.
            f.exhausted = True
        depth += 1
        f = &stack[depth]
        f.buffer = -1
        f.key_off = g.off[c]
        f.key_rank = g.rank[c]
        f.tried_off = -1
        f.tried_rank = -1
        f.exhausted = False
    free(stack)
    if status != FOUND:
        _undo(g, entry_mark)
    return status


def _fill_members(const int64_t[::1] s, const int64_t[::1] e, const int64_t[::1] ptr,
                  int64_t[::1] members):
    """members[ptr[t]:ptr[t + 1]] = the buffers live at step t, by index."""
    cdef Py_ssize_t i, t, T = ptr.shape[0] - 1
    cdef int64_t[::1] pos = np.array(ptr[:T], dtype=np.int64)
    with nogil:
        for i in range(s.shape[0]):
            for t in range(s[i], e[i] + 1):
                members[pos[t]] = i
                pos[t] += 1


def _fill_partners(const int64_t[::1] order, const int64_t[::1] reach, int64_t[::1] ptr):
    """Each buffer's partners as CSR (fills ptr, returns the list): with
    buffers by start (`order`), the one at position a meets those at
    positions a + 1 .. reach[a] - 1, and they meet it."""
    cdef Py_ssize_t n = order.shape[0], a, b, i, j
    cdef int64_t[::1] degree = np.zeros(n, dtype=np.int64)
    with nogil:
        for a in range(n):
            for b in range(a + 1, reach[a]):
                degree[order[a]] += 1
                degree[order[b]] += 1
        for i in range(n):
            ptr[i + 1] = ptr[i] + degree[i]
    partners = np.zeros(max(1, int(ptr[n])), dtype=np.int64)
    cdef int64_t[::1] out = partners
    cdef int64_t[::1] pos = np.array(ptr[:n], dtype=np.int64)
    with nogil:
        for a in range(n):
            i = order[a]
            for b in range(a + 1, reach[a]):
                j = order[b]
                out[pos[i]] = j
                pos[i] += 1
                out[pos[j]] = i
                pos[j] += 1
    return partners


cdef class Instance:
    """Buffers prepared once for many decisions (each preorder, each node
    limit, each capacity): the pairs of buffers live together and each
    step's members as CSR arrays, built in O(b log b + pairs + memberships)
    by counting. Memory: 8 bytes x (2 pairs + memberships + a few per buffer
    and step); the caller caps pairs and memberships."""

    cdef readonly Py_ssize_t n, T
    cdef object s_arr, e_arr, z_arr, w_arr, ov_ptr, ov, sec_ptr, sec
    cdef object total0, cuts0, by_start

    def __init__(self, start, end, size, width=None):
        s_arr = np.ascontiguousarray(start, dtype=np.int64)
        e_arr = np.ascontiguousarray(end, dtype=np.int64)
        z_arr = np.ascontiguousarray(size, dtype=np.int64)
        if not (s_arr.shape == e_arr.shape == z_arr.shape) or s_arr.ndim != 1:
            raise ValueError("start, end and size must be 1-d arrays of one length")
        n = len(z_arr)
        if n and (s_arr.min() < 0 or np.any(e_arr < s_arr) or z_arr.min() <= 0):
            raise ValueError("intervals must satisfy 0 <= start <= end, sizes > 0")
        w_arr = (e_arr - s_arr + 1) if width is None else np.ascontiguousarray(width,
                                                                               dtype=np.int64)
        if w_arr.shape != s_arr.shape or (n and w_arr.min() <= 0):
            raise ValueError("width must hold one lifetime > 0 per buffer")
        T = int(e_arr.max()) + 1 if n else 1
        # Each step's members, and each buffer's partners (those live at a
        # common step: s_i <= e_j and s_j <= e_i), as CSR arrays filled by
        # counting, O(b log b + memberships + pairs).
        live = np.cumsum(np.bincount(s_arr, minlength=T + 1)
                         - np.bincount(e_arr + 1, minlength=T + 1))[:T]
        sec_ptr = np.zeros(T + 1, dtype=np.int64)
        np.cumsum(live, out=sec_ptr[1:])
        order = np.argsort(s_arr, kind="stable").astype(np.int64)
        so = s_arr[order]
        # By start, buffer a meets those after it that start by its end.
        reach = np.searchsorted(so, e_arr[order], side="right").astype(np.int64)
        sec = np.zeros(max(1, int(sec_ptr[T])), dtype=np.int64)
        _fill_members(s_arr, e_arr, sec_ptr, sec)
        ov_ptr = np.zeros(n + 1, dtype=np.int64)
        ov = _fill_partners(order, reach, ov_ptr)
        # Bytes live per step (np.add.at: exact in int64, unlike bincount's
        # float weights), and buffers live at both t and t + 1.
        total = np.zeros(T + 1, dtype=np.int64)
        np.add.at(total, s_arr, z_arr)
        np.add.at(total, e_arr + 1, -z_arr)
        spans = (np.bincount(s_arr, minlength=T + 1)
                 - np.bincount(e_arr, minlength=T + 1)).astype(np.int64)
        self.n, self.T = n, T
        self.s_arr, self.e_arr, self.z_arr, self.w_arr = s_arr, e_arr, z_arr, w_arr
        self.sec_ptr = sec_ptr
        self.sec = sec
        self.ov_ptr = ov_ptr
        self.ov = ov
        self.total0 = np.cumsum(total)[:T].copy()
        self.cuts0 = np.cumsum(spans)[:T].copy()
        self.by_start = order

    def decide(self, rank, long long capacity, long long max_nodes=-1, double seconds=-1.0,
               int heuristic=0, bint section_floors=True, bint decompose=True):
        """See the module's decide(); the same arguments after the buffers."""
        cdef Py_ssize_t n = self.n, T = self.T, j
        r_arr = np.array(rank, dtype=np.int64)      # a copy: parts rewrite it
        if r_arr.shape != (n,) or not np.array_equal(np.sort(r_arr), np.arange(n)):
            raise ValueError("rank must be a permutation of range(n)")
        if capacity < 0:
            raise ValueError("capacity must be >= 0")
        if heuristic not in (0, 1, 2, 3):
            raise ValueError("heuristic must be 0, 1, 2 or 3")
        if n == 0:
            return 1, np.zeros(0, dtype=np.int64), 0
        off_arr = np.full(n, -1, dtype=np.int64)
        minoff_arr = np.zeros(n, dtype=np.int64)
        most_arr = np.zeros(n, dtype=np.int64)
        floor_arr = np.zeros(T, dtype=np.int64)
        stamp_arr = np.zeros(T, dtype=np.int64)
        total_arr = self.total0.copy()
        cuts_arr = self.cuts0.copy()
        cdef int64_t[::1] s_v = self.s_arr, e_v = self.e_arr, z_v = self.z_arr
        cdef int64_t[::1] w_v = self.w_arr, r_v = r_arr
        cdef int64_t[::1] ovp_v = self.ov_ptr, ov_v = self.ov
        cdef int64_t[::1] secp_v = self.sec_ptr, sec_v = self.sec
        cdef int64_t[::1] off_v = off_arr, min_v = minoff_arr, most_v = most_arr
        cdef int64_t[::1] fl_v = floor_arr, st_v = stamp_arr
        cdef int64_t[::1] tot_v = total_arr, cut_v = cuts_arr, act_v = self.by_start
        cdef Search g
        g.n = n
        g.T = T
        g.s = &s_v[0]
        g.e = &e_v[0]
        g.z = &z_v[0]
        g.rank = &r_v[0]
        g.width = &w_v[0]
        g.most = &most_v[0]
        g.heuristic = heuristic
        g.ov_ptr = &ovp_v[0]
        g.ov = &ov_v[0]
        g.sec_ptr = &secp_v[0]
        g.sec = &sec_v[0]
        g.off = &off_v[0]
        g.minoff = &min_v[0]
        g.floor = &fl_v[0]
        g.total = &tot_v[0]
        g.stamp = &st_v[0]
        g.cuts = &cut_v[0]
        g.stamp_now = 0
        g.capacity = capacity
        g.section_floors = section_floors
        g.decompose = decompose
        g.nodes = 0
        g.max_nodes = max_nodes
        g.deadline = _now() + seconds if seconds >= 0 else -1.0
        g.trail_cap = 3 * (4 * n + 4 * T + 64)
        g.trail = <int64_t*>malloc(g.trail_cap * sizeof(int64_t))
        g.trail_len = 0
        cdef int status = STOPPED
        try:
            if g.trail == NULL:
                raise MemoryError()
            with nogil:
                # Nothing fits if one buffer alone, or one step's bytes,
                # exceed the capacity.
                for j in range(n):
                    if z_v[j] > capacity:
                        status = NONE
                for j in range(T):
                    if tot_v[j] > capacity:
                        status = NONE
                if status == STOPPED:
                    if decompose:
                        status = _split(&g, &act_v[0], n, 0, T - 1, 0)
                    else:
                        status = _solve(&g, &act_v[0], n, 0, T - 1, 0)
            if status == NO_MEMORY:
                raise MemoryError()
            if status == FOUND:
                return 1, off_arr, g.nodes
            return status, None, g.nodes
        finally:
            free(g.trail)


def decide(start, end, size, rank, long long capacity, long long max_nodes=-1,
           double seconds=-1.0, bint section_floors=True, bint decompose=True,
           width=None, int heuristic=0):
    """Offsets for buffers live over inclusive steps [start, end] with
    `size` > 0 bytes, all within `capacity`, or a proof that there are none.

    rank    a permutation of range(n): the static preorder that breaks ties
            between equal lowest offsets (and so sets the search's order)
    max_nodes, seconds
            stop after this many nodes or seconds (-1: no limit)
    section_floors
            raise each step's floor to the lowest offset of the unplaced
            buffers live there (stronger pruning, costlier nodes)
    decompose
            when no unplaced buffer is live on both sides of a step, solve
            the two sides apart, each once (a failure on one side is not
            retried with other placements on the other)
    width, heuristic
            heuristic 1, 2, 3 ("WAT", "TAW", "TWA"): each independent part
            is ranked again by decreasing lifetime (`width`, > 0), area
            (width x size) and the bytes still unplaced at its busiest
            step, in that priority; `rank` orders only what is solved
            whole. 0: `rank` throughout.

    Returns (status, offsets, nodes): status 1 = offsets found (an int64
    array), 0 = proven: no packing within capacity, -1 = stopped first
    (offsets None). O(nodes x (b + T + work of one placement)).
    Many decisions over the same buffers: build an Instance once.
    """
    return Instance(start, end, size, width).decide(
        rank, capacity, max_nodes, seconds, heuristic, section_floors, decompose)
