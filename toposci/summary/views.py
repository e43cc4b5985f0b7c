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
def _graph(payload: tuple[np.ndarray, int]):
    from torch_geometric.data import Data

    edge_index, num_nodes = payload
    return Data(edge_index=torch.as_tensor(edge_index, dtype=torch.long), num_nodes=num_nodes)


def _social_degree(payload: tuple[np.ndarray, int], dims: tuple[int, ...]) -> SampleDiagrams:
    from toposci.topology.graph import lower_star_diagrams

    return _arrays(lower_star_diagrams(_graph(payload), "degree", homology_dims=dims,
                                       max_dim=2), 0)


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
def _molecule_atomic_number(smiles: str, dims: tuple[int, ...]) -> SampleDiagrams:
    from rdkit import Chem
    from torch_geometric.data import Data

    from toposci.topology.graph import lower_star_diagrams

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"invalid SMILES {smiles!r}")
    if mol.GetNumAtoms() == 0:
        raise ValueError("empty molecule")
    bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()]
    edge_index = torch.tensor(bonds + [(j, i) for i, j in bonds], dtype=torch.long).reshape(-1, 2)
    z = torch.tensor([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=torch.float64)
    graph = Data(edge_index=edge_index.T.contiguous(), num_nodes=mol.GetNumAtoms())
    return _arrays(lower_star_diagrams(graph, z, homology_dims=dims, max_dim=2), 0)


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
                              _per_sample(_molecule_atomic_number),
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
        "degree": View("social", "degree", 1, _per_sample(_social_degree),
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
