"""Make Theano 1.0.5 importable on Python 3.11.

Theano reads its flags once, when first imported, and crashes reading
NumPy's build configuration unless ``blas.ldflags`` is set; it also uses
NumPy aliases removed in 1.24; and its compiled scan loop does not build on
3.11. This sets the flag's default (empty) before the first import, leaving
any flag the user gave alone, and makes scan use its Python loop.
"""

import os
import sys


def prepare_theano():
    """Set Theano's missing defaults and import it; ImportError with the
    reason when it cannot work here."""
    import numpy
    major, minor = (int(x) for x in numpy.__version__.split(".")[:2])
    if (major, minor) >= (1, 24):
        raise ImportError(f"lowmem.theano needs NumPy < 1.24 for Theano 1.0.5 "
                          f"(found {numpy.__version__}); install numpy==1.23.5")
    # Theano compiles its Cython scan loop on first use; on Python 3.11 the
    # generated C no longer builds (longintrepr.h moved) and Theano only
    # falls back to its Python loop on ImportError, which this entry gives.
    if sys.version_info >= (3, 11):
        sys.modules.setdefault("theano.scan_module.scan_perform_ext", None)
    if "theano" not in sys.modules:
        flags = os.environ.get("THEANO_FLAGS", "")
        names = {item.split("=", 1)[0].strip() for item in flags.split(",") if item.strip()}
        if "blas.ldflags" not in names:
            os.environ["THEANO_FLAGS"] = ",".join(filter(None, [flags, "blas.ldflags="]))
    import theano  # noqa: F401  (imported here so the flags above apply)
