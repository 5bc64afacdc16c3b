"""The plan cache: LowMemMode's plans kept on disk between processes
(lowmem.theano's and lowmem.pytensor's; also importable as
lowmem.theano._cache, its former name).

What: after the linker has recorded a function's sizes and searched its
order, it stores the result (an "entry": a JSON-able dict whose content the
linker decides; this module reads only "signature", "name", "nodes", "peak",
"optimal" and "created") so that a later compile of the same function, in
any process, runs the plan at once: no recording call, no search.

Where: one file per function, ``<directory>/<key>.json``, by default under
the library's compile directory (:func:`default_directory`). A file holds up to
:data:`MAX_VARIANTS` entries ("variants") told apart by the signature of the
input values they were planned for (:func:`input_signature`).

Key: :func:`function_key`, a sha256 of a stable description of the
optimised FunctionGraph: lowmem's and the library's versions, :data:`CACHE_FORMAT`,
the input types, every Apply node in the linker's numbering with its op,
its inputs as references (the k-th graph input, output `pos` of node `i`,
or a constant: its type and data), its output types and its view/destroy
maps, and the graph outputs as references. An op is described by its class
and its ``__props__`` (as Theano and PyTensor compare ops); Composite and
Scan by their inner graphs (and Scan's ``info``); other ops by their whole instance
``__dict__``. Values are described recursively (numbers, strings, tuples,
dicts, NumPy arrays, dtypes, the library's types and ops, functions and classes by
their import path); a graph with a part that has no such description (a
lambda, an object with no readable state) gets no key and is not cached.
What the key needs to know of the library (its graph classes, how a tensor
type and a Scan are described, its compile directory) is a :class:`Library`
adapter: Theano's (:func:`theano_library`, the default) here, PyTensor's in
lowmem.pytensor._cache; the rest of this module is the same for both.

Atomicity: a store writes a temporary file in the same directory and
renames it over the entry file (os.replace), so a reader sees the old file
or the new one, never half of one. The read-modify-write that merges
variants holds an exclusive fcntl lock on ``<directory>/.lock`` where
fcntl exists; without it (other systems, a lock that cannot be taken) two
processes storing under one key at once may lose one variant, never corrupt
the file. Files are not fsync'ed: a file cut short by a crash is found
corrupt on load, reported and removed.

Why JSON, not pickle: the directory may be shared, and unpickling a file
runs whatever code its author chose. JSON only gives back numbers, strings,
lists and dicts: data for the linker to check, never code.
"""

import hashlib
import json
import math
import numbers
import os
import re
import sys
import time
import types
import warnings
from collections.abc import Mapping

import numpy as np

from . import __version__
from ._files import write_atomically

try:
    import fcntl
except ImportError:              # Windows: stores go unlocked
    fcntl = None

#: Bump when the layout of an entry or of the file changes: files of another
#: format are stale (reported and removed on load).
CACHE_FORMAT = 1
#: Variants kept under one key (the oldest are dropped).
MAX_VARIANTS = 8
#: A file larger than this is not one we wrote (a plan of a million nodes
#: is a few MB); refused unread.
MAX_FILE_BYTES = 64 * 2**20
#: The fields every entry has, with their JSON types.
ENTRY_FIELDS = {"signature": list, "name": str, "nodes": int, "peak": int, "optimal": bool}

_KEY = re.compile(r"[0-9a-f]{64}")
_FILE = re.compile(r"([0-9a-f]{64})\.json")
_TEMP_SUFFIX = ".tmp"
_TEMP_MAX_AGE = 3600.0           # seconds after which clear() removes a leftover temp file


class PlanCacheWarning(UserWarning):
    """A plan file that could not be read or written (the cache goes on)."""


