"""`lowmem arena` in process through main(), and its CSV reader and writer
(lowmem/_arena_csv.py)."""

import csv
import io
import json
import os
import random
import sys

import numpy as np
import pytest

import lowmem
from lowmem import _arena_csv
from lowmem._arena_csv import read_buffers, write_buffers
from test_arena_offsets import check_offsets, max_live
from test_cli import run

HUMAN_LINES = ("file:", "buffers:", "lower bound:", "arena:", "proven:", "method:", "seconds:")
JSON_KEYS = {"file", "buffers", "ids", "offsets", "arena_bytes", "lower_bound", "proven",
             "capacity", "fits", "method", "nodes", "seconds"}


def write_csv(path, rows, header="id,lower,upper,size"):
    """A CSV file from a header and rows of values; returns its path as str."""
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return str(path)


def random_rows(seed, n=40, span=30):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        lo = rng.randrange(span)
        rows.append((f"buf{i}", lo, lo + rng.randint(1, 8), rng.choice([0, 1, 7, 64, 1000, 4096])))
    return rows


def read_back(path):
    """(header, rows) of a CSV the command wrote, read with the csv module
    alone (not lowmem's reader)."""
    with open(path, newline="") as f:
        table = list(csv.reader(f))
    return table[0], table[1:]


@pytest.fixture
def instance(tmp_path):
    rows = random_rows(1)
    return write_csv(tmp_path / "in.csv", rows), rows


# ----------------------------------------------------------------- output
def test_human_report(capsys, instance):
    path, rows = instance
    status, out, err = run(capsys, "arena", path, "--time-limit", "0.2")
    assert status == 0 and err == ""
    for label in HUMAN_LINES:
        assert label in out, label
    assert "capacity:" not in out
    assert f"buffers:         {len(rows)}\n" in out
    obj = _json(capsys, path)
    assert lowmem._cli.format_bytes(obj["arena_bytes"]) in out
    assert lowmem._cli.format_bytes(obj["lower_bound"]) in out
    assert " x the lower bound" in out


def _json(capsys, *argv):
    status, out, err = run(capsys, "arena", *argv, "--json", "--time-limit", "0.2")
    assert status in (0, 1) and err == ""
    assert out.count("\n") == 1
    return json.loads(out)


def test_json_output(capsys, instance):
    path, rows = instance
    obj = _json(capsys, path)
    assert set(obj) == JSON_KEYS
    assert obj["file"] == path and obj["buffers"] == len(rows)
    assert obj["ids"] == [r[0] for r in rows]
    lower, upper, size = ([r[k] for r in rows] for k in (1, 2, 3))
    check_offsets(lower, upper, size, obj["offsets"], obj["arena_bytes"])
    assert obj["lower_bound"] >= max_live(lower, upper, size)
    assert obj["arena_bytes"] >= obj["lower_bound"]
    assert obj["capacity"] is None and obj["fits"] is None
    assert isinstance(obj["seconds"], float) and obj["nodes"] >= 0
    plan = lowmem.arena_offsets(lower, upper, size, time_limit=0.2)
    if plan.proven and obj["proven"]:
        assert plan.arena_bytes == obj["arena_bytes"]


@pytest.mark.parametrize("alignment", ["1", "8", "256"])
def test_output_round_trip(capsys, tmp_path, alignment):
    rows = random_rows(2, n=60)
    path = write_csv(tmp_path / "in.csv", rows)
    out_path = tmp_path / "out.csv"
    out_path.write_text("old contents\n")                       # replaced
    status, out, err = run(capsys, "arena", path, "--output", str(out_path), "--json",
                           "--alignment", alignment, "--time-limit", "0.1")
    assert status == 0 and err == ""
    obj = json.loads(out)
    header, table = read_back(out_path)
    assert header == ["id", "lower", "upper", "size", "offset"]
    assert [r[:4] for r in table] == [[str(v) for v in r] for r in rows]     # input order
    offsets = [int(r[4]) for r in table]
    assert offsets == obj["offsets"]
    lower, upper, size = ([r[k] for r in rows] for k in (1, 2, 3))
    check_offsets(lower, upper, size, offsets, obj["arena_bytes"], int(alignment))
    # The written file is valid input too, its offsets ignored.
    assert read_buffers(str(out_path))[0] == [r[0] for r in rows]
    assert sorted(os.listdir(tmp_path)) == ["in.csv", "out.csv"]            # no temp file


