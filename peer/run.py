#!/usr/bin/env python
"""Theano's own tests as a peer suite for lowmem's mode.

Runs a fixed subset of the Theano test suite installed in this environment
twice with pytest, once as Theano ships it (mode "default") and once with
lowmem.theano.LowMemMode as the default mode (mode "lowmem", see
peer/conftest.py), compares the outcome of every test and writes a summary to
peer/results/latest.md. Exit status: 0 when every test has the same outcome
in both runs and each run passes enough of them (MIN_PASSED), 1 when any
differs, a run passes too few or did not complete, 2 on bad usage.

    python peer/run.py                 # both runs, one after the other
    python peer/run.py --jobs 2        # both runs at once (2 cores)
    python peer/run.py --modes lowmem  # one run, no comparison
    python peer/run.py -- -x           # extra arguments go to pytest

The THEANO_FLAGS of the caller are kept except `mode` and `linker` (the
baseline is Theano's default mode); `blas.ldflags=` is added when they do not
set it (Theano needs it with this NumPy). `--compiledir DIR` adds
`compiledir=DIR` (a fresh directory measures a clean machine's cost).
"""

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
# The verdict (records read back, runs compared, MIN_PASSED, summary) is
# peer_compare.py's, shared with peer_pytensor/run.py.
if HERE not in sys.path:
    sys.path.insert(0, HERE)
import peer_compare  # noqa: E402
from peer_compare import MODES, OUTCOMES, one_line, outcomes  # noqa: E402,F401

# The subset: test files inside the installed `theano` package, in two lanes
# that run at once (--jobs 2), each lane with its own compile cache. Sized so
# that a clean machine (empty Theano compile cache: every op's C code compiles
# once) runs both modes in a few minutes per lane; see peer/README.md.
LANES = [
    ["compile/tests/test_profiling.py",
     "tensor/tests/test_elemwise.py",
     "tensor/nnet/tests/test_nnet.py"],
    ["scan_module/tests/test_scan.py"],
]
SUBSET_FILES = [f for lane in LANES for f in lane]

# Same outcomes in both modes is not enough: a broken environment (Theano
# not importing, a lane that never starts) fails every test the same way in
# both. So each run must also pass at least MIN_PASSED tests, and every
# file of the subset (and peer/test_peer_mode.py, which checks that the mode
# hook took effect) at least one. The subset has 248 tests; the runs of
# 2026-11 passed 233 (5 fail in both modes: a bug in Theano's tests, 10
# skip). 200 leaves room for a few tests that skip or fail on another
# machine, while losing any one file or lane (the smaller lane passes 113)
# falls below it. With pytest arguments after `--` (a -k selection) the
# minimum is one passed test.
MIN_PASSED = 200
HOOK_TESTS = "test_peer_mode.py"

