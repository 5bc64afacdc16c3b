# cython: language_level=3, boundscheck=False, wraparound=False
"""Counting NumPy array-data allocations through NEP 49 (private; see allocations.py).

A ``Counter`` installs a ``PyDataMem_Handler`` (NumPy >= 1.22) that wraps the
handler current when it starts: every malloc/calloc/realloc/free is forwarded
unchanged, with the wrapped handler's ctx, to the wrapped handler's functions,
and counted on the way.

Why it is safe to stop counting at any time
-------------------------------------------
NumPy stores a new reference to the handler capsule that allocated an array in
the array (``PyArrayObject_fields.mem_handler``, set by
``PyArray_NewFromDescr_int``, ``ndarray.__setstate__``) and frees, reallocates
(``ndarray.resize``, ``fromiter``/``fromfile``) and releases that reference
through it, never through the handler current at free time. So:

* an array allocated while counting is freed through this handler even after
  the counter was removed, and this handler forwards to the allocator that
  really allocated it;
* an array allocated before counting is freed through its own (older)
  handler and never reaches this one.

The handler struct, its ctx (the ``lm_state`` below) and the reference to the
wrapped handler's capsule live in one block owned by our capsule; the capsule's
destructor frees it when the last reference goes: the ``Counter``, the context
variable while installed, and every array allocated through it. Forwarding
keeps the wrapped capsule alive the same way, by a strong reference.

Sizes
-----
NEP 49's realloc does not pass the old size and the size passed to free is
the array's *current* ``nbytes`` (which can differ from what was allocated,
e.g. a 0-byte array is allocated 1 byte). The handler therefore keeps the
size of each block it allocated in a small hash table keyed by pointer. A free
or realloc of a pointer not in the table (impossible given the above, but
cheap to guard against) is forwarded and leaves ``current`` unchanged, so
``current`` can never go negative or drift.

Threads
-------
NumPy may call the handler with the GIL released, arrays can be freed in any
thread, and a copied context (``contextvars.copy_context``) can carry the
handler into another thread. All bookkeeping (table and counters) is done
under one mutex per counter; the forwarded call runs outside it. Counters
are therefore consistent with one another in a snapshot, and no atomics are
needed on top of the mutex. The handler functions never take the GIL.
"""

from cpython.ref cimport PyObject

cimport numpy as cnp

cnp.import_array()


cdef extern from "numpy/arrayobject.h":
    # What Cython's numpy/__init__.pxd lacks (NumPy >= 1.22, NEP 49).
    ctypedef struct PyDataMemAllocator:
        void *ctx
    ctypedef struct PyDataMem_Handler:
        char name[127]
        unsigned char version
        PyDataMemAllocator allocator
    object PyDataMem_GetHandler()
    object PyDataMem_SetHandler(object handler)


