"""The molecule domain for the generative models: QM9 graphs, GINE encoder, one-shot decoder.

* **Targets.** Each molecule is decoded into a fixed ``max_atoms``-slot dense graph in RDKit's
  canonical atom order (the order of its canonical SMILES), so a molecule always has the same
  target: atom classes ``(N,)`` (C, N, O, F or "no atom", :data:`~toposci.domains.molecules.
  ATOM_PAD`) and bond classes ``(N, N)`` (0 none, 1-3 single/double/triple, kekulized). Formal
  charges are not decoded: the few charged QM9 molecules cannot be reconstructed exactly.
* **Encoder.** GINE over the featurized graph, stored in the same canonical order, each atom
  also seeing the one-hot of its slot (``encoder.positions``): a GINE alone must learn RDKit's
  canonicalization to tell the decoder which slot holds which atom, and learns slowly.
* **Topology view.** One-hot atom classes and upper-triangle bond classes, ``(B, 5N +
  4N(N-1)/2)``; decoder outputs are seen as the same vector of probabilities.
* **Samples.** ``correction="none"`` decodes the argmax (validity *without correction*);
  ``"valence"`` masks bond choices that would exceed an atom's valence (CGVAE / MoFlow style).
  Both are checked by :func:`~toposci.domains.molecules.decode_graph`.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch

from toposci.domains.base import DomainData, Generated, GenerativeDomain
from toposci.domains.cache import CacheRecipe, ProcessedCache, ptr_from_sizes
from toposci.domains.generative._graph_table import GraphTable
from toposci.domains.molecule_sampling import raw_decode, valence_aware_decode
from toposci.domains.molecules import (
    ATOM_PAD,
    ATOM_TYPES,
    BOND_TYPES,
    FEATURIZER_VERSION,
    NODE_FEATURES,
    decode_dense,
    edge_features,
    graph_arrays,
    node_features,
)
from toposci.domains.qm9 import QM9
from toposci.download import sha256_file
from toposci.nn.graph_decoders import GraphLogits, OneShotGraphDecoder, graph_reconstruction_loss
from toposci.nn.graph_encoders import GINEEncoder

__all__ = ["CANONICAL_VERSION", "MoleculeData", "MoleculeDecoderOptions", "MoleculeDomain",
           "MoleculeEncoderOptions", "canonical_dense", "canonical_table"]

logger = logging.getLogger(__name__)

NODE_CLASSES = len(ATOM_TYPES) + 1  # C, N, O, F, no atom (= ATOM_PAD)
EDGE_CLASSES = len(BOND_TYPES) + 1  # none, single, double, triple
CANONICAL_VERSION = "molecules-canonical-1"  # bump when canonical_table changes


@dataclass
class MoleculeData:
    """What to load.

    Attributes:
        path: a QM9 csv (``index, smiles, homo, gdss_split``); None for the shipped sample.
        max_atoms: ``N``, atom slots of the one-shot decoder (9 for QM9).
        limit: use only the first ``limit`` training molecules (quick runs).
        val_limit: use only the first ``val_limit`` held-out molecules.
    """

    path: str | None = None
    max_atoms: int = 9
    limit: int | None = None
    val_limit: int | None = None


@dataclass
class MoleculeEncoderOptions:
    """The GINE encoder.

    Attributes:
        positions: give each atom the one-hot of its canonical index (its decoder slot); see
            :class:`~toposci.nn.GINEEncoder`.
    """

    hidden: int = 128
    layers: int = 4
    out_features: int = 128
    positions: bool = True


@dataclass
class MoleculeDecoderOptions:
    hidden: tuple[int, ...] = (256, 512)
    dropout: float = 0.0


def canonical_table(smiles: Sequence[str], max_atoms: int) -> GraphTable:
    """Molecules as graphs in canonical atom order, with their dense decoder targets.

    Atom ``i`` of each graph is atom ``i`` of its canonical SMILES, which is also slot ``i``
    of the dense targets, so the encoder's positional features name the decoder's slots.

    Args:
        smiles: canonical SMILES (as stored by :class:`~toposci.domains.qm9.QM9`).
        max_atoms: ``N``.

    Returns:
        A :class:`GraphTable` of the graphs as :func:`~toposci.domains.molecules.featurize`
        makes them with graph tensors ``atom_target (G, N)`` (:data:`ATOM_PAD` = no atom) and
        ``bond_target (G, N, N)`` (bond orders, 0 = none), both int8.

    Raises:
        ValueError: a SMILES that does not parse, cannot be featurized or has more than
            ``max_atoms`` heavy atoms.
    """
    from rdkit import Chem

    G = len(smiles)
    if G == 0:
        raise ValueError("no molecules given")
    atom = torch.full((G, max_atoms), ATOM_PAD, dtype=torch.int8)
    bond = torch.zeros(G, max_atoms, max_atoms, dtype=torch.int8)
    columns: list[list[int]] = [[] for _ in range(6)]  # atom, charge, Hs, src, dst, bond
    n_nodes, n_edges = [], []
    for g, text in enumerate(smiles):
        mol = Chem.MolFromSmiles(text)
        if mol is None:
            raise ValueError(f"molecule {g}: SMILES {text!r} does not parse")
        try:
            arrays = graph_arrays(mol)
        except ValueError as err:
            raise ValueError(f"molecule {g} ({text}): {err}") from err
        n = len(arrays[0])
        if n > max_atoms:
            raise ValueError(f"molecule {g} ({text}) has {n} heavy atoms, more than "
                             f"max_atoms={max_atoms}")
        atom[g, :n] = torch.tensor(arrays[0], dtype=torch.int8)
        bond[g, arrays[3], arrays[4]] = torch.tensor(arrays[5], dtype=torch.int8) + 1
        for column, values in zip(columns, arrays, strict=True):
            column.extend(values)
        n_nodes.append(n)
        n_edges.append(len(arrays[5]))
    atom_type, charge, num_hs, src, dst, bond_code = map(torch.tensor, columns)
    node_ptr = ptr_from_sizes(torch.tensor(n_nodes))
    edge_ptr = ptr_from_sizes(torch.tensor(n_edges))
    offset = torch.repeat_interleave(node_ptr[:-1], edge_ptr.diff())  # (sum E,) global ids
    edge_index = torch.stack([src, dst]).long().view(2, -1) + offset  # (2, sum E)
    return GraphTable(node_features(atom_type, charge, num_hs), edge_index,
                      edge_features(bond_code), node_ptr, edge_ptr,
                      {"atom_target": atom, "bond_target": bond})


def canonical_dense(smiles: Sequence[str], max_atoms: int) -> tuple[Tensor, Tensor]:
    """The dense targets of :func:`canonical_table`: ``atom (G, N)`` and ``bond (G, N, N)``,
    int8."""
    table = canonical_table(smiles, max_atoms)
    return table.graph_tensors["atom_target"], table.graph_tensors["bond_target"]


_TABLE_FIELDS = ("x", "edge_index", "edge_attr", "node_ptr", "edge_ptr")


def _training_table(qm9: QM9, max_atoms: int) -> GraphTable:
    """:func:`canonical_table` of a QM9 split (targets as long), cached beside the featurized
    set."""
    recipe = CacheRecipe(featurizer=f"{FEATURIZER_VERSION}/{CANONICAL_VERSION}",
                         source_sha256=sha256_file(qm9.source),
                         params={"split": qm9.split, "max_atoms": max_atoms, "n": len(qm9)})
    name = f"qm9_canonical_{qm9.split}_{recipe.source_sha256[:16]}_{max_atoms}_{len(qm9)}"
    smiles = qm9.smiles if isinstance(qm9.smiles, list) else [qm9.smiles]

    def build() -> dict[str, Tensor]:
        logger.info("building canonical-order graphs of %d molecules", len(smiles))
        table = canonical_table(smiles, max_atoms)
        return {**{f: getattr(table, f) for f in _TABLE_FIELDS}, **table.graph_tensors}

    payload = ProcessedCache(name).load_or_build(recipe, build)
    targets = {k: payload[k].long() for k in ("atom_target", "bond_target")}
    return GraphTable(*(payload[f] for f in _TABLE_FIELDS), targets)


class MoleculeDomain(GenerativeDomain):
    """QM9-style molecules (see the module docstring)."""

    name = "molecules"
    DataOptions = MoleculeData
    EncoderOptions = MoleculeEncoderOptions
    DecoderOptions = MoleculeDecoderOptions
    corrections = ("none", "valence")
    sample_suffix = ".smi"

    # ------------------------------------------------------------------ data
    def load(self) -> DomainData:
        opts = self.options
        if opts.max_atoms < 2:
            raise ValueError(f"max_atoms must be >= 2, got {opts.max_atoms}")
        parts = {}
        for split, limit in (("train", opts.limit), ("test", opts.val_limit)):
            qm9 = QM9(opts.path, split=split)
            if limit is not None:
                if limit < 2:
                    raise ValueError(f"limits must keep at least 2 molecules, got {limit}")
                qm9 = qm9[:limit]
            parts[split] = (qm9, _training_table(qm9, opts.max_atoms))
        train, test = parts["train"], parts["test"]
        return DomainData(train=train[1], val=test[1], info={
            "source": str(train[0].source), "n_train": len(train[1]), "n_val": len(test[1]),
            "skipped": len(train[0].skipped), "training_smiles": list(train[0].smiles),
        })

    def collate(self, samples: GraphTable, indices: Tensor) -> Batch:
        return samples.batch(indices)

    def batch_size(self, batch: Batch) -> int:
        return batch.num_graphs

    # ------------------------------------------------------------------ networks
    def make_encoder(self, options: MoleculeEncoderOptions) -> nn.Module:
        return GINEEncoder(len(NODE_FEATURES), len(BOND_TYPES), hidden=options.hidden,
                           layers=options.layers, out_features=options.out_features,
                           positions=self.options.max_atoms if options.positions else 0)

    def make_decoder(self, options: MoleculeDecoderOptions, latent_dim: int) -> nn.Module:
        return OneShotGraphDecoder(latent_dim, self.options.max_atoms, NODE_CLASSES,
                                   EDGE_CLASSES, hidden=options.hidden, dropout=options.dropout)

    # ------------------------------------------------------------------ ModelIO
    def reconstruction_loss(self, output: GraphLogits, batch: Batch) -> Tensor:
        return graph_reconstruction_loss(output, batch.atom_target, batch.bond_target)

    def data_view(self, batch: Batch) -> Tensor:
        atom = nn.functional.one_hot(batch.atom_target, NODE_CLASSES).float()  # (B, N, 5)
        bond = nn.functional.one_hot(batch.bond_target, EDGE_CLASSES).float()  # (B, N, N, 4)
        return self._view(atom, bond)

    def output_view(self, output: GraphLogits) -> Tensor:
        return self._view(output.node.softmax(-1), output.edge.softmax(-1))

    @staticmethod
    def _view(atom: Tensor, bond: Tensor) -> Tensor:
        """``(B, 5N + 4N(N-1)/2)`` from atom ``(B, N, 5)`` and bond ``(B, N, N, 4)`` scores."""
        B, N, _ = atom.shape
        i, j = torch.triu_indices(N, N, offset=1, device=atom.device)
        return torch.cat([atom.reshape(B, -1), bond[:, i, j].reshape(B, -1)], dim=1)

    # ------------------------------------------------------------------ samples
    def generate(self, output: GraphLogits, *, correction: str = "none") -> Generated:
        """Decode with ``correction`` (items), and with the other decoding too (validity)."""
        self.check_correction(correction)
        node, edge = output.node.float().cpu(), output.edge.float().cpu()
        decoded = {name: decode_dense(*decode(node, edge)) for name, decode in
                   (("none", raw_decode), ("valence", valence_aware_decode))}
        chosen = decoded.pop(correction)
        return Generated(chosen, [d.validity for d in chosen], correction,
                         {name: [d.validity for d in items] for name, items in decoded.items()})

    def sample_metrics(self, generated: Generated) -> dict[str, Any]:
        """Validity under both decodings, uniqueness, novelty (against the molecules trained
        on), internal diversity, and the topology-fidelity distances between the diagrams of
        the valid samples and of the held-out molecules (Morgan fingerprints, Tanimoto)."""
        from toposci.metrics.molecules import molecule_generation_report
        from toposci.metrics.topology import smiles_diagram_distances

        opts = self.options
        train, held_out = (QM9(opts.path, split=s) for s in ("train", "test"))
        training_smiles = train.smiles[:opts.limit] if opts.limit else train.smiles
        report = molecule_generation_report(generated.items, training_smiles=training_smiles)
        valid = [m.smiles for m, ok in zip(generated.items, generated.validity, strict=True)
                 if ok]
        out: dict[str, Any] = {
            "validity_" + name: value
            for name, value in generated.validity_by_correction().items()}
        out |= {"uniqueness": report.uniqueness, "novelty": report.novelty,
                "internal_diversity": report.internal_diversity}
        if len(valid) >= 3:
            out["topology_vs_held_out"] = smiles_diagram_distances(valid, held_out.smiles)
        return out

    def write_samples(self, generated: Generated, path: Path) -> list[Path]:
        """``path``: the valid molecules as ``SMILES<TAB>sample_<i>`` lines; beside it
        ``<stem>_validity.csv`` with every sample's validity, reason and SMILES."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        table = path.with_name(f"{path.stem}_validity.csv")
        with path.open("w") as smi, table.open("w", newline="") as f:
            rows = csv.writer(f)
            rows.writerow(["sample", "valid", "reason", "smiles"])
            for i, (mol, ok) in enumerate(zip(generated.items, generated.validity, strict=True)):
                rows.writerow([i, int(ok.valid), ok.reason, mol.smiles or ""])
                if ok:
                    smi.write(f"{mol.smiles}\tsample_{i}\n")
        return [path, table]

