"""Independent parts of a segment and the hill-valley merge (lowmem/_parts.py).

The references here are written from the memory model's rules
(bruteforce.Model), not from lowmem's core: the coupling relation, live
bytes and step memory of a segment, the minimum over every interleaving of
fixed part orders, and the minimum over every order of a segment, each by a
dynamic programme over small state spaces (at most 9 nodes).
"""

import random
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lowmem
import lowmem._parts as _parts
from bruteforce import Model
from strategies import graph_dicts
from lowmem import _heuristics, _search
from lowmem._core import CoreProblem
from lowmem._lower_bounds import static_lower_bound
from lowmem._parts import (_profiles, envelope, hill_valley_merge, independent_parts,
                           merge_parts, part_subproblem, profile)
from lowmem._parts_core import components, profile_blocks
from lowmem._problem import buffer_tables, subproblem

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ------------------------------------------------------------------ helpers

def disjoint_union(dicts):
    """One graph dict holding the given graph dicts side by side."""
    variables, nodes, outputs, orderings = [], [], [], []
    for d in dicts:
        v0, n0 = len(variables), len(nodes)
        variables += d["variables"]
        for node in d["nodes"]:
            node = dict(node)
            node["inputs"] = [v + v0 for v in node["inputs"]]
            node["outputs"] = [v + v0 for v in node["outputs"]]
            nodes.append(node)
        outputs += [v + v0 for v in d["outputs"]]
        orderings += [[a + n0, b + n0] for a, b in d["orderings"]]
    return lowmem.Graph(variables, nodes, outputs=outputs, orderings=orderings)


@st.composite
def segments(draw, max_nodes=9, whole=False):
    """(graph, model, prefix mask, segment mask, Subproblem): a disjoint
    union of 1-4 random graphs (so usually several parts), cut to the
    listed-order range [lo, hi) after the nodes before lo ran (buffers made
    before it, read after it); the whole graph if `whole`, whose parts are
    then larger (2-4 nodes, no graph inputs, so more of them branch)."""
    n_graphs = draw(st.sampled_from([2, 2, 3] if whole else [1, 2, 2, 3, 3, 4]))
    budget, dicts = max_nodes, []
    for i in range(n_graphs):
        if budget <= (1 if whole else 0):
            break
        if whole:
            d = draw(graph_dicts(max_nodes=min(budget, 4), min_nodes=2, max_inputs=0))
        else:
            d = draw(graph_dicts(max_nodes=min(budget, 5), min_nodes=1, max_inputs=2))
        budget -= len(d["nodes"])
        dicts.append(d)
    g = disjoint_union(dicts)
    n = g.n_nodes
    lo = 0 if whole else draw(st.integers(0, n - 1))
    hi = n if whole else draw(st.integers(lo + 1, n))
    m = Model(g)
    prefix = (1 << lo) - 1
    seg = ((1 << hi) - 1) & ~prefix
    done = np.zeros(n, dtype=bool)
    done[:lo] = True
    sub = subproblem(buffer_tables(g), np.arange(lo, hi), done, m.live(prefix))
    return g, m, prefix, seg, sub


def seg_ready(m, done, seg):
    return [n for n in m.ready(done) if seg >> n & 1]


def seg_min_peak(m, prefix, seg):
    """Minimum over every order of the segment of its largest step memory."""
    full = prefix | seg

    @lru_cache(maxsize=None)
    def best(done):
        if done == full:
            return 0
        return min(max(m.step(done, n), best(done | 1 << n)) for n in seg_ready(m, done, seg))

    return best(prefix)


def seg_peak(m, prefix, order_global):
    done, peak = prefix, 0
    for n in order_global:
        assert not done >> n & 1 and m.pred[n] & ~done == 0
        peak = max(peak, m.step(done, n))
        done |= 1 << n
    return peak


