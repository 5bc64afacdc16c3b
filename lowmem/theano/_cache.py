"""The plan cache, under its former name: this module is lowmem._plan_cache
(the one plan cache of lowmem.theano and lowmem.pytensor; Theano's key
adapter, its default, is there too).

Importing ``lowmem.theano._cache`` gives lowmem._plan_cache itself (the
entry in sys.modules is replaced), so that setting one of its attributes
affects the cache. Loaded by file path without lowmem.theano's __init__
(as ``lowmem cache`` does), this module also holds the same objects.
"""

import sys

from .. import _plan_cache

globals().update({name: value for name, value in vars(_plan_cache).items()
                  if not name.startswith("__")})
sys.modules[__name__] = _plan_cache
