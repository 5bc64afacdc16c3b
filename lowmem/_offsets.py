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
import warnings
from dataclasses import dataclass

import numpy as np

from . import _arena, _canonical, _storage

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
    """values as int64, or ArenaError naming the first bad buffer. Integer
    arrays pass as they are; anything else is checked one value at a time
    (before NumPy could turn a bool into 1 or every value into a string)."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise ArenaError(f"{what} must be a sequence of integers, one per buffer")
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise ArenaError(f"{what} must be a flat sequence of integers, one per buffer")
        if values.dtype.kind in "iu":
            if values.dtype.kind == "u" and len(values) and values.max() > np.iinfo(np.int64).max:
                i = int(np.argmax(values > np.iinfo(np.int64).max))
                raise ArenaError(f"{_name(ids, i)}: {what} {values[i]} is too large")
            return values.astype(np.int64)
        values = values.tolist()
    else:
        # The fast way for a list of plain ints: NumPy's conversion, unless a
        # bool hides among them (NumPy would make it 1).
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                arr = np.asarray(values)
        except (ValueError, TypeError, OverflowError, Warning):
            arr = None
        if (arr is not None and arr.ndim == 1 and arr.dtype.kind == "i"
                and not any(isinstance(v, (bool, np.bool_)) for v in values)):
            return arr.astype(np.int64)
    out = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
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


def _total(values):
    """The exact sum of non-negative int64 values (NumPy's when it cannot
    overflow, else Python's integers)."""
    if len(values) == 0:
        return 0
    if int(values.max()) <= np.iinfo(np.int64).max // len(values):
        return int(values.sum())
    return sum(int(v) for v in values)


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
                      or _total(size) >= MAX_TOTAL_BYTES):
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


# The canonical search keeps, per buffer, the buffers live beside it and,
# per step, the buffers live there: it runs only while those lists stay
# within these many entries (8 bytes each, a few copies while building).
CANONICAL_MAX_PAIRS = 4_000_000
CANONICAL_MAX_MEMBERSHIPS = 16_000_000
# A canonical node costs O(b + steps): under a node budget (no clock), the
# search gets at most this many buffer-nodes of work (nodes x buffers).
CANONICAL_NODE_WORK = 400_000
# Best-fit placement orders, most useful first: decreasing lifetime, size x
# lifetime, size (as XLA's heap simulator), increasing start (an allocator's);
# tried while the arena is above BEST_FIT_TARGET x the bound, for as many
# orders as fit in BEST_FIT_PAIR_BUDGET pairs of live-together buffers.
BEST_FIT_KEYS = ("lifetime", "size x lifetime", "size", "start")
BEST_FIT_TARGET = 1.01
BEST_FIT_PAIR_BUDGET = 2_000_000
# The canonical search's restarts: each preorder in turn with a node limit
# that starts at the number of buffers and grows by this factor each round
# (MiniMalloc doubles it; tripling wasted less on the public instances).
NODE_LIMIT_GROWTH = 3
# Randomised skyline probes pass over each candidate with this probability.
PROBE_NOISE = 0.1


def _live_pairs(start, end):
    """Pairs of buffers live at a common step, at least (buffers with equal
    starts are counted both ways: an upper estimate for the caps). O(b log b)."""
    so = np.sort(start)
    # Buffer i (by start) meets those starting at or after it, up to its end.
    rank = np.searchsorted(so, start, side="left")
    return int((np.searchsorted(so, end, side="right") - 1 - rank).sum())


def canonical_affordable(start, end, pairs):
    """True when the canonical search's lists fit its memory cap (`pairs`:
    _live_pairs(start, end))."""
    return (pairs <= CANONICAL_MAX_PAIRS
            and int((end - start + 1).sum()) <= CANONICAL_MAX_MEMBERSHIPS)


class _Budget:
    """What is left of a call's time and search nodes."""

    def __init__(self, deadline, nodes):
        self.deadline = deadline
        self.nodes = nodes

    def spent(self):
        return ((self.deadline is not None and time.perf_counter() >= self.deadline)
                or (self.nodes is not None and self.nodes < 1))

    def share(self, fraction):
        """(deadline, node budget) for a stage that may take `fraction` of
        what is left."""
        deadline = None
        if self.deadline is not None:
            now = time.perf_counter()
            deadline = now + max(0.0, self.deadline - now) * fraction
        nodes = None if self.nodes is None else max(1, int(self.nodes * fraction))
        return deadline, nodes

    def use(self, nodes):
        if self.nodes is not None:
            self.nodes -= nodes


