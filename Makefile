# facecast developer commands. Everything installs into .venv from pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA_DIR ?= data
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: venv run test test-deps bench clean demo

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all,test]'
	touch $(STAMP)

run: venv
	$(VENV)/bin/facecast demo --data-dir $(DATA_DIR)

test: venv test-deps
	$(PY) -m pytest -q

# Real PostgreSQL and Redis servers for tests/service/test_backends.py (Debian packages; CI runs as root).
test-deps:
	@test -x /usr/lib/postgresql/15/bin/initdb && command -v redis-server >/dev/null || \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql redis-server)

bench: venv
	$(PY) bench/run.py
	$(PY) bench/service_bench.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
