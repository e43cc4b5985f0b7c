from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import networkx as nx
import pytest
import torch
from torch_geometric.data import Data

from toposci.domains.social import (
    adjacency_validity,
    clustering_coefficients,
    degree_histogram,
    ego_subgraphs,
    read_tu_dataset,
    to_networkx,
)


def plain_counts(folder: Path) -> tuple[list[int], list[int]]:
    """Nodes and undirected edges per graph, counted from the raw text with plain Python."""
    with gzip.open(folder / "IMDB-BINARY_graph_indicator.txt.gz", "rt") as f:
        graph_of = [int(line) for line in f if line.strip()]
    nodes = Counter(graph_of)
    edges: dict[int, set[frozenset[int]]] = {g: set() for g in nodes}
    with gzip.open(folder / "IMDB-BINARY_A.txt.gz", "rt") as f:
        for line in f:
            if line.strip():
                a, b = (int(t) for t in line.split(","))
                edges[graph_of[a - 1]].add(frozenset((a, b)))
    graphs = sorted(nodes)
    return [nodes[g] for g in graphs], [len(edges[g]) for g in graphs]


def test_shipped_imdb(shipped):
    folder = shipped / "social"
    graphs = read_tu_dataset(folder, "IMDB-BINARY")
    assert len(graphs) == 100
    assert Counter(int(g.y) for g in graphs) == {0: 50, 1: 50}
    nodes, edges = plain_counts(folder)
    for g, n, e in zip(graphs[:5], nodes[:5], edges[:5], strict=True):
        assert g.num_nodes == n
        assert g.edge_index.shape[1] == 2 * e  # both directions, duplicates merged
    for g in graphs:
        ei = g.edge_index
        assert ei.min() >= 0 and ei.max() < g.num_nodes
        assert not (ei[0] == ei[1]).any()
        pairs = set(map(tuple, ei.t().tolist()))
        assert len(pairs) == ei.shape[1] and all((b, a) in pairs for a, b in pairs)


def test_networkx_and_statistics_agree_with_networkx(shipped):
    graphs = read_tu_dataset(shipped / "social", "IMDB-BINARY")
    for g in graphs[:10]:
        G = to_networkx(g)
        assert G.number_of_nodes() == g.num_nodes
        assert G.number_of_edges() == g.edge_index.shape[1] // 2
        assert degree_histogram(g.edge_index, g.num_nodes).tolist() == nx.degree_histogram(G)
        expected = torch.tensor([nx.clustering(G)[i] for i in range(g.num_nodes)])
        torch.testing.assert_close(clustering_coefficients(g.edge_index, g.num_nodes),
                                   expected, atol=1e-6, rtol=0)


@pytest.mark.realdata
def test_full_imdb_binary(shared_data):
    graphs = read_tu_dataset(shared_data / "social", "IMDB-BINARY")
    assert len(graphs) == 1000
    assert sum(g.num_nodes for g in graphs) == 19773
    assert sum(g.edge_index.shape[1] for g in graphs) == 2 * 96531
    assert Counter(int(g.y) for g in graphs) == {0: 500, 1: 500}


# ---------------------------------------------------------------------------------- malformed
def write_tu(folder: Path, a: str, indicator: str = "1\n1\n2\n2\n", labels: str = "0\n1\n",
             gz: bool = False) -> Path:
    folder.mkdir(exist_ok=True)
    for suffix, text in (("A", a), ("graph_indicator", indicator), ("graph_labels", labels)):
        path = folder / f"T_{suffix}.txt"
        if gz:
            path.with_suffix(".txt.gz").write_bytes(gzip.compress(text.encode()))
        else:
            path.write_text(text)
    return folder


def test_small_valid_file_plain_and_gz(tmp_path):
    for gz in (False, True):
        folder = write_tu(tmp_path / str(gz), "1, 2\n2, 1\n1, 2\n\n3, 4\n", gz=gz)
        g1, g2 = read_tu_dataset(folder, "T")
        assert g1.edge_index.tolist() == [[0, 1], [1, 0]]
        assert g2.edge_index.tolist() == [[0, 1], [1, 0]]  # one direction listed: symmetrised
        assert (int(g1.y), int(g2.y)) == (0, 1)


def test_node_labels_one_hot(tmp_path):
    folder = write_tu(tmp_path, "1, 2\n2, 1\n")
    (folder / "T_node_labels.txt").write_text("3\n5\n4\n3\n")
    g1, g2 = read_tu_dataset(folder, "T")
    assert g1.x.tolist() == [[1, 0, 0], [0, 0, 1]]
    assert g2.x.tolist() == [[0, 1, 0], [1, 0, 0]]


@pytest.mark.parametrize(
    ("a", "indicator", "labels", "match"),
    [
        ("1, 2\n2, 3\n", "1\n1\n2\n2\n", "0\n1\n", r"T_A.txt: line 2: edge 2, 3 joins graph 1"),
        ("1, 2\n1, 9\n", "1\n1\n2\n2\n", "0\n1\n", r"T_A.txt: line 2: node id \[1, 9\] outside"),
        ("1, 2\n0, 1\n", "1\n1\n2\n2\n", "0\n1\n", r"T_A.txt: line 2: node id"),
        ("1; 2\n", "1\n1\n2\n2\n", "0\n1\n", r"T_A.txt: line 1: expected 2 integer"),
        ("1, 2, 3\n", "1\n1\n2\n2\n", "0\n1\n", r"line 1: expected 2 integer"),
        ("1, 2\n", "1\n1\n3\n3\n", "0\n1\n", r"T_graph_indicator.txt: line 3: graph id 3"),
        ("1, 2\n", "1\n1\n1\n1\n", "0\n1\n", r"graph 2 has no node"),
        ("1, 2\n", "1\nx\n2\n2\n", "0\n1\n", r"T_graph_indicator.txt: line 2"),
    ],
    ids=["crossing", "out-of-range", "zero-id", "separator", "three-cols", "graph-id",
         "empty-graph", "indicator-text"],
)
def test_malformed_files_raise(tmp_path, a, indicator, labels, match):
    folder = write_tu(tmp_path, a, indicator, labels)
    with pytest.raises(ValueError, match=match):
        read_tu_dataset(folder, "T")


