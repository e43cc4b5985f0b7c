"""Graph filtrations: the clique complex of an edge-weighted graph and lower-star filtrations.

Graphs come as PyG ``Data`` (one graph), a PyG ``Batch`` (one diagram per graph), an undirected
``networkx.Graph``, or a list of ``Data`` / ``networkx.Graph`` (one diagram each). Edges are read
as undirected: a PyG ``edge_index`` may list an edge in one direction or in both (the usual
storage of undirected graphs); both directions must then carry the same weight. Self-loops are
rejected (``torch_geometric.utils.remove_self_loops`` removes them).

Edge and node orders, which is what a weight or value tensor is aligned with:

* PyG: the columns of ``edge_index`` and the nodes ``0 .. num_nodes - 1``; for a ``Batch`` or a
  list, the concatenation over graphs (a ``Batch`` stores them that way already).
* networkx: ``G.edges()`` (each undirected edge once) and ``G.nodes()``.

The simplices of a detached copy are paired by the native kernel of
:mod:`toposci.topology.native.flag` (H0, H1: GUDHI's pairs and simplices, a whole batch in one
call) or by GUDHI's ``SimplexTree`` (H2 and up); every birth and death is then gathered from the
input tensor (an edge weight or a node value) by index, so the diagrams are differentiable with
respect to it (almost everywhere: at ties the simplex GUDHI would pick is used). Finite points are
listed in GUDHI's order; essential classes (H0, H1) by the filtration order of their births.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations

import gudhi
import networkx as nx
import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from toposci._validation import check_finite
from toposci.topology._common import check_homology_dims, diagrams_from_index
from toposci.topology.diagrams import Diagrams
from toposci.topology.native.flag import flag_pairs_native

__all__ = ["clique_diagrams", "lower_star_diagrams"]

Graphs = Data | Batch | nx.Graph | Sequence[Data | nx.Graph]

_NODE_VALUE_NAMES = ("degree",)


@dataclass(frozen=True)
class _GraphBatch:
    """Graphs flattened to one global node numbering and one list of undirected edges.

    Attributes:
        ptr: ``(G + 1,)`` node offsets: graph ``g`` owns nodes ``ptr[g] .. ptr[g+1] - 1``.
        edges: ``(U, 2)`` distinct undirected edges ``u < v`` (global ids), sorted, hence
            grouped by graph.
        keys: ``(U,)`` sorted keys ``u * N + v`` of ``edges``.
        edge_ptr: ``(G + 1,)`` offsets of each graph's edges in ``edges``.
        edge_pos: ``(U,)`` column of each edge in the caller's edge order (first occurrence).
        src, dst: ``(E,)`` endpoints of every input edge in the caller's order (global ids).
        inverse: ``(E,)`` row of ``edges`` that each input edge is.
    """

    ptr: np.ndarray
    edges: np.ndarray
    keys: np.ndarray
    edge_ptr: np.ndarray
    edge_pos: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    inverse: np.ndarray

    @property
    def num_graphs(self) -> int:
        return len(self.ptr) - 1

    @property
    def num_nodes(self) -> int:
        return int(self.ptr[-1])

    def edge_rows(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Rows of ``edges`` holding the undirected edges ``{u, v}`` (which must exist)."""
        n = self.num_nodes
        return np.searchsorted(self.keys, np.minimum(u, v) * n + np.maximum(u, v))


