"""Build the issue-9 benchmark graph files in benchmarks/graphs/.

    python -m benchmarks.make_graphs [--nets NAME ...] [--no-layered] [--no-networks]
                                     [--missing] [--out benchmarks/graphs]

- Real networks (benchmarks/networks.py), inference and training step:
  compiled with ``lowmem.theano.LowMemMode`` (time limit 0: only the
  graph is wanted here, not a schedule; storage sharing off), called once
  on random data -- that first call measures every array's size and every
  node's workspace -- and the translated graph the scheduler sees
  (``plan_of(f).translation.graph``) saved as ``<net>-<infer|train>.json.gz``
  with ``meta``: net, mode, batch, image size, Theano/NumPy/lowmem
  versions, Apply nodes, compile and call seconds. Needs Theano; one
  network at a time (a Theano process each time would redo the imports,
  so they run in this one process, one after the other).
- Random layered DAGs (benchmarks/layered_dags.py): 250, 500 and 1,000
  nodes, seeds 0-2, ``layered-<n>-s<seed>.json.gz``. No Theano.

The files are committed: the scheduler benchmark (benchmarks/run_networks.py)
reads them without Theano. Progress on stderr.
"""

import argparse
import os
import sys
import time

from .run import log

HERE = os.path.dirname(os.path.abspath(__file__))
GRAPHS = os.path.join(HERE, "graphs")
RECURSION_LIMIT = 50_000


def network_graph(name, train):
    """Compile, call once with LowMemMode, return (Graph with meta, info)."""
    os.environ.setdefault("THEANO_FLAGS", "blas.ldflags=")
    import numpy as np
    import theano

    import lowmem
    import lowmem.theano as lt
    from lowmem._graph import Graph
    from lowmem.theano._measure import plan_of

    from . import networks

    mode_name = "train" if train else "infer"
    # Theano's gradient and graph optimisers recurse along the graph's
    # depth; the deepest training step here (NASNet, 26 cells) passes
    # Python's default limit of 1,000 frames.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
    t0 = time.perf_counter()
    inputs, outputs, updates, make_data = networks.build(name, train=train)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    f = theano.function(inputs, outputs, updates=updates,
                        mode=lt.LowMemMode(time_limit=0.0, share_storage=False,
                                           name=f"{name}-{mode_name}"))
    compile_s = time.perf_counter() - t0
    data = make_data(0)
    t0 = time.perf_counter()
    f(*data)
    call_s = time.perf_counter() - t0
    plan = plan_of(f)
    g = plan.translation.graph
    batch, size = networks.shape_of(name, train)
    meta = dict(g.meta or {})
    meta.update({
        "source": "benchmarks/make_graphs.py (networks in benchmarks/networks.py)",
        "net": name, "mode": mode_name, "batch": batch, "image_size": size,
        "dtype": "float32", "theano": theano.__version__, "numpy": np.__version__,
        "lowmem": lowmem.__version__, "nodes": int(g.n_nodes),
        "apply_nodes": len(f.maker.fgraph.apply_nodes),
        "workspace_measured": bool(plan.workspace_measured),
        "how": "theano.function(..., mode=LowMemMode(time_limit=0, share_storage=False)), "
               "one call on random data (sizes and workspace measured), "
               "plan_of(f).translation.graph",
        "build_seconds": round(build_s, 2), "compile_seconds": round(compile_s, 2),
        "recording_call_seconds": round(call_s, 2)})
    d = g.to_dict()
    d["meta"] = meta
    d["name"] = f"{name}-{mode_name}"
    return Graph.from_dict(d), meta


def _with_big_stack(fn, *args):
    """fn(*args) in a thread with a 512 MiB stack: with the raised recursion
    limit, recursion that goes through C (copying, pickling) must not run
    out of the main thread's 8 MiB C stack."""
    import threading
    result = {}

    def run():
        try:
            result["value"] = fn(*args)
        except BaseException as e:          # re-raised in the caller
            result["error"] = e
    old = threading.stack_size(512 * 1024 * 1024)
    try:
        t = threading.Thread(target=run)
        t.start()
        t.join()
    finally:
        threading.stack_size(old)
    if "error" in result:
        raise result["error"]
    return result["value"]


def main(argv=None):
    from . import layered_dags, networks
    ap = argparse.ArgumentParser(prog="python -m benchmarks.make_graphs",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--nets", nargs="+", metavar="NAME", default=list(networks.NETWORKS),
                    help=f"networks to build (default all: {', '.join(networks.NETWORKS)})")
    ap.add_argument("--modes", nargs="+", choices=("infer", "train"),
                    default=["infer", "train"], help="inference and/or training step")
    ap.add_argument("--no-networks", action="store_true", help="skip the Theano networks")
    ap.add_argument("--no-layered", action="store_true", help="skip the layered DAGs")
    ap.add_argument("--missing", action="store_true", help="only files that do not exist")
    ap.add_argument("--out", default=GRAPHS, help="folder of the graph files")
    args = ap.parse_args(argv)
    unknown = sorted(set(args.nets) - set(networks.NETWORKS))
    if unknown:
        ap.error(f"unknown network(s) {', '.join(unknown)}; known: "
                 f"{', '.join(networks.NETWORKS)}")
    os.makedirs(args.out, exist_ok=True)
    failed = []
    if not args.no_layered:
        for stem, g in layered_dags.all_graphs():
            path = os.path.join(args.out, f"{stem}.json.gz")
            if args.missing and os.path.exists(path):
                continue
            g.save(path)
            log(f"{path}: {g.n_nodes} nodes")
    if not args.no_networks:
        for name in args.nets:
            for mode in args.modes:
                path = os.path.join(args.out, f"{name}-{mode}.json.gz")
                if args.missing and os.path.exists(path):
                    continue
                log(f"{name}-{mode}: building, compiling, recording ...")
                t0 = time.perf_counter()
                try:
                    g, meta = _with_big_stack(network_graph, name, mode == "train")
                except Exception as e:      # report and go on with the others
                    log(f"  FAILED: {type(e).__name__}: {e}")
                    failed.append(f"{name}-{mode}")
                    continue
                g.save(path)
                log(f"  {path}: {g.n_nodes} nodes, compile {meta['compile_seconds']} s, "
                    f"call {meta['recording_call_seconds']} s, "
                    f"{os.path.getsize(path) / 1e6:.2f} MB ({time.perf_counter() - t0:.0f} s)")
    if failed:
        log(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
