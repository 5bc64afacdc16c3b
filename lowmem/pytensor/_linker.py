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
order, with a warning. With ``plan_cache=True`` (a linker option, off by
default) the first call looks the plan up in lowmem's plan cache first
(_cache.py): a hit skips the recording call and the search.
"""

import time
import warnings

from pytensor.link.basic import Container
from pytensor.link.numba.linker import NumbaLinker
from pytensor.link.utils import map_storage
from pytensor.link.vm import VMLinker

from .. import _model, _scheduler
from .._scheduler import DEFAULT_MEMORY_LIMIT
from ._exact_release import _ExactReleaseNumbaLinker
from ._record import numba_copies, record
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
            t0 = time.perf_counter()
            try:
                return self._run()
            finally:
                if self.plan is not None:   # the first run: Numba compiles its code here
                    self.plan.first_run_seconds = time.perf_counter() - t0
        return self._run()

    def __getattr__(self, name):
        run = self.__dict__.get("_run")
        if run is None:
            raise AttributeError(name)
        return getattr(run, name)


# The search's order runs only when its modelled peak is below PyTensor's
# listed order's by at least this share of it and these bytes.
MIN_SAVING_RATIO = 0.01
MIN_SAVING_BYTES = 64 * 1024


def worth_running(order_peak, listed_peak):
    """Whether an order whose modelled peak is `order_peak` is worth running
    instead of PyTensor's listed order (`listed_peak`): it must save at least
    MIN_SAVING_RATIO of the listed peak and MIN_SAVING_BYTES. A smaller
    saving is within what the model does not see (allocations below the
    allocator's mmap threshold, page rounding: measured, a few KiB per
    buffer), so another order could measure above PyTensor's own (zoo:rnn:
    24 bytes saved in the model, 57 KB more measured), and it may change
    speed for nothing."""
    saving = listed_peak - order_peak
    return saving >= MIN_SAVING_BYTES and saving >= MIN_SAVING_RATIO * listed_peak


class _LowMemLinking:
    """What both lowmem linkers add to their backend's linker."""

    def _setup(self, time_limit, memory_limit, plan_cache=False, cache_dir=None):
        self.time_limit = time_limit
        self.memory_limit = memory_limit
        self.plan_cache = bool(plan_cache)
        self.cache_dir = cache_dir

    def _settings(self):
        return {"time_limit": self.time_limit, "memory_limit": self.memory_limit,
                "allow_gc": self.allow_gc, "plan_cache": self.plan_cache,
                "cache_dir": self.cache_dir}

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
        values = [cell[0] for cell in input_storage]
        cached = None
        if self.plan_cache:             # a hit: no recording call, no search
            from ._cache import Lookup
            t0 = time.perf_counter()
            cached = Lookup(self.cache_dir, fgraph, nodes, values)
            cache_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        try:
            if cached is not None and cached.hit:
                t_recorded = t1 = t0
                translation, schedule = cached.translation, cached.schedule
                copies = cached.copies
            else:
                workspace = {} if self.record_impl is None else None
                copies = set()
                sizes, shapes = record(fgraph, nodes, values, impl=self.record_impl,
                                       workspace=workspace, copies=copies,
                                       copies_here=self.copies_here)
                t_recorded = time.perf_counter()
                translation = graph_from_fgraph(fgraph, sizes, shapes, workspace, nodes=nodes,
                                                copies=copies)
                t1 = time.perf_counter()
                schedule = _scheduler.schedule(translation.graph, time_limit=self.time_limit,
                                               memory_limit=self.memory_limit)
        except Exception as e:          # any failure: PyTensor's own order
            warnings.warn(f"lowmem: PyTensor's order kept for this function: "
                          f"{type(e).__name__}: {e}", LowMemWarning, stacklevel=4)
            return None
        # Run PyTensor's own order unless the search's saves a real amount
        # under the model (worth_running). Both backends release each value
        # at its last reader, as the model has it.
        order_ids = list(schedule.order)
        listed_ids = list(range(len(nodes)))        # translation.nodes is `nodes`
        listed_peak = _model.peak(translation.graph, listed_ids)
        order_peak = schedule.peak
        if not worth_running(order_peak, listed_peak):
            order_ids, order_peak = listed_ids, listed_peak
        vm.plan = LowMemPlan(translation=translation, schedule=schedule, order_ids=order_ids,
                             peak=order_peak, listed_peak=listed_peak, copies=copies,
                             record_seconds=t_recorded - t0,
                             schedule_seconds=time.perf_counter() - t1,
                             translate_seconds=t1 - t_recorded)
        if cached is None or not cached.hit:        # the VM's recording measures scratch
            vm.plan.workspace_measured = self.record_impl is None
        if cached is not None:
            t0 = time.perf_counter()
            if cached.hit:
                vm.plan.source, vm.plan.cache_key = "cache", cached.key
            elif cached.store(vm.plan):
                vm.plan.cache_key = cached.key
            vm.plan.cache_seconds = cache_seconds + time.perf_counter() - t0
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
        t0 = time.perf_counter()
        try:
            return backend.make_all(input_storage=input_storage,
                                    output_storage=output_storage,
                                    storage_map=storage_map)[0]
        finally:
            for cell, value in zip(input_storage, held):
                cell[0] = value
            if vm.plan is not None:
                vm.plan.link_seconds = time.perf_counter() - t0


