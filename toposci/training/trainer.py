"""The training loop of a recipe: seeded, checkpointed every epoch, resumable exactly.

A run directory holds:

* ``config.yaml`` — the resolved recipe (every default written out);
* ``checkpoint.pt`` — model, optimizer, RNG states, epoch and history, written atomically
  after every epoch;
* ``metrics.csv`` — one row per finished epoch (train and validation loss terms, β, seconds).

The recipe's ``model.kind`` picks the model, and the loop is the same for all three:

* ``vae``: a :class:`~toposci.models.TopoVAE` of the domain's encoder and decoder.
* ``diffusion``: a :class:`~toposci.models.TopoDiffusionLite` on the domain's tensor form
  (``domain.to_tensor``); the checkpoint records its ``sample_shape``. Its loss terms fill the
  same columns: ``reconstruction`` is the noise-prediction error, ``kl`` is 0 (and β too).
* ``latent_diffusion``: a TopoDiffusionLite over the codes of a trained TopoVAE run
  (``model.diffusion.vae_run``). The trainer reads that run once, encodes the training and
  validation sets into posterior means (with their topology views when γ > 0), keeps them in
  memory and trains on batches of codes. The checkpoint holds the VAE's weights (they are part
  of the model) and records its recipe (``vae``), so the run loads, samples and resumes without
  the VAE run.

The order of the training samples in epoch ``e`` comes from a generator seeded with
``(seed, e)``, and all other randomness (reparameterization and diffusion noise, diffusion
steps, dropout) from the global torch RNG, whose state is checkpointed. A run resumed from its
last checkpoint therefore continues exactly as if it had not stopped.

Under ``torchrun`` (see :mod:`toposci.training.distributed`) the same loop trains a
DistributedDataParallel model on ``W`` processes:

* ``train.batch_size`` is the global batch. Every rank computes the same epoch order and the
  same global batches and takes its consecutive part of each (sizes differ by at most one). A
  last batch too small to give each rank two samples (fewer than ``2 W``) joins the one before,
  as a last batch of one sample does in a single process. Each rank's loss is weighted by
  ``W B_r / B``, so that DDP's gradient average is the gradient of the global batch mean even
  when the parts differ in size.
* Each rank draws its own noise (reparameterization, diffusion noise and steps): rank 0
  continues the single-process stream, rank ``r > 0`` is seeded from ``(seed, r)``. Every
  rank's RNG state is checkpointed (``rng_ranks``), so a run resumed on the same number of
  processes continues exactly.
* The topological term is computed per rank on its local batch (``train.distributed_topology:
  local``) or on the global batch (``gather``: the regularizer's inputs are all-gathered with
  gradients, and for a TopoVAE the update equals the single-process one; a diffusion model's
  term then compares the union of the ranks' random sub-batches).
* Rank 0 alone validates (the single-process validation, unchanged), logs, shows progress
  bars and writes the run files; it reads the checkpoint on resume and sends it to the others,
  so the run directory need only be on rank 0's machine. Rank 0 also reads a latent diffusion's
  VAE run and sends it to the others; every rank encodes the whole data set itself.
"""

from __future__ import annotations

import csv
import logging
import math
import operator
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import yaml
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from toposci._files import torch_save_atomic
from toposci.domains.base import DomainData, GenerativeDomain, get_domain, move_to
from toposci.models.diffusion import TopoDiffusionLite, build_diffusion
from toposci.models.latent_diffusion import LatentCodes, build_latent_diffusion, encode_dataset
from toposci.models.topovae import LossTerms, TopoVAE
from toposci.topology.losses import TopoRegularizer
from toposci.training.config import (
    DISTRIBUTED_TOPOLOGY,
    MODEL_KINDS,
    Recipe,
    RegularizerConfig,
    recipe_from_dict,
)
from toposci.training.distributed import (
    DistContext,
    gather_topology_inputs,
    init_distributed,
    local_slice,
    rank_seed,
    resolve_device,
)

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
    model: TopoVAE | TopoDiffusionLite
    history: list[dict[str, float]]
    device: torch.device
    rank: int = 0  # this process's rank under torchrun (0 in a single process)


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


