from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Torch on one intra-op thread: the tests' networks are tiny, and on a busy 2-core machine
    a second thread only adds OpenMP barriers to wait on (a TopoVAE test ran 18x faster).
    The native engine's own thread pools are not affected."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
