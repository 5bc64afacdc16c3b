"""lowmem.Graph: construction, JSON round trip, and every malformed input."""

import json

import numpy as np
import pytest

import cases
import lowmem
from lowmem import Graph, GraphError
from lowmem._graph import DESTROY, NO_ALIAS, VIEW


def simple_dict(**over):
    """x (input) -> A -> a -> B(view) -> b ; output b. A valid base to break."""
    d = {
        "format": "lowmem-graph", "version": 1, "name": "simple",
        "variables": [{"size": 8, "name": "x", "dtype": "float32", "shape": [2]},
                      {"size": 16, "name": "a"},
                      {"size": 16, "name": "b"}],
        "nodes": [{"name": "A", "inputs": [0], "outputs": [1], "workspace": 4},
                  {"name": "B", "inputs": [1], "outputs": [2],
                   "aliases": {"0": {"input": 0, "kind": "view"}}}],
        "outputs": [2],
        "orderings": [[0, 1]],
    }
    d.update(over)
    return d


def raises(obj, *fragments):
    """Assert Graph.from_dict(obj) raises GraphError mentioning all fragments."""
    with pytest.raises(GraphError) as info:
        Graph.from_dict(obj)
    msg = str(info.value)
    for f in fragments:
        assert f in msg, (f, msg)
    assert "\n" not in msg
    return msg


# ------------------------------------------------------------ construction
def test_construct_from_lists():
    g = Graph([8, {"size": 16, "name": "a"}, 4],
              [{"inputs": [0, 0], "outputs": [1]},
               {"name": "second", "inputs": [1], "outputs": [2],
                "aliases": {"0": {"input": 0, "kind": "destroy"}}}],
              outputs=[2], orderings=[(0, 1)], name="lists")
    assert g.name == "lists"
    assert g.n_nodes == 2 and g.n_vars == 3
    assert g.var_size.tolist() == [8, 16, 4]
    assert g.var_producer.tolist() == [-1, 0, 1]
    assert g.var_alias_of.tolist() == [-1, -1, 1]
    assert g.var_alias_kind.tolist() == [NO_ALIAS, NO_ALIAS, DESTROY]
    assert g.node_inputs(0).tolist() == [0, 0]          # repeats kept
    assert g.node_outputs(1).tolist() == [2]
    assert g.outputs.tolist() == [2]
    assert g.orderings.tolist() == [[0, 1]]
    assert g.node_names == ["node0", "second"]
    assert g.var_names == ["v0", "a", "v2"]
    assert g.default_order().tolist() == [0, 1]
    assert g.var_size.dtype == np.int64
    with pytest.raises(ValueError):
        g.var_size[0] = 1                                  # read-only
    ptr, idx = g.predecessors()
    assert idx[ptr[1]:ptr[2]].tolist() == [0]
    ptr, idx = g.successors()
    assert idx[ptr[0]:ptr[1]].tolist() == [1]


def test_construct_numpy_ints_and_tuples():
    g = Graph((np.int64(4), np.int32(8)), ({"inputs": (np.int64(0),), "outputs": (1,)},),
              outputs=np.array([1]))
    assert g.var_size.tolist() == [4, 8]
    assert lowmem.peak(g) == 8


def test_empty_graph():
    g = Graph([], [])
    assert g.n_nodes == 0 and g.n_vars == 0
    assert lowmem.peak(g) == 0
    assert Graph.from_json(g.to_json()).n_nodes == 0


def test_duplicate_outputs_and_orderings_collapsed():
    g = Graph([1, 2], [{"inputs": [0], "outputs": [1]}, {"inputs": [], "outputs": []}],
              outputs=[1, 0, 1], orderings=[[0, 1], [0, 1]])
    assert g.outputs.tolist() == [1, 0]
    assert g.orderings.tolist() == [[0, 1]]


def test_alias_kinds_and_chains():
    g = Graph.from_dict(simple_dict())
    assert g.var_alias_kind.tolist() == [NO_ALIAS, NO_ALIAS, VIEW]
    assert g.var_alias_of.tolist() == [-1, -1, 1]
    assert g.node_workspace.tolist() == [4, 0]
    assert g.var_dtypes == ["float32", None, None]
    assert g.var_shapes == [(2,), None, None]


