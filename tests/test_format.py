"""The format specification ships with the project and agrees with lowmem:
docs/lowmem-graph.schema.json validates every example (lowmem/examples/,
the examples in docs/format.md, graphs lowmem writes); documents the schema
rejects, lowmem rejects too; the worked example's peaks are the text's."""

import glob
import json
import os
import random
import re

import jsonschema
import pytest

import bruteforce as bf
import lowmem
from lowmem import Graph, GraphError
from strategies import random_graph

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "format.md")
SCHEMA_PATH = os.path.join(ROOT, "docs", "lowmem-graph.schema.json")
EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "lowmem", "examples", "*.json*")))


@pytest.fixture(scope="module")
def validator():
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def doc_examples():
    """The ```json blocks of docs/format.md that are lowmem-graph documents."""
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, re.S)]
    return [b for b in blocks if isinstance(b, dict) and b.get("format") == "lowmem-graph"]


def simple():
    return {"format": "lowmem-graph", "version": 1, "name": "s",
            "variables": [{"size": 8, "name": "x", "dtype": "float32", "shape": [2, "n"]},
                          16, {"size": 16, "name": "b"}],
            "nodes": [{"name": "A", "inputs": [0], "outputs": [1], "workspace": 4},
                      {"name": "B", "inputs": [1, 1], "outputs": [2],
                       "aliases": {"0": {"input": 1, "kind": "destroy"}}}],
            "outputs": [2], "orderings": [[0, 1]], "meta": {"from": "test"}}


# --------------------------------------------------------------- examples
def test_the_format_doc_exists_and_is_named_in_help():
    from lowmem._cli import _DESCRIPTION
    assert os.path.exists(DOC) and os.path.exists(SCHEMA_PATH)
    assert "docs/format.md" in _DESCRIPTION


def test_examples_validate_and_load(validator):
    assert len(EXAMPLES) >= 3
    for path in EXAMPLES:
        g = lowmem.load(path)
        validator.validate(json.loads(g.to_json()))
        with open(path, encoding="utf-8") as f:
            validator.validate(json.load(f))


def test_doc_examples_validate_and_load(validator):
    examples = doc_examples()
    assert examples
    for doc in examples:
        validator.validate(doc)
        assert Graph.from_dict(doc).to_dict()["variables"]


def test_worked_example_peaks_are_the_texts():
    (doc,) = [d for d in doc_examples() if d["name"] == "worked-example"]
    g = Graph.from_dict(doc)
    assert g.meta == {"source": "docs/format.md"}
    assert lowmem.memory_timeline(g, [0, 1, 2, 3]).tolist() == [400, 400, 900, 800]
    assert lowmem.memory_timeline(g, [2, 0, 1, 3]).tolist() == [500, 700, 700, 800]
    assert lowmem.memory_timeline(g, [0, 2, 1, 3]).tolist() == [400, 900, 700, 800]
    assert sorted(map(tuple, bf.all_orders(g))) == [(0, 1, 2, 3), (0, 2, 1, 3), (2, 0, 1, 3)]
    assert bf.min_peak(g) == 800
    s = lowmem.schedule(g, time_limit=5)
    assert (s.default_peak, s.peak, s.optimal) == (900, 800, True)


@pytest.mark.parametrize("seed", range(8))
def test_what_lowmem_writes_validates(validator, seed):
    rng = random.Random(seed)
    g = random_graph(rng, n_nodes=rng.randint(0, 40), n_orderings=rng.randint(0, 5))
    validator.validate(json.loads(g.to_json()))
    validator.validate(simple())
    Graph.from_dict(simple())


def test_nulls_validate_and_load(validator):
    d = simple()
    d.update(name=None, outputs=None, orderings=None, meta=None)
    d["variables"][0].update(name=None, dtype=None, shape=None)
    d["nodes"][0].update(name=None, inputs=None, outputs=None, workspace=None, aliases=None)
    validator.validate(d)
    Graph.from_dict(d)


# -------------------------------------------- rejected by schema and Graph
def broken(edit):
    d = simple()
    edit(d)
    return d


