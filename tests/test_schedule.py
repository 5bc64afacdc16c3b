"""lowmem.schedule against the brute-force oracle, and the core's evaluation
(_scheduler.core_peak) against the reference model."""

import glob
import json
import math
import os
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bruteforce as bf
import cases
import lowmem
import strategies as gs
from lowmem._model import check_order

HEURISTICS = {"default", "dfs", "dfs_reversed", "dfs_orderings_after",
              "dfs_reversed_orderings_after", "xla_dfs", "greedy", "greedy_dfs_ties", "lpmf",
              "lpmf_dfs_ties"}
STATS = {"states", "memo_hits", "seconds", "segments", "timed_out"}
EXAMPLES = sorted(glob.glob(os.path.join(os.path.dirname(lowmem.__file__), "examples", "*.json")))


def check_schedule(g, s):
    """Every guarantee of a Schedule that holds whatever the time limit."""
    assert isinstance(s.order, np.ndarray) and s.order.dtype == np.int64
    assert s.order.shape == (g.n_nodes,)
    check_order(g, s.order)
    for attr in ("peak", "lower_bound", "default_peak"):
        assert type(getattr(s, attr)) is int, attr
    assert type(s.optimal) is bool
    assert lowmem.peak(g, s.order) == s.peak
    assert s.default_peak == lowmem.peak(g)
    assert 0 <= s.lower_bound <= s.peak <= s.default_peak
    assert set(s.heuristic_peaks) == HEURISTICS
    assert s.heuristic_peaks["default"] == s.default_peak
    for name, p in s.heuristic_peaks.items():
        assert type(p) is int and s.peak <= p, name
    assert STATS <= set(s.stats)
    assert s.stats["seconds"] >= 0
    if s.optimal:
        assert s.lower_bound == s.peak or not s.stats["timed_out"]
    d = s.to_dict()
    json.dumps(d)                                    # plain Python types only
    assert d["order"] == s.order.tolist()
    assert d["peak"] == s.peak and d["optimal"] == s.optimal


# --------------------------------------------------------------- exactness
@settings(max_examples=300, deadline=None)
@given(gs.graphs())
def test_schedule_is_optimal_on_small_graphs(g):
    best = bf.min_peak(g)
    s = lowmem.schedule(g, time_limit=10)
    check_schedule(g, s)
    assert s.peak == best
    assert s.optimal
    assert not s.stats["timed_out"]
    s2 = lowmem.schedule(g, time_limit=10, decompose=False)
    check_schedule(g, s2)
    assert s2.peak == best and s2.optimal


@settings(max_examples=300, deadline=None)
@given(gs.graphs_with_order())
def test_core_peak_matches_reference(g_order):
    from lowmem._scheduler import core_peak
    g, order = g_order
    assert core_peak(g, order) == lowmem.peak(g, order)
    assert core_peak(g, np.array(order, dtype=np.int64)) == lowmem.peak(g, order)


def test_core_peak_rejects_invalid_orders():
    from lowmem._scheduler import core_peak
    g = cases.all_orders_example()
    for bad in ([3, 0, 1, 2], [1, 0, 2, 3], [0, 1, 2], [0, 1, 2, 2]):
        with pytest.raises(lowmem.OrderError):
            core_peak(g, bad)


@pytest.mark.parametrize("seed", range(4))
def test_core_peak_on_larger_random_graphs(seed):
    from lowmem._scheduler import core_peak
    rng = random.Random(seed)
    g = gs.random_graph(rng, n_nodes=80)
    for _ in range(5):
        order = bf.random_order(g, rng)
        assert core_peak(g, order) == lowmem.peak(g, order)


@pytest.mark.parametrize("seed", range(6))
def test_medium_graphs_against_dp(seed):
    # 13-14 nodes: beyond enumeration, still fine for the DP over executed sets.
    rng = random.Random(100 + seed)
    g = gs.random_graph(rng, n_nodes=13 + seed % 2, max_size=1000, n_orderings=2)
    best = bf.min_peak_dp(g)[0]
    s = lowmem.schedule(g, time_limit=10)
    check_schedule(g, s)
    assert s.peak == best and s.optimal


