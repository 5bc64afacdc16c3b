"""``lowmem.arena_offsets``: static memory allocation, on its own.

Given buffers, each live over a half-open time interval [lower, upper) with
a size in bytes, find an offset for every buffer in one block of memory (the
arena) so that buffers live at the same time never overlap. Two modes:

* minimise the arena (``capacity=None``): the smallest arena found within
  the time limit, proven the smallest possible when it reaches the lower
  bound (the most bytes live at one time) or a search finishes;
* decide a capacity: offsets within ``capacity`` bytes, or a proof that
  there are none (the lower bound above it, or a finished search).

This is the problem of TFLite's, XLA's and TVM's static allocators and of
Google's MiniMalloc (Moffitt, ASPLOS 2023), whose public "challenging"
instances the benchmarks solve (benchmarks/run_arena.py).

The planner, cheapest first:

1. times compressed to the ranks of the distinct start times (two buffers
   overlap iff each starts before the other ends, which ranks keep), so
   that nothing costs more for sparse times;
2. the greedy skyline packing (_arena.pyx), forwards and with time
   reversed: O(b log b), at the bound on most graph-derived instances;
3. a canonical search (_canonical.pyx) that decides a capacity, as
   MiniMalloc does: minimising, it decides the lower bound first, then
   bisects between what it proved infeasible and the best arena found.

``lowmem.plan_storage`` uses the same planner (:func:`pack`) for its arena.
"""

import math
import numbers
import time
from dataclasses import dataclass

import numpy as np

from . import _arena

# The largest arena the planner handles: sums of sizes stay far from int64's
# limit in the compiled code.
MAX_TOTAL_BYTES = 1 << 60
DEFAULT_TIME_LIMIT = 1.0


class ArenaError(ValueError):
    """Buffers (or an option) that cannot be planned; the message names the
    buffer or the option."""


@dataclass
class ArenaPlan:
    """Offsets for buffers in one arena.

    offsets      int64 per buffer (buffers live at one time never overlap)
    arena_bytes  the arena: the highest offset + (aligned) size
    lower_bound  no arena is smaller: the most (aligned) bytes live at one
                 time, or more when the search proved it
    proven       True when no arena is smaller than arena_bytes
    capacity     the capacity asked for (None: minimise)
    fits         with a capacity: True (offsets within it), False (proven:
                 no offsets fit), None (undecided in the time given);
                 without one, None
    method       which part of the planner gave the offsets
    nodes        search nodes visited
    seconds      planning time
    """
    offsets: np.ndarray
    arena_bytes: int
    lower_bound: int
    proven: bool
    capacity: int | None
    fits: bool | None
    method: str
    nodes: int
    seconds: float

    def to_dict(self):
        return {"arena_bytes": self.arena_bytes, "lower_bound": self.lower_bound,
                "proven": self.proven, "capacity": self.capacity, "fits": self.fits,
                "method": self.method, "nodes": self.nodes, "seconds": self.seconds,
                "offsets": [int(o) for o in self.offsets]}


def _name(ids, i):
    return f"buffer {ids[i]!r}" if ids is not None else f"buffer {i}"


