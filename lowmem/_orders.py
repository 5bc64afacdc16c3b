"""Structural orders of a graph that need no memory figures."""

import numpy as np

from ._heuristics import dfs_postorder_csr


def dfs_postorder(graph):
    """Depth-first post-order from the graph outputs: each node's
    ``orderings`` predecessors first (in listed order), then its inputs
    first to last, as Theano's C VM does (lazylinker_c.c, lazy_rec_eval).

    This is the order Theano's default C VM really runs (not
    ``fgraph.toposort()``). Nodes no output depends on follow, visited the
    same way in listed order.
    O(nodes + edges): the dependency lists are built with a few NumPy
    passes and walked by an iterative loop in Cython (deep graphs do not
    hit a recursion limit).
    """
    n = graph.n_nodes
    # Dependencies of node b: its orderings predecessors a, ascending and
    # distinct (Graph keeps orderings sorted and unique), then the producers
    # of its inputs in input order, repeats kept (a repeat is a no-op).
    ords = graph.orderings
    by_after = np.lexsort((ords[:, 0], ords[:, 1]))
    in_rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(graph.in_ptr))
    producers = graph.var_producer[graph.in_idx].astype(np.int64)
    made = producers >= 0
    rows = np.concatenate([ords[by_after, 1], in_rows[made]])
    deps = np.concatenate([ords[by_after, 0], producers[made]])
    rows_order = np.argsort(rows, kind="stable")    # orderings first within a row
    dep_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=dep_ptr[1:])
    out_producers = graph.var_producer[graph.outputs].astype(np.int64)
    roots = np.concatenate([out_producers[out_producers >= 0], np.arange(n, dtype=np.int64)])
    return dfs_postorder_csr(dep_ptr, deps[rows_order], roots)
