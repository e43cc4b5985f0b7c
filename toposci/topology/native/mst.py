"""H0 pairs by Prim's algorithm in numba: the CPU twin of the batched torch Prim in ``rips``.

A training step needs the H0 pairing of small clouds (one batch of 128 samples is one cloud);
the torch version runs ``N`` rounds of small tensor operations per call, which costs more than
the model step itself on a CPU. This kernel runs the same algorithm with the same tie rules (the
lowest index among equal candidates; a new component starts at the lowest unvisited index), so
both give identical pairs, row for row.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from toposci.topology.native._threads import run_chunks

__all__ = ["mst_pairs_native"]


@njit(cache=True, nogil=True)
def _prim(weights: np.ndarray, valid: np.ndarray, born: np.ndarray, killers: np.ndarray) -> None:
    """Prim on one graph ``(N, N)``; fills ``born (N,)`` and ``killers (N, 2)`` step by step."""
    n = weights.shape[0]
    in_tree = ~valid
    best = np.full(n, np.inf)
    parent = np.full(n, -1, dtype=np.int64)
    for step in range(n):
        v = -1
        low = np.inf
        first_free = -1
        for u in range(n):
            if in_tree[u]:
                continue
            if first_free < 0:
                first_free = u
            if best[u] < low:
                low = best[u]
                v = u
        if first_free < 0:  # every vertex visited (padding rows): the torch twin repeats 0
            first_free = 0
        if v < 0:  # nothing reachable: a new component
            v = first_free
            killers[step, 0] = -1
            killers[step, 1] = -1
        else:
            killers[step, 0] = parent[v]
            killers[step, 1] = v
        born[step] = v
        in_tree[v] = True
        for u in range(n):
            if not in_tree[u] and weights[v, u] < best[u]:
                best[u] = weights[v, u]
                parent[u] = v


def mst_pairs_native(weights: np.ndarray, valid: np.ndarray, *, n_threads: int | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Prim's steps of a batch of weighted graphs.

    Args:
        weights: ``(B, N, N)`` float64 edge lengths, ``inf`` for missing edges.
        valid: ``(B, N)`` bool, False for padding vertices (never attached).
        n_threads: threads the graphs are spread over (default: one per core).

    Returns:
        ``born (B, N)``: the vertex attached at each step; ``killers (B, N, 2)``: the edge
        (parent, vertex) that attached it, ``(-1, -1)`` when it started a new component. Steps
        past the number of valid vertices hold filler and must be masked by the caller.
    """
    B, N, _ = weights.shape
    born = np.zeros((B, N), dtype=np.int64)
    killers = np.full((B, N, 2), -1, dtype=np.int64)

    def chunk(lo: int, hi: int) -> None:
        for b in range(lo, hi):
            _prim(weights[b], valid[b], born[b], killers[b])

    run_chunks(chunk, B, n_threads)
    return born, killers
