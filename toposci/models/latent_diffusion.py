"""Latent diffusion: TopoDiffusionLite over the codes of a trained TopoVAE, decoded by its decoder.

For domains whose samples are not tensors a diffusion model can noise (molecular graphs), the
diffusion runs in the latent space of a trained :class:`~toposci.models.TopoVAE` (Rombach et
al., CVPR 2022, with a VAE as the first stage):

1. :func:`encode_dataset` turns the training set into posterior means ``(N, d)`` (and, for the
   topological term, the domain's data views ``(N, F)``) — a :class:`LatentCodes`;
2. :func:`build_latent_diffusion` makes a :class:`~toposci.models.TopoDiffusionLite` whose
   :class:`LatentIO` standardises the codes (one shift per dimension, one scale for all, as
   Rombach et al. scale their latents) and decodes samples with the VAE's frozen decoder;
3. the usual training loop trains it on batches ``codes[idx]`` (``LatentCodes`` indexes like a
   tensor), and ``sample(n)`` returns the decoder's output, which the domain's ``generate``
   takes.

The topological term compares, in the domain's own view, the data batch with the decoded
intermediate reconstructions ``decoder(x~_0)`` (gradients pass through the frozen decoder).
The VAE is part of the model's state (its weights are saved with the diffusion model) but is
never trained: its parameters do not require gradients and it stays in eval mode.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from toposci.models.diffusion import TopoDiffusionLite, build_diffusion
from toposci.models.topovae import ModelIO, TopoVAE
from toposci.topology.losses import TopoRegularizer

__all__ = ["LatentCodes", "LatentIO", "build_latent_diffusion", "encode_dataset"]


@dataclass(frozen=True)
class LatentCodes:
    """Codes of ``N`` samples and, optionally, their topology views; indexes like a tensor.

    Attributes:
        codes: ``(N, d)`` posterior means.
        views: ``(N, F)`` the domain's data views of the same samples, or None.
    """

    codes: Tensor
    views: Tensor | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.codes, Tensor) or self.codes.ndim != 2 \
                or not self.codes.is_floating_point():
            raise ValueError("codes must be a float tensor (N, d)")
        if self.views is not None and (not isinstance(self.views, Tensor)
                                       or self.views.ndim != 2
                                       or self.views.shape[0] != self.codes.shape[0]):
            raise ValueError(f"views must be a tensor (N, F) with N = {self.codes.shape[0]}")

    def __len__(self) -> int:
        return self.codes.shape[0]

    def __getitem__(self, index: Tensor | slice | int) -> LatentCodes:
        """The codes (and views) at ``index``; an int keeps a batch dimension of 1."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return LatentCodes(self.codes[index],
                           None if self.views is None else self.views[index])

    def to(self, device: torch.device | str) -> LatentCodes:
        return LatentCodes(self.codes.to(device),
                           None if self.views is None else self.views.to(device))


@torch.no_grad()
def encode_dataset(vae: TopoVAE, batches: Iterable[Any], *,
                   io: ModelIO | None = None) -> LatentCodes:
    """Posterior means of every sample of ``batches`` (and their views when ``io`` is given).

    Args:
        vae: the trained model (put in eval mode here).
        batches: domain batches, e.g. ``domain.collate(data.train, idx)`` over chunks of indices,
            already on the VAE's device.
        io: the domain's :class:`~toposci.models.ModelIO`; its ``data_view`` of each batch is
            kept for the topological term.

    Returns:
        :class:`LatentCodes` ``(N, d)`` (and ``(N, F)``), on the VAE's device.

    Raises:
        ValueError: no batches, or codes that are not finite.
    """
    vae.eval()
    codes, views = [], []
    for batch in batches:
        codes.append(vae.posterior(batch)[0])  # (B, d)
        if io is not None:
            views.append(io.data_view(batch))  # (B, F)
    if not codes:
        raise ValueError("no batches to encode")
    out = LatentCodes(torch.cat(codes), torch.cat(views) if io is not None else None)
    if not bool(torch.isfinite(out.codes).all()):
        raise ValueError("the VAE's posterior means are not all finite")
    return out


