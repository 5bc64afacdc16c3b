"""Split a graph at nodes that every order must run at the same place.

A node comparable to every other node (each other node is its ancestor or
its descendant) runs after exactly its ancestors in any valid order, so the
executed set, and with it the live memory, is the same there for every
order. The orders before and after it can be optimised independently and
joined, and the peak of the join is the larger of the two peaks: the split
keeps the answer exact while the search spaces multiply no longer.
"""

import numpy as np


def cut_positions(pred_ptr, pred_idx, succ_ptr, succ_idx):
    """Positions of the nodes comparable to all others, in O(nodes + edges).

    The node ids must be a topological order. Node v is comparable to all
    iff every earlier node reaches v and v reaches every later node. The
    first holds iff each earlier node u has a successor at or before v:
    following such successors from u stays below v and can only stop at v.
    Symmetrically for later nodes and predecessors at or after v.
    """
    n = len(pred_ptr) - 1
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    big = np.int64(n)
    first_succ = np.full(n, big, dtype=np.int64)       # n: no successor
    has_succ = np.diff(succ_ptr) > 0
    first_succ[has_succ] = np.minimum.reduceat(succ_idx, succ_ptr[:-1][has_succ])
    last_pred = np.full(n, -1, dtype=np.int64)          # -1: no predecessor
    has_pred = np.diff(pred_ptr) > 0
    last_pred[has_pred] = np.maximum.reduceat(pred_idx, pred_ptr[:-1][has_pred])
    # reach_before[v] = max first_succ over u < v; reach_after[v] = min last_pred over w > v.
    reach_before = np.concatenate([[-1], np.maximum.accumulate(first_succ)[:-1]])
    reach_after = np.concatenate([np.minimum.accumulate(last_pred[::-1])[::-1][1:], [big]])
    pos = np.arange(n)
    return np.flatnonzero((reach_before <= pos) & (reach_after >= pos))


def segments(graph):
    """Split the listed node order into consecutive segments that can be
    scheduled independently: each ends at a cut node (or the last node).
    Runs of one-node segments are merged, since they offer no choice.
    O(nodes + edges), vectorised: a chain of n nodes costs a few NumPy
    passes, not n Python steps."""
    pred_ptr, pred_idx = graph.predecessors()
    succ_ptr, succ_idx = graph.successors()
    cuts = cut_positions(pred_ptr, pred_idx, succ_ptr, succ_idx)
    n = graph.n_nodes
    if n == 0:
        return []
    ends = cuts + 1
    if not len(ends) or ends[-1] != n:
        ends = np.append(ends, n)
    starts = np.concatenate([[0], ends[:-1]])
    single = ends - starts == 1
    # A segment opens a new run unless it and the one before are both single.
    opens = np.ones(len(ends), dtype=bool)
    opens[1:] = ~(single[1:] & single[:-1])
    run_starts = starts[opens]
    run_ends = np.append(run_starts[1:], n)
    return [np.arange(a, b, dtype=np.int64) for a, b in zip(run_starts.tolist(),
                                                              run_ends.tolist())]
