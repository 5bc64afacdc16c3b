# cython: boundscheck=False, wraparound=False, initializedcheck=False
"""The one thunk loop of LowMemVM, compiled.

A :class:`StepProgram` runs a compiled Theano function's thunks in a given
order and, after each step, does what the memory model and the storage
plan say: it empties the storage cells whose variables die there, hands
dead arrays to the cells of the variables that reuse them (and to the
reserves kept between calls), and checks that each taking op wrote into
the array it was handed (lowmem.theano._sharing).

A C thunk (one with a ``cthunk`` capsule, as Theano's ``COp.make_c_thunk``
makes) is called through its C function pointer, as Theano's own C VM
(``lazylinker_c.c``) does, so a step costs a C call and no Python frame.
Other thunks are called as Python objects. Because C thunks are called
directly, their Python wrapper, which also marks the node's outputs
computed in ``compute_map``, does not run: :func:`mark_computed` marks
every variable once instead (a non-lazy loop never reads those flags
except in lazy ops such as ``ifelse``, which must find their inputs
computed).

Why our own loop rather than Theano's C VM with the order imposed as
extra prerequisites (each node depending on the one before it): measured
on the 16 zoo functions (2026-12-02), that route does follow the order,
matches the model and runs at the C VM's speed, but (1) the C VM can only
empty cells, not hand arrays from one cell to another, so storage sharing
would be lost; (2) it evaluates prerequisites by recursion in C, so a
chain over the order recurses as deep as the graph is long: with the
default 8 MiB stack, calls crashed (SIGSEGV) on graphs of 60,000 nodes and
ran at 40,000; (3) it keeps outputs nobody reads until the call ends.

Validation happens once, in :class:`StepProgram`'s constructor (cells
must be one-element lists, slots in range); the loop then only touches
what it was given. Everything the loop refers to by raw pointer is also
held in Python lists of the program, so it stays alive.
"""

from cpython.ref cimport PyObject
from cpython.mem cimport PyMem_Calloc, PyMem_Free
from libc.stdint cimport int64_t
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

import numpy as np

cdef extern from "Python.h":
    void* PyCapsule_GetPointer(object capsule, const char* name)
    void* PyCapsule_GetContext(object capsule)
    bint PyCapsule_CheckExact(object o)
    void PyErr_Restore(PyObject* type, PyObject* value, PyObject* traceback)
    void PyErr_Clear()
    PyObject* PyList_GetItem(object lst, Py_ssize_t index) except NULL
    int PyList_SetItem(object lst, Py_ssize_t index, object item) except -1
    PyObject* PyObject_CallNoArgs(object callable) except NULL
    Py_ssize_t Py_REFCNT(PyObject* o)
    void* Py_TYPE(PyObject* o)
    void Py_IncRef(PyObject* o)
    void Py_DecRef(PyObject* o)

ctypedef int (*cthunk_fn)(void*)

cdef void* NDARRAY = <void*>np.ndarray


def mark_computed(compute_map):
    """Mark every variable of `compute_map` computed (see the module
    docstring): the program calls C thunks without their Python wrapper."""
    for flag in compute_map.values():
        flag[0] = True


def _cell(x, what):
    if type(x) is not list or len(x) != 1:
        raise TypeError(f"StepProgram: {what} must be a one-element list (a Theano "
                        f"storage cell), got {type(x).__name__}")
    return x


def _slot(s, slots, what):
    if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < slots:
        raise ValueError(f"StepProgram: {what} slot {s!r} is not in [0, {slots})")
    return s


cdef inline int _empty(PyObject* cell) except -1:
    Py_IncRef(<PyObject*>None)     # PyList_SetItem steals a reference to the item
    return PyList_SetItem(<object>cell, 0, None)


cdef inline int _put(PyObject* cell, PyObject* value) except -1:
    # Store `value` in the cell, passing on a reference the caller owns:
    # PyList_SetItem steals it (Cython's temporary for the argument adds
    # one reference and drops it again).
    return PyList_SetItem(<object>cell, 0, <object>value)


cdef inline double _now() noexcept nogil:
    cdef timespec t
    clock_gettime(CLOCK_MONOTONIC, &t)
    return t.tv_sec + 1e-9 * t.tv_nsec


