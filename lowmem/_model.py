"""Pure-Python reference of lowmem's memory model (DESIGN.md, "Memory model").

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

from ._graph import NO_ALIAS


class OrderError(ValueError):
    """An order is not a valid execution order of the graph."""


def _buffer_of(graph):
    """Map each variable to the variable owning its storage, or None when the
    storage belongs to a graph input (never counted)."""
    owner = {}
    for v in range(graph.n_vars):
        root = v
        while graph.var_alias_kind[root] != NO_ALIAS:
            root = int(graph.var_alias_of[root])
        owner[v] = root if graph.var_producer[root] >= 0 else None
    return owner


def as_node_ids(order):
    """`order` as an int64 array; OrderError if an entry is not an integer."""
    if isinstance(order, np.ndarray) and np.issubdtype(order.dtype, np.integer):
        return order.astype(np.int64).ravel()
    order = list(order)
    for n in order:
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
            raise OrderError(f"order entries must be node ids (integers), got {n!r}")
    return np.array(order, dtype=np.int64)


def check_order(graph, order):
    """Raise OrderError unless `order` runs every node once, each when ready."""
    order = as_node_ids(order).tolist()
    n_nodes = graph.n_nodes
    if sorted(order) != list(range(n_nodes)):
        missing = sorted(set(range(n_nodes)) - set(order))
        extra = [n for n in order if not 0 <= n < n_nodes]
        dup = sorted({n for n in order if order.count(n) > 1}) if len(order) < 5000 else []
        what = (f"unknown node {extra[0]}" if extra else f"node {dup[0]} runs twice" if dup
                else f"node {missing[0]} ({graph.node_names[missing[0]]!r}) never runs"
                if missing else "wrong length")
        raise OrderError(f"not an order of the {n_nodes} nodes: {what}")
    ptr, idx = graph.predecessors()
    done = np.zeros(n_nodes, dtype=bool)
    for step, n in enumerate(order):
        for p in idx[ptr[n]:ptr[n + 1]]:
            if not done[p]:
                raise OrderError(f"step {step}: node {n} ({graph.node_names[n]!r}) runs before "
                                 f"node {p} ({graph.node_names[p]!r}) that it depends on")
        done[n] = True
    return order


def simulate(graph, order):
    """Run `order` through the memory model, keeping the buffers.

    Returns (timeline, allocated, freed): timeline[t] the bytes in use
    while step t runs; allocated[t] and freed[t] the buffers (named by the
    variable owning them) step t allocates and that are freed after it,
    freed ones largest first. Raises OrderError on an invalid order.
    """
    order = check_order(graph, order)
    owner = _buffer_of(graph)
    outputs = set(int(v) for v in graph.outputs)

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
        for v in graph.node_inputs(n):
            if owner[int(v)] is not None:
                readers[owner[int(v)]].add(n)

    live = set()
    in_use = 0        # bytes of the live buffers
    timeline = np.zeros(len(order), dtype=np.int64)
    allocated, freed = [], []
    for step, n in enumerate(order):
        new = [int(v) for v in graph.node_outputs(n) if owner[int(v)] == int(v)]
        size = sum(int(graph.var_size[v]) for v in new)
        timeline[step] = in_use + size + int(graph.node_workspace[n])
        live.update(new)
        in_use += size
        touched = set(new)
        for v in graph.node_inputs(n):
            b = owner[int(v)]
            if b is not None:
                readers[b].discard(n)
                touched.add(b)
        gone = sorted((b for b in touched if not readers[b] and b not in pinned and b in live),
                      key=lambda b: (-int(graph.var_size[b]), b))
        for b in gone:
            live.discard(b)
            in_use -= int(graph.var_size[b])
        allocated.append(new)
        freed.append(gone)
    return timeline, allocated, freed


def memory_timeline(graph, order):
    """Bytes in use at each step of `order` (a NumPy int64 array).

    Raises OrderError if `order` is not a valid order of `graph`.
    """
    return simulate(graph, order)[0]


def peak(graph, order=None):
    """Peak bytes of `order` (default: the listed order) under the memory model.

    Raises OrderError if `order` is not a valid order of `graph`.
    """
    if order is None:
        order = graph.default_order()
    timeline = memory_timeline(graph, order)
    return int(timeline.max()) if len(timeline) else 0
