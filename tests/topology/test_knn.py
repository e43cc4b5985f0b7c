from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from toposci._optional import WITH_GIOTTO
from toposci.domains.synthetic import sample_circle
from toposci.testing import (
    assert_diagrams_close,
    assert_permutation_invariant,
    assert_rigid_motion_invariant,
    count_bars,
    dominant_bars,
    gudhi_flag_diagram,
)
from toposci.topology.knn import knn_diagrams, knn_graph, knn_pairs

backends = pytest.mark.parametrize("backend", [
    "native",
    "gudhi",
    pytest.param("giotto", marks=pytest.mark.skipif(not WITH_GIOTTO, reason="needs giotto-ph")),
])


def _reference_knn_diagram(points: np.ndarray, k: int, dim: int) -> np.ndarray:
    """GUDHI's diagram of the flag complex of the symmetric kNN graph built with a k-d tree."""
    lengths, neighbours = cKDTree(points).query(points, k=k + 1)  # column 0 is the point itself
    edges = {}
    for i in range(len(points)):
        for length, j in zip(lengths[i, 1:], neighbours[i, 1:]):
            edges[(min(i, j), max(i, j))] = length
    return gudhi_flag_diagram(len(points), np.array(list(edges)), np.array(list(edges.values())),
                              dim)


def _clouds(seed: int, B: int = 3, N: int = 30, D: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, N, D, generator=g, dtype=torch.float64)


def test_well_sampled_circle_has_one_loop():
    x = sample_circle(120, noise=0.03, seed=0).double()
    dgms = knn_diagrams(x, 8)
    assert dominant_bars(dgms[1]) == [1]
    assert count_bars(dgms[1], 0.5) == [1]
    assert count_bars(dgms[0], 0.5) == [1]


@backends
@pytest.mark.parametrize("k", [3, 6])
def test_matches_gudhi_on_independent_knn_graph(backend, k):
    x = _clouds(1, B=3, N=30, D=3)
    dgms = knn_diagrams(x, k, backend=backend)
    for dim in (0, 1):
        expected = [_reference_knn_diagram(c.numpy(), k, dim) for c in x]
        assert_diagrams_close(dgms[dim], expected, atol=1e-9, what=f"H{dim}")


@backends
def test_cycle_graph_without_triangles_has_an_infinite_loop(backend):
    # 8 points on a circle, k = 2: the kNN graph is the 8-cycle, which never fills.
    g = torch.Generator().manual_seed(0)
    theta = torch.arange(8, dtype=torch.float64) * math.pi / 4
    theta = theta + 0.05 * torch.rand(8, generator=g, dtype=torch.float64)
    x = torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)
    dgms = knn_diagrams(x, 2, backend=backend)
    longest_side = (x - x.roll(1, dims=0)).norm(dim=1).max().item()
    assert_diagrams_close(dgms[1], [np.array([[longest_side, np.inf]])], atol=1e-12)


def test_disconnected_graph_has_one_infinite_bar_per_component():
    g = torch.Generator().manual_seed(2)
    blobs = torch.rand(3, 10, 2, generator=g, dtype=torch.float64)
    x = torch.cat([blobs[0], blobs[1] + 100.0, blobs[2] + torch.tensor([0.0, 200.0])])
    dgms = knn_diagrams(x, 4)
    assert dgms[0].values[dgms[0].mask].isinf().sum() == 3
    assert_diagrams_close(dgms[0], [_reference_knn_diagram(x.numpy(), 4, 0)], atol=1e-9)


def test_knn_graph_is_symmetric_and_contains_the_neighbours():
    x = _clouds(3, B=2, N=15)
    dist = torch.cdist(x, x)
    adjacency = knn_graph(dist, 2)
    assert (adjacency == adjacency.transpose(1, 2)).all()
    assert not adjacency.diagonal(dim1=1, dim2=2).any()
    for b in range(2):
        _, neighbours = cKDTree(x[b].numpy()).query(x[b].numpy(), k=3)
        for i, row in enumerate(neighbours[:, 1:]):
            assert adjacency[b, i, row].all()
        assert adjacency[b].sum(dim=1).min() >= 2


@backends
def test_ragged_mask_matches_the_real_points(backend):
    x = _clouds(4, B=2, N=25)
    mask = torch.ones(2, 25, dtype=torch.bool)
    mask[1, 16:] = False
    dgms = knn_diagrams(x, 5, mask=mask, backend=backend)
    for dim in (0, 1):
        expected = [_reference_knn_diagram(x[0].numpy(), 5, dim),
                    _reference_knn_diagram(x[1, :16].numpy(), 5, dim)]
        assert_diagrams_close(dgms[dim], expected, atol=1e-9, what=f"H{dim}")


def test_pairs_are_graph_edges():
    x = _clouds(5, B=2, N=20)
    pairs = knn_pairs(x, 3)
    adjacency = knn_graph(torch.cdist(x, x), 3)
    for p in pairs.values():
        for edges in (p.death_edges, p.birth_edges if p.dim > 0 else None):
            if edges is None:
                continue
            real = p.mask & (edges[..., 0] >= 0)
            b = torch.arange(2).unsqueeze(1).expand_as(real)[real]
            assert adjacency[b, edges[real][:, 0], edges[real][:, 1]].all()


def test_gradcheck():
    x = _clouds(6, B=2, N=10, D=2).requires_grad_(True)

    def fn(x):
        dgms = knn_diagrams(x, 4)
        out = []
        for d in dgms.values():
            keep = d.mask & torch.isfinite(d.values).all(dim=-1)
            out.append(d.values[keep])
        return torch.cat(out)

    assert torch.autograd.gradcheck(fn, (x,))


def test_invariances():
    x = _clouds(7, B=2, N=20, D=3)
    assert_permutation_invariant(lambda p: knn_diagrams(p, 5), x, seed=0)
    assert_rigid_motion_invariant(lambda p: knn_diagrams(p, 5), x, seed=1, atol=1e-9)


@pytest.mark.parametrize("k", [0, 20, 25, 2.5, True])
def test_bad_k(k):
    with pytest.raises(ValueError, match="k must be"):
        knn_diagrams(_clouds(8, N=20), k)


def test_bad_points():
    with pytest.raises(ValueError, match="NaN"):
        knn_diagrams(torch.tensor([[0.0, float("nan")], [1.0, 0.0], [0.0, 1.0]]), 1)
    with pytest.raises(ValueError, match="empty batch"):
        knn_diagrams(torch.zeros(0, 4, 2), 1)
    with pytest.raises(ValueError, match="mask must have shape"):
        knn_diagrams(_clouds(9), 3, mask=torch.ones(2, 30, dtype=torch.bool))