def test_missing_file_raises(tmp_path):
    folder = write_tu(tmp_path, "1, 2\n")
    (folder / "T_graph_labels.txt").unlink()
    with pytest.raises(ValueError, match=r"T_graph_labels\.txt: file not found"):
        read_tu_dataset(folder, "T")


# ---------------------------------------------------------------------------------- ego graphs
def undirected(pairs: list[tuple[int, int]], n: int) -> Data:
    src = [a for a, b in pairs] + [b for a, b in pairs]
    dst = [b for a, b in pairs] + [a for a, b in pairs]
    return Data(edge_index=torch.tensor([src, dst]), num_nodes=n)


def by_centre(subgraphs: list[Data]) -> dict[int, Data]:
    return {int(s.orig_index[0]): s for s in subgraphs}


def test_ego_path_graph():
    path = undirected([(i, i + 1) for i in range(6)], 7)  # 0 - 1 - ... - 6
    subs = by_centre(ego_subgraphs(path, k=2, n_samples=7, seed=0))
    mid = subs[3]
    assert mid.orig_index.tolist() == [3, 2, 4, 1, 5]
    assert mid.hops.tolist() == [0, 1, 1, 2, 2]
    assert mid.edge_index.shape[1] == 2 * 4
    assert sorted(subs[0].orig_index.tolist()) == [0, 1, 2]
    assert subs[0].edge_index.shape[1] == 2 * 2


def test_ego_star_graph_with_max_nodes():
    star = undirected([(0, leaf) for leaf in range(1, 7)], 7)
    star.x = torch.arange(7.0).unsqueeze(1)
    subs = by_centre(ego_subgraphs(star, k=1, n_samples=7, seed=0))
    assert subs[0].num_nodes == 7 and subs[0].edge_index.shape[1] == 12
    assert subs[3].orig_index.tolist() == [3, 0]
    full = by_centre(ego_subgraphs(star, k=2, n_samples=7, seed=0))[3]
    assert full.num_nodes == 7 and full.edge_index.shape[1] == 12
    cut = by_centre(ego_subgraphs(star, k=2, n_samples=7, max_nodes=4, seed=5))[3]
    assert cut.num_nodes == 4 and cut.hops.tolist() == [0, 1, 2, 2]
    assert cut.orig_index[:2].tolist() == [3, 0]
    assert cut.edge_index.shape[1] == 2 * 3  # the hub joins the three leaves: still connected
    assert torch.equal(cut.x[:, 0], cut.orig_index.float())
    again = by_centre(ego_subgraphs(star, k=2, n_samples=7, max_nodes=4, seed=5))[3]
    assert torch.equal(again.orig_index, cut.orig_index)


def test_ego_subgraphs_are_connected_and_seeded(shipped):
    big = max(read_tu_dataset(shipped / "social", "IMDB-BINARY"), key=lambda g: g.num_nodes)
    subs = ego_subgraphs(big, k=2, n_samples=10, max_nodes=12, seed=1)
    assert len(subs) == 10 and len({int(s.orig_index[0]) for s in subs}) == 10
    whole = to_networkx(big)
    for s in subs:
        assert s.num_nodes <= 12
        assert nx.is_connected(to_networkx(s))
        # the subgraph is induced: its edge count equals the count in the big graph
        G = whole.subgraph(s.orig_index.tolist())
        assert G.number_of_edges() == s.edge_index.shape[1] // 2
    assert [s.orig_index.tolist() for s in subs] == [
        s.orig_index.tolist() for s in ego_subgraphs(big, k=2, n_samples=10, max_nodes=12, seed=1)
    ]


def test_ego_bad_arguments():
    g = undirected([(0, 1)], 2)
    for kwargs, match in [({"k": 0, "n_samples": 1}, "k must"),
                          ({"k": 1, "n_samples": 3}, "n_samples"),
                          ({"k": 1, "n_samples": 1, "max_nodes": 0}, "max_nodes")]:
        with pytest.raises(ValueError, match=match):
            ego_subgraphs(g, **kwargs)


# ---------------------------------------------------------------------------------- validity
def test_adjacency_validity_rules():
    tri = torch.ones(3, 3) - torch.eye(3)
    assert adjacency_validity(tri)
    assert adjacency_validity(tri.bool())
    asym = tri.clone()
    asym[0, 1] = 0
    assert adjacency_validity(asym).reason == "asymmetric"
    loop = tri.clone()
    loop[2, 2] = 1
    assert adjacency_validity(loop).reason == "self_loops"
    two = torch.zeros(4, 4)
    two[0, 1] = two[1, 0] = two[2, 3] = two[3, 2] = 1
    assert adjacency_validity(two).reason == "disconnected"
    assert adjacency_validity(torch.zeros(0, 0)).reason == "empty"
    assert adjacency_validity(torch.zeros(3, 3)).reason == "empty"
    padded = torch.zeros(5, 5)
    padded[:3, :3] = tri
    mask = torch.tensor([True, True, True, False, False])
    assert not adjacency_validity(padded)
    assert adjacency_validity(padded, node_mask=mask)
    with pytest.raises(ValueError, match="square"):
        adjacency_validity(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="NaN"):
        adjacency_validity(torch.full((2, 2), float("nan")))