# ------------------------------------------------------------ hand cases
@pytest.mark.parametrize("name", sorted(cases.ALL_CASES))
@pytest.mark.parametrize("decompose", [True, False])
def test_hand_cases(name, decompose):
    build, expected = cases.ALL_CASES[name]
    g = build()
    s = lowmem.schedule(g, time_limit=10, decompose=decompose)
    check_schedule(g, s)
    assert s.peak == expected
    assert s.optimal


def test_theano_profiling_chains():
    # 8 outer/sum chains (32 nodes): the optimum is 4096 + 4k KB by hand
    # (one 4 MiB matrix at a time, k - 1 finished sums live, plus one sum).
    for k in (4, 8):
        g = cases.theano_profiling(k)
        s = lowmem.schedule(g, time_limit=10)
        check_schedule(g, s)
        assert s.peak == cases.theano_profiling_peak(k)


def test_exp_sum_plus_alloc_inplace_order():
    s = lowmem.schedule(cases.exp_sum_plus_alloc(inplace=True), time_limit=10)
    assert s.order.tolist() == [0, 1, 2, 3]      # the only optimal order


def test_empty_graph():
    g = lowmem.Graph([], [])
    s = lowmem.schedule(g)
    check_schedule(g, s)
    assert s.peak == 0 and s.optimal and s.order.tolist() == []


# ------------------------------------------------------------ time limits
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("time_limit", [0, 1e-6])
def test_tiny_time_limit_still_valid(seed, time_limit):
    g = gs.random_graph(random.Random(seed), n_nodes=60)
    s = lowmem.schedule(g, time_limit=time_limit)
    check_schedule(g, s)
    if s.optimal:
        assert s.lower_bound == s.peak
    else:
        assert s.lower_bound < s.peak


@pytest.mark.parametrize("seed", range(3))
def test_anytime_improves_with_time(seed):
    g = gs.random_graph(random.Random(1000 + seed), n_nodes=60)
    quick = lowmem.schedule(g, time_limit=1e-6)
    longer = lowmem.schedule(g, time_limit=0.5)
    check_schedule(g, longer)
    assert longer.peak <= quick.peak
    assert longer.lower_bound >= quick.lower_bound or longer.optimal


def test_memory_limit_accepted():
    g = gs.random_graph(random.Random(7), n_nodes=40)
    s = lowmem.schedule(g, time_limit=0.2, memory_limit=2**20)
    check_schedule(g, s)


BAD_ARGUMENTS = [  # (argument, value, exception)
    ("time_limit", -1.0, ValueError), ("time_limit", math.nan, ValueError),
    ("time_limit", -math.inf, ValueError), ("time_limit", True, TypeError),
    ("time_limit", "1", TypeError), ("time_limit", None, TypeError),
    ("memory_limit", -5, ValueError), ("memory_limit", 2**20 - 1, ValueError),
    ("memory_limit", 2**62, ValueError), ("memory_limit", 2**63, ValueError),
    ("memory_limit", 2**70, ValueError), ("memory_limit", True, TypeError),
    ("memory_limit", 2.0**30, TypeError), ("memory_limit", math.nan, TypeError),
    ("tolerance_bytes", -1, ValueError), ("tolerance_bytes", 2**70, ValueError),
    ("tolerance_bytes", 2**62, ValueError), ("tolerance_bytes", False, TypeError),
    ("tolerance_bytes", 0.5, TypeError),
    ("tolerance_ratio", math.inf, ValueError), ("tolerance_ratio", math.nan, ValueError),
    ("tolerance_ratio", -0.1, ValueError), ("tolerance_ratio", True, TypeError),
    ("tolerance_ratio", "0", TypeError),
    # decompose takes True or False only, as plan_storage's flags do.
    ("decompose", "no", TypeError), ("decompose", "False", TypeError),
    ("decompose", None, TypeError), ("decompose", 2.5, TypeError), ("decompose", [], TypeError),
    ("decompose", 1, TypeError),
]


@pytest.mark.parametrize("name,value,error", BAD_ARGUMENTS)
def test_bad_arguments(name, value, error):
    # Never an OverflowError or a deep traceback: the error names the argument.
    with pytest.raises(error, match=name):
        lowmem.schedule(cases.join_twice(), **{name: value})


