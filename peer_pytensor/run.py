#!/usr/bin/env python
"""PyTensor's own tests as a peer suite for lowmem's mode.

Runs a fixed subset of PyTensor 3.3.7's tests twice with pytest, once as
PyTensor ships it (mode "default": PyTensor's default mode, the Numba
linker) and once with lowmem.pytensor.LowMemMode as the default mode (mode
"lowmem", see peer_pytensor/conftest.py), compares the outcome of every test
and writes a summary to build/peer-pytensor/results/latest.md. Exit
status: 0 when every test has the same outcome in both runs and each run
passes enough of them (MIN_PASSED), 1 when any differs, a run passes too
few or did not complete, 2 on bad usage or when the tests cannot be had.

    .venv-pytensor/bin/python peer_pytensor/run.py            # both runs
    .venv-pytensor/bin/python peer_pytensor/run.py --modes lowmem
    .venv-pytensor/bin/python peer_pytensor/run.py -- -k softmax

PyTensor's wheel ships no tests. Its sdist on PyPI ships the test files of
tests/ itself (not those of tests/tensor/, tests/scan/, ... nor the helper
tests/unittest_tools.py); the installed package ships its doctests. The
subset is made of both: the sdist, pinned by version and sha256, is
downloaded once with pip into build/peer-pytensor/ (git-ignored; `--cache
DIR` elsewhere) and its tests/ extracted there; nothing of it enters the
repository.

The PYTENSOR_FLAGS of the caller are kept except `mode` and `linker` (the
baseline is PyTensor's default mode). `--compiledir DIR` adds
`base_compiledir=DIR/laneK` (a fresh DIR measures a clean machine's cost:
PyTensor's Numba cache lives under base_compiledir).
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(ROOT, "build", "peer-pytensor", "results")
if os.path.join(ROOT, "peer") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "peer"))
import peer_compare  # noqa: E402
from peer_compare import MODES  # noqa: E402

# The tests: PyTensor 3.3.7's sdist (the version pinned in
# requirements-pytensor.txt; run.py refuses another installed version),
# fetched with pip from the package index pip is configured with and
# checked against this sha256.
PYTENSOR_VERSION = "3.3.7"
SDIST_SHA256 = ("983369b961a286288610daf59b9a1c05066dd2fdff43fdd5e0db5abdae3aa3ad")
SDIST_NAME = "pytensor-%s" % PYTENSOR_VERSION
DEFAULT_CACHE = os.path.join(ROOT, "build", "peer-pytensor")

# The subset, in two lanes that run at once (--jobs 2). Lane 0: test files
# of the sdist's tests/ (node ids relative to the extracted sdist) — the
# gradient tests (verify_grad, Jacobians and Hessians through scan), the
# R-op/L-op tests (elemwise, softmax, subtensor, dot: each compares
# pushforward and pullback against a scan-built Jacobian), CheckAndRaise and
# the breakpoint op. Lane 1: the doctests of the installed package (node ids
# relative to site-packages): tensor math/basic/extra ops, gradient,
# compile (function, Function.copy, dump), random variables, xtensor.
# Left out: tests/test_printing.py imports tests/graph/utils.py, which the
# sdist does not ship.
SDIST_FILES = [
    "tests/test_gradient.py",
    "tests/test_rop.py",
    "tests/test_raise_op.py",
    "tests/test_breakpoint.py",
    "tests/test_basic.py",
    "tests/test_config.py",
    "tests/test_pytensor_cache.py",
]
DOCTEST_FILES = ["pytensor/" + f for f in (
    "tensor/math.py", "tensor/basic.py", "tensor/extra_ops.py",
    "tensor/subtensor.py", "tensor/shape.py", "tensor/reshape.py",
    "tensor/variable.py", "tensor/utils.py", "tensor/random/variable.py",
    "tensor/random/utils.py", "tensor/rewriting/math.py", "gradient.py",
    "raise_op.py", "compile/maker.py", "compile/executor.py",
    "compile/debug/dump.py", "graph/basic.py", "graph/traversal.py",
    "scalar/basic.py", "xtensor/shape.py", "xtensor/random/variable.py")]
LANES = [("sdist", SDIST_FILES), ("doctest", DOCTEST_FILES)]
SUBSET_FILES = SDIST_FILES + DOCTEST_FILES
HOOK_TESTS = "test_peer_mode.py"  # its node ids (a directory argument
# outside --rootdir: named relative to that directory)
# Files that must pass at least one test in each run (with HOOK_TESTS);
# tests/test_pytensor_cache.py has one test and tests/test_basic.py two,
# too few to require.
REQUIRED_FILES = ["tests/test_gradient.py", "tests/test_rop.py",
                  "tests/test_raise_op.py", "tests/test_breakpoint.py",
                  "tests/test_config.py", "pytensor/tensor/math.py",
                  "pytensor/tensor/basic.py", "pytensor/gradient.py",
                  "pytensor/compile/maker.py"]

# Same outcomes in both modes is not enough: a broken environment (PyTensor
# or lowmem not importing, a lane that never starts) fails every test the
# same way in both. So each run must also pass at least MIN_PASSED tests,
# and every file of REQUIRED_FILES and HOOK_TESTS at least one. See
# peer/README.md for the counts this was set from.
MIN_PASSED = 130

# Left out: tests whose cost is far above the rest (seconds measured in the
# default mode on a 2-core machine, most of it Numba compiling the
# functions; the LowMemMode run compiles its own order of each function
# again). Kept although above 8 s, for what they test: test_rop's
# test_softmax (softmax, the nnet op) and test_elemwise0.
_GRADIENT_SLOW = {
    "TestJacobian::test_jacobian_matrix_expression[True-vectorize=True]": 32,
    "TestGrad::test_grad_int": 25,
    "TestGrad::test_grad_grad_cubic": 15,
    "TestGrad::test_grad_quadratic": 14,
    "test_subgraph_grad": 14,
    "TestGrad::test_grad_grad_quadratic": 11,
    "TestGrad::test_grad_quadratic_vector": 10,
    "TestJacobian::test_jacobian_matrix[vectorize=False]": 10,
    "TestGrad::test_grad_cubic": 9,
    "TestJacobian::test_jacobian_matrix_expression[False-vectorize=False]": 9,
    "TestJacobian::test_jacobian_matrix_expression[True-vectorize=False]": 8,
}
_ROP_SLOW = {
    "TestPushforwardPullback::test_alloc": 22,
    "TestPushforwardPullback::test_dot": 22,
    "TestPushforwardPullback::test_join": 14,
    "TestPushforwardPullback::test_elemwise1": 12,
    "TestPushforwardPullback::test_subtensor": 11,
    "TestPushforwardPullback::test_setsubtensor1": 11,
    "TestPushforwardPullback::test_incsubtensor2": 10,
    "TestPushforwardPullback::test_incsubtensor1": 9,
    "TestPushforwardPullback::test_max": 9,
}
_BREAKPOINT_SLOW = {"TestPdbBreakpoint::test_infer_shape": 27}
DESELECT = {}
for _file, _slow in (("tests/test_gradient.py", _GRADIENT_SLOW),
                     ("tests/test_rop.py", _ROP_SLOW),
                     ("tests/test_breakpoint.py", _BREAKPOINT_SLOW)):
    for _test, _seconds in _slow.items():
        DESELECT["%s::%s" % (_file, _test)] = _seconds


def suite():
    """This suite's rules for peer_compare (read at call time)."""
    return peer_compare.Suite(
        title="PyTensor peer suite", script="peer_pytensor/run.py",
        subset=SUBSET_FILES, deselected=len(DESELECT), min_passed=MIN_PASSED,
        required_files=REQUIRED_FILES + [HOOK_TESTS],
        min_passed_where="MIN_PASSED in peer_pytensor/run.py")


