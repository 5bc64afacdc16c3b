"""lowmem.arena_offsets against an independent checker, a brute-force
optimum on tiny instances, sparse time axes and bad input.

The checker below is written from the contract (buffers live over half-open
[lower, upper); those live at one time never share a byte), not from the
planner's code. The solver is only required to be optimal when it says so
(`proven`); otherwise its arena must merely be valid and not below the
optimum.
"""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lowmem
from lowmem import ArenaError, ArenaPlan, arena_offsets
from test_storage import brute_force_arena

SIZES = st.sampled_from([0, 1, 2, 3, 5, 8, 13, 64, 100])
TINY_TIME = 0.5            # tiny instances: the search finishes long before


# ------------------------------------------------------------ the checker
def overlap(lower, upper, i, j):
    """Buffers i and j are live at a common time: [lower, upper) intersect."""
    return lower[i] < upper[j] and lower[j] < upper[i]


def max_live(lower, upper, size, alignment=1):
    """The most (aligned) bytes live at one time, by brute force: the peak
    is reached at some buffer's lower time. O(b^2)."""
    padded = [-(-int(s) // alignment) * alignment for s in size]
    return max([sum(padded[j] for j in range(len(size)) if lower[j] <= t < upper[j])
                for t in lower] + [0])


def check_offsets(lower, upper, size, offsets, arena_bytes, alignment=1):
    """Offsets valid for an arena of arena_bytes: >= 0, multiples of the
    alignment, inside the arena, and no two buffers live at one time share
    a byte. O(b^2)."""
    n = len(size)
    offsets = [int(o) for o in offsets]
    assert len(offsets) == n
    for i in range(n):
        assert offsets[i] >= 0, i
        assert offsets[i] % alignment == 0, (i, offsets[i], alignment)
        assert offsets[i] + size[i] <= arena_bytes, (i, offsets[i], size[i], arena_bytes)
        for j in range(i):
            if size[i] and size[j] and overlap(lower, upper, i, j):
                assert (offsets[i] + size[i] <= offsets[j]
                        or offsets[j] + size[j] <= offsets[i]), (i, j, offsets)


def check_plan(lower, upper, size, plan, alignment=1, capacity=None):
    """Everything an ArenaPlan promises that can be checked without
    knowing the optimum."""
    assert isinstance(plan, ArenaPlan)
    check_offsets(lower, upper, size, plan.offsets, plan.arena_bytes, alignment)
    live = max_live(lower, upper, size, alignment)
    assert plan.lower_bound >= live >= max_live(lower, upper, size)
    assert plan.arena_bytes >= plan.lower_bound
    assert plan.arena_bytes % alignment == 0
    if plan.lower_bound == plan.arena_bytes:
        assert plan.proven            # nothing is below the lower bound
    assert plan.capacity == capacity
    if capacity is None:
        assert plan.fits is None
    elif plan.fits is True:
        assert plan.arena_bytes <= capacity
    else:
        # False: proven not to fit (checked against brute force where the
        # optimum is known); None: undecided.
        assert plan.fits in (False, None)
        assert plan.arena_bytes > capacity
    assert plan.nodes >= 0 and plan.seconds >= 0 and isinstance(plan.method, str)
    d = plan.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["offsets"] == [int(o) for o in plan.offsets]


def optimum(lower, upper, size, alignment=1):
    """The smallest arena, by brute force over placement orders (tests/
    test_storage.py; inclusive integer steps, so [lower, upper) is
    lower..upper - 1), each buffer taking its size rounded up to the
    alignment as arena_offsets documents."""
    units = [-(-int(s) // alignment) for s in size]
    return brute_force_arena(list(lower), [u - 1 for u in upper], units) * alignment


# --------------------------------------------------------------- instances
@st.composite
def buffers(draw, max_buffers=5, times=st.integers(0, 7), sizes=SIZES):
    """(lower, upper, size): live intervals drawn from `times`, sizes from
    `sizes`; upper > lower."""
    n = draw(st.integers(0, max_buffers))
    lower, upper, size = [], [], []
    for _ in range(n):
        a, b = draw(times), draw(times)
        if a == b:
            b = a + 1
        lower.append(min(a, b))
        upper.append(max(a, b))
        size.append(draw(sizes))
    return lower, upper, size


@st.composite
def sparse_times(draw):
    """A few distinct times anywhere in [-10**12, 10**12]: live intervals
    between them overlap often, and nothing may cost more for the span."""
    points = draw(st.lists(st.integers(-10**12, 10**12), min_size=2, max_size=8, unique=True))
    return st.sampled_from(sorted(points))


@st.composite
def sparse_buffers(draw, max_buffers=5):
    return draw(buffers(max_buffers=max_buffers, times=draw(sparse_times())))


# ----------------------------------------------------- valid and optimal
@settings(max_examples=250, deadline=None)
@given(buffers())
def test_tiny_instances_against_brute_force(case):
    lower, upper, size = case
    plan = arena_offsets(lower, upper, size, time_limit=TINY_TIME)
    check_plan(lower, upper, size, plan)
    best = optimum(lower, upper, size)
    assert plan.arena_bytes >= best
    assert plan.lower_bound <= best              # a bound, never above the optimum
    if plan.proven:
        assert plan.arena_bytes == best


@settings(max_examples=150, deadline=None)
@given(sparse_buffers())
def test_sparse_times_against_brute_force(case):
    lower, upper, size = case
    plan = arena_offsets(lower, upper, size, time_limit=TINY_TIME)
    check_plan(lower, upper, size, plan)
    best = optimum(lower, upper, size)
    assert best <= plan.arena_bytes and plan.lower_bound <= best
    if plan.proven:
        assert plan.arena_bytes == best


@settings(max_examples=100, deadline=None)
@given(buffers(max_buffers=4), st.sampled_from([1, 2, 4, 8, 64]))
def test_alignment(case, alignment):
    lower, upper, size = case
    plan = arena_offsets(lower, upper, size, time_limit=TINY_TIME, alignment=alignment)
    check_plan(lower, upper, size, plan, alignment=alignment)
    best = optimum(lower, upper, size, alignment)
    assert plan.arena_bytes >= best
    if plan.proven:
        assert plan.arena_bytes == best


@settings(max_examples=60, deadline=None)
@given(buffers(max_buffers=40, times=st.integers(0, 30),
               sizes=st.integers(0, 1000)),
       st.sampled_from([0, 0.01]))
def test_larger_instances_valid(case, time_limit):
    lower, upper, size = case
    plan = arena_offsets(lower, upper, size, time_limit=time_limit)
    check_plan(lower, upper, size, plan)


@settings(max_examples=40, deadline=None)
@given(buffers(max_buffers=30, times=st.integers(-10**12, 10**12), sizes=st.integers(0, 10**9)))
def test_huge_sparse_times_valid(case):
    lower, upper, size = case
    plan = arena_offsets(lower, upper, size, time_limit=0.01)
    check_plan(lower, upper, size, plan)


@settings(max_examples=100, deadline=None)
@given(buffers(max_buffers=5), st.integers(0, 10**6), st.integers(1, 10**6))
def test_only_the_order_of_times_matters(case, shift, stretch):
    # A strictly increasing map of the times changes no overlap, so not the
    # optimum: two proven arenas are equal.
    lower, upper, size = case
    a = arena_offsets(lower, upper, size, time_limit=TINY_TIME)
    moved = lambda ts: [t * stretch + shift for t in ts]            # noqa: E731
    b = arena_offsets(moved(lower), moved(upper), size, time_limit=TINY_TIME)
    check_plan(moved(lower), moved(upper), size, b)
    if a.proven and b.proven:
        assert a.arena_bytes == b.arena_bytes


def test_half_open_intervals():
    # [0, 2) and [2, 4) are never live together: they share offset 0.
    plan = arena_offsets([0, 2], [2, 4], [100, 100])
    assert plan.arena_bytes == plan.lower_bound == 100 and plan.proven
    assert list(plan.offsets) == [0, 0]
    # [0, 3) and [2, 4) are, at time 2.
    plan = arena_offsets([0, 2], [3, 4], [100, 100])
    assert plan.arena_bytes == 200 and sorted(plan.offsets) == [0, 100]


def test_no_buffers_and_zero_sizes():
    for lower, upper, size in (([], [], []), ([0, 0], [5, 5], [0, 0])):
        plan = arena_offsets(lower, upper, size)
        check_plan(lower, upper, size, plan)
        assert plan.arena_bytes == plan.lower_bound == 0 and plan.proven
        plan = arena_offsets(lower, upper, size, capacity=0)
        assert plan.fits is True and plan.arena_bytes == 0


def test_numpy_inputs_and_ids():
    lower = np.array([0, 1, 2], dtype=np.int32)
    upper = np.array([2, 3, 4], dtype=np.uint64)
    size = [1.0, 2, np.int64(3)]             # integer-valued floats are integers
    plan = arena_offsets(lower, upper, size, ids=["x", "y", "z"])
    check_plan([0, 1, 2], [2, 3, 4], [1, 2, 3], plan)
    assert plan.offsets.dtype == np.int64


# ----------------------------------------------------------- capacity mode
@settings(max_examples=200, deadline=None)
@given(buffers(), st.integers(-3, 3))
def test_capacity_against_brute_force(case, delta):
    lower, upper, size = case
    best = optimum(lower, upper, size)
    capacity = max(0, best + delta)
    plan = arena_offsets(lower, upper, size, capacity=capacity, time_limit=TINY_TIME)
    check_plan(lower, upper, size, plan, capacity=capacity)
    assert plan.arena_bytes >= best
    if plan.fits is True:
        assert plan.arena_bytes <= capacity
    if plan.fits is False:
        assert best > capacity                   # never a wrong "does not fit"
    if capacity >= best:
        assert plan.fits is not False
    if capacity < max_live(lower, upper, size):
        assert plan.fits is False                # the live bound proves it at once


@settings(max_examples=60, deadline=None)
@given(buffers(max_buffers=40, times=st.integers(0, 30), sizes=st.integers(1, 1000)),
       st.floats(0, 1.5))
def test_capacity_below_the_live_bound(case, fraction):
    lower, upper, size = case
    live = max_live(lower, upper, size)
    if live == 0:
        return
    capacity = min(live - 1, int(live * fraction))
    plan = arena_offsets(lower, upper, size, capacity=capacity, time_limit=0.01)
    check_plan(lower, upper, size, plan, capacity=capacity)
    assert plan.fits is False and plan.lower_bound > capacity


def test_capacity_that_fits():
    lower, upper, size = [0, 1, 2, 3], [2, 3, 4, 5], [10, 20, 30, 40]
    plan = arena_offsets(lower, upper, size, capacity=10**6)
    check_plan(lower, upper, size, plan, capacity=10**6)
    assert plan.fits is True and plan.arena_bytes <= 10**6


# ------------------------------------------------------------- bad input
def _raises(words, *args, **kwargs):
    with pytest.raises(ArenaError) as info:
        arena_offsets(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message, message
    for word in words:
        assert word in message, (word, message)
    return message


OK = ([0, 0, 0, 0], [1, 1, 1, 1], [1, 2, 3, 4])


@pytest.mark.parametrize("lower,upper,size,words", [
    (OK[0], OK[1], [1, 2, 3, -4], ["buffer 3", "size", "-4", "negative"]),
    ([0, 0, 0, 5], OK[1], OK[2], ["buffer 3", "upper", "lower"]),
    ([0, 0, 0, 1], OK[1], OK[2], ["buffer 3", "upper", "lower"]),       # upper == lower
    (OK[0], [1, 1, 1, 1.5], OK[2], ["buffer 3", "upper", "1.5", "integer"]),
    (OK[0], OK[1], [1, 2, 3, 4.5], ["buffer 3", "size", "integer"]),
    (OK[0], OK[1], [1, 2, 3, float("nan")], ["buffer 3", "size"]),
    (OK[0], OK[1], [1, 2, 3, None], ["buffer 3", "size"]),
    (OK[0], OK[1], [True, False, True, True], ["buffer 0", "size", "True"]),
    (OK[0], OK[1], ["1", "2", "3", "4"], ["buffer 0", "size", "integer"]),
    (OK[0], OK[1], [1, 2, 3, 2**70], ["buffer 3", "size"]),
    (OK[0], OK[1], [1, 2, 3], ["lengths", "4", "3"]),
    (OK[0][:2], OK[1], OK[2], ["lengths"]),
    (OK[0], OK[1], "1234", ["size"]),
    (OK[0], OK[1], 5, ["size"]),
    (OK[0], OK[1], [2**59, 2**59, 2**59, 1], ["2**60"]),
])
def test_bad_buffers(lower, upper, size, words):
    _raises(words, lower, upper, size)


def test_bool_among_integers():
    _raises(["buffer 3", "size", "True"], OK[0], OK[1], [1, 2, 3, True])


def test_string_among_integers_names_its_buffer():
    _raises(["buffer 3", "size", "'4'"], OK[0], OK[1], [1, 2, 3, "4"])


def test_bad_buffer_named_by_id():
    ids = ["in", "w", "out", "tmp"]
    assert "buffer 'tmp'" in _raises(["size"], OK[0], OK[1], [1, 2, 3, -1], ids=ids)
    assert "buffer 'tmp'" in _raises(["upper"], [0, 0, 0, 2], OK[1], OK[2], ids=ids)
    _raises(["ids", "lengths"], OK[0], OK[1], OK[2], ids=ids[:3])


@pytest.mark.parametrize("options,words", [
    ({"capacity": -1}, ["capacity", "-1"]),
    ({"capacity": 1.5}, ["capacity", "1.5"]),
    ({"capacity": True}, ["capacity"]),
    ({"capacity": "100"}, ["capacity"]),
    ({"capacity": 2**60}, ["capacity"]),
    ({"alignment": 0}, ["alignment"]),
    ({"alignment": -8}, ["alignment"]),
    ({"alignment": 2.0}, ["alignment"]),
    ({"alignment": False}, ["alignment"]),
    ({"time_limit": -1}, ["time_limit"]),
    ({"time_limit": float("nan")}, ["time_limit"]),
    ({"time_limit": float("inf")}, ["time_limit"]),
    ({"time_limit": "1"}, ["time_limit"]),
    ({"time_limit": True}, ["time_limit"]),
])
def test_bad_options(options, words):
    _raises(words, *OK, **options)


def test_arena_error_is_a_value_error():
    assert issubclass(ArenaError, ValueError)
    assert lowmem.ArenaError is ArenaError and lowmem.arena_offsets is arena_offsets


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 200, 5000]))
def test_node_budget_alone_is_deterministic(seed, budget):
    """time_limit=None with a node budget: valid, and the same plan twice."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    lower = rng.integers(0, 40, n)
    upper = lower + rng.integers(1, 20, n)
    size = rng.integers(1, 1000, n)
    a = arena_offsets(lower, upper, size, time_limit=None, node_budget=budget)
    b = arena_offsets(lower, upper, size, time_limit=None, node_budget=budget)
    check_plan(lower, upper, size, a)
    assert np.array_equal(a.offsets, b.offsets) and a.arena_bytes == b.arena_bytes
    assert a.method == b.method and a.proven == b.proven


def test_node_budget_checked():
    _raises(["node_budget"], OK[0], OK[1], [1, 2, 3, 4], node_budget=-1)
    _raises(["node_budget"], OK[0], OK[1], [1, 2, 3, 4], node_budget=1.5)
    _raises(["time_limit", "node_budget"], OK[0], OK[1], [1, 2, 3, 4], time_limit=None)
