"""Quality of generated molecules: validity, uniqueness, novelty, diversity, Scaf, Frag, FCD.

Definitions (``n`` generated samples, ``V`` the canonical SMILES of the valid ones, a list with
repeats, ``U = set(V)``, ``T`` the training set's canonical SMILES):

* **validity** ``= |V| / n``: a sample is valid *without correction* when
  :func:`~toposci.domains.molecules.decode_graph` says ``"ok"``: RDKit sanitizes it and it is a
  single connected component. This is stricter than GDSS's "validity w/o correction" (Jo et
  al., ICML 2022, following MoFlow), which checks valences only — after giving an N / O / S atom
  with one bond too many a +1 charge — and keeps the largest fragment afterwards, so a
  disconnected sample counts as valid there. The report's ``reasons`` give that number too:
  ``(reasons["ok"] + reasons["disconnected"]) / n`` (with our neutral atoms).
* **validity_valence_aware**: the same fraction for the same samples decoded by
  :func:`~toposci.domains.molecule_sampling.valence_aware_decode` (validity *with* correction).
* **uniqueness** ``= |U| / |V|``.
* **novelty** ``= |U \\ T| / |U|``: unique valid molecules not in the training set, over unique
  valid molecules — the definition of MOSES's ``novelty`` (Polykovskiy et al., Front.
  Pharmacol. 2020), which GDSS reports.
* **internal diversity** ``= 1 - (1 / |S|^2) sum_{x, y in S} Tanimoto(x, y)`` over Morgan
  fingerprints (radius 2, 2,048 bits) of ``S``, the unique valid molecules or a seeded subsample
  of them: MOSES's ``IntDiv1``, whose mean runs over all ordered pairs *including* ``x = y``
  (MOSES's own fingerprints have 1,024 bits).
* **scaffold similarity** (MOSES's ``Scaf``) between ``V`` (repeats included) and a reference
  set ``R`` (e.g. the test split): the cosine similarity of the two count vectors of
  Bemis–Murcko scaffolds (RDKit ``MurckoScaffold.GetScaffoldForMol``, canonical SMILES), indexed
  by the union of the scaffolds seen, where a molecule whose scaffold has fewer than
  ``min_rings`` rings (2, as MOSES counts) contributes nothing. Most QM9 molecules have at
  most one ring, so on QM9 the default counts few scaffolds; ``min_rings=1`` counts every
  ring system.
* **fragment similarity** (MOSES's ``Frag``): the same cosine over counts of BRICS fragments
  (RDKit ``FragmentOnBRICSBonds``, each fragment's canonical SMILES with its numbered dummy
  atoms, a fragment occurring twice in one molecule counted twice); a molecule without a BRICS
  bond is one fragment, itself. Either similarity is NaN when one side has nothing to count.
* **FCD**, the Fréchet ChemNet Distance (Preuer et al., J. Chem. Inf. Model. 2018) between the
  valid generated molecules (``V``, repeats included) and a reference set, on ChemNet
  activations from ``fcd_torch`` (MIT; ships its ChemNet weights, works offline) — optional.

Uniqueness, novelty, diversity, Scaf, Frag and FCD are computed from the uncorrected decodes, as the
definitions above say. GDSS computes them on the corrected molecules instead; pass the
corrected decodes as ``decoded`` to get those. A metric over an empty set (uniqueness,
novelty or diversity when nothing is valid) is NaN.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from toposci._optional import require
from toposci.domains.fingerprints import morgan_fingerprints, tanimoto_distances
from toposci.domains.validity import count_reasons
from toposci.metrics.images import frechet_distance

if TYPE_CHECKING:
    from rdkit import Chem

    from toposci.domains.molecules import DecodedMolecule

__all__ = [
    "MoleculeGenerationReport",
    "fragment_similarity",
    "frechet_chemnet_distance",
    "internal_diversity",
    "molecule_generation_report",
    "scaffold_similarity",
]

_CANONICAL_CHECKS = 100  # training SMILES checked for canonical form


@dataclass(frozen=True)
class MoleculeGenerationReport:
    """The standard metrics of a batch of generated molecules (module docstring: definitions).

    Attributes:
        n_generated: number of samples ``n``.
        validity: fraction valid without correction.
        validity_valence_aware: fraction valid after valence-aware decoding, or None.
        uniqueness: unique valid / valid (NaN when nothing is valid).
        novelty: unique valid not in the training set / unique valid (NaN when nothing is
            valid).
        internal_diversity: MOSES IntDiv1 of the unique valid molecules (NaN when nothing is
            valid).
        fcd: Fréchet ChemNet Distance to the reference set, or None when not asked for.
        reasons: number of samples per validity reason of the uncorrected decodes (``"ok"``,
            ``"valence"``, ``"disconnected"``, ...); sums to ``n_generated``.
        scaffold_similarity: MOSES Scaf against the reference set (None without one, NaN
            when either side has no scaffold to count).
        fragment_similarity: MOSES Frag against the reference set (None without one, NaN
            when nothing is valid).
    """

    n_generated: int
    validity: float
    validity_valence_aware: float | None
    uniqueness: float
    novelty: float
    internal_diversity: float
    fcd: float | None
    reasons: dict[str, int]
    scaffold_similarity: float | None = None
    fragment_similarity: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields; NaN becomes None (JSON has no NaN)."""
        out = asdict(self)
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in out.items()}


