"""Every public sub-package imports, lists only names it has, and `import toposci` stays light."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PUBLIC = [
    "toposci",
    "toposci.topology",
    "toposci.domains",
    "toposci.domains.molecules",
    "toposci.domains.molecule_io",
    "toposci.domains.molecule_sampling",
    "toposci.domains.qm9",
    "toposci.domains.base",
    "toposci.domains.generative.molecules",
    "toposci.domains.generative.proteins",
    "toposci.domains.generative.social",
    "toposci.domains.generative.images",
    "toposci.domains.generative.synthetic",
    "toposci.domains.proteins",
    "toposci.domains.social",
    "toposci.domains.images",
    "toposci.domains.synthetic",
    "toposci.domains.fingerprints",
    "toposci.download",
    "toposci.summary",
    "toposci.encoders",
    "toposci.evaluation",
    "toposci.nn",
    "toposci.models",
    "toposci.training",
    "toposci.metrics",
    "toposci.testing",
    "toposci.cli",
]


@pytest.mark.parametrize("name", PUBLIC)
def test_public_module_exports_exist(name: str) -> None:
    module = importlib.import_module(name)
    for export in getattr(module, "__all__", []):
        assert hasattr(module, export), f"{name}.__all__ lists {export!r} but it is missing"


def test_import_toposci_is_light() -> None:
    code = ("import sys, toposci; heavy = [m for m in ('torch', 'rdkit', 'gudhi', 'matplotlib', "
            "'gemmi', 'torch_geometric') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_topology_does_not_import_rdkit_or_matplotlib() -> None:
    code = ("import sys, toposci.topology; print(','.join(m for m in ('rdkit', 'matplotlib') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
