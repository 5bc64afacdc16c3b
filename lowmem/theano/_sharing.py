"""Storage sharing in compiled Theano functions.

``lowmem.plan_storage`` pairs buffers of the same dtype and shape class
whose lifetimes do not overlap into storage cells. This module applies
such a plan to a LowMemVM: when a cell's buffer dies, its array is handed
to the Theano storage cell of the variable that takes the cell next, so
that variable's op finds a preallocated output of the right shape and
writes into it (Theano's C ops reuse an output of matching dimensions:
Elemwise, CAReduce, Dot22, ...). Between the two the array stays in the
taker's cell, which is exactly what the plan counts: a cell held for
reuse is live from its donor's death to its taker's birth.

Why hand arrays over rather than alias Theano's cells: thunks capture
their storage cells (one-element lists) when they are made, at compile
time, but the order, and so every lifetime, is only known once sizes are
(after the recording first call). Handing over the array between cells
gives the same sharing for any order chosen at any time, leaves the
thunks alone, and makes garbage collection exact: a cell awaiting reuse
is never emptied, and the last buffer of a cell is freed as usual.

Shape classes (shape_classes.py) come from Theano's ShapeFeature, so one
plan holds for every shape of the explicit inputs; the shapes of weights
are taken as fixed, and the VM re-plans if one of them changes shape.

Safety: an array is handed over only when nothing but its cell refers to
it (``sys.getrefcount``), so an undeclared view or a cached result can
never be overwritten. An op that does not write into the array it was
handed (most Python ``perform`` implementations replace it) briefly holds
both, which the model does not count: so a hand-off to an op not yet seen
writing into one is tried only at a step with room for both under the
order's peak. The VM checks every hand-off after the taker's node runs:
an op seen writing into the array is trusted from then on at every node
of an equal op (same Theano op, same output), and variables whose op
replaced the array stop taking cells (the plan is redone either way).
"""

import sys
from dataclasses import dataclass, field

import numpy as np

from .._storage_plan import plan_storage


# Cells of at most this many bytes per array are kept from one call to the
# next (Theano's first reuse step did this for 0-d arrays): shape
# arithmetic makes many tiny arrays, each an allocation per call, for a
# few bytes held between calls.
KEEP_BETWEEN_CALLS_BYTES = 64
# How far kept arrays may raise a call's peak above the order's: the
# 4 KiB LowMemMode's search already stops at (_options.DEFAULT_TOLERANCE_BYTES),
# and the linker gives no more than the order saved against the default
# C VM's order.
# Held across the peak step, even 8 bytes would raise it, so with 0 most of
# them could not be kept.
KEEP_PEAK_ALLOWANCE = 4096


@dataclass
class Sharing:
    """A storage plan applied to a LowMemVM's order (see the module docstring).

    plan          the lowmem StoragePlan of the order
    actions       per step, after the node: (variables whose cells empty,
                  hand-offs (giver, taker, slot), checks (taker, slot));
                  a giver or taker ("kept", k) is the k-th kept cell's reserve
    opening       at the start of a call: hand-offs (("kept", k), taker, slot)
    kept          reserves kept between calls
    timeline      per step: bytes allocated under the model, kept cells
                  counted at every step (they are always allocated)
    retained      bytes kept between calls
    excluded      Theano variables that stopped taking cells (their op did
                  not write into the array it was handed)
    untried       planned hand-offs not made: the taking op is not yet
                  verified and its step has no room for it to hold both
                  arrays under the order's peak (the array is freed)
    slots         hand-offs planned per call
    handed, taken in the last call: arrays handed over (the rest were
                  still referred to elsewhere, and freed), and arrays the
                  taking op wrote into
    """
    plan: object
    actions: list
    opening: list
    kept: int
    timeline: np.ndarray
    retained: int
    excluded: set = field(default_factory=set)
    untried: int = 0
    slots: int = 0
    handed: int = 0
    taken: int = 0

    @property
    def peak(self):
        """Peak bytes allocated during a call, kept cells included: at most
        the order's peak + the keep allowance (the storage plan alone
        never raises it)."""
        return int(self.timeline.max()) if len(self.timeline) else 0

    @property
    def call_peak(self):
        """The peak above the level a call starts from, which already
        holds the kept cells: what lowmem.theano.measure_call reads."""
        return self.peak - self.retained


def _chains(plan):
    """Per cell, its buffers in order of birth."""
    chains = {}
    for b in np.argsort(plan.start, kind="stable"):
        chains.setdefault(int(plan.cell[b]), []).append(int(b))
    return chains


def _timeline(plan, chains, workspace):
    """Per step: bytes of cells held (first birth to last death) + workspace."""
    n = len(workspace)
    delta = np.zeros(n + 1, dtype=np.int64)
    for members in chains.values():
        size = int(plan.size[members[0]])
        delta[plan.start[members[0]]] += size
        delta[max(int(plan.end[b]) for b in members) + 1] -= size
    return np.cumsum(delta)[:n] + workspace


def _keep_small_cells(plan, chains, timeline, keep_bytes, may_share, allowance, may_try):
    """Cells (ids) of arrays of at most `keep_bytes` to keep between calls,
    among buffers that `may_share` and whose first buffer `may_try`
    (buffer, timeline) a handed array, smallest first, each only if holding
    it outside its span keeps the timeline within the order's peak +
    `allowance`; adds them to `timeline`."""
    kept = []
    limit = plan.order_peak + allowance
    for c, members in sorted(chains.items(), key=lambda cm: (int(plan.size[cm[1][0]]), cm[0])):
        size = int(plan.size[members[0]])
        if size > keep_bytes:
            break
        if size == 0 or not all(may_share[b] for b in members) \
                or not may_try(members[0], timeline):
            continue
        first, last = int(plan.start[members[0]]), max(int(plan.end[b]) for b in members)
        outside = np.concatenate([timeline[:first], timeline[last + 1:]])
        if len(outside) and outside.max() + size > limit:
            continue
        timeline[:first] += size
        timeline[last + 1:] += size
        kept.append(c)
    return kept


