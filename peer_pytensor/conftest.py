"""Peer suite: PyTensor's own tests with lowmem's mode as the default mode.

`peer_pytensor/run.py` runs a subset of PyTensor 3.3.7's tests twice, once
as PyTensor ships it and once with ``LOWMEM_PEER_MODE=lowmem``; this file is
the hook for the second run and the outcome recorder for both. It is loaded
before any test module is imported (run.py passes ``peer_pytensor/`` or this
file among pytest's arguments, so it is an initial conftest): tests read the
default mode at import time (module-level ``mode = get_default_mode()``).

The hook. PyTensor resolves "no mode given" through ``config.mode``:
``pytensor.function(mode=None)``, ``Variable.eval``, ``get_default_mode()``,
``verify_grad`` all end in ``compile.mode.get_mode(None)`` (scan's inner
graph is not compiled through a mode: on the Numba backend it is part of
the outer function's Numba code), which returns ``config.mode`` itself when
it is a ``Mode`` instance (the config filter accepts one; the default,
the string "Mode", means ``Mode(linker="auto")``, i.e. the Numba linker).
So the hook sets ``pytensor.config.mode`` to one LowMemMode instance
(backend "numba", PyTensor's default backend; ``LOWMEM_PEER_BACKEND=vm``
for the Python loop VM). The string ``"FAST_RUN"`` names the same mode as
the default (with ``linker=auto`` it is ``NUMBA``), so
``predefined_modes["FAST_RUN"]`` is set too and the cache of runtime modes
is emptied. Modes a test names explicitly (``"FAST_COMPILE"``, ``"NUMBA"``,
``"CVM"``, ``Mode(linker="py")``, DebugMode) are left alone: they are the
references the tests compare against. Derived modes (``.including()``,
``.excluding()``, ``.clone()``) go through ``type(self)(linker=...,
optimizer=...)`` and stay LowMemMode. ``test_peer_mode.py`` checks this.

PyTensor's test helpers. The sdist on PyPI (the only source of PyTensor's
tests reachable here) ships ``tests/test_*.py`` of the top directory but
neither ``tests/unittest_tools.py`` nor ``tests/graph/utils.py``;
``stand_ins.py`` (lowmem's code) provides the part of ``unittest_tools``
that the chosen files use, registered as ``tests.unittest_tools`` with
``tests`` the extracted sdist's tests/ (``LOWMEM_PEER_TESTS_DIR``).

Both runs: numpy's global RNG is seeded per test from its node id.
``LOWMEM_PEER_DESELECT``: node ids (or classes) to leave out, one per line.
``LOWMEM_PEER_REPORT=path``: every test report appended to ``path`` as one
JSON line (peer/peer_compare.py's format); in the lowmem run a call's line
also counts the LowMemWarnings it raised (``n_fallbacks``: functions that
kept PyTensor's order because lowmem could not plan them).
"""

import os
import sys
import types
import warnings
import zlib

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _path in (HERE, os.path.join(ROOT, "peer")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import peer_compare  # noqa: E402

MODE = os.environ.get("LOWMEM_PEER_MODE", "default")
if MODE not in peer_compare.MODES:
    raise pytest.UsageError(
        "LOWMEM_PEER_MODE must be 'default' or 'lowmem', not %r" % MODE)
BACKEND = os.environ.get("LOWMEM_PEER_BACKEND", "numba")


def _install_test_helpers():
    """`tests` = the sdist's tests/ directory; `tests.unittest_tools` =
    stand_ins (see the module docstring)."""
    tests_dir = os.environ.get("LOWMEM_PEER_TESTS_DIR")
    if not tests_dir or "tests.unittest_tools" in sys.modules:
        return
    import stand_ins

    package = types.ModuleType("tests")
    package.__path__ = [tests_dir]
    package.__file__ = None
    package.unittest_tools = stand_ins
    sys.modules["tests"] = package
    sys.modules["tests.unittest_tools"] = stand_ins


def _make_lowmem_mode():
    """The LowMemMode instance every mode-less function of the run gets."""
    import lowmem.pytensor

    kwargs = {"backend": BACKEND}
    if os.environ.get("LOWMEM_PEER_TIME_LIMIT"):
        kwargs["time_limit"] = float(os.environ["LOWMEM_PEER_TIME_LIMIT"])
    return lowmem.pytensor.LowMemMode(**kwargs)


def _install_lowmem_default_mode():
    import pytensor
    import pytensor.compile.mode as compile_mode

    if getattr(compile_mode, "_lowmem_peer_mode", None) is not None:
        return  # already installed (conftest imported under a second name)
    mode = _make_lowmem_mode()
    pytensor.config.mode = mode
    compile_mode.predefined_modes["FAST_RUN"] = mode
    compile_mode._CACHED_RUNTIME_MODES.clear()
    compile_mode._lowmem_peer_mode = mode


_install_test_helpers()
if MODE == "lowmem":
    _install_lowmem_default_mode()


def lowmem_peer_mode():
    """The installed LowMemMode instance, or None in the default run."""
    import pytensor.compile.mode as compile_mode

    return getattr(compile_mode, "_lowmem_peer_mode", None)


class _PeerHooks:
    """Hooks and fixtures for every test of the run (registered as a plugin
    object: a conftest's own hooks reach only the tests below its directory,
    and PyTensor's tests and doctests are elsewhere)."""

    @pytest.fixture(autouse=True)
    def _peer_seed(self, request):
        import numpy as np

        np.random.seed(zlib.crc32(request.node.nodeid.encode()))
        yield

    def pytest_collection_modifyitems(self, config, items):
        # Exact node ids or classes, set by the runner (pytest's --deselect
        # matches any prefix: "test_rop" would drop "test_rop2" too).
        peer_compare.deselect_from_env(config, items)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item):
        # In the lowmem run, LowMemWarnings (a function kept PyTensor's
        # order) are counted per test, whatever the warning filters say.
        if MODE != "lowmem":
            return (yield)
        import lowmem.pytensor

        seen = []
        original = warnings.showwarning

        def show(message, category, *args, **kwargs):
            if issubclass(category, lowmem.pytensor.LowMemWarning):
                seen.append(str(message))
            else:
                original(message, category, *args, **kwargs)

        with warnings.catch_warnings():
            warnings.simplefilter("always", lowmem.pytensor.LowMemWarning)
            warnings.showwarning = show
            try:
                return (yield)
            finally:
                item.user_properties.append(("lowmem_fallbacks", seen))

    def pytest_runtest_logreport(self, report):
        entry = peer_compare.record_entry(report)
        for name, value in report.user_properties:
            if name == "lowmem_fallbacks" and value and report.when == "call":
                entry["fallbacks"] = [m[:300] for m in value[:3]]
                entry["n_fallbacks"] = len(value)
        peer_compare.append_record(os.environ.get("LOWMEM_PEER_REPORT"), entry)

    def pytest_collectreport(self, report):
        if report.failed:
            peer_compare.append_record(
                os.environ.get("LOWMEM_PEER_REPORT"),
                peer_compare.record_entry(report, when="collect"))


def pytest_configure(config):
    if not config.pluginmanager.has_plugin("lowmem-peer-hooks"):
        config.pluginmanager.register(_PeerHooks(), "lowmem-peer-hooks")
