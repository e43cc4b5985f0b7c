"""Images: MNIST IDX files, the grid-graph view of an image, validity of generated images.

IDX format (LeCun et al.): a big-endian header ``0x00 0x00 <type> <ndim>`` followed by ``ndim``
big-endian uint32 sizes, then the data. MNIST uses unsigned bytes (type ``0x08``): images have
magic number 2051 (``ndim`` 3: count, rows, columns), labels 2049 (``ndim`` 1: count).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from toposci.domains._io import read_bytes
from toposci.domains.validity import Validity
from toposci.download import shipped_dir

__all__ = ["IDX_IMAGES", "IDX_LABELS", "image_to_graph", "image_validity", "load_mnist",
           "read_idx"]

#: Magic number of an IDX file of unsigned-byte images (N, rows, columns).
IDX_IMAGES = 2051
#: Magic number of an IDX file of unsigned-byte labels (N,).
IDX_LABELS = 2049

_SPLIT_PREFIX = {"train": "train", "test": "t10k"}


def read_idx(path: str | Path, *, magic: int | None = None) -> np.ndarray:
    """Read an unsigned-byte IDX file (plain or gzip).

    Args:
        path: the file.
        magic: expected magic number (:data:`IDX_IMAGES`, :data:`IDX_LABELS`); ``None`` accepts
            any unsigned-byte IDX file.

    Returns:
        ``uint8`` array with the shape given in the header.

    Raises:
        ValueError: wrong magic number, truncated or oversized data, corrupt gzip; the message
            names the file.
    """
    path = Path(path)
    raw = read_bytes(path)
    if len(raw) < 4:
        raise ValueError(f"{path}: {len(raw)} bytes, too short for an IDX header")
    found = int.from_bytes(raw[:4], "big")
    if magic is not None and found != magic:
        raise ValueError(f"{path}: magic number {found}, expected {magic}")
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: magic number {found} is not an unsigned-byte IDX file")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} of {header} bytes)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64))
    body = len(raw) - header
    if body != expected:
        what = "truncated" if body < expected else "has trailing bytes"
        raise ValueError(
            f"{path}: {what}: the header announces shape {shape} = {expected} bytes of data, "
            f"found {body}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def load_mnist(root: str | Path | None = None, split: str = "train") -> tuple[Tensor, Tensor]:
    """Load an MNIST split from its IDX files (``{train,t10k}-{images-idx3,labels-idx1}-ubyte``,
    plain or ``.gz``).

    Args:
        root: folder with the files; default the shipped sample (1,000 train / 200 test).
        split: ``"train"`` or ``"test"``.

    Returns:
        images ``(N, 1, 28, 28)`` float32 in ``[0, 1]`` (byte / 255) and labels ``(N,)`` long.
    """
    if split not in _SPLIT_PREFIX:
        raise ValueError(f"split must be one of {sorted(_SPLIT_PREFIX)}, got {split!r}")
    root = Path(root) if root is not None else shipped_dir() / "mnist"
    prefix = _SPLIT_PREFIX[split]
    images = read_idx(_find(root, f"{prefix}-images-idx3-ubyte"), magic=IDX_IMAGES)
    labels = read_idx(_find(root, f"{prefix}-labels-idx1-ubyte"), magic=IDX_LABELS)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{root}: {images.shape[0]} {split} images but {labels.shape[0]} labels"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(f"{root}: {split} labels must be digits 0-9, found {int(labels.max())}")
    x = torch.from_numpy(images.copy()).float().div_(255.0).unsqueeze(1)  # (N, 1, 28, 28)
    return x, torch.from_numpy(labels.astype(np.int64))


def _find(root: Path, stem: str) -> Path:
    for candidate in (root / stem, root / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise ValueError(f"{root / stem}: file not found (nor with .gz)")


def image_to_graph(image: Tensor, *, connectivity: int = 4) -> Data:
    """The grid graph of an image: one node per pixel, edges between neighbouring pixels.

    Nodes are numbered row-major (``r * W + c``).

    Args:
        image: ``(H, W)`` intensities.
        connectivity: 4 (horizontal and vertical neighbours) or 8 (also diagonals).

    Returns:
        ``Data`` with ``x (H*W, 1)`` intensities and ``pos (H*W, 2)`` (row, column), both in the
        image's floating dtype (the default dtype for integer images), and
        ``edge_index (2, E)`` with both directions of every edge; ``E = 2 (H(W-1) + (H-1)W)``
        for 4-connectivity, plus ``4 (H-1)(W-1)`` for 8.
    """
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")
    if not isinstance(image, Tensor) or image.ndim != 2 or min(image.shape) < 1:
        shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise ValueError(f"image must be a non-empty tensor of shape (H, W), got {shape}")
    H, W = image.shape
    ids = torch.arange(H * W, device=image.device).reshape(H, W)  # (H, W)
    pairs = [(ids[:, :-1], ids[:, 1:]), (ids[:-1, :], ids[1:, :])]  # right, down
    if connectivity == 8:
        pairs += [(ids[:-1, :-1], ids[1:, 1:]), (ids[:-1, 1:], ids[1:, :-1])]  # diagonals
    src = torch.cat([a.flatten() for a, _ in pairs])
    dst = torch.cat([b.flatten() for _, b in pairs])
    edge_index = torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])  # (2, E)
    dtype = image.dtype if image.is_floating_point() else torch.get_default_dtype()
    rows, cols = torch.meshgrid(torch.arange(H, device=image.device),
                                torch.arange(W, device=image.device), indexing="ij")
    pos = torch.stack([rows.flatten(), cols.flatten()], dim=1).to(dtype)  # (H*W, 2)
    x = image.reshape(H * W, 1).to(dtype)  # (H*W, 1)
    return Data(x=x, pos=pos, edge_index=edge_index)


def image_validity(image: Tensor, *, threshold: float = 0.5) -> Validity:
    """Is a (generated) image a usable sample?

    Rules, checked in this order:

    * ``"non_finite"``: a value is NaN or infinite;
    * ``"range"``: a value lies outside ``[0, 1]`` (no tolerance: clamp or squash first);
    * ``"empty"``: no pixel exceeds ``threshold`` (a blank image).

    Args:
        image: ``(H, W)`` or ``(C, H, W)`` floating-point intensities.
        threshold: intensity some pixel must exceed.

    Returns:
        A :class:`~toposci.domains.validity.Validity`.
    """
    if not isinstance(image, Tensor) or image.ndim not in (2, 3) or image.numel() == 0:
        shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise ValueError(f"image must be a non-empty tensor (H, W) or (C, H, W), got {shape}")
    if not image.is_floating_point():
        raise ValueError(f"image must be a floating-point tensor, got {image.dtype}")
    x = image.detach()
    if not bool(torch.isfinite(x).all()):
        return Validity.fail("non_finite", f"{int((~torch.isfinite(x)).sum())} NaN/inf values")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        return Validity.fail("range", f"values span [{lo:.4g}, {hi:.4g}], outside [0, 1]")
    if hi <= threshold:
        return Validity.fail("empty", f"no pixel above {threshold} (max {hi:.4g})")
    return Validity.ok()
