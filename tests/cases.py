"""Hand-made graphs with hand-computed peaks, shared by the tests.

Every builder returns a :class:`lowmem.Graph`. Sizes are bytes; KB means
1024 bytes (Theano's profiler unit). The expected numbers are derived in the
docstrings and asserted in test_model.py (reference model and brute force)
and test_schedule.py (the scheduler).
"""

import lowmem

KB = 1024
MiB = 1024 * 1024


def _const(name, size=8):
    return {"size": size, "name": name}


def join_twice():
    """``a = exp(x); b = a * a; join(0, b, b, x)``, x float64 256x1024.

    x, a, b are 2 MiB each, the join output 6 MiB. There is one valid order:
      exp:  0 live + 2 MiB (a)                       = 2 MiB
      mul:  a (2) + b (2)                            = 4 MiB, then a is freed
      join: b (2) + out (6)                          = 8 MiB
    True minimum peak 8 MiB = 8192 KB. Theano's search says 6144 KB because
    it frees b once per occurrence in join's inputs (b twice).
    """
    big = 256 * 1024 * 8
    variables = [
        {"size": big, "name": "x", "dtype": "float64", "shape": [256, 1024]},   # 0 input
        {"size": 1, "name": "axis0", "dtype": "int8", "shape": []},              # 1 constant
        {"size": big, "name": "a", "dtype": "float64", "shape": [256, 1024]},   # 2
        {"size": big, "name": "b", "dtype": "float64", "shape": [256, 1024]},   # 3
        {"size": 3 * big, "name": "j", "dtype": "float64", "shape": [768, 1024]},  # 4
    ]
    nodes = [
        {"name": "exp", "inputs": [0], "outputs": [2]},
        {"name": "mul", "inputs": [2, 2], "outputs": [3]},
        {"name": "join", "inputs": [1, 3, 3, 0], "outputs": [4]},
    ]
    return lowmem.Graph(variables, nodes, outputs=[4], name="join_twice")


JOIN_TWICE_PEAK = 8192 * KB


def exp_sum_plus_alloc(inplace=False):
    """``exp(x).sum() + alloc(0., 512, 512)``, float64, x a 512-vector.

    x and exp(x) are 4 KB, the sum 8 B, the alloc'd matrix and the sum's
    output 2 MiB (512*512*8). Nodes E=exp, S=sum, A=alloc (constant-only
    inputs), D=add; E<S<D, A<D. The add's output is the graph output.

    inplace=False (add allocates its own 2 MiB):
      E S A D: 4096 | 4096+8 | 8+2M | 8+2M+2M      -> 4 MiB + 8
      E A S D: 4096 | 4096+2M | 4096+2M+8 | 8+2M+2M  -> 4 MiB + 8
      A E S D: 2M | 2M+4096 | 2M+4096+8 | 2M+8+2M    -> 4 MiB + 8
      minimum 2*2 MiB + 8 = 4,194,312 B, whatever the order.
    inplace=True (add overwrites the alloc'd matrix: destroy alias):
      E S A D: 4096 | 4104 | 8+2M | 8+2M            -> 2 MiB + 8
      E A S D: 4096 | 4096+2M | 4096+2M+8 | ...     -> 2 MiB + 4104
      A E S D: 2M | 2M+4096 | 2M+4104 | ...         -> 2 MiB + 4104
      minimum 2 MiB + 8 = 2,097,160 B, only with E S A D.
    Theano says 4 KB: it never starts the constant-only alloc node, so it
    never runs the add either.
    """
    vec, mat = 512 * 8, 512 * 512 * 8
    variables = [
        {"size": vec, "name": "x", "dtype": "float64", "shape": [512]},           # 0 input
        _const("zero"), _const("n512a"), _const("n512b"),                       # 1 2 3
        {"size": vec, "name": "exp_x", "dtype": "float64", "shape": [512]},       # 4
        {"size": 8, "name": "sum", "dtype": "float64", "shape": []},              # 5
        {"size": mat, "name": "alloc", "dtype": "float64", "shape": [512, 512]},  # 6
        {"size": mat, "name": "add", "dtype": "float64", "shape": [512, 512]},    # 7
    ]
    add = {"name": "add", "inputs": [5, 6], "outputs": [7]}
    if inplace:
        add["name"] = "add_inplace"
        add["aliases"] = {"0": {"input": 1, "kind": "destroy"}}
    nodes = [
        {"name": "exp", "inputs": [0], "outputs": [4]},
        {"name": "sum", "inputs": [4], "outputs": [5]},
        {"name": "alloc", "inputs": [1, 2, 3], "outputs": [6]},
        add,
    ]
    return lowmem.Graph(variables, nodes, outputs=[7],
                        name="exp_sum_plus_alloc" + ("_inplace" if inplace else ""))


