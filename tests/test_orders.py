"""The structural first orders (lowmem/_orders.py) and greedy's tie ranks.

Each order is checked against a recursive pure-Python reference written from
its definition, on random graphs, and on hand-made graphs against the exact
sequence its rule gives; ``dfs_reversed`` also against what Theano's Stack
VM really runs.
"""

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bruteforce as bf
import lowmem
from lowmem import _heuristics
from lowmem._core import CoreProblem
from lowmem._orders import ORDER_NAMES, dfs_postorder, structural_orders
from lowmem._problem import buffer_tables, subproblem
from lowmem._scheduler import core_peak
from strategies import graphs, random_graph

CAP = 2**62


# ---------------------------------------------------------------- references

def _orderings_preds(graph, n):
    return sorted({int(a) for a, b in graph.orderings if b == n})


def _input_producers(graph, n):
    return [int(graph.var_producer[v]) for v in graph.node_inputs(n)
            if graph.var_producer[v] >= 0]


def _output_producers(graph):
    return [int(graph.var_producer[v]) for v in graph.outputs if graph.var_producer[v] >= 0]


def _postorder(graph, deps_of, roots):
    """Recursive post-order: from each root, then every node in listed order."""
    order, seen = [], set()

    def visit(n):
        if n in seen:
            return
        seen.add(n)
        for d in deps_of(n):
            visit(d)
        order.append(n)

    for r in list(roots) + list(range(graph.n_nodes)):
        visit(r)
    return order


def ref_dfs(graph, reverse, orderings_after):
    """The four DFS variants from their definition."""
    def deps_of(n):
        ords, ins = _orderings_preds(graph, n), _input_producers(graph, n)
        if reverse:
            ords, ins = ords[::-1], ins[::-1]
        return ins + ords if orderings_after else ords + ins

    outs = _output_producers(graph)
    return _postorder(graph, deps_of, outs[::-1] if reverse else outs)


def ref_xla_stats(graph, sizes):
    """XLA's (extra_users, total_sizes) with Python ints: caps at the end of
    each node, cumulative size in listed order, plus the 2**62 saturation."""
    n = graph.n_nodes
    ops = [sorted(set(_input_producers(graph, v))) for v in range(n)]
    users = [0] * n
    for v in range(n):
        for p in ops[v]:
            users[p] += 1
    extra, total, cumulative = [0] * n, [0] * n, 0
    for v in range(n):
        cumulative += int(sizes[v])
        extra[v] = min(max(users[v] - 1, 0) + sum(extra[p] for p in ops[v]), n)
        total[v] = min(int(sizes[v]) + sum(total[p] for p in ops[v]), cumulative, CAP)
    return extra, total


def ref_xla_dfs(graph):
    extra, total = ref_xla_stats(graph, buffer_tables(graph).node_alloc)

    def key(d):
        return (-extra[d], -total[d], d)

    def deps_of(n):
        return sorted(set(_input_producers(graph, n)) | set(_orderings_preds(graph, n)), key=key)

    return _postorder(graph, deps_of, sorted(set(_output_producers(graph)), key=key))


def reference_orders(graph):
    return {"dfs": ref_dfs(graph, False, False), "dfs_reversed": ref_dfs(graph, True, False),
            "dfs_orderings_after": ref_dfs(graph, False, True),
            "dfs_reversed_orderings_after": ref_dfs(graph, True, True),
            "xla_dfs": ref_xla_dfs(graph)}


def assert_valid(graph, order):
    """`order` holds every node once and respects every dependency."""
    assert sorted(order) == list(range(graph.n_nodes))
    pos = np.empty(graph.n_nodes, dtype=np.int64)
    pos[np.asarray(order, dtype=np.int64)] = np.arange(graph.n_nodes)
    ptr, idx = graph.predecessors()
    for n in range(graph.n_nodes):
        for p in idx[ptr[n]:ptr[n + 1]]:
            assert pos[p] < pos[n]
    for a, b in graph.orderings:
        assert pos[a] < pos[b]


def whole(graph):
    n = graph.n_nodes
    return CoreProblem(subproblem(buffer_tables(graph), np.arange(n),
                                  np.zeros(n, dtype=bool), 0))


# ------------------------------------------------- structural orders, random

def check_orders(g):
    orders = structural_orders(g, buffer_tables(g))
    assert tuple(orders) == ORDER_NAMES
    ref = reference_orders(g)
    for name, order in orders.items():
        assert order.dtype == np.int64
        assert order.tolist() == ref[name], name
        assert_valid(g, order.tolist())
        # The core's evaluation of each order agrees with the reference model.
        assert core_peak(g, order) == lowmem.peak(g, order.tolist())
    assert orders["dfs"].tolist() == bf.dfs_postorder(g) == dfs_postorder(g).tolist()


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_structural_orders_match_their_definitions(g):
    check_orders(g)


