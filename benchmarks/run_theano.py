"""Benchmark lowmem.theano.LowMemMode against Theano's default mode.

    python -m benchmarks.run_theano [--quick] [--models NAME ...] [--calls N]
                                    [--cache-rounds N] [--time-limit S]
                                    [--memory-limit MiB] [--out benchmarks/results]
                                    [--save-graphs DIR]

For every model of benchmarks/theano_zoo.py (inference and training step),
compiled from the same graph -- ``theano.function(...)`` (default mode:
Theano's C VM) and ``theano.function(..., mode=LowMemMode(...))``:

- nodes: Apply nodes after Theano's optimisations;
- modelled peaks (lowmem's memory model, sizes and workspace recorded by
  LowMemMode's first call): Theano's toposort, the depth-first order the
  default C VM really runs (as the C VM holds memory), lowmem's order, and
  the lower bound;
- measured peaks (tracemalloc, ``lowmem.theano._measure.measure_call``) of
  a call after the first, default mode and LowMemMode, with the same
  inputs and the same initial weights;
- per-call run time: the median of --calls calls per mode after the
  measured one, the two modes taking turns (in alternating order); per function the ratio
  LowMemMode / default of the medians;
- without a plan cache (LowMemMode compiled with ``cache_dir`` a fresh
  temporary directory of this run, so its first call records sizes and
  searches): the time to schedule (the recording first call + the search:
  ``plan.record_seconds + plan.schedule_seconds``, "gross"; and "net" of
  the ordinary call the recording call also is: record - the median
  default call + search) against Theano's compile time for the same
  function in the default mode with a warm cache (the function is compiled
  once first, so Theano's C code is built and loaded; the second, timed
  compile is graph optimisation + linking);
- with a warm plan cache: --cache-rounds rounds, each compiling (timed) the
  default mode and LowMemMode (which first alternates from round to round)
  with the same, now warm, cache
  directory and options, and timing both functions' first calls from the
  initial weights; LowMemMode's plan must come from the cache
  (``plan.source == "cache"``: no recording call, no search). Medians over
  the rounds of the four times; ratios: cached first call / the default
  mode's median call, and (cached compile + first call) / (default compile
  + first call); garbage is collected before every timed compile and first
  call, so that no earlier function's garbage is collected inside it;
- that both modes return bit-for-bit equal outputs on every call and leave
  equal shared weights, and that each cached function's first call equals
  the default mode's first call of the same round;
- lowmem's (modelled) peak had the recorded graph been scheduled with
  shorter time limits (0 = heuristics only, 0.1 s, 0.25 s).

Targets, checked and printed: LowMemMode's measured peak is never above the
default mode's (a tolerance of 4 KiB for Python objects, which tracemalloc
also counts); per call, the median of the functions' LowMemMode / default
ratios is at most 1.00 and the largest at most 1.05; without a cache,
scheduling (gross, and net) adds at most 10% to the warm compile time on
at least 12 of 16 functions; with a warm cache, the first call is within
5% of the default mode's median call and compile + first call within 5% of
the default mode's. Writes ``<out>/theano_latest.md`` and
``theano_latest.json`` (every raw time, as lists; results/ is git-ignored)
and prints the markdown; progress on stderr. Exit status 1 if outputs
differ, a measured peak is above the default mode's, or a warm compile did
not load its plan from the cache; the timing targets are reported but do
not change the exit status (they depend on the machine's load).
"""

import argparse
import gc
import math
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

import lowmem

from . import theano_zoo
from .run import environment, log, mib, problems_and_total, secs, table, write_results, yes

HERE = os.path.dirname(os.path.abspath(__file__))
KiB, MiB = 1024, 1024 * 1024
SCHEDULE_SHARE_TARGET = 0.10      # scheduling adds at most 10% to compile time ...
SCHEDULE_FUNCTIONS_TARGET = (12, 16)   # ... on at least 12 of the 16 functions
CALL_RATIO_MEDIAN_TARGET = 1.00   # per call, LowMemMode / default: median of the functions
CALL_RATIO_MAX_TARGET = 1.05      # ... and every function
CACHED_RATIO_TARGET = 1.05        # warm cache: first call, and compile + first call
SHORTER_LIMITS = (0.0, 0.1, 0.25)  # the recorded graph rescheduled with these limits
PEAK_TOLERANCE = 4 * KiB          # Python objects tracemalloc counts besides arrays


