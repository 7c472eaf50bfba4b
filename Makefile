# The README's two commands are `make demo` and `make test`; everything else here serves them.
# Both are idempotent on a fresh Debian 12 machine: they install what they need from this repo.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NOTEBOOK := images/singleuser/tre-notebook
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(NOTEBOOK)/pyproject.toml | sha256sum | cut -c1-12)

.PHONY: demo test lint typecheck pytest opa postgres system-deps node-deps sandbox-runtime docker clean

# tre-notebook (what single-user servers run) is editable here, for its tests; editable installs
# skip its data files, so this venv's own Jupyter is not switched to download blocking.
$(STAMP): pyproject.toml $(NOTEBOOK)/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/pip install -q -e ./$(NOTEBOOK)
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

## demo: install tre and run `tre up --demo` (state in ./.tre-demo): hub, proxy, policy engine
demo: $(STAMP) system-deps node-deps sandbox-runtime
	TRE_HOME=$${TRE_HOME:-$(CURDIR)/.tre-demo} TRE_WORKSPACES_RUNTIME=/opt/tre/runtime \
	  TRE_WORKSPACES_STARTER=$${TRE_WORKSPACES_STARTER:-$(CURDIR)/notebooks} \
	  $(BIN)/tre up --demo

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

## node-deps: configurable-http-proxy into ./node_modules (from package-lock.json)
node-deps:
	scripts/install-node-deps.sh

## sandbox-runtime: the world-readable Python that project sandboxes run (/opt/tre/runtime)
sandbox-runtime:
	scripts/make-sandbox-runtime.sh

## docker: Docker engine + the single-user image for the real-container tests (rebuilt when
## anything under images/ changed: build.sh compares the image's tre.images-hash label)
docker:
	scripts/install-docker.sh
	images/build.sh --if-changed

## test: install everything (venv, OPA, PostgreSQL, bubblewrap, proxy, sandbox runtime), lint,
## type-check, every test
test: $(STAMP) opa system-deps node-deps sandbox-runtime docker
	$(MAKE) lint typecheck
	export TRE_TEST_POSTGRES_URL=$$(scripts/postgres.sh) && \
	  TRE_OPA_BINARY=$(CURDIR)/.cache/opa/bin/opa TRE_WORKSPACES_RUNTIME=/opt/tre/runtime \
	  $(BIN)/pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .cache .tre-demo .pytest_cache .mypy_cache .ruff_cache node_modules
