"""The resumable branch and bound (_search.Searcher): run in slices it
walks exactly the space one long run walks; orders offered from outside
only tighten it, and an exhausted walk is still the optimum."""

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bruteforce as bf
import lowmem
import strategies as gs
from lowmem import _heuristics, _search
from lowmem._core import CoreProblem
from lowmem._problem import buffer_tables, subproblem


def _whole(g):
    n = g.n_nodes
    return CoreProblem(subproblem(buffer_tables(g), np.arange(n), np.zeros(n, dtype=bool), 0))


def _sliced(prob, order, peak, slice_seconds, **kw):
    """Run a Searcher in slices of `slice_seconds` until it stops."""
    s = _search.Searcher(prob, order, peak, **kw)
    calls = 0
    while True:
        calls += 1
        r = s.run(slice_seconds)
        if r["exhausted"] or r["out_of_memory"] or calls > 10**6:
            return r, calls


@settings(max_examples=120, deadline=None)
@given(gs.graphs(max_nodes=9, min_nodes=1))
def test_slices_walk_the_same_space_as_one_run(g):
    prob = _whole(g)
    order = np.arange(g.n_nodes)
    peak = _heuristics.evaluate(prob, order)
    whole = _search.search(prob, order, peak, time_limit=float("inf"))
    # A zero-length slice still checks the clock only every CHECK_WORK units
    # of work, so each call makes progress; the walk is the same.
    sliced, _ = _sliced(prob, order, peak, 0.0)
    assert whole["exhausted"] and sliced["exhausted"]
    assert sliced["peak"] == whole["peak"] == bf.min_peak(g)
    assert sliced["states"] == whole["states"]
    assert np.array_equal(sliced["order"], whole["order"])


@pytest.mark.parametrize("seed", [0, 2])
def test_many_slices_on_a_larger_graph(seed):
    """A 36-node graph whose search checks the clock many times: slices of
    0 s resume at every check and end exactly where one run ends."""
    g = gs.random_graph(random.Random(seed), n_nodes=36, n_orderings=0)
    prob = _whole(g)
    order = np.arange(g.n_nodes)
    peak = _heuristics.evaluate(prob, order)
    whole = _search.search(prob, order, peak, time_limit=float("inf"))
    sliced, calls = _sliced(prob, order, peak, 0.0)
    assert sliced["states"] == whole["states"] and sliced["peak"] == whole["peak"]
    assert np.array_equal(sliced["order"], whole["order"])
    assert calls > 10


@settings(max_examples=120, deadline=None)
@given(gs.graphs(max_nodes=8, min_nodes=1), st.integers(0, 2**32 - 1))
def test_offered_orders_keep_the_result_exact(g, seed):
    prob = _whole(g)
    order = np.arange(g.n_nodes)
    peak = _heuristics.evaluate(prob, order)
    s = _search.Searcher(prob, order, peak)
    r = s.run(0.0)
    other = bf.random_order(g, random.Random(seed))
    other_peak = lowmem.peak(g, other)
    took = s.offer(other, other_peak)
    assert took == (other_peak < r["peak"])
    if took:
        assert s.peak == other_peak
    while not s.exhausted:
        r = s.run(0.0)
    assert s.peak == bf.min_peak(g) == lowmem.peak(g, s.best_order)


def test_offer_refuses_a_wrong_peak_or_order():
    g = gs.random_graph(random.Random(1), n_nodes=6, n_orderings=0)
    prob = _whole(g)
    order = np.arange(g.n_nodes)
    peak = _heuristics.evaluate(prob, order)
    s = _search.Searcher(prob, order, peak)
    with pytest.raises(ValueError):
        s.offer(order, peak - 1)
    with pytest.raises(ValueError):
        s.offer(order[::-1], 0)
    assert not s.offer(order, peak)


@settings(max_examples=80, deadline=None)
@given(gs.graphs(max_nodes=8, min_nodes=1))
def test_a_raised_true_bound_keeps_the_result_exact(g):
    """Raising the bound to the optimum itself (the strongest true bound)
    mid-search still ends at the optimum, proven."""
    prob = _whole(g)
    order = np.arange(g.n_nodes)
    s = _search.Searcher(prob, order, _heuristics.evaluate(prob, order))
    s.run(0.0)
    optimum = bf.min_peak(g)
    s.raise_bound(optimum)
    s.raise_bound(0)                    # a weaker bound changes nothing
    while not s.exhausted and s.peak > optimum:
        s.run(0.0)
    assert s.peak == optimum == lowmem.peak(g, s.best_order)
