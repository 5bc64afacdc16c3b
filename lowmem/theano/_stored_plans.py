"""A LowMemVM's plan as a plan-cache entry, and back: lowmem._stored_plans
(shared with lowmem.pytensor) bound to Theano's FunctionGraph translator."""

from .. import _stored_plans
from .._stored_plans import Learned, pack  # noqa: F401
from ._translate import graph_from_fgraph


def unpack(entry, fgraph, nodes, name):
    """(translation, schedule, copies, learned) of a stored entry for
    `fgraph` (lowmem._stored_plans.unpack with Theano's translator)."""
    return _stored_plans.unpack(entry, fgraph, nodes, name, graph_from_fgraph)
