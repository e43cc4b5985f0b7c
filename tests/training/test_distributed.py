"""Data-parallel training: two gloo processes on loopback against one process.

The test launches ``torchrun --standalone --nproc_per_node=2`` on this file once (its
``__main__`` block is the worker), so ``train`` finds its process group exactly as under a
user's ``torchrun`` — from the environment — and every run it makes is compared here with
single-process runs of the same recipes.

Why the comparisons hold, and to what tolerance:

* Every rank computes the same epoch order and global batches (of ``batch_size`` = 40, and a
  last one of 7 that the two ranks split 4 / 3) and takes its part; each rank's loss is
  weighted by ``W B_r / B``, so DDP's gradient average is the gradient of the global batch
  mean — the single-process gradient, with the sums taken in another order.
* The one thing that differs by design is the reparameterization noise: each rank draws its
  own, so the noise of a sample on rank 1 is not the noise the single process would give it.
  For the comparisons with one process the noise is therefore set to zero (``randn_like``
  returns zeros, in the workers and in the reference runs): what remains is a deterministic
  function of the parameters and the global batch.
* What is left is float32 rounding: the ranks' partial sums (and DDP's average of two
  gradients) against one sum over the whole batch, about 1e-7 relative. Adam's update
  ``m / (sqrt(v) + eps)`` moves smoothly with the gradients, so rounding-level gradient
  differences give rounding-level parameter differences: over the 12 steps of at most
  ``lr`` = 1e-2 each, parameters of order 1 agree to a few 1e-7 (measured: 1.2e-7 without
  the topological term, 2.3e-7 with it gathered). ``atol = rtol = 1e-5`` leaves a factor of
  ~50, while a real mistake (a missing weight of the 4 / 3 batch, a topological term of the
  local batch only, gradients not averaged) moves parameters by 1e-3 or more: the ``local``
  run is 0.1 away from the single process (checked below).
* Resuming on the same two processes restores every rank's RNG state, so the resumed run
  equals the straight run bit for bit, with the real (non-zero) noise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from toposci.training.config import Recipe, recipe_from_dict
from toposci.training.distributed import (
    DistContext,
    _gather_together,
    all_gather_rows,
    init_distributed,
    local_slice,
    rank_seed,
)
from toposci.training.trainer import _batches, train

TOL = {"atol": 1e-5, "rtol": 1e-5}


def _recipe(*, epochs: int = 2, gamma: float = 0.0, topology: str = "local") -> Recipe:
    """207 training samples: five batches of 40 and a last one of 7 (split 4 / 3)."""
    return recipe_from_dict({
        "name": "circle", "domain": "synthetic", "data": {"space": "circle", "n": 230},
        "model": {"latent_dim": 2, "gamma": gamma, "encoder": {"hidden": [16, 16]},
                  "decoder": {"hidden": [16]}},
        "regularizer": {"mode": "latent", "homology_weights": {0: 1.0, 1: 0.5}},
        "train": {"epochs": epochs, "batch_size": 40, "lr": 0.01, "threads": 1,
                  "distributed_topology": topology},
    })


def _diffusion_recipe(vae_run: Path | None = None) -> Recipe:
    """TopoDiffusionLite on the same points (or, given a TopoVAE run, on its codes of them),
    gathered topological term. One noise level (``T = 1``, so every drawn step is 0) and zero
    noise make its loss deterministic; the sub-batch (64) holds a whole local batch, so the
    gathered clouds are the global batch."""
    diffusion: dict[str, Any] = {"timesteps": 1, "topo_min_snr": 0.0, "topo_batch": 64,
                                 "hidden": [16, 16], "time_dim": 8}
    if vae_run is not None:
        diffusion["vae_run"] = str(vae_run)
    return recipe_from_dict({
        **_recipe(gamma=0.5, topology="gather").to_dict(),
        "model": {"kind": "diffusion" if vae_run is None else "latent_diffusion",
                  "gamma": 0.5, "diffusion": diffusion},
        "regularizer": {"mode": "reconstruction", "homology_weights": {0: 1.0, 1: 0.5},
                        "resolution": 20},
    })


def _zeros_like(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    return torch.zeros_like(x, *args, **kwargs)


# --------------------------------------------------------------------------- the worker


def _worker(out: Path) -> None:
    """What each of the two processes runs (``train`` joins the group from torchrun's env)."""
    from unittest import mock

    from toposci.cli import main

    with mock.patch("torch.randn_like", _zeros_like):
        train(_recipe(), out / "plain", progress=False)
        train(_recipe(gamma=0.5, topology="gather"), out / "gather", progress=False)
        train(_recipe(gamma=0.5), out / "local", progress=False)
        train(_diffusion_recipe(), out / "diffusion", progress=False)
        # rank 0 reads the TopoVAE run and sends it to rank 1
        train(_diffusion_recipe(vae_run=out / "plain"), out / "latent", progress=False)
    train(_recipe(epochs=3, gamma=0.5), out / "straight", progress=False)
    recipe = out / f"recipe{os.environ['RANK']}.yaml"  # the command line, as a user runs it
    recipe.write_text(yaml.safe_dump(_recipe(epochs=3, gamma=0.5).to_dict()))
    for args in (["--set", "train.epochs=1"], ["--resume"]):
        if main(["train", str(recipe), "--out", str(out / "resumed"), "-q", *args]) != 0:
            raise SystemExit(f"toposci train {' '.join(args)} failed")
    train(_recipe(epochs=2, gamma=0.5), out / "from_one", resume=True, progress=False)
    _gather_worker(out, int(os.environ["RANK"]))


def _rows(rank: int, n: int, width: int) -> torch.Tensor:
    """Rank ``rank``'s rows in the gather check: ``(n, width)``, values unique per rank."""
    values = torch.arange(n * width, dtype=torch.float64).reshape(n, width) + 100 * rank
    return values.requires_grad_()


def _gather_worker(out: Path, rank: int) -> None:
    """Gather rows of unequal counts (rank r holds r + 2), jointly and one tensor at a time."""
    x, z, w = _rows(rank, rank + 2, 3), _rows(rank, rank + 2, 4), _rows(rank, rank + 1, 2)
    joined = _gather_together([x, z.reshape(rank + 2, 2, 2)])  # one collective
    apart = _gather_together([x, w])  # different row counts: one each
    loss = sum((g.reshape(g.shape[0], -1) * _weights(*g.shape[:1], g[0].numel())).sum()
               for g in [*joined, *apart])
    loss.backward()
    torch.save({"joined": [g.detach() for g in joined], "apart": [g.detach() for g in apart],
                "grads": [x.grad, z.grad, w.grad]}, out / f"gather{rank}.pt")


def _weights(n: int, width: int) -> torch.Tensor:
    """The same ``(n, width)`` loss weights on every rank."""
    return torch.linspace(-1.0, 2.0, n * width, dtype=torch.float64).reshape(n, width)


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
    sys.exit(0)


# --------------------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def two_process_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run directories written by two gloo processes (one torchrun launch for the module)."""
    out = tmp_path_factory.mktemp("ddp")
    train(_recipe(epochs=1, gamma=0.5), out / "from_one", progress=False)  # one process
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node=2", __file__, str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(torchrun, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def _single(tmp_path: Path, recipe: Recipe, monkeypatch: pytest.MonkeyPatch) -> dict:
    with monkeypatch.context() as m:
        m.setattr(torch, "randn_like", _zeros_like)
        return train(recipe, tmp_path / "single", progress=False).model.state_dict()


def _saved(run: Path) -> dict[str, Any]:
    return torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=False)


