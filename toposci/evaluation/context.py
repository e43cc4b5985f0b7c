"""A trained run opened for evaluation: its recipe, domain, model, data and prior samples.

Everything random here comes from the evaluation seed and a purpose name, so that a section
computed again (after a crash, or with ``--force``) sees the same samples and subsets.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from toposci.domains.base import DomainData, Generated, move_to
from toposci.evaluation.options import EvaluationOptions
from toposci.training.trainer import load_run

__all__ = ["PriorSamples", "RunContext", "missing_encoder"]

_LATENT_PARTS = ("encode", "posterior", "decoder")


def missing_encoder(model: Any, kind: str) -> str | None:
    """Why the latent-space metrics do not apply to ``model`` (None when they do): they need
    ``encode``, ``posterior`` and a latent ``decoder``, as a TopoVAE has and a diffusion model
    has not."""
    missing = [name for name in _LATENT_PARTS if not hasattr(model, name)]
    if missing:
        return (f"the {kind} model has no encoder and latent decoder (no "
                f"{', '.join(missing)}); interpolation, OOD scores and latent attacks need one")
    return None


@dataclass
class PriorSamples:
    """Samples decoded from prior draws.

    Attributes:
        outputs: the decoder outputs, one per batch (the domain's output form).
        generated: all samples as the domain's objects, uncorrected (``correction="none"``),
            with the validity under the domain's other decodings.
        views: ``(n, F)`` the outputs in the domain's output view.
    """

    outputs: list[Any]
    generated: Generated
    views: Tensor


class RunContext:
    """One run, loaded once for all sections of its evaluation.

    Args:
        run_dir: a directory made by ``toposci train``.
        options: the evaluation sizes and seed.
        device: where the model runs.
    """

    def __init__(self, run_dir: str | Path, options: EvaluationOptions, *,
                 device: str = "cpu") -> None:
        self.run_dir = Path(run_dir)
        self.options = options
        self.device = torch.device(device)
        self.recipe, self.domain, self.model, _ = load_run(run_dir, device=device)

    # ------------------------------------------------------------------ what the model has
    @property
    def no_encoder_reason(self) -> str | None:
        """Why the latent-space metrics do not apply (None when they do)."""
        return missing_encoder(self.model, self.recipe.model.kind)

    # ------------------------------------------------------------------ data
    @functools.cached_property
    def data(self) -> DomainData:
        return self.domain.load()

    def generator(self, purpose: str) -> torch.Generator:
        """A CPU generator seeded by the evaluation seed and ``purpose``."""
        return torch.Generator().manual_seed(self.options.seed * 1_000_003
                                             + zlib.crc32(purpose.encode()))

    def pick(self, n_items: int, n: int, purpose: str) -> Tensor:
        """``min(n, n_items)`` distinct indices of ``0 .. n_items - 1``, seeded, in draw
        order."""
        return torch.randperm(n_items, generator=self.generator(purpose))[:n]

    def collate(self, samples: Sequence[Any], indices: Tensor) -> Any:
        """The samples at ``indices`` as one batch on the model's device."""
        return move_to(self.domain.collate(samples, indices), self.device)

    def batches(self, samples: Sequence[Any], indices: Tensor) -> Iterator[Any]:
        """The samples at ``indices``, collated in batches of ``options.batch_size``, on the
        model's device."""
        for chunk in indices.split(self.options.batch_size):
            yield self.collate(samples, chunk)

    def data_views(self, samples: Sequence[Any], indices: Tensor) -> Tensor:
        """``(n, F)`` data views of the samples at ``indices``."""
        return torch.cat([self.domain.data_view(b) for b in self.batches(samples, indices)])

    # ------------------------------------------------------------------ prior samples
    @functools.cached_property
    def samples(self) -> PriorSamples:
        """``options.samples`` samples of the model at the recipe's temperature."""
        n, size = self.options.samples, self.options.batch_size
        g = self.generator("prior samples")
        outputs, parts = [], []
        with torch.no_grad():
            for start in range(0, n, size):
                output = self.model.sample(min(size, n - start),
                                           temperature=self.recipe.sample.temperature,
                                           generator=g)
                outputs.append(output)
                parts.append(self.domain.generate(output))
        generated = Generated(
            [x for p in parts for x in p.items], [v for p in parts for v in p.validity], "none",
            {name: [v for p in parts for v in p.other_corrections[name]]
             for name in parts[0].other_corrections})
        views = torch.cat([self.domain.output_view(o) for o in outputs]).detach().cpu()
        return PriorSamples(outputs, generated, views)
