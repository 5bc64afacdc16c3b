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
from .._units import exact_bytes, format_bytes, human_bytes
from ._measure import plan_of, theano_vm_graph

DEFAULT_STEPS = 20          # steps listed by str(): the first ones, then the peak region
LARGEST = 8                 # buffers / workspace nodes listed


# ----------------------------------------------------------------- format
def _seconds(s):
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def _clip(text, width):
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 1] + "…"


# ---------------------------------------------------------------- records
@dataclass
class Buffer:
    """A buffer of the memory model: the storage of `variable` and of the
    views of it."""
    variable: object        # the Theano variable that owns the storage
    var_id: int             # its lowmem variable id
    name: str
    nbytes: int
    dtype: object
    shape: object
    step: int               # the step that allocated it (-1: not run)

    def describe(self):
        kind = ""
        if self.dtype is not None:
            kind = f" {self.dtype}{tuple(self.shape) if self.shape is not None else ''}"
        return f"{self.name}{kind}"


@dataclass
class Step:
    """One step of the executed (lowmem) order."""
    index: int
    node: object            # the Theano Apply node
    node_id: int            # its lowmem node id
    name: str               # the op, as Theano prints it
    memory: int             # modelled bytes in use while it runs
    allocated: int          # bytes of the buffers it allocates
    workspace: int          # its scratch bytes
    freed: list             # Buffers freed after it, largest first

    @property
    def freed_bytes(self):
        return sum(b.nbytes for b in self.freed)


def walk(graph, order):
    """Run `order` through the memory model keeping the buffers.

    Returns (timeline, allocated, freed, live_at): lowmem._model.simulate's
    results, and live_at(t) the buffer owners in memory while step t runs.
    """
    timeline, allocated, freed = model.simulate(graph, order)

    def live_at(t):
        live = set()
        for step in range(t):
            live.update(allocated[step])
            live.difference_update(freed[step])
        return live | set(allocated[t])
    return timeline, allocated, freed, live_at


