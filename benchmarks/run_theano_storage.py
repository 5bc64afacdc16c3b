"""Storage sharing in compiled Theano functions: allocations and peaks.

    python -m benchmarks.run_theano_storage [--quick] [--models NAME ...]
                                            [--calls N] [--out benchmarks/results]

For every entry of benchmarks/theano_zoo.py (inference and training step)
the same graph is compiled three ways: Theano's default mode (C VM),
``LowMemMode(share_storage=False)`` (lowmem's order only) and
``LowMemMode()`` (order + storage sharing). Each function is called
--calls times from the same weights (outputs and weights compared bit for
bit with the default mode's on every call; sharing settles within a few
calls: an op's first hand-offs are tried only where they are safe, and
more are planned once it is seen writing into them), then one more call
is measured:

- allocations per call: NumPy array-data allocations counted by
  ``lowmem.theano.AllocationCounter`` (a NEP-49 handler);
- of which graph buffers: in the LowMemMode runs the call is repeated
  with each thunk counted on its own, and an allocation still live when
  its node returns is a node output (a graph buffer, what a storage plan
  can share); the rest is op-internal scratch (im2col buffers, temporaries
  of NumPy-based BLAS calls, scan's inner loop), which no plan reaches;
- measured peak above the starting level (tracemalloc,
  ``lowmem.theano._measure.measure_call``) against the model's
  (``modelled_peaks(f).lowmem``: the storage plan's peak, arrays kept
  between calls being in the starting level);
- the storage plan: buffers, cells, cells kept between calls, hand-offs
  taken per call, and the ops that did not write into the array they were
  handed (they stop taking cells).

Writes ``<out>/theano_storage_latest.md`` and ``.json`` (results/ is
git-ignored) and prints the markdown; progress on stderr. Exit status 1
if outputs differ or a peak with sharing is above the peak without it.
"""

import argparse
import os
import sys
import time

import numpy as np

from . import theano_zoo
from .run import environment, mib, table, write_results
from .run_theano import _bits_equal, log

HERE = os.path.dirname(os.path.abspath(__file__))
PEAK_TOLERANCE = 4096        # Python objects tracemalloc also counts
KEEP_PEAK_ALLOWANCE = 4096   # lowmem.theano._sharing.KEEP_PEAK_ALLOWANCE
MODES = ("default", "lowmem", "shared")


def buffer_allocations(f, data):
    """(graph-buffer allocations, op-internal allocations) of one call of a
    LowMemMode function, each thunk counted on its own."""
    from lowmem.theano import AllocationCounter
    vm = f.fn
    counts = [0, 0]

    def wrap(thunk):
        def run():
            with AllocationCounter() as c:
                thunk()
            counts[0] += c.allocations - c.frees
            counts[1] += c.frees
        return run

    original = vm.thunks
    vm.thunks = [wrap(t) for t in original]
    try:
        f(*data)
    finally:
        vm.thunks = original
    return counts


def run_mode(f, data, shared, initial, calls):
    """Calls from the initial weights; then one counted and one measured call."""
    from lowmem.theano import AllocationCounter
    from lowmem.theano._measure import measure_call
    for s, v in zip(shared, initial):
        s.set_value(v.copy())
    outputs = []
    for _ in range(calls):
        outputs.append([np.copy(r) for r in f(*data)] + [s.get_value() for s in shared])
    with AllocationCounter() as c:
        f(*data)
    m = measure_call(f, *data)
    return {"allocations": c.allocations, "bytes_allocated": c.bytes_allocated,
            "measured_peak": int(m.peak)}, outputs


def bench_entry(entry, calls):
    import theano
    import lowmem.theano as lt
    from lowmem.theano._measure import modelled_peaks

    inputs, outputs, updates, make_data = entry.build()
    shared = [s for s, _ in updates]
    initial = [s.get_value() for s in shared]
    data = make_data(0)
    row = {"name": entry.name}
    results = {}
    for name, mode in zip(MODES, (None, lt.LowMemMode(share_storage=False), lt.LowMemMode())):
        f = theano.function(inputs, outputs, updates=updates, mode=mode)
        row[name], results[name] = run_mode(f, data, shared, initial, calls)
        if mode is not None:
            row[name]["buffer_allocations"], row[name]["internal_allocations"] = \
                buffer_allocations(f, data)
            row[name]["modelled_peak"] = modelled_peaks(f).lowmem
        if name == "shared":
            storage = f.fn.plan.storage
            row.update(nodes=f.fn.plan.translation.graph.n_nodes,
                       buffers=storage.plan.buffers, cells=storage.plan.cells,
                       kept=storage.kept, retained_bytes=storage.retained,
                       taken=storage.taken, handed=storage.handed,
                       storage_plan_peak=int(storage.plan.peak), peak_with_kept=storage.peak,
                       order_peak=int(f.fn.plan.schedule.peak),
                       not_honouring=sorted({type(v.owner.op).__name__
                                             for v in storage.excluded}),
                       honouring=sorted(f.fn.seen_taking),
                       notes=list(f.fn.plan.notes))
    for s, v in zip(shared, initial):
        s.set_value(v)
    diffs = [f"{mode} call {c + 1} value {k}" for mode in ("lowmem", "shared")
             for c, (a, b) in enumerate(zip(results["default"], results[mode]))
             for k, (x, y) in enumerate(zip(a, b)) if not _bits_equal(x, y)]
    row["equal"] = not diffs
    problems = [f"outputs differ: {', '.join(diffs[:5])}"] if diffs else []
    if row["shared"]["measured_peak"] > row["lowmem"]["measured_peak"] + PEAK_TOLERANCE:
        problems.append("measured peak with sharing above the peak without it")
    if row["storage_plan_peak"] > row["order_peak"]:
        problems.append("the storage plan's peak is above the order's")
    if row["peak_with_kept"] > row["order_peak"] + KEEP_PEAK_ALLOWANCE:
        problems.append("arrays kept between calls raise the peak by more than the allowance")
    row["problems"] = problems
    return row


