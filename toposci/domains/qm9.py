"""The QM9 data set as a PyG ``InMemoryDataset``, featurized once into a processed cache."""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data, InMemoryDataset

from toposci.domains.cache import (
    CacheRecipe,
    ProcessedCache,
    ptr_from_sizes,
    select_segments,
)
from toposci.domains.molecule_io import Skipped, _open_text, _parse_smiles, _warn_skipped
from toposci.domains.molecules import (
    ATOM_TYPES,
    BOND_TYPES,
    FEATURIZER_VERSION,
    NODE_FEATURES,
    _canonical,
    edge_features,
    graph_arrays,
    node_features,
)
from toposci.download import sha256_file

__all__ = ["QM9"]

_SHIPPED_QM9 = Path(__file__).resolve().parents[2] / "datasets" / "qm9" / "qm9_sample.csv"
_QM9_COLUMNS = ("index", "smiles", "homo", "gdss_split")
_PARALLEL_FROM = 20_000  # sources with fewer molecules are featurized in-process
_CHUNK = 5_000


def _featurize_rows(rows: Sequence[tuple[int, str]]) -> dict[str, Any]:
    """Featurize ``(line number, SMILES)`` rows into concatenated arrays (one worker's chunk)."""
    from rdkit import rdBase

    atom_type, charge, num_hs, src, dst, bond = [], [], [], [], [], []
    n_atoms, n_edges, smiles, kept, skipped = [], [], [], [], []
    with rdBase.BlockLogs():
        for position, (number, text) in enumerate(rows):
            mol, reason = _parse_smiles(text, frozenset(ATOM_TYPES))
            try:
                arrays = graph_arrays(mol) if mol is not None else None
            except ValueError as err:
                arrays, reason = None, str(err)
            if arrays is None:
                skipped.append((number, text, reason))
                continue
            accumulators = (atom_type, charge, num_hs, src, dst, bond)
            for acc, values in zip(accumulators, arrays, strict=True):
                acc.extend(values)
            n_atoms.append(len(arrays[0]))
            n_edges.append(len(arrays[5]))
            smiles.append(_canonical(mol))
            kept.append(position)
    return {
        "atom_type": np.array(atom_type, dtype=np.int8),
        "charge": np.array(charge, dtype=np.int8),
        "num_hs": np.array(num_hs, dtype=np.int8),
        "edge_index": np.array([src, dst], dtype=np.int32).reshape(2, -1),  # (2, E) local
        "bond_type": np.array(bond, dtype=np.int8),
        "n_atoms": np.array(n_atoms, dtype=np.int64),
        "n_edges": np.array(n_edges, dtype=np.int64),
        "smiles": smiles, "kept": kept, "skipped": skipped,
    }


