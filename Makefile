# Two commands on a fresh machine: `make run` and `make test`. Both build .venv from the lock when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_DIR ?= run
NATS_PORT ?= 4222
HTTP_PORT ?= $(or $(VOICECHAT_HTTP_PORT),8080)
export VOICECHAT_HTTP_PORT := $(HTTP_PORT)
export VOICECHAT_RUN_DIR := $(RUN_DIR)
export NATS_PORT

ifdef VOICECHAT_NATS_URL
  EMBEDDED_NATS := -c nats=0
else
  export VOICECHAT_NATS_URL := nats://127.0.0.1:$(NATS_PORT)
  EMBEDDED_NATS :=
endif

.PHONY: run cluster test lint bench chaos lock clean

$(STAMP): requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	touch $(STAMP)

run: $(STAMP)
	@mkdir -p $(RUN_DIR)/nats
	@echo "voicechat: test page  http://127.0.0.1:$(HTTP_PORT)/test"
	@echo "voicechat: NATS       $(VOICECHAT_NATS_URL)"
	@echo "voicechat: auth       $(if $(VOICECHAT_AUTH_SECRET),on (JWTs required),off: development defaults, any client may connect (set VOICECHAT_AUTH_SECRET))"
	@echo "voicechat: Ctrl-C stops everything"
	exec $(BIN)/honcho start -f Procfile $(EMBEDDED_NATS)

# 3 NATS nodes, 2 gateways, 2 of each worker on loopback; ports from CLUSTER_BASE_PORT (docs/cluster.md).
CLUSTER_BASE_PORT ?= 8100
cluster: $(STAMP)
	@$(BIN)/python -m deploy.local.cluster $(CLUSTER_BASE_PORT) $(RUN_DIR)/cluster
	exec $(BIN)/honcho start -f deploy/local/Procfile.cluster -e $(RUN_DIR)/cluster/cluster.env

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

chaos: $(STAMP)
	$(BIN)/python -m chaos

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# requirements.lock: everything (make run/test); requirements-runtime.lock: the services only, same versions (image).
lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 -c requirements.lock -o requirements-runtime.lock

clean:
	rm -rf $(VENV) $(RUN_DIR) .mypy_cache .ruff_cache .pytest_cache