# Left out: tests whose cost with an empty compile cache is far above the
# rest (seconds measured in the default mode, in file order on a 2-core
# machine; the compile cost moves to later tests when an earlier one is left
# out). Node ids are relative to the directory holding `theano`.
_ELEMWISE_SLOW = {  # dtype/broadcast loops: one C module per combination
    # (test_Broadcast::test_c_inplace, 25 s, is kept: in-place outputs)
    "test_CAReduce::test_c": 455,
    "T_reduce_dtype": 7 * 60,
    "T_mean_dtype": 3 * 60,
    "T_prod_without_zeros_dtype": 4 * 60,
    "test_CAReduce::test_c_noopt": 25,
    "test_CAReduce::test_perform": 26,
    "test_CAReduce::test_infer_shape": 18,
    "test_Prod::test_other_grad_tests": 31,
    "test_Prod::test_prod_no_zeros_in_input": 22,
}
_SCAN_SLOW = {  # more than 5 s each, except a few kept for what they test
    # (test_save_mem*, test_fold*_memory_consumption, test_grad_one_output,
    # test_rop, test_alloc_inputs1)
    "T_Scan::test_alloc_inputs3": 13,
    "T_Scan::test_backwards": 19,
    "T_Scan::test_borrow_bug_jeremiah": 12,
    "T_Scan::test_bugFunctioProvidesIntermediateNodesAsInputs": 6,
    "T_Scan::test_dot_optimization": 10,
    "T_Scan::test_grad_bug_disconnected_input": 15,
    "T_Scan::test_grad_dtype_change": 15,
    "T_Scan::test_grad_duplicate_outputs": 20,
    "T_Scan::test_grad_multiple_outs": 37,
    "T_Scan::test_grad_multiple_outs_some_uncomputable": 9,
    "T_Scan::test_grad_multiple_outs_taps": 45,
    "T_Scan::test_grad_multiple_outs_taps_backwards": 100,
    "T_Scan::test_grad_multiple_seqs_different_nsteps": 29,
    "T_Scan::test_grad_multiple_taps_state": 23,
    "T_Scan::test_grad_of_grad_of_state": 28,
    "T_Scan::test_hessian_bug_grad_grad_two_scans": 48,
    "T_Scan::test_pushout_seqs": 21,
    "T_Scan::test_rop2": 22,
    "T_Scan::test_save_mem_reduced_number_of_steps": 11,
    "T_Scan::test_savemem_opt_0_step": 8,
    "T_Scan::test_scan_as_tensor_on_gradients": 6,
    "T_Scan::test_simple_shared_mrg_random": 5,
    "T_Scan::test_subtensor_multiple_slices": 5,
    "T_Scan::test_verify_second_grad_mitsot1": 35,
    "TestGradUntil::test_grad_until": 7,
    "TestGradUntil::test_grad_until_and_truncate_sequence_taps": 5,
    "test_compute_test_value_grad": 15,
    "test_compute_test_value_grad_cast": 8,
    "test_default_value_broadcasted": 14,
}
_NNET_SLOW = {
    "T_CrossentropyCategorical1Hot::"
    "test_crossentropy_softmax_1hot_with_bias_dxcale_cost": 37,
    "test_relu": 33,
    "T_LogSoftmax::test_allclose": 11,
    "test_h_softmax": 10,
    "Test_softmax_opt::test_transpose_basic": 11,  # skipped after compiling
    "Test_softmax_opt::test_1d_basic": 8,  # skipped after compiling
}
DESELECT = {}
for _file, _slow in (("tensor/tests/test_elemwise.py", _ELEMWISE_SLOW),
                     ("scan_module/tests/test_scan.py", _SCAN_SLOW),
                     ("tensor/nnet/tests/test_nnet.py", _NNET_SLOW)):
    for _test, _seconds in _slow.items():
        DESELECT["theano/%s::%s" % (_file, _test)] = _seconds


def theano_site_dir():
    """The directory holding the installed `theano` package (no import)."""
    import importlib.util

    spec = importlib.util.find_spec("theano")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("peer/run.py: theano is not installed in %s" % sys.executable)
    return os.path.dirname(list(spec.submodule_search_locations)[0])


def theano_flags():
    flags = os.environ.get("THEANO_FLAGS", "")
    parts = [f for f in flags.split(",") if f.strip()]
    # The baseline is Theano's own default mode: drop flags that change it.
    dropped = [p for p in parts
               if p.split("=", 1)[0].strip() in ("mode", "linker")]
    if dropped:
        print("peer/run.py: ignoring THEANO_FLAGS %s" % ",".join(dropped),
              file=sys.stderr)
        parts = [p for p in parts if p not in dropped]
    if not any(p.split("=", 1)[0].strip() == "blas.ldflags" for p in parts):
        parts.append("blas.ldflags=")
    return ",".join(parts)


def lane_compiledirs(flags, compiledir, lanes):
    """One Theano compiledir per lane: two processes sharing a compiledir
    take turns on its lock, and with a cold cache the waiting one starves."""
    if compiledir:
        base = os.path.abspath(compiledir)
        return [os.path.join(base, "lane%d" % k) for k in range(lanes)]
    given = dict(p.split("=", 1) for p in flags.split(",") if "=" in p)
    first = given.get("compiledir")  # None: Theano's own default
    root = first or os.path.join(
        os.path.expanduser(given.get("base_compiledir", "~/.theano")),
        "lowmem-peer")
    return [first] + [root + "-lane%d" % k for k in range(1, lanes)]


