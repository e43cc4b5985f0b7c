"""Point-cloud encoders (protein C-alpha clouds): PointNet and DGCNN-style EdgeConv.

Clouds come as a padded batch ``points (B, N, D)`` with an optional ``mask (B, N)`` (True on real
points). Padding points never act as neighbours and never enter the pooled feature; they must
still hold finite values (zeros, say). Both encoders are invariant to the order of the points
(up to ties between equally distant neighbours in DGCNN); neither is invariant to rotations.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from toposci._validation import check_batch
from toposci.nn.mlp import MLP, _check_size, _check_sizes, _describe

__all__ = ["DGCNNEncoder", "PointNetEncoder", "knn_indices"]


def _check_points(points: Tensor, name: str, in_features: int | None = None) -> Tensor:
    """Validated points ``(B, N, D)`` (one cloud ``(N, D)`` gets ``B = 1``)."""
    points = check_batch(points, name, ranks=(3,), dims_named="(B, N, D)")
    if in_features is not None and points.shape[2] != in_features:
        raise ValueError(f"{name} has D = {points.shape[2]} coordinates per point, the encoder "
                         f"expects {in_features}")
    return points


def _check_mask(mask: Tensor | None, B: int, N: int, device: torch.device,
                name: str = "mask") -> Tensor:
    """Validated point mask ``(B, N)`` bool (``(N,)`` when ``B = 1``); all True when None."""
    if mask is None:
        return torch.ones(B, N, dtype=torch.bool, device=device)
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        raise ValueError(f"{name} must be a bool tensor (B, N) = {(B, N)}, got {_describe(mask)}")
    if mask.ndim == 1 and B == 1:
        mask = mask.unsqueeze(0)
    if tuple(mask.shape) != (B, N):
        raise ValueError(f"{name} must have shape (B, N) = {(B, N)}, got {tuple(mask.shape)}")
    empty = (~mask.any(dim=1)).nonzero()
    if len(empty):
        raise ValueError(f"{name} leaves cloud {int(empty[0])} without any point")
    return mask.to(device)


def _knn(x: Tensor, k: int, valid: Tensor) -> Tensor:
    """:func:`knn_indices` on validated ``x (B, N, D)`` and ``valid (B, N)``; ``(B, N, k)``."""
    B, N, _ = x.shape
    with torch.no_grad():
        dist = torch.cdist(x, x)  # (B, N, N)
        eye = torch.eye(N, dtype=torch.bool, device=x.device)
        dist = dist.masked_fill(eye | ~valid.unsqueeze(1), torch.inf)  # (B, N, N)
        found = min(k, N)
        values, index = dist.topk(found, dim=2, largest=False)  # (B, N, found), ascending
        itself = torch.arange(N, device=x.device).view(1, N, 1).expand(B, N, 1)  # (B, N, 1)
        nearest = torch.where(torch.isfinite(values[..., :1]), index[..., :1], itself)
        index = torch.where(torch.isfinite(values), index, nearest)  # (B, N, found)
        if k > found:
            index = torch.cat([index, nearest.expand(B, N, k - found)], dim=2)  # (B, N, k)
    return index


def knn_indices(x: Tensor, k: int, *, mask: Tensor | None = None) -> Tensor:
    """Indices of the ``k`` nearest neighbours of every point, within its own cloud.

    Neighbours are ordered nearest first (Euclidean distance, ``torch.cdist``); a point is never
    its own neighbour and padding points are never neighbours. A point with fewer than ``k``
    valid neighbours (a cloud of at most ``k`` real points) fills the remaining places with its
    nearest valid neighbour, repeated; a point with no valid neighbour at all (the only real
    point of its cloud) gets its own index in every place. Rows of padding points are computed
    the same way (their neighbours are real points) and are meant to be ignored. Ties are
    broken by ``torch.topk``. Not differentiable (indices).

    Args:
        x: ``(B, N, D)`` points or per-point features (``(N, D)`` is one cloud).
        k: neighbours per point, ``k >= 1`` (may exceed ``N - 1``, see above).
        mask: ``(B, N)`` bool, True on real points; None means all real.

    Returns:
        ``(B, N, k)`` long indices into the ``N`` axis.

    Raises:
        ValueError: wrong rank, empty batch, NaN / inf, a bad ``k`` or mask, a cloud without
            real points.
    """
    x = _check_points(x, "x")
    B, N, _ = x.shape
    _check_size(k, "k")
    return _knn(x, k, _check_mask(mask, B, N, x.device))


def _masked_max(h: Tensor, valid: Tensor) -> Tensor:
    """Max over real points: ``h (B, N, H)``, ``valid (B, N)`` -> ``(B, H)``."""
    return h.masked_fill(~valid.unsqueeze(2), -torch.inf).amax(dim=1)


def _masked_mean(h: Tensor, valid: Tensor) -> Tensor:
    """Mean over real points: ``h (B, N, H)``, ``valid (B, N)`` -> ``(B, H)``."""
    weights = valid.unsqueeze(2).to(h)  # (B, N, 1)
    return (h * weights).sum(dim=1) / weights.sum(dim=1)


class PointNetEncoder(nn.Module):
    """A shared per-point MLP, max-pooled over the real points, then a Linear layer.

    Args:
        in_features: ``D``, coordinates (or features) per point.
        hidden: widths of the per-point layers (each followed by SiLU); the last is the width
            of the pooled feature.
        out_features: width of the output vector.

    Shapes:
        input ``points (B, N, D)``, ``mask (B, N)`` bool or None; output ``(B, out_features)``.
    """

    def __init__(self, in_features: int = 3, *, hidden: Sequence[int] = (64, 128, 256),
                 out_features: int = 128) -> None:
        super().__init__()
        _check_size(in_features, "in_features")
        _check_size(out_features, "out_features")
        widths = _check_sizes(hidden, "hidden", min_length=1)
        self.in_features = in_features
        self.out_features = out_features
        self.point_mlp = MLP(in_features, widths[:-1], widths[-1])
        self.activation = nn.SiLU()
        self.head = nn.Linear(widths[-1], out_features)

    def forward(self, points: Tensor, mask: Tensor | None = None) -> Tensor:
        """Encode each cloud as one vector.

        Args:
            points: ``(B, N, D)`` float (``(N, D)`` is one cloud).
            mask: ``(B, N)`` bool, True on real points; None means all real.

        Returns:
            ``(B, out_features)``.

        Raises:
            ValueError: wrong rank or ``D``, empty batch, NaN / inf, a bad mask.
        """
        points = _check_points(points, "points", self.in_features)
        B, N, _ = points.shape
        valid = _check_mask(mask, B, N, points.device)
        h = self.activation(self.point_mlp.layers(points))  # (B, N, H)
        return self.head(_masked_max(h, valid))  # (B, out_features)


class _EdgeConv(nn.Module):
    """One EdgeConv layer: ``h'_i = silu(max_j MLP(h_i, h_j - h_i))`` over given neighbours.

    The MLP's first Linear on ``(h_i, h_j - h_i)`` is ``A h_i + C (h_j - h_i) + b``, computed
    as ``(A - C) h_i + b`` per point plus ``C h_j`` per point gathered by neighbour, so the
    ``(B, N, k, 2 F)`` edge tensor is never built (the same functions, ``k`` times fewer
    products in the first layer).
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.centre = nn.Linear(in_features, out_features)  # (A - C) and b
        self.neighbour = nn.Linear(in_features, out_features, bias=False)  # C
        self.out = nn.Linear(out_features, out_features)
        self.activation = nn.SiLU()

    def forward(self, h: Tensor, neighbours: Tensor) -> Tensor:
        """``h (B, N, F)``, ``neighbours (B, N, k)`` long -> ``(B, N, F')``."""
        B = h.shape[0]
        cloud = torch.arange(B, device=h.device).view(B, 1, 1)  # (B, 1, 1)
        gathered = self.neighbour(h)[cloud, neighbours]  # (B, N, k, F')
        edges = self.activation(self.centre(h).unsqueeze(2) + gathered)  # (B, N, k, F')
        return self.activation(self.out(edges).amax(dim=2))  # (B, N, F')


