"""Where `toposci summarize` reads samples from: shipped sample names, files and folders.

A source resolves to a domain plus a list of ``(id, payload)`` pairs, the payload being what the
domain's views read in a worker process (a SMILES string, a structure file path, a graph's edge
list, an image array).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from toposci.download import shipped_dir

__all__ = ["NAMED_SOURCES", "Source", "open_source"]


@dataclass
class Source:
    """Samples of one domain, ready for a view.

    Attributes:
        domain: ``"molecules"``, ``"proteins"``, ``"social"`` or ``"images"``.
        name: what the user asked for (a shipped name or a path).
        ids: one id per sample.
        payloads: one payload per sample, aligned with ``ids``.
        skipped: ``(id, reason)`` for records that could not even be read.
    """

    domain: str
    name: str
    ids: list[str]
    payloads: list[Any]
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _molecules(path: Path, name: str, limit: int | None,
               id_column: str | None = None) -> Source:
    """SMILES of a molecule file, ids as :func:`~toposci.domains.molecule_io.read_molecules`
    gives them.

    A SMILES file (``.csv`` / ``.smi``) is not parsed here: its SMILES go to the view as they
    are, which parses each once (in the worker processes) and reports an invalid one as that
    sample's failure. An SDF file is read with RDKit and its molecules written as SMILES.
    """
    from toposci.domains import molecule_io

    lower = path.name.lower().removesuffix(".gz")
    if lower.endswith((".csv", ".smi", ".smiles")):
        records = molecule_io._csv_records(path, "smiles", id_column) if lower.endswith(
            ".csv") else molecule_io._smi_records(path)
        ids, smiles, skipped = [], [], []
        for number, text, sample_id in records:
            if text:
                ids.append(sample_id)
                smiles.append(text)
            else:
                skipped.append((f"record {number}", "empty SMILES field"))
        return Source("molecules", name, ids, smiles, skipped)
    from rdkit import Chem

    result = molecule_io.read_molecules(path, id_column=id_column)
    return Source("molecules", name, result.ids,
                  [Chem.MolToSmiles(m) for m in result.molecules],
                  [(f"record {s.number}", f"{s.reason}: {s.text}") for s in result.skipped])


def _proteins(path: Path, name: str, limit: int | None) -> Source:
    files = [path] if path.is_file() else sorted(
        p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(_structure_suffixes()))
    return Source("proteins", name, [p.name.split(".")[0] for p in files],
                  [str(p) for p in files])


def _social(path: Path, name: str, limit: int | None) -> Source:
    from toposci.domains.social import read_tu_dataset

    found = sorted(path.glob("*_A.txt*"))
    tu_name = found[0].name.split("_A.txt")[0]
    graphs = read_tu_dataset(path, tu_name)
    return Source("social", name, [f"{tu_name}_{i}" for i in range(len(graphs))],
                  [(g.edge_index.numpy(), int(g.num_nodes)) for g in graphs])


def _images(path: Path, name: str, limit: int | None) -> Source:
    if path.suffix == ".npy":
        array = np.load(path)
        if array.ndim == 4 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != 3:
            raise ValueError(f"{path}: expected images (N, H, W) or (N, 1, H, W), got "
                             f"{array.shape}")
        images = array.astype(np.float64)
    else:
        from toposci.domains.images import load_mnist

        # converted to float64 only up to the limit: the training set has 60,000 images
        images = load_mnist(path, split="train")[0][:limit, 0].double().numpy()  # (N, 28, 28)
    return Source("images", name, [f"image_{i}" for i in range(len(images))], list(images))


def _shipped(sub: str) -> Callable[[], Path]:
    return lambda: shipped_dir() / sub


Reader = Callable[[Path, str, int | None], Source]  # (path, name, limit): limit may be ignored

#: Shipped samples by name: (domain reader, where the files are).
NAMED_SOURCES: dict[str, tuple[Reader, Callable[[], Path]]] = {
    "qm9-sample": (partial(_molecules, id_column="mol_id"), _shipped("qm9/qm9_sample.csv")),
    "proteins-sample": (_proteins, _shipped("proteins")),
    "imdb-sample": (_social, _shipped("social")),
    "mnist-sample": (_images, _shipped("mnist")),
}

_MOLECULE_SUFFIXES = (".csv", ".smi", ".sdf", ".csv.gz", ".smi.gz", ".sdf.gz")


def _structure_suffixes() -> tuple[str, ...]:
    """Structure file suffixes (imported when needed: the proteins module imports PyG)."""
    from toposci.domains.proteins import STRUCTURE_SUFFIXES

    return tuple(s + gz for s in STRUCTURE_SUFFIXES for gz in ("", ".gz"))


def _detect(path: Path) -> Reader:
    """Pick the domain reader for a file or folder, or say what is recognised."""
    name = path.name.lower()
    if path.is_file():
        if name.endswith(_MOLECULE_SUFFIXES):
            return _molecules
        if name.endswith(_structure_suffixes()):
            return _proteins
        if name.endswith(".npy"):
            return _images
    elif path.is_dir():
        entries = [p.name.lower() for p in path.iterdir()]
        if any("_a.txt" in e for e in entries):
            return _social
        if any("-idx3-ubyte" in e for e in entries):
            return _images
        if any(e.endswith(_structure_suffixes()) for e in entries):
            return _proteins
    raise ValueError(
        f"cannot tell the domain of {path}: expected a molecule file "
        f"({', '.join(_MOLECULE_SUFFIXES)}), a structure file or a folder of them "
        "(.pdb/.cif[.gz]), a TUDataset folder (*_A.txt), an MNIST IDX folder, or an image "
        "array (.npy)"
    )


def open_source(spec: str, *, limit: int | None = None) -> Source:
    """Resolve a shipped sample name or a path into a :class:`Source`.

    Args:
        spec: one of :data:`NAMED_SOURCES` or a file / folder.
        limit: keep only the first ``limit`` samples.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be >= 1, got {limit}")
    if spec in NAMED_SOURCES:
        reader, where = NAMED_SOURCES[spec]
        source = reader(where(), spec, limit)
    else:
        path = Path(spec)
        if not path.exists():
            raise ValueError(f"{spec!r} is neither a shipped sample ({', '.join(NAMED_SOURCES)}) "
                             "nor an existing file or folder")
        source = _detect(path)(path, spec, limit)
    if limit is not None:
        source.ids, source.payloads = source.ids[:limit], source.payloads[:limit]
    if not source.ids:
        raise ValueError(f"{spec}: no samples to summarize")
    return source
