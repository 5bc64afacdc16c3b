"""Exact minimum-peak oracle for small graphs, independent of lowmem's core.

Two exact methods:

* :func:`min_peak_enumerate` lists every valid order (producers of inputs
  and ``orderings`` respected) and takes the minimum of the reference model
  :func:`lowmem.peak`. Obviously correct, exponential in the number of orders.
* :func:`min_peak_dp` is a dynamic programme over executed sets. Under the
  memory model the bytes live after a set S of nodes has run depend on S
  only (not on the order within S): a buffer is live iff its producer is in
  S and it is a graph output's buffer or some reader of it is not in S. So
  the minimum peak to finish from S is
      best(S) = min over ready n of max(live(S) + alloc(n) + workspace(n),
                                        best(S + n)),
  computed here with a small simulator written from the memory model's
  rules in docs/format.md (:class:`Model`), not from lowmem's code. test_bruteforce.py checks that
  simulator against :func:`lowmem.memory_timeline` on random orders and the
  two methods against each other.

:func:`min_peak` picks enumeration when the graph has few valid orders and
the DP otherwise. Both handle the empty graph (peak 0).
"""

import random as _random

import lowmem
from lowmem._graph import NO_ALIAS


class Model:
    """The memory model (docs/format.md), as bitmask tables over a graph's nodes.

    buffers: list of (size, producer, readers_mask, pinned) for each buffer,
    a buffer being named by the produced variable that owns its storage.
    """

    def __init__(self, graph):
        self.graph = graph
        nn, nv = graph.n_nodes, graph.n_vars
        self.n = nn
        producer = [int(p) for p in graph.var_producer]
        owner = []
        for v in range(nv):
            root = v
            while int(graph.var_alias_kind[root]) != NO_ALIAS:
                root = int(graph.var_alias_of[root])
            # Storage of a graph input (or an alias of one) is never counted.
            owner.append(root if producer[root] >= 0 else None)
        self.owner = owner
        outputs = {int(v) for v in graph.outputs}
        readers = {}
        pinned = {}
        for v in range(nv):
            b = owner[v]
            if b is None:
                continue
            readers.setdefault(b, 0)
            pinned[b] = pinned.get(b, False) or v in outputs
        for n in range(nn):
            for v in graph.node_inputs(n):
                b = owner[int(v)]
                if b is not None:
                    readers[b] |= 1 << n
        self.buffers = [(int(graph.var_size[b]), producer[b], readers[b], pinned[b])
                        for b in sorted(readers)]
        # Bytes a node allocates: its outputs that own their buffer.
        self.alloc = [0] * nn
        for v in range(nv):
            if owner[v] == v:
                self.alloc[producer[v]] += int(graph.var_size[v])
        self.workspace = [int(w) for w in graph.node_workspace]
        # Predecessors: producers of inputs and orderings.
        self.pred = [0] * nn
        for n in range(nn):
            for v in graph.node_inputs(n):
                p = producer[int(v)]
                if p >= 0:
                    self.pred[n] |= 1 << p
        for a, b in graph.orderings:
            self.pred[int(b)] |= 1 << int(a)

    def live(self, done):
        """Bytes live once exactly the nodes in bitmask `done` have run."""
        total = 0
        for size, prod, readers, pinned in self.buffers:
            if done >> prod & 1 and (pinned or readers & ~done):
                total += size
        return total

    def step(self, done, n):
        """Bytes in use while node n runs after the nodes in `done`."""
        return self.live(done) + self.alloc[n] + self.workspace[n]

    def ready(self, done):
        return [n for n in range(self.n)
                if not done >> n & 1 and self.pred[n] & ~done == 0]

    def timeline(self, order):
        """Step memory of a (valid) order; asserts validity."""
        done, out = 0, []
        for n in order:
            n = int(n)
            assert not done >> n & 1 and self.pred[n] & ~done == 0, f"invalid order at {n}"
            out.append(self.step(done, n))
            done |= 1 << n
        assert done == (1 << self.n) - 1, "order does not run every node"
        return out

    def peak(self, order):
        t = self.timeline(order)
        return max(t) if t else 0


