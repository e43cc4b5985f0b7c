"""The image domain: loading and filters, loss against the Bernoulli formula, views, validity,
files, the demo."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from toposci.domains.generative.images import (
    ImageData,
    ImageDecoder,
    ImageDomain,
    ImageEncoder,
    image_grid,
)

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def loaded():
    domain = ImageDomain(ImageData())
    return domain, domain.load()


def _labels(split: str) -> np.ndarray:
    """Shipped MNIST labels read straight from the IDX file (8-byte header)."""
    path = REPO / "datasets" / "mnist" / f"{split}-labels-idx1-ubyte.gz"
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read()[8:], dtype=np.uint8)


def _perfect_logits(images: torch.Tensor) -> torch.Tensor:
    p = images.clamp(1e-7, 1 - 1e-7).double()
    return torch.log(p / (1 - p)).float()


def test_load_shipped_sample(loaded) -> None:
    _, data = loaded
    assert data.train.shape == (1000, 1, 28, 28) and data.val.shape == (200, 1, 28, 28)
    assert float(data.train.min()) >= 0.0 and float(data.train.max()) <= 1.0
    assert data.info["train_digit_counts"] == np.bincount(_labels("train"), minlength=10).tolist()


def test_digit_filter_and_limits() -> None:
    data = ImageDomain(ImageData(digits=(0, 1))).load()
    labels = _labels("train")
    assert data.train.shape[0] == int(np.isin(labels, [0, 1]).sum())
    assert data.val.shape[0] == int(np.isin(_labels("t10k"), [0, 1]).sum())
    assert data.info["train_digit_counts"][2:] == [0] * 8
    small = ImageDomain(ImageData(limit=50, val_limit=10, seed=3)).load()
    again = ImageDomain(ImageData(limit=50, val_limit=10, seed=3)).load()
    assert small.train.shape[0] == 50 and small.val.shape[0] == 10
    assert torch.equal(small.train, again.train)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a folder"):
        ImageDomain(ImageData(path=str(tmp_path / "missing"))).load()
    with pytest.raises(ValueError, match="digits 0-9"):
        ImageDomain(ImageData(digits=(3, 11))).load()
    with pytest.raises(ValueError, match="at least 2"):
        ImageDomain(ImageData(limit=1)).load()


def test_collate_and_network_shapes(loaded) -> None:
    domain, data = loaded
    batch = domain.collate(data.train, torch.tensor([1, 4, 9]))
    assert batch.shape == (3, 1, 28, 28)
    encoder = domain.make_encoder(ImageEncoder(channels=(4, 8), out_features=10))
    assert encoder(batch).shape == (3, 10)
    decoder = domain.make_decoder(ImageDecoder(channels=(8, 4)), latent_dim=6)
    assert decoder(torch.zeros(3, 6)).shape == (3, 1, 28, 28)


def test_reconstruction_loss_is_the_bernoulli_likelihood(loaded) -> None:
    domain, data = loaded
    batch = data.train[:4]
    # logits 0: every pixel has probability 1/2, whatever its target: 784 log 2
    zero = domain.reconstruction_loss(torch.zeros_like(batch), batch)
    assert torch.allclose(zero, torch.full((4,), 784 * math.log(2.0)))
    logits = torch.randn(4, 1, 28, 28, dtype=torch.float64)
    x = batch.double()
    p = torch.sigmoid(logits)
    expected = -(x * p.log() + (1 - x) * (1 - p).log()).sum(dim=(1, 2, 3))
    assert torch.allclose(domain.reconstruction_loss(logits, x), expected, rtol=1e-10)
    with pytest.raises(ValueError, match="differ in shape"):
        domain.reconstruction_loss(torch.zeros(3, 1, 28, 28), batch)
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        domain.reconstruction_loss(torch.zeros(4, 28, 28), batch)


def test_reconstruction_loss_gradcheck() -> None:
    domain = ImageDomain(ImageData())
    g = torch.Generator().manual_seed(0)
    target = torch.rand(2, 1, 28, 28, generator=g, dtype=torch.float64)
    logits = torch.randn(2, 1, 28, 28, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: domain.reconstruction_loss(z, target), (logits,),
                                    fast_mode=True)


def test_views_agree_for_a_perfect_output(loaded) -> None:
    domain, data = loaded
    batch = data.val[:8]
    view = domain.data_view(batch)
    assert view.shape == (8, 784)
    assert (domain.output_view(_perfect_logits(batch)) - view).abs().max() < 1e-6


def test_generate_real_and_garbage(loaded) -> None:
    domain, data = loaded
    real = domain.generate(_perfect_logits(data.val))
    assert real.valid_fraction == 1.0 and real.items[0].shape == (28, 28)
    assert domain.generate(torch.full((3, 1, 28, 28), -10.0)).reasons() == {"empty": 3}
    assert domain.generate(torch.full((2, 1, 28, 28), math.nan)).reasons() == {"non_finite": 2}
    with pytest.raises(ValueError, match="unknown correction"):
        domain.generate(data.val[:2], correction="threshold")


def test_image_grid_by_hand() -> None:
    images = np.arange(1, 4, dtype=np.uint8).reshape(3, 1, 1).repeat(2, 1).repeat(2, 2)
    grid = image_grid(images, columns=2, padding=1)
    # two rows of two 2x2 tiles, 1-pixel borders: (2 * 3 + 1, 2 * 3 + 1)
    assert grid.shape == (7, 7)
    assert grid[1:3, 1:3].tolist() == [[1, 1], [1, 1]] and grid[1:3, 4:6].min() == 2
    assert grid[4:6, 1:3].min() == 3 and grid[4:6, 4:6].max() == 0 and grid[0].max() == 0


def test_write_samples_round_trip(loaded, tmp_path: Path) -> None:
    domain, data = loaded
    logits = torch.cat([_perfect_logits(data.val[:2]), torch.full((1, 1, 28, 28), -10.0)])
    generated = domain.generate(logits)
    files = domain.write_samples(generated, tmp_path / "img" / "samples.npz")
    assert [f.name for f in files] == ["samples.npz", "samples_grid.png"]
    saved = np.load(files[0])
    assert saved["images"].dtype == np.uint8 and saved["images"].shape == (3, 28, 28)
    expected = (data.val[:2, 0] * 255).round().numpy()
    assert np.abs(saved["images"][:2].astype(int) - expected).max() <= 1
    assert saved["images"][2].max() == 0  # sigmoid(-10) * 255 rounds to 0
    assert saved["valid"].tolist() == [True, True, False]
    assert saved["reason"].tolist() == ["ok", "ok", "empty"]
    png = imread(files[1])
    assert png.shape[:2] == (1 * 30 + 2, 3 * 30 + 2)  # one row of three 28-pixel tiles
