"""Decoding logits into molecular graphs (toposci.domains.molecule_sampling)."""

from __future__ import annotations

import pytest
import torch

from toposci.domains.molecule_sampling import MAX_VALENCE, raw_decode, valence_aware_decode
from toposci.domains.molecules import ATOM_PAD, decode_dense, decode_graph

C, N, O, F = 0, 1, 2, 3  # atom classes; ATOM_PAD = 4 is "no atom"
BIG = 20.0


def node_logits(atoms: list[int]) -> torch.Tensor:
    """``(1, N, 5)`` logits whose argmax is ``atoms``."""
    out = torch.zeros(1, len(atoms), 5)
    out[0, torch.arange(len(atoms)), torch.tensor(atoms)] = BIG
    return out


def edge_logits(n: int, pairs: dict[tuple[int, int], list[float]]) -> torch.Tensor:
    """``(1, n, n, 4)`` symmetric logits: the given pairs, every other pair firmly "no bond"."""
    out = torch.zeros(1, n, n, 4)
    out[..., 0] = BIG
    for (i, j), scores in pairs.items():
        out[0, i, j] = out[0, j, i] = torch.tensor(scores)
    return out


def bond_matrix(n: int, bonds: dict[tuple[int, int], int]) -> torch.Tensor:
    out = torch.zeros(n, n, dtype=torch.long)
    for (i, j), order in bonds.items():
        out[i, j] = out[j, i] = order
    return out


