# Every target sets itself up: a fresh machine needs only python3.11 and make.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help demo test lint bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## generate a month of sample data, load, reconcile and write the HTML report
	$(BIN)/finops demo --out demo-out

test: $(STAMP)  ## run the test suite
	$(BIN)/pytest

lint: $(STAMP)  ## ruff on the package, tests and bench
	$(BIN)/ruff check finops tests bench

bench: $(STAMP)  ## ingest benchmark: 1M spans vs json-loop and orjson baselines (SPANS=N)
	$(BIN)/python bench/ingest.py --spans $${SPANS:-1000000}

clean:  ## remove the virtual environment and generated output
	rm -rf $(VENV) demo-out .pytest_cache
