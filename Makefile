# HairTryOn — the commands a developer needs. `make run` and `make test` work on a machine
# that has only Python 3.11+, pip and make: uv is installed on first use.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(PYTHON) -m uv
endif
# Use the machine's Python; never download one.
export UV_PYTHON_DOWNLOADS := never
RUN := $(UV) run --frozen --no-sync

.PHONY: help uv install run dev test bench lint format migrate worker create-admin reconcile-payments purge-uploads clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

uv: ## install uv if it is missing
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --user uv \
		|| $(PYTHON) -m pip install --quiet --user --break-system-packages uv

install: uv ## create .venv with the locked dependencies
	@$(UV) sync --frozen --python $(PYTHON) --quiet

run: install ## apply migrations and serve the API on HOST:PORT (default 127.0.0.1:8000)
	$(RUN) python run.py

dev: install ## like run, restarting on code changes
	$(RUN) python run.py --reload

test: install ## the whole suite on SQLite, then on PostgreSQL when TEST_DATABASE_URL is set (needs nothing running)
	$(RUN) pytest
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "--- again on PostgreSQL ($$TEST_DATABASE_URL)"; \
		HAIRTRYON_TEST_DB=postgresql $(RUN) pytest; \
	fi

bench: install ## timing and memory figures, measured side by side (bench/README.md)
	$(RUN) python -m bench

lint: install ## ruff (lint + format check) and mypy strict
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

format: install ## apply ruff's formatting and safe fixes
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

# Each operator target is one `python -m app…` command, the same the image and
# docker-compose.yml run (`docker compose run --rm api python -m …`).
migrate: install ## apply migrations without starting the server
	$(RUN) python -m app.core.migrations

worker: install ## run a job worker process (needs JOB_BROKER_URL=redis://...); start more for more
	$(RUN) python -m app.jobs --max-async-tasks 4

create-admin: install ## give EMAIL the admin role (creating the account; asks for its password)
	@if [ -z "$(EMAIL)" ]; then echo "usage: make create-admin EMAIL=you@yourdomain" >&2; exit 2; fi
	$(RUN) python -m app.users.admin_cli "$(EMAIL)"

reconcile-payments: install ## ask the provider about open transactions whose webhook never came
	$(RUN) python -m app.payments.reconcile

purge-uploads: install ## delete unused uploads older than UPLOAD_RETENTION_DAYS (objects and rows)
	$(RUN) python -m app.files.retention

clean: ## remove the virtualenv and local state (database, media, mail)
	rm -rf .venv var
