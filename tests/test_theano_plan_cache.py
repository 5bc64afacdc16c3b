"""LowMemMode with the plan cache: a second compile of a function, in this
process or another, runs the stored plan at once (no recording call, no
search), with the same results, order and measured peak; entries that do
not fit are refused with a warning and replaced; unproven orders are
searched further."""

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import lowmem.theano as lt
import theano

from lowmem import _scheduler as scheduler
from lowmem.theano import _cache, _linker
from lowmem.theano._measure import measure_call
from test_theano_equal import assert_same, mlp_train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEASURE_TOLERANCE = 0.05        # as tests/test_theano_measure.py


def build(cache_dir, **options):
    (x, y), (loss, _), updates, params = mlp_train(n_in=64, n_hidden=128, n_out=10)
    f = theano.function([x, y], loss, updates=updates,
                        mode=lt.LowMemMode(cache_dir=str(cache_dir), name="mlp", **options))
    return f, params


def data(batch=32, seed=0):
    rng = np.random.RandomState(seed)
    return rng.randn(batch, 64), rng.randint(0, 10, batch).astype("int32")


def entry_files(directory):
    return sorted(p for p in os.listdir(directory) if p.endswith(".json"))


def no_recording(monkeypatch):
    def refuse(self):
        raise AssertionError("recorded although a cached plan fits")
    monkeypatch.setattr(_linker.LowMemVM, "_record", refuse)


