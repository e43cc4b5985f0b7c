"""Alpha-complex persistence of 2-D and 3-D point clouds, batched and differentiable.

GUDHI's ``AlphaComplex`` (``precision="safe"``, its default: exact combinatorics, filtration
values with a tiny relative error) builds the Delaunay complex of a detached float64 copy of each
cloud and pairs its simplices. The filtration value of a simplex is a *squared* radius: the
squared circumradius of the simplex itself when its smallest circumsphere is empty (a Gabriel
simplex), otherwise the value of the coface it is attached to, which is in turn the squared
circumradius of some simplex containing it. For every birth and death simplex this module finds
that simplex (the simplex itself, or among its cofaces with the same filtration value, the one
whose circumradius matches) and recomputes its circumradius in torch from the input
coordinates. The diagrams are therefore differentiable functions of the point coordinates
(almost everywhere: at ties GUDHI picks one simplex and the gradient follows that choice).

Units: by default diagrams are in **radii** (the square root of GUDHI's values), the scale of
the input coordinates; ``squared=True`` returns GUDHI's squared radii. Vertices are born at 0
(no gradient); the one component that never dies has death ``+inf``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import gudhi
import numpy as np
import torch
from torch import Tensor

from toposci._validation import check_batch, check_same_batch
from toposci.topology._common import check_homology_dims, diagrams_from_index, thread_map
from toposci.topology.diagrams import Diagrams

__all__ = ["alpha_diagrams"]

logger = logging.getLogger(__name__)

_SUPPORTED_D = (2, 3)
_OWN_RTOL = 1e-9  # a simplex whose own circumradius matches this well needs no coface search
_WARN_RTOL = 1e-6


@dataclass(frozen=True)
class _Pairing:
    """Pairs of one cloud: per homology dim, ``(m, 2)`` rows into ``simplices``.

    A row entry ``-3`` is a vertex (value 0) and ``-1`` an infinite death; any other entry
    indexes ``simplices``, the simplices whose circumradii give the values, written with the
    points' positions in the padded input ``(N,)``.
    """

    rows: dict[int, np.ndarray]
    simplices: list[tuple[int, ...]]


def alpha_diagrams(
    points: Tensor,
    *,
    homology_dims: Sequence[int] = (0, 1, 2),
    mask: Tensor | None = None,
    squared: bool = False,
    n_jobs: int | None = None,
) -> dict[int, Diagrams]:
    """Persistence diagrams of the alpha filtration of a batch of 2-D or 3-D point clouds.

    Args:
        points: ``(B, N, D)`` clouds (or one cloud ``(N, D)``) with ``D`` = 2 or 3.
        homology_dims: homology dimensions to return, each in ``0 .. D - 1``.
        mask: ``(B, N)`` boolean, ``True`` for real points, for ragged batches padded to ``N``
            (``(N,)`` for a single cloud). ``None``: every point is real. Every cloud needs at
            least 2 real points.
        squared: return GUDHI's squared radii instead of radii.
        n_jobs: threads running GUDHI; ``None`` uses every CPU.

    Returns:
        ``{k: Diagrams}`` for each ``k`` in ``homology_dims``, values in radii (or squared radii
        with ``squared=True``), in the dtype of ``points``. Zero-persistence pairs are left out,
        as GUDHI does; the essential component has death ``+inf``. Duplicate points count once.

    Shapes:
        points: ``(B, N, D)``; mask: ``(B, N)``;
        each ``Diagrams``: values ``(B, M, 2)``, mask ``(B, M)``.
    """
    points = check_batch(points, "points", ranks=(3,), dims_named="(B, N, D)")
    B, N, D = points.shape
    if D not in _SUPPORTED_D:
        raise ValueError(f"alpha_diagrams supports 2-D and 3-D point clouds (D = 2 or 3), got "
                         f"points of shape {tuple(points.shape)} (D = {D})")
    dims = check_homology_dims(homology_dims, max_dim=D - 1, what=f"{D}-D alpha complexes")
    mask = _check_mask(mask, points)
    counts = mask.sum(dim=1)  # (B,)
    if (counts < 2).any():
        b = int((counts < 2).nonzero()[0])
        raise ValueError(f"cloud {b} has {int(counts[b])} point(s): alpha_diagrams needs at least "
                         f"2 points per cloud")

    coords = points.detach().to("cpu", torch.float64).numpy()  # (B, N, D)
    keep = mask.cpu().numpy()  # (B, N)
    clouds = [(coords[b][keep[b]], np.flatnonzero(keep[b])) for b in range(B)]
    pairings = thread_map(lambda cloud: _alpha_pairing(*cloud, dims), clouds, n_jobs)

    # Every simplex whose circumradius is needed, grouped by size so each group is one batched
    # solve; source = [0 (vertices), radii of group 2, group 3, group 4].
    by_size: dict[int, list[np.ndarray]] = {k: [] for k in range(2, D + 2)}
    counts = dict.fromkeys(by_size, 0)
    where: list[np.ndarray] = []  # per cloud: (group size, position in group) of each simplex
    for b, pairing in enumerate(pairings):
        sizes = np.array([len(s) for s in pairing.simplices], dtype=np.int64)  # (S,)
        loc = np.stack([sizes, np.zeros_like(sizes)], axis=1)  # (S, 2)
        for k in by_size:
            sel = np.flatnonzero(sizes == k)
            if len(sel):
                loc[sel, 1] = counts[k] + np.arange(len(sel))
                counts[k] += len(sel)
                group = np.array([pairing.simplices[i] for i in sel], dtype=np.int64)  # (s, k)
                by_size[k].append(group + b * N)
        where.append(loc)
    flat = points.reshape(B * N, D)  # (B*N, D)
    chunks = [flat.new_zeros(1)]
    start = np.zeros(D + 2, dtype=np.int64)  # start[k]: first source index of group k
    for k, simplices in by_size.items():
        start[k] = sum(c.shape[0] for c in chunks)
        if simplices:
            index = torch.from_numpy(np.concatenate(simplices)).to(flat.device)  # (S_k, k)
            r2 = _squared_circumradius(flat[index])  # (S_k,)
            chunks.append(r2 if squared else r2.sqrt())
    source = torch.cat(chunks)

    out: dict[int, Diagrams] = {}
    for d in dims:
        rows = []
        for pairing, loc in zip(pairings, where, strict=True):
            r = pairing.rows[d]  # (m, 2)
            glob = np.full_like(r, -1)
            glob[r == -3] = 0
            ref = r >= 0
            glob[ref] = start[loc[r[ref], 0]] + loc[r[ref], 1]
            rows.append(glob)
        out[d] = diagrams_from_index(source, rows, d)
    return out


def _check_mask(mask: Tensor | None, points: Tensor) -> Tensor:
    """Validate the ``(B, N)`` point mask (``None``: all real) and return it as bool."""
    B, N, _ = points.shape
    if mask is None:
        return torch.ones(B, N, dtype=torch.bool, device=points.device)
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        raise ValueError("mask must be a bool torch.Tensor of shape (B, N)")
    if mask.ndim == 1:
        mask = mask.unsqueeze(0)
    check_same_batch(points, mask, "points", "mask")
    if mask.shape != (B, N):
        raise ValueError(f"mask must have shape (B, N) = {(B, N)}, got {tuple(mask.shape)}")
    return mask


def _alpha_pairing(cloud: np.ndarray, index: np.ndarray, dims: Sequence[int]) -> _Pairing:
    """Persistence pairs of one cloud, each simplex replaced by the one giving its value.

    Args:
        cloud: ``(n, D)`` float64 coordinates of the real points.
        index: ``(n,)`` position of each real point in the padded input.
        dims: homology dimensions wanted.
    """
    tree = gudhi.AlphaComplex(points=cloud).create_simplex_tree()
    tree.compute_persistence()
    pairs = [(b, d) for b, d in tree.persistence_pairs() if len(b) - 1 in dims]
    # Most simplices are Gabriel (their value is their own circumradius): check them all in
    # one batched solve per size and search the cofaces of the others only.
    wanted = {tuple(s) for pair in pairs for s in pair if len(s) > 1}
    own_ok = _own_radius_matches(tree, sorted(wanted, key=len), cloud)
    simplices: list[tuple[int, ...]] = []
    seen: dict[tuple[int, ...], int] = {}
    rows: dict[int, list[tuple[int, int]]] = {d: [] for d in dims}

    def key(simplex: list[int]) -> int:
        if len(simplex) == 1:
            return -3
        value_simplex = simplex if own_ok[tuple(simplex)] else _value_simplex(tree, simplex,
                                                                             cloud)
        attached = tuple(int(index[v]) for v in value_simplex)
        if attached not in seen:
            seen[attached] = len(simplices)
            simplices.append(attached)
        return seen[attached]

    for birth, death in pairs:
        rows[len(birth) - 1].append((key(birth), key(death) if death else -1))
    return _Pairing({d: np.array(r, dtype=np.int64).reshape(-1, 2) for d, r in rows.items()},
                    simplices)


def _own_radius_matches(tree: gudhi.SimplexTree, simplices: list[tuple[int, ...]],
                        cloud: np.ndarray) -> dict[tuple[int, ...], bool]:
    """Whether each simplex's own squared circumradius is its filtration value (to 1e-9)."""
    out: dict[tuple[int, ...], bool] = {}
    start = 0
    while start < len(simplices):
        k = len(simplices[start])
        stop = start
        while stop < len(simplices) and len(simplices[stop]) == k:
            stop += 1
        group = simplices[start:stop]
        value = np.array([tree.filtration(list(s)) for s in group])  # (S,)
        own = _squared_circumradius_np(cloud[np.array(group)])  # (S,)
        for s, ok in zip(group, np.abs(own - value) <= _OWN_RTOL * value, strict=True):
            out[s] = bool(ok)
        start = stop
    return out


