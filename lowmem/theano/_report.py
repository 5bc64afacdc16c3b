"""A readable memory report of a LowMemMode function.

    f = theano.function(inputs, outputs, mode=lowmem.theano.LowMemMode())
    f(*args)                          # the first call records and plans
    r = lowmem.theano._report(f)       # or report(f, plot="memory.png")
    print(r)                          # the text report
    r.peak, r.default_vm_peak, r.steps[3].freed, r.peak_buffers ...
    print(r.text(steps=None))         # every step

All figures are lowmem's memory model (docs/format.md) over the graph recorded on
the function's first call (sizes and measured workspace), for three orders:
lowmem's, Theano's listed ``fgraph.toposort()``, and the depth-first order
Theano's default C VM really runs (``theano.function`` without a mode).
``lowmem.theano._measure`` shows how closely they match measured calls.
"""

from dataclasses import dataclass, field

import numpy as np

from .. import _model as model
from .._orders import dfs_postorder
from .._report_common import (DEFAULT_STEPS, LARGEST, Buffer, ReportText, Step,  # noqa: F401
                              clip as _clip, plan_steps, require_matplotlib as _require_matplotlib,
                              seconds as _seconds, walk)
from .._report_common import write_plot as _write_plot
from .._units import exact_bytes, format_bytes, human_bytes
from ._measure import plan_of, theano_vm_graph


# Recomputed nodes the report lists by name, most costly first.
RECOMPUTED_LISTED = 8


