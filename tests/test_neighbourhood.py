"""The large-neighbourhood search (lowmem/_neighbourhood.py): every window
it accepts keeps the order valid and lowers the peak of that window; its
profile is the reference model's; a whole-segment window that exhausts its
space has found the brute-force optimum."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import bruteforce as bf
import lowmem
import strategies as gs
from lowmem._core import CoreProblem
from lowmem._neighbourhood import SegmentWindows
from lowmem._problem import buffer_tables, subproblem


def _whole(g):
    n = g.n_nodes
    tables = buffer_tables(g)
    return tables, CoreProblem(subproblem(tables, np.arange(n), np.zeros(n, dtype=bool), 0))


def _walk(g, seed, steps=40):
    """Run `steps` windows from the listed order, checking each one."""
    tables, prob = _whole(g)
    order = np.arange(g.n_nodes)
    start = lowmem.peak(g, order)
    w = SegmentWindows(tables, prob, order, start, seed=seed)
    w.window = 2                        # small windows: many positions on tiny graphs
    previous = start
    for _ in range(steps):
        before = w.order.copy()
        improved = w.step(deadline=float("inf"))
        assert sorted(w.order.tolist()) == list(range(g.n_nodes))
        assert w.peak == lowmem.peak(g, w.order)           # valid: peak raises otherwise
        assert w.steps.tolist() == lowmem.memory_timeline(g, w.order).tolist()
        assert w.peak <= previous
        assert improved == (w.peak < previous or not np.array_equal(before, w.order))
        if not improved:
            assert np.array_equal(before, w.order)
        previous = w.peak
        if w.stalled:
            break
    return w, start


@settings(max_examples=150, deadline=None)
@given(gs.graphs(max_nodes=9, min_nodes=4), st.integers(0, 3))
def test_windows_keep_the_order_valid_and_never_raise_the_peak(g, seed):
    w, _ = _walk(g, seed)
    assert w.peak >= bf.min_peak(g)


def test_windows_stall_at_the_optimum_and_improve_on_random_graphs():
    """40 random 12-node graphs (aliases, workspace, orderings): from the
    listed order the windows improve some, never pass below the optimum,
    and stall (a whole round of sizes without a move) within 400 windows."""
    import random
    rng = random.Random(0)
    improved = 0
    for i in range(40):
        g = gs.random_graph(rng, n_nodes=12, n_orderings=1)
        w, start = _walk(g, i, steps=400)
        assert w.stalled and w.peak >= bf.min_peak(g)
        improved += w.peak < start
    assert improved >= 10


def test_a_window_finds_a_better_local_order():
    """Listed order: both big producers first, then their readers; a window
    over the middle two steps puts each reader after its producer."""
    variables = [{"size": 100}, {"size": 100}, {"size": 1}, {"size": 1}]
    nodes = [{"inputs": [], "outputs": [0]}, {"inputs": [], "outputs": [1]},
             {"inputs": [0], "outputs": [2]}, {"inputs": [1], "outputs": [3]}]
    g = lowmem.Graph(variables, nodes, outputs=[2, 3])
    tables, prob = _whole(g)
    w = SegmentWindows(tables, prob, np.arange(4), lowmem.peak(g, range(4)))
    for _ in range(20):
        if w.step(deadline=float("inf")):
            break
    assert w.peak == bf.min_peak(g) < lowmem.peak(g, range(4))
    assert w.improved == 1
