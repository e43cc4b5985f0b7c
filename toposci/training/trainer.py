"""The training loop of a recipe: seeded, checkpointed every epoch, resumable exactly.

A run directory holds:

* ``config.yaml`` — the resolved recipe (every default written out);
* ``checkpoint.pt`` — model, optimizer, RNG states, epoch and history, written atomically
  after every epoch;
* ``metrics.csv`` — one row per finished epoch (train and validation loss terms, β, seconds).

The order of the training samples in epoch ``e`` comes from a generator seeded with
``(seed, e)``, and all other randomness (reparameterization noise, dropout) from the global
torch RNG, whose state is checkpointed. A run resumed from its last checkpoint therefore
continues exactly as if it had not stopped.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import Tensor, nn
from tqdm.auto import tqdm

from toposci._files import torch_save_atomic
from toposci.domains.base import DomainData, GenerativeDomain, get_domain, move_to
from toposci.models.topovae import LossTerms, TopoVAE
from toposci.topology.losses import TopoRegularizer
from toposci.training.config import Recipe, RegularizerConfig, recipe_from_dict

__all__ = ["TrainResult", "build_model", "load_run", "resolve_device", "train"]

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
CHECKPOINT_FILE = "checkpoint.pt"
METRICS_FILE = "metrics.csv"
_TERMS = LossTerms._fields  # ("loss", "reconstruction", "kl", "topo")
_COLUMNS = ("epoch", *(f"train_{t}" for t in _TERMS), *(f"val_{t}" for t in _TERMS), "beta",
            "seconds")


@dataclass
class TrainResult:
    """What a finished (or resumed and finished) run produced."""

    run_dir: Path
    model: TopoVAE
    history: list[dict[str, float]]
    device: torch.device


def resolve_device(spec: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as ``torch.device``."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {spec!r} asked for, but CUDA is not available here")
    return device


# --------------------------------------------------------------------------- the model


class _ViewProjection(nn.Module):
    """The encoder half of proposal B's initial autoencoder: views ``(B, F)`` -> ``(B, P)``."""

    def __init__(self, in_features: int, out_features: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.SiLU(),
                                 nn.Linear(hidden, out_features))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def _regularizer(cfg: RegularizerConfig, projection: nn.Module | None) -> TopoRegularizer:
    return TopoRegularizer(mode=cfg.mode, homology_weights=cfg.homology_weights,
                           filtration=cfg.filtration, k=cfg.k, vectorization=cfg.vectorization,
                           projection=projection, num_landscapes=cfg.num_landscapes,
                           resolution=cfg.resolution, normalize=cfg.normalize,
                           backend=cfg.backend)


def build_model(recipe: Recipe, domain: GenerativeDomain, *,
                view_features: int | None = None) -> TopoVAE:
    """The recipe's TopoVAE with freshly initialised parameters.

    Args:
        recipe: the checked recipe.
        domain: its domain.
        view_features: ``F`` of the domain's topology view; needed for
            ``regularizer.projection: autoencoder`` (the projection's input size).
    """
    reg_cfg = recipe.regularizer
    modes = ("none", "autoencoder")
    if reg_cfg.projection not in modes:
        raise ValueError(f"unknown regularizer.projection {reg_cfg.projection!r}; valid: "
                         f"{', '.join(modes)}")
    projection = None
    if reg_cfg.projection == "autoencoder":
        if view_features is None:
            raise ValueError("regularizer.projection 'autoencoder' needs view_features")
        projection = _ViewProjection(view_features, reg_cfg.projection_dim)
    return TopoVAE(
        domain.make_encoder(recipe.model.encoder),
        domain.make_decoder(recipe.model.decoder, recipe.model.latent_dim),
        latent_dim=recipe.model.latent_dim, io=domain,
        regularizer=_regularizer(reg_cfg, projection) if recipe.model.gamma > 0 else None,
        beta=recipe.model.beta, gamma=recipe.model.gamma,
    )