def greedy_order(graph, rule):
    """The list-scheduling heuristics of ``lowmem.schedule``, written from
    their rule with :class:`Model` (quadratic; small graphs only): at each
    step run the ready node with the smallest key, where change = live
    bytes after it minus before it and step = its step memory:
    ``"greedy"`` (most freed minus allocated first): (change, step, node);
    ``"lpmf"`` (least memory first): (step, change, node).
    Returns (order, peak)."""
    m = Model(graph)
    done, order, peak = 0, [], 0
    for _ in range(m.n):
        live = m.live(done)

        def key(n):
            step, change = m.step(done, n), m.live(done | 1 << n) - live
            return (change, step, n) if rule == "greedy" else (step, change, n)

        n = min(m.ready(done), key=key)
        peak = max(peak, m.step(done, n))
        order.append(n)
        done |= 1 << n
    return order, peak


def count_orders(graph, cap=None):
    """Number of valid orders (linear extensions); stops counting above `cap`."""
    m = Model(graph)
    full = (1 << m.n) - 1
    ways = {0: 1}
    frontier = [0]
    # Layer by layer: all sets of size k before size k + 1.
    for _ in range(m.n):
        nxt = {}
        for done in frontier:
            w = ways[done]
            for n in m.ready(done):
                s = done | 1 << n
                nxt[s] = nxt.get(s, 0) + w
        ways.update(nxt)
        frontier = list(nxt)
        # A layer's sum counts the distinct valid prefixes of that length,
        # each of which extends to at least one order: total >= layer sum.
        if cap is not None and sum(nxt.values()) > cap:
            return cap + 1
    return ways.get(full, 1 if m.n == 0 else 0)


def all_orders(graph):
    """Yield every valid order as a list of node ids."""
    m = Model(graph)
    order = []

    def rec(done):
        if len(order) == m.n:
            yield list(order)
            return
        for n in m.ready(done):
            order.append(n)
            yield from rec(done | 1 << n)
            order.pop()

    yield from rec(0)


def random_order(graph, rng=None):
    """A uniformly chosen ready node at each step (not a uniform order)."""
    rng = rng or _random.Random()
    m = Model(graph)
    done, order = 0, []
    for _ in range(m.n):
        n = rng.choice(m.ready(done))
        order.append(n)
        done |= 1 << n
    return order


def min_peak_enumerate(graph):
    """(minimum peak, an order achieving it) over all valid orders, using
    the reference model lowmem.peak."""
    best, best_order = None, None
    for order in all_orders(graph):
        p = lowmem.peak(graph, order)
        if best is None or p < best:
            best, best_order = p, order
    return best, best_order


def min_peak_dp(graph):
    """(minimum peak, an order achieving it) by the DP over executed sets."""
    m = Model(graph)
    full = (1 << m.n) - 1
    best = {full: 0}
    choice = {}

    def solve(done):
        if done in best:
            return best[done]
        live = m.live(done)
        value, arg = None, None
        for n in m.ready(done):
            v = max(live + m.alloc[n] + m.workspace[n], solve(done | 1 << n))
            if value is None or v < value:
                value, arg = v, n
        best[done], choice[done] = value, arg
        return value

    value = solve(0)   # recursion depth <= number of nodes
    order, done = [], 0
    while done != full:
        n = choice[done]
        order.append(n)
        done |= 1 << n
    return value, order


ENUMERATE_LIMIT = 120


def min_peak_order(graph, enumerate_limit=ENUMERATE_LIMIT):
    """(minimum peak, an optimal order): enumeration if the graph has at most
    `enumerate_limit` valid orders, else the DP."""
    if count_orders(graph, cap=enumerate_limit) <= enumerate_limit:
        return min_peak_enumerate(graph)
    return min_peak_dp(graph)


def min_peak(graph, enumerate_limit=ENUMERATE_LIMIT):
    """The true minimum peak in bytes over all valid orders of `graph`."""
    return min_peak_order(graph, enumerate_limit)[0]


def dfs_postorder(graph):
    """Theano's C VM order, written from its definition (recursive, so for
    small graphs only): from each graph output's producer in turn, then
    from every node in listed order, visit a node's ``orderings``
    predecessors (ascending), then its inputs' producers first to last,
    then emit the node; visited nodes are skipped."""
    order, seen = [], set()

    def visit(n):
        if n in seen:
            return
        seen.add(n)
        for a in sorted({int(a) for a, b in graph.orderings if b == n}):
            visit(a)
        for v in graph.node_inputs(n):
            if graph.var_producer[v] >= 0:
                visit(int(graph.var_producer[v]))
        order.append(n)

    for v in graph.outputs:
        if graph.var_producer[v] >= 0:
            visit(int(graph.var_producer[v]))
    for n in range(graph.n_nodes):
        visit(n)
    return order


