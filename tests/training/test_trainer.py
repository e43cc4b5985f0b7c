"""The training loop: run files, exact resume, clear errors; sampling from a run; TopoVAE,
diffusion and latent diffusion."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from toposci.cli import main
from toposci.domains.base import get_domain
from toposci.models.diffusion import TopoDiffusionLite
from toposci.training.config import recipe_from_dict
from toposci.training.sampling import sample_run
from toposci.training.trainer import load_run, train


def _recipe(epochs: int = 2, **train_options):
    return recipe_from_dict({
        "name": "circle", "domain": "synthetic", "data": {"space": "circle", "n": 300},
        "model": {"latent_dim": 2, "gamma": 0.5, "encoder": {"hidden": [16, 16]},
                  "decoder": {"hidden": [16]}},
        "regularizer": {"mode": "latent", "homology_weights": {0: 1.0, 1: 0.5}},
        "train": {"epochs": epochs, "batch_size": 64, "lr": 0.01, **train_options},
    })


def test_a_run_writes_config_checkpoint_and_metrics(tmp_path: Path) -> None:
    result = train(_recipe(), tmp_path / "run", progress=False)
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} == {"config.yaml", "checkpoint.pt", "metrics.csv"}
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    for r in rows:  # the logged loss is its terms combined with the logged weights
        assert float(r["train_topo"]) > 0
        assert float(r["val_loss"]) == pytest.approx(
            float(r["val_reconstruction"]) + float(r["beta"]) * float(r["val_kl"])
            + 0.5 * float(r["val_topo"]), rel=1e-5)
    recipe, _, model, ckpt = load_run(run)
    assert recipe == _recipe() and ckpt["epoch"] == 2
    for name, value in model.state_dict().items():
        assert torch.equal(value, result.model.state_dict()[name])


def test_resume_continues_exactly(tmp_path: Path) -> None:
    straight = train(_recipe(epochs=3), tmp_path / "a", progress=False)
    train(_recipe(epochs=1), tmp_path / "b", progress=False)
    resumed = train(_recipe(epochs=3), tmp_path / "b", resume=True, progress=False)
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    assert straight.history[-1]["val_loss"] == resumed.history[-1]["val_loss"]
    assert len(list(csv.DictReader((tmp_path / "b" / "metrics.csv").open()))) == 3


def test_refuses_to_overwrite_or_resume_a_different_recipe(tmp_path: Path) -> None:
    train(_recipe(epochs=1), tmp_path / "r", progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        train(_recipe(epochs=1), tmp_path / "r", progress=False)
    with pytest.raises(ValueError, match="differs"):
        train(_recipe(epochs=2, lr=0.5), tmp_path / "r", resume=True, progress=False)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(_recipe(), tmp_path / "empty", resume=True, progress=False)


def test_a_diverging_loss_stops_with_advice(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"lower train\.lr"):
        train(_recipe(lr=1e6, grad_clip=None), tmp_path / "nan", progress=False)


def test_autoencoder_projection_is_trained_then_frozen(tmp_path: Path) -> None:
    recipe = recipe_from_dict({
        **_recipe().to_dict(), "regularizer": {"mode": "reconstruction", "projection":
                                               "autoencoder", "projection_dim": 2,
                                               "projection_epochs": 2, "resolution": 20}})
    result = train(recipe, tmp_path / "p", progress=False)
    projection = result.model.regularizer.projection
    assert all(not p.requires_grad for p in projection.parameters())
    _, _, model, _ = load_run(tmp_path / "p")
    for a, b in zip(projection.parameters(), model.regularizer.projection.parameters(),
                    strict=True):
        assert torch.equal(a, b)


def test_sample_run_writes_samples_and_report(tmp_path: Path) -> None:
    train(_recipe(epochs=1), tmp_path / "run", progress=False)
    report = sample_run(tmp_path / "run", 50, tmp_path / "s.npz", seed=3, progress=False)
    assert report.n == 50 and report.reasons == {"ok": 50} and report.valid_fraction == 1.0
    assert np.load(tmp_path / "s.npz")["points"].shape == (50, 2)
    saved = json.loads((tmp_path / "s_report.json").read_text())
    assert saved["n"] == 50 and saved["metrics"]["betti"]["known"] == [1, 1]
    again = sample_run(tmp_path / "run", 50, tmp_path / "t.npz", seed=3, progress=False)
    assert again.metrics == report.metrics  # seeded
    with pytest.raises(ValueError, match="unknown correction"):
        sample_run(tmp_path / "run", 5, tmp_path / "u.npz", correction="valence")
    with pytest.raises(ValueError, match="apply to diffusion models only"):
        sample_run(tmp_path / "run", 5, tmp_path / "u.npz", sampler="ddpm")


def test_cli_train_and_sample(tmp_path: Path, capsys) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: c\ndomain: synthetic\ndata: {space: circle, n: 200}\n"
                      "model: {latent_dim: 2}\ntrain: {epochs: 1, batch_size: 50}\n")
    run = tmp_path / "run"
    assert main(["train", str(recipe), "--out", str(run), "-q", "--set", "train.seed=4"]) == 0
    assert "trained c on cpu for 1 epochs" in capsys.readouterr().out
    assert main(["sample", str(run), "-n", "10", "-o", str(tmp_path / "s.npz"), "-q"]) == 0
    assert "100.0% valid" in capsys.readouterr().out
    assert main(["train", str(recipe), "--out", str(run), "-q"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", str(recipe), "--set", "model.gama=1"]) == 2
    assert "did you mean 'gamma'" in capsys.readouterr().err


def test_kl_warmup_rises_linearly_per_step(tmp_path: Path) -> None:
    result = train(_recipe(epochs=3, kl_warmup_epochs=2), tmp_path / "w", progress=False)
    assert [row["beta"] for row in result.history] == [0.5, 1.0, 1.0]
    assert result.model.beta == 1.0


def test_time_budget_stops_between_epochs(tmp_path: Path) -> None:
    result = train(_recipe(epochs=50, time_budget_minutes=1e-6), tmp_path / "t", progress=False)
    assert len(result.history) == 1  # the first epoch always runs; the next would overrun


def test_a_corrupt_checkpoint_is_named(tmp_path: Path) -> None:
    train(_recipe(epochs=1), tmp_path / "run", progress=False)
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"checkpoint\.pt is not a readable checkpoint"):
        load_run(tmp_path / "run")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        train(_recipe(epochs=2), tmp_path / "run", resume=True, progress=False)
    assert main(["sample", str(tmp_path / "run"), "-n", "3", "-o",
                 str(tmp_path / "s.npz"), "-q"]) == 2


def test_a_checkpoint_of_another_network_is_named(tmp_path: Path) -> None:
    train(_recipe(epochs=1), tmp_path / "run", progress=False)
    path = tmp_path / "run" / "checkpoint.pt"
    ckpt = torch.load(path, weights_only=False)
    first = next(iter(ckpt["model"]))
    del ckpt["model"][first]  # as if written before that parameter existed
    ckpt["model"]["decoder.extra"] = torch.zeros(1)
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match=rf"missing {first}; unexpected decoder\.extra\)"):
        load_run(tmp_path / "run")
    with pytest.raises(ValueError, match="train the run again"):
        train(_recipe(epochs=2), tmp_path / "run", resume=True, progress=False)


# --------------------------------------------------------------------------- diffusion


def _diffusion_recipe(epochs: int = 2, gamma: float = 0.5, kind: str = "diffusion",
                      vae_run: Path | None = None, **train_options):
    """A small TopoDiffusionLite on circle points (or on the codes of a circle TopoVAE)."""
    diffusion = {"timesteps": 50, "topo_batch": 16, "hidden": [16, 16], "time_dim": 8,
                 "sample_steps": 10}
    if vae_run is not None:
        diffusion["vae_run"] = str(vae_run)
    return recipe_from_dict({
        "name": "circle-diffusion", "domain": "synthetic",
        "data": {"space": "circle", "n": 300},
        "model": {"kind": kind, "gamma": gamma, "diffusion": diffusion},
        "regularizer": {"mode": "reconstruction", "homology_weights": {0: 1.0, 1: 0.5},
                        "resolution": 20},
        "train": {"epochs": epochs, "batch_size": 64, "lr": 0.01, **train_options},
    })


def test_a_diffusion_run_logs_its_terms_and_loads_back(tmp_path: Path) -> None:
    result = train(_diffusion_recipe(), tmp_path / "run", progress=False)
    assert isinstance(result.model, TopoDiffusionLite)
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    for r in rows:  # reconstruction = noise-prediction error; no KL and no beta
        assert float(r["train_topo"]) > 0 and float(r["val_kl"]) == 0 == float(r["beta"])
        assert float(r["val_loss"]) == pytest.approx(
            float(r["val_reconstruction"]) + 0.5 * float(r["val_topo"]), rel=1e-5)
    recipe, _, model, ckpt = load_run(tmp_path / "run")
    assert recipe == _diffusion_recipe() and ckpt["sample_shape"] == [2]  # circle points
    assert isinstance(model, TopoDiffusionLite) and model.sample_shape == (2,)
    assert model.timesteps == 50 and model.sample_steps == 10
    for name, value in model.state_dict().items():
        assert torch.equal(value, result.model.state_dict()[name])


def test_a_diffusion_run_resumes_exactly(tmp_path: Path) -> None:
    straight = train(_diffusion_recipe(epochs=3), tmp_path / "a", progress=False)
    train(_diffusion_recipe(epochs=1), tmp_path / "b", progress=False)
    resumed = train(_diffusion_recipe(epochs=3), tmp_path / "b", resume=True, progress=False)
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    assert [r["val_loss"] for r in straight.history] == [r["val_loss"] for r in resumed.history]


def test_sampling_a_diffusion_run(tmp_path: Path, capsys) -> None:
    train(_diffusion_recipe(epochs=1), tmp_path / "run", progress=False)
    report = sample_run(tmp_path / "run", 40, tmp_path / "s.npz", seed=3, progress=False)
    assert report.n == 40 and report.reasons == {"ok": 40} and report.temperature == 1.0
    assert np.load(tmp_path / "s.npz")["points"].shape == (40, 2)
    saved = json.loads((tmp_path / "s_report.json").read_text())
    assert saved["n"] == 40 and saved["metrics"]["betti"]["known"] == [1, 1]
    again = sample_run(tmp_path / "run", 40, tmp_path / "t.npz", seed=3, progress=False)
    assert np.array_equal(np.load(tmp_path / "s.npz")["points"],
                          np.load(tmp_path / "t.npz")["points"])  # seeded
    with pytest.raises(ValueError, match="temperature 1"):
        sample_run(tmp_path / "run", 5, tmp_path / "u.npz", temperature=0.8)
    assert again.metrics == report.metrics
    assert main(["sample", str(tmp_path / "run"), "-n", "5", "-o", str(tmp_path / "c.npz"),
                 "-q"]) == 0
    assert "100.0% valid" in capsys.readouterr().out
    # the sampler and its steps from the command line: DDIM on all T steps with eta 0 is
    # deterministic, DDPM draws noise on the way, so the two differ from the same seed
    for sampler, steps in (("ddim", ["--steps", "50"]), ("ddpm", [])):
        assert main(["sample", str(tmp_path / "run"), "-n", "5", "-o",
                     str(tmp_path / f"{sampler}.npz"), "--sampler", sampler, *steps, "-q"]) == 0
    ddim, ddpm = (np.load(tmp_path / f"{s}.npz")["points"] for s in ("ddim", "ddpm"))
    assert ddim.shape == ddpm.shape == (5, 2) and not np.array_equal(ddim, ddpm)
    with pytest.raises(ValueError, match="steps must be an int in"):
        sample_run(tmp_path / "run", 5, tmp_path / "u.npz", steps=1)


@pytest.fixture(scope="module")
def circle_vae(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TopoVAE run on circle points (2-D latent), for latent diffusion over its codes."""
    run = tmp_path_factory.mktemp("vae") / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    train(_recipe(epochs=2), run, progress=False)
    torch.set_num_threads(threads)
    return run


