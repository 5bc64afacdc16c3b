"""The reference memory model (lowmem.peak, memory_timeline) on hand-made cases.

Every number here is worked out by hand (see the docstrings in cases.py and
the comments below) and cross-checked with the brute force.
"""

import numpy as np
import pytest

import bruteforce as bf
import cases
import lowmem
from cases import KB, MiB
from lowmem import Graph, OrderError


def timeline(g, order=None):
    if order is None:
        order = g.default_order()
    t = lowmem.memory_timeline(g, order)
    assert isinstance(t, np.ndarray) and t.dtype == np.int64
    return t.tolist()


def all_peaks(g):
    return {tuple(o): lowmem.peak(g, o) for o in bf.all_orders(g)}


# ------------------------------------------------------- Theano's cases
def test_join_twice():
    g = cases.join_twice()
    assert timeline(g) == [2 * MiB, 4 * MiB, 8 * MiB]
    assert lowmem.peak(g) == 8192 * KB == cases.JOIN_TWICE_PEAK
    assert bf.min_peak(g) == 8192 * KB                      # not Theano's 6144 KB


def test_exp_sum_plus_alloc():
    g = cases.exp_sum_plus_alloc()
    M, v = 2 * MiB, 4096
    E, S, A, D = 0, 1, 2, 3
    assert timeline(g, [E, S, A, D]) == [v, v + 8, 8 + M, 8 + M + M]
    assert timeline(g, [E, A, S, D]) == [v, v + M, v + M + 8, 8 + M + M]
    assert timeline(g, [A, E, S, D]) == [M, M + v, M + v + 8, 8 + M + M]
    assert all_peaks(g) == {(E, S, A, D): 4 * MiB + 8, (E, A, S, D): 4 * MiB + 8,
                            (A, E, S, D): 4 * MiB + 8}
    assert bf.min_peak(g) == cases.EXP_SUM_PLUS_ALLOC_PEAK == 4194312   # not Theano's 4 KB


def test_exp_sum_plus_alloc_inplace():
    g = cases.exp_sum_plus_alloc(inplace=True)
    M, v = 2 * MiB, 4096
    E, S, A, D = 0, 1, 2, 3
    assert timeline(g, [E, S, A, D]) == [v, v + 8, 8 + M, 8 + M]
    assert timeline(g, [E, A, S, D]) == [v, v + M, v + M + 8, 8 + M]
    assert all_peaks(g) == {(E, S, A, D): M + 8, (E, A, S, D): M + v + 8,
                            (A, E, S, D): M + v + 8}
    assert bf.min_peak(g) == cases.EXP_SUM_PLUS_ALLOC_INPLACE_PEAK == 2097160
    assert lowmem.peak(g) == cases.EXP_SUM_PLUS_ALLOC_INPLACE_DEFAULT


def test_theano_profiling_graph():
    g = cases.theano_profiling()
    assert g.n_nodes == 8
    # Listed order: Alloc0 Ger0 Sum0 Alloc1 Ger1 Sum1 Add0 Add1.
    assert timeline(g) == [4096 * KB, 4096 * KB, 4100 * KB, 4100 * KB, 4100 * KB, 4104 * KB,
                           12 * KB, 16 * KB]
    peaks = all_peaks(g)
    assert len(peaks) == 1120
    assert min(peaks.values()) == 4104 * KB == cases.THEANO_PROFILING_PEAK
    assert bf.min_peak_dp(g)[0] == 4104 * KB
    # Worst order: both adds (8 KB, outputs), both allocs, then a sum: 8 + 8192 + 4 KB
    # (Theano's profiler prints 8204KB as its "max" too).
    assert max(peaks.values()) == 8204 * KB


def test_theano_profiling_graph_k3():
    g = cases.theano_profiling(3)
    assert bf.min_peak_dp(g)[0] == cases.theano_profiling_peak(3) == 4108 * KB


# ------------------------------------------------------- model rules
def test_view_keeps_buffer_alive():
    g = cases.view_keeps_buffer_alive()
    # f: a | view: nothing new | g: a + w, then a freed | h: w + y
    assert timeline(g) == [100, 100, 110, 1010]
    # Running h before g: a is still alive through its view.
    assert timeline(g, [0, 1, 3, 2]) == [100, 100, 1100, 1110]


