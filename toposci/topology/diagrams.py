"""Batched persistence diagrams: one padded tensor and a mask per homology dimension.

A batch of ``B`` diagrams of one homology dimension is stored as

* ``values``: ``(B, M, 2)`` tensor of (birth, death) pairs, padded to the longest diagram,
* ``mask``: ``(B, M)`` boolean tensor, ``True`` where a row is a real point,
* ``dim``: the homology dimension (0 for components, 1 for loops, 2 for voids).

Padding rows hold ``(0, 0)`` so that any vectorization sees them as zero-persistence points;
code must still consult ``mask``.

Infinite bars (essential classes, e.g. the one H0 class of a connected point cloud) are kept with
death ``+inf`` by every filtration in :mod:`toposci.topology`. Nothing downstream guesses what to
do with them: call :meth:`Diagrams.drop_infinite` or :meth:`Diagrams.cap_infinite` first.
Vectorizations and distances raise a :class:`ValueError` when they meet one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["Diagrams"]


@dataclass(frozen=True)
class Diagrams:
    """Persistence diagrams of one homology dimension for a batch of inputs.

    Args:
        values: ``(B, M, 2)`` births and deaths; padding rows are ``(0, 0)``.
        mask: ``(B, M)`` boolean, ``True`` for real points.
        dim: homology dimension of every diagram in the batch.

    The values may carry gradients: filtrations in :mod:`toposci.topology` gather births and
    deaths from the input tensor, so ``values`` is a differentiable function of the input.
    """

    values: Tensor
    mask: Tensor
    dim: int

    def __post_init__(self) -> None:
        if self.values.ndim != 3 or self.values.shape[-1] != 2:
            raise ValueError(
                f"Diagrams.values must have shape (B, M, 2), got {tuple(self.values.shape)}"
            )
        if self.mask.shape != self.values.shape[:2]:
            raise ValueError(
                f"Diagrams.mask must have shape {tuple(self.values.shape[:2])} (B, M), "
                f"got {tuple(self.mask.shape)}"
            )
        if self.mask.dtype != torch.bool:
            raise ValueError(f"Diagrams.mask must be a bool tensor, got {self.mask.dtype}")
        if self.dim < 0:
            raise ValueError(f"homology dimension must be >= 0, got {self.dim}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(
        cls,
        arrays: Sequence[np.ndarray | Tensor | Sequence[Sequence[float]]],
        dim: int,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Diagrams:
        """Pad a list of ``(m_i, 2)`` arrays (numpy, torch or nested lists) into one batch.

        An empty list gives a batch of size 0; an array with no rows gives an empty diagram.
        """
        rows: list[Tensor] = []
        for i, arr in enumerate(arrays):
            if isinstance(arr, Tensor):
                t = arr.to(dtype=dtype, device=device)
            else:
                t = torch.as_tensor(np.asarray(arr, dtype=np.float64), dtype=dtype, device=device)
            if t.numel() == 0:
                t = t.reshape(0, 2)
            if t.ndim != 2 or t.shape[1] != 2:
                raise ValueError(f"diagram {i} must have shape (m, 2), got {tuple(t.shape)}")
            if torch.isnan(t).any():
                raise ValueError(f"diagram {i} contains NaN")
            rows.append(t)
        return cls.from_padded_list(rows, dim)

    @classmethod
    def from_padded_list(cls, rows: Sequence[Tensor], dim: int) -> Diagrams:
        """Stack ``(m_i, 2)`` tensors (keeping their autograd history) into a padded batch."""
        if len(rows) == 0:
            return cls(torch.zeros(0, 0, 2), torch.zeros(0, 0, dtype=torch.bool), dim)
        m = max(r.shape[0] for r in rows)
        ref = rows[0]
        values = ref.new_zeros(len(rows), m, 2)
        mask = torch.zeros(len(rows), m, dtype=torch.bool, device=ref.device)
        for i, r in enumerate(rows):
            values[i, : r.shape[0]] = r
            mask[i, : r.shape[0]] = True
        return cls(values, mask, dim)

    @classmethod
    def from_gudhi(
        cls,
        persistences: Iterable[Iterable[tuple[int, tuple[float, float]]]],
        dim: int,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Diagrams:
        """Build from GUDHI ``persistence()`` outputs, one list of ``(dim, (b, d))`` per input."""
        arrays = [
            np.array([bd for d, bd in pers if d == dim], dtype=np.float64).reshape(-1, 2)
            for pers in persistences
        ]
        return cls.from_arrays(arrays, dim, dtype=dtype, device=device)

    # ------------------------------------------------------------------ views
    @property
    def batch_size(self) -> int:
        return self.values.shape[0]

    @property
    def births(self) -> Tensor:
        """``(B, M)`` births (padding rows are 0)."""
        return self.values[..., 0]

    @property
    def deaths(self) -> Tensor:
        """``(B, M)`` deaths (padding rows are 0)."""
        return self.values[..., 1]

    @property
    def lifetimes(self) -> Tensor:
        """``(B, M)`` death minus birth, 0 on padding rows."""
        return (self.deaths - self.births).masked_fill(~self.mask, 0.0)

    @property
    def counts(self) -> Tensor:
        """``(B,)`` number of real points in each diagram."""
        return self.mask.sum(dim=1)

    def has_infinite(self) -> bool:
        return bool(torch.isinf(self.values[self.mask]).any())

    def to_arrays(self) -> list[np.ndarray]:
        """One ``(m_i, 2)`` float64 numpy array per diagram (padding removed, graph detached)."""
        vals = self.values.detach().cpu().double().numpy()
        mask = self.mask.cpu().numpy()
        return [vals[i][mask[i]] for i in range(self.batch_size)]

    def __len__(self) -> int:
        return self.batch_size

    def __getitem__(self, index: int | slice | Tensor) -> Diagrams:
        """Select diagrams along the batch dimension (an int keeps a batch of one)."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return Diagrams(self.values[index], self.mask[index], self.dim)

    def to(self, *args, **kwargs) -> Diagrams:
        """Move ``values`` like :meth:`torch.Tensor.to`; the mask follows the device only."""
        values = self.values.to(*args, **kwargs)
        return Diagrams(values, self.mask.to(values.device), self.dim)

    # ------------------------------------------------------------------ infinite bars
    def drop_infinite(self) -> Diagrams:
        """Remove every point with an infinite birth or death (e.g. the essential H0 class)."""
        keep = self.mask & torch.isfinite(self.values).all(dim=-1)
        return self._compact(keep)

    def cap_infinite(self, cap: float) -> Diagrams:
        """Replace ``+inf`` deaths by ``cap`` (a value the user chooses, e.g. the max edge)."""
        if not np.isfinite(cap):
            raise ValueError(f"cap must be finite, got {cap}")
        capped = torch.where(torch.isinf(self.values), torch.full_like(self.values, cap),
                             self.values)
        return Diagrams(capped, self.mask, self.dim)

    def drop_diagonal(self, eps: float = 0.0) -> Diagrams:
        """Remove points with lifetime ``<= eps`` (zero-persistence pairs from ties)."""
        keep = self.mask & ((self.deaths - self.births) > eps)
        return self._compact(keep)

    def _compact(self, keep: Tensor) -> Diagrams:
        """Keep rows where ``keep`` is True, shifting them to the front of each diagram."""
        # A stable sort on ~keep moves kept rows first and keeps their order.
        order = torch.sort((~keep).to(torch.uint8), dim=1, stable=True).indices  # (B, M)
        values = torch.gather(self.values, 1, order.unsqueeze(-1).expand(-1, -1, 2))
        mask = torch.gather(keep, 1, order)
        m = int(mask.sum(dim=1).max()) if mask.numel() else 0
        values = values[:, :m].masked_fill(~mask[:, :m].unsqueeze(-1), 0.0)
        return Diagrams(values, mask[:, :m], self.dim)

    def check_finite(self, what: str) -> None:
        """Raise a ValueError naming ``what`` if any real point is infinite."""
        if self.has_infinite():
            raise ValueError(
                f"{what} got a diagram (H{self.dim}) with infinite bars; call "
                ".drop_infinite() or .cap_infinite(value) on the Diagrams first"
            )
