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
# The S3 lake's tools, in a folder git ignores (headcount/local/s3.py, headcount/batch/session.py): the local S3
# (MinIO, built from its Go module at a pinned commit) and Spark's S3 connector (hadoop-aws at the Hadoop version
# pyspark 3.5.4 bundles, and the AWS SDK it was built with, from Maven Central through mvn).
TOOLS := .tools
MINIO_MODULE := github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
SPARK_JARS := org.apache.hadoop:hadoop-aws:3.3.4 com.amazonaws:aws-java-sdk-bundle:1.12.262
SPARK_JAR_SHA256 := "53f9ae03c681a30a50aa17524bd9790ab596b28481858e54efd989a826ed3a4a  hadoop-aws-3.3.4.jar" \
	"873fe7cf495126619997bec21c44de5d992544aea7e632fdc77adb1a0915bae5  aws-java-sdk-bundle-1.12.262.jar"
export HEADCOUNT_MINIO := $(abspath $(TOOLS)/bin/minio)
export HEADCOUNT_SPARK_JARS := $(abspath $(TOOLS)/jars/hadoop-aws-3.3.4.jar),$(abspath $(TOOLS)/jars/aws-java-sdk-bundle-1.12.262.jar)
TOOLS_READY := $(TOOLS)/.ready
# `make` alone: what `cdk deploy` needs besides the sources (the serve function's bundle carries the vendored files;
# the CDK app refuses to synthesize without them).
.DEFAULT_GOAL := all

.PHONY: all tools lock run test test-clock lint fmt synth bench bench-realtime bench-batch bench-soak bench-api bench-dashboard bench-kpis bench-kpi-fold \
	bench-kpi-accuracy bench-lake bench-sketch-writes bench-erasure bench-zones cost clean

# The venv takes the lock's versions (requirements.lock, what the functions ship) for every package the lock has; pip
# takes no hashes in a constraints file, so the constraints are the lock's name==version lines, derived here.
$(STAMP): requirements.txt requirements.lock requirements-dev.txt requirements-local.txt pyproject.toml package.json \
		package-lock.json
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "headcount needs Python 3.11 or later (PY=...)")'
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/python -c 'from infra.lock import locked; print(*(f"{e.name}=={e.version}" for e in locked().values()), sep="\n")' \
		> $(VENV)/constraints.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt -c $(VENV)/constraints.txt
	$(BIN)/pip install --quiet -e . -c $(VENV)/constraints.txt
	npm ci --no-audit --no-fund
	touch $(STAMP)

$(VENDORED): $(STAMP) package-lock.json
	mkdir -p $(VENDOR)
	cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css $(VENDOR)/
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css $(VENDOR)/
	touch $(VENDORED)

