"""The per-node min-cut lower bound (lowmem/_mincut.pyx) and lower_bound()
(lowmem/_lower_bounds.py) against brute force on small random graphs.

The references here enumerate every downset of a segment and take live
bytes from tests/bruteforce.Model (the memory model written from
docs/format.md, independent of the core): a segment run after the nodes D
holds, after its nodes S, exactly Model.live(D | S) bytes.
"""

import math
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bruteforce as bf
import cases
import lowmem
from lowmem import _bounds, _mincut
from lowmem._core import CoreProblem
from lowmem._lower_bounds import lower_bound, node_step_memory, static_lower_bound
from lowmem._problem import buffer_tables, subproblem
from strategies import graphs, random_graph, valid_orders


# ----------------------------------------------------------- references
class Segment:
    """A segment T of graph g run after the downset D, with brute-force
    figures over T's downsets (T has at most ~9 nodes)."""

    def __init__(self, g, done_before, nodes):
        self.g, self.m = g, bf.Model(g)
        self.D = sum(1 << n for n in done_before)
        self.T = sorted(nodes)
        done = np.zeros(g.n_nodes, dtype=bool)
        done[list(done_before)] = True
        self.sub = subproblem(buffer_tables(g), np.array(self.T, dtype=np.int64), done,
                              self.m.live(self.D))
        self.prob = CoreProblem(self.sub)
        k = len(self.T)
        self.k = k
        # Local predecessor masks (predecessors inside T).
        pos = {n: i for i, n in enumerate(self.T)}
        self.pred = [sum(1 << pos[p] for p in range(g.n_nodes) if self.m.pred[n] >> p & 1
                         and p in pos) for n in self.T]
        self.downsets = [s for s in range(1 << k)
                         if all(self.pred[i] & ~s == 0 for i in range(k) if s >> i & 1)]

    def glob(self, s):
        return self.D | sum(1 << self.T[i] for i in range(self.k) if s >> i & 1)

    def live(self, s):
        return self.m.live(self.glob(s))

    def min_live(self, forced_in=(), forced_out=()):
        fin = sum(1 << i for i in set(forced_in))
        fout = sum(1 << i for i in set(forced_out))
        vals = [self.live(s) for s in self.downsets if s & fin == fin and s & fout == 0]
        return min(vals) if vals else None

    def ancestors(self, i):
        out, todo = 0, [i]
        while todo:
            u = todo.pop()
            for p in range(self.k):
                if self.pred[u] >> p & 1 and not out >> p & 1:
                    out |= 1 << p
                    todo.append(p)
        return out

    def node_bound(self, i):
        """min over downsets holding i's ancestors and not i, plus i's
        allocation and workspace."""
        anc = self.ancestors(i)
        n = self.T[i]
        vals = [self.live(s) for s in self.downsets if s & anc == anc and not s >> i & 1]
        return min(vals) + self.m.alloc[n] + self.m.workspace[n]

    def forced_live(self, i):
        """The forced-live figure of _bounds, from the model: bytes every
        downset before i holds (base; each buffer the segment touches, made
        before it or by an ancestor of i, and pinned or read by i, by a
        descendant of i or after the segment) plus i's own allocation and
        workspace."""
        n = self.T[i]
        anc = self.glob(self.ancestors(i))
        inside = set(self.T)
        desc_or_self = {self.T[j] for j in range(self.k)
                        if j == i or self.ancestors(j) >> i & 1}
        after = {u for u in range(self.g.n_nodes) if u not in inside and not self.D >> u & 1}
        total = self.sub.base
        for size, prod, readers, pinned in self.m.buffers:
            rs = {u for u in range(self.g.n_nodes) if readers >> u & 1}
            if (prod in inside or rs & inside) and anc >> prod & 1 and \
                    (pinned or rs & (desc_or_self | after)):
                total += size
        return total + self.m.alloc[n] + self.m.workspace[n]

    def min_peak(self):
        """The segment's optimal peak: DP over its downsets."""
        full = (1 << self.k) - 1
        memo = {full: 0}

        def best(s):
            if s in memo:
                return memo[s]
            live = self.live(s)
            val = min(max(live + self.m.alloc[self.T[i]] + self.m.workspace[self.T[i]],
                          best(s | 1 << i))
                      for i in range(self.k) if not s >> i & 1 and self.pred[i] & ~s == 0)
            memo[s] = val
            return val

        return best(0)