def _bits_equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return (a.dtype == b.dtype and a.shape == b.shape
            and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes())


def _differences(a_out, b_out, a_weights, b_weights, shared, prefix=""):
    """What differs between two runs: 'call C output K' and 'shared weight W'."""
    diffs = [f"{prefix}call {c + 1} output {k}" for c, (a, b) in enumerate(zip(a_out, b_out))
             for k, (x, y) in enumerate(zip(a, b)) if not _bits_equal(x, y)]
    diffs += [f"{prefix}shared weight {shared[k].name}"
              for k, (x, y) in enumerate(zip(a_weights, b_weights)) if not _bits_equal(x, y)]
    return diffs


def _listed(diffs):
    return ", ".join(diffs[:5]) + (f" (+{len(diffs) - 5} more)" if len(diffs) > 5 else "")


def settle():
    """Collect garbage before a timed compile or first call: earlier
    functions' reference cycles (Theano graphs) otherwise trigger a full
    collection of 0.2-0.5 s inside whichever timed section comes next."""
    gc.collect()


def first_call(f, data, shared, initial):
    """From the initial weights, one call: its wall time, outputs (copied)
    and the weights after it."""
    for s, v in zip(shared, initial):
        s.set_value(v.copy())
    settle()
    t0 = time.perf_counter()
    results = f(*data)
    seconds = time.perf_counter() - t0
    return seconds, [r.copy() for r in results], [s.get_value() for s in shared]


def run_mode(f, data, shared, initial):
    """From the initial weights: a first call, then a measured call.
    Returns the figures, both calls' outputs and the weights after them."""
    from lowmem.theano._measure import measure_call
    first, out, _ = first_call(f, data, shared, initial)
    outputs = [out]
    m = measure_call(f, *data)
    outputs.append([r.copy() for r in m.results])
    weights = [s.get_value() for s in shared]
    return {"first_call_seconds": first, "measured_peak": int(m.peak),
            "measured_call_seconds": m.seconds}, outputs, weights


def time_calls(functions, data, calls):
    """Per function, the wall times of `calls` calls, the functions taking
    turns (so that a change in the machine's load hits both alike), in
    the opposite order every other round (so that neither always runs
    after the other)."""
    times = [[] for _ in functions]
    for r in range(calls):
        pairs = list(zip(functions, times))
        for f, t in (pairs if r % 2 == 0 else pairs[::-1]):
            t0 = time.perf_counter()
            f(*data)
            t.append(time.perf_counter() - t0)
    return times


def lowmem_mode(entry, args, cache_dir):
    """LowMemMode with this run's options and plan-cache directory."""
    import lowmem.theano as lt
    return lt.LowMemMode(time_limit=args.time_limit, memory_limit=int(args.memory_limit * MiB),
                         name=entry.name, cache_dir=cache_dir)


def _median(xs):
    return statistics.median(xs) if xs else None


def _div(a, b):
    return a / b if a is not None and b else None


