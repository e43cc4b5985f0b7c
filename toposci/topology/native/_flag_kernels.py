"""Numba kernels of :mod:`toposci.topology.native.flag`: H0 and H1 pairs of flag complexes.

The filtration order is GUDHI's ``SimplexTree`` order, so that the pairs (and at ties the very
simplices) equal GUDHI's: simplices sorted by filtration value, ties broken by the
reverse-lexicographic order of their vertices (vertices compared from the largest down; a face
before its cofaces). Edges ``(a < b)`` are therefore sorted by ``(value, b, a)`` and triangles
``(a < b < c)`` by ``(value, c, b, a)``.

H0 follows GUDHI's union-find rule, which at equal births kills the class of the edge's larger
endpoint (not the younger simplex of the total order). H1 is persistent cohomology over Z/11
(GUDHI's default field) with the spanning-forest edges cleared: the pairing of a total order is
unique, so the pairs are GUDHI's. Finite pairs are listed in GUDHI's order (by death simplex);
essential classes in the filtration order of their birth simplices (GUDHI lists some of them in
the iteration order of a hash map).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from toposci.topology.native._unionfind import find

__all__ = ["flag_pairs_batch"]

_P = 11  # coefficient field Z/11, GUDHI's default


@njit(cache=True, nogil=True)
def _order_edges(edges: np.ndarray, fe: np.ndarray) -> np.ndarray:
    """Edge rows in filtration order ``(value, b, a)``; ``edges`` is sorted by ``(a, b)``."""
    by_b = np.argsort(edges[:, 1], kind="mergesort")  # (E,): (b, a) order
    return by_b[np.argsort(fe[by_b], kind="mergesort")]


@njit(cache=True, nogil=True)
def _grow(buf: np.ndarray, size: int) -> np.ndarray:
    """``buf (S,)`` itself when it holds ``size`` entries, else a copy at least twice as long."""
    if size <= len(buf):
        return buf
    out = np.empty(max(size, 2 * len(buf)), buf.dtype)
    out[: len(buf)] = buf
    return out


@njit(cache=True, nogil=True)
def _h0(n: int, edges: np.ndarray, fv: np.ndarray, fe: np.ndarray, order: np.ndarray,
        out: np.ndarray) -> tuple[int, np.ndarray]:
    """GUDHI's H0 pairs; rows ``(birth vertex, death a, death b)`` (``-1``: essential).

    Returns the number of rows written to ``out`` ``(n, 3)`` and a ``(E,)`` mask of the edges
    that merge two components (the rest create H1 classes).
    """
    parent = np.arange(n)
    rank = np.zeros(n, np.int64)
    birth = np.arange(n)
    merges = np.zeros(len(edges), np.bool_)
    m = 0
    for e in order:
        a, b = edges[e, 0], edges[e, 1]
        ku, kv = find(parent, b), find(parent, a)  # GUDHI: u is the larger endpoint
        if ku == kv:
            continue
        merges[e] = True
        bu, bv = birth[ku], birth[kv]
        if rank[ku] > rank[kv]:  # union by rank
            parent[kv] = ku
            root = ku
        else:
            parent[ku] = kv
            root = kv
            if rank[ku] == rank[kv]:
                rank[kv] += 1
        killed = bv if fv[bu] < fv[bv] else bu
        birth[root] = bu + bv - killed
        if fe[e] - fv[killed] > 0:  # zero-persistence pairs are left out
            out[m, 0], out[m, 1], out[m, 2] = killed, b, a
            m += 1
    essential = np.zeros(n, np.bool_)
    for v in range(n):
        if find(parent, v) == v:
            essential[birth[v]] = True
    for v in np.argsort(fv, kind="mergesort"):  # vertex filtration order
        if essential[v]:
            out[m, 0], out[m, 1], out[m, 2] = v, -1, -1
            m += 1
    return m, merges


@njit(cache=True, nogil=True)
def _triangles(n: int, edges: np.ndarray) -> np.ndarray:
    """``(T, 6)`` rows ``(a, b, c, e_ab, e_ac, e_bc)`` of every triangle ``a < b < c``."""
    E = len(edges)
    deg = np.zeros(n + 1, np.int64)
    for e in range(E):
        deg[edges[e, 0] + 1] += 1
    start = np.cumsum(deg)  # (n + 1,): a's larger neighbours are rows start[a] .. start[a+1]-1
    out = np.empty((0, 6), np.int64)
    for write in range(2):  # count, then fill
        T = 0
        for e in range(E):
            a, b = edges[e, 0], edges[e, 1]
            i, j = e + 1, start[b]  # a's neighbours after b; b's larger neighbours
            while i < start[a + 1] and j < start[b + 1]:
                ca, cb = edges[i, 1], edges[j, 1]
                if ca < cb:
                    i += 1
                elif cb < ca:
                    j += 1
                else:
                    if write:
                        out[T, 0], out[T, 1], out[T, 2] = a, b, ca
                        out[T, 3], out[T, 4], out[T, 5] = e, i, j
                    T += 1
                    i += 1
                    j += 1
        if not write:
            out = np.empty((T, 6), np.int64)
    return out


@njit(cache=True, nogil=True)
def _h1(n: int, edges: np.ndarray, fe: np.ndarray, order: np.ndarray, merges: np.ndarray,
        max_dim: int) -> np.ndarray:
    """H1 pairs, rows ``(birth a, birth b, death a, death b, death c)`` (``-1``: essential)."""
    E = len(edges)
    erank = np.empty(E, np.int64)
    erank[order] = np.arange(E)
    tris = _triangles(n, edges) if max_dim >= 2 else np.empty((0, 6), np.int64)
    T = len(tris)
    ft = np.empty(T)
    for t in range(T):
        ft[t] = max(fe[tris[t, 3]], fe[tris[t, 4]], fe[tris[t, 5]])
    # (a, b, c) lexicographic -> (c, b, a) -> (value, c, b, a), each sort stable
    torder = np.argsort(tris[:, 1], kind="mergesort")
    torder = torder[np.argsort(tris[torder, 2], kind="mergesort")]
    torder = torder[np.argsort(ft[torder], kind="mergesort")]
    # coboundary of each edge: (triangle rank, coefficient of the edge in the boundary)
    cstart = np.zeros(E + 1, np.int64)
    for t in range(T):
        for k in range(3, 6):
            cstart[tris[t, k] + 1] += 1
    cstart = np.cumsum(cstart)
    fill = cstart[:-1].copy()
    crow = np.empty(3 * T, np.int64)
    ccoef = np.empty(3 * T, np.int64)
    for r in range(T):
        t = torder[r]
        for k in range(3, 6):  # d[a,b,c] = [b,c] - [a,c] + [a,b]
            e = tris[t, k]
            crow[fill[e]] = r
            ccoef[fill[e]] = _P - 1 if k == 4 else 1
            fill[e] += 1
    inverse = np.zeros(_P, np.int64)
    for x in range(1, _P):
        for y in range(1, _P):
            if x * y % _P == 1:
                inverse[x] = y
    # reduce the coboundary columns of the creator edges, latest edge first
    owner = np.full(T, -1, np.int64)  # column (edge) whose pivot is triangle rank r
    # reduced columns, stored one after the other: edge e's in col_start[e] .. col_end[e]
    rrow = np.empty(max(3 * T, 1), np.int64)
    rcoef = np.empty(max(3 * T, 1), np.int64)
    rsize = 0
    col_start = np.full(E, -1, np.int64)
    col_end = np.full(E, -1, np.int64)
    acc = np.zeros(T, np.int64)
    touched = np.empty(max(T, 1), np.int64)
    seen = np.zeros(T, np.bool_)
    killer = np.full(E, -1, np.int64)  # triangle rank paired with each creator edge
    for idx in range(E - 1, -1, -1):
        e = order[idx]
        if merges[e]:
            continue  # cleared: a spanning-forest edge kills an H0 class
        nt = 0
        for k in range(cstart[e], cstart[e + 1]):
            r = crow[k]
            acc[r] = ccoef[k]
            seen[r] = True
            touched[nt] = r
            nt += 1
        while True:
            pivot = -1
            for k in range(nt):
                r = touched[k]
                if acc[r] != 0 and (pivot < 0 or r < pivot):
                    pivot = r
            if pivot < 0 or owner[pivot] < 0:
                break
            j = owner[pivot]
            lead = 0
            for k in range(col_start[j], col_end[j]):
                if rrow[k] == pivot:
                    lead = rcoef[k]
            factor = acc[pivot] * inverse[lead] % _P
            for k in range(col_start[j], col_end[j]):
                r = rrow[k]
                acc[r] = (acc[r] - factor * rcoef[k]) % _P
                if not seen[r]:
                    seen[r] = True
                    touched[nt] = r
                    nt += 1
        if pivot >= 0:
            owner[pivot] = e
            killer[e] = pivot
            col_start[e] = rsize
            for k in range(nt):
                r = touched[k]
                if acc[r] != 0:
                    rrow = _grow(rrow, rsize + 1)
                    rcoef = _grow(rcoef, rsize + 1)
                    rrow[rsize], rcoef[rsize] = r, acc[r]
                    rsize += 1
            col_end[e] = rsize
        for k in range(nt):
            acc[touched[k]] = 0
            seen[touched[k]] = False
    # finite pairs in the order GUDHI finds them (by death triangle), then essential classes
    out = np.empty((E, 5), np.int64)
    m = 0
    for r in range(T):
        e = owner[r]
        if e >= 0 and ft[torder[r]] - fe[e] > 0:
            t = torder[r]
            out[m, 0], out[m, 1] = edges[e, 1], edges[e, 0]
            out[m, 2], out[m, 3], out[m, 4] = tris[t, 2], tris[t, 1], tris[t, 0]
            m += 1
    for idx in range(E):
        e = order[idx]
        if not merges[e] and killer[e] < 0:
            out[m, 0], out[m, 1] = edges[e, 1], edges[e, 0]
            out[m, 2], out[m, 3], out[m, 4] = -1, -1, -1
            m += 1
    return out[:m]


@njit(cache=True, nogil=True)
def flag_pairs_batch(ptr: np.ndarray, edges: np.ndarray, edge_ptr: np.ndarray,
                     fv: np.ndarray, fe: np.ndarray, max_dim: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """H0 and H1 pairs of the flag complexes of a batch of graphs (see the module docstring).

    Args:
        ptr: ``(G + 1,)`` node offsets; edges: ``(U, 2)`` global ``(a < b)``, sorted, grouped
            by graph with offsets ``edge_ptr (G + 1,)``; fv: ``(N,)`` vertex values; fe:
            ``(U,)`` edge values (each at least its endpoints' values); max_dim: 1 or 2.

    Returns:
        ``h0 (P0, 3)`` rows ``(birth v, death u, death w)`` with the death edge's vertices in
        decreasing order (GUDHI's), ``h0_counts (G,)``, ``h1 (P1, 5)`` rows ``(birth edge,
        death triangle)`` likewise, ``h1_counts (G,)``; ``-1`` marks an infinite death.
    """
    G = len(ptr) - 1
    h0 = np.empty((ptr[G], 3), np.int64)
    h1 = np.empty((max(len(edges), 1), 5), np.int64)
    c0 = np.zeros(G, np.int64)
    c1 = np.zeros(G, np.int64)
    m0 = 0
    m1 = 0
    for g in range(G):
        lo, hi = ptr[g], ptr[g + 1]
        e_lo, e_hi = edge_ptr[g], edge_ptr[g + 1]
        local = edges[e_lo:e_hi] - lo  # (E_g, 2)
        f = fv[lo:hi]
        w = fe[e_lo:e_hi]
        order = _order_edges(local, w)
        k0, merges = _h0(hi - lo, local, f, w, order, h0[m0:])
        rows = _h1(hi - lo, local, w, order, merges, max_dim)
        for i in range(m0, m0 + k0):
            for k in range(3):
                if h0[i, k] >= 0:
                    h0[i, k] += lo
        for i in range(len(rows)):
            for k in range(5):
                h1[m1 + i, k] = rows[i, k] + lo if rows[i, k] >= 0 else -1
        c0[g], c1[g] = k0, len(rows)
        m0 += k0
        m1 += len(rows)
    return h0[:m0], c0, h1[:m1], c1
