"""What lowmem's memory reports share, whatever the library (private).

lowmem.theano.report and lowmem.pytensor.report both describe a plan made
over a lowmem._bridge.Translation: the order run, step by step under
lowmem's memory model, the buffers live at the peak, the nodes with the
most workspace, and a plot of bytes in use per step for the orders
compared. This module holds that part: the records (:class:`Buffer`,
:class:`Step`), the walk through the model (:func:`walk`,
:func:`plan_steps`), the text of the steps and of the peak
(:class:`ReportText`, a mixin of each library's Report) and the plot
(:func:`write_plot`). Byte counts are lowmem._units' formats. What names
the library's orders, compile stages and plan is the library's module's.
"""

from dataclasses import dataclass

import numpy as np

from . import _model as model
from ._units import exact_bytes, format_bytes, human_bytes

DEFAULT_STEPS = 20          # steps listed by str(): the first ones, then the peak region
LARGEST = 8                 # buffers / workspace nodes listed


# ----------------------------------------------------------------- format
def seconds(s):
    """'12.3 ms' below a second, '1.23 s' from one."""
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def clip(text, width):
    """`text` on one line, at most `width` characters ('…' when cut)."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 1] + "…"


# ---------------------------------------------------------------- records
@dataclass
class Buffer:
    """A buffer of the memory model: the storage of `variable` and of the
    views of it."""
    variable: object        # the library's variable that owns the storage
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
    node: object            # the library's Apply node
    node_id: int            # its lowmem node id
    name: str               # the op, as the library prints it
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
        for step in range(t + 1):
            live.update(allocated[step])
        for step in range(t):
            live.difference_update(freed[step])
        return live
    return timeline, allocated, freed, live_at


def buffer_of(translation, v, step_of):
    """The Buffer of lowmem variable `v` (`step_of`: node id -> step)."""
    graph = translation.graph
    producer = int(graph.var_producer[v])
    return Buffer(variable=translation.variables[v], var_id=v, name=graph.var_names[v],
                  nbytes=int(graph.var_size[v]), dtype=graph.var_dtypes[v],
                  shape=graph.var_shapes[v], step=step_of.get(producer, -1))


@dataclass
class Walked:
    """An order of a translated graph, step by step (see plan_steps)."""
    timeline: object        # bytes in use while each step runs
    steps: list             # Step per step
    peak_step: int
    peak_buffers: list      # Buffers live at the peak step, largest first
    largest_workspace: list  # (bytes, step, Step), most scratch first


def plan_steps(translation, order):
    """Walk `order` (lowmem node ids) of `translation`'s graph through the
    model: each step's node, memory, allocations, workspace and the buffers
    dying after it; the peak step and its live buffers; the nodes with
    workspace, most first."""
    graph = translation.graph
    order = [int(n) for n in order]
    step_of = {n: t for t, n in enumerate(order)}
    timeline, allocated, freed, live_at = walk(graph, order)
    steps = []
    for t, n in enumerate(order):
        node = translation.nodes[n]
        steps.append(Step(index=t, node=node, node_id=n, name=str(node.op),
                          memory=int(timeline[t]),
                          allocated=int(sum(int(graph.var_size[v]) for v in allocated[t])),
                          workspace=int(graph.node_workspace[n]),
                          freed=[buffer_of(translation, v, step_of) for v in freed[t]]))
    peak_step = int(np.argmax(timeline)) if len(timeline) else 0
    peak_buffers = []
    if order:
        peak_buffers = sorted((buffer_of(translation, v, step_of) for v in live_at(peak_step)),
                              key=lambda b: (-b.nbytes, b.step))
    largest = sorted(((s.workspace, s.index, s) for s in steps if s.workspace),
                     key=lambda x: (-x[0], x[1]))
    return Walked(timeline, steps, peak_step, peak_buffers, largest)


# ------------------------------------------------------------------ text
class ReportText:
    """The steps and peak sections of a report. The Report using it has
    `steps`, `peak_step`, `peak_buffers`, `largest_workspace`,
    `workspace_measured`, `plot`, `show_steps` and `n_nodes`."""

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
            freed = ", ".join(f"{clip(b.name, 40)}@{b.step} {human_bytes(b.nbytes)}"
                              for b in s.freed[:3])
            if len(s.freed) > 3:
                freed += f", +{len(s.freed) - 3} more ({human_bytes(sum(b.nbytes for b in s.freed[3:]))})"
            ws = f" ws {human_bytes(s.workspace)}" if s.workspace else ""
            lines.append(f" {mark}{t:>5}  {human_bytes(s.memory):>11}  {clip(s.name + ws, 58):<58} "
                         f"{freed or '-'}")
        if shown and shown[-1] != n - 1:
            lines.append(f"  {'...':>5}")
        lines.append("  (* = peak step; name@step: the buffer made at that step)")
        return lines

    def _peak_text(self):
        """The buffers live at the peak, the largest workspace, the plot."""
        lines = []
        p = self.steps[self.peak_step] if self.steps else None
        if p is not None:
            lines.append(f"Largest buffers live at the peak (step {p.index}, {clip(p.name, 60)},"
                         f" {format_bytes(p.memory)}):")
            for b in self.peak_buffers[:LARGEST]:
                made = f"made at step {b.step}" if b.step >= 0 else "not run"
                lines.append(f"  {human_bytes(b.nbytes):>11}  {exact_bytes(b.nbytes):>15}  "
                             f"{clip(b.describe(), 70)}  ({made})")
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
                             f"{clip(s.name, 70)}")
        else:
            lines.append("Largest workspace: none" + ("" if self.workspace_measured
                                                      else " (not measured)"))
        if self.plot:
            lines.append("")
            lines.append(f"plot: {self.plot}")
        return lines


# ------------------------------------------------------------------- plot
def require_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError("report(f, plot=...) needs matplotlib, an optional dependency of "
                          "lowmem: pip install matplotlib (or call report(f) without plot)"
                          ) from None


def write_plot(r, path, labels, styles):
    """PNG of bytes in use per step for each order of report `r` (its
    `timelines`, by order name, with `labels` and matplotlib `styles` by the
    same names), with its lower bound."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    scale, unit = (2**20, "MiB") if r.peak >= 2**20 else (2**10, "KiB")
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
