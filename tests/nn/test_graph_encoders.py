from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from toposci.nn import GINEEncoder, GINEncoder

F, FE = 6, 3


def _undirected(pairs: list[tuple[int, int]]) -> torch.Tensor:
    """``edge_index (2, 2P)`` with both directions of each pair."""
    if not pairs:
        return torch.zeros(2, 0, dtype=torch.long)
    src, dst = zip(*pairs)
    return torch.tensor([src + dst, dst + src], dtype=torch.long)


def _graph(n: int, pairs: list[tuple[int, int]], *, seed: int) -> Data:
    g = torch.Generator().manual_seed(seed)
    edge_index = _undirected(pairs)
    bond = torch.randn(len(pairs), FE, generator=g)
    return Data(x=torch.randn(n, F, generator=g), edge_index=edge_index,
                edge_attr=torch.cat([bond, bond]))  # same features both directions


def _permuted(data: Data, perm: torch.Tensor) -> Data:
    """The same graph with node ``perm[i]`` renamed ``i``."""
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(len(perm))
    return Data(x=data.x[perm], edge_index=inverse[data.edge_index], edge_attr=data.edge_attr)


GRAPHS = [
    _graph(3, [(0, 1), (1, 2), (2, 0)], seed=1),  # triangle
    _graph(5, [(0, 1), (1, 2), (2, 3), (3, 4), (1, 4)], seed=2),  # a 4-ring with a tail
    _graph(1, [], seed=3),  # one atom, no bonds
    _graph(4, [], seed=4),  # no edges at all
]


def _encoders() -> list[torch.nn.Module]:
    return [GINEEncoder(F, FE, hidden=16, layers=3, out_features=8),
            GINEncoder(F, hidden=16, layers=3, out_features=8)]


