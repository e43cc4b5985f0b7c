from __future__ import annotations

import math

import gudhi
import numpy as np
import pytest
import torch
from gudhi.representations import Landscape
from gudhi.wasserstein import wasserstein_distance as gudhi_wasserstein

from toposci.topology.diagrams import Diagrams
from toposci.topology.distances import (
    bottleneck_distance,
    landscape_distance,
    wasserstein_distance,
)

SIZES_A = (0, 0, 1, 3, 8, 12, 20)
SIZES_B = (0, 2, 0, 5, 8, 4, 17)


def random_arrays(rng: np.random.Generator, sizes) -> list[np.ndarray]:
    out = []
    for n in sizes:
        births = rng.uniform(0.0, 1.0, n)
        out.append(np.stack([births, births + rng.exponential(0.4, n)], axis=1))
    return out


def batch(arrays) -> Diagrams:
    return Diagrams.from_arrays(arrays, 1, dtype=torch.float64)


def one(points) -> Diagrams:
    return batch([np.asarray(points, dtype=np.float64).reshape(-1, 2)])


@pytest.fixture
def pair(rng):
    a, b = random_arrays(rng, SIZES_A), random_arrays(rng, SIZES_B)
    return a, b


# ---------------------------------------------------------------------- hand-computed values
@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        # (0,1) against nothing: its L-inf distance to the diagonal, (1 - 0) / 2.
        ([[0, 1]], [], 0.5),
        # Matching (0,4)-(1,4) costs max(|0-1|, |4-4|) = 1; sending both to the diagonal costs
        # max(4/2, 3/2) = 2; so 1.
        ([[0, 4]], [[1, 4]], 1.0),
        # (0,4)-(0,4.5) costs 0.5 and (2,2.2) goes to the diagonal for 0.1: max = 0.5.
        ([[0, 4], [2, 2.2]], [[0, 4.5]], 0.5),
        ([], [], 0.0),
    ],
)
def test_bottleneck_by_hand(x, y, expected):
    out = bottleneck_distance(one(x), one(y))
    assert out.shape == (1,)
    assert out.item() == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("x", "y", "order", "internal_p", "expected"),
    [
        ([[0, 1]], [], 1.0, math.inf, 0.5),
        # L2 distance of (0,1) to the diagonal point (0.5, 0.5) is sqrt(0.5^2 + 0.5^2).
        ([[0, 1]], [], 2.0, 2.0, math.sqrt(0.5)),
        # Matched pair 0.5 plus (2,2.2) to the diagonal 0.1: W1 = 0.5 + 0.1.
        ([[0, 4], [2, 2.2]], [[0, 4.5]], 1.0, math.inf, 0.6),
        # Same matching with q = 2: sqrt(0.5^2 + 0.1^2).
        ([[0, 4], [2, 2.2]], [[0, 4.5]], 2.0, math.inf, math.sqrt(0.26)),
        # L1 ground metric: (0,4)-(1,4.5) costs 1 + 0.5 = 1.5 (diagonal would cost 4 + 3.5).
        ([[0, 4]], [[1, 4.5]], 1.0, 1.0, 1.5),
        ([], [], 2.0, 2.0, 0.0),
    ],
)
def test_wasserstein_by_hand(x, y, order, internal_p, expected):
    out = wasserstein_distance(one(x), one(y), order=order, internal_p=internal_p)
    assert out.item() == pytest.approx(expected, abs=1e-12)


def test_landscape_distance_by_hand():
    # {(0,2)} vs {}: on grid t = 0, 1, 2 the landscape is sqrt(2) * (0, 1, 0), the other is 0,
    # so the distance is sqrt(2).
    out = landscape_distance(one([[0, 2]]), one([]), num_landscapes=2, resolution=3,
                             sample_range=(0.0, 2.0))
    assert out.item() == pytest.approx(math.sqrt(2.0), abs=1e-12)


