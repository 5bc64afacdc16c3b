"""Arena planner benchmark (issue 11): ``lowmem.arena_offsets`` on Google
MiniMalloc's "challenging" instances, generated instances of their kind,
the zoo's graph-derived plans, and a 10,000-buffer fast path; MiniMalloc's
own binary on the same instances, same run, where it is available.

    python -m benchmarks.run_arena [--time-limit S] [--suites ...] [--quick]
        [--minimalloc-src DIR] [--minimalloc-bin FILE | --build-minimalloc]
        [--out benchmarks/results]

Suites (benchmarks/arena_instances.py):

challenging  MiniMalloc's 11 instances A-K (from a MiniMalloc checkout:
             --minimalloc-src or $MINIMALLOC_SRC) at 1,048,576 bytes
generated    guillotine tilings at full load (capacity = the known optimum)
             and random interval sets (minimised, no known optimum)
zoo          lowmem.plan_storage's arena buffers on the graph zoo (minimised)
fast         ~10,000 buffers at time_limit=0: median of --repeats runs

Instances with a capacity are decided at it with --time-limit (lowmem stops
as soon as it fits); MiniMalloc's binary runs on the same CSV at the same
capacity right before or after (alternating), its wall time measured here.
Instances without one are minimised within --minimise-time-limit (MiniMalloc
needs a capacity: none for them). Every offset set, lowmem's and
MiniMalloc's, is checked independently of lowmem's code: buffers live at one
time never overlap, offsets inside the arena (or the capacity); lowmem's
lower bound is checked against the most bytes live at once and against any
arena known to fit. A failed check sets exit status 1. Markdown goes to
stdout and DIR/arena_latest.md, raw figures to DIR/arena_latest.json;
progress on stderr.
"""

import argparse
import bisect
import csv
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import lowmem

from . import arena_instances as ai
from .run import environment, log, table, write_results
from .run_networks import uncommitted_lowmem_files

HERE = os.path.dirname(os.path.abspath(__file__))
SUITES = ("challenging", "generated", "zoo", "fast")
DEFAULT_BIN = os.path.join(os.path.expanduser("~"), ".cache", "lowmem", "minimalloc", "build",
                           "minimalloc")
ZOO_WITHIN = 1.01                   # arena / bound within 1% ...
FAST_BUFFERS = 10_000               # ... and this many buffers planned
FAST_TARGET_MS = 50.0               # in under this, on the fast path


# ==================================================== the independent check
def most_live(lower, upper, size):
    """The most bytes live at one time over half-open [lower, upper)."""
    if len(size) == 0:
        return 0
    times = np.concatenate([lower, upper])
    delta = np.concatenate([size, -size])
    # At equal times, ends (negative) before starts: [a, b) and [b, c) are
    # never live together.
    order = np.lexsort((delta, times))
    return int(max(0, np.cumsum(delta[order]).max()))


def check_offsets(lower, upper, size, offsets, arena):
    """Problems (a list of strings; empty when valid) of `offsets` for the
    buffers: one integer offset >= 0 per buffer, offset + size <= arena, and
    no two buffers live at one time overlapping in memory. A sweep over
    time keeps the live buffers of nonzero size sorted by offset; a new one
    overlaps a live one iff it overlaps its neighbour below or above (the
    live ones being disjoint). Shares no code with lowmem."""
    n = len(size)
    offsets = np.asarray(offsets)
    if offsets.shape != (n,):
        return [f"{offsets.shape} offsets for {n} buffers"]
    if n == 0:
        return []
    if offsets.dtype.kind not in "iu":
        return [f"offsets of dtype {offsets.dtype}, not integers"]
    offsets = offsets.astype(np.int64)
    problems = []
    bad = np.flatnonzero(offsets < 0)
    if len(bad):
        problems.append(f"buffer {bad[0]}: negative offset {offsets[bad[0]]}")
    bad = np.flatnonzero(offsets + size > arena)
    if len(bad):
        b = bad[0]
        problems.append(f"buffer {b}: offset {offsets[b]} + size {size[b]} > arena {arena}")
    # Events: (time, 0 = end | 1 = start, buffer); ends first at equal times.
    nz = np.flatnonzero(size > 0)
    events = sorted([(int(upper[b]), 0, int(b)) for b in nz]
                    + [(int(lower[b]), 1, int(b)) for b in nz])
    starts, owners = [], []               # live buffers sorted by offset
    for _, kind, b in events:
        a, e = int(offsets[b]), int(offsets[b] + size[b])
        if kind == 0:
            i = bisect.bisect_left(starts, a)
            while i < len(owners) and owners[i] != b:
                i += 1
            if i < len(owners):           # absent if it clashed when it started
                del starts[i], owners[i]
            continue
        i = bisect.bisect_left(starts, a)
        clash = None
        if i < len(starts) and starts[i] < e:
            clash = owners[i]
        elif i > 0 and starts[i - 1] + int(size[owners[i - 1]]) > a:
            clash = owners[i - 1]
        if clash is not None:
            problems.append(f"buffers {clash} and {b} are live together at "
                            f"{max(int(lower[b]), int(lower[clash]))} and overlap in memory")
            if len(problems) >= 5:
                break
            continue
        starts.insert(i, a)
        owners.insert(i, b)
    return problems


