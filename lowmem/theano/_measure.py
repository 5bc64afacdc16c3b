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

The measurement protocol
------------------------
What the model predicts is the memory of the VM's run over its graph; a
Theano call also does things around it. To compare like with like:

1. Measure a call after the first (after the second with storage
   sharing, whose first planned call makes the arrays it then keeps). A
   LowMemMode function's first call records sizes and each node's
   workspace, and runs in toposort order, not the planned one;
   ``measure_call`` warns if it is given that call. In the default mode
   the first call is also where one-off allocations happen.
2. Pass arrays of the input's exact dtype. ``Function`` converts any other
   argument (``allow_input_downcast``, lists, scalars) into a new array, and
   copies an argument that shares memory with another when the graph may
   overwrite one of them: real allocations of the call that the model,
   which counts graph inputs as free, does not see.
3. Nothing is carried between calls but a few tiny arrays: Theano's
   ``Function`` empties its output cells after each call when the VM has
   ``allow_gc`` (both the LowMemVM and the default C VM do), every
   intermediate cell is emptied during the call, and ``no_recycling``
   cells are emptied before it. The results of the previous call are the
   caller's: held, they are part of the starting level, not of the peak.
   With storage sharing the LowMemVM keeps arrays of at most 64 bytes
   (shape arithmetic) for the next call when that does not raise the peak
   (``kept_between_calls`` bytes, also in the starting level); measure a
   call after the second, when they exist.

Findings (Theano 1.0.5, NumPy 1.23.5, Python 3.11, ``blas.ldflags=``)
---------------------------------------------------------------------
Each graph compiled twice from the same builder (the test models of
tests/test_theano_equal.py at a few MiB, float64), once with LowMemMode and
once with ``theano.function`` and no mode (Theano's C VM); a call after the
first, the smallest of 3 measurements; modelled = ``modelled_peaks(f)``
(``lowmem`` for LowMemMode, ``default_vm_theano`` for the C VM):

    graph             nodes   LowMemMode: model B  meas/model   C VM: model B  meas/model
    MLP train step      26      6,294,288           1.0003       8,412,944      1.0002
    convnet forward      8      2,983,456           1.0004       2,983,456      1.0002
    convnet train       55      7,340,056           1.0003       8,031,272      1.0003
    scan RNN forward    24      1,230,936           1.0016       1,230,936      1.0016
    alloc + repeats     10      6,295,552           1.0003       6,295,552      1.0003
    ifelse + multi       7      8,388,624           1.0004       8,388,624      1.0004
    profiler graph      11      4,210,880           1.0004       4,210,880      1.0003
    U-Net train step   527     25,550,540           1.0008      30,821,564      1.0006

(the U-Net is ``lowmem.theano._models``' float32 training step, as run by
``lowmem demo``; the others float64.)

The excess, 1–4 KiB a call, is Python objects (the results list, array
headers). Workspace is essential to these figures: the MLP step has 4.1 MiB
of it (4 MiB at the peak step: the NumPy-C-API Gemm's product buffer,
Theano having no BLAS library), the convnets 1.1–2.4 MiB (CorrMM's im2col
buffers). Without it the same orders model 4,216,840 B for the MLP step
(measured 1.49x that) and 2,621,440 B for the convnet forward (1.14x). So
both modes match the model to 0.2% on these graphs, as long as none of the
following applies.

Where model and run disagree (a–c are tests in tests/test_theano_measure.py;
a and b need changes outside this module, the tests are strict xfails):

a. **A declared view that copies** (linker.py/translate.py). ``Reshape``
   declares ``view_map {0: [0]}`` but copies an input that is not
   C-contiguous (after a transposing DimShuffle; a scan gradient has
   several). The recording counts the copy as the node's workspace and the
   translation as a view, so the model frees nothing for it while the copy
   lives on beside its input. ``sort(exp(a).T.reshape(-1))`` with
   ``exp(a).sum()``, a 512×512: LowMemMode measured 6,295,952 B against
   4,195,776 B modelled (1.50), the C VM 6,295,552 B against 4,195,776 B;
   scan RNN gradient (132 nodes): 3,117,104 B against 2,498,984 B (1.25)
   in both modes. With the recording checking each aliased output against
   its input (``numpy.may_share_memory``) and the translation dropping the
   aliases that were copies, both match: 4,198,808 / 4,194,312 and
   6,295,552 / 6,291,456 (1.001); scan gradient 2,503,036 / 2,498,996
   (1.0016) and, C VM, 3,116,720 / 3,113,384 (1.0011). lowmem's order then
   really beats the C VM's (by 33% and 20%); before, it did not at all.
b. **The C VM visits a node's ``orderings`` predecessors first**
   (orders.py). Theano's CVM (``lazylinker_c.c``, ``lazy_rec_eval``) runs a
   node's destroy-handler prerequisites (sorted by position) before its
   inputs; ``dfs_postorder`` visits them after the inputs, so for graphs
   with in-place ops it can model a different order from the one the C VM
   runs. In-place test graph (17 nodes, 512×512): C VM measured
   10,498,312 B, ``dfs_postorder`` modelled 12,587,008 B (0.83), the
   prerequisites-first order 10,496,744 B (1.0001). A reader of an
   in-place op's target with 18 MB of workspace: 21,105,128 B measured,
   23,201,600 B modelled (0.91), 21,104,448 B prerequisites first. The
   default C VM figures in reports (and "saves X against the default C VM")
   are overstated on such graphs until orders.py is fixed.
c. **The C VM keeps outputs nothing reads until the call ends**: it frees
   a variable when a reader of it runs, and clears the rest when the call
   ends, whereas the model (rule 3) and the LowMemVM free such a buffer
   right after its node. ``default_vm_theano`` models the C VM so
   (``theano_vm_graph``: those outputs pinned); it differs from
   ``default_vm`` only when some node has such an output. ``eigh`` with only
   the eigenvalues used (400×400): C VM measured 2,561,528 B,
   ``default_vm`` 1,283,200 B (2.00), ``default_vm_theano`` 2,560,008 B
   (1.0006). The MLP's unused argmax output of
   ``CrossentropySoftmaxArgmax1HotWithBias`` adds 1 KiB the same way.
d. **ifelse**. The C VM is lazy: it computes only the branch taken, the
   model (and LowMemMode) both, so a default-mode call measures less than
   modelled (0.67 on a graph whose branches allocate 4 MiB each).
   LowMemMode: ``IfElse{inplace}`` declares its outputs views of the true
   branch, but returns a copy of the false branch; the model follows the
   branch the recording call took. Recorded on a true condition, a call
   taking the false branch measured 1.50× the model (recorded on a false
   one, 0.67× on true calls). With fix (a), a false-branch recording
   counts the copy (safe side); a translation that always counts an
   IfElse output as a buffer of its own would be safe whatever the branch.
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
    peak counter).
    """
    vm = _lowmem_vm(f)
    if vm is not None and not vm.recorded:
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
                       ``lowmem._orders.dfs_postorder`` gives it (see
                       finding b for graphs with in-place ops)
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
    (its plan's graph, with the recorded sizes and workspace)."""
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
    use :func:`measure_call` for the peak of an ordinary call.
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
