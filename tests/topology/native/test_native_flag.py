from __future__ import annotations

import gudhi
import numpy as np
import pytest

from toposci.topology.native.flag import flag_pairs_native


def _gudhi_pairs(n: int, edges: np.ndarray, fv: np.ndarray, fe: np.ndarray,
                 max_dim: int) -> dict[int, np.ndarray]:
    """GUDHI's pairs as rows (birth simplex, death simplex), -1 padded, vertices as GUDHI lists."""
    tree = gudhi.SimplexTree()
    tree.insert_batch(np.arange(n)[None], fv)
    if len(edges):
        tree.insert_batch(edges.T, fe)
    if max_dim >= 2:
        tree.expansion(2)
    tree.compute_persistence(persistence_dim_max=True)
    rows: dict[int, list[list[int]]] = {0: [], 1: []}
    for birth, death in tree.persistence_pairs():
        d = len(birth) - 1
        if d <= 1:
            rows[d].append(birth + (death or [-1] * (d + 2)))
    return {d: np.array(r, dtype=np.int64).reshape(-1, 2 * d + 3) for d, r in rows.items()}


def _native_rows(pairs: dict, d: int) -> np.ndarray:
    births, deaths, _ = pairs[d]
    return np.concatenate([births, deaths], axis=1)


def _assert_same(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Finite pairs equal row for row (GUDHI's order); essential classes equal as sets."""
    finite_o, finite_t = ours[ours[:, -1] >= 0], theirs[theirs[:, -1] >= 0]
    np.testing.assert_array_equal(finite_o, finite_t)
    ess_o, ess_t = ours[ours[:, -1] < 0], theirs[theirs[:, -1] < 0]
    np.testing.assert_array_equal(np.unique(ess_o, axis=0), np.unique(ess_t, axis=0))
    assert len(ess_o) == len(ess_t)


def _random_graph(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    upper = np.triu(rng.random((n, n)) < p, k=1)  # (n, n)
    return np.stack(np.nonzero(upper), axis=1).astype(np.int64)  # (E, 2), sorted


@pytest.mark.parametrize("kind", ["lower-star ties", "edge weights ties", "lower-star real"])
@pytest.mark.parametrize("max_dim", [1, 2])
def test_pairs_equal_gudhi_on_random_graphs(rng, kind, max_dim) -> None:
    for _ in range(150):
        n = int(rng.integers(1, 16))
        edges = _random_graph(rng, n, float(rng.random()))
        if kind == "lower-star ties":  # integer node values: many equal filtration values
            fv = rng.integers(0, 3, n).astype(np.float64)
            fe = fv[edges].max(axis=1) if len(edges) else np.zeros(0)
        elif kind == "edge weights ties":  # clique filtration: vertices at 0, integer weights
            fv = np.zeros(n)
            fe = rng.integers(0, 4, len(edges)).astype(np.float64)
        else:
            fv = rng.random(n)
            fe = (fv[edges].max(axis=1) if len(edges) else np.zeros(0)) + rng.random(len(edges))
        ours = flag_pairs_native(np.array([0, n]), edges, np.array([0, len(edges)]), fv, fe,
                                 max_dim=max_dim)
        theirs = _gudhi_pairs(n, edges, fv, fe, max_dim)
        for d in (0, 1):
            _assert_same(_native_rows(ours, d), theirs[d])


def test_dense_graphs_equal_gudhi(rng) -> None:
    # dense graphs: many triangles, so the H1 reduction adds columns
    for _ in range(20):
        n = int(rng.integers(15, 40))
        edges = _random_graph(rng, n, 0.6)
        fv = rng.integers(0, 6, n).astype(np.float64)
        fe = fv[edges].max(axis=1)
        ours = flag_pairs_native(np.array([0, n]), edges, np.array([0, len(edges)]), fv, fe)
        theirs = _gudhi_pairs(n, edges, fv, fe, 2)
        for d in (0, 1):
            _assert_same(_native_rows(ours, d), theirs[d])


def test_batch_equals_graph_by_graph(rng) -> None:
    graphs = [_random_graph(rng, n, 0.5) for n in (5, 1, 9, 4, 12)]
    sizes = [5, 1, 9, 4, 12]
    ptr = np.concatenate([[0], np.cumsum(sizes)])
    edges = np.concatenate([g + ptr[i] for i, g in enumerate(graphs)])
    edge_ptr = np.concatenate([[0], np.cumsum([len(g) for g in graphs])])
    fv = rng.integers(0, 3, ptr[-1]).astype(np.float64)
    fe = fv[edges].max(axis=1)
    batch = flag_pairs_native(ptr, edges, edge_ptr, fv, fe)
    for d in (0, 1):
        rows = np.split(_native_rows(batch, d), np.cumsum(batch[d][2])[:-1])
        for g, e in enumerate(graphs):
            lo, hi = ptr[g], ptr[g + 1]
            one = flag_pairs_native(np.array([0, sizes[g]]), e, np.array([0, len(e)]),
                                    fv[lo:hi], fv[lo:hi][e].max(axis=1) if len(e) else fe[:0])
            expected = _native_rows(one, d)
            np.testing.assert_array_equal(rows[g], np.where(expected >= 0, expected + lo, -1))


def test_k4_hand_worked() -> None:
    # K4 with unit edges: three edges merge the four vertices (births 0, deaths 1), the other
    # three edges close loops at 1 that triangles at 1 fill at once: no H1 points at all.
    edges = np.array([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]])
    ours = flag_pairs_native(np.array([0, 4]), edges, np.array([0, 6]), np.zeros(4),
                             np.ones(6))
    _, deaths, counts = ours[0]
    np.testing.assert_array_equal(counts, [4])
    assert (deaths[:, 0] >= 0).sum() == 3 and (deaths[:, 0] < 0).sum() == 1
    assert ours[1][0].shape == (0, 2)
    # without triangles the three loops never die
    graph_only = flag_pairs_native(np.array([0, 4]), edges, np.array([0, 6]), np.zeros(4),
                                   np.ones(6), max_dim=1)
    assert len(graph_only[1][0]) == 3 and (graph_only[1][1] == -1).all()


def test_isolated_vertices_and_no_edges() -> None:
    ours = flag_pairs_native(np.array([0, 3]), np.zeros((0, 2), np.int64), np.array([0, 0]),
                             np.array([2.0, 0.0, 1.0]), np.zeros(0))
    births, deaths, counts = ours[0]
    # three essential components, listed by birth: vertex 1 (0), vertex 2 (1), vertex 0 (2)
    np.testing.assert_array_equal(births[:, 0], [1, 2, 0])
    assert (deaths == -1).all() and counts.tolist() == [3]
    assert ours[1][2].tolist() == [0]


@pytest.mark.parametrize("bad, match", [
    (dict(fv=np.array([np.nan, 0.0])), "finite"),
    (dict(fe=np.array([-1.0])), "at least"),
    (dict(edges=np.array([[1, 0]])), "a < b"),
    (dict(fe=np.zeros(2)), "shape"),
])
def test_bad_input_raises(bad, match) -> None:
    args = dict(ptr=np.array([0, 2]), edges=np.array([[0, 1]]), edge_ptr=np.array([0, 1]),
                fv=np.zeros(2), fe=np.zeros(1))
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        flag_pairs_native(args["ptr"], args["edges"], args["edge_ptr"], args["fv"], args["fe"])
