"""Distances between batches of persistence diagrams: bottleneck, Wasserstein, landscape L2.

Each function takes two batches ``a`` and ``b`` of the same size and homology dimension and
returns one distance per pair ``(a[i], b[i])`` as a ``(B,)`` tensor on ``a``'s device and dtype.

* :func:`bottleneck_distance` is GUDHI's exact ``bottleneck_distance`` (L-infinity ground
  metric) per pair; not differentiable.
* :func:`wasserstein_distance` finds the optimal matching with POT's exact solver on detached
  values (the problem GUDHI's ``wasserstein_distance`` solves), then evaluates the cost of that
  matching in torch, so gradients flow to the matched points (points matched to the diagonal
  through their distance to it).
* :func:`landscape_distance` is the Euclidean distance between landscape vectors sampled on one
  grid shared by both batches; differentiable.

Diagrams with infinite bars raise a :class:`ValueError`; drop or cap them first.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from toposci._validation import check_same_batch
from toposci.topology.diagrams import Diagrams
from toposci.topology.vectorize import (
    _check_diagrams,
    _check_positive_int,
    _landscapes_on_grid,
    _sample_grid,
)

__all__ = ["bottleneck_distance", "landscape_distance", "wasserstein_distance"]

# POT's iteration cap for the network simplex, as GUDHI sets it for large diagrams.
_EMD_MAX_ITER = 2_000_000


def _check_pair(a: Diagrams, b: Diagrams, what: str) -> None:
    """Raise ValueError unless ``a`` and ``b`` are comparable, finite, non-empty batches."""
    _check_diagrams(a, what)
    _check_diagrams(b, what)
    check_same_batch(a.values, b.values, f"{what}: a", "b")
    if a.dim != b.dim:
        raise ValueError(
            f"{what} compares diagrams of one homology dimension, got H{a.dim} and H{b.dim}"
        )
    if a.values.dtype != b.values.dtype or a.values.device != b.values.device:
        raise ValueError(
            f"{what}: a and b must share dtype and device, got {a.values.dtype} on "
            f"{a.values.device} and {b.values.dtype} on {b.values.device}"
        )


def _safe_root(total: Tensor, order: float) -> Tensor:
    """``total ** (1 / order)`` with gradient 0 (not inf or NaN) where ``total`` is 0."""
    positive = total > 0
    safe = torch.where(positive, total, torch.ones_like(total))
    return torch.where(positive, safe ** (1.0 / order), torch.zeros_like(total))


# ---------------------------------------------------------------------- bottleneck
def bottleneck_distance(a: Diagrams, b: Diagrams) -> Tensor:
    """Bottleneck distance between ``a[i]`` and ``b[i]`` for every ``i``, by GUDHI.

    The ground metric is L-infinity, so a point ``(x, y)`` is ``(y - x) / 2`` away from the
    diagonal: ``{(0, 1)}`` against the empty diagram is at distance 0.5.

    Args:
        a: first batch of finite diagrams.
        b: second batch, same batch size and homology dimension.

    Returns:
        ``(B,)`` distances (no autograd history: the bottleneck distance is a max over one
        matched pair and is computed by GUDHI on detached values).

    Shapes:
        a.values: ``(B, Ma, 2)``, b.values: ``(B, Mb, 2)`` -> ``(B,)``.
    """
    import gudhi

    _check_pair(a, b, "bottleneck_distance")
    pairs = zip(a.to_arrays(), b.to_arrays(), strict=True)
    out = [gudhi.bottleneck_distance(x, y) for x, y in pairs]
    return torch.tensor(out, dtype=a.values.dtype, device=a.values.device)


# ---------------------------------------------------------------------- Wasserstein
def wasserstein_distance(
    a: Diagrams,
    b: Diagrams,
    *,
    order: float = 1.0,
    internal_p: float = math.inf,
) -> Tensor:
    """Wasserstein distance of order ``q`` between ``a[i]`` and ``b[i]`` for every ``i``.

    ``W_q = (min over matchings of sum ||x - y||_p^q + sum dist_p(z, diagonal)^q)^(1/q)`` where
    unmatched points go to the diagonal at L-p distance ``(death - birth) * 2^(1/p - 1)``; this
    is ``gudhi.wasserstein.wasserstein_distance(X, Y, order=q, internal_p=p)``.

    The optimal transport plan is computed with ``ot.emd`` (POT, exact network simplex) on
    detached float64 values, one pair at a time; its cost is then evaluated in torch from the
    gathered points, so the result is differentiable in both batches' values almost everywhere
    (the matching is locally constant; where it is not unique, the gradient is that of the
    matching POT returned). At distance 0 the gradient is taken as 0.

    Args:
        a: first batch of finite diagrams (points above the diagonal).
        b: second batch, same batch size and homology dimension.
        order: the exponent ``q``, finite and >= 1.
        internal_p: the ground metric L-``p`` on the plane, ``p >= 1`` (``math.inf`` allowed).

    Returns:
        ``(B,)`` distances.

    Shapes:
        a.values: ``(B, Ma, 2)``, b.values: ``(B, Mb, 2)`` -> ``(B,)``.
    """
    _check_pair(a, b, "wasserstein_distance")
    if not math.isfinite(order) or order < 1:
        raise ValueError(f"order must be a finite number >= 1, got {order!r}")
    if math.isnan(internal_p) or internal_p < 1:
        raise ValueError(f"internal_p must be >= 1 (math.inf allowed), got {internal_p!r}")
    a, b = _front_packed(a), _front_packed(b)
    batch, rows, cols, mass = _optimal_plans(a, b, order, internal_p)
    device, dtype = a.values.device, a.values.dtype
    batch, rows, cols = (torch.from_numpy(x).to(device) for x in (batch, rows, cols))
    mass = torch.from_numpy(mass).to(device, dtype)

    # Each plan entry moves a point of a (row) to a point of b (col) or to the diagonal (-1).
    diag_scale = 2.0 ** (1.0 / internal_p - 1.0)
    point_a = a.values[batch, rows.clamp_min(0)]  # (P, 2)
    point_b = b.values[batch, cols.clamp_min(0)]  # (P, 2)
    between = torch.linalg.vector_norm(point_a - point_b, ord=internal_p, dim=-1)  # (P,)
    to_diag_a = (point_a[:, 1] - point_a[:, 0]).abs() * diag_scale
    to_diag_b = (point_b[:, 1] - point_b[:, 0]).abs() * diag_scale
    length = torch.where(cols < 0, to_diag_a, torch.where(rows < 0, to_diag_b, between))
    total = a.values.new_zeros(a.batch_size).index_add(0, batch, mass * length**order)
    return _safe_root(total, order)


def _front_packed(diagrams: Diagrams) -> Diagrams:
    """The same batch with each diagram's real rows first (stable, differentiable gather).

    Padding rows are set to ``(0, 0)`` so that whatever they held cannot leak NaN into gradients.

    A batch with no rows at all gets one padding row, so that indexing it stays valid.
    """
    if diagrams.values.shape[1] == 0:
        B = diagrams.batch_size
        values = diagrams.values.new_zeros(B, 1, 2)
        return Diagrams(values, diagrams.mask.new_zeros(B, 1), diagrams.dim)
    order = torch.sort((~diagrams.mask).to(torch.uint8), dim=1, stable=True).indices  # (B, M)
    values = diagrams.values.masked_fill(~diagrams.mask.unsqueeze(-1), 0.0)  # padding at (0, 0)
    values = torch.gather(values, 1, order.unsqueeze(-1).expand(-1, -1, 2))
    return Diagrams(values, torch.gather(diagrams.mask, 1, order), diagrams.dim)


def _optimal_plans(
    a: Diagrams, b: Diagrams, order: float, internal_p: float
) -> tuple[np.ndarray, ...]:
    """Solve every pair's transport problem with POT and list the plans' non-zero entries.

    ``a`` and ``b`` must be front-packed (diagram ``i`` is ``values[i, :count_i]``).

    Returns:
        ``(batch, row, col, mass)`` arrays over all entries: point ``row`` of ``a[batch]`` sends
        ``mass`` to point ``col`` of ``b[batch]``; ``-1`` stands for the diagonal. Masses are 1
        for the vertex solutions the network simplex returns.
    """
    import ot

    xa = a.values.detach().cpu().double().numpy()  # (B, Ma, 2)
    xb = b.values.detach().cpu().double().numpy()  # (B, Mb, 2)
    counts_a, counts_b = a.counts.tolist(), b.counts.tolist()
    diag_scale = 2.0 ** (1.0 / internal_p - 1.0)
    found: list[tuple[np.ndarray, ...]] = []
    for i, (n, m) in enumerate(zip(counts_a, counts_b, strict=True)):
        x, y = xa[i, :n], xb[i, :m]
        cost = np.empty((n + 1, m + 1))
        cost[:n, :m] = _ground_distances(x, y, internal_p) ** order
        cost[:n, m] = (np.abs(x[:, 1] - x[:, 0]) * diag_scale) ** order
        cost[n, :m] = (np.abs(y[:, 1] - y[:, 0]) * diag_scale) ** order
        cost[n, m] = 0.0
        if n and m:
            supply = np.ones(n + 1)
            supply[n] = m
            demand = np.ones(m + 1)
            demand[m] = n
            plan = ot.emd(supply, demand, cost, numItermax=_EMD_MAX_ITER, center_dual=False)
        else:  # one side is empty: everything goes to the diagonal
            plan = np.zeros((n + 1, m + 1))
            plan[:n, m] = 1.0
            plan[n, :m] = 1.0
        plan[n, m] = 0.0  # the diagonal to itself costs nothing
        rows, cols = np.nonzero(plan)
        mass = plan[rows, cols]
        rows[rows == n] = -1
        cols[cols == m] = -1
        found.append((np.full(rows.size, i), rows, cols, mass))
    return tuple(np.concatenate(column) for column in zip(*found, strict=True))


def _ground_distances(x: np.ndarray, y: np.ndarray, internal_p: float) -> np.ndarray:
    """``(n, m)`` L-``internal_p`` distances between the rows of ``x`` ``(n, 2)`` and ``y``."""
    from scipy.spatial.distance import cdist

    if math.isinf(internal_p):
        return cdist(x, y, metric="chebyshev")
    return cdist(x, y, metric="minkowski", p=internal_p)


# ---------------------------------------------------------------------- landscapes
def landscape_distance(
    a: Diagrams,
    b: Diagrams,
    *,
    num_landscapes: int = 5,
    resolution: int = 100,
    sample_range: tuple[float, float] | None = None,
) -> Tensor:
    """Euclidean distance between the landscape vectors of ``a[i]`` and ``b[i]``.

    Both batches are sampled on one grid: the given ``sample_range``, or with ``None`` the range
    fitted on ``a`` and ``b`` together (min birth to max death over all their points). The
    distance is ``||landscapes(a)[i] - landscapes(b)[i]||_2`` over all ``K * T`` samples, i.e.
    ``numpy.linalg.norm`` of the difference of the two GUDHI ``Landscape`` vectors; multiply by
    the square root of the grid step for a Riemann sum of the functional L2 norm.

    Args:
        a: first batch of finite diagrams.
        b: second batch, same batch size and homology dimension.
        num_landscapes, resolution, sample_range: as in
            :func:`~toposci.topology.vectorize.landscapes`.

    Returns:
        ``(B,)`` distances, differentiable in both batches (gradient 0 at distance 0).

    Shapes:
        a.values: ``(B, Ma, 2)``, b.values: ``(B, Mb, 2)`` -> ``(B,)``.
    """
    _check_pair(a, b, "landscape_distance")
    k_levels = _check_positive_int(num_landscapes, "num_landscapes")
    resolution = _check_positive_int(resolution, "resolution")
    grid = _sample_grid((a, b), resolution, sample_range)  # (T,)
    diff = _landscapes_on_grid(a, grid, k_levels) - _landscapes_on_grid(b, grid, k_levels)
    squared = diff.square().flatten(1).sum(dim=1)  # (B,)
    return _safe_root(squared, 2.0)
