"""The compiled thunk loop (lowmem.theano._vm.StepProgram) on its own and
inside LowMemMode: C thunks called through their function pointers,
cells emptied and arrays handed over as told, errors naming the node and
leaving the function usable."""

import sys

import numpy as np
import pytest

import lowmem.theano as lt
import theano
import theano.tensor as T
from theano.gof import Apply, Op

from lowmem.theano._vm import StepProgram, mark_computed
from test_theano_equal import assert_same, mlp_train


# ---------------------------------------------------------------- the program alone

def test_steps_run_in_order_and_cells_empty_after_their_step():
    seen = []
    a, b = [np.ones(3)], [np.ones(4)]

    def step(i):
        def run():
            seen.append((i, a[0] is None, b[0] is None))
        return run
    p = StepProgram([step(0), step(1), step(2)], [[], [a], [b]])
    p.run()
    assert seen == [(0, False, False), (1, False, False), (2, True, False)]
    assert a == [None] and b == [None]
    assert p.position == -1 and p.steps == 3 and p.c_steps == 0


def test_a_sole_array_is_handed_over_and_a_referenced_one_is_freed():
    give, take = [np.arange(5.0)], [None]
    array = give[0]
    p = StepProgram([lambda: None], [[]], [[(give, take, 0)]], [[]], (), 1)
    p.run()
    assert give == [None] and take == [None]       # `array` still refers to it: not moved
    assert array is not None
    give[0], array = np.arange(5.0), None
    moved_id = id(give[0])
    p.run()
    assert give == [None] and id(take[0]) == moved_id
    # a non-ndarray (a subclass, a scalar) is never handed over
    give[0], take[0] = np.ma.masked_array([1.0]), None
    p.run()
    assert take == [None]


def test_checks_count_arrays_taken_and_report_new_and_failed_ops():
    give1, take1, give2, take2 = [np.zeros(2)], [None], [np.zeros(3)], [None]

    def writes_into():      # keeps the array it was handed
        take1[0][...] = 1.0

    def replaces():         # allocates a new one
        take2[0] = np.ones(3)
    p = StepProgram([lambda: None, writes_into, replaces],
                    [[], [], []],
                    [[(give1, take1, 0), (give2, take2, 1)], [], []],
                    [[], [(take1, 0, False)], [(take2, 1, True)]], (), 2)
    p.run()
    assert (p.handed, p.taken) == (2, 1)
    assert p.new == [0] and p.failed == [1]
    assert np.array_equal(take1[0], [1.0, 1.0])


def test_opening_hand_offs_start_a_call_from_the_reserves():
    reserve, take = [np.zeros(2)], [None]
    moved_id = id(reserve[0])
    p = StepProgram([lambda: None], [[]], [[]], [[(take, 0, True)]],
                    [(reserve, take, 0)], 1)
    p.run()
    assert reserve == [None] and id(take[0]) == moved_id
    assert (p.handed, p.taken) == (1, 1)


def test_an_exception_sets_the_position_and_releases_held_arrays():
    give, take = [np.zeros(1000)], [None]
    marker = give[0]
    base = sys.getrefcount(marker)

    def boom():
        raise KeyError("boom")
    p = StepProgram([lambda: None, boom], [[], []], [[(give, take, 0)], []],
                    [[], [(take, 0, False)]], (), 1)
    with pytest.raises(KeyError, match="boom"):
        p.run()
    assert p.position == 1
    take[0] = None      # the program holds no reference of its own any more
    assert sys.getrefcount(marker) == base - 1


def test_many_runs_leak_no_references():
    cells = [[None] for _ in range(4)]
    value = np.zeros(8)

    def fill():
        cells[0][0] = np.zeros(8)
        cells[2][0] = value
    p = StepProgram([fill, lambda: None], [[cells[2]], []],
                    [[(cells[0], cells[1], 0)], [(cells[1], cells[3], 1)]],
                    [[], [(cells[1], 0, True)]], (), 2)
    p.run()
    before = (sys.getrefcount(value), sys.getrefcount(None))
    for _ in range(200):
        p.run()
    assert sys.getrefcount(value) == before[0]
    assert abs(sys.getrefcount(None) - before[1]) < 50


