"""One-shot graph decoder: a latent code to node-class and edge-class logits of a dense graph.

Conventions (shared with the dense batches of :mod:`toposci.domains.molecules`):

* ``N`` node slots per graph; node classes include a "no node" class (which index is the
  caller's business, e.g. ``ATOM_PAD`` for molecules).
* Edge class 0 means "no edge"; classes ``1 .. C_edge - 1`` are edge types (bond orders).
* Edge logits are exactly symmetric: the decoder predicts the strict upper triangle
  (``N (N - 1) / 2`` pairs) and mirrors it. The diagonal (self-loops) is not predicted: its
  logits are 0 for class 0 and :data:`DIAGONAL_LOGIT` for every other class, so its argmax and
  (to float precision) its softmax say "no edge".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from toposci._validation import check_batch, check_finite
from toposci.nn.mlp import MLP, _check_size, _check_sizes, _describe

__all__ = [
    "DIAGONAL_LOGIT",
    "GraphLogits",
    "OneShotGraphDecoder",
    "graph_reconstruction_loss",
    "symmetric_edge_probabilities",
]

DIAGONAL_LOGIT = -1.0e4  # logit of edge classes >= 1 on the diagonal; exp() underflows to 0


class GraphLogits(NamedTuple):
    """Unnormalised class scores of a batch of dense graphs.

    Shapes:
        ``node (B, N, C_node)``; ``edge (B, N, N, C_edge)``, symmetric in its two node axes.
    """

    node: Tensor
    edge: Tensor


class OneShotGraphDecoder(nn.Module):
    """An MLP from a latent code to all node and edge logits of a graph at once.

    Args:
        latent_dim: ``d``, width of the codes.
        max_nodes: ``N``, node slots per graph.
        node_classes: ``C_node >= 2``, including the "no node" class.
        edge_classes: ``C_edge >= 2``, class 0 = "no edge".
        hidden: widths of the MLP's hidden layers.
        dropout: dropout after each hidden layer.

    Shapes:
        input ``z (B, d)``; output :class:`GraphLogits` with ``node (B, N, C_node)`` and
        ``edge (B, N, N, C_edge)``.
    """

    def __init__(self, latent_dim: int, max_nodes: int, node_classes: int, edge_classes: int,
                 *, hidden: Sequence[int] = (256, 512), dropout: float = 0.0) -> None:
        super().__init__()
        _check_size(latent_dim, "latent_dim")
        _check_size(max_nodes, "max_nodes")
        _check_size(node_classes, "node_classes", minimum=2)
        _check_size(edge_classes, "edge_classes", minimum=2)
        self.latent_dim = latent_dim
        self.max_nodes = max_nodes
        self.node_classes = node_classes
        self.edge_classes = edge_classes
        pairs = max_nodes * (max_nodes - 1) // 2
        self.mlp = MLP(latent_dim, _check_sizes(hidden, "hidden"),
                       max_nodes * node_classes + pairs * edge_classes, dropout=dropout)
        rows, cols = torch.triu_indices(max_nodes, max_nodes, offset=1)  # (P,), (P,)
        self.register_buffer("_rows", rows, persistent=False)
        self.register_buffer("_cols", cols, persistent=False)

    def forward(self, z: Tensor) -> GraphLogits:
        """Decode codes into node and symmetric edge logits.

        Args:
            z: ``(B, d)`` float codes (``(d,)`` is one code).

        Returns:
            :class:`GraphLogits`, ``node (B, N, C_node)``, ``edge (B, N, N, C_edge)``.

        Raises:
            ValueError: wrong shape, empty batch, non-float or NaN / inf codes.
        """
        z = check_batch(z, "z", ranks=(2,), dims_named=f"(B, {self.latent_dim})")
        if z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        B, N, Cn, Ce = z.shape[0], self.max_nodes, self.node_classes, self.edge_classes
        out = self.mlp.layers(z)  # (B, N * Cn + P * Ce)
        node = out[:, : N * Cn].reshape(B, N, Cn)  # (B, N, Cn)
        upper = out[:, N * Cn :].reshape(B, -1, Ce)  # (B, P, Ce)
        diagonal = torch.full((Ce,), DIAGONAL_LOGIT, dtype=out.dtype, device=out.device)
        diagonal[0] = 0.0
        edge = diagonal.expand(B, N, N, Ce).clone()  # (B, N, N, Ce)
        edge[:, self._rows, self._cols] = upper
        edge[:, self._cols, self._rows] = upper
        return GraphLogits(node, edge)


def _check_logits(logits: GraphLogits) -> tuple[int, int, int, int]:
    """Validate :class:`GraphLogits`; return ``(B, N, C_node, C_edge)``."""
    if not isinstance(logits, tuple) or len(logits) != 2:
        raise ValueError(f"expected GraphLogits(node, edge), got {type(logits).__name__}")
    node, edge = logits
    for value, name, rank in ((node, "logits.node", 3), (edge, "logits.edge", 4)):
        if not isinstance(value, Tensor) or value.ndim != rank or not value.is_floating_point():
            raise ValueError(f"{name} must be a float tensor of rank {rank}, got "
                             f"{_describe(value)}")
    B, N, Cn = node.shape
    if B == 0 or N == 0:
        raise ValueError(f"logits.node is empty (shape {tuple(node.shape)})")
    if edge.shape[:3] != (B, N, N):
        raise ValueError(f"logits.edge must have shape (B, N, N, C_edge) with (B, N) = {(B, N)} "
                         f"from logits.node, got {tuple(edge.shape)}")
    check_finite(node, "logits.node")
    check_finite(edge, "logits.edge")
    return B, N, Cn, edge.shape[3]


def _check_target(target: Tensor, name: str, shape: tuple[int, ...], classes: int) -> None:
    if not isinstance(target, Tensor) or target.dtype != torch.long:
        raise ValueError(f"{name} must be a long tensor of shape {shape}, got "
                         f"{_describe(target)}")
    if tuple(target.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(target.shape)}")
    if int(target.min()) < 0 or int(target.max()) >= classes:
        raise ValueError(f"{name} has class indices outside [0, {classes}) "
                         f"(min {int(target.min())}, max {int(target.max())})")


def graph_reconstruction_loss(logits: GraphLogits, node_target: Tensor, edge_target: Tensor, *,
                              node_weight: float = 1.0, edge_weight: float = 1.0) -> Tensor:
    """Cross-entropy of a dense graph batch, summed per graph.

    ``loss[b] = node_weight * sum_i CE(node[b, i], node_target[b, i])
    + edge_weight * sum_{i < j} CE(edge[b, i, j], edge_target[b, i, j])``: every node slot
    (padding slots must predict the "no node" class) and every pair once. Only the strict upper
    triangle of ``edge_target`` is read; its diagonal and lower triangle are ignored.

    Args:
        logits: decoder output, ``node (B, N, C_node)``, ``edge (B, N, N, C_edge)``.
        node_target: ``(B, N)`` long node classes in ``[0, C_node)``.
        edge_target: ``(B, N, N)`` long edge classes in ``[0, C_edge)``, 0 = no edge.
        node_weight: weight of the node term.
        edge_weight: weight of the edge term.

    Returns:
        ``(B,)`` per-graph losses (natural log).

    Raises:
        ValueError: shapes that disagree, targets that are not long or out of range,
            NaN / inf logits.
    """
    B, N, Cn, Ce = _check_logits(logits)
    _check_target(node_target, "node_target", (B, N), Cn)
    _check_target(edge_target, "edge_target", (B, N, N), Ce)
    rows, cols = torch.triu_indices(N, N, offset=1, device=logits.edge.device)  # (P,), (P,)
    edge_logits = logits.edge[:, rows, cols]  # (B, P, Ce)
    node_ce = F.cross_entropy(logits.node.reshape(B * N, Cn), node_target.reshape(B * N),
                              reduction="none").reshape(B, N)  # (B, N)
    P = rows.numel()
    edge_ce = F.cross_entropy(edge_logits.reshape(B * P, Ce),
                              edge_target[:, rows, cols].reshape(B * P),
                              reduction="none").reshape(B, P)  # (B, P)
    return node_weight * node_ce.sum(dim=1) + edge_weight * edge_ce.sum(dim=1)


def symmetric_edge_probabilities(logits: GraphLogits) -> Tensor:
    """Softmax of the edge logits over classes, with an exact "no edge" diagonal.

    Off the diagonal this is ``softmax(logits.edge, dim=-1)`` (symmetric when the logits are);
    on the diagonal it is exactly ``1`` for class 0 and ``0`` for the others, whatever the
    diagonal logits are (graphs have no self-loops).

    Args:
        logits: ``edge (B, N, N, C_edge)`` is used; ``node`` only for shape checks.

    Returns:
        ``(B, N, N, C_edge)`` probabilities summing to 1 over the last axis.
    """
    _, N, _, Ce = _check_logits(logits)
    probs = torch.softmax(logits.edge, dim=-1)  # (B, N, N, Ce)
    eye = torch.eye(N, dtype=torch.bool, device=probs.device).view(1, N, N, 1)
    no_edge = F.one_hot(torch.zeros((), dtype=torch.long, device=probs.device), Ce).to(probs)
    return torch.where(eye, no_edge, probs)  # (B, N, N, Ce)
