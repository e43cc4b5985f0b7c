from __future__ import annotations

import math

import gudhi
import numpy as np
import pytest

from toposci.topology.native import rips_pairs_native, rips_pairs_native_batch, warmup


@pytest.fixture(scope="module", autouse=True)
def _compiled() -> None:
    warmup()


def _distances(x: np.ndarray) -> np.ndarray:
    return np.linalg.norm(x[:, None] - x[None], axis=-1)


def _sorted_rows(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64).reshape(-1, 2)
    return a[np.lexsort((a[:, 1], a[:, 0]))]


def _gudhi_diagram(dist: np.ndarray, dim: int, max_edge_length: float = math.inf) -> np.ndarray:
    """GUDHI's Rips diagram over Z/2 (as Ripser; GUDHI's default field Z/11 can pair bars
    differently when the flag complex has 2-torsion, which sparse graphs do have), with the top
    dimension computed too (else H1 is skipped when no triangle is below the threshold)."""
    rips = gudhi.RipsComplex(distance_matrix=dist, max_edge_length=max_edge_length)
    st = rips.create_simplex_tree(max_dimension=2)
    st.compute_persistence(homology_coeff_field=2, persistence_dim_max=True)
    return _sorted_rows(st.persistence_intervals_in_dimension(dim))


def _values(dist: np.ndarray, births: np.ndarray, deaths: np.ndarray) -> np.ndarray:
    """Sorted (birth, death) values read at the generating edges; (-1, -1) is an inf death."""
    assert births.dtype == np.int64 and deaths.dtype == np.int64
    assert births.shape == deaths.shape == (len(births), 2)
    b = dist[births[:, 0], births[:, 1]]
    finite = deaths[:, 0] >= 0
    d = np.full(len(deaths), np.inf)
    d[finite] = dist[deaths[finite, 0], deaths[finite, 1]]
    assert (deaths[~finite] == -1).all()
    return _sorted_rows(np.stack([b, d], 1))


def _assert_matches_gudhi(dist: np.ndarray, pairs: dict, max_edge_length: float = math.inf):
    for dim, (births, deaths) in pairs.items():
        ours = _values(dist, births, deaths)
        ref = _gudhi_diagram(dist, dim, max_edge_length)
        assert ours.shape == ref.shape, (dim, ours, ref)
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)
        assert (ours[:, 1] > ours[:, 0]).all()  # no zero-persistence bars


def _giotto_edges(dist: np.ndarray) -> np.ndarray:
    gph = pytest.importorskip("gph")
    res = gph.ripser_parallel(dist, metric="precomputed", maxdim=1, n_threads=1,
                              return_generators=True)
    finite = np.asarray(res["gens"][1][0], dtype=np.int64).reshape(-1, 2, 2)  # (m, edge, vertex)
    essential = np.asarray(res["gens"][3][0], dtype=np.int64).reshape(-1, 1, 2)
    essential = np.concatenate([essential, np.full_like(essential, -1)], axis=1)
    rows = np.sort(np.concatenate([finite, essential]), axis=2).reshape(-1, 4)  # (m, 4)
    return rows[np.lexsort(rows.T[::-1])]


def _our_edges(births: np.ndarray, deaths: np.ndarray) -> np.ndarray:
    rows = np.concatenate([births, deaths], axis=1)  # (m, 4)
    return rows[np.lexsort(rows.T[::-1])]


# ---------------------------------------------------------------------------------- random clouds
def test_random_clouds_match_gudhi_and_giotto_generators(rng):
    for _ in range(50):
        n, dims = int(rng.integers(10, 61)), int(rng.integers(2, 17))
        dist = _distances(rng.normal(size=(n, dims)))
        pairs = rips_pairs_native(dist, 1, math.inf, with_h0=True)
        _assert_matches_gudhi(dist, pairs)
        # Without ties the generating edges are unique: exactly giotto-ph's (one thread).
        np.testing.assert_array_equal(_our_edges(*pairs[1]), _giotto_edges(dist))


