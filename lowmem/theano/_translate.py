"""Theano's adapter for the FunctionGraph translation (lowmem/_bridge.py):
IfElse aliases only sometimes. The names the rest of lowmem.theano uses are
re-exported here, bound to this adapter."""

from theano.ifelse import IfElse

from .. import _bridge
from .._bridge import Translation, variable_listing, variable_nbytes  # noqa: F401

THEANO = _bridge.Adapter(name="theano", sometimes_alias=(IfElse,))


def graph_from_fgraph(fgraph, sizes, shapes=None, workspace=None, name="theano-function",
                      copies=(), nodes=None):
    """The lowmem Graph of a Theano FunctionGraph: _bridge.graph_from_fgraph
    with Theano's adapter."""
    return _bridge.graph_from_fgraph(THEANO, fgraph, sizes, shapes, workspace, name=name,
                                     copies=copies, nodes=nodes)
