"""Translate a Theano-style FunctionGraph (Theano's or PyTensor's) into a
lowmem Graph: written once, over a small adapter per library.

One lowmem node per Apply node, in the given topological order; one lowmem
variable per variable the nodes read or write (graph inputs, shared
variables and constants are graph inputs: never counted). Aliases come
from ``op.view_map`` and ``op.destroy_map``; the destroy handler's
constraints (``fgraph.orderings()``) become ``orderings``, without which a
reordered in-place op could overwrite a value another node still reads.

An op whose map ties one output to several inputs (allowed by both
libraries, rare in practice) is handled conservatively: the output is
counted as a buffer of its own (over-counting its allocation), and if it
is a view, the model may free the viewed inputs before the program does.

The adapter (:class:`Adapter`) holds what differs between the libraries:
which ops alias only sometimes (IfElse), and how a variable's type sizes a
value.
"""

from dataclasses import dataclass

import numpy as np

from ._graph import Graph

# A measured cost is never below this (a timer's resolution): a node that
# seems free is not, and a zero cost would make recomputing it look free.
MIN_COST_SECONDS = 1e-7


@dataclass(frozen=True)
class Adapter:
    """What the translation needs from one library.

    name            the library, for messages ("theano", "pytensor")
    sometimes_alias op classes whose declared view/destroy maps hold on
                    some calls only (IfElse: views of the true branch,
                    copies of the false one): their outputs are counted as
                    buffers of their own, which errs on the safe side
    """
    name: str
    sometimes_alias: tuple = ()


# Ops that must run once in a call (version 2's `recompute: false`): their
# second run would not give the same values or would act twice (random
# draws, printing). Matched on the op class's name, in both libraries.
RUN_ONCE_OP_NAMES = ("Random", "Print")


def runs_once(node):
    """The node's op is random or has a side effect (RUN_ONCE_OP_NAMES)."""
    name = type(node.op).__name__
    return any(word in name for word in RUN_ONCE_OP_NAMES)


@dataclass
class Translation:
    """A lowmem Graph with the library's objects behind its ids."""
    graph: Graph
    nodes: list          # Apply nodes, by lowmem node id
    variables: list      # the library's variables, by lowmem variable id
    index: dict          # variable -> lowmem variable id


def variable_nbytes(var, value):
    """Bytes of `value` as stored for variable `var` (0 if unknown): the
    type's own measure where it has one (``get_size(get_shape_info(v))``,
    in both libraries), else the value's ``nbytes``."""
    if value is None:
        return 0
    try:
        return int(var.type.get_size(var.type.get_shape_info(value)))
    except Exception:       # a type without size support: fall back to the value
        return int(getattr(value, "nbytes", 0) or 0)


def alias_inputs(node, destroy=True):
    """{output position: input position} of the node's one-input view and
    (unless destroy=False) destroy maps: the aliases node_aliases gives the
    model."""
    out = {}
    tables = (getattr(node.op, "view_map", {}),) + (
        (getattr(node.op, "destroy_map", {}),) if destroy else ())
    for table in tables:
        for o, ins in table.items():
            if len(ins) == 1 and 0 <= o < len(node.outputs):
                out[o] = ins[0]
    return out


def shares_memory(value, source):
    """False only when both are NumPy arrays and `value` does not use
    `source`'s memory: the op copied where it declares an alias (Reshape
    of a non-contiguous array does)."""
    if isinstance(value, np.ndarray) and isinstance(source, np.ndarray):
        return bool(np.may_share_memory(value, source))
    return True


def node_aliases(adapter, node, copies=()):
    """lowmem aliases of an Apply node: {output position: {input, kind}},
    leaving out the (node, output position) pairs in `copies`."""
    if isinstance(node.op, adapter.sometimes_alias):
        return {}
    out = {}
    for kind, table in (("view", getattr(node.op, "view_map", {})),
                        ("destroy", getattr(node.op, "destroy_map", {}))):
        for o, ins in table.items():
            if len(ins) == 1 and 0 <= o < len(node.outputs) and (node, o) not in copies:
                out[str(o)] = {"input": int(ins[0]), "kind": kind}
    return out


