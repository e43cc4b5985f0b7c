"""The Diagrams container: padding, conversion, infinite bars, validation."""

from __future__ import annotations

import gudhi
import numpy as np
import pytest
import torch

from toposci.topology.diagrams import Diagrams


def test_from_arrays_pads_and_masks() -> None:
    d = Diagrams.from_arrays([[[0.0, 1.0], [0.5, 2.0]], np.zeros((0, 2)), [[1.0, 3.0]]], dim=1)
    assert d.values.shape == (3, 2, 2) and d.mask.tolist() == [[True, True], [False, False],
                                                              [True, False]]
    assert d.counts.tolist() == [2, 0, 1]
    assert d.lifetimes.tolist() == [[1.0, 1.5], [0.0, 0.0], [2.0, 0.0]]
    back = d.to_arrays()
    np.testing.assert_array_equal(back[0], [[0, 1], [0.5, 2]])
    assert back[1].shape == (0, 2)


def test_from_gudhi_matches_gudhi_persistence() -> None:
    # a square of side 1: H0 has 3 bars dying at 1 and one essential, H1 one bar (1, sqrt 2)
    pts = [[0, 0], [1, 0], [1, 1], [0, 1]]
    st = gudhi.RipsComplex(points=pts).create_simplex_tree(max_dimension=2)
    pers = st.persistence()
    h0 = Diagrams.from_gudhi([pers], 0, dtype=torch.float64)
    h1 = Diagrams.from_gudhi([pers], 1, dtype=torch.float64)
    assert sorted(h0.to_arrays()[0][:, 1].tolist()) == [1.0, 1.0, 1.0, np.inf]
    np.testing.assert_allclose(h1.to_arrays()[0], [[1.0, np.sqrt(2.0)]])


def test_infinite_bars_drop_and_cap() -> None:
    d = Diagrams.from_arrays([[[0.0, np.inf], [0.0, 1.0]], [[0.25, 0.5]]], dim=0)
    assert d.has_infinite()
    dropped = d.drop_infinite()
    assert [a.tolist() for a in dropped.to_arrays()] == [[[0.0, 1.0]], [[0.25, 0.5]]]
    capped = d.cap_infinite(5.0)
    assert capped.to_arrays()[0].tolist() == [[0.0, 5.0], [0.0, 1.0]]
    with pytest.raises(ValueError, match="infinite bars"):
        d.check_finite("landscapes")
    with pytest.raises(ValueError, match="finite"):
        d.cap_infinite(float("inf"))


def test_drop_infinite_keeps_gradients() -> None:
    values = torch.tensor([[[0.0, float("inf")], [0.5, 1.0]]], requires_grad=True)
    d = Diagrams(values, torch.ones(1, 2, dtype=torch.bool), 0).drop_infinite()
    d.values.sum().backward()
    assert values.grad.tolist() == [[[0.0, 0.0], [1.0, 1.0]]]


def test_drop_diagonal_and_indexing() -> None:
    d = Diagrams.from_arrays([[[1.0, 1.0], [0.0, 2.0]], [[3.0, 3.0]]], dim=1)
    kept = d.drop_diagonal()
    assert kept.counts.tolist() == [1, 0]
    assert d[1].to_arrays()[0].tolist() == [[3.0, 3.0]]
    assert len(d[0:2]) == 2 and len(d[-1]) == 1


@pytest.mark.parametrize(
    ("values", "mask", "message"),
    [
        (torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.bool), r"\(B, M, 2\)"),
        (torch.zeros(2, 3, 2), torch.zeros(2, 4, dtype=torch.bool), "mask must have shape"),
        (torch.zeros(2, 3, 2), torch.zeros(2, 3), "bool"),
    ],
)
def test_bad_shapes_are_named(values, mask, message) -> None:
    with pytest.raises(ValueError, match=message):
        Diagrams(values, mask, 0)


def test_bad_arrays_are_named() -> None:
    with pytest.raises(ValueError, match="diagram 1 must have shape"):
        Diagrams.from_arrays([[[0, 1]], [[0, 1, 2]]], dim=0)
    with pytest.raises(ValueError, match="NaN"):
        Diagrams.from_arrays([[[0, float("nan")]]], dim=0)
    with pytest.raises(ValueError, match="homology dimension"):
        Diagrams.from_arrays([[[0, 1]]], dim=-1)
