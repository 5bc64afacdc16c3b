"""A plan as a plan-cache entry (lowmem._plan_cache), and back: for
lowmem.theano (its LowMemVM's plans, through lowmem.theano._stored_plans)
and lowmem.pytensor (its LowMemPlans); the library's FunctionGraph
translator is an argument of :func:`unpack`.

An entry holds what the plan was made from and what the search found:
the sizes, shapes and workspace the recording call measured (by lowmem
variable and node id: the numbering of _bridge.variable_listing, which
the cache key pins down), the ops seen copying where they declare a view,
the order, its peak and lower bound, whether it is proven, the search's
statistics and the seconds spent on it over every process, and what
storage sharing learned (:class:`Learned`): the shape classes of the
variables (numbered, as they are only compared), the outputs whose op was
seen writing into a handed array and those whose op was seen replacing it.
The storage plan itself is rebuilt from these (_sharing.plan_sharing,
milliseconds), so a later process starts where this one stopped; every
hand-off is still checked at every call.

Loading rebuilds the Translation and the Schedule and checks the order
against the graph with the compiled evaluator: an order that is not an
order of this graph, or whose peak is not the stored one, makes the entry
stale (ValueError), and the function is recorded and planned as usual.
"""

from dataclasses import dataclass, field

import numpy as np

from . import _scheduler as scheduler
from ._bridge import variable_listing

# Statistics kept in an entry: numbers, strings and flat dicts of them.
_STAT_TYPES = (bool, int, float, str)


def _json_stats(stats):
    out = {}
    for name, value in stats.items():
        if isinstance(value, (np.integer, np.floating, np.bool_)):
            value = value.item()
        if isinstance(value, _STAT_TYPES):
            out[name] = value
        elif isinstance(value, dict) and all(isinstance(v, _STAT_TYPES + (np.integer,))
                                             for v in value.values()):
            out[name] = {str(k): (v.item() if isinstance(v, np.integer) else v)
                         for k, v in value.items()}
    return out


@dataclass
class Learned:
    """What storage sharing learned about a function (see the module
    docstring): variables whose op writes into a handed array
    (`verified`), variables that must not take one (`excluded`), and the
    shape class of each lowmem variable (`classes`, None: not known)."""
    verified: list = field(default_factory=list)
    excluded: set = field(default_factory=set)
    classes: list = None


def _numbered(classes):
    """Shape classes as small ints (equal classes, equal ints), or None."""
    if classes is None:
        return None
    ids = {}
    return [None if c is None else ids.setdefault(c, len(ids)) for c in classes]


def _outputs(translation, variables):
    """[[node id, output position]] of the library's variables made by nodes."""
    node_id = {node: n for n, node in enumerate(translation.nodes)}
    return sorted([node_id[v.owner], v.owner.outputs.index(v)] for v in variables
                  if v.owner is not None and v.owner in node_id)


def pack(plan, signature, name, search_seconds, learned):
    """The cache entry of `plan` (lowmem.theano's _linker.Plan, or any plan
    with its translation, schedule, copies, workspace_measured and
    record_seconds), planned for inputs of `signature`
    (_plan_cache.input_signature); `search_seconds`: the seconds searched
    for this order in every process so far; `learned`: a
    :class:`Learned`."""
    translation, result = plan.translation, plan.schedule
    graph = translation.graph
    shapes = [None if s is None else [int(d) for d in s] for s in graph.var_shapes]
    return {
        "signature": signature,
        "name": name,
        "nodes": int(graph.n_nodes),
        "order": [int(n) for n in result.order],
        "peak": int(result.peak),
        "lower_bound": int(result.lower_bound),
        "optimal": bool(result.optimal),
        "default_peak": int(result.default_peak),
        "heuristic_peaks": {k: int(v) for k, v in result.heuristic_peaks.items()},
        "stats": _json_stats(result.stats),
        "sizes": [int(s) for s in graph.var_size],
        "shapes": shapes,
        "workspace": [[int(n), int(w)] for n, w in enumerate(graph.node_workspace) if w],
        "copies": sorted([translation.nodes.index(node), int(pos)]
                         for node, pos in plan.copies),
        "workspace_measured": bool(plan.workspace_measured),
        "record_seconds": float(plan.record_seconds),
        "search_seconds": float(search_seconds),
        "verified": _outputs(translation, learned.verified),
        "excluded": _outputs(translation, learned.excluded),
        "classes": _numbered(learned.classes),
    }


def unpack(entry, fgraph, nodes, name, graph_from_fgraph):
    """(translation, schedule, copies, learned) of a stored entry for
    `fgraph`, whose Apply nodes `nodes` lists in ``fgraph.toposort()``
    order, translated by `graph_from_fgraph` (the library's translator, as
    lowmem._bridge.translator makes it); ValueError when the entry does not
    fit this graph (see the module docstring)."""
    variables, _ = variable_listing(fgraph, nodes)
    try:
        sizes_list, shapes_list = entry["sizes"], entry["shapes"]
        if len(sizes_list) != len(variables) or len(shapes_list) != len(variables) \
                or entry["nodes"] != len(nodes):
            raise ValueError("the entry is for a graph of another size")
        sizes = {var: int(s) for var, s in zip(variables, sizes_list) if s}
        shapes = {var: tuple(s) for var, s in zip(variables, shapes_list) if s is not None}
        workspace = {nodes[n]: int(w) for n, w in entry["workspace"]}
        copies = {(nodes[n], int(pos)) for n, pos in entry["copies"]}
        verified = [nodes[n].outputs[pos] for n, pos in entry.get("verified", [])]
        excluded = {nodes[n].outputs[pos] for n, pos in entry.get("excluded", [])}
        classes = entry.get("classes")
        if classes is not None and len(classes) != len(variables):
            raise ValueError("the entry's shape classes are for a graph of another size")
        translation = graph_from_fgraph(fgraph, sizes, shapes, workspace, name=name,
                                        copies=copies, nodes=nodes)
        order = np.asarray(entry["order"], dtype=np.int64)
        peak = scheduler.core_peak(translation.graph, order)
    except (KeyError, TypeError, IndexError, OverflowError) as e:
        raise ValueError(f"a malformed entry ({type(e).__name__}: {e})") from None
    if peak != entry["peak"]:
        raise ValueError(f"its order peaks at {peak} bytes here, not the stored "
                         f"{entry['peak']}")
    result = scheduler.Schedule(
        order=order, peak=int(peak), lower_bound=min(int(entry["lower_bound"]), int(peak)),
        optimal=bool(entry["optimal"]), default_peak=int(entry["default_peak"]),
        heuristic_peaks=dict(entry["heuristic_peaks"]), stats=dict(entry["stats"]))
    return translation, result, copies, Learned(verified, excluded, classes)
