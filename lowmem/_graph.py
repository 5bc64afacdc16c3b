"""The framework-neutral computation graph that lowmem schedules.

A :class:`Graph` is a DAG of nodes (Theano's Apply nodes) over variables
(arrays of a known size in bytes). It is held as flat NumPy arrays in CSR
form and validated on construction, so that everything downstream, the
Cython core in particular, may assume a well-formed graph.

The JSON form (``"format": "lowmem-graph", "version": 2``; version 1 is
read too) is specified in
docs/format.md; :func:`load` reads it (plain or gzipped, from a file or
standard input, with a size cap) and :meth:`Graph.to_json` writes it.
"""

import gzip
import json
import math
import operator
import os
import re
import reprlib
import stat
import sys
import zlib
from collections import deque
from collections.abc import Sequence
from itertools import chain, repeat

import numpy as np

FORMAT = "lowmem-graph"
# The version written when a graph uses version 2's node fields (`cost`,
# `recompute`); a graph without them is written as version 1, which older
# readers take. Every version up to VERSION is read.
VERSION = 2
VERSIONS = (1, 2)
ALIAS_KINDS = ("view", "destroy")

# The sum of all variable sizes plus the largest workspace must stay below
# this: the core adds byte counts in int64 and needs headroom for the sums
# it forms (docs/format.md, "Limits").
BYTES_LIMIT = 2**62

# Default cap on the bytes read from one graph file (after decompression).
# Loading takes about 10 times a file's (decompressed) size in memory, up to
# about 50 times for millions of tiny nodes (docs/format.md, "The file"):
# 256 MiB keeps the worst case near 13 GB, and the largest real graphs
# (50 MB for 330,000 nodes) far below the cap.
DEFAULT_MAX_INPUT_BYTES = 2**28

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
_FIRST_FEED = 256
_NONZERO = re.compile(rb"[^\0]")

TOP_FIELDS = frozenset(("format", "version", "name", "variables", "nodes", "outputs",
                        "orderings", "meta"))
VARIABLE_FIELDS = frozenset(("size", "name", "dtype", "shape"))
NODE_FIELDS = frozenset(("name", "inputs", "outputs", "workspace", "aliases", "cost",
                         "recompute"))

# Codes for Graph.var_alias_kind.
NO_ALIAS, VIEW, DESTROY = 0, 1, 2

_NONE = type(None)


class GraphError(ValueError):
    """A graph (or a graph file) is malformed; the message names what is wrong."""


_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 60
_repr.maxlist = _repr.maxtuple = _repr.maxdict = 6


def _show(x):
    """A short repr of a user-supplied value for an error message: a 40 MB
    list or a 5,000-digit integer must not become the message."""
    try:
        return _repr.repr(x)
    except (ValueError, RecursionError):      # int too long for str(); absurd depth
        return f"<{type(x).__name__}>"


