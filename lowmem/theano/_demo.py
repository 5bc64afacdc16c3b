"""``lowmem demo``: a real Theano training step, run the default way and
in lowmem's order, side by side.

    lowmem demo [--out DIR] [--time-limit S] [--model NAME] [--calls N]

1. Builds a multi-branch convolutional network's training step (a U-Net:
   loss and SGD updates of every weight; lowmem.theano._models).
2. Compiles it twice: with Theano's default mode (C VM) and with
   :class:`lowmem.theano.LowMemMode`.
3. Runs both on the same random data for a few calls, each from the same
   initial weights; the first LowMemMode call records sizes and workspace
   and schedules the function.
4. Checks that every call's outputs and the updated shared weights are
   bit-for-bit equal in both modes.
5. Prints lowmem's report of the function and the predicted (memory model)
   and measured (tracemalloc, a call after the first) peaks of both modes,
   and writes the report's plot into DIR (skipped, with a note, when
   matplotlib is missing).

Returns exit status 0 when the outputs are equal, 1 when they differ.
Progress goes to stderr, the results to stdout.
"""

import importlib.util
import os
import sys
import threading
import time
from contextlib import contextmanager

from .._demo_common import Run, comparison_line, differences, set_weights
from .._units import human_bytes

EXIT_OK, EXIT_DIFFERENT = 0, 1
DEFAULT_MODEL = "unet"
PLOT_NAME = "lowmem_demo_{model}.png"
MiB = 2**20

_TITLES = {
    "mlp": "MLP", "convnet": "convnet", "resnet": "ResNet-like network",
    "inception": "Inception-like network", "densenet": "DenseNet-like network",
    "unet": "U-Net", "rnn": "scan RNN", "transformer": "transformer encoder block",
}


def _log(msg):
    print(f"[lowmem demo] {msg}", file=sys.stderr, flush=True)


def _cached_modules(compiledir):
    """C modules in Theano's compile directory (each is a tmp* folder)."""
    try:
        return sum(1 for name in os.listdir(compiledir) if name.startswith("tmp"))
    except OSError:
        return 0


@contextmanager
def _compiling(what, every=20.0):
    """Log how long compiling `what` takes, with a line every `every`
    seconds while it lasts (and how many C modules Theano has built)."""
    import theano
    compiledir = theano.config.compiledir
    before = _cached_modules(compiledir)
    done = threading.Event()
    t0 = time.perf_counter()

    def built():
        n = _cached_modules(compiledir) - before
        return f"{n} C module{'s' if n > 1 else ''} built" if n > 0 else ""

    def beat():
        while not done.wait(every):
            extra = built()
            _log(f"  still compiling {what}: {time.perf_counter() - t0:.0f} s"
                 + (f", {extra} so far" if extra else ""))
    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
    extra = built()
    _log(f"  compiled in {time.perf_counter() - t0:.1f} s" + (f" ({extra})" if extra else ""))


# ------------------------------------------------------------- comparing
def shared_of(updates):
    return [s for s, _ in updates]


def run_calls(f, datasets, shared, initial, measured_call=1):
    """Reset the weights, call ``f`` on every dataset in turn; measure call
    number `measured_call` (never the first) with tracemalloc."""
    from ._measure import measure_call
    set_weights(shared, initial)
    outputs, seconds, measured = [], [], None
    for i, data in enumerate(datasets):
        if i == measured_call:
            measured = measure_call(f, *data)
            result, dt = measured.results, measured.seconds
        else:
            t0 = time.perf_counter()
            result = f(*data)
            dt = time.perf_counter() - t0
        outputs.append([r.copy() for r in result])
        seconds.append(dt)
    weights = [s.get_value(borrow=False) for s in shared]
    return Run(outputs, weights, measured, seconds)


# ------------------------------------------------------------ reporting
def _fallback_report(f):
    """A short report from the plan, used when lowmem.theano._report is
    not available."""
    plan = f.fn.plan
    s = plan.schedule
    g = plan.translation.graph
    lines = [f"graph: {g.name} ({g.n_nodes} nodes, {g.n_vars} variables)",
             f"toposort peak:          {human_bytes(s.default_peak)}",
             f"depth-first (C VM) peak: {human_bytes(s.heuristic_peaks.get('dfs', 0))}",
             f"lowmem peak:            {human_bytes(s.peak)}  (lower bound {human_bytes(s.lower_bound)}, "
             f"{'proven optimal' if s.optimal else 'not proven optimal'})",
             f"scheduled in {plan.schedule_seconds:.3f} s after a recording call of "
             f"{plan.record_seconds:.3f} s"]
    return "\n".join(lines)


def lowmem_report(f, plot_path):
    """(text, note): lowmem.theano._report's text, with its plot written to
    `plot_path` when given and matplotlib is installed; `note` says why the
    plot was skipped (None when it was written or not asked for)."""
    try:
        from ._report import report
    except ImportError:
        return _fallback_report(f), "lowmem.theano._report is not available"
    if plot_path is None:
        return str(report(f)), None
    if importlib.util.find_spec("matplotlib") is None:
        return str(report(f)), ("matplotlib is not installed "
                                "(.venv/bin/pip install matplotlib to get it)")
    try:
        return str(report(f, plot=plot_path)), None
    except ImportError as e:
        return str(report(f)), str(e)


