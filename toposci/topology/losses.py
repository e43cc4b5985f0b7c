"""Differentiable topological losses and the regularizer of both research proposals.

* :class:`LandscapeLoss` and :class:`PersistenceImageLoss` compare two batches of diagrams
  through their vectorizations (proposal B: data batch vs reconstruction batch).
* :class:`SignatureLoss` is the topological-autoencoder loss of Moor, Horn, Rieck & Borgwardt
  (ICML 2020): distances of the persistence-pairing edges of one space must match the distances
  of the same edges in the other space (proposal A: data batch vs latent batch).
* :class:`TopoRegularizer` wraps both behind one module with options.

Batch convention of the point-cloud losses: a training batch of ``N`` samples is ONE point cloud
of ``N`` points. :class:`SignatureLoss` also accepts ``B`` independent clouds ``(B, N, D)`` and
averages over them; :class:`TopoRegularizer` always sees its batch as one cloud.

Every module's constructor only stores hyperparameters; string options are checked when used.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from toposci._validation import check_same_batch
from toposci.topology.diagrams import Diagrams
from toposci.topology.knn import knn_diagrams, knn_pairs
from toposci.topology.rips import (
    PersistencePairs,
    _check_dims,
    _check_points,
    _flag_pairs,
    rips_diagrams,
)
from toposci.topology.vectorize import landscapes, persistence_images

__all__ = ["LandscapeLoss", "PersistenceImageLoss", "SignatureLoss", "TopoRegularizer"]

DiagramDict = Mapping[int, Diagrams]


def _choose(value: str, options: Mapping[str, object], name: str) -> object:
    """Look a string option up, or raise a ValueError that lists the valid values."""
    if value not in options:
        raise ValueError(f"unknown {name} {value!r}; valid values: {', '.join(options)}")
    return options[value]


def _dims_and_weights(homology_dims: Sequence[int],
                      weights: Sequence[float] | None) -> list[tuple[int, float]]:
    dims = tuple(homology_dims)
    _check_dims(dims)
    if len(set(dims)) != len(dims):
        raise ValueError(f"homology_dims has repeated entries: {dims}")
    if weights is None:
        return [(d, 1.0) for d in dims]
    weights = tuple(float(w) for w in weights)
    if len(weights) != len(dims) or not all(math.isfinite(w) for w in weights):
        raise ValueError(
            f"weights must be {len(dims)} finite numbers, one per homology dim {dims}, got "
            f"{weights}"
        )
    return list(zip(dims, weights))


def _finite_pair(a: DiagramDict, b: DiagramDict, dim: int) -> tuple[Diagrams, Diagrams]:
    """The H``dim`` diagrams of both inputs with infinite bars dropped, checked to match."""
    for name, diagrams in (("a", a), ("b", b)):
        if dim not in diagrams:
            raise ValueError(f"{name} has no H{dim} diagrams (it has dims {sorted(diagrams)})")
        if not isinstance(diagrams[dim], Diagrams):
            raise ValueError(f"{name}[{dim}] must be Diagrams, got {type(diagrams[dim]).__name__}")
    da, db = a[dim], b[dim]
    check_same_batch(da.values, db.values, f"a[{dim}]", f"b[{dim}]")
    return da.drop_infinite(), db.drop_infinite()


def _extreme(parts: Sequence[tuple[Tensor, Tensor]], *, largest: bool) -> float:
    """Min or max of ``values[mask]`` over several ``(values, mask)`` pairs; 0.0 when empty."""
    picked = torch.cat([v.detach()[m] for v, m in parts])
    if picked.numel() == 0:
        return 0.0
    return float(picked.max() if largest else picked.min())


class LandscapeLoss(nn.Module):
    r"""Squared L2 distance between persistence landscapes of two batches of diagrams.

    .. math:: L = \sum_d w_d \cdot \operatorname{mean}_b \sum_k \int
              (\lambda^a_{b,k}(t) - \lambda^b_{b,k}(t))^2 \, dt

    Both batches are sampled on the same grid of ``resolution`` points, by default from the
    smallest birth to the largest death over both batches together; the integral is the grid
    step times the sum over the grid (the trapezoidal rule, exact at the ends where every
    landscape is 0). The fitted grid is detached: the gradient is that of the loss on a fixed
    grid (pass ``sample_range`` to fix it for good, e.g. for ``gradcheck``). Infinite bars are
    dropped: their landscape is unbounded, and the number of essential classes is not
    differentiable.

    Args:
        homology_dims: the dimensions compared.
        weights: one weight per dimension (default 1 each).
        num_landscapes: landscape levels ``K``.
        resolution: grid points ``T`` (>= 2).
        sample_range: fixed ``(t_min, t_max)`` of the grid, the same for every dimension.

    Shapes:
        forward(a, b): ``{dim: Diagrams (B, M, 2)}`` twice -> scalar.
    """

    def __init__(self, *, homology_dims: Sequence[int] = (0, 1),
                 weights: Sequence[float] | None = None, num_landscapes: int = 5,
                 resolution: int = 100,
                 sample_range: tuple[float, float] | None = None) -> None:
        super().__init__()
        self.homology_dims = tuple(homology_dims)
        self.weights = None if weights is None else tuple(weights)
        self.num_landscapes = num_landscapes
        self.resolution = resolution
        self.sample_range = None if sample_range is None else tuple(sample_range)

    def forward(self, a: DiagramDict, b: DiagramDict) -> Tensor:
        if isinstance(self.resolution, bool) or not isinstance(self.resolution, int) \
                or self.resolution < 2:
            raise ValueError(f"resolution must be an int >= 2, got {self.resolution!r}")
        total = None
        for dim, weight in _dims_and_weights(self.homology_dims, self.weights):
            da, db = _finite_pair(a, b, dim)
            lo, hi = self.sample_range or (
                _extreme([(da.births, da.mask), (db.births, db.mask)], largest=False),
                _extreme([(da.deaths, da.mask), (db.deaths, db.mask)], largest=True),
            )
            kwargs = {"num_landscapes": self.num_landscapes, "resolution": self.resolution,
                      "sample_range": (lo, hi)}
            diff = landscapes(da, **kwargs) - landscapes(db, **kwargs)  # (B, K, T)
            step = (hi - lo) / (self.resolution - 1)
            term = weight * step * diff.square().sum(dim=(1, 2)).mean()
            total = term if total is None else total + term
        return total


class PersistenceImageLoss(nn.Module):
    r"""Squared Frobenius distance between persistence images of two batches of diagrams.

    .. math:: L = \sum_d w_d \cdot \operatorname{mean}_b \| I^a_b - I^b_b \|_F^2

    Both batches are rendered on the same image range: ``im_range`` if given, else the birth
    and persistence ranges over both batches together (detached, so the gradient is that of the
    loss on fixed pixels). Infinite bars are dropped.

    Args:
        homology_dims: the dimensions compared.
        weights: one weight per dimension (default 1 each).
        resolution: ``(W, H)`` pixels along birth and persistence.
        bandwidth: standard deviation of the Gaussians.
        weight: the per-point weight of :func:`~toposci.topology.vectorize.persistence_images`
            (``"constant"``, ``"linear"``, ``"quadratic"`` or a callable).
        im_range: fixed ``(x_min, x_max, y_min, y_max)`` in birth-persistence coordinates.

    Shapes:
        forward(a, b): ``{dim: Diagrams (B, M, 2)}`` twice -> scalar.
    """

    def __init__(self, *, homology_dims: Sequence[int] = (0, 1),
                 weights: Sequence[float] | None = None,
                 resolution: tuple[int, int] = (20, 20), bandwidth: float = 1.0,
                 weight: str | Callable[[Tensor], Tensor] = "constant",
                 im_range: tuple[float, float, float, float] | None = None) -> None:
        super().__init__()
        self.homology_dims = tuple(homology_dims)
        self.weights = None if weights is None else tuple(weights)
        self.resolution = tuple(resolution)
        self.bandwidth = bandwidth
        self.weight = weight
        self.im_range = None if im_range is None else tuple(im_range)

    def forward(self, a: DiagramDict, b: DiagramDict) -> Tensor:
        total = None
        for dim, dim_weight in _dims_and_weights(self.homology_dims, self.weights):
            da, db = _finite_pair(a, b, dim)
            im_range = self.im_range or self._shared_range(da, db)
            kwargs = {"resolution": self.resolution, "bandwidth": self.bandwidth,
                      "weight": self.weight, "im_range": im_range}
            diff = persistence_images(da, **kwargs) - persistence_images(db, **kwargs)  # (B, HW)
            term = dim_weight * diff.square().sum(dim=1).mean()
            total = term if total is None else total + term
        return total

    @staticmethod
    def _shared_range(da: Diagrams, db: Diagrams) -> tuple[float, float, float, float]:
        """Birth and persistence ranges over the real points of both batches."""
        births = [(da.births, da.mask), (db.births, db.mask)]
        pers = [(da.deaths - da.births, da.mask), (db.deaths - db.births, db.mask)]
        return (_extreme(births, largest=False), _extreme(births, largest=True),
                _extreme(pers, largest=False), _extreme(pers, largest=True))


class SignatureLoss(nn.Module):
    r"""The topological signature loss of topological autoencoders (Moor et al., ICML 2020).

    With distance matrices :math:`A^X` (data) and :math:`A^Z` (latent) and the edges
    :math:`\pi^X`, :math:`\pi^Z` of their persistence pairings (for H0 the minimum spanning
    tree edges; for H1 and up the birth and the death edge of each bar),

    .. math:: L = \sum_d w_d \left(\tfrac12 \|A^X[\pi^X_d] - A^Z[\pi^X_d]\|^2
              + \tfrac12 \|A^Z[\pi^Z_d] - A^X[\pi^Z_d]\|^2\right),

    averaged over the batch of clouds. The pairings are computed without gradients; the
    distances are differentiable in both ``x`` and ``z``. Infinite bars have no death edge and
    contribute their birth edge only.

    Batch convention: ``x`` ``(N, D)`` and ``z`` ``(N, d)`` are ONE cloud each (a training batch
    of ``N`` samples, row ``i`` of ``z`` the code of row ``i`` of ``x``); ``(B, N, D)`` and
    ``(B, N, d)`` are ``B`` independent clouds. Flatten samples with more axes (images) first.

    Args:
        homology_dims: dimensions whose pairing edges are used (the paper uses H0).
        weights: one weight per dimension (default 1 each).
        normalize: divide each cloud's distances by its largest distance (detached), so the
            loss compares shapes, not scales. The paper divides the data distances by their
            maximum and learns a scale for the latent ones; without normalisation (the
            default) distances are compared as they are.
        filtration: ``"rips"`` (the paper's) or ``"knn"`` (the pairing of the kNN-graph flag
            filtration; its edges are then compared in both spaces).
        k: neighbours for ``filtration="knn"``.
        backend: persistence backend for dimensions >= 1 (see
            :data:`toposci.topology.rips.BACKENDS`).

    Shapes:
        forward(x, z): ``(N, D)``, ``(N, d)`` or ``(B, N, D)``, ``(B, N, d)`` -> scalar.
    """

    def __init__(self, *, homology_dims: Sequence[int] = (0,),
                 weights: Sequence[float] | None = None, normalize: bool = False,
                 filtration: str = "rips", k: int = 8, backend: str = "native") -> None:
        super().__init__()
        self.homology_dims = tuple(homology_dims)
        self.weights = None if weights is None else tuple(weights)
        self.normalize = normalize
        self.filtration = filtration
        self.k = k
        self.backend = backend

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        if isinstance(x, Tensor) and isinstance(z, Tensor) and x.ndim != z.ndim:
            raise ValueError(
                f"x and z must both be one cloud (N, D) or both a batch (B, N, D), got shapes "
                f"{tuple(x.shape)} and {tuple(z.shape)}"
            )
        x, z = _check_points(x, "x"), _check_points(z, "z")
        check_same_batch(x, z, "x", "z")
        if x.shape[1] != z.shape[1]:
            raise ValueError(
                f"x and z must have the same number of points N, got {x.shape[1]} and "
                f"{z.shape[1]}"
            )
        dims_weights = _dims_and_weights(self.homology_dims, self.weights)
        dims = [d for d, _ in dims_weights]
        pairs_of = _choose(self.filtration, {"rips": self._rips_pairs, "knn": self._knn_pairs},
                           "filtration")
        with torch.no_grad():
            dist_x, dist_z = _pairing_distances(x), _pairing_distances(z)  # (B, N, N) each
        pairs_x, pairs_z = pairs_of(x, z, dist_x, dist_z, dims)
        B, N, _ = x.shape
        ends, weights = _weighted_edges(pairs_x, pairs_z, dims_weights, N)  # (U, 2), (U,)
        cloud = ends[:, 0] // N  # (U,)
        scale_x = self._scale(dist_x).to(x.dtype)[cloud]  # (U,)
        scale_z = self._scale(dist_z).to(z.dtype)[cloud]
        mismatch = _edge_lengths(x, ends) / scale_x - _edge_lengths(z, ends) / scale_z  # (U,)
        return (weights.to(x.dtype) * mismatch.square()).sum() / B

    def _rips_pairs(self, x: Tensor, _: Tensor, dist_x: Tensor, dist_z: Tensor,
                    dims: list[int]) -> tuple[dict[int, PersistencePairs], ...]:
        """Pairings of both spaces in one backend call, so their clouds run on parallel
        threads (a training batch is one cloud per space)."""
        B, N, _ = dist_x.shape
        valid = torch.ones(2 * B, N, dtype=torch.bool, device=x.device)
        both = _flag_pairs(torch.cat([dist_x, dist_z]), valid, homology_dims=dims,
                           max_edge_length=math.inf, backend=self.backend, n_threads=None)
        return ({d: _batch_slice(p, 0, B) for d, p in both.items()},
                {d: _batch_slice(p, B, 2 * B) for d, p in both.items()})

    def _knn_pairs(self, x: Tensor, z: Tensor, _: Tensor, __: Tensor, dims: list[int]
                   ) -> tuple[dict[int, PersistencePairs], ...]:
        return tuple(knn_pairs(p.detach(), self.k, homology_dims=dims, backend=self.backend)
                     for p in (x, z))

    def _scale(self, dist: Tensor) -> Tensor:
        """``(B,)`` divisor of each cloud's distances ``(B, N, N)`` (1 without
        normalisation)."""
        if not self.normalize:
            return dist.new_ones(dist.shape[0])
        largest = dist.amax(dim=(1, 2))  # (B,)
        return torch.where(largest > 0, largest, torch.ones_like(largest))


def _weighted_edges(pairs_x: dict[int, PersistencePairs], pairs_z: dict[int, PersistencePairs],
                    dims_weights: list[tuple[int, float]], n: int) -> tuple[Tensor, Tensor]:
    """Every distinct birth and death edge of both pairings, with its total weight in the loss.

    An edge of dimension ``d`` weighs ``w_d / 2`` (the ½ of each of the two terms); an edge in
    several places (an MST edge of both spaces, the birth edge of an H1 bar that is also an MST
    edge, ...) is kept once with the sum of its weights, which leaves the loss unchanged, since
    every copy has the same mismatch. Padding rows and infinite deaths are dropped.

    Args:
        n: points per cloud ``N``.

    Returns:
        ``ends (U, 2)`` vertex indices into the flattened clouds ``(B * N, ...)`` and
        ``weights (U,)``.
    """
    edges, weights = [], []
    for dim, weight in dims_weights:
        for pairs in (pairs_x[dim], pairs_z[dim]):
            for part in (pairs.birth_edges, pairs.death_edges):
                edges.append(part)
                weights.append((pairs.mask & (part[..., 0] >= 0)) * (0.5 * weight))
    edge, weight = torch.cat(edges, dim=1), torch.cat(weights, dim=1)  # (B, E, 2), (B, E)
    B = edge.shape[0]
    cloud = torch.arange(B, device=edge.device).unsqueeze(1) * n  # (B, 1)
    low = cloud + edge.amin(dim=2).clamp_min(0)  # (B, E) flattened index of the lower end
    key = low * n + edge.amax(dim=2).clamp_min(0)  # (B, E) one number per edge (padding: 0)
    total = weight.new_zeros(B * n * n).index_add_(0, key.flatten(), weight.flatten())
    key = total.nonzero().squeeze(1)  # (U,) the edges of positive weight
    low = key // n
    return torch.stack([low, low - low % n + key % n], dim=1), total[key]


def _edge_lengths(points: Tensor, ends: Tensor) -> Tensor:
    """Differentiable lengths ``(U,)`` of edges ``ends (U, 2)`` (indices into the flattened
    clouds) of clouds ``(B, N, D)``. Coincident ends get a zero gradient, not NaN."""
    flat = points.reshape(-1, points.shape[2])  # (B * N, D)
    return torch.linalg.vector_norm(flat.index_select(0, ends[:, 0])
                                    - flat.index_select(0, ends[:, 1]), dim=-1)  # (U,)


class TopoRegularizer(nn.Module):
    """The topological regularizer of both proposals, as one module.

    * ``mode="latent"`` (proposal A): :class:`SignatureLoss` between the data batch (each
      sample flattened) and the latent batch, over the homology dims of ``homology_weights``.
    * ``mode="reconstruction"`` (proposal B): landscape (or persistence-image) loss between the
      diagrams of the data batch and of the reconstruction batch, both passed through the same
      frozen ``projection`` (flattening when ``None``) and a Rips or kNN filtration.

    Each batch of ``N`` samples is one point cloud of ``N`` points. The ``projection`` is frozen:
    it is put in eval mode (and kept there by :meth:`train`), and it runs on detached copies of
    its parameters, so no gradient reaches them; gradients still flow through it to the
    reconstruction. Its ``requires_grad`` flags are left as they are.

    Args:
        mode: ``"latent"`` or ``"reconstruction"``.
        homology_weights: ``{dim: weight}``; default ``{0: 1.0, 1: 1.0}``.
        filtration: ``"rips"`` or ``"knn"``.
        k: neighbours of the kNN filtration.
        vectorization: ``"landscape"`` or ``"image"`` (``mode="reconstruction"``).
        projection: frozen module mapping a batch of samples to ``(N, F)`` features.
        num_landscapes, resolution: landscape levels ``K`` and grid size ``T``.
        sample_range: fixed landscape grid (see :class:`LandscapeLoss`; default: fitted).
        image_resolution, bandwidth: persistence-image pixels ``(W, H)`` and Gaussian width.
        im_range: fixed image range (see :class:`PersistenceImageLoss`; default: fitted).
        normalize: scale distances in the signature loss (see :class:`SignatureLoss`).
        backend: persistence backend for dimensions >= 1.

    Shapes:
        forward(data ``(N, ...)``, latent ``(N, d)`` or reconstruction ``(N', ...)``) -> scalar.
    """

    def __init__(self, *, mode: str = "latent", homology_weights: Mapping[int, float] | None = None,
                 filtration: str = "rips", k: int = 8, vectorization: str = "landscape",
                 projection: nn.Module | None = None, num_landscapes: int = 5,
                 resolution: int = 100, sample_range: tuple[float, float] | None = None,
                 image_resolution: tuple[int, int] = (20, 20), bandwidth: float = 1.0,
                 im_range: tuple[float, float, float, float] | None = None,
                 normalize: bool = False, backend: str = "native") -> None:
        super().__init__()
        self.mode = mode
        self.homology_weights = dict({0: 1.0, 1: 1.0} if homology_weights is None
                                     else homology_weights)
        self.filtration = filtration
        self.k = k
        self.vectorization = vectorization
        self.projection = None if projection is None else projection.eval()
        self.num_landscapes = num_landscapes
        self.resolution = resolution
        self.sample_range = sample_range
        self.image_resolution = tuple(image_resolution)
        self.bandwidth = bandwidth
        self.im_range = im_range
        self.normalize = normalize
        self.backend = backend

    def train(self, mode: bool = True) -> TopoRegularizer:
        super().train(mode)
        if self.projection is not None:
            self.projection.eval()
        return self

    def forward(self, data: Tensor, *, latent: Tensor | None = None,
                reconstruction: Tensor | None = None) -> Tensor:
        """The regularization term.

        Args:
            data: ``(N, ...)`` the data batch.
            latent: ``(N, d)`` codes of the data batch (required by ``mode="latent"``).
            reconstruction: ``(N', ...)`` reconstructions or samples, same trailing shape as
                ``data`` (required by ``mode="reconstruction"``).

        Returns:
            A scalar tensor.
        """
        run = _choose(self.mode, {"latent": self._latent_loss,
                                  "reconstruction": self._reconstruction_loss}, "mode")
        return run(data, latent, reconstruction)

    # ------------------------------------------------------------------ proposal A
    def _latent_loss(self, data: Tensor, latent: Tensor | None, _: Tensor | None) -> Tensor:
        if latent is None:
            raise ValueError("TopoRegularizer(mode='latent') needs latent=... (the codes (N, d))")
        x = _as_cloud(data, "data").flatten(1)  # (N, F)
        z = _as_cloud(latent, "latent").flatten(1)  # (N, d)
        dims, weights = self._dims_weights()
        loss = SignatureLoss(homology_dims=dims, weights=weights, normalize=self.normalize,
                             filtration=self.filtration, k=self.k, backend=self.backend)
        return loss(x, z)

    # ------------------------------------------------------------------ proposal B
    def _reconstruction_loss(self, data: Tensor, _: Tensor | None,
                             reconstruction: Tensor | None) -> Tensor:
        if reconstruction is None:
            raise ValueError(
                "TopoRegularizer(mode='reconstruction') needs reconstruction=... (the decoded "
                "batch)"
            )
        dims, weights = self._dims_weights()
        make_loss = _choose(self.vectorization, {
            "landscape": lambda: LandscapeLoss(homology_dims=dims, weights=weights,
                                               num_landscapes=self.num_landscapes,
                                               resolution=self.resolution,
                                               sample_range=self.sample_range),
            "image": lambda: PersistenceImageLoss(homology_dims=dims, weights=weights,
                                                  resolution=self.image_resolution,
                                                  bandwidth=self.bandwidth,
                                                  im_range=self.im_range),
        }, "vectorization")
        with torch.no_grad():
            target = self._diagrams(self._project(_as_cloud(data, "data")), dims)
        current = self._diagrams(self._project(_as_cloud(reconstruction, "reconstruction")), dims)
        return make_loss()(current, target)

    # ------------------------------------------------------------------ helpers
    def _dims_weights(self) -> tuple[list[int], list[float]]:
        items = sorted((int(d), float(w)) for d, w in self.homology_weights.items() if w != 0)
        if not items:
            raise ValueError(f"homology_weights has no non-zero weight: {self.homology_weights}")
        return [d for d, _ in items], [w for _, w in items]

    def _project(self, cloud: Tensor) -> Tensor:
        """``(N, F)`` features of a ``(N, ...)`` batch through the frozen projection."""
        if self.projection is None:
            return cloud.flatten(1)  # (N, F)
        frozen = {name: p.detach() for name, p in self.projection.named_parameters()}
        frozen.update(self.projection.named_buffers())
        out = torch.func.functional_call(self.projection, frozen, (cloud,))
        return out.flatten(1)  # (N, F)

    def _diagrams(self, points: Tensor, dims: list[int]) -> dict[int, Diagrams]:
        filtrations = {
            "rips": lambda: rips_diagrams(points, homology_dims=dims, backend=self.backend),
            "knn": lambda: knn_diagrams(points, self.k, homology_dims=dims, backend=self.backend),
        }
        return _choose(self.filtration, filtrations, "filtration")()


def _batch_slice(pairs: PersistencePairs, lo: int, hi: int) -> PersistencePairs:
    """Clouds ``lo:hi`` of a batch of pairs."""
    return PersistencePairs(pairs.birth_edges[lo:hi], pairs.death_edges[lo:hi],
                            pairs.mask[lo:hi], pairs.dim)


def _pairing_distances(points: Tensor) -> Tensor:
    """Float64 distance matrices ``(B, N, N)`` for the pairing only (no gradient).

    Computed from the Gram matrix in the points' precision (float64 for float64 points,
    float32 otherwise, and float64 again where float32 overflows), which is many times faster
    than the exact difference-based distances of :func:`pairwise_distances` for wide points (a
    189-wide molecule view) and exact for integer-valued points (one-hot views, so their ties
    stay ties); elsewhere it differs from them by rounding only, which can only change the
    pairing between edges of nearly equal length. The loss values are always gathered from
    exact distances.
    """
    x = points.detach()
    if x.dtype != torch.float64:
        d = _gram_distances(x.float())
        if bool(torch.isfinite(d).all()):
            return d.double()
    return _gram_distances(x.double())


def _gram_distances(x: Tensor) -> Tensor:
    """``(B, N, N)`` distances of points ``(B, N, D)`` from their Gram matrix, in their dtype."""
    sq = x.square().sum(-1)  # (B, N)
    d2 = sq.unsqueeze(2) + sq.unsqueeze(1) - 2.0 * (x @ x.transpose(1, 2))  # (B, N, N)
    d = d2.clamp_min_(0.0).sqrt_()
    d = 0.5 * (d + d.transpose(1, 2))
    d.diagonal(dim1=1, dim2=2).zero_()
    return d


def _as_cloud(batch: Tensor, name: str) -> Tensor:
    """Check a batch of ``N >= 2`` samples ``(N, ...)``; return it unchanged."""
    if not isinstance(batch, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor (N, ...), got {type(batch).__name__}")
    if batch.ndim < 2:
        raise ValueError(f"{name} must have shape (N, ...) with features, got {tuple(batch.shape)}")
    if batch.shape[0] < 2:
        raise ValueError(f"{name} has {batch.shape[0]} sample; a point cloud needs N >= 2")
    if not batch.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {batch.dtype}")
    if not torch.isfinite(batch).all():
        raise ValueError(f"{name} contains NaN or inf values")
    return batch
