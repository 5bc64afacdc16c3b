"""The canonical decision search (_canonical.pyx) and the planner stages
built on it (_offsets.decide, _offsets.pack) against brute force on small
instances: a packing it finds is valid and within the capacity; a "none"
is true; without limits it always answers, and its answer is brute force's.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowmem import _canonical, _offsets
from test_storage import brute_force_arena, fits_in, packing_ok


@st.composite
def instances(draw, max_buffers=6, max_steps=6):
    """(start, end, size, rank): inclusive steps from 0, sizes >= 1, a
    random preorder."""
    n = draw(st.integers(1, max_buffers))
    start, end, size = [], [], []
    for _ in range(n):
        s = draw(st.integers(0, max_steps - 1))
        start.append(s)
        end.append(draw(st.integers(s, max_steps - 1)))
        size.append(draw(st.sampled_from([1, 1, 2, 3, 4, 5, 8])))
    rank = draw(st.permutations(range(n)))
    return (np.array(start, np.int64), np.array(end, np.int64), np.array(size, np.int64),
            np.array(rank, np.int64))


def _check(start, end, size, capacity, status, offsets):
    """status/offsets agree with brute force at this capacity."""
    assert status in (0, 1)
    if status == 1:
        packing_ok(start.tolist(), end.tolist(), size.tolist(), offsets.tolist(),
                   int((offsets + size).max()))
        assert (offsets + size).max() <= capacity
    else:
        assert offsets is None
        assert not fits_in(start.tolist(), end.tolist(), size.tolist(), capacity)


@settings(max_examples=400, deadline=None)
@given(instances(), st.booleans(), st.booleans())
def test_decide_matches_brute_force(case, section_floors, decompose):
    start, end, size, rank = case
    best = brute_force_arena(start.tolist(), end.tolist(), size.tolist())
    for capacity in (best - 1, best, best + 1):
        status, offsets, nodes = _canonical.decide(start, end, size, rank, capacity,
                                                   section_floors=section_floors,
                                                   decompose=decompose)
        _check(start, end, size, capacity, status, offsets)
        # Complete: the optimum fits, one byte less does not.
        assert status == (1 if capacity >= best else 0)
        assert nodes >= 0


@settings(max_examples=150, deadline=None)
@given(instances(max_buffers=7, max_steps=8))
def test_decide_stops_on_its_node_budget(case):
    start, end, size, rank = case
    best = brute_force_arena(start.tolist(), end.tolist(), size.tolist())
    status, offsets, nodes = _canonical.decide(start, end, size, rank, best, max_nodes=1)
    # One node places one buffer: it finishes only when the instance is one
    # buffer or trivially decided up front.
    assert nodes <= 2
    if status == -1:
        assert offsets is None
    else:
        _check(start, end, size, best, status, offsets)


@settings(max_examples=300, deadline=None)
@given(instances(), st.integers(-1, 2))
def test_round_robin_decide_matches_brute_force(case, slack):
    start, end, size, _ = case
    best = brute_force_arena(start.tolist(), end.tolist(), size.tolist())
    capacity = max(0, best + slack)
    width = (end - start + 1) * 3          # any positive lifetimes will do
    status, offsets, _ = _offsets.decide(start, end, size, capacity, width=width)
    _check(start, end, size, capacity, status, offsets)
    assert status == (1 if capacity >= best else 0)


@settings(max_examples=300, deadline=None)
@given(instances(max_buffers=7), st.sampled_from([None, 0, 50, 5000]))
def test_pack_bounds_are_bounds(case, node_budget):
    """Minimising: the arena is valid and never below the optimum; the lower
    bound never above it; `proven` only at the optimum. Node budgets that
    stop every stage early included."""
    start, end, size, _ = case
    best = brute_force_arena(start.tolist(), end.tolist(), size.tolist())
    offsets, arena, lower, proven, fits, method, _ = _offsets.pack(
        start, end, size, node_budget=node_budget)
    packing_ok(start.tolist(), end.tolist(), size.tolist(), offsets.tolist(), arena)
    assert lower <= best <= arena
    assert proven == (arena == lower)
    assert fits is None and method
    if node_budget is None:
        assert proven and arena == best


@settings(max_examples=300, deadline=None)
@given(instances(max_buffers=7), st.integers(-2, 2), st.sampled_from([None, 0, 50]))
def test_pack_decides_a_capacity(case, slack, node_budget):
    start, end, size, _ = case
    best = brute_force_arena(start.tolist(), end.tolist(), size.tolist())
    capacity = max(0, best + slack)
    offsets, arena, lower, proven, fits, _, _ = _offsets.pack(
        start, end, size, capacity=capacity, node_budget=node_budget)
    packing_ok(start.tolist(), end.tolist(), size.tolist(), offsets.tolist(), arena)
    assert lower <= best <= arena
    assert fits == (True if arena <= capacity else False if lower > capacity else None)
    if fits is False:
        assert capacity < best
    if node_budget is None:
        assert fits == (capacity >= best)


def test_decide_rejects_bad_input():
    one = np.array([0], np.int64)
    size = np.array([3], np.int64)
    with pytest.raises(ValueError, match="permutation"):
        _canonical.decide(one, one, size, np.array([1], np.int64), 5)
    with pytest.raises(ValueError, match="sizes > 0"):
        _canonical.decide(one, one, np.array([0], np.int64), np.array([0], np.int64), 5)
    with pytest.raises(ValueError, match="one length"):
        _canonical.decide(one, np.array([0, 1], np.int64), size, one, 5)
    with pytest.raises(ValueError, match="capacity"):
        _canonical.decide(one, one, size, one, -1)


def test_canonical_memory_cap_counts_pairs():
    # 2,000 buffers all live together: about 2 million pairs.
    n = 2000
    start = np.zeros(n, np.int64)
    end = np.zeros(n, np.int64)
    assert _offsets._live_pairs(start, end) >= n * (n - 1) // 2
    # Disjoint buffers meet nobody.
    steps = np.arange(n, dtype=np.int64)
    assert _offsets._live_pairs(steps, steps) == 0
