"""`TopologyTransformer`: samples of a domain -> fixed-length vectorized diagrams, for sklearn.

The transformer sees each sample through the same view as ``toposci summarize`` (see
:mod:`toposci.summary.views`), plus point clouds given as arrays:

==========  ===================================================  =================================
domain      one sample                                           filtrations (default first)
==========  ===================================================  =================================
points      ``(N, D)`` array (numpy or torch); ``X`` may also    ``rips``; ``alpha`` (D = 2 or 3)
            be one ``(B, N, D)`` array
molecules   SMILES string or RDKit ``Mol``                       ``atomic-number``,
                                                                 ``conformer-rips``
proteins    path of a structure file (.pdb/.cif[.gz])            ``alpha``, ``rips``
social      PyG ``Data``, ``networkx.Graph`` or                  ``degree``, ``shortest-path``
            ``(edge_index (2, E), num_nodes)``
images      ``(H, W)`` array; ``X`` may also be ``(B, H, W)``    ``cubical``
==========  ===================================================  =================================

:meth:`~TopologyTransformer.fit` computes the training diagrams and learns, per homology
dimension, where the grid lies; :meth:`~TopologyTransformer.transform` samples every diagram on
that fitted grid, so vectors of training and test samples are comparable feature by feature.
Infinite (essential) bars are dropped for landscapes and persistence images and count as alive to
the end of the grid in Betti curves, as in :mod:`toposci.summary.stats`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from toposci.summary.stats import finite_range
from toposci.summary.store import PackedDiagrams
from toposci.summary.views import ChunkDiagrams, View, get_view
from toposci.topology.diagrams import Diagrams
from toposci.topology.vectorize import betti_curves, landscapes, persistence_images

__all__ = ["TopologyTransformer"]

_BATCH = 4096  # diagrams vectorized at once (bounds memory)


# ------------------------------------------------------------------------ point clouds
def _padded(clouds: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Ragged clouds as one zero-padded ``(B, N, D)`` tensor and its ``(B, N)`` mask."""
    B, N, D = len(clouds), max(len(c) for c in clouds), clouds[0].shape[1]
    x = torch.zeros(B, N, D, dtype=torch.float64)
    mask = torch.zeros(B, N, dtype=torch.bool)
    for b, cloud in enumerate(clouds):
        x[b, : len(cloud)] = torch.from_numpy(cloud)
        mask[b, : len(cloud)] = True
    return x, mask


def _points_rips(clouds: Sequence[np.ndarray], dims: tuple[int, ...]) -> ChunkDiagrams:
    from toposci.topology.rips import rips_diagrams

    x, mask = _padded(clouds)
    return ChunkDiagrams([], {d: PackedDiagrams.from_list(dg.to_arrays()) for d, dg in
                              rips_diagrams(x, homology_dims=dims, mask=mask).items()})


def _points_alpha(clouds: Sequence[np.ndarray], dims: tuple[int, ...]) -> ChunkDiagrams:
    from toposci.topology.alpha import alpha_diagrams

    x, mask = _padded(clouds)
    return ChunkDiagrams([], {d: PackedDiagrams.from_list(dg.to_arrays()) for d, dg in
                              alpha_diagrams(x, homology_dims=dims, mask=mask).items()})


_POINT_VIEWS = {
    "rips": View("points", "rips", 1, _points_rips, "Vietoris-Rips of the point cloud"),
    "alpha": View("points", "alpha", 2, _points_alpha,
                  "alpha complex of a 2-D or 3-D point cloud (radii)"),
}


# ------------------------------------------------------------------------ samples -> payloads
def _array(sample: Any, i: int, rank: int, what: str, min_rows: int) -> np.ndarray:
    if isinstance(sample, torch.Tensor):
        sample = sample.detach().cpu().numpy()
    try:
        arr = np.asarray(sample, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"X[{i}] must be {what}, got {type(sample).__name__}") from err
    if arr.ndim != rank or min(arr.shape, default=0) < 1:
        raise ValueError(f"X[{i}] must be {what}, got shape {arr.shape}")
    if len(arr) < min_rows:
        raise ValueError(f"X[{i}] has {len(arr)} point(s): a point cloud needs at least "
                         f"{min_rows}")
    if not np.isfinite(arr).all():
        raise ValueError(f"X[{i}] contains NaN or inf values")
    return arr


def _cloud(sample: Any, i: int) -> np.ndarray:
    return _array(sample, i, 2, "a point cloud (N, D)", min_rows=2)


def _image(sample: Any, i: int) -> np.ndarray:
    return _array(sample, i, 2, "an image (H, W)", min_rows=1)


