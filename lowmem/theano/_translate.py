"""Translate a Theano FunctionGraph into a lowmem Graph.

One lowmem node per Apply node, in ``fgraph.toposort()`` order; one lowmem
variable per Theano variable the nodes read or write (graph inputs, shared
variables and constants are graph inputs: never counted). Aliases come
from ``op.view_map`` and ``op.destroy_map``; the destroy handler's
constraints (``fgraph.orderings()``) become ``orderings``, without which a
reordered in-place op could overwrite a value another node still reads.

An op whose map ties one output to several inputs (allowed by Theano, rare
in practice) is handled conservatively: the output is counted as a buffer
of its own (over-counting its allocation), and if it is a view, the model
may free the viewed inputs before the program does.
"""

from dataclasses import dataclass

from theano.ifelse import IfElse

from .._graph import Graph


@dataclass
class Translation:
    """A lowmem Graph with the Theano objects behind its ids."""
    graph: Graph
    nodes: list          # Apply nodes, by lowmem node id
    variables: list      # Theano variables, by lowmem variable id
    index: dict          # Theano variable -> lowmem variable id


def variable_nbytes(var, value):
    """Bytes of `value` as stored for Theano variable `var` (0 if unknown)."""
    if value is None:
        return 0
    try:
        return int(var.type.get_size(var.type.get_shape_info(value)))
    except Exception:       # a type without size support: fall back to the value
        return int(getattr(value, "nbytes", 0) or 0)


def _aliases(node, copies=()):
    """lowmem aliases of an Apply node: {output position: {input, kind}},
    leaving out the (node, output position) pairs in `copies`.

    IfElse declares its outputs views of the true branch but returns copies
    of the false one, so which it is depends on the call: its outputs are
    counted as buffers of their own, which errs on the safe side.
    """
    if isinstance(node.op, IfElse):
        return {}
    out = {}
    for kind, table in (("view", getattr(node.op, "view_map", {})),
                        ("destroy", getattr(node.op, "destroy_map", {}))):
        for o, ins in table.items():
            if len(ins) == 1 and 0 <= o < len(node.outputs) and (node, o) not in copies:
                out[str(o)] = {"input": int(ins[0]), "kind": kind}
    return out


def variable_listing(fgraph, nodes):
    """(variables, index): the Theano variables by lowmem variable id --
    graph inputs, then each node's inputs and outputs as `nodes`
    (``fgraph.toposort()``) first meets them, then graph outputs -- and
    the id of each. O(nodes + edges)."""
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


def graph_from_fgraph(fgraph, sizes, shapes=None, workspace=None, name="theano-function",
                      copies=(), nodes=None):
    """Build the lowmem Graph of `fgraph`.

    Parameters
    ----------
    fgraph : theano FunctionGraph
    sizes : dict
        Theano variable -> bytes. Missing variables count 0 bytes.
    shapes : dict, optional
        Theano variable -> shape tuple (recorded for storage sharing).
    workspace : dict, optional
        Apply node -> scratch bytes it allocates and frees while running.
    copies : set, optional
        (Apply node, output position) pairs the op declares a view or
        destroy alias but that were seen not to share the input's memory
        (a copy, e.g. Reshape of a non-contiguous array): buffers of their own.
    nodes : list, optional
        ``fgraph.toposort()``, if the caller has it.

    Returns a :class:`Translation`.
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
        aliases = _aliases(node, copies)
        if aliases:
            entry["aliases"] = aliases
        ws = int(workspace.get(node, 0))
        if ws:
            entry["workspace"] = ws
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