# ------------------------------------------------------------- round trip
@pytest.mark.parametrize("name", sorted(cases.ALL_CASES))
def test_json_round_trip_cases(name, tmp_path):
    g = cases.ALL_CASES[name][0]()
    text = g.to_json()
    assert json.loads(text)["format"] == "lowmem-graph"
    g2 = Graph.from_json(text)
    assert g2.to_dict() == g.to_dict()
    path = tmp_path / "g.json"
    g.save(str(path))
    g3 = lowmem.load(str(path))
    assert g3.to_dict() == g.to_dict()
    assert g3.name == g.name
    for attr in ("var_size", "var_producer", "var_alias_of", "var_alias_kind", "node_workspace",
                 "in_ptr", "in_idx", "out_ptr", "out_idx", "outputs", "orderings"):
        assert np.array_equal(getattr(g3, attr), getattr(g, attr)), attr
    assert g3.var_shapes == g.var_shapes and g3.var_dtypes == g.var_dtypes
    assert lowmem.peak(g3) == lowmem.peak(g)


def test_round_trip_keeps_everything():
    d = simple_dict()
    g = Graph.from_dict(d)
    out = g.to_dict()
    assert out["format"] == "lowmem-graph" and out["version"] == 1 and out["name"] == "simple"
    assert out["variables"][0] == {"size": 8, "name": "x", "dtype": "float32", "shape": [2]}
    assert out["nodes"][0]["workspace"] == 4
    assert out["nodes"][1]["aliases"] == {"0": {"input": 0, "kind": "view"}}
    assert out["outputs"] == [2]
    assert out["orderings"] == [[0, 1]]
    assert Graph.from_dict(json.loads(json.dumps(out))).to_dict() == out
    assert Graph.from_json(g.to_json(indent=2)).to_dict() == out


def test_optional_fields_default():
    g = Graph.from_dict({"format": "lowmem-graph", "version": 1,
                         "variables": [1], "nodes": [{"outputs": [0]}]})
    assert g.name == "graph"
    assert g.outputs.tolist() == [] and g.orderings.shape == (0, 2)
    assert lowmem.peak(g) == 1


# ---------------------------------------------------- malformed: structure
def test_cycle():
    d = simple_dict(variables=[4, 4, 4],
                    nodes=[{"name": "P", "inputs": [2], "outputs": [1]},
                           {"name": "Q", "inputs": [1], "outputs": [2]}],
                    outputs=[], orderings=[])
    msg = raises(d, "cycle", "node")
    assert "'P'" in msg or "'Q'" in msg


def test_self_loop():
    d = simple_dict(variables=[4], nodes=[{"name": "Loop", "inputs": [0], "outputs": [0]}],
                    outputs=[], orderings=[])
    raises(d, "cycle", "node 0", "'Loop'")


def test_cycle_through_orderings():
    d = simple_dict(orderings=[[1, 0]])
    raises(d, "cycle", "node")


@pytest.mark.parametrize("field", ["inputs", "outputs"])
def test_unknown_variable_in_node(field):
    d = simple_dict()
    d["nodes"][1][field] = [7]
    d["nodes"][1].pop("aliases")
    raises(d, "node 1", "'B'", field, "unknown variable 7")


@pytest.mark.parametrize("bad", [-1, 1.0, "0", None, True])
def test_bad_variable_id_in_node(bad):
    d = simple_dict()
    d["nodes"][0]["inputs"] = [bad]
    raises(d, "node 0", "'A'", "unknown variable", repr(bad))


def test_unknown_output_variable():
    raises(simple_dict(outputs=[3]), "graph outputs", "unknown variable 3")


def test_unknown_node_in_orderings():
    raises(simple_dict(orderings=[[0, 5]]), "ordering", "unknown node 5")


def test_two_producers():
    d = simple_dict()
    d["nodes"][1]["outputs"] = [1]
    d["nodes"][1].pop("aliases")
    raises(d, "node 1", "'B'", "variable 1", "'a'", "already has producer", "node 0", "'A'")


def test_producer_of_itself_output_twice():
    d = simple_dict()
    d["nodes"][0]["outputs"] = [1, 1]
    raises(d, "node 0", "variable 1", "already has producer")


def test_default_order_not_valid():
    d = simple_dict(variables=[4, 4, 4],
                    nodes=[{"name": "late", "inputs": [2], "outputs": [1]},
                           {"name": "early", "inputs": [0], "outputs": [2]}],
                    outputs=[1], orderings=[])
    raises(d, "node 0", "'late'", "node 1", "'early'", "valid order")


