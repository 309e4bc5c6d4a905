# Developer entry points. Every target uses the project's own virtualenv in .venv,
# created on first use and reinstalled when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check
PYTEST_ARGS ?=

BENCH_ARGS ?=

.PHONY: run test lint schema redis-server chromium bench wrk

run: $(VENV)/install.stamp
	$(BIN)/billing serve

test: $(VENV)/install-dev.stamp redis-server chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The tests and the bench start a throwaway redis-server of their own; install the binary
# when missing.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || { \
	  echo "installing redis-server (needed by the tests)"; \
	  log=$$(mktemp); export DEBIAN_FRONTEND=noninteractive; \
	  if ! { apt-get install -y -qq --no-install-recommends redis-server >"$$log" 2>&1 || \
	         { apt-get update -qq >>"$$log" 2>&1 && \
	           apt-get install -y -qq --no-install-recommends redis-server >>"$$log" 2>&1; }; }; then \
	    cat "$$log" >&2; rm -f "$$log"; \
	    echo "error: redis-server is not installed and 'apt-get install redis-server' failed;" \
	         "install it (as root) and run make test again" >&2; \
	    exit 1; \
	  fi; \
	  rm -f "$$log"; \
	}

# GraphiQL's page is tested in a real headless browser: Debian's chromium and its driver,
# installed when missing (the tests never download a browser).
chromium:
	@{ [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; } || { \
	  echo "installing chromium and chromium-driver (needed by the tests)"; \
	  log=$$(mktemp); export DEBIAN_FRONTEND=noninteractive; \
	  if ! { apt-get install -y -qq --no-install-recommends chromium chromium-driver >"$$log" 2>&1 || \
	         { apt-get update -qq >>"$$log" 2>&1 && \
	           apt-get install -y -qq --no-install-recommends chromium chromium-driver \
	             >>"$$log" 2>&1; }; }; then \
	    cat "$$log" >&2; rm -f "$$log"; \
	    echo "error: chromium is not installed and 'apt-get install chromium chromium-driver'" \
	         "failed; install them (as root) and run make test again" >&2; \
	    exit 1; \
	  fi; \
	  rm -f "$$log"; \
	}

# Requests per second and latencies of the hot paths against baselines (see bench/): one
# uvicorn worker per target pinned to one core, the load generator to another; two workers
# on a throwaway redis-server for the over-admission count; figures also in
# bench-results.json. Options through BENCH_ARGS, e.g. BENCH_ARGS="--duration 20".
bench: $(VENV)/install-bench.stamp wrk redis-server
	$(BIN)/python -m bench $(BENCH_ARGS)

# The load generator; without it the bench falls back to its own, slower one.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "installing wrk (the bench's load generator)"; \
	  log=$$(mktemp); export DEBIAN_FRONTEND=noninteractive; \
	  { apt-get install -y -qq --no-install-recommends wrk >"$$log" 2>&1 || \
	    { apt-get update -qq >>"$$log" 2>&1 && \
	      apt-get install -y -qq --no-install-recommends wrk >>"$$log" 2>&1; }; } || \
	  echo "warning: wrk could not be installed; the built-in load generator is used" >&2; \
	  rm -f "$$log"; \
	}

lint: $(VENV)/install-dev.stamp
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app tests

schema: $(VENV)/install.stamp
	$(BIN)/billing export-schema

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/install.stamp: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

$(VENV)/install-dev.stamp: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[dev]'
	touch $@

$(VENV)/install-bench.stamp: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[bench]'
	touch $@
