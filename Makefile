# The two commands of the README. Everything else is a helper for them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint typecheck bench clean postgres promtool chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/churnwatch demo

## Starts the machine's PostgreSQL when it is installed but down; tests skip it otherwise.
postgres:
	@scripts/ensure-postgres.sh

## Installs Debian's prometheus package (for promtool) when missing and we are root.
promtool:
	@scripts/ensure-promtool.sh

## Installs Debian's chromium (for the browser tests) when missing and we are root.
chromium:
	@scripts/ensure-chromium.sh

test: $(STAMP) postgres promtool chromium
	$(BIN)/python -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck: $(STAMP)
	@scripts/typecheck.sh

## Every figure of the README's performance table, one bench after another (about a quarter
## of an hour on a quiet machine; the store bench writes ~7 GB under $$TMPDIR and removes it).
## Each bench alone: `.venv/bin/python bench/NAME.py --help`.
bench: $(STAMP)
	$(BIN)/python bench/replay_bench.py
	$(BIN)/python bench/growth_bench.py
	$(BIN)/python bench/store_bench.py
	$(BIN)/python bench/worker_bench.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache var
