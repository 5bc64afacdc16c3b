"""Independent parts of a segment, and the min-peak merge of their orders.

Two nodes of a segment are coupled when one depends on the other, or both
read or make one buffer (a buffer made before the segment included). The
connected components of that relation are the segment's *independent
parts*: each buffer belongs to one part, so the bytes live at any moment are
``base`` plus each part's own live bytes, and a part's live bytes depend on
which of its own nodes have run and nothing else (:func:`part_subproblem`).

Scheduling the whole segment is then interleaving one order per part. For
fixed orders the interleaving with the lowest peak is found by Liu's
hill-valley merge (J. W. H. Liu, "An application of generalized tree
pebbling to sparse matrix factorization", SIAM J. Algebraic Discrete
Methods 8(3), 1987; used for series-parallel graphs by Kayaaslan, Lambert,
Marchal and Uçar, "Scheduling series-parallel task graphs to minimize peak
memory", TCS 707, 2018): cut each part's memory profile into segments and
run the segments by a priority, whole. Liu's profiles start at their
minimum (nothing allocated); a segment's profile here may start higher (it
frees buffers made before it), so the cut is the general chain reduction
for minimising a maximum cumulative cost (Abdel-Wahab and Kameda,
"Scheduling to minimize maximum cumulative cost subject to series-parallel
precedence constraints", Operations Research 26(1), 1978), of which Liu's
hill-valley segments are the case of a profile starting at its minimum: see
:func:`hill_valley_merge`. tests/test_parts.py checks the merge against
every interleaving on small random instances.

Which order of each part to merge is a separate question: a part's
least-peak order need not merge best. :func:`merge_parts` proves its
result optimal over every order of the segment only by the arguments in
its docstring (chains; lower bounds, among them the merge of each part's
:func:`envelope`, its pointwise least profile over all its orders).
"""

import numpy as np

from . import _heuristics
from ._core import CoreProblem
from ._lower_bounds import static_lower_bound
from ._mincut import min_live_downset
from ._parts_core import components, profile_blocks_many
from ._problem import Subproblem

BYTES_LIMIT = 1 << 62


def _checked(sub):
    """(CoreProblem, Subproblem): a Subproblem is checked by CoreProblem
    (ValueError on anything malformed), a CoreProblem already was."""
    prob = sub if isinstance(sub, CoreProblem) else CoreProblem(sub)
    return prob, prob.sub


def _rows(ptr):
    """Row of each CSR entry."""
    return np.repeat(np.arange(len(ptr) - 1, dtype=np.int64), np.diff(ptr))


def independent_parts(sub):
    """The independent parts of a segment: list of sorted int64 arrays of
    local node ids, ordered by their first node; one array (every node)
    when the segment is connected, none when it is empty.

    `sub` is a _problem.Subproblem (checked here with CoreProblem) or a
    CoreProblem. Nodes and buffers are the elements of one union-find
    (Tarjan), joined along every dependency edge and every (node, buffer
    it reads or makes) pair: O((k + nb + edges + reads + makes) log k)
    worst case, near-linear in practice.
    """
    _, sub = _checked(sub)
    node_part, n_parts = _labels(sub)
    grouped = np.argsort(node_part, kind="stable")
    step_ptr = np.zeros(n_parts + 1, dtype=np.int64)
    np.cumsum(np.bincount(node_part, minlength=n_parts), out=step_ptr[1:])
    return [grouped[step_ptr[p]:step_ptr[p + 1]].copy() for p in range(n_parts)]


def _labels(sub):
    """(part of each node, number of parts) of a checked Subproblem, parts
    numbered by their first node (see independent_parts)."""
    k = sub.k
    if k == 0:
        return np.zeros(0, dtype=np.int64), 0
    src = np.concatenate([_rows(sub.succ_ptr), _rows(sub.use_ptr), _rows(sub.make_ptr)])
    dst = np.concatenate([sub.succ_idx, k + np.asarray(sub.use_idx, dtype=np.int64),
                          k + np.asarray(sub.make_idx, dtype=np.int64)])
    label = components(k + len(sub.buf_size), src, dst)[:k]
    # A component's label is its smallest element; with nodes numbered
    # before buffers that is its first node, so the first nodes of the parts
    # are the nodes that are their own label, in increasing order.
    firsts = np.flatnonzero(label == np.arange(k))
    return np.searchsorted(firsts, label).astype(np.int64), len(firsts)