# ---------------------------------------------------------------------- public functions
def clique_diagrams(
    graphs: Graphs,
    *,
    edge_weight: Tensor | None = None,
    weight: str = "weight",
    homology_dims: Sequence[int] = (0, 1),
    max_dim: int = 2,
) -> dict[int, Diagrams]:
    """Persistence of the clique (flag) complex of edge-weighted graphs.

    Every vertex enters at 0, every edge at its weight, and every clique of up to ``max_dim + 1``
    vertices at the largest weight of its edges. Weights must therefore be non-negative (a
    negative weight would enter an edge before its vertices).

    Args:
        graphs: a PyG ``Data`` or ``Batch``, a ``networkx.Graph``, or a list of ``Data`` /
            ``networkx.Graph`` (see the module docstring for edge orders).
        edge_weight: ``(E,)`` weights in the edge order of ``graphs``: PyG ``edge_index``
            columns (both directions of an undirected edge, equal weights), or ``G.edges()`` for
            networkx. ``None``: PyG graphs use their ``edge_weight`` attribute (all ones when
            absent), networkx graphs their edge attribute ``weight`` (1 when absent).
        weight: name of the networkx edge attribute holding weights.
        homology_dims: homology dimensions to return, each in ``0 .. max_dim``. Classes of
            dimension ``max_dim`` never die (no larger cliques are added).
        max_dim: largest simplex dimension (``2``: triangles, which is what H1 needs).

    Returns:
        ``{k: Diagrams}`` for each ``k`` in ``homology_dims``, one diagram per graph, values in
        the dtype of the weights and differentiable with respect to them. Zero-persistence
        pairs are left out (as GUDHI does); essential classes have death ``+inf``.

    Shapes:
        edge_weight: ``(E,)``; each ``Diagrams``: values ``(G, M, 2)``, mask ``(G, M)`` with
        ``G`` the number of graphs.
    """
    if max_dim < 1:
        raise ValueError(f"max_dim must be >= 1 (1: the graph itself), got {max_dim}")
    dims = check_homology_dims(homology_dims, max_dim=max_dim,
                               what=f"a clique complex with max_dim={max_dim}")
    items = _as_list(graphs)
    batch = _flatten(items)
    weights = _edge_weights(items, batch, edge_weight, weight)
    w = weights.detach().to("cpu", torch.float64).numpy()  # (E,)
    _check_symmetric(batch, w)
    if (w < 0).any():
        raise ValueError(f"edge weights must be >= 0 (vertices enter at 0), got min {w.min()}")
    w_unique = w[batch.edge_pos]  # (U,)

    # source = [0 (every vertex), weights of the input edges]
    source = torch.cat([weights.new_zeros(1), weights])

    def index(simplices: np.ndarray) -> np.ndarray:
        """Source index of each simplex's value: its heaviest edge (0 for a vertex)."""
        if simplices.shape[1] == 1:
            return np.zeros(len(simplices), dtype=np.int64)
        pairs_ = np.array(list(combinations(range(simplices.shape[1]), 2)))  # (C, 2)
        edge = batch.edge_rows(simplices[:, pairs_[:, 0]], simplices[:, pairs_[:, 1]])  # (m, C)
        heaviest = edge[np.arange(len(edge)), np.argmax(w_unique[edge], axis=1)]  # (m,)
        return 1 + batch.edge_pos[heaviest]

    pairs = _pair_simplices(batch, np.zeros(batch.num_nodes), w_unique, max_dim, dims)
    return {d: diagrams_from_index(source, _rows(*pairs[d], index), d) for d in dims}


def lower_star_diagrams(
    graphs: Graphs,
    node_values: Tensor | str = "degree",
    *,
    homology_dims: Sequence[int] = (0, 1),
    max_dim: int = 1,
    superlevel: bool = False,
) -> dict[int, Diagrams]:
    """Persistence of the lower-star filtration of a function on the nodes of graphs.

    A simplex enters at the largest value of its vertices. With ``max_dim=1`` the complex is the
    graph itself, so every cycle is born when its last vertex enters and never dies (an infinite
    H1 bar); ``max_dim >= 2`` also fills the cliques of up to ``max_dim + 1`` vertices.

    Args:
        graphs: a PyG ``Data`` or ``Batch``, a ``networkx.Graph``, or a list of ``Data`` /
            ``networkx.Graph`` (see the module docstring for node orders).
        node_values: ``(N,)`` values over the nodes of all graphs in order, or ``"degree"``
            (number of distinct neighbours; not differentiable, of course).
        homology_dims: homology dimensions to return, each in ``0 .. max_dim``.
        max_dim: largest simplex dimension.
        superlevel: filter by decreasing values instead: the lower-star filtration of
            ``-node_values`` with the values negated back, so points have ``birth >= death`` and
            essential classes die at ``-inf``.

    Returns:
        ``{k: Diagrams}`` for each ``k`` in ``homology_dims``, one diagram per graph,
        differentiable with respect to ``node_values``. Zero-persistence pairs are left out (as
        GUDHI does); essential classes have death ``+inf`` (``-inf`` with ``superlevel``).

    Shapes:
        node_values: ``(N,)``; each ``Diagrams``: values ``(G, M, 2)``, mask ``(G, M)``.
    """
    if max_dim < 1:
        raise ValueError(f"max_dim must be >= 1 (1: the graph itself), got {max_dim}")
    dims = check_homology_dims(homology_dims, max_dim=max_dim,
                               what=f"a lower-star complex with max_dim={max_dim}")
    items = _as_list(graphs)
    batch = _flatten(items)
    values = _node_values(batch, node_values)
    source = -values if superlevel else values  # (N,)
    f = source.detach().to("cpu", torch.float64).numpy()  # (N,)
    edge_values = np.max(f[batch.edges], axis=1) if len(batch.edges) else np.zeros(0)  # (U,)

    def index(simplices: np.ndarray) -> np.ndarray:
        """Source index of each simplex's value: its highest vertex."""
        top = np.argmax(f[simplices], axis=1)  # (m,)
        return simplices[np.arange(len(simplices)), top]

    pairs = _pair_simplices(batch, f, edge_values, max_dim, dims)
    return {d: diagrams_from_index(source, _rows(*pairs[d], index), d, negate=superlevel)
            for d in dims}


