"""A zoo of computation graphs for benchmarking lowmem.

Every generator is deterministic (seeded with :class:`random.Random`) and
returns a :class:`lowmem.Graph` whose variables carry realistic byte sizes
with ``dtype`` and ``shape`` filled in (float32 unless noted). The listed node
order of each graph mimics what Theano's ``fgraph.toposort()`` would give
(breadth-first by dependency level for the synthetic families, construction
order for the networks, backward nodes after the forward ones).

Families
--------
chain            a straight line of elementwise/matmul-like ops
view_chain       a matmul then a line of views (reshapes) of it
wide             one input read by n independent ops, then one join
wide_ring        one input read by n ops, then n ops each reading two of them
diamonds         a chain of diamond blocks (two two-step branches and a join)
fan              one source, ``w`` parallel branches of depth ``d``, a join
layered          random layered DAGs (width <= w, edges to the next layer and
                 occasionally farther), random sizes, views and workspace
randwire         randomly wired networks: a Watts-Strogatz small-world graph
                 oriented low -> high index (as in RandWire), each node
                 aggregate + ReLU + separable conv (im2col workspace) + BN
unet             U-Net encoder/decoder with skip connections, inference and a
                 training step (forward, loss, backward, weight gradients)
transformer      a transformer block (LN, Q/K/V, softmax attention, MLP,
                 residuals), forward or training step; stacked for size
theano           Theano's profiler test graph scaled to k vectors

Registry: :data:`ZOO` (``(family, name, builder)`` with a zero-argument
builder), :data:`LARGE` (the ~5,000-node instances), :data:`STORAGE_LARGE`
(a ~10,000-buffer training step for the storage planner only),
:func:`scaled_theano_family`, :func:`layered_seeds`.

Command line::

    python -m benchmarks.zoo                   # summary of every zoo graph
    python -m benchmarks.zoo --check           # brute-force checks on tiny graphs
    python -m benchmarks.zoo --write-examples  # regenerate lowmem/examples/*.json
"""

import argparse
import math
import os
import random
import sys
from functools import partial

import lowmem
from lowmem._graph import NO_ALIAS
from lowmem._orders import dfs_postorder
from lowmem._units import human_bytes

ITEMSIZE = {"float32": 4, "float64": 8, "int32": 4, "int64": 8, "int8": 1, "uint8": 1}
KiB, MiB = 1024, 1024 * 1024


# ============================================================== graph builder
class Builder:
    """Accumulates variables and nodes in construction (= default) order, and
    can append the backward pass of what it has built (:meth:`backward`).

    Each forward op may carry gradient rules, one per input position:

    ``("pass",)``
        the input's gradient is the output's gradient itself (no node);
    ``("view", opname)``
        a node producing a view of the output gradient (e.g. Subtensor of a
        Join's gradient, the Reshape of a Reshape's);
    ``("node", opname, needs, workspace)``
        a node reading the output gradient and the forward variables in
        ``needs``; ``"out"`` / ``("out", i)`` in ``needs`` name this op's own
        output(s).
    """

    def __init__(self, name):
        self.name = name
        self.variables = []
        self.nodes = []
        self.outputs = []
        self.orderings = []
        self.params = []
        self._requires_grad = []
        self._grad = []          # per node: (rules dict or None, differentiated output position)

    # ---------------------------------------------------------- variables
    def tensor(self, shape, name, dtype="float32"):
        shape = [int(d) for d in shape]
        size = ITEMSIZE[dtype] * math.prod(shape)
        self.variables.append({"size": size, "name": name, "dtype": dtype, "shape": shape})
        self._requires_grad.append(False)
        return len(self.variables) - 1

    def input(self, shape, name, dtype="float32"):
        """A graph input (argument or constant): externally owned."""
        return self.tensor(shape, name, dtype)

    def param(self, shape, name):
        """A trainable weight (a shared variable): a graph input whose gradient
        a training graph computes."""
        v = self.tensor(shape, name)
        self.params.append(v)
        self._requires_grad[v] = True
        return v

    def shape(self, v):
        return tuple(self.variables[v]["shape"])

    def dtype(self, v):
        return self.variables[v]["dtype"]

    # -------------------------------------------------------------- nodes
    def op(self, opname, inputs, out_shapes, label=None, *, workspace=0, aliases=None,
           grads=None, grad_output=0, out_dtypes=None):
        """Append a node; returns the list of its output variable ids.

        ``aliases``: {output position: (input position, "view" | "destroy")}.
        """
        n = len(self.nodes)
        label = label or f"{opname}#{n}"
        outs = []
        for i, shape in enumerate(out_shapes):
            dtype = out_dtypes[i] if out_dtypes else "float32"
            suffix = "" if len(out_shapes) == 1 else f".{i}"
            outs.append(self.tensor(shape, label + suffix, dtype))
        node = {"name": label if opname in label else f"{label}:{opname}",
                "inputs": [int(v) for v in inputs], "outputs": outs}
        if workspace:
            node["workspace"] = int(workspace)
        if aliases:
            node["aliases"] = {str(o): {"input": i, "kind": kind}
                               for o, (i, kind) in aliases.items()}
        self.nodes.append(node)
        needs = any(self._requires_grad[v] for v in inputs)
        for o in outs:
            self._requires_grad[o] = needs
        self._grad.append((grads, grad_output))
        return outs

    def op1(self, *args, **kw):
        (out,) = self.op(*args, **kw)
        return out

    # ----------------------------------------------------------- backward
    def backward(self, loss):
        """Append the backward pass of ``loss`` (a scalar) over every forward
        node built so far; returns the gradients of :attr:`params` (in order,
        those that reach the loss)."""
        n_forward = len(self.nodes)
        one = self.input((), "1.0")
        contrib = {loss: [one]}

        def total(v):
            cs = contrib.get(v, [])
            if len(cs) <= 1:
                return cs[0] if cs else None
            g = self.op1("Elemwise{add}", cs, [self.shape(v)],
                         f"grad({self.variables[v]['name']}).acc")
            contrib[v] = [g]
            return g

        for n in reversed(range(n_forward)):
            rules, gpos = self._grad[n]
            node = self.nodes[n]
            if not rules:
                continue
            g = total(node["outputs"][gpos])
            if g is None:
                continue
            base = node["name"].split(":")[0]
            for pos, rule in sorted(rules.items()):
                x = node["inputs"][pos]
                if not self._requires_grad[x]:
                    continue
                label = f"grad({base})[{pos}]"
                if rule[0] == "pass":
                    gx = g
                elif rule[0] == "view":
                    gx = self.op1(rule[1], [g], [self.shape(x)], label,
                                  aliases={0: (0, "view")})
                else:
                    _, opname, needs, ws = rule
                    ins = [g] + [self._resolve(node, v) for v in needs]
                    gx = self.op1(opname, ins, [self.shape(x)], label, workspace=ws)
                contrib.setdefault(x, []).append(gx)
        return [total(p) for p in self.params if p in contrib]

    @staticmethod
    def _resolve(node, v):
        if v == "out":
            return node["outputs"][0]
        if isinstance(v, tuple) and v[0] == "out":
            return node["outputs"][v[1]]
        return v

    # -------------------------------------------------------------- finish
    def graph(self, outputs):
        """Check the builder's own invariants and return the lowmem.Graph."""
        outputs = list(dict.fromkeys(int(v) for v in outputs))
        readers = {}
        for n, node in enumerate(self.nodes):
            for v in node["inputs"]:
                readers.setdefault(v, set()).add(n)
        out_set = set(outputs)
        producer = {v: n for n, node in enumerate(self.nodes) for v in node["outputs"]}
        for n, node in enumerate(self.nodes):
            for spec in node.get("aliases", {}).values():
                if spec["kind"] != "destroy":
                    continue
                x = node["inputs"][spec["input"]]
                if readers.get(x) != {n} or x in out_set or x not in producer:
                    raise AssertionError(f"{self.name}: node {n} ({node['name']}) destroys "
                                         f"{self.variables[x]['name']}, which others read")
        g = lowmem.Graph(self.variables, self.nodes, outputs, self.orderings, self.name)
        _check_no_dead_nodes(g)
        return g


