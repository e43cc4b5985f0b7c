"""TopoDiffusionLite: loss terms, samplers checked against exact denoisers, a trained circle toy."""

from __future__ import annotations

import math

import gudhi
import numpy as np
import pytest
import torch
from torch import Tensor, nn

from toposci.domains.synthetic import sample_circle
from toposci.models.diffusion import TopoDiffusionLite, build_diffusion, ddim_steps
from toposci.nn.denoisers import MLPDenoiser, UNetDenoiser
from toposci.testing import dominant_bars
from toposci.topology.losses import TopoRegularizer


def _abar(schedule: str, T: int) -> Tensor:
    """abar_t worked out here, independently of the package: Ho et al.'s linear betas scaled by
    1000 / T, or Nichol & Dhariwal's cosine abar(t) = f(t) / f(0) with capped betas."""
    if schedule == "linear":
        betas = np.linspace(1e-4 * 1000 / T, 0.02 * 1000 / T, T)
    else:
        f = [math.cos((u / T + 0.008) / 1.008 * math.pi / 2) ** 2 for u in range(T + 1)]
        betas = np.minimum([1 - f[k + 1] / f[k] for k in range(T)], 0.999)
    return torch.from_numpy(np.cumprod(1 - betas))


class GaussianOracle(nn.Module):
    """The exact noise predictor E[eps | x_t] for data N(m, s^2) in one dimension:
    sqrt(1 - a) (x_t - sqrt(a) m) / (a s^2 + 1 - a), a = abar_t (s = 0: a point mass at m)."""

    sample_shape = (1,)

    def __init__(self, abar: Tensor, m: float, s: float) -> None:
        super().__init__()
        self.abar, self.m, self.s = abar, m, s

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        a = self.abar[t].unsqueeze(1).to(x)  # (B, 1)
        return (1 - a).sqrt() * (x - a.sqrt() * self.m) / (a * self.s**2 + 1 - a)


class Recorder(nn.Module):
    """Predicts zero noise and keeps every (x_t, t) it was called with."""

    def __init__(self, D: int) -> None:
        super().__init__()
        self.sample_shape = (D,)
        self.scale = nn.Parameter(torch.zeros(()))
        self.calls: list[tuple[Tensor, Tensor]] = []

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        self.calls.append((x.detach().clone(), t.clone()))
        return self.scale * x


def _model(**kwargs) -> TopoDiffusionLite:
    torch.manual_seed(0)
    return TopoDiffusionLite(MLPDenoiser(2, hidden=(16, 16), time_dim=8), timesteps=20, **kwargs)


