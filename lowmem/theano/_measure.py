"""Measure a Theano call's peak memory and compare it with lowmem's model.

    m = measure_call(f, x, y)          # m.peak: bytes above the start, m.results
    p = modelled_peaks(f)              # f compiled with LowMemMode, called once
    p.lowmem                           # what a LowMemMode call of f should measure
    p.default_vm_theano                # what theano.function(same graph) should
                                       # measure (Theano's default C VM)
    s = measure_steps(f, x, y)         # per step, measured and modelled

How a call is measured (``measure_call``)
------------------------------------------
NumPy registers its array data with tracemalloc (domain 389047), and Theano's
C thunks allocate their outputs through NumPy, so tracemalloc sees every
array a call creates. ``measure_call`` reads the traced bytes just before the
call, lets the call run, and returns the high-water mark during the call
minus that starting level (``peak``) and what is still allocated after it
(``retained``: the results, new shared values).

- No session running: it starts one (1 frame), measures, stops it. Memory
  allocated before the call is not traced then, and freeing it during the
  call does not lower the count.
- The caller's session running: it is used and left running, with all its
  traces. The only way to read the peak of an interval is
  ``tracemalloc.reset_peak()``, which also resets the caller's peak
  counter; so afterwards, if the caller's earlier peak was higher than
  anything reached since, the counter is pushed back up to it with an
  untouched ``numpy.empty`` block (virtual memory, no pages touched) freed
  at once. The caller's ``get_traced_memory()[1]`` then reads what it would
  have without the measurement, to within a few hundred bytes. (If that
  block cannot be allocated, the counter is left reset and a warning says
  so.)
- ``gc.collect()`` runs before the call and the cyclic collector is paused
  during it (its previous state restored), so collecting unrelated garbage
  cannot move the figures.

Measure a call after the first (after the second with storage sharing), with
inputs of the exact dtype; the protocol, the measured figures and the
disagreements found (and fixed) are in docs/measurements.md.
"""

import gc
import time
import tracemalloc
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .. import _model as model
from .._graph import Graph
from .._orders import dfs_postorder


# ------------------------------------------------------------------ tracing
class _Tracer:
    """The traced peak of a stretch of code, relative to its start."""

    def __init__(self):
        self.own = not tracemalloc.is_tracing()
        self.outer_peak = 0
        self.start = 0
        self.max_peak = 0          # highest absolute traced peak seen while open

    def open(self):
        if self.own:
            tracemalloc.start(1)
        current, self.outer_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        self.start = current
        self.max_peak = current

    def mark(self):
        """Reset the peak counter (for a new interval); returns current bytes."""
        current, peak = tracemalloc.get_traced_memory()
        self.max_peak = max(self.max_peak, peak)
        tracemalloc.reset_peak()
        return current

    def read(self):
        """(current, peak) in absolute traced bytes since the last mark."""
        current, peak = tracemalloc.get_traced_memory()
        self.max_peak = max(self.max_peak, peak)
        return current, peak

    def close(self):
        if self.own:
            tracemalloc.stop()
            return
        current, peak = tracemalloc.get_traced_memory()
        self.max_peak = max(self.max_peak, peak)
        if self.outer_peak > self.max_peak:
            _raise_peak_counter(self.outer_peak, current)


def _raise_peak_counter(target, current):
    """Push tracemalloc's peak counter (reset by reset_peak) back up to
    `target`, the caller's earlier peak: allocate and free an untouched
    NumPy block that takes the traced level there."""
    try:
        probe = np.empty(1, dtype=np.uint8)
        overhead = tracemalloc.get_traced_memory()[0] - current - 1
        del probe
        size = target - tracemalloc.get_traced_memory()[0] - max(overhead, 0)
        if size > 0:
            np.empty(size, dtype=np.uint8)      # allocated, counted, freed at once
    except MemoryError:
        warnings.warn("measure_call could not restore the peak of the running tracemalloc "
                      "session (reset by tracemalloc.reset_peak)", RuntimeWarning, stacklevel=4)


