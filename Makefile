# Caseline — make demo | make test | make install | make bench
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
PG_URL ?= postgres://$(shell id -un)@127.0.0.1:5432/test
PYTEST_WORKERS ?= 2

.PHONY: install demo test test-sqlite test-postgres bench lint format clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: install
	$(VENV)/bin/caseline demo

test: install test-sqlite test-postgres

test-sqlite: install
	$(PY) -m pytest -n $(PYTEST_WORKERS) tests

test-postgres: install
	DATABASE_URL=$(PG_URL) CASELINE_DB_ONLY=1 $(PY) -m pytest -n $(PYTEST_WORKERS) tests

bench: install
	$(PY) -m pip install -q --disable-pip-version-check -e ".[bench]"
	@for f in bench/*_bench.py; do echo "== $$f"; $(PY) $$f || exit 1; done

lint: install
	$(VENV)/bin/ruff check caseline tests bench
	$(VENV)/bin/ruff format --check caseline tests bench
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix caseline tests bench
	$(VENV)/bin/ruff format caseline tests bench

clean:
	rm -rf $(VENV) var
