# Developer shortcuts; each target is one or two commands. `make help` lists them.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: help venv run test check schema bench bench-quick

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

venv:  ## create the virtualenv with dev tools
	python3 -m venv $(VENV) && $(VENV)/bin/pip install -q -e '.[dev]'

run: venv  ## seed the demo and serve on the embedded default
	$(VENV)/bin/taskbell demo && $(VENV)/bin/taskbell serve

test: venv  ## run the whole test suite
	$(PY) -m pytest

check: venv  ## lint, format check and types
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy taskbell tests

schema: venv  ## re-export schema.graphql from the live schema
	$(PY) -c "from taskbell.api import build_schema; print(build_schema().as_str())" > schema.graphql

# BASELINE=REF (make bench BASELINE=HEAD~1) also runs that commit, built in its own worktree.
BENCH_ARGS = $(if $(BASELINE),--baseline $(BASELINE))

bench: venv  ## benchmark vs the peers (7-15 min): bench/results/latest.{md,json,png}
	npm ci --prefix bench --no-audit --no-fund && $(VENV)/bin/pip install -q -r bench/requirements.txt
	$(PY) bench/run.py $(BENCH_ARGS)

bench-quick: venv  ## benchmark smoke test (< 2 min): bench/results/raw/quick.md
	npm ci --prefix bench --no-audit --no-fund && $(VENV)/bin/pip install -q -r bench/requirements.txt
	$(PY) bench/run.py --quick $(BENCH_ARGS)
