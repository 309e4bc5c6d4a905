# Developer entry points. Every target uses the project's own virtualenv in .venv,
# created on first use and reinstalled when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check
PYTEST_ARGS ?=

.PHONY: run test lint schema

run: $(VENV)/install.stamp
	$(BIN)/billing serve

test: $(VENV)/install-dev.stamp
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/install-dev.stamp
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app

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
