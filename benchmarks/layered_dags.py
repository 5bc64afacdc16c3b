"""Random layered DAGs after Topoformer's synthetic benchmark (Gagrani et al.,
"Neural Topological Ordering for Computation Graphs", NeurIPS 2022,
appendix A: "layered graphs"), written for lowmem (no code of theirs).

Sources and what is assumed. The appendix's text was not reachable from
the machine this was written on; the three steps below and their parameter
values (w range, s = 0.75, d = 0.2, p = 0.14) follow a public third-party
re-implementation of the paper's algorithms 1-3 (a Task Bench fork's
``generator/gen_new_task.py``, found by code search, which cites the
paper). That implementation also caps a node's inputs at a random 1-9; we
do not (not in the paper's description as summarised there). Our own
choices: the output layer is one of the n nodes (exact node count), the
window of step 2 is shifted to stay inside the smaller layer (the edge
count is kept), and the tensor sizes (below). The edge counts agree with
the paper's published scale: ~5,900-6,900 edges at 1,000 nodes (Moccasin,
Bartan et al. 2023, reports up to 5,875 for its 1,000-node layered graph
from the same generator).

The generator in three steps:

1. Layers. A width parameter w ~ U(0.25, 0.5) gives the number of layers
   L = ceil(sqrt(n * (1/w - 1))); the first layer is one node (the input),
   every further layer gets U{ceil(n/L * (1 - s)), ..., floor(n/L * (1 + s))}
   nodes with s = 0.75 (the spread of layer sizes), until n - 1 nodes are
   placed; the last layer is one node (the output), so there are exactly n.
2. Edges between consecutive layers (sizes a and b): E = round(a * b * d +
   (1 - d) * max(a, b)) with edge density d = 0.2, i.e. between a sparse
   "one edge per node of the larger layer" and a dense bipartite graph. The
   E edges are dealt as evenly as possible over the nodes of the larger
   layer (the remainder to random ones); a node at relative position x in
   its layer links to its count of consecutive nodes of the smaller layer
   centred at the same relative position (a window kept inside the layer),
   so that edges stay local as in a network's layer.
3. Skip connections: ceil(E_total * p / (1 - p)) more edges, p = 0.14 the
   share of skip edges among all edges: a source layer l uniform in
   [0, L - 3] (L counted without the output layer), a target layer uniform
   in [l + 2, L - 1], a source at relative position x ~ U(0, 1) and a target
   at x + 0.2 * U(0, 1) (capped below 1): mostly "forward and a little
   sideways", like the skips of real networks. Repeated edges count once.

Memory: every node produces one tensor and every tensor is counted (the
input layer's node is a node too, so nothing is an uncounted graph input);
the output node's tensor is the graph's output. Tensor sizes are drawn
uniformly from {1, ..., 100} units of 1 KiB. ASSUMED: the paper samples
node memory costs at random but we did not find its exact distribution;
the scale does not change any ratio the benchmark reports.

Deterministic: the same (n, seed) gives the same graph on every machine
(NumPy's legacy RandomState, integer arithmetic for sizes and windows).
"""

import math

import numpy as np

from lowmem import Graph

UNIT = 1024                 # bytes per size unit
SIZE_UNITS = (1, 100)       # tensor size range, units (inclusive)
WIDTH_RANGE = (0.25, 0.5)   # w
LAYER_SPREAD = 0.75         # s
EDGE_DENSITY = 0.2          # d
SKIP_SHARE = 0.14           # p


def _layer_sizes(n, rng):
    w = rng.uniform(*WIDTH_RANGE)
    layers = max(1, math.ceil(math.sqrt(n * (1.0 / w - 1.0))))
    mean = n / layers
    low = max(1, math.ceil(mean * (1 - LAYER_SPREAD)))
    high = max(low, math.floor(mean * (1 + LAYER_SPREAD)))
    sizes, placed = [1], 1
    while placed < n - 1:
        k = min(int(rng.randint(low, high + 1)), n - 1 - placed)
        sizes.append(k)
        placed += k
    sizes.append(1)
    return sizes


