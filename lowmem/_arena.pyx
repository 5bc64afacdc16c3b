# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Arena offsets by skyline search: every buffer gets an offset in one arena
so that buffers live at the same step never overlap, the arena as small as
the search finds, and proven the smallest possible when the search ends.

Buffers are live intervals [start, end] over steps with a size in bytes.
The search builds a packing from the bottom up. Its state is a *floor* per
step: every buffer not yet placed that is live at that step will sit at or
above it (0 at first, or a floor the caller gives). Floors form runs
(maximal stretches of equal floor). Each node takes a run S = [a, c] at
height h lower than both its neighbours (the lowest run, leftmost of
equals; or, to focus, the one whose floor plus unplaced bytes live at one
of its steps is highest) and either

* places a buffer b whose interval lies inside S at offset h, and raises
  the steps of S before b's start, [a, start(b) - 1], to the lower of the
  floor left of S and h + size(b): b is the first buffer (by start) at
  height h in S, so none sits at h on those steps; or
* places nothing at height h in S: raises S to the lower of the floors of
  its neighbours.

Why no packing is lost: push every buffer of a packing down until it rests
on a buffer live at a common step, or on the floor. Its buffers at height
h that are live in S lie inside S (reaching past S would take them over a
higher floor). If there are some, let b be the one with the earliest
start: the first move, with b. Let R be the stretch that move raises
([a, start(b) - 1]; for the second move, S itself), and w the lowest
unplaced buffer live somewhere in R: it sits above h, and what it rests
on is not live in R (that would be a lower such buffer, or a placed one,
under the floor h), so w reaches past R and sits no lower than the floor
next to R. So every pushed-down packing is reached by one path (identical
buffers, equal in start, end and size, are interchangeable and tried
once). A node is cut when, at some step, its floor plus the bytes of
unplaced buffers live there reaches the best arena found: those buffers
all sit above the floor and do not overlap. This bound only rises along a
path, and at a leaf (all placed) it is the arena itself.

The first path is a greedy packing: the candidate with the earliest start,
the largest of those, and a raise only when nothing fits. Its choices
depend on the run alone, so the choice of run does not change it, only
the order in which backtracking revisits choices. Randomised probes pass
over candidates at random (`noise`). Steps are compressed to the T <= b
distinct start steps (with a floor, to the T <= 2b stretches in which no
interval starts or ends); segment trees over them find the run to extend,
the next start holding a candidate that fits, and the most bytes unplaced
over a stretch, so a path costs O((b + T) log T). Undo is a trail of
changed entries: backtracking costs what the step forward did.
"""

import numpy as np

from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, free

from ._trail cimport trail_pop, trail_push

cdef int64_t INF = (<int64_t>1) << 62


def step_totals(index, values, Py_ssize_t n):
    """Exact int64 sums of values per index in [0, n) (np.add.at, fast)."""
    index = np.ascontiguousarray(index, dtype=np.int64)
    values = np.ascontiguousarray(values, dtype=np.int64)
    if index.shape != values.shape or (len(index) and (index.min() < 0 or index.max() >= n)):
        raise ValueError("one value per index, indices in [0, n)")
    out = np.zeros(n, dtype=np.int64)
    cdef int64_t[::1] ix = index, vs = values, o = out
    cdef Py_ssize_t i
    with nogil:
        for i in range(ix.shape[0]):
            o[ix[i]] += vs[i]
    return out


def live_bytes(start, end, size, Py_ssize_t n_steps):
    """Bytes live at each step of [0, n_steps) for intervals [start, end]."""
    start = np.ascontiguousarray(start, dtype=np.int64)
    end = np.ascontiguousarray(end, dtype=np.int64)
    size = np.ascontiguousarray(size, dtype=np.int64)
    delta = step_totals(start, size, n_steps + 1) - step_totals(end + 1, size, n_steps + 1)
    return np.cumsum(delta[:n_steps])


# ------------------------------------------------------------ search state
cdef struct Engine:
    Py_ssize_t n, T, P               # buffers (size > 0), steps, tree leaves
    int64_t* s                       # per buffer (compressed steps)
    int64_t* e
    int64_t* z
    int64_t* lst_ptr                 # buffers by start step (CSR), largest first
    int64_t* lst
    char* placed
    int64_t* off
    int64_t* fl                      # floor of the run starting at a step
    int64_t* rend                    # end of the run starting at a step
    int64_t* rstart                  # start of the run ending at a step
    int64_t* ftree                   # min floor over run starts (INF elsewhere)
    int64_t* ptree                   # max pressure over local-minimum run starts
    int64_t* etree                   # min end of unplaced buffers by start step
    int64_t* rmax                    # unplaced bytes live per step: range max...
    int64_t* radd                    # ...with lazy range add
    int64_t* trail                   # (kind, index, old value) triples
    Py_ssize_t trail_len, trail_cap
    bint focus                       # extend the run under most pressure (ptree)


# ------------------------------------------------------------ segment trees
cdef inline void min_tree_set(int64_t* t, Py_ssize_t P, Py_ssize_t i, int64_t v) noexcept nogil:
    """Leaf i of a min segment tree (leaves at P..2P-1) := v."""
    cdef Py_ssize_t k = i + P
    t[k] = v
    k >>= 1
    while k >= 1:
        t[k] = t[2 * k] if t[2 * k] <= t[2 * k + 1] else t[2 * k + 1]
        k >>= 1


cdef inline void max_tree_set(int64_t* t, Py_ssize_t P, Py_ssize_t i, int64_t v) noexcept nogil:
    """Leaf i of a max segment tree := v."""
    cdef Py_ssize_t k = i + P
    t[k] = v
    k >>= 1
    while k >= 1:
        t[k] = t[2 * k] if t[2 * k] >= t[2 * k + 1] else t[2 * k + 1]
        k >>= 1


cdef inline Py_ssize_t tree_leftmost_root(const int64_t* t, Py_ssize_t P) noexcept nogil:
    """Leftmost leaf holding the root's value (the min or max of the tree)."""
    cdef Py_ssize_t k = 1
    while k < P:
        k = 2 * k if t[2 * k] == t[k] else 2 * k + 1
    return k - P