class Library:
    """What the function key and the default directory need of a graph
    library (an adapter: Theano's is :func:`theano_library`, PyTensor's
    lowmem.pytensor._cache.PYTENSOR).

    version       text naming the library's version in keys
    Variable, Constant, Op, Type   its graph classes
    TensorType, Scalar, Composite  its tensor type, scalar type and fused
                  scalar op classes; Scan its scan op class (None: none)
    tensor_key    TensorType instance -> the tuple naming it (equal types,
                  equal tuples)
    scan_parts    Scan instance -> (values as its __eq__ compares them
                  besides the inner graph, inner inputs, inner outputs)
    compiledir    () -> the library's compile directory
    inner_graph   value -> (inputs, outputs) when it is an inner graph (an
                  op's FunctionGraph parameter: described as a graph), else
                  None (default: never)
    """

    def __init__(self, version, Variable, Constant, Op, Type, TensorType, Scalar, Composite,
                 Scan, tensor_key, scan_parts, compiledir, inner_graph=None):
        self.version = version
        self.Variable, self.Constant, self.Op, self.Type = Variable, Constant, Op, Type
        self.TensorType, self.Scalar, self.Composite, self.Scan = TensorType, Scalar, Composite, Scan
        self.tensor_key, self.scan_parts, self.compiledir = tensor_key, scan_parts, compiledir
        self.inner_graph = inner_graph or (lambda value: None)


_THEANO = []


def theano_library():
    """Theano's Library (imports Theano, its flags prepared first)."""
    if not _THEANO:
        from .theano._env import prepare_theano
        prepare_theano()
        import theano
        from theano import gof
        from theano.scalar.basic import Composite, Scalar
        from theano.tensor import TensorType
        try:
            from theano.scan_module.scan_op import Scan
        except ImportError:          # pragma: no cover (part of Theano 1.0.5)
            Scan = None
        _THEANO.append(Library(
            version=theano.__version__, Variable=gof.Variable, Constant=gof.Constant,
            Op=gof.Op, Type=gof.Type, TensorType=TensorType, Scalar=Scalar,
            Composite=Composite, Scan=Scan,
            tensor_key=lambda t: (t.dtype, tuple(bool(b) for b in t.broadcastable)),
            # As Theano's Scan.__eq__: its `info` and its inner graph (the
            # rest of its __dict__ is derived, or compiled objects).
            scan_parts=lambda op: ((op.info,), op.inputs, op.outputs),
            compiledir=lambda: theano.config.compiledir))
    return _THEANO[0]


def default_directory(library=None):
    """``<compiledir>/lowmem-plans``, in the compile directory of `library`
    (a Library; default Theano's, which imports Theano)."""
    library = library or theano_library()
    return os.path.join(library.compiledir(), "lowmem-plans")


# ------------------------------------------------------------------- key
class _Undescribable(Exception):
    """A value with no description that is the same in every process."""


def _class_name(cls):
    return cls.__module__ + "." + cls.__qualname__


