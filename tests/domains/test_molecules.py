from __future__ import annotations

import csv
import gzip
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from rdkit import Chem
from torch_geometric.loader import DataLoader

from toposci.domains import molecules
from toposci.domains.molecules import (
    ATOM_PAD,
    QM9,
    decode_data,
    decode_dense,
    decode_graph,
    featurize,
    keep_largest_fragment,
    read_molecules,
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


# ----------------------------------------------------------------- reading


def test_smi_file_with_bad_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    f = tmp_path / "mols.smi"
    f.write_text("CCO ethanol\nC1CC broken_ring\n\n# a comment\nCS thiol\nnot_smiles x\nCC#N\n")
    with caplog.at_level(logging.WARNING):
        out = read_molecules(f, atom_set=molecules.ATOM_TYPES)
    assert [Chem.MolToSmiles(m) for m in out.molecules] == ["CCO", "CC#N"]
    assert out.ids == ["ethanol", "7"] and out.numbers == [1, 7]
    assert [(s.number, s.text) for s in out.skipped] == [(2, "C1CC"), (5, "CS"), (6, "not_smiles")]
    assert out.skipped[0].reason == "invalid SMILES"
    assert "S" in out.skipped[1].reason
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "skipped 3 of 5" in warnings[0].getMessage()
    assert len(read_molecules(f).molecules) == 3  # no atom set: the thiol is kept


def test_gzipped_csv(tmp_path: Path) -> None:
    f = tmp_path / "mols.csv.gz"
    with gzip.open(f, "wt") as g:
        g.write("name,SMILES\na,CCO\nb,C(\nc,\nd,[NH3+]CC([O-])=O\n")
    out = read_molecules(f, id_column="name")
    assert out.ids == ["a", "d"] and out.numbers == [2, 5]
    assert [(s.number, s.reason) for s in out.skipped] == [(3, "invalid SMILES"),
                                                         (4, "empty SMILES field")]
    with pytest.raises(ValueError, match=r"needs columns \['smi'\]"):
        read_molecules(f, smiles_column="smi")


def write_sdf(path: Path, smiles: list[str], *, corrupt_after: int | None = None) -> None:
    """Written by this test with RDKit's SDWriter; optionally a garbage record inserted."""
    text = []
    for k, s in enumerate(smiles):
        block = Chem.MolToMolBlock(Chem.MolFromSmiles(s))
        text.append(f"mol{k}" + block[block.index("\n"):] + "$$$$\n")
        if k == corrupt_after:
            text.append("broken\n  garbage\n\n  2  1  0  0\nnot a mol block\nM  END\n$$$$\n")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt") as f:
        f.write("".join(text))


@pytest.mark.parametrize("name", ["mols.sdf", "mols.sdf.gz"])
def test_sdf_round_trip(tmp_path: Path, shipped: Path, name: str) -> None:
    smiles = [r["smiles"] for r in shipped_rows(shipped)[:20]]
    write_sdf(tmp_path / name, smiles)
    out = read_molecules(tmp_path / name, atom_set=molecules.ATOM_TYPES)
    assert [Chem.MolToSmiles(m, isomericSmiles=False) for m in out.molecules] == [
        canonical(s) for s in smiles]
    assert out.ids == [f"mol{k}" for k in range(20)] and out.skipped == []


def test_corrupt_sdf_record_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_sdf(tmp_path / "m.sdf", ["CCO", "CC#N", "C1CC1"], corrupt_after=0)
    with caplog.at_level(logging.WARNING):
        out = read_molecules(tmp_path / "m.sdf")
    assert [Chem.MolToSmiles(m) for m in out.molecules] == ["CCO", "CC#N", "C1CC1"]
    assert out.numbers == [1, 3, 4]
    assert [(s.number, s.text, s.reason) for s in out.skipped] == [
        (2, "broken", "unparsable SDF record")]
    assert "skipped 1 of 4" in caplog.text


def test_unknown_suffix_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown file type"):
        read_molecules(tmp_path / "mols.xyz")
    with pytest.raises(FileNotFoundError):
        read_molecules(tmp_path / "absent.smi")


# ----------------------------------------------------------------- the QM9 data set


@pytest.fixture
def cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TOPOSCI_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


def test_shipped_split_sizes(shipped: Path, cache_root: Path) -> None:
    counts = {"train": 0, "test": 0}
    for row in shipped_rows(shipped):
        counts[row["gdss_split"]] += 1
    assert counts == {"train": 1802, "test": 198}  # as stated in datasets/README.md
    for split, n in counts.items():
        assert len(QM9(split=split)) == n
    assert len(QM9()) == 2000
    assert any((cache_root / "processed").glob("qm9_*.pt"))


def test_items_match_the_csv(shipped: Path, cache_root: Path) -> None:
    rows = [r for r in shipped_rows(shipped) if r["gdss_split"] == "test"]
    ds = QM9(split="test")
    for k in (0, 57, len(ds) - 1):
        item, row = ds[k], rows[k]
        ref = featurize(Chem.MolFromSmiles(row["smiles"]))
        assert int(item.idx) == int(row["index"])
        assert item.y.shape == (1, 1) and item.y.item() == pytest.approx(float(row["homo"]))
        assert item.smiles == canonical(row["smiles"])
        for key in ("x", "atom_type", "charge", "edge_index", "edge_attr", "bond_type"):
            assert torch.equal(item[key], ref[key]), key


def test_behaves_like_a_pyg_dataset(cache_root: Path) -> None:
    def tag(d):
        d.tag = 1
        return d

    ds = QM9(split="test", transform=tag)
    assert repr(ds) == "QM9(198, split='test')"
    assert ds.num_node_features == 6 and ds.num_edge_features == 3
    assert ds[0].tag == 1
    sub = ds[torch.tensor([3, 5])]
    assert len(sub) == 2 and sub[1].smiles == ds[5].smiles
    batch = next(iter(DataLoader(ds, batch_size=16)))
    assert batch.num_graphs == 16 and batch.y.shape == (16, 1)
    assert to_dense(batch).atom_type.shape == (16, 9)


def test_split_and_path_errors(tmp_path: Path, cache_root: Path) -> None:
    with pytest.raises(ValueError, match="valid: \\('train', 'test', 'all'\\)"):
        QM9(split="valid")
    with pytest.raises(FileNotFoundError):
        QM9(tmp_path / "absent.csv")
    (tmp_path / "bad.csv").write_text("smiles\nCCO\n")
    with pytest.raises(ValueError, match="missing"):
        QM9(tmp_path / "bad.csv")


def test_bad_rows_are_skipped_and_counted(tmp_path: Path, cache_root: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    f = tmp_path / "tiny.csv"
    f.write_text("index,mol_id,smiles,homo,gdss_split\n0,gdb_1,C,-0.3,train\n"
                 "1,gdb_2,C1CC,-0.2,train\n2,gdb_3,CS,-0.2,test\n3,gdb_4,CC#N,-0.3,test\n")
    with caplog.at_level(logging.WARNING):
        ds = QM9(f)
    assert [d.smiles for d in ds] == ["C", "CC#N"]
    assert [(s.number, s.text) for s in ds.skipped] == [(3, "C1CC"), (4, "CS")]
    assert "skipped 2 of 4" in caplog.text
    assert [d.smiles for d in QM9(f, split="test")] == ["CC#N"]


class CountingFeaturizer:
    def __init__(self) -> None:
        self.calls = 0
        self.inner = molecules._featurize_rows

    def __call__(self, rows):
        self.calls += 1
        return self.inner(rows)


def test_cache_is_reused_then_rebuilt(tmp_path: Path, shipped: Path, cache_root: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    spy = CountingFeaturizer()
    monkeypatch.setattr(molecules, "_featurize_rows", spy)
    first = QM9(split="test")
    assert spy.calls == 1  # 2,000 rows: one in-process chunk
    second = QM9(split="train")
    assert spy.calls == 1  # reused, no featurization
    assert len(first) + len(second) == 2000
    monkeypatch.setattr(molecules, "FEATURIZER_VERSION", "molecules-graph-test")
    QM9()
    assert spy.calls == 2  # featurizer changed: rebuilt
    QM9()
    assert spy.calls == 2
    # A corrupted cache file is rebuilt, not trusted.
    (cache_file,) = (cache_root / "processed").glob("qm9_*.pt")
    cache_file.write_bytes(cache_file.read_bytes()[:1000])
    assert len(QM9(split="test")) == 198 and spy.calls == 3
    # A changed source file is rebuilt too.
    copy = tmp_path / "copy.csv"
    lines = (shipped / "qm9" / "qm9_sample.csv").read_text().splitlines(keepends=True)
    copy.write_text("".join(lines))
    assert len(QM9(copy)) == 2000 and spy.calls == 4
    copy.write_text("".join(lines[:-10]))
    assert len(QM9(copy)) == 1990 and spy.calls == 5


@pytest.mark.realdata
def test_full_qm9_split(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "qm9" / "qm9_smiles.csv.gz"
    test = QM9(source, split="test", cache_root=tmp_path)
    train = QM9(source, split="train", cache_root=tmp_path)
    assert (len(train), len(test)) == (120_803, 13_082)
    assert train.skipped == []
    # The column agrees with the index file read the GDSS way (int(id) = 0-based row).
    with gzip.open(shared_data / "qm9" / "valid_idx_qm9.json.gz", "rt") as f:
        gdss_rows = {int(i) for i in json.load(f)["valid_idxs"]}
    assert {int(d.idx) for d in test} == gdss_rows


def test_malformed_qm9_rows_are_skipped(tmp_path: Path, cache_root: Path) -> None:
    f = tmp_path / "tiny.csv"
    f.write_text("index,mol_id,smiles,homo,gdss_split\n0,gdb_1,C,-0.3,train\n"
                 "x,gdb_2,CC,-0.2,train\n2,gdb_3,CCC,-0.2,valid\n3,gdb_4\n4,gdb_5,N,,test\n")
    ds = QM9(f)
    assert len(ds) == 1 and ds[0].smiles == "C"
    assert [s.number for s in ds.skipped] == [3, 4, 5, 6]
    assert {s.reason for s in ds.skipped} == {"bad index, homo or gdss_split value"}
    empty = tmp_path / "empty.csv"
    empty.write_text("index,mol_id,smiles,homo,gdss_split\n")
    assert len(QM9(empty)) == 0
