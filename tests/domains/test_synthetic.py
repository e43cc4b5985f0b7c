"""Synthetic spaces: shapes, seeding, the geometry each sampler promises."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from toposci.domains.synthetic import (
    sample_circle,
    sample_sphere,
    sample_spheres_dataset,
    sample_swiss_roll,
    sample_torus,
    sample_two_circles,
)


def test_noiseless_samples_lie_on_their_spaces() -> None:
    c = sample_circle(200, radius=2.0, ambient_dim=5)
    assert c.shape == (200, 5)
    np.testing.assert_allclose(c[:, :2].norm(dim=1), 2.0, atol=1e-5)
    assert torch.all(c[:, 2:] == 0)
    s = sample_sphere(300, dim=3, radius=1.5)
    np.testing.assert_allclose(s.norm(dim=1), 1.5, atol=1e-5)
    t = sample_torus(300, major_radius=2.0, minor_radius=0.5)
    ring = torch.sqrt(t[:, 0] ** 2 + t[:, 1] ** 2)
    np.testing.assert_allclose((ring - 2.0) ** 2 + t[:, 2] ** 2, 0.25, atol=1e-5)


def test_two_circles_labels_and_centres() -> None:
    x, y = sample_two_circles(100, radius=1.0, separation=3.0)
    centres = torch.stack([x[y == k].mean(0) for k in (0, 1)])
    np.testing.assert_allclose(centres[:, 0], [0.0, 3.0], atol=0.3)
    np.testing.assert_allclose((x - torch.stack([3.0 * y, 0 * y], 1)).norm(dim=1), 1.0, atol=1e-5)


def test_seeding_is_reproducible() -> None:
    assert torch.equal(sample_torus(50, noise=0.1, seed=3), sample_torus(50, noise=0.1, seed=3))
    assert not torch.equal(sample_torus(50, seed=3), sample_torus(50, seed=4))


def test_swiss_roll_and_spheres_dataset_shapes() -> None:
    x, t = sample_swiss_roll(100)
    assert x.shape == (100, 3) and t.shape == (100,)
    np.testing.assert_allclose(torch.sqrt(x[:, 0] ** 2 + x[:, 2] ** 2), t, rtol=1e-5)
    pts, labels = sample_spheres_dataset(20, n_spheres=3, ambient_dim=11)
    assert pts.shape == (120, 11)
    assert torch.bincount(labels).tolist() == [20, 20, 20, 60]
    np.testing.assert_allclose(pts[labels == 3].norm(dim=1), 25.0, rtol=1e-5)


@pytest.mark.parametrize("call", [
    lambda: sample_circle(0), lambda: sample_circle(10, noise=-1.0),
    lambda: sample_torus(10, major_radius=1.0, minor_radius=2.0),
    lambda: sample_two_circles(10, separation=1.0), lambda: sample_sphere(10, dim=0),
])
def test_bad_parameters_raise(call) -> None:
    with pytest.raises(ValueError):
        call()
