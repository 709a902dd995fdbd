# One command each for the newcomer: `make run` (the demo) and `make test` (the checks).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint format demo-data migrate worker beat clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

var/demo.env: | $(STAMP)
	$(PY) -m config.keygen --write var/demo.env --extra DJANGO_DEBUG=1

# The demo: SQLite under var/, Celery eager in-process, demo county loaded, users printed.
run: $(STAMP) var/demo.env
	set -a; . var/demo.env; set +a; \
	$(PY) manage.py migrate --noinput && \
	$(PY) manage.py load_demo && \
	echo "打开 http://127.0.0.1:8000/ 用上面的账号登录；接口文档 http://127.0.0.1:8000/api/docs/" && \
	$(PY) manage.py runserver 127.0.0.1:8000

# The checks: ruff (lint + format), then pytest (which includes makemigrations --check).
# Without DATABASE_URL / REDIS_URL it runs on SQLite and skips service tests with a message.
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Against a broker (REDIS_URL set): the worker and the scheduler.
worker: $(STAMP)
	$(VENV)/bin/celery -A config worker -l info

beat: $(STAMP)
	$(VENV)/bin/celery -A config beat -l info

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
