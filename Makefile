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

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(STAMP_RUN)

# Benchmarks also install their named peers (optbinning, networkx, ...): the `bench` extra.
$(STAMP_BENCH): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@ $(STAMP_TEST) $(STAMP_RUN)

demo: $(STAMP_RUN)
	$(BIN)/finrisk demo

# pytest exits 5 when it collects nothing; that is not a product failure.
test: $(STAMP_TEST)
	$(BIN)/python -m pytest src tests; rc=$$?; if [ $$rc -eq 5 ]; then exit 0; fi; exit $$rc

bench: $(STAMP_BENCH)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: $(STAMP_TEST)
	$(BIN)/ruff check src tests benchmarks

typecheck: $(STAMP_TEST)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) demo-workspace .pytest_cache
