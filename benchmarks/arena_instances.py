"""Instances for the arena planner benchmark (benchmarks/run_arena.py).

Every source is a plain function returning a list of instances, each a
tuple ``(name, ids, lower, upper, size, capacity)``: buffer names (or None),
then per buffer its live interval [lower, upper) (half-open, MiniMalloc's
convention) and its size in bytes, as int64 arrays; capacity is the arena
size to fit (an int) or None (minimise the arena).

challenging(src)         MiniMalloc's 11 public "challenging" instances A-K,
                         read from a MiniMalloc source checkout
                         (benchmarks/challenging/*.csv; not copied into this
                         repository); :class:`Unavailable` when there is none
guillotine(n, seed)      n buffers tiling a time x space rectangle with no
                         waste (recursive guillotine cuts), capacity = the
                         rectangle's height: the optimum is known, and equal
                         to the capacity and the lower bound
random_intervals(n, seed) random lifetimes and sizes, no known optimum
                         (capacity None)
zoo_plans(time_limit)    the arena buffers of lowmem.plan_storage on the
                         graph zoo (benchmarks/zoo.py), each graph scheduled
                         by lowmem.schedule first, as benchmarks/run_storage
                         does (capacity None)
fast_path()              the ~10,000-buffer instances for the fast-path
                         timing (time_limit=0): the zoo's transformer
                         training step (9,997 buffers) and 10,000 random
                         intervals

The generated instances are seeded (numpy's default_rng) and the same on
every run; the zoo plans depend on lowmem.schedule's orders (the same
whenever the scheduler proves them, else within its time limit).

    python -m benchmarks.arena_instances [--minimalloc-src DIR]   # summary
"""

import argparse
import csv
import glob
import os
import sys

import numpy as np

KiB = 1024
MiB = 1024 * KiB
CHALLENGING_CAPACITY = MiB          # the instances' file names say 1048576
CHALLENGING = "ABCDEFGHIJK"


class Unavailable(Exception):
    """An instance source cannot be read here; the message says why (one
    line)."""


def instance(name, lower, upper, size, capacity=None, ids=None):
    return (name, ids, np.asarray(lower, dtype=np.int64), np.asarray(upper, dtype=np.int64),
            np.asarray(size, dtype=np.int64), capacity)


# ============================================================= MiniMalloc's
def minimalloc_src(src=None):
    """The MiniMalloc checkout: `src`, else $MINIMALLOC_SRC; Unavailable when
    neither names a directory with benchmarks/challenging/*.csv."""
    src = src or os.environ.get("MINIMALLOC_SRC")
    if not src:
        raise Unavailable("no MiniMalloc source checkout (--minimalloc-src DIR or "
                          "$MINIMALLOC_SRC; git clone https://github.com/google/minimalloc)")
    if not glob.glob(os.path.join(src, "benchmarks", "challenging", "*.csv")):
        raise Unavailable(f"{src} has no benchmarks/challenging/*.csv: not a MiniMalloc "
                          f"source checkout")
    return os.path.abspath(src)


