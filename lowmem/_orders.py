"""Structural orders of a graph that need no memory figures."""

import numpy as np


def dfs_postorder(graph):
    """Depth-first post-order from the graph outputs: each node's
    ``orderings`` predecessors first (in listed order), then its inputs
    first to last, as Theano's C VM does (lazylinker_c.c, lazy_rec_eval).

    This is the order Theano's default C VM really runs (DESIGN.md). Nodes
    no output depends on follow, visited the same way in listed order.
    O(nodes + edges), iterative so deep graphs do not hit Python's
    recursion limit.
    """
    n_nodes = graph.n_nodes
    deps = []
    extra = [[] for _ in range(n_nodes)]
    for a, b in graph.orderings:
        extra[b].append(int(a))
    for n in range(n_nodes):
        producers = [int(graph.var_producer[v]) for v in graph.node_inputs(n)]
        deps.append(sorted(set(extra[n])) + [p for p in producers if p >= 0])
    roots = [int(graph.var_producer[v]) for v in graph.outputs if graph.var_producer[v] >= 0]
    roots += range(n_nodes)

    state = np.zeros(n_nodes, dtype=np.int8)     # 0 new, 1 on the stack, 2 done
    order = []
    for root in roots:
        if state[root]:
            continue
        stack = [(root, 0)]
        state[root] = 1
        while stack:
            node, i = stack[-1]
            if i < len(deps[node]):
                stack[-1] = (node, i + 1)
                dep = deps[node][i]
                if not state[dep]:
                    state[dep] = 1
                    stack.append((dep, 0))
            else:
                stack.pop()
                state[node] = 2
                order.append(node)
    return np.array(order, dtype=np.int64)