# ================================================================ MiniMalloc
def find_minimalloc(args):
    """(binary path or None, message): --minimalloc-bin, $MINIMALLOC_BIN,
    benchmarks/minimalloc.sh when --build-minimalloc, else the default
    build location."""
    if args.minimalloc_bin or os.environ.get("MINIMALLOC_BIN"):
        path = args.minimalloc_bin or os.environ["MINIMALLOC_BIN"]
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return os.path.abspath(path), None
        return None, f"MiniMalloc binary {path}: not an executable file"
    if args.build_minimalloc:
        script = os.path.join(HERE, "minimalloc.sh")
        cmd = [script] + ([args.minimalloc_src] if args.minimalloc_src else [])
        log(f"building MiniMalloc: {' '.join(cmd)}")
        t0 = time.perf_counter()
        r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)   # stderr: ours
        if r.returncode != 0:
            return None, "benchmarks/minimalloc.sh failed (see above)"
        log(f"MiniMalloc built in {time.perf_counter() - t0:.0f} s")
        return r.stdout.strip().splitlines()[-1], None
    if os.path.isfile(DEFAULT_BIN) and os.access(DEFAULT_BIN, os.X_OK):
        return DEFAULT_BIN, None
    return None, (f"no MiniMalloc binary ({DEFAULT_BIN} absent; build it with "
                  f"--build-minimalloc or benchmarks/minimalloc.sh, or give "
                  f"--minimalloc-bin)")


def write_csv(path, lower, upper, size):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")    # MiniMalloc reads "size\r" as a name
        w.writerow(["id", "lower", "upper", "size"])
        for i, row in enumerate(zip(lower.tolist(), upper.tolist(), size.tolist())):
            w.writerow([i, *row])


def run_minimalloc(binary, csv_path, capacity, ids, timeout, workdir):
    """MiniMalloc's binary on `csv_path` at `capacity`: wall seconds, its
    own "Elapsed time", status, and its offsets in our buffer order (None
    when it found none)."""
    out_path = os.path.join(workdir, "minimalloc_out.csv")
    if os.path.exists(out_path):
        os.remove(out_path)
    cmd = [binary, f"--capacity={capacity}", f"--input={csv_path}",
           f"--output={out_path}", f"--timeout={timeout:g}s"]
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 60)
        wall = time.perf_counter() - t0
    except subprocess.TimeoutExpired:
        return {"wall_seconds": time.perf_counter() - t0, "solver_seconds": None,
                "status": "killed (no answer)", "returncode": None, "offsets": None}
    m = re.search(r"Elapsed time ([0-9.]+)s", r.stderr)
    res = {"wall_seconds": wall, "solver_seconds": float(m.group(1)) if m else None,
           "returncode": r.returncode, "offsets": None}
    if r.returncode != 0:
        lines = [ln for ln in r.stderr.splitlines() if ln.strip() and "Elapsed" not in ln]
        res["message"] = lines[-1].strip()[:300] if lines else f"exit {r.returncode}"
        res["status"] = (f"timed out ({timeout:g} s)" if "DEADLINE_EXCEEDED" in res["message"]
                         else res["message"][:80])
        return res
    with open(out_path, newline="") as f:
        rows = list(csv.DictReader(f))
    where = {str(k): i for i, k in enumerate(ids)}
    offsets = np.zeros(len(ids), dtype=np.int64)
    for row in rows:
        offsets[where[row["id"].strip()]] = int(row["offset"])
    res["status"] = "fits"
    res["offsets"] = offsets
    return res


