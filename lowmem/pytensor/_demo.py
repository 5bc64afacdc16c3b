"""``lowmem demo --backend pytensor``: a PyTensor training step, run in
PyTensor's default mode and in lowmem's order, side by side.

    python -m lowmem.pytensor._demo [--out DIR] [--time-limit S] [--model NAME]
                                    [--calls N] [--no-plot]

(what ``lowmem demo --backend pytensor`` runs, in .venv-pytensor.)

1. Builds a small network's training step in PyTensor (loss and SGD
   updates of its weights; by default a U-Net-shaped stack of dense layers
   with skip connections, where lowmem's order beats PyTensor's).
2. Compiles it twice: with PyTensor's default mode (the Numba backend) and
   with :class:`lowmem.pytensor.LowMemMode`, timing both compiles.
3. Runs both on the same random data for a few calls, each from the same
   initial weights; the first LowMemMode call records sizes, schedules and
   links; the second call of each mode is measured
   (:func:`lowmem.pytensor.measure_call`: the resident set's high-water
   mark over the call).
4. Checks that every call's outputs and the updated shared weights are
   bit-for-bit equal in both modes.
5. Prints lowmem's report of the function (with the compile overhead), the
   modelled and measured peaks of both modes and the compile and call
   times, and writes the report's plot into DIR (skipped, with a note,
   when matplotlib is missing).

Returns exit status 0 when the outputs are equal, 1 when they differ, 2 on
a bad option (one line on stderr). Progress goes to stderr, the results to
stdout.
"""

import argparse
import importlib.util
import os
import statistics
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np

from .._demo_common import Run, comparison_line, differences, set_weights
from .._units import human_bytes

EXIT_OK, EXIT_DIFFERENT, EXIT_BAD_INPUT = 0, 1, 2
DEFAULT_MODEL = "skip_mlp"
PLOT_NAME = "lowmem_demo_pytensor_{model}.png"
MiB = 2**20


# ----------------------------------------------------------------- models
@dataclass
class Model:
    """A compiled-to-be function: its inputs, outputs, updates, the shared
    weights the updates change, and the input values of each call."""
    title: str
    inputs: list
    outputs: list
    updates: list
    shared: list
    make_data: object           # seed -> list of input values


def _model(title, builder, *args, **kwargs):
    """A Model of lowmem.pytensor._models' `builder`; its data for call i
    is make_data(seed=i)."""
    def build():
        from . import _models as models
        inputs, outputs, updates, make_data = getattr(models, builder)(*args, **kwargs)
        return Model(title, inputs, outputs, updates, [w for w, _ in updates], make_data)
    return build


MODELS = {
    "skip_mlp": _model("U-Net-shaped dense network", "skip_mlp"),
    "mlp": _model("MLP", "dense_mlp"),
    "branches": _model("4 parallel branches (forward pass)", "branches"),
    "tiny": _model("tiny U-Net-shaped dense network", "skip_mlp", levels=2, width=64,
                   batch=32),
}


