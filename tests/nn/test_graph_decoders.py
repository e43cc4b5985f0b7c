from __future__ import annotations

import math

import pytest
import torch

from toposci.nn import (
    DIAGONAL_LOGIT,
    GraphLogits,
    OneShotGraphDecoder,
    graph_reconstruction_loss,
    symmetric_edge_probabilities,
)


def _ce(logits: list[float], target: int) -> float:
    """Cross-entropy of one row, by hand."""
    return math.log(sum(math.exp(v) for v in logits)) - logits[target]


def test_shapes_and_exact_symmetry() -> None:
    decoder = OneShotGraphDecoder(4, 6, 5, 4, hidden=(16,))
    out = decoder(torch.randn(3, 4))
    assert isinstance(out, GraphLogits)
    assert out.node.shape == (3, 6, 5) and out.edge.shape == (3, 6, 6, 4)
    assert torch.equal(out.edge, out.edge.transpose(1, 2))


def test_diagonal_says_no_edge() -> None:
    edge = OneShotGraphDecoder(4, 5, 3, 4, hidden=(16,))(torch.randn(2, 4)).edge
    diagonal = edge.diagonal(dim1=1, dim2=2)  # (B, C_edge, N)
    assert torch.equal(diagonal[:, 0], torch.zeros(2, 5))
    assert torch.equal(diagonal[:, 1:], torch.full((2, 3, 5), DIAGONAL_LOGIT))
    assert (edge.argmax(dim=-1).diagonal(dim1=1, dim2=2) == 0).all()


def test_one_node_graph_has_no_pairs() -> None:
    decoder = OneShotGraphDecoder(2, 1, 3, 2, hidden=())
    out = decoder(torch.randn(4, 2))
    assert out.edge.shape == (4, 1, 1, 2)
    loss = graph_reconstruction_loss(out, torch.zeros(4, 1, dtype=torch.long),
                                     torch.zeros(4, 1, 1, dtype=torch.long))
    expected = torch.nn.functional.cross_entropy(out.node[:, 0], torch.zeros(4, dtype=torch.long),
                                                 reduction="none")
    torch.testing.assert_close(loss, expected)


NODE = [[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]]  # (N=3, C_node=2)
PAIRS = {(0, 1): [0.5, 1.5, -1.0], (0, 2): [2.0, 0.0, 0.0], (1, 2): [0.0, 0.0, 3.0]}
NODE_TARGET = [0, 1, 1]
EDGE_TARGET = {(0, 1): 1, (0, 2): 0, (1, 2): 2}


def _three_node_example() -> tuple[GraphLogits, torch.Tensor, torch.Tensor]:
    edge = torch.zeros(1, 3, 3, 3)
    target = torch.zeros(1, 3, 3, dtype=torch.long)
    for (i, j), values in PAIRS.items():
        edge[0, i, j] = edge[0, j, i] = torch.tensor(values)
        target[0, i, j] = target[0, j, i] = EDGE_TARGET[(i, j)]
    return GraphLogits(torch.tensor([NODE]), edge), torch.tensor([NODE_TARGET]), target


def test_loss_matches_hand_computed_cross_entropy() -> None:
    logits, node_target, edge_target = _three_node_example()
    node_part = sum(_ce(row, t) for row, t in zip(NODE, NODE_TARGET))
    edge_part = sum(_ce(PAIRS[p], EDGE_TARGET[p]) for p in PAIRS)  # each bond once
    loss = graph_reconstruction_loss(logits, node_target, edge_target)
    assert loss.shape == (1,)
    assert loss.item() == pytest.approx(node_part + edge_part, rel=1e-6)
    weighted = graph_reconstruction_loss(logits, node_target, edge_target, node_weight=0.5,
                                         edge_weight=2.0)
    assert weighted.item() == pytest.approx(0.5 * node_part + 2.0 * edge_part, rel=1e-6)


def test_loss_reads_only_the_upper_triangle() -> None:
    logits, node_target, edge_target = _three_node_example()
    scrambled = torch.triu(edge_target, diagonal=1) + torch.tril(torch.full_like(edge_target, 2))
    torch.testing.assert_close(graph_reconstruction_loss(logits, node_target, scrambled),
                               graph_reconstruction_loss(logits, node_target, edge_target))


