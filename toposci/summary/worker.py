"""What the worker processes of a summary run: one chunk of samples to its diagrams.

Spawned workers import this module only (and then the view they run), so a view that needs no
torch, like the alpha complexes of proteins, starts a worker in a fraction of a second.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from toposci.summary.store import ChunkResult
from toposci.summary.views import get_view

__all__ = ["init_worker", "run_chunk"]

Task = tuple[int, str, str, tuple[int, ...], list[str], list]
"""A chunk: its index, the domain, the view, the homology dimensions, sample ids, payloads."""


def init_worker(ready: Any) -> None:
    """Start a worker process: one thread for torch and BLAS if a view loads them (they read
    these variables when first imported), then tell the parent it can take chunks."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = "1"
    if "torch" in sys.modules:  # loaded already, e.g. by the parent's main script
        sys.modules["torch"].set_num_threads(1)
    ready.set()


def run_chunk(task: Task) -> tuple[int, ChunkResult]:
    """The diagrams of one chunk (and its failed samples with their reasons)."""
    index, domain, view_name, dims, ids, payloads = task
    out = get_view(domain, view_name).chunk(payloads, dims)
    failed = {i for i, _ in out.failed}
    return index, ChunkResult([s for i, s in enumerate(ids) if i not in failed], out.diagrams,
                              [(ids[i], reason) for i, reason in out.failed])
