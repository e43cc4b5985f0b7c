"""Graph isomorphism network encoders: molecules (GINE, with bond features) and social graphs (GIN).

Both read PyG graphs (``x [N, F]``, ``edge_index [2, E]``, ``batch [N]``, and for GINE
``edge_attr [E, Fe]``), run ``layers`` message-passing layers of width ``hidden``, and read out
one vector per graph: the sum- and the mean-pooled node states of *every* layer, concatenated
(jumping knowledge), then a Linear layer to ``out_features``. Sum and mean pooling make the
output invariant to the order of the nodes; sum pooling keeps the graph size visible.

With ``positions=P > 0`` each node also sees the one-hot of its index in its graph's node order.
The output then depends on that order, which is what a VAE with a one-shot decoder in a
*canonical* node order needs: when the order is canonical (molecules parsed from canonical
SMILES), the encoder is told the slot each atom must be decoded into instead of having to learn
the canonicalization, and it stays a function of the molecule alone.

The layers are PyG's :class:`~torch_geometric.nn.GINEConv` / :class:`~torch_geometric.nn.GINConv`
and pooling is PyG's ``global_add_pool`` / ``global_mean_pool``; without torch-scatter they run
on torch's own scatter, which is all this module needs.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import GINConv, GINEConv, global_add_pool, global_mean_pool

from toposci._validation import check_finite
from toposci.nn.mlp import MLP, _check_size, _describe

__all__ = ["GINEEncoder", "GINEncoder"]


def _graph_tensors(
    batch: Data, node_features: int, edge_features: int | None
) -> tuple[Tensor, Tensor, Tensor | None, Tensor, int]:
    """Validated ``x (N, F)``, ``edge_index (2, E)``, ``edge_attr (E, Fe)``, ``batch (N,)``, ``B``.

    ``edge_attr`` is None when ``edge_features`` is None (GIN ignores bond features). A graph
    given without ``edge_index`` has no edges; a ``Data`` without ``batch`` is one graph.
    """
    if not isinstance(batch, Data):
        raise ValueError(f"expected a torch_geometric Data or Batch, got {type(batch).__name__}")
    x = batch.x
    if not isinstance(x, Tensor) or x.ndim != 2 or not x.is_floating_point():
        raise ValueError(f"batch.x must be a float tensor (N, {node_features}), got "
                         f"{_describe(x)}")
    N, F = x.shape
    if F != node_features:
        raise ValueError(f"batch.x has {F} node features, the encoder expects {node_features}")
    if N == 0:
        raise ValueError("the batch has no nodes (an empty batch or only empty graphs)")
    check_finite(x, "batch.x")

    edge_index = batch.edge_index
    if edge_index is None:
        edge_index = torch.zeros(2, 0, dtype=torch.long, device=x.device)  # (2, 0): no edges
    if (not isinstance(edge_index, Tensor) or edge_index.ndim != 2 or edge_index.shape[0] != 2
            or edge_index.dtype != torch.long):
        raise ValueError(f"batch.edge_index must be a long tensor (2, E), got "
                         f"{_describe(edge_index)}")
    E = edge_index.shape[1]
    if E and (int(edge_index.min()) < 0 or int(edge_index.max()) >= N):
        raise ValueError(f"batch.edge_index has node indices outside [0, {N}) "
                         f"(min {int(edge_index.min())}, max {int(edge_index.max())})")

    edge_attr = None
    if edge_features is not None:
        edge_attr = batch.edge_attr
        if edge_attr is None and E == 0:
            edge_attr = x.new_zeros(0, edge_features)  # (0, Fe)
        if (not isinstance(edge_attr, Tensor) or not edge_attr.is_floating_point()
                or tuple(edge_attr.shape) != (E, edge_features)):
            raise ValueError(f"batch.edge_attr must be a float tensor (E, Fe) = "
                             f"{(E, edge_features)}, got {_describe(edge_attr)}")
        check_finite(edge_attr, "batch.edge_attr")

    index = batch.batch
    if index is None:
        return x, edge_index, edge_attr, torch.zeros(N, dtype=torch.long, device=x.device), 1
    if not isinstance(index, Tensor) or index.shape != (N,) or index.dtype != torch.long:
        raise ValueError(f"batch.batch must be a long tensor (N,) = ({N},), got "
                         f"{_describe(index)}")
    if int(index.min()) < 0:
        raise ValueError("batch.batch has negative graph indices")
    B = getattr(batch, "num_graphs", None) or int(index.max()) + 1
    if int(index.max()) >= B:
        raise ValueError(f"batch.batch names graph {int(index.max())} of a batch of {B} graphs")
    return x, edge_index, edge_attr, index, B


def _readout(states: list[Tensor], index: Tensor, B: int) -> Tensor:
    """Sum- and mean-pool each layer's node states ``(N, H)``; return ``(B, 2 * H * layers)``.

    A graph without nodes (possible inside a Batch) pools to zeros.
    """
    pooled = []
    for h in states:
        pooled.append(global_add_pool(h, index, size=B))  # (B, H)
        pooled.append(global_mean_pool(h, index, size=B))  # (B, H)
    return torch.cat(pooled, dim=1)


def _position_one_hot(index: Tensor, B: int, P: int) -> Tensor:
    """``(N, P)`` one-hot of each node's index within its graph; nodes of a graph must be
    contiguous in ``index`` (as PyG batches them)."""
    if index.numel() > 1 and bool((index.diff() < 0).any()):
        raise ValueError("positional features need each graph's nodes to be contiguous and "
                         "graphs in order (as in a PyG Batch)")
    counts = torch.bincount(index, minlength=B)  # (B,)
    if int(counts.max()) > P:
        raise ValueError(f"a graph has {int(counts.max())} nodes, more than the encoder's "
                         f"positions={P}")
    start = torch.cumsum(counts, 0) - counts  # (B,) first node of each graph
    position = torch.arange(index.numel(), device=index.device) - start[index]  # (N,)
    return nn.functional.one_hot(position, P)


class GINEEncoder(nn.Module):
    """GINE layers over atoms and bonds, jumping-knowledge sum+mean readout (molecules).

    Layer ``l`` computes ``h' = silu(MLP((1 + eps) h_i + sum_j relu(h_j + W e_ji)))`` with a
    two-layer MLP of width ``hidden`` and a Linear ``W`` mapping bond features to the layer's
    input width (PyG's GINEConv, ``eps = 0``). With ``edge_features=None`` the layers are
    plain GIN, ``h' = silu(MLP((1 + eps) h_i + sum_j h_j))`` (PyG's GINConv; see
    :class:`GINEncoder`), and ``batch.edge_attr``, if any, is ignored.

    Args:
        node_features: ``F``, width of ``batch.x``.
        edge_features: ``Fe``, width of ``batch.edge_attr``, or None for GIN layers.
        hidden: ``H``, width of every layer.
        layers: number of layers.
        out_features: width of the output vector.
        positions: ``P``; when > 0, the one-hot of each node's index in its graph is appended
            to its features (graphs must have at most ``P`` nodes).

    Shapes:
        input: a PyG ``Batch`` (or one ``Data``, ``B = 1``) with ``x (N, F)``,
        ``edge_index (2, E)`` long, ``edge_attr (E, Fe)``, ``batch (N,)``;
        output ``(B, out_features)``.
    """

    def __init__(self, node_features: int, edge_features: int | None, *, hidden: int = 128,
                 layers: int = 4, out_features: int = 128, positions: int = 0) -> None:
        super().__init__()
        for value, name in ((node_features, "node_features"), (hidden, "hidden"),
                            (layers, "layers"), (out_features, "out_features")):
            _check_size(value, name)
        if edge_features is not None:
            _check_size(edge_features, "edge_features")
        if positions < 0:
            raise ValueError(f"positions must be >= 0, got {positions}")
        self.node_features = node_features
        self.edge_features = edge_features
        self.out_features = out_features
        self.positions = positions
        widths = (node_features + positions, *([hidden] * (layers - 1)))
        self.convs = nn.ModuleList(
            GINConv(MLP(width, (hidden,), hidden).layers) if edge_features is None else
            GINEConv(MLP(width, (hidden,), hidden).layers, edge_dim=edge_features)
            for width in widths
        )
        self.activation = nn.SiLU()
        self.head = nn.Linear(2 * hidden * layers, out_features)

    def forward(self, batch: Data) -> Tensor:
        """Encode each graph of ``batch`` as one vector.

        Args:
            batch: PyG ``Batch`` of ``B`` graphs, or one ``Data`` (``B = 1``); graphs without
                edges are fine.

        Returns:
            ``(B, out_features)``.

        Raises:
            ValueError: not a PyG graph, no nodes, wrong feature widths, wrong dtypes or index
                ranges, NaN / inf features, a graph with more nodes than ``positions``.
        """
        x, edge_index, edge_attr, index, B = _graph_tensors(
            batch, self.node_features, self.edge_features)
        if self.positions:
            x = torch.cat([x, _position_one_hot(index, B, self.positions).to(x.dtype)], dim=1)
        states = []
        h = x  # (N, F)
        for conv in self.convs:
            out = conv(h, edge_index) if edge_attr is None else conv(h, edge_index, edge_attr)
            h = self.activation(out)  # (N, H)
            states.append(h)
        return self.head(_readout(states, index, B))  # (B, out_features)


class GINEncoder(GINEEncoder):
    """GIN layers over nodes only, jumping-knowledge sum+mean readout (social graphs):
    :class:`GINEEncoder` without edge features.

    Shapes:
        input: a PyG ``Batch`` (or one ``Data``, ``B = 1``) with ``x (N, F)``,
        ``edge_index (2, E)`` long, ``batch (N,)``; output ``(B, out_features)``.
    """

    def __init__(self, node_features: int, *, hidden: int = 128, layers: int = 4,
                 out_features: int = 128) -> None:
        super().__init__(node_features, None, hidden=hidden, layers=layers,
                         out_features=out_features)
