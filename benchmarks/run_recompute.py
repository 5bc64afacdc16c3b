"""Memory budgets met by recomputation (issue 13): the planner on graphs,
and LowMemMode(memory_budget=...) on the zoo's training steps.

    .venv/bin/python -m benchmarks.run_recompute [--graphs | --theano]
        [--ratios 0.7 0.5] [--models NAME ...] [--calls N] [--time-limit S]
        [--out benchmarks/results]

--graphs (the planner alone): the real-scale training graphs of the
scheduler benchmark (benchmarks/graphs/*-train.json.gz; every node costs 1
there: the files carry no times). Per graph and budget (a ratio of the
best single-run order's peak, found by the same call): whether the plan
fits, its peak / the best order's, the added runs (cost) as a share of the
nodes, the proven lower bounds, and the seconds of the whole
``lowmem.schedule(graph, memory_budget=ratio, time_limit=S)`` call.

--theano: every training step of the zoo (lowmem/theano/_models.py),
compiled three times from the same graph: Theano's default mode,
LowMemMode (best order, no budget) and LowMemMode(memory_budget=ratio) per
ratio, where nodes cost the seconds the recording call measured. Per
function and budget: the budget in bytes, the plan's modelled peak, the
measured peak (tracemalloc, lowmem.theano._measure.measure_call) of a call
after the first, measured / budget, whether outputs and updated weights
equal the default mode's bit for bit, and the per-call time against
LowMemMode without a budget and that against the default mode (medians of
--calls calls taken in turns, CPU seconds of this process: time.process_time,
which other processes on a shared machine disturb less than wall time).

Markdown on stdout and DIR/recompute_<kind>_latest.md; JSON beside it.
Exit status 1 if a result differs.
"""

import argparse
import glob
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def run_graphs(ratios, time_limit):
    import lowmem
    rows, raw = [], []
    for path in sorted(glob.glob(os.path.join(HERE, "graphs", "*-train.json.gz"))):
        graph = lowmem.load(path)
        name = os.path.basename(path).split(".")[0]
        for ratio in ratios:
            t0 = time.perf_counter()
            s = lowmem.schedule(graph, memory_budget=ratio, time_limit=time_limit)
            seconds = time.perf_counter() - t0
            r = s.recompute
            runs = sum(r.reruns.values())
            raw.append({"graph": name, "nodes": graph.n_nodes, "ratio": ratio,
                        **r.to_dict(), "peak": s.peak, "seconds": seconds})
            rows.append([name, f"{graph.n_nodes:,}", ratio, "yes" if r.fits else "NO",
                         f"{s.peak / r.best_peak:.3f}", f"{runs:,}",
                         f"{100 * runs / graph.n_nodes:.1f}%",
                         f"{r.memory_lower_bound / r.best_peak:.3f}",
                         f"{r.cost_lower_bound:g}", f"{seconds:.2f}"])
            print(rows[-1], file=sys.stderr, flush=True)
    header = ["graph", "nodes", "budget (x best)", "fits", "peak / best", "added runs",
              "added / nodes", "memory bound / best", "cost bound", "seconds"]
    return _table(header, rows), raw