@st.composite
def segments(draw, max_nodes=8):
    """(graph, done_before, segment nodes): cut points in a random order."""
    g = draw(graphs(max_nodes=max_nodes))
    order = draw(valid_orders(g))
    i = draw(st.integers(0, len(order)))
    j = draw(st.integers(i, len(order)))
    if draw(st.booleans()):
        i, j = 0, len(order)        # often the whole graph
    return g, order[:i], order[i:j]


SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------ the tests
@SETTINGS
@given(segments(), st.data())
def test_min_live_downset_equals_brute_force(seg, data):
    g, before, nodes = seg
    s = Segment(g, before, nodes)
    k = s.k
    fin = data.draw(st.lists(st.integers(0, max(k - 1, 0)), max_size=2)) if k else []
    fout = data.draw(st.lists(st.integers(0, max(k - 1, 0)), max_size=2)) if k else []
    want = s.min_live(fin, fout)
    if want is None:
        with pytest.raises(ValueError, match="no downset"):
            _mincut.min_live_downset(s.prob, fin, fout)
        return
    got, side = _mincut.min_live_downset(s.prob, fin, fout)
    assert got == want
    # The set returned is a feasible downset achieving the value.
    mask = sum(1 << i for i in range(k) if side[i])
    assert mask in s.downsets
    assert all(mask >> i & 1 for i in fin) and not any(mask >> i & 1 for i in fout)
    assert s.live(mask) == got


@SETTINGS
@given(segments())
def test_node_bounds_equal_brute_force_and_dominate_forced_live(seg):
    g, before, nodes = seg
    s = Segment(g, before, nodes)
    net = _mincut.MinCutNetwork(s.prob)
    forced = []
    for i in range(s.k):
        want = s.node_bound(i)
        best, node, computed = _mincut.mincut_bounds(s.prob, [i], 2**62, math.inf)
        assert (best, node, computed) == (want, i, 1)
        # The same figure from a reused network.
        live, _ = net.min_live(list(np.flatnonzero(
            [s.ancestors(i) >> j & 1 for j in range(s.k)])), [i])
        assert live + s.m.alloc[s.T[i]] + s.m.workspace[s.T[i]] == want
        forced.append(s.forced_live(i))
        assert want >= forced[-1] >= s.prob.working_set[i]
    if s.k:
        # The forced-live reference is _bounds' figure.
        assert max(forced) == _bounds.reachability_bounds(s.prob)[0]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segments(max_nodes=8))
def test_bound_never_above_the_optimum(seg):
    g, before, nodes = seg
    s = Segment(g, before, nodes)
    if not s.k:
        return
    best, node, computed = _mincut.mincut_bounds(s.prob, np.arange(s.k), 2**62, math.inf)
    assert computed == s.k
    assert best == max(s.node_bound(i) for i in range(s.k))
    assert best == s.node_bound(node)
    opt = s.min_peak()
    assert best <= opt
    if len(before) == 0 and len(nodes) == g.n_nodes:
        assert opt == bf.min_peak(g)        # the DP above is the whole-graph optimum


