"""Topology fidelity of generated sets: diagrams of the set itself, compared across sets.

A set of samples seen through a descriptor (Morgan fingerprints with Tanimoto distance for
molecules, coordinates for point data) is one metric space; its Vietoris–Rips H0 and H1
diagrams describe how the set clusters and loops. Generated and held-out sets of the same size,
seen through the same descriptor, should have close diagrams: the bottleneck and
1-Wasserstein distances between them are the proposals' topology-fidelity numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from toposci.topology.distances import bottleneck_distance, wasserstein_distance
from toposci.topology.rips import rips_diagrams

__all__ = ["diagram_distances", "set_diagrams", "smiles_diagram_distances"]


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
    from toposci.topology.diagrams import Diagrams

    da, db = set_diagrams(a, homology_dims=homology_dims), set_diagrams(
        b, homology_dims=homology_dims)
    out = {}
    for d in homology_dims:
        pa, pb = (Diagrams.from_arrays([x[d]], dim=d, dtype=torch.float64) for x in (da, db))
        out[f"bottleneck_H{d}"] = float(bottleneck_distance(pa, pb)[0])
        out[f"wasserstein_H{d}"] = float(wasserstein_distance(pa, pb, order=1.0)[0])
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
