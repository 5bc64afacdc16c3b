"""The ``lowmem`` command (also ``python -m lowmem``).

    lowmem schedule FILE.json [--time-limit S] [--memory-limit MB]
                    [--max-input-bytes N] [--json]
    lowmem plan FILE.json [--order best|default] [--time-limit S]
                [--max-input-bytes N] [--json]
    lowmem demo [--backend theano|pytensor] [--out DIR] [--time-limit S]
                [--model NAME] [--calls N]
    lowmem cache [list] [--dir DIR] [--json]
    lowmem cache clear [--dir DIR] [--older-than DAYS]
    lowmem arena FILE.csv [--capacity B] [--time-limit S] [--alignment A]
                 [--json] [--output OUT.csv]

Bad input (a missing or unreadable file, a file over the size cap, invalid
JSON, an invalid graph, a bad option value) prints one line on stderr naming
the problem and exits with status 2, as do command-line usage errors. Names
from the graph file are printed with unprintable characters escaped.
`lowmem arena` exits with status 1 when a --capacity is not met.
"""

import argparse
import json
import math
import os
import re
import sys
import time

from ._units import format_bytes, human_bytes
from ._graph import BYTES_LIMIT, DEFAULT_MAX_INPUT_BYTES, GraphError, _printable, load

EXIT_OK, EXIT_NOT_MET, EXIT_BAD_INPUT = 0, 1, 2
MAX_DEMO_CALLS = 1000

_DESCRIPTION = """\
lowmem finds the execution order of a computation graph (a Theano function's
Apply nodes, or any DAG of array operations) with the lowest peak memory.

Graphs are read from JSON files in the "lowmem-graph" format, version 1: a
list of variables with their sizes in bytes, a list of nodes (inputs,
outputs, optional workspace bytes and in-place/view aliases) in a valid
default order, the graph outputs and optional extra orderings. Files may be
gzipped (detected from their first bytes). The format and the memory model
are specified in docs/format.md, with a JSON Schema in
docs/lowmem-graph.schema.json (see also README.md).
"""

_SCHEDULE_DESCRIPTION = """\
Find the order of FILE's nodes with the lowest peak memory and report it
against the listed (default) order. The search is exact and anytime: it
returns the best order found within the time limit, says whether it is
proven optimal, and gives a lower bound no order can beat. FILE is a
"lowmem-graph" JSON file, plain or gzipped (format in docs/format.md); "-"
reads standard input.
"""

_SCHEDULE_EPILOG = """\
Output: by default a human-readable report (graph name, number of nodes,
default peak, best peak and its reduction, lower bound, whether it is
proven optimal, seconds spent, the best heuristic). With --json, exactly one
JSON object on standard output:
  {"name", "nodes", "default_peak", "peak", "lower_bound", "optimal",
   "seconds", "order"}
with sizes in bytes, seconds as a number and the order as node ids (indices
into the file's "nodes").

With --memory-budget the order may list a node more than once (its
recomputations; docs/format.md, rule 5), "peak" is its peak, "lower_bound"
the lowest peak any order with recomputation can have, "optimal" means the
least added cost is proven, and the JSON object has "recompute":
  {"memory_budget", "fits", "added_cost", "cost_lower_bound", "reruns"
   (node id -> extra runs), "best_peak" (each node once),
   "memory_lower_bound", "source"}

Exit status: 0 on success; 1 when --memory-budget is not met (the report
gives the lowest peak found); 2 on bad input (missing file, not a regular
file, over --max-input-bytes, invalid JSON or graph, bad option value), with
one line on standard error naming the problem.
"""

_DEMO_DESCRIPTION = """\
Build a multi-branch convolutional network's training step in Theano (a
U-Net by default: loss and SGD updates of its weights), compile it with
Theano's default mode and with lowmem.theano.LowMemMode, run both on the
same random data for a few calls, check that their outputs and updated
weights are bit-for-bit equal, and print lowmem's report with the
predicted and measured (tracemalloc, a call after the first) peak memory
of both modes. The report's plot is written to DIR when matplotlib is
installed.

On a clean machine Theano first compiles its C code into ~/.theano, which
takes a minute or two; later runs take seconds. Progress is on stderr.

--backend pytensor does the same in PyTensor (Theano's maintained
successor) with lowmem.pytensor.LowMemMode against PyTensor's default mode
(Numba backend), on a U-Net-shaped stack of dense layers by default, and
reports lowmem's compile overhead beside PyTensor's compile time; peaks
are measured as the resident set's high-water mark over a call. PyTensor
needs Python 3.12 and NumPy 2, so it runs in its own environment: with
the interpreter named by the environment variable LOWMEM_PYTENSOR_PYTHON,
else with this one if it has PyTensor, else with .venv-pytensor/bin/python
next to lowmem's source (made by `make build-pytensor`).
"""

