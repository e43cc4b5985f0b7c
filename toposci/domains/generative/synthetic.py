"""The synthetic domain: points of a space with known Betti numbers, MLP encoder and decoder.

Each sample is one point of the space (a torus in R^3 by default); a training batch is a point
cloud, so the latent-mode regularizer asks the latent batch to keep the batch's loops and voids
(the setting of topological autoencoders). Validity of one sample is only that its coordinates
are finite; the topology of a generated *set* is checked by :meth:`SyntheticDomain.betti_check`
against the space's known Betti numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from toposci.domains.base import DomainData, Generated, GenerativeDomain
from toposci.domains.synthetic import (
    KNOWN_BETTI,
    sample_circle,
    sample_sphere,
    sample_swiss_roll,
    sample_torus,
    sample_two_circles,
)
from toposci.domains.validity import Validity
from toposci.models.topovae import TensorIO
from toposci.nn.mlp import MLP

__all__ = ["SyntheticData", "SyntheticDomain", "SyntheticNetwork"]

_SAMPLERS = {
    "circle": lambda n, noise, seed: sample_circle(n, noise=noise, seed=seed),
    "two_circles": lambda n, noise, seed: sample_two_circles(n, noise=noise, seed=seed)[0],
    "torus": lambda n, noise, seed: sample_torus(n, noise=noise, seed=seed),
    "sphere": lambda n, noise, seed: sample_sphere(n, noise=noise, seed=seed),
    "swiss_roll": lambda n, noise, seed: sample_swiss_roll(n, noise=noise, seed=seed)[0],
}


@dataclass
class SyntheticData:
    """Which space, how many points (``val_fraction`` of them held out), noise and seed."""

    space: str = "torus"
    n: int = 4000
    noise: float = 0.05
    val_fraction: float = 0.1
    seed: int = 0


@dataclass
class SyntheticNetwork:
    hidden: tuple[int, ...] = (128, 128)


class SyntheticDomain(GenerativeDomain):
    """Point samples of a known space (see the module docstring)."""

    name = "synthetic"
    DataOptions = SyntheticData
    EncoderOptions = SyntheticNetwork
    DecoderOptions = SyntheticNetwork

    def __init__(self, options: SyntheticData) -> None:
        super().__init__(options)
        self._tensors = TensorIO()

    def load(self) -> DomainData:
        opts = self.options
        if opts.space not in _SAMPLERS:
            raise ValueError(f"unknown space {opts.space!r}; valid: {', '.join(_SAMPLERS)}")
        if not 0 < opts.val_fraction < 1:
            raise ValueError(f"val_fraction must lie in (0, 1), got {opts.val_fraction}")
        points = _SAMPLERS[opts.space](opts.n, opts.noise, opts.seed)  # (n, D)
        n_val = max(2, round(opts.val_fraction * opts.n))
        if opts.n - n_val < 2:
            raise ValueError(f"n={opts.n} leaves fewer than 2 training points")
        return DomainData(train=points[n_val:], val=points[:n_val],
                          info={"space": opts.space, "known_betti": KNOWN_BETTI[opts.space]})

    def collate(self, samples: Tensor, indices: Tensor) -> Tensor:
        return samples[indices]  # (B, D)

    @property
    def dim(self) -> int:
        """``D``, the ambient dimension of the space."""
        return _SAMPLERS[self.options.space](1, 0.0, 0).shape[1]

    def make_encoder(self, options: SyntheticNetwork) -> nn.Module:
        out = options.hidden[-1] if options.hidden else self.dim
        return MLP(self.dim, options.hidden[:-1], out)

    def make_decoder(self, options: SyntheticNetwork, latent_dim: int) -> nn.Module:
        return MLP(latent_dim, options.hidden, self.dim)

    def reconstruction_loss(self, output: Tensor, batch: Tensor) -> Tensor:
        return self._tensors.reconstruction_loss(output, batch)

    def data_view(self, batch: Tensor) -> Tensor:
        return self._tensors.data_view(batch)

    def output_view(self, output: Tensor) -> Tensor:
        return self._tensors.output_view(output)

    def to_tensor(self, batch: Tensor) -> Tensor:
        return batch  # (B, D)

    def from_tensor(self, x: Tensor) -> Tensor:
        return x  # (B, D)

    def generate(self, output: Tensor, *, correction: str = "none") -> Generated:
        self.check_correction(correction)
        points = output.detach().float().cpu()  # (B, D)
        finite = torch.isfinite(points).all(dim=1).tolist()
        return Generated(list(points), [
            Validity.ok() if ok else Validity.fail("non_finite", "a coordinate is NaN or inf")
            for ok in finite], correction)

    def write_samples(self, generated: Generated, path: Path) -> list[Path]:
        """``path`` (.npz): ``points (n, D)`` and ``valid (n,)``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, points=torch.stack(generated.items).numpy(),
                 valid=np.array([bool(v) for v in generated.validity]))
        return [path]

    def sample_metrics(self, generated: Generated) -> dict[str, Any]:
        """The Betti check of the valid samples (see :meth:`betti_check`)."""
        points = [p for p, ok in zip(generated.items, generated.validity, strict=True) if ok]
        if len(points) < 3:
            return {}
        return {"betti": self.betti_check(torch.stack(points))}

    def betti_check(self, points: Tensor, *, n_points: int = 1000, seed: int = 0,
                    min_persistence: float | None = None) -> dict[str, Sequence[int]]:
        """Betti numbers (b0, b1) of a generated cloud next to the space's known ones.

        A bar counts when its persistence exceeds ``min_persistence`` (default: 15% of the
        cloud's diameter), on the Rips filtration of ``n_points`` points drawn at random.

        Returns:
            ``{"found": (b0, b1), "known": (b0, b1)}``.
        """
        from toposci.testing import count_bars
        from toposci.topology.rips import rips_diagrams

        if points.ndim != 2 or points.shape[0] < 3 or not torch.isfinite(points).all():
            raise ValueError("points must be a finite (n >= 3, D) tensor")
        g = torch.Generator().manual_seed(seed)
        pick = torch.randperm(points.shape[0], generator=g)[:n_points]
        cloud = points[pick].double()
        if min_persistence is None:
            min_persistence = 0.15 * float(torch.cdist(cloud, cloud).max())
        diagrams = rips_diagrams(cloud, homology_dims=(0, 1))
        found = tuple(count_bars(diagrams[d], min_persistence)[0] for d in (0, 1))
        return {"found": found, "known": KNOWN_BETTI[self.options.space][:2]}
