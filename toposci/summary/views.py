"""The default topological view of one sample in each domain (which filtration of what).

A view maps a chunk of raw samples to their diagrams, one ``{dim: (m, 2) array}`` per sample, or a
string saying why a sample failed (it is then counted, never silently dropped). Views run in
worker processes, so they take plain payloads (strings, paths, arrays) and return numpy arrays.

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
from typing import Any

import numpy as np
import torch

__all__ = ["VIEWS", "View", "get_view"]

SampleDiagrams = dict[int, np.ndarray]
ChunkFn = Callable[[Sequence[Any], tuple[int, ...]], list[SampleDiagrams | str]]


@dataclass(frozen=True)
class View:
    """One filtration of one domain.

    Attributes:
        domain: the domain whose payloads it reads.
        name: the view's name (``--filtration`` on the command line).
        max_dim: highest homology dimension it can compute.
        compute: ``(payloads, dims) -> per sample {dim: (m, 2) array} or failure reason``.
        description: one line for ``--help`` and the summary file.
    """

    domain: str
    name: str
    max_dim: int
    compute: ChunkFn
    description: str


def _arrays(dgms: dict, i: int) -> SampleDiagrams:
    return {d: dg[i].to_arrays()[0] for d, dg in dgms.items()}


def _batched(parse: Callable[[Any], tuple[np.ndarray, int, np.ndarray]],
             diagrams: Callable[[Any, torch.Tensor, tuple[int, ...]], dict]
             ) -> ChunkFn:
    """A chunk function computing the diagrams of all the chunk's graphs in one call.

    ``parse(payload)`` returns ``(edge_index (2, E) int64, num_nodes, node_values (n,)
    float64)`` or raises a ValueError (the sample's failure reason); ``diagrams(graphs,
    node_values, dims)`` computes the diagrams of PyG graphs (a ``Batch`` or a list) from their
    concatenated ``(N,)`` node values. When the
    batch call rejects some graph, the graphs are computed one by one, so that only that sample
    fails, with the reason.
    """

    def one(graph: Any, node_values: np.ndarray, dims: tuple[int, ...]) -> SampleDiagrams:
        return _arrays(diagrams([graph], torch.as_tensor(node_values), dims), 0)

    def run(payloads: Sequence[Any], dims: tuple[int, ...]) -> list[SampleDiagrams | str]:
        from torch_geometric.data import Batch, Data

        results: list[SampleDiagrams | str] = []
        parsed, where = [], []
        for p in payloads:
            try:
                parsed.append(parse(p))
            except ValueError as err:
                results.append(str(err))
                continue
            where.append(len(results))
            results.append("")
        if not parsed:
            return results
        sizes = np.array([n for _, n, _ in parsed], dtype=np.int64)  # (G,)
        ptr = np.concatenate([[0], np.cumsum(sizes)])  # (G + 1,)
        edge_index = np.concatenate([e + ptr[g] for g, (e, _, _) in enumerate(parsed)],
                                    axis=1)  # (2, E)
        batch = Batch(edge_index=torch.from_numpy(edge_index), ptr=torch.from_numpy(ptr),
                      num_nodes=int(ptr[-1]))
        x = torch.from_numpy(np.concatenate([v for _, _, v in parsed]))  # (N,)
        try:
            arrays = {d: dg.to_arrays() for d, dg in diagrams(batch, x, dims).items()}
        except ValueError:
            for i, (e, n, node_values) in zip(where, parsed, strict=True):
                graph = Data(edge_index=torch.as_tensor(e, dtype=torch.long), num_nodes=n)
                try:
                    results[i] = one(graph, node_values, dims)
                except ValueError as err:
                    results[i] = str(err)
            return results
        for j, i in enumerate(where):
            results[i] = {d: a[j] for d, a in arrays.items()}
        return results

    return run


def _per_sample(fn: Callable[[Any, tuple[int, ...]], SampleDiagrams]) -> ChunkFn:
    """Run ``fn`` on each payload, turning a ValueError into that sample's failure reason."""

    def run(payloads: Sequence[Any], dims: tuple[int, ...]) -> list[SampleDiagrams | str]:
        out: list[SampleDiagrams | str] = []
        for p in payloads:
            try:
                out.append(fn(p, dims))
            except ValueError as err:
                out.append(str(err))
        return out

    return run


