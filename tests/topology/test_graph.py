from __future__ import annotations

import gudhi
import networkx as nx
import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data

from toposci.topology.graph import clique_diagrams, lower_star_diagrams

INF = np.inf


def _sorted_rows(a: np.ndarray) -> np.ndarray:
    return a[np.lexsort((a[:, 1], a[:, 0]))]


def _as_arrays(out: dict, b: int = 0) -> dict[int, np.ndarray]:
    return {d: _sorted_rows(diagrams.to_arrays()[b]) for d, diagrams in out.items()}


def _undirected_data(edges: list[tuple[int, int]], weights: list[float], n: int) -> Data:
    """PyG storage of an undirected graph: every edge in both directions, equal weights."""
    e = torch.tensor(edges).T  # (2, U)
    w = torch.tensor(weights, dtype=torch.float64)
    return Data(edge_index=torch.cat([e, e.flip(0)], dim=1), edge_weight=torch.cat([w, w]),
                num_nodes=n)


def _random_weighted_graph(rng: np.random.Generator, n: int, p: float) -> nx.Graph:
    graph = nx.gnp_random_graph(n, p, seed=int(rng.integers(1 << 30)))
    for u, v in graph.edges():
        graph.edges[u, v]["weight"] = float(rng.random())
    return graph


# ---------------------------------------------------------------------- clique complex by hand
def test_cycle_c5_unit_weights():
    out = _as_arrays(clique_diagrams(nx.cycle_graph(5)))
    # Five vertices at 0; the edges at 1 merge them into one component (four deaths at 1) and
    # the fifth edge closes the only loop, which no triangle fills.
    np.testing.assert_array_equal(out[0], [[0, 1]] * 4 + [[0, INF]])
    np.testing.assert_array_equal(out[1], [[1, INF]])


def test_four_cycle_with_a_diagonal():
    # Cycle 0-1-2-3 at weight 1, diagonal 0-2 at weight 2: the square's loop is born at 1 and
    # filled at 2 by the two triangles through the diagonal.
    data = _undirected_data([(0, 1), (1, 2), (2, 3), (3, 0), (0, 2)], [1, 1, 1, 1, 2], 4)
    out = _as_arrays(clique_diagrams(data))
    np.testing.assert_array_equal(out[0], [[0, 1]] * 3 + [[0, INF]])
    np.testing.assert_array_equal(out[1], [[1, 2]])
    # Without triangles both loops survive.
    graph_only = _as_arrays(clique_diagrams(data, max_dim=1))
    np.testing.assert_array_equal(graph_only[1], [[1, INF], [2, INF]])
    # With unit weights the loop is born and filled at 1: zero persistence, left out.
    unit = _as_arrays(clique_diagrams(data, edge_weight=torch.ones(10)))
    assert len(unit[1]) == 0


def test_weighted_triangle():
    triangle = nx.Graph()
    triangle.add_weighted_edges_from([(0, 1, 1.0), (1, 2, 2.0), (0, 2, 3.0)])
    out = _as_arrays(clique_diagrams(triangle))
    np.testing.assert_array_equal(out[0], [[0, 1], [0, 2], [0, INF]])
    # The loop is born with the heaviest edge (3) and filled by the triangle at 3: zero
    # persistence, which is left out (as GUDHI does).
    assert len(out[1]) == 0
    np.testing.assert_array_equal(_as_arrays(clique_diagrams(triangle, max_dim=1))[1],
                                  [[3, INF]])


# ---------------------------------------------------------------------- lower star by hand
def test_lower_star_path():
    path = nx.path_graph(3)
    out = _as_arrays(lower_star_diagrams(path, torch.tensor([0.0, 2.0, 1.0])))
    # Nodes 0 and 2 start components at 0 and 1; node 1 enters at 2 and merges them.
    np.testing.assert_array_equal(out[0], [[0, INF], [1, 2]])
    assert len(out[1]) == 0


def test_lower_star_superlevel():
    path = nx.path_graph(3)
    out = _as_arrays(lower_star_diagrams(path, torch.tensor([3.0, 1.0, 2.0]), superlevel=True))
    # From the top: node 0 at 3 and node 2 at 2 start components; node 1 at 1 merges them.
    np.testing.assert_array_equal(out[0], [[2, 1], [3, -INF]])


def test_lower_star_degree_of_a_star_and_a_cycle():
    star = nx.star_graph(4)  # centre 0 of degree 4, four leaves of degree 1
    out = _as_arrays(lower_star_diagrams(star))
    np.testing.assert_array_equal(out[0], [[1, 4]] * 3 + [[1, INF]])
    cycle = _as_arrays(lower_star_diagrams(nx.cycle_graph(5)))
    # Every degree is 2: one component and one loop, both at 2, never dying (max_dim=1).
    np.testing.assert_array_equal(cycle[0], [[2, INF]])
    np.testing.assert_array_equal(cycle[1], [[2, INF]])


