from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from gudhi.representations import BettiCurve, Landscape, PersistenceImage, Silhouette

from toposci.topology.diagrams import Diagrams
from toposci.topology.vectorize import (
    betti_curves,
    landscapes,
    persistence_images,
    silhouettes,
)

SQRT2 = math.sqrt(2.0)
# Diagram sizes of one batch: empty, one point, and different counts per item.
SIZES = (0, 1, 2, 7, 15, 30)


def random_arrays(rng: np.random.Generator, sizes=SIZES) -> list[np.ndarray]:
    """Diagrams with births in [0, 1) and exponential lifetimes (all above the diagonal)."""
    out = []
    for n in sizes:
        births = rng.uniform(0.0, 1.0, n)
        out.append(np.stack([births, births + rng.exponential(0.4, n)], axis=1))
    return out


def batch(arrays: list[np.ndarray]) -> Diagrams:
    return Diagrams.from_arrays(arrays, 1, dtype=torch.float64)


def with_grad(diagrams: Diagrams) -> Diagrams:
    return Diagrams(diagrams.values.clone().requires_grad_(True), diagrams.mask, diagrams.dim)


def gudhi_range(sample_range):
    return [np.nan, np.nan] if sample_range is None else list(sample_range)


# ---------------------------------------------------------------------- agreement with GUDHI
# float64 is held to 1e-6; float32 (a different selection code path) to its own precision.
DTYPES = [(torch.float64, 1e-6), (torch.float32, 1e-5)]


@pytest.mark.parametrize(("dtype", "atol"), DTYPES)
@pytest.mark.parametrize("sample_range", [None, (-0.2, 2.5)])
@pytest.mark.parametrize("num_landscapes", [1, 3, 8])
def test_landscapes_match_gudhi(rng, sample_range, num_landscapes, dtype, atol):
    # Round to the tested dtype first so that GUDHI sees the same points.
    arrays = [a.astype(np.float32).astype(np.float64) for a in random_arrays(rng)]
    diagrams = Diagrams.from_arrays(arrays, 1, dtype=dtype)
    ours = landscapes(diagrams, num_landscapes=num_landscapes, resolution=50,
                      sample_range=sample_range)
    ref = Landscape(num_landscapes=num_landscapes, resolution=50,
                    sample_range=gudhi_range(sample_range)).fit_transform(arrays)
    assert ours.shape == (len(arrays), num_landscapes, 50)
    assert ours.dtype == dtype
    np.testing.assert_allclose(ours.reshape(len(arrays), -1).double().numpy(), ref, rtol=0,
                               atol=atol)


@pytest.mark.parametrize(("dtype", "atol"), DTYPES)
def test_landscapes_with_repeated_points_match_gudhi(dtype, atol):
    # Seven copies of one point (more than K) and integer coordinates on an integer grid: ties
    # everywhere, each copy must still count once per level.
    arrays = [
        np.array([[0.0, 2.0]] * 7 + [[0.5, 1.0]]),
        np.array([[0.0, 2.0]] * 3 + [[0.5, 1.0], [1.0, 3.0]]),
        np.array([[0.0, 0.0], [1.0, 1.0]]),  # on the diagonal: zero everywhere
    ]
    diagrams = Diagrams.from_arrays(arrays, 1, dtype=dtype)
    ours = landscapes(diagrams, num_landscapes=5, resolution=13, sample_range=(0.0, 3.0))
    ref = Landscape(num_landscapes=5, resolution=13, sample_range=[0.0, 3.0]).fit_transform(arrays)
    np.testing.assert_allclose(ours.reshape(3, -1).double().numpy(), ref, rtol=0, atol=atol)


@pytest.mark.parametrize("sample_range", [None, (0.1, 1.7)])
def test_betti_curves_match_gudhi(rng, sample_range):
    arrays = random_arrays(rng)
    # Put grid values exactly on a birth and a death to exercise the b <= t < d convention.
    arrays[2] = np.array([[0.1, 0.5], [0.3, 1.7]])
    ours = betti_curves(batch(arrays), resolution=40, sample_range=sample_range)
    ref = BettiCurve(resolution=40, sample_range=gudhi_range(sample_range)).fit_transform(arrays)
    np.testing.assert_array_equal(ours.numpy(), ref)


