"""What a domain supplies to the generic generative models, and how domains are found by name.

A domain plugs into :class:`~toposci.models.TopoVAE` and the training loop through one
:class:`GenerativeDomain` subclass: it loads its data set, batches it, builds its default encoder
and decoder, scores reconstructions, gives the topology views of data and outputs, and turns
decoder outputs into samples it can check and write. Adding a domain means writing one such
class and one recipe naming it (``domain: mypackage.module:MyDomain``); nothing in
``toposci.topology`` or ``toposci.models`` changes.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from toposci.domains.validity import Validity, count_reasons

__all__ = ["DOMAINS", "DomainData", "Generated", "GenerativeDomain", "get_domain", "move_to"]

DOMAINS: dict[str, str] = {
    "molecules": "toposci.domains.generative.molecules:MoleculeDomain",
    "proteins": "toposci.domains.generative.proteins:ProteinDomain",
    "social": "toposci.domains.generative.social:SocialDomain",
    "images": "toposci.domains.generative.images:ImageDomain",
    "synthetic": "toposci.domains.generative.synthetic:SyntheticDomain",
}
"""The built-in domains by recipe name; a recipe may also name ``"module.path:ClassName"``."""


@dataclass
class DomainData:
    """A domain's training and validation samples.

    Attributes:
        train, val: the samples, in whatever form :meth:`GenerativeDomain.collate` takes.
        info: facts about the load for the run's record (source, counts, skipped items).
    """

    train: Sequence[Any]
    val: Sequence[Any]
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Generated:
    """Samples turned from decoder output into the domain's objects, each with its validity.

    Attributes:
        items: one object per sample (a decoded molecule, a coordinate array, an image ...).
        validity: one :class:`Validity` per item.
        correction: the decoding used, ``"none"`` for the raw decoder output.
        other_corrections: validity of the same samples under the domain's other decodings
            (``{correction: [Validity, ...]}``), so that raw and corrected validity are always
            reported side by side and never mixed.
    """

    items: list[Any]
    validity: list[Validity]
    correction: str = "none"
    other_corrections: dict[str, list[Validity]] = field(default_factory=dict)

    def validity_by_correction(self) -> dict[str, float]:
        """Valid fraction under every decoding computed, the one used first."""
        out = {self.correction: self.valid_fraction}
        for name, results in self.other_corrections.items():
            out[name] = sum(map(bool, results)) / max(len(results), 1)
        return out

    @property
    def valid_fraction(self) -> float:
        return sum(map(bool, self.validity)) / max(len(self.validity), 1)

    def reasons(self) -> dict[str, int]:
        return dict(count_reasons(self.validity))


class GenerativeDomain(ABC):
    """A domain's parts for the generic models (also the :class:`~toposci.models.ModelIO`).

    Subclasses set ``name`` and three dataclasses of options, which recipes fill in (an
    unknown key is an error): ``DataOptions`` (what to load), ``EncoderOptions`` and
    ``DecoderOptions`` (sizes of the default networks). The constructor stores the data options
    and does nothing else.

    Class attributes:
        corrections: the decodings :meth:`generate` accepts; ``"none"`` (raw output) first.
        sample_suffix: the default file suffix of :meth:`write_samples`.
    """

    name: ClassVar[str]
    DataOptions: ClassVar[type]
    EncoderOptions: ClassVar[type]
    DecoderOptions: ClassVar[type]
    corrections: ClassVar[tuple[str, ...]] = ("none",)
    sample_suffix: ClassVar[str] = ".npz"

    def __init__(self, options: Any) -> None:
        if not isinstance(options, self.DataOptions):
            raise ValueError(f"{type(self).__name__} needs {self.DataOptions.__name__}, got "
                             f"{type(options).__name__}")
        self.options = options

    # ------------------------------------------------------------------ data
    @abstractmethod
    def load(self) -> DomainData:
        """Read the data set named by the options and split it."""

    @abstractmethod
    def collate(self, items: Sequence[Any]) -> Any:
        """A batch of ``B`` samples, as the encoder and :meth:`reconstruction_loss` take it."""

    def batch_size(self, batch: Any) -> int:
        return batch.shape[0]

    # ------------------------------------------------------------------ networks
    @abstractmethod
    def make_encoder(self, options: Any) -> nn.Module:
        """The default encoder (``out_features`` attribute, batch -> ``(B, H)``)."""

    @abstractmethod
    def make_decoder(self, options: Any, latent_dim: int) -> nn.Module:
        """The default decoder, codes ``(B, latent_dim)`` -> output."""

    # ------------------------------------------------------------------ ModelIO
    @abstractmethod
    def reconstruction_loss(self, output: Any, batch: Any) -> Tensor:
        """``(B,)`` negative log-likelihood of each sample under the decoder output."""

    @abstractmethod
    def data_view(self, batch: Any) -> Tensor:
        """``(B, F)`` the batch in the space the topological regularizer compares in."""

    @abstractmethod
    def output_view(self, output: Any) -> Tensor:
        """``(B, F)`` a decoder output in the same space, differentiable."""

    # ------------------------------------------------------------------ diffusion
    def to_tensor(self, batch: Any) -> Tensor:
        """``(B, ...)`` the batch as the tensor a diffusion model noises."""
        raise ValueError(f"the {self.name} domain has no tensor form for diffusion; use "
                         "model.kind: latent_diffusion (diffusion over a trained TopoVAE's "
                         "codes)")

    def from_tensor(self, x: Tensor) -> Any:
        """Diffusion samples ``x (B, ...)`` as decoder output (what :meth:`generate` takes)."""
        raise ValueError(f"the {self.name} domain has no tensor form for diffusion")

    # ------------------------------------------------------------------ samples
    @abstractmethod
    def generate(self, output: Any, *, correction: str = "none") -> Generated:
        """Turn decoder output into domain objects and check each one."""

    @abstractmethod
    def write_samples(self, generated: Generated, path: Path) -> list[Path]:
        """Write samples in the domain's usual format; return the files written."""

    def sample_metrics(self, generated: Generated) -> dict[str, Any]:
        """Metrics of a set of samples beyond validity (none by default; domains add theirs)."""
        return {}

    def check_correction(self, correction: str) -> None:
        if correction not in self.corrections:
            raise ValueError(f"unknown correction {correction!r} for the {self.name} domain; "
                             f"valid: {', '.join(self.corrections)}")


def get_domain(name: str) -> type[GenerativeDomain]:
    """The domain class of a recipe's ``domain`` entry: a built-in name or ``module:Class``."""
    target = DOMAINS.get(name, name)
    if ":" not in target:
        raise ValueError(f"unknown domain {name!r}; built-in: {', '.join(DOMAINS)} (or give "
                         "'package.module:ClassName')")
    module_name, _, class_name = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"cannot load domain {target!r}: {err}") from err
    if not (isinstance(cls, type) and issubclass(cls, GenerativeDomain)):
        raise ValueError(f"{target!r} is not a GenerativeDomain subclass")
    return cls


def move_to(batch: Any, device: torch.device | str) -> Any:
    """A batch on ``device``: tensors and objects with ``.to`` (PyG ``Batch``) are moved,
    tuples, lists and dicts recursively (named tuples keep their type)."""
    if hasattr(batch, "to"):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: move_to(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(move_to(v, device) for v in batch))
    if isinstance(batch, list | tuple):
        return type(batch)(move_to(v, device) for v in batch)
    return batch
