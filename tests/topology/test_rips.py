from __future__ import annotations

import math

import gudhi
import numpy as np
import pytest
import torch

from toposci._optional import WITH_GIOTTO
from toposci.domains.synthetic import sample_circle, sample_torus, sample_two_circles
from toposci.testing import (
    assert_diagrams_close,
    assert_permutation_invariant,
    assert_rigid_motion_invariant,
    count_bars,
    dominant_bars,
    gudhi_rips_diagram,
)
from toposci.topology.rips import (
    BACKENDS,
    PersistencePairs,
    gather_diagrams,
    pairwise_distances,
    rips_diagrams,
    rips_pairs,
)

backends = pytest.mark.parametrize("backend", [
    "native",
    "gudhi",
    pytest.param("giotto", marks=pytest.mark.skipif(not WITH_GIOTTO, reason="needs giotto-ph")),
])


def _random_clouds(seed: int, B: int = 3, N: int = 20, D: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, N, D, generator=g, dtype=torch.float64)


def _finite_values(diagrams) -> torch.Tensor:
    """The finite (birth, death) rows of a Diagrams batch, flattened (for gradcheck)."""
    keep = diagrams.mask & torch.isfinite(diagrams.values).all(dim=-1)
    return diagrams.values[keep]


# ------------------------------------------------------------------ known Betti numbers
def test_noisy_circle_has_one_component_and_one_loop():
    x = sample_circle(100, noise=0.05, seed=1).double()
    dgms = rips_diagrams(x)
    assert count_bars(dgms[0], 0.5) == [1]  # the infinite bar only
    assert dominant_bars(dgms[1]) == [1]
    assert count_bars(dgms[1], 0.5) == [1]


def test_two_circles_have_two_components_and_two_loops():
    x, _ = sample_two_circles(200, noise=0.05, seed=2)
    dgms = rips_diagrams(x.double())
    assert dominant_bars(dgms[0]) == [2]  # the infinite bar and the gap between circles
    assert count_bars(dgms[0], 0.5) == [2]
    assert dominant_bars(dgms[1]) == [2]
    assert count_bars(dgms[1], 0.5) == [2]


def test_torus_has_two_loops():
    # 400 points leave sampling holes with persistence up to ~0.7; both generators live ~1.3.
    x = sample_torus(400, seed=3).double()
    dgms = rips_diagrams(x, homology_dims=(1,), max_edge_length=2.0)
    assert count_bars(dgms[1], 1.0) == [2]
    assert dominant_bars(dgms[1], ratio=1.5) == [2]


def test_square_by_hand():
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    dgms = rips_diagrams(x)
    assert_diagrams_close(dgms[1], [np.array([[1.0, math.sqrt(2.0)]])], atol=1e-12)
    assert_diagrams_close(dgms[0], [np.array([[0, 1], [0, 1], [0, 1], [0, np.inf]])],
                          atol=1e-12)


@backends
def test_square_below_its_diagonal_keeps_an_open_loop(backend):
    # Sides enter at 1, diagonals (sqrt 2) never: the loop is never filled, and the complex has
    # no triangle at all.
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    dgms = rips_diagrams(x, max_edge_length=1.2, backend=backend)
    assert_diagrams_close(dgms[1], [np.array([[1.0, np.inf]])], atol=1e-12)


# ------------------------------------------------------------------ agreement with GUDHI
@backends
@pytest.mark.parametrize("max_edge", [math.inf, 0.45])
def test_matches_gudhi_rips_complex(backend, max_edge):
    x = _random_clouds(0, B=4, N=25)
    dgms = rips_diagrams(x, max_edge_length=max_edge, backend=backend)
    for dim in (0, 1):
        expected = [gudhi_rips_diagram(c, dim, max_edge) for c in x]
        assert_diagrams_close(dgms[dim], expected, atol=1e-6, what=f"H{dim}")
    if math.isfinite(max_edge):  # the threshold cuts the clouds into several components
        assert max(count_bars(dgms[0], 1e9)) > 1


@backends
def test_distance_matrix_input_matches_gudhi(backend):
    g = torch.Generator().manual_seed(1)
    a = torch.rand(2, 15, 15, generator=g, dtype=torch.float64) + 0.1
    dist = (a + a.transpose(1, 2)) * (1 - torch.eye(15, dtype=torch.float64))  # non-metric
    dgms = rips_diagrams(dist, distances=True, backend=backend)
    for dim in (0, 1):
        expected = [gudhi_rips_diagram(d, dim, distances=True) for d in dist]
        assert_diagrams_close(dgms[dim], expected, atol=1e-6, what=f"H{dim}")


