"""The synthetic domain: splits, networks, validity and the Betti check of generated sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from toposci.domains.generative.synthetic import SyntheticData, SyntheticDomain


def test_load_split_and_shapes() -> None:
    domain = SyntheticDomain(SyntheticData(space="torus", n=500, val_fraction=0.2))
    data = domain.load()
    assert data.train.shape == (400, 3) and data.val.shape == (100, 3)
    assert data.info["known_betti"] == (1, 2, 1)
    batch = domain.collate(data.train, torch.tensor([3, 1]))
    assert torch.equal(batch, data.train[[3, 1]])
    enc = domain.make_encoder(domain.EncoderOptions())
    dec = domain.make_decoder(domain.DecoderOptions(), latent_dim=2)
    assert enc(batch).shape == (2, enc.out_features) and dec(torch.zeros(5, 2)).shape == (5, 3)
    assert torch.equal(domain.data_view(batch), batch)


@pytest.mark.parametrize(("space", "betti"), [("circle", (1, 1)), ("two_circles", (2, 2))])
def test_betti_check_finds_the_known_numbers_on_true_samples(space, betti) -> None:
    domain = SyntheticDomain(SyntheticData(space=space, n=600, noise=0.02))
    check = domain.betti_check(domain.load().train, n_points=300)
    assert check == {"found": betti, "known": betti}


def test_betti_check_sees_a_collapsed_circle() -> None:
    domain = SyntheticDomain(SyntheticData(space="circle"))
    segment = torch.stack([torch.linspace(-1, 1, 200), torch.zeros(200)], 1)  # an arc, no loop
    assert domain.betti_check(segment)["found"] == (1, 0)
    with pytest.raises(ValueError, match="finite"):
        domain.betti_check(torch.full((5, 2), float("nan")))


def test_generate_flags_non_finite_points_and_writes_npz(tmp_path: Path) -> None:
    domain = SyntheticDomain(SyntheticData(space="circle"))
    out = torch.tensor([[0.0, 1.0], [float("nan"), 0.0], [1.0, 0.0]])
    generated = domain.generate(out)
    assert [v.reason for v in generated.validity] == ["ok", "non_finite", "ok"]
    domain.write_samples(generated, tmp_path / "s.npz")
    saved = np.load(tmp_path / "s.npz")
    assert saved["points"].shape == (3, 2) and saved["valid"].tolist() == [True, False, True]


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="unknown space 'klein'"):
        SyntheticDomain(SyntheticData(space="klein")).load()
    with pytest.raises(ValueError, match="val_fraction"):
        SyntheticDomain(SyntheticData(val_fraction=1.5)).load()
    with pytest.raises(ValueError, match="SyntheticData"):
        SyntheticDomain({"space": "torus"})
