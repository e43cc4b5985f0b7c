"""Topology fidelity: set diagrams and their distances, checked against GUDHI by hand."""

from __future__ import annotations

import gudhi
import numpy as np
import pytest
import torch

from toposci.domains.fingerprints import tanimoto_distances
from toposci.metrics.topology import (
    diagram_distances,
    path_topology,
    set_diagrams,
    smiles_diagram_distances,
)


def _square(side: float) -> torch.Tensor:
    pts = torch.tensor([[0.0, 0.0], [side, 0.0], [side, side], [0.0, side]], dtype=torch.float64)
    return torch.cdist(pts, pts)


def test_set_diagrams_of_a_square() -> None:
    dgms = set_diagrams(_square(1.0))
    # three finite H0 bars die at the side length; one H1 bar from side to diagonal
    assert np.allclose(np.sort(dgms[0][:, 1]), [1.0, 1.0, 1.0])
    assert np.allclose(dgms[1], [[1.0, np.sqrt(2.0)]])


def test_distances_between_two_squares_by_hand() -> None:
    out = diagram_distances(_square(1.0), _square(2.0))
    # H1: (1, 1.414) vs (2, 2.828): matched at L-inf distance 1.414, or both to the diagonal
    # at half-lives 0.207 and 0.414 -> 0.414 = sqrt(2) - 1
    assert out["bottleneck_H1"] == pytest.approx(np.sqrt(2) - 1, abs=1e-9)
    a = gudhi.bottleneck_distance(np.array([[1.0, np.sqrt(2)]]), np.array([[2.0, 2 * np.sqrt(2)]]))
    assert out["bottleneck_H1"] == pytest.approx(a, abs=1e-9)
    # H0: three bars (0, 1) vs three bars (0, 2): each matched pair differs by 1
    assert out["bottleneck_H0"] == pytest.approx(1.0, abs=1e-9)
    assert out["wasserstein_H0"] == pytest.approx(3.0, abs=1e-9)


def test_identical_sets_are_at_distance_zero() -> None:
    smiles = ["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCCC", "OCCO", "CC#N", "C1CC1"]
    out = smiles_diagram_distances(smiles, list(reversed(smiles)), n=8)
    assert out["n"] == 8
    assert all(v == pytest.approx(0.0, abs=1e-12) for k, v in out.items() if k != "n")


def test_molecule_sets_match_gudhi_on_tanimoto_distances() -> None:
    gen = ["CCO", "CCN", "CCC", "CCCl", "CC=O", "C=CC"]
    ref = ["c1ccccc1", "c1ccncc1", "C1CCCCC1", "OC1CCCC1", "CC(C)C", "CCOC"]
    out = smiles_diagram_distances(gen, ref, n=6)
    dg = []
    for s in (gen, ref):
        d = tanimoto_distances(s)
        st = gudhi.RipsComplex(distance_matrix=d).create_simplex_tree(max_dimension=2)
        st.compute_persistence()
        dg.append(st.persistence_intervals_in_dimension(0))
    finite = [x[np.isfinite(x[:, 1])] for x in dg]
    assert out["bottleneck_H0"] == pytest.approx(gudhi.bottleneck_distance(*finite), abs=1e-9)


def test_errors() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        smiles_diagram_distances(["C", "CC"], ["CCC", "CCCC", "CO"])
    with pytest.raises(ValueError, match=r"\(N, N\)"):
        set_diagrams(torch.zeros(3, 2))


# ----------------------------------------------------------------- along interpolation paths


def _landscape_norm(diagram: np.ndarray) -> float:
    """L2 norm of GUDHI's own landscape vector of one diagram (5 levels, 100 samples, the
    range fitted on the diagram)."""
    from gudhi.representations import Landscape

    vec = Landscape(num_landscapes=5, resolution=100)
    return float(np.linalg.norm(vec.fit_transform([diagram])))


def test_path_topology_of_paths_through_the_centre_of_a_square() -> None:
    corners = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    # four paths from each corner to the opposite one: all meet in the centre at t = 1/2
    t = torch.linspace(0.0, 1.0, 3, dtype=torch.float64).view(1, -1, 1)  # (1, T, 1)
    paths = (1 - t) * corners.unsqueeze(1) + t * corners[[2, 3, 0, 1]].unsqueeze(1)  # (4, 3, 2)
    out = path_topology(corners, paths)
    assert set(out) == {f"{k}_H{d}" for k in ("bottleneck", "wasserstein", "landscape")
                        for d in (0, 1)}
    for values in out.values():
        assert values.shape == (3,)
        assert values[0] == pytest.approx(0.0, abs=1e-12)  # the square itself
        assert values[2] == pytest.approx(0.0, abs=1e-12)  # the square, corners permuted
    # centre: 4 coincident points, H0 bars (0, 0), no H1. The square: H0 3 x (0, 1), H1 (1, √2)
    loop = (np.sqrt(2) - 1) / 2  # the H1 bar's L-inf distance to the diagonal
    assert out["bottleneck_H1"][1] == pytest.approx(loop, abs=1e-9)
    assert out["wasserstein_H1"][1] == pytest.approx(loop, abs=1e-9)
    assert out["bottleneck_H0"][1] == pytest.approx(0.5, abs=1e-9)
    assert out["wasserstein_H0"][1] == pytest.approx(1.5, abs=1e-9)
    square_h0, square_h1 = np.array([[0.0, 1.0]] * 3), np.array([[1.0, np.sqrt(2)]])
    # the centre's landscapes are 0, and its diagrams add nothing to the fitted grid
    assert out["landscape_H0"][1] == pytest.approx(_landscape_norm(square_h0), rel=1e-6)
    assert out["landscape_H1"][1] == pytest.approx(_landscape_norm(square_h1), rel=1e-6)
    assert gudhi.bottleneck_distance(square_h1, np.zeros((0, 2))) == pytest.approx(loop)


def test_path_topology_errors() -> None:
    ref = torch.rand(5, 3)
    with pytest.raises(ValueError, match="features"):
        path_topology(ref, torch.rand(5, 4, 2))
    with pytest.raises(ValueError, match=r"\(B, T, F\)"):
        path_topology(ref, torch.rand(5, 3))
    with pytest.raises(ValueError, match="NaN"):
        path_topology(ref, torch.full((5, 2, 3), float("nan")))
