from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from toposci.nn import DGCNNEncoder, PointNetEncoder, knn_indices
from toposci.testing import assert_permutation_invariant


def _brute_force_knn(x: np.ndarray, k: int, valid: np.ndarray) -> np.ndarray:
    """Neighbour lists by a double loop: nearest first, self and padding excluded; short lists
    padded with the nearest neighbour (or the point itself when it has none)."""
    B, N, _ = x.shape
    out = np.zeros((B, N, k), dtype=np.int64)
    for b in range(B):
        for i in range(N):
            candidates = [(float(np.sum((x[b, i] - x[b, j]) ** 2)), j)
                          for j in range(N) if j != i and valid[b, j]]
            order = [j for _, j in sorted(candidates)]
            fill = order[0] if order else i
            out[b, i] = (order + [fill] * k)[:k]
    return out


@pytest.mark.parametrize("N", [15, 40])  # torch.cdist switches to matrix products above 25
def test_knn_matches_brute_force(N: int) -> None:
    x = torch.randn(3, N, 3, dtype=torch.float64)
    got = knn_indices(x, 4)
    assert got.shape == (3, N, 4) and got.dtype == torch.long
    np.testing.assert_array_equal(got.numpy(), _brute_force_knn(x.numpy(), 4,
                                                                np.ones((3, N), bool)))


def test_knn_with_mask_and_short_clouds() -> None:
    x = torch.randn(3, 12, 2, dtype=torch.float64)
    mask = torch.rand(3, 12) < 0.6
    mask[1] = False
    mask[1, [2, 5, 7]] = True  # 3 real points: each has 2 neighbours, k = 5 needs repeats
    mask[2] = False
    mask[2, 4] = True  # a single real point: its own index everywhere
    got = knn_indices(x, 5, mask=mask)
    np.testing.assert_array_equal(got.numpy(), _brute_force_knn(x.numpy(), 5, mask.numpy()))
    assert got[2, 4].tolist() == [4] * 5
    neighbours_real = mask.gather(1, got.flatten(1)).view_as(got)  # (B, N, k)
    assert neighbours_real[0].all() and neighbours_real[1].all()


def test_knn_with_k_larger_than_cloud() -> None:
    x = torch.tensor([[[0.0], [1.0], [3.0]]])
    assert knn_indices(x, 4)[0].tolist() == [[1, 2, 1, 1], [0, 2, 0, 0], [1, 0, 1, 1]]


