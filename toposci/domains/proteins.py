"""Protein structures as C-alpha point clouds: reading PDB / mmCIF, resampling, validity.

Files are read with `gemmi <https://gemmi.readthedocs.io>`_ (a declared dependency): a small C++
library with Python bindings that parses PDB and mmCIF (plain or gzip) quickly, knows the
chemical-component table (so it can say that MSE is a modified MET) and reports the line of a
malformed record. Biotite would also work, but it pulls in a larger NumPy-centric object model
(``AtomArray``) that we would only convert away again, and its PDB reader is pure Python and an
order of magnitude slower on a directory of structures.

Reading rules (:func:`read_structure`):

* only the first model is used;
* waters, ligands and other non-polymer residues are dropped (gemmi's entity assignment: residues
  after ``TER`` or in a non-polymer entity); nucleotides are dropped too;
* alternate locations: the CA with the highest occupancy is kept, ties going to the first altloc
  in the file; when a residue position has alternative residue types (microheterogeneity) the
  first one is kept;
* modified residues that gemmi's table maps to a parent amino acid (MSE→MET, SEP→SER, ...) keep
  their own name in ``residue_names`` and the parent's letter in ``sequence``; they are counted in
  ``n_modified``. Polymer residues gemmi does not know, and UNK, get ``X`` and are counted in
  ``n_unknown``;
* residues without a CA atom are skipped and counted in ``n_missing_ca``.

A corrupt file (truncated record, unparsable or non-finite coordinate, broken gzip, binary data,
no protein residue) raises a :class:`ValueError` that names the file and, where known, the line.
"""

from __future__ import annotations

import itertools
import logging
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor
from torch_geometric.data import Data

from toposci._validation import check_batch
from toposci.domains.structure_io import AMINO_ACIDS, STRUCTURE_SUFFIXES, read_ca_trace
from toposci.domains.validity import Validity

__all__ = [
    "AMINO_ACIDS",
    "BREAK_DISTANCE",
    "STRUCTURE_SUFFIXES",
    "ProteinStructure",
    "StructureScan",
    "ca_trace_validity",
    "center_points",
    "farthest_point_sampling",
    "read_structure",
    "read_structures",
    "resample_indices",
]

logger = logging.getLogger(__name__)

#: Consecutive CAs farther apart than this (Å) start a new segment (a chain break).
BREAK_DISTANCE = 4.2


@dataclass(frozen=True)
class ProteinStructure:
    """The C-alpha trace of the protein chains of one structure (first model).

    Attributes:
        name: where it came from (file name without the format suffixes).
        pos: ``(N, 3)`` float32 CA coordinates in Å, in file order (chain by chain).
        residue_names: ``N`` residue names as written in the file (``"MSE"`` stays ``"MSE"``).
        sequence: ``N`` one-letter codes; modified residues get their parent's letter, unknown
            residues ``"X"``.
        chain_ids: ``N`` chain names.
        residue_numbers: ``(N,)`` long author residue numbers.
        insertion_codes: ``N`` insertion codes (``""`` when none).
        chain_breaks: ``(C,)`` long, sorted indices ``i`` (``1 <= i < N``) where residue ``i``
            does not continue the trace of residue ``i - 1``: a new chain starts, or the CA–CA
            distance exceeds :data:`BREAK_DISTANCE` (missing residues).
        n_modified: residues mapped to a parent amino acid.
        n_unknown: polymer residues with a CA but no known amino acid (``X``).
        n_missing_ca: protein residues skipped because they have no CA atom.

    Shapes:
        N residues kept, C chain breaks.
    """

    name: str
    pos: Tensor
    residue_names: tuple[str, ...]
    sequence: str
    chain_ids: tuple[str, ...]
    residue_numbers: Tensor
    insertion_codes: tuple[str, ...]
    chain_breaks: Tensor
    n_modified: int = 0
    n_unknown: int = 0
    n_missing_ca: int = 0

    def __len__(self) -> int:
        return self.pos.shape[0]

    @property
    def chains(self) -> tuple[str, ...]:
        """Chain names in order of first appearance."""
        return tuple(dict.fromkeys(self.chain_ids))

    def to_data(self, *, center: bool = True, n_points: int | None = None, seed: int = 0) -> Data:
        """The structure as a PyG point cloud.

        Args:
            center: subtract the centroid of the kept points.
            n_points: resample to this many points with :func:`resample_indices` (farthest point
                sampling, kept in chain order); ``None`` keeps every residue.
            seed: seed of the resampling.

        Returns:
            ``Data`` with ``pos (N', 3)``, ``aa (N',)`` long indices into :data:`AMINO_ACIDS`
            (20 = other), ``chain (N',)`` long chain index, ``residue_index (N',)`` the rows of
            :attr:`pos` that were kept, ``edge_index (2, E)`` the backbone (consecutive residues
            of one segment, both directions; only without resampling) and ``name``.
        """
        n = len(self)
        keep = torch.arange(n) if n_points is None else resample_indices(
            self.pos, n_points, seed=seed
        )
        pos = self.pos[keep]
        if center:
            pos = center_points(pos)
        letters = {c: i for i, c in enumerate(AMINO_ACIDS)}
        aa = torch.tensor([letters.get(c, len(AMINO_ACIDS)) for c in self.sequence])
        chain_index = {c: i for i, c in enumerate(self.chains)}
        chain = torch.tensor([chain_index[c] for c in self.chain_ids])
        data = Data(pos=pos, aa=aa[keep], chain=chain[keep], residue_index=keep, name=self.name)
        if n_points is None:
            data.edge_index = _backbone_edges(n, self.chain_breaks)
        return data