_PLAN_DESCRIPTION = """\
Plan storage for FILE's nodes run in an order: which arrays can share one
storage cell (same dtype and shape, lifetimes that do not overlap, never
a graph output; pairings never raise the order's peak), and an offset for
every buffer in one arena so that buffers live at the same step never
overlap. Shapes and dtypes come from the file's variables; variables
without them never share a cell. FILE is a "lowmem-graph" JSON file, plain
or gzipped (format in docs/format.md); "-" reads standard input.
"""

_PLAN_EPILOG = """\
Output: by default a human-readable report. With --json, exactly one JSON
object on standard output:
  {"name", "nodes", "order_kind", "order", "peak", "order_peak",
   "lower_bound", "arena_bytes", "cells", "allocations", "buffers",
   "seconds"}
where "order_kind" is "best" or "default", "order" the planned order as
node ids (indices into the file's "nodes"), peak is the order's peak with
cells held for reuse counted (never above order_peak), lower_bound the most
bytes of buffers live at one step, cells the distinct storage cells,
allocations the buffers the plan allocates per call, buffers those the
graph has.

Exit status: 0 on success; 2 on bad input, with one line on standard error.
"""

_DEMO_EPILOG = """\
Exit status: 0 when both modes give equal results; 1 when they differ;
2 on bad input (a bad option value or backend, an unknown model, an output
directory that cannot be created) or when Theano, or PyTensor's
environment, cannot be found, with one line on standard error naming the
problem.
"""

_CACHE_DESCRIPTION = """\
List or clear lowmem's plan cache. A function compiled with
lowmem.theano.LowMemMode records the sizes of its variables on its first
call and searches the order of its nodes with the lowest peak memory; the
resulting plan is stored on disk, keyed by a hash of the optimised graph,
so that compiling the same function again, in any process, runs the plan at
once (no recording call, no search).

Plans live in DIR, by default "lowmem-plans" in Theano's compile directory
(theano.config.compiledir, under ~/.theano unless the base_compiledir or
compiledir flags say otherwise): one JSON file per function, holding up to
8 plans for different input shapes. Files are safe to delete at any time.
To use another directory, give LowMemMode(cache_dir=DIR); to turn the cache
off, LowMemMode(plan_cache=False).

Actions: list (the default) and clear; 'lowmem cache ACTION --help' for
their options.
"""

_CACHE_LIST_DESCRIPTION = """\
List the plans in the plan cache of LowMemMode functions: per plan the
function's name, its number of nodes, the peak memory of its planned order,
whether that order is proven optimal, its age, the size of its file on disk
and the first 12 hex digits of its key (its file is DIR/KEY.json), then a
total. A missing DIR has no plans (not an error).
"""

_CACHE_LIST_EPILOG = """\
With --json, one JSON list on standard output with one object per plan:
  {"key", "name", "nodes", "peak", "optimal", "created", "bytes", "path"}
with peak and bytes in bytes and created in seconds since the epoch. A file
that cannot be read is listed with name "<unreadable>" ("<stale>" when an
older lowmem wrote it) and null for what it lacks.

Exit status: 0 on success; 2 when DIR is not a directory or cannot be read,
with one line on standard error.
"""

_CACHE_CLEAR_DESCRIPTION = """\
Remove plan files from the plan cache of LowMemMode functions: all of them,
or with --older-than those whose newest plan is older than DAYS days. The
functions are planned again (one recording call and a search) the next time
they are compiled. Prints how many files were removed.
"""

_CACHE_CLEAR_EPILOG = """\
Exit status: 0 on success; 2 on a bad --older-than, or when DIR is not a
directory or cannot be read, with one line on standard error.
"""

_ARENA_DESCRIPTION = """\
Static memory allocation on its own: find an offset for every buffer in
FILE in one block of memory (the arena) so that buffers live at the same
time never overlap, with the smallest arena found in the time limit, or
decide whether the buffers fit in --capacity bytes. Reports the arena, the
lower bound (the most bytes live at one time, or more when the search
proved it), whether the arena is proven the smallest, and which part of
the planner placed the buffers (lowmem.arena_offsets does the same in
Python).

FILE is a CSV file in MiniMalloc's format: a header line naming the
columns id, lower, upper and size (any order; an offset column is allowed
and ignored), then one line per buffer, live over the half-open interval
[lower, upper) of integer times, size in bytes; ids are distinct. "-"
reads standard input. Example:
  id,lower,upper,size
  a,0,3,1024
  b,2,5,512
"""

_ARENA_EPILOG = """\
Output: by default a human-readable report. With --json, exactly one JSON
object on standard output:
  {"file", "buffers", "ids", "offsets", "arena_bytes", "lower_bound",
   "proven", "capacity", "fits", "method", "nodes", "seconds"}
with sizes in bytes, ids and offsets in file order, capacity null when
minimising, and fits true (offsets within the capacity), false (proven:
no offsets fit) or null (undecided in the time limit, or no capacity).
--output writes FILE's buffers, in file order, with an offset column
(id,lower,upper,size,offset), replacing OUT.csv atomically; it is written
whenever offsets were found, also when they exceed the capacity.

Exit status: 0 on success (minimising, or offsets found within
--capacity); 1 when --capacity is not met: proven impossible (fits: no) or
undecided within the time limit (a longer --time-limit may decide it);
2 on bad input (missing or unreadable file, bad CSV, bad option value,
OUT.csv that cannot be written), with one line on standard error naming
the problem (file, line number and column or buffer id for a bad CSV).
"""


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line of stderr (status 2)."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} "
                                  f"(see '{self.prog} --help')\n")