def too_few_passed(mode, tests, selected):
    return peer_compare.too_few_passed(suite(), mode, tests, selected)


def summarise(modes, records, argv):
    """(Markdown summary, ok); `records` are run_pytest results of every
    lane."""
    return peer_compare.summarise(suite(), modes, records, argv, root=ROOT)


def fail(message):
    """Stop with exit status 2: the suite cannot run here."""
    print(message, file=sys.stderr)
    sys.exit(2)


def pytensor_site_dir():
    """The directory holding the installed `pytensor` package, after
    checking its version (no import of pytensor itself)."""
    import importlib.metadata
    import importlib.util

    spec = importlib.util.find_spec("pytensor")
    if spec is None or not spec.submodule_search_locations:
        fail("peer_pytensor/run.py: pytensor is not installed in %s"
                 % sys.executable)
    version = importlib.metadata.version("pytensor")
    if version != PYTENSOR_VERSION:
        fail("peer_pytensor/run.py: the tests are PyTensor %s's, but %s "
                 "has pytensor %s" % (PYTENSOR_VERSION, sys.executable,
                                      version))
    return os.path.dirname(list(spec.submodule_search_locations)[0])


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_sdist(cache, archive):
    """pip downloads the sdist (--no-binary pytensor: the source archive,
    whose metadata pip prepares in an isolated build environment, from
    wheels) into a fresh directory; checked, it becomes `archive`."""
    print("peer_pytensor/run.py: pip download %s (sdist)" % SDIST_NAME,
          file=sys.stderr)
    tmp = tempfile.mkdtemp(prefix="download-", dir=cache)
    try:
        cmd = [sys.executable, "-m", "pip", "download", "--no-input", "-q",
               "--no-deps", "--no-binary", "pytensor",
               "pytensor==%s" % PYTENSOR_VERSION, "-d", tmp]
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL)
        got = os.path.join(tmp, SDIST_NAME + ".tar.gz")
        if proc.returncode != 0 or not os.path.exists(got):
            fail("peer_pytensor/run.py: cannot get PyTensor's tests: `%s` "
                     "failed (exit %s)" % (" ".join(cmd[2:]), proc.returncode))
        digest = sha256_of(got)
        if digest != SDIST_SHA256:
            fail("peer_pytensor/run.py: %s.tar.gz has sha256 %s, not the "
                     "pinned %s" % (SDIST_NAME, digest, SDIST_SHA256))
        os.replace(got, archive)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sdist_tests(cache):
    """The extracted sdist's directory (holding tests/): downloaded and
    checked against SDIST_SHA256 once, then reused."""
    target = os.path.join(cache, SDIST_NAME)
    stamp = os.path.join(target, ".sha256")
    if os.path.exists(stamp) and open(stamp).read().strip() == SDIST_SHA256:
        return target
    os.makedirs(cache, exist_ok=True)
    archive = os.path.join(cache, SDIST_NAME + ".tar.gz")
    if not os.path.exists(archive) or sha256_of(archive) != SDIST_SHA256:
        download_sdist(cache, archive)
    if os.path.exists(target):
        shutil.rmtree(target)
    prefix = SDIST_NAME + "/tests/"
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers()
                   if m.name.startswith(prefix) and (m.isfile() or m.isdir())
                   and ".." not in m.name.split("/")]
        tar.extractall(cache, members=members, filter="data")
    with open(stamp, "w") as fh:
        fh.write(SDIST_SHA256 + "\n")
    return target


