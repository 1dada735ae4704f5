# 民情通 Minqing. `make run` serves the demo; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test test-sqlite test-postgres install static chromium lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

static: install node_modules/.installed
	$(PY) -m server build-static >/dev/null

run: install static
	$(PY) -m server serve --seed-demo --host 127.0.0.1 --port 8000

chromium:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk)

# The whole suite twice: on SQLite files, then on PostgreSQL (MINQING_TEST_PG_URL, default the local
# server's database `test`). Without a reachable PostgreSQL the second pass is skipped, loudly; with
# MINQING_REQUIRE_POSTGRES=1 (set by .ci/run when PostgreSQL is installed) that is a failure instead.
test: install static chromium
	$(PY) -m ruff check .
	@$(MAKE) --no-print-directory test-sqlite
	@$(MAKE) --no-print-directory test-postgres

test-sqlite: install static chromium
	@echo "== test suite on SQLite =="
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-postgres: install static chromium
	@if $(PY) -m tests.pg; then \
		echo "== test suite on PostgreSQL =="; \
		MINQING_TEST_DB=postgres $(PY) -m pytest -q $(PYTEST_ARGS); \
	elif [ "$${MINQING_REQUIRE_POSTGRES:-0}" = "1" ]; then \
		echo "*** PostgreSQL pass FAILED: PostgreSQL is required (MINQING_REQUIRE_POSTGRES=1) but unreachable"; exit 1; \
	else \
		echo "*** PostgreSQL pass SKIPPED: no PostgreSQL reachable (see the line above). Only SQLite was tested."; \
	fi

lint: install
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) node_modules static/vendor static/icons