cdef extern from *:
    """
    #include <stdint.h>
    #include <stdlib.h>
    #include <string.h>

    #ifdef _WIN32
    #include <windows.h>
    typedef SRWLOCK lm_lock_t;
    static int lm_lock_init(lm_lock_t *l) { InitializeSRWLock(l); return 0; }
    #define lm_lock(l) AcquireSRWLockExclusive(l)
    #define lm_unlock(l) ReleaseSRWLockExclusive(l)
    #define lm_lock_destroy(l) ((void)0)
    #else
    #include <pthread.h>
    typedef pthread_mutex_t lm_lock_t;
    static int lm_lock_init(lm_lock_t *l) { return pthread_mutex_init(l, NULL); }
    #define lm_lock(l) pthread_mutex_lock(l)
    #define lm_unlock(l) pthread_mutex_unlock(l)
    #define lm_lock_destroy(l) pthread_mutex_destroy(l)
    #endif

    #define LM_CAPSULE_NAME "mem_handler"
    #define LM_INITIAL_SLOTS 1024  /* power of two */

    typedef struct { uintptr_t key; size_t size; } lm_slot;  /* key 0: empty */

    typedef struct {
        int64_t allocations;      /* malloc, calloc, realloc(NULL, n) that succeeded */
        int64_t frees;            /* frees of blocks this counter allocated */
        int64_t reallocs;         /* successful realloc of an existing block */
        int64_t failures;         /* allocations / reallocs that returned NULL */
        int64_t untracked;        /* blocks whose size could not be recorded */
        int64_t bytes_allocated;  /* sum of requested sizes of `allocations` */
        int64_t bytes_freed;      /* sum of recorded sizes of `frees` */
        int64_t current;          /* live bytes of blocks allocated here */
        int64_t peak;             /* max of current */
    } lm_counts;

    typedef struct {
        PyDataMem_Handler handler;   /* first member: the capsule points here */
        PyDataMemAllocator wrapped;  /* copy of the wrapped handler's allocator */
        PyObject *wrapped_capsule;   /* strong reference: keeps wrapped ctx alive */
        lm_lock_t lock;
        lm_slot *slots;
        size_t mask;                 /* number of slots - 1 */
        size_t used;
        lm_counts c;
    } lm_state;

    static inline size_t lm_hash(uintptr_t k) {
        uint64_t h = (uint64_t)k;
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        return (size_t)h;
    }

    /* All table functions: lock held. Linear probing, backward-shift delete. */
    static int lm_grow(lm_state *st) {
        size_t ncap = (st->mask + 1) * 2, i, j;
        lm_slot *ns;
        if (ncap < st->mask + 1) return -1;
        ns = (lm_slot *)calloc(ncap, sizeof(lm_slot));
        if (ns == NULL) return -1;
        for (i = 0; i <= st->mask; i++) {
            if (st->slots[i].key == 0) continue;
            j = lm_hash(st->slots[i].key) & (ncap - 1);
            while (ns[j].key != 0) j = (j + 1) & (ncap - 1);
            ns[j] = st->slots[i];
        }
        free(st->slots);
        st->slots = ns;
        st->mask = ncap - 1;
        return 0;
    }

    /* 0: inserted, 1: replaced a stale entry (its size in *old), -1: no room */
    static int lm_insert(lm_state *st, uintptr_t key, size_t size, size_t *old) {
        size_t i;
        if ((st->used + 1) * 2 > st->mask + 1) {
            /* Keep the load at most 1/2; if growing fails, use the table
               until one empty slot is left (probing needs it). */
            if (lm_grow(st) < 0 && st->used + 2 > st->mask + 1) return -1;
        }
        i = lm_hash(key) & st->mask;
        while (st->slots[i].key != 0) {
            if (st->slots[i].key == key) {
                *old = st->slots[i].size;
                st->slots[i].size = size;
                return 1;
            }
            i = (i + 1) & st->mask;
        }
        st->slots[i].key = key;
        st->slots[i].size = size;
        st->used++;
        return 0;
    }

    /* 1 and the size in *size if key was there (and is now removed), else 0 */
    static int lm_remove(lm_state *st, uintptr_t key, size_t *size) {
        size_t i = lm_hash(key) & st->mask, j, k;
        while (st->slots[i].key != key) {
            if (st->slots[i].key == 0) return 0;
            i = (i + 1) & st->mask;
        }
        *size = st->slots[i].size;
        j = i;
        for (;;) {
            j = (j + 1) & st->mask;
            if (st->slots[j].key == 0) break;
            k = lm_hash(st->slots[j].key) & st->mask;
            /* Move slot j into the hole at i unless its home k lies
               cyclically in (i, j]. */
            if ((i <= j) ? (i < k && k <= j) : (i < k || k <= j)) continue;
            st->slots[i] = st->slots[j];
            i = j;
        }
        st->slots[i].key = 0;
        st->slots[i].size = 0;
        st->used--;
        return 1;
    }

    /* lock held: a block of `size` bytes is live at p */
    static void lm_track(lm_state *st, void *p, size_t size) {
        size_t old = 0;
        int r = lm_insert(st, (uintptr_t)p, size, &old);
        if (r < 0) { st->c.untracked++; return; }
        if (r == 1) st->c.current -= (int64_t)old;  /* stale entry: cannot happen */
        st->c.current += (int64_t)size;
        if (st->c.current > st->c.peak) st->c.peak = st->c.current;
    }

    static void lm_note_new(lm_state *st, void *p, size_t size) {
        lm_lock(&st->lock);
        if (p == NULL) {
            st->c.failures++;
        } else {
            st->c.allocations++;
            st->c.bytes_allocated += (int64_t)size;
            lm_track(st, p, size);
        }
        lm_unlock(&st->lock);
    }

    static void *lm_malloc(void *ctx, size_t size) {
        lm_state *st = (lm_state *)ctx;
        void *p = st->wrapped.malloc(st->wrapped.ctx, size);
        lm_note_new(st, p, size);
        return p;
    }

    static void *lm_calloc(void *ctx, size_t nelem, size_t elsize) {
        lm_state *st = (lm_state *)ctx;
        void *p = st->wrapped.calloc(st->wrapped.ctx, nelem, elsize);
        size_t size = (elsize != 0 && nelem > SIZE_MAX / elsize)
                      ? SIZE_MAX : nelem * elsize;
        lm_note_new(st, p, size);
        return p;
    }

    static void *lm_realloc(void *ctx, void *ptr, size_t new_size) {
        lm_state *st = (lm_state *)ctx;
        size_t old = 0, dummy;
        int known;
        void *q;
        if (ptr == NULL) {
            q = st->wrapped.realloc(st->wrapped.ctx, NULL, new_size);
            lm_note_new(st, q, new_size);
            return q;
        }
        /* Take ptr out of the table before the real realloc: once realloc
           has moved the block, another thread may get the same address. */
        lm_lock(&st->lock);
        known = lm_remove(st, (uintptr_t)ptr, &old);
        lm_unlock(&st->lock);
        q = st->wrapped.realloc(st->wrapped.ctx, ptr, new_size);
        lm_lock(&st->lock);
        if (q == NULL) {
            /* Failed: the old block is still live and unchanged. */
            st->c.failures++;
            if (known && lm_insert(st, (uintptr_t)ptr, old, &dummy) < 0) {
                st->c.current -= (int64_t)old;
                st->c.untracked++;
            }
        } else {
            st->c.reallocs++;
            if (known) {
                st->c.current -= (int64_t)old;
                lm_track(st, q, new_size);
            } else {
                st->c.untracked++;
            }
        }
        lm_unlock(&st->lock);
        return q;
    }

    static void lm_free(void *ctx, void *ptr, size_t size) {
        lm_state *st = (lm_state *)ctx;
        size_t old;
        if (ptr != NULL) {
            /* Out of the table before the real free, for the same reason. */
            lm_lock(&st->lock);
            if (lm_remove(st, (uintptr_t)ptr, &old)) {
                st->c.frees++;
                st->c.bytes_freed += (int64_t)old;
                st->c.current -= (int64_t)old;
            }
            lm_unlock(&st->lock);
        }
        st->wrapped.free(st->wrapped.ctx, ptr, size);
    }

    static void lm_state_free(lm_state *st) {
        Py_XDECREF(st->wrapped_capsule);
        lm_lock_destroy(&st->lock);
        free(st->slots);
        free(st);
    }

    static void lm_capsule_destructor(PyObject *capsule) {
        lm_state *st = (lm_state *)PyCapsule_GetPointer(capsule, LM_CAPSULE_NAME);
        if (st == NULL) { PyErr_WriteUnraisable(capsule); return; }
        lm_state_free(st);
    }

    /* A new capsule holding a counting handler that wraps `wrapped` (a
       "mem_handler" capsule); NULL with an exception set on failure. */
    static PyObject *lm_capsule_new(PyObject *wrapped) {
        PyDataMem_Handler *w;
        lm_state *st;
        PyObject *capsule;
        w = (PyDataMem_Handler *)PyCapsule_GetPointer(wrapped, LM_CAPSULE_NAME);
        if (w == NULL) return NULL;
        st = (lm_state *)calloc(1, sizeof(lm_state));
        if (st == NULL) return PyErr_NoMemory();
        st->slots = (lm_slot *)calloc(LM_INITIAL_SLOTS, sizeof(lm_slot));
        if (st->slots == NULL || lm_lock_init(&st->lock) != 0) {
            free(st->slots);
            free(st);
            return PyErr_NoMemory();
        }
        st->mask = LM_INITIAL_SLOTS - 1;
        snprintf(st->handler.name, sizeof(st->handler.name),
                 "lowmem_counting(%.100s)", w->name);
        st->handler.version = 1;
        st->handler.allocator.ctx = st;
        st->handler.allocator.malloc = lm_malloc;
        st->handler.allocator.calloc = lm_calloc;
        st->handler.allocator.realloc = lm_realloc;
        st->handler.allocator.free = lm_free;
        st->wrapped = w->allocator;
        Py_INCREF(wrapped);
        st->wrapped_capsule = wrapped;
        capsule = PyCapsule_New(&st->handler, LM_CAPSULE_NAME, lm_capsule_destructor);
        if (capsule == NULL) lm_state_free(st);
        return capsule;
    }

    static lm_state *lm_state_of(PyObject *capsule) {
        return (lm_state *)PyCapsule_GetPointer(capsule, LM_CAPSULE_NAME);
    }

    static void lm_read(lm_state *st, lm_counts *out) {
        lm_lock(&st->lock);
        *out = st->c;
        lm_unlock(&st->lock);
    }

    static void lm_reset_peak(lm_state *st) {
        lm_lock(&st->lock);
        st->c.peak = st->c.current;
        lm_unlock(&st->lock);
    }

    static Py_ssize_t lm_tracked_blocks(lm_state *st) {
        size_t n;
        lm_lock(&st->lock);
        n = st->used;
        lm_unlock(&st->lock);
        return (Py_ssize_t)n;
    }
    """
    ctypedef struct lm_counts:
        long long allocations
        long long frees
        long long reallocs
        long long failures
        long long untracked
        long long bytes_allocated
        long long bytes_freed
        long long current
        long long peak
    ctypedef struct lm_state:
        pass
    object lm_capsule_new(object wrapped)
    lm_state *lm_state_of(object capsule) except NULL
    void lm_read(lm_state *st, lm_counts *out) nogil
    void lm_reset_peak(lm_state *st) nogil
    Py_ssize_t lm_tracked_blocks(lm_state *st) nogil