def test_offset_column_and_column_order(capsys, tmp_path):
    # Columns in any order, an offset column (ignored), spaces, blank lines.
    path = tmp_path / "in.csv"
    path.write_text("size, upper ,id,lower,offset\n\n 5 ,3,x,0,999\n7,4,y,2,-1\n\n")
    obj = _json(capsys, str(path), "--output", str(tmp_path / "out.csv"))
    assert obj["ids"] == ["x", "y"] and obj["arena_bytes"] == 12
    header, table = read_back(tmp_path / "out.csv")
    assert header == ["id", "lower", "upper", "size", "offset"]
    assert [r[:4] for r in table] == [["x", "0", "3", "5"], ["y", "2", "4", "7"]]
    assert sorted(int(r[4]) for r in table) == [0, 5] or sorted(int(r[4]) for r in table) == [0, 7]


def test_capacity_exit_status(capsys, instance):
    path, rows = instance
    lower, upper, size = ([r[k] for r in rows] for k in (1, 2, 3))
    live = max_live(lower, upper, size)
    # Room to spare: fits, status 0.
    status, out, err = run(capsys, "arena", path, "--capacity", str(10 * live))
    assert status == 0 and "fits: yes" in out and "capacity:" in out
    # Below the most bytes live at once: proven not to fit, status 1.
    status, out, err = run(capsys, "arena", path, "--capacity", str(live - 1))
    assert status == 1 and err == "" and "fits: no (proven)" in out
    obj = _json(capsys, path, "--capacity", str(live - 1))
    assert obj["fits"] is False and obj["capacity"] == live - 1


@pytest.mark.parametrize("seed", range(4))
def test_exit_status_follows_fits(capsys, tmp_path, seed):
    # Whatever the planner decides in the time given, status 0 means fits
    # and 1 means not met (proven or undecided), the report saying which.
    rows = random_rows(10 + seed, n=30, span=12)
    path = write_csv(tmp_path / "in.csv", rows)
    lower, upper, size = ([r[k] for r in rows] for k in (1, 2, 3))
    capacity = str(max_live(lower, upper, size) + seed)
    for limit in ("0", "0.05"):
        status, out, _ = run(capsys, "arena", path, "--capacity", capacity, "--json",
                             "--time-limit", limit)
        fits = json.loads(out)["fits"]
        assert status == (0 if fits is True else 1)
        status, out, _ = run(capsys, "arena", path, "--capacity", capacity,
                             "--time-limit", limit)
        words = {True: "fits: yes", False: "fits: no (proven)", None: "fits: undecided"}
        assert status in (0, 1) and any(w in out for w in words.values())


def test_no_buffers(capsys, tmp_path):
    path = write_csv(tmp_path / "empty.csv", [])
    obj = _json(capsys, path, "--capacity", "0", "--output", str(tmp_path / "out.csv"))
    assert obj["buffers"] == 0 and obj["arena_bytes"] == 0 and obj["fits"] is True
    assert read_back(tmp_path / "out.csv") == (["id", "lower", "upper", "size", "offset"], [])


def test_sparse_times(capsys, tmp_path):
    t = 10**12
    rows = [("a", 0, t, 10), ("b", t - 1, 2 * t, 20), ("c", t, 3 * t, 30), ("d", -t, 1, 5)]
    obj = _json(capsys, write_csv(tmp_path / "in.csv", rows))
    check_offsets(*([r[k] for r in rows] for k in (1, 2, 3)), obj["offsets"], obj["arena_bytes"])
    assert obj["lower_bound"] == 50


def test_time_limit_forms(capsys, instance):
    path, _ = instance
    for limit in ("0", "0.01", "1e-3", "inf"):
        status, out, err = run(capsys, "arena", path, "--time-limit", limit, "--json")
        assert status == 0 and err == "", (limit, err)
        json.loads(out)


