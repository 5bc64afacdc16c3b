# lowmem — set-up, build, test, demo, bench.
# `make test` / `make demo` from a fresh clone create .venv, install the pinned
# requirements, build the Cython extensions in place and run.
# Two environments: .venv (Python 3.11, Theano 1.0.5, NumPy 1.23;
# requirements.txt) and .venv-pytensor (Python 3.12, PyTensor 3.3, NumPy 2;
# requirements-pytensor.txt). Each compiles the extensions in place with its
# own ABI tag (cpython-311 / cpython-312 .so files side by side).

PYTHON ?= python3.11
VENV   := .venv
VPY    := $(VENV)/bin/python
STAMP  := $(VENV)/.lowmem-installed
PT_VENV  := .venv-pytensor
PT_VPY   := $(PT_VENV)/bin/python
PT_STAMP := $(PT_VENV)/.lowmem-installed
# Python 3.12 for .venv-pytensor: the first candidate that runs and says it
# is 3.12 — `python3.12` on PATH, then pyenv's builds, newest first. Running
# it matters: on pyenv machines python3.12 on PATH can be a shim that exits
# non-zero. Found only when a recipe needs it; PYTHON312=... overrides.
IS_PY312 := import sys; sys.exit(sys.version_info[:2] != (3, 12))
PYTHON312 ?= $(shell for p in python3.12 $$(ls -d $(HOME)/.pyenv/versions/3.12*/bin/python3.12 \
  2>/dev/null | sort -rV); do "$$p" -c '$(IS_PY312)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)
NO_PY312 := make: Python 3.12 not found (needed for the PyTensor environment, $(PT_VENV)): \
  install python3.12 or set PYTHON312=/path/to/python3.12
# Theano crashes reading NumPy's build config unless blas.ldflags is set.
# Keep any flags the caller gave; only add the default when none were given.
export THEANO_FLAGS ?= blas.ldflags=

.PHONY: all venv venv-pytensor build build-theano build-pytensor test test-slow test-peer test-peer-pytensor test-install demo bench bench-scale bench-theano bench-storage bench-networks bench-graphs bench-arena bench-recompute clean distclean

all: build

venv: $(STAMP)
venv-pytensor: $(PT_STAMP)

# The pinned dependencies, then an editable install of lowmem, which
# compiles the Cython extensions in place and creates .venv/bin/lowmem.
$(STAMP): requirements.txt setup.py pyproject.toml
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --no-input -r requirements.txt
	$(VPY) -m pip install --no-input --no-build-isolation --no-deps -e .
	touch $@

# The same for .venv-pytensor; first a check that PYTHON312 is a working
# 3.12, so that a missing one fails with one line saying what to do.
$(PT_STAMP): requirements-pytensor.txt setup.py pyproject.toml
	@"$(PYTHON312)" -c '$(IS_PY312)' >/dev/null 2>&1 || { echo "$(NO_PY312)" >&2; exit 2; }
	test -x $(PT_VPY) || $(PYTHON312) -m venv $(PT_VENV)
	$(PT_VPY) -m pip install --no-input -r requirements-pytensor.txt
	$(PT_VPY) -m pip install --no-input --no-build-isolation --no-deps -e .
	touch $@

# Recompile in place what changed since: only changed .pyx files (and
# those whose .pxd dependencies changed) are redone, for each interpreter.
# demo, bench and test-peer need only the Theano side (build-theano).
build: build-theano build-pytensor

build-theano: venv
	$(VPY) setup.py -q build_ext --inplace --parallel 2

build-pytensor: venv-pytensor
	$(PT_VPY) setup.py -q build_ext --inplace --parallel 2

# The Theano suite (tests/, .venv) and the PyTensor suite (tests_pytensor/,
# .venv-pytensor), each on TEST_JOBS pytest-xdist workers (tests/conftest.py:
# a Theano compile cache each); --dist loadfile keeps a file's tests, and its
# module-scoped compiled functions, in one worker. TEST_JOBS=0: no workers,
# one process. The second suite runs even when the first fails, so one run
# reports both; the status is the first failure's. pytest exit 5 (no tests
# collected) is a failure like any other non-zero exit.
TEST_JOBS ?= 2
test: build
	@status=0; \
	for suite in "$(VPY) tests" "$(PT_VPY) tests_pytensor"; do \
	  set -- $$suite; \
	  "$$1" -m pytest -q -n $(TEST_JOBS) --dist loadfile --durations=20 -m "not slow" "$$2" || { s=$$?; \
	    if [ $$s -eq 5 ]; then echo "make test: pytest collected no tests in $$2 (exit 5)" >&2; fi; \
	    if [ $$status -eq 0 ]; then status=$$s; fi; }; \
	done; \
	exit $$status

# The slow tests (marked `slow`: the PyTensor zoo, minutes of PyTensor's
# rewrites and Numba compiles), left out of `make test`; CI runs both.
test-slow: build-pytensor
	$(PT_VPY) -m pytest -q -n $(TEST_JOBS) --dist loadfile --durations=10 -m slow tests_pytensor

# Theano's own tests with and without LowMemMode (peer/README.md; ~6 min
# on an empty Theano compile cache). Fails when outcomes differ or a run
# passes too few tests.
test-peer: build-theano
	$(VPY) peer/run.py

# PyTensor 3.3.7's own tests (the sdist's tests/, downloaded once into
# build/peer-pytensor/ and checked by sha256, and the package's doctests)
# with and without LowMemMode (peer/README.md). Fails when outcomes differ
# or a run passes too few tests.
test-peer-pytensor: build-pytensor
	$(PT_VPY) peer_pytensor/run.py

# `pip install .` (not editable) into a fresh venv from a copy of the
# tracked files (a stale build/ would end up in the wheel), its build
# dependencies pinned from requirements.txt, pip's cache reused; then the
# `lowmem` command, run from another directory, must schedule an example.
INSTALL_CHECK := import json, sys, lowmem; \
  assert "site-packages" in lowmem.__file__, lowmem.__file__; \
  r = json.load(open("out.json")); n = r["nodes"]; \
  assert n == 36 and sorted(r["order"]) == list(range(n)), r; \
  assert r["optimal"] and r["peak"] == r["lower_bound"] < r["default_peak"], r; \
  print("make test-install: lowmem", lowmem.__file__, "peak", r["peak"])
test-install:
	@set -e; d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; \
	mkdir "$$d/src" "$$d/run"; \
	git ls-files -z | tar --null --ignore-failed-read -T - -cf - | tar -xf - -C "$$d/src"; \
	$(PYTHON) -m venv "$$d/venv"; \
	"$$d/venv/bin/pip" install -q --no-input \
	  $$(grep -oE '^(numpy|Cython|setuptools|wheel)==[^ ]+' requirements.txt); \
	"$$d/venv/bin/pip" install -q --no-input --no-build-isolation "$$d/src"; \
	cd "$$d/run"; \
	"$$d/venv/bin/lowmem" schedule "$$d/src/lowmem/examples/theano_profiling_k8.json" \
	  --json > out.json; \
	"$$d/venv/bin/python" -c '$(INSTALL_CHECK)'

demo: build-theano
	$(VENV)/bin/lowmem demo --out demo-output

bench: build-theano
	$(VPY) -m benchmarks.run

bench-scale: build-theano
	$(VPY) -m benchmarks.run_scale --large-zoo

bench-theano: build-theano
	$(VPY) -m benchmarks.run_theano

# Storage plans on the graph zoo, then storage sharing in the Theano models.
bench-storage: build-theano
	$(VPY) -m benchmarks.run_storage
	$(VPY) -m benchmarks.run_theano_storage

# The scheduler on real networks and random layered DAGs, from the committed
# graph files in benchmarks/graphs/ (no Theano); BENCH_ARGS passes options,
# e.g. BENCH_ARGS="--time-limits 0.1 1".
bench-networks: build-theano
	$(VPY) -m benchmarks.run_networks $(BENCH_ARGS)

# lowmem.arena_offsets on MiniMalloc's challenging instances (a MiniMalloc
# checkout: MINIMALLOC_SRC=DIR), generated and zoo instances, and the
# 10,000-buffer fast path; MiniMalloc's binary on the same instances when
# built (benchmarks/minimalloc.sh; BENCH_ARGS="--build-minimalloc" builds
# it). BENCH_ARGS passes options, e.g. BENCH_ARGS="--time-limit 2 --quick".
bench-arena: build-theano
	$(VPY) -m benchmarks.run_arena $(BENCH_ARGS)

# Memory budgets met by recomputation (issue 13): the planner on the
# real-scale training graphs, then LowMemMode(memory_budget=...) on the zoo.
bench-recompute: build-theano
	$(VPY) -m benchmarks.run_recompute --graphs
	$(VPY) -m benchmarks.run_recompute --theano

# Rebuild benchmarks/graphs/: each network compiled and called once in
# Theano (LowMemMode measures sizes and workspace; tens of minutes), and
# the layered DAGs.
bench-graphs: build-theano
	$(VPY) -m benchmarks.make_graphs

clean:
	rm -rf build lowmem/*.so lowmem/_*.c lowmem/theano/*.so lowmem/theano/_*.c *.egg-info
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -not -path './$(PT_VENV)/*' \
	  -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(PT_VENV) .hypothesis .pytest_cache
