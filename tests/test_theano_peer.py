"""Theano's own tests give the same outcomes with LowMemMode as without it.

Runs peer/run.py in a subprocess (the peer suite must not run inside this
pytest process: it replaces Theano's default mode process-wide). The runner
runs a subset of the installed Theano test suite once with Theano's default
mode and once with lowmem.theano.LowMemMode as the default, and exits 0 only
when every test has the same outcome in both; the per-test comparison is in
peer/results/latest.md.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_theano_peer_suite_same_outcomes():
    run = os.path.join(ROOT, "peer", "run.py")
    proc = subprocess.run([sys.executable, run], cwd=ROOT,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=3 * 3600)
    assert proc.returncode == 0, (
        "peer/run.py exit %d; outcomes differ or a run did not complete:\n%s"
        % (proc.returncode, proc.stdout[-6000:]))
