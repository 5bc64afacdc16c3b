"""lowmem.pytensor.report: its figures are the plan's, its text shows them
(with the compile overhead the plan recorded), the plot, the errors."""

import re
import sys

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import lowmem
import lowmem.pytensor as lp
from lowmem._report_common import seconds
from lowmem.pytensor import _models as models
from lowmem._units import format_bytes as both, human_bytes as human


def skip_step(width=256, batch=64):
    """A small U-Net-shaped training step (skip connections: lowmem's
    order beats PyTensor's): (inputs, outputs, updates, values)."""
    inputs, outputs, updates, make_data = models.skip_mlp(levels=2, width=width, batch=batch)
    return inputs, outputs, updates, make_data()


@pytest.fixture(scope="module", params=["numba", "vm"])
def step(request):
    inputs, outputs, updates, values = skip_step()
    f = pytensor.function(inputs, outputs, updates=updates, name="skip-step",
                          mode=lp.LowMemMode(backend=request.param))
    f(*values)
    return f


def test_fields_are_the_plans(step):
    r = lp.report(step)
    plan = lp.plan(step)
    g = plan.translation.graph
    assert r.name == "skip-step" and r.n_nodes == g.n_nodes == len(r.steps)
    assert r.backend == {"LowMemNumbaLinker": "Numba", "LowMemVMLinker": "Python loop VM"}[
        type(step.maker.linker).__name__]
    # both backends release a value right after its last reader: no lag
    assert r.peak == plan.peak == lowmem.peak(g, plan.order_ids)
    assert r.listed_peak == plan.listed_peak == lowmem.peak(g)
    assert r.search_peak == plan.schedule.peak == lowmem.peak(g, plan.schedule.order)
    assert r.toposort_peak == plan.schedule.default_peak == lowmem.peak(g)
    assert r.lower_bound == plan.schedule.lower_bound <= r.search_peak
    assert r.optimal == plan.schedule.optimal
    assert r.order_run == ("search" if list(plan.order_ids) == list(plan.schedule.order)
                           else "listed")
    # the steps are the order run
    assert [s.node for s in r.steps] == plan.order
    assert [s.memory for s in r.steps] == list(lowmem.memory_timeline(g, plan.order_ids))
    assert list(r.timelines["lowmem"]) == [s.memory for s in r.steps]
    assert list(r.timelines["PyTensor's order"]) == list(
        lowmem.memory_timeline(g, list(range(g.n_nodes))))
    assert r.steps[r.peak_step].memory == r.peak
    p = r.steps[r.peak_step]
    assert sum(b.nbytes for b in r.peak_buffers) + p.workspace == r.peak
    freed = [b.var_id for s in r.steps for b in s.freed]
    assert len(freed) == len(set(freed))
    assert not set(freed) & set(int(v) for v in g.outputs)
    # the compile overhead the first call recorded
    assert r.record_seconds == plan.record_seconds > 0
    assert r.translate_seconds == plan.translate_seconds > 0
    assert r.schedule_seconds == plan.schedule_seconds >= r.search_seconds >= 0
    assert r.link_seconds == plan.link_seconds > 0
    assert r.first_run_seconds == plan.first_run_seconds > 0
    assert r.overhead_seconds == pytest.approx(
        plan.record_seconds + plan.translate_seconds + plan.schedule_seconds)
    assert r.pytensor_compile is None           # compiled without profile=True


def test_the_lowmem_order_saves_here():
    inputs, outputs, updates, values = skip_step()
    f = pytensor.function(inputs, outputs, updates=updates, mode=lp.LowMemMode())
    f(*values)
    r = lp.report(f)
    assert r.peak < r.listed_peak


def test_text(step):
    r = lp.report(step)
    text = str(r)
    assert f"peak {human(r.peak)} (PyTensor's order {human(r.listed_peak)})" in text
    assert f"{r.peak:,} B" in text and f"{r.listed_peak:,} B" in text
    assert "release lag" not in text and "without the lag" not in text
    assert f"lower bound {both(r.lower_bound)}" in text
    assert ("proven optimal" in text) == r.optimal
    saved = r.listed_peak - r.peak
    assert f"saves {human(saved)} = {saved:,} B" in text
    assert (f"recording call {seconds(r.record_seconds)}, translating "
            f"{seconds(r.translate_seconds)}, scheduling {seconds(r.schedule_seconds)} "
            f"(search {seconds(r.search_seconds)}): {seconds(r.overhead_seconds)} in all") in text
    assert f"linking {seconds(r.link_seconds)}, first run {seconds(r.first_run_seconds)}" in text
    assert "PyTensor's own compile time: not recorded" in text and "profile=True" in text
    assert "Executed order" in text and "Largest buffers live at the peak" in text
    assert re.search(r"^ \*\s*%d " % r.peak_step, text, re.M), "peak step not marked"
    full = r.text(steps=None)
    for s in r.steps:
        assert re.search(r"^ [ *]\s*%d\s" % s.index, full, re.M)
    short = r.text(steps=4)
    assert r.peak_step in r.listed_steps(4) and "text(steps=None) lists all" in short
    assert len(short.splitlines()) < len(full.splitlines())


def test_pytensor_compile_time_with_profile():
    inputs, outputs, updates, values = skip_step()
    f = pytensor.function(inputs, outputs, updates=updates, profile=True,
                          mode=lp.LowMemMode(backend="vm"))
    f(*values)
    r = lp.report(f)
    assert r.pytensor_compile["total"] == f.profile.compile_time > 0
    assert r.pytensor_compile["rewriting"] == f.profile.rewriting_time > 0
    assert f"PyTensor's own compile time: {seconds(f.profile.compile_time)} (rewriting" in str(r)
    # a caller's timing is used only when PyTensor's profiler has none
    assert lp.report(f, compile_seconds=99.0).pytensor_compile["total"] != 99.0


def test_caller_timed_compile(step):
    r = lp.report(step, compile_seconds=1.5)
    assert r.pytensor_compile == {"total": 1.5}
    assert "PyTensor's own compile time: 1.50 s (timed by the caller)" in str(r)


def test_plot(step, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "memory.png"
    r = lp.report(step, plot=str(path))
    assert r.plot == str(path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert f"plot: {path}" in str(r)


def test_plot_without_matplotlib(step, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)        # import fails
    with pytest.raises(ImportError, match="pip install matplotlib"):
        lp.report(step, plot=str(tmp_path / "x.png"))
    assert not (tmp_path / "x.png").exists()
    assert lp.report(step).plot is None


def test_errors(monkeypatch):
    a = pt.vector("a")
    with pytest.raises(TypeError, match="compiled PyTensor function"):
        lp.report(lambda v: v)
    with pytest.raises(TypeError, match=r"mode=lowmem.pytensor.LowMemMode\(\)"):
        lp.report(pytensor.function([a], pt.exp(a)))
    f = pytensor.function([a], pt.exp(a), mode=lp.LowMemMode(backend="vm"))
    with pytest.raises(RuntimeError, match="call it once first"):
        lp.report(f)
    f(np.ones(3))
    assert lp.report(f).n_nodes == 1

    from lowmem.pytensor import _linker

    def broken(*args, **kwargs):
        raise RuntimeError("no sizes today")
    monkeypatch.setattr(_linker, "record", broken)
    g = pytensor.function([a], pt.exp(a) + 1, mode=lp.LowMemMode(backend="vm"))
    with pytest.warns(lp.LowMemWarning):
        g(np.ones(3))
    with pytest.raises(RuntimeError, match="PyTensor's own order"):
        lp.report(g)
