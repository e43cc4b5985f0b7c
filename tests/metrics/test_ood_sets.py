"""Shifted sets for OOD detection (toposci.metrics.ood_sets)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
from rdkit import Chem, RDConfig

from toposci.domains.generative.molecules import MoleculeData, MoleculeDomain, canonical_dense
from toposci.metrics.ood_sets import (
    invert_images,
    molecule_table,
    nci_molecules,
    protein_decoys,
    rotate_images,
)

NCI = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"


# ---------------------------------------------------------------------- molecules


def test_nci_filter_on_a_hand_written_file(tmp_path: Path) -> None:
    path = tmp_path / "mols.smi"
    path.write_text("CCO\t1\nc1ccccc1Cl\t2\nCCCCCCCCCC\t3\nCC.O\t4\nnot_a_smiles\t5\n"
                    "OCC\t6\nC[C@H](N)O\t7\nc1ccncc1\t8\n\n")
    out = nci_molecules(path=path, exclude={"c1ccncc1"})
    # Cl is not featurized, 10 carbons > 9, two components, one parse failure, OCC = CCO,
    # stereo dropped from the alaninol-like record, pyridine excluded
    assert out.smiles == ["CCO", "CC(N)O"]
    assert out.dropped == {"disconnected": 1, "duplicate": 1, "excluded": 1,
                           "not_featurizable": 1, "parse": 1, "too_large": 1}
    assert nci_molecules(path=path, max_atoms=2).smiles == []
    with pytest.raises(ValueError, match="no such SMILES file"):
        nci_molecules(path=tmp_path / "missing.smi")
    with pytest.raises(ValueError, match="max_atoms"):
        nci_molecules(path=path, max_atoms=0)


@pytest.mark.skipif(not NCI.is_file(), reason="RDKit's NCI sample is not installed")
def test_nci_molecules_fit_the_qm9_model_and_avoid_qm9(shipped: Path) -> None:
    with open(shipped / "qm9" / "qm9_sample.csv", newline="") as f:
        qm9 = [Chem.MolToSmiles(Chem.MolFromSmiles(r["smiles"]), isomericSmiles=False)
               for r in csv.DictReader(f)]
    out = nci_molecules(exclude=qm9)
    records = sum(1 for line in NCI.read_text().splitlines() if line.strip())
    assert len(out.smiles) + sum(out.dropped.values()) == records  # every record accounted
    assert out.dropped["excluded"] > 0 and out.dropped["too_large"] > records / 2
    # the first NCI record, 2-methyl-1,4-benzoquinone (8 heavy atoms), is kept
    assert "CC1=CC(=O)C=CC1=O" in out.smiles
    assert not set(out.smiles) & set(qm9)
    for smiles in out.smiles:
        mol = Chem.MolFromSmiles(smiles)
        assert mol.GetNumHeavyAtoms() <= 9
        assert {a.GetSymbol() for a in mol.GetAtoms()} <= {"C", "N", "O", "F"}
    assert len(set(out.smiles)) == len(out.smiles)


def test_molecule_table_batches_like_the_domain() -> None:
    smiles = ["CC1=CC(=O)C=CC1=O", "CCN(CC)N=O", "OCC(F)(F)C(F)F"]
    table = molecule_table(smiles)
    domain = MoleculeDomain(MoleculeData())
    batch = domain.collate(table, torch.arange(3))
    atom, bond = canonical_dense(smiles, 9)
    assert torch.equal(batch.atom_target, atom.long())
    assert torch.equal(batch.bond_target, bond.long())
    assert batch.x.shape[0] == sum(Chem.MolFromSmiles(s).GetNumAtoms() for s in smiles)
    encoder = domain.make_encoder(domain.EncoderOptions(hidden=8, layers=1, out_features=4))
    assert encoder(batch).shape == (3, 4)
    with pytest.raises(ValueError, match=r"molecule 1 .*Cl"):
        molecule_table(["CCO", "CCCl"])
    with pytest.raises(ValueError, match="no molecules"):
        molecule_table([])


# ---------------------------------------------------------------------- images


def test_rotations_by_right_angles_are_rot90() -> None:
    images = torch.rand(3, 1, 28, 28, dtype=torch.float64)
    quarter = rotate_images(images, 90.0)
    assert torch.allclose(quarter, torch.rot90(images, 1, dims=(2, 3)), atol=1e-9)
    turned = rotate_images(images, torch.tensor([90.0, 180.0, -90.0]))
    for k, (got, image) in zip((1, 2, -1), zip(turned, images, strict=True), strict=True):
        assert torch.allclose(got, torch.rot90(image, k, dims=(1, 2)), atol=1e-9)
    assert torch.allclose(rotate_images(images, 360.0), images, atol=1e-9)
    corner = torch.zeros(1, 1, 5, 5)
    corner[0, 0, 0, 4] = 1.0  # top right
    assert rotate_images(corner, 90.0)[0, 0, 0, 0] == pytest.approx(1.0)  # top left
    with pytest.raises(ValueError, match="degrees"):
        rotate_images(images, torch.tensor([1.0, 2.0]))


def test_invert_images() -> None:
    images = torch.rand(2, 1, 4, 4)
    assert torch.equal(invert_images(images), 1.0 - images)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        invert_images(images + 1.0)


# ---------------------------------------------------------------------- proteins


def _steps(x: torch.Tensor) -> torch.Tensor:
    return (x[:, 1:] - x[:, :-1]).norm(dim=2)


def _bond_angles(x: torch.Tensor) -> torch.Tensor:
    """Angles (degrees) at the inner points between the neighbours, ``(B, L - 2)``."""
    back, forth = x[:, :-2] - x[:, 1:-1], x[:, 2:] - x[:, 1:-1]
    cos = (back * forth).sum(dim=2) / (back.norm(dim=2) * forth.norm(dim=2))
    return torch.rad2deg(torch.arccos(cos.clamp(-1.0, 1.0)))


@pytest.fixture
def fragments() -> torch.Tensor:
    """Two straight-ish chains with uneven steps, ``(2, 12, 3)``."""
    g = torch.Generator().manual_seed(0)
    steps = torch.randn(2, 11, 3, generator=g, dtype=torch.float64) + torch.tensor(
        [3.0, 0.0, 0.0], dtype=torch.float64)
    return torch.cat([torch.zeros(2, 1, 3, dtype=torch.float64), steps.cumsum(dim=1)], dim=1)


def test_shuffled_decoys_reorder_the_bond_vectors(fragments: torch.Tensor) -> None:
    decoys = protein_decoys(fragments, kind="shuffled", seed=1)
    assert torch.allclose(decoys.mean(dim=1), torch.zeros(2, 3, dtype=torch.float64), atol=1e-12)
    for real, fake in zip(fragments, decoys, strict=True):
        a, b = (x[1:] - x[:-1] for x in (real, fake))  # (L - 1, 3) bond vectors
        key = [sorted(map(tuple, v.round(decimals=9).tolist())) for v in (a, b)]
        assert key[0] == key[1]  # the same bond vectors
        assert not torch.allclose(a, b)  # in another order
    assert torch.equal(decoys, protein_decoys(fragments, kind="shuffled", seed=1))


def test_random_walk_decoys_keep_steps_and_bound_angles(fragments: torch.Tensor) -> None:
    decoys = protein_decoys(fragments, seed=2)
    assert torch.allclose(_steps(decoys), _steps(fragments), atol=1e-9)
    angles = _bond_angles(decoys)
    assert float(angles.min()) >= 85.0 - 1e-6 and float(angles.max()) <= 150.0 + 1e-6
    assert torch.allclose(decoys.mean(dim=1), torch.zeros(2, 3, dtype=torch.float64), atol=1e-12)
    assert not torch.allclose(protein_decoys(fragments, seed=3), decoys)


def test_decoy_errors(fragments: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="unknown decoy kind 'mirror'; valid: shuffled"):
        protein_decoys(fragments, kind="mirror")
    with pytest.raises(ValueError, match="L >= 3"):
        protein_decoys(fragments[:, :2])
    assert math.isfinite(float(protein_decoys(fragments[:1]).sum()))
