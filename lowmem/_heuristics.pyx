# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Fast evaluation of orders and greedy list-scheduling heuristics.

They give the search its first upper bound and are the baselines it is
measured against. Each runs in O(k * r * d): k steps, each scoring the r
ready nodes at O(d) per node (d = buffers a node reads or makes).
"""

import numpy as np

from libc.stdint cimport int64_t
from lowmem._core cimport (CoreProblem, Problem, State, state_init, state_free,
                           run_node, step_memory, net_change, bit_get)

# Greedy rules.
FREED_MINUS_ALLOCATED = 0   # largest (freed - allocated) first: XLA's list scheduler
LEAST_MEMORY = 1            # smallest step memory first: Inductor's LPMF


def evaluate(CoreProblem prob not None, order):
    """Peak bytes of running the problem's nodes in `order` (local ids).

    Raises ValueError if `order` is not a valid order of all its nodes.
    O(k + edges + reads + makes).
    """
    cdef Problem P = prob.P
    cdef State S
    cdef const int64_t[::1] o = np.ascontiguousarray(order, dtype=np.int64)
    if o.shape[0] != P.k:
        raise ValueError(f"order has {o.shape[0]} nodes, the problem {P.k}")
    if state_init(&P, &S) != 0:
        raise MemoryError()
    cdef Py_ssize_t t, n, bad = -1
    cdef int64_t peak = 0
    try:
        with nogil:
            for t in range(P.k):
                n = o[t]
                if n < 0 or n >= P.k or not bit_get(S.ready, n):
                    bad = t
                    break
                peak = max(peak, step_memory(&P, &S, n))
                run_node(&P, &S, n)
    finally:
        state_free(&S)
    if bad >= 0:
        raise ValueError(f"step {bad}: node {o[bad]} is unknown, repeated or not ready")
    return int(peak)


def greedy(CoreProblem prob not None, int rule):
    """List scheduling: at each step run the best ready node under `rule`.

    FREED_MINUS_ALLOCATED: most bytes freed minus bytes kept allocated, ties
    by least step memory. LEAST_MEMORY: least step memory, ties by most
    freed minus allocated. Further ties go to the lowest (earliest listed)
    node. Returns (order, peak).
    """
    cdef Problem P = prob.P
    cdef State S
    order_arr = np.empty(P.k, dtype=np.int64)
    ready_arr = np.empty(max(P.k, 1), dtype=np.int64)
    cdef int64_t[::1] order = order_arr
    cdef int64_t[::1] ready = ready_arr
    cdef Py_ssize_t t, i, j, s, n, best_i, n_ready = 0, scheduled = 0
    cdef int64_t peak = 0, m, d, best_m, best_d
    cdef bint better
    cdef bint by_freed = rule == FREED_MINUS_ALLOCATED
    if rule not in (FREED_MINUS_ALLOCATED, LEAST_MEMORY):
        raise ValueError(f"unknown greedy rule {rule!r}")
    if state_init(&P, &S) != 0:
        raise MemoryError()
    try:
        with nogil:
            for n in range(P.k):
                if P.pred_count[n] == 0:
                    ready[n_ready] = n
                    n_ready += 1
            for t in range(P.k):
                if n_ready == 0:
                    break                   # a cycle: reported below
                best_i = 0
                best_m = best_d = 0
                for i in range(n_ready):
                    n = ready[i]
                    m = step_memory(&P, &S, n)
                    d = net_change(&P, &S, n)
                    if i == 0:
                        better = True
                    elif by_freed:
                        better = d < best_d or (d == best_d and (
                            m < best_m or (m == best_m and n < ready[best_i])))
                    else:
                        better = m < best_m or (m == best_m and (
                            d < best_d or (d == best_d and n < ready[best_i])))
                    if better:
                        best_i, best_m, best_d = i, m, d
                n = ready[best_i]
                n_ready -= 1
                ready[best_i] = ready[n_ready]
                peak = max(peak, best_m)
                run_node(&P, &S, n)
                order[t] = n
                scheduled += 1
                for j in range(P.succ_ptr[n], P.succ_ptr[n + 1]):
                    s = P.succ_idx[j]
                    if S.predleft[s] == 0:
                        ready[n_ready] = s
                        n_ready += 1
    finally:
        state_free(&S)
    if scheduled < P.k:
        raise ValueError("the problem's dependencies have a cycle")
    return order_arr, int(peak)


def dfs_postorder_csr(dep_ptr, dep_idx, roots):
    """Iterative depth-first post-order over the dependency CSR (dep_ptr,
    dep_idx): from each root in turn, a node's dependencies are visited in
    their listed order before the node itself. Nodes not reached are left
    out. Returns the int64 order. O(nodes + dependencies + roots).

    Raises ValueError on malformed arrays (checked before any loop runs).
    """
    ptr_arr = np.ascontiguousarray(dep_ptr, dtype=np.int64)
    idx_arr = np.ascontiguousarray(dep_idx, dtype=np.int64)
    roots_arr = np.ascontiguousarray(roots, dtype=np.int64)
    cdef Py_ssize_t n = len(ptr_arr) - 1
    if (ptr_arr.ndim != 1 or n < 0 or ptr_arr[0] != 0 or ptr_arr[n] != len(idx_arr)
            or np.any(np.diff(ptr_arr) < 0)):
        raise ValueError("dep_ptr is not a CSR index pointer for dep_idx")
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
