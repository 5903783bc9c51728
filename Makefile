# Every command the README shows is a target here; `make` alone runs the PR gate.
.DEFAULT_GOAL := pr
SHELL := /bin/bash

VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
DATA ?=
CONFIG ?=
# DATA=, CONFIG=, OUT= or MODEL= given but blank (`DATA=$CATALOGUE` with the variable unset) would mean the built-in
# default without a word (OUT=: overwriting the model `make serve` and `make build` take): refuse it, whatever the
# target.
BLANK_GIVEN := $(foreach name,DATA CONFIG OUT MODEL,$(if $(filter command line,$(origin $(name))),$(if $(strip $($(name))),,$(name))))
ifneq ($(strip $(BLANK_GIVEN)),)
$(error $(firstword $(BLANK_GIVEN))= is given but blank (an unset variable?): give it a value, or leave $(firstword $(BLANK_GIVEN)) out)
endif
OUT ?= artifacts
# make predict's output folder; `make predict OUT=x` also works (OUT = where the command writes).
PREDICTIONS ?= $(if $(filter command line,$(origin OUT)),$(OUT),predictions.parquet)
ROWS ?=
PORT ?=
# The PriceRunner file (not shipped: data/README.md says where to get it) and the sha256 of the copy this
# project's tests and figures were made with.
PRICERUNNER ?= data/pricerunner_aggregate.csv
PRICERUNNER_SHA256 := 632ee1e10267af659015bd50ee54754deaaab29713d366cbfcc59c0dc92e6af8

export MPLBACKEND := Agg