class LatentIO(nn.Module):
    """:class:`~toposci.models.diffusion.DiffusionIO` of latent diffusion.

    ``to_tensor`` standardises a batch's codes, ``(z - shift) / scale``; ``from_tensor`` undoes
    it and decodes with the VAE's decoder; the views are the domain's (data views stored in the
    batch, the domain's ``output_view`` of the decoder's output).

    Args:
        vae: the trained model; frozen here (``requires_grad`` off, eval mode kept by
            :meth:`train`).
        io: the domain's :class:`~toposci.models.ModelIO` (only needed for the topological term).
        shift: ``(d,)`` subtracted from the codes (default 0).
        scale: the codes' common scale (default 1).

    Shapes:
        to_tensor(:class:`LatentCodes` of ``B``) -> ``(B, d)``; from_tensor ``(B, d)`` -> the
        decoder's output; views ``(B, F)``.
    """

    shift: Tensor
    scale: Tensor

    def __init__(self, vae: TopoVAE, *, io: ModelIO | None = None, shift: Tensor | None = None,
                 scale: float = 1.0) -> None:
        super().__init__()
        d = vae.latent_dim
        shift = torch.zeros(d) if shift is None else torch.as_tensor(shift).detach().float()
        if shift.shape != (d,) or not bool(torch.isfinite(shift).all()):
            raise ValueError(f"shift must be a finite tensor of shape ({d},), got "
                             f"{tuple(shift.shape)}")
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a finite number > 0, got {scale}")
        self.vae = vae.requires_grad_(False).eval()
        self.domain_io = io
        self.register_buffer("shift", shift.clone())
        self.register_buffer("scale", torch.tensor(float(scale)))

    def train(self, mode: bool = True) -> LatentIO:
        super().train(mode)
        self.vae.eval()
        return self

    def to_tensor(self, batch: LatentCodes) -> Tensor:
        if not isinstance(batch, LatentCodes):
            raise ValueError(f"latent diffusion batches are LatentCodes, got "
                             f"{type(batch).__name__}")
        return (batch.codes - self.shift) / self.scale  # (B, d)

    def from_tensor(self, x: Tensor) -> Any:
        return self.vae.decoder(x * self.scale + self.shift)  # (B, d) -> output

    def data_view(self, batch: LatentCodes) -> Tensor:
        if batch.views is None:
            raise ValueError("the topological term of latent diffusion needs the data views: "
                             "encode the data set with encode_dataset(..., io=domain)")
        return batch.views  # (B, F)

    def output_view(self, output: Any) -> Tensor:
        if self.domain_io is None:
            raise ValueError("the topological term of latent diffusion needs the domain's "
                             "ModelIO: LatentIO(vae, io=domain)")
        return self.domain_io.output_view(output)  # (B, F)


def build_latent_diffusion(vae: TopoVAE, codes: LatentCodes | None, *,
                           io: ModelIO | None = None,
                           regularizer: TopoRegularizer | None = None, gamma: float = 0.0,
                           schedule: str = "cosine", timesteps: int = 1000,
                           topo_batch: int = 64, topo_min_snr: float = 1.0,
                           sampler: str = "ddim", sample_steps: int | None = None,
                           eta: float = 0.0, clip: float | None = None,
                           hidden: Sequence[int] = (256, 256, 256),
                           time_dim: int = 128) -> TopoDiffusionLite:
    """A diffusion model over ``vae``'s codes, standardised by the statistics of ``codes``.

    Args:
        vae: the trained TopoVAE (frozen by this call).
        codes: the training set's codes (:func:`encode_dataset`); the shift is their mean per
            dimension, the scale their standard deviation over all entries. None: shift 0 and
            scale 1, for a model whose state (statistics included) is then loaded from a
            checkpoint.
        io: the domain's :class:`~toposci.models.ModelIO` (needed when ``gamma > 0``).
        regularizer, gamma, schedule, timesteps, topo_batch, topo_min_snr, sampler,
        sample_steps, eta, clip: as :class:`~toposci.models.TopoDiffusionLite` (``clip``
            bounds the standardised codes).
        hidden, time_dim: sizes of the :class:`~toposci.nn.MLPDenoiser`.

    Raises:
        ValueError: fewer than 2 codes, codes of the wrong width, or codes with no spread.
    """
    if gamma > 0 and io is None:
        raise ValueError("gamma > 0 needs the domain's ModelIO (io=) for the views")
    shift, scale = None, 1.0
    if codes is not None:
        z = codes.codes.detach()
        if z.shape[0] < 2 or z.shape[1] != vae.latent_dim:
            raise ValueError(f"need at least 2 codes of width {vae.latent_dim}, got "
                             f"{tuple(z.shape)}")
        shift = z.mean(dim=0)  # (d,)
        scale = float((z - shift).std())
        if not scale > 0:
            raise ValueError("the codes have no spread (every code is the same)")
    latent_io = LatentIO(vae, io=io, shift=None if shift is None else shift.cpu(), scale=scale)
    return build_diffusion(latent_io, (vae.latent_dim,), regularizer=regularizer, gamma=gamma,
                           schedule=schedule, timesteps=timesteps, topo_batch=topo_batch,
                           topo_min_snr=topo_min_snr, sampler=sampler,
                           sample_steps=sample_steps, eta=eta, clip=clip, hidden=hidden,
                           time_dim=time_dim)