def test_ordering_against_listed_order():
    d = simple_dict(variables=[4, 4, 4],
                    nodes=[{"name": "first", "inputs": [0], "outputs": [1]},
                           {"name": "second", "inputs": [0], "outputs": [2]}],
                    outputs=[1, 2], orderings=[[1, 0]])
    raises(d, "node 0", "'first'", "node 1", "'second'", "valid order")


@pytest.mark.parametrize("pair,fragment", [
    ([0], "not a [before, after] pair"),
    ([0, 1, 1], "not a [before, after] pair"),
    ([0, 1.0], "not a [before, after] pair"),
    (["0", "1"], "not a [before, after] pair"),
    ([1, 1], "before itself"),
    ([-1, 1], "unknown node -1"),
])
def test_bad_ordering_pairs(pair, fragment):
    raises(simple_dict(orderings=[pair]), "ordering", fragment)


@pytest.mark.parametrize("pair", [5, None])
def test_ordering_entry_not_a_list(pair):
    raises(simple_dict(orderings=[pair]), "ordering", "not a [before, after] pair")


def test_total_bytes_beyond_the_core_limit():
    # Each size is valid on its own; their sum would overflow the core's int64.
    with pytest.raises(lowmem.GraphError, match="add up to"):
        lowmem.Graph([2**61, 2**61, 2**61],
                     [{"outputs": [0]}, {"outputs": [1]}, {"outputs": [2]}], outputs=[0, 1])


@pytest.mark.parametrize("version", [True, 1.0, "1"])
def test_version_must_be_the_integer_one(version):
    d = simple_dict()
    d["version"] = version
    with pytest.raises(lowmem.GraphError, match="version"):
        lowmem.Graph.from_dict(d)


@pytest.mark.parametrize("field,value", [("orderings", {"0": 1}), ("orderings", 3),
                                         ("outputs", 2), ("outputs", "2"),
                                         ("nodes", {}), ("variables", "abc")])
def test_top_level_fields_of_wrong_type(field, value):
    raises(simple_dict(**{field: value}), field)


# ------------------------------------------------------ malformed: values
@pytest.mark.parametrize("size", [-1, -4096])
def test_negative_size(size):
    d = simple_dict()
    d["variables"][1]["size"] = size
    raises(d, "variable 1", "'a'", "negative size", str(size))


@pytest.mark.parametrize("size", [4.5, 4.0, "4", None, True, [4]])
def test_non_integer_size(size):
    d = simple_dict()
    d["variables"][1]["size"] = size
    raises(d, "variable 1", "'a'", "size must be an integer", repr(size))


def test_missing_size():
    d = simple_dict()
    del d["variables"][2]["size"]
    raises(d, "variable 2", "'b'", "size")


def test_huge_size():
    d = simple_dict()
    d["variables"][0]["size"] = 2**70
    raises(d, "variable 0", "'x'", "too large")


@pytest.mark.parametrize("entry", ["big", 1.5, None, [1]])
def test_variable_entry_not_size_or_object(entry):
    d = simple_dict()
    d["variables"][2] = entry
    raises(d, "variable 2")


def test_variable_unknown_field():
    d = simple_dict()
    d["variables"][1]["bytes"] = 3
    raises(d, "variable 1", "unknown field", "bytes")


@pytest.mark.parametrize("key,value", [("dtype", 3), ("shape", 5), ("shape", [1.5])])
def test_variable_bad_dtype_or_shape(key, value):
    d = simple_dict()
    d["variables"][1][key] = value
    raises(d, "variable 1", "'a'", key)


@pytest.mark.parametrize("ws", [-1, 1.5, "8", True])
def test_bad_workspace(ws):
    d = simple_dict()
    d["nodes"][0]["workspace"] = ws
    raises(d, "node 0", "'A'", "workspace", repr(ws))


def test_node_not_an_object():
    d = simple_dict()
    d["nodes"][1] = [1, 2]
    raises(d, "node 1", "expected an object")


def test_node_unknown_field():
    d = simple_dict()
    d["nodes"][0]["op"] = "Dot"
    raises(d, "node 0", "unknown field", "op")


@pytest.mark.parametrize("value", [5, "0", {"0": 1}])
def test_node_inputs_not_a_list(value):
    d = simple_dict()
    d["nodes"][0]["inputs"] = value
    raises(d, "node 0", "'A'", "inputs")


