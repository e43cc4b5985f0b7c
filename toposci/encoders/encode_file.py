"""Encoding a molecule file into an embedding table (``toposci encode``)."""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toposci.encoders.molecule_encoder import MoleculeEncoder

__all__ = ["OUTPUT_SUFFIXES", "FileFailure", "FileReport", "encode_file"]

OUTPUT_SUFFIXES: tuple[str, ...] = (".npy", ".csv", ".parquet")
_FILE_ERRORS = ("skip", "nan", "raise")


@dataclass(frozen=True)
class FileFailure:
    """A record of the input file that was not encoded.

    Attributes:
        number: its line (``.csv`` / ``.smi``) or record (``.sdf``) number, 1-based.
        id: its id (see :func:`~toposci.domains.molecule_io.read_molecules`); the number when
            the record could not be read at all.
        input: the SMILES text or the molecule's SMILES.
        reason: why it was not encoded.
    """

    number: int
    id: str
    input: str
    reason: str


@dataclass
class FileReport:
    """What :func:`encode_file` did.

    Attributes:
        n_records: records in the input file.
        n_encoded: records encoded.
        rows: rows written (``n_encoded`` with ``errors="skip"``, ``n_records`` with ``"nan"``).
        dim: ``d``, the embedding width.
        failures: the records not encoded, in file order.
        outputs: files written: the table, then (``.npy``) its row ids, then the failures.
        seconds: wall time of reading and encoding.
    """

    n_records: int
    n_encoded: int
    rows: int
    dim: int
    failures: list[FileFailure] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def encode_file(source: str | Path, out: str | Path, *, model: str | Path = "qm9",
                errors: str = "skip", batch_size: int = 256, smiles_column: str = "smiles",
                id_column: str | None = None, device: str = "cpu",
                progress: bool = True) -> FileReport:
    """Encode every molecule of a ``.csv`` / ``.smi`` / ``.sdf`` file (optionally ``.gz``).

    Args:
        source: the molecule file (read by :func:`~toposci.domains.molecule_io.read_molecules`).
        out: ``.npy`` (the ``(R, d)`` float32 array, with the row ids in ``<stem>_ids.txt``
            beside it), ``.csv`` or ``.parquet`` (columns ``id``, ``smiles`` — canonical, empty
            for NaN rows — and ``topomol0 ... topomol{d-1}``).
        model: an encoder name (``"qm9"``), file or training run directory.
        errors: ``"skip"`` (no row for a failed record), ``"nan"`` (a NaN row, so rows are the
            file's records in order) or ``"raise"`` (stop at the first failures, name them).
        batch_size: molecules per forward pass.
        smiles_column, id_column: CSV columns of the SMILES and of the ids.
        device: where the encoder runs.
        progress: show a progress bar.

    Returns:
        :class:`FileReport`; when records failed, ``<stem>_failures.csv`` (number, id, input,
        reason) is written beside ``out``.
    """
    from toposci.domains.molecule_io import read_molecules

    out = Path(out)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"unknown output type {out.suffix!r} of {out}; valid: "
                         f"{', '.join(OUTPUT_SUFFIXES)}")
    if errors not in _FILE_ERRORS:
        raise ValueError(f"unknown errors={errors!r}; valid: {', '.join(_FILE_ERRORS)}")
    t0 = time.perf_counter()
    encoder = MoleculeEncoder.load(model, device=device)
    read = read_molecules(source, smiles_column=smiles_column, id_column=id_column)
    failures = [FileFailure(s.number, str(s.number), s.text, s.reason) for s in read.skipped]
    if failures and errors == "raise":
        shown = "; ".join(f"record {f.number} {f.input!r}: {f.reason}" for f in failures[:10])
        raise ValueError(f"{len(failures)} records of {source} cannot be read: {shown}")
    n_records = len(read.molecules) + len(read.skipped)
    if not read.molecules:
        raise ValueError(f"{source}: none of its {n_records} records is a readable molecule")
    encoded = encoder.encode_detailed(read.molecules, batch_size=batch_size,
                                      errors="raise" if errors == "raise" else "nan",
                                      progress=progress)
    failures += [FileFailure(read.numbers[f.index], read.ids[f.index], f.input, f.reason)
                 for f in encoded.failures]
    failures.sort(key=lambda f: f.number)
    # rows: every record in file order (index into encoded, or None), failed ones NaN
    rows = [(n, i, s, k) for k, (n, i, s) in enumerate(zip(read.numbers, read.ids,
                                                           encoded.smiles, strict=True))]
    rows += [(s.number, str(s.number), None, None) for s in read.skipped]
    rows.sort(key=lambda row: row[0])
    if errors == "skip":
        rows = [row for row in rows if row[2] is not None]
    table = np.full((len(rows), encoder.dim), np.nan, dtype=np.float32)  # (R, d)
    for r, (_, _, smiles, k) in enumerate(rows):
        if smiles is not None:
            table[r] = encoded.embeddings[k]
    outputs = _write(out, table, [row[1] for row in rows], [row[2] for row in rows],
                     encoder.feature_names())
    if failures:
        outputs.append(_write_failures(out.with_name(f"{out.stem}_failures.csv"), failures))
    return FileReport(n_records, n_records - len(failures), len(rows), encoder.dim, failures,
                      outputs, time.perf_counter() - t0)


def _write(out: Path, table: np.ndarray, ids: list[str], smiles: list[str | None],
           columns: list[str]) -> list[Path]:
    """Write the ``(R, d)`` table; return the files written."""
    import pandas as pd

    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".npy":
        np.save(out, table)
        ids_path = out.with_name(f"{out.stem}_ids.txt")
        ids_path.write_text("".join(f"{i}\n" for i in ids))
        return [out, ids_path]
    frame = pd.concat([pd.DataFrame({"id": ids, "smiles": [s or "" for s in smiles]}),
                       pd.DataFrame(table, columns=columns)], axis=1)
    if out.suffix.lower() == ".csv":
        frame.to_csv(out, index=False)
    else:
        frame.to_parquet(out, index=False)
    return [out]


def _write_failures(path: Path, failures: list[FileFailure]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["number", "id", "input", "reason"])
        writer.writerows([f.number, f.id, f.input, f.reason] for f in failures)
    return path