cdef class StepProgram:
    """Thunks in order, with what to do with storage cells after each.

    thunks : list of n callables (Theano thunks; those with a ``cthunk``
        capsule are called through it)
    clears : n lists of cells to empty after the step
    hands  : n lists of (giver cell, taker cell or None, slot): after the
        step, the giver's array moves to the taker when nothing else
        refers to it (else it is freed); it is remembered in `slot`
    checks : n lists of (cell, slot, known): after the step, the array in
        `slot` must be the cell's value (the op wrote into it); a check
        whose op is not `known` to do so reports it in `new` when it did
    opening : (giver, taker, slot) hand-offs made when a call starts
    slots  : number of hand-off slots

    After :meth:`run`: `handed` (arrays checked), `taken` (of those, the
    ones the taking op wrote into), `new` and `failed` (indices of the
    checks, counted in step order, whose op newly took its array / did
    not), `position` (the step that raised, on an exception).
    O(n + cells) to build; a run costs the thunks plus O(1) per cell
    action.
    """
    cdef Py_ssize_t n
    cdef cthunk_fn* fn
    cdef void** data
    cdef PyObject** py
    cdef Py_ssize_t* clear_at
    cdef PyObject** clear_cells
    cdef Py_ssize_t* hand_at
    cdef PyObject** hand_give
    cdef PyObject** hand_take
    cdef Py_ssize_t* hand_slot
    cdef Py_ssize_t* check_at
    cdef PyObject** check_cell
    cdef Py_ssize_t* check_slot
    cdef char* check_known
    cdef Py_ssize_t n_open
    cdef PyObject** open_give
    cdef PyObject** open_take
    cdef Py_ssize_t* open_slot
    cdef Py_ssize_t slots
    cdef PyObject** handed_arrays
    cdef double* seconds
    cdef list _keep               # everything pointed to above
    cdef readonly Py_ssize_t position, handed, taken
    cdef readonly list new, failed

    def __cinit__(self):
        self.n = 0

    def __init__(self, thunks, clears, hands=None, checks=None, opening=(), slots=0):
        thunks = list(thunks)
        cdef Py_ssize_t n = len(thunks), i, k
        if hands is None:
            hands = [()] * n
        if checks is None:
            checks = [()] * n
        clears, hands, checks, opening = list(clears), list(hands), list(checks), list(opening)
        if not len(clears) == len(hands) == len(checks) == n:
            raise ValueError(f"StepProgram: {n} thunks, {len(clears)} clear lists, "
                             f"{len(hands)} hand-off lists and {len(checks)} check lists")
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 0:
            raise ValueError(f"StepProgram: slots must be an int >= 0, got {slots!r}")
        keep = [thunks]
        clear_flat = [_cell(c, "a cleared cell") for cs in clears for c in cs]
        hand_flat = [(_cell(g, "a giving cell"),
                      None if t is None else _cell(t, "a taking cell"),
                      _slot(s, slots, "a hand-off"))
                     for hs in hands for g, t, s in hs]
        check_flat = [(_cell(c, "a checked cell"), _slot(s, slots, "a check"), bool(known))
                      for cs in checks for c, s, known in cs]
        open_flat = [(_cell(g, "a giving cell"),
                      None if t is None else _cell(t, "a taking cell"),
                      _slot(s, slots, "an opening hand-off"))
                     for g, t, s in opening]
        keep += [clear_flat, hand_flat, check_flat, open_flat]
        self._allocate(n, len(clear_flat), len(hand_flat), len(check_flat),
                       len(open_flat), slots)
        for i, thunk in enumerate(thunks):
            if not callable(thunk):
                raise TypeError(f"StepProgram: thunk {i} is not callable")
            capsule = getattr(thunk, "cthunk", None)
            if capsule is not None and PyCapsule_CheckExact(capsule):
                self.fn[i] = <cthunk_fn>PyCapsule_GetPointer(capsule, NULL)
                self.data[i] = PyCapsule_GetContext(capsule)
                if self.fn[i] == NULL or self.data[i] == NULL:
                    PyErr_Clear()
                    self.fn[i] = NULL
                else:
                    keep.append(capsule)
            self.py[i] = <PyObject*>thunk
        self._offsets(self.clear_at, [len(c) for c in clears])
        self._offsets(self.hand_at, [len(h) for h in hands])
        self._offsets(self.check_at, [len(c) for c in checks])
        for k, c in enumerate(clear_flat):
            self.clear_cells[k] = <PyObject*>c
        for k, (g, t, s) in enumerate(hand_flat):
            self.hand_give[k] = <PyObject*>g
            self.hand_take[k] = NULL if t is None else <PyObject*>t
            self.hand_slot[k] = s
        for k, (c, s, known) in enumerate(check_flat):
            self.check_cell[k] = <PyObject*>c
            self.check_slot[k] = s
            self.check_known[k] = known
        for k, (g, t, s) in enumerate(open_flat):
            self.open_give[k] = <PyObject*>g
            self.open_take[k] = NULL if t is None else <PyObject*>t
            self.open_slot[k] = s
        self._keep = keep
        self.position = -1
        self.handed = self.taken = 0
        self.new, self.failed = [], []

    cdef _allocate(self, Py_ssize_t n, Py_ssize_t n_clear, Py_ssize_t n_hand,
                   Py_ssize_t n_check, Py_ssize_t n_open, Py_ssize_t slots):
        # +1: PyMem_Calloc(0) may return NULL
        self.fn = <cthunk_fn*>PyMem_Calloc(n + 1, sizeof(cthunk_fn))
        self.data = <void**>PyMem_Calloc(n + 1, sizeof(void*))
        self.py = <PyObject**>PyMem_Calloc(n + 1, sizeof(PyObject*))
        self.seconds = <double*>PyMem_Calloc(n + 1, sizeof(double))
        self.clear_at = <Py_ssize_t*>PyMem_Calloc(n + 1, sizeof(Py_ssize_t))
        self.hand_at = <Py_ssize_t*>PyMem_Calloc(n + 1, sizeof(Py_ssize_t))
        self.check_at = <Py_ssize_t*>PyMem_Calloc(n + 1, sizeof(Py_ssize_t))
        self.clear_cells = <PyObject**>PyMem_Calloc(n_clear + 1, sizeof(PyObject*))
        self.hand_give = <PyObject**>PyMem_Calloc(n_hand + 1, sizeof(PyObject*))
        self.hand_take = <PyObject**>PyMem_Calloc(n_hand + 1, sizeof(PyObject*))
        self.hand_slot = <Py_ssize_t*>PyMem_Calloc(n_hand + 1, sizeof(Py_ssize_t))
        self.check_cell = <PyObject**>PyMem_Calloc(n_check + 1, sizeof(PyObject*))
        self.check_slot = <Py_ssize_t*>PyMem_Calloc(n_check + 1, sizeof(Py_ssize_t))
        self.check_known = <char*>PyMem_Calloc(n_check + 1, sizeof(char))
        self.open_give = <PyObject**>PyMem_Calloc(n_open + 1, sizeof(PyObject*))
        self.open_take = <PyObject**>PyMem_Calloc(n_open + 1, sizeof(PyObject*))
        self.open_slot = <Py_ssize_t*>PyMem_Calloc(n_open + 1, sizeof(Py_ssize_t))
        self.handed_arrays = <PyObject**>PyMem_Calloc(slots + 1, sizeof(PyObject*))
        if (self.fn == NULL or self.data == NULL or self.py == NULL or self.seconds == NULL
                or self.clear_at == NULL or self.hand_at == NULL or self.check_at == NULL
                or self.clear_cells == NULL or self.hand_give == NULL
                or self.hand_take == NULL or self.hand_slot == NULL
                or self.check_cell == NULL or self.check_slot == NULL
                or self.check_known == NULL or self.open_give == NULL
                or self.open_take == NULL or self.open_slot == NULL
                or self.handed_arrays == NULL):
            raise MemoryError("StepProgram: out of memory")
        self.n, self.n_open, self.slots = n, n_open, slots

    cdef _offsets(self, Py_ssize_t* at, list counts):
        cdef Py_ssize_t i, total = 0
        for i in range(self.n):
            at[i] = total
            total += counts[i]
        at[self.n] = total

    def __dealloc__(self):
        cdef Py_ssize_t k
        if self.handed_arrays != NULL:
            for k in range(self.slots):
                Py_DecRef(self.handed_arrays[k])
        PyMem_Free(self.fn); PyMem_Free(self.data); PyMem_Free(self.py)
        PyMem_Free(self.seconds); PyMem_Free(self.clear_at); PyMem_Free(self.hand_at)
        PyMem_Free(self.check_at); PyMem_Free(self.clear_cells); PyMem_Free(self.hand_give)
        PyMem_Free(self.hand_take); PyMem_Free(self.hand_slot); PyMem_Free(self.check_cell)
        PyMem_Free(self.check_slot); PyMem_Free(self.check_known); PyMem_Free(self.open_give)
        PyMem_Free(self.open_take); PyMem_Free(self.open_slot)
        PyMem_Free(self.handed_arrays)

    @property
    def steps(self):
        return self.n

    @property
    def c_steps(self):
        """How many steps call a C thunk directly."""
        return sum(1 for i in range(self.n) if self.fn[i] != NULL)

    def run(self, bint timed=False):
        """One call: every step in order. With `timed`, each step's
        seconds are added to :meth:`step_seconds`. An exception from a
        thunk propagates, with `position` set to its step; arrays held for
        hand-offs are released either way."""
        self.position = -1
        self.handed = self.taken = 0
        self.new, self.failed = [], []
        try:
            self._hand(self.open_give, self.open_take, self.open_slot, 0, self.n_open)
            self._steps(timed)
        finally:
            self._release()

    def step_seconds(self):
        """Seconds per step summed over the timed runs since the last call
        of this method, which resets them."""
        out = [self.seconds[i] for i in range(self.n)]
        for i in range(self.n):
            self.seconds[i] = 0.0
        return out

    cdef int _steps(self, bint timed) except -1:
        cdef Py_ssize_t i, k
        cdef double t0 = 0.0
        cdef PyObject* r
        for i in range(self.n):
            self.position = i
            if timed:
                t0 = _now()
            if self.fn[i] != NULL:
                if self.fn[i](self.data[i]) != 0:
                    self._raise_c_error(i)
                    return -1
            else:
                r = PyObject_CallNoArgs(<object>self.py[i])
                Py_DecRef(r)    # a non-lazy thunk's result means nothing
            if timed:
                self.seconds[i] += _now() - t0
            for k in range(self.check_at[i], self.check_at[i + 1]):
                self._check(k)
            for k in range(self.clear_at[i], self.clear_at[i + 1]):
                _empty(self.clear_cells[k])
            if self.hand_at[i] < self.hand_at[i + 1]:
                self._hand(self.hand_give, self.hand_take, self.hand_slot,
                           self.hand_at[i], self.hand_at[i + 1])
        self.position = -1
        return 0

    cdef int _raise_c_error(self, Py_ssize_t i) except -1:
        # As lazylinker_c.c's c_call: a failed C thunk leaves its exception
        # (type, value, traceback) in the list its data struct starts with.
        cdef PyObject* err = (<PyObject**>self.data[i])[0]
        if err == NULL or type(<object>err) is not list or len(<object>err) != 3:
            raise RuntimeError("a C thunk failed without recording its error")
        error = <object>err
        exc_type, exc_value, exc_trace = error[0], error[1], error[2]
        error[0] = error[1] = error[2] = None
        if exc_type is None:
            raise RuntimeError("a C thunk failed without recording its error")
        cdef PyObject* value = NULL
        cdef PyObject* trace = NULL
        if exc_value is not None:
            value = <PyObject*>exc_value
        if exc_trace is not None:
            trace = <PyObject*>exc_trace
        Py_IncRef(<PyObject*>exc_type)      # PyErr_Restore steals these
        Py_IncRef(value)
        Py_IncRef(trace)
        PyErr_Restore(<PyObject*>exc_type, value, trace)
        return -1

    cdef int _hand(self, PyObject** give, PyObject** take, Py_ssize_t* slot,
                   Py_ssize_t start, Py_ssize_t stop) except -1:
        """Move each giver's array to its taker when the giving cell is its
        only reference (so no view or cached result can be overwritten)."""
        cdef Py_ssize_t k
        cdef PyObject* value
        cdef bint movable
        for k in range(start, stop):
            value = PyList_GetItem(<object>give[k], 0)
            movable = (take[k] != NULL and Py_TYPE(value) == NDARRAY
                       and Py_REFCNT(value) == 1)
            Py_IncRef(value)            # held across emptying the giver
            _empty(give[k])
            if movable:
                Py_DecRef(self.handed_arrays[slot[k]])      # (NULL-safe)
                Py_IncRef(value)
                self.handed_arrays[slot[k]] = value
                _put(take[k], value)    # hands over the held reference
            else:
                Py_DecRef(value)
        return 0

    cdef int _check(self, Py_ssize_t k) except -1:
        cdef Py_ssize_t s = self.check_slot[k]
        cdef PyObject* value = self.handed_arrays[s]
        if value == NULL:
            return 0
        self.handed_arrays[s] = NULL
        self.handed += 1
        if PyList_GetItem(<object>self.check_cell[k], 0) == value:
            self.taken += 1
            if not self.check_known[k]:
                self.new.append(k)
        else:
            self.failed.append(k)
        Py_DecRef(value)
        return 0

    cdef _release(self):
        cdef Py_ssize_t k
        cdef PyObject* value
        for k in range(self.slots):
            value = self.handed_arrays[k]
            self.handed_arrays[k] = NULL
            Py_DecRef(value)
