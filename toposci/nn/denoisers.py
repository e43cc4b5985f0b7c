"""Noise-prediction networks ``eps_theta(x_t, t)`` for the diffusion models.

* :class:`SinusoidalTimeEmbedding` — the transformer position encoding of a diffusion step
  (Vaswani et al. 2017, as used for the step by Ho et al. 2020).
* :class:`MLPDenoiser` — flat vectors ``(B, D)``: points of a synthetic space, flattened protein
  fragments ``(B, 3L)``, latent codes of a trained VAE ``(B, d)``.
* :class:`UNetDenoiser` — images ``(B, C, H, W)``: a small U-Net (Ronneberger et al. 2015) of
  residual blocks with the step added to every block, after the DDPM network (Ho et al.
  2020, appendix B) without its attention layers.
* :func:`make_denoiser` — the default network for a sample shape.

Every denoiser has a ``sample_shape`` attribute (the shape of one sample, without the batch) and
maps ``x_t`` ``(B, *sample_shape)`` and integer steps ``t`` ``(B,)`` to a noise estimate of the
shape of ``x_t``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from toposci._validation import check_batch
from toposci.nn.mlp import _check_size, _check_sizes, make_activation

__all__ = ["MLPDenoiser", "SinusoidalTimeEmbedding", "UNetDenoiser", "make_denoiser"]


def _check_steps(t: Tensor, batch: int | None = None) -> Tensor:
    """Validate steps ``t`` ``(B,)`` (integer or real, finite, >= 0; ``B = batch`` when given);
    return them as floats."""
    if not isinstance(t, Tensor) or t.ndim != 1 or (batch is not None and t.shape[0] != batch):
        got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
        want = "B" if batch is None else batch
        raise ValueError(f"t must be a tensor of shape ({want},), one step per sample, got {got}")
    if t.dtype == torch.bool or t.is_complex():
        raise ValueError(f"t must hold integer or real steps, got {t.dtype}")
    t = t.to(torch.float32) if not t.is_floating_point() else t
    if not bool(torch.isfinite(t).all()) or bool((t < 0).any()):
        raise ValueError("t must be finite and >= 0")
    return t


class SinusoidalTimeEmbedding(nn.Module):
    """``[sin(t w_0), ..., sin(t w_{h-1}), cos(t w_0), ..., cos(t w_{h-1})]``,
    ``w_k = max_period^(-k / h)``, ``h = dim / 2``.

    Args:
        dim: ``E``, the embedding width (even, >= 2).
        max_period: the longest period; frequencies fall geometrically from 1 to
            ``max_period^(-(h - 1) / h)``.

    Shapes:
        input ``t (B,)`` (integer or real steps); output ``(B, E)`` in float32, or in ``t``'s
        dtype when it is floating point.
    """

    def __init__(self, dim: int, *, max_period: float = 10_000.0) -> None:
        super().__init__()
        _check_size(dim, "dim", minimum=2)
        if dim % 2:
            raise ValueError(f"dim must be even (half sines, half cosines), got {dim}")
        if not (math.isfinite(max_period) and max_period > 1):
            raise ValueError(f"max_period must be a finite number > 1, got {max_period}")
        self.dim = dim
        self.max_period = float(max_period)

    def forward(self, t: Tensor) -> Tensor:
        t = _check_steps(t)
        half = self.dim // 2
        k = torch.arange(half, device=t.device, dtype=t.dtype)  # (h,)
        freqs = torch.exp(-math.log(self.max_period) * k / half)  # (h,)
        angles = t.unsqueeze(1) * freqs.unsqueeze(0)  # (B, h)
        return torch.cat([angles.sin(), angles.cos()], dim=1)  # (B, E)


class _TimeMLP(nn.Module):
    """Sinusoidal embedding then ``Linear -> SiLU -> Linear``: ``t (B,)`` -> ``(B, E)``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.embed = SinusoidalTimeEmbedding(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(self.embed(t))


class MLPDenoiser(nn.Module):
    """A noise predictor for flat vectors: an MLP whose hidden layers each add a projection of
    the step's embedding before their activation, plus a step-dependent gain on its input.

    Layer ``i`` computes ``h_i = act(W_i h_{i-1} + b_i + P_i e(t))``, with ``e(t)`` the step's
    sinusoidal embedding passed through a small MLP, and the output is
    ``W_out h + g(t) * x`` with a per-feature gain ``g(t) = G e(t) + c`` (zero at
    initialization). At high noise the best estimate of the noise is close to ``x_t`` itself,
    which a plain MLP learns only approximately: on the protein-fragment demo (96 features) its
    noise error stayed at 0.16 from ``t = 600`` to ``T``, where it should vanish, and the
    samplers, which divide that error by ``sqrt(abar_t)``, drifted far from the data. The gain
    is the learned analogue of the skip scaling of Karras et al. (NeurIPS 2022, "Elucidating the
    design space of diffusion-based generative models", table 1).

    Args:
        features: ``D``, the width of a sample.
        hidden: widths of the hidden layers (at least one).
        time_dim: ``E``, width of the step embedding.
        activation: one of :data:`~toposci.nn.mlp.ACTIVATIONS`.

    Shapes:
        forward(x ``(B, D)``, t ``(B,)``) -> ``(B, D)``.

    Attributes:
        sample_shape: ``(D,)``.
    """

    def __init__(self, features: int, *, hidden: Sequence[int] = (256, 256, 256),
                 time_dim: int = 128, activation: str = "silu") -> None:
        super().__init__()
        _check_size(features, "features")
        widths = _check_sizes(hidden, "hidden", min_length=1)
        make_activation(activation)  # fail early on an unknown name
        self.features = features
        self.sample_shape = (features,)
        self.time = _TimeMLP(time_dim)
        self.layers = nn.ModuleList(
            nn.Linear(w_in, w_out) for w_in, w_out in zip((features, *widths[:-1]), widths))
        self.time_projections = nn.ModuleList(nn.Linear(time_dim, w) for w in widths)
        self.activations = nn.ModuleList(make_activation(activation) for _ in widths)
        self.out = nn.Linear(widths[-1], features)
        self.gain = nn.Linear(time_dim, features)
        nn.init.zeros_(self.gain.weight)
        nn.init.zeros_(self.gain.bias)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """The noise estimate of ``x_t``.

        Args:
            x: ``(B, D)`` noisy samples.
            t: ``(B,)`` their steps (integer or real, >= 0).

        Returns:
            ``(B, D)``.

        Raises:
            ValueError: a shape other than ``(B, D)``, an empty batch, NaN / inf, or steps
                that do not match the batch.
        """
        D = self.features
        x = check_batch(x, "x", ranks=(2,), dims_named=f"(B, {D})")
        if x.shape[1] != D:
            raise ValueError(f"x must have shape (B, {D}), got {tuple(x.shape)}")
        e = self.time(_check_steps(t, x.shape[0]).to(x.dtype))  # (B, E)
        h = x
        for layer, project, act in zip(self.layers, self.time_projections, self.activations):
            h = act(layer(h) + project(e))  # (B, H_i)
        return self.out(h) + self.gain(e) * x  # (B, D)


def _groups(channels: int) -> int:
    """Groups of a GroupNorm over ``channels``: the largest divisor of it up to 8."""
    return math.gcd(channels, 8)


class _ResBlock(nn.Module):
    """``GN -> SiLU -> conv -> + P e(t) -> GN -> SiLU -> conv``, plus a (1x1-projected) skip."""

    def __init__(self, c_in: int, c_out: int, time_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, kernel_size=3, padding=1)
        self.time = nn.Linear(time_dim, c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, kernel_size=3, padding=1)
        self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, kernel_size=1)
        self.act = nn.SiLU()

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        h = self.conv1(self.act(self.norm1(x)))  # (B, c_out, H, W)
        h = h + self.time(e)[:, :, None, None]  # (B, c_out, 1, 1) broadcast
        h = self.conv2(self.act(self.norm2(h)))
        return self.skip(x) + h


