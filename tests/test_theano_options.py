"""LowMemOptions: unknown options are refused, each option is validated
once (type and range, the error naming it), and the linker of every
function a mode compiles gets the mode's options."""

import dataclasses

import numpy as np
import pytest

import lowmem.theano as lt
import theano
import theano.tensor as T

from lowmem.theano._options import OPTION_NAMES


@pytest.mark.parametrize("make", [
    lambda **kw: lt.LowMemMode(**kw),
    lambda **kw: lt.LowMemLinker(**kw),
    lambda **kw: lt.LowMemMode(options=lt.LowMemOptions(), **kw),
], ids=["mode", "linker", "mode-with-options"])
def test_unknown_option_is_a_type_error_naming_it(make):
    with pytest.raises(TypeError, match=r"'share_stoarge' \(did you mean 'share_storage'\?\)"):
        make(share_stoarge=False)
    with pytest.raises(TypeError, match=r"unknown options 'frobnicate', 'tim_limit'"):
        make(frobnicate=1, tim_limit=2)


def test_function_refuses_unknown_keywords_and_options_with_a_mode():
    x = T.vector("x")
    with pytest.raises(TypeError, match=r"lowmem.theano.function: unknown option 'share_stoarge'"):
        lt.function([x], T.exp(x), share_stoarge=False)
    with pytest.raises(TypeError, match=r"give lowmem options \(time_limit\) or a mode"):
        lt.function([x], T.exp(x), mode=lt.LowMemMode(), time_limit=1.0)
    with pytest.raises(TypeError, match="needs a LowMemMode"):
        lt.function([x], T.exp(x), mode="FAST_RUN")


def test_mode_refuses_options_and_a_linker_together():
    with pytest.raises(TypeError, match="not both"):
        lt.LowMemMode(linker=lt.LowMemLinker(), time_limit=1.0)
    with pytest.raises(TypeError, match="options must be a LowMemOptions"):
        lt.LowMemMode(options={"time_limit": 1.0})


GOOD = dict(time_limit=0.25, memory_limit=2**21, tolerance_bytes=0, tolerance_ratio=0.5,
            share_storage=False, keep_bytes=0, keep_allowance=0, name="f", c_thunks=True,
            plan_cache=False, cache_dir="/tmp/plans", memory_budget=0.5)

BAD = [  # (option, value, exception, what the message says)
    ("time_limit", "1", TypeError, "number of seconds"),
    ("time_limit", True, TypeError, "number of seconds"),
    ("time_limit", -1.0, ValueError, "finite and >= 0"),
    ("time_limit", float("inf"), ValueError, "finite and >= 0"),
    ("time_limit", float("nan"), ValueError, "finite and >= 0"),
    ("memory_limit", 2**20 - 1, ValueError, "between 1048576"),
    ("memory_limit", 2**63, ValueError, "between 1048576"),
    ("memory_limit", 1e9, TypeError, "integer"),
    ("tolerance_bytes", -1, ValueError, "between 0"),
    ("tolerance_bytes", 4.0, TypeError, "integer"),
    ("tolerance_ratio", -0.1, ValueError, "finite and >= 0"),
    ("tolerance_ratio", float("inf"), ValueError, "finite and >= 0"),
    ("tolerance_ratio", None, TypeError, "a number"),
    ("share_storage", 1, TypeError, "True or False"),
    ("share_storage", "no", TypeError, "True or False"),
    ("keep_bytes", -1, ValueError, "between 0"),
    ("keep_bytes", False, TypeError, "integer"),
    ("keep_allowance", -5, ValueError, "between 0"),
    ("keep_allowance", "4K", TypeError, "integer"),
    ("name", 3, TypeError, "string or None"),
    ("example_inputs", 5, TypeError, "list of values"),
    ("example_inputs", "x", TypeError, "list of values"),
    ("c_thunks", "yes", TypeError, "True or False"),
    ("plan_cache", 1, TypeError, "True or False"),
    ("plan_cache", None, TypeError, "True or False"),
    ("cache_dir", 3, TypeError, "a path or None"),
    ("cache_dir", "", ValueError, "non-empty path"),
    ("memory_budget", "0.5", TypeError, "bytes"),
    ("memory_budget", True, TypeError, "bytes"),
    ("memory_budget", -1, ValueError, "between 0"),
    ("memory_budget", 0.0, ValueError, "finite and > 0"),
    ("memory_budget", float("inf"), ValueError, "finite and > 0"),
]


def test_every_option_has_a_bad_value_case():
    assert {b[0] for b in BAD} == set(OPTION_NAMES)


@pytest.mark.parametrize("option,value,error,what", BAD,
                         ids=[f"{b[0]}={b[1]!r}" for b in BAD])
def test_bad_option_value_names_the_option(option, value, error, what):
    for make in (lt.LowMemOptions, lt.LowMemMode, lt.LowMemLinker):
        with pytest.raises(error, match=rf"^LowMemOptions: {option} must .*{what}"):
            make(**{option: value})


def test_good_values_are_kept_and_normalised():
    opts = lt.LowMemOptions(**GOOD)
    for k, v in GOOD.items():
        assert getattr(opts, k) == v
    # NumPy scalars are accepted and stored as Python numbers.
    opts = lt.LowMemOptions(memory_limit=np.int64(2**22), time_limit=np.float32(0.5),
                            example_inputs=[(2, 3)])
    assert type(opts.memory_limit) is int and opts.memory_limit == 2**22
    assert type(opts.time_limit) is float and opts.time_limit == 0.5
    assert opts.example_inputs == ((2, 3),)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.time_limit = 1.0


def test_keywords_override_an_options_object():
    base = lt.LowMemOptions(time_limit=0.5, share_storage=False)
    mode = lt.LowMemMode(options=base, share_storage=True)
    assert mode.options == dataclasses.replace(base, share_storage=True)
    assert lt.LowMemMode(options=base).options is base
    with pytest.raises(ValueError, match="time_limit"):
        lt.LowMemMode(options=base, time_limit=-1)


def test_every_function_of_a_mode_gets_its_options():
    """accept() copies the options object to each function's own linker;
    Theano's Mode.clone (excluding) keeps it; the options take effect."""
    mode = lt.LowMemMode(time_limit=0.3, share_storage=False, name="net")
    x = T.matrix("x")
    fns = [theano.function([x], T.exp(x).sum(), mode=mode),
           theano.function([x], (x * 2).T.dot(x), mode=mode),
           theano.function([x], T.tanh(x) + 1, mode=mode.excluding("inplace"))]
    assert len({id(f.maker.linker) for f in fns}) == 3
    X = np.ones((16, 16))
    for f in fns:
        assert f.maker.linker.options is mode.options
        f(X)
        plan = f.fn.plan
        assert f.fn.search_seconds() == 0.3
        assert plan.storage is None                  # share_storage=False
        assert plan.translation.graph.name == "net"
    shared = theano.function([x], T.exp(x).sum() + T.tanh(x).sum(), mode=lt.LowMemMode())
    shared(X)
    assert shared.fn.plan.storage is not None            # the default shares


def test_function_passes_options_and_name():
    x = T.vector("x")
    f = lt.function([x], T.exp(x) * 2, name="double-exp", time_limit=0.2,
                    example_inputs=[(5,)])
    assert f.maker.linker.options.time_limit == 0.2
    assert f.fn.plan is not None                          # planned at compile time
    assert f.fn.plan.translation.graph.name == "double-exp"
    assert not f.fn.plan.workspace_measured
    assert np.allclose(f(np.zeros(5)), 2.0)