# ----------------------------------------------------------------- report
@dataclass
class Report(ReportText):
    """Memory report of a planned LowMemMode function; ``str()`` is the text.

    Peaks are bytes under lowmem's model: ``peak`` of lowmem's order,
    ``toposort_peak`` of Theano's listed order, ``default_vm_peak`` of the
    depth-first order the default C VM runs (``default_vm_theano_peak``:
    the same with the C VM keeping outputs nothing reads until the call
    ends). ``steps`` lists every step of the executed order,
    ``peak_buffers`` the largest buffers live at the peak step,
    ``largest_workspace`` the nodes with the most scratch as (bytes, step,
    Step). ``timelines`` maps each order to its bytes per step.
    """
    name: str
    n_nodes: int
    peak: int
    toposort_peak: int
    default_vm_peak: int
    default_vm_theano_peak: int
    lower_bound: int
    optimal: bool
    timed_out: bool
    search_seconds: float
    schedule_seconds: float
    record_seconds: float
    workspace_measured: bool
    total_workspace: int
    heuristic_peaks: dict
    steps: list
    peak_step: int
    peak_buffers: list
    largest_workspace: list
    timelines: dict
    plot: object = None
    notes: list = field(default_factory=list)
    show_steps: int = DEFAULT_STEPS
    source: str = "recorded"        # where the plan came from (_linker.Plan.source)
    cache_key: str = None
    storage: dict = None        # storage sharing figures (see storage_text), None when off
    # With LowMemMode(memory_budget=...): the budget, whether it is met, the
    # best single-run peak, the added cost (seconds, the recording call's)
    # against one run of every node, and the recomputed nodes as (name,
    # extra runs, seconds per run), most costly first. None without a budget.
    recompute: dict = None

    def __str__(self):
        return self.text()

    # -- text
    def headline(self):
        return (f"peak {human_bytes(self.peak)} (toposort {human_bytes(self.toposort_peak)}, "
                f"default C VM order {human_bytes(self.default_vm_peak)})")

    def storage_text(self):
        s = self.storage
        line = (f"storage shared: {s['buffers']} arrays in {s['cells']} cells "
                f"({s['buffers'] - s['cells']} allocations saved per call if every op writes "
                f"into the array it is handed; last call: {s['handed']} arrays handed over, "
                f"{s['taken']} written into)")
        if s["untried"]:
            line += (f"; {s['untried']} hand-offs not tried (an op not yet seen writing into "
                     f"a handed array, at a step with no room under the peak for it not to)")
        if s["kept"]:
            line += (f"; {s['kept']} small arrays ({exact_bytes(s['retained'])}) kept between calls")
        if s["not_honouring"]:
            line += f"; not sharing into {', '.join(s['not_honouring'])} (replace their output)"
        return line

    def recompute_text(self):
        r = self.recompute
        met = ("met" if r["fits"] else
               f"NOT met (the lowest peak found, {format_bytes(self.peak)}, is above it)")
        runs = sum(n for _, n, _ in r["nodes"])
        lines = [f"memory budget {format_bytes(r['budget'])}: {met}; the best order running "
                 f"each node once peaks at {format_bytes(r['best_peak'])}",
                 f"recomputed: {runs} extra runs of {len(r['nodes'])} nodes, "
                 f"{_seconds(r['added_seconds'])} added to a call of "
                 f"{_seconds(r['call_seconds'])} (the recording call's times)"]
        for name, extra, each in r["nodes"][:RECOMPUTED_LISTED]:
            lines.append(f"  x{extra} {_clip(name, 60)} ({_seconds(each)} each)")
        if len(r["nodes"]) > RECOMPUTED_LISTED:
            lines.append(f"  ... and {len(r['nodes']) - RECOMPUTED_LISTED} more nodes")
        return lines

    def text(self, steps=-1):
        """The report; `steps` = how many steps to list (the first ones,
        then the region around the peak), None for all of them; by default
        the `steps` given to report()."""
        if steps == -1:
            steps = self.show_steps
        lines = [f"lowmem memory report: {self.name} ({self.n_nodes} nodes; bytes of the "
                 f"arrays the function allocates: inputs, shared values, constants are free)",
                 self.headline(),
                 f"  bytes: peak {exact_bytes(self.peak)} (toposort {exact_bytes(self.toposort_peak)}, "
                 f"default C VM order {exact_bytes(self.default_vm_peak)})"]
        if self.default_vm_theano_peak != self.default_vm_peak:
            lines.append(f"  the default C VM keeps outputs nothing reads until the call ends: "
                         f"it peaks at {format_bytes(self.default_vm_theano_peak)}")
        why = "time limit reached" if self.timed_out else "search ended"
        proof = ("proven optimal" if self.optimal else
                 f"not proven optimal ({why}; at most {format_bytes(self.peak - self.lower_bound)} "
                 f"above the optimum)")
        lines.append(f"lower bound {format_bytes(self.lower_bound)}: {proof}")
        for label, ref in (("the default C VM order", self.default_vm_peak),
                           ("toposort", self.toposort_peak)):
            if ref > 0:
                lines.append(f"saves {human_bytes(ref - self.peak)} = {exact_bytes(ref - self.peak)} "
                             f"({100.0 * (ref - self.peak) / ref:.1f}%) against {label}")
        ws = (f"workspace measured: {format_bytes(self.total_workspace)} in all"
              if self.workspace_measured else
              "workspace NOT measured (planned from example inputs): counted as 0")
        if self.source == "cache":
            lines.append(f"plan loaded from the plan cache (key {self.cache_key[:12]}): no "
                         f"recording call; planning {_seconds(self.schedule_seconds)}; {ws}")
        else:
            lines.append(f"search {_seconds(self.search_seconds)} (planning "
                         f"{_seconds(self.schedule_seconds)} in all), recording call "
                         f"{_seconds(self.record_seconds)}; {ws}"
                         + (f"; stored in the plan cache (key {self.cache_key[:12]})"
                            if self.cache_key else ""))
        if self.storage:
            lines.append(self.storage_text())
        if self.recompute:
            lines += self.recompute_text()
        for note in self.notes:
            lines.append(f"note: {note}")

        lines.append("")
        lines += self._steps_text(steps)
        lines.append("")
        lines += self._peak_text()
        return "\n".join(lines)


