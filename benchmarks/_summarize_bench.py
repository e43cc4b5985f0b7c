"""Throughput of ``toposci summarize`` against the same summary computed with GUDHI one sample at a
time from Python.

Usage: ``python benchmarks/summarize.py [--only qm9,proteins,imdb,mnist] [--workers 2]
[--gudhi-subset 10000] [--repeats 1]``.

Each workload runs :func:`toposci.summary.summarize` (the library function behind the command
line) with ``--workers`` processes on a shared data set under ``shared/data`` beside the
checkout. The GUDHI loop produces the same outputs from the same files, in this process:

1. **read** the source (the same reader functions as ours where one exists);
2. **diagrams**, one sample at a time with GUDHI's Python API, parsing / reading each sample as
   ours does inside its view:

   * ``qm9``: all 133,885 QM9 molecules. RDKit parses the SMILES; ``SimplexTree`` with vertices
     at their atomic number and edges at the larger one, ``expansion(2)``,
     ``persistence(persistence_dim_max=True)`` (else GUDHI skips the H1 of a molecule without
     3-rings, a complex of dimension 1); H0 + H1.
   * ``proteins``: the 77 shared structures. :func:`toposci.domains.proteins.read_structure`,
     ``AlphaComplex(points).create_simplex_tree()``, ``persistence()``; H0 - H2 in radii.
   * ``imdb``: the 1,000 IMDB-BINARY graphs (:func:`~toposci.domains.social.read_tu_dataset`),
     node degrees, ``SimplexTree`` as for QM9; H0 + H1.
   * ``mnist``: the first 10,000 MNIST training images,
     ``CubicalComplex(top_dimensional_cells=1 - image).persistence()``; H0 + H1.

3. **landscapes** and **Betti curves**, one sample at a time: the grid spans every finite value
   of all dimensions (as ours); per sample and dimension
   ``gudhi.representations.Landscape(5 levels, 100 points)`` of the finite points and
   ``BettiCurve(predefined_grid=grid)`` of all points, accumulated into the mean and the 95% band
   of the mean. ``BettiCurve`` loops over the grid in Python (about 0.3 ms for a diagram of ten
   points): a second row replaces it by one numpy expression per sample (``betti_numpy``, timed
   separately), the strongest one-at-a-time baseline here;
4. **data set**: the diagram of the data set itself, on the same seeded subsample of 1,000 as
   ours and the same descriptor (Tanimoto distances of Morgan fingerprints for molecules, pixels
   for images, landscapes of 3 levels x 50 points otherwise; Euclidean distances), H0 + H1 with
   giotto-ph's ``ripser_parallel`` on one thread: GUDHI's ``RipsComplex`` does not finish on
   1,000 points in minutes (10^8 triangles, edge collapse included);
5. **write** the per-sample diagrams and the summary arrays (``np.savez_compressed``) and a JSON
   report.

Ours is timed end to end (the same five steps, plus its chunk files) and, separately, its
diagram phase alone (``SummaryReport.seconds``: the chunks through the worker processes, start-up
included). Both run once untimed on a few samples first (imports, JIT caches). Every row prints
``speedup = GUDHI / ours`` (> 1: toposci is faster); the issue's target is >= 2x end to end. The
GUDHI loop's steps are printed too. With ``--gudhi-subset S`` (QM9 only) the loop runs on ``S``
random molecules (seed 0) and its per-sample steps (diagrams, landscapes, Betti curves, write)
are extrapolated to the whole set; reading the file and the data-set diagram are timed as they are.
The diagram points per sample are compared on the loop's samples, and the mean landscape and Betti
curve when the loop ran on every sample, to show that both did the same work.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gudhi
import numpy as np
import torch
from _timing import interleaved_medians, report
from gudhi.representations import BettiCurve, Landscape

from toposci.summary import SummaryReport, load_diagrams, summarize

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
Z95 = 1.959963984540054
STEPS = ("read", "diagrams", "landscapes", "betti", "dataset", "write")
PER_SAMPLE_STEPS = ("diagrams", "landscapes", "betti", "betti_numpy", "write")  # scaled up


@dataclass
class Workload:
    """One benchmark row: a summarize source and the GUDHI loop's pieces for it."""

    name: str
    source: Path
    limit: int | None
    chunk_size: int
    dims: tuple[int, ...]
    read: Callable[[], list[tuple[str, Any]]]  # (sample id, raw sample) in source order
    diagram: Callable[[Any], dict[int, np.ndarray]]  # one sample's diagrams
    descriptor: str  # "tanimoto", "pixels" or "landscapes"
    note: str