def peaks_table(modelled, default_run, lowmem_run):
    """Predicted vs measured peaks of both modes, as text lines."""
    d_pred, l_pred = modelled.default_vm_theano, modelled.lowmem
    d_meas, l_meas = default_run.measured.peak, lowmem_run.measured.peak
    rows = [
        ("Theano default mode (C VM, depth-first order)", d_pred, d_meas),
        ("LowMemMode (lowmem's order)", l_pred, l_meas),
    ]
    w = max(len(r[0]) for r in rows)
    lines = [f"{'Peak memory of one call (after the first)':<{w}}  {'predicted':>12}  "
             f"{'measured':>12}  measured/predicted"]
    for name, pred, meas in rows:
        ratio = meas / pred if pred else float("nan")
        lines.append(f"{name:<{w}}  {human_bytes(pred):>12}  {human_bytes(meas):>12}  {ratio:.4f}")

    def saving(a, b):
        return 100.0 * (a - b) / a if a else 0.0
    lines.append(f"{'lowmem saves':<{w}}  {saving(d_pred, l_pred):>11.1f}%  "
                 f"{saving(d_meas, l_meas):>11.1f}%")
    lines.append(f"(predicted: lowmem's memory model with the recorded sizes and workspace; "
                 f"Theano's toposort order would peak at {human_bytes(modelled.toposort)})")
    return lines


# ------------------------------------------------------------------ main
def run_demo(out_dir=".", time_limit=1.0, model=DEFAULT_MODEL, calls=3, plot=True,
             stdout=None):
    """Run the demo; returns the exit status (0: outputs equal, 1: differ)."""
    stdout = stdout or sys.stdout
    t_start = time.perf_counter()
    _log("importing Theano (lowmem sets blas.ldflags= if unset) ...")
    import lowmem.theano as lt          # prepares Theano before importing it
    import theano
    from . import _models as models
    from ._measure import modelled_peaks

    title = f"{_TITLES.get(model, model)} training step"
    m = models.build(model, train=True)
    shared = shared_of(m.updates)
    initial = [s.get_value(borrow=False) for s in shared]
    datasets = [m.make_data(seed=i) for i in range(calls)]
    n_bytes = sum(a.nbytes for a in datasets[0])
    _log(f"built the {title}: {len(shared)} weights "
         f"({sum(v.nbytes for v in initial) / MiB:.1f} MiB), inputs {n_bytes / MiB:.1f} MiB")

    _log("compiling with Theano's default mode. On a clean machine Theano first builds "
         "its C code into ~/.theano, which takes a minute or two; later runs take seconds")
    with _compiling("with the default mode"):
        f_default = theano.function(m.inputs, m.outputs, updates=m.updates)
    _log("compiling with lowmem.theano.LowMemMode (same optimisations and C code) ...")
    mode = lt.LowMemMode(linker=lt.LowMemLinker(time_limit=time_limit,
                                                name=f"{model}-train"))
    with _compiling("with LowMemMode"):
        f_lowmem = theano.function(m.inputs, m.outputs, updates=m.updates, mode=mode)

    _log(f"running {calls} calls in the default mode (call 2 measured with tracemalloc) ...")
    default_run = run_calls(f_default, datasets, shared, initial)
    _log(f"running {calls} calls in LowMemMode: call 1 records sizes and schedules "
         f"(time limit {time_limit:g} s), call 2 is measured ...")
    lowmem_run = run_calls(f_lowmem, datasets, shared, initial)
    set_weights(shared, initial)

    plan = getattr(f_lowmem.fn, "plan", None)
    if plan is None:
        print("lowmem demo: lowmem did not schedule the function (see the warning above); "
              "it ran in Theano's toposort order", file=sys.stderr)
    diffs = differences(default_run, lowmem_run)

    out = []
    g_nodes = plan.translation.graph.n_nodes if plan else len(f_lowmem.fn.nodes)
    out.append(f"lowmem demo: {title} in Theano ({g_nodes} Apply nodes after "
               f"Theano's optimisations), default mode vs LowMemMode")
    out.append("")
    plot_path = os.path.join(out_dir, PLOT_NAME.format(model=model)) if plot else None
    note = None
    if plan is not None:
        text, note = lowmem_report(f_lowmem, plot_path)
        out.append(text.rstrip("\n"))
        out.append("")
        out.extend(peaks_table(modelled_peaks(f_lowmem), default_run, lowmem_run))
        out.append("")
    out.append(comparison_line(diffs, calls, len(m.outputs), len(shared)))
    if note:
        out.append(f"Plot skipped: {note}")
    print("\n".join(out), file=stdout, flush=True)
    _log(f"done in {time.perf_counter() - t_start:.1f} s")
    return EXIT_DIFFERENT if diffs else EXIT_OK


if __name__ == "__main__":
    sys.exit(run_demo())
