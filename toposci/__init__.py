"""toposci: topology-aware deep generative models on scientific data.

Sub-packages:

* :mod:`toposci.topology` — batched, differentiable persistent homology and its vectorizations.
* :mod:`toposci.domains` — readers, featurizers and validity checks for molecules, proteins,
  social graphs, images and synthetic spaces.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
