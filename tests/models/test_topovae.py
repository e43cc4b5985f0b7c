"""TopoVAE: the loss is exactly rec + beta KL + gamma topo; baselines are the same code."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from toposci.domains.synthetic import sample_circle
from toposci.models.topovae import TensorIO, TopoVAE
from toposci.nn.mlp import MLP
from toposci.topology.losses import TopoRegularizer


def _model(**kwargs) -> TopoVAE:
    torch.manual_seed(0)
    return TopoVAE(MLP(2, [16], 8), MLP(2, [16], 2), latent_dim=2, **kwargs)


def test_kl_of_a_known_posterior_is_the_closed_form() -> None:
    model = _model()
    with torch.no_grad():  # posterior mean 1, log-variance log 4 for every input
        for head, value in ((model.to_mean, 1.0), (model.to_logvar, math.log(4.0))):
            head.weight.zero_()
            head.bias.fill_(value)
    terms = model(sample_circle(10))
    # KL(N(1, 4) || N(0, 1)) per dimension = (1 + 4 - 1 - log 4) / 2
    assert float(terms.kl.detach()) == pytest.approx(2 * 0.5 * (4.0 - math.log(4.0)), rel=1e-6)


def test_loss_is_reconstruction_plus_beta_kl_plus_gamma_topo() -> None:
    reg = TopoRegularizer(mode="latent", homology_weights={0: 1.0})
    x = sample_circle(32, noise=0.05)
    model = _model(regularizer=reg, beta=0.5, gamma=2.0)
    torch.manual_seed(1)
    terms = model(x)
    assert float(terms.topo.detach()) > 0
    expected = terms.reconstruction + 0.5 * terms.kl + 2.0 * terms.topo
    assert float(terms.loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    # the topological term is the regularizer on (data, posterior mean)
    mean = model.posterior(x)[0]
    assert float(terms.topo.detach()) == pytest.approx(float(reg(x, latent=mean).detach()),
                                                       rel=1e-6)


def test_gamma_zero_is_the_plain_vae_and_skips_the_term() -> None:
    x = sample_circle(16)
    plain = _model()
    with_reg = _model(regularizer=TopoRegularizer(mode="latent"), gamma=0.0)
    torch.manual_seed(3)
    a = plain(x)
    torch.manual_seed(3)
    b = with_reg(x)
    assert float(a.topo.detach()) == 0.0 and float(b.topo.detach()) == 0.0
    assert float(a.loss.detach()) == pytest.approx(float(b.loss.detach()))


def test_reconstruction_mode_compares_output_views() -> None:
    reg = TopoRegularizer(mode="reconstruction", homology_weights={0: 1.0, 1: 1.0},
                          resolution=20)
    x = sample_circle(24, noise=0.02)
    model = _model(regularizer=reg, gamma=1.0)
    terms = model(x)
    assert torch.isfinite(terms.topo) and float(terms.topo.detach()) >= 0
    terms.loss.backward()
    assert model.decoder.layers[0].weight.grad is not None


def test_tensor_io_squared_error() -> None:
    io = TensorIO()
    out = io.reconstruction_loss(torch.ones(2, 3), torch.zeros(2, 3))
    assert out.tolist() == [3.0, 3.0]
    with pytest.raises(ValueError, match="differ in shape"):
        io.reconstruction_loss(torch.ones(2, 3), torch.zeros(2, 4))


def test_sample_decode_reconstruct_shapes_and_temperature() -> None:
    model = _model().eval()
    g = torch.Generator().manual_seed(0)
    assert model.sample(5, generator=g).shape == (5, 2)
    assert model.encode(sample_circle(7)).shape == (7, 2)
    assert model.reconstruct(sample_circle(7)).shape == (7, 2)
    a = model.decoder(torch.zeros(1, 2))
    # temperature -> 0 concentrates samples at the decoding of the prior mean
    near = model.sample(4, temperature=1e-6)
    assert torch.allclose(near, a.expand(4, 2), atol=1e-4)
    with pytest.raises(ValueError, match="temperature"):
        model.sample(3, temperature=0.0)
    with pytest.raises(ValueError, match="shape"):
        model.decode(torch.zeros(3, 5))


def test_bad_construction() -> None:
    with pytest.raises(ValueError, match="needs a regularizer"):
        _model(gamma=1.0)
    with pytest.raises(ValueError, match="beta"):
        _model(beta=-1.0)
    with pytest.raises(ValueError, match="out_features"):
        TopoVAE(nn.Identity(), nn.Identity(), latent_dim=2)


def test_beta_vae_learns_to_reconstruct_a_circle() -> None:
    x = sample_circle(128, noise=0.05)
    model = _model(beta=0.01)  # a beta-VAE: at beta = 1 the unit circle's posterior collapses
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = float((model.reconstruct(x) - x).square().sum(1).mean())
    for _ in range(300):
        loss = model(x).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = float((model.reconstruct(x) - x).square().sum(1).mean())
    assert after < 0.2 * before
