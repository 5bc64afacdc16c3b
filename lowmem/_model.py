"""Pure-Python reference of lowmem's memory model (docs/format.md, "Memory model").

This is the oracle the tests hold the Cython core to, written for clarity,
not speed: it simulates an order step by step with plain sets and dicts and
shares no code with the core's buffer tables. It runs in O(nodes + edges),
so it also serves as the public :func:`peak` for any graph size.

1. A node allocates one buffer per non-aliased output; an aliased output
   joins the buffer of the input it aliases (transitively); an alias of a
   graph input costs nothing.
2. Memory of a step = live bytes before the node + bytes it allocates + its
   workspace.
3. After the node runs, a buffer is freed when every consumer of every
   variable in it has run and none of those variables is a graph output.
4. Peak = max over steps. A node is ready when the producers of its inputs
   and its ``orderings`` predecessors have run.
"""

import numpy as np

from ._graph import NO_ALIAS, _show
from ._problem import check_graph


class OrderError(ValueError):
    """An order is not a valid execution order of the graph."""


def _buffer_of(graph):
    """Map each variable to the variable owning its storage, or None when the
    storage belongs to a graph input (never counted).

    An alias chain is walked once: every variable on a walked path records
    its root, so later walks stop at the first variable already resolved.
    O(variables) in all, however long the chains (a view chain of n nodes
    would cost O(n^2) walking each variable to its root).
    """
    kind, alias_of = graph.var_alias_kind.tolist(), graph.var_alias_of.tolist()
    producer = graph.var_producer.tolist()
    root = {}
    for v in range(graph.n_vars):
        path, r = [], v
        while r not in root and kind[r] != NO_ALIAS:
            path.append(r)
            r = alias_of[r]
        r = root.get(r, r)
        for u in path:
            root[u] = r
        root.setdefault(v, r)
    return {v: (r if producer[r] >= 0 else None) for v, r in root.items()}


def _rows(ptr, idx):
    """CSR arrays as a list of Python lists (plain ints for the simulation)."""
    ptr, idx = ptr.tolist(), idx.tolist()
    return [idx[ptr[i]:ptr[i + 1]] for i in range(len(ptr) - 1)]


def as_node_ids(order):
    """`order` as a 1-D int64 array; OrderError unless it is a 1-D sequence
    of integers (within int64, else no node id)."""
    if isinstance(order, np.ndarray):
        if order.ndim != 1:
            raise OrderError(f"an order must be a 1-D sequence of node ids, got a "
                             f"{order.ndim}-D array")
        if np.issubdtype(order.dtype, np.integer):
            if order.dtype == np.uint64 and order.size and order.max() >= 2**63:
                raise OrderError(f"not a node id: {int(order.max())}")
            return order.astype(np.int64)
    try:
        order = list(order)
    except TypeError:
        raise OrderError(f"an order must be a sequence of node ids, got "
                         f"{type(order).__name__}") from None
    for n in order:
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
            raise OrderError(f"order entries must be node ids (integers), got {_show(n)}")
        if not -2**63 <= int(n) < 2**63:
            bits = int(n).bit_length()
            raise OrderError(f"not a node id: {n}" if bits < 200
                             else f"not a node id: an integer of {bits} bits")
    return np.array(order, dtype=np.int64)


def check_order(graph, order):
    """Raise OrderError unless `order` runs every node once, each when ready.

    Returns the order as a list. O(nodes + edges).
    """
    order = as_node_ids(order).tolist()
    n_nodes = graph.n_nodes
    runs = [0] * n_nodes
    for step, n in enumerate(order):
        if not 0 <= n < n_nodes:
            raise OrderError(f"not an order of the {n_nodes} nodes: unknown node {n}")
        if runs[n]:
            raise OrderError(f"not an order of the {n_nodes} nodes: node {n} runs twice")
        runs[n] = 1
    if len(order) != n_nodes:
        missing = runs.index(0)
        raise OrderError(f"not an order of the {n_nodes} nodes: node {missing} "
                         f"({graph.node_names[missing]!r}) never runs")
    ptr, idx = graph.predecessors()
    done = np.zeros(n_nodes, dtype=bool)
    for step, n in enumerate(order):
        for p in idx[ptr[n]:ptr[n + 1]]:
            if not done[p]:
                raise OrderError(f"step {step}: node {n} ({graph.node_names[n]!r}) runs before "
                                 f"node {p} ({graph.node_names[p]!r}) that it depends on")
        done[n] = True
    return order


