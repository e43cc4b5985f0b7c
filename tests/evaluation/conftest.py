"""Tiny trained and evaluated runs, made once per session: a torus experiment (2 seeds x 2 gammas,
through the experiment runner) and a QM9 demo run (through ``train`` and ``apply_overrides``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml
from threadpoolctl import threadpool_limits

from toposci.evaluation.evaluate import evaluate_run
from toposci.evaluation.experiment import run_experiment
from toposci.evaluation.options import EvaluationOptions
from toposci.training.config import apply_overrides, recipe_from_dict
from toposci.training.trainer import train

REPO = Path(__file__).resolve().parents[2]
SHORT = ["train.epochs=1", "train.max_steps_per_epoch=3", "train.val_batches=1",
         "train.threads=1", "train.device=cpu"]

TORUS_OPTIONS = {"samples": 200, "topology_samples": 200, "interpolation_pairs": 6,
                 "interpolation_steps": 5, "strip_pairs": 3, "attack_codes": 200,
                 "attack_steps": 3}
"""200 samples, all 200 held-out points: every subset is the whole set."""

QM9_OPTIONS = EvaluationOptions(samples=200, fcd_samples=50, topology_samples=100,
                                interpolation_pairs=4, interpolation_steps=5, strip_pairs=2,
                                ood_samples=2000, attack_codes=12, attack_steps=3)
"""``ood_samples`` above every set's size: the OOD sets are the whole sets."""


@dataclass(frozen=True)
class DemoRuns:
    """The session's runs: the torus experiment's file, manifest and runs (by arm and seed),
    the QM9 run, and the evaluation options of each."""

    experiment: Path
    manifest: Path
    torus: dict[tuple[str, int], Path]
    qm9: Path
    torus_options: dict
    qm9_options: EvaluationOptions


def write_torus_experiment(folder: Path, *, evaluation: dict | None = None) -> Path:
    """A 2-arm x 2-seed torus experiment file of 1-epoch, 3-step runs."""
    spec = {
        "name": "torus-tiny", "description": "two seeds, two gammas, one short epoch",
        "recipe": str(REPO / "recipes" / "torus_demo.yaml"), "overrides": SHORT,
        "seeds": [0, 1], "arms": {"gamma-0": ["model.gamma=0"], "gamma-1": ["model.gamma=1"]},
        "comparisons": [{"a": "gamma-1", "b": "gamma-0", "label": "with vs without L_topo"}],
        "evaluation": TORUS_OPTIONS if evaluation is None else evaluation,
    }
    path = folder / "torus_tiny.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRuns]:
    root = tmp_path_factory.mktemp("evaluation")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    # one BLAS thread: the FCD's 512 x 512 eigendecomposition otherwise spins two OpenBLAS
    # threads against everything else on a busy 2-core machine (seconds instead of 0.05 s)
    with threadpool_limits(1):
        experiment = write_torus_experiment(root)
        result = run_experiment(experiment, root / "experiments", progress=False)
        torus = {(r["arm"], r["seed"]): Path(r["run_dir"]) for r in result["runs"]}
        raw = yaml.safe_load((REPO / "recipes" / "qm9_demo.yaml").read_text())
        qm9 = root / "qm9"
        train(recipe_from_dict(apply_overrides(raw, SHORT)), qm9, progress=False)
        evaluate_run(qm9, QM9_OPTIONS, progress=False)
        yield DemoRuns(experiment, Path(result["manifest"]), torus, qm9, TORUS_OPTIONS,
                       QM9_OPTIONS)
    torch.set_num_threads(threads)


@pytest.fixture
def torus_experiment() -> Callable[..., Path]:
    """``write(folder, evaluation=None)``: write the torus experiment file into ``folder``."""
    return write_torus_experiment
