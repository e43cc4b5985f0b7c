"""Cofacets of an edge streamed in filtration order, and the heap that merges the streams.

A *stream* is one row of an int64 table: the edge's walking endpoint ``a`` and other endpoint
``b``, its rank, the phase (1 or 2), the cursors into the two endpoints' rank-sorted edge lists
and the key of the current cofacet (see :func:`advance`). The working column of a reduction is
the Z/2 sum of the streams' remaining cofacets; a binary heap orders the streams by key.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from toposci.topology.native._filtration import MISSING

__all__ = ["DONE", "IA", "IB", "KEY", "PHASE", "advance", "grown", "heap_pop", "heap_push",
           "new_stream", "seek_past"]


# ---------------------------------------------------------------------------------- growable arrays
@njit(cache=True, nogil=True)
def grown(a: np.ndarray) -> np.ndarray:
    """A copy of ``a`` with twice the capacity (the tail is uninitialised)."""
    out = np.empty(2 * len(a) + 16, a.dtype)
    for i in range(len(a)):
        out[i] = a[i]
    return out


# ---------------------------------------------------------------------------------- stream heap
@njit(cache=True, nogil=True)
def heap_push(heap: np.ndarray, size: int, s: int, keys: np.ndarray) -> tuple[np.ndarray, int]:
    """Push stream ``s`` on a binary min-heap of streams ordered by ``keys[s]``."""
    if size == len(heap):
        heap = grown(heap)
    key = keys[s]
    pos = size
    while pos > 0:
        up = (pos - 1) >> 1
        if keys[heap[up]] <= key:
            break
        heap[pos] = heap[up]
        pos = up
    heap[pos] = s
    return heap, size + 1


@njit(cache=True, nogil=True)
def heap_pop(heap: np.ndarray, size: int, keys: np.ndarray) -> int:
    """Remove the stream with the smallest key (``heap[0]``); return the new size."""
    size -= 1
    last = heap[size]
    key = keys[last]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and keys[heap[child + 1]] < keys[heap[child]]:
            child += 1
        if keys[heap[child]] >= key:
            break
        heap[pos] = heap[child]
        pos = child
    if size > 0:
        heap[pos] = last
    return size


# Columns of the stream table.
A_, B_, RANK, PHASE, IA, IB, KEY = 0, 1, 2, 3, 4, 5, 6
# Key of an exhausted stream.
DONE = np.int64(2**63 - 1)


@njit(cache=True, nogil=True)
def first_at_least(adj_rank: np.ndarray, lo: int, hi: int, r: int) -> int:
    """First position in the sorted ``adj_rank[lo:hi]`` holding a rank ``>= r``."""
    return lo + np.searchsorted(adj_rank[lo:hi], r)


@njit(cache=True, nogil=True)
def advance(streams: np.ndarray, s: int, rank: np.ndarray, adj_rank: np.ndarray,
            adj_vertex: np.ndarray, offsets: np.ndarray, walk: np.ndarray,
            walk_pos: np.ndarray, rest_pos: np.ndarray) -> np.int64:
    """Move stream ``s`` to the next cofacet of its edge in filtration order; return its key.

    The cofacets ``{a, b, k}`` of edge ``r = {a, b}`` (``a`` its walking endpoint) come in two
    phases, each in increasing key order. Phase 1: those whose longest edge is ``r`` itself,
    by walking the edges ``{a, k}`` shorter than ``r`` in rank order and keeping ``k`` when
    ``{b, k}`` is shorter than ``r`` too. Phase 2: those with a longer edge, by merging the
    edge lists of ``a`` and ``b`` from rank ``r`` up: ``k`` is emitted when the second of its
    two edges is passed, and that edge is the triangle's longest.
    """
    E = len(walk)
    a = streams[s, A_]
    b = streams[s, B_]
    r = streams[s, RANK]
    if streams[s, PHASE] == 1:
        ia = streams[s, IA]
        end = walk_pos[r]  # the edges of `a` before r are the shorter ones
        rb = rank[b]
        while ia < end:
            k = adj_vertex[ia]
            ia += 1
            if rb[k] < r:
                streams[s, IA] = ia
                streams[s, KEY] = np.int64(r) * E + adj_rank[ia - 1]
                return streams[s, KEY]
        streams[s, PHASE] = 2
        streams[s, IA] = walk_pos[r] + 1
        streams[s, IB] = rest_pos[r] + 1
    ia = streams[s, IA]
    ib = streams[s, IB]
    end_a = offsets[a + 1]
    end_b = offsets[b + 1]
    key = DONE
    while ia < end_a or ib < end_b:
        x = adj_rank[ia] if ia < end_a else MISSING
        y = adj_rank[ib] if ib < end_b else MISSING
        if x < y:  # edge {a, k} of rank x: the longest edge of {a, b, k} if {b, k} came before
            other = rank[b, adj_vertex[ia]]
            ia += 1
            if other < x:
                key = np.int64(x) * E + (r if walk[x] == a else other)
                break
        else:
            other = rank[a, adj_vertex[ib]]
            ib += 1
            if other < y:
                key = np.int64(y) * E + (r if walk[y] == b else other)
                break
    streams[s, IA] = ia
    streams[s, IB] = ib
    streams[s, KEY] = key
    return key


@njit(cache=True, nogil=True)
def new_stream(streams: np.ndarray, count: int, r: int, walk: np.ndarray, rest: np.ndarray,
               offsets: np.ndarray) -> tuple[np.ndarray, int]:
    """Append a stream over the cofacets of edge ``r``, at its start."""
    if count == len(streams):
        grown = np.empty((2 * count, 7), np.int64)
        for i in range(count):
            for j in range(7):
                grown[i, j] = streams[i, j]
        streams = grown
    streams[count, A_] = walk[r]
    streams[count, B_] = rest[r]
    streams[count, RANK] = r
    streams[count, PHASE] = 1
    streams[count, IA] = offsets[walk[r]]
    streams[count, KEY] = DONE
    return streams, count + 1


@njit(cache=True, nogil=True)
def seek_past(streams: np.ndarray, s: int, pivot: np.int64, rank: np.ndarray,
              adj_rank: np.ndarray, adj_vertex: np.ndarray, offsets: np.ndarray,
              walk: np.ndarray, walk_pos: np.ndarray, rest_pos: np.ndarray) -> np.int64:
    """Advance a new stream to its first cofacet with a key above ``pivot``; return that key."""
    E = len(walk)
    top = pivot // E
    r = streams[s, RANK]
    a = streams[s, A_]
    if top == r:  # resume phase 1 after the pivot's edge {a, k}
        second = pivot - top * E
        streams[s, IA] = (walk_pos[second] if walk[second] == a else rest_pos[second]) + 1
    elif top > r:  # skip phase 1 and the edges shorter than the pivot's longest edge
        b = streams[s, B_]
        streams[s, PHASE] = 2
        streams[s, IA] = first_at_least(adj_rank, offsets[a], offsets[a + 1], top)
        streams[s, IB] = first_at_least(adj_rank, offsets[b], offsets[b + 1], top)
    key = advance(streams, s, rank, adj_rank, adj_vertex, offsets, walk, walk_pos, rest_pos)
    while key <= pivot:
        key = advance(streams, s, rank, adj_rank, adj_vertex, offsets, walk, walk_pos,
                      rest_pos)
    return key
