"""Reading molecule files (toposci.domains.molecule_io)."""

from __future__ import annotations

import csv
import gzip
import logging
from pathlib import Path

import pytest
from rdkit import Chem

from toposci.domains.molecule_io import read_molecules
from toposci.domains.molecules import ATOM_TYPES


def canonical(smiles: str) -> str:
    """RDKit's canonical SMILES without stereo, computed directly (the reference)."""
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles), isomericSmiles=False)


def shipped_rows(shipped: Path) -> list[dict[str, str]]:
    with open(shipped / "qm9" / "qm9_sample.csv", newline="") as f:
        return list(csv.DictReader(f))



def test_smi_file_with_bad_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    f = tmp_path / "mols.smi"
    f.write_text("CCO ethanol\nC1CC broken_ring\n\n# a comment\nCS thiol\nnot_smiles x\nCC#N\n")
    with caplog.at_level(logging.WARNING):
        out = read_molecules(f, atom_set=ATOM_TYPES)
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
    out = read_molecules(tmp_path / name, atom_set=ATOM_TYPES)
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
