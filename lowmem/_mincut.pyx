# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Per-node min-cut lower bound: the least memory any order can have at a
node's step, as one minimum s-t cut per node.

The bound. At node v's step in any order, the executed set S is a downset
(closed under predecessors) holding every ancestor of v, neither v nor any
descendant of v; the step takes live(S) + alloc(v) + ws(v). So every
order peaks at least at

    bound(v) = alloc(v) + ws(v) + min { live(S) : S downset, anc(v) <= S, v not in S }.

Live bytes after a set S, exactly as ``_core.run_node`` counts them
(``net_change``): base, plus for each buffer b of size s_b, made by node p
(or before the segment), read by the segment nodes R(b):

* made before the segment: live unless R(b) is non-empty, b is not
  pinned and R(b) <= S;
* made by p: live iff p in S and (b pinned or some reader is not in S);
  unread and not pinned it is freed at its own step.

So live(S) = live0 + sum_u w_u x_u - sum_b s_b y_b, x_u = [u in S], with
y_b = prod_{u in U_b} x_u for each non-pinned buffer with readers, where
U_b = R(b), plus p when that is needed to imply p (when some reader is
not provably a descendant of p; with y_b <= x_p the product is exact
either way), and w_u = bytes u makes that are pinned or read. Products
are free to minimise: y_b <= x_u for u in U_b and a negative weight on
y_b make y_b = min_u x_u at the optimum. live is therefore a
minimum-weight closure (Picard 1976, "Maximal closure of a graph and
applications to combinatorial problems", Management Science 22(11)):

* one vertex per node and per buffer with |U_b| >= 2 (a buffer with a
  single element in U_b folds -s_b into that node's weight);
* a vertex of weight w < 0 gets an arc from the source of capacity -w, one
  of weight w > 0 an arc to the sink of capacity w;
* "u in S implies q in S" (q a predecessor of u; u in U_b for y_b) is an
  infinite arc u -> q;
* forcing u into S is an infinite source arc, out of S an infinite sink
  arc (forcing v's predecessors in forces all its ancestors; forcing v
  out forces its descendants out).

min live = live0 - (sum of negative weights' magnitudes) + min cut, and
the source side of a minimum cut is a minimising S.

Max flow is Dinic's algorithm (Dinic 1970, "Algorithm for solution of a
problem of maximum flow in networks with power estimation", Soviet Math.
Doklady 11), O(V^2 E), with int64 capacities. Per query, the forced
nodes' closures are contracted into the source (ancestors of v: x = 1)
and the sink (v and its descendants: x = 0) before the network is built,
so the flow runs only on the nodes the query leaves free (those
incomparable with v) and the products they share; this beat keeping one
network with infinite forcing arcs and warm-starting from its unforced
flow by 10x and more on deep graphs, where a breadth-first pass of that
network scanned most of the graph's ancestors every phase.

Overflow: finite capacities add up to at most 2 B (each buffer's size
appears once as a producer weight and once as a negative product weight),
B = the bytes of all buffers < 2**62 (CoreProblem's check), and
"infinite" is that sum plus one, < 2**63. A flow never exceeds a finite
cut, and every query is feasible (checked), so the flow value, the
residuals (<= capacity of an arc plus that of its reverse <= infinite)
and the sums stay below 2**63.
"""

import numpy as np

from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memcpy
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC
from lowmem._core cimport CoreProblem, Problem

# Default cap on the bytes of one network (arcs, residuals, vertex arrays).
DEFAULT_MAX_BYTES = 256 * 2**20
# Bytes per arc: head, reverse arc, residual, half an arc-list entry
# (tail, head, capacity), rounded up; per vertex: CSR pointer, level,
# current arc, queue, vertex map, weights, status and the construction
# tables (predecessor pointers, marks, fills, order); per buffer its
# producer, readers pointer, fill, product size and flag.
ARC_BYTES = 5 * 8
VERTEX_BYTES = 12 * 8
BUFFER_BYTES = 5 * 8


cdef inline double now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cdef class MinCutNetwork:
    """The closure model of a ``_core.CoreProblem`` (see the module
    docstring), built once; each query builds the network of the nodes it
    leaves free and solves one max flow.

    Construction is O(k + edges + reads + makes), plus the check, per
    buffer, of whether its readers provably descend from its producer
    (each reader has a predecessor among the producer and the other
    readers; at most about 8 (k + edges + reads) steps in all, after which
    the producer is kept in U_b). Raises MemoryError if the network's
    arrays, at their largest (every node free), would take more than
    `max_bytes` (checked after the O(k + edges + reads) construction
    tables, which are the size of the problem's own), ValueError if the
    dependencies have a cycle.

    A query fixes the forced-in nodes' ancestors-or-self A in S and the
    forced-out nodes' descendants-or-self D out of it; only the other
    nodes (I) are variables. Products with a member in D vanish, members
    in A drop out (x = 1), a product left with one free member folds into
    that node's weight and one with none is a constant; predecessor arcs
    into A are satisfied. The network of I (plus product vertices, source
    and sink) is built in O(k + edges + reads) and solved from zero flow:
    on a deep graph I is a small part of it, so the max flow, Dinic's
    O(V^2 E) at worst, runs on a small network.
    """
    cdef CoreProblem prob
    cdef readonly Py_ssize_t k, n_aux, n_vertices, n_arcs, max_vertices, max_arcs
    cdef readonly long long live0, infinite
    cdef Py_ssize_t src, snk
    cdef readonly object pred_ptr, pred_idx   # int64 CSR of predecessors
    cdef object _keep
    cdef const int64_t* pp     # predecessor CSR
    cdef const int64_t* pi
    cdef const int64_t* weight # k: folded node weights
    cdef const int64_t* aux_ptr  # CSR of product members (U_b), na + 1
    cdef const int64_t* aux_idx
    cdef const int64_t* aux_size
    # Per-query work arrays (allocated once at their largest).
    cdef uint8_t* status       # k: 0 free, 1 in S (A), 2 out of S (D)
    cdef int64_t* vid          # k: vertex of a free node; vertex -> node after
    cdef int64_t* qweight      # k: weight of free nodes in this query
    cdef int64_t* ptr          # V + 1: CSR of arcs by tail
    cdef int64_t* head         # arcs
    cdef int64_t* rev
    cdef int64_t* res
    cdef int64_t* etail        # arc list before the CSR (tail, head, cap)
    cdef int64_t* ehead
    cdef int64_t* ecap
    cdef int64_t* level        # V
    cdef int64_t* cur          # V
    cdef int64_t* queue        # V (also k for the closures)

    def __cinit__(self):
        self.status = NULL
        self.vid = self.qweight = self.ptr = self.head = self.rev = self.res = NULL
        self.etail = self.ehead = self.ecap = self.level = self.cur = self.queue = NULL

    def __dealloc__(self):
        free(self.status); free(self.vid); free(self.qweight); free(self.ptr)
        free(self.head); free(self.rev); free(self.res); free(self.etail)
        free(self.ehead); free(self.ecap); free(self.level); free(self.cur)
        free(self.queue)

    def __init__(self, CoreProblem prob not None, long long max_bytes=DEFAULT_MAX_BYTES):
        self.prob = prob
        cdef Problem* P = &prob.P
        cdef Py_ssize_t k = P.k, nb = P.nb
        cdef Py_ssize_t i, j, jj, b, r, q, n_edges = P.succ_ptr[k] if k else 0
        self.k = k

        # Predecessor CSR, and a topological check (Kahn): a cycle would
        # make every downset query meaningless.
        pred_ptr_arr = np.zeros(k + 1, dtype=np.int64)
        pred_idx_arr = np.zeros(max(n_edges, 1), dtype=np.int64)
        producer_arr = np.full(max(nb, 1), -1, dtype=np.int64)
        weight_arr = np.zeros(max(k, 1), dtype=np.int64)
        mark_arr = np.full(max(k, 1), -1, dtype=np.int64)
        uses_p_arr = np.zeros(max(nb, 1), dtype=np.uint8)    # p kept in U_b
        cdef int64_t[::1] pred_ptr = pred_ptr_arr, pred_idx = pred_idx_arr
        cdef int64_t[::1] producer = producer_arr, weight = weight_arr, mark = mark_arr
        cdef uint8_t[::1] uses_p = uses_p_arr
        fill_arr = np.zeros(max(k, 1), dtype=np.int64)
        cdef int64_t[::1] fill = fill_arr
        for i in range(k):
            for j in range(P.succ_ptr[i], P.succ_ptr[i + 1]):
                pred_ptr[P.succ_idx[j] + 1] += 1
        for i in range(k):
            pred_ptr[i + 1] += pred_ptr[i]
            fill[i] = pred_ptr[i]
        for i in range(k):
            for j in range(P.succ_ptr[i], P.succ_ptr[i + 1]):
                q = P.succ_idx[j]
                pred_idx[fill[q]] = i
                fill[q] += 1
        for i in range(k):
            fill[i] = P.pred_count[i]
        cdef Py_ssize_t qh = 0, qt = 0
        topo_arr = np.zeros(max(k, 1), dtype=np.int64)
        cdef int64_t[::1] topo = topo_arr
        for i in range(k):
            if fill[i] == 0:
                topo[qt] = i
                qt += 1
        while qh < qt:
            i = topo[qh]
            qh += 1
            for j in range(P.succ_ptr[i], P.succ_ptr[i + 1]):
                q = P.succ_idx[j]
                fill[q] -= 1
                if fill[q] == 0:
                    topo[qt] = q
                    qt += 1
        if qt != k:
            raise ValueError("the segment's dependencies have a cycle")
        self.pred_ptr, self.pred_idx = pred_ptr_arr[:k + 1], pred_idx_arr[:n_edges]

        # Buffers: weights, and the products with two or more members.
        for i in range(k):
            for j in range(P.make_ptr[i], P.make_ptr[i + 1]):
                producer[P.make_idx[j]] = i
        reader_ptr_arr = np.zeros(nb + 1, dtype=np.int64)
        cdef int64_t[::1] reader_ptr = reader_ptr_arr
        for b in range(nb):
            reader_ptr[b + 1] = reader_ptr[b] + P.buf_pending[b]   # checked count
        reader_idx_arr = np.zeros(max(int(reader_ptr[nb]), 1), dtype=np.int64)
        bfill_arr = reader_ptr_arr[:nb].copy() if nb else np.zeros(1, dtype=np.int64)
        cdef int64_t[::1] reader_idx = reader_idx_arr, bfill = bfill_arr
        for i in range(k):
            for j in range(P.use_ptr[i], P.use_ptr[i + 1]):
                b = P.use_idx[j]
                reader_idx[bfill[b]] = i
                bfill[b] += 1
        cdef int64_t budget = 8 * (k + n_edges + reader_ptr[nb]) + 64
        cdef Py_ssize_t na = 0, members = 0, size_u
        cdef bint covered
        cdef int64_t finite = 0
        for b in range(nb):
            if P.buf_pinned[b] or reader_ptr[b] == reader_ptr[b + 1]:
                # Never freed in the segment (or unread: freed at once, or,
                # made before, never freed): the producer's weight or live0.
                if producer[b] >= 0 and P.buf_pinned[b]:
                    weight[producer[b]] += P.buf_size[b]
                continue
            if producer[b] >= 0:
                weight[producer[b]] += P.buf_size[b]
                # Keep p in U_b unless each reader has a predecessor among
                # p and the readers (then, the graph being acyclic, every
                # reader descends from p and x_r <= x_p already).
                mark[producer[b]] = b
                for j in range(reader_ptr[b], reader_ptr[b + 1]):
                    mark[reader_idx[j]] = b
                for j in range(reader_ptr[b], reader_ptr[b + 1]):
                    r = reader_idx[j]
                    covered = False
                    for jj in range(pred_ptr[r], pred_ptr[r + 1]):
                        budget -= 1
                        if mark[pred_idx[jj]] == b:
                            covered = True
                            break
                    if not covered or budget < 0:
                        uses_p[b] = 1
                        break
                for j in range(reader_ptr[b], reader_ptr[b + 1]):
                    mark[reader_idx[j]] = -1
                mark[producer[b]] = -1
            size_u = reader_ptr[b + 1] - reader_ptr[b] + uses_p[b]
            if size_u == 1:
                weight[reader_idx[reader_ptr[b]]] -= P.buf_size[b]
            else:
                na += 1
                members += size_u
                finite += P.buf_size[b]
        for i in range(k):
            finite += weight[i] if weight[i] > 0 else -weight[i]
        aux_ptr_arr = np.zeros(na + 1, dtype=np.int64)
        aux_idx_arr = np.zeros(max(members, 1), dtype=np.int64)
        aux_size_arr = np.zeros(max(na, 1), dtype=np.int64)
        cdef int64_t[::1] aux_ptr = aux_ptr_arr, aux_idx = aux_idx_arr, aux_size = aux_size_arr
        cdef Py_ssize_t a = 0, fill_at = 0
        for b in range(nb):
            if (P.buf_pinned[b] or reader_ptr[b] == reader_ptr[b + 1]
                    or reader_ptr[b + 1] - reader_ptr[b] + uses_p[b] < 2):
                continue
            aux_size[a] = P.buf_size[b]
            for j in range(reader_ptr[b], reader_ptr[b + 1]):
                aux_idx[fill_at] = reader_idx[j]
                fill_at += 1
            if uses_p[b]:
                aux_idx[fill_at] = producer[b]
                fill_at += 1
            a += 1
            aux_ptr[a] = fill_at

        # The largest query network: every node free.
        cdef Py_ssize_t V = k + na + 2
        cdef Py_ssize_t m = 2 * (k + n_edges + na + members)
        if m * ARC_BYTES + V * VERTEX_BYTES + nb * BUFFER_BYTES > max_bytes:
            raise MemoryError(f"min-cut network of {m} arcs exceeds {max_bytes} bytes")
        self.n_aux, self.max_vertices, self.max_arcs = na, V, m
        self.n_vertices = self.n_arcs = 0
        self.live0 = P.live0
        self.infinite = finite + 1
        self._keep = (pred_ptr_arr, pred_idx_arr, weight_arr, aux_ptr_arr, aux_idx_arr,
                      aux_size_arr)
        self.pp = &pred_ptr[0]
        self.pi = &pred_idx[0]          # every array here has >= 1 entry
        self.weight = &weight[0]
        self.aux_ptr = &aux_ptr[0]
        self.aux_idx = &aux_idx[0]
        self.aux_size = &aux_size[0]
        self.status = <uint8_t*>calloc(max(k, 1), sizeof(uint8_t))
        self.vid = <int64_t*>malloc(max(V, k, 1) * sizeof(int64_t))
        self.qweight = <int64_t*>malloc(max(k, 1) * sizeof(int64_t))
        self.ptr = <int64_t*>malloc((V + 1) * sizeof(int64_t))
        self.head = <int64_t*>malloc(max(m, 1) * sizeof(int64_t))
        self.rev = <int64_t*>malloc(max(m, 1) * sizeof(int64_t))
        self.res = <int64_t*>malloc(max(m, 1) * sizeof(int64_t))
        self.etail = <int64_t*>malloc(max(m // 2, 1) * sizeof(int64_t))
        self.ehead = <int64_t*>malloc(max(m // 2, 1) * sizeof(int64_t))
        self.ecap = <int64_t*>malloc(max(m // 2, 1) * sizeof(int64_t))
        self.level = <int64_t*>malloc(V * sizeof(int64_t))
        self.cur = <int64_t*>malloc(V * sizeof(int64_t))
        self.queue = <int64_t*>malloc(max(V, k, 1) * sizeof(int64_t))
        if (self.status == NULL or self.vid == NULL or self.qweight == NULL
                or self.ptr == NULL or self.head == NULL or self.rev == NULL
                or self.res == NULL or self.etail == NULL or self.ehead == NULL
                or self.ecap == NULL or self.level == NULL or self.cur == NULL
                or self.queue == NULL):
            raise MemoryError()

    cdef void _close(self, const int64_t* start, Py_ssize_t n, bint down,
                     uint8_t value) noexcept nogil:
        """Mark with `value` the nodes `start` and their ancestors (down
        false) or descendants (down true), skipping nodes already marked.
        O(nodes marked + their edges)."""
        cdef const Problem* P = &self.prob.P
        cdef Py_ssize_t i, j, u, w, top = 0
        cdef uint8_t* status = self.status
        for i in range(n):
            if status[start[i]] != value:
                status[start[i]] = value
                self.queue[top] = start[i]
                top += 1
        # Descendants follow the successor CSR, ancestors the predecessor one.
        cdef const int64_t* ptr = P.succ_ptr if down else self.pp
        cdef const int64_t* idx = P.succ_idx if down else self.pi
        while top:
            top -= 1
            u = self.queue[top]
            for j in range(ptr[u], ptr[u + 1]):
                w = idx[j]
                if status[w] != value:
                    status[w] = value
                    self.queue[top] = w
                    top += 1

    cdef int64_t _query(self, const int64_t* force_in, Py_ssize_t n_in,
                        const int64_t* force_out, Py_ssize_t n_out,
                        double deadline, bint* late) noexcept nogil:
        """Min live bytes over downsets containing `force_in` and missing
        `force_out` (node ids; feasible, i.e. no ancestor-or-self of a
        forced-in node is forced out: checked by callers). Leaves the
        maximum flow in `res` and the node of each free vertex in `vid`
        past the vertices (see source_side)."""
        cdef Py_ssize_t k = self.k, i, j, u, w, a, e = 0, nf = 0, nv, free_members
        cdef Py_ssize_t last_free
        cdef int64_t INF = self.infinite, constant = self.live0, negative = 0, c
        cdef uint8_t* status = self.status
        cdef bint dead
        for i in range(k):
            status[i] = 0
        self._close(force_in, n_in, False, 1)
        self._close(force_out, n_out, True, 2)
        # Free nodes: vertices 0..nf-1, their weights; A's weights are constant.
        for u in range(k):
            if status[u] == 0:
                self.vid[u] = nf
                self.qweight[nf] = self.weight[u]
                nf += 1
            elif status[u] == 1:
                constant += self.weight[u]
        # Products: vanish with a member in D, constant with none free,
        # fold with one free, a vertex otherwise.
        nv = nf
        for a in range(self.n_aux):
            dead = False
            free_members = 0
            last_free = -1
            for j in range(self.aux_ptr[a], self.aux_ptr[a + 1]):
                u = self.aux_idx[j]
                if status[u] == 2:
                    dead = True
                    break
                if status[u] == 0:
                    free_members += 1
                    last_free = u
            if dead:
                continue
            if free_members == 0:
                constant -= self.aux_size[a]
            elif free_members == 1:
                self.qweight[self.vid[last_free]] -= self.aux_size[a]
            else:
                # Vertex nv: arcs source -> nv and nv -> each free member.
                self.etail[e], self.ehead[e], self.ecap[e] = -1, nv, self.aux_size[a]
                e += 1
                negative += self.aux_size[a]
                for j in range(self.aux_ptr[a], self.aux_ptr[a + 1]):
                    u = self.aux_idx[j]
                    if status[u] == 0:
                        self.etail[e], self.ehead[e], self.ecap[e] = nv, self.vid[u], INF
                        e += 1
                nv += 1
        cdef Py_ssize_t s = nv, t = nv + 1, V = nv + 2
        for u in range(k):
            if status[u] != 0:
                continue
            i = self.vid[u]
            c = self.qweight[i]
            if c < 0:
                negative -= c
                self.etail[e], self.ehead[e], self.ecap[e] = s, i, -c
                e += 1
            elif c > 0:
                self.etail[e], self.ehead[e], self.ecap[e] = i, t, c
                e += 1
            for j in range(self.pp[u], self.pp[u + 1]):
                w = self.pi[j]
                if status[w] == 0:      # a predecessor in A is satisfied
                    self.etail[e], self.ehead[e], self.ecap[e] = i, self.vid[w], INF
                    e += 1
        # CSR of the arcs and their reverses.
        for i in range(V + 1):
            self.ptr[i] = 0
        for j in range(e):
            if self.etail[j] < 0:
                self.etail[j] = s
            self.ptr[self.etail[j] + 1] += 1
            self.ptr[self.ehead[j] + 1] += 1
        for i in range(V):
            self.ptr[i + 1] += self.ptr[i]
            self.cur[i] = self.ptr[i]
        for j in range(e):
            u, w = self.etail[j], self.ehead[j]
            a, i = self.cur[u], self.cur[w]
            self.cur[u] += 1
            self.cur[w] += 1
            self.head[a], self.rev[a], self.res[a] = w, i, self.ecap[j]
            self.head[i], self.rev[i], self.res[i] = u, a, 0
        # Free vertex -> node, for source_side.
        nf = 0
        for u in range(k):
            if status[u] == 0:
                self.queue[nf] = u
                nf += 1
        for i in range(nf):
            self.vid[i] = self.queue[i]
        self.n_vertices, self.n_arcs, self.src, self.snk = V, 2 * e, s, t
        return constant - negative + self._maxflow(deadline, late)

    cdef int64_t _maxflow(self, double deadline, bint* late) noexcept nogil:
        """Maximum flow of the current network from zero (Dinic: BFS
        levels, then blocking flows by iterative depth-first search with
        current-arc pointers). Sets *late and stops if the deadline passes
        (checked per phase and every 4,096 paths)."""
        cdef Py_ssize_t V = self.n_vertices, s = self.src, t = self.snk
        cdef Py_ssize_t i, u, w, a, qh, qt, top
        cdef int64_t total = 0, f
        cdef int64_t* level = self.level
        cdef int64_t* cur = self.cur
        cdef int64_t* stack = self.queue
        cdef int64_t* res = self.res
        cdef int64_t* head = self.head
        cdef int64_t* ptr = self.ptr
        cdef Py_ssize_t paths = 0
        while True:
            if now() > deadline:
                late[0] = True
                return total
            for i in range(V):
                level[i] = -1
            level[s] = 0
            stack[0] = s
            qh, qt = 0, 1
            while qh < qt:
                u = stack[qh]
                qh += 1
                if level[t] >= 0 and level[u] >= level[t]:
                    break                       # deeper vertices cannot be on a shortest path
                for a in range(ptr[u], ptr[u + 1]):
                    w = head[a]
                    if res[a] > 0 and level[w] < 0:
                        level[w] = level[u] + 1
                        stack[qt] = w
                        qt += 1
            if level[t] < 0:
                return total
            for i in range(V):
                cur[i] = ptr[i]
            # Blocking flow: walk admissible arcs from s; at t augment by
            # the bottleneck and restart from s; a dead end is cut off.
            top = 0
            u = s
            while True:
                if u == t:
                    f = res[stack[0]]
                    for i in range(1, top):
                        if res[stack[i]] < f:
                            f = res[stack[i]]
                    for i in range(top):
                        res[stack[i]] -= f
                        res[self.rev[stack[i]]] += f
                    total += f
                    top = 0
                    u = s
                    paths += 1
                    if (paths & 4095) == 0 and now() > deadline:
                        late[0] = True
                        return total
                    continue
                while cur[u] < ptr[u + 1]:
                    a = cur[u]
                    w = head[a]
                    if res[a] > 0 and level[w] == level[u] + 1:
                        break
                    cur[u] += 1
                if cur[u] < ptr[u + 1]:
                    stack[top] = cur[u]
                    top += 1
                    u = head[cur[u]]
                else:
                    if u == s:
                        break
                    level[u] = -1               # dead end in this phase
                    top -= 1
                    u = head[self.rev[stack[top]]]
                    cur[u] += 1

    def source_side(self):
        """bool[k]: a minimising downset of the last query: its forced-in
        closure and the free nodes the source still reaches in the
        residual network. O(V + arcs)."""
        cdef Py_ssize_t V = self.n_vertices, u, w, a, qh = 0, qt = 1, i, nf = 0
        seen_arr = np.zeros(max(V, 1), dtype=np.uint8)
        out_arr = np.zeros(self.k, dtype=bool)
        cdef uint8_t[::1] seen = seen_arr
        if V == 0:
            return out_arr
        seen[self.src] = 1
        self.queue[0] = self.src
        while qh < qt:
            u = self.queue[qh]
            qh += 1
            for a in range(self.ptr[u], self.ptr[u + 1]):
                w = self.head[a]
                if self.res[a] > 0 and not seen[w]:
                    seen[w] = 1
                    self.queue[qt] = w
                    qt += 1
        for u in range(self.k):
            if self.status[u] == 1:
                out_arr[u] = True
            elif self.status[u] == 0:
                nf += 1
        for i in range(nf):
            if seen[i]:
                out_arr[self.vid[i]] = True
        return out_arr

    def min_live(self, forced_in=(), forced_out=()):
        """(min live bytes, bool[k] minimising downset) over downsets S of
        the problem's nodes with forced_in <= S and S disjoint from
        forced_out (local ids). ValueError on an id out of range or when no
        such downset exists (an ancestor-or-self of a forced_in node is in
        forced_out). O(k + edges + reads) plus one max flow on the free
        nodes' network."""
        cdef const int64_t[::1] fin = _ids(forced_in, self.k, "forced_in")
        cdef const int64_t[::1] fout = _ids(forced_out, self.k, "forced_out")
        closure = _ancestors_or_self(self.pred_ptr, self.pred_idx, self.k, forced_in)
        if len(fout) and closure[np.asarray(fout)].any():
            raise ValueError("no downset holds forced_in and avoids forced_out")
        cdef bint late = False
        cdef int64_t live = self._query(&fin[0] if fin.shape[0] else NULL, fin.shape[0],
                                        &fout[0] if fout.shape[0] else NULL, fout.shape[0],
                                        float("inf"), &late)
        return int(live), self.source_side()

    cdef int64_t node_bound(self, Py_ssize_t v, double deadline, bint* late) noexcept nogil:
        """bound(v) = alloc(v) + ws(v) + min live over downsets holding v's
        predecessors (hence all its ancestors) and not v (hence none of its
        descendants): always feasible in an acyclic problem."""
        cdef const Problem* P = &self.prob.P
        cdef int64_t vv = v
        cdef int64_t lo = self.pp[v], hi = self.pp[v + 1]
        return (self._query(self.pi + lo, hi - lo, &vv, 1, deadline, late)
                + P.alloc[v] + P.ws[v])


cdef const int64_t[::1] _ids(object ids, Py_ssize_t k, str name):
    """`ids` as a contiguous int64 array of node ids in [0, k) (ValueError
    naming `name` otherwise)."""
    arr = np.asarray(ids)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name}: node ids must be integers")
    if arr.size and arr.dtype == np.uint64 and arr.max() >= 2**63:
        raise ValueError(f"{name}: node id out of range [0, {k})")
    arr = np.ascontiguousarray(arr.astype(np.int64).reshape(-1))
    if len(arr) and (arr.min() < 0 or arr.max() >= k):
        raise ValueError(f"{name}: node id out of range [0, {k})")
    return arr


def _ancestors_or_self(pred_ptr_arr, pred_idx_arr, Py_ssize_t k, nodes):
    """bool[k]: `nodes` and all their ancestors. O(k + edges)."""
    cdef const int64_t[::1] pred_ptr = pred_ptr_arr
    cdef const int64_t[::1] pred_idx = pred_idx_arr
    cdef const int64_t[::1] start = _ids(nodes, k, "nodes")
    seen_arr = np.zeros(k, dtype=np.uint8)
    stack_arr = np.empty(max(k, 1), dtype=np.int64)
    cdef uint8_t[::1] seen = seen_arr
    cdef int64_t[::1] stack = stack_arr
    cdef Py_ssize_t top = 0, i, j, u, q
    for i in range(start.shape[0]):
        if not seen[start[i]]:
            seen[start[i]] = 1
            stack[top] = start[i]
            top += 1
    while top:
        top -= 1
        u = stack[top]
        for j in range(pred_ptr[u], pred_ptr[u + 1]):
            q = pred_idx[j]
            if not seen[q]:
                seen[q] = 1
                stack[top] = q
                top += 1
    return seen_arr.astype(bool)


def min_live_downset(CoreProblem prob not None, forced_in=(), forced_out=(),
                     long long max_bytes=DEFAULT_MAX_BYTES):
    """(min live bytes, bool[k] a downset achieving it): the least bytes
    live after any downset S of the problem's nodes with forced_in <= S
    and forced_out disjoint from S (local ids), under the memory model of
    ``_core.run_node``. ValueError when no such downset exists or an id is
    out of range; MemoryError past `max_bytes`. O(k + edges + reads +
    makes) and one max flow, Dinic's O(V^2 E) at worst, on the nodes
    left free; see the module docstring."""
    return MinCutNetwork(prob, max_bytes).min_live(forced_in, forced_out)


def mincut_bounds(CoreProblem prob not None, candidates, long long target,
                  double time_limit, upper_bounds=None,
                  long long max_bytes=DEFAULT_MAX_BYTES):
    """(best, node, computed): the largest bound(v) (module docstring) over
    the nodes of `candidates` (local ids, taken in the given order), the
    node giving it (-1 if none) and how many bounds were computed.

    Stops once the best reaches `target` (an incumbent peak: then proven
    optimal) or `time_limit` seconds pass (the clock is read before each
    node and inside the max flow; a bound cut short is discarded). With
    `upper_bounds` (int64[k], e.g. each node's step memory in a known
    order, which bounds bound(v) from above), a candidate whose upper
    bound does not exceed the best so far is skipped. Returns (0, -1, 0)
    when nothing is computed. Every value returned is a proven lower bound
    on the peak of every order.

    Complexity: building the model, O(k + edges + reads + makes); per
    node, O(k + edges + reads) to contract its ancestors and descendants
    and build the network of the nodes incomparable with it, then Dinic's
    max flow on that network, O(V^2 E) at worst (V <= k + buffers + 2,
    E <= 2 (k + edges + buffers + reads + makes)). Memory: the model and
    one network at its largest, at most `max_bytes`
    (MemoryError beyond).
    """
    cdef double deadline = now() + time_limit
    cdef const int64_t[::1] cand = _ids(candidates, prob.k, "candidates")
    cdef const int64_t[::1] upper
    cdef bint has_upper = upper_bounds is not None
    if has_upper:
        upper_arr = np.ascontiguousarray(upper_bounds, dtype=np.int64)
        if upper_arr.shape != (prob.k,):
            raise ValueError(f"upper_bounds: expected {prob.k} entries")
        upper = upper_arr
    if cand.shape[0] == 0 or not time_limit > 0:
        return 0, -1, 0
    cdef MinCutNetwork net = MinCutNetwork(prob, max_bytes)
    cdef int64_t best = 0, b
    cdef Py_ssize_t node = -1, computed = 0, i, v
    cdef bint late = False
    with nogil:
        for i in range(cand.shape[0]):
            v = cand[i]
            if has_upper and upper[v] <= best:
                continue
            if now() > deadline:
                break
            b = net.node_bound(v, deadline, &late)
            if late:
                break
            computed += 1
            if node < 0 or b > best:
                best, node = b, v
            if best >= target:
                break
    return int(best), int(node), int(computed)