@pytest.mark.parametrize("kwargs", [
    {"time_limit": math.inf}, {"time_limit": 10**400}, {"time_limit": np.float32(0.5)},
    {"memory_limit": 2**62 - 1}, {"memory_limit": np.int64(2**21)},
    {"tolerance_bytes": 2**62 - 1}, {"tolerance_ratio": 1e300}, {"tolerance_ratio": 10**400},
    {"tolerance_ratio": 1e308}, {"tolerance_ratio": np.finfo(np.float64).max},
    {"decompose": False}, {"decompose": np.bool_(False)}])
def test_extreme_but_valid_arguments(kwargs):
    g = cases.join_twice()
    s = lowmem.schedule(g, **kwargs)
    check_schedule(g, s)
    if "tolerance_bytes" in kwargs or "tolerance_ratio" in kwargs:
        assert s.stats["searched_segments"] == 0      # every order is within tolerance
    else:
        assert s.optimal and s.peak == bf.min_peak(g)


def huge_graph():
    """A graph whose total (all variable sizes + the largest workspace) is
    just under the 2**62 that Graph accepts: a 2**61-byte buffer made in
    one segment and read in the next (where the core once counted it
    twice), two branches and a huge workspace, so that the order matters."""
    q = 2**59
    sizes = [0, 4 * q, 1000, q, q, 1000]
    ws = 2**62 - 6 - sum(sizes)
    nodes = [{"inputs": [0], "outputs": [1]},
             {"inputs": [1], "outputs": [2]},
             {"inputs": [2], "outputs": [3]},
             {"inputs": [2], "outputs": [4], "workspace": ws},   # best run first
             {"inputs": [1, 3, 4], "outputs": [5]}]
    return lowmem.Graph(sizes, nodes, outputs=[5])


def test_graphs_up_to_the_graph_limit_schedule():
    g = huge_graph()
    assert sum(map(int, g.var_size)) + int(g.node_workspace.max()) == 2**62 - 6
    s = lowmem.schedule(g, time_limit=10)
    check_schedule(g, s)
    assert s.peak == bf.min_peak(g) and s.optimal
    assert s.stats["segments"] == 2
    assert s.peak < s.default_peak                      # node 3 had to move first
    for order in bf.all_orders(g):
        from lowmem._scheduler import core_peak
        assert core_peak(g, order) == lowmem.peak(g, order)
    plan = lowmem.plan_storage(g, s.order)
    assert plan.order_peak == s.peak and plan.peak <= s.peak
    assert lowmem.plan_storage(g).order_peak == s.default_peak


def test_not_a_graph():
    with pytest.raises(TypeError, match="graph must be a lowmem.Graph, got dict"):
        lowmem.schedule(cases.join_twice().to_dict())


@pytest.mark.parametrize("ratio", [3.0, 1e200, 1e308])
def test_huge_tolerance_ratio_on_a_huge_graph(ratio):
    # ratio x lower bound (about 2**61 here) is above 2**62 or infinite:
    # clamped (1e308 raised OverflowError), and every order is within it.
    g = huge_graph()
    s = lowmem.schedule(g, time_limit=10, tolerance_ratio=ratio)
    check_schedule(g, s)
    # No search: the best first order is kept as it is.
    assert s.stats["searched_segments"] == 0 and s.stats["neighbourhoods"] == 0
    assert s.peak == min(s.heuristic_peaks.values())


# --------------------------------------------------------------- examples
@pytest.mark.skipif(not EXAMPLES, reason="no example graphs")
@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_example_graphs(path):
    g = lowmem.load(path)
    s = lowmem.schedule(g, time_limit=2)
    check_schedule(g, s)


@settings(max_examples=150, deadline=None)
@given(gs.graphs(max_nodes=12, min_nodes=10))
def test_schedule_is_optimal_on_medium_hypothesis_graphs(g):
    best = bf.min_peak(g)
    s = lowmem.schedule(g, time_limit=10)
    check_schedule(g, s)
    assert s.peak == best and s.optimal


@pytest.mark.parametrize("k", [3, 4, 5, 6, 7, 8, 40])
def test_theano_profiling_optimised_family_proven(k):
    # Same optimum as Theano's count_minimum_peak (4096 + 4(k-1) KB, which
    # it reports for k = 3..8), proven optimal by the bounds.
    g = cases.theano_profiling_optimised(k)
    s = lowmem.schedule(g, time_limit=30)
    check_schedule(g, s)
    assert s.peak == (4096 + 4 * (k - 1)) * 1024
    assert s.optimal and s.lower_bound == s.peak