class UNetDenoiser(nn.Module):
    """A small U-Net noise predictor for square images.

    A 3x3 stem to ``channels[0]``; then one residual block per level ``i`` (``channels[i]``
    maps), halving the side (stride-2 3x3 convolution) between levels; a middle block; then back
    up, each level upsampling (nearest, then 3x3 convolution), concatenating the down path's
    maps of that level and applying one residual block; GroupNorm, SiLU and a 3x3 convolution
    to ``C`` channels. Every residual block adds a projection of the step's embedding.

    Args:
        in_channels: ``C``.
        image_size: side ``H = W``, divisible by ``2**(len(channels) - 1)``.
        channels: maps at each resolution, finest first (at least one level).
        time_dim: ``E``, width of the step embedding.

    Shapes:
        forward(x ``(B, C, H, W)``, t ``(B,)``) -> ``(B, C, H, W)``.

    Attributes:
        sample_shape: ``(C, H, W)``.
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, *,
                 channels: Sequence[int] = (32, 64), time_dim: int = 128) -> None:
        super().__init__()
        _check_size(in_channels, "in_channels")
        _check_size(image_size, "image_size")
        widths = _check_sizes(channels, "channels", min_length=1)
        factor = 2 ** (len(widths) - 1)
        if image_size % factor:
            raise ValueError(f"image_size {image_size} must be divisible by "
                             f"2**(len(channels) - 1) = {factor}")
        self.in_channels = in_channels
        self.image_size = image_size
        self.sample_shape = (in_channels, image_size, image_size)
        self.time = _TimeMLP(time_dim)
        self.stem = nn.Conv2d(in_channels, widths[0], kernel_size=3, padding=1)
        self.down = nn.ModuleList(_ResBlock(c_in, c_out, time_dim)
                                  for c_in, c_out in zip((widths[0], *widths[:-1]), widths))
        self.downsample = nn.ModuleList(nn.Conv2d(c, c, kernel_size=3, stride=2, padding=1)
                                        for c in widths[:-1])
        self.middle = _ResBlock(widths[-1], widths[-1], time_dim)
        # up path, coarsest level first: input = previous level's maps + this level's skip
        below = (widths[-1], *widths[:0:-1])  # channels arriving at each level, coarsest first
        self.up = nn.ModuleList(_ResBlock(c_below + c, c, time_dim)
                                for c_below, c in zip(below, widths[::-1]))
        self.upsample = nn.ModuleList(
            nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                          nn.Conv2d(c, c, kernel_size=3, padding=1))
            for c in widths[:0:-1])
        self.head = nn.Sequential(nn.GroupNorm(_groups(widths[0]), widths[0]), nn.SiLU(),
                                  nn.Conv2d(widths[0], in_channels, kernel_size=3, padding=1))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """The noise estimate of ``x_t``.

        Args:
            x: ``(B, C, H, W)`` noisy images.
            t: ``(B,)`` their steps (integer or real, >= 0).

        Returns:
            ``(B, C, H, W)``.

        Raises:
            ValueError: wrong shape, empty batch, NaN / inf, or steps that do not match.
        """
        C, S = self.in_channels, self.image_size
        x = check_batch(x, "x", ranks=(4,), dims_named=f"(B, {C}, {S}, {S})")
        if tuple(x.shape[1:]) != self.sample_shape:
            raise ValueError(f"x must have shape (B, {C}, {S}, {S}), got {tuple(x.shape)}")
        e = self.time(_check_steps(t, x.shape[0]).to(x.dtype))  # (B, E)
        h = self.stem(x)  # (B, c_0, S, S)
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, e)  # (B, c_i, S / 2^i, S / 2^i)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)  # (B, c_i, S / 2^(i+1), ...)
        h = self.middle(h, e)
        for i, block in enumerate(self.up):
            if i > 0:
                h = self.upsample[i - 1](h)  # (B, c, 2s, 2s)
            h = block(torch.cat([h, skips.pop()], dim=1), e)  # (B, c_level, s, s)
        return self.head(h)  # (B, C, S, S)


def make_denoiser(sample_shape: Sequence[int], *, hidden: Sequence[int] = (256, 256, 256),
                  channels: Sequence[int] = (32, 64), time_dim: int = 128) -> nn.Module:
    """The default denoiser for samples of one shape.

    Args:
        sample_shape: ``(D,)`` for vectors (:class:`MLPDenoiser` with ``hidden``) or
            ``(C, H, H)`` for square images (:class:`UNetDenoiser` with ``channels``).
        hidden, channels, time_dim: the networks' sizes.

    Raises:
        ValueError: any other shape.
    """
    shape = tuple(int(s) for s in sample_shape)
    if len(shape) == 1:
        return MLPDenoiser(shape[0], hidden=hidden, time_dim=time_dim)
    if len(shape) == 3 and shape[1] == shape[2]:
        return UNetDenoiser(shape[0], shape[1], channels=channels, time_dim=time_dim)
    raise ValueError(f"no default denoiser for samples of shape {shape}: vectors (D,) get an "
                     "MLP, square images (C, H, H) a U-Net; flatten other samples to (D,)")
