from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from gudhi.representations import Landscape, PersistenceImage
from torch import nn

from toposci.domains.synthetic import sample_circle
from toposci.testing import random_rotation, sorted_lifetimes
from toposci.topology.diagrams import Diagrams
from toposci.topology.losses import (
    LandscapeLoss,
    PersistenceImageLoss,
    SignatureLoss,
    TopoRegularizer,
)
from toposci.topology.rips import rips_diagrams

SQUARE = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], dtype=torch.float64)


def _clouds(seed: int, B: int = 2, N: int = 12, D: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, N, D, generator=g, dtype=torch.float64)


def _finite_arrays(diagrams: Diagrams) -> list[np.ndarray]:
    return diagrams.drop_infinite().to_arrays()


# ------------------------------------------------------------------ LandscapeLoss
def test_landscape_loss_of_one_bar_against_nothing():
    # lambda_1(t) = sqrt(2) min(t, 2 - t) on [0, 2] (GUDHI's scaling): integral of its square is
    # 2 * 2 * int_0^1 t^2 dt = 4/3; all other levels are 0.
    a = {0: Diagrams.from_arrays([[[0.0, 2.0]]], 0, dtype=torch.float64)}
    b = {0: Diagrams.from_arrays([np.zeros((0, 2))], 0, dtype=torch.float64)}
    loss = LandscapeLoss(homology_dims=(0,), resolution=2001)(a, b)
    assert loss.item() == pytest.approx(4 / 3, abs=1e-6)


def test_landscape_loss_matches_gudhi_landscapes():
    a, b = rips_diagrams(_clouds(0)), rips_diagrams(_clouds(1))
    weights, K, T = (0.5, 2.0), 3, 50
    loss = LandscapeLoss(homology_dims=(0, 1), weights=weights, num_landscapes=K,
                         resolution=T)(a, b)
    expected = 0.0
    for dim, w in zip((0, 1), weights):
        da, db = _finite_arrays(a[dim]), _finite_arrays(b[dim])
        everything = np.concatenate(da + db)
        lo, hi = everything[:, 0].min(), everything[:, 1].max()
        vec = Landscape(num_landscapes=K, resolution=T, sample_range=[lo, hi])
        diff = vec.fit_transform(da) - vec.fit_transform(db)  # (B, K*T)
        expected += w * (hi - lo) / (T - 1) * (diff**2).sum(axis=1).mean()
    assert loss.item() == pytest.approx(expected, rel=1e-9)


def test_landscape_loss_drops_infinite_bars_and_is_zero_on_equal_inputs():
    a = rips_diagrams(_clouds(2))
    finite = {d: v.drop_infinite() for d, v in a.items()}
    b = rips_diagrams(_clouds(3))
    loss = LandscapeLoss()
    assert loss(a, b).item() == pytest.approx(loss(finite, b).item(), rel=1e-12)
    assert loss(a, a).item() == 0.0


def test_landscape_loss_gradcheck():
    target = rips_diagrams(_clouds(4))
    y = _clouds(5).requires_grad_(True)
    loss = LandscapeLoss(num_landscapes=3, resolution=40, sample_range=(0.0, 1.5))
    assert torch.autograd.gradcheck(lambda y: loss(rips_diagrams(y), target), (y,))


# ------------------------------------------------------------------ PersistenceImageLoss
def test_image_loss_matches_gudhi_images():
    a, b = rips_diagrams(_clouds(6)), rips_diagrams(_clouds(7))
    loss = PersistenceImageLoss(homology_dims=(0, 1), resolution=(8, 6), bandwidth=0.1)(a, b)
    expected = 0.0
    for dim in (0, 1):
        da, db = _finite_arrays(a[dim]), _finite_arrays(b[dim])
        everything = np.concatenate(da + db)
        pers = everything[:, 1] - everything[:, 0]
        im_range = [everything[:, 0].min(), everything[:, 0].max(), pers.min(), pers.max()]
        vec = PersistenceImage(bandwidth=0.1, resolution=[8, 6], im_range=im_range)
        diff = vec.fit_transform(da) - vec.fit_transform(db)
        expected += (diff**2).sum(axis=1).mean()
    assert loss.item() == pytest.approx(expected, rel=1e-9)


def test_image_loss_gradcheck():
    target = rips_diagrams(_clouds(8))
    y = _clouds(9).requires_grad_(True)
    loss = PersistenceImageLoss(resolution=(5, 5), bandwidth=0.2, weight="linear",
                                im_range=(0.0, 0.6, 0.0, 0.8))
    assert torch.autograd.gradcheck(lambda y: loss(rips_diagrams(y), target), (y,))


@pytest.mark.parametrize("loss", [LandscapeLoss(), PersistenceImageLoss()])
def test_diagram_losses_reject_mismatched_inputs(loss):
    a, b = rips_diagrams(_clouds(10, B=2)), rips_diagrams(_clouds(11, B=3))
    with pytest.raises(ValueError, match="same batch size"):
        loss(a, b)
    with pytest.raises(ValueError, match="no H1"):
        loss(a, {0: a[0]})


