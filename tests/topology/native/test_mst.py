"""The numba Prim and the torch Prim take the same steps, ties and padding included."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from toposci.testing import assert_diagrams_close, gudhi_rips_diagram
from toposci.topology.native.mst import mst_pairs_native
from toposci.topology.rips import _torch_prim, rips_diagrams


def _both(weights: torch.Tensor, valid: torch.Tensor):
    born, killers = mst_pairs_native(weights.double().numpy(), valid.numpy())
    t_born, t_killers = _torch_prim(weights.double(), valid)
    return (born, killers), (t_born.numpy(), t_killers.numpy())


@pytest.mark.parametrize("kind", ["random", "integer_grid", "padded", "disconnected"])
def test_same_steps_as_the_torch_prim(kind: str, rng: np.random.Generator) -> None:
    B, N = 6, 15
    if kind == "integer_grid":  # many equal distances
        pts = torch.from_numpy(rng.integers(0, 3, size=(B, N, 2))).double()
    else:
        pts = torch.from_numpy(rng.normal(size=(B, N, 3)))
    weights = torch.cdist(pts, pts)
    valid = torch.ones(B, N, dtype=torch.bool)
    if kind == "padded":
        valid[:, 10:] = False
        valid[0, 3:] = False
    if kind == "disconnected":
        weights[:, :5, 5:] = torch.inf
        weights[:, 5:, :5] = torch.inf
    (born, killers), (t_born, t_killers) = _both(weights, valid)
    n_valid = valid.sum(1)
    for b in range(B):
        k = int(n_valid[b])
        assert np.array_equal(born[b, :k], t_born[b, :k])
        assert np.array_equal(killers[b, :k], t_killers[b, :k])
    if kind == "disconnected":  # two components: two steps start one
        assert ((killers[:, :, 0] == -1).sum(1) == 2).all()


def test_h0_of_rips_still_equals_gudhi(rng: np.random.Generator) -> None:
    pts = rng.normal(size=(40, 3))
    dgm = rips_diagrams(torch.from_numpy(pts), homology_dims=(0,))[0]
    assert_diagrams_close(dgm.drop_infinite(), [gudhi_rips_diagram(pts, 0)[:-1]], atol=1e-9)
