"""The social-graph domain: small TUDataset graphs (IMDB-BINARY), GIN encoder, one-shot decoder.

* **Samples.** ``mode: whole`` (the default) takes the data set's graphs themselves (each
  IMDB-BINARY graph is already the ego network of one actor) and keeps those with at most
  ``max_nodes`` nodes (``N``, default 20: about 70% of IMDB-BINARY; the rest is dropped,
  counted in ``DomainData.info`` and logged). ``mode: ego`` instead cuts ``egos_per_graph``
  ego subgraphs of ``radius`` hops around seeded random centres of every graph
  (:func:`~toposci.domains.social.ego_subgraphs`, truncated to ``max_nodes`` nodes, so nothing
  is dropped; samples without an edge are). The split is seeded and by source graph: no graph
  gives samples to both sides.
* **Node order.** Canonical, :func:`canonical_order`: breadth-first from the node of highest
  degree, neighbours visited by degree (descending), ties by the original node id; a new
  component starts again from its node of highest degree. So slot 0 is a hub and the dense
  targets of a graph do not depend on the file's node numbering beyond those ties.
* **Encoder.** :class:`~toposci.nn.GINEncoder` over one-hot node degrees (``N`` features:
  degree 0 .. N - 1, which covers every node of a graph with at most ``N`` nodes).
* **Decoder and loss.** :class:`~toposci.nn.OneShotGraphDecoder` with node classes 0 = absent,
  1 = present and edge classes 0 = no edge, 1 = edge;
  :func:`~toposci.nn.graph_reconstruction_loss`.
* **Topology view.** Upper-triangle adjacency then node mask, ``(B, N(N-1)/2 + N)``; decoder
  outputs as the same vector of probabilities.
* **Samples.** Argmax of nodes and edges; edges that touch an absent node are dropped; the
  dense adjacency is checked by :func:`~toposci.domains.social.adjacency_validity`
  (symmetric, no self-loops, connected). :meth:`SocialDomain.sample_metrics` gives the degree
  and clustering MMD (GraphRNN convention, :mod:`toposci.metrics.graphs`) between the valid
  samples and the validation graphs.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data

from toposci.domains.base import DomainData, Generated, GenerativeDomain
from toposci.domains.generative._graph_table import GraphTable
from toposci.domains.social import adjacency_validity, ego_subgraphs, read_tu_dataset
from toposci.download import shipped_dir
from toposci.nn.graph_decoders import (
    GraphLogits,
    OneShotGraphDecoder,
    graph_reconstruction_loss,
    symmetric_edge_probabilities,
)
from toposci.nn.graph_encoders import GINEncoder

__all__ = ["DenseGraph", "SocialData", "SocialDecoder", "SocialDomain", "SocialEncoder",
           "canonical_order"]

logger = logging.getLogger(__name__)

MODES = ("whole", "ego")


@dataclass
class SocialData:
    """What to load.

    Attributes:
        path: folder with the TUDataset files ``{name}_A.txt[.gz]`` ...; None for the shipped
            IMDB-BINARY sample. A relative path is resolved against the current directory.
        name: the data set name (file prefix).
        mode: ``"whole"`` graphs or ``"ego"`` subgraphs (see the module docstring).
        max_nodes: ``N``, node slots of the decoder.
        radius: hops of the ego subgraphs (``mode: ego``).
        egos_per_graph: ego subgraphs per graph (``mode: ego``; fewer for smaller graphs).
        val_fraction: fraction of the source graphs held out (at least one).
        seed: seed of the split, the ego centres and ``limit``'s subset.
        limit: keep a seeded random subset of at most this many training samples.
    """

    path: str | None = None
    name: str = "IMDB-BINARY"
    mode: str = "whole"
    max_nodes: int = 20
    radius: int = 1
    egos_per_graph: int = 4
    val_fraction: float = 0.2
    seed: int = 0
    limit: int | None = None


@dataclass
class SocialEncoder:
    hidden: int = 64
    layers: int = 3
    out_features: int = 64


@dataclass
class SocialDecoder:
    hidden: tuple[int, ...] = (256, 512)
    dropout: float = 0.0


class DenseGraph(NamedTuple):
    """One decoded graph: ``adjacency (N, N)`` uint8 and ``node_mask (N,)`` bool."""

    adjacency: Tensor
    node_mask: Tensor


def canonical_order(edge_index: Tensor, num_nodes: int) -> Tensor:
    """The canonical node order of the module docstring (degree-first breadth-first search).

    Args:
        edge_index: ``(2, E)`` undirected edges, both directions listed.
        num_nodes: ``n``.

    Returns:
        ``(n,)`` long: entry ``i`` is the original id of the node put in slot ``i``.
    """
    degree = torch.bincount(edge_index[0], minlength=num_nodes).tolist()
    neighbours: list[list[int]] = [[] for _ in range(num_nodes)]
    for a, b in edge_index.t().tolist():
        neighbours[a].append(b)
    rank = sorted(range(num_nodes), key=lambda v: (-degree[v], v))
    seen = [False] * num_nodes
    order: list[int] = []
    for root in rank:
        if seen[root]:
            continue
        seen[root] = True
        queue = deque([root])
        while queue:
            v = queue.popleft()
            order.append(v)
            for u in sorted(set(neighbours[v]), key=lambda w: (-degree[w], w)):
                if not seen[u]:
                    seen[u] = True
                    queue.append(u)
    return torch.tensor(order, dtype=torch.long)


class SocialDomain(GenerativeDomain):
    """Small social graphs (see the module docstring)."""

    name = "social"
    DataOptions = SocialData
    EncoderOptions = SocialEncoder
    DecoderOptions = SocialDecoder

    def __init__(self, options: SocialData) -> None:
        super().__init__(options)
        self._reference: list[Data] | None = None  # validation graphs, for sample_metrics

    # ------------------------------------------------------------------ data
    def load(self) -> DomainData:
        opts = self._checked_options()
        root = Path(opts.path) if opts.path is not None else shipped_dir() / "social"
        if not root.is_dir():
            raise ValueError(f"data.path {root} is not a folder; give the folder holding "
                             f"{opts.name}_A.txt[.gz] and the other TUDataset files, or null "
                             "for the shipped IMDB-BINARY sample")
        graphs = read_tu_dataset(root, opts.name)
        if len(graphs) < 2:
            raise ValueError(f"{root}: {opts.name} has {len(graphs)} graph; the split needs 2")
        g = torch.Generator().manual_seed(opts.seed)
        order = torch.randperm(len(graphs), generator=g).tolist()
        n_val = min(max(1, round(opts.val_fraction * len(graphs))), len(graphs) - 1)
        sides = {"val": sorted(order[:n_val]), "train": sorted(order[n_val:])}
        dropped = {"too_large": 0, "no_edges": 0}
        train = self._samples(graphs, sides["train"], dropped)
        val = self._samples(graphs, sides["val"], dropped)
        if len(train) < 2 or len(val) < 2:
            smallest = min(int(d.num_nodes) for d in graphs)
            raise ValueError(
                f"{root}: only {len(train)} training and {len(val)} validation graphs have at "
                f"most max_nodes={opts.max_nodes} nodes (and an edge); the smallest graph has "
                f"{smallest} nodes: raise data.max_nodes or use data.mode: ego"
            )
        n_all_train = len(train)
        if opts.limit is not None and n_all_train > opts.limit:
            keep = torch.randperm(n_all_train, generator=g)[: opts.limit].sort().values.tolist()
            train = [train[i] for i in keep]
        if any(dropped.values()):
            logger.info("%s: dropped %d graphs with more than max_nodes=%d nodes and %d "
                        "without an edge", root, dropped["too_large"], opts.max_nodes,
                        dropped["no_edges"])
        val_graphs = [self._canonical(d) for d in val]
        self._reference = val_graphs
        return DomainData(
            train=self._table([self._canonical(d) for d in train]),
            val=self._table(val_graphs),
            info={"source": str(root), "mode": opts.mode, "n_source_graphs": len(graphs),
                  "train_graphs": sides["train"], "val_graphs": sides["val"],
                  "n_train": len(train), "n_val": len(val),
                  "n_train_before_limit": n_all_train, "dropped_too_large":
                      dropped["too_large"], "dropped_no_edges": dropped["no_edges"]},
        )

    def _checked_options(self) -> SocialData:
        opts = self.options
        if opts.mode not in MODES:
            raise ValueError(f"unknown data.mode {opts.mode!r}; valid: {', '.join(MODES)}")
        if opts.max_nodes < 2:
            raise ValueError(f"data.max_nodes must be >= 2, got {opts.max_nodes}")
        if opts.radius < 1 or opts.egos_per_graph < 1:
            raise ValueError(f"data.radius and data.egos_per_graph must be >= 1, got "
                             f"{opts.radius} and {opts.egos_per_graph}")
        if not 0 < opts.val_fraction < 1:
            raise ValueError(f"data.val_fraction must lie in (0, 1), got {opts.val_fraction}")
        if opts.limit is not None and opts.limit < 2:
            raise ValueError(f"data.limit must keep at least 2 graphs, got {opts.limit}")
        return opts

    def _samples(self, graphs: list[Data], ids: list[int], dropped: dict[str, int]
                 ) -> list[Data]:
        """The samples of the graphs ``ids`` (whole or ego), counting dropped ones by reason."""
        opts = self.options
        out = []
        for i in ids:
            if opts.mode == "whole":
                candidates = [graphs[i]]
            else:
                candidates = ego_subgraphs(
                    graphs[i], k=opts.radius, n_samples=min(opts.egos_per_graph,
                                                            int(graphs[i].num_nodes)),
                    max_nodes=opts.max_nodes, seed=opts.seed * 1_000_003 + i)
            for sub in candidates:
                if sub.num_nodes > opts.max_nodes:
                    dropped["too_large"] += 1
                elif sub.edge_index.shape[1] == 0:
                    dropped["no_edges"] += 1
                else:
                    out.append(sub)
        return out

    def _canonical(self, graph: Data) -> Data:
        """The graph relabelled in canonical order, with one-hot degree features ``x (n, N)``."""
        n = int(graph.num_nodes)
        order = canonical_order(graph.edge_index, n)  # (n,) old id of each slot
        new_id = torch.empty(n, dtype=torch.long)
        new_id[order] = torch.arange(n)
        edge_index = new_id[graph.edge_index]  # (2, E)
        degree = torch.bincount(edge_index[0], minlength=n)  # (n,)
        x = nn.functional.one_hot(degree, self.options.max_nodes).float()  # (n, N)
        return Data(x=x, edge_index=edge_index, num_nodes=n)

    def _table(self, graphs: list[Data]) -> GraphTable:
        N = self.options.max_nodes
        node = torch.zeros(len(graphs), N, dtype=torch.long)  # (G, N) 1 = node present
        edge = torch.zeros(len(graphs), N, N, dtype=torch.long)  # (G, N, N) 1 = edge
        for i, d in enumerate(graphs):
            node[i, : d.num_nodes] = 1
            edge[i, d.edge_index[0], d.edge_index[1]] = 1
        return GraphTable.from_data_list(graphs, {"node_target": node, "edge_target": edge})

    def collate(self, samples: GraphTable, indices: Tensor) -> Batch:
        return samples.batch(indices)

    def batch_size(self, batch: Batch) -> int:
        return batch.num_graphs

    # ------------------------------------------------------------------ networks
    def make_encoder(self, options: SocialEncoder) -> nn.Module:
        return GINEncoder(self.options.max_nodes, hidden=options.hidden, layers=options.layers,
                          out_features=options.out_features)

    def make_decoder(self, options: SocialDecoder, latent_dim: int) -> nn.Module:
        return OneShotGraphDecoder(latent_dim, self.options.max_nodes, 2, 2,
                                   hidden=options.hidden, dropout=options.dropout)

    # ------------------------------------------------------------------ ModelIO
    def reconstruction_loss(self, output: GraphLogits, batch: Batch) -> Tensor:
        return graph_reconstruction_loss(output, batch.node_target, batch.edge_target)

    def data_view(self, batch: Batch) -> Tensor:
        return _view(batch.edge_target.float(), batch.node_target.float())

    def output_view(self, output: GraphLogits) -> Tensor:
        edge = symmetric_edge_probabilities(output)[..., 1]  # (B, N, N)
        return _view(edge, output.node.softmax(dim=-1)[..., 1])

    # ------------------------------------------------------------------ samples
    def generate(self, output: GraphLogits, *, correction: str = "none") -> Generated:
        """Argmax graphs (edges to absent nodes dropped), checked by ``adjacency_validity``."""
        self.check_correction(correction)
        node_logits = output.node.detach().float().cpu()  # (B, N, 2)
        edge_logits = output.edge.detach().float().cpu()  # (B, N, N, 2)
        N = self.options.max_nodes
        B = node_logits.shape[0]
        if node_logits.shape != (B, N, 2) or edge_logits.shape != (B, N, N, 2):
            raise ValueError(f"decoder output must be GraphLogits with node (B, {N}, 2) and edge "
                             f"(B, {N}, {N}, 2), got {tuple(node_logits.shape)} and "
                             f"{tuple(edge_logits.shape)}")
        mask = node_logits.argmax(dim=-1) == 1  # (B, N)
        adj = (edge_logits.argmax(dim=-1) == 1) & mask.unsqueeze(2) & mask.unsqueeze(1)
        items = [DenseGraph(a.to(torch.uint8), m) for a, m in zip(adj, mask)]
        return Generated(items, [adjacency_validity(a, node_mask=m) for a, m in items],
                         correction)

    def write_samples(self, generated: Generated, path: Path) -> list[Path]:
        """``path`` (.npz): ``adjacency (n, N, N)`` uint8, ``node_mask (n, N)`` bool,
        ``valid (n,)`` and ``reason (n,)``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, adjacency=torch.stack([g.adjacency for g in generated.items]).numpy(),
                 node_mask=torch.stack([g.node_mask for g in generated.items]).numpy(),
                 valid=np.array([bool(v) for v in generated.validity], dtype=bool),
                 reason=np.array([v.reason for v in generated.validity]))
        return [path]

    def sample_metrics(self, generated: Generated) -> dict[str, Any]:
        """Degree and clustering MMD (GraphRNN convention) of the valid samples against the
        validation graphs, plus the mean node and edge counts of both."""
        from toposci.metrics.graphs import clustering_mmd, degree_mmd

        graphs = [_to_data(g) for g, ok in zip(generated.items, generated.validity) if ok]
        if not graphs:
            return {"n_valid_graphs": 0}
        if self._reference is None:
            self.load()
        reference = self._reference

        def mean_size(gs: list[Data]) -> tuple[float, float]:
            return (float(np.mean([d.num_nodes for d in gs])),
                    float(np.mean([d.edge_index.shape[1] / 2 for d in gs])))

        (nodes, edges), (ref_nodes, ref_edges) = mean_size(graphs), mean_size(reference)
        return {"n_valid_graphs": len(graphs), "n_reference_graphs": len(reference),
                "degree_mmd": degree_mmd(reference, graphs),
                "clustering_mmd": clustering_mmd(reference, graphs),
                "nodes_mean": nodes, "edges_mean": edges,
                "reference_nodes_mean": ref_nodes, "reference_edges_mean": ref_edges}


def _view(edge: Tensor, node: Tensor) -> Tensor:
    """``(B, N(N-1)/2 + N)`` from edge scores ``(B, N, N)`` and node scores ``(B, N)``."""
    N = node.shape[1]
    i, j = torch.triu_indices(N, N, offset=1, device=edge.device)
    return torch.cat([edge[:, i, j], node], dim=1)


def _to_data(graph: DenseGraph) -> Data:
    """The present nodes of a decoded graph as a ``Data`` (nodes renumbered 0 .. n-1)."""
    adj = graph.adjacency[graph.node_mask][:, graph.node_mask]  # (n, n)
    return Data(edge_index=adj.nonzero().t().contiguous(), num_nodes=adj.shape[0])
