"""The storage planner against independent checks on random graphs and orders."""

import random

import numpy as np
import pytest
from hypothesis import given, settings

import lowmem
from lowmem import _storage
from strategies import graphs_with_order, random_graph


def check_plan(g, order, plan):
    """Everything a storage plan promises, checked from first principles."""
    n = g.n_nodes
    timeline = lowmem.memory_timeline(g, order)
    assert plan.order_peak == (int(timeline.max()) if n else 0)
    assert plan.peak <= plan.order_peak
    # Intervals: live bytes per step + workspace is the reference timeline.
    steps = np.arange(n)
    live = np.array([int(plan.size[(plan.start <= t) & (t <= plan.end)].sum()) for t in steps],
                    dtype=np.int64)
    ws = g.node_workspace[np.asarray(order, dtype=np.int64)] if n else np.zeros(0, np.int64)
    assert np.array_equal(live + ws, timeline)
    assert plan.lower_bound == (int(live.max()) if n else 0)
    assert plan.lower_bound <= plan.arena_bytes
    outputs = set(int(v) for v in g.outputs)
    nb = len(plan.size)
    for a in range(nb):
        for b in range(a + 1, nb):
            overlap = plan.start[a] <= plan.end[b] and plan.start[b] <= plan.end[a]
            if plan.cell[a] == plan.cell[b]:
                va, vb = plan.owner[a], plan.owner[b]
                assert not overlap, (a, b)
                assert va not in outputs and vb not in outputs
                assert g.var_dtypes[va] == g.var_dtypes[vb] is not None
                assert g.var_shapes[va] == g.var_shapes[vb] is not None
            if overlap and plan.size[a] and plan.size[b]:
                assert (plan.offset[a] + plan.size[a] <= plan.offset[b]
                        or plan.offset[b] + plan.size[b] <= plan.offset[a]), (a, b)
    assert plan.arena_bytes == max((int(o + s) for o, s in zip(plan.offset, plan.size)),
                                   default=0)
    # The plan's peak: a cell is held from its first buffer's birth to its
    # last buffer's death.
    held = np.zeros(n, dtype=np.int64)
    for c in np.unique(plan.cell):
        members = np.flatnonzero(plan.cell == c)
        held[plan.start[members].min():plan.end[members].max() + 1] += plan.size[members[0]]
    assert plan.peak == (int((held + ws).max()) if n else 0)
    assert plan.cells == len(np.unique(plan.cell)) <= plan.buffers == nb


def with_shapes(g, rng):
    """The same graph with dtypes and a few shapes, so buffers can share."""
    d = g.to_dict()
    for v in d["variables"]:
        v["dtype"] = "float32"
        v["size"] = rng.choice([0, 4, 4, 8]) * 4
        v["shape"] = [v["size"] // 4]
    return lowmem.Graph.from_dict(d)


@settings(max_examples=300, deadline=None)
@given(graphs_with_order(max_nodes=9))
def test_plans_hold_their_promises(graph_and_order):
    g, order = graph_and_order
    check_plan(g, order, lowmem.plan_storage(g, order))
    shaped = with_shapes(g, random.Random(len(order)))
    check_plan(shaped, order, lowmem.plan_storage(shaped, order))


@pytest.mark.parametrize("seed", range(10))
def test_larger_random_graphs(seed):
    rng = random.Random(seed)
    g = with_shapes(random_graph(rng, n_nodes=60), rng)
    for order in (None, lowmem.schedule(g, time_limit=0.2).order):
        plan = lowmem.plan_storage(g, order)
        check_plan(g, plan.order, plan)


def test_chain_reuses_one_cell_per_parity():
    # x -> a -> b -> c -> d, all the same shape: a and c, b and d can share
    # (a dies after b runs, so c may take its cell at once).
    shape = {"size": 4096, "dtype": "float32", "shape": [1024]}
    g = lowmem.Graph([dict(shape)] * 5,
                     [{"inputs": [i], "outputs": [i + 1]} for i in range(4)], outputs=[4])
    plan = lowmem.plan_storage(g)
    assert plan.buffers == 4 and plan.cells == 3           # d is an output: never shares
    assert plan.cell[0] == plan.cell[2] != plan.cell[1]
    assert plan.peak == plan.order_peak == 8192
    assert plan.arena_bytes == plan.lower_bound == 8192


def test_sharing_never_raises_the_peak():
    # a -> b -> big -> c -> d. a dies after step 1, c is born at step 3;
    # holding a's cell through step 2 (big's step, the peak) would raise
    # the peak, so a and c must not share; b dies just before c is born and
    # hands c its cell at no cost.
    small = {"size": 100, "dtype": "float32", "shape": [25]}
    big = {"size": 1000, "dtype": "float32", "shape": [250]}
    g = lowmem.Graph([small, dict(small), big, dict(small), dict(small)],
                     [{"outputs": [0]}, {"inputs": [0], "outputs": [1]},
                      {"inputs": [1], "outputs": [2]}, {"inputs": [2], "outputs": [3]},
                      {"inputs": [3], "outputs": [4]}], outputs=[4])
    plan = lowmem.plan_storage(g)
    check_plan(g, plan.order, plan)
    assert plan.cell[0] != plan.cell[3] == plan.cell[1]      # buffer ids: a b big c d
    assert plan.peak == plan.order_peak == 1100


def test_unknown_shapes_and_shape_classes():
    plain = lowmem.Graph([4096] * 5, [{"inputs": [i], "outputs": [i + 1]} for i in range(4)],
                         outputs=[4])
    assert lowmem.plan_storage(plain).cells == 4             # no dtype/shape: no sharing
    d = plain.to_dict()
    for v in d["variables"]:
        v["dtype"] = "float64"
    g = lowmem.Graph.from_dict(d)
    plan = lowmem.plan_storage(g, shape_classes=["n"] * 5)    # symbolic: all the same class
    assert plan.cells == 3
    assert lowmem.plan_storage(g, share_cells=False).cells == 4


def test_invalid_order_is_rejected():
    g = lowmem.Graph([1, 1], [{"outputs": [0]}, {"inputs": [0], "outputs": [1]}], [1])
    with pytest.raises(lowmem.OrderError):
        lowmem.plan_storage(g, [1, 0])


def test_core_checks_its_inputs():
    with pytest.raises(ValueError):
        _storage.share_cells([0], [5], [1], [0], [1, 1], 1)          # end past the last step
    with pytest.raises(ValueError):
        _storage.share_cells([0], [0], [1], [-2], [1], 1)            # bad class
    with pytest.raises(ValueError):
        _storage.share_cells([0], [0], [5], [0], [10], 5)            # memory above peak
    with pytest.raises(ValueError):
        _storage.best_fit_offsets([0, 1], [1, 1], [1, 1], [0, 0])    # not a permutation
    with pytest.raises(ValueError):
        _storage.best_fit_offsets([1], [0], [1], [0])                # end before start
