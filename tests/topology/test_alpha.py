from __future__ import annotations

import math

import gudhi
import numpy as np
import pytest
import torch

from toposci.domains.synthetic import sample_sphere, sample_torus
from toposci.topology.alpha import _value_simplex, alpha_diagrams


def _sorted_rows(a: np.ndarray) -> np.ndarray:
    return a[np.lexsort((a[:, 1], a[:, 0]))]


def _lifetimes(diagram: np.ndarray) -> np.ndarray:
    return np.sort(diagram[:, 1] - diagram[:, 0])[::-1]


def test_square_by_hand():
    # Side 2: the sides enter at radius 1 (three merge components, the fourth closes the loop);
    # the loop is filled by the two triangles, whose circumradius is half the diagonal, sqrt 2.
    square = torch.tensor([[0.0, 0, 0], [2, 0, 0], [0, 2, 0], [2, 2, 0]], dtype=torch.float64)
    out = alpha_diagrams(square)
    np.testing.assert_allclose(_sorted_rows(out[0].to_arrays()[0]),
                               [[0, 1], [0, 1], [0, 1], [0, np.inf]])
    np.testing.assert_allclose(out[1].to_arrays()[0], [[1, math.sqrt(2)]])
    assert out[2].counts.tolist() == [0]
    squared = alpha_diagrams(square, squared=True)
    np.testing.assert_allclose(squared[1].to_arrays()[0], [[1, 2]])


def test_equilateral_triangle_by_hand():
    # Side s: edges at s/2; the third edge closes a loop that the triangle fills at its
    # circumradius s / sqrt(3) (an acute triangle: every edge is Gabriel).
    s = 3.0
    tri = torch.tensor([[0.0, 0, 0], [s, 0, 0], [s / 2, s * math.sqrt(3) / 2, 0]])
    out = alpha_diagrams(tri, homology_dims=(0, 1))
    np.testing.assert_allclose(_sorted_rows(out[0].to_arrays()[0]),
                               [[0, s / 2], [0, s / 2], [0, np.inf]], rtol=1e-6)
    np.testing.assert_allclose(out[1].to_arrays()[0], [[s / 2, s / math.sqrt(3)]], rtol=1e-6)


def test_obtuse_triangle_has_no_loop():
    # (0,0), (4,0), (2,1): short edges at sqrt(5)/2; the long edge's diametral ball holds the
    # third vertex, so it enters only with the triangle (circumradius 2.5): no loop.
    tri = torch.tensor([[0.0, 0, 0], [4, 0, 0], [2, 1, 0]], dtype=torch.float64)
    out = alpha_diagrams(tri, homology_dims=(0, 1))
    np.testing.assert_allclose(_sorted_rows(out[0].to_arrays()[0]),
                               [[0, math.sqrt(5) / 2], [0, math.sqrt(5) / 2], [0, np.inf]])
    assert out[1].counts.tolist() == [0]


def test_non_gabriel_edge_takes_its_value_from_the_triangle():
    cloud = np.array([[0.0, 0, 0], [4, 0, 0], [2, 1, 0]])
    tree = gudhi.AlphaComplex(points=cloud).create_simplex_tree()
    assert tree.filtration([0, 1]) == pytest.approx(6.25)
    assert sorted(_value_simplex(tree, [0, 1], cloud)) == [0, 1, 2]
    assert sorted(_value_simplex(tree, [0, 2], cloud)) == [0, 2]


