from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from toposci import _optional
from toposci.nn import PointSetDecoder, chamfer_distance
from toposci.nn import point_decoders as module


def _brute_force_chamfer(x: np.ndarray, y: np.ndarray, x_valid: np.ndarray,
                         y_valid: np.ndarray) -> np.ndarray:
    """Chamfer distance by double loops over the real points."""
    out = []
    for b in range(len(x)):
        xs, ys = x[b][x_valid[b]], y[b][y_valid[b]]
        to_y = [min(float(np.sum((p - q) ** 2)) for q in ys) for p in xs]
        to_x = [min(float(np.sum((p - q) ** 2)) for p in xs) for q in ys]
        out.append(np.mean(to_y) + np.mean(to_x))
    return np.array(out)


def test_hand_computed_value() -> None:
    x = torch.tensor([[[0.0, 0.0]]])
    y = torch.tensor([[[1.0, 0.0], [3.0, 0.0]]])
    # x -> y: 1; y -> x: mean(1, 9) = 5
    assert chamfer_distance(x, y).tolist() == [6.0]
    assert chamfer_distance(y, x).tolist() == [6.0]


def test_matches_brute_force() -> None:
    x, y = torch.randn(3, 9, 3, dtype=torch.float64), torch.randn(3, 14, 3, dtype=torch.float64)
    expected = _brute_force_chamfer(x.numpy(), y.numpy(), np.ones((3, 9), bool),
                                    np.ones((3, 14), bool))
    np.testing.assert_allclose(chamfer_distance(x, y).numpy(), expected, rtol=1e-12)


def test_matches_brute_force_with_masks() -> None:
    x, y = torch.randn(3, 9, 3, dtype=torch.float64), torch.randn(3, 14, 3, dtype=torch.float64)
    x_mask, y_mask = torch.rand(3, 9) < 0.6, torch.rand(3, 14) < 0.5  # not prefix masks
    x_mask[:, 0] = y_mask[:, 3] = True
    expected = _brute_force_chamfer(x.numpy(), y.numpy(), x_mask.numpy(), y_mask.numpy())
    got = chamfer_distance(x, y, x_mask=x_mask, y_mask=y_mask)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


def test_zero_on_itself_and_order_free() -> None:
    x = torch.randn(2, 10, 3)
    assert torch.equal(chamfer_distance(x, x), torch.zeros(2))
    assert torch.equal(chamfer_distance(x, x.flip(1)), torch.zeros(2))


def test_gradcheck() -> None:
    x = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    y = torch.randn(2, 7, 3, dtype=torch.float64, requires_grad=True)
    x_mask = torch.tensor([[True] * 5, [True, False, True, True, False]])
    y_mask = torch.tensor([[True] * 7, [False, True, True, False, True, True, True]])
    assert torch.autograd.gradcheck(
        lambda x, y: chamfer_distance(x, y, x_mask=x_mask, y_mask=y_mask), (x, y))


def test_non_prefix_masks_never_go_to_pytorch3d(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> torch.Tensor:
        raise AssertionError("pytorch3d path taken with a non-prefix mask")

    monkeypatch.setattr(_optional, "WITH_PYTORCH3D", True)
    monkeypatch.setattr(module, "_chamfer_pytorch3d", refuse)
    x = torch.tensor([[[0.0], [5.0]]])
    y = torch.tensor([[[1.0], [2.0]]])
    mask = torch.tensor([[False, True]])
    # x = {5}, y = {1, 2}: x -> y 9; y -> x mean(16, 9) = 12.5
    assert chamfer_distance(x, y, x_mask=mask).tolist() == [21.5]


def test_agrees_with_pytorch3d() -> None:
    p3d_loss = pytest.importorskip("pytorch3d.loss")
    x, y = torch.randn(3, 9, 3), torch.randn(3, 14, 3)
    x_len, y_len = torch.tensor([9, 4, 6]), torch.tensor([14, 1, 8])
    x_mask = torch.arange(9) < x_len.unsqueeze(1)
    y_mask = torch.arange(14) < y_len.unsqueeze(1)
    expected, _ = p3d_loss.chamfer_distance(x, y, x_lengths=x_len, y_lengths=y_len,
                                            batch_reduction=None, point_reduction="mean")
    torch.testing.assert_close(module._chamfer_torch(x, y, x_mask, y_mask), expected)
    torch.testing.assert_close(chamfer_distance(x, y, x_mask=x_mask, y_mask=y_mask), expected)


@pytest.mark.parametrize(("args", "kwargs", "match"), [
    ((torch.randn(2, 4, 3), torch.randn(3, 4, 3)), {}, "batch size"),
    ((torch.randn(2, 4, 3), torch.randn(2, 4, 2)), {}, "point dimension"),
    ((torch.full((2, 4, 3), math.nan), torch.randn(2, 4, 3)), {}, "NaN"),
    ((torch.randn(2, 4, 3), torch.randn(2, 4, 3)),
     {"y_mask": torch.tensor([[True] * 4, [False] * 4])}, "without"),
    ((torch.randn(2, 4, 3), torch.randn(2, 4, 3)), {"x_mask": torch.ones(2, 4)}, "bool"),
    ((torch.randn(2, 4, 3, 1), torch.randn(2, 4, 3)), {}, "shape"),
])
def test_chamfer_bad_input(args: tuple, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        chamfer_distance(*args, **kwargs)


def test_decoder_shapes_and_errors() -> None:
    decoder = PointSetDecoder(4, 10, point_dim=2, hidden=(16,))
    assert decoder(torch.randn(3, 4)).shape == (3, 10, 2)
    assert decoder(torch.randn(4)).shape == (1, 10, 2)
    with pytest.raises(ValueError, match="shape"):
        decoder(torch.randn(3, 5))
    with pytest.raises(ValueError, match="inf"):
        decoder(torch.full((3, 4), math.inf))
    with pytest.raises(ValueError, match="num_points"):
        PointSetDecoder(4, 0)


def test_decoder_can_overfit_a_chain() -> None:
    # Trained on the ordered chain (Chamfer alone has local minima where two predicted points
    # share a target), then judged by the Chamfer distance and the pointwise error.
    t = torch.linspace(0, 2 * math.pi, 12)
    target = torch.stack([torch.cos(t), torch.sin(t), 0.3 * t], dim=1).unsqueeze(0)  # (1, 12, 3)
    decoder = PointSetDecoder(4, 12, hidden=(64,))
    z = torch.randn(1, 4)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=1e-2)
    for _ in range(150):
        optimizer.zero_grad()
        (decoder(z) - target).square().sum(dim=-1).mean().backward()
        optimizer.step()
    out = decoder(z)
    assert chamfer_distance(out, target).item() < 1e-5
    assert (out - target).abs().max().item() < 1e-2
