"""Throughput of ``toposci summarize`` against GUDHI called one sample at a time from Python.

Usage: ``python benchmarks/summarize.py [--only qm9,proteins,imdb,mnist] [--workers 2]
[--gudhi-subset 5000] [--repeats 1]``.

Each workload runs :func:`toposci.summary.summarize` (the library function behind the command
line) with ``--workers`` processes on a shared data set under ``shared/data`` beside the
checkout, and the same filtration built with GUDHI's Python API in a plain loop in this process:

* ``qm9``: all 133,885 QM9 molecules, lower-star filtration by atomic number on the clique
  complex (triangles filled), H0 + H1. GUDHI: RDKit parses the SMILES, ``SimplexTree`` with
  vertices at their atomic number and edges at the larger one, ``expansion(2)``,
  ``persistence(persistence_dim_max=True)`` (else GUDHI skips the H1 of a molecule without
  3-rings, a complex of dimension 1). The GUDHI loop is timed on ``--gudhi-subset`` random
  molecules (seed 0) and extrapolated per sample to the whole set.
* ``proteins``: the 77 shared structures, alpha complex of the C-alpha cloud, H0 - H2 (radii).
  GUDHI: the same reader (:func:`toposci.domains.proteins.read_structure`, so both read the
  files), ``AlphaComplex(points).create_simplex_tree()``, ``persistence()``.
* ``imdb``: the 1,000 IMDB-BINARY graphs, lower-star filtration by node degree on the clique
  complex, H0 + H1. GUDHI: ``SimplexTree`` as for QM9, graphs read beforehand.
* ``mnist``: the first 10,000 MNIST training images, cubical sublevel sets of ``1 - intensity``,
  H0 + H1. GUDHI: ``CubicalComplex(top_dimensional_cells=1 - image).persistence()``.

Ours is timed end to end (reading the source, diagrams, data-set statistics, the descriptor
diagram of the data set, writing the files) and, separately, its diagram phase alone
(``SummaryReport.seconds``: the chunks through the worker processes, spawn start-up included).
The GUDHI loops get their input already in memory (except proteins, read in both). Every row
prints ``speedup = GUDHI / ours`` (> 1: toposci is faster); the issue's target is >= 2x. The
number of diagram points per sample is compared between the two on the GUDHI samples, to show
that both did the same work.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gudhi
import numpy as np
from _timing import interleaved_medians, report

from toposci.summary import SummaryReport, load_diagrams, summarize

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


@dataclass
class Workload:
    """One benchmark row: a summarize source and its GUDHI loop."""

    name: str
    source: Path
    limit: int | None
    chunk_size: int
    gudhi_ids: list[str]  # the samples the GUDHI loop computes
    gudhi_loop: Callable[[], dict[str, int]]  # returns points per sample id
    n_total: int  # samples in the whole workload (for extrapolation)
    note: str


def _points(intervals: list[np.ndarray]) -> int:
    return sum(len(i) for i in intervals)


# ------------------------------------------------------------------------ GUDHI loops
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


def _qm9(subset: int) -> Workload:
    from rdkit import Chem

    path = DATA / "qm9" / "qm9_smiles.csv.gz"
    with gzip.open(path, "rt", newline="") as f:
        # summarize names the molecules of a CSV file without an id column by line number:
        # the header is line 1, so data row i is line i + 2
        rows = [(str(i + 2), r["smiles"]) for i, r in enumerate(csv.DictReader(f))]
    rng = np.random.default_rng(0)
    picked = [rows[i] for i in np.sort(rng.choice(len(rows), size=min(subset, len(rows)),
                                                  replace=False))]

    def loop() -> dict[str, int]:
        out = {}
        for line, smiles in picked:
            mol = Chem.MolFromSmiles(smiles)
            z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.float64)
            edges = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()],
                             dtype=np.int64).reshape(-1, 2)
            tree = _lower_star_tree(z, edges)
            out[line] = _points([tree.persistence_intervals_in_dimension(d) for d in (0, 1)])
        return out

    return Workload("QM9", path, None, 512, [m for m, _ in picked], loop, len(rows),
                    f"GUDHI timed on {len(picked):,} random molecules (seed 0), extrapolated "
                    f"per sample to all {len(rows):,}")


def _proteins() -> Workload:
    from toposci.domains.proteins import read_structure

    folder = DATA / "proteins"
    files = sorted(p for p in folder.iterdir() if p.name.endswith(".pdb.gz"))

    def loop() -> dict[str, int]:
        out = {}
        for path in files:
            points = read_structure(path).pos.double().numpy()  # (N, 3)
            tree = gudhi.AlphaComplex(points=points).create_simplex_tree()
            tree.persistence()
            out[path.name.split(".")[0]] = _points(
                [np.sqrt(tree.persistence_intervals_in_dimension(d)) for d in (0, 1, 2)])
        return out

    return Workload("proteins", folder, None, 8, [p.name.split(".")[0] for p in files], loop,
                    len(files), "all structures in both; chunks of 8 so both workers get work")


def _imdb() -> Workload:
    from toposci.domains.social import read_tu_dataset

    folder = DATA / "social"
    graphs = read_tu_dataset(folder, "IMDB-BINARY")
    edge_lists = []
    for g in graphs:
        e = g.edge_index.numpy()
        edge_lists.append((e[:, e[0] < e[1]].T, int(g.num_nodes)))  # (U, 2) undirected

    def loop() -> dict[str, int]:
        out = {}
        for i, (edges, n) in enumerate(edge_lists):
            degree = np.bincount(edges.reshape(-1), minlength=n).astype(np.float64)
            tree = _lower_star_tree(degree, edges)
            out[f"IMDB-BINARY_{i}"] = _points([tree.persistence_intervals_in_dimension(d)
                                               for d in (0, 1)])
        return out

    return Workload("IMDB-B", folder, None, 64, [f"IMDB-BINARY_{i}" for i in range(len(graphs))],
                    loop, len(graphs), "all 1,000 graphs in both; chunks of 64")


def _mnist(n: int) -> Workload:
    from toposci.domains.images import load_mnist

    folder = DATA / "images" / "mnist"
    images = 1.0 - load_mnist(folder, split="train")[0][:n, 0].double().numpy()  # (n, 28, 28)

    def loop() -> dict[str, int]:
        out = {}
        for i, image in enumerate(images):
            cc = gudhi.CubicalComplex(top_dimensional_cells=image)
            cc.persistence()
            out[f"image_{i}"] = _points([cc.persistence_intervals_in_dimension(d)
                                         for d in (0, 1)])
        return out

    return Workload("MNIST10k", folder, n, 512, [f"image_{i}" for i in range(n)], loop, n,
                    f"first {n:,} training images in both")


# ------------------------------------------------------------------------ running one row
def run(work: Workload, *, workers: int, repeats: int, tmp: Path) -> None:
    reports: list[SummaryReport] = []
    gudhi_counts: list[dict[str, int]] = []

    def ours() -> None:
        reports.append(summarize(str(work.source), tmp / f"{work.name}.npz", workers=workers,
                                 limit=work.limit, chunk_size=work.chunk_size, force=True,
                                 progress=False))

    times = interleaved_medians({"ours": ours, "gudhi": lambda: gudhi_counts.append(
        work.gudhi_loop())}, repeats, warmup_runs=0)
    last = reports[-1]
    n_ours = last.n_samples
    phase = float(np.median([r.seconds for r in reports]))
    per_sample = times["gudhi"] / len(work.gudhi_ids)
    gudhi_total = per_sample * work.n_total

    ids, dgms = load_diagrams(tmp / f"{work.name}.npz")
    ours_counts = {i: sum(len(dgms[d][k]) for d in dgms) for k, i in enumerate(ids)}
    agree = sum(ours_counts.get(i) == c for i, c in gudhi_counts[-1].items())

    print(f"\n{work.name}: {n_ours:,} samples ({last.n_failed} failed), {workers} workers; "
          f"{work.note}")
    report(work.name, f"summarize end to end, {workers} workers", times["ours"],
           {f"GUDHI one-at-a-time loop ({gudhi_total / work.n_total * 1e3:.3f} ms/sample)":
            gudhi_total})
    report(work.name, f"summarize diagram phase only, {workers} workers", phase,
           {"GUDHI one-at-a-time loop": gudhi_total})
    print(f"{'':<9}   throughput: ours {n_ours / times['ours']:,.0f} samples/s end to end, "
          f"{n_ours / phase:,.0f} samples/s diagram phase; GUDHI {1 / per_sample:,.0f} "
          "samples/s")
    print(f"{'':<9}   diagram points per sample equal to GUDHI's on {agree:,} of "
          f"{len(gudhi_counts[-1]):,} samples")


WORKLOADS: dict[str, Callable[[argparse.Namespace], Workload]] = {
    "qm9": lambda args: _qm9(args.gudhi_subset),
    "proteins": lambda args: _proteins(),
    "imdb": lambda args: _imdb(),
    "mnist": lambda args: _mnist(10_000),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(WORKLOADS),
                        help=f"comma-separated workloads out of {','.join(WORKLOADS)}")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gudhi-subset", type=int, default=5000,
                        help="QM9 molecules the GUDHI loop is timed on (extrapolated)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="rounds of (ours, GUDHI), round-robin; medians are printed")
    args = parser.parse_args()
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
            run(WORKLOADS[name](args), workers=args.workers, repeats=args.repeats,
                tmp=Path(tmp))
            print(f"{'':<9}   (row took {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