def test_ddim_steps() -> None:
    assert ddim_steps(10, 4).tolist() == [7, 5, 2, 0]  # floor(3 * 10 / 4), floor(2 * 10 / 4) ...
    assert ddim_steps(5, 5).tolist() == [4, 3, 2, 1, 0]  # all steps: the full chain
    assert ddim_steps(1000, 50).tolist() == list(range(980, -1, -20))  # Song et al.'s skip of 20
    assert ddim_steps(1, 1).tolist() == [0]
    for T, S in ((100, 33), (17, 16), (1000, 3)):
        steps = ddim_steps(T, S)
        assert len(steps) == S and steps[0] == (S - 1) * T // S and steps[-1] == 0
        assert bool((steps[:-1] > steps[1:]).all())
    for T, S in ((10, 11), (7, 1), (10, 0)):
        with pytest.raises(ValueError, match="steps"):
            ddim_steps(T, S)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_samplers_land_on_a_point_mass(sampler: str) -> None:
    """With the exact noise predictor of data concentrated at c, every sampler returns c."""
    model = TopoDiffusionLite(nn.Identity(), sample_shape=(1,), schedule="cosine", timesteps=100)
    model.denoiser = GaussianOracle(_abar("cosine", 100), 0.7, 0.0)
    x_T = torch.randn(50, 1, dtype=torch.float64)
    x = model.denoise(x_T, sampler=sampler, steps=5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(x, torch.full_like(x, 0.7), atol=1e-9, rtol=0)


@pytest.mark.parametrize(("sampler", "steps"), [("ddpm", None), ("ddim", 1000)])
def test_samplers_reproduce_gaussian_data(sampler: str, steps: int | None) -> None:
    """Ancestral and (all-step) DDIM sampling with the exact score of N(0.5, 0.3^2) give samples
    with that mean and spread (4000 samples: standard errors 0.005 and 0.0034)."""
    model = TopoDiffusionLite(nn.Identity(), sample_shape=(1,), schedule="linear", timesteps=1000)
    model.denoiser = GaussianOracle(_abar("linear", 1000), 0.5, 0.3)
    x = model.sample(4000, sampler=sampler, steps=steps,
                     generator=torch.Generator().manual_seed(0)).double()
    assert x.shape == (4000, 1)
    assert float(x.mean()) == pytest.approx(0.5, abs=0.02)
    assert float(x.std()) == pytest.approx(0.3, abs=0.015)


def test_ddim_with_eta_one_on_every_step_is_the_ancestral_sampler() -> None:
    """Song et al.: sigma^2 = eta^2 (1 - abar_prev) / (1 - abar_t) beta_t is Ho et al.'s
    posterior variance at eta = 1, and the mean is then the posterior mean."""
    model = _model().eval()
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a = model.sample(64, sampler="ddpm", generator=g1)
    b = model.sample(64, sampler="ddim", steps=20, eta=1.0, generator=g2)
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_ddim_is_deterministic_under_a_fixed_seed() -> None:
    model = _model().eval()
    first = model.sample(32, steps=7, generator=torch.Generator().manual_seed(3))
    again = model.sample(32, steps=7, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first, again)
    other = model.sample(32, steps=7, generator=torch.Generator().manual_seed(4))
    assert not torch.allclose(first, other)
    # eta = 0: the whole trajectory is a function of the starting noise
    x_T = torch.randn(32, 2)
    a = model.denoise(x_T, steps=7, generator=torch.Generator().manual_seed(0))
    b = model.denoise(x_T, steps=7, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    # while the ancestral sampler draws fresh noise
    c = model.denoise(x_T, sampler="ddpm", generator=torch.Generator().manual_seed(0))
    d = model.denoise(x_T, sampler="ddpm", generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(c, d)


def test_noise_prediction_loss_by_hand() -> None:
    model = _model()
    x = sample_circle(16)
    torch.manual_seed(7)
    terms = model(x)
    torch.manual_seed(7)  # the same draws: steps first, then the noise
    t = torch.randint(0, 20, (16,))
    eps = torch.randn(16, 2)
    a = _abar("cosine", 20)[t].float().unsqueeze(1)  # (16, 1)
    x_t = a.sqrt() * x + (1 - a).sqrt() * eps
    expected = (model.denoiser(x_t, t) - eps).square().mean()
    assert float(terms.reconstruction.detach()) == pytest.approx(float(expected.detach()),
                                                                 rel=1e-5)
    assert float(terms.kl) == 0.0 and float(terms.topo) == 0.0
    assert float(terms.loss.detach()) == float(terms.reconstruction.detach())


def test_loss_is_mse_plus_gamma_topo_and_topo_trains_the_denoiser() -> None:
    reg = TopoRegularizer(mode="reconstruction", homology_weights={0: 1.0, 1: 1.0},
                          resolution=20)
    model = _model(regularizer=reg, gamma=0.5, topo_batch=8)
    x = sample_circle(24, noise=0.02)
    terms = model(x)
    assert float(terms.topo.detach()) > 0
    expected = terms.reconstruction + 0.5 * terms.topo
    assert float(terms.loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    model.zero_grad()
    model.topological_term(x).backward()
    grad = model.denoiser.out.weight.grad
    assert grad is not None and float(grad.abs().sum()) > 0


def test_topological_term_compares_data_with_predicted_clean_samples() -> None:
    """With a zero noise estimate, x~_0 = x_t / sqrt(abar_t); the whole batch (topo_batch >= B)
    gives the same clouds up to order, and the steps all have SNR >= topo_min_snr."""
    x = sample_circle(40, noise=0.05)
    reg = TopoRegularizer(mode="reconstruction", homology_weights={0: 1.0, 1: 1.0},
                          resolution=50)
    recorder = Recorder(2)
    model = TopoDiffusionLite(recorder, schedule="cosine", timesteps=10, regularizer=reg,
                              gamma=1.0, topo_batch=64, topo_min_snr=1.0)
    got = model.topological_term(x)
    ((x_t, t),) = recorder.calls
    abar = _abar("cosine", 10)
    allowed = torch.nonzero(abar / (1 - abar) >= 1.0).flatten()  # steps with SNR >= 1
    assert set(t.tolist()) <= set(allowed.tolist())
    assert int(t.max()) == int(allowed.max())  # 40 draws from 5 steps reach the last one
    x0_hat = x_t / abar[t].float().sqrt().unsqueeze(1)
    expected = reg(x, reconstruction=x0_hat)
    assert float(got.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)


def test_a_trained_model_samples_a_circle_with_one_dominant_loop() -> None:
    """Train on points of the unit circle; the samples' alpha-complex H1 diagram (GUDHI) has
    one dominant bar under both samplers, and ancestral samples lie near the circle."""
    torch.manual_seed(0)
    data = sample_circle(1024, noise=0.02, seed=0)
    model = TopoDiffusionLite(MLPDenoiser(2, hidden=(128, 128, 128), time_dim=32),
                              schedule="cosine", timesteps=100)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3, foreach=True)
    g = torch.Generator().manual_seed(0)
    for _ in range(1000):
        loss = model(data[torch.randint(0, 1024, (128,), generator=g)]).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    for sampler in ("ddim", "ddpm"):
        samples = model.sample(500, sampler=sampler, generator=torch.Generator().manual_seed(1))
        tree = gudhi.AlphaComplex(points=samples.double().numpy()).create_simplex_tree()
        tree.compute_persistence()
        h1 = np.sqrt(tree.persistence_intervals_in_dimension(1))  # alpha values are squared
        assert dominant_bars([h1]) == [1], sampler
        assert float((h1[:, 1] - h1[:, 0]).max()) > 0.3, sampler
    radius = samples.norm(dim=1)  # the ancestral samples
    assert float(radius.mean()) == pytest.approx(1.0, abs=0.1)
    assert float(((radius - 1).abs() > 0.2).float().mean()) < 0.1


def test_sample_returns_the_domain_output() -> None:
    class Scaled:
        def to_tensor(self, batch: dict) -> Tensor:
            return batch["x"] / 10

        def from_tensor(self, x: Tensor) -> dict:
            return {"x": 10 * x}

        def data_view(self, batch: dict) -> Tensor:
            return batch["x"]

        def output_view(self, output: dict) -> Tensor:
            return output["x"]

    torch.manual_seed(0)
    model = TopoDiffusionLite(MLPDenoiser(2, hidden=(8,), time_dim=4), io=Scaled(),
                              timesteps=10, gamma=1.0, topo_batch=4,
                              regularizer=TopoRegularizer(mode="reconstruction", resolution=10))
    terms = model({"x": 10 * sample_circle(12)})
    assert torch.isfinite(terms.loss)
    out = model.sample(5, steps=3, generator=torch.Generator().manual_seed(0))
    x = model.denoise(torch.randn(5, 2, generator=torch.Generator().manual_seed(0)), steps=3)
    torch.testing.assert_close(out["x"], 10 * x)


def test_build_diffusion_picks_the_denoiser_for_the_shape() -> None:
    from toposci.models.diffusion import TensorDiffusionIO

    images = build_diffusion(TensorDiffusionIO(), (1, 8, 8), timesteps=10, channels=(4, 8),
                             time_dim=8, clip=1.0)
    assert isinstance(images.denoiser, UNetDenoiser)
    terms = images(torch.rand(3, 1, 8, 8) * 2 - 1)
    assert torch.isfinite(terms.loss)
    out = images.sample(2, steps=4, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 1, 8, 8) and float(out.abs().max()) <= 1.0 + 1e-6
    vectors = build_diffusion(TensorDiffusionIO(), (6,), timesteps=10, hidden=(8,), time_dim=4)
    assert isinstance(vectors.denoiser, MLPDenoiser) and vectors.sample_shape == (6,)


def test_bad_construction() -> None:
    with pytest.raises(ValueError, match="needs a regularizer"):
        _model(gamma=1.0)
    with pytest.raises(ValueError, match="mode='reconstruction'"):
        _model(regularizer=TopoRegularizer(mode="latent"))
    with pytest.raises(ValueError, match="topo_batch"):
        _model(topo_batch=1)
    with pytest.raises(ValueError, match="linear, cosine"):
        _model(schedule="sigmoid")
    with pytest.raises(ValueError, match="SNR"):
        _model(topo_min_snr=1e9)
    with pytest.raises(ValueError, match="sample_shape"):
        TopoDiffusionLite(nn.Identity())
    with pytest.raises(ValueError, match="ddpm, ddim"):
        _model(sampler="heun")  # a recipe's typo fails before training, not after
    with pytest.raises(ValueError, match="steps"):
        _model(sample_steps=21)
    assert _model().sample_steps == 20  # default min(50, T)


def test_bad_batches_and_sampling_options() -> None:
    model = _model()
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        model(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="NaN"):
        model(torch.full((4, 2), float("nan")))
    with pytest.raises(ValueError, match="float"):
        model(torch.zeros(4, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="ddpm, ddim"):
        model.sample(2, sampler="euler")
    with pytest.raises(ValueError, match="temperature"):
        model.sample(2, temperature=0.5)
    with pytest.raises(ValueError, match="n must"):
        model.sample(0)
    with pytest.raises(ValueError, match="steps"):
        model.sample(2, steps=21)
    reg = TopoRegularizer(mode="reconstruction")
    with pytest.raises(ValueError, match="B >= 2"):
        _model(regularizer=reg, gamma=1.0).topological_term(torch.zeros(1, 2))
