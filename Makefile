# The README's two commands are `make demo` and `make test`; everything else here serves them.
# Both are idempotent on a fresh Debian 12 machine: they install what they need from this repo.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: demo test lint typecheck pytest opa postgres system-deps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

## demo: install tre and run `tre up --demo` (state in ./.tre-demo)
demo: $(STAMP)
	TRE_HOME=$${TRE_HOME:-$(CURDIR)/.tre-demo} $(BIN)/tre up --demo

## opa: make sure the real OPA binary is at .cache/opa/bin/opa
opa:
	scripts/install-opa.sh

## postgres: start the test PostgreSQL server (prints its URL)
postgres:
	scripts/postgres.sh

lint: $(STAMP)
	$(BIN)/ruff check tre tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

## system-deps: bubblewrap and socat for project sandboxes
system-deps:
	scripts/install-system-deps.sh

## test: install everything (venv, OPA, PostgreSQL, bubblewrap), lint, type-check, every test
test: $(STAMP) opa system-deps
	$(MAKE) lint typecheck
	export TRE_TEST_POSTGRES_URL=$$(scripts/postgres.sh) && \
	  TRE_OPA_BINARY=$(CURDIR)/.cache/opa/bin/opa $(BIN)/pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .cache .tre-demo .pytest_cache .mypy_cache .ruff_cache