# ---------------------------------------------------- malformed: aliases
def test_alias_to_missing_input():
    d = simple_dict()
    d["nodes"][1]["aliases"] = {"0": {"input": 3, "kind": "view"}}
    raises(d, "node 1", "'B'", "output 0", "missing input position 3")


def test_alias_of_node_without_inputs():
    d = simple_dict()
    d["nodes"][0]["inputs"] = []
    d["nodes"][0]["aliases"] = {"0": {"input": 0, "kind": "destroy"}}
    raises(d, "node 0", "'A'", "missing input position 0")


def test_alias_for_missing_output():
    d = simple_dict()
    d["nodes"][1]["aliases"] = {"1": {"input": 0, "kind": "view"}}
    raises(d, "node 1", "'B'", "missing output position 1")


@pytest.mark.parametrize("kind", ["inplace", "View", None, 1])
def test_unknown_alias_kind(kind):
    d = simple_dict()
    d["nodes"][1]["aliases"] = {"0": {"input": 0, "kind": kind}}
    raises(d, "node 1", "'B'", "unknown alias kind", repr(kind))


@pytest.mark.parametrize("spec", [{"input": 0}, {"kind": "view"}, 0,
                                  {"input": 0, "kind": "view", "extra": 1}])
def test_malformed_alias_spec(spec):
    d = simple_dict()
    d["nodes"][1]["aliases"] = {"0": spec}
    raises(d, "node 1", "'B'", "alias")


@pytest.mark.parametrize("key", ["x", "1.5", " 0", "+0", "-0", "0_0", "\u0660", "0" * 5000])
def test_alias_key_not_a_position(key):
    d = simple_dict()
    d["nodes"][1]["aliases"] = {key: {"input": 0, "kind": "view"}}
    raises(d, "node 1", "'B'", "not an output position")


@pytest.mark.parametrize("key", ["00", "01", "000"])
def test_alias_key_with_leading_zeros_refused(key):
    # "0" and "00" would both mean output 0, the last silently winning.
    d = simple_dict()
    d["nodes"][1]["aliases"] = {key: {"input": 0, "kind": "view"}}
    raises(d, "node 1", "'B'", "not an output position", "leading zeros")
    text = json.dumps(simple_dict()).replace('"aliases": {"0"', f'"aliases": {{"{key}"')
    with pytest.raises(GraphError, match="not an output position"):
        Graph.from_json(text)


def test_alias_position_given_twice_refused():
    # In Python a dict may hold both 0 and "0".
    d = simple_dict()
    d["nodes"][1]["aliases"] = {0: {"input": 0, "kind": "view"}, "0": {"input": 0, "kind": "view"}}
    raises(d, "node 1", "'B'", "two aliases for output position 0")


def test_aliases_not_an_object():
    d = simple_dict()
    d["nodes"][1]["aliases"] = [0]
    raises(d, "node 1", "'B'", "aliases")


# --------------------------------------------------- malformed: file level
@pytest.mark.parametrize("fmt", ["lowmem", None, "LOWMEM-GRAPH"])
def test_wrong_format(fmt):
    d = simple_dict(format=fmt)
    raises(d, "format", repr(fmt), "lowmem-graph")


def test_missing_format():
    d = simple_dict()
    del d["format"]
    raises(d, "format")


@pytest.mark.parametrize("version", [3, 0, "1", None, 1.5])
def test_wrong_version(version):
    raises(simple_dict(version=version), "version", repr(version))


@pytest.mark.parametrize("field", ["variables", "nodes"])
def test_missing_required_field(field):
    d = simple_dict()
    del d[field]
    raises(d, "missing field", field)


def test_unknown_top_level_field():
    raises(simple_dict(extra=1), "unknown top-level field", "extra")


@pytest.mark.parametrize("obj", [[1, 2], "graph", 3, None])
def test_non_object_json(obj):
    with pytest.raises(GraphError, match="JSON object"):
        Graph.from_json(json.dumps(obj))


@pytest.mark.parametrize("text", ["", "{", "{'format': 1}", "[1,]", "nan nan"])
def test_invalid_json(text):
    with pytest.raises(GraphError, match="invalid JSON"):
        Graph.from_json(text)


