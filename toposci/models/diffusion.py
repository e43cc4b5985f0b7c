r"""TopoDiffusionLite: a denoising diffusion model with a topological term, generic over its parts.

Training (proposal B, model B) minimises

.. math:: L = \mathbb{E}_{t, x_0, \epsilon} \|\epsilon - \epsilon_\theta(x_t, t)\|^2 / D
          + \gamma \, L_{topo}(\tilde x_0, x_0),
          \qquad x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \epsilon,

the noise-prediction loss of Ho, Jain & Abbeel (NeurIPS 2020; the mean over the ``D`` entries of
a sample, as in their code, so γ keeps its meaning across sample sizes), with ``t`` uniform over
the ``T`` steps. ``γ = 0`` (or no regularizer) is the baseline, and the term is then not
computed.

**The topological term.** A random sub-batch of ``topo_batch`` samples is noised again at steps
drawn uniformly from those whose signal-to-noise ratio ``abar_t / (1 - abar_t)`` is at least
``topo_min_snr`` (default 1, i.e. ``abar_t >= 1/2``); the predicted clean samples
``x~_0 = (x_t - sqrt(1 - abar_t) eps_theta(x_t, t)) / sqrt(abar_t)`` are the intermediate
reconstructions, and ``L_topo`` is the :class:`~toposci.topology.TopoRegularizer`
(``mode="reconstruction"``) between the data view of the sub-batch and the output view of its
reconstructions, each batch seen as one point cloud. Why only low noise: ``x~_0`` is the
network's estimate of ``E[x_0 | x_t]``, which at high noise is a blur of many data points (Ho et
al. 2020, section 4.3 and figure 6: predictions from large ``t`` keep only coarse features), so
the batch of reconstructions shrinks towards the data mean; asking that blur to have the data's
loops would fight the noise-prediction loss instead of sharpening it. SNR 1 is where signal and
noise have equal variance; Choi et al. ("Perception Prioritized Training of Diffusion Models",
CVPR 2022) index the stages of the reverse process by SNR, the content of a sample being formed
below about SNR 1 and only fine detail above it. The default thus regularizes reconstructions
that are already close to samples; a lower ``topo_min_snr`` reaches into the content stage, at
the price above. A fixed SNR, unlike a fixed fraction of ``T``, is the same noise level under
the linear and the cosine schedule. TopoDiffusionNet (Gupta, Samaras & Chen, ICLR 2025) puts its
topological loss on ``x^_0`` at uniformly drawn ``t``; ``topo_min_snr = 0`` does the same here.

**Sampling.** ``"ddpm"``: the ancestral sampler of Ho et al. (``T`` network calls, posterior
variance ``btilde_t``). ``"ddim"``: Song, Meng & Ermon (ICLR 2021, eq. 12) on ``steps``
evenly spaced steps from 0 (:func:`ddim_steps`); ``eta = 0`` is deterministic given the initial
noise, ``eta = 1`` with all ``T`` steps is the ancestral sampler again. ``clip`` clamps ``x~_0``
to ``[-clip, clip]`` at every sampling step (for data known to lie in that range, e.g. images
scaled to ``[-1, 1]``).

**Domains.** The model noises a tensor ``x_0`` ``(B, *sample_shape)``; a domain's
:class:`DiffusionIO` turns its batches into that tensor (``to_tensor``) and samples back into its
decoder-output form (``from_tensor``: what its ``generate`` and ``output_view`` take).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from toposci._validation import check_finite
from toposci.models.schedules import make_schedule
from toposci.models.topovae import LossTerms, TensorIO
from toposci.nn.denoisers import make_denoiser
from toposci.topology.losses import TopoRegularizer

__all__ = ["SAMPLERS", "DiffusionIO", "TensorDiffusionIO", "TopoDiffusionLite", "build_diffusion",
           "ddim_steps"]

SAMPLERS = ("ddpm", "ddim")
"""The samplers :meth:`TopoDiffusionLite.sample` knows."""


class DiffusionIO(Protocol):
    """What :class:`TopoDiffusionLite` needs to know about a domain's batches and outputs."""

    def to_tensor(self, batch: Any) -> Tensor:
        """``(B, *sample_shape)`` the batch as the tensor the model noises."""

    def from_tensor(self, x: Tensor) -> Any:
        """Samples ``(B, *sample_shape)`` in the domain's decoder-output form, differentiable."""

    def data_view(self, batch: Any) -> Tensor:
        """``(B, F)`` the batch in the space the topological regularizer compares in."""

    def output_view(self, output: Any) -> Tensor:
        """``(B, F)`` an output of :meth:`from_tensor` in the space of :meth:`data_view`."""


