"""Peer libraries as the benchmarks run them."""

from __future__ import annotations

import types

import gudhi

__all__ = ["patch_torch_topological_gudhi"]


def patch_torch_topological_gudhi(module) -> None:
    """torch-topological 0.1.9 passes torch tensors to ``gudhi.CubicalComplex``, which GUDHI
    3.13's bindings refuse; hand GUDHI a numpy copy instead (what older GUDHI did itself)."""
    def cubical(*, dimensions, top_dimensional_cells):
        cells = top_dimensional_cells.detach().cpu().numpy()
        return gudhi.CubicalComplex(dimensions=list(dimensions), top_dimensional_cells=cells)

    module.gudhi = types.SimpleNamespace(CubicalComplex=cubical)