def test_view_chain_keeps_root_alive():
    # a = f(x) 100; v1 = view(a); v2 = view(v1); z = g(x) 7; w = h(v2) 1
    g = Graph([3, 100, 50, 60, 7, 1],
              [{"inputs": [0], "outputs": [1]},
               {"inputs": [1], "outputs": [2], "aliases": {"0": {"input": 0, "kind": "view"}}},
               {"inputs": [2], "outputs": [3], "aliases": {"0": {"input": 0, "kind": "view"}}},
               {"inputs": [0], "outputs": [4]},
               {"inputs": [3], "outputs": [5]}],
              outputs=[4, 5])
    assert timeline(g) == [100, 100, 100, 107, 108]
    assert timeline(g, [3, 0, 1, 2, 4]) == [7, 107, 107, 107, 108]


def test_view_output_pins_buffer():
    # a = f(x) 100; v = view(a) is a graph output: a is never freed.
    g = Graph([3, 100, 0, 5],
              [{"inputs": [0], "outputs": [1]},
               {"inputs": [1], "outputs": [2], "aliases": {"0": {"input": 0, "kind": "view"}}},
               {"inputs": [0], "outputs": [3]}],
              outputs=[2, 3])
    assert timeline(g) == [100, 100, 105]


def test_destroy_allocates_nothing_and_keeps_buffer():
    # a = f(x) 100; d = inc_inplace(a) (destroy); w = g(d) 10; output w.
    g = Graph([3, 100, 100, 10],
              [{"inputs": [0], "outputs": [1]},
               {"inputs": [1, 0], "outputs": [2], "aliases": {"0": {"input": 0, "kind": "destroy"}}},
               {"inputs": [2], "outputs": [3]}],
              outputs=[3])
    assert timeline(g) == [100, 100, 110]
    # Same graph without the alias: the in-place node would allocate 100 more.
    g2 = Graph([3, 100, 100, 10],
               [{"inputs": [0], "outputs": [1]}, {"inputs": [1, 0], "outputs": [2]},
                {"inputs": [2], "outputs": [3]}], outputs=[3])
    assert timeline(g2) == [100, 200, 110]


def test_destroyed_output_is_pinned():
    # d = destroy(a) is an output: a's buffer stays for good.
    g = Graph([3, 100, 100, 10],
              [{"inputs": [0], "outputs": [1]},
               {"inputs": [1], "outputs": [2], "aliases": {"0": {"input": 0, "kind": "destroy"}}},
               {"inputs": [0], "outputs": [3]}],
              outputs=[2, 3])
    assert timeline(g) == [100, 100, 110]


def test_alias_of_graph_input_costs_nothing():
    g = Graph([1000, 1000, 1000, 10],
              [{"inputs": [0], "outputs": [1], "aliases": {"0": {"input": 0, "kind": "view"}}},
               {"inputs": [1], "outputs": [2], "aliases": {"0": {"input": 0, "kind": "destroy"}}},
               {"inputs": [2], "outputs": [3]}],
              outputs=[2, 3])
    assert timeline(g) == [0, 0, 10]


def test_workspace_counts_only_at_its_step():
    # a = f(x) 100 with 1000 workspace; b = g(a) 10 with 5; c = h(b) 1.
    g = Graph([3, 100, 10, 1],
              [{"inputs": [0], "outputs": [1], "workspace": 1000},
               {"inputs": [1], "outputs": [2], "workspace": 5},
               {"inputs": [2], "outputs": [3]}],
              outputs=[3])
    assert timeline(g) == [1100, 115, 11]
    assert lowmem.peak(g) == 1100


def test_workspace_decides_the_best_order():
    # Two independent nodes P (out 100) and Q (workspace 500, out 1); R reads both.
    g = Graph([0, 100, 1, 1],
              [{"name": "P", "inputs": [0], "outputs": [1]},
               {"name": "Q", "inputs": [0], "outputs": [2], "workspace": 500},
               {"name": "R", "inputs": [1, 2], "outputs": [3]}],
              outputs=[3])
    assert timeline(g) == [100, 601, 102]
    assert timeline(g, [1, 0, 2]) == [501, 101, 102]
    assert bf.min_peak(g) == 501


def test_outputs_never_freed():
    # a = f(x) 100 (output, also read); b = g(a) 10 (output); c = h(b) 1 (output).
    g = Graph([3, 100, 10, 1],
              [{"inputs": [0], "outputs": [1]}, {"inputs": [1], "outputs": [2]},
               {"inputs": [2], "outputs": [3]}],
              outputs=[1, 2, 3])
    assert timeline(g) == [100, 110, 111]
    # Not outputs except c: everything freed after its last reader.
    g2 = Graph([3, 100, 10, 1],
               [{"inputs": [0], "outputs": [1]}, {"inputs": [1], "outputs": [2]},
                {"inputs": [2], "outputs": [3]}],
               outputs=[3])
    assert timeline(g2) == [100, 110, 11]