def pytest_command(site, tests, with_hook_tests, extra):
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "-c", os.path.join(HERE, "pytest.ini"), "--rootdir", site]
    # peer/ (or its conftest.py alone) among the arguments makes the hook an
    # initial conftest: loaded before any Theano test module is imported.
    cmd.append(HERE if with_hook_tests else os.path.join(HERE, "conftest.py"))
    cmd += [os.path.join(site, "theano", t) for t in tests]
    return cmd + list(extra)


def run_pytest(mode, lane, site, tests, flags, compiledir, extra, timeout):
    """One pytest process; returns its record (outcomes read back)."""
    name = "%s-lane%d" % (mode, lane)
    report = os.path.join(RESULTS, name + ".jsonl")
    log = os.path.join(RESULTS, name + ".log")
    if os.path.exists(report):
        os.remove(report)
    if compiledir:
        flags = ",".join([p for p in flags.split(",")
                          if p.split("=", 1)[0].strip() != "compiledir"]
                         + ["compiledir=" + compiledir])
    env = dict(os.environ, LOWMEM_PEER_MODE=mode, LOWMEM_PEER_REPORT=report,
               LOWMEM_PEER_DESELECT="\n".join(sorted(DESELECT)),
               THEANO_FLAGS=flags)
    env["PYTHONPATH"] = os.pathsep.join(
        [ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    start = time.monotonic()
    with open(log, "w") as logf:
        proc = subprocess.Popen(
            pytest_command(site, tests, lane == 0, extra), cwd=ROOT, env=env,
            stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            returncode = "timeout after %ds" % timeout
    return {"mode": mode, "lane": lane, "returncode": returncode,
            "seconds": time.monotonic() - start, "log": log,
            "tests": outcomes(report)}


def run_lane(lane, tests, modes, site, flags, compiledir, extra, timeout):
    """The runs of one lane, one mode after the other: the first run fills
    the lane's compile cache, the next ones reuse it."""
    return [run_pytest(m, lane, site, tests, flags, compiledir, extra,
                       timeout) for m in modes]


def suite():
    """This suite's rules for peer_compare (read at call time)."""
    return peer_compare.Suite(
        title="Theano peer suite", script="peer/run.py", subset=SUBSET_FILES,
        deselected=len(DESELECT), min_passed=MIN_PASSED,
        required_files=["theano/" + f for f in SUBSET_FILES] + [HOOK_TESTS],
        min_passed_where="MIN_PASSED in peer/run.py")


def too_few_passed(mode, tests, selected):
    """Problems with the passed tests of one run (see MIN_PASSED); empty
    when there are enough. `selected`: pytest was given a selection, so
    only one passed test is required."""
    return peer_compare.too_few_passed(suite(), mode, tests, selected)


def summarise(modes, records, argv):
    """(Markdown summary, ok); `records` are run_pytest results of every
    lane."""
    return peer_compare.summarise(suite(), modes, records, argv, root=ROOT)


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
                    help="2: the two lanes of the subset at once, each with "
                    "its own compile cache (default with >= 2 CPUs)")
    ap.add_argument("--compiledir", help="directory for the runs' Theano "
                    "compile caches (default: Theano's; lane 2 beside it)")
    ap.add_argument("--timeout", type=int, default=3600,
                    help="seconds per run before it is killed (3600)")
    ap.add_argument("--out", default=os.path.join(RESULTS, "latest.md"))
    args = ap.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in MODES for m in modes) or \
            len(set(modes)) != len(modes):
        ap.error("--modes: one or both of %s" % ", ".join(MODES))

    os.makedirs(RESULTS, exist_ok=True)
    site = theano_site_dir()
    flags = theano_flags()
    lanes = LANES if args.jobs == 2 else [sum(LANES, [])]
    dirs = lane_compiledirs(flags, args.compiledir, len(lanes))
    with ThreadPoolExecutor(max_workers=len(lanes)) as pool:
        futures = [pool.submit(run_lane, k, tests, modes, site, flags,
                               dirs[k], extra, args.timeout)
                   for k, tests in enumerate(lanes)]
        records = [r for f in futures for r in f.result()]
    text, ok = summarise(modes, records,
                         argv + (["--"] + extra if extra else []))
    with open(args.out, "w") as fh:
        fh.write(text)
    print(text, end="")
    print("(written to %s)" % os.path.relpath(args.out, os.getcwd()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
