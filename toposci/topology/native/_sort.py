"""Stable argsort of float64 keys by LSD radix sort (faster than numba's mergesort here)."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["argsort_stable"]


@njit(cache=True, nogil=True)
def argsort_stable(values: np.ndarray) -> np.ndarray:
    """Indices that sort ``values`` increasingly, equal values in index order.

    Each float is mapped to an unsigned integer with the same order (flip every bit of a
    negative number, the sign bit of a positive one; ``-0.0`` is read as ``0.0``), then sorted
    digit by digit, least significant first (8-bit digits for short arrays, 11-bit for long).
    A pass where every key has the same digit is skipped, which leaves about 2 passes for 8-bit
    image data.

    Args:
        values: ``(S,)`` float64, no NaN.

    Returns:
        ``(S,)`` int64 permutation.
    """
    S = len(values)
    if S < 2:
        return np.arange(S)
    keys = np.empty(S, np.uint64)
    bits = (values + 0.0).view(np.uint64)  # + 0.0 turns -0.0 into 0.0
    sign = np.uint64(1) << np.uint64(63)
    for t in range(S):
        b = bits[t]
        keys[t] = ~b if b & sign else b | sign
    # 8-bit digits (8 passes) for short arrays, 11-bit digits (6 passes) for long ones.
    width = 8 if S < 8192 else 11
    passes = (64 + width - 1) // width
    radix = 1 << width
    mask = np.uint64(radix - 1)
    counts = np.zeros((passes, radix), np.int64)
    for t in range(S):
        k = keys[t]
        for p in range(passes):
            counts[p, (k >> np.uint64(width * p)) & mask] += 1
    order = np.arange(S)
    scratch = np.empty(S, np.int64)
    start = np.empty(radix, np.int64)
    for p in range(passes):
        shift = np.uint64(width * p)
        if counts[p, (keys[0] >> shift) & mask] == S:
            continue  # every key has this digit: the pass would not move anything
        total = 0
        for d in range(radix):
            start[d] = total
            total += counts[p, d]
        for t in range(S):
            e = order[t]
            d = (keys[e] >> shift) & mask
            scratch[start[d]] = e
            start[d] += 1
        order, scratch = scratch, order
    return order