cdef inline void ftree_set(Engine* g, Py_ssize_t i, int64_t v) noexcept nogil:
    min_tree_set(g.ftree, g.P, i, v)


cdef inline Py_ssize_t ftree_lowest(Engine* g) noexcept nogil:
    """Leftmost run start of the lowest floor."""
    return tree_leftmost_root(g.ftree, g.P)


cdef inline void ptree_set(Engine* g, Py_ssize_t i, int64_t v) noexcept nogil:
    max_tree_set(g.ptree, g.P, i, v)


cdef inline Py_ssize_t ptree_best(Engine* g) noexcept nogil:
    """Leftmost run start of the highest pressure."""
    return tree_leftmost_root(g.ptree, g.P)


cdef inline void etree_set(Engine* g, Py_ssize_t i, int64_t v) noexcept nogil:
    min_tree_set(g.etree, g.P, i, v)


cdef Py_ssize_t etree_first(Engine* g, Py_ssize_t k, Py_ssize_t nl, Py_ssize_t nr,
                            Py_ssize_t lo, Py_ssize_t hi, int64_t bound) noexcept nogil:
    """Leftmost start step in [lo, hi] with an unplaced buffer ending <= bound, or -1."""
    if nr < lo or hi < nl or g.etree[k] > bound:
        return -1
    if nl == nr:
        return nl
    cdef Py_ssize_t mid = (nl + nr) >> 1
    cdef Py_ssize_t r = etree_first(g, 2 * k, nl, mid, lo, hi, bound)
    if r >= 0:
        return r
    return etree_first(g, 2 * k + 1, mid + 1, nr, lo, hi, bound)


cdef void rem_add(Engine* g, Py_ssize_t k, Py_ssize_t nl, Py_ssize_t nr,
                  Py_ssize_t lo, Py_ssize_t hi, int64_t v) noexcept nogil:
    if nr < lo or hi < nl:
        return
    if lo <= nl and nr <= hi:
        g.rmax[k] += v
        g.radd[k] += v
        return
    cdef Py_ssize_t mid = (nl + nr) >> 1
    rem_add(g, 2 * k, nl, mid, lo, hi, v)
    rem_add(g, 2 * k + 1, mid + 1, nr, lo, hi, v)
    g.rmax[k] = g.radd[k] + (g.rmax[2 * k] if g.rmax[2 * k] >= g.rmax[2 * k + 1] else g.rmax[2 * k + 1])


