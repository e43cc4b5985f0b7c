"""Turning a one-shot decoder's logits into molecular graphs: plain argmax or valence-aware.

Both decoders read the same logits and write the dense conventions of
:class:`~toposci.domains.molecules.DenseMolecules`:

* **Atoms.** ``node_logits (B, N, A + 1)`` with classes 0-3 = C, N, O, F
  (:data:`~toposci.domains.molecules.ATOM_TYPES`) and class
  :data:`~toposci.domains.molecules.ATOM_PAD` (= 4) = "no atom". Atom types are the argmax.
* **Bonds.** ``edge_logits (B, N, N, 4)`` with class 0 = no bond and 1/2/3 = single / double /
  triple bond order. Only the strict upper triangle (``i < j``) is read, as in
  :func:`~toposci.nn.graph_decoders.graph_reconstruction_loss`; the outputs are symmetric,
  with a zero diagonal and zero rows / columns at absent atoms.

:func:`raw_decode` is the "without correction" path: the argmax bond class of every pair of
present atoms. :func:`valence_aware_decode` never exceeds :data:`MAX_VALENCE`:

1. pairs of present atoms are visited in order of decreasing probability of *some* bond,
   ``1 - p(no bond)`` (ties: row-major order of the upper triangle);
2. at each pair the bond orders ``k`` in 1..3 still allowed are those with
   ``k <= min(remaining valence of i, remaining valence of j)``; the most probable allowed order
   is placed if its probability is strictly greater than ``p(no bond)``, and both atoms'
   remaining valences drop by ``k``; otherwise the pair stays unbonded.

Step 2 is the argmax over the classes that keep both atoms within their valence (``no bond`` is
always among them), so whenever the plain argmax graph respects :data:`MAX_VALENCE` the two
paths give the same graph; when it does not, an over-full atom keeps its most confident bonds.
This is the valence masking of CGVAE (Liu et al., "Constrained Graph Variational Autoencoders
for Molecule Design", NeurIPS 2018), which masks out, at each generation step, bond choices
that would exceed an atom's remaining valence, applied to a one-shot decoder by taking the
pairs in confidence order. It differs from MoFlow's validity correction (Zang & Wang, "MoFlow:
An Invertible Flow Model for Generating Molecular Graphs", KDD 2020), a post-hoc loop that
lowers by one the highest-order bond of an atom over its valence until none is, without
looking at probabilities. MoFlow's code, which GDSS reuses, also makes an N / O atom with
exactly one bond too many a +1 ion and then keeps the largest fragment; neither is done here:
atoms are neutral, and :func:`~toposci.domains.molecules.keep_largest_fragment` is a separate
correction.
"""

from __future__ import annotations

from types import MappingProxyType

import torch
from torch import Tensor

from toposci._validation import check_batch, check_same_batch
from toposci.domains.molecules import ATOM_PAD, ATOM_TYPES

__all__ = ["BOND_CLASSES", "MAX_VALENCE", "raw_decode", "valence_aware_decode"]

MAX_VALENCE = MappingProxyType({"C": 4, "N": 3, "O": 2, "F": 1})  # neutral atoms
BOND_CLASSES = 4  # edge classes: 0 = no bond, 1 / 2 / 3 = single / double / triple


def _check_logits(node_logits: Tensor, edge_logits: Tensor) -> tuple[Tensor, Tensor]:
    """Validated ``(node_logits (B, N, A + 1), edge_logits (B, N, N, 4))``."""
    classes = len(ATOM_TYPES) + 1
    for value, name, dims in ((node_logits, "node_logits", f"(B, N, {classes})"),
                              (edge_logits, "edge_logits", f"(B, N, N, {BOND_CLASSES})")):
        if not isinstance(value, Tensor) or value.ndim != len(dims.split(",")):
            shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(f"{name} must have shape {dims}, got {shape}")
    node_logits = check_batch(node_logits, "node_logits", ranks=(3,),
                              dims_named=f"(B, N, {classes})")
    edge_logits = check_batch(edge_logits, "edge_logits", ranks=(4,),
                              dims_named=f"(B, N, N, {BOND_CLASSES})")
    check_same_batch(node_logits, edge_logits, "node_logits", "edge_logits")
    B, N, C = node_logits.shape
    if C != classes:
        raise ValueError(f"node_logits must have {classes} classes (C, N, O, F, no atom) in its "
                         f"last axis, got shape {tuple(node_logits.shape)}")
    if edge_logits.shape != (B, N, N, BOND_CLASSES):
        raise ValueError(f"edge_logits must have shape (B, N, N, {BOND_CLASSES}) = "
                         f"({B}, {N}, {N}, {BOND_CLASSES}), got {tuple(edge_logits.shape)}")
    return node_logits, edge_logits


def _symmetric(upper: Tensor, N: int, rows: Tensor, cols: Tensor) -> Tensor:
    """``(B, N, N)`` long bond matrix from its strict upper triangle ``upper (B, P)``."""
    bond = upper.new_zeros(upper.shape[0], N, N)  # (B, N, N)
    bond[:, rows, cols] = upper
    bond[:, cols, rows] = upper
    return bond


