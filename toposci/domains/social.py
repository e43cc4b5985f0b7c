"""Social graphs: TUDataset files, ego subgraphs of a large graph, validity and graph statistics.

TUDataset raw format (Morris et al., 2020), for a data set ``NAME`` in one folder, each file
plain text or gzip (``.txt`` or ``.txt.gz``):

* ``NAME_A.txt``: one directed edge ``i, j`` per line, 1-based global node ids;
* ``NAME_graph_indicator.txt``: line ``k`` is the 1-based graph id of node ``k``;
* ``NAME_graph_labels.txt``: line ``g`` is the class label of graph ``g``;
* ``NAME_node_labels.txt`` (optional): line ``k`` is an integer label of node ``k``.

:func:`read_tu_dataset` returns one PyG ``Data`` per graph with a coalesced, undirected,
0-based ``edge_index``: duplicate lines are merged (IMDB-BINARY lists every directed edge twice),
a missing reverse direction is added, self-loops are dropped (as PyG's ``TUDataset`` does).
Graph labels are renumbered to ``0 .. C-1`` in sorted order (a no-op for IMDB-BINARY's 0/1).
"""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import networkx as nx
import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from toposci.domains._io import read_bytes
from toposci.domains.validity import Validity

__all__ = [
    "adjacency_validity",
    "clustering_coefficients",
    "degree_histogram",
    "ego_subgraphs",
    "read_tu_dataset",
    "to_networkx",
]

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------- reading
def read_tu_dataset(root: str | Path, name: str) -> list[Data]:
    """Read a TUDataset data set from its raw text files.

    Args:
        root: folder holding ``{name}_A.txt[.gz]`` and the other files.
        name: data set name, e.g. ``"IMDB-BINARY"``.

    Returns:
        One ``Data`` per graph, in graph-id order, with ``edge_index (2, E_g)`` (both directions,
        coalesced, 0-based), ``y (1,)`` long label, ``num_nodes`` and, when node labels exist,
        ``x (N_g, L)`` one-hot node labels.

    Raises:
        ValueError: a file is missing or malformed (the message names the file and line), a node
            id is out of range, an edge joins two graphs, or a graph has no node.
    """
    root = Path(root)
    indicator_file = _find(root, f"{name}_graph_indicator")
    labels_file = _find(root, f"{name}_graph_labels")
    edges_file = _find(root, f"{name}_A")
    graph_of, _ = _read_ints(indicator_file, 1)  # (N, 1) 1-based graph ids
    graph_of = graph_of[:, 0] - 1  # (N,)
    labels, _ = _read_ints(labels_file, 1)
    n_graphs, n_nodes = labels.shape[0], graph_of.shape[0]
    if n_graphs == 0 or n_nodes == 0:
        raise ValueError(f"{labels_file if n_graphs == 0 else indicator_file}: the file is empty")
    bad = (graph_of < 0) | (graph_of >= n_graphs)
    if bad.any():
        k = int(bad.nonzero()[0])
        raise ValueError(
            f"{indicator_file}: line {k + 1}: graph id {int(graph_of[k]) + 1} is outside "
            f"1..{n_graphs} (the number of lines of {labels_file.name})"
        )
    nodes_per_graph = torch.bincount(graph_of, minlength=n_graphs)  # (G,)
    if (nodes_per_graph == 0).any():
        g = int((nodes_per_graph == 0).nonzero()[0])
        raise ValueError(f"{indicator_file}: graph {g + 1} has no node")

    edges, lines = _read_ints(edges_file, 2)  # (E, 2) 1-based global ids, (E,) line numbers
    edges = edges - 1
    out_of_range = ((edges < 0) | (edges >= n_nodes)).any(1)
    if out_of_range.any():
        k = int(out_of_range.nonzero()[0])
        raise ValueError(
            f"{edges_file}: line {int(lines[k])}: node id {(edges[k] + 1).tolist()} outside "
            f"1..{n_nodes} (the number of lines of {indicator_file.name})"
        )
    crossing = graph_of[edges[:, 0]] != graph_of[edges[:, 1]]
    if crossing.any():
        k = int(crossing.nonzero()[0])
        a, b = (int(v) for v in edges[k])
        raise ValueError(
            f"{edges_file}: line {int(lines[k])}: edge {a + 1}, {b + 1} joins graph "
            f"{int(graph_of[a]) + 1} and graph {int(graph_of[b]) + 1}"
        )

    x_all = _read_node_labels(root, name, n_nodes)
    _, y = labels[:, 0].unique(sorted=True, return_inverse=True)  # (G,) labels 0..C-1
    # 0-based index of every node inside its graph, in global-id order
    order = torch.argsort(graph_of, stable=True)  # (N,)
    ptr = torch.cat([torch.zeros(1, dtype=torch.long), nodes_per_graph.cumsum(0)])  # (G + 1,)
    local = torch.empty(n_nodes, dtype=torch.long)
    local[order] = torch.arange(n_nodes) - ptr[graph_of[order]]
    # symmetrise, drop self-loops and duplicates, sort by (graph, source, target): one unique()
    src = torch.cat([edges[:, 0], edges[:, 1]])  # (2E,)
    dst = torch.cat([edges[:, 1], edges[:, 0]])
    n_loops = int((edges[:, 0] == edges[:, 1]).sum())
    src, dst = src[src != dst], dst[src != dst]
    m = int(nodes_per_graph.max())
    key = ((graph_of[src] * m + local[src]) * m + local[dst]).unique()  # (E',) sorted
    edge_graph, key = key // (m * m), key % (m * m)
    local_edges = torch.stack([key // m, key % m])  # (2, E') grouped by graph
    per_graph = torch.bincount(edge_graph, minlength=n_graphs).tolist()
    graphs: list[Data] = []
    for g, ei in enumerate(torch.split(local_edges, per_graph, dim=1)):
        data = Data(edge_index=ei, y=y[g : g + 1], num_nodes=int(nodes_per_graph[g]))
        if x_all is not None:
            data.x = x_all[order[ptr[g] : ptr[g + 1]]]
        graphs.append(data)
    if n_loops:
        logger.info("%s: dropped %d self-loop lines", edges_file, n_loops)
    return graphs


def to_networkx(data: Data) -> nx.Graph:
    """An undirected networkx graph with nodes ``0 .. N-1`` and the edges of ``data``."""
    graph = nx.Graph()
    graph.add_nodes_from(range(int(data.num_nodes)))
    src, dst = data.edge_index
    keep = src < dst
    graph.add_edges_from(zip(src[keep].tolist(), dst[keep].tolist(), strict=True))
    return graph


def _find(root: Path, stem: str) -> Path:
    for candidate in (root / f"{stem}.txt", root / f"{stem}.txt.gz"):
        if candidate.is_file():
            return candidate
    raise ValueError(f"{root / (stem + '.txt')}: file not found (nor with .gz)")


def _read_text(path: Path) -> str:
    raw = read_bytes(path)
    return raw.decode("utf-8", errors="replace")


def _read_ints(path: Path, n_cols: int) -> tuple[Tensor, Tensor]:
    """Rows of ``n_cols`` comma/space separated integers, skipping blank lines.

    numpy's C reader handles well-formed files; anything it rejects (or reads with fewer rows
    than lines, as when it skips a blank line) is re-read line by line, which accepts the same
    files and names the first bad line.

    Returns:
        values ``(L, n_cols)`` long and the 1-based line number of each row ``(L,)``.
    """
    text = _read_text(path)
    lines = text.splitlines()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy warns on an empty file
        try:
            values = np.loadtxt(io.StringIO(text), dtype=np.int64, delimiter=",",
                                comments=None, ndmin=2)
        except ValueError:
            values = None
    if values is not None and values.shape == (len(lines), n_cols):
        return torch.from_numpy(values), torch.arange(1, len(lines) + 1)
    rows: list[list[int]] = []
    numbers: list[int] = []
    for number, line in enumerate(lines, start=1):
        fields = line.replace(",", " ").split()
        if not fields:
            continue
        try:
            row = [int(f) for f in fields]
        except ValueError:
            row = []
        if len(row) != n_cols:
            raise ValueError(f"{path}: line {number}: expected {n_cols} integer(s), got {line!r}")
        rows.append(row)
        numbers.append(number)
    values = torch.tensor(rows, dtype=torch.long).reshape(-1, n_cols)  # (L, n_cols)
    return values, torch.tensor(numbers, dtype=torch.long)


def _read_node_labels(root: Path, name: str, n_nodes: int) -> Tensor | None:
    try:
        path = _find(root, f"{name}_node_labels")
    except ValueError:
        return None
    values, _ = _read_ints(path, 1)
    if values.shape[0] != n_nodes:
        raise ValueError(f"{path}: {values.shape[0]} node labels for {n_nodes} nodes")
    labels = values[:, 0] - values[:, 0].min()  # (N,)
    return torch.nn.functional.one_hot(labels).float()  # (N, L)


# ---------------------------------------------------------------------------------- ego graphs
def ego_subgraphs(
    graph: Data, *, k: int, n_samples: int, max_nodes: int | None = None, seed: int = 0
) -> list[Data]:
    """Sample k-hop ego subgraphs of one large graph around random centre nodes.

    Each subgraph is induced by the nodes within ``k`` hops of its centre. With ``max_nodes``,
    whole hop layers are kept while they fit and the first layer that does not fit contributes a
    seeded random subset, so the subgraph stays connected.

    Args:
        graph: ``Data`` with an undirected ``edge_index (2, E)`` (both directions) and
            ``num_nodes``; ``x`` is carried along when present.
        k: number of hops (>= 1).
        n_samples: number of subgraphs; the centres are distinct nodes drawn with ``seed``.
        max_nodes: upper bound on nodes per subgraph (>= 1), ``None`` for no bound.
        seed: seed for the centres and the truncation.

    Returns:
        ``n_samples`` ``Data`` objects with ``edge_index`` (relabelled, coalesced), ``num_nodes``,
        ``orig_index (n,)`` the node ids in ``graph`` and ``hops (n,)`` their distance to the
        centre. Nodes are ordered by hop distance, then id: the centre is node 0.
    """
    N = int(graph.num_nodes)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not 1 <= n_samples <= N:
        raise ValueError(f"n_samples must be between 1 and the number of nodes {N}, got "
                         f"{n_samples}")
    if max_nodes is not None and max_nodes < 1:
        raise ValueError(f"max_nodes must be >= 1, got {max_nodes}")
    edge_index = graph.edge_index
    order = torch.argsort(edge_index[0], stable=True)
    col = edge_index[1, order]  # (E,) neighbours grouped by source
    rowptr = torch.cat([torch.zeros(1, dtype=torch.long),
                        torch.bincount(edge_index[0], minlength=N).cumsum(0)])  # (N + 1,)
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randperm(N, generator=gen)[:n_samples]
    out = []
    for centre in centres.tolist():
        nodes, hops = _ball(rowptr, col, centre, k, max_nodes, gen)
        mapping = torch.full((N,), -1, dtype=torch.long)
        mapping[nodes] = torch.arange(nodes.shape[0])
        src, dst = _neighbours(rowptr, col, nodes)
        keep = mapping[dst] >= 0
        ei = torch.stack([mapping[src[keep]], mapping[dst[keep]]])  # (2, e)
        sub = Data(edge_index=to_undirected(ei, num_nodes=nodes.shape[0]),
                   num_nodes=nodes.shape[0], orig_index=nodes, hops=hops)
        if graph.x is not None:
            sub.x = graph.x[nodes]
        out.append(sub)
    return out


def _neighbours(rowptr: Tensor, col: Tensor, nodes: Tensor) -> tuple[Tensor, Tensor]:
    """All edges leaving ``nodes``: (source, target) pairs from the CSR arrays."""
    starts, counts = rowptr[nodes], rowptr[nodes + 1] - rowptr[nodes]
    src = torch.repeat_interleave(nodes, counts)
    offset = torch.arange(int(counts.sum())) - torch.repeat_interleave(
        counts.cumsum(0) - counts, counts
    )
    return src, col[torch.repeat_interleave(starts, counts) + offset]


def _ball(
    rowptr: Tensor, col: Tensor, centre: int, k: int, max_nodes: int | None,
    gen: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """Nodes within k hops of ``centre`` (breadth-first, truncated to ``max_nodes``)."""
    N = rowptr.shape[0] - 1
    seen = torch.zeros(N, dtype=torch.bool)
    seen[centre] = True
    layers = [torch.tensor([centre])]
    budget = N if max_nodes is None else max_nodes
    budget -= 1
    for _ in range(k):
        if budget == 0:
            break
        _, nbrs = _neighbours(rowptr, col, layers[-1])
        new = nbrs[~seen[nbrs]].unique()
        if new.numel() == 0:
            break
        if new.numel() > budget:
            new = new[torch.randperm(new.numel(), generator=gen)[:budget]].sort().values
        seen[new] = True
        budget -= new.numel()
        layers.append(new)
    nodes = torch.cat(layers)
    hops = torch.cat([torch.full((layer.numel(),), h) for h, layer in enumerate(layers)])
    return nodes, hops


# ---------------------------------------------------------------------------------- validity
def adjacency_validity(adj: Tensor, *, node_mask: Tensor | None = None) -> Validity:
    """Is a (generated) dense adjacency matrix a valid simple social graph?

    Any non-zero entry is an edge (threshold probabilities before calling). Rules, checked in
    this order:

    * ``"empty"``: no node (after ``node_mask``), or no edge;
    * ``"asymmetric"``: ``adj != adj.T``;
    * ``"self_loops"``: a non-zero diagonal entry;
    * ``"disconnected"``: more than one connected component.

    Args:
        adj: ``(N, N)`` adjacency (bool, integer or float).
        node_mask: ``(N,)`` bool, ``True`` for real nodes of a padded sample.

    Returns:
        A :class:`~toposci.domains.validity.Validity`.
    """
    if not isinstance(adj, Tensor) or adj.ndim != 2 or adj.shape[0] != adj.shape[1]:
        shape = tuple(adj.shape) if isinstance(adj, Tensor) else type(adj).__name__
        raise ValueError(f"adj must be a square tensor (N, N), got {shape}")
    if adj.is_floating_point() and not bool(torch.isfinite(adj).all()):
        raise ValueError("adj contains NaN or infinite entries")
    if node_mask is not None:
        if node_mask.shape != adj.shape[:1] or node_mask.dtype != torch.bool:
            raise ValueError(f"node_mask must be a bool tensor of shape ({adj.shape[0]},), got "
                             f"{node_mask.dtype} {tuple(node_mask.shape)}")
        adj = adj[node_mask][:, node_mask]
    a = (adj != 0).cpu()  # (N, N)
    n = a.shape[0]
    if n == 0:
        return Validity.fail("empty", "the graph has no node")
    if not bool((a == a.t()).all()):
        return Validity.fail("asymmetric", f"{int((a != a.t()).sum()) // 2} unmatched edges")
    if a.diagonal().any():
        return Validity.fail("self_loops", f"{int(a.diagonal().sum())} self-loops")
    if not a.any():
        return Validity.fail("empty", f"the graph has {n} nodes and no edge")
    rows, cols = a.nonzero().t().numpy()
    n_comp, _ = connected_components(coo_matrix((np.ones(rows.shape[0]), (rows, cols)),
                                                shape=(n, n)), directed=False)
    if n_comp > 1:
        return Validity.fail("disconnected", f"{n_comp} connected components")
    return Validity.ok()


# ---------------------------------------------------------------------------------- statistics
def degree_histogram(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Number of nodes of each degree, like ``networkx.degree_histogram``.

    Args:
        edge_index: ``(2, E)`` undirected edges listed in both directions, coalesced.
        num_nodes: ``N``.

    Returns:
        ``(max_degree + 1,)`` long counts; entry ``d`` counts nodes of degree ``d``.
    """
    degree = torch.bincount(edge_index[0], minlength=num_nodes)  # (N,)
    return torch.bincount(degree)


def clustering_coefficients(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Local clustering coefficient of every node, like ``networkx.clustering``.

    ``c_i = 2 T_i / (d_i (d_i - 1))`` with ``T_i`` triangles through node ``i`` and degree
    ``d_i``; 0 for nodes of degree < 2. Uses a dense ``(N, N)`` adjacency: meant for the small
    graphs of a data set, not for a whole social network.

    Args:
        edge_index: ``(2, E)`` undirected edges listed in both directions, no self-loops.
        num_nodes: ``N``.

    Returns:
        ``(N,)`` float coefficients in ``[0, 1]``.
    """
    a = torch.zeros(num_nodes, num_nodes)  # (N, N)
    a[edge_index[0], edge_index[1]] = 1.0
    a.fill_diagonal_(0.0)
    degree = a.sum(1)  # (N,)
    closed = ((a @ a) * a).sum(1)  # (N,) = 2 T_i
    pairs = degree * (degree - 1)
    return torch.where(pairs > 0, closed / pairs.clamp(min=1), torch.zeros_like(closed))