def diamond_chain(blocks, seed=0):
    """`blocks` diamonds in a row (one segment each), big-then-small
    branches listed breadth first, so each has a better order."""
    rng = random.Random(seed)
    variables, nodes, a = [{"size": 64, "name": "x"}], [], 0
    for _ in range(blocks):
        p1 = len(variables)
        variables += [rng.randint(500, 1000), rng.randint(500, 1000),
                      rng.randint(1, 50), rng.randint(1, 50), rng.randint(1, 100)]
        nodes += [{"inputs": [a], "outputs": [p1]}, {"inputs": [a], "outputs": [p1 + 1]},
                  {"inputs": [p1], "outputs": [p1 + 2]}, {"inputs": [p1 + 1], "outputs": [p1 + 3]},
                  {"inputs": [p1 + 2, p1 + 3], "outputs": [p1 + 4]}]
        a = p1 + 4
    return lowmem.Graph(variables, nodes, outputs=[a])


def test_time_spent_in_preparation_merges_the_rest():
    # With no time left the segments not yet planned are planned as one, so
    # the cost does not grow with their number; the order stays valid and
    # no worse than the listed one. With time, every segment is solved.
    g = diamond_chain(60)
    quick = lowmem.schedule(g, time_limit=0)
    check_schedule(g, quick)
    assert quick.stats["segments"] == 1 and quick.stats["states"] == 0
    full = lowmem.schedule(g, time_limit=30)
    check_schedule(g, full)
    assert full.stats["segments"] == 60 and full.optimal
    assert full.peak <= quick.peak < quick.default_peak


def wide_pairs(n, seed=1):
    """n nodes reading one input, then n nodes each reading two neighbours'
    outputs (a ring): n ready nodes at once, and a search that has to work
    (the bounds do not prove the heuristics' order at once)."""
    rng = random.Random(seed)
    variables, nodes = [8], []
    for _ in range(n):
        nodes.append({"inputs": [0], "outputs": [len(variables)]})
        variables += [rng.randint(100, 1000), rng.randint(1, 50)]
    nodes += [{"inputs": [1 + 2 * i, 1 + 2 * ((i + 1) % n)], "outputs": [2 + 2 * i]}
              for i in range(n)]
    return lowmem.Graph(variables, nodes, outputs=[2 + 2 * i for i in range(n)])


def test_time_limit_holds_with_many_ready_nodes():
    # The search sorted each state's candidates by insertion (quadratic in
    # the ready nodes) and read the clock every 1,024 states: with 50,000
    # ready nodes time_limit=1 took 103 s; 20,000 here: the search alone took
    # 34 s for time_limit=0.3. The limit is 1 s here so that preparation (ten
    # first orders and the bounds of 40,000 nodes, ~0.16 s, twice that on a
    # loaded machine) leaves the search some time.
    import time
    g = wide_pairs(20000)
    g.predecessors(), g.successors()          # cached by Graph, as after loading
    t = time.perf_counter()
    s = lowmem.schedule(g, time_limit=1.0)
    seconds = time.perf_counter() - t
    assert s.stats["states"] > 0 and s.stats["timed_out"] and not s.optimal
    assert s.peak <= min(s.heuristic_peaks.values())
    assert lowmem.peak(g, s.order) == s.peak
    assert seconds < 1.0 + 0.5, seconds


@settings(max_examples=150, deadline=None)
@given(gs.graphs(max_nodes=9), st.sampled_from([0.0, 0.05]), st.booleans())
def test_never_above_a_first_order(g, time_limit, decompose):
    """Every structural first order's reported peak is its peak on the whole
    graph, and lowmem's peak is at most each (issue 9, part 6)."""
    from lowmem._orders import structural_orders
    s = lowmem.schedule(g, time_limit=time_limit, decompose=decompose)
    for name, order in structural_orders(g).items():
        assert s.heuristic_peaks[name] == lowmem.peak(g, order)
    assert s.heuristic_peaks["default"] == lowmem.peak(g)
    assert s.peak == lowmem.peak(g, s.order) <= min(s.heuristic_peaks.values())
    assert s.stats["first_order"] in HEURISTICS | {"parts_merge"}
    assert s.stats["bound_source"] in {"working_set", "pinned", "forced_live", "last_of_set",
                                       "min_cut", "min_cut_pairs", "search", "parts_merge"}


