"""Morgan fingerprints and Tanimoto distances: the chemist's descriptor view of a molecule set."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rdkit import Chem, DataStructs

__all__ = ["morgan_fingerprints", "tanimoto_distances"]


def morgan_fingerprints(molecules: Sequence[str | Chem.Mol], *, radius: int = 2,
                        n_bits: int = 2048) -> list[DataStructs.ExplicitBitVect]:
    """Morgan (ECFP-like) bit fingerprints of SMILES strings or RDKit molecules.

    Args:
        molecules: ``N`` SMILES strings or ``Mol`` objects.
        radius: Morgan radius (2 is ECFP4).
        n_bits: fingerprint length.

    Raises:
        ValueError: a SMILES string RDKit cannot parse (its position is named).
    """
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    fps = []
    for i, m in enumerate(molecules):
        mol = Chem.MolFromSmiles(m) if isinstance(m, str) else m
        if mol is None:
            raise ValueError(f"molecule {i} is not a valid SMILES: {m!r}")
        fps.append(gen.GetFingerprint(mol))
    return fps


def tanimoto_distances(molecules: Sequence[str | Chem.Mol] | Sequence[DataStructs.ExplicitBitVect],
                       *, radius: int = 2, n_bits: int = 2048) -> np.ndarray:
    """Pairwise Tanimoto distances ``1 - |a & b| / |a | b|`` of Morgan fingerprints.

    Args:
        molecules: ``N`` SMILES, molecules, or fingerprints already computed.

    Returns:
        ``(N, N)`` float64 distance matrix with a zero diagonal.
    """
    from rdkit import DataStructs

    fps = list(molecules)
    if fps and not isinstance(fps[0], DataStructs.ExplicitBitVect):
        fps = morgan_fingerprints(fps, radius=radius, n_bits=n_bits)
    n = len(fps)
    dist = np.zeros((n, n))
    for i in range(1, n):
        sims = DataStructs.BulkTanimotoSimilarity(fps[i], fps[:i])
        dist[i, :i] = 1.0 - np.asarray(sims)
    dist += dist.T
    return dist
