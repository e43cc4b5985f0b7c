"""Many small graphs held as one collated PyG ``Batch``, from which batches are cut by index.

Indexing an ``InMemoryDataset`` item by item and collating costs far more than the model's
forward pass on batches of small graphs (QM9); cutting a batch out of one big collated graph is
a few tensor gathers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from toposci.domains.cache import ptr_from_sizes, select_segments

__all__ = ["GraphTable"]


class GraphTable:
    """``G`` graphs with node features, edges and per-graph tensors, batched by index.

    Build it with the constructor or :meth:`from_data_list`.

    Args:
        x: node features of all graphs, concatenated.
        edge_index: edges with global node ids (graph ``g``'s nodes are
            ``node_ptr[g]:node_ptr[g + 1]``), grouped by graph.
        edge_attr: edge features, or None.
        node_ptr, edge_ptr: offsets of each graph's nodes and edges.
        graph_tensors: per-graph tensors ``(G, ...)``, cut along with the graphs (dense targets).

    Shapes:
        ``x (sum N, F)``, ``edge_index (2, sum E)``, ``edge_attr (sum E, Fe)``,
        ``node_ptr (G + 1,)``, ``edge_ptr (G + 1,)``; ``batch(indices (B,))`` -> a ``Batch`` of
        the ``B`` graphs in ascending index order, with each of ``graph_tensors`` as an
        attribute ``(B, ...)``.
    """

    def __init__(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None, node_ptr: Tensor,
                 edge_ptr: Tensor, graph_tensors: dict[str, Tensor] | None = None) -> None:
        G = node_ptr.numel() - 1
        if G < 1:
            raise ValueError("a GraphTable needs at least one graph")
        if edge_ptr.numel() != G + 1 or int(node_ptr[-1]) != x.shape[0] or \
                int(edge_ptr[-1]) != edge_index.shape[1]:
            raise ValueError("node_ptr / edge_ptr do not match x and edge_index")
        self.x, self.edge_index, self.edge_attr = x, edge_index, edge_attr
        self.node_ptr, self.edge_ptr = node_ptr, edge_ptr
        self.graph_tensors = dict(graph_tensors or {})
        for name, t in self.graph_tensors.items():
            if t.shape[0] != G:
                raise ValueError(f"graph tensor {name!r} has {t.shape[0]} rows for {G} graphs")

    @classmethod
    def from_data_list(cls, graphs: Sequence[Data],
                       graph_tensors: dict[str, Tensor] | None = None) -> GraphTable:
        """A table of ``Data`` graphs (``x``, ``edge_index`` and optional ``edge_attr``)."""
        if len(graphs) == 0:
            raise ValueError("a GraphTable needs at least one graph")
        keys = [k for k in ("x", "edge_index", "edge_attr") if k in graphs[0]]
        full = Batch.from_data_list([Data(**{k: g[k] for k in keys}) for g in graphs])
        edge_graph = full.batch[full.edge_index[0]]  # (sum E,)
        edge_ptr = ptr_from_sizes(torch.bincount(edge_graph, minlength=len(graphs)))
        return cls(full.x, full.edge_index, getattr(full, "edge_attr", None), full.ptr,
                   edge_ptr, graph_tensors)

    def __len__(self) -> int:
        return self.node_ptr.numel() - 1

    def batch(self, indices: Tensor) -> Batch:
        """The graphs at ``indices`` (sorted; duplicates are kept once) as one ``Batch``."""
        G = len(self)
        indices = torch.as_tensor(indices, dtype=torch.long)
        if indices.numel() == 0:
            raise ValueError("cannot make a batch of zero graphs")
        if int(indices.min()) < 0 or int(indices.max()) >= G:
            raise ValueError(f"graph indices must lie in [0, {G}), got "
                             f"[{int(indices.min())}, {int(indices.max())}]")
        keep = torch.zeros(G, dtype=torch.bool)
        keep[indices] = True
        node_keep, node_ptr = select_segments(self.node_ptr, keep)  # (sum N,), (B + 1,)
        edge_keep, _ = select_segments(self.edge_ptr, keep)  # (sum E,)
        new_id = torch.cumsum(node_keep.long(), 0) - 1  # (sum N,) new id of each kept node
        sizes = node_ptr.diff()  # (B,)
        out = Batch(
            x=self.x[node_keep],
            edge_index=new_id[self.edge_index[:, edge_keep]],
            batch=torch.repeat_interleave(torch.arange(sizes.numel()), sizes),
            ptr=node_ptr,
        )
        if self.edge_attr is not None:
            out.edge_attr = self.edge_attr[edge_keep]
        for name, t in self.graph_tensors.items():
            out[name] = t[keep]
        out._num_graphs = sizes.numel()
        return out
