"""Incremental, resumable storage of per-sample persistence diagrams.

A run writes its results into ``<out>.parts/``: one ``chunk_NNNNN.npz`` per chunk of samples and a
``run.json`` recording the run's parameters. A chunk file is written to a temporary name and
renamed, so a chunk on disk is always complete. ``--resume`` keeps the finished chunks and
computes the rest; parameters that differ from the recorded ones are an error, never a silent mix.
When every chunk is there, :func:`merge` reads them back for the final file and the parts folder
is removed.

Inside a chunk (and the final ``.npz``), the diagrams of dimension ``d`` of all samples are
concatenated: ``H{d}`` is ``(P, 2)`` births and deaths, ``H{d}_offsets`` is ``(S + 1,)`` so that
sample ``i`` owns rows ``offsets[i]:offsets[i + 1]``. ``ids`` holds the sample ids and
``failed_ids`` / ``failed_reasons`` the samples that could not be summarized.

A *shard file* (``summarize(..., shard=(i, n))``, written by :func:`write_shard`) has the same
arrays for the samples of the chunks it computed, plus ``chunks`` ``(C,)`` (their indices, in
order), ``chunk_offsets`` ``(C + 1,)`` into ``ids`` and ``failed_offsets`` ``(C + 1,)`` into
``failed_ids``, ``shard`` ``[i, n]``, ``params`` (the run's parameters as a JSON string) and
``seconds``. :func:`read_shards` checks that ``n`` shard files of one run are all there and
returns their chunks, so that the merged result is exactly the chunk sequence of a single run.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

__all__ = ["ChunkResult", "PackedDiagrams", "RunStore", "check_new_output", "concat",
           "load_diagrams", "merge", "read_shards", "write_npz", "write_shard"]


@dataclass(frozen=True)
class PackedDiagrams:
    """Diagrams of one homology dimension for ``S`` samples, stored one after the other.

    The file layout of :mod:`toposci.summary.store` held in memory: no per-sample arrays, so that
    data sets of 10^5 samples are merged, sliced and summarized with whole-array operations.

    Attributes:
        values: ``(P, 2)`` float64 births and deaths of all samples.
        offsets: ``(S + 1,)`` int64: sample ``i`` owns rows ``offsets[i]:offsets[i + 1]``.
    """

    values: np.ndarray
    offsets: np.ndarray

    @classmethod
    def from_list(cls, rows: Sequence[np.ndarray]) -> PackedDiagrams:
        """Pack ``S`` arrays ``(m_i, 2)``."""
        values = np.concatenate([np.asarray(r, np.float64).reshape(-1, 2) for r in rows]) \
            if len(rows) else np.zeros((0, 2))
        return cls(values, _offsets([len(r) for r in rows]))

    @classmethod
    def concat(cls, parts: Sequence[PackedDiagrams]) -> PackedDiagrams:
        """The samples of ``parts`` one after the other."""
        if not parts:
            return cls(np.zeros((0, 2)), np.zeros(1, dtype=np.int64))
        starts = np.cumsum([0] + [len(p.values) for p in parts[:-1]])  # (len(parts),)
        offsets = np.concatenate([np.zeros(1, dtype=np.int64)]
                                 + [p.offsets[1:] + s for p, s in zip(parts, starts)])
        return cls(np.concatenate([p.values for p in parts]), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def sizes(self) -> np.ndarray:
        """``(S,)`` points per sample."""
        return np.diff(self.offsets)

    def sample_of_rows(self) -> np.ndarray:
        """``(P,)`` the sample each row belongs to."""
        return np.repeat(np.arange(len(self)), self.sizes)

    def split(self) -> list[np.ndarray]:
        """One ``(m_i, 2)`` array (a view) per sample."""
        return [self.values[a:b] for a, b in pairwise(self.offsets)]

    def slice(self, start: int, stop: int) -> PackedDiagrams:
        """Samples ``start .. stop - 1``."""
        a, b = self.offsets[start], self.offsets[stop]
        return PackedDiagrams(self.values[a:b], self.offsets[start:stop + 1] - a)

    def take(self, index: np.ndarray) -> PackedDiagrams:
        """The samples at ``index`` ``(n,)``, in that order."""
        index = np.asarray(index, dtype=np.int64)
        sizes = self.sizes[index]  # (n,)
        offsets = _offsets(sizes)
        # row r of the result is row offsets[sample] + (r - new offset of sample) of self
        rows = np.arange(offsets[-1]) + np.repeat(self.offsets[index] - offsets[:-1], sizes)
        return PackedDiagrams(self.values[rows], offsets)

    def keep_rows(self, keep: np.ndarray) -> PackedDiagrams:
        """Only the rows where ``keep`` ``(P,)`` is True (e.g. the finite points)."""
        counts = np.bincount(self.sample_of_rows()[keep], minlength=len(self))  # (S,)
        return PackedDiagrams(self.values[keep], _offsets(counts))


@dataclass
class ChunkResult:
    """Diagrams of one chunk of samples.

    Attributes:
        ids: sample ids, in order.
        diagrams: per homology dimension, the diagrams of the samples in ``ids``.
        failed: ``(sample id, reason)`` for samples that could not be summarized.
    """

    ids: list[str]
    diagrams: dict[int, PackedDiagrams]
    failed: list[tuple[str, str]]

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {"ids": np.array(self.ids, dtype=str)}
        for dim, packed in self.diagrams.items():
            arrays[f"H{dim}"] = packed.values
            arrays[f"H{dim}_offsets"] = packed.offsets
        arrays["failed_ids"] = np.array([i for i, _ in self.failed], dtype=str)
        arrays["failed_reasons"] = np.array([r for _, r in self.failed], dtype=str)
        return arrays


def _offsets(sizes: Sequence[int] | np.ndarray) -> np.ndarray:
    """``(S + 1,)`` start offsets of consecutive blocks of the given sizes."""
    offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(sizes)
    return offsets


def _packed(arrays: np.lib.npyio.NpzFile, dim: int) -> PackedDiagrams:
    """The dimension-``dim`` diagrams stored in ``arrays``."""
    return PackedDiagrams(arrays[f"H{dim}"], arrays[f"H{dim}_offsets"])


def write_npz(path: Path, arrays: Mapping[str, np.ndarray], *, compress: bool = True) -> None:
    """Write ``arrays`` as an ``.npz`` file (read by ``np.load``), atomically.

    Compressed files use zlib level 1: on diagram arrays it is several times faster than
    ``np.savez_compressed``'s level 6, for files a few percent larger.
    """
    tmp = path.with_name(path.name + ".tmp.npz")
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(tmp, "w", compression=method, compresslevel=1 if compress else None,
                         allowZip64=True) as zf:
        for key, value in arrays.items():
            with zf.open(f"{key}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)
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
        check_new_output(self.out, force=self.force)
        if self.force:
            self._clear()
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
        # parts are read back once and then deleted: not worth compressing
        write_npz(self.chunk_path(index), result.to_arrays(), compress=False)

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


def check_new_output(out: Path, *, force: bool) -> None:
    """Refuse to overwrite the finished output ``out`` unless ``force``."""
    if out.exists() and not force:
        raise ValueError(f"{out} already exists: the run is finished. Use --force to "
                         "compute it again, or choose another --out")


def concat(results: Sequence[ChunkResult], dims: Sequence[int]) -> ChunkResult:
    """One :class:`ChunkResult` holding ``results`` one after the other."""
    return ChunkResult([i for r in results for i in r.ids],
                       {d: PackedDiagrams.concat([r.diagrams[d] for r in results]) for d in dims},
                       [f for r in results for f in r.failed])


def _read_chunk(z: np.lib.npyio.NpzFile, dims: Sequence[int]) -> ChunkResult:
    return ChunkResult(z["ids"].tolist(), {d: _packed(z, d) for d in dims},
                       list(zip(z["failed_ids"].tolist(), z["failed_reasons"].tolist())))


def merge(chunk_files: Sequence[Path], dims: Sequence[int]) -> ChunkResult:
    """Read finished chunks back, in order, into one :class:`ChunkResult`."""
    results = []
    for path in chunk_files:
        with np.load(path) as z:
            results.append(_read_chunk(z, dims))
    return concat(results, dims)


def write_shard(path: Path, chunks: Mapping[int, ChunkResult], dims: Sequence[int], *,
                shard: tuple[int, int], params: dict, seconds: float) -> None:
    """Write the chunks one shard computed into one file (layout in the module docstring).

    Args:
        path: the shard file (``.npz``).
        chunks: the shard's results by chunk index.
        dims: homology dimensions stored.
        shard: ``(i, n)``: this is shard ``i`` of ``n``.
        params: the run's parameters (without the shard), checked again when merging.
        seconds: wall time of the shard's diagram computation.
    """
    order = sorted(chunks)
    arrays = concat([chunks[c] for c in order], dims).to_arrays()
    arrays["chunks"] = np.array(order, dtype=np.int64)
    arrays["chunk_offsets"] = _offsets([len(chunks[c].ids) for c in order])
    arrays["failed_offsets"] = _offsets([len(chunks[c].failed) for c in order])
    arrays["shard"] = np.array(shard, dtype=np.int64)
    arrays["params"] = np.array(json.dumps(params, sort_keys=True))
    arrays["seconds"] = np.array(seconds)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_npz(path, arrays)


def _shard_chunks(z: np.lib.npyio.NpzFile, dims: Sequence[int]) -> dict[int, ChunkResult]:
    """The per-chunk results stored in one shard file."""
    whole = _read_chunk(z, dims)
    kept, failed = z["chunk_offsets"], z["failed_offsets"]
    return {int(c): ChunkResult(whole.ids[kept[j]:kept[j + 1]],
                                {d: whole.diagrams[d].slice(kept[j], kept[j + 1])
                                 for d in dims},
                                whole.failed[failed[j]:failed[j + 1]])
            for j, c in enumerate(z["chunks"])}


def read_shards(paths: Sequence[str | Path], params: dict, chunk_ids: Sequence[Sequence[str]],
                dims: Sequence[int]) -> tuple[list[ChunkResult], float]:
    """Read the ``n`` shard files of one run back as the chunk sequence of a single run.

    Args:
        paths: every shard file of the run, in any order.
        params: the parameters of the merging call; each shard's must equal them except for
            ``source`` (the same data may sit at another path on another machine).
        chunk_ids: for each chunk of the run, the ids of its samples (from the source).
        dims: homology dimensions to read.

    Returns:
        the results of chunks ``0 .. len(chunk_ids) - 1`` in order, and the shards' summed
        computation seconds.

    Raises:
        ValueError: a file is missing or not a shard file, shards are missing or repeated, their
            parameters differ, or their samples are not the source's.
    """
    if not paths:
        raise ValueError("no shard files to merge")
    chunks: dict[int, ChunkResult] = {}
    seen: dict[int, Path] = {}
    total = None
    seconds = 0.0
    for path in map(Path, paths):
        if not path.is_file():
            raise ValueError(f"shard file {path} does not exist")
        with np.load(path) as z:
            if "shard" not in z.files:
                raise ValueError(f"{path} is not a shard file (written by summarize --shard I/N)")
            i, n = (int(v) for v in z["shard"])
            total = n if total is None else total
            if n != total:
                raise ValueError(f"the shard files split the run in different ways: {path} is "
                                 f"shard {i}/{n}, {next(iter(seen.values()))} one of {total}")
            recorded = json.loads(str(z["params"]))
            diff = sorted(k for k in set(recorded) | set(params) if k != "source"
                          and recorded.get(k) != params.get(k))
            if diff:
                raise ValueError(f"{path} (shard {i}/{n}) was computed with different "
                                 f"parameters ({', '.join(diff)}) than this merge")
            if i in seen:
                raise ValueError(f"shard {i}/{n} given twice: {seen[i]} and {path}")
            seen[i], seconds = path, seconds + float(z["seconds"])
            chunks.update(_shard_chunks(z, dims))
    missing = sorted(set(range(total)) - set(seen))
    if missing:
        raise ValueError(f"shards {missing} of {total} are missing: merge needs all {total} "
                         "shard files")
    for c, ids in enumerate(chunk_ids):
        got = chunks.get(c)
        if got is None or sorted(got.ids + [i for i, _ in got.failed]) != sorted(ids):
            raise ValueError(f"chunk {c} of the shards does not hold the source's samples "
                             f"{ids[0]} .. {ids[-1]}: the shards were computed from other data")
    return [chunks[c] for c in range(len(chunk_ids))], seconds


def load_diagrams(path: str | Path) -> tuple[list[str], dict[int, list[np.ndarray]]]:
    """Read a summary ``.npz`` written by ``toposci summarize``: ids and per-dim diagrams.

    Plain numpy reads the same file: ``z = np.load(path); z["H1"][z["H1_offsets"][i]:...]``.
    """
    with np.load(path) as z:
        dims = sorted(int(k[1:]) for k in z.files if k.startswith("H") and k[1:].isdigit())
        diagrams = {d: _packed(z, d).split() for d in dims}
        return z["ids"].tolist(), diagrams
