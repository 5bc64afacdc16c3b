"""Recomputation in the graph format and the reference model (issue 13):
version 2's `cost` and `recompute` node fields, and orders that run a node
more than once (docs/format.md, rule 5), checked by hand-computed examples
and against tests/bruteforce.timeline_with_repeats, a separate count."""

import json
import math
import random

import pytest

import lowmem
from lowmem import GraphError, OrderError
from lowmem._model import check_order, simulate

import bruteforce as bf


def chain_with_skip():
    """A: x -> a; B: a -> b; C: b -> c; D: (c, a) -> d, the output. a, b, c
    are 4 bytes, d 1. Once each (A B C D): 4, 8, 12 (a, b, c), 9 (a, c,
    d): peak 12. Recomputing a (A B C A D): a's first value dies after B,
    so 4, 8, 8 (b, c), 8 (c, a again), 9: peak 9 for one more run of A."""
    variables = [{"size": 4, "name": "x"}, {"size": 4, "name": "a"}, {"size": 4, "name": "b"},
                 {"size": 4, "name": "c"}, {"size": 1, "name": "d"}]
    nodes = [{"name": "A", "inputs": [0], "outputs": [1], "cost": 2.5},
             {"name": "B", "inputs": [1], "outputs": [2]},
             {"name": "C", "inputs": [2], "outputs": [3]},
             {"name": "D", "inputs": [3, 1], "outputs": [4]}]
    return lowmem.Graph(variables, nodes, outputs=[4], name="chain_with_skip")


def test_hand_example_once_and_with_a_recomputation():
    g = chain_with_skip()
    assert list(lowmem.memory_timeline(g, [0, 1, 2, 3])) == [4, 8, 12, 9]
    assert list(lowmem.memory_timeline(g, [0, 1, 2, 0, 3])) == [4, 8, 8, 8, 9]
    assert lowmem.peak(g, [0, 1, 2, 0, 3]) == 9
    assert bf.timeline_with_repeats(g, [0, 1, 2, 0, 3]) == [4, 8, 8, 8, 9]
    _, allocated, freed = simulate(g, [0, 1, 2, 0, 3])
    assert allocated == [[1], [2], [3], [1], [4]]
    assert freed == [[], [1], [2], [], [1, 3]]


def test_a_view_keeps_the_old_value_alive_after_its_producer_runs_again():
    """A: x -> a (4); V: a -> va (view); R: va -> r (1, output); S: a -> s
    (1, output). A V A R S: the second run of A makes a new a while va still
    points at the first, read by R: 4, 4, 8, 9 (both a's and r), 6."""
    variables = [1, 4, 4, 1, 1]
    nodes = [{"name": "A", "inputs": [0], "outputs": [1]},
             {"name": "V", "inputs": [1], "outputs": [2],
              "aliases": {"0": {"input": 0, "kind": "view"}}},
             {"name": "R", "inputs": [2], "outputs": [3]},
             {"name": "S", "inputs": [1], "outputs": [4]}]
    g = lowmem.Graph(variables, nodes, outputs=[3, 4])
    assert list(lowmem.memory_timeline(g, [0, 1, 2, 3])) == [4, 4, 5, 6]
    assert list(lowmem.memory_timeline(g, [0, 1, 0, 2, 3])) == [4, 4, 8, 9, 6]


def test_only_the_last_value_of_an_output_is_kept():
    """A: x -> a (4, an output), B: a -> b (2, output). A B A: the first a
    dies after B, the second is kept: 4, 6, 2 + 4 = 6."""
    g = lowmem.Graph([1, 4, 2], [{"inputs": [0], "outputs": [1]},
                                 {"inputs": [1], "outputs": [2]}], outputs=[1, 2])
    assert list(lowmem.memory_timeline(g, [0, 1, 0])) == [4, 6, 6]
    assert bf.timeline_with_repeats(g, [0, 1, 0]) == [4, 6, 6]