def test_lower_star_fills_triangles():
    triangle = nx.complete_graph(3)
    values = torch.tensor([0.0, 1.0, 2.0])
    assert len(lower_star_diagrams(triangle, values, max_dim=2)[1].to_arrays()[0]) == 0
    np.testing.assert_array_equal(lower_star_diagrams(triangle, values)[1].to_arrays()[0],
                                  [[2, INF]])


# ---------------------------------------------------------------------- against GUDHI
def _gudhi_flag(graph: nx.Graph, vertex: dict, edge: dict, max_dim: int) -> gudhi.SimplexTree:
    tree = gudhi.SimplexTree()
    for node in graph.nodes():
        tree.insert([node], vertex[node])
    for u, v in graph.edges():
        tree.insert([u, v], edge[u, v])
    tree.expansion(max_dim)
    tree.compute_persistence(persistence_dim_max=True)
    return tree


@pytest.mark.parametrize("max_dim", [1, 2, 3])
def test_clique_agrees_with_gudhi(rng, max_dim):
    graphs = [_random_weighted_graph(rng, n, 0.35) for n in (8, 12, 15)]
    dims = tuple(range(max_dim + 1))
    out = clique_diagrams(graphs, homology_dims=dims, max_dim=max_dim)
    for b, graph in enumerate(graphs):
        weights = {(u, v): a["weight"] for u, v, a in graph.edges(data=True)}
        tree = _gudhi_flag(graph, dict.fromkeys(graph.nodes(), 0.0), weights, max_dim)
        for d in dims:
            ref = tree.persistence_intervals_in_dimension(d).reshape(-1, 2)
            ours = out[d].to_arrays()[b]
            assert gudhi.bottleneck_distance(ours, ref) < 1e-6
            np.testing.assert_allclose(_sorted_rows(ours), _sorted_rows(ref), rtol=1e-6)


@pytest.mark.parametrize("max_dim", [1, 2])
def test_lower_star_agrees_with_gudhi(rng, max_dim):
    graphs = [nx.gnp_random_graph(n, 0.3, seed=s) for s, n in enumerate((9, 14))]
    values = torch.tensor(rng.random(23))
    out = lower_star_diagrams(graphs, values, homology_dims=range(max_dim + 1), max_dim=max_dim)
    for b, (graph, f) in enumerate(zip(graphs, (values[:9], values[9:]), strict=True)):
        f = f.numpy()
        tree = _gudhi_flag(graph, dict(enumerate(f)),
                           {(u, v): max(f[u], f[v]) for u, v in graph.edges()}, max_dim)
        for d in range(max_dim + 1):
            ref = tree.persistence_intervals_in_dimension(d).reshape(-1, 2)
            np.testing.assert_array_equal(_sorted_rows(out[d].to_arrays()[b]), _sorted_rows(ref))


# ---------------------------------------------------------------------- input forms
def test_batch_equals_list_of_single_graphs(rng):
    datas = []
    for n in (6, 9, 7):
        graph = _random_weighted_graph(rng, n, 0.5)
        edges = list(graph.edges())
        datas.append(_undirected_data(edges, [graph.edges[e]["weight"] for e in edges], n))
    batch = Batch.from_data_list(datas)
    from_batch = clique_diagrams(batch)
    from_list = clique_diagrams(datas)
    values = torch.tensor(rng.random(22))
    star_batch = lower_star_diagrams(batch, values)
    start = 0
    for b, data in enumerate(datas):
        single = clique_diagrams(data)
        star_single = lower_star_diagrams(data, values[start : start + data.num_nodes])
        start += data.num_nodes
        for d in (0, 1):
            np.testing.assert_array_equal(from_batch[d].to_arrays()[b], single[d].to_arrays()[0])
            np.testing.assert_array_equal(from_list[d].to_arrays()[b], single[d].to_arrays()[0])
            np.testing.assert_array_equal(star_batch[d].to_arrays()[b],
                                          star_single[d].to_arrays()[0])


def test_networkx_and_pyg_give_the_same_diagrams(rng):
    graph = _random_weighted_graph(rng, 12, 0.4)
    graph = nx.relabel_nodes(graph, {i: f"n{i}" for i in graph.nodes()})  # order-preserving
    edges = [(int(u[1:]), int(v[1:])) for u, v in graph.edges()]
    data = _undirected_data(edges, [graph.edges[u, v]["weight"] for u, v in graph.edges()], 12)
    one_way = Data(edge_index=torch.tensor(edges).T, num_nodes=12)
    for kwargs in ({"max_dim": 1}, {"max_dim": 2}):
        ref = _as_arrays(clique_diagrams(graph, **kwargs))
        for other in (clique_diagrams(data, **kwargs),
                      clique_diagrams(one_way, edge_weight=data.edge_weight[: len(edges)],
                                      **kwargs)):
            for d in (0, 1):  # networkx weights come as the default dtype (float32)
                np.testing.assert_allclose(_as_arrays(other)[d], ref[d], rtol=1e-6)
    for node_values in ("degree", torch.tensor(rng.random(12))):
        ref = _as_arrays(lower_star_diagrams(graph, node_values))
        for d, arr in _as_arrays(lower_star_diagrams(data, node_values)).items():
            np.testing.assert_array_equal(arr, ref[d])


