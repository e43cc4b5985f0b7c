"""One tiny QM9 encoder for every encoder test: the demo recipe trained for a few steps."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from toposci.encoders import MoleculeEncoder
from toposci.training.config import load_recipe
from toposci.training.sampling import sample_run
from toposci.training.trainer import train

REPO = Path(__file__).resolve().parents[2]
QM9_SAMPLE = REPO / "datasets" / "qm9" / "qm9_sample.csv"



@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of recipes/qm9_demo.yaml (2 epochs of 4 steps) with a 20-sample report."""
    threads = torch.get_num_threads()
    run = tmp_path_factory.mktemp("encoders") / "run"
    recipe = load_recipe(REPO / "recipes" / "qm9_demo.yaml",
                         ["train.epochs=2", "train.max_steps_per_epoch=4", "train.val_batches=1",
                          "train.device=cpu"])
    train(recipe, run, progress=False)
    sample_run(run, 20, run / "samples.smi", progress=False)
    torch.set_num_threads(threads)
    return run


@pytest.fixture(scope="session")
def encoder_file(demo_run: Path) -> Path:
    path = demo_run.parent / "export" / "demo.pt"
    MoleculeEncoder.from_run(demo_run, name="demo").save(path, card=path.with_suffix(".md"))
    return path


@pytest.fixture(scope="session")
def encoder(encoder_file: Path) -> MoleculeEncoder:
    return MoleculeEncoder.load(encoder_file)


@pytest.fixture(scope="session")
def qm9_rows() -> list[dict[str, str]]:
    """The shipped QM9 sample's rows as written in the csv (SMILES not canonical)."""
    with QM9_SAMPLE.open(newline="") as f:
        return list(csv.DictReader(f))
