# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""TEMPORARY home of step_profile (moves into _heuristics.pyx)."""

import numpy as np

from libc.stdint cimport int64_t
from lowmem._core cimport (CoreProblem, Problem, State, state_init, state_free,
                           run_node, step_memory, bit_get)


def step_profile(CoreProblem prob not None, order):
    """(step, live): for each position t of `order` (local ids), the memory
    of its step and the live bytes just before it. ValueError on an invalid
    order. O(k + edges + reads + makes)."""
    cdef Problem P = prob.P
    cdef State S
    cdef const int64_t[::1] o = np.ascontiguousarray(order, dtype=np.int64)
    if o.shape[0] != P.k:
        raise ValueError(f"order has {o.shape[0]} nodes, the problem {P.k}")
    step_arr = np.empty(P.k, dtype=np.int64)
    live_arr = np.empty(P.k, dtype=np.int64)
    cdef int64_t[::1] step = step_arr, live = live_arr
    if state_init(&P, &S) != 0:
        raise MemoryError()
    cdef Py_ssize_t t, n, bad = -1
    try:
        with nogil:
            for t in range(P.k):
                n = o[t]
                if n < 0 or n >= P.k or not bit_get(S.ready, n):
                    bad = t
                    break
                live[t] = S.live
                step[t] = step_memory(&P, &S, n)
                run_node(&P, &S, n)
    finally:
        state_free(&S)
    if bad >= 0:
        raise ValueError(f"step {bad}: node {o[bad]} is unknown, repeated or not ready")
    return step_arr, live_arr
