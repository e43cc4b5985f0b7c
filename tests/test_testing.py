from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from toposci.testing import (
    assert_diagrams_close,
    assert_permutation_invariant,
    assert_rigid_motion_invariant,
    count_bars,
    diagram_list,
    dominant_bars,
    gudhi_flag_diagram,
    gudhi_rips_diagram,
    random_rotation,
    sorted_lifetimes,
)
from toposci.topology.diagrams import Diagrams

SQUARE = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])


def test_diagram_list_accepts_every_form():
    arr = np.array([[0.0, 1.0], [0.5, 2.0]])
    batch = Diagrams.from_arrays([arr, arr[:1]], 1)
    assert [len(d) for d in diagram_list(batch)] == [2, 1]
    assert [len(d) for d in diagram_list(arr)] == [2]
    assert [len(d) for d in diagram_list([torch.from_numpy(arr), arr])] == [2, 2]


def test_counts_and_dominant_bars_by_hand():
    diagrams = [
        np.array([[0.0, 1.0], [0.0, 0.1], [0.0, 0.05]]),  # one long bar
        np.array([[0.0, np.inf], [0.0, 1.0], [0.0, 0.9], [0.0, 0.1]]),  # inf + two long
        np.array([[0.0, 1.0 - 0.05 * i] for i in range(7)]),  # no gap in the top 6 bars
        np.array([[0.0, np.inf], [0.0, 0.01]]),  # a lone finite bar beside an infinite one
        np.zeros((0, 2)),
    ]
    assert count_bars(diagrams, 0.5) == [1, 3, 7, 1, 0]
    assert dominant_bars(diagrams) == [1, 3, 0, 1, 0]
    assert sorted_lifetimes(diagrams[1])[0].tolist() == [np.inf, 1.0, 0.9, 0.1]


def test_assert_diagrams_close_reports_the_difference():
    a = np.array([[0.0, 1.0], [0.0, np.inf]])
    assert_diagrams_close([a], [a[::-1] + np.array([0.0, 1e-9])], atol=1e-6)
    with pytest.raises(AssertionError, match=r"diagram 0: bottleneck distance 1 > atol"):
        assert_diagrams_close([a], [np.array([[0.0, 2.0], [0.0, np.inf]])])
    with pytest.raises(AssertionError, match="2 diagrams, expected 1"):
        assert_diagrams_close([a, a], [a])


@pytest.mark.parametrize("d", [1, 2, 3, 7])
def test_random_rotation_is_a_rotation(d):
    r = random_rotation(d, seed=d)
    torch.testing.assert_close(r @ r.T, torch.eye(d, dtype=torch.float64))
    assert torch.linalg.det(r).item() == pytest.approx(1.0)


def test_reference_diagrams_of_the_square():
    assert_diagrams_close([gudhi_rips_diagram(SQUARE, 1)], [np.array([[1.0, math.sqrt(2)]])],
                          atol=1e-12)
    dist = np.linalg.norm(SQUARE[:, None] - SQUARE[None], axis=-1)
    assert_diagrams_close([gudhi_rips_diagram(dist, 0, distances=True)],
                          [np.array([[0, 1], [0, 1], [0, 1], [0, np.inf]])], atol=1e-12)
    # The 4-cycle without diagonals never fills: one infinite H1 class born at 1.
    cycle = np.array([[0, 1], [1, 2], [2, 3], [3, 0]])
    assert_diagrams_close([gudhi_flag_diagram(4, cycle, np.ones(4), 1)],
                          [np.array([[1.0, np.inf]])], atol=1e-12)


def test_invariance_helpers_catch_a_non_invariant_function():
    x = torch.rand(6, 2, dtype=torch.float64)
    assert_permutation_invariant(lambda p: p.sum(dim=0), x)
    assert_rigid_motion_invariant(lambda p: torch.cdist(p, p).sum(), x)
    with pytest.raises(AssertionError, match="permuting"):
        assert_permutation_invariant(lambda p: p[0], x)
    with pytest.raises(AssertionError, match="rigid motion"):
        assert_rigid_motion_invariant(lambda p: p.mean(dim=0), x)
