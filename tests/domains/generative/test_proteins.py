"""The protein domain: fragments, split by structure, loss by hand, validity, files, the demo."""

from __future__ import annotations

import math
from pathlib import Path

import gemmi
import numpy as np
import pytest
import torch

from toposci.domains.generative.proteins import (
    ProteinData,
    ProteinDecoder,
    ProteinDomain,
    ProteinEncoder,
    cut_fragments,
)

REPO = Path(__file__).resolve().parents[3]

# Shipped structures (residues; segments between chain breaks): 154l 185, 1BXY_A 60, 1CTF_A 68,
# 1GUU_A 50, 1PTF_A 87, 1c5e 3 x 95, 2rn2 155, d1itha_ 141. Windows of 32 every 8 residues per
# segment, (n - 32) // 8 + 1: 20 + 4 + 5 + 3 + 7 + 3 * 8 + 16 + 14 = 93.
SHIPPED_WINDOWS = 93
SHIPPED_NAMES = {"154l", "1BXY_A", "1CTF_A", "1GUU_A", "1PTF_A", "1c5e", "2rn2", "d1itha_"}


@pytest.fixture(scope="module")
def loaded():
    domain = ProteinDomain(ProteinData())
    return domain, domain.load()


def _line(n: int, step: float = 0.38) -> torch.Tensor:
    """``n`` points on the x axis, ``step`` apart (scaled units: 0.38 = 3.8 Å)."""
    return torch.stack([torch.arange(n) * step, torch.zeros(n), torch.zeros(n)], dim=1)


def test_cut_fragments_by_hand() -> None:
    pos = _line(10, 1.0)
    frags = cut_fragments(pos, torch.tensor([6]), 3, 2)
    # segment 0..5: starts 0, 2 (4 would end at 6, past the break); segment 6..9: start 6
    assert frags[:, :, 0].tolist() == [[0, 1, 2], [2, 3, 4], [6, 7, 8]]
    assert cut_fragments(pos, torch.tensor([6]), 7, 1).shape == (0, 7, 3)


def test_load_shipped_sample(loaded) -> None:
    _, data = loaded
    info = data.info
    assert data.train.shape[1:] == (32, 3) and data.val.shape[1:] == (32, 3)
    assert info["n_train"] + info["n_val"] + info["dropped_invalid"] == SHIPPED_WINDOWS
    train_names, val_names = set(info["train_structures"]), set(info["val_structures"])
    assert not train_names & val_names
    assert train_names | val_names == SHIPPED_NAMES
    assert len(val_names) == round(0.2 * 8)
    # centred, in units of 10 Å, and every step a trans peptide (valid_only)
    assert data.train.mean(dim=1).abs().max() < 1e-5
    steps = (data.train[:, 1:] - data.train[:, :-1]).norm(dim=2) * 10.0
    assert float((steps - 3.8).abs().max()) <= 0.3 + 1e-5


def test_load_options() -> None:
    every = ProteinDomain(ProteinData(valid_only=False)).load()
    assert every.info["n_train"] + every.info["n_val"] == SHIPPED_WINDOWS
    assert every.info["dropped_invalid"] == 0
    other = ProteinDomain(ProteinData(seed=1, valid_only=False)).load()
    assert set(other.info["val_structures"]) != set(every.info["val_structures"])
    small = ProteinDomain(ProteinData(limit=5)).load()
    assert small.train.shape[0] == 5


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a folder"):
        ProteinDomain(ProteinData(path=str(tmp_path / "missing"))).load()
    with pytest.raises(ValueError, match=r"lower data\.fragment_length"):
        ProteinDomain(ProteinData(fragment_length=200)).load()
    with pytest.raises(ValueError, match="val_fraction"):
        ProteinDomain(ProteinData(val_fraction=1.0)).load()
    with pytest.raises(ValueError, match="ProteinData"):
        ProteinDomain(ProteinEncoder())


def test_collate_and_network_shapes(loaded) -> None:
    domain, data = loaded
    batch = domain.collate(data.train, torch.tensor([0, 3, 5, 7]))
    assert batch.shape == (4, 32, 3)
    for kind in ("dgcnn", "pointnet"):
        encoder = domain.make_encoder(ProteinEncoder(kind=kind, out_features=24))
        assert encoder(batch).shape == (4, 24) and encoder.out_features == 24
    decoder = domain.make_decoder(ProteinDecoder(hidden=(16,)), latent_dim=5)
    assert decoder(torch.zeros(4, 5)).shape == (4, 32, 3)
    with pytest.raises(ValueError, match="dgcnn, pointnet"):
        domain.make_encoder(ProteinEncoder(kind="transformer"))


