"""The Cython core's boundary checks, the decomposition and the bounds."""

import dataclasses
import random

import numpy as np
import pytest
from hypothesis import given, settings

import bruteforce as bf
import lowmem
from lowmem import _bounds, _heuristics, _search
from lowmem._core import CoreProblem
from lowmem._lower_bounds import static_lower_bound
from lowmem._decompose import cut_positions, segments
from lowmem._orders import dfs_postorder
from lowmem._problem import buffer_tables, subproblem
from strategies import graphs, random_graph


def whole_sub(graph):
    n = graph.n_nodes
    return subproblem(buffer_tables(graph), np.arange(n), np.zeros(n, dtype=bool), 0)


def whole(graph):
    return CoreProblem(whole_sub(graph))


def sample_sub():
    return whole_sub(random_graph(random.Random(3), n_nodes=20))


CORRUPTIONS = {
    "succ index out of range": lambda s: dataclasses.replace(
        s, succ_idx=np.where(np.arange(len(s.succ_idx)) == 0, s.k + 5, s.succ_idx)),
    "negative use index": lambda s: dataclasses.replace(
        s, use_idx=np.where(np.arange(len(s.use_idx)) == 0, -1, s.use_idx)),
    "make index out of range": lambda s: dataclasses.replace(
        s, make_idx=np.where(np.arange(len(s.make_idx)) == 0, len(s.buf_size), s.make_idx)),
    "pointer past the end": lambda s: dataclasses.replace(
        s, use_ptr=np.append(s.use_ptr[:-1], s.use_ptr[-1] + 3)),
    "pointer decreasing": lambda s: dataclasses.replace(
        s, succ_ptr=np.concatenate([[0], s.succ_ptr[2:-1], s.succ_ptr[1:2], s.succ_ptr[-1:]])),
    "short alloc": lambda s: dataclasses.replace(s, alloc=s.alloc[:-1]),
    "pred counts inconsistent": lambda s: dataclasses.replace(s, pred_count=s.pred_count + 1),
    "pending inconsistent": lambda s: dataclasses.replace(s, buf_pending=s.buf_pending + 1),
    "negative size": lambda s: dataclasses.replace(s, buf_size=s.buf_size - 10**9),
    "huge size": lambda s: _rows_edited(dataclasses.replace(s, buf_size=s.buf_size + 2**61),
                                        "make", lambda rows: rows),
    "pinned flags short": lambda s: dataclasses.replace(s, buf_pinned=s.buf_pinned[:-1]),
    "alloc not the bytes made": lambda s: dataclasses.replace(s, alloc=s.alloc + 1),
    "live0 not base plus earlier buffers": lambda s: dataclasses.replace(s, live0=s.live0 + 5),
    "base above live0": lambda s: dataclasses.replace(s, base=s.live0 + 1),
    "live0 huge": lambda s: dataclasses.replace(s, live0=2**62, base=2**62),
    "workspace huge": lambda s: dataclasses.replace(s, ws=s.ws + 2**62 - 1),
    "a buffer made twice": lambda s: _rows_edited(s, "make", lambda rows: (
        rows[:1] + [rows[1] + rows[0]] + rows[2:])),
    "a successor listed twice": lambda s: _successor_repeated(s),
    "a node reads what it makes": lambda s: _rows_edited(s, "use", lambda rows: (
        [rows[0] + [int(b) for b in s.make_idx[s.make_ptr[0]:s.make_ptr[1]]]] + rows[1:])),
}


def _rows_edited(sub, table, edit):
    """`sub` with the CSR rows of its make or use table rewritten by `edit`
    (a list of per-node lists), keeping the other fields consistent with it
    so that only the edited property is wrong."""
    ptr, idx = getattr(sub, table + "_ptr"), getattr(sub, table + "_idx")
    rows = edit([idx[ptr[i]:ptr[i + 1]].tolist() for i in range(sub.k)])
    new_ptr = np.cumsum([0] + [len(r) for r in rows])
    new_idx = np.array([b for r in rows for b in r], dtype=np.int64)
    fields = {table + "_ptr": new_ptr, table + "_idx": new_idx}
    if table == "use":
        fields["buf_pending"] = np.bincount(new_idx, minlength=len(sub.buf_size))
    else:
        fields["alloc"] = np.array([int(sub.buf_size[r].sum()) for r in rows], dtype=np.int64)
    return dataclasses.replace(sub, **fields)