def warm_rounds(entry, graph, data, shared, initial, args, cache_dir, median_call):
    """--cache-rounds rounds, each: compile the default mode and time its
    first call, then compile LowMemMode with the (warm) plan cache and time
    its first call. Returns the figures (raw lists, medians, ratios) and
    the problems found."""
    import theano
    inputs, outputs, updates = graph
    keys = ("default_compile_seconds", "default_first_call_seconds",
            "cached_compile_seconds", "cached_first_call_seconds",
            "cached_record_seconds", "cached_schedule_seconds")
    warm = {k: [] for k in keys}
    warm["plan_sources"] = []
    problems, diffs = [], []
    def default_round(r):
        settle()
        t0 = time.perf_counter()
        f = theano.function(inputs, outputs, updates=updates)
        warm["default_compile_seconds"].append(time.perf_counter() - t0)
        seconds, out, weights = first_call(f, data, shared, initial)
        warm["default_first_call_seconds"].append(seconds)
        return out, weights

    def cached_round(r):
        mode = lowmem_mode(entry, args, cache_dir)
        settle()
        t0 = time.perf_counter()
        g = theano.function(inputs, outputs, updates=updates, mode=mode)
        warm["cached_compile_seconds"].append(time.perf_counter() - t0)
        seconds, out, weights = first_call(g, data, shared, initial)
        warm["cached_first_call_seconds"].append(seconds)
        plan = getattr(g.fn, "plan", None)
        source = plan.source if plan is not None else None
        warm["plan_sources"].append(source)
        warm["cached_record_seconds"].append(plan.record_seconds if plan else None)
        warm["cached_schedule_seconds"].append(plan.schedule_seconds if plan else None)
        if source != "cache":
            problems.append(f"the warm compile did not load its plan from the cache: {source} "
                            f"(round {r + 1})")
        return out, weights

    for r in range(args.cache_rounds):
        # The default mode first in even rounds, LowMemMode first in odd ones.
        if r % 2 == 0:
            d_out, d_w = default_round(r)
            l_out, l_w = cached_round(r)
        else:
            l_out, l_w = cached_round(r)
            d_out, d_w = default_round(r)
        diffs += _differences([d_out], [l_out], d_w, l_w, shared, prefix=f"round {r + 1} ")
    for s, v in zip(shared, initial):
        s.set_value(v)
    for k in ("default_compile", "default_first_call", "cached_compile", "cached_first_call"):
        warm[f"median_{k}_seconds"] = _median(warm[f"{k}_seconds"])
    warm["cached_first_call_ratio"] = _div(warm["median_cached_first_call_seconds"],
                                           median_call)
    # JSON only: the same over the default mode's first call of the rounds.
    warm["cached_first_call_to_default_first_ratio"] = _div(
        warm["median_cached_first_call_seconds"], warm["median_default_first_call_seconds"])
    if args.cache_rounds:
        warm["cached_total_ratio"] = _div(
            warm["median_cached_compile_seconds"] + warm["median_cached_first_call_seconds"],
            warm["median_default_compile_seconds"] + warm["median_default_first_call_seconds"])
    else:
        warm["cached_total_ratio"] = None
    warm["equal"] = not diffs
    warm["differences"] = diffs
    if diffs:
        problems.append("the cached function's first call differs from the default mode's: "
                        + _listed(diffs))
    return warm, problems


def bench_entry(entry, args, cache_dir):
    import theano
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
    settle()
    t0 = time.perf_counter()
    f_default = theano.function(inputs, outputs, updates=updates)
    row["compile_seconds"] = time.perf_counter() - t0           # warm cache
    # Uncached: this run's fresh plan cache holds no plan of this function,
    # so the first call records sizes and searches.
    settle()
    t0 = time.perf_counter()
    f_lowmem = theano.function(inputs, outputs, updates=updates,
                               mode=lowmem_mode(entry, args, cache_dir))
    row["lowmem_compile_seconds"] = time.perf_counter() - t0

    d, d_out, d_w = run_mode(f_default, data, shared, initial)
    l, l_out, l_w = run_mode(f_lowmem, data, shared, initial)
    for mode_row, times in zip((d, l), time_calls([f_default, f_lowmem], data, args.calls)):
        mode_row["call_seconds"] = times
        mode_row["median_call_seconds"] = statistics.median(times)
    for s, v in zip(shared, initial):
        s.set_value(v)
    row["default"], row["lowmem"] = d, l
    row["call_ratio"] = _div(l["median_call_seconds"], d["median_call_seconds"])

    diffs = _differences(d_out, l_out, d_w, l_w, shared)
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
            nodes=plan.translation.graph.n_nodes, plan_source=plan.source,
            toposort_peak=p.toposort, dfs_peak=p.default_vm, default_vm_peak=p.default_vm_theano,
            peak=p.lowmem, lower_bound=p.lower_bound, optimal=p.optimal,
            heuristic_peaks={k: int(v) for k, v in s.heuristic_peaks.items()},
            timed_out=bool(s.stats.get("timed_out")), search_stats=dict(s.stats),
            workspace=p.workspace, workspace_measured=p.workspace_measured,
            record_seconds=plan.record_seconds, schedule_seconds=plan.schedule_seconds)
        if plan.source != "recorded":
            log(f"  note: the uncached LowMemMode function was planned from "
                f"{plan.source!r}, not recorded")
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
        problems.append(f"outputs differ: {_listed(diffs)}")
    if l["measured_peak"] > d["measured_peak"] + PEAK_TOLERANCE:
        problems.append(f"measured peak with LowMemMode {l['measured_peak']:,} B is above the "
                        f"default mode's {d['measured_peak']:,} B")
    del f_default, f_lowmem

    # Warm plan cache: the cache directory now holds this function's plan.
    row["warm"], warm_problems = warm_rounds(entry, (inputs, outputs, updates), data, shared,
                                             initial, args, cache_dir, d["median_call_seconds"])
    problems += warm_problems
    row["problems"] = problems
    row["schedule_target_met"] = row.get("scheduling_share", 1.0) <= SCHEDULE_SHARE_TARGET
    row["net_schedule_target_met"] = \
        row.get("net_scheduling_share", 1.0) <= SCHEDULE_SHARE_TARGET
    row["call_target_met"] = _at_most(row["call_ratio"], CALL_RATIO_MAX_TARGET)
    row["cached_first_call_target_met"] = _at_most(row["warm"]["cached_first_call_ratio"],
                                                   CACHED_RATIO_TARGET)
    row["cached_total_target_met"] = _at_most(row["warm"]["cached_total_ratio"],
                                              CACHED_RATIO_TARGET)
    return row


