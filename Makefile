# news-monitor: `make run` starts the daemon, `make test` runs the tests, `make demo` shows it work offline.
# Each target creates .venv when it is missing and installs what it needs into it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= config/monitor.toml

.PHONY: run poll demo test lint bench clean install-service

$(BIN)/python:
	@echo "== creating $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The stamps re-install when pyproject.toml changes.
# No --quiet: the first install downloads ~150 MB (numpy, scipy, lxml, trafilatura...) and takes a minute or two,
# so pip shows each package it collects and its progress.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@echo "== installing news-monitor and its dependencies into $(VENV)"
	$(BIN)/python -m pip install --progress-bar on -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	@echo "== installing news-monitor with its test extras into $(VENV)"
	$(BIN)/python -m pip install --progress-bar on -e '.[test]'
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

# systemd: a dedicated user, the project in its own venv under $(PREFIX), the config in /etc/news-monitor (kept
# when present), the units in /etc/systemd/system. Run as root; DESTDIR stages it elsewhere (nothing is
# started then). Afterwards: systemctl enable --now news-monitor news-monitor-web
PREFIX    ?= /opt/news-monitor
DESTDIR   ?=
UNITDIR   ?= /etc/systemd/system
SERVICE_USER ?= news-monitor

install-service:
	@echo "== user $(SERVICE_USER)"
	@if [ -z "$(DESTDIR)" ]; then id -u $(SERVICE_USER) >/dev/null 2>&1 || useradd --system --user-group \
		--home-dir /var/lib/news-monitor --no-create-home --shell /usr/sbin/nologin $(SERVICE_USER); fi
	@echo "== $(DESTDIR)$(PREFIX)/.venv: installing news-monitor (pip shows its progress)"
	install -d $(DESTDIR)$(PREFIX) $(DESTDIR)/etc/news-monitor $(DESTDIR)$(UNITDIR)
	$(PYTHON) -m venv $(DESTDIR)$(PREFIX)/.venv
	$(DESTDIR)$(PREFIX)/.venv/bin/python -m pip install --progress-bar on .
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/README.md
	@echo "== $(DESTDIR)/etc/news-monitor: the config (an existing one is kept)"
	@if [ ! -e $(DESTDIR)/etc/news-monitor/monitor.toml ]; then cp -R config/. $(DESTDIR)/etc/news-monitor/; fi
	@echo "== $(DESTDIR)$(UNITDIR): the units"
	install -m 0644 deploy/news-monitor.service deploy/news-monitor-web.service \
		deploy/news-monitor-worker@.service $(DESTDIR)$(UNITDIR)/
	@if [ -z "$(DESTDIR)" ] && command -v systemctl >/dev/null; then systemctl daemon-reload; fi
	@echo "done: systemctl enable --now news-monitor news-monitor-web"
