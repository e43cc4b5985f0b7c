"""Model-card metadata read from the run, and the card rendered from the package template."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest
import yaml

from toposci.encoders import MoleculeEncoder
from toposci.encoders.card import card_from_run

QM9_SAMPLE = Path(__file__).resolve().parents[2] / "datasets" / "qm9" / "qm9_sample.csv"


def test_card_metadata_comes_from_the_run(encoder: MoleculeEncoder, demo_run: Path) -> None:
    card = encoder.card
    with (demo_run / "metrics.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert card["metrics"]["epochs"] == len(rows) == 2
    assert card["metrics"]["last_epoch"]["val_loss"] == pytest.approx(float(rows[-1]["val_loss"]))
    assert card["metrics"]["train_seconds"] == pytest.approx(sum(float(r["seconds"])
                                                                 for r in rows))
    assert card["recipe"] == yaml.safe_load((demo_run / "config.yaml").read_text())
    with QM9_SAMPLE.open(newline="") as f:
        n_train = sum(r["gdss_split"] == "train" for r in csv.DictReader(f))
    data = card["training_data"]
    assert data["n_train"] == n_train and data["source"] == "qm9_sample.csv"
    assert data["source_sha256"] == hashlib.sha256(QM9_SAMPLE.read_bytes()).hexdigest()
    report = json.loads((demo_run / "samples_report.json").read_text())
    assert card["sample_report"]["file"] == "samples_report.json"
    assert card["sample_report"]["valid_fraction"] == report["valid_fraction"]
    assert card["name"] == "demo"


def test_rendered_card(encoder_file: Path, encoder: MoleculeEncoder) -> None:
    text = encoder_file.with_suffix(".md").read_text()
    header = json.loads(encoder_file.read_bytes().split(b"\n")[1])
    assert text.startswith("# Model card: `demo`, a QM9 molecule encoder")
    assert header["payload_sha256"] in text
    assert f"one vector of {encoder.dim} numbers" in text
    assert f"| val_loss | {encoder.card['metrics']['last_epoch']['val_loss']:.6g} |" in text
    assert f"| valid fraction | {encoder.card['sample_report']['valid_fraction']:.4f} |" in text
    assert "molecules: 1802 (gdss_split == train)" in text
    assert "$" not in text  # every placeholder filled
    assert yaml.safe_load(text.split("```yaml\n")[1].split("```")[0]) == encoder.card["recipe"]


def test_explicit_sample_report_and_missing_metrics(demo_run: Path, tmp_path: Path) -> None:
    recipe = yaml.safe_load((demo_run / "config.yaml").read_text())
    report = tmp_path / "other_report.json"
    report.write_text(json.dumps({"n": 5, "temperature": 0.5, "correction": "valence",
                                  "valid_fraction": 0.4, "files": ["x"]}))
    card = card_from_run(demo_run, recipe, name="x", sample_report=report)
    assert card["sample_report"] == {"file": "other_report.json", "n": 5, "temperature": 0.5,
                                     "correction": "valence", "valid_fraction": 0.4}
    report.write_text("{}")
    with pytest.raises(ValueError, match=r"not a sampling report"):
        card_from_run(demo_run, recipe, name="x", sample_report=report)
    with pytest.raises(FileNotFoundError, match=r"has no metrics\.csv"):
        card_from_run(tmp_path, recipe, name="x")
