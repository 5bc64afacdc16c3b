"""The plan cache for PyTensor (lowmem.pytensor._cache over lowmem._plan_cache,
the cache lowmem.theano uses): a hit gives the same order without the
recording call and the search, in this process and in another; other
input shapes are another variant; an entry that does not fit is planned
again, with a warning."""

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import lowmem.pytensor as lp
from lowmem import _plan_cache, _scheduler
from lowmem.pytensor import _cache, _linker
from lowmem.pytensor._mode import BACKENDS
from checks import check_plan

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def graph():
    """A fresh graph each time (the same key): two branches of different
    sizes, a scan-free training-step shape."""
    x, w1, w2 = pt.matrix("x"), pt.matrix("w1"), pt.matrix("w2")
    a = pt.tanh(x @ w1)
    b = pt.exp(x @ w2).sum(axis=1)
    return [x, w1, w2], [a.sum() + b.mean(), (a * 2).mean(axis=0)]


def values(n=40):
    rng = np.random.default_rng(0)
    return [rng.standard_normal((n, n)) / n for _ in range(3)]


def compile_cached(directory, backend="vm"):
    linker = BACKENDS[backend](plan_cache=True, cache_dir=str(directory))
    inputs, outputs = graph()
    return pytensor.function(inputs, outputs, mode=lp.LowMemMode(linker=linker))


def no_planning(monkeypatch):
    """Make the recording call and the search fail: a hit needs neither."""
    def refuse(*args, **kwargs):
        raise AssertionError("planned although cached")
    monkeypatch.setattr(_linker, "record", refuse)
    monkeypatch.setattr(_scheduler, "schedule", refuse)


@pytest.mark.parametrize("backend", ["vm", "numba"])
def test_hit_same_order_without_recording_or_search(tmp_path, monkeypatch, backend):
    f = compile_cached(tmp_path, backend)
    expected = f(*values())
    first = check_plan(f)
    assert first.source == "recorded" and first.cache_key is not None
    assert os.listdir(tmp_path) and f"{first.cache_key}.json" in os.listdir(tmp_path)

    no_planning(monkeypatch)
    g = compile_cached(tmp_path, backend)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no LowMemWarning: it was planned
        got = g(*values())
    second = check_plan(g)
    assert second.source == "cache" and second.cache_key == first.cache_key
    assert list(second.schedule.order) == list(first.schedule.order)
    assert list(second.order_ids) == list(first.order_ids)
    assert [str(n.op) for n in second.order] == [str(n.op) for n in first.order]
    assert second.peak == first.peak and second.listed_peak == first.listed_peak
    assert second.record_seconds == 0 == second.translate_seconds
    assert second.cache_seconds > 0 and first.cache_seconds > 0
    assert [np.asarray(v).tolist() for v in got] == [np.asarray(v).tolist() for v in expected]
    text = str(lp.report(g))
    assert f"plan loaded from the plan cache (key {first.cache_key[:12]})" in text
    assert "no recording call, no search" in text
    assert f"stored in the plan cache (key {first.cache_key[:12]})" in str(lp.report(f))


def test_other_input_shapes_are_another_variant(tmp_path):
    f = compile_cached(tmp_path)
    f(*values(40))
    g = compile_cached(tmp_path)
    g(*values(24))
    assert lp.plan(g).source == "recorded"
    key = lp.plan(f).cache_key
    variants = _plan_cache.PlanCache(str(tmp_path)).load(key)
    assert sorted(v["signature"][0][0][0] for v in variants) == [24, 40]
    h = compile_cached(tmp_path)
    h(*values(24))
    assert lp.plan(h).source == "cache"


def test_entry_that_does_not_fit_is_planned_again(tmp_path):
    f = compile_cached(tmp_path)
    f(*values())
    key = lp.plan(f).cache_key
    path = tmp_path / f"{key}.json"
    content = json.loads(path.read_text())
    content["variants"][0]["peak"] += 8
    path.write_text(json.dumps(content))
    g = compile_cached(tmp_path)
    with pytest.warns(_plan_cache.PlanCacheWarning, match="does not fit"):
        g(*values())
    assert lp.plan(g).source == "recorded"
    assert list(lp.plan(g).order_ids) == list(lp.plan(f).order_ids)


def test_off_by_default():
    inputs, outputs = graph()
    f = pytensor.function(inputs, outputs, mode=lp.LowMemMode(backend="vm"))
    assert f.maker.linker.plan_cache is False
    f(*values())
    assert lp.plan(f).source == "recorded" and lp.plan(f).cache_key is None


def test_key_is_pytensors_and_stable():
    inputs, outputs = graph()
    f = pytensor.function(inputs, outputs, mode=lp.LowMemMode(backend="vm"))
    fgraph = f.maker.fgraph
    nodes = fgraph.toposort()
    key = _cache.function_key(fgraph, nodes)
    assert key is not None and len(key) == 64
    assert _cache.function_key(fgraph, list(nodes)) == key
    assert _cache.function_key(fgraph, nodes[::-1]) != key
    g = pytensor.function(*graph(), mode=lp.LowMemMode(backend="vm"))
    assert _cache.function_key(g.maker.fgraph, g.maker.fgraph.toposort()) == key
    assert _cache.default_directory() == os.path.join(pytensor.config.compiledir,
                                                      "lowmem-plans")


SCRIPT = """
import json, sys, warnings
sys.path[:0] = [{root!r}, {here!r}]
import numpy as np, pytensor
import lowmem.pytensor as lp
from test_plan_cache import compile_cached, values
f = compile_cached({directory!r}, "numba")
f(*values())
plan = lp.plan(f)
print(json.dumps(dict(source=plan.source, key=plan.cache_key,
                      order=[int(i) for i in plan.order_ids], peak=int(plan.peak),
                      record=plan.record_seconds)))
"""


def test_hit_in_another_process(tmp_path):
    script = SCRIPT.format(root=ROOT, here=HERE, directory=str(tmp_path / "plans"))
    runs = []
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=600, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    first, second = runs
    assert first["source"] == "recorded" and second["source"] == "cache"
    assert first["key"] == second["key"]
    assert first["order"] == second["order"] and first["peak"] == second["peak"]
    assert second["record"] == 0