def _part_subproblem(sub, nodes):
    """part_subproblem without the closure check (nodes from
    independent_parts are closed by construction)."""
    k, m = sub.k, len(nodes)
    local = np.full(k, -1, dtype=np.int64)
    local[nodes] = np.arange(m, dtype=np.int64)

    def gather(ptr, idx):
        lengths = ptr[nodes + 1] - ptr[nodes]
        new_ptr = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(lengths, out=new_ptr[1:])
        starts = np.repeat(ptr[nodes] - new_ptr[:-1], lengths)
        return new_ptr, np.asarray(idx, dtype=np.int64)[starts + np.arange(new_ptr[-1])]

    succ_ptr, succ_idx = gather(np.asarray(sub.succ_ptr), sub.succ_idx)
    use_ptr, use_glob = gather(np.asarray(sub.use_ptr), sub.use_idx)
    make_ptr, make_glob = gather(np.asarray(sub.make_ptr), sub.make_idx)
    bufs = np.unique(np.concatenate([use_glob, make_glob]))
    made_here = np.zeros(len(bufs), dtype=bool)
    made_here[np.searchsorted(bufs, make_glob)] = True
    buf_size = np.asarray(sub.buf_size, dtype=np.int64)[bufs]
    live0 = int(buf_size[~made_here].sum())
    return Subproblem(np.asarray(sub.nodes, dtype=np.int64)[nodes],
                      np.asarray(sub.pred_count, dtype=np.int64)[nodes],
                      succ_ptr, local[succ_idx],
                      np.asarray(sub.alloc, dtype=np.int64)[nodes],
                      np.asarray(sub.ws, dtype=np.int64)[nodes],
                      make_ptr, np.searchsorted(bufs, make_glob),
                      use_ptr, np.searchsorted(bufs, use_glob),
                      buf_size, np.asarray(sub.buf_pending, dtype=np.int64)[bufs],
                      np.asarray(sub.buf_pinned, dtype=np.uint8)[bufs], live0, 0)


def part_subproblem(sub, nodes):
    """The Subproblem of one part alone: `nodes` (sorted local ids of
    `sub`) must be closed, sharing no dependency edge and no buffer with the
    other nodes (a part from :func:`independent_parts`, or a union of
    parts); ValueError otherwise. Its local node i is ``nodes[i]`` of `sub`
    and its ``nodes`` field holds their global ids; its buffers are those
    `nodes` read or make, with the same readers counts and pinned flags;
    ``live0`` = the bytes of those made before the segment, ``base`` = 0.
    O(k + nb + edges + reads + makes) (the closure check included).

    Claim: run the parts of `sub` in any interleaving of orders of each
    part. At any moment, memory of the segment = sub.base + the live bytes
    of every part but the running one at its current position (its
    part_subproblem's live bytes after its nodes run so far) + the step
    memory of the running part's node in its part_subproblem.

    Proof. Every buffer of `sub` is read or made by a segment node (that is
    how subproblem chooses them), so it belongs to exactly one part.
    Whether it is live depends only on whether its producer has run (or it
    was made before the segment), how many of its readers have run (all in
    its part) and its pinned flag: the same facts in `sub` and in the part's
    subproblem, which copies the pending count and the flag. So live bytes
    of the segment = base (buffers it does not touch) + the sum over parts
    of the part's live bytes, each a function of the part's own executed
    set. Both start right: part live0 = its pre-segment buffers, and the
    sum of those plus base is sub.live0. A step of node n in part p costs
    live + alloc[n] + ws[n], and alloc and ws are copied. Hence the claim,
    and a part's executable nodes are the same in both (its predecessors
    are all in the part).
    """
    _, sub = _checked(sub)
    nodes = np.asarray(nodes, dtype=np.int64)
    if nodes.ndim != 1 or (len(nodes) and (nodes[0] < 0 or nodes[-1] >= sub.k
                                           or np.any(np.diff(nodes) <= 0))):
        raise ValueError("part_subproblem: nodes must be sorted distinct local ids")
    inside = np.zeros(sub.k, dtype=bool)
    inside[nodes] = True
    succ_row = _rows(sub.succ_ptr)
    if np.any(inside[succ_row] != inside[sub.succ_idx]):
        raise ValueError("part_subproblem: a dependency edge crosses the part")
    nb = len(sub.buf_size)
    touched_in = np.zeros(nb, dtype=bool)
    touched_out = np.zeros(nb, dtype=bool)
    for ptr, idx in ((sub.use_ptr, sub.use_idx), (sub.make_ptr, sub.make_idx)):
        row = _rows(ptr)
        touched_in[idx[inside[row]]] = True
        touched_out[idx[~inside[row]]] = True
    if np.any(touched_in & touched_out):
        raise ValueError("part_subproblem: a buffer is shared with nodes outside the part")
    return _part_subproblem(sub, nodes)


