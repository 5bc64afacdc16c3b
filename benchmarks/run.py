"""Benchmark lowmem.schedule on the graph zoo.

    python -m benchmarks.run [--quick] [--time-limit S] [--theano-timeout S]
                             [--out benchmarks/results] [--no-theano] [--repeats N]

For every zoo graph: nodes, default (listed) peak, depth-first (Theano C VM)
peak, best heuristic peak, lowmem's peak, lower bound, proven, seconds and
search states per second. Then the summaries for the targets:

1. Theano's profiler graph scaled to k = 3..8, side by side with Theano's
   own exhaustive ``count_minimum_peak`` (same optimum? how much faster?);
2. the same family up to k = 40 (proven? seconds);
3. random layered DAGs, 200 nodes, width <= 8, 20 seeds (median seconds,
   fraction proven);
4. ~5,000-node graphs under a 1 s limit (lowmem's peak vs the best heuristic).

Seconds are wall-clock seconds of the ``lowmem.schedule`` call, the minimum
over ``--repeats`` runs (a run that hit the time limit is not repeated). The
tables are printed as markdown and written to ``<out>/latest.md`` with the
raw figures in ``<out>/latest.json``; progress goes to stderr.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np

from lowmem._units import mib

import lowmem

from . import zoo

KiB, MiB = 1024, 1024 * 1024
SUITES = ("zoo", "theano", "k40", "layered", "large")
LARGE_TARGET_S = 1.0
HERE = os.path.dirname(os.path.abspath(__file__))


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def problems_and_total(rows, results):
    """The closing markdown lines of a runner's report: the rows' problems
    (if any) and the total time."""
    problems = [(r["name"], p) for r in rows for p in r["problems"]]
    md = []
    if problems:
        md += ["## Problems", ""] + [f"- {name}: {p}" for name, p in problems] + [""]
    md.append(f"Total benchmark time {results['total_seconds']:.1f} s.")
    return md


# ============================================================ the scheduler
def _stub_schedule(graph, time_limit=1.0, memory_limit=None, decompose=True):
    """Stand-in with the Schedule contract: the better of the listed and the
    depth-first orders, never proven. Used when lowmem.schedule is missing."""
    t0 = time.perf_counter()
    orders = {"default": list(range(graph.n_nodes)), "dfs": zoo.dfs_order(graph)}
    peaks = {k: lowmem.peak(graph, o) for k, o in orders.items()}
    best = min(peaks, key=peaks.get)
    lb = max([int(graph.node_workspace[n]) for n in range(graph.n_nodes)] + [0])
    return SimpleNamespace(order=np.array(orders[best]), peak=peaks[best], lower_bound=lb,
                           optimal=False, default_peak=peaks["default"], heuristic_peaks=peaks,
                           stats={"states": 0, "memo_hits": 0, "segments": 1,
                                  "timed_out": False, "seconds": time.perf_counter() - t0})


def pick_scheduler(force_stub=False):
    if force_stub:
        return _stub_schedule, True
    try:
        lowmem.schedule(lowmem.Graph([1], []))
        return lowmem.schedule, False
    except NotImplementedError:
        log("lowmem.schedule is not implemented yet: using the stub (no search)")
        return _stub_schedule, True


def measure(schedule, graph, time_limit, memory_limit, repeats):
    """Run the scheduler `repeats` times; return the figures of one graph."""
    walls, result = [], None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        s = schedule(graph, time_limit=time_limit, memory_limit=memory_limit)
        walls.append(time.perf_counter() - t0)
        result = result or s
        if s.stats.get("timed_out"):
            break  # another run would only hit the limit again
    s = result
    heur = {k: int(v) for k, v in (s.heuristic_peaks or {}).items()}
    best_name = min(heur, key=heur.get) if heur else None
    best = heur[best_name] if heur else int(s.default_peak)
    order = [int(n) for n in s.order]
    model_peak = lowmem.peak(graph, order)
    search_s = float(s.stats.get("seconds", walls[0]))
    states = int(s.stats.get("states", 0))
    row = {
        "name": graph.name, "nodes": graph.n_nodes,
        "default_peak": int(s.default_peak),
        "dfs_peak": heur.get("dfs", lowmem.peak(graph, zoo.dfs_order(graph))),
        "heuristic_peaks": heur, "best_heuristic": best_name, "best_heuristic_peak": best,
        "peak": int(s.peak), "lower_bound": int(s.lower_bound), "optimal": bool(s.optimal),
        "timed_out": bool(s.stats.get("timed_out", False)),
        "seconds": min(walls), "seconds_runs": walls, "search_seconds": search_s,
        "states": states, "memo_hits": int(s.stats.get("memo_hits", 0)),
        "segments": s.stats.get("segments"),
        "states_per_second": states / search_s if search_s > 0 else None,
        "ratio_default": s.peak / s.default_peak if s.default_peak else 1.0,
        "ratio_best_heuristic": s.peak / best if best else 1.0,
        "model_peak": model_peak,
    }
    problems = []
    if model_peak != row["peak"]:
        problems.append(f"lowmem.peak of the order is {model_peak}, Schedule.peak {row['peak']}")
    if row["peak"] > row["default_peak"]:
        problems.append("peak above the default peak")
    if row["lower_bound"] > model_peak:
        problems.append("lower bound above the peak of the returned order")
    row["problems"] = problems
    for p in problems:
        log(f"  !! {graph.name}: {p}")
    return row


# ================================================================ formatting
def secs(x):
    if x is None:
        return ""
    return f"{x * 1000:.1f} ms" if x < 1 else f"{x:.2f} s"


def rate(x):
    if not x:
        return "-"
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.1f} k" if x >= 1e3 else f"{x:.0f}"


def table(header, rows, align=None):
    align = align or ["l"] + ["r"] * (len(header) - 1)
    sep = ["---:" if a == "r" else ":---:" if a == "c" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def yes(b):
    return "yes" if b else "no"


def zoo_table(rows):
    header = ["graph", "nodes", "default MiB", "dfs MiB", "best heur. MiB", "lowmem MiB",
              "lower bound MiB", "proven", "seconds", "states/s", "peak/default"]
    body = [[r["name"], r["nodes"], mib(r["default_peak"]), mib(r["dfs_peak"]),
             f"{mib(r['best_heuristic_peak'])} ({r['best_heuristic']})", mib(r["peak"]),
             mib(r["lower_bound"]), yes(r["optimal"]) + (" (timeout)" if r["timed_out"] else ""),
             secs(r["seconds"]), rate(r["states_per_second"]), f"{r['ratio_default']:.3f}"]
            for r in rows]
    return table(header, body)


# =================================================================== suites
def run_rows(schedule, graphs, args, time_limit=None, repeats=None, label=""):
    rows = []
    for i, (family, name, build) in enumerate(graphs, 1):
        t0 = time.perf_counter()
        g = build()
        built = time.perf_counter() - t0
        row = measure(schedule, g, time_limit or args.time_limit, args.memory_limit * MiB,
                      args.repeats if repeats is None else repeats)
        row["family"] = family
        row["build_seconds"] = built
        rows.append(row)
        log(f"[{label} {i}/{len(graphs)}] {name}: {g.n_nodes} nodes, peak {mib(row['peak'])} MiB "
            f"(default {mib(row['default_peak'])}), {'proven' if row['optimal'] else 'not proven'}"
            f", {secs(row['seconds'])}")
    return rows


def theano_side_by_side(schedule, ks, args):
    """Scaled Theano family: lowmem vs Theano's count_minimum_peak."""
    try:
        from . import theano_baseline
        baseline = theano_baseline.theano_min_peak
    except Exception as e:  # noqa: BLE001 - report and carry on without Theano
        log(f"Theano baseline unavailable: {e}")
        baseline = None
    rows = run_rows(schedule, zoo.scaled_theano_family(ks), args, label="theano")
    timed_out = args.no_theano or baseline is None
    for r, k in zip(rows, ks):
        r["k"] = k
        r["theano"] = None
        if timed_out:
            r["theano_status"] = "skipped" if (args.no_theano or baseline is None) else "timeout"
            continue
        log(f"[theano] k={k}: Theano's count_minimum_peak (timeout {args.theano_timeout:g} s)")
        try:
            t = baseline(k, args.theano_timeout)
        except Exception as e:  # noqa: BLE001
            log(f"  Theano failed: {str(e).splitlines()[0]}")
            r["theano_status"] = "error"
            r["theano_error"] = str(e)[-2000:]
            continue
        if t is None:
            r["theano_status"] = "timeout"
            timed_out = True  # larger k only take longer
            log(f"  timeout after {args.theano_timeout:g} s")
            continue
        if isinstance(t, (tuple, list)):   # (peak bytes, seconds) form
            t = {"min_peak_bytes": int(t[0]), "theano_search_seconds": float(t[1])}
        r["theano"] = t
        r["theano_status"] = "ok"
        log(f"  Theano: {t.get('min_peak_kb', t['min_peak_bytes'] // KiB)} KB in "
            f"{t.get('theano_search_seconds', float('nan')):.3f} s")
    return rows


