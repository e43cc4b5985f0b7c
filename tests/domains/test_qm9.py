"""The QM9 data set and its processed cache (toposci.domains.qm9)."""

from __future__ import annotations

import csv
import gzip
import json
import logging
from pathlib import Path

import pytest
import torch
from rdkit import Chem
from torch_geometric.loader import DataLoader

from toposci.domains import qm9
from toposci.domains.molecules import featurize, to_dense
from toposci.domains.qm9 import QM9


def canonical(smiles: str) -> str:
    """RDKit's canonical SMILES without stereo, computed directly (the reference)."""
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles), isomericSmiles=False)


def shipped_rows(shipped: Path) -> list[dict[str, str]]:
    with open(shipped / "qm9" / "qm9_sample.csv", newline="") as f:
        return list(csv.DictReader(f))



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
        self.inner = qm9._featurize_rows

    def __call__(self, rows):
        self.calls += 1
        return self.inner(rows)


def test_cache_is_reused_then_rebuilt(tmp_path: Path, shipped: Path, cache_root: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    spy = CountingFeaturizer()
    monkeypatch.setattr(qm9, "_featurize_rows", spy)
    first = QM9(split="test")
    assert spy.calls == 1  # 2,000 rows: one in-process chunk
    second = QM9(split="train")
    assert spy.calls == 1  # reused, no featurization
    assert len(first) + len(second) == 2000
    monkeypatch.setattr(qm9, "FEATURIZER_VERSION", "molecules-graph-test")  # as qm9 reads it
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