class LowMemPlan:
    """What the first call of a LowMemMode function decided.

    translation  _bridge.Translation (the graph, sizes of that call)
    schedule     lowmem.Schedule (the search's best order under the model)
    order_ids    the node ids run: schedule.order when it saves enough
                 under the model (worth_running), else the listed order
    peak         lowmem.peak of order_ids: what a call should measure
    listed_peak  the same for PyTensor's own (listed) order
    copies       the (node, output) pairs that declare a view but copied (on
                 the recording call, or as stored in the plan cache): counted
                 as buffers of their own

    Seconds the first call spent on lowmem's work (compile overhead):
    record_seconds     the recording call (sizes and shapes)
    translate_seconds  the FunctionGraph's translation to a lowmem.Graph
    schedule_seconds   the search (schedule.stats["seconds"]) and the choice
                       of the order run
    link_seconds       linking the backend in that order (PyTensor's own
                       linking, deferred to the first call; None until done)
    first_run_seconds  the first run of the linked function (Numba compiles
                       its generated code on it; None until done)

    cache_seconds      the plan cache's work (the key, loading the entry or
                       storing the plan); 0 when the cache is off

    source       "recorded", or "cache" when the sizes and the order came from
                 the plan cache (linker option plan_cache=True: no recording
                 call, no search, no translation)
    cache_key    the function's plan-cache key, when cached
    """

    workspace_measured = False      # workspace measured (as lowmem.theano's Plan)

    def __init__(self, translation, schedule, order_ids, peak, listed_peak, copies,
                 record_seconds, schedule_seconds, translate_seconds=0.0):
        self.translation = translation
        self.schedule = schedule
        self.order_ids = order_ids
        self.copies = frozenset(copies)
        self.peak = peak
        self.listed_peak = listed_peak
        self.record_seconds = record_seconds
        self.schedule_seconds = schedule_seconds
        self.translate_seconds = translate_seconds
        self.link_seconds = None
        self.first_run_seconds = None
        self.cache_seconds = 0.0
        self.source = "recorded"
        self.cache_key = None

    @property
    def order(self):
        """The Apply nodes, in the order the function runs them."""
        return [self.translation.nodes[i] for i in self.order_ids]


class LowMemNumbaLinker(_LowMemLinking, NumbaLinker):
    """PyTensor's Numba linker, its generated function's statements in
    lowmem's order (chosen on the first call), compiled so that it releases
    each value right after its last reader (_ExactReleaseNumbaLinker)."""

    record_impl = "py"      # its code is not the ops' Python or C code: no workspace measured
    copies_here = staticmethod(numba_copies)    # where its code copies a declared view

    def __init__(self, time_limit=1.0, memory_limit=DEFAULT_MEMORY_LIMIT, allow_gc=None,
                 plan_cache=False, cache_dir=None):
        super().__init__(allow_gc=allow_gc)
        self._setup(time_limit, memory_limit, plan_cache, cache_dir)

    def _backend(self, schedule):
        return _ExactReleaseNumbaLinker(allow_gc=self.allow_gc, schedule=schedule)


class LowMemVMLinker(_LowMemLinking, VMLinker):
    """PyTensor's Python loop VM (the C VM evaluates depth-first from the
    outputs and would ignore the order), thunks run in lowmem's order and
    values freed after their last use."""

    record_impl = None      # record with the VM's own (C) thunks, measuring their scratch
    copies_here = None      # its thunks' outputs show their copies themselves

    def __init__(self, time_limit=1.0, memory_limit=DEFAULT_MEMORY_LIMIT, allow_gc=None,
                 plan_cache=False, cache_dir=None):
        super().__init__(allow_gc=True if allow_gc is None else allow_gc, use_cloop=False)
        self._setup(time_limit, memory_limit, plan_cache, cache_dir)

    def _backend(self, schedule):
        return VMLinker(allow_gc=self.allow_gc, use_cloop=False, schedule=schedule)
