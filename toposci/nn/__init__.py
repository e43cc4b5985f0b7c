"""Encoders and decoders that the generic models plug together per domain.

Every encoder is an ``nn.Module`` with an ``out_features`` attribute whose ``forward`` returns one
feature vector ``(B, out_features)`` per sample; every decoder maps codes ``z (B, latent_dim)`` to
the domain's output.

* Vectors (synthetic spaces): :class:`MLP`.
* Graphs: :class:`GINEEncoder` (molecules, bond features), :class:`GINEncoder` (social graphs);
  :class:`OneShotGraphDecoder` -> :class:`GraphLogits`, :func:`graph_reconstruction_loss`,
  :func:`symmetric_edge_probabilities`.
* Point clouds (proteins): :class:`PointNetEncoder`, :class:`DGCNNEncoder`, :func:`knn_indices`;
  :class:`PointSetDecoder`, :func:`chamfer_distance`.
* Images: :class:`CNNEncoder`, :class:`DeconvDecoder`.
* Diffusion denoisers ``(x_t, t) -> ε̂``: :class:`MLPDenoiser` (vectors), :class:`UNetDenoiser`
  (images), :class:`SinusoidalTimeEmbedding`, :func:`make_denoiser`.
"""

from toposci.nn.denoisers import (
    MLPDenoiser,
    SinusoidalTimeEmbedding,
    UNetDenoiser,
    make_denoiser,
)
from toposci.nn.graph_decoders import (
    DIAGONAL_LOGIT,
    GraphLogits,
    OneShotGraphDecoder,
    graph_reconstruction_loss,
    symmetric_edge_probabilities,
)
from toposci.nn.graph_encoders import GINEEncoder, GINEncoder
from toposci.nn.image import CNNEncoder, DeconvDecoder
from toposci.nn.mlp import ACTIVATIONS, MLP, make_activation
from toposci.nn.point_decoders import PointSetDecoder, chamfer_distance
from toposci.nn.point_encoders import DGCNNEncoder, PointNetEncoder, knn_indices

__all__ = [
    "ACTIVATIONS",
    "DIAGONAL_LOGIT",
    "MLP",
    "CNNEncoder",
    "DGCNNEncoder",
    "DeconvDecoder",
    "GINEEncoder",
    "GINEncoder",
    "GraphLogits",
    "MLPDenoiser",
    "OneShotGraphDecoder",
    "PointNetEncoder",
    "PointSetDecoder",
    "SinusoidalTimeEmbedding",
    "UNetDenoiser",
    "chamfer_distance",
    "graph_reconstruction_loss",
    "knn_indices",
    "make_activation",
    "make_denoiser",
    "symmetric_edge_probabilities",
]
