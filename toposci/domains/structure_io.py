"""Reading the C-alpha trace of a PDB or mmCIF file with gemmi into numpy arrays.

The reading rules are those of :func:`toposci.domains.proteins.read_structure`, which turns a
:class:`CATrace` into a :class:`~toposci.domains.proteins.ProteinStructure` of tensors. This
module needs no torch, so that processes that only read structures and call GUDHI (the workers
of ``toposci summarize``) start in a fraction of a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import gemmi
import numpy as np

from toposci.domains._io import read_bytes

__all__ = ["AMINO_ACIDS", "STRUCTURE_SUFFIXES", "CATrace", "read_ca_trace"]

#: The 20 standard amino acids in one-letter code; ``aa`` indices in
#: :meth:`~toposci.domains.proteins.ProteinStructure.to_data` follow this order and use 20 for
#: anything else (``X``).
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"

#: File suffixes read as structures (each also with ``.gz``).
STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif")


@dataclass(frozen=True)
class CATrace:
    """The C-alpha atoms of the protein residues of a structure's first model, as read.

    Attributes:
        name: file name without the format suffixes.
        coords: ``(N, 3)`` float64 CA coordinates, Å, in file order.
        residue_names, sequence, chain_ids, insertion_codes: per residue, as in
            :class:`~toposci.domains.proteins.ProteinStructure`.
        residue_numbers: ``(N,)`` int64 author residue numbers.
        n_modified, n_unknown, n_missing_ca: residues counted by the reading rules.
    """

    name: str
    coords: np.ndarray
    residue_names: tuple[str, ...]
    sequence: str
    chain_ids: tuple[str, ...]
    residue_numbers: np.ndarray
    insertion_codes: tuple[str, ...]
    n_modified: int = 0
    n_unknown: int = 0
    n_missing_ca: int = 0


def read_ca_trace(path: str | Path) -> CATrace:
    """The :class:`CATrace` of a PDB or mmCIF file (plain or gzip).

    The format is recognised from the content (mmCIF starts with ``data_``).

    Raises:
        ValueError: the file is corrupt or holds no protein residue with a CA atom; the message
            names the file and, where known, the line.
    """
    path = Path(path)
    text = _read_text(path)
    if not text.strip():
        raise ValueError(f"{path}: the file is empty")
    is_cif = text.lstrip().startswith("data_")
    if not is_cif:
        _check_pdb_records(text, path)
    try:
        if is_cif:
            st = gemmi.read_structure_string(text, format=gemmi.CoorFormat.Mmcif)
        else:
            st = gemmi.read_pdb_string(text)
    except (RuntimeError, ValueError) as err:
        kind = "mmCIF" if is_cif else "PDB"
        raise ValueError(f"{path}: not a readable {kind} file: {err}") from err
    return _ca_trace(st, path)


def _read_text(path: Path) -> str:
    """The file's text, gunzipped when it starts with the gzip magic bytes."""
    raw = read_bytes(path)
    if b"\x00" in raw:
        raise ValueError(f"{path}: binary data (NUL bytes), not a PDB or mmCIF text file")
    return raw.decode("latin-1")


def _check_pdb_records(text: str, path: Path) -> None:
    """Check the coordinate fields of every ATOM/HETATM record (gemmi tolerates junk there).

    All fields are converted at once by numpy (which reads them as Python's ``float`` does);
    only a file with a bad record is gone through line by line, to name the first one.
    """
    lines = text.splitlines()
    records = [line for line in lines if line.startswith(("ATOM  ", "HETATM"))]
    if min(map(len, records), default=54) >= 54:
        try:
            fields = np.array([r[30:54] for r in records], dtype="S24")  # (R,) x, y, z
            if np.isfinite(fields.view("S8").astype(np.float64)).all():  # (3R,)
                return
        except ValueError:  # a field that is no number (or not ASCII)
            pass
    for number, line in enumerate(lines, start=1):
        if not line.startswith(("ATOM  ", "HETATM")):
            continue
        if len(line) < 54:
            raise ValueError(
                f"{path}: line {number}: truncated {line[:6].strip()} record (coordinates end at "
                f"column 54, the line has {len(line)} characters): {line!r}"
            )
        for axis, start in zip("xyz", (30, 38, 46), strict=True):
            field_text = line[start : start + 8]
            try:
                value = float(field_text)
            except ValueError:
                raise ValueError(
                    f"{path}: line {number}: {axis} coordinate {field_text!r} is not a number"
                ) from None
            if not math.isfinite(value):
                raise ValueError(
                    f"{path}: line {number}: {axis} coordinate is {field_text.strip()}"
                )


def _ca_trace(st: gemmi.Structure, path: Path) -> CATrace:
    """Collect the CA atoms of the protein residues of the first model."""
    if len(st) == 0:
        raise ValueError(f"{path}: no model with atoms")
    st.setup_entities()
    coords: list[tuple[float, float, float]] = []
    names: list[str] = []
    letters: list[str] = []
    chain_ids: list[str] = []
    numbers: list[int] = []
    icodes: list[str] = []
    n_modified = n_unknown = n_missing_ca = 0
    for chain in st[0]:
        for res in chain.first_conformer():
            if res.entity_type != gemmi.EntityType.Polymer:
                continue
            info = gemmi.find_tabulated_residue(res.name)
            tabulated = info is not None and info.found()
            if tabulated and not info.is_amino_acid():
                continue  # nucleotide or other non-protein polymer residue
            ca = _best_ca(res)
            if ca is None:
                # an untabulated residue without CA cannot be told to be an amino acid
                if tabulated:
                    n_missing_ca += 1
                continue
            letter = info.one_letter_code.upper() if tabulated else "X"
            if letter not in AMINO_ACIDS:
                letter = "X"
                n_unknown += 1
            elif not info.is_standard():
                n_modified += 1
            p = ca.pos
            if not all(math.isfinite(v) for v in (p.x, p.y, p.z)):
                raise ValueError(
                    f"{path}: non-finite CA coordinate in chain {chain.name} residue "
                    f"{res.name} {res.seqid.num}{res.seqid.icode.strip()}"
                )
            coords.append((p.x, p.y, p.z))
            names.append(res.name)
            letters.append(letter)
            chain_ids.append(chain.name)
            numbers.append(res.seqid.num)
            icodes.append(res.seqid.icode.strip())
    if not coords:
        raise ValueError(f"{path}: no protein residue with a CA atom in the first model")
    name = path.name
    for suffix in (".gz", *STRUCTURE_SUFFIXES):
        name = name.removesuffix(suffix)
    return CATrace(
        name=name,
        coords=np.asarray(coords, dtype=np.float64).reshape(-1, 3),
        residue_names=tuple(names),
        sequence="".join(letters),
        chain_ids=tuple(chain_ids),
        residue_numbers=np.asarray(numbers, dtype=np.int64),
        insertion_codes=tuple(icodes),
        n_modified=n_modified,
        n_unknown=n_unknown,
        n_missing_ca=n_missing_ca,
    )


def _best_ca(res: gemmi.Residue) -> gemmi.Atom | None:
    """The CA (carbon) with the highest occupancy; the first altloc wins ties."""
    best = None
    for atom in res:
        if atom.name == "CA" and atom.element.name == "C":
            if best is None or atom.occ > best.occ:
                best = atom
    return best
