# The two commands a newcomer runs:  make demo  (the main job on bundled data)  and  make test.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: demo test check bench bench-smoke venv clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

demo: venv
	mkdir -p out
	$(VENV)/bin/liqmap map BTCUSDT --png out/liqmap_BTCUSDT.png
	$(VENV)/bin/liqmap map BTCUSDT --venue all --top 5 --png out/liqmap_BTCUSDT_multi.png

test: venv
	$(PY) -m pytest -q

check: venv
	$(VENV)/bin/ruff check liqmap tests benchmarks scripts
	$(VENV)/bin/mypy

bench: venv
	$(PY) benchmarks/run.py

bench-smoke: venv
	$(PY) benchmarks/run.py --smoke

clean:
	rm -rf $(VENV) out build *.egg-info
