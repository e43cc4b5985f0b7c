from __future__ import annotations

import gzip
from collections import Counter

import pytest
import torch

from toposci.domains.images import (
    IDX_IMAGES,
    IDX_LABELS,
    image_to_graph,
    image_validity,
    load_mnist,
    read_idx,
)


@pytest.mark.parametrize(
    ("split", "prefix", "n"), [("train", "train", 1000), ("test", "t10k", 200)]
)
def test_shipped_mnist(shipped, split, prefix, n):
    images, labels = load_mnist(split=split)
    assert images.shape == (n, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (n,) and labels.dtype == torch.long
    assert images.min() >= 0 and images.max() <= 1
    raw_labels = gzip.decompress((shipped / "mnist" / f"{prefix}-labels-idx1-ubyte.gz")
                                 .read_bytes())
    assert Counter(labels.tolist()) == Counter(raw_labels[8:])  # bytes after the 8-byte header
    raw_images = gzip.decompress((shipped / "mnist" / f"{prefix}-images-idx3-ubyte.gz")
                                 .read_bytes())
    first = [b / 255 for b in raw_images[16 : 16 + 784]]  # image 0, row-major
    assert images[0, 0].flatten().tolist() == pytest.approx(first, abs=1e-7)


def test_explicit_root_and_bad_split(shipped):
    images, _ = load_mnist(shipped / "mnist", split="test")
    assert images.shape[0] == 200
    with pytest.raises(ValueError, match="split must be one of"):
        load_mnist(split="valid")


@pytest.mark.realdata
def test_full_mnist_pixel_mean(shared_data):
    images, labels = load_mnist(shared_data / "images" / "mnist", split="train")
    assert images.shape == (60000, 1, 28, 28)
    # SOURCE.md: train pixel mean/255 = 0.1307, label counts [5923, 6742, ...]
    assert abs(images.double().mean().item() - 0.1307) < 1e-4
    assert labels.bincount().tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265,
                                          5851, 5949]


def idx_bytes(magic: int, dims: tuple[int, ...], body: bytes) -> bytes:
    head = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    return head + body


def test_read_idx_plain_and_errors(tmp_path):
    good = tmp_path / "ok-idx3-ubyte"
    good.write_bytes(idx_bytes(IDX_IMAGES, (2, 2, 3), bytes(range(12))))
    arr = read_idx(good, magic=IDX_IMAGES)
    assert arr.shape == (2, 2, 3) and arr[1, 1, 2] == 11
    short = tmp_path / "short"
    short.write_bytes(idx_bytes(IDX_IMAGES, (10, 28, 28), bytes(784 * 3)))
    with pytest.raises(ValueError, match=r"short: truncated.*7840 bytes of data, found 2352"):
        read_idx(short, magic=IDX_IMAGES)
    long = tmp_path / "long"
    long.write_bytes(idx_bytes(IDX_LABELS, (2,), bytes(3)))
    with pytest.raises(ValueError, match="trailing bytes"):
        read_idx(long)
    with pytest.raises(ValueError, match="magic number 2049, expected 2051"):
        read_idx(long, magic=IDX_IMAGES)
    header = tmp_path / "header"
    header.write_bytes(idx_bytes(IDX_IMAGES, (2,), b""))  # ndim 3 but one size
    with pytest.raises(ValueError, match="truncated IDX header"):
        read_idx(header)


def test_truncated_shipped_files(shipped, tmp_path):
    raw = gzip.decompress((shipped / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes())
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw[:-100]))
    labels = (shipped / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(labels)
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz: truncated"):
        load_mnist(tmp_path, split="test")
    cut = (shipped / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes()
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(cut[: len(cut) // 2])
    with pytest.raises(ValueError, match="gzip"):
        load_mnist(tmp_path, split="test")
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(ValueError, match="not found"):
        load_mnist(tmp_path, split="test")


def test_grid_graph_edge_counts():
    image = torch.arange(12.0).reshape(3, 4) / 11
    g4 = image_to_graph(image, connectivity=4)
    # horizontal 3*3 + vertical 2*4 = 17 undirected edges, both directions
    assert g4.edge_index.shape == (2, 2 * (3 * 3 + 2 * 4)) == (2, 34)
    g8 = image_to_graph(image, connectivity=8)
    # plus 2 diagonals in each of the 2*3 unit squares = 12 undirected edges -> 24 directed
    assert g8.edge_index.shape == (2, 34 + 24) == (2, 58)
    assert torch.equal(g4.x[:, 0], image.flatten())
    assert g4.pos[5].tolist() == [1.0, 1.0]  # node r * W + c
    pairs4 = set(map(tuple, g4.edge_index.t().tolist()))
    assert {(5, 4), (5, 6), (5, 1), (5, 9)} <= pairs4 and (5, 0) not in pairs4
    pairs8 = set(map(tuple, g8.edge_index.t().tolist()))
    assert {(5, 0), (5, 2), (5, 8), (5, 10)} <= pairs8
    assert len(pairs8) == 58  # no duplicates
    degrees = torch.bincount(g8.edge_index[0], minlength=12)
    assert degrees[0] == 3 and degrees[5] == 8
    with pytest.raises(ValueError, match="connectivity must be 4 or 8"):
        image_to_graph(image, connectivity=6)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        image_to_graph(image.unsqueeze(0))


def test_image_validity_rules():
    digit = torch.zeros(28, 28)
    digit[10:18, 13:15] = 1.0
    assert image_validity(digit)
    assert image_validity(digit.unsqueeze(0))
    assert image_validity(torch.zeros(28, 28)).reason == "empty"
    assert image_validity(torch.full((28, 28), 0.3)).reason == "empty"
    over = digit.clone()
    over[0, 0] = 1.01
    assert image_validity(over).reason == "range"
    assert image_validity(digit - 0.1).reason == "range"
    nan = digit.clone()
    nan[3, 3] = float("nan")
    assert image_validity(nan).reason == "non_finite"
    with pytest.raises(ValueError, match="floating-point"):
        image_validity(torch.ones(4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="non-empty"):
        image_validity(torch.zeros(0, 28))
