"""Generative models, generic over their parts (a domain supplies encoder, decoder and IO).

* :class:`TopoVAE` — a VAE with a differentiable topological term (γ = 0: plain VAE;
  β ≠ 1: β-VAE).
"""

from toposci.models.topovae import LossTerms, ModelIO, TensorIO, TopoVAE

__all__ = ["LossTerms", "ModelIO", "TensorIO", "TopoVAE"]
