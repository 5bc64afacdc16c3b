"""``lowmem.plan_storage``: which arrays can share storage, for a fixed order.

Two plans over the same live intervals (buffers, with views and in-place
outputs already folded into the buffer they alias, see _problem.py):

* cells: buffers of the same dtype and shape (or caller-given shape class)
  whose lifetimes do not overlap share one storage cell, so a later op can
  write into an array a dead one left behind instead of allocating. A
  buffer is free only when it and every view of it are dead; graph outputs
  and graph inputs never share; pairings never raise the order's peak.
* arena: an offset per buffer in one block of memory, buffers live at the
  same step never overlapping; its size is compared with the lower bound,
  the most bytes live at any step. A skyline search (_arena.pyx) packs the
  buffers bottom up, forwards and with time reversed: its first, greedy
  path takes O(b log b); when that misses the bound it goes on under a node
  budget, with randomised probes and then exhaustively (a search that
  finishes proves its arena the smallest any placement can have).
  Best-fit placement (_storage.pyx) under several orders is tried too
  while the arena is more than 1% above the bound and the graph is small
  enough for it (its cost grows with the pairs of buffers live together).
"""

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import _storage
from ._model import check_order
from ._offsets import compress_times, pack
from ._problem import buffer_tables, check_flag, check_graph

# The arena planner's search nodes after the greedy packings, when those
# miss the bound: ARENA_NODES, fewer on big graphs (ARENA_NODE_WORK /
# buffers), so that the search costs a few tens of ms at most.
# Deterministic: no clock involved, fixed seeds.
ARENA_NODES = 60_000
ARENA_NODE_WORK = 40_000_000


@dataclass
class StoragePlan:
    """Storage plan for one order (per-buffer arrays indexed by buffer id).

    order          the node order planned for
    buffer_of      per variable: its buffer id, or -1 (graph-input storage)
    owner          per buffer: the variable that owns it
    start, end     per buffer: first and last step it is live
    size           per buffer: bytes
    cell           per buffer: storage cell id (equal ids share a cell)
    offset         per buffer: offset in the arena
    peak           the order's peak with cells held for reuse counted
    order_peak     the order's peak under the memory model
    lower_bound    most bytes of buffers live at one step (workspace aside)
    arena_bytes    size of the arena
    arena_key      which placement gave it
    arena_optimal  True when no placement has a smaller arena: it equals
                   the lower bound, or the skyline search was exhaustive
    cells          distinct storage cells = allocations per call
    buffers        buffers in the graph (allocations without sharing)
    seconds        planning time
    """
    order: np.ndarray
    buffer_of: np.ndarray
    owner: np.ndarray
    start: np.ndarray
    end: np.ndarray
    size: np.ndarray
    cell: np.ndarray
    offset: np.ndarray
    peak: int
    order_peak: int
    lower_bound: int
    arena_bytes: int
    arena_key: str
    cells: int
    buffers: int
    seconds: float
    arena_optimal: bool = False

    @property
    def allocations(self):
        return self.cells

    def to_dict(self):
        return {"peak": self.peak, "order_peak": self.order_peak,
                "lower_bound": self.lower_bound, "arena_bytes": self.arena_bytes,
                "arena_key": self.arena_key, "arena_optimal": self.arena_optimal,
                "cells": self.cells,
                "allocations": self.allocations, "buffers": self.buffers,
                "seconds": self.seconds, "order": [int(n) for n in self.order]}


def live_intervals(tables, order, n_nodes):
    """(start, end) step of each buffer under `order`: made at its
    producer's step, live through its last reader's step (its own if none
    reads it), or to the last step if it holds a graph output."""
    step = np.empty(n_nodes, dtype=np.int64)
    step[order] = np.arange(n_nodes)
    start = step[tables.buf_producer]
    end = start.copy()
    readers = tables.reader_idx
    if len(readers):
        rows = np.repeat(np.arange(len(tables.buf_size)), np.diff(tables.reader_ptr))
        np.maximum.at(end, rows, step[readers])
    end[tables.buf_pinned] = max(n_nodes - 1, 0)
    return start, end


def _check_shape_classes(graph, shape_classes):
    """`shape_classes` as a list of one hashable class (or None) per
    variable; TypeError or ValueError naming it otherwise. O(variables)."""
    if isinstance(shape_classes, (str, bytes, Mapping)) or not isinstance(
            shape_classes, (Sequence, np.ndarray)):
        raise TypeError(f"plan_storage: shape_classes must be a sequence of one class per "
                        f"variable, got {type(shape_classes).__name__}")
    classes = list(shape_classes)
    if len(classes) != graph.n_vars:
        raise ValueError(f"plan_storage: shape_classes must give one class per variable "
                         f"({graph.n_vars}), got {len(classes)}")
    for v, c in enumerate(classes):
        try:
            hash(c)
        except TypeError:
            raise TypeError(f"plan_storage: shape_classes[{v}] is not hashable "
                            f"({type(c).__name__})") from None
    return classes


