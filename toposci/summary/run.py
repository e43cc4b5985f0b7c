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
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from toposci.summary.sources import Source, open_source
from toposci.summary.stats import DimensionSummary, finite_range, summarize_dimension
from toposci.summary.store import ChunkResult, RunStore, merge
from toposci.summary.views import get_view

__all__ = ["SummaryReport", "summarize"]

logger = logging.getLogger(__name__)

FORMATS = ("npz", "parquet")


@dataclass(frozen=True)
class SummaryReport:
    """What :func:`summarize` did.

    Attributes:
        outputs: files written (diagrams, summary arrays, JSON report, plots).
        n_samples: samples in the source (after ``limit``).
        n_failed: samples that could not be read or summarized (listed in the JSON report).
        seconds: wall time of the diagram computation (this run's chunks only).
        summaries: per-dimension statistics.
    """

    outputs: list[Path]
    n_samples: int
    n_failed: int
    seconds: float
    summaries: dict[int, DimensionSummary]


def _init_worker() -> None:
    torch.set_num_threads(1)


def _run_chunk(task: tuple[int, str, str, tuple[int, ...], list[str], list]) -> tuple[
        int, ChunkResult]:
    """Compute the diagrams of one chunk (runs in a worker process)."""
    index, domain, view_name, dims, ids, payloads = task
    results = get_view(domain, view_name).compute(payloads, dims)
    kept_ids: list[str] = []
    diagrams: dict[int, list[np.ndarray]] = {d: [] for d in dims}
    failed: list[tuple[str, str]] = []
    for sample_id, res in zip(ids, results):
        if isinstance(res, str):
            failed.append((sample_id, res))
            continue
        kept_ids.append(sample_id)
        for d in dims:
            diagrams[d].append(res[d])
    return index, ChunkResult(kept_ids, diagrams, failed)


