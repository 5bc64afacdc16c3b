"""LowMemMode as a user meets it: one mode for several functions, Theano's
profiler test graph through the translator, the fallback when scheduling
fails."""

import warnings

import numpy as np
import pytest

import lowmem
import lowmem.theano as lt
import theano
import theano.tensor as T

from lowmem import _scheduler as scheduler
from lowmem.theano._linker import LowMemVM
from test_theano_equal import assert_same, mlp_train

KiB = 1024


def test_one_mode_many_functions():
    """Like Keras: one mode instance for the train, test and predict functions."""
    mode = lt.LowMemMode()
    built = {}
    for m in ("low", "default"):
        (x, y), (loss, pred), updates, params = mlp_train()
        kw = {"mode": mode} if m == "low" else {}
        built[m] = (theano.function([x, y], loss, updates=updates, **kw),
                    theano.function([x, y], loss, **kw),
                    theano.function([x], pred, **kw), params)
    rng = np.random.RandomState(5)
    for _ in range(3):
        X, Y = rng.randn(8, 12), rng.randint(0, 5, 8).astype("int32")
        (lt_, le, lp, lparams), (dt, de, dp, dparams) = built["low"], built["default"]
        assert_same(lt_(X, Y), dt(X, Y))
        assert_same(le(X, Y), de(X, Y))
        assert_same(lp(X), dp(X))
        for a, b in zip(lparams, dparams):
            assert_same(a.get_value(), b.get_value())
    fns = built["low"][:3]
    assert all(isinstance(f.fn, LowMemVM) for f in fns)
    plans = [f.fn.plan for f in fns]
    assert all(p is not None for p in plans)
    assert len({id(p) for p in plans}) == 3
    assert len({id(f.maker.linker) for f in fns}) == 3       # a linker each
    for f, p in zip(fns, plans):
        assert p.translation.graph.n_nodes == len(f.maker.fgraph.apply_nodes)
        assert set(p.nodes) == set(f.maker.fgraph.apply_nodes)
        assert f.fn.nodes == p.nodes                          # runs its own plan
    # the train function has updates, the predict function no loss
    assert plans[0].translation.graph.n_nodes > plans[1].translation.graph.n_nodes


def profiler_function():
    """theano/compile/tests/test_profiling.py's graph."""
    x = [T.fvector("val%i" % i) for i in range(3)]
    z = [T.outer(x[i], x[i + 1]).sum(axis=1) for i in range(len(x) - 1)]
    z += [x[i] + x[i + 1] for i in range(len(x) - 1)]
    f = theano.function(x, z, mode=lt.LowMemMode(), name="test_profiling")
    g = theano.function(x, z)
    inp = [np.arange(1024, dtype="float32") + 1 for _ in range(len(x))]
    return f, g, inp


def test_theano_profiler_graph():
    f, g, inp = profiler_function()
    for _ in range(2):
        assert_same(f(*inp), g(*inp))
    plan = f.fn.plan
    tr = plan.translation
    sizes = {var: int(tr.graph.var_size[i]) for i, var in enumerate(tr.variables)}
    # Through the translator without workspace: Theano's profiler model.
    plain = lt.graph_from_fgraph(f.maker.fgraph, sizes)
    assert int(np.sum(plain.graph.node_workspace)) == 0
    s = lowmem.schedule(plain.graph, time_limit=5)
    # Theano's test expects "Minimum peak from all valid apply node order is 4104KB"
    assert s.peak == 4104 * KiB and s.optimal and s.lower_bound == s.peak
    # With the workspace measured on the first call, the peak is higher: each
    # Sum{axis=1} of float32 accumulates in a float64 buffer of 1024 (8 KiB)
    # that Theano's profiler does not count.
    sums = [n for n in range(tr.graph.n_nodes) if tr.graph.node_names[n].startswith("Sum")]
    assert len(sums) == 2
    for n in sums:
        assert 8 * KiB <= tr.graph.node_workspace[n] < 12 * KiB
    assert plan.workspace_measured
    assert plan.schedule.peak > 4104 * KiB
    assert plan.schedule.peak - 4104 * KiB >= 8 * KiB
    assert plan.schedule.optimal


def test_scheduling_failure_falls_back_to_toposort(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("search exploded")
    monkeypatch.setattr(scheduler, "schedule", broken)
    a, b = T.vector("a"), T.vector("b")
    outs = [T.exp(a) * b, T.sort(a + b)]
    f = theano.function([a, b], outs, mode=lt.LowMemMode())
    g = theano.function([a, b], outs)
    rng = np.random.RandomState(3)
    with pytest.warns(UserWarning, match=r"RuntimeError: search exploded"):
        first = f(*(args := (rng.randn(9), rng.randn(9))))
    assert_same(first, g(*args))
    assert f.fn.recorded and f.fn.plan is None
    assert f.fn.nodes == list(f.maker.fgraph.toposort())
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # later calls do not warn again
        for _ in range(3):
            args = (rng.randn(9), rng.randn(9))
            assert_same(f(*args), g(*args))
    with pytest.raises(RuntimeError, match="could not schedule"):
        lt.report(f)


def test_auto_time_limit_is_a_share_of_compile_time():
    from lowmem.theano._linker import AUTO_TIME_MAX, AUTO_TIME_MIN, AUTO_TIME_SHARE
    x = T.matrix("x")
    f = theano.function([x], [T.exp(x).sum(), (x * 2).T.dot(x)], mode=lt.LowMemMode())
    f(np.ones((64, 64)))
    vm = f.fn
    assert vm.linker.options.time_limit is None and vm.compile_seconds > 0
    budget = vm.search_seconds()
    assert budget == min(AUTO_TIME_MAX, max(AUTO_TIME_MIN, AUTO_TIME_SHARE * vm.compile_seconds))
    assert vm.plan.schedule.stats["seconds"] <= budget + 0.05
    assert lt.LowMemMode(time_limit=0.5).options.time_limit == 0.5


def test_memory_profiler_gets_theanos_stack_vm():
    # Theano's memory profiler describes its Stack VM; LowMemMode defers to it.
    saved = theano.config.profile, theano.config.profile_memory
    theano.config.profile, theano.config.profile_memory = True, True
    try:
        x = T.vector("x")
        f = theano.function([x], T.exp(x) * 2, mode=lt.LowMemMode())
        assert isinstance(f.fn, theano.gof.vm.Stack)
        assert np.allclose(f(np.ones(3)), 2 * np.e)
    finally:
        theano.config.profile, theano.config.profile_memory = saved