def test_load_missing_file(tmp_path):
    path = tmp_path / "nope.json"
    with pytest.raises(GraphError) as info:
        lowmem.load(str(path))
    assert "nope.json" in str(info.value)
    assert "cannot read" in str(info.value)


def test_load_directory(tmp_path):
    with pytest.raises(GraphError, match="cannot read"):
        lowmem.load(str(tmp_path))


def test_load_binary_file(tmp_path):
    path = tmp_path / "bin.json"
    path.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(GraphError) as info:
        lowmem.load(str(path))
    assert "bin.json" in str(info.value)


def test_load_invalid_json_names_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(GraphError) as info:
        lowmem.load(str(path))
    assert "bad.json" in str(info.value) and "invalid JSON" in str(info.value)


def test_load_invalid_graph_names_file_and_variable(tmp_path):
    d = simple_dict()
    d["variables"][1]["size"] = -3
    path = tmp_path / "neg.json"
    path.write_text(json.dumps(d))
    with pytest.raises(GraphError) as info:
        lowmem.load(str(path))
    msg = str(info.value)
    assert "neg.json" in msg and "variable 1" in msg and "negative size" in msg


def test_load_non_object(tmp_path):
    path = tmp_path / "list.json"
    path.write_text("[]")
    with pytest.raises(GraphError, match="list.json.*JSON object"):
        lowmem.load(str(path))


def test_graph_error_is_value_error():
    assert issubclass(GraphError, ValueError)


# ---------------------------------------------------------- byte-total rule
def test_total_just_under_the_limit_accepted():
    # The rule: all sizes plus the largest workspace < 2**62. Just under it
    # is a valid graph, and the reference model handles it exactly.
    big = 2**60
    sizes = [big - 5, big, big, big - 2**20]           # a graph input and three buffers
    nodes = [{"inputs": [0], "outputs": [1], "workspace": 2**20 - 1},
             {"inputs": [1], "outputs": [2], "workspace": 7},
             {"inputs": [2], "outputs": [3]}]
    g = Graph(sizes, nodes, outputs=[3])
    assert sum(sizes) + 2**20 - 1 == 2**62 - 6
    assert lowmem.memory_timeline(g, [0, 1, 2]).tolist() == [big + 2**20 - 1, 2 * big + 7,
                                                          2 * big - 2**20]
    assert lowmem.peak(g) == 2 * big + 7
    with pytest.raises(GraphError, match="add up to 4611686018427387904 bytes"):
        Graph(sizes, [dict(nodes[0], workspace=2**20 + 5)] + nodes[1:], outputs=[3])


# ------------------------------------------------------------------- meta
def test_meta_kept_and_written_back(tmp_path):
    meta = {"source": "resnet50.onnx", "batch": 32, "shapes": {"x": [32, 3, 224, 224]},
            "tags": ["train"], "note": None}
    g = Graph.from_dict(simple_dict(meta=meta))
    assert g.meta == meta
    assert g.to_dict()["meta"] == meta
    assert json.loads(g.to_json())["meta"] == meta
    g.save(str(tmp_path / "m.json"))
    assert lowmem.load(str(tmp_path / "m.json")).meta == meta
    assert Graph.from_dict(simple_dict()).meta is None
    assert "meta" not in Graph.from_dict(simple_dict()).to_dict()
    assert Graph([1], [], meta={"a": 1}).meta == {"a": 1}


@pytest.mark.parametrize("meta", [[1, 2], "resnet", 3, True])
def test_meta_must_be_an_object(meta):
    raises(simple_dict(meta=meta), "'meta' must be an object")


# ------------------------------------------------- null and name types
def test_null_optional_fields_are_absent():
    d = simple_dict(name=None, outputs=None, orderings=None, meta=None)
    d["variables"][1].update(name=None, dtype=None, shape=None)
    d["nodes"][0].update(name=None, workspace=None, inputs=None)
    d["nodes"][1].update(aliases=None)
    g = Graph.from_dict(d)
    assert g.name == "graph" and g.var_names[1] == "v1" and g.node_names[0] == "node0"
    assert g.node_workspace.tolist() == [0, 0] and g.node_inputs(0).tolist() == []
    assert g.outputs.tolist() == [] and g.orderings.shape == (0, 2)
    assert g.var_alias_kind.tolist() == [NO_ALIAS] * 3


