"""Generation metrics of molecules (toposci.metrics.molecules)."""

from __future__ import annotations

import csv
import itertools
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from toposci.domains.molecules import DecodedMolecule, decode_graph, featurize, to_dense
from toposci.domains.validity import Validity
from toposci.metrics import (
    frechet_chemnet_distance,
    internal_diversity,
    molecule_generation_report,
)
from toposci.metrics.images import gaussian_frechet_distance
from toposci.metrics.molecules import fragment_similarity, scaffold_similarity


def canonical(smiles: str) -> str:
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles), isomericSmiles=False)


def ok(smiles: str) -> DecodedMolecule:
    return DecodedMolecule(Chem.MolFromSmiles(smiles), canonical(smiles), Validity.ok())


def failed(reason: str) -> DecodedMolecule:
    return DecodedMolecule(None, None, Validity.fail(reason))


def tanimoto(a: str, b: str) -> float:
    """RDKit's own Tanimoto similarity of Morgan fingerprints (radius 2, 2048 bits)."""
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    fa, fb = (gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in (a, b))
    return DataStructs.TanimotoSimilarity(fa, fb)


# ----------------------------------------------------------------- hand-counted reports


def test_four_generated_three_valid_two_unique_one_novel() -> None:
    decoded = [ok("OCC"), ok("CCO"), ok("c1ccccc1"), failed("valence")]
    report = molecule_generation_report(decoded, training_smiles={"CCO", "CC"})
    assert report.n_generated == 4
    assert report.validity == 3 / 4
    assert report.uniqueness == 2 / 3  # ethanol (twice) and benzene
    assert report.novelty == 1 / 2  # benzene is new, ethanol is in the training set
    t = tanimoto("CCO", "c1ccccc1")
    assert t == 0.0  # no shared environment: IntDiv1 = 1 - (1 + 1 + 0 + 0) / 4
    assert report.internal_diversity == pytest.approx(0.5)
    assert report.reasons == {"ok": 3, "valence": 1}
    assert report.validity_valence_aware is None and report.fcd is None


def test_disconnected_samples_are_invalid_and_counted() -> None:
    decoded = [ok("CC"), failed("disconnected"), failed("disconnected"), failed("empty"),
               ok("CC#N")]
    report = molecule_generation_report(
        decoded, training_smiles=[], decoded_valence_aware=[ok("CC")] * 4 + [failed("empty")])
    assert report.validity == 2 / 5
    assert report.validity_valence_aware == 4 / 5
    assert report.reasons == {"disconnected": 2, "empty": 1, "ok": 2}
    assert report.uniqueness == 1.0 and report.novelty == 1.0  # empty training set
    t = tanimoto("CC", "CC#N")
    assert 0 < t < 1
    assert report.internal_diversity == pytest.approx(1 - (2 + 2 * t) / 4)


def test_nothing_valid_gives_nan_and_json_null() -> None:
    report = molecule_generation_report([failed("valence")] * 3, training_smiles={"C"})
    assert report.validity == 0.0
    assert math.isnan(report.uniqueness) and math.isnan(report.novelty)
    assert math.isnan(report.internal_diversity)
    out = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert out == {"n_generated": 3, "validity": 0.0, "validity_valence_aware": None,
                   "uniqueness": None, "novelty": None, "internal_diversity": None,
                   "fcd": None, "reasons": {"valence": 3}, "scaffold_similarity": None,
                   "fragment_similarity": None}


def test_report_input_errors() -> None:
    with pytest.raises(ValueError, match="at least one"):
        molecule_generation_report([], training_smiles=set())
    with pytest.raises(ValueError, match="same 2 samples"):
        molecule_generation_report([ok("C")] * 2, training_smiles=set(),
                                   decoded_valence_aware=[ok("C")])
    with pytest.raises(ValueError, match="canonical"):
        molecule_generation_report([ok("C")], training_smiles=["OCC"])  # canonical is CCO
    with pytest.raises(ValueError, match="canonical"):
        molecule_generation_report([ok("C")], training_smiles=["C1CC"])  # not a molecule
    with pytest.raises(ValueError, match="fcd=True needs reference_smiles"):
        molecule_generation_report([ok("C")], training_smiles=set(), fcd=True)
    with pytest.raises(ValueError, match="reference_smiles is empty"):
        molecule_generation_report([ok("C")], training_smiles=set(), reference_smiles=[])


def test_fcd_without_fcd_torch_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fcd_torch", None)  # makes `import fcd_torch` fail
    with pytest.raises(ImportError, match="pip install"):
        frechet_chemnet_distance(["CC", "CCO"], ["CC", "CCN"])