def _check_no_dead_nodes(g):
    """Every node must feed a graph output (Theano removes dead code)."""
    useful = [False] * g.n_nodes
    stack = [int(g.var_producer[v]) for v in g.outputs if g.var_producer[v] >= 0]
    ptr, idx = g.predecessors()
    while stack:
        n = stack.pop()
        if useful[n]:
            continue
        useful[n] = True
        stack.extend(int(p) for p in idx[ptr[n]:ptr[n + 1]])
    if not all(useful):
        n = useful.index(False)
        raise AssertionError(f"{g.name}: node {n} ({g.node_names[n]}) reaches no output")


def _rows_for(rng, lo_bytes, hi_bytes, row_bytes):
    """A log-uniform random number of rows so rows*row_bytes is in [lo, hi]."""
    b = math.exp(rng.uniform(math.log(lo_bytes), math.log(hi_bytes)))
    return max(1, int(round(b / row_bytes)))


# ================================================================= chain
def chain(n, seed=0):
    """n nodes in a line; random matrix sizes 64 KiB..8 MiB, every fourth
    op elementwise in place."""
    rng = random.Random(seed)
    b = Builder(f"chain_n{n}" + (f"_s{seed}" if seed else ""))
    x = b.input((256, 1024), "x")
    for i in range(n):
        if i % 4 == 3:
            x = b.op1("Elemwise{tanh,inplace}", [x], [b.shape(x)], f"tanh{i}",
                      aliases={0: (0, "destroy")})
        else:
            rows = _rows_for(rng, 64 * KiB, 8 * MiB, 4096)
            x = b.op1("Dot22", [x, b.input((b.shape(x)[1], 1024), f"W{i}")], [(rows, 1024)],
                      f"dot{i}")
    return b.graph([x])


def view_chain(n):
    """A matmul, then n - 1 views each of the one before (reshapes): every
    variable lives in the matmul's buffer, reached through up to n - 1
    alias links (alias resolution's worst case)."""
    b = Builder(f"view_chain_n{n}")
    v = b.op1("Dot22", [b.input((256, 1024), "x"), b.input((1024, 1024), "W")], [(256, 1024)],
              "dot")
    for i in range(1, n):
        v = b.op1("Reshape", [v], [b.shape(v)], f"view{i}", aliases={0: (0, "view")})
    return b.graph([v])


# ================================================================== wide
def wide(n, seed=0):
    """One input read by n independent ops (outputs of 1..16 KiB rows),
    joined by one node: n nodes ready at once (the greedy heuristics' worst
    case)."""
    rng = random.Random(seed)
    b = Builder(f"wide_n{n}" + (f"_s{seed}" if seed else ""))
    x = b.input((1024,), "x")
    outs = [b.op1("Elemwise{mul}", [x], [(rng.randint(1, 16) * 256,)], f"mul{i}")
            for i in range(n)]
    rows = sum(b.shape(v)[0] for v in outs)
    return b.graph([b.op1("Join", outs, [(rows,)], "join")])