@SETTINGS
@given(segments(), st.data())
def test_target_and_upper_bounds_stop_early_without_losing_proof(seg, data):
    g, before, nodes = seg
    s = Segment(g, before, nodes)
    if not s.k:
        assert _mincut.mincut_bounds(s.prob, [], 0, math.inf) == (0, -1, 0)
        return
    bounds = [s.node_bound(i) for i in range(s.k)]
    cand = data.draw(st.permutations(range(s.k)))
    target = data.draw(st.sampled_from(sorted(set(bounds)) + [0, 2**62]))
    best, node, computed = _mincut.mincut_bounds(s.prob, cand, target, math.inf)
    prefix = cand[:computed]
    assert best == max(bounds[i] for i in prefix) == bounds[node]
    if computed < s.k:
        assert best >= target          # stopped only because proven
    else:
        assert best >= target or best == max(bounds)
    # Upper bounds (each node's step memory in some order) prune nothing
    # that could raise the best.
    order = data.draw(valid_orders(g))
    local = [s.T.index(n) for n in order if n in s.T]
    steps = node_step_memory(s.prob, local)
    if not before and len(nodes) == g.n_nodes:
        timeline = s.m.timeline(order)
        assert steps.tolist() == [timeline[order.index(n)] for n in s.T]
    assert all(steps[i] >= bounds[i] for i in range(s.k))
    by_step = np.argsort(-steps, kind="stable")
    best2, node2, _ = _mincut.mincut_bounds(s.prob, by_step, 2**62, math.inf,
                                            upper_bounds=steps)
    assert best2 == max(bounds) and bounds[node2] == best2


@SETTINGS
@given(segments(), st.data())
def test_lower_bound_is_the_best_of_all_bounds(seg, data):
    g, before, nodes = seg
    s = Segment(g, before, nodes)
    static = static_lower_bound(s.prob)
    bound, source = lower_bound(s.prob, math.inf)
    if not s.k:
        assert (bound, static) == (0, 0)
        return
    cut = max(s.node_bound(i) for i in range(s.k))
    assert bound == max(static, cut) <= s.min_peak()
    forced, last = _bounds.reachability_bounds(s.prob)
    figure = {"working_set": int(s.prob.working_set.max()), "pinned": s.prob.pinned_bytes,
              "forced_live": forced, "last_of_set": last, "min_cut": cut}
    assert figure[source] == bound
    # With the step memory of an order and its peak as the target.
    order = data.draw(valid_orders(g))
    local = [s.T.index(n) for n in order if n in s.T]
    steps = node_step_memory(s.prob, local)
    peak = int(steps.max())
    b2, src2 = lower_bound(s.prob, math.inf, step_memory=steps, upper=peak)
    assert b2 <= s.min_peak() and figure[src2] == b2 >= static
    if max(static, cut) >= peak:
        assert b2 >= peak                # proven
    else:
        assert b2 == max(static, cut)
    b3, _ = lower_bound(s.prob, math.inf, step_memory=steps)
    assert b3 == max(static, cut)


# ------------------------------------------------------- named cases
def whole(g):
    return Segment(g, [], range(g.n_nodes))


def test_multi_reader_buffer_beats_forced_live():
    """A makes a (10 B), read by B1 and B2, which make pinned b1, b2 (8 B
    each); v (1 B, output) runs after A (orderings) and is independent of
    B1, B2. Before v: {A} holds 10, {A,B1} or {A,B2} 18, {A,B1,B2} 16:
    bound(v) = 10 + 1. Nothing is forced live at v (a's readers are not
    v's descendants): forced-live gives v only its own 1 byte."""
    variables = [{"size": 3, "name": "x"}, {"size": 10, "name": "a"}, {"size": 8, "name": "b1"},
                 {"size": 8, "name": "b2"}, {"size": 1, "name": "v"}]
    nodes = [{"name": "A", "inputs": [0], "outputs": [1]},
             {"name": "B1", "inputs": [1], "outputs": [2]},
             {"name": "B2", "inputs": [1], "outputs": [3]},
             {"name": "v", "inputs": [0], "outputs": [4]}]
    g = lowmem.Graph(variables, nodes, outputs=[2, 3, 4], orderings=[[0, 3]])
    s = whole(g)
    assert _mincut.mincut_bounds(s.prob, [3], 2**62, math.inf) == (11, 3, 1)
    assert s.forced_live(3) == 1
    assert _mincut.min_live_downset(s.prob, [0], [3])[0] == 10


