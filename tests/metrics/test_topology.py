"""Topology fidelity: set diagrams and their distances, checked against GUDHI by hand."""

from __future__ import annotations

import gudhi
import numpy as np
import pytest
import torch

from toposci.domains.fingerprints import tanimoto_distances
from toposci.metrics.topology import diagram_distances, set_diagrams, smiles_diagram_distances


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
