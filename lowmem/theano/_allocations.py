"""Count NumPy array-data allocations, cheaply and exactly (NEP 49 handler).

A cheaper alternative to tracemalloc for the question "how many NumPy
allocations does this call make, and how many bytes of array data are live
now / at peak": tracemalloc traces every Python object and slows calls by 2x
or more; this hooks only NumPy's array-data allocator.

    from lowmem.theano import AllocationCounter, count_allocations

    with AllocationCounter() as c:
        f(*args)                      # e.g. a compiled Theano function
        c.peak, c.current             # readable inside the block
        c.reset_peak()
    c.allocations, c.frees, c.bytes_allocated, c.peak, c.snapshot()

    result, counts = count_allocations(f, *args)

How it works
------------
On enter, a NEP-49 ``PyDataMem_Handler`` (NumPy >= 1.22) is installed that
wraps the handler current at that moment: every malloc/calloc/realloc/free is
forwarded unchanged to the wrapped handler (with its ctx) and counted on the
way. On exit the previous handler is put back. NumPy keeps a reference to the
allocating handler in every array and frees the array through it, so

* arrays allocated inside the block and freed after it are freed through the
  counting handler, which forwards to the allocator that really allocated
  them (the handler lives as long as any such array does);
* arrays allocated before the block are freed through their own handler and
  are not seen at all: they cannot make ``current`` negative.

What is counted
---------------
``allocations``      successful malloc, calloc and realloc(NULL) calls
``bytes_allocated``  the bytes they requested
``reallocs``         successful reallocs of an existing block (ndarray.resize,
                     np.fromiter, ...); their growth is in current/peak, not
                     in bytes_allocated
``frees``, ``bytes_freed``
                     frees of blocks allocated while counting (with the size
                     recorded at allocation)
``current``          bytes of blocks allocated while counting and still live:
                     +size on allocation, new - old on realloc, -size on free.
                     Sizes are recorded per block (NEP 49's realloc does not
                     pass the old size, and free passes the array's current
                     nbytes, which need not be what was allocated), and only
                     recorded blocks are subtracted, so current never goes
                     negative.
``peak``             the maximum of current since enter or reset_peak()
``failures``         allocations/reallocs that returned NULL (MemoryError)
``untracked``        blocks whose size could not be recorded (the size table
                     could not grow: out of memory); normally 0

Every array whose data NumPy allocates counts, including the 0-d temporaries
NumPy 1.23 makes for Python scalars in ufunc calls: ``b + 1`` (b a float64
array) makes two 8-byte allocations besides the result, ``b += 1`` two and
no other; ``b + b`` and ``b += b`` make exactly one and zero. Views, and
arrays wrapping memory NumPy did not allocate, do not count.

After exit the counts are frozen at their values at exit (so ``current`` is
what the block allocated and left alive); ``snapshot()`` and the properties
read live values inside the block.

Scope: threads and contexts
---------------------------
NumPy keeps the current handler in a context variable, so counting covers
allocations made in the current thread (and asyncio task / contextvars
context) only. Other threads, which start with the default context, are not
counted, except for frees of arrays allocated here, which always are, and
code run in a copy of this context (``contextvars.copy_context().run``),
which is. The bookkeeping is thread safe (a mutex per counter; NumPy may
call the handler with the GIL released), and the forwarded calls run outside
that mutex.

Counters nest: an inner counter wraps the outer one's handler, so both count
what happens inside the inner block. Exits must be properly nested (LIFO);
if the handler current at exit is not this counter's (someone installed a
handler inside the block and did not restore it), the previous handler is
restored anyway and a RuntimeWarning is issued.

Cost: one uncontended mutex and a hash-table insert/remove per allocation and
free, on top of NumPy's own allocator (see the module's tests and the report
for measurements).
"""

import warnings

from . import _numpy_alloc

__all__ = ["AllocationCounter", "count_allocations", "COUNT_FIELDS"]

#: The keys of a snapshot, in order.
COUNT_FIELDS = tuple(_numpy_alloc.FIELDS)


class AllocationCounter:
    """Context manager counting NumPy array-data allocations (see the module doc).

    Single use: entering a counter twice raises RuntimeError; make a new one.
    """

    def __init__(self):
        self._counter = None
        self._final = None

    # --- context manager -------------------------------------------------
    def __enter__(self):
        if self._counter is not None:
            raise RuntimeError("an AllocationCounter can only be entered once")
        counter = _numpy_alloc.Counter()
        counter.start()
        self._counter = counter
        return self

    def __exit__(self, exc_type, exc, tb):
        was_current = self._counter.stop()
        self._final = self._counter.snapshot()
        if was_current is False:
            warnings.warn(
                "AllocationCounter: another NumPy memory handler was installed "
                "inside the block and not restored; restoring the handler that "
                "was current on entry", RuntimeWarning, stacklevel=2)
        return False

    # --- reading ---------------------------------------------------------
    @property
    def active(self):
        """True inside the with block."""
        return self._counter is not None and self._counter.active

    def snapshot(self):
        """All counts as a dict (keys COUNT_FIELDS): live inside the block,
        frozen at exit after it, zero before it."""
        if self._final is not None:
            return dict(self._final)
        if self._counter is None:
            return dict.fromkeys(COUNT_FIELDS, 0)
        return self._counter.snapshot()

    def reset_peak(self):
        """Set peak to current (inside the block only)."""
        if not self.active:
            raise RuntimeError("reset_peak() is only valid inside the with block")
        self._counter.reset_peak()

    # --- the counts, as properties (each reads one snapshot) -------------
    @property
    def allocations(self):
        """Successful malloc, calloc and realloc(NULL) calls."""
        return self.snapshot()["allocations"]

    @property
    def frees(self):
        """Frees of blocks allocated while counting."""
        return self.snapshot()["frees"]

    @property
    def reallocs(self):
        """Successful reallocs of an existing block."""
        return self.snapshot()["reallocs"]

    @property
    def bytes_allocated(self):
        """Bytes requested by `allocations`."""
        return self.snapshot()["bytes_allocated"]

    @property
    def bytes_freed(self):
        """Bytes of the blocks counted in `frees`."""
        return self.snapshot()["bytes_freed"]

    @property
    def current(self):
        """Bytes allocated while counting and still live."""
        return self.snapshot()["current"]

    @property
    def peak(self):
        """Maximum of `current` since entry or reset_peak()."""
        return self.snapshot()["peak"]

    @property
    def failures(self):
        """Allocations and reallocs that failed (returned NULL)."""
        return self.snapshot()["failures"]

    @property
    def untracked(self):
        """Blocks whose size could not be recorded (normally 0)."""
        return self.snapshot()["untracked"]

    def __repr__(self):
        s = self.snapshot()
        state = "active" if self.active else ("done" if self._final is not None else "new")
        return ("<AllocationCounter %s allocations=%d frees=%d bytes_allocated=%d "
                "current=%d peak=%d>" % (state, s["allocations"], s["frees"],
                                          s["bytes_allocated"], s["current"], s["peak"]))


def count_allocations(fn, *args, **kwargs):
    """Call fn(*args, **kwargs) inside an AllocationCounter.

    Returns (result, counts) with counts the snapshot dict at exit; the
    result is still alive then, so counts["current"] includes it.
    """
    with AllocationCounter() as counter:
        result = fn(*args, **kwargs)
    return result, counter.snapshot()
