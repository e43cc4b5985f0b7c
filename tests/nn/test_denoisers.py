from __future__ import annotations

import math

import pytest
import torch

from toposci.nn.denoisers import (
    MLPDenoiser,
    SinusoidalTimeEmbedding,
    UNetDenoiser,
    make_denoiser,
)


def test_sinusoidal_embedding_by_hand() -> None:
    # dim 4, max_period 100: frequencies 100^0 = 1 and 100^(-1/2) = 0.1
    emb = SinusoidalTimeEmbedding(4, max_period=100.0)
    out = emb(torch.tensor([0, 2]))
    expected = torch.tensor([[0.0, 0.0, 1.0, 1.0],
                             [math.sin(2.0), math.sin(0.2), math.cos(2.0), math.cos(0.2)]])
    torch.testing.assert_close(out, expected)
    assert emb(torch.tensor([1.5], dtype=torch.float64)).dtype == torch.float64


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"dim": 3}, "even"),
    ({"dim": 0}, "dim"),
    ({"dim": 4, "max_period": 1.0}, "max_period"),
])
def test_sinusoidal_embedding_bad_options(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SinusoidalTimeEmbedding(**kwargs)


@pytest.mark.parametrize(("t", "match"), [
    (torch.zeros(2, 1), "shape"),
    (torch.tensor([1.0, -1.0]), ">= 0"),
    (torch.tensor([1.0, float("nan")]), "finite"),
    (torch.tensor([True, False]), "integer or real"),
])
def test_sinusoidal_embedding_bad_steps(t: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SinusoidalTimeEmbedding(4)(t)


def test_mlp_denoiser_shapes_and_step_dependence() -> None:
    net = MLPDenoiser(5, hidden=(16, 8), time_dim=8)
    assert net.sample_shape == (5,)
    x = torch.randn(3, 5)
    out = net(x, torch.tensor([0, 10, 20]))
    assert out.shape == (3, 5)
    # same input at another step gives another estimate
    other = net(x, torch.tensor([1, 11, 21]))
    assert not torch.allclose(out, other)
    # each sample is denoised on its own (nothing mixes across the batch)
    torch.testing.assert_close(net(x[1:2], torch.tensor([10])), out[1:2])


def test_unet_denoiser_shapes_and_batch_independence() -> None:
    net = UNetDenoiser(time_dim=16, channels=(8, 16))
    assert net.sample_shape == (1, 28, 28)
    x = torch.randn(2, 1, 28, 28)
    out = net(x, torch.tensor([3, 500]))
    assert out.shape == (2, 1, 28, 28)
    torch.testing.assert_close(net(x[1:], torch.tensor([500])), out[1:], atol=1e-5, rtol=1e-5)
    three = UNetDenoiser(2, 8, channels=(4, 8, 8), time_dim=8)  # 8 -> 4 -> 2 and back
    assert three(torch.randn(3, 2, 8, 8), torch.tensor([0, 1, 2])).shape == (3, 2, 8, 8)


def test_gradcheck() -> None:
    net = MLPDenoiser(3, hidden=(4,), time_dim=4).double()
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([1.0, 7.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(net, (x, t))
    unet = UNetDenoiser(1, 4, channels=(2, 4), time_dim=4).double()
    images = torch.randn(2, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: unet(v, torch.tensor([2, 9])), (images,))


def test_mlp_denoiser_fits_the_noise_of_one_step() -> None:
    """At a fixed step, eps = (x_t - a x_0) / b is a linear function of x_t for a fixed x_0;
    the network must be able to learn it."""
    torch.manual_seed(0)
    net = MLPDenoiser(2, hidden=(32, 32), time_dim=8)
    x0 = torch.tensor([[1.0, -1.0]])
    a, b = 0.8, 0.6
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(300):
        eps = torch.randn(64, 2)
        loss = (net(a * x0 + b * eps, torch.full((64,), 5)) - eps).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    eps = torch.randn(256, 2)
    with torch.no_grad():
        err = (net(a * x0 + b * eps, torch.full((256,), 5)) - eps).square().mean()
    assert float(err) < 0.02


def test_make_denoiser_picks_by_shape() -> None:
    assert isinstance(make_denoiser((5,), hidden=(8,), time_dim=4), MLPDenoiser)
    unet = make_denoiser((1, 8, 8), channels=(4, 8), time_dim=4)
    assert isinstance(unet, UNetDenoiser) and unet.sample_shape == (1, 8, 8)
    with pytest.raises(ValueError, match="flatten"):
        make_denoiser((4, 3))
    with pytest.raises(ValueError, match="flatten"):
        make_denoiser((1, 8, 6))


@pytest.mark.parametrize(("x", "t", "match"), [
    (torch.randn(2, 4), torch.tensor([0, 1]), r"\(B, 5\)"),
    (torch.randn(0, 5), torch.zeros(0), "empty"),
    (torch.full((2, 5), float("nan")), torch.tensor([0, 1]), "NaN"),
    (torch.randn(2, 5), torch.tensor([0, 1, 2]), r"shape \(2,\)"),
    (torch.randn(2, 5), torch.tensor([0, -3]), ">= 0"),
])
def test_mlp_denoiser_bad_input(x: torch.Tensor, t: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MLPDenoiser(5, hidden=(4,), time_dim=4)(x, t)


def test_unet_denoiser_bad_input_and_options() -> None:
    net = UNetDenoiser(1, 8, channels=(4, 8), time_dim=4)
    with pytest.raises(ValueError, match=r"\(B, 1, 8, 8\)"):
        net(torch.randn(2, 1, 6, 6), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="divisible"):
        UNetDenoiser(1, 6, channels=(4, 8, 8))
    with pytest.raises(ValueError, match="channels"):
        UNetDenoiser(1, 8, channels=())
    with pytest.raises(ValueError, match="hidden"):
        MLPDenoiser(3, hidden=())