@pytest.mark.parametrize(("args", "kwargs", "match"), [
    ((torch.randn(2, 5, 3), 0), {}, "k"),
    ((torch.full((2, 5, 3), math.nan), 2), {}, "NaN"),
    ((torch.randn(2, 5, 3, 1), 2), {}, "shape"),
    ((torch.randn(2, 5, 3), 2), {"mask": torch.ones(2, 5)}, "bool"),
    ((torch.randn(2, 5, 3), 2), {"mask": torch.ones(2, 4, dtype=torch.bool)}, "shape"),
    ((torch.randn(2, 5, 3), 2), {"mask": torch.zeros(2, 5, dtype=torch.bool)}, "without"),
])
def test_knn_bad_input(args: tuple, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        knn_indices(*args, **kwargs)


def _encoders() -> list[torch.nn.Module]:
    return [PointNetEncoder(3, hidden=(16, 32), out_features=8),
            DGCNNEncoder(3, k=4, hidden=(16, 16), out_features=8)]


@pytest.mark.parametrize("encoder", _encoders(), ids=["pointnet", "dgcnn"])
def test_shapes(encoder: torch.nn.Module) -> None:
    assert encoder.out_features == 8
    assert encoder(torch.randn(3, 20, 3)).shape == (3, 8)
    assert encoder(torch.randn(20, 3)).shape == (1, 8)
    assert encoder(torch.randn(2, 3, 3)).shape == (2, 8)  # fewer points than k + 1


@pytest.mark.parametrize("encoder", _encoders(), ids=["pointnet", "dgcnn"])
def test_point_permutation_invariance(encoder: torch.nn.Module) -> None:
    assert_permutation_invariant(encoder, torch.randn(2, 20, 3), atol=1e-5)


@pytest.mark.parametrize("encoder", _encoders(), ids=["pointnet", "dgcnn"])
def test_permutation_invariance_with_mask(encoder: torch.nn.Module) -> None:
    points, mask = torch.randn(2, 20, 3), torch.rand(2, 20) < 0.7
    perm = torch.randperm(20)
    torch.testing.assert_close(encoder(points[:, perm], mask[:, perm]), encoder(points, mask),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("encoder", _encoders(), ids=["pointnet", "dgcnn"])
def test_padding_equals_the_cloud_alone(encoder: torch.nn.Module) -> None:
    clouds = [torch.randn(12, 3), torch.randn(7, 3)]
    padded = torch.full((2, 12, 3), 100.0)  # padding far away: it must not matter anyway
    mask = torch.zeros(2, 12, dtype=torch.bool)
    for b, cloud in enumerate(clouds):
        padded[b, : len(cloud)] = cloud
        mask[b, : len(cloud)] = True
    out = encoder(padded, mask)
    for b, cloud in enumerate(clouds):
        torch.testing.assert_close(out[b], encoder(cloud)[0], atol=1e-5, rtol=1e-5)


def test_edge_conv_is_an_mlp_on_centre_and_offset() -> None:
    """DGCNN's EdgeConv, written out: max over the k nearest j of MLP([h_i, h_j - h_i])."""
    encoder = DGCNNEncoder(3, k=3, hidden=(5,), out_features=2).double()
    conv = encoder.edge_convs[0]
    A = conv.centre.weight + conv.neighbour.weight  # acts on h_i      (5, 3)
    C = conv.neighbour.weight  # acts on h_j - h_i                     (5, 3)
    first = torch.cat([A, C], dim=1)  # the Linear on [h_i, h_j - h_i]   (5, 6)
    points = torch.randn(1, 7, 3, dtype=torch.float64)
    neighbours = _brute_force_knn(points.numpy(), 3, np.ones((1, 7), bool))[0]
    expected = torch.zeros(7, 5, dtype=torch.float64)
    for i in range(7):
        rows = []
        for j in neighbours[i]:
            edge = torch.cat([points[0, i], points[0, j] - points[0, i]])  # (6,)
            hidden = torch.nn.functional.silu(first @ edge + conv.centre.bias)
            rows.append(conv.out(hidden))
        expected[i] = torch.nn.functional.silu(torch.stack(rows).amax(dim=0))
    got = conv(points, knn_indices(points, 3))[0]
    torch.testing.assert_close(got, expected)


def test_dgcnn_depends_on_the_neighbourhood_shape() -> None:
    encoder = DGCNNEncoder(2, k=2, hidden=(8,), out_features=4)
    line = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]])
    square = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]])
    assert not torch.allclose(encoder(line), encoder(square))


@pytest.mark.parametrize("encoder", _encoders(), ids=["pointnet", "dgcnn"])
def test_gradcheck(encoder: torch.nn.Module) -> None:
    encoder = encoder.double()
    points = torch.randn(2, 6, 3, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    assert torch.autograd.gradcheck(lambda p: encoder(p, mask), (points,))


@pytest.mark.parametrize("encoder", _encoders(), ids=["pointnet", "dgcnn"])
@pytest.mark.parametrize(("args", "match"), [
    ((torch.full((2, 5, 3), math.nan),), "NaN"),
    ((torch.randn(2, 5, 2),), "coordinates"),
    ((torch.randn(2, 5, 3, 1),), "shape"),
    ((torch.zeros(0, 5, 3),), "empty"),
    ((torch.randn(2, 5, 3), torch.zeros(2, 5, dtype=torch.bool)), "without"),
    ((torch.randn(2, 5, 3), torch.ones(2, 5, dtype=torch.long)), "bool"),
])
def test_bad_input(encoder: torch.nn.Module, args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        encoder(*args)
