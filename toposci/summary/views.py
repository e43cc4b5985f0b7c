"""The default topological view of one sample in each domain (which filtration of what).

A view maps a chunk of raw samples to their diagrams (:class:`ChunkDiagrams`: per dimension the
diagrams of the chunk packed one after the other) and the reasons of the samples that failed (they
are counted, never silently dropped); :meth:`View.compute` gives the same per sample. Views run in
worker processes, so they take plain payloads (strings, paths, arrays) and return numpy arrays.
Graph and image views compute a whole chunk in one call of the engine.

============  ======================  ============================================================
domain        view (default first)    filtration
============  ======================  ============================================================
molecules     ``atomic-number``       lower-star of the molecular graph by atomic number, rings
                                      filled up to triangles (H1 counts ring closures)
molecules     ``conformer-rips``      Vietoris–Rips of a 3-D conformer (RDKit ETKDG, heavy atoms)
proteins      ``alpha``               alpha complex of the C-alpha cloud, radii in Å (H0–H2)
proteins      ``rips``                Vietoris–Rips of the C-alpha cloud, Å
social        ``degree``              lower-star of node degree on the clique complex
social        ``shortest-path``       Vietoris–Rips of the shortest-path metric (clique complex)
images        ``cubical``             cubical sublevel sets of ``1 - intensity`` (strokes first)
============  ======================  ============================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from toposci.summary.store import PackedDiagrams

if TYPE_CHECKING:
    import torch

__all__ = ["VIEWS", "ChunkDiagrams", "View", "get_view"]

SampleDiagrams = dict[int, np.ndarray]


@dataclass(frozen=True)
class ChunkDiagrams:
    """The diagrams a view computed for a chunk of samples.

    Attributes:
        failed: ``(position in the chunk, reason)`` of each sample that could not be summarized.
        diagrams: per homology dimension, the diagrams of the other samples, in chunk order.
    """

    failed: list[tuple[int, str]]
    diagrams: dict[int, PackedDiagrams]


ChunkFn = Callable[[Sequence[Any], tuple[int, ...]], ChunkDiagrams]


@dataclass(frozen=True)
class View:
    """One filtration of one domain.

    Attributes:
        domain: the domain whose payloads it reads.
        name: the view's name (``--filtration`` on the command line).
        max_dim: highest homology dimension it can compute.
        chunk: ``(payloads, dims) ->`` :class:`ChunkDiagrams` of a chunk of samples.
        description: one line for ``--help`` and the summary file.
        torch_free: its chunks need neither torch nor PyG, so a worker process running it
            starts in a fraction of a second instead of seconds.
        chunk_size: default samples per chunk, the unit of work of a process: small where one
            sample takes long (a protein structure: tens of milliseconds), so that a second
            process has chunks to take.
    """

    domain: str
    name: str
    max_dim: int
    chunk: ChunkFn
    description: str
    torch_free: bool = False
    chunk_size: int = 512

    def compute(self, payloads: Sequence[Any], dims: tuple[int, ...]
                ) -> list[SampleDiagrams | str]:
        """Per sample: ``{dim: (m, 2) array}``, or the reason it failed."""
        out = self.chunk(payloads, dims)
        results: list[Any] = [None] * len(payloads)
        for i, reason in out.failed:
            results[i] = reason
        split = {d: packed.split() for d, packed in out.diagrams.items()}
        kept = [i for i, r in enumerate(results) if r is None]
        for j, i in enumerate(kept):
            results[i] = {d: rows[j] for d, rows in split.items()}
        return results


def _packed(dgms: dict) -> dict[int, PackedDiagrams]:
    """Padded engine diagrams ``{dim: Diagrams}`` as packed arrays (no per-sample loop)."""
    out = {}
    for d, dg in dgms.items():
        mask = dg.mask.cpu().numpy()  # (B, M)
        values = dg.values.detach().cpu().double().numpy()[mask]  # (P, 2) in sample order
        offsets = np.zeros(len(mask) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum(mask.sum(axis=1))
        out[d] = PackedDiagrams(values, offsets)
    return out


def _from_samples(results: Sequence[SampleDiagrams | str], dims: tuple[int, ...]
                  ) -> ChunkDiagrams:
    """Pack per-sample results (a string: that sample's failure reason)."""
    failed = [(i, r) for i, r in enumerate(results) if isinstance(r, str)]
    kept = [r for r in results if not isinstance(r, str)]
    return ChunkDiagrams(failed, {d: PackedDiagrams.from_list([r[d] for r in kept])
                                  for d in dims})


def _arrays(dgms: dict, i: int) -> SampleDiagrams:
    return {d: dg[i].to_arrays()[0] for d, dg in dgms.items()}


#: A parsed graph: ``(src (E,), dst (E,), num_nodes, node_values (n,))``, edges in any direction.
ParsedGraph = tuple[np.ndarray, np.ndarray, int, Sequence[float]]


def _batched(parse: Callable[[Any], ParsedGraph],
             diagrams: Callable[[Any, torch.Tensor, tuple[int, ...]], dict]
             ) -> ChunkFn:
    """A chunk function computing the diagrams of all the chunk's graphs in one call.

    ``parse(payload)`` returns a :data:`ParsedGraph` or raises a ValueError (the sample's failure
    reason); ``diagrams(graphs, node_values, dims)`` computes the diagrams of PyG graphs (a
    ``Batch`` or a list) from their concatenated ``(N,)`` node values. When the batch call
    rejects some graph, the graphs are computed one by one, so that only that sample fails, with
    the reason.
    """

    def one(graph: ParsedGraph, dims: tuple[int, ...]) -> SampleDiagrams:
        import torch
        from torch_geometric.data import Data

        src, dst, n, node_values = graph
        data = Data(edge_index=torch.as_tensor(np.stack([src, dst]), dtype=torch.long),
                    num_nodes=n)
        values = torch.as_tensor(np.asarray(node_values, dtype=np.float64))  # (n,)
        return _arrays(diagrams([data], values, dims), 0)

    def run(payloads: Sequence[Any], dims: tuple[int, ...]) -> ChunkDiagrams:
        import torch
        from torch_geometric.data import Batch

        failed: list[tuple[int, str]] = []
        parsed: list[ParsedGraph] = []
        for i, p in enumerate(payloads):
            try:
                parsed.append(parse(p))
            except ValueError as err:
                failed.append((i, str(err)))
        if not parsed:
            return _from_samples([r for _, r in failed], dims)
        G = len(parsed)
        counts = np.fromiter((len(g[0]) for g in parsed), np.int64, G)  # (G,) edges
        sizes = np.fromiter((g[2] for g in parsed), np.int64, G)  # (G,) nodes
        ptr = np.concatenate([[0], np.cumsum(sizes)])  # (G + 1,)
        shift = np.repeat(ptr[:-1], counts)  # (E,) first node of each edge's graph
        edge_index = np.stack([np.concatenate([g[0] for g in parsed]) + shift,
                               np.concatenate([g[1] for g in parsed]) + shift])  # (2, E)
        batch = Batch(edge_index=torch.from_numpy(edge_index), ptr=torch.from_numpy(ptr),
                      num_nodes=int(ptr[-1]))
        x = torch.from_numpy(np.concatenate([np.asarray(g[3], dtype=np.float64)
                                             for g in parsed]))  # (N,)
        try:
            return ChunkDiagrams(failed, _packed(diagrams(batch, x, dims)))
        except ValueError:
            pass
        results: list[Any] = [None] * len(payloads)
        for i, reason in failed:
            results[i] = reason
        for i, graph in zip([i for i, r in enumerate(results) if r is None], parsed,
                            strict=True):
            try:
                results[i] = one(graph, dims)
            except ValueError as err:
                results[i] = str(err)
        return _from_samples(results, dims)

    return run


def _per_sample(fn: Callable[[Any, tuple[int, ...]], SampleDiagrams]) -> ChunkFn:
    """Run ``fn`` on each payload, turning a ValueError into that sample's failure reason."""

    def run(payloads: Sequence[Any], dims: tuple[int, ...]) -> ChunkDiagrams:
        out: list[SampleDiagrams | str] = []
        for p in payloads:
            try:
                out.append(fn(p, dims))
            except ValueError as err:
                out.append(str(err))
        return _from_samples(out, dims)

    return run


# ------------------------------------------------------------------------ images
def _images_cubical(payloads: Sequence[np.ndarray], dims: tuple[int, ...]) -> ChunkDiagrams:
    import torch

    from toposci.topology.cubical import cubical_diagrams

    batch = torch.as_tensor(np.stack(payloads), dtype=torch.float64)  # (B, H, W)
    good = torch.isfinite(batch).flatten(1).all(dim=1)  # (B,)
    failed = [(i, "image has NaN or inf pixels") for i in torch.nonzero(~good).flatten().tolist()]
    if not good.any():
        return _from_samples([r for _, r in failed], dims)
    dgms = cubical_diagrams(1.0 - batch[good], homology_dims=dims, n_jobs=1)
    return ChunkDiagrams(failed, _packed(dgms))


# ------------------------------------------------------------------------ proteins
def _protein_points(path: str) -> np.ndarray:
    """``(N, 3)`` float64 C-alpha coordinates, Å, rounded to float32 as
    :class:`~toposci.domains.proteins.ProteinStructure` keeps them (read without torch)."""
    from toposci.domains.structure_io import read_ca_trace

    return read_ca_trace(path).coords.astype(np.float32).astype(np.float64)


def _protein_alpha(path: str, dims: tuple[int, ...]) -> SampleDiagrams:
    """GUDHI's alpha diagrams of the C-alpha cloud, its squared radii square-rooted.

    A summary needs no gradients, so this skips what :func:`~toposci.topology.alpha_diagrams`
    adds to GUDHI (every radius recomputed in torch from the simplex that gives it): the same
    points, to rounding, in half the time.
    """
    import gudhi

    points = _protein_points(path)  # (N, 3)
    if len(points) < 2:
        raise ValueError(f"{len(points)} C-alpha atom(s): an alpha complex needs at least 2")
    tree = gudhi.AlphaComplex(points=points).create_simplex_tree()
    tree.compute_persistence()
    return {d: np.sqrt(np.asarray(tree.persistence_intervals_in_dimension(d),
                                  dtype=np.float64).reshape(-1, 2)) for d in dims}


def _protein_rips(path: str, dims: tuple[int, ...]) -> SampleDiagrams:
    import torch

    from toposci.topology.rips import rips_diagrams

    return _arrays(rips_diagrams(torch.from_numpy(_protein_points(path)), homology_dims=dims),
                   0)


# ------------------------------------------------------------------------ social graphs
def _degree_graph(payload: tuple[np.ndarray, int]) -> ParsedGraph:
    """A social graph with its node degrees (distinct neighbours) as node values."""
    edge_index, n = np.asarray(payload[0], dtype=np.int64), int(payload[1])  # (2, E), n
    u, v = edge_index.min(axis=0), edge_index.max(axis=0)  # (E,), (E,)
    keys = np.unique(u[u != v] * max(n, 1) + v[u != v])  # (U,) distinct undirected edges
    ends = np.concatenate([keys // max(n, 1), keys % max(n, 1)])  # (2U,)
    degree = np.bincount(ends, minlength=n).astype(np.float64)  # (n,)
    return edge_index[0], edge_index[1], n, degree


def _lower_star_2(graphs: Any, values: torch.Tensor, dims: tuple[int, ...]) -> dict:
    from toposci.topology.graph import lower_star_diagrams

    return lower_star_diagrams(graphs, values, homology_dims=dims, max_dim=2)


def _social_shortest_path(payload: tuple[np.ndarray, int],
                          dims: tuple[int, ...]) -> SampleDiagrams:
    import torch
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import shortest_path

    from toposci.topology.rips import rips_diagrams

    edge_index, n = payload
    adj = coo_matrix((np.ones(edge_index.shape[1]), (edge_index[0], edge_index[1])), shape=(n, n))
    dist = shortest_path(adj, unweighted=True, directed=False)
    if not np.isfinite(dist).all():
        raise ValueError("graph is disconnected: the shortest-path metric is not finite")
    dgms = rips_diagrams(torch.as_tensor(dist), homology_dims=dims, distances=True)
    return _arrays(dgms, 0)


# ------------------------------------------------------------------------ molecules
def _molecule_graph(smiles: str) -> ParsedGraph:
    """The heavy-atom graph of a SMILES (both bond directions) and its atomic numbers."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"invalid SMILES {smiles!r}")
    n = mol.GetNumAtoms()
    if n == 0:
        raise ValueError("empty molecule")
    src, dst = Chem.GetAdjacencyMatrix(mol).nonzero()  # (2E,), (2E,) both directions
    return src, dst, n, [mol.GetAtomWithIdx(i).GetAtomicNum() for i in range(n)]


def _molecule_conformer_rips(smiles: str, dims: tuple[int, ...]) -> SampleDiagrams:
    import torch
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from toposci.topology.rips import rips_diagrams

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"invalid SMILES {smiles!r}")
    mol_h = Chem.AddHs(mol)
    if AllChem.EmbedMolecule(mol_h, randomSeed=0) != 0:
        raise ValueError(f"RDKit could not embed a 3-D conformer for {smiles!r}")
    heavy = [a.GetIdx() for a in mol_h.GetAtoms() if a.GetAtomicNum() > 1]
    pos = torch.as_tensor(mol_h.GetConformer().GetPositions()[heavy], dtype=torch.float64)
    if len(heavy) < 2:
        raise ValueError(f"{smiles!r} has fewer than 2 heavy atoms: no Rips filtration")
    return _arrays(rips_diagrams(pos, homology_dims=dims), 0)


VIEWS: dict[str, dict[str, View]] = {
    "molecules": {
        "atomic-number": View("molecules", "atomic-number", 1,
                              _batched(_molecule_graph, _lower_star_2),
                              "lower-star filtration of the molecular graph by atomic number"),
        "conformer-rips": View("molecules", "conformer-rips", 1,
                               _per_sample(_molecule_conformer_rips),
                               "Vietoris-Rips of an RDKit ETKDG conformer (heavy atoms, Å)"),
    },
    "proteins": {
        "alpha": View("proteins", "alpha", 2, _per_sample(_protein_alpha),
                      "alpha complex of the C-alpha cloud (radii, Å)", torch_free=True,
                      chunk_size=8),
        "rips": View("proteins", "rips", 1, _per_sample(_protein_rips),
                     "Vietoris-Rips of the C-alpha cloud (Å)", chunk_size=16),
    },
    "social": {
        "degree": View("social", "degree", 1, _batched(_degree_graph, _lower_star_2),
                       "lower-star filtration of node degree on the clique complex"),
        "shortest-path": View("social", "shortest-path", 1, _per_sample(_social_shortest_path),
                              "Vietoris-Rips of the shortest-path metric"),
    },
    "images": {
        "cubical": View("images", "cubical", 1, _images_cubical,
                        "cubical sublevel sets of 1 - intensity (bright strokes enter first)"),
    },
}


def get_view(domain: str, name: str | None) -> View:
    """The view ``name`` of ``domain`` (its default when ``None``), or a ValueError listing them."""
    if domain not in VIEWS:
        raise ValueError(f"unknown domain {domain!r}; valid domains: {', '.join(VIEWS)}")
    views = VIEWS[domain]
    if name is None:
        return next(iter(views.values()))
    if name not in views:
        raise ValueError(f"unknown filtration {name!r} for {domain}; valid: {', '.join(views)}")
    return views[name]
