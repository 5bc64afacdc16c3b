"""Does ``time_limit`` bound the whole ``lowmem.schedule`` call on big graphs?

    python -m benchmarks.run_scale [--families layered,chain,diamonds,wide,ring,views]
                                   [--nodes 100000] [--chain-nodes 330000]
                                   [--time-limits 1,0] [--large-zoo]

For each graph: seconds to build it (``Graph`` construction, not counted
against the limit), seconds of its first ``predecessors()`` and
``successors()`` calls (cached by ``Graph``; measured apart so that the
scheduler can be judged net of them), then for each time limit the wall
seconds of ``lowmem.schedule(g, time_limit=...)``, its preparation seconds
(tables, depth-first order, segments, heuristics and static bounds), the
number of segments and whether the search timed out. With ``--large-zoo``
the ~5,000-node zoo graphs are timed too. Figures go to stdout as a
markdown table; progress to stderr.

Families: ``layered`` (random layered DAG, width <= 32, views and
workspace), ``chain`` (a line of nodes, every fourth in place),
``diamonds`` (a chain of 5-node diamonds: one segment each, so it measures
the per-segment cost), ``wide`` (one input read by ``--nodes`` independent
ops, then a join: that many nodes ready at once, the greedy heuristics'
worst case), ``ring`` (``--nodes`` / 2 ops on one input, then as many
each reading two of their outputs: as many ready nodes, and a search that
runs until the time limit) and ``views`` (a matmul then a line of ``--nodes`` - 1 views of
it, alias resolution's worst case).
"""

import argparse
import time

import lowmem

from . import zoo
from .run import log


def build(family, nodes, chain_nodes):
    if family == "layered":
        return zoo.layered(nodes, 32, 0)
    if family == "chain":
        return zoo.chain(chain_nodes)
    if family == "diamonds":
        return zoo.diamonds(max(1, nodes // 5))
    if family == "wide":
        return zoo.wide(max(1, nodes - 1))
    if family == "ring":
        return zoo.wide_ring(max(1, nodes // 2))
    if family == "views":
        return zoo.view_chain(nodes)
    raise SystemExit(f"unknown family {family!r} (layered, chain, diamonds, wide, ring, views)")


def measure(name, g, build_s, time_limits, rows):
    t = time.perf_counter()
    g.predecessors()
    g.successors()
    csr_s = time.perf_counter() - t
    for limit in time_limits:
        t = time.perf_counter()
        s = lowmem.schedule(g, time_limit=limit)
        wall = time.perf_counter() - t
        rows.append((name, g.n_nodes, build_s, csr_s, limit, wall, s.stats["prepare_seconds"],
                     s.stats["segments"], s.stats["timed_out"], s.peak, s.default_peak))
        log(f"{name}: time_limit={limit}: {wall:.3f} s")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 2)[2])
    ap.add_argument("--families", default="layered,chain,diamonds,wide,ring,views",
                    help="comma-separated: layered, chain, diamonds, wide, ring, views "
                         "(default: all)")
    ap.add_argument("--nodes", type=int, default=100_000,
                    help="nodes of the layered, diamonds, wide, ring and views graphs "
                         "(default 100000)")
    ap.add_argument("--chain-nodes", type=int, default=330_000,
                    help="nodes of the chain (default 330000)")
    ap.add_argument("--time-limits", default="1,0",
                    help="comma-separated time limits in seconds (default 1,0)")
    ap.add_argument("--large-zoo", action="store_true",
                    help="also time the ~5,000-node zoo graphs")
    args = ap.parse_args(argv)
    limits = [float(x) for x in args.time_limits.split(",")]
    rows = []
    for family in args.families.split(","):
        if not family:
            continue
        log(f"building {family} ...")
        t = time.perf_counter()
        g = build(family, args.nodes, args.chain_nodes)
        measure(g.name, g, time.perf_counter() - t, limits, rows)
    if args.large_zoo:
        for _, name, make in zoo.all_graphs(include_large=True):
            t = time.perf_counter()
            g = make()
            if g.n_nodes >= 4000:
                measure(name, g, time.perf_counter() - t, limits, rows)
    print("| graph | nodes | build s | pred/succ s | time_limit | schedule s | prepare s "
          "| segments | timed out | peak / default |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for name, n, b, c, limit, wall, prep, segs, timed_out, peak, default in rows:
        print(f"| {name} | {n:,} | {b:.2f} | {c:.3f} | {limit:g} | {wall:.3f} | {prep:.3f} "
              f"| {segs:,} | {timed_out} | {peak / max(default, 1):.3f} |")


if __name__ == "__main__":
    main()
