"""``LowMemMode`` for PyTensor: its functions run in lowmem's order."""

import math
import numbers

from pytensor.compile.mode import Mode

from .._scheduler import DEFAULT_MEMORY_LIMIT
from ._linker import LowMemNumbaLinker, LowMemVMLinker

BACKENDS = {"numba": LowMemNumbaLinker, "vm": LowMemVMLinker}


class LowMemMode(Mode):
    """A PyTensor compilation mode that runs functions in the order with the
    lowest peak memory: ``pytensor.function(..., mode=LowMemMode())``.

    backend : "numba" (default, PyTensor's own default backend: one
        generated function whose statements follow the order) or "vm"
        (PyTensor's Python loop VM, values freed after their last use; its
        C VM evaluates depth-first from the outputs and would ignore the
        order).
    time_limit : float
        Seconds lowmem's search may spend on each function, on its first
        call (default 1.0; 0 = heuristics only).
    memory_limit : int
        Bytes the search may use for its tables (default 256 MiB).
    optimizer : PyTensor's graph rewrites (default: the usual ones, with
        the backend's required rewrites, as for PyTensor's own modes).

    The first call of each function runs its graph once with the ops'
    Python implementations to learn the values' sizes (lowmem.pytensor's
    recording call), schedules, links the backend in that order and then
    runs it; if any step fails the function keeps PyTensor's order and a
    LowMemWarning says why. ``lowmem.pytensor.plan(f)`` gives what the
    first call decided.
    """

    def __init__(self, *, backend="numba", time_limit=1.0, memory_limit=DEFAULT_MEMORY_LIMIT,
                 optimizer="default", linker=None, db=None):
        if linker is None:
            if backend not in BACKENDS:
                raise ValueError(f"LowMemMode: backend must be one of "
                                 f"{', '.join(map(repr, BACKENDS))}, not {backend!r}")
            if (isinstance(time_limit, bool) or not isinstance(time_limit, numbers.Real)
                    or not math.isfinite(time_limit) or time_limit < 0):
                raise ValueError(f"LowMemMode: time_limit must be a finite number of "
                                 f"seconds >= 0, not {time_limit!r}")
            if (isinstance(memory_limit, bool) or not isinstance(memory_limit, numbers.Integral)
                    or memory_limit < 2**20):
                raise ValueError(f"LowMemMode: memory_limit must be a whole number of bytes "
                                 f">= 1 MiB, not {memory_limit!r}")
            linker = BACKENDS[backend](time_limit=float(time_limit),
                                       memory_limit=int(memory_limit))
        elif not isinstance(linker, tuple(BACKENDS.values())):
            raise ValueError(f"LowMemMode: linker must be a lowmem PyTensor linker, "
                             f"not {type(linker).__name__}")
        if db is None:
            super().__init__(linker=linker, optimizer=optimizer)
        else:
            super().__init__(linker=linker, optimizer=optimizer, db=db)
