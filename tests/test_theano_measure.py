"""Measured peaks (tracemalloc) against lowmem's model, for LowMemMode and
for Theano's default mode (the C VM), on graphs of a few MiB so that the
Python-object noise (a few KiB) does not matter. The protocol is in
docs/measurements.md: a call after the first, inputs of the exact dtype.
"""

import tracemalloc
import warnings

import numpy as np
import pytest

import lowmem.theano as lt
import theano
import theano.tensor as T
from theano.tensor.nnet import conv2d

from lowmem.theano._measure import (measure_call, measure_steps, modelled_peaks,
                                   unread_outputs)
from test_theano_equal import constants_and_repeats, convnet, mlp_train

MiB = 2**20
TOLERANCE = 0.05


def compile_pair(build):
    """build() -> (inputs, outputs, updates, shared), called once per mode."""
    fns = []
    for mode in (lt.LowMemMode(), None):
        inputs, outputs, updates, _ = build()
        fns.append(theano.function(inputs, outputs, updates=updates, mode=mode))
    fl, fd = fns
    ops = [str(n.op) for n in fl.maker.fgraph.toposort()]
    assert ops == [str(n.op) for n in fd.maker.fgraph.toposort()], "not the same graph"
    return fl, fd


def check(fl, fd, args):
    """Both functions: one warm-up call, then measured vs modelled."""
    fl(*args)                                   # records and plans
    fd(*args)                                   # the C VM's one-off work
    predicted = modelled_peaks(fl)
    low = measure_call(fl, *args)
    default = measure_call(fd, *args)
    assert predicted.workspace_measured
    assert low.own_session and default.own_session
    assert abs(low.peak / predicted.lowmem - 1) < TOLERANCE, (low.peak, predicted)
    assert abs(default.peak / predicted.default_vm_theano - 1) < TOLERANCE, (default.peak,
                                                                             predicted)
    return predicted, low, default


def test_mlp_training_step():
    sizes = dict(n_in=512, n_hidden=1024, n_out=10)         # W1: 4 MiB
    fl, fd = compile_pair(lambda: mlp_train(**sizes))
    rng = np.random.RandomState(0)
    args = (rng.randn(256, 512), rng.randint(0, 10, 256).astype("int32"))
    p, low, default = check(fl, fd, args)
    assert p.lowmem > 4 * MiB
    assert p.workspace > 0.5 * MiB      # the NumPy-C-API Gemm's product buffer
    # the argmax output of CrossentropySoftmaxArgmax1HotWithBias is never read:
    # the C VM holds it until the call ends (a few KiB here)
    assert p.default_vm_theano >= p.default_vm
    assert abs(default.peak / p.default_vm - 1) < TOLERANCE


def test_constant_nodes_and_repeated_inputs():
    fl, fd = compile_pair(lambda: constants_and_repeats(size=512))   # 2 MiB arrays
    rng = np.random.RandomState(1)
    args = (rng.randn(512, 512), rng.randn(64, 512), rng.randn(64, 512))
    p, low, default = check(fl, fd, args)
    assert p.lowmem >= 4 * MiB and p.default_vm == p.default_vm_theano
    assert low.peak <= default.peak * (1 + TOLERANCE)


def test_convnet_forward():
    fl, fd = compile_pair(convnet(train=False))
    args = (np.random.RandomState(2).randn(16, 3, 64, 64),)
    p, low, default = check(fl, fd, args)
    assert p.lowmem > 2 * MiB
    assert p.workspace > 0.5 * MiB      # CorrMM's im2col buffers


def test_measure_steps_matches_timeline():
    fl, _ = compile_pair(lambda: mlp_train(n_in=512, n_hidden=1024, n_out=10))
    rng = np.random.RandomState(0)
    args = (rng.randn(256, 512), rng.randint(0, 10, 256).astype("int32"))
    fl(*args)
    s = measure_steps(fl, *args)
    assert len(s.measured) == len(s.modelled) == len(fl.fn.nodes)
    assert np.max(np.abs(s.measured - s.modelled)) < 0.02 * s.modelled.max()
    assert abs(s.peak / fl.fn.plan.schedule.peak - 1) < TOLERANCE
    # the thunks are restored: a normal call afterwards
    assert measure_call(fl, *args).peak == pytest.approx(s.peak, rel=TOLERANCE)