@dataclass(frozen=True)
class StructureScan:
    """What :func:`read_structures` found in a directory.

    Attributes:
        structures: the files that parsed, in sorted file order.
        failures: ``(path, reason)`` for every file that was skipped.
    """

    structures: list[ProteinStructure] = field(default_factory=list)
    failures: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def n_failed(self) -> int:
        return len(self.failures)


# ---------------------------------------------------------------------------------- reading
def read_structure(path: str | Path) -> ProteinStructure:
    """Read the protein C-alpha trace of a PDB or mmCIF file (plain or gzip).

    The format is recognised from the content (mmCIF starts with ``data_``), so files without an
    extension (as in SCOPe/ASTRAL) work. See the module docstring for the reading rules.

    Args:
        path: the file.

    Returns:
        The :class:`ProteinStructure` of its first model.

    Raises:
        ValueError: the file is corrupt or holds no protein residue with a CA atom; the message
            names the file and, where known, the line.
    """
    trace = read_ca_trace(path)
    pos = torch.from_numpy(trace.coords)  # (N, 3) float64
    return ProteinStructure(
        name=trace.name,
        pos=pos.float(),
        residue_names=trace.residue_names,
        sequence=trace.sequence,
        chain_ids=trace.chain_ids,
        residue_numbers=torch.from_numpy(trace.residue_numbers),
        insertion_codes=trace.insertion_codes,
        chain_breaks=_chain_breaks(pos, trace.chain_ids),
        n_modified=trace.n_modified,
        n_unknown=trace.n_unknown,
        n_missing_ca=trace.n_missing_ca,
    )