def _fit_projection(projection: nn.Module, views: Callable[[Tensor], Tensor], n: int,
                    view_features: int, recipe: Recipe, device: torch.device,
                    progress: bool) -> None:
    """Train ``projection`` as the encoder of an MLP autoencoder of the data views."""
    cfg = recipe.regularizer
    decoder = _ViewProjection(cfg.projection_dim, view_features).to(device)
    params = [*projection.parameters(), *decoder.parameters()]
    opt = torch.optim.Adam(params, lr=recipe.train.lr)
    g = torch.Generator().manual_seed(recipe.train.seed + 7919)
    bs = recipe.train.batch_size
    for epoch in range(cfg.projection_epochs):
        order = torch.randperm(n, generator=g)
        total = 0.0
        for s in tqdm(range(0, n, bs), desc=f"projection {epoch + 1}/{cfg.projection_epochs}",
                      disable=not progress, leave=False):
            x = views(order[s:s + bs])  # (B, F)
            loss = (decoder(projection(x)) - x).square().sum(dim=1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * x.shape[0]
        logger.info("projection autoencoder epoch %d: reconstruction %.4f", epoch + 1, total / n)
    projection.requires_grad_(False)


# --------------------------------------------------------------------------- checkpoints


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),  # noqa: NPY002
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _write_metrics(history: list[dict[str, float]], path: Path) -> None:
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=_COLUMNS)
        writer.writeheader()
        writer.writerows(history)
    os.replace(tmp, path)


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """A run's checkpoint, or a ValueError naming the file when it cannot be read."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # truncated, not a torch file, ...
        raise ValueError(f"{path} is not a readable checkpoint ({type(err).__name__}: {err}); "
                         "it may be truncated — retrain, or restore it from a copy") from err
    if not isinstance(ckpt, dict) or not {"model", "epoch", "recipe"} <= set(ckpt):
        raise ValueError(f"{path} is not a toposci training checkpoint")
    return ckpt


def load_run(run_dir: str | Path, *, device: str | torch.device = "cpu"
             ) -> tuple[Recipe, GenerativeDomain, TopoVAE, dict[str, Any]]:
    """The recipe, domain and trained model of a run directory (its latest checkpoint).

    Returns:
        ``(recipe, domain, model, checkpoint)``; the model is in eval mode on ``device``.
    """
    run_dir = Path(run_dir)
    ckpt_path = run_dir / CHECKPOINT_FILE
    if not ckpt_path.is_file():
        raise FileNotFoundError(f"{run_dir} has no {CHECKPOINT_FILE}; is it a training run "
                                "directory (made by `toposci train`)?")
    recipe = recipe_from_dict(yaml.safe_load((run_dir / CONFIG_FILE).read_text()),
                              where=str(run_dir / CONFIG_FILE))
    ckpt = _read_checkpoint(ckpt_path)
    domain = get_domain(recipe.domain)(recipe.data)
    model = build_model(recipe, domain, view_features=ckpt.get("view_features"))
    model.load_state_dict(ckpt["model"])
    return recipe, domain, model.to(device).eval(), ckpt


# --------------------------------------------------------------------------- training


def _epoch_order(n: int, seed: int, epoch: int) -> Tensor:
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def _batches(order: Tensor, batch_size: int, max_steps: int | None) -> list[Tensor]:
    """Consecutive slices of ``order``; a last slice of one sample joins the one before."""
    chunks = list(order.split(batch_size))
    if len(chunks) > 1 and chunks[-1].numel() < 2:
        chunks[-2] = torch.cat([chunks[-2], chunks.pop()])
    return chunks if max_steps is None else chunks[:max_steps]


def _mean_terms(sums: dict[str, float], count: int, prefix: str) -> dict[str, float]:
    return {f"{prefix}_{t}": sums[t] / max(count, 1) for t in _TERMS}


def train(recipe: Recipe, run_dir: str | Path, *, resume: bool = False, progress: bool = True,
          device: str | None = None) -> TrainResult:
    """Train a recipe's TopoVAE, writing ``run_dir`` as described in the module docstring.

    Args:
        recipe: the checked recipe.
        run_dir: the run directory; created if missing.
        resume: continue from ``run_dir``'s checkpoint (its recipe must equal ``recipe``).
        progress: show progress bars.
        device: overrides ``recipe.train.device``.

    Raises:
        FileExistsError: ``run_dir`` already has a checkpoint and ``resume`` is False.
        ValueError: the recipe differs from the one being resumed, or the loss stops being
            finite.
    """
    cfg = recipe.train
    run_dir = Path(run_dir)
    ckpt_path = run_dir / CHECKPOINT_FILE
    if ckpt_path.exists() and not resume:
        raise FileExistsError(f"{run_dir} already holds a run; pass --resume to continue it "
                              "or choose another --out")
    if resume and not ckpt_path.exists():
        raise FileNotFoundError(f"nothing to resume: {ckpt_path} does not exist")
    if cfg.epochs < 1 or cfg.batch_size < 2:
        raise ValueError("train.epochs must be >= 1 and train.batch_size >= 2")
    run_dir.mkdir(parents=True, exist_ok=True)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    dev = resolve_device(device or cfg.device)
    ckpt = _read_checkpoint(ckpt_path) if resume else None
    if ckpt is not None and _without_length(ckpt["recipe"]) != _without_length(recipe.to_dict()):
        raise ValueError(f"the recipe differs from the one {run_dir} was started with (only "
                         "train.epochs and train.time_budget_minutes may change on resume); "
                         f"use the run's own {CONFIG_FILE}")

    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)  # noqa: NPY002
    random.seed(cfg.seed)
    domain = get_domain(recipe.domain)(recipe.data)
    data = domain.load()
    n_train = len(data.train)
    if n_train < 2 or len(data.val) < 2:
        raise ValueError(f"need at least 2 training and 2 validation samples, got {n_train} "
                         f"and {len(data.val)}")

    def views(idx: Tensor) -> Tensor:
        return domain.data_view(move_to(domain.collate(data.train, idx), dev))

    view_features = views(torch.arange(2)).shape[1]
    model = build_model(recipe, domain, view_features=view_features).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    history: list[dict[str, float]] = []
    start = 0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        history, start = ckpt["history"], ckpt["epoch"]
        _set_rng_state(ckpt["rng"])
        logger.info("resuming %s after epoch %d", run_dir, start)
    else:
        reg = model.regularizer
        if reg is not None and reg.projection is not None:
            _fit_projection(reg.projection, views, n_train, view_features, recipe, dev,
                            progress)

    (run_dir / CONFIG_FILE).write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
    started = time.perf_counter()
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        if _out_of_time(cfg.time_budget_minutes, t0 - started, history, epoch > start):
            logger.warning("stopping after epoch %d of %d: the next epoch would end past the "
                           "time budget of %s minutes", epoch, cfg.epochs,
                           cfg.time_budget_minutes)
            break
        train_terms = _run_epoch(model, domain, data, epoch, recipe, dev, opt, progress)
        beta = model.beta  # at the end of the epoch (it rises during KL warm-up)
        val_terms = _validate(model, domain, data, recipe, dev)
        row = {"epoch": epoch + 1, **train_terms, **val_terms, "beta": beta,
               "seconds": time.perf_counter() - t0}
        history.append(row)
        torch_save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(),
                      "epoch": epoch + 1, "history": history, "rng": _rng_state(),
                      "recipe": recipe.to_dict(), "view_features": view_features}, ckpt_path)
        _write_metrics(history, run_dir / METRICS_FILE)
        logger.info("epoch %d/%d: train %.4f, val %.4f (%.1f s)", epoch + 1, cfg.epochs,
                    row["train_loss"], row["val_loss"], row["seconds"])
    model.beta = recipe.model.beta
    return TrainResult(run_dir, model.eval(), history, dev)


def _out_of_time(budget_minutes: float | None, elapsed: float,
                 history: list[dict[str, float]], ran_here: bool) -> bool:
    """Would one more epoch, as long as the last one, end past the budget?"""
    if budget_minutes is None or not ran_here:
        return False
    return elapsed + history[-1]["seconds"] > 60.0 * budget_minutes


def _without_length(recipe: dict[str, Any]) -> dict[str, Any]:
    """A recipe without the entries that only say how long to train (may change on resume)."""
    length = ("epochs", "time_budget_minutes")
    return {**recipe, "train": {k: v for k, v in recipe["train"].items() if k not in length}}


def _beta(recipe: Recipe, progress: float) -> float:
    """β after ``progress`` epochs: linear from 0 over ``kl_warmup_epochs`` (Bowman et al.,
    CoNLL 2016), then the recipe's value."""
    warm = recipe.train.kl_warmup_epochs
    return recipe.model.beta * (1.0 if warm <= 0 else min(1.0, progress / warm))


