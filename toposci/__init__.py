"""toposci: topology-aware deep generative models on scientific data.

Sub-packages:

* :mod:`toposci.topology` — batched, differentiable persistent homology and its vectorizations.
* :mod:`toposci.domains` — readers, featurizers and validity checks for molecules, proteins,
  social graphs, images and synthetic spaces, and their plug-ins for the generative models.
* :mod:`toposci.nn` — encoders and decoders.
* :mod:`toposci.models` — TopoVAE.
* :mod:`toposci.training` — recipes, the training loop, sampling.
* :mod:`toposci.metrics` — quality and topology fidelity of generated samples.
* :mod:`toposci.encoders` — :class:`MoleculeEncoder` and :class:`TopoMolEmbedder`: latent
  vectors of molecules for chemistry workflows and scikit-learn.

``import toposci`` stays light: the encoders (and torch, RDKit) load on first use.
"""

from typing import Any

__version__ = "0.1.0"

__all__ = ["MoleculeEncoder", "TopoMolEmbedder", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("MoleculeEncoder", "TopoMolEmbedder"):
        from toposci import encoders

        return getattr(encoders, name)
    raise AttributeError(f"module 'toposci' has no attribute {name!r}")
