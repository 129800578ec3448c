# Set-up and everyday commands. Each target creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test test-fast lint bench lock cluster debian-packages clean

run: $(VENV)/.serve  ## Serve the shipped model on http://127.0.0.1:5000
	$(PY) -m realtime

cluster: $(VENV)/.serve  ## Two workers behind nginx on http://127.0.0.1:5000, sharing a private redis-server
	$(PY) -m harness.cluster --workers $(or $(WORKERS),2) --port $(or $(PORT),5000)

test: $(VENV)/.test debian-packages  ## Lint, then run the whole test suite (browser and cluster tests included)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

# The inner loop: the unit folders only (tests/support/suites.py), in-process: no server subprocess,
# redis-server, PostgreSQL, nginx, browser or training. A unit test that starts one fails.
test-fast: $(VENV)/.test  ## Lint, then the unit tests only (about 50 s): `make test` still runs everything
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -m unit

bench: $(VENV)/.test  ## Benchmark the live path against the classic one (prints a table, writes JSON)
	$(PY) -m bench

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Installs come only from the lock files: exact versions, every file checked against its hash.
$(VENV)/.serve: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install -q --require-hashes -r requirements.txt
	touch $@

$(VENV)/.test: requirements/test.txt | $(VENV)/bin/python
	$(PY) -m pip install -q --require-hashes -r requirements/test.txt
	touch $@ $(VENV)/.serve

# Regenerate the lock files from the loose ranges in requirements/*.in (README: "Dependencies").
# The serving lock is the root requirements.txt (what a Procfile platform's Python buildpack installs);
# the test and training locks are constrained to it, so every environment serves alike.
LOCK := $(VENV)/bin/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 $(UPGRADE)
lock: $(VENV)/.test
	$(LOCK) requirements/serve.in -o requirements.txt
	$(LOCK) requirements/train.in -c requirements.txt -o requirements/train.txt
	$(LOCK) requirements/test.in -c requirements.txt -c requirements/train.txt -o requirements/test.txt

# The tests drive Debian's Chromium (never a downloaded browser build) and start Debian's redis-server,
# nginx and PostgreSQL themselves, on free loopback ports; installed with apt-get when missing (as root).
DEBIAN_PACKAGES := chromium:chromium redis-server:redis-server nginx:nginx initdb:postgresql
debian-packages:
	@missing=""; for pair in $(DEBIAN_PACKAGES); do \
	  command -v "$${pair%%:*}" >/dev/null || [ -x "/usr/sbin/$${pair%%:*}" ] || \
	  ls /usr/lib/postgresql/*/bin/$${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing fonts-dejavu-core; \
	  else echo "Install Debian's$$missing (sudo apt-get install$$missing) for the tests"; exit 1; fi; fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-output