@pytest.mark.parametrize("seed", range(12))
def test_structural_orders_match_their_definitions_on_larger_graphs(seed):
    rng = random.Random(seed)
    check_orders(random_graph(rng, n_nodes=rng.randint(2, 150), n_orderings=rng.randint(0, 30)))


def test_structural_orders_build_tables_when_not_given():
    g = random_graph(random.Random(5), n_nodes=40)
    given_tables = structural_orders(g, buffer_tables(g))
    built = structural_orders(g)
    assert {k: v.tolist() for k, v in built.items()} == \
        {k: v.tolist() for k, v in given_tables.items()}


def test_structural_orders_of_an_empty_graph():
    g = lowmem.Graph([{"size": 4}], [], outputs=[0])
    assert {k: v.tolist() for k, v in structural_orders(g).items()} == \
        {name: [] for name in ORDER_NAMES}


def test_deep_chain_does_not_recurse():
    n = 50_000
    variables = [{"size": 1}] * (n + 1)
    nodes = [{"inputs": [i], "outputs": [i + 1]} for i in range(n)]
    g = lowmem.Graph(variables, nodes, outputs=[n])
    for order in structural_orders(g).values():
        assert order.tolist() == list(range(n))


# ------------------------------------------------------ hand-made sequences

def _graph(n_nodes, inputs, outputs, orderings=(), sizes=None):
    """Node i reads variables `inputs[i]` and makes variable 1 + i;
    variable 0 is the graph input."""
    sizes = sizes or [1] * n_nodes
    variables = [{"size": 1}] + [{"size": s} for s in sizes]
    nodes = [{"name": f"n{i}", "inputs": list(inputs[i]), "outputs": [1 + i]}
             for i in range(n_nodes)]
    return lowmem.Graph(variables, nodes, outputs=list(outputs), orderings=list(orderings))


def test_the_four_dfs_variants_on_a_node_with_inputs_and_a_prerequisite():
    # a = n0, b = n1, c = n2 (all read x); d = n3 reads a then b, after c.
    g = _graph(4, [[0], [0], [0], [1, 2]], outputs=[4], orderings=[[2, 3]])
    orders = {k: v.tolist() for k, v in structural_orders(g).items()}
    assert orders["dfs"] == [2, 0, 1, 3]                            # c, a, b, d
    assert orders["dfs_reversed"] == [2, 1, 0, 3]                   # c, b, a, d
    assert orders["dfs_orderings_after"] == [0, 1, 2, 3]            # a, b, c, d
    assert orders["dfs_reversed_orderings_after"] == [1, 0, 2, 3]   # b, a, c, d


def test_reversed_variants_take_prerequisites_and_outputs_last_to_first():
    # n2 must follow n0 and n1 (orderings only); outputs: n3's then n2's.
    g = _graph(4, [[0], [0], [0], [0]], outputs=[4, 3], orderings=[[0, 2], [1, 2]])
    orders = {k: v.tolist() for k, v in structural_orders(g).items()}
    assert orders["dfs"] == [3, 0, 1, 2]
    assert orders["dfs_reversed"] == [1, 0, 2, 3]
    assert orders["dfs_orderings_after"] == [3, 0, 1, 2]
    assert orders["dfs_reversed_orderings_after"] == [1, 0, 2, 3]


def test_unreached_nodes_follow_in_listed_order():
    # Only n1 feeds the output; n2 reads n0, n3 nothing.
    g = _graph(4, [[0], [0], [1], []], outputs=[2])
    for name, order in structural_orders(g).items():
        assert order.tolist() == [1, 0, 2, 3], name


def test_xla_dfs_visits_the_input_with_more_extra_users_first():
    # n3 reads a = n0 then b = n1; b is also read by n2 (one extra user).
    # Outputs: n3's and n2's; n3 has the larger total size.
    g = _graph(4, [[0], [0], [2], [1, 2]], outputs=[4, 3], sizes=[10, 10, 1, 50])
    extra, total = ref_xla_stats(g, buffer_tables(g).node_alloc)
    assert extra == [0, 1, 1, 1] and total == [10, 10, 11, 70]
    assert structural_orders(g)["xla_dfs"].tolist() == [1, 0, 3, 2]   # b, a, d, e
    assert structural_orders(g)["dfs"].tolist() == [0, 1, 3, 2]


def test_xla_dfs_breaks_ties_by_total_size_then_id():
    # n2 reads n0 (small) then n1 (large): the large one first; n5 reads
    # n3 and n4 of equal size: the lower id first.
    g = _graph(6, [[0], [0], [1, 2], [0], [0], [4, 5]], outputs=[3, 6],
               sizes=[1, 100, 1, 7, 7, 1])
    assert structural_orders(g)["xla_dfs"].tolist() == [1, 0, 2, 3, 4, 5]