def report(f, plot=None, steps=DEFAULT_STEPS):
    """Memory report of `f`, a function compiled with LowMemMode and called
    at least once (its first call records sizes and plans the order).

    plot: a file name: also write a PNG of the bytes in use per step for
    lowmem's order and Theano's two default orders (needs matplotlib).
    steps: how many steps ``str()`` lists (the first ones and the peak
    region); ``Report.text(steps=None)`` lists all.
    """
    if plot is not None:
        _require_matplotlib()
    plan = plan_of(f)
    tr = plan.translation
    graph = tr.graph
    sched = plan.schedule
    order = [int(n) for n in sched.order]
    walked = plan_steps(tr, order)
    dfs = dfs_postorder(graph)
    timelines = {"lowmem": walked.timeline,
                 "toposort": model.memory_timeline(graph, graph.default_order()),
                 "default C VM": model.memory_timeline(graph, dfs)}

    notes = [n for n in getattr(plan, "notes", []) or [] if not n.startswith("storage sharing:")]
    storage = None
    if getattr(plan, "storage", None) is not None:
        st = plan.storage
        storage = {"buffers": int(st.plan.buffers), "cells": int(st.plan.cells),
                   "kept": st.kept, "retained": st.retained, "handed": st.handed,
                   "untried": st.untried,
                   "taken": st.taken, "peak": st.peak,
                   "not_honouring": sorted({type(v.owner.op).__name__ for v in st.excluded})}
    r = Report(
        name=(graph.name if graph.name != "theano-function"
              else getattr(f, "name", None) or graph.name), n_nodes=graph.n_nodes, peak=int(sched.peak),
        toposort_peak=int(sched.default_peak),
        default_vm_peak=int(timelines["default C VM"].max()) if order else 0,
        default_vm_theano_peak=model.peak(theano_vm_graph(graph), dfs) if order else 0,
        lower_bound=int(sched.lower_bound), optimal=bool(sched.optimal),
        timed_out=bool(sched.stats.get("timed_out", False)),
        search_seconds=float(sched.stats.get("seconds", plan.schedule_seconds)),
        schedule_seconds=float(plan.schedule_seconds), record_seconds=float(plan.record_seconds),
        workspace_measured=bool(plan.workspace_measured),
        total_workspace=int(np.sum(graph.node_workspace)),
        heuristic_peaks=dict(sched.heuristic_peaks), steps=walked.steps,
        peak_step=walked.peak_step, peak_buffers=walked.peak_buffers,
        largest_workspace=walked.largest_workspace, timelines=timelines,
        notes=notes, show_steps=steps, storage=storage,
        source=getattr(plan, "source", "recorded"), cache_key=getattr(plan, "cache_key", None),
        recompute=_recompute_info(graph, sched))
    if plot is not None:
        write_plot(r, plot)
        r.plot = plot
    return r


def _recompute_info(graph, sched):
    """Report.recompute of a schedule made with a memory budget."""
    r = getattr(sched, "recompute", None)
    if r is None:
        return None
    cost = graph.node_cost
    nodes = sorted(((graph.node_names[n], extra, float(cost[n])) for n, extra in r.reruns.items()),
                   key=lambda x: (-x[1] * x[2], x[0]))
    return {"budget": r.memory_budget, "fits": r.fits, "best_peak": r.best_peak,
            "added_seconds": r.added_cost, "call_seconds": float(cost.sum()), "nodes": nodes}


# ------------------------------------------------------------------- plot
def write_plot(r, path):
    """PNG of bytes in use per step for each order of Report `r`."""
    styles = {"lowmem": dict(color="tab:green", lw=2.0),
              "toposort": dict(color="tab:gray", lw=1.2, ls="--"),
              "default C VM": dict(color="tab:blue", lw=1.2, ls=":")}
    labels = {"lowmem": f"lowmem order (peak {human_bytes(r.peak)})",
              "toposort": f"toposort (peak {human_bytes(r.toposort_peak)})",
              "default C VM": f"default C VM order (peak {human_bytes(r.default_vm_peak)})"}
    return _write_plot(r, path, labels, styles)