@contextmanager
def _quiet_gc():
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class CallMeasurement:
    """One call, measured with tracemalloc (bytes; see the module docstring).

    peak        high-water mark of traced bytes during the call, above the
                level when it started
    retained    traced bytes after the call, above that level (results,
                new shared values, caches)
    before      the starting level (0 when measure_call started tracing)
    results     what the call returned
    seconds     wall-clock time of the call
    own_session True when measure_call started (and stopped) tracemalloc
    """
    peak: int
    retained: int
    before: int
    results: object
    seconds: float
    own_session: bool


def _lowmem_vm(f):
    """The LowMemVM of a compiled Theano function, or None."""
    from ._linker import LowMemVM
    vm = getattr(f, "fn", None)
    return vm if isinstance(vm, LowMemVM) else None


def measure_call(f, *args, **kwargs):
    """Call ``f(*args, **kwargs)`` once under tracemalloc.

    Returns a :class:`CallMeasurement`; ``.peak`` is the peak memory
    allocated during the call above what was allocated before it,
    ``.results`` what ``f`` returned. A running tracemalloc session is used
    and left running (see the module docstring for what happens to its
    peak counter). Costs the call under tracemalloc (which traces every
    allocation, ~2x slower) plus one ``gc.collect()``.
    """
    vm = _lowmem_vm(f)
    if vm is not None and not vm.recorded and not vm.cached_variants:
        warnings.warn("measure_call on the first call of a LowMemMode function: that call "
                      "records sizes and runs in toposort order, not the planned one; call the "
                      "function once before measuring it",
                      RuntimeWarning, stacklevel=2)
    tracer = _Tracer()
    with _quiet_gc():
        tracer.open()
        try:
            t0 = time.perf_counter()
            results = f(*args, **kwargs)
            seconds = time.perf_counter() - t0
            current, peak = tracer.read()
        finally:
            tracer.close()
    return CallMeasurement(peak=int(peak - tracer.start), retained=int(current - tracer.start),
                           before=int(tracer.start), results=results, seconds=seconds,
                           own_session=tracer.own)


# ------------------------------------------------------------------- model
def plan_of(f):
    """The lowmem Plan of a LowMemMode function; a clear error otherwise."""
    vm = getattr(f, "fn", None)
    if vm is None or not hasattr(f, "maker"):
        raise TypeError(f"expected a compiled Theano function (theano.function(...)), "
                        f"got {type(f).__name__}")
    if _lowmem_vm(f) is None:
        raise TypeError("this function was not compiled with lowmem: use "
                        "theano.function(..., mode=lowmem.theano.LowMemMode()) "
                        f"(its VM is {type(vm).__name__})")
    if not vm.recorded:
        raise RuntimeError("this LowMemMode function has not been called yet: its first call "
                           "records sizes and plans the order; call it once first")
    if vm.plan is None:
        reason = getattr(vm, "plan_error", None)
        raise RuntimeError("lowmem could not schedule this function, so it runs in Theano's "
                           "toposort order and has no plan"
                           + (f" ({reason})" if reason else " (see the warning of its "
                                                              "first call)"))
    return vm.plan


def unread_outputs(graph):
    """Variables a node produces that no node reads and that are not graph
    outputs (the model frees them at once; Theano's C VM at the call's end)."""
    read = set(int(v) for v in graph.in_idx)
    outs = set(int(v) for v in graph.outputs)
    return [v for v in range(graph.n_vars)
            if graph.var_producer[v] >= 0 and v not in read and v not in outs]


def theano_vm_graph(graph):
    """`graph` as Theano's C VM holds memory: outputs nothing reads stay
    until the call ends, i.e. count as graph outputs. `graph` itself when
    it has none."""
    unread = unread_outputs(graph)
    if not unread:
        return graph
    d = graph.to_dict()
    d["outputs"] = list(d["outputs"]) + unread
    return Graph.from_dict(d)