# ----------------------------------------------------------------- report
@dataclass
class Report:
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
        for note in self.notes:
            lines.append(f"note: {note}")

        lines.append("")
        lines += self._steps_text(steps)
        lines.append("")
        p = self.steps[self.peak_step] if self.steps else None
        if p is not None:
            lines.append(f"Largest buffers live at the peak (step {p.index}, {_clip(p.name, 60)},"
                         f" {format_bytes(p.memory)}):")
            for b in self.peak_buffers[:LARGEST]:
                made = f"made at step {b.step}" if b.step >= 0 else "not run"
                lines.append(f"  {human_bytes(b.nbytes):>11}  {exact_bytes(b.nbytes):>15}  "
                             f"{_clip(b.describe(), 70)}  ({made})")
            if len(self.peak_buffers) > LARGEST:
                rest = self.peak_buffers[LARGEST:]
                lines.append(f"  ... and {len(rest)} smaller, {format_bytes(sum(b.nbytes for b in rest))}")
            if p.workspace:
                lines.append(f"  + the node's workspace {format_bytes(p.workspace)}")
        lines.append("")
        if self.largest_workspace:
            lines.append("Largest workspace (scratch a node allocates and frees while it runs):")
            for nbytes, step, s in self.largest_workspace[:LARGEST]:
                lines.append(f"  {human_bytes(nbytes):>11}  {exact_bytes(nbytes):>15}  step {step:>4}  "
                             f"{_clip(s.name, 70)}")
        else:
            lines.append("Largest workspace: none" + ("" if self.workspace_measured
                                                      else " (not measured)"))
        if self.plot:
            lines.append("")
            lines.append(f"plot: {self.plot}")
        return "\n".join(lines)

    def listed_steps(self, steps=-1):
        """Indices of the steps `text(steps)` lists."""
        if steps == -1:
            steps = self.show_steps
        n = len(self.steps)
        if steps is None or n <= steps + steps // 2:
            return list(range(n))
        head = set(range(min(steps, n)))
        half = max(steps // 4, 2)
        region = set(range(max(0, self.peak_step - half), min(n, self.peak_step + half + 1)))
        return sorted(head | region)

    def _steps_text(self, steps):
        shown = self.listed_steps(steps)
        n = len(self.steps)
        title = "Executed order (lowmem), memory while each step runs, buffers freed after it"
        if len(shown) < n:
            title += (f"\n  (steps 0-{min(steps, n) - 1} and around the peak of {n}; "
                      f"report(f).text(steps=None) lists all)")
        lines = [title + ":",
                 f"  {'step':>5}  {'memory':>11}  {'node':<58} freed after it"]
        prev = -1
        for t in shown:
            if t != prev + 1:
                lines.append(f"  {'...':>5}")
            prev = t
            s = self.steps[t]
            mark = "*" if t == self.peak_step else " "
            freed = ", ".join(f"{_clip(b.name, 40)}@{b.step} {human_bytes(b.nbytes)}"
                              for b in s.freed[:3])
            if len(s.freed) > 3:
                freed += f", +{len(s.freed) - 3} more ({human_bytes(sum(b.nbytes for b in s.freed[3:]))})"
            ws = f" ws {human_bytes(s.workspace)}" if s.workspace else ""
            lines.append(f" {mark}{t:>5}  {human_bytes(s.memory):>11}  {_clip(s.name + ws, 58):<58} "
                         f"{freed or '-'}")
        if shown and shown[-1] != n - 1:
            lines.append(f"  {'...':>5}")
        lines.append("  (* = peak step; name@step: the buffer made at that step)")
        return lines


def _buffer(translation, graph, v, step_of):
    producer = int(graph.var_producer[v])
    return Buffer(variable=translation.variables[v], var_id=v, name=graph.var_names[v],
                  nbytes=int(graph.var_size[v]), dtype=graph.var_dtypes[v],
                  shape=graph.var_shapes[v], step=step_of.get(producer, -1))


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
    step_of = {n: t for t, n in enumerate(order)}
    timeline, allocated, freed, live_at = walk(graph, order)
    dfs = dfs_postorder(graph)
    timelines = {"lowmem": timeline,
                 "toposort": model.memory_timeline(graph, graph.default_order()),
                 "default C VM": model.memory_timeline(graph, dfs)}

    steps_ = []
    for t, n in enumerate(order):
        node = tr.nodes[n]
        steps_.append(Step(index=t, node=node, node_id=n, name=str(node.op),
                           memory=int(timeline[t]),
                           allocated=int(sum(int(graph.var_size[v]) for v in allocated[t])),
                           workspace=int(graph.node_workspace[n]),
                           freed=[_buffer(tr, graph, v, step_of) for v in freed[t]]))
    peak_step = int(np.argmax(timeline)) if len(timeline) else 0
    peak_buffers = []
    if order:
        peak_buffers = sorted((_buffer(tr, graph, v, step_of) for v in live_at(peak_step)),
                              key=lambda b: (-b.nbytes, b.step))
    largest_ws = sorted(((s.workspace, s.index, s) for s in steps_ if s.workspace),
                        key=lambda x: (-x[0], x[1]))

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
        heuristic_peaks=dict(sched.heuristic_peaks), steps=steps_, peak_step=peak_step,
        peak_buffers=peak_buffers, largest_workspace=largest_ws, timelines=timelines,
        notes=notes, show_steps=steps, storage=storage,
        source=getattr(plan, "source", "recorded"), cache_key=getattr(plan, "cache_key", None))
    if plot is not None:
        write_plot(r, plot)
        r.plot = plot
    return r


# ------------------------------------------------------------------- plot
def _require_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError("report(f, plot=...) needs matplotlib, an optional dependency of "
                          "lowmem: pip install matplotlib (or call report(f) without plot)"
                          ) from None


def write_plot(r, path):
    """PNG of bytes in use per step for each order of Report `r`."""
    _require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    scale, unit = (2**20, "MiB") if r.peak >= 2**20 else (2**10, "KiB")
    styles = {"lowmem": dict(color="tab:green", lw=2.0),
              "toposort": dict(color="tab:gray", lw=1.2, ls="--"),
              "default C VM": dict(color="tab:blue", lw=1.2, ls=":")}
    labels = {"lowmem": f"lowmem order (peak {human_bytes(r.peak)})",
              "toposort": f"toposort (peak {human_bytes(r.toposort_peak)})",
              "default C VM": f"default C VM order (peak {human_bytes(r.default_vm_peak)})"}
    for name, tl in r.timelines.items():
        ax.step(np.arange(len(tl)), np.asarray(tl) / scale, where="mid",
                label=labels.get(name, name), **styles.get(name, {}))
    ax.axhline(r.lower_bound / scale, color="tab:red", lw=0.8, ls="-.",
               label=f"lower bound ({human_bytes(r.lower_bound)})")
    ax.set_xlabel("step")
    ax.set_ylabel(f"bytes in use ({unit})")
    ax.set_title(f"{r.name}: memory per step ({r.n_nodes} nodes)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path
