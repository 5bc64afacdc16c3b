"""Measure the memory a PyTensor function's call really uses.

Numba's generated function allocates its arrays with Numba's runtime (NRT),
through the C library's malloc, out of tracemalloc's and NumPy's sight; so
the measure is the process's resident set: its high-water mark during the
call (/proc/self/status VmHWM, reset by writing 5 to /proc/self/clear_refs)
less the resident set just before. For that to follow the live bytes,
freed arrays must go back to the system at once: the first measurement
fixes glibc's mmap threshold (mallopt M_MMAP_THRESHOLD, which also stops
its dynamic growth) and trim threshold at 64 KiB, so every array of 64 KiB
or more is its own mapping, unmapped when freed, and memory malloc still
holds is trimmed before each call. Smaller allocations and page rounding
make the measure a few KiB coarse. Linux with glibc only.

What it shows (tests_pytensor/test_measure.py): PyTensor's Python loop VM
frees a value right after its last reader, as lowmem's model has it; so
does the code LowMemMode's Numba linker compiles (_exact_release.py), while
PyTensor's default Numba code may free it only after the next statement's
allocation (Numba's reference-count pruning pass moves the release).
"""

import ctypes
import ctypes.util
import gc

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 * 1024
_libc = None              # the C library, once its thresholds are fixed


class MeasureError(RuntimeError):
    """This platform cannot measure a call (no /proc/self, no glibc)."""


def _fix_malloc():
    """The C library, with malloc's thresholds fixed (once per process)."""
    global _libc
    if _libc is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c"))
            ok = (libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                  and libc.mallopt(_M_TRIM_THRESHOLD, MMAP_THRESHOLD))
        except (OSError, AttributeError) as e:
            raise MeasureError(f"cannot set the C library's malloc thresholds: {e}") from None
        if not ok:
            raise MeasureError("the C library refused mallopt(M_MMAP_THRESHOLD)")
        _libc = libc
    return _libc


def _status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    raise MeasureError(f"/proc/self/status has no {key}")


def measure_call(f, *args, **kwargs):
    """Call f(*args, **kwargs); return (bytes, result): the most resident
    memory above what was resident just before the call, at any time
    during it. The inputs are resident before the call and so not counted;
    outputs and every intermediate are."""
    libc = _fix_malloc()
    gc.collect()
    # Freed memory that malloc still holds (from before the thresholds were
    # fixed) would be reused without raising the resident set: give it back.
    libc.malloc_trim(0)
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError as e:
        raise MeasureError(f"cannot reset the resident-set high-water mark: {e}") from None
    before = _status("VmRSS:")
    result = f(*args, **kwargs)
    peak = _status("VmHWM:")
    return max(0, peak - before), result