def random_logits(batch: int, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random logits with about one bond in three pairs, and symmetric edge logits."""
    gen = torch.Generator().manual_seed(seed)
    nodes = 2.0 * torch.randn(batch, n, 5, generator=gen)
    edges = 2.0 * torch.randn(batch, n, n, 4, generator=gen)
    edges[..., 0] += 2.0
    return nodes, (edges + edges.transpose(1, 2)) / 2


# ----------------------------------------------------------------- hand-built cases


def test_pentavalent_carbon_loses_exactly_its_least_probable_bond() -> None:
    # Carbon 0 with five carbon neighbours, all preferring a single bond; the (0, 3) bond is the
    # least probable (single-bond logit 2 vs no-bond logit 0), so it is the one dropped.
    single = {1: 5.0, 2: 3.0, 3: 2.0, 4: 4.0, 5: 6.0}
    pairs = {(0, k): [0.0, s, -5.0, -5.0] for k, s in single.items()}
    nodes, edges = node_logits([C] * 6), edge_logits(6, pairs)

    atoms, raw = raw_decode(nodes, edges)
    assert raw[0].equal(bond_matrix(6, {(0, k): 1 for k in single}))
    assert decode_graph(atoms[0], raw[0]).validity.reason == "valence"

    atoms, fixed = valence_aware_decode(nodes, edges)
    assert atoms.tolist() == [[C] * 6]
    assert fixed[0].equal(bond_matrix(6, {(0, k): 1 for k in (1, 2, 4, 5)}))
    out = decode_graph(atoms[0], fixed[0])
    assert out.validity.reason == "disconnected" and out.smiles == "C.CC(C)(C)C"


def test_fluorine_never_gets_two_bonds() -> None:
    # F-C1 prefers a double bond (not allowed for F): the single bond beats "no bond", so F-C1
    # is single. F-C2 prefers a single bond too, but F has no valence left.
    pairs = {(0, 1): [0.0, 1.0, 5.0, -5.0], (0, 2): [0.0, 3.0, -5.0, -5.0]}
    nodes, edges = node_logits([F, C, C]), edge_logits(3, pairs)
    _, raw = raw_decode(nodes, edges)
    assert raw[0].equal(bond_matrix(3, {(0, 1): 2, (0, 2): 1}))
    atoms, fixed = valence_aware_decode(nodes, edges)
    # (0, 1) is visited first: p(no bond) is smaller there (logsumexp of the bond logits is larger).
    assert fixed[0].equal(bond_matrix(3, {(0, 1): 1}))
    assert decode_graph(atoms[0], fixed[0]).smiles == "C.CF"


def test_bond_order_is_lowered_to_the_remaining_valence() -> None:
    # O=C wanted twice: O0 gets its confident double bond to C1 and has nothing left for C2.
    # N3 (valence 3) keeps its triple bond to C4 and loses its less confident single bond to C2.
    pairs = {
        (0, 1): [0.0, -1.0, 6.0, -1.0],  # O=C, very confident
        (0, 2): [0.0, 1.0, 4.0, -1.0],  # O=C again: no valence left on O
        (3, 4): [0.0, -1.0, -1.0, 5.0],  # N#C
        (2, 3): [0.0, 0.5, -1.0, -1.0],  # C-N, least confident: N is full by then
        (1, 2): [0.0, 2.0, -1.0, -1.0],  # C-C
    }
    nodes, edges = node_logits([O, C, C, N, C]), edge_logits(5, pairs)
    atoms, fixed = valence_aware_decode(nodes, edges)
    assert fixed[0].equal(bond_matrix(5, {(0, 1): 2, (3, 4): 3, (1, 2): 1}))
    assert decode_graph(atoms[0], fixed[0]).smiles == "C#N.CC=O"


def test_a_tie_with_no_bond_means_no_bond_in_both_paths() -> None:
    nodes, edges = node_logits([C, C]), edge_logits(2, {(0, 1): [1.0, 1.0, 0.0, 0.0]})
    for decode in (raw_decode, valence_aware_decode):
        assert decode(nodes, edges)[1].sum() == 0


def test_absent_atoms_get_no_bonds() -> None:
    pairs = {(0, 1): [0.0, 5.0, 0.0, 0.0], (1, 2): [0.0, 5.0, 0.0, 0.0]}
    nodes, edges = node_logits([C, ATOM_PAD, C]), edge_logits(3, pairs)
    for decode in (raw_decode, valence_aware_decode):
        atoms, bond = decode(nodes, edges)
        assert atoms.tolist() == [[C, ATOM_PAD, C]] and bond.sum() == 0


def test_only_the_upper_triangle_is_read() -> None:
    edges = edge_logits(2, {})
    edges[0, 0, 1] = torch.tensor([0.0, 5.0, 0.0, 0.0])  # single bond above the diagonal
    edges[0, 1, 0] = torch.tensor([0.0, 0.0, 9.0, 0.0])  # double below: ignored
    edges[0, 0, 0] = torch.tensor([0.0, 9.0, 0.0, 0.0])  # diagonal: ignored
    for decode in (raw_decode, valence_aware_decode):
        assert decode(node_logits([C, C]), edges)[1][0].equal(bond_matrix(2, {(0, 1): 1}))


# ----------------------------------------------------------------- random logits


def test_valence_aware_outputs_never_fail_on_valence() -> None:
    nodes, edges = random_logits(2000, 9, seed=0)
    raw_failures = [d.validity.reason for d in decode_dense(*raw_decode(nodes, edges))]
    assert raw_failures.count("valence") > 1000  # the test is not vacuous
    atoms, bond = valence_aware_decode(nodes, edges)
    reasons = {d.validity.reason for d in decode_dense(atoms, bond)}
    assert reasons <= {"ok", "disconnected", "empty"}
    limit = torch.tensor([MAX_VALENCE[a] for a in "CNOF"] + [0])  # (5,)
    assert (bond.sum(dim=2) <= limit[atoms]).all()
    assert (bond[atoms == F].sum(dim=1) <= 1).all()


@pytest.mark.parametrize("decode", [raw_decode, valence_aware_decode])
def test_outputs_are_symmetric_graphs(decode) -> None:
    nodes, edges = random_logits(500, 9, seed=1)
    edges = edges + torch.randn(edges.shape, generator=torch.Generator().manual_seed(2))
    atoms, bond = decode(nodes, edges)  # asymmetric input logits: still symmetric output
    assert atoms.shape == (500, 9) and bond.shape == (500, 9, 9)
    assert atoms.dtype == bond.dtype == torch.long
    assert bond.equal(bond.transpose(1, 2))
    assert bond.diagonal(dim1=1, dim2=2).eq(0).all()
    absent = atoms == ATOM_PAD  # (B, N)
    assert bond[absent].eq(0).all()
    assert bond.min() >= 0 and bond.max() <= 3


def test_valence_aware_equals_argmax_when_argmax_respects_valence() -> None:
    nodes, edges = random_logits(2000, 9, seed=3)
    edges[..., 0] += 2.0  # sparser graphs, so that many argmax graphs are feasible
    raw_atoms, raw = raw_decode(nodes, edges)
    atoms, bond = valence_aware_decode(nodes, edges)
    assert atoms.equal(raw_atoms)
    limit = torch.tensor([MAX_VALENCE[a] for a in "CNOF"] + [0])
    feasible = (raw.sum(dim=2) <= limit[raw_atoms]).all(dim=1)  # (B,)
    assert 200 < int(feasible.sum()) < 1800
    assert bond[feasible].equal(raw[feasible])
    assert (bond[~feasible] != raw[~feasible]).flatten(1).any(dim=1).all()


def test_a_single_atom_slot() -> None:
    atoms, bond = valence_aware_decode(node_logits([O]), torch.zeros(1, 1, 1, 4))
    assert atoms.tolist() == [[O]] and bond.shape == (1, 1, 1) and bond.sum() == 0


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("nodes", "edges", "match"),
    [
        (torch.zeros(2, 3, 4), torch.zeros(2, 3, 3, 4), "5 classes"),
        (torch.zeros(2, 3, 5), torch.zeros(2, 3, 3, 3), r"\(B, N, N, 4\)"),
        (torch.zeros(2, 3, 5), torch.zeros(2, 4, 4, 4), r"\(B, N, N, 4\)"),
        (torch.zeros(2, 3, 5), torch.zeros(3, 3, 3, 4), "same batch size"),
        (torch.zeros(0, 3, 5), torch.zeros(0, 3, 3, 4), "empty batch"),
        (torch.zeros(2, 3, 5, 1), torch.zeros(2, 3, 3, 4), "node_logits must have shape"),
        (torch.zeros(2, 3, 5), torch.zeros(2, 3, 3), "edge_logits must have shape"),
        (torch.zeros(2, 3, 5, dtype=torch.long), torch.zeros(2, 3, 3, 4), "floating-point"),
        (torch.full((2, 3, 5), torch.nan), torch.zeros(2, 3, 3, 4), "NaN"),
        (torch.zeros(2, 3, 5), torch.full((2, 3, 3, 4), torch.inf), "inf"),
        (torch.zeros(2, 0, 5), torch.zeros(2, 0, 0, 4), "at least 1"),
    ],
)
@pytest.mark.parametrize("decode", [raw_decode, valence_aware_decode])
def test_bad_input_raises(decode, nodes: torch.Tensor, edges: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        decode(nodes, edges)