def _at_most(x, target):
    return None if x is None else x <= target


def summary(rows):
    """The run's target figures (also stored in the JSON)."""
    n = len(rows)
    ratios = [r["call_ratio"] for r in rows if r["call_ratio"] is not None]
    worst = max(rows, key=lambda r: r["call_ratio"] or 0.0) if ratios else None
    warm = [r["warm"] for r in rows]
    first = [w["cached_first_call_ratio"] for w in warm if w["cached_first_call_ratio"]]
    total = [w["cached_total_ratio"] for w in warm if w["cached_total_ratio"]]
    need, of = SCHEDULE_FUNCTIONS_TARGET
    return {
        "functions": n,
        "call_ratio_median": _median(ratios),
        "call_ratio_max": max(ratios) if ratios else None,
        "call_ratio_max_function": worst["name"] if worst else None,
        "call_ratio_above_max_target": sum(x > CALL_RATIO_MAX_TARGET for x in ratios),
        "scheduling_share_met": sum(r["schedule_target_met"] for r in rows),
        "net_scheduling_share_met": sum(r["net_schedule_target_met"] for r in rows),
        # 12 of 16, scaled to the functions of this run
        "scheduling_functions_needed": math.ceil(need * n / of),
        "cached_from_cache": sum(bool(w["plan_sources"]) and
                                 all(s == "cache" for s in w["plan_sources"]) for w in warm),
        "cached_first_call_met": sum(bool(r["cached_first_call_target_met"]) for r in rows),
        "cached_first_call_ratio_median": _median(first),
        "cached_first_call_ratio_max": max(first) if first else None,
        "cached_total_met": sum(bool(r["cached_total_target_met"]) for r in rows),
        "cached_total_ratio_median": _median(total),
        "cached_total_ratio_max": max(total) if total else None,
        "peaks_met": sum(r["lowmem"]["measured_peak"]
                         <= r["default"]["measured_peak"] + PEAK_TOLERANCE for r in rows),
        "equal": sum(r["equal"] for r in rows),
        "cached_equal": sum(r["warm"]["equal"] for r in rows),
    }


# ---------------------------------------------------------------- tables
def _pct(a, b):
    if not a:
        return ""
    x = 100.0 * (a - b) / a
    return f"{0.0 if abs(x) < 0.05 else x:.1f}%"


def _ratio(x, digits=4):
    return "" if x is None else f"{x:.{digits}f}"


def _ms(x):
    return "" if x is None else f"{x * 1e3:.1f}"


def _yes(b):
    return "" if b is None else yes(b)


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


def call_table(rows):
    header = ["model", "nodes", "call ms default", "call ms lowmem", "lowmem / default",
              f"≤ {CALL_RATIO_MAX_TARGET:.2f}"]
    body = [[r["name"], r.get("nodes", ""), _ms(r["default"]["median_call_seconds"]),
             _ms(r["lowmem"]["median_call_seconds"]), _ratio(r["call_ratio"], 3),
             _yes(r["call_target_met"])] for r in rows]
    return table(header, body)


