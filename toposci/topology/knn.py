"""The k-nearest-neighbour graph filtration (proposal B), batched and differentiable.

The complex is the flag (Vietoris–Rips) complex restricted to the symmetric kNN graph: an edge
joins ``i`` and ``j`` when ``j`` is among the ``k`` nearest neighbours of ``i`` or ``i`` among
those of ``j``; an edge enters the filtration at its Euclidean length, a triangle (or higher
simplex) at its longest edge once all its edges are in the graph. Vertices enter at 0.

The engine is :mod:`toposci.topology.rips`'s: H0 from a batched Prim on the graph (non-edges
have infinite length, so a disconnected kNN graph has one infinite H0 bar per component), higher
dimensions from the backend's pairs, values gathered back from the coordinates so gradients
flow. The neighbour selection itself is combinatorial (no gradient); besides the ties listed in
:mod:`toposci.topology.rips`, the diagram also jumps where two candidate neighbours are equally
far and the graph changes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from toposci.topology.diagrams import Diagrams
from toposci.topology.rips import (
    PersistencePairs,
    _check_mask,
    _check_points,
    _flag_pairs,
    gather_from_points,
    pairwise_distances,
)

__all__ = ["knn_diagrams", "knn_graph", "knn_pairs"]


def _check_k(k: int, N: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k < N:
        raise ValueError(f"k must be an int with 1 <= k < N = {N} (points per cloud), got {k!r}")


def knn_graph(dist: Tensor, k: int, *, mask: Tensor | None = None) -> Tensor:
    """Adjacency of the symmetric k-nearest-neighbour graph of each cloud.

    Args:
        dist: ``(B, N, N)`` distances (only compared, never differentiated).
        k: neighbours per point; a cloud with fewer than ``k + 1`` real points links each point
            to all the others.
        mask: ``(B, N)`` boolean, ``False`` for padding points (never neighbours).

    Returns:
        ``(B, N, N)`` boolean, symmetric, ``False`` on the diagonal and for padding points.
    """
    B, N, _ = dist.shape
    valid = torch.ones(B, N, dtype=torch.bool, device=dist.device) if mask is None else mask
    pair_ok = valid.unsqueeze(2) & valid.unsqueeze(1)  # (B, N, N)
    pair_ok = pair_ok & ~torch.eye(N, dtype=torch.bool, device=dist.device)
    candidates = dist.detach().masked_fill(~pair_ok, math.inf)  # (B, N, N)
    nearest = candidates.topk(k, dim=2, largest=False)
    adjacency = torch.zeros(B, N, N, dtype=torch.bool, device=dist.device)
    adjacency.scatter_(2, nearest.indices, torch.isfinite(nearest.values))  # (B, N, k) -> rows
    return adjacency | adjacency.transpose(1, 2)


def _knn_setup(x: Tensor, k: int, mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """Validated points ``(B, N, D)``, graph weights ``(B, N, N)`` (inf off the graph), mask."""
    x = _check_points(x)
    B, N, _ = x.shape
    _check_k(k, N)
    valid = _check_mask(mask, B, N, x.device)
    with torch.no_grad():
        dist = pairwise_distances(x)  # (B, N, N)
        adjacency = knn_graph(dist, k, mask=valid)
        eye = torch.eye(N, dtype=torch.bool, device=x.device)
        weights = dist.masked_fill(~(adjacency | eye), math.inf)  # (B, N, N)
    return x, weights, valid


def knn_pairs(
    x: Tensor,
    k: int,
    *,
    homology_dims: Sequence[int] = (0, 1),
    mask: Tensor | None = None,
    backend: str = "native",
    n_threads: int | None = None,
) -> dict[int, PersistencePairs]:
    """Persistence pairs (generating edges) of the kNN-graph flag filtration. No gradients.

    Args:
        x: ``(B, N, D)`` points (or one cloud ``(N, D)``).
        k: neighbours per point, ``1 <= k < N``.
        homology_dims: homology dimensions to compute.
        mask: ``(B, N)`` boolean, ``False`` for padding points of a ragged batch.
        backend: ``"native"``, ``"gudhi"`` or ``"giotto"`` for dimensions >= 1.
        n_threads: threads the clouds are spread over (native and GUDHI backends).

    Returns:
        ``{dim: PersistencePairs}``: every edge is an edge of the kNN graph.

    Shapes:
        x ``(B, N, D)``, mask ``(B, N)`` -> pairs ``(B, M, 2)`` per dimension.
    """
    _, weights, valid = _knn_setup(x, k, mask)
    return _flag_pairs(weights, valid, homology_dims=homology_dims, max_edge_length=math.inf,
                       backend=backend, n_threads=n_threads)


def knn_diagrams(
    x: Tensor,
    k: int,
    *,
    homology_dims: Sequence[int] = (0, 1),
    mask: Tensor | None = None,
    backend: str = "native",
    n_threads: int | None = None,
) -> dict[int, Diagrams]:
    """Differentiable persistence diagrams of the kNN-graph flag filtration.

    Args:
        x: ``(B, N, D)`` points (or one cloud ``(N, D)``, given a batch dimension of 1).
        k: neighbours per point, ``1 <= k < N``.
        homology_dims: homology dimensions to compute.
        mask: ``(B, N)`` boolean, ``False`` for padding points of a ragged batch.
        backend: ``"native"``, ``"gudhi"`` or ``"giotto"`` for dimensions >= 1.
        n_threads: threads the clouds are spread over (native and GUDHI backends).

    Returns:
        ``{dim: Diagrams}`` whose values are edge lengths computed from ``x`` (differentiable);
        H0 has one infinite bar per connected component of the kNN graph.

    Shapes:
        x ``(B, N, D)``, mask ``(B, N)`` -> values ``(B, M, 2)`` per dimension.
    """
    x, weights, valid = _knn_setup(x, k, mask)
    pairs = _flag_pairs(weights, valid, homology_dims=homology_dims, max_edge_length=math.inf,
                        backend=backend, n_threads=n_threads)
    return {d: gather_from_points(x, p) for d, p in pairs.items()}
