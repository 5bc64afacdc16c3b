"""A readable memory report of a PyTensor LowMemMode function.

    f = pytensor.function(inputs, outputs, mode=lowmem.pytensor.LowMemMode())
    f(*values)                        # the first call records, plans and links
    r = lowmem.pytensor.report(f)     # or report(f, plot="memory.png")
    print(r)                          # the text report
    r.peak, r.listed_peak, r.steps[3].freed, r.record_seconds ...
    print(r.text(steps=None))         # every step

All peaks are lowmem's memory model (docs/format.md) over the graph of
sizes recorded on the function's first call (both backends release a
value right after its last reader, as the model has it; the Numba backend
because lowmem compiles its code so, lowmem/pytensor/_exact_release.py),
for two orders: the one LowMemMode runs and PyTensor's own listed order
(``fgraph.toposort()``, which PyTensor's default Numba mode runs).
``lowmem.pytensor.measure_call`` measures a call to compare. The report
also gives lowmem's compile overhead: the seconds the first call spent
recording, translating, scheduling and linking (and the first run, on
which Numba compiles its code), beside PyTensor's own compile time when
the function was compiled with ``profile=True`` (or the caller timed it).
The text, the steps and the plot are lowmem._report_common's, shared with
lowmem.theano.report.
"""

from dataclasses import dataclass, field

import numpy as np

from .. import _model as model
from ._linker import MIN_SAVING_BYTES, MIN_SAVING_RATIO
from .._report_common import (DEFAULT_STEPS, ReportText, plan_steps, require_matplotlib,
                              seconds, write_plot as _write_plot)
from .._units import exact_bytes, format_bytes, human_bytes

BACKEND_NAMES = {"LowMemNumbaLinker": "Numba", "LowMemVMLinker": "Python loop VM"}


def plan_of(f):
    """The LowMemPlan of a PyTensor LowMemMode function; a clear error
    otherwise."""
    from ._linker import _Linked
    vm = getattr(f, "vm", None)
    if vm is None or not hasattr(f, "maker"):
        raise TypeError(f"expected a compiled PyTensor function (pytensor.function(...)), "
                        f"got {type(f).__name__}")
    if not isinstance(vm, _Linked):
        raise TypeError("this function was not compiled with lowmem: use "
                        "pytensor.function(..., mode=lowmem.pytensor.LowMemMode()) "
                        f"(its vm is {type(vm).__name__})")
    if vm.__dict__.get("_run") is None:
        raise RuntimeError("this LowMemMode function has not been called yet: its first call "
                           "records sizes and plans the order; call it once first")
    if vm.plan is None:
        raise RuntimeError("lowmem could not schedule this function, so it runs in PyTensor's "
                           "own order and has no plan (see the LowMemWarning of its first call)")
    return vm.plan


def pytensor_compile_seconds(f):
    """{"total", "rewriting", "linking"} seconds PyTensor's profiler
    recorded compiling `f`, or None when `f` was compiled without
    ``profile=True`` (PyTensor keeps no per-function compile time then)."""
    profile = getattr(f, "profile", None)
    if not profile:
        return None
    return {"total": float(getattr(profile, "compile_time", 0.0)),
            "rewriting": float(getattr(profile, "rewriting_time", 0.0)),
            "linking": float(getattr(profile, "linker_time", 0.0))}


