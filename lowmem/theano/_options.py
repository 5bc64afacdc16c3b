"""``LowMemOptions``: the options of LowMemMode, its linker and
``lowmem.theano.function``, validated once.

The mode, the function and the linker take the same keyword options; they
all build one frozen :class:`LowMemOptions` through :func:`make_options`,
which refuses unknown names (a misspelt ``share_stoarge=False`` would
otherwise leave sharing on without a word), and the linker's ``accept()``
hands that object on to the linker of each new function unchanged.
"""

import difflib
import math
import os
import numbers
from dataclasses import dataclass, field, fields, replace

from .. import _scheduler as scheduler
from . import _sharing

# Stop the search at near-ties (a few shape scalars): within 4 KiB or
# 0.01% of the lower bound (see LowMemLinker).
DEFAULT_TOLERANCE_BYTES = 4096
DEFAULT_TOLERANCE_RATIO = 1e-4
# The scheduler refuses a memory budget below this (lowmem.schedule).
MIN_MEMORY_LIMIT = 2**20
# Byte counts beyond int64 cannot reach the Cython core.
MAX_BYTES = 2**63 - 1


@dataclass(frozen=True)
class LowMemOptions:
    """Options of a LowMemMode (and of its linker). Immutable; validated
    on construction, each error naming the option. O(1) except
    `example_inputs`, copied to a tuple (O(inputs)).

    time_limit : float >= 0 or None
        Seconds the scheduler may spend on each function. None ("auto",
        the default): 10% of the time Theano took to compile it, at least
        20 ms and at most 1 s.
    memory_limit : int >= 1 MiB
        Bytes the scheduler's search may use (default 256 MiB).
    tolerance_bytes : int >= 0, tolerance_ratio : float >= 0
        Stop the search once the peak is within max(tolerance_bytes,
        tolerance_ratio * lower bound) of the lower bound (4 KiB, 0.01%).
    share_storage : bool
        Apply a storage plan (lowmem.theano._sharing): arrays of equal
        dtype and shape with disjoint lifetimes share storage (default on).
    keep_bytes : int >= 0
        With share_storage, arrays of at most this many bytes (shape
        arithmetic) keep their storage between calls (default 64; 0: none)
    keep_allowance : int >= 0
        ... as long as that raises a call's peak by at most this many bytes
        (default 4 KiB; 0: never) and by no more than the order saved.
    name : str or None
        The graph's name in reports.
    example_inputs : sequence or None
        Values or shape tuples of the function's explicit inputs, in order:
        the function is planned at compile time from Theano's shape
        expressions instead of on its first call (workspace unmeasured).
    c_thunks : bool or None
        Theano's VM_Linker option: C implementations (None: when a C
        compiler is configured).
    plan_cache : bool
        Keep each function's plan on disk (lowmem.theano._cache), so that
        compiling the same function again, in any process, plans it
        without a recording call or a search (default on; ``lowmem cache``
        lists and clears the plans).
    cache_dir : str or None
        Where plans are kept (None: ``lowmem-plans`` in Theano's compile
        directory, ``theano.config.compiledir``).
    memory_budget : int, float or None
        Meet this peak by recomputing values in the backward pass when the
        best order does not (issue 13): bytes (an int), or a fraction of
        the best order's peak (a float > 0, e.g. 0.5). Nodes cost the
        seconds the recording call measured; the order runs some thunks
        again. With a budget, storage sharing and the plan cache are off
        for the function. None (default): every node runs once.
    """
    time_limit: float | None = None
    memory_limit: int = scheduler.DEFAULT_MEMORY_LIMIT
    tolerance_bytes: int = DEFAULT_TOLERANCE_BYTES
    tolerance_ratio: float = DEFAULT_TOLERANCE_RATIO
    share_storage: bool = True
    keep_bytes: int = _sharing.KEEP_BETWEEN_CALLS_BYTES
    keep_allowance: int = _sharing.KEEP_PEAK_ALLOWANCE
    name: str | None = None
    # Arrays compare elementwise: leave them out of equality, hashing, repr.
    example_inputs: tuple | None = field(default=None, compare=False, repr=False)
    c_thunks: bool | None = None
    plan_cache: bool = True
    cache_dir: str | None = None
    memory_budget: int | float | None = None

    def __post_init__(self):
        def put(name, value):       # normalise a field of the frozen instance
            object.__setattr__(self, name, value)

        if self.time_limit is not None:
            put("time_limit", _number("time_limit", self.time_limit, "a number of seconds"))
        put("memory_limit", _integer("memory_limit", self.memory_limit, MIN_MEMORY_LIMIT))
        put("tolerance_bytes", _integer("tolerance_bytes", self.tolerance_bytes, 0))
        put("tolerance_ratio", _number("tolerance_ratio", self.tolerance_ratio, "a number"))
        put("keep_bytes", _integer("keep_bytes", self.keep_bytes, 0))
        put("keep_allowance", _integer("keep_allowance", self.keep_allowance, 0))
        _boolean("share_storage", self.share_storage)
        _boolean("plan_cache", self.plan_cache)
        if self.cache_dir is not None:
            if not isinstance(self.cache_dir, (str, os.PathLike)):
                raise TypeError(f"LowMemOptions: cache_dir must be a path or None, "
                                f"got {type(self.cache_dir).__name__}")
            put("cache_dir", os.fspath(self.cache_dir))
            if not self.cache_dir:
                raise ValueError("LowMemOptions: cache_dir must be a non-empty path")
        if self.c_thunks is not None:
            _boolean("c_thunks", self.c_thunks)
        if self.memory_budget is not None:
            budget = self.memory_budget
            if isinstance(budget, bool) or not isinstance(budget, numbers.Real):
                raise TypeError(f"LowMemOptions: memory_budget must be bytes (an int) or a "
                                f"fraction of the best peak (a float), got "
                                f"{type(budget).__name__}")
            if isinstance(budget, numbers.Integral):
                put("memory_budget", _integer("memory_budget", budget, 0))
            elif not (math.isfinite(budget) and budget > 0):
                raise ValueError(f"LowMemOptions: memory_budget must be finite and > 0 as a "
                                 f"fraction of the best peak, got {budget!r}")
            else:
                put("memory_budget", float(budget))
        if self.name is not None and not isinstance(self.name, str):
            raise TypeError(f"LowMemOptions: name must be a string or None, "
                            f"got {type(self.name).__name__}")
        if self.example_inputs is not None:
            if isinstance(self.example_inputs, (str, bytes)) or \
                    not hasattr(self.example_inputs, "__iter__"):
                raise TypeError("LowMemOptions: example_inputs must be a list of values or "
                                f"shape tuples, got {type(self.example_inputs).__name__}")
            put("example_inputs", tuple(self.example_inputs))


