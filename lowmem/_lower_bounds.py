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

import numpy as np

from . import _bounds

REACHABILITY_BYTES = 64 * 2**20


def working_sets(sub):
    """Bytes live at each node's step in any order (int64 array of length k)."""
    used = np.zeros(sub.k, dtype=np.int64)
    rows = np.repeat(np.arange(sub.k), np.diff(sub.use_ptr))
    np.add.at(used, rows, sub.buf_size[sub.use_idx])
    return sub.base + used + sub.alloc + sub.ws


def pinned_split(sub):
    """(non_pinned_ws, pinned_alloc, pinned_live0) for the search's dynamic
    bound: each node's working set without ``base`` and without pinned
    buffers; the pinned bytes each node makes; the pinned bytes live at the
    start (``base`` included). Pinned bytes live at any state plus a node's
    non-pinned working set is a bound on that node's step.
    """
    rows = np.repeat(np.arange(sub.k), np.diff(sub.use_ptr))
    pinned = sub.buf_pinned.astype(bool)
    non_pinned_used = np.zeros(sub.k, dtype=np.int64)
    np.add.at(non_pinned_used, rows, sub.buf_size[sub.use_idx] * ~pinned[sub.use_idx])
    make_rows = np.repeat(np.arange(sub.k), np.diff(sub.make_ptr))
    pinned_alloc = np.zeros(sub.k, dtype=np.int64)
    np.add.at(pinned_alloc, make_rows, sub.buf_size[sub.make_idx] * pinned[sub.make_idx])
    made_inside = np.zeros(len(sub.buf_size), dtype=bool)
    made_inside[sub.make_idx] = True
    pinned_live0 = sub.base + int(sub.buf_size[pinned & ~made_inside].sum())
    return non_pinned_used + sub.alloc + sub.ws, pinned_alloc, pinned_live0


def static_lower_bound(sub):
    """The best of the bounds above (0 for an empty subproblem)."""
    if sub.k == 0:
        return 0
    ws = working_sets(sub)
    pinned_bytes = sub.base + int(sub.buf_size[sub.buf_pinned.astype(bool)].sum())
    bound = max(int(ws.max()), pinned_bytes)
    if _bounds.table_bytes(sub.k) > REACHABILITY_BYTES:
        return bound
    return max(bound, *_bounds.reachability_bounds(sub, ws))
