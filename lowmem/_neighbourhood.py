"""Large-neighbourhood search: improve a segment's order window by window.

Branch and bound from the root of a segment of thousands of nodes cannot
improve a good first order within a second: the choices that matter sit
near the peak step, thousands of levels deep. This local search keeps the
incumbent and repeatedly re-solves one window of it exactly:

* a window is a run of consecutive steps ``order[i:j]`` around a step at
  the segment's peak. The nodes before it (the prefix) and after it (the
  suffix) stay where they are. Any order of the window's nodes is valid
  with them (its nodes' predecessors are in the prefix or the window, and
  the suffix runs after the same executed set), and the suffix's steps see
  the same executed sets, so the same memory, whatever the window's order;
* so the window is a subproblem in its own right (``_problem.subproblem``
  of its nodes, run after the prefix, with the live bytes the incumbent
  has there): the existing branch and bound re-solves it exactly, from the
  incumbent's window order, looking for an order whose own peak is strictly
  lower. Buffers the suffix reads are pinned in it, exactly as for a
  segment;
* an improvement of the window's highest step is accepted: the segment's
  peak falls, or, when several windows reach the peak (a plateau), one of
  them leaves it, so the next window works on the others;
* windows start small and double whenever a round of tries over the peak
  steps improves nothing; past LARGEST_WINDOW (or half the segment) they
  start small again at new random places. A whole round of sizes without
  an improvement marks the search ``stalled``: the scheduler then gives
  the rest of the time to branch and bound over the whole segment, from
  the improved incumbent.

This is the large-neighbourhood search of Shaw (1998, "Using constraint
programming and local search methods to solve vehicle routing problems")
with the exact solver as the repair step; the windows over a schedule are
those of, e.g., XLA's and Inductor's memory-aware reordering passes, which
move nodes only near the peak.
"""

import time

import numpy as np

from . import _heuristics, _search
from ._core import CoreProblem
from ._heuristics import step_profile
from ._problem import subproblem

FIRST_WINDOW = 24            # steps in the first windows
# Windows double up to this size (or half the segment), then start small
# again at new random places: larger windows rarely finish in time.
LARGEST_WINDOW = 512
WINDOW_MEMORY = 8 * 2**20    # memo and stack bytes of a window's search
# Seconds a window's search may use: a base plus a share per node (larger
# windows need longer to find a move), never more than what is left.
WINDOW_SECONDS, WINDOW_SECONDS_PER_NODE = 0.01, 2e-4


class SegmentWindows:
    """The state of the search over one segment's order.

    tables      the graph's _problem.BufferTables
    prob        the segment's checked _core.CoreProblem
    order       its incumbent (local ids); peak: its peak
    seed        for the window positions (deterministic per segment)
    """

    def __init__(self, tables, prob, order, peak, seed=0):
        self.tables, self.prob = tables, prob
        self.order = np.ascontiguousarray(order, dtype=np.int64)
        self.peak = int(peak)
        self.nodes = prob.sub.nodes             # global ids, sorted
        self.rng = np.random.default_rng(seed)
        # Windows cover at most half the segment: the whole segment is the
        # root search, the scheduler's part.
        self.largest = max(min(LARGEST_WINDOW, prob.k // 2), 2)
        self.window = min(FIRST_WINDOW, self.largest)
        self.failures = 0                       # windows tried at this size in vain
        self.done = np.zeros(tables.n_nodes, dtype=bool)
        # Everything listed before the segment runs before it (segments are
        # consecutive ranges of a topological order; without decomposition
        # the one segment starts at node 0).
        self.done[:self.nodes[0] if len(self.nodes) else 0] = True
        self.live0 = prob.sub.live0
        self.tried = self.improved = self.rounds = 0
        # Improvements since the window size last started small: a whole
        # round of sizes without one means the windows are stalled.
        self.improved_this_round = 0
        self.stalled = False
        self._profile()

    def _profile(self):
        self.steps, self.live = step_profile(self.prob, self.order)

    def _window_problem(self, i, j):
        """(CoreProblem of steps i..j-1 run after the prefix, its global
        node ids sorted, the incumbent's window order in its local ids)."""
        prefix = self.nodes[self.order[:i]]
        window = np.sort(self.nodes[self.order[i:j]])
        self.done[prefix] = True
        try:
            live = int(self.live[i]) if i < len(self.live) else 0
            sub = subproblem(self.tables, window, self.done, live)
        finally:
            self.done[prefix] = False
        local = np.searchsorted(window, self.nodes[self.order[i:j]])
        return CoreProblem(sub), window, local

    def offer(self, order, peak):
        """Continue from `order` (local ids, peaking at `peak`, found by
        another search) if it is better; its windows are new ground, so the
        search is no longer stalled. True if taken."""
        if peak >= self.peak:
            return False
        self.order = np.array(order, dtype=np.int64)
        self._profile()
        self.peak = int(self.steps.max())
        if self.peak != peak:
            raise ValueError("peak is not the peak of the offered order")
        self.stalled, self.failures = False, 0
        return True

    def _accept(self, i, j, window, order):
        """Put the window's new order (its local ids) in place; True."""
        self.order[i:j] = np.searchsorted(self.nodes, window[order])
        self._profile()
        self.peak = int(self.steps.max())
        self.improved += 1
        self.improved_this_round += 1
        self.failures = 0
        return True

    def step(self, deadline, lower_bound=0, stop_at=-1):
        """Try one window around a peak step until `deadline`. Returns True
        when the incumbent improved. `lower_bound` and `stop_at` are the
        segment's: nothing below them is worth finding."""
        k = self.prob.k
        if k < 4 or self.peak <= max(lower_bound, stop_at):
            return False
        peaks = np.flatnonzero(self.steps == self.peak)
        centre = int(peaks[self.rng.integers(len(peaks))])
        w = self.window
        i = min(max(centre - int(self.rng.integers(w // 4, 3 * w // 4 + 1)), 0), k - w)
        j = i + w
        prob, window, local = self._window_problem(i, j)
        window_peak = int(self.steps[i:j].max())
        # Outside the window the steps stay; the segment's peak cannot fall
        # below them, so reaching their level is enough.
        outside = max(int(self.steps[:i].max(initial=0)), int(self.steps[j:].max(initial=0)))
        target = max(outside, lower_bound, stop_at)
        if target >= window_peak:
            target = window_peak - 1
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return False
        # The greedy rules first (O(w log w)): with the suffix's reads
        # pinned they see what the whole-segment greedy could not.
        for rule in (_heuristics.FREED_MINUS_ALLOCATED, _heuristics.LEAST_MEMORY):
            order, peak = _heuristics.greedy(prob, rule)
            if peak < window_peak:
                return self._accept(i, j, window, order)
        result = _search.search(prob, local, window_peak, stop_at=target,
                                time_limit=min(remaining, WINDOW_SECONDS
                                               + WINDOW_SECONDS_PER_NODE * (j - i)),
                                memory_limit=WINDOW_MEMORY)
        self.tried += 1
        if result["peak"] < window_peak:
            return self._accept(i, j, window, result["order"])
        self.failures += 1
        # A size is given up after a round of tries over its peak steps
        # (or after a few, when the peak is one step); then windows double,
        # and past the largest size a new round starts small.
        if self.failures >= max(3, min(len(peaks), 8)):
            self.failures = 0
            if 2 * self.window <= self.largest:
                self.window *= 2
            else:
                self.window = min(FIRST_WINDOW, self.largest)
                self.rounds += 1
                self.stalled = self.improved_this_round == 0
                self.improved_this_round = 0
        return False
