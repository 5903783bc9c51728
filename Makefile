# Every command the README shows is a target here; `make` alone runs the PR gate.
.DEFAULT_GOAL := pr
SHELL := /bin/bash

VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
DATA ?=
CONFIG ?=
OUT ?= artifacts
ROWS ?=
PORT ?= 8000

export MPLBACKEND := Agg

.PHONY: help install pr lint format typecheck test test-fast train benchmark-training clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv with the training, serving and dev dependencies

$(STAMP): pyproject.toml
	@set -e; python=$$(scripts/find-python.sh); echo "Creating $(VENV) with $$python"; \
	  "$$python" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[serve,train,dev]'
	@touch $(STAMP)

pr: lint test ## The PR gate: lint, then the whole test suite

lint: $(STAMP) ## ruff check + ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP) ## mypy over the packages
	$(BIN)/mypy training handler infra

test: $(STAMP) ## Run the whole test suite
	@# pytest exits 5 when it collects nothing: this suite always has tests, so that means a broken layout.
	@$(BIN)/pytest $(PYTEST_ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; exit $$status

test-fast: $(STAMP) ## Run the tests that do not train a model
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

train: $(STAMP) ## Train, export and parity-check (DATA=csv CONFIG=yaml OUT=dir; synthetic catalogue by default)
	$(PY) -m training.train $(if $(DATA),--data $(DATA)) $(if $(CONFIG),--config $(CONFIG)) --out $(OUT) $(if $(ROWS),--rows $(ROWS))

benchmark-training: $(STAMP) ## Measure training time, size and quality on PriceRunner and on synthetic data
	$(PY) benchmarks/training_benchmark.py

clean: ## Remove build outputs, caches and local MLflow data (keeps .venv)
	rm -rf artifacts .aws-sam .pytest_cache .ruff_cache .mypy_cache htmlcov .coverage mlruns mlruns.db mlartifacts
