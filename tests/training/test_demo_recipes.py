"""Every demo recipe trains end to end on the shipped data, samples, and checks validity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from toposci.domains.base import get_domain
from toposci.training.config import load_recipe
from toposci.training.sampling import sample_run
from toposci.training.trainer import train

REPO = Path(__file__).resolve().parents[2]
DEMOS = sorted((REPO / "recipes").glob("*_demo.yaml"))
SHORT = ["train.epochs=1", "train.max_steps_per_epoch=3", "train.val_batches=1"]


def test_every_domain_has_a_demo_of_each_model() -> None:
    kinds: dict[str, set[str]] = {}
    for path in DEMOS:
        recipe = load_recipe(path)
        kinds.setdefault(recipe.model.kind, set()).add(recipe.domain)
    assert kinds["vae"] == {"molecules", "proteins", "social", "images", "synthetic"}
    assert kinds["diffusion"] == {"proteins", "images", "synthetic"}  # tensor forms
    assert kinds["latent_diffusion"] == {"molecules"}


@pytest.fixture(scope="module")
def qm9_vae_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few steps of the QM9 demo TopoVAE: the run the latent diffusion demo diffuses in."""
    run = tmp_path_factory.mktemp("qm9-vae") / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    train(load_recipe(REPO / "recipes" / "qm9_demo.yaml", SHORT), run, progress=False)
    torch.set_num_threads(threads)
    return run


@pytest.mark.slow
@pytest.mark.parametrize("path", DEMOS, ids=lambda p: p.stem)
def test_demo_trains_samples_and_checks_validity(path: Path, tmp_path: Path,
                                                 request: pytest.FixtureRequest) -> None:
    overrides = list(SHORT)
    kind = load_recipe(path).model.kind
    if kind != "vae":
        overrides.append("model.diffusion.sample_steps=10")
    if kind == "latent_diffusion":
        vae_run = request.getfixturevalue("qm9_vae_run")
        overrides.append(f"model.diffusion.vae_run={vae_run}")
    recipe = load_recipe(path, overrides)
    domain = get_domain(recipe.domain)
    train(recipe, tmp_path / "run", progress=False)
    out = tmp_path / f"samples{domain.sample_suffix}"
    report = sample_run(tmp_path / "run", 20, out, progress=False)
    assert report.n == 20 and sum(report.reasons.values()) == 20
    assert 0.0 <= report.valid_fraction <= 1.0
    assert set(report.validity_by_correction) == set(domain.corrections)  # molecules: both
    assert out.is_file()
    saved = json.loads((tmp_path / "samples_report.json").read_text())
    assert saved["valid_fraction"] == report.valid_fraction
