# `make demo` and `make test` set everything up on a machine that has only python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
INSTALLED_DEV := $(VENV)/.installed-dev


.PHONY: install demo moons test test-slow lint format docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# --no-compile: pip would write bytecode for every file of TensorFlow and PyTorch (half
# of the install's time); Python writes it for the modules a process imports, as it
# imports them.
PIP_INSTALL := $(BIN)/python -m pip install --quiet --no-compile

# ...unless PYTHONDONTWRITEBYTECODE is set: then every Python process compiles each
# module it imports from source (thousands for a `dann train`: seconds of each
# start), and the tests start dozens. The bytecode goes into this folder's .venv and
# __pycache__ folders (git ignores them).
unexport PYTHONDONTWRITEBYTECODE

# The library alone: what `make demo` needs (no TensorFlow).
$(INSTALLED): pyproject.toml | $(BIN)/python
	@echo "Installing dann_jax into $(VENV) (the first time: about a minute)..."
	$(PIP_INSTALL) -e .
	touch $(INSTALLED)

# Tests, lint and TensorFlow, which the TFDS builder tests need to prepare datasets.
$(INSTALLED_DEV): pyproject.toml | $(BIN)/python
	@echo "Installing dann_jax and its dev extra (PyTorch, TensorFlow, Sphinx: about 3.6 GB) into $(VENV) (the first time: a few minutes)..."
	$(PIP_INSTALL) -e '.[dev]'
	touch $(INSTALLED) $(INSTALLED_DEV)

install: $(INSTALLED_DEV)

demo: $(INSTALLED)  ## the offline default experiment: source-only vs DANN
	$(BIN)/dann train

moons: $(INSTALLED)  ## the JMLR toy problem, with a decision-boundary plot
	$(BIN)/dann train --config moons

lint: $(INSTALLED_DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED_DEV)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Test modules in parallel processes (pytest-xdist), one per core up to four, each
# module's tests in one process (they share its compiled programs): one JAX test
# process runs on one thread much of the time (Python, XLA compiling each program, the
# start of each `dann` process a test runs). `make test TEST_WORKERS=0`: one process.
TEST_WORKERS ?= auto
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --maxprocesses=4 --dist loadfile

test: lint  ## ruff, then the quick tier: every test not marked slow
	$(PYTEST) -m "not slow"

test-slow: $(INSTALLED_DEV)  ## the slow tier: whole runs, subprocesses, two-process runs
	$(PYTEST) -m slow

docs: $(INSTALLED_DEV)  ## the documentation site, warnings as errors, into docs/_build/html
	$(BIN)/sphinx-build -E -W --keep-going -q -b html docs docs/_build/html
	@echo "Documentation: docs/_build/html/index.html"