# The model serve, predict and build use: always artifacts/model.onnx unless named, whatever OUT says.
MODEL ?= artifacts/model.onnx
ARCH ?= x86_64
BUCKET ?=
PREFIX ?= product-classifier
MIN_MACRO_F1 ?= 0.8
URL ?= http://127.0.0.1:3000
LOCAL_S3_PORT ?= 5050
# Where make local-s3 keeps moto_server's pid and log.
LOCAL_S3 ?= .local-s3
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed
# fastText, for the benchmarks' peers only (pyproject.toml's `benchmark` extra).
BENCH_STAMP := $(VENV)/.benchmark-installed
LOCK_ENV := .venv-lock
PIP_COMPILE := $(LOCK_ENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	--no-emit-find-links
export SAM_CLI_TELEMETRY := 0
AWS_REGION_DEFAULT := $(or $(AWS_DEFAULT_REGION),$(AWS_REGION),us-east-1)
SAM := AWS_DEFAULT_REGION=$(AWS_REGION_DEFAULT) $(TOOLS)/bin/sam
STAGE_ROOT ?= .
SAM_BUILD_DIR ?= .aws-sam/build
BUILT := $(SAM_BUILD_DIR)/ProductClassifierFunction
# Values a user (or a workflow input) passes reach the recipes as environment variables and are quoted there
# ("$$DATA"), never pasted into the shell text, so a value like `x"; rm -rf ~; "` stays a value.
USER_VARIABLES := A B DATA CONFIG OUT PREDICTIONS PRICERUNNER ROWS PORT MODEL MODEL_URI MODEL_VERSION ARCH BUCKET PREFIX \
	URL TOKEN LOCAL_S3_PORT LOCAL_S3 FEATURES FUNCTION ENGINE WORKERS WORKER_MEMORY KEEP CATEGORIES TAXONOMY CASES TARGET_PRECISION EXPLAIN \
	CAPTURE CAPTURE_SAMPLE_RATE SINCE LIMIT CORRECTIONS REVIEWED MIN_AGREEMENT ON ID MIN_MACRO_F1 AUTH MINUTES
export $(USER_VARIABLES)
# The test suite runs `make` itself: it starts from an environment without this make's variables and flags.
CLEAN_ENV := env $(addprefix -u ,$(USER_VARIABLES) MAKEFLAGS MFLAGS MAKELEVEL)
# Whether 127.0.0.1:PORT can be bound, as uvicorn will (SO_REUSEADDR): otherwise one line with the PORT= fix
# instead of uvicorn's "[Errno 98] ... address already in use".
define PORT_FREE
import socket, sys
port, retry = sys.argv[1], sys.argv[2]
if not port.isdigit() or not 0 < int(port) < 65536:
    sys.exit(f"error: PORT must be a port number (1-65535), got {port!r}")
with socket.socket() as probe:
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(("127.0.0.1", int(port)))
    except OSError as exc:
        sys.exit(f"error: cannot serve on 127.0.0.1:{port} ({exc.strerror}): another server holds it; stop it or"
                 f" pass another port, e.g. {retry}={int(port) + 1}")
endef
export PORT_FREE
# make serve: the settings and the model, checked before uvicorn imports the app (which would print a traceback).
define SERVABLE
import sys
from handler.exceptions import ModelLoadError, SettingsError
from handler.model import load_model
from handler.settings import Settings
try:
    load_model(Settings.from_env())
except (SettingsError, ModelLoadError) as exc:
    sys.exit(f"error: {exc}")
endef
export SERVABLE
SERVE_ENV := MODEL_PATH="$$MODEL" POWERTOOLS_SERVICE_NAME=product-classifier \
	POWERTOOLS_METRICS_NAMESPACE=ProductClassifier POWERTOOLS_TRACE_DISABLED=true
SERVE_CAPTURE = $(if $(CAPTURE),CAPTURE_DIR="$$CAPTURE" CAPTURE_SAMPLE_RATE="$${CAPTURE_SAMPLE_RATE:-1}")
# A yes/no variable (REPLACE=, EXPLAIN=) as its option: $(call FLAG,REPLACE,--replace). One word, yes (1, true, yes,
# y, on) or no (0, false, no, n, off) in any case; anything else stops make with one line, rather than running as no.
YES := 1 true yes y on True Yes Y On TRUE YES ON
NO := 0 false no n off False No N Off FALSE NO OFF
NEITHER = $(error $(1)=$($(1)) is neither yes nor no: use $(1)=1 or leave it out)
FLAG = $(if $(filter-out 0 1,$(words $($(1)))),$(NEITHER),$(if $(filter $(YES),$($(1))),$(2),$(if $(filter-out $(NO),$($(1))),$(NEITHER))))

.PHONY: help install tools lock pr lint format typecheck test test-fast train predict check-data requirements serve validate build \
	start-api publish local-s3 stop-local-s3 smoke deploy compare review-queue check-pricerunner benchmark-training benchmark-dask benchmark-categories benchmark-handler benchmark-parity benchmark-soak \
	benchmark-worst-case benchmark-text-fold benchmark-cold-start prune-versions checkov clean

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv with the training, serving and dev dependencies (LOCKED=1: the hashed pins of requirements/)

$(STAMP): pyproject.toml
	@set -e; python=$$(scripts/find-python.sh); echo "Creating $(VENV) with $$python"; \
	  "$$python" -m venv $(VENV)
ifdef LOCKED
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements/project.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
else
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[serve,train,dev]'
endif
	@touch $(STAMP)

tools: $(TOOLS_STAMP) ## Create .venv-tools with aws-sam-cli, cfn-lint, actionlint and the Lambda runtime client

$(TOOLS_STAMP): pyproject.toml
	@set -e; python=$$(scripts/find-python.sh); "$$python" -m venv $(TOOLS)
ifdef LOCKED
	$(TOOLS)/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements/tools.txt
else
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet $$($(TOOLS)/bin/python -c \
	  'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["tools"]))')
endif
	@touch $(TOOLS_STAMP)

lock: ## Rewrite requirements/*.txt, the hashed pins `make install tools LOCKED=1` installs (after changing pyproject.toml)
	@test -x $(LOCK_ENV)/bin/pip-compile || { python=$$(scripts/find-python.sh); "$$python" -m venv $(LOCK_ENV) && \
	  $(LOCK_ENV)/bin/python -m pip install --quiet pip-tools==7.7.0; }
	$(PIP_COMPILE) --all-build-deps --extra serve --extra train --extra dev --output-file requirements/project.txt pyproject.toml
	$(PIP_COMPILE) --extra tools --output-file requirements/tools.txt pyproject.toml

pr: lint typecheck validate test ## The PR gate: lint, types, template checks, then the whole test suite

lint: $(STAMP) ## ruff check + ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP) ## mypy over the packages
	$(BIN)/mypy training handler infra monitor/drift_monitor deploy_hook/pre_traffic

test: $(STAMP) $(TOOLS_STAMP) ## Run the whole test suite (unit, functional and the local-API integration tests)
	@# pytest exits 5 when it collects nothing: this suite always has tests, so that means a broken layout.
	@$(CLEAN_ENV) $(BIN)/pytest --cov --cov-report=term-missing:skip-covered $(PYTEST_ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; exit $$status

test-fast: $(STAMP) ## Run the tests that do not train a model (no coverage gate; seconds, not minutes)
	$(CLEAN_ENV) $(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

train: $(STAMP) ## Train, export and parity-check (DATA= CONFIG= OUT= ROWS= CATEGORIES= TAXONOMY=google|google-shape|file; ENGINE=local|dask WORKERS= WORKER_MEMORY= FEATURES=; CORRECTIONS=reviewed.csv, or round1.csv,round2.csv oldest first)
	$(PY) -m training.cli.train $(if $(DATA),--data "$$DATA") $(if $(CONFIG),--config "$$CONFIG") --out "$${OUT:-artifacts}" \
	  $(if $(ROWS),--rows "$$ROWS") $(if $(CATEGORIES),--categories "$$CATEGORIES") $(if $(TAXONOMY),--taxonomy "$$TAXONOMY") \
	  --engine "$${ENGINE:-local}" $(if $(FEATURES),--features "$$FEATURES") $(if $(CORRECTIONS),--corrections "$$CORRECTIONS")

predict: $(STAMP) ## Score DATA (file, glob or folder; local or s3://) with MODEL into a new Parquet folder PREDICTIONS (or OUT; REPLACE=1; TARGET_PRECISION= EXPLAIN=1; ID=column(s) to copy beside the answers, comma-separated, instead of the default ids)
	$(PY) -m training.cli.predict --model "$$MODEL" --data "$$DATA" --out "$$PREDICTIONS" \
	  --engine "$${ENGINE:-local}" $(if $(CONFIG),--config "$$CONFIG") $(call FLAG,REPLACE,--replace) $(if $(ID),--id "$$ID") \
	  $(if $(TARGET_PRECISION),--target-precision "$$TARGET_PRECISION") $(call FLAG,EXPLAIN,--explain)

compare: $(STAMP) ## Two models (A= B= .onnx or models:/…) on DATA's held-out test rows (ON=all: every row; CONFIG=; OUT=comparison; ROWS= CATEGORIES= TAXONOMY= as trained): CIs, McNemar; DATA=captured traffic: agreement (REVIEWED= SINCE= MIN_AGREEMENT=)
	@test -n "$$A" -a -n "$$B" || { echo "error: set A=<model.onnx or models:/name/version> and B=<…>" >&2; exit 1; }
	$(PY) -m training.cli.compare --a "$$A" --b "$$B" $(if $(DATA),--data "$$DATA") $(if $(CONFIG),--config "$$CONFIG") \
	  --out $(if $(filter command line,$(origin OUT)),"$$OUT",comparison) $(if $(REVIEWED),--reviewed "$$REVIEWED") \
	  $(if $(SINCE),--since "$$SINCE") $(if $(MIN_AGREEMENT),--min-agreement "$$MIN_AGREEMENT") $(if $(ON),--on "$$ON") \
	  $(if $(ROWS),--rows "$$ROWS") $(if $(CATEGORIES),--categories "$$CATEGORIES") $(if $(TAXONOMY),--taxonomy "$$TAXONOMY")

review-queue: $(STAMP) ## Captured listings to label first (CAPTURE=folder|s3://… OUT=review.csv, a new .csv unless REPLACE=1; SINCE= LIMIT= B=challenger.onnx|models:/… REVIEWED=earlier rounds' queues DATA= CONFIG=; ROWS= CATEGORIES= TAXONOMY= as trained)
	@test -n "$$CAPTURE" || { echo "error: set CAPTURE=<folder of make serve CAPTURE=, or s3://bucket/capture/>" >&2; exit 1; }
	$(PY) -m training.cli.review_queue --capture "$$CAPTURE" --out $(if $(filter command line,$(origin OUT)),"$$OUT",review.csv) \
	  $(if $(SINCE),--since "$$SINCE") $(if $(LIMIT),--limit "$$LIMIT") $(if $(B),--b "$$B") $(if $(DATA),--data "$$DATA") \
	  $(if $(CONFIG),--config "$$CONFIG") $(call FLAG,REPLACE,--replace) $(if $(REVIEWED),--reviewed "$$REVIEWED") \
	  $(if $(ROWS),--rows "$$ROWS") $(if $(CATEGORIES),--categories "$$CATEGORIES") $(if $(TAXONOMY),--taxonomy "$$TAXONOMY")

check-data: $(STAMP) ## Data-quality report of DATA (CONFIG=; synthetic by default, ROWS= CATEGORIES= TAXONOMY=); exit 1 when training would refuse the file, or on any problem with data.strict
	$(PY) -m training.cli.check_data $(if $(DATA),--data "$$DATA") $(if $(CONFIG),--config "$$CONFIG") \
	  $(if $(ROWS),--rows "$$ROWS") $(if $(CATEGORIES),--categories "$$CATEGORIES") $(if $(TAXONOMY),--taxonomy "$$TAXONOMY")

check-pricerunner: ## Check the PriceRunner CSV is at PRICERUNNER (data/pricerunner_aggregate.csv) with the expected sha256
	@test -f "$$PRICERUNNER" || { echo "error: $$PRICERUNNER not found. Download 'Product Classification and Clustering'" \
	  "from https://archive.ics.uci.edu/dataset/837/product+classification+and+clustering, unzip it and put" \
	  "pricerunner_aggregate.csv there (see data/README.md)" >&2; exit 1; }
	@actual=$$( (sha256sum "$$PRICERUNNER" 2>/dev/null || shasum -a 256 "$$PRICERUNNER") | cut -d' ' -f1); \
	  if [ "$$actual" != "$(PRICERUNNER_SHA256)" ]; then \
	    echo "error: $$PRICERUNNER has sha256 $$actual, expected $(PRICERUNNER_SHA256): not the file this project" \
	      "was measured with (is its first line the header row data/README.md shows?)" >&2; exit 1; fi; \
	  echo "ok: $$PRICERUNNER (sha256 $$actual)"

requirements: $(STAMP) ## Regenerate handler/requirements.txt from the serve extra in pyproject.toml
	$(PY) -m infra.requirements

serve: $(STAMP) ## Run the API with uvicorn on 127.0.0.1:8000 (PORT=, MODEL=path; default artifacts/model.onnx; CAPTURE=folder CAPTURE_SAMPLE_RATE=)
	@test ! -d "$$MODEL" || { echo "error: MODEL=$$MODEL is a folder; pass the model file in it (MODEL=$${MODEL%/}/model.onnx)" >&2; exit 1; }
	@test -f "$$MODEL" || { echo "error: MODEL=$$MODEL not found; run 'make train' first (or pass MODEL=path)" >&2; exit 1; }
	@$(PY) -c "$$PORT_FREE" "$${PORT:-8000}" "make serve PORT"
	@$(SERVE_ENV) $(SERVE_CAPTURE) $(PY) -c "$$SERVABLE" >/dev/null
	$(SERVE_ENV) $(SERVE_CAPTURE) $(BIN)/uvicorn handler.main:app --host 127.0.0.1 --port "$${PORT:-8000}"

CHECKOV := .venv-checkov
checkov: ## checkov on template.yaml (own environment, checkov 3.3.30); skips only what .checkov.yaml justifies
	@test -x $(CHECKOV)/bin/checkov || { python=$$(scripts/find-python.sh); "$$python" -m venv $(CHECKOV) && \
	  $(CHECKOV)/bin/python -m pip install --quiet checkov==3.3.30; }
	$(CHECKOV)/bin/checkov --config-file .checkov.yaml -f template.yaml

validate: $(TOOLS_STAMP) ## sam validate --lint, cfn-lint on the templates (and the translation), actionlint
	$(SAM) validate --lint
	AWS_DEFAULT_REGION=$(AWS_REGION_DEFAULT) $(TOOLS)/bin/python infra/translate_template.py template.yaml build/template.cfn.json
	$(TOOLS)/bin/cfn-lint template.yaml infra/deploy-role.yaml
	@# The offline translation substitutes parameter defaults where SAM resolves them (DeploymentType), so a
	@# parameter can look unused there; the template itself is linted for that above.
	$(TOOLS)/bin/cfn-lint --ignore-checks W2001 -- build/template.cfn.json
	$(TOOLS)/bin/actionlint

build: $(STAMP) $(TOOLS_STAMP) ## sam build (no Docker) serving MODEL, bundled or pinned at MODEL_URI=s3://… (ARCH=); fails over Lambda's 250 MB
	$(PY) -m infra.stage_build --model "$$MODEL" --arch "$$ARCH" --out $(STAGE_ROOT)/build \
	  $(if $(MODEL_URI),--model-uri "$$MODEL_URI") $(if $(TARGET_PRECISION),--target-precision "$$TARGET_PRECISION") \
	  $(if $(CAPTURE_SAMPLE_RATE),--capture-sample-rate "$$CAPTURE_SAMPLE_RATE")
	PATH="$$(dirname "$$(scripts/find-python.sh)"):$$PATH" $(SAM) build --base-dir $(STAGE_ROOT) \
	  --build-dir $(SAM_BUILD_DIR) --parameter-overrides Architecture="$$ARCH"
	$(PY) -m infra.trim_build $(BUILT)
	$(PY) -m infra.check_size $(BUILT)
	@echo "Deploy this build with 'make deploy' (not 'sam deploy --guided' alone: make deploy passes the build's"
	@echo "architecture and model location, so the stack cannot disagree with what was built)."

start-api: $(TOOLS_STAMP) ## Serve the built function on 127.0.0.1:3000 (PORT=) through the Lambda RIE, no Docker
	@test -d $(BUILT) || { echo "error: $(BUILT) not found; run 'make build' first" >&2; exit 1; }
	@$(TOOLS)/bin/python -c "$$PORT_FREE" "$${PORT:-3000}" "make start-api PORT"
	PYTHONPATH=. $(TOOLS)/bin/python -m infra.local_api --port "$${PORT:-3000}" --build-dir $(SAM_BUILD_DIR) \
	  --release $(STAGE_ROOT)/build/release.json

publish: $(STAMP) ## Publish OUT (artifacts/) to s3://BUCKET/PREFIX if its gates passed (AWS_ENDPOINT_URL for a local S3)
	@test -n "$$BUCKET" || { echo "error: set BUCKET=<existing S3 bucket>" >&2; exit 1; }
	$(PY) -m infra.publish --bucket "$$BUCKET" --prefix "$$PREFIX" --artifacts "$$OUT" --min-macro-f1 "$$MIN_MACRO_F1"

# Whether LOCAL_S3/pid names a running moto_server (a stale file may name another process since).
MOTO_RUNNING = test -f "$$LOCAL_S3/pid" && ps -o args= -p "$$(cat "$$LOCAL_S3/pid")" 2>/dev/null | grep -q moto_server

local-s3: $(STAMP) ## A local S3 for make publish: moto_server on 127.0.0.1:LOCAL_S3_PORT (5050), in the background, with bucket BUCKET (local)
	@mkdir -p "$$LOCAL_S3"
	@if $(MOTO_RUNNING); then \
	  echo "moto_server already running (pid $$(cat "$$LOCAL_S3/pid"))"; \
	else \
	  $(PY) -c "$$PORT_FREE" "$$LOCAL_S3_PORT" "make local-s3 LOCAL_S3_PORT" || exit 1; \
	  nohup $(BIN)/moto_server -H 127.0.0.1 -p "$$LOCAL_S3_PORT" > "$$LOCAL_S3/log" 2>&1 & echo $$! > "$$LOCAL_S3/pid"; \
	fi
	$(PY) -m infra.local_s3 --endpoint "http://127.0.0.1:$$LOCAL_S3_PORT" --bucket "$${BUCKET:-local}" --log "$$LOCAL_S3/log"

stop-local-s3: ## Stop the moto_server make local-s3 started (its buckets are in memory: they go with it)
	@if $(MOTO_RUNNING); then kill "$$(cat "$$LOCAL_S3/pid")" && echo "stopped moto_server (pid $$(cat "$$LOCAL_S3/pid"))"; \
	  else echo "no local S3 running (no moto_server at the pid in $$LOCAL_S3/pid)"; fi; rm -f "$$LOCAL_S3/pid"

smoke: $(STAMP) ## Real requests to a deployed or local endpoint; fails unless it serves MODEL_VERSION (URL= AUTH=none|iam|jwt TOKEN=)
	$(PY) -m infra.smoke --url "$$URL" --auth "$${AUTH:-none}" $(if $(TOKEN),--token "$$TOKEN") \
	  --model-version "$${MODEL_VERSION:-$$($(PY) -m infra.stage_build --out $(STAGE_ROOT)/build --print model-version)}"

deploy: build ## sam deploy --guided (needs AWS credentials) with the build's architecture and model location, then the pre-traffic checks on the version it serves
	$(SAM) deploy --guided --parameter-overrides $$($(PY) -m infra.stage_build --out $(STAGE_ROOT)/build --print parameters)
	@# CodeDeploy checks a version only when the alias moves: a new stack's first version gets this check alone.
	AWS_DEFAULT_REGION=$(AWS_REGION_DEFAULT) $(PY) -m infra.check_live --config-file samconfig.toml

prune-versions: $(STAMP) ## Delete all but the KEEP newest versions of FUNCTION (never one the live alias routes to)
	@test -n "$$FUNCTION" || { echo "error: set FUNCTION=<the classifier's function name or ARN> (stack output FunctionArn)" >&2; exit 1; }
	$(PY) -m infra.prune_versions --function "$$FUNCTION" --keep "$${KEEP:-3}"

benchmark-handler: $(STAMP) ## Compare this handler with the pandas/scikit-learn route; then cold start vs its floors
	$(PY) benchmarks/handler_benchmark.py
	$(MAKE) benchmark-cold-start

benchmark-cold-start: $(STAMP) ## Cold start of the built function vs the stack and onnxruntime floors (after make build)
	@test -d $(BUILT) || { echo "error: $(BUILT) not found; run 'make build' first" >&2; exit 1; }
	$(PY) benchmarks/cold_start.py --built $(BUILT)

benchmark-parity: $(STAMP) ## Every Unicode code point through a whole model in ONNX and Python (minutes)
	$(PY) benchmarks/parity_sweep.py

benchmark-soak: $(STAMP) $(TOOLS_STAMP) ## Mixed valid/hostile traffic through the built function under the local API (MINUTES=3)
	@test -d $(BUILT) || { echo "error: $(BUILT) not found; run 'make build' first" >&2; exit 1; }
	$(PY) benchmarks/soak.py --minutes "$${MINUTES:-3}" --build-dir $(SAM_BUILD_DIR) --release $(STAGE_ROOT)/build/release.json

benchmark-worst-case: $(STAMP) ## Time the costliest request the API accepts and project it onto Lambda's CPU share (RESULTS=benchmarks/results/worst_case_<name>.json for a second model)
	$(SERVE_ENV) $(PY) benchmarks/worst_case_request.py --model "$$MODEL" $(if $(RESULTS),--results "$$RESULTS")

benchmark-text-fold: $(STAMP) ## What folding look-alike spellings (fullwidth, accents) costs the model's graph
	$(PY) benchmarks/text_fold.py --model "$$MODEL"

benchmark-training: $(STAMP) $(BENCH_STAMP) ## Measure training time, size and quality on PriceRunner (beside fastText and TF-IDF + LinearSVC) and on synthetic data
	$(PY) benchmarks/training_benchmark.py --peers

benchmark-dask: $(STAMP) ## ENGINE=local vs dask on PriceRunner and ROWS synthetic rows (default 1,000,000; CATEGORIES= the re-ranker; WORKERS= WORKER_MEMORY=)
	$(PY) benchmarks/training_benchmark.py --dask $(if $(ROWS),--rows "$$ROWS") $(if $(CATEGORIES),--categories "$$CATEGORIES") \
	  $(if $(WORKERS),--workers "$$WORKERS") $(if $(WORKER_MEMORY),--worker-memory "$$WORKER_MEMORY")

benchmark-categories: $(STAMP) $(BENCH_STAMP) ## 10 to 5,000 categories: quality, size, memory, time, serving, peers (CASES=100x40000,1000x200000; hours)
	$(PY) benchmarks/categories_benchmark.py --peers $(if $(CASES),--cases "$$CASES")

$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet $$($(PY) -c \
	  'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["benchmark"]))')
	@touch $(BENCH_STAMP)

clean: ## Remove build outputs, caches and local MLflow data (keeps .venv)
	rm -rf artifacts predictions.parquet build .aws-sam .pytest_cache .ruff_cache .mypy_cache htmlcov .coverage mlruns mlruns.db mlartifacts