@pytest.mark.parametrize("encoder", _encoders(), ids=["gine", "gin"])
def test_batch_rows_equal_single_graphs(encoder: torch.nn.Module) -> None:
    out = encoder(Batch.from_data_list(GRAPHS))
    assert encoder.out_features == 8
    assert out.shape == (len(GRAPHS), 8)
    for i, graph in enumerate(GRAPHS):
        torch.testing.assert_close(out[i : i + 1], encoder(graph), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("encoder", _encoders(), ids=["gine", "gin"])
def test_node_permutation_invariance(encoder: torch.nn.Module) -> None:
    for seed, graph in enumerate(GRAPHS[:2]):
        perm = torch.randperm(graph.num_nodes, generator=torch.Generator().manual_seed(seed))
        torch.testing.assert_close(encoder(_permuted(graph, perm)), encoder(graph),
                                   atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("encoder", _encoders(), ids=["gine", "gin"])
def test_batch_without_any_edges(encoder: torch.nn.Module) -> None:
    batch = Batch.from_data_list([GRAPHS[2], GRAPHS[3]])
    assert batch.edge_index.shape == (2, 0)
    out = encoder(batch)
    assert out.shape == (2, 8) and torch.isfinite(out).all()


@pytest.mark.parametrize("encoder", _encoders(), ids=["gine", "gin"])
def test_structure_matters(encoder: torch.nn.Module) -> None:
    triangle = GRAPHS[0]
    path = Data(x=triangle.x, edge_index=_undirected([(0, 1), (1, 2)]),
                edge_attr=triangle.edge_attr[[0, 1, 3, 4]])
    assert not torch.allclose(encoder(triangle), encoder(path))


def test_gine_uses_edge_features() -> None:
    encoder = GINEEncoder(F, FE, hidden=16, layers=2, out_features=8)
    graph = GRAPHS[0]
    other = Data(x=graph.x, edge_index=graph.edge_index, edge_attr=graph.edge_attr + 1.0)
    assert not torch.allclose(encoder(graph), encoder(other))


def test_gin_ignores_edge_features() -> None:
    encoder = GINEncoder(F, hidden=16, layers=2, out_features=8)
    graph = GRAPHS[0]
    bare = Data(x=graph.x, edge_index=graph.edge_index)
    torch.testing.assert_close(encoder(bare), encoder(graph))


def test_gradcheck() -> None:
    encoder = GINEEncoder(F, FE, hidden=4, layers=2, out_features=3).double()
    graph = GRAPHS[1]
    x = graph.x.double().requires_grad_()
    edge_attr = graph.edge_attr.double().requires_grad_()

    def fn(x: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        return encoder(Data(x=x, edge_index=graph.edge_index, edge_attr=edge_attr))

    assert torch.autograd.gradcheck(fn, (x, edge_attr))


def _bad(**changes: object) -> Data:
    graph = GRAPHS[0]
    fields = {"x": graph.x, "edge_index": graph.edge_index, "edge_attr": graph.edge_attr}
    fields.update(changes)
    return Data(**fields)


@pytest.mark.parametrize(("batch", "match"), [
    (_bad(x=torch.zeros(0, F), edge_index=torch.zeros(2, 0, dtype=torch.long),
          edge_attr=torch.zeros(0, FE)), "no nodes"),
    (_bad(x=torch.randn(3, F + 1)), "node features"),
    (_bad(x=torch.full((3, F), math.nan)), "NaN"),
    (_bad(x=torch.ones(3, F, dtype=torch.long)), "float"),
    (_bad(edge_index=torch.tensor([[0, 3], [3, 0]])), "outside"),
    (_bad(edge_index=GRAPHS[0].edge_index.float()), "long"),
    (_bad(edge_attr=torch.randn(6, FE + 1)), "edge_attr"),
    (_bad(edge_attr=None), "edge_attr"),
    (_bad(edge_attr=torch.full((6, FE), math.inf)), "inf"),
    (_bad(batch=torch.tensor([0, 0])), "batch.batch"),
    (torch.randn(3, F), "Data or Batch"),
])
def test_bad_input(batch: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GINEEncoder(F, FE, hidden=4, layers=1, out_features=2)(batch)


def test_empty_batch_of_graphs() -> None:
    empty = Batch(x=torch.zeros(0, F), edge_index=torch.zeros(2, 0, dtype=torch.long),
                  batch=torch.zeros(0, dtype=torch.long))
    for encoder in _encoders():
        with pytest.raises(ValueError, match="no nodes"):
            encoder(empty)


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="layers"):
        GINEncoder(F, layers=0)
    with pytest.raises(ValueError, match="edge_features"):
        GINEEncoder(F, 0)


def test_positions_tell_the_encoder_the_node_order() -> None:
    torch.manual_seed(0)
    x = torch.eye(3)[[0, 0, 1]]  # (3, 3): atoms A A B on a path 0-1-2
    edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    edge_attr = torch.ones(4, 2)
    enc = GINEEncoder(3, 2, hidden=8, layers=2, out_features=4, positions=5).eval()
    plain = GINEEncoder(3, 2, hidden=8, layers=2, out_features=4).eval()
    perm = torch.tensor([2, 1, 0])  # the same graph with its nodes listed backwards
    inverse = torch.argsort(perm)
    graph = Data(x=x, edge_index=edge_index, edge_attr=edge_attr)
    flipped = Data(x=x[perm], edge_index=inverse[edge_index], edge_attr=edge_attr)
    assert torch.allclose(plain(graph), plain(flipped), atol=1e-6)
    assert not torch.allclose(enc(graph), enc(flipped), atol=1e-3)
    # in a batch the index restarts in every graph: rows equal the single-graph codes
    both = Batch.from_data_list([graph, flipped])
    assert torch.allclose(enc(both), torch.cat([enc(graph), enc(flipped)]), atol=1e-6)
    with pytest.raises(ValueError, match="more than the encoder's positions=2"):
        GINEEncoder(3, 2, positions=2)(graph)
