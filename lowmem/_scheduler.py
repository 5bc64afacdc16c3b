"""``lowmem.schedule``: the execution order with the lowest peak memory.

The graph is split at nodes every order runs at the same place (see
_decompose.py); each segment is cut out (_problem.py) and checked once
(_core.CoreProblem), gets the best of four heuristic orders as a first
upper bound and a static lower bound (_lower_bounds.py); then the branch
and bound search (_search.pyx) improves the segments whose upper bound is
above the global lower bound, the worst first, within the time limit, which
counts from the start of the call. The peak of the joined order is the
largest segment peak.
"""

import os
import time
from dataclasses import dataclass, field

import numpy as np

from . import _heuristics, _search
from ._core import CoreProblem
from ._decompose import segments
from ._graph import BYTES_LIMIT
from ._lower_bounds import lower_bound, node_step_memory
from ._model import OrderError, as_node_ids
from ._neighbourhood import SegmentWindows
from ._orders import ORDER_NAMES, structural_orders
from ._parts import merge_parts
from ._problem import buffer_tables, check_flag, check_graph, subproblem

# The first orders of every segment, in the order of preference on ties:
# the listed order, the depth-first family (_orders.ORDER_NAMES: Theano's C
# VM and Stack VM orders, their variants, XLA's DFS memory scheduler), and
# the two greedy rules, each with ties to the listed and to the dfs order.
GREEDY_ORDERS = {"greedy": (_heuristics.FREED_MINUS_ALLOCATED, None),
                 "greedy_dfs_ties": (_heuristics.FREED_MINUS_ALLOCATED, "dfs"),
                 "lpmf": (_heuristics.LEAST_MEMORY, None),
                 "lpmf_dfs_ties": (_heuristics.LEAST_MEMORY, "dfs")}
HEURISTICS = ("default",) + ORDER_NAMES + tuple(GREEDY_ORDERS)
DEFAULT_MEMORY_LIMIT = 256 * 2**20
CLEANUP_SHARE, CLEANUP_MAX_SECONDS = 0.03, 0.05
# Share of the search time branch and bound from the segments' roots gets
# before the large-neighbourhood search takes over.
ROOT_SHARE = 0.3
# Share of the time left that a segment's lower bounds may take when it is
# planned (the min-cut bound stops there; the search needs the rest).
BOUND_SHARE = 0.25
PART_MEMORY = 8 * 2**20     # memo and stacks of one independent part's search


@dataclass
class Schedule:
    """The result of :func:`schedule`.

    order           node ids in execution order (int64 array)
    peak            its peak bytes under the memory model
    lower_bound     no valid order peaks below this
    optimal         True only when proven: peak == lower_bound, or the
                    search covered every order
    default_peak    peak of the listed order
    heuristic_peaks peak of each heuristic order: 'default' (listed), 'dfs'
                    (depth-first post-order, Theano's C VM), 'greedy' (most
                    freed minus allocated first), 'lpmf' (least memory first)
    stats           seconds, prepare_seconds (tables, segments, heuristics
                    and static bounds), states (search states expanded),
                    memo_hits, forced (dominance moves), memo_entries,
                    segments, searched_segments, timed_out
    """
    order: np.ndarray
    peak: int
    lower_bound: int
    optimal: bool
    default_peak: int
    heuristic_peaks: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)

    def to_dict(self):
        return {"order": [int(n) for n in self.order], "peak": self.peak,
                "lower_bound": self.lower_bound, "optimal": self.optimal,
                "default_peak": self.default_peak,
                "heuristic_peaks": dict(self.heuristic_peaks), "stats": dict(self.stats)}


@dataclass
class _Segment:
    prob: object            # the checked _core.CoreProblem
    order: np.ndarray       # local ids
    peak: int
    lower_bound: int
    heuristic_peaks: dict
    first_order: str        # the name of the best first order
    bound_source: str       # the bound that gave lower_bound, or "search"