def internal_diversity(molecules: Sequence[str | Chem.Mol], *, max_molecules: int = 2000,
                       seed: int = 0, radius: int = 2, n_bits: int = 2048) -> float:
    """MOSES IntDiv1: one minus the mean Tanimoto similarity over all ordered pairs.

    ``1 - (1 / |S|^2) sum_{x, y in S} Tanimoto(x, y)``, self-pairs included (so one molecule
    gives 0), over Morgan bit fingerprints.

    Args:
        molecules: ``N`` SMILES or RDKit molecules; pass unique ones for the usual metric.
        max_molecules: above this many, a uniform subsample of this size without replacement,
            drawn with ``seed``, is used (the cost grows as its square).
        seed: seed of the subsample.
        radius: Morgan radius (2 is ECFP4).
        n_bits: fingerprint length.

    Returns:
        Internal diversity in ``[0, 1]``.

    Raises:
        ValueError: no molecules, ``max_molecules < 1``, or a SMILES RDKit cannot parse.
    """
    if len(molecules) == 0:
        raise ValueError("internal_diversity needs at least one molecule")
    if max_molecules < 1:
        raise ValueError(f"max_molecules must be at least 1, got {max_molecules}")
    chosen = list(molecules)
    if len(chosen) > max_molecules:
        keep = np.random.default_rng(seed).choice(len(chosen), max_molecules, replace=False)
        chosen = [chosen[k] for k in np.sort(keep)]
    fps = morgan_fingerprints(chosen, radius=radius, n_bits=n_bits)
    return float(tanimoto_distances(fps).mean())  # the zero diagonal is the x = y terms


def frechet_chemnet_distance(generated: Sequence[str], reference: Sequence[str], *,
                             device: str = "cpu") -> float:
    """Fréchet ChemNet Distance between two sets of SMILES.

    ``||mu_g - mu_r||^2 + Tr(S_g) + Tr(S_r) - 2 Tr((S_g S_r)^(1/2))`` for the means and
    covariances of ChemNet's penultimate activations. The activations come from ``fcd_torch``
    (its ChemNet weights and SMILES encoding, RDKit-canonicalized as it does); the distance
    itself is :func:`~toposci.metrics.images.frechet_distance`, whose trace of the matrix square
    root equals ``fcd_torch``'s ``scipy.linalg.sqrtm`` route in exact arithmetic, is faster, and
    stays real when the covariances are singular (fewer molecules than ChemNet's 512 features).

    Args:
        generated: SMILES of the generated molecules (at least 2).
        reference: SMILES of the reference molecules, e.g. the test split (at least 2).
        device: torch device ChemNet runs on.

    Returns:
        The FCD (0 for identical sets, up to float rounding).

    Raises:
        ImportError: ``fcd_torch`` is not installed (the message says how to install it).
        ValueError: a set with fewer than 2 molecules, or a SMILES that does not parse.
    """
    for name, smiles in (("generated", generated), ("reference", reference)):
        if len(smiles) < 2:
            raise ValueError(f"FCD needs at least 2 {name} molecules, got {len(smiles)}")
    chemnet = require("fcd_torch").FCD(device=device, n_jobs=1)
    acts = [chemnet.get_predictions(list(smiles)).astype(np.float64)  # (n, 512) each
            for smiles in (generated, reference)]
    return frechet_distance(*acts)


