# `make test` installs everything the tests need into .venv, lints and runs them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# PyTorch's CPU build: on Linux a plain `pip install torch` resolves to the CUDA build (GBs).
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
# The studio's browser tests drive the distribution's Chromium (Playwright's own download is
# not used): installed here where it is missing and apt-get can (root, or through sudo).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)

.PHONY: test install lint bench clean

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# (two retries: where the CPU index cannot be reached at all, the wheels come from the
	# machine's own sources without minutes of back-off; the check below stops a CUDA build)
	$(PIP) install --quiet --retries 2 -c constraints.txt --extra-index-url $(TORCH_INDEX) torch
	$(PY) -c "import sys, torch; sys.exit('torch is a CUDA build: make clean, then make test' if torch.version.cuda else 0)"
	$(PIP) install --quiet -c constraints.txt -e '.[dev,gan,cluster,studio]'
	command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "warning: Chromium could not be installed: the studio's browser tests will fail"
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
