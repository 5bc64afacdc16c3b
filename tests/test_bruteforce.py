"""The test oracle itself: brute force, its simulator and the strategies.

bruteforce.Model is written from the memory model in docs/format.md,
independently of lowmem/_model.py, so agreeing on random graphs checks both.
"""

import itertools

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import bruteforce as bf
import cases
import lowmem
import strategies as gs
from lowmem._graph import DESTROY, NO_ALIAS, VIEW


@settings(max_examples=400, deadline=None)
@given(gs.graphs_with_order())
def test_simulator_matches_reference_timeline(g_order):
    g, order = g_order
    assert lowmem.memory_timeline(g, order).tolist() == bf.Model(g).timeline(order)


@settings(max_examples=200, deadline=None)
@given(gs.graphs(max_nodes=7))
def test_dp_matches_enumeration(g):
    if bf.count_orders(g, cap=3000) > 3000:
        return
    p_enum, o_enum = bf.min_peak_enumerate(g)
    p_dp, o_dp = bf.min_peak_dp(g)
    assert p_enum == p_dp
    assert lowmem.peak(g, o_enum) == p_enum
    assert lowmem.peak(g, o_dp) == p_dp
    assert bf.min_peak(g) == p_dp
    assert p_dp <= lowmem.peak(g)


@settings(max_examples=200, deadline=None)
@given(gs.graphs(max_nodes=6))
def test_count_orders(g):
    orders = list(bf.all_orders(g))
    assert bf.count_orders(g) == len(orders)
    assert len({tuple(o) for o in orders}) == len(orders)
    # Every permutation that is valid is listed, and only those.
    valid = set()
    for perm in itertools.permutations(range(g.n_nodes)):
        try:
            lowmem._model.check_order(g, perm)
        except lowmem.OrderError:
            continue
        valid.add(perm)
    assert valid == {tuple(o) for o in orders}
    assert bf.count_orders(g, cap=2) == min(len(orders), 3)


def test_empty_graph():
    g = lowmem.Graph([], [])
    assert bf.min_peak(g) == 0
    assert bf.min_peak_dp(g) == (0, [])
    assert bf.min_peak_enumerate(g) == (0, [])
    assert bf.count_orders(g) == 1


@pytest.mark.parametrize("name", sorted(cases.ALL_CASES))
def test_hand_cases(name):
    build, expected = cases.ALL_CASES[name]
    g = build()
    assert bf.min_peak_dp(g)[0] == expected
    if bf.count_orders(g, cap=5000) <= 5000:
        assert bf.min_peak_enumerate(g)[0] == expected


def test_random_order_is_valid():
    import random
    rng = random.Random(1)
    g = gs.random_graph(rng, 40)
    for _ in range(20):
        lowmem._model.check_order(g, bf.random_order(g, rng))


# ------------------------------------------------------- strategy coverage
def _alias_kinds(g, of_input=None):
    kinds = set()
    for v in range(g.n_vars):
        k = int(g.var_alias_kind[v])
        if k == NO_ALIAS:
            continue
        src = int(g.var_alias_of[v])
        if of_input is None or (g.var_producer[src] < 0) == of_input:
            kinds.add(k)
    return kinds


def _alias_chain(g):
    return any(g.var_alias_kind[v] != NO_ALIAS
               and g.var_alias_kind[g.var_alias_of[v]] != NO_ALIAS for v in range(g.n_vars))


def _repeated_input(g):
    return any(len(set(g.node_inputs(n).tolist())) < len(g.node_inputs(n)) for n in range(g.n_nodes))


def _unused_output(g):
    read = set(g.in_idx.tolist())
    outs = set(g.outputs.tolist())
    return any(g.var_producer[v] >= 0 and v not in read and v not in outs for v in range(g.n_vars))


def _constant_only(g):
    return any(all(g.var_producer[v] < 0 for v in g.node_inputs(n)) and len(g.node_inputs(n))
               for n in range(g.n_nodes)) and any(len(g.node_inputs(n)) == 0
                                                  for n in range(g.n_nodes))


FEATURES = {
    "view of produced": lambda g: VIEW in _alias_kinds(g, of_input=False),
    "destroy of produced": lambda g: DESTROY in _alias_kinds(g, of_input=False),
    "view of graph input": lambda g: VIEW in _alias_kinds(g, of_input=True),
    "destroy of graph input": lambda g: DESTROY in _alias_kinds(g, of_input=True),
    "alias chain": _alias_chain,
    "orderings": lambda g: len(g.orderings) > 0,
    "workspace": lambda g: g.node_workspace.any(),
    "repeated input": _repeated_input,
    "unused output": _unused_output,
    "constant-only nodes": _constant_only,
    "graph output is graph input": lambda g: any(g.var_producer[v] < 0 for v in g.outputs),
    "graph output is a view": lambda g: any(g.var_alias_kind[v] == VIEW for v in g.outputs),
    "zero-size produced variable": lambda g: any(
        g.var_size[v] == 0 and g.var_producer[v] >= 0 for v in range(g.n_vars)),
    "multiple outputs": lambda g: any(len(g.node_outputs(n)) > 1 for n in range(g.n_nodes)),
    "node without outputs": lambda g: any(len(g.node_outputs(n)) == 0 for n in range(g.n_nodes)),
    "nine nodes": lambda g: g.n_nodes == 9,
}


def test_strategy_covers_every_feature():
    seen = dict.fromkeys(FEATURES, 0)

    @settings(max_examples=400, deadline=None, database=None, derandomize=True,
              phases=[Phase.generate])
    @given(gs.graphs())
    def collect(g):
        for name, has in FEATURES.items():
            if has(g):
                seen[name] += 1

    collect()
    assert [name for name, count in seen.items() if count == 0] == []


def test_strategy_produces_valid_graphs_roundtrip():
    @settings(max_examples=100, deadline=None)
    @given(gs.graph_dicts())
    def check(d):
        g = lowmem.Graph.from_dict(d)
        g2 = lowmem.Graph.from_json(g.to_json())
        assert g2.to_dict() == g.to_dict()
        assert lowmem.peak(g2) == lowmem.peak(g)
    check()


def test_valid_orders_strategy():
    @settings(max_examples=100, deadline=None)
    @given(st.data())
    def check(data):
        g, order = data.draw(gs.graphs_with_order())
        lowmem._model.check_order(g, order)
    check()
