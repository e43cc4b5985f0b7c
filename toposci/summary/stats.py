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

from toposci.summary.store import PackedDiagrams
from toposci.topology.diagrams import Diagrams
from toposci.topology.vectorize import landscapes

__all__ = ["DimensionSummary", "betti_curves_packed", "finite_range", "padded",
           "summarize_dimension", "unique_diagrams"]

_Z95 = 1.959963984540054  # two-sided 95% normal quantile
# Diagram points padded at once (B * M): bounds the (B, M, 2) batches handed to the landscapes.
_PADDED_POINTS = 1 << 20


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


class _Moments:
    """Running weighted mean and sum of squared deviations over batches (Chan et al.).

    Shapes:
        ``add(x, w)`` takes ``(n, ...)`` values and ``(n,)`` weights (sample counts);
        ``band()`` returns three arrays of shape ``(...)``.
    """

    def __init__(self) -> None:
        self.n = 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None

    def add(self, x: np.ndarray, weights: np.ndarray) -> None:
        n_b = int(weights.sum())
        if n_b == 0:
            return
        w = weights.reshape(-1, *([1] * (x.ndim - 1))).astype(np.float64)  # (n, 1, ...)
        mean_b = (w * x).sum(axis=0) / n_b
        m2_b = (w * (x - mean_b) ** 2).sum(axis=0)
        if self.mean is None:
            self.n, self.mean, self.m2 = n_b, mean_b, m2_b
            return
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + m2_b + delta**2 * (self.n * n_b / n)
        self.n = n

    def band(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean and its pointwise 95% band ``mean ± z · std(ddof=1) / sqrt(S)``."""
        mean = self.mean
        if self.n < 2:
            half = np.zeros_like(mean)
        else:
            half = _Z95 * np.sqrt(self.m2 / (self.n - 1)) / np.sqrt(self.n)
        return mean, mean - half, mean + half


def finite_range(diagrams: Sequence[np.ndarray]) -> tuple[float, float]:
    """``(min, max)`` of every finite birth and death (births of essential bars included)."""
    values = np.concatenate([np.asarray(d, np.float64).reshape(-1) for d in diagrams]) \
        if len(diagrams) else np.zeros(0)
    values = values[np.isfinite(values)]
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def padded(packed: PackedDiagrams, dim: int) -> Diagrams:
    """The samples of ``packed`` as one padded float64 batch, without a per-sample loop.

    Shapes:
        packed: ``S`` samples, ``P`` rows -> values ``(S, M, 2)``, mask ``(S, M)``, ``M`` the
        largest sample.
    """
    sizes = packed.sizes  # (S,)
    S, M = len(sizes), int(sizes.max()) if len(sizes) else 0
    rows = np.arange(len(packed.values)) - np.repeat(packed.offsets[:-1], sizes)  # (P,)
    samples = packed.sample_of_rows()  # (P,)
    values = np.zeros((S, M, 2))
    mask = np.zeros((S, M), dtype=bool)
    values[samples, rows] = packed.values
    mask[samples, rows] = True
    return Diagrams(torch.from_numpy(values), torch.from_numpy(mask), dim)


def unique_diagrams(packed: PackedDiagrams) -> tuple[PackedDiagrams, np.ndarray]:
    """The distinct diagrams among the samples (as multisets of points) and how many samples
    have each.

    Data sets with few filtration values repeat diagrams massively (the 133,885 QM9 molecules
    by atomic number have a few dozen distinct ones), so statistics over samples are computed
    once per distinct diagram and weighted.

    Shapes:
        packed: ``S`` samples -> ``U`` diagrams (rows sorted by birth, then death) and ``(U,)``
        counts summing to ``S``.
    """
    samples = packed.sample_of_rows()  # (P,)
    order = np.lexsort((packed.values[:, 1], packed.values[:, 0], samples))  # (P,)
    rows = PackedDiagrams(packed.values[order], packed.offsets)
    first: dict[bytes, int] = {}
    which = np.fromiter((first.setdefault(rows.values[a:b].tobytes(), i)
                         for i, (a, b) in enumerate(zip(rows.offsets[:-1], rows.offsets[1:]))),
                        np.int64, len(rows))  # (S,) first sample with the same diagram
    kept, counts = np.unique(which, return_counts=True)  # (U,), (U,)
    return rows.take(kept), counts


def betti_curves_packed(packed: PackedDiagrams, grid: np.ndarray) -> np.ndarray:
    """Betti curves on ``grid``, as ``gudhi.representations.BettiCurve(predefined_grid=grid)``.

    The value at ``t`` counts the points with ``b <= t < d``; an infinite death is alive to the
    end of the grid. Each point adds 1 from the first grid value ``>= b`` and removes it again
    from the first grid value ``>= d``: one difference array per sample, summed up.

    Shapes:
        packed: ``S`` samples; grid: ``(T,)`` increasing -> ``(S, T)`` float64 counts.
    """
    S, T = len(packed), len(grid)
    samples = packed.sample_of_rows() * (T + 1)  # (P,) row starts in the flat (S, T + 1) array
    start = np.searchsorted(grid, packed.values[:, 0], side="left")  # (P,)
    stop = np.searchsorted(grid, packed.values[:, 1], side="left")  # (P,) T for +inf
    diff = np.bincount(samples + start, minlength=S * (T + 1)) - np.bincount(
        samples + stop, minlength=S * (T + 1))  # (S * (T + 1),)
    return np.cumsum(diff.reshape(S, T + 1)[:, :T], axis=1).astype(np.float64)  # (S, T)


def summarize_dimension(
    diagrams: Sequence[np.ndarray] | PackedDiagrams,
    dim: int,
    *,
    num_landscapes: int = 5,
    resolution: int = 100,
    sample_range: tuple[float, float] | None = None,
    batch_size: int = 4096,
) -> DimensionSummary:
    """Summarize the H_dim diagrams of ``S`` samples.

    Args:
        diagrams: ``S`` arrays ``(m_i, 2)`` (or the same packed); infinite deaths allowed.
        dim: their homology dimension.
        num_landscapes: landscape levels ``K``.
        resolution: grid size ``T``.
        sample_range: the grid's ``(t_min, t_max)``; ``None`` spans all finite values
            (:func:`finite_range`).
        batch_size: diagrams vectorized at once at most (bounds memory, with a cap on the
            padded points).

    Returns:
        a :class:`DimensionSummary`.
    """
    if not isinstance(diagrams, PackedDiagrams):
        diagrams = PackedDiagrams.from_list(diagrams)
    S = len(diagrams)
    if S == 0:
        raise ValueError(f"no H{dim} diagrams to summarize (every sample failed or was skipped)")
    finite_rows = np.isfinite(diagrams.values).all(axis=1)  # (P,)
    finite_counts = np.bincount(diagrams.sample_of_rows()[finite_rows], minlength=S)  # (S,)
    essential_counts = diagrams.sizes - finite_counts
    if sample_range is None:
        sample_range = finite_range([diagrams.values])
    lo, hi = sample_range
    grid = np.linspace(lo, hi, resolution)
    distinct, counts = unique_diagrams(diagrams)
    # by size, so that each padded batch holds diagrams of about the same size
    order = np.argsort(distinct.sizes, kind="stable")  # (U,)
    distinct, counts = distinct.take(order), counts[order]
    distinct_finite = distinct.keep_rows(np.isfinite(distinct.values).all(axis=1))
    lands, bettis = _Moments(), _Moments()
    for start, stop in _batches(distinct_finite.sizes, batch_size):
        batch = padded(distinct_finite.slice(start, stop), dim)
        weights = counts[start:stop]  # (b,)
        lands.add(landscapes(batch, num_landscapes=num_landscapes, resolution=resolution,
                             sample_range=sample_range).numpy(), weights)  # (b, K, T)
        bettis.add(betti_curves_packed(distinct.slice(start, stop), grid), weights)  # (b, T)
    l_mean, l_low, l_high = lands.band()
    b_mean, b_low, b_high = bettis.band()
    return DimensionSummary(
        dim=dim,
        n_samples=S,
        finite_counts=finite_counts,
        essential_counts=essential_counts,
        grid=grid,
        landscape_mean=l_mean,
        landscape_low=l_low,
        landscape_high=l_high,
        betti_mean=b_mean,
        betti_low=b_low,
        betti_high=b_high,
    )


def _batches(sizes: np.ndarray, batch_size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` runs of samples: at most ``batch_size`` samples and, unless one sample
    alone is larger, at most ``_PADDED_POINTS`` points once padded to the largest of them."""
    out, start, S = [], 0, len(sizes)
    while start < S:
        stop = min(start + batch_size, S)
        # shrink until the padded batch fits (a running max over the candidates)
        widest = np.maximum.accumulate(np.maximum(sizes[start:stop], 1))  # (n,)
        fits = widest * np.arange(1, stop - start + 1) <= _PADDED_POINTS
        stop = start + max(1, int(fits.sum()))
        out.append((start, stop))
        start = stop
    return out
