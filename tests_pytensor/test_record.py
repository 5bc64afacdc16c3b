"""The recording call's whole-array NumPy path for Elemwise nodes
(_record._elemwise_numpy) against each op's own Python code, on the
Elemwise nodes PyTensor's Numba rewrites leave in a few graphs (fused
Composites with casts, switches, variadic sums, broadcasting)."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import Mode
from pytensor.link.numba.linker import NumbaLinker
from pytensor.tensor.elemwise import Elemwise

from lowmem.pytensor._record import _elemwise_numpy, record


def graphs():
    x, y = pt.matrix("x"), pt.matrix("y")
    v = pt.vector("v")
    i = pt.lmatrix("i")
    yield [x, y], [pt.tanh(x) * (1 - y ** 2) + x - 0.01 * y]
    yield [x, v], [pt.switch(x > 0.5, x * v, -v) + pt.exp(-x), (x + v + 1 + x * 2).sum(axis=1)]
    yield [x, i], [pt.cast(i, "float64") * x + pt.sqrt(abs(x)), pt.maximum(x, 0.3) / (1 + x)]
    yield [x, y], pt.grad(((pt.tanh(x @ y) - 1) ** 2).mean(), [x, y])


@pytest.mark.parametrize("case", range(4))
def test_elemwise_numpy_equals_the_ops_own_code(case):
    inputs, outputs = list(graphs())[case]
    f = pytensor.function(inputs, outputs, mode=Mode(linker=NumbaLinker()))
    fgraph = f.maker.fgraph
    nodes = fgraph.toposort()
    rng = np.random.default_rng(case)
    shapes = {x: (7, 5) for x in inputs if x.ndim == 2}
    if case == 3:
        shapes = {inputs[0]: (7, 5), inputs[1]: (5, 5)}
    values = [rng.standard_normal(shapes.get(x, (5,))) if not x.dtype.startswith("int")
              else rng.integers(-3, 4, size=shapes.get(x, (5,))) for x in inputs]
    sizes, recorded = record(fgraph, nodes, values)
    checked = 0
    for node in nodes:
        if not isinstance(node.op, Elemwise):
            continue
        args = [rng.standard_normal(recorded[v]).astype(v.type.dtype)
                if v in recorded and v.type.dtype.startswith("float")
                else np.asarray(getattr(v, "data", None)) if v not in recorded
                else rng.integers(-3, 4, size=recorded[v]).astype(v.type.dtype)
                for v in node.inputs]
        fast = _elemwise_numpy(node, args)
        if fast is None:
            continue
        storage = {v: [a] for v, a in zip(node.inputs, args)}
        computed = {v: [True] for v in node.inputs}
        for out in node.outputs:
            storage[out] = [None]
            computed[out] = [False]
        node.op.make_thunk(node, storage, computed, [], impl="py")()
        for got, out in zip(fast, node.outputs):
            want = np.asarray(storage[out][0])
            assert got.shape == want.shape and got.dtype == want.dtype, node
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        checked += 1
    assert checked >= 1
    # The recording's sizes are the compiled function's: every output's
    # recorded size is its value's bytes in a real call.
    real = f(*values)
    for out, value in zip(fgraph.outputs, real if isinstance(real, list) else [real]):
        assert sizes[out] == np.asarray(value).nbytes
