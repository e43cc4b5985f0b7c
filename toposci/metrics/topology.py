"""Topology fidelity of generated sets: diagrams of the set itself, compared across sets.

A set of samples seen through a descriptor (Morgan fingerprints with Tanimoto distance for
molecules, coordinates for point data) is one metric space; its Vietoris–Rips H0 and H1
diagrams describe how the set clusters and loops. Generated and held-out sets of the same size,
seen through the same descriptor, should have close diagrams: the bottleneck and
1-Wasserstein distances between them are the proposals' topology-fidelity numbers.
:func:`path_topology` applies the same comparison, plus the landscape distance, at every step
of decoded latent interpolation paths (the "topological loss along interpolation paths").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from toposci._validation import check_batch
from toposci.topology.diagrams import Diagrams
from toposci.topology.distances import (
    bottleneck_distance,
    landscape_distance,
    wasserstein_distance,
)
from toposci.topology.rips import rips_diagrams

__all__ = ["diagram_distances", "path_topology", "set_diagrams", "smiles_diagram_distances"]


def set_diagrams(distances: Tensor, *, homology_dims: Sequence[int] = (0, 1)
                 ) -> dict[int, np.ndarray]:
    """Finite Rips diagrams of one set given its distance matrix.

    Args:
        distances: ``(N, N)`` symmetric, zero diagonal, ``N >= 2``.

    Returns:
        ``{dim: (M, 2) array}`` of finite bars (the essential H0 bar is dropped).
    """
    if distances.ndim != 2 or distances.shape[0] != distances.shape[1] or distances.shape[0] < 2:
        raise ValueError(f"distances must be an (N, N) matrix with N >= 2, got "
                         f"{tuple(distances.shape)}")
    dgms = rips_diagrams(distances.double(), homology_dims=tuple(homology_dims), distances=True)
    return {d: dg.drop_infinite().to_arrays()[0] for d, dg in dgms.items()}


def diagram_distances(a: Tensor, b: Tensor, *, homology_dims: Sequence[int] = (0, 1)
                      ) -> dict[str, float]:
    """Bottleneck and 1-Wasserstein distances between the diagrams of two sets.

    Args:
        a, b: distance matrices ``(N, N)`` and ``(M, M)`` of the two sets (same descriptor).

    Returns:
        ``{"bottleneck_H0": ..., "wasserstein_H0": ..., "bottleneck_H1": ..., ...}``.
    """
    da, db = set_diagrams(a, homology_dims=homology_dims), set_diagrams(
        b, homology_dims=homology_dims)
    return _compare(da, db, homology_dims)


def _compare(da: dict[int, np.ndarray], db: dict[int, np.ndarray], homology_dims: Sequence[int],
             *, landscapes: dict[str, int] | None = None) -> dict[str, float]:
    """Distances between two sets' diagrams ``{dim: (M, 2)}``: bottleneck, 1-Wasserstein and,
    given ``landscapes`` (``num_landscapes``, ``resolution``), the landscape L2 distance."""
    out = {}
    for d in homology_dims:
        pa, pb = (Diagrams.from_arrays([x[d]], dim=d, dtype=torch.float64) for x in (da, db))
        out[f"bottleneck_H{d}"] = float(bottleneck_distance(pa, pb)[0])
        out[f"wasserstein_H{d}"] = float(wasserstein_distance(pa, pb, order=1.0)[0])
        if landscapes is not None:
            out[f"landscape_H{d}"] = float(landscape_distance(pa, pb, **landscapes)[0])
    return out


def smiles_diagram_distances(generated: Sequence[str], reference: Sequence[str], *,
                             n: int = 1000, seed: int = 0,
                             homology_dims: Sequence[int] = (0, 1)) -> dict[str, float]:
    """:func:`diagram_distances` of two molecule sets through Morgan fingerprints (radius 2,
    2048 bits) and Tanimoto distance, on seeded subsamples of ``n`` molecules each.

    Both subsamples have the same size (the smaller set's, at most ``n``), since Rips diagrams
    of sets of different sizes differ for that reason alone.
    """
    from toposci.domains.fingerprints import tanimoto_distances

    size = min(n, len(generated), len(reference))
    if size < 3:
        raise ValueError(f"need at least 3 molecules in each set, got {len(generated)} "
                         f"generated and {len(reference)} reference")
    rng = np.random.default_rng(seed)
    picks = [[s[i] for i in np.sort(rng.choice(len(s), size, replace=False))]
             for s in (generated, reference)]
    a, b = (torch.as_tensor(tanimoto_distances(p), dtype=torch.float64) for p in picks)
    return {"n": size, **diagram_distances(a, b, homology_dims=homology_dims)}


def path_topology(reference: Tensor, paths: Tensor, *, homology_dims: Sequence[int] = (0, 1),
                  num_landscapes: int = 5, resolution: int = 100) -> dict[str, np.ndarray]:
    """Topological loss along interpolation paths: step ``t``'s decoded set against the data.

    The ``B`` paths decoded at step ``t`` (one point per pair,
    :attr:`~toposci.metrics.latent.InterpolationResult.views`) form a set; its Vietoris–Rips
    diagrams (Euclidean distances in the view space) are compared with those of a reference
    batch of data in the same space, e.g. ``model.io.data_view`` of ``B`` held-out samples. A
    model whose interpolations stay on the data manifold keeps the data's clusters (H0) and
    loops (H1) at every ``t``; one whose paths cut across holes fills them in, and the H1
    distance grows towards the middle of the paths. Per step and homology dimension: the
    bottleneck and 1-Wasserstein distances of :func:`diagram_distances`, and the landscape L2
    distance (:func:`~toposci.topology.distances.landscape_distance` on a grid fitted to both
    diagrams), the proposal's ``||Λ(x) - Λ(x̂)||`` loss.

    Args:
        reference: ``(N, F)`` data views, ``N >= 2`` (use ``N = B``: Rips diagrams of sets of
            different sizes differ for that reason alone).
        paths: ``(B, T, F)`` decoded paths, ``B >= 2``.
        homology_dims: the dimensions compared.
        num_landscapes, resolution: of the landscape distance.

    Returns:
        ``{"bottleneck_H0": (T,), "wasserstein_H0": (T,), "landscape_H0": (T,), ...}``.
    """
    for name, x, dims in (("reference", reference, "(N, F)"), ("paths", paths, "(B, T, F)")):
        if not isinstance(x, Tensor) or x.ndim != len(dims.split(",")) or x.shape[0] < 2:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{name} must have shape {dims} with at least 2 rows, got {got}")
    reference = check_batch(reference, "reference", ranks=(2,), dims_named="(N, F)").double()
    paths = check_batch(paths, "paths", ranks=(3,), dims_named="(B, T, F)").double()
    if paths.shape[2] != reference.shape[1]:
        raise ValueError(f"paths have {paths.shape[2]} features, reference "
                         f"{reference.shape[1]}")
    ref_diagrams = set_diagrams(torch.cdist(reference, reference), homology_dims=homology_dims)
    grid = {"num_landscapes": num_landscapes, "resolution": resolution}
    out: dict[str, list[float]] = {}
    for t in range(paths.shape[1]):
        step = paths[:, t]  # (B, F)
        step_diagrams = set_diagrams(torch.cdist(step, step), homology_dims=homology_dims)
        for name, value in _compare(ref_diagrams, step_diagrams, homology_dims,
                                    landscapes=grid).items():
            out.setdefault(name, []).append(value)
    return {name: np.asarray(values) for name, values in out.items()}
