"""The plan cache for PyTensor: lowmem._plan_cache (the files, the key, the
one plan cache of lowmem) and lowmem._stored_plans (the entries) with
PyTensor's adapter.

A LowMemMode function whose linker has ``plan_cache=True`` looks its plan
up on its first call, by the key of its optimised FunctionGraph and the
signature of that call's inputs (shapes and dtypes); a hit gives the
recorded sizes and the searched order, so the first call skips both the
recording call and the search (and then links and runs as usual); a miss
plans as usual and stores the plan. An entry that does not fit the graph
(another numbering, another peak) is reported and planned again, as in
lowmem.theano. Plans go to ``<pytensor.config.compiledir>/lowmem-plans``
unless the linker names a directory.
"""

import json
import warnings

import pytensor
from pytensor.graph.basic import Constant, Variable
from pytensor.graph.fg import AbstractFunctionGraph
from pytensor.graph.op import Op
from pytensor.graph.type import Type
from pytensor.scalar.basic import Composite, ScalarType
from pytensor.scan.op import Scan
from pytensor.tensor.type import TensorType

from .. import _plan_cache, _stored_plans
from .._plan_cache import PlanCacheWarning
from ._translate import graph_from_fgraph

PYTENSOR = _plan_cache.Library(
    version=f"pytensor {pytensor.__version__}",
    Variable=Variable, Constant=Constant, Op=Op, Type=Type,
    TensorType=TensorType, Scalar=ScalarType, Composite=Composite, Scan=Scan,
    # A TensorType is its dtype and static shape (ints and None), as PyTensor
    # compares them (its __props__).
    tensor_key=lambda t: (t.dtype, tuple(None if d is None else int(d) for d in t.shape)),
    # As PyTensor's Scan.__eq__: info, profile, truncate_gradient, name,
    # allow_gc and the inner graph.
    scan_parts=lambda op: ((op.info, op.profile, op.truncate_gradient, op.name, op.allow_gc),
                           op.inner_inputs, op.inner_outputs),
    compiledir=lambda: pytensor.config.compiledir,
    # The Numba rewrites' ops (FusedElemwise, ScalarizedElemwise) hold a
    # (Frozen)FunctionGraph among their __props__: described as a graph.
    inner_graph=lambda v: (v.inputs, v.outputs) if isinstance(v, AbstractFunctionGraph) else None)

NAME = "pytensor-function"


def default_directory():
    """``<pytensor.config.compiledir>/lowmem-plans``."""
    return _plan_cache.default_directory(PYTENSOR)


def function_key(fgraph, nodes):
    """lowmem._plan_cache.function_key of a PyTensor FunctionGraph (None:
    some part has no stable description, the function is not cached)."""
    return _plan_cache.function_key(fgraph, nodes, PYTENSOR)


def _warn(message):
    warnings.warn(f"lowmem plan cache: {message}", PlanCacheWarning, stacklevel=5)


class Lookup:
    """The plan cache as one function's first call sees it.

    key, signature  the function's key and this call's inputs' signature
                    (key None: not cached)
    translation, schedule, entry   of the stored plan for them (None: a miss)
    copies          its (node, output) declared views that copied
    """

    def __init__(self, directory, fgraph, nodes, values):
        self.translation = self.schedule = self.entry = None
        self.copies = frozenset()
        self.key = self.signature = self.cache = None
        try:
            self.key = function_key(fgraph, nodes)
            if self.key is None:
                return
            self.signature = json.loads(json.dumps(_plan_cache.input_signature(values)))
            self.cache = _plan_cache.PlanCache(directory or default_directory())
            variants = self.cache.load(self.key)
        except Exception as e:          # never a reason for a function to fail
            _warn(f"off for this function ({type(e).__name__}: {e})")
            self.key = self.cache = None
            return
        entry = next((e for e in variants if e.get("signature") == self.signature), None)
        if entry is None:
            return
        try:
            self.translation, self.schedule, self.copies, _ = _stored_plans.unpack(
                entry, fgraph, nodes, entry["name"], graph_from_fgraph)
            self.entry = entry
        except ValueError as e:
            _warn(f"a cached plan of {entry['name']} does not fit it ({e}); it is planned again")

    @property
    def hit(self):
        return self.entry is not None

    def store(self, plan):
        """Store `plan` (a LowMemPlan made on a miss) under the key; whether
        it was handed to the cache."""
        if self.key is None or self.cache is None:
            return False
        try:
            seconds = float(plan.schedule.stats.get("seconds", plan.schedule_seconds))
            entry = _stored_plans.pack(plan, self.signature, NAME, seconds,
                                       _stored_plans.Learned())
            self.cache.store(self.key, entry)       # (writing errors: one warning)
        except Exception as e:                      # never a reason for a call to fail
            _warn(f"cannot store this function's plan ({type(e).__name__}: {e})")
            return False
        return True