def raw_decode(node_logits: Tensor, edge_logits: Tensor) -> tuple[Tensor, Tensor]:
    """Argmax atoms and argmax bonds, nothing corrected (validity *without correction*).

    Args:
        node_logits: atom-class scores, the last class "no atom".
        edge_logits: bond-class scores, class 0 "no bond"; only ``i < j`` is read.

    Returns:
        ``(atom_type, bond)``: atom codes (:data:`~toposci.domains.molecules.ATOM_PAD` = no
        atom) and bond orders 0-3, symmetric, zero on the diagonal and at absent atoms.

    Shapes:
        ``node_logits (B, N, 5)``, ``edge_logits (B, N, N, 4)`` float ->
        ``atom_type (B, N)``, ``bond (B, N, N)`` long, on the input's device.

    Raises:
        ValueError: wrong ranks or class counts, empty batch, mismatched ``B`` / ``N``,
            non-float or NaN / inf logits.
    """
    node_logits, edge_logits = _check_logits(node_logits, edge_logits)
    N = node_logits.shape[1]
    atom_type = node_logits.argmax(dim=-1)  # (B, N)
    present = atom_type != ATOM_PAD  # (B, N)
    rows, cols = torch.triu_indices(N, N, offset=1, device=node_logits.device)  # (P,), (P,)
    upper = edge_logits[:, rows, cols].argmax(dim=-1)  # (B, P)
    upper = upper * (present[:, rows] & present[:, cols])  # (B, P)
    return atom_type, _symmetric(upper, N, rows, cols)


def valence_aware_decode(node_logits: Tensor, edge_logits: Tensor) -> tuple[Tensor, Tensor]:
    """Argmax atoms; bonds placed greedily by confidence within :data:`MAX_VALENCE`.

    The rule, its equality with :func:`raw_decode` on graphs that respect valence, and its
    references are in the module docstring. Every output decodes with
    :func:`~toposci.domains.molecules.decode_graph` without a ``"valence"`` failure (it may
    still be ``"disconnected"`` or ``"empty"``). Runs ``N (N - 1) / 2`` steps, each vectorized
    over the batch.

    Args:
        node_logits: atom-class scores, the last class "no atom".
        edge_logits: bond-class scores, class 0 "no bond"; only ``i < j`` is read.

    Returns:
        ``(atom_type, bond)`` as :func:`raw_decode` returns them.

    Shapes:
        ``node_logits (B, N, 5)``, ``edge_logits (B, N, N, 4)`` float ->
        ``atom_type (B, N)``, ``bond (B, N, N)`` long, on the input's device.

    Raises:
        ValueError: as :func:`raw_decode`.
    """
    node_logits, edge_logits = _check_logits(node_logits, edge_logits)
    B, N, _ = node_logits.shape
    device = node_logits.device
    atom_type = node_logits.argmax(dim=-1)  # (B, N)
    capacity = torch.tensor([MAX_VALENCE[a] for a in ATOM_TYPES] + [0], device=device)  # (5,)
    remaining = capacity[atom_type]  # (B, N); absent atoms have no valence to give
    rows, cols = torch.triu_indices(N, N, offset=1, device=device)  # (P,), (P,)
    logits = edge_logits[:, rows, cols]  # (B, P, 4)
    # Decreasing 1 - p(no bond) is increasing log p(no bond), which keeps its resolution when
    # p(no bond) is tiny. Decisions compare logits, so ties break exactly as in raw_decode.
    visit = torch.sort(torch.log_softmax(logits, dim=-1)[..., 0], dim=1, stable=True).indices
    P = rows.numel()
    scores = logits.gather(1, visit.unsqueeze(-1).expand(B, P, BOND_CLASSES))  # (B, P, 4)
    ends = torch.stack([rows[visit], cols[visit]], dim=-1)  # (B, P, 2), in visiting order
    orders = torch.arange(1, BOND_CLASSES, device=device)  # (3,) bond orders 1..3
    placed = torch.zeros(B, P, dtype=torch.long, device=device)  # (B, P), in visiting order
    for step in range(P):
        room = remaining.gather(1, ends[:, step]).min(dim=1).values  # (B,)
        allowed = orders.view(1, -1) <= room.view(-1, 1)  # (B, 3)
        masked = scores[:, step, 1:].masked_fill(~allowed, -torch.inf)  # (B, 3)
        k = masked.argmax(dim=1, keepdim=True)  # (B, 1), the first maximum as in raw_decode
        beats = masked.gather(1, k).squeeze(1) > scores[:, step, 0]  # (B,)
        order = torch.where(beats, k.squeeze(1) + 1, 0)  # (B,)
        placed[:, step] = order
        remaining.scatter_add_(1, ends[:, step], -order.view(-1, 1).expand(B, 2))
    upper = torch.zeros_like(placed).scatter_(1, visit, placed)  # (B, P), triangle order
    return atom_type, _symmetric(upper, N, rows, cols)