@pytest.mark.parametrize("bad, error", [
    (dict(clears=[[(1,)]]), TypeError),
    (dict(clears=[[[1, 2]]]), TypeError),
    (dict(hands=[[([0], [0], 3)]], slots=2), ValueError),
    (dict(hands=[[([0], [0], -1)]], slots=2), ValueError),
    (dict(checks=[[([0], True, True)]], slots=2), ValueError),
    (dict(clears=[[], []]), ValueError),
    (dict(slots=-1), ValueError),
])
def test_invalid_programs_are_refused(bad, error):
    args = dict(clears=[[]], hands=None, checks=None, opening=(), slots=0)
    args.update(bad)
    with pytest.raises(error, match="StepProgram"):
        StepProgram([lambda: None], **args)


def test_mark_computed():
    cm = {1: [False], 2: [0]}
    mark_computed(cm)
    assert cm == {1: [True], 2: [True]}


# ---------------------------------------------------------------- inside LowMemMode

def _pair(x, y, out):
    return (theano.function([x, y], out, mode=lt.LowMemMode()),
            theano.function([x, y], out))


def test_c_thunks_are_called_directly():
    (x, y), (loss, _), updates, _ = mlp_train()
    f = theano.function([x, y], loss, mode=lt.LowMemMode())
    rng = np.random.RandomState(0)
    f(rng.randn(8, 12), rng.randint(0, 5, 8).astype("int32"))
    vm = f.fn
    c_thunks = sum(1 for t in vm.thunks if hasattr(t, "cthunk"))
    assert c_thunks > 0
    assert vm._program.c_steps == c_thunks


@pytest.mark.parametrize("share", [True, False])
def test_a_failing_c_thunk_names_its_node_and_the_function_recovers(share):
    x, y = T.dvector("x"), T.dvector("y")
    out = T.exp(x) * 2 + y
    f = theano.function([x, y], out, mode=lt.LowMemMode(share_storage=share))
    g = theano.function([x, y], out)
    good = (np.arange(4.0), np.ones(4))
    assert_same(f(*good), g(*good))          # records and plans
    for _ in range(2):                       # the planned loop, twice
        with pytest.raises(ValueError) as err:
            f(np.arange(4.0), np.ones(3))
        assert "Apply node that caused the error" in str(err.value)
        assert "Elemwise" in str(err.value)
        assert_same(f(*good), g(*good))
    assert f.fn.plan is not None


class _FailsOnNegative(Op):
    """A Python-only op that raises on a negative first element."""
    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, outputs):
        if inputs[0][0] < 0:
            raise ArithmeticError("negative input")
        outputs[0][0] = inputs[0] * 3


def test_a_failing_python_thunk_names_its_node_in_the_recording_call_and_after():
    x = T.dvector("x")
    out = _FailsOnNegative()(T.exp(x)) + _FailsOnNegative()(x)
    f = theano.function([x], out, mode=lt.LowMemMode())
    g = theano.function([x], out)
    with pytest.raises(ArithmeticError) as err:        # the recording call fails
        f(-np.ones(3))
    assert "_FailsOnNegative" in str(err.value)
    assert f.fn.plan is None
    assert_same(f(np.ones(3)), g(np.ones(3)))          # records now
    assert f.fn.plan is not None
    with pytest.raises(ArithmeticError) as err:
        f(-np.ones(3))
    assert "_FailsOnNegative" in str(err.value)
    assert_same(f(np.arange(3.0)), g(np.arange(3.0)))


def test_wrapping_vm_thunks_runs_the_wrappers():
    """Measuring tools replace vm.thunks for a call; the program follows."""
    x = T.dvector("x")
    f = theano.function([x], T.exp(x) + 1, mode=lt.LowMemMode())
    f(np.ones(3))
    calls = []
    original = f.fn.thunks

    def wrap(t):
        def run():
            calls.append(1)
            t()
        return run
    f.fn.thunks = [wrap(t) for t in original]
    f(np.ones(3))
    assert len(calls) == len(original)
    f.fn.thunks = original
    f(np.ones(3))
    assert len(calls) == len(original)
