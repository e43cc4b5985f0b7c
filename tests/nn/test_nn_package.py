from __future__ import annotations

import torch

import toposci.nn


def test_exports_exist() -> None:
    for name in toposci.nn.__all__:
        assert hasattr(toposci.nn, name), f"toposci.nn.__all__ lists {name!r} but it is missing"


def test_every_encoder_has_out_features() -> None:
    encoders = [toposci.nn.GINEEncoder(6, 3, out_features=7), toposci.nn.GINEncoder(2,
                out_features=7), toposci.nn.PointNetEncoder(out_features=7),
                toposci.nn.DGCNNEncoder(out_features=7), toposci.nn.CNNEncoder(out_features=7),
                toposci.nn.MLP(3, (4,), 7)]
    for encoder in encoders:
        assert isinstance(encoder, torch.nn.Module) and encoder.out_features == 7