def _plan_segment(prob, ranks, bound_seconds):
    """The first orders of one segment (the best is its incumbent) and its
    lower bound (_lower_bounds.lower_bound: the reachability and min-cut
    parts within `bound_seconds`, none when <= 0). `ranks[name][v]`: global node v's place in the structural
    order `name`; restricted to the segment, each is a valid order of it."""
    nodes = prob.sub.nodes
    candidates = {"default": np.arange(prob.k, dtype=np.int64)}
    for name in ORDER_NAMES:
        candidates[name] = np.argsort(ranks[name][nodes], kind="stable").astype(np.int64)
    peaks = {name: _heuristics.evaluate(prob, order) for name, order in candidates.items()}
    for name, (rule, ties) in GREEDY_ORDERS.items():
        tie_rank = None
        if ties is not None:
            tie_rank = np.empty(prob.k, dtype=np.int64)
            tie_rank[candidates[ties]] = np.arange(prob.k)
        candidates[name], peaks[name] = _heuristics.greedy(prob, rule, tie_rank)
    best = min(HEURISTICS, key=lambda name: peaks[name])
    # Each node's step in the incumbent bounds its min-cut figure from
    # above: only nodes stepping above the cheaper bounds are cut.
    steps = node_step_memory(prob, candidates[best])
    bound, source = lower_bound(prob, bound_seconds, step_memory=steps, upper=peaks[best])
    plan = _Segment(prob, candidates[best], peaks[best], bound, peaks, best, source)
    if plan.peak > plan.lower_bound:
        _merge_parts(plan, bound_seconds)
    return plan


def _solve_part(deadline):
    """A solver for _parts.merge_parts: the best greedy order of a part,
    then branch and bound on it until `deadline`."""
    def solve(prob):
        order, peak = min((_heuristics.greedy(prob, rule) for rule in
                           (_heuristics.FREED_MINUS_ALLOCATED, _heuristics.LEAST_MEMORY)),
                          key=lambda result: result[1])
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return order, peak, False
        result = _search.search(prob, order, peak, time_limit=remaining,
                                memory_limit=PART_MEMORY)
        return result["order"], result["peak"], result["exhausted"]
    return solve


def _merge_parts(plan, seconds):
    """When the segment splits into independent parts (no shared edge or
    buffer), solve each and merge their orders by the hill-valley rule
    (_parts.py): a better incumbent, and exact where _parts proves it."""
    merged = merge_parts(plan.prob, _solve_part(time.perf_counter() + seconds),
                         lower_bound=plan.lower_bound)
    if merged is None:
        return
    order, peak, exact = merged
    if peak < plan.peak:
        plan.order, plan.peak, plan.first_order = order, int(peak), "parts_merge"
    if exact and plan.peak <= peak:
        plan.lower_bound, plan.bound_source = plan.peak, "parts_merge"


def _improve(plan, good_enough, deadline, memory_limit, stats):
    """Branch and bound on one segment until its order is proven optimal,
    peaks at or below `good_enough` (a bound on the whole graph, plus any
    tolerance: nothing below it helps), or the deadline passes."""
    remaining = deadline - time.perf_counter()
    if remaining <= 0:
        stats["timed_out"] = True
        return
    result = _search.search(plan.prob, plan.order, plan.peak, static_lb=plan.lower_bound,
                            stop_at=max(good_enough, plan.lower_bound), time_limit=remaining,
                            memory_limit=memory_limit)
    for key in ("states", "memo_hits", "forced"):
        stats[key] += result[key]
    stats["memo_entries"] = max(stats["memo_entries"], result["memo_entries"])
    stats["timed_out"] |= result["timed_out"]
    plan.order, plan.peak = result["order"], result["peak"]
    if result["exhausted"]:
        plan.lower_bound, plan.bound_source = plan.peak, "search"


def _local_search(tables, plans, lower, deadline, tolerance_bytes, tolerance_ratio, stats):
    """Improve the segment holding the peak by re-solving windows of its
    order (_neighbourhood.py) until the deadline; a segment whose whole
    space was searched is optimal. Returns the raised global lower bound."""
    windows = {}
    while plans and time.perf_counter() < deadline:
        worst = max(plans, key=lambda p: p.peak)
        good_enough = _good_enough(lower, tolerance_bytes, tolerance_ratio)
        if worst.peak <= max(good_enough, worst.lower_bound):
            break
        state = windows.get(id(worst))
        if state is None:
            state = windows[id(worst)] = SegmentWindows(tables, worst.prob, worst.order,
                                                        worst.peak, seed=len(windows))
        state.step(deadline, lower_bound=worst.lower_bound, stop_at=good_enough)
        worst.order, worst.peak = state.order, state.peak
        if state.exhausted:
            worst.lower_bound, worst.bound_source = worst.peak, "search"
            lower = max(lower, worst.lower_bound)
    stats["neighbourhoods"] = sum(s.tried for s in windows.values())
    stats["neighbourhoods_improved"] = sum(s.improved for s in windows.values())
    return lower


