"""Build the Cython extensions of lowmem.

Every ``lowmem/**/*.pyx`` becomes the extension named by its path; a new .pyx file
is picked up without editing this file. Metadata lives in pyproject.toml.
Bounds checking and wraparound are left to directives in each .pyx file.

LOWMEM_SKIP_EXT=1 registers the package without compiling anything (the
Makefile's `venv` step uses it for the editable install, so that installing the
dependencies and the console script does not depend on the .pyx files
compiling; `make build` then runs `setup.py build_ext --inplace`).
LOWMEM_ONLY_EXT=_storage,_search builds only those (for work on one module
while another is mid-edit).
"""
import glob
import os

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def extensions():
    if os.environ.get("LOWMEM_SKIP_EXT"):
        return []
    import numpy
    from Cython.Build import cythonize

    only = [s for s in os.environ.get("LOWMEM_ONLY_EXT", "").split(",") if s]
    exts = []
    for pyx in sorted(glob.glob(os.path.join("lowmem", "**", "*.pyx"), root_dir=HERE,
                                recursive=True)):
        module = os.path.splitext(pyx)[0].replace(os.sep, ".")
        stem = module.rsplit(".", 1)[1]
        if only and stem not in only:
            continue
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
    )


setup(ext_modules=extensions(), zip_safe=False)
