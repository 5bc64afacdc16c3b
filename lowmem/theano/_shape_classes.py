"""Shape classes: which variables of a compiled Theano graph have equal
shapes for every shape of the function's explicit inputs.

Theano's ShapeFeature keeps a symbolic expression for every dimension of
every tensor variable. Two variables are in one class when those
expressions are the same computation (what ``ShapeFeature.same_shape``
tests) once constant parts are folded; the shapes of shared variables
(weights) may be taken as constants, so that, say, per-head slices of
different weights fall in one class. lowmem.theano._sharing pairs only
variables of one class, so one storage plan holds for every input shape.
"""

import numpy as np
from theano.compile.sharedvalue import SharedVariable
from theano.gof.graph import Constant
from theano.tensor import TensorType
from theano.tensor.basic import Shape
from theano.tensor.opt import Shape_i


# Shape expressions are small scalar graphs; evaluate a node only when its
# constant inputs are this small.
EVALUATE_MAX_ELEMENTS = 64


class _ShapeKeys:
    """Hashable keys of symbolic shape expressions: equal keys mean equal
    values for every value of the graph's free inputs.

    Constants, and subexpressions over constants only (including the
    shapes of inputs in `fixed`), fold to their value. ``Shape_i(x)`` and
    ``Shape(x)`` take the key of the ShapeFeature's expression for x's
    shape when it has one, else x's identity (never x's computation). The
    rest is keyed by structure: (op, input keys). Iterative, so deep
    expression chains cannot exhaust Python's recursion limit.
    """

    def __init__(self, shape_of, fixed):
        self.shape_of = shape_of
        self.fixed = fixed
        self.memo = {}
        self.ids = {}           # structural key -> its id (hash-consing: keys of
                                # children are ids, so keys stay shallow)
        self.values = {}        # id -> value, for folded keys

    def _deps(self, var):
        """Variables whose keys var's key is made of."""
        node = var.owner
        if node is None or isinstance(var, Constant):
            return ()
        if isinstance(node.op, (Shape_i, Shape)):
            x = node.inputs[0]
            if x in self.fixed or x not in self.shape_of:
                return ()
            dims = self.shape_of[x]
            if isinstance(node.op, Shape_i):
                dims = dims[node.op.i:node.op.i + 1]
            return tuple(d for d in dims if d is not var)
        return tuple(node.inputs)

    def key(self, root):
        memo = self.memo
        stack, expanded = [root], set()
        while stack:
            var = stack[-1]
            if var in memo:
                stack.pop()
                continue
            missing = [d for d in self._deps(var) if d not in memo]
            if missing and var not in expanded:
                expanded.add(var)
                stack.extend(missing)
                continue
            stack.pop()
            memo[var] = self._intern(self._key(var))
        return memo[root]

    def _intern(self, key):
        return key if isinstance(key, int) else self.ids.setdefault(key, len(self.ids))

    def _dep_key(self, var):
        # A dependency still unkeyed here lies on a cycle: key it by identity.
        key = self.memo.get(var)
        return key if key is not None else self._intern(("var", id(var)))

    def _key(self, var):
        if isinstance(var, Constant):
            return self._folded(np.asarray(var.data))
        node = var.owner
        if node is None:
            return ("var", id(var))
        if isinstance(node.op, (Shape_i, Shape)):
            x = node.inputs[0]
            if x in self.fixed:
                shape = np.shape(self.fixed[x])
                value = shape[node.op.i] if isinstance(node.op, Shape_i) else shape
                return self._folded(np.asarray(value, dtype=var.dtype))
            deps = self._deps(var)
            if isinstance(node.op, Shape_i):
                if deps:
                    return self._dep_key(deps[0])
                return ("shape_i", id(x), node.op.i)
            if deps and len(deps) == len(self.shape_of[x]):
                keys = [self._dep_key(d) for d in deps]
                if all(k in self.values for k in keys):
                    return self._folded(np.array([self.values[k] for k in keys], dtype=var.dtype))
                return ("shape",) + tuple(keys)
            return ("shape", id(x))
        keys = [self._dep_key(i) for i in node.inputs]
        if all(k in self.values for k in keys):
            folded = self._evaluate(node, var, [self.values[k] for k in keys])
            if folded is not None:
                return folded
        return ("apply", node.op, tuple(keys), node.outputs.index(var))

    def _folded(self, value):
        key = self._intern(("const", value.dtype.str, value.shape, value.tobytes()))
        self.values[key] = value
        return key

    def _evaluate(self, node, var, inputs):
        """The op's Python implementation on constant inputs, or None."""
        if any(v.size > EVALUATE_MAX_ELEMENTS for v in inputs):
            return None
        try:
            outputs = [[None] for _ in node.outputs]
            node.op.perform(node, [v.copy() for v in inputs], outputs)
            value = np.asarray(outputs[node.outputs.index(var)][0])
        except Exception:       # an op without a Python implementation: keep it symbolic
            return None
        return self._folded(value)


def fixed_inputs(fgraph, storage_map):
    """{graph input: current value} of the shared variables (weights),
    whose shapes shape classes take as fixed (see shape_classes)."""
    return {var: storage_map[var][0] for var in fgraph.inputs
            if isinstance(var, SharedVariable) and storage_map[var][0] is not None}


def shape_classes(fgraph, variables, fixed=None):
    """Per variable of `variables`: a hashable shape class, equal for two
    variables when the ShapeFeature gives them the same symbolic shape
    (what ``ShapeFeature.same_shape`` tests), after folding constant
    subexpressions; None for variables that are not tensors or that the
    feature does not know (they never share). All None when the graph has
    no ShapeFeature.

    fixed: {graph input: value} whose shapes count as constants (the
    function's shared variables: a slice of a weight then has the same
    class as any other array of its shape). The classes hold for every
    shape of the other inputs, and for these while their shapes stay.
    """
    feature = getattr(fgraph, "shape_feature", None)
    if feature is None:
        return [None] * len(variables)
    keys = _ShapeKeys(feature.shape_of, fixed or {})
    classes = []
    for var in variables:
        shape = feature.shape_of.get(var) if isinstance(var.type, TensorType) else None
        if shape is None:
            classes.append(None)
            continue
        classes.append((len(shape),) + tuple(keys.key(d) for d in shape))
    # Symbolic keys hold identities: keep the expressions they name alive
    # as long as the classes (the ShapeFeature does, while the graph lives).
    return classes
