"""lowmem.theano._report: the fields, the text, the plot, the errors."""

import re
import sys

import numpy as np
import pytest

import lowmem
import lowmem.theano as lt
import theano
import theano.tensor as T

from lowmem._orders import dfs_postorder
from lowmem._units import format_bytes as both, human_bytes as human
from lowmem.theano._report import walk
from test_theano_equal import inplace_graph, mlp_train


@pytest.fixture(scope="module")
def mlp():
    (x, y), (loss, _), updates, _ = mlp_train(n_in=64, n_hidden=128, n_out=5)
    f = theano.function([x, y], loss, updates=updates, mode=lt.LowMemMode(), name="mlp-step")
    rng = np.random.RandomState(0)
    f(rng.randn(32, 64), rng.randint(0, 5, 32).astype("int32"))
    return f


def test_units():
    assert human(512) == "512 B"
    assert human(4210880) == "4.02 MiB"
    assert human(3 * 2**30) == "3.00 GiB"
    assert both(4210880) == "4.02 MiB (4,210,880 B)"
    assert both(100) == "100 B"


def test_fields(mlp):
    r = lt.report(mlp)
    plan = mlp.fn.plan
    g = plan.translation.graph
    assert r.name == "mlp-step" and r.n_nodes == g.n_nodes == len(r.steps)
    assert r.peak == plan.schedule.peak == lowmem.peak(g, plan.schedule.order)
    assert r.toposort_peak == lowmem.peak(g)
    assert r.default_vm_peak == lowmem.peak(g, dfs_postorder(g))
    assert r.default_vm_theano_peak >= r.default_vm_peak
    assert r.lower_bound <= r.peak and r.optimal == plan.schedule.optimal
    assert r.record_seconds == plan.record_seconds > 0
    assert r.search_seconds >= 0 and r.schedule_seconds >= r.search_seconds
    assert r.workspace_measured
    assert [s.node for s in r.steps] == plan.nodes
    assert [s.memory for s in r.steps] == list(r.timelines["lowmem"])
    assert r.steps[r.peak_step].memory == r.peak
    # buffers live at the peak, plus the node's workspace, make the peak
    p = r.steps[r.peak_step]
    assert sum(b.nbytes for b in r.peak_buffers) + p.workspace == r.peak
    assert [b.nbytes for b in r.peak_buffers] == sorted((b.nbytes for b in r.peak_buffers),
                                                        reverse=True)
    assert [w for w, _, _ in r.largest_workspace] == sorted(
        (int(w) for w in g.node_workspace if w), reverse=True)
    # every buffer allocated is freed once, except the outputs'
    freed = [b.var_id for s in r.steps for b in s.freed]
    assert len(freed) == len(set(freed))
    assert not set(freed) & set(int(v) for v in g.outputs)


def test_walk_matches_the_model():
    f = theano.function(*inplace_graph()[:2], mode=lt.LowMemMode())
    rng = np.random.RandomState(1)
    f(rng.randn(6, 5), rng.randn(6, 5))
    g = f.fn.plan.translation.graph
    for order in (f.fn.plan.schedule.order, g.default_order(), dfs_postorder(g)):
        timeline, allocated, freed, live_at = walk(g, order)
        assert np.array_equal(timeline, lowmem.memory_timeline(g, order))
        for t, n in enumerate(order):
            live = live_at(t)
            assert sum(int(g.var_size[b]) for b in live) + int(g.node_workspace[n]) == timeline[t]


def test_text(mlp):
    r = lt.report(mlp)
    text = str(r)
    headline = (f"peak {human(r.peak)} (toposort {human(r.toposort_peak)}, "
                f"default C VM order {human(r.default_vm_peak)})")
    assert headline in text
    assert f"{r.peak:,} B" in text and f"{r.default_vm_peak:,} B" in text
    assert f"lower bound {both(r.lower_bound)}" in text
    assert ("proven optimal" in text) == r.optimal
    assert "search " in text and "recording call" in text
    assert "Executed order" in text and "freed after it" in text
    assert "Largest buffers live at the peak" in text
    assert "Largest workspace" in text
    assert re.search(r"^ \*\s*%d " % r.peak_step, text, re.M), "peak step not marked"
    # every step listed with its op
    full = r.text(steps=None)
    for s in r.steps:
        assert re.search(r"^ [ *]\s*%d\s" % s.index, full, re.M)
    # a short listing: the first steps and the peak region only
    short = r.text(steps=4)
    listed = r.listed_steps(4)
    assert listed[:4] == [0, 1, 2, 3] and r.peak_step in listed and len(listed) < r.n_nodes
    assert "text(steps=None) lists all" in short
    assert len(short.splitlines()) < len(full.splitlines())


def test_plot(mlp, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "memory.png"
    r = lt.report(mlp, plot=str(path))
    assert r.plot == str(path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert f"plot: {path}" in str(r)


def test_plot_without_matplotlib(mlp, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)        # import fails
    with pytest.raises(ImportError, match="pip install matplotlib"):
        lt.report(mlp, plot=str(tmp_path / "x.png"))
    assert not (tmp_path / "x.png").exists()
    assert lt.report(mlp).plot is None                          # fine without a plot


def test_errors():
    a = T.vector("a")
    with pytest.raises(TypeError, match="compiled Theano function"):
        lt.report(lambda v: v)
    default = theano.function([a], T.exp(a))
    with pytest.raises(TypeError, match=r"mode=lowmem.theano.LowMemMode\(\)"):
        lt.report(default)
    f = theano.function([a], T.exp(a), mode=lt.LowMemMode())
    with pytest.raises(RuntimeError, match="call it once first"):
        lt.report(f)
    f(np.ones(3))
    assert lt.report(f).n_nodes == 1