def _add_graph_arguments(command, time_limit_help):
    """FILE.json, --time-limit, --max-input-bytes and --json: what every
    graph command takes."""
    command.add_argument("file", metavar="FILE.json",
                         help='graph file in the lowmem-graph JSON format, plain or gzipped '
                              '("-" for stdin)')
    command.add_argument("--time-limit", metavar="S", default="1.0", help=time_limit_help)
    command.add_argument("--max-input-bytes", metavar="N", default=str(DEFAULT_MAX_INPUT_BYTES),
                         help=f"refuse a graph file larger than N bytes, or that decompresses "
                              f"to more (default {DEFAULT_MAX_INPUT_BYTES:,} = 256 MiB; "
                              f"a whole number from 1 to 2**62). Loading takes about 10 "
                              f"times the file's (decompressed) size in memory, up to about "
                              f"50 times for millions of tiny nodes")
    command.add_argument("--json", action="store_true",
                         help="print one JSON object instead of the human-readable report")


def _build_parser():
    parser = _Parser(
        prog="lowmem",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'lowmem COMMAND --help' for the options of a command.",
    )
    from . import __version__
    parser.add_argument("--version", action="version", version=f"lowmem {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    sched = commands.add_parser(
        "schedule",
        help="find the execution order with the lowest peak memory",
        description=_SCHEDULE_DESCRIPTION,
        epilog=_SCHEDULE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_graph_arguments(sched, "seconds the search may take (default 1.0; 0 = heuristics "
                               "only, 'inf' = until proven optimal); the best order found "
                               "so far is returned when time is up")
    sched.add_argument("--memory-limit", metavar="MB", default="256",
                       help="mebibytes the search may use for its tables (default 256; "
                            "at least 1, at most this machine's memory)")
    sched.add_argument("--memory-budget", metavar="BYTES|RATIO", default=None,
                       help="meet this peak by recomputing values when the best order "
                            "does not: BYTES, a whole number (e.g. 50000000), or RATIO, "
                            "a number with a decimal point, a fraction of the best "
                            "order's peak (e.g. 0.5); the order then lists recomputed "
                            "nodes again and the report gives the added compute cost "
                            "(the nodes' 'cost' fields, format version 2; 1 each by "
                            "default). Half the time limit finds the best order, the rest "
                            "plans recomputation")
    sched.set_defaults(run=_cmd_schedule)

    plan = commands.add_parser(
        "plan",
        help="plan which arrays share storage, and arena offsets, for an order",
        description=_PLAN_DESCRIPTION,
        epilog=_PLAN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_graph_arguments(plan, "seconds to search for the best order, with --order best: "
                               "a number >= 0 (default 1.0; 0 = heuristics only, 'inf' = "
                               "until proven optimal); the best order found so far is used "
                               "when time is up")
    plan.add_argument("--order", choices=("best", "default"), default="best",
                      help="plan for lowmem's best order (default) or the listed order")
    plan.set_defaults(run=_cmd_plan)

    demo = commands.add_parser(
        "demo",
        help="run a Theano (or PyTensor) training step in the default mode and in "
             "lowmem's order",
        description=_DEMO_DESCRIPTION,
        epilog=_DEMO_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--backend", metavar="LIBRARY", default="theano",
                      help="theano (default: Theano 1.0.5, in this environment) or pytensor "
                           "(PyTensor 3.3 with its Numba backend, run in .venv-pytensor; "
                           "see above)")
    demo.add_argument("--out", metavar="DIR", default=".",
                      help="directory for the plot (default: the current directory; "
                           "created if missing)")
    demo.add_argument("--time-limit", metavar="S", default="1.0",
                      help="seconds lowmem may spend scheduling the function (default 1.0; "
                           "0 = heuristics only, 'inf' = until proven optimal)")
    demo.add_argument("--model", metavar="NAME", default=None,
                      help="which model's training step: with theano unet (default), "
                           "inception, densenet, resnet, convnet, mlp, rnn or transformer; "
                           "with pytensor skip_mlp (default), mlp, branches or tiny")
    demo.add_argument("--calls", metavar="N", default="3",
                      help=f"calls in each mode, a whole number from 2 to {MAX_DEMO_CALLS:,} "
                           "(default 3; the second is measured)")
    demo.add_argument("--no-plot", action="store_true", help="do not write the plot")
    demo.set_defaults(run=_cmd_demo)

    cache = commands.add_parser(
        "cache",
        help="list or clear the plans LowMemMode stores on disk",
        description=_CACHE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cache.set_defaults(run=_cmd_cache, dir=None, json=False, older_than=None)
    actions = cache.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    listing = actions.add_parser(
        "list",
        help="list the stored plans (the default action)",
        description=_CACHE_LIST_DESCRIPTION,
        epilog=_CACHE_LIST_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    clearing = actions.add_parser(
        "clear",
        help="remove stored plans",
        description=_CACHE_CLEAR_DESCRIPTION,
        epilog=_CACHE_CLEAR_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for action in (listing, clearing):
        action.add_argument("--dir", metavar="DIR",
                            help="the plan directory (default: lowmem-plans in Theano's "
                                 "compile directory, which imports Theano to find it)")
    listing.add_argument("--json", action="store_true",
                         help="print one JSON list of plans instead of the table")
    clearing.add_argument("--older-than", metavar="DAYS",
                          help="remove only the files whose newest plan is older than DAYS "
                               "days (a number >= 0, fractions allowed)")

    arena = commands.add_parser(
        "arena",
        help="offsets for buffers with live intervals in one arena (MiniMalloc CSV)",
        description=_ARENA_DESCRIPTION,
        epilog=_ARENA_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    arena.add_argument("file", metavar="FILE.csv",
                       help='buffers in MiniMalloc\'s CSV format ("-" for stdin)')
    arena.add_argument("--capacity", metavar="B",
                       help="decide whether the buffers fit in B bytes (a whole number "
                            ">= 0) instead of minimising the arena; exit status 1 when "
                            "they do not, or when it is undecided")
    arena.add_argument("--time-limit", metavar="S", default="1.0",
                       help="seconds of search after the greedy packing: a number >= 0 "
                            "(default 1.0; 0 = greedy packing only, 'inf' = until the "
                            "arena is proven smallest or the capacity decided)")
    arena.add_argument("--alignment", metavar="A", default="1",
                       help="every offset a multiple of A bytes, each buffer taking its size "
                            "rounded up to a multiple (a whole number >= 1; default 1)")
    arena.add_argument("--json", action="store_true",
                       help="print one JSON object instead of the human-readable report")
    arena.add_argument("--output", metavar="OUT.csv",
                       help="write the buffers with their offsets to OUT.csv "
                            "(id,lower,upper,size,offset)")
    arena.set_defaults(run=_cmd_arena)
    return parser


class _BadInput(Exception):
    """Bad user input: reported as one line on stderr, exit status 2."""


# Plain ASCII decimal or float syntax: '2', '0.5', '.5', '1e9', '-1' (refused
# by range, not syntax). No '+', spaces, '_' or non-ASCII digits, which
# float() and int() accept.
_NUMBER = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_INFINITY = ("inf", "infinity", "-inf", "-infinity")


def _clip(text, limit=40):
    """An option value quoted for a message: escaped, at most `limit`
    characters and '...' (a 5,000-digit number must not become the message)."""
    text = _printable(text)
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _number(text, option, minimum, maximum=math.inf, maximum_is="", allow_inf=False,
            whole=False):
    """The value of a number option: plain ASCII decimal or float syntax, 'inf'
    (any case) too when `allow_inf`, within [minimum, maximum]; `whole` ones
    are ints, read exactly when written as digits. _BadInput saying what is
    wrong (not a number, below the minimum, above the maximum, not whole)."""
    word = text.lower()
    if word in _INFINITY:
        value = -math.inf if word.startswith("-") else math.inf
    elif _NUMBER.fullmatch(text):
        digits = text.lstrip("-")
        if whole and digits.isdigit():
            # int() refuses more than 4,300 digits: such a number is too large anyway.
            value = int(text) if len(digits) <= 30 else (-math.inf if text[0] == "-" else math.inf)
        else:
            value = float(text)          # 1e400 and 400-digit numbers are inf
    else:
        raise _BadInput(f"{option}: expected a number, got {_clip(text)}")
    if value < minimum:
        raise _BadInput(f"{option} must be at least {minimum:,}, got {_clip(text)}")
    if value == math.inf and allow_inf:
        return value
    if value > maximum:
        if maximum == math.inf:
            raise _BadInput(f"{option} must be a finite number, got {_clip(text)}")
        raise _BadInput(f"{option} is too large: at most {maximum:,}{maximum_is}, "
                        f"got {_clip(text)}")
    if whole:
        if value != int(value):
            raise _BadInput(f"{option} must be a whole number, got {_clip(text)}")
        value = int(value)
    return value


def _physical_memory_mib():
    """This machine's memory in MiB: the search tables are allocated up
    front, so more than this cannot help (schedule() clamps to it too)."""
    from ._scheduler import machine_memory
    return machine_memory() // 2**20


def _emit(text, out):
    """Print `text` on `out`, characters its encoding lacks written as
    backslash escapes (a graph name in a UTF-8 file on an ASCII terminal)."""
    encoding = getattr(out, "encoding", None) or "utf-8"
    print(text.encode(encoding, "backslashreplace").decode(encoding), file=out)


# ----------------------------------------------------------------- output
def _reduction(default, best):
    return 0.0 if default <= 0 else 100.0 * (default - best) / default


def _human_report(graph, s):
    lines = []
    add = lines.append
    add(f"graph:           {_printable(graph.name)} ({graph.n_nodes:,} nodes, "
        f"{graph.n_vars:,} variables)")
    add(f"default peak:    {format_bytes(s.default_peak)}")
    add(f"best peak:       {format_bytes(s.peak)}  "
        f"({_reduction(s.default_peak, s.peak):.1f}% below default)")
    add(f"lower bound:     {format_bytes(s.lower_bound)}")
    if s.recompute is not None:
        add("optimal:         " + ("yes: the least added cost within the budget (proven)"
                                   if s.optimal else "not proven (the least added cost "
                                   "within the budget)"))
    elif s.optimal:
        add("optimal:         yes (proven)")
    else:
        gap = _reduction(s.peak, s.lower_bound)
        why = "time limit reached" if s.stats.get("timed_out") else "search stopped"
        add(f"optimal:         not proven ({why}; at most {gap:.1f}% above optimal)")
    states = s.stats.get("states")
    add(f"seconds:         {s.stats.get('seconds', 0.0):.3f}"
        + (f" ({states:,} search states)" if isinstance(states, int) else ""))
    if s.heuristic_peaks:
        names = list(s.heuristic_peaks)
        best = min(names, key=lambda k: (s.heuristic_peaks[k], names.index(k)))
        add(f"best heuristic:  {_printable(best)}, {format_bytes(s.heuristic_peaks[best])}")
    if s.recompute is not None:
        _recompute_report(add, graph, s)
    if "first_order" in s.stats:
        add(f"first order:     {s.stats['first_order']} (the incumbent of the peak segment)")
        add(f"neighbourhoods:  {s.stats.get('neighbourhoods_improved', 0):,} of "
            f"{s.stats.get('neighbourhoods', 0):,} improved the order")
        add(f"bound from:      {s.stats.get('bound_source', '-')}")
    return "\n".join(lines)


def _recompute_report(add, graph, s):
    r = s.recompute
    add(f"memory budget:   {format_bytes(r.memory_budget)}: "
        + ("met" if r.fits else f"NOT met: the lowest peak found is {format_bytes(s.peak)} "
           f"(no order goes below {format_bytes(r.memory_lower_bound)})"))
    add(f"best once:       {format_bytes(r.best_peak)} (each node run once)")
    runs = sum(r.reruns.values())
    total = float(graph.node_cost.sum())
    share = f" ({100 * r.added_cost / total:.1f}% of one run of every node)" if total else ""
    add(f"recomputed:      {runs:,} extra runs of {len(r.reruns):,} nodes, added cost "
        f"{r.added_cost:g}{share}")
    if r.fits:
        add(f"cost bound:      no order within the budget adds less than "
            f"{r.cost_lower_bound:g}")
    top = sorted(r.reruns, key=lambda n: (-r.reruns[n] * graph.node_cost[n], n))[:5]
    for n in top:
        add(f"  again x{r.reruns[n]}:      node {n} ({_printable(graph.node_names[n])}), "
            f"cost {graph.node_cost[n]:g} each")


def _json_report(graph, s):
    return json.dumps({
        "name": graph.name,
        "nodes": graph.n_nodes,
        "default_peak": int(s.default_peak),
        "peak": int(s.peak),
        "lower_bound": int(s.lower_bound),
        "optimal": bool(s.optimal),
        "seconds": float(s.stats.get("seconds", 0.0)),
        "first_order": s.stats.get("first_order"),
        "first_order_peaks": {k: int(v) for k, v in s.heuristic_peaks.items()},
        "neighbourhoods": int(s.stats.get("neighbourhoods", 0)),
        "neighbourhoods_improved": int(s.stats.get("neighbourhoods_improved", 0)),
        "bound_source": s.stats.get("bound_source"),
        "order": [int(n) for n in s.order],
        **({"recompute": s.recompute.to_dict()} if s.recompute is not None else {}),
    })


# --------------------------------------------------------------- commands
def _read_graph(args):
    max_bytes = _number(args.max_input_bytes, "--max-input-bytes", 1, BYTES_LIMIT, whole=True)
    try:
        return load(args.file, max_bytes=max_bytes)
    except GraphError as e:
        raise _BadInput(str(e)) from None


def _memory_budget(text):
    """--memory-budget: an int (bytes) or a float with a point or exponent
    (a fraction of the best order's peak), as lowmem.schedule takes them."""
    if text is None:
        return None
    if text.isascii() and text.isdigit():
        return int(_number(text, "--memory-budget", 0, BYTES_LIMIT - 1, whole=True))
    value = _number(text, "--memory-budget", 0)
    if value <= 0 or math.isinf(value):
        raise _BadInput(f"--memory-budget: a ratio must be a finite number > 0, "
                        f"got {_clip(text)}")
    return float(value)


def _cmd_schedule(args, out):
    from ._scheduler import schedule
    time_limit = _number(args.time_limit, "--time-limit", 0, allow_inf=True)
    memory_mb = _number(args.memory_limit, "--memory-limit", 1, _physical_memory_mib(),
                        maximum_is=" MiB (this machine's memory)")
    budget = _memory_budget(args.memory_budget)
    if budget is not None and math.isinf(time_limit):
        raise _BadInput("--time-limit: 'inf' cannot be used with --memory-budget (the "
                        "recomputation search never proves it is done); give seconds")
    graph = _read_graph(args)
    try:
        s = schedule(graph, time_limit=time_limit, memory_limit=int(memory_mb * 2**20),
                     memory_budget=budget)
    except (ValueError, OverflowError) as e:
        # A graph the model accepts but the core cannot hold (e.g. byte
        # totals beyond its 64-bit range).
        raise _BadInput(f"{_printable(args.file)}: cannot schedule this graph: {e}") from None
    _emit(_json_report(graph, s) if args.json else _human_report(graph, s), out)
    return EXIT_NOT_MET if s.recompute is not None and not s.recompute.fits else EXIT_OK


def _cmd_plan(args, out):
    from ._scheduler import schedule
    from ._storage_plan import plan_storage
    time_limit = _number(args.time_limit, "--time-limit", 0, allow_inf=True)
    graph = _read_graph(args)
    t0 = time.perf_counter()
    try:
        order = schedule(graph, time_limit=time_limit).order if args.order == "best" else None
        p = plan_storage(graph, order)
    except (ValueError, OverflowError) as e:
        raise _BadInput(f"{_printable(args.file)}: cannot plan this graph: {e}") from None
    seconds = time.perf_counter() - t0
    if args.json:
        print(json.dumps({"name": graph.name, "nodes": graph.n_nodes,
                          "order_kind": args.order, "order": [int(n) for n in p.order],
                          "peak": p.peak, "order_peak": p.order_peak,
                          "lower_bound": p.lower_bound, "arena_bytes": p.arena_bytes,
                          "cells": p.cells, "allocations": p.allocations,
                          "buffers": p.buffers, "seconds": seconds}), file=out)
        return EXIT_OK
    ratio = p.arena_bytes / p.lower_bound if p.lower_bound else 1.0
    _emit("\n".join([
        f"graph:           {_printable(graph.name)} ({graph.n_nodes:,} nodes, "
        f"{p.buffers:,} buffers)",
        f"order:           {args.order}, peak {format_bytes(p.order_peak)}",
        f"with sharing:    peak {format_bytes(p.peak)}",
        f"cells:           {p.cells:,} storage cells for {p.buffers:,} buffers "
        f"({p.buffers - p.cells:,} allocations per call saved)",
        f"arena:           {format_bytes(p.arena_bytes)}, {ratio:.4f} x the lower bound "
        f"({format_bytes(p.lower_bound)} live at once; placed by {p.arena_key})",
        f"seconds:         {seconds:.3f} (storage plan {p.seconds:.3f})",
    ]), out)
    return EXIT_OK


DEMO_BACKENDS = ("theano", "pytensor")
THEANO_DEMO_MODELS = ("mlp", "convnet", "resnet", "inception", "densenet", "unet", "rnn",
                      "transformer")
#: The environment variable naming the Python (3.12, with PyTensor) that
#: runs `lowmem demo --backend pytensor`.
PYTENSOR_PYTHON_VARIABLE = "LOWMEM_PYTENSOR_PYTHON"
# The directory holding the lowmem package (the repository, for a source
# checkout): where .venv-pytensor is looked for.
_SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cmd_demo(args, out):
    time_limit = _number(args.time_limit, "--time-limit", 0, allow_inf=True)
    calls = _number(args.calls, "--calls", 2, MAX_DEMO_CALLS, whole=True)
    if args.backend not in DEMO_BACKENDS:
        raise _BadInput(f"--backend: unknown backend {_clip(args.backend)} "
                        f"(known: {', '.join(DEMO_BACKENDS)})")
    if args.backend == "theano":
        model = args.model if args.model is not None else "unet"
        if model not in THEANO_DEMO_MODELS:
            raise _BadInput(f"--model: unknown model {_clip(model)} "
                            f"(known: {', '.join(THEANO_DEMO_MODELS)})")
    else:
        # Checked by lowmem.pytensor._demo, which knows its models (one line, status 2).
        model = args.model
        python = _pytensor_python()
    if not args.no_plot:
        if os.path.exists(args.out) and not os.path.isdir(args.out):
            raise _BadInput(f"--out: {_printable(args.out)} exists and is not a directory")
        try:
            os.makedirs(args.out, exist_ok=True)
        except OSError as e:
            raise _BadInput(f"--out: cannot create {_printable(args.out)}: "
                            f"{e.strerror or e}") from None
    if args.backend == "pytensor":
        return _run_pytensor_demo(python, args, time_limit, model, int(calls), out)
    try:
        from .theano._demo import run_demo
    except ImportError as e:
        raise _BadInput(f"cannot import Theano: {e}") from None
    return run_demo(out_dir=args.out, time_limit=time_limit, model=model,
                    calls=int(calls), plot=not args.no_plot, stdout=out)


def _have_pytensor():
    import importlib.util
    return importlib.util.find_spec("pytensor") is not None


def _pytensor_python():
    """The Python to run the PyTensor demo with: $LOWMEM_PYTENSOR_PYTHON,
    else this one if it has PyTensor (None: run in this process), else
    .venv-pytensor/bin/python beside lowmem's source; _BadInput saying how
    to make that environment when there is none."""
    how = "create it with `make build-pytensor` (Python 3.12, PyTensor 3.3)"
    named = os.environ.get(PYTENSOR_PYTHON_VARIABLE)
    if named:
        if not (os.path.isfile(named) and os.access(named, os.X_OK)):
            raise _BadInput(f"--backend pytensor: {PYTENSOR_PYTHON_VARIABLE}="
                            f"{_printable(named)} is not an executable file; point it at the "
                            f"Python of PyTensor's environment, or {how}")
        return named
    if _have_pytensor():
        return None
    venv = os.path.join(_SOURCE_ROOT, ".venv-pytensor", "bin", "python")
    if os.path.isfile(venv) and os.access(venv, os.X_OK):
        return venv
    raise _BadInput(f"--backend pytensor needs PyTensor's environment, not found: no "
                    f"{_printable(venv)} and {PYTENSOR_PYTHON_VARIABLE} not set; {how}")


def _run_pytensor_demo(python, args, time_limit, model, calls, out):
    """lowmem.pytensor._demo, in this process (python None) or run by
    `python` with this lowmem first on its path; its results copied to
    `out`, its progress on this stderr. Returns its exit status."""
    argv = ["--out", args.out, "--time-limit", str(time_limit), "--calls", str(calls)]
    if model is not None:
        argv += ["--model", model]
    if args.no_plot:
        argv.append("--no-plot")
    if python is None:
        from .pytensor._demo import main as pytensor_demo
        stdout, sys.stdout = sys.stdout, out
        try:
            return pytensor_demo(argv)
        except SystemExit as e:                 # its usage errors: one line, status 2
            return e.code
        finally:
            sys.stdout = stdout
    import subprocess
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_SOURCE_ROOT, env.get("PYTHONPATH")) if p)
    try:
        child = subprocess.Popen([python, "-m", "lowmem.pytensor._demo"] + argv,
                                 stdout=subprocess.PIPE, text=True, env=env)
    except OSError as e:
        raise _BadInput(f"--backend pytensor: cannot run {_printable(python)}: "
                        f"{e.strerror or e}") from None
    with child:
        for line in child.stdout:
            out.write(line)
            out.flush()
    return child.returncode


def _plan_cache_module():
    """lowmem.theano._cache, loaded without running lowmem.theano's
    __init__ (which imports Theano): listing or clearing a given --dir needs
    only the file format. Registered under its own name, so that importing
    lowmem.theano later uses this same module."""
    name = "lowmem.theano._cache"
    module = sys.modules.get(name)
    if module is None:
        import importlib.util
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "theano", "_cache.py")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return module


def _age(seconds):
    """'12 s', '3 min', '2 h', '5 d' (rounded down; a future time is 0 s)."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size * (2 if unit != "min" else 1):
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _cache_table(records, directory, now):
    """The `lowmem cache list` table, newest plan first, and a total line."""
    def cut(text, limit=40):
        text = _printable(text)
        return text if len(text) <= limit else text[:limit - 3] + "..."

    header = ("function", "nodes", "peak", "proven", "age", "size", "key")
    rows = [header]
    for r in sorted(records, key=lambda r: (-r["created"], r["key"])):
        known = r["nodes"] is not None
        rows.append((cut(r["name"]),
                     f"{r['nodes']:,}" if known else "-",
                     human_bytes(r["peak"]) if known else "-",
                     ("yes" if r["optimal"] else "no") if known else "-",
                     _age(now - r["created"]),
                     human_bytes(r["bytes"]),
                     r["key"][:12]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    right = {1, 2, 5}               # numbers right-aligned
    lines = ["  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                       for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
             for row in rows]
    files = {r["path"]: r["bytes"] for r in records}
    plans = len(records)
    lines.append(f"{plans:,} plan{'s' if plans != 1 else ''} in {len(files):,} "
                 f"file{'s' if len(files) != 1 else ''}, {format_bytes(sum(files.values()))} "
                 f"on disk, in {_printable(directory)}")
    return "\n".join(lines)


def _cmd_cache(args, out):
    older_than = days = None
    if args.older_than is not None:
        days = _number(args.older_than, "--older-than", 0)
        if not math.isfinite(days):         # 'inf', or 1e999 read as inf
            raise _BadInput(f"--older-than must be a finite number of days, "
                            f"got {_clip(args.older_than)}")
        older_than = days * 86400.0
    module = _plan_cache_module()
    directory = args.dir
    if directory is None:
        try:
            directory = module.default_directory()
        except ImportError as e:
            raise _BadInput(f"cannot import Theano to find the plan directory "
                            f"(give --dir): {e}") from None
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise _BadInput(f"--dir: {_printable(directory)} is not a directory")
    cache = module.PlanCache(directory)
    try:
        if args.action == "clear":                   # else list (also with no action)
            removed = cache.clear(older_than=older_than)
            older = (f" older than {days:g} day{'s' if days != 1 else ''}"
                     if days is not None else "")
            _emit(f"removed {removed:,} plan file{'s' if removed != 1 else ''}{older} "
                  f"from {_printable(directory)}", out)
            return EXIT_OK
        records = cache.entries()
    except OSError as e:
        raise _BadInput(f"--dir: cannot read {_printable(directory)}: "
                        f"{e.strerror or e}") from None
    if args.json:
        print(json.dumps(records), file=out)
    elif not records:
        _emit(f"no plans in {_printable(directory)}", out)
    else:
        _emit(_cache_table(records, directory, time.time()), out)
    return EXIT_OK


# A time limit of 'inf': arena_offsets takes finite seconds; this is
# longer than any search will run.
_ARENA_FOREVER = 1e9


def _arena_report(label, n, p):
    """The human-readable `lowmem arena` report."""
    ratio = p.arena_bytes / p.lower_bound if p.lower_bound else 1.0
    lines = [
        f"file:            {label}",
        f"buffers:         {n:,}",
        f"lower bound:     {format_bytes(p.lower_bound)}",
        f"arena:           {format_bytes(p.arena_bytes)}, {ratio:.4f} x the lower bound",
    ]
    if p.capacity is not None:
        fits = {True: "yes", False: "no (proven)", None: "undecided (time limit reached)"}
        lines.append(f"capacity:        {format_bytes(p.capacity)}, fits: {fits[p.fits]}")
    if p.proven:
        lines.append("proven:          yes (no arena is smaller)")
    else:
        gap = 100.0 * (p.arena_bytes - p.lower_bound) / max(1, p.lower_bound)
        lines.append(f"proven:          no (at most {gap:.1f}% above the smallest)")
    lines.append(f"method:          {_printable(p.method)}")
    lines.append(f"seconds:         {p.seconds:.3f} ({p.nodes:,} search nodes)")
    return "\n".join(lines)


def _cmd_arena(args, out):
    from ._arena_csv import read_buffers, write_buffers
    from ._offsets import MAX_TOTAL_BYTES, ArenaError, arena_offsets
    time_limit = _number(args.time_limit, "--time-limit", 0, allow_inf=True)
    capacity = None
    if args.capacity is not None:
        capacity = _number(args.capacity, "--capacity", 0, MAX_TOTAL_BYTES - 1,
                           maximum_is=" (2**60 - 1)", whole=True)
    alignment = _number(args.alignment, "--alignment", 1, MAX_TOTAL_BYTES - 1,
                        maximum_is=" (2**60 - 1)", whole=True)
    label = "<stdin>" if args.file == "-" else _printable(args.file)
    try:
        ids, lower, upper, size = read_buffers(args.file)
    except ArenaError as e:
        raise _BadInput(str(e)) from None
    try:
        p = arena_offsets(lower, upper, size, capacity=capacity,
                          time_limit=min(time_limit, _ARENA_FOREVER), alignment=alignment,
                          ids=ids)
    except ArenaError as e:
        raise _BadInput(f"{label}: {e}") from None
    if args.output is not None:
        try:
            write_buffers(args.output, ids, lower, upper, size, p.offsets)
        except OSError as e:
            raise _BadInput(f"--output: cannot write {_printable(args.output)}: "
                            f"{e.strerror or e}") from None
    if args.json:
        print(json.dumps({"file": args.file, "buffers": len(ids), "ids": ids, **p.to_dict()}),
              file=out)
    else:
        _emit(_arena_report(label, len(ids), p), out)
    return EXIT_OK if capacity is None or p.fits else EXIT_NOT_MET


def main(argv=None):
    """Run the lowmem command; returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args, sys.stdout)
    except _BadInput as e:
        print(f"lowmem {args.command}: {_one_line(str(e))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MemoryError:
        print(f"lowmem {args.command}: out of memory (try a smaller --memory-limit or "
              "--max-input-bytes)", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"lowmem {args.command}: interrupted", file=sys.stderr)
        return 130


def _one_line(text):
    return _printable(" ".join(text.split()))
