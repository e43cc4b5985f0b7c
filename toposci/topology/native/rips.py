"""Native Vietoris–Rips persistence pairs (H0, H1 with generating edges), compiled with numba.

A permissively licensed replacement for the GUDHI and giotto-ph backends of
:mod:`toposci.topology.rips`: same input (a float64 distance matrix, ``inf`` for missing edges)
and the same output (for each bar, the edge whose length is its birth and the edge whose length
is its death). The algorithm follows Ripser (Bauer, J. Appl. Comput. Topol. 2021): cohomology,
implicit coboundaries, clearing of the spanning-forest edges, apparent pairs and a threshold at
the enclosing radius; the filtration order and its tie rules are documented in
:mod:`toposci.topology.native._rips_kernels`. The diagrams equal GUDHI's exactly (float64, no
rounding: giotto-ph works in float32) and, without ties, the edges equal giotto-ph's
single-threaded generators.

A k-nearest-neighbour graph (or any sparse weighted graph) is passed the same way: edges of
length ``inf`` never enter, so the result is the persistence of the flag complex of the graph
(several components give several essential H0 classes, and an unfilled cycle an essential H1
class, death ``(-1, -1)``).
"""

from __future__ import annotations

import math

import numpy as np

from toposci.topology.native._rips_kernels import (
    check_distances,
    cloud_pairs,
    enclosing_threshold,
)
from toposci.topology.native._threads import check_n_threads, run_chunks

__all__ = ["rips_pairs_native", "rips_pairs_native_batch"]

_EdgePairs = dict[int, tuple[np.ndarray, np.ndarray]]

# Largest N whose N (N - 1) / 2 edge ranks fit in an int32.
_MAX_POINTS = 46_341

_PROBLEMS = {
    1: "contains NaN",
    2: "has a negative entry (distances must be >= 0; use inf for a missing edge)",
    3: "is not symmetric",
    4: "has a non-zero diagonal entry (a point's distance to itself is 0)",
}


def _check_max_dim(max_dim: int) -> int:
    if isinstance(max_dim, bool) or not isinstance(max_dim, (int, np.integer)) or max_dim != 1:
        raise ValueError(f"max_dim must be 1 (the native engine computes H0 and H1; use the "
                         f"GUDHI backend for H2), got {max_dim!r}")
    return int(max_dim)


def _check_max_edge_length(max_edge_length: float) -> float:
    value = float(max_edge_length)
    if math.isnan(value) or value < 0:
        raise ValueError(f"max_edge_length must be >= 0 (or inf), got {max_edge_length}")
    return value


def _check_dist(dist: np.ndarray, rank: int, dims_named: str) -> np.ndarray:
    """Validate distance matrices; return them as C-contiguous float64 with rank ``rank``."""
    if not isinstance(dist, np.ndarray):
        raise ValueError(f"dist must be a numpy array {dims_named}, got {type(dist).__name__}")
    if dist.ndim != rank or dist.shape[-1] != dist.shape[-2]:
        raise ValueError(f"dist must have shape {dims_named}, got {dist.shape}")
    if dist.size == 0:
        raise ValueError(f"dist is empty (shape {dist.shape}); it needs at least one point")
    if not np.issubdtype(dist.dtype, np.floating):
        raise ValueError(f"dist must be a floating-point array, got {dist.dtype}")
    if dist.shape[-1] > _MAX_POINTS:
        raise ValueError(f"dist has {dist.shape[-1]} points; the native engine handles at most "
                         f"{_MAX_POINTS} (edge ranks are 32-bit)")
    dist = np.ascontiguousarray(dist, dtype=np.float64)
    code, b, i, j = check_distances(dist.reshape(-1, *dist.shape[-2:]))  # (B, N, N)
    if code:
        where = f"[{b}, {i}, {j}]" if rank == 3 else f"[{i}, {j}]"
        raise ValueError(f"dist {_PROBLEMS[code]} (at {where})")
    return dist


def _pairs_dict(h0: tuple[np.ndarray, np.ndarray], h1: tuple[np.ndarray, np.ndarray],
                with_h0: bool) -> _EdgePairs:
    return {0: h0, 1: h1} if with_h0 else {1: h1}


def _one_cloud(dist: np.ndarray, max_edge_length: float, with_h0: bool) -> _EdgePairs:
    """Pairs of one validated ``(N, N)`` matrix."""
    births0, deaths0, births1, deaths1 = cloud_pairs(
        dist, enclosing_threshold(dist, max_edge_length))
    return _pairs_dict((births0, deaths0), (births1, deaths1), with_h0)


def rips_pairs_native(dist: np.ndarray, max_dim: int, max_edge_length: float, *,
                      with_h0: bool = False) -> _EdgePairs:
    """H1 pairs of the Vietoris–Rips (flag) filtration of one distance matrix, with generators.

    Args:
        dist: ``(N, N)`` symmetric distances with a zero diagonal; ``inf`` marks a missing edge.
        max_dim: highest homology dimension; must be 1 (the backend signature of
            :mod:`toposci.topology.rips`; H2 is not implemented here).
        max_edge_length: edges longer than this never enter (``inf`` for none).
        with_h0: also return the H0 pairs (Kruskal's minimum spanning forest) under key 0.

    Returns:
        ``{1: (birth_edges, death_edges)}``, each ``(M, 2)`` int64 vertex indices
        ``(smaller, larger)``: the length of ``birth_edges[m]`` is the birth of bar ``m``, the
        length of ``death_edges[m]`` its death (the longest edge of the killing triangle), and
        ``(-1, -1)`` an infinite death. Bars of zero persistence are left out. With
        ``with_h0``, key 0 holds the H0 bars in the same format: born at vertex ``v``, written
        ``(v, v)`` (length 0), killed by a spanning-forest edge; each connected component keeps
        one essential bar, born at its smallest vertex.

    Shapes:
        dist ``(N, N)`` -> ``(M, 2)``, ``(M, 2)`` per dimension.
    """
    _check_max_dim(max_dim)
    max_edge_length = _check_max_edge_length(max_edge_length)
    dist = _check_dist(dist, 2, "(N, N)")
    return _one_cloud(dist, max_edge_length, with_h0)


def rips_pairs_native_batch(dist: np.ndarray, max_dim: int, max_edge_length: float, *,
                            with_h0: bool = False,
                            n_threads: int | None = None) -> list[_EdgePairs]:
    """:func:`rips_pairs_native` for a batch of distance matrices, the clouds run in parallel.

    The single-cloud kernel releases the GIL, so the clouds are spread over a thread pool.

    Args:
        dist: ``(B, N, N)`` distance matrices (see :func:`rips_pairs_native`).
        max_dim: must be 1.
        max_edge_length: edges longer than this never enter (``inf`` for none).
        with_h0: also return the H0 pairs under key 0.
        n_threads: threads (``None``: one per CPU; ``1``: serial).

    Returns:
        One ``{1: (birth_edges, death_edges)}`` (and key 0 with ``with_h0``) per cloud.

    Shapes:
        dist ``(B, N, N)`` -> ``B`` dicts of ``(M_b, 2)``, ``(M_b, 2)``.
    """
    _check_max_dim(max_dim)
    max_edge_length = _check_max_edge_length(max_edge_length)
    check_n_threads(n_threads)
    dist = _check_dist(dist, 3, "(B, N, N)")
    out: list[_EdgePairs] = [{} for _ in range(len(dist))]

    def run(lo: int, hi: int) -> None:
        for b in range(lo, hi):
            out[b] = _one_cloud(dist[b], max_edge_length, with_h0)

    run_chunks(run, len(dist), n_threads)
    return out
