# lowmem — set-up, build, test, demo, bench.
# `make test` / `make demo` from a fresh clone create .venv, install the pinned
# requirements, build the Cython extensions in place and run.

PYTHON ?= python3.11
VENV   := .venv
VPY    := $(VENV)/bin/python
STAMP  := $(VENV)/.lowmem-installed
# Theano crashes reading NumPy's build config unless blas.ldflags is set.
# Keep any flags the caller gave; only add the default when none were given.
export THEANO_FLAGS ?= blas.ldflags=

.PHONY: all venv build test test-peer test-install demo bench bench-scale bench-theano bench-storage bench-networks bench-graphs bench-arena clean distclean

all: build

venv: $(STAMP)

# The pinned dependencies, then an editable install of lowmem, which
# compiles the Cython extensions in place and creates .venv/bin/lowmem.
$(STAMP): requirements.txt setup.py pyproject.toml
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --no-input -r requirements.txt
	$(VPY) -m pip install --no-input --no-build-isolation --no-deps -e .
	touch $@

# Recompile in place what changed since: only changed .pyx files (and
# those whose .pxd dependencies changed) are redone.
build: venv
	$(VPY) setup.py -q build_ext --inplace --parallel 2

# On TEST_JOBS pytest-xdist workers (tests/conftest.py: a Theano compile
# cache each); --dist loadfile keeps a file's tests, and its module-scoped
# compiled functions, in one worker. TEST_JOBS=0: no workers, one process.
# pytest exit 5 (no tests collected) is a failure like any other non-zero exit.
TEST_JOBS ?= 2
test: build
	@$(VPY) -m pytest -q -n $(TEST_JOBS) --dist loadfile --durations=20 tests || { s=$$?; \
	  if [ $$s -eq 5 ]; then echo "make test: pytest collected no tests (exit 5)" >&2; fi; \
	  exit $$s; }

# Theano's own tests with and without LowMemMode (peer/README.md; ~6 min
# on an empty Theano compile cache). Fails when outcomes differ or a run
# passes too few tests.
test-peer: build
	$(VPY) peer/run.py

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

demo: build
	$(VENV)/bin/lowmem demo --out demo-output

bench: build
	$(VPY) -m benchmarks.run

bench-scale: build
	$(VPY) -m benchmarks.run_scale --large-zoo

bench-theano: build
	$(VPY) -m benchmarks.run_theano

# Storage plans on the graph zoo, then storage sharing in the Theano models.
bench-storage: build
	$(VPY) -m benchmarks.run_storage
	$(VPY) -m benchmarks.run_theano_storage

# The scheduler on real networks and random layered DAGs, from the committed
# graph files in benchmarks/graphs/ (no Theano); BENCH_ARGS passes options,
# e.g. BENCH_ARGS="--time-limits 0.1 1".
bench-networks: build
	$(VPY) -m benchmarks.run_networks $(BENCH_ARGS)

# lowmem.arena_offsets on MiniMalloc's challenging instances (a MiniMalloc
# checkout: MINIMALLOC_SRC=DIR), generated and zoo instances, and the
# 10,000-buffer fast path; MiniMalloc's binary on the same instances when
# built (benchmarks/minimalloc.sh; BENCH_ARGS="--build-minimalloc" builds
# it). BENCH_ARGS passes options, e.g. BENCH_ARGS="--time-limit 2 --quick".
bench-arena: build
	$(VPY) -m benchmarks.run_arena $(BENCH_ARGS)

# Rebuild benchmarks/graphs/: each network compiled and called once in
# Theano (LowMemMode measures sizes and workspace; tens of minutes), and
# the layered DAGs.
bench-graphs: build
	$(VPY) -m benchmarks.make_graphs

clean:
	rm -rf build lowmem/*.so lowmem/_*.c lowmem/theano/*.so lowmem/theano/_*.c *.egg-info
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .hypothesis .pytest_cache
