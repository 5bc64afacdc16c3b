"""Test configuration: import lowmem from this checkout, shared helpers on
path, one Theano compile cache per pytest-xdist worker.

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
