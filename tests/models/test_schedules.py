"""Noise schedules: closed forms against values worked out by hand and by simulation."""

from __future__ import annotations

import math

import pytest
import torch

from toposci.models.schedules import NoiseSchedule, cosine_betas, linear_betas, make_schedule

# A 3-step schedule small enough to work out by hand: beta = (0.1, 0.2, 0.3).
BETAS = (0.1, 0.2, 0.3)
ABAR = (0.9, 0.9 * 0.8, 0.9 * 0.8 * 0.7)  # 0.9, 0.72, 0.504


def _three() -> NoiseSchedule:
    return NoiseSchedule(linear_betas(3, beta_start=0.1, beta_end=0.3))


def test_linear_three_steps_by_hand() -> None:
    s = _three()
    assert s.timesteps == 3
    torch.testing.assert_close(s.betas, torch.tensor(BETAS, dtype=torch.float64))
    torch.testing.assert_close(s.alphas_cumprod, torch.tensor([0.9, 0.72, 0.504],
                                                              dtype=torch.float64))
    torch.testing.assert_close(s.alphas_cumprod_prev, torch.tensor([1.0, 0.9, 0.72],
                                                                   dtype=torch.float64))
    # btilde_t = beta_t (1 - abar_{t-1}) / (1 - abar_t)
    expected_var = [0.0, 0.2 * 0.1 / 0.28, 0.3 * 0.28 / 0.496]
    torch.testing.assert_close(s.posterior_variance, torch.tensor(expected_var,
                                                                  dtype=torch.float64))
    # c1 = beta_t sqrt(abar_{t-1}) / (1 - abar_t)
    # c2 = (1 - abar_{t-1}) sqrt(alpha_t) / (1 - abar_t)
    c1 = [1.0, 0.2 * math.sqrt(0.9) / 0.28, 0.3 * math.sqrt(0.72) / 0.496]
    c2 = [0.0, 0.1 * math.sqrt(0.8) / 0.28, 0.28 * math.sqrt(0.7) / 0.496]
    torch.testing.assert_close(s.posterior_mean_coef1, torch.tensor(c1, dtype=torch.float64))
    torch.testing.assert_close(s.posterior_mean_coef2, torch.tensor(c2, dtype=torch.float64))
    torch.testing.assert_close(s.snr(), torch.tensor([a / (1 - a) for a in ABAR],
                                                     dtype=torch.float64))


def test_posterior_is_the_bayes_product_of_the_two_gaussians() -> None:
    """q(x_{t-1} | x_t, x_0) ∝ N(x_t; sqrt(alpha_t) x_{t-1}, beta_t) N(x_{t-1}; sqrt(abar_{t-1})
    x_0, 1 - abar_{t-1}): precision-weighted mean, inverse summed precision."""
    s = _three()
    x0, x_t = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    for step in (1, 2):
        beta, abar_prev = BETAS[step], ABAR[step - 1]
        precision = (1 - beta) / beta + 1 / (1 - abar_prev)
        mean = (math.sqrt(1 - beta) * x_t / beta + math.sqrt(abar_prev) * x0 / (1 - abar_prev)
                ) / precision
        got_mean, got_var = s.posterior(x0, x_t, torch.full((2,), step))
        torch.testing.assert_close(got_mean, mean)
        assert got_var.shape == (2, 1)
        torch.testing.assert_close(got_var, torch.full((2, 1), 1 / precision,
                                                       dtype=torch.float64))
    # the first step's posterior is x_0 itself
    mean, var = s.posterior(x0, x_t, torch.zeros(2, dtype=torch.long))
    torch.testing.assert_close(mean, x0)
    assert float(var.abs().max()) == 0.0


def test_closed_form_marginal_matches_the_simulated_chain() -> None:
    """Running x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps three times gives
    N(sqrt(abar) x_0, 1 - abar) = N(sqrt(0.504) x_0, 0.496)."""
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((200_000, 1), 2.0, dtype=torch.float64)
    x = x0.clone()
    for beta in BETAS:
        x = math.sqrt(1 - beta) * x + math.sqrt(beta) * torch.randn(x.shape, generator=g,
                                                                     dtype=torch.float64)
    assert float(x.mean()) == pytest.approx(2.0 * math.sqrt(0.504), abs=0.01)
    assert float(x.var()) == pytest.approx(0.496, abs=0.01)
    s = _three()
    closed = s.q_sample(x0, torch.full((x0.shape[0],), 2),
                        torch.randn(x0.shape, generator=g, dtype=torch.float64))
    assert float(closed.mean()) == pytest.approx(2.0 * math.sqrt(0.504), abs=0.01)
    assert float(closed.var()) == pytest.approx(0.496, abs=0.01)


