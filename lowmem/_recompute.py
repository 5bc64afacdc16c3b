"""Memory budgets met by recomputation (issue 13; docs/format.md, rule 5).

Given an order that runs every node once (lowmem.schedule's best) and a
budget below its peak, find an order that runs some nodes again, so that
values can be dropped between uses and made anew when needed, with peak at
most the budget and the least added compute cost found.

Method: rematerialisation over a fixed base order, offline, in the manner
of Dynamic Tensor Rematerialization (Kirisame et al., ICLR 2021): walk the
base order; before a node runs, make its inputs present (recomputing
dropped ones, recursively); when its outputs would not fit, drop the
present value with the lowest score, e.g. DTR's projected cost / (size x
staleness), or Belady's cost / (size x distance to its next use); a value
whose last use has passed is freed as the memory model frees it. Several
scores and base orders are tried (the first plans), then, while time is
left, each added run is tried without it, most costly first (a dropped
recomputation that keeps the order valid and within the budget is a pure
gain). Every plan is checked by the reference model (_model.simulate),
whose peak it reports.

Bounds, proven: a step needs its inputs and outputs present, so no order
goes below max over nodes of (its produced inputs + the bytes it allocates
+ its workspace), nor below the graph outputs' bytes together
(`memory_lower_bound`). If the budget is below the single-run lower bound
of lowmem.schedule, at least one node runs twice, so the added cost is at
least the cheapest repeatable node's cost (`cost_lower_bound`; else 0).
`optimal` only when the added cost found equals that bound.

Complexity: per first plan O(runs x present values) for the eviction scans
plus O(runs + edges) for the reference check; the improvement pass one
reference check, O(runs + edges), per added run tried.
"""

import bisect
import math
import time
from dataclasses import dataclass, field

import numpy as np

from ._graph import DESTROY, NO_ALIAS, VIEW
from ._model import OrderError, _buffer_of, repeatable, simulate

# Eviction scores: lower is dropped first. cost: what recomputing the value
# costs (its producer, plus producers of its inputs that are absent too);
# size in bytes; stale: steps since last used; distance: base steps to its
# next use.
CHAIN_LOOKAHEAD = 64      # nodes _replayable follows back from a value

SCORES = {
    "dtr": lambda cost, size, stale, distance: cost / (size * stale),
    "belady": lambda cost, size, stale, distance: cost / (size * distance),
    "farthest": lambda cost, size, stale, distance: 1.0 / (size * distance),
}


class _Stuck(Exception):
    """A dropped value cannot be made again (its producer may not run
    twice, or what it read was overwritten in place): never drop it."""

    def __init__(self, buffer):
        super().__init__(buffer)
        self.buffer = buffer


class _NoRoom(Exception):
    """Nothing left to drop and the step still exceeds the budget."""


@dataclass
class RecomputePlan:
    """An order with repeats and what it costs.

    order           node ids, a node possibly more than once (int64)
    peak            its peak under the memory model (bytes)
    added_cost      the summed cost of the runs beyond each node's first
    reruns          node id -> extra runs
    fits            peak <= the budget
    source          which first plan it came from ("<base>/<score>")
    """
    order: np.ndarray
    peak: int
    added_cost: float
    reruns: dict = field(default_factory=dict)
    fits: bool = True
    source: str = ""


class _Tables:
    """Per-graph facts the planner reads, as Python lists."""

    def __init__(self, graph):
        self.graph = graph
        nv, nn = graph.n_vars, graph.n_nodes
        owner = _buffer_of(graph)
        kind, alias_of = graph.var_alias_kind.tolist(), graph.var_alias_of.tolist()
        # root: the variable whose storage v uses, graph inputs included.
        root = list(range(nv))
        for v in range(nv):
            r = v
            while kind[r] != NO_ALIAS:
                r = alias_of[r]
            root[v] = r
        self.owner, self.root, self.kind, self.alias_of = owner, root, kind, alias_of
        self.size = graph.var_size.tolist()
        self.producer = graph.var_producer.tolist()
        self.cost = graph.node_cost.tolist()
        self.workspace = graph.node_workspace.tolist()
        ptr, idx = graph.in_ptr.tolist(), graph.in_idx.tolist()
        self.inputs = [idx[ptr[n]:ptr[n + 1]] for n in range(nn)]
        ptr, idx = graph.out_ptr.tolist(), graph.out_idx.tolist()
        self.outputs = [idx[ptr[n]:ptr[n + 1]] for n in range(nn)]
        self.repeatable = [repeatable(graph, n) is None for n in range(nn)]
        # Base-independent: the nodes overwriting each root in place.
        self.destroyers = {}
        for v in range(nv):
            if kind[v] == DESTROY:
                self.destroyers.setdefault(root[v], []).append(self.producer[v])
        self.pinned = {owner[v] for v in graph.outputs.tolist() if owner[v] is not None}
        # Buffers each node reads (distinct, produced ones) and allocates.
        self.reads = [sorted({owner[v] for v in ins if owner[v] is not None})
                      for ins in self.inputs]
        self.allocates = [[v for v in outs if owner[v] == v] for outs in self.outputs]

    def memory_lower_bound(self):
        """No order, repeats or not, peaks below this (see the module doc)."""
        step = max((sum(self.size[b] for b in set(self.reads[n]) - set(self.allocates[n]))
                    + sum(self.size[v] for v in self.allocates[n]) + self.workspace[n]
                    for n in range(len(self.inputs))), default=0)
        return max(step, sum(self.size[b] for b in self.pinned))


