# pgfraud. The two commands: `make demo` (main job, embedded PostgreSQL) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install demo test test-compose lint unit integration bench lock db-stop clean secrets up
SECRETS_DIR ?= secrets
SECRET_NAMES := postgres_password grafana_db_password grafana_admin_password token_key

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "pgfraud needs Python >= 3.11, found " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade 'pip>=24'
	$(BIN)/pip install --quiet --disable-pip-version-check --requirement requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --editable .
	@touch $@

install: $(STAMP) ## Create .venv and install the pinned requirements (requirements.lock)

demo: install ## The whole loop for a minute on the embedded PostgreSQL, then report.html
	$(BIN)/pgfraud demo

test: install ## Lint, type-check, check the import contract and run every test (starts its own PostgreSQL)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest

test-compose: install secrets ## docker compose for real (tests/compose): installs and starts Docker and Compose v2 if missing
	@# The timings go to benchmarks/compose.json (BENCHMARKS.md's compose section).
	started=$$(date +%s) && bash tests/compose/engine.sh \
	  && images_started=$$(date +%s) && images="$$(bash tests/compose/standin_images.sh)" \
	  && set -a && eval "$$images" && set +a \
	  && PGFRAUD_COMPOSE_STARTED=$$started \
	     PGFRAUD_COMPOSE_IMAGES_SECONDS=$$(( $$(date +%s) - images_started )) \
	     $(BIN)/pytest -x -m compose -p no:cacheprovider tests/compose

lint: install ## ruff, mypy and the import contract (lint-imports)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: install ## Tests that need no database
	$(BIN)/pytest tests/unit

integration: install ## Tests against a real PostgreSQL
	$(BIN)/pytest tests/integration

bench: install ## Run the benchmarks and rewrite BENCHMARKS.md
	$(BIN)/python -m benchmarks

lock: ## Re-resolve dependencies from pyproject.toml into requirements.lock
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip && .lock-venv/bin/pip install --quiet -e '.[dev]'
	{ echo '# Pinned install set for pgfraud (runtime + dev), Python 3.11. Regenerate with `make lock`.'; \
	  .lock-venv/bin/pip freeze --all --exclude-editable | grep -vE '^(pip|wheel)=='; } > requirements.lock
	rm -rf .lock-venv

secrets: ## Random passwords and the card-token key for docker compose (kept if present)
	@mkdir -p $(SECRETS_DIR) && chmod 700 $(SECRETS_DIR)
	@# Files 0644 inside a 0700 folder: compose bind-mounts file secrets with their host
	@# permissions, and the postgres, grafana and pgfraud users in the containers read them.
	@for name in $(SECRET_NAMES); do \
	  test -s $(SECRETS_DIR)/$$name && continue; \
	  $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(32))' > $(SECRETS_DIR)/$$name; \
	  chmod 644 $(SECRETS_DIR)/$$name; echo "created $(SECRETS_DIR)/$$name"; \
	done

up: secrets ## make secrets, then docker compose up (needs Docker)
	docker compose up --build

db-stop: ## Stop the embedded PostgreSQL
	$(BIN)/pgfraud db stop

clean: ## Remove the virtualenv and caches (not the database: see `pgfraud db destroy`)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
