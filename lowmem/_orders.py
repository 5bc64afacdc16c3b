"""Structural orders of a graph: depth-first post-orders that need no memory
model, the cheap first orders the scheduler starts each segment from.

Each is a valid order of ALL nodes (``orderings`` included): a post-order
visits every dependency of a node (the producers of its inputs and its
``orderings`` predecessors) before the node. The variants differ only in the
order a node's dependencies, and the outputs, are visited:

=================================  ==========================================
``dfs``                            outputs first to last; per node its
                                   orderings predecessors (ascending id) then
                                   its inputs first to last: Theano's C VM
``dfs_reversed``                   outputs last to first; per node its
                                   orderings predecessors (descending id),
                                   then its inputs last to first: Theano's
                                   Stack VM (see :func:`structural_orders`)
``dfs_orderings_after``            as ``dfs``, orderings predecessors after
                                   the inputs
``dfs_reversed_orderings_after``   as ``dfs_reversed``, orderings
                                   predecessors after the inputs
``xla_dfs``                        XLA's DFS memory scheduler: dependencies
                                   by most extra users, then largest total
                                   size, then lowest id
=================================  ==========================================

Nodes no output depends on follow, visited the same way from each node in
listed order. The dependency lists are sorted with NumPy (O((n + e) log n))
and walked by the Cython loops of _heuristics.pyx (iterative, O(n + e)).
"""

import numpy as np

from ._heuristics import dfs_postorder_csr, xla_dfs_stats
from ._problem import buffer_tables

ORDER_NAMES = ("dfs", "dfs_reversed", "dfs_orderings_after", "dfs_reversed_orderings_after",
               "xla_dfs")

# name -> (dependencies and outputs visited last to first, orderings
# predecessors after the inputs)
_DFS_VARIANTS = {"dfs": (False, False), "dfs_reversed": (True, False),
                 "dfs_orderings_after": (False, True),
                 "dfs_reversed_orderings_after": (True, True)}


class _Edges:
    """A graph's dependency edges, once for all variants (int64 arrays).

    ord_row/ord_dep   orderings pairs (after, before), sorted by after then
                      before (Graph keeps them sorted by before: re-sorted)
    in_row/in_dep     (node, producer of an input) in input order, repeats
                      kept, graph inputs (no producer) left out
    out_nodes         producers of the graph outputs in output order
                      (repeats kept; outputs that are graph inputs left out)
    """

    def __init__(self, graph):
        n = graph.n_nodes
        ords = graph.orderings
        by_after = np.lexsort((ords[:, 0], ords[:, 1]))
        self.ord_row = ords[by_after, 1].astype(np.int64)
        self.ord_dep = ords[by_after, 0].astype(np.int64)
        in_row = np.repeat(np.arange(n, dtype=np.int64), np.diff(graph.in_ptr))
        producers = graph.var_producer[graph.in_idx].astype(np.int64)
        made = producers >= 0
        self.in_row, self.in_dep = in_row[made], producers[made]
        out_producers = graph.var_producer[graph.outputs].astype(np.int64)
        self.out_nodes = out_producers[out_producers >= 0]
        self.n = n


def _csr(n, rows, deps):
    """(ptr, idx): the dependency lists of the n nodes (rows[i] depends on
    deps[i]), each in its order in these arrays. The arrays are a few
    sorted runs, which the stable sort (timsort) merges in about linear time."""
    by_row = np.argsort(rows, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=ptr[1:])
    return ptr, deps[by_row]


def _walk(n, ptr, idx, first_roots):
    """Post-order of all n nodes over the dependency CSR, from the roots
    `first_roots` then every node in listed order."""
    roots = np.concatenate([first_roots, np.arange(n, dtype=np.int64)])
    return dfs_postorder_csr(ptr, idx, roots)


def _dfs_variant(edges, reverse, orderings_after):
    # Both lists are in their forward order within a row. Reversing a row
    # reverses each list and swaps which comes first.
    first, then = ("in", "ord") if orderings_after != reverse else ("ord", "in")
    rows = np.concatenate([getattr(edges, first + "_row"), getattr(edges, then + "_row")])
    deps = np.concatenate([getattr(edges, first + "_dep"), getattr(edges, then + "_dep")])
    ptr, idx = _csr(edges.n, rows, deps)
    if reverse:
        # Position j of row r goes to ptr[r] + ptr[r + 1] - 1 - j: O(edges).
        row = np.repeat(np.arange(edges.n, dtype=np.int64), np.diff(ptr))
        idx = idx[ptr[row] + ptr[row + 1] - 1 - np.arange(len(idx), dtype=np.int64)]
    roots = edges.out_nodes[::-1] if reverse else edges.out_nodes
    return _walk(edges.n, ptr, idx, roots)