class _Inputs(NamedTuple):
    """What :func:`build_model` takes beyond the recipe (which kind needs what: see there)."""

    sample_shape: Sequence[int] | None
    vae: TopoVAE | None
    codes: LatentCodes | None


def build_model(recipe: Recipe, domain: GenerativeDomain, *, view_features: int | None = None,
                sample_shape: Sequence[int] | None = None, vae: TopoVAE | None = None,
                codes: LatentCodes | None = None) -> TopoVAE | TopoDiffusionLite:
    """The recipe's model (``model.kind``) with freshly initialised parameters.

    Args:
        recipe: the checked recipe.
        domain: its domain.
        view_features: ``F`` of the domain's topology view; needed for
            ``regularizer.projection: autoencoder`` (the projection's input size).
        sample_shape: kind ``diffusion``: the shape of ``domain.to_tensor`` of one sample.
        vae: kind ``latent_diffusion``: the trained TopoVAE (frozen by this call).
        codes: kind ``latent_diffusion``: the training set's codes, whose statistics
            standardise the diffused codes; None leaves them to a checkpoint's state.
    """
    kind = recipe.model.kind
    if kind not in _BUILDERS:
        raise ValueError(f"unknown model.kind {kind!r}; valid: {', '.join(_BUILDERS)}")
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
    regularizer = _regularizer(reg_cfg, projection) if recipe.model.gamma > 0 else None
    return _BUILDERS[kind](recipe, domain, regularizer, _Inputs(sample_shape, vae, codes))


def _build_vae(recipe: Recipe, domain: GenerativeDomain, regularizer: TopoRegularizer | None,
               inputs: _Inputs) -> TopoVAE:
    m = recipe.model
    return TopoVAE(domain.make_encoder(m.encoder), domain.make_decoder(m.decoder, m.latent_dim),
                   latent_dim=m.latent_dim, io=domain, regularizer=regularizer, beta=m.beta,
                   gamma=m.gamma)


def _diffusion_options(recipe: Recipe) -> dict[str, Any]:
    """The options both diffusion kinds take from ``model`` and ``model.diffusion``."""
    d = recipe.model.diffusion
    return {"gamma": recipe.model.gamma, "schedule": d.schedule, "timesteps": d.timesteps,
            "topo_batch": d.topo_batch, "topo_min_snr": d.topo_min_snr, "sampler": d.sampler,
            "sample_steps": d.sample_steps, "eta": d.eta, "clip": d.clip, "hidden": d.hidden,
            "time_dim": d.time_dim}


def _build_diffusion(recipe: Recipe, domain: GenerativeDomain,
                     regularizer: TopoRegularizer | None, inputs: _Inputs) -> TopoDiffusionLite:
    if inputs.sample_shape is None:
        raise ValueError("model.kind diffusion needs sample_shape, the shape of "
                         "domain.to_tensor of one sample")
    return build_diffusion(domain, tuple(inputs.sample_shape), regularizer=regularizer,
                           channels=recipe.model.diffusion.channels,
                           **_diffusion_options(recipe))


def _build_latent_diffusion(recipe: Recipe, domain: GenerativeDomain,
                            regularizer: TopoRegularizer | None,
                            inputs: _Inputs) -> TopoDiffusionLite:
    if inputs.vae is None:
        raise ValueError("model.kind latent_diffusion needs the trained TopoVAE (vae=)")
    return build_latent_diffusion(inputs.vae, inputs.codes, io=domain, regularizer=regularizer,
                                  **_diffusion_options(recipe))


_BUILDERS: dict[str, Callable[[Recipe, GenerativeDomain, TopoRegularizer | None, _Inputs],
                              TopoVAE | TopoDiffusionLite]] = {
    "vae": _build_vae, "diffusion": _build_diffusion,
    "latent_diffusion": _build_latent_diffusion}


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