def read_structures(
    directory: str | Path, *, suffixes: Sequence[str] = STRUCTURE_SUFFIXES
) -> StructureScan:
    """Read every structure file in a directory, skipping and counting the bad ones.

    Args:
        directory: folder to scan (not recursive).
        suffixes: file suffixes to read; each also matches with ``.gz`` appended.

    Returns:
        A :class:`StructureScan`. When files were skipped a ``UserWarning`` says how many and
        why the first one failed; every reason is in ``failures``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"{directory} is not a directory")
    wanted = tuple(suffixes) + tuple(s + ".gz" for s in suffixes)
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.name.endswith(wanted))
    scan = StructureScan()
    for file in files:
        try:
            scan.structures.append(read_structure(file))
        except (ValueError, OSError) as err:
            scan.failures.append((file, str(err)))
            logger.info("skipped %s: %s", file, err)
    if scan.failures:
        warnings.warn(
            f"skipped {scan.n_failed} of {len(files)} structure files in {directory}; first: "
            f"{scan.failures[0][1]} (all reasons in StructureScan.failures)",
            stacklevel=2,
        )
    return scan


def _chain_breaks(pos: Tensor, chain_ids: Sequence[str]) -> Tensor:
    """Indices i >= 1 where residue i does not continue residue i - 1 (see ProteinStructure)."""
    if pos.shape[0] < 2:
        return torch.zeros(0, dtype=torch.long)
    gap = (pos[1:] - pos[:-1]).norm(dim=-1) > BREAK_DISTANCE  # (N - 1,)
    new_chain = torch.tensor(
        [a != b for a, b in itertools.pairwise(chain_ids)], dtype=torch.bool
    )
    return ((gap | new_chain).nonzero().flatten() + 1).long()


def _backbone_edges(n: int, chain_breaks: Tensor) -> Tensor:
    """Edges between consecutive residues of one segment, both directions: ``(2, E)``."""
    src = torch.arange(n - 1) if n > 1 else torch.zeros(0, dtype=torch.long)
    bonded = torch.ones(src.shape[0], dtype=torch.bool)
    bonded[chain_breaks - 1] = False
    src = src[bonded]
    return torch.cat([torch.stack([src, src + 1]), torch.stack([src + 1, src])], dim=1)


# ---------------------------------------------------------------------------------- point clouds
def center_points(pos: Tensor, *, mask: Tensor | None = None) -> Tensor:
    """Subtract the centroid of each point cloud (of its real points when ``mask`` is given).

    Args:
        pos: ``(N, D)`` or ``(B, N, D)`` points.
        mask: ``(N,)`` or ``(B, N)`` boolean, ``True`` for real points; padding rows come back
            as zeros.

    Returns:
        Centred points of the same shape.
    """
    single = pos.ndim == 2
    x = check_batch(pos, "pos", ranks=(3,), dims_named="(B, N, D)")
    m = _batched_mask(mask, x, single)
    w = m.unsqueeze(-1).to(x.dtype)  # (B, N, 1)
    centroid = (x * w).sum(1, keepdim=True) / w.sum(1, keepdim=True)  # (B, 1, D)
    out = (x - centroid) * w
    return out[0] if single else out


def farthest_point_sampling(
    pos: Tensor,
    n_samples: int,
    *,
    start: int | None = None,
    seed: int = 0,
    mask: Tensor | None = None,
) -> Tensor:
    """Farthest point sampling: greedily pick the point farthest from those already picked.

    Args:
        pos: ``(N, D)`` or ``(B, N, D)`` points.
        n_samples: ``S``, how many points to pick per cloud (at most the number of real points).
        start: index of the first point of every cloud; ``None`` draws it uniformly among the
            real points with ``seed``.
        seed: seed for the random start.
        mask: ``(N,)`` or ``(B, N)`` boolean, ``True`` for real points (padding is never picked).

    Returns:
        ``(S,)`` or ``(B, S)`` long indices in the order they were picked. Ties go to the lowest
        index. Not differentiable (it returns indices).

    Shapes:
        B batch, N points, D dims, S samples.
    """
    single = pos.ndim == 2
    x = check_batch(pos, "pos", ranks=(3,), dims_named="(B, N, D)").detach()
    B, N, _ = x.shape
    m = _batched_mask(mask, x, single)
    n_real = m.sum(1)  # (B,)
    if n_samples < 1 or n_samples > int(n_real.min()):
        raise ValueError(
            f"n_samples must be between 1 and the number of real points ({int(n_real.min())}), "
            f"got {n_samples}"
        )
    if start is None:
        gen = torch.Generator().manual_seed(seed)
        u = torch.rand(B, N, generator=gen).to(x.device)
        current = torch.where(m, u, -1.0).argmax(1)  # (B,) a uniformly random real point
    else:
        if not 0 <= start < N or not bool(m[:, start].all()):
            raise ValueError(f"start index {start} is not a real point of every cloud (N = {N})")
        current = torch.full((B,), start, dtype=torch.long, device=x.device)
    rows = torch.arange(B, device=x.device)
    nearest = torch.full((B, N), torch.inf, dtype=x.dtype, device=x.device)
    picked = torch.empty(B, n_samples, dtype=torch.long, device=x.device)
    for s in range(n_samples):
        picked[:, s] = current
        d = ((x - x[rows, current].unsqueeze(1)) ** 2).sum(-1)  # (B, N)
        nearest = torch.minimum(nearest, d)
        current = torch.where(m, nearest, -1.0).argmax(1)
    return picked[0] if single else picked


def resample_indices(pos: Tensor, n_points: int, *, seed: int = 0) -> Tensor:
    """Indices of a fixed-size subset of one point cloud, in their original order.

    With ``N >= n_points`` the subset is chosen by :func:`farthest_point_sampling` from a seeded
    random start; with fewer points every point is kept and ``n_points - N`` seeded random
    repeats are added, so the result always has ``n_points`` entries.

    Args:
        pos: ``(N, D)`` points.
        n_points: size of the result.
        seed: seed of the random start / repeats.

    Returns:
        ``(n_points,)`` long indices, sorted.
    """
    if pos.ndim != 2:
        raise ValueError(f"pos must have shape (N, D), got {tuple(pos.shape)}")
    if n_points < 1:
        raise ValueError(f"n_points must be >= 1, got {n_points}")
    N = pos.shape[0]
    if N >= n_points:
        idx = farthest_point_sampling(pos, n_points, seed=seed)
    else:
        gen = torch.Generator().manual_seed(seed)
        extra = torch.randint(N, (n_points - N,), generator=gen)
        idx = torch.cat([torch.arange(N), extra])
    return idx.sort().values


def _batched_mask(mask: Tensor | None, x: Tensor, single: bool) -> Tensor:
    B, N, _ = x.shape
    if mask is None:
        return torch.ones(B, N, dtype=torch.bool, device=x.device)
    m = mask.unsqueeze(0) if single else mask
    if m.shape != (B, N) or m.dtype != torch.bool:
        raise ValueError(
            f"mask must be a bool tensor of shape {(B, N) if not single else (N,)}, got "
            f"{m.dtype} {tuple(mask.shape)}"
        )
    if not bool(m.any(1).all()):
        raise ValueError("mask leaves a point cloud with no real points")
    return m.to(x.device)


# ---------------------------------------------------------------------------------- validity
def ca_trace_validity(
    pos: Tensor,
    *,
    chain_breaks: Tensor | Iterable[int] = (),
    ideal: float = 3.8,
    tolerance: float = 0.3,
    clash_distance: float = 3.0,
) -> Validity:
    """Is a (generated) C-alpha trace physically plausible?

    Rules, checked in this order (the first broken one is the reason):

    * ``"empty"``: no residues;
    * ``"non_finite"``: a coordinate is NaN or infinite;
    * ``"ca_spacing"``: consecutive CAs (except across ``chain_breaks``) are not
      ``ideal ± tolerance`` Å apart (3.8 ± 0.3 Å: trans peptides; a cis peptide, CA–CA ≈ 2.9 Å,
      fails this rule);
    * ``"clash"``: two CAs that are not consecutive in one segment are closer than
      ``clash_distance`` Å.

    Args:
        pos: ``(N, 3)`` CA coordinates in Å.
        chain_breaks: indices ``i`` where residue ``i`` starts a new segment, as in
            :attr:`ProteinStructure.chain_breaks`.
        ideal: ideal CA–CA distance (Å).
        tolerance: allowed deviation from ``ideal`` (Å).
        clash_distance: minimum distance between non-bonded CAs (Å).

    Returns:
        A :class:`~toposci.domains.validity.Validity`.
    """
    if not isinstance(pos, Tensor) or pos.ndim != 2 or pos.shape[-1] != 3:
        shape = tuple(pos.shape) if isinstance(pos, Tensor) else type(pos).__name__
        raise ValueError(f"pos must be a tensor of shape (N, 3), got {shape}")
    N = pos.shape[0]
    if N == 0:
        return Validity.fail("empty", "the trace has no residues")
    if not bool(torch.isfinite(pos).all()):
        return Validity.fail("non_finite", "the trace has NaN or infinite coordinates")
    x = pos.detach().double()
    breaks = torch.as_tensor(list(chain_breaks) if not isinstance(chain_breaks, Tensor)
                             else chain_breaks, dtype=torch.long)
    if breaks.numel() and (int(breaks.min()) < 1 or int(breaks.max()) >= N):
        raise ValueError(f"chain_breaks must lie in [1, {N - 1}], got {breaks.tolist()}")
    bonded = torch.ones(max(N - 1, 0), dtype=torch.bool)  # (N - 1,) pair (i, i + 1) bonded
    bonded[breaks - 1] = False
    step = (x[1:] - x[:-1]).norm(dim=-1)  # (N - 1,)
    off = bonded & ((step - ideal).abs() > tolerance)
    if off.any():
        i = int(off.nonzero()[0])
        return Validity.fail(
            "ca_spacing",
            f"{int(off.sum())} consecutive CA-CA distances outside {ideal} ± {tolerance} Å; "
            f"first: residues {i}-{i + 1} at {float(step[i]):.2f} Å",
        )
    d = torch.cdist(x, x)  # (N, N)
    d.fill_diagonal_(torch.inf)
    idx = torch.arange(N - 1)[bonded]
    d[idx, idx + 1] = torch.inf
    d[idx + 1, idx] = torch.inf
    close = torch.triu(d < clash_distance, diagonal=1)
    if close.any():
        i, j = (int(v) for v in close.nonzero()[0])
        return Validity.fail(
            "clash",
            f"{int(close.sum())} non-bonded CA pairs closer than {clash_distance} Å; first: "
            f"residues {i} and {j} at {float(d[i, j]):.2f} Å",
        )
    return Validity.ok()
