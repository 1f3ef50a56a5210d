# capacities-kb: `make run` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PIP_INSTALL := $(BIN)/python -m pip install -q -c constraints.txt
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export DO_NOT_TRACK := true
export SCARF_NO_ANALYTICS := true

.PHONY: install run serve ingest test test-fast lint fmt corpus golden bench eval train-reader browser clean clean-data

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip
	$(PIP_INSTALL) -e '.[eval,corpus,dev]'
	touch $(STAMP)

install: $(STAMP)

ingest: install
	$(BIN)/kb ingest corpus/ --sync

run: ingest
	$(BIN)/kb serve --host 127.0.0.1 --port 8000

browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed: browser tests will be skipped"; \
	  else echo "chromium not installed (needs root): browser tests will be skipped"; fi; }

test: install browser
	$(BIN)/pytest -q

test-fast: install
	$(BIN)/pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

corpus: install
	$(BIN)/python corpus/build.py

golden: install
	$(BIN)/python -m tests.golden.regenerate

bench: install
	$(BIN)/python -m eval.bench_parse

eval: install
	$(BIN)/kb eval

# Retrain the reader (about 40 minutes on 2 cores), then measure it against the bi-encoder on
# XQuAD's held-out articles; see kb/reader_model/README.md.
train-reader: install
	$(BIN)/python -m eval.train_reader
	$(BIN)/python -m eval.reader_eval

# Build outputs and caches only: data/ holds the index, uploads and the audit log.
clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

clean-data:
	@echo "deleting data/: the index, converted models, uploaded files and the audit log"
	rm -rf data
