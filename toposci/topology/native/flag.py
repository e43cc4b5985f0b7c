"""Native H0 / H1 persistence pairs of flag (clique) complexes of graphs, compiled with numba.

The replacement for one GUDHI ``SimplexTree`` per graph in :mod:`toposci.topology.graph`: a
whole batch of graphs goes through one call, and the pairs come back as simplices (vertex ids),
so that the caller gathers the birth and death values from torch by index. The filtration order,
its tie rules and the pairing are GUDHI's (see :mod:`toposci.topology.native._flag_kernels`), so
the pairs and their simplices are those of ``SimplexTree.persistence_pairs()``, with the
simplices' vertices in the same (decreasing) order; only essential classes may be listed in
another order.
"""

from __future__ import annotations

import numpy as np

from toposci.topology.native._flag_kernels import flag_pairs_batch

__all__ = ["flag_pairs_native"]


def flag_pairs_native(ptr: np.ndarray, edges: np.ndarray, edge_ptr: np.ndarray,
                      vertex_values: np.ndarray, edge_values: np.ndarray, *,
                      max_dim: int = 2) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """H0 and H1 pairs of the flag complexes of a batch of graphs.

    Every vertex enters at its value, every edge at its value, every triangle (with
    ``max_dim >= 2``) at the largest value of its edges. Zero-persistence pairs are left out.

    Args:
        ptr: ``(G + 1,)`` node offsets: graph ``g`` owns nodes ``ptr[g] .. ptr[g+1] - 1``.
        edges: ``(U, 2)`` distinct undirected edges ``(a, b)``, ``a < b`` (global ids), sorted
            lexicographically (hence grouped by graph).
        edge_ptr: ``(G + 1,)`` offsets of each graph's edges in ``edges``.
        vertex_values: ``(N,)`` float64 filtration values of the vertices.
        edge_values: ``(U,)`` float64 values of the edges, each at least its endpoints' values.
        max_dim: ``1``: the graph itself (every cycle is essential); ``>= 2``: triangles filled
            (larger cliques change only H2 and up, which is not computed).

    Returns:
        ``{0: (births (P0, 1), deaths (P0, 2), counts (G,)), 1: (births (P1, 2),
        deaths (P1, 3), counts (G,))}``: the birth and death simplex of each pair (global
        vertex ids in decreasing order), pairs grouped by graph with ``counts`` per graph; a
        death row of ``-1`` marks an essential class.

    Shapes:
        ptr, edge_ptr: ``(G + 1,)``; edges: ``(U, 2)``; vertex_values: ``(N,)``;
        edge_values: ``(U,)``.
    """
    if max_dim < 1:
        raise ValueError(f"max_dim must be >= 1 (1: the graph itself), got {max_dim}")
    ptr = np.ascontiguousarray(ptr, dtype=np.int64)
    edges = np.ascontiguousarray(edges, dtype=np.int64).reshape(-1, 2)  # (U, 2)
    edge_ptr = np.ascontiguousarray(edge_ptr, dtype=np.int64)
    fv = np.ascontiguousarray(vertex_values, dtype=np.float64)
    fe = np.ascontiguousarray(edge_values, dtype=np.float64)
    if ptr.ndim != 1 or len(ptr) < 2 or edge_ptr.shape != ptr.shape:
        raise ValueError(f"ptr and edge_ptr must both have shape (G + 1,) with G >= 1, got "
                         f"{ptr.shape} and {edge_ptr.shape}")
    if fv.shape != (ptr[-1],) or fe.shape != (len(edges),) or edge_ptr[-1] != len(edges):
        raise ValueError(f"vertex_values must have shape (N,) = ({ptr[-1]},) and edge_values "
                         f"(U,) = ({len(edges)},), got {fv.shape} and {fe.shape}")
    if not (np.isfinite(fv).all() and np.isfinite(fe).all()):
        raise ValueError("vertex_values and edge_values must be finite (no NaN or inf)")
    if len(edges) and (edges[:, 0] >= edges[:, 1]).any():
        raise ValueError("edges must be rows (a, b) with a < b")
    if len(edges) and (fe < np.maximum(fv[edges[:, 0]], fv[edges[:, 1]])).any():
        raise ValueError("an edge's value must be at least the values of its endpoints")
    h0, c0, h1, c1 = flag_pairs_batch(ptr, edges, edge_ptr, fv, fe, min(max_dim, 2))
    return {0: (h0[:, :1], h0[:, 1:], c0), 1: (h1[:, :2], h1[:, 2:], c1)}