def pytensor_flags(compiledir):
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    parts = [f for f in flags.split(",") if f.strip()]
    dropped = [p for p in parts
               if p.split("=", 1)[0].strip() in ("mode", "linker")]
    if dropped:
        print("peer_pytensor/run.py: ignoring PYTENSOR_FLAGS %s"
              % ",".join(dropped), file=sys.stderr)
        parts = [p for p in parts if p not in dropped]
    if compiledir:
        parts = [p for p in parts if p.split("=", 1)[0].strip()
                 not in ("base_compiledir", "compiledir")]
        parts.append("base_compiledir=" + compiledir)
    return ",".join(parts)


def pytest_command(kind, rootdir, files, with_hook_tests, extra):
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "-c", os.path.join(HERE, "pytest.ini"), "--rootdir", rootdir]
    if kind == "doctest":
        cmd.append("--doctest-modules")
    # peer_pytensor/ (or its conftest.py alone) among the arguments makes
    # the hook an initial conftest: loaded before any test module.
    cmd.append(HERE if with_hook_tests else os.path.join(HERE, "conftest.py"))
    cmd += [os.path.join(rootdir, f) for f in files]
    return cmd + list(extra)


def run_pytest(mode, lane, kind, rootdir, files, env_base, compiledir, extra,
               timeout):
    """One pytest process; returns its record (outcomes read back)."""
    name = "%s-lane%d" % (mode, lane)
    report = os.path.join(RESULTS, name + ".jsonl")
    log = os.path.join(RESULTS, name + ".log")
    if os.path.exists(report):
        os.remove(report)
    env = dict(env_base, LOWMEM_PEER_MODE=mode, LOWMEM_PEER_REPORT=report,
               PYTENSOR_FLAGS=pytensor_flags(compiledir))
    start = time.monotonic()
    with open(log, "w") as logf:
        proc = subprocess.Popen(
            pytest_command(kind, rootdir, files, lane == 0, extra), cwd=ROOT,
            env=env, stdout=logf, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            returncode = "timeout after %ds" % timeout
    return {"mode": mode, "lane": lane, "returncode": returncode,
            "seconds": time.monotonic() - start, "log": log,
            "tests": peer_compare.outcomes(report),
            "fallbacks": peer_compare.fallbacks(report)}


def run_lane(lane, kind, rootdir, files, modes, env_base, compiledir, extra,
             timeout):
    """The runs of one lane, one mode after the other (the first fills the
    Numba cache with the default order of each function)."""
    return [run_pytest(m, lane, kind, rootdir, files, env_base, compiledir,
                       extra, timeout) for m in modes]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modes", default="default,lowmem",
                    help="comma-separated runs (default: default,lowmem)")
    ap.add_argument("--jobs", type=int, choices=(1, 2),
                    default=2 if (os.cpu_count() or 1) >= 2 else 1,
                    help="2: the two lanes of the subset at once (default "
                    "with >= 2 CPUs); 1: one after the other")
    ap.add_argument("--compiledir", help="a directory for the runs' "
                    "PyTensor compile caches (base_compiledir; default: "
                    "PyTensor's)")
    ap.add_argument("--cache", default=DEFAULT_CACHE,
                    help="where the sdist is kept and extracted "
                    "(default: build/peer-pytensor)")
    ap.add_argument("--timeout", type=int, default=3600,
                    help="seconds per run before it is killed (3600)")
    ap.add_argument("--out", default=os.path.join(RESULTS, "latest.md"))
    args = ap.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in MODES for m in modes) or \
            len(set(modes)) != len(modes):
        ap.error("--modes: one or both of %s" % ", ".join(MODES))

    os.makedirs(RESULTS, exist_ok=True)
    site = pytensor_site_dir()
    sdist = sdist_tests(os.path.abspath(args.cache))
    env_base = dict(os.environ, LOWMEM_PEER_TESTS_DIR=os.path.join(sdist, "tests"),
                    LOWMEM_PEER_DESELECT="\n".join(sorted(DESELECT)))
    env_base["PYTHONPATH"] = os.pathsep.join(
        [ROOT] + [p for p in env_base.get("PYTHONPATH", "").split(os.pathsep)
                  if p])
    rootdirs = {"sdist": sdist, "doctest": site}
    lanes = [(k, kind, rootdirs[kind], files)
             for k, (kind, files) in enumerate(LANES)]
    dirs = [None] * len(lanes)
    if args.compiledir:
        base = os.path.abspath(args.compiledir)
        dirs = [os.path.join(base, "lane%d" % k) for k in range(len(lanes))]
    jobs = []
    for k, kind, rootdir, files in lanes:
        jobs.append((k, kind, rootdir, files, modes, env_base, dirs[k], extra,
                     args.timeout))
    if args.jobs == 2:
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            futures = [pool.submit(run_lane, *job) for job in jobs]
            records = [r for f in futures for r in f.result()]
    else:
        records = [r for job in jobs for r in run_lane(*job)]
    text, ok = summarise(modes, records,
                         argv + (["--"] + extra if extra else []))
    with open(args.out, "w") as fh:
        fh.write(text)
    print(text, end="")
    print("(written to %s)" % os.path.relpath(args.out, os.getcwd()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