# ---------------------------------------------------------------------- persistence
_PairSimplices = tuple[np.ndarray, np.ndarray, np.ndarray]


def _pair_simplices(batch: _GraphBatch, vertex_values: np.ndarray, edge_values: np.ndarray,
                    max_dim: int, dims: Sequence[int]) -> dict[int, _PairSimplices]:
    """Birth and death simplices of every pair, per homology dimension.

    H0 and H1 come from the native kernel (one call for the whole batch); H2 and up from one
    GUDHI ``SimplexTree`` per graph. Both give GUDHI's pairs with GUDHI's simplices.

    Args:
        batch: the graphs; vertex_values: ``(N,)``; edge_values: ``(U,)``, each at least the
            values of its two vertices; max_dim: expansion dimension (cliques get the largest
            value of their edges); dims: the homology dimensions wanted.

    Returns:
        ``{d: (births (P, d + 1), deaths (P, d + 2), counts (G,))}``: global vertex ids in
        decreasing order, pairs grouped by graph; a death row of ``-1``: an essential class.
    """
    if max(dims) <= 1:
        pairs = flag_pairs_native(batch.ptr, batch.edges, batch.edge_ptr, vertex_values,
                                  edge_values, max_dim=max_dim)
        return {d: pairs[d] for d in dims}
    found: dict[int, list[tuple[list[int], list[int]]]] = {d: [] for d in dims}
    counts = {d: np.zeros(batch.num_graphs, dtype=np.int64) for d in dims}
    for g in range(batch.num_graphs):
        lo, hi = batch.ptr[g], batch.ptr[g + 1]
        e_lo, e_hi = batch.edge_ptr[g], batch.edge_ptr[g + 1]
        pairs_g = _gudhi_pairs(batch.edges[e_lo:e_hi] - lo, vertex_values[lo:hi],
                               edge_values[e_lo:e_hi], max_dim)
        for d in dims:
            for birth, death in pairs_g.get(d, []):
                death_ = [v + lo for v in death] or [-1] * (d + 2)  # [] -> essential
                found[d].append(([v + lo for v in birth], death_))
            counts[d][g] = len(pairs_g.get(d, []))
    return {d: (np.array([b for b, _ in found[d]], dtype=np.int64).reshape(-1, d + 1),
                np.array([x for _, x in found[d]], dtype=np.int64).reshape(-1, d + 2),
                counts[d]) for d in dims}


def _gudhi_pairs(edges: np.ndarray, vertex_values: np.ndarray, edge_values: np.ndarray,
                 max_dim: int) -> dict[int, list[tuple[list[int], list[int]]]]:
    """GUDHI persistence pairs of one flag complex, grouped by homology dimension.

    Args:
        edges: ``(U, 2)`` local edges; vertex_values ``(n,)``; edge_values ``(U,)``, each at
            least the values of its two vertices.
        max_dim: expansion dimension (cliques get the largest value of their edges).
    """
    tree = gudhi.SimplexTree()
    tree.insert_batch(np.arange(len(vertex_values))[None], vertex_values)
    if len(edges):
        tree.insert_batch(edges.T, edge_values)
    if max_dim >= 2:
        tree.expansion(max_dim)
    tree.compute_persistence(persistence_dim_max=True)
    out: dict[int, list[tuple[list[int], list[int]]]] = {}
    for birth, death in tree.persistence_pairs():
        out.setdefault(len(birth) - 1, []).append((birth, death))
    return out