def test_regular_tetrahedron_void_by_hand():
    # Edge a: edges at a/2 give 3 loops, filled by faces at a/sqrt(3); the fourth face closes
    # a void, filled by the tetrahedron at its circumradius a*sqrt(6)/4.
    tet = torch.tensor([[1.0, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=torch.float64)
    a = 2 * math.sqrt(2)
    out = alpha_diagrams(tet)
    np.testing.assert_allclose(out[1].to_arrays()[0], [[a / 2, a / math.sqrt(3)]] * 3)
    np.testing.assert_allclose(out[2].to_arrays()[0], [[a / math.sqrt(3), a * math.sqrt(6) / 4]])


def test_regular_hexagon_2d_by_hand():
    angles = torch.arange(6, dtype=torch.float64) * math.pi / 3
    hexagon = torch.stack([angles.cos(), angles.sin()], dim=1)
    out = alpha_diagrams(hexagon, homology_dims=(0, 1))
    np.testing.assert_allclose(_sorted_rows(out[0].to_arrays()[0]),
                               [[0, 0.5]] * 5 + [[0, np.inf]], rtol=1e-9)
    np.testing.assert_allclose(out[1].to_arrays()[0], [[0.5, 1.0]], rtol=1e-9)


def test_sphere_has_one_void():
    out = alpha_diagrams(sample_sphere(200, seed=0))
    h2 = _lifetimes(out[2].to_arrays()[0])
    assert len(h2) == 1 and h2[0] > 0.5
    assert _lifetimes(out[1].to_arrays()[0]).max() < 0.3


def test_torus_has_two_loops_and_one_void():
    out = alpha_diagrams(sample_torus(1000, seed=0))
    h1, h2 = _lifetimes(out[1].to_arrays()[0]), _lifetimes(out[2].to_arrays()[0])
    assert (h1 > 0.6).sum() == 2 and h1[2] < 0.45
    assert (h2 > 0.3).sum() == 1 and h2[1] < 0.05


@pytest.mark.parametrize("D", [2, 3])
def test_agrees_with_gudhi(rng, D):
    clouds = rng.random((3, 40, D))
    ours = alpha_diagrams(torch.tensor(clouds), homology_dims=range(D))
    ours_sq = alpha_diagrams(torch.tensor(clouds), homology_dims=range(D), squared=True)
    for b in range(3):
        tree = gudhi.AlphaComplex(points=clouds[b]).create_simplex_tree()
        tree.compute_persistence()
        for d in range(D):
            ref = tree.persistence_intervals_in_dimension(d)  # squared radii
            assert gudhi.bottleneck_distance(ours_sq[d].to_arrays()[b], ref) < 1e-9
            assert gudhi.bottleneck_distance(ours[d].to_arrays()[b], np.sqrt(ref)) < 1e-9
            np.testing.assert_allclose(_sorted_rows(ours[d].to_arrays()[b]),
                                       _sorted_rows(np.sqrt(ref)), rtol=1e-9)


def test_mask_for_ragged_batch(rng):
    a, b = rng.random((10, 3)), rng.random((15, 3))
    padded = torch.zeros(2, 15, 3, dtype=torch.float64)
    padded[0, :10], padded[1] = torch.tensor(a), torch.tensor(b)
    mask = torch.zeros(2, 15, dtype=torch.bool)
    mask[0, :10], mask[1] = True, True
    padded.requires_grad_(True)
    batched = alpha_diagrams(padded, mask=mask)
    for i, cloud in enumerate((a, b)):
        single = alpha_diagrams(torch.tensor(cloud))
        for d in range(3):
            np.testing.assert_allclose(batched[d].to_arrays()[i], single[d].to_arrays()[0])
    finite = batched[1].values[batched[1].mask]
    finite.sum().backward()
    assert (padded.grad[0, 10:] == 0).all() and padded.grad[0, :10].abs().sum() > 0


def test_rigid_motion_invariance(rng):
    cloud = torch.tensor(rng.random((30, 3)))
    q, _ = torch.linalg.qr(torch.tensor(rng.standard_normal((3, 3))))
    moved = cloud @ q.T + torch.tensor([3.0, -1.0, 2.0], dtype=torch.float64)
    before, after = alpha_diagrams(cloud), alpha_diagrams(moved)
    for d in range(3):
        assert gudhi.bottleneck_distance(before[d].to_arrays()[0], after[d].to_arrays()[0]) < 1e-9


@pytest.mark.parametrize("squared", [False, True])
def test_gradcheck(rng, squared):
    cloud = torch.tensor(rng.random((2, 9, 3)), requires_grad=True)

    def finite_values(x: torch.Tensor) -> torch.Tensor:
        out = alpha_diagrams(x, squared=squared)
        return torch.cat([d.values[d.mask.unsqueeze(-1) & torch.isfinite(d.values)]
                          for d in out.values()])

    assert torch.autograd.gradcheck(finite_values, (cloud,))


def test_dtype_follows_input():
    out = alpha_diagrams(torch.rand(2, 12, 3))
    assert all(d.values.dtype == torch.float32 for d in out.values())


@pytest.mark.parametrize(
    ("points", "kwargs", "match"),
    [
        (torch.tensor([[0.0, 0, float("nan")], [1, 0, 0]]), {}, "NaN"),
        (torch.rand(2, 10, 4), {}, "D = 2 or 3"),
        (torch.rand(2, 10, 1), {}, "D = 2 or 3"),
        (torch.rand(1, 3), {}, "at least 2 points"),
        (torch.zeros(0, 5, 3), {}, "empty batch"),
        (torch.rand(2, 5, 3), {"homology_dims": (3,)}, "valid dimensions are 0 .. 2"),
        (torch.rand(2, 5, 3), {"mask": torch.ones(2, 4, dtype=torch.bool)}, "mask"),
        (torch.rand(2, 5, 3), {"mask": torch.ones(3, 5, dtype=torch.bool)}, "batch size"),
        (torch.rand(2, 5, 3), {"mask": torch.ones(2, 5)}, "bool"),
        (torch.rand(2, 5, 3), {"mask": torch.tensor([[1, 1, 0, 0, 0], [1, 0, 0, 0, 0]],
                                                    dtype=torch.bool)}, "cloud 1 has 1 point"),
    ],
)
def test_bad_input(points, kwargs, match):
    with pytest.raises(ValueError, match=match):
        alpha_diagrams(points, **kwargs)
