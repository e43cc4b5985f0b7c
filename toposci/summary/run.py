"""`summarize`: per-sample diagrams and a data-set-level summary, chunked, parallel, resumable.

Files written for ``out = results/qm9.npz`` (``--format npz``):

* ``results/qm9.npz`` — per-sample diagrams (see :mod:`toposci.summary.store` for the layout);
  with ``--format parquet``, ``results/qm9.parquet`` instead: one row per diagram point with
  columns ``sample_id, dim, birth, death``.
* ``results/qm9_summary.npz`` — data-set-level arrays: for each dimension ``d`` the counts, the
  grid, mean landscapes and Betti curves with their 95% bands (``H{d}_...``), and the diagram of
  the data set itself seen through a descriptor (``dataset_H{d}``).
* ``results/qm9_summary.json`` — what a person reads: parameters, counts, failures with reasons,
  throughput.

On ``n`` machines (``--shard i/n``, then ``--merge``): each shard writes one ``.npz`` shard file
(layout in :mod:`toposci.summary.store`); merging them writes the three files above, the same as
a single run's. For example, with the data at ``qm9.csv.gz`` on two machines::

    machine A:  toposci summarize qm9.csv.gz --out a.npz --shard 0/2
    machine B:  toposci summarize qm9.csv.gz --out b.npz --shard 1/2
    either:     toposci summarize qm9.csv.gz --out qm9.npz --merge a.npz b.npz --plot figs
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from toposci.summary.sources import Source, open_source
from toposci.summary.stats import DimensionSummary, finite_range, summarize_dimension
from toposci.summary.store import (
    ChunkResult,
    RunStore,
    check_new_output,
    concat,
    read_shards,
    write_npz,
    write_shard,
)
from toposci.summary.store import merge as merge_chunks
from toposci.summary.views import get_view
from toposci.summary.worker import init_worker, run_chunk

__all__ = ["SummaryReport", "summarize"]

logger = logging.getLogger(__name__)

FORMATS = ("npz", "parquet")

# Worker processes start only when the chunks left would take longer than this in one process:
# starting them (spawn, then importing torch and PyG) costs seconds of CPU each, taken from the
# computation on a machine with few cores. A view that needs no torch starts a worker in about
# 0.2 s (Python, numpy and the view's library), so its workers start after the first chunk.
POOL_MIN_SECONDS = 8.0


@dataclass(frozen=True)
class SummaryReport:
    """What :func:`summarize` did.

    Attributes:
        outputs: files written (diagrams, summary arrays, JSON report, plots).
        n_samples: samples in the source (after ``limit``); for a shard, in its chunks.
        n_failed: samples that could not be read or summarized (listed in the JSON report).
        seconds: wall time of the diagram computation (this run's chunks only; for a merge, the
            shards' summed time).
        summaries: per-dimension statistics (empty for a shard).
    """

    outputs: list[Path]
    n_samples: int
    n_failed: int
    seconds: float
    summaries: dict[int, DimensionSummary]


def _check_shard(shard: tuple[int, int] | None, merge: Sequence[str | Path] | None, *,
                 fmt: str, plot_dir: str | Path | None, resume: bool) -> None:
    """Reject shard / merge options that cannot work together."""
    if shard is not None:
        if merge is not None:
            raise ValueError("--shard computes one part of a run and --merge combines the parts: "
                             "use one or the other")
        if len(shard) != 2 or not all(isinstance(v, int) for v in shard):
            raise ValueError(f"shard must be a pair of ints (i, n), got {shard!r}")
        i, n = shard
        if n < 1 or not 0 <= i < n:
            raise ValueError(f"shard (i, n) needs n >= 1 and 0 <= i < n, got {i}/{n}")
        if fmt != "npz" or plot_dir is not None:
            raise ValueError("a shard writes an .npz of its diagrams only: choose --format and "
                             "--plot when merging the shards")
    elif merge is not None and resume:
        raise ValueError("--merge computes nothing, so there is nothing to --resume")


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Torch on one thread inside (as in the workers): the parallelism is ``workers`` processes,
    and small tensor ops lose time to thread hand-over, much more so on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@_one_torch_thread()
def summarize(
    source: str,
    out: str | Path,
    *,
    filtration: str | None = None,
    homology_dims: Sequence[int] | None = None,
    workers: int = 1,
    limit: int | None = None,
    seed: int = 0,
    chunk_size: int | None = None,
    fmt: str = "npz",
    plot_dir: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    num_landscapes: int = 5,
    resolution: int = 100,
    dataset_subsample: int = 1000,
    progress: bool = True,
    shard: tuple[int, int] | None = None,
    merge: Sequence[str | Path] | None = None,
) -> SummaryReport:
    """Summarize the topology of a data set (the function behind ``toposci summarize``).

    Several machines share one run with ``shard`` and ``merge``. The samples are cut into chunks
    of ``chunk_size`` exactly as in a single run, and shard ``i`` of ``n`` computes the chunks
    ``c`` with ``c % n == i`` (round robin over chunks, so that every shard gets small and large
    samples alike when a data set is sorted by size, as QM9 is). It writes only ``out`` as an
    ``.npz`` shard file; it is resumable like any run. A last call on any machine with the same
    source and parameters and ``merge=[every shard file]`` checks that all ``n`` shards are
    there, puts the chunks back in order and writes the outputs of a single run: the per-sample
    diagrams are those a single run computes (the same chunks go through the same code).

    Args:
        source: a shipped sample name (``qm9-sample``, ``proteins-sample``, ``imdb-sample``,
            ``mnist-sample``) or a file / folder of a supported format.
        out: the per-sample diagrams file; its suffix is replaced by ``fmt``'s.
        filtration: the view of the domain (see :mod:`toposci.summary.views`); default first.
        homology_dims: dimensions to compute; default every dimension the view supports.
        workers: processes computing chunks, this one included. The others are started only
            when the chunks left are estimated to take more than ``POOL_MIN_SECONDS`` (at once
            for a view that needs no torch), so small data sets never pay for starting torch in
            another process, and this process keeps computing chunks while they start.
        limit: summarize only the first ``limit`` samples.
        seed: seeds the subsample of the data-set-level descriptor diagram.
        chunk_size: samples per chunk (the unit of work of a process, of resuming and of
            sharding); default: the view's (512 samples, 8 protein structures).
        fmt: ``"npz"`` or ``"parquet"``.
        plot_dir: write PNG figures there.
        resume: continue an interrupted run with the same parameters.
        force: discard earlier results of this output and start over.
        num_landscapes, resolution: landscape levels ``K`` and grid size ``T`` of the summary.
        dataset_subsample: samples in the data-set-level descriptor diagram.
        progress: show a progress bar.
        shard: ``(i, n)`` with ``0 <= i < n``: compute shard ``i`` of ``n`` only and write it to
            ``out`` (``fmt`` must be ``"npz"``, no ``plot_dir``); the report then has no
            summaries.
        merge: the ``n`` shard files of a run: compute nothing, combine them into the outputs of
            a single run. Shards must come from the same parameters (``source`` may be another
            path to the same data); the report's ``seconds`` is the shards' summed time.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    if workers < 1 or (chunk_size is not None and chunk_size < 1):
        raise ValueError("workers and chunk_size must be >= 1")
    _check_shard(shard, merge, fmt=fmt, plot_dir=plot_dir, resume=resume)
    src = open_source(source, limit=limit)
    view = get_view(src.domain, filtration)
    chunk_size = view.chunk_size if chunk_size is None else chunk_size
    dims = tuple(range(view.max_dim + 1)) if homology_dims is None else tuple(
        sorted(set(homology_dims)))
    if not dims or min(dims) < 0 or max(dims) > view.max_dim:
        raise ValueError(f"homology dimensions for {view.name} must lie in 0..{view.max_dim}, "
                         f"got {list(dims)}")
    out = Path(out).with_suffix(f".{fmt}")
    params = {"source": source, "domain": src.domain, "filtration": view.name,
              "homology_dims": list(dims), "limit": limit, "chunk_size": chunk_size,
              "n_samples": len(src.ids)}
    n_chunks = (len(src.ids) + chunk_size - 1) // chunk_size
    chunk_ids = [src.ids[c * chunk_size:(c + 1) * chunk_size] for c in range(n_chunks)]
    store = None
    if merge is not None:
        check_new_output(out, force=force)
        results, seconds = read_shards(merge, params, chunk_ids, dims)
        merged = concat(results, dims)
        params = {**params, "shards": len(merge)}
    else:
        mine = list(range(n_chunks)) if shard is None else list(range(shard[0], n_chunks,
                                                                       shard[1]))
        store = RunStore(out, params if shard is None else {**params, "shard": list(shard)},
                         resume=resume, force=force)
        seconds = _compute(store, src, view.name, dims, mine, chunk_size, workers=workers,
                           progress=progress)
        if shard is not None:
            return _finish_shard(store, mine, dims, shard=shard, params=params, seconds=seconds)
        merged = merge_chunks([store.chunk_path(c) for c in mine], dims)

    merged.failed = src.skipped + merged.failed
    # One grid for every dimension, so their Betti curves share an axis.
    grid_range = finite_range([merged.diagrams[d].values for d in dims])
    summaries = {d: summarize_dimension(merged.diagrams[d], d, num_landscapes=num_landscapes,
                                        resolution=resolution, sample_range=grid_range)
                 for d in dims}
    dataset = _dataset_diagrams(src, merged, dims, summaries, seed=seed, n=dataset_subsample)
    outputs = _write_outputs(out, fmt, merged, summaries, dataset, params, seconds)
    if plot_dir is not None:
        from toposci.summary.plots import plot_summary

        outputs += plot_summary({d: p.values for d, p in merged.diagrams.items()}, summaries,
                                plot_dir, title=Path(source).name, dataset_diagrams=dataset)
    if store is not None:
        store.finish()
    if merged.failed:
        logger.warning("%d of %d samples could not be summarized (reasons in %s)",
                       len(merged.failed), len(src.ids) + len(src.skipped),
                       outputs[2].name)
    return SummaryReport(outputs, len(src.ids), len(merged.failed), seconds, summaries)


def _compute(store: RunStore, src: Source, view_name: str, dims: tuple[int, ...],
             chunks: list[int], chunk_size: int, *, workers: int, progress: bool) -> float:
    """Compute the ``chunks`` not yet in ``store``; return the seconds it took.

    This process computes chunks from the front of the list all along. When the work left is
    estimated to take more than ``POOL_MIN_SECONDS``, ``workers - 1`` more processes are started
    in the background (spawn: each imports what its view needs, seconds with torch); once they
    are up they take chunks from the back, one running and one queued each, so nobody waits for
    them to start.
    """
    done = store.open()
    pool_min_seconds = 0.0 if get_view(src.domain, view_name).torch_free else POOL_MIN_SECONDS
    tasks = [(c, src.domain, view_name, dims, src.ids[c * chunk_size:(c + 1) * chunk_size],
              src.payloads[c * chunk_size:(c + 1) * chunk_size])
             for c in chunks if c not in done]
    if len(tasks) < len(chunks):
        logger.info("resuming: %d of %d chunks already done", len(chunks) - len(tasks),
                    len(chunks))
    sizes = {t[0]: len(t[4]) for t in tasks}
    total = sum(len(src.ids[c * chunk_size:(c + 1) * chunk_size]) for c in chunks)
    start = time.perf_counter()
    bar = tqdm(total=total, initial=total - sum(sizes.values()), unit="sample",
               desc=f"summarize {src.name}", disable=not progress)
    busy, done_samples, left = 0.0, 0, sum(sizes.values())
    pool, ready, running = None, None, {}
    n_tasks, mine, started, up = len(tasks), 0, 0.0, 0.0
    try:
        while tasks or running:
            for index in [i for i, r in running.items() if r.ready()]:
                store.write(*running.pop(index).get())
                bar.update(sizes[index])
            if (pool is None and workers > 1 and len(tasks) >= 2 and done_samples
                    and busy / done_samples * left >= pool_min_seconds):
                ctx = multiprocessing.get_context("spawn")
                ready = ctx.Event()
                pool = ctx.Pool(workers - 1, initializer=init_worker, initargs=(ready,))
                started = time.perf_counter()
            if pool is not None and ready.is_set():
                up = up or time.perf_counter() - started
                while len(tasks) > 1 and len(running) < 2 * (workers - 1):
                    task = tasks.pop()
                    left -= len(task[4])
                    running[task[0]] = pool.apply_async(run_chunk, (task,))
            if tasks:
                task = tasks.pop(0)
                t0 = time.perf_counter()
                index, result = run_chunk(task)
                busy += time.perf_counter() - t0
                mine += 1
                done_samples += len(task[4])
                left -= len(task[4])
                store.write(index, result)
                bar.update(len(task[4]))
            elif running:
                next(iter(running.values())).wait(0.01)
    finally:
        if pool is not None:
            pool.terminate()  # a worker still starting up is not waited for
            pool.join()
    bar.close()
    if pool is not None:
        logger.info("%d of %d chunks computed in this process; the worker processes took "
                    "%s to start", mine, n_tasks, f"{up:.1f} s" if up else "too long")
    return time.perf_counter() - start


def _finish_shard(store: RunStore, chunks: list[int], dims: tuple[int, ...], *,
                  shard: tuple[int, int], params: dict, seconds: float) -> SummaryReport:
    """Write one shard's file from its chunk files and drop the parts folder."""
    results = {c: merge_chunks([store.chunk_path(c)], dims) for c in chunks}
    write_shard(store.out, results, dims, shard=shard, params=params, seconds=seconds)
    store.finish()
    logger.info("shard %d/%d written to %s: merge all %d shard files with --merge",
                shard[0], shard[1], store.out, shard[1])
    n_failed = sum(len(r.failed) for r in results.values())
    return SummaryReport([store.out], sum(len(r.ids) for r in results.values()) + n_failed,
                         n_failed, seconds, {})


def _descriptors(src: Source, merged: ChunkResult, picked: np.ndarray,
                 summaries: dict[int, DimensionSummary]) -> tuple[np.ndarray, bool]:
    """Descriptor vectors (or a distance matrix, flagged True) of the picked samples."""
    if src.domain in ("molecules", "images"):
        position = {sid: i for i, sid in enumerate(src.ids)}
        payloads = [src.payloads[position[merged.ids[i]]] for i in picked]
        if src.domain == "molecules":
            from toposci.domains.fingerprints import tanimoto_distances

            return tanimoto_distances(payloads), True
        return np.stack([np.asarray(p).reshape(-1) for p in payloads]), False  # (n, H*W)
    from toposci.summary.stats import padded
    from toposci.topology.vectorize import landscapes

    parts = []
    for d, s in summaries.items():
        chosen = merged.diagrams[d].take(picked)
        finite = chosen.keep_rows(np.isfinite(chosen.values).all(axis=1))
        grid = (float(s.grid[0]), float(s.grid[-1]))
        parts.append(landscapes(padded(finite, d), num_landscapes=3, resolution=50,
                                sample_range=grid).flatten(1).numpy())  # (n, 3 * 50)
    return np.concatenate(parts, axis=1), False


def _distances(x: np.ndarray) -> np.ndarray:
    """``(n, n)`` Euclidean distances of the rows of ``x`` ``(n, F)`` through one Gram product.

    Faster than ``torch.cdist`` on one thread by an order of magnitude for ``F`` in the
    hundreds; the rounding of ``|a|^2 + |b|^2 - 2 a.b`` (relative error about ``1e-8`` of the
    norms) is far below what a descriptor diagram resolves.
    """
    norms = np.einsum("ij,ij->i", x, x)  # (n,)
    squared = norms[:, None] + norms[None, :] - 2.0 * (x @ x.T)  # (n, n)
    np.fill_diagonal(squared, 0.0)
    dist = np.sqrt(np.maximum(squared, 0.0))
    return np.maximum(dist, dist.T)  # exactly symmetric


def _dataset_diagrams(src: Source, merged: ChunkResult, dims: tuple[int, ...],
                      summaries: dict[int, DimensionSummary], *, seed: int,
                      n: int) -> dict[int, np.ndarray]:
    """H0/H1 of the data set itself: Rips on descriptors of a seeded subsample."""
    from toposci.topology.rips import rips_diagrams

    if len(merged.ids) < 3:
        return {}
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(len(merged.ids), size=min(n, len(merged.ids)), replace=False))
    desc, is_distance = _descriptors(src, merged, picked, summaries)
    dist = desc if is_distance else _distances(np.asarray(desc, dtype=np.float64))
    dgms = rips_diagrams(torch.as_tensor(dist), homology_dims=tuple(d for d in dims if d <= 1),
                         distances=True)
    return {d: dg.to_arrays()[0] for d, dg in dgms.items()}


