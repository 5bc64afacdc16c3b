"""Flat buffer tables: the form of a graph the Cython core works on.

The memory model speaks of variables; what occupies memory is buffers. A
buffer is the storage of a non-aliased node output; aliased outputs join the
buffer of the input they alias, and storage owned by graph inputs is never
counted. :func:`buffer_tables` resolves this once per graph.

:func:`subproblem` then cuts out a segment of nodes to be scheduled on its
own, given the set of nodes that run before it: the core sees local node and
buffer ids, the bytes already live, and for each buffer how many of its
readers lie inside the segment and whether it outlives the segment.
"""

from dataclasses import dataclass

import numpy as np

from ._graph import NO_ALIAS, Graph


def check_graph(caller, graph):
    """TypeError unless `graph` is a lowmem.Graph (the argument checks of
    schedule and plan_storage share this and :func:`check_flag`)."""
    if not isinstance(graph, Graph):
        raise TypeError(f"{caller}: graph must be a lowmem.Graph, got {type(graph).__name__}")


def check_flag(caller, name, value):
    """`value` as a bool; TypeError naming `name` unless it is True or False."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{caller}: {name} must be True or False, got {value!r}")
    return bool(value)


@dataclass(frozen=True)
class BufferTables:
    """Buffers of a whole graph (all arrays int64 unless noted).

    var_buffer[v]     buffer holding variable v, or -1 (graph-input storage)
    buf_owner[b]      the variable that owns buffer b (a non-aliased output)
    buf_size[b]       bytes; buf_producer[b]: node that allocates it
    buf_pinned[b]     bool: holds a graph output, so never freed
    reader_ptr/idx    CSR: distinct nodes reading any variable of buffer b
    use_ptr/idx       CSR: distinct buffers node n reads
    make_ptr/idx      CSR: buffers node n allocates
    node_alloc[n]     bytes node n allocates; node_ws[n]: its workspace
    pred_ptr/idx, succ_ptr/idx: the graph's dependency CSR
    """
    var_buffer: np.ndarray
    buf_owner: np.ndarray
    buf_size: np.ndarray
    buf_producer: np.ndarray
    buf_pinned: np.ndarray
    reader_ptr: np.ndarray
    reader_idx: np.ndarray
    use_ptr: np.ndarray
    use_idx: np.ndarray
    make_ptr: np.ndarray
    make_idx: np.ndarray
    node_alloc: np.ndarray
    node_ws: np.ndarray
    pred_ptr: np.ndarray
    pred_idx: np.ndarray
    succ_ptr: np.ndarray
    succ_idx: np.ndarray

    @property
    def n_nodes(self):
        return len(self.node_alloc)


def alias_roots(graph):
    """root[v]: the variable whose storage v lives in (v itself unless v is
    an aliased output; else the root of the input it aliases).

    Pointer jumping: each round replaces every unresolved link by its link's
    link, halving every chain, so a chain of length L takes ceil(log2 L)
    rounds over the variables not yet resolved: O(nv log L) vectorised work
    (a chain of 100,000 views: 17 rounds), however the chains run.
    """
    nv = graph.n_vars
    aliased = graph.var_alias_kind != NO_ALIAS
    root = np.where(aliased, graph.var_alias_of, np.arange(nv, dtype=np.int64))
    todo = np.flatnonzero(aliased)
    # Aliases point to inputs of the aliasing node, made by earlier nodes:
    # no cycles (Graph checks the listed order), so ~log2(nv) rounds end it.
    for _ in range(max(nv, 1).bit_length() + 1):
        todo = todo[aliased[root[todo]]]
        if not len(todo):
            return root
        root[todo] = root[root[todo]]
    raise AssertionError("alias links form a cycle")     # Graph rules this out


def buffer_tables(graph):
    """Build the :class:`BufferTables` of `graph` in O((nodes + edges) +
    variables * log(longest alias chain)) (see :func:`alias_roots`)."""
    nv, n_nodes = graph.n_vars, graph.n_nodes
    root = alias_roots(graph)
    owned = (graph.var_producer >= 0) & (graph.var_alias_kind == NO_ALIAS)
    buf_of_root = np.full(nv, -1, dtype=np.int64)
    buf_vars = np.flatnonzero(owned)
    buf_of_root[buf_vars] = np.arange(len(buf_vars))
    var_buffer = buf_of_root[root]

    nb = len(buf_vars)
    buf_size = graph.var_size[buf_vars].astype(np.int64)
    buf_producer = graph.var_producer[buf_vars].astype(np.int64)
    buf_pinned = np.zeros(nb, dtype=bool)
    out_bufs = var_buffer[graph.outputs] if len(graph.outputs) else np.zeros(0, np.int64)
    buf_pinned[out_bufs[out_bufs >= 0]] = True

    # Distinct (node, buffer) read pairs, sorted by node then buffer.
    in_row = np.repeat(np.arange(n_nodes, dtype=np.int64), np.diff(graph.in_ptr))
    in_buf = var_buffer[graph.in_idx]
    keep = in_buf >= 0
    pairs = np.unique(in_row[keep] * max(nb, 1) + in_buf[keep])
    use_row, use_idx = pairs // max(nb, 1), pairs % max(nb, 1)
    use_ptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(use_row, minlength=n_nodes), out=use_ptr[1:])
    by_buffer = np.lexsort((use_row, use_idx))
    reader_idx = use_row[by_buffer]
    reader_ptr = np.zeros(nb + 1, dtype=np.int64)
    np.cumsum(np.bincount(use_idx, minlength=nb), out=reader_ptr[1:])
    # Buffers each node makes: its owned outputs, in output order.
    out_row = np.repeat(np.arange(n_nodes, dtype=np.int64), np.diff(graph.out_ptr))
    made = owned[graph.out_idx]
    make_idx = var_buffer[graph.out_idx[made]]
    make_ptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(out_row[made], minlength=n_nodes), out=make_ptr[1:])
    node_alloc = np.zeros(n_nodes, dtype=np.int64)
    np.add.at(node_alloc, out_row[made], buf_size[make_idx])
    pred_ptr, pred_idx = graph.predecessors()
    succ_ptr, succ_idx = graph.successors()
    return BufferTables(var_buffer, buf_vars.astype(np.int64), buf_size, buf_producer,
                        buf_pinned, reader_ptr, reader_idx, use_ptr, use_idx, make_ptr, make_idx, node_alloc,
                        graph.node_workspace.astype(np.int64), pred_ptr, pred_idx,
                        succ_ptr, succ_idx)


@dataclass
class Subproblem:
    """A segment of nodes to schedule, in local ids (arrays are int64).

    nodes[i]          global id of local node i (in the listed order)
    pred_count[i]     predecessors of i inside the segment
    succ_ptr/idx      CSR successors inside the segment
    alloc, ws         per node bytes allocated and workspace
    make_ptr/idx      CSR local buffers node i allocates
    use_ptr/idx       CSR local buffers node i reads
    buf_size          per local buffer bytes
    buf_pending       readers of the buffer inside the segment
    buf_pinned        uint8: never freed inside the segment (graph output, or
                      read after the segment)
    live0             bytes live when the segment starts: base + the
                      buffers read in the segment and made before it
    base              part of live0 held by buffers the segment does not
                      touch (no node of it can free them)

    The Cython core takes it through ``_core.CoreProblem``, which checks
    all of this once.
    """
    nodes: np.ndarray
    pred_count: np.ndarray
    succ_ptr: np.ndarray
    succ_idx: np.ndarray
    alloc: np.ndarray
    ws: np.ndarray
    make_ptr: np.ndarray
    make_idx: np.ndarray
    use_ptr: np.ndarray
    use_idx: np.ndarray
    buf_size: np.ndarray
    buf_pending: np.ndarray
    buf_pinned: np.ndarray
    live0: int
    base: int

    @property
    def k(self):
        return len(self.nodes)


def _is_range(rows):
    return len(rows) > 0 and rows[-1] - rows[0] + 1 == len(rows)


def _gather_csr(ptr, idx, rows):
    """Concatenate CSR rows `rows` (sorted) of (ptr, idx): new (ptr, idx).
    A range of rows, the usual case (segments are consecutive), is a slice."""
    if _is_range(rows):
        first, last = rows[0], rows[-1] + 1
        return ptr[first:last + 1] - ptr[first], idx[ptr[first]:ptr[last]]
    lengths = ptr[rows + 1] - ptr[rows]
    new_ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_ptr[1:])
    if new_ptr[-1] == 0:
        return new_ptr, np.zeros(0, dtype=np.int64)
    starts = np.repeat(ptr[rows] - new_ptr[:-1], lengths)
    return new_ptr, idx[starts + np.arange(new_ptr[-1])]


def _local_ids(members, ids):
    """(position of each of `ids` in the sorted array `members`, whether it
    is there): by subtraction for a range of members, by binary search
    otherwise; no array the size of the whole graph, so that cutting many
    small segments costs in proportion to the segments, not to the graph."""
    if _is_range(members):
        pos = ids - members[0]
        return pos, (pos >= 0) & (pos < len(members))
    pos = np.searchsorted(members, ids)
    inside = np.zeros(len(ids), dtype=bool)
    if len(members):
        inside = members[np.minimum(pos, len(members) - 1)] == ids
    return pos, inside


def subproblem(tables, nodes, done_before, live_before):
    """Cut out the segment `nodes` (global ids, sorted), run after exactly the
    nodes marked in the boolean array `done_before`, when `live_before` bytes
    are live. Every predecessor of a segment node must be in the segment or
    in `done_before`. O(k + its edges, reads, makes and their readers)
    for a range of nodes (times log k otherwise): nothing here is
    proportional to the whole graph.
    """
    nodes = np.asarray(nodes, dtype=np.int64)
    k = len(nodes)

    pred_ptr, pred_idx = _gather_csr(tables.pred_ptr, tables.pred_idx, nodes)
    pred_row = np.repeat(np.arange(k), np.diff(pred_ptr))
    pred_count = np.bincount(pred_row[_local_ids(nodes, pred_idx)[1]],
                             minlength=k).astype(np.int64)
    succ_ptr, succ_idx = _gather_csr(tables.succ_ptr, tables.succ_idx, nodes)
    succ_local, keep = _local_ids(nodes, succ_idx)
    row = np.repeat(np.arange(k), np.diff(succ_ptr))
    succ_ptr = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(np.bincount(row[keep], minlength=k), out=succ_ptr[1:])
    succ_idx = succ_local[keep]

    use_ptr, use_glob = _gather_csr(tables.use_ptr, tables.use_idx, nodes)
    make_ptr, make_glob = _gather_csr(tables.make_ptr, tables.make_idx, nodes)
    bufs = np.unique(np.concatenate([use_glob, make_glob]))

    # Readers of each local buffer: inside the segment, or after it.
    r_ptr, r_idx = _gather_csr(tables.reader_ptr, tables.reader_idx, bufs)
    r_row = np.repeat(np.arange(len(bufs)), np.diff(r_ptr))
    r_inside = _local_ids(nodes, r_idx)[1]
    r_after = ~r_inside & ~done_before[r_idx]
    buf_pending = np.bincount(r_row[r_inside], minlength=len(bufs)).astype(np.int64)
    read_after = np.bincount(r_row[r_after], minlength=len(bufs)) > 0
    buf_pinned = (tables.buf_pinned[bufs] | read_after).astype(np.uint8)
    buf_size = tables.buf_size[bufs]

    # Buffers made before the segment and read inside it are live at its start.
    pre_live = done_before[tables.buf_producer[bufs]]
    base = int(live_before) - int(buf_size[pre_live].sum())
    return Subproblem(nodes, pred_count, succ_ptr, succ_idx, tables.node_alloc[nodes],
                      tables.node_ws[nodes], make_ptr, np.searchsorted(bufs, make_glob),
                      use_ptr, np.searchsorted(bufs, use_glob), buf_size, buf_pending,
                      buf_pinned, int(live_before), base)