def _max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


@pytest.mark.slow
@pytest.mark.parametrize(("run", "gamma", "topology"),
                         [("plain", 0.0, "local"), ("gather", 0.5, "gather")])
def test_two_processes_reach_the_parameters_of_one(two_process_runs: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch, run: str,
                                                   gamma: float, topology: str) -> None:
    single = _single(tmp_path, _recipe(gamma=gamma, topology=topology), monkeypatch)
    ckpt = _saved(two_process_runs / run)
    assert ckpt["epoch"] == 2 and ckpt["world_size"] == 2
    for name, value in single.items():
        torch.testing.assert_close(ckpt["model"][name], value, **TOL, msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("run", ["diffusion", "latent"])
def test_a_diffusion_model_on_two_processes_reaches_the_parameters_of_one(
        two_process_runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        run: str) -> None:
    vae_run = two_process_runs / "plain" if run == "latent" else None
    single = _single(tmp_path, _diffusion_recipe(vae_run), monkeypatch)
    ckpt = _saved(two_process_runs / run)
    assert ckpt["epoch"] == 2 and ckpt["world_size"] == 2
    assert ckpt.get("sample_shape", [2]) == [2] and ("vae" in ckpt) == (run == "latent")
    assert all(row["train_topo"] > 0 for row in ckpt["history"])
    for name, value in single.items():
        torch.testing.assert_close(ckpt["model"][name], value, **TOL, msg=name)


@pytest.mark.slow
def test_a_local_topological_term_is_not_the_global_one(
        two_process_runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tolerance above would catch a gather that did nothing: local differs by far more."""
    single = _single(tmp_path, _recipe(gamma=0.5), monkeypatch)
    assert _max_difference(_saved(two_process_runs / "local")["model"], single) > 1e-3


@pytest.mark.slow
def test_resume_on_two_processes_continues_exactly(two_process_runs: Path) -> None:
    straight, resumed = _saved(two_process_runs / "straight"), _saved(two_process_runs /
                                                                       "resumed")
    for name, value in straight["model"].items():
        assert torch.equal(value, resumed["model"][name]), name
    assert [r["val_loss"] for r in straight["history"]] == [r["val_loss"] for r in
                                                           resumed["history"]]
    states = straight["rng_ranks"]  # each rank has its own noise stream
    assert len(states) == 2 and not torch.equal(states[0]["torch"], states[1]["torch"])
    assert torch.equal(straight["rng"]["torch"], states[0]["torch"])


@pytest.mark.slow
def test_a_run_moves_between_one_and_two_processes(two_process_runs: Path,
                                                   tmp_path: Path) -> None:
    grown = _saved(two_process_runs / "from_one")  # epoch 1 in one process, epoch 2 on two
    assert grown["epoch"] == 2 and grown["world_size"] == 2 and len(grown["history"]) == 2
    shutil.copytree(two_process_runs / "plain", tmp_path / "plain")
    shrunk = train(_recipe(epochs=3), tmp_path / "plain", resume=True, progress=False)
    assert [int(r["epoch"]) for r in shrunk.history] == [1, 2, 3]
    assert "rng_ranks" not in _saved(tmp_path / "plain")  # a single-process checkpoint again


@pytest.mark.slow
def test_gathered_rows_and_their_gradients(two_process_runs: Path) -> None:
    """Every rank sees all rows in rank order; the gradient reaching a rank's rows is the sum
    over the two ranks of their (identical) losses' gradients: twice the loss weights."""
    x = [_rows(r, r + 2, 3).detach() for r in range(2)]
    z = [_rows(r, r + 2, 4).detach() for r in range(2)]
    w = [_rows(r, r + 1, 2).detach() for r in range(2)]
    for rank in range(2):
        saved = torch.load(two_process_runs / f"gather{rank}.pt", weights_only=False)
        assert torch.equal(saved["joined"][0], torch.cat(x))  # (5, 3)
        assert torch.equal(saved["joined"][1], torch.cat(z).reshape(5, 2, 2))
        assert torch.equal(saved["apart"][0], torch.cat(x))
        assert torch.equal(saved["apart"][1], torch.cat(w))  # (3, 2)
        rows = slice(0, 2) if rank == 0 else slice(2, 5)
        # x is used twice (joined and apart), so its weights count twice as well
        assert torch.equal(saved["grads"][0], 2 * 2 * _weights(5, 3)[rows])
        assert torch.equal(saved["grads"][1], 2 * _weights(5, 4)[rows])
        w_rows = slice(0, 1) if rank == 0 else slice(1, 3)
        assert torch.equal(saved["grads"][2], 2 * _weights(3, 2)[w_rows])


@pytest.mark.slow
def test_rank_zero_alone_writes_the_run(two_process_runs: Path) -> None:
    run = two_process_runs / "plain"
    assert {p.name for p in run.iterdir()} == {"config.yaml", "checkpoint.pt", "metrics.csv"}
    assert len((run / "metrics.csv").read_text().splitlines()) == 1 + 2  # header + 2 epochs


# --------------------------------------------------------------------------- in one process


def test_batches_give_every_rank_two_samples() -> None:
    """A last batch joins the one before when it cannot give each of W ranks two samples."""
    def sizes(n: int, min_last: int) -> list[int]:
        batches = _batches(torch.arange(n), 10, None, min_last=min_last)
        assert torch.equal(torch.cat(batches), torch.arange(n))  # each sample once, in order
        return [b.numel() for b in batches]

    assert sizes(23, 2) == [10, 10, 3] and sizes(21, 2) == [10, 11]  # one process
    assert sizes(23, 4) == [10, 13] and sizes(24, 4) == [10, 10, 4]  # two processes


def test_local_slices_partition_the_global_batch() -> None:
    idx = torch.arange(7) * 3
    parts = [local_slice(idx, r, 2) for r in range(2)]
    assert [p.tolist() for p in parts] == [[0, 3, 6, 9], [12, 15, 18]]
    assert torch.equal(local_slice(idx, 0, 1), idx)


def test_single_process_helpers_are_identities(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    ctx, dev = init_distributed("cpu")
    assert ctx == DistContext() and dev == torch.device("cpu") and not ctx.enabled
    x = torch.randn(5, 3)
    assert all_gather_rows(x) is x
    assert ctx.broadcast({"a": 1}) == {"a": 1} and ctx.all_gather_object(3) == [3]
    assert ctx.run_on_main(lambda: 4) == 4
    assert rank_seed(0, 1) != rank_seed(0, 2) and rank_seed(5, 1) == rank_seed(5, 1)


def test_torchrun_variables_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(ValueError, match="RANK"):
        init_distributed("cpu")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "zero")
    with pytest.raises(ValueError, match="LOCAL_RANK='zero' is not an integer"):
        init_distributed("cpu")
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(ValueError, match="each process uses cuda:LOCAL_RANK"):
        init_distributed("cuda:1")


def test_single_process_checkpoints_keep_their_layout(tmp_path: Path) -> None:
    """One process writes the checkpoint keys it always has; a checkpoint from before
    ``train.distributed_topology`` existed (no such key in its recipe) still resumes."""
    train(_recipe(epochs=1), tmp_path / "run", progress=False)
    ckpt = _saved(tmp_path / "run")
    assert list(ckpt) == ["model", "optimizer", "epoch", "history", "rng", "recipe",
                          "view_features"]
    del ckpt["recipe"]["train"]["distributed_topology"]
    torch.save(ckpt, tmp_path / "run" / "checkpoint.pt")
    resumed = train(_recipe(epochs=2), tmp_path / "run", resume=True, progress=False)
    assert [int(r["epoch"]) for r in resumed.history] == [1, 2]


def test_unknown_distributed_topology_is_refused() -> None:
    with pytest.raises(ValueError, match="must be one of 'local', 'gather'"):
        recipe_from_dict({**_recipe().to_dict(), "train": {"distributed_topology": "all"}})

