"""Assertions and reference computations that the tests of every module reuse.

Diagrams are compared as multisets with GUDHI's bottleneck distance (so the order of the rows and
zero-persistence points do not matter); reference diagrams come straight from GUDHI; invariance
checks apply a random permutation or rigid motion and compare the outputs.

Functions here accept a :class:`~toposci.topology.diagrams.Diagrams` batch, a single ``(m, 2)``
array / tensor, or a list of them wherever they take "diagrams".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from toposci.topology.diagrams import Diagrams

__all__ = [
    "assert_diagrams_close",
    "assert_permutation_invariant",
    "assert_rigid_motion_invariant",
    "count_bars",
    "diagram_list",
    "dominant_bars",
    "gudhi_flag_diagram",
    "gudhi_rips_diagram",
    "random_rotation",
    "sorted_lifetimes",
]

DiagramLike = Diagrams | np.ndarray | Tensor | Sequence[np.ndarray | Tensor]


def diagram_list(diagrams: DiagramLike) -> list[np.ndarray]:
    """Diagrams as a list of ``(m, 2)`` float64 numpy arrays (padding removed, detached)."""
    if isinstance(diagrams, Diagrams):
        return diagrams.to_arrays()
    if isinstance(diagrams, (np.ndarray, Tensor)) and np.ndim(diagrams) == 2:
        diagrams = [diagrams]
    out = []
    for d in diagrams:
        arr = d.detach().cpu().double().numpy() if isinstance(d, Tensor) else np.asarray(d, float)
        out.append(arr.reshape(-1, 2))
    return out


def _describe(diagram: np.ndarray, top: int = 5) -> str:
    """A short summary: size, infinite bars and the longest finite bars."""
    finite = diagram[np.isfinite(diagram).all(axis=1)]
    order = np.argsort(finite[:, 0] - finite[:, 1])[:top]  # longest first
    bars = ", ".join(f"({b:.4g}, {d:.4g})" for b, d in finite[order])
    n_inf = len(diagram) - len(finite)
    return f"{len(diagram)} points, {n_inf} infinite, longest finite: [{bars}]"


def assert_diagrams_close(actual: DiagramLike, expected: DiagramLike, *, atol: float = 1e-6,
                          what: str = "diagram") -> None:
    """Assert that each pair of diagrams is within bottleneck distance ``atol`` (GUDHI's).

    Infinite bars must match in number (their births within ``atol``); points on the diagonal
    are ignored, as by any bottleneck distance.

    Raises:
        AssertionError: naming the first diagram that differs, its distance and both summaries.
    """
    import gudhi

    got, want = diagram_list(actual), diagram_list(expected)
    if len(got) != len(want):
        raise AssertionError(f"{what}: {len(got)} diagrams, expected {len(want)}")
    for i, (a, b) in enumerate(zip(got, want)):
        distance = gudhi.bottleneck_distance(a, b)
        if not distance <= atol:
            raise AssertionError(
                f"{what} {i}: bottleneck distance {distance:.3g} > atol {atol:g}\n"
                f"  actual:   {_describe(a)}\n  expected: {_describe(b)}"
            )


def sorted_lifetimes(diagrams: DiagramLike) -> list[np.ndarray]:
    """Per diagram, the lifetimes ``death - birth`` in decreasing order (``inf`` first)."""
    return [np.sort(d[:, 1] - d[:, 0])[::-1] for d in diagram_list(diagrams)]


def count_bars(diagrams: DiagramLike, min_persistence: float = 0.0) -> list[int]:
    """Per diagram, the number of bars living longer than ``min_persistence`` (inf included)."""
    return [int((life > min_persistence).sum()) for life in sorted_lifetimes(diagrams)]


def dominant_bars(diagrams: DiagramLike, *, ratio: float = 2.0, max_bars: int = 5) -> list[int]:
    """Per diagram, the number of bars that stand out from the rest.

    The infinite bars plus the ``c`` longest finite bars, where ``c <= max_bars`` is the first
    position in the decreasing finite lifetimes ``l_1 >= l_2 >= ... >= l_m`` with
    ``l_c >= ratio * l_(c+1)``; ``c = 0`` when the top ``max_bars`` show no such gap. Without
    infinite bars ``l_(m+1) = 0``, so a lone finite bar is dominant; beside an infinite bar it
    is not. This is the usual reading of the diagram of a sampled space: a few long bars, a
    gap, then sampling noise (whose own tail is ignored).
    """
    counts = []
    for life in sorted_lifetimes(diagrams):
        n_inf = int(np.isinf(life).sum())
        finite = life[n_inf:] if n_inf else np.append(life, 0.0)
        finite = finite[: max_bars + 1]
        gaps = np.flatnonzero((finite[:-1] >= ratio * finite[1:]) & (finite[:-1] > 0))
        counts.append(n_inf + (int(gaps[0]) + 1 if len(gaps) else 0))
    return counts


def random_rotation(d: int, seed: int = 0, *, dtype: torch.dtype = torch.float64) -> Tensor:
    """A random rotation of R^d (orthogonal, determinant +1), Haar-distributed.

    Returns:
        ``(d, d)`` tensor.
    """
    if d < 1:
        raise ValueError(f"dimension must be >= 1, got {d}")
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))  # unique QR: Haar measure on O(d)
    if torch.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q.to(dtype)


def _assert_outputs_close(actual: Any, expected: Any, atol: float, what: str) -> None:
    """Compare outputs that are Diagrams, tensors, or dicts / sequences of them."""
    if isinstance(expected, Mapping):
        if set(actual) != set(expected):
            raise AssertionError(f"{what}: keys {sorted(actual)} != {sorted(expected)}")
        for key in expected:
            _assert_outputs_close(actual[key], expected[key], atol, f"{what}[{key!r}]")
    elif isinstance(expected, Diagrams):
        assert_diagrams_close(actual, expected, atol=atol, what=what)
    elif isinstance(expected, Tensor):
        torch.testing.assert_close(actual, expected, atol=atol, rtol=0.0,
                                   msg=lambda m: f"{what}: {m}")
    elif isinstance(expected, (tuple, list)):
        if len(actual) != len(expected):
            raise AssertionError(f"{what}: {len(actual)} outputs, expected {len(expected)}")
        for i, (a, b) in enumerate(zip(actual, expected)):
            _assert_outputs_close(a, b, atol, f"{what}[{i}]")
    else:
        np.testing.assert_allclose(actual, expected, atol=atol, rtol=0.0, err_msg=what)


def assert_permutation_invariant(fn: Callable[[Tensor], Any], x: Tensor, *, seed: int = 0,
                                 dims: Sequence[int] = (-2,), atol: float = 1e-6) -> None:
    """Assert ``fn(x)`` does not change when the points of ``x`` are reordered.

    Args:
        fn: maps ``x`` to Diagrams, a tensor, or a dict / sequence of them.
        x: the input, e.g. points ``(B, N, D)`` or ``(N, D)``.
        seed: seed of the random permutation.
        dims: the axes indexed by points, all permuted the same way (``(-2, -1)`` for a
            distance matrix).
        atol: tolerance (bottleneck distance for diagrams).
    """
    n = x.shape[dims[0]]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(x.device)
    moved = x
    for dim in dims:
        moved = moved.index_select(dim, perm)
    _assert_outputs_close(fn(moved), fn(x), atol, "output after permuting the points")


def assert_rigid_motion_invariant(fn: Callable[[Tensor], Any], x: Tensor, seed: int = 0, *,
                                  atol: float = 1e-5) -> None:
    """Assert ``fn(x)`` does not change under a random rotation and translation of ``x``.

    Args:
        fn: maps points ``(..., N, D)`` to Diagrams, a tensor, or a dict / sequence of them.
        x: points, coordinates on the last axis.
        seed: seed of the rotation and of the translation.
        atol: tolerance (bottleneck distance for diagrams).
    """
    D = x.shape[-1]
    rotation = random_rotation(D, seed, dtype=x.dtype).to(x.device)  # (D, D)
    g = torch.Generator().manual_seed(seed + 1)
    shift = torch.randn(D, generator=g, dtype=torch.float64).to(x)  # (D,)
    moved = x @ rotation.T + shift
    _assert_outputs_close(fn(moved), fn(x), atol, "output after a rigid motion")


def _numpy(a: np.ndarray | Tensor) -> np.ndarray:
    if isinstance(a, Tensor):
        return a.detach().cpu().double().numpy()
    return np.asarray(a, dtype=np.float64)


def gudhi_rips_diagram(points_or_dist: np.ndarray | Tensor, dim: int,
                       max_edge: float = math.inf, *, distances: bool = False) -> np.ndarray:
    """The H``dim`` diagram of one Vietoris–Rips filtration, straight from GUDHI.

    Args:
        points_or_dist: ``(N, D)`` points, or ``(N, N)`` distances with ``distances=True``.
        dim: homology dimension.
        max_edge: GUDHI's ``max_edge_length``.

    Returns:
        ``(m, 2)`` float64 (birth, death); ``inf`` deaths for essential classes.
    """
    import gudhi

    data = _numpy(points_or_dist)
    if distances:
        complex_ = gudhi.RipsComplex(distance_matrix=data, max_edge_length=max_edge)
    else:
        complex_ = gudhi.RipsComplex(points=data, max_edge_length=max_edge)
    st = complex_.create_simplex_tree(max_dimension=dim + 1)
    st.compute_persistence(persistence_dim_max=st.dimension() <= dim)
    return st.persistence_intervals_in_dimension(dim).reshape(-1, 2)


def gudhi_flag_diagram(n_vertices: int, edges: np.ndarray | Tensor, lengths: np.ndarray | Tensor,
                       dim: int) -> np.ndarray:
    """The H``dim`` diagram of the flag filtration of a weighted graph, straight from GUDHI.

    Vertices enter at 0, each edge at its length, each clique at its longest edge.

    Args:
        n_vertices: number of vertices.
        edges: ``(E, 2)`` vertex pairs.
        lengths: ``(E,)`` edge lengths.
        dim: homology dimension.

    Returns:
        ``(m, 2)`` float64 (birth, death).
    """
    import gudhi

    st = gudhi.SimplexTree()
    for v in range(n_vertices):
        st.insert([v], filtration=0.0)
    for (i, j), length in zip(_numpy(edges).astype(int).tolist(), _numpy(lengths).tolist()):
        st.insert([i, j], filtration=length)
    st.expansion(dim + 1)
    st.compute_persistence(persistence_dim_max=st.dimension() <= dim)
    return st.persistence_intervals_in_dimension(dim).reshape(-1, 2)