def _consecutive_edges(a_nodes, b_nodes, rng):
    """Edges (src, dst) between layer a and the next layer b (step 2)."""
    a, b = len(a_nodes), len(b_nodes)
    big, small = (a_nodes, b_nodes) if a >= b else (b_nodes, a_nodes)
    nb, ns = len(big), len(small)
    total = int(round(a * b * EDGE_DENSITY + (1 - EDGE_DENSITY) * max(a, b)))
    counts = np.full(nb, total // nb, dtype=np.int64)
    counts[rng.permutation(nb)[:total % nb]] += 1
    edges = []
    for i in range(nb):
        k = int(min(counts[i], ns))
        if k == 0:
            continue
        centre = (i * (ns - 1) + (nb - 1) // 2) // (nb - 1) if nb > 1 else (ns - 1) // 2
        start = min(max(centre - (k - 1) // 2, 0), ns - k)
        for j in range(start, start + k):
            s, t = (big[i], small[j]) if a >= b else (small[j], big[i])
            edges.append((s, t))
    return edges


def generate(n, seed):
    """Edges and sizes of one layered DAG with n >= 2 nodes:
    (layers: list of node-id lists, edges: sorted list of (src, dst),
    sizes: int64 array of bytes per node's tensor). Node ids are assigned
    layer by layer, so ascending ids are a valid order.
    O(n + edges) time, after the O(edges log edges) sort."""
    if n < 2:
        raise ValueError("a layered DAG needs at least 2 nodes (input and output)")
    rng = np.random.RandomState(seed)
    sizes_per_layer = _layer_sizes(n, rng)
    layers, first = [], 0
    for k in sizes_per_layer:
        layers.append(list(range(first, first + k)))
        first += k
    edges = set()
    for la, lb in zip(layers, layers[1:]):
        edges.update(_consecutive_edges(la, lb, rng))
    inner = len(layers) - 1            # layers without the output layer
    if inner >= 3:
        for _ in range(math.ceil(len(edges) * SKIP_SHARE / (1 - SKIP_SHARE))):
            ls = int(rng.randint(0, inner - 2))
            lt = int(rng.randint(ls + 2, inner))
            xs = rng.uniform(0.0, 1.0)
            xt = min(xs + 0.2 * rng.uniform(0.0, 1.0), 0.999)
            src = layers[ls][int(xs * len(layers[ls]))]
            dst = layers[lt][int(xt * len(layers[lt]))]
            edges.add((src, dst))
    units = rng.randint(SIZE_UNITS[0], SIZE_UNITS[1] + 1, size=n).astype(np.int64)
    return layers, sorted(edges), units * UNIT


def layered_graph(n, seed):
    """The layered DAG (n, seed) as a lowmem Graph: node i produces variable
    i (named t<i>) and reads the variables of its predecessors; the last
    node's variable is the output. `meta` records the generator and its
    parameters."""
    layers, edges, sizes = generate(n, seed)
    inputs = [[] for _ in range(n)]
    for s, t in edges:
        inputs[t].append(s)
    variables = [{"size": int(sz), "name": f"t{i}"} for i, sz in enumerate(sizes)]
    nodes = [{"name": f"n{i}", "inputs": inputs[i], "outputs": [i]} for i in range(n)]
    meta = {"source": "benchmarks/layered_dags.py",
            "generator": "Topoformer layered graph (Gagrani et al. 2022, appendix A), "
                         "lowmem's implementation",
            "nodes": n, "seed": seed, "layers": len(layers), "edges": len(edges),
            "parameters": {"width_range": list(WIDTH_RANGE), "layer_spread": LAYER_SPREAD,
                           "edge_density": EDGE_DENSITY, "skip_share": SKIP_SHARE,
                           "size_units": list(SIZE_UNITS), "unit_bytes": UNIT}}
    return Graph(variables, nodes, outputs=[n - 1], name=f"layered-{n}-s{seed}", meta=meta)


SIZES = (250, 500, 1000)
SEEDS = (0, 1, 2)


def all_graphs():
    """[(file stem, Graph)] of the benchmark's layered DAGs."""
    return [(f"layered-{n}-s{seed}", layered_graph(n, seed)) for n in SIZES for seed in SEEDS]