def _rows(births: np.ndarray, deaths: np.ndarray, counts: np.ndarray,
          index: Callable[[np.ndarray], np.ndarray]) -> list[np.ndarray]:
    """Per graph, ``(m_g, 2)`` source indices of (birth, death); ``-1`` for an infinite death.

    Shapes:
        births: ``(P, k)``; deaths: ``(P, k + 1)``; counts: ``(G,)`` with sum ``P``.
    """
    out = np.full((len(births), 2), -1, dtype=np.int64)  # (P, 2)
    if len(births):
        out[:, 0] = index(births)
        finite = deaths[:, 0] >= 0  # (P,)
        if finite.any():
            out[finite, 1] = index(deaths[finite])
    return np.split(out, np.cumsum(counts)[:-1])


# ---------------------------------------------------------------------- inputs
def _as_list(graphs: Graphs) -> list[Data | nx.Graph]:
    """One entry per graph: a ``Batch`` is split, a single graph wrapped."""
    if isinstance(graphs, Batch):
        if graphs.num_graphs == 0:
            raise ValueError("graphs is an empty Batch")
        return [graphs]
    if isinstance(graphs, (Data, nx.Graph)):
        items: list = [graphs]
    elif isinstance(graphs, Sequence) and not isinstance(graphs, str):
        items = list(graphs)
    else:
        raise ValueError("graphs must be a torch_geometric Data or Batch, a networkx.Graph, or a "
                         f"list of Data / networkx.Graph, got {type(graphs).__name__}")
    if not items:
        raise ValueError("graphs is an empty list")
    for i, item in enumerate(items):
        if isinstance(item, Batch):
            raise ValueError(f"graphs[{i}] is a Batch: pass the Batch itself, not in a list")
        if isinstance(item, nx.Graph) and (item.is_directed() or item.is_multigraph()):
            raise ValueError(f"graphs[{i}] is a {type(item).__name__}: only undirected simple "
                             "networkx.Graph is supported")
        if not isinstance(item, (Data, nx.Graph)):
            raise ValueError(f"graphs[{i}] must be a torch_geometric Data or networkx.Graph, got "
                             f"{type(item).__name__}")
    return items


