"""Storage sharing in LowMemMode (lowmem.theano._sharing).

With sharing on (the default), a dead array is handed to the storage cell
of the next variable planned to reuse it and that variable's op writes
into it. These tests check that results stay bit-for-bit those of
Theano's default mode (repeated calls, input shapes changing between
calls, weights changing shape), that every hand-off saves exactly one
NumPy allocation, that nothing is kept that the plan does not keep, that
arrays something else still refers to are never handed over, that ops
which replace their output stop taking cells, and that the ops of the
shared graphs pass Theano's DebugMode with preallocated outputs.
"""

import numpy as np
import pytest

import lowmem.theano as lt  # noqa: E402  (sets Theano's flags before importing it)
import theano  # noqa: E402
import theano.tensor as T  # noqa: E402
from theano.compile.debugmode import DebugMode  # noqa: E402
from theano.gof import Apply, Op  # noqa: E402

from lowmem.theano import AllocationCounter  # noqa: E402
from lowmem.theano import _models as models  # noqa: E402
from lowmem.theano._shape_classes import shape_classes  # noqa: E402
from lowmem.theano._sharing import KEEP_BETWEEN_CALLS_BYTES, KEEP_PEAK_ALLOWANCE  # noqa: E402


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape
        assert np.array_equal(x, y), f"max |diff| {np.max(np.abs(x - y))}"


def chain_graph():
    """Elementwise chain with a reduction between links, so that Theano
    cannot fuse or work in place, and several same-shape intermediates die
    before later ones are born: a graph where cells must be shared."""
    x = T.matrix("x")
    w = theano.shared(np.linspace(-1, 1, 12).reshape(3, 4), "w")
    h = x.dot(w)
    outs = []
    for k in range(4):
        a = T.exp(h * (0.1 * (k + 1)))
        h = a / a.sum(axis=1, keepdims=True) + T.tanh(h)
        outs.append(h.sum())
    return [x], [h] + outs


def compile_modes(build, **options):
    """build() -> (inputs, outputs); compiled three ways."""
    fns = {}
    for name, mode in (("default", None), ("plain", lt.LowMemMode(share_storage=False)),
                       ("shared", lt.LowMemMode(**options))):
        inputs, outputs = build()
        fns[name] = theano.function(inputs, outputs, mode=mode)
    return fns


def shared_chain(seed, rows, calls=3, **options):
    """chain_graph compiled three ways, the shared function called `calls`
    times on a (rows, 3) input; returns (fns, f_shared, x)."""
    fns = compile_modes(chain_graph, **options)
    x = np.random.RandomState(seed).randn(rows, 3)
    for _ in range(calls):
        assert_same(fns["shared"](x), fns["default"](x))
    return fns, fns["shared"], x


def test_chain_shares_and_matches_default():
    fns = compile_modes(chain_graph)
    rng = np.random.RandomState(0)
    for rows in (5, 5, 5, 2, 7, 5):          # input shapes change between calls
        x = rng.randn(rows, 3)
        expected = fns["default"](x)
        assert_same(fns["plain"](x), expected)
        assert_same(fns["shared"](x), expected)
    storage = fns["shared"].fn.plan.storage
    assert storage is not None and storage.plan.cells < storage.plan.buffers
    assert storage.taken > 0 and storage.taken == storage.handed


def test_every_hand_off_saves_one_allocation():
    fns = compile_modes(chain_graph)
    x = np.random.RandomState(1).randn(64, 3)
    counts = {}
    for name in ("plain", "shared"):
        for _ in range(3):
            fns[name](x)
        with AllocationCounter() as c:
            fns[name](x)
        counts[name] = c.allocations
    storage = fns["shared"].fn.plan.storage
    assert storage.taken > 0
    assert counts["plain"] - counts["shared"] == storage.taken


def test_gc_keeps_only_the_planned_small_arrays():
    fns, f, x = shared_chain(2, 6)
    vm = f.fn
    outputs = set(f.maker.fgraph.outputs)
    for var, cell in vm.storage_map.items():
        if var.owner is not None and var not in outputs:
            assert cell[0] is None, var
    kept = [cell[0] for cell in vm.storage_reserves]
    assert len(kept) == vm.plan.storage.kept
    assert all(a is not None and a.nbytes <= KEEP_BETWEEN_CALLS_BYTES for a in kept)
    assert sum(a.nbytes for a in kept) == vm.plan.storage.retained
    # The storage plan never raises the order's peak; kept arrays, counted
    # at every step, raise it by the allowance at most.
    storage = vm.plan.storage
    assert storage.plan.peak <= vm.plan.schedule.peak
    assert storage.peak <= vm.plan.schedule.peak + KEEP_PEAK_ALLOWANCE


def test_kept_arrays_never_raise_the_peak_without_an_allowance():
    fns, f, x = shared_chain(9, 6, keep_allowance=0)
    assert f.fn.plan.storage.peak <= f.fn.plan.schedule.peak


def test_no_kept_arrays_when_disabled():
    fns, f, x = shared_chain(3, 6, keep_bytes=0)
    assert f.fn.plan.storage.kept == 0 and f.fn.storage_reserves == []


