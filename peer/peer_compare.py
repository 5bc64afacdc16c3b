"""The verdict of the peer suites, shared by peer/run.py (Theano's own tests)
and peer_pytensor/run.py (PyTensor's): the per-test records read back, the
two runs compared, the MIN_PASSED rule and the Markdown summary.

Standard library only: it runs under both interpreters (.venv, Python 3.11
with Theano; .venv-pytensor, Python 3.12 with PyTensor). peer/ is not a
package; the runners put this directory on sys.path and import it by name.

A *record* is what one pytest process (a lane of one mode) gave: a dict with
"mode", "lane", "returncode" (pytest's exit status, or a string such as
"timeout after 3600s"), "seconds", "log" and "tests" (node id ->
(outcome, message), from `outcomes`), and optionally "fallbacks" (node id
-> (count, messages), from `fallbacks`: listed, not judged). A *suite* says
what a run must pass: its title, its subset (for the summary), MIN_PASSED
and the files each of which must pass at least one test.

The per-test report files are written by the suites' conftest.py
(LOWMEM_PEER_REPORT): one JSON object per line with the node id, the phase
("setup", "call", "teardown" or "collect"), pytest's outcome, whether it was
an xfail, the duration and a message; `record_entry` builds such a line from
a pytest report.
"""

import json
import os
import time
from collections import Counter

MODES = ("default", "lowmem")
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


class Suite:
    """What a peer suite's runs are judged by.

    title: heading of the summary ("Theano peer suite").
    script: the runner's path, shown in the summary ("peer/run.py").
    subset: the test files, as shown in the summary.
    deselected: how many tests were left out by name.
    min_passed: each run must pass at least this many tests (unless pytest
        was given a selection, then one) ...
    required_files: ... and at least one test of each of these (node-id
        prefixes up to the first "::").
    min_passed_where: where min_passed is set, for the message.
    """

    def __init__(self, title, script, subset, deselected, min_passed,
                 required_files, min_passed_where):
        self.title = title
        self.script = script
        self.subset = list(subset)
        self.deselected = deselected
        self.min_passed = min_passed
        self.required_files = list(required_files)
        self.min_passed_where = min_passed_where


# --- the recording side (the suites' conftest.py) ---------------------------

def report_message(report):
    """One line saying why a pytest report is not a pass ("" when it is)."""
    if report.passed:
        return ""
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    text = str(longrepr)
    if "DocTestFailure" in text or "UNEXPECTED EXCEPTION" in text:
        # A doctest: its example, what it expected and what it got.
        lines = [ln.strip() for ln in text.strip().splitlines()]
        tail = [ln for ln in lines if ln][-12:]
        return " ".join(tail)
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message
    return text.strip().splitlines()[-1] if text.strip() else ""


def record_entry(report, when=None):
    """The JSON line of a test report (or, with when="collect", of a failed
    collection report)."""
    collect = when == "collect"
    return {
        "nodeid": report.nodeid,
        "when": "collect" if collect else report.when,
        "outcome": "failed" if collect else report.outcome,
        "xfail": False if collect else hasattr(report, "wasxfail"),
        "duration": 0.0 if collect else round(report.duration, 3),
        "message": report_message(report)[:2000],
    }


def append_record(path, entry):
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps(entry) + "\n")


def deselect_from_env(config, items):
    """pytest_collection_modifyitems of both suites: drop the tests the
    runner lists in LOWMEM_PEER_DESELECT (one node id or class per line)."""
    left_out = [d for d in os.environ.get("LOWMEM_PEER_DESELECT", "").splitlines()
                if d.strip()]
    if not left_out:
        return
    keep, drop = split_deselect(items, left_out)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def split_deselect(items, left_out):
    """(keep, drop) of pytest items: `left_out` are exact node ids or
    classes (pytest's --deselect matches any prefix: "test_rop" would drop
    "test_rop2" too)."""
    exact = set(left_out)
    prefixes = tuple(d + "::" for d in left_out)
    keep, drop = [], []
    for item in items:
        out = item.nodeid in exact or item.nodeid.startswith(prefixes)
        (drop if out else keep).append(item)
    return keep, drop


# --- the judging side (the runners) -----------------------------------------

def outcomes(report):
    """node id -> (outcome, message) from a LOWMEM_PEER_REPORT file."""
    phases = {}
    if os.path.exists(report):
        with open(report) as fh:
            for line in fh:
                entry = json.loads(line)
                phases.setdefault(entry["nodeid"], []).append(entry)
    tests = {}
    for nodeid, entries in phases.items():
        outcome, message = "passed", ""
        for e in entries:
            if e["outcome"] == "failed":
                outcome = "failed" if e["when"] == "call" else "error"
                message = e["message"]
                break
            if e["outcome"] == "skipped":
                outcome = "xfailed" if e["xfail"] else "skipped"
                message = e["message"]
            elif e["when"] == "call" and e["xfail"]:
                outcome = "xpassed"
        tests[nodeid] = (outcome, message)
    return tests


def fallbacks(report):
    """node id -> (number of functions that kept the library's own order,
    first messages), from the optional "n_fallbacks"/"fallbacks" fields of
    a LOWMEM_PEER_REPORT file (written by peer_pytensor/conftest.py)."""
    out = {}
    if os.path.exists(report):
        with open(report) as fh:
            for line in fh:
                entry = json.loads(line)
                if entry.get("n_fallbacks"):
                    out[entry["nodeid"]] = (entry["n_fallbacks"],
                                            entry.get("fallbacks", []))
    return out