def test_default_returns_h1_only_with_edges_ordered(rng):
    dist = _distances(rng.normal(size=(30, 3)))
    pairs = rips_pairs_native(dist, 1, math.inf)
    assert set(pairs) == {1}
    births, deaths = pairs[1]
    assert (births[:, 0] < births[:, 1]).all() and (deaths[:, 0] < deaths[:, 1]).all()


def test_batch_matches_gudhi_on_every_cloud(rng):
    dist = np.stack([_distances(rng.normal(size=(40, 4))) for _ in range(6)])  # (6, 40, 40)
    for n_threads in (None, 1, 2):
        out = rips_pairs_native_batch(dist, 1, math.inf, with_h0=True, n_threads=n_threads)
        assert len(out) == 6
        for d, pairs in zip(dist, out):
            _assert_matches_gudhi(d, pairs)


# ---------------------------------------------------------------------------------- known answers
def test_square_has_one_loop_killed_by_the_diagonal():
    square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    births, deaths = rips_pairs_native(_distances(square), 1, math.inf)[1]
    # The loop is born when the last side (length 1) enters, dies with a diagonal (sqrt 2).
    np.testing.assert_array_equal(_values(_distances(square), births, deaths),
                                  [[1.0, math.sqrt(2.0)]])
    assert tuple(deaths[0]) in {(0, 2), (1, 3)}


def test_regular_polygon_with_ties():
    k = 12
    angles = 2 * np.pi * np.arange(k) / k
    dist = _distances(np.stack([np.cos(angles), np.sin(angles)], 1))
    pairs = rips_pairs_native(dist, 1, math.inf, with_h0=True)
    _assert_matches_gudhi(dist, pairs)
    # One loop, born at the side length 2 sin(pi / k).
    births = pairs[1][0]
    assert len(births) == 1
    np.testing.assert_allclose(dist[tuple(births[0])], 2 * np.sin(np.pi / k), rtol=1e-12)


def test_integer_lattice_with_ties():
    grid = np.stack(np.meshgrid(np.arange(4), np.arange(4), np.arange(2), indexing="ij"), -1)
    dist = _distances(grid.reshape(-1, 3).astype(np.float64))  # (32, 32), many equal lengths
    _assert_matches_gudhi(dist, rips_pairs_native(dist, 1, math.inf, with_h0=True))


def test_duplicated_points(rng):
    x = rng.normal(size=(15, 3))
    dist = _distances(np.concatenate([x, x[:5]]))
    _assert_matches_gudhi(dist, rips_pairs_native(dist, 1, math.inf, with_h0=True))


@pytest.mark.parametrize("n", [1, 2, 5])
def test_degenerate_clouds(n):
    same = np.zeros((n, n))  # every point at the same place
    pairs = rips_pairs_native(same, 1, math.inf, with_h0=True)
    assert len(pairs[1][0]) == 0
    np.testing.assert_array_equal(pairs[0][0], [[0, 0]])  # one essential class, born at 0
    np.testing.assert_array_equal(pairs[0][1], [[-1, -1]])
    two = np.array([[0.0, 2.0], [2.0, 0.0]])
    _assert_matches_gudhi(two, rips_pairs_native(two, 1, math.inf, with_h0=True))


# ---------------------------------------------------------------------------------- missing edges
def test_missing_edges_leave_a_loop_alive():
    # A 4-cycle whose diagonals are missing: the loop never fills.
    dist = np.array([[0, 1, np.inf, 1], [1, 0, 1, np.inf],
                     [np.inf, 1, 0, 1.5], [1, np.inf, 1.5, 0]])
    pairs = rips_pairs_native(dist, 1, math.inf, with_h0=True)
    _assert_matches_gudhi(dist, pairs)
    births, deaths = pairs[1]
    np.testing.assert_array_equal(births, [[2, 3]])
    np.testing.assert_array_equal(deaths, [[-1, -1]])


