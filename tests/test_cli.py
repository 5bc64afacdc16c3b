"""The lowmem command: in process through main(), and once as `python -m lowmem`."""

import glob
import json
import os
import subprocess
import sys

import pytest

import cases
import lowmem
from lowmem._cli import format_bytes, main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JSON_KEYS = {"name", "nodes", "default_peak", "peak", "lower_bound", "optimal", "seconds", "order",
             "first_order", "first_order_peaks", "neighbourhoods", "neighbourhoods_improved",
             "bound_source"}


@pytest.fixture
def profiling_file(tmp_path):
    path = tmp_path / "profiling.json"
    cases.theano_profiling().save(str(path))
    return str(path)


def run(capsys, *argv):
    """main(argv) -> (status, stdout, stderr); argparse's SystemExit caught."""
    try:
        status = main(list(argv))
    except SystemExit as e:
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err


# ------------------------------------------------------------------ output
def test_human_output(capsys, profiling_file):
    status, out, err = run(capsys, "schedule", profiling_file, "--time-limit", "5")
    assert status == 0 and err == ""
    assert "theano_profiling_k2" in out
    assert "8 nodes" in out
    # Listed order peaks at 4104 KB too: 0.0% below default.
    assert "4.01 MiB (4,202,496 B)" in out
    assert "default peak" in out and "best peak" in out and "lower bound" in out
    assert "0.0%" in out
    assert "optimal:         yes (proven)" in out
    assert "seconds" in out
    assert "best heuristic" in out
    assert any(name in out for name in ("default", "greedy", "dfs", "lpmf"))


def test_human_output_reduction(capsys, tmp_path):
    # Listed order of two_chains run badly: C, A, B, D peaks at 151, best 101.
    g = cases.all_orders_example().to_dict()
    g["nodes"] = [g["nodes"][i] for i in (2, 0, 1, 3)]    # nodes refer to variables only
    path = tmp_path / "g.json"
    path.write_text(json.dumps(g))
    graph = lowmem.load(str(path))
    assert lowmem.peak(graph) == 151
    status, out, err = run(capsys, "schedule", str(path))
    assert status == 0 and err == ""
    assert "151 B" in out and "101 B" in out
    assert "33.1%" in out                     # (151 - 101) / 151


def test_json_output_matches_schedule(capsys, profiling_file):
    status, out, err = run(capsys, "schedule", profiling_file, "--json", "--time-limit", "5")
    assert status == 0 and err == ""
    assert out.count("\n") == 1
    obj = json.loads(out)
    assert set(obj) == JSON_KEYS
    g = lowmem.load(profiling_file)
    s = lowmem.schedule(g, time_limit=5)
    assert obj["name"] == g.name == "theano_profiling_k2"
    assert obj["nodes"] == g.n_nodes == 8
    assert obj["peak"] == s.peak == 4104 * 1024
    assert obj["default_peak"] == s.default_peak
    assert obj["lower_bound"] == s.lower_bound
    assert obj["optimal"] is True
    assert isinstance(obj["seconds"], float) and obj["seconds"] >= 0
    assert all(type(n) is int for n in obj["order"])
    assert lowmem.peak(g, obj["order"]) == obj["peak"]
    assert obj["first_order_peaks"] == s.heuristic_peaks
    assert obj["first_order"] == s.stats["first_order"] in s.heuristic_peaks
    assert obj["bound_source"] == s.stats["bound_source"]
    assert 0 <= obj["neighbourhoods_improved"] <= obj["neighbourhoods"]


@pytest.mark.parametrize("name", sorted(cases.ALL_CASES))
def test_json_peaks_of_hand_cases(capsys, tmp_path, name):
    build, expected = cases.ALL_CASES[name]
    path = tmp_path / f"{name}.json"
    build().save(str(path))
    status, out, _ = run(capsys, "schedule", str(path), "--json")
    assert status == 0
    assert json.loads(out)["peak"] == expected