def _value_simplex(tree: gudhi.SimplexTree, simplex: list[int],
                   cloud: np.ndarray) -> list[int]:
    """The simplex (``simplex`` or one of its cofaces) whose squared circumradius is its value."""
    value = tree.filtration(simplex)
    candidates = [simplex] + [c for c, v in tree.get_cofaces(simplex, 0) if v == value]
    errors = [abs(_squared_circumradius_np(cloud[c]) - value) for c in candidates]
    best = int(np.argmin(errors))
    if errors[best] > _WARN_RTOL * value:
        logger.warning("alpha value %.6g of simplex %s matches no circumradius (best relative "
                       "error %.2g); its gradient may be wrong", value, simplex,
                       errors[best] / value)
    return candidates[best]


def _squared_circumradius_np(vertices: np.ndarray) -> np.ndarray:
    """Squared radii of the smallest spheres through ``(..., k+1, D)`` affinely independent
    points (numpy twin of :func:`_squared_circumradius`, for the pairing's checks only)."""
    edges = vertices[..., 1:, :] - vertices[..., :1, :]  # (..., k, D)
    gram = edges @ np.swapaxes(edges, -1, -2)  # (..., k, k)
    rhs = 0.5 * np.diagonal(gram, axis1=-2, axis2=-1)  # (..., k)
    lam = np.linalg.solve(gram, rhs[..., None])[..., 0]  # (..., k)
    return (lam * rhs).sum(axis=-1)


def _squared_circumradius(vertices: Tensor) -> Tensor:
    """Batched, differentiable squared circumradius of simplices.

    The centre is ``v0 + edges^T lam`` with ``gram lam = diag(gram) / 2`` (equidistance to every
    vertex), and the squared radius is ``lam . diag(gram) / 2``.

    Shapes:
        vertices: ``(S, k+1, D)`` -> ``(S,)``.
    """
    edges = vertices[:, 1:] - vertices[:, :1]  # (S, k, D)
    gram = edges @ edges.transpose(1, 2)  # (S, k, k)
    rhs = 0.5 * torch.diagonal(gram, dim1=1, dim2=2)  # (S, k)
    lam = torch.linalg.solve(gram, rhs)  # (S, k)
    return (lam * rhs).sum(dim=-1)
