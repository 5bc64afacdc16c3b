"""The zoo in PyTensor (lowmem/pytensor/_models.py) under LowMemMode, and
the Theano suite's other counterparts: in-place ops, ifelse, updates,
changing input shapes, the profiler graph's 4104 KB.

Equality is bit for bit against PyTensor's own linker for the same backend
given the same order (plan.order_ids): Numba compiles with fastmath, and
LLVM may reassociate a sum differently when statements come in another
order, so a different order may differ in the last bits (see
tests_pytensor/test_mode.py); the loop VM's C and Python thunks do not
depend on the order. Models are sized down (SMALL) to keep compiling
cheap: what costs time is PyTensor's rewrites and Numba's first compile of
each op (cached on disk, so a second run of this file is much faster).
"""

import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import Mode
from pytensor.ifelse import ifelse
from pytensor.link.numba.linker import NumbaLinker
from pytensor.link.vm import VMLinker

import lowmem
import lowmem.pytensor as lp
from checks import check_plan
from lowmem.pytensor import _models as models
from lowmem.pytensor._translate import graph_from_fgraph

# Minutes of PyTensor rewrites and Numba compiles: `make test-slow`, not `make test`.
pytestmark = pytest.mark.slow

KiB = 1024

#: Sizes for the tests: each model's structure (branches, skips, a
#: strided projection, a transition, scan, per-head attention) with the
#: fewest layers that keep it and small arrays: compile time (PyTensor's
#: rewrites, Numba's code for each order) grows with the nodes.
SMALL = {
    "mlp": dict(batch=32, n_in=64, hidden=(64, 64)),
    "convnet": dict(batch=2, size=8, channels=(4,)),
    "resnet": dict(batch=2, size=8, widths=(4, 8), blocks=1),
    "inception": dict(batch=2, size=8, stem=8, modules=1),
    "densenet": dict(batch=2, size=8, stem=8, growth=4, layers=1, blocks=2),
    "unet": dict(batch=1, size=8, base=4, levels=1),
    "rnn": dict(steps=4, batch=4, n_in=8, hidden=16, n_out=8),
    "transformer": dict(batch=1, length=8, dim=16, heads=2, ff=32),
}
CASES = [(name, train) for name in models.names() for train in (False, True)]


def in_order(backend, ids):
    """PyTensor's own mode for `backend`, running its graph's toposort in
    the order `ids` (positions in that toposort)."""
    def schedule(fgraph):
        nodes = fgraph.toposort()
        return [nodes[i] for i in ids]
    if backend == "numba":
        return Mode(linker=NumbaLinker(schedule=schedule))
    return Mode(linker=VMLinker(use_cloop=False, allow_gc=True, schedule=schedule))


def default(backend, **kwargs):
    """PyTensor's own mode for `backend`, in its own order."""
    if backend == "numba":
        return Mode(linker=NumbaLinker(), **kwargs)
    return Mode(linker=VMLinker(use_cloop=False, allow_gc=True), **kwargs)


def compile_model(name, train, mode):
    inputs, outputs, updates, make_data = models.build(name, train=train, **SMALL[name])
    f = pytensor.function(inputs, outputs, updates=updates, mode=mode)
    return f, [w for w, _ in updates], make_data


def run(f, shared, data, calls=2):
    """Outputs of `calls` calls, then the updated weights."""
    outs = [[np.array(o, copy=True) for o in f(*data)] for _ in range(calls)]
    return outs, [w.get_value() for w in shared]


def assert_same(a, b):
    if isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a, b), f"max |diff| {np.max(np.abs(a - b))}"


@pytest.mark.parametrize("backend", ["numba", "vm"])
@pytest.mark.parametrize("name, train", CASES)
def test_zoo_equal_to_pytensor(name, train, backend):
    """Outputs (two calls) and updated weights equal to PyTensor's own
    linker in the same order; the plan checked; every value float32."""
    f, shared, make_data = compile_model(name, train, lp.LowMemMode(backend=backend))
    data = make_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", lp.LowMemWarning)
        got = run(f, shared, data)
    plan = check_plan(f)
    ids = list(plan.order_ids)
    ref, ref_shared, _ = compile_model(name, train, in_order(backend, ids))
    assert_same(got, run(ref, ref_shared, data))
    floats = [v for v in plan.translation.variables
              if getattr(v.type, "dtype", "").startswith("float")]
    assert floats and all(v.type.dtype == "float32" for v in floats)
    if train:
        assert len(shared) >= 2
        assert plan.listed_peak > 0 and plan.schedule.peak <= plan.schedule.default_peak


