"""Run Theano functions in lowmem's minimum-peak-memory order.

    import lowmem.theano as lt
    f = theano.function(inputs, outputs, mode=lt.LowMemMode())
    f(*args)            # the first call records sizes; then the lowmem order runs
    print(lt.report(f))

Options: ``LowMemMode(time_limit=..., share_storage=...)`` or
``LowMemMode(options=lt.LowMemOptions(...))``; an unknown one raises
TypeError. ``lt.AllocationCounter`` / ``lt.count_allocations`` count NumPy
array-data allocations (what the linker measures workspace with).

Importing this module makes Theano 1.0.5 work on Python 3.11 (it sets the
``blas.ldflags`` flag's default before Theano is first imported, leaving
flags the user set alone).
"""

from ._env import prepare_theano

prepare_theano()

from ._allocations import AllocationCounter, count_allocations  # noqa: E402
from ._linker import LowMemLinker, LowMemVM, Plan  # noqa: E402
from ._measure import measure_call, measure_steps, modelled_peaks  # noqa: E402
from ._mode import LowMemMode, function  # noqa: E402
from ._options import LowMemOptions  # noqa: E402
from ._report import Report, report  # noqa: E402
from ._translate import Translation, graph_from_fgraph  # noqa: E402

__all__ = ["LowMemMode", "LowMemOptions", "LowMemLinker", "LowMemVM", "Plan", "function",
           "graph_from_fgraph", "Translation", "measure_call", "measure_steps",
           "modelled_peaks", "Report", "report", "AllocationCounter", "count_allocations"]