def _printable(text):
    """`text` printable on one line of any terminal: control characters
    (a newline in a file name), lone surrogates (valid in JSON strings) and
    other unprintables escaped as in a Python string literal. O(len(text))."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class _Names(Sequence):
    """The names of a graph's nodes or variables: those the file gives, and
    `prefix` + index for the others, made when asked. A list of millions of
    default names would cost ~60 bytes each; this holds one shared None.
    Reads like a list (indexing, slices, iteration, == with a list)."""

    __slots__ = ("_raw", "_prefix")

    def __init__(self, raw, prefix):
        self._raw, self._prefix = raw, prefix

    def __len__(self):
        return len(self._raw)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self._raw)))]
        name = self._raw[i]
        return f"{self._prefix}{operator.index(i) % len(self._raw)}" if name is None else name

    def __iter__(self):
        prefix = self._prefix
        for i, name in enumerate(self._raw):
            yield f"{prefix}{i}" if name is None else name

    def __eq__(self, other):
        if isinstance(other, (list, tuple, _Names)):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None

    def __repr__(self):
        return repr(list(self))


def _csr(rows):
    """Flatten a list of integer lists into (indptr, indices) int64 arrays."""
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=indptr[1:])
    indices = np.fromiter((x for r in rows for x in r), dtype=np.int64, count=int(indptr[-1]))
    return indptr, indices


def _is_int(x):
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _types_within(values, allowed):
    """True if every value's exact type is in `allowed` (a C-level pass:
    bools are not ints here, nor are NumPy integers, which the general path takes)."""
    return set(map(type, values)) <= allowed


def _int_array(values, nv):
    """`values` (plain Python ints) as int64, or None unless all are in [0, nv)."""
    if not _types_within(values, {int}):
        return None
    try:
        arr = np.array(values, dtype=np.int64)
    except OverflowError:
        return None
    if len(arr) and (arr.min() < 0 or arr.max() >= nv):
        return None
    return arr


def _id_lists(values):
    """`values` (lists or None) with None as a shared empty tuple (no
    per-node objects); None if some value is neither."""
    types = set(map(type, values))
    if not types <= {list, _NONE}:
        return None
    return [x or () for x in values] if _NONE in types else values


def _names(raw, prefix):
    """Names from optional string fields (None = absent -> prefix + index);
    None if some name is not a string."""
    if not _types_within(raw, {str, _NONE}):
        return None
    return _Names(raw, prefix)


def _entry_name(label, expected, entry, fields):
    """Check that a variable or node entry is an object with known fields
    and a string name (or none); return the name. O(fields)."""
    if not isinstance(entry, dict):
        raise GraphError(f"{label}: expected {expected}, got {_show(entry)}")
    unknown = set(entry) - fields
    if unknown:
        raise GraphError(f"{label}: unknown field(s) {_show(sorted(map(str, unknown)))}")
    name = entry.get("name")
    if name is not None and not isinstance(name, str):
        raise GraphError(f"{label}: name must be a string, got {_show(name)}")
    return name


class Graph:
    """A validated computation graph.

    Parameters
    ----------
    variables : list
        One entry per variable: a size in bytes, or a dict with ``size`` and
        optionally ``name``, ``dtype`` and ``shape``.
    nodes : list of dict
        One entry per node, in a valid execution order (the default order):
        ``inputs`` and ``outputs`` (variable ids), optionally ``name``,
        ``workspace`` (bytes), ``aliases`` (output position ->
        ``{"input": input position, "kind": "view" | "destroy"}``),
        ``cost`` (compute cost, a finite number >= 0, default 1) and
        ``recompute`` (False: the node must run exactly once).
    outputs : list of int
        Variables the caller receives; their buffers are never freed.
    orderings : list of (int, int)
        Extra ``(before, after)`` node pairs every valid order respects.
    name : str
    meta : dict, optional
        Free-form data about the graph (source model, provenance); kept and
        written back, never interpreted.

    An optional field given as None is the same as leaving it out. The
    rules are those of docs/format.md. Construction takes O(n + e) NumPy
    work for plain Python ints and lists (what JSON gives) plus one stable
    sort of the dependency edges; other input (NumPy integers, tuples) or
    invalid input takes a per-element Python pass, which also finds the
    first offending element for the error message.

    Raises
    ------
    GraphError
        On any malformed input, naming the node or variable concerned.

    Attributes (all read-only NumPy arrays unless noted)
    ----------------------------------------------------
    var_size, var_producer (-1 for graph inputs), var_alias_of (the
    variable an output aliases, or -1), var_alias_kind (NO_ALIAS, VIEW,
    DESTROY); node_workspace; node_cost (float64); node_recompute (bool:
    may run more than once); in_ptr/in_idx and out_ptr/out_idx (CSR
    inputs and outputs per node, repeats kept); outputs; orderings (m x 2);
    var_names, var_dtypes, var_shapes, node_names (lists); meta (dict or None).
    """

    def __init__(self, variables, nodes, outputs=(), orderings=(), name="graph", meta=None):
        if name is None:
            name = "graph"
        if not isinstance(name, str):
            raise GraphError(f"the graph's name must be a string, got {_show(name)}")
        if meta is not None and not isinstance(meta, dict):
            raise GraphError(f"'meta' must be an object, got {_show(meta)}")
        self.name = name
        self.meta = meta
        self._init_variables(variables)
        self._init_nodes(nodes)
        self._init_recompute_fields(nodes)
        self._init_outputs_and_orderings(outputs, orderings)
        self._check_acyclic_and_default_order()
        # Python ints: the sum itself must not wrap.
        total = int(self.var_size.sum(dtype=object)) if self.n_vars else 0
        total += int(self.node_workspace.max()) if self.n_nodes else 0
        if total >= BYTES_LIMIT:
            raise GraphError(f"the graph's variables and largest workspace add up to {total} "
                             f"bytes; lowmem handles less than 2**62")
        for arr in (self.var_size, self.var_producer, self.var_alias_of, self.var_alias_kind,
                    self.node_workspace, self.node_cost, self.node_recompute, self.in_ptr, self.in_idx, self.out_ptr, self.out_idx,
                    self.outputs, self.orderings):
            arr.setflags(write=False)

    # ------------------------------------------------------------------ build
    def _init_variables(self, variables):
        if not isinstance(variables, (list, tuple)):
            raise GraphError("'variables' must be a list")
        if not self._variables_fast(variables):
            self._variables_general(variables)

    def _variables_fast(self, variables):
        """Vectorised path for plain JSON values; False (nothing kept) when
        any entry needs the general path."""
        nv = len(variables)
        types = set(map(type, variables))
        if types <= {int}:
            sizes = variables
            names, dtypes, shapes = _Names([None] * nv, "v"), [None] * nv, [None] * nv
        elif types <= {dict, int}:
            if int in types:
                variables = [e if type(e) is dict else {"size": e} for e in variables]
            if not set(chain.from_iterable(variables)) <= VARIABLE_FIELDS:
                return False
            sizes = [e.get("size") for e in variables]
            names = _names([e.get("name") for e in variables], "v")
            dtypes = [e.get("dtype") for e in variables]
            shapes = [e.get("shape") for e in variables]
            if (names is None or not _types_within(dtypes, {str, _NONE})
                    or not _types_within(shapes, {list, _NONE})
                    or not _types_within(chain.from_iterable(s for s in shapes if s),
                                         {int, str})):
                return False
            shapes = [None if s is None else tuple(s) for s in shapes]
        else:
            return False
        size = _int_array(sizes, BYTES_LIMIT)
        if size is None:
            return False
        self.var_size = size
        self.var_names, self.var_dtypes, self.var_shapes = names, dtypes, shapes
        return True

    def _variables_general(self, variables):
        """Per-entry path: any integer type, tuples; raises on the first bad entry."""
        nv = len(variables)
        self.var_size = np.zeros(nv, dtype=np.int64)
        raw_names = []
        self.var_names, self.var_dtypes, self.var_shapes = _Names(raw_names, "v"), [], []
        for v, entry in enumerate(variables):
            if _is_int(entry):
                entry = {"size": int(entry)}
            name = _entry_name(f"variable {v}", "a size or an object", entry, VARIABLE_FIELDS)
            label = f"variable {v}" + (f" ({_show(name)})" if name is not None else "")
            size = entry.get("size")
            if not _is_int(size):
                raise GraphError(f"{label}: size must be an integer number of bytes, "
                                 f"got {_show(size)}")
            if size < 0:
                raise GraphError(f"{label}: negative size {_show(size)}")
            if size >= BYTES_LIMIT:
                raise GraphError(f"{label}: size {_show(size)} is too large (at most 2**62 - 1)")
            self.var_size[v] = size
            raw_names.append(name)
            dtype = entry.get("dtype")
            if dtype is not None and not isinstance(dtype, str):
                raise GraphError(f"{label}: dtype must be a string, got {_show(dtype)}")
            self.var_dtypes.append(dtype)
            shape = entry.get("shape")
            if shape is not None:
                if not isinstance(shape, (list, tuple)) or not all(
                        _is_int(d) or isinstance(d, str) for d in shape):
                    raise GraphError(f"{label}: shape must be a list of integers "
                                     f"(or symbolic names), got {_show(shape)}")
                shape = tuple(shape)
            self.var_shapes.append(shape)

    def _var_label(self, v):
        return f"variable {v} ({_show(self.var_names[v])})"

    def _node_label(self, n):
        return f"node {n} ({_show(self.node_names[n])})"

    def _init_nodes(self, nodes):
        if not isinstance(nodes, (list, tuple)):
            raise GraphError("'nodes' must be a list")
        nv, nn = len(self.var_size), len(nodes)
        self.var_producer = np.full(nv, -1, dtype=np.int64)
        self.var_alias_of = np.full(nv, -1, dtype=np.int64)
        self.var_alias_kind = np.zeros(nv, dtype=np.int8)
        if not self._nodes_fast(nodes):
            self.var_producer[:] = -1
            self.var_alias_of[:] = -1
            self.var_alias_kind[:] = NO_ALIAS
            self._nodes_general(nodes)

    def _nodes_fast(self, nodes):
        """Vectorised path for plain JSON values; False when some node needs
        the general path (which then reports the first bad one)."""
        nv, nn = len(self.var_size), len(nodes)
        if not _types_within(nodes, {dict}):
            return False
        keys = set(chain.from_iterable(nodes))
        if not keys <= NODE_FIELDS:
            return False

        def field(key):
            """Every node's `key` (None where absent), in one C-level pass."""
            return list(map(dict.get, nodes, repeat(key, nn))) if key in keys else [None] * nn

        names = _names(field("name"), "node")
        ins, outs = _id_lists(field("inputs")), _id_lists(field("outputs"))
        work = field("workspace")
        if names is None or ins is None or outs is None or not _types_within(work, {int, _NONE}):
            return False
        in_idx = _int_array(list(chain.from_iterable(ins)), nv)
        out_idx = _int_array(list(chain.from_iterable(outs)), nv)
        workspace = _int_array([w or 0 for w in work] if "workspace" in keys else [0] * nn,
                               BYTES_LIMIT)
        del work
        if in_idx is None or out_idx is None or workspace is None:
            return False
        if len(out_idx) and np.bincount(out_idx, minlength=nv).max() > 1:
            return False                               # two producers
        in_ptr = np.zeros(nn + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, ins), np.int64, nn), out=in_ptr[1:])
        out_ptr = np.zeros(nn + 1, dtype=np.int64)
        out_len = np.fromiter(map(len, outs), np.int64, nn)
        np.cumsum(out_len, out=out_ptr[1:])
        self.node_names = names
        self.var_producer[out_idx] = np.repeat(np.arange(nn, dtype=np.int64), out_len)
        self.node_workspace = workspace
        self.in_ptr, self.in_idx, self.out_ptr, self.out_idx = in_ptr, in_idx, out_ptr, out_idx
        # Few nodes have aliases: the per-alias rules run for those only.
        if "aliases" in keys:
            for n, aliases in enumerate(field("aliases")):
                if aliases is not None:
                    self._init_aliases(self._node_label(n), aliases, ins[n], outs[n])
        return True

    def _nodes_general(self, nodes):
        """Per-node path: any integer type, tuples; raises on the first bad node."""
        nv, nn = len(self.var_size), len(nodes)
        self.node_workspace = np.zeros(nn, dtype=np.int64)
        raw_names = []
        self.node_names = _Names(raw_names, "node")
        ins, outs = [], []
        for n, node in enumerate(nodes):
            name = _entry_name(f"node {n}", "an object", node, NODE_FIELDS)
            raw_names.append(name)
            label = self._node_label(n)
            node_in, node_out = node.get("inputs"), node.get("outputs")
            node_in = [] if node_in is None else node_in
            node_out = [] if node_out is None else node_out
            for field, ids in (("inputs", node_in), ("outputs", node_out)):
                if not isinstance(ids, (list, tuple)):
                    raise GraphError(f"{label}: '{field}' must be a list of variable ids")
                for v in ids:
                    if not _is_int(v) or not 0 <= v < nv:
                        raise GraphError(f"{label}: {field} refers to unknown variable {_show(v)}")
            for v in node_out:
                if self.var_producer[v] >= 0:
                    other = int(self.var_producer[v])
                    raise GraphError(f"{label}: {self._var_label(v)} already has producer "
                                     f"{self._node_label(other)}")
                self.var_producer[v] = n
            ws = node.get("workspace")
            ws = 0 if ws is None else ws
            if not _is_int(ws) or ws < 0 or ws >= BYTES_LIMIT:
                raise GraphError(f"{label}: workspace must be a non-negative integer below "
                                 f"2**62, got {_show(ws)}")
            self.node_workspace[n] = ws
            aliases = node.get("aliases")
            if aliases is not None:
                self._init_aliases(label, aliases, node_in, node_out)
            ins.append([int(v) for v in node_in])
            outs.append([int(v) for v in node_out])
        self.in_ptr, self.in_idx = _csr(ins)
        self.out_ptr, self.out_idx = _csr(outs)

    def _init_recompute_fields(self, nodes):
        """Version 2's `cost` and `recompute` (nodes are dicts: _init_nodes
        checked). One C-level pass per field; a per-node pass only to name
        the first bad value."""
        nn = self.n_nodes
        self.node_cost = np.ones(nn, dtype=np.float64)
        self.node_recompute = np.ones(nn, dtype=bool)
        costs = list(map(dict.get, nodes, repeat("cost", nn)))
        flags = list(map(dict.get, nodes, repeat("recompute", nn)))
        # The first node giving a version 2 field (from_dict refuses it in
        # a version 1 file).
        self._first_v2_field = min(
            ((next(n for n, x in enumerate(values) if x is not None), field)
             for field, values in (("cost", costs), ("recompute", flags))
             if not _types_within(values, {_NONE})), default=None)
        if not _types_within(costs, {_NONE}):
            for n, c in enumerate(costs):
                if c is None:
                    continue
                if (isinstance(c, bool) or not isinstance(c, (int, float, np.integer, np.floating))
                        or not math.isfinite(c) or c < 0):
                    raise GraphError(f"{self._node_label(n)}: cost must be a finite number "
                                     f">= 0, got {_show(c)}")
                self.node_cost[n] = float(c)
        if not _types_within(flags, {_NONE}):
            for n, r in enumerate(flags):
                if r is None:
                    continue
                if not isinstance(r, (bool, np.bool_)):
                    raise GraphError(f"{self._node_label(n)}: recompute must be true or false, "
                                     f"got {_show(r)}")
                self.node_recompute[n] = bool(r)

    def uses_version_2(self):
        """True when some node has a cost other than 1 or recompute false
        (what version 1 cannot say)."""
        return bool((self.node_cost != 1.0).any() or not self.node_recompute.all())

    def _init_aliases(self, label, aliases, node_in, node_out):
        if not isinstance(aliases, dict):
            raise GraphError(f"{label}: 'aliases' must be an object")
        seen = set()
        for key, spec in aliases.items():
            # JSON keys are strings: canonical decimal numbers only ("1", not
            # " 1", "+1" or "01": one spelling per position).
            if (isinstance(key, str) and key.isascii() and key.isdigit() and len(key) < 19
                    and (key == "0" or key[0] != "0")):
                pos = int(key)
            elif _is_int(key):
                pos = int(key)
            else:
                raise GraphError(f"{label}: alias key {_show(key)} is not an output position "
                                 "(a decimal number without leading zeros)")
            if pos in seen:         # 0 and "0" in a dict built in Python
                raise GraphError(f"{label}: two aliases for output position {pos}")
            seen.add(pos)
            if not 0 <= pos < len(node_out):
                raise GraphError(f"{label}: alias for missing output position {_show(pos)}")
            if not isinstance(spec, dict) or set(spec) != {"input", "kind"}:
                raise GraphError(f"{label}: alias of output {pos} must be "
                                 "{\"input\": position, \"kind\": \"view\"|\"destroy\"}")
            ipos, kind = spec["input"], spec["kind"]
            if not _is_int(ipos) or not 0 <= ipos < len(node_in):
                raise GraphError(f"{label}: output {pos} aliases missing input position "
                                 f"{_show(ipos)}")
            if kind not in ALIAS_KINDS:
                raise GraphError(f"{label}: output {pos} has unknown alias kind {_show(kind)}")
            out_var = node_out[pos]
            self.var_alias_of[out_var] = node_in[ipos]
            self.var_alias_kind[out_var] = VIEW if kind == "view" else DESTROY

    def _init_outputs_and_orderings(self, outputs, orderings):
        nv, nn = len(self.var_size), len(self.node_names)
        outputs = () if outputs is None else outputs
        orderings = () if orderings is None else orderings
        if not isinstance(outputs, (list, tuple, np.ndarray)):
            raise GraphError("'outputs' must be a list of variable ids")
        for v in outputs:
            if not _is_int(v) or not 0 <= v < nv:
                raise GraphError(f"graph outputs refer to unknown variable {_show(v)}")
        # Listed order is kept (the depth-first default order visits outputs in it).
        self.outputs = np.array(list(dict.fromkeys(int(v) for v in outputs)), dtype=np.int64)
        pairs = []
        if not isinstance(orderings, (list, tuple, np.ndarray)):
            raise GraphError("'orderings' must be a list of [before, after] node pairs")
        for pair in orderings:
            if (not isinstance(pair, (list, tuple, np.ndarray)) or len(pair) != 2
                    or not all(_is_int(x) for x in pair)):
                raise GraphError(f"ordering {_show(pair)} is not a [before, after] pair of "
                                 "node ids")
            a, b = int(pair[0]), int(pair[1])
            for x in (a, b):
                if not 0 <= x < nn:
                    raise GraphError(f"ordering [{_show(a)}, {_show(b)}] refers to unknown "
                                     f"node {_show(x)}")
            if a == b:
                raise GraphError(f"ordering [{a}, {b}] puts {self._node_label(a)} before itself")
            pairs.append((a, b))
        self.orderings = np.array(sorted(set(pairs)), dtype=np.int64).reshape(-1, 2)

    def _check_acyclic_and_default_order(self):
        """If every dependency points to an earlier listed node, the listed
        order is valid and the graph acyclic: one vectorised O(e) test. Only
        on failure does a Python pass tell a cycle from a misordered list."""
        nn = self.n_nodes
        ptr, idx = self.predecessors()
        node_of = np.repeat(np.arange(nn, dtype=np.int64), np.diff(ptr))
        late = np.flatnonzero(idx >= node_of)
        if not len(late):
            return
        indeg = np.diff(ptr).copy()
        succ_ptr, succ_idx = self.successors()
        queue = deque(np.flatnonzero(indeg == 0).tolist())
        while queue:
            n = queue.popleft()
            for s in succ_idx[succ_ptr[n]:succ_ptr[n + 1]].tolist():
                indeg[s] -= 1
                if indeg[s] == 0:
                    queue.append(s)
        if (indeg > 0).any():
            stuck = int(np.flatnonzero(indeg > 0)[0])
            raise GraphError(f"the graph has a cycle through {self._node_label(stuck)}")
        n, p = int(node_of[late[0]]), int(idx[late[0]])
        raise GraphError(
            f"{self._node_label(n)} is listed before {self._node_label(p)} that it depends "
            "on: the listed node order must be a valid order")

    # ------------------------------------------------------------- structure
    @property
    def n_nodes(self):
        return len(self.node_names)

    @property
    def n_vars(self):
        return len(self.var_size)

    def node_inputs(self, n):
        return self.in_idx[self.in_ptr[n]:self.in_ptr[n + 1]]

    def node_outputs(self, n):
        return self.out_idx[self.out_ptr[n]:self.out_ptr[n + 1]]

    def predecessors(self):
        """CSR (indptr, indices) of each node's distinct predecessors, in
        increasing order: the producers of its inputs and its ``orderings``
        predecessors.

        Vectorised: O(n + e) NumPy work plus one stable sort of the edge
        keys, which arrive grouped by node (timsort is near-linear on them).
        Cached.
        """
        if not hasattr(self, "_preds"):
            nn = self.n_nodes
            dst = np.repeat(np.arange(nn, dtype=np.int64), np.diff(self.in_ptr))
            src = self.var_producer[self.in_idx]
            keep = src >= 0
            dst = np.concatenate([dst[keep], self.orderings[:, 1]])
            src = np.concatenate([src[keep], self.orderings[:, 0]])
            key = np.sort(dst * max(nn, 1) + src, kind="stable")
            if len(key):
                key = key[np.concatenate([[True], key[1:] != key[:-1]])]
            dst, src = np.divmod(key, max(nn, 1))
            ptr = np.zeros(nn + 1, dtype=np.int64)
            np.cumsum(np.bincount(dst, minlength=nn), out=ptr[1:])
            self._preds = (ptr, src.astype(np.int64))
        return self._preds

    def successors(self):
        """CSR (indptr, indices) of each node's distinct successors, in
        increasing order. The transpose of :meth:`predecessors` by one
        stable sort (O(n + e log e) in NumPy). Cached."""
        if not hasattr(self, "_succs"):
            nn = self.n_nodes
            ptr, idx = self.predecessors()
            dst = np.repeat(np.arange(nn, dtype=np.int64), np.diff(ptr))
            # Stable: each source's successors keep the increasing order of dst.
            by_src = np.argsort(idx, kind="stable")
            sptr = np.zeros(nn + 1, dtype=np.int64)
            np.cumsum(np.bincount(idx, minlength=nn), out=sptr[1:])
            self._succs = (sptr, dst[by_src])
        return self._succs

    def default_order(self):
        """The listed node order, which validation guarantees is valid."""
        return np.arange(self.n_nodes, dtype=np.int64)

    # ------------------------------------------------------------- conversion
    def to_dict(self):
        variables = []
        for v in range(self.n_vars):
            entry = {"size": int(self.var_size[v]), "name": self.var_names[v]}
            if self.var_dtypes[v] is not None:
                entry["dtype"] = self.var_dtypes[v]
            if self.var_shapes[v] is not None:
                entry["shape"] = list(self.var_shapes[v])
            variables.append(entry)
        nodes = []
        for n in range(self.n_nodes):
            ins = [int(v) for v in self.node_inputs(n)]
            outs = [int(v) for v in self.node_outputs(n)]
            node = {"name": self.node_names[n], "inputs": ins, "outputs": outs}
            if self.node_workspace[n]:
                node["workspace"] = int(self.node_workspace[n])
            aliases = {}
            for pos, v in enumerate(outs):
                if self.var_alias_kind[v] != NO_ALIAS:
                    aliases[str(pos)] = {"input": ins.index(int(self.var_alias_of[v])),
                                         "kind": ALIAS_KINDS[self.var_alias_kind[v] - 1]}
            if aliases:
                node["aliases"] = aliases
            if self.node_cost[n] != 1.0:
                cost = float(self.node_cost[n])
                node["cost"] = int(cost) if cost.is_integer() and abs(cost) < 2**53 else cost
            if not self.node_recompute[n]:
                node["recompute"] = False
            nodes.append(node)
        version = VERSION if self.uses_version_2() else 1
        out = {"format": FORMAT, "version": version, "name": self.name,
               "variables": variables, "nodes": nodes,
               "outputs": [int(v) for v in self.outputs]}
        if len(self.orderings):
            out["orderings"] = self.orderings.tolist()
        if self.meta is not None:
            out["meta"] = self.meta
        return out

    def to_json(self, indent=None):
        """The graph as JSON text (RFC 8259: GraphError if `meta` holds a
        NaN or an infinity, which JSON cannot represent)."""
        try:
            return json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        except ValueError:
            raise GraphError("'meta' holds NaN or an infinity, which JSON cannot "
                             "represent") from None

    def save(self, path):
        """Write the graph as UTF-8 JSON; gzipped when `path` ends in ``.gz``."""
        data = self.to_json().encode("utf-8")
        if os.fsdecode(path).endswith(".gz"):
            data = gzip.compress(data, mtime=0)
        with open(path, "wb") as f:
            f.write(data)

    @classmethod
    def from_dict(cls, obj):
        if not isinstance(obj, dict):
            raise GraphError("a graph file must hold a JSON object")
        if obj.get("format") != FORMAT:
            raise GraphError(f"not a lowmem graph: 'format' is {_show(obj.get('format'))}, "
                             f"expected {FORMAT!r}")
        version = obj.get("version")
        if not _is_int(version) or version not in VERSIONS:
            raise GraphError(f"unsupported lowmem-graph version {_show(version)} "
                             f"(this lowmem reads versions {VERSIONS[0]} to {VERSIONS[-1]})")
        unknown = set(obj) - TOP_FIELDS
        if unknown:
            raise GraphError(f"unknown top-level field(s) {_show(sorted(map(str, unknown)))}")
        for field in ("variables", "nodes"):
            if field not in obj:
                raise GraphError(f"missing field {field!r}")
        graph = cls(obj["variables"], obj["nodes"], obj.get("outputs"),
                    obj.get("orderings"), obj.get("name"), meta=obj.get("meta"))
        if version < 2 and graph._first_v2_field is not None:
            n, field = graph._first_v2_field
            raise GraphError(f"node {n}: {field!r} is a version 2 field; this file "
                             f"says version {version}")
        return graph

    @classmethod
    def from_json(cls, text, *, max_bytes=DEFAULT_MAX_INPUT_BYTES):
        """A graph from JSON text: a str, or bytes (UTF-8, possibly gzipped).

        `max_bytes` caps the input: the bytes given and, for gzip, the
        decompressed bytes; for a str, its length in characters. Raises
        GraphError on a bad graph or input over the cap, TypeError or
        ValueError naming `max_bytes` on a bad cap. O(size of the text).
        """
        max_bytes = _check_max_bytes(max_bytes)
        if isinstance(text, (bytes, bytearray, memoryview)):
            data = bytes(text)
            if len(data) > max_bytes:
                raise _too_big(max_bytes)
            text = _decode(_gunzip(data, max_bytes))
            del data
        elif isinstance(text, str):
            if len(text) > max_bytes:
                raise _too_big(max_bytes, f"the text ({len(text):,} characters) is")
        else:
            raise TypeError(f"from_json() needs a str or bytes, got {type(text).__name__}")
        return cls.from_dict(_parse_json(text))

    def __repr__(self):
        return (f"<Graph {self.name!r}: {self.n_nodes} nodes, {self.n_vars} variables, "
                f"{len(self.outputs)} outputs>")


