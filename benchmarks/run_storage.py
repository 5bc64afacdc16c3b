"""Storage plans on the benchmark zoo: cells, allocations saved, arena size.

    python -m benchmarks.run_storage [--time-limit S]

Each graph of benchmarks.zoo (the ZOO and LARGE lists) is scheduled with
lowmem.schedule, then planned with lowmem.plan_storage for that order. The
table: buffers, storage cells, allocations per call saved by sharing cells,
arena bytes over the lower bound (the most bytes live at one step),
planning time (best of 3), and whether the plan kept the order's peak.
"""

import argparse
import sys
import time

import lowmem
from benchmarks import zoo


def plan_row(name, graph, time_limit, repeats=3):
    order = lowmem.schedule(graph, time_limit=time_limit).order
    seconds = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        plan = lowmem.plan_storage(graph, order)
        elapsed = time.perf_counter() - t0
        seconds = elapsed if seconds is None else min(seconds, elapsed)
    ratio = plan.arena_bytes / plan.lower_bound if plan.lower_bound else 1.0
    return name, graph.n_nodes, plan, ratio, seconds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--time-limit", type=float, default=0.5,
                    help="seconds to schedule each graph before planning (default 0.5)")
    args = ap.parse_args(argv)
    rows = []
    for _, name, build in zoo.ZOO + zoo.LARGE:
        print(f"planning {name} ...", file=sys.stderr)
        rows.append(plan_row(name, build(), args.time_limit))
    print("| graph | nodes | buffers | cells | allocations saved | arena / lower bound "
          "| planning ms | peak kept |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, n, p, ratio, seconds in rows:
        saved = p.buffers - p.cells
        print(f"| {name} | {n} | {p.buffers} | {p.cells} | {saved} ({saved / max(p.buffers, 1):.0%}) "
              f"| {ratio:.4f} | {seconds * 1000:.1f} | {'yes' if p.peak <= p.order_peak else 'NO'} |")
    ratios = [r[3] for r in rows]
    print(f"\narena within 1% of the lower bound: {sum(r <= 1.01 for r in ratios)}/{len(ratios)}; "
          f"worst {max(ratios):.4f}")
    return 0 if all(r[2].peak <= r[2].order_peak for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
