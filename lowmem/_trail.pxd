# cython: language_level=3
"""An undo trail of (kind, index, old value) triples, shared by the
searches of _arena.pyx and _canonical.pyx: a search pushes what it changes
and pops back to a mark to undo (each module interprets its own kinds)."""

from libc.stdint cimport int64_t
from libc.stdlib cimport realloc


cdef inline int trail_push(int64_t** trail, Py_ssize_t* length, Py_ssize_t* capacity,
                           int64_t kind, int64_t idx, int64_t old) noexcept nogil:
    """Append a triple, doubling the buffer when full; -1 if that fails
    (the trail is then unchanged and still valid)."""
    cdef int64_t* grown
    if length[0] + 3 > capacity[0]:
        grown = <int64_t*>realloc(trail[0], 2 * capacity[0] * sizeof(int64_t))
        if grown == NULL:
            return -1
        trail[0] = grown
        capacity[0] *= 2
    trail[0][length[0]] = kind
    trail[0][length[0] + 1] = idx
    trail[0][length[0] + 2] = old
    length[0] += 3
    return 0


cdef inline void trail_pop(const int64_t* trail, Py_ssize_t* length, int64_t* kind,
                           int64_t* idx, int64_t* old) noexcept nogil:
    """Remove the last triple into kind, idx, old (length must be >= 3)."""
    length[0] -= 3
    kind[0] = trail[length[0]]
    idx[0] = trail[length[0] + 1]
    old[0] = trail[length[0] + 2]
