"""The plan cache (lowmem.theano._cache): the function key, the files, their
atomicity under concurrent stores, and what happens to bad files."""

import functools
import json
import multiprocessing
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

import lowmem
import lowmem.theano  # noqa: F401  (sets Theano's flags before its import)
import theano
import theano.tensor as T
from lowmem.theano import _cache
from lowmem.theano._cache import (CACHE_FORMAT, MAX_VARIANTS, PlanCache, PlanCacheWarning,
                                  default_directory, function_key, input_signature)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))
KEY = "0123456789abcdef" * 4


# ------------------------------------------------------------------ graphs
def build(c=2.0, axis=1, dtype="float64", extra=False):
    """A small compiled function (FAST_RUN): exp(x * c) summed over `axis`
    (fused into a Composite holding the constant), and tanh(x) if `extra`."""
    x = T.matrix("x", dtype=dtype)
    outputs = [T.exp(x * np.asarray(c, dtype=dtype)).sum(axis=axis) + x.mean()]
    if extra:
        outputs.append(T.tanh(x))
    return theano.function([x], outputs, mode="FAST_RUN")


def key_of(f):
    fgraph = f.maker.fgraph
    return function_key(fgraph, fgraph.toposort())


def test_key_equal_for_identical_graphs():
    f, g = build(), build()
    assert f.maker.fgraph is not g.maker.fgraph
    k = key_of(f)
    assert isinstance(k, str) and len(k) == 64 and int(k, 16) >= 0
    assert key_of(g) == k
    f(np.ones((2, 3)))                 # thunks made and run: the key stays
    assert key_of(f) == k


def test_key_changes_with_the_graph():
    keys = {
        "base": key_of(build()),
        "constant": key_of(build(c=3.0)),
        "axis": key_of(build(axis=0)),
        "dtype": key_of(build(dtype="float32")),
        "extra node": key_of(build(extra=True)),
    }
    assert None not in keys.values()
    assert len(set(keys.values())) == len(keys), keys


def test_key_changes_with_the_node_numbering():
    x = T.matrix("x")
    fgraph = theano.gof.FunctionGraph([x], [T.exp(x), T.tanh(x)])
    nodes = fgraph.toposort()
    assert len(nodes) == 2               # independent: both orders are valid
    assert function_key(fgraph, nodes) != function_key(fgraph, nodes[::-1])
    assert function_key(fgraph, nodes) == function_key(fgraph, list(nodes))


KEY_SCRIPT = """
import sys
sys.path[:0] = [{root!r}, {here!r}]
import test_plan_cache as t
print(t.key_of(t.build()))
"""


def test_key_equal_across_processes():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, HERE, env.get("PYTHONPATH", "")])
    r = subprocess.run([sys.executable, "-c", KEY_SCRIPT.format(root=ROOT, here=HERE)],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-1] == key_of(build())


def scan_function(k):
    x = T.vector("x")
    ys, _ = theano.scan(lambda a, prev: prev * k + a, sequences=[x],
                        outputs_info=[T.zeros_like(x[0])])
    return theano.function([x], ys[-1], mode="FAST_RUN")


def test_key_of_scan_describes_the_inner_graph():
    a, b, c = scan_function(2.0), scan_function(2.0), scan_function(3.0)
    assert key_of(a) is not None
    assert key_of(a) == key_of(b) != key_of(c)


def _double(a):
    return 2 * a


def _triple(a):
    return 3 * a


class FunctionOp(theano.Op):
    """An op whose parameter (in __props__) is a function."""
    __props__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return theano.Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = self.fn(inputs[0])


class StateOp(theano.Op):
    """An op without __props__: described by its __dict__."""

    def __init__(self, state):
        self.state = state

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return theano.Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0].copy()


def op_key(op):
    x = T.matrix("x")
    fgraph = theano.gof.FunctionGraph([x], [T.exp(op(x))])
    return function_key(fgraph, fgraph.toposort())


