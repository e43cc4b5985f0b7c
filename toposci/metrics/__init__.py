"""Metrics of generated samples.

* :mod:`toposci.metrics.molecules` — validity, uniqueness, novelty, internal diversity,
  scaffold and fragment similarity and FCD of generated molecules.
* :mod:`toposci.metrics.graphs` — degree and clustering MMDs of generated graphs (GraphRNN's
  Gaussian-EMD kernel, GRAN's Gaussian-TV kernel).
* :mod:`toposci.metrics.topology` — topology fidelity: distances between the persistence
  diagrams of a generated set and a reference set seen through the same descriptor, and
  along interpolation paths.
* :mod:`toposci.metrics.latent` — interpolation quality, OOD scores and AUC, adversarial
  robustness of latent codes (PGD).
* :mod:`toposci.metrics.images` — a Fréchet distance on features of a classifier trained by
  the project on MNIST (not the Inception FID).
* :mod:`toposci.metrics.ood_sets` — shifted sets for OOD detection: NCI molecules outside QM9,
  rotated / inverted digits, protein decoys.
"""

from toposci.metrics.graphs import clustering_mmd, degree_mmd, histogram_mmd
from toposci.metrics.images import (
    MNISTClassifier,
    cached_mnist_classifier,
    classifier_features,
    frechet_distance,
    gaussian_frechet_distance,
    image_frechet_distance,
    train_mnist_classifier,
)
from toposci.metrics.latent import (
    ATTACK_NORMS,
    PATH_KINDS,
    AttackCriterion,
    AttackResult,
    ClassChange,
    InterpolationResult,
    PropertyChange,
    ValidityLoss,
    domain_batches,
    encode_all,
    interpolate,
    latent_attack,
    latent_path,
    mahalanobis_distance,
    negative_elbo,
    ood_scores,
    pgd_latent,
    roc_auc,
)
from toposci.metrics.molecules import (
    MoleculeGenerationReport,
    fragment_similarity,
    frechet_chemnet_distance,
    internal_diversity,
    molecule_generation_report,
    scaffold_similarity,
)
from toposci.metrics.ood_sets import (
    DECOY_KINDS,
    ShiftedMolecules,
    invert_images,
    molecule_table,
    nci_molecules,
    protein_decoys,
    rotate_images,
)
from toposci.metrics.topology import (
    diagram_distances,
    path_topology,
    set_diagrams,
    smiles_diagram_distances,
)

__all__ = [
    "ATTACK_NORMS",
    "DECOY_KINDS",
    "PATH_KINDS",
    "AttackCriterion",
    "AttackResult",
    "ClassChange",
    "InterpolationResult",
    "MNISTClassifier",
    "MoleculeGenerationReport",
    "PropertyChange",
    "ShiftedMolecules",
    "ValidityLoss",
    "cached_mnist_classifier",
    "classifier_features",
    "clustering_mmd",
    "degree_mmd",
    "diagram_distances",
    "domain_batches",
    "encode_all",
    "fragment_similarity",
    "frechet_chemnet_distance",
    "frechet_distance",
    "gaussian_frechet_distance",
    "histogram_mmd",
    "image_frechet_distance",
    "internal_diversity",
    "interpolate",
    "invert_images",
    "latent_attack",
    "latent_path",
    "mahalanobis_distance",
    "molecule_generation_report",
    "molecule_table",
    "nci_molecules",
    "negative_elbo",
    "ood_scores",
    "path_topology",
    "pgd_latent",
    "protein_decoys",
    "roc_auc",
    "rotate_images",
    "scaffold_similarity",
    "set_diagrams",
    "smiles_diagram_distances",
    "train_mnist_classifier",
]
