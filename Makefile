# Two commands on a fresh machine:  make demo   and   make test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test unit lint collector stack-binaries clean

$(BIN)/.installed: pyproject.toml
	@echo "==> creating $(VENV) and installing azora-otel with its dev tools"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e . --group dev
	@touch $@

## demo: run the shop example under azora-otel-instrument (embedded defaults, no infrastructure)
demo: $(BIN)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python examples/demo.py

## test: install what a fresh machine lacks (Prometheus, Alertmanager, PostgreSQL, the Go-built binaries) and run every nox session of CI
test: $(BIN)/.installed
	bash scripts/install-system-deps.sh
	$(MAKE) stack-binaries
	$(BIN)/nox

## unit: the fast in-memory tests only
unit: $(BIN)/.installed
	$(BIN)/pytest -q -m "not e2e and not postgres"

## collector: build (or reuse) the otelcol-azora binary
collector:
	bash collector/build.sh

## stack-binaries: build (or reuse) everything the stack tests build from Go modules:
## the Collector, Prometheus 3 with its promtool, Jaeger v2 (cached in ~/.cache/azora-otel)
stack-binaries:
	bash collector/build.sh
	bash scripts/build-prometheus.sh
	bash scripts/build-jaeger.sh

clean:
	rm -rf $(VENV) .nox