INVALID = {
    "no variables": lambda d: d.pop("variables"),
    "no nodes": lambda d: d.pop("nodes"),
    "no format": lambda d: d.pop("format"),
    "other format": lambda d: d.update(format="onnx"),
    "version 3": lambda d: d.update(version=3),
    "version string": lambda d: d.update(version="1"),
    "unknown top-level field": lambda d: d.update(extra=1),
    "meta a list": lambda d: d.update(meta=[1]),
    "name a number": lambda d: d.update(name=3),
    "outputs not a list": lambda d: d.update(outputs=2),
    "negative output id": lambda d: d.update(outputs=[-1]),
    "ordering of three": lambda d: d.update(orderings=[[0, 1, 1]]),
    "ordering not a pair": lambda d: d.update(orderings=[0]),
    "negative size": lambda d: d["variables"][2].update(size=-1),
    "size a string": lambda d: d["variables"][2].update(size="16"),
    "size a boolean": lambda d: d["variables"][2].update(size=True),
    "size a fraction": lambda d: d["variables"][2].update(size=1.5),
    "size 2**62": lambda d: d["variables"][2].update(size=2**62),
    "no size": lambda d: d["variables"][2].pop("size"),
    "variable unknown field": lambda d: d["variables"][2].update(bytes=1),
    "variable a string": lambda d: d["variables"].__setitem__(1, "16"),
    "variable null": lambda d: d["variables"].__setitem__(1, None),
    "dtype a number": lambda d: d["variables"][0].update(dtype=4),
    "shape of floats": lambda d: d["variables"][0].update(shape=[1.5]),
    "node unknown field": lambda d: d["nodes"][0].update(op="Dot"),
    "node a list": lambda d: d["nodes"].__setitem__(1, [1]),
    "inputs not a list": lambda d: d["nodes"][1].update(inputs=1),
    "negative input id": lambda d: d["nodes"][1].update(inputs=[-1]),
    "negative workspace": lambda d: d["nodes"][0].update(workspace=-4),
    "aliases a list": lambda d: d["nodes"][1].update(aliases=[0]),
    "alias key not digits": lambda d: d["nodes"][1].update(
        aliases={"first": {"input": 0, "kind": "view"}}),
    "alias key with a leading zero": lambda d: d["nodes"][1].update(
        aliases={"00": {"input": 0, "kind": "view"}}),
    "alias key 01": lambda d: d["nodes"][1].update(
        aliases={"01": {"input": 0, "kind": "view"}}),
    "alias kind": lambda d: d["nodes"][1].update(aliases={"0": {"input": 0, "kind": "copy"}}),
    "alias without kind": lambda d: d["nodes"][1].update(aliases={"0": {"input": 0}}),
    "alias extra field": lambda d: d["nodes"][1].update(
        aliases={"0": {"input": 0, "kind": "view", "why": 1}}),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_documents_rejected_by_schema_and_graph(validator, case):
    d = broken(INVALID[case])
    assert not validator.is_valid(d), case
    with pytest.raises(GraphError):
        Graph.from_dict(d)
    with pytest.raises(GraphError):
        Graph.from_json(json.dumps(d))


# The rules JSON Schema cannot state (docs/format.md, "What the schema does
# not check"): the schema accepts these documents, lowmem refuses them.
BEYOND_SCHEMA = {
    "unknown variable": (lambda d: d["nodes"][1].update(inputs=[7]), "unknown variable 7"),
    "unknown output": (lambda d: d.update(outputs=[3]), "unknown variable 3"),
    "unknown node in ordering": (lambda d: d.update(orderings=[[0, 5]]), "unknown node 5"),
    "ordering with itself": (lambda d: d.update(orderings=[[1, 1]]), "before itself"),
    "two producers": (lambda d: d["nodes"][1].update(outputs=[1]), "already has producer"),
    "listed order": (lambda d: (d["nodes"].reverse(), d.pop("orderings")), "listed before"),
    "cycle": (lambda d: d["nodes"][0].update(inputs=[2]), "cycle"),
    "alias input position": (lambda d: d["nodes"][1].update(
        aliases={"0": {"input": 2, "kind": "view"}}), "missing input position 2"),
    "alias output position": (lambda d: d["nodes"][1].update(
        aliases={"1": {"input": 0, "kind": "view"}}), "missing output position 1"),
    "byte total": (lambda d: d.update(variables=[2**61, 2**61, 2**61]), "2**62"),
    "version 1.0": (lambda d: d.update(version=1.0), "version"),
    "size 16.0": (lambda d: d["variables"][2].update(size=16.0), "size must be an integer"),
}


@pytest.mark.parametrize("case", sorted(BEYOND_SCHEMA))
def test_rules_beyond_the_schema(validator, case):
    edit, words = BEYOND_SCHEMA[case]
    d = broken(edit)
    assert validator.is_valid(d), case
    with pytest.raises(GraphError, match=re.escape(words)):
        Graph.from_dict(d)
