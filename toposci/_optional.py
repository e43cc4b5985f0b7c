"""Optional dependencies, probed once. Import heavy libraries where they are used, not here."""

from __future__ import annotations

import importlib.util
from types import ModuleType

__all__ = ["WITH_GIOTTO", "WITH_PYTORCH3D", "require"]


def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


WITH_GIOTTO: bool = _available("gph")
WITH_PYTORCH3D: bool = _available("pytorch3d")

_INSTALL_HINTS = {
    "gph": "pip install 'toposci[giotto]'  (giotto-ph, AGPL-3: optional, never bundled)",
    "pytorch3d": "see https://github.com/facebookresearch/pytorch3d/blob/main/INSTALL.md",
    "torch_topological": "pip install 'toposci[bench]'",
    "fcd_torch": "pip install 'toposci[fcd]'  (fcd_torch, MIT; ships the ChemNet weights)",
}


def require(module: str) -> ModuleType:
    """Import an optional module or raise an ImportError that says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        hint = _INSTALL_HINTS.get(module, f"pip install {module}")
        raise ImportError(f"this feature needs the optional package '{module}': {hint}") from err