def _log(msg):
    print(f"[lowmem demo] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------- comparing
def run_calls(f, datasets, shared, initial, measured_call=1):
    """Reset the weights, call ``f`` on every dataset in turn; measure call
    number `measured_call` (never the first) with measure_call."""
    from ._measure import MeasureError, measure_call
    set_weights(shared, initial)
    run = Run([], [])
    for i, data in enumerate(datasets):
        t0 = time.perf_counter()
        if i == measured_call:
            try:
                run.measured, result = measure_call(f, *data)
            except MeasureError as e:
                run.note = str(e)
                result = f(*data)
        else:
            result = f(*data)
        run.seconds.append(time.perf_counter() - t0)
        if 0 < i != measured_call:
            run.later.append(run.seconds[-1])
        run.outputs.append([np.array(r, copy=True) for r in result])
    run.weights = [s.get_value(borrow=False) for s in shared]
    return run


# ------------------------------------------------------------ reporting
def lowmem_report(f, plot_path, compile_seconds):
    """(text, note): lowmem.pytensor.report's text, with its plot written
    to `plot_path` when given and matplotlib is installed; `note` says why
    the plot was skipped (None when it was written or not asked for)."""
    from ._report import report
    if plot_path is None:
        return str(report(f, compile_seconds=compile_seconds)), None
    if importlib.util.find_spec("matplotlib") is None:
        return (str(report(f, compile_seconds=compile_seconds)),
                "matplotlib is not installed (.venv-pytensor/bin/pip install matplotlib "
                "to get it)")
    try:
        return str(report(f, plot=plot_path, compile_seconds=compile_seconds)), None
    except ImportError as e:
        return str(report(f, compile_seconds=compile_seconds)), str(e)


def peaks_table(plan, default_run, lowmem_run):
    """Modelled vs measured peaks of both modes, as text lines."""
    rows = [("PyTensor default mode (Numba, PyTensor's order)", plan.listed_peak,
             default_run.measured),
            ("LowMemMode (lowmem's order)", plan.peak, lowmem_run.measured)]
    w = max(len(r[0]) for r in rows)
    lines = [f"{'Peak memory of one call (after the first)':<{w}}  {'modelled':>12}  "
             f"{'measured':>12}  measured/modelled"]
    for name, pred, meas in rows:
        shown = human_bytes(meas) if meas is not None else "-"
        ratio = f"{meas / pred:.4f}" if pred and meas is not None else "-"
        lines.append(f"{name:<{w}}  {human_bytes(pred):>12}  {shown:>12}  {ratio}")

    def saving(a, b):
        return f"{100.0 * (a - b) / a:>11.1f}%" if a and b is not None else f"{'-':>12}"
    lines.append(f"{'lowmem saves':<{w}}  {saving(plan.listed_peak, plan.peak)}  "
                 f"{saving(default_run.measured, lowmem_run.measured)}")
    lines.append(f"(modelled: lowmem's memory model with the recorded sizes; measured: "
                 f"the resident set's high-water mark over the call, "
                 f"lowmem.pytensor.measure_call)")
    for name, run in (("default mode", default_run), ("LowMemMode", lowmem_run)):
        if run.note:
            lines.append(f"{name} not measured: {run.note}")
    return lines


def times_table(compiled, default_run, lowmem_run, plan):
    """Compile, first-call and later-call seconds of both modes."""
    def later(run):
        return f"{1e3 * statistics.median(run.later):.1f} ms" if run.later else "-"
    overhead = plan.record_seconds + plan.translate_seconds + plan.schedule_seconds
    rows = [("pytensor.function", f"{compiled['default']:.2f} s", f"{compiled['lowmem']:.2f} s"),
            ("first call", f"{default_run.seconds[0]:.2f} s", f"{lowmem_run.seconds[0]:.2f} s"),
            ("later calls (median, unmeasured)", later(default_run), later(lowmem_run))]
    w = max(len(r[0]) for r in rows)
    lines = [f"{'Seconds':<{w}}  {'default mode':>12}  {'LowMemMode':>12}"]
    lines += [f"{a:<{w}}  {b:>12}  {c:>12}" for a, b, c in rows]
    lines.append(f"(LowMemMode's first call records, translates and schedules: "
                 f"{overhead:.2f} s of lowmem's own; it then links and compiles as the default "
                 f"mode does when compiling and on its first call)")
    return lines


# ------------------------------------------------------------------ main
def run_demo(out_dir=".", time_limit=1.0, model=DEFAULT_MODEL, calls=3, plot=True,
             stdout=None):
    """Run the demo; returns the exit status (0: outputs equal, 1: differ)."""
    stdout = stdout or sys.stdout
    t_start = time.perf_counter()
    _log("importing PyTensor ...")
    import pytensor

    import lowmem.pytensor as lp

    warnings.filterwarnings("ignore", category=UserWarning, module="pytensor")
    m = MODELS[model]()
    title = f"{m.title} training step" if m.updates else m.title
    initial = [s.get_value(borrow=False) for s in m.shared]
    datasets = [m.make_data(i) for i in range(calls)]
    n_bytes = sum(a.nbytes for a in datasets[0])
    _log(f"built the {title}: {len(m.shared)} weights "
         f"({sum(v.nbytes for v in initial) / MiB:.1f} MiB), inputs {n_bytes / MiB:.1f} MiB")

    compiled = {}
    _log("compiling with PyTensor's default mode (Numba backend) ...")
    t0 = time.perf_counter()
    f_default = pytensor.function(m.inputs, m.outputs, updates=m.updates)
    compiled["default"] = time.perf_counter() - t0
    _log(f"  compiled in {compiled['default']:.1f} s")
    _log("compiling with lowmem.pytensor.LowMemMode (same rewrites, Numba backend) ...")
    t0 = time.perf_counter()
    f_lowmem = pytensor.function(m.inputs, m.outputs, updates=m.updates,
                                 mode=lp.LowMemMode(time_limit=time_limit),
                                 name=f"{model}" + ("-train" if m.updates else ""))
    compiled["lowmem"] = time.perf_counter() - t0
    _log(f"  compiled in {compiled['lowmem']:.1f} s")

    _log(f"running {calls} calls in the default mode (call 1 compiles Numba's code, "
         f"call 2 is measured) ...")
    default_run = run_calls(f_default, datasets, m.shared, initial)
    _log(f"running {calls} calls in LowMemMode: call 1 records sizes, schedules (time limit "
         f"{time_limit:g} s) and compiles Numba's code, call 2 is measured ...")
    lowmem_run = run_calls(f_lowmem, datasets, m.shared, initial)
    set_weights(m.shared, initial)

    plan = lp.plan(f_lowmem)
    if plan is None:
        print("lowmem demo: lowmem did not schedule the function (see the warning above); "
              "it ran in PyTensor's order", file=sys.stderr)
    diffs = differences(default_run, lowmem_run)

    out = []
    n_nodes = len(f_lowmem.maker.fgraph.apply_nodes)
    out.append(f"lowmem demo: {title} in PyTensor {pytensor.__version__} ({n_nodes} Apply "
               f"nodes after PyTensor's rewrites), default mode vs LowMemMode")
    out.append("")
    plot_path = os.path.join(out_dir, PLOT_NAME.format(model=model)) if plot else None
    note = None
    if plan is not None:
        text, note = lowmem_report(f_lowmem, plot_path, compiled["lowmem"])
        out.append(text.rstrip("\n"))
        out.append("")
        out.extend(peaks_table(plan, default_run, lowmem_run))
        out.append("")
        out.extend(times_table(compiled, default_run, lowmem_run, plan))
        out.append("")
    out.append(comparison_line(diffs, calls, len(m.outputs), len(m.shared)))
    if note:
        out.append(f"Plot skipped: {note}")
    print("\n".join(out), file=stdout, flush=True)
    _log(f"done in {time.perf_counter() - t_start:.1f} s")
    return EXIT_DIFFERENT if diffs else EXIT_OK


class _Parser(argparse.ArgumentParser):
    """Usage errors on one line of stderr, exit status 2 (as `lowmem`)."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"lowmem demo: {' '.join(message.split())}\n")


def main(argv=None):
    parser = _Parser(prog="python -m lowmem.pytensor._demo",
                     description="lowmem demo --backend pytensor (run in .venv-pytensor)")
    parser.add_argument("--out", metavar="DIR", default=".")
    parser.add_argument("--time-limit", metavar="S", type=float, default=1.0)
    parser.add_argument("--model", metavar="NAME", default=DEFAULT_MODEL)
    parser.add_argument("--calls", metavar="N", type=int, default=3)
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    if args.model not in MODELS:
        parser.error(f"--model: unknown model {args.model[:40]!r} for the pytensor backend "
                     f"(known: {', '.join(MODELS)})")
    if not args.time_limit >= 0:
        parser.error("--time-limit: a number of seconds >= 0")
    if args.time_limit == float("inf"):        # until proven optimal: LowMemMode wants a number
        args.time_limit = 1e6
    if args.calls < 2:
        parser.error("--calls: at least 2 (the second is measured)")
    if not args.no_plot:
        try:
            os.makedirs(args.out, exist_ok=True)
        except OSError as e:
            parser.error(f"--out: cannot create {args.out!r}: {e.strerror or e}")
    try:
        return run_demo(out_dir=args.out, time_limit=args.time_limit, model=args.model,
                        calls=args.calls, plot=not args.no_plot)
    except KeyboardInterrupt:
        print("lowmem demo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