def profile(part_prob, order):
    """Memory profile of `order` (local ids, a valid order) of a problem
    (Subproblem or CoreProblem; for a part, base 0): int64 array of 2m+1
    points [L0, s1, L1, s2, L2, ..., sm, Lm], L0 = live0, s_t the memory of
    step t (live before + its allocation + workspace) and L_t the bytes live
    after it. Every s_t >= L_{t-1} and s_t >= L_t (a step holds what was
    live before plus what it makes, and frees only after it), so a profile's
    peak is at a step point. ValueError on an invalid order.

    Vectorised (:func:`_profiles`): each buffer is freed after its last
    reader's step (after its maker's when nothing reads it), unless pinned;
    O(k + nb + reads + makes).
    """
    prob, sub = _checked(part_prob)
    order = np.ascontiguousarray(order, dtype=np.int64)
    _heuristics.evaluate(prob, order)        # raises unless a valid order
    # The one-part case of _profiles, whose points leave out `base`.
    one_part = np.array([0, sub.k], dtype=np.int64)
    return _profiles(sub, order, one_part, np.zeros(sub.k, dtype=np.int64)) + int(sub.base)


def _check_profile(order, prof):
    if prof.ndim != 1 or len(prof) != 2 * len(order) + 1:
        raise ValueError("hill_valley_merge: a profile must have 2 * len(order) + 1 points")
    if prof.min() < 0 or prof.max() >= BYTES_LIMIT:
        raise ValueError("hill_valley_merge: profile points must be bytes in [0, 2**62)")
    # The node-level argument needs each step point at least its neighbours.
    if np.any(prof[1::2] < prof[0:-1:2]) or np.any(prof[1::2] < prof[2::2]):
        raise ValueError("hill_valley_merge: a step point is below a live point next to it")


def hill_valley_merge(parts, base=0):
    """Interleave fixed orders of independent parts with the lowest peak.

    parts: sequence of (nodes, order, profile): `nodes` the part's nodes as
    ids of the segment (its local node i is nodes[i]), `order` the part's
    order in its own local ids, `profile` = :func:`profile` of it.
    Returns (merged, peak): merged the segment ids in the merged order
    (int64), peak = base + the largest sum over parts of their current
    profile points at a step of the merged order, i.e. the segment's peak
    when the profiles come from :func:`part_subproblem` (its claim).

    Method. A part's profile is a chain of unit moves; a block of moves has
    a rise c (highest point above its start) and a net change d. Running
    whole blocks in sequence, memory during a block = the sum of the
    others' current points + its start + its rise, so the peak is
    max over blocks of (sum of the start points + the net changes of the
    blocks before + c). For blocks free of precedence that is minimised by
    running those with d < 0 first by increasing c, then the rest by
    decreasing c - d (exchange argument: putting two adjacent blocks in
    that order never raises the larger of their two peaks). Within a
    part, :func:`_parts_core.profile_blocks` merges adjacent blocks whose
    keys would invert their chain order (Abdel-Wahab and Kameda 1978; for
    a profile starting at its minimum every block has d >= 0, c - d =
    hill - valley, and the blocks are Liu's hill-valley segments, whose
    hills fall and valleys rise, up to splitting ties); then all blocks of
    all parts run by key, ties by part and position, which keeps each
    chain in order. That this is optimal over every interleaving is their
    theorem; tests/test_parts.py checks it exhaustively. An optimal
    interleaving at this granularity is one of nodes too: a step point is
    never below its neighbours, so no other part gains by moving while a
    part is at one. The peak returned is computed from the merged order
    itself. O(P log P + total points), P the number of blocks.
    """
    base = int(base)
    if not 0 <= base < BYTES_LIMIT:
        raise ValueError("hill_valley_merge: base must be bytes in [0, 2**62)")
    glob, profs, top_total = [], [], base
    for nodes, order, prof in parts:
        nodes = np.asarray(nodes, dtype=np.int64)
        order = np.asarray(order, dtype=np.int64)
        prof = np.asarray(prof, dtype=np.int64)
        m = len(order)
        _check_profile(order, prof)
        if m != len(nodes) or (m and (order.min() < 0 or order.max() >= m
                                      or len(np.unique(order)) != m)):
            raise ValueError("hill_valley_merge: order must be a permutation of the part's nodes")
        # Bound every partial sum below 2**62 before adding in int64.
        top_total += int(prof.max())
        if top_total >= BYTES_LIMIT:
            raise ValueError("hill_valley_merge: profiles add up to 2**62 bytes or more")
        glob.append(nodes[order])
        profs.append(prof)
    if not glob:
        return np.zeros(0, dtype=np.int64), base
    step_ptr = np.zeros(len(glob) + 1, dtype=np.int64)
    np.cumsum([len(g) for g in glob], out=step_ptr[1:])
    return _merge(np.concatenate(profs), np.concatenate(glob), step_ptr, base)