def test_options_accepted(capsys, profiling_file):
    for extra in (["--time-limit", "0"], ["--time-limit", "0.25"], ["--time-limit", "inf"],
                  ["--memory-limit", "1"], ["--memory-limit", "64.5"],
                  ["--time-limit=1e-6", "--memory-limit=8"]):
        status, out, err = run(capsys, "schedule", profiling_file, "--json", *extra)
        assert status == 0, (extra, err)
        obj = json.loads(out)
        assert obj["peak"] <= obj["default_peak"]


def test_stdin(capsys, monkeypatch):
    import io
    # A real stdin: the graph is read as bytes from sys.stdin.buffer.
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(
        cases.join_twice().to_json().encode())))
    status, out, _ = run(capsys, "schedule", "-", "--json")
    assert status == 0 and json.loads(out)["peak"] == 8 * 1024 * 1024


def test_format_bytes():
    assert format_bytes(0) == "0 B"
    assert format_bytes(1023) == "1,023 B"
    assert format_bytes(1024) == "1.00 KiB (1,024 B)"
    assert format_bytes(4 * 2**20) == "4.00 MiB (4,194,304 B)"
    assert format_bytes(4202496) == "4.01 MiB (4,202,496 B)"
    assert format_bytes(3 * 2**30) == "3.00 GiB (3,221,225,472 B)"


# --------------------------------------------------------------- bad input
def _bad_files(tmp_path):
    files = {}
    files["missing"] = str(tmp_path / "missing.json")
    p = tmp_path / "badjson.json"
    p.write_text("{\"format\": ")
    files["bad JSON"] = str(p)
    p = tmp_path / "list.json"
    p.write_text("[1, 2]")
    files["non-object"] = str(p)
    d = cases.join_twice().to_dict()
    d["variables"][2]["size"] = -1
    p = tmp_path / "negative.json"
    p.write_text(json.dumps(d))
    files["negative size"] = str(p)
    d = cases.join_twice().to_dict()
    d["version"] = 3
    p = tmp_path / "version.json"
    p.write_text(json.dumps(d))
    files["version"] = str(p)
    files["directory"] = str(tmp_path)
    return files


EXPECTED_WORDS = {
    "missing": ["missing.json", "cannot read"],
    "bad JSON": ["badjson.json", "invalid JSON"],
    "non-object": ["list.json", "JSON object"],
    "negative size": ["negative.json", "variable 2", "negative size"],
    "version": ["version.json", "version"],
    "directory": ["cannot read"],
}


@pytest.mark.parametrize("problem", sorted(EXPECTED_WORDS))
def test_bad_input_files(capsys, tmp_path, problem):
    path = _bad_files(tmp_path)[problem]
    for extra in ([], ["--json"]):
        status, out, err = run(capsys, "schedule", path, *extra)
        assert status == 2
        assert out == ""
        assert err.count("\n") == 1 and err.endswith("\n"), err
        assert "Traceback" not in err
        for word in EXPECTED_WORDS[problem]:
            assert word in err, (word, err)


def test_graph_too_large_for_the_core(capsys, tmp_path):
    # Each size is valid (< 2**62) but the total is not: bad input, exit 2.
    graph = {"format": "lowmem-graph", "version": 1, "variables": [2**61, 2**61, 2**61],
             "nodes": [{"outputs": [0]}, {"outputs": [1]}, {"outputs": [2]}], "outputs": [0, 1]}
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(graph))
    status, out, err = run(capsys, "schedule", str(path), "--json")
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "huge.json" in err and "2**62" in err


@pytest.mark.parametrize("argv,words", [
    (["--time-limit", "-1"], ["--time-limit", "-1"]),
    (["--time-limit=-0.5"], ["--time-limit"]),
    (["--time-limit", "nan"], ["--time-limit"]),
    (["--time-limit", "soon"], ["--time-limit", "soon"]),
    (["--memory-limit", "0"], ["--memory-limit"]),
    (["--memory-limit", "-3"], ["--memory-limit"]),
    (["--memory-limit", "inf"], ["--memory-limit"]),
    (["--memory-limit", "lots"], ["--memory-limit", "lots"]),
    (["--bogus"], ["--bogus"]),
])
def test_bad_options(capsys, profiling_file, argv, words):
    status, out, err = run(capsys, "schedule", profiling_file, *argv)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1, err
    for word in words:
        assert word in err, (word, err)