def _xla_dfs(edges, tables):
    n = edges.n
    # Distinct data operands of each node, sorted by node then operand.
    pairs = np.unique(edges.in_row * max(n, 1) + edges.in_dep)
    op_row, op_dep = pairs // max(n, 1), pairs % max(n, 1)
    op_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(op_row, minlength=n), out=op_ptr[1:])
    users = np.bincount(op_dep, minlength=n).astype(np.int64)
    # The listed order is a valid order, so operands precede their users.
    extra, total = xla_dfs_stats(op_ptr, op_dep, users, tables.node_alloc)
    # Rank of each node under XLA's operand order: most extra users, then
    # largest total size, then (XLA: name) lowest id; one sort of the nodes
    # and one of the edges by (row, rank of the dependency).
    rank = np.empty(n, dtype=np.int64)
    rank[np.lexsort((np.arange(n), -total, -extra))] = np.arange(n)
    # XLA sorts a node's operands and control predecessors together.
    rows = np.concatenate([edges.ord_row, op_row])
    deps = np.concatenate([edges.ord_dep, op_dep])
    by_rank = np.argsort(rows * max(n, 1) + rank[deps])
    ptr, idx = _csr(n, rows[by_rank], deps[by_rank])
    # Several outputs are the operands of XLA's root tuple: sorted alike.
    outs = np.unique(edges.out_nodes)
    return _walk(n, ptr, idx, outs[np.argsort(rank[outs])])


def structural_orders(graph, tables=None):
    """The structural orders of `graph`: a dict name -> int64 array of all
    node ids, a valid order (``orderings`` included), for each name in
    ORDER_NAMES (see the module docstring). `tables` are its
    ``_problem.buffer_tables`` (built here if None), for ``xla_dfs``'s sizes.

    ``dfs`` is :func:`dfs_postorder`: Theano's C VM (lazylinker_c.c). It
    pushes a node's prerequisites, sorted, ahead of its inputs.

    ``dfs_reversed`` is what Theano 1.0.5's Stack VM (gof/vm.py, class
    Stack, used with ``VM_Linker(use_cloop=False, lazy=True)``, with
    callbacks, and for memory profiling) runs for graphs without lazy ops.
    Its stack starts as the owners of ``fgraph.outputs`` in order and pops
    from the end, so the last output is evaluated first. A popped node whose
    inputs and ``destroy_dependencies`` (the outputs of its
    ``fgraph.orderings()`` prerequisites) are not all computed is pushed
    back, followed by the owners of ``node.inputs + destroy_dependencies``
    in that order; the last pushed is popped first: the prerequisites, last
    to first, then the inputs, last to first. A popped node already computed
    is dropped, so this is a depth-first post-order with dependencies in
    reverse. Graph does not keep the order of Theano's prerequisite lists
    (it sorts ``orderings``), so prerequisites go by descending id here.

    ``xla_dfs`` follows XLA's ``DFSMemoryScheduler``
    (hlo_memory_scheduler.cc): per node, extra users (distinct readers - 1,
    at least 0) and total size (bytes it allocates, ``tables.node_alloc``),
    each plus its operands' figures, capped as XLA caps them (see
    _heuristics.xla_dfs_stats); then a post-order visiting a node's
    operands and orderings predecessors together by most extra users, then
    largest total size, then lowest id (XLA: name). The output producers,
    XLA's root tuple operands, are visited in that order too. (XLA visits
    instructions the root does not reach first; here, as in the other
    orders, they come after.)

    O((nodes + edges) log(nodes + edges)) for the sorts; the walks are linear.
    """
    if tables is None:
        tables = buffer_tables(graph)
    edges = _Edges(graph)
    orders = {}
    for name, (reverse, orderings_after) in _DFS_VARIANTS.items():
        if orderings_after and not len(edges.ord_row):
            # Without orderings, where they go changes nothing.
            orders[name] = orders["dfs_reversed" if reverse else "dfs"]
        else:
            orders[name] = _dfs_variant(edges, reverse, orderings_after)
    orders["xla_dfs"] = _xla_dfs(edges, tables)
    return {name: orders[name] for name in ORDER_NAMES}


def dfs_postorder(graph):
    """Depth-first post-order from the graph outputs: each node's
    ``orderings`` predecessors first (in listed order), then its inputs
    first to last, as Theano's C VM does (lazylinker_c.c, lazy_rec_eval).

    This is the order Theano's default C VM really runs (not
    ``fgraph.toposort()``). Nodes no output depends on follow, visited the
    same way in listed order. It is ``structural_orders(graph)["dfs"]``.
    O((nodes + edges) log(nodes + edges)): the dependency lists are sorted
    with NumPy and walked by an iterative loop in Cython (deep graphs do
    not hit a recursion limit).
    """
    return _dfs_variant(_Edges(graph), *_DFS_VARIANTS["dfs"])