def read_csv(path):
    """(ids, lower, upper, size) from a MiniMalloc CSV: a header naming the
    columns id (optional), lower, upper, size (any order; other columns such
    as offset ignored), then one buffer per line."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"{path}: empty")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in ("lower", "upper", "size") if c not in header]
    if missing:
        raise ValueError(f"{path}: no column {', '.join(missing)} in header {header}")
    col = {h: i for i, h in enumerate(header)}
    body = [r for r in rows[1:] if r]
    ids = [r[col["id"]] for r in body] if "id" in col else None
    lower, upper, size = (np.array([int(r[col[c]]) for r in body], dtype=np.int64)
                          for c in ("lower", "upper", "size"))
    return ids, lower, upper, size


def challenging_paths(src=None):
    """{name: CSV path} of the challenging instances A-K."""
    folder = os.path.join(minimalloc_src(src), "benchmarks", "challenging")
    paths = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.csv"))):
        name = os.path.basename(path).split(".")[0]
        paths[name] = path
    return paths


def challenging(src=None, names=None):
    """MiniMalloc's challenging instances (A-K; `names` picks some), at the
    capacity of their file names (A.1048576.csv: 1,048,576 bytes)."""
    out = []
    for name, path in challenging_paths(src).items():
        if names is not None and name not in names:
            continue
        parts = os.path.basename(path).split(".")
        capacity = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() \
            else CHALLENGING_CAPACITY
        ids, lower, upper, size = read_csv(path)
        out.append(instance(name, lower, upper, size, capacity, ids))
    return out


# ================================================================ generated
def guillotine_tiling(n, seed, width=1024, height=1024):
    """n rectangles (t0, t1, s0, s1) tiling [0, width) x [0, height) exactly:
    start from the whole rectangle and cut one piece at a time, a random
    piece (weighted by area) along a random axis at a random integer point,
    until there are n pieces. Raises ValueError when n > width * height."""
    if n > width * height:
        raise ValueError(f"cannot cut {width}x{height} into {n} pieces")
    rng = np.random.default_rng(seed)
    pieces = [(0, width, 0, height)]
    while len(pieces) < n:
        area = np.array([(t1 - t0) * (s1 - s0) for t0, t1, s0, s1 in pieces], dtype=float)
        splittable = area > 1
        k = int(rng.choice(len(pieces), p=np.where(splittable, area, 0) / area[splittable].sum()))
        t0, t1, s0, s1 = pieces[k]
        dt, ds = t1 - t0, s1 - s0
        # Cut across the longer side more often, so that pieces stay
        # roughly square rather than slivers.
        along_time = dt > 1 and (ds == 1 or rng.random() < dt / (dt + ds))
        if along_time:
            c = int(rng.integers(t0 + 1, t1))
            pieces[k:k + 1] = [(t0, c, s0, s1), (c, t1, s0, s1)]
        else:
            c = int(rng.integers(s0 + 1, s1))
            pieces[k:k + 1] = [(t0, t1, s0, c), (t0, t1, c, s1)]
    return pieces


def guillotine(n, seed=0, unit=KiB, grid=1024):
    """n buffers at full load, of the challenging instances' kind: a
    grid x grid rectangle (time x space, `unit` bytes a row: 1 MiB by
    default, as MiniMalloc's) tiled by recursive guillotine cuts, each piece
    a buffer live over its time span with its height in bytes. The capacity
    is the rectangle's height: the tiling itself fits it, with zero waste,
    so it is the optimum and the lower bound. Buffers listed in a seeded
    random order (not the order of the cuts)."""
    pieces = guillotine_tiling(n, seed, grid, grid)
    perm = np.random.default_rng(seed + 1).permutation(n)
    arr = np.array(pieces, dtype=np.int64)[perm]
    lower, upper = arr[:, 0] * unit, arr[:, 1] * unit
    size = (arr[:, 3] - arr[:, 2]) * unit
    return instance(f"guillotine_n{n}_s{seed}", lower, upper, size, grid * unit)


def random_intervals(n, seed=0, span=1 << 20, unit=KiB):
    """n buffers with random lifetimes (start uniform over `span`, length
    log-uniform from 1/1000 of the span to the span) and random sizes
    (log-uniform, 1 to 1024 units of `unit` bytes): no known optimum, so
    the arena is minimised (capacity None)."""
    rng = np.random.default_rng(seed)
    length = np.exp(rng.uniform(np.log(span / 1000), np.log(span), n)).astype(np.int64) + 1
    lower = rng.integers(0, span, n)
    upper = np.minimum(lower + length, span + 1)
    size = np.exp(rng.uniform(0, np.log(1024), n)).astype(np.int64) * unit
    return instance(f"random_n{n}_s{seed}", lower, upper, size, None)


def generated(quick=False):
    """The generated suite: guillotine tilings of 100-1,000 buffers (a seed
    or two each) and random interval sets of 100-1,000 buffers."""
    sizes = (100, 200) if quick else (100, 200, 500, 1000)
    seeds = range(1) if quick else range(2)
    out = [guillotine(n, s) for n in sizes for s in seeds]
    out += [random_intervals(n, s) for n in sizes for s in seeds]
    return out


# ============================================================ graph-derived
def graph_plan(name, graph, order):
    """The arena buffers of lowmem.plan_storage for `graph` run in `order`
    (its live steps [start, end] become the half-open [start, end + 1))."""
    import lowmem
    plan = lowmem.plan_storage(graph, order, share_cells=False, arena=False)
    ids = [f"buffer{b}(var{int(v)})" for b, v in enumerate(plan.owner)]
    return instance(name, plan.start, plan.end + 1, plan.size, None, ids)


def zoo_plans(time_limit=0.5, quick=False, include_large=True, log=None):
    """The zoo's graph-derived arena instances: each graph of zoo.ZOO (and
    zoo.LARGE unless include_large=False) scheduled by lowmem.schedule
    within `time_limit`, then its buffers' live intervals under that order
    (capacity None). quick: a few small graphs only."""
    import lowmem
    from benchmarks import zoo
    graphs = zoo.ZOO + (zoo.LARGE if include_large and not quick else [])
    if quick:
        graphs = graphs[::4]
    out = []
    for _, name, build in graphs:
        if log:
            log(f"  zoo plan {name} ...")
        graph = build()
        order = lowmem.schedule(graph, time_limit=time_limit).order
        out.append(graph_plan(name, graph, order))
    return out


def fast_path():
    """The fast-path instances (about 10,000 buffers): the zoo's
    transformer training step (zoo.STORAGE_LARGE, 9,997 buffers) in its
    listed order (no scheduling: deterministic and quick to build), and
    10,000 random intervals."""
    from benchmarks import zoo
    out = []
    for _, name, build in zoo.STORAGE_LARGE:
        graph = build()
        out.append(graph_plan(name + "_listed", graph, graph.default_order()))
    out.append(random_intervals(10_000, 0))
    return out


# ===================================================================== main
def describe(inst):
    name, _, lower, upper, size, capacity = inst
    starts = np.unique(lower)
    delta = np.zeros(len(starts) + 1, dtype=np.int64)
    np.add.at(delta, np.searchsorted(starts, lower), size)
    np.add.at(delta, np.searchsorted(starts, upper), -size)
    bound = int(np.cumsum(delta).max()) if len(size) else 0
    cap = "minimise" if capacity is None else f"capacity {capacity:,}"
    return (f"{name}: {len(size):,} buffers, times [{lower.min()}, {upper.max()}), "
            f"{len(starts)} distinct starts, sizes {size.min():,}-{size.max():,}, "
            f"most live {bound:,} B, {cap}")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.arena_instances",
                                 description="summary of the arena benchmark's instances")
    ap.add_argument("--minimalloc-src", default=None,
                    help="MiniMalloc source checkout (default $MINIMALLOC_SRC)")
    ap.add_argument("--zoo", action="store_true", help="also the zoo plans (schedules graphs)")
    args = ap.parse_args(argv)
    try:
        insts = challenging(args.minimalloc_src)
    except Unavailable as e:
        print(f"challenging instances skipped: {e}", file=sys.stderr)
        insts = []
    insts += generated()
    if args.zoo:
        insts += zoo_plans()
    insts += fast_path()
    for inst in insts:
        print(describe(inst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