# ------------------------------------------------------------------------ GUDHI diagrams
def _lower_star_tree(values: np.ndarray, edges: np.ndarray) -> gudhi.SimplexTree:
    """Flag complex of a graph, every simplex at the largest value of its vertices."""
    tree = gudhi.SimplexTree()
    tree.insert_batch(np.arange(len(values))[None], values)
    if len(edges):
        tree.insert_batch(edges.T, values[edges].max(axis=1))
    tree.expansion(2)
    # a graph without triangles is a 1-dimensional complex, whose H1 GUDHI skips by default
    tree.persistence(persistence_dim_max=True)
    return tree


def _intervals(tree: Any, dims: Sequence[int]) -> dict[int, np.ndarray]:
    return {d: np.asarray(tree.persistence_intervals_in_dimension(d),
                          dtype=np.float64).reshape(-1, 2) for d in dims}


def _qm9() -> Workload:
    from rdkit import Chem

    path = DATA / "qm9" / "qm9_smiles.csv.gz"

    def read() -> list[tuple[str, str]]:
        with gzip.open(path, "rt", newline="") as f:
            # summarize names the molecules of a CSV file without an id column by line number:
            # the header is line 1, so data row i is line i + 2
            return [(str(i + 2), r["smiles"]) for i, r in enumerate(csv.DictReader(f))]

    def diagram(smiles: str) -> dict[int, np.ndarray]:
        mol = Chem.MolFromSmiles(smiles)
        z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.float64)
        edges = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()],
                         dtype=np.int64).reshape(-1, 2)
        return _intervals(_lower_star_tree(z, edges), (0, 1))

    return Workload("QM9", path, None, 512, (0, 1), read, diagram, "tanimoto",
                    "all 133,885 molecules")


def _proteins() -> Workload:
    from toposci.domains.proteins import read_structure

    folder = DATA / "proteins"

    def read() -> list[tuple[str, Path]]:
        files = sorted(p for p in folder.iterdir() if p.name.endswith(".pdb.gz"))
        return [(p.name.split(".")[0], p) for p in files]

    def diagram(path: Path) -> dict[int, np.ndarray]:
        points = read_structure(path).pos.double().numpy()  # (N, 3)
        tree = gudhi.AlphaComplex(points=points).create_simplex_tree()
        tree.persistence()
        return {d: np.sqrt(a) for d, a in _intervals(tree, (0, 1, 2)).items()}

    return Workload("proteins", folder, None, 8, (0, 1, 2), read, diagram, "landscapes",
                    "all 77 structures; chunks of 8 (the default)")


def _imdb() -> Workload:
    from toposci.domains.social import read_tu_dataset

    folder = DATA / "social"

    def read() -> list[tuple[str, tuple[np.ndarray, int]]]:
        out = []
        for i, g in enumerate(read_tu_dataset(folder, "IMDB-BINARY")):
            e = g.edge_index.numpy()
            out.append((f"IMDB-BINARY_{i}", (e[:, e[0] < e[1]].T, int(g.num_nodes))))  # (U, 2)
        return out

    def diagram(graph: tuple[np.ndarray, int]) -> dict[int, np.ndarray]:
        edges, n = graph
        degree = np.bincount(edges.reshape(-1), minlength=n).astype(np.float64)
        return _intervals(_lower_star_tree(degree, edges), (0, 1))

    return Workload("IMDB-B", folder, None, 64, (0, 1), read, diagram, "landscapes",
                    "all 1,000 graphs; chunks of 64")


def _mnist(n: int) -> Workload:
    from toposci.domains.images import load_mnist

    folder = DATA / "images" / "mnist"

    def read() -> list[tuple[str, np.ndarray]]:
        images = load_mnist(folder, split="train")[0][:n, 0].double().numpy()  # (n, 28, 28)
        return [(f"image_{i}", image) for i, image in enumerate(images)]

    def diagram(image: np.ndarray) -> dict[int, np.ndarray]:
        cc = gudhi.CubicalComplex(top_dimensional_cells=1.0 - image)
        cc.persistence()
        return _intervals(cc, (0, 1))

    return Workload("MNIST10k", folder, n, 512, (0, 1), read, diagram, "pixels",
                    f"first {n:,} training images")


# ------------------------------------------------------------------------ the GUDHI loop
@dataclass
class LoopResult:
    steps: dict[str, float]  # seconds per step, for the samples it ran on
    ids: list[str]
    diagrams: list[dict[int, np.ndarray]]
    landscape_mean: dict[int, np.ndarray]  # (K, T)
    betti_mean: dict[int, np.ndarray]  # (T,)


def _finite(dgm: np.ndarray) -> np.ndarray:
    return dgm[np.isfinite(dgm).all(axis=1)]