def one_line(message, limit=300):
    text = " ".join(str(message).split())
    text = text.replace("|", "\\|")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def too_few_passed(suite, mode, tests, selected):
    """Problems with the passed tests of one run (see Suite.min_passed);
    empty when there are enough. `selected`: pytest was given a selection,
    so only one passed test is required. O(tests)."""
    passed = Counter(nodeid.split("::")[0] for nodeid, (o, _) in tests.items()
                     if o == "passed")
    total = sum(passed.values())
    if selected:
        return [] if total else ["run `%s` passed no test" % mode]
    problems = []
    if total < suite.min_passed:
        problems.append("run `%s` passed %d tests, fewer than the %d required "
                        "(%s)" % (mode, total, suite.min_passed,
                                  suite.min_passed_where))
    for f in suite.required_files:
        if not passed[f]:
            problems.append("run `%s` passed no test of %s" % (mode, f))
    return problems


def summarise(suite, modes, records, argv, root=None):
    """(Markdown summary, ok) of the `records` of every lane of every run.
    `argv`: the runner's arguments (pytest's after "--"); ok is True when
    every run completed and passed enough tests and, with two runs, every
    test has the same outcome in both."""
    runs = []
    for mode in modes:
        mine = [r for r in records if r["mode"] == mode]
        tests = {}
        for r in mine:
            tests.update(r["tests"])
        runs.append({"mode": mode, "tests": tests, "parts": mine})
    lines = ["# %s" % suite.title, "",
             "`%s` on %s" % (" ".join([suite.script] + list(argv)),
                             time.strftime("%Y-%m-%d %H:%M:%S")), "",
             "Subset: %s (%d deselected); lanes: %d" % (
                 ", ".join("`%s`" % p for p in suite.subset),
                 suite.deselected, len({r["lane"] for r in records})), "",
             "| mode | pytest exit | seconds (per lane) | tests | "
             + " | ".join(OUTCOMES) + " |",
             "|---" * (4 + len(OUTCOMES)) + "|"]
    for run in runs:
        counts = Counter(o for o, _ in run["tests"].values())
        lines.append("| %s | %s | %s | %d | %s |" % (
            run["mode"], " ".join(str(r["returncode"]) for r in run["parts"]),
            " + ".join("%.0f" % r["seconds"] for r in run["parts"]),
            len(run["tests"]),
            " | ".join(str(counts[o]) for o in OUTCOMES)))
    lines.append("")
    selected = "--" in argv
    problems = []
    for r in records:
        # 5: the lane had no test left (only possible with a -k or similar
        # in the pytest arguments, which are given here as argv after --).
        fine = (0, 1, 5) if selected else (0, 1)
        if r["returncode"] not in fine:
            log = r["log"]
            if root:
                log = os.path.relpath(log, root)
            problems.append("run `%s` lane %d did not complete (pytest exit "
                            "%s); log: %s" % (r["mode"], r["lane"],
                                              r["returncode"], log))
    for run in runs:
        problems += too_few_passed(suite, run["mode"], run["tests"], selected)
    differ = []
    if len(runs) == 2:
        a, b = runs
        for nodeid in sorted(set(a["tests"]) | set(b["tests"])):
            oa, ma = a["tests"].get(nodeid, ("missing", ""))
            ob, mb = b["tests"].get(nodeid, ("missing", ""))
            if oa != ob:
                differ.append((nodeid, oa, ob, ma, mb))
        lines.append("## Outcomes that differ (%s → %s): %d"
                     % (a["mode"], b["mode"], len(differ)))
        lines.append("")
        if differ:
            lines.append("| test | %s | %s | message (%s) |"
                         % (a["mode"], b["mode"], b["mode"]))
            lines.append("|---|---|---|---|")
            for nodeid, oa, ob, ma, mb in differ:
                lines.append("| `%s` | %s | %s | %s |" % (
                    nodeid, oa, ob, one_line(mb or ma)))
            lines.append("")
        same_bad = sorted(
            (n, o, m) for n, (o, m) in a["tests"].items()
            if o in ("failed", "error") and b["tests"].get(n, ("",))[0] == o)
        lines.append("## Failing the same way in both runs: %d" % len(same_bad))
        lines.append("")
        for nodeid, o, m in same_bad:
            lines.append("- `%s` (%s): %s" % (nodeid, o, one_line(m, 200)))
        lines.append("")
    for run in runs:
        kept = {}
        for r in run["parts"]:
            kept.update(r.get("fallbacks") or {})
        if kept:
            lines.append("## Run `%s`: tests where a function kept the "
                         "library's order (LowMemWarning): %d, %d functions"
                         % (run["mode"], len(kept),
                            sum(n for n, _ in kept.values())))
            lines.append("")
            for nodeid in sorted(kept):
                n, messages = kept[nodeid]
                lines.append("- `%s` (%d): %s" % (
                    nodeid, n, one_line(messages[0] if messages else "", 200)))
            lines.append("")
    for p in problems:
        lines.append("**%s**" % p)
    ok = not differ and not problems
    lines.append("")
    if len(runs) == 2:
        verdict = "SAME OUTCOMES" if ok else "DIFFERENT"
    else:
        verdict = "ONE RUN, NOTHING COMPARED" + ("" if ok else "; FAILED")
    lines.append("Result: %s" % verdict)
    return "\n".join(lines) + "\n", ok