def plan_sharing(translation, order, clear_lists, classes, excluded=(), verified=(),
                 keep_bytes=KEEP_BETWEEN_CALLS_BYTES, keep_allowance=KEEP_PEAK_ALLOWANCE):
    """A :class:`Sharing` for `order` (lowmem node ids of translation.graph).

    clear_lists: per step, the Theano variables whose cells the VM empties
    after it; classes: per lowmem variable, its shape class or None;
    excluded: Theano variables that must not take a cell; verified:
    (op, output position) pairs seen writing into the array they were
    handed (see :func:`op_key`), or known to. keep_bytes:
    cells of arrays up to this size are kept between calls (0: none), as
    long as they raise the peak by at most keep_allowance bytes in all.

    An op not yet verified may replace the array it is handed, holding both
    while it runs: such a hand-off is tried only at a step with room for
    that under the order's peak, so even a first try never raises it.
    """
    graph = translation.graph
    variables = translation.variables
    classes = [None if variables[v] in excluded else c for v, c in enumerate(classes)]
    plan = plan_storage(graph, order, shape_classes=classes, arena=False)
    chains = _chains(plan)
    timeline = _timeline(plan, chains, graph.node_workspace[plan.order])
    # Graph outputs (and what views them) and arrays of unknown shape never share.
    may_share = np.array([classes[v] is not None for v in plan.owner], dtype=bool)
    may_share[[b for b in plan.buffer_of[graph.outputs] if b >= 0]] = False
    owner = [variables[v] for v in plan.owner]

    def may_try(b, timeline):
        return (op_key(owner[b]) in verified
                or timeline[plan.start[b]] + plan.size[b] <= plan.order_peak)

    kept = _keep_small_cells(plan, chains, timeline, keep_bytes, may_share, keep_allowance,
                             may_try)
    # Hand-offs: each buffer of a chain to the next; a kept chain's last
    # buffer to its reserve, which opens the next call by handing it to
    # the first.
    # A hand-off an unverified op has no room to try frees the array instead.
    pairs = [(owner[a], owner[b] if may_try(b, timeline) else None,
              int(plan.end[a]), int(plan.start[b]))
             for members in chains.values() for a, b in zip(members, members[1:])]
    untried = sum(1 for _, take, _, _ in pairs if take is None)
    for k, c in enumerate(kept):
        last = chains[c][-1]
        pairs.append((owner[last], ("kept", k), int(plan.end[last]), None))
    opening = [(("kept", k), owner[chains[c][0]], len(pairs) + k) for k, c in enumerate(kept)]
    givers = {give for give, _, _, _ in pairs}
    actions = [([v for v in vars_ if v not in givers], [], []) for vars_ in clear_lists]
    for slot, (give, take, end, start) in enumerate(pairs):
        actions[end][1].append((give, take, slot))
        if start is not None and take is not None:
            actions[start][2].append((take, slot))
    for give, take, slot in opening:
        actions[int(plan.start[chains[kept[give[1]]][0]])][2].append((take, slot))
    retained = sum(int(plan.size[chains[c][0]]) for c in kept)
    return Sharing(plan=plan, actions=actions, opening=opening, kept=len(kept),
                   timeline=timeline, retained=retained, excluded=set(excluded),
                   untried=untried, slots=len(pairs) + len(opening))


def op_key(var):
    """(op, output position) of the node making `var`: equal Theano ops run
    the same code, so one seen writing into a handed array is trusted to
    do so at every node."""
    node = var.owner
    return node.op, node.outputs.index(var)


def bind(sharing, storage_map, reserves, verified):
    """(actions, opening) of `sharing` with Theano variables replaced by
    their storage cells and ("kept", k) by reserves[k]; each check says
    whether its op is already in `verified`."""
    def cell(x):
        if x is None:
            return None
        return reserves[x[1]] if isinstance(x, tuple) else storage_map[x]
    actions = [([storage_map[v] for v in clear],
                [(cell(give), cell(take), slot) for give, take, slot in hand],
                [(storage_map[take], slot, take, op_key(take) in verified)
                 for take, slot in check])
               for clear, hand, check in sharing.actions]
    opening = [(cell(give), cell(take), slot) for give, take, slot in sharing.opening]
    return actions, opening


def hand_over(hand, handed):
    """Move each giver cell's array into its taker's cell, when nothing else
    refers to it (references: this frame's local and getrefcount's own)."""
    for give, take, slot in hand:
        value = give[0]
        give[0] = None
        if take is not None and type(value) is np.ndarray and sys.getrefcount(value) == 2:
            take[0] = value
            handed[slot] = value
        del value


def check_taken(check, handed, counts, new, failed):
    """After a node ran: each array handed to one of its outputs must still
    be that output (the op wrote into it). counts[0] += arrays checked,
    counts[1] += arrays taken; a variable whose op was not yet verified
    goes to `new` if it took its array, to `failed` if not."""
    for cell, slot, var, known in check:
        value = handed[slot]
        if value is not None:
            handed[slot] = None
            counts[0] += 1
            if cell[0] is value:
                counts[1] += 1
                if not known:
                    new.append(var)
            else:
                failed.append(var)
