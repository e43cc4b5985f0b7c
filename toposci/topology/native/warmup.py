"""Compile (or load from numba's on-disk cache) every native kernel on tiny inputs."""

from __future__ import annotations

import math

import numpy as np

from toposci.topology.native.cubical import cubical_pairs_native
from toposci.topology.native.flag import flag_pairs_native
from toposci.topology.native.mst import mst_pairs_native
from toposci.topology.native.rips import rips_pairs_native, rips_pairs_native_batch

__all__ = ["warmup"]


def warmup() -> None:
    """Run every kernel once on tiny inputs so that later calls do not pay for compilation.

    The first call in a fresh environment compiles (about 20 s on 2 cores); later processes
    load the cached machine code from disk (well under a second).
    """
    square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])  # (4, 2): one loop
    dist = np.linalg.norm(square[:, None] - square[None], axis=-1)  # (4, 4)
    rips_pairs_native(dist, 1, math.inf)
    rips_pairs_native_batch(dist[None], 1, math.inf)
    cubical_pairs_native(np.arange(12, dtype=np.float64).reshape(1, 3, 4))
    flag_pairs_native(np.array([0, 3]), np.array([[0, 1], [0, 2], [1, 2]]), np.array([0, 3]),
                      np.zeros(3), np.ones(3))
    mst_pairs_native(dist[None], np.ones((1, 4), dtype=bool))