def compile_table(rows):
    share_text = f"≤{100 * SCHEDULE_SHARE_TARGET:g}%"
    cached_text = f"≤{CACHED_RATIO_TARGET:.2f}"
    header = ["model", "nodes", "compile s default (warm)", "record s", "search s",
              "gross share", share_text, "net share", share_text, "cached compile s",
              "cached first call ms", "cached first call / default call", cached_text,
              "(compile + first) cached / default", cached_text]

    def share(r, key):
        return f"{100 * r[key]:.1f}%" if key in r else ""
    body = []
    for r in rows:
        w = r["warm"]
        body.append([r["name"], r.get("nodes", ""), secs(r["compile_seconds"]),
                     secs(r.get("record_seconds")), secs(r.get("schedule_seconds")),
                     share(r, "scheduling_share"), yes(r["schedule_target_met"]),
                     share(r, "net_scheduling_share"), yes(r["net_schedule_target_met"]),
                     secs(w["median_cached_compile_seconds"]),
                     _ms(w["median_cached_first_call_seconds"]),
                     _ratio(w["cached_first_call_ratio"], 3),
                     _yes(r["cached_first_call_target_met"]),
                     _ratio(w["cached_total_ratio"], 3), _yes(r["cached_total_target_met"])])
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


def _met(ok):
    return "met" if ok else "**not met**"


def targets_markdown(s, args):
    n = s["functions"]
    need, of = SCHEDULE_FUNCTIONS_TARGET
    needed = f"{need}/{of}" + ("" if n == of else f", i.e. {s['scheduling_functions_needed']}"
                               f"/{n} for this run's")
    share = f"{100 * SCHEDULE_SHARE_TARGET:g}%"
    md = [f"- per call, LowMemMode / default (medians of {args.calls} calls): median over "
          f"the functions **{_ratio(s['call_ratio_median'])}** (target ≤ "
          f"{CALL_RATIO_MEDIAN_TARGET:.2f}: "
          f"{_met((s['call_ratio_median'] or 0) <= CALL_RATIO_MEDIAN_TARGET)}); largest "
          f"**{_ratio(s['call_ratio_max'], 3)}** ({s['call_ratio_max_function']}; target ≤ "
          f"{CALL_RATIO_MAX_TARGET:.2f}: "
          f"{_met((s['call_ratio_max'] or 0) <= CALL_RATIO_MAX_TARGET)}); "
          f"**{s['call_ratio_above_max_target']}/{n}** functions above "
          f"{CALL_RATIO_MAX_TARGET:.2f}",
          f"- without a plan cache, scheduling adds at most {share} to the default mode's "
          f"warm compile time (target: {needed} functions): gross (record + search) "
          f"**{s['scheduling_share_met']}/{n}** "
          f"({_met(s['scheduling_share_met'] >= s['scheduling_functions_needed'])}); net "
          f"(record - median default call + search) **{s['net_scheduling_share_met']}/{n}** "
          f"({_met(s['net_scheduling_share_met'] >= s['scheduling_functions_needed'])})"]
    if args.cache_rounds:
        md += [f"- with a warm plan cache, the plan is loaded from the cache (no recording "
               f"call, no search) in every round: **{s['cached_from_cache']}/{n}**",
               f"- warm cache, first call / the default mode's median call ≤ "
               f"{CACHED_RATIO_TARGET:.2f}: **{s['cached_first_call_met']}/{n}** (median "
               f"{_ratio(s['cached_first_call_ratio_median'], 3)}, largest "
               f"{_ratio(s['cached_first_call_ratio_max'], 3)})",
               f"- warm cache, (compile + first call) / the default mode's ≤ "
               f"{CACHED_RATIO_TARGET:.2f}: **{s['cached_total_met']}/{n}** (median "
               f"{_ratio(s['cached_total_ratio_median'], 3)}, largest "
               f"{_ratio(s['cached_total_ratio_max'], 3)})"]
    md += [f"- measured peak with LowMemMode never above the default mode's (tolerance "
           f"{PEAK_TOLERANCE // KiB} KiB): **{s['peaks_met']}/{n}**",
           f"- outputs and updated weights bit-for-bit equal in both modes: "
           f"**{s['equal']}/{n}**"
           + (f"; the cached functions' first calls equal the default mode's: "
              f"**{s['cached_equal']}/{n}**" if args.cache_rounds else "")]
    return md