def test_disconnected_graph_has_one_essential_class_per_component(rng):
    a, b = rng.normal(size=(12, 2)), rng.normal(size=(9, 2)) + 10
    dist = np.full((21, 21), np.inf)
    dist[:12, :12] = _distances(a)
    dist[12:, 12:] = _distances(b)
    pairs = rips_pairs_native(dist, 1, math.inf, with_h0=True)
    _assert_matches_gudhi(dist, pairs)
    births, deaths = pairs[0]
    essential = births[deaths[:, 0] < 0, 0]
    np.testing.assert_array_equal(np.sort(essential), [0, 12])  # each component's first vertex


def test_knn_graph_is_the_flag_complex_of_the_graph(rng):
    x = rng.normal(size=(40, 3))
    full = _distances(x)
    k = 6
    nearest = np.argsort(full, axis=1)[:, 1: k + 1]  # (40, k)
    keep = np.zeros_like(full, dtype=bool)
    keep[np.repeat(np.arange(40), k), nearest.ravel()] = True
    keep |= keep.T
    np.fill_diagonal(keep, True)
    dist = np.where(keep, full, np.inf)
    _assert_matches_gudhi(dist, rips_pairs_native(dist, 1, math.inf, with_h0=True))


def test_sparse_random_graphs_match_gudhi(rng):
    # Random weights with most edges missing: many essential classes and long reductions.
    for trial in range(40):
        n = int(rng.integers(5, 40))
        dist = np.triu(rng.random((n, n)), 1)
        dist[np.triu(rng.random((n, n)) < 0.6, 1)] = np.inf
        dist = dist + dist.T
        threshold = math.inf if trial % 2 else float(np.quantile(dist[np.isfinite(dist)], 0.7))
        _assert_matches_gudhi(dist, rips_pairs_native(dist, 1, threshold, with_h0=True),
                              threshold)


@pytest.mark.parametrize("quantile", [0.1, 0.3, 0.6])
def test_max_edge_length_matches_gudhi(rng, quantile):
    for _ in range(4):
        dist = _distances(rng.normal(size=(35, 3)))
        threshold = float(np.quantile(dist[np.triu_indices(35, 1)], quantile))
        pairs = rips_pairs_native(dist, 1, threshold, with_h0=True)
        _assert_matches_gudhi(dist, pairs, threshold)


# ---------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("dist", "match"), [
    (np.array([[0.0, np.nan], [np.nan, 0.0]]), "NaN"),
    (np.array([[0.0, -1.0], [-1.0, 0.0]]), "negative"),
    (np.array([[0.0, 1.0], [2.0, 0.0]]), "not symmetric"),
    (np.array([[1.0, 1.0], [1.0, 0.0]]), "diagonal"),
    (np.zeros((2, 3)), "shape"),
    (np.zeros((0, 0)), "empty"),
    (np.zeros((2, 2), dtype=np.int64), "floating"),
    ([[0.0, 1.0], [1.0, 0.0]], "numpy array"),
])
def test_bad_distances_raise(dist, match):
    with pytest.raises(ValueError, match=match):
        rips_pairs_native(dist, 1, math.inf)


def test_bad_options_raise():
    dist = np.zeros((3, 3))
    with pytest.raises(ValueError, match="max_dim"):
        rips_pairs_native(dist, 2, math.inf)
    with pytest.raises(ValueError, match="max_edge_length"):
        rips_pairs_native(dist, 1, math.nan)
    with pytest.raises(ValueError, match="max_edge_length"):
        rips_pairs_native(dist, 1, -1.0)
    with pytest.raises(ValueError, match="shape"):
        rips_pairs_native_batch(dist, 1, math.inf)
    with pytest.raises(ValueError, match="n_threads"):
        rips_pairs_native_batch(dist[None], 1, math.inf, n_threads=0)
    bad = np.zeros((2, 3, 3))
    bad[1, 0, 1] = 1.0
    with pytest.raises(ValueError, match=r"not symmetric \(at \[1, 1, 0\]\)"):
        rips_pairs_native_batch(bad, 1, math.inf)
