# Brisa: `make run` starts the standalone server with the examples, `make test` runs everything.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8080
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test lint typecheck unit bench chaos nightly clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/brisa standalone --port $(PORT) --dags examples/dags

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# The browser tests drive Debian's Chromium (never a downloaded browser).
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "install Chromium at $(CHROMIUM) (the browser tests need it)"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

# The tests mostly wait on subprocesses (standalones, workers, git), so two pytest workers
# nearly halve the wall time even on 2 cores. `--dist loadfile` keeps each file on one worker,
# so module-scoped fixtures (a shared standalone, a migrated database) are still made once.
# `make test XDIST=` runs in one process (e.g. to debug a test that only fails in parallel).
XDIST ?= -n 2 --dist loadfile

test: lint typecheck $(CHROMIUM)
	$(BIN)/pytest -q -p no:cacheprovider $(XDIST) $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider tests/unit $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench $(if $(QUICK),--quick,)

# The long chaos run (docs/operations.md, "The chaos suite"): 3 schedulers on a PostgreSQL of
# its own, random faults; CHAOS_DURATION (s), CHAOS_TASKS, CHAOS_SEED, ... override the defaults.
chaos: $(STAMP)
	$(BIN)/python -m brisa.testing.chaos

# The nightly job (PLATFORM.md H6): the chaos run at H6's size (30 minutes, 20,000 tasks), its
# result added to .chaos-history/history.jsonl with the count of clean runs in a row.
nightly: $(STAMP)
	$(BIN)/python -m brisa.testing.chaos.nightly $(NIGHTLY_ARGS)

clean:
	rm -rf $(VENV) .brisa
