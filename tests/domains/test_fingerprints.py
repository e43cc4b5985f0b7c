from __future__ import annotations

import numpy as np
import pytest
from rdkit import DataStructs

from toposci.domains.fingerprints import morgan_fingerprints, tanimoto_distances


def _bits(on: list[int]) -> DataStructs.ExplicitBitVect:
    v = DataStructs.ExplicitBitVect(16)
    for b in on:
        v.SetBit(b)
    return v


def test_tanimoto_by_hand() -> None:
    # {1,2,3} vs {2,3,4}: 2 shared of 4 set -> similarity 1/2; vs {8}: 0 shared -> distance 1
    d = tanimoto_distances([_bits([1, 2, 3]), _bits([2, 3, 4]), _bits([8])])
    np.testing.assert_allclose(d, [[0, 0.5, 1], [0.5, 0, 1], [1, 1, 0]])


def test_identical_molecules_have_distance_zero() -> None:
    d = tanimoto_distances(["CCO", "OCC", "c1ccccc1"])
    assert d[0, 1] == 0.0 and d[0, 2] > 0.5
    assert np.allclose(d, d.T)


def test_invalid_smiles_is_named() -> None:
    with pytest.raises(ValueError, match="molecule 1"):
        morgan_fingerprints(["CCO", "C1CC"])
