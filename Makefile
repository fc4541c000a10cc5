# facecast developer commands. Everything installs into .venv from pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA_DIR ?= data
HOST ?= 127.0.0.1
PORT ?= 8000
# torch is installed first so pip keeps this build: the CPU wheel here, e.g. TORCH_SPEC='torch==2.13.0+cu128' for CUDA
TORCH_SPEC ?= torch==2.13.0

.PHONY: venv run test security system-deps bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q '$(TORCH_SPEC)'
	$(PY) -m pip install -q -e '.[all,test]'
	touch $(STAMP)

# The service on embedded defaults (SQLite, SQLite queue, local disk) with the bundled demo template.
run: venv
	$(VENV)/bin/facecast serve --data-dir $(DATA_DIR) --host $(HOST) --port $(PORT) --demo

test: venv system-deps
	$(PY) -m pytest -q

# Hostile requests against a real server: it stays up, answers 4xx and leaks nothing (also part of `make test`).
security: venv
	$(PY) -m pytest -q -m security

# Debian packages the tests use: real PostgreSQL and Redis servers, a CJK font for burned-in subtitles,
# nginx to check deploy/nginx's config, and chromium with its driver and an emoji font (status icons in the
# screenshots) for the web UI's browser tests.
# Installed only when missing (needs root, as CI has).
system-deps:
	@test -x /usr/lib/postgresql/15/bin/initdb && command -v redis-server >/dev/null && test -x /usr/sbin/nginx \
		&& test -x /usr/bin/chromium && test -x /usr/bin/chromedriver \
		&& test -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf \
		&& { test -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc || test -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc; } || \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql redis-server fonts-wqy-microhei nginx \
			chromium chromium-driver fonts-noto-color-emoji)

bench: venv
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