def test_unread_outputs_held_by_the_c_vm():
    """eigh computes eigenvectors nobody reads: the model and the LowMemVM free
    them at once, Theano's C VM when the call ends."""
    a = T.matrix("a")
    w, _ = T.nlinalg.eigh(a)
    outs = [w.sum() + T.exp(a)]
    fl, fd = compile_pair(lambda: ([a], outs, None, None))
    m = np.random.RandomState(3).randn(400, 400)
    args = (m + m.T,)
    p, low, default = check(fl, fd, args)
    assert len(unread_outputs(fl.fn.plan.translation.graph)) == 1
    v_bytes = 400 * 400 * 8
    assert p.default_vm_theano - p.default_vm >= 0.9 * v_bytes
    assert default.peak > p.default_vm * 1.3


def test_caller_tracemalloc_session_left_alone():
    a = T.vector("a")
    f = theano.function([a], T.exp(a) * 2, mode=lt.LowMemMode())
    v = np.ones(2**18)                          # 2 MiB
    f(v)
    tracemalloc.start(3)
    try:
        keep = np.ones(2**16)                   # traced by the caller's session
        big = np.ones(2**22, dtype=np.uint8)    # 4 MiB high-water mark, then freed
        del big
        cur0, peak0 = tracemalloc.get_traced_memory()
        m = measure_call(f, v)
        assert tracemalloc.is_tracing() and tracemalloc.get_traceback_limit() == 3
        cur1, peak1 = tracemalloc.get_traced_memory()
        assert not m.own_session and m.before == pytest.approx(cur0, abs=4096)
        assert m.peak == pytest.approx(2 * MiB, rel=0.01)
        # the caller's peak counter reads as if nothing had been reset
        assert abs(peak1 - peak0) < 4096
        # and its traces are still there: `keep` is found in a snapshot
        assert tracemalloc.get_object_traceback(keep) is not None
        assert cur1 - cur0 == pytest.approx(m.retained, abs=4096)
        del m
    finally:
        tracemalloc.stop()


def test_first_call_under_measure_call_warns():
    a = T.vector("a")
    f = theano.function([a], T.exp(a) + 1, mode=lt.LowMemMode())
    with pytest.warns(RuntimeWarning, match="call the function once before"):
        measure_call(f, np.ones(10))
    assert f.fn.plan.workspace_measured       # NumPy's allocations, counted beside tracemalloc
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        measure_call(f, np.ones(10))


# ------------------------------------------- where model and run once disagreed

def test_reshape_that_copies():
    # Reshape declares a view but copies a non-contiguous input: the
    # recording call sees the copy and the model counts it as a buffer.
    a = T.matrix("a")
    e = T.exp(a)
    outs = [T.sort(e.T.reshape((-1,))), e.sum()]
    fl, fd = compile_pair(lambda: ([a], outs, None, None))
    check(fl, fd, (np.random.RandomState(4).randn(512, 512),))     # measured 1.5x


def test_c_vm_runs_prerequisites_first():
    # Theano's C VM visits a node's destroy-handler prerequisites before its
    # inputs; the modelled default order must do the same to match.
    rng = np.random.RandomState(5)
    Wc = theano.shared(rng.randn(1, 16, 3, 3), "Wc")
    X, B = T.tensor4("X"), T.tensor4("B")
    x = T.exp(X)
    outs = [x + T.sort(B, axis=3),                         # in place on x ...
            conv2d(x, Wc, border_mode="half").sum()]       # ... after CorrMM reads x
    fl, fd = compile_pair(lambda: ([X, B], outs, None, None))
    assert len(fl.maker.fgraph.orderings()) > 0
    check(fl, fd, (rng.randn(1, 16, 128, 128), rng.randn(1, 16, 128, 128)))  # 0.91
