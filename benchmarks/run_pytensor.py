"""lowmem.pytensor.LowMemMode against PyTensor's default (Numba) mode:
modelled and measured peaks, equal results, per-call time (issue 12).

    .venv-pytensor/bin/python -m benchmarks.run_pytensor [--calls N] [--out DIR]
        [--models NAME ...]

Each model is a training step (loss and weight updates) or a forward pass,
seeded: three built here (mlp_train, skip_mlp_train, branches) and the zoo
(lowmem/pytensor/_models.py, at its builders' default sizes, the Theano
zoo's): zoo:NAME_train for a training step, zoo:NAME for inference.
--models picks some (default: all); each model runs in a process of its
own, so that what one leaves in the process cannot count in the next one's
peaks. Per model: the compiled graph's nodes; the modelled peak of
PyTensor's listed order and of the order LowMemMode runs (lowmem.peak:
LowMemMode's Numba code releases each value at its last use, as the model
has it; PyTensor's default Numba code may release later, which only raises
its measured peak); the measured peak of one call in each mode
(lowmem.pytensor.measure_call: the resident set's high-water mark over the
call, median of 3; glibc's thresholds are fixed before anything is built,
else large arrays are carved from old free heap chunks whose frees the
resident set never sees); the
measured saving over the modelled saving; whether outputs and
updated weights are equal bit for bit ("close": allclose with rtol 1e-4,
atol 1e-6, as Numba's fastmath may sum in another order); and per-call time, LowMemMode /
default, the median of --calls calls taken in turns (after a warm-up call
each). Markdown on stdout and DIR/pytensor_latest.md; raw figures in
DIR/pytensor_latest.json. Exit status 1 if a result differs.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np


def _models():
    import functools
    from lowmem.pytensor import _models as zoo
    out = {"mlp_train": _builder(zoo.dense_mlp), "skip_mlp_train": _builder(zoo.skip_mlp),
           "branches": _builder(zoo.branches)}
    for name in zoo.names():
        for train in (True, False):
            out[f"zoo:{name}{'_train' if train else ''}"] = _builder(
                functools.partial(zoo.build, name, train=train))
    return out


def _builder(model):
    """A lowmem.pytensor._models builder as this script's: (inputs,
    outputs, updates, updated shared variables, values)."""
    def build():
        inputs, outputs, updates, make_data = model()
        return inputs, outputs, updates, [w for w, _ in updates], make_data()
    return build


def _run_one(name, calls):
    """Run one model in this process; print its row as JSON on stdout."""
    # glibc's thresholds fixed before anything is built (see the docstring).
    from lowmem.pytensor._measure import _fix_malloc
    _fix_malloc()
    warnings.filterwarnings("ignore", category=UserWarning, module="pytensor")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    print(json.dumps(run_model(name, _models()[name], calls)))
    return 0


def run_model(name, build, calls):
    import pytensor
    from pytensor.compile.mode import Mode
    from pytensor.link.numba.linker import NumbaLinker

    import lowmem
    import lowmem.pytensor as lp

    row = {"model": name}
    functions, results = {}, {}
    for mode_name, mode in (("default", Mode(linker=NumbaLinker())),
                            ("lowmem", lp.LowMemMode())):
        inputs, outputs, updates, shared, values = build()
        t0 = time.perf_counter()
        f = pytensor.function(inputs, outputs, updates=updates, mode=mode)
        compiled = time.perf_counter() - t0
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("error", lp.LowMemWarning)
            first = f(*values)
        row[f"{mode_name}_compile_s"] = compiled
        row[f"{mode_name}_first_call_s"] = time.perf_counter() - t0
        functions[mode_name] = (f, values, shared)
        results[mode_name] = ([np.asarray(o) for o in first], [w.get_value() for w in shared])
    (o0, w0), (o1, w1) = results["default"], results["lowmem"]
    row["equal"] = (all(np.array_equal(a, b) for a, b in zip(o0, o1))
                    and all(np.array_equal(a, b) for a, b in zip(w0, w1)))
    # Numba's fastmath may reassociate a sum differently in another order:
    # "close" is allclose at float32's scale (rtol 1e-4, atol 1e-6).
    pairs = list(zip(o0, o1)) + list(zip(w0, w1))
    row["close"] = all(np.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in pairs)
    row["max_abs_diff"] = max((float(np.max(np.abs(np.asarray(a, dtype=float)
                                                    - np.asarray(b, dtype=float))))
                               for a, b in pairs if np.size(a)), default=0.0)
    f1 = functions["lowmem"][0]
    plan = lp.plan(f1)
    row["nodes"] = len(plan.order_ids)
    row["model_listed"] = plan.listed_peak
    row["model_lowmem"] = plan.peak
    row["record_s"] = plan.record_seconds
    row["translate_s"] = getattr(plan, "translate_seconds", 0.0)
    row["schedule_s"] = plan.schedule_seconds
    measured, times = {}, {"default": [], "lowmem": []}
    for mode_name in ("default", "lowmem"):
        f, values, _ = functions[mode_name]
        measured[mode_name] = sorted(lp.measure_call(f, *values)[0] for _ in range(3))[1]
    for i in range(calls):
        for mode_name in (("default", "lowmem") if i % 2 == 0 else ("lowmem", "default")):
            f, values, _ = functions[mode_name]
            t0 = time.perf_counter()
            f(*values)
            times[mode_name].append(time.perf_counter() - t0)
    row["measured_default"] = measured["default"]
    row["measured_lowmem"] = measured["lowmem"]
    row["call_ms_default"] = 1000 * statistics.median(times["default"])
    row["call_ms_lowmem"] = 1000 * statistics.median(times["lowmem"])
    row["call_ratio"] = row["call_ms_lowmem"] / row["call_ms_default"]
    row["modelled_saving"] = row["model_listed"] - row["model_lowmem"]
    row["measured_saving"] = row["measured_default"] - row["measured_lowmem"]
    return row


def _saving_ratio(r):
    """Measured saving / modelled saving, or "-" when the model saves < 1%."""
    if r["modelled_saving"] <= 0.01 * r["model_listed"]:
        return "-"
    return f"{r['measured_saving'] / r['modelled_saving']:.2f}"


def table(rows):
    head = ("| model | nodes | model, listed order | model, lowmem | measured, default | "
            "measured, lowmem | measured / default | measured saving / modelled | equal | "
            "call ms default | call ms lowmem | ratio | record + schedule s |")
    lines = [head, "|" + " --- |" * 13]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['nodes']} | {r['model_listed']:,} | {r['model_lowmem']:,} | "
            f"{r['measured_default']:,} | {r['measured_lowmem']:,} | "
            f"{r['measured_lowmem'] / max(1, r['measured_default']):.3f} | {_saving_ratio(r)} | "
            f"{'yes' if r['equal'] else 'close' if r['close'] else 'NO'} | "
            f"{r['call_ms_default']:.2f} | "
            f"{r['call_ms_lowmem']:.2f} | {r['call_ratio']:.3f} | "
            f"{r['record_s'] + r['schedule_s']:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_pytensor",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=31,
                        help="timed calls per mode, taken in turns (default 31)")
    parser.add_argument("--out", default=os.path.join("benchmarks", "results"),
                        help="folder for pytensor_latest.md and .json")
    parser.add_argument("--models", nargs="+", metavar="NAME",
                        help="models to run (default: all); zoo models as zoo:NAME "
                             "(inference) or zoo:NAME_train (training step)")
    parser.add_argument("--one", metavar="NAME", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.calls < 1:
        parser.error("--calls must be at least 1")
    if args.one is not None:            # a child run: one model, its row on stdout
        return _run_one(args.one, args.calls)
    known = list(_models())
    names = args.models or known
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(known)}")
    rows = []
    for name in names:
        print(f"  {name} ...", file=sys.stderr, flush=True)
        # Each model in a process of its own: what one model's calls leave
        # in the process (heap, arenas, BLAS threads' buffers) must not
        # count in the next one's measured peaks.
        child = subprocess.run([sys.executable, "-m", "benchmarks.run_pytensor", "--one", name,
                                "--calls", str(args.calls)], capture_output=True, text=True)
        if child.returncode != 0:
            tail = (child.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"run_pytensor: model {name} failed (exit {child.returncode}): {tail}",
                  file=sys.stderr)
            return 1
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print("  " + json.dumps(rows[-1]), file=sys.stderr, flush=True)
    import pytensor
    text = (f"# lowmem.pytensor.LowMemMode against PyTensor's default (Numba) mode\n\n"
            f"{time.strftime('%Y-%m-%d %H:%M')}, PyTensor {pytensor.__version__}, "
            f"median of {args.calls} calls in turns; peaks in bytes (model: lowmem.peak, "
            f"values released at their last use); each model in its own process.\n\n"
            f"{table(rows)}\n")
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "pytensor_latest.md"), "w") as f:
        f.write(text)
    with open(os.path.join(args.out, "pytensor_latest.json"), "w") as f:
        json.dump(rows, f, indent=1)
    return 0 if all(r["equal"] or r["close"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
