"""LowMemMode returns exactly what Theano's default mode returns.

Each model is built twice (fresh shared variables with the same initial
values) and compiled once with ``LowMemMode()`` and once without a mode
(Theano's C VM); both run the same C thunks, only the order differs, so
results must be bitwise identical (``np.array_equal``), call after call,
and so must shared variables after updates. Models are tiny: what costs
time is compiling each op's C code once (cached in ~/.theano), so the
tests share ops and dtypes (float64) where they can.
"""


import numpy as np
import pytest

import lowmem.theano as lt  # noqa: E402  (sets Theano's flags before importing it)
import theano  # noqa: E402
import theano.tensor as T  # noqa: E402
from theano.ifelse import ifelse  # noqa: E402
from theano.tensor.nnet import conv2d  # noqa: E402
from theano.tensor.signal.pool import pool_2d  # noqa: E402

from lowmem.theano._linker import LowMemVM  # noqa: E402


def compile_both(build, **kwargs):
    """build() -> (inputs, outputs, updates, shared); compiled twice."""
    fns = []
    for mode in (lt.LowMemMode(), None):
        inputs, outputs, updates, shared = build()
        f = theano.function(inputs, outputs, updates=updates, mode=mode, **kwargs)
        fns.append((f, shared))
    (fl, sl), (fd, sd) = fns
    assert isinstance(fl.fn, LowMemVM)
    assert not isinstance(fd.fn, LowMemVM)
    return fl, fd, sl, sd


def assert_same(a, b):
    if isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a, b), f"max |diff| {np.max(np.abs(a - b))}"


def run_both(fl, fd, calls, sl=(), sd=()):
    """Call both with each argument tuple; results and shared values equal."""
    for args in calls:
        assert_same(fl(*args), fd(*args))
        for x, y in zip(sl, sd):
            assert_same(x.get_value(), y.get_value())
    assert fl.fn.recorded
    return fl.fn.plan


RNG = np.random.RandomState(1234)


# ---------------------------------------------------------------- models
def mlp_train(n_in=12, n_hidden=16, n_out=5):
    rng = np.random.RandomState(0)
    W1 = theano.shared(rng.randn(n_in, n_hidden) * 0.3, "W1")
    b1 = theano.shared(np.zeros(n_hidden), "b1")
    W2 = theano.shared(rng.randn(n_hidden, n_out) * 0.3, "W2")
    b2 = theano.shared(np.zeros(n_out), "b2")
    params = [W1, b1, W2, b2]
    x = T.matrix("x")
    y = T.ivector("y")
    h = T.tanh(x.dot(W1) + b1)
    p = T.nnet.softmax(h.dot(W2) + b2)
    loss = T.nnet.categorical_crossentropy(p, y).mean()
    grads = T.grad(loss, params)
    updates = [(w, w - 0.5 * g) for w, g in zip(params, grads)]
    return [x, y], [loss, p.argmax(axis=1)], updates, params


def test_mlp_training_step_with_updates():
    fl, fd, sl, sd = compile_both(mlp_train)
    calls = [(RNG.randn(8, 12), RNG.randint(0, 5, 8).astype("int32")) for _ in range(4)]
    plan = run_both(fl, fd, calls, sl, sd)
    assert plan is not None and plan.schedule.peak <= plan.schedule.default_peak
    # the weights really moved
    assert not np.array_equal(sl[0].get_value(), mlp_train()[3][0].get_value())


def convnet(train):
    def build():
        rng = np.random.RandomState(1)
        W = theano.shared(rng.randn(4, 3, 3, 3) * 0.2, "W")
        V = theano.shared(rng.randn(6, 4, 3, 3) * 0.2, "V")
        x = T.tensor4("x")
        h = T.nnet.relu(conv2d(x, W, border_mode="half"))
        h = pool_2d(h, (2, 2), ignore_border=True)
        h = T.nnet.relu(conv2d(h, V, border_mode="valid"))
        out = pool_2d(h, (2, 2), ignore_border=True, mode="average_exc_pad")
        if not train:
            return [x], [out], None, [W, V]
        loss = (out ** 2).mean()
        grads = T.grad(loss, [W, V])
        return [x], [loss], [(w, w - 0.1 * g) for w, g in zip([W, V], grads)], [W, V]
    return build


@pytest.mark.parametrize("train", [False, True], ids=["forward", "train"])
def test_convnet(train):
    fl, fd, sl, sd = compile_both(convnet(train))
    calls = [(RNG.randn(2, 3, 10, 10),) for _ in range(3)]
    run_both(fl, fd, calls, sl, sd)
    ops = {type(n.op).__name__ for n in fl.maker.fgraph.toposort()}
    assert "CorrMM" in ops and "Pool" in ops
    if train:
        assert {"CorrMM_gradWeights", "MaxPoolGrad"} <= ops