def test_view_keeps_buffer_alive():
    """cases.view_keeps_buffer_alive: f makes a (100 B); view aliases it; g
    reads the view (so a is read by view and g); h makes y (1000 B). Before
    h nothing is needed; the best downset is {} or {f, view, g} (w = 10 B
    pinned): min live 0, bound(h) = 1000. Before g: f and view have run,
    a is live: bound(g) = 100 + 10."""
    g = cases.view_keeps_buffer_alive()
    s = whole(g)
    assert _mincut.mincut_bounds(s.prob, [3], 2**62, math.inf)[0] == 1000
    assert _mincut.mincut_bounds(s.prob, [2], 2**62, math.inf)[0] == 110
    assert lower_bound(s.prob, math.inf)[0] == 1010 == bf.min_peak(g)


def test_workspace_and_pinned_outputs():
    """n0 makes p (5 B, output), n1 independent with 50 B workspace and a
    2 B output read by n2. Before n1 the least live is 0 (n0 not yet run):
    bound(n1) = 2 + 50; before n2, n1 has run (its 2 B live) and n0 may
    wait: bound(n2) = 2 + n2's own 4 B."""
    variables = [{"size": 5, "name": "p"}, {"size": 2, "name": "q"}, {"size": 4, "name": "r"}]
    nodes = [{"name": "n0", "outputs": [0]},
             {"name": "n1", "outputs": [1], "workspace": 50},
             {"name": "n2", "inputs": [1], "outputs": [2]}]
    g = lowmem.Graph(variables, nodes, outputs=[0, 2])
    s = whole(g)
    got = [_mincut.mincut_bounds(s.prob, [i], 2**62, math.inf)[0] for i in range(3)]
    assert got == [5, 52, 6] == [s.node_bound(i) for i in range(3)]


def test_buffers_made_before_the_segment():
    """A segment after its producer: a (10 B) made before, read by two
    segment nodes B and C; B makes b (7 B, output). Before C (independent
    of B) the choice is a alone (10) or, after B, a and b (17): 10 + C's
    1 B. Before B: a is live (10): 10 + 7."""
    variables = [{"size": 10, "name": "a"}, {"size": 7, "name": "b"}, {"size": 1, "name": "c"},
                 {"size": 3, "name": "z"}]
    nodes = [{"name": "A", "outputs": [0]},
             {"name": "B", "inputs": [0], "outputs": [1]},
             {"name": "C", "inputs": [0], "outputs": [2]},
             {"name": "Z", "outputs": [3]}]
    g = lowmem.Graph(variables, nodes, outputs=[1, 2, 3])
    s = Segment(g, [0, 3], [1, 2])
    assert s.sub.live0 == 13 and s.sub.base == 3
    got = [_mincut.mincut_bounds(s.prob, [i], 2**62, math.inf)[0] for i in range(2)]
    assert got == [3 + 10 + 7, 3 + 10 + 1] == [s.node_bound(i) for i in range(2)]


def test_arguments_are_checked():
    g = random_graph(random.Random(3), n_nodes=12)
    s = whole(g)
    with pytest.raises(ValueError, match="candidates"):
        _mincut.mincut_bounds(s.prob, [12], 0, 1.0)
    with pytest.raises(ValueError, match="forced_in"):
        _mincut.min_live_downset(s.prob, [-1], [])
    with pytest.raises(ValueError, match="forced_out: node ids must be integers"):
        _mincut.min_live_downset(s.prob, [], [1.5])
    with pytest.raises(ValueError, match="step_memory"):
        lower_bound(s.prob, 1.0, step_memory=np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="upper_bounds"):
        _mincut.mincut_bounds(s.prob, [0], 0, 1.0, upper_bounds=[1, 2])
    with pytest.raises(MemoryError):
        _mincut.MinCutNetwork(s.prob, 100)
    with pytest.raises(ValueError):
        node_step_memory(s.prob, [1] * 12)
    # No time: nothing computed, nothing claimed.
    assert _mincut.mincut_bounds(s.prob, range(12), 2**62, 0.0) == (0, -1, 0)