class DGCNNEncoder(nn.Module):
    """EdgeConv layers on a dynamic kNN graph, max+mean pooled over the real points.

    Layer ``l`` finds the ``k`` nearest neighbours of every point in the current feature space
    (the coordinates for the first layer), computes ``MLP(h_i, h_j - h_i)`` for each neighbour
    ``j`` (two Linear layers of width ``hidden[l]`` with SiLU between), takes the maximum over
    the neighbours and applies SiLU. The states of all layers are concatenated per point,
    pooled by a masked max and a masked mean, and a Linear layer maps the result to
    ``out_features``.

    Args:
        in_features: ``D``, coordinates (or features) per point.
        k: neighbours per point (see :func:`knn_indices` for clouds with fewer points).
        hidden: widths of the EdgeConv layers.
        out_features: width of the output vector.

    Shapes:
        input ``points (B, N, D)``, ``mask (B, N)`` bool or None; output ``(B, out_features)``.
    """

    def __init__(self, in_features: int = 3, *, k: int = 16,
                 hidden: Sequence[int] = (64, 64, 128), out_features: int = 128) -> None:
        super().__init__()
        _check_size(in_features, "in_features")
        _check_size(k, "k")
        _check_size(out_features, "out_features")
        widths = _check_sizes(hidden, "hidden", min_length=1)
        self.in_features = in_features
        self.k = k
        self.out_features = out_features
        self.edge_convs = nn.ModuleList(
            _EdgeConv(width_in, width)
            for width_in, width in zip((in_features, *widths[:-1]), widths)
        )
        self.head = nn.Linear(2 * sum(widths), out_features)

    def forward(self, points: Tensor, mask: Tensor | None = None) -> Tensor:
        """Encode each cloud as one vector.

        Args:
            points: ``(B, N, D)`` float (``(N, D)`` is one cloud).
            mask: ``(B, N)`` bool, True on real points; None means all real.

        Returns:
            ``(B, out_features)``.

        Raises:
            ValueError: wrong rank or ``D``, empty batch, NaN / inf, a bad mask.
        """
        points = _check_points(points, "points", self.in_features)
        B, N, _ = points.shape
        valid = _check_mask(mask, B, N, points.device)
        h = points  # (B, N, F)
        states = []
        for edge_conv in self.edge_convs:
            h = edge_conv(h, _knn(h.detach(), self.k, valid))  # (B, N, F')
            states.append(h)
        h = torch.cat(states, dim=2)  # (B, N, sum(hidden))
        pooled = torch.cat([_masked_max(h, valid), _masked_mean(h, valid)], dim=1)  # (B, 2 sum)
        return self.head(pooled)  # (B, out_features)