def _successor_repeated(sub):
    """`sub` with one node's first successor listed twice, pred_count kept
    consistent, so that only the repeat is wrong (it would make the greedy
    heuristics push that successor twice)."""
    i = int(np.flatnonzero(np.diff(sub.succ_ptr) > 0)[0])
    rows = [sub.succ_idx[sub.succ_ptr[n]:sub.succ_ptr[n + 1]].tolist() for n in range(sub.k)]
    rows[i].append(rows[i][0])
    pred_count = sub.pred_count.copy()
    pred_count[rows[i][0]] += 1
    return dataclasses.replace(sub, succ_ptr=np.cumsum([0] + [len(r) for r in rows]),
                               succ_idx=np.array([b for r in rows for b in r], dtype=np.int64),
                               pred_count=pred_count)


def test_successor_repeat_is_the_only_fault():
    # Without the repeat check the corrupted problem would pass every other one.
    bad = _successor_repeated(sample_sub())
    assert np.array_equal(np.bincount(bad.succ_idx, minlength=bad.k), bad.pred_count)
    with pytest.raises(ValueError, match="successor twice"):
        CoreProblem(bad)


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_core_rejects_corrupt_subproblems(name):
    bad = CORRUPTIONS[name](sample_sub())
    with pytest.raises(ValueError, match="subproblem"):
        CoreProblem(bad)


def test_core_takes_only_checked_problems():
    # The core's entry points index without checks: they must refuse
    # anything but a CoreProblem (which checked its subproblem once).
    sub = sample_sub()
    order = np.arange(sub.k)
    calls = [lambda x: _heuristics.evaluate(x, order),
             lambda x: _heuristics.greedy(x, _heuristics.FREED_MINUS_ALLOCATED),
             lambda x: _search.search(x, order, 10**12),
             lambda x: _bounds.reachability_bounds(x)]
    for call in calls:
        for x in (sub, None):
            with pytest.raises(TypeError):
                call(x)
    prob = CoreProblem(sub)
    peak = _heuristics.evaluate(prob, order)
    assert _search.search(prob, order, peak)["peak"] <= peak


def test_core_rejects_bad_orders_and_arguments():
    sub = CoreProblem(sample_sub())
    n = sub.k
    for order in ([0] * n, list(range(n - 1)), list(range(n)) + [0], [n] + list(range(1, n))):
        with pytest.raises(ValueError):
            _heuristics.evaluate(sub, order)
        with pytest.raises(ValueError):
            _search.search(sub, order, 10**12)
    peak = _heuristics.evaluate(sub, np.arange(n))
    with pytest.raises(ValueError, match="memory_limit"):
        _search.search(sub, np.arange(n), peak, memory_limit=1000)
    with pytest.raises(ValueError, match="incumbent_peak"):
        _search.search(sub, np.arange(n), peak + 1)
    with pytest.raises(ValueError, match="rule"):
        _heuristics.greedy(sub, 7)


def test_core_rejects_cycles():
    sub = whole_sub(lowmem.Graph([1, 1], [{"outputs": [0]}, {"inputs": [0], "outputs": [1]}],
                                 [1]))
    cyclic = CoreProblem(dataclasses.replace(sub, succ_ptr=np.array([0, 1, 2]),
                                             succ_idx=np.array([1, 0]),
                                             pred_count=np.array([1, 1])))
    with pytest.raises(ValueError, match="cycle"):
        _heuristics.greedy(cyclic, _heuristics.LEAST_MEMORY)
    with pytest.raises(ValueError, match="topological"):
        _bounds.reachability_bounds(cyclic)


@settings(max_examples=200, deadline=None)
@given(graphs(max_nodes=10))
def test_greedy_heuristics_match_their_rule(g):
    # The heap-based heuristics pick exactly what scanning every ready node
    # with the rule and its tie-breaks picks (bruteforce.greedy_order).
    prob = whole(g)
    for rule, name in ((_heuristics.FREED_MINUS_ALLOCATED, "greedy"),
                       (_heuristics.LEAST_MEMORY, "lpmf")):
        order, peak = _heuristics.greedy(prob, rule)
        assert (order.tolist(), peak) == bf.greedy_order(g, name)
        assert peak == lowmem.peak(g, order)