def test_reconstruction_loss_by_hand() -> None:
    domain = ProteinDomain(ProteinData(fragment_length=3))
    target = _line(3).unsqueeze(0)  # (1, 3, 3)
    assert float(domain.reconstruction_loss(target.clone(), target)) == 0.0
    # shift by 1 Å in y: each point's nearest target is its own, 0.1^2 both ways; no bond change
    # loss = L * scale^2 / (4 sigma^2) * chamfer = 3 * 100 / 4 * 0.02 = 1.5 = sum |x - y|^2 / 2
    shifted = target + torch.tensor([0.0, 0.1, 0.0])
    assert float(domain.reconstruction_loss(shifted, target)) == pytest.approx(1.5, rel=1e-5)
    # third point 1 Å further along x: chamfer 0.01/3 both ways, steps (0.38, 0.48) vs
    # (0.38, 0.38): bond = 0.01 / 2; loss = 75 * (0.02 / 3 + 0.005) = 0.875
    stretched = target.clone()
    stretched[0, 2, 0] += 0.1
    assert float(domain.reconstruction_loss(stretched, target)) == pytest.approx(0.875, rel=1e-5)
    weighted = ProteinDomain(ProteinData(fragment_length=3, bond_weight=3.0, sigma=2.0))
    expected = 3 * 100 / (4 * 4.0) * (0.02 / 3 + 3.0 * 0.005)
    assert float(weighted.reconstruction_loss(stretched, target)) == pytest.approx(expected,
                                                                                  rel=1e-5)
    collapsed = torch.zeros(1, 3, 3, requires_grad=True)  # coincident points: finite gradient
    domain.reconstruction_loss(collapsed, target).sum().backward()
    assert torch.isfinite(collapsed.grad).all()
    with pytest.raises(ValueError, match=r"\(B, 3, 3\)"):
        domain.reconstruction_loss(torch.zeros(1, 4, 3), target)


def test_reconstruction_loss_gradcheck() -> None:
    domain = ProteinDomain(ProteinData(fragment_length=4))
    g = torch.Generator().manual_seed(0)
    target = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
    output = torch.randn(2, 4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: domain.reconstruction_loss(x, target), (output,))


def test_views_agree_for_a_perfect_output(loaded) -> None:
    domain, data = loaded
    batch = domain.collate(data.val, torch.arange(4))
    assert domain.data_view(batch).shape == (4, 96)
    assert torch.equal(domain.output_view(batch.clone()), domain.data_view(batch))


def test_generate_real_and_garbage(loaded) -> None:
    domain, data = loaded
    real = domain.generate(data.val)
    assert real.valid_fraction == 1.0
    assert torch.allclose(real.items[0], data.val[0] * 10.0)
    garbage = domain.generate(torch.zeros(3, 32, 3))
    assert garbage.reasons() == {"ca_spacing": 3}
    assert domain.generate(torch.full((2, 32, 3), math.nan)).reasons() == {"non_finite": 2}
    # 3.8 Å steps folded back on themselves: residues 0 and 2 coincide
    small = ProteinDomain(ProteinData(fragment_length=3))
    folded = torch.tensor([[[0.0, 0.0, 0.0], [0.38, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    assert small.generate(folded).reasons() == {"clash": 1}
    with pytest.raises(ValueError, match="unknown correction"):
        domain.generate(data.val, correction="valence")


def test_write_samples_round_trip(loaded, tmp_path: Path) -> None:
    domain, data = loaded
    output = torch.cat([data.val[:3], torch.zeros(1, 32, 3)])  # 3 valid, 1 invalid
    generated = domain.generate(output)
    files = domain.write_samples(generated, tmp_path / "out" / "samples.npz")
    assert [f.name for f in files] == ["samples.npz", "samples.pdb"]
    saved = np.load(files[0])
    np.testing.assert_allclose(saved["coords"], (output * 10.0).numpy(), atol=1e-5)
    assert saved["valid"].tolist() == [True, True, True, False]
    assert saved["reason"].tolist() == ["ok", "ok", "ok", "ca_spacing"]
    assert saved["pdb_model"].tolist() == [1, 2, 3, 0]
    structure = gemmi.read_structure(str(files[1]))
    assert len(structure) == 3
    for m, model in enumerate(structure):
        atoms = [a for chain in model for res in chain for a in res]
        assert len(atoms) == 32 and all(a.name == "CA" for a in atoms)
        xyz = np.array([[a.pos.x, a.pos.y, a.pos.z] for a in atoms])
        np.testing.assert_allclose(xyz, saved["coords"][m], atol=1e-3)
    none_valid = domain.write_samples(domain.generate(torch.zeros(2, 32, 3)),
                                      tmp_path / "bad.npz")
    assert [f.name for f in none_valid] == ["bad.npz"]


def test_clash_term_by_hand() -> None:
    from toposci.domains.generative.proteins import _clashes

    straight = torch.zeros(1, 5, 3)
    straight[0, :, 0] = torch.arange(5) * 3.8  # i, i+2 are 7.6 apart: no clash
    assert float(_clashes(straight, 3.0)[0]) == 0.0
    bent = straight.clone()
    bent[0, 2] = torch.tensor([0.0, 2.0, 0.0])  # 2 A from residue 0 (|i - j| = 2)
    d04 = float((bent[0, 4] - bent[0, 2]).norm())  # residue 4 stays far away
    assert d04 > 3.0
    assert float(_clashes(bent, 3.0)[0]) == pytest.approx((3.0 - 2.0) ** 2)