def test_larger_random_graphs_bound_below_best_known_order():
    """On 60-node graphs (too large for brute force) the bound stays at or
    below the scheduler's peak and at or above the static bound; each
    node's bound is at most its step in that order."""
    for seed in range(5):
        g = random_graph(random.Random(seed), n_nodes=60)
        sched = lowmem.schedule(g, time_limit=0.5, decompose=False)
        s_prob = CoreProblem(subproblem(buffer_tables(g), np.arange(g.n_nodes),
                                        np.zeros(g.n_nodes, dtype=bool), 0))
        steps = node_step_memory(s_prob, sched.order)
        net = _mincut.MinCutNetwork(s_prob)
        assert net.max_vertices >= g.n_nodes + 2
        sub = s_prob.sub
        for v in range(g.n_nodes):
            b = _mincut.mincut_bounds(s_prob, [v], 2**62, math.inf)[0]
            assert s_prob.working_set[v] <= b <= steps[v]
            # One network reused for every query gives the same figure.
            preds = net.pred_idx[net.pred_ptr[v]:net.pred_ptr[v + 1]]
            live, side = net.min_live(preds, [v])
            assert live + sub.alloc[v] + sub.ws[v] == b
            assert live == core_live_array(sub, side)
        bound, _ = lower_bound(s_prob, math.inf)
        assert static_lower_bound(s_prob) <= bound <= sched.peak


def core_live(sub, mask):
    """Live bytes after the nodes in `mask` run, by _core.run_node's rule
    (net_change), written out: base; a buffer made before the segment is
    live unless it has readers, all run, and is not pinned; one made by p
    is live when p ran and it is pinned or some reader has not run."""
    total = sub.base
    k = len(sub.nodes)
    producer = {}
    for n in range(k):
        for b in sub.make_idx[sub.make_ptr[n]:sub.make_ptr[n + 1]]:
            producer[int(b)] = n
    readers = {b: [] for b in range(len(sub.buf_size))}
    for n in range(k):
        for b in sub.use_idx[sub.use_ptr[n]:sub.use_ptr[n + 1]]:
            readers[int(b)].append(n)
    for b, size in enumerate(sub.buf_size.tolist()):
        pending = [r for r in readers[b] if not mask >> r & 1]
        p = producer.get(b)
        if p is None:
            live = sub.buf_pinned[b] or not readers[b] or pending
        else:
            live = mask >> p & 1 and (sub.buf_pinned[b] or pending)
        total += size if live else 0
    return total


def core_live_array(sub, side):
    return core_live(sub, sum(1 << int(i) for i in np.flatnonzero(side)))


