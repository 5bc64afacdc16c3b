"""Lower bounds on the peak of every order of a subproblem.

Each bound counts bytes that must be live at some step whatever the order,
so the best order is proven optimal when its peak meets one of them.

* working set: node v's own step holds the bytes no segment node can free
  (``base``), every buffer v reads, what v allocates and its workspace.
* pinned: at the last step every never-freed buffer is live.
* forced live: add to v's working set every other buffer that must be live
  at v's step: made by an ancestor of v (or before the segment) and either
  never freed (pinned) or read by a descendant of v.
* last of a set: for any set T of nodes, one of T's maximal nodes v runs
  last among T; by then all of T's ancestors-or-selves (its closure C) but
  v itself have run, so every pinned buffer they made is live. Taking T as
  the nodes with the largest forced-live figure (minus pinned bytes of
  their own closure), growing, gives
  ``max_T min_{v maximal in T} forced(v) + pinned(C) - pinned(anc*(v))``.
  It is what proves orders where outputs pile up, such as Theano's
  profiler test graph, optimal at once.

* min cut: at v's step the executed set S is a downset holding v's
  ancestors and none of v, its descendants; the least live bytes over all
  such S, plus v's allocation and workspace, is one minimum s-t cut
  (_mincut.pyx). It is at least v's forced-live figure and at most v's
  step in any order.
* min cut on pairs: of two incomparable nodes one runs first; conditioning
  each node's cut on the other's place gives two cases, and every order
  peaks at least at the lower of them (:func:`pair_bound`).

The reachability bounds need tables of k^2/4 bytes (_bounds.pyx), built
only while they fit in REACHABILITY_BYTES; the min-cut network takes
O(k + edges + reads) bytes, at most MINCUT_BYTES.
"""

import time

import numpy as np

from . import _bounds, _heuristics, _mincut

REACHABILITY_BYTES = 64 * 2**20
MINCUT_BYTES = 256 * 2**20
# Nodes (the highest steps of the known order) whose pairs pair_bound tries.
PAIR_NODES = 1024
# Above every byte count (the core keeps them below 2**62): "no target".
NO_TARGET = 2**62


def static_lower_bound(prob, time_limit=float("inf")):
    """The best of the bounds above but min cut for a checked
    ``_core.CoreProblem`` (0 for an empty one). The reachability bounds are
    skipped when their tables would exceed REACHABILITY_BYTES (above 16,384
    nodes) or when `time_limit` seconds pass while they are computed. O(k)
    for the first two; O(k^2/64 * degree + bytes set) word operations for
    the others, stopped at the time limit.
    """
    return _static_bound(prob, time_limit)[0]


def _static_bound(prob, time_limit, target=NO_TARGET):
    """(bound, source) of :func:`static_lower_bound`, stopping early once
    the bound reaches `target`."""
    if prob.k == 0:
        return 0, "working_set"
    bound, source = int(prob.working_set.max()), "working_set"
    if prob.pinned_bytes > bound:
        bound, source = int(prob.pinned_bytes), "pinned"
    if bound >= target or not time_limit > 0 or \
            _bounds.table_bytes(prob.k) > REACHABILITY_BYTES:
        return bound, source
    more = _bounds.reachability_bounds(prob, time_limit)
    if more is not None:
        for figure, name in zip(more, ("forced_live", "last_of_set")):
            if figure > bound:
                bound, source = int(figure), name
    return bound, source


def node_step_memory(prob, order):
    """int64[k]: each node's step memory when the nodes of the checked
    ``_core.CoreProblem`` run in `order` (local ids): an upper bound on its
    min-cut figure. ValueError unless `order` is valid. O(k + edges +
    reads + makes)."""
    order = np.ascontiguousarray(order, dtype=np.int64)
    steps = np.empty(prob.k, dtype=np.int64)
    steps[order] = _heuristics.step_profile(prob, order)[0]
    return steps


