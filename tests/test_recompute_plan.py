"""lowmem.schedule(graph, memory_budget=...) (issue 13): orders that run
nodes again to fit a budget, checked against the reference model and the
exact least added cost of tests/bruteforce.min_added_cost."""

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import lowmem
from lowmem._model import check_order

import bruteforce as bf
import strategies as gs
from test_recompute_model import _random_alias_free, chain_with_skip


def test_hand_example():
    g = chain_with_skip()
    s = lowmem.schedule(g, memory_budget=9)
    assert s.order.tolist() == [0, 1, 2, 0, 3] and s.peak == 9
    r = s.recompute
    assert r.fits and r.added_cost == 2.5 and r.reruns == {0: 1} and r.best_peak == 12
    # The budget is below the proven single-run minimum (12): one rerun at
    # least, and A (cost 2.5) is not the cheapest node, so not proven.
    assert r.cost_lower_bound == 1.0 and not s.optimal
    assert s.lower_bound == r.memory_lower_bound == 9
    d = s.to_dict()["recompute"]
    assert d["reruns"] == {"0": 1} and d["memory_budget"] == 9


def test_a_budget_the_best_order_meets_adds_nothing():
    g = chain_with_skip()
    s = lowmem.schedule(g, memory_budget=0.99)       # 0.99 x 12 = 11 bytes
    assert s.recompute.memory_budget == 11 and s.recompute.fits and s.peak <= 11
    s = lowmem.schedule(g, memory_budget=12)
    assert s.recompute.added_cost == 0 and s.optimal and sorted(s.order) == [0, 1, 2, 3]


def test_a_budget_below_every_order_says_so_with_the_lowest_peak_found():
    g = chain_with_skip()
    s = lowmem.schedule(g, memory_budget=5)
    assert not s.recompute.fits and s.peak == 9 and s.recompute.memory_lower_bound == 9
    assert lowmem.peak(g, s.order) == s.peak and not s.optimal


@pytest.mark.parametrize("bad,error", [
    (True, TypeError), ("1", TypeError), (-1, ValueError), (0.0, ValueError),
    (float("nan"), ValueError), (float("inf"), ValueError), (2**62, ValueError)])
def test_bad_budgets(bad, error):
    with pytest.raises(error, match="memory_budget"):
        lowmem.schedule(chain_with_skip(), memory_budget=bad)


def test_against_the_exact_least_added_cost():
    rng = random.Random(11)
    cases = proven = 0
    for _ in range(250):
        d = dict(_random_alias_free(rng, rng.randint(2, 6)).to_dict(), version=2)
        for node in d["nodes"]:
            node["cost"] = rng.choice([0.5, 1, 2, 3])
        g = lowmem.Graph.from_dict(d)
        best = bf.min_peak(g)
        for budget in range(best - 1, max(best - 12, -1), -1):
            exact = bf.min_added_cost(g, budget)
            s = lowmem.schedule(g, memory_budget=budget, time_limit=0.2)
            r = s.recompute
            assert lowmem.peak(g, s.order) == s.peak
            assert s.lower_bound <= s.peak
            if exact is None:
                assert not r.fits and s.peak > budget
                continue
            cases += 1
            assert s.lower_bound <= budget
            assert r.cost_lower_bound <= exact[0] + 1e-9
            if r.fits:
                assert s.peak <= budget and r.added_cost >= exact[0] - 1e-9
                if s.optimal:
                    proven += 1
                    assert abs(r.added_cost - exact[0]) < 1e-9
    assert cases > 40 and proven > 0, (cases, proven)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gs.graphs())
def test_plans_are_valid_orders_with_the_peak_reported(g):
    """Any graph (views, in-place outputs, orderings): whatever the plan,
    it is a valid order with repeats and the model's peak is the one reported."""
    best = lowmem.schedule(g, time_limit=0.1).peak
    for budget in {best, best * 3 // 4, best // 2}:
        s = lowmem.schedule(g, memory_budget=budget, time_limit=0.1)
        check_order(g, s.order, repeats=True)
        assert lowmem.peak(g, s.order) == s.peak
        assert s.recompute.fits == (s.peak <= budget)
        assert s.lower_bound <= s.peak
        counts = np.bincount(s.order, minlength=g.n_nodes) - 1
        assert s.recompute.reruns == {n: int(c) for n, c in enumerate(counts) if c}


# --------------------------------------------------------------- the CLI
def _cli(capsys, *args):
    from lowmem._cli import main
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_memory_budget_in_bytes_and_as_a_ratio(capsys, tmp_path):
    import json
    path = tmp_path / "g.json"
    chain_with_skip().save(str(path))
    status, out, err = _cli(capsys, "schedule", str(path), "--memory-budget", "9", "--json")
    r = json.loads(out)
    assert status == 0 and err == "" and r["order"] == [0, 1, 2, 0, 3] and r["peak"] == 9
    assert r["recompute"]["added_cost"] == 2.5 and r["recompute"]["fits"]
    status, out, _ = _cli(capsys, "schedule", str(path), "--memory-budget", "0.75")
    assert status == 0 and "memory budget:   9 B: met" in out and "node 0 (A)" in out
    status, out, _ = _cli(capsys, "schedule", str(path), "--memory-budget", "0.5")
    assert status == 1 and "NOT met: the lowest peak found is 9 B" in out


@pytest.mark.parametrize("value,words", [
    ("-1", "at least 0"), ("abc", "expected a number"), ("0.0", "ratio must be"),
    ("inf", "ratio must be")])
def test_cli_bad_memory_budget(capsys, tmp_path, value, words):
    path = tmp_path / "g.json"
    chain_with_skip().save(str(path))
    status, out, err = _cli(capsys, "schedule", str(path), "--memory-budget", value)
    assert status == 2 and out == "" and words in err and err.count("\n") == 1


def test_without_repeatable_nodes_the_single_run_bound_holds():
    d = dict(chain_with_skip().to_dict(), version=2)
    for node in d["nodes"]:
        node["recompute"] = False
    g = lowmem.Graph.from_dict(d)
    s = lowmem.schedule(g, memory_budget=9)
    assert not s.recompute.fits and s.peak == 12
    assert s.lower_bound == s.recompute.memory_lower_bound == 12
    assert s.recompute.cost_lower_bound == float("inf") and not s.optimal