# --------------------------------------------------------------------------- samples by model kind


@dataclass
class _Setup:
    """The samples a model trains on, and what it needs beyond the recipe.

    Attributes:
        train, val: the samples ``collate`` batches: the domain's own, or (latent diffusion)
            :class:`~toposci.models.LatentCodes` of them.
        collate: ``(samples, indices (B,)) -> batch``, the domain's or indexing.
        inputs: keyword arguments of :func:`build_model` (``sample_shape``, ``vae``, ``codes``).
        saved: checkpoint entries from which :func:`load_run` builds the model again.
    """

    train: Any
    val: Any
    collate: Callable[[Any, Tensor], Any]
    inputs: dict[str, Any] = field(default_factory=dict)
    saved: dict[str, Any] = field(default_factory=dict)


_VAE_PREFIX = "io.vae."  # a latent diffusion's state-dict keys of its TopoVAE


def _setup_vae(recipe: Recipe, domain: GenerativeDomain, data: DomainData, first: Any,
               ckpt: dict[str, Any] | None, ctx: DistContext, dev: torch.device) -> _Setup:
    return _Setup(data.train, data.val, domain.collate)


def _setup_diffusion(recipe: Recipe, domain: GenerativeDomain, data: DomainData, first: Any,
                     ckpt: dict[str, Any] | None, ctx: DistContext,
                     dev: torch.device) -> _Setup:
    shape = list(domain.to_tensor(first).shape[1:])  # (B, *S) -> S
    return _Setup(data.train, data.val, domain.collate, {"sample_shape": shape},
                  {"sample_shape": shape})


def _setup_latent_diffusion(recipe: Recipe, domain: GenerativeDomain, data: DomainData,
                            first: Any, ckpt: dict[str, Any] | None, ctx: DistContext,
                            dev: torch.device) -> _Setup:
    """Codes of the VAE run (rank 0 reads it), or on resume of the VAE in the checkpoint."""
    if ckpt is None:
        saved, state = ctx.run_on_main(lambda: _read_vae_run(recipe))
    else:
        saved = ckpt["vae"]
        state = {k[len(_VAE_PREFIX):]: v for k, v in ckpt["model"].items()
                 if k.startswith(_VAE_PREFIX)}
    vae = _vae_from(saved)
    _load_weights(vae, state, f"the TopoVAE of {saved['run']}")
    vae.to(dev).eval()
    views = recipe.model.gamma > 0
    logger.info("encoding %d + %d samples with the TopoVAE of %s", len(data.train),
                len(data.val), saved["run"])
    train, val = (_encode(vae, domain, samples, recipe.train.batch_size, dev, views=views)
                  for samples in (data.train, data.val))
    return _Setup(train, val, operator.getitem, {"vae": vae, "codes": train}, {"vae": saved})


_SETUPS: dict[str, Callable[..., _Setup]] = {
    "vae": _setup_vae, "diffusion": _setup_diffusion,
    "latent_diffusion": _setup_latent_diffusion}


def _read_vae_run(recipe: Recipe) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """The TopoVAE run named by ``model.diffusion.vae_run``: its record for the checkpoint
    (``run``, ``recipe``, ``view_features``) and its weights."""
    run = recipe.model.diffusion.vae_run
    if run is None or not (Path(run) / CHECKPOINT_FILE).is_file():
        raise FileNotFoundError(
            f"model.diffusion.vae_run: {run} is not a trained run (no {CHECKPOINT_FILE}); "
            f"train a TopoVAE recipe of the {recipe.domain} domain into it first: "
            f"`toposci train RECIPE --out {run}`")
    vae_recipe, _, vae, ckpt = load_run(run)
    if not isinstance(vae, TopoVAE):
        raise ValueError(f"model.diffusion.vae_run: {run} trained a {vae_recipe.model.kind} "
                         "model, not a TopoVAE")
    if vae_recipe.domain != recipe.domain:
        raise ValueError(f"model.diffusion.vae_run: {run} is a TopoVAE of the "
                         f"{vae_recipe.domain} domain, this recipe's is {recipe.domain}")
    if vae_recipe.data != recipe.data:
        theirs, ours = vars(vae_recipe.data), vars(recipe.data)
        logger.warning("the data options differ from those of the TopoVAE run %s (%s); the "
                       "diffusion model learns the codes of this recipe's data", run,
                       ", ".join(f"{k}: {theirs[k]!r} there, {ours[k]!r} here"
                                 for k in ours if ours[k] != theirs[k]))
    saved = {"run": str(run), "recipe": vae_recipe.to_dict(),
             "view_features": ckpt.get("view_features")}
    return saved, vae.state_dict()