def test_landscape_loss_rejects_bad_options():
    a = rips_diagrams(_clouds(12))
    with pytest.raises(ValueError, match="resolution"):
        LandscapeLoss(resolution=1)(a, a)
    with pytest.raises(ValueError, match="weights"):
        LandscapeLoss(weights=(1.0,))(a, a)


# ------------------------------------------------------------------ SignatureLoss
def test_signature_loss_of_squares_by_hand():
    # X: unit square, Z: square of side 2. H0: 3 MST sides, each off by 1 -> 1/2*3 + 1/2*3 = 3.
    # H1: birth side (off by 1) and death diagonal (off by sqrt 2) -> 1/2*3 + 1/2*3 = 3.
    z = 2 * SQUARE
    assert SignatureLoss()(SQUARE, z).item() == pytest.approx(3.0, abs=1e-12)
    loss = SignatureLoss(homology_dims=(0, 1), weights=(1.0, 0.5))
    assert loss(SQUARE, z).item() == pytest.approx(3.0 + 1.5, abs=1e-12)
    assert SignatureLoss(normalize=True)(SQUARE, z).item() == pytest.approx(0.0, abs=1e-12)


def test_signature_loss_is_zero_for_an_isometric_latent():
    x = _clouds(13, B=1, N=15, D=3)[0]
    z = x @ random_rotation(3, seed=1).T + 1.0
    loss = SignatureLoss(homology_dims=(0, 1))(x, z)
    assert loss.item() == pytest.approx(0.0, abs=1e-12)


def test_signature_loss_averages_over_clouds():
    x, z = _clouds(14, B=2, N=10, D=4), _clouds(15, B=2, N=10, D=2)
    loss = SignatureLoss(homology_dims=(0, 1))
    separate = (loss(x[0], z[0]) + loss(x[1], z[1])) / 2
    assert loss(x, z).item() == pytest.approx(separate.item(), rel=1e-12)


def test_signature_loss_matches_the_papers_sum_over_gudhi_pairing_edges():
    # Moor et al.'s loss summed edge by edge with every repeat (an edge that is an MST edge of
    # both spaces counts twice), from the persistence pairs of GUDHI's Rips complex.
    gudhi = pytest.importorskip("gudhi")
    x, z = _clouds(20, B=1, N=14, D=5)[0], _clouds(21, B=1, N=14, D=2)[0]

    def edges(points: torch.Tensor) -> list[tuple[int, int]]:
        rips = gudhi.RipsComplex(points=points.numpy()).create_simplex_tree(max_dimension=2)
        rips.compute_persistence(homology_coeff_field=2)
        out = []
        for birth, death in rips.persistence_pairs():
            for simplex in (birth, death):
                if len(simplex) >= 2:  # the longest edge of the simplex (its filtration value)
                    out.append(max(((a, b) for a in simplex for b in simplex if a < b),
                                   key=lambda e: float((points[e[0]] - points[e[1]]).norm())))
        return out

    def length(points: torch.Tensor, e: tuple[int, int]) -> float:
        return float((points[e[0]] - points[e[1]]).norm())

    expected = sum(0.5 * (length(x, e) - length(z, e)) ** 2 for e in edges(x) + edges(z))
    got = SignatureLoss(homology_dims=(0, 1))(x, z).item()
    assert got == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("filtration", ["rips", "knn"])
def test_signature_loss_gradcheck(filtration):
    x = _clouds(16, B=1, N=10, D=4)[0].requires_grad_(True)
    z = _clouds(17, B=1, N=10, D=2)[0].requires_grad_(True)
    loss = SignatureLoss(homology_dims=(0, 1), filtration=filtration, k=4)
    assert torch.autograd.gradcheck(loss, (x, z))


def test_signature_loss_rejects_bad_input():
    x, z = _clouds(18, B=2, N=10), _clouds(19, B=3, N=10)
    loss = SignatureLoss()
    with pytest.raises(ValueError, match="same batch size"):
        loss(x, z)
    with pytest.raises(ValueError, match="same number of points"):
        loss(x[0], z[0, :8])
    with pytest.raises(ValueError, match="both"):
        loss(x, z[0])
    with pytest.raises(ValueError, match="NaN"):
        loss(x[0], torch.full((10, 2), float("nan"), dtype=torch.float64))
    with pytest.raises(ValueError, match="valid values: rips, knn"):
        SignatureLoss(filtration="alpha")(x, x)


def test_signature_loss_recovers_the_loop_of_a_noisy_circle():
    # A noisy circle in R^10 and a random linear map to R^2, trained on the signature loss alone.
    data = sample_circle(48, noise=0.02, ambient_dim=10, seed=0).double()
    g = torch.Generator().manual_seed(0)
    weight = (0.3 * torch.randn(10, 2, generator=g, dtype=torch.float64)).requires_grad_(True)
    loss_fn = SignatureLoss(homology_dims=(0, 1))
    optimizer = torch.optim.Adam([weight], lr=0.05)
    for _ in range(100):
        optimizer.zero_grad()
        loss_fn(data, data @ weight).backward()
        optimizer.step()
    target = sorted_lifetimes(rips_diagrams(data, homology_dims=(1,))[1])[0][0]
    start = sorted_lifetimes(rips_diagrams(data @ (0.3 * torch.randn(10, 2, generator=g,
                             dtype=torch.float64)), homology_dims=(1,))[1])[0][0]
    reached = sorted_lifetimes(rips_diagrams(data @ weight.detach(), homology_dims=(1,))[1])[0][0]
    assert abs(start - target) > 0.2 * target  # a random map misses it
    assert abs(reached - target) < 0.2 * target