def _merge(points, steps_glob, step_ptr, base):
    """hill_valley_merge on checked, concatenated input: part p's profile is
    points[2 step_ptr[p] + p : 2 step_ptr[p+1] + p + 1] and its nodes in
    its order steps_glob[step_ptr[p]:step_ptr[p+1]] (segment ids); the
    profiles' maxima add up to less than 2**62 - base. Vectorised but for
    the block cut: O(P log P + points)."""
    n_parts = len(step_ptr) - 1
    point_ptr = 2 * step_ptr + np.arange(n_parts + 1, dtype=np.int64)
    part, ends, rise, net = profile_blocks_many(points, point_ptr)
    # Block i starts where the block before it ended, in the same part.
    starts = np.zeros(len(ends), dtype=np.int64)
    same = np.zeros(len(ends), dtype=bool)
    same[1:] = part[1:] == part[:-1]
    starts[same] = ends[:-1][same[1:]]
    # Steps (0-based, of the part) whose step point 2t+1 lies in (start, end].
    first = (starts + 1) // 2 + step_ptr[part]
    last = (ends - 1) // 2 + 1 + step_ptr[part]
    # Key: falling blocks first by rise, then by decreasing rise - net;
    # ties by block number, i.e. by part then position (chains keep order).
    by_key = np.lexsort((np.arange(len(ends)), np.where(net < 0, rise, net - rise), net >= 0))
    first, last = first[by_key], last[by_key]
    lengths = np.maximum(last - first, 0)
    total = int(lengths.sum())
    out_ptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out_ptr[1:])
    steps = np.repeat(first - out_ptr[:-1], lengths) + np.arange(total, dtype=np.int64)
    start_total = base + int(points[point_ptr[:-1]].sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64), start_total
    # Step g of part p has its live point before at 2g + p.
    step_part = np.repeat(np.arange(n_parts, dtype=np.int64), np.diff(step_ptr))
    at = (2 * steps + step_part[steps])
    deltas = points[at + 2] - points[at]                # L_t - L_{t-1}
    before = start_total + np.concatenate([[0], np.cumsum(deltas)[:-1]])
    peak = int((before + points[at + 1] - points[at]).max())
    return steps_glob[steps], peak


