"""Rebuild the small samples shipped in datasets/ from the full data sets in ../shared/data.

Run from the repository root: ``python datasets/make_samples.py [SHARED_DATA_DIR]``.
Every sample is a seeded subset of real records, byte-for-byte where the format allows
(PDB files are copied unchanged; IDX and TUDataset files are rewritten with fewer records).
"""

from __future__ import annotations

import csv
import gzip
import shutil
import sys
from pathlib import Path

import numpy as np

SEED = 20261123
HERE = Path(__file__).resolve().parent

PROTEINS = ["1BXY_A", "1CTF_A", "1PTF_A", "1GUU_A", "1c5e", "154l", "d1itha_", "2rn2"]


def sample_qm9(src: Path, n: int = 2000) -> None:
    with gzip.open(src / "qm9" / "qm9_smiles.csv.gz", "rt", newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    rng = np.random.default_rng(SEED)
    keep = np.sort(rng.choice(len(body), size=n, replace=False))
    out = HERE / "qm9"
    out.mkdir(exist_ok=True)
    with open(out / "qm9_sample.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(body[i] for i in keep)


def sample_proteins(src: Path) -> None:
    out = HERE / "proteins"
    out.mkdir(exist_ok=True)
    for name in PROTEINS:
        shutil.copyfile(src / "proteins" / f"{name}.pdb.gz", out / f"{name}.pdb.gz")


def sample_imdb(src: Path, per_class: int = 50) -> None:
    def read(name: str) -> list[str]:
        with gzip.open(src / "social" / f"IMDB-BINARY_{name}.txt.gz", "rt") as f:
            return f.read().split("\n")

    labels = [int(s) for s in read("graph_labels") if s.strip()]
    indicator = np.array([int(s) for s in read("graph_indicator") if s.strip()])
    edges = np.array([[int(t) for t in s.split(",")] for s in read("A") if s.strip()])
    rng = np.random.default_rng(SEED)
    graphs = []
    for label in sorted(set(labels)):
        ids = [g + 1 for g, lab in enumerate(labels) if lab == label]
        graphs.extend(rng.choice(ids, size=per_class, replace=False).tolist())
    graphs.sort()
    node_ids = np.flatnonzero(np.isin(indicator, graphs)) + 1  # 1-based global ids kept
    new_node = {int(old): new + 1 for new, old in enumerate(node_ids)}
    new_graph = {g: i + 1 for i, g in enumerate(graphs)}
    keep_edge = np.isin(edges[:, 0], node_ids)
    out = HERE / "social"
    out.mkdir(exist_ok=True)
    with gzip.open(out / "IMDB-BINARY_A.txt.gz", "wt") as f:
        f.writelines(f"{new_node[a]}, {new_node[b]}\n" for a, b in edges[keep_edge])
    with gzip.open(out / "IMDB-BINARY_graph_indicator.txt.gz", "wt") as f:
        f.writelines(f"{new_graph[int(indicator[i - 1])]}\n" for i in node_ids)
    with gzip.open(out / "IMDB-BINARY_graph_labels.txt.gz", "wt") as f:
        f.writelines(f"{labels[g - 1]}\n" for g in graphs)


def sample_mnist(src: Path, n_train: int = 1000, n_test: int = 200) -> None:
    out = HERE / "mnist"
    out.mkdir(exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        with gzip.open(src / "images" / "mnist" / f"{split}-images-idx3-ubyte.gz", "rb") as f:
            images = f.read()
        with gzip.open(src / "images" / "mnist" / f"{split}-labels-idx1-ubyte.gz", "rb") as f:
            labels = f.read()
        img_header = (2051).to_bytes(4, "big") + n.to_bytes(4, "big") + images[8:16]
        lab_header = (2049).to_bytes(4, "big") + n.to_bytes(4, "big")
        with gzip.GzipFile(out / f"{split}-images-idx3-ubyte.gz", "wb", mtime=0) as f:
            f.write(img_header + images[16 : 16 + n * 784])
        with gzip.GzipFile(out / f"{split}-labels-idx1-ubyte.gz", "wb", mtime=0) as f:
            f.write(lab_header + labels[8 : 8 + n])


def main() -> None:
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent.parent / "shared" / "data"
    if not src.is_dir():
        raise SystemExit(f"shared data folder not found: {src}")
    sample_qm9(src)
    sample_proteins(src)
    sample_imdb(src)
    sample_mnist(src)


if __name__ == "__main__":
    main()