def _named(obj):
    """('module', 'qualname') of a function or class reachable by that
    name from its module (the same object in every process running the same
    code); _Undescribable for lambdas, local functions and classes, bound
    methods and other callables."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        raise _Undescribable(obj)
    found = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if found is not obj:
        raise _Undescribable(obj)
    return module, qualname


class _Plain:
    """The size of an instance of a class defined in Python (its __dict__
    and __weakref__ pointers, no C state)."""


def _state_in_dict(cls, _known={}):
    """Whether all of an instance's state is in its __dict__: no class of
    `cls`'s MRO has __slots__ or an instance larger than a plain Python
    object's (C state). Not so for C types with a __dict__ besides their C
    state (functools.partial) or that forward it (bound methods): walking
    their __dict__ would describe two different objects alike."""
    known = _known.get(cls)
    if known is None:
        known = _known[cls] = all(
            c is object or (c.__basicsize__ <= _Plain.__basicsize__
                            and not c.__dict__.get("__slots__"))
            for c in cls.__mro__)
    return known


# Values whose repr is exact and the same in every process.
_PRIMITIVE = frozenset((type(None), bool, int, float, complex, str, bytes))


class _Text(str):
    """The repr of a description, made once: its repr is itself, so a
    description holding it reprs as if the tuple were there."""

    __slots__ = ()

    def __repr__(self):
        return str.__str__(self)


class _Describer:
    """Stable descriptions (nested tuples of str, int, float, bool, bytes and
    None, whose repr is the same in every process) of the parts of one
    graph. Each op and type object is described once (memo by identity,
    the object held so that its id is not reused during the call), and its
    description kept as text (_Text), so a graph's description costs one
    step per node and per distinct op."""

    MAX_DEPTH = 64

    def __init__(self, library=None):
        library = self.library = library or theano_library()
        self.Variable, self.Constant = library.Variable, library.Constant
        self.op_or_type = (library.Op, library.Type)
        self.TensorType, self.Scalar = library.TensorType, library.Scalar
        self.Composite, self.Scan = library.Composite, library.Scan
        self.library_version = library.version
        self.memo = {}                # id(obj) -> (obj, _Text)
        self.node_ops = {}            # id(op) -> (op, number of its text with its alias maps)
        self.types = {}               # TensorType/Scalar by value -> _Text
        self.constants = {}           # id(constant) -> (constant, _Text)
        self.table = {}               # _Text of a type or op -> its number in graph texts
        self.active = set()           # ids of the objects being described (cycles)

    # -- values
    def value(self, v, depth=0):
        if v is None or type(v) in _PRIMITIVE:
            return v                  # repr is exact and the same everywhere for these
        seen = self.memo.get(id(v))
        if seen is not None and seen[0] is v:
            return seen[1]
        if depth > self.MAX_DEPTH:
            raise _Undescribable("too deep")
        cls = type(v)
        if cls is tuple or cls is list:
            if _PRIMITIVE.issuperset(map(type, v)):       # the common case, quickly
                return (cls.__name__,) + tuple(v)
            return (cls.__name__,) + tuple([self.value(x, depth + 1) for x in v])
        if isinstance(v, self.op_or_type):
            return self.obj(v, depth)
        if isinstance(v, (tuple, list)):
            return (cls.__name__,) + tuple([self.value(x, depth + 1) for x in v])
        if isinstance(v, str):        # a str subclass: its text, not its repr
            return ("str", _class_name(type(v)), str.__str__(v))
        if isinstance(v, np.ndarray):
            return self.array(v)
        if isinstance(v, np.generic):
            return ("np", v.dtype.str, v.tobytes())
        if isinstance(v, np.dtype):
            return ("dtype", v.str if v.fields is None else self.value(v.descr, depth + 1))
        if isinstance(v, slice):
            return ("slice", self.value(v.start, depth + 1), self.value(v.stop, depth + 1),
                    self.value(v.step, depth + 1))
        if isinstance(v, (set, frozenset)):
            return ("set",) + tuple(sorted((self.value(x, depth + 1) for x in v), key=repr))
        if isinstance(v, Mapping):    # dict, OrderedDict, frozendict: by key
            items = [(self.value(a, depth + 1), self.value(b, depth + 1)) for a, b in v.items()]
            return ("dict",) + tuple(sorted(items, key=lambda item: repr(item[0])))
        if isinstance(v, (type, types.FunctionType, types.BuiltinFunctionType)):
            return ("named",) + _named(v)
        if isinstance(v, types.ModuleType):
            return ("module", v.__name__)
        if isinstance(v, numbers.Number):
            raise _Undescribable(v)   # int/float subclasses, Decimal, ...: no plain repr
        if isinstance(v, self.Variable):
            raise _Undescribable(v)   # a graph part outside a described graph
        return self.obj(v, depth)

    def type_of(self, var):
        """The description of var.type; TensorTypes and Scalar types (equal
        when their dtype and broadcastable are; often one object per
        variable) looked up by value."""
        t = var.type
        cls = type(t)
        if cls is self.TensorType:
            key = self.library.tensor_key(t)
        elif cls is self.Scalar:
            key = t.dtype
        else:
            return self.value(t)
        text = self.types.get(key)
        if text is None:
            text = self.types[key] = self.obj(t, 0)
        return text

    def array(self, a):
        if a.dtype.hasobject:
            raise _Undescribable("object array")
        data = a.tobytes()          # C order whatever the layout
        if len(data) > 64:
            data = hashlib.sha256(data).digest()
        return ("array", a.dtype.str, a.shape, data)

    def obj(self, v, depth):
        """An op, type or other object, as _Text: its class and its
        `__props__`, as Theano and PyTensor compare such objects; otherwise (no
        __props__) the whole instance __dict__, which over-distinguishes
        rather than merging two objects that differ (a cached attribute
        makes a miss or no key, never a wrong hit). Objects with neither:
        _Undescribable."""
        if id(v) in self.active:
            raise _Undescribable("cycle")
        self.active.add(id(v))
        try:
            text = _Text(repr(self._obj(v, depth)))
        finally:
            self.active.discard(id(v))
        self.memo[id(v)] = (v, text)
        return text

    def _obj(self, v, depth):
        cls = type(v)
        name = _class_name(cls)
        if cls is self.TensorType:
            return ("TensorType",) + self.library.tensor_key(v)
        if isinstance(v, self.Composite):
            # Composite (a fused scalar graph) has no __props__, and its
            # __dict__ holds derived state set lazily (name by str(), _c_code
            # by hash(), _impls, prepare_node_called). str(op) is a readable
            # formula but not a full description (no input types, constants
            # printed as text), so the inner graph is described like the
            # outer one.
            return (name, self.graph(v.inputs, v.outputs, depth + 1))
        if self.Scan is not None and isinstance(v, self.Scan):
            # As the library's Scan.__eq__ (Library.scan_parts): the rest
            # of its __dict__ is derived, or compiled objects.
            values, inputs, outputs = self.library.scan_parts(v)
            return (name,) + tuple(self.value(x, depth + 1) for x in values) + (
                self.graph(inputs, outputs, depth + 1),)
        inner = self.library.inner_graph(v)
        if inner is not None:
            return (name, self.graph(list(inner[0]), list(inner[1]), depth + 1))
        props = getattr(cls, "__props__", None)
        if props is not None:
            return (name, "props") + tuple(self.value(getattr(v, p), depth + 1) for p in props)
        state = getattr(v, "__dict__", None)
        if not isinstance(state, dict) or not _state_in_dict(cls):
            raise _Undescribable(v)   # state we cannot read (object(), partial, a method)
        return (name, "dict") + tuple(
            (k, self.value(state[k], depth + 1)) for k in sorted(state))

    # -- graphs
    def graph(self, inputs, outputs, depth=0, nodes=None):
        """Inputs' types, then per node (in `nodes` order, else a
        depth-first order from the outputs) its op with its view/destroy
        maps, its input references and output types, then the output
        references; as _Text. Types and ops are numbered in self.table (by
        their first use: the same numbers for the same graph everywhere)."""
        if nodes is None:
            nodes = _toposort(inputs, outputs)
        where = {}
        for k, var in enumerate(inputs):
            where[id(var)] = ("in", k)
        for i, node in enumerate(nodes):
            for pos, var in enumerate(node.outputs):
                where[id(var)] = (i, pos)
        type_of, ref, node_ops, table = self.type_of, self.ref, self.node_ops, self.table
        described = [len(inputs), [table.setdefault(type_of(var), len(table)) for var in inputs]]
        for node in nodes:
            op = node.op
            seen = node_ops.get(id(op))
            if seen is not None and seen[0] is op:
                op_index = seen[1]
            else:
                op_text = _Text(repr((self.value(op, depth),
                                      _alias_map(getattr(op, "view_map", None)),
                                      _alias_map(getattr(op, "destroy_map", None)))))
                op_index = table.setdefault(op_text, len(table))
                node_ops[id(op)] = (op, op_index)
            refs = []
            for var in node.inputs:
                found = where.get(id(var))
                refs.append(found if found is not None else ref(var, depth))
            described.append((op_index, refs,
                              [table.setdefault(type_of(var), len(table))
                               for var in node.outputs]))
        described.append(("out", [where.get(id(var)) or ref(var, depth) for var in outputs]))
        return _Text(repr(described))

    def ref(self, var, depth):
        """A reference to a variable that is no input nor node output: a
        constant, its type and data (memo by identity: constants are shared
        by the nodes that read them)."""
        if isinstance(var, self.Constant):
            seen = self.constants.get(id(var))
            if seen is not None and seen[0] is var:
                return seen[1]
            text = _Text(repr(("const", self.type_of(var), self.value(var.data, depth + 1))))
            self.constants[id(var)] = (var, text)
            return text
        raise _Undescribable("a variable that is neither an input, a node's output "
                             "nor a constant")


def _alias_map(m):
    """A view_map or destroy_map ({output: [inputs]}) as sorted pairs."""
    if not m:
        return ()
    return tuple(sorted((int(k), tuple(int(i) for i in v)) for k, v in m.items()))


def _toposort(inputs, outputs):
    """The Apply nodes between `inputs` and `outputs`, each after the nodes
    it reads: a depth-first post-order from the outputs, inputs in order
    (the same for the same graph in every process)."""
    stop = {id(var) for var in inputs}
    order, done = [], set()
    stack = [(var.owner, False) for var in reversed(outputs)
             if var.owner is not None and id(var) not in stop]
    while stack:
        node, expanded = stack.pop()
        if id(node) in done:
            continue
        if expanded:
            done.add(id(node))
            order.append(node)
            continue
        stack.append((node, True))
        for var in reversed(node.inputs):
            owner = var.owner
            if owner is not None and id(var) not in stop and id(owner) not in done:
                stack.append((owner, False))
    return order


def function_key(fgraph, nodes, library=None):
    """A hex sha256 naming the optimised graph `fgraph` with its Apply nodes
    numbered as in `nodes` (the linker's fgraph.toposort()), the same in
    every process; None when some part (an op parameter that is a lambda,
    an object with no readable state, ...) has no stable description. Never
    raises for an odd op: it is then simply not cached. `library`: the
    graph's Library (default Theano's)."""
    library = library or theano_library()
    try:
        describer = _Describer(library)
        graph = describer.graph(list(fgraph.inputs), list(fgraph.outputs), nodes=list(nodes))
        text = repr(("lowmem-plan", CACHE_FORMAT, __version__, describer.library_version,
                     list(describer.table), graph))
    except Exception:   # _Undescribable, RecursionError, an attribute that cannot be read
        return None
    return hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()


def input_signature(values):
    """Per input value: [shape, dtype] for a NumPy array, [type name, dtype]
    for a NumPy scalar, [type name] for anything else, None for None. A list
    of JSON-able values (lists, str, int; tuple(map(...)) to hash it)."""
    signature = []
    for v in values:
        if v is None:
            signature.append(None)
        elif isinstance(v, np.ndarray):
            signature.append([[int(n) for n in v.shape], v.dtype.str])
        elif isinstance(v, np.generic):
            signature.append([type(v).__name__, v.dtype.str])
        else:
            signature.append([type(v).__name__])
    return signature


# ------------------------------------------------------------------ files
def _warn(message):
    warnings.warn("lowmem plan cache: " + " ".join(str(message).split()), PlanCacheWarning,
                  stacklevel=3)


def _check_key(key):
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(f"a plan cache key is 64 lowercase hex digits, got {key!r}")


def _check_entry(entry):
    """Whether `entry` has the fields every reader relies on, with their
    types (ints not bools, a finite "created")."""
    if not isinstance(entry, dict):
        return False
    for name, kind in ENTRY_FIELDS.items():
        value = entry.get(name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return False
    created = entry.get("created")
    return (isinstance(created, (int, float)) and not isinstance(created, bool)
            and math.isfinite(created))


class _Bad(Exception):
    """A plan file we cannot use; the message says why."""


def _parse(data, key):
    """The variants of a file's bytes; _Bad saying why not."""
    try:
        content = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _Bad("not valid JSON (corrupt or truncated)") from None
    if not isinstance(content, dict) or "variants" not in content:
        raise _Bad("not a plan file")
    if content.get("format") != CACHE_FORMAT:
        raise _Bad(f"stale: cache format {content.get('format')!r}, "
                   f"this lowmem writes {CACHE_FORMAT}")
    if content.get("lowmem") != __version__:
        raise _Bad(f"stale: written by lowmem {content.get('lowmem')!r}, this is {__version__}")
    if key is not None and content.get("key") != key:
        raise _Bad("holds the plans of another key")
    variants = content["variants"]
    if not isinstance(variants, list) or not all(_check_entry(v) for v in variants):
        raise _Bad("malformed entries")
    return variants


