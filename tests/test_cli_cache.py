"""`lowmem cache`: listing and clearing the plan cache from the command line."""

import json
import os
import subprocess
import sys
import time

import pytest

from lowmem._cli import _age
from test_cli import run
from lowmem._units import format_bytes, human_bytes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAY = 86400


def plan_cache(directory):
    from lowmem.theano._cache import PlanCache
    return PlanCache(str(directory))


def entry(name, peak, optimal=True, nodes=12, shape=2):
    return dict(signature=[[[shape, 3], "<f8"]], name=name, nodes=nodes, peak=peak,
                optimal=optimal, order=list(range(nodes)))


def make_older(path, seconds):
    content = json.loads(path.read_text())
    for v in content["variants"]:
        v["created"] -= seconds
    path.write_text(json.dumps(content))


@pytest.fixture
def populated(tmp_path):
    """Two keys: "train_step" with two variants (one proven, 2 h old), and
    "predict" (not proven, 3 days old); plus a corrupt file."""
    cache = plan_cache(tmp_path)
    cache.store("a" * 64, entry("train_step", 5 * 2**20, shape=2))
    cache.store("a" * 64, entry("train_step", 10 * 2**20, optimal=False, shape=4))
    make_older(tmp_path / ("a" * 64 + ".json"), 2 * 3600 + 30)
    cache.store("b" * 64, entry("predict", 1500, optimal=False, nodes=1234))
    make_older(tmp_path / ("b" * 64 + ".json"), 3 * DAY + 60)
    return tmp_path


def test_list_table(capsys, populated):
    status, out, err = run(capsys, "cache", "list", "--dir", str(populated))
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["function", "nodes", "peak", "proven", "age", "size", "key"]
    assert len(lines) == 1 + 3 + 1
    size_a = os.path.getsize(populated / ("a" * 64 + ".json"))
    size_b = os.path.getsize(populated / ("b" * 64 + ".json"))
    # Newest first; numbers and bytes through lowmem's formatter.
    train = lines[1:3]
    assert all(line.startswith("train_step") and "aaaaaaaaaaaa" in line for line in train)
    assert all("2 h" in line and human_bytes(size_a) in line for line in train)
    assert any(human_bytes(5 * 2**20) in line and " yes " in line for line in train)
    assert any(human_bytes(10 * 2**20) in line and " no " in line for line in train)
    assert lines[3].startswith("predict") and "1,234" in lines[3]
    assert human_bytes(1500) in lines[3] and " no " in lines[3] and "3 d" in lines[3]
    assert lines[3].rstrip().endswith("bbbbbbbbbbbb") and "b" * 13 not in lines[3]
    total = lines[-1]
    assert total.startswith("3 plans in 2 files")
    assert format_bytes(size_a + size_b) in total and str(populated) in total


def test_list_is_the_default_action(capsys, populated, monkeypatch):
    from lowmem.theano import _cache
    monkeypatch.setattr(_cache, "default_directory", lambda: str(populated))
    listed = run(capsys, "cache", "list", "--dir", str(populated))
    assert run(capsys, "cache") == listed
    assert run(capsys, "cache", "list") == listed
    assert listed[0] == 0 and "train_step" in listed[1]


def test_list_json(capsys, populated):
    (populated / ("c" * 64 + ".json")).write_text("{truncated")
    status, out, err = run(capsys, "cache", "list", "--dir", str(populated), "--json")
    assert status == 0 and err == ""
    assert out.count("\n") == 1
    records = json.loads(out)
    assert [(r["key"][0], r["name"], r["nodes"], r["peak"], r["optimal"]) for r in records] == [
        ("a", "train_step", 12, 5 * 2**20, True),
        ("a", "train_step", 12, 10 * 2**20, False),
        ("b", "predict", 1234, 1500, False),
        ("c", "<unreadable>", None, None, None),
    ]
    for r in records:
        assert set(r) == {"key", "name", "nodes", "peak", "optimal", "created", "bytes", "path"}
        assert r["path"] == str(populated / (r["key"] + ".json"))
        assert r["bytes"] == os.path.getsize(r["path"])
    assert abs(records[2]["created"] - (time.time() - 3 * DAY - 60)) < 60


def test_list_unreadable_file_in_table(capsys, populated):
    (populated / ("c" * 64 + ".json")).write_text("{truncated")
    status, out, err = run(capsys, "cache", "list", "--dir", str(populated))
    assert status == 0 and err == ""
    line = next(line for line in out.splitlines() if line.startswith("<unreadable>"))
    assert line.split()[1:4] == ["-", "-", "-"] and "cccccccccccc" in line
    assert out.splitlines()[-1].startswith("4 plans in 3 files")


