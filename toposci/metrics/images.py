"""Image quality: a Fréchet distance on features of an MNIST classifier the project trains itself.

The FID of Heusel et al. (NeurIPS 2017) is the Fréchet distance between Gaussians fitted to the
Inception-v3 pool features of real and generated images. No weights can be downloaded at run
time here, so the features come from :class:`MNISTClassifier`, a small CNN trained by
:func:`train_mnist_classifier` on MNIST itself: the number it gives is **not** the Inception
FID and is not comparable with FIDs published elsewhere, only between models scored with the
same classifier (same training data, epochs and seed; :func:`cached_mnist_classifier` keeps
one per setting).

* :func:`gaussian_frechet_distance` — the closed form
  ``||mu_a - mu_b||^2 + Tr(S_a) + Tr(S_b) - 2 Tr((S_a S_b)^(1/2))``.
* :func:`frechet_distance` — the same for the means and sample covariances of two feature sets
  (also the last step of the FCD, :func:`~toposci.metrics.molecules.frechet_chemnet_distance`).
"""

from __future__ import annotations

import functools
import hashlib
import logging
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from toposci._validation import check_finite

__all__ = ["MNISTClassifier", "cached_mnist_classifier", "classifier_features",
           "frechet_distance", "gaussian_frechet_distance", "image_frechet_distance",
           "train_mnist_classifier"]

logger = logging.getLogger(__name__)

_CLASSIFIER_VERSION = "mnist-classifier-1"  # bump when the network or its training changes
_SIDE = 28


class MNISTClassifier(nn.Module):
    """A small CNN for 28 x 28 digits; its hidden layer is the Fréchet feature space.

    Two blocks of 3 x 3 convolution, ReLU and 2 x 2 max pooling (28 -> 14 -> 7), then a ReLU
    layer of ``features`` units (the features) and a linear layer to ``classes`` logits.

    Args:
        channels: output channels of the two convolution blocks.
        features: ``F``, the width of the feature layer.
        classes: number of classes.

    Shapes:
        input ``(B, 1, 28, 28)``, ``(B, 28, 28)`` or ``(B, 784)`` -> logits ``(B, classes)``;
        :meth:`features` -> ``(B, F)``.
    """

    def __init__(self, *, channels: tuple[int, int] = (16, 32), features: int = 64,
                 classes: int = 10) -> None:
        super().__init__()
        c1, c2 = channels
        self.body = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(c2 * 7 * 7, features), nn.ReLU(),
        )
        self.head = nn.Linear(features, classes)

    def features(self, x: Tensor) -> Tensor:
        """``(B, F)`` feature-layer activations of images in ``[0, 1]`` (differentiable)."""
        if x.ndim < 2 or x[0].numel() != _SIDE * _SIDE:
            raise ValueError(f"images must have {_SIDE * _SIDE} pixels each, as (B, 1, 28, 28), "
                             f"(B, 28, 28) or (B, 784); got {tuple(x.shape)}")
        B = x.shape[0]
        return self.body(x.reshape(B, 1, _SIDE, _SIDE))  # (B, F)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))  # (B, classes)


def _check_images(images: Tensor, name: str) -> None:
    if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[0] == 0 \
            or tuple(images.shape[1:]) != (1, _SIDE, _SIDE) or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"{name} must be a non-empty float tensor (B, 1, 28, 28), got {shape}")
    check_finite(images, name)


