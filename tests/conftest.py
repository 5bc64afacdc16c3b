"""Test configuration: import lowmem from this checkout, shared helpers on path.

`python -m pytest` and `make test` (editable install) both find the package
already; plain `pytest` from another directory needs the repository root on
sys.path. tests/ itself is on sys.path (rootdir-relative, no __init__.py) so
the tests import `cases`, `bruteforce` and `strategies` directly.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))
for path in (HERE, ROOT):
    if path not in sys.path:
        sys.path.insert(0, path)
