"""``LowMemMode`` and ``lowmem.theano.function``."""

import time

from theano.compile.mode import Mode

from .. import _scheduler as scheduler
from ._linker import DEFAULT_TIME_LIMIT, LowMemLinker


class LowMemMode(Mode):
    """A Theano compilation mode that runs functions in lowmem's order.

    Use it as ``theano.function(..., mode=LowMemMode())``. Graph
    optimisations are Theano's usual ones (``optimizer``); the linker builds
    the usual C thunks and runs them with a Python loop in the order with
    the lowest peak memory, learned on each function's first call (see
    lowmem.theano._linker). One instance may compile any number of
    functions: each gets a linker of its own.

    Parameters
    ----------
    time_limit : float or None
        Seconds the scheduler may spend on each function (on its first
        call); None (default): 10% of the time Theano took to compile it,
        at least 20 ms and at most 1 s.
    memory_limit : int
        Bytes the scheduler's search may use.
    tolerance_bytes, tolerance_ratio : stop the search this close to the
        lower bound (default 4 KiB or 0.01%, see LowMemLinker).
    share_storage : bool, default True
        Apply a storage plan: an array whose variable is dead is handed to
        a later variable of the same dtype and symbolic shape, whose op
        writes into it instead of allocating (lowmem.theano._sharing).
    optimizer : Theano optimizer or name, default Theano's configured one.
    linker : a LowMemLinker to use instead (Theano's Mode.clone passes it).

    Lazy ops (``ifelse``) run eagerly in this mode, as in any non-lazy Theano
    VM: both branches are computed and the order accounts for both.
    """

    def __init__(self, time_limit=DEFAULT_TIME_LIMIT, memory_limit=scheduler.DEFAULT_MEMORY_LIMIT,
                 optimizer="default", linker=None, **schedule_options):
        if linker is None:
            linker = LowMemLinker(time_limit=time_limit, memory_limit=memory_limit,
                                  **schedule_options)
        elif not isinstance(linker, LowMemLinker):
            raise TypeError(f"LowMemMode needs a LowMemLinker, got {type(linker).__name__}")
        super().__init__(linker=linker, optimizer=optimizer)

    @property
    def optimizer(self):
        # Theano's FunctionMaker fetches the optimizer, then copies the
        # linker, at the start of every compilation: the stamp lets an
        # "auto" time limit be a share of this function's compile time.
        self.linker.compile_started = time.perf_counter()
        return Mode.optimizer.fget(self)

    def __str__(self):
        return (f"LowMemMode(time_limit={self.linker.time_limit}, "
                f"optimizer={self.provided_optimizer})")


def function(inputs, outputs=None, mode=None, time_limit=DEFAULT_TIME_LIMIT,
             memory_limit=scheduler.DEFAULT_MEMORY_LIMIT, example_inputs=None,
             share_storage=True, **kwargs):
    """``theano.function`` compiled with :class:`LowMemMode`.

    Takes theano.function's arguments plus lowmem's options; `mode`, if
    given, must be a LowMemMode (its options win). `example_inputs`:
    values or shape tuples for `inputs`, in order; the function is then
    planned at compile time instead of on its first call. `share_storage`:
    arrays of equal shape with disjoint lifetimes share storage.
    """
    import theano
    if mode is None:
        linker = LowMemLinker(time_limit=time_limit, memory_limit=memory_limit,
                              example_inputs=example_inputs, share_storage=share_storage)
        mode = LowMemMode(linker=linker)
    elif not isinstance(mode, LowMemMode):
        raise TypeError(f"lowmem.theano.function needs a LowMemMode, got {mode!r}")
    elif example_inputs is not None:
        raise ValueError("give example_inputs or a mode, not both")
    return theano.function(inputs, outputs, mode=mode, **kwargs)