def _smiles(sample: Any, i: int) -> str:
    if isinstance(sample, str):
        return sample
    from rdkit import Chem

    if isinstance(sample, Chem.Mol):
        return Chem.MolToSmiles(sample)
    raise ValueError(f"X[{i}] must be a SMILES string or an RDKit Mol, got "
                     f"{type(sample).__name__}")


def _structure_path(sample: Any, i: int) -> str:
    if not isinstance(sample, (str, os.PathLike)):
        raise ValueError(f"X[{i}] must be the path of a structure file, got "
                         f"{type(sample).__name__}")
    return os.fspath(sample)


def _graph(sample: Any, i: int) -> tuple[np.ndarray, int]:
    import networkx as nx
    from torch_geometric.data import Data

    if isinstance(sample, Data):
        return sample.edge_index.cpu().numpy(), int(sample.num_nodes)
    if isinstance(sample, nx.Graph):
        position = {node: j for j, node in enumerate(sample.nodes())}
        edges = np.array([(position[u], position[v]) for u, v in sample.edges()],
                         dtype=np.int64).reshape(-1, 2)
        return edges.T, len(position)
    if isinstance(sample, tuple) and len(sample) == 2:
        edge_index = np.asarray(sample[0], dtype=np.int64)
        if edge_index.ndim != 2 or edge_index.shape[0] != 2:
            raise ValueError(f"X[{i}]: edge_index must have shape (2, E), got {edge_index.shape}")
        return edge_index, int(sample[1])
    raise ValueError(f"X[{i}] must be a torch_geometric Data, a networkx.Graph or a tuple "
                     f"(edge_index, num_nodes), got {type(sample).__name__}")


#: How one sample of each domain becomes the payload its views read.
_PAYLOADS: dict[str, Callable[[Any, int], Any]] = {
    "points": _cloud,
    "molecules": _smiles,
    "proteins": _structure_path,
    "social": _graph,
    "images": _image,
}
DOMAINS = tuple(_PAYLOADS)
#: What must agree across the samples of one batch: (description, key of a payload).
_SAME: dict[str, tuple[str, Callable[[np.ndarray], Any]]] = {
    "points": ("dimension D", lambda cloud: cloud.shape[1]),
    "images": ("shape (H, W)", lambda image: image.shape),
}


def _samples(X: Any) -> list:
    """The samples of ``X``: a list / tuple, or an array whose first axis is the batch."""
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    if isinstance(X, (str, bytes, dict)) or not (hasattr(X, "__len__")
                                                 and hasattr(X, "__iter__")):
        raise ValueError(f"X must be a sequence of samples (a list, or an array with the samples "
                         f"along axis 0), got {type(X).__name__}")
    if len(X) == 0:
        raise ValueError("X is empty: there are no samples to transform")
    return list(X)


