# Mailflow developer commands. Every target creates .venv and installs what it needs itself.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help install demo test lint typecheck unit test-aws bench schemas docs handler-pythons clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install mailflow with its development tools

demo: $(STAMP) ## Run the whole mail path on the local emulator (no AWS account needed)
	$(BIN)/mailflow demo

lint: $(STAMP) ## ruff check and ruff format --check
	$(BIN)/ruff check src handler tests bench
	$(BIN)/ruff format --check src handler tests bench

typecheck: $(STAMP) ## mypy --strict on the CLI and the handler
	$(BIN)/mypy

PYTEST_WORKERS ?= 2
unit: $(STAMP) ## The pytest suite only, in $(PYTEST_WORKERS) processes (each test file in one of them)
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile

test: lint typecheck unit ## Everything CI runs: lint, type check, the whole test suite

test-aws: $(STAMP) ## The live suite in a real AWS account (needs credentials and MAILFLOW_TEST_DOMAIN; docs/ci.md)
	$(BIN)/pytest -q -s -m aws tests/aws

bench: $(STAMP) ## Run every benchmark under bench/ and write bench/results/*.json
	$(BIN)/python bench/run_all.py

schemas: $(STAMP) ## Regenerate docs/schemas/mailflow-config.schema.json from the config model
	$(BIN)/python -m mailflow_cli.config_schema docs/schemas/mailflow-config.schema.json

docs: $(STAMP) ## Regenerate docs/permissions.md from its template and the permissions the code declares
	$(BIN)/python -m mailflow_cli.permissions docs/templates/permissions.md docs/permissions.md

HANDLER_PYTHONS ?= python3.12 python3.13
handler-pythons: ## The handler's tests on other Pythons (HANDLER_PYTHONS="python3.12 python3.13"), a venv each
	@for py in $(HANDLER_PYTHONS); do \
	  version=$$($$py -c 'import sys; print("%d.%d" % sys.version_info[:2])') || exit 1; \
	  echo "== handler tests on Python $$version ($$py)"; \
	  test -x .venv-py$$version/bin/python || $$py -m venv .venv-py$$version || exit 1; \
	  .venv-py$$version/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' || exit 1; \
	  .venv-py$$version/bin/python -m pytest -q -p no:cacheprovider tests/handler || exit 1; \
	done

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .venv-py3.* .mypy_cache .ruff_cache .pytest_cache dist build
