"""Linkers that run a PyTensor function in lowmem's order.

PyTensor's Numba linker generates one function whose statements follow the
linker's schedule, and its Python loop VM calls the thunks in that order;
both take the order when the function is linked, before any call, while
lowmem needs the values' sizes to choose it. So these linkers link lazily:
``make_all`` sets up the storage cells the Function binds, and the first
call records the sizes (_record.py), schedules the translated graph
(lowmem.schedule), links the backend's own linker in that order over the
same cells, and runs it; later calls go straight to it. If the recording,
the translation or the search fails, the function runs in PyTensor's own
order, with a warning.
"""

import time
import warnings

from pytensor.link.basic import Container
from pytensor.link.numba.linker import NumbaLinker
from pytensor.link.utils import map_storage
from pytensor.link.vm import VMLinker

from .. import _model, _scheduler
from .._scheduler import DEFAULT_MEMORY_LIMIT
from ._record import record
from ._translate import graph_from_fgraph


class LowMemWarning(UserWarning):
    """lowmem could not plan a PyTensor function and left its order alone."""


class _Linked:
    """The Function's `vm`: on the first call, plan and link; then run the
    linked backend. Attributes the Function reads (allow_gc, storage_map,
    and after linking the backend's own, e.g. position_of_error) are
    passed through."""

    def __init__(self, linker, input_storage, output_storage, storage_map):
        self._linker = linker
        self._cells = (input_storage, output_storage, storage_map)
        self._run = None
        self.allow_gc = linker.allow_gc
        self.storage_map = storage_map
        self.plan = None            # what the first call decided (LowMemPlan)

    def __call__(self):
        if self._run is None:
            self._run = self._linker._link_in_order(self, *self._cells)
        return self._run()

    def __getattr__(self, name):
        run = self.__dict__.get("_run")
        if run is None:
            raise AttributeError(name)
        return getattr(run, name)


class _LowMemLinking:
    """What both lowmem linkers add to their backend's linker."""

    def _setup(self, time_limit, memory_limit):
        self.time_limit = time_limit
        self.memory_limit = memory_limit

    def _settings(self):
        return {"time_limit": self.time_limit, "memory_limit": self.memory_limit,
                "allow_gc": self.allow_gc}

    def accept(self, fgraph, no_recycling=None, profile=None):
        # A Mode's linker is reused for every function: a second graph gets
        # a new linker with the same settings (the base class would drop them).
        if self.fgraph is not None and self.fgraph is not fgraph:
            return type(self)(**self._settings()).accept(fgraph, no_recycling, profile)
        return super().accept(fgraph, no_recycling, profile)

    def make_all(self, input_storage=None, output_storage=None, storage_map=None, **_):
        # (VMLinker.make_all also takes a profiler: not used here.)
        fgraph = self.fgraph
        nodes = fgraph.toposort()
        input_storage, output_storage, storage_map = map_storage(
            fgraph, nodes, input_storage, output_storage, storage_map)
        vm = _Linked(self, input_storage, output_storage, storage_map)
        return (vm,
                [Container(v, s) for v, s in zip(fgraph.inputs, input_storage, strict=True)],
                [Container(v, s, readonly=True)
                 for v, s in zip(fgraph.outputs, output_storage, strict=True)],
                [vm], nodes)

    def _plan(self, vm, input_storage):
        """lowmem's order for this call's inputs, or None (warned)."""
        fgraph = self.fgraph
        nodes = fgraph.toposort()
        t0 = time.perf_counter()
        try:
            sizes, shapes = record(fgraph, nodes, [cell[0] for cell in input_storage])
            translation = graph_from_fgraph(fgraph, sizes, shapes, nodes=nodes)
            t1 = time.perf_counter()
            schedule = _scheduler.schedule(translation.graph, time_limit=self.time_limit,
                                           memory_limit=self.memory_limit)
        except Exception as e:          # any failure: PyTensor's own order
            warnings.warn(f"lowmem: PyTensor's order kept for this function: "
                          f"{type(e).__name__}: {e}", LowMemWarning, stacklevel=4)
            return None
        # The backend's runtime may release values later than the model
        # (release_lag): keep the listed order when, so measured, it is lower.
        order_ids = list(schedule.order)
        listed_ids = list(range(len(nodes)))        # translation.nodes is `nodes`
        listed_peak = _model.peak(translation.graph, listed_ids, self.release_lag)
        order_peak = _model.peak(translation.graph, order_ids, self.release_lag)
        if listed_peak < order_peak:
            order_ids, order_peak = listed_ids, listed_peak
        vm.plan = LowMemPlan(translation=translation, schedule=schedule, order_ids=order_ids,
                             release_lag=self.release_lag, peak=order_peak,
                             listed_peak=listed_peak, record_seconds=t1 - t0,
                             schedule_seconds=time.perf_counter() - t1)
        return [translation.nodes[i] for i in order_ids]

    def _link_in_order(self, vm, input_storage, output_storage, storage_map):
        order = self._plan(vm, input_storage)
        if order is None:
            order = self.fgraph.toposort()
        backend = self._backend(schedule=lambda fgraph, order=order: list(order))
        backend = backend.accept(self.fgraph, self.no_recycling)
        # Link as PyTensor does, with empty input cells: the Numba linker
        # turns an input whose cell holds a value into a constant of the
        # generated code's globals (keeping this call's arrays alive for good).
        held = [cell[0] for cell in input_storage]
        for cell in input_storage:
            cell[0] = None
        try:
            return backend.make_all(input_storage=input_storage,
                                    output_storage=output_storage,
                                    storage_map=storage_map)[0]
        finally:
            for cell, value in zip(input_storage, held):
                cell[0] = value