def interleave_min_peak(m, prefix, orders):
    """Minimum peak over the interleavings that keep each (global) order."""
    @lru_cache(maxsize=None)
    def best(pos):
        done = prefix
        for order, p in zip(orders, pos):
            for n in order[:p]:
                done |= 1 << n
        value = None
        for i, (order, p) in enumerate(zip(orders, pos)):
            if p < len(order):
                nxt = pos[:i] + (p + 1,) + pos[i + 1:]
                v = max(m.step(done, order[p]), best(nxt))
                value = v if value is None else min(value, v)
        return 0 if value is None else value

    return best(tuple(0 for _ in orders))


def draw_order(draw, m, done, members):
    """A random valid order (global ids) of the node set `members` from `done`."""
    order = []
    while members & ~done:
        n = draw(st.sampled_from(seg_ready(m, done, members)))
        order.append(n)
        done |= 1 << n
    return order


def mask(ids):
    out = 0
    for n in ids:
        out |= 1 << int(n)
    return out


def reference_parts(m, seg):
    """Components of the coupling relation, from the model's tables."""
    nodes = [n for n in range(m.n) if seg >> n & 1]
    adj = {n: set() for n in nodes}
    for u in nodes:
        for v in nodes:
            if m.pred[v] >> u & 1:
                adj[u].add(v)
                adj[v].add(u)
    for size, prod, readers, pinned in m.buffers:
        touch = [n for n in nodes if n == prod or readers >> n & 1]
        for u in touch:
            adj[u].update(touch)
    seen, parts = set(), []
    for n in nodes:
        if n in seen:
            continue
        stack, comp = [n], []
        seen.add(n)
        while stack:
            u = stack.pop()
            comp.append(u)
            for v in adj[u] - seen:
                seen.add(v)
                stack.append(v)
        parts.append(sorted(comp))
    return parts


# ---------------------------------------------------------------- the parts

@SETTINGS
@given(segments())
def test_independent_parts_match_the_coupling_relation(case):
    g, m, prefix, seg, sub = case
    parts = independent_parts(sub)
    got = sorted(sorted(sub.nodes[p].tolist()) for p in parts)
    assert got == sorted(reference_parts(m, seg))
    for p in parts:
        assert p.dtype == np.int64 and np.all(np.diff(p) > 0)
    assert [int(p[0]) for p in parts] == sorted(int(p[0]) for p in parts)


@SETTINGS
@given(segments(), st.data())
def test_part_subproblems_add_up_to_the_segment(case, data):
    """Claim of part_subproblem: at every step of any order of the segment,
    model memory = base + other parts' live + the running part's step; and
    between steps model live = base + every part's live (checked against
    the model's own live bytes, which count buffers outside the segment)."""
    g, m, prefix, seg, sub = case
    parts = independent_parts(sub)
    order = draw_order(data.draw, m, prefix, seg)
    local_of = {int(n): i for i, n in enumerate(sub.nodes)}
    part_of = {}
    for p, nodes in enumerate(parts):
        for i, n in enumerate(nodes):
            part_of[int(sub.nodes[n])] = (p, i)
    psubs = [part_subproblem(sub, nodes) for nodes in parts]
    porders = [[part_of[n][1] for n in order if part_of[n][0] == p] for p in range(len(parts))]
    profs = [profile(ps, po) for ps, po in zip(psubs, porders)]
    for ps, po, prof, nodes in zip(psubs, porders, profs, parts):
        assert ps.base == 0
        assert np.array_equal(ps.nodes, sub.nodes[nodes])
        assert _heuristics.evaluate(CoreProblem(ps), po) == prof.max()
    pos = [0] * len(parts)
    done = prefix
    outside = m.live(prefix) - sub.live0           # buffers the segment never touches
    assert outside + sub.base + sum(int(p[0]) for p in profs) == m.live(prefix)
    for n in order:
        p, _ = part_of[n]
        others = sum(int(profs[q][2 * pos[q]]) for q in range(len(parts)) if q != p)
        step = int(profs[p][2 * pos[p] + 1])
        assert m.step(done, n) == outside + sub.base + others + step
        done |= 1 << n
        pos[p] += 1
        assert m.live(done) == outside + sub.base + sum(int(profs[q][2 * pos[q]])
                                                        for q in range(len(parts)))
    assert _heuristics.evaluate(CoreProblem(sub), [local_of[n] for n in order]) == \
        seg_peak(m, prefix, order) - outside


