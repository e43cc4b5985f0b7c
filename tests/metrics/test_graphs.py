"""Graph-statistics MMD: kernels against POT's exact optimal transport, histograms against
networkx / numpy, and whole MMDs against a brute-force GraphRNN-style loop."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import ot
import pytest
import torch
from torch_geometric.data import Data

from toposci.metrics.graphs import (
    clustering_histograms,
    clustering_mmd,
    degree_histograms,
    degree_mmd,
    gaussian_emd_kernel,
    gaussian_tv_kernel,
    histogram_mmd,
)


def _data(graph: nx.Graph) -> Data:
    edges = [(a, b) for a, b in graph.edges()] + [(b, a) for a, b in graph.edges()]
    edge_index = torch.tensor(edges, dtype=torch.long).t().reshape(2, -1)
    return Data(edge_index=edge_index, num_nodes=graph.number_of_nodes())


def _random_graphs(n: int, seed: int) -> list[nx.Graph]:
    rng = np.random.default_rng(seed)
    return [nx.gnp_random_graph(int(rng.integers(5, 15)), float(rng.uniform(0.2, 0.7)),
                                seed=int(rng.integers(1 << 30))) for _ in range(n)]


def _pot_emd(p: np.ndarray, q: np.ndarray, bin_width: float) -> float:
    """Exact 1-D EMD by linear programming (POT), histograms padded and normalised."""
    S = max(len(p), len(q))
    p = np.pad(p, (0, S - len(p))) / p.sum()
    q = np.pad(q, (0, S - len(q))) / q.sum()
    cost = np.abs(np.arange(S)[:, None] - np.arange(S)[None, :]) * bin_width
    return float(ot.emd2(p, q, cost))


def _brute_mmd(a: list[np.ndarray], b: list[np.ndarray], sigma: float, bin_width: float) -> float:
    """GraphRNN's compute_mmd with gaussian_emd, written as plain loops over POT's EMD."""
    def disc(x: list[np.ndarray], y: list[np.ndarray]) -> float:
        return sum(math.exp(-_pot_emd(s, t, bin_width) ** 2 / (2 * sigma**2))
                   for s in x for t in y) / (len(x) * len(y))
    return disc(a, a) + disc(b, b) - 2 * disc(a, b)


def test_emd_kernel_matches_exact_optimal_transport(rng: np.random.Generator) -> None:
    p = rng.integers(0, 5, size=(3, 5)).astype(float) + 0.5
    q = rng.integers(0, 5, size=(4, 7)).astype(float) + 0.5
    got = gaussian_emd_kernel(torch.tensor(p), torch.tensor(q), sigma=0.7, bin_width=0.25)
    expected = [[math.exp(-_pot_emd(a, b, 0.25) ** 2 / (2 * 0.7**2)) for b in q] for a in p]
    assert got.shape == (3, 4)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-10)


def test_kernels_on_hand_computed_histograms() -> None:
    p, q = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 3.0]])  # all mass one bin apart
    assert float(gaussian_emd_kernel(p, q)) == pytest.approx(math.exp(-0.5))
    assert float(gaussian_emd_kernel(p, q, bin_width=2.0)) == pytest.approx(math.exp(-2.0))
    assert float(gaussian_tv_kernel(p, q, sigma=0.5)) == pytest.approx(math.exp(-2.0))
    # [0.5, 0.5] vs [1, 0]: EMD 0.5, TV 0.5
    r = torch.tensor([[2.0, 2.0]])
    assert float(gaussian_emd_kernel(r, p)) == pytest.approx(math.exp(-0.125))
    assert float(gaussian_tv_kernel(r, p)) == pytest.approx(math.exp(-0.125))


def test_histogram_mmd_hand_values() -> None:
    p, q = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    assert histogram_mmd(p, q) == pytest.approx(2 - 2 * math.exp(-0.5))
    assert histogram_mmd(p, q, kernel="tv", sigma=0.5) == pytest.approx(2 - 2 * math.exp(-2))
    same = torch.tensor([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])
    assert abs(histogram_mmd(same, same.clone())) < 1e-12
    # padding with empty bins does not change anything
    padded = torch.nn.functional.pad(same, (0, 4))
    assert abs(histogram_mmd(same, padded)) < 1e-12


def test_histograms_match_networkx_and_numpy() -> None:
    graphs = _random_graphs(6, seed=1)
    degrees = degree_histograms([_data(g) for g in graphs])
    clustering = clustering_histograms([_data(g) for g in graphs], bins=10)
    for i, g in enumerate(graphs):
        expected = nx.degree_histogram(g)
        np.testing.assert_array_equal(degrees[i, : len(expected)].numpy(), expected)
        assert float(degrees[i, len(expected):].sum()) == 0
        hist, _ = np.histogram(list(nx.clustering(g).values()), bins=10, range=(0.0, 1.0))
        np.testing.assert_array_equal(clustering[i].numpy(), hist)


def test_graph_mmds_match_brute_force_graphrnn_loop() -> None:
    ref, gen = _random_graphs(5, seed=2), _random_graphs(4, seed=3)
    deg = [[np.array(nx.degree_histogram(g), dtype=float) for g in gs] for gs in (ref, gen)]
    expected = _brute_mmd(deg[0], deg[1], sigma=1.0, bin_width=1.0)
    got = degree_mmd([_data(g) for g in ref], [_data(g) for g in gen])
    assert got == pytest.approx(expected, abs=1e-10)

    clus = [[np.histogram(list(nx.clustering(g).values()), bins=100, range=(0.0, 1.0))[0]
             .astype(float) for g in gs] for gs in (ref, gen)]
    expected = _brute_mmd(clus[0], clus[1], sigma=0.1, bin_width=0.01)
    got = clustering_mmd([_data(g) for g in ref], [_data(g) for g in gen])
    assert got == pytest.approx(expected, abs=1e-10)


def test_mmd_separates_cycles_from_stars() -> None:
    cycles = [_data(nx.cycle_graph(n)) for n in (6, 7, 8)]
    stars = [_data(nx.star_graph(n)) for n in (5, 6, 7)]
    assert abs(degree_mmd(cycles, cycles)) < 1e-12
    assert degree_mmd(cycles, stars) > 0.1
    # every clustering coefficient is 0 in both: same clustering distribution
    assert abs(clustering_mmd(cycles, stars)) < 1e-12
    # all mass in bin 0 vs all in bin 99 (coefficient 1): EMD = 0.99
    triangles = [_data(nx.complete_graph(3))]
    expected = 2 - 2 * math.exp(-(0.99**2) / (2 * 0.1**2))
    assert clustering_mmd(cycles, triangles) == pytest.approx(expected)


def test_bad_input_raises() -> None:
    ok = [_data(nx.path_graph(3))]
    with pytest.raises(ValueError, match="empty"):
        degree_mmd([], ok)
    with pytest.raises(ValueError, match="no node"):
        degree_mmd(ok, [Data(edge_index=torch.zeros(2, 0, dtype=torch.long), num_nodes=0)])
    with pytest.raises(ValueError, match="unknown kernel"):
        degree_mmd(ok, ok, kernel="rbf")
    with pytest.raises(ValueError, match="sigma"):
        histogram_mmd(torch.ones(1, 2), torch.ones(1, 2), sigma=0.0)
    with pytest.raises(ValueError, match="negative"):
        histogram_mmd(torch.tensor([[1.0, -1.0]]), torch.ones(1, 2))
    with pytest.raises(ValueError, match="sums to 0"):
        histogram_mmd(torch.zeros(1, 2), torch.ones(1, 2))
    with pytest.raises(ValueError, match="NaN"):
        histogram_mmd(torch.tensor([[float("nan"), 1.0]]), torch.ones(1, 2))
    with pytest.raises(ValueError, match=r"\(n, S\)"):
        histogram_mmd(torch.ones(3), torch.ones(1, 3))
    with pytest.raises(ValueError, match="bins"):
        clustering_histograms(ok, bins=0)
