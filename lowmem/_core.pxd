# cython: language_level=3
"""Shared contract of lowmem's Cython modules: a checked scheduling problem
(``CoreProblem``: raw pointers into the NumPy arrays of a
``_problem.Subproblem``, validated once), the mutable search state, and
inline primitives to run a node and to undo it.

The state after any set of executed nodes is fully determined by that set
(live bytes, pending readers per buffer, ready set), so the search keeps ONE
state and moves it forward and back: ``run_node`` and ``undo_node`` cost
O(degree) and nothing is copied per step.

Safety: ``CoreProblem``'s constructor checks every index array against its
bounds, and the byte counts against overflow, before any pointer is used;
the heuristics, bounds and search accept only a ``CoreProblem``, so the
loops below may index without checks.
"""

from libc.stdint cimport int64_t, uint64_t, uint8_t
from libc.stdlib cimport calloc, free

cdef struct Problem:
    Py_ssize_t k            # nodes
    Py_ssize_t nb           # buffers
    const int64_t* pred_count
    const int64_t* succ_ptr
    const int64_t* succ_idx
    const int64_t* alloc
    const int64_t* ws
    const int64_t* make_ptr
    const int64_t* make_idx
    const int64_t* use_ptr
    const int64_t* use_idx
    const int64_t* buf_size
    const uint8_t* buf_pinned
    const int64_t* buf_pending
    int64_t live0
    int64_t base

cdef struct State:
    int64_t live            # bytes live between steps
    int64_t* pending        # per buffer: readers not yet run
    int64_t* predleft       # per node: predecessors not yet run
    uint64_t* ready         # bitset of ready, unexecuted nodes
    uint64_t* done          # bitset of executed nodes
    Py_ssize_t words        # 64-bit words per bitset
    uint64_t hash           # Zobrist hash of `done`


cdef inline bint bit_get(const uint64_t* bits, Py_ssize_t i) noexcept nogil:
    return (bits[i >> 6] >> (i & 63)) & 1

cdef inline void bit_set(uint64_t* bits, Py_ssize_t i) noexcept nogil:
    bits[i >> 6] |= (<uint64_t>1) << (i & 63)

cdef inline void bit_clear(uint64_t* bits, Py_ssize_t i) noexcept nogil:
    bits[i >> 6] &= ~((<uint64_t>1) << (i & 63))


cdef inline uint64_t zobrist(Py_ssize_t n) noexcept nogil:
    """A fixed pseudo-random 64-bit key per node (splitmix64 of its id)."""
    cdef uint64_t z = <uint64_t>n * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline int64_t step_memory(const Problem* P, const State* S, Py_ssize_t n) noexcept nogil:
    """Memory of running ready node n now: live + its allocation + workspace."""
    return S.live + P.alloc[n] + P.ws[n]


cdef inline int64_t net_change(const Problem* P, const State* S, Py_ssize_t n) noexcept nogil:
    """Change in live bytes if ready node n runs now: what it keeps
    allocated minus the input buffers it is the last reader of."""
    cdef int64_t delta = P.alloc[n]
    cdef Py_ssize_t j
    cdef int64_t b
    for j in range(P.make_ptr[n], P.make_ptr[n + 1]):
        b = P.make_idx[j]
        if S.pending[b] == 0 and not P.buf_pinned[b]:
            delta -= P.buf_size[b]          # nothing reads it: freed at once
    for j in range(P.use_ptr[n], P.use_ptr[n + 1]):
        b = P.use_idx[j]
        if S.pending[b] == 1 and not P.buf_pinned[b]:
            delta -= P.buf_size[b]          # n is its last reader
    return delta


cdef inline void run_node(const Problem* P, State* S, Py_ssize_t n) noexcept nogil:
    """Execute ready node n: update live bytes, readers, the ready set."""
    cdef Py_ssize_t j, s
    cdef int64_t b
    S.live += net_change(P, S, n)
    for j in range(P.use_ptr[n], P.use_ptr[n + 1]):
        S.pending[P.use_idx[j]] -= 1
    for j in range(P.succ_ptr[n], P.succ_ptr[n + 1]):
        s = P.succ_idx[j]
        S.predleft[s] -= 1
        if S.predleft[s] == 0:
            bit_set(S.ready, s)
    bit_clear(S.ready, n)
    bit_set(S.done, n)
    S.hash ^= zobrist(n)


cdef inline void undo_node(const Problem* P, State* S, Py_ssize_t n,
                           int64_t live_before) noexcept nogil:
    """Exact inverse of run_node(P, S, n) given the live bytes before it."""
    cdef Py_ssize_t j, s
    for j in range(P.succ_ptr[n], P.succ_ptr[n + 1]):
        s = P.succ_idx[j]
        if S.predleft[s] == 0:
            bit_clear(S.ready, s)
        S.predleft[s] += 1
    for j in range(P.use_ptr[n], P.use_ptr[n + 1]):
        S.pending[P.use_idx[j]] += 1
    bit_set(S.ready, n)
    bit_clear(S.done, n)
    S.hash ^= zobrist(n)
    S.live = live_before


cdef inline int state_init(const Problem* P, State* S) noexcept nogil:
    """Allocate and set the state before any node of P runs. 0 on success,
    -1 when out of memory (then nothing is left allocated)."""
    cdef Py_ssize_t i
    S.words = (P.k + 63) >> 6 if P.k > 0 else 1
    S.pending = <int64_t*>calloc(P.nb if P.nb > 0 else 1, sizeof(int64_t))
    S.predleft = <int64_t*>calloc(P.k if P.k > 0 else 1, sizeof(int64_t))
    S.ready = <uint64_t*>calloc(S.words, sizeof(uint64_t))
    S.done = <uint64_t*>calloc(S.words, sizeof(uint64_t))
    if S.pending == NULL or S.predleft == NULL or S.ready == NULL or S.done == NULL:
        state_free(S)
        return -1
    for i in range(P.nb):
        S.pending[i] = P.buf_pending[i]
    for i in range(P.k):
        S.predleft[i] = P.pred_count[i]
        if P.pred_count[i] == 0:
            bit_set(S.ready, i)
    S.live = P.live0
    S.hash = 0
    return 0


cdef inline void state_free(State* S) noexcept nogil:
    free(S.pending)
    free(S.predleft)
    free(S.ready)
    free(S.done)
    S.pending = NULL
    S.predleft = NULL
    S.ready = NULL
    S.done = NULL


cdef class CoreProblem:
    cdef Problem P
    cdef list _keep                     # the arrays P points into
    cdef readonly object sub            # the Subproblem it was built from
    cdef readonly Py_ssize_t k, nb
    cdef readonly object working_set    # int64[k], see _core.pyx
    cdef readonly object nonpinned_working_set, pinned_alloc
    cdef readonly long long pinned_bytes, pinned_live0
