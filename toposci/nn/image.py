"""Convolutional encoder and transposed-convolution decoder for square images (MNIST-style)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from toposci._validation import check_batch
from toposci.nn.mlp import _check_size, _check_sizes

__all__ = ["CNNEncoder", "DeconvDecoder"]


class CNNEncoder(nn.Module):
    """Stride-2 convolutions (3x3, padding 1, SiLU), flattened, then a Linear layer.

    Each convolution halves the side, rounding up (28 -> 14 -> 7).

    Args:
        in_channels: ``C``, channels of the images.
        image_size: side ``H = W`` of the images (the Linear layer depends on it).
        channels: output channels of the convolutions, one per layer.
        out_features: width of the output vector.

    Shapes:
        input ``images (B, C, H, W)``; output ``(B, out_features)``.
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, *,
                 channels: Sequence[int] = (32, 64), out_features: int = 128) -> None:
        super().__init__()
        _check_size(in_channels, "in_channels")
        _check_size(image_size, "image_size")
        _check_size(out_features, "out_features")
        widths = _check_sizes(channels, "channels", min_length=1)
        self.in_channels = in_channels
        self.image_size = image_size
        self.out_features = out_features
        layers: list[nn.Module] = []
        side = image_size
        for c_in, c_out in zip((in_channels, *widths[:-1]), widths):
            layers += [nn.Conv2d(c_in, c_out, kernel_size=3, stride=2, padding=1), nn.SiLU()]
            side = (side + 1) // 2
        self.convs = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1] * side * side, out_features)

    def forward(self, images: Tensor) -> Tensor:
        """Encode each image as one vector.

        Args:
            images: ``(B, C, H, W)`` float (``(C, H, W)`` is one image).

        Returns:
            ``(B, out_features)``.

        Raises:
            ValueError: wrong rank, channel count or size, empty batch, NaN / inf.
        """
        size, C = self.image_size, self.in_channels
        images = check_batch(images, "images", ranks=(4,), dims_named=f"(B, {C}, {size}, {size})")
        if tuple(images.shape[1:]) != (C, size, size):
            raise ValueError(f"images must have shape (B, C, H, W) = (B, {C}, {size}, {size}), "
                             f"got {tuple(images.shape)}")
        h = self.convs(images)  # (B, C_last, s, s)
        return self.head(h.flatten(start_dim=1))  # (B, C_last * s * s) -> (B, out_features)


class DeconvDecoder(nn.Module):
    """A Linear layer to a small feature map, then stride-2 transposed convolutions to logits.

    With ``L = len(channels)``, the code is mapped to ``channels[0]`` maps of side
    ``image_size / 2**L``; layer ``i`` (4x4, stride 2, padding 1) doubles the side and maps
    ``channels[i]`` to ``channels[i + 1]`` channels, the last one to ``out_channels``. SiLU
    between layers, nothing after the last: the output is logits (e.g. of Bernoulli pixels).

    Args:
        latent_dim: ``d``, width of the codes.
        image_size: side of the output images, divisible by ``2**len(channels)``.
        out_channels: ``C``, channels of the output images.
        channels: input channels of the transposed convolutions.

    Shapes:
        input ``z (B, d)``; output ``(B, C, H, W)`` with ``H = W = image_size``.
    """

    def __init__(self, latent_dim: int, image_size: int = 28, out_channels: int = 1, *,
                 channels: Sequence[int] = (64, 32)) -> None:
        super().__init__()
        _check_size(latent_dim, "latent_dim")
        _check_size(image_size, "image_size")
        _check_size(out_channels, "out_channels")
        widths = _check_sizes(channels, "channels", min_length=1)
        factor = 2 ** len(widths)
        if image_size % factor:
            raise ValueError(f"image_size {image_size} must be divisible by 2**len(channels) = "
                             f"{factor}")
        self.latent_dim = latent_dim
        self.image_size = image_size
        self.out_channels = out_channels
        self._base = (widths[0], image_size // factor, image_size // factor)
        self.project = nn.Sequential(
            nn.Linear(latent_dim, widths[0] * (image_size // factor) ** 2), nn.SiLU())
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths, (*widths[1:], out_channels)):
            layers += [nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1),
                       nn.SiLU()]
        self.deconvs = nn.Sequential(*layers[:-1])  # no activation after the last layer

    def forward(self, z: Tensor) -> Tensor:
        """Decode codes into image logits.

        Args:
            z: ``(B, d)`` float codes (``(d,)`` is one code).

        Returns:
            ``(B, C, H, W)`` logits.

        Raises:
            ValueError: wrong shape, empty batch, non-float or NaN / inf codes.
        """
        z = check_batch(z, "z", ranks=(2,), dims_named=f"(B, {self.latent_dim})")
        if z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        B = z.shape[0]
        h = self.project(z).reshape(B, *self._base)  # (B, channels[0], s, s)
        return self.deconvs(h)  # (B, C, H, W)
