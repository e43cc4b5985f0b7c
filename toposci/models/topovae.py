"""TopoVAE: a variational autoencoder with a topological regularizer, generic over its parts.

The loss of a batch is ``L = mean(L_rec) + beta * mean(KL(q(z|x) || N(0, I))) + gamma * L_topo``

with the regularizer in either mode of :class:`~toposci.topology.TopoRegularizer`. ``gamma = 0``
(or no regularizer) is the plain VAE baseline and ``beta != 1`` the β-VAE baseline: the same
code path, with the topological term not even computed when its weight is zero.

The model knows nothing about molecules, proteins or images. What a domain must supply is the
small :class:`ModelIO` protocol (reconstruction loss and the two topology views); without one,
batches are plain tensors ``(B, ...)`` decoded to the same shape (:class:`TensorIO`).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Protocol

import torch
from torch import Tensor, nn

from toposci.topology.losses import TopoRegularizer

__all__ = ["LossTerms", "ModelIO", "TensorIO", "TopoVAE"]


class ModelIO(Protocol):
    """What :class:`TopoVAE` needs to know about a domain's batches and decoder outputs."""

    def batch_size(self, batch: Any) -> int:
        """``B``, the number of samples in a batch."""

    def reconstruction_loss(self, output: Any, batch: Any) -> Tensor:
        """``(B,)`` negative log-likelihood of each sample of ``batch`` under ``output``."""

    def data_view(self, batch: Any) -> Tensor:
        """``(B, F)`` the batch as vectors, the space the topological regularizer compares in."""

    def output_view(self, output: Any) -> Tensor:
        """``(B, F)`` a decoder output in the space of :meth:`data_view`, differentiable."""


class TensorIO:
    """:class:`ModelIO` of plain tensors: squared-error likelihood, flattened views.

    Shapes:
        batches and outputs ``(B, ...)`` of one shape; views ``(B, F)``.
    """

    def batch_size(self, batch: Tensor) -> int:
        return batch.shape[0]

    def reconstruction_loss(self, output: Tensor, batch: Tensor) -> Tensor:
        if output.shape != batch.shape:
            raise ValueError(f"decoder output {tuple(output.shape)} and batch "
                             f"{tuple(batch.shape)} differ in shape")
        return (output - batch).square().flatten(1).sum(dim=1)  # (B,)

    def data_view(self, batch: Tensor) -> Tensor:
        return batch.flatten(1)  # (B, F)

    def output_view(self, output: Tensor) -> Tensor:
        return output.flatten(1)  # (B, F)


class LossTerms(NamedTuple):
    """One batch's loss and its parts (scalars, batch means; ``topo`` is 0 when not computed)."""

    loss: Tensor
    reconstruction: Tensor
    kl: Tensor
    topo: Tensor


class TopoVAE(nn.Module):
    """A VAE whose loss may carry a differentiable topological term.

    Args:
        encoder: module mapping a batch to features ``(B, H)``; it must have ``out_features``
            (``H``) unless ``encoder_features`` is given.
        decoder: module mapping codes ``(B, latent_dim)`` to the domain's output.
        latent_dim: ``d``, the latent size.
        io: the domain's :class:`ModelIO`; default :class:`TensorIO`.
        regularizer: the topological term; ``mode="latent"`` compares the data view with the
            posterior means, ``mode="reconstruction"`` with the output view of the
            reconstruction (decoded from the posterior samples).
        beta: weight of the KL term.
        gamma: weight of the topological term; 0 switches it off.
        encoder_features: ``H`` when the encoder has no ``out_features`` attribute.

    Shapes:
        encode(batch) -> ``(B, d)``; decode ``(B, d)`` -> output; sample(n) -> output of ``n``.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, *, latent_dim: int,
                 io: ModelIO | None = None, regularizer: TopoRegularizer | None = None,
                 beta: float = 1.0, gamma: float = 0.0,
                 encoder_features: int | None = None) -> None:
        super().__init__()
        features = encoder_features if encoder_features is not None else getattr(
            encoder, "out_features", None)
        if not isinstance(features, int) or features < 1:
            raise ValueError("the encoder needs an int attribute out_features, or pass "
                             "encoder_features=")
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        for name, value in (("beta", beta), ("gamma", gamma)):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if gamma > 0 and regularizer is None:
            raise ValueError(f"gamma={gamma} needs a regularizer (a TopoRegularizer)")
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = latent_dim
        self.io = TensorIO() if io is None else io
        self.regularizer = regularizer
        self.beta = float(beta)
        self.gamma = float(gamma)
        self.to_mean = nn.Linear(features, latent_dim)
        self.to_logvar = nn.Linear(features, latent_dim)

    def posterior(self, batch: Any) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of ``q(z | x)``, each ``(B, d)``."""
        h = self.encoder(batch)  # (B, H)
        return self.to_mean(h), self.to_logvar(h).clamp(-20.0, 10.0)

    def forward(self, batch: Any) -> LossTerms:
        """The loss of one batch and its terms (reparameterized sample of ``q(z | x)``)."""
        mean, logvar = self.posterior(batch)  # (B, d), (B, d)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()  # (B, d)
        output = self.decoder(z)
        reconstruction = self.io.reconstruction_loss(output, batch).mean()
        kl = 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar).sum(dim=1).mean()
        topo = reconstruction.new_zeros(())
        if self.gamma > 0:
            topo = self.topological_term(batch, mean, output)
        loss = reconstruction + self.beta * kl + self.gamma * topo
        return LossTerms(loss, reconstruction, kl, topo)

    def topological_term(self, batch: Any, mean: Tensor, output: Any) -> Tensor:
        """``L_topo`` of a batch, its posterior means ``(B, d)`` and its decoded output."""
        if self.regularizer is None:
            raise ValueError("this TopoVAE has no regularizer")
        data = self.io.data_view(batch)  # (B, F)
        if self.regularizer.mode == "latent":
            return self.regularizer(data, latent=mean)
        return self.regularizer(data, reconstruction=self.io.output_view(output))

    @torch.inference_mode()
    def encode(self, batch: Any) -> Tensor:
        """Posterior means ``(B, d)``."""
        return self.posterior(batch)[0]

    @torch.inference_mode()
    def decode(self, z: Tensor) -> Any:
        """The decoder's output for codes ``z`` ``(B, d)``."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        return self.decoder(z)

    @torch.inference_mode()
    def reconstruct(self, batch: Any) -> Any:
        """Decode the posterior means of a batch."""
        return self.decoder(self.posterior(batch)[0])

    @torch.inference_mode()
    def sample(self, n: int, *, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> Any:
        """Decode ``n`` codes drawn from the prior ``N(0, temperature^2 I)``.

        A temperature below 1 trades diversity for validity (MoFlow samples QM9 at 0.85); the
        value used must be reported with any metric.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        device = self.to_mean.weight.device
        z = torch.randn(n, self.latent_dim, generator=generator,
                        device="cpu" if generator is None else generator.device)
        return self.decoder(temperature * z.to(device))