def test_stdin(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(
        b"id,lower,upper,size\na,0,2,8\nb,1,3,8\n")))
    obj = _json(capsys, "-")
    assert obj["file"] == "-" and obj["arena_bytes"] == 16


# --------------------------------------------------------------- bad input
BAD_FILES = {
    # name: (contents or None for a missing file, words the message must hold)
    "missing": (None, ["missing.csv", "cannot read"]),
    "empty": ("", ["empty.csv", "empty file"]),
    "blank": ("\n\n", ["blank.csv", "empty file"]),
    "header": ("id,lower,upper\na,0,1\n", ["header.csv", "line 1", "header", "'size'"]),
    "unknown": ("id,lower,upper,size,gaps\n", ["unknown.csv", "line 1", "'gaps'"]),
    "twice": ("id,lower,upper,size,size\n", ["twice.csv", "line 1", "'size'", "twice"]),
    "old": ("buffer,start,end,size\nb1,0,3,4\n", ["old.csv", "line 1", "'buffer'", "older"]),
    "columns": ("id,lower,upper,size\na,0,1,2\nb,0,1\n", ["columns.csv", "line 3", "3 fields"]),
    "extra": ("id,lower,upper,size\na,0,1,2,9\n", ["extra.csv", "line 2", "5 fields"]),
    "float": ("id,lower,upper,size\na,0,1,2\nb,0,1,1.5\n",
              ["float.csv", "line 3", "'b'", "size", "'1.5'", "integer"]),
    "word": ("id,lower,upper,size\nx,zero,1,2\n", ["word.csv", "line 2", "'x'", "lower", "zero"]),
    "underscore": ("id,lower,upper,size\nx,0,1_0,2\n", ["underscore.csv", "upper", "1_0"]),
    "range": ("id,lower,upper,size\nx,0,1,99999999999999999999\n",
              ["range.csv", "line 2", "size", "out of range"]),
    "duplicate": ("id,lower,upper,size\na,0,1,2\nb,0,1,2\na,3,4,5\n",
                  ["duplicate.csv", "line 4", "duplicate", "'a'", "line 2"]),
    "empty id": ("id,lower,upper,size\n,0,1,2\n", ["line 2", "empty id"]),
    "interval": ("id,lower,upper,size\na,0,1,2\nk,5,5,2\n",
                 ["interval.csv", "line 3", "'k'", "upper", "lower"]),
    "negative": ("id,lower,upper,size\nn,0,1,-2\n", ["negative.csv", "line 2", "'n'", "negative"]),
    "total": ("id,lower,upper,size\na,0,1,576460752303423488\nb,0,1,576460752303423488\n",
              ["total.csv", "2**60"]),
    "binary": (b"id,lower,upper,size\n\xff\n", ["binary.csv", "UTF-8"]),
}


@pytest.mark.parametrize("problem", sorted(BAD_FILES))
def test_bad_files(capsys, tmp_path, problem):
    contents, words = BAD_FILES[problem]
    path = tmp_path / (problem.replace(" ", "_") + ".csv")
    if isinstance(contents, bytes):
        path.write_bytes(contents)
    elif contents is not None:
        path.write_text(contents)
    for extra in ([], ["--json"], ["--output", str(tmp_path / "out.csv")]):
        status, out, err = run(capsys, "arena", str(path), *extra)
        assert status == 2, err
        assert out == ""
        assert err.startswith("lowmem arena: ") and err.count("\n") == 1, err
        assert "Traceback" not in err
        for word in words:
            assert word in err, (word, err)
    assert not (tmp_path / "out.csv").exists()


def test_directory(capsys, tmp_path):
    status, out, err = run(capsys, "arena", str(tmp_path))
    assert status == 2 and out == "" and err.count("\n") == 1 and "directory" in err