def test_loss_is_per_sample() -> None:
    logits, node_target, edge_target = _three_node_example()
    other = GraphLogits(torch.zeros(1, 3, 2), torch.zeros(1, 3, 3, 3))
    both = GraphLogits(torch.cat([logits.node, other.node]), torch.cat([logits.edge, other.edge]))
    loss = graph_reconstruction_loss(both, node_target.repeat(2, 1), edge_target.repeat(2, 1, 1))
    uniform = 3 * math.log(2) + 3 * math.log(3)  # 3 nodes of 2 classes, 3 pairs of 3 classes
    assert loss[1].item() == pytest.approx(uniform, rel=1e-6)
    torch.testing.assert_close(loss[:1], graph_reconstruction_loss(logits, node_target,
                                                                   edge_target))


def test_symmetric_edge_probabilities() -> None:
    logits, _, _ = _three_node_example()
    probs = symmetric_edge_probabilities(logits)
    assert probs.shape == (1, 3, 3, 3)
    for (i, j), values in PAIRS.items():
        total = sum(math.exp(v) for v in values)
        expected = torch.tensor([math.exp(v) / total for v in values])
        torch.testing.assert_close(probs[0, i, j], expected)
        torch.testing.assert_close(probs[0, j, i], expected)
    for i in range(3):  # the diagonal is "no edge" whatever its logits (zeros here)
        assert probs[0, i, i].tolist() == [1.0, 0.0, 0.0]


def test_gradcheck_decoder_and_loss() -> None:
    decoder = OneShotGraphDecoder(3, 3, 2, 3, hidden=(4,)).double()
    z = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    node_target = torch.tensor([[0, 1, 1], [1, 0, 0]])
    edge_target = torch.randint(0, 3, (2, 3, 3))

    def fn(z: torch.Tensor) -> torch.Tensor:
        return graph_reconstruction_loss(decoder(z), node_target, edge_target)

    assert torch.autograd.gradcheck(fn, (z,))
    assert torch.autograd.gradcheck(lambda z: decoder(z).edge, (z,))


def test_decoder_can_overfit_two_graphs() -> None:
    _, node_target, edge_target = _three_node_example()
    node_target = torch.cat([node_target, torch.tensor([[1, 1, 0]])])
    edge_target = torch.cat([edge_target, torch.tensor([[[0, 2, 0], [2, 0, 0], [0, 0, 0]]])])
    z = torch.randn(2, 4)
    decoder = OneShotGraphDecoder(4, 3, 2, 3, hidden=(32,))
    optimizer = torch.optim.Adam(decoder.parameters(), lr=3e-2)
    for _ in range(60):
        optimizer.zero_grad()
        loss = graph_reconstruction_loss(decoder(z), node_target, edge_target)
        loss.sum().backward()
        optimizer.step()
    assert loss.max().item() < 1e-2
    out = decoder(z)
    assert torch.equal(out.node.argmax(-1), node_target)
    assert torch.equal(out.edge.argmax(-1), edge_target)


@pytest.mark.parametrize(("change", "match"), [
    ({"node_target": torch.zeros(1, 3)}, "long"),
    ({"node_target": torch.zeros(1, 4, dtype=torch.long)}, "shape"),
    ({"node_target": torch.tensor([[0, 2, 1]])}, "outside"),
    ({"edge_target": torch.full((1, 3, 3), 3)}, "outside"),
    ({"edge_target": torch.zeros(1, 3, 3, dtype=torch.int32)}, "long"),
    ({"logits": GraphLogits(torch.full((1, 3, 2), math.nan), torch.zeros(1, 3, 3, 3))}, "NaN"),
    ({"logits": GraphLogits(torch.zeros(1, 3, 2), torch.zeros(2, 3, 3, 3))}, "logits.edge"),
    ({"logits": GraphLogits(torch.zeros(3, 2), torch.zeros(1, 3, 3, 3))}, "rank 3"),
    ({"logits": GraphLogits(torch.zeros(0, 3, 2), torch.zeros(0, 3, 3, 3))}, "empty"),
])
def test_loss_bad_input(change: dict, match: str) -> None:
    logits, node_target, edge_target = _three_node_example()
    args = {"logits": logits, "node_target": node_target, "edge_target": edge_target, **change}
    with pytest.raises(ValueError, match=match):
        graph_reconstruction_loss(**args)


def test_decoder_bad_input() -> None:
    decoder = OneShotGraphDecoder(4, 3, 2, 3, hidden=(8,))
    with pytest.raises(ValueError, match="shape"):
        decoder(torch.randn(2, 5))
    with pytest.raises(ValueError, match="NaN"):
        decoder(torch.full((2, 4), math.nan))
    with pytest.raises(ValueError, match="empty"):
        decoder(torch.zeros(0, 4))
    with pytest.raises(ValueError, match="edge_classes"):
        OneShotGraphDecoder(4, 3, 2, 1)
    with pytest.raises(ValueError, match="max_nodes"):
        OneShotGraphDecoder(4, 0, 2, 2)