def _as_molecules(molecules: Sequence[str | Chem.Mol], name: str) -> list[Chem.Mol]:
    """RDKit molecules of SMILES or molecules; ValueError on an empty set or a bad SMILES."""
    from rdkit import Chem

    if len(molecules) == 0:
        raise ValueError(f"{name} needs at least one molecule")
    out = []
    for i, m in enumerate(molecules):
        mol = Chem.MolFromSmiles(m) if isinstance(m, str) else m
        if mol is None:
            raise ValueError(f"{name}: molecule {i} is not a valid SMILES: {m!r}")
        out.append(mol)
    return out


def _scaffold_counts(mols: Sequence[Chem.Mol], min_rings: int) -> Counter[str]:
    """Bemis–Murcko scaffold SMILES with at least ``min_rings`` rings, counted over ``mols``."""
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    counts: Counter[str] = Counter()
    for mol in mols:
        scaffold = MurckoScaffold.GetScaffoldForMol(mol)
        if scaffold.GetNumAtoms() and scaffold.GetRingInfo().NumRings() >= min_rings:
            counts[Chem.MolToSmiles(scaffold)] += 1
    return counts


def _fragment_counts(mols: Sequence[Chem.Mol]) -> Counter[str]:
    """BRICS fragment SMILES (with their dummy atoms), counted over ``mols`` with repeats."""
    from rdkit import Chem

    counts: Counter[str] = Counter()
    for mol in mols:
        counts.update(Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(mol)).split("."))
    return counts


def _count_cosine(a: Mapping[str, int], b: Mapping[str, int]) -> float:
    """Cosine similarity of two count vectors indexed by their keys' union (NaN if one is
    empty)."""
    if not a or not b:
        return math.nan
    keys = sorted(set(a) | set(b))
    va, vb = (np.array([c.get(k, 0) for k in keys], dtype=np.float64) for c in (a, b))
    return float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb)))


def scaffold_similarity(generated: Sequence[str | Chem.Mol],
                        reference: Sequence[str | Chem.Mol], *, min_rings: int = 2) -> float:
    """MOSES Scaf: cosine similarity of the Bemis–Murcko scaffold count vectors of two sets.

    Each molecule adds one to the count of its scaffold's canonical SMILES when the scaffold
    has at least ``min_rings`` rings (MOSES: 2); the two count vectors are indexed by the union
    of scaffolds, and their cosine is returned.

    Args:
        generated: ``N`` SMILES or RDKit molecules (the valid samples, repeats included).
        reference: ``M`` SMILES or molecules (e.g. the test split).
        min_rings: scaffolds with fewer rings are not counted.

    Returns:
        Similarity in ``[0, 1]``; NaN when either set has no scaffold with ``min_rings`` rings.

    Raises:
        ValueError: an empty set, a SMILES RDKit cannot parse, or ``min_rings < 1``.
    """
    if min_rings < 1:
        raise ValueError(f"min_rings must be at least 1, got {min_rings}")
    gen, ref = _as_molecules(generated, "generated"), _as_molecules(reference, "reference")
    return _count_cosine(_scaffold_counts(gen, min_rings), _scaffold_counts(ref, min_rings))


def fragment_similarity(generated: Sequence[str | Chem.Mol],
                        reference: Sequence[str | Chem.Mol]) -> float:
    """MOSES Frag: cosine similarity of the BRICS fragment count vectors of two sets.

    Each molecule is cut at its BRICS bonds (RDKit ``FragmentOnBRICSBonds``) and every piece's
    canonical SMILES, numbered dummy atoms included, adds one to its count.

    Args:
        generated: ``N`` SMILES or RDKit molecules (the valid samples, repeats included).
        reference: ``M`` SMILES or molecules (e.g. the test split).

    Returns:
        Similarity in ``[0, 1]``.

    Raises:
        ValueError: an empty set or a SMILES RDKit cannot parse.
    """
    gen, ref = _as_molecules(generated, "generated"), _as_molecules(reference, "reference")
    return _count_cosine(_fragment_counts(gen), _fragment_counts(ref))


