"""What lowmem's demos (lowmem.theano._demo, lowmem.pytensor._demo) share:
the record of a function's calls and the bit-for-bit comparison of two such
records. Library-neutral (NumPy only); each demo runs and measures its
calls with its own library's tools."""

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Run:
    """The calls of one compiled function on a sequence of inputs."""
    outputs: list                 # per call: list of output arrays
    weights: list                 # shared values after the last call
    measured: object = None       # the measurement of one call (the library's), None: not
    seconds: list = field(default_factory=list)
    later: list = field(default_factory=list)   # seconds of the calls neither first nor measured
    note: str = None              # why the call was not measured


def same_array(a, b):
    """Bit-for-bit equality (dtype, shape and bytes; NaNs compare by bits)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and \
        np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def set_weights(shared, values):
    """Give shared variables (Theano's or PyTensor's) copies of `values`."""
    for s, v in zip(shared, values):
        s.set_value(v.copy(), borrow=False)


def comparison_line(diffs, calls, n_outputs, n_weights):
    """The demo's verdict: what differs between the two modes, or that
    nothing does."""
    if diffs:
        return (f"OUTPUTS DIFFER between the default mode and LowMemMode: "
                f"{', '.join(diffs[:10])}" + (" ..." if len(diffs) > 10 else ""))
    return (f"Outputs: bit-for-bit equal in both modes ({calls} calls x {n_outputs} "
            f"output(s), and the {n_weights} updated shared weights)")


def differences(a, b):
    """Human-readable list of what differs between two Runs."""
    out = []
    for call, (oa, ob) in enumerate(zip(a.outputs, b.outputs)):
        for pos, (x, y) in enumerate(zip(oa, ob)):
            if not same_array(x, y):
                out.append(f"call {call + 1}, output {pos}")
    for pos, (x, y) in enumerate(zip(a.weights, b.weights)):
        if not same_array(x, y):
            out.append(f"updated shared weight {pos}")
    return out