def pack(start, end, size, capacity=None, deadline=None, node_budget=None, width=None):
    """The planner behind arena_offsets and plan_storage, on validated,
    compressed, aligned units: inclusive steps (start, end), sizes.

    capacity     None: minimise; else stop at the first packing within it
    deadline     time.perf_counter() value after which searching stops
                 (None: no clock; node_budget alone bounds the work, so the
                 result is the same on every run)
    node_budget  search nodes for the whole call (None: no limit)
    width        per buffer, the lifetime in original time units (for the
                 canonical search's preorders); None: steps

    Stages, each run only while the answer is not yet good enough (the
    bound, or within the capacity) and time and nodes remain:
    1. greedy skyline packings, forwards and with time reversed;
    2. the canonical search: decide the capacity; minimising, decide the
       lower bound, then bisect between the highest arena proven
       impossible and the best found (half of what is left);
    3. randomised skyline probes, then the focused skyline search below
       the best arena (a search that finishes proves it);
    4. best fit under the classic orders, while it is cheap.

    Returns (offsets, arena, lower_bound, proven, fits, method, nodes).
    """
    nb = len(size)
    if nb == 0 or not size.any():
        fits = None if capacity is None else True
        return np.zeros(nb, dtype=np.int64), 0, 0, True, fits, "nothing to place", 0
    bound = live_bound(start, end, size)
    lower_bound = bound
    n_steps = int(end.max()) + 1
    directions = (("skyline", start, end),
                  ("skyline, time reversed", n_steps - 1 - end, n_steps - 1 - start))
    budget = _Budget(deadline, node_budget)
    total_nodes = 0
    best = None

    def good_enough():
        # At the bound; or the capacity met, or proven out of reach.
        return best[1] <= lower_bound or (capacity is not None and (
            best[1] <= capacity or lower_bound > capacity))

    def keep(offsets, arena, how):
        nonlocal best
        if best is None or arena < best[1]:
            best = [offsets, int(arena), how]

    for how, s, e in directions:
        offsets, arena, used, _ = _arena.skyline_search(s, e, size, -1, 4 * nb + 8, first=True)
        total_nodes += used
        keep(offsets, arena, how)
        if good_enough():
            break

    # Under a node budget, a canonical search too short to place every
    # buffer once could find nothing: skipped.
    canonical_nodes = None if budget.nodes is None else min(budget.nodes // 2,
                                                             CANONICAL_NODE_WORK // nb)
    pairs = None if good_enough() else _live_pairs(start, end)
    if (not good_enough() and not budget.spent() and canonical_affordable(start, end, pairs)
            and (canonical_nodes is None or canonical_nodes >= nb)):
        # Deciding a capacity, this search is the one that gets there.
        stage_deadline, stage_nodes = budget.share(0.5 if capacity is None else 0.8)
        if stage_nodes is not None:
            stage_nodes = canonical_nodes
        stage = _Budget(stage_deadline, stage_nodes)
        decider = Decider(start, end, size, width)
        if capacity is not None:
            status, offsets, used = decider.decide(capacity, stage_deadline, stage_nodes)
            stage.use(used)
            total_nodes += used
            if status == 1:
                keep(offsets, (offsets + size).max(), "canonical search")
            elif status == 0:
                lower_bound = max(lower_bound, capacity + 1)
        else:
            # Decide the bound first (most instances reach it), then halve
            # the gap; a target the search gave up on is not proven
            # impossible, so the next one is tried above it without raising
            # the lower bound.
            lo, hi = lower_bound, best[1] - 1
            target = lo
            while lo <= hi and not stage.spent():
                share_deadline, share_nodes = stage.share(0.5 if target == lo else 0.34)
                status, offsets, used = decider.decide(target, share_deadline, share_nodes)
                stage.use(used)
                total_nodes += used
                if status == 1:
                    keep(offsets, (offsets + size).max(), "canonical search")
                    hi = best[1] - 1
                else:
                    if status == 0:
                        lower_bound = max(lower_bound, target + 1)
                    lo = target + 1
                target = (lo + hi) // 2
        budget.use(stage_nodes - stage.nodes if stage_nodes is not None else 0)

    if not good_enough() and not budget.spent():
        # Randomised probes, then the focused search, each direction in turn.
        probes = None if budget.nodes is None else budget.nodes // 4
        if probes is None or 3 * nb + 2 <= probes:
            for seed, (how, s, e) in enumerate(directions):
                if budget.spent() or good_enough():
                    break
                _, nodes = budget.share(0.25)
                nodes = _nodes_until(budget.deadline, nb, nodes if nodes else 1 << 40)
                offsets, arena, used, _ = _arena.skyline_search(
                    s, e, size, best[1], nodes, first=True, noise=PROBE_NOISE, seed=seed,
                    probes=nodes)
                budget.use(used)
                total_nodes += used
                if offsets is not None:
                    keep(offsets, arena, "randomised " + how)
        for how, s, e in directions:
            if budget.spent() or good_enough():
                break
            _, nodes = budget.share(0.5)
            nodes = _nodes_until(budget.deadline, nb, nodes if nodes else 1 << 40)
            offsets, arena, used, complete = _arena.skyline_search(
                s, e, size, best[1], max(1, nodes), focus=True)
            budget.use(used)
            total_nodes += used
            if offsets is not None:
                keep(offsets, arena, how + " search")
            if complete:
                lower_bound = max(lower_bound, best[1])
                break

    if best[1] > BEST_FIT_TARGET * lower_bound and not (capacity is not None
                                                        and best[1] <= capacity):
        if pairs is None:
            pairs = _live_pairs(start, end)
        lifetime = end - start + 1 if width is None else width
        spent = 0
        for key_name, key in zip(BEST_FIT_KEYS, (-lifetime, -size * lifetime, -size, start)):
            # Bounded by pairs, not nodes: only the clock stops it early.
            if spent + pairs > BEST_FIT_PAIR_BUDGET or (
                    budget.deadline is not None and time.perf_counter() >= budget.deadline):
                break
            spent += pairs
            placement = np.lexsort((np.arange(nb), key))
            offsets, arena = _storage.best_fit_offsets(start, end, size, placement)
            keep(offsets, arena, "best fit by " + key_name)

    arena = best[1]
    proven = arena <= lower_bound
    if capacity is None:
        fits = None
    elif arena <= capacity:
        fits = True
    elif lower_bound > capacity:
        fits = False
    else:
        fits = None
    return best[0], arena, int(lower_bound), proven, fits, best[2], total_nodes


def preorders(start, end, size, width=None):
    """The canonical search's static preorders (MiniMalloc's "WAT", "TAW"
    and "TWA"): buffers ranked by decreasing W (lifetime: `width`, e.g. the
    span of the original times, else steps live), A (area, W x size) and T
    (the most bytes live at a step of the buffer's life), in the three
    priorities. Returns three rank arrays (permutations)."""
    nb = len(size)
    if width is None:
        width = end - start + 1
    area = width * size
    totals = np.zeros(int(end.max()) + 2, dtype=np.int64)
    np.add.at(totals, start, size)
    np.add.at(totals, end + 1, -size)
    totals = np.cumsum(totals)
    # The largest total over [start, end] of each buffer: reduceat over the
    # pairs (start, end + 1), every other result kept.
    bounds = np.empty(2 * nb, dtype=np.int64)
    bounds[0::2] = start
    bounds[1::2] = end + 1
    most = np.maximum.reduceat(totals, bounds)[0::2]
    ranks = []
    for keys in ((-most, -area, -width), (-width, -area, -most), (-area, -width, -most)):
        # lexsort's last key is the primary one; index breaks the last ties.
        order = np.lexsort((np.arange(nb),) + keys)
        rank = np.empty(nb, dtype=np.int64)
        rank[order] = np.arange(nb)
        ranks.append(rank)
    return ranks


class Decider:
    """The canonical search (_canonical.pyx) over one set of buffers, set up
    once for any number of capacities: MiniMalloc's three preorders and the
    search's lists. Zero-size buffers take offset 0 and are left out.
    `width`: lifetimes in the original times (default: steps)."""

    def __init__(self, start, end, size, width=None):
        self.placed = np.flatnonzero(size > 0)
        self.nb = len(size)
        s, e, z = start[self.placed], end[self.placed], size[self.placed]
        if width is None:
            width = end - start + 1
        w = width[self.placed]
        wat, taw, twa = preorders(s, e, z, w) if len(z) else ([], [], [])
        # TWA first: on the public instances it solves most of them
        # quickly, TAW most of the rest.
        self.tries = ((twa, 3), (taw, 2), (wat, 1))
        self.instance = _canonical.Instance(s, e, z, w)

    def decide(self, capacity, deadline=None, node_budget=None):
        """Offsets within capacity, or a proof that there are none: each
        preorder in turn, with node limits that grow each round
        (MiniMalloc's round robin of restarts, after Gomes et al.'s
        heavy-tailed search), until the deadline or the node budget.

        Returns (status, offsets or None, nodes): 1 found, 0 proven none,
        -1 stopped.
        """
        offsets = np.zeros(self.nb, dtype=np.int64)
        if len(self.placed) == 0:
            return 1, offsets, 0
        limit = len(self.placed)
        nodes = 0
        while True:
            for rank, heuristic in self.tries:
                seconds = -1.0
                if deadline is not None:
                    seconds = deadline - time.perf_counter()
                    if seconds <= 0:
                        return -1, None, nodes
                budget = limit
                if node_budget is not None:
                    budget = min(budget, node_budget - nodes)
                    if budget <= 0:
                        return -1, None, nodes
                status, found, used = self.instance.decide(
                    rank, capacity, max_nodes=budget, seconds=seconds, heuristic=heuristic)
                nodes += used
                if status == 1:
                    offsets[self.placed] = found
                    return 1, offsets, nodes
                if status == 0:
                    return 0, None, nodes
            limit *= NODE_LIMIT_GROWTH


def decide(start, end, size, capacity, deadline=None, node_budget=None, width=None):
    """Decider(start, end, size, width).decide(capacity, deadline,
    node_budget): one capacity."""
    return Decider(start, end, size, width).decide(capacity, deadline, node_budget)


def _nodes_until(deadline, nb, cap):
    """Search nodes that fit before the deadline, at a rough cost per node
    (the skyline search has no clock of its own)."""
    if deadline is None:
        return cap
    left = deadline - time.perf_counter()
    per_node = 2e-7 * max(1.0, math.log2(nb + 2))
    return int(min(cap, max(1, left / per_node)))


def arena_offsets(lower, upper, size, capacity=None, time_limit=DEFAULT_TIME_LIMIT,
                  alignment=1, ids=None, node_budget=None):
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
    node_budget   search nodes after the greedy packing (None: no limit);
                  with time_limit=None, the budget alone bounds the search
                  and the result is the same on every run and machine

    Returns an :class:`ArenaPlan`. Raises :class:`ArenaError` (a
    ValueError) naming the buffer or option on bad input.

    Cost: O(b log b) to validate, compress the times and pack greedily
    (b buffers, whatever the span of their times), then a search bounded by
    time_limit and node_budget.
    """
    t0 = time.perf_counter()
    if time_limit is not None and (
            isinstance(time_limit, bool) or not isinstance(time_limit, numbers.Real)
            or not math.isfinite(time_limit) or time_limit < 0):
        raise ArenaError(f"time_limit must be a finite number of seconds >= 0 or None, "
                         f"not {time_limit!r}")
    node_budget = _option_int(node_budget, "node_budget", 0, allow_none=True)
    if time_limit is None and node_budget is None:
        raise ArenaError("time_limit=None needs a node_budget: one of them must bound the search")
    alignment = _option_int(alignment, "alignment", 1)
    capacity = _option_int(capacity, "capacity", 0, allow_none=True)
    lower, upper, size = check_buffers(lower, upper, size, ids)
    units = -(-size // alignment)
    if len(units) and _total(units) * alignment >= MAX_TOTAL_BYTES:
        raise ArenaError("the aligned sizes add up to 2**60 bytes or more")
    start, end = compress_times(lower, upper)
    unit_capacity = None if capacity is None else capacity // alignment
    offsets, arena, bound, proven, fits, method, nodes = pack(
        start, end, units, unit_capacity,
        deadline=None if time_limit is None else t0 + float(time_limit),
        node_budget=node_budget, width=upper - lower)
    return ArenaPlan(offsets=offsets * alignment, arena_bytes=arena * alignment,
                     lower_bound=bound * alignment, proven=bool(proven), capacity=capacity,
                     fits=fits, method=method, nodes=int(nodes),
                     seconds=time.perf_counter() - t0)
