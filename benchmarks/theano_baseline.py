"""Theano's own minimum-peak search, as a baseline for lowmem.

Theano 1.0.5's ``theano/compile/tests/test_profiling.py`` builds a profiler
test graph from 3 float32 vectors of 1024 elements::

    z = [outer(x[i], x[i+1]).sum(axis=1) for i in 0, 1]
      + [x[i] + x[i+1]                  for i in 0, 1]

compiles it with ``profile=ProfileStats(False, gpu_checks=False)`` and the
flags ``profile``, ``profile_memory`` and ``profiling.min_peak_memory`` set,
calls it once and prints ``f.profile.summary(buf)``; the summary runs
``count_minimum_peak`` (an exhaustive search over valid node orders) and
reports "Minimum peak from all valid apply node order is <N>KB". The test
expects 4104KB for k=3 on CPU.

This module scales that graph to k vectors (k-1 outer/sum pairs and k-1 adds)
and times Theano's search. Each measurement runs in a child process with a
timeout, so a k whose search takes too long gives None instead of hanging.

    python -m benchmarks.theano_baseline [--timeout S] [--k 3 4 ...] [--json]
    python -m benchmarks.theano_baseline --dump 3     # optimised graph dump
"""
import argparse
import io
import json
import os
import re
import signal
import subprocess
import sys
import time

N = 1024  # elements per input vector, as in the Theano test


def _ensure_theano_flags():
    """Theano 1.0.5 + NumPy 1.23 on Python 3.11 crashes reading NumPy's build
    config unless ``blas.ldflags`` is given; add an empty one if the user did
    not set it. Must run before theano is imported."""
    flags = os.environ.get("THEANO_FLAGS", "")
    if "blas.ldflags" not in flags:
        os.environ["THEANO_FLAGS"] = (flags + "," if flags else "") + "blas.ldflags="


def build_function(k, n=N):
    """Compile the k-vector version of Theano's profiler test graph.

    Returns ``(f, inputs)``: the compiled function (profile attached, memory
    profiling and ``profiling.min_peak_memory`` on) and the k input arrays
    the test uses (``arange(n) + 1``, float32). The config flags stay set
    for the rest of the process, so that ``f.profile.summary`` runs the
    minimum-peak search.
    """
    if k < 2:
        raise ValueError("k must be >= 2")
    _ensure_theano_flags()
    import numpy as np
    import theano
    import theano.tensor as T

    theano.config.profile = True
    theano.config.profile_memory = True
    theano.config.profiling.min_peak_memory = True

    x = [T.fvector("val%i" % i) for i in range(k)]
    z = []
    z += [T.outer(x[i], x[i + 1]).sum(axis=1) for i in range(len(x) - 1)]
    z += [x[i] + x[i + 1] for i in range(len(x) - 1)]

    p = theano.ProfileStats(False, gpu_checks=False)
    if theano.config.mode in ["DebugMode", "DEBUG_MODE", "FAST_COMPILE"]:
        m = "FAST_RUN"
    else:
        m = None
    f = theano.function(x, z, profile=p, name="test_profiling_k%d" % k, mode=m)
    inputs = [np.arange(n, dtype="float32") + 1 for _ in range(k)]
    return f, inputs


_MIN_PEAK = re.compile(
    r"Minimum peak from all valid apply node order is (\d+)KB\(took ([0-9.]+)s")
_CPU = re.compile(r"CPU: (\d+)KB(?: \((\d+)KB\))?")


def _parse_summary(text):
    """Pull the memory figures (KB, as printed) out of a profile summary."""
    out = {}
    m = _MIN_PEAK.search(text)
    if m:
        out["min_peak_kb"] = int(m.group(1))
        out["theano_search_seconds"] = float(m.group(2))
    # "Max peak memory with current setting" -> first CPU line:
    #   CPU: <executed (Stack VM) order>KB (<fgraph.toposort() order>KB)
    # "Max peak memory if allow_gc=False" -> third CPU line.
    cpu = _CPU.findall(text)
    if len(cpu) >= 3:
        out["peak_executed_order_kb"] = int(cpu[0][0])
        out["peak_toposort_kb"] = int(cpu[0][1])
        out["peak_no_gc_kb"] = int(cpu[2][0])
    return out


def _measure(k):
    """In-process measurement (run in the child)."""
    t0 = time.perf_counter()
    f, inputs = build_function(k)
    t1 = time.perf_counter()
    f(*inputs)
    t2 = time.perf_counter()
    buf = io.StringIO()
    f.profile.summary(buf)
    t3 = time.perf_counter()
    res = {"k": k, "nodes": len(f.maker.fgraph.apply_nodes),
           "compile_seconds": t1 - t0, "call_seconds": t2 - t1,
           "summary_seconds": t3 - t2}
    res.update(_parse_summary(buf.getvalue()))
    if "min_peak_kb" not in res:
        raise RuntimeError("no 'Minimum peak' line in the profile summary:\n"
                           + buf.getvalue())
    res["min_peak_bytes"] = res["min_peak_kb"] * 1024  # as printed (rounded KB)
    return res