class LowMemPlan:
    """What the first call of a LowMemMode function decided.

    translation  _bridge.Translation (the graph, sizes of that call)
    schedule     lowmem.Schedule (the search's best order under the model)
    order_ids    the node ids run: schedule.order, or the listed order when
                 the backend's release lag makes that one lower
    release_lag  steps the backend keeps a dead value (Numba: 1, VM: 0)
    peak         lowmem.peak of order_ids with that lag: what a call should
                 measure
    listed_peak  the same for PyTensor's own (listed) order
    """

    def __init__(self, translation, schedule, order_ids, release_lag, peak, listed_peak,
                 record_seconds, schedule_seconds):
        self.translation = translation
        self.schedule = schedule
        self.order_ids = order_ids
        self.release_lag = release_lag
        self.peak = peak
        self.listed_peak = listed_peak
        self.record_seconds = record_seconds
        self.schedule_seconds = schedule_seconds

    @property
    def order(self):
        """The Apply nodes, in the order the function runs them."""
        return [self.translation.nodes[i] for i in self.order_ids]


class LowMemNumbaLinker(_LowMemLinking, NumbaLinker):
    """PyTensor's Numba linker, its generated function's statements in
    lowmem's order (chosen on the first call). Its code releases a value one
    statement after its last reader (measured: lowmem/pytensor/_measure.py)."""

    release_lag = 1

    def __init__(self, time_limit=1.0, memory_limit=DEFAULT_MEMORY_LIMIT, allow_gc=None):
        super().__init__(allow_gc=allow_gc)
        self._setup(time_limit, memory_limit)

    def _backend(self, schedule):
        return NumbaLinker(allow_gc=self.allow_gc, schedule=schedule)


class LowMemVMLinker(_LowMemLinking, VMLinker):
    """PyTensor's Python loop VM (the C VM evaluates depth-first from the
    outputs and would ignore the order), thunks run in lowmem's order and
    values freed after their last use."""

    release_lag = 0

    def __init__(self, time_limit=1.0, memory_limit=DEFAULT_MEMORY_LIMIT, allow_gc=None):
        super().__init__(allow_gc=True if allow_gc is None else allow_gc, use_cloop=False)
        self._setup(time_limit, memory_limit)

    def _backend(self, schedule):
        return VMLinker(allow_gc=self.allow_gc, use_cloop=False, schedule=schedule)