def _profiles(sub, order, step_ptr, node_part):
    """Profiles of every part at once: `order` (local ids of `sub`) runs
    the parts one after the other, part p at steps step_ptr[p] ..
    step_ptr[p+1] - 1, each in a valid order of its own; node_part[i] is
    node i's part. Returns the points of all parts' profiles concatenated
    as _merge takes them: each part's profile of its own subproblem and
    order (a part's buffers are its own, so the bytes it frees at a step
    are those of the whole order), without the segment's `base`.
    O(k + nb + reads + makes)."""
    k, nb = sub.k, len(sub.buf_size)
    n_parts = len(step_ptr) - 1
    pos = np.empty(k, dtype=np.int64)
    pos[order] = np.arange(k, dtype=np.int64)
    use_rows, make_rows = _rows(sub.use_ptr), _rows(sub.make_ptr)
    use_idx, make_idx = np.asarray(sub.use_idx), np.asarray(sub.make_idx)
    buf_size = np.asarray(sub.buf_size, dtype=np.int64)
    freed_at = np.full(nb, -1, dtype=np.int64)
    freed_at[make_idx] = pos[make_rows]
    np.maximum.at(freed_at, use_idx, pos[use_rows])
    freed = (freed_at >= 0) & (np.asarray(sub.buf_pinned) == 0)
    freed_bytes = np.zeros(k, dtype=np.int64)
    np.add.at(freed_bytes, freed_at[freed], buf_size[freed])
    # Each part's live0: its buffers made before the segment.
    pre = np.ones(nb, dtype=bool)
    pre[make_idx] = False
    buf_part = np.zeros(nb, dtype=np.int64)
    buf_part[use_idx] = node_part[use_rows]
    live0 = np.zeros(n_parts, dtype=np.int64)
    np.add.at(live0, buf_part[pre], buf_size[pre])
    alloc = np.asarray(sub.alloc, dtype=np.int64)[order]
    ws = np.asarray(sub.ws, dtype=np.int64)[order]
    cum = np.cumsum(alloc - freed_bytes)
    step_part = np.repeat(np.arange(n_parts, dtype=np.int64), np.diff(step_ptr))
    cum_start = np.concatenate([[0], cum])[step_ptr[:-1]]
    after = live0[step_part] + cum - cum_start[step_part]
    before = after - (alloc - freed_bytes)
    points = np.empty(2 * k + n_parts, dtype=np.int64)
    g = np.arange(k, dtype=np.int64)
    points[2 * step_ptr[:-1] + np.arange(n_parts)] = live0
    points[2 * g + step_part + 1] = before + alloc + ws
    points[2 * g + step_part + 2] = after
    return points


# Downsets of at most 2**8 sets per part, in Python: a few ms at most.
ENVELOPE_MAX_NODES = 8


def envelope(part_prob, max_nodes=None):
    """(points, order): the pointwise least profile of a problem over all
    its valid orders, 2m+1 points, L_t = the least bytes live after any t
    of its nodes (a downset of size t), s_t = the least memory of any step
    t (a ready node after such a downset); and an order whose profile is
    the envelope (then it is at least as good as any other order for every
    merge, and its peak is the least), or None when no order meets every
    point. (None, None) when it has more than `max_nodes` nodes (default
    ENVELOPE_MAX_NODES).

    Every order's profile is at least this at every point, and this has a
    profile's shape (s_t >= L_{t-1}, since a step holds what was live; and
    s_t >= L_t, since the set after a step is a downset of size t).
    Dynamic programme over the downsets, layer by layer, then one forward
    walk over the downsets that meet each point: O(2^m m nb) at worst
    (m <= max_nodes).
    """
    prob, sub = _checked(part_prob)
    m = sub.k
    if m > (ENVELOPE_MAX_NODES if max_nodes is None else max_nodes):
        return None, None
    succ_ptr, succ_idx = np.asarray(sub.succ_ptr), np.asarray(sub.succ_idx)
    pred_mask = [0] * m
    for u in range(m):
        for v in succ_idx[succ_ptr[u]:succ_ptr[u + 1]].tolist():
            pred_mask[v] |= 1 << u
    nb = len(sub.buf_size)
    maker, readers = [-1] * nb, [0] * nb
    for u in range(m):
        for b in np.asarray(sub.make_idx)[sub.make_ptr[u]:sub.make_ptr[u + 1]].tolist():
            maker[b] = u
        for b in np.asarray(sub.use_idx)[sub.use_ptr[u]:sub.use_ptr[u + 1]].tolist():
            readers[b] |= 1 << u
    sizes = [int(x) for x in sub.buf_size]
    pinned = [bool(x) for x in sub.buf_pinned]
    alloc = [int(x) for x in sub.alloc]
    ws = [int(x) for x in sub.ws]

    def live(done):
        # The memory model's rule 3 on the set `done` (as bruteforce.Model).
        total = 0
        for b in range(nb):
            made = maker[b] < 0 or done >> maker[b] & 1
            if made and (pinned[b] or readers[b] & ~done or (maker[b] < 0 and not readers[b])):
                total += sizes[b]
        return total

    def ready(done):
        return [n for n in range(m) if not done >> n & 1 and pred_mask[n] & ~done == 0]

    points = [live(0)]
    layers = [{0: points[0]}]
    for _ in range(m):
        step, nxt = None, {}
        for done, here in layers[-1].items():
            for n in ready(done):
                cost = here + alloc[n] + ws[n]
                step = cost if step is None else min(step, cost)
                grown = done | 1 << n
                if grown not in nxt:
                    nxt[grown] = live(grown)
        layers.append(nxt)
        points += [step, min(nxt.values())]
    # An order meeting every point: walk the downsets that meet them.
    attained, parents = {0}, []
    for t in range(m):
        s_t, l_t, came = points[2 * t + 1], points[2 * t + 2], {}
        for done in attained:
            for n in ready(done):
                grown = done | 1 << n
                if (layers[t][done] + alloc[n] + ws[n] == s_t and layers[t + 1][grown] == l_t
                        and grown not in came):
                    came[grown] = (done, n)
        parents.append(came)
        attained = set(came)
    order = None
    if attained:
        order, done = [], (1 << m) - 1
        for came in reversed(parents):
            done, n = came[done]
            order.append(n)
        order = np.array(order[::-1], dtype=np.int64)
    return np.array(points, dtype=np.int64), order


