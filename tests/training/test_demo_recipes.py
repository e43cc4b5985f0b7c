"""Every demo recipe trains end to end on the shipped data, samples, and checks validity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toposci.training.config import load_recipe
from toposci.training.sampling import sample_run
from toposci.training.trainer import train

REPO = Path(__file__).resolve().parents[2]
DEMOS = sorted((REPO / "recipes").glob("*_demo.yaml"))


def test_every_domain_has_a_demo() -> None:
    domains = {load_recipe(p).domain for p in DEMOS}
    assert domains == {"molecules", "proteins", "social", "images", "synthetic"}


@pytest.mark.slow
@pytest.mark.parametrize("path", DEMOS, ids=lambda p: p.stem)
def test_demo_trains_samples_and_checks_validity(path: Path, tmp_path: Path) -> None:
    recipe = load_recipe(path, ["train.epochs=1", "train.max_steps_per_epoch=3",
                                "train.val_batches=1"])
    from toposci.domains.base import get_domain

    suffix = get_domain(recipe.domain).sample_suffix
    train(recipe, tmp_path / "run", progress=False)
    out = tmp_path / f"samples{suffix}"
    report = sample_run(tmp_path / "run", 20, out, progress=False)
    assert report.n == 20 and sum(report.reasons.values()) == 20
    assert 0.0 <= report.valid_fraction <= 1.0
    assert out.is_file()
    saved = json.loads((tmp_path / "samples_report.json").read_text())
    assert saved["valid_fraction"] == report.valid_fraction
