"""lowmem.pytensor.LowMemMode: the same results as PyTensor's own modes, the
order lowmem chose actually applied, options checked, and PyTensor's order
kept (with a warning) when planning fails."""

import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import Mode
from pytensor.link.numba.linker import NumbaLinker
from pytensor.link.vm import VMLinker

import lowmem.pytensor as lp
from checks import check_plan


def baseline(backend):
    """PyTensor's own mode for the same backend (and so the same rewrites)."""
    if backend == "numba":
        return Mode(linker=NumbaLinker())
    return Mode(linker=VMLinker(use_cloop=False, allow_gc=True))


def mlp_step():
    """A two-layer MLP training step: loss and updated weights."""
    rng = np.random.default_rng(0)
    x = pt.matrix("x")
    y = pt.matrix("y")
    w1 = pytensor.shared(rng.standard_normal((64, 128)), name="w1")
    w2 = pytensor.shared(rng.standard_normal((128, 10)), name="w2")
    h = pt.tanh(x @ w1)
    out = pt.special.softmax(h @ w2, axis=1)
    loss = -(y * pt.log(out)).sum(axis=1).mean()
    g1, g2 = pt.grad(loss, [w1, w2])
    updates = [(w1, w1 - 0.1 * g1), (w2, w2 - 0.1 * g2)]
    xs = rng.standard_normal((32, 64))
    ys = np.eye(10)[rng.integers(0, 10, 32)]
    return [x, y], [loss], updates, (w1, w2), (xs, ys)


@pytest.mark.parametrize("backend", ["numba", "vm"])
def test_training_step_equal_to_pytensor(backend):
    inputs, outputs, updates, shared, values = mlp_step()
    start = [w.get_value() for w in shared]
    results = {}
    for name, mode in (("default", baseline(backend)), ("lowmem", lp.LowMemMode(backend=backend))):
        for w, v in zip(shared, start):
            w.set_value(v.copy())
        f = pytensor.function(inputs, outputs, updates=updates, mode=mode)
        losses = [f(*values)[0] for _ in range(3)]
        results[name] = (losses, [w.get_value() for w in shared], f)
    (l0, w0, _), (l1, w1, f1) = results["default"], results["lowmem"]
    assert l0 == l1
    assert all(np.array_equal(a, b) for a, b in zip(w0, w1))
    check_plan(f1)


def two_branches():
    """Two independent chains whose order sets the peak: run one chain to
    its end before starting the other."""
    x = pt.vector("x")
    a = pt.exp(x)
    b = pt.sin(x)
    big_a = pt.outer(a, a).sum(axis=0)
    big_b = pt.outer(b, b).sum(axis=0)
    return [x], [big_a + big_b], np.linspace(0, 1, 300)


@pytest.mark.parametrize("backend", ["numba", "vm"])
def test_order_is_the_one_applied(backend):
    inputs, outputs, value = two_branches()
    f = pytensor.function(inputs, outputs, mode=lp.LowMemMode(backend=backend))
    expected = pytensor.function(inputs, outputs, mode=baseline(backend))(value)
    assert np.array_equal(f(value)[0], expected[0])
    plan = lp.plan(f)
    # The linked backend runs the plan's order: the VM's thunks, or the
    # Numba linker's schedule, are in that order.
    linked = f.vm._run
    if backend == "vm":
        assert [id(n) for n in linked.nodes] == [id(n) for n in plan.order]
    check_plan(f)


def test_worth_running_needs_one_percent_and_64_kib():
    from lowmem.pytensor._linker import worth_running
    kib = 1024
    assert worth_running(10_000 * kib - 100 * kib, 10_000 * kib)        # 1%, 100 KiB
    assert not worth_running(10_000 * kib - 99 * kib, 10_000 * kib)     # under 1%
    assert worth_running(1_000 * kib - 64 * kib, 1_000 * kib)           # 6.4%, 64 KiB
    assert not worth_running(1_000 * kib - 63 * kib, 1_000 * kib)       # under 64 KiB
    assert not worth_running(5, 5) and not worth_running(6, 5)