cdef int64_t rem_max(Engine* g, Py_ssize_t k, Py_ssize_t nl, Py_ssize_t nr,
                     Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    if nr < lo or hi < nl:
        return -INF
    if lo <= nl and nr <= hi:
        return g.rmax[k]
    cdef Py_ssize_t mid = (nl + nr) >> 1
    cdef int64_t x = rem_max(g, 2 * k, nl, mid, lo, hi), y = rem_max(g, 2 * k + 1, mid + 1, nr, lo, hi)
    return g.radd[k] + (x if x >= y else y)


# ------------------------------------------------------------- runs + trail
cdef enum:
    K_FL = 0
    K_REND = 1
    K_RSTART = 2
    K_FTREE = 3
    K_PTREE = 4


cdef inline int _push(Engine* g, int64_t kind, int64_t idx, int64_t old) noexcept nogil:
    return trail_push(&g.trail, &g.trail_len, &g.trail_cap, kind, idx, old)


cdef inline void undo_to(Engine* g, Py_ssize_t mark) noexcept nogil:
    cdef int64_t kind, idx, old
    while g.trail_len > mark:
        trail_pop(g.trail, &g.trail_len, &kind, &idx, &old)
        if kind == K_FL:
            g.fl[idx] = old
        elif kind == K_REND:
            g.rend[idx] = old
        elif kind == K_RSTART:
            g.rstart[idx] = old
        elif kind == K_FTREE:
            ftree_set(g, idx, old)
        else:
            ptree_set(g, idx, old)


cdef inline int set_run(Engine* g, Py_ssize_t l, Py_ssize_t r, int64_t v) noexcept nogil:
    if (_push(g, K_FL, l, g.fl[l]) or _push(g, K_REND, l, g.rend[l])
            or _push(g, K_RSTART, r, g.rstart[r]) or _push(g, K_FTREE, l, g.ftree[l + g.P])):
        return -1
    g.fl[l] = v
    g.rend[l] = r
    g.rstart[r] = l
    ftree_set(g, l, v)
    return 0


cdef inline int kill_start(Engine* g, Py_ssize_t l) noexcept nogil:
    if _push(g, K_FTREE, l, g.ftree[l + g.P]):
        return -1
    ftree_set(g, l, INF)
    if g.focus and g.ptree[l + g.P] != -INF:
        if _push(g, K_PTREE, l, g.ptree[l + g.P]):
            return -1
        ptree_set(g, l, -INF)
    return 0


cdef int refresh_focus(Engine* g, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """Recompute the pressure of the runs from the one before step lo to the
    one after step hi (lo a run start, hi a run end): a local-minimum run
    (neighbours higher) scores its floor plus the most unplaced bytes live
    at one of its steps; one with nothing unplaced scores very low; other
    runs cannot be chosen."""
    cdef Py_ssize_t k = g.rstart[lo - 1] if lo > 0 else lo
    cdef Py_ssize_t last = g.rend[hi + 1] if hi + 1 < g.T else hi
    cdef int64_t prev, nxt, m, v
    while k <= last:
        prev = g.fl[g.rstart[k - 1]] if k > 0 else INF
        nxt = g.fl[g.rend[k] + 1] if g.rend[k] + 1 < g.T else INF
        v = -INF
        if prev > g.fl[k] and nxt > g.fl[k]:
            m = rem_max(g, 1, 0, g.P - 1, k, g.rend[k])
            v = g.fl[k] + m if m > 0 else -INF // 2
        if v != g.ptree[k + g.P]:
            if _push(g, K_PTREE, k, g.ptree[k + g.P]):
                return -1
            ptree_set(g, k, v)
        k = g.rend[k] + 1
    return 0


cdef int rewrite(Engine* g, int64_t* pl, int64_t* pr, int64_t* pv, Py_ssize_t m,
                 int64_t* old_starts, Py_ssize_t n_old) noexcept nogil:
    """Replace runs by the pieces (pl, pr, pv)[:m] (consecutive, covering the
    old runs whose starts are old_starts), merging equal neighbours."""
    cdef Py_ssize_t i, j, k = 0
    cdef int64_t nl[8]
    cdef int64_t nr[8]
    cdef int64_t nv[8]
    for i in range(m):
        if k and nv[k - 1] == pv[i]:
            nr[k - 1] = pr[i]
        else:
            nl[k] = pl[i]
            nr[k] = pr[i]
            nv[k] = pv[i]
            k += 1
    for i in range(n_old):
        for j in range(k):
            if nl[j] == old_starts[i]:
                break
        else:
            if kill_start(g, old_starts[i]):
                return -1
    for j in range(k):
        if set_run(g, nl[j], nr[j], nv[j]):
            return -1
    return 0


cdef int apply_move(Engine* g, Py_ssize_t b, Py_ssize_t a, Py_ssize_t c, int64_t h,
                    int64_t lf, int64_t rf) noexcept nogil:
    """Place buffer b (b >= 0) at height h in the run [a, c], or raise the
    run (b < 0). Run changes go to the trail; b's own state is the caller's."""
    cdef int64_t pl[5]
    cdef int64_t pr[5]
    cdef int64_t pv[5]
    cdef int64_t old[3]
    cdef Py_ssize_t m = 0, n_old = 0
    cdef int64_t top
    if a > 0:
        pl[m] = g.rstart[a - 1]
        pr[m] = a - 1
        pv[m] = lf
        old[n_old] = pl[m]
        m += 1
        n_old += 1
    old[n_old] = a
    n_old += 1
    if b < 0:
        pl[m] = a
        pr[m] = c
        pv[m] = lf if lf <= rf else rf
        m += 1
    else:
        top = h + g.z[b]
        if g.s[b] > a:
            pl[m] = a
            pr[m] = g.s[b] - 1
            pv[m] = lf if lf <= top else top
            m += 1
        pl[m] = g.s[b]
        pr[m] = g.e[b]
        pv[m] = top
        m += 1
        if g.e[b] < c:
            pl[m] = g.e[b] + 1
            pr[m] = c
            pv[m] = h
            m += 1
    if c + 1 < g.T:
        pl[m] = c + 1
        pr[m] = g.rend[c + 1]
        pv[m] = rf
        old[n_old] = c + 1
        m += 1
        n_old += 1
    return rewrite(g, pl, pr, pv, m, old, n_old)


cdef inline void refresh_start(Engine* g, Py_ssize_t st) noexcept nogil:
    """Recompute the smallest end of the unplaced buffers starting at st."""
    cdef int64_t best = INF
    cdef Py_ssize_t q, b
    for q in range(g.lst_ptr[st], g.lst_ptr[st + 1]):
        b = g.lst[q]
        if not g.placed[b] and g.e[b] < best:
            best = g.e[b]
    etree_set(g, st, best)


# --------------------------------------------------------------------- search
cdef struct Frame:
    Py_ssize_t a, c                  # the lowest run
    int64_t h, lf, rf                # its floor, its neighbours' floors (INF: none)
    int64_t lb                       # bound at this node
    Py_ssize_t st, q                 # candidate cursor: start step, list position
    Py_ssize_t child                 # buffer placed by the current child, -1: raise, -2: none
    Py_ssize_t mark                  # trail length before the current child
    int raised                       # the raise child was tried


cdef inline Py_ssize_t undo_frame(Engine* g, Frame* f, Py_ssize_t P) noexcept nogil:
    """Undo the changes made since frame f and take back its child (the
    buffer it placed, if any); returns how many buffers were unplaced."""
    cdef Py_ssize_t b = f.child
    undo_to(g, f.mark)
    f.child = -2
    if b < 0:
        return 0
    g.placed[b] = 0
    rem_add(g, 1, 0, P - 1, g.s[b], g.e[b], g.z[b])
    refresh_start(g, g.s[b])
    return 1


def skyline_search(start, end, size, long long upper=-1, long long max_nodes=1_000_000,
                   bint first=False, floor=None, bint focus=False, double noise=0.0,
                   long long seed=0, long long probes=1):
    """Search offsets for buffers (start, end, size) with an arena below
    `upper` (-1: no limit), visiting at most `max_nodes` search nodes;
    with `first`, stop at the first packing found (without `upper`, the
    greedy packing: at most 3 b + 2 nodes).

    floor   optional, bytes per step through the last end: each buffer must
            sit at or above the floor of every step it is live at (room
            taken by others); the arena counts the floor too.
    focus   take the local-minimum run under most pressure (its floor plus
            the most bytes unplaced at one of its steps) instead of the
            lowest run: any run lower than both neighbours will do, and
            this puts the decisions where the bound bites first.
    noise   pass over each candidate with this probability (xorshift
            stream from `seed`): a randomised probe, never complete.
    probes  with `first` and `noise`: this many probes from the root, each
            until it finds a packing below the best so far or has spent
            4 b + 8 nodes (all within max_nodes).

    Returns (offsets, arena, nodes, complete): offsets (int64 per buffer,
    0 for empty buffers) and arena of the best packing found, or
    (None, upper, ...) if it found none (below `upper`); complete is True when the
    search finished (so no packing below the returned arena exists) or
    reached the bound (floor plus bytes live, at the worst step).
    """
    start = np.ascontiguousarray(start, dtype=np.int64)
    end = np.ascontiguousarray(end, dtype=np.int64)
    size = np.ascontiguousarray(size, dtype=np.int64)
    if not (start.shape == end.shape == size.shape) or start.ndim != 1:
        raise ValueError("start, end and size must be 1-d arrays of one length")
    if len(start) and (start.min() < 0 or np.any(end < start) or size.min() < 0):
        raise ValueError("intervals must satisfy 0 <= start <= end, sizes >= 0")
    if max_nodes < 1:
        raise ValueError("max_nodes must be at least 1")
    if not 0.0 <= noise < 1.0:
        raise ValueError("noise must be in [0, 1)")
    if probes < 1:
        raise ValueError("probes must be at least 1")
    if floor is not None:
        floor = np.ascontiguousarray(floor, dtype=np.int64)
        if floor.ndim != 1 or (len(end) and len(floor) <= end.max()):
            raise ValueError("floor must give one figure per step, through the last end")
    keep = np.flatnonzero(size > 0)
    offsets = np.zeros(len(size), dtype=np.int64)
    if len(keep) == 0:
        base = int(floor.max()) if floor is not None and len(floor) else 0
        return (offsets, base, 0, True) if upper < 0 or upper > base else (None, upper, 0, True)
    # Compress steps. Without a floor, to the distinct start steps: intervals
    # overlap iff each starts no later than the other ends, which ranks
    # preserve. With one, to stretches of steps that every interval covers
    # whole or not at all (cut at each start and after each end), so that
    # the highest floor of a stretch binds every buffer live in it.
    if floor is None:
        starts = np.unique(start[keep])
    else:
        cuts = np.unique(np.concatenate((start[keep], end[keep] + 1)))
        starts = cuts[:len(cuts) - 1]      # the last cut starts no stretch
    s_arr = np.searchsorted(starts, start[keep]).astype(np.int64)
    e_arr = (np.searchsorted(starts, end[keep], side="right") - 1).astype(np.int64)
    z_arr = size[keep].copy()
    cdef Py_ssize_t n = len(keep), T = len(starts), P = 1
    while P < T:
        P *= 2
    # Candidates per start step: largest first, then shortest, then id.
    by = np.lexsort((np.arange(n), e_arr, -z_arr, s_arr)).astype(np.int64)
    ptr = np.zeros(T + 1, dtype=np.int64)
    np.cumsum(step_totals(s_arr, np.ones(n, dtype=np.int64), T), out=ptr[1:])
    live = live_bytes(s_arr, e_arr, z_arr, T)
    # Floor per compressed step: the highest floor of the steps it stands for.
    if floor is None:
        fz = np.zeros(T, dtype=np.int64)
    else:
        fz = np.maximum.reduceat(floor[:int(end[keep].max()) + 1], starts).astype(np.int64)
    cdef int64_t floor_top = int(floor.max()) if floor is not None else 0
    cdef int64_t lb_root = max(int((live + fz).max()), floor_top)
    cdef int64_t ub = INF if upper < 0 else upper
    if lb_root >= ub:
        return None, upper, 0, True

    cdef int64_t[::1] s_v = s_arr, e_v = e_arr, z_v = z_arr, by_v = by, ptr_v = ptr, live_v = live
    cdef int64_t[::1] fz_v = fz
    best_arr = np.zeros(n, dtype=np.int64)
    cdef int64_t[::1] best_v = best_arr
    cdef Engine g
    g.n = n
    g.T = T
    g.P = P
    g.s = &s_v[0]
    g.e = &e_v[0]
    g.z = &z_v[0]
    g.lst_ptr = &ptr_v[0]
    g.lst = &by_v[0]
    g.placed = <char*>malloc(n)
    g.off = <int64_t*>malloc(n * sizeof(int64_t))
    g.fl = <int64_t*>malloc(T * sizeof(int64_t))
    g.rend = <int64_t*>malloc(T * sizeof(int64_t))
    g.rstart = <int64_t*>malloc(T * sizeof(int64_t))
    g.ftree = <int64_t*>malloc(2 * P * sizeof(int64_t))
    g.ptree = <int64_t*>malloc(2 * P * sizeof(int64_t))
    g.focus = focus
    g.etree = <int64_t*>malloc(2 * P * sizeof(int64_t))
    g.rmax = <int64_t*>malloc(2 * P * sizeof(int64_t))
    g.radd = <int64_t*>malloc(2 * P * sizeof(int64_t))
    g.trail_cap = 3 * 16 * (n + T + 8)          # grows when needed
    g.trail = <int64_t*>malloc(g.trail_cap * sizeof(int64_t))
    g.trail_len = 0
    cdef Py_ssize_t max_depth = 4 * n + T + 8
    cdef Frame* stack = <Frame*>malloc(max_depth * sizeof(Frame))
    cdef Py_ssize_t i, k, depth, b, q, st, placed_count = 0, prev, lo, hi
    cdef long long nodes = 0
    cdef unsigned long long rng = <unsigned long long>seed * 2654435761ULL + 88172645463325252ULL
    cdef int64_t arena = -1, top, v, newlb, lo_floor
    cdef bint complete = False, failed = False, restart = False
    cdef long long probes_left = probes, probe_start, probe_limit = 4 * n + 8
    cdef Frame* f
    try:
        if (g.placed == NULL or g.off == NULL or g.fl == NULL or g.rend == NULL or g.rstart == NULL
                or g.ftree == NULL or g.ptree == NULL or g.etree == NULL or g.rmax == NULL or g.radd == NULL
                or g.trail == NULL or stack == NULL):
            raise MemoryError()
        with nogil:
            for i in range(n):
                g.placed[i] = 0
                g.off[i] = 0
            for i in range(2 * P):
                g.ftree[i] = INF
                g.ptree[i] = -INF
                g.etree[i] = INF
                g.rmax[i] = -INF
                g.radd[i] = 0
            for i in range(T):
                g.rmax[P + i] = live_v[i]
            for i in range(P - 1, 0, -1):
                g.rmax[i] = g.rmax[2 * i] if g.rmax[2 * i] >= g.rmax[2 * i + 1] else g.rmax[2 * i + 1]
            for i in range(T):
                g.fl[i] = 0
                g.rend[i] = 0
                g.rstart[i] = 0
                refresh_start(&g, i)
            k = 0                                  # runs of equal floor
            for i in range(1, T + 1):
                if i == T or fz_v[i] != fz_v[k]:
                    g.fl[k] = fz_v[k]
                    g.rend[k] = i - 1
                    g.rstart[i - 1] = k
                    ftree_set(&g, k, fz_v[k])
                    k = i
            if focus and refresh_focus(&g, 0, T - 1):
                failed = True

            depth = -1 if failed else 0
            f = &stack[0]
            f.lb = lb_root
            f.child = -2
            f.st = -1
            probe_start = 0
            while True:
                if depth < 0 or restart:
                    # The search, or a probe, is over: another probe?
                    if (probes_left > 1 and noise > 0 and lb_root < ub and nodes < max_nodes):
                        while depth > 0:            # unwind to the root
                            depth -= 1
                            f = &stack[depth]
                            placed_count -= undo_frame(&g, f, P)
                        probes_left -= 1
                        probe_start = nodes
                        restart = False
                        depth = 0
                        stack[0].lb = lb_root
                        stack[0].child = -2
                        stack[0].st = -1
                    else:
                        if depth < 0:
                            complete = noise <= 0   # exhausted, unless candidates were passed over
                        break
                f = &stack[depth]
                if f.st < 0:
                    # A fresh node: a leaf, cut, or find its lowest run.
                    nodes += 1
                    if f.lb >= ub:
                        depth -= 1
                        continue
                    if placed_count == n:
                        arena = floor_top
                        for i in range(n):
                            best_v[i] = g.off[i]
                            if g.off[i] + g.z[i] > arena:
                                arena = g.off[i] + g.z[i]
                        ub = arena
                        if ub <= lb_root:
                            complete = True
                            break
                        if first:
                            restart = True
                            continue
                        depth -= 1
                        continue
                    if nodes > max_nodes:
                        break
                    if first and noise > 0 and nodes - probe_start > probe_limit:
                        restart = True
                        continue
                    f.a = ptree_best(&g) if focus else ftree_lowest(&g)
                    f.c = g.rend[f.a]
                    f.h = g.fl[f.a]
                    f.lf = g.fl[g.rstart[f.a - 1]] if f.a > 0 else INF
                    f.rf = g.fl[f.c + 1] if f.c + 1 < T else INF
                    f.st = f.a
                    f.q = g.lst_ptr[f.a]
                    f.raised = 0
                    f.child = -2
                else:
                    # Back from a child: undo it.
                    placed_count -= undo_frame(&g, f, P)
                # Next child: the next candidate inside the run, then the raise.
                b = -1
                while f.st <= f.c:
                    if f.q >= g.lst_ptr[f.st + 1]:
                        st = etree_first(&g, 1, 0, P - 1, f.st + 1, f.c, f.c)
                        if st < 0:
                            f.st = f.c + 1
                            break
                        f.st = st
                        f.q = g.lst_ptr[st]
                    q = f.q
                    f.q += 1
                    i = g.lst[q]
                    if g.placed[i] or g.e[i] > f.c:
                        continue
                    if q > g.lst_ptr[f.st]:
                        prev = g.lst[q - 1]
                        if (not g.placed[prev] and g.e[prev] == g.e[i] and g.z[prev] == g.z[i]):
                            continue            # an identical buffer was tried
                    top = f.h + g.z[i]
                    newlb = f.lb
                    if g.s[i] > f.a:
                        lo_floor = f.lf if f.lf <= top else top
                        v = lo_floor + rem_max(&g, 1, 0, P - 1, f.a, g.s[i] - 1)
                        if v > newlb:
                            newlb = v
                    if newlb >= ub:
                        continue
                    if noise > 0:                   # xorshift64: pass it over?
                        rng ^= rng << 13
                        rng ^= rng >> 7
                        rng ^= rng << 17
                        if (rng >> 11) * (1.0 / 9007199254740992.0) < noise:
                            continue
                    b = i
                    break
                if b >= 0:
                    f.mark = g.trail_len
                    f.child = b
                    lo = g.rstart[f.a - 1] if f.a > 0 else f.a
                    hi = g.rend[f.c + 1] if f.c + 1 < T else f.c
                    if apply_move(&g, b, f.a, f.c, f.h, f.lf, f.rf):
                        failed = True
                        break
                    g.placed[b] = 1
                    g.off[b] = f.h
                    placed_count += 1
                    rem_add(&g, 1, 0, P - 1, g.s[b], g.e[b], -g.z[b])
                    refresh_start(&g, g.s[b])
                    if focus and refresh_focus(&g, lo, hi):
                        failed = True
                        break
                elif not f.raised:
                    f.raised = 1
                    v = f.lf if f.lf <= f.rf else f.rf
                    if v >= INF:
                        depth -= 1
                        continue
                    newlb = v + rem_max(&g, 1, 0, P - 1, f.a, f.c)
                    if newlb < f.lb:
                        newlb = f.lb
                    if newlb >= ub:
                        depth -= 1
                        continue
                    f.mark = g.trail_len
                    f.child = -1
                    lo = g.rstart[f.a - 1] if f.a > 0 else f.a
                    hi = g.rend[f.c + 1] if f.c + 1 < T else f.c
                    if apply_move(&g, -1, f.a, f.c, f.h, f.lf, f.rf):
                        failed = True
                        break
                    if focus and refresh_focus(&g, lo, hi):
                        failed = True
                        break
                else:
                    depth -= 1
                    continue
                depth += 1
                stack[depth].lb = newlb
                stack[depth].st = -1
                stack[depth].child = -2
        if failed:
            raise MemoryError()
    finally:
        free(g.placed)
        free(g.off)
        free(g.fl)
        free(g.rend)
        free(g.rstart)
        free(g.ftree)
        free(g.ptree)
        free(g.etree)
        free(g.rmax)
        free(g.radd)
        free(g.trail)
        free(stack)
    if arena < 0:
        return None, upper, int(nodes), bool(complete)
    offsets[keep] = best_arr
    return offsets, int(arena), int(nodes), bool(complete)