def wide_ring(n, seed=0):
    """One input read by n independent ops (outputs of 25..250 rows of 1 KiB),
    then n ops each reading two neighbours' outputs (a ring) and making a
    small graph output: n nodes ready at once, and a search that has work
    to do (the bounds do not prove the heuristics' order)."""
    rng = random.Random(seed)
    b = Builder(f"wide_ring_n{2 * n}" + (f"_s{seed}" if seed else ""))
    x = b.input((256,), "x")
    mids = [b.op1("Elemwise{mul}", [x], [(rng.randint(25, 250), 256)], f"mul{i}")
            for i in range(n)]
    outs = [b.op1("Dot", [mids[i], mids[(i + 1) % n]], [(rng.randint(1, 50), 256)], f"dot{i}")
            for i in range(n)]
    return b.graph(outs)


# ============================================================== diamonds
def diamonds(blocks, seed=0):
    """A chain of diamond blocks: a -> (p1 -> p2), a -> (q1 -> q2),
    (p2, q2) -> join. The first step of each branch is large, the second
    small; the default order is breadth-first (p1, q1, p2, q2, join), which
    holds both large intermediates at once."""
    rng = random.Random(seed)
    b = Builder(f"diamonds_b{blocks}" + (f"_s{seed}" if seed else ""))
    a = b.input((1024, 256), "x")
    for k in range(blocks):
        big = [_rows_for(rng, 1 * MiB, 16 * MiB, 1024) for _ in range(2)]
        small = [_rows_for(rng, 64 * KiB, 1 * MiB, 1024) for _ in range(2)]
        p1 = b.op1("Dot22", [a, b.input((256, 256), f"Wp{k}")], [(big[0], 256)], f"b{k}.p1")
        q1 = b.op1("Dot22", [a, b.input((256, 256), f"Wq{k}")], [(big[1], 256)], f"b{k}.q1")
        p2 = b.op1("Pool", [p1], [(small[0], 256)], f"b{k}.p2")
        q2 = b.op1("Pool", [q1], [(small[1], 256)], f"b{k}.q2")
        rows = _rows_for(rng, 256 * KiB, 2 * MiB, 1024)
        a = b.op1("Elemwise{add}", [p2, q2], [(rows, 256)], f"b{k}.join")
    return b.graph([a])


# =================================================================== fan
def fan(w, d, seed=0):
    """One source, w parallel branches of depth d (random sizes: each branch
    expands then shrinks), and a Join of the branch ends. Default order:
    breadth-first by depth, the worst natural order."""
    rng = random.Random(seed)
    b = Builder(f"fan_w{w}_d{d}" + (f"_s{seed}" if seed else ""))
    x = b.input((512, 256), "x")
    src = b.op1("Dot22", [x, b.input((256, 256), "W0")], [(512, 256)], "source")
    heads = [src] * w
    sizes = []
    for j in range(w):
        peak = _rows_for(rng, 1 * MiB, 16 * MiB, 1024)
        end = _rows_for(rng, 256 * KiB, 4 * MiB, 1024)
        # Geometric ramp from the peak size at depth 0 down to the end size.
        sizes.append([max(1, round(peak * (end / peak) ** (i / max(1, d - 1)))) for i in range(d)])
    for i in range(d):
        for j in range(w):
            op = "CorrMM" if i == 0 else "Elemwise{Composite}"
            ws = sizes[j][i] * 512 if i == 0 and j % 3 == 0 else 0
            heads[j] = b.op1(op, [heads[j]], [(sizes[j][i], 256)], f"br{j}.{i}", workspace=ws)
    join = b.op1("Join", heads, [(sum(s[-1] for s in sizes), 256)], "join")
    return b.graph([join])


# =============================================================== layered
def layered(n, w, seed=0, far=0.15, view_rate=0.05, ws_rate=0.1):
    """A random layered DAG of n nodes: layer widths uniform in 1..w, each
    node reading 1-3 outputs of the previous layer and, with probability
    ``far``, one from an earlier layer; every node feeds a later one except
    the last layer (the graph outputs). Sizes log-uniform 64 KiB..8 MiB;
    some nodes are views of their first input, some have workspace.
    Default order: layer by layer."""
    rng = random.Random(seed)
    b = Builder(f"layered_n{n}_w{w}_s{seed}")
    x = b.input((64, 256), "x")
    layers, left = [], n
    while left > 0:
        width = min(left, rng.randint(1, w))
        layers.append(width)
        left -= width
    # Wire first, build after: inputs[i] lists node ids (in global numbering).
    first = [sum(layers[:l]) for l in range(len(layers))]
    inputs = [[] for _ in range(n)]
    for l in range(1, len(layers)):
        prev = list(range(first[l - 1], first[l - 1] + layers[l - 1]))
        for i in range(first[l], first[l] + layers[l]):
            inputs[i] = rng.sample(prev, min(len(prev), rng.randint(1, 3)))
            if l >= 2 and rng.random() < far:
                ll = rng.randrange(0, l - 1)
                inputs[i].append(first[ll] + rng.randrange(layers[ll]))
    consumed = set(p for ins in inputs for p in ins)
    for l in range(len(layers) - 1):
        for i in range(first[l], first[l] + layers[l]):
            if i not in consumed:
                j = first[l + 1] + rng.randrange(layers[l + 1])
                inputs[j].append(i)
    out_var = {}
    for l in range(len(layers)):
        for i in range(first[l], first[l] + layers[l]):
            ins = [out_var[p] for p in dict.fromkeys(inputs[i])] or [x]
            rows = _rows_for(rng, 64 * KiB, 8 * MiB, 1024)
            if l and rng.random() < view_rate:
                out_var[i] = b.op1("Reshape", ins, [b.shape(ins[0])], f"L{l}.{i}",
                                   aliases={0: (0, "view")})
                continue
            ws = 0
            if rng.random() < ws_rate:
                ws = int(rows * 1024 * rng.uniform(0.25, 2)) // 4 * 4
            op = "CorrMM" if ws else ("Elemwise{Composite}" if len(ins) > 1 else "Dot22")
            out_var[i] = b.op1(op, ins, [(rows, 256)], f"L{l}.{i}", workspace=ws)
    last = len(layers) - 1
    return b.graph([out_var[i] for i in range(first[last], first[last] + layers[last])])