@pytest.mark.parametrize("where", ["graph", "variable", "node"])
@pytest.mark.parametrize("name", [3, ["a"], True])
def test_names_must_be_strings(where, name):
    d = simple_dict()
    if where == "graph":
        d["name"] = name
        raises(d, "name must be a string")
    elif where == "variable":
        d["variables"][1]["name"] = name
        raises(d, "variable 1", "name must be a string")
    else:
        d["nodes"][1]["name"] = name
        raises(d, "node 1", "name must be a string")


# --------------------------------------- vectorised path = general path
def general_form(d):
    """The same graph with NumPy integers and tuples, which only the
    per-element path takes."""
    variables = [dict(v, size=np.int64(v["size"])) for v in d["variables"]]
    nodes = [dict(n, inputs=tuple(np.int32(v) for v in n["inputs"])) for n in d["nodes"]]
    return variables, nodes, np.array(d["outputs"], dtype=np.int64), d.get("orderings", [])


ARRAYS = ("var_size", "var_producer", "var_alias_of", "var_alias_kind", "node_workspace",
          "in_ptr", "in_idx", "out_ptr", "out_idx", "outputs", "orderings")


def reference_neighbours(g):
    """Distinct predecessors and successors per node, from sets."""
    preds = [set() for _ in range(g.n_nodes)]
    for n in range(g.n_nodes):
        preds[n] |= {int(g.var_producer[v]) for v in g.node_inputs(n) if g.var_producer[v] >= 0}
    for a, b in g.orderings.tolist():
        preds[b].add(a)
    succs = [set() for _ in range(g.n_nodes)]
    for n, ps in enumerate(preds):
        for p in ps:
            succs[p].add(n)
    return [sorted(p) for p in preds], [sorted(s) for s in succs]


def rows(csr):
    ptr, idx = csr
    assert ptr.dtype == idx.dtype == np.int64 and ptr[0] == 0 and ptr[-1] == len(idx)
    return [idx[ptr[i]:ptr[i + 1]].tolist() for i in range(len(ptr) - 1)]


@pytest.mark.parametrize("seed", range(12))
def test_fast_and_general_paths_agree(seed):
    import random
    from strategies import random_graph
    rng = random.Random(seed)
    d = random_graph(rng, n_nodes=rng.randint(1, 80), n_orderings=rng.randint(0, 9)).to_dict()
    fast = Graph.from_dict(d)
    general = Graph(*general_form(d), name=d["name"])
    assert fast.to_dict() == general.to_dict() == d
    for attr in ARRAYS:
        assert np.array_equal(getattr(fast, attr), getattr(general, attr)), attr
    preds, succs = reference_neighbours(fast)
    assert rows(fast.predecessors()) == rows(general.predecessors()) == preds
    assert rows(fast.successors()) == succs


def test_json_input_takes_the_vectorised_path(monkeypatch):
    # A per-element Python pass over a JSON graph was most of a 13 s load.
    def refuse(*args):
        raise AssertionError("general path used for plain JSON values")

    monkeypatch.setattr(Graph, "_variables_general", refuse)
    monkeypatch.setattr(Graph, "_nodes_general", refuse)
    d = simple_dict()
    d["variables"].append(4)
    d["variables"][0] = {"size": 8, "shape": [2, "n"], "dtype": "float32"}
    g = Graph.from_dict(d)
    assert g.var_shapes[0] == (2, "n") and g.var_size.tolist() == [8, 16, 16, 4]
    assert Graph([1, 2, 3], [{"inputs": [0, 0], "outputs": [1, 2]}], outputs=[2]).n_nodes == 1


def chain_dict(n):
    return {"format": "lowmem-graph", "version": 1,
            "variables": [{"size": 4, "name": f"v{i}"} for i in range(n + 1)],
            "nodes": [{"name": f"op{i}", "inputs": [i], "outputs": [i + 1]} for i in range(n)],
            "outputs": [n]}