OPTION_NAMES = tuple(f.name for f in fields(LowMemOptions))


def _integer(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"LowMemOptions: {name} must be an integer number of bytes, "
                        f"got {type(value).__name__}")
    if not minimum <= value <= MAX_BYTES:
        raise ValueError(f"LowMemOptions: {name} must be between {minimum} and 2**63-1, "
                         f"got {value}")
    return int(value)


def _number(name, value, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"LowMemOptions: {name} must be {what}, got {type(value).__name__}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"LowMemOptions: {name} must be finite and >= 0, got {value!r}")
    return float(value)


def _boolean(name, value):
    if not isinstance(value, bool):
        raise TypeError(f"LowMemOptions: {name} must be True or False, got {value!r}")


def check_names(caller, given, known):
    """Raise TypeError naming every name in `given` not in `known` (with the
    closest known name as a hint). O(given * known)."""
    unknown = [n for n in given if n not in known]
    if not unknown:
        return
    hints = []
    for n in unknown:
        close = difflib.get_close_matches(n, known, n=1)
        hints.append(f"{n!r} (did you mean {close[0]!r}?)" if close else repr(n))
    plural = "s" if len(unknown) > 1 else ""
    raise TypeError(f"{caller}: unknown option{plural} {', '.join(hints)}; "
                    f"lowmem's options are {', '.join(OPTION_NAMES)}")


def make_options(caller, options=None, **values):
    """A LowMemOptions from `options` (a LowMemOptions or None) with the
    keyword `values` replacing its fields; unknown names raise TypeError
    naming `caller` and them."""
    check_names(caller, values, OPTION_NAMES)
    if options is None:
        return LowMemOptions(**values)
    if not isinstance(options, LowMemOptions):
        raise TypeError(f"{caller}: options must be a LowMemOptions, "
                        f"got {type(options).__name__}")
    return replace(options, **values) if values else options