def theano_table(rows, args):
    header = ["k", "nodes", "default KiB", "lowmem KiB", "proven", "lowmem s", "Theano KB",
              "Theano search s", "Theano summary s", "Theano s / lowmem s", "same optimum"]
    body = []
    for r in rows:
        t = r.get("theano")
        ours_kib = r["peak"] / KiB
        if t:
            tkb = t.get("min_peak_kb", t["min_peak_bytes"] // KiB)
            tsec = t.get("theano_search_seconds")
            same = round(ours_kib) == tkb
            body.append([r["k"], r["nodes"], f"{r['default_peak'] / KiB:g}", f"{ours_kib:g}",
                         yes(r["optimal"]), secs(r["seconds"]), tkb, secs(tsec),
                         secs(t.get("summary_seconds")),
                         f"{tsec / r['seconds']:,.0f}x" if tsec is not None else "",
                         yes(same)])
        else:
            status = r.get("theano_status", "")
            what = f"timeout > {args.theano_timeout:g} s" if status == "timeout" else status
            body.append([r["k"], r["nodes"], f"{r['default_peak'] / KiB:g}", f"{ours_kib:g}",
                         yes(r["optimal"]), secs(r["seconds"]), what, "", "", "", ""])
    return table(header, body)


def theano_k_table(rows):
    header = ["k", "nodes", "default KiB", "lowmem KiB", "lower bound KiB", "proven",
              "seconds", "states"]
    body = [[r["k"], r["nodes"], f"{r['default_peak'] / KiB:g}", f"{r['peak'] / KiB:g}",
             f"{r['lower_bound'] / KiB:g}", yes(r["optimal"]), secs(r["seconds"]), r["states"]]
            for r in rows]
    return table(header, body)


def layered_summary(rows):
    s = [r["seconds"] for r in rows]
    return {
        "graphs": len(rows),
        "median_seconds": statistics.median(s), "max_seconds": max(s),
        "fraction_proven": sum(r["optimal"] for r in rows) / len(rows),
        "median_ratio_default": statistics.median(r["ratio_default"] for r in rows),
        "median_ratio_best_heuristic": statistics.median(r["ratio_best_heuristic"] for r in rows),
        "all_at_most_best_heuristic": all(r["peak"] <= r["best_heuristic_peak"] for r in rows),
    }


def layered_table(summ, rows):
    header = ["graphs", "median seconds", "max seconds", "proven", "median peak/default",
              "median peak/best heuristic"]
    body = [[summ["graphs"], secs(summ["median_seconds"]), secs(summ["max_seconds"]),
             f"{sum(r['optimal'] for r in rows)}/{len(rows)} ({summ['fraction_proven']:.0%})",
             f"{summ['median_ratio_default']:.3f}", f"{summ['median_ratio_best_heuristic']:.3f}"]]
    return table(header, body, ["r"] * len(header))


def large_table(rows, limit):
    header = ["graph", "nodes", "default MiB", "dfs MiB", "best heuristic MiB", "lowmem MiB",
              "lower bound MiB", "proven", "seconds", "<= best heur.", f"< {limit:g} s"]
    body = [[r["name"], r["nodes"], mib(r["default_peak"]), mib(r["dfs_peak"]),
             f"{mib(r['best_heuristic_peak'])} ({r['best_heuristic']})", mib(r["peak"]),
             mib(r["lower_bound"]), yes(r["optimal"]), secs(r["seconds"]),
             yes(r["peak"] <= r["best_heuristic_peak"]), yes(r["seconds"] < limit)]
            for r in rows]
    return table(header, body)


# ===================================================================== main
def environment():
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE,
                                capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "python": platform.python_version(),
            "numpy": np.__version__, "lowmem": lowmem.__version__, "commit": commit or None,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}"}