def report_markdown(rows, args, results):
    env = results["environment"]
    share = f"{100 * SCHEDULE_SHARE_TARGET:g}%"
    rounds = (f"{args.cache_rounds} round{'s' if args.cache_rounds != 1 else ''}"
              if args.cache_rounds else "no rounds (--cache-rounds 0)")
    md = [f"# lowmem on Theano models{' (quick)' if args.quick else ''}", "",
          f"{env['date']}; lowmem {env['lowmem']}"
          + (f" ({env['commit']})" if env["commit"] else "") + f"; Python {env['python']}, NumPy {env['numpy']}; {env['machine']}.",
          f"LowMemMode time limit {limit_text(args.time_limit)} per function. Measured peaks: "
          f"tracemalloc, a call after the first, same inputs and initial weights in both modes. "
          f"Compile time: the default mode, a second compile of the same graph in the same "
          f"process (warm cache: Theano's C code already built and loaded). LowMemMode's "
          f"first compile uses a plan cache in a fresh temporary directory (no plan: its first "
          f"call records and searches); the warm-cache figures compile it again with that "
          f"directory, in {rounds}. Garbage is collected before every timed compile and "
          f"first call (earlier functions' garbage would otherwise add a full collection "
          f"of a few tenths of a second to one of them).", "",
          "## Targets", ""]
    md += targets_markdown(results["summary"], args)
    md += ["",
           "## Peak memory", "",
           "Modelled with the recorded sizes and workspace: toposort = Theano's listed order; "
           "C VM order = the depth-first order Theano's default C VM runs (outputs nothing "
           "reads held to the call's end, as the C VM does); lowmem = LowMemMode's order. "
           "Measured: tracemalloc peak of one call above the level before it.", "",
           memory_table(rows), "",
           "## Per call", "",
           f"call ms = the median of {args.calls} calls per mode after the first and the "
           f"measured one, the two modes taking turns in alternating order; lowmem / default = the ratio of the "
           f"medians (≤ {CALL_RATIO_MAX_TARGET:.2f}: within the target for every function).",
           "",
           call_table(rows), "",
           "## Compile and first call", "",
           f"Without a plan cache: compile s default (warm) = the default mode's second "
           f"compile of the same graph, the denominator of both shares; record s = "
           f"LowMemMode's first call (runs the function in toposort order, measuring every "
           f"node's workspace); search s = translation, lowmem.schedule and the storage plan; "
           f"gross share = (record s + search s) / compile s; net share = (record s - the "
           f"median default call + search s) / compile s (the recording call is also the "
           f"caller's first call); ≤{share}: within the target. With the warm plan cache "
           f"({'not measured: ' if not args.cache_rounds else ''}medians over {rounds}, each compiling and calling the default mode and "
           f"LowMemMode, which first alternating, from the initial weights): cached compile s = "
           f"LowMemMode's compile (which prepares the stored plan); cached first call ms = its "
           f"first call (checks the inputs' shapes against the plan's; no recording, no "
           f"search); "
           f"cached first call / default call = that over the default mode's median call of "
           f"the table above; (compile + first) cached / default = cached compile + first "
           f"call over the default mode's compile + first call in the same rounds; "
           f"≤{CACHED_RATIO_TARGET:.2f}: within the target. Every round's times are in the "
           f"JSON.", "",
           compile_table(rows), "",
           "## Shorter time limits", "",
           "lowmem's peak (modelled) for the same recorded graphs rescheduled with shorter "
           "time limits (0 s = the best of lowmem's heuristic orders, no search).", "",
           limits_table(rows, args), ""]
    md += problems_and_total(rows, results)
    return "\n".join(md) + "\n"


def _duration(x):
    return f"{x * 1e3:g} ms" if x < 1 else f"{x:g} s"