def train_mnist_classifier(images: Tensor, labels: Tensor, *, epochs: int = 10,
                           batch_size: int = 64, lr: float = 1e-3, seed: int = 0,
                           channels: tuple[int, int] = (16, 32),
                           features: int = 64) -> MNISTClassifier:
    """Train :class:`MNISTClassifier` with Adam on cross-entropy.

    Initialisation and batch order come from ``seed`` only (the global RNG is left as it was).

    Args:
        images: ``(N, 1, 28, 28)`` grey values in ``[0, 1]``.
        labels: ``(N,)`` classes ``0 .. 9``.
        epochs: passes over the data.
        batch_size: images per step.
        lr: Adam's learning rate.
        seed: seed of the initial weights and the shuffles.
        channels, features: sizes of the network (:class:`MNISTClassifier`).

    Returns:
        The trained classifier in eval mode, on the device of ``images``.

    Raises:
        ValueError: images of another shape, non-finite images, labels of another length or
            outside ``0 .. 9``, fewer than 2 images, or a non-positive size.
    """
    _check_images(images, "images")
    N = images.shape[0]
    if labels.shape != (N,) or labels.dtype.is_floating_point:
        raise ValueError(f"labels must be an integer tensor ({N},), got {labels.dtype} "
                         f"{tuple(labels.shape)}")
    if N < 2 or int(labels.min()) < 0 or int(labels.max()) > 9:
        raise ValueError("need at least 2 images with labels in 0 .. 9")
    if min(epochs, batch_size) < 1 or not lr > 0:
        raise ValueError(f"epochs and batch_size must be >= 1 and lr > 0, got {epochs}, "
                         f"{batch_size}, {lr}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MNISTClassifier(channels=channels, features=features).to(images.device)
    g = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for epoch in range(epochs):
        total = 0.0
        for idx in torch.randperm(N, generator=g).split(batch_size):
            idx = idx.to(images.device)
            loss = nn.functional.cross_entropy(model(images[idx]), labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * idx.numel()
        logger.info("MNIST classifier epoch %d: mean loss %.4f", epoch + 1, total / N)
    return model.eval()


@functools.cache
def cached_mnist_classifier(root: str | Path | None = None, *, epochs: int = 10,
                            seed: int = 0) -> MNISTClassifier:
    """The classifier of :func:`train_mnist_classifier` on an MNIST train split, trained once.

    The weights are kept in the processed cache (``$TOPOSCI_DATA/processed``), keyed by the
    sha256 of the training images and labels, the settings and the network's version, and in
    memory for the rest of the process (the same module is returned each time: do not train
    it further).

    Args:
        root: folder of MNIST IDX files (:func:`~toposci.domains.images.load_mnist`); None for
            the shipped sample (1,000 training images; about 0.9 accuracy on its 200 test
            images).
        epochs: training epochs.
        seed: training seed.

    Returns:
        The classifier in eval mode, on the CPU.
    """
    from toposci.domains.cache import CacheRecipe, ProcessedCache
    from toposci.domains.images import load_mnist

    images, labels = load_mnist(root, "train")  # (N, 1, 28, 28), (N,)
    digest = hashlib.sha256(images.numpy().tobytes() + labels.numpy().tobytes()).hexdigest()
    recipe = CacheRecipe(featurizer=_CLASSIFIER_VERSION, source_sha256=digest, params={
        "epochs": epochs, "seed": seed, "torch": str(torch.__version__)})
    name = f"mnist_classifier_{digest[:16]}_{epochs}_{seed}"

    def build() -> dict[str, Tensor]:
        logger.info("training the MNIST feature classifier on %d images", images.shape[0])
        return dict(train_mnist_classifier(images, labels, epochs=epochs, seed=seed)
                    .state_dict())

    model = MNISTClassifier()
    model.load_state_dict(ProcessedCache(name).load_or_build(recipe, build))
    return model.eval()


@torch.no_grad()
def classifier_features(classifier: MNISTClassifier, images: Tensor, *,
                        batch_size: int = 1000) -> Tensor:
    """Feature-layer activations of many images, in chunks.

    Shapes:
        ``images (N, 1, 28, 28)`` -> ``(N, F)`` on the images' device.
    """
    _check_images(images, "images")
    return torch.cat([classifier.features(chunk) for chunk in images.split(batch_size)])


def gaussian_frechet_distance(mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray,
                              cov_b: np.ndarray) -> float:
    """Fréchet (squared 2-Wasserstein) distance between two Gaussians.

    ``||mean_a - mean_b||^2 + Tr(cov_a) + Tr(cov_b) - 2 Tr((cov_a cov_b)^(1/2))``, with the
    last trace taken as the sum of square roots of the eigenvalues of
    ``cov_a^(1/2) cov_b cov_a^(1/2)`` (symmetric eigendecompositions; negative rounding noise
    clipped to 0), which has the spectrum of ``cov_a cov_b`` and stays real when a covariance
    is singular.

    Shapes:
        ``mean_a (D,)``, ``cov_a (D, D)``, ``mean_b (D,)``, ``cov_b (D, D)``; covariances
        symmetric positive semi-definite.
    """
    mean_a, mean_b = np.asarray(mean_a, np.float64), np.asarray(mean_b, np.float64)
    cov_a, cov_b = np.asarray(cov_a, np.float64), np.asarray(cov_b, np.float64)
    D = mean_a.shape[0]
    if mean_a.shape != (D,) or mean_b.shape != (D,) or cov_a.shape != (D, D) \
            or cov_b.shape != (D, D):
        raise ValueError(f"means must be (D,) and covariances (D, D) for one D, got "
                         f"{mean_a.shape}, {cov_a.shape}, {mean_b.shape}, {cov_b.shape}")
    if not all(np.isfinite(x).all() for x in (mean_a, cov_a, mean_b, cov_b)):
        raise ValueError("means and covariances must be finite")
    eigval, eigvec = np.linalg.eigh(cov_a)  # cov_a = V diag(w) V^T
    root_a = (eigvec * np.sqrt(np.clip(eigval, 0.0, None))) @ eigvec.T  # (D, D)
    inner = np.linalg.eigvalsh(root_a @ cov_b @ root_a)  # (D,) the spectrum of cov_a cov_b
    diff = mean_a - mean_b  # (D,)
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b)
                 - 2.0 * np.sqrt(np.clip(inner, 0.0, None)).sum())


def frechet_distance(features_a: np.ndarray | Tensor, features_b: np.ndarray | Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets.

    Means and unbiased sample covariances (``np.cov``, ``n - 1``) of each set, then
    :func:`gaussian_frechet_distance`, in float64.

    Args:
        features_a: ``(N, D)`` features, ``N >= 2``.
        features_b: ``(M, D)`` features, ``M >= 2``.

    Returns:
        The distance (0 for identical sets, up to float rounding).

    Raises:
        ValueError: not 2-D, different ``D``, fewer than 2 rows, or non-finite values.
    """
    stats = []
    for name, x in (("features_a", features_a), ("features_b", features_b)):
        x = x.detach().cpu().double().numpy() if isinstance(x, Tensor) else np.asarray(
            x, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 2:
            raise ValueError(f"{name} must be (N, D) with N >= 2, got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        stats.append((x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], -1)))
    if stats[0][0].shape != stats[1][0].shape:
        raise ValueError(f"features_a and features_b differ in width: {stats[0][0].shape[0]} "
                         f"and {stats[1][0].shape[0]}")
    return gaussian_frechet_distance(*stats[0], *stats[1])


def image_frechet_distance(classifier: MNISTClassifier, images_a: Tensor, images_b: Tensor,
                           ) -> float:
    """:func:`frechet_distance` of two image sets on ``classifier``'s features (not the FID:
    see the module docstring).

    Shapes:
        ``images_a (N, 1, 28, 28)``, ``images_b (M, 1, 28, 28)`` in ``[0, 1]``.
    """
    return frechet_distance(classifier_features(classifier, images_a),
                            classifier_features(classifier, images_b))