def _read_qm9_csv(path: Path) -> tuple[list[tuple[int, str]], list[tuple[int, float, bool]],
                                         list[tuple[int, str, str]]]:
    """``(line, SMILES)`` pairs, their ``(index, homo, is_test)`` and the malformed rows."""
    pairs, fields, skipped = [], [], []
    split_is_test = {"train": False, "test": True}
    with _open_text(path) as f:
        reader = csv.DictReader(f)
        missing = [c for c in _QM9_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: a QM9 csv needs columns {_QM9_COLUMNS}, missing {missing}")
        for row in reader:
            smiles = (row["smiles"] or "").strip()
            try:
                fields.append((int(row["index"]), float(row["homo"]),
                               split_is_test[(row["gdss_split"] or "").strip()]))
            except (KeyError, TypeError, ValueError):
                skipped.append((reader.line_num, smiles, "bad index, homo or gdss_split value"))
                continue
            pairs.append((reader.line_num, smiles))
    return pairs, fields, skipped


def _build_qm9(path: Path, num_workers: int | None) -> dict[str, Any]:
    """Featurize a QM9 csv into the cache payload: concatenated int tensors + offsets."""
    pairs, fields, skipped = _read_qm9_csv(path)
    starts = range(0, len(pairs), _CHUNK)
    chunks = [pairs[i:i + _CHUNK] for i in starts]
    if num_workers is None:
        num_workers = (os.cpu_count() or 1) if len(pairs) >= _PARALLEL_FROM else 1
    if num_workers > 1 and len(chunks) > 1:
        with ProcessPoolExecutor(min(num_workers, len(chunks))) as pool:
            parts = list(pool.map(_featurize_rows, chunks))
    else:
        parts = [_featurize_rows(c) for c in chunks]
    kept = [fields[i + k] for i, p in zip(starts, parts, strict=True) for k in p["kept"]]
    skipped += [s for p in parts for s in p["skipped"]]
    parts = parts or [_featurize_rows([])]  # an empty source still gives well-typed tensors

    def cat(key: str, axis: int = 0) -> Tensor:
        return torch.from_numpy(np.concatenate([p[key] for p in parts], axis=axis))

    return {
        "atom_type": cat("atom_type"),  # (sum N,) int8, and so on for the other node fields
        "charge": cat("charge"),
        "num_hs": cat("num_hs"),
        "node_ptr": ptr_from_sizes(cat("n_atoms")),  # (G + 1,)
        "edge_index": cat("edge_index", axis=1),  # (2, sum E) int32, per-molecule atom indices
        "bond_type": cat("bond_type"),
        "edge_ptr": ptr_from_sizes(cat("n_edges")),  # (G + 1,)
        "idx": torch.tensor([k[0] for k in kept], dtype=torch.long),
        "homo": torch.tensor([k[1] for k in kept], dtype=torch.float32),
        "is_test": torch.tensor([k[2] for k in kept], dtype=torch.bool),
        "smiles": [s for p in parts for s in p["smiles"]],
        "skipped": [list(s) for s in sorted(skipped)],
    }


def _qm9_recipe(path: Path) -> CacheRecipe:
    import rdkit

    return CacheRecipe(
        featurizer=FEATURIZER_VERSION,
        source_sha256=sha256_file(path),
        params={
            "atom_types": list(ATOM_TYPES),
            "bond_types": list(BOND_TYPES),
            "node_features": list(NODE_FEATURES),
            "smiles": "rdkit canonical, isomericSmiles=False",
            "rdkit": rdkit.__version__,
        },
    )


class QM9(InMemoryDataset):
    """QM9 molecules as PyG graphs (the fields of
    :func:`~toposci.domains.molecules.featurize`, plus ``y`` and ``idx``).

    Each item is a ``Data`` with ``x (N, 6)``, ``atom_type (N,)``, ``charge (N,)``,
    ``edge_index (2, E)``, ``edge_attr (E, 3)``, ``bond_type (E,)``, ``smiles`` (canonical),
    ``y (1, 1)`` the HOMO energy in Hartree and ``idx (1,)`` the molecule's row in the standard
    gdb-ordered QM9 table (``gdb_{idx+1}``).

    The split is the standard MoFlow / GDSS one, read the GDSS way (``int(id)`` of
    ``valid_idx_qm9.json`` is the 0-based row; MoFlow reads ``int(id) - 1``): the csv's
    ``gdss_split`` column, 120,803 train / 13,082 test on the full set.

    This is an ``InMemoryDataset`` so that it behaves as PyG users expect (``len``, integer /
    slice / index-tensor / mask indexing giving sub-datasets, ``shuffle``, ``transform``,
    ``DataLoader``). PyG's raw/processed folder machinery is not used: the featurized set lives
    in a :class:`~toposci.domains.cache.ProcessedCache`, built on first use and rebuilt when the
    source file, :data:`~toposci.domains.molecules.FEATURIZER_VERSION`, the atom/bond alphabets
    or RDKit's version change.
    As for every PyG dataset, the data is loaded by the constructor.

    Args:
        path: a QM9 csv (plain or ``.gz``) with columns ``index, smiles, homo, gdss_split``;
            None for the 2,000-molecule sample in the repository's ``datasets/qm9``.
        split: ``"train"``, ``"test"`` or ``"all"``.
        transform: applied to each ``Data`` on access.
        cache_root: data root of the processed cache; default ``$TOPOSCI_DATA`` or
            ``~/.cache/toposci``.
        num_workers: processes for featurizing; default one per core for sources of 20,000
            molecules or more, else in-process. Does not change the result.

    Attributes:
        skipped: rows not in the data set (:class:`~toposci.domains.molecule_io.Skipped`:
            malformed ``index`` / ``homo`` / ``gdss_split``, invalid SMILES, atoms outside
            C, N, O, F), also logged.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        split: str = "all",
        transform: Callable[[Data], Data] | None = None,
        cache_root: str | Path | None = None,
        num_workers: int | None = None,
    ) -> None:
        super().__init__(None, transform)
        splits = ("train", "test", "all")
        if split not in splits:
            raise ValueError(f"unknown split {split!r}; valid: {splits}")
        if path is None and not _SHIPPED_QM9.is_file():
            raise FileNotFoundError(
                f"the shipped QM9 sample {_SHIPPED_QM9} is missing (it comes with a source "
                "checkout of toposci, not with an installed wheel); pass path= to a QM9 csv"
            )
        self.source = (_SHIPPED_QM9 if path is None else Path(path)).resolve()
        if not self.source.is_file():
            raise FileNotFoundError(f"no such QM9 file: {self.source}")
        self.split = split
        cache = ProcessedCache(f"qm9_{_source_key(self.source)}", root=cache_root)
        store = cache.load_or_build(_qm9_recipe(self.source),
                                    lambda: _build_qm9(self.source, num_workers))
        self.skipped = [Skipped(int(n), str(t), str(r)) for n, t, r in store["skipped"]]
        _warn_skipped(self.source, self.skipped, len(store["smiles"]) + len(self.skipped))
        is_test = store["is_test"]
        keep = {"train": ~is_test, "test": is_test, "all": torch.ones_like(is_test)}[split]
        self.data, self.slices = _select(store, keep)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)}, split={self.split!r})"


def _source_key(path: Path) -> str:
    """A short file-name-safe key of a source path: its name plus a hash of the full path."""
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    stem = "".join(c if c.isalnum() else "_" for c in path.name)
    return f"{stem}_{digest}"


def _select(store: dict[str, Any], keep: Tensor) -> tuple[Data, dict[str, Tensor] | None]:
    """The kept graphs of a cache payload as InMemoryDataset storage ``(data, slices)``.

    Shapes:
        ``keep (G,)`` bool over the payload's graphs.
    """
    node_keep, node_ptr = select_segments(store["node_ptr"], keep)  # (sum N,), (G' + 1,)
    edge_keep, edge_ptr = select_segments(store["edge_ptr"], keep)  # (sum E,), (G' + 1,)
    graph_ptr = torch.arange(int(keep.sum()) + 1)  # (G' + 1,)
    atom_type = store["atom_type"][node_keep].long()
    charge = store["charge"][node_keep].long()
    bond_type = store["bond_type"][edge_keep].long()
    data = Data(
        x=node_features(atom_type, charge, store["num_hs"][node_keep]),
        atom_type=atom_type,
        charge=charge,
        edge_index=store["edge_index"][:, edge_keep].long(),
        edge_attr=edge_features(bond_type),
        bond_type=bond_type,
        smiles=[s for s, k in zip(store["smiles"], keep.tolist(), strict=True) if k],
        y=store["homo"][keep].view(-1, 1),  # (G', 1)
        idx=store["idx"][keep],
    )
    if int(keep.sum()) == 1:  # PyG stores a one-graph InMemoryDataset as the graph itself
        data.smiles = data.smiles[0]
        return data, None
    slices = {key: node_ptr for key in ("x", "atom_type", "charge")}
    slices |= {key: edge_ptr for key in ("edge_index", "edge_attr", "bond_type")}
    slices |= {key: graph_ptr for key in ("smiles", "y", "idx")}
    return data, slices
