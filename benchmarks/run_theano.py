"""Benchmark lowmem.theano.LowMemMode against Theano's default mode.

    python -m benchmarks.run_theano [--quick] [--time-limit S] [--calls N]
                                    [--models NAME ...] [--out benchmarks/results]
                                    [--save-graphs DIR]

For every model of benchmarks/theano_zoo.py (inference and training step),
compiled twice from the same graph -- ``theano.function(...)`` (default
mode: Theano's C VM) and ``theano.function(..., mode=LowMemMode(...))``:

- nodes: Apply nodes after Theano's optimisations;
- modelled peaks (lowmem's memory model, sizes and workspace recorded by
  LowMemMode's first call): Theano's toposort, the depth-first order the
  default C VM really runs (as the C VM holds memory), lowmem's order, and
  the lower bound;
- measured peaks (tracemalloc, ``lowmem.theano._measure.measure_call``) of
  a call after the first, default mode and LowMemMode, with the same
  inputs and the same initial weights;
- time to schedule (the recording first call + the search:
  ``plan.record_seconds + plan.schedule_seconds``) against Theano's compile
  time for the same function in the default mode, with a warm cache (the
  function is compiled once first, so Theano's C code is built and loaded;
  the second, timed compile is graph optimisation + linking);
- per-call run time, LowMemMode vs default mode: the median of --calls
  calls after the measured one, the two modes taking turns;
- that both modes return bit-for-bit equal outputs on every call and leave
  equal shared weights;
- lowmem's (modelled) peak had the recorded graph been scheduled with
  shorter time limits (0 = heuristics only, 0.1 s, 0.25 s).

Targets checked and printed: scheduling adds under 10% to the compile time;
LowMemMode's measured peak is never above the default mode's (a tolerance
of 4 KiB for Python objects, which tracemalloc also counts). Writes
``<out>/theano_latest.md`` and ``theano_latest.json`` (results/ is
git-ignored) and prints the markdown; progress on stderr. Exit status 1 if
outputs differ or a measured peak is above the default mode's; the timing
target is reported but does not change the exit status (it depends on
the machine's load).
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

import lowmem

from . import theano_zoo
from .run import environment, log, mib, problems_and_total, secs, table, write_results, yes

HERE = os.path.dirname(os.path.abspath(__file__))
KiB, MiB = 1024, 1024 * 1024
SCHEDULE_SHARE_TARGET = 0.10      # scheduling adds under 10% to compile time
SHORTER_LIMITS = (0.0, 0.1, 0.25)  # the recorded graph rescheduled with these limits
PEAK_TOLERANCE = 4 * KiB          # Python objects tracemalloc counts besides arrays


def _bits_equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return (a.dtype == b.dtype and a.shape == b.shape
            and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes())


def run_mode(f, data, shared, initial):
    """From the initial weights: a first call, then a measured call.
    Returns the figures, both calls' outputs and the weights after them."""
    from lowmem.theano._measure import measure_call
    for s, v in zip(shared, initial):
        s.set_value(v.copy())
    t0 = time.perf_counter()
    outputs = [[r.copy() for r in f(*data)]]
    first = time.perf_counter() - t0
    m = measure_call(f, *data)
    outputs.append([r.copy() for r in m.results])
    weights = [s.get_value() for s in shared]
    return {"first_call_seconds": first, "measured_peak": int(m.peak),
            "measured_call_seconds": m.seconds}, outputs, weights


def time_calls(functions, data, calls):
    """Per function, the wall times of `calls` calls, the functions taking
    turns (so that a change in the machine's load hits both alike)."""
    times = [[] for _ in functions]
    for _ in range(calls):
        for f, t in zip(functions, times):
            t0 = time.perf_counter()
            f(*data)
            t.append(time.perf_counter() - t0)
    return times


