"""Checks shared by the PyTensor tests."""

import lowmem
import lowmem.pytensor as lp


def check_plan(f):
    """The plan applied, and lowmem's model of it as documented: its order
    is a permutation of the compiled graph's nodes, lowmem.peak of it is the
    schedule's peak, and that is no higher than the listed order's."""
    plan = lp.plan(f)
    assert plan is not None
    nodes = f.maker.fgraph.toposort()
    assert sorted(map(id, plan.order)) == sorted(map(id, nodes))
    assert lowmem.peak(plan.translation.graph, plan.schedule.order) == plan.schedule.peak
    assert plan.schedule.peak <= plan.schedule.default_peak
    return plan
