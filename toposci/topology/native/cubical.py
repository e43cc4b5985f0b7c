"""Native sublevel-set persistence of 2-D images (H0 and H1 with critical pixels), in numba.

The filtration is GUDHI's ``CubicalComplex(top_dimensional_cells=image)``: pixels are the
squares, and an edge or vertex enters with the smallest pixel around it. The complex at level
``t`` is then the union of the closed squares of the pixels ``<= t``, so

* **H0**: two pixels are connected when they share an edge *or a corner* (8-neighbours). A
  union-find adds the pixels in increasing order (ties by flat index); when a pixel joins
  components, every one but the oldest (smallest value, then earliest in the order) dies there
  (elder rule). The global minimum is the one essential class.
* **H1** by Alexander duality: the holes at level ``t`` are the bounded connected components of
  the complement, i.e. the 4-connected components of the pixels ``> t`` that do not reach the
  image border. A second union-find adds the pixels in *decreasing* order, with the outside of
  the image as one extra node that exists from the start (value ``+inf``, the oldest) and is
  4-adjacent to every border pixel. When a pixel ``p`` joins components, each younger one (lower
  maximum) becomes a hole in the sublevel filtration: the hole is born at ``p`` (the pixel that
  closes it off) and dies at the component's maximum (the last of its pixels to be covered).

Both passes are a radix sort plus near-linear union-find; the kernel releases the GIL and the
images are spread over a thread pool. Bars of zero persistence are left out, as GUDHI does.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from toposci.topology.native._sort import argsort_stable
from toposci.topology.native._threads import check_n_threads, run_chunks
from toposci.topology.native._unionfind import find

__all__ = ["cubical_pairs_native"]


@njit(cache=True, nogil=True)
def _image_pairs_into(f: np.ndarray, H: int, W: int, h0: np.ndarray,
                      h1: np.ndarray) -> tuple[int, int]:
    """Critical pixels of one image, written to ``h0`` and ``h1``; returns their counts.

    Args:
        f: ``(P,)`` pixel values in C order, ``P = H * W``.
        h0, h1: ``(P, 2)`` int32 buffers for (birth pixel, death pixel) rows.
    """
    P = H * W
    order = argsort_stable(f)  # increasing, ties by flat index
    pos = np.empty(P + 1, np.int64)  # position in the order; the outside (P) comes last
    for t in range(P):
        pos[order[t]] = t
    pos[P] = P
    parent = np.full(P + 1, -1, np.int64)  # -1: not added yet

    # H0: 8-neighbours, increasing values, the older root (smaller pos) survives.
    m0 = 0
    for t in range(P):
        p = order[t]
        i = p // W
        j = p - i * W
        parent[p] = p
        root = p  # the root of p's component, kept up to date
        for ii in range(max(i - 1, 0), min(i + 2, H)):
            for jj in range(max(j - 1, 0), min(j + 2, W)):
                q = ii * W + jj
                if parent[q] < 0:
                    continue
                c = find(parent, q)
                if c == root:
                    continue
                if pos[root] < pos[c]:
                    younger = c
                else:
                    younger = root
                    root = c
                parent[younger] = root
                if f[younger] < f[p]:
                    h0[m0, 0] = younger
                    h0[m0, 1] = p
                    m0 += 1
    h0[m0, 0] = order[0]
    h0[m0, 1] = -1
    m0 += 1

    # H1: 4-neighbours and the outside, decreasing values, the older root (larger pos) survives.
    parent[:] = -1
    parent[P] = P
    m1 = 0
    for t in range(P - 1, -1, -1):
        p = order[t]
        i = p // W
        j = p - i * W
        parent[p] = p
        root = p
        border = i == 0 or i == H - 1 or j == 0 or j == W - 1
        for side in range(5):
            if side == 0:
                q = p - W if i > 0 else -1
            elif side == 1:
                q = p + W if i < H - 1 else -1
            elif side == 2:
                q = p - 1 if j > 0 else -1
            elif side == 3:
                q = p + 1 if j < W - 1 else -1
            else:
                q = P if border else -1
            if q < 0 or parent[q] < 0:
                continue
            c = find(parent, q)
            if c == root:
                continue
            if pos[root] > pos[c]:
                younger = c
            else:
                younger = root
                root = c
            parent[younger] = root
            if f[younger] > f[p]:
                h1[m1, 0] = p
                h1[m1, 1] = younger
                m1 += 1
    return m0, m1


@njit(cache=True, nogil=True)
def _chunk_pairs(flat: np.ndarray, H: int, W: int, lo: int, hi: int, h0: np.ndarray,
                 h1: np.ndarray, counts: np.ndarray) -> None:
    """Critical pixels of images ``lo .. hi - 1`` into ``h0[b]``, ``h1[b]`` and ``counts[b]``.

    Shapes:
        flat: ``(B, P)``; h0, h1: ``(B, P, 2)`` int32 buffers; counts: ``(B, 2)``.
    """
    for b in range(lo, hi):
        m0, m1 = _image_pairs_into(flat[b], H, W, h0[b], h1[b])
        counts[b, 0] = m0
        counts[b, 1] = m1


@njit(cache=True)
def _first_non_finite(images: np.ndarray) -> int:
    """Flat index of the first NaN or infinite pixel, ``-1`` if none."""
    flat = images.ravel()
    for t in range(flat.size):
        if not np.isfinite(flat[t]):
            return t
    return -1


def cubical_pairs_native(images: np.ndarray, *,
                         n_threads: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Sublevel-set persistence pairs of a batch of images, as critical pixels.

    The same diagrams as ``gudhi.CubicalComplex(top_dimensional_cells=image)`` (see the module
    docstring), with pixel indices in C order (``i * W + j``), not GUDHI's Fortran order.

    Args:
        images: ``(B, H, W)`` finite float pixel values (a single image needs ``image[None]``).
        n_threads: threads the images are spread over (``None``: one per CPU; ``1``: serial).

    Returns:
        One ``(h0, h1)`` per image, each ``(M, 2)`` int64 rows ``(birth pixel, death pixel)``:
        the bar is ``(image.flat[birth], image.flat[death])``. The essential H0 class (the
        global minimum) comes last in ``h0`` with death pixel ``-1``. Bars of zero persistence
        are left out.

    Shapes:
        images ``(B, H, W)`` -> ``B`` pairs of ``(M0_b, 2)``, ``(M1_b, 2)``.
    """
    if not isinstance(images, np.ndarray):
        raise ValueError(f"images must be a numpy array (B, H, W), got {type(images).__name__}")
    if images.ndim != 3:
        hint = "; a single image needs a batch dimension: image[None]" if images.ndim == 2 else ""
        raise ValueError(f"images must have shape (B, H, W), got {images.shape}{hint}")
    if 0 in images.shape:
        raise ValueError(f"images is empty (shape {images.shape})")
    if not (np.issubdtype(images.dtype, np.floating) or np.issubdtype(images.dtype, np.integer)):
        raise ValueError(f"images must hold real numbers, got {images.dtype}")
    images = np.ascontiguousarray(images, dtype=np.float64)
    bad = _first_non_finite(images)
    if bad >= 0:
        where = np.unravel_index(bad, images.shape)
        raise ValueError(f"images has a non-finite value {images.flat[bad]} at {where}")
    check_n_threads(n_threads)
    B, H, W = images.shape
    flat = images.reshape(B, H * W)  # (B, P)
    h0 = np.empty((B, H * W, 2), np.int32)  # at most one bar per pixel in each dimension
    h1 = np.empty((B, H * W, 2), np.int32)
    counts = np.zeros((B, 2), np.int64)
    run_chunks(lambda lo, hi: _chunk_pairs(flat, H, W, lo, hi, h0, h1, counts), B, n_threads)
    return [(h0[b, : counts[b, 0]].astype(np.int64), h1[b, : counts[b, 1]].astype(np.int64))
            for b in range(B)]
