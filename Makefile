# Studio — the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test prod audit lint migrations-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-test: requirements.txt requirements-test.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-test.txt
	touch $(VENV)/.installed $@

## make run: set everything up on this machine and start the studio on the embedded default.
run: $(VENV)/.installed
	$(BIN)/python -m studio.launch

## make test: lint, check migrations and run the whole suite.
test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	DJANGO_SETTINGS_MODULE=studio.settings.test $(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make prod: web + workers on PostgreSQL and Redis from the environment (docs/deploy.md).
prod: $(VENV)/.installed
	$(BIN)/python -m studio.launch_production

## make audit: pip-audit over the pinned requirements, a report (needs the vulnerability database).
audit: $(VENV)/.installed
	@$(BIN)/python -m pip install --quiet -r requirements-audit.txt 2>/dev/null || \
	  { echo "make audit: pip-audit could not be installed (offline?); no report."; exit 0; }
	@$(BIN)/python -m studio.audit

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