EXP_SUM_PLUS_ALLOC_PEAK = 2 * 2 * MiB + 8            # every order
EXP_SUM_PLUS_ALLOC_INPLACE_PEAK = 2 * MiB + 8        # only E S A D
EXP_SUM_PLUS_ALLOC_INPLACE_DEFAULT = 2 * MiB + 8     # listed order is E S A D


def theano_profiling(k=2):
    """The graph of Theano's profiler test (theano/compile/tests/test_profiling.py).

    Float32 vectors x0..xk of 1024 elements (4 KB each, graph inputs). For
    i < k: Alloc(0, 1024, 1024) -> a 4 MiB matrix (constant-only inputs);
    Ger(A, 1.0, x[i], x[i+1]) overwriting it in place (output aliases A,
    "destroy"); Sum(axis=1) -> 4 KB. Then x[i] + x[i+1] -> 4 KB for i < k.
    The 2k vectors are the outputs. Listed order: all the outer/sum chains,
    then the adds.

    Minimum (k=2): chain 0 peaks at 4096+4 KB, chain 1 at 4096+4+4 KB
    (sum 0 is an output, still live), the adds at most 16 KB: 4104 KB,
    which is what Theano reports ("Minimum peak from all valid apply node
    order is 4104KB"). In general 4096 + 4k KB.
    """
    vec, mat = 1024 * 4, 1024 * 1024 * 4
    variables = []

    def var(size, name, shape, dtype="float32"):
        variables.append({"size": size, "name": name, "dtype": dtype, "shape": shape})
        return len(variables) - 1

    xs = [var(vec, f"x{i}", [1024]) for i in range(k + 1)]
    zero = var(4, "zero", [])
    n1024 = var(8, "n1024", [], "int64")
    one = var(4, "one", [])
    nodes, outputs = [], []
    for i in range(k):
        a = var(mat, f"alloc{i}", [1024, 1024])
        g = var(mat, f"ger{i}", [1024, 1024])
        s = var(vec, f"sum{i}", [1024])
        nodes.append({"name": f"Alloc{i}", "inputs": [zero, n1024, n1024], "outputs": [a]})
        nodes.append({"name": f"Ger{i}", "inputs": [a, one, xs[i], xs[i + 1]], "outputs": [g],
                      "aliases": {"0": {"input": 0, "kind": "destroy"}}})
        nodes.append({"name": f"Sum{i}", "inputs": [g], "outputs": [s]})
        outputs.append(s)
    for i in range(k):
        e = var(vec, f"add{i}", [1024])
        nodes.append({"name": f"Add{i}", "inputs": [xs[i], xs[i + 1]], "outputs": [e]})
        outputs.append(e)
    return lowmem.Graph(variables, nodes, outputs=outputs, name=f"theano_profiling_k{k}")


def theano_profiling_optimised(k=3):
    """Theano's profiler test graph exactly as Theano 1.0.5 optimises it,
    for k vectors (k=3 is the test): node for node the `fgraph.toposort()`
    of the compiled function (dumped with benchmarks/theano_baseline.py).

    Shape_i{0}(x) nodes make int64 scalars (8 B) that feed the Allocs, so
    the Allocs are not constant-only here; the constants 0.0 and 1.0 are
    graph inputs. Toposort for k=3: Shape_i(x1), Shape_i(x0), Alloc0,
    Ger0, Sum0, Shape_i(x2), Alloc1, Ger1, Sum1, Add0, Add1. Outputs: the
    sums, then the adds. Theano reports a minimum peak of 4104 KB (k=3):
    4 MiB + 2 x 4 KB exactly; in general 4096 + 4(k-1) KB.
    """
    vec, mat = 1024 * 4, 1024 * 1024 * 4
    variables = []

    def var(size, name, shape, dtype="float32"):
        variables.append({"size": size, "name": name, "dtype": dtype, "shape": shape})
        return len(variables) - 1

    xs = [var(vec, f"val{i}", [1024]) for i in range(k)]
    zero, one = var(4, "zero", []), var(4, "one", [])
    nodes, sums, adds = [], [], []
    shape_of = {}

    def shape_i(i):
        if i not in shape_of:
            shape_of[i] = var(8, f"shape{i}", [], "int64")
            nodes.append({"name": f"Shape_i{{0}}(val{i})", "inputs": [xs[i]],
                          "outputs": [shape_of[i]]})
        return shape_of[i]

    for i in range(k - 1):
        # Theano's toposort makes the shape of x[i+1] first for the first pair.
        rows, cols = (shape_i(i + 1), shape_i(i))[::-1] if i == 0 else (shape_i(i), shape_i(i + 1))
        a = var(mat, f"alloc{i}", [1024, 1024])
        g = var(mat, f"ger{i}", [1024, 1024])
        s = var(vec, f"sum{i}", [1024])
        nodes.append({"name": f"Alloc{i}", "inputs": [zero, rows, cols], "outputs": [a]})
        nodes.append({"name": f"ScipyGer{{destructive}}{i}", "inputs": [a, one, xs[i], xs[i + 1]],
                      "outputs": [g], "aliases": {"0": {"input": 0, "kind": "destroy"}}})
        nodes.append({"name": f"Sum{{axis=[1]}}{i}", "inputs": [g], "outputs": [s]})
        sums.append(s)
    for i in range(k - 1):
        e = var(vec, f"add{i}", [1024])
        nodes.append({"name": f"Elemwise{{add}}{i}", "inputs": [xs[i], xs[i + 1]], "outputs": [e]})
        adds.append(e)
    return lowmem.Graph(variables, nodes, outputs=sums + adds,
                        name=f"theano_profiling_optimised_k{k}")