def test_xla_dfs_sorts_prerequisites_with_the_inputs():
    # n3 reads a = n0 and must follow n1 (orderings); n2 reads n1. The
    # larger of n0 and n1 is visited first, whichever kind of dependency.
    for sizes, first in (([5, 1, 1, 1], [0, 1]), ([1, 5, 1, 1], [1, 0])):
        g = _graph(4, [[0], [0], [2], [1]], outputs=[4], orderings=[[1, 3]], sizes=sizes)
        orders = structural_orders(g)
        assert orders["xla_dfs"].tolist() == first + [3, 2]
        assert orders["dfs"].tolist() == [1, 0, 3, 2]
        assert orders["dfs_orderings_after"].tolist() == [0, 1, 3, 2]


# ------------------------------------------------------------ xla_dfs_stats

def _stats_arrays(graph, sizes):
    n = graph.n_nodes
    ops = [sorted(set(_input_producers(graph, v))) for v in range(n)]
    ptr = np.zeros(n + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(o) for o in ops])
    idx = np.array([p for o in ops for p in o], dtype=np.int64)
    users = np.bincount(idx, minlength=n).astype(np.int64)
    return ptr, idx, users, np.asarray(sizes, dtype=np.int64)


@settings(max_examples=200, deadline=None)
@given(graphs(min_nodes=1), st.data())
def test_xla_stats_saturate_without_overflow(g, data):
    # Sizes up to 2**62 - 1 each (more than a Graph allows in total): the
    # sums saturate, the result is the capped exact figure.
    sizes = data.draw(st.lists(st.sampled_from([0, 1, 2**40, 2**61, 2**62 - 1]),
                               min_size=g.n_nodes, max_size=g.n_nodes))
    extra, total = _heuristics.xla_dfs_stats(*_stats_arrays(g, sizes))
    ref_extra, ref_total = ref_xla_stats(g, sizes)
    assert extra.tolist() == ref_extra and total.tolist() == ref_total


def test_xla_stats_on_a_ladder_with_exponentially_many_paths():
    # Each rung reads both nodes of the rung before: 2**k paths to the top.
    k = 80
    inputs = [[0], [0]]
    for r in range(1, k):
        inputs += [[2 * r - 1, 2 * r], [2 * r - 1, 2 * r]]
    g = _graph(2 * k, inputs, outputs=[2 * k], sizes=[2**50] * (2 * k))
    sizes = buffer_tables(g).node_alloc
    extra, total = _heuristics.xla_dfs_stats(*_stats_arrays(g, sizes))
    ref_extra, ref_total = ref_xla_stats(g, sizes)
    assert extra.tolist() == ref_extra and total.tolist() == ref_total
    assert total[-1] == sum(sizes)      # capped at the cumulative size
    assert extra[-1] == 2 * k           # capped at the node count


def test_xla_stats_reject_malformed_arrays():
    ptr, idx = np.array([0, 0, 1]), np.array([0])
    ones = np.ones(2, dtype=np.int64)
    _heuristics.xla_dfs_stats(ptr, idx, ones, ones)
    bad = [(np.array([0, 1, 1]), idx, ones, ones),        # operand not before its user
           (ptr, np.array([1]), ones, ones),              # a node reads itself
           (ptr, np.array([-1]), ones, ones),
           (np.array([0, 0, 2]), idx, ones, ones),        # pointer past the end
           (np.array([1, 0, 1]), idx, ones, ones),
           (ptr, idx, ones[:1], ones),
           (ptr, idx, -ones, ones),
           (ptr, idx, ones, -ones),
           (ptr, idx, ones, ones * 2**62)]
    for args in bad:
        with pytest.raises(ValueError):
            _heuristics.xla_dfs_stats(*args)


# -------------------------------------------------------- greedy tie ranks

def ref_greedy(graph, rule, rank):
    """bruteforce.greedy_order with the last tie-break by rank[node]."""
    m = bf.Model(graph)
    done, order, peak = 0, [], 0
    for _ in range(m.n):
        live = m.live(done)

        def key(n):
            step, change = m.step(done, n), m.live(done | 1 << n) - live
            return (change, step, rank[n]) if rule == "greedy" else (step, change, rank[n])

        n = min(m.ready(done), key=key)
        peak = max(peak, m.step(done, n))
        order.append(n)
        done |= 1 << n
    return order, peak


RULES = ((_heuristics.FREED_MINUS_ALLOCATED, "greedy"), (_heuristics.LEAST_MEMORY, "lpmf"))