def _cut(before, after):
    return f"{1 - after / before:.0%}" if before else "-"


def report_markdown(rows, args, results):
    env = results["environment"]
    alloc_rows, peak_rows = [], []
    for r in rows:
        d, lo, s = r["default"], r["lowmem"], r["shared"]
        alloc_rows.append([
            r["name"], r["nodes"], f"{r['cells']}/{r['buffers']}", r["kept"],
            d["allocations"], lo["allocations"], s["allocations"],
            _cut(d["allocations"], s["allocations"]),
            f"{lo['buffer_allocations']} → {s['buffer_allocations']}",
            _cut(lo["buffer_allocations"], s["buffer_allocations"]),
            lo["internal_allocations"],
            ", ".join(r["not_honouring"]) or "-"])
        peak_rows.append([
            r["name"], mib(d["measured_peak"]), mib(lo["measured_peak"]),
            mib(s["measured_peak"]), f"{s['measured_peak'] / s['modelled_peak']:.4f}",
            r["retained_bytes"], r["peak_with_kept"] - r["order_peak"],
            "yes" if r["equal"] else "NO"])
    train = [r for r in rows if r["name"].endswith("-train")]
    halved = sum(1 for r in train if r["shared"]["buffer_allocations"]
                 <= 0.5 * r["lowmem"]["buffer_allocations"])
    honour = sorted({op for r in rows for op in r["honouring"]})
    replace = sorted({op for r in rows for op in r["not_honouring"]})
    lines = [
        "# lowmem storage sharing in Theano functions",
        "",
        f"{env['date']}, commit {env['commit']}, Python {env['python']}, NumPy {env['numpy']}; "
        f"{args.calls} calls per mode compared bit for bit, then one counted and one measured.",
        "",
        "## Allocations per call",
        "",
        "cells/buffers: the storage plan; kept: cells kept between calls (arrays of at most 64 "
        "bytes); allocations: NumPy data allocations in one call, default mode, LowMemMode "
        "without sharing, with sharing; graph buffers: allocations that outlive their node "
        "(what a plan can share), without → with sharing; op-internal: scratch allocated and "
        "freed inside an op (the same in every mode).",
        "",
        table(["function", "nodes", "cells/buffers", "kept", "default", "lowmem", "shared",
               "cut", "graph buffers", "cut", "op-internal", "ops replacing their output"],
              alloc_rows),
        "",
        f"Training steps whose graph-buffer allocations sharing cuts by at least half: "
        f"{halved}/{len(train)}.",
        "",
        f"Ops seen writing into the array they were handed: {', '.join(honour) or '-'}.",
        f"Ops seen replacing it (they stop taking cells): {', '.join(replace) or '-'}.",
        "",
        "## Peaks",
        "",
        "Measured (tracemalloc) peak above the call's starting level, MiB; measured/model for "
        "the shared run (model: `modelled_peaks(f).lowmem`); bytes kept between calls, and what "
        "keeping them adds to the modelled peak (at most 4 KiB; the storage plan itself never "
        "raises it).",
        "",
        table(["function", "default", "lowmem", "shared", "shared: measured/model",
               "kept B", "peak + B", "equal outputs"], peak_rows),
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run_theano_storage",
                                 description=__doc__.split("\n\n")[0])
    theano_zoo.add_selection_arguments(ap)
    ap.add_argument("--calls", type=int, default=8,
                    help="calls per mode compared with the default mode, before the counted "
                         "and measured ones (default 8: sharing settles in a few calls, as "
                         "ops are seen writing into the arrays they are handed)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"),
                    help="folder for theano_storage_latest.md and .json")
    args = ap.parse_args(argv)
    if args.calls < 3:
        ap.error("--calls must be at least 3 (record, plan, steady state)")
    entries = theano_zoo.selected_entries(ap, args)
    log("importing Theano ...")
    import lowmem.theano  # noqa: F401  (prepares Theano's flags)
    t_start = time.perf_counter()
    results = {"environment": environment(), "settings": dict(vars(args))}
    rows = []
    for i, entry in enumerate(entries, 1):
        log(f"[{i}/{len(entries)}] {entry.name} ...")
        t0 = time.perf_counter()
        row = bench_entry(entry, args.calls)
        rows.append(row)
        log(f"  allocations {row['default']['allocations']} / {row['lowmem']['allocations']} / "
            f"{row['shared']['allocations']}; buffers {row['lowmem']['buffer_allocations']} → "
            f"{row['shared']['buffer_allocations']}; "
            f"{'equal' if row['equal'] else 'OUTPUTS DIFFER'} ({time.perf_counter() - t0:.1f} s)")
        for p in row["problems"]:
            log(f"  !! {p}")
    results["rows"] = rows
    results["total_seconds"] = time.perf_counter() - t_start
    write_results(args.out, "theano_storage_latest", report_markdown(rows, args, results),
                  results)
    return 1 if any(r["problems"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