@pytest.mark.parametrize("seed", range(12))
def test_greedy_heuristics_match_their_rule_on_larger_graphs(seed):
    # Many ready nodes at once, and ties (few distinct sizes).
    rng = random.Random(seed)
    g = random_graph(rng, n_nodes=rng.randint(20, 60), n_orderings=seed % 4)
    prob = whole(g)
    for rule, name in ((_heuristics.FREED_MINUS_ALLOCATED, "greedy"),
                       (_heuristics.LEAST_MEMORY, "lpmf")):
        assert _heuristics.greedy(prob, rule)[0].tolist() == bf.greedy_order(g, name)[0]


def wide_graph(n):
    """n nodes, each reading variable 0 and making its own output: n ready
    nodes at every step."""
    return lowmem.Graph([8] * (n + 1), [{"inputs": [0], "outputs": [i + 1]} for i in range(n)])


def view_chain(n):
    """A node making a buffer, then n - 1 nodes each a view of its input."""
    nodes = [{"inputs": [0], "outputs": [1]}] + [
        {"inputs": [i], "outputs": [i + 1], "aliases": {"0": {"input": 0, "kind": "view"}}}
        for i in range(1, n)]
    return lowmem.Graph([10] * (n + 1), nodes, outputs=[n])


def best_seconds(fn, *args, repeat=3):
    import time
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t)
    return best


def test_greedy_heuristics_scale_on_wide_graphs():
    # Scanning all ready nodes at each step was quadratic (2.3 s for 20,000
    # nodes, 43.9 s for 100,000): 16 times the nodes must cost about 16
    # times (times log) the time, far from 256.
    small, large = whole(wide_graph(2500)), whole(wide_graph(40000))

    def both(prob):
        for rule in (_heuristics.FREED_MINUS_ALLOCATED, _heuristics.LEAST_MEMORY):
            order, peak = _heuristics.greedy(prob, rule)
        return order

    assert both(large).tolist() == list(range(40000))     # all ties: listed order
    ratio = best_seconds(both, large) / best_seconds(both, small)
    assert ratio < 64, ratio


def test_alias_resolution_scales_on_view_chains():
    # Following one alias link per round was quadratic on a chain of views
    # (1.9 s for 20,000 nodes, 36.6 s for 100,000).
    small, large = view_chain(2500), view_chain(40000)
    tables = buffer_tables(large)
    assert tables.var_buffer.tolist() == [-1] + [0] * 40000
    assert tables.buf_owner.tolist() == [1] and tables.buf_pinned.tolist() == [True]
    ratio = best_seconds(buffer_tables, large) / best_seconds(buffer_tables, small)
    assert ratio < 64, ratio


@settings(max_examples=200, deadline=None)
@given(graphs(max_nodes=10))
def test_alias_roots_match_the_definition(g):
    from lowmem._problem import alias_roots
    expected = []
    for v in range(g.n_vars):
        while g.var_alias_of[v] >= 0:
            v = int(g.var_alias_of[v])
        expected.append(v)
    assert alias_roots(g).tolist() == expected


def comparable_to_all(graph):
    """Nodes every other node reaches or is reached from (transitive closure)."""
    n = graph.n_nodes
    reach = np.eye(n, dtype=bool)
    ptr, idx = graph.predecessors()
    for v in range(n):
        for p in idx[ptr[v]:ptr[v + 1]]:
            reach[v] |= reach[p]                 # reach[v, u]: u is an ancestor of v
    both = reach | reach.T
    return [v for v in range(n) if both[v].all()]


@settings(max_examples=200, deadline=None)
@given(graphs(max_nodes=9))
def test_cut_positions_match_the_definition(g):
    pred = g.predecessors()
    succ = g.successors()
    assert cut_positions(*pred, *succ).tolist() == comparable_to_all(g)
    parts = segments(g)
    assert (np.concatenate(parts).tolist() if parts else []) == list(range(g.n_nodes))


@settings(max_examples=200, deadline=None)
@given(graphs(max_nodes=8))
def test_static_bound_never_above_the_optimum(g):
    assert static_lower_bound(whole(g)) <= bf.min_peak(g)


