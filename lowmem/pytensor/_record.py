"""Sizes of a PyTensor function's values, learned by running its graph once
with each op's Python implementation (the recording call).

The compiled backends (Numba's one generated function, the C VM) do not
show their intermediate values, so the first call runs the graph node by
node with Python thunks (``op.make_thunk(..., impl="py")``) on copies of
the inputs any node destroys (so the real call that follows sees them
untouched, random generators included), frees each value after its last
reader as the default order would, and reads every value's bytes and shape.
"""

import copy

from .._bridge import variable_nbytes


def destroyed_inputs(fgraph, nodes):
    """Graph inputs some node overwrites (destroy_map)."""
    inputs = set(fgraph.inputs)
    out = set()
    for node in nodes:
        for ins in getattr(node.op, "destroy_map", {}).values():
            for i in ins:
                if node.inputs[i] in inputs:
                    out.add(node.inputs[i])
    return out


def record(fgraph, nodes, input_values):
    """Run `nodes` (a topological order of fgraph) on `input_values` (one per
    fgraph input) with Python thunks. Returns (sizes, shapes): variable ->
    bytes, variable -> shape tuple (arrays only). The inputs are not
    modified. Raises whatever an op raises (the caller falls back)."""
    spoiled = destroyed_inputs(fgraph, nodes)
    storage_map, compute_map = {}, {}
    for var, value in zip(fgraph.inputs, input_values):
        storage_map[var] = [copy.deepcopy(value) if var in spoiled else value]
        compute_map[var] = [True]
    keep = set(fgraph.inputs) | set(fgraph.outputs)
    last_reader = {}
    for position, node in enumerate(nodes):
        for var in node.inputs:
            last_reader[var] = position
    sizes, shapes = {}, {}

    def note(var, value):
        sizes[var] = variable_nbytes(var, value)
        shape = getattr(value, "shape", None)
        if isinstance(shape, tuple):
            shapes[var] = shape

    for var, cell in storage_map.items():
        note(var, cell[0])
    for position, node in enumerate(nodes):
        for var in node.inputs:
            if var not in storage_map:          # a constant
                storage_map[var] = [getattr(var, "data", None)]
                compute_map[var] = [True]
        for var in node.outputs:
            storage_map[var] = [None]
            compute_map[var] = [False]
        thunk = node.op.make_thunk(node, storage_map, compute_map, [], impl="py")
        thunk()
        for var in node.outputs:
            note(var, storage_map[var][0])
        for var in node.inputs:
            if last_reader.get(var) == position and var not in keep:
                storage_map[var][0] = None
    return sizes, shapes
