# Quick start:
#   make serve   set everything up and run the FastAGI server on config.yaml
#   make test    set everything up and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup browser postgres serve test e2e bench clean

$(BIN)/agiflow: setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/agiflow

# espeak-ng and sox render prompts (`agiflow sounds build`); installed with
# apt-get when missing (as root, or through sudo), else named for the user.
SOUND_TOOLS := espeak-ng sox
.PHONY: sound-tools
setup: sound-tools
sound-tools:
	@missing=""; for tool in $(SOUND_TOOLS); do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; \
	else echo "missing:$$missing (install them: apt-get install$$missing)" >&2; exit 0; fi; \
	echo "installing$$missing"; \
	$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq$$missing >/dev/null

# SERVE_ARGS: more options for `agiflow serve`, e.g. make serve SERVE_ARGS='--port 4574'
SERVE_ARGS ?=
serve: setup
	$(BIN)/agiflow serve -c config.yaml $(SERVE_ARGS)

# Debian's headless Chromium, for the HTML report tests; installed only when missing
# (with sudo when not root). Without apt-get it warns, and those tests skip (fail in CI).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	    $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else echo "warning: no chromium and no apt-get: the HTML report browser tests will skip" >&2; fi; }

# PostgreSQL for the tests that run on both backends (docs/database.md#tests): a server
# answering on the local socket or 127.0.0.1:5432 is used; otherwise the tests start a
# throwaway cluster with Debian's initdb and pg_ctl, whose package is installed here when
# missing (with sudo when not root). Without apt-get it warns, and those tests skip (fail in CI).
postgres:
	@if command -v pg_isready >/dev/null 2>&1 && { pg_isready -q -h /var/run/postgresql || pg_isready -q -h 127.0.0.1 -p 5432; }; then exit 0; fi; \
	if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then exit 0; fi; \
	if command -v apt-get >/dev/null 2>&1; then \
	  SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; \
	else echo "warning: no PostgreSQL and no apt-get: the PostgreSQL variants of the tests will skip" >&2; fi

# One pytest worker a core plus one (pytest-xdist), each taking the next test as it
# frees up: most tests spend their time waiting on servers, sockets and databases.
test: setup browser postgres
	$(BIN)/python -m pytest -q -n $$(( $$(nproc) + 1 )) --dist worksteal

# The end-to-end suite on a real Asterisk 22 built into AST_PREFIX (default
# ~/.cache/agiflow-asterisk; docs/e2e.md); it skips when there is none.
e2e: setup
	$(BIN)/python -m pytest -q -m e2e tests/e2e

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) *.egg-info
