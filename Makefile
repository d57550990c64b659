# Every target depends on setup; setup is idempotent (a stamp file records the last install).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench reliability redis-server chromium

setup: $(STAMP) redis-server

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else echo "redis-server is missing: run 'sudo apt-get install redis-server' and try again" >&2; exit 1; fi; }

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: run 'sudo apt-get install chromium' and try again" >&2; exit 1; fi; }

demo: setup
	$(BIN)/livermore demo

test: setup chromium
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src
	$(BIN)/lint-imports

bench: setup
	$(BIN)/python bench/run.py

# The fault suite (bench/reliability.py): one row per scenario, at most 15 minutes; not part of `make bench`.
reliability: setup
	$(BIN)/python bench/run.py reliability
