"""Trained encoders that other workflows import: molecules -> latent vectors.

* :class:`MoleculeEncoder` — ``MoleculeEncoder.load("qm9").encode(smiles)`` -> ``(N, d)``
  posterior means of a TopoVAE; the compact encoder file (:mod:`toposci.encoders.format`) and
  its model card (:mod:`toposci.encoders.card`).
* :class:`TopoMolEmbedder` — the same as a scikit-learn transformer.
"""

from toposci.encoders.molecule_encoder import (
    PRETRAINED,
    Encoded,
    EncodeFailure,
    MoleculeEncoder,
    pretrained_path,
)
from toposci.encoders.sklearn import TopoMolEmbedder

__all__ = ["PRETRAINED", "EncodeFailure", "Encoded", "MoleculeEncoder", "TopoMolEmbedder",
           "pretrained_path"]