def test_predictions_invert_the_forward_process() -> None:
    s = make_schedule("cosine", 50)
    x0, eps = torch.randn(6, 3, 2), torch.randn(6, 3, 2)
    t = torch.tensor([0, 5, 17, 30, 44, 49])
    x_t = s.q_sample(x0, t, eps)
    assert x_t.dtype == torch.float32
    torch.testing.assert_close(s.predict_x0(x_t, t, eps), x0, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(s.predict_eps(x_t, t, x0), eps, atol=1e-4, rtol=1e-4)


def test_linear_defaults_are_ho_et_al_scaled_to_t() -> None:
    betas = linear_betas(1000)
    assert float(betas[0]) == pytest.approx(1e-4) and float(betas[-1]) == pytest.approx(0.02)
    betas = linear_betas(100)  # scaled by 1000 / T = 10
    assert float(betas[0]) == pytest.approx(1e-3) and float(betas[-1]) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="beta_end"):
        linear_betas(10)  # 0.02 * 100 = 2 is no variance
    with pytest.raises(ValueError, match="timesteps"):
        linear_betas(0)


def test_cosine_by_hand() -> None:
    # s = 0, T = 2: abar(1) = cos^2(pi / 4) = 1/2, abar(2) = cos^2(pi / 2) = 0 -> beta capped
    s = NoiseSchedule(cosine_betas(2, s=0.0))
    torch.testing.assert_close(s.betas, torch.tensor([0.5, 0.999], dtype=torch.float64))
    torch.testing.assert_close(s.alphas_cumprod, torch.tensor([0.5, 0.0005],
                                                              dtype=torch.float64))
    # Nichol & Dhariwal's offset: abar_t = f(t + 1) / f(0) wherever no beta is capped
    T, off = 8, 0.008

    def f(u: float) -> float:
        return math.cos((u / T + off) / (1 + off) * math.pi / 2) ** 2

    s = make_schedule("cosine", T)
    expected = [f(k + 1) / f(0) for k in range(T - 1)]
    torch.testing.assert_close(s.alphas_cumprod[:-1], torch.tensor(expected, dtype=torch.float64))
    assert float(s.betas[-1]) == pytest.approx(0.999)


def test_last_step_with_snr() -> None:
    s = _three()  # SNR = 9, 2.571, 1.016
    assert s.last_step_with_snr(2.0) == 1
    assert s.last_step_with_snr(1.0) == 2
    assert s.last_step_with_snr(0.0) == 2
    with pytest.raises(ValueError, match="SNR"):
        s.last_step_with_snr(10.0)


def test_tables_follow_the_device_and_stay_out_of_checkpoints() -> None:
    s = _three()
    assert s.state_dict() == {}
    x = torch.zeros(2, 3, dtype=torch.float64)
    assert s.gather(s.betas, torch.tensor([0, 2]), x).shape == (2, 1)


@pytest.mark.parametrize(("t", "match"), [
    (torch.tensor([0, 3]), r"\[0, 3\)"),
    (torch.tensor([-1, 0]), r"\[0, 3\)"),
    (torch.tensor([0.0, 1.0]), "integer"),
    (torch.tensor([0, 1, 2]), "shape"),
])
def test_bad_steps(t: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _three().q_sample(torch.zeros(2, 1), t, torch.zeros(2, 1))


def test_bad_schedules() -> None:
    with pytest.raises(ValueError, match="linear, cosine"):
        make_schedule("quadratic", 10)
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        NoiseSchedule(torch.tensor([0.1, 1.0]))
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        NoiseSchedule(torch.tensor([0.1, float("nan")]))
    with pytest.raises(ValueError, match="1-D"):
        NoiseSchedule(torch.zeros(0))
    with pytest.raises(ValueError, match="max_beta"):
        cosine_betas(4, max_beta=1.0)