@backends
def test_ragged_mask_matches_gudhi_on_the_real_points(backend):
    x = _random_clouds(2, B=3, N=20)
    counts = [20, 13, 7]
    mask = torch.arange(20) < torch.tensor(counts).unsqueeze(1)
    x = x.masked_fill(~mask.unsqueeze(-1), 1e3)  # padding far away: must be ignored
    dgms = rips_diagrams(x, mask=mask, backend=backend)
    for dim in (0, 1):
        expected = [gudhi_rips_diagram(c[:n], dim) for c, n in zip(x, counts)]
        assert_diagrams_close(dgms[dim], expected, atol=1e-6, what=f"H{dim}")
    assert dgms[0].counts.tolist() == counts


def test_higher_dimension_matches_gudhi():
    x = sample_circle(30, noise=0.3, ambient_dim=3, seed=4).double()
    dgms = rips_diagrams(x, homology_dims=(2,), max_edge_length=1.0, backend="gudhi")
    assert_diagrams_close(dgms[2], [gudhi_rips_diagram(x, 2, 1.0)], what="H2")
    with pytest.raises(ValueError, match="native backend computes H0 and H1"):
        rips_diagrams(x, homology_dims=(2,))


def test_unbatched_input_gets_a_batch_dimension():
    x = _random_clouds(3)[0]
    dgms = rips_diagrams(x)
    assert dgms[0].batch_size == 1 and dgms[1].batch_size == 1
    assert_diagrams_close(dgms[1], [gudhi_rips_diagram(x, 1)])


# ------------------------------------------------------------------ generators, edge by edge
def _gudhi_generators(dist: np.ndarray):
    """H0 death edges and H1 (birth edge, death edge) of GUDHI's uncollapsed Rips complex."""
    st = gudhi.RipsComplex(distance_matrix=dist).create_simplex_tree(max_dimension=2)
    st.compute_persistence()
    finite0, finite1, _, _ = st.flag_persistence_generators()
    h0 = {frozenset(e) for e in finite0[:, 1:].tolist()}
    h1 = {(frozenset(g[:2]), frozenset(g[2:])) for g in finite1[0].tolist()} if finite1 else set()
    return h0, h1


def _edge_set(edges: torch.Tensor, mask: torch.Tensor) -> list:
    return [frozenset(e) for e in edges[mask].tolist()]


@backends
def test_generators_are_the_backends_edges(backend):
    x = _random_clouds(5, B=3, N=18)
    dist = pairwise_distances(x)
    pairs = rips_pairs(dist, backend=backend)
    dgms = {d: gather_diagrams(dist, p) for d, p in pairs.items()}
    for b in range(3):
        h0, h1 = _gudhi_generators(dist[b].numpy())
        p0, p1 = pairs[0], pairs[1]
        finite0 = p0.mask[b] & (p0.death_edges[b, :, 0] >= 0)
        assert set(_edge_set(p0.death_edges[b], finite0)) == h0  # the MST
        assert (p0.birth_edges[b, :, 0] == p0.birth_edges[b, :, 1])[p0.mask[b]].all()
        got1 = set(zip(_edge_set(p1.birth_edges[b], p1.mask[b]),
                       _edge_set(p1.death_edges[b], p1.mask[b])))
        assert got1 == h1
        # Every gathered value is the length of its edge in the torch matrix.
        values, m = dgms[1].values[b], dgms[1].mask[b]
        births = dist[b][p1.birth_edges[b, :, 0], p1.birth_edges[b, :, 1]]
        deaths = dist[b][p1.death_edges[b, :, 0], p1.death_edges[b, :, 1]]
        torch.testing.assert_close(values[m, 0], births[m], atol=0, rtol=0)
        torch.testing.assert_close(values[m, 1], deaths[m], atol=0, rtol=0)


@pytest.mark.skipif(not WITH_GIOTTO, reason="needs giotto-ph")
def test_giotto_and_gudhi_backends_agree():
    x = _random_clouds(6, B=5, N=30, D=4)
    a = rips_diagrams(x, backend="gudhi")
    b = rips_diagrams(x, backend="giotto")
    for dim in (0, 1):
        assert_diagrams_close(a[dim], b[dim], atol=1e-6, what=f"H{dim}")