# ==================================================================== lowmem
def run_lowmem(inst, time_limit):
    _, ids, lower, upper, size, capacity = inst
    t0 = time.perf_counter()
    plan = lowmem.arena_offsets(lower, upper, size, capacity=capacity, time_limit=time_limit)
    wall = time.perf_counter() - t0
    return plan, wall


def lowmem_figures(plan, wall):
    return {"arena_bytes": plan.arena_bytes, "lower_bound": plan.lower_bound,
            "proven": plan.proven, "fits": plan.fits, "method": plan.method,
            "nodes": plan.nodes, "seconds": plan.seconds, "wall_seconds": wall}


def check_lowmem(inst, plan, live, known_fit=None):
    """Problems of a lowmem plan: its offsets (check_offsets), its figures
    against the independent most-live bytes and an arena known to fit."""
    name, _, lower, upper, size, capacity = inst
    problems = check_offsets(lower, upper, size, plan.offsets, plan.arena_bytes)
    if plan.arena_bytes < live:
        problems.append(f"arena {plan.arena_bytes} below the most bytes live at once {live}")
    if plan.lower_bound < live:
        problems.append(f"lower bound {plan.lower_bound} below the most bytes live {live}")
    if plan.lower_bound > plan.arena_bytes:
        problems.append(f"lower bound {plan.lower_bound} above the arena {plan.arena_bytes}")
    if known_fit is not None and plan.lower_bound > known_fit[0]:
        problems.append(f"lower bound {plan.lower_bound} above an arena known to fit "
                        f"({known_fit[0]}, {known_fit[1]})")
    if capacity is not None:
        if plan.fits is True and plan.arena_bytes > capacity:
            problems.append(f"fits, but arena {plan.arena_bytes} > capacity {capacity}")
        if plan.fits is False and known_fit is not None and known_fit[0] <= capacity:
            problems.append(f"claims no fit at {capacity}, but {known_fit[1]} fits")
        if plan.fits is None and plan.arena_bytes <= capacity:
            problems.append("fits undecided with the arena within the capacity")
    return [f"lowmem: {p}" for p in problems]


# ==================================================================== suites
def decide_rows(insts, suite, args, binary, workdir, csv_paths=None):
    """Instances with a capacity: lowmem and MiniMalloc, alternating which
    runs first."""
    rows = []
    for k, inst in enumerate(insts):
        name, ids, lower, upper, size, capacity = inst
        live = most_live(lower, upper, size)
        row = {"suite": suite, "name": name, "buffers": len(size), "capacity": capacity,
               "most_live": live, "problems": [], "minimalloc": None}
        if suite == "generated":          # the tiling fits the capacity by construction
            row["known_optimum"] = capacity
        csv_path = (csv_paths or {}).get(name)
        mm_ids = ids if csv_path else list(range(len(size)))
        if binary and not csv_path:
            csv_path = os.path.join(workdir, f"{name}.csv")
            write_csv(csv_path, lower, upper, size)
        steps = ["lowmem", "minimalloc"] if k % 2 == 0 else ["minimalloc", "lowmem"]
        plan = mm = None
        for step in steps:
            if step == "lowmem":
                log(f"  {name}: lowmem, {len(size)} buffers, capacity {capacity:,}, "
                    f"time limit {args.time_limit:g} s ...")
                plan, wall = run_lowmem(inst, args.time_limit)
                row["lowmem"] = lowmem_figures(plan, wall)
            elif binary:
                log(f"  {name}: MiniMalloc ...")
                mm = run_minimalloc(binary, csv_path, capacity, mm_ids,
                                    args.minimalloc_timeout, workdir)
                row["minimalloc"] = {k2: v for k2, v in mm.items() if k2 != "offsets"}
        known = None
        if suite == "generated":
            known = (capacity, "the generating tiling")
        if mm and mm["offsets"] is not None:
            mm_problems = check_offsets(lower, upper, size, mm["offsets"], capacity)
            row["minimalloc"]["valid"] = not mm_problems
            row["problems"] += [f"MiniMalloc: {p}" for p in mm_problems]
            if not mm_problems:
                known = known or (capacity, "MiniMalloc's offsets")
        row["problems"] += check_lowmem(inst, plan, live, known)
        mm_s = row["minimalloc"]["wall_seconds"] if row["minimalloc"] else None
        log(f"  {name}: lowmem arena {plan.arena_bytes:,} fits {plan.fits} "
            f"{row['lowmem']['wall_seconds']:.3f} s"
            + (f"; MiniMalloc {mm['status']} {mm_s:.3f} s" if mm else "")
            + (f"; PROBLEMS {row['problems']}" if row["problems"] else ""))
        rows.append(row)
    return rows


