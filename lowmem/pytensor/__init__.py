"""lowmem for PyTensor (Theano's maintained successor, PyMC's engine).

    import lowmem.pytensor as lp
    f = pytensor.function(inputs, outputs, mode=lp.LowMemMode())
    f(*values)                      # first call: records sizes, plans, links
    lp.plan(f).schedule.peak        # what the plan decided
    lp.measure_call(f, *values)     # (bytes allocated at the call's peak, result)
    print(lp.report(f))             # the memory report (report(f, plot="m.png"))

The FunctionGraph translation is lowmem._bridge's, shared with
lowmem.theano; this package adds PyTensor's adapter (_translate.py), the
recording call (_record.py), the linkers that apply the order
(_linker.py: Numba, the default, and the Python loop VM) and a measure of
what a call really allocates (_measure.py) and the memory report
(_report.py, its text and plot shared with lowmem.theano's). The plan
cache (lowmem._plan_cache, with PyTensor's adapter in _cache.py) is a
linker option, off by default:
``LowMemMode(linker=LowMemNumbaLinker(plan_cache=True, cache_dir=None))``.
"""

from ._linker import LowMemNumbaLinker, LowMemPlan, LowMemVMLinker, LowMemWarning
from ._measure import MeasureError, measure_call
from ._mode import LowMemMode
from ._report import Report, report
from ._translate import PYTENSOR, graph_from_fgraph


def plan(f):
    """The LowMemPlan of a LowMemMode function (None before its first call,
    or when it kept PyTensor's order)."""
    vm = getattr(f, "vm", None)
    return getattr(vm, "plan", None) if vm is not None else None


__all__ = ["LowMemMode", "LowMemNumbaLinker", "LowMemVMLinker", "LowMemPlan", "LowMemWarning",
           "MeasureError", "PYTENSOR", "Report", "graph_from_fgraph", "measure_call", "plan",
           "report"]
