"""Build the Cython extensions of lowmem.

Every ``lowmem/**/*.pyx`` becomes the extension named by its path; a new .pyx file
is picked up without editing this file. Metadata lives in pyproject.toml.
Bounds checking and wraparound are left to directives in each .pyx file.

The generated C goes to build/cython-<interpreter>-numpy<version>/ (e.g.
build/cython-cpython-311-numpy1.23.5/lowmem/_core.c), not beside the .pyx: one
checkout is built by two interpreters (.venv: 3.11 with NumPy 1.23, and
.venv-pytensor: 3.12 with NumPy 2; see the Makefile), and C generated from
a .pyx that cimports numpy differs between NumPy 1 and 2 (NumPy's own .pxd),
so a shared .c generated for one would be recompiled, and fail, for the
other. The .so files already differ by ABI tag and lie side by side.

    pip install --no-build-isolation -e .    # editable, compiled in place
    python setup.py build_ext --inplace      # incremental in-place rebuild
    pip install .                            # a wheel with the compiled extensions
"""
import glob
import os
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def extensions():
    exts = []
    for pyx in sorted(glob.glob(os.path.join("lowmem", "**", "*.pyx"), root_dir=HERE,
                                recursive=True)):
        module = os.path.splitext(pyx)[0].replace(os.sep, ".")
        exts.append(Extension(
            module,
            [pyx],
            include_dirs=[numpy.get_include()],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            extra_compile_args=["-O3"],
        ))
    return cythonize(
        exts,
        compiler_directives={"language_level": 3},
        include_path=[HERE],
        nthreads=0,
        build_dir=os.path.join(
            "build", f"cython-{sys.implementation.cache_tag}-numpy{numpy.__version__}"),
    )


setup(ext_modules=extensions(), zip_safe=False)
