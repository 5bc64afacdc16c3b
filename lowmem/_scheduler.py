"""``lowmem.schedule``: the execution order with the lowest peak memory.

The graph is split at nodes every order runs at the same place (see
_decompose.py); each segment is cut out (_problem.py) and checked once
(_core.CoreProblem). Per segment:

1. first orders (HEURISTICS): the listed order, the depth-first family of
   _orders.py (Theano's C VM and Stack VM orders, two variants, XLA's DFS
   memory scheduler) restricted to the segment, and the two greedy rules of
   _heuristics.pyx, each with ties to the listed and to the dfs order; the
   best is the segment's incumbent;
2. a lower bound (_lower_bounds.lower_bound): working sets, pinned bytes,
   the reachability bounds, then the per-node min-cut bound on the nodes
   whose step in the incumbent is above the bound so far, then min cuts on
   pairs of the highest steps;
3. a segment made of independent parts is solved part by part and merged
   by the hill-valley rule (_parts.py), exact where _parts proves it.

Then, within the time limit, which counts from the start of the call, the
segment holding the peak is improved (see _search_segments): branch and
bound from its root (_search.Searcher, resumable) and, on segments of more
than LOCAL_SEARCH_NODES nodes, in alternating slices of doubling length,
the large-neighbourhood search (_neighbourhood.py), the two sharing the
incumbent; once the windows stall, branch and bound takes the rest. The peak of the joined order is the largest segment peak, so the result is
never above any first order (each is the join of its restrictions).
"""

