"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

__all__ = ["interleaved_medians", "report", "training_steps"]


def interleaved_medians(fns: dict[str, Callable[[], object]], rounds: int, *,
                        warmup_runs: int = 1) -> dict[str, float]:
    """Median wall time of each ``fn()``, the functions run round-robin.

    Each round times every function once, so a change of the (shared) machine's load during the
    measurement slows all of them alike and the ratios stay meaningful.
    """
    for fn in fns.values():
        for _ in range(warmup_runs):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def report(workload: str, ours_name: str, ours: float, peers: dict[str, float | str]) -> None:
    """Print our time and each peer's with ``speedup = peer / ours`` (a str peer: why n/a)."""
    print(f"{workload:<9} {ours_name:<52} {ours:9.4f} s")
    for name, t in peers.items():
        if isinstance(t, str):
            print(f"{'':<9}   vs {name:<47} {'n/a':>9}   ({t})")
        else:
            print(f"{'':<9}   vs {name:<47} {t:9.4f} s   speedup {t / ours:6.2f}x")


def training_steps(model: Any, batches: list[Any], lr: float) -> Callable[[], None]:
    """A callable that runs one Adam step of ``model``'s loss on each batch (the timed unit of
    the training-overhead benchmarks)."""
    import torch

    opt = torch.optim.Adam(model.parameters(), lr=lr)

    def run() -> None:
        for batch in batches:
            terms = model(batch)
            opt.zero_grad()
            terms.loss.backward()
            opt.step()
    return run