def test_unread_non_output_freed_right_after_its_node():
    # n0: x -> a (100), junk (50); n1: a -> b (1), output b; n2: x -> c (7), output c.
    def build(outputs):
        return Graph([3, 100, 50, 1, 7],
                     [{"inputs": [0], "outputs": [1, 2]}, {"inputs": [1], "outputs": [3]},
                      {"inputs": [0], "outputs": [4]}],
                     outputs=outputs)
    assert timeline(build([3, 4])) == [150, 101, 8]
    assert timeline(build([2, 3, 4])) == [150, 151, 58]
    # A node whose only output nobody reads: counted at its step, then gone.
    g = Graph([3, 1000, 1], [{"inputs": [0], "outputs": [1]}, {"inputs": [0], "outputs": [2]}],
              outputs=[2])
    assert timeline(g) == [1000, 1]


def test_repeated_input_freed_once():
    # b read twice by one node and once by another: freed after the last.
    g = Graph([3, 100, 10, 1],
              [{"inputs": [0], "outputs": [1]}, {"inputs": [1, 1, 0, 1], "outputs": [2]},
               {"inputs": [1, 2], "outputs": [3]}],
              outputs=[3])
    assert timeline(g) == [100, 110, 111]


def test_zero_size_and_empty():
    g = Graph([0, 0, 0], [{"inputs": [0], "outputs": [1]}, {"inputs": [1], "outputs": [2]}],
              outputs=[2])
    assert timeline(g) == [0, 0]
    assert lowmem.peak(Graph([], [])) == 0
    assert lowmem.memory_timeline(Graph([], []), []).tolist() == []


def test_graph_input_output_not_counted():
    g = Graph([1000, 5], [{"inputs": [0], "outputs": [1]}], outputs=[0, 1])
    assert timeline(g) == [5]


def test_node_without_outputs():
    g = Graph([10, 20], [{"inputs": [0], "outputs": [1]}, {"inputs": [1], "outputs": [],
                                                           "workspace": 3}])
    assert timeline(g) == [20, 23]


def test_peak_default_order():
    g = cases.all_orders_example()
    assert lowmem.peak(g) == lowmem.peak(g, g.default_order()) == lowmem.peak(g, [0, 1, 2, 3])
    assert lowmem.peak(g) == 101
    assert lowmem.peak(g, [2, 0, 1, 3]) == 151
    assert lowmem.peak(g, np.array([0, 2, 1, 3])) == 151
    assert bf.min_peak(g) == 101


def test_orderings_respected_in_model():
    g = Graph([1, 1, 1], [{"name": "a", "inputs": [0], "outputs": [1]},
                          {"name": "b", "inputs": [0], "outputs": [2]}],
              outputs=[1, 2], orderings=[[0, 1]])
    assert timeline(g) == [1, 2]
    with pytest.raises(OrderError, match=r"node 1 \('b'\).*node 0 \('a'\)"):
        lowmem.peak(g, [1, 0])


# ------------------------------------------------------- order validation
@pytest.mark.parametrize("order,fragments", [
    ([3, 0, 1, 2], ["step 0", "node 3", "'D'", "runs before node"]),
    ([0, 2, 3, 1], ["node 3", "'D'", "node 1", "'B'"]),
    ([1, 0, 2, 3], ["node 1", "'B'", "node 0", "'A'"]),
    ([0, 1, 2], ["node 3", "'D'", "never runs"]),
    # A node may run twice (recomputation, tests/test_recompute_model.py),
    # but every node must still run.
    ([0, 1, 2, 2], ["node 3", "'D'", "never runs"]),
    ([0, 1, 2, 3, 4], ["unknown node 4"]),
    ([0, 1, 2, -1], ["unknown node -1"]),
    ([], ["node 0", "never runs"]),
])
def test_order_errors_name_the_node(order, fragments):
    g = cases.all_orders_example()
    for fn in (lowmem.peak, lowmem.memory_timeline):
        with pytest.raises(OrderError) as info:
            fn(g, order)
        for f in fragments:
            assert f in str(info.value), (f, str(info.value))


def test_order_error_is_value_error():
    assert issubclass(OrderError, ValueError)


