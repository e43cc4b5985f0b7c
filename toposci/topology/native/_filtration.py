"""The Vietoris–Rips filtration of one distance matrix: checks, edge order, H0, edge lists.

The edge order and the tie rules are described in :mod:`toposci.topology.native._rips_kernels`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from toposci.topology.native._sort import argsort_stable
from toposci.topology.native._unionfind import find

__all__ = ["MISSING", "adjacency", "check_distances", "enclosing_threshold", "filtration",
           "spanning_forest"]

# Rank of an edge that is not in the complex (longer than the threshold, inf, or the diagonal).
MISSING = np.int32(2**31 - 1)


# ---------------------------------------------------------------------------------- input checks
@njit(cache=True, nogil=True)
def check_distances(dist: np.ndarray) -> tuple[int, int, int, int]:
    """First problem in a batch of distance matrices, as ``(code, b, i, j)``; code 0 = none.

    Codes: 1 NaN, 2 negative or ``-inf``, 3 not symmetric, 4 non-zero diagonal.

    Shapes:
        dist: ``(B, N, N)``.
    """
    B, n, _ = dist.shape
    for b in range(B):
        for i in range(n):
            if dist[b, i, i] != 0.0:
                return (1 if np.isnan(dist[b, i, i]) else 4), b, i, i
            for j in range(i):
                d = dist[b, i, j]
                if np.isnan(d):
                    return 1, b, i, j
                if d < 0.0:
                    return 2, b, i, j
                if d != dist[b, j, i]:
                    return (1 if np.isnan(dist[b, j, i]) else 3), b, i, j
    return 0, 0, 0, 0


@njit(cache=True, nogil=True)
def enclosing_threshold(dist: np.ndarray, max_edge_length: float) -> float:
    """``min(min_i max_j d(i, j), max_edge_length)``: no class above H0 is alive past it.

    Shapes:
        dist: ``(N, N)``.
    """
    n = dist.shape[0]
    radius = np.inf
    for i in range(n):
        row_max = 0.0
        for j in range(n):
            row_max = max(row_max, dist[i, j])
        radius = min(radius, row_max)
    return min(radius, max_edge_length)


# ---------------------------------------------------------------------------------- filtration
@njit(cache=True, nogil=True)
def filtration(dist: np.ndarray,
               threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Edges of the complex in filtration order and the rank matrix.

    Returns:
        rank ``(N, N)`` int32 (``MISSING`` for absent edges and the diagonal), and per rank the
        endpoints ``u > v`` (int32) and the length (float64), each ``(E,)``.
    """
    n = dist.shape[0]
    total = n * (n - 1) // 2
    lengths = np.empty(total)
    us = np.empty(total, np.int32)
    vs = np.empty(total, np.int32)
    m = 0
    for i in range(1, n):  # combinatorial index i (i - 1) / 2 + j, ascending
        for j in range(i):
            d = dist[i, j]
            if d <= threshold and d < np.inf:
                lengths[m] = d
                us[m] = i
                vs[m] = j
                m += 1
    order = argsort_stable(lengths[:m])  # stable: ties by combinatorial index
    rank = np.full((n, n), MISSING, np.int32)
    eu = np.empty(m, np.int32)
    ev = np.empty(m, np.int32)
    el = np.empty(m)
    for r in range(m):
        e = order[r]
        eu[r] = us[e]
        ev[r] = vs[e]
        el[r] = lengths[e]
        rank[eu[r], ev[r]] = r
        rank[ev[r], eu[r]] = r
    return rank, eu, ev, el


@njit(cache=True, nogil=True)
def spanning_forest(eu: np.ndarray, ev: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Kruskal's union-find over the edges in filtration order (H0).

    Every vertex is born at 0; when an edge joins two components, the one whose smallest vertex
    is larger dies there (all births tie, so this is one valid elder rule).

    Returns:
        ``dying (E,)`` int32: for each edge that merges two components, the smallest vertex of
        the component that dies (``-1`` for the other edges); ``parent (N,)``: the union-find
        forest, whose roots (``parent[v] == v``) are the smallest vertices of the components
        that never die.
    """
    parent = np.arange(n)
    dying = np.full(len(eu), np.int32(-1))
    for r in range(len(eu)):
        a = find(parent, eu[r])
        b = find(parent, ev[r])
        if a != b:
            parent[max(a, b)] = min(a, b)
            dying[r] = max(a, b)
    return dying, parent


@njit(cache=True, nogil=True)
def adjacency(eu: np.ndarray, ev: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """Every vertex's edges sorted by rank (CSR), and each edge's walking endpoint.

    Returns:
        ``offsets (N + 1,)``; ``adj_rank``, ``adj_vertex`` ``(2E,)``: the edges of vertex ``u``
        are ``adj_rank[offsets[u]:offsets[u + 1]]`` (increasing), with the neighbours at their
        other end in ``adj_vertex``; per edge ``(E,)``: ``walk`` the endpoint with fewer shorter
        edges (ties: the larger vertex), ``rest`` the other one, and the positions of the edge
        in their lists, ``walk_pos`` and ``rest_pos``.
    """
    E = len(eu)
    offsets = np.zeros(n + 1, np.int64)
    for r in range(E):
        offsets[eu[r] + 1] += 1
        offsets[ev[r] + 1] += 1
    for u in range(n):
        offsets[u + 1] += offsets[u]
    fill = offsets[:n].copy()
    adj_rank = np.empty(2 * E, np.int32)
    adj_vertex = np.empty(2 * E, np.int32)
    walk = np.empty(E, np.int32)
    rest = np.empty(E, np.int32)
    walk_pos = np.empty(E, np.int64)
    rest_pos = np.empty(E, np.int64)
    for r in range(E):  # increasing rank, so every list comes out sorted
        u = eu[r]
        v = ev[r]
        if fill[u] - offsets[u] <= fill[v] - offsets[v]:
            walk[r], rest[r] = u, v
        else:
            walk[r], rest[r] = v, u
        walk_pos[r] = fill[walk[r]]
        rest_pos[r] = fill[rest[r]]
        adj_rank[fill[u]] = r
        adj_vertex[fill[u]] = v
        fill[u] += 1
        adj_rank[fill[v]] = r
        adj_vertex[fill[v]] = u
        fill[v] += 1
    return offsets, adj_rank, adj_vertex, walk, rest, walk_pos, rest_pos