def _one_line(e):
    return " ".join(str(e).split(";")[0].split())


def _refuse_constant(name):
    raise GraphError(f"invalid JSON: {name} is not a JSON number (RFC 8259 has no NaN "
                     "or infinities)")


def _unique_keys(pairs):
    """A JSON object as a dict; GraphError on a repeated key (JSON parsers
    disagree on which one wins, so a file must not depend on it)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise GraphError(f"invalid JSON: duplicate key {_show(key)} in an object")
            seen.add(key)
    return obj


def _parse_json(text):
    """The JSON value of `text`, strictly per RFC 8259 (no NaN or
    Infinity, no repeated keys in an object); GraphError otherwise."""
    try:
        return json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except GraphError:
        raise
    except json.JSONDecodeError as e:
        raise GraphError(f"invalid JSON: {e}") from None
    except RecursionError:
        raise GraphError("invalid JSON: nested too deeply (arrays and objects more than "
                         "about 900 levels deep)") from None
    except ValueError as e:
        # CPython refuses integers of more than 4,300 digits (int_max_str_digits).
        raise GraphError(f"invalid JSON: a number is too long ({_one_line(e)})") from None


# ------------------------------------------------------------------ reading
def _check_max_bytes(max_bytes):
    """`max_bytes` as an int >= 1 (any size: zlib's smaller limit is applied
    where it is called); TypeError or ValueError naming it otherwise."""
    if not _is_int(max_bytes):
        raise TypeError(f"max_bytes must be an integer number of bytes, "
                        f"got {type(max_bytes).__name__}")
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be at least 1, got {_show(max_bytes)}")
    return int(max_bytes)


def _too_big(max_bytes, what="the input is"):
    return GraphError(f"{what} larger than the input size cap of {max_bytes:,} bytes "
                      "(raise it with --max-input-bytes, or max_bytes= in lowmem.load)")


def _read_capped(f, max_bytes, first=_CHUNK):
    """At most max_bytes + 1 bytes from binary stream `f` (one more than the
    cap, so that the caller can tell a file at the cap from a longer one)."""
    chunks, total, want = [], 0, first
    while total <= max_bytes:
        chunk = f.read(min(want, max_bytes + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        want = _CHUNK
    return b"".join(chunks)


def _gunzip(data, max_bytes):
    """`data` decompressed if it starts with the gzip magic bytes (all
    members), else `data`. Never produces more than max_bytes: a gzip bomb
    is refused after max_bytes + 1 bytes of output.

    O(len(data) + output): the input is fed through a memoryview in pieces
    that start small for each member and double while it lasts, so the
    copy zlib makes of the input left over after a member (unused_data) is
    at most about the member's own size plus 256 bytes, however many
    members follow.
    """
    if not data.startswith(_GZIP_MAGIC):
        return data
    view, end = memoryview(data), len(data)
    out, total, pos = [], 0, 0
    while pos < end:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        feed = _FIRST_FEED
        try:
            while not d.eof:
                if pos >= end:
                    raise GraphError("truncated gzip data")
                piece = view[pos:pos + feed]
                pos += len(piece)
                feed = min(2 * feed, _CHUNK)
                while piece:
                    # zlib takes at most sys.maxsize; a larger cap is never reached.
                    chunk = d.decompress(piece, min(max_bytes + 1 - total, sys.maxsize))
                    out.append(chunk)
                    total += len(chunk)
                    if total > max_bytes:
                        raise _too_big(max_bytes, "decompressed, the input is")
                    piece = d.unconsumed_tail
        except zlib.error as e:
            raise GraphError(f"corrupt gzip data ({e})") from None
        pos -= len(d.unused_data)
        nonzero = _NONZERO.search(data, pos)     # gzip(1) tolerates zero padding
        pos = nonzero.start() if nonzero else end
    return b"".join(out)


def _decode(data):
    """UTF-8 text of `data` (strict; a leading byte order mark is dropped)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise GraphError(f"not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
                         "graph files are UTF-8 JSON") from None
    return text[1:] if text.startswith("\ufeff") else text


