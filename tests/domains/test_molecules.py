"""Featurizing molecules, dense batches, and decoding graphs back (toposci.domains.molecules)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from rdkit import Chem

from toposci.domains.molecules import (
    ATOM_PAD,
    decode_data,
    decode_dense,
    decode_graph,
    featurize,
    keep_largest_fragment,
    to_dense,
)


def canonical(smiles: str) -> str:
    """RDKit's canonical SMILES without stereo, computed directly (the reference)."""
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles), isomericSmiles=False)


def shipped_rows(shipped: Path) -> list[dict[str, str]]:
    with open(shipped / "qm9" / "qm9_sample.csv", newline="") as f:
        return list(csv.DictReader(f))


def bonds(data) -> set[tuple[int, int, int]]:
    """Directed edges as (source, target, bond code)."""
    return set(zip(*data.edge_index.tolist(), data.bond_type.tolist(), strict=True))


# ----------------------------------------------------------------- hand-checked featurizations


def test_ethanol() -> None:
    d = featurize(Chem.MolFromSmiles("CCO"))
    assert d.atom_type.tolist() == [0, 0, 2]  # C, C, O
    assert d.x.tolist() == [[1, 0, 0, 0, 0, 3], [1, 0, 0, 0, 0, 2], [0, 0, 1, 0, 0, 1]]
    assert bonds(d) == {(0, 1, 0), (1, 0, 0), (1, 2, 0), (2, 1, 0)}  # two single bonds
    assert d.edge_attr.tolist() == [[1, 0, 0]] * 4
    assert d.smiles == "CCO"
    assert d.atom_type.dtype == d.charge.dtype == d.bond_type.dtype == torch.long


def test_benzene_is_kekulized() -> None:
    d = featurize(Chem.MolFromSmiles("c1ccccc1"))
    assert d.atom_type.tolist() == [0] * 6 and d.x[:, 5].tolist() == [1] * 6
    codes = d.bond_type.tolist()
    assert codes.count(0) == 6 and codes.count(1) == 6  # 3 single + 3 double, both directions
    doubles_per_atom = np.bincount(d.edge_index[0][d.bond_type == 1].numpy(), minlength=6)
    assert doubles_per_atom.tolist() == [1] * 6
    assert d.smiles == "c1ccccc1"


def test_acetonitrile_has_one_triple_bond() -> None:
    d = featurize(Chem.MolFromSmiles("CC#N"))
    assert d.atom_type.tolist() == [0, 0, 1]
    assert d.x[:, 5].tolist() == [3, 0, 0]
    assert bonds(d) == {(0, 1, 0), (1, 0, 0), (1, 2, 2), (2, 1, 2)}


def test_zwitterion_charges() -> None:
    d = featurize(Chem.MolFromSmiles("[NH3+]CC([O-])=O"))
    assert d.atom_type.tolist() == [1, 0, 0, 2, 2]
    assert d.charge.tolist() == [1, 0, 0, -1, 0]
    assert d.x[:, 4].tolist() == [1, 0, 0, -1, 0]
    assert d.x[:, 5].tolist() == [3, 2, 0, 0, 0]


def test_single_atom_has_no_edges() -> None:
    d = featurize(Chem.MolFromSmiles("C"))
    assert d.edge_index.shape == (2, 0) and d.edge_attr.shape == (0, 3)


@pytest.mark.parametrize(("smiles", "match"), [("CS", "atom 1 is S"), ("", "no atoms"),
                                              ("C1CC", "mol is None")])
