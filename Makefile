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

.PHONY: all venv build test test-peer demo bench bench-theano bench-storage clean distclean

all: build

venv: $(STAMP)

# Dependencies, then an editable install of lowmem without compiling (this
# registers the package and creates .venv/bin/lowmem); `build` compiles.
$(STAMP): requirements.txt setup.py pyproject.toml
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --no-input -r requirements.txt
	LOWMEM_SKIP_EXT=1 $(VPY) -m pip install --no-input --no-build-isolation --no-deps -e .
	touch $@

# Cythonize and compile every lowmem/*.pyx in place. Incremental: only
# changed .pyx files (and their .pxd dependencies) are redone.
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

demo: build
	$(VENV)/bin/lowmem demo --out demo-output

bench: build
	$(VPY) -m benchmarks.run

bench-theano: build
	$(VPY) -m benchmarks.run_theano

# Storage plans on the graph zoo, then storage sharing in the Theano models.
bench-storage: build
	$(VPY) -m benchmarks.run_storage
	$(VPY) -m benchmarks.run_theano_storage

clean:
	rm -rf build lowmem/*.so lowmem/_*.c lowmem/theano/*.so lowmem/theano/_*.c *.egg-info
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .hypothesis .pytest_cache
