"""PyTensor's Numba linker, compiled so that values die at their last use.

PyTensor's Numba backend turns the graph into one Python function, a
statement per node in the schedule's order, and Numba places each
variable's release (an NRT decref) right after its last use. Numba's
reference-count pruning pass (an LLVM pass, on by default) then rewrites
the inlined function and can sink those releases past the next statement's
call: traced with ``strace -e mmap,munmap`` on a dot, reduce, dot, reduce
chain, the first product is unmapped only after the second product is
mapped, and on zoo:mlp_train every release of a dead 1 MiB activation comes
after the next allocating statement. How far a release moves depends on
what LLVM inlined, so no fixed lag models it (transformer and inception
training steps measured at the unlagged model, the chains one statement
late).

With the pass off, Numba falls back to its older pruning, which only pairs
an increment with a decrement inside one basic block and leaves each
release before the next statement's call: the same traces then free every
value right after its last reader, as lowmem's model has it (release lag 0),
and measured peaks match the model. So this linker compiles the generated
function with the pass off (_ExactReleaseCompiler: every compilation of the
function, for any argument types, runs with it off, under Numba's compiler
lock), and stores it in PyTensor's Numba cache under its own key
(_CACHE_SALT), so that the cache never hands it code compiled with the
pass, nor hands PyTensor's default mode code compiled without it.
"""

import functools

from pytensor.link.numba.linker import NumbaLinker

# Part of every cache key of a function compiled here: change it when the
# compiled code changes.
_CACHE_SALT = "_lowmem_exact_release_1"


@functools.cache
def _compiler_class():
    """A Numba compiler pipeline compiling with reference-count pruning off
    (built on first use: Numba is imported lazily, as PyTensor does)."""
    from numba.core import config
    from numba.core.compiler import Compiler

    class ExactReleaseCompiler(Compiler):
        """Numba's default pipeline, its LLVM reference-count pruning pass
        off for the whole compilation (nested compilations of the functions
        it calls included). Numba compiles under its global compiler lock,
        so no other compilation sees the setting."""

        def _compile_core(self):
            saved = config.LLVM_REFPRUNE_PASS
            config.LLVM_REFPRUNE_PASS = 0
            try:
                return super()._compile_core()
            finally:
                config.LLVM_REFPRUNE_PASS = saved

    return ExactReleaseCompiler


class _ExactReleaseNumbaLinker(NumbaLinker):
    """NumbaLinker whose compiled function releases each value right after
    its last reader (module docstring)."""

    def jit_compile(self, fn_and_cache):
        from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS
        from pytensor.link.numba.dispatch.basic import numba_njit

        fn, cache_key = fn_and_cache
        key = CACHED_SRC_FUNCTIONS.get(fn.py_func) if cache_key is not None else None
        if key is not None:
            CACHED_SRC_FUNCTIONS[fn.py_func] = key + _CACHE_SALT
        return numba_njit(fn.py_func, final_function=True, cache=key is not None,
                          pipeline_class=_compiler_class())
