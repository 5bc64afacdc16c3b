"""Tests of lowmem.theano._allocations: counting NumPy data allocations via NEP 49."""

import contextvars
import gc
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import tracemalloc

import numpy as np
import pytest

from lowmem.theano import _numpy_alloc
from lowmem.theano._allocations import COUNT_FIELDS, AllocationCounter, count_allocations

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def handler_name():
    return np.core.multiarray.get_handler_name()


@pytest.fixture(autouse=True)
def handler_restored():
    """Every test must leave NumPy's handler as it found it."""
    before = _numpy_alloc.get_handler()
    yield
    assert _numpy_alloc.get_handler() is before


# --- exact counts --------------------------------------------------------

def test_one_empty_is_one_allocation_of_8000_bytes():
    with AllocationCounter() as c:
        a = np.empty(1000)
    assert c.allocations == 1
    assert c.bytes_allocated == 8000
    assert c.frees == 0 and c.reallocs == 0
    assert c.current == c.peak == 8000
    assert c.untracked == 0 and c.failures == 0
    del a


def test_array_plus_array_is_two_allocations():
    # np.zeros (calloc) and a 0-d array operand: no Python scalar is converted
    # inside the block (np.ones converts its fill value 1, see below).
    one = np.ones(())
    with AllocationCounter() as c:
        b = np.zeros((100, 100)) + one
    assert c.allocations == 2
    assert c.bytes_allocated == 2 * 80000
    assert c.frees == 1               # the np.zeros temporary
    assert c.current == 80000         # only b is left
    assert c.peak == 2 * 80000
    del b


def test_ones_plus_python_scalar_two_large_allocations():
    # Two 80000-byte arrays, and NumPy 1.23 also converts the Python scalars
    # (1 in np.ones' copyto, 1 in "+ 1") to 0-d arrays whose 8-byte data goes
    # through the handler: 5 allocations in all with 1.23.5.
    with AllocationCounter() as c:
        b = np.ones((100, 100)) + 1
    small = c.allocations - 2
    assert small >= 0
    assert c.bytes_allocated == 2 * 80000 + 8 * small
    assert c.frees == c.allocations - 1
    assert c.current == 80000
    assert 2 * 80000 <= c.peak <= 2 * 80000 + 8 * small
    del b


def test_frees_balance():
    with AllocationCounter() as c:
        for n in (1, 10, 1000, 10 ** 5):
            a = np.ones(n) * 2 + np.arange(n)
            del a
    assert c.allocations > 0
    assert c.frees == c.allocations
    assert c.bytes_freed == c.bytes_allocated
    assert c.current == 0


def test_temporary_peak_and_current():
    with AllocationCounter() as c:
        a = np.ones(10 ** 6)
        assert c.current == 8 * 10 ** 6
        del a
        assert c.current == 0
    assert c.peak >= 8e6
    assert c.current == 0


def test_reset_peak_inside_block():
    with AllocationCounter() as c:
        a = np.empty(10 ** 5)
        del a
        assert c.peak == 8 * 10 ** 5
        c.reset_peak()
        assert c.peak == c.current == 0
        b = np.empty(10)
        assert c.peak == 80
    with pytest.raises(RuntimeError):
        c.reset_peak()
    del b


def test_in_place_ops_allocate_nothing():
    a = np.ones(1000)
    b = np.ones(1000)
    with AllocationCounter() as c:
        a += b
        a *= b
        np.add(a, b, out=a)
    assert c.allocations == 0 and c.bytes_allocated == 0 and c.peak == 0


def test_in_place_with_python_scalar_allocates_only_scalar_temporaries():
    a = np.ones(1000)
    with AllocationCounter() as c:
        a += 1
    assert c.bytes_allocated == 8 * c.allocations     # 0-d temporaries only
    assert c.frees == c.allocations and c.current == 0
    assert c.peak <= 16


def test_realloc_tracked():
    with AllocationCounter() as c:
        a = np.zeros(10)
        a.resize(1000, refcheck=False)
        assert c.current == 8000
        it = np.fromiter(iter(range(5000)), float)
    assert c.reallocs >= 2
    assert c.allocations == 2
    assert c.current == a.nbytes + it.nbytes
    assert c.untracked == 0
    del a, it


def test_zero_size_object_and_pickle():
    data = pickle.dumps(np.arange(100.0))
    with AllocationCounter() as c:
        z = np.empty(0)                 # NumPy allocates 1 byte
        o = np.empty(10, dtype=object)  # calloc
        p = pickle.loads(data)
    assert c.current == 1 + 80 + 800
    assert c.untracked == 0
    del z, o, p
    assert c.current == 1 + 80 + 800    # frozen at exit


def test_views_do_not_count():
    a = np.arange(100.0)
    with AllocationCounter() as c:
        v = a[::2]
        w = a.reshape(10, 10).T
    assert c.allocations == 0
    del v, w


