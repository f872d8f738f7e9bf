# Wharf: `make run` starts the whole portal, `make test` runs the suite.
# Both set up the virtualenv first (Python 3.12+, needed by Django 6).

VENV      ?= .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
# The first Python >= 3.12 that actually runs (pyenv shims exist for versions that
# are not selected, so each candidate is executed, not just looked up).
PYTHON    ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 python3.13 \
                  $$HOME/.pyenv/versions/3.13*/bin/python3.13 python3; do \
                  $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 \
                  && { command -v $$p; break; }; done)
# Two processes: most integration tests wait on workers and the sandbox, not the CPU.
PYTEST_ARGS ?= -n 2

.PHONY: run test lint security format venv demo-data clean-demo sandbox

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "Wharf needs Python 3.12 or newer (python3.12 on PATH, or PYTHON=...)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

demo-data: venv
	DJANGO_SETTINGS_MODULE=portal.settings.demo $(PY) manage.py migrate --noinput
	DJANGO_SETTINGS_MODULE=portal.settings.demo $(PY) manage.py seed_demo

run: demo-data
	DJANGO_SETTINGS_MODULE=portal.settings.demo $(PY) manage.py runstack

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Static security analysis of Wharf's own code (bandit). Fails on any finding of medium
# severity or above: each one is fixed, or marked `# nosec BXXX` with the reason it is safe.
security: venv
	$(VENV)/bin/bandit -c pyproject.toml -q -r datasets portal kaggle_sandbox bench manage.py \
		--severity-level medium

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

sandbox: venv
	$(PY) -m kaggle_sandbox --port 7777 --data-dir var/kaggle-sandbox

clean-demo:
	rm -rf var/wharf.sqlite3* var/redis var/uploads var/staging var/kaggle-sandbox
