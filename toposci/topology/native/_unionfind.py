"""Union-find (disjoint sets) on an int array, shared by the Rips and cubical kernels."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["find"]


@njit(cache=True, nogil=True)
def find(parent: np.ndarray, x: int) -> int:
    """Root of ``x``'s set, halving the path on the way (every node skips to its grandparent).

    Args:
        parent: ``(S,)`` parent of each element; a root is its own parent.
        x: an element whose ``parent`` entry is set.
    """
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x