def _integers(values, what, ids):
    """values as int64, or ArenaError naming the first bad buffer."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise ArenaError(f"{what} must be a sequence of integers, one per buffer")
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ArenaError(f"{what} must be a flat sequence of integers, one per buffer")
    if arr.dtype.kind in "iu":
        if arr.dtype.kind == "u" and len(arr) and arr.max() > np.iinfo(np.int64).max:
            i = int(np.argmax(arr > np.iinfo(np.int64).max))
            raise ArenaError(f"{_name(ids, i)}: {what} {arr[i]} is too large")
        return arr.astype(np.int64)
    out = np.empty(len(arr), dtype=np.int64)
    for i, v in enumerate(arr.tolist() if arr.dtype != object else list(values)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise ArenaError(f"{_name(ids, i)}: {what} {v!r} is not an integer")
        if isinstance(v, numbers.Integral):
            iv = int(v)
        elif math.isfinite(v) and float(v).is_integer():
            iv = int(v)
        else:
            raise ArenaError(f"{_name(ids, i)}: {what} {v!r} is not an integer")
        if not -(1 << 62) <= iv < (1 << 62):
            raise ArenaError(f"{_name(ids, i)}: {what} {iv} is out of range")
        out[i] = iv
    return out


def _option_int(value, option, minimum, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArenaError(f"{option} must be an integer, not {value!r}")
    value = int(value)
    if value < minimum or value >= MAX_TOTAL_BYTES:
        raise ArenaError(f"{option} must be an integer in [{minimum}, 2**60), not {value}")
    return value


def check_buffers(lower, upper, size, ids=None):
    """(lower, upper, size) as int64 arrays, validated: one of each per
    buffer, integers, upper > lower, size >= 0, sizes summing under 2**60.
    ArenaError names the first bad buffer."""
    if ids is not None and (isinstance(ids, (str, bytes)) or not hasattr(ids, "__len__")):
        raise ArenaError("ids must be a sequence with one name per buffer")
    lower = _integers(lower, "lower", ids)
    upper = _integers(upper, "upper", ids)
    size = _integers(size, "size", ids)
    if not len(lower) == len(upper) == len(size) == (len(ids) if ids is not None else len(lower)):
        raise ArenaError(f"lower, upper, size{', ids' if ids is not None else ''} must have one "
                         f"entry per buffer (lengths {len(lower)}, {len(upper)}, {len(size)}"
                         f"{', ' + str(len(ids)) if ids is not None else ''})")
    bad = np.flatnonzero(upper <= lower)
    if len(bad):
        i = int(bad[0])
        raise ArenaError(f"{_name(ids, i)}: upper ({upper[i]}) must be greater than lower "
                         f"({lower[i]}); a buffer is live over [lower, upper)")
    bad = np.flatnonzero(size < 0)
    if len(bad):
        i = int(bad[0])
        raise ArenaError(f"{_name(ids, i)}: size {size[i]} is negative")
    if len(size) and (size.max() >= MAX_TOTAL_BYTES
                      or sum(int(z) for z in size) >= MAX_TOTAL_BYTES):
        raise ArenaError("the sizes add up to 2**60 bytes or more; lowmem plans arenas below that")
    return lower, upper, size


def compress_times(lower, upper):
    """Inclusive steps (start, end) over the ranks of the distinct lower
    times: buffers i and j overlap in [lower, upper) iff start_i <= end_j
    and start_j <= end_i. O(b log b), whatever the span of the times."""
    starts = np.unique(lower)
    start = np.searchsorted(starts, lower).astype(np.int64)
    end = (np.searchsorted(starts, upper, side="left") - 1).astype(np.int64)
    return start, end


def live_bound(start, end, size):
    """The most bytes live at one step (inclusive steps from 0)."""
    if len(size) == 0:
        return 0
    return int(_arena.live_bytes(start, end, size, int(end.max()) + 1).max())


def pack(start, end, size, capacity=None, deadline=None, node_budget=None):
    """The planner behind arena_offsets and plan_storage, on validated,
    compressed, aligned units: inclusive steps (start, end), sizes.

    capacity     None: minimise; else stop at the first packing within it
    deadline     time.perf_counter() value after which searching stops
                 (None: no clock; node_budget alone bounds the work, so the
                 result is the same on every run)
    node_budget  search nodes for the whole call (None: no limit)

    Returns (offsets, arena, lower_bound, proven, fits, method, nodes).
    """
    nb = len(size)
    if nb == 0 or not size.any():
        fits = None if capacity is None else True
        return np.zeros(nb, dtype=np.int64), 0, 0, True, fits, "nothing to place", 0
    bound = live_bound(start, end, size)
    n_steps = int(end.max()) + 1
    directions = (("skyline", start, end, False),
                  ("skyline, time reversed", n_steps - 1 - end, n_steps - 1 - start, True))
    best = None
    nodes = 0
    for how, s, e, _ in directions:
        offsets, arena, used, _ = _arena.skyline_search(s, e, size, -1, 4 * nb + 8, first=True)
        nodes += used
        if best is None or arena < best[1]:
            best = [offsets, arena, how]
        if arena <= bound:
            break
    lower_bound = bound
    if best[1] > bound and (capacity is None or best[1] > capacity):
        # Search below the best arena, each direction in turn, until the
        # clock or the budget runs out.
        remaining = None if node_budget is None else max(0, node_budget - nodes)
        for how, s, e, _ in directions:
            if deadline is not None and time.perf_counter() >= deadline:
                break
            if remaining is not None and remaining < 1:
                break
            budget = remaining // 2 if remaining is not None else 1 << 40
            if deadline is not None:
                budget = _nodes_until(deadline, nb, budget)
            offsets, arena, used, complete = _arena.skyline_search(
                s, e, size, best[1], max(1, budget), focus=True)
            nodes += used
            if remaining is not None:
                remaining -= used
            if offsets is not None:
                best = [offsets, arena, how + " search"]
            if complete:
                lower_bound = best[1]
                break
            if capacity is not None and best[1] <= capacity:
                break
    arena = int(best[1])
    proven = arena <= lower_bound
    if capacity is None:
        fits = None
    elif arena <= capacity:
        fits = True
    elif lower_bound > capacity:
        fits = False
    else:
        fits = None
    return best[0], arena, int(lower_bound), proven, fits, best[2], nodes


def _nodes_until(deadline, nb, cap):
    """Search nodes that fit before the deadline, at a rough cost per node
    (the skyline search has no clock of its own)."""
    left = deadline - time.perf_counter()
    per_node = 2e-7 * max(1.0, math.log2(nb + 2))
    return int(min(cap, max(1, left / per_node)))


def arena_offsets(lower, upper, size, capacity=None, time_limit=DEFAULT_TIME_LIMIT,
                  alignment=1, ids=None):
    """Offsets for buffers in one arena (static memory allocation).

    lower, upper  per buffer, integers: the buffer is live over the
                  half-open interval [lower, upper) (MiniMalloc's
                  convention); buffers live at one time never overlap
    size          per buffer, bytes (integers >= 0)
    capacity      None: minimise the arena; an integer: find offsets within
                  capacity bytes or prove there are none (``fits``)
    time_limit    seconds of search after the greedy packing (>= 0; the
                  greedy packing always runs)
    alignment     every offset a multiple of it; each buffer then takes its
                  size rounded up to a multiple, as aligned allocators pad
    ids           optional names, one per buffer, used in error messages

    Returns an :class:`ArenaPlan`. Raises :class:`ArenaError` (a
    ValueError) naming the buffer or option on bad input.

    Cost: O(b log b) to validate, compress the times and pack greedily
    (b buffers, whatever the span of their times), then a search bounded by
    time_limit.
    """
    t0 = time.perf_counter()
    if (isinstance(time_limit, bool) or not isinstance(time_limit, numbers.Real)
            or not math.isfinite(time_limit) or time_limit < 0):
        raise ArenaError(f"time_limit must be a finite number of seconds >= 0, "
                         f"not {time_limit!r}")
    alignment = _option_int(alignment, "alignment", 1)
    capacity = _option_int(capacity, "capacity", 0, allow_none=True)
    lower, upper, size = check_buffers(lower, upper, size, ids)
    units = -(-size // alignment)
    if len(units) and sum(int(u) for u in units) * alignment >= MAX_TOTAL_BYTES:
        raise ArenaError("the aligned sizes add up to 2**60 bytes or more")
    start, end = compress_times(lower, upper)
    unit_capacity = None if capacity is None else capacity // alignment
    offsets, arena, bound, proven, fits, method, nodes = pack(
        start, end, units, unit_capacity, deadline=t0 + float(time_limit))
    return ArenaPlan(offsets=offsets * alignment, arena_bytes=arena * alignment,
                     lower_bound=bound * alignment, proven=bool(proven), capacity=capacity,
                     fits=fits, method=method, nodes=int(nodes),
                     seconds=time.perf_counter() - t0)