def rnn(grad):
    def build():
        rng = np.random.RandomState(2)
        Wx = theano.shared(rng.randn(4, 6) * 0.3, "Wx")
        Wh = theano.shared(rng.randn(6, 6) * 0.3, "Wh")
        xs = T.tensor3("xs")                      # time, batch, features
        h0 = T.zeros((xs.shape[1], 6))
        hs, _ = theano.scan(lambda x_t, h: T.tanh(x_t.dot(Wx) + h.dot(Wh)),
                            sequences=xs, outputs_info=h0)
        if not grad:
            return [xs], [hs, hs[-1].sum()], None, []
        loss = (hs[-1] ** 2).sum()
        return [xs], [loss] + T.grad(loss, [Wx, Wh]), None, []
    return build


@pytest.mark.parametrize("grad", [False, True], ids=["forward", "gradient"])
def test_scan_rnn(grad):
    fl, fd, _, _ = compile_both(rnn(grad))
    calls = [(RNG.randn(5, 3, 4),) for _ in range(3)] + [(RNG.randn(7, 2, 4),)]
    run_both(fl, fd, calls)
    assert any("Scan" in type(n.op).__name__ for n in fl.maker.fgraph.toposort())


def inplace_graph():
    a, b = T.matrix("a"), T.matrix("b")
    c = a + b
    d = T.exp(c)
    e = T.tanh(d * 2 + 1) - a
    s = T.sort(e, axis=1)                          # not fused: an Elemwise after it
    z = T.set_subtensor(s[:, :2], 0.0)             # IncSubtensor, in place on s
    z2 = T.inc_subtensor(z[1:], d[1:])             # ... and again
    x = T.exp(b)
    w = x + T.sort(a, axis=0)                      # in place on x, after dot reads x
    out = [z2 * 3 + T.sqrt(abs(d)) + c, e.sum(axis=0), T.dot(c, e.T) + 1,
           w, T.dot(x, c.T)]
    return [a, b], out, None, []


def test_graph_of_inplace_ops():
    fl, fd, _, _ = compile_both(inplace_graph)
    calls = [(RNG.randn(6, 5), RNG.randn(6, 5)) for _ in range(3)]
    plan = run_both(fl, fd, calls)
    destroyers = [n for n in fl.maker.fgraph.toposort() if getattr(n.op, "destroy_map", None)]
    assert len(destroyers) >= 3
    assert len(plan.translation.graph.orderings) > 0   # the destroy handler's constraints


def constants_and_repeats(size=64):
    a, b, x = T.matrix("a"), T.matrix("b"), T.matrix("x")
    # Alloc of constants: folded into a constant where Theano can, kept as a
    # node (with constant inputs only) where it is an output
    zeros = T.alloc(np.float64(0.0), size, size)
    ones = T.alloc(np.float64(1.0), 3, size)
    out = [a * a + zeros,                            # a repeated input (becomes sqr(a))
           T.join(0, b, b, x, ones).sum(axis=0),     # repeated input in a join
           T.dot(a, a),                              # ... and in a Dot22
           zeros]
    return [a, b, x], out, None, []


def test_constant_nodes_and_repeated_inputs():
    fl, fd, _, _ = compile_both(constants_and_repeats)
    calls = [(RNG.randn(64, 64), RNG.randn(2, 64), RNG.randn(5, 64)) for _ in range(3)]
    plan = run_both(fl, fd, calls)
    g = plan.translation.graph
    const_only = [n for n in range(g.n_nodes)
                  if all(g.var_producer[v] < 0 for v in g.node_inputs(n))
                  and "Alloc" in g.node_names[n]]
    assert const_only, "expected an Alloc of constants in the compiled graph"
    assert any(len(set(map(int, g.node_inputs(n)))) < len(g.node_inputs(n))
               for n in range(g.n_nodes)), "expected a node reading one variable twice"


def lazy_and_multi():
    a, b, c = T.vector("a"), T.vector("b"), T.scalar("c")
    branch = ifelse(T.gt(c, 0), T.exp(a) * 2, T.sort(b) + 1)
    mx, amx = T.max_and_argmax(a + b)
    return [a, b, c], [branch, mx, amx, a + b], None, []


def test_ifelse_and_multiple_outputs():
    fl, fd, _, _ = compile_both(lazy_and_multi)
    calls = [(RNG.randn(7), RNG.randn(7), np.float64(cv)) for cv in (1.0, -1.0, 2.0, -3.0)]
    run_both(fl, fd, calls)
    assert any(type(n.op).__name__ == "IfElse" for n in fl.maker.fgraph.toposort())


def test_single_output_unpacked():
    a = T.vector("a")
    fl = theano.function([a], T.exp(a) + 1, mode=lt.LowMemMode())
    fd = theano.function([a], T.exp(a) + 1)
    for _ in range(3):
        v = RNG.randn(5)
        assert_same(fl(v), fd(v))
