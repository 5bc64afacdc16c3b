"""LowMemMode(memory_budget=...) (issue 13): the VM runs the plan's
recomputations; results stay equal to the default mode's bit for bit and
the measured peak stays at the plan's modelled peak."""

import numpy as np
import pytest

theano = pytest.importorskip("theano")

import lowmem.theano as lt
from lowmem.theano import LowMemMode
from lowmem.theano import _models as models
from lowmem.theano._linker import clear_lists
from lowmem.theano._measure import measure_call

# Small enough to compile and run in seconds; a training step keeps its
# forward activations for the backward pass, which is what recomputation
# trades.
SMALL = {"unet": dict(batch=2, size=32, base=8, levels=2),
         "resnet": dict(batch=4, size=16, widths=(8, 16), blocks=1)}


def _compile(name, mode):
    inputs, outputs, updates, make_data = models.build(name, train=True, **SMALL[name])
    f = theano.function(inputs, outputs, updates=updates, mode=mode)
    return f, make_data, [u[0] for u in updates]


def _step(f, shared, initial, data):
    for s, value in zip(shared, initial):
        s.set_value(value.copy())
    out = f(*data)
    return [np.array(o) for o in out] + [s.get_value() for s in shared]


@pytest.mark.parametrize("name", sorted(SMALL))
def test_a_budget_recomputes_with_equal_results_and_the_modelled_peak(name):
    default, make_data, shared_d = _compile(name, "FAST_RUN")
    budgeted, _, shared_b = _compile(name, LowMemMode(memory_budget=0.6, time_limit=0.5))
    data = make_data()
    initial = [s.get_value().copy() for s in shared_d]
    expected = _step(default, shared_d, initial, data)
    first = _step(budgeted, shared_b, initial, data)         # records, plans
    plan = budgeted.fn.plan
    r = plan.schedule.recompute
    assert r is not None and r.reruns, "a budget of 0.6 x the best peak needs recomputation"
    assert r.fits and plan.schedule.peak <= r.memory_budget
    assert len(plan.nodes) == len(set(plan.nodes)) + sum(r.reruns.values())
    second = _step(budgeted, shared_b, initial, data)        # the planned order
    for a, b, c in zip(expected, first, second):
        assert np.array_equal(a, b) and np.array_equal(a, c)
    for s, value in zip(shared_b, initial):
        s.set_value(value.copy())
    measured = measure_call(budgeted, *data).peak
    # The model counts arrays; tracemalloc also sees Python objects of the
    # call (a few KiB).
    assert plan.schedule.peak <= measured <= plan.schedule.peak * 1.02 + 65536, \
        (measured, plan.schedule.peak)
    report = str(lt.report(budgeted))
    assert "memory budget" in report and "recomputed:" in report
    assert f"{sum(r.reruns.values())} extra runs of {len(r.reruns)} nodes" in report


def test_without_a_budget_nothing_changes():
    f, make_data, _ = _compile("unet", LowMemMode(time_limit=0.2))
    f(*make_data())
    plan = f.fn.plan
    assert plan.schedule.recompute is None and len(plan.nodes) == len(set(plan.nodes))


def test_clear_lists_with_a_node_run_twice():
    """x -> a = exp(x) -> b = a * a; out = a + b. Order exp, mul, exp, add:
    the first a goes after mul (its last reader before exp runs again), the
    second a and b after add; out, a graph output, never."""
    import theano.tensor as T
    from theano.gof import FunctionGraph
    x = T.vector("x")
    a = T.exp(x)
    b = a * a
    out = a + b
    fg = FunctionGraph([x], [out], clone=False)
    exp, mul, add = a.owner, b.owner, out.owner
    assert clear_lists(fg, [exp, mul, exp, add]) == [[], [a], [], [a, b]]
    assert clear_lists(fg, [exp, mul, add]) == [[], [], [a, b]]
