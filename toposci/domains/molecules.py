"""Small organic molecules (QM9): featurizing, dense batches, decoding graphs back, validity.

This module is the graph <-> molecule core. Reading files is in
:mod:`toposci.domains.molecule_io`, the QM9 data set in :mod:`toposci.domains.qm9`.

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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.utils import to_dense_adj, to_dense_batch

from toposci.domains.validity import Validity

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
    "DecodedMolecule",
    "DenseMolecules",
    "decode_data",
    "decode_dense",
    "decode_graph",
    "edge_features",
    "featurize",
    "graph_arrays",
    "keep_largest_fragment",
    "node_features",
    "to_dense",
]

ATOM_TYPES: tuple[str, ...] = ("C", "N", "O", "F")
ATOMIC_NUMBERS: tuple[int, ...] = (6, 7, 8, 9)
ATOM_PAD = len(ATOM_TYPES)
BOND_TYPES: tuple[str, ...] = ("SINGLE", "DOUBLE", "TRIPLE")
BOND_AROMATIC = 4
NODE_FEATURES: tuple[str, ...] = (*(f"is_{a}" for a in ATOM_TYPES), "formal_charge", "num_hs")
FEATURIZER_VERSION = "molecules-graph-1"  # bump whenever the featurization changes

_ATOM_CODE = {symbol: code for code, symbol in enumerate(ATOM_TYPES)}
_BOND_CODE = {1: 0, 2: 1, 3: 2}  # int(Chem.BondType) of SINGLE/DOUBLE/TRIPLE -> edge code


# --------------------------------------------------------------------------- featurizing


def graph_arrays(mol: Chem.Mol) -> tuple[list[int], ...]:
    """Atom codes, charges, H counts, edge sources, edge targets, edge bond codes of a Mol.

    The columns :func:`featurize` makes a graph of, in the Mol's atom order, each bond in both
    directions; featurizers of many molecules (the QM9 cache, the canonical-order tables of the
    generative domain) concatenate them and call :func:`node_features` / :func:`edge_features`
    once.

    Raises:
        ValueError: no molecule, no atoms, a Mol that cannot be kekulized, or an atom or bond
            type outside :data:`ATOM_TYPES` / :data:`BOND_TYPES`.
    """
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


def node_features(atom_type: Tensor, charge: Tensor, num_hs: Tensor) -> Tensor:
    """``x (N, 6)`` float from atom codes, charges and H counts, each ``(N,)``."""
    onehot = torch.nn.functional.one_hot(atom_type.long(), len(ATOM_TYPES))  # (N, 4)
    return torch.cat([onehot, charge.view(-1, 1), num_hs.view(-1, 1)], dim=1).float()


def edge_features(bond_type: Tensor) -> Tensor:
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
    atom_type, charge, num_hs, src, dst, bond = map(torch.tensor, graph_arrays(mol))
    return Data(
        x=node_features(atom_type, charge, num_hs),
        atom_type=atom_type,
        charge=charge,
        edge_index=torch.stack([src, dst]).long().view(2, -1),  # (2, E), also when E = 0
        edge_attr=edge_features(bond),
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
        data_list: ``B`` graphs from :func:`featurize` / :class:`~toposci.domains.qm9.QM9`, or
            their ``Batch``.
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