@dataclass
class Report(ReportText):
    """Memory report of a planned PyTensor LowMemMode function; ``str()``
    is the text.

    Peaks are bytes under lowmem's model: ``peak`` of the order LowMemMode
    runs (what a call should measure), ``listed_peak`` of PyTensor's own
    order (what PyTensor's default mode runs); ``search_peak`` and
    ``lower_bound`` are the search's.
    ``order_run`` is "search" or "listed" (PyTensor's order is kept unless
    the search's saves enough: _linker.worth_running). Seconds of lowmem's compile overhead: ``record_seconds``,
    ``translate_seconds``, ``search_seconds`` (within ``schedule_seconds``),
    ``link_seconds`` and ``first_run_seconds`` (None when not known);
    ``pytensor_compile``: PyTensor's own compile seconds ({"total",
    "rewriting", "linking"}) or None. ``steps``, ``peak_buffers``,
    ``largest_workspace`` and ``timelines`` as in lowmem.theano.report.
    """
    name: str
    backend: str
    n_nodes: int
    peak: int
    listed_peak: int
    search_peak: int
    toposort_peak: int
    lower_bound: int
    optimal: bool
    timed_out: bool
    order_run: str
    record_seconds: float
    translate_seconds: float
    search_seconds: float
    schedule_seconds: float
    link_seconds: object
    first_run_seconds: object
    pytensor_compile: object
    workspace_measured: bool
    total_workspace: int
    steps: list
    peak_step: int
    peak_buffers: list
    largest_workspace: list
    timelines: dict
    plot: object = None
    notes: list = field(default_factory=list)
    show_steps: int = DEFAULT_STEPS
    source: str = "recorded"        # "cache": sizes and order from the plan cache
    cache_key: str = None
    cache_seconds: float = 0.0      # the plan cache's work (key, load or store)

    def __str__(self):
        return self.text()

    @property
    def overhead_seconds(self):
        """Seconds the first call spent on lowmem's own work (the plan
        cache, recording, translating, scheduling): what it adds to
        PyTensor's compile."""
        return (self.cache_seconds + self.record_seconds + self.translate_seconds
                + self.schedule_seconds)

    # -- text
    def headline(self):
        return f"peak {human_bytes(self.peak)} (PyTensor's order {human_bytes(self.listed_peak)})"

    def overhead_text(self):
        """The compile overhead lines."""
        if self.source == "cache":
            lines = [f"lowmem's compile overhead, on the first call: plan loaded from the plan "
                     f"cache (key {self.cache_key[:12]}): no recording call, no search; loading "
                     f"{seconds(self.cache_seconds)}, choosing the order "
                     f"{seconds(self.schedule_seconds)}: {seconds(self.overhead_seconds)} in all "
                     f"(the stored search took {seconds(self.search_seconds)})"]
        else:
            lines = [f"lowmem's compile overhead, on the first call: recording call "
                     f"{seconds(self.record_seconds)}, translating "
                     f"{seconds(self.translate_seconds)}, scheduling "
                     f"{seconds(self.schedule_seconds)} (search {seconds(self.search_seconds)})"
                     + (f", plan cache {seconds(self.cache_seconds)}" if self.cache_seconds
                        else "")
                     + f": {seconds(self.overhead_seconds)} in all"
                     + (f"; stored in the plan cache (key {self.cache_key[:12]})"
                        if self.cache_key else "")]
        then = []
        if self.link_seconds is not None:
            then.append(f"linking {seconds(self.link_seconds)}")
        if self.first_run_seconds is not None:
            then.append(f"first run {seconds(self.first_run_seconds)}"
                        + (" (Numba compiles its code on it)" if self.backend == "Numba" else ""))
        if then:
            lines.append(f"then, as PyTensor's default mode does on its compile and first call: "
                         f"{', '.join(then)}")
        c = self.pytensor_compile
        if c is None:
            lines.append("PyTensor's own compile time: not recorded (compile with "
                         "pytensor.function(..., profile=True) to see it)")
        elif set(c) == {"total"}:
            lines.append(f"PyTensor's own compile time: {seconds(c['total'])} (timed by the caller)")
        else:
            lines.append(f"PyTensor's own compile time: {seconds(c['total'])} (rewriting "
                         f"{seconds(c['rewriting'])}, linking {seconds(c['linking'])}; lowmem "
                         f"links on the first call)")
        return lines

    def text(self, steps=-1):
        """The report; `steps` = how many steps to list (the first ones,
        then the region around the peak), None for all of them; by default
        the `steps` given to report()."""
        if steps == -1:
            steps = self.show_steps
        lines = [f"lowmem memory report: {self.name} ({self.n_nodes} nodes, {self.backend} "
                 f"backend; bytes of the arrays the function allocates: inputs, shared values, "
                 f"constants are free)",
                 self.headline(),
                 f"  bytes: peak {exact_bytes(self.peak)} (PyTensor's order "
                 f"{exact_bytes(self.listed_peak)})"]
        if self.listed_peak > 0:
            saved = self.listed_peak - self.peak
            lines.append(f"saves {human_bytes(saved)} = {exact_bytes(saved)} "
                         f"({100.0 * saved / self.listed_peak:.1f}%) against PyTensor's order")
        why = "time limit reached" if self.timed_out else "search ended"
        proof = ("proven optimal" if self.optimal else
                 f"not proven optimal ({why}; at most "
                 f"{format_bytes(self.search_peak - self.lower_bound)} above the optimum)")
        lines.append(f"search: peak {format_bytes(self.search_peak)}, "
                     f"PyTensor's order {format_bytes(self.toposort_peak)}, lower bound "
                     f"{format_bytes(self.lower_bound)}: {proof}")
        if self.order_run == "listed":
            lines.append(f"order run: PyTensor's own (the search's saves less than "
                         f"{100 * MIN_SAVING_RATIO:g}% or {format_bytes(MIN_SAVING_BYTES)}: "
                         f"not worth another order)")
        lines += self.overhead_text()
        lines.append("workspace NOT measured (PyTensor's ops' scratch): counted as 0")
        for note in self.notes:
            lines.append(f"note: {note}")
        lines.append("")
        lines += self._steps_text(steps)
        lines.append("")
        lines += self._peak_text()
        return "\n".join(lines)


