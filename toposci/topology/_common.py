"""Helpers shared by the filtrations: dimension checks, a thread map, gathering by index."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

from toposci.topology.diagrams import Diagrams
from toposci.topology.native._threads import shared_pool

__all__ = ["check_homology_dims", "diagrams_from_index", "thread_map"]

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")

def check_homology_dims(homology_dims: Iterable[int], *, max_dim: int, what: str) -> list[int]:
    """Validate requested homology dimensions: distinct ints in ``0 .. max_dim``."""
    dims = list(homology_dims)
    if not dims:
        raise ValueError("homology_dims is empty: ask for at least one dimension, e.g. (0, 1)")
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise ValueError(f"homology dimensions must be ints, got {d!r}")
        if not 0 <= d <= max_dim:
            raise ValueError(
                f"homology dimension {d} is not available for {what}: valid dimensions are "
                f"0 .. {max_dim}")
    if len(set(dims)) != len(dims):
        raise ValueError(f"homology_dims has repeated entries: {dims}")
    return [int(d) for d in dims]


def thread_map(fn: Callable[[_Item], _Result], items: list[_Item],
               n_jobs: int | None) -> list[_Result]:
    """``[fn(x) for x in items]``, on ``n_jobs`` threads (``None``: every CPU) when it helps."""
    if n_jobs is not None and n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive int or None, got {n_jobs}")
    workers = min(n_jobs or os.cpu_count() or 1, len(items))
    if workers <= 1:
        return [fn(x) for x in items]
    # One contiguous chunk per thread: far less hand-over than one task per item.
    bounds = np.linspace(0, len(items), workers + 1).astype(int)
    chunks = [items[lo:hi] for lo, hi in itertools.pairwise(bounds)]
    done = shared_pool(workers).map(lambda chunk: [fn(x) for x in chunk], chunks)
    return [result for chunk in done for result in chunk]


def diagrams_from_index(source: Tensor, rows: Sequence[np.ndarray], dim: int, *,
                        negate: bool = False) -> Diagrams:
    """Gather (birth, death) values from a flat tensor by index and pad them into a batch.

    Args:
        source: flat tensor of filtration values (the autograd graph flows through it).
        rows: one integer array per diagram, ``(m_b, 2)`` indices into ``source``; a death index
            of ``-1`` marks an essential class (death ``+inf``).
        dim: homology dimension of the diagrams.
        negate: negate the gathered values (superlevel filtrations); infinite deaths become
            ``-inf``.

    Shapes:
        source: ``(S,)``; returned values ``(B, M, 2)`` with ``B = len(rows)``.
    """
    B = len(rows)
    M = max((len(r) for r in rows), default=0)
    index = np.full((B, M, 2), -2, dtype=np.int64)  # -2: padding
    for b, r in enumerate(rows):
        index[b, : len(r)] = r
    index_t = torch.from_numpy(index).to(source.device)  # (B, M, 2)
    mask = index_t[..., 0] > -2  # (B, M)
    infinite = index_t == -1  # (B, M, 2)
    gathered = source[index_t.clamp(min=0).reshape(-1)].reshape(B, M, 2)  # (B, M, 2)
    if negate:
        gathered = -gathered
    inf = torch.full_like(gathered, -torch.inf if negate else torch.inf)
    gathered = torch.where(infinite, inf, gathered)
    gathered = gathered.masked_fill(~mask.unsqueeze(-1), 0.0)
    return Diagrams(gathered, mask, dim)
