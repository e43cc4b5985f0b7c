"""The protein domain: C-alpha fragments, point-cloud encoder, chain-ordered point-set decoder.

* **Samples.** Every window of ``fragment_length`` consecutive residues (``L``, default 32),
  taken every ``stride`` residues, inside one segment of a structure (a stretch without chain
  breaks, :attr:`~toposci.domains.proteins.ProteinStructure.chain_breaks`), centred on its
  centroid. With ``valid_only`` (the default) a window whose own trace fails
  :func:`~toposci.domains.proteins.ca_trace_validity` (cis peptides, CA-CA outliers) is dropped
  and counted, so the model only sees traces it could be asked to produce.
* **Units.** The networks see coordinates in units of ``scale`` Å (10 by default, so values
  are of order 1); :meth:`ProteinDomain.generate` multiplies back, so samples, files and validity
  are in Å. The losses below do not depend on ``scale``.
* **Encoder.** :class:`~toposci.nn.DGCNNEncoder` (``kind: dgcnn``) or
  :class:`~toposci.nn.PointNetEncoder` (``kind: pointnet``); both ignore the point order.
* **Decoder and loss.** :class:`~toposci.nn.PointSetDecoder` emits ``L`` points whose order is
  read as the chain order. The loss of a fragment is
  ``L / (4 sigma^2) * (chamfer + bond_weight * bond)`` in Å: the Chamfer distance
  (:func:`~toposci.nn.chamfer_distance`, order-free) plus the mean squared difference between
  the predicted consecutive CA-CA distances and the *target's* consecutive distances (which
  makes the output order a chain, ~3.8 Å steps where the target has them). When every point's
  nearest neighbour is its counterpart, ``L * chamfer / 2 = sum_i |x_i - y_i|^2``, so the
  Chamfer part is the Gaussian negative log-likelihood with ``sigma`` Å per coordinate (up to a
  constant) and the KL term keeps its usual weight.
* **Split.** By structure, seeded: no structure gives fragments to both sides.
* **Topology view.** The flattened scaled coordinates ``(B, 3L)``, of data and decoder output.
* **Samples.** Each generated fragment is one segment checked with ``ca_trace_validity``;
  :meth:`ProteinDomain.write_samples` writes an ``.npz`` and a multi-model CA-only PDB of the
  valid ones (one ``MODEL`` per sample) that PyMOL, ChimeraX or gemmi open.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from toposci.domains.base import DomainData, Generated, GenerativeDomain
from toposci.domains.proteins import (
    ProteinStructure,
    ca_trace_validity,
    center_points,
    read_structures,
)
from toposci.download import shipped_dir
from toposci.nn.point_decoders import PointSetDecoder, chamfer_distance
from toposci.nn.point_encoders import DGCNNEncoder, PointNetEncoder

__all__ = ["CA_CA", "CA_CA_TOLERANCE", "ProteinData", "ProteinDecoder", "ProteinDomain",
           "ProteinEncoder", "cut_fragments", "write_ca_pdb"]

logger = logging.getLogger(__name__)

CA_CA = 3.8
"""Ideal consecutive CA-CA distance (Å) of the validity check (trans peptides)."""
CA_CA_TOLERANCE = 0.3
"""Allowed deviation from :data:`CA_CA` (Å)."""


@dataclass
class ProteinData:
    """What to load, and the loss weights (the loss belongs to the domain).

    Attributes:
        path: a folder of PDB / mmCIF files (plain or gzip); None for the shipped sample.
            A relative path is resolved against the current directory.
        fragment_length: ``L``, residues per fragment.
        stride: residues between the starts of neighbouring fragments of one segment.
        valid_only: drop data fragments whose own trace fails the validity check.
        val_fraction: fraction of the structures held out (at least one).
        seed: seed of the structure split and of ``limit``'s subset.
        limit: keep a seeded random subset of at most this many training fragments.
        scale: Å per network unit.
        bond_weight: weight of the consecutive-distance term of the loss.
        clash_weight: weight of the clash term: squared shortfall below ``clash_distance`` of
            every pair of CAs at least two residues apart, summed over pairs (real fragments
            have no such pair, so the term only shapes generated ones).
        clash_distance: Å, the validity check's minimum distance of non-bonded CAs.
        sigma: Å, the noise scale of the Gaussian reading of the loss.
    """

    path: str | None = None
    fragment_length: int = 32
    stride: int = 8
    valid_only: bool = True
    val_fraction: float = 0.2
    seed: int = 0
    limit: int | None = None
    scale: float = 10.0
    bond_weight: float = 1.0
    clash_weight: float = 1.0
    clash_distance: float = 3.0
    sigma: float = 1.0


@dataclass
class ProteinEncoder:
    """``kind``: ``"dgcnn"`` or ``"pointnet"``; ``k``: DGCNN neighbours."""

    kind: str = "dgcnn"
    k: int = 8
    hidden: tuple[int, ...] = (64, 64, 128)
    out_features: int = 128


@dataclass
class ProteinDecoder:
    hidden: tuple[int, ...] = (256, 512)


def cut_fragments(pos: Tensor, chain_breaks: Tensor, length: int, stride: int) -> Tensor:
    """All windows of ``length`` consecutive residues that do not cross a chain break.

    Args:
        pos: ``(N, 3)`` CA coordinates of one structure.
        chain_breaks: ``(C,)`` indices where a new segment starts (as in
            :attr:`~toposci.domains.proteins.ProteinStructure.chain_breaks`).
        length: ``L``, residues per window (>= 2).
        stride: residues between window starts (>= 1); windows start at each segment's first
            residue.

    Returns:
        ``(F, L, 3)`` windows in chain order (``F = 0`` when no segment is long enough),
        not centred.
    """
    if length < 2 or stride < 1:
        raise ValueError(f"fragment_length must be >= 2 and stride >= 1, got {length} and "
                         f"{stride}")
    N = pos.shape[0]
    bounds = [0, *(int(b) for b in chain_breaks), N]
    starts = [s for a, b in itertools.pairwise(bounds) for s in range(a, b - length + 1, stride)]
    if not starts:
        return pos.new_zeros(0, length, 3)
    index = torch.tensor(starts).unsqueeze(1) + torch.arange(length)  # (F, L)
    return pos[index]  # (F, L, 3)


def write_ca_pdb(coords: Sequence[Tensor], path: Path) -> None:
    """Write CA-only traces as one multi-model PDB file (``MODEL 1`` .. ``MODEL n``).

    Each trace is chain ``A`` of glycines numbered from 1, one ``ATOM`` record per CA.

    Args:
        coords: ``n`` traces ``(L, 3)`` in Å, each coordinate within ``[-999.999, 9999.999]``.
        path: the output file.
    """
    lines = ["REMARK   1 C-ALPHA TRACES GENERATED BY TOPOSCI (ONE MODEL PER SAMPLE)"]
    for model, trace in enumerate(coords, start=1):
        xyz = trace.detach().double().cpu()
        if not bool(torch.isfinite(xyz).all()) or float(xyz.abs().max()) >= 999.9995:
            raise ValueError(f"model {model}: coordinates must be finite and fit the PDB "
                             "columns (|x| < 1000 Å)")
        lines.append(f"MODEL     {model:4d}")
        for i, (x, y, z) in enumerate(xyz.tolist(), start=1):
            lines.append(f"ATOM  {i:5d}  CA  GLY A{i:4d}    {x:8.3f}{y:8.3f}{z:8.3f}"
                         f"{1.0:6.2f}{0.0:6.2f}           C  ")
        lines.append(f"TER   {len(xyz) + 1:5d}      GLY A{len(xyz):4d}")
        lines.append("ENDMDL")
    lines.append("END")
    path.write_text("\n".join(lines) + "\n")


ENCODERS: dict[str, Callable[[ProteinEncoder], nn.Module]] = {
    "dgcnn": lambda o: DGCNNEncoder(3, k=o.k, hidden=o.hidden, out_features=o.out_features),
    "pointnet": lambda o: PointNetEncoder(3, hidden=o.hidden, out_features=o.out_features),
}
"""Encoders by ``model.encoder.kind``."""


class ProteinDomain(GenerativeDomain):
    """C-alpha fragments of protein structures (see the module docstring)."""

    name = "proteins"
    DataOptions = ProteinData
    EncoderOptions = ProteinEncoder
    DecoderOptions = ProteinDecoder

    # ------------------------------------------------------------------ data
    def load(self) -> DomainData:
        opts = self._checked_options()
        root = Path(opts.path) if opts.path is not None else shipped_dir() / "proteins"
        if not root.is_dir():
            raise ValueError(f"data.path {root} is not a folder; give a folder of .pdb / .cif "
                             "files (plain or .gz), or null for the shipped sample")
        scan = read_structures(root)
        L = opts.fragment_length
        names, fragments, too_short, dropped_invalid = self._fragments(scan.structures)
        if len(names) < 2:
            raise ValueError(
                f"{root}: only {len(names)} of {len(scan.structures)} readable structures have "
                f"a chain segment of at least fragment_length={L} residues"
                f"{' whose trace passes the validity check' if opts.valid_only else ''}; "
                "lower data.fragment_length or add structures (the split needs two)"
            )
        g = torch.Generator().manual_seed(opts.seed)
        order = torch.randperm(len(names), generator=g).tolist()
        n_val = min(max(1, round(opts.val_fraction * len(names))), len(names) - 1)
        val_ids, train_ids = sorted(order[:n_val]), sorted(order[n_val:])
        train = torch.cat([fragments[i] for i in train_ids])  # (n_train, L, 3)
        val = torch.cat([fragments[i] for i in val_ids])  # (n_val, L, 3)
        n_all_train = train.shape[0]
        if opts.limit is not None and n_all_train > opts.limit:
            keep = torch.randperm(n_all_train, generator=g)[: opts.limit].sort().values
            train = train[keep]
        if train.shape[0] < 2 or val.shape[0] < 2:
            raise ValueError(f"the split leaves {train.shape[0]} training and {val.shape[0]} "
                             "validation fragments (2 each needed); lower data.stride or "
                             "data.fragment_length, or change data.val_fraction")
        if too_short or dropped_invalid:
            logger.info("%s: %d structures without a usable %d-residue fragment, %d fragments "
                        "dropped by the validity check", root, len(too_short), L,
                        dropped_invalid)
        return DomainData(train=train, val=val, info={
            "source": str(root), "n_structures": len(names), "n_train": train.shape[0],
            "n_val": val.shape[0], "n_train_before_limit": n_all_train,
            "train_structures": [names[i] for i in train_ids],
            "val_structures": [names[i] for i in val_ids],
            "too_short": too_short, "dropped_invalid": dropped_invalid,
            "failed_files": [str(p) for p, _ in scan.failures],
        })

    def _fragments(self, structures: Sequence[ProteinStructure]
                   ) -> tuple[list[str], list[Tensor], list[str], int]:
        """Centred, scaled fragments ``(F_s, L, 3)`` of each structure that has any.

        Returns:
            names and fragments of those structures, the names of the others, and the number
            of fragments dropped by the validity check.
        """
        opts = self.options
        names, fragments, too_short, dropped_invalid = [], [], [], 0
        for structure in structures:
            frags = cut_fragments(structure.pos, structure.chain_breaks, opts.fragment_length,
                                  opts.stride)  # (F_s, L, 3) Å
            if opts.valid_only and len(frags):
                ok = torch.tensor([bool(ca_trace_validity(f, ideal=CA_CA,
                                                          tolerance=CA_CA_TOLERANCE))
                                   for f in frags], dtype=torch.bool)
                dropped_invalid += int((~ok).sum())
                frags = frags[ok]
            if len(frags) == 0:
                too_short.append(structure.name)
                continue
            names.append(structure.name)
            fragments.append(center_points(frags) / opts.scale)  # (F_s, L, 3) scaled
        return names, fragments, too_short, dropped_invalid

    def _checked_options(self) -> ProteinData:
        opts = self.options
        if opts.fragment_length < 2 or opts.stride < 1:
            raise ValueError(f"data.fragment_length must be >= 2 and data.stride >= 1, got "
                             f"{opts.fragment_length} and {opts.stride}")
        if not 0 < opts.val_fraction < 1:
            raise ValueError(f"data.val_fraction must lie in (0, 1), got {opts.val_fraction}")
        for name in ("scale", "sigma"):
            if not getattr(opts, name) > 0:
                raise ValueError(f"data.{name} must be > 0, got {getattr(opts, name)}")
        if opts.bond_weight < 0 or opts.clash_weight < 0:
            raise ValueError(f"data.bond_weight and data.clash_weight must be >= 0, got "
                             f"{opts.bond_weight} and {opts.clash_weight}")
        if opts.limit is not None and opts.limit < 2:
            raise ValueError(f"data.limit must keep at least 2 fragments, got {opts.limit}")
        return opts

    def collate(self, samples: Tensor, indices: Tensor) -> Tensor:
        return samples[indices]  # (B, L, 3)

    # ------------------------------------------------------------------ networks
    def make_encoder(self, options: ProteinEncoder) -> nn.Module:
        if options.kind not in ENCODERS:
            raise ValueError(f"unknown model.encoder.kind {options.kind!r}; valid: "
                             f"{', '.join(ENCODERS)}")
        return ENCODERS[options.kind](options)

    def make_decoder(self, options: ProteinDecoder, latent_dim: int) -> nn.Module:
        return PointSetDecoder(latent_dim, self.options.fragment_length, hidden=options.hidden)

    # ------------------------------------------------------------------ ModelIO
    def reconstruction_loss(self, output: Tensor, batch: Tensor) -> Tensor:
        """``(B,)`` ``L / (4 sigma^2) * (chamfer + bond_weight * bond + clash_weight * clash)``,
        distances in Å.

        Args:
            output: ``(B, L, 3)`` decoded points (scaled units), in chain order.
            batch: ``(B, L, 3)`` target fragments (scaled units).
        """
        self._check_points(output, "decoder output")
        self._check_points(batch, "batch")
        if output.shape != batch.shape:
            raise ValueError(f"decoder output {tuple(output.shape)} and batch "
                             f"{tuple(batch.shape)} differ in shape")
        opts = self.options
        L = output.shape[1]
        chamfer = chamfer_distance(output, batch)  # (B,)
        bond = (_steps(output) - _steps(batch)).square().mean(dim=1)  # (B,)
        factor = L * opts.scale**2 / (4.0 * opts.sigma**2)  # scaled units -> Å, Gaussian NLL
        clash = _clashes(output, opts.clash_distance / opts.scale)  # (B,)
        return factor * (chamfer + opts.bond_weight * bond + opts.clash_weight * clash)

    def _check_points(self, x: Tensor, name: str) -> None:
        L = self.options.fragment_length
        if not isinstance(x, Tensor) or x.ndim != 3 or x.shape[1:] != (L, 3):
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{name} must have shape (B, {L}, 3), got {shape}")

    def data_view(self, batch: Tensor) -> Tensor:
        return batch.flatten(1)  # (B, L, 3) -> (B, 3L)

    def output_view(self, output: Tensor) -> Tensor:
        return output.flatten(1)  # (B, L, 3) -> (B, 3L)

    def to_tensor(self, batch: Tensor) -> Tensor:
        """``(B, 3L)`` fragments flattened for a vector denoiser (scaled units)."""
        self._check_points(batch, "batch")
        return batch.flatten(1)  # (B, L, 3) -> (B, 3L)

    def from_tensor(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], self.options.fragment_length, 3)  # (B, 3L) -> (B, L, 3)

    # ------------------------------------------------------------------ samples
    def generate(self, output: Tensor, *, correction: str = "none") -> Generated:
        """Fragments in Å, each checked by ``ca_trace_validity`` as one segment."""
        self.check_correction(correction)
        self._check_points(output, "decoder output")
        coords = output.detach().float().cpu() * self.options.scale  # (B, L, 3) Å
        return Generated(list(coords), [ca_trace_validity(c, ideal=CA_CA,
                                                          tolerance=CA_CA_TOLERANCE)
                                        for c in coords], correction)

    def write_samples(self, generated: Generated, path: Path) -> list[Path]:
        """``path`` (.npz): ``coords (n, L, 3)`` float32 Å, ``valid (n,)``, ``reason (n,)``
        and ``pdb_model (n,)`` (model number in the PDB file, 0 if not written); beside it
        ``<stem>.pdb`` with the valid samples when there are any."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        valid = np.array([bool(v) for v in generated.validity], dtype=bool)
        model = np.cumsum(valid) * valid  # (n,) 1..k for valid samples, 0 otherwise
        np.savez(path, coords=torch.stack(generated.items).numpy().astype(np.float32),
                 valid=valid, reason=np.array([v.reason for v in generated.validity]),
                 pdb_model=model)
        files = [path]
        if valid.any():
            pdb = path.with_suffix(".pdb")
            write_ca_pdb([c for c, ok in zip(generated.items, valid) if ok], pdb)
            files.append(pdb)
        return files

    def sample_metrics(self, generated: Generated) -> dict[str, Any]:
        """Of the finite samples: mean and spread of the consecutive CA-CA distances (Å), the
        fraction of them within the validity tolerance, and the mean radius of gyration (Å).

        Validity needs *every* step of a fragment within tolerance; the step fraction shows how
        close a model that fails it comes.
        """
        finite = [c for c, v in zip(generated.items, generated.validity)
                  if v.reason != "non_finite"]
        if not finite:
            return {}
        coords = torch.stack(finite).double()  # (n, L, 3)
        steps = _steps(coords)  # (n, L - 1)
        centred = coords - coords.mean(dim=1, keepdim=True)
        gyration = centred.square().sum(dim=2).mean(dim=1).sqrt()  # (n,)
        within = ((steps - CA_CA).abs() <= CA_CA_TOLERANCE).double().mean()
        return {"ca_ca_mean": float(steps.mean()), "ca_ca_std": float(steps.std()),
                "ca_ca_within_tolerance": float(within),
                "radius_of_gyration_mean": float(gyration.mean())}


def _clashes(x: Tensor, minimum: float) -> Tensor:
    """``(B,)`` sum over pairs ``|i - j| >= 2`` of ``relu(minimum - d_ij)^2``, ``x (B, L, 3)``."""
    L = x.shape[1]
    i, j = torch.triu_indices(L, L, offset=2, device=x.device)  # (P,), (P,)
    d = ((x[:, i] - x[:, j]).square().sum(dim=2) + 1e-12).sqrt()  # (B, P)
    return torch.relu(minimum - d).square().sum(dim=1)


def _steps(x: Tensor) -> Tensor:
    """Distances between consecutive points: ``(B, L, 3)`` -> ``(B, L - 1)``.

    A tiny constant under the square root keeps the gradient finite when two points coincide.
    """
    return ((x[:, 1:] - x[:, :-1]).square().sum(dim=2) + 1e-12).sqrt()
