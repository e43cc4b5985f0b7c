"""MoleculeEncoder: the training path's posterior means, invariances, the training domain's
limits with their reasons, and the three error modes."""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from rdkit import Chem

from toposci.domains.generative._graph_table import GraphTable
from toposci.domains.molecules import featurize
from toposci.encoders import MoleculeEncoder, molecule_encoder
from toposci.training.trainer import load_run

ORTHO_FLUOROTOLUENE = ("Cc1ccccc1F", "Fc1ccccc1C", "c1(F)c(C)cccc1", "c1ccc(C)c(F)c1",
                       "CC1=C(F)C=CC=C1", "CC1=CC=CC=C1F")


def _latent_dim(run: Path) -> int:
    return yaml.safe_load((run / "config.yaml").read_text())["model"]["latent_dim"]


def test_shapes_and_dtype(encoder: MoleculeEncoder, demo_run: Path) -> None:
    z = encoder.encode(["CCO", "c1ccccc1", "N#CC(=O)O"])
    d = _latent_dim(demo_run)
    assert z.shape == (3, d) and z.dtype == np.float32 and np.isfinite(z).all()
    assert encoder.dim == d and encoder.max_atoms == 9
    assert encoder.atom_types == ("C", "N", "O", "F")
    assert encoder.feature_names() == [f"topomol{i}" for i in range(d)]


def test_embedding_is_the_trained_posterior_mean_of_the_training_path(
        encoder: MoleculeEncoder, demo_run: Path, qm9_rows: list[dict[str, str]]) -> None:
    # The run's model on batches made by the domain's own training pipeline (QM9 loader,
    # canonical-order table, collate), against the encoder fed the csv's raw SMILES, which are
    # not in canonical form: same featurization, same network, posterior mean.
    _, domain, model, _ = load_run(demo_run)
    data = domain.load()
    n = 300
    expected = model.encode(domain.collate(data.train, torch.arange(n))).numpy()  # (n, d)
    raw = [r["smiles"] for r in qm9_rows if r["gdss_split"] == "train"][:n]
    assert sum(Chem.MolToSmiles(Chem.MolFromSmiles(s), isomericSmiles=False) != s
               for s in raw) > n // 4  # most inputs are spelled differently from training
    np.testing.assert_allclose(encoder.encode(raw, batch_size=64), expected, rtol=1e-5, atol=1e-5)
    mean, _ = model.posterior(domain.collate(data.train, torch.arange(5)))
    np.testing.assert_allclose(encoder.encode(raw[:5]), mean.detach().numpy(), atol=1e-6)


