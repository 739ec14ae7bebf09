# Two commands do all set-up on a fresh machine (Python ≥ 3.11 with venv):
#   make run    — install into .venv, then check the bundled sample enterprise against every policy pack
#   make test   — install into .venv (with test extras), then ruff + the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,spark,postgres]'
	touch $@

install: $(VENV)/.installed

run: $(VENV)/.installed
	$(VENV)/bin/zhengce check examples/enterprise.yaml --as-of 2023-06-30

test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) bench/bench_engine.py

.PHONY: install run test bench
