"""`toposci encode` (.npy / .csv / .parquet) and `toposci export-encoder`."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from toposci.cli import main
from toposci.encoders import MoleculeEncoder

SMI = """CCO ethanol
c1ccccc1 benzene
C1CC broken
CCS thiol

# a comment
OC(=O)C acid
"""
GOOD = ["CCO", "c1ccccc1", "OC(=O)C"]


@pytest.fixture
def smi(tmp_path: Path) -> Path:
    path = tmp_path / "molecules.smi"
    path.write_text(SMI)
    return path


def _failures(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".parquet"])
def test_encode_writes_the_table(suffix: str, smi: Path, encoder_file: Path,
                                 encoder: MoleculeEncoder, tmp_path: Path, capsys) -> None:
    out = tmp_path / f"embeddings{suffix}"
    assert main(["encode", str(smi), "-o", str(out), "--model", str(encoder_file), "-q"]) == 0
    expected = encoder.encode(GOOD)
    if suffix == ".npy":
        table = np.load(out)
        assert (tmp_path / "embeddings_ids.txt").read_text().split() == ["ethanol", "benzene",
                                                                         "acid"]
    else:
        frame = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
        assert frame["id"].tolist() == ["ethanol", "benzene", "acid"]
        assert frame["smiles"].tolist() == ["CCO", "c1ccccc1", "CC(=O)O"]
        assert frame.columns[2:].tolist() == encoder.feature_names()
        table = frame.iloc[:, 2:].to_numpy()
    np.testing.assert_allclose(table, expected, rtol=1e-6, atol=1e-6)
    failures = _failures(tmp_path / "embeddings_failures.csv")
    assert [(f["number"], f["input"]) for f in failures] == [("3", "C1CC"), ("4", "CCS")]
    assert failures[1]["id"] == "thiol" and "unsupported element S" in failures[1]["reason"]
    printed = capsys.readouterr().out
    assert "encoded 3 of 5 molecules" in printed and "unsupported element S" in printed


def test_nan_rows_keep_the_file_order(smi: Path, encoder_file: Path, encoder: MoleculeEncoder,
                                      tmp_path: Path) -> None:
    out = tmp_path / "all.csv"
    assert main(["encode", str(smi), "-o", str(out), "-m", str(encoder_file), "--errors", "nan",
                 "-q"]) == 0
    frame = pd.read_csv(out, keep_default_na=False, na_values={c: ["NaN", ""] for c in
                                                                encoder.feature_names()})
    assert frame["id"].astype(str).tolist() == ["ethanol", "benzene", "3", "thiol", "acid"]
    table = frame[encoder.feature_names()].to_numpy()
    assert np.isnan(table[[2, 3]]).all()
    np.testing.assert_allclose(table[[0, 1, 4]], encoder.encode(GOOD), rtol=1e-6, atol=1e-6)


def test_raise_mode_and_bad_arguments(smi: Path, encoder_file: Path, tmp_path: Path,
                                      capsys) -> None:
    assert main(["encode", str(smi), "-o", str(tmp_path / "x.npy"), "-m", str(encoder_file),
                 "--errors", "raise", "-q"]) == 2
    assert "record 3 'C1CC': invalid SMILES" in capsys.readouterr().err
    assert main(["encode", str(smi), "-o", str(tmp_path / "x.h5"), "-m", str(encoder_file),
                 "-q"]) == 2
    assert "unknown output type '.h5'" in capsys.readouterr().err
    good = tmp_path / "good.smi"
    good.write_text("CCO\nCCS\n")
    assert main(["encode", str(good), "-o", str(tmp_path / "x.npy"), "-m", str(encoder_file),
                 "--errors", "raise", "-q"]) == 2
    assert "[1] 'CCS': unsupported element S" in capsys.readouterr().err


def test_csv_input_with_id_column(encoder_file: Path, encoder: MoleculeEncoder,
                                  tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("name,SMILES\na,CCO\nb,N#N\n")
    out = tmp_path / "out.parquet"
    assert main(["encode", str(source), "-o", str(out), "-m", str(encoder_file),
                 "--smiles-column", "SMILES", "--id-column", "name", "-q"]) == 0
    frame = pd.read_parquet(out)
    assert frame["id"].tolist() == ["a", "b"]
    assert not (tmp_path / "out_failures.csv").exists()
    np.testing.assert_allclose(frame.iloc[:, 2:].to_numpy(), encoder.encode(["CCO", "N#N"]),
                               rtol=1e-6, atol=1e-6)


def test_export_encoder(demo_run: Path, encoder: MoleculeEncoder, tmp_path: Path,
                        capsys) -> None:
    out = tmp_path / "exported.pt"
    assert main(["export-encoder", str(demo_run), "-o", str(out), "--name", "cli"]) == 0
    assert out.with_suffix(".md").read_text().startswith("# Model card: `cli`")
    loaded = MoleculeEncoder.load(out)
    assert loaded.name == "cli"
    np.testing.assert_array_equal(loaded.encode(GOOD), encoder.encode(GOOD))
    assert f"wrote {out}" in capsys.readouterr().out
    assert main(["export-encoder", str(tmp_path), "-o", str(out)]) == 2
    assert "has no checkpoint.pt" in capsys.readouterr().err