def _classes(graph, tables, shape_classes):
    """Sharing class per buffer: equal (dtype, shape or shape class) share;
    -1 for graph outputs and buffers of unknown dtype or shape."""
    owner = tables.buf_owner
    keys = {}
    klass = np.full(len(owner), -1, dtype=np.int64)
    for b, v in enumerate(owner):
        if tables.buf_pinned[b]:
            continue
        dtype = graph.var_dtypes[v]
        shape = graph.var_shapes[v] if shape_classes is None else shape_classes[v]
        if dtype is None or shape is None:
            continue
        klass[b] = keys.setdefault((dtype, shape), len(keys))
    return klass


def arena_for_steps(start, end, size):
    """Offsets in one arena for buffers live over [start, end] (steps,
    inclusive) with `size` bytes, buffers live at one step never
    overlapping: lowmem.arena_offsets's planner (_offsets.pack) with a node
    budget instead of a clock, so a graph's plan is the same on every run.
    Returns (offsets, arena_bytes, how, optimal): `how` names the placement
    kept, `optimal` is True when no placement has a smaller arena.
    """
    start = np.asarray(start, dtype=np.int64)
    end = np.asarray(end, dtype=np.int64)
    size = np.asarray(size, dtype=np.int64)
    steps_start, steps_end = compress_times(start, end + 1)
    nodes = max(16, min(ARENA_NODES, ARENA_NODE_WORK // max(1, len(size))))
    offsets, arena, _, proven, _, how, _ = pack(steps_start, steps_end, size,
                                                node_budget=nodes, width=end - start + 1)
    return offsets, arena, how, proven


def plan_storage(graph, order=None, shape_classes=None, share_cells=True, arena=True):
    """Plan storage for `graph` run in `order` (default: the listed order).

    shape_classes: optional per-variable hashable shape class (e.g. from
    Theano's ShapeFeature) used instead of concrete shapes, so one plan
    holds for every input shape. share_cells=False plans one cell per
    buffer (the arena is planned either way). arena=False skips the arena
    (offsets all 0, arena_bytes 0, arena_key "not planned"): for callers
    that only share cells, as the Theano bridge does.

    Returns a :class:`StoragePlan` whose peak never exceeds the order's.
    Raises OrderError on an invalid order (entries of any size included),
    TypeError or ValueError naming the argument when graph is not a
    lowmem.Graph, on a bad flag, or when shape_classes is not a sequence
    (a list, a tuple, an array; not a mapping) of one hashable class or
    None per variable. O(b log b + steps) for the
    intervals, O(b * c + gaps) for the cells (c <= 8 candidates tried),
    O(b log b) for the greedy arena packings, then a bounded search (see
    :func:`arena_offsets`).
    """
    t0 = time.perf_counter()
    check_graph("plan_storage", graph)
    share_cells = check_flag("plan_storage", "share_cells", share_cells)
    arena = check_flag("plan_storage", "arena", arena)
    if shape_classes is not None:
        shape_classes = _check_shape_classes(graph, shape_classes)
    n = graph.n_nodes
    order = np.asarray(check_order(graph, graph.default_order() if order is None else order),
                       dtype=np.int64)
    tables = buffer_tables(graph)
    start, end = live_intervals(tables, order, n)
    size = tables.buf_size
    # Memory at each step: buffers live then (allocations included) + workspace.
    live = np.zeros(n + 1, dtype=np.int64)
    np.add.at(live, start, size)
    np.add.at(live, end + 1, -size)
    live = np.cumsum(live)[:n]
    step_memory = live + tables.node_ws[order]
    order_peak = int(step_memory.max()) if n else 0

    if share_cells:
        cell, plan_memory = _storage.share_cells(start, end, size,
                                                 _classes(graph, tables, shape_classes),
                                                 step_memory, order_peak)
    else:
        cell, plan_memory = np.arange(len(size), dtype=np.int64), step_memory
    if arena:
        offsets, arena, how, optimal = arena_for_steps(start, end, size)
    else:
        offsets, arena, how, optimal = np.zeros(len(size), np.int64), 0, "not planned", False
    return StoragePlan(order=order, buffer_of=tables.var_buffer, owner=tables.buf_owner,
                       start=start, end=end, size=size, cell=cell, offset=offsets,
                       peak=int(plan_memory.max()) if n else 0, order_peak=order_peak,
                       lower_bound=int(live.max()) if n else 0, arena_bytes=int(arena),
                       arena_key=how, cells=len(np.unique(cell)), buffers=len(size),
                       seconds=time.perf_counter() - t0, arena_optimal=bool(optimal))