def theano_min_peak(k, timeout):
    """Theano's reported minimum peak for k vectors, or None on timeout.

    Runs ``build_function(k)``, one call and ``f.profile.summary(file=buf)``
    (where ``count_minimum_peak`` runs) in a child process killed after
    ``timeout`` seconds (whole child: compile + call + summary). Returns a
    dict: ``min_peak_kb`` (as Theano prints it, rounded KB),
    ``min_peak_bytes`` (= KB * 1024), ``summary_seconds`` (wall time of
    ``summary``, i.e. the search plus formatting), ``theano_search_seconds``
    (Theano's own "took ...s"), ``compile_seconds``, ``call_seconds``,
    ``nodes`` and Theano's peaks of its executed order, of toposort and
    without gc (KB).
    """
    env = dict(os.environ)
    flags = env.get("THEANO_FLAGS", "")
    if "blas.ldflags" not in flags:
        env["THEANO_FLAGS"] = (flags + "," if flags else "") + "blas.ldflags="
    cmd = [sys.executable, os.path.abspath(__file__), "--child", str(int(k))]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the child and any g++ it spawned
        except ProcessLookupError:
            pass
        proc.communicate()
        return None
    if proc.returncode != 0:
        raise RuntimeError("theano_min_peak(k=%d) child failed (exit %d):\n%s"
                           % (k, proc.returncode, err[-4000:]))
    return json.loads(out.strip().splitlines()[-1])


def dump_graph(k, file=sys.stdout):
    """Print the optimised graph the profiler sees: debugprint plus, for each
    Apply node of ``fgraph.toposort()``, its op, inputs, runtime output
    dtype/shape, view_map and destroy_map."""
    f, inputs = build_function(k)
    f(*inputs)
    import theano
    fg = f.maker.fgraph
    shapes = f.profile.variable_shape
    # Same as debugprint(f) minus the profiler's timing columns.
    theano.printing.debugprint(fg.outputs, file=file)
    print(file=file)
    ids = {}

    def vid(v):
        if v not in ids:
            ids[v] = "v%d" % len(ids)
        return ids[v]

    for v in fg.inputs:
        vid(v)
    for i, node in enumerate(fg.toposort()):
        print("node %d: %s   (op class %s)" % (i, node.op, type(node.op).__name__),
              file=file)
        for j, v in enumerate(node.inputs):
            if v in fg.inputs:
                kind = "graph input #%d" % fg.inputs.index(v)
            elif isinstance(v, theano.Constant):
                kind = "constant %r" % (v.data,)
            else:
                kind = "output %d of node %d" % (v.owner.outputs.index(v),
                                                 fg.toposort().index(v.owner))
            print("   in[%d]  %s %-12s %s  type=%s" % (j, vid(v), v.name or v, kind,
                                                    v.type), file=file)
        for j, v in enumerate(node.outputs):
            out = " GRAPH OUTPUT #%d" % fg.outputs.index(v) if v in fg.outputs else ""
            print("   out[%d] %s dtype=%s runtime shape=%s%s"
                  % (j, vid(v), v.type.dtype, shapes.get(v), out), file=file)
        print("   view_map=%s destroy_map=%s"
              % (getattr(node.op, "view_map", {}), getattr(node.op, "destroy_map", {})),
              file=file)
    print("graph outputs:", [vid(v) for v in fg.outputs], file=file)
    topo = fg.toposort()
    executed = getattr(fg.profile, "node_executed_order", None) or []
    print("Stack VM executed order (node ids above):",
          [topo.index(n) for n in executed], file=file)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timeout", type=float, default=200.0,
                    help="seconds per k before giving up (default 200)")
    ap.add_argument("--k", type=int, nargs="+", default=list(range(3, 9)),
                    help="numbers of vectors (default 3..8)")
    ap.add_argument("--json", action="store_true", help="one JSON object per k")
    ap.add_argument("--stop-after-timeout", action="store_true",
                    help="skip larger k once one k timed out")
    ap.add_argument("--dump", type=int, metavar="K",
                    help="print the optimised graph for K vectors and exit")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a.child is not None:
        print(json.dumps(_measure(a.child)))
        return 0
    if a.dump is not None:
        dump_graph(a.dump)
        return 0

    if not a.json:
        print("%3s %6s %12s %10s %10s %10s" % ("k", "nodes", "min_peak_KB", "search_s",
                                            "summary_s", "compile_s"))
    timed_out = False
    for k in a.k:
        r = None if timed_out else theano_min_peak(k, a.timeout)
        if r is None:
            timed_out = a.stop_after_timeout
            if a.json:
                print(json.dumps({"k": k, "timeout": a.timeout}))
            else:
                print("%3d %6s %12s   timeout > %gs" % (k, "-", "-", a.timeout))
        elif a.json:
            print(json.dumps(r))
        else:
            print("%3d %6d %12d %10.3f %10.3f %10.3f"
                  % (k, r["nodes"], r["min_peak_kb"], r["theano_search_seconds"],
                     r["summary_seconds"], r["compile_seconds"]))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
