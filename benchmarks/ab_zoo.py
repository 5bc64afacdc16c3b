"""Scheduling time on the zoo: this checkout against a baseline checkout.

    git worktree add /tmp/baseline <commit>
    (cd /tmp/baseline && ../main/.venv/bin/python setup.py -q build_ext --inplace)
    python -m benchmarks.ab_zoo --baseline /tmp/baseline [--rounds 4]

Each round times every zoo graph in one process per checkout, baseline then
this one, so that the machine's load drifts over both alike; a graph's time
is the mean over `--calls` calls of ``lowmem.schedule(g, time_limit=10)``,
its figure the minimum over 5 such means and over the rounds. Prints a
markdown table with the ratio this / baseline; progress on stderr.
"""

import argparse
import json
import os
import subprocess
import sys

from .run import log

# Run in a child process whose sys.path starts at one checkout.
_CHILD = r"""
import json, sys, time
root, calls = sys.argv[1], int(sys.argv[2])
sys.path.insert(0, root)
import lowmem
from benchmarks import zoo
assert lowmem.__file__.startswith(root), lowmem.__file__
out = {}
for _, name, build in zoo.ZOO:
    g = build()
    for _ in range(5):
        lowmem.schedule(g, time_limit=10)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(calls):
            lowmem.schedule(g, time_limit=10)
        best = min(best, (time.perf_counter() - t) / calls)
    out[name] = best
print(json.dumps(out))
"""


def _times(root, calls):
    done = subprocess.run([sys.executable, "-c", _CHILD, root, str(calls)], check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ab_zoo", description=__doc__.split(
        "\n")[0])
    ap.add_argument("--baseline", required=True, help="a checkout of the baseline commit, "
                    "its extensions built in place")
    ap.add_argument("--rounds", type=int, default=4, help="alternating rounds (default 4)")
    ap.add_argument("--calls", type=int, default=20, help="calls per timing (default 20)")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.calls < 1:
        ap.error("--rounds and --calls must be at least 1")
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    base_root = os.path.abspath(args.baseline)
    if not os.path.isdir(os.path.join(base_root, "lowmem")):
        ap.error(f"--baseline: no lowmem/ in {base_root}")
    base, this = {}, {}
    for r in range(args.rounds):
        log(f"round {r + 1}/{args.rounds}")
        for root, best in ((base_root, base), (here, this)):
            for name, t in _times(root, args.calls).items():
                best[name] = min(best.get(name, float("inf")), t)
    print("| graph | baseline ms | this ms | this / baseline |")
    print("| --- | ---: | ---: | ---: |")
    for name in base:
        print(f"| {name} | {base[name] * 1e3:.3f} | {this[name] * 1e3:.3f} | "
              f"{this[name] / base[name]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