def _independent_chains(n, seed):
    """n chains a -> b (b reads a, b is an output), random sizes."""
    rng = random.Random(seed)
    variables, nodes, outputs = [], [], []
    for _ in range(n):
        a = len(variables)
        variables += [rng.randint(100, 1000), rng.randint(1, 300)]
        nodes += [{"inputs": [], "outputs": [a]}, {"inputs": [a], "outputs": [a + 1]}]
        outputs.append(a + 1)
    return lowmem.Graph(variables, nodes, outputs=outputs)


@pytest.mark.parametrize("seed", range(4))
def test_independent_chains_are_merged_and_proven(seed):
    """Independent parts are solved alone and merged (issue 9, part 4): 4
    chains match brute force; 40 chains (seed 1 took 10 s unproven before)
    are proven by the merge without a search."""
    small = _independent_chains(4, seed)
    s = lowmem.schedule(small, time_limit=1)
    assert s.optimal and s.peak == bf.min_peak(small) == lowmem.peak(small, s.order)
    big = _independent_chains(40, seed)
    s = lowmem.schedule(big, time_limit=1)
    assert s.optimal and s.stats["bound_source"] in ("parts_merge", "min_cut", "forced_live",
                                                     "last_of_set", "pinned", "working_set")
    assert s.stats["states"] == 0 and s.peak == lowmem.peak(big, s.order)


@settings(max_examples=200, deadline=None)
@given(gs.graphs(max_nodes=7))
def test_one_order_means_a_single_valid_order(g):
    """_one_order (the fast path for segments with nothing to choose) holds
    exactly when brute force counts one valid order."""
    from lowmem._problem import buffer_tables, subproblem
    from lowmem._scheduler import _one_order
    n = g.n_nodes
    sub = subproblem(buffer_tables(g), np.arange(n), np.zeros(n, dtype=bool), 0)
    assert _one_order(sub) == (bf.count_orders(g, cap=2) <= 1)


def test_a_search_out_of_memory_returns_at_once():
    """With the least memory allowed (1 MiB) on a wide graph the search's
    candidate stack fills after a few dozen states; once the windows stall
    too, the call returns the best order found (about 6 s here) instead of
    spinning until its 60 s limit."""
    g = wide_pairs(3000)
    s = lowmem.schedule(g, time_limit=60, memory_limit=2**20)
    assert not s.stats["timed_out"] and s.stats["seconds"] < 30
    assert s.peak == lowmem.peak(g, s.order) <= min(s.heuristic_peaks.values())


@settings(max_examples=60, deadline=None)
@given(gs.graphs_with_order(max_nodes=9, min_nodes=1))
def test_a_start_order_is_never_beaten_by_the_result(pair):
    g, start = pair
    s = lowmem.schedule(g, time_limit=0.0, start_order=start)
    check_order(g, s.order)
    assert s.peak == lowmem.peak(g, s.order)
    assert s.peak <= lowmem.peak(g, start)
    assert s.lower_bound <= bf.min_peak(g)


def test_a_start_order_better_than_every_first_order_is_kept():
    """On random 60-node graphs with no search time, the result is at most
    the start order's peak, and it starts from the start order when that
    order beats every heuristic (so it is reported as the first order)."""
    kept = 0
    for seed in range(12):
        g = gs.random_graph(random.Random(seed), n_nodes=60)
        best = lowmem.schedule(g, time_limit=2.0)
        plain = lowmem.schedule(g, time_limit=0.0)
        s = lowmem.schedule(g, time_limit=0.0, start_order=best.order)
        assert s.peak <= best.peak
        if best.peak < plain.peak:
            kept += 1
            assert s.stats["first_order_wins"].get("start", 0) >= 1
    assert kept >= 1


@pytest.mark.parametrize("bad", [[0], [1, 0, 2, 3], "x", [[0, 1]]])
def test_an_invalid_start_order_is_an_order_error_naming_it(bad):
    g = lowmem.Graph.from_dict({
        "format": "lowmem-graph", "version": 1,
        "variables": [{"size": 4} for _ in range(4)],
        "nodes": [{"inputs": [], "outputs": [0]}] + [
            {"inputs": [i], "outputs": [i + 1]} for i in range(3)],
        "outputs": [3]})
    with pytest.raises(lowmem.OrderError, match="start_order"):
        lowmem.schedule(g, start_order=bad)
