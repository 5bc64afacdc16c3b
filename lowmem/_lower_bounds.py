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

The last two need reachability tables of k^2/4 bytes (_bounds.pyx), built
only while they fit in REACHABILITY_BYTES.
"""

from . import _bounds

REACHABILITY_BYTES = 64 * 2**20


def static_lower_bound(prob, time_limit=float("inf")):
    """The best of the bounds above for a checked ``_core.CoreProblem``
    (0 for an empty one). The reachability bounds are skipped when their
    tables would exceed REACHABILITY_BYTES (above 16,384 nodes) or
    when `time_limit` seconds pass while they are computed. O(k) for the
    first two; O(k^2/64 * degree + bytes set) word operations for the
    others, stopped at the time limit.
    """
    if prob.k == 0:
        return 0
    bound = max(int(prob.working_set.max()), prob.pinned_bytes)
    if _bounds.table_bytes(prob.k) > REACHABILITY_BYTES or not time_limit > 0:
        return bound
    more = _bounds.reachability_bounds(prob, time_limit)
    return bound if more is None else max(bound, *more)