import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from . import _heuristics, _search
from ._core import CoreProblem
from ._decompose import segments
from ._graph import BYTES_LIMIT
from ._lower_bounds import lower_bound, node_step_memory, pair_bound
from ._model import OrderError, as_node_ids, check_order
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
# Branch and bound proves segments of a few hundred nodes within a second
# when it can at all; above that, windows improve large orders faster.
LOCAL_SEARCH_NODES = 300   # larger segments also get the local search
FIRST_SLICE = 0.05         # seconds of the first branch and bound / local search slices
PAIR_SHARE = 0.25          # of the time left, for the pair bound after the first round
SMALL_SEGMENT = 16         # segments of at most this many nodes: cheap bounds, no parts
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
    heuristic_peaks peak of each first order (HEURISTICS) on the whole
                    graph: 'default' (listed), 'dfs' (Theano's C VM),
                    'dfs_reversed' (Theano's Stack VM),
                    'dfs_orderings_after', 'dfs_reversed_orderings_after',
                    'xla_dfs' (see _orders.py), 'greedy' (most freed minus
                    allocated first), 'lpmf' (least memory first), and
                    'greedy_dfs_ties', 'lpmf_dfs_ties' (ties to the dfs
                    order instead of the listed one)
    stats           seconds, prepare_seconds (tables, segments, first
                    orders and bounds), states (search states expanded),
                    memo_hits, forced (dominance moves), memo_entries,
                    segments, searched_segments, timed_out; first_order
                    (the incumbent of the segment with the highest first
                    peak: a HEURISTICS name, or 'parts_merge'),
                    first_order_wins (segments per first order),
                    neighbourhoods and neighbourhoods_improved (windows
                    re-solved by the local search, and those that improved
                    the order), bound_source (what gives lower_bound:
                    'working_set', 'pinned', 'forced_live', 'last_of_set',
                    'min_cut', 'min_cut_pairs', 'parts_merge' or 'search')
    """
    order: np.ndarray
    peak: int
    lower_bound: int
    optimal: bool
    default_peak: int
    heuristic_peaks: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    recompute: object = None

    def to_dict(self):
        out = {"order": [int(n) for n in self.order], "peak": self.peak,
               "lower_bound": self.lower_bound, "optimal": self.optimal,
               "default_peak": self.default_peak,
               "heuristic_peaks": dict(self.heuristic_peaks), "stats": dict(self.stats)}
        if self.recompute is not None:
            out["recompute"] = self.recompute.to_dict()
        return out


@dataclass
class Recompute:
    """What a schedule with a memory budget decided (Schedule.recompute).

    memory_budget      the budget in bytes
    fits               the order's peak is within it
    added_cost         summed cost of the runs beyond each node's first
    cost_lower_bound   no order within the budget adds less (proven)
    reruns             node id -> extra runs
    best_peak          peak of the best order running each node once
    memory_lower_bound no order, with repeats or not, peaks below this
    source             the first plan the order came from
    """
    memory_budget: int
    fits: bool
    added_cost: float
    cost_lower_bound: float
    reruns: dict
    best_peak: int
    memory_lower_bound: int
    source: str = ""

    def to_dict(self):
        return {"memory_budget": self.memory_budget, "fits": self.fits,
                "added_cost": self.added_cost,
                "cost_lower_bound": (None if math.isinf(self.cost_lower_bound)
                                     else self.cost_lower_bound),
                "reruns": {str(n): c for n, c in self.reruns.items()},
                "best_peak": self.best_peak, "memory_lower_bound": self.memory_lower_bound,
                "source": self.source}


@dataclass
class _Segment:
    prob: object            # the checked _core.CoreProblem
    order: np.ndarray       # local ids
    peak: int
    lower_bound: int
    heuristic_peaks: dict
    first_order: str        # the name of the best first order
    bound_source: str       # the bound that gave lower_bound, or "search"
    planned_states: int = 0  # search states spent while planning (small segments)


def _plan_segment(prob, ranks, bound_seconds, start_rank=None):
    """The first orders of one segment (the best is its incumbent) and its
    lower bound (_lower_bounds.lower_bound: the reachability and min-cut
    parts within `bound_seconds`, none when <= 0). `ranks[i, v]`: global
    node v's place in the structural order ORDER_NAMES[i]; restricted to
    the segment, each is a valid order of it. `start_rank`, if given: each
    node's place in the caller's start order, one more first order
    ("start")."""
    if _one_order(prob.sub):
        # Every first order is the listed one, and it is optimal.
        peak = _heuristics.evaluate(prob, np.arange(prob.k, dtype=np.int64))
        return _Segment(prob, np.arange(prob.k, dtype=np.int64), peak, peak,
                        dict.fromkeys(HEURISTICS, peak), "default", "search")
    # The listed order and the structural ones restricted to the segment,
    # evaluated in one call (the per-call overhead dominates on the many
    # small segments of real graphs).
    names = ("default",) + ORDER_NAMES + (() if start_rank is None else ("start",))
    rows = np.empty((len(names), prob.k), dtype=np.int64)
    rows[0] = np.arange(prob.k)
    rows[1:1 + len(ORDER_NAMES)] = np.argsort(ranks[:, prob.sub.nodes], axis=1, kind="stable")
    if start_rank is not None:
        rows[-1] = np.argsort(start_rank[prob.sub.nodes], kind="stable")
    candidates = dict(zip(names, rows))
    peaks = dict(zip(names, _heuristics.evaluate_orders(prob, rows).tolist()))
    for name, (rule, ties) in GREEDY_ORDERS.items():
        tie_rank = None
        if ties is not None:
            tie_rank = np.empty(prob.k, dtype=np.int64)
            tie_rank[candidates[ties]] = np.arange(prob.k)
        candidates[name], peaks[name] = _heuristics.greedy(prob, rule, tie_rank)
    best = min(HEURISTICS + names[1 + len(ORDER_NAMES):], key=lambda name: peaks[name])
    if prob.k <= SMALL_SEGMENT:
        # Branch and bound settles a segment this small in microseconds
        # (at most 2**16 executed sets); the stronger bounds and the parts
        # would cost more than it.
        bound, source = lower_bound(prob, 0.0)
        plan = _Segment(prob, candidates[best], peaks[best], bound, peaks, best, source)
        if plan.peak > bound and bound_seconds > 0:
            result = _search.search(prob, plan.order, plan.peak, static_lb=bound,
                                    time_limit=bound_seconds, memory_limit=PART_MEMORY)
            plan.order, plan.peak = result["order"], result["peak"]
            plan.planned_states = result["states"]
            if result["exhausted"]:
                plan.lower_bound, plan.bound_source = plan.peak, "search"
        return plan
    # Each node's step in the incumbent bounds its min-cut figure from
    # above: only nodes stepping above the cheaper bounds are cut.
    steps = node_step_memory(prob, candidates[best])
    bound, source = lower_bound(prob, bound_seconds, step_memory=steps, upper=peaks[best])
    plan = _Segment(prob, candidates[best], peaks[best], bound, peaks, best, source)
    # Every node of a DAG descends from a source (a node without
    # predecessors), so a segment with one source is connected: one part.
    if plan.peak > plan.lower_bound and np.count_nonzero(prob.sub.pred_count == 0) > 1:
        _merge_parts(plan, bound_seconds)
    return plan


def _one_order(sub):
    """True when the segment has a single valid order: each node in the
    listed order is a direct successor of the one before (a node's
    predecessors come before it, so the listed order is then forced).
    O(k + edges)."""
    k = sub.k
    if k <= 1:
        return True
    rows = np.repeat(np.arange(k, dtype=np.int64), np.diff(sub.succ_ptr))
    follows = np.zeros(k, dtype=bool)
    follows[rows[sub.succ_idx == rows + 1]] = True
    return bool(follows[:-1].all())


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


class _SegmentSearch:
    """Branch and bound (a resumable _search.Searcher) and, on segments of
    more than LOCAL_SEARCH_NODES nodes, the large-neighbourhood search
    (_neighbourhood.SegmentWindows) over one segment, sharing the
    incumbent: an order either finds is offered to the other."""

    def __init__(self, tables, plan, memory_limit, seed):
        self.plan = plan
        self.searcher = _search.Searcher(plan.prob, plan.order, plan.peak,
                                         static_lb=plan.lower_bound, memory_limit=memory_limit)
        self.windows = SegmentWindows(tables, plan.prob, plan.order, plan.peak, seed=seed) \
            if plan.prob.k > LOCAL_SEARCH_NODES else None
        self.counted = dict.fromkeys(("states", "memo_hits", "forced"), 0)
        self.rounds, self.paired, self.out_of_memory = 0, False, False

    def pair_bound(self, seconds):
        """Raise the segment's bound by min cuts on pairs of the current
        order's highest steps (_lower_bounds.pair_bound), once."""
        plan = self.plan
        self.paired = True
        steps = node_step_memory(plan.prob, plan.order)
        bound = pair_bound(plan.prob, steps, plan.lower_bound, plan.peak, seconds)
        if bound > plan.lower_bound:
            plan.lower_bound, plan.bound_source = bound, "min_cut_pairs"
            self.searcher.raise_bound(bound)

    def branch_and_bound(self, seconds, stop_at, stats):
        """A slice of branch and bound; True once the segment is settled
        (proven optimal, or at or below `stop_at`)."""
        plan = self.plan
        result = self.searcher.run(max(seconds, 0.0), max(stop_at, plan.lower_bound))
        for key in self.counted:
            stats[key] += result[key] - self.counted[key]
            self.counted[key] = result[key]
        stats["memo_entries"] = max(stats["memo_entries"], result["memo_entries"])
        if result["peak"] < plan.peak:
            plan.order, plan.peak = result["order"], result["peak"]
            if self.windows is not None:
                self.windows.offer(plan.order, plan.peak)
        if result["exhausted"]:
            plan.lower_bound, plan.bound_source = plan.peak, "search"
        self.out_of_memory = result["out_of_memory"]
        return result["exhausted"] or plan.peak <= max(stop_at, plan.lower_bound)

    def local_search(self, deadline, stop_at):
        """Windows until `deadline` (or until they stall)."""
        plan, windows = self.plan, self.windows
        while time.perf_counter() < deadline and not windows.stalled:
            windows.step(deadline, lower_bound=plan.lower_bound, stop_at=stop_at)
            if windows.peak < plan.peak:
                plan.order, plan.peak = windows.order.copy(), windows.peak
                self.searcher.offer(plan.order, plan.peak)
            if plan.peak <= max(stop_at, plan.lower_bound):
                return


def _search_segments(tables, plans, lower, deadline, memory_limit, tolerance_bytes,
                     tolerance_ratio, stats):
    """Improve the segment holding the peak until the deadline, the worst
    first, while a better peak would lower the whole graph's. A segment of
    at most LOCAL_SEARCH_NODES nodes gets branch and bound alone; a larger
    one alternates slices of branch and bound and of the local search,
    each twice as long as the last (starting at FIRST_SLICE seconds), so
    that a longer time limit first does what a shorter one does; once the
    windows stall, branch and bound takes the rest. One search is kept at
    a time (its memo table is the memory limit). Returns the raised global
    lower bound."""
    current, windows_tried, windows_improved, searched = None, 0, 0, set()
    while plans and time.perf_counter() < deadline:
        worst = max(plans, key=lambda p: p.peak)
        good_enough = _good_enough(lower, tolerance_bytes, tolerance_ratio)
        if worst.peak <= max(good_enough, worst.lower_bound):
            break
        if current is None or current.plan is not worst:
            if current is not None and current.windows is not None:
                windows_tried += current.windows.tried
                windows_improved += current.windows.improved
            current = None                      # frees its memo table first
            current = _SegmentSearch(tables, worst, memory_limit, seed=len(searched))
            searched.add(id(worst))
            slice_seconds = FIRST_SLICE
        remaining = deadline - time.perf_counter()
        if current.rounds == 1 and not current.paired:
            # After a first round the order is better, so are the pairs'
            # candidates (its highest steps).
            current.pair_bound(PAIR_SHARE * remaining)
            lower = max(lower, worst.lower_bound)
            continue
        alone = current.windows is None or current.windows.stalled
        if current.out_of_memory:
            if alone:
                break                           # nothing left that can run
            settled = False                     # the windows go on alone
        else:
            seconds = remaining if alone and current.paired else min(slice_seconds, remaining)
            settled = current.branch_and_bound(seconds, good_enough, stats)
        if not settled and not alone:
            current.local_search(min(deadline, time.perf_counter() + slice_seconds),
                                 good_enough)
        slice_seconds *= 2
        current.rounds += 1
        lower = max(lower, worst.lower_bound)
        if not settled and time.perf_counter() >= deadline:
            break
    if current is not None and current.windows is not None:
        windows_tried += current.windows.tried
        windows_improved += current.windows.improved
    stats["searched_segments"] = len(searched)
    stats["neighbourhoods"], stats["neighbourhoods_improved"] = windows_tried, windows_improved
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
             tolerance_bytes=0, tolerance_ratio=0.0, start_order=None, memory_budget=None):
    """Find the order of `graph`'s nodes with the lowest peak memory; with a
    `memory_budget`, the order (nodes possibly run more than once) whose
    peak fits it at the least added compute cost found.

    See :func:`_schedule_once` for the parameters and the result without a
    budget. memory_budget: bytes (an int >= 0) or a fraction of the best
    order's peak (a float > 0). When the best order running each node once
    fits, it is the result (added cost 0). Otherwise half of `time_limit`
    goes to finding that order and the rest to recomputation (_recompute.py):
    the result's order lists recomputed nodes again, ``peak`` is its peak,
    ``lower_bound`` the lowest peak any order with repeats can have,
    ``optimal`` True only when the added cost equals its proven lower bound,
    and ``recompute`` (a :class:`Recompute`) says what was added. If no
    order within the budget is found, the result is the lowest peak found
    (``recompute.fits`` False). Raises TypeError or ValueError naming the
    argument on a bad one.
    """
    if memory_budget is None:
        return _schedule_once(graph, time_limit, memory_limit, decompose, tolerance_bytes,
                              tolerance_ratio, start_order)
    return _schedule_within(graph, memory_budget, time_limit, memory_limit, decompose,
                            start_order)


def _budget_bytes(memory_budget, best_peak):
    """A budget in bytes from an int (bytes) or a float (fraction of the
    best peak)."""
    if isinstance(memory_budget, (bool, np.bool_)):
        raise TypeError("memory_budget must be a number of bytes (int) or a fraction of the "
                        "best peak (float), not a bool")
    if isinstance(memory_budget, (int, np.integer)):
        return _byte_count("memory_budget", memory_budget, 0)
    if isinstance(memory_budget, (float, np.floating)):
        if not math.isfinite(memory_budget) or memory_budget <= 0:
            raise ValueError(f"memory_budget as a fraction of the best peak must be a finite "
                             f"number > 0, got {memory_budget!r}")
        return int(memory_budget * best_peak)
    raise TypeError(f"memory_budget must be a number of bytes (int) or a fraction of the best "
                    f"peak (float), not {type(memory_budget).__name__}")


def _schedule_within(graph, memory_budget, time_limit, memory_limit, decompose, start_order):
    from . import _recompute
    t0 = time.perf_counter()
    _budget_bytes(memory_budget, 0)         # a bad budget fails before any search
    limit = _real("time_limit", time_limit, finite=False)
    once = _schedule_once(graph, limit / 2, memory_limit, decompose, 0, 0.0, start_order)
    budget = _budget_bytes(memory_budget, once.peak)
    tables = _recompute.tables_of(graph)
    memory_lower = tables.memory_lower_bound()
    if not any(tables.repeatable):
        # Nothing may run twice: the single-run bound holds.
        memory_lower = max(memory_lower, once.lower_bound)
    stats = dict(once.stats)
    # Keep a little of the time for the last check and the result.
    deadline = t0 + limit - min(CLEANUP_SHARE * limit, CLEANUP_MAX_SECONDS)
    if once.peak <= budget:
        plan = _recompute.RecomputePlan(once.order, once.peak, 0.0, {}, True, "no recomputation")
    else:
        bases = {"best": once.order, "listed": graph.default_order()}
        plan = None
        if budget >= memory_lower:
            plan = _recompute.plan_within(tables, budget, bases, deadline)
        if plan is None:
            # Nothing within the budget: the lowest peak found, with at least
            # a little time to find one.
            plan = _recompute.lowest_reachable(tables, bases, max(memory_lower, budget + 1),
                                               once.peak, max(deadline, time.perf_counter() + 1))
            if plan is None:
                plan = _recompute.RecomputePlan(once.order, once.peak, 0.0, {}, False,
                                                "no recomputation")
            plan.fits = plan.peak <= budget     # the walks are not monotone in the budget
    cost_lower = _recompute.cost_lower_bound(graph, budget, once.lower_bound)
    stats["seconds"] = time.perf_counter() - t0
    stats["recompute_seconds"] = stats["seconds"] - once.stats["seconds"]
    info = Recompute(memory_budget=budget, fits=bool(plan.fits), added_cost=plan.added_cost,
                     cost_lower_bound=cost_lower, reruns=dict(plan.reruns),
                     best_peak=once.peak, memory_lower_bound=memory_lower, source=plan.source)
    return Schedule(order=plan.order, peak=int(plan.peak),
                    lower_bound=int(min(memory_lower, plan.peak)),
                    optimal=bool(plan.fits and plan.added_cost <= cost_lower),
                    default_peak=once.default_peak, heuristic_peaks=once.heuristic_peaks,
                    stats=stats, recompute=info)


def _schedule_once(graph, time_limit=1.0, memory_limit=DEFAULT_MEMORY_LIMIT, decompose=True,
                   tolerance_bytes=0, tolerance_ratio=0.0, start_order=None):
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
    start_order : sequence of node ids, optional
        An order to start from (say, the best one an earlier call found):
        one more first order, named "start", so the result is never worse
        than it and the search continues from it. OrderError (a
        ValueError) unless it is a valid order of `graph`.

    Raises TypeError or ValueError naming the argument on a bad argument.

    Returns
    -------
    Schedule

    Complexity: O(nodes + edges) to build the tables (plus
    O(variables * log of the longest alias chain) for the alias roots) and
    the segments, O((nodes + edges) log nodes) for the structural orders;
    per segment of k nodes O(k + its edges) to cut and check it, O((k + its
    edges) log k) per first order, O(k) for the working-set bounds and, on
    segments of at most 16,384 nodes (REACHABILITY_BYTES of tables),
    O(k^2/64 * d) word operations for the reachability bounds, then a max
    flow per min-cut node, both while BOUND_SHARE of the time left remains;
    then branch and bound and the local search, exponential in the worst
    case but bounded by `time_limit`.
    Once the time is spent, the segments not yet planned are planned as
    one (no per-segment cost).
    """
    t0 = time.perf_counter()
    time_limit, memory_limit, decompose, tolerance_bytes, tolerance_ratio = _check_args(
        graph, time_limit, memory_limit, decompose, tolerance_bytes, tolerance_ratio)
    # Keep a little of the time for cleaning up (freeing a large memo table).
    deadline = t0 + time_limit - min(CLEANUP_SHARE * time_limit, CLEANUP_MAX_SECONDS)
    n = graph.n_nodes
    start_rank = None
    if start_order is not None:
        try:
            start_order = check_order(graph, start_order)
        except OrderError as e:
            raise OrderError(f"schedule: start_order: {e}") from None
        start_rank = np.empty(n, dtype=np.int64)
        start_rank[start_order] = np.arange(n)
    tables = buffer_tables(graph)
    structural = structural_orders(graph, tables)
    ranks = np.empty((len(ORDER_NAMES), n), dtype=np.int64)
    for i, name in enumerate(ORDER_NAMES):
        ranks[i, structural[name]] = np.arange(n)
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
        plans.append(_plan_segment(prob, ranks, BOUND_SHARE * remaining, start_rank))
        done[nodes] = True
        live = prob.pinned_bytes
        if nodes[-1] == n - 1:
            break

    stats = {"states": 0, "memo_hits": 0, "forced": 0, "segments": len(plans),
             "searched_segments": 0, "timed_out": False, "memo_entries": 0,
             "prepare_seconds": time.perf_counter() - t0,
             "neighbourhoods": 0, "neighbourhoods_improved": 0}
    stats["states"] = sum(p.planned_states for p in plans)
    lower = max((p.lower_bound for p in plans), default=0)
    # The first order that set the starting peak: the incumbent of the
    # segment with the highest first peak; and how many segments each won.
    stats["first_order"] = max(plans, key=lambda p: p.peak).first_order if plans else "default"
    stats["first_order_wins"] = {}
    for plan in plans:
        wins = stats["first_order_wins"]
        wins[plan.first_order] = wins.get(plan.first_order, 0) + 1

    lower = _search_segments(tables, plans, lower, deadline, memory_limit, tolerance_bytes,
                             tolerance_ratio, stats)
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