@pytest.mark.parametrize("breakage,fragments", [
    (lambda d: d["variables"][700].update(size=-1), ["variable 700", "'v700'", "negative"]),
    (lambda d: d["variables"][900].update(size=True), ["variable 900", "size must be"]),
    (lambda d: d["nodes"][650].update(inputs=[5000]), ["node 650", "'op650'", "unknown variable 5000"]),
    (lambda d: d["nodes"][800].update(outputs=[300]), ["node 800", "variable 300",
                                                      "already has producer node 299"]),
    (lambda d: d["nodes"][420].update(workspace=-2), ["node 420", "workspace"]),
    (lambda d: d["nodes"][420].update(aliases={"0": {"input": 1, "kind": "view"}}),
     ["node 420", "missing input position 1"]),
    (lambda d: (d["variables"].append(4),
                d["nodes"].append({"name": "late", "inputs": [0], "outputs": [1001]}),
                d["nodes"][10].update(inputs=[10, 1001])),
     ["node 10", "'op10'", "listed before", "node 1000", "'late'"]),
    (lambda d: d["nodes"][10].update(inputs=[11]), ["cycle through node"]),
])
def test_errors_name_the_first_offender_in_a_large_graph(breakage, fragments):
    d = chain_dict(1000)
    breakage(d)
    raises(d, *fragments)


def test_first_of_several_bad_entries_reported():
    d = chain_dict(1000)
    d["variables"][900]["size"] = -1
    d["variables"][300]["size"] = "big"
    raises(d, "variable 300")


# ------------------------------------------------------ JSON per RFC 8259
@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_refused(constant):
    text = json.dumps(simple_dict(meta={"x": 1})).replace('{"x": 1}', f'{{"x": {constant}}}')
    with pytest.raises(GraphError, match=f"invalid JSON: {constant} is not a JSON number"):
        Graph.from_json(text)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_infinity_never_written(tmp_path, value):
    g = Graph.from_dict(simple_dict(meta={"loss": [1.0, value]}))
    with pytest.raises(GraphError, match="'meta' holds NaN or an infinity"):
        g.to_json()
    with pytest.raises(GraphError, match="'meta' holds NaN or an infinity"):
        g.save(str(tmp_path / "g.json"))
    assert not (tmp_path / "g.json").exists()


@pytest.mark.parametrize("where,text", [
    ("top", '{"format": "lowmem-graph", "version": 1, "name": "a", "name": "b", '
            '"variables": [], "nodes": []}'),
    ("node", '{"format": "lowmem-graph", "version": 1, "variables": [1, 1], '
             '"nodes": [{"inputs": [0], "outputs": [1], "outputs": []}]}'),
    ("meta", '{"format": "lowmem-graph", "version": 1, "variables": [], "nodes": [], '
             '"meta": {"k": 1, "k": 2}}'),
])
def test_duplicate_keys_refused(where, text):
    key = {"top": "name", "node": "outputs", "meta": "k"}[where]
    with pytest.raises(GraphError, match=f"invalid JSON: duplicate key '{key}' in an object"):
        Graph.from_json(text)


def test_json_round_trip_keeps_meta_floats():
    g = Graph.from_dict(simple_dict(meta={"lr": 0.1, "big": 1e300, "nested": {"a": [1, 2.5]}}))
    assert Graph.from_json(g.to_json()).meta == g.meta


# ------------------------------------------------------------ default names
def test_default_names_read_like_a_list():
    g = Graph.from_json(json.dumps({"format": "lowmem-graph", "version": 1,
                                    "variables": [1, {"size": 2, "name": "b"}, 3],
                                    "nodes": [{}, {"name": "second"}, {}]}))
    assert g.node_names == ["node0", "second", "node2"]
    assert g.node_names != ["node0", "second"]
    assert list(g.node_names) == ["node0", "second", "node2"]
    assert g.node_names[-1] == "node2" and g.node_names[np.int64(2)] == "node2"
    assert g.node_names[1:] == ["second", "node2"]
    assert g.var_names == ["v0", "b", "v2"] and len(g.var_names) == 3
    with pytest.raises(IndexError):
        g.var_names[3]


@pytest.mark.parametrize("kind,bound", [("nodes", 70), ("variables", 45)])
def test_memory_of_loading_per_byte(kind, bound):
    # A file of 100,000 "{}" nodes (or 0 sizes): Python objects per default
    # name and per absent list made loading take 105 (57) times the text's
    # size; now about 45 (29) times, most of it json.loads's own objects.
    import tracemalloc
    n = 100_000
    items = ",".join(["{}" if kind == "nodes" else "0"] * n)
    other = "variables" if kind == "nodes" else "nodes"
    text = f'{{"format": "lowmem-graph", "version": 1, "{kind}": [{items}], "{other}": []}}'
    tracemalloc.start()
    try:
        g = Graph.from_json(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (g.n_nodes if kind == "nodes" else g.n_vars) == n
    assert peak < bound * len(text), peak / len(text)
