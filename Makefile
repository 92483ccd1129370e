# `make test` installs everything the tests need into .venv, lints and runs them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# PyTorch's CPU build: on Linux a plain `pip install torch` resolves to the CUDA build (GBs).
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: test install lint bench clean

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# (two retries: where the CPU index cannot be reached at all, the wheels come from the
	# machine's own sources without minutes of back-off; the check below stops a CUDA build)
	$(PIP) install --quiet --retries 2 -c constraints.txt --extra-index-url $(TORCH_INDEX) torch
	$(PY) -c "import sys, torch; sys.exit('torch is a CUDA build: make clean, then make test' if torch.version.cuda else 0)"
	$(PIP) install --quiet -c constraints.txt -e '.[dev,gan,cluster]'
	# a real pretrained generator for the compatibility tests (its torch pin is ours)
	$(PIP) install --quiet --no-deps gan-face-generate==1.1.1
	touch $@

install: $(VENV)/.installed

test: install lint
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

bench: install
	$(PY) benchmarks/bench_analysis.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
