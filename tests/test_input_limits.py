"""Hostile and unusual input: size caps, non-regular files, gzip, encodings,
absurd nesting and numbers, unprintable names, out-of-range options.

Each case must end in one GraphError (API) or one line on stderr with exit
status 2 (CLI), quickly and without unbounded memory.
"""

import gzip
import io
import json
import os
import subprocess
import sys
import zlib

import pytest

import cases
import lowmem
from lowmem import Graph, GraphError
from test_cli import run  # the CLI runner the CLI tests use

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def one_line_error(status, out, err, *words):
    assert status == 2, (status, err)
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    for w in words:
        assert w in err, (w, err)


def cli(*argv, stdin=None, env_extra=None, timeout=60):
    """`python -m lowmem ARGV` in a subprocess: (status, stdout bytes, stderr text)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.update(env_extra or {})
    r = subprocess.run([sys.executable, "-m", "lowmem", *argv], stdin=stdin,
                       capture_output=True, env=env, cwd=ROOT, timeout=timeout)
    return r.returncode, r.stdout, r.stderr.decode("utf-8", "replace")


@pytest.fixture
def graph_text():
    return cases.join_twice().to_json()


def stdin_of(monkeypatch, data):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(data)))


class Endless(io.RawIOBase):
    """A stream that never ends (like /dev/zero), counting the bytes read."""

    def __init__(self, byte=b" "):
        self.byte, self.read_bytes = byte, 0

    def readable(self):
        return True

    def readinto(self, b):
        b[:] = self.byte * len(b)
        self.read_bytes += len(b)
        return len(b)


# ----------------------------------------------------------------- size cap
def test_file_at_the_cap_accepted_one_more_byte_refused(tmp_path, graph_text):
    path = tmp_path / "g.json"
    path.write_text(graph_text)
    size = len(graph_text.encode())
    assert lowmem.load(str(path), max_bytes=size).n_nodes == cases.join_twice().n_nodes
    with pytest.raises(GraphError, match="g.json.*larger than the input size cap of 99 bytes"):
        lowmem.load(str(path), max_bytes=99)
    with pytest.raises(GraphError, match="cap"):
        lowmem.load(str(path), max_bytes=size - 1)


@pytest.mark.parametrize("bad,error", [(0, ValueError), (-1, ValueError), (1.5, TypeError),
                                       ("10", TypeError), (True, TypeError),
                                       (None, TypeError), ("x", TypeError)])
def test_max_bytes_checked(tmp_path, graph_text, bad, error):
    # One check for load and from_json, on str, bytes and gzip alike.
    path = tmp_path / "g.json"
    path.write_text(graph_text)
    with pytest.raises(error, match="^max_bytes"):
        lowmem.load(str(path), max_bytes=bad)
    for text in (graph_text, graph_text.encode(), gzip.compress(graph_text.encode())):
        with pytest.raises(error, match="^max_bytes"):
            Graph.from_json(text, max_bytes=bad)


def test_max_bytes_beyond_zlib_range(tmp_path, graph_text):
    # zlib takes at most sys.maxsize: a larger cap is accepted, not an OverflowError.
    path = tmp_path / "g.json.gz"
    path.write_bytes(gzip.compress(graph_text.encode()))
    n = cases.join_twice().n_nodes
    for cap in (2**63, 2**64 + 5, 10**30):
        assert lowmem.load(str(path), max_bytes=cap).n_nodes == n
        assert Graph.from_json(path.read_bytes(), max_bytes=cap).n_nodes == n
        assert Graph.from_json(graph_text, max_bytes=cap).n_nodes == n


def test_from_json_applies_the_cap_to_the_text_given(graph_text):
    size = len(graph_text)
    assert Graph.from_json(graph_text, max_bytes=size).n_nodes == cases.join_twice().n_nodes
    assert Graph.from_json(graph_text.encode(), max_bytes=size).n_nodes > 0
    with pytest.raises(GraphError, match="larger than the input size cap of 99 bytes"):
        Graph.from_json(graph_text, max_bytes=99)
    with pytest.raises(GraphError, match="larger than the input size cap of 99 bytes"):
        Graph.from_json(graph_text.encode(), max_bytes=99)
    with pytest.raises(GraphError, match="decompressed, the input is larger"):
        Graph.from_json(gzip.compress(graph_text.encode()), max_bytes=size - 1)
    with pytest.raises(TypeError, match="str or bytes"):
        Graph.from_json(5)


def test_endless_stdin_read_up_to_the_cap(monkeypatch):
    endless = Endless()
    stdin_of(monkeypatch, endless)
    with pytest.raises(GraphError, match="<stdin>.*cap of 1,000,000 bytes"):
        lowmem.load("-", max_bytes=10**6)
    # Reading stops one chunk past the cap, not when memory runs out.
    assert endless.read_bytes <= 10**6 + 2**20 + 8192


def test_stdin_cli(capsys, monkeypatch, graph_text):
    stdin_of(monkeypatch, Endless())
    one_line_error(*run(capsys, "schedule", "-", "--max-input-bytes", "5000"),
                   "<stdin>", "5,000 bytes", "--max-input-bytes")
    stdin_of(monkeypatch, io.BytesIO(graph_text.encode()))
    status, out, err = run(capsys, "schedule", "-", "--json", "--max-input-bytes", "1e6")
    assert status == 0 and json.loads(out)["peak"] == cases.JOIN_TWICE_PEAK


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "lots", "nan", "inf", str(2**62 + 1)])
def test_max_input_bytes_option_checked(capsys, tmp_path, graph_text, value):
    path = tmp_path / "g.json"
    path.write_text(graph_text)
    for command in ("schedule", "plan"):
        one_line_error(*run(capsys, command, str(path), "--max-input-bytes", value),
                       "--max-input-bytes")


def test_max_input_bytes_on_plan(capsys, tmp_path, graph_text):
    path = tmp_path / "g.json"
    path.write_text(graph_text)
    one_line_error(*run(capsys, "plan", str(path), "--max-input-bytes", "100"),
                   "g.json", "cap of 100 bytes")


# ---------------------------------------------------------- non-regular files
def test_device_refused_without_reading():
    with pytest.raises(GraphError, match="/dev/zero: cannot read: not a regular file"):
        lowmem.load("/dev/zero")


def test_fifo_without_writer_refused_at_once(tmp_path):
    # Opening a FIFO for reading waits for a writer: the reader must not
    # open it at all. In a subprocess, so that a regression fails on the
    # timeout instead of hanging the test run.
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    status, out, err = cli("schedule", str(fifo), timeout=30)
    assert status == 2 and out == b"" and err.count("\n") == 1
    assert "pipe.json" in err and "not a regular file" in err
    with pytest.raises(GraphError, match="not a regular file"):
        lowmem.load(str(fifo))


def test_dev_zero_cli(capsys):
    one_line_error(*run(capsys, "schedule", "/dev/zero"), "/dev/zero", "not a regular file")


def test_directory(tmp_path):
    with pytest.raises(GraphError, match="cannot read: is a directory"):
        lowmem.load(str(tmp_path))


# ---------------------------------------------------------------------- gzip
def test_gzip_by_magic_bytes_not_name(tmp_path, graph_text):
    g = cases.join_twice()
    for name in ("g.json.gz", "g.json", "g"):
        path = tmp_path / name
        path.write_bytes(gzip.compress(graph_text.encode()))
        assert lowmem.load(str(path)).to_dict() == g.to_dict()


def test_save_gz_round_trip(tmp_path):
    g = cases.theano_profiling()
    g.save(str(tmp_path / "g.json.gz"))
    raw = (tmp_path / "g.json.gz").read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    assert json.loads(gzip.decompress(raw))["format"] == "lowmem-graph"
    assert lowmem.load(str(tmp_path / "g.json.gz")).to_dict() == g.to_dict()
    g.save(str(tmp_path / "g.json"))
    assert (tmp_path / "g.json").read_bytes()[:1] == b"{"


def test_gzip_multiple_members(tmp_path, graph_text):
    data = graph_text.encode()
    path = tmp_path / "g.json.gz"
    path.write_bytes(gzip.compress(data[:10]) + gzip.compress(data[10:]))
    assert lowmem.load(str(path)).n_nodes == cases.join_twice().n_nodes


class CountingZlib:
    """Stands in for zlib in lowmem._graph, counting the input bytes zlib
    copies into unused_data and unconsumed_tail (the leftover input)."""

    error, MAX_WBITS = zlib.error, zlib.MAX_WBITS

    def __init__(self):
        self.copied = 0

    def decompressobj(self, wbits):
        real, counter = zlib.decompressobj(wbits), self

        class Decompressor:
            def decompress(self, data, max_length=0):
                out = real.decompress(data, max_length)
                counter.copied += len(real.unused_data) + len(real.unconsumed_tail)
                return out

            def __getattr__(self, name):
                return getattr(real, name)
        return Decompressor()


@pytest.mark.parametrize("members", [1000, 4000])
def test_many_gzip_members_linear(monkeypatch, graph_text, members):
    # Was quadratic: each member copied all the data after it (8 MB of
    # empty members took 43 s). Now the leftover input copied per member is
    # bounded by about the member's size plus 256 bytes.
    empty = gzip.compress(b"", mtime=0)
    data = gzip.compress(graph_text.encode(), mtime=0) + (empty + b"\0\0") * members
    counting = CountingZlib()
    monkeypatch.setattr(lowmem._graph, "zlib", counting)
    assert Graph.from_json(data).n_nodes == cases.join_twice().n_nodes
    assert counting.copied <= 2 * len(data) + 300 * members


def test_gzip_from_stdin(capsys, monkeypatch, graph_text):
    stdin_of(monkeypatch, io.BytesIO(gzip.compress(graph_text.encode())))
    status, out, err = run(capsys, "schedule", "-", "--json")
    assert status == 0, err
    assert json.loads(out)["peak"] == cases.JOIN_TWICE_PEAK


def test_gzip_bomb_refused(tmp_path):
    # 64 MiB of spaces compress to ~64 KiB: the decompressed bytes are capped.
    path = tmp_path / "bomb.json.gz"
    path.write_bytes(gzip.compress(b" " * 2**26, compresslevel=9))
    assert path.stat().st_size < 2**20
    with pytest.raises(GraphError, match="bomb.json.gz: decompressed, the input is larger "
                                         "than the input size cap of 1,048,576 bytes"):
        lowmem.load(str(path), max_bytes=2**20)


@pytest.mark.parametrize("damage,words", [
    (lambda z: z[:len(z) // 2], "truncated gzip"),
    (lambda z: z[:10] + b"\xff" * 20 + z[30:], "corrupt gzip"),
])
def test_bad_gzip(tmp_path, graph_text, damage, words):
    path = tmp_path / "g.json.gz"
    path.write_bytes(damage(gzip.compress(graph_text.encode())))
    with pytest.raises(GraphError, match=words):
        lowmem.load(str(path))


# ------------------------------------------------------------------ encoding
def named_graph(name):
    return {"format": "lowmem-graph", "version": 1, "name": name,
            "variables": [{"size": 3, "name": name}, 5],
            "nodes": [{"name": name, "inputs": [0], "outputs": [1]}], "outputs": [1]}


def test_utf8_file_and_stdin_under_c_locale(tmp_path):
    # Under LC_ALL=C with UTF-8 mode off the locale's encoding is ASCII: a
    # UTF-8 file was "not a text file", and stdin took any bytes. Both are
    # now read as UTF-8, and a non-ASCII name is printed escaped.
    env = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}
    good = tmp_path / "good.json"
    good.write_bytes(json.dumps(named_graph("gr\u00e4ph \u2192 \u03bb"),
                                ensure_ascii=False).encode("utf-8"))
    status, out, err = cli("schedule", str(good), env_extra=env)
    assert status == 0, err
    # The locale's encoding is ASCII: what it lacks is printed as escapes.
    assert b"graph:           gr\\xe4ph \\u2192 \\u03bb (1 nodes" in out
    status, out, err = cli("schedule", str(good), "--json", env_extra=env)
    assert status == 0 and json.loads(out)["name"] == "gr\u00e4ph \u2192 \u03bb"
    with open(good, "rb") as f:
        status, out, err = cli("schedule", "-", "--json", stdin=f, env_extra=env)
    assert status == 0 and json.loads(out)["peak"] == 5            # x is a graph input

    bad = tmp_path / "latin1.json"
    bad.write_bytes(json.dumps(named_graph("gr\u00e4ph"), ensure_ascii=False).encode("latin-1"))
    status, out, err = cli("schedule", str(bad), env_extra=env)
    assert status == 2 and err.count("\n") == 1
    assert "latin1.json" in err and "not UTF-8" in err and "0xe4" in err
    with open(bad, "rb") as f:
        status, out, err = cli("schedule", "-", stdin=f, env_extra=env)
    assert status == 2 and "<stdin>" in err and "not UTF-8" in err


def test_utf8_bom_accepted(tmp_path, graph_text):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + graph_text.encode())
    assert lowmem.load(str(path)).n_nodes == cases.join_twice().n_nodes


def test_utf16_refused(tmp_path, graph_text):
    path = tmp_path / "u16.json"
    path.write_bytes(graph_text.encode("utf-16"))
    with pytest.raises(GraphError, match="u16.json: not UTF-8"):
        lowmem.load(str(path))


def test_from_json_bytes(graph_text):
    assert Graph.from_json(graph_text.encode()).to_dict() == cases.join_twice().to_dict()
    assert Graph.from_json(gzip.compress(graph_text.encode())).n_nodes == 3
    with pytest.raises(GraphError, match="not UTF-8"):
        Graph.from_json(b"\xff{}")


# ------------------------------------------------------- unprintable names
@pytest.mark.parametrize("name", ["\ud800", "a\nb\x1b[31m", "\udcff"])
def test_unprintable_names_escaped(capsys, tmp_path, name):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(named_graph(name)))          # \ud800 escaped in the JSON
    assert lowmem.load(str(path)).name == name
    for command in ("schedule", "plan"):
        status, out, err = run(capsys, command, str(path))
        assert status == 0 and err == ""
        first = out.splitlines()[0]
        assert first.startswith("graph:") and repr(name)[1:-1] in first
        status, out, err = run(capsys, command, str(path), "--json")
        assert status == 0 and json.loads(out)["name"] == name
    # Through a real stdout (the crash was a UnicodeEncodeError there).
    status, out, err = cli("schedule", str(path))
    assert status == 0, err
    assert repr(name)[1:-1].encode() in out


def test_unprintable_name_in_error(capsys, tmp_path):
    d = named_graph("\ud800")
    d["variables"][0]["size"] = -1
    path = tmp_path / "s.json"
    path.write_text(json.dumps(d))
    one_line_error(*run(capsys, "schedule", str(path)), "variable 0", "\\ud800", "negative")


# ------------------------------------------------- absurd nesting, numbers
@pytest.mark.parametrize("depth", [1000, 100000])
def test_deep_nesting(capsys, tmp_path, depth):
    text = "[" * depth + "]" * depth
    with pytest.raises(GraphError, match="invalid JSON: nested too deeply"):
        Graph.from_json(text)
    doc = '{"format": "lowmem-graph", "version": 1, "meta": ' + text + "}"
    with pytest.raises(GraphError, match="nested too deeply"):
        Graph.from_json(doc)
    path = tmp_path / "deep.json"
    path.write_text(text)
    with pytest.raises(GraphError, match="deep.json: invalid JSON: nested too deeply"):
        lowmem.load(str(path))
    one_line_error(*run(capsys, "schedule", str(path)), "deep.json", "nested too deeply")


def test_deep_value_in_a_field(capsys):
    # Parsed fine (900 levels), then reported without repr'ing it whole.
    d = named_graph("x")
    d["variables"][1] = json.loads("[" * 900 + "]" * 900)
    with pytest.raises(GraphError, match="variable 1: expected a size or an object"):
        Graph.from_dict(d)


def test_huge_integers(capsys, tmp_path):
    doc = json.dumps(named_graph("x")).replace('"size": 3', '"size": 1' + "0" * 5000)
    with pytest.raises(GraphError, match="invalid JSON: a number is too long"):
        Graph.from_json(doc)
    path = tmp_path / "digits.json"
    path.write_text(doc)
    one_line_error(*run(capsys, "schedule", str(path)), "digits.json", "too long")
    # From Python, such an integer is a size too large, and the message stays short.
    d = named_graph("x")
    d["variables"][0]["size"] = 10**5000
    msg = str(pytest.raises(GraphError, Graph.from_dict, d).value)
    assert "variable 0" in msg and "too large" in msg and len(msg) < 200


def test_huge_value_in_message_is_short():
    d = named_graph("x")
    d["variables"][0]["dtype"] = list(range(10**6))
    msg = str(pytest.raises(GraphError, Graph.from_dict, d).value)
    assert "dtype must be a string" in msg and len(msg) < 200


# --------------------------------------------------------------- options
@pytest.mark.parametrize("value", ["1e12", "1e15", "1e300"])
def test_memory_limit_beyond_the_machine(capsys, tmp_path, graph_text, value):
    path = tmp_path / "g.json"
    path.write_text(graph_text)
    status, out, err = run(capsys, "schedule", str(path), "--memory-limit", value)
    one_line_error(status, out, err, "--memory-limit", "at most", "MiB (this machine's memory)",
                   value)


def test_memory_error_is_one_line(capsys, monkeypatch, tmp_path, graph_text):
    import lowmem._scheduler as scheduler

    def no_memory(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(scheduler, "schedule", no_memory)
    path = tmp_path / "g.json"
    path.write_text(graph_text)
    one_line_error(*run(capsys, "schedule", str(path)), "out of memory")


@pytest.mark.parametrize("option,value,words", [
    ("--memory-limit", "inf", ["too large: at most", "MiB (this machine's memory)", "'inf'"]),
    ("--memory-limit", "1e400", ["too large: at most", "'1e400'"]),
    ("--memory-limit", "9" * 5000, ["too large: at most", "'" + "9" * 40 + "...'"]),
    ("--max-input-bytes", "inf", ["too large: at most 4,611,686,018,427,387,904", "'inf'"]),
    ("--max-input-bytes", "1e400", ["too large: at most 4,611,686,018,427,387,904"]),
    ("--max-input-bytes", "9" * 5000, ["too large: at most 4,611,686,018,427,387,904",
                                       "'" + "9" * 40 + "...'"]),
    ("--max-input-bytes", "-" + "9" * 5000, ["must be at least 1"]),
    ("--memory-limit", "0", ["must be at least 1, got '0'"]),
    ("--time-limit", "-1", ["must be at least 0, got '-1'"]),
    ("--time-limit", "-inf", ["must be at least 0"]),
    ("--max-input-bytes", "1.5", ["must be a whole number"]),
])
def test_option_errors_say_what_is_wrong(capsys, tmp_path, graph_text, option, value, words):
    # Every one of these said "must be a number >= 1" (or 0), whatever the bound.
    path = tmp_path / "g.json"
    path.write_text(graph_text)
    status, out, err = run(capsys, "schedule", str(path), f"{option}={value}")
    one_line_error(status, out, err, option, *words)
    assert len(err) < 200


@pytest.mark.parametrize("value", ["1_000", " 5", "5 ", "+5", "\u0663", "\uff15", "1e", "0x10",
                                   "nan", "", "5" * 100 + "x"])
def test_number_options_plain_ascii_syntax(capsys, tmp_path, graph_text, value):
    path = tmp_path / "g.json"
    path.write_text(graph_text)
    for option in ("--time-limit", "--memory-limit", "--max-input-bytes"):
        status, out, err = run(capsys, "schedule", str(path), f"{option}={value}")
        one_line_error(status, out, err, option, "expected a number")
        assert len(err) < 200


@pytest.mark.parametrize("value,cap", [("5", "1000000"), ("5.", "1000000."), (".5e1", ".1e7"),
                                       ("5E0", "1E6"), ("5000e-3", "1000000e0"),
                                       ("1e2", "1e+6")])
def test_number_options_accepted(capsys, tmp_path, graph_text, value, cap):
    path = tmp_path / "g.json"
    path.write_text(graph_text)
    status, out, err = run(capsys, "schedule", str(path), "--json", "--time-limit", value,
                           "--memory-limit", value, "--max-input-bytes", cap)
    assert status == 0, err
    assert json.loads(out)["peak"] == cases.JOIN_TWICE_PEAK


@pytest.mark.parametrize("value,words", [("1e400", "too large: at most 1,000, got '1e400'"),
                                         ("2.5", "whole number"), ("1", "at least 2")])
def test_demo_calls_checked(capsys, value, words):
    one_line_error(*run(capsys, "demo", "--no-plot", "--calls", value), "--calls", words)


def test_stdin_not_readable(tmp_path):
    # stdin open for writing only: was a 23-line traceback (EBADF), exit 1.
    with open(tmp_path / "w", "wb") as write_only:
        status, out, err = cli("schedule", "-", stdin=write_only)
    one_line_error(status, out.decode(), err, "<stdin>: cannot read", "Bad file descriptor")


def test_newline_in_file_name_escaped(capsys, tmp_path, graph_text):
    missing = str(tmp_path / "a\nb.json")
    one_line_error(*run(capsys, "schedule", missing), "a\\nb.json", "cannot read")
    with pytest.raises(GraphError, match=r"a\\nb.json: cannot read"):
        lowmem.load(missing)
    bad = tmp_path / "c\nd\te.json"
    bad.write_text("{")
    one_line_error(*run(capsys, "schedule", str(bad)), "c\\nd\\te.json", "invalid JSON")