def test_key_of_ops_with_and_without_props():
    # Module-level functions are named by their import path; a lambda, a
    # local function, a ufunc or a partial has no stable description.
    assert None not in (op_key(FunctionOp(_double)), op_key(FunctionOp(_triple)))
    assert op_key(FunctionOp(_double)) == op_key(FunctionOp(_double))
    assert op_key(FunctionOp(_double)) != op_key(FunctionOp(_triple))

    def local(a):
        return a
    for fn in (lambda a: a, local, np.negative, functools.partial(_double)):
        assert op_key(FunctionOp(fn)) is None, fn

    # No __props__: the instance's __dict__, with the same rules.
    assert None not in (op_key(StateOp(3)), op_key(StateOp((1, "a", None))))
    assert op_key(StateOp(3)) == op_key(StateOp(3)) != op_key(StateOp(4))
    assert op_key(StateOp({"b": 1, "a": 2})) == op_key(StateOp({"a": 2, "b": 1}))
    assert op_key(StateOp(np.arange(3))) != op_key(StateOp(np.arange(1, 4)))
    for state in (object(), lambda: 0, functools.partial(_double, 1), StateOp(1).perform):
        assert op_key(StateOp(state)) is None, state
    cyclic = StateOp(None)
    cyclic.state = cyclic
    assert op_key(cyclic) is None


def test_input_signature():
    values = [np.zeros((2, 3), dtype="float32"), np.float64(1.5), 2.0, 3, None,
              np.zeros((), dtype=">i4")]
    sig = input_signature(values)
    assert sig == [[[2, 3], "<f4"], ["float64", "<f8"], ["float"], ["int"], None,
                   [[], ">i4"]]
    assert json.loads(json.dumps(sig)) == sig
    hash(tuple(json.dumps(s) for s in sig))
    assert input_signature([np.zeros((2, 4))]) != input_signature([np.zeros((2, 3))])


def test_default_directory():
    d = default_directory()
    assert d == os.path.join(theano.config.compiledir, "lowmem-plans")


# ------------------------------------------------------------------ files
def entry(name="f", signature=(), peak=100, **more):
    return dict(signature=list(signature), name=name, nodes=7, peak=peak, optimal=True, **more)


def load_counting(cache, key):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        variants = cache.load(key)
    return variants, [str(x.message) for x in w]


def test_round_trip(tmp_path):
    cache = PlanCache(str(tmp_path / "plans"))
    assert cache.load(KEY) == []
    assert not (tmp_path / "plans").exists()          # created on the first store only
    t = time.time()
    cache.store(KEY, entry(order=[3, 1, 2], sizes={"a": 1}))
    (v,), warned = load_counting(cache, KEY)
    assert warned == []
    assert v["order"] == [3, 1, 2] and v["sizes"] == {"a": 1} and v["name"] == "f"
    assert t <= v["created"] <= time.time()
    path = tmp_path / "plans" / (KEY + ".json")
    content = json.loads(path.read_text("utf-8"))
    assert content["format"] == CACHE_FORMAT and content["lowmem"] == lowmem.__version__
    assert content["key"] == KEY
    assert [p.name for p in (tmp_path / "plans").iterdir() if not p.name.startswith(".")] \
        == [KEY + ".json"]                             # no temporary file left


def test_variants_by_signature(tmp_path):
    cache = PlanCache(str(tmp_path))
    a, b = input_signature([np.zeros((2, 3))]), input_signature([np.zeros((4, 3))])
    cache.store(KEY, entry(signature=a, peak=1))
    cache.store(KEY, entry(signature=b, peak=2))
    cache.store(KEY, entry(signature=tuple(a), peak=3))     # equal signature: replaces
    variants = cache.load(KEY)
    assert [(v["signature"], v["peak"]) for v in variants] == [(b, 2), (a, 3)]
    cache.store("f" * 64, entry(signature=a, peak=4))      # another key: another file
    assert [v["peak"] for v in cache.load(KEY)] == [2, 3]
    assert [v["peak"] for v in cache.load("f" * 64)] == [4]