def _run_epoch(model: TopoVAE, domain: GenerativeDomain, data: DomainData, epoch: int,
               recipe: Recipe, dev: torch.device, opt: torch.optim.Optimizer,
               progress: bool) -> dict[str, float]:
    cfg = recipe.train
    model.train()
    batches = _batches(_epoch_order(len(data.train), cfg.seed, epoch), cfg.batch_size,
                       cfg.max_steps_per_epoch)
    sums = dict.fromkeys(_TERMS, 0.0)
    count = 0
    bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress,
               leave=False)
    for step, idx in enumerate(bar):
        model.beta = _beta(recipe, epoch + (step + 1) / len(batches))
        batch = move_to(domain.collate(data.train, idx), dev)
        terms = model(batch)
        if not torch.isfinite(terms.loss):
            parts = ", ".join(f"{t} {float(getattr(terms, t).detach()):.4g}" for t in _TERMS)
            raise ValueError(
                f"the loss is not finite at epoch {epoch + 1}, step {step + 1} ({parts}); lower "
                "train.lr or set train.grad_clip, then resume from the last checkpoint with "
                "--resume"
            )
        opt.zero_grad(set_to_none=True)
        terms.loss.backward()
        if cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        B = idx.numel()
        for t in _TERMS:
            sums[t] += float(getattr(terms, t).detach()) * B
        count += B
        bar.set_postfix(loss=f"{sums['loss'] / count:.3f}")
    return _mean_terms(sums, count, "train")


@torch.no_grad()
def _validate(model: TopoVAE, domain: GenerativeDomain, data: DomainData, recipe: Recipe,
              dev: torch.device) -> dict[str, float]:
    """Loss terms on the first ``val_batches`` batches of the validation set (fixed order)."""
    model.eval()
    cfg = recipe.train
    batches = _batches(torch.arange(len(data.val)), cfg.batch_size, cfg.val_batches)
    sums = dict.fromkeys(_TERMS, 0.0)
    count = 0
    state = torch.get_rng_state()  # validation noise must not shift the training RNG stream
    torch.manual_seed(cfg.seed)
    for idx in batches:
        terms = model(move_to(domain.collate(data.val, idx), dev))
        for t in _TERMS:
            sums[t] += float(getattr(terms, t)) * idx.numel()
        count += idx.numel()
    torch.set_rng_state(state)
    out = _mean_terms(sums, count, "val")
    if not all(math.isfinite(v) for v in out.values()):
        logger.warning("validation loss is not finite: %s", out)
    return out
