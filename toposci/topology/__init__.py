"""The topology engine: batched, differentiable persistent homology in torch.

Combinatorics come from a persistence backend run on a detached copy of the input; births and
deaths are gathered back from the torch tensor by index, so diagrams are differentiable functions
of coordinates, distances, pixel values, edge weights and node values.

* Diagrams: :class:`Diagrams` (values ``(B, M, 2)`` + mask ``(B, M)`` + homology dimension).
* Filtrations: :func:`rips_diagrams`, :func:`knn_diagrams`, :func:`cubical_diagrams`,
  :func:`alpha_diagrams`, :func:`clique_diagrams`, :func:`lower_star_diagrams`.
* Vectorizations: :func:`landscapes`, :func:`persistence_images`, :func:`betti_curves`,
  :func:`silhouettes`.
* Distances: :func:`bottleneck_distance`, :func:`wasserstein_distance`,
  :func:`landscape_distance`.
* Losses: :class:`LandscapeLoss`, :class:`PersistenceImageLoss`, :class:`SignatureLoss`,
  :class:`TopoRegularizer`.
"""

from toposci.topology.alpha import alpha_diagrams
from toposci.topology.cubical import cubical_diagrams
from toposci.topology.diagrams import Diagrams
from toposci.topology.distances import bottleneck_distance, landscape_distance, wasserstein_distance
from toposci.topology.graph import clique_diagrams, lower_star_diagrams
from toposci.topology.knn import knn_diagrams, knn_graph, knn_pairs
from toposci.topology.losses import (
    LandscapeLoss,
    PersistenceImageLoss,
    SignatureLoss,
    TopoRegularizer,
)
from toposci.topology.rips import (
    BACKENDS,
    PersistencePairs,
    gather_diagrams,
    pairwise_distances,
    rips_diagrams,
    rips_pairs,
)
from toposci.topology.vectorize import betti_curves, landscapes, persistence_images, silhouettes

__all__ = [
    "BACKENDS",
    "Diagrams",
    "LandscapeLoss",
    "PersistenceImageLoss",
    "PersistencePairs",
    "SignatureLoss",
    "TopoRegularizer",
    "alpha_diagrams",
    "betti_curves",
    "bottleneck_distance",
    "clique_diagrams",
    "cubical_diagrams",
    "gather_diagrams",
    "knn_diagrams",
    "knn_graph",
    "knn_pairs",
    "landscape_distance",
    "landscapes",
    "lower_star_diagrams",
    "pairwise_distances",
    "persistence_images",
    "rips_diagrams",
    "rips_pairs",
    "silhouettes",
    "wasserstein_distance",
]