class TensorDiffusionIO(TensorIO):
    """:class:`DiffusionIO` of plain tensors: batches are ``x_0`` and samples are outputs.

    Shapes:
        batches and outputs ``(B, ...)``; views ``(B, F)``.
    """

    def to_tensor(self, batch: Tensor) -> Tensor:
        return batch

    def from_tensor(self, x: Tensor) -> Tensor:
        return x


def ddim_steps(timesteps: int, steps: int) -> Tensor:
    """The ``S`` steps of a DDIM sampler: ``floor(i T / S)`` for ``i = S - 1, ..., 0``.

    Song et al.'s released sampler and Nichol & Dhariwal's respacing take every ``T / S``-th
    step from 0, so the first step is ``T - T / S``, not ``T - 1``. Starting at ``T - 1`` is
    ill-conditioned for a noise-predicting model: the clean sample implied there,
    ``(x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)``, multiplies the error of the noise estimate
    by ``1 / sqrt(abar_t)``, about 2e4 at the cosine schedule's last step (``abar`` 2.4e-9 at
    ``T = 1000``), and the next DDIM step keeps it. Measured on the torus demo (no clamping):
    samples of 10 steps from ``T - 1`` reached ``|x| = 153`` on data within 3; those of this
    spacing stay within 3.5, like the ancestral sampler's. The initial noise stands for ``x`` at
    step ``T - T / S``, whose SNR is below 1e-3 for ``S <= 50``.

    Args:
        timesteps: ``T``.
        steps: ``S``, at least 2 (one step would denoise the initial noise as if it were
            nearly clean) unless ``T = 1``, and at most ``T`` (all steps: the full chain).

    Returns:
        ``(S,)`` int64, strictly decreasing, ending at 0.
    """
    low = min(2, timesteps)
    if isinstance(steps, bool) or not isinstance(steps, int) or not low <= steps <= timesteps:
        raise ValueError(f"steps must be an int in [{low}, {timesteps}] (T={timesteps}), got "
                         f"{steps!r}")
    return (torch.arange(steps - 1, -1, -1) * timesteps) // steps  # distinct: T / S >= 1


def _normal(shape: tuple[int, ...], generator: torch.Generator | None, like: Tensor) -> Tensor:
    """Standard normal noise of ``shape`` drawn from ``generator`` (on its device), moved to
    ``like``'s device and dtype."""
    device = "cpu" if generator is None else generator.device
    return torch.randn(shape, generator=generator, device=device).to(like)