# ---------------------------------------------------------------------- agreement with GUDHI / POT
def test_bottleneck_matches_gudhi(pair):
    a, b = pair
    ours = bottleneck_distance(batch(a), batch(b))
    ref = [gudhi.bottleneck_distance(x, y) for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("order", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("internal_p", [1.0, 2.0, math.inf])
def test_wasserstein_matches_gudhi(pair, order, internal_p):
    a, b = pair
    ours = wasserstein_distance(batch(a), batch(b), order=order, internal_p=internal_p)
    ref = [
        gudhi_wasserstein(x, y, order=order, internal_p=internal_p)
        for x, y in zip(a, b, strict=True)
    ]
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-6)


def test_landscape_distance_matches_gudhi(pair):
    a, b = pair
    ours = landscape_distance(batch(a), batch(b), num_landscapes=3, resolution=40)
    # One grid fitted on both batches, then the Euclidean norm of the vector difference.
    fitted = Landscape(num_landscapes=3, resolution=40).fit(a + b)
    ref = np.linalg.norm(fitted.transform(a) - fitted.transform(b), axis=1)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-6)


def test_landscape_distance_fits_range_on_both_batches(rng):
    # a holds only empty diagrams: the grid must come from b's points alone, as GUDHI's fit.
    a, b = [np.zeros((0, 2))] * 2, random_arrays(rng, (4, 6))
    b = [x + 1.0 for x in b]  # away from 0, which an empty batch must not pull into the range
    ours = landscape_distance(batch(a), batch(b), resolution=20)
    fitted = Landscape(resolution=20).fit(a + b)
    ref = np.linalg.norm(fitted.transform(a) - fitted.transform(b), axis=1)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------- metric properties
DISTANCES = {
    "bottleneck": bottleneck_distance,
    "wasserstein": lambda a, b: wasserstein_distance(a, b, order=2.0, internal_p=2.0),
    "landscape": lambda a, b: landscape_distance(a, b, resolution=30),
}


@pytest.mark.parametrize("name", sorted(DISTANCES))
def test_symmetric_and_zero_on_identity(pair, name):
    fn = DISTANCES[name]
    a, b = batch(pair[0]), batch(pair[1])
    torch.testing.assert_close(fn(a, b), fn(b, a), rtol=0, atol=1e-10)
    # GUDHI's bottleneck answers within its default error e (the smallest positive double).
    torch.testing.assert_close(fn(a, a), torch.zeros(a.batch_size, dtype=torch.float64),
                               rtol=0, atol=1e-12)
    assert (fn(a, b)[1:] > 0).all()  # every pair but the first (both empty) differs


@pytest.mark.parametrize("name", sorted(DISTANCES))
def test_padding_rows_change_nothing(pair, name):
    fn = DISTANCES[name]
    a, b = batch(pair[0]), batch(pair[1])
    B = a.batch_size
    values = torch.cat([a.values, torch.full((B, 2, 2), 7.0, dtype=torch.float64)], dim=1)
    mask = torch.cat([a.mask, torch.zeros(B, 2, dtype=torch.bool)], dim=1)
    torch.testing.assert_close(fn(Diagrams(values, mask, 1), b), fn(a, b), rtol=0, atol=1e-12)


def test_output_follows_dtype(pair):
    a = Diagrams.from_arrays(pair[0], 1)
    b = Diagrams.from_arrays(pair[1], 1)
    for fn in DISTANCES.values():
        assert fn(a, b).dtype == torch.float32


# ---------------------------------------------------------------------- gradients
@pytest.mark.parametrize(("order", "internal_p"), [(1.0, math.inf), (2.0, 2.0), (3.0, 1.0)])
def test_wasserstein_gradcheck(rng, order, internal_p):
    a = batch(random_arrays(rng, (0, 3, 5)))
    b = batch(random_arrays(rng, (2, 0, 4)))

    def f(va: torch.Tensor, vb: torch.Tensor) -> torch.Tensor:
        return wasserstein_distance(Diagrams(va, a.mask, 1), Diagrams(vb, b.mask, 1),
                                    order=order, internal_p=internal_p)

    inputs = (a.values.clone().requires_grad_(True), b.values.clone().requires_grad_(True))
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5)