@SETTINGS
@given(segments(), st.data())
def test_profiles_of_all_parts_at_once_equal_each_part_alone(case, data):
    """_profiles (merge_parts' bulk path) against profile() of each part's
    own subproblem, for random orders of the parts run one after another."""
    g, m, prefix, seg, sub = case
    parts = independent_parts(sub)
    node_part = np.zeros(sub.k, dtype=np.int64)
    order, step_ptr, expected = [], [0], []
    for p, nodes in enumerate(parts):
        node_part[nodes] = p
        local = {int(sub.nodes[n]): i for i, n in enumerate(nodes)}
        order_g = draw_order(data.draw, m, prefix, mask(sub.nodes[nodes]))
        porder = [local[n] for n in order_g]
        order += nodes[porder].tolist()
        step_ptr.append(len(order))
        expected.append(profile(part_subproblem(sub, nodes), porder))
    points = _profiles(sub, np.array(order, dtype=np.int64),
                       np.array(step_ptr, dtype=np.int64), node_part)
    assert points.tolist() == np.concatenate(expected).tolist()


def all_part_orders(sub):
    """Every valid order of a (small) Subproblem, local ids."""
    k = sub.k
    preds = [set() for _ in range(k)]
    for u in range(k):
        for v in sub.succ_idx[sub.succ_ptr[u]:sub.succ_ptr[u + 1]]:
            preds[int(v)].add(u)
    out = []

    def rec(order, done):
        if len(order) == k:
            out.append(list(order))
        for n in range(k):
            if n not in done and preds[n] <= done:
                rec(order + [n], done | {n})

    rec([], frozenset())
    return out


@SETTINGS
@given(segments())
def test_envelope_is_the_pointwise_least_profile(case):
    g, m, prefix, seg, sub = case
    for nodes in independent_parts(sub):
        psub = part_subproblem(sub, nodes)
        env, order = envelope(psub)
        if psub.k > 8:
            assert env is None and order is None
            continue
        profiles = [profile(psub, o) for o in all_part_orders(psub)]
        least = np.min(profiles, axis=0)
        assert env.tolist() == least.tolist()
        assert np.all(env[1::2] >= env[0:-1:2]) and np.all(env[1::2] >= env[2::2])
        # An order meeting every point is found iff one exists.
        meets = [p.tolist() == least.tolist() for p in profiles]
        assert (order is not None) == any(meets)
        if order is not None:
            assert profile(psub, order).tolist() == least.tolist()


def test_part_subproblem_refuses_a_part_that_is_not_closed():
    g = disjoint_union([{"variables": [5, 7, 3], "outputs": [2], "orderings": [],
                         "nodes": [{"inputs": [], "outputs": [0]},
                                   {"inputs": [0], "outputs": [1]},
                                   {"inputs": [0], "outputs": [2]}]}])
    sub = subproblem(buffer_tables(g), np.arange(3), np.zeros(3, dtype=bool), 0)
    assert [p.tolist() for p in independent_parts(sub)] == [[0, 1, 2]]
    with pytest.raises(ValueError, match="edge crosses"):
        part_subproblem(sub, [0, 1])
    # Nodes 1 and 2 share no edge but both read node 0's buffer.
    done = np.array([True, False, False])
    sub2 = subproblem(buffer_tables(g), np.arange(1, 3), done, 5)
    assert [p.tolist() for p in independent_parts(sub2)] == [[0, 1]]
    with pytest.raises(ValueError, match="buffer is shared"):
        part_subproblem(sub2, [0])
    with pytest.raises(ValueError, match="sorted distinct"):
        part_subproblem(sub2, [1, 0])


