# The front door. Every target makes the venv (and the Node tools) on demand.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The dashboard's and the API page's browser libraries: pinned npm packages copied next to the pages that load them
# (never a CDN: the pages work offline). package.json pins them; the folder is not in git.
VENDOR := headcount/dashboard/vendor
VENDORED := $(VENDOR)/.copied
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export SPARK_LOCAL_IP := 127.0.0.1
export SCARF_ANALYTICS := false  # swagger-ui-dist's install script would report the download
export PYSPARK_PYTHON := $(abspath $(BIN)/python)

.PHONY: run test test-clock lint fmt synth bench bench-realtime bench-batch bench-soak bench-api bench-kpis bench-kpi-fold \
	bench-kpi-accuracy bench-lake bench-sketch-writes cost clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml package.json package-lock.json
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "headcount needs Python 3.11 or later (PY=...)")'
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet -e .
	npm ci --no-audit --no-fund
	touch $(STAMP)

$(VENDORED): $(STAMP) package-lock.json
	mkdir -p $(VENDOR)
	cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css $(VENDOR)/
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css $(VENDOR)/
	touch $(VENDORED)

run: $(VENDORED)  ## the whole pipeline locally: a simulated game (35 days of history, yesterday and today), print the answers, keep serving
	$(BIN)/headcount demo

test: lint  ## lint + every test (unit, integration, Spark, e2e, infra), then the unit and integration tests again under shifted clocks
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory test-clock

test-clock: $(VENDORED)  ## unit + integration tests 400 days ahead, then across a DST change of the reporting zone (support/shifted_clock.py)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit tests/integration --clock=+400d
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit tests/integration --clock=dst:Europe/Berlin

lint: $(VENDORED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy headcount/core

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

synth: $(VENDORED)  ## the CloudFormation template `cdk deploy` would ship (cdk.out/), with cdk-nag's checks; no AWS account needed
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 npx cdk synth --quiet

# Each benchmark prints what it measured and the command that reproduces it. `make test` runs every one at a tiny size
# (tests/bench: that it runs and prints its figures); these are the real sizes, minutes each. ARGS=... passes arguments.
bench: bench-realtime bench-batch bench-api  ## the main benchmarks, one after another

bench-realtime: $(VENDORED)  ## fold handler vs a bare loop; events/s, freshness and writes per 1,000 events through the local stack
	$(BIN)/python -m bench.realtime $(ARGS)

bench-batch: $(VENDORED)  ## the nightly job on 10 million events vs DuckDB on the same files (counts and KPI rows equal)
	$(BIN)/python -m bench.batch $(ARGS)

bench-api: $(VENDORED)  ## p50/p99 of every GET route over 31, 365 and 400 days and of POST /v1/events, next to bare DynamoDB queries
	$(BIN)/python -m bench.api $(ARGS)

bench-soak: $(VENDORED)  ## 10 minutes of traffic with kills and service faults: nothing lost, lag and memory flat
	$(BIN)/python -m bench.soak $(ARGS)

bench-kpis: $(STAMP)  ## what the game KPIs add to the nightly job (with / without, same lake, same Spark session)
	$(BIN)/python -m bench.kpis $(ARGS)

bench-kpi-fold: $(STAMP)  ## what the game KPIs add to the fold: write units per 1,000 events and its time
	$(BIN)/python -m bench.kpi_fold $(ARGS)

bench-kpi-accuracy: $(STAMP)  ## the real-time retention's and new players' error by cohort size, over seeded trials
	$(BIN)/python -m bench.kpi_accuracy $(ARGS)

bench-lake: $(STAMP)  ## writing bench-batch's raw lake, vs reading it back
	$(BIN)/python -m bench.lake $(ARGS)

bench-sketch-writes: $(STAMP)  ## a day sketch's sizes and write units: rewritten whole vs its recent ids
	$(BIN)/python -m bench.sketch_writes $(ARGS)

cost: $(VENDORED)  ## the monthly AWS bill at both reference loads, measured on a metered local stack (docs/cost.md; ~40 min)
	$(BIN)/headcount cost --load all

clean:
	rm -rf .headcount cdk.out
