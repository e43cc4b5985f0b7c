"""Sublevel-set persistence of images and volumes (cubical complexes), batched and differentiable.

Every pixel (voxel) is a top-dimensional cell of a cubical complex whose filtration value is the
pixel value; a lower-dimensional cell (edge, vertex) enters with the smallest of the pixels it
touches. GUDHI's ``CubicalComplex`` computes the pairing on a detached float64 copy, and
``cofaces_of_persistence_pairs`` names, for every bar, the pixel whose value is its birth and
the pixel whose value is its death. Those values are then gathered from the input tensor, so the
diagrams are differentiable functions of the pixel values (almost everywhere: where two
neighbouring pixels tie, GUDHI picks one of them and the gradient goes to that one only).

GUDHI numbers the cells of an array in Fortran (column-major) order; the indices are converted to
the C order of torch's ``reshape`` before gathering, so non-square images and volumes come out
right.

The helper :func:`diagrams_from_index` (gather rows of a padded index array from a flat tensor of
values) is shared with :mod:`toposci.topology.alpha` and :mod:`toposci.topology.graph`.
"""

from __future__ import annotations

from collections.abc import Sequence

import gudhi
import numpy as np
import torch
from torch import Tensor

from toposci._validation import check_batch
from toposci.topology._common import check_homology_dims, diagrams_from_index, thread_map
from toposci.topology.diagrams import Diagrams

__all__ = ["cubical_diagrams"]



def cubical_diagrams(
    images: Tensor,
    *,
    ndim: int = 2,
    homology_dims: Sequence[int] = (0, 1),
    superlevel: bool = False,
    n_jobs: int | None = None,
    backend: str | None = None,
) -> dict[int, Diagrams]:
    """Persistence diagrams of the sublevel (or superlevel) sets of a batch of images or volumes.

    The batch dimension is required, always: a single image is ``image[None]``. ``ndim`` says how
    many trailing dimensions are spatial, which is what tells a batch of images ``(B, H, W)``
    from a volume ``(D, H, W)``: with the default ``ndim=2`` a rank-3 tensor is a batch of
    images; a batch of volumes ``(B, D, H, W)`` needs ``ndim=3``.

    Args:
        images: ``(B, H, W)`` images (``ndim=2``) or ``(B, D, H, W)`` volumes (``ndim=3``); any
            ``ndim >= 1`` works the same way (``(B, L)`` signals for ``ndim=1``).
        ndim: number of spatial dimensions.
        homology_dims: homology dimensions to return, each in ``0 .. ndim - 1`` (a grid has no
            homology in dimension ``ndim`` or above).
        superlevel: if ``True``, the persistence of the superlevel sets ``{x >= t}`` as ``t``
            decreases, computed as the sublevel persistence of ``-images`` with the values
            negated back. Every point then has ``birth >= death`` (a bright blob is born at its
            maximum and dies at the saddle where it merges) and essential bars have death
            ``-inf`` instead of ``+inf``.
        n_jobs: threads the images are spread over (both backends release the GIL); ``None``
            uses every CPU.
        backend: ``"native"`` (toposci's union-find engine, 2-D images only) or ``"gudhi"``
            (any ``ndim``); ``None`` picks native for 2-D images and GUDHI otherwise. Both give
            the same diagrams.

    Returns:
        ``{k: Diagrams}`` for each ``k`` in ``homology_dims``. Points of zero persistence are left
        out (as GUDHI does); essential classes (the one component of the whole grid) are kept
        with death ``+inf`` (``-inf`` for superlevel sets).

    Shapes:
        images: ``(B, *S)`` with ``len(S) == ndim``;
        each ``Diagrams``: values ``(B, M, 2)``, mask ``(B, M)``.
    """
    if ndim < 1:
        raise ValueError(f"ndim must be >= 1, got {ndim}")
    dims_named = {1: "(B, L)", 2: "(B, H, W)", 3: "(B, D, H, W)"}.get(
        ndim, f"(B, *S) with {ndim} spatial dimensions S")
    if isinstance(images, Tensor) and images.ndim != ndim + 1:
        if images.ndim == ndim:
            hint = "; a single input needs a batch dimension: images[None]"
        elif images.ndim > ndim + 1:
            hint = f"; for {images.ndim - 1} spatial dimensions pass ndim={images.ndim - 1}"
        else:
            hint = ""
        raise ValueError(f"images must have shape {dims_named} for ndim={ndim}, got "
                         f"{tuple(images.shape)}{hint}")
    images = check_batch(images, "images", ranks=(ndim + 1,), dims_named=dims_named)
    dims = check_homology_dims(homology_dims, max_dim=ndim - 1, what="a cubical grid")

    if backend is None:
        backend = "native" if ndim == 2 else "gudhi"
    if backend not in ("native", "gudhi"):
        raise ValueError(f"unknown backend {backend!r}; valid backends: native, gudhi")
    if backend == "native" and ndim != 2:
        raise ValueError(f"the native cubical backend handles 2-D images; for ndim={ndim} use "
                         "backend='gudhi'")
    values = -images if superlevel else images
    B, *spatial = values.shape
    P = int(np.prod(spatial))
    arrays = values.detach().to("cpu", torch.float64).numpy()  # (B, *S)
    flat = values.reshape(B * P)  # (B*P,)
    if backend == "native":
        return _native_diagrams(arrays, flat, dims, superlevel=superlevel, n_jobs=n_jobs)
    pairings = thread_map(_cubical_pairs, list(arrays), n_jobs)
    # f2c[k]: C-order flat index of the pixel GUDHI numbers k (Fortran order).
    f2c = np.arange(P).reshape(spatial).ravel(order="F")
    offsets = np.arange(B)[:, None] * P  # (B, 1)

    out: dict[int, Diagrams] = {}
    for d in dims:
        rows = []
        for b, (regular, essential) in enumerate(pairings):
            reg = regular[d] if d < len(regular) else np.zeros((0, 2), np.int64)
            ess = essential[d] if d < len(essential) else np.zeros(0, np.int64)
            idx = np.concatenate([reg.reshape(-1, 2),
                                  np.stack([ess, np.full_like(ess, -1)], 1)])  # (m_b, 2)
            rows.append(np.where(idx >= 0, f2c[np.maximum(idx, 0)] + offsets[b], -1))
        out[d] = diagrams_from_index(flat, rows, d, negate=superlevel)
    return out


def _native_diagrams(arrays: np.ndarray, flat: Tensor, dims: Sequence[int], *,
                     superlevel: bool, n_jobs: int | None) -> dict[int, Diagrams]:
    """Diagrams from the native engine's critical pixels (C-order flat indices per image).

    Args:
        arrays: ``(B, H, W)`` detached float64 copy of the (possibly negated) images.
        flat: ``(B*H*W,)`` the same values with their autograd history.
    """
    from toposci.topology.native import cubical_pairs_native

    _, H, W = arrays.shape
    pairs = cubical_pairs_native(arrays, n_threads=n_jobs)
    out: dict[int, Diagrams] = {}
    for d in dims:
        rows = [np.where(p[d] >= 0, p[d] + b * H * W, -1) for b, p in enumerate(pairs)]
        out[d] = diagrams_from_index(flat, rows, d, negate=superlevel)
    return out


def _cubical_pairs(array: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """GUDHI's birth/death pixels (Fortran-order indices) of one image, grouped by dimension."""
    complex_ = gudhi.CubicalComplex(top_dimensional_cells=array)
    complex_.compute_persistence()
    regular, essential = complex_.cofaces_of_persistence_pairs()
    return regular, essential
