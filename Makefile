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

# pip writes the installed modules' bytecode on one core (half of the install's time);
# compileall writes it on every core instead. Without it, where PYTHONDONTWRITEBYTECODE
# is set, every Python process compiles each module it imports from source: about 3,000
# for a short `dann train` on moons, 6 s of its 13 s on 2 cores, paid again by each
# process the tests start. A file not valid for this Python (PyTorch ships one for
# 3.12) fails to compile, harmlessly, as it does in pip: hence -qq and `|| true`.
PIP_INSTALL := $(BIN)/python -m pip install --quiet --no-compile
COMPILE_BYTECODE := $(BIN)/python -m compileall -qq -j 0 $(VENV)/lib || true

# The library alone: what `make demo` needs (no TensorFlow).
$(INSTALLED): pyproject.toml | $(BIN)/python
	@echo "Installing dann_jax into $(VENV) (the first time: about a minute)..."
	$(PIP_INSTALL) -e .
	$(COMPILE_BYTECODE)
	touch $(INSTALLED)

# Tests, lint and TensorFlow, which the TFDS builder tests need to prepare datasets.
$(INSTALLED_DEV): pyproject.toml | $(BIN)/python
	@echo "Installing dann_jax and its dev extra (PyTorch, TensorFlow, Sphinx: about 3.6 GB) into $(VENV) (the first time: a few minutes)..."
	$(PIP_INSTALL) -e '.[dev]'
	$(COMPILE_BYTECODE)
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

test: lint  ## ruff, then the quick tier: every test not marked slow
	$(BIN)/python -m pytest -m "not slow"

test-slow: $(INSTALLED_DEV)  ## the slow tier: whole runs, subprocesses, two-process runs
	$(BIN)/python -m pytest -m slow

docs: $(INSTALLED_DEV)  ## the documentation site, warnings as errors, into docs/_build/html
	$(BIN)/sphinx-build -E -W --keep-going -q -b html docs docs/_build/html
	@echo "Documentation: docs/_build/html/index.html"
