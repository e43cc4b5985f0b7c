"""Latent diffusion over a tiny TopoVAE trained on circle points (plain tensors, TensorIO)."""

from __future__ import annotations

import pytest
import torch

from toposci.domains.synthetic import sample_circle
from toposci.models.latent_diffusion import (
    LatentCodes,
    LatentIO,
    build_latent_diffusion,
    encode_dataset,
)
from toposci.models.topovae import TensorIO, TopoVAE
from toposci.nn.mlp import MLP
from toposci.topology.losses import TopoRegularizer


@pytest.fixture(scope="module")
def trained() -> tuple[TopoVAE, torch.Tensor]:
    """A β-VAE with a 2-D latent fitted to 256 circle points (300 steps, one thread)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = sample_circle(256, noise=0.02, seed=1)
    vae = TopoVAE(MLP(2, [32], 16), MLP(2, [32, 32], 2), latent_dim=2, beta=0.01)
    opt = torch.optim.Adam(vae.parameters(), lr=1e-2)
    for _ in range(300):
        loss = vae(data).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.set_num_threads(threads)
    return vae.eval(), data


def test_encode_dataset_gives_posterior_means_and_views(trained) -> None:
    vae, data = trained
    codes = encode_dataset(vae, data.split(100), io=TensorIO())
    assert len(codes) == 256 and codes.codes.shape == (256, 2)
    torch.testing.assert_close(codes.codes, vae.to_mean(vae.encoder(data)).detach())
    torch.testing.assert_close(codes.views, data)
    assert encode_dataset(vae, [data]).views is None
    sub = codes[torch.tensor([3, 5])]
    torch.testing.assert_close(sub.codes, codes.codes[[3, 5]])
    assert codes[4].codes.shape == (1, 2)
    with pytest.raises(ValueError, match="no batches"):
        encode_dataset(vae, [])


def test_latent_io_standardises_and_decodes(trained) -> None:
    vae, data = trained
    codes = encode_dataset(vae, [data], io=TensorIO())
    model = build_latent_diffusion(vae, codes, io=TensorIO(), timesteps=20, hidden=(16,),
                                   time_dim=8)
    x0 = model.io.to_tensor(codes)  # (N, d): mean 0 per dimension, std 1 over all entries
    torch.testing.assert_close(x0.mean(dim=0), torch.zeros(2), atol=1e-5, rtol=0)
    assert float(x0.std()) == pytest.approx(1.0, rel=1e-5)
    z = codes.codes[:5]
    torch.testing.assert_close(model.io.from_tensor(model.io.to_tensor(codes[:5])),
                               vae.decoder(z), atol=1e-5, rtol=1e-5)


def test_latent_diffusion_trains_without_touching_the_vae(trained) -> None:
    vae, data = trained
    codes = encode_dataset(vae, [data], io=TensorIO())
    before = {k: v.clone() for k, v in vae.state_dict().items()}
    reg = TopoRegularizer(mode="reconstruction", homology_weights={0: 1.0, 1: 1.0},
                          resolution=20)
    torch.manual_seed(0)
    model = build_latent_diffusion(vae, codes, io=TensorIO(), regularizer=reg, gamma=0.1,
                                   timesteps=50, topo_batch=32, hidden=(64, 64), time_dim=16)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    model.train()
    assert not model.io.vae.training  # the VAE stays in eval mode
    mse = []
    for _ in range(300):
        terms = model(codes[torch.randint(0, 256, (64,), generator=g)])
        assert float(terms.topo.detach()) > 0
        opt.zero_grad()
        terms.loss.backward()
        opt.step()
        mse.append(float(terms.reconstruction.detach()))
    assert sum(mse[-10:]) < 0.8 * sum(mse[:10])
    for key, value in vae.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert not any(p.requires_grad for p in model.io.vae.parameters())
    assert any(k.startswith("io.vae.") for k in model.state_dict())  # saved with the model
    # samples are the decoder's output of the denoised, de-standardised codes
    model.eval()
    out = model.sample(200, generator=torch.Generator().manual_seed(2))
    x_T = torch.randn(200, 2, generator=torch.Generator().manual_seed(2))
    z = model.denoise(x_T) * model.io.scale + model.io.shift
    torch.testing.assert_close(out, vae.decoder(z))
    radius = out.norm(dim=1)  # near the unit circle (untrained: radius ~ 160)
    assert float(radius.median()) == pytest.approx(1.0, abs=0.2)


def test_bad_inputs(trained) -> None:
    vae, data = trained
    codes = encode_dataset(vae, [data])
    with pytest.raises(ValueError, match="io="):
        build_latent_diffusion(vae, codes, gamma=1.0,
                               regularizer=TopoRegularizer(mode="reconstruction"))
    with pytest.raises(ValueError, match="width 2"):
        build_latent_diffusion(vae, LatentCodes(torch.zeros(5, 3)))
    with pytest.raises(ValueError, match="spread"):
        build_latent_diffusion(vae, LatentCodes(torch.ones(5, 2)))
    with pytest.raises(ValueError, match=r"\(N, F\)"):
        LatentCodes(torch.zeros(4, 2), torch.zeros(3, 5))
    io = LatentIO(vae)
    with pytest.raises(ValueError, match="LatentCodes"):
        io.to_tensor(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="views"):
        io.data_view(codes)
    with pytest.raises(ValueError, match="shift"):
        LatentIO(vae, shift=torch.zeros(3))
