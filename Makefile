# Every target does its own set-up: on a fresh machine `make run` or `make test` is enough.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROTOS := $(shell find proto -name '*.proto')
GENERATED := tarif/charging/v1/charging_pb2.py

.PHONY: run test test-all lint typecheck bench bench-cluster bench-scaling bench-billing proto clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Installs the project (editable) with its dev tools; re-runs when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	touch $@

# gRPC/protobuf code is generated into tarif/ (git-ignored), never edited by hand.
$(GENERATED): $(PROTOS) $(VENV)/.installed
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m grpc_tools.protoc -I proto --python_out=. --grpc_python_out=. \
		--mypy_out=. --mypy_grpc_out=. $(PROTOS)
	touch $@

proto: $(GENERATED)

run: $(GENERATED)
	$(BIN)/tarif up

# On xdist workers, one per core and at most 4: each runs engines and apps of its own, with their
# own Postgres connections (the embedded server takes 100). `make test TEST_WORKERS=0`: one process.
TEST_WORKERS ?= auto
test: $(GENERATED)
	$(BIN)/pytest -q -n $(TEST_WORKERS) --maxprocesses 4

# Everything, including the load/benchmark tests (bounded in time).
test-all: $(GENERATED)
	$(BIN)/pytest -q -m ''

bench: $(GENERATED)
	$(BIN)/python -m loadtest.bench $(BENCH_ARGS)

# One Redis and a local 3-master Redis Cluster side by side (docs/cluster.md).
bench-cluster: $(GENERATED)
	$(BIN)/python -m loadtest.bench --cluster $(BENCH_ARGS)

# Unary and batched throughput with 1, 2 and 3 engine processes (docs/scaling-benchmarks.md).
bench-scaling: $(GENERATED)
	$(BIN)/python -m loadtest.scaling --workers 1,2,3 --rounds 2

# Billing run and rated-record ingestion, small sizes (the full-size commands: docs/benchmarks.md).
bench-billing: $(GENERATED)
	$(BIN)/python -m loadtest.billing_bench
	$(BIN)/python -m loadtest.ingest_bench

lint: $(GENERATED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(GENERATED)
	$(BIN)/mypy engine billing_batch admin_api tarif_cli tarif_common tarif_billing tarif_jobs tarif_catalog tarif_balances tarif_client tarif_notifications tarif_postgres loadtest

# As root in a private folder the embedded Postgres cluster lives in /var/lib/tarif (see README):
# clean removes the one this project's state points to, with the state.
clean:
	@loc=.state/postgres/pgdata.location; if [ -f $$loc ]; then \
		cluster=$$(dirname "$$(cat $$loc)"); case "$$cluster" in /var/lib/tarif/*/cluster-*) \
		rm -rf "$$cluster";; esac; fi
	rm -rf $(VENV) tarif .state .pytest_cache .mypy_cache .ruff_cache