def _structure(item: Data | nx.Graph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ptr, src, dst)`` of one entry of :func:`_as_list` (a Batch may hold several graphs)."""
    if isinstance(item, nx.Graph):
        position = {node: i for i, node in enumerate(item.nodes())}
        pairs = np.array([(position[u], position[v]) for u, v in item.edges()],
                         dtype=np.int64).reshape(-1, 2)
        return np.array([0, len(position)]), pairs[:, 0], pairs[:, 1]
    if isinstance(item, Batch):
        ptr = item.ptr.cpu().numpy()
    else:
        ptr = np.array([0, item.num_nodes or 0])
    edge_index = item.edge_index
    if edge_index is None:
        edge_index = torch.zeros(2, 0, dtype=torch.long)
    if edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must have shape (2, E), got {tuple(edge_index.shape)}")
    edge_index = edge_index.cpu().numpy()
    if edge_index.size and (edge_index.min() < 0 or edge_index.max() >= ptr[-1]):
        raise ValueError(f"edge_index refers to nodes outside 0 .. {ptr[-1] - 1}")
    return ptr, edge_index[0], edge_index[1]


def _flatten(items: list[Data | nx.Graph]) -> _GraphBatch:
    """Global node numbering, distinct undirected edges and the map from input edges to them."""
    ptrs, srcs, dsts = [np.zeros(1, dtype=np.int64)], [], []
    for item in items:
        ptr, src, dst = _structure(item)
        offset = ptrs[-1][-1]
        ptrs.append(ptr[1:] + offset)
        srcs.append(src + offset)
        dsts.append(dst + offset)
    ptr = np.concatenate(ptrs)
    src, dst = np.concatenate(srcs), np.concatenate(dsts)
    sizes = np.diff(ptr)
    if (sizes == 0).any():
        raise ValueError(f"graph {int(np.argmax(sizes == 0))} has no nodes")
    if (src == dst).any():
        i = int(np.argmax(src == dst))
        raise ValueError(f"self-loop on node {src[i]} (edge {i}): self-loops are not supported, "
                         "remove them (torch_geometric.utils.remove_self_loops)")
    n = int(ptr[-1])
    keys = np.minimum(src, dst) * n + np.maximum(src, dst)  # (E,)
    unique, edge_pos, inverse = np.unique(keys, return_index=True, return_inverse=True)
    edges = np.stack([unique // n, unique % n], axis=1)  # (U, 2)
    edge_ptr = np.searchsorted(edges[:, 0], ptr)  # graphs own contiguous node ranges
    return _GraphBatch(ptr, edges, unique, edge_ptr, edge_pos, src, dst, inverse.reshape(-1))


def _edge_weights(items: list[Data | nx.Graph], batch: _GraphBatch, edge_weight: Tensor | None,
                  weight: str) -> Tensor:
    """The ``(E,)`` weight tensor: the argument, or gathered from the graphs."""
    E = len(batch.src)
    if edge_weight is None:
        parts = []
        for item in items:
            if isinstance(item, nx.Graph):
                parts.append(torch.tensor([a.get(weight, 1.0) for _, _, a in item.edges(data=True)],
                                          dtype=torch.get_default_dtype()))
            elif getattr(item, "edge_weight", None) is not None:
                parts.append(item.edge_weight)
            else:
                n_edges = 0 if item.edge_index is None else item.edge_index.shape[1]
                parts.append(torch.ones(n_edges))
        edge_weight = torch.cat([p.reshape(-1) for p in parts])
        name = "the graphs' edge weights"
    else:
        name = "edge_weight"
    if not isinstance(edge_weight, Tensor) or not edge_weight.is_floating_point():
        raise ValueError(f"{name} must be a floating-point torch.Tensor of shape (E,)")
    if edge_weight.shape != (E,):
        raise ValueError(f"{name} must have shape (E,) = ({E},) (one weight per edge in the "
                         f"graphs' edge order), got {tuple(edge_weight.shape)}")
    check_finite(edge_weight, name)
    return edge_weight


def _check_symmetric(batch: _GraphBatch, w: np.ndarray) -> None:
    """Both directions (and any repeats) of an undirected edge must carry the same weight."""
    first = w[batch.edge_pos][batch.inverse]  # (E,) weight of each edge's first occurrence
    bad = np.flatnonzero(first != w)
    if bad.size:
        i = int(bad[0])
        j = int(batch.edge_pos[batch.inverse[i]])
        raise ValueError(
            f"edge {i} ({batch.src[i]} -> {batch.dst[i]}) has weight {w[i]} but edge {j} "
            f"({batch.src[j]} -> {batch.dst[j]}), the same undirected edge, has weight {w[j]}: "
            "undirected graphs need equal weights in both directions")


def _node_values(batch: _GraphBatch, node_values: Tensor | str) -> Tensor:
    """The ``(N,)`` node values: the tensor given, or computed from the graphs by name."""
    N = batch.num_nodes
    if isinstance(node_values, str):
        if node_values not in _NODE_VALUE_NAMES:
            raise ValueError(f"unknown node_values {node_values!r}: pass a tensor (N,) or one of "
                             f"{list(_NODE_VALUE_NAMES)}")
        degree = np.bincount(batch.edges.reshape(-1), minlength=N)  # (N,)
        return torch.from_numpy(degree).to(torch.get_default_dtype())
    if not isinstance(node_values, Tensor) or not node_values.is_floating_point():
        raise ValueError("node_values must be a floating-point torch.Tensor of shape (N,) or "
                         f"one of {list(_NODE_VALUE_NAMES)}")
    if node_values.shape != (N,):
        raise ValueError(f"node_values must have shape (N,) = ({N},) (every node of every graph), "
                         f"got {tuple(node_values.shape)}")
    check_finite(node_values, "node_values")
    return node_values