FIELDS = ("allocations", "frees", "reallocs", "bytes_allocated", "bytes_freed",
          "current", "peak", "failures", "untracked")


def get_handler():
    """The NEP-49 handler capsule current in this context (new reference)."""
    return PyDataMem_GetHandler()


cdef class Counter:
    """A counting handler; ``start()`` wraps the current handler and installs it.

    Single use: start once, stop once (stop is idempotent). The counts stay
    readable, and keep following frees of blocks allocated while counting,
    for as long as this object lives.
    """
    cdef lm_state *_st
    cdef object _capsule      # our handler capsule (owns _st)
    cdef object _previous     # the handler current at start()
    cdef bint _active

    def start(self):
        if self._capsule is not None:
            raise RuntimeError("a Counter can only be started once")
        wrapped = PyDataMem_GetHandler()
        capsule = lm_capsule_new(wrapped)
        self._st = lm_state_of(capsule)
        self._capsule = capsule
        self._previous = PyDataMem_SetHandler(capsule)
        self._active = True

    def stop(self):
        """Reinstall the handler that was current at start().

        Returns True if this counter's handler was the current one (the
        normal, properly nested case), False if something else had been
        installed meanwhile (it is replaced all the same), None if the
        counter was not active.
        """
        if not self._active:
            return None
        was = PyDataMem_SetHandler(self._previous)
        self._active = False
        self._previous = None
        return was is self._capsule

    @property
    def active(self):
        return self._active

    @property
    def capsule(self):
        """This counter's handler capsule (None before start)."""
        return self._capsule

    @property
    def tracked_blocks(self):
        """Number of live blocks in the size table."""
        if self._st == NULL:
            return 0
        return lm_tracked_blocks(self._st)

    def snapshot(self):
        """The counts as a dict (all zero before start)."""
        cdef lm_counts c
        if self._st == NULL:
            return dict.fromkeys(FIELDS, 0)
        lm_read(self._st, &c)
        return {"allocations": c.allocations, "frees": c.frees,
                "reallocs": c.reallocs, "bytes_allocated": c.bytes_allocated,
                "bytes_freed": c.bytes_freed, "current": c.current,
                "peak": c.peak, "failures": c.failures,
                "untracked": c.untracked}

    def reset_peak(self):
        if self._st != NULL:
            lm_reset_peak(self._st)
