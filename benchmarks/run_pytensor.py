"""lowmem.pytensor.LowMemMode against PyTensor's default (Numba) mode:
modelled and measured peaks, equal results, per-call time (issue 12).

    .venv-pytensor/bin/python -m benchmarks.run_pytensor [--calls N] [--out DIR]

Each model is a training step (loss and weight updates) or a forward pass,
built here in PyTensor, seeded. Per model: the compiled graph's nodes; the
modelled peak of PyTensor's listed order and of the order LowMemMode runs,
both with the Numba backend's release lag (lowmem.peak(..., release_lag=1));
the measured peak of one call in each mode (lowmem.pytensor.measure_call:
the resident set's high-water mark over the call); whether outputs and
updated weights are equal bit for bit; and per-call time, LowMemMode /
default, the median of --calls calls taken in turns (after a warm-up call
each). Markdown on stdout and DIR/pytensor_latest.md; raw figures in
DIR/pytensor_latest.json. Exit status 1 if a result differs.
"""

import argparse
import json
import os
import statistics
import sys
import time
import warnings

import numpy as np


def _models():
    import pytensor
    import pytensor.tensor as pt

    def mlp(depth=6, width=512, batch=256):
        rng = np.random.default_rng(0)
        x, y = pt.matrix("x"), pt.matrix("y")
        ws = [pytensor.shared(rng.standard_normal((width, width)) * 0.05, name=f"w{i}")
              for i in range(depth)]
        h = x
        for w in ws:
            h = pt.tanh(h @ w)
        loss = ((h - y) ** 2).mean()
        updates = [(w, w - 0.01 * g) for w, g in zip(ws, pt.grad(loss, ws))]
        values = [rng.standard_normal((batch, width)), rng.standard_normal((batch, width))]
        return [x, y], [loss], updates, ws, values

    def skip_mlp(levels=4, width=1024, batch=256):
        """A U-Net's shape in dense layers: an encoder that halves the width,
        a decoder that doubles it and adds the encoder's activation of the
        same width (skip connections keep activations alive across)."""
        rng = np.random.default_rng(1)
        x, y = pt.matrix("x"), pt.matrix("y")
        ws, skips, h, d = [], [], x, width
        for i in range(levels):
            w = pytensor.shared(rng.standard_normal((d, d // 2)) * 0.05, name=f"down{i}")
            ws.append(w)
            skips.append(h)
            h = pt.tanh(h @ w)
            d //= 2
        for i in range(levels):
            w = pytensor.shared(rng.standard_normal((d, d * 2)) * 0.05, name=f"up{i}")
            ws.append(w)
            h = pt.tanh(h @ w) + skips.pop()
            d *= 2
        loss = ((h - y) ** 2).mean()
        updates = [(w, w - 0.01 * g) for w, g in zip(ws, pt.grad(loss, ws))]
        values = [rng.standard_normal((batch, width)), rng.standard_normal((batch, width))]
        return [x, y], [loss], updates, ws, values

    def branches(k=4, n=600):
        """k independent dot-tanh-sum chains summed (forward only)."""
        rng = np.random.default_rng(2)
        x = pt.matrix("x")
        ws = [pt.matrix(f"w{i}") for i in range(k)]
        out = sum(pt.tanh(x @ w).sum(axis=0) for w in ws)
        values = [rng.random((n, n)) / n for _ in range(k + 1)]
        return [x] + ws, [out], [], [], values

    return {"mlp_train": mlp, "skip_mlp_train": skip_mlp, "branches": branches}


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
    f1 = functions["lowmem"][0]
    plan = lp.plan(f1)
    row["nodes"] = len(plan.order_ids)
    row["model_listed"] = plan.listed_peak
    row["model_lowmem"] = plan.peak
    row["model_unlagged_listed"] = lowmem.peak(plan.translation.graph)
    row["model_unlagged_lowmem"] = plan.schedule.peak
    row["record_s"] = plan.record_seconds
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
    return row


def table(rows):
    head = ("| model | nodes | model, listed order | model, lowmem | measured, default | "
            "measured, lowmem | measured / default | equal | call ms default | "
            "call ms lowmem | ratio | record + schedule s |")
    lines = [head, "|" + " --- |" * 12]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['nodes']} | {r['model_listed']:,} | {r['model_lowmem']:,} | "
            f"{r['measured_default']:,} | {r['measured_lowmem']:,} | "
            f"{r['measured_lowmem'] / max(1, r['measured_default']):.3f} | "
            f"{'yes' if r['equal'] else 'NO'} | {r['call_ms_default']:.2f} | "
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
    args = parser.parse_args(argv)
    if args.calls < 1:
        parser.error("--calls must be at least 1")
    warnings.filterwarnings("ignore", category=UserWarning, module="pytensor")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    rows = []
    for name, build in _models().items():
        print(f"  {name} ...", file=sys.stderr, flush=True)
        rows.append(run_model(name, build, args.calls))
    import pytensor
    text = (f"# lowmem.pytensor.LowMemMode against PyTensor's default (Numba) mode\n\n"
            f"{time.strftime('%Y-%m-%d %H:%M')}, PyTensor {pytensor.__version__}, "
            f"median of {args.calls} calls in turns; peaks in bytes (model: with the "
            f"Numba backend's release lag of one statement).\n\n{table(rows)}\n")
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "pytensor_latest.md"), "w") as f:
        f.write(text)
    with open(os.path.join(args.out, "pytensor_latest.json"), "w") as f:
        json.dump(rows, f, indent=1)
    return 0 if all(r["equal"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
