"""From what a user passes (SMILES text or an RDKit ``Mol``) to a checked, canonical molecule.

Every rule a molecule must meet to be encoded lives here, each failure with its reason; the
graph featurization itself is the molecule domain's
(:func:`toposci.domains.generative.molecules.canonical_table`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rdkit import Chem

__all__ = ["UnsupportedMolecule", "canonical_smiles", "describe"]


class UnsupportedMolecule(ValueError):
    """An input that cannot be encoded; the message is the reason."""


def describe(item: Any, *, width: int = 60) -> str:
    """A short printable form of an input: the SMILES text, a Mol's SMILES, or the type."""
    from rdkit import Chem

    if isinstance(item, str):
        text = item
    elif isinstance(item, Chem.Mol):
        try:
            text = Chem.MolToSmiles(item)
        except RuntimeError:  # an unsanitizable Mol
            text = f"<Mol with {item.GetNumAtoms()} atoms>"
    else:
        text = f"<{type(item).__name__}>"
    return text if len(text) <= width else text[: width - 3] + "..."


def _parse(item: Any) -> Chem.Mol:
    """A sanitized copy of the input molecule."""
    from rdkit import Chem

    if isinstance(item, str):
        text = item.strip()
        if not text:
            raise UnsupportedMolecule("empty SMILES")
        mol = Chem.MolFromSmiles(text, sanitize=False)
        if mol is None:
            raise UnsupportedMolecule("invalid SMILES: RDKit cannot parse it")
        what = "invalid SMILES"
    elif isinstance(item, Chem.Mol):
        mol = Chem.Mol(item)
        what = "invalid molecule"
    elif item is None:
        raise UnsupportedMolecule("None instead of a molecule (did Chem.MolFromSmiles fail?)")
    else:
        raise UnsupportedMolecule(f"not a SMILES string or an RDKit Mol (got "
                                  f"{type(item).__name__})")
    try:
        Chem.SanitizeMol(mol)
    except Chem.MolSanitizeException as err:
        raise UnsupportedMolecule(f"{what}: {err}") from err
    return mol


def canonical_smiles(item: Any, *, atom_types: Collection[str], max_atoms: int) -> str:
    """Check an input against the training domain; return its canonical SMILES.

    In this order: the input must be a SMILES string or ``Mol`` that RDKit parses and
    sanitizes; hydrogen atoms given explicitly are removed (``Chem.RemoveHs``); then it must
    have at least one atom, only elements of ``atom_types`` (hydrogens that ``RemoveHs`` keeps,
    such as those of H2, count as element H), at most ``max_atoms`` heavy atoms and a single
    fragment.

    Args:
        item: a SMILES string or an RDKit ``Mol``.
        atom_types: element symbols the encoder was trained on.
        max_atoms: the most heavy atoms of a training molecule.

    Returns:
        RDKit's canonical SMILES without stereo or isotopes (``isomericSmiles=False``), the form
        in which the molecule domain stores its training molecules: every spelling of a
        molecule gives the same string, hence the same atom order and Kekulé structure.

    Raises:
        UnsupportedMolecule: the first rule broken, as its message.
    """
    from rdkit import Chem

    mol = _parse(item)
    if any(mol.GetAtomWithIdx(i).GetAtomicNum() == 1 for i in range(mol.GetNumAtoms())):
        mol = Chem.RemoveHs(mol)
    if mol.GetNumAtoms() == 0:
        raise UnsupportedMolecule("the molecule has no atoms")
    symbols = {mol.GetAtomWithIdx(i).GetSymbol() for i in range(mol.GetNumAtoms())}
    outside = sorted(symbols - set(atom_types))
    if outside:
        raise UnsupportedMolecule(
            f"unsupported element{'s' if len(outside) > 1 else ''} {', '.join(outside)}: the "
            f"encoder was trained on {', '.join(atom_types)} only")
    if mol.GetNumAtoms() > max_atoms:
        raise UnsupportedMolecule(
            f"{mol.GetNumAtoms()} heavy atoms: the encoder was trained on molecules of at most "
            f"{max_atoms}")
    fragments = len(Chem.GetMolFrags(mol))
    if fragments > 1:
        raise UnsupportedMolecule(
            f"{fragments} disconnected fragments: the encoder was trained on single molecules "
            "(encode the fragments one by one, or keep the one you mean, e.g. the largest)")
    return Chem.MolToSmiles(mol, isomericSmiles=False)
