"""Quality of generated molecules: validity, uniqueness, novelty, internal diversity, FCD.

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
* **FCD**, the Fréchet ChemNet Distance (Preuer et al., J. Chem. Inf. Model. 2018) between the
  valid generated molecules (``V``, repeats included) and a reference set, on ChemNet
  activations from ``fcd_torch`` (MIT; ships its ChemNet weights, works offline) — optional.

Uniqueness, novelty, diversity and FCD are computed from the uncorrected decodes, as the
definitions above say. GDSS computes them on the corrected molecules instead; pass the
corrected decodes as ``decoded`` to get those. A metric over an empty set (uniqueness,
novelty or diversity when nothing is valid) is NaN.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from toposci._optional import require
from toposci.domains.fingerprints import morgan_fingerprints, tanimoto_distances
from toposci.domains.validity import count_reasons

if TYPE_CHECKING:
    from rdkit import Chem

    from toposci.domains.molecules import DecodedMolecule

__all__ = [
    "MoleculeGenerationReport",
    "frechet_chemnet_distance",
    "internal_diversity",
    "molecule_generation_report",
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
    """

    n_generated: int
    validity: float
    validity_valence_aware: float | None
    uniqueness: float
    novelty: float
    internal_diversity: float
    fcd: float | None
    reasons: dict[str, int]

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
    (its ChemNet weights and SMILES encoding, RDKit-canonicalized as it does); the trace of the
    matrix square root is computed here as the sum of square roots of the eigenvalues of
    ``S_g^(1/2) S_r S_g^(1/2)`` (symmetric eigendecompositions), which equals ``fcd_torch``'s
    ``scipy.linalg.sqrtm`` route in exact arithmetic, is faster, and stays real when the
    covariances are singular (fewer molecules than ChemNet's 512 features).

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
    stats = []
    for smiles in (generated, reference):
        acts = chemnet.get_predictions(list(smiles)).astype(np.float64)  # (n, 512)
        stats.append((acts.mean(axis=0), np.cov(acts, rowvar=False)))  # (512,), (512, 512)
    return _frechet_distance(*stats[0], *stats[1])


def _frechet_distance(mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray,
                     cov_b: np.ndarray) -> float:
    """Fréchet (2-Wasserstein squared) distance between two Gaussians.

    ``||mean_a - mean_b||^2 + Tr(cov_a) + Tr(cov_b) - 2 Tr((cov_a cov_b)^(1/2))``, with the
    last trace taken as the sum of square roots of the eigenvalues of
    ``cov_a^(1/2) cov_b cov_a^(1/2)`` (negative rounding noise clipped to 0).

    Shapes:
        ``mean_a (D,)``, ``cov_a (D, D)``, ``mean_b (D,)``, ``cov_b (D, D)``; covariances
        symmetric positive semi-definite.
    """
    eigval, eigvec = np.linalg.eigh(cov_a)  # cov_a = V diag(w) V^T
    root_a = (eigvec * np.sqrt(np.clip(eigval, 0.0, None))) @ eigvec.T  # (D, D)
    inner = np.linalg.eigvalsh(root_a @ cov_b @ root_a)  # (D,) the spectrum of cov_a cov_b
    diff = mean_a - mean_b  # (D,)
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b)
                 - 2.0 * np.sqrt(np.clip(inner, 0.0, None)).sum())


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
    max_diversity_molecules: int = 2000,
    seed: int = 0,
) -> MoleculeGenerationReport:
    """Validity, uniqueness, novelty, internal diversity and optionally FCD of generated samples.

    Args:
        decoded: the ``n`` samples decoded without correction (e.g.
            :func:`~toposci.domains.molecules.decode_dense` of
            :func:`~toposci.domains.molecule_sampling.raw_decode`).
        training_smiles: canonical SMILES (RDKit, no stereo; e.g. ``QM9(split="train").smiles``)
            of the training set; the first 100 are checked to be canonical.
        decoded_valence_aware: the same ``n`` samples decoded by
            :func:`~toposci.domains.molecule_sampling.valence_aware_decode`, for
            ``validity_valence_aware``.
        reference_smiles: the reference set of the FCD (e.g. the test split); needs ``fcd``.
        fcd: compute the FCD (needs ``fcd_torch`` and ``reference_smiles``).
        max_diversity_molecules: internal diversity uses a seeded subsample of at most this
            many unique valid molecules.
        seed: seed of that subsample.

    Returns:
        :class:`MoleculeGenerationReport`.

    Raises:
        ValueError: no samples, ``decoded_valence_aware`` of another length,
            ``reference_smiles`` without ``fcd`` or ``fcd`` without them, non-canonical
            training SMILES, fewer than 2 valid samples when ``fcd`` is set.
        ImportError: ``fcd`` set and ``fcd_torch`` not installed.
    """
    n = len(decoded)
    if n == 0:
        raise ValueError("molecule_generation_report needs at least one generated sample")
    if decoded_valence_aware is not None and len(decoded_valence_aware) != n:
        raise ValueError(f"decoded_valence_aware must decode the same {n} samples, got "
                         f"{len(decoded_valence_aware)}")
    if fcd != (reference_smiles is not None):
        raise ValueError("the FCD needs both fcd=True and reference_smiles (one was given "
                         "without the other)")
    _check_canonical(training_smiles)
    valid = [d.smiles for d in decoded if d.validity]
    unique = sorted(set(valid))  # sorted: the diversity subsample must not depend on hashing
    training = training_smiles if isinstance(training_smiles, set | frozenset) else set(
        training_smiles)
    novel = [s for s in unique if s not in training]
    fcd_value = None
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
    )