def _write_outputs(out: Path, fmt: str, merged: ChunkResult,
                   summaries: dict[int, DimensionSummary], dataset: dict[int, np.ndarray],
                   params: dict, seconds: float) -> list[Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "npz":
        write_npz(out, merged.to_arrays())
    else:
        import pandas as pd

        ids = np.array(merged.ids, dtype=object)
        frames = [pd.DataFrame({"sample_id": np.repeat(ids, p.sizes), "dim": d,
                                "birth": p.values[:, 0], "death": p.values[:, 1]})
                  for d, p in merged.diagrams.items()]
        pd.concat(frames, ignore_index=True).to_parquet(out, index=False)
    summary_npz = out.with_name(out.stem + "_summary.npz")
    arrays: dict[str, np.ndarray] = {}
    for s in summaries.values():
        arrays.update(s.to_arrays())
    arrays.update({f"dataset_H{d}": v for d, v in dataset.items()})
    write_npz(summary_npz, arrays)
    report = {
        "parameters": params,
        "n_summarized": len(merged.ids),
        "n_failed": len(merged.failed),
        "failures": [{"id": i, "reason": r} for i, r in merged.failed],
        "seconds": round(seconds, 3),
        "samples_per_second": round(len(merged.ids) / seconds, 1) if seconds > 0 else None,
        "dimensions": {
            f"H{d}": {
                "finite_points_total": int(s.finite_counts.sum()),
                "finite_points_per_sample_mean": float(s.finite_counts.mean()),
                "essential_per_sample_mean": float(s.essential_counts.mean()),
                "samples_with_essential_histogram": {
                    str(k): int(v) for k, v in zip(*np.unique(s.essential_counts,
                                                              return_counts=True))},
            } for d, s in summaries.items()
        },
        "dataset_diagram_points": {f"H{d}": len(v) for d, v in dataset.items()},
    }
    summary_json = out.with_name(out.stem + "_summary.json")
    summary_json.write_text(json.dumps(report, indent=2))
    return [out, summary_npz, summary_json]
