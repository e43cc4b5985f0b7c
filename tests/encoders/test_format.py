"""The encoder file: every changed byte is caught, versions and featurizers are checked."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from toposci.encoders import MoleculeEncoder
from toposci.encoders.format import MAGIC, read_encoder_file, write_encoder_file


def _parts(path: Path) -> tuple[bytes, dict, bytes]:
    raw = path.read_bytes()
    line, _, payload = raw[len(MAGIC):].partition(b"\n")
    return line, json.loads(line), payload


def test_layout_magic_header_and_payload_hash(encoder_file: Path) -> None:
    raw = encoder_file.read_bytes()
    assert raw.startswith(b"TOPOSCI-ENCODER\n")
    _, header, payload = _parts(encoder_file)
    assert header == {"format": "toposci-molecule-encoder", "format_version": 1,
                      "payload_sha256": hashlib.sha256(payload).hexdigest()}
    state = torch.load(io.BytesIO(payload), weights_only=True)["state_dict"]
    assert all(k.startswith(("encoder.", "to_mean.")) for k in state)  # no decoder, no logvar
    assert {"to_mean.weight", "to_mean.bias"} <= set(state)
    assert encoder_file.stat().st_size < 1_000_000


def test_every_changed_byte_is_caught(encoder_file: Path, tmp_path: Path) -> None:
    raw = encoder_file.read_bytes()
    header_end = raw.index(b"\n", len(MAGIC)) + 1
    rng = np.random.default_rng(0)
    positions = [*range(header_end + 1), *rng.choice(np.arange(header_end, len(raw)), 150,
                                                     replace=False).tolist(), len(raw) - 1]
    bad = tmp_path / "bad.pt"
    for i in positions:
        changed = bytearray(raw)
        changed[i] ^= 0x01
        bad.write_bytes(bytes(changed))
        with pytest.raises(ValueError):
            MoleculeEncoder.load(bad)
    with pytest.raises(ValueError, match=r"failed its integrity check: the payload's sha256"):
        changed = bytearray(raw)
        changed[len(raw) // 2] ^= 0xFF
        bad.write_bytes(bytes(changed))
        MoleculeEncoder.load(bad)
    bad.write_bytes(raw[:-100])  # truncated
    with pytest.raises(ValueError, match=r"integrity check"):
        MoleculeEncoder.load(bad)


def test_other_format_version_is_refused(encoder_file: Path, tmp_path: Path) -> None:
    _, header, payload = _parts(encoder_file)
    newer = tmp_path / "newer.pt"
    line = json.dumps({**header, "format_version": 2}, separators=(",", ":")).encode()
    newer.write_bytes(MAGIC + line + b"\n" + payload)
    with pytest.raises(ValueError, match=r"encoder format version 2; this toposci reads "
                                         r"version 1\. Re-export"):
        MoleculeEncoder.load(newer)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("featurizer", "molecules-graph-0/molecules-dense-1",
     r"featurization featurizer = 'molecules-graph-0/molecules-dense-1', but this toposci's is"),
    ("atom_types", ["C", "N", "O", "F", "S"], r"atom_types = \['C', 'N', 'O', 'F', 'S'\]"),
    ("max_atoms", 12, r"max_atoms 12 differs from the recipe's 9"),
])
def test_payload_made_for_another_featurization_is_refused(encoder_file: Path, tmp_path: Path,
                                                           key, value, message) -> None:
    payload = read_encoder_file(encoder_file)
    path = tmp_path / "other.pt"
    write_encoder_file({**payload, key: value}, path)
    with pytest.raises(ValueError, match=message):
        MoleculeEncoder.load(path)


def test_weights_that_do_not_fit_the_recipe(encoder_file: Path, tmp_path: Path) -> None:
    payload = read_encoder_file(encoder_file)
    recipe = payload["recipe"]
    wider = {**recipe, "model": {**recipe["model"], "latent_dim": recipe["model"]["latent_dim"]
                                 + 1}}
    path = tmp_path / "wider.pt"
    write_encoder_file({**payload, "recipe": wider}, path)
    with pytest.raises(ValueError, match=r"the weights do not fit the network its recipe "
                                         r"describes"):
        MoleculeEncoder.load(path)
    typo = {**recipe, "data": {**recipe["data"], "max_atom": 9}}
    write_encoder_file({**payload, "recipe": typo}, path)
    with pytest.raises(ValueError, match=r"unknown key .*data\.max_atom"):
        MoleculeEncoder.load(path)


def test_not_an_encoder_file(demo_run: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"not a toposci encoder file .*torch checkpoint: "
                                         r"export a training run"):
        MoleculeEncoder.load(demo_run / "checkpoint.pt")
    text = tmp_path / "notes.pt"
    text.write_text("hello\n")
    with pytest.raises(ValueError, match=r"not a toposci encoder file"):
        MoleculeEncoder.load(text)
    with pytest.raises(FileNotFoundError, match=r"no such encoder file"):
        read_encoder_file(tmp_path / "missing.pt")


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    digest = write_encoder_file({"x": torch.arange(3)}, tmp_path / "sub" / "f.pt")
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["f.pt"]
    assert digest == _parts(tmp_path / "sub" / "f.pt")[1]["payload_sha256"]
    assert read_encoder_file(tmp_path / "sub" / "f.pt")["x"].tolist() == [0, 1, 2]