def test_latent_diffusion_trains_on_codes_and_needs_no_vae_run_afterwards(
        tmp_path: Path, circle_vae: Path) -> None:
    vae_run = tmp_path / "vae"
    shutil.copytree(circle_vae, vae_run)
    _, _, vae, _ = load_run(vae_run)
    recipe = _diffusion_recipe(kind="latent_diffusion", vae_run=vae_run)
    result = train(recipe, tmp_path / "run", progress=False)
    model = result.model
    assert isinstance(model, TopoDiffusionLite) and model.sample_shape == (2,)  # latent_dim
    for name, value in vae.state_dict().items():  # the VAE is frozen, and saved with the model
        assert torch.equal(model.io.vae.state_dict()[name], value), name
    # the codes are standardised by the statistics of the training set's posterior means
    data = get_domain("synthetic")(recipe.data).load().train
    codes = vae.encode(data)  # (N, 2)
    torch.testing.assert_close(model.io.shift, codes.mean(dim=0))
    assert float(model.io.scale) == pytest.approx(float((codes - codes.mean(dim=0)).std()),
                                                  rel=1e-5)
    first = sample_run(tmp_path / "run", 30, tmp_path / "a.npz", seed=1, progress=False)
    shutil.rmtree(vae_run)  # the checkpoint holds what the model needs
    _, _, loaded, ckpt = load_run(tmp_path / "run")
    assert ckpt["vae"]["run"] == str(vae_run) and ckpt["vae"]["recipe"]["model"]["kind"] == "vae"
    for name, value in loaded.state_dict().items():
        assert torch.equal(value, model.state_dict()[name]), name
    second = sample_run(tmp_path / "run", 30, tmp_path / "b.npz", seed=1, progress=False)
    assert first.reasons == second.reasons == {"ok": 30}
    assert np.array_equal(np.load(tmp_path / "a.npz")["points"],
                          np.load(tmp_path / "b.npz")["points"])
    resumed = train(_diffusion_recipe(epochs=3, kind="latent_diffusion", vae_run=vae_run),
                    tmp_path / "run", resume=True, progress=False)
    assert [int(r["epoch"]) for r in resumed.history] == [1, 2, 3]


def test_latent_diffusion_resumes_exactly(tmp_path: Path, circle_vae: Path) -> None:
    def recipe(epochs: int):
        return _diffusion_recipe(epochs=epochs, kind="latent_diffusion", vae_run=circle_vae)

    straight = train(recipe(3), tmp_path / "a", progress=False)
    train(recipe(1), tmp_path / "b", progress=False)
    resumed = train(recipe(3), tmp_path / "b", resume=True, progress=False)
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    assert [r["val_loss"] for r in straight.history] == [r["val_loss"] for r in resumed.history]


def test_latent_diffusion_needs_a_trained_vae_run(tmp_path: Path) -> None:
    missing = tmp_path / "no-vae"
    with pytest.raises(FileNotFoundError, match=r"is not a trained run .*train a TopoVAE recipe"):
        train(_diffusion_recipe(kind="latent_diffusion", vae_run=missing), tmp_path / "a",
              progress=False)
    train(_diffusion_recipe(epochs=1), tmp_path / "diffusion", progress=False)
    with pytest.raises(ValueError, match="trained a diffusion model, not a TopoVAE"):
        train(_diffusion_recipe(kind="latent_diffusion", vae_run=tmp_path / "diffusion"),
              tmp_path / "b", progress=False)
