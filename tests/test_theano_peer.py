"""The verdict of peer/run.py (Theano's own tests under LowMemMode).

The peer suite itself runs with `make test-peer` (about 6 minutes on an
empty Theano compile cache), which .ci/run runs after `make test`. These
tests check, on made-up per-test records, the rules it judges a run by:
the same outcome for every test in both modes, every run complete, and
enough passed tests (a broken environment fails everything the same way in
both modes, which must not pass).
"""

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# peer/ is not a package: load peer/run.py under a name of its own.
_spec = importlib.util.spec_from_file_location("peer_run", os.path.join(ROOT, "peer", "run.py"))
peer_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(peer_run)

FILES = ["theano/" + f for f in peer_run.SUBSET_FILES] + [peer_run.HOOK_TESTS]


def records_of(outcome_of_file):
    """node id -> (outcome, message): `outcome_of_file[f]` is a list of
    outcomes of file f's tests."""
    return {f"{f}::test_{i}": (o, "boom" if o == "failed" else "")
            for f, outs in outcome_of_file.items() for i, o in enumerate(outs)}


def healthy(passed_per_file=60, failed=5):
    files = {f: ["passed"] * passed_per_file for f in FILES}
    files[FILES[0]] += ["failed"] * failed
    return records_of(files)


def verdict(default, lowmem, argv=(), returncodes=(1, 1)):
    records = [{"mode": m, "lane": 0, "returncode": rc, "seconds": 1.0, "log": ROOT,
                "tests": t}
               for m, t, rc in zip(peer_run.MODES, (default, lowmem), returncodes)]
    return peer_run.summarise(list(peer_run.MODES), records, list(argv))


def test_same_outcomes_and_enough_passed_is_a_pass():
    tests = healthy()
    text, ok = verdict(tests, dict(tests))
    assert ok, text
    assert "Result: SAME OUTCOMES" in text


def test_everything_failing_the_same_way_fails():
    tests = {n: ("failed", "ImportError: no theano") for n in healthy()}
    text, ok = verdict(tests, dict(tests))
    assert not ok
    assert "passed 0 tests, fewer than the %d required" % peer_run.MIN_PASSED in text


def test_too_few_passed_fails_even_when_identical():
    per_file = (peer_run.MIN_PASSED - 1) // len(FILES)     # every file passes some
    tests = healthy(passed_per_file=per_file)
    text, ok = verdict(tests, dict(tests))
    assert not ok
    assert "fewer than the %d required" % peer_run.MIN_PASSED in text
    assert "passed no test of" not in text


@pytest.mark.parametrize("lost", FILES)
def test_a_file_with_no_passed_test_fails(lost):
    files = {f: ["passed"] * 100 for f in FILES}
    files[lost] = ["skipped"] * 3
    tests = records_of(files)
    text, ok = verdict(tests, dict(tests))
    assert not ok
    assert f"passed no test of {lost}" in text


def test_a_differing_outcome_fails():
    default = healthy()
    lowmem = dict(default)
    lowmem[next(iter(lowmem))] = ("failed", "wrong result")
    text, ok = verdict(default, lowmem)
    assert not ok and "Outcomes that differ (default → lowmem): 1" in text


def test_an_incomplete_run_fails():
    tests = healthy()
    text, ok = verdict(tests, dict(tests), returncodes=(1, "timeout after 5s"))
    assert not ok and "did not complete" in text


def test_a_selection_needs_one_passed_test():
    one = {"theano/tensor/tests/test_elemwise.py::test_x": ("passed", "")}
    text, ok = verdict(one, dict(one), argv=["--", "-k", "test_x"], returncodes=(0, 0))
    assert ok, text
    none = {"theano/tensor/tests/test_elemwise.py::test_x": ("skipped", "")}
    text, ok = verdict(none, dict(none), argv=["--", "-k", "test_x"], returncodes=(0, 0))
    assert not ok and "passed no test" in text
