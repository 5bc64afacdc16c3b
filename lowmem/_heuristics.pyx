# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Fast evaluation of orders and greedy list-scheduling heuristics.

They give the search its first upper bound and are the baselines it is
measured against. ``evaluate`` is O(k + edges + reads + makes); each greedy
heuristic O((k + edges + reads + makes) log k), see :func:`greedy`. The
structural (memory-blind) depth-first orders of _orders.py walk their
dependency lists with :func:`dfs_postorder_csr`, and XLA's DFS scheduler
gets its keys from :func:`xla_dfs_stats`, both O(nodes + edges).
"""

import numpy as np

from libc.stdint cimport int64_t
from lowmem._core cimport (CoreProblem, Problem, State, state_init, state_free,
                           run_node, step_memory, net_change, bit_get)

# Greedy rules.
FREED_MINUS_ALLOCATED = 0   # largest (freed - allocated) first: XLA's list scheduler
LEAST_MEMORY = 1            # smallest step memory first: Inductor's LPMF

# Saturation point of xla_dfs_stats' byte sums (every byte count is below it).
cdef int64_t BYTES_CAP = (<int64_t>1) << 62


cdef Py_ssize_t _walk(const Problem* P, const int64_t[::1] o, int64_t* peak,
                      int64_t* step, int64_t* live) except -2:
    """Run `o` (local ids) from the problem's start: the peak into `peak`
    and, when not NULL, each position's step memory into `step` and the
    live bytes before it into `live`. Returns -1, or the first position
    whose node is unknown, repeated or not ready (the one loop behind
    evaluate and step_profile)."""
    cdef State S
    cdef Py_ssize_t t, n, bad = -1
    cdef int64_t m
    if state_init(P, &S) != 0:
        raise MemoryError()
    peak[0] = 0
    try:
        with nogil:
            for t in range(P.k):
                n = o[t]
                if n < 0 or n >= P.k or not bit_get(S.ready, n):
                    bad = t
                    break
                m = step_memory(P, &S, n)
                if step != NULL:
                    step[t] = m
                    live[t] = S.live
                if m > peak[0]:
                    peak[0] = m
                run_node(P, &S, n)
    finally:
        state_free(&S)
    return bad


cdef const int64_t[::1] _order_view(const Problem* P, order):
    cdef const int64_t[::1] o = np.ascontiguousarray(order, dtype=np.int64)
    if o.ndim != 1 or o.shape[0] != P.k:
        raise ValueError(f"order has {o.shape[0]} nodes, the problem {P.k}")
    return o


def evaluate(CoreProblem prob not None, order):
    """Peak bytes of running the problem's nodes in `order` (local ids).

    Raises ValueError if `order` is not a valid order of all its nodes.
    O(k + edges + reads + makes).
    """
    cdef Problem P = prob.P
    cdef const int64_t[::1] o = _order_view(&P, order)
    cdef int64_t peak
    cdef Py_ssize_t bad = _walk(&P, o, &peak, NULL, NULL)
    if bad >= 0:
        raise ValueError(f"step {bad}: node {o[bad]} is unknown, repeated or not ready")
    return int(peak)


def evaluate_orders(CoreProblem prob not None, orders):
    """Peaks (int64 array) of each row of `orders`, an (m, k) array of
    orders in local ids: :func:`evaluate` on every row, in one call.
    ValueError naming the first invalid row. O(m (k + edges + reads + makes)).
    """
    cdef Problem P = prob.P
    arr = np.ascontiguousarray(orders, dtype=np.int64)
    if arr.ndim != 2 or arr.shape[1] != P.k:
        raise ValueError(f"orders must be an (m, {P.k}) array, got shape {arr.shape}")
    peaks_arr = np.empty(arr.shape[0], dtype=np.int64)
    cdef int64_t[::1] peaks = peaks_arr
    cdef Py_ssize_t r, bad
    for r in range(arr.shape[0]):
        bad = _walk(&P, arr[r], &peaks[r], NULL, NULL)
        if bad >= 0:
            raise ValueError(f"order {r}, step {bad}: node {arr[r, bad]} is unknown, "
                             "repeated or not ready")
    return peaks_arr


def step_profile(CoreProblem prob not None, order):
    """(step, live) int64 arrays: for each position t of `order` (local
    ids), the memory of its step and the live bytes just before it.
    ValueError on an invalid order. O(k + edges + reads + makes)."""
    cdef Problem P = prob.P
    cdef const int64_t[::1] o = _order_view(&P, order)
    step_arr = np.empty(max(P.k, 1), dtype=np.int64)
    live_arr = np.empty(max(P.k, 1), dtype=np.int64)
    cdef int64_t[::1] step = step_arr, live = live_arr
    cdef int64_t peak
    cdef Py_ssize_t bad = _walk(&P, o, &peak, &step[0], &live[0])
    if bad >= 0:
        raise ValueError(f"step {bad}: node {o[bad]} is unknown, repeated or not ready")
    return step_arr[:P.k], live_arr[:P.k]


cdef struct Entry:
    int64_t key1            # the rule's first key (smaller runs first)
    int64_t key2            # its tie-break
    int64_t tie             # last tie-break: the lowest rank (distinct per node)
    int64_t node
    int64_t version         # valid while it equals the node's version


cdef inline bint entry_less(const Entry* x, const Entry* y) noexcept nogil:
    if x.key1 != y.key1:
        return x.key1 < y.key1
    if x.key2 != y.key2:
        return x.key2 < y.key2
    return x.tie < y.tie


cdef inline void heap_push(Entry* heap, Py_ssize_t* size, Entry e) noexcept nogil:
    cdef Py_ssize_t i = size[0], parent
    size[0] += 1
    while i > 0:
        parent = (i - 1) >> 1
        if not entry_less(&e, &heap[parent]):
            break
        heap[i] = heap[parent]
        i = parent
    heap[i] = e


cdef inline Entry heap_pop(Entry* heap, Py_ssize_t* size) noexcept nogil:
    cdef Entry top = heap[0], last
    cdef Py_ssize_t n, i = 0, c
    size[0] -= 1
    n = size[0]
    if n > 0:
        last = heap[n]
        while True:
            c = 2 * i + 1
            if c >= n:
                break
            if c + 1 < n and entry_less(&heap[c + 1], &heap[c]):
                c += 1
            if not entry_less(&heap[c], &last):
                break
            heap[i] = heap[c]
            i = c
        heap[i] = last
    return top


cdef inline Entry greedy_entry(const Problem* P, const State* S, Py_ssize_t n,
                               bint by_freed, int64_t* version,
                               const int64_t* tie) noexcept nogil:
    """A fresh heap entry for ready node n: its keys in the current state.
    Step memory is live + alloc + ws and live is the same for every ready
    node, so alloc + ws orders them as step memory does."""
    cdef Entry e
    cdef int64_t d = net_change(P, S, n), m = P.alloc[n] + P.ws[n]
    if by_freed:
        e.key1, e.key2 = d, m
    else:
        e.key1, e.key2 = m, d
    e.tie = tie[n]
    e.node = n
    version[n] += 1
    e.version = version[n]
    return e


def _tie_ranks(tie_rank, Py_ssize_t k):
    """`tie_rank` checked at the boundary: an integer array holding a
    permutation of range(k), as a contiguous int64 array (None: the node
    ids themselves). O(k). Raises ValueError otherwise."""
    if tie_rank is None:
        return np.arange(max(k, 1), dtype=np.int64)
    arr = np.asarray(tie_rank)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"tie_rank must be an integer array, got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.shape[0] != k:
        raise ValueError(f"tie_rank must be a 1-d array of length {k}, got shape {arr.shape}")
    if k and (arr.min() < 0 or arr.max() >= k
              or np.bincount(arr.astype(np.int64), minlength=k).max() != 1):
        raise ValueError(f"tie_rank must be a permutation of range({k})")
    # A length-1 array when k == 0 keeps the pointer below valid.
    return np.ascontiguousarray(arr, dtype=np.int64) if k else np.zeros(1, dtype=np.int64)


def greedy(CoreProblem prob not None, int rule, tie_rank=None):
    """List scheduling: at each step run the best ready node under `rule`.

    FREED_MINUS_ALLOCATED: most bytes freed minus bytes kept allocated, ties
    by least step memory. LEAST_MEMORY: least step memory, ties by most
    freed minus allocated. Further ties go to the lowest (earliest listed)
    node, or, given `tie_rank` (a permutation of range(k), any integer
    dtype: the rank of each local node, e.g. its position in a depth-first
    order), to the node of lowest rank; ValueError unless it is one.
    Returns (order, peak).

    The ready nodes sit in a binary heap keyed by (rule key, tie-break,
    tie rank); the ranks are distinct, so the order is fully determined. A
    ready node's step memory differs from the others' by its alloc + ws
    only, which is fixed; its freed-minus-allocated changes only
    when one of its input buffers is left with one unrun reader (then that
    reader frees it), at most once per buffer. That reader (the XOR of the
    buffer's unrun readers) gets a new entry with a new version, and stale
    entries are skipped when popped (lazy deletion): at most k + nb
    entries, O((k + edges + reads + makes) log k) in all.
    """
    cdef Problem P = prob.P
    cdef State S
    order_arr = np.empty(P.k, dtype=np.int64)
    version_arr = np.zeros(max(P.k, 1), dtype=np.int64)
    xor_arr = np.zeros(max(P.nb, 1), dtype=np.int64)
    heap_arr = np.empty((P.k + P.nb + 1) * sizeof(Entry), dtype=np.uint8)
    cdef int64_t[::1] order = order_arr, version = version_arr, unrun_xor = xor_arr
    cdef unsigned char[::1] heap_bytes = heap_arr
    cdef Entry* heap = <Entry*>&heap_bytes[0]
    cdef Entry e
    cdef Py_ssize_t t, j, s, n, r, size = 0, scheduled = 0
    # Pushes: each node once when it becomes ready (successors are distinct,
    # CoreProblem checks it) and at most once per buffer left with one reader.
    cdef Py_ssize_t capacity = P.k + P.nb + 1
    cdef int64_t peak = 0, b
    cdef bint by_freed = rule == FREED_MINUS_ALLOCATED
    if rule not in (FREED_MINUS_ALLOCATED, LEAST_MEMORY):
        raise ValueError(f"unknown greedy rule {rule!r}")
    tie_arr = _tie_ranks(tie_rank, P.k)
    cdef const int64_t[::1] tie = tie_arr
    if state_init(&P, &S) != 0:
        raise MemoryError()
    try:
        with nogil:
            for n in range(P.k):
                for j in range(P.use_ptr[n], P.use_ptr[n + 1]):
                    unrun_xor[P.use_idx[j]] ^= n
            for n in range(P.k):
                if P.pred_count[n] == 0:
                    heap_push(heap, &size,
                              greedy_entry(&P, &S, n, by_freed, &version[0], &tie[0]))
            for t in range(P.k):
                n = -1
                while size > 0:
                    e = heap_pop(heap, &size)
                    if e.version == version[e.node] and not bit_get(S.done, e.node):
                        n = e.node
                        break
                if n < 0:
                    break                   # a cycle: reported below
                peak = max(peak, step_memory(&P, &S, n))
                run_node(&P, &S, n)
                order[t] = n
                scheduled += 1
                for j in range(P.use_ptr[n], P.use_ptr[n + 1]):
                    b = P.use_idx[j]
                    unrun_xor[b] ^= n
                    # CoreProblem checked pending == distinct readers: at 1,
                    # the XOR is the one reader left, which now frees b.
                    if S.pending[b] == 1:
                        r = unrun_xor[b]
                        if 0 <= r < P.k and bit_get(S.ready, r) and size < capacity:
                            heap_push(heap, &size, greedy_entry(&P, &S, r, by_freed,
                                                                &version[0], &tie[0]))
                for j in range(P.succ_ptr[n], P.succ_ptr[n + 1]):
                    s = P.succ_idx[j]
                    if S.predleft[s] == 0 and size < capacity:
                        heap_push(heap, &size, greedy_entry(&P, &S, s, by_freed,
                                                            &version[0], &tie[0]))
    finally:
        state_free(&S)
    if scheduled < P.k:
        raise ValueError("the problem's dependencies have a cycle")
    return order_arr, int(peak)


def _csr_arrays(ptr, idx, ptr_name, idx_name):
    """(ptr, idx) as contiguous int64 arrays, ValueError naming them unless
    ptr is a 1-d CSR index pointer into idx (ids are checked by callers)."""
    ptr_arr = np.ascontiguousarray(ptr, dtype=np.int64)
    idx_arr = np.ascontiguousarray(idx, dtype=np.int64)
    n = len(ptr_arr) - 1
    if (ptr_arr.ndim != 1 or n < 0 or ptr_arr[0] != 0 or ptr_arr[n] != len(idx_arr)
            or np.any(np.diff(ptr_arr) < 0)):
        raise ValueError(f"{ptr_name} is not a CSR index pointer for {idx_name}")
    return ptr_arr, idx_arr


def dfs_postorder_csr(dep_ptr, dep_idx, roots):
    """Iterative depth-first post-order over the dependency CSR (dep_ptr,
    dep_idx): from each root in turn, a node's dependencies are visited in
    their listed order before the node itself. Nodes not reached are left
    out. Returns the int64 order. O(nodes + dependencies + roots).

    Raises ValueError on malformed arrays (checked before any loop runs).
    """
    ptr_arr, idx_arr = _csr_arrays(dep_ptr, dep_idx, "dep_ptr", "dep_idx")
    roots_arr = np.ascontiguousarray(roots, dtype=np.int64)
    cdef Py_ssize_t n = len(ptr_arr) - 1
    for arr, name in ((idx_arr, "dep_idx"), (roots_arr, "roots")):
        if len(arr) and (arr.min() < 0 or arr.max() >= n):
            raise ValueError(f"{name}: node id out of range [0, {n})")
    order_arr = np.empty(n, dtype=np.int64)
    stack_arr = np.empty(max(n, 1), dtype=np.int64)     # each node is pushed once
    next_arr = np.empty(max(n, 1), dtype=np.int64)      # per stacked node: next dependency
    state_arr = np.zeros(max(n, 1), dtype=np.uint8)     # 0 new, 1 stacked or done
    cdef const int64_t[::1] ptr = ptr_arr, idx = idx_arr, rts = roots_arr
    cdef int64_t[::1] order = order_arr, stack = stack_arr, nxt = next_arr
    cdef unsigned char[::1] state = state_arr
    cdef Py_ssize_t r, top, node, dep, out = 0
    with nogil:
        for r in range(rts.shape[0]):
            if state[rts[r]]:
                continue
            state[rts[r]] = 1
            stack[0] = rts[r]
            nxt[0] = ptr[rts[r]]
            top = 1
            while top:
                node = stack[top - 1]
                if nxt[top - 1] < ptr[node + 1]:
                    dep = idx[nxt[top - 1]]
                    nxt[top - 1] += 1
                    if not state[dep]:
                        state[dep] = 1
                        stack[top] = dep
                        nxt[top] = ptr[dep]
                        top += 1
                else:
                    top -= 1
                    order[out] = node
                    out += 1
    return order_arr[:out]


cdef inline int64_t add_capped(int64_t x, int64_t y) noexcept nogil:
    """min(x + y, BYTES_CAP) for 0 <= x, y <= BYTES_CAP, without overflow."""
    return BYTES_CAP if x >= BYTES_CAP - y else x + y


def xla_dfs_stats(op_ptr, op_idx, users, sizes):
    """Per-node keys of XLA's DFS memory scheduler (``DFSMemoryScheduler``
    in XLA's hlo_memory_scheduler.cc), for node ids listed so that each
    node's operands come before it (a topological order).

    op_ptr/op_idx  CSR: the distinct producer nodes of each node's inputs
                   (its data operands); each must be below the node's id
    users[v]       distinct nodes reading an output of v
    sizes[v]       bytes v allocates (its non-aliased outputs)

    Returns (extra_users, total_sizes), int64 arrays:
    extra_users[v] = max(users[v] - 1, 0) + sum of its operands' extra_users,
                     capped at the number of nodes;
    total_sizes[v] = sizes[v] + sum of its operands' total_sizes, capped at
                     the running sum of sizes over nodes 0..v.
    As in XLA these over-count on DAGs (a shared ancestor counts once per
    path) and the caps keep them finite; here every sum also saturates at
    2**62 on the way, so nothing overflows whatever the sizes (each < 2**62).
    One pass, O(nodes + operands). Raises ValueError on malformed arrays
    (checked before the loop).
    """
    ptr_arr, idx_arr = _csr_arrays(op_ptr, op_idx, "op_ptr", "op_idx")
    users_arr = np.ascontiguousarray(users, dtype=np.int64)
    sizes_arr = np.ascontiguousarray(sizes, dtype=np.int64)
    cdef Py_ssize_t n = len(ptr_arr) - 1
    if users_arr.shape != (n,) or sizes_arr.shape != (n,):
        raise ValueError(f"users and sizes must be 1-d arrays of length {n}")
    if n and (users_arr.min() < 0 or sizes_arr.min() < 0 or sizes_arr.max() >= BYTES_CAP):
        raise ValueError("users and sizes must be >= 0, sizes below 2**62")
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(ptr_arr))
    if len(idx_arr) and (idx_arr.min() < 0 or np.any(idx_arr >= rows)):
        raise ValueError("op_idx: an operand is not a node listed before its user")
    extra_arr = np.zeros(n, dtype=np.int64)
    total_arr = np.zeros(n, dtype=np.int64)
    cdef const int64_t[::1] ptr = ptr_arr, idx = idx_arr, u = users_arr, sz = sizes_arr
    cdef int64_t[::1] extra = extra_arr, total = total_arr
    cdef Py_ssize_t v, j
    cdef int64_t e, t, cumulative = 0
    with nogil:
        for v in range(n):
            # Every term is in [0, cap] and a partial sum is kept <= its cap,
            # so capping as we go gives the same result as XLA's capping at
            # the end (the terms are >= 0). Extra users stay <= 2n; byte sums
            # saturate before adding (two 2**62 terms would overflow).
            e = min(max(u[v] - 1, 0), <int64_t>n)
            t = sz[v]
            cumulative = add_capped(cumulative, sz[v])
            for j in range(ptr[v], ptr[v + 1]):
                e = min(e + extra[idx[j]], <int64_t>n)
                t = add_capped(t, total[idx[j]])
            extra[v] = e
            total[v] = min(t, cumulative)
    return extra_arr, total_arr
