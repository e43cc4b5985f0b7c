"""The image domain: MNIST digits, CNN encoder, transposed-convolution decoder, Bernoulli pixels.

* **Samples.** 28 x 28 grey images in ``[0, 1]`` (:func:`~toposci.domains.images.load_mnist`),
  batched as ``(B, 1, 28, 28)``. Training images come from the train split, validation images
  from the official test split (the standard one); ``digits`` keeps some classes only, ``limit``
  and ``val_limit`` take seeded random subsets.
* **Networks.** :class:`~toposci.nn.CNNEncoder` and :class:`~toposci.nn.DeconvDecoder`; the
  decoder emits logits.
* **Loss.** Bernoulli negative log-likelihood of the pixels, summed over the image: binary
  cross-entropy with logits against the grey values (the usual VAE-on-MNIST choice; with
  non-binary targets it is a cross-entropy rather than a normalised likelihood).
* **Topology view.** Flattened pixels ``(B, 784)``; decoder outputs as ``sigmoid(logits)``.
* **Samples.** ``sigmoid(logits)`` checked by :func:`~toposci.domains.images.image_validity`
  (finite, in ``[0, 1]``, some pixel above 0.5). :meth:`ImageDomain.write_samples` writes an
  ``.npz`` of uint8 images and a PNG grid of the first 64.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from toposci.domains.base import DomainData, Generated, GenerativeDomain
from toposci.domains.images import image_validity, load_mnist
from toposci.nn.image import CNNEncoder, DeconvDecoder

__all__ = ["IMAGE_SIZE", "ImageData", "ImageDecoder", "ImageDomain", "ImageEncoder",
           "image_grid"]

IMAGE_SIZE = 28
"""Side of the images (MNIST)."""


@dataclass
class ImageData:
    """What to load.

    Attributes:
        path: folder with the MNIST IDX files (``train-images-idx3-ubyte[.gz]`` ...); None for
            the shipped sample. A relative path is resolved against the current directory.
        digits: keep only these digit classes; None keeps all.
        limit: keep a seeded random subset of at most this many training images.
        val_limit: the same for the validation (test-split) images.
        seed: seed of the subsets.
    """

    path: str | None = None
    digits: tuple[int, ...] | None = None
    limit: int | None = None
    val_limit: int | None = None
    seed: int = 0


@dataclass
class ImageEncoder:
    channels: tuple[int, ...] = (32, 64)
    out_features: int = 128


@dataclass
class ImageDecoder:
    channels: tuple[int, ...] = (64, 32)


def image_grid(images: np.ndarray, *, columns: int = 8, padding: int = 2) -> np.ndarray:
    """Tile images into one picture, row by row, with a black border between them.

    Args:
        images: ``(n, H, W)`` uint8 images, ``n >= 1``.
        columns: images per row.
        padding: pixels between images and around the grid.

    Returns:
        ``(rows * (H + p) + p, columns * (W + p) + p)`` uint8, ``rows = ceil(n / columns)``.
    """
    if images.ndim != 3 or images.shape[0] == 0:
        raise ValueError(f"images must be a non-empty (n, H, W) array, got {images.shape}")
    n, H, W = images.shape
    columns = min(columns, n)
    rows = -(-n // columns)
    grid = np.zeros((rows * (H + padding) + padding, columns * (W + padding) + padding),
                    dtype=np.uint8)
    for k, image in enumerate(images):
        r, c = divmod(k, columns)
        top, left = padding + r * (H + padding), padding + c * (W + padding)
        grid[top : top + H, left : left + W] = image
    return grid


class ImageDomain(GenerativeDomain):
    """MNIST-style digit images (see the module docstring)."""

    name = "images"
    DataOptions = ImageData
    EncoderOptions = ImageEncoder
    DecoderOptions = ImageDecoder

    # ------------------------------------------------------------------ data
    def load(self) -> DomainData:
        opts = self.options
        if opts.path is not None and not Path(opts.path).is_dir():
            raise ValueError(f"data.path {opts.path} is not a folder; give the folder with the "
                             "MNIST IDX files (train-images-idx3-ubyte[.gz] ...), or null for "
                             "the shipped sample")
        if opts.digits is not None and (not opts.digits or
                                        any(not 0 <= d <= 9 for d in opts.digits)):
            raise ValueError(f"data.digits must be a non-empty list of digits 0-9, got "
                             f"{list(opts.digits)}")
        g = torch.Generator().manual_seed(opts.seed)
        parts, counts = {}, {}
        for split, limit in (("train", opts.limit), ("test", opts.val_limit)):
            images, labels = load_mnist(opts.path, split)  # (n, 1, 28, 28), (n,)
            if images.shape[1:] != (1, IMAGE_SIZE, IMAGE_SIZE):
                raise ValueError(f"{split} images have shape {tuple(images.shape[1:])}, the "
                                 f"image domain needs (1, {IMAGE_SIZE}, {IMAGE_SIZE})")
            if opts.digits is not None:
                keep = torch.isin(labels, torch.tensor(opts.digits))
                images, labels = images[keep], labels[keep]
            counts[f"n_{split}_before_limit"] = images.shape[0]
            if limit is not None and images.shape[0] > limit:
                if limit < 2:
                    raise ValueError(f"data limits must keep at least 2 images, got {limit}")
                keep = torch.randperm(images.shape[0], generator=g)[:limit].sort().values
                images, labels = images[keep], labels[keep]
            if images.shape[0] < 2:
                raise ValueError(f"only {images.shape[0]} {split} images of digits "
                                 f"{list(opts.digits or range(10))}; choose other data.digits "
                                 "or a larger data set")
            parts[split] = images
            counts[f"{split}_digit_counts"] = torch.bincount(labels, minlength=10).tolist()
        return DomainData(train=parts["train"], val=parts["test"], info={
            "source": opts.path or "shipped sample", "n_train": parts["train"].shape[0],
            "n_val": parts["test"].shape[0], "digits": list(opts.digits or range(10)), **counts,
        })

    def collate(self, samples: Tensor, indices: Tensor) -> Tensor:
        return samples[indices]  # (B, 1, 28, 28)

    # ------------------------------------------------------------------ networks
    def make_encoder(self, options: ImageEncoder) -> nn.Module:
        return CNNEncoder(1, IMAGE_SIZE, channels=options.channels,
                          out_features=options.out_features)

    def make_decoder(self, options: ImageDecoder, latent_dim: int) -> nn.Module:
        return DeconvDecoder(latent_dim, IMAGE_SIZE, 1, channels=options.channels)

    # ------------------------------------------------------------------ ModelIO
    def reconstruction_loss(self, output: Tensor, batch: Tensor) -> Tensor:
        """``(B,)`` binary cross-entropy of logits ``output`` against ``batch``, summed over
        pixels; both ``(B, 1, 28, 28)``."""
        _check_images(output, "decoder output")
        _check_images(batch, "batch")
        if output.shape != batch.shape:
            raise ValueError(f"decoder output {tuple(output.shape)} and batch "
                             f"{tuple(batch.shape)} differ in shape")
        bce = nn.functional.binary_cross_entropy_with_logits(output, batch, reduction="none")
        return bce.flatten(1).sum(dim=1)  # (B, 1, 28, 28) -> (B,)

    def data_view(self, batch: Tensor) -> Tensor:
        return batch.flatten(1)  # (B, 1, 28, 28) -> (B, 784)

    def output_view(self, output: Tensor) -> Tensor:
        return torch.sigmoid(output).flatten(1)  # (B, 1, 28, 28) -> (B, 784)

    def to_tensor(self, batch: Tensor) -> Tensor:
        """``(B, 1, 28, 28)`` pixels scaled from [0, 1] to [-1, 1] (Ho et al., NeurIPS 2020)."""
        _check_images(batch, "batch")
        return 2.0 * batch - 1.0

    def from_tensor(self, x: Tensor) -> Tensor:
        """Logits of samples ``x`` in [-1, 1]: ``logit((x + 1) / 2)``, pixels clamped to
        [1e-4, 1 - 1e-4] (the decoder outputs of this domain are logits)."""
        return torch.logit((x + 1.0) / 2.0, eps=1e-4)

    # ------------------------------------------------------------------ samples
    def generate(self, output: Tensor, *, correction: str = "none") -> Generated:
        """``sigmoid(logits)`` images ``(28, 28)``, each checked by ``image_validity``."""
        self.check_correction(correction)
        _check_images(output, "decoder output", finite=False)
        images = torch.sigmoid(output.detach().float().cpu())[:, 0]  # (B, 28, 28)
        return Generated(list(images), [image_validity(x) for x in images], correction)

    def write_samples(self, generated: Generated, path: Path) -> list[Path]:
        """``path`` (.npz): ``images (n, 28, 28)`` uint8 (``round(255 p)``, non-finite
        pixels as 0), ``valid (n,)``, ``reason (n,)``; beside it ``<stem>_grid.png``, the
        first 64 images in an 8 x 8 grid."""
        from matplotlib.image import imsave

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        probs = torch.stack(generated.items).nan_to_num(0.0, 0.0, 0.0).clamp(0.0, 1.0)
        images = (probs * 255.0).round().to(torch.uint8).numpy()  # (n, 28, 28)
        np.savez(path, images=images,
                 valid=np.array([bool(v) for v in generated.validity], dtype=bool),
                 reason=np.array([v.reason for v in generated.validity]))
        grid_path = path.with_name(f"{path.stem}_grid.png")
        imsave(grid_path, image_grid(images[:64]), cmap="gray", vmin=0, vmax=255)
        return [path, grid_path]

    def sample_metrics(self, generated: Generated) -> dict[str, Any]:
        """Mean pixel intensity and mean fraction of pixels above 0.5 of the samples."""
        images = torch.stack(generated.items).nan_to_num(0.0, 0.0, 0.0)  # (n, 28, 28)
        return {"mean_intensity": float(images.mean()),
                "mean_ink_fraction": float((images > 0.5).float().mean())}


def _check_images(x: Tensor, name: str, *, finite: bool = True) -> None:
    """Raise ValueError unless ``x`` is a float ``(B, 1, 28, 28)`` tensor (finite if asked)."""
    shape = (1, IMAGE_SIZE, IMAGE_SIZE)
    if not isinstance(x, Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != shape \
            or x.shape[0] == 0 or not x.is_floating_point():
        got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a float tensor (B, 1, {IMAGE_SIZE}, {IMAGE_SIZE}) "
                         f"with B >= 1, got {got}")
    if finite and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