class TopoDiffusionLite(nn.Module):
    """A denoising diffusion model whose loss may carry a topological term (module docstring).

    Args:
        denoiser: ``eps_theta``: module mapping ``(x_t (B, *sample_shape), t (B,))`` to a noise
            estimate of ``x_t``'s shape; it needs a ``sample_shape`` attribute unless
            ``sample_shape`` is given (:mod:`toposci.nn.denoisers`).
        sample_shape: shape of one sample ``x_0``, without the batch.
        io: the domain's :class:`DiffusionIO`; default :class:`TensorDiffusionIO`.
        regularizer: the topological term, ``mode="reconstruction"``.
        schedule: ``"linear"`` or ``"cosine"`` (:mod:`toposci.models.schedules`).
        timesteps: ``T``.
        gamma: weight of the topological term; 0 switches it off.
        topo_batch: samples in the topological term's sub-batch (all of a smaller batch).
        topo_min_snr: the topological term uses the steps with at least this SNR.
        sampler: default sampler of :meth:`sample`, ``"ddim"`` or ``"ddpm"``.
        sample_steps: default number of DDIM steps (default ``min(50, T)``).
        eta: default DDIM noise scale (0: deterministic).
        clip: clamp ``x~_0`` to ``[-clip, clip]`` while sampling (None: no clamp).

    Shapes:
        forward(batch) -> :class:`~toposci.models.topovae.LossTerms` of scalars;
        sample(n) -> ``io.from_tensor`` of ``(n, *sample_shape)``.
    """

    def __init__(self, denoiser: nn.Module, *, sample_shape: Sequence[int] | None = None,
                 io: DiffusionIO | None = None, regularizer: TopoRegularizer | None = None,
                 schedule: str = "cosine", timesteps: int = 1000, gamma: float = 0.0,
                 topo_batch: int = 64, topo_min_snr: float = 1.0, sampler: str = "ddim",
                 sample_steps: int | None = None, eta: float = 0.0,
                 clip: float | None = None) -> None:
        super().__init__()
        shape = sample_shape if sample_shape is not None else getattr(
            denoiser, "sample_shape", None)
        if shape is None or len(shape) == 0 or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in shape):
            raise ValueError("the denoiser needs a sample_shape attribute (a tuple of ints >= 1), "
                             f"or pass sample_shape=; got {shape!r}")
        if not math.isfinite(gamma) or gamma < 0:
            raise ValueError(f"gamma must be a finite number >= 0, got {gamma}")
        if gamma > 0 and regularizer is None:
            raise ValueError(f"gamma={gamma} needs a regularizer (a TopoRegularizer)")
        if regularizer is not None and regularizer.mode != "reconstruction":
            raise ValueError("TopoDiffusionLite compares data with reconstructions: the "
                             f"regularizer needs mode='reconstruction', got {regularizer.mode!r}")
        if isinstance(topo_batch, bool) or not isinstance(topo_batch, int) or topo_batch < 2:
            raise ValueError(f"topo_batch must be an int >= 2, got {topo_batch!r}")
        if not (math.isfinite(topo_min_snr) and topo_min_snr >= 0):
            raise ValueError(f"topo_min_snr must be a finite number >= 0, got {topo_min_snr}")
        if sampler not in SAMPLERS:  # checked here too, so that a recipe fails before training
            raise ValueError(f"unknown sampler {sampler!r}; valid: {', '.join(SAMPLERS)}")
        if not (math.isfinite(eta) and eta >= 0):
            raise ValueError(f"eta must be a finite number >= 0, got {eta}")
        if clip is not None and not (math.isfinite(clip) and clip > 0):
            raise ValueError(f"clip must be a finite number > 0 or None, got {clip}")
        self.denoiser = denoiser
        self.sample_shape = tuple(shape)
        self.io = TensorDiffusionIO() if io is None else io
        self.regularizer = regularizer
        self.schedule = make_schedule(schedule, timesteps)
        sample_steps = min(50, timesteps) if sample_steps is None else sample_steps
        ddim_steps(timesteps, sample_steps)  # fail now on sample_steps outside [2, T]
        self.gamma = float(gamma)
        self.topo_batch = topo_batch
        self.topo_min_snr = float(topo_min_snr)
        self.topo_max_step = self.schedule.last_step_with_snr(topo_min_snr)
        self.sampler = sampler
        self.sample_steps = sample_steps
        self.eta = float(eta)
        self.clip = clip

    @property
    def timesteps(self) -> int:
        """``T``."""
        return self.schedule.timesteps

    # ------------------------------------------------------------------ training
    def forward(self, batch: Any) -> LossTerms:
        """The loss of one batch: ``reconstruction`` is the noise-prediction MSE, ``kl`` is 0
        and ``topo`` the topological term (0 when ``gamma = 0``)."""
        x0 = self._clean(batch)  # (B, *S)
        t = torch.randint(0, self.timesteps, (x0.shape[0],), device=x0.device)  # (B,)
        noise = torch.randn_like(x0)
        mse = (self._eps(self.schedule.q_sample(x0, t, noise), t) - noise).square().mean()
        zero = mse.new_zeros(())
        topo = self.topological_term(batch, x0) if self.gamma > 0 else zero
        return LossTerms(mse + self.gamma * topo, mse, zero, topo)

    def topological_term(self, batch: Any, x0: Tensor | None = None) -> Tensor:
        """``L_topo`` between a random sub-batch and its intermediate reconstructions.

        Args:
            batch: the domain batch of ``B >= 2`` samples.
            x0: ``io.to_tensor(batch)`` ``(B, *sample_shape)`` if already computed.

        Returns:
            A scalar, differentiable in the denoiser's parameters.
        """
        if self.regularizer is None:
            raise ValueError("this TopoDiffusionLite has no regularizer")
        x0 = self._clean(batch) if x0 is None else x0
        B = x0.shape[0]
        if B < 2:
            raise ValueError(f"the topological term needs a batch of B >= 2 samples, got {B}")
        index = torch.randperm(B, device=x0.device)[: self.topo_batch]  # (b,)
        sub = x0[index]  # (b, *S)
        t = torch.randint(0, self.topo_max_step + 1, (sub.shape[0],), device=x0.device)  # (b,)
        x_t = self.schedule.q_sample(sub, t, torch.randn_like(sub))
        x0_hat = self.schedule.predict_x0(x_t, t, self._eps(x_t, t))  # (b, *S)
        data = self.io.data_view(batch)[index]  # (b, F)
        return self.regularizer(data, reconstruction=self.io.output_view(
            self.io.from_tensor(x0_hat)))

    def _clean(self, batch: Any) -> Tensor:
        """``x_0`` of a batch, checked: ``(B, *sample_shape)`` float, finite, ``B >= 1``."""
        x0 = self.io.to_tensor(batch)
        if not isinstance(x0, Tensor) or not x0.is_floating_point():
            got = f"{x0.dtype} tensor" if isinstance(x0, Tensor) else type(x0).__name__
            raise ValueError(f"io.to_tensor must return a float tensor, got {got}")
        if tuple(x0.shape[1:]) != self.sample_shape or x0.shape[0] == 0:
            raise ValueError(f"x0 must have shape (B, {', '.join(map(str, self.sample_shape))}) "
                             f"with B >= 1, got {tuple(x0.shape)}")
        check_finite(x0, "x0")
        return x0

    def _eps(self, x_t: Tensor, t: Tensor) -> Tensor:
        """The denoiser's noise estimate, checked to have ``x_t``'s shape."""
        eps = self.denoiser(x_t, t)
        if eps.shape != x_t.shape:
            raise ValueError(f"the denoiser returned shape {tuple(eps.shape)} for x_t of shape "
                             f"{tuple(x_t.shape)}")
        return eps

    # ------------------------------------------------------------------ sampling
    @torch.inference_mode()
    def sample(self, n: int, *, sampler: str | None = None, steps: int | None = None,
               eta: float | None = None, temperature: float = 1.0,
               generator: torch.Generator | None = None, progress: bool = False) -> Any:
        """``n`` samples from ``N(0, I)`` noise, in the domain's output form.

        Args:
            n: number of samples.
            sampler, steps, eta: override the model's defaults (see :meth:`denoise`).
            temperature: accepted for the interface of :meth:`TopoVAE.sample`; a diffusion
                model has no prior temperature, so it must be 1.
            generator: source of all the noise (the initial noise is drawn first).
            progress: show a progress bar over the steps.

        Returns:
            ``io.from_tensor(x)`` of the samples ``x`` ``(n, *sample_shape)``.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        if temperature != 1.0:
            raise ValueError(f"a diffusion model samples at temperature 1, got {temperature}")
        like = self.schedule.betas.new_empty(0, dtype=self._dtype())
        x_T = _normal((n, *self.sample_shape), generator, like)  # (n, *S)
        x = self.denoise(x_T, sampler=sampler, steps=steps, eta=eta, generator=generator,
                         progress=progress)
        return self.io.from_tensor(x)

    @torch.inference_mode()
    def denoise(self, x_T: Tensor, *, sampler: str | None = None, steps: int | None = None,
                eta: float | None = None, generator: torch.Generator | None = None,
                progress: bool = False) -> Tensor:
        """Run a sampler from the noise ``x_T`` down to ``x_0``.

        Args:
            x_T: ``(n, *sample_shape)`` the starting noise.
            sampler: ``"ddpm"`` or ``"ddim"`` (default: the model's).
            steps: DDIM steps (default: the model's ``sample_steps``); DDPM uses all ``T``.
            eta: DDIM noise scale (default: the model's).
            generator: source of the noise added along the way.
            progress: show a progress bar over the steps.

        Returns:
            ``(n, *sample_shape)``.
        """
        sampler = self.sampler if sampler is None else sampler
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; valid: {', '.join(SAMPLERS)}")
        if not isinstance(x_T, Tensor) or tuple(x_T.shape[1:]) != self.sample_shape \
                or x_T.shape[0] == 0 or not x_T.is_floating_point():
            raise ValueError(f"x_T must be a float tensor (n, "
                             f"{', '.join(map(str, self.sample_shape))}) with n >= 1, got "
                             f"{tuple(x_T.shape) if isinstance(x_T, Tensor) else x_T!r}")
        check_finite(x_T, "x_T")
        eta = self.eta if eta is None else eta
        if not (math.isfinite(eta) and eta >= 0):
            raise ValueError(f"eta must be a finite number >= 0, got {eta}")
        if sampler == "ddpm":
            return self._ddpm(x_T, generator, progress)
        return self._ddim(x_T, self.sample_steps if steps is None else steps, eta, generator,
                          progress)

    def _x0_and_eps(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Predicted clean sample and noise at ``(x, t)``, the clean sample clamped to ``clip``
        (and the noise then made consistent with it)."""
        eps = self._eps(x, t)
        x0 = self.schedule.predict_x0(x, t, eps)
        if self.clip is not None:
            x0 = x0.clamp(-self.clip, self.clip)
            eps = self.schedule.predict_eps(x, t, x0)
        return x0, eps

    def _ddpm(self, x: Tensor, generator: torch.Generator | None, progress: bool) -> Tensor:
        n = x.shape[0]
        for step in tqdm(range(self.timesteps - 1, -1, -1), desc="ddpm", disable=not progress,
                         leave=False):
            t = torch.full((n,), step, dtype=torch.long, device=x.device)  # (n,)
            x0, _ = self._x0_and_eps(x, t)
            x, var = self.schedule.posterior(x0, x, t)  # the posterior mean, (n, 1, ..., 1)
            if step > 0:
                x = x + var.sqrt() * _normal(tuple(x.shape), generator, x)
        return x

    def _ddim(self, x: Tensor, steps: int, eta: float, generator: torch.Generator | None,
              progress: bool) -> Tensor:
        n = x.shape[0]
        schedule = ddim_steps(self.timesteps, steps).tolist()
        abar = self.schedule.alphas_cumprod.tolist()
        for i, step in enumerate(tqdm(schedule, desc="ddim", disable=not progress,
                                      leave=False)):
            t = torch.full((n,), step, dtype=torch.long, device=x.device)  # (n,)
            x0, eps = self._x0_and_eps(x, t)
            a_t = abar[step]
            a_prev = abar[schedule[i + 1]] if i + 1 < len(schedule) else 1.0
            sigma = eta * math.sqrt((1.0 - a_prev) / (1.0 - a_t) * (1.0 - a_t / a_prev))
            x = math.sqrt(a_prev) * x0 + math.sqrt(max(1.0 - a_prev - sigma**2, 0.0)) * eps
            if sigma > 0:
                x = x + sigma * _normal(tuple(x.shape), generator, x)
        return x

    def _dtype(self) -> torch.dtype:
        """The dtype of the denoiser's parameters (float32 for a parameterless one)."""
        return next((p.dtype for p in self.denoiser.parameters()), torch.float32)


def build_diffusion(io: DiffusionIO, sample_shape: Sequence[int], *,
                    regularizer: TopoRegularizer | None = None, gamma: float = 0.0,
                    schedule: str = "cosine", timesteps: int = 1000, topo_batch: int = 64,
                    topo_min_snr: float = 1.0, sampler: str = "ddim",
                    sample_steps: int | None = None, eta: float = 0.0, clip: float | None = None,
                    hidden: Sequence[int] = (256, 256, 256), channels: Sequence[int] = (32, 64),
                    time_dim: int = 128) -> TopoDiffusionLite:
    """A :class:`TopoDiffusionLite` with the default denoiser for ``sample_shape``.

    Args:
        io: the domain's :class:`DiffusionIO`.
        sample_shape: shape of ``io.to_tensor(batch)`` without the batch: ``(D,)`` gets an
            :class:`~toposci.nn.MLPDenoiser` (``hidden``), ``(C, H, H)`` a
            :class:`~toposci.nn.UNetDenoiser` (``channels``).
        regularizer, gamma, schedule, timesteps, topo_batch, topo_min_snr, sampler,
        sample_steps, eta, clip: as :class:`TopoDiffusionLite`.
        hidden, channels, time_dim: the denoiser's sizes.
    """
    denoiser = make_denoiser(sample_shape, hidden=hidden, channels=channels, time_dim=time_dim)
    return TopoDiffusionLite(denoiser, io=io, regularizer=regularizer, schedule=schedule,
                             timesteps=timesteps, gamma=gamma, topo_batch=topo_batch,
                             topo_min_snr=topo_min_snr, sampler=sampler,
                             sample_steps=sample_steps, eta=eta, clip=clip)