@pytest.mark.parametrize("order", [[0, 1.7, 2, 3], [0, 1, 2, "3"], [0, 1, 2, True]])
def test_order_entries_must_be_integers(order):
    from lowmem._scheduler import core_peak
    g = cases.all_orders_example()
    for fn in (lowmem.peak, core_peak):
        with pytest.raises(OrderError, match="integers"):
            fn(g, order)


def test_theano_profiling_graph_as_theano_optimises_it():
    # The Shape_i scalars do not change the answer: Theano reports 4104KB.
    g = cases.theano_profiling_optimised(3)
    assert g.n_nodes == 11
    assert bf.min_peak_dp(g)[0] == 4104 * KB == 4202496


@pytest.mark.parametrize("entry", [2**70, -2**70, 2**63, np.uint64(2**63 + 5)])
def test_order_entry_beyond_int64(entry):
    g = cases.all_orders_example()
    for fn in (lowmem.peak, lowmem.memory_timeline):
        with pytest.raises(OrderError, match="node"):
            fn(g, [0, 1, 2, entry])
    with pytest.raises(OrderError, match="node"):
        lowmem.peak(g, np.array([0, 1, 2, 2**63 + 5], dtype=np.uint64))


# ------------------------------------------------------------- linear time
def view_chain(n):
    """x -> A -> a (a new buffer) -> n - 1 nodes, each a view of its input.
    Every variable's buffer is a's, reached through a chain of up to n views."""
    nodes = [{"inputs": [0], "outputs": [1]}] + [
        {"inputs": [i], "outputs": [i + 1], "aliases": {"0": {"input": 0, "kind": "view"}}}
        for i in range(1, n)]
    return Graph([8] * (n + 1), nodes, outputs=[n])


def model_lines(fn, *args):
    """Python lines executed inside lowmem/_model.py by fn(*args): a count
    of the reference model's work that does not depend on machine load."""
    import sys
    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if frame.f_code.co_filename.endswith("_model.py"):
            if event == "line":
                count += 1
            return tracer
        return None

    sys.settrace(tracer)
    try:
        fn(*args)
    finally:
        sys.settrace(None)
    return count


@pytest.mark.parametrize("fn", [lowmem.peak, lowmem.memory_timeline])
def test_model_linear_on_view_chains(fn):
    # Resolving every variable's buffer by walking its alias chain from the
    # variable itself made a view chain quadratic (6.4 s for 2,000 nodes):
    # four times the nodes must cost about four times the work, not 16.
    small, large = view_chain(500), view_chain(2000)
    assert lowmem.peak(small) == lowmem.peak(large) == 8
    assert timeline(large) == [8] * 2000
    order = small.default_order()
    ratio = model_lines(fn, large, large.default_order()) / model_lines(fn, small, order)
    assert 3.5 < ratio < 5, ratio


def test_duplicate_in_long_order_reported():
    # The duplicate search was skipped for orders of 5,000 entries or more
    # (list.count per entry was quadratic): the message said "wrong length".
    from lowmem._model import check_order
    g = view_chain(6000)
    with pytest.raises(OrderError, match="node 7 runs twice"):
        check_order(g, list(range(5999)) + [7])


@pytest.mark.parametrize("order,words", [
    (np.array([[0], [1], [2], [3]]), "1-D sequence of node ids, got a 2-D array"),
    (np.array([[0, 1], [2, 3]]), "1-D sequence of node ids, got a 2-D array"),
    (np.array(0), "1-D sequence of node ids, got a 0-D array"),
    ([[0], [1], [2], [3]], "must be node ids"),
    (5, "sequence of node ids, got int"),
])
def test_order_must_be_one_dimensional(order, words):
    # A 2-D array was flattened and a 0-d one taken as a one-node order.
    from lowmem._scheduler import core_peak
    g = cases.all_orders_example()
    assert lowmem.peak(g, np.array([0, 1, 2, 3])) == lowmem.peak(g)
    for fn in (lowmem.peak, lowmem.memory_timeline, core_peak):
        with pytest.raises(OrderError, match=words):
            fn(g, order)


@pytest.mark.parametrize("graph", ["x", 5, None, cases.all_orders_example().to_dict()])
def test_model_needs_a_graph(graph):
    with pytest.raises(TypeError, match="^peak: graph must be a lowmem.Graph, got "):
        lowmem.peak(graph)
    with pytest.raises(TypeError, match="^peak: graph must be a lowmem.Graph, got "):
        lowmem.peak(graph, [0])
    with pytest.raises(TypeError, match="^memory_timeline: graph must be a lowmem.Graph, got "):
        lowmem.memory_timeline(graph, [0])