# Again whenever the Makefile (the pins above) changes: go install is quick from its module cache.
$(TOOLS_READY): Makefile
	mkdir -p $(TOOLS)/bin $(TOOLS)/jars
	GOBIN=$(abspath $(TOOLS)/bin) GOFLAGS=-mod=mod go install $(MINIO_MODULE)
	rm -f $(TOOLS)/jars/*.jar
	for artifact in $(SPARK_JARS); do \
		mvn --batch-mode --quiet org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
			-Dartifact=$$artifact -Dtransitive=false \
			-DoutputDirectory=$(abspath $(TOOLS)/jars) || exit 1; \
	done
	cd $(TOOLS)/jars && printf '%s\n' $(SPARK_JAR_SHA256) | sha256sum --check --quiet
	touch $(TOOLS_READY)

all: $(VENDORED)  ## (the default goal) the venv, the Node tools and the dashboard's vendored libraries: then `npx cdk deploy`

tools: $(TOOLS_READY)  ## the S3 lake's tools (`make test` and HEADCOUNT_LAKE=s3): MinIO (needs Go >= 1.24) and Spark's S3 jars (Maven)

# Not through $(STAMP), which installs against the lock: after a pin of requirements.txt changes, the lock comes first.
lock:  ## requirements.lock again from requirements.txt: every transitive package for Lambda's platform, with hashes
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/pip install --quiet "$$(grep -E '^uv==' requirements-dev.txt | cut -d' ' -f1)"
	$(BIN)/uv pip compile requirements.txt --quiet --python-version 3.11 --python-platform x86_64-manylinux2014 \
		--only-binary :all: --generate-hashes --custom-compile-command 'make lock' --output-file requirements.lock

run: $(VENDORED)  ## the whole pipeline locally: a simulated game (35 days of history, yesterday and today), print the answers, keep serving
	$(BIN)/headcount demo

# Two workers; tests that share a port or a stack in one (tests/conftest.py). `make test WORKERS=0`: one process.
WORKERS ?= 2
XDIST := $(if $(filter-out 0,$(WORKERS)),-n $(WORKERS) --no-loadscope-reorder)

test: lint $(TOOLS_READY)  ## lint + every test (unit, integration, Spark, e2e, infra), then the unit and integration tests again under shifted clocks
	$(BIN)/python -m pytest $(XDIST)
	$(MAKE) --no-print-directory test-clock

test-clock: $(VENDORED)  ## unit + integration tests 400 days ahead, then across a DST change of the reporting zone (support/shifted_clock.py)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(XDIST) tests/unit tests/integration --clock=+400d
	$(BIN)/python -m pytest -q -p no:cacheprovider $(XDIST) tests/unit tests/integration --clock=dst:Europe/Berlin

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
bench: bench-realtime bench-batch bench-api bench-dashboard  ## the main benchmarks, one after another

bench-realtime: $(VENDORED)  ## fold handler vs a bare loop; events/s, freshness and writes per 1,000 events through the local stack
	$(BIN)/python -m bench.realtime $(ARGS)

bench-batch: $(VENDORED)  ## the nightly job on 10 million events vs DuckDB on the same files (counts and KPI rows equal)
	$(BIN)/python -m bench.batch $(ARGS)

bench-api: $(VENDORED)  ## p50/p99 of every GET route over 31, 365 and 400 days and of POST /v1/events, next to bare DynamoDB queries
	$(BIN)/python -m bench.api $(ARGS)

bench-dashboard: $(VENDORED)  ## the dashboard opened after quiet in Chromium (its performance marks) and its API requests sent as it sends them
	$(BIN)/python -u -m bench.dashboard $(ARGS)

bench-soak: $(VENDORED)  ## 10 minutes of traffic with kills and service faults: nothing lost, lag and memory flat
	$(BIN)/python -m bench.soak $(ARGS)

bench-kpis: $(STAMP)  ## what the game KPIs add to the nightly job (with / without, same lake, same Spark session)
	$(BIN)/python -m bench.kpis $(ARGS)

bench-kpi-fold: $(STAMP)  ## what the game KPIs add to the fold: write units per 1,000 events and its time
	$(BIN)/python -m bench.kpi_fold $(ARGS)

bench-zones: $(STAMP)  ## what answering any time zone costs, by the sub-day twins' granularity (the fold, the nightly job)
	$(BIN)/python -m bench.zones $(ARGS)

bench-kpi-accuracy: $(STAMP)  ## the real-time retention's and new players' error by cohort size, over seeded trials
	$(BIN)/python -m bench.kpi_accuracy $(ARGS)

bench-lake: $(STAMP)  ## writing bench-batch's raw lake, vs reading it back
	$(BIN)/python -m bench.lake $(ARGS)

bench-sketch-writes: $(STAMP)  ## a day sketch's sizes and write units: rewritten whole vs its recent ids
	$(BIN)/python -m bench.sketch_writes $(ARGS)

bench-erasure: $(STAMP)  ## an erasure batch on the demo's 35-day history, 1 to 100 players, vs the nightly run of one day
	$(BIN)/python -m bench.erasure $(ARGS)

cost: $(VENDORED)  ## the monthly AWS bill at both reference loads, measured on a metered local stack (docs/cost.md; ~40 min)
	$(BIN)/headcount cost --load all

clean:
	rm -rf .headcount cdk.out
