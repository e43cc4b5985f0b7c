from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from toposci.nn import ACTIVATIONS, MLP, make_activation


def test_shapes_and_leading_dimensions() -> None:
    mlp = MLP(5, (8, 8), 3)
    assert mlp.out_features == 3
    assert mlp(torch.randn(4, 5)).shape == (4, 3)
    assert mlp(torch.randn(2, 6, 5)).shape == (2, 6, 3)  # shared over the middle axis


def test_hand_computed_relu_network_has_no_final_activation() -> None:
    mlp = MLP(2, (2,), 1, activation="relu")
    first, last = mlp.layers[0], mlp.layers[-1]
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
        first.bias.zero_()
        last.weight.copy_(torch.tensor([[-2.0, 3.0]]))
        last.bias.fill_(0.5)
    # x = (1, -4): hidden relu(1, 4) = (1, 4); out = -2 + 12 + 0.5 = 10.5
    # x = (3, 1): hidden relu(3, -1) = (3, 0); out = -6 + 0.5 = -5.5 (negative: no last relu)
    out = mlp(torch.tensor([[1.0, -4.0], [3.0, 1.0]]))
    torch.testing.assert_close(out, torch.tensor([[10.5], [-5.5]]))


def test_no_hidden_layers_is_affine() -> None:
    mlp = MLP(3, (), 2)
    assert len(mlp.layers) == 1
    x = torch.randn(4, 3)
    torch.testing.assert_close(mlp(x), x @ mlp.layers[0].weight.T + mlp.layers[0].bias)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations(name: str) -> None:
    expected = {"relu": torch.relu, "silu": nn.functional.silu, "gelu": nn.functional.gelu,
                "tanh": torch.tanh}[name]
    x = torch.linspace(-3, 3, 13)
    torch.testing.assert_close(make_activation(name)(x), expected(x))
    assert isinstance(MLP(2, (4,), 1, activation=name).layers[1], ACTIVATIONS[name])


def test_layer_norm_and_dropout_layers() -> None:
    mlp = MLP(4, (8, 8), 2, layer_norm=True, dropout=0.5)
    kinds = [type(m) for m in mlp.layers]
    assert kinds.count(nn.LayerNorm) == 2 and kinds.count(nn.Dropout) == 2
    assert kinds[-1] is nn.Linear
    mlp.eval()
    x = torch.randn(3, 4)
    torch.testing.assert_close(mlp(x), mlp(x))  # dropout off in eval mode


def test_unknown_activation_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"'gelu'.*'relu'.*'silu'.*'tanh'"):
        MLP(2, (4,), 1, activation="swish")


@pytest.mark.parametrize("kwargs", [
    {"in_features": 0, "hidden": (4,), "out_features": 1},
    {"in_features": 2, "hidden": (4, 0), "out_features": 1},
    {"in_features": 2, "hidden": 4, "out_features": 1},
    {"in_features": 2, "hidden": (4,), "out_features": 1, "dropout": 1.0},
])
def test_bad_constructor_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        MLP(**kwargs)


@pytest.mark.parametrize(("x", "match"), [
    (torch.randn(4, 3), "shape"),
    (torch.zeros(0, 2), "empty"),
    (torch.ones(4, 2, dtype=torch.long), "float"),
    (torch.tensor([[0.0, math.nan]]), "NaN"),
    (torch.tensor([[0.0, math.inf]]), "inf"),
])
def test_bad_input(x: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MLP(2, (4,), 1)(x)


def test_gradcheck() -> None:
    mlp = MLP(3, (5,), 2, layer_norm=True).double()
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(mlp, (x,))