def read_input(path, max_bytes=DEFAULT_MAX_INPUT_BYTES):
    """The text of a graph file: `path`, or standard input when `path` is "-".

    The one reader behind :func:`load` and the CLI. Refuses anything but a
    regular file (a FIFO, a device such as /dev/zero, a directory) without
    opening it; reads at most `max_bytes` (default 256 MiB) bytes, gunzips
    when the data starts with the gzip magic bytes (capped at `max_bytes`
    again), and decodes UTF-8. Raises GraphError (message without the file
    name). O(bytes read).
    """
    max_bytes = _check_max_bytes(max_bytes)
    if isinstance(path, str) and path == "-":
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:
            raise GraphError("standard input is not available")
        try:
            data = _read_capped(stream, max_bytes)
        except OSError as e:       # e.g. stdin open for writing only
            raise GraphError(f"cannot read: {e.strerror or e}") from None
    else:
        try:
            st = os.stat(path)
            if stat.S_ISDIR(st.st_mode):
                raise GraphError("cannot read: is a directory")
            if not stat.S_ISREG(st.st_mode):
                raise GraphError("cannot read: not a regular file (a FIFO, device or socket); "
                                 "give a file, or '-' for standard input")
            if st.st_size > max_bytes:
                raise _too_big(max_bytes, f"the file ({st.st_size:,} bytes) is")
            # O_NONBLOCK: should a FIFO replace the file after the stat, the
            # open returns at once instead of waiting for a writer.
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                         | getattr(os, "O_CLOEXEC", 0))
            with os.fdopen(fd, "rb") as f:
                if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                    raise GraphError("cannot read: not a regular file")
                data = _read_capped(f, max_bytes, first=st.st_size + 1)
        except OSError as e:
            raise GraphError(f"cannot read: {e.strerror or e}") from None
    if len(data) > max_bytes:
        raise _too_big(max_bytes)
    return _decode(_gunzip(data, max_bytes))


def load(path, max_bytes=DEFAULT_MAX_INPUT_BYTES):
    """Read a graph from a ``lowmem-graph`` JSON file (gzipped or not);
    "-" reads standard input.

    `max_bytes` caps the bytes read and, for gzip, the decompressed bytes
    (default 256 MiB). Raises GraphError (with the file name, unprintable
    characters escaped) if the file is missing, not a regular file, too
    large, not UTF-8 JSON, or holds an invalid graph; TypeError or
    ValueError naming `max_bytes` if it is not an integer >= 1.
    O(file size); the text is freed once parsed.
    """
    label = "<stdin>" if isinstance(path, str) and path == "-" else _printable(os.fsdecode(path))
    try:
        text = read_input(path, max_bytes)
        obj = _parse_json(text)
        del text
        return Graph.from_dict(obj)
    except GraphError as e:
        raise GraphError(f"{label}: {e}") from None
