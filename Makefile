# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup demo test bench clean chromium

setup: $(VENV)/.installed

# torch first, pinned: the pinned CPU wheel is on this machine's disk, while a bare
# `torch` requirement with nothing installed pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,bench]'  # bench: datasketch for bench/bench_dedup.py
	touch $@

demo: setup
	$(BIN)/cleancrawl build --overwrite
	$(BIN)/cleancrawl stats cleancrawl-out/

# Lint first (ruff: pyproject.toml's [tool.ruff]), then the tests. The HTML report test opens the
# report in Debian's headless Chromium.
test: setup chromium
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || echo "could not install chromium (apt-get install chromium): the report screenshot test will fail"

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf cleancrawl-out .pytest_cache
