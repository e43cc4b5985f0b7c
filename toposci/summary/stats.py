"""Data-set-level statistics of many per-sample diagrams: counts, mean landscapes, Betti curves.

Confidence bands are pointwise normal-approximation 95% intervals of the mean,
``mean ± 1.96 · std / sqrt(S)`` over the ``S`` samples (landscapes obey a central limit
theorem in L2: Bubenik, "Statistical topological data analysis using persistence landscapes",
JMLR 16, 2015).

Infinite (essential) bars are counted separately (``essential`` in :class:`DimensionSummary`).
They are dropped before landscapes are computed, and count as alive to the end of the grid in
Betti curves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from toposci.topology.diagrams import Diagrams
from toposci.topology.vectorize import betti_curves, landscapes

__all__ = ["DimensionSummary", "finite_range", "summarize_dimension"]

_Z95 = 1.959963984540054  # two-sided 95% normal quantile


@dataclass(frozen=True)
class DimensionSummary:
    """Statistics of the H_dim diagrams of a data set.

    Attributes:
        dim: homology dimension.
        n_samples: number of diagrams ``S``.
        finite_counts: ``(S,)`` finite points per sample.
        essential_counts: ``(S,)`` infinite bars per sample.
        grid: ``(T,)`` sample points shared by the curves.
        landscape_mean, landscape_low, landscape_high: ``(K, T)`` mean landscape and its band.
        betti_mean, betti_low, betti_high: ``(T,)`` mean Betti curve and its band.
    """

    dim: int
    n_samples: int
    finite_counts: np.ndarray
    essential_counts: np.ndarray
    grid: np.ndarray
    landscape_mean: np.ndarray
    landscape_low: np.ndarray
    landscape_high: np.ndarray
    betti_mean: np.ndarray
    betti_low: np.ndarray
    betti_high: np.ndarray

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat ``H{dim}_<field>`` arrays for an ``.npz`` file."""
        return {f"H{self.dim}_{k}": np.asarray(v) for k, v in vars(self).items() if k != "dim"}


def _mean_band(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over axis 0 and its pointwise 95% band."""
    mean = x.mean(axis=0)
    half = _Z95 * x.std(axis=0, ddof=1) / np.sqrt(len(x)) if len(x) > 1 else np.zeros_like(mean)
    return mean, mean - half, mean + half


def finite_range(diagrams: Sequence[np.ndarray]) -> tuple[float, float]:
    """``(min, max)`` of every finite birth and death (births of essential bars included)."""
    values = np.concatenate([np.asarray(d, np.float64).reshape(-1) for d in diagrams]) \
        if len(diagrams) else np.zeros(0)
    values = values[np.isfinite(values)]
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def summarize_dimension(
    diagrams: Sequence[np.ndarray],
    dim: int,
    *,
    num_landscapes: int = 5,
    resolution: int = 100,
    sample_range: tuple[float, float] | None = None,
    batch_size: int = 4096,
) -> DimensionSummary:
    """Summarize the H_dim diagrams of ``S`` samples.

    Args:
        diagrams: ``S`` arrays ``(m_i, 2)``; infinite deaths allowed.
        dim: their homology dimension.
        num_landscapes: landscape levels ``K``.
        resolution: grid size ``T``.
        sample_range: the grid's ``(t_min, t_max)``; ``None`` spans all finite values
            (:func:`finite_range`).
        batch_size: diagrams vectorized at once (bounds memory).

    Returns:
        a :class:`DimensionSummary`.
    """
    if len(diagrams) == 0:
        raise ValueError(f"no H{dim} diagrams to summarize (every sample failed or was skipped)")
    finite_counts = np.array([int(np.isfinite(d).all(axis=1).sum()) for d in diagrams])
    essential_counts = np.array([len(d) for d in diagrams]) - finite_counts
    if sample_range is None:
        sample_range = finite_range(diagrams)
    lo, hi = sample_range
    cap = hi + (hi - lo)  # beyond the grid: an essential bar is alive at every grid point
    lands, bettis = [], []
    for start in range(0, len(diagrams), batch_size):
        batch = Diagrams.from_arrays(diagrams[start : start + batch_size], dim,
                                     dtype=torch.float64)
        lands.append(landscapes(batch.drop_infinite(), num_landscapes=num_landscapes,
                                resolution=resolution, sample_range=sample_range).numpy())
        bettis.append(betti_curves(batch.cap_infinite(cap), resolution=resolution,
                                   sample_range=sample_range).numpy())
    land = np.concatenate(lands)  # (S, K, T)
    betti = np.concatenate(bettis)  # (S, T)
    l_mean, l_low, l_high = _mean_band(land)
    b_mean, b_low, b_high = _mean_band(betti)
    return DimensionSummary(
        dim=dim,
        n_samples=len(diagrams),
        finite_counts=finite_counts,
        essential_counts=essential_counts,
        grid=np.linspace(lo, hi, resolution),
        landscape_mean=l_mean,
        landscape_low=l_low,
        landscape_high=l_high,
        betti_mean=b_mean,
        betti_low=b_low,
        betti_high=b_high,
    )