def merge_parts(sub, solve, lower_bound=0):
    """Schedule a segment part by part and merge the parts' orders.

    sub: a _problem.Subproblem (or a CoreProblem of one). solve: called as
    ``solve(part_core_problem)`` on each part that has more than one valid
    order, unless it has at most ENVELOPE_MAX_NODES nodes and an order
    meeting its :func:`envelope` (that order is then taken: no order of
    the part is better in any merge). part_core_problem is a CoreProblem
    of :func:`part_subproblem` (base 0; its ``sub.nodes`` are global
    ids); solve must return (order, peak, exhausted):
    an order in the part's local ids, its peak, and True if that peak is
    proven minimal for the part alone. ValueError if `peak` is not the
    order's. lower_bound: a bound the caller has proven on every order of
    the segment, base included (e.g. the scheduler's static bound); it
    only helps prove the result exact.

    Returns None when the segment has fewer than two parts. Otherwise
    (order, peak, exact): order in local ids of `sub` (int64), peak its
    peak in the segment (base included; equal to _heuristics.evaluate on
    `sub`), exact True only when no order of the segment peaks lower:

    * every part has a single valid order (a chain): the merge is optimal
      over all interleavings, which are then all the segment's orders;
    * or peak is at most `lower_bound`, or the whole segment's static
      lower bound (working sets, pinned bytes: _lower_bounds, O(k)), or
      this bound of the parts: at the step where part i peaks, the
      others hold at least their least live bytes, so every order peaks at
      least base + max_i (lb_i + sum_{j != i} min_j), lb_i = the part's
      peak if proven (exhausted, or a chain), else its static lower bound,
      and min_j = the least of the part's live points for a chain (its only
      order), else its pre-segment pinned bytes (never freed: a lower bound
      on its live bytes at every moment of every order), and when that
      bound falls short, the least live bytes over all its executed sets
      (downsets), computed exactly as a minimum cut by
      _mincut.min_live_downset (the pinned bytes kept if its network
      exceeds its memory cap);
    * or peak is at most the merge of the parts' envelopes (see
      :func:`envelope`; a flat one at min_j for parts over
      ENVELOPE_MAX_NODES nodes): each order of the segment interleaves
      profiles at least the envelopes point by point, and no
      interleaving of the envelopes peaks below their merge.

    Cost: the parts, the chain test, the profiles and the merge are
    O((k + nb + edges + reads + makes) log k) together, vectorised over all
    parts (chains cost no Python per part); per branching part, its
    subproblem (linear), its envelope when it has at most
    ENVELOPE_MAX_NODES nodes (O(2^m m nb), m <= 8), and the solver's
    time; and only when the cheaper bounds do not prove the merge, one max
    flow per branching part (Dinic, O(V^2 E) at worst on its network).
    """
    prob, sub = _checked(sub)
    node_part, n_parts = _labels(sub)
    if n_parts < 2:
        return None
    k = sub.k
    # The parts one after the other, each in its listed (local id) order.
    order = np.argsort(node_part, kind="stable").astype(np.int64)
    step_ptr = np.zeros(n_parts + 1, dtype=np.int64)
    np.cumsum(np.bincount(node_part, minlength=n_parts), out=step_ptr[1:])
    # A part has one valid order iff it is a chain: its local ids are a
    # topological order (the listed one), the only one iff each node but
    # the last has an edge to the next. Checked for all parts at once.
    nxt = np.full(k, -1, dtype=np.int64)
    nxt[order[:-1]] = np.where(node_part[order[:-1]] == node_part[order[1:]], order[1:], -1)
    row = _rows(sub.succ_ptr)
    linked = np.zeros(k, dtype=bool)
    linked[row[np.asarray(sub.succ_idx) == nxt[row]]] = True
    chain = np.ones(n_parts, dtype=bool)
    chain[node_part[(nxt >= 0) & ~linked]] = False
    bounds = np.zeros(n_parts, dtype=np.int64)
    least = np.zeros(n_parts, dtype=np.int64)
    part_probs, envelopes = {}, {}
    for p in np.flatnonzero(~chain).tolist():
        nodes = order[step_ptr[p]:step_ptr[p + 1]].copy()
        pprob = part_probs[p] = CoreProblem(_part_subproblem(sub, nodes))
        env, porder = envelopes[p] = envelope(pprob)
        least[p] = pprob.pinned_live0
        if porder is not None:
            # Its profile is the envelope: its peak is the part's least.
            order[step_ptr[p]:step_ptr[p + 1]] = nodes[porder]
            bounds[p] = int(env.max())
            continue
        porder, peak, exhausted = solve(pprob)
        porder = np.ascontiguousarray(porder, dtype=np.int64)
        if _heuristics.evaluate(pprob, porder) != int(peak):     # raises on an invalid order
            raise ValueError("merge_parts: solve returned a peak that is not its order's")
        order[step_ptr[p]:step_ptr[p + 1]] = nodes[porder]
        bounds[p] = int(peak) if exhausted else static_lower_bound(pprob, 0)
    points = _profiles(sub, order, step_ptr, node_part)
    merged, peak = _merge(points, order, step_ptr, int(sub.base))
    # A chain's only order: its peak is its minimum, its least live point
    # its least live bytes.
    point_ptr = 2 * step_ptr + np.arange(n_parts + 1, dtype=np.int64)
    live_points = points.copy()
    step_part = np.repeat(np.arange(n_parts, dtype=np.int64), np.diff(step_ptr))
    live_points[2 * np.arange(k, dtype=np.int64) + step_part + 1] = BYTES_LIMIT
    bounds[chain] = np.maximum.reduceat(points, point_ptr[:-1])[chain]
    least[chain] = np.minimum.reduceat(live_points, point_ptr[:-1])[chain]
    known = max(int(lower_bound), static_lower_bound(prob, 0))
    if chain.all() or peak <= max(known, _parts_bound(sub.base, bounds, least)):
        return merged, peak, True
    # Sharper, and dearer: every order of a part profiles at least its
    # envelope at each point, so every order of the segment peaks at least
    # at the best interleaving of the envelopes (the merge theorem, on
    # profiles of the same shape); a part too large for its envelope gets
    # a flat one at its pinned bytes from before the segment.
    lows = [points[point_ptr[p]:point_ptr[p + 1]] for p in range(n_parts)]
    for p, pprob in part_probs.items():
        lows[p] = envelopes[p][0]           # None for a part over ENVELOPE_MAX_NODES
        if lows[p] is None:
            lows[p] = np.full(2 * pprob.k + 1, least[p], dtype=np.int64)
    _, env_peak = _merge(np.concatenate(lows), order, step_ptr, int(sub.base))
    known = max(known, env_peak)
    if peak <= max(known, _parts_bound(sub.base, bounds, least)):
        return merged, peak, True
    # Each branching part's least live bytes over all its downsets, one
    # minimum cut (_mincut.min_live_downset).
    for p, pprob in part_probs.items():
        try:
            least[p] = max(int(least[p]), int(min_live_downset(pprob)[0]))
        except MemoryError:
            pass                        # network over its cap: keep the pinned bytes
    return merged, peak, bool(peak <= max(known, _parts_bound(sub.base, bounds, least)))


def _parts_bound(base, bounds, least):
    """base + max_i (bounds[i] + sum_{j != i} least[j]) (see merge_parts)."""
    bounds, least = [int(x) for x in bounds], [int(x) for x in least]
    total = sum(least)
    return int(base) + max(b + total - m for b, m in zip(bounds, least))
