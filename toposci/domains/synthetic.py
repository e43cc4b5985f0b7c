"""Seeded samples of spaces whose topology is known: circles, torus, spheres, Swiss roll.

Every sampler returns a float tensor of points ``(N, D)``; samplers of unions of spaces also
return integer labels ``(N,)`` saying which part each point came from.

Known Betti numbers (b0, b1, b2) of the underlying spaces:

==================  ===========
circle              (1, 1, 0)
two circles         (2, 2, 0)
torus               (1, 2, 1)
2-sphere            (1, 0, 1)
Swiss roll          (1, 0, 0)
==================  ===========
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "KNOWN_BETTI",
    "sample_circle",
    "sample_sphere",
    "sample_spheres_dataset",
    "sample_swiss_roll",
    "sample_torus",
    "sample_two_circles",
]

KNOWN_BETTI: dict[str, tuple[int, int, int]] = {
    "circle": (1, 1, 0),
    "two_circles": (2, 2, 0),
    "torus": (1, 2, 1),
    "sphere": (1, 0, 1),
    "swiss_roll": (1, 0, 0),
}


def _check(n: int, noise: float) -> None:
    if n < 1:
        raise ValueError(f"number of points must be >= 1, got {n}")
    if not math.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite non-negative number, got {noise}")


def _finish(points: np.ndarray, noise: float, rng: np.random.Generator) -> Tensor:
    points = points + noise * rng.standard_normal(points.shape)
    return torch.from_numpy(points).float()


def sample_circle(n: int, *, radius: float = 1.0, noise: float = 0.0, ambient_dim: int = 2,
                  seed: int = 0) -> Tensor:
    """``n`` points on a circle of ``radius`` in the first two coordinates of R^ambient_dim.

    Returns:
        ``(n, ambient_dim)`` points; Gaussian noise of std ``noise`` on every coordinate.
    """
    _check(n, noise)
    if ambient_dim < 2:
        raise ValueError(f"a circle needs ambient_dim >= 2, got {ambient_dim}")
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0, 2 * np.pi, n)
    points = np.zeros((n, ambient_dim))
    points[:, 0] = radius * np.cos(theta)
    points[:, 1] = radius * np.sin(theta)
    return _finish(points, noise, rng)


def sample_two_circles(n: int, *, radius: float = 1.0, separation: float = 3.0,
                       noise: float = 0.0, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Two disjoint circles of ``radius`` whose centres are ``separation`` apart along x.

    Returns:
        points ``(n, 2)`` and labels ``(n,)`` in {0, 1}.
    """
    _check(n, noise)
    if separation <= 2 * radius:
        raise ValueError(f"separation {separation} must exceed 2*radius={2 * radius}")
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    theta = rng.uniform(0, 2 * np.pi, n)
    points = np.stack([radius * np.cos(theta) + separation * labels, radius * np.sin(theta)], 1)
    return _finish(points, noise, rng), torch.from_numpy(labels)


def sample_torus(n: int, *, major_radius: float = 2.0, minor_radius: float = 1.0,
                 noise: float = 0.0, seed: int = 0) -> Tensor:
    """``n`` points on a torus in R^3, uniform with respect to its surface area.

    Returns:
        ``(n, 3)`` points.
    """
    _check(n, noise)
    if not 0 < minor_radius < major_radius:
        raise ValueError("need 0 < minor_radius < major_radius for an embedded torus")
    rng = np.random.default_rng(seed)
    # Rejection sampling of the tube angle: the area element grows with R + r cos(phi).
    phi = np.empty(0)
    while phi.size < n:
        cand = rng.uniform(0, 2 * np.pi, 2 * n)
        accept = rng.uniform(0, 1, 2 * n) < (major_radius + minor_radius * np.cos(cand)) / (
            major_radius + minor_radius)
        phi = np.concatenate([phi, cand[accept]])
    phi = phi[:n]
    theta = rng.uniform(0, 2 * np.pi, n)
    ring = major_radius + minor_radius * np.cos(phi)
    points = np.stack([ring * np.cos(theta), ring * np.sin(theta), minor_radius * np.sin(phi)], 1)
    return _finish(points, noise, rng)


def sample_sphere(n: int, *, dim: int = 2, radius: float = 1.0, noise: float = 0.0,
                  seed: int = 0) -> Tensor:
    """``n`` points uniform on the ``dim``-sphere of ``radius`` in R^(dim+1).

    Returns:
        ``(n, dim + 1)`` points.
    """
    _check(n, noise)
    if dim < 1:
        raise ValueError(f"sphere dimension must be >= 1, got {dim}")
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n, dim + 1))
    points = radius * g / np.linalg.norm(g, axis=1, keepdims=True)
    return _finish(points, noise, rng)


def sample_swiss_roll(n: int, *, noise: float = 0.0, seed: int = 0) -> tuple[Tensor, Tensor]:
    """The Swiss roll: a rectangle rolled into a spiral in R^3 (contractible).

    Returns:
        points ``(n, 3)`` and the roll parameter ``(n,)`` (position along the spiral).
    """
    _check(n, noise)
    rng = np.random.default_rng(seed)
    t = 1.5 * np.pi * (1 + 2 * rng.uniform(0, 1, n))
    height = 21 * rng.uniform(0, 1, n)
    points = np.stack([t * np.cos(t), height, t * np.sin(t)], 1)
    return _finish(points, noise, rng), torch.from_numpy(t).float()


def sample_spheres_dataset(n_per_sphere: int = 500, *, n_spheres: int = 10,
                           ambient_dim: int = 101, radius: float = 5.0,
                           outer_radius: float = 25.0, shift_std: float | None = None,
                           seed: int = 0) -> tuple[Tensor, Tensor]:
    """The "Spheres" data set of topological autoencoders (Moor et al., ICML 2020, Sec. 5.1).

    ``n_spheres`` spheres S^(ambient_dim-1) of ``radius`` with centres shifted by Gaussian noise,
    all enclosed by one larger sphere of ``outer_radius`` carrying as many points as all small
    spheres together. The defaults are the paper's: 10 spheres in R^101, radius 5, 500 points
    each, outer radius 25, shifts of std 10/sqrt(ambient_dim).

    Returns:
        points ``(2 * n_spheres * n_per_sphere, ambient_dim)`` and labels ``(N,)``: the index of
        the small sphere, or ``n_spheres`` for the enclosing sphere.
    """
    if n_per_sphere < 1 or n_spheres < 1:
        raise ValueError("n_per_sphere and n_spheres must be >= 1")
    rng = np.random.default_rng(seed)
    std = 10 / math.sqrt(ambient_dim) if shift_std is None else shift_std
    parts, labels = [], []
    for i in range(n_spheres):
        g = rng.standard_normal((n_per_sphere, ambient_dim))
        shift = rng.normal(0, std, ambient_dim)
        parts.append(radius * g / np.linalg.norm(g, axis=1, keepdims=True) + shift)
        labels.append(np.full(n_per_sphere, i))
    g = rng.standard_normal((n_per_sphere * n_spheres, ambient_dim))
    parts.append(outer_radius * g / np.linalg.norm(g, axis=1, keepdims=True))
    labels.append(np.full(n_per_sphere * n_spheres, n_spheres))
    return torch.from_numpy(np.concatenate(parts)).float(), torch.from_numpy(np.concatenate(labels))
