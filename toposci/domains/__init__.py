"""Domains: reading real files, featurizing, decoding and checking validity, one module each.

* :mod:`toposci.domains.molecules` — QM9 / SMILES / SDF with RDKit.
* :mod:`toposci.domains.proteins` — PDB / mmCIF C-alpha traces with gemmi.
* :mod:`toposci.domains.social` — TUDataset graphs and ego subgraphs.
* :mod:`toposci.domains.images` — MNIST IDX files and grid graphs.
* :mod:`toposci.domains.synthetic` — spaces with known Betti numbers.

Every validity check returns a :class:`Validity`.
"""

from toposci.domains.validity import Validity, count_reasons

__all__ = ["Validity", "count_reasons"]
