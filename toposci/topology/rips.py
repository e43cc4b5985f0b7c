"""Vietoris–Rips persistence of point clouds and distance matrices, batched and differentiable.

Combinatorics from a backend, values from torch:

* **H0** is computed exactly in torch: the minimum spanning tree of each cloud by a batched Prim
  (``N`` steps of ``O(B·N)`` work, vectorised over the batch). Every vertex is born at 0; each
  MST edge kills one class and gives the bar ``(0, |e|)``; each connected component keeps one
  infinite bar ``(0, +inf)`` (one per cloud unless ``max_edge_length`` cuts the graph). This is
  the elder-rule diagram GUDHI produces; with all births tied at 0, the vertex we name as "born"
  is the one Prim attaches by the edge (its singleton class dies there), and the first vertex of
  each component carries the infinite bar.
* **H1 and higher** come from a persistent-homology backend run on a detached float64 copy of
  the distances: ``backend="native"`` (the default: toposci's numba engine, H1 only, see
  :mod:`toposci.topology.native`), ``"gudhi"`` (any dimension) or ``"giotto"`` (when giotto-ph,
  AGPL, is installed). All three use Z/2 coefficients and give the same diagrams.
  Each bar is returned as a pair of edges: the edge whose length is the birth value and the edge
  whose length is the death value (the longest edge of the killing simplex).
* :func:`gather_diagrams` reads the birth and death values back from the torch distance matrix
  at those edges, so diagrams are differentiable functions of the input.

Where the map is not differentiable: at ties (two edges of equal length competing for the same
role, e.g. points on a regular grid or duplicated points) the pairing may switch and only a
one-sided derivative exists; the gradient is then the one of whichever edge the backend chose.
Infinite deaths are the constant ``+inf`` with no gradient, and H0 births are the constant 0
(gathered from the zero diagonal). With ``max_edge_length`` the diagram also jumps when an edge
crosses the threshold.

The GUDHI backend runs GUDHI's edge collapse (Boissonnat & Pritam, which keeps the persistence
diagram of a flag filtration exactly but not its edges) before the expansion to triangles, and the
edges below the enclosing radius only (all classes above H0 die by then). Because collapsed
edges do not keep their lengths, each birth and death value GUDHI reports is matched back to an
edge of exactly that length in the original matrix; without ties that edge is the generator.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from toposci._optional import require
from toposci._validation import check_batch
from toposci.topology.diagrams import Diagrams
from toposci.topology.native._threads import shared_pool
from toposci.topology.native.mst import mst_pairs_native

__all__ = [
    "BACKENDS",
    "PersistencePairs",
    "gather_diagrams",
    "gather_from_points",
    "pairwise_distances",
    "rips_diagrams",
    "rips_pairs",
]

# Relative tolerance for the symmetry / zero-diagonal check of user distance matrices.
_DIST_RTOL = 1e-5
# Rounds of GUDHI's edge collapse before the expansion (more rounds give diminishing returns).
_COLLAPSE_ITERATIONS = 2

# One backend result: homology dim -> (birth edges (m, 2), death edges (m, 2), -1 = infinite).
_EdgePairs = dict[int, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class PersistencePairs:
    """The generators of a batch of diagrams of one homology dimension, as vertex indices.

    Bar ``m`` of cloud ``b`` is born at the length of edge ``birth_edges[b, m]`` and dies at the
    length of edge ``death_edges[b, m]``. H0 bars are born at a vertex ``v``, stored as the
    degenerate edge ``(v, v)`` (its length, the diagonal of the distance matrix, is 0). An
    infinite death is stored as ``(-1, -1)``. Padding rows hold ``(-1, -1)`` in both.

    Args:
        birth_edges: ``(B, M, 2)`` long vertex indices.
        death_edges: ``(B, M, 2)`` long vertex indices, ``-1`` for infinite deaths.
        mask: ``(B, M)`` boolean, ``True`` for real bars.
        dim: homology dimension.
    """

    birth_edges: Tensor
    death_edges: Tensor
    mask: Tensor
    dim: int

    def __post_init__(self) -> None:
        shape = tuple(self.mask.shape)
        for name in ("birth_edges", "death_edges"):
            edges = getattr(self, name)
            if tuple(edges.shape) != (*shape, 2) or edges.dtype != torch.long:
                raise ValueError(
                    f"PersistencePairs.{name} must be a long tensor of shape {(*shape, 2)} "
                    f"(B, M, 2), got {edges.dtype} {tuple(edges.shape)}"
                )
        if self.mask.ndim != 2 or self.mask.dtype != torch.bool:
            raise ValueError(f"PersistencePairs.mask must be a (B, M) bool tensor, got {shape}")
        if self.dim < 0:
            raise ValueError(f"homology dimension must be >= 0, got {self.dim}")

    @property
    def essential(self) -> Tensor:
        """``(B, M)`` boolean, ``True`` for real bars with an infinite death."""
        return self.mask & (self.death_edges[..., 0] < 0)


# ---------------------------------------------------------------------------------- distances
def pairwise_distances(x: Tensor) -> Tensor:
    """Euclidean distance matrices of a batch of point clouds, with a safe gradient.

    Computed from coordinate differences (``torch.cdist`` without its Gram-matrix shortcut,
    whose cancellation spoils small distances in float32), so the matrix is exactly symmetric
    with a zero diagonal, and no ``(B, N, N, D)`` temporary is made. The gradient at coincident
    points is 0, not NaN.

    Args:
        x: ``(B, N, D)`` points.

    Returns:
        ``(B, N, N)`` distances.
    """
    return torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist")


# ---------------------------------------------------------------------------------- validation
def _check_dims(homology_dims: Sequence[int]) -> tuple[int, ...]:
    dims = tuple(homology_dims)
    if not dims or any(not isinstance(d, int) or isinstance(d, bool) or d < 0 for d in dims):
        raise ValueError(f"homology_dims must be a non-empty sequence of ints >= 0, got {dims}")
    return tuple(sorted(set(dims)))


def _check_threshold(max_edge_length: float) -> float:
    value = float(max_edge_length)
    if math.isnan(value) or value <= 0:
        raise ValueError(f"max_edge_length must be > 0 (or inf), got {max_edge_length}")
    return value


def _check_backend(backend: str) -> _Backend:
    if backend not in _BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    return _BACKENDS[backend]


def _check_points(x: Tensor, name: str = "x") -> Tensor:
    """Validate points ``(B, N, D)`` (or one cloud ``(N, D)``); return them batched."""
    x = check_batch(x, name, ranks=(3,), dims_named="(B, N, D)")
    if x.shape[1] < 2:
        raise ValueError(f"{name} has {x.shape[1]} point per cloud; persistence needs N >= 2")
    return x


def _check_distance_matrix(dist: Tensor, name: str = "dist") -> Tensor:
    """Validate distance matrices ``(B, N, N)``; return them batched, symmetrised, zero diagonal.

    Symmetry and the zero diagonal are checked up to a relative tolerance of 1e-5 of the largest
    entry (the rounding of e.g. ``torch.cdist``); the matrix is then made exactly symmetric (the
    mean of both halves) with an exact zero diagonal.
    """
    dist = check_batch(dist, name, ranks=(3,), dims_named="(B, N, N)")
    _, N, N2 = dist.shape
    if N != N2:
        raise ValueError(f"{name} must be square (B, N, N), got {tuple(dist.shape)}")
    if N < 2:
        raise ValueError(f"{name} describes {N} point per cloud; persistence needs N >= 2")
    eye = torch.eye(N, dtype=torch.bool, device=dist.device)  # (N, N)
    if (dist.masked_fill(eye, 0.0) < 0).any():
        raise ValueError(f"{name} has negative entries; distances must be >= 0")
    tol = _DIST_RTOL * max(1.0, float(dist.detach().abs().max()))
    if (dist - dist.transpose(1, 2)).abs().max() > tol:
        raise ValueError(f"{name} is not symmetric (use pairwise_distances for points)")
    if dist.diagonal(dim1=1, dim2=2).abs().max() > tol:
        raise ValueError(f"{name} has a non-zero diagonal; a point's distance to itself is 0")
    return (0.5 * (dist + dist.transpose(1, 2))).masked_fill(eye, 0.0)


def _check_mask(mask: Tensor | None, B: int, N: int, device: torch.device) -> Tensor:
    """Validate a point mask ``(B, N)`` (or ``(N,)`` for one cloud); all True when None."""
    if mask is None:
        return torch.ones(B, N, dtype=torch.bool, device=device)
    if not isinstance(mask, Tensor):
        raise ValueError(f"mask must be a (B, N) bool tensor, got {type(mask).__name__}")
    if mask.ndim == 1 and B == 1:
        mask = mask.unsqueeze(0)
    if tuple(mask.shape) != (B, N):
        raise ValueError(f"mask must have shape (B, N) = {(B, N)}, got {tuple(mask.shape)}")
    if mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor, got {mask.dtype}")
    empty = (~mask.any(dim=1)).nonzero()
    if len(empty):
        raise ValueError(f"mask leaves cloud {int(empty[0])} without any point")
    return mask.to(device)


# ---------------------------------------------------------------------------------- H0: Prim
def _mst_pairs(weights: Tensor, valid: Tensor) -> PersistencePairs:
    """H0 pairs of a batch of weighted graphs by a batched Prim's algorithm.

    Args:
        weights: ``(B, N, N)`` detached edge lengths, ``+inf`` for missing edges.
        valid: ``(B, N)`` boolean, ``False`` for padding points (never visited).

    Returns:
        H0 pairs with ``M = N``: step ``s`` of Prim attaches one vertex per cloud and records its
        bar in row ``s`` (a new component's first vertex gets the infinite bar).
    """
    B, N, _ = weights.shape
    device = weights.device
    if device.type == "cpu":
        born_np, killers_np = mst_pairs_native(
            weights.detach().double().numpy(), valid.numpy())  # same steps as the loop below
        born, killers = torch.from_numpy(born_np), torch.from_numpy(killers_np)
    else:
        born, killers = _torch_prim(weights, valid)
    mask = torch.arange(N, device=device) < valid.sum(dim=1, keepdim=True)  # (B, N)
    birth_edges = born.unsqueeze(-1).expand(B, N, 2).masked_fill(~mask.unsqueeze(-1), -1)
    death_edges = killers.masked_fill(~mask.unsqueeze(-1), -1)
    return PersistencePairs(birth_edges.contiguous(), death_edges, mask, 0)


def _torch_prim(weights: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
    """Prim's steps on the tensors' device: ``born (B, N)``, ``killers (B, N, 2)`` (see
    :func:`toposci.topology.native.mst.mst_pairs_native`, its CPU twin)."""
    B, N, _ = weights.shape
    device = weights.device
    # Small-tensor ops only: argmin + gather instead of min(dim), index_select on the flat rows
    # instead of advanced indexing.
    row_offset = torch.arange(B, device=device) * N  # (B,)
    flat_weights = weights.reshape(B * N, N)  # (B*N, N): row b*N + v holds the edges from v
    in_tree = ~valid  # padding counts as visited, so it is never attached
    best = weights.new_full((B, N), math.inf)  # (B, N) shortest edge to the tree so far
    parent = torch.full((B, N), -1, dtype=torch.long, device=device)
    born = torch.empty(B, N, dtype=torch.long, device=device)
    killers = torch.empty(B, N, 2, dtype=torch.long, device=device)
    for step in range(N):
        candidates = best.masked_fill(in_tree, math.inf)  # (B, N)
        v = candidates.argmin(dim=1, keepdim=True)  # (B, 1)
        new_root = torch.isinf(candidates.gather(1, v))  # (B, 1) nothing reachable: new component
        first_free = (~in_tree).to(torch.uint8).argmax(dim=1, keepdim=True)  # (B, 1)
        v = torch.where(new_root, first_free, v)
        born[:, step] = v.squeeze(1)
        p = parent.gather(1, v)  # (B, 1)
        killers[:, step] = torch.where(new_root, -1, torch.cat([p, v], dim=1))  # (B, 2)
        in_tree.scatter_(1, v, True)
        row = flat_weights.index_select(0, row_offset + v.squeeze(1))  # (B, N) edges from v
        closer = (row < best) & ~in_tree
        best = torch.where(closer, row, best)
        parent = torch.where(closer, v, parent)
    return born, killers


# ---------------------------------------------------------------------------------- backends
def _enclosing_threshold(dist: np.ndarray, max_edge_length: float) -> float:
    """The edge threshold that keeps every bar above H0 (min of the enclosing radius and cap).

    At the enclosing radius ``min_i max_j d(i, j)`` one vertex is joined to all others, the flag
    complex is a cone and every class of dimension >= 1 has died.
    """
    return min(float(dist.max(axis=1).min()), max_edge_length)


def _edges_by_length(dist: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Finite edges ``(2, E)`` (i < j) of length <= threshold, sorted by length; their lengths."""
    i, j = np.triu_indices(len(dist), 1)
    lengths = dist[i, j]
    keep = np.isfinite(lengths) & (lengths <= threshold)  # inf: no edge
    order = np.argsort(lengths[keep], kind="stable")
    return np.stack([i[keep][order], j[keep][order]]), lengths[keep][order]


def _gudhi_pairs(dist: np.ndarray, max_dim: int, max_edge_length: float) -> _EdgePairs:
    """Bars of dimension 1..max_dim of the flag filtration of ``dist`` with GUDHI.

    Args:
        dist: ``(n, n)`` float64 distances, ``inf`` for missing edges.
    """
    gudhi = require("gudhi")
    n = len(dist)
    edges, lengths = _edges_by_length(dist, _enclosing_threshold(dist, max_edge_length))
    st = gudhi.SimplexTree()
    st.insert_batch(np.arange(n).reshape(1, n), np.zeros(n))
    st.insert_batch(edges, lengths)
    st.collapse_edges(_COLLAPSE_ITERATIONS)
    st.expansion(max_dim + 1)
    # GUDHI skips the top dimension of the complex unless told; it is needed when the complex
    # has no simplex above max_dim (e.g. a graph without triangles has essential H1 classes).
    # Z/2 coefficients, as the native engine and giotto-ph use: flag complexes with 2-torsion
    # would otherwise pair some bars differently from the other backends.
    st.compute_persistence(homology_coeff_field=2,
                           persistence_dim_max=st.dimension() <= max_dim)
    out: _EdgePairs = {}
    for d in range(1, max_dim + 1):
        bars = st.persistence_intervals_in_dimension(d).reshape(-1, 2)  # (m, 2)
        births = _edge_of_length(edges, lengths, bars[:, 0])
        deaths = _edge_of_length(edges, lengths, bars[:, 1])
        out[d] = (births, deaths)
    return out


def _edge_of_length(edges: np.ndarray, lengths: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each value, an edge ``(i, j)`` of exactly that length; ``(-1, -1)`` for ``inf``.

    Args:
        edges: ``(2, E)`` edges sorted by length; lengths: ``(E,)`` sorted.
        values: ``(m,)`` filtration values GUDHI reported (each is some edge's length).

    Returns:
        ``(m, 2)`` long vertex indices.
    """
    finite = np.isfinite(values)
    pos = np.searchsorted(lengths, values[finite])  # first edge of that length
    pos = np.minimum(pos, len(lengths) - 1)
    if not np.array_equal(lengths[pos], values[finite]):
        raise RuntimeError("GUDHI reported a filtration value that is no edge length")
    out = np.full((len(values), 2), -1, dtype=np.int64)
    out[finite] = edges[:, pos].T
    return out


def _giotto_pairs(dist: np.ndarray, max_dim: int, max_edge_length: float) -> _EdgePairs:
    """Bars of dimension 1..max_dim with giotto-ph's generators.

    ``n_threads`` stays 1: giotto-ph's multithreaded generators are wrong (wrong H1 birth edges
    in about half of the clouds in our measurements). Clouds are not spread over a thread pool
    either: giotto-ph holds the GIL (two threads ran no faster than one) and its first call from
    two threads at once deadlocked in our tests.
    """
    gph = require("gph")
    finite = dist[np.isfinite(dist)]
    # Missing edges (inf) must lie above the threshold for ripser to leave them out.
    thresh = max_edge_length if np.isfinite(dist).all() else min(max_edge_length, finite.max())
    result = gph.ripser_parallel(dist, metric="precomputed", maxdim=max_dim, thresh=thresh,
                                 n_threads=1, return_generators=True)
    _, finite_gens, _, essential_gens = result["gens"]
    out: _EdgePairs = {}
    for d in range(1, max_dim + 1):
        fin = np.asarray(finite_gens[d - 1], dtype=np.int64).reshape(-1, 4)
        ess = np.asarray(essential_gens[d - 1], dtype=np.int64).reshape(-1, 2)
        births = np.concatenate([fin[:, :2], ess])
        deaths = np.concatenate([fin[:, 2:], np.full_like(ess, -1)])
        out[d] = (births, deaths)
    return out


@dataclass(frozen=True)
class _Backend:
    """A PH backend: its module, the per-cloud function, whether to spread clouds on threads.

    ``run(dist (n, n) float64 with inf for missing edges, max_dim, max_edge_length)`` returns
    ``{dim: (birth_edges (m, 2), death_edges (m, 2))}`` for dims 1..max_dim, -1 for inf.
    """

    module: str  # imported once in the calling thread before any worker starts
    run: Callable[[np.ndarray, int, float], _EdgePairs]
    threads: bool  # True when the backend releases the GIL


def _native_pairs(dist: np.ndarray, max_dim: int, max_edge_length: float) -> _EdgePairs:
    """Bars of dimension 1 from toposci's own numba engine (H1 only: see its docstring)."""
    from toposci.topology.native import rips_pairs_native

    if max_dim > 1:
        raise ValueError("the native backend computes H0 and H1; for H2 use backend='gudhi'")
    return rips_pairs_native(dist, max_dim, max_edge_length)


_BACKENDS: dict[str, _Backend] = {
    "native": _Backend("toposci.topology.native", _native_pairs, threads=True),
    "gudhi": _Backend("gudhi", _gudhi_pairs, threads=True),
    "giotto": _Backend("gph", _giotto_pairs, threads=False),
}
BACKENDS: tuple[str, ...] = tuple(_BACKENDS)


def _backend_pairs(weights: Tensor, valid: Tensor, dims: tuple[int, ...], backend: str,
                   max_edge_length: float, n_threads: int | None) -> dict[int, PersistencePairs]:
    """Pairs of dimension >= 1 from the backend, one cloud per task on a thread pool.

    Args:
        weights: ``(B, N, N)`` detached lengths, ``inf`` for missing edges.
        valid: ``(B, N)`` boolean point mask.
    """
    engine = _check_backend(backend)
    require(engine.module)  # imported here, never first inside a worker thread
    B = weights.shape[0]
    dist = weights.to("cpu", torch.float64).numpy()  # (B, N, N)
    keep = valid.cpu().numpy()  # (B, N)
    index = [np.flatnonzero(keep[b]) for b in range(B)]  # valid points of each cloud
    max_dim = max(dims)

    def one(b: int) -> _EdgePairs:
        idx = index[b]
        if len(idx) < 2:  # a single point has no bars above H0
            empty = np.zeros((0, 2), dtype=np.int64)
            return {d: (empty, empty) for d in range(1, max_dim + 1)}
        sub = np.ascontiguousarray(dist[b][np.ix_(idx, idx)])  # (n_b, n_b)
        local = engine.run(sub, max_dim, max_edge_length)
        # Local indices back to the cloud's indices (-1 stays -1).
        return {d: tuple(np.where(e >= 0, idx[np.maximum(e, 0)], -1) for e in pair)
                for d, pair in local.items()}

    workers = min(B, n_threads or os.cpu_count() or 1) if engine.threads else 1
    results: list[_EdgePairs] = [{} for _ in range(B)]

    def run(share: range) -> None:
        for b in share:
            results[b] = one(b)

    shares = [range(k, B, workers) for k in range(workers)]  # interleaved: similar clouds mix
    rest = [shared_pool(workers - 1).submit(run, share) for share in shares[1:]] \
        if workers > 1 else []
    run(shares[0])  # this thread takes a share itself instead of waiting idle
    for future in rest:
        future.result()
    return {d: _pad_pairs([r[d] for r in results], d, weights.device) for d in dims if d > 0}


def _pad_pairs(pairs: list[tuple[np.ndarray, np.ndarray]], dim: int,
               device: torch.device) -> PersistencePairs:
    """Pad per-cloud ``(m_b, 2)`` birth/death edge arrays into a :class:`PersistencePairs`."""
    B = len(pairs)
    M = max(len(births) for births, _ in pairs)
    birth_edges = np.full((B, M, 2), -1, dtype=np.int64)
    death_edges = np.full((B, M, 2), -1, dtype=np.int64)
    mask = np.zeros((B, M), dtype=bool)
    for b, (births, deaths) in enumerate(pairs):
        birth_edges[b, : len(births)] = births
        death_edges[b, : len(deaths)] = deaths
        mask[b, : len(births)] = True
    return PersistencePairs(torch.from_numpy(birth_edges).to(device),
                            torch.from_numpy(death_edges).to(device),
                            torch.from_numpy(mask).to(device), dim)


def _flag_pairs(weights: Tensor, valid: Tensor, *, homology_dims: Sequence[int],
                max_edge_length: float, backend: str,
                n_threads: int | None) -> dict[int, PersistencePairs]:
    """Pairs of the flag filtration of weighted graphs (the shared engine of Rips and kNN).

    Args:
        weights: ``(B, N, N)`` symmetric lengths, zero diagonal, ``inf`` for missing edges.
        valid: ``(B, N)`` boolean point mask.
    """
    dims = _check_dims(homology_dims)
    _check_backend(backend)
    max_edge_length = _check_threshold(max_edge_length)
    weights = weights.detach()
    if math.isfinite(max_edge_length):
        weights = weights.masked_fill(weights > max_edge_length, math.inf)
    pairs: dict[int, PersistencePairs] = {}
    if 0 in dims:
        pairs[0] = _mst_pairs(weights, valid)
    if max(dims) > 0:
        pairs.update(_backend_pairs(weights, valid, dims, backend, max_edge_length, n_threads))
    return pairs


# ---------------------------------------------------------------------------------- public API
def rips_pairs(
    dist: Tensor,
    *,
    homology_dims: Sequence[int] = (0, 1),
    max_edge_length: float = math.inf,
    mask: Tensor | None = None,
    backend: str = "native",
    n_threads: int | None = None,
) -> dict[int, PersistencePairs]:
    """Persistence pairs (generating edges) of the Vietoris–Rips filtration. No gradients.

    Args:
        dist: ``(B, N, N)`` distance matrices (or one ``(N, N)``): symmetric, zero diagonal,
            non-negative, finite.
        homology_dims: homology dimensions to compute.
        max_edge_length: edges longer than this are left out (H0 then has one infinite bar per
            connected component, and higher dimensions may have infinite bars).
        mask: ``(B, N)`` boolean, ``False`` for padding points of a ragged batch.
        backend: ``"native"`` (default), ``"gudhi"`` or ``"giotto"`` (optional giotto-ph) for
            dimensions >= 1.
        n_threads: threads the clouds are spread over (native and GUDHI backends; default: one per
            CPU core; giotto-ph holds the GIL and always runs the clouds one after another).

    Returns:
        ``{dim: PersistencePairs}`` with vertex indices into ``N``.

    Shapes:
        dist ``(B, N, N)``, mask ``(B, N)`` -> pairs ``(B, M, 2)`` per dimension.
    """
    dist = _check_distance_matrix(dist)
    B, N, _ = dist.shape
    valid = _check_mask(mask, B, N, dist.device)
    return _flag_pairs(dist, valid, homology_dims=homology_dims,
                       max_edge_length=max_edge_length, backend=backend, n_threads=n_threads)


def gather_diagrams(dist: Tensor, pairs: PersistencePairs) -> Diagrams:
    """Birth and death values read from ``dist`` at the generating edges (differentiable).

    Args:
        dist: ``(B, N, N)`` torch distances (the matrix the pairs were computed from).
        pairs: generators of one homology dimension.

    Returns:
        Diagrams whose values are entries of ``dist`` (gradients flow to them); infinite deaths
        are ``+inf`` and padding rows ``(0, 0)``.

    Shapes:
        dist ``(B, N, N)``, pairs ``(B, M, 2)`` -> values ``(B, M, 2)``.
    """
    B, N, _ = dist.shape
    flat = dist.reshape(B, N * N)  # (B, N*N)

    def lengths(i: Tensor, j: Tensor) -> Tensor:
        return flat.gather(1, i * N + j)  # (B, M)

    return _gather(lengths, pairs, B)


def gather_from_points(x: Tensor, pairs: PersistencePairs) -> Diagrams:
    """Like :func:`gather_diagrams`, with each edge length computed from the coordinates.

    Costs ``O(B·M·D)`` instead of a differentiable ``(B, N, N)`` matrix, so the backward pass
    touches only the generating edges. Coincident points get a zero gradient, not NaN.

    Args:
        x: ``(B, N, D)`` points (the cloud the pairs were computed from).
        pairs: generators of one homology dimension.

    Shapes:
        x ``(B, N, D)``, pairs ``(B, M, 2)`` -> values ``(B, M, 2)``.
    """
    B, _, D = x.shape

    def lengths(i: Tensor, j: Tensor) -> Tensor:
        xi = x.gather(1, i.unsqueeze(-1).expand(-1, -1, D))  # (B, M, D)
        xj = x.gather(1, j.unsqueeze(-1).expand(-1, -1, D))  # (B, M, D)
        return torch.linalg.vector_norm(xi - xj, dim=-1)  # (B, M)

    return _gather(lengths, pairs, B)


def _gather(lengths: Callable[[Tensor, Tensor], Tensor], pairs: PersistencePairs,
            B: int) -> Diagrams:
    """Assemble diagrams from a function giving the ``(B, M)`` lengths of edges ``(i, j)``."""
    if pairs.mask.shape[0] != B:
        raise ValueError(f"the input has batch size {B} but the pairs have {pairs.mask.shape[0]}")

    def edge_lengths(edges: Tensor) -> Tensor:
        ends = edges.clamp_min(0)  # (B, M, 2); -1 (infinite / padding) read as vertex 0
        return lengths(ends[..., 0], ends[..., 1])

    births = edge_lengths(pairs.birth_edges)
    deaths = torch.where(pairs.death_edges[..., 0] >= 0, edge_lengths(pairs.death_edges),
                         torch.full_like(births, math.inf))
    values = torch.stack([births, deaths], dim=-1)  # (B, M, 2)
    values = values.masked_fill(~pairs.mask.unsqueeze(-1), 0.0)
    return Diagrams(values, pairs.mask, pairs.dim)


def rips_diagrams(
    x: Tensor,
    *,
    homology_dims: Sequence[int] = (0, 1),
    distances: bool = False,
    max_edge_length: float = math.inf,
    mask: Tensor | None = None,
    backend: str = "native",
    n_threads: int | None = None,
) -> dict[int, Diagrams]:
    """Differentiable Vietoris–Rips persistence diagrams of a batch of point clouds.

    Args:
        x: ``(B, N, D)`` points (Euclidean distances computed in torch), or ``(B, N, N)``
            distance matrices when ``distances=True``. A single cloud ``(N, D)`` / ``(N, N)``
            gets a batch dimension of 1.
        homology_dims: homology dimensions to compute.
        distances: whether ``x`` holds distance matrices.
        max_edge_length: edges longer than this are left out of the complex.
        mask: ``(B, N)`` boolean, ``False`` for padding points of a ragged batch.
        backend: ``"native"``, ``"gudhi"`` or ``"giotto"`` for dimensions >= 1 (see
            :data:`BACKENDS`).
        n_threads: threads the clouds are spread over (native and GUDHI backends; default: one per
            CPU core; giotto-ph holds the GIL and always runs the clouds one after another).

    Returns:
        ``{dim: Diagrams}``; values are differentiable in ``x`` (see the module docstring for
        where they are not). H0 has ``N`` rows per cloud (fewer real ones with a mask).

    Shapes:
        x ``(B, N, D)`` or ``(B, N, N)``, mask ``(B, N)`` -> values ``(B, M, 2)`` per dimension.
    """
    if distances:
        dist = _check_distance_matrix(x, "x")
    else:
        x = _check_points(x)
        with torch.no_grad():
            dist = pairwise_distances(x)  # (B, N, N), for the pairing only
    B, N, _ = dist.shape
    valid = _check_mask(mask, B, N, dist.device)
    pairs = _flag_pairs(dist, valid, homology_dims=homology_dims,
                        max_edge_length=max_edge_length, backend=backend, n_threads=n_threads)
    if distances:
        return {d: gather_diagrams(dist, p) for d, p in pairs.items()}
    return {d: gather_from_points(x, p) for d, p in pairs.items()}