# ----------------------------------------------------------------- internal diversity


def test_internal_diversity_counts_self_pairs() -> None:
    assert internal_diversity(["CCO"]) == 0.0
    assert internal_diversity(["CCO", "CCO"]) == 0.0
    smiles = ["CCO", "CC#N", "c1ccccc1"]
    pair_sum = sum(tanimoto(a, b) for a, b in itertools.combinations(smiles, 2))
    assert internal_diversity(smiles) == pytest.approx(1 - (3 + 2 * pair_sum) / 9)
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    assert internal_diversity(mols) == pytest.approx(internal_diversity(smiles))


def test_internal_diversity_subsample_is_a_seeded_subset() -> None:
    smiles = ["C", "CC", "CCC", "CCO", "CC#N", "c1ccccc1", "CC(=O)O", "OCCO", "CN", "FC(F)F"]
    values = {round(internal_diversity(list(s)), 12)
              for s in itertools.combinations(smiles, 3)}
    got = internal_diversity(smiles, max_molecules=3, seed=7)
    assert round(got, 12) in values
    assert internal_diversity(smiles, max_molecules=3, seed=7) == got
    assert internal_diversity(smiles, max_molecules=10) == internal_diversity(smiles)
    with pytest.raises(ValueError, match="at least one"):
        internal_diversity([])
    with pytest.raises(ValueError, match="max_molecules"):
        internal_diversity(smiles, max_molecules=0)


# ----------------------------------------------------------------- MOSES Scaf and Frag
# Bemis-Murcko scaffolds by hand: naphthalene and 2-methylnaphthalene -> naphthalene (2 rings),
# decalin -> decalin, biphenyl -> biphenyl (2 rings), benzene / toluene -> benzene (1 ring),
# acyclic molecules -> no scaffold.
NAPHTHALENE, DECALIN, BIPHENYL = "c1ccc2ccccc2c1", "C1CCC2CCCCC2C1", "c1ccc(-c2ccccc2)cc1"


def test_scaffold_similarity_by_hand() -> None:
    gen = [NAPHTHALENE, "Cc1ccc2ccccc2c1", "c1ccccc1"]
    ref = [NAPHTHALENE, DECALIN, BIPHENYL, "CCO"]
    # min_rings=2 (MOSES): gen counts {naphthalene: 2}, ref {naphthalene: 1, decalin: 1,
    # biphenyl: 1} -> cos = 2 / (2 * sqrt(3))
    assert scaffold_similarity(gen, ref) == pytest.approx(1 / math.sqrt(3))
    # min_rings=1 adds benzene to gen: {naphthalene: 2, benzene: 1} -> 2 / (sqrt(5) sqrt(3))
    assert scaffold_similarity(gen, ref, min_rings=1) == pytest.approx(2 / math.sqrt(15))
    assert scaffold_similarity([NAPHTHALENE], ["Cc1ccc2ccccc2c1"]) == pytest.approx(1.0)
    assert scaffold_similarity([NAPHTHALENE], [DECALIN]) == 0.0
    assert math.isnan(scaffold_similarity(["CCO", "c1ccccc1"], ref))  # nothing with 2 rings
    with pytest.raises(ValueError, match="min_rings"):
        scaffold_similarity(gen, ref, min_rings=0)


def test_fragment_similarity_by_hand() -> None:
    # BRICS cuts the aryl ether of anisole into [16*]c1ccccc1 + [3*]OC, the ring-ring bond of
    # biphenyl into two [16*]c1ccccc1, and the ether of ethyl methyl ether into [3*]OC +
    # [4*]CC; ethane has no BRICS bond and stays whole.
    gen = ["COc1ccccc1", "CC"]  # {[16*]Ph: 1, [3*]OC: 1, CC: 1}
    ref = [BIPHENYL, "CCOC"]  # {[16*]Ph: 2, [3*]OC: 1, [4*]CC: 1}
    assert fragment_similarity(gen, ref) == pytest.approx(3 / (math.sqrt(3) * math.sqrt(6)))
    mols = [Chem.MolFromSmiles(s) for s in gen]
    assert fragment_similarity(mols, ref) == pytest.approx(1 / math.sqrt(2))
    assert fragment_similarity(["CC", "CC"], ["CC"]) == pytest.approx(1.0)  # scale-free
    assert fragment_similarity(["CC"], ["CCO"]) == 0.0
    with pytest.raises(ValueError, match="at least one"):
        fragment_similarity([], ref)
    with pytest.raises(ValueError, match="molecule 1 is not a valid SMILES"):
        fragment_similarity(["CC", "C1CC"], ref)