def limit_text(time_limit):
    """'0.25 s', or for LowMemMode's default (None) what 'auto' means."""
    if time_limit is None:
        from lowmem.theano import _linker
        return (f"auto ({100 * _linker.AUTO_TIME_SHARE:g}% of the function's compile time, "
                f"{_duration(_linker.AUTO_TIME_MIN)} to {_duration(_linker.AUTO_TIME_MAX)})")
    return f"{time_limit:g} s"


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.run_theano", description=__doc__.split("\n\n")[0],
        epilog="Per function: peaks (modelled and measured), per-call time, scheduling time "
               "without a plan cache (LowMemMode's first compile uses a fresh temporary "
               "cache directory) and compile + first-call time with the warm cache; outputs "
               "compared bit for bit. Writes OUT/theano_latest.md and .json. Exit status 1 if "
               "outputs differ, a measured peak is above the default mode's or a warm "
               "compile did not load its plan from the cache; timing targets are reported "
               "only. See the module docstring for details.")
    theano_zoo.add_selection_arguments(ap, " (a few minutes)")
    ap.add_argument("--time-limit", type=float, default=None,
                    help="LowMemMode's scheduling time limit per function (default: "
                         "LowMemMode's own 'auto': a share of the function's compile time, "
                         "lowmem.theano._linker.AUTO_TIME_SHARE within AUTO_TIME_MIN to "
                         "AUTO_TIME_MAX seconds)")
    ap.add_argument("--memory-limit", type=float, default=256,
                    help="lowmem search memory limit, MiB (default 256)")
    ap.add_argument("--calls", type=int, default=None,
                    help="timed calls per mode after the measured one, the modes taking "
                         "turns in alternating order; the median is reported (default 31; 9 "
                         "with --quick)")
    ap.add_argument("--cache-rounds", type=int, default=None,
                    help="warm plan-cache rounds per function, each compiling and calling "
                         "the default mode and LowMemMode with the warm cache, which first "
                         "alternating (default 5; 1 with --quick; 0: none)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"),
                    help="folder for theano_latest.md and theano_latest.json")
    ap.add_argument("--save-graphs", metavar="DIR", default=None,
                    help="also save each recorded graph as DIR/<model>.json (lowmem-graph "
                         "format, for `lowmem schedule`)")
    args = ap.parse_args(argv)
    if args.calls is None:
        args.calls = 9 if args.quick else 31
    if args.cache_rounds is None:
        args.cache_rounds = 1 if args.quick else 5
    if args.calls < 1:
        ap.error("--calls must be at least 1")
    if args.cache_rounds < 0:
        ap.error("--cache-rounds must be at least 0")
    entries = theano_zoo.selected_entries(ap, args)

    log("importing Theano ...")
    import lowmem.theano  # noqa: F401  (prepares Theano's flags)
    t_start = time.perf_counter()
    results = {"environment": environment(), "settings": dict(vars(args)),
               "targets": {"scheduling_share": SCHEDULE_SHARE_TARGET,
                           "scheduling_functions": list(SCHEDULE_FUNCTIONS_TARGET),
                           "call_ratio_median": CALL_RATIO_MEDIAN_TARGET,
                           "call_ratio_max": CALL_RATIO_MAX_TARGET,
                           "cached_first_call_ratio": CACHED_RATIO_TARGET,
                           "cached_total_ratio": CACHED_RATIO_TARGET,
                           "peak_tolerance_bytes": PEAK_TOLERANCE}}
    rows = []
    # This run's plan cache: empty at the start of every function's first
    # LowMemMode compile, warm for its later rounds; removed at the end.
    cache_dir = tempfile.mkdtemp(prefix="lowmem-bench-plans-")
    try:
        for i, entry in enumerate(entries, 1):
            log(f"[{i}/{len(entries)}] {entry.name}: compiling (default mode twice, LowMemMode "
                f"uncached), running, then {args.cache_rounds} warm-cache round(s) ...")
            t0 = time.perf_counter()
            row = bench_entry(entry, args, cache_dir)
            rows.append(row)
            w = row["warm"]
            log(f"  {row.get('nodes')} nodes; measured peak default "
                f"{mib(row['default']['measured_peak'])} MiB, lowmem "
                f"{mib(row['lowmem']['measured_peak'])} MiB; call lowmem/default "
                f"{_ratio(row['call_ratio'], 3)}; compile {secs(row['compile_seconds'])}, "
                f"scheduling {secs(row.get('scheduling_seconds'))}; cached compile "
                f"{secs(w['median_cached_compile_seconds'])}, first call "
                f"{secs(w['median_cached_first_call_seconds'])} ({', '.join(map(str, w['plan_sources']))}); "
                f"{'equal' if row['equal'] and w['equal'] else 'OUTPUTS DIFFER'} "
                f"({time.perf_counter() - t0:.1f} s)")
            for p in row["problems"]:
                log(f"  !! {p}")
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    results["rows"] = rows
    results["summary"] = summary(rows)
    results["total_seconds"] = time.perf_counter() - t_start
    write_results(args.out, "theano_latest", report_markdown(rows, args, results), results)
    return 1 if any(r["problems"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