def plan(quick):
    """Which graphs each suite runs."""
    if quick:
        names = {"chain_n64", "diamonds_b8", "fan_w8_d4", "layered_n30_w6_s0",
                 "randwire_n8x1_s0_stages", "unet_train_l2_c16_64px", "transformer_train_L1",
                 "theano_profiling_k3"}
        return {"zoo": [z for z in zoo.ZOO if z[1] in names],
                "theano_ks": [3, 4, 5], "theano_k40": [8, 16, 24],
                "layered": zoo.layered_seeds(200, 8, range(3)),
                "large": [z for z in zoo.LARGE if z[1].startswith("layered")]}
    return {"zoo": zoo.ZOO, "theano_ks": list(range(3, 9)),
            "theano_k40": list(range(3, 41)),
            "layered": zoo.layered_seeds(200, 8, range(20)), "large": zoo.LARGE}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a small subset (under a minute)")
    ap.add_argument("--time-limit", type=float, default=None,
                    help="lowmem time limit per graph, seconds (default 10; 2 with --quick)")
    ap.add_argument("--large-time-limit", type=float, default=0.9,
                    help="time limit for the ~5,000-node graphs (default 0.9: the target is "
                         "an answer in under 1 s, and the search uses all of its limit)")
    ap.add_argument("--suites", nargs="+", choices=SUITES, default=list(SUITES),
                    help="run only these parts (default: all)")
    ap.add_argument("--memory-limit", type=float, default=256,
                    help="lowmem search memory limit, MiB (default 256)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="timed runs per graph; the minimum is reported (default 3)")
    ap.add_argument("--theano-timeout", type=float, default=None,
                    help="seconds per k for Theano's search (default 300; 60 with --quick)")
    ap.add_argument("--no-theano", action="store_true", help="skip Theano's search")
    ap.add_argument("--stub", action="store_true",
                    help="use the heuristic stub instead of lowmem.schedule")
    ap.add_argument("--out", default=os.path.join(HERE, "results"),
                    help="folder for latest.md and latest.json")
    args = ap.parse_args(argv)
    if args.time_limit is None:
        args.time_limit = 2.0 if args.quick else 10.0
    if args.theano_timeout is None:
        args.theano_timeout = 60.0 if args.quick else 300.0

    schedule, stub = pick_scheduler(args.stub)
    p = plan(args.quick)
    t_start = time.perf_counter()
    results = {"environment": environment(), "stub": stub,
               "settings": {k: v for k, v in vars(args).items()}}

    want = set(args.suites)
    zoo_rows = run_rows(schedule, p["zoo"], args, label="zoo") if "zoo" in want else []
    th_rows = theano_side_by_side(schedule, p["theano_ks"], args) if "theano" in want else []
    k40_rows = []
    if "k40" in want:
        k40_rows = run_rows(schedule, zoo.scaled_theano_family(p["theano_k40"]), args, label="k")
        for r, k in zip(k40_rows, p["theano_k40"]):
            r["k"] = k
    lay_rows = run_rows(schedule, p["layered"], args, label="layered") if "layered" in want else []
    lay_sum = layered_summary(lay_rows) if lay_rows else {}
    large_rows = run_rows(schedule, p["large"], args, time_limit=args.large_time_limit,
                          label="large") if "large" in want else []
    results.update({"zoo": zoo_rows, "theano": th_rows, "theano_k": k40_rows,
                    "layered200": {"summary": lay_sum, "rows": lay_rows},
                    "large": large_rows,
                    "total_seconds": time.perf_counter() - t_start})

    env = results["environment"]
    md = [f"# lowmem benchmarks{' (quick)' if args.quick else ''}", "",
          f"{env['date']}; lowmem {env['lowmem']}"
          + (f" ({env['commit']})" if env["commit"] else "")
          + f"; Python {env['python']}, NumPy {env['numpy']}; {env['machine']}.",
          f"Time limit {args.time_limit:g} s per graph ({args.large_time_limit:g} s for the "
          f"~5,000-node graphs), memory limit {args.memory_limit:g} MiB; seconds are wall-clock, "
          f"the minimum of {args.repeats} runs (runs that hit the time limit are not repeated)."
          + (" **STUB scheduler: no search, numbers are placeholders.**" if stub else ""),
          ""]
    if zoo_rows:
        md += ["## Zoo", "",
               "default = the listed (toposort) order; dfs = the depth-first order Theano's C VM "
               "runs; best heur. = the best of lowmem's heuristic orders.", "",
               zoo_table(zoo_rows), ""]
    if th_rows:
        md += ["## Theano's profiler graph, scaled: lowmem vs Theano's count_minimum_peak", "",
               "Theano KB is as Theano prints it (rounded); Theano search s is its own "
               "\"took ...s\" figure, Theano summary s the wall time of `profile.summary` "
               "that runs it. The graph is node for node the one Theano 1.0.5 compiles "
               "(5k - 4 nodes, with its Shape_i scalars); default = a breadth-first listing "
               "(shapes, allocs, gers, sums, adds): Theano's own toposort of this graph "
               "(alloc, ger, sum for each i, then the adds) already peaks at the minimum.", "",
               theano_table(th_rows, args), ""]
    if k40_rows:
        md += [f"## Scaled Theano graph up to k = {max(p['theano_k40'])}", "",
               theano_k_table(k40_rows), ""]
    if lay_rows:
        md += [f"## Random layered DAGs, 200 nodes, width <= 8 ({len(lay_rows)} seeds)", "",
               layered_table(lay_sum, lay_rows), ""]
    if large_rows:
        md += [f"## ~5,000-node graphs (time limit {args.large_time_limit:g} s; target: at "
               f"least as good as the best heuristic in under {LARGE_TARGET_S:g} s)", "",
               large_table(large_rows, LARGE_TARGET_S), ""]
    problems = [(r["name"], pr) for rows in (zoo_rows, th_rows, k40_rows, lay_rows, large_rows)
                for r in rows for pr in r["problems"]]
    if problems:
        md += ["## Problems", ""] + [f"- {n}: {pr}" for n, pr in problems] + [""]
    md.append(f"Total benchmark time {results['total_seconds']:.1f} s.")
    write_results(args.out, "latest", "\n".join(md) + "\n", results)
    return 1 if problems else 0


def write_results(out_dir, stem, text, results):
    """Print the markdown `text` and save it as OUT/STEM.md, with the raw
    `results` as OUT/STEM.json."""
    print(text)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, stem + ".md"), "w") as f:
        f.write(text)
    with open(os.path.join(out_dir, stem + ".json"), "w") as f:
        json.dump(results, f, indent=1, default=_json_default)
    log(f"wrote {os.path.join(out_dir, stem + '.md')} and {stem}.json "
        f"({results['total_seconds']:.1f} s)")


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


if __name__ == "__main__":
    sys.exit(main())
