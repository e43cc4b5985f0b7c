"""Incremental, resumable storage of per-sample persistence diagrams.

A run writes its results into ``<out>.parts/``: one ``chunk_NNNNN.npz`` per chunk of samples and a
``run.json`` recording the run's parameters. A chunk file is written to a temporary name and
renamed, so a chunk on disk is always complete. ``--resume`` keeps the finished chunks and
computes the rest; parameters that differ from the recorded ones are an error, never a silent mix.
When every chunk is there, :func:`merge` writes the final file and removes the parts folder.

Inside a chunk (and the final ``.npz``), the diagrams of dimension ``d`` of all samples are
concatenated: ``H{d}`` is ``(P, 2)`` births and deaths, ``H{d}_offsets`` is ``(S + 1,)`` so that
sample ``i`` owns rows ``offsets[i]:offsets[i + 1]``. ``ids`` holds the sample ids and
``failed_ids`` / ``failed_reasons`` the samples that could not be summarized.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

__all__ = ["ChunkResult", "RunStore", "load_diagrams", "merge"]


@dataclass
class ChunkResult:
    """Diagrams of one chunk of samples.

    Attributes:
        ids: sample ids, in order.
        diagrams: per homology dimension, one ``(m_i, 2)`` array per sample in ``ids``.
        failed: ``(sample id, reason)`` for samples that could not be summarized.
    """

    ids: list[str]
    diagrams: dict[int, list[np.ndarray]]
    failed: list[tuple[str, str]]

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {"ids": np.array(self.ids, dtype=str)}
        for dim, rows in self.diagrams.items():
            arrays.update(_concat(rows, f"H{dim}"))
        arrays["failed_ids"] = np.array([i for i, _ in self.failed], dtype=str)
        arrays["failed_reasons"] = np.array([r for _, r in self.failed], dtype=str)
        return arrays


def _concat(rows: Sequence[np.ndarray], key: str) -> dict[str, np.ndarray]:
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(r) for r in rows])
    values = np.concatenate([np.asarray(r, np.float64).reshape(-1, 2) for r in rows]) if rows \
        else np.zeros((0, 2))
    return {key: values, f"{key}_offsets": offsets}


def _split(arrays: np.lib.npyio.NpzFile, dim: int) -> list[np.ndarray]:
    """The per-sample ``(m_i, 2)`` diagrams of dimension ``dim`` stored in ``arrays``."""
    values, offsets = arrays[f"H{dim}"], arrays[f"H{dim}_offsets"]
    return [values[a:b] for a, b in pairwise(offsets)]


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


class RunStore:
    """The ``<out>.parts/`` folder of one run.

    Args:
        out: the final output file.
        params: everything that determines the result (source, filtration, dims, limit, seed,
            chunk size, ...); JSON-serializable.
        resume: keep finished chunks of an earlier run with the same parameters.
        force: discard earlier results (parts and final file) and start over.
    """

    def __init__(self, out: Path, params: dict, *, resume: bool, force: bool) -> None:
        self.out = out
        self.parts = out.with_name(out.name + ".parts")
        self.params = params
        self.resume = resume
        self.force = force

    def open(self) -> set[int]:
        """Prepare the parts folder; return the indices of chunks already finished."""
        if self.force:
            self._clear()
        elif self.out.exists():
            raise ValueError(f"{self.out} already exists: the run is finished. Use --force to "
                             "compute it again, or choose another --out")
        record = self.parts / "run.json"
        if self.parts.exists() and not self.resume and not self.force:
            raise ValueError(f"{self.parts} holds an unfinished run: pass --resume to continue "
                             "it, or --force to start over")
        if record.exists():
            recorded = json.loads(record.read_text())
            if recorded != self.params:
                diff = sorted(k for k in set(recorded) | set(self.params)
                              if recorded.get(k) != self.params.get(k))
                raise ValueError(f"cannot resume {self.parts}: it was started with different "
                                 f"parameters ({', '.join(diff)}); use --force to start over")
        self.parts.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(self.params, indent=2, sort_keys=True))
        return {int(p.stem.split("_")[1]) for p in self.parts.glob("chunk_*.npz")
                if not p.name.endswith(".tmp.npz")}

    def chunk_path(self, index: int) -> Path:
        return self.parts / f"chunk_{index:05d}.npz"

    def write(self, index: int, result: ChunkResult) -> None:
        _atomic_savez(self.chunk_path(index), result.to_arrays())

    def _clear(self) -> None:
        if self.out.exists():
            self.out.unlink()
        if self.parts.exists():
            for p in self.parts.iterdir():
                p.unlink()
            self.parts.rmdir()

    def finish(self) -> None:
        """Remove the parts folder once the final file is written."""
        for p in self.parts.iterdir():
            p.unlink()
        self.parts.rmdir()


def merge(chunk_files: Sequence[Path], dims: Sequence[int]) -> ChunkResult:
    """Read finished chunks back, in order, into one :class:`ChunkResult`."""
    ids: list[str] = []
    failed: list[tuple[str, str]] = []
    diagrams: dict[int, list[np.ndarray]] = {d: [] for d in dims}
    for path in chunk_files:
        with np.load(path) as z:
            ids.extend(z["ids"].tolist())
            failed.extend(zip(z["failed_ids"].tolist(), z["failed_reasons"].tolist()))
            for d in dims:
                diagrams[d].extend(_split(z, d))
    return ChunkResult(ids, diagrams, failed)


def load_diagrams(path: str | Path) -> tuple[list[str], dict[int, list[np.ndarray]]]:
    """Read a summary ``.npz`` written by ``toposci summarize``: ids and per-dim diagrams.

    Plain numpy reads the same file: ``z = np.load(path); z["H1"][z["H1_offsets"][i]:...]``.
    """
    with np.load(path) as z:
        dims = sorted(int(k[1:]) for k in z.files if k.startswith("H") and k[1:].isdigit())
        diagrams = {d: _split(z, d) for d in dims}
        return z["ids"].tolist(), diagrams