def test_landscape_distance_gradcheck(rng):
    a = batch(random_arrays(rng, (1, 4)))
    b = batch(random_arrays(rng, (3, 2)))

    def f(va: torch.Tensor) -> torch.Tensor:
        return landscape_distance(Diagrams(va, a.mask, 1), b, num_landscapes=3, resolution=25,
                                  sample_range=(0.0, 2.0))

    assert torch.autograd.gradcheck(f, (a.values.clone().requires_grad_(True),), eps=1e-6,
                                    atol=1e-5)


def test_gradient_at_zero_distance_is_finite(pair):
    a = batch(pair[0])
    values = a.values.clone().requires_grad_(True)
    same = Diagrams(values, a.mask, 1)
    (wasserstein_distance(same, a, order=2.0).sum() + landscape_distance(same, a).sum()).backward()
    assert torch.isfinite(values.grad).all()


def test_padding_garbage_gets_zero_gradient(pair):
    a, b = batch(pair[0]), batch(pair[1])
    B = a.batch_size
    junk = torch.tensor([[math.nan, math.inf]], dtype=torch.float64).expand(B, 1, 2)
    values = torch.cat([a.values, junk], dim=1).requires_grad_(True)  # (B, M + 1, 2)
    mask = torch.cat([a.mask, torch.zeros(B, 1, dtype=torch.bool)], dim=1)
    wasserstein_distance(Diagrams(values, mask, 1), b, order=2.0).sum().backward()
    assert torch.isfinite(values.grad).all()
    assert not values.grad[~mask].any()


def test_wasserstein_gradient_moves_points_toward_match():
    # (0, 3) matched to (0, 2) under L-inf, q = 1: the cost is |3 - death|, so d/d(death) = 1.
    values = torch.tensor([[[0.0, 3.0]]], dtype=torch.float64, requires_grad=True)
    a = Diagrams(values, torch.ones(1, 1, dtype=torch.bool), 1)
    wasserstein_distance(a, one([[0, 2]])).sum().backward()
    torch.testing.assert_close(values.grad, torch.tensor([[[0.0, 1.0]]], dtype=torch.float64))


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize("name", sorted(DISTANCES))
def test_batch_size_mismatch_is_rejected(pair, name):
    a, b = batch(pair[0]), batch(pair[1][:3])
    with pytest.raises(ValueError, match="same batch size"):
        DISTANCES[name](a, b)


@pytest.mark.parametrize("name", sorted(DISTANCES))
def test_infinite_bar_is_rejected(name):
    a = one([[0.0, math.inf]])
    with pytest.raises(ValueError, match="infinite"):
        DISTANCES[name](a, one([[0.0, 1.0]]))


def test_homology_dimension_mismatch_is_rejected():
    a = Diagrams.from_arrays([np.array([[0.0, 1.0]])], 0, dtype=torch.float64)
    with pytest.raises(ValueError, match="homology dimension"):
        bottleneck_distance(a, one([[0.0, 1.0]]))


def test_dtype_mismatch_is_rejected():
    a = Diagrams.from_arrays([np.array([[0.0, 1.0]])], 1, dtype=torch.float32)
    with pytest.raises(ValueError, match="dtype"):
        wasserstein_distance(a, one([[0.0, 1.0]]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"order": 0.5}, "order"),
        ({"order": math.inf}, "order"),
        ({"internal_p": 0.5}, "internal_p"),
    ],
)
def test_bad_wasserstein_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        wasserstein_distance(one([[0, 1]]), one([[0, 2]]), **kwargs)