@settings(max_examples=100, deadline=None)
@given(graphs(max_nodes=8))
def test_segment_bounds_never_above_the_optimum(g):
    # Each segment's bound is a bound for the whole graph too.
    tables = buffer_tables(g)
    done = np.zeros(g.n_nodes, dtype=bool)
    live = 0
    best = bf.min_peak(g)
    for nodes in segments(g):
        sub = subproblem(tables, nodes, done, live)
        prob = CoreProblem(sub)
        assert static_lower_bound(prob) <= best
        done[nodes] = True
        live = prob.pinned_bytes
        assert live == sub.base + int(sub.buf_size[sub.buf_pinned.astype(bool)].sum())


def test_small_memory_limit_still_gives_a_valid_order():
    g = random_graph(random.Random(11), n_nodes=40)
    s = lowmem.schedule(g, time_limit=0.5, memory_limit=2**20)
    assert lowmem.peak(g, s.order) == s.peak <= s.default_peak


@settings(max_examples=200, deadline=None)
@given(graphs(max_nodes=12))
def test_dfs_postorder_matches_its_definition(g):
    assert dfs_postorder(g).tolist() == bf.dfs_postorder(g)


@pytest.mark.parametrize("seed", range(20))
def test_dfs_postorder_matches_its_definition_with_orderings(seed):
    rng = random.Random(seed)
    g = random_graph(rng, n_nodes=rng.randint(2, 80), n_orderings=seed % 6)
    order = dfs_postorder(g)
    assert order.dtype == np.int64
    assert order.tolist() == bf.dfs_postorder(g)


def reference_figures(sub):
    """Working sets and the pinned split, from their definitions."""
    ws, nonpinned, pinned_alloc = [], [], []
    pinned = sub.buf_pinned.astype(bool)
    for i in range(sub.k):
        used = sub.use_idx[sub.use_ptr[i]:sub.use_ptr[i + 1]]
        made = sub.make_idx[sub.make_ptr[i]:sub.make_ptr[i + 1]]
        own = int(sub.alloc[i] + sub.ws[i])
        ws.append(sub.base + int(sub.buf_size[used].sum()) + own)
        nonpinned.append(int(sub.buf_size[used][~pinned[used]].sum()) + own)
        pinned_alloc.append(int(sub.buf_size[made][pinned[made]].sum()))
    made_inside = np.zeros(len(sub.buf_size), dtype=bool)
    made_inside[sub.make_idx] = True
    pinned_live0 = sub.base + int(sub.buf_size[pinned & ~made_inside].sum())
    pinned_bytes = sub.base + int(sub.buf_size[pinned].sum())
    return ws, nonpinned, pinned_alloc, pinned_live0, pinned_bytes


@pytest.mark.parametrize("seed", range(8))
def test_core_problem_figures_match_their_definitions(seed):
    g = random_graph(random.Random(seed), n_nodes=50)
    tables = buffer_tables(g)
    done, live = np.zeros(g.n_nodes, dtype=bool), 0
    for nodes in [np.arange(0, 20), np.arange(20, 50)]:       # a later segment has live0 > 0
        sub = subproblem(tables, nodes, done, live)
        prob = CoreProblem(sub)
        ws, nonpinned, pinned_alloc, pinned_live0, pinned_bytes = reference_figures(sub)
        assert prob.working_set.tolist() == ws
        assert prob.nonpinned_working_set.tolist() == nonpinned
        assert prob.pinned_alloc.tolist() == pinned_alloc
        assert (prob.pinned_live0, prob.pinned_bytes) == (pinned_live0, pinned_bytes)
        assert not prob.working_set.flags.writeable
        done[nodes] = True
        live = prob.pinned_bytes


def test_evaluate_orders_is_evaluate_per_row():
    prob = CoreProblem(sample_sub())
    rng = np.random.default_rng(0)
    rows = [np.arange(prob.k)]
    rows += [_heuristics.greedy(prob, rule)[0] for rule in (_heuristics.FREED_MINUS_ALLOCATED,
                                                               _heuristics.LEAST_MEMORY)]
    peaks = _heuristics.evaluate_orders(prob, np.array(rows))
    assert peaks.tolist() == [_heuristics.evaluate(prob, r) for r in rows]
    bad = np.array(rows + [rng.permutation(prob.k)[::-1] * 0])
    with pytest.raises(ValueError, match="order 3"):
        _heuristics.evaluate_orders(prob, bad)
    with pytest.raises(ValueError, match="orders must be"):
        _heuristics.evaluate_orders(prob, np.arange(prob.k))
