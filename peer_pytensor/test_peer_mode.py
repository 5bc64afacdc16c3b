"""The peer hook takes effect: in the lowmem run every way PyTensor's tests
get "the default mode" yields the LowMemMode instance (or a clone of its
class) and its functions run in lowmem's order on the Numba backend; in the
default run none does and the default is PyTensor's Numba mode. Runs in
both runs of peer_pytensor/run.py, so it passes in both or the comparison
reports it."""

import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.mode import get_default_mode, get_mode
from pytensor.link.numba.linker import NumbaLinker

from conftest import BACKEND, MODE, lowmem_peer_mode


def _uses_lowmem(mode):
    installed = lowmem_peer_mode()
    return installed is not None and type(mode) is type(installed)


def _compile_and_call(outputs, inputs, values):
    """Compile without a mode, call once; with LowMemMode no LowMemWarning
    (which would mean the function kept PyTensor's order)."""
    f = pytensor.function(inputs, outputs)
    with warnings.catch_warnings():
        if MODE == "lowmem":
            import lowmem.pytensor

            warnings.simplefilter("error", lowmem.pytensor.LowMemWarning)
        result = f(*values)
    return f, result


def test_hook_installed_iff_lowmem_run():
    assert (lowmem_peer_mode() is not None) == (MODE == "lowmem")


def test_default_is_numba_mode():
    # What "no mode" means in PyTensor 3.3.7 without the hook: config.mode
    # "Mode" with linker "auto", which is the Numba linker.
    mode = get_default_mode()
    if MODE == "lowmem":
        assert mode is lowmem_peer_mode()
        assert pytensor.config.mode is mode
    else:
        assert pytensor.config.mode == "Mode"
        assert type(mode.linker) is NumbaLinker


def test_function_without_mode():
    x = pt.vector("x")
    f, result = _compile_and_call(pt.exp(x) * 2 + 1, [x],
                                  [np.arange(3.0, dtype=x.dtype)])
    np.testing.assert_allclose(result, np.exp(np.arange(3.0)) * 2 + 1,
                               rtol=1e-5)
    if MODE == "lowmem":
        import lowmem.pytensor

        assert f.maker.mode is lowmem_peer_mode()
        expected = {"numba": lowmem.pytensor.LowMemNumbaLinker,
                    "vm": lowmem.pytensor.LowMemVMLinker}[BACKEND]
        assert type(f.maker.linker) is expected
        assert lowmem.pytensor.plan(f) is not None  # lowmem's order applied
    else:
        assert not _uses_lowmem(f.maker.mode)
        assert type(f.maker.linker) is NumbaLinker


def test_default_mode_lookups():
    lookups = [get_default_mode(), get_mode(None),
               get_mode(pytensor.config.mode), get_mode("FAST_RUN"),
               pytensor.compile.get_default_mode()]
    derived = [get_default_mode().including("canonicalize"),
               get_default_mode().excluding("inplace"),
               get_default_mode().clone()]
    for mode in lookups + derived:
        assert _uses_lowmem(mode) == (MODE == "lowmem"), mode
    # Explicit reference modes stay PyTensor's own.
    for name in ("FAST_COMPILE", "NUMBA", "CVM"):
        assert not _uses_lowmem(get_mode(name)), name


def test_eval_without_mode():
    x = pt.vector("x")
    y = (x ** 2).sum()
    assert np.isclose(y.eval({x: np.arange(4.0, dtype=x.dtype)}), 14.0)
    fns = list(getattr(y, "_fn_cache", {}).values())
    for fn in fns:  # Variable.eval's compiled function, where it keeps one
        assert _uses_lowmem(fn.maker.mode) == (MODE == "lowmem")


def test_scan_in_function_without_mode():
    x = pt.vector("x")
    out = pytensor.scan(lambda v, acc: acc + v * 2, sequences=[x],
                        outputs_info=[pt.zeros_like(x[0])],
                        return_updates=False)
    f, result = _compile_and_call(out[-1], [x], [np.arange(4.0, dtype=x.dtype)])
    assert np.allclose(result, 12.0)
    assert _uses_lowmem(f.maker.mode) == (MODE == "lowmem")


def test_verify_grad_default():
    # verify_grad with no mode compiles through get_mode(None).
    pytensor.gradient.verify_grad(lambda a: (a ** 2).sum(),
                                  [np.random.rand(3)],
                                  rng=np.random.default_rng(1))
