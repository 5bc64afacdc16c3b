"""Storage plans on the benchmark zoo: cells, allocations saved, arena size.

    python -m benchmarks.run_storage [--time-limit S]

Each graph of benchmarks.zoo (the ZOO and LARGE lists, and STORAGE_LARGE: a
~10,000-buffer training step) is scheduled with lowmem.schedule, then planned
with lowmem.plan_storage for that order. The table: buffers, storage cells,
allocations per call saved by sharing cells, arena bytes over the lower bound
(the most bytes live at one step; "=" when the arena is proven the smallest
any placement can have), the placement kept, planning time (best of 3), and
whether the plan kept the order's peak. Then issue 4's arena targets: within
1% of the lower bound on at least 90% of the graphs and never above 1.1x, and
10,000 buffers planned in under 100 ms.
"""

import argparse
import sys
import time

import lowmem
from benchmarks import zoo

TARGET_WITHIN = 1.01        # arena / lower bound ...
TARGET_SHARE = 0.9          # ... on at least this share of the graphs
TARGET_WORST = 1.1          # and never above this
TARGET_BUFFERS = 10_000     # buffers planned ...
TARGET_SECONDS = 0.1        # ... in under this


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
    for _, name, build in zoo.ZOO + zoo.LARGE + zoo.STORAGE_LARGE:
        print(f"planning {name} ...", file=sys.stderr)
        rows.append(plan_row(name, build(), args.time_limit))
    print("| graph | nodes | buffers | cells | allocations saved | arena / lower bound "
          "| placed by | planning ms | peak kept |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
    for name, n, p, ratio, seconds in rows:
        saved = p.buffers - p.cells
        proven = "=" if p.arena_optimal else ""
        print(f"| {name} | {n} | {p.buffers} | {p.cells} | {saved} ({saved / max(p.buffers, 1):.0%}) "
              f"| {proven}{ratio:.4f} | {p.arena_key} | {seconds * 1000:.1f} "
              f"| {'yes' if p.peak <= p.order_peak else 'NO'} |")
    ratios = [r[3] for r in rows]
    within = sum(r <= TARGET_WITHIN for r in ratios)
    worst = max(rows, key=lambda r: r[3])
    proven = sum(r[2].arena_optimal for r in rows)
    big = [r for r in rows if r[2].buffers >= TARGET_BUFFERS * 0.95]
    print(f"\narena within 1% of the lower bound: {within}/{len(ratios)} "
          f"({within / len(ratios):.0%}; target >= {TARGET_SHARE:.0%}); "
          f"worst {worst[3]:.4f} ({worst[0]}; target <= {TARGET_WORST}); "
          f"proven smallest possible: {proven}/{len(rows)}")
    for name, _, p, ratio, seconds in big:
        print(f"planning {p.buffers:,} buffers ({name}): {seconds * 1000:.1f} ms "
              f"(target < {TARGET_SECONDS * 1000:.0f} ms), arena / lower bound {ratio:.4f}")
    met = (within >= TARGET_SHARE * len(ratios) and worst[3] <= TARGET_WORST
           and all(r[4] < TARGET_SECONDS for r in big))
    print(f"issue 4 arena targets: {'met' if met else 'NOT met'}")
    return 0 if all(r[2].peak <= r[2].order_peak for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