def test_components_and_blocks_check_their_input():
    assert components(4, [0, 3], [1, 2]).tolist() == [0, 0, 2, 2]
    assert components(0, [], []).tolist() == []
    with pytest.raises(ValueError):
        components(3, [0], [3])
    with pytest.raises(ValueError):
        components(3, [-1], [0])
    with pytest.raises(ValueError):
        components(3, [0, 1], [1])
    with pytest.raises(ValueError):
        profile_blocks([0, -1])
    with pytest.raises(ValueError):
        profile_blocks([0, 1 << 62])
    with pytest.raises(ValueError):
        profile_blocks([])
    with pytest.raises(ValueError):
        hill_valley_merge([([0], [0], [5, 3, 4])])        # step below a live point
    with pytest.raises(ValueError):
        hill_valley_merge([([0], [0], [0, (1 << 62) - 1, 0]), ([1], [0], [0, 1, 0])])


# ---------------------------------------------------------------- the merge

@st.composite
def abstract_profiles(draw):
    """2-4 profiles [L0, s1, L1, ...] with s_t >= both neighbours, at most 9
    steps in all: the shape every part's profile has."""
    n_parts = draw(st.integers(2, 4))
    steps = draw(st.lists(st.integers(0, 4), min_size=n_parts, max_size=n_parts)
                 .filter(lambda s: sum(s) <= 9))
    values = st.integers(0, 20)
    out = []
    for m in steps:
        live = [draw(values) for _ in range(m + 1)]
        prof = [live[0]]
        for t in range(m):
            prof += [max(live[t], live[t + 1]) + draw(st.sampled_from([0, 0, 1, 3, 10])),
                     live[t + 1]]
        out.append(np.array(prof, dtype=np.int64))
    return out


def min_over_interleavings(profs):
    @lru_cache(maxsize=None)
    def best(pos):
        total = sum(int(p[2 * i]) for p, i in zip(profs, pos))
        value = None
        for q, (p, i) in enumerate(zip(profs, pos)):
            if 2 * i + 1 < len(p):
                v = max(total - int(p[2 * i]) + int(p[2 * i + 1]),
                        best(pos[:q] + (i + 1,) + pos[q + 1:]))
                value = v if value is None else min(value, v)
        return 0 if value is None else value

    return best(tuple(0 for _ in profs))


