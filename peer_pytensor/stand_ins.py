"""lowmem's stand-in for PyTensor's ``tests/unittest_tools.py``.

PyTensor's test helpers are not in its sdist (the only place on PyPI with
its tests), so the peer suite registers this module as
``tests.unittest_tools`` (see conftest.py). It is written here, not copied:
the few names that the chosen test files use, with the behaviour their
docstrings and call sites need. Both runs use it, so it cannot make the
modes differ; it only has to let the tests run.

- ``fetch_seed()``: a fixed seed for the tests' ``np.random.default_rng``
  (``LOWMEM_PEER_SEED``, default 666).
- ``verify_grad(fun, pt, n_tests=2, rng=None, **kwargs)``:
  ``pytensor.gradient.verify_grad`` with a seeded generator when none is
  given; like the other calls it compiles with the default mode, which in
  the lowmem run is LowMemMode.
- ``InferShapeTester``: a base class whose ``_compile_and_check`` compiles
  the outputs and their shapes with ``self.mode`` (the default mode with
  "canonicalize"), checks that the shape function no longer contains the
  op class under test (``check_topo``) and that the computed shapes equal
  the outputs' shapes.
"""

import os

import numpy as np


def fetch_seed(pseed=None):
    if pseed is not None:
        return int(pseed)
    return int(os.environ.get("LOWMEM_PEER_SEED", "666"))


def verify_grad(fun, pt, n_tests=2, rng=None, *args, **kwargs):
    from pytensor.gradient import verify_grad as pytensor_verify_grad

    if rng is None:
        rng = np.random.default_rng(fetch_seed())
    pytensor_verify_grad(fun, pt, n_tests, rng, *args, **kwargs)


class InferShapeTester:
    def setup_method(self):
        from pytensor.compile.mode import get_default_mode

        self.mode = get_default_mode().including("canonicalize")

    def _compile_and_check(self, inputs, outputs, numeric_inputs, cls,
                           excluding=None, warn=True, check_topo=True):
        import pytensor

        mode = self.mode
        if excluding:
            mode = mode.excluding(*excluding)
        outputs_function = pytensor.function(inputs, outputs, mode=mode)
        shapes_function = pytensor.function(
            inputs, [o.shape for o in outputs], mode=mode,
            on_unused_input="ignore")  # a scalar output has no shape
        if check_topo:
            topo = shapes_function.maker.fgraph.toposort()
            assert not any(isinstance(n.op, cls) for n in topo), (
                "the shape graph still computes %s" % cls.__name__)
        numeric_outputs = outputs_function(*numeric_inputs)
        numeric_shapes = shapes_function(*numeric_inputs)
        for out, shape in zip(numeric_outputs, numeric_shapes):
            assert np.all(np.shape(out) == shape), (np.shape(out), shape)
