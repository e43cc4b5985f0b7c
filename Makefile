# toposci: `make demo` runs the main job on the shipped data, `make test` runs the tests.
# Both create .venv on first use: torch 2.13.0 (CPU build) first, then the project.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/toposci summarize qm9-sample --out runs/demo/qm9.npz --plot runs/demo/plots
	$(BIN)/toposci summarize mnist-sample --limit 200 --out runs/demo/mnist.npz --plot runs/demo/plots

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/topology.py

clean:
	rm -rf $(VENV) runs