@dataclass
class ModelledPeaks:
    """What lowmem's memory model predicts for a function's calls (bytes).

    lowmem             the plan's order, with its storage plan when storage
                       is shared: what a LowMemMode call (after the first)
                       measures above its starting level
    lowmem_order       the plan's order alone (the schedule's peak)
    kept_between_calls bytes of small arrays the VM keeps from one call to
                       the next (in the starting level of a call)
    toposort           Theano's listed order, fgraph.toposort()
    default_vm         the depth-first order of Theano's default C VM
                       (``theano.function`` without a mode), as
                       ``lowmem._orders.dfs_postorder`` gives it
                       (destroy-handler prerequisites first, as the C VM)
    default_vm_theano  the same order with the C VM's handling of outputs
                       nothing reads (kept until the call ends): what a
                       default-mode call measures; == default_vm unless
                       some node has such an output
    lower_bound, optimal  from the schedule
    workspace          total workspace in the graph (0 if not measured)
    workspace_measured whether the recording measured workspace
    """
    lowmem: int
    lowmem_order: int
    kept_between_calls: int
    toposort: int
    default_vm: int
    default_vm_theano: int
    lower_bound: int
    optimal: bool
    workspace: int
    workspace_measured: bool


def modelled_peaks(f):
    """Modelled peaks of a LowMemMode function `f` that has been called once
    (its plan's graph, with the recorded sizes and workspace).
    O(nodes + edges): a depth-first order and two evaluations of the model."""
    plan = plan_of(f)
    graph = plan.translation.graph
    s = plan.schedule
    dfs = dfs_postorder(graph)
    return ModelledPeaks(
        lowmem=int(plan.call_peak), lowmem_order=int(s.peak),
        kept_between_calls=int(plan.storage.retained) if plan.storage is not None else 0,
        toposort=int(s.default_peak),
        default_vm=model.peak(graph, dfs),
        default_vm_theano=model.peak(theano_vm_graph(graph), dfs),
        lower_bound=int(s.lower_bound), optimal=bool(s.optimal),
        workspace=int(np.sum(graph.node_workspace)),
        workspace_measured=bool(plan.workspace_measured))


# -------------------------------------------------------------- per step
@dataclass
class StepMeasurement:
    """One LowMemMode call measured node by node, beside the model.

    nodes     Apply nodes in execution order
    measured  per step: traced peak while the node ran, above the level
              when the first node started (the model's "memory of step t")
    modelled  per step: lowmem.memory_timeline of the plan's order, or with
              storage sharing the storage plan's timeline (cells held for
              reuse counted, kept arrays in the starting level)
    after     per step: traced bytes when the node returned (before the VM
              emptied the cells it frees after it)
    results   what the call returned
    """
    nodes: list
    measured: np.ndarray
    modelled: np.ndarray
    after: np.ndarray
    results: object = None

    @property
    def peak(self):
        return int(self.measured.max()) if len(self.measured) else 0

    def largest_differences(self, k=5):
        """[(step, measured - modelled, node)] for the k largest |differences|."""
        diff = self.measured - self.modelled
        steps = np.argsort(-np.abs(diff), kind="stable")[:k]
        return [(int(t), int(diff[t]), self.nodes[t]) for t in steps]


def measure_steps(f, *args, **kwargs):
    """Call a planned LowMemMode function once, measuring every node.

    The thunks are wrapped for this one call (and restored after it); the
    step figures are relative to the traced level when the first node
    starts, so they compare directly with ``memory_timeline`` of the
    plan's order. The aim is to find where model and program disagree;
    use :func:`measure_call` for the peak of an ordinary call. Costs the
    call under tracemalloc plus O(1) per node (and the model's timeline,
    O(nodes + edges)).
    """
    plan = plan_of(f)
    vm = f.fn
    n = len(vm.thunks)
    measured = np.zeros(n, dtype=np.int64)
    after = np.zeros(n, dtype=np.int64)
    tracer = _Tracer()
    base = []

    def wrap(i, thunk):
        def run():
            current = tracer.mark()
            if not base:
                base.append(current)
            thunk()
            cur, peak = tracer.read()
            measured[i] = peak - base[0]
            after[i] = cur - base[0]
        return run

    original = vm.thunks
    with _quiet_gc():
        tracer.open()
        try:
            vm.thunks = [wrap(i, t) for i, t in enumerate(original)]
            results = f(*args, **kwargs)
        finally:
            vm.thunks = original
            tracer.close()
    if plan.storage is not None:
        # Cells held for reuse count; kept arrays are in the starting level.
        modelled = plan.storage.timeline - plan.storage.retained
    else:
        modelled = model.memory_timeline(plan.translation.graph, plan.schedule.order)
    return StepMeasurement(list(vm.nodes), measured, modelled, after, results)