def test_variant_cap(tmp_path):
    cache = PlanCache(str(tmp_path))
    for i in range(MAX_VARIANTS + 3):
        cache.store(KEY, entry(signature=[[[i], "<f8"]], peak=i))
    assert MAX_VARIANTS == 8
    assert [v["peak"] for v in cache.load(KEY)] == list(range(3, MAX_VARIANTS + 3))


def test_bad_keys_and_entries(tmp_path):
    cache = PlanCache(str(tmp_path))
    for key in ("", "../" + KEY[3:], KEY.upper(), KEY + "0", 5):
        with pytest.raises(ValueError):
            cache.load(key)
    with pytest.raises(ValueError, match="fields"):
        cache.store(KEY, {"name": "f"})
    with pytest.raises(ValueError, match="fields"):
        cache.store(KEY, entry(peak=True))
    with pytest.raises(ValueError, match="JSON"):
        cache.store(KEY, entry(order=np.arange(3)))
    with pytest.raises(ValueError, match="JSON"):
        cache.store(KEY, entry(ratio=float("nan")))
    assert not list(tmp_path.glob("*.json"))


def _rewrite(path, change):
    content = json.loads(path.read_text("utf-8"))
    change(content)
    path.write_text(json.dumps(content), "utf-8")


@pytest.mark.parametrize("damage, why", [
    (lambda p: p.write_bytes(b"\x00\xffnot json"), "not valid JSON"),
    (lambda p: p.write_bytes(p.read_bytes()[:len(p.read_bytes()) // 2]), "not valid JSON"),
    (lambda p: p.write_text("[1, 2]"), "not a plan file"),
    (lambda p: _rewrite(p, lambda c: c.update(format=CACHE_FORMAT + 1)), "cache format"),
    (lambda p: _rewrite(p, lambda c: c.update(lowmem="0.0.1")), "lowmem '0.0.1'"),
    (lambda p: _rewrite(p, lambda c: c["variants"][0].pop("peak")), "malformed"),
    (lambda p: _rewrite(p, lambda c: c.update(key="e" * 64)), "another key"),
], ids=["corrupt", "truncated", "not-a-plan", "format", "version", "malformed", "key"])
def test_bad_file_warns_once_and_is_removed(tmp_path, damage, why):
    cache = PlanCache(str(tmp_path))
    cache.store(KEY, entry())
    path = tmp_path / (KEY + ".json")
    damage(path)
    variants, warned = load_counting(cache, KEY)
    assert variants == []
    assert len(warned) == 1 and "\n" not in warned[0]
    assert str(path) in warned[0] and why in warned[0] and "removed it" in warned[0]
    assert not path.exists()
    assert load_counting(cache, KEY) == ([], [])       # gone: a plain miss now
    cache.store(KEY, entry(peak=5))                    # and storable again
    assert [v["peak"] for v in cache.load(KEY)] == [5]


def test_store_over_a_bad_file(tmp_path):
    cache = PlanCache(str(tmp_path))
    (tmp_path / (KEY + ".json")).write_text("{")
    with pytest.warns(PlanCacheWarning, match="replacing it"):
        cache.store(KEY, entry(peak=9))
    assert [v["peak"] for v in cache.load(KEY)] == [9]


def store_counting(cache, key, e):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        cache.store(key, e)
    return [str(x.message) for x in w]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="permissions do not bite for root")
def test_unwritable_directory(tmp_path):
    directory = tmp_path / "ro"
    directory.mkdir()
    directory.chmod(0o555)
    try:
        cache = PlanCache(str(directory))
        warned = store_counting(cache, KEY, entry())
        assert len(warned) == 1 and "cannot store" in warned[0] and "\n" not in warned[0]
        assert cache.load(KEY) == []
        warned = store_counting(PlanCache(str(directory / "sub")), KEY, entry())
        assert len(warned) == 1 and "cannot store" in warned[0]
    finally:
        directory.chmod(0o755)


@pytest.mark.parametrize("failing", ["open", "replace"])
def test_write_errors_warn_once(tmp_path, monkeypatch, failing):
    """A directory refusing new files, or a disk full at the rename (as
    root, where test_unwritable_directory is skipped): one warning, the old
    file intact, no temporary file left."""
    import errno
    cache = PlanCache(str(tmp_path))
    cache.store(KEY, entry(peak=1))
    real = getattr(os, failing)

    def refuse(path, *args, **kwargs):
        if str(path).endswith(".tmp"):
            code = errno.EACCES if failing == "open" else errno.ENOSPC
            raise OSError(code, os.strerror(code), path)
        return real(path, *args, **kwargs)
    monkeypatch.setattr(_cache.os, failing, refuse)
    warned = store_counting(cache, KEY, entry(signature=[[[5], "<f8"]], peak=2))
    monkeypatch.undo()
    assert len(warned) == 1 and "cannot store" in warned[0] and "\n" not in warned[0]
    assert os.strerror(errno.EACCES if failing == "open" else errno.ENOSPC) in warned[0]
    assert [v["peak"] for v in cache.load(KEY)] == [1]
    assert sorted(os.listdir(tmp_path)) == [".lock", KEY + ".json"]


def test_directory_that_is_a_file(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("x")
    cache = PlanCache(str(afile))
    warned = store_counting(cache, KEY, entry())
    assert len(warned) == 1 and "cannot store" in warned[0] and "\n" not in warned[0]
    assert load_counting(cache, KEY) == ([], [])
    assert afile.read_text() == "x"


# ------------------------------------------------------------ concurrency
ROUNDS, WORKERS = 60, 4


def concurrent_entry(worker, i):
    base = worker * 1000 + i
    return dict(signature=[[[worker], "<f8"]], name=f"w{worker}", nodes=300, peak=base,
                optimal=bool(i % 2), order=list(range(base, base + 300)),
                sizes={str(n): n * worker for n in range(50)})


def store_many(directory, worker, locked):
    if not locked:
        _cache.fcntl = None                  # this process only
    cache = PlanCache(directory)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for i in range(ROUNDS):
            cache.store(KEY, concurrent_entry(worker, i))
    return [str(x.message) for x in w]


def load_many(directory):
    """Load while the others store: every load must be clean and complete."""
    cache = PlanCache(directory)
    problems, loads = [], 0
    deadline = time.time() + 20
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        while time.time() < deadline and loads < 300:
            for v in cache.load(KEY):
                worker = v["signature"][0][0][0]
                expected = concurrent_entry(worker, v["peak"] - worker * 1000)
                if {k: x for k, x in v.items() if k != "created"} != expected:
                    problems.append(v["name"])
            loads += 1
    return problems + [str(x.message) for x in w]


def check_concurrent_file(directory, locked):
    variants, warned = load_counting(PlanCache(directory), KEY)
    assert warned == []
    assert variants
    workers = [v["signature"][0][0][0] for v in variants]
    assert len(workers) == len(set(workers))          # one variant per signature
    for v in variants:
        worker = v["signature"][0][0][0]
        i = v["peak"] - worker * 1000
        assert 0 <= i < ROUNDS
        assert {k: x for k, x in v.items() if k != "created"} == concurrent_entry(worker, i)
    if locked:   # nothing lost: every worker's last store is there
        assert sorted(workers) == list(range(WORKERS))
        assert all(v["peak"] % 1000 == ROUNDS - 1 for v in variants)
    leftovers = [n for n in os.listdir(directory) if n.endswith(".tmp")]
    assert leftovers == []


@pytest.mark.parametrize("locked", [True, False], ids=["locked", "unlocked"])
def test_concurrent_stores(tmp_path, locked):
    directory = str(tmp_path)
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(WORKERS + 1) as pool:
        reader = pool.apply_async(load_many, (directory,))
        writers = [pool.apply_async(store_many, (directory, w, locked))
                   for w in range(WORKERS)]
        for r in writers:
            assert r.get(timeout=120) == []
        assert reader.get(timeout=120) == []
    check_concurrent_file(directory, locked)


# ----------------------------------------------------- listing and clearing
def age(path, seconds):
    """Make every variant of a plan file `seconds` older."""
    _rewrite(path, lambda c: [v.update(created=v["created"] - seconds) for v in c["variants"]])


def test_entries(tmp_path):
    cache = PlanCache(str(tmp_path / "none"))
    assert cache.entries() == []
    cache = PlanCache(str(tmp_path))
    assert cache.entries() == []
    cache.store("a" * 64, entry(name="train", signature=[[[1], "<f8"]], peak=10))
    cache.store("a" * 64, entry(name="train", signature=[[[2], "<f8"]], peak=20))
    cache.store("b" * 64, dict(entry(name="predict", peak=30), optimal=False, nodes=3))
    (tmp_path / ("c" * 64 + ".json")).write_text("{oops")
    (tmp_path / ("d" * 64 + ".json")).write_text(
        json.dumps({"format": CACHE_FORMAT, "lowmem": "0.0.1", "key": "d" * 64,
                    "variants": []}))
    (tmp_path / "README").write_text("not a plan")
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # listing never warns
        records = cache.entries()
    size = {k: os.path.getsize(tmp_path / (k * 64 + ".json")) for k in "abcd"}
    assert [(r["key"], r["name"], r["nodes"], r["peak"], r["optimal"], r["bytes"])
            for r in records] == [
        ("a" * 64, "train", 7, 10, True, size["a"]),
        ("a" * 64, "train", 7, 20, True, size["a"]),
        ("b" * 64, "predict", 3, 30, False, size["b"]),
        ("c" * 64, "<unreadable>", None, None, None, size["c"]),
        ("d" * 64, "<stale>", None, None, None, size["d"]),
    ]
    assert all(set(r) == {"key", "name", "nodes", "peak", "optimal", "created", "bytes",
                          "path"} for r in records)
    assert records[0]["path"] == str(tmp_path / ("a" * 64 + ".json"))
    assert all(abs(r["created"] - time.time()) < 60 for r in records)
    assert (tmp_path / ("c" * 64 + ".json")).exists()   # listing removes nothing


def test_clear(tmp_path):
    cache = PlanCache(str(tmp_path))
    assert PlanCache(str(tmp_path / "none")).clear() == 0
    day = 86400
    cache.store("a" * 64, entry(signature=[[[1], "<f8"]]))
    age(tmp_path / ("a" * 64 + ".json"), 10 * day)
    cache.store("a" * 64, entry(signature=[[[2], "<f8"]]))     # newest variant is new
    cache.store("b" * 64, entry())
    age(tmp_path / ("b" * 64 + ".json"), 10 * day)
    cache.store("e" * 64, entry())
    age(tmp_path / ("e" * 64 + ".json"), 3 * day)
    bad = tmp_path / ("c" * 64 + ".json")
    bad.write_text("{oops")
    os.utime(bad, (time.time() - 20 * day,) * 2)
    (tmp_path / "README").write_text("not a plan")
    old_temp = tmp_path / ("a" * 64 + ".json.123.abcd.tmp")
    old_temp.write_text("{")
    os.utime(old_temp, (time.time() - 2 * 3600,) * 2)
    new_temp = tmp_path / ("a" * 64 + ".json.124.abcd.tmp")
    new_temp.write_text("{")

    assert cache.clear(older_than=30 * day) == 0
    assert cache.clear(older_than=5 * day) == 2               # b and the bad file
    assert sorted(r["key"][0] for r in cache.entries()) == ["a", "a", "e"]
    assert not old_temp.exists() and new_temp.exists()        # leftovers over an hour
    assert cache.clear(older_than=0) == 2
    assert cache.entries() == []
    assert (tmp_path / "README").exists()
    for bad_age in (-1, float("nan"), "1", True):
        with pytest.raises(ValueError):
            cache.clear(older_than=bad_age)
    cache.store(KEY, entry())
    assert cache.clear() == 1 and cache.load(KEY) == []
