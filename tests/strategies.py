"""Hypothesis strategies for random valid lowmem graphs (up to 9 nodes).

Nodes are generated in their listed order, each reading earlier variables,
so the listed order is valid by construction. Covered on purpose:

* aliases, "view" and "destroy", of produced variables and of graph inputs,
  chains of aliases (an alias of an alias), several outputs aliasing one input;
* ``orderings`` pairs (always forward in the listed order, so consistent);
* workspace; zero-size variables; several outputs per node; nodes with no
  outputs;
* repeated inputs (a node reading one variable twice or more);
* unused outputs (nobody reads them and they are not graph outputs);
* constant-only nodes (no inputs, or only graph inputs);
* graph outputs that are graph inputs, outputs that are views, duplicate
  entries in the output list.

:func:`graphs` draws a :class:`lowmem.Graph`; :func:`graphs_with_order`
draws a graph and a random valid order of it.
"""

import lowmem
from hypothesis import strategies as st

SIZES = st.sampled_from([0, 1, 2, 3, 4, 5, 7, 8, 10, 16, 25, 64, 100, 1000])
WORKSPACES = st.one_of(st.just(0), st.just(0), SIZES)


@st.composite
def graph_dicts(draw, max_nodes=9, min_nodes=0, max_inputs=3):
    """The JSON-style dict of a random valid graph."""
    n_graph_inputs = draw(st.integers(0, max_inputs))
    variables = [{"size": draw(SIZES), "name": f"in{i}"} for i in range(n_graph_inputs)]
    n_nodes = draw(st.integers(min_nodes, max_nodes))
    nodes = []
    for n in range(n_nodes):
        # Inputs: any earlier variable, repeats allowed; sometimes only graph
        # inputs (or nothing): constant-only nodes.
        if variables and draw(st.integers(0, 9)) > 1:
            pool = range(len(variables))
            if n_graph_inputs and draw(st.integers(0, 9)) == 0:
                pool = range(n_graph_inputs)
            if len(pool):
                ins = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4))
            else:
                ins = []
        else:
            ins = []
        n_out = draw(st.sampled_from([1, 1, 1, 1, 1, 2, 2, 3, 0]))
        outs = list(range(len(variables), len(variables) + n_out))
        node = {"name": f"n{n}", "inputs": ins, "outputs": outs}
        for pos in range(n_out):
            variables.append({"size": draw(SIZES), "name": f"v{len(variables)}"})
        aliases = {}
        if ins:
            for pos in range(n_out):
                if draw(st.integers(0, 9)) < 3:
                    aliases[str(pos)] = {"input": draw(st.integers(0, len(ins) - 1)),
                                         "kind": draw(st.sampled_from(["view", "destroy"]))}
        if aliases:
            node["aliases"] = aliases
        ws = draw(WORKSPACES)
        if ws:
            node["workspace"] = ws
        nodes.append(node)
    outputs = []
    if variables:
        outputs = draw(st.lists(st.integers(0, len(variables) - 1), max_size=4))
    orderings = []
    if n_nodes >= 2:
        pairs = draw(st.lists(st.tuples(st.integers(0, n_nodes - 1), st.integers(0, n_nodes - 1)),
                              max_size=3))
        orderings = [[min(a, b), max(a, b)] for a, b in pairs if a != b]
    return {"format": "lowmem-graph", "version": 1, "name": "random",
            "variables": variables, "nodes": nodes, "outputs": outputs,
            "orderings": orderings}


@st.composite
def graphs(draw, max_nodes=9, min_nodes=0):
    """A random valid lowmem.Graph of at most `max_nodes` nodes."""
    return lowmem.Graph.from_dict(draw(graph_dicts(max_nodes=max_nodes, min_nodes=min_nodes)))


@st.composite
def valid_orders(draw, graph):
    """A random valid order of `graph` (each step picks one ready node)."""
    ptr, idx = graph.predecessors()
    preds = [set(idx[ptr[n]:ptr[n + 1]].tolist()) for n in range(graph.n_nodes)]
    done, order = set(), []
    while len(order) < graph.n_nodes:
        ready = [n for n in range(graph.n_nodes) if n not in done and preds[n] <= done]
        n = draw(st.sampled_from(ready))
        order.append(n)
        done.add(n)
    return order


@st.composite
def graphs_with_order(draw, max_nodes=9, min_nodes=0):
    """(graph, a random valid order of it)."""
    g = draw(graphs(max_nodes=max_nodes, min_nodes=min_nodes))
    return g, draw(valid_orders(g))


def random_graph(rng, n_nodes=60, max_inputs=4, alias_p=0.15, ws_p=0.2, n_orderings=5,
                 max_size=1 << 20):
    """A larger random valid graph from a `random.Random` (no hypothesis).

    Nodes read mostly recent variables (so the graph is deep with several
    branches), with aliases, workspace, orderings and several outputs.
    """
    n_in = rng.randint(1, max_inputs)
    variables = [{"size": rng.randint(0, max_size), "name": f"in{i}"} for i in range(n_in)]
    nodes = []
    for n in range(n_nodes):
        k = rng.choice([0, 1, 1, 2, 2, 2, 3])
        lo = max(0, len(variables) - 12)
        ins = [rng.randrange(lo, len(variables)) if rng.random() < 0.8
               else rng.randrange(len(variables)) for _ in range(k)]
        n_out = rng.choice([1, 1, 1, 1, 2])
        outs = list(range(len(variables), len(variables) + n_out))
        for _ in outs:
            variables.append({"size": rng.randint(0, max_size), "name": f"v{len(variables)}"})
        node = {"name": f"n{n}", "inputs": ins, "outputs": outs}
        if ins and rng.random() < alias_p:
            node["aliases"] = {"0": {"input": rng.randrange(len(ins)),
                                     "kind": rng.choice(["view", "destroy"])}}
        if rng.random() < ws_p:
            node["workspace"] = rng.randint(0, max_size)
        nodes.append(node)
    produced = list(range(n_in, len(variables)))
    outputs = rng.sample(produced, min(len(produced), rng.randint(1, 6)))
    orderings = []
    for _ in range(n_orderings):
        a, b = sorted(rng.sample(range(n_nodes), 2))
        orderings.append([a, b])
    return lowmem.Graph(variables, nodes, outputs=outputs, orderings=orderings,
                        name=f"random{n_nodes}")