class DoubleReplacing(Op):
    """2 * x in a new array every call (ignores a preallocated output)."""
    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = inputs[0] * 2

    def infer_shape(self, node, shapes):
        return shapes


class DoubleCaching(Op):
    """2 * x, keeping a reference to every result it returns (as a cache
    would): such an array must never be handed to another op."""
    __props__ = ()

    def __init__(self):
        self.results = []

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, outputs):
        out = inputs[0] * 2
        self.results.append((out, out.copy()))
        outputs[0][0] = out

    def infer_shape(self, node, shapes):
        return shapes


def test_ops_that_replace_their_output_stop_taking_cells():
    op = DoubleReplacing()

    def build():
        x = T.matrix("x")
        a = T.exp(x)
        b = T.sin(a).sum(axis=0, keepdims=True) + T.cos(a)   # a dies here
        c = op(b * 3)            # c may take a's cell
        return [x], [c.sum(axis=1), T.tanh(c) + 1]

    fns = compile_modes(build)
    x = np.random.RandomState(4).randn(4, 5)
    for _ in range(4):
        assert_same(fns["shared"](x), fns["default"](x))
    storage = fns["shared"].fn.plan.storage
    if storage.excluded:      # op's output was planned to take a cell, and it did not
        assert all(v.owner.op is op for v in storage.excluded)
        assert any("DoubleReplacing" in n for n in fns["shared"].fn.plan.notes)
    assert storage.taken == storage.handed


def test_arrays_referred_to_elsewhere_are_never_handed_over():
    op = DoubleCaching()

    def build():
        x = T.matrix("x")
        a = op(x)                # the op keeps a reference to a
        b = T.cos(a) + a.sum()   # a dies here
        c = T.sin(b) + b.sum()   # planned into a's cell
        return [x], [c.sum(axis=1), T.tanh(c) + 1]

    inputs, outputs = build()
    # Without in-place optimisations, which Theano may apply to any op's
    # output (so would overwrite the cache in any mode).
    f = theano.function(inputs, outputs, mode=lt.LowMemMode().excluding("inplace"))
    x = np.random.RandomState(5).randn(4, 5)
    for _ in range(4):
        f(x)
    storage = f.fn.plan.storage
    givers = [give for _, hand, _ in storage.actions for give, _, _ in hand]
    assert any(getattr(v.owner, "op", None) is op for v in givers)   # planned to share...
    for kept, snapshot in op.results:
        assert np.array_equal(kept, snapshot)                        # ...but never handed


def test_weight_changing_shape_replans():
    def build():
        x = T.matrix("x")
        w = theano.shared(np.ones((3, 4)), "w")
        h = x.dot(w)
        a = T.exp(h)
        b = a / a.sum(axis=1, keepdims=True) + T.tanh(h)
        c = T.exp(b) * T.cos(b).sum()
        return [x], [c, c.sum()], w

    fl = {}
    for name, mode in (("default", None), ("shared", lt.LowMemMode())):
        inputs, outputs, w = build()
        fl[name] = (theano.function(inputs, outputs, mode=mode), w)
    rng = np.random.RandomState(6)
    for cols in (4, 4, 6, 6, 2):
        w_value = rng.randn(3, cols)
        for f, w in fl.values():
            w.set_value(w_value)
        x = rng.randn(5, 3)
        assert_same(fl["shared"][0](x), fl["default"][0](x))


def test_shape_classes_hold_for_every_input_shape():
    inputs, outputs = chain_graph()
    f = theano.function(inputs, outputs, mode=lt.LowMemMode())
    fgraph = f.maker.fgraph
    variables = [v for v in fgraph.variables if v.owner is not None]
    classes = shape_classes(fgraph, variables)
    explicit = [v for v in fgraph.inputs if v.name == "x"]
    shape_fn = theano.function(explicit, [v.shape for v in variables],
                               on_unused_input="ignore", accept_inplace=True)
    for rows in (1, 4, 9):
        shapes = shape_fn(np.zeros((rows, 3)))
        seen = {}
        for var, klass, shape in zip(variables, classes, shapes):
            if klass is not None:
                assert seen.setdefault(klass, tuple(shape)) == tuple(shape), var
    # Variables Theano's ShapeFeature gives the same shape share a class.
    feature = fgraph.shape_feature
    for i, x in enumerate(variables):
        for y, cy in zip(variables[i + 1:], classes[i + 1:]):
            if (classes[i] is not None and cy is not None and x.ndim == y.ndim
                    and feature.same_shape(x, y)):
                assert classes[i] == cy, (x, y)


MODELS = [("resnet", dict(batch=4, size=8, widths=(4, 8), blocks=1)),
          ("transformer", dict(batch=2, length=8, dim=16, heads=2, ff=32)),
          ("rnn", dict(steps=4, batch=3, n_in=5, hidden=6, n_out=4))]


