"""The verdict of peer_pytensor/run.py (PyTensor's own tests under
LowMemMode), checked on made-up per-test records, and its pins.

The peer suite itself runs with `make test-peer-pytensor` (both modes,
minutes), which .ci/run runs after `make test-peer`. The rules are
peer/peer_compare.py's, shared with the Theano suite (tests/test_theano_peer.py
checks them through peer/run.py): the same outcome for every test in both
modes, every run complete, enough passed tests.
"""

import importlib.util
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# peer_pytensor/ is not a package: load its run.py under a name of its own.
_spec = importlib.util.spec_from_file_location(
    "peer_pytensor_run", os.path.join(ROOT, "peer_pytensor", "run.py"))
run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run)

FILES = run.SUBSET_FILES + [run.HOOK_TESTS]


def records_of(outcome_of_file):
    return {f"{f}::test_{i}": (o, "boom" if o == "failed" else "")
            for f, outs in outcome_of_file.items() for i, o in enumerate(outs)}


def healthy(passed_per_file=10, failed=1):
    files = {f: ["passed"] * passed_per_file for f in FILES}
    files[FILES[0]] += ["failed"] * failed
    return records_of(files)


def verdict(default, lowmem, argv=(), returncodes=(1, 1)):
    records = [{"mode": m, "lane": 0, "returncode": rc, "seconds": 1.0, "log": ROOT,
                "tests": t}
               for m, t, rc in zip(run.MODES, (default, lowmem), returncodes)]
    return run.summarise(list(run.MODES), records, list(argv))


def test_same_outcomes_and_enough_passed_is_a_pass():
    tests = healthy()
    text, ok = verdict(tests, dict(tests))
    assert ok, text
    assert "# PyTensor peer suite" in text and "Result: SAME OUTCOMES" in text


def test_everything_failing_the_same_way_fails():
    tests = {n: ("failed", "ImportError: no pytensor") for n in healthy()}
    text, ok = verdict(tests, dict(tests))
    assert not ok
    assert "passed 0 tests, fewer than the %d required" % run.MIN_PASSED in text


def test_too_few_passed_fails_even_when_identical():
    files = {f: ["passed"] for f in FILES}
    tests = records_of(files)
    assert len(tests) < run.MIN_PASSED
    text, ok = verdict(tests, dict(tests))
    assert not ok and "fewer than the %d required" % run.MIN_PASSED in text


@pytest.mark.parametrize("lost", run.REQUIRED_FILES + [run.HOOK_TESTS])
def test_a_required_file_with_no_passed_test_fails(lost):
    files = {f: ["passed"] * 20 for f in FILES}
    files[lost] = ["skipped"] * 3
    tests = records_of(files)
    text, ok = verdict(tests, dict(tests))
    assert not ok and f"passed no test of {lost}" in text


def test_a_differing_outcome_fails():
    default = healthy()
    lowmem = dict(default)
    lowmem[next(iter(lowmem))] = ("failed", "wrong result")
    text, ok = verdict(default, lowmem)
    assert not ok and "Outcomes that differ (default → lowmem): 1" in text


def test_a_missing_test_fails():
    default = healthy()
    lowmem = dict(default)
    del lowmem[next(iter(lowmem))]
    text, ok = verdict(default, lowmem)
    assert not ok and "| passed | missing |" in text


def test_an_incomplete_run_fails():
    tests = healthy()
    text, ok = verdict(tests, dict(tests), returncodes=(1, "timeout after 5s"))
    assert not ok and "did not complete" in text


def test_a_selection_needs_one_passed_test():
    one = {"tests/test_rop.py::test_x": ("passed", "")}
    text, ok = verdict(one, dict(one), argv=["--", "-k", "test_x"], returncodes=(0, 0))
    assert ok, text
    none = {"tests/test_rop.py::test_x": ("skipped", "")}
    text, ok = verdict(none, dict(none), argv=["--", "-k", "test_x"], returncodes=(0, 5))
    assert not ok and "passed no test" in text


def test_the_subset_is_consistent():
    assert set(run.REQUIRED_FILES) <= set(run.SUBSET_FILES)
    for nodeid in run.DESELECT:
        assert nodeid.split("::")[0] in run.SDIST_FILES, nodeid
    assert run.MIN_PASSED > 0


def test_the_tests_are_the_pinned_pytensor_version():
    # The sdist's version is the one requirements-pytensor.txt installs;
    # its sha256 is a 64-digit hex string.
    with open(os.path.join(ROOT, "requirements-pytensor.txt")) as fh:
        pinned = re.search(r"^pytensor==(\S+)", fh.read(), re.M).group(1)
    assert run.PYTENSOR_VERSION == pinned
    assert run.SDIST_NAME == "pytensor-%s" % pinned
    assert re.fullmatch(r"[0-9a-f]{64}", run.SDIST_SHA256)


def test_the_theano_suite_shares_the_rules():
    # Both runners judge with peer/peer_compare.py (one module, not a copy).
    import peer_compare

    assert run.peer_compare is peer_compare
    assert run.summarise.__module__ == "peer_pytensor_run"
    assert peer_compare.MODES == run.MODES
