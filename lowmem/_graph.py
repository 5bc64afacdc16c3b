"""The framework-neutral computation graph that lowmem schedules.

A :class:`Graph` is a DAG of nodes (Theano's Apply nodes) over variables
(arrays of a known size in bytes). It is held as flat NumPy arrays in CSR
form and validated on construction, so that everything downstream, the
Cython core in particular, may assume a well-formed graph.

The JSON form (``"format": "lowmem-graph", "version": 1``) is specified in
DESIGN.md; :func:`load` reads it and :meth:`Graph.to_json` writes it.
"""

import json
from collections import deque

import numpy as np

FORMAT = "lowmem-graph"
VERSION = 1
ALIAS_KINDS = ("view", "destroy")

# Totals of bytes must stay far from int64 overflow (the core adds them up).
BYTES_LIMIT = 2**62

# Codes for Graph.var_alias_kind.
NO_ALIAS, VIEW, DESTROY = 0, 1, 2


class GraphError(ValueError):
    """A graph (or a graph file) is malformed; the message names what is wrong."""


def _csr(rows):
    """Flatten a list of integer lists into (indptr, indices) int64 arrays."""
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=indptr[1:])
    indices = np.fromiter((x for r in rows for x in r), dtype=np.int64, count=int(indptr[-1]))
    return indptr, indices


