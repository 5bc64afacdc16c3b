"""The issue-9 benchmark graph files and the helpers of benchmarks/run_networks.py:
every committed graph loads and is valid (and its listed order is a valid
order, by Graph's own validation); the layered generator is deterministic per
seed, matches its committed files and keeps the paper's structure; the
runner's own Stack VM order agrees with the library's and is a valid order."""

import glob
import os

import numpy as np
import pytest
from hypothesis import given, settings

import lowmem
from lowmem import _orders

from benchmarks import layered_dags, run_networks
from tests.strategies import graphs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRAPH_FILES = sorted(glob.glob(os.path.join(ROOT, "benchmarks", "graphs", "*.json.gz")))


def test_graph_files_exist():
    names = {os.path.basename(p) for p in GRAPH_FILES}
    for n in layered_dags.SIZES:
        for s in layered_dags.SEEDS:
            assert f"layered-{n}-s{s}.json.gz" in names


@pytest.mark.parametrize("path", GRAPH_FILES, ids=os.path.basename)
def test_graph_file_loads_and_is_valid(path):
    assert os.path.getsize(path) < 2_500_000          # modest files
    g = lowmem.load(path)                             # validates (raises GraphError)
    assert g.n_nodes > 0 and isinstance(g.meta, dict) and g.meta.get("nodes") == g.n_nodes
    # The listed order and the structural orders are valid and evaluate alike
    # in the reference model and the core.
    for order in (np.arange(g.n_nodes), _orders.dfs_postorder(g),
                  run_networks.stack_vm_order(g)):
        assert sorted(order) == list(range(g.n_nodes))
        assert lowmem.peak(g, order) == run_networks.order_peak(g, order)
    if not os.path.basename(path).startswith("layered"):
        for key in ("net", "mode", "batch", "image_size", "theano"):
            assert key in g.meta, key
        assert g.meta["nodes"] >= 100


@pytest.mark.parametrize("n", layered_dags.SIZES)
def test_layered_deterministic_and_matches_committed(n):
    for seed in layered_dags.SEEDS:
        a, b = layered_dags.layered_graph(n, seed), layered_dags.layered_graph(n, seed)
        assert a.to_dict() == b.to_dict()
        committed = lowmem.load(os.path.join(ROOT, "benchmarks", "graphs",
                                              f"layered-{n}-s{seed}.json.gz"))
        assert committed.to_dict() == a.to_dict()
    assert layered_dags.layered_graph(n, 0).to_dict() != layered_dags.layered_graph(n, 1).to_dict()


@pytest.mark.parametrize("n,seed", [(2, 0), (3, 5), (40, 1), (250, 2), (1000, 0)])
def test_layered_structure(n, seed):
    layers, edges, sizes = layered_dags.generate(n, seed)
    assert [v for layer in layers for v in layer] == list(range(n))
    assert len(layers[0]) == 1 and len(layers[-1]) == 1
    layer_of = {v: i for i, layer in enumerate(layers) for v in layer}
    assert len(set(edges)) == len(edges)
    for s, t in edges:                    # forward edges only: a DAG, ids in order
        assert layer_of[s] < layer_of[t]
    consecutive = [(s, t) for s, t in edges if layer_of[t] == layer_of[s] + 1]
    # Every node of every inner consecutive pair of layers is connected
    # (each node of the larger layer gets at least one edge).
    for i in range(len(layers) - 1):
        a, b = layers[i], layers[i + 1]
        touched = {s for s, t in consecutive if layer_of[s] == i} | \
                  {t for s, t in consecutive if layer_of[t] == i + 1}
        assert set(a if len(a) >= len(b) else b) <= touched
    assert sizes.min() >= layered_dags.UNIT and sizes.max() <= 100 * layered_dags.UNIT
    g = layered_dags.layered_graph(n, seed)
    assert list(g.outputs) == [n - 1] and g.n_vars == n


@settings(max_examples=150, deadline=None)
@given(graphs(max_nodes=9))
def test_stack_vm_order_matches_library(g):
    order = run_networks.stack_vm_order(g)
    assert sorted(order.tolist()) == list(range(g.n_nodes))
    lowmem.peak(g, order)                 # raises OrderError on an invalid order
    if hasattr(_orders, "structural_orders"):
        lib = _orders.structural_orders(g)["dfs_reversed"]
        assert order.tolist() == list(lib)


def test_runner_end_to_end(tmp_path):
    names = ["layered-250-s0", "layered-250-s1"]
    rc = run_networks.main(["--time-limits", "0.05", "0.1", "--graphs", *names,
                            "--out", str(tmp_path)])
    assert rc == 0
    import json
    res = json.loads((tmp_path / "networks.json").read_text())
    assert [r["name"] for r in res["rows"]] == names
    for r in res["rows"]:
        g = lowmem.load(os.path.join(ROOT, "benchmarks", "graphs", r["name"] + ".json.gz"))
        assert r["first_order_peaks"]["listed"] == lowmem.peak(g, np.arange(g.n_nodes))
        for run in r["runs"].values():
            assert run["order_peak"] == run["peak"] >= run["lower_bound"]
    assert (tmp_path / "networks.md").read_text().count("| layered-250-s") == 2
    assert res["targets"]["lowmem_le_first_orders"]["of"] == 4


def test_runner_help_and_bad_name(capsys):
    with pytest.raises(SystemExit) as e:
        run_networks.main(["--help"])
    assert e.value.code == 0
    assert "--time-limits" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        run_networks.main(["--graphs", "no-such-graph"])
    assert e.value.code == 2