# ------------------------------------------------------------------ TopoRegularizer
class _Frozen(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 3).double()
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.linear(x.flatten(1)))


def test_regularizer_latent_mode_is_the_signature_loss_of_flattened_samples():
    data = _clouds(20, B=1, N=12, D=6)[0].reshape(12, 2, 3)  # samples with two axes
    latent = _clouds(21, B=1, N=12, D=2)[0]
    reg = TopoRegularizer(mode="latent", homology_weights={0: 1.0, 1: 0.5})
    expected = SignatureLoss(homology_dims=(0, 1), weights=(1.0, 0.5))(data.reshape(12, 6),
                                                                       latent)
    assert reg(data, latent=latent).item() == pytest.approx(expected.item(), rel=1e-12)


@pytest.mark.parametrize(("filtration", "vectorization"),
                         [("rips", "landscape"), ("knn", "image")])
def test_regularizer_reconstruction_mode(filtration, vectorization):
    torch.manual_seed(0)
    projection = _Frozen()
    reg = TopoRegularizer(mode="reconstruction", filtration=filtration, k=4,
                          vectorization=vectorization, projection=projection, resolution=30,
                          sample_range=(0.0, 3.0), image_resolution=(6, 6), bandwidth=0.2,
                          im_range=(0.0, 2.0, 0.0, 2.0))
    reg.train()
    assert not projection.training  # frozen: always in eval mode (dropout off)
    data = _clouds(22, B=1, N=12, D=6)[0]
    recon = (data + 0.1 * _clouds(23, B=1, N=12, D=6)[0]).requires_grad_(True)
    assert reg(data, reconstruction=data.clone()).item() == 0.0
    loss = reg(data, reconstruction=recon)
    loss.backward()
    assert loss.item() > 0
    assert recon.grad is not None and recon.grad.abs().sum() > 0
    assert all(p.grad is None for p in projection.parameters())

    def fn(r):
        return reg(data, reconstruction=r)

    assert torch.autograd.gradcheck(fn, (recon.detach().requires_grad_(True),), fast_mode=True)


def test_regularizer_rejects_missing_inputs_and_bad_options():
    data = _clouds(24, B=1, N=10, D=3)[0]
    with pytest.raises(ValueError, match="latent="):
        TopoRegularizer(mode="latent")(data)
    with pytest.raises(ValueError, match="reconstruction="):
        TopoRegularizer(mode="reconstruction")(data, latent=data)
    with pytest.raises(ValueError, match="valid values: latent, reconstruction"):
        TopoRegularizer(mode="both")(data, latent=data)
    with pytest.raises(ValueError, match="valid values: landscape, image"):
        TopoRegularizer(mode="reconstruction", vectorization="silhouette")(
            data, reconstruction=data)
    with pytest.raises(ValueError, match="valid values: rips, knn"):
        TopoRegularizer(mode="reconstruction", filtration="cech")(data, reconstruction=data)
    with pytest.raises(ValueError, match="N >= 2"):
        TopoRegularizer(mode="latent")(data[:1], latent=data[:1])
    with pytest.raises(ValueError, match="non-zero weight"):
        TopoRegularizer(homology_weights={0: 0.0})(data, latent=data)
    with pytest.raises(ValueError, match="NaN"):
        TopoRegularizer()(data, latent=torch.full_like(data, math.nan))


def test_pairing_distances_fall_back_to_float64_where_float32_overflows() -> None:
    from toposci.topology.losses import _pairing_distances

    points = torch.tensor([[[0.0, 0.0], [3e20, 4e20], [0.0, 1e20]]])  # float32: |x|^2 overflows
    d = _pairing_distances(points)
    assert d.dtype == torch.float64 and bool(torch.isfinite(d).all())
    assert float(d[0, 0, 1]) == pytest.approx(5e20, rel=1e-6)
    one_hot = (torch.rand(1, 40, 30, generator=torch.Generator().manual_seed(0)) < 0.2).float()
    squared = (one_hot[0, :, None] - one_hot[0, None]).square().sum(-1)  # (40, 40) integers
    d = _pairing_distances(one_hot)[0]
    torch.testing.assert_close(d, squared.double().sqrt(), rtol=1e-7, atol=0)
    # ties stay ties: equal squared distances give equal distances, and only they do
    pairs = torch.stack([squared.flatten().double(), d.flatten()], dim=1).unique(dim=0)
    assert len(pairs) == len(squared.unique()) == len(d.unique())
