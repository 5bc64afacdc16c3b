# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Exact minimum-peak scheduling by depth-first branch and bound.

The search walks the lattice of executed sets (downsets of the DAG). One
mutable state is moved forward with ``run_node`` and back with
``undo_node``; per depth only the chosen node, the live bytes and the path
peak before it are remembered. It combines:

* an incumbent (upper bound) from the heuristics, improved as found;
* lower bounds: the path peak, live bytes plus the cheapest ready step, the
  largest working set of any node not yet run, and a static bound computed
  by the caller; a state whose bound reaches the incumbent is cut;
* memoisation: the state after an executed set is a function of the set
  alone, so reaching a set again with a path peak no lower than before
  cannot lead anywhere new; a capped hash table maps sets to the lowest
  path peak seen (a full table overwrites, which only weakens pruning);
* a dominance rule (see ``_expand``) that runs some nodes without branching;
* children tried best first: most bytes freed minus bytes allocated.

It is anytime: stopped by the time limit it returns the best order so far.
A state with r ready nodes costs O(r log r + k/64) (scoring and sorting
its children, the bitsets); the working-set scans resume where the
parent's stopped, O(k) along a whole path. The clock is read every
CHECK_WORK units of that work, so the deadline holds however many nodes
are ready.
Branch and bound over schedules for memory is classic (e.g. Kayaaslan et
al., "Scheduling series-parallel task graphs to minimize peak memory",
2018, and XLA's exhaustive scheduler for small computations); the bounds
and dominance rule here are lowmem's.
"""


import numpy as np

from lowmem._heuristics import evaluate

from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport malloc, calloc, realloc, free, qsort
from libc.string cimport memcmp, memcpy
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC
from lowmem._core cimport (CoreProblem, Problem, State, state_init, state_free,
                           run_node, undo_node, step_memory, net_change, bit_get)

cdef extern from *:
    int __builtin_ctzll(unsigned long long) nogil

cdef inline double now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


# --------------------------------------------------------------- memo table
# Open addressing in buckets of 4 slots; a slot is [tag, path peak, key...]
# where the key is the executed-set bitset and tag = hash | 1 (0 = empty).

cdef struct Memo:
    uint64_t* slots
    Py_ssize_t n_slots      # power of two, multiple of 4
    Py_ssize_t stride       # words per slot
    Py_ssize_t words        # words per key
    Py_ssize_t stored


cdef int memo_init(Memo* M, Py_ssize_t words, size_t byte_budget,
                   Py_ssize_t k) noexcept nogil:
    M.words = words
    M.stride = words + 2
    # No more slots than the budget allows, nor than twice the number of
    # executed sets there can be (2^k) when k is small.
    cdef size_t want = byte_budget // (M.stride * 8)
    if k < 40 and want > ((<size_t>1) << (k + 1)):
        want = (<size_t>1) << (k + 1)
    cdef size_t n = 4
    while n * 2 <= want:
        n *= 2
    M.n_slots = n
    M.stored = 0
    M.slots = <uint64_t*>calloc(n * M.stride, sizeof(uint64_t))
    return 0 if M.slots != NULL else -1


cdef bint memo_seen(Memo* M, const uint64_t* key, uint64_t h,
                    int64_t path_peak) noexcept nogil:
    """True if `key` was stored with a path peak <= path_peak; otherwise
    store (key, path_peak) and return False."""
    cdef uint64_t tag = h | 1
    cdef Py_ssize_t first = <Py_ssize_t>(h & <uint64_t>(M.n_slots - 1)) & ~(<Py_ssize_t>3)
    cdef Py_ssize_t i, empty = -1
    cdef uint64_t* slot
    for i in range(first, first + 4):
        slot = M.slots + i * M.stride
        if slot[0] == tag and memcmp(slot + 2, key, M.words * 8) == 0:
            if <int64_t>slot[1] <= path_peak:
                return True
            slot[1] = <uint64_t>path_peak
            return False
        if slot[0] == 0 and empty < 0:
            empty = i
    if empty < 0:
        empty = first + <Py_ssize_t>((h >> 62) & 3)   # overwrite a pseudo-random slot
    else:
        M.stored += 1
    slot = M.slots + empty * M.stride
    slot[0] = tag
    slot[1] = <uint64_t>path_peak
    memcpy(slot + 2, key, M.words * 8)
    return False


# ---------------------------------------------------------------- the search

cdef struct Frame:
    Py_ssize_t ws_first     # first of ws_order / np_order not yet run here
    Py_ssize_t np_first     # (a child's is no smaller: it has run more)
    Py_ssize_t node         # child being explored from this depth
    int64_t live_before     # live bytes before that child ran
    int64_t peak_before     # path peak before that child ran
    Py_ssize_t cand_begin   # candidates of this depth: cand[begin:end]
    Py_ssize_t cand_end
    Py_ssize_t cand_next


cdef struct Search:
    Problem* P
    State* S
    Memo memo
    Frame* frames
    int64_t* path
    int64_t* best_order
    int64_t best
    int64_t stop_at         # stop once best <= stop_at
    int64_t static_lb
    int64_t* cand           # stack of candidate nodes of all depths
    Py_ssize_t cand_cap
    Py_ssize_t cand_top
    Cand* keys              # scratch: sort keys of one expansion
    int64_t* ws_order       # nodes by decreasing working set
    int64_t* ws_value       # ... and those working sets
    int64_t* np_order       # nodes by decreasing non-pinned working set
    int64_t* np_value
    const int64_t* pinned_alloc   # per node: pinned bytes it makes
    int64_t pinned_live     # pinned bytes live now (never freed again)
    size_t cand_budget      # bytes the candidate stack may grow to
    long long states
    long long work          # ready nodes scored + bitset words scanned
    long long memo_hits
    long long forced
    bint out_of_memory
    # Where the walk stands between calls of _run (resumable search):
    Py_ssize_t depth        # frames[0:depth] hold the path
    int64_t path_peak
    int started             # 0: nothing expanded yet
    int pending             # 1: frames[depth] still to be expanded
    int finished            # 1: the space was exhausted


cdef struct Cand:
    int64_t delta           # children are tried by delta ascending,
    int64_t mem             # then step memory,
    int64_t node            # then id (distinct: a total order)


cdef int cand_cmp(const void* a, const void* b) noexcept nogil:
    cdef const Cand* x = <const Cand*>a
    cdef const Cand* y = <const Cand*>b
    if x.delta != y.delta:
        return -1 if x.delta < y.delta else 1
    if x.mem != y.mem:
        return -1 if x.mem < y.mem else 1
    return -1 if x.node < y.node else (1 if x.node > y.node else 0)


# Clock reads in the search: one per CHECK_WORK units of work (a unit: a
# ready node scored or a bitset word scanned, ~ns each), so that a costly
# expansion (many ready nodes) cannot delay the deadline check much.
cdef long long CHECK_WORK = 1 << 15


cdef int push_candidate(Search* X, int64_t n) noexcept nogil:
    cdef int64_t* grown
    cdef Py_ssize_t cap
    if X.cand_top == X.cand_cap:
        cap = X.cand_cap * 2
        if <size_t>cap * 8 > X.cand_budget:
            X.out_of_memory = True
            return -1
        grown = <int64_t*>realloc(X.cand, cap * sizeof(int64_t))
        if grown == NULL:
            X.out_of_memory = True
            return -1
        X.cand = grown
        X.cand_cap = cap
    X.cand[X.cand_top] = n
    X.cand_top += 1
    return 0


cdef int _expand(Search* X, Py_ssize_t depth, int64_t path_peak) noexcept nogil:
    """Fill frames[depth] with the children worth trying from the current
    state, best first (none if the state is cut). -1 when out of memory.

    Dominance rule. Let ready node v step at memory m <= path peak and not
    raise live bytes (net change delta_S(v) <= 0). Then some optimal
    completion from this state S runs v first. Take any completion pi and
    move v to its front. Steps after v's old place see the same executed
    sets, so the same memory. A step u before it now sees X + {v} instead
    of X (S <= X). Running v frees the buffers whose last reader is v; that
    set only grows as X grows (freeing needs all other readers done), while
    what v keeps (its outputs that are read later or are graph outputs) is
    the same for every X, as v's readers cannot run before v. So
    live(X + {v}) - live(X) = delta_X(v) <= delta_S(v) <= 0, and u's step,
    live + its own allocation + workspace, is no higher. v's own step is
    m <= path peak. The peak of the new completion is no higher.
    """
    cdef Problem* P = X.P
    cdef State* S = X.S
    cdef Frame* F = &X.frames[depth]
    cdef Py_ssize_t w, i, j, n, count = 0
    cdef uint64_t bits
    cdef int64_t m, d, min_step = -1, bound
    F.cand_begin = F.cand_end = F.cand_next = X.cand_top
    X.states += 1
    X.work += S.words

    # Largest working set among nodes not yet run (nodes sorted by it), and
    # the same without pinned buffers on top of the pinned bytes live now:
    # those stay live until every remaining step. The scans resume where
    # the parent's stopped (everything before that has run here too), so a
    # path of depth D scans O(k + D) entries, not O(k * D).
    bound = path_peak if path_peak > X.static_lb else X.static_lb
    i = X.frames[depth - 1].ws_first if depth > 0 else 0
    while i < P.k and bit_get(S.done, X.ws_order[i]):
        i += 1
    F.ws_first = i
    if i < P.k and X.ws_value[i] > bound:
        bound = X.ws_value[i]
    i = X.frames[depth - 1].np_first if depth > 0 else 0
    while i < P.k and bit_get(S.done, X.np_order[i]):
        i += 1
    F.np_first = i
    if i < P.k and X.pinned_live + X.np_value[i] > bound:
        bound = X.pinned_live + X.np_value[i]
    if bound >= X.best:
        return 0

    for w in range(S.words):
        bits = S.ready[w]
        while bits:
            n = (w << 6) + __builtin_ctzll(bits)
            bits &= bits - 1
            m = step_memory(P, S, n)
            d = net_change(P, S, n)
            X.work += 1
            if d <= 0 and m <= path_peak:           # dominance: run n alone
                X.forced += 1
                X.cand_top = F.cand_begin
                if push_candidate(X, n) != 0:
                    return -1
                F.cand_end = X.cand_top
                return 0
            if min_step < 0 or m < min_step:
                min_step = m
            if (m if m > path_peak else path_peak) < X.best:
                if push_candidate(X, n) != 0:
                    return -1
                X.keys[count].delta = d
                X.keys[count].mem = m
                X.keys[count].node = n
                count += 1

    if min_step > bound:
        bound = min_step
    if bound >= X.best:
        X.cand_top = F.cand_begin
        return 0
    if memo_seen(&X.memo, S.done, S.hash, path_peak):
        X.memo_hits += 1
        X.cand_top = F.cand_begin
        return 0

    # Candidates best first: delta ascending, then memory, then id.
    # O(c log c) (an insertion sort here was quadratic in the ready nodes).
    cdef int64_t* c = X.cand + F.cand_begin
    if count > 1:
        qsort(X.keys, count, sizeof(Cand), cand_cmp)
    for i in range(count):
        c[i] = X.keys[i].node
    F.cand_end = X.cand_top
    return 0


cdef int _run(Search* X, double deadline) noexcept nogil:
    """Depth-first branch and bound from where the last call stopped (the
    root on the first call). Returns 1 when the space was exhausted (the
    best order is optimal), 0 when stopped early: by the deadline, by
    reaching stop_at, or out of memory; the walk's position is kept in X
    so that the next call continues it."""
    cdef Problem* P = X.P
    cdef State* S = X.S
    cdef Py_ssize_t depth = X.depth, n
    cdef int64_t path_peak = X.path_peak, m
    cdef long long next_check = X.work + CHECK_WORK
    cdef Frame* F
    if X.finished:
        return 1
    if X.best <= X.stop_at or X.out_of_memory:
        return 0
    if not X.started:
        X.started = 1
        if _expand(X, 0, path_peak) != 0:
            return 0
    elif X.pending:
        X.pending = 0
        if _expand(X, depth, path_peak) != 0:
            return 0
    while True:
        F = &X.frames[depth]
        if F.cand_next < F.cand_end:
            n = X.cand[F.cand_next]
            F.cand_next += 1
            m = step_memory(P, S, n)
            if m < path_peak:
                m = path_peak
            if m >= X.best:
                continue
            F.node = n
            F.live_before = S.live
            F.peak_before = path_peak
            run_node(P, S, n)
            X.pinned_live += X.pinned_alloc[n]
            X.path[depth] = n
            path_peak = m
            depth += 1
            if depth == P.k:                        # a complete, better order
                X.best = path_peak
                memcpy(X.best_order, X.path, P.k * sizeof(int64_t))
                depth -= 1
                undo_node(P, S, n, F.live_before)
                X.pinned_live -= X.pinned_alloc[n]
                path_peak = F.peak_before
                if X.best <= X.stop_at:
                    X.depth, X.path_peak = depth, path_peak
                    return 0
                continue
            if X.work >= next_check:
                if now() > deadline:
                    X.depth, X.path_peak, X.pending = depth, path_peak, 1
                    return 0
                next_check = X.work + CHECK_WORK
            if _expand(X, depth, path_peak) != 0:
                X.depth, X.path_peak, X.pending = depth, path_peak, 1
                return 0
        else:
            X.cand_top = F.cand_begin
            if depth == 0:
                X.finished = 1
                return 1
            depth -= 1
            F = &X.frames[depth]
            undo_node(P, S, F.node, F.live_before)
            X.pinned_live -= X.pinned_alloc[F.node]
            path_peak = F.peak_before


def _by_decreasing(values):
    """(order, sorted values): node ids by decreasing value, int64 arrays."""
    order = np.ascontiguousarray(np.argsort(-values, kind="stable"), dtype=np.int64)
    return order, np.ascontiguousarray(values[order], dtype=np.int64)


cdef class Searcher:
    """A branch and bound over one checked _core.CoreProblem that can be
    run in slices: each :meth:`run` continues the walk where the last one
    stopped (nothing is redone), and :meth:`offer` hands it a better order
    found elsewhere (e.g. by the local search), which only tightens its
    pruning: a subtree cut earlier had no order below the incumbent of the
    time, which was at least the new one, so an exhausted walk still
    proves the final order optimal.

    Parameters as :func:`search` (memory_limit: bytes for the memo table
    and stacks, held until the object is freed).
    """
    cdef CoreProblem prob
    cdef Problem P
    cdef State S
    cdef Search X
    cdef bint state_ready
    cdef object _arrays          # the NumPy arrays X points into
    cdef readonly object best_order
    cdef double seconds

    def __cinit__(self):
        self.X.cand = NULL
        self.X.frames = NULL
        self.X.memo.slots = NULL
        self.state_ready = False

    def __init__(self, CoreProblem prob not None, incumbent, long long incumbent_peak,
                 long long static_lb=0, long long memory_limit=256 * 2**20):
        inc = np.ascontiguousarray(incumbent, dtype=np.int64)
        if evaluate(prob, inc) != incumbent_peak:      # raises on an invalid order
            raise ValueError("incumbent_peak is not the peak of the incumbent order")
        if memory_limit < 2**20:
            raise ValueError("memory_limit must be at least 1 MiB")
        self.prob = prob
        self.P = prob.P
        # Working sets: everything live at a node's step in any order; and
        # the part of it that is not pinned, with the pinned bytes made per
        # node (computed once per problem by CoreProblem).
        ws_order, ws_value = _by_decreasing(prob.working_set)
        np_order, np_value = _by_decreasing(prob.nonpinned_working_set)
        pinned_alloc = np.ascontiguousarray(prob.pinned_alloc, dtype=np.int64)
        self.best_order = inc.copy()
        scratch = np.zeros((4, max(self.P.k, 1)), dtype=np.int64)   # path, then 3 for keys
        self._arrays = (ws_order, ws_value, np_order, np_value, pinned_alloc, scratch)
        cdef int64_t[::1] ws_order_v = ws_order, ws_value_v = ws_value
        cdef int64_t[::1] np_order_v = np_order, np_value_v = np_value
        cdef const int64_t[::1] pinned_alloc_v = pinned_alloc
        cdef int64_t[::1] best_order_v = self.best_order
        cdef int64_t[:, ::1] scratch_v = scratch
        cdef Search* X = &self.X
        cdef Py_ssize_t k = self.P.k
        X.P = &self.P
        X.S = &self.S
        X.best = incumbent_peak
        X.stop_at = -1
        X.static_lb = static_lb
        X.best_order = &best_order_v[0] if k else NULL
        X.path = &scratch_v[0, 0]
        X.keys = <Cand*>&scratch_v[1, 0]
        X.ws_order = &ws_order_v[0] if k else NULL
        X.ws_value = &ws_value_v[0] if k else NULL
        X.np_order = &np_order_v[0] if k else NULL
        X.np_value = &np_value_v[0] if k else NULL
        X.pinned_alloc = &pinned_alloc_v[0] if k else NULL
        X.pinned_live = prob.pinned_live0
        X.states = X.work = X.memo_hits = X.forced = 0
        X.out_of_memory = False
        X.depth = 0
        X.path_peak = 0
        X.started = X.pending = 0
        X.finished = 1 if k == 0 else 0
        X.cand_budget = <size_t>(memory_limit // 4)
        X.cand_cap = 1024
        X.cand_top = 0
        X.cand = <int64_t*>malloc(X.cand_cap * sizeof(int64_t))
        X.frames = <Frame*>malloc((k + 1) * sizeof(Frame))
        if X.cand == NULL or X.frames == NULL or state_init(&self.P, &self.S) != 0:
            raise MemoryError()
        self.state_ready = True
        if memo_init(&X.memo, self.S.words, <size_t>(memory_limit - memory_limit // 4),
                     k) != 0:
            raise MemoryError()
        self.seconds = 0.0

    def __dealloc__(self):
        free(self.X.cand)
        free(self.X.frames)
        free(self.X.memo.slots)
        if self.state_ready:
            state_free(&self.S)

    @property
    def peak(self):
        """The incumbent's peak."""
        return int(self.X.best)

    @property
    def exhausted(self):
        """True once the whole space was searched: the incumbent is optimal."""
        return bool(self.X.finished)

    def offer(self, order, long long peak):
        """Take `order` (local ids, a valid order peaking at `peak`) as the
        incumbent if it is better; True if it was taken."""
        if peak >= self.X.best:
            return False
        arr = np.ascontiguousarray(order, dtype=np.int64)
        if evaluate(self.prob, arr) != peak:            # raises on an invalid order
            raise ValueError("peak is not the peak of the offered order")
        self.best_order[:] = arr
        self.X.best = peak
        return True

    def raise_bound(self, long long lower_bound):
        """Prune with `lower_bound`, a newly proven bound on every order's
        peak, from now on (a higher bound cuts more; nothing cut is lost)."""
        if lower_bound > self.X.static_lb:
            self.X.static_lb = lower_bound

    def run(self, double time_limit=1.0, long long stop_at=-1):
        """Continue the search for `time_limit` seconds, or until an order
        peaks at or below `stop_at`, or the space is exhausted. Returns the
        dict of :func:`search` (figures counted since the object was made)."""
        cdef Search* X = &self.X
        cdef int exhausted
        cdef double t0 = now()
        X.stop_at = stop_at
        with nogil:
            exhausted = _run(X, t0 + time_limit)
        self.seconds += now() - t0
        timed_out = not exhausted and X.best > stop_at and not X.out_of_memory
        return {"order": self.best_order.copy(), "peak": int(X.best),
                "exhausted": bool(exhausted), "states": int(X.states),
                "memo_hits": int(X.memo_hits), "forced": int(X.forced),
                "memo_entries": int(X.memo.stored), "timed_out": bool(timed_out),
                "out_of_memory": bool(X.out_of_memory), "seconds": self.seconds}


def search(CoreProblem prob not None, incumbent, long long incumbent_peak, long long static_lb=0,
           long long stop_at=-1, double time_limit=1.0,
           long long memory_limit=256 * 2**20):
    """Find an order of `prob` (a checked _core.CoreProblem) with a peak
    below `incumbent_peak`, the peak of the valid order `incumbent`.

    static_lb   a lower bound on every order's peak, known to the caller
    stop_at     stop as soon as an order peaks at or below this
    time_limit  seconds; memory_limit: bytes for the memo table and stacks

    Returns a dict: order (local ids) and peak (the incumbent's when
    nothing better was found), exhausted (True: the search space was
    covered, so the order is optimal), states, memo_hits, forced (dominance
    moves), memo_entries, timed_out, out_of_memory, seconds. One slice of
    a :class:`Searcher`.
    """
    return Searcher(prob, incumbent, incumbent_peak, static_lb=static_lb,
                    memory_limit=memory_limit).run(time_limit, stop_at)
