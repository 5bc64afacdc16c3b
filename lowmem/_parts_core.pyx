# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Hot loops of _parts.py: connected components (union-find) and the
block decomposition of one memory profile for the min-max merge.

Both check their inputs here (ids in range, byte values in [0, 2**62))
before any unchecked indexing, so that any array Python passes is safe.
"""

import numpy as np

from libc.stdint cimport int64_t

cdef int64_t BYTES_LIMIT = (<int64_t>1) << 62


cdef inline Py_ssize_t _find(int64_t* parent, Py_ssize_t x) noexcept nogil:
    # Path halving: every visited element skips to its grandparent.
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def components(Py_ssize_t n, src, dst):
    """label[x] = the smallest element of x's connected component, for the
    undirected graph on elements 0..n-1 with edges (src[e], dst[e]).

    Union-find (Tarjan 1975) linking the larger root under the smaller, with
    path halving: O((n + edges) log n) worst case, near-linear in practice.
    ValueError on an id outside [0, n) or arrays of different lengths.
    """
    if n < 0:
        raise ValueError("components: n must be >= 0")
    s_arr = np.ascontiguousarray(src, dtype=np.int64)
    d_arr = np.ascontiguousarray(dst, dtype=np.int64)
    if s_arr.ndim != 1 or d_arr.shape != s_arr.shape:
        raise ValueError("components: src and dst must be 1-d arrays of one length")
    cdef const int64_t[::1] s = s_arr, d = d_arr
    cdef Py_ssize_t e, m = s.shape[0], a, b
    for e in range(m):
        if s[e] < 0 or s[e] >= n or d[e] < 0 or d[e] >= n:
            raise ValueError(f"components: edge {e} has an element outside [0, {n})")
    parent_arr = np.arange(n, dtype=np.int64)
    if n == 0:
        return parent_arr
    cdef int64_t[::1] parent = parent_arr
    cdef int64_t* p = &parent[0]
    with nogil:
        for e in range(m):
            a = _find(p, s[e])
            b = _find(p, d[e])
            # Roots only move to smaller ids, so every root is its
            # component's smallest element.
            if a < b:
                p[b] = a
            elif b < a:
                p[a] = b
        for e in range(n):
            p[e] = _find(p, e)
    return parent_arr


cdef inline bint _runs_before(int64_t c1, int64_t d1, int64_t c2, int64_t d2) noexcept nogil:
    """Whether a block (rise c1 above its start, net change d1) has a
    strictly smaller merge key than (c2, d2): blocks that lower memory
    (d < 0) first, by increasing rise; then the others by decreasing
    c - d (the hill above the valley it ends in)."""
    if (d1 < 0) != (d2 < 0):
        return d1 < 0
    if d1 < 0:
        return c1 < c2
    return c1 - d1 > c2 - d2


cdef Py_ssize_t _cut(const int64_t* a, Py_ssize_t n, int64_t* E, int64_t* C,
                    int64_t* D) noexcept nogil:
    """Blocks of the profile a[0..n] into E, C, D (room for n each); their
    number. See profile_blocks."""
    cdef Py_ssize_t i, top = 0
    cdef int64_t c, d
    for i in range(1, n + 1):
        c = d = a[i] - a[i - 1]
        while top > 0 and _runs_before(c, d, C[top - 1], D[top - 1]):
            # Join with the block before: its rise, or its net change
            # then this block's rise; the net changes add.
            top -= 1
            c = max(C[top], D[top] + c)
            d = D[top] + d
        C[top] = c
        D[top] = d
        E[top] = i
        top += 1
    return top


def profile_blocks_many(points, ptr):
    """profile_blocks of every profile points[ptr[p]:ptr[p+1]] at once:
    (part, ends, rise, net) int64 arrays, the blocks of part 0 first, each
    part's in order; ends are positions within the part's own profile.
    ValueError unless ptr runs from 0 to len(points) with at least one
    point per profile and every point is in [0, 2**62). O(points)."""
    a_arr = np.ascontiguousarray(points, dtype=np.int64)
    p_arr = np.ascontiguousarray(ptr, dtype=np.int64)
    if a_arr.ndim != 1 or p_arr.ndim != 1 or p_arr.shape[0] < 1:
        raise ValueError("profiles: expected 1-d points and a 1-d pointer array")
    cdef const int64_t[::1] a = a_arr, pp = p_arr
    cdef Py_ssize_t i, q, n_parts = pp.shape[0] - 1, total = a.shape[0], top = 0, got
    if pp[0] != 0 or pp[n_parts] != total:
        raise ValueError("profiles: ptr must run from 0 to the number of points")
    for q in range(n_parts):
        if pp[q + 1] <= pp[q]:
            raise ValueError("profiles: every profile needs at least one point")
    for i in range(total):
        if a[i] < 0 or a[i] >= BYTES_LIMIT:
            raise ValueError("profile: points must be bytes in [0, 2**62)")
    cap = max(total - n_parts, 1)
    part_arr = np.empty(cap, dtype=np.int64)
    ends_arr = np.empty(cap, dtype=np.int64)
    rise_arr = np.empty(cap, dtype=np.int64)
    net_arr = np.empty(cap, dtype=np.int64)
    cdef int64_t[::1] P = part_arr, E = ends_arr, C = rise_arr, D = net_arr
    with nogil:
        for q in range(n_parts):
            # Part q has pp[q+1] - pp[q] - 1 moves, so at most that many
            # blocks: the blocks of all parts fit in total - n_parts.
            got = _cut(&a[pp[q]], pp[q + 1] - pp[q] - 1, &E[top], &C[top], &D[top])
            for i in range(top, top + got):
                P[i] = q
            top += got
    return (part_arr[:top].copy(), ends_arr[:top].copy(), rise_arr[:top].copy(),
            net_arr[:top].copy())


def profile_blocks(profile):
    """Cut one profile (points a[0..n], bytes) into consecutive blocks
    whose merge keys do not decrease: (ends, rise, net) int64 arrays, block
    i spanning points ends[i-1]+1 .. ends[i] (ends[-1] = n), with
    rise[i] = max of its points - the point before it and net[i] = its last
    point - the point before it.

    Starting from one block per point, a block whose key is smaller than
    its predecessor's is merged into it (a stack, as in Sidney's and
    Abdel-Wahab and Kameda's chain reduction): O(n) amortised, each point
    pushed and popped once. Every difference formed is between two points
    of the profile, so |x| < 2**62: no overflow once the points are checked
    to lie in [0, 2**62).
    """
    a_arr = np.ascontiguousarray(profile, dtype=np.int64)
    if a_arr.ndim != 1 or a_arr.shape[0] < 1:
        raise ValueError("profile: expected a 1-d array of at least one point")
    _, ends, rise, net = profile_blocks_many(a_arr, [0, a_arr.shape[0]])
    return ends, rise, net