@pytest.mark.parametrize("argv,words", [
    (["--capacity", "-1"], ["--capacity", "-1"]),
    (["--capacity", "1.5"], ["--capacity", "whole"]),
    (["--capacity", "lots"], ["--capacity", "lots"]),
    (["--capacity", "inf"], ["--capacity"]),
    (["--capacity", "1e30"], ["--capacity", "too large"]),
    (["--time-limit", "abc"], ["--time-limit", "abc"]),
    (["--time-limit", "nan"], ["--time-limit", "nan"]),
    (["--time-limit", "-1"], ["--time-limit"]),
    (["--alignment", "0"], ["--alignment"]),
    (["--alignment", "3.5"], ["--alignment"]),
    (["--alignment", "two"], ["--alignment", "two"]),
    (["--bogus"], ["--bogus"]),
    (["--capacity"], ["--capacity"]),
])
def test_bad_options(capsys, instance, argv, words):
    path, _ = instance
    status, out, err = run(capsys, "arena", path, *argv)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, (word, err)


def test_output_cannot_be_written(capsys, tmp_path, instance):
    path, _ = instance
    for target in (str(tmp_path / "no" / "such" / "dir.csv"), str(tmp_path)):
        status, out, err = run(capsys, "arena", path, "--output", target, "--json")
        assert status == 2 and out == "" and err.count("\n") == 1
        assert err.startswith("lowmem arena: --output: cannot write")
    assert sorted(os.listdir(tmp_path)) == ["in.csv"]


def test_usage_errors(capsys):
    for argv in (["arena"], ["arena", "a.csv", "b.csv"]):
        status, out, err = run(capsys, *argv)
        assert status == 2 and out == "" and err.count("\n") == 1 and "error" in err


# -------------------------------------------------------------------- help
def test_arena_help(capsys):
    status, out, _ = run(capsys, "arena", "--help")
    assert status == 0
    text = " ".join(out.split())
    for words in ("FILE.csv", "--capacity", "--time-limit", "--alignment", "--json", "--output",
                  "MiniMalloc", "id,lower,upper,size", "[lower, upper)", "Exit status",
                  "\"arena_bytes\"", "\"fits\"", "1 when --capacity is not met", "undecided",
                  "2 on bad input"):
        assert words in text, words
    status, out, _ = run(capsys, "--help")
    assert status == 0 and "arena" in out


# ------------------------------------------------------ the CSV module itself
def test_read_buffers(tmp_path):
    path = tmp_path / "b.csv"
    path.write_bytes(b"\xef\xbb\xbfid,lower,upper,size\r\n\"a,b\",0,2,8\r\n c ,+1,3,0\r\n")
    ids, lower, upper, size = read_buffers(str(path))
    assert ids == ["a,b", "c"]
    for arr, want in ((lower, [0, 1]), (upper, [2, 3]), (size, [8, 0])):
        assert arr.dtype == np.int64 and arr.tolist() == want


def test_write_buffers_round_trip(tmp_path):
    ids = ["x", "with,comma", 'quote"d', "ünïcode"]
    lower, upper, size, offsets = [0, 1, -5, 10**12], [1, 2, 0, 2 * 10**12], [1, 2, 3, 4], \
        [0, 1, 3, 0]
    path = tmp_path / "w.csv"
    write_buffers(str(path), ids, lower, upper, size, offsets)
    got = read_buffers(str(path))
    assert got[0] == ids and [a.tolist() for a in got[1:]] == [lower, upper, size]
    header, table = read_back(path)
    assert [int(r[4]) for r in table] == offsets
    assert os.listdir(tmp_path) == ["w.csv"]


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "w.csv"
    path.write_text("keep me\n")

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(_arena_csv.os, "replace", failing_replace)
    with pytest.raises(OSError):
        write_buffers(str(path), ["a"], [0], [1], [1], [0])
    assert path.read_text() == "keep me\n"                  # untouched
    assert os.listdir(tmp_path) == ["w.csv"]                # temp file removed


def test_read_many_lines(tmp_path):
    rng = np.random.default_rng(0)
    n = 100_000
    lower = rng.integers(0, 10**6, n)
    upper = lower + rng.integers(1, 50, n)
    size = rng.integers(0, 4096, n)
    ids = [str(i) for i in range(n)]
    path = tmp_path / "big.csv"
    write_buffers(str(path), ids, lower, upper, size, np.zeros(n, dtype=np.int64))
    got = read_buffers(str(path))
    assert got[0] == ids
    for a, b in zip(got[1:], (lower, upper, size)):
        assert np.array_equal(a, b)