def report(f, plot=None, steps=DEFAULT_STEPS, compile_seconds=None):
    """Memory report of `f`, a PyTensor function compiled with
    lowmem.pytensor.LowMemMode and called at least once (its first call
    records sizes, plans the order and links).

    plot: a file name: also write a PNG of the bytes in use per step for
    lowmem's order and PyTensor's (needs matplotlib).
    steps: how many steps ``str()`` lists (the first ones and the peak
    region); ``Report.text(steps=None)`` lists all.
    compile_seconds: the seconds ``pytensor.function`` took for `f`, if the
    caller timed it; by default PyTensor's profiler's figures when `f` was
    compiled with ``profile=True``.
    """
    if plot is not None:
        require_matplotlib()
    plan = plan_of(f)
    tr = plan.translation
    graph = tr.graph
    sched = plan.schedule
    walked = plan_steps(tr, plan.order_ids)
    listed = list(range(graph.n_nodes))
    timelines = {"lowmem": walked.timeline,
                 "PyTensor's order": model.memory_timeline(graph, listed)}
    linker = getattr(f.vm, "_linker", None)
    backend = BACKEND_NAMES.get(type(linker).__name__, type(linker).__name__)
    compile_ = pytensor_compile_seconds(f)
    if compile_ is None and compile_seconds is not None:
        compile_ = {"total": float(compile_seconds)}
    search_order = [int(n) for n in sched.order]
    r = Report(
        name=(graph.name if graph.name != "pytensor-function"
              else getattr(f, "name", None) or graph.name),
        backend=backend, n_nodes=graph.n_nodes,
        peak=int(plan.peak), listed_peak=int(plan.listed_peak),
        search_peak=int(sched.peak), toposort_peak=int(sched.default_peak),
        lower_bound=int(sched.lower_bound), optimal=bool(sched.optimal),
        timed_out=bool(sched.stats.get("timed_out", False)),
        order_run="search" if [int(n) for n in plan.order_ids] == search_order else "listed",
        record_seconds=float(plan.record_seconds),
        translate_seconds=float(getattr(plan, "translate_seconds", 0.0)),
        search_seconds=float(sched.stats.get("seconds", plan.schedule_seconds)),
        schedule_seconds=float(plan.schedule_seconds),
        link_seconds=getattr(plan, "link_seconds", None),
        first_run_seconds=getattr(plan, "first_run_seconds", None),
        pytensor_compile=compile_, workspace_measured=False,
        total_workspace=int(np.sum(graph.node_workspace)),
        steps=walked.steps, peak_step=walked.peak_step, peak_buffers=walked.peak_buffers,
        largest_workspace=walked.largest_workspace, timelines=timelines, show_steps=steps,
        notes=list(getattr(plan, "notes", None) or []),
        source=getattr(plan, "source", "recorded"), cache_key=getattr(plan, "cache_key", None),
        cache_seconds=float(getattr(plan, "cache_seconds", 0.0)))
    if plot is not None:
        write_plot(r, plot)
        r.plot = plot
    return r


def write_plot(r, path):
    """PNG of bytes in use per step for each order of Report `r`."""
    styles = {"lowmem": dict(color="tab:green", lw=2.0),
              "PyTensor's order": dict(color="tab:gray", lw=1.2, ls="--")}
    labels = {"lowmem": f"lowmem order (peak {human_bytes(r.peak)})",
              "PyTensor's order": f"PyTensor's order (peak {human_bytes(r.listed_peak)})"}
    return _write_plot(r, path, labels, styles)