# ============================================================== randwire
def watts_strogatz(n, k, p, rng):
    """Undirected Watts-Strogatz small-world graph as sorted (i, j) pairs,
    i < j: a ring where each node links to its k/2 nearest neighbours on
    each side, each link rewired with probability p to a random node."""
    adj = [set() for _ in range(n)]
    for i in range(n):
        for j in range(1, k // 2 + 1):
            u, v = i, (i + j) % n
            adj[u].add(v)
            adj[v].add(u)
    for j in range(1, k // 2 + 1):
        for u in range(n):
            v = (u + j) % n
            if rng.random() >= p or v not in adj[u] or len(adj[u]) >= n - 1:
                continue
            w = rng.randrange(n)
            while w == u or w in adj[u]:
                w = rng.randrange(n)
            adj[u].discard(v)
            adj[v].discard(u)
            adj[u].add(w)
            adj[w].add(u)
    return sorted((u, v) for u in range(n) for v in adj[u] if u < v)


def _conv(b, x, cout, k, stride, label, groups=1, train=False):
    """CorrMM convolution with 'same' padding. Its workspace is the im2col
    buffer Theano's CorrMM allocates per image: (C_in*k*k, H_out*W_out)."""
    n, c, h, w = b.shape(x)
    ho, wo = -(-h // stride), -(-w // stride)
    weight = b.param((cout, c // groups, k, k), label + ".W")
    ws = 4 * c * k * k * ho * wo
    grads = {0: ("node", "CorrMM_gradInputs", [weight], ws),
             1: ("node", "CorrMM_gradWeights", [x], ws)} if train else None
    return b.op1("CorrMM" if groups == 1 else f"CorrMM{{groups={groups}}}", [x, weight],
                 [(n, cout, ho, wo)], label, workspace=ws, grads=grads)


def _randwire_stage(b, x, n_nodes, k, p, rng, channels, label):
    """One RandWire stage at channels `channels`; the stage's input nodes
    downsample by 2. Returns the stage output (mean of the output nodes)."""
    edges = watts_strogatz(n_nodes, k, p, rng)
    preds = [[] for _ in range(n_nodes)]
    succs = [0] * n_nodes
    for u, v in edges:
        preds[v].append(u)
        succs[u] += 1
    out = [None] * n_nodes
    relu_in = None
    for i in range(n_nodes):
        lab = f"{label}.n{i}"
        if preds[i]:
            ins = [out[j] for j in preds[i]]
            stride = 1
        else:
            ins = [x]
            stride = 2
        if len(ins) > 1:
            mix = b.param((len(ins),), lab + ".mix")
            agg = b.op1("Elemwise{Composite{weighted_sum}}", ins + [mix], [b.shape(ins[0])],
                        lab + ".agg")
            r = b.op1("Elemwise{relu,inplace}", [agg], [b.shape(agg)], lab + ".relu",
                      aliases={0: (0, "destroy")})
        elif preds[i]:
            r = b.op1("Elemwise{relu}", ins, [b.shape(ins[0])], lab + ".relu")
        else:
            # Input nodes all apply ReLU to the stage input: Theano's merge
            # optimizer keeps one such node.
            if relu_in is None:
                relu_in = b.op1("Elemwise{relu}", [x], [b.shape(x)], label + ".in.relu")
            r = relu_in
        cin = b.shape(r)[1]
        dw = _conv(b, r, cin, 3, stride, lab + ".dwconv", groups=cin)
        pw = _conv(b, dw, channels, 1, 1, lab + ".pwconv")
        bn = [b.param((channels,), lab + f".bn.{s}") for s in ("gamma", "beta", "mean", "var")]
        out[i] = b.op1("Elemwise{batchnorm,inplace}", [pw] + bn, [b.shape(pw)], lab + ".bn",
                       aliases={0: (0, "destroy")})
    ends = [out[i] for i in range(n_nodes) if succs[i] == 0]
    return b.op1("Elemwise{mean}", ends, [b.shape(ends[0])], label + ".out")


def randwire(nodes_per_stage=32, stages=3, k=4, p=0.75, seed=0, channels=78,
             batch=8, image=224, full=True, name=None):
    """A RandWire-WS network (inference): conv stem (two stride-2 3x3 convs),
    `stages` random-wired stages with channels doubling, a 1x1 conv to 1280,
    global pooling and a classifier. Without ``full``, only the wired
    stages: from the stem's output (a graph input) to the last stage's
    output, so that the high-resolution stem and the head, whose peaks no
    order changes, do not hide the stages."""
    rng = random.Random(seed)
    b = Builder(name or f"randwire_n{nodes_per_stage}x{stages}_s{seed}"
                + ("" if full else "_stages"))

    def bn(v, label):
        c = b.shape(v)[1]
        ps = [b.param((c,), f"{label}.{s}") for s in ("gamma", "beta", "mean", "var")]
        return b.op1("Elemwise{batchnorm,inplace}", [v] + ps, [b.shape(v)], label,
                     aliases={0: (0, "destroy")})

    if full:
        x = b.input((batch, 3, image, image), "image")
    else:
        image //= 4
        x = b.input((batch, channels, image, image), "stem_out")
    h = x
    if full:
        h = bn(_conv(b, x, channels // 2, 3, 2, "stem.conv1"), "stem.bn1")
        h = b.op1("Elemwise{relu,inplace}", [h], [b.shape(h)], "stem.relu1",
                  aliases={0: (0, "destroy")})
        h = bn(_conv(b, h, channels, 3, 2, "stem.conv2"), "stem.bn2")
    c = channels
    for s in range(stages):
        h = _randwire_stage(b, h, nodes_per_stage, k, p, rng, c, f"stage{s + 3}")
        c *= 2
    if not full:
        return b.graph([h])
    h = b.op1("Elemwise{relu,inplace}", [h], [b.shape(h)], "head.relu",
              aliases={0: (0, "destroy")})
    h = bn(_conv(b, h, 1280, 1, 1, "head.conv"), "head.bn")
    pooled = b.op1("GlobalAvgPool", [h], [(batch, 1280)], "head.pool")
    logits = b.op1("Dot22", [pooled, b.param((1280, 1000), "fc.W")], [(batch, 1000)], "fc")
    return b.graph([logits])


# ================================================================== U-Net
def unet(levels=4, base=32, image=256, batch=1, classes=2, train=False, name=None):
    """U-Net: per level two 3x3 conv + ReLU (in place) then 2x2 max-pool;
    a bottleneck; per decoder level a 2x upsample, a Join with the skip
    connection and two conv + ReLU; a 1x1 conv to class scores. With
    ``train`` the graph is a training step: softmax cross-entropy loss, the
    backward pass and every weight gradient (the outputs)."""
    b = Builder(name or f"unet{'_train' if train else ''}_l{levels}_c{base}_{image}px")
    x = b.input((batch, 1, image, image), "image")

    def conv_relu(v, cout, label):
        y = _conv(b, v, cout, 3, 1, label + ".conv", train=train)
        return b.op1("Elemwise{relu,inplace}", [y], [b.shape(y)], label + ".relu",
                     aliases={0: (0, "destroy")},
                     grads={0: ("node", "Elemwise{relu_grad}", ["out"], 0)})

    skips, h, c = [], x, base
    for lvl in range(levels):
        h = conv_relu(conv_relu(h, c, f"enc{lvl}.a"), c, f"enc{lvl}.b")
        skips.append(h)
        n, ch, hh, ww = b.shape(h)
        h = b.op1("Pool{max,2x2}", [h], [(n, ch, hh // 2, ww // 2)], f"enc{lvl}.pool",
                  grads={0: ("node", "MaxPoolGrad", [h, "out"], 0)})
        c *= 2
    h = conv_relu(conv_relu(h, c, "mid.a"), c, "mid.b")
    for lvl in reversed(range(levels)):
        c //= 2
        n, ch, hh, ww = b.shape(h)
        up = b.op1("Upsample{2x}", [h], [(n, ch, hh * 2, ww * 2)], f"dec{lvl}.up",
                   grads={0: ("node", "Upsample{2x}Grad", [], 0)})
        up = _conv(b, up, c, 1, 1, f"dec{lvl}.upconv", train=train)
        skip = skips[lvl]
        cat = b.op1("Join{axis=1}", [skip, up], [(n, 2 * c, hh * 2, ww * 2)], f"dec{lvl}.join",
                    grads={0: ("view", "Subtensor"), 1: ("view", "Subtensor")})
        h = conv_relu(conv_relu(cat, c, f"dec{lvl}.a"), c, f"dec{lvl}.b")
    logits = _conv(b, h, classes, 1, 1, "head.conv", train=train)
    if not train:
        n, k, hh, ww = b.shape(logits)
        probs = b.op1("Softmax{axis=1}", [logits], [b.shape(logits)], "head.softmax")
        return b.graph([probs])
    n, k, hh, ww = b.shape(logits)
    target = b.input((n, hh, ww), "target", "int32")
    nll, sm, _ = b.op("CrossentropySoftmaxArgmax1Hot", [logits, target],
                      [(n, hh, ww), b.shape(logits), (n, hh, ww)], "loss.xent",
                      out_dtypes=["float32", "float32", "int64"],
                      grads={0: ("node", "CrossentropySoftmax1HotDx", [("out", 1), target], 0)})
    loss = b.op1("Sum{mean}", [nll], [()], "loss",
                 grads={0: ("node", "Elemwise{second}", [], 0)})
    grads = b.backward(loss)
    return b.graph([loss] + grads)


# ============================================================ transformer
def _linear(b, x, dout, label, train):
    """Dot22 then an in-place bias add (what Theano's FAST_RUN makes of x.W+b)."""
    rows, din = b.shape(x)
    w = b.param((din, dout), label + ".W")
    bias = b.param((dout,), label + ".b")
    y = b.op1("Dot22", [x, w], [(rows, dout)], label + ".dot",
              grads={0: ("node", "Dot22{g.W^T}", [w], 0), 1: ("node", "Dot22{x^T.g}", [x], 0)})
    return b.op1("Elemwise{add,inplace}", [y, bias], [(rows, dout)], label + ".bias",
                 aliases={0: (0, "destroy")},
                 grads={0: ("pass",), 1: ("node", "Sum{axis=0}", [], 0)})


def _layer_norm(b, x, label, train):
    rows, d = b.shape(x)
    gamma, beta = b.param((d,), label + ".gamma"), b.param((d,), label + ".beta")
    return b.op1("LayerNorm", [x, gamma, beta], [(rows, d)], label,
                 grads={0: ("node", "LayerNormGrad{x}", [x, gamma], 0),
                        1: ("node", "LayerNormGrad{gamma}", [x], 0),
                        2: ("node", "Sum{axis=0}", [], 0)})


def _transformer_block(b, x, seq, batch, heads, ffn, label, train):
    rows, d = b.shape(x)
    dh = d // heads
    bh = batch * heads
    ln1 = _layer_norm(b, x, label + ".ln1", train)

    def split_heads(v, name, transpose=False):
        r = b.op1("Reshape{4}", [v], [(seq, batch, heads, dh)], f"{label}.{name}.reshape",
                  aliases={0: (0, "view")}, grads={0: ("view", "Reshape{2}")})
        t = b.op1("DimShuffle{1,2,0,3}", [r], [(batch, heads, seq, dh)], f"{label}.{name}.dimshuffle",
                  aliases={0: (0, "view")}, grads={0: ("view", "DimShuffle{2,0,1,3}")})
        c = b.op1("Reshape{3}", [t], [(bh, seq, dh)], f"{label}.{name}.heads",
                  grads={0: ("node", "Reshape{4}", [], 0)})
        if transpose:
            c = b.op1("DimShuffle{0,2,1}", [c], [(bh, dh, seq)], f"{label}.{name}.T",
                      aliases={0: (0, "view")}, grads={0: ("view", "DimShuffle{0,2,1}")})
        return c

    q = split_heads(_linear(b, ln1, d, label + ".q", train), "q")
    k = split_heads(_linear(b, ln1, d, label + ".k", train), "k", transpose=True)
    v = split_heads(_linear(b, ln1, d, label + ".v", train), "v")
    scores = b.op1("BatchedDot", [q, k], [(bh, seq, seq)], label + ".scores",
                   grads={0: ("node", "BatchedDot{g.K}", [k], 0),
                          1: ("node", "BatchedDot{Q^T.g}", [q], 0)})
    scale = b.input((), label + ".scale")
    scaled = b.op1("Elemwise{mul,inplace}", [scores, scale], [(bh, seq, seq)], label + ".scale",
                   aliases={0: (0, "destroy")},
                   grads={0: ("node", "Elemwise{mul}", [scale], 0)})
    probs = b.op1("Softmax", [scaled], [(bh, seq, seq)], label + ".softmax",
                  grads={0: ("node", "SoftmaxGrad", ["out"], 0)})
    ctx = b.op1("BatchedDot", [probs, v], [(bh, seq, dh)], label + ".context",
                grads={0: ("node", "BatchedDot{g.V^T}", [v], 0),
                       1: ("node", "BatchedDot{P^T.g}", [probs], 0)})
    r = b.op1("Reshape{4}", [ctx], [(batch, heads, seq, dh)], label + ".merge.reshape",
              aliases={0: (0, "view")}, grads={0: ("view", "Reshape{3}")})
    t = b.op1("DimShuffle{2,0,1,3}", [r], [(seq, batch, heads, dh)], label + ".merge.dimshuffle",
              aliases={0: (0, "view")}, grads={0: ("view", "DimShuffle{1,2,0,3}")})
    merged = b.op1("Reshape{2}", [t], [(rows, d)], label + ".merge",
                   grads={0: ("node", "Reshape{4}", [], 0)})
    attn = _linear(b, merged, d, label + ".proj", train)
    x = b.op1("Elemwise{add,inplace}", [x, attn], [(rows, d)], label + ".residual1",
              aliases={0: (1, "destroy")}, grads={0: ("pass",), 1: ("pass",)})
    ln2 = _layer_norm(b, x, label + ".ln2", train)
    hdn = _linear(b, ln2, ffn, label + ".fc1", train)
    act = b.op1("Elemwise{gelu}", [hdn], [(rows, ffn)], label + ".gelu",
                grads={0: ("node", "Elemwise{gelu_grad}", [hdn], 0)})
    out = _linear(b, act, d, label + ".fc2", train)
    return b.op1("Elemwise{add,inplace}", [x, out], [(rows, d)], label + ".residual2",
                 aliases={0: (1, "destroy")}, grads={0: ("pass",), 1: ("pass",)})


def transformer(layers=1, seq=128, batch=8, d_model=512, heads=8, ffn=2048, train=False,
                name=None):
    """`layers` stacked transformer blocks (pre-LN) on a (seq*batch, d_model)
    float32 activation; with ``train`` a mean-squared-error loss, the
    backward pass and all weight gradients."""
    dims = "" if (seq, batch, d_model, heads, ffn) == (128, 8, 512, 8, 2048) else \
        f"_t{seq}x{batch}_d{d_model}"
    b = Builder(name or f"transformer{'_train' if train else ''}_L{layers}{dims}")
    x = b.input((seq * batch, d_model), "x")
    h = b.op1("Elemwise{add}", [x, b.param((seq * batch, d_model), "pos_emb")],
              [(seq * batch, d_model)], "embed", grads={0: ("pass",), 1: ("pass",)})
    for i in range(layers):
        h = _transformer_block(b, h, seq, batch, heads, ffn, f"L{i}", train)
    h = _layer_norm(b, h, "ln_f", train)
    if not train:
        return b.graph([h])
    target = b.input(b.shape(h), "target")
    loss = b.op1("MSE", [h, target], [()], "loss",
                 grads={0: ("node", "MSEGrad", [h, target], 0)})
    grads = b.backward(loss)
    return b.graph([loss] + grads)


# ==================================================== Theano profiler graph
def theano_profiling(k, listing="bfs"):
    """Theano's profiler test graph (theano/compile/tests/test_profiling.py)
    scaled to k float32 vectors of 1024 elements:

        z = [outer(x[i], x[i+1]).sum(axis=1) for i in range(k-1)]
          + [x[i] + x[i+1] for i in range(k-1)]

    node for node as Theano 1.0.5 optimises it (5k - 4 nodes): Shape_i{0}
    of each vector (an int64 scalar), then per pair an Alloc of a 1024x1024
    float32 matrix (4 MiB) from the constant 0.0 and two shapes, a Ger
    overwriting it in place (reads the constant 1.0), a Sum(axis=1) to 4
    KiB; then the adds. For k=3 the minimum peak is 4104 KiB.

    ``listing`` is the listed (default) order: "theano" is Theano's own
    ``fgraph.toposort()`` (alloc, ger, sum per pair, then the adds: already
    a minimum-peak order); "bfs" lists the shapes, allocs, gers, sums, then
    the adds, holding all k-1 matrices at once.
    """
    if k < 2:
        raise ValueError("k must be at least 2")
    if listing not in ("bfs", "theano"):
        raise ValueError(f"unknown listing {listing!r}")
    b = Builder(f"theano_profiling_k{k}" + ("_toposort" if listing == "theano" else ""))
    xs = [b.input((1024,), f"val{i}") for i in range(k)]
    zero, one = b.input((), "TensorConstant{0.0}"), b.input((), "TensorConstant{1.0}")
    shapes = {}

    def shape_i(i):
        if i not in shapes:
            shapes[i] = b.op1("Shape_i{0}", [xs[i]], [()], f"shape{i}", out_dtypes=["int64"])
        return shapes[i]

    def alloc(i):
        if i == 0:
            shape_i(1)          # Theano's toposort makes x[1]'s shape before x[0]'s
        return b.op1("Alloc", [zero, shape_i(i), shape_i(i + 1)], [(1024, 1024)], f"alloc{i}")

    def ger(i, m):
        return b.op1("ScipyGer{destructive}", [m, one, xs[i], xs[i + 1]], [(1024, 1024)],
                     f"ger{i}", aliases={0: (0, "destroy")})

    def sum_(i, m):
        return b.op1("Sum{axis=[1]}", [m], [(1024,)], f"sum{i}")

    if listing == "bfs":
        for i in range(k):
            shape_i(i)
        allocs = [alloc(i) for i in range(k - 1)]
        gers = [ger(i, allocs[i]) for i in range(k - 1)]
        sums = [sum_(i, gers[i]) for i in range(k - 1)]
    else:
        sums = [sum_(i, ger(i, alloc(i))) for i in range(k - 1)]
    adds = [b.op1("Elemwise{add,no_inplace}", [xs[i], xs[i + 1]], [(1024,)], f"add{i}")
            for i in range(k - 1)]
    return b.graph(sums + adds)


# ================================================================ registry
ZOO = [
    ("chain", "chain_n64", partial(chain, 64)),
    ("diamonds", "diamonds_b8", partial(diamonds, 8)),
    ("diamonds", "diamonds_b32", partial(diamonds, 32)),
    ("fan", "fan_w4_d3", partial(fan, 4, 3)),
    ("fan", "fan_w8_d4", partial(fan, 8, 4)),
    ("fan", "fan_w16_d3", partial(fan, 16, 3)),
    ("layered", "layered_n30_w6_s0", partial(layered, 30, 6, 0)),
    ("layered", "layered_n100_w6_s1", partial(layered, 100, 6, 1)),
    ("layered", "layered_n200_w8_s0", partial(layered, 200, 8, 0)),
    ("randwire", "randwire_n8x1_s0_stages", partial(randwire, 8, 1, seed=0, full=False)),
    ("randwire", "randwire_n16x3_s1_stages", partial(randwire, 16, 3, seed=1, full=False)),
    ("randwire", "randwire_n32x3_s0", partial(randwire, 32, 3, seed=0)),
    ("unet", "unet_l4_c32_256px", partial(unet, 4, 32, 256)),
    ("unet", "unet_train_l2_c16_64px", partial(unet, 2, 16, 64, train=True)),
    ("unet", "unet_train_l4_c32_256px", partial(unet, 4, 32, 256, train=True)),
    ("transformer", "transformer_L1", partial(transformer, 1)),
    ("transformer", "transformer_train_L1", partial(transformer, 1, train=True)),
    ("transformer", "transformer_train_L2", partial(transformer, 2, train=True)),
    ("theano", "theano_profiling_k3", partial(theano_profiling, 3)),
    ("theano", "theano_profiling_k8", partial(theano_profiling, 8)),
]

# ~5,000-node instances for the "order at least as good as the best heuristic
# in under 1 s" target.
LARGE = [
    ("large", "layered_n5000_w32_s0", partial(layered, 5000, 32, 0)),
    ("large", "randwire_n377x3_s0", partial(randwire, 377, 3, seed=0)),
    ("large", "transformer_train_L62", partial(transformer, 62, train=True)),
]

# A ~10,000-buffer training step (14,992 nodes, 9,997 buffers, ~3,000 live at
# once) for the storage planner's "10,000 buffers in under 100 ms" target
# (benchmarks/run_storage.py); kept out of ZOO and LARGE so that the scheduler
# benchmark does not run it.
STORAGE_LARGE = [
    ("large", "transformer_train_L185", partial(transformer, 185, train=True)),
]


def scaled_theano_family(ks):
    """[(family, name, builder)] for Theano's profiler graph at each k."""
    return [("theano", f"theano_profiling_k{k}", partial(theano_profiling, k)) for k in ks]


def layered_seeds(n=200, w=8, seeds=range(20)):
    """[(family, name, builder)] random layered DAGs over several seeds."""
    return [("layered", f"layered_n{n}_w{w}_s{s}", partial(layered, n, w, s)) for s in seeds]


# ======================================================= orders and checks
def dfs_order(g):
    """The order Theano's C VM really runs (lowmem._orders.dfs_postorder)."""
    return dfs_postorder(g).tolist()


def brute_force_min_peak(g, max_states=2_000_000):
    """Exact minimum peak by dynamic programming over executed sets (the
    downsets of the DAG), written independently of lowmem's model: the
    bytes live after a set S only depend on S. Returns (peak, order).
    Only for small graphs; raises RuntimeError past `max_states`."""
    nn = g.n_nodes
    owner = {}
    for v in range(g.n_vars):
        r = v
        while g.var_alias_kind[r] != NO_ALIAS:
            r = int(g.var_alias_of[r])
        owner[v] = r if g.var_producer[r] >= 0 else None
    bufs = sorted(set(o for o in owner.values() if o is not None))
    outs = set(int(v) for v in g.outputs)
    info = []  # (producer bit, readers mask, pinned, size)
    for r in bufs:
        readers = 0
        pinned = False
        for v in range(g.n_vars):
            if owner[v] != r:
                continue
            pinned |= v in outs
        for n in range(nn):
            if any(owner[int(v)] == r for v in g.node_inputs(n)):
                readers |= 1 << n
        info.append((1 << int(g.var_producer[r]), readers, pinned, int(g.var_size[r])))
    alloc = [0] * nn
    for r, (pbit, _, _, size) in zip(bufs, info):
        alloc[pbit.bit_length() - 1] += size
    ptr, idx = g.predecessors()
    pred_mask = [sum(1 << int(p) for p in idx[ptr[n]:ptr[n + 1]]) for n in range(nn)]

    def live(s):
        return sum(size for pbit, readers, pinned, size in info
                   if s & pbit and (pinned or readers & ~s))

    best = {0: (0, None, None)}  # set -> (peak, previous set, last node)
    frontier = [0]
    for _ in range(nn):
        nxt = {}
        for s in frontier:
            base = live(s)
            pk = best[s][0]
            for n in range(nn):
                bit = 1 << n
                if s & bit or pred_mask[n] & ~s:
                    continue
                t = s | bit
                cand = max(pk, base + alloc[n] + int(g.node_workspace[n]))
                if t not in best or cand < best[t][0]:
                    best[t] = (cand, s, n)
                    nxt[t] = True
        frontier = list(nxt)
        if len(best) > max_states:
            raise RuntimeError(f"{g.name}: more than {max_states} executed sets")
    full = (1 << nn) - 1
    order, s = [], full
    while s:
        _, prev, n = best[s]
        order.append(n)
        s = prev
    return best[full][0], order[::-1]


def all_graphs(include_large=False):
    return ZOO + (LARGE if include_large else [])


# =================================================================== main
def write_examples(folder=None):
    folder = folder or os.path.join(os.path.dirname(lowmem.__file__), "examples")
    os.makedirs(folder, exist_ok=True)
    examples = {
        "theano_profiling_k8.json": theano_profiling(8),
        "unet_train_small.json": unet(2, 8, 32, train=True, name="unet_train_small"),
        "randwire_stage.json": randwire(16, 1, seed=0, full=False, name="randwire_stage"),
    }
    for fname, g in examples.items():
        path = os.path.join(folder, fname)
        with open(path, "w") as f:
            f.write(g.to_json(indent=1))
            f.write("\n")
        back = lowmem.load(path)
        assert back.to_dict() == g.to_dict(), fname
        print(f"wrote {path}: {g.n_nodes} nodes, default peak {human_bytes(lowmem.peak(g))}")


def check():
    """Brute-force checks of the small graphs (and Theano's k=3 figure)."""
    ok = True
    g = theano_profiling(3)
    pk, order = brute_force_min_peak(g)
    assert lowmem.peak(g, order) == pk, "brute force and lowmem.peak disagree"
    print(f"theano_profiling_k3: minimum peak {pk / KiB:g} KiB (expected 4104)")
    ok &= pk == 4104 * KiB
    small = [(f, nm, bld) for f, nm, bld in ZOO + scaled_theano_family([4, 5])
             if nm in ("theano_profiling_k4", "theano_profiling_k5", "fan_w4_d3",
                       "diamonds_b8", "layered_n30_w6_s0")]
    for _, name, build in small:
        g = build()
        try:
            pk, order = brute_force_min_peak(g)
        except RuntimeError as e:
            print(f"{name}: skipped ({e})")
            continue
        model = lowmem.peak(g, order)
        print(f"{name}: {g.n_nodes} nodes, default {human_bytes(lowmem.peak(g))}, "
              f"dfs {human_bytes(lowmem.peak(g, dfs_order(g)))}, minimum {human_bytes(pk)}"
              + ("" if model == pk else f"  MISMATCH: model gives {model} for that order"))
        ok &= model == pk
    return ok


def summary(include_large):
    print(f"{'family':12} {'name':32} {'nodes':>6} {'vars':>6} {'default':>14} {'dfs':>14}")
    for family, name, build in all_graphs(include_large):
        g = build()
        assert g.name == name, (g.name, name)
        print(f"{family:12} {name:32} {g.n_nodes:6d} {g.n_vars:6d} "
              f"{human_bytes(lowmem.peak(g)):>14} {human_bytes(lowmem.peak(g, dfs_order(g))):>14}")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.zoo", description=__doc__.split("\n")[0])
    ap.add_argument("--write-examples", action="store_true",
                    help="write lowmem/examples/*.json")
    ap.add_argument("--check", action="store_true", help="brute-force checks on tiny graphs")
    ap.add_argument("--large", action="store_true", help="include the ~5,000-node graphs")
    args = ap.parse_args(argv)
    if args.write_examples:
        write_examples()
        return 0
    if args.check:
        return 0 if check() else 1
    summary(args.large)
    return 0


if __name__ == "__main__":
    sys.exit(main())