def minimise_rows(insts, suite, args):
    rows = []
    for inst in insts:
        name, _, lower, upper, size, _ = inst
        live = most_live(lower, upper, size)
        plan, wall = run_lowmem(inst, args.minimise_time_limit)
        row = {"suite": suite, "name": name, "buffers": len(size), "capacity": None,
               "most_live": live, "lowmem": lowmem_figures(plan, wall), "minimalloc": None}
        row["problems"] = check_lowmem(inst, plan, live)
        log(f"  {name}: {len(size)} buffers, arena / bound "
            f"{plan.arena_bytes / max(plan.lower_bound, 1):.4f}, {wall:.3f} s"
            + (f"; PROBLEMS {row['problems']}" if row["problems"] else ""))
        rows.append(row)
    return rows


def fast_rows(insts, args):
    rows = []
    for inst in insts:
        name, _, lower, upper, size, _ = inst
        live = most_live(lower, upper, size)
        times, plan = [], None
        for _ in range(args.repeats):
            plan, wall = run_lowmem(inst, 0)
            times.append(wall)
        row = {"suite": "fast", "name": name, "buffers": len(size), "capacity": None,
               "most_live": live, "lowmem": lowmem_figures(plan, times[-1]),
               "runs_seconds": times, "median_ms": 1000 * statistics.median(times),
               "minimalloc": None}
        row["problems"] = check_lowmem(inst, plan, live)
        log(f"  {name}: {len(size)} buffers, median {row['median_ms']:.1f} ms, arena / bound "
            f"{plan.arena_bytes / max(plan.lower_bound, 1):.4f}")
        rows.append(row)
    return rows


# ==================================================================== report
def _s(x):
    return "-" if x is None else f"{x:.3f}" if x < 100 else f"{x:.0f}"


def _ratio(row):
    lm = row["lowmem"]
    return lm["arena_bytes"] / lm["lower_bound"] if lm["lower_bound"] else 1.0


def _fits(v):
    return {True: "yes", False: "no (proven)", None: "undecided"}[v]


def decide_table(rows, with_mm):
    header = ["instance", "buffers", "lower bound", "capacity", "arena", "arena / bound",
              "fits", "proven", "lowmem s"]
    if with_mm:
        header += ["MiniMalloc s", "MiniMalloc", "lowmem / MiniMalloc"]
    out = []
    for r in rows:
        lm = r["lowmem"]
        line = [r["name"], r["buffers"], f"{lm['lower_bound']:,}", f"{r['capacity']:,}",
                f"{lm['arena_bytes']:,}", f"{_ratio(r):.4f}", _fits(lm["fits"]),
                "yes" if lm["proven"] else "no", _s(lm["wall_seconds"])]
        if with_mm:
            mm = r["minimalloc"]
            mm_ok = mm is not None and mm["status"] == "fits" and mm.get("valid")
            if mm is None:
                ratio = "-"
            elif mm_ok and lm["fits"]:
                ratio = f"{lm['wall_seconds'] / mm['wall_seconds']:.2f}"
            elif mm_ok:
                ratio = "- (lowmem did not fit)"
            elif lm["fits"]:                  # MiniMalloc timed out or failed
                ratio = f"< {lm['wall_seconds'] / mm['wall_seconds']:.2f}"
            else:
                ratio = "-"
            line += [_s(mm["wall_seconds"]) if mm else "-", mm["status"] if mm else "-", ratio]
        out.append(line)
    align = ["l", "r", "r", "r", "r", "r", "l", "l", "r"] + (["r", "l", "r"] if with_mm else [])
    return table(header, out, align)


def minimise_table(rows):
    header = ["instance", "buffers", "lower bound", "arena", "arena / bound", "proven",
              "method", "lowmem s"]
    out = [[r["name"], r["buffers"], f"{r['lowmem']['lower_bound']:,}",
            f"{r['lowmem']['arena_bytes']:,}", f"{_ratio(r):.4f}",
            "yes" if r["lowmem"]["proven"] else "no", r["lowmem"]["method"],
            _s(r["lowmem"]["wall_seconds"])] for r in rows]
    return table(header, out, ["l", "r", "r", "r", "r", "l", "l", "r"])