def no_search(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("searched although a proven plan is cached")
    monkeypatch.setattr(scheduler, "schedule", refuse)


def test_a_second_compile_runs_the_stored_plan(tmp_path, monkeypatch):
    first, p1 = build(tmp_path)
    args = data()
    r1 = first(*args)
    assert first.fn.plan.source == "recorded"
    assert len(entry_files(tmp_path)) == 1
    with monkeypatch.context() as m:
        no_recording(m)
        if first.fn.plan.schedule.optimal:
            no_search(m)
        second, p2 = build(tmp_path)
        for a, b in zip(p1, p2):            # from the same weights
            b.set_value(a.get_value())
        second(*args)
    plan1, plan2 = first.fn.plan, second.fn.plan
    assert plan2.source == "cache" and plan2.record_seconds == 0.0
    assert plan2.cache_key == plan1.cache_key
    assert [str(n.op) for n in plan2.nodes] == [str(n.op) for n in plan1.nodes]
    assert plan2.schedule.peak == plan1.schedule.peak
    assert plan2.schedule.lower_bound == plan1.schedule.lower_bound
    assert plan2.translation.graph.var_size.tolist() == plan1.translation.graph.var_size.tolist()
    # the same computation, bit for bit, and the same peak measured as modelled
    assert np.isfinite(r1)
    args2 = data(seed=1)
    for a, b in zip(p1, p2):
        b.set_value(a.get_value())
    assert_same(first(*args2), second(*args2))
    m = measure_call(second, *args)
    assert m.peak == pytest.approx(plan2.call_peak, rel=MEASURE_TOLERANCE)


def test_cached_plan_gives_the_default_modes_results(tmp_path):
    """Default mode against a LowMemMode function planned from the cache,
    over several calls with updates."""
    warm, _ = build(tmp_path)
    warm(*data())
    (x, y), (loss, _), updates, params_d = mlp_train(n_in=64, n_hidden=128, n_out=10)
    fd = theano.function([x, y], loss, updates=updates)
    fl, params_l = build(tmp_path)
    for a, b in zip(params_d, params_l):
        b.set_value(a.get_value())
    for seed in range(3):
        assert_same(fl(*data(seed=seed)), fd(*data(seed=seed)))
    assert fl.fn.plan.source == "cache"
    for a, b in zip(params_d, params_l):
        assert_same(a.get_value(), b.get_value())


def test_other_input_shapes_are_planned_and_stored_as_another_variant(tmp_path):
    f, _ = build(tmp_path)
    f(*data(batch=32))
    g, _ = build(tmp_path)
    g(*data(batch=7))
    assert g.fn.plan.source == "recorded"
    (name,) = entry_files(tmp_path)
    variants = _cache.PlanCache(str(tmp_path)).load(name[:-len(".json")])
    assert len(variants) == 2
    h, _ = build(tmp_path)
    h(*data(batch=7))
    assert h.fn.plan.source == "cache"


def test_plan_cache_off_writes_nothing(tmp_path):
    f, _ = build(tmp_path, plan_cache=False)
    f(*data())
    assert f.fn.cache is None and not os.path.exists(tmp_path / "x")
    assert entry_files(tmp_path) == []


def test_the_default_directory_is_used_without_cache_dir(tmp_path):
    # tests/conftest.py points the default directory into tmp_path
    (x, y), (loss, _), updates, _ = mlp_train()
    f = theano.function([x, y], loss, updates=updates, mode=lt.LowMemMode())
    rng = np.random.RandomState(0)
    f(rng.randn(8, 12), rng.randint(0, 5, 8).astype("int32"))
    assert len(entry_files(tmp_path / "lowmem-plans")) == 1


def _rewrite(directory, change):
    (name,) = entry_files(directory)
    path = os.path.join(directory, name)
    with open(path) as fh:
        doc = json.load(fh)
    change(doc)
    with open(path, "w") as fh:
        json.dump(doc, fh)


def _variants(doc):
    """The variant list of an entry file (whatever key _cache uses for it)."""
    lists = [v for v in doc.values() if isinstance(v, list) and v and isinstance(v[0], dict)
             and "signature" in v[0]]
    assert len(lists) == 1, doc.keys()
    return lists[0]


def test_an_entry_that_does_not_fit_is_refused_and_replaced(tmp_path):
    f, _ = build(tmp_path)
    f(*data())
    true_peak = f.fn.plan.schedule.peak

    def lie(doc):
        _variants(doc)[0]["peak"] += 1000
    _rewrite(tmp_path, lie)
    with pytest.warns(_cache.PlanCacheWarning, match="does not fit") as caught:
        g, _ = build(tmp_path)      # found at compile time
        g(*data())
    assert len([w for w in caught if issubclass(w.category, _cache.PlanCacheWarning)]) == 1
    assert g.fn.plan.source == "recorded" and g.fn.plan.schedule.peak == true_peak
    h, _ = build(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", _cache.PlanCacheWarning)
        h(*data())
    assert h.fn.plan.source == "cache"


def test_an_order_that_is_not_an_order_is_refused(tmp_path):
    f, _ = build(tmp_path)
    f(*data())

    def swap(doc):
        order = _variants(doc)[0]["order"]
        order[0], order[-1] = order[-1], order[0]
    _rewrite(tmp_path, swap)
    with pytest.warns(_cache.PlanCacheWarning, match="does not fit"):
        g, _ = build(tmp_path)
        r = g(*data())
    assert np.isfinite(r) and g.fn.plan.source == "recorded"


def test_an_unproven_timed_out_order_is_searched_further(tmp_path, monkeypatch):
    f, _ = build(tmp_path)
    f(*data())

    def unproven(doc):
        v = _variants(doc)[0]
        v["optimal"], v["stats"]["timed_out"], v["search_seconds"] = False, True, 0.5
    _rewrite(tmp_path, unproven)
    calls = []
    real = scheduler.schedule

    def spy(graph, **kwargs):
        calls.append(kwargs)
        return real(graph, **kwargs)
    monkeypatch.setattr(scheduler, "schedule", spy)
    g, _ = build(tmp_path)
    g(*data())
    assert g.fn.plan.source == "cache"
    assert len(calls) == 1 and calls[0]["start_order"] is not None
    assert g.fn.plan.schedule.peak <= f.fn.plan.schedule.peak
    (name,) = entry_files(tmp_path)
    (variant,) = _cache.PlanCache(str(tmp_path)).load(name[:-len(".json")])
    assert variant["search_seconds"] > 0.5
    assert variant["optimal"] == g.fn.plan.schedule.optimal


def test_another_process_loads_the_plan(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{ROOT!r}, {os.path.join(ROOT, 'tests')!r}]
        import lowmem.theano as lt
        from test_theano_plan_cache import build, data
        f, _ = build({str(tmp_path)!r})
        f(*data())
        print(f.fn.plan.source, f.fn.plan.schedule.peak)
    """)
    env = dict(os.environ)
    first = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stdout.split()[0] == "recorded"
    f, _ = build(tmp_path)
    f(*data())
    assert f.fn.plan.source == "cache"
    assert str(f.fn.plan.schedule.peak) == first.stdout.split()[1]


@pytest.mark.parametrize("value, error", [(3, TypeError), ("", ValueError),
                                          (1.5, TypeError)])
def test_bad_cache_dir_is_refused(value, error):
    with pytest.raises(error, match="cache_dir"):
        lt.LowMemMode(cache_dir=value)


def test_plan_cache_must_be_a_bool():
    with pytest.raises(TypeError, match="plan_cache"):
        lt.LowMemMode(plan_cache=1)


def test_calls_from_the_cache_peak_as_modelled(tmp_path):
    """The first call also builds the plan's Python objects (the lowmem
    graph, the storage plan, the compiled loop), which tracemalloc counts:
    tens of KiB here. The calls after it measure what the model says."""
    warm, _ = build(tmp_path)
    warm(*data(batch=256))
    f, _ = build(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # no "first call records" warning either
        first = measure_call(f, *data(batch=256))
    assert f.fn.plan.source == "cache"
    model = f.fn.plan.call_peak
    assert model <= first.peak <= model + 256 * 1024
    second = measure_call(f, *data(batch=256))
    # 0.2%, or the 4 KiB of Python objects a call makes (benchmarks/run_theano.py)
    assert abs(second.peak - model) <= max(0.002 * model, 4096)


def test_the_report_says_where_the_plan_came_from(tmp_path):
    f, _ = build(tmp_path)
    f(*data())
    assert "stored in the plan cache" in str(lt.report(f))
    g, _ = build(tmp_path)
    g(*data())
    text = str(lt.report(g))
    assert "loaded from the plan cache" in text and g.fn.cache_key[:12] in text


def test_the_plan_is_prepared_at_compile_time_and_checked_on_the_first_call(tmp_path):
    warm, _ = build(tmp_path)
    warm(*data(batch=32))
    f, _ = build(tmp_path)
    assert f.fn.plan is not None and f.fn.plan.source == "cache"    # before any call
    assert not f.fn.recorded
    f(*data(batch=32))
    assert f.fn.recorded and f.fn.plan.source == "cache"
    # prepared for batch 32, called with batch 5: recorded and planned afresh
    g, params_g = build(tmp_path)
    assert g.fn.plan.source == "cache"
    (x, y), (loss, _), updates, params_d = mlp_train(n_in=64, n_hidden=128, n_out=10)
    fd = theano.function([x, y], loss, updates=updates)
    for a, b in zip(params_g, params_d):
        b.set_value(a.get_value())
    assert_same(g(*data(batch=5)), fd(*data(batch=5)))
    assert g.fn.plan.source == "recorded"
    assert g.fn.plan.translation.graph.var_size.sum() < warm.fn.plan.translation.graph.var_size.sum()
    assert_same(g(*data(batch=5, seed=2)), fd(*data(batch=5, seed=2)))


def test_what_sharing_learned_is_stored_and_used_by_the_next_compile(tmp_path):
    f, _ = build(tmp_path)
    f(*data())                  # records and plans: no op verified yet
    untried_at_first = f.fn.plan.storage.untried
    f(*data())                  # hand-offs checked: ops seen writing into arrays
    assert f.fn.seen_taking
    g, _ = build(tmp_path)
    assert g.fn.plan.source == "cache"
    learned = {_cache_key_of(v) for v in g.fn._verified}
    assert {_cache_key_of(v) for v in f.fn._verified} <= learned
    # the plan prepared at compile time already gives those ops their hand-offs
    assert g.fn.plan.storage.untried <= f.fn.plan.storage.untried <= untried_at_first
    g(*data())
    assert g.fn.plan.storage.taken == g.fn.plan.storage.handed > 0


def _cache_key_of(op_key):
    op, pos = op_key
    return str(op), pos


def test_loading_and_storing_allocate_little(tmp_path):
    import tracemalloc
    f, _ = build(tmp_path)
    f(*data())
    (name,) = entry_files(tmp_path)
    cache = _cache.PlanCache(str(tmp_path))
    tracemalloc.start()
    try:
        (entry,) = cache.load(name[:-len(".json")])
        cache.store(name[:-len(".json")], entry)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    size = os.path.getsize(os.path.join(tmp_path, name))
    assert peak < 50 * size + 256 * 1024
