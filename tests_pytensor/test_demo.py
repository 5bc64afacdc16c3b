"""`lowmem demo --backend pytensor`: end to end on the tiny model, from this
environment and from the Theano one (.venv, which has no PyTensor: the CLI
runs the demo in .venv-pytensor); a bad --backend or a missing PyTensor
environment is one line and exit status 2."""

import os
import subprocess
import sys

import pytest

from lowmem import _cli

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
THEANO_PYTHON = os.path.join(ROOT, ".venv", "bin", "python")


def run(capsys, *argv):
    try:
        status = _cli.main(list(argv))
    except SystemExit as e:
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err


def check_demo_output(stdout, out_dir, plot):
    assert "lowmem demo: tiny U-Net-shaped dense network training step in PyTensor" in stdout
    assert "bit-for-bit equal in both modes" in stdout
    assert "lowmem memory report: tiny-train" in stdout
    assert "LowMemMode (lowmem's order)" in stdout and "PyTensor default mode" in stdout
    assert "lowmem's compile overhead, on the first call: recording call" in stdout
    assert "PyTensor's own compile time:" in stdout and "pytensor.function" in stdout
    plots = list(out_dir.glob("*.png"))
    if plot:
        assert len(plots) == 1 and plots[0].stat().st_size > 0, plots
    else:
        assert not plots


def has_matplotlib():
    import importlib.util
    return importlib.util.find_spec("matplotlib") is not None


def test_demo_in_this_environment(tmp_path):
    out = tmp_path / "plots"
    proc = subprocess.run(
        [sys.executable, "-m", "lowmem", "demo", "--backend", "pytensor", "--model", "tiny",
         "--calls", "2", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    check_demo_output(proc.stdout, out, plot=has_matplotlib())
    if not has_matplotlib():
        assert "Plot skipped: matplotlib is not installed" in proc.stdout


@pytest.mark.skipif(not os.access(THEANO_PYTHON, os.X_OK), reason="no .venv (Theano side)")
def test_demo_from_the_theano_environment(tmp_path):
    """The CLI in .venv (Python 3.11, no PyTensor) runs the demo in
    .venv-pytensor, found next to the repository."""
    env = {k: v for k, v in os.environ.items() if k != _cli.PYTENSOR_PYTHON_VARIABLE}
    proc = subprocess.run(
        [THEANO_PYTHON, "-m", "lowmem", "demo", "--backend", "pytensor", "--model", "tiny",
         "--calls", "2", "--no-plot", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    check_demo_output(proc.stdout, tmp_path, plot=False)
    assert "[lowmem demo]" in proc.stderr            # the child's progress, passed through


def test_bad_backend_is_one_line(capsys, tmp_path):
    status, out, err = run(capsys, "demo", "--backend", "jax", "--out", str(tmp_path / "x"))
    assert status == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith("lowmem demo: --backend: unknown backend 'jax' "
                          "(known: theano, pytensor)")
    assert not (tmp_path / "x").exists()


def test_unknown_pytensor_model_is_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "lowmem", "demo", "--backend", "pytensor", "--model", "unet",
         "--no-plot"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "--model: unknown model 'unet' for the pytensor backend" in proc.stderr


def test_named_python_that_is_missing(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv(_cli.PYTENSOR_PYTHON_VARIABLE, str(tmp_path / "nothing"))
    status, out, err = run(capsys, "demo", "--backend", "pytensor", "--no-plot")
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "is not an executable file" in err and "make build-pytensor" in err


def test_no_pytensor_environment(capsys, monkeypatch, tmp_path):
    """Without PyTensor here nor .venv-pytensor beside the source: one
    line saying how to make it."""
    monkeypatch.delenv(_cli.PYTENSOR_PYTHON_VARIABLE, raising=False)
    monkeypatch.setattr(_cli, "_have_pytensor", lambda: False)
    monkeypatch.setattr(_cli, "_SOURCE_ROOT", str(tmp_path))
    status, out, err = run(capsys, "demo", "--backend", "pytensor", "--no-plot")
    assert status == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("lowmem demo: --backend pytensor needs PyTensor's environment, "
                          "not found")
    assert "make build-pytensor" in err


def test_help_explains_the_backend(capsys):
    status, out, _ = run(capsys, "demo", "--help")
    assert status == 0
    assert "--backend LIBRARY" in out and "pytensor" in out and "make build-pytensor" in out