def variable_listing(fgraph, nodes):
    """(variables, index): the variables by lowmem variable id -- graph
    inputs, then each node's inputs and outputs as `nodes` first meets
    them, then graph outputs -- and the id of each. O(nodes + edges)."""
    index, variables = {}, []

    def add(var):
        if var not in index:
            index[var] = len(variables)
            variables.append(var)

    for var in fgraph.inputs:
        add(var)
    for node in nodes:
        for var in node.inputs:
            add(var)
        for var in node.outputs:
            add(var)
    for var in fgraph.outputs:
        add(var)
    return variables, index


def graph_from_fgraph(adapter, fgraph, sizes, shapes=None, workspace=None, name="function",
                      copies=(), nodes=None, costs=None):
    """Build the lowmem Graph of `fgraph`.

    Parameters
    ----------
    adapter : Adapter
    fgraph : the library's FunctionGraph
    sizes : dict
        variable -> bytes. Missing variables count 0 bytes.
    shapes : dict, optional
        variable -> shape tuple (recorded for storage sharing).
    workspace : dict, optional
        Apply node -> scratch bytes it allocates and frees while running.
    copies : set, optional
        (Apply node, output position) pairs the op declares a view or
        destroy alias but that were seen not to share the input's memory
        (a copy, e.g. Reshape of a non-contiguous array): buffers of their own.
    nodes : list, optional
        ``fgraph.toposort()``, if the caller has it.
    costs : dict, optional
        Apply node -> seconds one run takes (the recording call's): the
        nodes' ``cost`` for memory budgets met by recomputation. Without
        it every node costs 1. Random and printing ops are marked
        ``recompute: false`` either way (:func:`runs_once`).

    Returns a :class:`Translation`. O(nodes + edges + orderings).
    """
    shapes = shapes or {}
    workspace = workspace or {}
    nodes = list(fgraph.toposort()) if nodes is None else list(nodes)
    variables, index = variable_listing(fgraph, nodes)
    node_of = {}
    lowmem_nodes = []
    for n, node in enumerate(nodes):
        node_of[node] = n
        entry = {"name": f"{node.op}",
                 "inputs": [index[v] for v in node.inputs],
                 "outputs": [index[v] for v in node.outputs]}
        aliases = node_aliases(adapter, node, copies)
        if aliases:
            entry["aliases"] = aliases
        ws = int(workspace.get(node, 0))
        if ws:
            entry["workspace"] = ws
        if costs is not None:
            entry["cost"] = max(float(costs.get(node, 0.0)), MIN_COST_SECONDS)
        if runs_once(node):
            entry["recompute"] = False
        lowmem_nodes.append(entry)

    lowmem_vars = []
    for var in variables:
        entry = {"size": max(0, int(sizes.get(var, 0))), "name": str(var.name or var)}
        dtype = getattr(var.type, "dtype", None)
        if isinstance(dtype, str):
            entry["dtype"] = dtype
        if var in shapes and shapes[var] is not None:
            entry["shape"] = [int(d) for d in shapes[var]]
        lowmem_vars.append(entry)

    orderings = []
    for after, befores in fgraph.orderings().items():
        for before in befores:
            if before in node_of and after in node_of:
                orderings.append([node_of[before], node_of[after]])
    graph = Graph(lowmem_vars, lowmem_nodes, [index[v] for v in fgraph.outputs],
                  orderings, name=name)
    return Translation(graph, nodes, variables, index)


def translator(adapter, default_name):
    """graph_from_fgraph bound to one library's adapter, with its default
    graph name: what each front end exports."""
    def bound(fgraph, sizes, shapes=None, workspace=None, name=default_name, copies=(),
              nodes=None, costs=None):
        return graph_from_fgraph(adapter, fgraph, sizes, shapes, workspace, name=name,
                                 copies=copies, nodes=nodes, costs=costs)
    bound.__name__ = bound.__qualname__ = "graph_from_fgraph"
    bound.__doc__ = (f"The lowmem Graph of a {adapter.name} FunctionGraph "
                     f"(lowmem._bridge.graph_from_fgraph with its adapter).")
    return bound
