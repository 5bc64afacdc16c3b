"""PyTensor's adapter for the FunctionGraph translation (lowmem/_bridge.py):
IfElse aliases only sometimes, as in Theano."""

from pytensor.conditional.op import IfElse

from .. import _bridge

PYTENSOR = _bridge.Adapter(name="pytensor", sometimes_alias=(IfElse,))
graph_from_fgraph = _bridge.translator(PYTENSOR, "pytensor-function")