# ------------------------------------------------------------------------ the estimator
class TopologyTransformer(TransformerMixin, BaseEstimator):
    """Samples -> persistence diagrams -> one fixed-length vector per sample.

    The mixin comes first, as scikit-learn requires (its tags and ``fit_transform`` must take
    precedence over :class:`~sklearn.base.BaseEstimator`'s).

    Args:
        domain: ``"points"``, ``"molecules"``, ``"proteins"``, ``"social"`` or ``"images"``
            (what one sample is: see the module docstring).
        filtration: the domain's view; ``None`` is its default (first in the table).
        homology_dims: homology dimensions ``d`` whose diagrams are vectorized, in this order.
        vectorization: ``"landscape"`` (``K`` levels on ``T`` grid points), ``"image"``
            (persistence image ``H x W``) or ``"betti"`` (Betti curve on ``T`` points).
        num_landscapes: landscape levels ``K``.
        resolution: grid size ``T`` of landscapes and Betti curves.
        image_resolution: ``(W, H)`` pixels (along birth, along persistence) of images.
        bandwidth: Gaussian standard deviation of images; ``None`` fits one per dimension: the
            larger pixel size of the fitted image range.

    Attributes:
        homology_dims_: the dimensions fitted, as a tuple.
        ranges_: ``(len(homology_dims_), 2)`` fitted grid ``(t_min, t_max)`` per dimension for
            landscapes and Betti curves (min to max over every finite birth and death, births
            of essential bars included); ``(len(homology_dims_), 4)`` image range
            ``(birth_min, birth_max, persistence_min, persistence_max)`` of the finite points
            for images. A range with no extent is widened to length 1.
        bandwidths_: ``(len(homology_dims_),)`` image bandwidths (images only).

    Shapes:
        ``transform(X)`` of ``B`` samples is ``(B, F)`` float64 with, ``n`` being the number of
        dimensions, ``F = n * K * T`` (landscapes), ``n * H * W`` (images) or ``n * T`` (Betti
        curves): the vectors of ``homology_dims_`` one after the other, each flattened in the
        order of :func:`~toposci.topology.landscapes` / :func:`~toposci.topology.
        persistence_images` / :func:`~toposci.topology.betti_curves`.

    Example:
        >>> from sklearn.pipeline import make_pipeline
        >>> from sklearn.linear_model import LogisticRegression
        >>> model = make_pipeline(TopologyTransformer("molecules"), LogisticRegression())
        >>> model.fit(smiles_train, y_train).score(smiles_test, y_test)  # doctest: +SKIP
    """

    def __init__(
        self,
        domain: str = "points",
        *,
        filtration: str | None = None,
        homology_dims: tuple[int, ...] = (0, 1),
        vectorization: str = "landscape",
        num_landscapes: int = 5,
        resolution: int = 100,
        image_resolution: tuple[int, int] = (20, 20),
        bandwidth: float | None = None,
    ) -> None:
        self.domain = domain
        self.filtration = filtration
        self.homology_dims = homology_dims
        self.vectorization = vectorization
        self.num_landscapes = num_landscapes
        self.resolution = resolution
        self.image_resolution = image_resolution
        self.bandwidth = bandwidth

    # -------------------------------------------------------------------- sklearn protocol
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = self.domain in ("points", "images")
        tags.input_tags.string = self.domain in ("molecules", "proteins")
        return tags

    def fit(self, X: Any, y: Any = None) -> TopologyTransformer:
        """Compute the diagrams of ``X`` and fit the grid of each homology dimension.

        Args:
            X: ``B`` samples of the domain.
            y: ignored (accepted for :class:`~sklearn.pipeline.Pipeline`).

        Returns:
            ``self``.
        """
        view, dims = self._check_params()
        diagrams = self._diagrams(X, view, dims)
        self.homology_dims_ = dims
        if self.vectorization == "image":
            self.ranges_ = np.array([_image_range(diagrams[d]) for d in dims])  # (n, 4)
            self.bandwidths_ = np.array([self._bandwidth(r) for r in self.ranges_])  # (n,)
        else:
            self.ranges_ = np.array([finite_range(diagrams[d]) for d in dims])  # (n, 2)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Vectorize the diagrams of ``X`` on the grids fitted by :meth:`fit`.

        Args:
            X: ``B`` samples of the domain.

        Returns:
            ``(B, F)`` float64 features (see the class docstring for ``F``).
        """
        check_is_fitted(self, "ranges_")
        view, _ = self._check_params()
        diagrams = self._diagrams(X, view, self.homology_dims_)
        parts = [self._vectorize(diagrams[d], d, j) for j, d in enumerate(self.homology_dims_)]
        return np.concatenate(parts, axis=1)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the ``F`` output features, e.g. ``H1_landscape2_t17``.

        Args:
            input_features: ignored: samples are not tables, so there are no input names.

        Returns:
            ``(F,)`` object array of strings, in the order of :meth:`transform`'s columns.
        """
        check_is_fitted(self, "ranges_")
        names = [f"H{d}_{name}" for d in self.homology_dims_
                 for name in _FEATURES[self.vectorization](self)]
        return np.asarray(names, dtype=object)

    # -------------------------------------------------------------------- internals
    def _check_params(self) -> tuple[View, tuple[int, ...]]:
        """Validate the hyperparameters; return the view and the homology dimensions."""
        if self.domain not in _PAYLOADS:
            raise ValueError(f"unknown domain {self.domain!r}; valid domains: "
                             f"{', '.join(DOMAINS)}")
        if self.domain == "points":
            name = self.filtration or "rips"
            if name not in _POINT_VIEWS:
                raise ValueError(f"unknown filtration {name!r} for points; valid: "
                                 f"{', '.join(_POINT_VIEWS)}")
            view = _POINT_VIEWS[name]
        else:
            view = get_view(self.domain, self.filtration)
        if self.vectorization not in VECTORIZATIONS:
            raise ValueError(f"unknown vectorization {self.vectorization!r}; valid: "
                             f"{', '.join(VECTORIZATIONS)}")
        dims = tuple(self.homology_dims)
        if not dims or len(set(dims)) != len(dims) or not all(
                isinstance(d, (int, np.integer)) and 0 <= d <= view.max_dim for d in dims):
            raise ValueError(f"homology_dims must be distinct ints in 0..{view.max_dim} for "
                             f"{self.domain} / {view.name}, got {self.homology_dims!r}")
        for name in ("num_landscapes", "resolution"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.bandwidth is not None and not (np.isfinite(self.bandwidth)
                                               and self.bandwidth > 0):
            raise ValueError(f"bandwidth must be a positive number or None, got "
                             f"{self.bandwidth!r}")
        return view, tuple(int(d) for d in dims)

    def _diagrams(self, X: Any, view: View, dims: tuple[int, ...]) -> dict[int, list[np.ndarray]]:
        """Per dimension, one ``(m_i, 2)`` diagram per sample of ``X``; a failure raises."""
        to_payload = _PAYLOADS[self.domain]
        payloads = [to_payload(sample, i) for i, sample in enumerate(_samples(X))]
        if self.domain in _SAME:
            what, key = _SAME[self.domain]
            found = {key(p) for p in payloads}
            if len(found) > 1:
                raise ValueError(f"every sample in X must have the same {what}, got "
                                 f"{sorted(found)}")
        results = view.compute(payloads, dims)
        for i, res in enumerate(results):
            if isinstance(res, str):
                raise ValueError(f"X[{i}] could not be turned into diagrams: {res}")
        return {d: [res[d] for res in results] for d in dims}

    def _bandwidth(self, image_range: np.ndarray) -> float:
        if self.bandwidth is not None:
            return float(self.bandwidth)
        W, H = self.image_resolution
        return float(max((image_range[1] - image_range[0]) / W,
                         (image_range[3] - image_range[2]) / H))

    def _vectorize(self, diagrams: list[np.ndarray], dim: int, j: int) -> np.ndarray:
        """``(B, F_d)`` vectors of one dimension's diagrams on fitted range ``j``."""
        out = []
        for start in range(0, len(diagrams), _BATCH):
            batch = Diagrams.from_arrays(diagrams[start:start + _BATCH], dim,
                                         dtype=torch.float64)
            v = _VECTORIZE[self.vectorization](self, batch, j)
            out.append(v.reshape(len(v), -1).numpy())  # (b, F_d)
        return np.concatenate(out)


def _landscape_vectors(est: TopologyTransformer, batch: Diagrams, j: int) -> torch.Tensor:
    lo, hi = est.ranges_[j]
    return landscapes(batch.drop_infinite(), num_landscapes=est.num_landscapes,
                      resolution=est.resolution, sample_range=(lo, hi))  # (b, K, T)


def _image_vectors(est: TopologyTransformer, batch: Diagrams, j: int) -> torch.Tensor:
    return persistence_images(batch.drop_infinite(), resolution=tuple(est.image_resolution),
                              bandwidth=float(est.bandwidths_[j]),
                              im_range=tuple(est.ranges_[j]))  # (b, H*W)


def _betti_vectors(est: TopologyTransformer, batch: Diagrams, j: int) -> torch.Tensor:
    lo, hi = est.ranges_[j]
    # an essential bar, capped beyond the grid, is alive at every grid point after its birth
    return betti_curves(batch.cap_infinite(hi + (hi - lo)), resolution=est.resolution,
                        sample_range=(lo, hi))  # (b, T)


#: Per vectorization: the vectors of a batch on fitted range ``j``, and the feature names.
_VECTORIZE: dict[str, Callable[[TopologyTransformer, Diagrams, int], torch.Tensor]] = {
    "landscape": _landscape_vectors,
    "image": _image_vectors,
    "betti": _betti_vectors,
}
_FEATURES: dict[str, Callable[[TopologyTransformer], list[str]]] = {
    "landscape": lambda est: [f"landscape{k}_t{t}" for k in range(est.num_landscapes)
                              for t in range(est.resolution)],
    "image": lambda est: [f"image_y{j}_x{i}" for j in range(est.image_resolution[1])
                          for i in range(est.image_resolution[0])],
    "betti": lambda est: [f"betti_t{t}" for t in range(est.resolution)],
}
VECTORIZATIONS = tuple(_VECTORIZE)


def _image_range(diagrams: Sequence[np.ndarray]) -> tuple[float, float, float, float]:
    """``(birth_min, birth_max, persistence_min, persistence_max)`` of the finite points."""
    finite = [d[np.isfinite(d).all(axis=1)] for d in diagrams]
    points = np.concatenate(finite) if finite else np.zeros((0, 2))
    births, persistence = points[:, 0], points[:, 1] - points[:, 0]
    return (*_extent(births), *_extent(persistence))


def _extent(values: np.ndarray) -> tuple[float, float]:
    """``(min, max)``, widened to length 1 when empty or of no extent."""
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    return (lo, hi) if hi > lo else (lo, lo + 1.0)
