# news-monitor: `make run` starts the daemon, `make test` runs the tests, `make demo` shows it work offline.
# Each target creates .venv when it is missing and installs what it needs into it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= config/monitor.toml

.PHONY: run poll demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The stamps re-install when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/news-monitor --config $(CONFIG) run

poll: $(VENV)/.installed
	$(BIN)/news-monitor --config $(CONFIG) poll

demo: $(VENV)/.installed
	$(BIN)/news-monitor --config $(CONFIG) demo

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/tagging_quality.py
	$(BIN)/python benchmarks/tagging_speed.py
	$(BIN)/python benchmarks/eventlog.py
	$(BIN)/python benchmarks/polling.py
	$(BIN)/python benchmarks/extraction.py
	$(BIN)/python benchmarks/stories.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