@pytest.mark.parametrize("backend", ["numba", "vm"])
def test_a_small_saving_runs_pytensors_order(backend):
    """A U-Net-shaped training step whose order matters: at width 64 and
    batch 32 the search saves 8,192 bytes, under 64 KiB, so PyTensor's own
    order runs; at width 256 and batch 64 (163,840 bytes, 24%) the
    search's."""
    from lowmem.pytensor import _models as models
    for width, batch, runs in ((64, 32, "listed"), (256, 64, "search")):
        inputs, outputs, updates, make_data = models.skip_mlp(levels=2, width=width,
                                                              batch=batch)
        f = pytensor.function(inputs, outputs, updates=updates,
                              mode=lp.LowMemMode(backend=backend))
        f(*make_data())
        plan = check_plan(f)
        assert plan.schedule.peak < plan.listed_peak, "the search found no lower order"
        assert lp.report(f).order_run == runs
        if runs == "listed":
            assert plan.peak == plan.listed_peak
            assert plan.order_ids == list(range(len(plan.order_ids)))
        else:
            assert plan.peak == plan.schedule.peak < plan.listed_peak


def test_recording_leaves_destroyed_inputs_alone():
    """An in-place op on a mutable input: the recording call works on a copy,
    so the real call sees (and overwrites) the caller's array once."""
    x = pt.vector("x")
    f = pytensor.function([pytensor.In(x, mutable=True)], pt.exp(x) + 1,
                          mode=lp.LowMemMode())
    g = pytensor.function([pytensor.In(x, mutable=True)], pt.exp(x) + 1,
                          mode=baseline("numba"))
    v1 = np.linspace(0, 1, 50)
    v2 = v1.copy()
    assert np.array_equal(f(v1), g(v2))


def test_random_draws_equal_to_pytensor():
    """Random variables: the recording call must not advance the generator."""
    draws = {}
    for name, mode in (("default", baseline("numba")), ("lowmem", lp.LowMemMode())):
        rng = pytensor.shared(np.random.default_rng(42))
        x = pt.random.normal(0, 1, size=(100,), rng=rng)
        f = pytensor.function([], x * 2, mode=mode)
        draws[name] = [f() for _ in range(3)]
    for a, b in zip(draws["default"], draws["lowmem"]):
        assert np.array_equal(a, b)


def test_failed_plan_keeps_pytensor_order(monkeypatch):
    from lowmem.pytensor import _linker

    def broken(*args, **kwargs):
        raise RuntimeError("no sizes today")

    monkeypatch.setattr(_linker, "record", broken)
    inputs, outputs, value = two_branches()
    f = pytensor.function(inputs, outputs, mode=lp.LowMemMode())
    with pytest.warns(lp.LowMemWarning, match="no sizes today"):
        got = f(value)
    assert lp.plan(f) is None
    expected = pytensor.function(inputs, outputs, mode=baseline("numba"))(value)
    assert np.array_equal(got[0], expected[0])


@pytest.mark.parametrize("kwargs, words", [
    ({"backend": "jax"}, ["backend", "'jax'"]),
    ({"time_limit": -1}, ["time_limit"]),
    ({"time_limit": float("nan")}, ["time_limit"]),
    ({"time_limit": "1"}, ["time_limit"]),
    ({"memory_limit": 10}, ["memory_limit"]),
])
def test_options_checked(kwargs, words):
    with pytest.raises(ValueError) as info:
        lp.LowMemMode(**kwargs)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_one_mode_many_functions():
    """A mode compiles any number of functions, each planned on its own."""
    mode = lp.LowMemMode(time_limit=0.2)
    inputs, outputs, value = two_branches()
    f = pytensor.function(inputs, outputs, mode=mode)
    g = pytensor.function(inputs, [outputs[0] * 2], mode=mode)
    with warnings.catch_warnings():
        warnings.simplefilter("error", lp.LowMemWarning)
        a, b = f(value)[0], g(value)[0]
    assert np.allclose(2 * a, b)
    assert lp.plan(f) is not lp.plan(g)
    assert f.vm._linker is not g.vm._linker and f.vm._linker.time_limit == 0.2