@pytest.mark.parametrize("sample_range", [None, (0.0, 2.0)])
@pytest.mark.parametrize("power", [0.0, 1.0, 2.5])
def test_silhouettes_match_gudhi(rng, sample_range, power):
    arrays = random_arrays(rng)
    ours = silhouettes(batch(arrays), power=power, resolution=60, sample_range=sample_range)
    ref = Silhouette(weight=lambda x: (x[1] - x[0]) ** power, resolution=60,
                     sample_range=gudhi_range(sample_range)).fit_transform(arrays)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("im_range", [None, (0.0, 1.0, 0.0, 1.5)])
@pytest.mark.parametrize(
    ("weight", "gudhi_weight"),
    [
        ("constant", lambda x: 1.0),
        ("linear", lambda x: x[1]),
        ("quadratic", lambda x: x[1] ** 2),
        (lambda bp: torch.arctan(bp[..., 0] + bp[..., 1]), lambda x: np.arctan(x[0] + x[1])),
    ],
)
def test_persistence_images_match_gudhi(rng, im_range, weight, gudhi_weight):
    arrays = random_arrays(rng)
    # A non-square image checks the flattening order (rows = persistence, columns = birth).
    ours = persistence_images(batch(arrays), resolution=(12, 7), bandwidth=0.15, weight=weight,
                              im_range=im_range)
    ref = PersistenceImage(bandwidth=0.15, weight=gudhi_weight, resolution=[12, 7],
                           im_range=[np.nan] * 4 if im_range is None else list(im_range))
    ref = ref.fit_transform(arrays)
    assert ours.shape == (len(arrays), 12 * 7)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------- hand-computed values
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_landscape_by_hand(dtype):
    # Points (0, 4) and (1, 3); grid t = 0, 1, 2, 3, 4 (sample_range (0, 4), resolution 5).
    # Tents min(t - b, d - t)_+ :
    #   (0, 4): min(0,4)=0, min(1,3)=1, min(2,2)=2, min(3,1)=1, min(4,0)=0  -> 0, 1, 2, 1, 0
    #   (1, 3): min(-1,3)->0, min(0,2)=0, min(1,1)=1, min(2,0)=0, min(3,-1)->0 -> 0, 0, 1, 0, 0
    # lambda_1 = the larger tent, lambda_2 = the smaller, lambda_3 = 0 (only two points);
    # GUDHI's convention multiplies every value by sqrt(2).
    diagrams = Diagrams.from_arrays([np.array([[0.0, 4.0], [1.0, 3.0]])], 1, dtype=dtype)
    out = landscapes(diagrams, num_landscapes=3, resolution=5, sample_range=(0.0, 4.0))
    expected = SQRT2 * torch.tensor(
        [[0.0, 1.0, 2.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]],
        dtype=dtype,
    )
    torch.testing.assert_close(out[0], expected, rtol=0, atol=1e-6)


def test_betti_curve_by_hand():
    # Same points, same grid; alive means b <= t < d:
    # t=0: (0,4) -> 1; t=1: both -> 2; t=2: both -> 2; t=3: (1,3) died at 3 -> 1; t=4: none -> 0.
    diagrams = batch([np.array([[0.0, 4.0], [1.0, 3.0]])])
    out = betti_curves(diagrams, resolution=5, sample_range=(0.0, 4.0))
    assert out[0].tolist() == [1.0, 2.0, 2.0, 1.0, 0.0]


def test_silhouette_by_hand():
    # Weights = persistence: 4 and 2, normalised 2/3 and 1/3; tents as in the landscape test.
    # t=2: sqrt(2) * (2/3 * 2 + 1/3 * 1) = sqrt(2) * 5/3; t=1 and t=3: sqrt(2) * 2/3 * 1.
    diagrams = batch([np.array([[0.0, 4.0], [1.0, 3.0]])])
    out = silhouettes(diagrams, power=1.0, resolution=5, sample_range=(0.0, 4.0))
    expected = SQRT2 * torch.tensor([0.0, 2 / 3, 5 / 3, 2 / 3, 0.0], dtype=torch.float64)
    torch.testing.assert_close(out[0], expected, rtol=0, atol=1e-12)


