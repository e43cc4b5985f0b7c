"""Input checks shared by every public entry point: clear ValueErrors instead of deep crashes."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["check_batch", "check_finite", "check_same_batch"]


def check_finite(x: Tensor, name: str) -> None:
    """Raise ValueError if ``x`` has NaN or infinite entries, saying where the first one is."""
    bad = ~torch.isfinite(x)
    if bad.any():
        first = tuple(int(i) for i in bad.nonzero()[0])
        kind = "NaN" if torch.isnan(x).any() else "inf"
        raise ValueError(f"{name} contains {kind} values (first at index {first})")


def check_batch(
    x: Tensor,
    name: str,
    *,
    ranks: tuple[int, ...],
    min_size: int = 1,
    dims_named: str,
    allow_inf: bool = False,
) -> Tensor:
    """Validate a batched tensor and return it with a leading batch dimension.

    Args:
        x: the input.
        name: what to call it in error messages.
        ranks: accepted ranks of the *batched* input; an input of rank ``min(ranks) - 1`` is
            treated as a single sample and gets a batch dimension of 1.
        min_size: minimum size of every non-batch dimension.
        dims_named: the expected shape written out, e.g. ``"(B, N, D)"``, for error messages.
        allow_inf: accept ``+inf`` entries (e.g. missing edges of a distance matrix).
    """
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor {dims_named}, got {type(x).__name__}")
    if x.ndim == min(ranks) - 1:
        x = x.unsqueeze(0)
    if x.ndim not in ranks:
        raise ValueError(f"{name} must have shape {dims_named}, got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(x.shape)})")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {x.dtype}")
    if any(s < min_size for s in x.shape[1:]):
        raise ValueError(
            f"{name} has shape {tuple(x.shape)} {dims_named}: every dimension after the batch "
            f"must be at least {min_size}"
        )
    if allow_inf:
        if torch.isnan(x).any():
            raise ValueError(f"{name} contains NaN values")
        if (x == -torch.inf).any():
            raise ValueError(f"{name} contains -inf values")
    else:
        check_finite(x, name)
    return x


def check_same_batch(a: Tensor, b: Tensor, name_a: str, name_b: str) -> None:
    """Raise ValueError if two batched inputs disagree on the batch size."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same batch size, got {a.shape[0]} and "
            f"{b.shape[0]}"
        )