class _Rematerializer:
    """One walk of a base order under a budget with one eviction score."""

    def __init__(self, tables, base, budget, score, never_drop):
        self.t = tables
        self.base = base
        self.budget = budget
        self.score = SCORES[score]
        self.never_drop = never_drop
        t = tables
        nv = len(t.size)
        # Base positions reading each buffer (for next use and death).
        uses = {}
        for k, n in enumerate(base):
            for b in t.reads[n]:
                uses.setdefault(b, []).append(k)
        self.uses = uses
        self.next_use = {b: 0 for b in uses}       # index into uses[b]
        self.present = {}                           # buffer -> its size
        self.present_bytes = 0
        self.instance = [0] * nv                    # current instance of each root
        self.version = [0] * nv                     # of each root, bumped by destroy
        self.var_instance = [-1] * nv               # the instance a variable was made in
        self.var_version = [0] * nv
        for v in range(nv):
            if t.producer[v] < 0:
                self.var_instance[v] = 0
        self.last_used = {}                         # buffer -> emitted step
        self.ran = [False] * len(t.inputs)
        self.order = []
        self.added = 0.0
        self.locked = {}                            # buffer -> count
        self.position = 0
        self.depth = 0                              # nested recomputations
        self.content = list(range(nv))              # root -> variable holding its value
        where = {n: k for k, n in enumerate(base)}
        self.destroyed_at = {r: sorted(where[d] for d in ds) for r, ds in t.destroyers.items()}

    # ------------------------------------------------------------ state
    def _valid(self, v, strict=True):
        """v's value is present: made in the current instance of its storage
        (which is present) and, if `strict`, not overwritten in place since
        (a first run may read an overwritten value: the graph's business; a
        second run must read what the first read)."""
        r = self.t.root[v]
        if self.var_instance[v] != self.instance[r]:
            return False
        if strict and self.var_version[v] != self.version[r]:
            return False
        b = self.t.owner[v]
        return b is None or b in self.present

    def _next_distance(self, b, after=None):
        """Base steps from `after` (default: the current base position) to
        the next base use of buffer b, or None when it has none left."""
        after = self.position if after is None else after
        uses, i = self.uses.get(b, ()), self.next_use.get(b, 0)
        while i < len(uses) and uses[i] < after:
            i += 1
        if after == self.position:
            self.next_use[b] = i
        return uses[i] - after + 1 if i < len(uses) else None

    def _dead(self, b, after):
        return b not in self.t.pinned and self._next_distance(b, after) is None

    def _lock(self, b):
        if b is not None:
            self.locked[b] = self.locked.get(b, 0) + 1

    def _unlock(self, b):
        if b is not None:
            self.locked[b] -= 1
            if not self.locked[b]:
                del self.locked[b]

    # --------------------------------------------------------- dropping
    def _droppable(self, b):
        t = self.t
        return (b not in self.locked and b not in self.never_drop
                and t.repeatable[t.producer[b]])

    def _replayable(self, b, next_position):
        """Whether the nodes that would remake buffer b's current value
        (its last writer, and the producers of their inputs that will be
        gone by then) may all run again before base position
        `next_position`: each may run twice, and none reads a value that a
        base node overwrites in place before then. Looks at
        CHAIN_LOOKAHEAD nodes at most; the restart in _plan catches what
        this misses."""
        t = self.t
        todo, seen = [self.content[b]], set()
        while todo and len(seen) < CHAIN_LOOKAHEAD:
            v = todo.pop()
            p = t.producer[v]
            if p < 0 or p in seen:
                continue
            seen.add(p)
            if not t.repeatable[p]:
                return False
            for u in t.inputs[p]:
                if self._overwritten_before(t.root[u], next_position):
                    return False
                if not self._kept_until(u, next_position):
                    todo.append(u)
        return True

    def _overwritten_before(self, r, position):
        """A base node overwrites root r in place between the current base
        position and `position`."""
        at = self.destroyed_at.get(r)
        if at is None:
            return False
        i = bisect.bisect_left(at, self.position)
        return i < len(at) and at[i] < position

    def _kept_until(self, v, position):
        """v's value is present now and will still be at base `position`
        (barring drops): a graph input, or its buffer is pinned or has a
        base use at or after `position`."""
        if not self._valid(v):
            return False
        b = self.t.owner[v]
        if b is None or b in self.t.pinned:
            return True
        uses = self.uses.get(b, ())
        return bool(uses) and uses[-1] >= position

    def _recompute_cost(self, b):
        """The producer's cost plus that of producers of its absent inputs."""
        t = self.t
        p = t.producer[b]
        cost = t.cost[p]
        for v in t.inputs[p]:
            if not self._valid(v) and t.producer[v] >= 0:
                cost += t.cost[t.producer[v]]
        return cost

    def _drop_until(self, need):
        """Drop present values, lowest score first, until `need` more bytes
        fit the budget; only values that can be made again in time (checked
        in score order: the check follows chains). One scan per call."""
        now = len(self.order)
        candidates = []
        for b, size in self.present.items():
            if size <= 0 or not self._droppable(b):
                continue
            distance = self._next_distance(b)
            if distance is None:
                if b not in self.t.pinned:
                    continue
                # A graph output: needed again at the end only.
                distance = len(self.base) - self.position + 1
            stale = now - self.last_used.get(b, now) + 1
            key = self.score(self._recompute_cost(b) + 1e-9, size, stale, distance)
            candidates.append((key, b, distance))
        candidates.sort()
        for _, b, distance in candidates:
            if self.present_bytes + need <= self.budget:
                return
            if self._replayable(b, self.position + distance - 1):
                self.present_bytes -= self.present.pop(b)
        if self.present_bytes + need > self.budget:
            raise _NoRoom()

    # ---------------------------------------------------------- running
    def _make_present(self, v, strict=True):
        """Recompute v (and what it needs) if its value is not present. A
        chain that cannot be replayed blames the value that started it (the
        outermost one, whose drop was the mistake)."""
        if self._valid(v, strict):
            return
        self.depth += 1
        try:
            self._remake(v)
        except _Stuck:
            if self.depth == 1:
                t = self.t
                raise _Stuck(t.owner[v] if t.owner[v] is not None else t.root[v]) from None
            raise
        finally:
            self.depth -= 1

    def _remake(self, v):
        t = self.t
        p = t.producer[v]
        b = t.owner[v]
        if p < 0 or not t.repeatable[p] or not self.ran[p]:
            raise _Stuck(b if b is not None else t.root[v])
        self._run(p, self.position)

    def _run(self, n, after):
        """Run node n (its absent inputs recomputed first, values dropped
        to fit); buffers with no base use from position `after` on die."""
        t = self.t
        ins = t.inputs[n]
        # Every input is held from the start, so that making one present
        # neither drops nor frees another made present just before.
        held = [t.owner[v] for v in ins]
        for b in held:
            self._lock(b)
        try:
            for v in ins:
                self._make_present(v, strict=self.ran[n])
            # A second run must read what the first read (rule 5).
            if self.ran[n]:
                for v in ins:
                    if not self._valid(v):
                        raise _Stuck(t.owner[v] if t.owner[v] is not None else t.root[v])
            # The old values of the node's own buffers die before it runs again.
            for v in t.allocates[n]:
                if v in self.present:
                    self.present_bytes -= self.present.pop(v)
            need = sum(t.size[v] for v in t.allocates[n]) + t.workspace[n]
            if self.present_bytes + need > self.budget:
                self._drop_until(need)
        finally:
            for b in held:
                self._unlock(b)
        if self.ran[n]:
            self.added += t.cost[n]
        self.ran[n] = True
        now = len(self.order)
        self.order.append(n)
        for v in ins:
            if t.owner[v] is not None:
                self.last_used[t.owner[v]] = now
        for pos, v in enumerate(t.outputs[n]):
            r = t.root[v]
            if t.kind[v] == NO_ALIAS:
                self.instance[v] += 1
                self.version[v] = 0
                self.content[v] = v
                self.present[v] = t.size[v]
                self.present_bytes += t.size[v]
                self.last_used[v] = now
            elif t.kind[v] == DESTROY:
                self.version[r] += 1
                self.content[r] = v
            self.var_instance[v] = self.instance[r]
            self.var_version[v] = self.version[r]
        # Free what nothing will read again (the model frees it here too).
        for b in set(t.reads[n]) | set(t.allocates[n]):
            if b in self.present and b not in self.locked and self._dead(b, after):
                self.present_bytes -= self.present.pop(b)

    def walk(self, deadline):
        for k, n in enumerate(self.base):
            self.position = k
            if not k % 64 and time.perf_counter() > deadline:
                raise TimeoutError
            self._run(n, k + 1)
        # Graph outputs dropped on the way are made again at the end, each
        # held so that making the next one does not drop it.
        self.position = len(self.base)
        t = self.t
        outputs = self.t.graph.outputs.tolist()
        # The last one made has all the others held: make first the ones
        # whose producers allocate least.
        outputs.sort(key=lambda v: sum(t.size[u] for u in t.allocates[t.producer[v]])
                     if t.producer[v] >= 0 else 0)
        for v in outputs:
            self._lock(self.t.owner[v])
        for v in outputs:
            self._make_present(v)
        return np.array(self.order, dtype=np.int64), self.added


