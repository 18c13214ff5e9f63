# The two set-up commands of the README: `make demo` and `make test`, each alone on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test
STAMP_BENCH := $(VENV)/.installed-bench

.PHONY: demo test bench lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# setup.py and the C source too: an edited kernel is rebuilt (a stale build is refused, Python runs)
KERNEL_SRC := setup.py src/finrisk/features/_online_kernel.c

$(STAMP_RUN): pyproject.toml $(KERNEL_SRC) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml $(KERNEL_SRC) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(STAMP_RUN)

# Benchmarks also install their named peers (optbinning, networkx, ...): the `bench` extra.
$(STAMP_BENCH): pyproject.toml $(KERNEL_SRC) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@ $(STAMP_TEST) $(STAMP_RUN)

demo: $(STAMP_RUN)
	$(BIN)/finrisk demo

# pytest exits 5 when it collects nothing; that is not a product failure.
# The online engine's tests run a second time on its pure-Python path (the C kernel switched off):
# both must give the same values, and a machine without a compiler runs that path.
PURE_PYTHON_TESTS := tests/features/test_online.py tests/features/test_online_add.py \
	tests/features/test_online_state.py tests/features/test_parity.py tests/features/test_properties.py

test: $(STAMP_TEST)
	$(BIN)/python -m pytest src tests; rc=$$?; if [ $$rc -ne 0 ] && [ $$rc -ne 5 ]; then exit $$rc; fi
	FINRISK_PURE_PYTHON=1 $(BIN)/python -m pytest -q $(PURE_PYTHON_TESTS)

bench: $(STAMP_BENCH)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: $(STAMP_TEST)
	$(BIN)/ruff check src tests benchmarks

typecheck: $(STAMP_TEST)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) demo-workspace .pytest_cache
