"""``lowmem.schedule``: the execution order with the lowest peak memory.

The graph is split at nodes every order runs at the same place (see
decompose.py); each segment gets the best of four heuristic orders as a
first upper bound and a static lower bound (bounds.py); then the branch and
bound search (_search.pyx) improves the segments whose upper bound is above
the global lower bound, the worst first, within the time limit. The peak
of the joined order is the largest segment peak.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from . import _heuristics, _search
from ._lower_bounds import static_lower_bound
from ._decompose import segments
from ._graph import Graph
from ._model import OrderError, as_node_ids
from ._orders import dfs_postorder
from ._problem import buffer_tables, subproblem

HEURISTICS = ("default", "dfs", "greedy", "lpmf")
DEFAULT_MEMORY_LIMIT = 256 * 2**20
CLEANUP_SHARE, CLEANUP_MAX_SECONDS = 0.03, 0.05


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
    stats           seconds, states (search states expanded), memo_hits,
                    forced (dominance moves), segments, searched_segments,
                    timed_out
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
    sub: object
    order: np.ndarray       # local ids
    peak: int
    lower_bound: int
    heuristic_peaks: dict


def _plan_segment(tables, nodes, done_before, live_before, dfs_rank):
    sub = subproblem(tables, nodes, done_before, live_before)
    candidates = {
        "default": np.arange(sub.k, dtype=np.int64),
        "dfs": np.argsort(dfs_rank[nodes], kind="stable").astype(np.int64),
        "greedy": _heuristics.greedy(sub, _heuristics.FREED_MINUS_ALLOCATED)[0],
        "lpmf": _heuristics.greedy(sub, _heuristics.LEAST_MEMORY)[0],
    }
    peaks = {name: _heuristics.evaluate(sub, order) for name, order in candidates.items()}
    best = min(HEURISTICS, key=lambda name: peaks[name])
    return _Segment(sub, candidates[best], peaks[best], static_lower_bound(sub), peaks)


def _improve(plan, good_enough, deadline, memory_limit, stats):
    """Branch and bound on one segment until its order is proven optimal,
    peaks at or below `good_enough` (a bound on the whole graph, plus any
    tolerance: nothing below it helps), or the deadline passes."""
    remaining = deadline - time.perf_counter()
    if remaining <= 0:
        stats["timed_out"] = True
        return
    result = _search.search(plan.sub, plan.order, plan.peak, static_lb=plan.lower_bound,
                            stop_at=max(good_enough, plan.lower_bound), time_limit=remaining,
                            memory_limit=memory_limit)
    for key in ("states", "memo_hits", "forced"):
        stats[key] += result[key]
    stats["memo_entries"] = max(stats["memo_entries"], result["memo_entries"])
    stats["timed_out"] |= result["timed_out"]
    plan.order, plan.peak = result["order"], result["peak"]
    if result["exhausted"]:
        plan.lower_bound = plan.peak


def _check_args(graph, time_limit, memory_limit):
    if not isinstance(graph, Graph):
        raise TypeError(f"schedule() needs a lowmem.Graph, got {type(graph).__name__}")
    if not isinstance(time_limit, (int, float)) or not time_limit >= 0:
        raise ValueError(f"time_limit must be a number of seconds >= 0, got {time_limit!r}")
    if not isinstance(memory_limit, (int, np.integer)) or memory_limit < 2**20:
        raise ValueError(f"memory_limit must be at least 1 MiB (in bytes), got {memory_limit!r}")


def schedule(graph, time_limit=1.0, memory_limit=DEFAULT_MEMORY_LIMIT, decompose=True,
             tolerance_bytes=0, tolerance_ratio=0.0):
    """Find the order of `graph`'s nodes with the lowest peak memory.

    Parameters
    ----------
    graph : Graph
    time_limit : float
        Seconds for the whole call; the search stops then and the best
        order found so far is returned (never worse than the listed order).
    memory_limit : int
        Bytes the search may use for its memo table and stacks.
    decompose : bool
        Split the graph at nodes every order runs at the same place
        (exact; off only to test that it is).
    tolerance_bytes, tolerance_ratio : int, float
        Stop searching once the peak is within max(tolerance_bytes,
        tolerance_ratio * lower bound) of the lower bound (default 0: search
        until proven or out of time). ``optimal`` still means proven.

    Returns
    -------
    Schedule

    Complexity: O(nodes + edges) to build tables and split, O(k * r * d)
    per heuristic on a segment of k nodes with r ready nodes of degree d,
    O(k^2) for the static bound on segments up to 6,000 nodes, then branch
    and bound, exponential in the worst case but bounded by `time_limit`.
    """
    _check_args(graph, time_limit, memory_limit)
    if not tolerance_bytes >= 0 or not tolerance_ratio >= 0:
        raise ValueError("tolerances must be >= 0")
    t0 = time.perf_counter()
    # Keep a little of the time for cleaning up (freeing a large memo table).
    deadline = t0 + time_limit - min(CLEANUP_SHARE * time_limit, CLEANUP_MAX_SECONDS)
    n = graph.n_nodes
    tables = buffer_tables(graph)
    dfs_rank = np.empty(n, dtype=np.int64)
    dfs_rank[dfs_postorder(graph)] = np.arange(n)
    parts = segments(graph) if decompose else ([np.arange(n, dtype=np.int64)] if n else [])

    plans, done, live = [], np.zeros(n, dtype=bool), 0
    for nodes in parts:
        plan = _plan_segment(tables, nodes, done, live, dfs_rank)
        plans.append(plan)
        done[nodes] = True
        sub = plan.sub
        live = sub.base + int(sub.buf_size[sub.buf_pinned.astype(bool)].sum())

    stats = {"states": 0, "memo_hits": 0, "forced": 0, "segments": len(plans),
             "searched_segments": 0, "timed_out": False, "memo_entries": 0}
    lower = max((p.lower_bound for p in plans), default=0)

    def good_enough():
        return lower + max(int(tolerance_bytes), int(tolerance_ratio * lower))

    for plan in sorted(plans, key=lambda p: -p.peak):
        if plan.peak <= good_enough():
            break
        stats["searched_segments"] += 1
        _improve(plan, good_enough(), deadline, int(memory_limit), stats)
        lower = max(lower, plan.lower_bound)
        if stats["timed_out"]:
            break

    order = np.concatenate([p.sub.nodes[p.order] for p in plans]) if plans else \
        np.zeros(0, dtype=np.int64)
    peak = max((p.peak for p in plans), default=0)
    heuristic_peaks = {name: max((p.heuristic_peaks[name] for p in plans), default=0)
                       for name in HEURISTICS}
    stats["seconds"] = time.perf_counter() - t0
    return Schedule(order=order, peak=int(peak), lower_bound=int(min(lower, peak)),
                    optimal=bool(peak <= lower), default_peak=heuristic_peaks["default"],
                    heuristic_peaks=heuristic_peaks, stats=stats)


def core_peak(graph, order):
    """Peak of `order` as the Cython core computes it (tests compare it with
    the reference :func:`lowmem.peak`). Raises OrderError on an invalid order."""
    n = graph.n_nodes
    sub = subproblem(buffer_tables(graph), np.arange(n), np.zeros(n, dtype=bool), 0)
    order = as_node_ids(order)
    try:
        return _heuristics.evaluate(sub, order)
    except ValueError as e:
        raise OrderError(str(e)) from None
