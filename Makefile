# bitcache — two entry points: `make demo` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench reliability-long ha-deps clean

$(BIN)/python:
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) on PATH (or run make PY=python3)"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bitcache demo

# lint-imports: the layer and no-cycle contracts of pyproject.toml (docs/architecture.md).
lint: $(STAMP)
	$(BIN)/ruff check $(wildcard bitcache tests benchmarks examples)
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

test: lint unit

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py --quick
	$(BIN)/python benchmarks/overlap.py --quick
	$(BIN)/python benchmarks/hooks.py --quick
	$(BIN)/python benchmarks/telemetry.py --quick
	$(BIN)/python benchmarks/concurrent.py --quick
	$(BIN)/python benchmarks/settlement.py --quick
	$(BIN)/python benchmarks/reconcile.py --quick
	$(BIN)/python benchmarks/deposits.py --quick
	$(BIN)/python benchmarks/load.py --quick
	$(BIN)/python benchmarks/serve.py --quick
	$(BIN)/python benchmarks/failover.py --quick

# Patroni and etcd for the failover test and benchmark (Debian packages, as root).
ha-deps:
	bash .ci/install-ha

reliability-long: $(STAMP) ha-deps
	BITCACHE_RELIABILITY=long $(BIN)/python -m pytest -q -rA --durations=0 tests/reliability
	$(BIN)/python benchmarks/load.py

clean:
	rm -rf $(VENV) demo-data