def test_pairs_type():
    pairs = rips_pairs(pairwise_distances(_random_clouds(7)))
    for dim, p in pairs.items():
        assert isinstance(p, PersistencePairs) and p.dim == dim
        assert p.birth_edges.dtype == torch.long and p.birth_edges.shape == p.death_edges.shape
    assert pairs[0].essential.sum(dim=1).tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="birth_edges"):
        PersistencePairs(torch.zeros(1, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long),
                         torch.ones(1, 2, dtype=torch.bool), 1)


# ------------------------------------------------------------------ gradients
def test_gradcheck_points():
    x = _random_clouds(8, B=2, N=8, D=2).requires_grad_(True)

    def fn(x):
        dgms = rips_diagrams(x)
        return torch.cat([_finite_values(dgms[0]), _finite_values(dgms[1])])

    assert torch.autograd.gradcheck(fn, (x,))


def test_gradcheck_distance_matrix():
    dist = pairwise_distances(_random_clouds(9, B=2, N=7, D=2)).detach().requires_grad_(True)

    def fn(d):
        dgms = rips_diagrams(d, distances=True)
        return torch.cat([_finite_values(dgms[0]), _finite_values(dgms[1])])

    assert torch.autograd.gradcheck(fn, (dist,), eps=1e-7)


def test_gradient_at_coincident_points_is_finite():
    x = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], requires_grad=True)
    dgms = rips_diagrams(x)
    _finite_values(dgms[0]).sum().backward()
    assert torch.isfinite(x.grad).all()


# ------------------------------------------------------------------ invariances
def test_permutation_invariance():
    x = _random_clouds(10, B=2, N=20)
    assert_permutation_invariant(lambda p: rips_diagrams(p), x, seed=1)
    dist = pairwise_distances(x)
    assert_permutation_invariant(lambda d: rips_diagrams(d, distances=True), dist, seed=2,
                                 dims=(-2, -1))


def test_rigid_motion_invariance():
    x = _random_clouds(11, B=2, N=20)
    assert_rigid_motion_invariant(lambda p: rips_diagrams(p), x, seed=3, atol=1e-9)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(("x", "message"), [
    (torch.tensor([[0.0, 1.0], [float("nan"), 0.0]]), "NaN"),
    (torch.tensor([[0.0, 1.0], [float("inf"), 0.0]]), "inf"),
    (torch.zeros(0, 5, 2), "empty batch"),
    (torch.zeros(2, 1, 2), "N >= 2"),
    (torch.zeros(5), r"\(B, N, D\)"),
    (torch.zeros(2, 3, 4, 5), r"\(B, N, D\)"),
    (torch.zeros(2, 3, 2, dtype=torch.long), "floating-point"),
])
def test_bad_points(x, message):
    with pytest.raises(ValueError, match=message):
        rips_diagrams(x)


@pytest.mark.parametrize(("dist", "message"), [
    (torch.tensor([[0.0, 1.0], [2.0, 0.0]]), "not symmetric"),
    (torch.tensor([[1.0, 1.0], [1.0, 0.0]]), "diagonal"),
    (torch.tensor([[0.0, -1.0], [-1.0, 0.0]]), "negative"),
    (torch.zeros(1, 3, 4), "square"),
    (torch.tensor([[0.0, math.inf], [math.inf, 0.0]]), "inf"),
])
def test_bad_distance_matrices(dist, message):
    with pytest.raises(ValueError, match=message):
        rips_diagrams(dist, distances=True)
    with pytest.raises(ValueError, match=message):
        rips_pairs(dist)


def test_bad_options():
    x = _random_clouds(12)
    with pytest.raises(ValueError, match="valid backends: " + ", ".join(BACKENDS)):
        rips_diagrams(x, backend="ripser")
    with pytest.raises(ValueError, match="mask must have shape"):
        rips_diagrams(x, mask=torch.ones(3, 7, dtype=torch.bool))
    with pytest.raises(ValueError, match="without any point"):
        rips_diagrams(x, mask=torch.zeros(3, 20, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool"):
        rips_diagrams(x, mask=torch.ones(3, 20))
    with pytest.raises(ValueError, match="homology_dims"):
        rips_diagrams(x, homology_dims=())
    with pytest.raises(ValueError, match="homology_dims"):
        rips_diagrams(x, homology_dims=(-1,))
    with pytest.raises(ValueError, match="max_edge_length"):
        rips_diagrams(x, max_edge_length=0.0)
    with pytest.raises(ValueError, match="batch size"):
        gather_diagrams(pairwise_distances(x[:2]), rips_pairs(pairwise_distances(x))[1])
