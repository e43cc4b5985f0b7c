"""Reading molecules from ``.csv``, ``.smi`` / ``.smiles`` and ``.sdf`` / ``.sd`` files.

Bad records are skipped and counted (:class:`Skipped`), never fatal; RDKit's own error messages
are silenced while reading and one warning per file sums the skipped records up by reason.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import os
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rdkit import Chem

__all__ = ["ReadResult", "Skipped", "read_molecules"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Skipped:
    """A record that was not read.

    Attributes:
        number: 1-based line number (CSV / SMILES files) or record number (SDF).
        text: the SMILES text, or an SDF record's title line.
        reason: why it was skipped.
    """

    number: int
    text: str
    reason: str


@dataclass(frozen=True)
class ReadResult:
    """Molecules read from a file, with the records that were skipped.

    Attributes:
        molecules: the kept molecules (sanitized RDKit ``Mol``).
        ids: one id per kept molecule (CSV: the ``id_column`` value or the line number;
            ``.smi``: the token after the SMILES or the line number; SDF: the title or the
            record number).
        numbers: line / record number of each kept molecule.
        skipped: every record that was not kept, in file order.
    """

    molecules: list[Chem.Mol] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _open_text(path: Path) -> TextIO:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="")
    return open(path, encoding="utf-8", errors="replace", newline="")


def _check_atoms(mol: Chem.Mol, atom_set: frozenset[str] | None) -> str | None:
    """None if every atom is in ``atom_set`` (or no set was asked for), else the reason."""
    if atom_set is None:
        return None
    symbols = {mol.GetAtomWithIdx(i).GetSymbol() for i in range(mol.GetNumAtoms())}
    outside = sorted(symbols - atom_set)
    if not outside:
        return None
    return f"atoms outside {{{', '.join(sorted(atom_set))}}}: {', '.join(outside)}"


def _parse_smiles(text: str, atom_set: frozenset[str] | None) -> tuple[Chem.Mol | None, str]:
    """(molecule, "") or (None, reason). RDKit's own error messages are silenced by the caller."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(text) if text else None
    if mol is None:
        return None, "invalid SMILES" if text else "empty SMILES field"
    reason = _check_atoms(mol, atom_set)
    return (None, reason) if reason else (mol, "")


def _csv_records(path: Path, column: str, id_column: str | None) -> Iterator[tuple[int, str, str]]:
    with _open_text(path) as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        wanted = [c.lower() for c in (column, id_column) if c]
        if any(c not in header for c in wanted):
            raise ValueError(f"{path}: needs columns {wanted}, has {header}")
        col = header.index(column.lower())
        id_col = header.index(id_column.lower()) if id_column else None
        for row in reader:
            if not row:
                continue
            text = row[col].strip() if col < len(row) else ""
            name = row[id_col] if id_col is not None and id_col < len(row) else str(reader.line_num)
            yield reader.line_num, text, name


def _smi_records(path: Path) -> Iterator[tuple[int, str, str]]:
    with _open_text(path) as f:
        for number, line in enumerate(f, start=1):
            tokens = line.split(maxsplit=1)
            if tokens and not tokens[0].startswith("#"):
                yield number, tokens[0], tokens[1].strip() if len(tokens) > 1 else str(number)


def _sdf_blocks(path: Path) -> Iterator[tuple[int, str]]:
    """(record number, text) of each SDF record, split at ``$$$$`` lines."""
    with _open_text(path) as f:
        lines: list[str] = []
        number = 0
        for line in f:
            lines.append(line)
            if line.strip() == "$$$$":
                number += 1
                yield number, "".join(lines)
                lines = []
        if "".join(lines).strip():
            yield number + 1, "".join(lines)


def _read_smiles_like(records: Iterator[tuple[int, str, str]], atom_set: frozenset[str] | None
                      ) -> ReadResult:
    out = ReadResult()
    for number, text, name in records:
        mol, reason = _parse_smiles(text, atom_set)
        if mol is None:
            out.skipped.append(Skipped(number, text, reason))
        else:
            out.molecules.append(mol)
            out.ids.append(name)
            out.numbers.append(number)
    return out


def _read_sdf(path: Path, atom_set: frozenset[str] | None) -> ReadResult:
    from rdkit import Chem

    out = ReadResult()
    for number, block in _sdf_blocks(path):
        title = block.split("\n", 1)[0].strip()
        mols = list(Chem.ForwardSDMolSupplier(io.BytesIO(block.encode("utf-8"))))
        mol = mols[0] if mols else None
        reason = "unparsable SDF record" if mol is None else _check_atoms(mol, atom_set)
        if reason:
            out.skipped.append(Skipped(number, title, reason))
        else:
            out.molecules.append(mol)
            out.ids.append(title or str(number))
            out.numbers.append(number)
    return out


def read_molecules(
    path: str | Path,
    *,
    atom_set: Collection[str] | None = None,
    smiles_column: str = "smiles",
    id_column: str | None = None,
) -> ReadResult:
    """Read molecules from ``.csv``, ``.smi`` / ``.smiles`` or ``.sdf`` / ``.sd`` (each optionally
    ``.gz``); bad records are skipped and counted, never fatal.

    CSV files need a header with a ``smiles_column`` (case-insensitive). ``.smi`` files hold one
    SMILES per line, optionally followed by whitespace and an id; blank lines and lines starting
    with ``#`` are ignored. SDF records are parsed with ``Chem.ForwardSDMolSupplier`` (hydrogens
    removed, sanitized).

    Args:
        path: the file.
        atom_set: element symbols allowed, e.g. :data:`~toposci.domains.molecules.ATOM_TYPES`
            for QM9; molecules with other atoms are skipped. None allows every element.
        smiles_column: CSV column holding the SMILES.
        id_column: CSV column holding ids; default the line number.

    Returns:
        :class:`ReadResult`; one warning with the number of skipped records is logged.
    """
    from rdkit import rdBase

    path = Path(path)
    name = path.name.lower().removesuffix(".gz")
    readers: dict[str, Callable[[frozenset[str] | None], ReadResult]] = {
        ".csv": lambda s: _read_smiles_like(_csv_records(path, smiles_column, id_column), s),
        ".smi": lambda s: _read_smiles_like(_smi_records(path), s),
        ".smiles": lambda s: _read_smiles_like(_smi_records(path), s),
        ".sdf": lambda s: _read_sdf(path, s),
        ".sd": lambda s: _read_sdf(path, s),
    }
    suffix = os.path.splitext(name)[1]
    if suffix not in readers:
        raise ValueError(f"{path}: unknown file type {suffix!r}; valid: {sorted(readers)} (+ .gz)")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    with rdBase.BlockLogs():
        result = readers[suffix](None if atom_set is None else frozenset(atom_set))
    _warn_skipped(path, result.skipped, len(result.molecules) + len(result.skipped))
    return result


def _warn_skipped(path: Path, skipped: Sequence[Skipped], total: int) -> None:
    if skipped:
        reasons = Counter(s.reason for s in skipped)
        logger.warning("%s: skipped %d of %d records (%s)", path, len(skipped), total,
                       ", ".join(f"{r}: {n}" for r, n in reasons.most_common()))