def test_deterministic_and_independent_of_batching_and_order(encoder: MoleculeEncoder,
                                                             qm9_rows) -> None:
    smiles = [r["smiles"] for r in qm9_rows[:40]]
    z = encoder.encode(smiles)
    np.testing.assert_array_equal(encoder.encode(smiles), z)
    np.testing.assert_allclose(encoder.encode(smiles, batch_size=1), z, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(encoder.encode(smiles[::-1], batch_size=7), z[::-1], rtol=1e-5,
                               atol=1e-5)


def test_every_spelling_of_a_molecule_gets_one_vector(encoder: MoleculeEncoder) -> None:
    # The encoder sees each atom's position (the demo recipe's encoder.positions), so the same
    # network fed the graphs in the atom order of each spelling gives different vectors: the
    # invariance is the work of the canonical order, not a property of the network.
    assert encoder.recipe.model.encoder.positions
    graphs = [featurize(Chem.MolFromSmiles(s)) for s in ORTHO_FLUOROTOLUENE]
    batch = encoder.domain.collate(GraphTable.from_data_list(graphs),
                                   torch.arange(len(graphs)))
    with torch.no_grad():
        input_order = encoder.network(batch).numpy()  # (6, d)
    assert len({tuple(row) for row in input_order.round(4)}) > 1
    z = encoder.encode(list(ORTHO_FLUOROTOLUENE))
    np.testing.assert_array_equal(z, np.repeat(z[:1], len(ORTHO_FLUOROTOLUENE), axis=0))


def test_mol_objects_permuted_atoms_and_explicit_hydrogens(encoder: MoleculeEncoder) -> None:
    smiles = "OCC1=CC(=O)NC1"
    mol = Chem.MolFromSmiles(smiles)
    order = list(range(mol.GetNumAtoms()))
    random.Random(0).shuffle(order)
    kekule = Chem.Mol(mol)
    Chem.Kekulize(kekule, clearAromaticFlags=True)
    variants = [mol, Chem.RenumberAtoms(mol, order), Chem.AddHs(mol), kekule,
                "[H]OC([H])([H])C1=CC(=O)N([H])C1([H])[H]"]
    z = encoder.encode([smiles, *variants])
    np.testing.assert_array_equal(z[1:], np.repeat(z[:1], len(variants), axis=0))
    assert Chem.AddHs(mol).GetNumAtoms() > mol.GetNumAtoms()  # hydrogens really were atoms


def test_stereo_and_isotopes_are_not_represented(encoder: MoleculeEncoder) -> None:
    z = encoder.encode(["C[C@H](O)F", "C[C@@H](O)F", "CC(O)F", "[13CH3]C(O)F"])
    np.testing.assert_array_equal(z, np.repeat(z[:1], 4, axis=0))
    assert not np.array_equal(z[0], encoder.encode(["CC(O)O"])[0])  # a different molecule


def test_charged_atoms_are_encoded_as_in_training(encoder: MoleculeEncoder) -> None:
    # QM9 has zwitterions; the formal charge is an atom feature, so charge matters
    z = encoder.encode(["C[NH3+]", "CN", "[NH3+]CC(=O)[O-]"])
    assert np.isfinite(z).all() and not np.array_equal(z[0], z[1])


REASONS = [
    ("C1CC", r"invalid SMILES: RDKit cannot parse it"),
    ("CC(C)(C)(C)C", r"invalid SMILES: Explicit valence for atom # 1 C"),
    ("", r"empty SMILES"),
    ("   ", r"empty SMILES"),
    ("CCS", r"unsupported element S: the encoder was trained on C, N, O, F only"),
    ("ClCBr", r"unsupported elements Br, Cl"),
    ("[H][H]", r"unsupported element H"),
    ("CCCCCCCCCC", r"10 heavy atoms: the encoder was trained on molecules of at most 9"),
    ("CC.O", r"2 disconnected fragments"),
    ("CN(C)(C)->O", r"DATIVE"),
    (None, r"None instead of a molecule"),
    (42, r"not a SMILES string or an RDKit Mol \(got int\)"),
]


@pytest.mark.parametrize(("item", "reason"), REASONS, ids=[repr(r[0]) for r in REASONS])
def test_inputs_outside_the_training_domain_fail_with_their_reason(
        encoder: MoleculeEncoder, item, reason: str) -> None:
    out = encoder.encode_detailed(["CCO", item], errors="skip")
    assert out.embeddings.shape == (1, encoder.dim) and out.index.tolist() == [0]
    [failure] = out.failures
    assert failure.index == 1
    assert re.search(reason, failure.reason), failure.reason
    with pytest.raises(ValueError, match=r"\[1\] .*" + reason):
        encoder.encode(["CCO", item])


def test_error_modes(encoder: MoleculeEncoder) -> None:
    items = ["CCO", "CCS", "c1ccccc1", "C1CC", "N#N"]
    good = encoder.encode(["CCO", "c1ccccc1", "N#N"])
    with pytest.raises(ValueError, match=r"2 of the first 5 of 5 molecules cannot be encoded: "
                                         r"\[1\] 'CCS': unsupported element S.*\[3\] 'C1CC'"):
        encoder.encode(items)
    nan = encoder.encode_detailed(items, errors="nan")
    assert np.isnan(nan.embeddings[[1, 3]]).all()
    np.testing.assert_allclose(nan.embeddings[[0, 2, 4]], good, atol=1e-6)
    assert nan.index.tolist() == [0, 1, 2, 3, 4]
    assert nan.smiles == ["CCO", None, "c1ccccc1", None, "N#N"]
    skip = encoder.encode_detailed(items, errors="skip", batch_size=2)
    np.testing.assert_allclose(skip.embeddings, good, atol=1e-6)
    assert skip.index.tolist() == [0, 2, 4]
    assert [(f.index, f.input) for f in skip.failures] == [(1, "CCS"), (3, "C1CC")]
    all_bad = encoder.encode_detailed(["CCS", "C1CC"], errors="skip")
    assert all_bad.embeddings.shape == (0, encoder.dim) and len(all_bad.failures) == 2


def test_raise_mode_stops_at_the_first_batch_with_failures(encoder: MoleculeEncoder) -> None:
    items = ["CCO"] * 5 + ["CCS"] + ["CCO"] * 10
    with pytest.raises(ValueError, match=r"1 of the first 8 of 16 molecules.*\[5\] 'CCS'"):
        encoder.encode(items, batch_size=4)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"molecules": "CCO"}, r"not one string; wrap it in a list"),
    ({"molecules": []}, r"molecules is empty"),
    ({"molecules": 5}, r"sequence of SMILES strings or RDKit Mols, got int"),
    ({"molecules": ["CCO"], "errors": "ignore"}, r"unknown errors='ignore'; valid: raise, nan"),
    ({"molecules": ["CCO"], "batch_size": 0}, r"batch_size must be a positive int"),
])
def test_bad_arguments(encoder: MoleculeEncoder, kwargs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encoder.encode(**kwargs)


def test_save_load_round_trip_and_run_directories(encoder: MoleculeEncoder, demo_run: Path,
                                                  tmp_path: Path) -> None:
    smiles = ["CCO", "c1ccccc1", "OC1COC1"]
    z = encoder.encode(smiles)
    np.testing.assert_array_equal(MoleculeEncoder.from_run(demo_run).encode(smiles), z)
    np.testing.assert_array_equal(MoleculeEncoder.load(demo_run).encode(smiles), z)
    again = encoder.save(tmp_path / "again.pt")
    np.testing.assert_array_equal(MoleculeEncoder.load(again).encode(smiles), z)
    assert MoleculeEncoder.load(again).name == "demo"
    assert MoleculeEncoder.from_run(demo_run).name == "qm9-demo"  # default: the recipe's name


def test_pretrained_names_resolve_to_package_data(encoder_file: Path, encoder: MoleculeEncoder,
                                                  tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(molecule_encoder, "PRETRAINED_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"pretrained encoder 'qm9' is not installed: "
                                                r".*qm9\.pt is missing.*export-encoder"):
        MoleculeEncoder.load("qm9")
    shutil.copy(encoder_file, tmp_path / "qm9.pt")
    np.testing.assert_array_equal(MoleculeEncoder.load("qm9").encode(["CCO"]),
                                  encoder.encode(["CCO"]))
    with pytest.raises(FileNotFoundError, match=r"no encoder file or run directory zinc "
                                                r"\(shipped encoders: qm9\)"):
        MoleculeEncoder.load("zinc")


def test_shipped_location_is_the_package_folder() -> None:
    import toposci

    assert molecule_encoder.PRETRAINED_DIR == Path(toposci.__file__).parent / "pretrained"
    assert (molecule_encoder.PRETRAINED_DIR / "README.md").is_file()