def _plan(tables, base, budget, score, deadline):
    """One first plan, or None. Restarts (at most once per buffer) when a
    dropped value turns out impossible to make again."""
    never_drop = set()
    while True:
        try:
            return _Rematerializer(tables, base, budget, score, never_drop).walk(deadline)
        except _Stuck as e:
            if e.buffer in never_drop or e.buffer is None:
                return None
            never_drop.add(e.buffer)
        except (_NoRoom, TimeoutError):
            return None


def _reruns(order, n_nodes):
    counts = np.bincount(order, minlength=n_nodes) - 1
    return {int(n): int(c) for n, c in enumerate(counts) if c > 0}


def _evaluate(graph, order):
    """Peak of an order with repeats, or None if the model refuses it."""
    try:
        return int(simulate(graph, order)[0].max(initial=0))
    except OrderError:
        return None


def _improve(graph, order, budget, deadline):
    """Drop added runs that are not needed: each rerun, most costly first,
    is removed if the order stays valid and within the budget."""
    cost = graph.node_cost
    seen, reruns = set(), []
    for i, n in enumerate(order.tolist()):
        if n in seen:
            reruns.append(i)
        seen.add(n)
    reruns.sort(key=lambda i: -cost[order[i]])
    keep = np.ones(len(order), dtype=bool)
    took = 0.0
    for i in reruns:
        # Stop while one more check (and the caller's final one) still fits.
        if time.perf_counter() + 2 * took > deadline:
            break
        keep[i] = False
        started = time.perf_counter()
        peak = _evaluate(graph, order[keep])
        took = time.perf_counter() - started
        if peak is None or peak > budget:
            keep[i] = True
    return order[keep]