def test_readers_not_below_their_producer():
    """A hand-made segment whose readers are not successors of the
    producer (no Graph gives one; CoreProblem accepts it): the producer
    then stays in the product (U_b = readers + producer), and the minimum
    still matches the core's rule on every subset (all are downsets, there
    being no edges). Node 0 makes b0 (10 B) read by 1 and 2, and b1
    (6 B) read by 1 only; b2 (4 B) was made before, read by 2; node 3
    makes a pinned 5 B b3."""
    from lowmem._problem import Subproblem
    i64 = lambda xs: np.array(xs, dtype=np.int64)
    sub = Subproblem(nodes=i64([0, 1, 2, 3]), pred_count=i64([0, 0, 0, 0]),
                     succ_ptr=i64([0, 0, 0, 0, 0]), succ_idx=i64([]),
                     alloc=i64([16, 0, 0, 5]), ws=i64([0, 0, 3, 0]),
                     make_ptr=i64([0, 2, 2, 2, 3]), make_idx=i64([0, 1, 3]),
                     use_ptr=i64([0, 0, 2, 4, 4]), use_idx=i64([0, 1, 0, 2]),
                     buf_size=i64([10, 6, 4, 5]), buf_pending=i64([2, 1, 1, 0]),
                     buf_pinned=np.array([0, 0, 0, 1], dtype=np.uint8), live0=11, base=7)
    prob = CoreProblem(sub)
    net = _mincut.MinCutNetwork(prob)
    assert net.n_aux == 2                     # b0: {0, 1, 2}; b1: {0, 1}
    for fin in range(16):
        for fout in range(16):
            if fin & fout:
                continue
            want = min(core_live(sub, s) for s in range(16) if s & fin == fin and not s & fout)
            got, side = net.min_live([i for i in range(4) if fin >> i & 1],
                                     [i for i in range(4) if fout >> i & 1])
            mask = sum(1 << i for i in range(4) if side[i])
            assert got == want == core_live(sub, mask)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segments())
def test_core_live_rule_is_the_model(seg):
    """The rule core_live spells out is the reference model's on segments."""
    g, before, nodes = seg
    s = Segment(g, before, nodes)
    for mask in s.downsets:
        assert core_live(s.sub, mask) == s.live(mask)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segments(max_nodes=8), st.data())
def test_pair_bound_is_between_the_node_bounds_and_the_optimum(seg, data):
    """pair_bound over every pair (max_nodes = k, a zero floor, any order's
    steps) is at least each node's own min-cut figure, and never above the
    segment's optimum (brute force over every order)."""
    from lowmem._lower_bounds import pair_bound
    g, before, nodes = seg
    s = Segment(g, before, nodes)
    if s.k < 2:
        return
    steps = node_step_memory(s.prob, np.arange(s.k))     # the listed order is valid
    # A floor of 0 and a huge step for every node: every pair is tried.
    everything = np.full(s.k, 2**61, dtype=np.int64)
    pairs = pair_bound(s.prob, everything, 0, max_nodes=s.k)
    singles = max(s.node_bound(i) for i in range(s.k))
    assert singles <= pairs <= s.min_peak() <= steps.max()
    floor = data.draw(st.sampled_from([0, singles]))
    assert pair_bound(s.prob, steps, floor, max_nodes=s.k) <= s.min_peak()


def test_pair_bound_beats_the_node_bounds_where_two_steps_exclude_each_other():
    """Two independent chains a1 -> b1, a2 -> b2 (a's outputs 100 bytes, b's
    1 byte, kept as outputs). Alone, each b steps at 100 + 1 = 101 (the
    node bounds' best); but whichever b runs second does so with the other
    b's byte live: every order peaks at 102, and the pair (b1, b2) proves
    it."""
    from lowmem._lower_bounds import pair_bound
    variables = [{"size": 100}, {"size": 100}, {"size": 1}, {"size": 1}]
    nodes = [{"inputs": [], "outputs": [0]}, {"inputs": [0], "outputs": [2]},
             {"inputs": [], "outputs": [1]}, {"inputs": [1], "outputs": [3]}]
    g = lowmem.Graph(variables, nodes, outputs=[2, 3])
    n = g.n_nodes
    prob = CoreProblem(subproblem(buffer_tables(g), np.arange(n), np.zeros(n, dtype=bool), 0))
    singles = _mincut.mincut_bounds(prob, np.arange(n), 2**62, math.inf)[0]
    opt = bf.min_peak(g)
    pairs = pair_bound(prob, np.full(n, 2**61, dtype=np.int64), 0, max_nodes=n)
    assert singles == 101 < pairs == opt == 102