def test_report_with_a_reference_set() -> None:
    decoded = [ok(NAPHTHALENE), ok(NAPHTHALENE), ok("COc1ccccc1"), failed("valence")]
    ref = [NAPHTHALENE, DECALIN, BIPHENYL, "CCOC"]
    report = molecule_generation_report(decoded, training_smiles=set(), reference_smiles=ref)
    # Scaf over the valid samples with repeats: {naphthalene: 2} vs {naph, decalin, biphenyl}
    assert report.scaffold_similarity == pytest.approx(1 / math.sqrt(3))
    # Frag: {naphthalene: 2, [16*]Ph: 1, [3*]OC: 1} vs {naphthalene: 1, decalin: 1,
    # [16*]Ph: 2, [3*]OC: 1, [4*]CC: 1} -> (2 + 2 + 1) / (sqrt(6) sqrt(8))
    assert report.fragment_similarity == pytest.approx(5 / (math.sqrt(6) * math.sqrt(8)))
    report = molecule_generation_report(decoded, training_smiles=set(), reference_smiles=ref,
                                        scaffold_min_rings=1)
    # the anisole sample adds benzene: {naphthalene: 2, benzene: 1} -> 2 / (sqrt(5) sqrt(3))
    assert report.scaffold_similarity == pytest.approx(2 / math.sqrt(15))
    nothing = molecule_generation_report([failed("empty")], training_smiles=set(),
                                         reference_smiles=ref)
    assert math.isnan(nothing.scaffold_similarity) and math.isnan(nothing.fragment_similarity)
    assert nothing.to_dict()["scaffold_similarity"] is None


# ----------------------------------------------------------------- FCD (needs fcd_torch)


# fcd_torch's own function, the reference here, passes SciPy's deprecated sqrtm(disp=...)
@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning")
@pytest.mark.parametrize("n", [40, 5])  # full-rank covariances, and rank 4 < D = 8
def test_frechet_distance_agrees_with_fcd_torch(n: int) -> None:
    fcd_torch = pytest.importorskip("fcd_torch")
    rng = np.random.default_rng(n)
    a = rng.standard_normal((n, 8)) @ rng.standard_normal((8, 8))  # (n, 8) correlated samples
    b = rng.standard_normal((n, 8)) + 0.5
    stats = [(x.mean(axis=0), np.cov(x, rowvar=False)) for x in (a, b)]
    expected = fcd_torch.calculate_frechet_distance(*stats[0], *stats[1])
    assert gaussian_frechet_distance(*stats[0], *stats[1]) == pytest.approx(expected, rel=1e-6)
    # sqrt of the rounding noise on zero eigenvalues: ~1e-7 when the covariance is singular
    assert gaussian_frechet_distance(*stats[0], *stats[0]) == pytest.approx(0.0, abs=1e-6)


def shipped_smiles(shipped: Path, split: str) -> list[str]:
    with open(shipped / "qm9" / "qm9_sample.csv", newline="") as f:
        return [canonical(r["smiles"]) for r in csv.DictReader(f) if r["gdss_split"] == split]


def shuffled_atoms(smiles: list[str], seed: int) -> list[DecodedMolecule]:
    """Each molecule's bond graph with its atom types permuted at random, decoded as is."""
    gen = torch.Generator().manual_seed(seed)
    dense = to_dense([featurize(Chem.MolFromSmiles(s)) for s in smiles])
    out = []
    for atom_type, bond, mask in zip(dense.atom_type, dense.bond, dense.mask, strict=True):
        n = int(mask.sum())
        atom_type = atom_type.clone()
        atom_type[:n] = atom_type[:n][torch.randperm(n, generator=gen)]
        out.append(decode_graph(atom_type, bond))
    return out


@pytest.mark.slow
def test_fcd_orders_sets_by_similarity(shipped: Path) -> None:
    pytest.importorskip("fcd_torch")
    train, test = shipped_smiles(shipped, "train"), shipped_smiles(shipped, "test")
    assert abs(frechet_chemnet_distance(train[:100], train[:100])) < 1e-4
    same_distribution = frechet_chemnet_distance(train[:200], test)
    decoded = shuffled_atoms(train[200:800], seed=0)
    report = molecule_generation_report(decoded, training_smiles=set(train),
                                        reference_smiles=test, fcd=True)
    assert report.reasons["ok"] >= 150  # enough valid shuffled molecules
    assert report.fcd > same_distribution  # 5.0 > 3.7 with RDKit 2026.9, fcd_torch 1.0.7