def test_list_escapes_names(capsys, tmp_path):
    plan_cache(tmp_path).store("d" * 64, entry("evil\x1b[2J\nname", 10))
    status, out, err = run(capsys, "cache", "list", "--dir", str(tmp_path))
    assert status == 0
    assert "\x1b" not in out and "evil\\x1b[2J\\nname" in out
    assert len(out.splitlines()) == 3


def test_empty_and_missing_directories(capsys, tmp_path):
    for directory in (tmp_path, tmp_path / "missing"):
        status, out, err = run(capsys, "cache", "list", "--dir", str(directory))
        assert (status, err) == (0, "")
        assert out == f"no plans in {directory}\n"
        status, out, err = run(capsys, "cache", "list", "--dir", str(directory), "--json")
        assert (status, out, err) == (0, "[]\n", "")
        status, out, err = run(capsys, "cache", "clear", "--dir", str(directory))
        assert (status, err) == (0, "")
        assert out.startswith("removed 0 plan files")
    assert not (tmp_path / "missing").exists()


def test_dir_that_is_a_file(capsys, tmp_path):
    afile = tmp_path / "plans"
    afile.write_text("x")
    for argv in (["cache", "list", "--dir", str(afile)], ["cache", "clear", "--dir", str(afile)]):
        status, out, err = run(capsys, *argv)
        assert status == 2 and out == ""
        assert err.count("\n") == 1 and "--dir" in err and "not a directory" in err
    assert afile.read_text() == "x"


def test_clear(capsys, populated):
    status, out, err = run(capsys, "cache", "clear", "--dir", str(populated),
                           "--older-than", "1")
    assert (status, err) == (0, "")
    assert out == f"removed 1 plan file older than 1 day from {populated}\n"
    assert not (populated / ("b" * 64 + ".json")).exists()
    assert (populated / ("a" * 64 + ".json")).exists()
    status, out, err = run(capsys, "cache", "clear", "--dir", str(populated),
                           "--older-than", "0.5")
    assert out.startswith("removed 0 plan files older than 0.5 days")
    status, out, err = run(capsys, "cache", "clear", "--dir", str(populated))
    assert (status, err) == (0, "")
    assert out == f"removed 1 plan file from {populated}\n"
    assert run(capsys, "cache", "list", "--dir", str(populated))[1].startswith("no plans")


@pytest.mark.parametrize("value, words", [
    ("-1", "at least 0"),
    ("inf", "finite"),
    ("1e999", "finite"),
    ("nan", "expected a number"),
    ("soon", "expected a number"),
    ("", "expected a number"),
])
def test_older_than_must_be_finite_and_not_negative(capsys, populated, value, words):
    status, out, err = run(capsys, "cache", "clear", "--dir", str(populated),
                           "--older-than", value)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "--older-than" in err and words in err
    assert len(os.listdir(populated)) >= 2          # nothing removed


@pytest.mark.parametrize("argv", [
    ["cache", "list", "--older-than", "3"],
    ["cache", "clear", "--json"],
    ["cache", "purge"],
    ["cache", "list", "--dir"],
])
def test_usage_errors(capsys, argv):
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == "" and err.count("\n") == 1


def test_help_explains_the_cache(capsys):
    status, out, _ = run(capsys, "cache", "--help")
    assert status == 0
    text = " ".join(out.split())
    for words in ("LowMemMode", "compiledir", "lowmem-plans", "plan_cache=False",
                  "cache_dir=", "list", "clear"):
        assert words in text, words
    status, out, _ = run(capsys, "cache", "list", "--help")
    assert status == 0 and "--dir" in out and "--json" in out and "proven" in out
    status, out, _ = run(capsys, "cache", "clear", "--help")
    assert status == 0 and "--older-than" in out and "DAYS" in out
    status, out, _ = run(capsys, "--help")
    assert "cache" in out


def test_age():
    assert [_age(s) for s in (-5, 0, 59, 60, 3599, 7199, 7200, 2 * DAY - 1, 2 * DAY,
                              400 * DAY)] == \
        ["0 s", "0 s", "59 s", "1 min", "59 min", "119 min", "2 h", "47 h", "2 d", "400 d"]


def test_list_with_dir_does_not_import_theano(populated):
    code = ("import sys\n"
            "from lowmem._cli import main\n"
            f"status = main(['cache', 'list', '--dir', {str(populated)!r}])\n"
            "print('theano' in sys.modules, status)\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "train_step" in r.stdout
    assert r.stdout.splitlines()[-1] == "False 0"
