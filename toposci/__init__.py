"""toposci: topology-aware deep generative models on scientific data.

Sub-packages:

* :mod:`toposci.topology` — batched, differentiable persistent homology and its vectorizations.
* :mod:`toposci.domains` — readers, featurizers and validity checks for molecules, proteins,
  social graphs, images and synthetic spaces, and their plug-ins for the generative models.
* :mod:`toposci.nn` — encoders and decoders.
* :mod:`toposci.models` — TopoVAE.
* :mod:`toposci.training` — recipes, the training loop, sampling.
* :mod:`toposci.metrics` — quality and topology fidelity of generated samples.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