def test_nodes_that_may_not_run_twice():
    variables = [1, 4, 4, 4]
    nodes = [{"name": "rng", "inputs": [0], "outputs": [1], "recompute": False},
             {"name": "inc", "inputs": [1], "outputs": [2],
              "aliases": {"0": {"input": 0, "kind": "destroy"}}},
             {"name": "use", "inputs": [2], "outputs": [3]}]
    g = lowmem.Graph(variables, nodes, outputs=[3])
    with pytest.raises(OrderError, match=r"node 0 \('rng'\) runs 2 times.*recompute flag"):
        lowmem.peak(g, [0, 0, 1, 2])
    # An in-place node may run again only on a new value of what it
    # overwrites: here its input is its own result.
    with pytest.raises(OrderError, match=r"node 1 \('inc'\) reads variable 1 \('v1'\) after "
                                         r"node 1 \('inc'\) overwrote it in place"):
        lowmem.peak(g, [0, 1, 1, 2])
    assert lowmem.peak(g, [0, 1, 2, 2]) == 8


def test_a_second_run_must_not_read_a_value_overwritten_in_place():
    """W is a graph input (a weight) that `upd` overwrites in place; `dot`
    reads it. Running dot again after upd would read the new weight."""
    variables = [{"size": 8, "name": "W"}, {"size": 8, "name": "y"}, {"size": 8, "name": "W2"}]
    nodes = [{"name": "dot", "inputs": [0], "outputs": [1]},
             {"name": "upd", "inputs": [0], "outputs": [2],
              "aliases": {"0": {"input": 0, "kind": "destroy"}}}]
    g = lowmem.Graph(variables, nodes, outputs=[1, 2], orderings=[[0, 1]])
    assert lowmem.peak(g, [0, 0, 1]) == 8
    with pytest.raises(OrderError, match=r"reads variable 0 \(.W.\) after node 1 \(.upd.\) "
                                         r"overwrote it"):
        lowmem.peak(g, [0, 1, 0])
    # Without the ordering the model still refuses the stale read.
    g = lowmem.Graph(variables, nodes, outputs=[1, 2])
    with pytest.raises(OrderError, match=r"reads variable 0 \('W'\) after node 1 \('upd'\) "
                                         r"overwrote it"):
        lowmem.peak(g, [0, 1, 0])


def test_check_order_without_repeats_still_refuses_them():
    g = chain_with_skip()
    with pytest.raises(OrderError, match="node 0 runs twice"):
        check_order(g, [0, 1, 2, 0, 3])
    assert check_order(g, [0, 1, 2, 0, 3], repeats=True) == [0, 1, 2, 0, 3]
    with pytest.raises(OrderError, match=r"node 3 \('D'\) runs before node 2"):
        check_order(g, [0, 1, 3, 2], repeats=True)


def _random_alias_free(rng, n_nodes):
    variables = [rng.choice([1, 2, 5, 8]) for _ in range(rng.randint(0, 2))]
    nodes = []
    for n in range(n_nodes):
        ins = rng.sample(range(len(variables)), min(len(variables), rng.randint(0, 3)))
        outs = list(range(len(variables), len(variables) + rng.randint(1, 2)))
        variables += [rng.choice([0, 1, 3, 4, 10]) for _ in outs]
        nodes.append({"inputs": ins, "outputs": outs, "workspace": rng.choice([0, 0, 2])})
    produced = [v for node in nodes for v in node["outputs"]]
    outputs = rng.sample(produced, min(len(produced), rng.randint(0, 2)))
    return lowmem.Graph(variables, nodes, outputs=outputs)


def _random_order_with_repeats(rng, g, extra):
    """A valid order with up to `extra` reruns: each step runs a random node
    whose inputs' producers have run, new nodes first until `extra` is used."""
    ran, order = set(), []
    ptr, idx = g.predecessors()
    while len(ran) < g.n_nodes:
        ready = [n for n in range(g.n_nodes) if all(int(p) in ran for p in idx[ptr[n]:ptr[n + 1]])]
        fresh = [n for n in ready if n not in ran]
        again = [n for n in ready if n in ran]
        if again and extra and rng.random() < 0.4:
            n = rng.choice(again)
            extra -= 1
        else:
            n = rng.choice(fresh)
        ran.add(n)
        order.append(n)
    return order


