"""Small organic molecules (QM9): reading, featurizing, decoding graphs back, validity.

Conventions used throughout this module:

* **Atoms.** Heavy atoms only, of the types :data:`ATOM_TYPES` = C, N, O, F (codes 0-3, in that
  order); hydrogens are never nodes, each atom carries its hydrogen count as a feature instead.
  In dense batches the code :data:`ATOM_PAD` (= 4) marks "no atom".
* **Bonds and aromaticity.** Molecules are kekulized on the way in (``Chem.Kekulize`` with
  ``clearAromaticFlags=True``), so every bond is one of :data:`BOND_TYPES` = single, double,
  triple (edge codes 0-2). On the way out RDKit sanitization re-perceives aromaticity, so
  benzene goes in as alternating single/double bonds and comes back as ``c1ccccc1``. Dense bond
  matrices hold the bond order: 0 = no bond, 1/2/3 = single/double/triple; decoders that predict
  aromatic bonds may also write :data:`BOND_AROMATIC` (= 4), which the decoder kekulizes.
* **Node features** ``x [N, 6]``: columns 0-3 one-hot C/N/O/F, column 4 the formal charge,
  column 5 the number of hydrogens on the atom (RDKit's total H count, implicit + explicit).
  **Edge features** ``edge_attr [E, 3]``: one-hot single/double/triple. Every bond is stored in
  both directions (bond ``k`` is edges ``2k`` and ``2k + 1``).
* **SMILES.** Stereo and isotopes are not represented, so every SMILES this module writes is
  RDKit's canonical SMILES without stereo (``isomericSmiles=False``).

The inverse, :func:`decode_graph`, checks in this order and reports the first rule broken
(:class:`~toposci.domains.validity.Validity` reasons): ``"empty"`` (no atoms), then RDKit
sanitization in its own order — ``"valence"`` (an atom's bonds exceed RDKit's allowed valence for
its element and charge), ``"kekulization"`` (aromatic bonds that admit no Kekulé form),
``"sanitization"`` (any other RDKit rule) — and last ``"disconnected"`` (more than one
fragment). Chemistry comes before connectivity, so a ``"disconnected"`` result means every
fragment is itself a valid molecule. Nothing is corrected: no valence fixing, no fragment
picking (:func:`keep_largest_fragment` is the separate, explicitly named correction).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import logging
import os
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch, Data, InMemoryDataset
from torch_geometric.utils import to_dense_adj, to_dense_batch

from toposci.domains.cache import (
    CacheRecipe,
    ProcessedCache,
    ptr_from_sizes,
    select_segments,
)
from toposci.domains.validity import Validity
from toposci.download import sha256_file

if TYPE_CHECKING:
    from rdkit import Chem

__all__ = [
    "ATOMIC_NUMBERS",
    "ATOM_PAD",
    "ATOM_TYPES",
    "BOND_AROMATIC",
    "BOND_TYPES",
    "FEATURIZER_VERSION",
    "NODE_FEATURES",
    "QM9",
    "DecodedMolecule",
    "DenseMolecules",
    "ReadResult",
    "Skipped",
    "decode_data",
    "decode_dense",
    "decode_graph",
    "featurize",
    "keep_largest_fragment",
    "read_molecules",
    "to_dense",
]

logger = logging.getLogger(__name__)

ATOM_TYPES: tuple[str, ...] = ("C", "N", "O", "F")
ATOMIC_NUMBERS: tuple[int, ...] = (6, 7, 8, 9)
ATOM_PAD = len(ATOM_TYPES)
BOND_TYPES: tuple[str, ...] = ("SINGLE", "DOUBLE", "TRIPLE")
BOND_AROMATIC = 4
NODE_FEATURES: tuple[str, ...] = (*(f"is_{a}" for a in ATOM_TYPES), "formal_charge", "num_hs")
FEATURIZER_VERSION = "molecules-graph-1"  # bump whenever the featurization changes

_ATOM_CODE = {symbol: code for code, symbol in enumerate(ATOM_TYPES)}
_BOND_CODE = {1: 0, 2: 1, 3: 2}  # int(Chem.BondType) of SINGLE/DOUBLE/TRIPLE -> edge code
_SHIPPED_QM9 = Path(__file__).resolve().parents[2] / "datasets" / "qm9" / "qm9_sample.csv"
_QM9_COLUMNS = ("index", "smiles", "homo", "gdss_split")
_PARALLEL_FROM = 20_000  # sources with fewer molecules are featurized in-process
_CHUNK = 5_000


# --------------------------------------------------------------------------- featurizing


def _graph_arrays(mol: Chem.Mol) -> tuple[list[int], ...]:
    """Atom codes, charges, H counts, edge sources, edge targets, edge bond codes of a Mol."""
    from rdkit import Chem

    if mol is None:
        raise ValueError("mol is None (did Chem.MolFromSmiles fail to parse the SMILES?)")
    if mol.GetNumAtoms() == 0:
        raise ValueError("the molecule has no atoms")
    kekule = Chem.Mol(mol)
    try:
        Chem.Kekulize(kekule, clearAromaticFlags=True)
    except Chem.MolSanitizeException as err:
        raise ValueError(f"cannot kekulize the molecule: {err}") from err
    atom_type, charge, num_hs = [], [], []
    for i in range(kekule.GetNumAtoms()):  # index loops: RDKit's GetAtoms() wrapper is slow
        atom = kekule.GetAtomWithIdx(i)
        code = _ATOM_CODE.get(atom.GetSymbol())
        if code is None:
            hint = " (remove hydrogen atoms with Chem.RemoveHs)" if atom.GetAtomicNum() == 1 else ""
            raise ValueError(
                f"atom {i} is {atom.GetSymbol()}; only {', '.join(ATOM_TYPES)} are featurized{hint}"
            )
        atom_type.append(code)
        charge.append(atom.GetFormalCharge())
        num_hs.append(atom.GetTotalNumHs())
    src, dst, bond = [], [], []
    for k in range(kekule.GetNumBonds()):
        b = kekule.GetBondWithIdx(k)
        code = _BOND_CODE.get(int(b.GetBondType()))
        if code is None:
            raise ValueError(
                f"bond {b.GetIdx()} is {b.GetBondType()}; only {BOND_TYPES} are featurized")
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        src += (i, j)
        dst += (j, i)
        bond += (code, code)
    return atom_type, charge, num_hs, src, dst, bond


def _node_features(atom_type: Tensor, charge: Tensor, num_hs: Tensor) -> Tensor:
    """``x (N, 6)`` float from atom codes, charges and H counts, each ``(N,)``."""
    onehot = torch.nn.functional.one_hot(atom_type.long(), len(ATOM_TYPES))  # (N, 4)
    return torch.cat([onehot, charge.view(-1, 1), num_hs.view(-1, 1)], dim=1).float()


def _edge_features(bond_type: Tensor) -> Tensor:
    """``edge_attr (E, 3)`` float one-hot from edge bond codes ``(E,)``."""
    return torch.nn.functional.one_hot(bond_type.long(), len(BOND_TYPES)).float()


def _canonical(mol: Chem.Mol) -> str:
    from rdkit import Chem

    return Chem.MolToSmiles(mol, isomericSmiles=False)


def featurize(mol: Chem.Mol) -> Data:
    """A sanitized RDKit molecule (heavy atoms C, N, O, F) as a PyG graph.

    Args:
        mol: sanitized RDKit molecule without hydrogen atoms as nodes.

    Returns:
        ``Data`` with ``x``, ``atom_type``, ``charge``, ``edge_index``, ``edge_attr``,
        ``bond_type`` and ``smiles`` (canonical, no stereo).

    Shapes:
        ``x (N, 6)`` float (columns :data:`NODE_FEATURES`); ``atom_type (N,)``, ``charge (N,)``
        long; ``edge_index (2, E)`` long, both directions; ``edge_attr (E, 3)`` float;
        ``bond_type (E,)`` long in 0-2.

    Raises:
        ValueError: no atoms, an atom outside C/N/O/F, a bond that is not single, double or
            triple after kekulization, or a molecule that cannot be kekulized.
    """
    atom_type, charge, num_hs, src, dst, bond = map(torch.tensor, _graph_arrays(mol))
    return Data(
        x=_node_features(atom_type, charge, num_hs),
        atom_type=atom_type,
        charge=charge,
        edge_index=torch.stack([src, dst]).long().view(2, -1),  # (2, E), also when E = 0
        edge_attr=_edge_features(bond),
        bond_type=bond.long(),
        smiles=_canonical(mol),
    )


# --------------------------------------------------------------------------- dense form


class DenseMolecules(NamedTuple):
    """A padded batch of molecular graphs for one-shot decoders.

    Shapes:
        ``atom_type (B, N)`` long, :data:`ATOM_PAD` where there is no atom; ``charge (B, N)``
        long, 0 at padding; ``bond (B, N, N)`` long bond orders, 0 = no bond; ``mask (B, N)``
        bool, True on real atoms.
    """

    atom_type: Tensor
    charge: Tensor
    bond: Tensor
    mask: Tensor


def to_dense(data_list: Sequence[Data] | Batch, *, max_atoms: int = 9) -> DenseMolecules:
    """Pad featurized molecules to ``max_atoms`` atoms each.

    Args:
        data_list: ``B`` graphs from :func:`featurize` / :class:`QM9`, or their ``Batch``.
        max_atoms: ``N``, the padded size; a larger molecule is an error, never truncated.

    Returns:
        :class:`DenseMolecules` with ``B`` molecules of ``N`` atom slots.
    """
    batch = data_list if isinstance(data_list, Batch) else None
    if batch is None:
        if len(data_list) == 0:
            raise ValueError("to_dense needs at least one molecule")
        batch = Batch.from_data_list(list(data_list))
    B = batch.num_graphs
    sizes = torch.bincount(batch.batch, minlength=B)  # (B,)
    if int(sizes.max()) > max_atoms:
        raise ValueError(
            f"molecule {int(sizes.argmax())} has {int(sizes.max())} atoms, more than max_atoms="
            f"{max_atoms}"
        )
    atom_type, mask = to_dense_batch(
        batch.atom_type, batch.batch, fill_value=ATOM_PAD, max_num_nodes=max_atoms, batch_size=B
    )  # (B, N), (B, N)
    charge, _ = to_dense_batch(batch.charge, batch.batch, max_num_nodes=max_atoms, batch_size=B)
    bond = to_dense_adj(
        batch.edge_index, batch.batch, edge_attr=batch.bond_type + 1, max_num_nodes=max_atoms,
        batch_size=B,
    )  # (B, N, N)
    return DenseMolecules(atom_type.long(), charge.long(), bond.long(), mask)


# --------------------------------------------------------------------------- the inverse


@dataclass(frozen=True)
class DecodedMolecule:
    """A graph turned back into a molecule.

    Attributes:
        mol: the sanitized RDKit molecule, or None when sanitization failed or there were no
            atoms. Set for ``"disconnected"`` results (each fragment is a valid molecule).
        smiles: canonical SMILES (no stereo) of ``mol``, containing ``.`` when disconnected.
        validity: ``Validity.ok()`` or the first rule broken (see the module docstring).
    """

    mol: Chem.Mol | None
    smiles: str | None
    validity: Validity


def _integer_array(value: Any, name: str, dims: str) -> np.ndarray:
    """Integer numpy copy of a tensor or array (per-molecule checks are cheaper in numpy)."""
    array = value.detach().cpu().numpy() if isinstance(value, Tensor) else np.asarray(value)
    if array.dtype.kind not in "iu":
        raise ValueError(f"{name} {dims} must hold integer codes, got dtype {array.dtype}")
    return array.astype(np.int64)


def _check_graph(atom_type: Any, bond: Any, charge: Any) -> tuple[np.ndarray, ...]:
    atom_type = _integer_array(atom_type, "atom_type", "(N,)")
    bond = _integer_array(bond, "bond", "(N, N)")
    if atom_type.ndim != 1:
        raise ValueError(f"atom_type must have shape (N,), got {atom_type.shape}")
    n = atom_type.shape[0]
    if bond.shape != (n, n):
        raise ValueError(f"bond must have shape (N, N) = ({n}, {n}), got {bond.shape}")
    charge = np.zeros(n, dtype=np.int64) if charge is None else _integer_array(
        charge, "charge", "(N,)")
    if charge.shape != (n,):
        raise ValueError(f"charge must have shape (N,) = ({n},), got {charge.shape}")
    if n and (atom_type.min() < 0 or atom_type.max() > ATOM_PAD):
        raise ValueError(f"atom_type codes must lie in 0..{ATOM_PAD} ({ATOM_PAD} = no atom)")
    if n and (bond.min() < 0 or bond.max() > BOND_AROMATIC):
        raise ValueError(
            f"bond codes must lie in 0..{BOND_AROMATIC} (0 none, 1-3 bond order, 4 aromatic)")
    if not np.array_equal(bond, bond.T):
        raise ValueError("bond must be a symmetric (N, N) matrix")
    if bond.diagonal().any():
        raise ValueError("bond has non-zero diagonal entries (an atom bonded to itself)")
    return atom_type, bond, charge


def decode_graph(
    atom_type: Tensor, bond: Tensor, *, charge: Tensor | None = None
) -> DecodedMolecule:
    """Turn a (possibly generated) molecular graph into a molecule and check it, without fixing.

    Atoms with code :data:`ATOM_PAD` are absent; bonds touching them are ignored. Hydrogens are
    implicit: RDKit gives each atom the hydrogens its element and charge call for.

    Args:
        atom_type: atom codes, 0-3 for C/N/O/F or :data:`ATOM_PAD`.
        bond: bond orders, 0 none, 1-3 single/double/triple, 4 aromatic.
        charge: formal charges; default all zero.

    Returns:
        :class:`DecodedMolecule`; its ``validity`` reason is one of ``"ok"``, ``"empty"``,
        ``"valence"``, ``"kekulization"``, ``"sanitization"``, ``"disconnected"``.

    Shapes:
        ``atom_type (N,)``, ``bond (N, N)`` symmetric with zero diagonal, ``charge (N,)``; all
        integer tensors (or arrays).

    Raises:
        ValueError: wrong shapes or dtypes, codes out of range, an asymmetric bond matrix or
            self-bonds — malformed input, as opposed to an invalid molecule.
    """
    from rdkit import Chem, rdBase

    atom_type, bond, charge = _check_graph(atom_type, bond, charge)
    keep = np.flatnonzero(atom_type != ATOM_PAD)  # (N',)
    if keep.size == 0:
        return DecodedMolecule(None, None, Validity.fail("empty", "the graph has no atoms"))
    bond = bond[np.ix_(keep, keep)]  # (N', N')
    mol = Chem.RWMol()
    for code, q in zip(atom_type[keep].tolist(), charge[keep].tolist(), strict=True):
        atom = Chem.Atom(ATOMIC_NUMBERS[code])
        atom.SetFormalCharge(q)
        mol.AddAtom(atom)
    bond_types = (None, Chem.BondType.SINGLE, Chem.BondType.DOUBLE, Chem.BondType.TRIPLE,
                  Chem.BondType.AROMATIC)
    for i, j in np.argwhere(np.triu(bond, 1)).tolist():
        mol.AddBond(i, j, bond_types[bond[i, j]])
    with rdBase.BlockLogs():
        try:
            Chem.SanitizeMol(mol)
        except Chem.AtomValenceException as err:
            return DecodedMolecule(None, None, Validity.fail("valence", str(err)))
        except (Chem.KekulizeException, Chem.AtomKekulizeException) as err:
            return DecodedMolecule(None, None, Validity.fail("kekulization", str(err)))
        except Chem.MolSanitizeException as err:
            return DecodedMolecule(None, None, Validity.fail("sanitization", str(err)))
    out = mol.GetMol()
    smiles = _canonical(out)
    n_frags = len(Chem.GetMolFrags(out))
    if n_frags > 1:
        return DecodedMolecule(out, smiles, Validity.fail("disconnected", f"{n_frags} fragments"))
    return DecodedMolecule(out, smiles, Validity.ok())


def decode_dense(
    atom_type: Tensor, bond: Tensor, *, charge: Tensor | None = None, mask: Tensor | None = None
) -> list[DecodedMolecule]:
    """:func:`decode_graph` for each molecule of a padded batch (e.g. a decoder's argmax).

    Shapes:
        ``atom_type (B, N)``, ``bond (B, N, N)``, ``charge (B, N)``, ``mask (B, N)`` bool
        (False slots are treated as :data:`ATOM_PAD`).
    """
    atom_type = _integer_array(atom_type, "atom_type", "(B, N)")
    if atom_type.ndim != 2 or atom_type.shape[0] == 0:
        raise ValueError(f"atom_type must have shape (B, N) with B >= 1, got {atom_type.shape}")
    B, N = atom_type.shape
    if mask is not None:
        mask = mask.detach().cpu().numpy() if isinstance(mask, Tensor) else np.asarray(mask)
        if mask.dtype != np.bool_ or mask.shape != (B, N):
            raise ValueError(f"mask must be a bool tensor of shape (B, N) = ({B}, {N})")
        atom_type = np.where(mask, atom_type, ATOM_PAD)  # (B, N)
    bond = _integer_array(bond, "bond", "(B, N, N)")
    if bond.shape != (B, N, N):
        raise ValueError(f"bond must have shape (B, N, N) = ({B}, {N}, {N}), got {bond.shape}")
    charge = None if charge is None else _integer_array(charge, "charge", "(B, N)")
    if charge is not None and charge.shape != (B, N):
        raise ValueError(f"charge must have shape (B, N) = ({B}, {N}), got {charge.shape}")
    return [
        decode_graph(atom_type[b], bond[b], charge=None if charge is None else charge[b])
        for b in range(B)
    ]


def decode_data(data: Data) -> DecodedMolecule:
    """:func:`decode_graph` of a sparse graph with ``atom_type``, ``charge``, ``edge_index``,
    ``bond_type`` (as made by :func:`featurize`)."""
    n = data.atom_type.shape[0]
    src, dst = data.edge_index.cpu().numpy()  # (E,), (E,)
    bond = np.zeros((n, n), dtype=np.int64)  # (N, N)
    bond[src, dst] = data.bond_type.cpu().numpy() + 1
    return decode_graph(data.atom_type, bond, charge=data.charge)


def keep_largest_fragment(decoded: DecodedMolecule) -> DecodedMolecule:
    """A *correction*: keep the fragment with the most atoms of a ``"disconnected"`` molecule.

    Other results are returned unchanged. Never use this when measuring validity without
    correction.
    """
    from rdkit import Chem

    if decoded.validity.reason != "disconnected" or decoded.mol is None:
        return decoded
    frags = Chem.GetMolFrags(decoded.mol, asMols=True)
    largest = max(frags, key=lambda m: m.GetNumAtoms())
    return DecodedMolecule(largest, _canonical(largest), Validity.ok())


# --------------------------------------------------------------------------- reading


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
        atom_set: element symbols allowed, e.g. :data:`ATOM_TYPES` for QM9; molecules with other
            atoms are skipped. None allows every element.
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


# --------------------------------------------------------------------------- QM9


def _featurize_rows(rows: Sequence[tuple[int, str]]) -> dict[str, Any]:
    """Featurize ``(line number, SMILES)`` rows into concatenated arrays (one worker's chunk)."""
    from rdkit import rdBase

    atom_type, charge, num_hs, src, dst, bond = [], [], [], [], [], []
    n_atoms, n_edges, smiles, kept, skipped = [], [], [], [], []
    with rdBase.BlockLogs():
        for position, (number, text) in enumerate(rows):
            mol, reason = _parse_smiles(text, frozenset(ATOM_TYPES))
            try:
                arrays = _graph_arrays(mol) if mol is not None else None
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
    """QM9 molecules as PyG graphs (:func:`featurize`'s fields, plus ``y`` and ``idx``).

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
    source file, :data:`FEATURIZER_VERSION`, the atom/bond alphabets or RDKit's version change.
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
        skipped: rows not in the data set (:class:`Skipped`: malformed ``index`` / ``homo`` /
            ``gdss_split``, invalid SMILES, atoms outside C, N, O, F), also logged.
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
        x=_node_features(atom_type, charge, store["num_hs"][node_keep]),
        atom_type=atom_type,
        charge=charge,
        edge_index=store["edge_index"][:, edge_keep].long(),
        edge_attr=_edge_features(bond_type),
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
