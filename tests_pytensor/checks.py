"""Checks shared by the PyTensor tests."""

import lowmem
import lowmem.pytensor as lp


def check_plan(f):
    """The plan applied, and lowmem's model of it as documented: its order
    is a permutation of the compiled graph's nodes; lowmem.peak of the
    search's order is the schedule's peak, no higher than the listed
    order's; the order run, with the backend's release lag, is no higher
    than the listed order with it."""
    plan = lp.plan(f)
    assert plan is not None
    nodes = f.maker.fgraph.toposort()
    assert sorted(map(id, plan.order)) == sorted(map(id, nodes))
    graph = plan.translation.graph
    assert lowmem.peak(graph, plan.schedule.order) == plan.schedule.peak
    assert plan.schedule.peak <= plan.schedule.default_peak
    assert plan.peak == lowmem.peak(graph, plan.order_ids, release_lag=plan.release_lag)
    assert plan.listed_peak == lowmem.peak(graph, release_lag=plan.release_lag)
    assert plan.peak <= plan.listed_peak
    return plan
