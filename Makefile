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
# worksteal: the slow fault tests sit together at the end; an idle process takes some.
PYTEST_ARGS ?= -n 2 --dist worksteal
# Where the browser tests look for Chromium (tests/conftest.py, CHROMIUM_CANDIDATES).
CHROMIUM_PATHS ?= /usr/lib/chromium/chromium chromium chromium-browser google-chrome
CHROMIUM_INSTALL := sudo apt-get update && sudo apt-get install -y chromium

.PHONY: run test lint security format venv demo-data clean-demo sandbox chromium

venv: $(STAMP)

$(STAMP): requirements.txt requirements-demo.txt requirements-dev.txt
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

test: venv chromium
	$(PY) -m pytest $(PYTEST_ARGS)

# The browser tests need Chromium: Debian's package, installed here when it is missing
# and this user may install (root, or sudo without a password); otherwise stop before
# the suite runs, with the command to run.
chromium:
	@if [ -n "$$WHARF_CHROMIUM" ]; then exit 0; fi; \
	for c in $(CHROMIUM_PATHS); do command -v $$c >/dev/null 2>&1 && exit 0; done; \
	if ! command -v apt-get >/dev/null 2>&1; then \
	  echo "The browser tests need Chromium and this machine has no apt-get. Install"; \
	  echo "Chromium or Chrome, then: WHARF_CHROMIUM=/path/to/chrome make test"; \
	  exit 1; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "Installing Chromium (Debian's package) for the browser tests ..."; \
	  apt-get update && apt-get install -y chromium || exit 1; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	  echo "Installing Chromium (Debian's package, with sudo) for the browser tests ..."; \
	  sudo apt-get update && sudo apt-get install -y chromium || exit 1; \
	else \
	  echo "The browser tests need Chromium, and this user may not install packages. Run:"; \
	  echo ""; \
	  echo "    $(CHROMIUM_INSTALL)"; \
	  echo ""; \
	  echo "then make test again. (Or WHARF_CHROMIUM=/path/to/chrome make test; or leave the"; \
	  echo "browser tests out: make test PYTEST_ARGS='-n 2 -m \"not browser\"'.)"; \
	  exit 1; \
	fi; \
	for c in $(CHROMIUM_PATHS); do command -v $$c >/dev/null 2>&1 && exit 0; done; \
	echo "apt-get finished but no Chromium is on PATH ($(CHROMIUM_PATHS))."; exit 1

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
	$(PY) -m kaggle_sandbox --port $${WHARF_KAGGLE_SANDBOX_PORT:-7777} --data-dir var/kaggle-sandbox

clean-demo:
	rm -rf var/wharf.sqlite3* var/redis var/uploads var/staging var/kaggle-sandbox var/instance.env
