"""Shifted (out-of-distribution) sets for the OOD-detection metrics, one per domain.

Every set is real data or a documented transformation of real data, featurizable by the same
domain as the in-distribution set (a model with ``N`` atom slots cannot encode a larger
molecule, so "larger than QM9" is not an option):

* **Molecules** — :func:`nci_molecules`: the NCI compounds that RDKit ships
  (``RDConfig.RDDataDir/NCI/first_5K.smi``, the first 5,000 structures of the NCI open
  database) that fit the QM9 featurization — one connected component, at most ``max_atoms``
  heavy atoms, only C, N, O, F, bonds single / double / triple after kekulization — and are
  *not* in QM9 (pass QM9's SMILES as ``exclude``). QM9 enumerates what the GDB-9 rules allow;
  NCI holds compounds chemists made and submitted for screening, so the shifted set is
  same-sized molecules from another distribution: N-nitroso groups, peroxides, quinones,
  carboxylic acids and other groups the GDB rules leave out or rarely build. With RDKit
  2026.9 that is 424 distinct molecules, 190 of them not in the full QM9 (2 to 9 heavy
  atoms; 56 have 9).
  :func:`molecule_table` featurizes SMILES for :class:`~toposci.domains.generative.molecules.
  MoleculeDomain` batches.
* **Images** — :func:`rotate_images` (e.g. digits turned by 90 degrees) and
  :func:`invert_images` (white digits on black become black on white): the MNIST test digits,
  transformed.
* **Proteins** — :func:`protein_decoys`: C-alpha decoys of real fragments that keep every
  consecutive CA-CA distance (so the domain's validity check on spacing still passes) but not
  the fold: ``"shuffled"`` re-chains the fragment's own bond vectors in random order,
  ``"random_walk"`` grows a freely rotating chain with CA virtual bond angles drawn uniformly in
  [85, 150] degrees (the range of real CA traces, from about 90 in helices to 120-150 in strands)
  and uniform dihedrals.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from toposci._validation import check_batch

if TYPE_CHECKING:
    from rdkit import Chem

    from toposci.domains.generative._graph_table import GraphTable

__all__ = ["DECOY_KINDS", "ShiftedMolecules", "invert_images", "molecule_table",
           "nci_molecules", "protein_decoys", "rotate_images"]

logger = logging.getLogger(__name__)

DECOY_KINDS = ("shuffled", "random_walk")
"""The kinds of :func:`protein_decoys`."""

_BOND_ANGLE_DEGREES = (85.0, 150.0)


@dataclass(frozen=True)
class ShiftedMolecules:
    """A shifted molecule set and what was left out of its source.

    Attributes:
        smiles: canonical SMILES without stereo, distinct, in file order.
        source: the file read.
        dropped: number of source records per reason for leaving them out (``"parse"``,
            ``"disconnected"``, ``"too_large"``, ``"not_featurizable"``, ``"excluded"``,
            ``"duplicate"``).
    """

    smiles: list[str]
    source: str
    dropped: dict[str, int]


def nci_molecules(*, max_atoms: int = 9, exclude: Collection[str] = (),
                  path: str | Path | None = None) -> ShiftedMolecules:
    """The NCI molecules RDKit ships that a ``max_atoms``-slot QM9 model can encode.

    Args:
        max_atoms: ``N``, the most heavy atoms kept.
        exclude: canonical SMILES without stereo to leave out (QM9's:
            ``QM9(path, split="all").smiles``).
        path: a SMILES file (SMILES first on each line); default RDKit's
            ``RDConfig.RDDataDir/NCI/first_5K.smi``.

    Returns:
        :class:`ShiftedMolecules`.

    Raises:
        ValueError: the file does not exist, or ``max_atoms < 1``.
    """
    from rdkit import Chem, RDConfig, rdBase

    if max_atoms < 1:
        raise ValueError(f"max_atoms must be >= 1, got {max_atoms}")
    source = Path(path) if path is not None else Path(RDConfig.RDDataDir) / "NCI" / \
        "first_5K.smi"
    if not source.is_file():
        raise ValueError(f"{source}: no such SMILES file (RDKit's NCI sample ships with the "
                         "rdkit wheels under RDConfig.RDDataDir)")
    excluded = exclude if isinstance(exclude, set | frozenset) else set(exclude)
    kept: dict[str, None] = {}
    dropped: Counter[str] = Counter()
    with rdBase.BlockLogs():
        for line in source.read_text().splitlines():
            if not line.strip():
                continue
            mol = Chem.MolFromSmiles(line.split()[0])
            reason = _nci_reason(mol, max_atoms)
            smiles = None if reason else Chem.MolToSmiles(mol, isomericSmiles=False)
            if reason is None:
                reason = "excluded" if smiles in excluded else (
                    "duplicate" if smiles in kept else None)
            if reason:
                dropped[reason] += 1
            else:
                kept[smiles] = None
    logger.info("%s: %d molecules kept, dropped %s", source, len(kept), dict(dropped))
    return ShiftedMolecules(list(kept), str(source), dict(sorted(dropped.items())))


def _nci_reason(mol: Chem.Mol | None, max_atoms: int) -> str | None:
    """Why a parsed record cannot be encoded (None if it can)."""
    from rdkit import Chem

    from toposci.domains.molecules import featurize

    if mol is None:
        return "parse"
    if len(Chem.GetMolFrags(mol)) > 1:
        return "disconnected"
    if mol.GetNumHeavyAtoms() > max_atoms:
        return "too_large"
    try:
        featurize(mol)
    except ValueError:
        return "not_featurizable"
    return None


def molecule_table(smiles: Sequence[str], *, max_atoms: int = 9) -> GraphTable:
    """Molecules as the molecule domain's samples, for its ``collate`` (e.g. a shifted set).

    :func:`~toposci.domains.generative.molecules.canonical_table` with the dense targets as
    ``long``, as :meth:`~toposci.domains.generative.molecules.MoleculeDomain.load` keeps them.

    Args:
        smiles: ``G`` SMILES (at least one), each with at most ``max_atoms`` heavy atoms of
            C, N, O, F.
        max_atoms: ``N``, the domain's atom slots.

    Returns:
        A :class:`~toposci.domains.generative._graph_table.GraphTable` with graph tensors
        ``atom_target (G, N)`` and ``bond_target (G, N, N)``.

    Raises:
        ValueError: no SMILES, or one that does not parse or does not fit (named).
    """
    from toposci.domains.generative._graph_table import GraphTable
    from toposci.domains.generative.molecules import canonical_table

    table = canonical_table(smiles, max_atoms)
    targets = {name: t.long() for name, t in table.graph_tensors.items()}
    return GraphTable(table.x, table.edge_index, table.edge_attr, table.node_ptr,
                      table.edge_ptr, targets)


def rotate_images(images: Tensor, degrees: float | Tensor) -> Tensor:
    """Images turned counterclockwise (as displayed, row 0 at the top) about their centre.

    Bilinear resampling, zeros outside the original frame; a multiple of 90 degrees on a
    square image moves pixel centres onto pixel centres, so it equals ``torch.rot90`` up to
    rounding.

    Args:
        images: ``(B, C, H, W)`` floating images.
        degrees: one angle for all, or ``(B,)`` angles.

    Returns:
        ``(B, C, H, W)`` rotated images.
    """
    images = check_batch(images, "images", ranks=(4,), dims_named="(B, C, H, W)")
    B, C, H, W = images.shape
    angle = torch.as_tensor(degrees, dtype=images.dtype, device=images.device)
    if angle.ndim == 0:
        angle = angle.expand(B)
    if angle.shape != (B,) or not bool(torch.isfinite(angle).all()):
        raise ValueError(f"degrees must be a finite number or ({B},) angles, got shape "
                         f"{tuple(angle.shape)}")
    rad = torch.deg2rad(angle)  # (B,)
    cos, sin = rad.cos(), rad.sin()
    zero = torch.zeros_like(cos)
    # output pixel (x right, y down) samples the input at R^-1 (x, y); counterclockwise on
    # screen is clockwise in (x, y-down) coordinates, whose inverse is the matrix below
    theta = torch.stack([torch.stack([cos, -sin * H / W, zero], dim=1),
                         torch.stack([sin * W / H, cos, zero], dim=1)], dim=1)  # (B, 2, 3)
    grid = torch.nn.functional.affine_grid(theta, [B, C, H, W], align_corners=False)
    return torch.nn.functional.grid_sample(images, grid, mode="bilinear",
                                           padding_mode="zeros", align_corners=False)


def invert_images(images: Tensor) -> Tensor:
    """``1 - x`` of images in ``[0, 1]``: ink becomes background.

    Shapes:
        ``(B, C, H, W)`` -> ``(B, C, H, W)``.
    """
    images = check_batch(images, "images", ranks=(4,), dims_named="(B, C, H, W)")
    if float(images.min()) < 0.0 or float(images.max()) > 1.0:
        raise ValueError("images must lie in [0, 1] to be inverted")
    return 1.0 - images


def protein_decoys(fragments: Tensor, *, kind: str = "random_walk", seed: int = 0) -> Tensor:
    """Decoy C-alpha fragments with the same consecutive distances as real ones, centred.

    * ``"shuffled"``: the fragment's ``L - 1`` bond vectors ``x[i+1] - x[i]`` in a random
      order, summed from the origin: the same steps, and end-to-end vector, in another chain.
    * ``"random_walk"``: a freely rotating chain; step ``i`` has the fragment's own length
      ``|x[i+1] - x[i]|``, the virtual bond angle at each inner CA is uniform in [85, 150]
      degrees and each dihedral uniform in [-180, 180).

    Args:
        fragments: ``(B, L, 3)`` real fragments in any length unit (kept), ``L >= 3``.
        kind: one of :data:`DECOY_KINDS`.
        seed: seed of the permutations / angles.

    Returns:
        ``(B, L, 3)`` decoys, each centred on its centroid.
    """
    if kind not in DECOY_KINDS:
        raise ValueError(f"unknown decoy kind {kind!r}; valid: {', '.join(DECOY_KINDS)}")
    fragments = check_batch(fragments, "fragments", ranks=(3,), dims_named="(B, L, 3)")
    B, L, D = fragments.shape
    if D != 3 or L < 3:
        raise ValueError(f"fragments must have shape (B, L >= 3, 3), got {tuple(fragments.shape)}")
    g = torch.Generator().manual_seed(seed)
    bonds = fragments[:, 1:] - fragments[:, :-1]  # (B, L - 1, 3)
    if kind == "shuffled":
        order = torch.argsort(torch.rand(B, L - 1, generator=g), dim=1).to(fragments.device)
        steps = torch.gather(bonds, 1, order.unsqueeze(-1).expand(B, L - 1, 3))
    else:
        steps = _random_walk_steps(bonds.norm(dim=2), g)
    chain = torch.cat([steps.new_zeros(B, 1, 3), steps.cumsum(dim=1)], dim=1)  # (B, L, 3)
    return chain - chain.mean(dim=1, keepdim=True)


def _random_walk_steps(lengths: Tensor, g: torch.Generator) -> Tensor:
    """``(B, L - 1, 3)`` steps of freely rotating chains with the given ``(B, L - 1)``
    lengths (angles as in :func:`protein_decoys`)."""
    B, S = lengths.shape
    lo, hi = (math.radians(a) for a in _BOND_ANGLE_DEGREES)
    bond_angle = (lo + (hi - lo) * torch.rand(B, S - 1, generator=g)).to(lengths)  # (B, S-1)
    dihedral = (2 * math.pi * torch.rand(B, S - 1, generator=g)).to(lengths)
    first = torch.randn(B, 3, generator=g).to(lengths)
    u = first / first.norm(dim=1, keepdim=True)  # (B, 3) unit direction of the current bond
    helper = torch.randn(B, 3, generator=g).to(lengths)
    directions = [u]
    for i in range(S - 1):
        n1 = torch.linalg.cross(u, helper)
        n1 = n1 / n1.norm(dim=1, keepdim=True)  # (B, 3) perpendicular to u
        n2 = torch.linalg.cross(u, n1)
        a, phi = bond_angle[:, i : i + 1], dihedral[:, i : i + 1]  # (B, 1) each
        # the angle between the previous CA (direction -u) and the next one is `a`
        u = -a.cos() * u + a.sin() * (phi.cos() * n1 + phi.sin() * n2)
        helper = directions[-1]
        directions.append(u)
    return torch.stack(directions, dim=1) * lengths.unsqueeze(-1)  # (B, S, 3)
