"""Point-set decoder (protein C-alpha traces) and the Chamfer distance it is trained with."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from toposci import _optional
from toposci._validation import check_batch, check_same_batch
from toposci.nn.mlp import MLP, _check_size, _check_sizes
from toposci.nn.point_encoders import _check_mask, _check_points

__all__ = ["PointSetDecoder", "chamfer_distance"]


class PointSetDecoder(nn.Module):
    """An MLP from a latent code to an ordered sequence of ``num_points`` points.

    The output order is meaningful to callers that want it (proteins read it as the chain
    order); :func:`chamfer_distance` ignores it.

    Args:
        latent_dim: ``d``, width of the codes.
        num_points: ``N``, points per output cloud.
        point_dim: ``D``, coordinates per point.
        hidden: widths of the MLP's hidden layers.

    Shapes:
        input ``z (B, d)``; output ``(B, N, D)``.
    """

    def __init__(self, latent_dim: int, num_points: int, *, point_dim: int = 3,
                 hidden: Sequence[int] = (256, 512)) -> None:
        super().__init__()
        _check_size(latent_dim, "latent_dim")
        _check_size(num_points, "num_points")
        _check_size(point_dim, "point_dim")
        self.latent_dim = latent_dim
        self.num_points = num_points
        self.point_dim = point_dim
        self.mlp = MLP(latent_dim, _check_sizes(hidden, "hidden"), num_points * point_dim)

    def forward(self, z: Tensor) -> Tensor:
        """Decode codes into point clouds.

        Args:
            z: ``(B, d)`` float codes (``(d,)`` is one code).

        Returns:
            ``(B, N, D)`` points.

        Raises:
            ValueError: wrong shape, empty batch, non-float or NaN / inf codes.
        """
        z = check_batch(z, "z", ranks=(2,), dims_named=f"(B, {self.latent_dim})")
        if z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        B = z.shape[0]
        return self.mlp.layers(z).reshape(B, self.num_points, self.point_dim)  # (B, N, D)


def _is_prefix(mask: Tensor) -> bool:
    """Whether every row of ``mask (B, N)`` is True on a prefix and False after it."""
    lengths = mask.sum(dim=1, keepdim=True)  # (B, 1)
    prefix = torch.arange(mask.shape[1], device=mask.device).unsqueeze(0) < lengths  # (B, N)
    return bool((prefix == mask).all())


def _chamfer_torch(x: Tensor, y: Tensor, x_valid: Tensor, y_valid: Tensor) -> Tensor:
    """Pure-torch Chamfer distance on validated input; ``(B,)``."""
    d2 = torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist").square()  # (B, N, M)
    to_y = d2.masked_fill(~y_valid.unsqueeze(1), torch.inf).amin(dim=2)  # (B, N)
    to_x = d2.masked_fill(~x_valid.unsqueeze(2), torch.inf).amin(dim=1)  # (B, M)
    x_weight, y_weight = x_valid.to(d2), y_valid.to(d2)  # (B, N), (B, M)
    x_term = (to_y * x_weight).sum(dim=1) / x_weight.sum(dim=1)  # (B,)
    y_term = (to_x * y_weight).sum(dim=1) / y_weight.sum(dim=1)  # (B,)
    return x_term + y_term


def _chamfer_pytorch3d(x: Tensor, y: Tensor, x_valid: Tensor, y_valid: Tensor) -> Tensor:
    """pytorch3d's Chamfer distance (prefix masks as lengths); ``(B,)``."""
    from pytorch3d.loss import chamfer_distance as p3d_chamfer

    loss, _ = p3d_chamfer(x, y, x_lengths=x_valid.sum(dim=1), y_lengths=y_valid.sum(dim=1),
                          batch_reduction=None, point_reduction="mean")
    return loss


def chamfer_distance(x: Tensor, y: Tensor, *, x_mask: Tensor | None = None,
                     y_mask: Tensor | None = None) -> Tensor:
    """Symmetric Chamfer distance between two batches of point clouds, per cloud.

    ``cd[b] = mean_{i real in x_b} min_{j real in y_b} |x_bi - y_bj|^2
    + mean_{j real in y_b} min_{i real in x_b} |x_bi - y_bj|^2`` (squared Euclidean
    distances; pytorch3d's ``chamfer_distance`` with ``batch_reduction=None``,
    ``point_reduction="mean"``).

    When pytorch3d is installed (``toposci._optional.WITH_PYTORCH3D``) and every mask is a
    prefix mask (real points first, padding after: pytorch3d takes lengths, not masks), its
    implementation is used; otherwise a pure-torch one (``torch.cdist``, ``O(B N M)`` memory)
    gives the same numbers. Differentiable in ``x`` and ``y`` (the gradient of the minimum goes
    to the nearest point; at ties, to the one ``amin`` picks).

    Args:
        x: ``(B, N, D)`` points (``(N, D)`` is one cloud).
        y: ``(B, M, D)`` points.
        x_mask: ``(B, N)`` bool, True on real points of ``x``; None means all real.
        y_mask: ``(B, M)`` bool, True on real points of ``y``; None means all real.

    Returns:
        ``(B,)`` distances.

    Raises:
        ValueError: wrong ranks, batch sizes or ``D`` that disagree, empty batch, NaN / inf,
            a bad mask or a cloud without real points.
    """
    x = _check_points(x, "x")
    y = _check_points(y, "y")
    check_same_batch(x, y, "x", "y")
    (B, N, D), M = x.shape, y.shape[1]
    if y.shape[2] != D:
        raise ValueError(f"x and y must have the same point dimension D, got {D} and "
                         f"{y.shape[2]}")
    x_valid = _check_mask(x_mask, B, N, x.device, "x_mask")
    y_valid = _check_mask(y_mask, B, M, y.device, "y_mask")
    if _optional.WITH_PYTORCH3D and _is_prefix(x_valid) and _is_prefix(y_valid):
        return _chamfer_pytorch3d(x, y, x_valid, y_valid)
    return _chamfer_torch(x, y, x_valid, y_valid)
