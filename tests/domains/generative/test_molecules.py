"""The molecule domain: canonical dense targets, views, decoding, the end-to-end demo."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from rdkit import Chem

from toposci.domains.generative.molecules import (
    EDGE_CLASSES,
    NODE_CLASSES,
    MoleculeData,
    MoleculeDomain,
    canonical_dense,
    canonical_table,
)
from toposci.nn.graph_decoders import GraphLogits

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def domain_and_data():
    domain = MoleculeDomain(MoleculeData())
    return domain, domain.load()


def _perfect_logits(batch) -> GraphLogits:
    """Logits that put (almost) all mass on the batch's own targets."""
    node = 30.0 * torch.nn.functional.one_hot(batch.atom_target, NODE_CLASSES).float()
    edge = 30.0 * torch.nn.functional.one_hot(batch.bond_target, EDGE_CLASSES).float()
    return GraphLogits(node, edge)


def test_canonical_dense_of_acrylonitrile_by_hand() -> None:
    atom, bond = canonical_dense([Chem.MolToSmiles(Chem.MolFromSmiles("N#CC=C"))], 5)
    # canonical SMILES C=CC#N: atoms C0 C1 C2 N3; C0=C1, C1-C2, C2#N3; slot 4 empty
    assert atom.tolist() == [[0, 0, 0, 1, 4]]
    expected = torch.zeros(5, 5, dtype=torch.int8)
    for i, j, order in ((0, 1, 2), (1, 2, 1), (2, 3, 3)):
        expected[i, j] = expected[j, i] = order
    assert torch.equal(bond[0], expected)


def test_canonical_dense_is_independent_of_the_input_atom_order() -> None:
    smiles = [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in ("OCC(N)=O", "NC(=O)CO")]
    atom, bond = canonical_dense(smiles, 9)
    assert torch.equal(atom[0], atom[1]) and torch.equal(bond[0], bond[1])


def test_canonical_dense_errors() -> None:
    with pytest.raises(ValueError, match="does not parse"):
        canonical_dense(["C1CC"], 9)
    with pytest.raises(ValueError, match="more than max_atoms=3"):
        canonical_dense(["CCCC"], 3)


def test_canonical_table_graphs_are_in_target_slot_order() -> None:
    from toposci.domains.molecules import NODE_FEATURES

    # input atom orders differ from the canonical one (C=CC#N, N#CC=C -> C=CC#N; OCC(N)=O ->
    # NC(=O)CO): the graphs follow the canonical SMILES, like the targets
    smiles = [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in ("N#CC=C", "OCC(N)=O")]
    table = canonical_table(smiles, 9)
    batch = table.batch(torch.arange(2))
    atom_type = batch.x[:, :4].argmax(1)  # (sum N,) C N O F one-hot columns
    assert NODE_FEATURES[:4] == ("is_C", "is_N", "is_O", "is_F")
    for g in range(2):
        lo, hi = int(batch.ptr[g]), int(batch.ptr[g + 1])
        assert torch.equal(atom_type[lo:hi], batch.atom_target[g, :hi - lo].long())
        src, dst = batch.edge_index[:, batch.batch[batch.edge_index[0]] == g] - lo
        assert torch.equal(batch.bond_target[g, src, dst].long(),
                           batch.edge_attr[batch.batch[batch.edge_index[0]] == g].argmax(1) + 1)
    assert atom_type[:4].tolist() == [0, 0, 0, 1]  # C=CC#N


def test_load_collate_and_views(domain_and_data) -> None:
    domain, data = domain_and_data
    assert (len(data.train), len(data.val)) == (1802, 198)  # the shipped sample's gdss split
    batch = domain.collate(data.train, torch.tensor([5, 0, 17]))
    assert domain.batch_size(batch) == 3
    assert batch.atom_target.shape == (3, 9) and batch.bond_target.shape == (3, 9, 9)
    assert torch.equal(batch.bond_target, batch.bond_target.transpose(1, 2))
    # the encoder's sparse graph and the dense target describe the same molecules
    n_atoms = (batch.atom_target != 4).sum(1)
    assert torch.equal(n_atoms, batch.ptr.diff())
    assert int((batch.bond_target > 0).sum()) == batch.edge_index.shape[1]
    view = domain.data_view(batch)
    assert view.shape == (3, 9 * 5 + 36 * 4)
    assert torch.allclose(domain.output_view(_perfect_logits(batch)), view, atol=1e-6)
    encoder = domain.make_encoder(domain.EncoderOptions())
    assert encoder(batch).shape == (3, encoder.out_features)


def test_perfect_logits_decode_back_to_the_molecules(domain_and_data) -> None:
    domain, data = domain_and_data
    idx = torch.arange(200)
    batch = domain.collate(data.train, idx)
    generated = domain.generate(_perfect_logits(batch))
    truth = data.info["training_smiles"][:200]
    charged = [("+" in s or "-" in s) for s in truth]  # charges are not decoded
    for mol, valid, smiles, is_charged in zip(generated.items, generated.validity, truth,
                                              charged, strict=True):
        if not is_charged:
            assert valid and mol.smiles == smiles
    assert generated.valid_fraction >= 1 - sum(charged) / 200


def test_generate_reports_valence_failures_and_the_correction_fixes_them(domain_and_data):
    domain, _ = domain_and_data
    node = torch.full((1, 9, NODE_CLASSES), -30.0)
    node[0, :6, 0] = 30.0  # six carbons
    node[0, 6:, 4] = 30.0
    edge = torch.full((1, 9, 9, EDGE_CLASSES), -30.0)
    edge[..., 0] = 30.0
    for j in range(1, 6):  # atom 0 double-bonded to five others: valence 10
        edge[0, 0, j, 0] = edge[0, j, 0, 0] = -30.0
        edge[0, 0, j, 2] = edge[0, j, 0, 2] = 10.0 - j  # decreasing preference
    raw = domain.generate(GraphLogits(node, edge))
    assert raw.validity[0].reason == "valence"
    fixed = domain.generate(GraphLogits(node, edge), correction="valence")
    assert fixed.correction == "valence"
    assert fixed.validity[0].reason != "valence"
    with pytest.raises(ValueError, match="unknown correction"):
        domain.generate(GraphLogits(node, edge), correction="magic")


def test_write_samples(tmp_path: Path, domain_and_data) -> None:
    domain, data = domain_and_data
    batch = domain.collate(data.train, torch.arange(4))
    generated = domain.generate(_perfect_logits(batch))
    files = domain.write_samples(generated, tmp_path / "s.smi")
    lines = (tmp_path / "s.smi").read_text().splitlines()
    assert [line.split("\t")[1] for line in lines] == [f"sample_{i}" for i in range(4)]
    assert files[1].read_text().splitlines()[0] == "sample,valid,reason,smiles"
    assert len(files[1].read_text().splitlines()) == 5
