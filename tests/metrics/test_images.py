"""Image quality (toposci.metrics.images): Fréchet distances by hand, the MNIST classifier."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from toposci.domains.images import load_mnist
from toposci.metrics.images import (
    MNISTClassifier,
    cached_mnist_classifier,
    classifier_features,
    frechet_distance,
    gaussian_frechet_distance,
    image_frechet_distance,
    train_mnist_classifier,
)
from toposci.metrics.ood_sets import invert_images, rotate_images


def cross(mean: tuple[float, float], spread: tuple[float, float]) -> np.ndarray:
    """Four points ``mean ± (a, 0)``, ``mean ± (0, b)``: sample mean ``mean``, unbiased
    covariance ``diag(2 a^2 / 3, 2 b^2 / 3)``."""
    (x, y), (a, b) = mean, spread
    return np.array([[x + a, y], [x - a, y], [x, y + b], [x, y - b]])


def test_frechet_distance_of_diagonal_gaussians_by_hand() -> None:
    # variances 2 a^2 / 3: spreads sqrt(1.5 v) give variances (1, 4) and (9, 1)
    a = cross((0.0, 0.0), (math.sqrt(1.5), math.sqrt(6.0)))
    b = cross((3.0, 4.0), (math.sqrt(13.5), math.sqrt(1.5)))
    # |mu_a - mu_b|^2 + sum (sqrt(v_a) - sqrt(v_b))^2 = 25 + (1 - 3)^2 + (2 - 1)^2
    assert frechet_distance(a, b) == pytest.approx(30.0)
    assert frechet_distance(torch.from_numpy(b), a) == pytest.approx(30.0)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-12)


def test_gaussian_frechet_distance_agrees_with_the_matrix_square_root(
        rng: np.random.Generator) -> None:
    A, B = rng.normal(size=(2, 5, 5))
    cov_a, cov_b = A @ A.T, B @ B.T + np.eye(5)  # not commuting
    mean_a, mean_b = rng.normal(size=(2, 5))
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    expected = (np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b)
                - 2 * np.trace(root))
    got = gaussian_frechet_distance(mean_a, cov_a, mean_b, cov_b)
    assert got == pytest.approx(expected, rel=1e-8)
    assert gaussian_frechet_distance(mean_b, cov_b, mean_a, cov_a) == pytest.approx(got)


def test_frechet_errors() -> None:
    with pytest.raises(ValueError, match=r"features_a must be \(N, D\) with N >= 2"):
        frechet_distance(np.zeros((1, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="differ in width"):
        frechet_distance(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="features_b contains NaN"):
        frechet_distance(np.zeros((4, 2)), np.full((4, 2), np.nan))
    with pytest.raises(ValueError, match="means must be"):
        gaussian_frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))


def test_training_is_seeded_and_leaves_the_global_rng_alone() -> None:
    images, labels = load_mnist(None, "train")
    before = torch.random.get_rng_state()
    a, b = (train_mnist_classifier(images[:64], labels[:64], epochs=1, batch_size=32, seed=3)
            for _ in range(2))
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not a.training
    with pytest.raises(ValueError, match="labels must be an integer tensor"):
        train_mnist_classifier(images[:4], labels[:3])
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        train_mnist_classifier(images[:4, 0], labels[:4])


def test_classifier_accepts_flat_images() -> None:
    model = MNISTClassifier().eval()
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model(x), model(x.reshape(3, 784)))
        assert model.features(x).shape == (3, 64)
    with pytest.raises(ValueError, match="784 pixels"):
        model(torch.rand(3, 1, 14, 14))


def test_cached_classifier_on_the_shipped_sample() -> None:
    model = cached_mnist_classifier()
    assert cached_mnist_classifier() is model  # trained once per process
    images, labels = load_mnist(None, "test")  # 200 held-out digits
    with torch.no_grad():
        accuracy = float((model(images).argmax(dim=1) == labels).float().mean())
    assert accuracy >= 0.85  # 0.94 with torch 2.13
    assert classifier_features(model, images, batch_size=64).shape == (200, 64)
    same = image_frechet_distance(model, images[:100], images[100:])
    # the shifted sets of the OOD metrics are farther from the digits than the digits are
    assert image_frechet_distance(model, images[:100], rotate_images(images[100:], 90.0)) > same
    assert image_frechet_distance(model, images[:100], invert_images(images[100:])) > same
