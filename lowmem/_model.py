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
5. An order may list a node more than once (recomputation): each run
   allocates its outputs again; a value lives from a run of its producer to
   its last reader before the producer's next run (see simulate).
"""

import numpy as np

from ._graph import DESTROY, NO_ALIAS, _show
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


def _check_once(graph, order):
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


def repeatable(graph, n):
    """Why node `n` may not run more than once (a short reason), or None
    when it may: version 2's ``recompute: false`` (random streams, side
    effects). A node that overwrites an input in place may run again, on a
    new value of that input: simulate refuses any second run that would
    read a value overwritten since (its own result included)."""
    if not graph.node_recompute[n]:
        return "its recompute flag is false"
    return None


def _check_runs(graph, order):
    """check_order for an order that may list a node more than once
    (recomputation, docs/format.md rule 5): every node runs at least once;
    a node runs again only if :func:`repeatable`; every run comes after a
    run of each input's producer and of its ``orderings`` predecessors.
    Orderings order first runs (Theano's put readers of a value before the
    node that overwrites it in place); a second run is held to the values
    it reads instead: :func:`simulate` refuses one that would read a value
    overwritten in place since (so a reader may run again after the
    overwrite on a value made again). O(runs + edges)."""
    order = as_node_ids(order).tolist()
    n_nodes = graph.n_nodes
    runs = [0] * n_nodes
    for n in order:
        if not 0 <= n < n_nodes:
            raise OrderError(f"not an order of the {n_nodes} nodes: unknown node {n}")
        runs[n] += 1
    if 0 in runs:
        missing = runs.index(0)
        raise OrderError(f"not an order of the {n_nodes} nodes: node {missing} "
                         f"({graph.node_names[missing]!r}) never runs")
    for n, count in enumerate(runs):
        if count > 1:
            why = repeatable(graph, n)
            if why is not None:
                raise OrderError(f"node {n} ({graph.node_names[n]!r}) runs {count} times but "
                                 f"may run only once: {why}")
    producer = graph.var_producer.tolist()
    inputs = _rows(graph.in_ptr, graph.in_idx)
    before = [[] for _ in range(n_nodes)]
    for a, b in graph.orderings.tolist():
        before[b].append(a)
    ran = [False] * n_nodes
    for step, n in enumerate(order):
        for v in inputs[n]:
            p = producer[v]
            if p >= 0 and not ran[p]:
                raise OrderError(f"step {step}: node {n} ({graph.node_names[n]!r}) runs before "
                                 f"node {p} ({graph.node_names[p]!r}) that it depends on")
        for p in before[n]:
            if not ran[p]:
                raise OrderError(f"step {step}: node {n} ({graph.node_names[n]!r}) runs before "
                                 f"node {p} ({graph.node_names[p]!r}) that it depends on")
        ran[n] = True
    return order


def check_order(graph, order, repeats=False):
    """Raise OrderError unless `order` is valid; return it as a list.

    repeats=False: every node exactly once, each when ready (what
    lowmem.schedule returns; O(nodes + edges)). repeats=True: nodes may
    run more than once (see _check_runs; the values each run reads are
    checked by simulate).
    """
    if repeats:
        return _check_runs(graph, order)
    return _check_once(graph, order)


def _check_lag(release_lag):
    if (isinstance(release_lag, bool) or not isinstance(release_lag, (int, np.integer))
            or release_lag < 0):
        raise ValueError(f"release_lag must be a whole number of steps >= 0, "
                         f"not {_show(release_lag)}")
    return int(release_lag)


def _has_repeats(graph, order):
    return len(order) != graph.n_nodes or len(set(order)) != len(order)


def simulate(graph, order, release_lag=0):
    """Run `order` through the memory model, keeping the buffers.

    `order` may list a node more than once (recomputation, rule 5 of the
    model): each run allocates the node's outputs again, a value lives from
    a run of its producer to its last reader before the producer's next run
    (or to the end, for a graph output's last value). The model tracks
    *instances*: each run of a node allocates a new instance of each buffer
    it owns; a view joins its input's current instance; an in-place
    (``destroy``) output gives that instance a new version, after which
    a second run of a node that reads the input's old value is an error
    (OrderError: it would not compute the same values again). An instance is
    live from its run to the last step that reads a variable in it, or to
    the end when it holds a graph output at the end. With each node run
    once this is rules 1-4 exactly.

    release_lag: steps a dead buffer stays allocated after the step that
    frees it in the model (0: the model as documented; 1: a runtime that
    releases a value one statement after its last reader, as the code
    Numba generates for PyTensor does, see lowmem/pytensor/_measure.py).

    Returns (timeline, allocated, freed): timeline[t] the bytes in use
    while step t runs; allocated[t] and freed[t] the buffers (named by the
    variable owning them) step t allocates and that die after it (released
    release_lag steps later), freed ones largest first. Raises OrderError
    on an invalid order. O(runs + edges), plus a sort per step's freed list.
    """
    release_lag = _check_lag(release_lag)
    order = as_node_ids(order).tolist()
    order = check_order(graph, order, repeats=_has_repeats(graph, order))
    owner = _buffer_of(graph)
    inputs, node_outputs = _rows(graph.in_ptr, graph.in_idx), _rows(graph.out_ptr, graph.out_idx)
    size_of, workspace = graph.var_size.tolist(), graph.node_workspace.tolist()
    kind, alias_of = graph.var_alias_kind.tolist(), graph.var_alias_of.tolist()
    names = graph.node_names

    # Instances: owner variable (None: a graph input's storage, never
    # counted), first and last step, version, the node that last overwrote it.
    inst_owner, inst_start, inst_last, inst_version, inst_destroyer = [], [], [], [], []
    var_inst = [-1] * graph.n_vars
    var_version = [0] * graph.n_vars

    def new_instance(b, step):
        inst_owner.append(b)
        inst_start.append(step)
        inst_last.append(step)
        inst_version.append(0)
        inst_destroyer.append(-1)
        return len(inst_owner) - 1

    # A graph input (an unproduced variable) holds one instance from the start.
    for v in np.flatnonzero(graph.var_producer < 0).tolist():
        var_inst[v] = new_instance(None, -1)

    steps = len(order)
    ran = [False] * graph.n_nodes
    for step, n in enumerate(order):
        again, ran[n] = ran[n], True
        for v in inputs[n]:
            i = var_inst[v]
            # A first run reading an overwritten value is the graph's own
            # business (its orderings); a second run must read what the
            # first read, or it does not recompute the same values.
            if again and var_version[v] != inst_version[i]:
                d = inst_destroyer[i]
                raise OrderError(f"step {step}: node {n} ({names[n]!r}) reads variable {v} "
                                 f"({graph.var_names[v]!r}) after node {d} ({names[d]!r}) "
                                 f"overwrote it in place")
            inst_last[i] = step
        for v in node_outputs[n]:
            if kind[v] == NO_ALIAS:
                var_inst[v] = new_instance(owner[v], step)
                var_version[v] = 0
                continue
            i = var_inst[alias_of[v]]
            if kind[v] == DESTROY:
                inst_version[i] += 1
                inst_destroyer[i] = n
            var_inst[v], var_version[v] = i, inst_version[i]
    pinned = {var_inst[v] for v in graph.outputs.tolist()}

    # Bytes in use: each counted instance from its first step to its last
    # (plus the lag), as a difference array.
    diff = np.zeros(steps + 1, dtype=np.int64)
    allocated = [[] for _ in range(steps)]
    freed = [[] for _ in range(steps)]
    for i, b in enumerate(inst_owner):
        if b is None:
            continue
        start = inst_start[i]
        diff[start] += size_of[b]
        allocated[start].append(b)
        if i not in pinned:
            last = inst_last[i]
            diff[min(last + release_lag + 1, steps)] -= size_of[b]
            freed[last].append(b)
    for gone in freed:
        gone.sort(key=lambda b: (-size_of[b], b))
    timeline = np.cumsum(diff[:steps]) + np.array([workspace[n] for n in order], dtype=np.int64)
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