def bench_entry(entry, args):
    import theano
    import lowmem.theano as lt
    from lowmem.theano._measure import modelled_peaks

    row = {"name": entry.name, "model": entry.model, "train": entry.train}
    t0 = time.perf_counter()
    inputs, outputs, updates, make_data = entry.build()
    row["build_seconds"] = time.perf_counter() - t0
    shared = [s for s, _ in updates]
    initial = [s.get_value() for s in shared]
    data = make_data(0)

    t0 = time.perf_counter()
    theano.function(inputs, outputs, updates=updates)           # fills/loads the C cache
    row["first_compile_seconds"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    f_default = theano.function(inputs, outputs, updates=updates)
    row["compile_seconds"] = time.perf_counter() - t0           # warm cache
    mode = lt.LowMemMode(linker=lt.LowMemLinker(time_limit=args.time_limit,
                                                memory_limit=int(args.memory_limit * MiB),
                                                name=entry.name))
    t0 = time.perf_counter()
    f_lowmem = theano.function(inputs, outputs, updates=updates, mode=mode)
    row["lowmem_compile_seconds"] = time.perf_counter() - t0

    d, d_out, d_w = run_mode(f_default, data, shared, initial)
    l, l_out, l_w = run_mode(f_lowmem, data, shared, initial)
    for mode_row, times in zip((d, l), time_calls([f_default, f_lowmem], data, args.calls)):
        mode_row["call_seconds"] = times
        mode_row["median_call_seconds"] = statistics.median(times)
    for s, v in zip(shared, initial):
        s.set_value(v)
    row["default"], row["lowmem"] = d, l

    diffs = [f"call {c + 1} output {k}" for c, (a, b) in enumerate(zip(d_out, l_out))
             for k, (x, y) in enumerate(zip(a, b)) if not _bits_equal(x, y)]
    diffs += [f"shared weight {shared[k].name}" for k, (x, y) in enumerate(zip(d_w, l_w))
              if not _bits_equal(x, y)]
    row["equal"] = not diffs
    row["differences"] = diffs
    row["calls_compared"] = len(d_out)

    plan = getattr(f_lowmem.fn, "plan", None)
    problems = []
    if plan is None:
        problems.append("LowMemMode did not schedule the function")
        row.update(nodes=len(f_lowmem.fn.nodes))
    else:
        p = modelled_peaks(f_lowmem)
        s = plan.schedule
        row.update(
            nodes=plan.translation.graph.n_nodes,
            toposort_peak=p.toposort, dfs_peak=p.default_vm, default_vm_peak=p.default_vm_theano,
            peak=p.lowmem, lower_bound=p.lower_bound, optimal=p.optimal,
            heuristic_peaks={k: int(v) for k, v in s.heuristic_peaks.items()},
            timed_out=bool(s.stats.get("timed_out")), search_stats=dict(s.stats),
            workspace=p.workspace, workspace_measured=p.workspace_measured,
            record_seconds=plan.record_seconds, schedule_seconds=plan.schedule_seconds)
        row["scheduling_seconds"] = plan.record_seconds + plan.schedule_seconds
        row["scheduling_share"] = row["scheduling_seconds"] / row["compile_seconds"]
        # The recording call is also the user's first call: net of an ordinary
        # call, what planning adds is the recording's extra time + the search.
        row["net_scheduling_seconds"] = max(
            0.0, plan.record_seconds - d["median_call_seconds"]) + plan.schedule_seconds
        row["net_scheduling_share"] = row["net_scheduling_seconds"] / row["compile_seconds"]
        row["ratio_default_measured"] = d["measured_peak"] / p.default_vm_theano \
            if p.default_vm_theano else None
        row["ratio_lowmem_measured"] = l["measured_peak"] / p.lowmem if p.lowmem else None
        # What a shorter time limit would have given (same recorded graph).
        graph = plan.translation.graph
        row["peak_at_time_limit"] = {f"{t:g}": int(lowmem.schedule(
            graph, time_limit=t, memory_limit=int(args.memory_limit * MiB)).peak)
            for t in SHORTER_LIMITS if args.time_limit is None or t < args.time_limit}
        if args.save_graphs:
            os.makedirs(args.save_graphs, exist_ok=True)
            graph.save(os.path.join(args.save_graphs, f"{entry.name}.json"))
    if diffs:
        problems.append(f"outputs differ: {', '.join(diffs[:5])}"
                        + (f" (+{len(diffs) - 5} more)" if len(diffs) > 5 else ""))
    if l["measured_peak"] > d["measured_peak"] + PEAK_TOLERANCE:
        problems.append(f"measured peak with LowMemMode {l['measured_peak']:,} B is above the "
                        f"default mode's {d['measured_peak']:,} B")
    row["problems"] = problems
    row["schedule_target_met"] = row.get("scheduling_share", 1.0) < SCHEDULE_SHARE_TARGET
    row["net_schedule_target_met"] = row.get("net_scheduling_share", 1.0) < SCHEDULE_SHARE_TARGET
    return row


# ---------------------------------------------------------------- tables
def _pct(a, b):
    if not a:
        return ""
    x = 100.0 * (a - b) / a
    return f"{0.0 if abs(x) < 0.05 else x:.1f}%"


def _ratio(x):
    return "" if x is None else f"{x:.4f}"


def memory_table(rows):
    header = ["model", "nodes", "toposort MiB", "C VM order MiB", "lowmem MiB",
              "lower bound MiB", "proven", "measured default MiB", "measured lowmem MiB",
              "saved (measured)", "measured/model default", "measured/model lowmem",
              "outputs equal"]
    body = [[r["name"], r.get("nodes", ""), mib(r.get("toposort_peak")),
             mib(r.get("default_vm_peak")), mib(r.get("peak")), mib(r.get("lower_bound")),
             yes(r.get("optimal")), mib(r["default"]["measured_peak"]),
             mib(r["lowmem"]["measured_peak"]),
             _pct(r["default"]["measured_peak"], r["lowmem"]["measured_peak"]),
             _ratio(r.get("ratio_default_measured")), _ratio(r.get("ratio_lowmem_measured")),
             yes(r["equal"])] for r in rows]
    return table(header, body)


def time_table(rows):
    header = ["model", "nodes", "first compile s", "compile s (warm)", "record s", "search s",
              "(record + search) / compile", "< 10%", "net / compile", "< 10%",
              "call ms default", "call ms lowmem", "lowmem / default"]
    body = []

    def share(r, key):
        return f"{100 * r[key]:.1f}%" if key in r else ""
    for r in rows:
        d, l = r["default"]["median_call_seconds"], r["lowmem"]["median_call_seconds"]
        body.append([r["name"], r.get("nodes", ""), secs(r["first_compile_seconds"]),
                     secs(r["compile_seconds"]),
                     secs(r.get("record_seconds")), secs(r.get("schedule_seconds")),
                     share(r, "scheduling_share"), yes(r["schedule_target_met"]),
                     share(r, "net_scheduling_share"), yes(r["net_schedule_target_met"]),
                     f"{d * 1e3:.1f}", f"{l * 1e3:.1f}", f"{l / d:.2f}" if d else ""])
    return table(header, body)


def limits_table(rows, args):
    limits = [t for t in SHORTER_LIMITS if args.time_limit is None or t < args.time_limit]
    header = (["model", "nodes", "C VM order MiB"]
              + [f"lowmem MiB, {t:g} s" + (" (heuristics)" if t == 0 else "") for t in limits]
              + [f"lowmem MiB, {limit_text(args.time_limit)} (this run)", "lower bound MiB"])
    body = [[r["name"], r.get("nodes", ""), mib(r.get("default_vm_peak"))]
            + [mib(r.get("peak_at_time_limit", {}).get(f"{t:g}")) for t in limits]
            + [mib(r.get("peak")), mib(r.get("lower_bound"))] for r in rows]
    return table(header, body)


def report_markdown(rows, args, results):
    env = results["environment"]
    n = len(rows)
    share_ok = sum(r["schedule_target_met"] for r in rows)
    net_ok = sum(r["net_schedule_target_met"] for r in rows)
    peaks_ok = sum(r["lowmem"]["measured_peak"] <= r["default"]["measured_peak"] + PEAK_TOLERANCE
                   for r in rows)
    equal_ok = sum(r["equal"] for r in rows)
    md = [f"# lowmem on Theano models{' (quick)' if args.quick else ''}", "",
          f"{env['date']}; lowmem {env['lowmem']}"
          + (f" ({env['commit']})" if env["commit"] else "") + f"; Python {env['python']}, NumPy {env['numpy']}; {env['machine']}.",
          f"LowMemMode time limit {limit_text(args.time_limit)} per function. Measured peaks: "
          f"tracemalloc, a call after the first, same inputs and initial weights in both modes. "
          f"Compile time: the default mode, a second compile of the same graph in the same "
          f"process (warm cache: Theano's C code already built and loaded).", "",
          "## Targets", "",
          f"- scheduling (recording call + search) adds under 10% to the compile time: "
          f"**{share_ok}/{n}** functions; net of the ordinary call the recording call "
          f"replaces (recording - median default call + search): **{net_ok}/{n}**",
          f"- measured peak with LowMemMode never above the default mode's (tolerance "
          f"{PEAK_TOLERANCE // KiB} KiB): **{peaks_ok}/{n}**",
          f"- outputs and updated weights bit-for-bit equal in both modes: **{equal_ok}/{n}**",
          "",
          "## Peak memory", "",
          "Modelled with the recorded sizes and workspace: toposort = Theano's listed order; "
          "C VM order = the depth-first order Theano's default C VM runs (outputs nothing "
          "reads held to the call's end, as the C VM does); lowmem = LowMemMode's order. "
          "Measured: tracemalloc peak of one call above the level before it.", "",
          memory_table(rows), "",
          "## Time", "",
          "first compile s = the default mode's first compile in this process (builds or "
          "loads Theano's C code from ~/.theano); compile s (warm) = a second compile of the "
          "same graph, the denominator of both shares; record s = LowMemMode's first call "
          "(runs the function in toposort order, measuring every node's workspace); "
          "search s = lowmem.schedule and planning; net = record s - the median default "
          "call + search s (the recording call is also the caller's first call). Call times: "
          f"median of {args.calls} calls per mode, the two modes taking turns.", "",
          time_table(rows), "",
          "## Shorter time limits", "",
          "lowmem's peak (modelled) for the same recorded graphs rescheduled with shorter "
          "time limits (0 s = the best of lowmem's heuristic orders, no search).", "",
          limits_table(rows, args), ""]
    md += problems_and_total(rows, results)
    return "\n".join(md) + "\n"


def limit_text(time_limit):
    """'0.25 s', or for LowMemMode's default (None) what 'auto' means."""
    if time_limit is None:
        return "auto (10% of the function's compile time, 20 ms to 1 s)"
    return f"{time_limit:g} s"


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run_theano",
                                 description=__doc__.split("\n\n")[0])
    theano_zoo.add_selection_arguments(ap, " (a few minutes)")
    ap.add_argument("--time-limit", type=float, default=None,
                    help="LowMemMode's scheduling time limit per function (default: "
                         "LowMemMode's own: 10%% of the function's compile time, 20 ms to 1 s)")
    ap.add_argument("--memory-limit", type=float, default=256,
                    help="lowmem search memory limit, MiB (default 256)")
    ap.add_argument("--calls", type=int, default=None,
                    help="timed calls per mode after the measured one (default 5; 3 with "
                         "--quick)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"),
                    help="folder for theano_latest.md and theano_latest.json")
    ap.add_argument("--save-graphs", metavar="DIR", default=None,
                    help="also save each recorded graph as DIR/<model>.json (lowmem-graph "
                         "format, for `lowmem schedule`)")
    args = ap.parse_args(argv)
    if args.calls is None:
        args.calls = 3 if args.quick else 5
    if args.calls < 1:
        ap.error("--calls must be at least 1")
    entries = theano_zoo.selected_entries(ap, args)

    log("importing Theano ...")
    import lowmem.theano  # noqa: F401  (prepares Theano's flags)
    t_start = time.perf_counter()
    results = {"environment": environment(), "settings": dict(vars(args)),
               "targets": {"scheduling_share": SCHEDULE_SHARE_TARGET,
                           "peak_tolerance_bytes": PEAK_TOLERANCE}}
    rows = []
    for i, entry in enumerate(entries, 1):
        log(f"[{i}/{len(entries)}] {entry.name}: compiling (default mode twice, LowMemMode) "
            f"and running ...")
        t0 = time.perf_counter()
        row = bench_entry(entry, args)
        rows.append(row)
        log(f"  {row.get('nodes')} nodes; measured peak default "
            f"{mib(row['default']['measured_peak'])} MiB, lowmem "
            f"{mib(row['lowmem']['measured_peak'])} MiB; compile {secs(row['compile_seconds'])}"
            f", scheduling {secs(row.get('scheduling_seconds'))}; "
            f"{'equal' if row['equal'] else 'OUTPUTS DIFFER'} ({time.perf_counter() - t0:.1f} s)")
        for p in row["problems"]:
            log(f"  !! {p}")
    results["rows"] = rows
    results["total_seconds"] = time.perf_counter() - t_start
    write_results(args.out, "theano_latest", report_markdown(rows, args, results), results)
    return 1 if any(r["problems"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