@pytest.mark.parametrize("name,options", MODELS, ids=[m for m, _ in MODELS])
def test_zoo_training_steps_match_default(name, options):
    results = {}
    for mode_name, mode in (("default", None), ("shared", lt.LowMemMode())):
        inputs, outputs, updates, make_data = models.build(name, train=True, **options)
        f = theano.function(inputs, outputs, updates=updates, mode=mode)
        shared = [s for s, _ in updates]
        data = make_data(0)
        calls = []
        for k in (None, None, None, 2, None):   # a smaller batch (rnn: fewer steps) between
            args = data if k is None else [a[:k] for a in data]
            calls.append([np.copy(r) for r in f(*args)] + [s.get_value() for s in shared])
        results[mode_name] = calls
        if mode is not None:
            storage = f.fn.plan.storage
            assert storage is not None and storage.taken > 0
    for got, expected in zip(results["shared"], results["default"]):
        assert_same(got, expected)


def _chain():
    inputs, outputs = chain_graph()
    return inputs, outputs, None, lambda seed: [np.random.RandomState(seed).randn(4, 3)]


def _mlp():
    return models.build("mlp", train=True, batch=4, n_in=8, hidden=(8, 8), n_classes=3)


# (DebugMode cannot run the zoo's convolutions: it leaves the abstract
# convolution ops unreplaced, and they have no implementation.)
@pytest.mark.parametrize("build", [_chain, _mlp], ids=["chain", "mlp"])
def test_ops_of_shared_graphs_pass_debugmode_with_preallocated_outputs(build):
    """Sharing hands ops preallocated outputs holding stale values; Theano's
    DebugMode runs every op of the graph with such outputs (and checks
    the results against a fresh run)."""
    inputs, outputs, updates, make_data = build()
    f_shared = theano.function(inputs, outputs, updates=updates, mode=lt.LowMemMode())
    data = make_data(0)
    for _ in range(4):
        f_shared(*data)
    assert f_shared.fn.plan.storage.taken > 0
    inputs, outputs, updates, _ = build()
    mode = DebugMode(check_preallocated_output=["initial", "previous", "c_contiguous",
                                                "f_contiguous", "strided", "wrong_size"],
                     check_py_code=False)
    f_debug = theano.function(inputs, outputs, updates=updates, mode=mode)
    f_debug(*data)      # raises on an op that mishandles a preallocated output


def test_report_describes_the_storage_plan():
    fns, f, x = shared_chain(8, 5)
    r = lt.report(f)
    storage = f.fn.plan.storage
    assert r.storage["cells"] == storage.plan.cells and r.storage["taken"] == storage.taken
    assert f"{storage.plan.buffers} arrays in {storage.plan.cells} cells" in str(r)
    fns["plain"](x)
    assert lt.report(fns["plain"]).storage is None


def test_first_planned_call_never_exceeds_the_model():
    """An op not yet seen writing into a handed array (here Dot22, a Python
    implementation without a BLAS library) may hold both arrays while it
    runs; such hand-offs are tried only where that stays under the peak, so
    even the first planned call measures what the model says."""
    from lowmem.theano._measure import measure_call, modelled_peaks
    inputs, outputs, updates, make_data = models.build(
        "mlp", train=False, batch=128, n_in=512, hidden=(512, 512, 512), n_classes=10)
    f = theano.function(inputs, outputs, updates=updates, mode=lt.LowMemMode())
    data = make_data(0)
    f(*data)                                 # records and plans
    first = measure_call(f, *data)           # the first call that hands arrays over
    for _ in range(2):
        f(*data)
    later = measure_call(f, *data)
    model = modelled_peaks(f).lowmem
    for m in (first, later):
        assert m.peak <= model + 4096, (m.peak, model)


def test_dense_layers_write_into_shared_cells():
    """Without a BLAS library Dot22 and Dot22Scalar have only a Python
    implementation, which allocates its result; LowMemMode runs them with
    thunks that write into the array they are handed (lowmem.theano._thunks),
    bit for bit the same."""
    from theano.tensor.blas import Dot22, Dot22Scalar

    def build():
        x = T.matrix("x")
        w = theano.shared(np.linspace(-1, 1, 16).reshape(4, 4), "w")
        h = x
        for k in range(4):
            a = T.tanh(h.dot(w) * (0.5 + k))           # Dot22Scalar
            h = a + T.nnet.sigmoid(a.dot(w)).sum(axis=0, keepdims=True)   # Dot22
        return [x], [h, h.sum()]

    fns = compile_modes(build)
    rng = np.random.RandomState(10)
    for rows in (6, 6, 6, 3, 6):
        x = rng.randn(rows, 4)
        assert_same(fns["shared"](x), fns["default"](x))
    ops = {type(n.op) for n in fns["shared"].maker.fgraph.toposort()}
    assert Dot22 in ops
    if not theano.config.blas.ldflags:
        verified = {type(op) for op, _ in fns["shared"].fn._verified}
        assert verified & {Dot22, Dot22Scalar}
        assert not {type(v.owner.op) for v in fns["shared"].fn.plan.storage.excluded} \
            & {Dot22, Dot22Scalar}