def _read(path, key):
    """(variants, stat) of a plan file; FileNotFoundError if missing, _Bad
    (with the file's stat as its second argument, or None) if unusable."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            # Read what the file holds (+1 to see it grow past the cap): a
            # read of the cap itself would allocate the whole cap at once.
            data = f.read(min(st.st_size, MAX_FILE_BYTES) + 1)
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(path) from None
    except OSError as e:
        raise _Bad(f"unreadable ({e.strerror or e})", None) from None
    if len(data) > MAX_FILE_BYTES:
        raise _Bad(f"larger than {MAX_FILE_BYTES:,} bytes", st)
    try:
        return _parse(data, key), st
    except _Bad as e:
        raise _Bad(str(e), st) from None


class _Lock:
    """An exclusive fcntl lock on <directory>/.lock for a read-modify-write;
    nothing where fcntl is missing or the lock cannot be taken (a store may
    then lose a concurrent variant, never corrupt a file)."""

    def __init__(self, directory):
        self.path, self.fd = os.path.join(directory, ".lock"), None

    def __enter__(self):
        if fcntl is not None:
            try:
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
                fcntl.flock(self.fd, fcntl.LOCK_EX)
            except OSError:
                self.__exit__()
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)     # releases the lock
            self.fd = None


class PlanCache:
    """The plan files in `directory` (created on the first store)."""

    def __init__(self, directory):
        self.directory = os.fspath(directory)

    def __repr__(self):
        return f"PlanCache({self.directory!r})"

    def path(self, key):
        _check_key(key)
        return os.path.join(self.directory, key + ".json")

    def load(self, key):
        """The variants stored under `key` (a list of entry dicts, [] if
        none). A file that cannot be used (unreadable, corrupt, truncated,
        another format or lowmem version) is reported in one warning and
        removed."""
        path = self.path(key)
        try:
            return _read(path, key)[0]
        except FileNotFoundError:
            return []
        except _Bad as e:
            why, st = e.args
            self._discard(path, st, why)
            return []

    def _discard(self, path, st, why):
        """Warn about the bad file `path` and remove it unless it was
        replaced since it was read (a store renames a new inode over it)."""
        removed = "removed it"
        try:
            if st is not None and os.stat(path).st_ino != st.st_ino:
                removed = "it has been replaced since"
            else:
                os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as e:
            removed = f"could not remove it: {e.strerror or e}"
        _warn(f"{path}: {why}; {removed}")

    def store(self, key, entry):
        """Store `entry` (a JSON-able dict with the ENTRY_FIELDS) under
        `key`: it replaces the variant with an equal "signature", the others
        stay (at most MAX_VARIANTS, the oldest dropped). Adds "created".
        Writing errors (read-only or missing directory, full disk) are one
        warning, never an exception; an entry without the fields, or that
        JSON cannot hold, is a ValueError (a caller's bug)."""
        path = self.path(key)
        try:
            # As it will be read back: tuples become lists, so that a tuple
            # signature equals the list stored for it.
            entry = json.loads(json.dumps(dict(entry, created=time.time()), allow_nan=False))
        except (TypeError, ValueError) as e:
            raise ValueError(f"a plan cache entry must be JSON-able: {e}") from None
        if not _check_entry(entry):
            raise ValueError(f"a plan cache entry needs the fields "
                             f"{', '.join(ENTRY_FIELDS)} of types "
                             f"{', '.join(t.__name__ for t in ENTRY_FIELDS.values())}")
        try:
            os.makedirs(self.directory, exist_ok=True)
            with _Lock(self.directory):
                try:
                    variants = _read(path, key)[0]
                except FileNotFoundError:
                    variants = []
                except _Bad as e:                # overwritten below
                    _warn(f"{path}: {e.args[0]}; replacing it")
                    variants = []
                variants = [v for v in variants if v["signature"] != entry["signature"]]
                variants = (variants + [entry])[-MAX_VARIANTS:]
                self._write(path, {"format": CACHE_FORMAT, "lowmem": __version__, "key": key,
                                   "variants": variants})
        except OSError as e:
            _warn(f"cannot store a plan in {self.directory}: {e.strerror or e}")

    def _write(self, path, content):
        data = json.dumps(content, separators=(",", ":"), allow_nan=False).encode("utf-8")
        write_atomically(path, data, _TEMP_SUFFIX)

    def _files(self):
        """(key, path) of every plan file; [] if the directory is missing
        (NotADirectoryError if it is a file)."""
        try:
            names = sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return []
        return [(m.group(1), os.path.join(self.directory, name))
                for name in names for m in [_FILE.fullmatch(name)] if m]

    def entries(self):
        """One record per stored variant: dict(key, name, nodes, peak,
        optimal, created, bytes, path), files in key order. A file that
        cannot be used is one record named "<unreadable>" (or "<stale>" for
        another format or lowmem version) with None for what it lacks and
        its modification time as "created". Reads only: nothing is removed."""
        records = []
        for key, path in self._files():
            try:
                variants, st = _read(path, key)
            except FileNotFoundError:            # removed meanwhile
                continue
            except _Bad as e:
                why, st = e.args
                try:
                    st = st or os.stat(path)
                except OSError:
                    continue
                name = "<stale>" if why.startswith("stale") else "<unreadable>"
                records.append(dict(key=key, name=name, nodes=None, peak=None, optimal=None,
                                    created=st.st_mtime, bytes=st.st_size, path=path))
                continue
            for v in variants:
                records.append(dict(key=key, name=v["name"], nodes=v["nodes"], peak=v["peak"],
                                    optimal=v["optimal"], created=v["created"],
                                    bytes=st.st_size, path=path))
        return records

    def clear(self, older_than=None):
        """Remove every plan file, or (`older_than` seconds) those whose
        newest variant is older than that; a file that cannot be used counts
        by its modification time. Also removes temporary files left over an
        hour by interrupted stores (not counted). Returns how many plan
        files were removed."""
        if older_than is not None:
            if (isinstance(older_than, bool) or not isinstance(older_than, numbers.Real)
                    or not older_than >= 0):
                raise ValueError(f"older_than must be a number of seconds >= 0, "
                                 f"got {older_than!r}")
        now = time.time()
        removed = 0
        for key, path in self._files():
            if older_than is not None:
                try:
                    variants, st = _read(path, key)
                    newest = max((v["created"] for v in variants), default=st.st_mtime)
                except FileNotFoundError:
                    continue
                except _Bad:
                    try:
                        newest = os.stat(path).st_mtime
                    except OSError:
                        continue
                if newest >= now - older_than:
                    continue
            try:
                os.unlink(path)
                removed += 1
            except FileNotFoundError:
                pass
        self._clear_temporaries(now)
        return removed

    def _clear_temporaries(self, now):
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            if name.endswith(_TEMP_SUFFIX) and _KEY.match(name):
                path = os.path.join(self.directory, name)
                try:
                    if os.stat(path).st_mtime < now - _TEMP_MAX_AGE:
                        os.unlink(path)
                except OSError:
                    pass
