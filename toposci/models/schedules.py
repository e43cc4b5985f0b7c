"""Noise schedules of denoising diffusion models and their closed forms.

The forward process adds Gaussian noise in ``T`` steps, ``q(x_t | x_{t-1}) = N(sqrt(alpha_t)
x_{t-1}, beta_t I)`` with ``alpha_t = 1 - beta_t``, so that (Ho, Jain & Abbeel, NeurIPS 2020,
eqs. 4, 6, 7)

* ``q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)``, ``abar_t = prod_{s <= t} alpha_s``;
* ``q(x_{t-1} | x_t, x_0) = N(c1_t x_0 + c2_t x_t, btilde_t I)`` with
  ``c1_t = beta_t sqrt(abar_{t-1}) / (1 - abar_t)``,
  ``c2_t = (1 - abar_{t-1}) sqrt(alpha_t) / (1 - abar_t)`` and
  ``btilde_t = beta_t (1 - abar_{t-1}) / (1 - abar_t)``.

Step indices run ``t = 0, ..., T - 1`` (index ``t`` is step ``t + 1`` of the papers), with
``abar_{-1} = 1``: the first step's posterior is exact (``c1_0 = 1``, ``c2_0 = 0``,
``btilde_0 = 0``). The signal-to-noise ratio of step ``t`` is ``abar_t / (1 - abar_t)``
(Kingma, Salimans, Poole & Ho, NeurIPS 2021).

Two schedules of ``beta``: ``"linear"`` (Ho et al.: 1e-4 to 0.02 at ``T = 1000``, both ends scaled
by ``1000 / T`` for other ``T`` as Nichol & Dhariwal do) and ``"cosine"`` (Nichol & Dhariwal,
ICML 2021, eq. 17: ``abar(t) = f(t) / f(0)``, ``f(t) = cos^2((t / T + s) / (1 + s) * pi / 2)``,
each ``beta`` capped at 0.999).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = ["SCHEDULES", "NoiseSchedule", "cosine_betas", "linear_betas", "make_schedule"]


def _check_timesteps(timesteps: int) -> None:
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise ValueError(f"timesteps must be an int >= 1, got {timesteps!r}")


def linear_betas(timesteps: int, *, beta_start: float | None = None,
                 beta_end: float | None = None) -> Tensor:
    """``beta_t`` evenly spaced from ``beta_start`` to ``beta_end`` (Ho et al. 2020).

    Args:
        timesteps: ``T``.
        beta_start, beta_end: the first and last ``beta``; default ``1e-4 * 1000 / T`` and
            ``0.02 * 1000 / T`` (Ho et al.'s values at ``T = 1000``, scaled so that the total
            noise stays about the same for other ``T``).

    Returns:
        ``(T,)`` float64.

    Raises:
        ValueError: ``T < 1``, or a ``beta`` outside ``(0, 1)`` (the scaled default does so for
            ``T < 20``: pass both ends then).
    """
    _check_timesteps(timesteps)
    scale = 1000.0 / timesteps
    start = 1e-4 * scale if beta_start is None else float(beta_start)
    end = 0.02 * scale if beta_end is None else float(beta_end)
    for name, value in (("beta_start", start), ("beta_end", end)):
        if not 0.0 < value < 1.0:
            raise ValueError(f"{name} must lie in (0, 1), got {value} (T={timesteps}; the "
                             "default scales 1e-4 and 0.02 by 1000 / T, so pass both ends for "
                             "T < 20)")
    return torch.linspace(start, end, timesteps, dtype=torch.float64)


def cosine_betas(timesteps: int, *, s: float = 0.008, max_beta: float = 0.999) -> Tensor:
    """``beta_t = min(1 - abar(t + 1) / abar(t), max_beta)`` of the cosine schedule.

    Args:
        timesteps: ``T``.
        s: the offset that keeps ``beta`` from being tiny near ``t = 0`` (Nichol & Dhariwal).
        max_beta: cap on each ``beta`` (the last one is 1 without it).

    Returns:
        ``(T,)`` float64.
    """
    _check_timesteps(timesteps)
    if not (math.isfinite(s) and s >= 0):
        raise ValueError(f"s must be a finite number >= 0, got {s}")
    if not 0.0 < max_beta < 1.0:
        raise ValueError(f"max_beta must lie in (0, 1), got {max_beta}")
    steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps  # (T + 1,) t / T
    f = torch.cos((steps + s) / (1.0 + s) * (math.pi / 2)).square()  # (T + 1,)
    return (1.0 - f[1:] / f[:-1]).clamp(min=0.0, max=max_beta)


SCHEDULES: dict[str, Callable[[int], Tensor]] = {"linear": linear_betas, "cosine": cosine_betas}
"""The ``beta`` schedules by name."""


class NoiseSchedule(nn.Module):
    """The closed forms of a diffusion process given its ``beta`` (see the module docstring).

    The tables are kept in float64 as non-persistent buffers (they follow ``.to(device)`` and are
    not written to checkpoints, being functions of the schedule's name and ``T``); every method
    returns values in the dtype of its tensor input.

    Args:
        betas: ``(T,)`` noise variances, each in ``(0, 1)``.

    Attributes:
        betas, alphas_cumprod, alphas_cumprod_prev, posterior_variance, posterior_mean_coef1,
        posterior_mean_coef2: ``(T,)`` float64 tables of ``beta_t``, ``abar_t``, ``abar_{t-1}``,
        ``btilde_t``, ``c1_t`` and ``c2_t``.
    """

    betas: Tensor
    alphas_cumprod: Tensor
    alphas_cumprod_prev: Tensor
    posterior_variance: Tensor
    posterior_mean_coef1: Tensor
    posterior_mean_coef2: Tensor

    def __init__(self, betas: Tensor) -> None:
        super().__init__()
        if not isinstance(betas, Tensor) or betas.ndim != 1 or betas.numel() == 0:
            raise ValueError(f"betas must be a non-empty 1-D tensor (T,), got "
                             f"{tuple(betas.shape) if isinstance(betas, Tensor) else betas!r}")
        betas = betas.detach().to(torch.float64)
        if not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError("every beta must lie in (0, 1) (NaN is not allowed)")
        alphas = 1.0 - betas
        abar = alphas.cumprod(0)  # (T,)
        abar_prev = torch.cat([abar.new_ones(1), abar[:-1]])  # (T,)
        tables = {
            "betas": betas,
            "alphas_cumprod": abar,
            "alphas_cumprod_prev": abar_prev,
            "posterior_variance": betas * (1.0 - abar_prev) / (1.0 - abar),
            "posterior_mean_coef1": betas * abar_prev.sqrt() / (1.0 - abar),
            "posterior_mean_coef2": (1.0 - abar_prev) * alphas.sqrt() / (1.0 - abar),
        }
        for name, value in tables.items():
            self.register_buffer(name, value, persistent=False)

    @property
    def timesteps(self) -> int:
        """``T``."""
        return self.betas.shape[0]

    def snr(self) -> Tensor:
        """``(T,)`` float64 signal-to-noise ratio ``abar_t / (1 - abar_t)`` of every step."""
        return self.alphas_cumprod / (1.0 - self.alphas_cumprod)

    def last_step_with_snr(self, min_snr: float) -> int:
        """The largest ``t`` whose SNR is at least ``min_snr`` (the SNR falls with ``t``).

        Raises:
            ValueError: not even ``t = 0`` has that SNR.
        """
        ok = torch.nonzero(self.snr() >= min_snr).flatten()
        if ok.numel() == 0:
            raise ValueError(f"no step has SNR >= {min_snr} (the first step's SNR is "
                             f"{float(self.snr()[0]):.4g})")
        return int(ok.max())

    def gather(self, table: Tensor, t: Tensor, like: Tensor) -> Tensor:
        """``table[t]`` shaped to broadcast against ``like``.

        Args:
            table: ``(T,)`` one of the tables.
            t: ``(B,)`` integer steps in ``[0, T)``.
            like: ``(B, ...)`` the tensor the values multiply.

        Returns:
            ``(B, 1, ..., 1)`` in ``like``'s dtype and device.
        """
        if t.ndim != 1 or t.shape[0] != like.shape[0]:
            raise ValueError(f"t must have shape ({like.shape[0]},), got {tuple(t.shape)}")
        if t.is_floating_point() or t.is_complex():
            raise ValueError(f"t must be an integer tensor, got {t.dtype}")
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.timesteps):
            raise ValueError(f"t must lie in [0, {self.timesteps}), got values in "
                             f"[{int(t.min())}, {int(t.max())}]")
        values = table.to(t.device)[t]  # (B,)
        return values.reshape(-1, *([1] * (like.ndim - 1))).to(like)  # (B, 1, ..., 1)

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps``.

        Shapes:
            x0, noise ``(B, ...)``, t ``(B,)`` -> ``(B, ...)``.
        """
        abar = self.gather(self.alphas_cumprod, t, x0)
        return abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise

    def predict_x0(self, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """The clean sample implied by a noise estimate:
        ``(x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)``.

        Shapes:
            x_t, eps ``(B, ...)``, t ``(B,)`` -> ``(B, ...)``.
        """
        abar = self.gather(self.alphas_cumprod, t, x_t)
        return (x_t - (1.0 - abar).sqrt() * eps) / abar.sqrt()

    def predict_eps(self, x_t: Tensor, t: Tensor, x0: Tensor) -> Tensor:
        """The noise implied by a clean-sample estimate (inverse of :meth:`predict_x0`).

        Shapes:
            x_t, x0 ``(B, ...)``, t ``(B,)`` -> ``(B, ...)``.
        """
        abar = self.gather(self.alphas_cumprod, t, x_t)
        return (x_t - abar.sqrt() * x0) / (1.0 - abar).sqrt()

    def posterior(self, x0: Tensor, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and variance of ``q(x_{t-1} | x_t, x_0)``.

        Returns:
            mean ``(B, ...)`` and variance ``(B, 1, ..., 1)``.
        """
        mean = (self.gather(self.posterior_mean_coef1, t, x_t) * x0
                + self.gather(self.posterior_mean_coef2, t, x_t) * x_t)
        return mean, self.gather(self.posterior_variance, t, x_t)


def make_schedule(name: str, timesteps: int) -> NoiseSchedule:
    """The :class:`NoiseSchedule` of a named ``beta`` schedule with its default options.

    Raises:
        ValueError: an unknown name, listing the valid ones.
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; valid: {', '.join(SCHEDULES)}")
    return NoiseSchedule(SCHEDULES[name](timesteps))
