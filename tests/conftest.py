from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Every test starts from the same random state."""
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002 - legacy global state, for code that still uses it


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def shipped() -> Path:
    """The small real samples shipped in datasets/."""
    return REPO / "datasets"


@pytest.fixture
def shared_data() -> Path:
    """The full data sets beside the checkout (CI and developers have them, users do not)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"full data sets not found at {SHARED_DATA} (only developers and CI have them)")
    return SHARED_DATA
