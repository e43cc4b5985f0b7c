"""Numba kernels of the native Vietoris–Rips engine (H0 and H1 by cohomology, after Ripser).

The filtration is a total order refining the diameter order, fixed once per cloud:

* **Edges** ``{i, j}`` of length ``<= threshold`` are sorted by length, ties by their
  combinatorial index ``i (i - 1) / 2 + j`` (``i > j``), ascending. An edge's position in this
  order is its *rank* ``r`` (``0 .. E - 1``).
* **Triangles** are sorted by the rank of their longest edge (the edge of largest rank), then by
  the rank of the edge joining that edge's *walking endpoint* to the third vertex. The walking
  endpoint of edge ``r`` is the endpoint with fewer edges shorter than ``r`` (ties: the larger
  vertex): it is a property of the edge alone, chosen so that the cofacets of ``r`` whose
  longest edge is ``r`` are found by walking the shorter of the two edge lists. A triangle's
  *key* is ``top_rank * E + that rank``. So a triangle enters right after its last edge, and its
  diameter is that edge's length.

Both are refinements of the diameter filtration, so the diagram (the multiset of birth and death
values) is the one of the Vietoris–Rips filtration, and every pair comes with its two edges.

H0 is Kruskal's union-find on the sorted edges. H1 is computed as Ripser does (Bauer 2021): the
coboundary matrix of the edges is reduced column by column in reverse filtration order, with

* **clearing**: the edges of the minimum spanning forest (H0 deaths) are skipped;
* **implicit coboundaries**: no column is stored; the cofacets of an edge are *streamed* in
  increasing key order from the rank-sorted edge lists of its two endpoints (see
  :func:`toposci.topology.native._coboundary.advance`), so a column is only read as far as its
  pivot;
* **apparent pairs**: if some triangle has edge ``r`` as its longest edge, the first such
  triangle is the pivot of the untouched column ``r`` and no earlier column can own it, so ``r``
  pairs with it at zero persistence without any reduction (the emergent-pair shortcut). Only the
  second key component is stored per edge, so a pivot is recognised as apparent in O(1) and
  these pairs, nearly all of them, never enter the pivot table;
* **reduction** of the remaining columns: a binary heap of cofacet streams (one per simplex of
  the reduction column ``V``) is the working column; equal keys cancel in pairs (Z/2); the
  owner of a pivot is the apparent column of its top edge or is found in a small pivot table,
  and its ``V`` is added as new streams started past the pivot;
* **threshold**: edges longer than ``min(enclosing radius, max_edge_length)`` never enter.
  At the enclosing radius ``min_i max_j d(i, j)`` the complex is a cone, so every H1 class has
  died (and the minimum spanning tree lies below it); edges of length ``inf`` never enter.

A column that reduces to zero is an essential class (death ``-1``): it happens only below the
enclosing radius (``max_edge_length``) or with missing edges.

Coefficients are Z/2, as in Ripser and giotto-ph. (GUDHI's default field is Z/11; on flag
complexes with 2-torsion, which sparse random graphs do produce, the two fields pair some bars
differently, so compare with GUDHI at ``homology_coeff_field=2``.)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from toposci.topology.native._coboundary import (
    DONE,
    IA,
    IB,
    KEY,
    PHASE,
    advance,
    grown,
    heap_pop,
    heap_push,
    new_stream,
    seek_past,
)
from toposci.topology.native._filtration import (
    adjacency,
    check_distances,
    enclosing_threshold,
    filtration,
    spanning_forest,
)

__all__ = ["check_distances", "cloud_pairs", "enclosing_threshold"]


@njit(cache=True, nogil=True)
def _cancel_pairs(values: np.ndarray) -> np.ndarray:
    """The entries of odd multiplicity (a Z/2 sum), sorted; ``values`` is sorted in place.

    An insertion sort: reduction columns hold a handful of edges.
    """
    for i in range(1, len(values)):
        x = values[i]
        j = i - 1
        while j >= 0 and values[j] > x:
            values[j + 1] = values[j]
            j -= 1
        values[j + 1] = x
    out = np.empty_like(values)
    m = 0
    i = 0
    while i < len(values):
        j = i
        while j < len(values) and values[j] == values[i]:
            j += 1
        if (j - i) % 2 == 1:
            out[m] = values[i]
            m += 1
        i = j
    return out[:m]


# ---------------------------------------------------------------------------------- H1
@njit(cache=True, nogil=True)
def _h1_ranks(rank: np.ndarray, eu: np.ndarray, ev: np.ndarray,
              cleared: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """H1 pairs as edge ranks: ``(births (m,), deaths (m,))``, death ``-1`` if essential.

    ``cleared (E,)`` marks the spanning-forest edges (H0 deaths), whose columns are skipped.
    Zero-persistence pairs in rank (apparent pairs) are left out; pairs whose two edges merely
    have equal lengths are kept here and dropped by the caller.
    """
    n = rank.shape[0]
    E = len(eu)
    offsets, adj_rank, adj_vertex, walk, rest, walk_pos, rest_pos = adjacency(eu, ev, n)
    # Apparent pairs: edge r pairs with its first cofacet, key r * E + apparent[r].
    apparent = np.full(E, np.int32(-1))
    # Pivot table of the reduced columns, chained per longest edge: head[top] -> node.
    head = np.full(E, np.int32(-1))
    node_second = np.empty(64, np.int32)
    node_owner = np.empty(64, np.int32)
    node_next = np.empty(64, np.int32)
    nodes = 0
    # Reduction columns V of the reduced columns, stored back to back.
    v_start = np.zeros(E, np.int64)
    v_len = np.zeros(E, np.int32)
    pool = np.empty(256, np.int32)
    pool_size = 0
    births = np.empty(64, np.int32)
    deaths = np.empty(64, np.int32)
    pairs = 0
    streams = np.empty((16, 7), np.int64)
    heap = np.empty(16, np.int64)
    work = np.empty(64, np.int32)  # the working column of V
    for r in range(E - 1, -1, -1):
        if cleared[r]:
            continue
        # Apparent pair: the first cofacet of r has r as its longest edge (phase 1 of the
        # coboundary, inlined here because it settles nearly every column).
        rb = rank[rest[r]]
        for ia in range(offsets[walk[r]], walk_pos[r]):
            if rb[adj_vertex[ia]] < r:
                apparent[r] = adj_rank[ia]
                break
        if apparent[r] >= 0:
            continue
        streams, count = new_stream(streams, 0, r, walk, rest, offsets)
        streams[0, PHASE] = 2
        streams[0, IA] = walk_pos[r] + 1
        streams[0, IB] = rest_pos[r] + 1
        first = advance(streams, 0, rank, adj_rank, adj_vertex, offsets, walk, walk_pos,
                        rest_pos)
        # Reduce: the working column is the Z/2 sum of the streams' remaining cofacets; the
        # heap orders the streams by their current key.
        keys = streams[:, KEY]
        size = 0
        if first != DONE:
            heap, size = heap_push(heap, size, 0, keys)
        work[0] = r
        w = 1
        top = -1
        second = -1
        while True:
            pivot = DONE
            while size > 0:
                candidate = keys[heap[0]]
                odd = False
                while size > 0 and keys[heap[0]] == candidate:
                    s = heap[0]
                    size = heap_pop(heap, size, keys)
                    odd = not odd
                    if advance(streams, s, rank, adj_rank, adj_vertex, offsets, walk,
                               walk_pos, rest_pos) != DONE:
                        heap, size = heap_push(heap, size, s, keys)
                if odd:
                    pivot = candidate
                    break
            if pivot == DONE:
                top = -1  # the column is zero: an essential class
                break
            top = np.int32(pivot // E)
            second = np.int32(pivot - np.int64(top) * E)
            if apparent[top] == second:
                owner = top  # an apparent column: V = {top}, not in the pool
                start = -1
                owned = 1
            else:
                owner = -1
                node = head[top]
                while node >= 0:
                    if node_second[node] == second:
                        owner = node_owner[node]
                        break
                    node = node_next[node]
                if owner < 0:
                    break  # a new pivot
                start = v_start[owner]
                owned = v_len[owner]
            # Add the owner's reduction column V; its cofacets up to the pivot cancel in Z/2.
            for t in range(owned):
                e = owner if start < 0 else pool[start + t]
                streams, count = new_stream(streams, count, e, walk, rest, offsets)
                keys = streams[:, KEY]
                if seek_past(streams, count - 1, pivot, rank, adj_rank, adj_vertex, offsets,
                             walk, walk_pos, rest_pos) != DONE:
                    heap, size = heap_push(heap, size, count - 1, keys)
                if w == len(work):
                    work = grown(work)
                work[w] = e
                w += 1
        if pairs == len(births):
            births = grown(births)
            deaths = grown(deaths)
        births[pairs] = r
        deaths[pairs] = top
        pairs += 1
        if top < 0:
            continue
        # Record the pivot (top, second) -> r and the reduction column of r.
        if nodes == len(node_second):
            node_second = grown(node_second)
            node_owner = grown(node_owner)
            node_next = grown(node_next)
        node_second[nodes] = second
        node_owner[nodes] = r
        node_next[nodes] = head[top]
        head[top] = nodes
        nodes += 1
        column = _cancel_pairs(work[:w])
        while pool_size + len(column) > len(pool):
            pool = grown(pool)
        pool[pool_size: pool_size + len(column)] = column
        v_start[r] = pool_size
        v_len[r] = len(column)
        pool_size += len(column)
    return births[:pairs], deaths[:pairs]


@njit(cache=True, nogil=True)
def cloud_pairs(dist: np.ndarray, threshold: float) -> tuple[np.ndarray, ...]:
    """H0 and H1 generators of one cloud, each as ``(birth edges (m, 2), death edges (m, 2))``.

    Edges are int64 ``(smaller vertex, larger vertex)``; an H0 bar is born at a vertex ``v``,
    written ``(v, v)``; an infinite death is ``(-1, -1)``. Bars whose birth and death lengths
    are equal are left out.

    Args:
        dist: ``(N, N)`` validated distances (``inf`` = missing edge).
        threshold: edges longer than this never enter (see :func:`enclosing_threshold`; the
            minimum spanning forest lies below the enclosing radius, so H0 is exact).

    Returns:
        ``(h0_births, h0_deaths, h1_births, h1_deaths)``.
    """
    n = dist.shape[0]
    rank, eu, ev, el = filtration(dist, threshold)
    dying, parent = spanning_forest(eu, ev, n)
    # H0: one bar per merge of positive length, one essential bar per component.
    m = 0
    for r in range(len(eu)):
        m += dying[r] >= 0 and el[r] > 0.0
    for v in range(n):
        m += parent[v] == v
    h0_births = np.empty((m, 2), np.int64)
    h0_deaths = np.full((m, 2), -1, np.int64)
    m = 0
    for r in range(len(eu)):
        if dying[r] >= 0 and el[r] > 0.0:
            h0_births[m] = dying[r]
            h0_deaths[m, 0] = ev[r]
            h0_deaths[m, 1] = eu[r]
            m += 1
    for v in range(n):
        if parent[v] == v:
            h0_births[m] = v
            m += 1
    # H1
    b_rank, d_rank = _h1_ranks(rank, eu, ev, dying >= 0)
    m = 0
    for t in range(len(b_rank)):
        m += d_rank[t] < 0 or el[d_rank[t]] > el[b_rank[t]]
    h1_births = np.empty((m, 2), np.int64)
    h1_deaths = np.full((m, 2), -1, np.int64)
    m = 0
    for t in range(len(b_rank)):
        if d_rank[t] >= 0 and el[d_rank[t]] == el[b_rank[t]]:
            continue
        h1_births[m, 0] = ev[b_rank[t]]
        h1_births[m, 1] = eu[b_rank[t]]
        if d_rank[t] >= 0:
            h1_deaths[m, 0] = ev[d_rank[t]]
            h1_deaths[m, 1] = eu[d_rank[t]]
        m += 1
    return h0_births, h0_deaths, h1_births, h1_deaths