def test_featurize_rejects(smiles: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        featurize(Chem.MolFromSmiles(smiles))


# ----------------------------------------------------------------- round trip


def test_round_trip_of_every_shipped_molecule(shipped: Path) -> None:
    rows = shipped_rows(shipped)
    assert len(rows) == 2000
    failures = []
    for row in rows:
        decoded = decode_data(featurize(Chem.MolFromSmiles(row["smiles"])))
        if not decoded.validity or decoded.smiles != canonical(row["smiles"]):
            failures.append((row["smiles"], decoded))
    assert failures == []
    assert sum("+" in r["smiles"] or "-]" in r["smiles"] for r in rows) == 28  # charged ones


def permuted(data, perm: torch.Tensor):
    """The same graph with atom ``perm[k]`` moved to position ``k``."""
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(perm.numel())
    out = data.clone()
    out.atom_type, out.charge = data.atom_type[perm], data.charge[perm]
    out.edge_index = inverse[data.edge_index]
    return out


def test_permuting_atoms_gives_the_same_smiles(shipped: Path) -> None:
    gen = torch.Generator().manual_seed(0)
    for row in shipped_rows(shipped)[:300]:
        d = featurize(Chem.MolFromSmiles(row["smiles"]))
        perm = torch.randperm(d.num_nodes, generator=gen)
        assert decode_data(permuted(d, perm)).smiles == canonical(row["smiles"])


# ----------------------------------------------------------------- the inverse on hand-made graphs


def star(center: int, n_arms: int, charge: int = 0) -> tuple[torch.Tensor, ...]:
    """An atom of type ``center`` with ``n_arms`` single-bonded carbons."""
    n = n_arms + 1
    bond = torch.zeros(n, n, dtype=torch.long)
    bond[0, 1:] = bond[1:, 0] = 1
    charges = torch.zeros(n, dtype=torch.long)
    charges[0] = charge
    return torch.tensor([center] + [0] * n_arms), bond, charges


def test_pentavalent_carbon_is_a_valence_failure() -> None:
    atom_type, bond, charge = star(0, 5)
    out = decode_graph(atom_type, bond, charge=charge)
    assert out.validity.reason == "valence" and out.mol is None and out.smiles is None


def test_nitrogen_with_four_bonds() -> None:
    atom_type, bond, charge = star(1, 4)
    assert decode_graph(atom_type, bond).validity.reason == "valence"
    charge[0] = 1
    out = decode_graph(atom_type, bond, charge=charge)
    assert out.validity and out.smiles == "C[N+](C)(C)C"


def test_two_fragments_are_disconnected() -> None:
    bond = torch.zeros(5, 5, dtype=torch.long)
    bond[0, 1] = bond[1, 0] = bond[1, 2] = bond[2, 1] = 1  # C-C-O   and   C=C
    bond[3, 4] = bond[4, 3] = 2
    out = decode_graph(torch.tensor([0, 0, 2, 0, 0]), bond)
    assert out.validity.reason == "disconnected" and "2 fragments" in out.validity.detail
    assert out.smiles == "C=C.CCO"
    fixed = keep_largest_fragment(out)
    assert fixed.validity and fixed.smiles == "CCO"
    assert keep_largest_fragment(fixed) is fixed


def test_empty_graphs() -> None:
    empty = torch.zeros(0, dtype=torch.long)
    assert decode_graph(empty, torch.zeros(0, 0, dtype=torch.long)).validity.reason == "empty"
    all_pad = torch.full((3,), ATOM_PAD)
    assert decode_graph(all_pad, torch.zeros(3, 3, dtype=torch.long)).validity.reason == "empty"


def ring(n: int, code: int) -> torch.Tensor:
    bond = torch.zeros(n, n, dtype=torch.long)
    for i in range(n):
        bond[i, (i + 1) % n] = bond[(i + 1) % n, i] = code
    return bond


def test_aromatic_bonds_are_kekulized_or_rejected() -> None:
    assert decode_graph(torch.zeros(6, dtype=torch.long), ring(6, 4)).smiles == "c1ccccc1"
    out = decode_graph(torch.zeros(5, dtype=torch.long), ring(5, 4))
    assert out.validity.reason == "kekulization"


def test_padding_atoms_and_their_bonds_are_ignored() -> None:
    bond = ring(3, 1)  # a triangle, but atom 2 is padding: C-C remains
    assert decode_graph(torch.tensor([0, 0, ATOM_PAD]), bond).smiles == "CC"


@pytest.mark.parametrize(
    ("atom_type", "bond", "match"),
    [
        (torch.tensor([0, 0]), torch.tensor([[0, 1], [0, 0]]), "symmetric"),
        (torch.tensor([0, 0]), torch.tensor([[1, 0], [0, 0]]), "diagonal"),
        (torch.tensor([0, 7]), torch.zeros(2, 2, dtype=torch.long), "atom_type codes"),
        (torch.tensor([0, 0]), torch.tensor([[0, 5], [5, 0]]), "bond codes"),
        (torch.tensor([0.0, 0.0]), torch.zeros(2, 2, dtype=torch.long), "integer"),
        (torch.tensor([0, 0]), torch.zeros(3, 3, dtype=torch.long), r"\(N, N\)"),
        (torch.zeros(1, 2, dtype=torch.long), torch.zeros(2, 2, dtype=torch.long), r"\(N,\)"),
    ],
)
def test_malformed_graphs_raise(atom_type, bond, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        decode_graph(atom_type, bond)


# ----------------------------------------------------------------- dense form


def test_to_dense_and_back() -> None:
    smiles = ["CCO", "c1ccccc1", "[NH3+]CC([O-])=O"]
    data = [featurize(Chem.MolFromSmiles(s)) for s in smiles]
    dense = to_dense(data, max_atoms=9)
    assert dense.atom_type.shape == dense.charge.shape == dense.mask.shape == (3, 9)
    assert dense.bond.shape == (3, 9, 9)
    assert dense.mask.sum(1).tolist() == [3, 6, 5]
    assert dense.atom_type[0].tolist() == [0, 0, 2] + [ATOM_PAD] * 6
    assert dense.bond[0, :3, :3].tolist() == [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
    assert dense.bond[1].sum().item() == 2 * (3 * 1 + 3 * 2)  # 3 single + 3 double, symmetric
    assert dense.charge[2, :5].tolist() == [1, 0, 0, -1, 0]
    out = decode_dense(dense.atom_type, dense.bond, charge=dense.charge, mask=dense.mask)
    assert [o.smiles for o in out] == [canonical(s) for s in smiles]
    with pytest.raises(ValueError, match="more than max_atoms"):
        to_dense(data, max_atoms=5)


def test_decode_dense_mask_drops_atoms() -> None:
    atom_type = torch.zeros(1, 3, dtype=torch.long)
    bond = ring(3, 1).unsqueeze(0)  # (1, 3, 3) cyclopropane
    assert decode_dense(atom_type, bond)[0].smiles == "C1CC1"
    mask = torch.tensor([[True, True, False]])
    assert decode_dense(atom_type, bond, mask=mask)[0].smiles == "CC"
    with pytest.raises(ValueError, match="mask"):
        decode_dense(atom_type, bond, mask=mask.long())
