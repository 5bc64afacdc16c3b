"""``LowMemMode`` and ``lowmem.theano.function``."""

import inspect
import time

from theano.compile.mode import Mode

from ._linker import LowMemLinker
from ._options import OPTION_NAMES, check_names, make_options


class LowMemMode(Mode):
    """A Theano compilation mode that runs functions in lowmem's order.

    Use it as ``theano.function(..., mode=LowMemMode())``. Graph
    optimisations are Theano's usual ones (``optimizer``); the linker builds
    the usual C thunks and runs them from a compiled loop in the order with
    the lowest peak memory, learned on each function's first call and kept
    in the plan cache for later compiles (see lowmem.theano._linker). One
    instance may compile any number of functions: each gets a linker of
    its own.

    Options are keywords (or a :class:`LowMemOptions`, `options`, which
    keywords then override); an unknown one raises TypeError naming it:

    time_limit : float or None
        Seconds the scheduler may spend on each function (on its first
        call); None (default): 10% of the time Theano took to compile it,
        at least 20 ms and at most 1 s.
    memory_limit : int
        Bytes the scheduler's search may use (default 256 MiB).
    tolerance_bytes, tolerance_ratio : stop the search this close to the
        lower bound (default 4 KiB or 0.01%).
    share_storage : bool, default True
        Apply a storage plan: an array whose variable is dead is handed to
        a later variable of the same dtype and symbolic shape, whose op
        writes into it instead of allocating (lowmem.theano._sharing).
    keep_bytes, keep_allowance, name, example_inputs, c_thunks, plan_cache,
    cache_dir : see
        LowMemOptions.

    optimizer : Theano optimizer or name, default Theano's configured one.
    linker : a LowMemLinker to use instead of options (Theano's Mode.clone
        passes it).

    Lazy ops (``ifelse``) run eagerly in this mode, as in any non-lazy Theano
    VM: both branches are computed and the order accounts for both.
    """

    def __init__(self, *, optimizer="default", linker=None, options=None, **option_values):
        if linker is None:
            linker = LowMemLinker(make_options("LowMemMode", options, **option_values))
        elif not isinstance(linker, LowMemLinker):
            raise TypeError(f"LowMemMode needs a LowMemLinker, got {type(linker).__name__}")
        elif options is not None or option_values:
            raise TypeError("LowMemMode: give options or a linker, not both")
        super().__init__(linker=linker, optimizer=optimizer)

    @property
    def options(self):
        """The LowMemOptions every function compiled in this mode gets."""
        return self.linker.options

    @property
    def optimizer(self):
        # Theano's FunctionMaker fetches the optimizer, then copies the
        # linker, at the start of every compilation: the stamp lets an
        # "auto" time limit be a share of this function's compile time.
        self.linker.compile_started = time.perf_counter()
        return Mode.optimizer.fget(self)

    def __str__(self):
        return f"LowMemMode({self.linker.options}, optimizer={self.provided_optimizer})"


def function(inputs, outputs=None, mode=None, **kwargs):
    """``theano.function`` compiled with :class:`LowMemMode`.

    Takes theano.function's arguments plus lowmem's options (those of
    LowMemMode, e.g. `time_limit`, `share_storage`, `example_inputs`:
    values or shape tuples for `inputs`, in order, to plan the function at
    compile time instead of on its first call). `name` is both Theano's
    and the name in lowmem's report. `mode`, if given, must be a
    LowMemMode and then carries the options: giving options too is an
    error, and so is any unknown keyword (TypeError naming it).
    """
    import theano
    theano_args = set(inspect.signature(theano.function).parameters) - {"mode"}
    check_names("lowmem.theano.function", kwargs, set(OPTION_NAMES) | theano_args)
    option_values = {k: kwargs.pop(k) for k in list(kwargs)
                     if k in OPTION_NAMES and k not in theano_args}
    if mode is None:
        mode = LowMemMode(options=make_options("lowmem.theano.function",
                                               name=kwargs.get("name"), **option_values))
    elif not isinstance(mode, LowMemMode):
        raise TypeError(f"lowmem.theano.function needs a LowMemMode, got {mode!r}")
    elif option_values:
        raise TypeError("lowmem.theano.function: give lowmem options ("
                        + ", ".join(sorted(option_values)) + ") or a mode, not both")
    return theano.function(inputs, outputs, mode=mode, **kwargs)