def test_training_step_saves_on_a_branchy_model():
    """On a multi-branch training step the search finds an order the model
    says is lower than PyTensor's (the point of the zoo's branches)."""
    f, shared, make_data = compile_model("inception", True, lp.LowMemMode(backend="vm"))
    f(*make_data())
    plan = check_plan(f)
    assert plan.schedule.peak < plan.schedule.default_peak


# ------------------------------------------------------- the suite's others
@pytest.mark.parametrize("backend", ["numba", "vm"])
def test_inplace_ops(backend):
    """In-place ops (PyTensor's inplace rewrites, inc_subtensor, a mutable
    input): destroy aliases in the translation, results and the caller's
    overwritten array equal to PyTensor's."""
    def build():
        x = pt.vector("x")
        y = pt.vector("y")
        a = pt.exp(x) * 2 + y                      # Elemwise, made in place
        b = pt.inc_subtensor(a[2:5], pt.sin(y[:3]))
        c = pt.set_subtensor(b[::2], b[1::2][: (b.shape[0] + 1) // 2] * 3)
        return [pytensor.In(x, mutable=True), y], [c.sum(), c * y]

    rng = np.random.default_rng(5)
    xv, yv = rng.standard_normal(40), rng.standard_normal(40)
    results = {}
    f = pytensor.function(*build(), mode=lp.LowMemMode(backend=backend))
    x1 = xv.copy()
    results["lowmem"] = ([np.array(o) for o in f(x1, yv)], x1)
    plan = check_plan(f)
    ref = pytensor.function(*build(), mode=in_order(backend, list(plan.order_ids)))
    x2 = xv.copy()
    results["ref"] = ([np.array(o) for o in ref(x2, yv)], x2)
    assert_same(results["lowmem"][0], results["ref"][0])
    assert_same(results["lowmem"][1], results["ref"][1])
    graph = plan.translation.graph
    assert any(str(n.op).find("inplace") >= 0 or getattr(n.op, "destroy_map", None)
               for n in plan.translation.nodes)
    assert (graph.var_alias_kind > 0).any()
    # later calls stay equal
    x1, x2 = xv.copy(), xv.copy()
    assert_same([np.array(o) for o in f(x1, yv)], [np.array(o) for o in ref(x2, yv)])


@pytest.mark.parametrize("backend", ["numba", "vm"])
def test_ifelse(backend):
    """ifelse picks a branch per call; both branches, equal results."""
    def build():
        a, b = pt.scalars("a", "b")
        x, y = pt.matrix("x"), pt.matrix("y")
        big = pt.tanh(x @ y)
        z = ifelse(pt.lt(a, b), big.sum(axis=0), (x * 2).sum(axis=1))
        return [a, b, x, y], [z, big.mean()]

    rng = np.random.default_rng(6)
    xv, yv = rng.standard_normal((30, 30)), rng.standard_normal((30, 30))
    f = pytensor.function(*build(), mode=lp.LowMemMode(backend=backend))
    g = pytensor.function(*build(), mode=default(backend))
    for a, b in ((0.0, 1.0), (1.0, 0.0), (0.0, 1.0)):
        got = [np.array(o) for o in f(a, b, xv, yv)]
        want = [np.array(o) for o in g(a, b, xv, yv)]
        assert got[0].shape == want[0].shape
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=1e-12)
    assert lp.plan(f) is not None


@pytest.mark.parametrize("backend", ["numba", "vm"])
def test_updates(backend):
    """Updates of several shared variables, one read by another's update,
    an accumulator and a counter: equal after each of several calls."""
    def build():
        rng = np.random.default_rng(7)
        w = pytensor.shared(rng.standard_normal((20, 20)), name="w")
        acc = pytensor.shared(np.zeros((20, 20)), name="acc")
        count = pytensor.shared(np.int64(0), name="count")
        x = pt.matrix("x")
        g = pt.grad(pt.tanh(x @ w).sum(), w)
        updates = [(acc, acc * 0.9 + g ** 2), (w, w - 0.1 * g / pt.sqrt(acc + 1e-3)),
                   (count, count + 1)]
        return [x], [g.sum()], updates, [w, acc, count]

    xv = np.random.default_rng(8).standard_normal((10, 20))
    inputs, outputs, updates, shared = build()
    f = pytensor.function(inputs, outputs, updates=updates,
                          mode=lp.LowMemMode(backend=backend))
    got = [[np.array(o) for o in f(xv)] for _ in range(3)], [s.get_value() for s in shared]
    plan = check_plan(f)
    inputs, outputs, updates, ref_shared = build()
    ref = pytensor.function(inputs, outputs, updates=updates,
                            mode=in_order(backend, list(plan.order_ids)))
    want = [[np.array(o) for o in ref(xv)] for _ in range(3)], [s.get_value() for s in ref_shared]
    assert_same(got[0], want[0])
    assert_same(got[1], want[1])
    assert got[1][2] == 3


@pytest.mark.parametrize("backend", ["numba", "vm"])
def test_changing_input_shapes(backend):
    """The plan is made for the first call's shapes; calls with other
    shapes run the same order (an order is valid for any shapes) and give
    PyTensor's results: the plan is not remade, and its sizes are the first
    call's (the model is then only as good as those shapes' proportions)."""
    build = dict(SMALL["mlp"])
    f, shared, make_data = compile_model("mlp", True, lp.LowMemMode(backend=backend))
    first = make_data()
    f(*first)
    plan = check_plan(f)
    ref, ref_shared, _ = compile_model("mlp", True, in_order(backend, list(plan.order_ids)))
    ref(*first)
    rng = np.random.default_rng(9)
    for batch in (8, 100, 1, 32):
        data = [rng.standard_normal((batch, build["n_in"])).astype("float32"),
                rng.integers(0, 10, size=batch).astype("int32")]
        assert_same([np.array(o) for o in f(*data)], [np.array(o) for o in ref(*data)])
        assert_same([w.get_value() for w in shared], [w.get_value() for w in ref_shared])
    assert lp.plan(f) is plan


def test_changing_image_size_raises_as_pytensor():
    """The image models fix their input shape (specify_shape): another size
    raises, in LowMemMode as in PyTensor's mode, and the function still
    works with the planned size afterwards."""
    f, _, make_data = compile_model("convnet", False, lp.LowMemMode())
    data = make_data()
    first = np.array(f(*data)[0])
    wrong = np.zeros((2, 3, 16, 16), dtype="float32")
    with pytest.raises(Exception):
        f(wrong)
    g, _, _ = compile_model("convnet", False, Mode(linker=NumbaLinker()))
    with pytest.raises(Exception):
        g(wrong)
    assert_same(np.array(f(*data)[0]), first)


def profiler_graph(mode):
    """PyTensor's (and Theano's) tests/compile/test_profiling.py graph."""
    x = [pt.fvector(f"val{i}") for i in range(3)]
    z = [pt.outer(x[i], x[i + 1]).sum(axis=1) for i in range(len(x) - 1)]
    z += [x[i] + x[i + 1] for i in range(len(x) - 1)]
    f = pytensor.function(x, z, mode=mode, name="test_profiling")
    inp = [np.arange(1024, dtype="float32") + 1 for _ in range(len(x))]
    return f, inp


@pytest.mark.parametrize("backend", ["numba", "vm"])
def test_profiler_graph_4104_kb(backend):
    """The profiler's graph: two 1024 x 1024 float32 outer products (4 MiB
    each) summed. PyTensor 3.3's rewrites turn outer(x, y).sum(axis=1) into
    x * y.sum() (no product left: 16 KB), so the graph is compiled without
    rewrites (optimizer=None), as the profiler's test graph stands. Without
    workspace the best order peaks at 4104 KB, as Theano's profiler says
    ("Minimum peak from all valid apply node order is 4104KB"). On the VM
    the recording also measures the Sum's float64 accumulator of 1024
    (8 KiB) as workspace, as lowmem.theano does, so its plan is 8 KiB
    higher."""
    f, inp = profiler_graph(lp.LowMemMode(backend=backend, optimizer=None))
    g, _ = profiler_graph(default(backend, optimizer=None))
    for _ in range(2):
        assert_same([np.array(o) for o in f(*inp)], [np.array(o) for o in g(*inp)])
    plan = check_plan(f)
    tr = plan.translation
    sizes = {var: int(tr.graph.var_size[i]) for i, var in enumerate(tr.variables)}
    plain = graph_from_fgraph(f.maker.fgraph, sizes)          # no workspace
    assert int(np.sum(plain.graph.node_workspace)) == 0
    s = lowmem.schedule(plain.graph, time_limit=5)
    assert s.peak == 4104 * KiB and s.optimal and s.lower_bound == s.peak
    sums = [n for n in range(tr.graph.n_nodes) if tr.graph.node_names[n].startswith("Sum")]
    assert len(sums) == 2
    if backend == "numba":
        assert int(np.sum(tr.graph.node_workspace)) == 0
        assert plan.schedule.peak == 4104 * KiB
    else:
        assert plan.workspace_measured
        for n in sums:
            assert 8 * KiB <= tr.graph.node_workspace[n] < 12 * KiB
        assert plan.schedule.peak - 4104 * KiB >= 8 * KiB
