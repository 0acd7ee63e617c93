# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Parallel test workers; each gets its own migrated template databases.
WORKERS ?= 2

.PHONY: demo test fuzz ui bench sql schemas lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,ocel]'
	touch $@ $(VENV)/.runtime

# `make demo` materialises into the instance `make ui` shows, the one the root dagster.yaml
# configures (storage in .procobs/dagster): Dagster reads dagster.yaml from DAGSTER_HOME,
# this folder, and resolves the relative paths in it from the working directory, this
# folder too. Dagster keeps logs/ and .logs_queue/ of its own here (git ignores them).
demo: $(VENV)/.runtime
	DAGSTER_HOME=$(CURDIR) $(BIN)/procobs demo

test: $(VENV)/.dev
	.ci/with-postgres $(BIN)/pytest -n $(WORKERS) --dist loadgroup

# The fuzzing suite with its long budget (`make test` runs it with the CI budget).
FUZZ_PROFILE ?= fuzz-long
fuzz: $(VENV)/.dev
	PROCOBS_FUZZ_PROFILE=$(FUZZ_PROFILE) .ci/with-postgres $(BIN)/pytest -n $(WORKERS) procobs_dagster_tests/fuzz

# The webserver and the daemon on the instance of dagster.yaml (deploy/dagster.yaml is the
# production instance), with procobs's code location and the demo's (demo-workspace.yaml).
# The procobs database is brought to the schema head first, so the sensors have tables to
# read on a fresh clone.
UI_PORT ?= 3000
ui: $(VENV)/.runtime
	$(BIN)/procobs db upgrade
	DAGSTER_HOME=$(CURDIR) $(BIN)/dagster dev -w workspace.yaml -w demo-workspace.yaml -p $(UI_PORT)

bench: $(VENV)/.dev
	.ci/with-postgres sh -c 'for b in bench/*.py; do $(BIN)/python "$$b" || exit 1; done'

sql: $(VENV)/.runtime
	$(BIN)/procobs db render-sql --out sql --yes

schemas: $(VENV)/.runtime
	$(BIN)/procobs events schemas --out schemas --yes

lint: $(VENV)/.dev
	$(BIN)/ruff check procobs_dagster procobs_dagster_tests bench
	$(BIN)/ruff format --check procobs_dagster procobs_dagster_tests bench

clean:
	rm -rf $(VENV) .procobs .pytest_cache