@settings(max_examples=1500, deadline=None)
@given(abstract_profiles(), st.integers(0, 5))
def test_hill_valley_merge_is_optimal_on_profiles(profs, base):
    """Liu's theorem, generalised to profiles that start above their
    minimum: the merge peak is the least over all interleavings."""
    offsets = np.cumsum([0] + [(len(p) - 1) // 2 for p in profs])
    parts = []
    for p, off in zip(profs, offsets):
        m = (len(p) - 1) // 2
        parts.append((np.arange(off, off + m), np.arange(m), p))
    merged, peak = hill_valley_merge(parts, base=base)
    assert sorted(merged.tolist()) == list(range(offsets[-1]))
    # Each part's steps in its order, and the peak is the merged order's.
    pos, total, seen = [0] * len(profs), sum(int(p[0]) for p in profs), 0
    for n in merged:
        q = int(np.searchsorted(offsets, n, side="right") - 1)
        assert n - offsets[q] == pos[q]
        p, i = profs[q], pos[q]
        seen = max(seen, total - int(p[2 * i]) + int(p[2 * i + 1]))
        total += int(p[2 * i + 2]) - int(p[2 * i])
        pos[q] += 1
    if len(merged):
        assert peak == base + seen
        assert peak == base + min_over_interleavings(tuple(profs))


@SETTINGS
@given(segments(), st.data())
def test_hill_valley_merge_is_optimal_for_fixed_part_orders(case, data):
    """On real segments: fixed random orders per part; the merged order
    keeps them, its model peak is the one returned, and no interleaving of
    them peaks lower (brute force over all interleavings)."""
    g, m, prefix, seg, sub = case
    parts = independent_parts(sub)
    outside = m.live(prefix) - sub.live0
    items, global_orders = [], []
    for nodes in parts:
        members = mask(sub.nodes[nodes])
        order_g = draw_order(data.draw, m, prefix, members)
        local = {int(sub.nodes[n]): i for i, n in enumerate(nodes)}
        porder = [local[n] for n in order_g]
        items.append((nodes, porder, profile(part_subproblem(sub, nodes), porder)))
        global_orders.append(tuple(order_g))
    merged, peak = hill_valley_merge(items, base=sub.base)
    merged_g = sub.nodes[merged].tolist()
    for order_g in global_orders:
        assert [n for n in merged_g if n in set(order_g)] == list(order_g)
    assert peak == _heuristics.evaluate(CoreProblem(sub), merged)
    assert peak + outside == seg_peak(m, prefix, merged_g)
    assert peak + outside == interleave_min_peak(m, prefix, tuple(global_orders))


def test_liu_example_hills_and_valleys():
    """A profile starting at its minimum is cut into Liu's hill-valley
    segments: hills fall, valleys rise, and they merge by hill - valley."""
    ends, rise, net = profile_blocks([0, 10, 2, 8, 5, 6, 6])
    # Hills 10, 8, 6 (then a flat tie) over valleys 2, 5, 6, 6.
    assert ends.tolist() == [2, 4, 5, 6]
    assert rise.tolist() == [10, 6, 1, 0]        # hill - the valley before
    assert net.tolist() == [2, 3, 1, 0]          # valley - the valley before
    # A profile that first frees memory starts with a falling block.
    ends, rise, net = profile_blocks([9, 9, 1, 4, 4])
    assert ends.tolist() == [2, 3, 4] and net.tolist() == [-8, 3, 0]


# ------------------------------------------------------------- merge_parts

def search_solver(pprob):
    order, peak = _heuristics.greedy(pprob, _heuristics.FREED_MINUS_ALLOCATED)
    r = _search.search(pprob, order, peak, time_limit=10.0)
    return r["order"], r["peak"], r["exhausted"]


def make_random_solver(rng):
    def solve(pprob):
        # A random valid order, not claimed optimal.
        sub = pprob.sub
        preds = np.array(sub.pred_count)
        ready = [i for i in range(pprob.k) if preds[i] == 0]
        order = []
        while ready:
            n = ready.pop(rng.randrange(len(ready)))
            order.append(n)
            for s in sub.succ_idx[sub.succ_ptr[n]:sub.succ_ptr[n + 1]]:
                preds[s] -= 1
                if preds[s] == 0:
                    ready.append(int(s))
        return order, _heuristics.evaluate(pprob, order), False
    return solve


@SETTINGS
@given(st.one_of(segments(), segments(whole=True)), st.sampled_from(["search", "random"]),
       st.integers(0, 2**32 - 1), st.booleans(), st.booleans())
def test_merge_parts_is_exact_when_it_says_so(case, which, seed, with_bound, with_envelopes):
    """Every exact=True result is the minimum over every order of the
    segment (brute force), with the search or a random order per part, with
    or without the segment's static lower bound given, with or without
    envelopes (without, every branching part goes to the solver)."""
    g, m, prefix, seg, sub = case
    solve = search_solver if which == "search" else make_random_solver(random.Random(seed))
    bound = static_lower_bound(CoreProblem(sub)) if with_bound else 0
    saved = _parts.ENVELOPE_MAX_NODES
    try:
        _parts.ENVELOPE_MAX_NODES = saved if with_envelopes else 0
        result = merge_parts(sub, solve, lower_bound=bound)
    finally:
        _parts.ENVELOPE_MAX_NODES = saved
    if len(independent_parts(sub)) < 2:
        assert result is None
        return
    order, peak, exact = result
    outside = m.live(prefix) - sub.live0
    assert sorted(order.tolist()) == list(range(sub.k))
    assert peak == _heuristics.evaluate(CoreProblem(sub), order)
    assert peak + outside == seg_peak(m, prefix, sub.nodes[order].tolist())
    best = seg_min_peak(m, prefix, seg) - outside
    assert peak >= best
    if exact:
        assert peak == best


def two_node_chains(sizes, pinned=True):
    variables, nodes, outputs = [], [], []
    for i, (a, b) in enumerate(sizes):
        variables += [{"size": a}, {"size": b}]
        nodes += [{"inputs": [], "outputs": [2 * i]}, {"inputs": [2 * i], "outputs": [2 * i + 1]}]
        if pinned:
            outputs.append(2 * i + 1)
    return lowmem.Graph(variables, nodes, outputs=outputs)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 300)), min_size=2, max_size=4))