def report(results, args):
    env = results["environment"]
    rows = results["rows"]
    md = ["# lowmem arena planner benchmark (issue 11)", "",
          f"{env['date']}, lowmem {env['lowmem']} (commit {env['commit']}), Python "
          f"{env['python']}, NumPy {env['numpy']}, {env['machine']}."
          + (f" Working tree ahead of the commit in: {', '.join(results['uncommitted_lowmem'])}."
             if results.get("uncommitted_lowmem") else ""),
          f"Time limits: {args.time_limit:g} s to decide a capacity (lowmem stops as soon as "
          f"it fits), {args.minimise_time_limit:g} s to minimise; MiniMalloc timeout "
          f"{args.minimalloc_timeout:g} s. Seconds are wall times of one call each "
          f"(lowmem: the arena_offsets call; MiniMalloc: its process, CSV in and out "
          f"included; its own solver time is in the JSON).",
          f"MiniMalloc: {results['minimalloc']['binary'] or results['minimalloc']['message']}.",
          ""]
    with_mm = results["minimalloc"]["binary"] is not None
    for suite, title in (("challenging", "MiniMalloc's challenging instances"),
                         ("generated", "Generated instances at full load (capacity = the "
                                       "known optimum)")):
        sel = [r for r in rows if r["suite"] == suite and r["capacity"] is not None]
        if sel:
            md += [f"## {title}", "", decide_table(sel, with_mm), ""]
            fit = sum(r["lowmem"]["fits"] is True for r in sel)
            line = f"lowmem fits the capacity on {fit}/{len(sel)}"
            if with_mm:
                mm_fit = [r for r in sel if r["minimalloc"] and r["minimalloc"]["status"] == "fits"]
                # Faster: lowmem fits, in less time than MiniMalloc took to
                # fit (or to give up).
                faster = sum(r["lowmem"]["fits"] is True and r["minimalloc"] is not None
                             and r["lowmem"]["wall_seconds"] < r["minimalloc"]["wall_seconds"]
                             for r in sel)
                total = sum(r["minimalloc"]["wall_seconds"] for r in mm_fit)
                line += (f"; MiniMalloc fits on {len(mm_fit)}/{len(sel)} ({total:.2f} s on "
                         f"those); lowmem fits and is faster on {faster}/{len(sel)}")
            md += [line + ".", ""]
        elif suite in results["skipped"]:
            md += [f"## {title}", "", f"Skipped: {results['skipped'][suite]}", ""]
    sel = [r for r in rows if r["suite"] == "generated" and r["capacity"] is None]
    if sel:
        md += ["## Random interval sets (minimised, no known optimum)", "",
               minimise_table(sel), ""]
    sel = [r for r in rows if r["suite"] == "zoo"]
    if sel:
        ratios = [_ratio(r) for r in sel]
        within = sum(x <= ZOO_WITHIN for x in ratios)
        worst = max(sel, key=_ratio)
        md += ["## Zoo plans (lowmem.plan_storage's buffers, minimised)", "",
               minimise_table(sel), "",
               f"Zoo: arena within 1% of the lower bound on {within}/{len(sel)} "
               f"({within / len(sel):.0%}); max arena / bound {_ratio(worst):.4f} "
               f"({worst['name']}); proven smallest {sum(r['lowmem']['proven'] for r in sel)}"
               f"/{len(sel)}.", ""]
        results["zoo_summary"] = {"within_1pct": within, "plans": len(sel),
                                  "max_ratio": _ratio(worst), "worst": worst["name"]}
    sel = [r for r in rows if r["suite"] == "fast"]
    if sel:
        md += ["## Fast path (time_limit=0)", ""]
        for r in sel:
            met = r["median_ms"] < FAST_TARGET_MS
            md.append(f"- {r['name']}: {r['buffers']:,} buffers, time_limit=0, median of "
                      f"{len(r['runs_seconds'])} runs {r['median_ms']:.1f} ms (target < "
                      f"{FAST_TARGET_MS:.0f} ms for {FAST_BUFFERS:,}: {'met' if met else 'NOT met'}"
                      f"), arena / bound {_ratio(r):.4f}")
        md.append("")
    problems = [(r["name"], p) for r in rows for p in r["problems"]]
    checked_mm = sum(1 for r in rows if r["minimalloc"] and r["minimalloc"].get("valid") is not None)
    md += [f"Validity checks: {'all passed' if not problems else f'{len(problems)} FAILED'} "
           f"({len(rows)} lowmem plans"
           + (f", {checked_mm} MiniMalloc solutions" if with_mm else "") + ")."]
    if problems:
        md += ["", "## Problems", ""] + [f"- {n}: {p}" for n, p in problems]
    md += ["", f"Total benchmark time {results['total_seconds']:.1f} s."]
    return "\n".join(md) + "\n"


