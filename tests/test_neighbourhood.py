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
    w.window = 3                        # small windows: many positions on tiny graphs
    previous = start
    for _ in range(steps):
        before = w.order.copy()
        improved = w.step(deadline=float("inf"))
        assert sorted(w.order.tolist()) == list(range(g.n_nodes))
        assert w.peak == lowmem.peak(g, w.order)           # valid: peak raises otherwise
        assert w.steps.tolist() == [int(x) for x in
                                    _reference_steps(g, w.order)]
        assert w.peak <= previous
        if not improved:
            assert np.array_equal(before, w.order)
        previous = w.peak
        if w.exhausted:
            break
    return w, start


def _reference_steps(g, order):
    """Memory at each step per the reference model's timeline."""
    return lowmem.memory_timeline(g, order)


@settings(max_examples=150, deadline=None)
@given(gs.graphs(max_nodes=8, min_nodes=2), st.integers(0, 3))
def test_windows_keep_the_order_valid_and_never_raise_the_peak(g, seed):
    _walk(g, seed)


@settings(max_examples=100, deadline=None)
@given(gs.graphs(max_nodes=7, min_nodes=2), st.integers(0, 3))
def test_an_exhausted_segment_is_the_brute_force_optimum(g, seed):
    if bf.count_orders(g, cap=5000) > 5000:
        return
    w, _ = _walk(g, seed, steps=200)
    optimum = bf.min_peak(g)
    assert w.peak >= optimum
    if w.exhausted:
        assert w.peak == optimum


def test_a_window_finds_a_better_local_order():
    """Listed order: both big producers first, then their readers; a window
    over the four steps swaps them into producer-reader pairs."""
    variables = [{"size": 100}, {"size": 100}, {"size": 1}, {"size": 1}]
    nodes = [{"inputs": [], "outputs": [0]}, {"inputs": [], "outputs": [1]},
             {"inputs": [0], "outputs": [2]}, {"inputs": [1], "outputs": [3]}]
    g = lowmem.Graph(variables, nodes, outputs=[2, 3])
    tables, prob = _whole(g)
    w = SegmentWindows(tables, prob, np.arange(4), lowmem.peak(g, range(4)))
    w.window = 4
    assert w.step(deadline=float("inf"))
    assert w.peak == bf.min_peak(g) < lowmem.peak(g, range(4))


def test_windows_reach_and_prove_the_optimum_on_random_graphs():
    """On 40 random 8-node graphs (aliases, workspace, orderings) the
    windows grow to the whole graph, whose exhausted search is the optimum."""
    import random
    rng = random.Random(0)
    for i in range(40):
        g = gs.random_graph(rng, n_nodes=8, n_orderings=1)
        w, _ = _walk(g, i, steps=200)
        assert w.exhausted
        assert w.peak == bf.min_peak(g)
