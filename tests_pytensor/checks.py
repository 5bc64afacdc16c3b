"""Checks shared by the PyTensor tests."""

import lowmem
import lowmem.pytensor as lp
from lowmem.pytensor._linker import worth_running


def check_plan(f):
    """The plan applied, and lowmem's model of it as documented: its order
    is a permutation of the compiled graph's nodes; lowmem.peak of the
    search's order is the schedule's peak, no higher than the listed
    order's; the order run is no higher than the listed order, and is the
    search's when that one saves enough (worth_running), else the listed
    one."""
    plan = lp.plan(f)
    assert plan is not None
    nodes = f.maker.fgraph.toposort()
    assert sorted(map(id, plan.order)) == sorted(map(id, nodes))
    graph = plan.translation.graph
    assert lowmem.peak(graph, plan.schedule.order) == plan.schedule.peak
    assert plan.schedule.peak <= plan.schedule.default_peak
    assert plan.peak == lowmem.peak(graph, plan.order_ids)
    assert plan.listed_peak == lowmem.peak(graph)
    assert plan.peak <= plan.listed_peak
    # the search's order runs when, and only when, it saves enough
    runs_search = worth_running(plan.schedule.peak, plan.listed_peak)
    want = list(plan.schedule.order) if runs_search else list(range(len(nodes)))
    assert [int(i) for i in plan.order_ids] == [int(i) for i in want]
    return plan