def _is_int(x):
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


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
        ``workspace`` (bytes) and ``aliases`` (output position ->
        ``{"input": input position, "kind": "view" | "destroy"}``).
    outputs : list of int
        Variables the caller receives; their buffers are never freed.
    orderings : list of (int, int)
        Extra ``(before, after)`` node pairs every valid order respects.
    name : str

    Raises
    ------
    GraphError
        On any malformed input, naming the node or variable concerned.

    Attributes (all read-only NumPy arrays unless noted)
    ----------------------------------------------------
    var_size, var_producer (-1 for graph inputs), var_alias_of (the
    variable an output aliases, or -1), var_alias_kind (NO_ALIAS, VIEW,
    DESTROY); node_workspace; in_ptr/in_idx and out_ptr/out_idx (CSR
    inputs and outputs per node, repeats kept); outputs; orderings (m x 2);
    var_names, var_dtypes, var_shapes, node_names (lists).
    """

    def __init__(self, variables, nodes, outputs=(), orderings=(), name="graph"):
        self.name = str(name)
        self._init_variables(variables)
        self._init_nodes(nodes)
        self._init_outputs_and_orderings(outputs, orderings)
        self._check_acyclic_and_default_order()
        total = sum(int(x) for x in self.var_size) + max(map(int, self.node_workspace), default=0)
        if total >= BYTES_LIMIT:
            raise GraphError(f"the graph's variables and workspace add up to {total} bytes; "
                             f"lowmem handles less than 2**62")
        for arr in (self.var_size, self.var_producer, self.var_alias_of, self.var_alias_kind,
                    self.node_workspace, self.in_ptr, self.in_idx, self.out_ptr, self.out_idx,
                    self.outputs, self.orderings):
            arr.setflags(write=False)

    # ------------------------------------------------------------------ build
    def _init_variables(self, variables):
        if not isinstance(variables, (list, tuple)):
            raise GraphError("'variables' must be a list")
        nv = len(variables)
        self.var_size = np.zeros(nv, dtype=np.int64)
        self.var_names, self.var_dtypes, self.var_shapes = [], [], []
        for v, entry in enumerate(variables):
            if _is_int(entry):
                entry = {"size": int(entry)}
            if not isinstance(entry, dict):
                raise GraphError(f"variable {v}: expected a size or an object, got {entry!r}")
            unknown = set(entry) - {"size", "name", "dtype", "shape"}
            if unknown:
                raise GraphError(f"variable {v}: unknown field(s) {sorted(unknown)}")
            label = f"variable {v}" + (f" ({entry['name']!r})" if "name" in entry else "")
            size = entry.get("size")
            if not _is_int(size):
                raise GraphError(f"{label}: size must be an integer number of bytes, got {size!r}")
            if size < 0:
                raise GraphError(f"{label}: negative size {size}")
            if size >= BYTES_LIMIT:
                raise GraphError(f"{label}: size {size} is too large")
            self.var_size[v] = size
            self.var_names.append(str(entry.get("name", f"v{v}")))
            dtype = entry.get("dtype")
            if dtype is not None and not isinstance(dtype, str):
                raise GraphError(f"{label}: dtype must be a string, got {dtype!r}")
            self.var_dtypes.append(dtype)
            shape = entry.get("shape")
            if shape is not None:
                if not isinstance(shape, (list, tuple)) or not all(
                        _is_int(d) or isinstance(d, str) for d in shape):
                    raise GraphError(f"{label}: shape must be a list of integers "
                                     f"(or symbolic names), got {shape!r}")
                shape = tuple(shape)
            self.var_shapes.append(shape)

    def _var_label(self, v):
        return f"variable {v} ({self.var_names[v]!r})"

    def _init_nodes(self, nodes):
        if not isinstance(nodes, (list, tuple)):
            raise GraphError("'nodes' must be a list")
        nv, nn = len(self.var_size), len(nodes)
        self.var_producer = np.full(nv, -1, dtype=np.int64)
        self.var_alias_of = np.full(nv, -1, dtype=np.int64)
        self.var_alias_kind = np.zeros(nv, dtype=np.int8)
        self.node_workspace = np.zeros(nn, dtype=np.int64)
        self.node_names = []
        ins, outs = [], []
        for n, node in enumerate(nodes):
            if not isinstance(node, dict):
                raise GraphError(f"node {n}: expected an object, got {node!r}")
            unknown = set(node) - {"name", "inputs", "outputs", "workspace", "aliases"}
            if unknown:
                raise GraphError(f"node {n}: unknown field(s) {sorted(unknown)}")
            self.node_names.append(str(node.get("name", f"node{n}")))
            label = f"node {n} ({self.node_names[n]!r})"
            node_in, node_out = node.get("inputs", []), node.get("outputs", [])
            for field, ids in (("inputs", node_in), ("outputs", node_out)):
                if not isinstance(ids, (list, tuple)):
                    raise GraphError(f"{label}: '{field}' must be a list of variable ids")
                for v in ids:
                    if not _is_int(v) or not 0 <= v < nv:
                        raise GraphError(f"{label}: {field} refers to unknown variable {v!r}")
            for v in node_out:
                if self.var_producer[v] >= 0:
                    other = int(self.var_producer[v])
                    raise GraphError(f"{label}: {self._var_label(v)} already has producer "
                                     f"node {other} ({self.node_names[other]!r})")
                self.var_producer[v] = n
            ws = node.get("workspace", 0)
            if not _is_int(ws) or ws < 0 or ws >= BYTES_LIMIT:
                raise GraphError(f"{label}: workspace must be a non-negative integer, got {ws!r}")
            self.node_workspace[n] = ws
            self._init_aliases(label, node.get("aliases", {}), node_in, node_out)
            ins.append([int(v) for v in node_in])
            outs.append([int(v) for v in node_out])
        self.in_ptr, self.in_idx = _csr(ins)
        self.out_ptr, self.out_idx = _csr(outs)

    def _init_aliases(self, label, aliases, node_in, node_out):
        if not isinstance(aliases, dict):
            raise GraphError(f"{label}: 'aliases' must be an object")
        for key, spec in aliases.items():
            try:
                pos = int(key)
            except (TypeError, ValueError):
                raise GraphError(f"{label}: alias key {key!r} is not an output position") from None
            if not 0 <= pos < len(node_out):
                raise GraphError(f"{label}: alias for missing output position {pos}")
            if not isinstance(spec, dict) or set(spec) != {"input", "kind"}:
                raise GraphError(f"{label}: alias of output {pos} must be "
                                 "{\"input\": position, \"kind\": \"view\"|\"destroy\"}")
            ipos, kind = spec["input"], spec["kind"]
            if not _is_int(ipos) or not 0 <= ipos < len(node_in):
                raise GraphError(f"{label}: output {pos} aliases missing input position {ipos!r}")
            if kind not in ALIAS_KINDS:
                raise GraphError(f"{label}: output {pos} has unknown alias kind {kind!r}")
            out_var = node_out[pos]
            self.var_alias_of[out_var] = node_in[ipos]
            self.var_alias_kind[out_var] = VIEW if kind == "view" else DESTROY

    def _init_outputs_and_orderings(self, outputs, orderings):
        nv, nn = len(self.var_size), len(self.node_names)
        if not isinstance(outputs, (list, tuple, np.ndarray)):
            raise GraphError("'outputs' must be a list of variable ids")
        for v in outputs:
            if not _is_int(v) or not 0 <= v < nv:
                raise GraphError(f"graph outputs refer to unknown variable {v!r}")
        # Listed order is kept (the depth-first default order visits outputs in it).
        self.outputs = np.array(list(dict.fromkeys(int(v) for v in outputs)), dtype=np.int64)
        pairs = []
        if not isinstance(orderings, (list, tuple, np.ndarray)):
            raise GraphError("'orderings' must be a list of [before, after] node pairs")
        for pair in orderings:
            if (not isinstance(pair, (list, tuple, np.ndarray)) or len(pair) != 2
                    or not all(_is_int(x) for x in pair)):
                raise GraphError(f"ordering {pair!r} is not a [before, after] pair of node ids")
            a, b = int(pair[0]), int(pair[1])
            for x in (a, b):
                if not 0 <= x < nn:
                    raise GraphError(f"ordering [{a}, {b}] refers to unknown node {x}")
            if a == b:
                raise GraphError(f"ordering [{a}, {b}] puts node {a} "
                                 f"({self.node_names[a]!r}) before itself")
            pairs.append((a, b))
        self.orderings = np.array(sorted(set(pairs)), dtype=np.int64).reshape(-1, 2)

    def _check_acyclic_and_default_order(self):
        nn = self.n_nodes
        preds = self.predecessors()
        indeg = np.diff(preds[0]).copy()
        succ_ptr, succ_idx = self.successors()
        queue = deque(np.flatnonzero(indeg == 0).tolist())
        seen = 0
        while queue:
            n = queue.popleft()
            seen += 1
            for s in succ_idx[succ_ptr[n]:succ_ptr[n + 1]]:
                indeg[s] -= 1
                if indeg[s] == 0:
                    queue.append(s)
        if seen < nn:
            stuck = int(np.flatnonzero(indeg > 0)[0])
            raise GraphError(f"the graph has a cycle through node {stuck} "
                             f"({self.node_names[stuck]!r})")
        ptr, idx = preds
        for n in range(nn):
            later = idx[ptr[n]:ptr[n + 1]]
            later = later[later >= n]
            if len(later):
                p = int(later[0])
                raise GraphError(
                    f"node {n} ({self.node_names[n]!r}) is listed before node {p} "
                    f"({self.node_names[p]!r}) that it depends on: the listed node order "
                    "must be a valid order")

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
        """CSR (indptr, indices) of each node's distinct predecessors: the
        producers of its inputs and its ``orderings`` predecessors."""
        if not hasattr(self, "_preds"):
            rows = [set() for _ in range(self.n_nodes)]
            for n in range(self.n_nodes):
                for v in self.node_inputs(n):
                    p = self.var_producer[v]
                    if p >= 0:
                        rows[n].add(int(p))
            for a, b in self.orderings:
                rows[b].add(int(a))
            self._preds = _csr([sorted(r) for r in rows])
        return self._preds

    def successors(self):
        """CSR (indptr, indices) of each node's distinct successors."""
        if not hasattr(self, "_succs"):
            ptr, idx = self.predecessors()
            rows = [[] for _ in range(self.n_nodes)]
            for n in range(self.n_nodes):
                for p in idx[ptr[n]:ptr[n + 1]]:
                    rows[p].append(n)
            self._succs = _csr(rows)
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
            nodes.append(node)
        out = {"format": FORMAT, "version": VERSION, "name": self.name,
               "variables": variables, "nodes": nodes,
               "outputs": [int(v) for v in self.outputs]}
        if len(self.orderings):
            out["orderings"] = self.orderings.tolist()
        return out

    def to_json(self, indent=None):
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, path):
        with open(path, "w") as f:
            f.write(self.to_json())

    @classmethod
    def from_dict(cls, obj):
        if not isinstance(obj, dict):
            raise GraphError("a graph file must hold a JSON object")
        if obj.get("format") != FORMAT:
            raise GraphError(f"not a lowmem graph: 'format' is {obj.get('format')!r}, "
                             f"expected {FORMAT!r}")
        if not _is_int(obj.get("version")) or obj.get("version") != VERSION:
            raise GraphError(f"unsupported lowmem-graph version {obj.get('version')!r} "
                             f"(this lowmem reads version {VERSION})")
        unknown = set(obj) - {"format", "version", "name", "variables", "nodes", "outputs",
                              "orderings"}
        if unknown:
            raise GraphError(f"unknown top-level field(s) {sorted(unknown)}")
        for field in ("variables", "nodes"):
            if field not in obj:
                raise GraphError(f"missing field {field!r}")
        return cls(obj["variables"], obj["nodes"], obj.get("outputs", []),
                   obj.get("orderings", []), obj.get("name", "graph"))

    @classmethod
    def from_json(cls, text):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise GraphError(f"invalid JSON: {e}") from None
        return cls.from_dict(obj)

    def __repr__(self):
        return (f"<Graph {self.name!r}: {self.n_nodes} nodes, {self.n_vars} variables, "
                f"{len(self.outputs)} outputs>")


def load(path):
    """Read a graph from a ``lowmem-graph`` JSON file.

    Raises GraphError (with the file name) if the file is missing, is not
    JSON, or holds an invalid graph.
    """
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise GraphError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise GraphError(f"{path}: not a text file") from None
    try:
        return Graph.from_json(text)
    except GraphError as e:
        raise GraphError(f"{path}: {e}") from None
