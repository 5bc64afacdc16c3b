"""Does one order measure the same each time? (issue 12's open question)

    .venv-pytensor/bin/python -m benchmarks.pytensor_same_order [--trials N]

Compiles skip_mlp_train (benchmarks/run_pytensor.py) with LowMemMode N
times in one process; each time prints the plan's modelled peak (with and
without the Numba release lag), a hash of the order it chose, and the
measured peak (median of 3 calls) of that function and of PyTensor's own
Numba linker given the same order.
"""

import argparse
import sys
import warnings


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pytensor_same_order",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=3, help="compiles (default 3)")
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    warnings.simplefilter("ignore")
    # glibc's thresholds fixed before any large block is freed into the heap
    # (else the measure adds up a call's arrays carved from old free chunks).
    from lowmem.pytensor._measure import _fix_malloc
    _fix_malloc()
    import pytensor
    from pytensor.compile.mode import Mode
    from pytensor.link.numba.linker import NumbaLinker

    import lowmem
    import lowmem.pytensor as lp
    from benchmarks.run_pytensor import _models

    build = _models()["skip_mlp_train"]
    for trial in range(args.trials):
        inputs, outputs, updates, _, values = build()
        f = pytensor.function(inputs, outputs, updates=updates, mode=lp.LowMemMode())
        f(*values)
        plan = lp.plan(f)
        measured = sorted(lp.measure_call(f, *values)[0] for _ in range(3))[1]
        ids = list(plan.order_ids)
        inputs, outputs, updates, _, values = build()
        g = pytensor.function(inputs, outputs, updates=updates, mode=Mode(linker=NumbaLinker(
            schedule=lambda fgraph: [fgraph.toposort()[i] for i in ids])))
        g(*values)
        same = sorted(lp.measure_call(g, *values)[0] for _ in range(3))[1]
        print(f"trial {trial}: model {plan.peak:,} (no lag {lowmem.peak(plan.translation.graph, ids):,}),"
              f" order hash {hash(tuple(ids)) % 10000}, measured LowMemMode {measured:,},"
              f" PyTensor's Numba linker in that order {same:,}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
