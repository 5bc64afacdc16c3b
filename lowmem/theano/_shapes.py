"""Sizes of a function's variables from example inputs, before any call.

Theano's ShapeFeature (attached by the standard optimisations) keeps, for
every tensor variable of a compiled graph, symbolic expressions of its
shape in terms of the graph's inputs. Evaluating them on example inputs
(values, or just shapes) gives every variable's bytes without running the
computation, so the function can be scheduled at compile time. The shape
expressions are compiled with Theano's Python linker and no optimisation,
which costs milliseconds, not a C compile.
"""

import numpy as np
import theano
from theano.compile.mode import Mode
from theano.tensor import TensorType


def example_value(var, example):
    """An array for input `var`: the example itself, or zeros of the given
    shape when the example is a shape tuple."""
    if isinstance(example, tuple) and all(isinstance(d, (int, np.integer)) for d in example):
        return np.zeros(example, dtype=var.type.dtype)
    return var.type.filter(example, allow_downcast=True)


def shapes_from_examples(fgraph, examples):
    """{variable: shape tuple} for the tensor variables of `fgraph`.

    `examples` maps every graph input (shared variables included) to a
    value or a shape tuple. Raises ValueError naming a missing one.
    """
    feature = getattr(fgraph, "shape_feature", None)
    if feature is None:
        raise ValueError("the compiled graph has no ShapeFeature (compile with Theano's "
                         "standard optimisations to give example inputs)")
    targets = [v for v in fgraph.variables
               if isinstance(v.type, TensorType) and v in feature.shape_of]
    exprs = [d for v in targets for d in feature.shape_of[v]]
    missing = [v for v in fgraph.inputs if v not in examples]
    if missing:
        raise ValueError(f"no example for input {missing[0]}")
    # Fresh stand-ins for the inputs: shared variables cannot be explicit inputs.
    stand_ins = [v.type() for v in fgraph.inputs]
    shape_fn = theano.function(stand_ins, exprs, givens=list(zip(fgraph.inputs, stand_ins)),
                               mode=Mode(linker="py", optimizer=None),
                               on_unused_input="ignore", accept_inplace=True)
    values = shape_fn(*[example_value(v, examples[v]) for v in fgraph.inputs])
    shapes, pos = {}, 0
    for var in targets:
        rank = len(feature.shape_of[var])
        shapes[var] = tuple(int(d) for d in values[pos:pos + rank])
        pos += rank
    return shapes


def sizes_from_shapes(shapes):
    """{variable: bytes} for tensor variables with known shapes."""
    return {var: int(np.prod(shape, dtype=np.int64)) * np.dtype(var.type.dtype).itemsize
            for var, shape in shapes.items()}