def test_random_alloc_free_sequence_tracks_live_bytes():
    # Exercises the size table (growth, deletion with collisions).
    rng = np.random.default_rng(1)
    live = {}
    with AllocationCounter() as c:
        for step in range(30000):
            if live and rng.random() < 0.45:
                live.pop(int(rng.choice(list(live)) if len(live) < 64
                             else next(iter(live))))
            else:
                live[step] = np.empty(int(rng.integers(0, 300)), dtype=np.uint8)
            if step % 997 == 0:
                expected = sum(max(a.nbytes, 1) for a in live.values())
                assert c.current == expected
                assert c._counter.tracked_blocks == len(live)
        assert c.current == sum(max(a.nbytes, 1) for a in live.values())
        live.clear()
        assert c.current == 0 and c._counter.tracked_blocks == 0
    assert c.frees == c.allocations and c.untracked == 0


# --- arrays crossing the block boundary ----------------------------------

def test_arrays_from_before_freed_inside_do_not_go_negative():
    a = np.ones(10 ** 6)
    bs = [np.empty(1000) for _ in range(100)]
    with AllocationCounter() as c:
        del a
        del bs[:]
        x = np.empty(10)
        assert c.current == 80
        del x
    assert c.current == 0 and c.frees == 1
    assert c.bytes_freed == 80
    assert c.untracked == 0


def test_arrays_from_inside_freed_after_exit():
    class Cycle:
        pass

    with AllocationCounter() as c:
        keep = [np.full(n, 1.5) for n in range(1, 200)]
        cyc = Cycle()
        cyc.self = cyc
        cyc.arr = np.ones(10 ** 5)
    capsule = c._counter.capsule
    live = sys.getrefcount(capsule)
    frozen = c.snapshot()
    assert frozen["current"] == sum(a.nbytes for a in keep) + 8 * 10 ** 5
    del keep, cyc
    gc.collect()
    # Each array held a reference to the handler capsule; all were released
    # and the frees went through the counting handler.
    assert sys.getrefcount(capsule) <= live - 200
    assert c._counter.snapshot()["current"] == 0
    assert c._counter.tracked_blocks == 0
    assert c.snapshot() == frozen           # the public counts stay frozen
    # The handler is no longer installed: nothing new is counted.
    more = [np.ones(100) * i for i in range(1000)]
    assert c._counter.snapshot()["allocations"] == frozen["allocations"]
    del more


def test_handler_outlives_counter_and_interpreter_stays_up():
    # The crash-prone part in a subprocess: a crash fails this test instead
    # of taking the session down.
    code = textwrap.dedent("""
        import gc, numpy as np
        from lowmem.theano._allocations import AllocationCounter
        keep = []
        for i in range(300):
            with AllocationCounter() as c:
                keep.append(np.ones(i + 1))
                with AllocationCounter() as d:
                    keep.append(np.empty((i % 7, 3)))
            del c, d                       # counters die, arrays live on
            if i % 50 == 0:
                del keep[::2]
                gc.collect()
        keep.reverse()
        del keep
        gc.collect()
        x = [np.random.rand(100) for _ in range(10000)]
        del x
        with AllocationCounter() as c:
            y = np.ones(10)
        import sys; sys.exit(0 if c.current == 80 else 3)
    """)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


# --- nesting, restore, scope ---------------------------------------------

def test_nested_counters():
    base = handler_name()
    with AllocationCounter() as outer:
        a = np.empty(100)
        outer_cap = _numpy_alloc.get_handler()
        with AllocationCounter() as inner:
            assert handler_name() == "lowmem_counting(lowmem_counting(%s))" % base
            b = np.empty(200)
            del a                      # allocated under outer only
        assert _numpy_alloc.get_handler() is outer_cap
        c_ = np.empty(300)
        del b
    assert handler_name() == base
    assert inner.allocations == 1 and inner.bytes_allocated == 1600
    assert inner.frees == 0 and inner.current == 1600
    assert outer.allocations == 3 and outer.bytes_allocated == 800 + 1600 + 2400
    assert outer.frees == 2 and outer.current == 2400
    assert outer.peak == 800 + 1600 + 2400 - 800
    del c_


def test_handler_restored_on_exception():
    before = _numpy_alloc.get_handler()
    with pytest.raises(ZeroDivisionError):
        with AllocationCounter() as c:
            a = np.empty(10)
            1 / 0
    assert _numpy_alloc.get_handler() is before
    assert not c.active and c.allocations == 1
    del a


def test_single_use_and_snapshot_before_enter():
    c = AllocationCounter()
    assert c.snapshot() == dict.fromkeys(COUNT_FIELDS, 0)
    with c:
        pass
    with pytest.raises(RuntimeError):
        with c:
            pass


def test_unbalanced_inner_handler_warns_and_restores():
    before = _numpy_alloc.get_handler()
    c = AllocationCounter()
    c.__enter__()
    stray = _numpy_alloc.Counter()
    stray.start()                      # never stopped
    with pytest.warns(RuntimeWarning):
        c.__exit__(None, None, None)
    assert _numpy_alloc.get_handler() is before


