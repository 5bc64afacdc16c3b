"""The PyTensor environment (.venv-pytensor) is what requirements-pytensor.txt
promises, and lowmem's compiled core runs in it.

What lowmem's PyTensor support relies on: Python 3.12, NumPy 2, PyTensor
3.3.x whose default linker is Numba's, lowmem's Cython extensions built for
this interpreter (cpython-312, beside the cpython-311 ones of .venv), and a
NumbaLinker that takes an execution order through ``schedule=``.
"""

import glob
import importlib.util
import os
import sys
import sysconfig

import numpy as np
import pytest

import lowmem

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "lowmem", "examples", "theano_profiling_k8.json")


def test_python_and_numpy_versions():
    assert sys.version_info[:2] == (3, 12), sys.version
    assert int(np.__version__.split(".")[0]) >= 2, np.__version__


def test_pytensor_3_3_with_numba_as_default_linker():
    import pytensor
    from pytensor.compile.mode import get_default_mode
    from pytensor.link.numba import NumbaLinker

    assert pytensor.__version__.startswith("3.3."), pytensor.__version__
    assert isinstance(get_default_mode().linker, NumbaLinker), get_default_mode().linker


def test_every_extension_built_and_importable_here():
    """Each lowmem/**/*.pyx has a module for this interpreter (cpython-312)
    that imports. The lowmem.theano ones are loaded by path: the
    lowmem.theano package itself imports Theano, which NumPy 2 cannot run."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    assert ".cpython-312-" in suffix, suffix
    pyx = sorted(glob.glob(os.path.join(ROOT, "lowmem", "**", "*.pyx"), recursive=True))
    assert len(pyx) >= 11 and any(p.endswith("_vm.pyx") for p in pyx), pyx
    for path in pyx:
        so = path[:-len(".pyx")] + suffix
        name = os.path.relpath(path[:-len(".pyx")], ROOT).replace(os.sep, ".")
        spec = importlib.util.spec_from_file_location(name, so)
        assert spec is not None and os.path.exists(so), so
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_schedule_of_example_is_optimal():
    # theano_profiling_k8: 36 nodes; the listed order peaks at 28.00 MiB,
    # the best order at 4.03 MiB, which the lower bound proves optimal
    # (README's scheduler table; make test-install checks the same file).
    g = lowmem.load(EXAMPLE)
    s = lowmem.schedule(g, time_limit=1)
    assert g.n_nodes == 36
    assert sorted(int(n) for n in s.order) == list(range(g.n_nodes))
    assert s.optimal and s.peak == s.lower_bound == 4222976
    assert s.default_peak == 29364224
    assert lowmem.peak(g, s.order) == s.peak


def test_arena_offsets_packs_validly():
    lower = [0, 1, 2, 0, 3]
    upper = [2, 3, 4, 4, 5]
    size = [4, 8, 4, 2, 6]
    p = lowmem.arena_offsets(lower, upper, size, time_limit=1)
    offsets = [int(o) for o in p.offsets]
    for i in range(len(size)):
        assert offsets[i] >= 0 and offsets[i] + size[i] <= p.arena_bytes
        for j in range(i):
            live_together = lower[i] < upper[j] and lower[j] < upper[i]
            overlap = offsets[i] < offsets[j] + size[j] and offsets[j] < offsets[i] + size[i]
            assert not (live_together and overlap), (i, j, offsets)
    # At time 2 buffers 1, 2 and 3 are live: 8 + 4 + 2 bytes.
    assert p.proven and p.arena_bytes == p.lower_bound == 14


def _valid_order(fgraph, order):
    """Every node of fgraph once, each after the nodes computing its inputs."""
    if sorted(map(id, order)) != sorted(map(id, fgraph.apply_nodes)):
        return False
    done = set()
    for node in order:
        if any(i.owner is not None and i.owner not in done for i in node.inputs):
            return False
        done.add(node)
    return True


@pytest.mark.parametrize("swap", [False, True])
def test_numba_linker_follows_a_given_schedule(swap):
    """Two independent products, A @ X and B @ X, then their sum: a valid
    order may compute either product first. NumbaLinker(schedule=...) asks
    the function for the order, and both orders give the same outputs."""
    import pytensor
    import pytensor.tensor as pt
    from pytensor.compile.mode import Mode
    from pytensor.link.numba import NumbaLinker

    A, B, X = pt.matrix("A"), pt.matrix("B"), pt.matrix("X")
    given = []

    def schedule(fgraph):
        order = fgraph.toposort()
        if swap:
            dots = [k for k, n in enumerate(order) if type(n.op).__name__ == "Dot"]
            assert len(dots) == 2, order
            k0, k1 = dots
            order[k0], order[k1] = order[k1], order[k0]
            assert order != fgraph.toposort()
        assert _valid_order(fgraph, order), order
        given.append(order)
        return order

    f = pytensor.function([A, B, X], A @ X + B @ X,
                          mode=Mode(linker=NumbaLinker(schedule=schedule)))
    assert len(given) == 1
    rng = np.random.default_rng(0)
    a, b, x = rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), rng.normal(size=(2, 4))
    np.testing.assert_allclose(f(a, b, x), a @ x + b @ x, rtol=1e-12)