def summarize(
    source: str,
    out: str | Path,
    *,
    filtration: str | None = None,
    homology_dims: Sequence[int] | None = None,
    workers: int = 1,
    limit: int | None = None,
    seed: int = 0,
    chunk_size: int = 512,
    fmt: str = "npz",
    plot_dir: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    num_landscapes: int = 5,
    resolution: int = 100,
    dataset_subsample: int = 1000,
    progress: bool = True,
) -> SummaryReport:
    """Summarize the topology of a data set (the function behind ``toposci summarize``).

    Args:
        source: a shipped sample name (``qm9-sample``, ``proteins-sample``, ``imdb-sample``,
            ``mnist-sample``) or a file / folder of a supported format.
        out: the per-sample diagrams file; its suffix is replaced by ``fmt``'s.
        filtration: the view of the domain (see :mod:`toposci.summary.views`); default first.
        homology_dims: dimensions to compute; default every dimension the view supports.
        workers: processes computing chunks.
        limit: summarize only the first ``limit`` samples.
        seed: seeds the subsample of the data-set-level descriptor diagram.
        chunk_size: samples per chunk (the unit of resuming).
        fmt: ``"npz"`` or ``"parquet"``.
        plot_dir: write PNG figures there.
        resume: continue an interrupted run with the same parameters.
        force: discard earlier results of this output and start over.
        num_landscapes, resolution: landscape levels ``K`` and grid size ``T`` of the summary.
        dataset_subsample: samples in the data-set-level descriptor diagram.
        progress: show a progress bar.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    if workers < 1 or chunk_size < 1:
        raise ValueError("workers and chunk_size must be >= 1")
    src = open_source(source, limit=limit)
    view = get_view(src.domain, filtration)
    dims = tuple(range(view.max_dim + 1)) if homology_dims is None else tuple(
        sorted(set(homology_dims)))
    if not dims or min(dims) < 0 or max(dims) > view.max_dim:
        raise ValueError(f"homology dimensions for {view.name} must lie in 0..{view.max_dim}, "
                         f"got {list(dims)}")
    out = Path(out).with_suffix(f".{fmt}")
    params = {"source": source, "domain": src.domain, "filtration": view.name,
              "homology_dims": list(dims), "limit": limit, "chunk_size": chunk_size,
              "n_samples": len(src.ids)}
    store = RunStore(out, params, resume=resume, force=force)
    done = store.open()
    n_chunks = (len(src.ids) + chunk_size - 1) // chunk_size
    tasks = [(i, src.domain, view.name, dims, src.ids[i * chunk_size:(i + 1) * chunk_size],
              src.payloads[i * chunk_size:(i + 1) * chunk_size])
             for i in range(n_chunks) if i not in done]
    if done:
        logger.info("resuming: %d of %d chunks already done", len(done), n_chunks)
    start = time.perf_counter()
    bar = tqdm(total=len(src.ids), initial=len(src.ids) - sum(len(t[4]) for t in tasks),
               unit="sample", desc=f"summarize {source}", disable=not progress)
    if workers == 1:
        for task in tasks:
            index, result = _run_chunk(task)
            store.write(index, result)
            bar.update(len(task[4]))
    else:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(workers, initializer=_init_worker) as pool:
            sizes = {t[0]: len(t[4]) for t in tasks}
            for index, result in pool.imap_unordered(_run_chunk, tasks):
                store.write(index, result)
                bar.update(sizes[index])
    bar.close()
    seconds = time.perf_counter() - start

    merged = merge([store.chunk_path(i) for i in range(n_chunks)], dims)
    merged.failed = src.skipped + merged.failed
    # One grid for every dimension, so their Betti curves share an axis.
    grid_range = finite_range([x for d in dims for x in merged.diagrams[d]])
    summaries = {d: summarize_dimension(merged.diagrams[d], d, num_landscapes=num_landscapes,
                                        resolution=resolution, sample_range=grid_range)
                 for d in dims}
    dataset = _dataset_diagrams(src, merged, dims, summaries, seed=seed, n=dataset_subsample)
    outputs = _write_outputs(out, fmt, merged, summaries, dataset, params, seconds)
    if plot_dir is not None:
        from toposci.summary.plots import plot_summary

        outputs += plot_summary(merged.diagrams, summaries, plot_dir, title=Path(source).name,
                                dataset_diagrams=dataset)
    store.finish()
    if merged.failed:
        logger.warning("%d of %d samples could not be summarized (reasons in %s)",
                       len(merged.failed), len(src.ids) + len(src.skipped),
                       outputs[2].name)
    return SummaryReport(outputs, len(src.ids), len(merged.failed), seconds, summaries)


def _descriptors(src: Source, merged: ChunkResult, picked: np.ndarray,
                 summaries: dict[int, DimensionSummary]) -> tuple[np.ndarray, bool]:
    """Descriptor vectors (or a distance matrix, flagged True) of the picked samples."""
    if src.domain == "molecules":
        from toposci.domains.fingerprints import tanimoto_distances

        position = {sid: i for i, sid in enumerate(src.ids)}
        smiles = [src.payloads[position[merged.ids[i]]] for i in picked]
        return tanimoto_distances(smiles), True
    if src.domain == "images":
        position = {sid: i for i, sid in enumerate(src.ids)}
        return np.stack([np.asarray(src.payloads[position[merged.ids[i]]]).reshape(-1)
                         for i in picked]), False
    from toposci.topology.diagrams import Diagrams
    from toposci.topology.vectorize import landscapes

    parts = []
    for d, s in summaries.items():
        batch = Diagrams.from_arrays([merged.diagrams[d][i] for i in picked], d,
                                     dtype=torch.float64)
        grid = (float(s.grid[0]), float(s.grid[-1]))
        parts.append(landscapes(batch.drop_infinite(), num_landscapes=3, resolution=50,
                                sample_range=grid).flatten(1).numpy())
    return np.concatenate(parts, axis=1), False


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
    x = torch.as_tensor(desc, dtype=torch.float64)
    dgms = rips_diagrams(x, homology_dims=tuple(d for d in dims if d <= 1),
                         distances=is_distance)
    return {d: dg.to_arrays()[0] for d, dg in dgms.items()}


def _write_outputs(out: Path, fmt: str, merged: ChunkResult,
                   summaries: dict[int, DimensionSummary], dataset: dict[int, np.ndarray],
                   params: dict, seconds: float) -> list[Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "npz":
        np.savez_compressed(out, **merged.to_arrays())
    else:
        import pandas as pd

        frames = []
        for d, rows in merged.diagrams.items():
            lengths = [len(r) for r in rows]
            values = np.concatenate(rows) if rows else np.zeros((0, 2))
            frames.append(pd.DataFrame({"sample_id": np.repeat(merged.ids, lengths), "dim": d,
                                        "birth": values[:, 0], "death": values[:, 1]}))
        pd.concat(frames, ignore_index=True).to_parquet(out, index=False)
    summary_npz = out.with_name(out.stem + "_summary.npz")
    arrays: dict[str, np.ndarray] = {}
    for s in summaries.values():
        arrays.update(s.to_arrays())
    arrays.update({f"dataset_H{d}": v for d, v in dataset.items()})
    np.savez_compressed(summary_npz, **arrays)
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