def _load_weights(model: nn.Module, state: dict[str, Tensor], where: str) -> None:
    """``model.load_state_dict(state)``, or a ValueError naming ``where`` and the parameters
    that differ (a checkpoint written by another version of a network, or of another recipe)."""
    current = model.state_dict()
    missing = sorted(set(current) - set(state))
    unexpected = sorted(set(state) - set(current))
    wrong = sorted(k for k in set(current) & set(state) if current[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        parts = [f"{label} {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
                 for label, keys in (("missing", missing), ("unexpected", unexpected),
                                     ("of another shape", wrong)) if keys]
        raise ValueError(f"{where} does not fit the model its recipe builds ({'; '.join(parts)}):"
                         " it was written by another version of toposci or of the network; "
                         "train the run again")
    model.load_state_dict(state)


def _vae_from(saved: dict[str, Any]) -> TopoVAE:
    """An untrained TopoVAE of the recipe a latent diffusion records (``saved``)."""
    recipe = recipe_from_dict(saved["recipe"], where=f"TopoVAE recipe of {saved['run']}")
    domain = get_domain(recipe.domain)(recipe.data)
    return build_model(recipe, domain, view_features=saved["view_features"])


def _encode(vae: TopoVAE, domain: GenerativeDomain, samples: Any, batch_size: int,
            dev: torch.device, *, views: bool) -> LatentCodes:
    """Posterior means ``(N, d)`` of ``samples`` (and their data views ``(N, F)``), on the CPU
    like any other training samples."""
    chunks = torch.arange(len(samples)).split(batch_size)
    batches = (move_to(domain.collate(samples, idx), dev) for idx in chunks)
    return encode_dataset(vae, batches, io=domain if views else None).to("cpu")


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
             ) -> tuple[Recipe, GenerativeDomain, TopoVAE | TopoDiffusionLite, dict[str, Any]]:
    """The recipe, domain and trained model of a run directory (its latest checkpoint).

    A latent diffusion run needs no other run: its checkpoint holds the TopoVAE's weights and
    recipe.

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
    model = build_model(recipe, domain, view_features=ckpt.get("view_features"),
                        sample_shape=ckpt.get("sample_shape"),
                        vae=_vae_from(ckpt["vae"]) if "vae" in ckpt else None)
    _load_weights(model, ckpt["model"], str(ckpt_path))
    return recipe, domain, model.to(device).eval(), ckpt


# --------------------------------------------------------------------------- training


def _epoch_order(n: int, seed: int, epoch: int) -> Tensor:
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def _batches(order: Tensor, batch_size: int, max_steps: int | None, *,
             min_last: int = 2) -> list[Tensor]:
    """Consecutive slices of ``order``; a last slice of fewer than ``min_last`` samples joins
    the one before (2 in a single process, ``2 W`` on ``W`` processes: two per rank)."""
    chunks = list(order.split(batch_size))
    if len(chunks) > 1 and chunks[-1].numel() < min_last:
        last = chunks.pop()
        chunks[-1] = torch.cat([chunks[-1], last])
    return chunks if max_steps is None else chunks[:max_steps]


def _mean_terms(sums: dict[str, float], count: int, prefix: str) -> dict[str, float]:
    return {f"{prefix}_{t}": sums[t] / max(count, 1) for t in _TERMS}


def train(recipe: Recipe, run_dir: str | Path, *, resume: bool = False, progress: bool = True,
          device: str | None = None) -> TrainResult:
    """Train a recipe's model, writing ``run_dir`` as described in the module docstring.

    Runs unchanged in one process or under ``torchrun`` (one call per process; rank 0 writes
    ``run_dir``).

    Args:
        recipe: the checked recipe.
        run_dir: the run directory; created if missing.
        resume: continue from ``run_dir``'s checkpoint (its recipe must equal ``recipe``).
        progress: show progress bars (rank 0 only).
        device: overrides ``recipe.train.device``.

    Raises:
        FileExistsError: ``run_dir`` already has a checkpoint and ``resume`` is False.
        FileNotFoundError: a latent diffusion's ``model.diffusion.vae_run`` holds no run.
        ValueError: the recipe differs from the one being resumed, the global batch leaves a
            process fewer than two samples, the VAE run is not a TopoVAE of the recipe's
            domain, or the loss stops being finite.
    """
    cfg = recipe.train
    run_dir = Path(run_dir)
    if cfg.epochs < 1 or cfg.batch_size < 2:
        raise ValueError("train.epochs must be >= 1 and train.batch_size >= 2")
    if cfg.distributed_topology not in DISTRIBUTED_TOPOLOGY:
        raise ValueError(f"unknown train.distributed_topology {cfg.distributed_topology!r}; "
                         f"valid: {', '.join(DISTRIBUTED_TOPOLOGY)}")
    if recipe.model.kind not in MODEL_KINDS:
        raise ValueError(f"unknown model.kind {recipe.model.kind!r}; valid: "
                         f"{', '.join(MODEL_KINDS)}")
    ctx, dev = init_distributed(device or cfg.device)
    with ctx.main_logging():
        return _train(recipe, run_dir, ctx, dev, resume=resume,
                      progress=progress and ctx.is_main)


def _open_run(recipe: Recipe, run_dir: Path, resume: bool) -> dict[str, Any] | None:
    """Check ``run_dir`` for a new or resumed run, create it, return the checkpoint to resume."""
    ckpt_path = run_dir / CHECKPOINT_FILE
    if ckpt_path.exists() and not resume:
        raise FileExistsError(f"{run_dir} already holds a run; pass --resume to continue it "
                              "or choose another --out")
    if resume and not ckpt_path.exists():
        raise FileNotFoundError(f"nothing to resume: {ckpt_path} does not exist")
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        return None
    ckpt = _read_checkpoint(ckpt_path)
    # through the config classes, so that a key added since the run started takes its default
    saved = recipe_from_dict(ckpt["recipe"], where=f"{ckpt_path} recipe").to_dict()
    if _without_length(saved) != _without_length(recipe.to_dict()):
        raise ValueError(f"the recipe differs from the one {run_dir} was started with (only "
                         "train.epochs and train.time_budget_minutes may change on resume); "
                         f"use the run's own {CONFIG_FILE}")
    return ckpt


def _train(recipe: Recipe, run_dir: Path, ctx: DistContext, dev: torch.device, *,
           resume: bool, progress: bool) -> TrainResult:
    cfg = recipe.train
    W = ctx.world_size
    if cfg.batch_size < 2 * W:
        raise ValueError(f"train.batch_size is the global batch: {cfg.batch_size} cannot give "
                         f"each of {W} processes two samples")
    ckpt = ctx.run_on_main(lambda: _open_run(recipe, run_dir, resume))
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)

    _seed_all(cfg.seed)
    domain = get_domain(recipe.domain)(recipe.data)
    data = domain.load()
    n_train = len(data.train)
    if n_train < 2 * W or len(data.val) < 2:
        raise ValueError(f"need at least 2 training samples per process and 2 validation "
                         f"samples, got {n_train} and {len(data.val)} on {W} process(es)")

    first = move_to(domain.collate(data.train, torch.arange(2)), dev)
    view_features = domain.data_view(first).shape[1]
    setup = _SETUPS[recipe.model.kind](recipe, domain, data, first, ckpt, ctx, dev)
    model = build_model(recipe, domain, view_features=view_features, **setup.inputs).to(dev)

    def views(idx: Tensor) -> Tensor:
        return model.io.data_view(move_to(setup.collate(setup.train, idx), dev))

    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    history: list[dict[str, float]] = []
    start = 0
    if ckpt is not None:
        _load_weights(model, ckpt["model"], str(run_dir / CHECKPOINT_FILE))
        opt.load_state_dict(ckpt["optimizer"])
        history, start = ckpt["history"], ckpt["epoch"]
        _restore_rng(ckpt, ctx, cfg.seed)
        logger.info("resuming %s after epoch %d", run_dir, start)
    else:
        reg = model.regularizer
        if reg is not None and reg.projection is not None:
            _fit_projection(reg.projection, views, n_train, view_features, recipe, dev,
                            progress)
        if ctx.rank > 0:  # rank 0 continues the single-process stream
            _seed_all(rank_seed(cfg.seed, ctx.rank))

    net: nn.Module = model
    gather = None
    if ctx.enabled:  # DDP's constructor broadcasts rank 0's parameters to the other ranks
        net = DistributedDataParallel(model, device_ids=[dev] if dev.type == "cuda" else None)
        if cfg.distributed_topology == "gather" and model.regularizer is not None:
            gather = gather_topology_inputs(model.regularizer)
    if ctx.is_main:
        (run_dir / CONFIG_FILE).write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
    ckpt_path = run_dir / CHECKPOINT_FILE
    started = time.perf_counter()
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        # rank 0's clock decides, so that every rank stops after the same epoch
        if ctx.broadcast(_out_of_time(cfg.time_budget_minutes, t0 - started, history,
                                      epoch > start)):
            logger.warning("stopping after epoch %d of %d: the next epoch would end past the "
                           "time budget of %s minutes", epoch, cfg.epochs,
                           cfg.time_budget_minutes)
            break
        train_terms = _run_epoch(net, model, setup, epoch, recipe, dev, opt, progress, ctx)
        # at the end of the epoch (it rises during KL warm-up); a diffusion model has no KL
        beta = model.beta if isinstance(model, TopoVAE) else 0.0
        row = None
        if ctx.is_main:
            val_terms = _validate(model, setup, recipe, dev)
            row = {"epoch": epoch + 1, **train_terms, **val_terms, "beta": beta,
                   "seconds": time.perf_counter() - t0}
        row = ctx.broadcast(row)
        history.append(row)
        rng = ctx.all_gather_object(_rng_state())
        if ctx.is_main:
            state = {"model": model.state_dict(), "optimizer": opt.state_dict(),
                     "epoch": epoch + 1, "history": history, "rng": rng[0],
                     "recipe": recipe.to_dict(), "view_features": view_features,
                     **setup.saved}
            if ctx.enabled:
                state.update(rng_ranks=rng, world_size=W)
            torch_save_atomic(state, ckpt_path)
            _write_metrics(history, run_dir / METRICS_FILE)
        logger.info("epoch %d/%d: train %.4f, val %.4f (%.1f s)", epoch + 1, cfg.epochs,
                    row["train_loss"], row["val_loss"], row["seconds"])
    if gather is not None:
        gather.remove()
    ctx.barrier()  # every rank returns after rank 0 has written the last checkpoint
    if isinstance(model, TopoVAE):
        model.beta = recipe.model.beta
    return TrainResult(run_dir, model.eval(), history, dev, ctx.rank)


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)  # noqa: NPY002
    random.seed(seed)


def _restore_rng(ckpt: dict[str, Any], ctx: DistContext, seed: int) -> None:
    """Each rank's RNG state from the checkpoint; fresh seeds where it holds none for a rank."""
    states, saved_world = ckpt.get("rng_ranks"), ckpt.get("world_size", 1)
    if states is not None and len(states) == ctx.world_size:
        _set_rng_state(states[ctx.rank])
        return
    if saved_world != ctx.world_size:
        logger.warning("resuming a run of %d process(es) on %d: the batches are split "
                       "differently and the noise streams differ, so this is not the "
                       "uninterrupted run", saved_world, ctx.world_size)
    if ctx.rank == 0:
        _set_rng_state(ckpt["rng"])
    else:
        _seed_all(rank_seed(seed, ctx.rank, ckpt["epoch"]))


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


def _run_epoch(net: nn.Module, model: TopoVAE | TopoDiffusionLite, setup: _Setup, epoch: int,
               recipe: Recipe, dev: torch.device, opt: torch.optim.Optimizer, progress: bool,
               ctx: DistContext) -> dict[str, float]:
    """One epoch of ``net`` (``model`` itself, or its DDP wrapper); the global mean terms."""
    cfg = recipe.train
    W = ctx.world_size
    net.train()
    batches = _batches(_epoch_order(len(setup.train), cfg.seed, epoch), cfg.batch_size,
                       cfg.max_steps_per_epoch, min_last=2 * W)
    sums = dict.fromkeys(_TERMS, 0.0)
    count = 0
    bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress,
               leave=False)
    for step, idx in enumerate(bar):
        if isinstance(model, TopoVAE):
            model.beta = _beta(recipe, epoch + (step + 1) / len(batches))
        local = local_slice(idx, ctx.rank, W)
        terms = net(move_to(setup.collate(setup.train, local), dev))
        B = local.numel()
        # (4 terms x B, B) summed over ranks: the global batch's sums, the same on every rank
        totals = ctx.all_reduce_sum(torch.tensor(
            [float(getattr(terms, t).detach()) * B for t in _TERMS] + [B], dtype=torch.float64))
        if not math.isfinite(totals[0]):
            parts = ", ".join(f"{t} {float(totals[i] / totals[-1]):.4g}"
                              for i, t in enumerate(_TERMS))
            raise ValueError(
                f"the loss is not finite at epoch {epoch + 1}, step {step + 1} ({parts}); lower "
                "train.lr or set train.grad_clip, then resume from the last checkpoint with "
                "--resume"
            )
        opt.zero_grad(set_to_none=True)
        # DDP averages the ranks' gradients; weighted by W B_r / B, that average is the
        # gradient of the global batch mean
        loss = terms.loss * (W * B / idx.numel()) if ctx.enabled else terms.loss
        loss.backward()
        if cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        for i, t in enumerate(_TERMS):
            sums[t] += float(totals[i])
        count += int(totals[-1])
        bar.set_postfix(loss=f"{sums['loss'] / count:.3f}")
    return _mean_terms(sums, count, "train")


@torch.no_grad()
def _validate(model: TopoVAE | TopoDiffusionLite, setup: _Setup, recipe: Recipe,
              dev: torch.device) -> dict[str, float]:
    """Loss terms on the first ``val_batches`` batches of the validation set (fixed order)."""
    model.eval()
    cfg = recipe.train
    batches = _batches(torch.arange(len(setup.val)), cfg.batch_size, cfg.val_batches)
    sums = dict.fromkeys(_TERMS, 0.0)
    count = 0
    state = torch.get_rng_state()  # validation noise must not shift the training RNG stream
    torch.manual_seed(cfg.seed)
    for idx in batches:
        terms = model(move_to(setup.collate(setup.val, idx), dev))
        for t in _TERMS:
            sums[t] += float(getattr(terms, t)) * idx.numel()
        count += idx.numel()
    torch.set_rng_state(state)
    out = _mean_terms(sums, count, "val")
    if not all(math.isfinite(v) for v in out.values()):
        logger.warning("validation loss is not finite: %s", out)
    return out
