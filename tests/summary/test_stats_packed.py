"""Packed diagrams and the data-set statistics computed from them, against GUDHI one sample at a
time."""

from __future__ import annotations

import numpy as np
import pytest

from toposci.summary.stats import betti_curves_packed, summarize_dimension, unique_diagrams
from toposci.summary.store import PackedDiagrams

representations = pytest.importorskip("gudhi.representations")


def _random_diagrams(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Diagrams on the integers 0..6 (ties with the grid, repeated diagrams) with some essential
    bars and some empty diagrams."""
    out = []
    for _ in range(n):
        m = int(rng.integers(0, 5))
        births = rng.integers(0, 5, size=m).astype(np.float64)
        deaths = births + rng.integers(0, 3, size=m)
        deaths[rng.random(m) < 0.2] = np.inf
        out.append(np.stack([births, deaths], axis=1).reshape(-1, 2))
    return out


def test_packed_operations_match_per_sample_lists(rng) -> None:
    rows = _random_diagrams(rng, 30)
    packed = PackedDiagrams.from_list(rows)
    assert len(packed) == 30 and packed.sizes.tolist() == [len(r) for r in rows]
    for got, want in zip(packed.split(), rows):
        np.testing.assert_array_equal(got, want)
    index = np.array([5, 0, 29, 5, 12])
    for got, i in zip(packed.take(index).split(), index):
        np.testing.assert_array_equal(got, rows[i])
    for got, want in zip(packed.slice(7, 19).split(), rows[7:19]):
        np.testing.assert_array_equal(got, want)
    finite = packed.keep_rows(np.isfinite(packed.values).all(axis=1))
    for got, want in zip(finite.split(), rows):
        np.testing.assert_array_equal(got, want[np.isfinite(want).all(axis=1)])
    both = PackedDiagrams.concat([packed.slice(0, 10), packed.slice(10, 30)])
    np.testing.assert_array_equal(both.values, packed.values)
    np.testing.assert_array_equal(both.offsets, packed.offsets)


def test_unique_diagrams_ignore_row_order_and_count_samples() -> None:
    a = np.array([[0.0, 1.0], [2.0, np.inf]])
    rows = [a, a[::-1], np.zeros((0, 2)), a[:1], np.zeros((0, 2)), a]
    distinct, counts = unique_diagrams(PackedDiagrams.from_list(rows))
    assert len(distinct) == 3 and counts.tolist() == [3, 2, 1]  # in order of first appearance
    np.testing.assert_array_equal(distinct.split()[0], a)


def test_betti_curves_match_gudhi_on_grid_ties(rng) -> None:
    rows = _random_diagrams(rng, 40)
    grid = np.linspace(0.0, 6.0, 13)  # every integer birth and death is a grid value
    want = representations.BettiCurve(predefined_grid=grid).fit_transform(rows)
    np.testing.assert_array_equal(betti_curves_packed(PackedDiagrams.from_list(rows), grid),
                                  want)


def test_summary_of_repeated_diagrams_matches_gudhi_one_at_a_time(rng) -> None:
    rows = _random_diagrams(rng, 200)  # a few dozen distinct diagrams, repeated
    s = summarize_dimension(rows, 1, num_landscapes=3, resolution=25, sample_range=(0.0, 6.0),
                            batch_size=7)
    land = representations.Landscape(num_landscapes=3, resolution=25, sample_range=[0.0, 6.0])
    lands = np.stack([land(r[np.isfinite(r).all(axis=1)]) for r in rows]).reshape(200, 3, 25)
    betti = representations.BettiCurve(predefined_grid=np.linspace(0.0, 6.0, 25))
    bettis = np.stack([betti(r) for r in rows])  # (S, T)
    np.testing.assert_allclose(s.landscape_mean, lands.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(s.betti_mean, bettis.mean(axis=0), atol=1e-12)
    half = 1.959963984540054 * lands.std(axis=0, ddof=1) / np.sqrt(200)
    np.testing.assert_allclose(s.landscape_high - s.landscape_mean, half, atol=1e-12)
    half = 1.959963984540054 * bettis.std(axis=0, ddof=1) / np.sqrt(200)
    np.testing.assert_allclose(s.betti_high - s.betti_mean, half, atol=1e-12)
    assert s.finite_counts.tolist() == [int(np.isfinite(r).all(axis=1).sum()) for r in rows]
