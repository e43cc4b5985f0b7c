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
	rm -rf runs/demo/qm9-topovae
	$(BIN)/toposci train recipes/qm9_demo.yaml --out runs/demo/qm9-topovae
	$(BIN)/toposci sample runs/demo/qm9-topovae -n 1000 -o runs/demo/qm9_samples.smi
	$(BIN)/toposci summarize qm9-sample --out runs/demo/qm9.npz --plot runs/demo/plots

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/topology.py

clean:
	rm -rf $(VENV) runs