def test_independent_chains_are_proven_optimal(sizes):
    """Only chains: exact, and brute force over every order agrees."""
    g = two_node_chains(sizes)
    n = g.n_nodes
    sub = subproblem(buffer_tables(g), np.arange(n), np.zeros(n, dtype=bool), 0)

    def never(pprob):
        raise AssertionError("a chain needs no solver")

    order, peak, exact = merge_parts(sub, never)
    assert exact
    assert len(independent_parts(sub)) == len(sizes)
    m = Model(g)
    assert peak == lowmem.peak(g, sub.nodes[order]) == seg_min_peak(m, 0, (1 << n) - 1)


def test_merge_parts_none_for_one_part_and_for_empty():
    g = two_node_chains([(10, 5)])
    sub = subproblem(buffer_tables(g), np.arange(2), np.zeros(2, dtype=bool), 0)
    assert merge_parts(sub, search_solver) is None
    assert merge_parts(CoreProblem(sub), search_solver) is None


def test_merge_parts_checks_the_solver_peak(monkeypatch):
    # Two parts that are not chains: each one node reading an input, twice.
    g = lowmem.Graph([4, 8, 8, 6, 6], [{"inputs": [0], "outputs": [1]},
                                       {"inputs": [0], "outputs": [2]},
                                       {"inputs": [], "outputs": [3]},
                                       {"inputs": [], "outputs": [4]}], outputs=[1, 2, 3, 4])
    sub = subproblem(buffer_tables(g), np.arange(4), np.zeros(4, dtype=bool), 0)
    assert len(independent_parts(sub)) == 4
    g2 = lowmem.Graph([8, 8, 6, 6], [{"inputs": [], "outputs": [0]},
                                     {"inputs": [], "outputs": [1]},
                                     {"inputs": [0, 1], "outputs": []},
                                     {"inputs": [], "outputs": [2]},
                                     {"inputs": [], "outputs": [3]},
                                     {"inputs": [2, 3], "outputs": []}])
    sub2 = subproblem(buffer_tables(g2), np.arange(6), np.zeros(6, dtype=bool), 0)
    assert [p.tolist() for p in independent_parts(sub2)] == [[0, 1, 2], [3, 4, 5]]

    def lying(pprob):
        order, peak, exhausted = search_solver(pprob)
        return order, peak + 1, exhausted

    # Parts of 3 nodes have envelope orders, so the solver is not asked.
    order, peak, exact = merge_parts(sub2, lying)
    assert exact
    monkeypatch.setattr(_parts, "ENVELOPE_MAX_NODES", 0)
    with pytest.raises(ValueError, match="not its order's"):
        merge_parts(sub2, lying)
    order, peak, exact = merge_parts(sub2, search_solver)
    assert peak == lowmem.peak(g2, sub2.nodes[order]) == seg_min_peak(Model(g2), 0, 63)
