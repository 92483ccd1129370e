# `make test` installs everything the tests need into .venv and runs them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: test install lint bench clean

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e '.[dev,gan]'
	# a real pretrained generator for the compatibility tests (its torch pin is ours)
	$(PIP) install --quiet --no-deps gan-face-generate==1.1.1
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

bench: install
	$(PY) benchmarks/bench_analysis.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