# ------------------------------------------------------------------------ images
def _images_cubical(payloads: Sequence[np.ndarray], dims: tuple[int, ...]) -> list:
    from toposci.topology.cubical import cubical_diagrams

    batch = torch.as_tensor(np.stack(payloads), dtype=torch.float64)  # (B, H, W)
    bad = ~torch.isfinite(batch).flatten(1).all(dim=1)
    good = torch.nonzero(~bad).flatten()
    results: list = ["image has NaN or inf pixels"] * len(payloads)
    if len(good):
        dgms = cubical_diagrams(1.0 - batch[good], homology_dims=dims, n_jobs=1)
        for j, i in enumerate(good.tolist()):
            results[i] = _arrays(dgms, j)
    return results


# ------------------------------------------------------------------------ proteins
def _protein_points(path: str) -> torch.Tensor:
    from toposci.domains.proteins import read_structure

    return read_structure(path).pos.double()


def _protein_alpha(path: str, dims: tuple[int, ...]) -> SampleDiagrams:
    from toposci.topology.alpha import alpha_diagrams

    return _arrays(alpha_diagrams(_protein_points(path), homology_dims=dims, n_jobs=1), 0)


def _protein_rips(path: str, dims: tuple[int, ...]) -> SampleDiagrams:
    from toposci.topology.rips import rips_diagrams

    return _arrays(rips_diagrams(_protein_points(path), homology_dims=dims), 0)


# ------------------------------------------------------------------------ social graphs
def _degree_graph(payload: tuple[np.ndarray, int]) -> tuple[np.ndarray, int, np.ndarray]:
    """A social graph with its node degrees (distinct neighbours) as node values."""
    edge_index, n = np.asarray(payload[0], dtype=np.int64), int(payload[1])  # (2, E), n
    u, v = edge_index.min(axis=0), edge_index.max(axis=0)  # (E,), (E,)
    keys = np.unique(u[u != v] * max(n, 1) + v[u != v])  # (U,) distinct undirected edges
    ends = np.concatenate([keys // max(n, 1), keys % max(n, 1)])  # (2U,)
    degree = np.bincount(ends, minlength=n).astype(np.float64)  # (n,)
    return edge_index, n, degree


def _lower_star_2(graphs: Any, values: torch.Tensor, dims: tuple[int, ...]) -> dict:
    from toposci.topology.graph import lower_star_diagrams

    return lower_star_diagrams(graphs, values, homology_dims=dims, max_dim=2)


def _social_shortest_path(payload: tuple[np.ndarray, int],
                          dims: tuple[int, ...]) -> SampleDiagrams:
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
def _molecule_graph(smiles: str) -> tuple[np.ndarray, int, np.ndarray]:
    """The heavy-atom graph of a SMILES (both bond directions) and its atomic numbers."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"invalid SMILES {smiles!r}")
    if mol.GetNumAtoms() == 0:
        raise ValueError("empty molecule")
    n = mol.GetNumAtoms()
    edge_index = np.stack(np.nonzero(Chem.GetAdjacencyMatrix(mol)))  # (2, 2E) both directions
    z = np.array([mol.GetAtomWithIdx(i).GetAtomicNum() for i in range(n)],
                 dtype=np.float64)  # (n,)
    return edge_index, n, z


def _molecule_conformer_rips(smiles: str, dims: tuple[int, ...]) -> SampleDiagrams:
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
                      "alpha complex of the C-alpha cloud (radii, Å)"),
        "rips": View("proteins", "rips", 1, _per_sample(_protein_rips),
                     "Vietoris-Rips of the C-alpha cloud (Å)"),
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
