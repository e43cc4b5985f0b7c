"""MMD between the degree and clustering distributions of two sets of graphs.

The graph-generation benchmark statistics of GraphRNN (You et al., ICML 2018) and GRAN (Liao et
al., NeurIPS 2019), written out so that numbers are comparable with the papers that use them:

* every graph becomes a histogram: node degrees (entry ``d`` counts nodes of degree ``d``, like
  ``networkx.degree_histogram``) or local clustering coefficients (``bins`` equal bins over
  ``[0, 1]``, like ``numpy.histogram(..., range=(0, 1))``);
* each histogram is normalised to sum 1, and histograms of different lengths are padded with
  zeros to a common support;
* two histograms ``p, q`` are compared by a Gaussian kernel of a distance between them:
  ``"emd"`` (GraphRNN) ``k = exp(-EMD(p, q)^2 / (2 sigma^2))`` with the 1-D earth mover's
  distance on the bin grid (bin ``i`` sits at ``i * bin_width``; GraphRNN's
  ``distance_scaling`` is ``1 / bin_width``), or ``"tv"`` (GRAN)
  ``k = exp(-TV(p, q)^2 / (2 sigma^2))`` with the total variation ``TV = sum |p - q| / 2``;
* the reported number is the biased (V-statistic) estimate of the *squared* MMD,
  ``mean K(X, X) + mean K(Y, Y) - 2 mean K(X, Y)`` over all pairs, self-pairs included.

Defaults follow GraphRNN: degrees with ``sigma = 1`` and unit bin width, clustering with 100
bins, ``sigma = 0.1`` and bin width ``1 / 100``. Neither kernel is guaranteed positive definite
(O'Bray et al., ICLR 2022), so a small negative value can occur; it is returned as computed.

On a line, the earth mover's distance between two distributions of equal mass is the L1
distance between their cumulative sums times the bin width, so no optimal-transport solver is
needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from toposci.domains.social import degree_histogram

__all__ = [
    "KERNELS",
    "clustering_histograms",
    "clustering_mmd",
    "degree_histograms",
    "degree_mmd",
    "gaussian_emd_kernel",
    "gaussian_tv_kernel",
    "histogram_mmd",
]

KERNELS = ("emd", "tv")
"""Kernel names of :func:`histogram_mmd`: ``"emd"`` (GraphRNN) and ``"tv"`` (GRAN)."""


def _check_histograms(h: Tensor, name: str) -> Tensor:
    """``h (n, S)`` as float64, checked: finite, non-negative, every row with positive mass."""
    if not isinstance(h, Tensor) or h.ndim != 2:
        shape = tuple(h.shape) if isinstance(h, Tensor) else type(h).__name__
        raise ValueError(f"{name} must be a tensor of histograms (n, S), got {shape}")
    if h.shape[0] == 0 or h.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(h.shape)}); it needs at least one "
                         "histogram with at least one bin")
    h = h.detach().to(torch.float64)
    if not bool(torch.isfinite(h).all()):
        raise ValueError(f"{name} contains NaN or infinite entries")
    if bool((h < 0).any()):
        raise ValueError(f"{name} has negative entries; histograms count things")
    empty = (h.sum(dim=1) <= 0).nonzero().flatten()
    if empty.numel():
        raise ValueError(f"{name} row {int(empty[0])} sums to 0 (a graph without nodes?); drop "
                         "empty graphs before comparing distributions")
    return h


def _check_sigma(sigma: float) -> None:
    if not (isinstance(sigma, int | float) and np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")


def _normalised_pair(p: Tensor, q: Tensor) -> tuple[Tensor, Tensor]:
    """Both histogram sets checked, padded to a common number of bins and normalised."""
    p = _check_histograms(p, "p")
    q = _check_histograms(q, "q")
    S = max(p.shape[1], q.shape[1])
    p = torch.nn.functional.pad(p, (0, S - p.shape[1]))  # (n, S)
    q = torch.nn.functional.pad(q, (0, S - q.shape[1]))  # (m, S)
    return p / p.sum(dim=1, keepdim=True), q / q.sum(dim=1, keepdim=True)


def gaussian_emd_kernel(p: Tensor, q: Tensor, *, sigma: float = 1.0,
                        bin_width: float = 1.0) -> Tensor:
    """Gaussian kernel of the 1-D earth mover's distance between histograms (GraphRNN).

    Args:
        p: ``(n, S_p)`` histograms (counts or probabilities; each row is normalised).
        q: ``(m, S_q)`` histograms; the shorter support is padded with zeros.
        sigma: kernel width, in the units of ``bin_width``.
        bin_width: distance between neighbouring bins.

    Returns:
        ``(n, m)`` float64 kernel values ``exp(-EMD^2 / (2 sigma^2))``.

    Raises:
        ValueError: not a 2-D tensor, no rows or bins, negative or non-finite entries, a row
            without mass, a bad ``sigma`` or ``bin_width``.
    """
    _check_sigma(sigma)
    if not (isinstance(bin_width, int | float) and np.isfinite(bin_width) and bin_width > 0):
        raise ValueError(f"bin_width must be a finite number > 0, got {bin_width!r}")
    p, q = _normalised_pair(p, q)
    emd = bin_width * torch.cdist(p.cumsum(dim=1), q.cumsum(dim=1), p=1.0)  # (n, m)
    return torch.exp(-emd.square() / (2.0 * sigma**2))


def gaussian_tv_kernel(p: Tensor, q: Tensor, *, sigma: float = 1.0) -> Tensor:
    """Gaussian kernel of the total variation distance between histograms (GRAN).

    Args:
        p: ``(n, S_p)`` histograms (each row is normalised).
        q: ``(m, S_q)`` histograms; the shorter support is padded with zeros.
        sigma: kernel width.

    Returns:
        ``(n, m)`` float64 kernel values ``exp(-TV^2 / (2 sigma^2))``, ``TV = sum |p - q| / 2``.

    Raises:
        ValueError: as :func:`gaussian_emd_kernel`.
    """
    _check_sigma(sigma)
    p, q = _normalised_pair(p, q)
    tv = 0.5 * torch.cdist(p, q, p=1.0)  # (n, m)
    return torch.exp(-tv.square() / (2.0 * sigma**2))


def histogram_mmd(p: Tensor, q: Tensor, *, kernel: str = "emd", sigma: float = 1.0,
                  bin_width: float = 1.0) -> float:
    """Squared MMD between two sets of histograms (biased estimate, self-pairs included).

    Args:
        p: ``(n, S_p)`` histograms of the first set.
        q: ``(m, S_q)`` histograms of the second set.
        kernel: ``"emd"`` or ``"tv"`` (see the module docstring).
        sigma: kernel width.
        bin_width: bin spacing of the ``"emd"`` kernel (ignored by ``"tv"``).

    Returns:
        ``mean K(p, p) + mean K(q, q) - 2 mean K(p, q)``.

    Raises:
        ValueError: an unknown kernel (the valid ones are listed) or bad histograms.
    """
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; valid: {', '.join(KERNELS)}")
    def k(a: Tensor, b: Tensor) -> Tensor:
        if kernel == "emd":
            return gaussian_emd_kernel(a, b, sigma=sigma, bin_width=bin_width)
        return gaussian_tv_kernel(a, b, sigma=sigma)

    return float(k(p, p).mean() + k(q, q).mean() - 2.0 * k(p, q).mean())


def _check_graphs(graphs: Sequence[Data], name: str) -> None:
    if len(graphs) == 0:
        raise ValueError(f"{name} is empty; the MMD needs at least one graph on each side")
    for i, g in enumerate(graphs):
        if not isinstance(g, Data) or g.edge_index is None:
            raise ValueError(f"{name}[{i}] must be a torch_geometric Data with edge_index, got "
                             f"{type(g).__name__}")
        if int(g.num_nodes or 0) < 1:
            raise ValueError(f"{name}[{i}] has no node; drop empty graphs first")


def degree_histograms(graphs: Sequence[Data]) -> Tensor:
    """Degree histogram of every graph, zero-padded to a common length.

    Args:
        graphs: ``G`` undirected graphs, ``edge_index (2, E)`` listing each edge in both
            directions once, and ``num_nodes``.

    Returns:
        ``(G, S)`` float64 counts, ``S = 1 +`` the largest degree; row sums are the node counts.
    """
    _check_graphs(graphs, "graphs")
    rows = [degree_histogram(g.edge_index, int(g.num_nodes)) for g in graphs]
    S = max(r.numel() for r in rows)
    out = torch.zeros(len(rows), S, dtype=torch.float64)  # (G, S)
    for i, r in enumerate(rows):
        out[i, : r.numel()] = r.to(torch.float64)
    return out


def clustering_histograms(graphs: Sequence[Data], *, bins: int = 100) -> Tensor:
    """Histogram of the local clustering coefficients of every graph.

    Args:
        graphs: ``G`` undirected graphs as in :func:`degree_histograms` (no self-loops).
        bins: equal bins over ``[0, 1]`` (``numpy.histogram`` binning: the last bin includes 1).

    Returns:
        ``(G, bins)`` float64 counts.
    """
    _check_graphs(graphs, "graphs")
    if not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be an int >= 1, got {bins!r}")
    out = torch.zeros(len(graphs), bins, dtype=torch.float64)  # (G, bins)
    for i, g in enumerate(graphs):
        counts, _ = np.histogram(_clustering64(g), bins=bins, range=(0.0, 1.0))
        out[i] = torch.from_numpy(counts.astype(np.float64))
    return out


def _clustering64(graph: Data) -> np.ndarray:
    """Local clustering coefficients ``2 T_i / (d_i (d_i - 1))`` in float64, ``(n,)``.

    Float64 (like networkx) matters: a coefficient such as 0.6 lands in a different histogram
    bin when rounded to float32.
    """
    n = int(graph.num_nodes)
    a = torch.zeros(n, n, dtype=torch.float64)  # (n, n)
    a[graph.edge_index[0], graph.edge_index[1]] = 1.0
    a.fill_diagonal_(0.0)
    degree = a.sum(dim=1)  # (n,)
    closed = ((a @ a) * a).sum(dim=1)  # (n,) = 2 T_i
    pairs = degree * (degree - 1)
    return torch.where(pairs > 0, closed / pairs.clamp(min=1), 0.0).numpy()


def degree_mmd(reference: Sequence[Data], generated: Sequence[Data], *, kernel: str = "emd",
               sigma: float = 1.0) -> float:
    """Squared MMD between the degree distributions of two sets of graphs.

    Args:
        reference: graphs of the data set (validation or test graphs).
        generated: the generated graphs (without empty ones).
        kernel: ``"emd"`` (GraphRNN, the default) or ``"tv"`` (GRAN).
        sigma: kernel width (GraphRNN: 1).

    Returns:
        The squared MMD (see the module docstring).
    """
    return histogram_mmd(degree_histograms(reference), degree_histograms(generated),
                         kernel=kernel, sigma=sigma, bin_width=1.0)


def clustering_mmd(reference: Sequence[Data], generated: Sequence[Data], *,
                   kernel: str = "emd", sigma: float = 0.1, bins: int = 100) -> float:
    """Squared MMD between the clustering-coefficient distributions of two sets of graphs.

    Args:
        reference: graphs of the data set.
        generated: the generated graphs (without empty ones).
        kernel: ``"emd"`` (GraphRNN, the default) or ``"tv"`` (GRAN).
        sigma: kernel width (GraphRNN and GRAN: 0.1).
        bins: histogram bins over ``[0, 1]``; the EMD bin width is ``1 / bins``.

    Returns:
        The squared MMD (see the module docstring).
    """
    return histogram_mmd(clustering_histograms(reference, bins=bins),
                         clustering_histograms(generated, bins=bins),
                         kernel=kernel, sigma=sigma, bin_width=1.0 / bins)
