# Development entry points. `make run` serves on 127.0.0.1:8042 with the data
# folder ./orthanclite-data; `make test` runs the whole test suite.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Each test file runs in one worker, so module-scoped servers start once.
PYTEST_ARGS ?= -n 2 --dist loadfile
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: run test install install-test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(BIN)/orthanclite serve

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

# `make bench ORTHANC=1` installs Debian's orthanc package first (root or
# sudo), without starting its service; BENCH_ARGS passes options through,
# e.g. BENCH_ARGS="--fill 100000 --large-upload-mb 1024".
bench: $(VENV)/.installed-bench
ifeq ($(ORTHANC),1)
	$(SUDO) sh bench/install-orthanc.sh
endif
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: install-test
	$(BIN)/python -m pip install --quiet ruff
	$(BIN)/ruff check orthanclite tests

clean:
	rm -rf $(VENV) orthanclite-data