# ------------------------------------------------ recomputation (repeats)
def timeline_with_repeats(graph, order):
    """Step memory of an order that may list nodes more than once, for
    graphs without aliases, written from rule 5 of docs/format.md as a
    per-step count (no instances): a run at step s of the producer of v
    keeps v from s to the last step before the producer's next run that
    reads v (s itself if none), or to the end when v is a graph output and
    this is the producer's last run. O(steps * variables)."""
    assert not graph.var_alias_kind.any(), "alias-free graphs only"
    order = [int(n) for n in order]
    steps = len(order)
    outputs = {int(v) for v in graph.outputs}
    reads = [set(int(v) for v in graph.node_inputs(n)) for n in range(graph.n_nodes)]
    memory = [int(graph.node_workspace[n]) for n in order]
    for v in range(graph.n_vars):
        p = int(graph.var_producer[v])
        if p < 0:
            continue
        runs = [t for t, n in enumerate(order) if n == p]
        for k, s in enumerate(runs):
            end = runs[k + 1] if k + 1 < len(runs) else steps
            if v in outputs and k + 1 == len(runs):
                last = steps - 1
            else:
                last = max([t for t in range(s + 1, end) if v in reads[order[t]]], default=s)
            for t in range(s, last + 1):
                memory[t] += int(graph.var_size[v])
    return memory


def min_added_cost(graph, budget, max_states=200_000):
    """Least added compute cost of an order with repeats whose peak is at
    most `budget` (None when none exists), by Dijkstra over pebbling states
    (nodes run so far, buffers kept): running a node needs its inputs kept
    and costs its `cost` when it ran before; after it, any kept buffer may
    be dropped. The memory model frees each value at its last read, which is
    one of these drop choices, so the least cost over pebblings is the least
    cost over orders. Alias-free graphs without orderings, every node
    repeatable; exponential (small graphs only). Returns (cost, order)."""
    import heapq
    import itertools
    assert not graph.var_alias_kind.any() and not len(graph.orderings)
    nn, nv = graph.n_nodes, graph.n_vars
    producer = [int(p) for p in graph.var_producer]
    size = [int(s) for s in graph.var_size]
    ins = [[int(v) for v in graph.node_inputs(n) if producer[int(v)] >= 0] for n in range(nn)]
    outs = [[int(v) for v in graph.node_outputs(n)] for n in range(nn)]
    cost = [float(c) for c in graph.node_cost]
    ws = [int(w) for w in graph.node_workspace]
    outputs = {int(v) for v in graph.outputs if producer[int(v)] >= 0}
    full = (1 << nn) - 1
    start = (0, frozenset())
    best = {start: 0.0}
    tie = itertools.count()
    heap = [(0.0, next(tie), start, ())]
    while heap:
        c, _, state, order = heapq.heappop(heap)
        if c > best.get(state, float("inf")):
            continue
        ran, kept = state
        if ran == full and outputs <= kept:
            return c, list(order)
        if len(best) > max_states:
            raise RuntimeError("min_added_cost: too many states")
        live = sum(size[v] for v in kept)
        for n in range(nn):
            if not all(v in kept for v in ins[n]):
                continue
            # A rerun replaces the old values of its outputs: those die at
            # their last read, before this step.
            step = live - sum(size[v] for v in outs[n] if v in kept) \
                + sum(size[v] for v in outs[n]) + ws[n]
            if step > budget:
                continue
            step_cost = c + (cost[n] if ran >> n & 1 else 0.0)
            after = kept | set(outs[n])
            droppable = sorted(after)
            for r in range(len(droppable) + 1):
                for drop in itertools.combinations(droppable, r):
                    new = (ran | 1 << n, frozenset(after - set(drop)))
                    if step_cost < best.get(new, float("inf")):
                        best[new] = step_cost
                        heapq.heappush(heap, (step_cost, next(tie), new, order + (n,)))
    return None
