"""Metrics of generated samples.

* :mod:`toposci.metrics.molecules` — validity, uniqueness, novelty, internal diversity and FCD
  of generated molecules.
* :mod:`toposci.metrics.graphs` — degree and clustering MMDs of generated graphs (GraphRNN's
  Gaussian-EMD kernel, GRAN's Gaussian-TV kernel).
* :mod:`toposci.metrics.topology` — topology fidelity: distances between the persistence
  diagrams of a generated set and a reference set seen through the same descriptor.
"""

from toposci.metrics.graphs import clustering_mmd, degree_mmd, histogram_mmd
from toposci.metrics.molecules import (
    MoleculeGenerationReport,
    frechet_chemnet_distance,
    internal_diversity,
    molecule_generation_report,
)
from toposci.metrics.topology import diagram_distances, set_diagrams, smiles_diagram_distances

__all__ = [
    "MoleculeGenerationReport",
    "clustering_mmd",
    "degree_mmd",
    "diagram_distances",
    "frechet_chemnet_distance",
    "histogram_mmd",
    "internal_diversity",
    "molecule_generation_report",
    "set_diagrams",
    "smiles_diagram_distances",
]