def test_persistence_image_by_hand():
    # One point (1, 3) -> birth-persistence (1, 2), bandwidth 1, one pixel at (1, 2): the
    # Gaussian's peak 1 / (2 pi); a pixel at (1, 0) is 2 away in y: exp(-4 / 2) / (2 pi).
    diagrams = batch([np.array([[1.0, 3.0]])])
    out = persistence_images(diagrams, resolution=(1, 2), im_range=(1.0, 1.0, 0.0, 2.0))
    expected = torch.tensor([math.exp(-2.0), 1.0], dtype=torch.float64) / (2 * math.pi)
    torch.testing.assert_close(out[0], expected, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------- batching and padding
ALL = {
    "landscapes": lambda d: landscapes(d, num_landscapes=4, resolution=30,
                                       sample_range=(0.0, 2.0)),
    "images": lambda d: persistence_images(d, resolution=(8, 6), bandwidth=0.2,
                                           im_range=(0.0, 1.0, 0.0, 1.5)),
    "betti": lambda d: betti_curves(d, resolution=30, sample_range=(0.0, 2.0)),
    "silhouettes": lambda d: silhouettes(d, power=2.0, resolution=30, sample_range=(0.0, 2.0)),
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", sorted(ALL))
def test_batched_equals_one_at_a_time(rng, name, dtype):
    fn = ALL[name]
    diagrams = Diagrams.from_arrays(random_arrays(rng), 1, dtype=dtype)
    together = fn(diagrams)
    for i in range(diagrams.batch_size):
        torch.testing.assert_close(together[i], fn(diagrams[i])[0], rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", sorted(ALL))
def test_padding_rows_change_nothing(rng, name):
    fn = ALL[name]
    diagrams = batch(random_arrays(rng))
    B = diagrams.batch_size
    junk = torch.tensor([[5.0, -3.0], [math.inf, 1.0], [math.nan, 0.5]], dtype=torch.float64)
    values = torch.cat([diagrams.values, junk.expand(B, 3, 2)], dim=1)  # (B, M + 3, 2)
    mask = torch.cat([diagrams.mask, torch.zeros(B, 3, dtype=torch.bool)], dim=1)
    padded = Diagrams(values, mask, diagrams.dim)
    torch.testing.assert_close(fn(padded), fn(diagrams), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(ALL))
def test_empty_diagrams_give_zeros(name):
    empty = Diagrams(torch.zeros(3, 4, 2, dtype=torch.float64),
                     torch.zeros(3, 4, dtype=torch.bool), 1)
    out = ALL[name](empty)
    assert out.shape[0] == 3
    assert not out.any()


def test_fitted_range_on_empty_batch_gives_zeros():
    empty = Diagrams(torch.zeros(2, 0, 2), torch.zeros(2, 0, dtype=torch.bool), 0)
    assert not landscapes(empty).any()
    assert not silhouettes(empty).any()
    assert not betti_curves(empty).any()
    assert not persistence_images(empty).any()


def test_output_follows_dtype(rng):
    diagrams = Diagrams.from_arrays(random_arrays(rng), 1, dtype=torch.float32)
    for fn in ALL.values():
        assert fn(diagrams).dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", sorted(ALL))
def test_same_numbers_on_cuda(rng, name):
    diagrams = batch(random_arrays(rng))
    cpu = ALL[name](diagrams)
    gpu = ALL[name](diagrams.to("cuda"))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------- gradients
GRADCHECKED = {
    "landscapes": ALL["landscapes"],
    "images_constant": ALL["images"],
    "images_linear": lambda d: persistence_images(d, resolution=(5, 4), bandwidth=0.3,
                                                  weight="linear", im_range=(0, 1, 0, 1.5)),
    "silhouettes_power1": lambda d: silhouettes(d, power=1.0, resolution=20,
                                                sample_range=(0.0, 2.0)),
    "silhouettes_power2": ALL["silhouettes"],
}


@pytest.mark.parametrize("name", sorted(GRADCHECKED))
def test_gradcheck(rng, name):
    fn = GRADCHECKED[name]
    diagrams = batch(random_arrays(rng, sizes=(0, 1, 3, 6)))
    mask = diagrams.mask

    def f(values: torch.Tensor) -> torch.Tensor:
        return fn(Diagrams(values, mask, 1))

    values = diagrams.values.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(f, (values,), eps=1e-6, atol=1e-5)


def test_float32_landscape_gradient_matches_float64(rng):
    # float32 selects the levels by another code path; its gradient must be the same.
    arrays = [a.astype(np.float32).astype(np.float64) for a in random_arrays(rng)]
    grads = []
    for dtype in (torch.float64, torch.float32):
        diagrams = with_grad(Diagrams.from_arrays(arrays, 1, dtype=dtype))
        weights = torch.linspace(0.0, 1.0, 4 * 30, dtype=dtype).view(1, 4, 30)
        (ALL["landscapes"](diagrams) * weights).sum().backward()
        grads.append(diagrams.values.grad.double())
    torch.testing.assert_close(grads[1], grads[0], rtol=0, atol=1e-4)


def test_padding_rows_get_zero_gradient(rng):
    diagrams = with_grad(batch(random_arrays(rng, sizes=(1, 4))))
    total = sum(fn(diagrams).sum() for name, fn in ALL.items() if name != "betti")
    total.backward()
    grad = diagrams.values.grad
    assert torch.isfinite(grad).all()
    assert not grad[~diagrams.mask].any()
    assert grad[diagrams.mask].abs().sum() > 0


def test_betti_curves_carry_no_graph(rng):
    diagrams = with_grad(batch(random_arrays(rng)))
    assert not betti_curves(diagrams).requires_grad


# ---------------------------------------------------------------------- bad input
def test_infinite_bar_is_rejected_with_advice():
    diagrams = Diagrams.from_arrays([np.array([[0.0, np.inf], [0.0, 1.0]])], 0)
    for fn in (landscapes, persistence_images, betti_curves, silhouettes):
        with pytest.raises(ValueError, match="drop_infinite"):
            fn(diagrams)


def test_nan_is_rejected():
    values = torch.tensor([[[0.0, math.nan]]])
    diagrams = Diagrams(values, torch.ones(1, 1, dtype=torch.bool), 1)
    with pytest.raises(ValueError, match="NaN"):
        landscapes(diagrams)


def test_empty_batch_is_rejected():
    empty = Diagrams.from_arrays([], 1)
    with pytest.raises(ValueError, match="empty batch"):
        landscapes(empty)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda d: landscapes(d, num_landscapes=0), "num_landscapes"),
        (lambda d: landscapes(d, resolution=2.5), "resolution"),
        (lambda d: landscapes(d, sample_range=(1.0, 0.0)), "sample_range"),
        (lambda d: landscapes(d, sample_range=(0.0, math.inf)), "sample_range"),
        (lambda d: betti_curves(d, sample_range=(0.0, 1.0, 2.0)), "sample_range"),
        (lambda d: silhouettes(d, power=-1.0), "power"),
        (lambda d: persistence_images(d, bandwidth=0.0), "bandwidth"),
        (lambda d: persistence_images(d, weight="cubic"), "constant"),
        (lambda d: persistence_images(d, resolution=(4,)), "resolution"),
        (lambda d: persistence_images(d, im_range=(0, 1, 1, 0)), "im_range"),
        (lambda d: persistence_images(d, weight=lambda bp: bp), "weight"),
        (lambda d: landscapes(d.values), "Diagrams"),
    ],
)
def test_bad_arguments(rng, call, match):
    diagrams = batch(random_arrays(rng, sizes=(3,)))
    with pytest.raises(ValueError, match=match):
        call(diagrams)
