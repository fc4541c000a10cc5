# facecast developer commands. Everything installs into .venv from pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA_DIR ?= data
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: venv run test bench clean demo fonts

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all,test]'
	touch $(STAMP)

run: venv
	$(VENV)/bin/facecast demo --data-dir $(DATA_DIR)

test: venv
	$(PY) -m pytest -q

bench: venv
	$(PY) bench/run.py
	$(PY) bench/voice_bench.py

# A CJK font for burned-in subtitles (Debian/Ubuntu; needs root). Skipped when one is installed.
fonts:
	@test -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc || test -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc \
		|| apt-get install -y -q fonts-wqy-microhei \
		|| echo "could not install fonts-wqy-microhei; burned subtitles need a CJK font (--subtitle-font)"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
