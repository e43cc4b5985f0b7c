"""Domains: reading real files, featurizing, decoding and checking validity, one module each.

* :mod:`toposci.domains.molecules` — featurizing, dense batches, decoding and validity (RDKit).
* :mod:`toposci.domains.molecule_io` — reading SMILES / CSV / SDF files.
* :mod:`toposci.domains.qm9` — the QM9 data set.
* :mod:`toposci.domains.molecule_sampling` — argmax and valence-aware decoding of logits.
* :mod:`toposci.domains.proteins` — PDB / mmCIF C-alpha traces with gemmi.
* :mod:`toposci.domains.social` — TUDataset graphs and ego subgraphs.
* :mod:`toposci.domains.images` — MNIST IDX files and grid graphs.
* :mod:`toposci.domains.synthetic` — spaces with known Betti numbers.

Every validity check returns a :class:`Validity`. :mod:`toposci.domains.base` defines what a
domain supplies to the generative models, and :mod:`toposci.domains.generative` holds the
built-in domains' plug-ins.
"""

from toposci.domains.validity import Validity, count_reasons

__all__ = ["Validity", "count_reasons"]