def _band(total: np.ndarray, squares: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    mean = total / n
    std = np.sqrt(np.maximum(squares - n * mean**2, 0.0) / max(n - 1, 1))
    half = Z95 * std / np.sqrt(n)
    return mean, mean - half, mean + half


def _descriptors(work: Workload, raws: list[Any], diagrams: list[dict[int, np.ndarray]],
                 grid: tuple[float, float]) -> np.ndarray:
    """(n, n) distances between the picked samples."""
    from scipy.spatial.distance import cdist

    if work.descriptor == "tanimoto":
        from toposci.domains.fingerprints import tanimoto_distances

        return tanimoto_distances(raws)
    if work.descriptor == "pixels":
        x = np.stack([r.reshape(-1) for r in raws])  # (n, H*W)
    else:
        small = Landscape(num_landscapes=3, resolution=50, sample_range=list(grid))
        x = np.stack([np.concatenate([small(_finite(dg[d])) for d in work.dims])
                      for dg in diagrams])  # (n, dims * 3 * 50)
    return cdist(x, x)


def gudhi_loop(work: Workload, out: Path, *, subset: int | None, seed: int = 0) -> LoopResult:
    """The summary with GUDHI one sample at a time (steps in the module docstring)."""
    from gph import ripser_parallel

    steps = {}
    t0 = time.perf_counter()
    samples = work.read()
    steps["read"] = time.perf_counter() - t0
    if subset is not None and subset < len(samples):
        rng = np.random.default_rng(0)
        samples = [samples[i] for i in np.sort(rng.choice(len(samples), subset, replace=False))]

    t0 = time.perf_counter()
    ids, raws, diagrams = [], [], []
    for sample_id, raw in samples:
        diagrams.append(work.diagram(raw))
        ids.append(sample_id)
        raws.append(raw)
    steps["diagrams"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    values = np.concatenate([dg[d].reshape(-1) for dg in diagrams for d in work.dims])
    values = values[np.isfinite(values)]
    lo, hi = float(values.min()), float(values.max())
    grid = np.linspace(lo, hi, 100)
    landscape = Landscape(num_landscapes=5, resolution=100, sample_range=[lo, hi])
    sums = {d: [np.zeros(500), np.zeros(500)] for d in work.dims}
    for dg in diagrams:
        for d in work.dims:
            lam = landscape(_finite(dg[d]))  # (K * T,)
            sums[d][0] += lam
            sums[d][1] += lam * lam
    steps["landscapes"] = time.perf_counter() - t0

    def betti_curves(curve: Callable[[np.ndarray], np.ndarray]) -> None:
        for d in work.dims:
            sums[d][2:] = [np.zeros(100), np.zeros(100)]
        for dg in diagrams:
            for d in work.dims:
                b = curve(dg[d])  # (T,)
                sums[d][2] += b
                sums[d][3] += b * b

    t0 = time.perf_counter()  # a cheaper way, timed for comparison only: one numpy line
    betti_curves(lambda dgm: ((dgm[:, :1] <= grid) & (grid < dgm[:, 1:])).sum(axis=0))
    steps["betti_numpy"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    betti_curves(BettiCurve(predefined_grid=grid))
    n = len(diagrams)
    summary = {}
    for d, (ls, ls2, bs, bs2) in sums.items():
        for name, (mean, low, high) in (("landscape", _band(ls, ls2, n)),
                                        ("betti", _band(bs, bs2, n))):
            summary.update({f"H{d}_{name}_mean": mean, f"H{d}_{name}_low": low,
                            f"H{d}_{name}_high": high})
    steps["betti"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(n, size=min(1000, n), replace=False))
    dist = _descriptors(work, [raws[i] for i in picked], [diagrams[i] for i in picked], (lo, hi))
    dataset = ripser_parallel(dist, metric="precomputed", maxdim=1, n_threads=1)["dgms"]
    steps["dataset"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    arrays: dict[str, np.ndarray] = {"ids": np.array(ids, dtype=str)}
    for d in work.dims:
        rows = [dg[d] for dg in diagrams]
        arrays[f"H{d}"] = np.concatenate(rows)
        arrays[f"H{d}_offsets"] = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    np.savez_compressed(out / "gudhi.npz", **arrays)
    np.savez_compressed(out / "gudhi_summary.npz", grid=grid, **summary,
                        **{f"dataset_H{d}": dgm for d, dgm in enumerate(dataset)})
    (out / "gudhi_summary.json").write_text(json.dumps({
        "n_summarized": n,
        "points_per_sample": {f"H{d}": float(np.mean([len(dg[d]) for dg in diagrams]))
                              for d in work.dims}}))
    steps["write"] = time.perf_counter() - t0
    return LoopResult(steps, ids, diagrams,
                      {d: summary[f"H{d}_landscape_mean"].reshape(5, 100) for d in work.dims},
                      {d: summary[f"H{d}_betti_mean"] for d in work.dims})


# ------------------------------------------------------------------------ running one row
def run(work: Workload, *, workers: int, repeats: int, subset: int | None, tmp: Path) -> None:
    reports: list[SummaryReport] = []
    loops: list[LoopResult] = []
    out = tmp / f"{work.name}.npz"

    def ours(limit: int | None) -> None:
        reports.append(summarize(str(work.source), out, workers=workers, limit=limit,
                                 chunk_size=work.chunk_size, force=True, progress=False))

    # untimed warm-up on a few samples: imports, numba caches
    ours(2 * work.chunk_size)
    gudhi_loop(work, tmp, subset=min(20, subset or 20))
    reports.clear()
    times = interleaved_medians({"ours": lambda: ours(work.limit),
                                 "gudhi": lambda: loops.append(gudhi_loop(work, tmp,
                                                                          subset=subset))},
                                repeats, warmup_runs=0)
    last, loop = reports[-1], loops[-1]
    n_ours, n_loop = last.n_samples, len(loop.ids)
    scale = n_ours / n_loop
    steps = {k: float(np.median([lp.steps[k] for lp in loops])) * (
        scale if k in PER_SAMPLE_STEPS else 1.0) for k in (*STEPS, "betti_numpy")}
    gudhi_total = sum(steps[k] for k in STEPS)
    numpy_betti_total = gudhi_total - steps["betti"] + steps["betti_numpy"]
    gudhi_diagrams = steps["read"] + steps["diagrams"]
    phase = float(np.median([r.seconds for r in reports]))

    ids, dgms = load_diagrams(out)
    position = {i: k for k, i in enumerate(ids)}
    agree = sum(all(len(dgms[d][position[i]]) == len(dg[d]) for d in work.dims)
                for i, dg in zip(loop.ids, loop.diagrams) if i in position)

    extrapolated = f", per-sample steps x{scale:.1f}" if scale != 1 else ""
    print(f"\n{work.name}: {n_ours:,} samples ({last.n_failed} failed), {workers} workers; "
          f"{work.note}; GUDHI loop on {n_loop:,}{extrapolated}")
    report(work.name, f"summarize end to end, {workers} workers", times["ours"],
           {"GUDHI one-at-a-time summary": gudhi_total,
            "the same, Betti curves by numpy, not BettiCurve": numpy_betti_total})
    report(work.name, f"summarize diagram phase only, {workers} workers", phase,
           {"GUDHI read + diagrams only": gudhi_diagrams})
    print(f"{'':<9}   throughput: ours {n_ours / times['ours']:,.0f} samples/s end to end, "
          f"{n_ours / phase:,.0f} samples/s diagram phase; GUDHI {n_ours / gudhi_total:,.0f} "
          f"samples/s end to end, {n_ours / gudhi_diagrams:,.0f} samples/s read + diagrams")
    print(f"{'':<9}   GUDHI steps (s, whole set): " + ", ".join(
        f"{k} {t:.2f}" for k, t in steps.items()))
    print(f"{'':<9}   diagram points per sample equal to GUDHI's on {agree:,} of {n_loop:,} "
          "samples")
    if n_loop == n_ours:
        with np.load(out.with_name(out.stem + "_summary.npz")) as z:
            err = max(max(np.abs(z[f"H{d}_landscape_mean"] - loop.landscape_mean[d]).max(),
                          np.abs(z[f"H{d}_betti_mean"] - loop.betti_mean[d]).max())
                      for d in work.dims)
        print(f"{'':<9}   mean landscapes and Betti curves: largest difference {err:.1e}")


WORKLOADS: dict[str, Callable[[], Workload]] = {
    "qm9": _qm9,
    "proteins": _proteins,
    "imdb": _imdb,
    "mnist": lambda: _mnist(10_000),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(WORKLOADS),
                        help=f"comma-separated workloads out of {','.join(WORKLOADS)}")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gudhi-subset", type=int, default=10_000,
                        help="QM9 molecules the GUDHI loop runs on (0: all of them)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="rounds of (ours, GUDHI), round-robin; medians are printed")
    args = parser.parse_args()
    torch.set_num_threads(1)  # summarize runs torch on one thread per process anyway
    if not DATA.is_dir():
        raise SystemExit(f"shared data sets not found at {DATA}")
    names = args.only.split(",")
    for name in names:
        if name not in WORKLOADS:
            raise SystemExit(f"unknown workload {name!r}; choose from {sorted(WORKLOADS)}")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; medians of "
          f"{args.repeats} round(s); speedup = GUDHI / ours")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            start = time.perf_counter()
            subset = args.gudhi_subset or None if name == "qm9" else None
            run(WORKLOADS[name](), workers=args.workers, repeats=args.repeats, subset=subset,
                tmp=Path(tmp))
            print(f"{'':<9}   (row took {time.perf_counter() - start:.0f} s)")