def test_reference_model_matches_the_separate_count_on_random_repeats():
    rng = random.Random(13)
    for _ in range(400):
        g = _random_alias_free(rng, rng.randint(1, 7))
        order = _random_order_with_repeats(rng, g, rng.randint(0, 5))
        assert list(lowmem.memory_timeline(g, order)) == bf.timeline_with_repeats(g, order), \
            (g.to_dict(), order)


def test_min_added_cost_is_zero_when_the_best_order_fits():
    rng = random.Random(7)
    for _ in range(30):
        g = _random_alias_free(rng, rng.randint(1, 5))
        best = bf.min_peak(g)
        cost, plan = bf.min_added_cost(g, best)
        assert cost == 0 and lowmem.peak(g, plan) <= best
        if best > 0:
            found = bf.min_added_cost(g, best - 1)
            if found is not None:
                cost, plan = found
                assert cost > 0 and lowmem.peak(g, plan) <= best - 1


# ------------------------------------------------------------- format v2
def test_version_2_fields_round_trip_and_version_1_is_written_without_them():
    g = chain_with_skip()
    d = g.to_dict()
    assert d["version"] == 2 and d["nodes"][0]["cost"] == 2.5 and "cost" not in d["nodes"][1]
    g2 = lowmem.Graph.from_json(g.to_json())
    assert g2.node_cost.tolist() == [2.5, 1, 1, 1] and g2.node_recompute.all()
    plain = lowmem.Graph([1, 2], [{"inputs": [0], "outputs": [1], "cost": 1, "recompute": True}])
    assert plain.to_dict()["version"] == 1
    once = lowmem.Graph([1, 2], [{"inputs": [0], "outputs": [1], "recompute": False}])
    assert once.to_dict()["nodes"][0]["recompute"] is False and once.to_dict()["version"] == 2


def test_version_1_files_are_read_and_may_not_use_version_2_fields():
    d = chain_with_skip().to_dict()
    d["version"] = 1
    with pytest.raises(GraphError, match=r"node 0: 'cost' is a version 2 field"):
        lowmem.Graph.from_dict(d)
    for node in d["nodes"]:
        node.pop("cost", None)
    assert lowmem.Graph.from_dict(d).node_cost.tolist() == [1, 1, 1, 1]


@pytest.mark.parametrize("field,value,words", [
    ("cost", -1, "cost must be a finite number >= 0"),
    ("cost", math.nan, "cost must be a finite number >= 0"),
    ("cost", math.inf, "cost must be a finite number >= 0"),
    ("cost", True, "cost must be"),
    ("cost", "1", "cost must be"),
    ("recompute", 0, "recompute must be true or false"),
    ("recompute", "no", "recompute must be true or false"),
])
def test_bad_version_2_fields_name_the_node(field, value, words):
    nodes = [{"name": "A", "inputs": [0], "outputs": [1]},
             {"name": "B", "inputs": [1], "outputs": [2], field: value}]
    with pytest.raises(GraphError, match=r"node 1 \('B'\): " + words):
        lowmem.Graph([1, 1, 1], nodes)


def test_cost_in_json_may_be_a_fraction():
    text = json.dumps({"format": "lowmem-graph", "version": 2, "variables": [1, 1],
                       "nodes": [{"inputs": [0], "outputs": [1], "cost": 0.125}]})
    assert lowmem.Graph.from_json(text).node_cost.tolist() == [0.125]


def test_an_in_place_node_runs_again_on_a_new_value():
    """p: x -> a (4); d: a -> a2, overwriting a; r: a2 -> out (1). p d p d r
    runs d again on the second a: valid, and the first a dies after d."""
    variables = [1, 4, 4, 1]
    nodes = [{"name": "p", "inputs": [0], "outputs": [1]},
             {"name": "d", "inputs": [1], "outputs": [2],
              "aliases": {"0": {"input": 0, "kind": "destroy"}}},
             {"name": "r", "inputs": [2], "outputs": [3]}]
    g = lowmem.Graph(variables, nodes, outputs=[3])
    assert list(lowmem.memory_timeline(g, [0, 1, 0, 1, 2])) == [4, 4, 4, 4, 5]
    with pytest.raises(OrderError, match=r"node 1 \('d'\) reads variable 1"):
        lowmem.peak(g, [0, 1, 1, 2])