def _check_lag(release_lag):
    if (isinstance(release_lag, bool) or not isinstance(release_lag, (int, np.integer))
            or release_lag < 0):
        raise ValueError(f"release_lag must be a whole number of steps >= 0, "
                         f"not {_show(release_lag)}")
    return int(release_lag)


def simulate(graph, order, release_lag=0):
    """Run `order` through the memory model, keeping the buffers.

    release_lag: steps a dead buffer stays allocated after the step that
    frees it in the model (0: the model as documented; 1: a runtime that
    releases a value one statement after its last reader, as the code
    Numba generates for PyTensor does, see lowmem/pytensor/_measure.py).

    Returns (timeline, allocated, freed): timeline[t] the bytes in use
    while step t runs; allocated[t] and freed[t] the buffers (named by the
    variable owning them) step t allocates and that die after it (released
    release_lag steps later), freed ones largest first. Raises OrderError
    on an invalid order.
    """
    release_lag = _check_lag(release_lag)
    order = check_order(graph, order)
    owner = _buffer_of(graph)
    outputs = set(graph.outputs.tolist())
    inputs, node_outputs = _rows(graph.in_ptr, graph.in_idx), _rows(graph.out_ptr, graph.out_idx)
    size_of, workspace = graph.var_size.tolist(), graph.node_workspace.tolist()

    readers = {}      # buffer owner -> nodes that read a variable in it, not yet run
    pinned = set()    # buffer owners holding a graph output
    for v in range(graph.n_vars):
        b = owner[v]
        if b is None:
            continue
        if v in outputs:
            pinned.add(b)
        readers.setdefault(b, set())
    for n in range(graph.n_nodes):
        for v in inputs[n]:
            if owner[v] is not None:
                readers[owner[v]].add(n)

    live = set()
    in_use = 0        # bytes of the live buffers (dead ones not yet released included)
    timeline = np.zeros(len(order), dtype=np.int64)
    allocated, freed = [], []
    for step, n in enumerate(order):
        if release_lag and step > release_lag:
            # Dead since step - release_lag - 1: released before this step.
            in_use -= sum(size_of[b] for b in freed[step - release_lag - 1])
        new = [v for v in node_outputs[n] if owner[v] == v]
        size = sum(size_of[v] for v in new)
        timeline[step] = in_use + size + workspace[n]
        live.update(new)
        in_use += size
        touched = set(new)
        for v in inputs[n]:
            b = owner[v]
            if b is not None:
                readers[b].discard(n)
                touched.add(b)
        gone = sorted((b for b in touched if not readers[b] and b not in pinned and b in live),
                      key=lambda b: (-size_of[b], b))
        for b in gone:
            live.discard(b)
        if not release_lag:
            in_use -= sum(size_of[b] for b in gone)
        allocated.append(new)
        freed.append(gone)
    return timeline, allocated, freed


def memory_timeline(graph, order, release_lag=0):
    """Bytes in use at each step of `order` (a NumPy int64 array).

    release_lag: steps a dead buffer stays allocated (see simulate; 0 = the
    documented model, which lowmem.schedule minimises).

    Raises OrderError if `order` is not a valid order of `graph`, TypeError
    if `graph` is not a Graph, ValueError on a bad release_lag.
    """
    check_graph("memory_timeline", graph)
    return simulate(graph, order, release_lag)[0]


def peak(graph, order=None, release_lag=0):
    """Peak bytes of `order` (default: the listed order) under the memory model.

    release_lag: steps a dead buffer stays allocated (see simulate; 0 = the
    documented model, which lowmem.schedule minimises).

    Raises OrderError if `order` is not a valid order of `graph`, TypeError
    if `graph` is not a Graph, ValueError on a bad release_lag.
    """
    check_graph("peak", graph)
    if order is None:
        order = graph.default_order()
    timeline = memory_timeline(graph, order, release_lag)
    return int(timeline.max()) if len(timeline) else 0