def run_theano(names, ratios, calls, time_limit):
    os.environ.setdefault("THEANO_FLAGS", "blas.ldflags=")
    import numpy as np
    import theano
    from lowmem.theano import LowMemMode
    from lowmem.theano import _models as models
    from lowmem.theano._measure import measure_call

    def compile_(name, mode):
        inputs, outputs, updates, make_data = models.build(name, train=True)
        f = theano.function(inputs, outputs, updates=updates, mode=mode)
        return f, make_data, [u[0] for u in updates]

    def run_once(f, data, shared, initial):
        for s, value in zip(shared, initial):
            s.set_value(value.copy())
        m = measure_call(f, *data)
        return m, [np.array(o) for o in m.results] + [s.get_value() for s in shared]

    rows, raw, differ = [], [], False
    for name in names:
        modes = {"default": "FAST_RUN",
                 "lowmem": LowMemMode(time_limit=time_limit)}
        for ratio in ratios:
            modes[ratio] = LowMemMode(time_limit=time_limit, memory_budget=ratio)
        fns = {}
        for label, mode in modes.items():
            f, make_data, shared = compile_(name, mode)
            fns[label] = (f, shared)
        data = make_data()
        initial = [s.get_value().copy() for s in fns["default"][1]]
        results, peaks = {}, {}
        for label, (f, shared) in fns.items():
            run_once(f, data, shared, initial)           # the first (recording) call
            m, values = run_once(f, data, shared, initial)
            results[label], peaks[label] = values, m.peak
        # CPU time of this process per call (time.process_time): other
        # processes on a shared machine inflate wall time far more.
        times = {label: [] for label in fns}
        for i in range(calls):
            for label in (list(fns) if i % 2 else list(fns)[::-1]):
                f, shared = fns[label]
                t0 = time.process_time()
                f(*data)
                times[label].append(time.process_time() - t0)
        median = {label: statistics.median(t) for label, t in times.items()}
        base = fns["lowmem"][0].fn.plan.schedule
        for ratio in ratios:
            f = fns[ratio][0]
            plan = f.fn.plan
            r = plan.schedule.recompute
            equal = all(np.array_equal(a, b) for a, b in zip(results["default"], results[ratio]))
            differ |= not equal
            runs = sum(r.reruns.values()) if r is not None else 0
            raw.append({"model": name, "ratio": ratio, "best_peak": int(base.peak),
                        "budget": r.memory_budget, "fits": r.fits,
                        "model_peak": int(plan.schedule.peak),
                        "measured_peak": peaks[ratio], "measured_lowmem": peaks["lowmem"],
                        "measured_default": peaks["default"], "added_runs": runs,
                        "nodes": len(set(plan.nodes)),
                        "call_seconds": median[ratio], "call_seconds_lowmem": median["lowmem"],
                        "call_seconds_default": median["default"], "equal": equal})
            rows.append([f"{name}_train", ratio, f"{r.memory_budget:,}",
                         "yes" if r.fits else "NO", f"{plan.schedule.peak:,}",
                         f"{peaks[ratio]:,}", f"{peaks[ratio] / r.memory_budget:.3f}",
                         f"{peaks['lowmem']:,}", f"{runs} / {len(set(plan.nodes))}",
                         "yes" if equal else "NO",
                         f"{median[ratio] / median['lowmem']:.3f}",
                         f"{median['lowmem'] / median['default']:.3f}"])
            print(rows[-1], file=sys.stderr, flush=True)
    header = ["function", "budget (x best)", "budget bytes", "plan fits", "model peak",
              "measured peak", "measured / budget", "measured, no budget", "added runs / nodes",
              "equal", "time / no budget", "no budget / default"]
    return _table(header, rows), raw, differ


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--graphs", action="store_true", help="the planner on graph files")
    kind.add_argument("--theano", action="store_true", help="LowMemMode on the zoo")
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.7, 0.5])
    parser.add_argument("--models", nargs="+", default=None,
                        help="zoo models (default: all, training steps)")
    parser.add_argument("--calls", type=int, default=11)
    parser.add_argument("--time-limit", type=float, default=None,
                        help="seconds (graphs: per call, default 2; theano: LowMemMode's "
                             "time_limit, default its auto)")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    if any(not 0 < r for r in args.ratios):
        parser.error("--ratios must be > 0")
    os.makedirs(args.out, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M")
    if args.graphs:
        table, raw = run_graphs(args.ratios, args.time_limit or 2.0)
        kind, differ = "graphs", False
    else:
        from lowmem.theano import _models as models
        names = args.models or models.names()
        table, raw, differ = run_theano(names, args.ratios, args.calls, args.time_limit)
        kind = "theano"
    text = f"Recomputation benchmark ({kind}), {stamp}\n\n{table}\n"
    print(text)
    with open(os.path.join(args.out, f"recompute_{kind}_latest.md"), "w") as f:
        f.write(text)
    with open(os.path.join(args.out, f"recompute_{kind}_latest.json"), "w") as f:
        json.dump(raw, f, indent=1)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
