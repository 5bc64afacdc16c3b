"""Test configuration of the PyTensor suite (run by `make test` with
.venv-pytensor: Python 3.12, NumPy 2, PyTensor 3.3; tests/ is the Theano
suite, run with .venv).

`python -m pytest` and `make test` (editable install) both find the package
already; plain `pytest` from another directory needs the repository root on
sys.path, as in tests/conftest.py.

No per-worker compile directory, unlike tests/conftest.py: PyTensor's default
backend is Numba, which compiles nothing under PyTensor's compile lock; its
cache (<base_compiledir>/numba) is written file by file with atomic renames,
so pytest-xdist workers can share it.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# The repository root (lowmem) and this directory (shared checks) on path.
for path in (HERE, ROOT):
    if path not in sys.path:
        sys.path.insert(0, path)
