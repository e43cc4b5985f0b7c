"""The multilayer perceptron every other module of :mod:`toposci.nn` builds on."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from toposci._validation import check_finite

__all__ = ["ACTIVATIONS", "MLP", "make_activation"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name.

    Args:
        name: one of :data:`ACTIVATIONS` (``"relu"``, ``"silu"``, ``"gelu"``, ``"tanh"``).

    Raises:
        ValueError: an unknown name, listing the valid ones.
    """
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid names are {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def _check_size(value: int, name: str, *, minimum: int = 1) -> None:
    """Raise ValueError unless ``value`` is an int ``>= minimum`` (layer widths, counts)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _describe(value: object) -> str:
    """``"<dtype> <shape>"`` of a tensor, or the type name of anything else (error messages)."""
    if isinstance(value, Tensor):
        return f"{value.dtype} {tuple(value.shape)}"
    return type(value).__name__


def _check_sizes(values: Sequence[int], name: str, *, min_length: int = 0) -> tuple[int, ...]:
    """Validate a sequence of layer widths; return it as a tuple."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"{name} must be a sequence of ints, got {values!r}")
    if len(values) < min_length:
        raise ValueError(f"{name} needs at least {min_length} entries, got {tuple(values)}")
    for i, value in enumerate(values):
        _check_size(value, f"{name}[{i}]")
    return tuple(values)


class MLP(nn.Module):
    """Linear layers with an activation between them (none after the last layer).

    Each hidden layer is ``Linear -> [LayerNorm] -> activation -> [Dropout]``; the output layer
    is a bare ``Linear``, so the output is unbounded (logits, features, coordinates).

    Args:
        in_features: ``F_in``, input width.
        hidden: widths of the hidden layers, may be empty (then a single Linear).
        out_features: ``F_out``, output width.
        activation: one of ``"relu"``, ``"silu"``, ``"gelu"``, ``"tanh"``.
        dropout: dropout probability after each hidden activation, in ``[0, 1)``.
        layer_norm: LayerNorm after each hidden Linear.

    Shapes:
        input ``(B, F_in)``, output ``(B, F_out)``; any leading dimensions are kept, so
        ``(B, N, F_in)`` maps to ``(B, N, F_out)`` (a shared per-point MLP).

    Attributes:
        layers: the underlying ``nn.Sequential``; calling it skips the input checks (for callers
            that have validated their input already).
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        out_features: int,
        *,
        activation: str = "silu",
        dropout: float = 0.0,
        layer_norm: bool = False,
    ) -> None:
        super().__init__()
        _check_size(in_features, "in_features")
        _check_size(out_features, "out_features")
        widths = _check_sizes(hidden, "hidden")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        make_activation(activation)  # fail early on an unknown name
        self.in_features = in_features
        self.out_features = out_features
        modules: list[nn.Module] = []
        width_in = in_features
        for width in widths:
            modules.append(nn.Linear(width_in, width))
            if layer_norm:
                modules.append(nn.LayerNorm(width))
            modules.append(make_activation(activation))
            if dropout > 0:
                modules.append(nn.Dropout(dropout))
            width_in = width
        modules.append(nn.Linear(width_in, out_features))
        self.layers = nn.Sequential(*modules)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the MLP to the last dimension of ``x``.

        Args:
            x: ``(B, F_in)`` (or ``(..., F_in)``) float features.

        Returns:
            ``(B, F_out)`` (or ``(..., F_out)``).

        Raises:
            ValueError: not a float tensor, a scalar, a last dimension other than ``F_in``, an
                empty batch, or NaN / inf entries.
        """
        if not isinstance(x, Tensor) or not x.is_floating_point() or x.ndim == 0:
            raise ValueError(f"MLP input must be a float tensor (B, {self.in_features}), got "
                             f"{_describe(x)}")
        if x.shape[-1] != self.in_features:
            raise ValueError(f"MLP input must have shape (B, {self.in_features}), got "
                             f"{tuple(x.shape)}")
        if x.numel() == 0:
            raise ValueError(f"MLP input is an empty batch (shape {tuple(x.shape)})")
        check_finite(x, "MLP input")
        return self.layers(x)
