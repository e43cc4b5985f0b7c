"""Generative models, generic over their parts (a domain supplies networks and IO).

* :class:`TopoVAE` — a VAE with a differentiable topological term (γ = 0: plain VAE;
  β ≠ 1: β-VAE).
* :class:`TopoDiffusionLite` — ε-prediction diffusion with a topological term on predicted
  clean samples; DDPM and DDIM samplers; noise schedules in :mod:`toposci.models.schedules`;
  latent diffusion over a trained TopoVAE in :mod:`toposci.models.latent_diffusion`.
"""

from toposci.models.diffusion import (
    SAMPLERS,
    DiffusionIO,
    TensorDiffusionIO,
    TopoDiffusionLite,
    build_diffusion,
    ddim_steps,
)
from toposci.models.latent_diffusion import (
    LatentCodes,
    LatentIO,
    build_latent_diffusion,
    encode_dataset,
)
from toposci.models.schedules import (
    SCHEDULES,
    NoiseSchedule,
    cosine_betas,
    linear_betas,
    make_schedule,
)
from toposci.models.topovae import LossTerms, ModelIO, TensorIO, TopoVAE

__all__ = [
    "SAMPLERS",
    "SCHEDULES",
    "DiffusionIO",
    "LatentCodes",
    "LatentIO",
    "LossTerms",
    "ModelIO",
    "NoiseSchedule",
    "TensorDiffusionIO",
    "TensorIO",
    "TopoDiffusionLite",
    "TopoVAE",
    "build_diffusion",
    "build_latent_diffusion",
    "cosine_betas",
    "ddim_steps",
    "encode_dataset",
    "linear_betas",
    "make_schedule",
]