def machine_memory():
    """Physical memory in bytes (2**62 when the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return BYTES_LIMIT


def _real(name, value, finite):
    """`value` as a float >= 0 (NaN refused; infinity only if not `finite`)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                      np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    # Ints beyond a float's range mean "unbounded" anyway (float() would overflow).
    x = float(max(min(int(value), 2**1000), -1)) if isinstance(value, (int, np.integer)) \
        else float(value)
    if not x >= 0 or (finite and x == float("inf")):
        raise ValueError(f"{name} must be a {'finite ' if finite else ''}number >= 0, "
                         f"got {value!r}")
    return x


def _byte_count(name, value, low):
    """`value` as a Python int in [low, 2**62)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer number of bytes, "
                        f"got {type(value).__name__}")
    if not low <= value < BYTES_LIMIT:
        raise ValueError(f"{name} must be at least {low} and below 2**62 bytes, got {value!r}")
    return int(value)


def _check_args(graph, time_limit, memory_limit, decompose, tolerance_bytes, tolerance_ratio):
    check_graph("schedule", graph)
    return (_real("time_limit", time_limit, finite=False),
            min(_byte_count("memory_limit", memory_limit, 2**20), machine_memory()),
            check_flag("schedule", "decompose", decompose),
            _byte_count("tolerance_bytes", tolerance_bytes, 0),
            _real("tolerance_ratio", tolerance_ratio, finite=True))


def _good_enough(lower, tolerance_bytes, tolerance_ratio):
    """Peak at which searching stops: the lower bound plus the tolerance,
    clamped to 2**62 (every peak is below it, so the clamp changes no
    decision; it keeps the figure in the search's int64 and a huge ratio,
    whose product with the bound is no int or is infinite, harmless)."""
    slack = tolerance_ratio * lower
    slack = BYTES_LIMIT if slack >= BYTES_LIMIT else int(slack)
    return min(lower + max(tolerance_bytes, slack), BYTES_LIMIT)


def schedule(graph, time_limit=1.0, memory_limit=DEFAULT_MEMORY_LIMIT, decompose=True,
             tolerance_bytes=0, tolerance_ratio=0.0):
    """Find the order of `graph`'s nodes with the lowest peak memory.

    Parameters
    ----------
    graph : Graph
    time_limit : float
        Seconds for the whole call, preparation included (``inf``: until
        proven). Once they are spent the search stops, or does not start,
        and the best order found so far is returned (never worse than the
        listed order). Preparation is linear; if it alone uses up the time,
        the call still runs the heuristics, so it may overrun a very small
        limit by their cost.
    memory_limit : int
        Bytes the search may use for its memo table and stacks: at least
        1 MiB, below 2**62; more than the machine's physical memory is
        clamped to it.
    decompose : bool
        Split the graph at nodes every order runs at the same place
        (exact; off only to test that it is). True or False only.
    tolerance_bytes, tolerance_ratio : int, float
        Stop searching once the peak is within max(tolerance_bytes,
        tolerance_ratio * lower bound) of the lower bound (default 0: search
        until proven or out of time); an int below 2**62 and a finite
        number >= 0. ``optimal`` still means proven.

    Raises TypeError or ValueError naming the argument on a bad argument.

    Returns
    -------
    Schedule

    Complexity: O(nodes + edges) to build the tables (plus
    O(variables * log of the longest alias chain) for the alias roots), the
    depth-first order and the segments; per segment of k nodes O(k + its
    edges) to cut and check it, O((k + its edges) log k) per greedy
    heuristic, O(k) for the working-set bounds and, on segments of at most
    16,384 nodes (REACHABILITY_BYTES of tables), O(k^2/64 * d) word
    operations for the reachability bounds while time remains; then branch
    and bound, exponential in the worst case but bounded by `time_limit`.
    Once the time is spent, the segments not yet planned are planned as
    one (no per-segment cost).
    """
    t0 = time.perf_counter()
    time_limit, memory_limit, decompose, tolerance_bytes, tolerance_ratio = _check_args(
        graph, time_limit, memory_limit, decompose, tolerance_bytes, tolerance_ratio)
    # Keep a little of the time for cleaning up (freeing a large memo table).
    deadline = t0 + time_limit - min(CLEANUP_SHARE * time_limit, CLEANUP_MAX_SECONDS)
    n = graph.n_nodes
    tables = buffer_tables(graph)
    ranks = {}
    for name, order in structural_orders(graph, tables).items():
        ranks[name] = np.empty(n, dtype=np.int64)
        ranks[name][order] = np.arange(n)
    parts = segments(graph) if decompose else ([np.arange(n, dtype=np.int64)] if n else [])

    # Planning the rest of the graph as one segment costs about what the
    # whole-graph passes above cost per node (linear heuristics and checks;
    # measured 1-2x of it): keep twice that for it, so that the merged plan
    # still ends by the deadline.
    seconds_per_node = (time.perf_counter() - t0) / max(n, 1)
    # Joining the segments' orders at the end is one more linear pass.
    deadline -= seconds_per_node * n
    plans, done, live = [], np.zeros(n, dtype=bool), 0
    for i, nodes in enumerate(parts):
        remaining = deadline - time.perf_counter()
        if remaining <= 2 * seconds_per_node * (n - nodes[0]) and i + 1 < len(parts):
            # Out of time: the rest as one segment, so that the cost left
            # does not grow with the number of segments.
            nodes = np.arange(nodes[0], n, dtype=np.int64)
        prob = CoreProblem(subproblem(tables, nodes, done, live))
        plans.append(_plan_segment(prob, ranks, BOUND_SHARE * remaining))
        done[nodes] = True
        live = prob.pinned_bytes
        if nodes[-1] == n - 1:
            break

    stats = {"states": 0, "memo_hits": 0, "forced": 0, "segments": len(plans),
             "searched_segments": 0, "timed_out": False, "memo_entries": 0,
             "prepare_seconds": time.perf_counter() - t0,
             "neighbourhoods": 0, "neighbourhoods_improved": 0}
    lower = max((p.lower_bound for p in plans), default=0)
    # The first order that set the starting peak: the incumbent of the
    # segment with the highest first peak; and how many segments each won.
    stats["first_order"] = max(plans, key=lambda p: p.peak).first_order if plans else "default"
    stats["first_order_wins"] = {}
    for plan in plans:
        wins = stats["first_order_wins"]
        wins[plan.first_order] = wins.get(plan.first_order, 0) + 1

    # 1. Branch and bound from each segment's root, the worst first, for a
    #    share of the time: it proves small segments at once.
    root_deadline = time.perf_counter() + ROOT_SHARE * max(deadline - time.perf_counter(), 0)
    for plan in sorted(plans, key=lambda p: -p.peak):
        good_enough = _good_enough(lower, tolerance_bytes, tolerance_ratio)
        if plan.peak <= good_enough:
            break
        stats["searched_segments"] += 1
        _improve(plan, good_enough, root_deadline, memory_limit, stats)
        lower = max(lower, plan.lower_bound)
        if time.perf_counter() >= root_deadline:
            break
    # 2. The large-neighbourhood search on the segment that holds the peak,
    #    until it is proven, good enough, stalled, or the time is spent.
    lower = _local_search(tables, plans, lower, deadline, tolerance_bytes, tolerance_ratio,
                          stats)
    stats["timed_out"] = bool(time.perf_counter() >= deadline and max(
        (p.peak for p in plans), default=0) > _good_enough(lower, tolerance_bytes,
                                                           tolerance_ratio))

    order = np.concatenate([p.prob.sub.nodes[p.order] for p in plans]) if plans else \
        np.zeros(0, dtype=np.int64)
    peak = max((p.peak for p in plans), default=0)
    heuristic_peaks = {name: max((p.heuristic_peaks[name] for p in plans), default=0)
                       for name in HEURISTICS}
    # The bound that proves the reported lower bound: the highest segment's.
    stats["bound_source"] = max(plans, key=lambda p: p.lower_bound).bound_source if plans \
        else "working_set"
    stats["seconds"] = time.perf_counter() - t0
    return Schedule(order=order, peak=int(peak), lower_bound=int(min(lower, peak)),
                    optimal=bool(peak <= lower), default_peak=heuristic_peaks["default"],
                    heuristic_peaks=heuristic_peaks, stats=stats)


def core_peak(graph, order):
    """Peak of `order` as the Cython core computes it (tests compare it with
    the reference :func:`lowmem.peak`). Raises OrderError on an invalid order."""
    n = graph.n_nodes
    prob = CoreProblem(subproblem(buffer_tables(graph), np.arange(n), np.zeros(n, dtype=bool), 0))
    order = as_node_ids(order)
    try:
        return _heuristics.evaluate(prob, order)
    except ValueError as e:
        raise OrderError(str(e)) from None