def plan_within(tables, budget, base_orders, deadline):
    """The least-cost plan found within `budget` bytes, or None when none
    was found. `tables`: the graph's _Tables (see tables_of);
    `base_orders`: name -> order running every node once (the first is
    the preferred base)."""
    graph = tables.graph
    best = None
    bases = {name: [int(n) for n in base] for name, base in base_orders.items()}
    for name, score in ((name, score) for name in bases for score in SCORES):
        if time.perf_counter() > deadline and best is not None:
            break
        # Anytime: the walks go on past the deadline until one plan is found.
        found = _plan(tables, bases[name], budget, score,
                      deadline if best is not None else math.inf)
        if found is None:
            continue
        order, _ = found
        peak = _evaluate(graph, order)
        if peak is None or peak > budget:
            continue
        added = float(graph.node_cost[order].sum() - graph.node_cost.sum())
        if best is None or added < best.added_cost:
            best = RecomputePlan(order, peak, added, source=f"{name}/{score}")
    if best is None:
        return None
    order = _improve(graph, best.order, budget, deadline)
    added = float(graph.node_cost[order].sum() - graph.node_cost.sum())
    return RecomputePlan(order, _evaluate(graph, order), added, _reruns(order, graph.n_nodes),
                         True, best.source)


def lowest_reachable(tables, base_orders, low, high, deadline):
    """The plan with the lowest peak found by bisecting the budget between
    `low` (a proven bound) and `high` (a peak known to be reachable)."""
    best = None
    while low < high and time.perf_counter() < deadline:
        mid = (low + high) // 2
        plan = plan_within(tables, mid, base_orders, deadline)
        if plan is None:
            low = mid + 1
        else:
            best, high = plan, plan.peak
    return best


def tables_of(graph):
    """The per-graph tables plan_within and lowest_reachable read (built
    once per graph: O(nodes + edges))."""
    return _Tables(graph)


def cost_lower_bound(graph, budget, single_run_lower_bound):
    """Added cost no plan within `budget` can avoid (see the module doc)."""
    if budget >= single_run_lower_bound:
        return 0.0
    costs = [graph.node_cost[n] for n in range(graph.n_nodes) if repeatable(graph, n) is None]
    return float(min(costs)) if costs else math.inf
