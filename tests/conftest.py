"""Test configuration: import lowmem from this checkout, shared helpers on
path, one Theano compile cache per pytest-xdist worker, an empty plan cache
per Theano test.

`python -m pytest` and `make test` (editable install) both find the package
already; plain `pytest` from another directory needs the repository root on
sys.path. tests/ itself is on sys.path (rootdir-relative, no __init__.py) so
the tests import `cases`, `bruteforce` and `strategies` directly.

`make test` runs the suite on two pytest-xdist workers (`-n 2 --dist
loadfile`: a file's tests stay in one worker, so a module-scoped fixture is
built once). Theano holds one lock on its compile directory while it builds
a module and a waiting process sleeps 5-10 s between tries, so two workers
sharing a cold directory compile one op at a time and the waiting one
starves. Each worker therefore gets a directory of its own beside Theano's
usual one (``<base_compiledir>/lowmem-tests-gw0``, ...), kept between runs,
unless THEANO_FLAGS names a `compiledir` itself. This must happen before
Theano is first imported, which no test module does before this file runs.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))
for path in (HERE, ROOT):
    if path not in sys.path:
        sys.path.insert(0, path)


def _worker_compiledir():
    """THEANO_FLAGS with a compiledir for this xdist worker (O(flags))."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    flags = os.environ.get("THEANO_FLAGS", "")
    given = dict(p.split("=", 1) for p in flags.split(",") if "=" in p)
    if not worker or "compiledir" in given:
        return
    if "theano" in sys.modules:     # too late: Theano has read its flags
        raise RuntimeError("tests/conftest.py: theano was imported before the per-worker "
                           "compiledir could be set")
    base = os.path.expanduser(given.get("base_compiledir", "~/.theano"))
    parts = [p for p in flags.split(",") if p.strip()]
    os.environ["THEANO_FLAGS"] = ",".join(
        parts + ["compiledir=" + os.path.join(base, "lowmem-tests-" + worker)])


_worker_compiledir()


import pytest  # noqa: E402

# The plan-cache directory LowMemMode uses by default during Theano tests.
_plan_dir = [None]


def _theano_test(request):
    return os.path.basename(str(request.node.fspath)).startswith("test_theano")


@pytest.fixture(autouse=True, scope="module")
def _module_plan_cache(request, tmp_path_factory):
    """Theano tests start from empty plan caches: plans cached by an
    earlier test (or run, in the worker's compile directory) would spare a
    later test the recording call and search it means to exercise. One
    directory per module for module-scoped fixtures (autouse fixtures of a
    scope are set up before the others of that scope), then one per test."""
    if not _theano_test(request):
        yield
        return
    from lowmem.theano import _cache
    saved = _cache.default_directory
    _plan_dir[0] = str(tmp_path_factory.mktemp("lowmem-plans"))
    _cache.default_directory = lambda: _plan_dir[0]
    yield
    _cache.default_directory = saved


@pytest.fixture(autouse=True)
def _fresh_plan_cache(request, tmp_path):
    if _theano_test(request):
        _plan_dir[0] = str(tmp_path / "lowmem-plans")