def _check_canonical(training_smiles: Collection[str]) -> None:
    """Raise unless the first training SMILES are RDKit canonical without stereo."""
    from rdkit import Chem, rdBase

    with rdBase.BlockLogs():
        for text in itertools.islice(training_smiles, _CANONICAL_CHECKS):
            mol = Chem.MolFromSmiles(text) if isinstance(text, str) else None
            canonical = None if mol is None else Chem.MolToSmiles(mol, isomericSmiles=False)
            if canonical != text:
                raise ValueError(
                    f"training_smiles must be RDKit canonical SMILES without stereo, as "
                    f"QM9(...).smiles holds them; got {text!r} (canonical: {canonical!r})")


def _fraction(part: int, whole: int) -> float:
    return part / whole if whole else math.nan


def molecule_generation_report(
    decoded: Sequence[DecodedMolecule],
    *,
    training_smiles: Collection[str],
    decoded_valence_aware: Sequence[DecodedMolecule] | None = None,
    reference_smiles: Sequence[str] | None = None,
    fcd: bool = False,
    scaffold_min_rings: int = 2,
    max_diversity_molecules: int = 2000,
    seed: int = 0,
) -> MoleculeGenerationReport:
    """Validity, uniqueness, novelty, internal diversity, and against a reference set Scaf, Frag
    and optionally the FCD of generated samples.

    Args:
        decoded: the ``n`` samples decoded without correction (e.g.
            :func:`~toposci.domains.molecules.decode_dense` of
            :func:`~toposci.domains.molecule_sampling.raw_decode`).
        training_smiles: canonical SMILES (RDKit, no stereo; e.g. ``QM9(split="train").smiles``)
            of the training set; the first 100 are checked to be canonical.
        decoded_valence_aware: the same ``n`` samples decoded by
            :func:`~toposci.domains.molecule_sampling.valence_aware_decode`, for
            ``validity_valence_aware``.
        reference_smiles: the reference set (e.g. the test split) of the scaffold and fragment
            similarities and of the FCD.
        fcd: compute the FCD (needs ``fcd_torch`` and ``reference_smiles``).
        scaffold_min_rings: ``min_rings`` of :func:`scaffold_similarity` (MOSES: 2).
        max_diversity_molecules: internal diversity uses a seeded subsample of at most this
            many unique valid molecules.
        seed: seed of that subsample.

    Returns:
        :class:`MoleculeGenerationReport`.

    Raises:
        ValueError: no samples, ``decoded_valence_aware`` of another length, ``fcd`` without
            ``reference_smiles``, an empty reference set, non-canonical training SMILES, fewer
            than 2 valid samples when ``fcd`` is set.
        ImportError: ``fcd`` set and ``fcd_torch`` not installed.
    """
    n = len(decoded)
    if n == 0:
        raise ValueError("molecule_generation_report needs at least one generated sample")
    if decoded_valence_aware is not None and len(decoded_valence_aware) != n:
        raise ValueError(f"decoded_valence_aware must decode the same {n} samples, got "
                         f"{len(decoded_valence_aware)}")
    if fcd and reference_smiles is None:
        raise ValueError("fcd=True needs reference_smiles (the reference set of the FCD)")
    if reference_smiles is not None and len(reference_smiles) == 0:
        raise ValueError("reference_smiles is empty")
    _check_canonical(training_smiles)
    valid = [d.smiles for d in decoded if d.validity]
    unique = sorted(set(valid))  # sorted: the diversity subsample must not depend on hashing
    training = training_smiles if isinstance(training_smiles, set | frozenset) else set(
        training_smiles)
    novel = [s for s in unique if s not in training]
    fcd_value = scaf = frag = None
    if reference_smiles is not None:
        scaf = scaffold_similarity(valid, reference_smiles, min_rings=scaffold_min_rings) \
            if valid else math.nan
        frag = fragment_similarity(valid, reference_smiles) if valid else math.nan
    if fcd:
        fcd_value = frechet_chemnet_distance(valid, reference_smiles)
    return MoleculeGenerationReport(
        n_generated=n,
        validity=len(valid) / n,
        validity_valence_aware=None if decoded_valence_aware is None else
        sum(bool(d.validity) for d in decoded_valence_aware) / n,
        uniqueness=_fraction(len(unique), len(valid)),
        novelty=_fraction(len(novel), len(unique)),
        internal_diversity=internal_diversity(
            unique, max_molecules=max_diversity_molecules, seed=seed) if unique else math.nan,
        fcd=fcd_value,
        reasons=dict(sorted(count_reasons(d.validity for d in decoded).items())),
        scaffold_similarity=scaf,
        fragment_similarity=frag,
    )