@pytest.mark.parametrize("argv", [[], ["schedule"], ["frobnicate"], ["schedule", "a", "b"]])
def test_usage_errors(capsys, argv):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and "error" in err


# -------------------------------------------------------------------- help
def test_help(capsys):
    status, out, _ = run(capsys, "--help")
    assert status == 0
    assert "schedule" in out
    assert "peak memory" in out
    assert "lowmem-graph" in out and "docs/format.md" in out and "DESIGN.md" not in out


def test_schedule_help(capsys):
    status, out, _ = run(capsys, "schedule", "--help")
    assert status == 0
    out = " ".join(out.split())       # argparse wraps the option texts
    for word in ("FILE.json", "--time-limit", "--memory-limit", "--json", "lowmem-graph",
                 "docs/format.md", "lower bound", "optimal", "Exit status", "\"order\"",
                 "--max-input-bytes", "gzipped", "256 MiB", "about 10 times the file's",
                 "up to about 50 times"):
        assert word in out, word
    assert "DESIGN.md" not in out


def test_plan_help(capsys):
    status, out, _ = run(capsys, "plan", "--help")
    assert status == 0
    for word in ("FILE.json", "--order", "--max-input-bytes", "docs/format.md", "gzipped",
                 "\"order_kind\"", "node ids"):
        assert word in out, word


# ------------------------------------------------------------- subprocess
def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_python_dash_m(profiling_file):
    r = subprocess.run([sys.executable, "-m", "lowmem", "schedule", profiling_file, "--json"],
                       capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert set(obj) == JSON_KEYS and obj["peak"] == 4104 * 1024 and obj["optimal"] is True


def test_python_dash_m_bad_input(tmp_path):
    r = subprocess.run([sys.executable, "-m", "lowmem", "schedule", str(tmp_path / "none.json")],
                       capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=120)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1 and "none.json" in r.stderr


# ------------------------------------------------------------------- plan
EXAMPLES = sorted(glob.glob(os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "lowmem", "examples", "*.json")))


def test_plan_json_matches_plan_storage(capsys):
    assert EXAMPLES
    for path in EXAMPLES:
        for kind in ("best", "default"):
            status, out, err = run(capsys, "plan", path, "--order", kind, "--json",
                                   "--time-limit", "0.2")
            assert status == 0 and err == ""
            obj = json.loads(out)
            g = lowmem.load(path)
            order = lowmem.schedule(g, time_limit=0.2).order if kind == "best" else None
            p = lowmem.plan_storage(g, order)
            assert obj["order_kind"] == kind and obj["nodes"] == g.n_nodes
            if kind == "default":
                assert obj["order"] == list(range(g.n_nodes))
            assert obj["order_peak"] == lowmem.peak(g, obj["order"])
            assert obj["buffers"] == p.buffers and obj["lower_bound"] == p.lower_bound
            assert obj["peak"] <= obj["order_peak"]
            assert obj["lower_bound"] <= obj["arena_bytes"]
            assert obj["allocations"] == obj["cells"] <= obj["buffers"]


def test_plan_human_and_errors(capsys, tmp_path):
    status, out, err = run(capsys, "plan", EXAMPLES[0])
    assert status == 0 and "arena:" in out and "cells:" in out and "lower bound" in out
    status, out, err = run(capsys, "plan", str(tmp_path / "missing.json"))
    assert status == 2 and out == "" and err.count("\n") == 1 and "missing.json" in err
    status, out, err = run(capsys, "plan", EXAMPLES[0], "--order", "worst")
    assert status == 2 and err.count("\n") == 1


def test_plan_help_time_limit(capsys):
    # Gave neither the range nor what 0 and 'inf' mean, unlike schedule --help.
    status, out, _ = run(capsys, "plan", "--help")
    assert status == 0
    text = " ".join(out.split())
    for words in (">= 0", "0 = heuristics only", "'inf' = until proven optimal"):
        assert words in text, words
