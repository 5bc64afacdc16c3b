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


@pytest.mark.parametrize("backend", ["numba", "vm"])
def test_the_recording_call_leaves_constants_alone(backend):
    """Scan's Python code writes its loop state into its initial value, a
    constant here (found by the PyTensor peer suite): the recording call
    must run on a copy, or every later call starts from the last state."""
    import lowmem.pytensor as lp
    x = pt.vector("x")
    res = pytensor.scan(lambda v, acc: acc + v * 2, sequences=[x],
                        outputs_info=[pt.zeros_like(x[0])], return_updates=False)
    f = pytensor.function([x], res[-1], mode=lp.LowMemMode(backend=backend))
    assert [float(f(np.arange(4.0))) for _ in range(3)] == [12.0, 12.0, 12.0]


def test_inputs_overwritten_through_a_view_are_copied():
    """A node overwriting a view of a graph input overwrites the input: the
    recording must not touch the caller's value (a random op drawing from
    a view of a shared generator advanced the generator, found by the
    peer suite's xtensor doctest)."""
    from lowmem.pytensor._record import destroyed_inputs
    from pytensor.graph.fg import FunctionGraph
    x = pt.vector("x")
    view = x[1:]                      # Subtensor: a view of x
    inc = pt.inc_subtensor(view[:1], 1.0, inplace=True)   # overwrites the view
    fg = FunctionGraph([x], [inc], clone=False)
    assert destroyed_inputs(fg, fg.toposort()) == {x}
    value = np.arange(4.0)
    record(fg, fg.toposort(), [value])
    assert value.tolist() == [0.0, 1.0, 2.0, 3.0]