def test_count_allocations_helper():
    result, counts = count_allocations(np.zeros, (10, 10), dtype=np.float32)
    assert result.shape == (10, 10)
    assert set(counts) == set(COUNT_FIELDS)
    assert counts["allocations"] == 1 and counts["bytes_allocated"] == 400
    assert counts["current"] == 400


def test_other_threads_not_counted_but_copied_context_is():
    def work():
        for _ in range(100):
            np.empty(10)

    with AllocationCounter() as c:
        t = threading.Thread(target=work)   # starts with an empty context
        t.start()
        t.join()
        assert c.allocations == 0
        ctx = contextvars.copy_context()
        t = threading.Thread(target=ctx.run, args=(work,))
        t.start()
        t.join()
    assert c.allocations == 100 and c.current == 0


def test_threads_free_arrays_allocated_inside_and_counts_stay_exact():
    n_threads, per = 4, 5000
    with AllocationCounter() as c:
        arrays = [np.empty(i % 50 + 1) for i in range(n_threads * per)]
        total = sum(a.nbytes for a in arrays)
        chunks = [arrays[i::n_threads] for i in range(n_threads)]
        del arrays

        def drop(chunk):
            while chunk:
                chunk.pop()

        def alloc():
            for i in range(per):
                np.empty(i % 30 + 1)

        threads = [threading.Thread(target=drop, args=(ch,)) for ch in chunks]
        threads += [threading.Thread(target=contextvars.copy_context().run,
                                     args=(alloc,)) for _ in range(n_threads)]
        for t in threads:
            t.start()
        for i in range(per):
            np.empty(i % 40 + 1)
        for t in threads:
            t.join()
        del chunks
    n_alloc = n_threads * per * 2 + per
    assert c.allocations == n_alloc
    assert c.frees == n_alloc
    assert c.current == 0 and c.untracked == 0
    assert c.bytes_allocated == c.bytes_freed >= total


def test_memory_error_counts_failure():
    with AllocationCounter() as c:
        try:
            a = np.empty(2 ** 46, dtype=np.uint8)   # 64 TiB
        except MemoryError:
            a = None
    if a is not None:
        pytest.skip("the system granted a 64 TiB allocation")
    assert c.failures == 1 and c.allocations == 0 and c.current == 0


# --- against tracemalloc ---------------------------------------------------

def _workload():
    rng = np.random.default_rng(0)
    x = rng.random((300, 300))
    keep = []
    for i in range(5):
        y = x @ x.T + i
        z = np.exp(-y) * 0.5
        keep.append(z.sum(axis=0))
        del y, z
    w = np.concatenate([x, x]).cumsum(axis=0)
    return keep, w


def test_agrees_with_tracemalloc_numpy_domain():
    domain = np.lib.tracemalloc_domain
    gc.collect()
    with AllocationCounter() as c:
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base, _ = tracemalloc.get_traced_memory()
            result = _workload()
            _, tm_peak = tracemalloc.get_traced_memory()
            snap = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.DomainFilter(True, domain)])
        finally:
            tracemalloc.stop()
    numpy_now = sum(t.size for t in snap.traces)
    # Live NumPy data: exactly the same blocks (tracing began in the block).
    assert numpy_now == c.current
    # Peak: tracemalloc's includes Python objects, a little above ours.
    tm_numpy_peak = tm_peak - base
    assert c.peak > 1_000_000
    assert abs(tm_numpy_peak - c.peak) <= 0.01 * c.peak + 64 * 1024
    del result


def test_theano_call_counts_match_tracemalloc_measurement():
    lt = pytest.importorskip("lowmem.theano")   # before theano: sets blas.ldflags
    theano = pytest.importorskip("theano")
    from lowmem.theano._measure import measure_call
    T = theano.tensor

    rng = np.random.RandomState(0)
    W = theano.shared(rng.randn(256, 256), "W")
    x = T.matrix("x")
    h = T.tanh(x.dot(W))
    X = rng.randn(512, 256)
    for mode in (None, lt.LowMemMode()):
        f = theano.function([x], [(h * 2 + 1).sum(axis=1), h.mean()], mode=mode)
        f(X)                                      # the first call may differ
        (y, m), first = count_allocations(f, X)
        _, second = count_allocations(f, X)
        assert first == second                    # deterministic per call
        assert first["allocations"] >= 3          # at least h and the two outputs
        assert first["current"] == y.nbytes + m.nbytes
        assert first["untracked"] == 0
        measured = measure_call(f, X)
        assert first["peak"] >= 512 * 256 * 8     # h
        assert abs(measured.peak - first["peak"]) <= 0.01 * first["peak"] + 64 * 1024


def test_public_in_lowmem_theano():
    import lowmem.theano as lt
    assert lt.AllocationCounter is AllocationCounter
    assert lt.count_allocations is count_allocations
    assert {"AllocationCounter", "count_allocations"} <= set(lt.__all__)