def theano_profiling_peak(k=2):
    return (4096 + 4 * k) * KB


THEANO_PROFILING_PEAK = 4104 * KB


def view_keeps_buffer_alive():
    """``a = f(x) (100 B); v = view(a); w = g(v) (10 B); y = h(x) (1000 B)``.

    Listed order f, view, g, h (outputs w, y):
      f: 100 | view: 100 (allocates nothing) | g: 100+10, a freed after g
      h: 10+1000 = 1010.
    a is freed after g (the last reader of its view), not after `view` (a's
    last direct reader).
    """
    variables = [{"size": 5, "name": "x"}, {"size": 100, "name": "a"},
                 {"size": 77, "name": "v"}, {"size": 10, "name": "w"},
                 {"size": 1000, "name": "y"}]
    nodes = [
        {"name": "f", "inputs": [0], "outputs": [1]},
        {"name": "view", "inputs": [1], "outputs": [2], "aliases": {"0": {"input": 0, "kind": "view"}}},
        {"name": "g", "inputs": [2], "outputs": [3]},
        {"name": "h", "inputs": [0], "outputs": [4]},
    ]
    return lowmem.Graph(variables, nodes, outputs=[3, 4], name="view_alive")


def all_orders_example():
    """Two independent chains; orders matter. Used for order-validation tests.

    n0: x -> a (100); n1: a -> b (1); n2: x -> c (50); n3: c, b -> d (1), output d.
    A B C D: 100 | 100+1, a freed | 1+50 | 51+1        -> 101 (the minimum)
    C A B D: 50 | 150 | ...                             -> 151
    A C B D: 100 | 150 | ...                            -> 151
    """
    variables = [{"size": 3, "name": "x"}, {"size": 100, "name": "a"}, {"size": 1, "name": "b"},
                 {"size": 50, "name": "c"}, {"size": 1, "name": "d"}]
    nodes = [
        {"name": "A", "inputs": [0], "outputs": [1]},
        {"name": "B", "inputs": [1], "outputs": [2]},
        {"name": "C", "inputs": [0], "outputs": [3]},
        {"name": "D", "inputs": [3, 2], "outputs": [4]},
    ]
    return lowmem.Graph(variables, nodes, outputs=[4], name="two_chains")


ALL_CASES = {
    "join_twice": (join_twice, JOIN_TWICE_PEAK),
    "exp_sum_plus_alloc": (exp_sum_plus_alloc, EXP_SUM_PLUS_ALLOC_PEAK),
    "exp_sum_plus_alloc_inplace": (lambda: exp_sum_plus_alloc(inplace=True),
                                   EXP_SUM_PLUS_ALLOC_INPLACE_PEAK),
    "theano_profiling": (theano_profiling, THEANO_PROFILING_PEAK),
    "theano_profiling_k3": (lambda: theano_profiling(3), theano_profiling_peak(3)),
    "view_keeps_buffer_alive": (view_keeps_buffer_alive, 1010),
    "two_chains": (all_orders_example, 101),
}
"""name -> (builder, true minimum peak in bytes or None)."""
