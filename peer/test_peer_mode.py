"""The peer hook takes effect: in the lowmem run every way Theano's tests get
"the default mode" yields the LowMemMode instance (or a clone of its class);
in the default run none does. Runs in both runs of peer/run.py, so it passes
in both or the comparison reports it."""

import numpy as np
import theano
import theano.tensor as T
from theano.compile.mode import get_default_mode, get_mode

from conftest import MODE, lowmem_peer_mode


def _lowmem_class():
    mode = lowmem_peer_mode()
    return None if mode is None else type(mode)


def _uses_lowmem(mode):
    cls = _lowmem_class()
    return cls is not None and type(mode) is cls


def test_hook_installed_iff_lowmem_run():
    assert (lowmem_peer_mode() is not None) == (MODE == "lowmem")


def test_function_without_mode():
    x = T.vector("x")
    f = theano.function([x], T.exp(x) * 2 + 1)
    np.testing.assert_allclose(f(np.arange(3.0, dtype=x.dtype)),
                               np.exp(np.arange(3.0)) * 2 + 1, rtol=1e-5)
    if MODE == "lowmem":
        assert f.maker.mode is lowmem_peer_mode()
        assert type(f.maker.linker) is type(lowmem_peer_mode().linker)
    else:
        assert not _uses_lowmem(f.maker.mode)
        assert isinstance(f.maker.linker, theano.gof.vm.VM_Linker)
        assert f.maker.linker.use_cloop  # Theano's default C VM


def test_default_mode_lookups():
    lookups = [get_default_mode(), get_mode(None),
               get_mode(theano.config.mode), get_mode("FAST_RUN"),
               theano.compile.get_default_mode()]
    derived = [get_default_mode().including("canonicalize"),
               get_default_mode().excluding("inplace"),
               get_default_mode().clone(link_kwargs=dict(allow_gc=False))]
    for mode in lookups + derived:
        assert _uses_lowmem(mode) == (MODE == "lowmem"), mode
    # Explicit reference modes stay Theano's own.
    assert not _uses_lowmem(get_mode("FAST_COMPILE"))


def test_scan_inner_function():
    x = T.vector("x")
    out, _ = theano.scan(lambda v, acc: acc + v * 2, sequences=[x],
                         outputs_info=[T.zeros_like(x[0])])
    f = theano.function([x], out[-1])
    assert np.allclose(f(np.arange(4.0, dtype=x.dtype)), 12.0)
    scan_nodes = [n for n in f.maker.fgraph.toposort()
                  if isinstance(n.op, theano.scan_module.scan_op.Scan)]
    assert scan_nodes
    for node in scan_nodes:
        assert _uses_lowmem(node.op.mode_instance) == (MODE == "lowmem")


def test_verify_grad_default():
    # verify_grad with no mode compiles through get_mode(None).
    theano.gradient.verify_grad(lambda a: (a ** 2).sum(),
                                [np.random.rand(3)], rng=np.random)