@settings(max_examples=200, deadline=None)
@given(graphs(), st.randoms(use_true_random=False))
def test_greedy_tie_rank_changes_only_the_tie_break(g, rnd):
    prob = whole(g)
    rank = list(range(g.n_nodes))
    rnd.shuffle(rank)
    for rule, name in RULES:
        default = _heuristics.greedy(prob, rule)
        assert default[0].tolist() == bf.greedy_order(g, name)[0]
        listed = _heuristics.greedy(prob, rule, np.arange(g.n_nodes, dtype=np.int32))
        assert listed[0].tolist() == default[0].tolist() and listed[1] == default[1]
        order, peak = _heuristics.greedy(prob, rule, np.array(rank, dtype=np.int64))
        assert (order.tolist(), peak) == ref_greedy(g, name, rank)
        assert_valid(g, order.tolist())
        assert peak == lowmem.peak(g, order.tolist())


@pytest.mark.parametrize("seed", range(6))
def test_greedy_with_dfs_ranks_on_larger_graphs(seed):
    g = random_graph(random.Random(seed), n_nodes=40, n_orderings=8)
    prob = whole(g)
    rank = np.empty(g.n_nodes, dtype=np.int64)
    rank[dfs_postorder(g)] = np.arange(g.n_nodes)
    for rule, name in RULES:
        order, peak = _heuristics.greedy(prob, rule, rank)
        assert (order.tolist(), peak) == ref_greedy(g, name, rank.tolist())


def test_ties_follow_the_rank():
    # Four identical independent nodes: every key ties, the rank decides.
    g = _graph(4, [[0]] * 4, outputs=[1, 2, 3, 4])
    prob = whole(g)
    rank = np.array([2, 0, 3, 1])
    for rule, _ in RULES:
        assert _heuristics.greedy(prob, rule)[0].tolist() == [0, 1, 2, 3]
        assert _heuristics.greedy(prob, rule, rank)[0].tolist() == [1, 3, 0, 2]


def test_greedy_rejects_bad_tie_ranks():
    prob = whole(_graph(4, [[0]] * 4, outputs=[1]))
    for bad in ([0, 1, 2], [0, 1, 2, 3, 4], [0, 1, 1, 2], [1, 2, 3, 4], [-1, 0, 1, 2],
                np.array([0.0, 1.0, 2.0, 3.0]), np.array([True, False, True, False]),
                np.arange(4).reshape(2, 2), np.array([0, 1, 2, 2**63], dtype=np.uint64),
                ["0", "1", "2", "3"]):
        with pytest.raises(ValueError):
            _heuristics.greedy(prob, _heuristics.LEAST_MEMORY, bad)
    empty = whole(lowmem.Graph([], []))
    assert _heuristics.greedy(empty, _heuristics.LEAST_MEMORY, np.zeros(0, np.int64))[0].size == 0


# ------------------------------------------------------ Theano's Stack VM

def _stack_vm_run(outputs_of):
    """(lowmem graph, executed order as lowmem node ids) of a small function
    compiled for Theano's Stack VM and called once."""
    import lowmem.theano  # noqa: F401  (sets Theano's flags before its import)
    import theano
    import theano.tensor as T
    from theano.gof.vm import Stack, VM_Linker
    from lowmem.theano._translate import graph_from_fgraph

    x = T.vector("x")
    linker = VM_Linker(use_cloop=False, lazy=True, allow_gc=True)
    mode = theano.compile.Mode(linker=linker, optimizer="fast_run").excluding("fusion")
    f = theano.function([x], outputs_of(T, x), mode=mode)
    assert isinstance(f.fn, Stack)
    f(np.ones(3, dtype=theano.config.floatX))
    tr = graph_from_fgraph(f.maker.fgraph, sizes={})
    node_of = {node: i for i, node in enumerate(tr.nodes)}
    return tr.graph, [node_of[node] for node in f.fn.node_executed_order]


def test_dfs_reversed_is_what_theanos_stack_vm_runs():
    def outputs(T, x):
        a, v, w = T.exp(x), T.tanh(x), T.sin(x)
        # One of the two in-place ops (Mul on a, or Add on a or w) destroys
        # an input the other reads: a destroy-handler ordering.
        return [(a * v).sum(), a + w]

    g, executed = _stack_vm_run(outputs)
    assert len(g.orderings) >= 1
    orders = structural_orders(g)
    assert orders["dfs_reversed"].tolist() == executed
    assert orders["dfs"].tolist() != executed


def test_dfs_reversed_matches_the_stack_vm_on_a_wider_function():
    def outputs(T, x):
        h = [T.exp(x * (i + 1)) for i in range(3)]
        s = h[0] + h[1] * h[2]
        return [s.sum(), (s - h[0]).max(), T.tanh(h[2]) + h[1], h[1] * 2]

    g, executed = _stack_vm_run(outputs)
    assert len(g.orderings) >= 2
    orders = structural_orders(g)
    assert orders["dfs_reversed"].tolist() == executed
    assert orders["dfs"].tolist() != executed