# ====================================================================== main
def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run_arena",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--time-limit", type=float, default=None,
                    help="seconds for lowmem to decide a capacity (default 60; 5 with --quick); "
                         "it stops as soon as it fits")
    ap.add_argument("--minimise-time-limit", type=float, default=1.0,
                    help="seconds for lowmem to minimise an arena without a capacity "
                         "(random and zoo instances; default 1)")
    ap.add_argument("--suites", nargs="+", choices=SUITES, default=list(SUITES),
                    help="run only these (default: all)")
    ap.add_argument("--minimalloc-src", default=None,
                    help="MiniMalloc source checkout, for the challenging instances (and "
                         "--build-minimalloc); default $MINIMALLOC_SRC")
    ap.add_argument("--minimalloc-bin", default=None,
                    help="MiniMalloc binary (default $MINIMALLOC_BIN, else " + DEFAULT_BIN + ")")
    ap.add_argument("--build-minimalloc", action="store_true",
                    help="build MiniMalloc with benchmarks/minimalloc.sh first")
    ap.add_argument("--minimalloc-timeout", type=float, default=None,
                    help="MiniMalloc's --timeout per instance, seconds (default: the "
                         "--time-limit, at least 60)")
    ap.add_argument("--zoo-time-limit", type=float, default=0.5,
                    help="lowmem.schedule time limit per zoo graph before planning (default 0.5)")
    ap.add_argument("--repeats", type=int, default=5,
                    help="fast-path runs per instance; the median is reported (default 5)")
    ap.add_argument("--quick", action="store_true",
                    help="fewer generated instances and zoo graphs (the challenging ones all)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"),
                    help="folder for arena_latest.md and arena_latest.json")
    args = ap.parse_args(argv)
    if args.time_limit is None:
        args.time_limit = 5.0 if args.quick else 60.0
    if args.minimalloc_timeout is None:
        args.minimalloc_timeout = max(args.time_limit, 60.0)
    # On SIGTERM unwind as on Ctrl-C: subprocess.run then kills a running
    # MiniMalloc and the temporary folder is removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.minimalloc_src is None:
        args.minimalloc_src = os.environ.get("MINIMALLOC_SRC")
    t_start = time.perf_counter()
    env = environment()

    skipped = {}
    challenging, csv_paths = [], {}
    if "challenging" in args.suites:
        try:
            challenging = ai.challenging(args.minimalloc_src)
            csv_paths = ai.challenging_paths(args.minimalloc_src)
        except ai.Unavailable as e:
            skipped["challenging"] = str(e)
            log(f"challenging instances skipped: {e}")
    binary, message = find_minimalloc(args)
    if binary is None:
        log(f"MiniMalloc column skipped: {message}")
    else:
        log(f"MiniMalloc binary: {binary}")

    rows = []
    with tempfile.TemporaryDirectory(prefix="lowmem-arena-") as workdir:
        if challenging:
            log("challenging instances:")
            rows += decide_rows(challenging, "challenging", args, binary, workdir, csv_paths)
        if "generated" in args.suites:
            gen = ai.generated(quick=args.quick)
            log("generated instances:")
            rows += decide_rows([g for g in gen if g[5] is not None], "generated", args,
                                binary, workdir)
            rows += minimise_rows([g for g in gen if g[5] is None], "generated", args)
    if "zoo" in args.suites:
        log("zoo plans (scheduling each graph first):")
        rows += minimise_rows(ai.zoo_plans(args.zoo_time_limit, quick=args.quick, log=log),
                              "zoo", args)
    if "fast" in args.suites:
        log("fast path:")
        rows += fast_rows(ai.fast_path(), args)

    results = {"environment": env, "uncommitted_lowmem": uncommitted_lowmem_files(),
               "options": {k: v for k, v in vars(args).items()},
               "minimalloc": {"binary": binary, "message": message,
                              "source": args.minimalloc_src},
               "skipped": skipped, "rows": rows}
    results["total_seconds"] = time.perf_counter() - t_start
    text = report(results, args)
    write_results(args.out, "arena_latest", text, results)
    return 1 if any(r["problems"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
