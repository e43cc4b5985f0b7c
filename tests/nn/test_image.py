from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from toposci.nn import CNNEncoder, DeconvDecoder


def test_encoder_shapes() -> None:
    encoder = CNNEncoder()
    assert encoder.out_features == 128
    assert encoder(torch.randn(2, 1, 28, 28)).shape == (2, 128)
    assert encoder(torch.randn(1, 28, 28)).shape == (1, 128)  # one image
    small = CNNEncoder(3, 9, channels=(4, 8, 8), out_features=5)  # 9 -> 5 -> 3 -> 2
    assert small.head.in_features == 8 * 2 * 2
    assert small(torch.randn(4, 3, 9, 9)).shape == (4, 5)


def test_decoder_shapes() -> None:
    assert DeconvDecoder(6)(torch.randn(2, 6)).shape == (2, 1, 28, 28)
    decoder = DeconvDecoder(3, 8, 2, channels=(8, 4, 4))  # 1 -> 2 -> 4 -> 8
    assert decoder(torch.randn(5, 3)).shape == (5, 2, 8, 8)


def test_encoder_first_layer_is_a_stride_2_convolution() -> None:
    encoder = CNNEncoder(1, 8, channels=(3,), out_features=2)
    conv = encoder.convs[0]
    images = torch.randn(2, 1, 8, 8)
    features = F.silu(F.conv2d(images, conv.weight, conv.bias, stride=2, padding=1))  # (2, 3, 4, 4)
    expected = features.flatten(1) @ encoder.head.weight.T + encoder.head.bias
    torch.testing.assert_close(encoder(images), expected)


def test_gradcheck() -> None:
    encoder = CNNEncoder(1, 4, channels=(2,), out_features=3).double()
    images = torch.randn(2, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(encoder, (images,))
    decoder = DeconvDecoder(2, 4, channels=(2,)).double()
    z = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(decoder, (z,))


def test_decoder_can_overfit_an_image() -> None:
    image = torch.zeros(1, 1, 8, 8)
    image[0, 0, 2:6, 2] = image[0, 0, 2:6, 5] = image[0, 0, 2, 2:6] = image[0, 0, 5, 2:6] = 1.0
    decoder = DeconvDecoder(4, 8, channels=(16, 8))
    z = torch.randn(1, 4)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=1e-2)
    for _ in range(150):
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(decoder(z), image)
        loss.backward()
        optimizer.step()
    assert torch.equal((decoder(z) > 0).float(), image)


@pytest.mark.parametrize(("images", "match"), [
    (torch.randn(2, 3, 28, 28), r"\(B, 1, 28, 28\)"),
    (torch.randn(2, 1, 28, 27), r"\(B, 1, 28, 28\)"),
    (torch.randn(28, 28), "shape"),
    (torch.randn(2, 1, 1, 28, 28), "shape"),
    (torch.full((2, 1, 28, 28), math.nan), "NaN"),
    (torch.zeros(0, 1, 28, 28), "empty"),
])
def test_encoder_bad_input(images: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CNNEncoder()(images)


def test_decoder_bad_input() -> None:
    with pytest.raises(ValueError, match="divisible"):
        DeconvDecoder(4, 30)
    with pytest.raises(ValueError, match="channels"):
        DeconvDecoder(4, 28, channels=())
    decoder = DeconvDecoder(4)
    with pytest.raises(ValueError, match="shape"):
        decoder(torch.randn(2, 5))
    with pytest.raises(ValueError, match="inf"):
        decoder(torch.full((2, 4), -math.inf))
