"""The social-graph domain: filtering and split, canonical order, targets, loss by hand,
decoding and validity, MMD metrics, files, the demo."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import torch

from toposci.domains.generative.social import (
    SocialData,
    SocialDecoder,
    SocialDomain,
    SocialEncoder,
    canonical_order,
)
from toposci.nn.graph_decoders import GraphLogits

REPO = Path(__file__).resolve().parents[3]
N = 20


@pytest.fixture(scope="module")
def loaded():
    domain = SocialDomain(SocialData())
    return domain, domain.load()


def _nodes_per_graph() -> np.ndarray:
    """Nodes of each shipped IMDB-BINARY graph, counted from the raw indicator file."""
    path = REPO / "datasets" / "social" / "IMDB-BINARY_graph_indicator.txt.gz"
    with gzip.open(path, "rt") as f:
        graph_of = np.array([int(line) for line in f if line.strip()])
    return np.bincount(graph_of)[1:]


def _logits(node_target: torch.Tensor, edge_target: torch.Tensor, margin: float) -> GraphLogits:
    """Logits ``+margin`` on the target class and ``-margin`` on the other one."""
    node = margin * (2.0 * torch.nn.functional.one_hot(node_target, 2).float() - 1.0)
    edge = margin * (2.0 * torch.nn.functional.one_hot(edge_target, 2).float() - 1.0)
    return GraphLogits(node, edge)


def _graph(batch, b: int) -> nx.Graph:
    """Graph ``b`` of a batch, read from its dense targets."""
    n = int(batch.node_target[b].sum())
    adj = batch.edge_target[b, :n, :n].numpy()
    return nx.from_numpy_array(adj)


def test_canonical_order_by_hand() -> None:
    def order(edges: list[tuple[int, int]], n: int) -> list[int]:
        both = edges + [(b, a) for a, b in edges]
        return canonical_order(torch.tensor(both).t(), n).tolist()

    assert order([(3, 0), (3, 1), (3, 2), (3, 4)], 5) == [3, 0, 1, 2, 4]  # star: hub first
    # path 0-1-2-3 (degrees 1 2 2 1): start at 1, then its neighbour of higher degree
    assert order([(0, 1), (1, 2), (2, 3)], 4) == [1, 2, 0, 3]
    # edge {0, 1} and triangle {3, 4, 5}, node 2 isolated: components by highest degree
    assert order([(0, 1), (3, 4), (4, 5), (3, 5)], 6) == [3, 4, 5, 0, 1, 2]


def test_load_shipped_sample(loaded) -> None:
    _, data = loaded
    info = data.info
    sizes = _nodes_per_graph()
    assert len(sizes) == 100
    train_ids, val_ids = set(info["train_graphs"]), set(info["val_graphs"])
    assert not train_ids & val_ids and train_ids | val_ids == set(range(100))
    assert len(val_ids) == 20
    assert info["n_train"] == int((sizes[sorted(train_ids)] <= N).sum())
    assert info["n_val"] == int((sizes[sorted(val_ids)] <= N).sum())
    assert info["dropped_too_large"] == int((sizes > N).sum())
    assert len(data.train) == info["n_train"] and len(data.val) == info["n_val"]


def test_targets_are_the_graphs_in_canonical_order(loaded) -> None:
    domain, data = loaded
    batch = domain.collate(data.train, torch.arange(6))
    assert batch.num_graphs == domain.batch_size(batch) == 6
    assert batch.node_target.shape == (6, N) and batch.edge_target.shape == (6, N, N)
    assert batch.x.shape == (int(batch.node_target.sum()), N)
    for b in range(6):
        n = int(batch.node_target[b].sum())
        assert batch.node_target[b, :n].all() and not batch.node_target[b, n:].any()
        e = batch.edge_target[b]
        assert torch.equal(e, e.t()) and not e.diagonal().any() and not e[n:].any()
        degree = e.sum(dim=1)
        assert int(degree[0]) == int(degree.max())  # slot 0 is a hub
        # the dense target is the same graph as the sparse one the encoder sees
        nodes = (batch.batch == b).nonzero().flatten()
        keep = torch.isin(batch.edge_index[0], nodes)
        sparse = nx.Graph((batch.edge_index[:, keep] - nodes[0]).t().tolist())
        assert nx.is_isomorphic(sparse, _graph(batch, b))
        # node features are one-hot degrees
        assert torch.equal(batch.x[nodes].argmax(dim=1), degree[:n])


def test_network_shapes(loaded) -> None:
    domain, data = loaded
    batch = domain.collate(data.train, torch.arange(5))
    encoder = domain.make_encoder(SocialEncoder(hidden=16, layers=2, out_features=12))
    assert encoder(batch).shape == (5, 12)
    logits = domain.make_decoder(SocialDecoder(hidden=(32,)), latent_dim=4)(torch.zeros(5, 4))
    assert logits.node.shape == (5, N, 2) and logits.edge.shape == (5, N, N, 2)


def test_reconstruction_loss_by_hand(loaded) -> None:
    domain, data = loaded
    batch = domain.collate(data.val, torch.arange(3))
    # margin 1: every one of the N nodes and N(N-1)/2 pairs costs log(1 + e^-2)
    loss = domain.reconstruction_loss(_logits(batch.node_target, batch.edge_target, 1.0), batch)
    expected = (N + N * (N - 1) / 2) * math.log1p(math.exp(-2.0))
    assert torch.allclose(loss, torch.full((3,), expected), rtol=1e-5)


def test_views_agree_for_a_perfect_output(loaded) -> None:
    domain, data = loaded
    batch = domain.collate(data.val, torch.arange(4))
    view = domain.data_view(batch)
    assert view.shape == (4, N * (N - 1) // 2 + N)
    output = domain.output_view(_logits(batch.node_target, batch.edge_target, 20.0))
    assert (output - view).abs().max() < 1e-6


def test_generate_real_and_garbage(loaded) -> None:
    domain, data = loaded
    batch = domain.collate(data.val, torch.arange(len(data.val)))
    real = domain.generate(_logits(batch.node_target, batch.edge_target, 5.0))
    assert real.valid_fraction == 1.0
    assert torch.equal(real.items[0].adjacency.long(), batch.edge_target[0])
    assert torch.equal(real.items[0].node_mask, batch.node_target[0].bool())

    node = torch.zeros(4, N, dtype=torch.long)
    node[1:, :4] = 1
    edge = torch.zeros(4, N, N, dtype=torch.long)
    edge[1, 0, 1] = edge[1, 1, 0] = edge[1, 2, 3] = edge[1, 3, 2] = 1  # two components
    edge[2, 0, 1] = edge[2, 1, 2] = edge[2, 2, 1] = edge[2, 2, 3] = edge[2, 3, 2] = 1  # 0->1 only
    edge[3, 0, 1] = edge[3, 1, 0] = edge[3, 1, 2] = edge[3, 2, 1] = edge[3, 2, 3] = 1
    edge[3, 3, 2] = edge[3, 0, 0] = 1  # a path with a self-loop
    garbage = domain.generate(_logits(node, edge, 5.0))
    assert [v.reason for v in garbage.validity] == ["empty", "disconnected", "asymmetric",
                                                    "self_loops"]
    # an edge to an absent node is dropped, not counted
    node = torch.zeros(1, N, dtype=torch.long)
    node[0, :2] = 1
    edge = torch.zeros(1, N, N, dtype=torch.long)
    edge[0, 0, 1] = edge[0, 1, 0] = edge[0, 0, 7] = edge[0, 7, 0] = 1  # node 7 is absent
    dangling = domain.generate(_logits(node, edge, 5.0))
    assert dangling.valid_fraction == 1.0 and int(dangling.items[0].adjacency.sum()) == 2


def test_sample_metrics_of_the_validation_graphs_is_zero(loaded) -> None:
    domain, data = loaded
    batch = domain.collate(data.val, torch.arange(len(data.val)))
    generated = domain.generate(_logits(batch.node_target, batch.edge_target, 5.0))
    fresh = SocialDomain(SocialData())  # as in `toposci sample`: loads its reference itself
    metrics = fresh.sample_metrics(generated)
    assert metrics["n_valid_graphs"] == metrics["n_reference_graphs"] == len(data.val)
    assert abs(metrics["degree_mmd"]) < 1e-12 and abs(metrics["clustering_mmd"]) < 1e-12
    assert metrics["nodes_mean"] == pytest.approx(float(batch.node_target.sum(1).float().mean()))


def test_write_samples_round_trip(loaded, tmp_path: Path) -> None:
    domain, data = loaded
    batch = domain.collate(data.val, torch.arange(3))
    node = batch.node_target.clone()
    node[2] = 0  # an empty graph
    generated = domain.generate(_logits(node, batch.edge_target, 5.0))
    files = domain.write_samples(generated, tmp_path / "g.npz")
    saved = np.load(files[0])
    assert saved["adjacency"].dtype == np.uint8 and saved["adjacency"].shape == (3, N, N)
    assert np.array_equal(saved["adjacency"][:2], batch.edge_target[:2].numpy())
    assert not saved["adjacency"][2].any()
    assert np.array_equal(saved["node_mask"], node.bool().numpy())
    assert saved["valid"].tolist() == [True, True, False]
    assert saved["reason"].tolist() == ["ok", "ok", "empty"]


def test_ego_mode() -> None:
    data = SocialDomain(SocialData(mode="ego", max_nodes=8, egos_per_graph=1)).load()
    assert data.info["n_train"] + data.info["n_val"] + data.info["dropped_no_edges"] == 100
    assert data.info["dropped_too_large"] == 0
    batch = SocialDomain(SocialData(max_nodes=8)).collate(data.train, torch.arange(10))
    for b in range(10):
        graph = _graph(batch, b)
        assert graph.number_of_nodes() <= 8 and nx.is_connected(graph)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a folder"):
        SocialDomain(SocialData(path=str(tmp_path / "missing"))).load()
    with pytest.raises(ValueError, match=r"raise data\.max_nodes"):
        SocialDomain(SocialData(max_nodes=5)).load()  # the smallest graph has 12 nodes
    with pytest.raises(ValueError, match="max_nodes must be >= 2"):
        SocialDomain(SocialData(max_nodes=1)).load()
    with pytest.raises(ValueError, match="whole, ego"):
        SocialDomain(SocialData(mode="khop")).load()