def test_networkx_weight_attribute_name():
    graph = nx.Graph()
    graph.add_edge(0, 1, length=2.5)
    graph.add_edge(1, 2, length=0.5)
    np.testing.assert_array_equal(_as_arrays(clique_diagrams(graph, weight="length"))[0],
                                  [[0, 0.5], [0, 2.5], [0, INF]])


# ---------------------------------------------------------------------- gradients
def test_gradcheck_clique_weights(rng):
    graph = nx.gnp_random_graph(8, 0.6, seed=3)
    n_edges = graph.number_of_edges()
    weights = torch.tensor(rng.random(n_edges), requires_grad=True)

    def finite_values(w: torch.Tensor) -> torch.Tensor:
        out = clique_diagrams(graph, edge_weight=w, homology_dims=(0, 1, 2), max_dim=3)
        return torch.cat([d.values[d.mask.unsqueeze(-1) & torch.isfinite(d.values)]
                          for d in out.values()])

    assert torch.autograd.gradcheck(finite_values, (weights,))


def test_gradcheck_clique_weights_stored_in_both_directions(rng):
    graph = nx.gnp_random_graph(7, 0.6, seed=4)
    e = torch.tensor(list(graph.edges())).T
    edge_index = torch.cat([e, e.flip(0)], dim=1)
    data = Data(edge_index=edge_index, num_nodes=7)
    weights = torch.tensor(rng.random(e.shape[1]), requires_grad=True)

    def finite_values(w: torch.Tensor) -> torch.Tensor:
        out = clique_diagrams(data, edge_weight=torch.cat([w, w]))
        return torch.cat([d.values[d.mask.unsqueeze(-1) & torch.isfinite(d.values)]
                          for d in out.values()])

    assert torch.autograd.gradcheck(finite_values, (weights,))


@pytest.mark.parametrize("superlevel", [False, True])
def test_gradcheck_lower_star_values(rng, superlevel):
    graphs = [nx.gnp_random_graph(7, 0.5, seed=5), nx.cycle_graph(6)]
    values = torch.tensor(rng.random(13), requires_grad=True)

    def finite_values(f: torch.Tensor) -> torch.Tensor:
        out = lower_star_diagrams(graphs, f, max_dim=2, superlevel=superlevel)
        return torch.cat([d.values[d.mask.unsqueeze(-1) & torch.isfinite(d.values)]
                          for d in out.values()])

    assert torch.autograd.gradcheck(finite_values, (values,))


def test_isolated_nodes_and_edgeless_graph():
    graph = nx.empty_graph(3)
    np.testing.assert_array_equal(_as_arrays(clique_diagrams(graph))[0], [[0, INF]] * 3)


# ---------------------------------------------------------------------- bad input
def _c4() -> Data:
    return _undirected_data([(0, 1), (1, 2), (2, 3), (3, 0)], [1.0, 2.0, 3.0, 4.0], 4)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: clique_diagrams(_c4(), edge_weight=torch.full((8,), float("nan"))), "NaN"),
        (lambda: clique_diagrams(_c4(), edge_weight=torch.ones(5)), r"shape \(E,\) = \(8,\)"),
        (lambda: clique_diagrams(_c4(), edge_weight=torch.arange(8.0)), "both directions"),
        (lambda: clique_diagrams(_c4(), edge_weight=-torch.ones(8)), ">= 0"),
        (lambda: clique_diagrams(nx.Graph()), "no nodes"),
        (lambda: clique_diagrams(Data(edge_index=torch.zeros(2, 0, dtype=torch.long),
                                      num_nodes=0)), "no nodes"),
        (lambda: clique_diagrams([]), "empty list"),
        (lambda: clique_diagrams(nx.DiGraph([(0, 1)])), "undirected"),
        (lambda: clique_diagrams(Data(edge_index=torch.tensor([[0], [0]]), num_nodes=1)),
         "self-loop"),
        (lambda: clique_diagrams(Data(edge_index=torch.tensor([[0], [5]]), num_nodes=2)),
         "outside"),
        (lambda: clique_diagrams(_c4(), homology_dims=(3,)), "valid dimensions are 0 .. 2"),
        (lambda: clique_diagrams(_c4(), max_dim=0), "max_dim"),
        (lambda: clique_diagrams("graph"), "networkx"),
        (lambda: lower_star_diagrams(_c4(), torch.ones(3)), r"shape \(N,\) = \(4,\)"),
        (lambda: lower_star_diagrams(_c4(), torch.tensor([0.0, 1, float("inf"), 2])), "inf"),
        (lambda: lower_star_diagrams(_c4(), "betweenness"), "degree"),
        (lambda: lower_star_diagrams(_c4(), torch.ones(4, dtype=torch.long)), "floating"),
        (lambda: lower_star_diagrams(_c4(), homology_dims=(2,)), "valid dimensions are 0 .. 1"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