def lower_bound(prob, time_limit=float("inf"), step_memory=None, upper=None):
    """(bound, source): the best lower bound on the peak of every order of
    a checked ``_core.CoreProblem`` and the name of the bound that gave it:
    "working_set", "pinned", "forced_live", "last_of_set" or "min_cut"
    (the cheaper one on a tie; (0, "working_set") for an empty problem).
    :func:`pair_bound` may raise it further (the scheduler runs it once a
    first search has improved the order its candidates come from).

    The bounds are tried cheapest first, within `time_limit` seconds for
    the whole call, stopping as soon as one reaches `upper` (the peak of a
    known order: proven optimal). Then min cut, node by node:
    `step_memory` (int64[k], each node's step memory in the best known
    order) bounds each node's min-cut figure from above, so only the nodes
    whose step memory exceeds the bound so far are computed, largest first,
    and a node whose step memory no longer exceeds the best is skipped.
    Without it the local order (topological for any segment cut by
    _problem.subproblem) gives the step memories; if that order is not
    valid every node is a candidate, by decreasing working set.

    Complexity: O(k) for the first two, the reachability bounds as in
    :func:`static_lower_bound`, then O(k + edges + reads + makes) to build
    the min-cut model, then per node computed O(k + edges + reads) and a
    max flow on the nodes incomparable with it (Dinic,
    O(V^2 E) at worst; see _mincut.mincut_bounds), stopped at the time
    limit.
    """
    deadline = time.perf_counter() + time_limit
    target = NO_TARGET if upper is None else int(upper)
    bound, source = _static_bound(prob, time_limit, target)
    if prob.k == 0:
        return bound, source
    remaining = deadline - time.perf_counter()
    if bound >= target or not remaining > 0:
        return bound, source

    if step_memory is None:
        try:
            steps = node_step_memory(prob, np.arange(prob.k, dtype=np.int64))
        except ValueError:
            steps = None
    else:
        steps = np.ascontiguousarray(step_memory, dtype=np.int64)
        if steps.shape != (prob.k,):
            raise ValueError(f"step_memory: expected {prob.k} entries, got shape {steps.shape}")
    if steps is None:
        candidates = np.argsort(-np.asarray(prob.working_set), kind="stable")
    else:
        above = np.flatnonzero(steps > bound)
        candidates = above[np.argsort(-steps[above], kind="stable")]
    if not len(candidates):
        return bound, source
    try:
        best, _, _ = _mincut.mincut_bounds(prob, candidates, target, remaining,
                                           upper_bounds=steps, max_bytes=MINCUT_BYTES)
    except MemoryError:
        return bound, source            # the network would not fit: no min cut
    if best > bound:
        bound, source = int(best), "min_cut"
    return bound, source


def pair_bound(prob, step_memory, bound, target=NO_TARGET, time_limit=float("inf"),
               max_nodes=PAIR_NODES):
    """A lower bound from pairs of nodes: in every order one of two
    incomparable nodes u, v runs first. If u does, u's step has v (and
    v's descendants) still to run, and v's step has u (and its ancestors)
    done: each is a min-cut figure with one more node forced out or in
    (_mincut.MinCutNetwork.min_live), so that order peaks at least at
    case(u, v) = max of the two; the peak of every order is at least
    min(case(u, v), case(v, u)) (only the feasible cases: a comparable
    pair has one). That is at least the larger of the two nodes' own
    min-cut figures, and can be much more where two heavy steps exclude
    each other (it proves NASNet-style cells, where each node's own
    figure is several percent under the optimum).

    Pairs are taken among the `max_nodes` nodes whose step in the known
    order (`step_memory`, int64[k]) is highest, adding one node at a time
    (paired with every higher-stepping one), the higher-stepping node of a
    pair above the best so far (in the known order one of the pair runs
    first, so the pair's figure is at most the higher of their two steps
    there), until the best reaches `target` or `time_limit` seconds pass. Returns the best of `bound` and the pair
    figures. O(max_nodes^2) pairs, each up to four min-cut queries
    (O(k + edges + reads) plus a max flow on the free nodes each).
    """
    deadline = time.perf_counter() + time_limit
    steps = np.asarray(step_memory, dtype=np.int64)
    if not (steps > bound).any() or len(steps) < 2 or not time_limit > 0:
        return int(bound)
    top = np.argsort(-steps, kind="stable")[:max_nodes].tolist()
    try:
        net = _mincut.MinCutNetwork(prob, MINCUT_BYTES)
    except MemoryError:
        return int(bound)
    pred_ptr, pred_idx = net.pred_ptr, net.pred_idx
    own = np.asarray(prob.sub.alloc) + np.asarray(prob.sub.ws)
    best = int(bound)

    def step_figure(v, also_in=(), also_out=()):
        """Least memory of v's step with `also_in` done and `also_out` not;
        None when no downset allows it (the case is impossible)."""
        forced_in = pred_idx[pred_ptr[v]:pred_ptr[v + 1]].tolist() + list(also_in)
        try:
            live, _ = net.min_live(forced_in, [v] + list(also_out))
        except ValueError:
            return None
        return live + int(own[v])

    def case(u, v):
        """Least peak of u's and v's steps over orders running u before v
        (None if none does); stops early at or below `best`."""
        first = step_figure(u, also_out=(v,))
        if first is None:
            return None
        second = step_figure(v, also_in=(u,))
        return None if second is None else max(first, second)

    # Pairs (top[i], top[j]), i < j, by j: the set of nodes grows a node at
    # a time, so a longer time limit tries more; top[i] steps higher.
    for j in range(1, len(top)):
        v = top[j]
        for u in top[:j]:
            if steps[u] <= best:
                break                       # so do the later ones of this j
            if time.perf_counter() > deadline:
                return best
            one = case(u, v)
            if one is not None and one <= best:
                continue                    # the pair cannot raise the bound
            other = case(v, u)
            figures = [c for c in (one, other) if c is not None]
            if figures and min(figures) > best:
                best = min(figures)
                if best >= target:
                    return best
    return best
