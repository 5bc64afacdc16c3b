"""Theano's adapter for the FunctionGraph translation (lowmem/_bridge.py):
IfElse aliases only sometimes. The names the rest of lowmem.theano uses are
re-exported here, bound to this adapter."""

from theano.ifelse import IfElse

from .. import _bridge
from .._bridge import Translation, variable_listing, variable_nbytes  # noqa: F401

THEANO = _bridge.Adapter(name="theano", sometimes_alias=(IfElse,))
graph_from_fgraph = _bridge.translator(THEANO, "theano-function")
