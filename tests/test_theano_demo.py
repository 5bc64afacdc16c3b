"""`lowmem demo` end to end (what `make demo` runs), on the smallest model."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_demo_runs_both_modes_and_finds_them_equal(tmp_path):
    out = tmp_path / "plots"
    proc = subprocess.run(
        [sys.executable, "-m", "lowmem", "demo", "--model", "mlp", "--calls", "2",
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "bit-for-bit equal in both modes" in proc.stdout
    assert "LowMemMode (lowmem's order)" in proc.stdout
    plots = list(out.glob("*.png"))
    assert len(plots) == 1 and plots[0].stat().st_size > 0, plots
